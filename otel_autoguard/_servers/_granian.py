"""granian: a Rust HTTP server whose main process starts Python worker processes.

``MPServer`` (every CPython build with a GIL) starts each worker with
multiprocessing, using the start method in force: fork on Linux up to Python
3.13 (no exec: the ``.pth`` runs in the main process alone, and each worker
inherits its instrumented libraries), spawn where the default is forkserver
(Python 3.14+) or spawn (fresh interpreters whose ``.pth`` runs and defers). The
main process only starts, watches and restarts the workers (``--reload`` too):
a supervisor, so its forks start as ``defer``. Each worker configures when
granian's worker function starts, before it loads the application; a forked
worker ends with ``os._exit`` (multiprocessing's fork), so it flushes and reports
its exit when that function returns (granian's graceful stop: SIGTERM from the
main process, SIGINT); a stop signal that reaches a forked worker before granian
has set that worker's own handlers ends it at once. Requests are read in Rust
threads: no Python ``accept`` would ever show that the process serves.

Not covered: ``MTServer`` (free-threaded builds: workers are threads of the main
process) and the embedded asyncio ``Server``.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

from .._events import Context
from .._exit import deferring_stop_signals, stop_at_once
from .._imports import patch_on_import
from .._patching import is_patched, patch_method, replace
from .._providers import SIGNALS

_SPAWNERS = (
    "_spawn_asgi_worker",
    "_spawn_asgi_lifespan_worker",
    "_spawn_rsgi_worker",
    "_spawn_wsgi_worker",
)


def install(ctx: Context) -> None:
    patch_on_import(ctx.settings, [("granian.server.mp", functools.partial(_patch, ctx))])


def _patch(ctx: Context, module: Any) -> None:
    server = module.MPServer
    reason = "granian main process: starts and watches the workers, serves nothing"
    patch_method(server, "startup", lambda: ctx.events.supervising(reason))
    here = os.getpid()  # where granian was imported: its workers fork from here, or spawn
    for name in _SPAWNERS:
        target = getattr(server, name, None)
        if target is not None and not is_patched(target):
            replace(server, name, staticmethod(_serving(ctx, target, here)))


def _serving(ctx: Context, target: Callable[..., Any], here: int) -> Callable[..., Any]:
    # functools.wraps keeps the name pickle looks the target up by (spawn).
    @functools.wraps(target)
    def worker(*args: Any, **kwargs: Any) -> Any:
        forked = os.getpid() != here
        try:
            if forked:
                # Until granian's worker function sets its handlers (once the app is
                # loaded) it has the main process's: the main process, which sent the
                # stop (a reload, a stop), would wait for this worker forever.
                stop_at_once()
            with deferring_stop_signals():  # not half way through the set-up
                ctx.events.serving("granian worker starting")
            return target(*args, **kwargs)
        finally:
            if forked:
                # multiprocessing ends a forked process with os._exit: no exit handler runs.
                ctx.events.ending(SIGNALS, report=True)

    return worker
