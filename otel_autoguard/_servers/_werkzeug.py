"""Werkzeug's development server (``app.run()``, ``flask run``) and its reloader.

Serving starts in ``BaseWSGIServer.serve_forever``: in the reloader child and in
a process without reloader. A process that calls ``run_with_reloader`` without
being the reloader's child is the reloader parent and never serves.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, Callable

from .. import _boundary, _graceful, _lifecycle
from .._imports import when_imported
from .._settings import RELOADER_PID, Settings

_MARK = "__otel_autoguard__"


def install(settings: Settings) -> None:
    when_imported("werkzeug.serving", _guarded(settings, "werkzeug.serving", _patch_serving))
    when_imported(
        "werkzeug._reloader",
        _guarded(settings, "werkzeug._reloader", functools.partial(_patch_reloader, settings)),
    )


def configured(settings: Settings) -> None:
    when_imported("werkzeug._internal", _guarded(settings, "werkzeug._internal", _keep_console_log))


def _guarded(settings: Settings, what: str, patch: Callable[[Any], None]) -> Callable[[Any], None]:
    # Runs inside the user's `import`: a failure must not reach it.
    def callback(module: Any) -> None:
        with _boundary.guard(settings, f"hooking {what}"):
            patch(module)

    return callback


def _wrap(original: Callable[..., Any], before: Callable[[], None]) -> Callable[..., Any]:
    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        before()
        return original(*args, **kwargs)

    setattr(wrapper, _MARK, True)
    return wrapper


def _patch_serving(module: Any) -> None:
    server = module.BaseWSGIServer
    if getattr(server.serve_forever, _MARK, False):
        return
    server.serve_forever = _wrap(
        server.serve_forever,
        lambda: _lifecycle.serving("Werkzeug server started serving in this process"),
    )


def _patch_reloader(settings: Settings, module: Any) -> None:
    original = module.run_with_reloader
    if getattr(original, _MARK, False):
        return

    def entering() -> None:
        if _lifecycle.is_reloader_child():
            return
        # Only this process's direct child may take the serving role (see _roles).
        os.environ[RELOADER_PID] = str(os.getpid())
        _lifecycle.reloader_parent("entered Werkzeug's run_with_reloader as the parent")
        with _boundary.guard(settings, "making the reloader stop gracefully"):
            _graceful.install(module, settings)

    def child_serving() -> None:
        # The child has set its signal handlers by now (`with reloader:` follows).
        if _lifecycle.is_reloader_child():
            _graceful.stop_once()

    # serving.run_simple imports run_with_reloader at call time, so replacing the
    # module attribute is enough.
    module.run_with_reloader = _wrap(original, entering)
    loop = module.ReloaderLoop
    loop.__enter__ = _wrap(loop.__enter__, child_serving)


def _keep_console_log(module: Any) -> None:
    """Keep Werkzeug's request log on the console when OpenTelemetry owns the root logger.

    With ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true`` the SDK puts its
    handler on the root logger; Werkzeug then sees a handler and never adds its own
    console handler, so the dev server's request lines vanish. Do what Werkzeug
    would have done, before it first logs.
    """
    if getattr(module, "_logger", None) is not None:
        return  # Werkzeug has set up its logger already.
    root = logging.getLogger().handlers
    if not root or not all(type(h).__module__.startswith("opentelemetry") for h in root):
        return
    logger = logging.getLogger("werkzeug")
    if logger.handlers:
        return
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    logger.addHandler(getattr(module, "_ColorStreamHandler", logging.StreamHandler)())
