"""The fallback: a process no known server claimed accepts a connection.

Something in it answers requests over a socket, so it serves; the SDK is
configured then, so that first request waits for it (a few hundred ms). The
patch removes itself at the first accepted connection: later ones cost nothing.
In-process test clients (Flask's, Starlette's, Django's) never accept. Only TCP
connections count (not Unix sockets), and only accepts through the standard
library's ``socket`` module (gevent's sockets are not seen).
"""

from __future__ import annotations

import socket
from typing import Any

from .._events import Context
from .._patching import is_patched, replace

_NETWORK = (socket.AF_INET, socket.AF_INET6)


def install(ctx: Context) -> None:
    original = socket.socket.accept
    if is_patched(original):
        return

    def accept(self: socket.socket) -> Any:
        result = original(self)
        # Unix sockets are multiprocessing's (Manager, Listener, resource sharer)
        # far more often than a server's.
        if self.family not in _NETWORK:
            return result
        if socket.socket.accept is accept:
            socket.socket.accept = original  # type: ignore[method-assign]
        ctx.events.serving("accepted a connection (no known server claimed it)", fallback=True)
        return result

    replace(socket.socket, "accept", accept)
