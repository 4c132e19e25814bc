"""The sitecustomize shim: a folder on PYTHONPATH instead of pip install, as in a container.

The folder is made the documented way (``pip install --target`` then
``python -m otel_autoguard.shim``); the app's venv has Flask but not otel-autoguard.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import _pyenv_python
from tests.e2e.test_reloader import N, check_reloads, start
from tests.support.procs import ROOT, Proc, Venv, base_env, get, otel_env, run
from tests.support.receiver import Receiver

PYENV = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"

# The app's own Flask, older than the one pip puts into the folder: it must win.
APP_FLASK = ("flask==3.0.3", "werkzeug==3.0.6")

# Leaves one line per run in $SHIM_TEST_MARK: which process ran it, under which name.
MARKER = """\
import os
MARKED = True
with open(os.environ["SHIM_TEST_MARK"], "a") as f:
    f.write("%d %s\\n" % (os.getpid(), __name__))
"""
FAILING = MARKER + 'raise RuntimeError("boom in the user\'s sitecustomize")\n'

PROBE = """\
import json, sys
import flask
from importlib.metadata import version
m = sys.modules.get("sitecustomize")
hook = sys.modules.get("otel_autoguard._hook")
print(json.dumps({
    "sitecustomize": getattr(m, "__file__", None),
    "name": getattr(m, "__name__", None),
    "marked": getattr(m, "MARKED", False),
    "started": getattr(hook, "_started", None),
    "hook": getattr(hook, "__file__", None),
    "flask": version("flask"),
}))
"""


@pytest.fixture(scope="module")
def python311() -> str:
    return _pyenv_python("3.11")


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, wheel: Path, python311: str) -> Path:
    """What an init container would mount: otel-autoguard, its dependencies, the shim."""
    target = tmp_path_factory.mktemp("otel") / "otel"
    run([python311, "-m", "pip", "install", "-q", "--target", str(target), str(wheel)])
    run(
        [python311, "-m", "otel_autoguard.shim", str(target)],
        env=base_env(PYTHONPATH=str(target)),
    )
    return target


@pytest.fixture(scope="module")
def app_venv(tmp_path_factory: pytest.TempPathFactory, python311: str) -> Venv:
    """The application's own environment: Flask, no otel-autoguard, no OpenTelemetry."""
    venv = Venv(tmp_path_factory.mktemp("app-venv") / "venv")
    run([python311, "-m", "venv", str(venv.path)])
    run([venv.python, "-m", "pip", "install", "-q", *APP_FLASK])
    return venv


@dataclass(frozen=True)
class Shim:
    """The folder, the app's venv, and a scratch directory for one test."""

    folder: Path
    app: Venv
    tmp: Path

    @property
    def mark(self) -> Path:
        return self.tmp / "marks.txt"

    def user_dir(self, source: str = MARKER) -> Path:
        """A folder of the user's own, with a sitecustomize, later on PYTHONPATH."""
        path = self.tmp / "user"
        path.mkdir()
        (path / "sitecustomize.py").write_text(source)
        return path

    def marks(self) -> list[tuple[int, str]]:
        if not self.mark.exists():
            return []
        lines = self.mark.read_text().splitlines()
        return [(int(pid), name) for pid, name in (line.split() for line in lines)]


@pytest.fixture
def shim(folder: Path, app_venv: Venv, tmp_path: Path) -> Shim:
    return Shim(folder, app_venv, tmp_path)


def probe(python: str, cwd: Path, **env: str) -> tuple[dict[str, object], str]:
    result = run([python, "-c", PROBE], cwd=cwd, env=otel_env("http://127.0.0.1:9", **env))
    return json.loads(result.stdout), result.stderr


def hook_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("otel-autoguard: pid=")]


