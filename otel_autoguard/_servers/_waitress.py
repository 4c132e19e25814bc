"""waitress: one process, many threads; serving starts in the server's ``run``."""

from __future__ import annotations

from typing import Any

from .. import _lifecycle
from .._imports import when_imported
from .._settings import Settings
from ._patch import guarded, patch_method


def install(settings: Settings) -> None:
    when_imported("waitress.server", guarded(settings, "waitress.server", _patch_server))


def _patch_server(module: Any) -> None:
    for name in ("BaseWSGIServer", "MultiSocketServer"):
        server = getattr(module, name, None)
        if server is not None:
            patch_method(server, "run", lambda: _lifecycle.serving("waitress server starting"))
