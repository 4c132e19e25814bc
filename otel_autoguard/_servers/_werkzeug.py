"""Werkzeug's development server (``app.run()``, ``flask run``) and its reloader.

Serving starts in ``BaseWSGIServer.serve_forever``: in the reloader child and in
a process without reloader. A process that calls ``run_with_reloader`` without
``WERKZEUG_RUN_MAIN=true`` is the reloader parent and never serves.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from .. import _boundary, _graceful, _lifecycle
from .._imports import when_imported
from .._settings import Settings

_MARK = "__otel_autoguard__"


def install(settings: Settings) -> None:
    when_imported("werkzeug.serving", _patch_serving)
    when_imported("werkzeug._reloader", functools.partial(_patch_reloader, settings))


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
        if settings.werkzeug_child:
            return
        _lifecycle.reloader_parent("entered Werkzeug's run_with_reloader as the parent")
        with _boundary.guard(settings, "making the reloader stop gracefully"):
            _graceful.install(module, settings)

    # serving.run_simple imports run_with_reloader at call time, so replacing the
    # module attribute is enough.
    module.run_with_reloader = _wrap(original, entering)