def test_folder_holds_no_usercustomize_and_a_compiled_shim(folder: Path) -> None:
    assert not list(folder.glob("usercustomize*"))
    assert "_BUILT_FOR = 'cpython-311'" in (folder / "sitecustomize.py").read_text()
    assert (folder / "__pycache__" / "sitecustomize.cpython-311.pyc").is_file()


@pytest.mark.parametrize("layout", ["once", "twice-symlink-slash-user"])
def test_reloader_through_the_folder(
    procs: list[Proc], shim: Shim, app_dir: Path, receiver: Receiver, layout: str
) -> None:
    path = str(shim.folder)
    if layout != "once":
        link = shim.tmp / "otel-link"
        link.symlink_to(shim.folder)
        entries = [shim.folder, f"{shim.folder}/", link, shim.user_dir()]
        path = os.pathsep.join(map(str, entries))
    check_reloads(
        procs, shim.app, app_dir, receiver, PYTHONPATH=path, SHIM_TEST_MARK=str(shim.mark)
    )
    if layout != "once":
        # The user's sitecustomize ran once in each process (parent and 4 children).
        runs = shim.marks()
        assert len(runs) == 5 and set(Counter(pid for pid, _ in runs).values()) == {1}
        assert {name for _, name in runs} == {"sitecustomize"}
        assert procs[0].pid in {pid for pid, _ in runs}


@pytest.mark.parametrize("where", ["user", "venv", "system"])
def test_an_existing_sitecustomize_still_runs_as_itself(
    shim: Shim, python311: str, where: str
) -> None:
    python = shim.app.python
    path = str(shim.folder)
    if where == "user":
        expected = shim.user_dir() / "sitecustomize.py"
        path = os.pathsep.join([path, str(expected.parent)])
    elif where == "venv":
        # A venv of its own, with a sitecustomize in its site-packages.
        other = Venv(shim.tmp / "venv")
        run([python311, "-m", "venv", "--without-pip", str(other.path)])
        (site_packages,) = other.path.glob("lib/python3.*/site-packages")
        expected = site_packages / "sitecustomize.py"
        expected.write_text(MARKER)
        run([python, "-m", "pip", "--python", other.python, "install", "-q", *APP_FLASK])
        python = other.python
    else:
        # Debian's own Python 3.11 ships one (/usr/lib/python3.11/sitecustomize.py).
        python = "/usr/bin/python3.11"
        expected = Path("/usr/lib/python3.11/sitecustomize.py")
        if not expected.is_file():
            pytest.skip("no Debian Python 3.11 with its system sitecustomize here")
    seen, stderr = probe(python, shim.tmp, PYTHONPATH=path, SHIM_TEST_MARK=str(shim.mark))
    assert seen["sitecustomize"] == str(expected), stderr
    assert seen["name"] == "sitecustomize"
    assert seen["started"] is True
    assert seen["hook"] == str(shim.folder / "otel_autoguard" / "_hook.py")
    assert len(hook_lines(stderr)) == 2, stderr  # the decision and the exit report
    if where != "system":
        assert seen["marked"] is True
        assert [name for _, name in shim.marks()] == ["sitecustomize"]
        # The app's environment wins over the folder's copies.
        assert seen["flask"] == APP_FLASK[0].split("==")[1]


def test_a_failing_sitecustomize_is_reported_and_the_app_traced(
    procs: list[Proc], shim: Shim, app_dir: Path, receiver: Receiver
) -> None:
    path = os.pathsep.join([str(shim.folder), str(shim.user_dir(FAILING))])
    proc, port = start(
        procs, shim.app, app_dir, receiver, "app.py",
        PYTHONPATH=path, SHIM_TEST_MARK=str(shim.mark),
    )  # fmt: skip
    (child,) = proc.wait_configured(1)
    for _ in range(N):
        assert f"pid {child}" in get(port)
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    spans = receiver.wait_for_server_spans(N)
    assert len(spans) == N and {s.pid for s in spans} == {child}
    # Reported as site reports it, once per process (parent and child).
    report = (
        "Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
        "RuntimeError: boom in the user's sitecustomize\n"
    )
    assert proc.output().count(report) == 2, proc.output()
    assert {pid for pid, _ in shim.marks()} == {proc.pid, child}


