"""Nothing early: an activated interpreter start imports no module a green-thread library
must patch first, and each instrumentor waits for its library (issue 13, issue 11).

gevent's and eventlet's monkey-patching replaces threading's locks, sockets, queues and
selectors in place; a module imported before it keeps the real ones. gunicorn made its
arbiter import concurrent.futures lazily for this reason (its
tests/workers/test_gevent_import_order.py); the hook used to import it at every start
(through wrapt 2.x and asyncio, loading every instrumentor).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import APP_EXTRAS, default_python
from tests.support.procs import Venv, make_venv, otel_env, run

# Modules gevent or eventlet patch, or that build locks, threads, sockets or selectors
# at import (asyncio and concurrent.futures do both).
GREEN_SENSITIVE = (
    "threading",
    "_threading_local",
    "concurrent.futures",
    "asyncio",
    "socket",
    "ssl",
    "select",
    "selectors",
    "queue",
    "subprocess",
    "logging",
)
INSTRUMENTATIONS = ("requests", "logging", "threading")


@pytest.fixture(scope="module")
def green_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Venv:
    """The wheel, gunicorn and gevent, and instrumentors for a library the apps below do
    not import at start (requests) and for two standard-library modules."""
    # One resolution: an instrumentation release can reach the index before all of its
    # packages (0.66b2 came without -threading), and pip then picks the release they share.
    instrumentations = [f"opentelemetry-instrumentation-{name}" for name in INSTRUMENTATIONS]
    extra = (*APP_EXTRAS, "gunicorn", "gevent", "requests", *instrumentations)
    return make_venv(tmp_path_factory.mktemp("venv-early"), default_python(), wheel, *extra)


def imported_at_start(venv: Venv, env: dict[str, str], tmp_path: Path) -> set[str]:
    """The modules ``python -X importtime -c pass`` imports."""
    out = run([venv.python, "-X", "importtime", "-c", "pass"], cwd=tmp_path, env=env)
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in out.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return modules


def test_an_activated_start_imports_nothing_green_threads_patch(
    green_venv: Venv, tmp_path: Path
) -> None:
    # Debug off: its exit line lists the threads, importing threading at exit.
    env = otel_env("http://127.0.0.1:9", OTEL_AUTOGUARD_DEBUG="false")
    modules = imported_at_start(green_venv, env, tmp_path)
    assert "otel_autoguard._process" in modules  # the hook ran and took the defer path
    assert "otel_autoguard._imports" in modules
    assert sorted(modules & set(GREEN_SENSITIVE)) == []
    assert not {m for m in modules if m.startswith(("opentelemetry", "wrapt", "packaging"))}
    # opentelemetry-instrument's way, on request: every instrumentor at start.
    eager = imported_at_start(
        green_venv, {**env, "OTEL_AUTOGUARD_INSTRUMENT": "at-start"}, tmp_path
    )
    assert {"concurrent.futures", "asyncio", "wrapt", "requests"} <= eager


def test_gunicorn_arbiter_then_gevent_patching_gets_green_locks(
    green_venv: Venv, tmp_path: Path
) -> None:
    """The logic of gunicorn's two import-order checks, with the hook active."""
    code = (
        "import sys\n"
        "before = 'concurrent.futures' in sys.modules\n"
        "import gunicorn.arbiter\n"
        "after_arbiter = 'concurrent.futures' in sys.modules\n"
        "from gevent import monkey\n"
        "monkey.patch_all()\n"
        "from concurrent.futures import thread\n"
        "from gevent.thread import LockType\n"
        "print(before, after_arbiter, isinstance(thread._global_shutdown_lock, LockType))\n"
    )
    env = otel_env("http://127.0.0.1:9")
    out = run([green_venv.python, "-c", code], cwd=tmp_path, env=env)
    assert out.stdout.split() == ["False", "False", "True"]
    assert "role=defer" in out.stderr  # the hook was active in that process


def test_an_instrumentor_waits_for_its_library(green_venv: Venv, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "def on(name): return f'opentelemetry.instrumentation.{name}' in sys.modules\n"
        "import flask\n"
        "print(on('flask'), on('requests'))\n"
        "import requests\n"
        "print(on('requests'), hasattr(requests.Session.send, '__wrapped__'))\n"
        "import logging\n"
        "print(on('logging'))\n"
    )
    out = run([green_venv.python, "-c", code], cwd=tmp_path, env=otel_env("http://127.0.0.1:9"))
    # requests at its import; flask too, but only once the process serves (its role is
    # unknown: tests/e2e/test_flask_pending.py); logging (standard library) when serving.
    assert out.stdout.split() == ["False", "False", "True", "True", "False"]
    assert "otel-autoguard: instrumenting" not in out.stderr  # no failure line


def test_the_standard_library_instrumentors_apply_when_the_process_serves(
    green_venv: Venv, tmp_path: Path
) -> None:
    """OTEL_AUTOGUARD_ROLE=serve: configured at start, every instrumentor ready."""
    code = (
        "import sys, logging\n"
        "print('opentelemetry.instrumentation.logging' in sys.modules,\n"
        "      'opentelemetry.instrumentation.threading' in sys.modules,\n"
        "      'requests' in sys.modules, 'google.protobuf' in sys.modules)\n"
    )
    env = otel_env("http://127.0.0.1:9", OTEL_AUTOGUARD_ROLE="serve")
    out = run([green_venv.python, "-c", code], cwd=tmp_path, env=env)
    # The OTLP exporters' HTTP stack and protobuf wait for the first export (_exporters).
    assert out.stdout.split() == ["True", "True", "False", "False"]
    assert "action=configured" in out.stderr
