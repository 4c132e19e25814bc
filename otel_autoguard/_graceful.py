"""A reloader parent that stops its serving child gracefully.

Werkzeug's parent runs the child with ``subprocess.call``: on Ctrl-C that waits
0.25 s and then SIGKILLs the child; on SIGTERM it kills it at once. Either way
the child's queued spans are lost. Here the parent passes the stop on to the
child and waits for it to exit (bounded by ``OTEL_AUTOGUARD_STOP_TIMEOUT``), then
leaves exactly as Werkzeug would. A second stop request kills the child at once.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import threading
import time
from types import FrameType
from typing import Any, Callable

from . import _boundary, _collector, _otel
from ._settings import STOP_TIMEOUT, Settings


class _Subprocess:
    """The reloader module's view of ``subprocess``, with a graceful ``call``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    def call(self, args: Any, **kwargs: Any) -> int:
        proc = subprocess.Popen(args, **kwargs)
        try:
            return proc.wait()
        except BaseException as exc:
            # KeyboardInterrupt, or SystemExit from Werkzeug's SIGTERM handler.
            _stop(proc, exc, self._settings)
            raise

    def run(self, args: Any, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        # Django's autoreloader: subprocess.run(args, env=..., close_fds=False).
        if {"input", "capture_output", "timeout", "check"} & kwargs.keys():
            return subprocess.run(args, **kwargs)  # noqa: PLW1510 - the caller's choice
        return subprocess.CompletedProcess(args, self.call(args, **kwargs))


def install(reloader: Any, settings: Settings) -> None:
    if not isinstance(getattr(reloader, "subprocess", None), _Subprocess):
        reloader.subprocess = _Subprocess(settings)


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
            _boundary.emit(
                settings,
                f"the serving child (pid {proc.pid}) did not exit within "
                f"{settings.stop_timeout:g}s of the stop signal ({STOP_TIMEOUT}); killed it",
            )
            break
        except (KeyboardInterrupt, SystemExit):
            _boundary.emit(settings, f"second stop request: killed serving child pid {proc.pid}")
            break
    proc.kill()
    proc.wait()


def stop_once() -> None:
    """In a reloader child: the first stop signal stops it; repeats are ignored.

    Ctrl-C reaches the whole process group and the parent passes it on as well;
    a second signal would cut short the child's own shutdown and the final flush.
    A second stop request still works: the parent then kills the child.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if callable(previous):
            signal.signal(sig, functools.partial(_first_stop, previous))


def _first_stop(
    previous: Callable[[int, FrameType | None], Any], signum: int, frame: FrameType | None
) -> None:
    hold_stop_signals()
    previous(signum, frame)


def hold_stop_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def flush_at_exit(settings: Settings) -> None:
    """In a reloader child at exit, before the SDK's own exit handlers run.

    Those shut down logs, then metrics, then traces, each export bounded by the
    exporter's timeout; the parent waits only so long. Flush spans first.
    """
    with _boundary.guard(settings, "flushing spans at exit"):
        hold_stop_signals()
        if "traces" not in _collector.down(settings):
            _otel.flush_spans(settings.stop_timeout)


def flush_on_sigterm(settings: Settings) -> None:
    """In a serving process that SIGTERM would kill outright: flush first, then die of it.

    SIGTERM's default action skips every exit handler, the SDK's flush included;
    uvicorn re-raises the signal after its graceful shutdown, waitress and Django's
    runserver never catch it. A handler the application or server sets later
    replaces this one.
    """
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL and _in_main_thread():
        signal.signal(signal.SIGTERM, functools.partial(_flush_then_die, settings))


def _flush_then_die(settings: Settings, signum: int, frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_IGN)
    # The SDK's force_flush does not honour its timeout (it exports the whole
    # queue, each batch waiting out the exporter's timeout): bound it from outside.
    flusher = threading.Thread(
        target=_flush_all, args=(settings,), name="otel-autoguard-flush", daemon=True
    )
    flusher.start()
    flusher.join(settings.stop_timeout)
    if flusher.is_alive():
        _boundary.emit(
            settings,
            f"telemetry not flushed within {settings.stop_timeout:g}s of SIGTERM "
            f"({STOP_TIMEOUT}); exiting without the rest",
        )
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


def _flush_all(settings: Settings) -> None:
    with _boundary.guard(settings, "flushing telemetry on SIGTERM"):
        _otel.flush_all(settings.stop_timeout, _collector.down(settings))


def _forget_flush_on_sigterm() -> None:
    # A forked child (a multiprocessing pool worker, say) holds no telemetry of its
    # own: SIGTERM ends it at once, as it did before.
    handler = signal.getsignal(signal.SIGTERM)
    if isinstance(handler, functools.partial) and handler.func is _flush_then_die:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_flush_on_sigterm)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
