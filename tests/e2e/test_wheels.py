"""The two wheels (hatch_build.py): which one pip installs, and either runs the hook once.

``pth`` (tagged py39...py317, the ``.pth`` only) is what the other end-to-end tests use;
``all`` (py3, the ``.pth`` and the PEP 829 ``.start``) is what Python 3.18+ installs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.procs import Venv, base_env, build_wheel, make_venv, otel_env, run

pytestmark = pytest.mark.core

PROBE = (
    "import sys; h = sys.modules.get('otel_autoguard._hook'); "
    "print(sys.version_info >= (3, 15), h is not None, getattr(h, '_started', None))"
)


@pytest.fixture(scope="module")
def all_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel-all"), kind="all")


def python_at_least(venv: Venv, minor: int) -> bool:
    code = f"import sys; print(sys.version_info >= (3, {minor}))"
    return run([venv.python, "-c", code], env=base_env()).stdout.strip() == "True"


def test_pip_installs_the_pth_wheel_up_to_3_17(
    tmp_path: Path, venv: Venv, wheel: Path, all_wheel: Path
) -> None:
    found = tmp_path / "both"
    found.mkdir()
    for w in (wheel, all_wheel):
        shutil.copy(w, found / w.name)
    assert {wheel.name.split("-")[2], all_wheel.name.split("-")[2]} == {
        "py39.py310.py311.py312.py313.py314.py315.py316.py317",
        "py3",
    }
    out = tmp_path / "chosen"
    pip = [venv.python, "-m", "pip", "download", "-q", "--no-deps", "--no-index"]
    run([*pip, "-f", str(found), "-d", str(out), "otel-autoguard"], env=base_env())
    expected = all_wheel if python_at_least(venv, 18) else wheel
    assert [p.name for p in out.iterdir()] == [expected.name]


def test_the_start_wheel_runs_the_hook_once_per_process(
    tmp_path: Path, venv: Venv, all_wheel: Path
) -> None:
    start_venv = make_venv(tmp_path / "venv", venv.python, all_wheel)
    site = Path(
        run(
            [start_venv.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            env=base_env(),
        ).stdout.strip()
    )
    assert (site / "otel_autoguard.pth").is_file() and (site / "otel_autoguard.start").is_file()

    # Inert: up to 3.14 nothing is imported; 3.15+ calls the .start entry, which imports
    # the hook module and returns at once (no OTEL_ variable).
    inert = run([start_venv.python, "-c", PROBE], env=base_env())
    new, imported, started = inert.stdout.split()
    assert (imported, started) == (("True", "False") if new == "True" else ("False", "None"))
    assert "otel-autoguard" not in inert.stderr

    # Gated on: one start line and one exit line from the one process, on every version
    # (the .pth line up to 3.14, the .start entry alone from 3.15, which suppresses it).
    on = run([start_venv.python, "-c", PROBE], env=otel_env("http://127.0.0.1:9"))
    assert on.stdout.split()[1:] == ["True", "True"]
    ours = [line for line in on.stderr.splitlines() if line.startswith("otel-autoguard:")]
    assert len(ours) == 2, on.stderr
    assert "role=defer reason='-c: role unknown at start" in ours[0]
    assert " exit role=defer " in ours[1]
