"""``opentelemetry-instrument python app.py`` with otel-autoguard enabled.

That launcher puts its ``auto_instrumentation`` directory first on ``PYTHONPATH``
and execs the program; the program's ``site`` then imports that directory's
``sitecustomize``, which configures the SDK and every instrumentor at start, in
every process alike (a reloader parent included). ``.pth`` lines run before
``sitecustomize``, so otel-autoguard gets there first: in a process it takes
on, it takes the directory off ``sys.path`` (not off ``PYTHONPATH``: every child
must make the same choice for itself) and does the same work with the same
distro, configurator and instrumentors, but only where the process serves.
``site`` then imports the next ``sitecustomize`` on the path, if there is one,
as it would without opentelemetry-instrument.

Processes otel-autoguard leaves alone (``role=skip``: tools, helpers,
``OTEL_AUTOGUARD_ROLE=skip``) keep opentelemetry-instrument's behaviour.
"""

from __future__ import annotations

import os
import sys

from . import _boundary
from ._roles import Role
from ._settings import Settings

DIRECTORY = os.path.join("opentelemetry", "instrumentation", "auto_instrumentation")


def is_its_directory(entry: str) -> bool:
    """``entry`` (of ``sys.path`` or ``PYTHONPATH``) holds opentelemetry-instrument's hook."""
    return entry.rstrip(os.sep).endswith(DIRECTORY)


def stand_in(settings: Settings, role: Role) -> None:
    """Before ``site`` imports opentelemetry-instrument's ``sitecustomize``."""
    if "sitecustomize" in sys.modules or not any(is_its_directory(e) for e in sys.path):
        return
    if role is Role.SKIP:
        _boundary.debug(
            settings,
            "opentelemetry-instrument: its sitecustomize sets up this process as usual "
            "(otel-autoguard leaves it alone)",
        )
        return
    sys.path[:] = [entry for entry in sys.path if not is_its_directory(entry)]
    _boundary.debug(
        settings,
        "opentelemetry-instrument: its sitecustomize does not run in this process; "
        "otel-autoguard instruments and configures it instead, with the same distro, "
        "configurator and instrumentors, and only if it serves",
    )
