"""The fallback: a process no known server claimed accepts a connection.

Something in it answers requests over a socket, so it serves; the SDK is
configured then, so that first request waits for it (a few hundred ms). The
patch removes itself at the first accepted connection: later ones cost nothing.
In-process test clients (Flask's, Starlette's, Django's) never accept. Only TCP
connections count (not Unix sockets), and only accepts through the standard
library's ``socket`` module (gevent's sockets are not seen).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .._events import Context
from .._imports import patch_on_import
from .._patching import is_patched, replace


def install(ctx: Context) -> None:
    # At socket's import, not now: nothing early (gevent patches socket; see _instrumentors).
    patch_on_import(ctx.settings, [("socket", lambda module: _patch(ctx, module))])


def _patch(ctx: Context, socket: ModuleType) -> None:
    original = socket.socket.accept
    if is_patched(original):
        return
    network = (socket.AF_INET, socket.AF_INET6)

    def accept(self: Any) -> Any:
        result = original(self)
        # Unix sockets are multiprocessing's (Manager, Listener, resource sharer)
        # far more often than a server's.
        if self.family not in network:
            return result
        if socket.socket.accept is accept:
            socket.socket.accept = original
        ctx.events.serving("accepted a connection (no known server claimed it)", fallback=True)
        return result

    replace(socket.socket, "accept", accept)
