"""Every installer puts the hook in place, the hook runs, and uninstalling removes our files.

The tools (the newest pip, uv, pipx, Poetry) come pinned in the test venv
(tests/requirements.txt); "pip (machine)" is the pip the Python's venv module seeds.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.conftest import _pyenv_python
from tests.support.procs import ROOT, Venv, base_env, otel_env, run

TOOLS = Path(sys.executable).parent
PYTHON = "3.11"
APP_NAME = "otel-autoguard"

# What the installed distribution says it put where, and whether the hook ran.
PROBE = """\
import json, sys
from importlib import metadata
hook = sys.modules.get("otel_autoguard._hook")
try:
    dist = metadata.distribution("otel-autoguard")
    files = [str(dist.locate_file(f)) for f in dist.files or ()]
except metadata.PackageNotFoundError:
    files = None
print(json.dumps({"started": getattr(hook, "_started", None), "files": files}))
"""


def probe(python: str) -> tuple[dict[str, object], list[str]]:
    result = run([python, "-c", PROBE], env=otel_env("http://127.0.0.1:9"))
    ours = [line for line in result.stderr.splitlines() if line.startswith("otel-autoguard:")]
    return json.loads(result.stdout), ours


def site_packages(python: str) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(run([python, "-c", code], env=base_env()).stdout.strip())


class Installer:
    """Installs the wheel (or the checkout) with one tool; returns the app's Python."""

    def __init__(self, tmp: Path, wheel: Path) -> None:
        self.tmp = tmp
        self.wheel = wheel
        self.python = _pyenv_python(PYTHON)
        self.env = base_env()
        self.cleanups: list[Callable[[], None]] = []

    def venv(self, *args: str) -> Venv:
        venv = Venv(self.tmp / "venv")
        run([self.python, "-m", "venv", *args, str(venv.path)], env=self.env)
        return venv

    def pip_machine(self) -> tuple[str, Callable[[], object]]:
        venv = self.venv()
        run([venv.python, "-m", "pip", "install", "-q", str(self.wheel)], env=self.env)
        return venv.python, lambda: run(
            [venv.python, "-m", "pip", "uninstall", "-y", "-q", APP_NAME], env=self.env
        )

    def pip_latest(self) -> tuple[str, Callable[[], object]]:
        venv = self.venv("--without-pip")
        pip = [str(TOOLS / "python"), "-m", "pip", "--python", venv.python]
        run([*pip, "install", "-q", str(self.wheel)], env=self.env)
        return venv.python, lambda: run([*pip, "uninstall", "-y", "-q", APP_NAME], env=self.env)

    def pip_editable(self) -> tuple[str, Callable[[], object]]:
        venv = self.venv()
        run([venv.python, "-m", "pip", "install", "-q", "-e", str(ROOT)], env=self.env)
        return venv.python, lambda: run(
            [venv.python, "-m", "pip", "uninstall", "-y", "-q", APP_NAME], env=self.env
        )

    def uv(self) -> tuple[str, Callable[[], object]]:
        venv = self.venv("--without-pip")
        uv = [str(TOOLS / "uv"), "pip"]
        run([*uv, "install", "-q", "--python", venv.python, str(self.wheel)], env=self.env)
        return venv.python, lambda: run(
            [*uv, "uninstall", "-q", "--python", venv.python, APP_NAME], env=self.env
        )

    def pipx_inject(self) -> tuple[str, Callable[[], object]]:
        env = base_env(PIPX_HOME=str(self.tmp / "pipx"), PIPX_BIN_DIR=str(self.tmp / "bin"))
        pipx = [str(TOOLS / "pipx")]
        run([*pipx, "install", "--python", self.python, "flask"], env=env)
        run([*pipx, "inject", "flask", str(self.wheel)], env=env)
        python = str(self.tmp / "pipx" / "venvs" / "flask" / "bin" / "python")
        return python, lambda: run([*pipx, "uninject", "flask", APP_NAME], env=env)

    def poetry(self) -> tuple[str, Callable[[], object]]:
        project = self.tmp / "app"
        project.mkdir()
        (project / "pyproject.toml").write_text(
            '[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
            "dependencies = []\n\n[tool.poetry]\npackage-mode = false\n"
        )
        env = base_env(
            POETRY_VIRTUALENVS_IN_PROJECT="true",
            POETRY_CACHE_DIR=str(self.tmp / "poetry-cache"),
            PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        )
        poetry = [str(TOOLS / "poetry"), "--no-interaction", "--directory", str(project)]
        run([*poetry, "env", "use", self.python], env=env)
        index = self.local_index()
        run([*poetry, "source", "add", "--priority=primary", "local", index], env=env)
        run([*poetry, "add", str(self.wheel)], env=env)
        python = str(project / ".venv" / "bin" / "python")
        return python, lambda: run([*poetry, "remove", APP_NAME], env=env)

    def local_index(self) -> str:
        """A simple index on loopback with the wheel's dependencies, fetched by pip.

        Poetry reads release metadata from the package index's JSON API, which this
        sandbox's index does not serve; a plain simple index is what it falls back to.
        """
        wheels = self.tmp / "wheels"
        pip = [str(TOOLS / "python"), "-m", "pip", "download", "-q", "-d", str(wheels)]
        run([*pip, "--python-version", PYTHON, "--only-binary=:all:", str(self.wheel)])
        simple = self.tmp / "simple"
        for dist in wheels.glob("*.whl"):
            project = re.sub(r"[-_.]+", "-", dist.name.split("-")[0]).lower()
            (simple / project).mkdir(parents=True, exist_ok=True)
            dist.rename(simple / project / dist.name)
        handler = functools.partial(_QuietHandler, directory=str(self.tmp))
        server = _Index(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.cleanups += [server.shutdown, server.server_close]
        return f"http://127.0.0.1:{server.server_address[1]}/simple/"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _Index(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # Poetry drops connections whose download it no longer needs; not an error.
        pass


@pytest.mark.parametrize(
    "installer", ["pip_machine", "pip_latest", "pip_editable", "uv", "pipx_inject", "poetry"]
)
def test_install_runs_the_hook_and_uninstall_removes_our_files(
    tmp_path: Path, wheel: Path, installer: str
) -> None:
    with installed(Installer(tmp_path, wheel), installer) as (python, uninstall):
        # The wheel is the one pip picks up to 3.17 (.pth only); an editable install
        # has both hook files (hatch_build.py).
        check_install_and_uninstall(python, uninstall, start_file=installer == "pip_editable")


@contextlib.contextmanager
def installed(tool: Installer, installer: str) -> Iterator[tuple[str, Callable[[], object]]]:
    try:
        yield getattr(tool, installer)()
    finally:
        for cleanup in tool.cleanups:
            cleanup()


def check_install_and_uninstall(
    python: str, uninstall: Callable[[], object], *, start_file: bool
) -> None:
    site = site_packages(python)

    seen, lines = probe(python)
    assert seen["started"] is True, lines
    assert len(lines) == 2 and "role=defer" in lines[0] and "exit role=defer" in lines[1]
    files = [Path(f) for f in seen["files"]]  # type: ignore[attr-defined]
    assert site / "otel_autoguard.pth" in files
    assert (site / "otel_autoguard.start" in files) is start_file
    assert site / "sitecustomize_shim" / "sitecustomize.py" in files
    missing = [f for f in files if not f.exists() and f.suffix != ".pyc"]
    assert missing == []

    uninstall()
    seen, lines = probe(python)
    assert seen == {"started": None, "files": None} and lines == []
    assert [f for f in files if f.exists()] == []
    left = [p.name for p in site.iterdir() if "otel_autoguard" in p.name]
    assert left == [] and not (site / "sitecustomize_shim").exists()
