"""One small module per server; each watches for its server's modules to load.

A server module exposes ``install(settings)`` (watch for the server's modules)
and reports through :func:`otel_autoguard._lifecycle.serving` and
``reloader_parent``. Adding a server means adding a module here and a line to
``_SERVERS``.
"""

from __future__ import annotations

from importlib import import_module

from .. import _boundary
from .._settings import Settings

# _socket last: the fallback for a server none of the others knows.
_SERVERS = (
    "_werkzeug",
    "_gunicorn",
    "_uvicorn",
    "_django",
    "_waitress",
    "_uwsgi",
    "_celery",
    "_rq",
    "_socket",
)


def install(settings: Settings) -> None:
    for name in _SERVERS:
        with _boundary.guard(settings, f"hooking server {name.lstrip('_')}"):
            import_module(f"{__name__}.{name}").install(settings)
