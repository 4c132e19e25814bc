"""Each extra installs in one command with the pip that Python 3.11's venv bundles.

That pip (23.2 here) is left as it is: no upgrade. An index can hold only part of an
OpenTelemetry release (the newest instrumentation release without some packages), and
pip 23.2's resolver then used to end in ResolutionImpossible (docs/install.md); the
packages it installs must also belong to one release: every instrumentation package at
the version of opentelemetry-instrumentation, the API, SDK and exporter at the 1.x
release the SDK pairs with it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import _pyenv_python
from tests.support.procs import Venv, base_env, run

PYTHON = "3.11"

# What each case adds to the wheel on the command line, the framework the app has (the
# instrumentor imports it), and what must then import.
CASES = {
    "fastapi": (
        ["[fastapi]"],
        "fastapi",
        "from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor",
    ),
    "starlette": (
        ["[starlette]"],
        "starlette",
        "from opentelemetry.instrumentation.starlette import StarletteInstrumentor",
    ),
    "django": (
        ["[django]"],
        "django",
        "from opentelemetry.instrumentation.django import DjangoInstrumentor",
    ),
    # A user who pins an instrumentation release of their own, in the same command.
    "asgi": (
        ["", "opentelemetry-instrumentation-asgi==0.66b1"],
        None,
        "from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware",
    ),
}

# The installed OpenTelemetry distributions and what the SDK requires of its partners.
RELEASE = """\
import json
from importlib import metadata
from packaging.requirements import Requirement
dists = {d.metadata["Name"].lower(): d.version for d in metadata.distributions()}
sdk_pins = {}
for line in metadata.requires("opentelemetry-sdk") or ():
    req = Requirement(line)
    pins = [s.version for s in req.specifier if s.operator == "=="]
    if pins:
        sdk_pins[req.name] = pins[0]
print(json.dumps({"dists": dists, "sdk_pins": sdk_pins}))
"""

# The packages of OpenTelemetry's 1.x line (the rest, 0.x, follow the instrumentation).
STABLE = (
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-exporter-otlp-proto-common",
    "opentelemetry-proto",
)


def bundled_pip_venv(path: Path) -> Venv:
    run([_pyenv_python(PYTHON), "-m", "venv", str(path)], env=base_env())
    return Venv(path)


@pytest.mark.parametrize("case", list(CASES))
def test_extra_installs_in_one_command_with_the_bundled_pip(
    tmp_path: Path, wheel: Path, case: str
) -> None:
    suffixes, framework, instrumentor = CASES[case]
    venv = bundled_pip_venv(tmp_path / "venv")
    pip = run([venv.python, "-m", "pip", "--version"], env=base_env()).stdout.split()[1]
    bundled = run(
        [venv.python, "-c", "import ensurepip; print(ensurepip.version())"], env=base_env()
    ).stdout.strip()
    assert pip == bundled, (pip, bundled)

    args = [f"{wheel}{suffixes[0]}", *suffixes[1:]]
    install = subprocess.run(
        [venv.python, "-m", "pip", "install", "-q", *args],
        capture_output=True,
        text=True,
        env=base_env(),
        check=False,
    )
    errors = "\n".join(line for line in install.stderr.splitlines() if "ERROR" in line)
    assert install.returncode == 0, f"pip {pip} could not install {args}:\n{errors}"

    otel = check_one_release(venv)
    if framework is not None:
        # The app's framework, installed as the app has it: OpenTelemetry stays as it was.
        run([venv.python, "-m", "pip", "install", "-q", framework], env=base_env())
        assert check_one_release(venv) == otel
    flask = "from opentelemetry.instrumentation.flask import FlaskInstrumentor"
    run([venv.python, "-c", f"{instrumentor}\n{flask}"], env=base_env())


def check_one_release(venv: Venv) -> dict[str, str]:
    """The installed opentelemetry-* distributions, checked to be of one release."""
    run([venv.python, "-m", "pip", "check"], env=base_env())
    seen = json.loads(run([venv.python, "-c", RELEASE], env=base_env()).stdout)
    dists, sdk_pins = seen["dists"], seen["sdk_pins"]
    otel = {name: v for name, v in dists.items() if name.startswith("opentelemetry-")}

    instrumentation = otel["opentelemetry-instrumentation"]
    unstable = {name: v for name, v in otel.items() if name not in STABLE}
    assert set(unstable.values()) == {instrumentation}, unstable
    stable = {name: otel[name] for name in STABLE}
    assert set(stable.values()) == {otel["opentelemetry-api"]}, stable
    # The SDK names the release it belongs to: its API and semantic conventions.
    assert sdk_pins["opentelemetry-api"] == otel["opentelemetry-api"], sdk_pins
    assert sdk_pins["opentelemetry-semantic-conventions"] == instrumentation, sdk_pins
    return otel
