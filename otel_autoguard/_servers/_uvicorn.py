"""uvicorn: a server, or a supervisor (``--reload``, ``--workers N``) of spawned servers.

The supervisors start their servers with multiprocessing's spawn: fresh
interpreters whose ``.pth`` runs and defers (see ``_roles``) until
``Server.serve`` starts in them. The ``--reload`` parent is a reloader parent,
the ``--workers`` parent a supervisor; neither serves.
"""

from __future__ import annotations

import functools
from typing import Any

from .._events import Context
from .._imports import patch_on_import
from .._patching import is_patched, patch_method, replace


def install(ctx: Context) -> None:
    patches = {
        "uvicorn.server": _patch_server,
        "uvicorn.supervisors.basereload": _patch_reload,
        "uvicorn.supervisors.multiprocess": _patch_multiprocess,
    }
    patch_on_import(ctx.settings, [(m, functools.partial(p, ctx)) for m, p in patches.items()])


def _patch_server(ctx: Context, module: Any) -> None:
    serve = module.Server.serve
    if is_patched(serve):
        return

    # Before the application is imported (Server._serve loads it), so a
    # FastAPI/Starlette app built at import time is instrumented and traced.
    @functools.wraps(serve)
    async def serving(self: Any, *args: Any, **kwargs: Any) -> Any:
        ctx.events.serving("uvicorn server starting")
        return await serve(self, *args, **kwargs)

    replace(module.Server, "serve", serving)


def _patch_reload(ctx: Context, module: Any) -> None:
    reason = "uvicorn --reload supervisor: restarts the server"
    patch_method(module.BaseReload, "run", lambda: ctx.events.reloader_parent(reason))


def _patch_multiprocess(ctx: Context, module: Any) -> None:
    reason = "uvicorn --workers supervisor: spawns the servers"
    patch_method(module.Multiprocess, "run", lambda: ctx.events.supervising(reason))
