from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import APPS, SPOOL_ROOT, Proc, Venv, build_wheel, make_venv, run
from tests.support.receiver import Receiver
from tests.support.redis import RedisServer

# The apps run inside their own venvs; test_in_app.py is run there by a test.
collect_ignore = ["apps"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.e2e)


# What the app venv gets besides the wheel (which brings Flask and OpenTelemetry).
APP_EXTRAS = ("pytest", "python-dotenv")


# The Python of the default venv (`venv`, `venvs["3.11"]`, the servers' venvs): CPython
# 3.11 from pyenv, or the interpreter AUTOGUARD_PYTHON names (scripts/test-chroot runs the
# core tests with /usr/bin/python3.14 and 3.15 that way). Other versions come from pyenv.
DEFAULT_VERSION = "3.11"
PYTHON_VARIABLE = "AUTOGUARD_PYTHON"


def default_python() -> str:
    python = os.environ.get(PYTHON_VARIABLE)
    if not python:
        return _pyenv_python(DEFAULT_VERSION)
    if not os.access(python, os.X_OK):
        pytest.fail(f"{PYTHON_VARIABLE}={python}: not an executable")
    return python


def _pyenv_python(version: str) -> str:
    """The newest pyenv-installed CPython of a minor version, e.g. 3.9 -> 3.9.18."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    found = []
    for path in root.glob(f"{version}.*/bin/python"):
        patch = path.parent.parent.name[len(version) + 1 :]
        if patch.isdigit():
            found.append((int(patch), str(path)))
    if not found:
        pytest.fail(f"CPython {version} is not installed with pyenv under {root}")
    return max(found)[1]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def venvs(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Iterator[dict[str, Venv]]:
    """One venv per Python version, built on first use and shared by every test."""
    cache: dict[str, Venv] = {}

    class Lazy(dict):  # type: ignore[type-arg]
        def __missing__(self, version: str) -> Venv:
            python = default_python() if version == DEFAULT_VERSION else _pyenv_python(version)
            venv = make_venv(tmp_path_factory.mktemp(f"venv-{version}"), python, wheel, *APP_EXTRAS)
            self[version] = venv
            return venv

    yield Lazy(cache)


@pytest.fixture(scope="session")
def venv(venvs: dict[str, Venv]) -> Venv:
    return venvs[DEFAULT_VERSION]


# The servers of the role table besides Werkzeug, and the frameworks they serve.
SERVERS = ("gunicorn", "uvicorn", "waitress", "fastapi", "django", "httpx")


def _with_extras(venv: Venv, wheel: Path, extras: str, packages: tuple[str, ...]) -> Venv:
    """The wheel's ``extras`` installed as users do, plus ``packages``."""
    # Pinning the instrumentation release already chosen keeps pip's resolver
    # from backtracking through every old instrumentation release for the extras.
    version = run(
        [
            venv.python,
            "-c",
            "import importlib.metadata as m; print(m.version('opentelemetry-instrumentation'))",
        ]
    ).stdout.strip()
    run(
        [
            venv.python,
            "-m",
            "pip",
            "install",
            "-q",
            f"{wheel}[{extras}]",
            f"opentelemetry-instrumentation=={version}",
            *packages,
        ]
    )
    return venv


@pytest.fixture(scope="session")
def servers_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    """One 3.11 venv with every server, installed as users do: ``otel-autoguard[extras]``."""
    venv = make_venv(tmp_path_factory.mktemp("venv-servers"), default_python(), wheel, *APP_EXTRAS)
    return _with_extras(venv, wheel, "fastapi,django", SERVERS)


# hypercorn and granian (its reload extra brings watchfiles) with FastAPI: a venv of their own,
# so that the other servers' tests never wait for these installs.
ASYNC_SERVERS = ("hypercorn", "granian[reload]", "fastapi")


@pytest.fixture(scope="session")
def hypercorn_granian_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    """One 3.11 venv with hypercorn and granian, installed as users do (``[fastapi]``)."""
    path = tmp_path_factory.mktemp("venv-hypercorn-granian")
    venv = make_venv(path, default_python(), wheel, *APP_EXTRAS)
    return _with_extras(venv, wheel, "fastapi", ASYNC_SERVERS)


# uWSGI builds from source with gcc against the venv's Python (headers and
# libpython come with every pyenv CPython). 2.0.26 is the last release in which
# Python threads are off unless --enable-threads.
UWSGI = "uwsgi==2.0.31"
UWSGI_THREADS_OPTIONAL = "uwsgi==2.0.26"


def _with_uwsgi(venv: Venv, requirement: str) -> Venv:
    if shutil.which("gcc") is None:
        pytest.fail("uWSGI is built from source by pip: gcc is missing")
    run([venv.python, "-m", "pip", "install", "-q", requirement])
    return venv


@pytest.fixture(scope="session")
def uwsgi_venv(venv: Venv) -> Venv:
    """The shared 3.11 venv plus uWSGI (an extra binary; other tests do not see it)."""
    return _with_uwsgi(venv, UWSGI)


@pytest.fixture(scope="session")
def old_uwsgi_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    venv = make_venv(tmp_path_factory.mktemp("venv-uwsgi-old"), default_python(), wheel)
    return _with_uwsgi(venv, UWSGI_THREADS_OPTIONAL)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    """A private copy of the example apps: reload tests edit their sources."""
    target = tmp_path / "app"
    shutil.copytree(APPS, target)
    return target


@pytest.fixture(scope="session", autouse=True)
def _spools() -> Iterator[None]:
    yield
    shutil.rmtree(SPOOL_ROOT, ignore_errors=True)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.stop()


# Task queues: Celery and RQ with Redis as the broker (tests/support/redis.py).
# RQ 2: opentelemetry-instrumentation-rq 0.1.4, the only RQ instrumentation there is,
# cannot instrument RQ 3.0 (otel-autoguard then says so and applies none of it).
# redis-py 8 (8.2 seen) with RQ 2.12: a worker's teardown often waits 60 s, joining a
# pub/sub thread that waits for a subscription confirmation only it would read.
# gevent and eventlet: Celery's green pools (`--pool gevent` / `eventlet`), run in this venv
# rather than green_venv, which has no Celery.
TASK_PACKAGES = ("celery", "redis>=6.4,<8", "rq>=2,<3", "django", "gevent", "eventlet")


@pytest.fixture(scope="session")
def tasks_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    """One 3.11 venv with Celery and RQ, installed as users do: ``otel-autoguard[celery,rq]``."""
    python = _pyenv_python("3.11")
    venv = make_venv(tmp_path_factory.mktemp("venv-tasks"), python, wheel, *APP_EXTRAS)
    return _with_extras(venv, wheel, "celery,rq,django", TASK_PACKAGES)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis emptied for this test."""
    redis_server.flush()
    return redis_server.url


# gunicorn's green worker classes and gevent's own server, with Flask (the wheel brings
# its instrumentation): a venv of their own, so no other test waits for these installs.
GREEN_SERVERS = ("gunicorn", "gevent", "eventlet")


@pytest.fixture(scope="session")
def green_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    """One 3.11 venv with gunicorn, gevent and eventlet beside the wheel."""
    path = tmp_path_factory.mktemp("venv-green")
    return make_venv(path, default_python(), wheel, *APP_EXTRAS, *GREEN_SERVERS)
