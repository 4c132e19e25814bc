"""The fallback: a process no known server claimed accepts a connection.

Something in it answers requests over a socket, so it serves; the SDK is
configured then, so that first request waits for it (a few hundred ms). The
patch removes itself at the first accepted connection: later ones cost nothing.
In-process test clients (Flask's, Starlette's, Django's) never accept.
"""

from __future__ import annotations

import socket
from typing import Any

from .. import _lifecycle
from .._settings import Settings
from ._patch import MARK, is_patched


def install(settings: Settings) -> None:
    original = socket.socket.accept
    if is_patched(original):
        return

    def accept(self: socket.socket) -> Any:
        result = original(self)
        if socket.socket.accept is accept:
            socket.socket.accept = original  # type: ignore[method-assign]
        _lifecycle.serving("accepted a connection (no known server claimed it)", fallback=True)
        return result

    setattr(accept, MARK, True)
    socket.socket.accept = accept  # type: ignore[method-assign]
