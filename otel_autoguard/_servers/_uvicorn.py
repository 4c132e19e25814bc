"""uvicorn: a server, or a supervisor (``--reload``, ``--workers N``) of spawned servers.

The supervisors start their servers with multiprocessing's spawn: fresh
interpreters whose ``.pth`` runs and defers (see ``_roles``) until
``Server.serve`` starts in them. The ``--reload`` parent is a reloader parent,
the ``--workers`` parent a supervisor; neither serves.
"""

from __future__ import annotations

import functools
from typing import Any

from .. import _lifecycle
from .._imports import when_imported
from .._settings import Settings
from ._patch import MARK, guarded, is_patched, patch_method


def install(settings: Settings) -> None:
    when_imported("uvicorn.server", guarded(settings, "uvicorn.server", _patch_server))
    when_imported(
        "uvicorn.supervisors.basereload",
        guarded(settings, "uvicorn.supervisors.basereload", _patch_reload),
    )
    when_imported(
        "uvicorn.supervisors.multiprocess",
        guarded(settings, "uvicorn.supervisors.multiprocess", _patch_multiprocess),
    )


def _patch_server(module: Any) -> None:
    serve = module.Server.serve
    if is_patched(serve):
        return

    # Before the application is imported (Server._serve loads it), so a
    # FastAPI/Starlette app built at import time is instrumented and traced.
    @functools.wraps(serve)
    async def serving(self: Any, *args: Any, **kwargs: Any) -> Any:
        _lifecycle.serving("uvicorn server starting")
        return await serve(self, *args, **kwargs)

    setattr(serving, MARK, True)
    module.Server.serve = serving


def _patch_reload(module: Any) -> None:
    patch_method(
        module.BaseReload,
        "run",
        lambda: _lifecycle.reloader_parent("uvicorn --reload supervisor: restarts the server"),
    )


def _patch_multiprocess(module: Any) -> None:
    patch_method(
        module.Multiprocess,
        "run",
        lambda: _lifecycle.supervising("uvicorn --workers supervisor: spawns the servers"),
    )
