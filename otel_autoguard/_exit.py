"""How a process leaves: the exit plan's runner, and a SIGTERM that flushes first.

The plan itself (which steps, in which order) is the process's: see
``Process.exit_plan`` in :mod:`._process`. Every way out of a serving process
flushes through ``Process.flush``: interpreter exit, SIGTERM, a server's own exit
hook (uWSGI), a process about to ``os._exit`` (a forked request).
"""

from __future__ import annotations

import contextlib
import functools
import signal
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Callable

from . import _forks
from ._boundary import emit, guard
from ._settings import STOP_TIMEOUT, Settings

Step = tuple[str, Callable[[], None], str]
"""(what it does, the step, what a failure of it means)."""


def run(settings: Settings, steps: Iterable[Step]) -> None:
    """Run each step in order; one that fails is reported and the next one runs."""
    for what, step, consequence in steps:
        with guard(settings, f"{what} at exit", consequence):
            step()


def hold_stop_signals() -> None:
    """Ignore SIGINT and SIGTERM from now on: a repeat must not cut a flush short."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def stop_at_once(signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """In a forked worker that still has its parent's handlers until its server sets its
    own: a stop signal ends it at once (``SystemExit``: exit handlers still flush). Under
    the parent's handler it would only set a flag of the parent's copy, and be lost."""
    for sig in signals:
        signal.signal(sig, _exit_now)


def _exit_now(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@contextlib.contextmanager
def deferring_stop_signals() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGQUIT back while the block runs; deliver them after.

    A stop that arrives during set-up then reaches the handler in place when the
    block ends, and cannot interrupt the set-up half way.
    """
    stops = {signal.SIGINT, signal.SIGTERM, signal.SIGQUIT}
    if not hasattr(signal, "pthread_sigmask") or not in_main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, stops)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def flush_on_sigterm(settings: Settings, flush: Callable[[], None]) -> None:
    """In a serving process that SIGTERM would kill outright: ``flush()`` first, then die of it.

    SIGTERM's default action skips every exit handler, the SDK's flush included;
    uvicorn re-raises the signal after its graceful shutdown, waitress and Django's
    runserver never catch it. A handler the application or server sets later
    replaces this one.
    """
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL and in_main_thread():
        handler = functools.partial(_flush_then_die, settings, flush)
        signal.signal(signal.SIGTERM, handler)


def _flush_then_die(
    settings: Settings, flush: Callable[[], None], signum: int, frame: FrameType | None
) -> None:
    signal.signal(signum, signal.SIG_IGN)
    # The SDK's force_flush does not honour its timeout (it exports the whole
    # queue, each batch waiting out the exporter's timeout): bound it from outside.
    import threading

    flusher = threading.Thread(target=flush, name="otel-autoguard-flush", daemon=True)
    flusher.start()
    flusher.join(settings.stop_timeout)
    if flusher.is_alive():
        emit(
            settings,
            f"telemetry not flushed within {settings.stop_timeout:g}s of SIGTERM "
            f"({STOP_TIMEOUT}); exiting without the rest",
        )
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


@_forks.register
def _forget_flush_on_sigterm() -> None:
    # A forked child (a multiprocessing pool worker, say) holds no telemetry of its
    # own: SIGTERM ends it at once, as it did before.
    handler = signal.getsignal(signal.SIGTERM)
    if isinstance(handler, functools.partial) and handler.func is _flush_then_die:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
