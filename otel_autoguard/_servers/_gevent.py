"""gevent's own servers (``gevent.pywsgi.WSGIServer``, ``StreamServer``).

They accept on gevent's sockets, outside the standard library's ``socket``
module, so the accept fallback never sees them. Every one of them starts through
``BaseServer.start`` (``serve_forever`` calls it), before its first accept: the
SDK is configured there, after the application's monkey-patching.
"""

from __future__ import annotations

from typing import Any

from .._events import Context
from .._imports import patch_on_import
from .._patching import patch_method


def install(ctx: Context) -> None:
    def baseserver(module: Any) -> None:
        patch_method(
            module.BaseServer, "start", lambda: ctx.events.serving("gevent server starting")
        )

    patch_on_import(ctx.settings, [("gevent.baseserver", baseserver)])
