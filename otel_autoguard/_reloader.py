"""The reloader protocol, shared by Werkzeug's reloader and Django's autoreloader.

Both run the serving child as a subprocess of a parent that only watches files.

- **Hand-off**: the parent records its pid in ``OTEL_AUTOGUARD_RELOADER_PID``, so
  only its direct child takes the serving role at start (see ``_roles``).
- **Graceful stop**: Werkzeug's parent runs the child with ``subprocess.call``: on
  Ctrl-C that waits 0.25 s and then SIGKILLs the child; on SIGTERM it kills it at
  once. Django's ``subprocess.run`` does the same. Either way the child's queued
  spans are lost. Here the parent passes the stop on to the child and waits for it
  to exit (bounded by ``OTEL_AUTOGUARD_STOP_TIMEOUT``), then leaves exactly as
  before. A second stop request kills the child at once.
- **First stop only**: the child takes the first stop signal and ignores repeats
  (Ctrl-C reaches the whole group, and the parent passes it on too).
"""

from __future__ import annotations

import functools
import os
import signal
from types import FrameType
from typing import Any, Callable

from ._boundary import guard
from ._events import Context
from ._exit import hold_stop_signals
from ._settings import RELOADER_PID


def entering_as_parent(ctx: Context, module: Any, run_main: bool, reason: str) -> None:
    """The process calls the reloader's entry point: it is the parent unless ``run_main``.

    ``run_main``: the reloader's own test for its child (``WERKZEUG_RUN_MAIN``,
    ``RUN_MAIN``). Ours (the parent's pid) can miss a real child, e.g. when OTEL_*
    came from a .env file the parent loaded after start; such a child must not
    call itself the parent.
    """
    if run_main:
        return
    os.environ[RELOADER_PID] = str(os.getpid())
    ctx.events.reloader_parent(reason)
    with guard(
        ctx.settings,
        "making the reloader stop gracefully",
        "a stop kills the serving child as the reloader does, with the spans it still holds",
    ):
        from ._graceful import Subprocess  # a reloader parent only: it has subprocess

        if not isinstance(getattr(module, "subprocess", None), Subprocess):
            module.subprocess = Subprocess(ctx.settings)


def child_serving(run_main: bool) -> None:
    """In a reloader's child, once its own signal handlers are set: first stop only."""
    if run_main:
        stop_once()


def stop_once() -> None:
    """The first stop signal stops the process; repeats are ignored.

    A second signal would cut short the child's own shutdown and the final flush.
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
