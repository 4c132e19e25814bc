"""A reloader parent's graceful stop of its serving child (see ``_reloader``).

Werkzeug's parent runs the child with ``subprocess.call`` and Django's with
``subprocess.run``: on Ctrl-C they wait 0.25 s, then SIGKILL the child, its queued
spans with it. Here the stop is passed on and the child waited for, within
``OTEL_AUTOGUARD_STOP_TIMEOUT``. Only a reloader parent imports this module (and
``subprocess``, which its reloader has imported already).
"""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

from ._boundary import emit
from ._settings import STOP_TIMEOUT, Settings


class Subprocess:
    """The reloader module's view of ``subprocess``, with a graceful ``call`` and ``run``.

    Every name is looked up on ``subprocess`` when it is used, never copied: a ``call``
    or ``run`` that a test mocked (``mock.patch("django.utils.autoreload.subprocess.run")``)
    or someone else patched is called as it is, and only the standard library's own
    is made graceful.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    def call(self, args: Any, **kwargs: Any) -> int:
        if not _stdlib(subprocess.call):
            return int(subprocess.call(args, **kwargs))
        return self._graceful(args, **kwargs)

    def _graceful(self, args: Any, **kwargs: Any) -> int:
        proc = subprocess.Popen(args, **kwargs)
        try:
            return proc.wait()
        except BaseException as exc:
            # KeyboardInterrupt, or SystemExit from Werkzeug's SIGTERM handler.
            _stop(proc, exc, self._settings)
            raise

    def run(self, args: Any, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        # Django's autoreloader: subprocess.run(args, env=..., close_fds=False).
        if not _stdlib(subprocess.run) or (
            {"input", "capture_output", "timeout", "check"} & kwargs.keys()
        ):
            return subprocess.run(args, **kwargs)  # noqa: PLW1510 - the caller's choice
        return subprocess.CompletedProcess(args, self._graceful(args, **kwargs))


def _stdlib(function: Any) -> bool:
    """``function`` is the standard library's own (not a mock, not someone's patch)."""
    code = getattr(function, "__code__", None)
    return code is not None and code.co_filename == subprocess.__file__


def _stop(proc: subprocess.Popen[Any], exc: BaseException, settings: Settings) -> None:
    sig = signal.SIGINT if isinstance(exc, KeyboardInterrupt) else signal.SIGTERM
    if proc.poll() is None:
        # The child may have had the signal already (Ctrl-C reaches the whole
        # process group); it ignores repeats (stop_once).
        proc.send_signal(sig)
    deadline = time.monotonic() + settings.stop_timeout
    while True:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            return
        except subprocess.TimeoutExpired:
            emit(
                settings,
                f"the serving child (pid {proc.pid}) did not exit within "
                f"{settings.stop_timeout:g}s of the stop signal ({STOP_TIMEOUT}); killed it",
            )
            break
        except (KeyboardInterrupt, SystemExit):
            emit(settings, f"second stop request: killed serving child pid {proc.pid}")
            break
    proc.kill()
    proc.wait()
