"""Zero-code OpenTelemetry that configures only the processes that serve requests.

Installing the package is enough: a ``.pth`` hook (``.start`` on Python 3.15+)
calls :func:`otel_autoguard._hook.start` at interpreter start. This module is
imported by that hook, so it stays free of imports; the public names load lazily.
"""

from __future__ import annotations

from ._version import __version__

TYPE_CHECKING = False  # the hook imports this package: typing is not loaded for it
if TYPE_CHECKING:
    from typing import Any

    from ._roles import Decision, Role, detect_role
    from ._settings import Settings, SettingsError, load_settings

__all__ = [
    "Decision",
    "Role",
    "Settings",
    "SettingsError",
    "__version__",
    "detect_role",
    "load_settings",
]

_LAZY = {
    "Decision": "_roles",
    "Role": "_roles",
    "detect_role": "_roles",
    "Settings": "_settings",
    "SettingsError": "_settings",
    "load_settings": "_settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'otel_autoguard' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"otel_autoguard.{module}"), name)