def test_with_the_pth_installed_too_each_process_starts_once(
    procs: list[Proc], venv: Venv, folder: Path, app_dir: Path, receiver: Receiver
) -> None:
    check_reloads(procs, venv, app_dir, receiver, PYTHONPATH=str(folder))
    # One start decision and one exit report per process: neither the .pth nor the
    # shim started it twice. (The parent's later "role=reloader-parent" is no start.)
    debug = procs[0].debug()
    starts = Counter(pid for pid, text in debug if text.startswith(("role=defer ", "role=serve ")))
    exits = Counter(pid for pid, text in debug if text.startswith("exit "))
    assert len(starts) == 5 and set(starts.values()) == {1}, procs[0].output()
    assert exits == starts


@pytest.mark.parametrize("version", ["2.7", "3.9", "3.13"])
def test_a_python_of_another_version_is_left_alone(shim: Shim, version: str) -> None:
    user = shim.user_dir()
    env = otel_env(
        "http://127.0.0.1:9",
        PYTHONPATH=os.pathsep.join([str(shim.folder), str(user)]),
        SHIM_TEST_MARK=str(shim.mark),
    )
    code = "import sys; print(getattr(sys.modules.get('sitecustomize'), '__file__', None))"
    if version == "2.7" and not list(PYENV.glob("2.7.*/bin/python")):
        pytest.skip("no CPython 2.7 from pyenv here (the others are required)")
    result = run([_pyenv_python(version), "-c", code], cwd=shim.tmp, env=env)
    # No hook (the folder's packages were built for 3.11), no error, nothing said.
    assert result.stderr == ""
    if version != "2.7":  # Python 2 has no importlib to chain with; it only parses the shim
        assert result.stdout.strip() == str(user / "sitecustomize.py")
        assert [name for _, name in shim.marks()] == ["sitecustomize"]


def test_the_working_directory_is_never_searched(shim: Shim) -> None:
    cwd = shim.tmp / "cwd"
    (cwd / "otel_autoguard").mkdir(parents=True)
    (cwd / "sitecustomize.py").write_text(MARKER)
    (cwd / "otel_autoguard" / "__init__.py").write_text("raise SystemExit('imported from cwd')\n")
    env = {"PYTHONPATH": str(shim.folder), "SHIM_TEST_MARK": str(shim.mark)}
    seen, stderr = probe(shim.app.python, cwd, **env)
    assert shim.marks() == []
    assert seen["sitecustomize"] == str(shim.folder / "sitecustomize.py")
    assert seen["hook"] == str(shim.folder / "otel_autoguard" / "_hook.py")
    assert len(hook_lines(stderr)) == 2, stderr


def test_two_shim_folders_run_the_next_sitecustomize_once(shim: Shim) -> None:
    # The bare sitecustomize_shim/ of the repository in front of the folder (which has
    # its own copy of the shim): neither chains back to the other.
    user = shim.user_dir()
    entries = [ROOT / "sitecustomize_shim", shim.folder, user]
    env = {"PYTHONPATH": os.pathsep.join(map(str, entries)), "SHIM_TEST_MARK": str(shim.mark)}
    seen, stderr = probe(shim.app.python, shim.tmp, **env)
    assert seen["sitecustomize"] == str(user / "sitecustomize.py")
    assert [name for _, name in shim.marks()] == ["sitecustomize"]
    # The bare shim started the hook from the folder's package: the app venv has none.
    assert seen["started"] is True
    assert seen["hook"] == str(shim.folder / "otel_autoguard" / "_hook.py")
    assert len(hook_lines(stderr)) == 2 and "Error in sitecustomize" not in stderr, stderr
