"""The reloader patches call through the module's current attributes: mocks keep working."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Iterator
from unittest import mock

import pytest

from otel_autoguard import detect_role, load_settings
from otel_autoguard._events import Context
from otel_autoguard._servers import _django

# What django.utils.autoreload.restart_with_reloader does, in a module of its own.
AUTORELOAD = """
import os
import subprocess
import sys

def restart_with_reloader():
    new_environ = {**os.environ, "RUN_MAIN": "true"}
    args = [sys.executable, "-c", "pass"]
    while True:
        p = subprocess.run(args, env=new_environ, close_fds=False)
        if p.returncode != 3:
            return p.returncode

def start_django(reloader, main_func, *args, **kwargs):
    pass
"""

NAME = "fake_django_autoreload"


class Events:
    def __init__(self) -> None:
        self.parents: list[str] = []

    def reloader_parent(self, reason: str) -> None:
        self.parents.append(reason)


@pytest.fixture
def autoreload(monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    module = types.ModuleType(NAME)
    exec(AUTORELOAD, module.__dict__)
    monkeypatch.setitem(sys.modules, NAME, module)
    monkeypatch.setenv("OTEL_AUTOGUARD_RELOADER_PID", "0")  # restored after the test
    yield module


def test_a_mocked_subprocess_run_is_called_not_a_real_process(
    autoreload: types.ModuleType,
) -> None:
    # Django's RestartWithReloaderTests: mock.patch('django.utils.autoreload.subprocess.run')
    # and a fake sys.executable, then restart_with_reloader().
    events = Events()
    ctx = Context(load_settings({}), detect_role({}, ["python", "manage.py"]), events)  # type: ignore[arg-type]
    _django._patch_reloader(ctx, autoreload)
    for attempt in range(2):  # the second finds the module's subprocess as the first left it
        argv = ["/nonexistent/python", "-c", "pass"]
        with (
            mock.patch(
                f"{NAME}.subprocess.run", return_value=subprocess.CompletedProcess(argv, 0)
            ) as run,
            mock.patch(f"{NAME}.sys.executable", "/nonexistent/python"),
        ):
            assert autoreload.restart_with_reloader() == 0, attempt
        assert run.call_count == 1, attempt
        assert run.call_args.args[0][0] == "/nonexistent/python"
        assert run.call_args.kwargs["env"]["RUN_MAIN"] == "true"
    assert autoreload.subprocess.Popen is subprocess.Popen


def test_the_real_subprocess_run_still_stops_gracefully(autoreload: types.ModuleType) -> None:
    # Unmocked, the child runs and its exit code comes back as Django's own would.
    ctx = Context(load_settings({}), detect_role({}, ["python", "manage.py"]), Events())  # type: ignore[arg-type]
    _django._patch_reloader(ctx, autoreload)
    assert autoreload.restart_with_reloader() == 0
    assert os.environ["OTEL_AUTOGUARD_RELOADER_PID"] == str(os.getpid())


def test_a_test_runner_is_recognised_from_any_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    import unittest

    from otel_autoguard import _callsite

    assert _callsite.test_runner() == "pytest"
    monkeypatch.delitem(sys.modules, "_pytest")
    assert _callsite.test_runner() is None
    seen: list[str | None] = []

    class LiveServerThread(threading.Thread):  # Django's, by name
        def run(self) -> None:
            seen.append(_callsite.test_runner())

    class Case(unittest.TestCase):
        def test_live_server(self) -> None:
            # A server thread of a test that unittest runs: the main thread is in unittest.
            thread = threading.Thread(target=lambda: seen.append(_callsite.test_runner()))
            thread.start()
            thread.join()

    import io

    result = unittest.TextTestRunner(stream=io.StringIO()).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(Case)
    )
    assert result.wasSuccessful()
    thread = LiveServerThread()
    thread.start()
    thread.join()
    assert seen == ["unittest", "a Django LiveServerTestCase"]
