"""One small module per server; each watches for its server's modules to load.

A server module exposes ``install(ctx)`` (watch for the server's modules) and
reports what it sees through ``ctx.events`` (see :mod:`otel_autoguard._events`):
it never imports the process state itself. Adding a server means adding a
module here and a line to ``_SERVERS``.
"""

from __future__ import annotations

from importlib import import_module

from .._boundary import guard
from .._events import Context

# _socket last: the fallback for a server none of the others knows.
_SERVERS = (
    "_werkzeug",
    "_gunicorn",
    "_uvicorn",
    "_django",
    "_waitress",
    "_uwsgi",
    "_hypercorn",
    "_granian",
    "_gevent",
    "_celery",
    "_rq",
    "_socket",
)


def install(ctx: Context) -> None:
    for name in _SERVERS:
        server = name.lstrip("_")
        with guard(ctx.settings, f"hooking server {server}", f"{server} is not recognised"):
            import_module(f"{__name__}.{name}").install(ctx)
