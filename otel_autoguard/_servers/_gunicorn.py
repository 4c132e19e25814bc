"""gunicorn: the arbiter (master) forks workers; only the workers serve.

gunicorn forks without exec, so the ``.pth`` runs in the master alone. It stays a
supervisor (libraries instrumented, so ``--preload`` apps are patched, but no
SDK); each worker configures its own SDK in ``init_process`` right after the
worker's own ``init_signals`` (whichever class defines it), before it loads the
application or accepts a connection. A stop signal that arrives while the SDK is
set up is held back until it is, then handled by the worker's own handler: set
up earlier, it would reach the master's inherited handler and be lost. A worker
leaves through ``sys.exit`` (stop, HUP, ``--max-requests``, ``--reload``), so the
SDK's exit handlers flush what it holds.

A worker's quit handler runs once: Ctrl-C reaches the worker (SIGINT) and then the
arbiter's SIGQUIT does; each would end in ``sys.exit``. gevent's worker runs the
handler in a greenlet that sleeps 0.1 s first, so the second ``SystemExit`` was
thrown into the main greenlet while the exit flush waited on the collector, and cut it.
"""

from __future__ import annotations

import functools
from typing import Any

from .._events import Context
from .._exit import deferring_stop_signals
from .._imports import patch_on_import
from .._patching import is_patched, patch_method, replace


def install(ctx: Context) -> None:
    events = ctx.events
    reason = "gunicorn arbiter: forks the workers, serves nothing"

    def arbiter(module: Any) -> None:
        patch_method(module.Arbiter, "run", lambda: events.supervising(reason))

    def serving() -> None:
        with deferring_stop_signals():
            events.serving("gunicorn worker starting")

    def worker(module: Any) -> None:
        # Every worker class (sync, gthread, gevent, uvicorn's) ends its own
        # init_process with this one, which calls its init_signals.
        init_process = module.Worker.init_process
        if is_patched(init_process):
            return

        @functools.wraps(init_process)
        def configure_after_signals(self: Any, *args: Any, **kwargs: Any) -> Any:
            init_signals = self.init_signals  # the worker class's own, looked up now

            @functools.wraps(init_signals)
            def then_configure(*a: Any, **kw: Any) -> Any:
                result = init_signals(*a, **kw)
                serving()
                return result

            self.init_signals = then_configure
            return init_process(self, *args, **kwargs)

        replace(module.Worker, "init_process", configure_after_signals)
        _quit_once(module.Worker)

    patch_on_import(
        ctx.settings, [("gunicorn.arbiter", arbiter), ("gunicorn.workers.base", worker)]
    )


def _quit_once(worker: Any) -> None:
    handle_quit = worker.handle_quit
    if is_patched(handle_quit):
        return

    @functools.wraps(handle_quit)
    def quit_once(self: Any, sig: Any, frame: Any) -> Any:
        if self.__dict__.get("_otel_autoguard_quitting"):
            return None  # already leaving: a repeat would only cut the exit flush
        self._otel_autoguard_quitting = True
        return handle_quit(self, sig, frame)

    replace(worker, "handle_quit", quit_once)
