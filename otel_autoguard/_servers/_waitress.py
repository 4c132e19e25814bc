"""waitress: one process, many threads; serving starts in the server's ``run``."""

from __future__ import annotations

import functools
from typing import Any

from .._events import Context
from .._imports import patch_on_import
from .._patching import patch_method


def install(ctx: Context) -> None:
    patch_on_import(ctx.settings, [("waitress.server", functools.partial(_patch_server, ctx))])


def _patch_server(ctx: Context, module: Any) -> None:
    for name in ("BaseWSGIServer", "MultiSocketServer"):
        server = getattr(module, name, None)
        if server is not None:
            patch_method(server, "run", lambda: ctx.events.serving("waitress server starting"))
