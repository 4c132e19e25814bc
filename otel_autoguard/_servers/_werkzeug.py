"""Werkzeug's development server (``app.run()``, ``flask run``) and its reloader.

Serving starts in ``BaseWSGIServer.serve_forever``: in the reloader child and in
a process without reloader. A process that calls ``run_with_reloader`` without
being the reloader's child is the reloader parent and never serves.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any, Callable

from .. import _reloader
from .._events import Context
from .._imports import patch_on_import
from .._patching import before, is_patched, replace

if TYPE_CHECKING:
    import logging  # not at start: it imports threading (see _instrumentors)


def install(ctx: Context) -> None:
    patches: list[tuple[str, Callable[[Any], None]]] = [
        ("werkzeug.serving", functools.partial(_patch_serving, ctx)),
        ("werkzeug._reloader", functools.partial(_patch_reloader, ctx)),
        ("werkzeug._internal", _patch_log),
    ]
    patch_on_import(ctx.settings, patches)


def _patch_serving(ctx: Context, module: Any) -> None:
    server = module.BaseWSGIServer
    if is_patched(server.serve_forever):
        return
    serve_forever = server.serve_forever

    @functools.wraps(serve_forever)
    def serving(self: Any, *args: Any, **kwargs: Any) -> Any:
        self._otel_autoguard_pid = os.getpid()
        ctx.events.serving("Werkzeug server started serving in this process")
        return serve_forever(self, *args, **kwargs)

    replace(server, "serve_forever", serving)

    # app.run(processes=N): each request runs in a child forked from the server,
    # which ends with os._exit() right after shutdown_request().
    forking = getattr(module, "ForkingWSGIServer", None)
    if forking is None:
        return
    shutdown_request = forking.shutdown_request

    @functools.wraps(shutdown_request)
    def request_done(self: Any, request: Any) -> None:
        try:
            shutdown_request(self, request)
        finally:
            if getattr(self, "_otel_autoguard_pid", None) not in (
                None,
                os.getpid(),
            ):
                ctx.events.ending()

    replace(forking, "shutdown_request", request_done)


def _patch_reloader(ctx: Context, module: Any) -> None:
    original = module.run_with_reloader
    if is_patched(original):
        return
    run_main = ctx.settings.werkzeug_run_main

    def entering() -> None:
        reason = "entered Werkzeug's run_with_reloader as the parent"
        _reloader.entering_as_parent(ctx, module, run_main, reason)

    # serving.run_simple imports run_with_reloader at call time, so replacing the
    # module attribute is enough. The child has set its signal handlers by the time
    # it enters the ReloaderLoop (`with reloader:`).
    replace(module, "run_with_reloader", before(original, entering))
    loop = module.ReloaderLoop
    replace(loop, "__enter__", before(loop.__enter__, lambda: _reloader.child_serving(run_main)))


def _patch_log(module: Any) -> None:
    """Keep Werkzeug's request log on the console when OpenTelemetry owns the root logger.

    With ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true`` the SDK puts its
    handler on the root logger; Werkzeug's first log call then finds a handler,
    adds none of its own, and the dev server's request lines vanish. Its test is
    made to look past OpenTelemetry's handlers, at the moment Werkzeug makes it.
    """
    original = module._has_level_handler
    if is_patched(original):
        return

    def has_level_handler(logger: logging.Logger) -> bool:
        level = logger.getEffectiveLevel()
        current: logging.Logger | None = logger
        while current is not None:
            for handler in current.handlers:
                if handler.level <= level and not _is_otel(handler):
                    return True
            if not current.propagate:
                break
            current = current.parent
        return False

    replace(module, "_has_level_handler", has_level_handler)


def _is_otel(handler: logging.Handler) -> bool:
    return type(handler).__module__.startswith("opentelemetry")
