"""waitress: one process, many threads; serving starts in the server's ``run``."""

from __future__ import annotations

import functools
from typing import Any

from .._events import Context
from .._imports import when_imported
from .._patching import guarded, patch_method


def install(ctx: Context) -> None:
    patch = functools.partial(_patch_server, ctx)
    when_imported("waitress.server", guarded(ctx.settings, "waitress.server", patch))


def _patch_server(ctx: Context, module: Any) -> None:
    for name in ("BaseWSGIServer", "MultiSocketServer"):
        server = getattr(module, name, None)
        if server is not None:
            patch_method(server, "run", lambda: ctx.events.serving("waitress server starting"))
