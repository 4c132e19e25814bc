"""The role a process started with a given command would get, and why.

The command is turned into what ``sys.orig_argv`` would be in that process and
given to the same pure :func:`otel_autoguard._roles.detect_role` the hook uses.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .._roles import _OTEL_INSTRUMENT_DIR, Role, detect_role
from .._roles import _under_opentelemetry_instrument as under_opentelemetry_instrument
from .._settings import Settings
from ._env import DoctorEnv

_PYTHON = re.compile(r"python[0-9.]*w?")


def interpreter_argv(command: Sequence[str]) -> list[str]:
    """The command as ``sys.orig_argv`` would show it in the process it starts."""
    first = os.path.basename(command[0])
    if _PYTHON.fullmatch(first) or os.path.realpath(command[0]) == sys.executable:
        return list(command)
    # A console script (flask, gunicorn) or a script with a shebang runs as
    # `python <path> args…`: detect_role names it by its base name.
    return [sys.executable, *command]


def launched_by_opentelemetry_instrument(
    environ: Mapping[str, str], pythonpath: Sequence[str], command: Sequence[str]
) -> tuple[Mapping[str, str], Sequence[str]]:
    """``opentelemetry-instrument [--opt value]… CMD…``: CMD, in the environment it gets.

    The launcher itself is a tool; what matters is the program it starts with its
    sitecustomize directory first on ``PYTHONPATH``.
    """
    if not command or os.path.basename(command[0]) != "opentelemetry-instrument":
        return environ, command
    i = 1
    while i < len(command) and command[i].startswith("-"):
        i += 1 if "=" in command[i] else 2
    entry = f"<opentelemetry-instrument>/{_OTEL_INSTRUMENT_DIR}"
    changed = {**environ, "PYTHONPATH": os.pathsep.join((entry, *pythonpath))}
    return changed, command[i:]


def role(
    environ: Mapping[str, str], settings: Settings, env: DoctorEnv, command: Sequence[str]
) -> dict[str, Any] | None:
    if not command:
        return None
    shown = shlex.join(command)
    environ, command = launched_by_opentelemetry_instrument(environ, env.pythonpath, command)
    if not command:
        return None
    decision = detect_role(environ, interpreter_argv(command), ppid=None, override=settings.role)
    set_up_by = "otel-autoguard" if decision.role in (Role.SERVE, Role.DEFER) else None
    if decision.role is Role.SKIP and under_opentelemetry_instrument(environ):
        set_up_by = "opentelemetry-instrument"
    found: dict[str, Any] = {
        "command": shown,
        "role": str(decision.role),
        "reason": decision.reason,
        "set_up_by": set_up_by if settings.active else None,
    }
    if not settings.active:
        found["note"] = "otel-autoguard is off here, so nothing is set up in it whatever its role"
    elif decision.role is Role.DEFER:
        found["note"] = (
            "libraries are instrumented at start; the SDK is configured when a server "
            "starts serving in it (a process that never serves exports nothing)"
        )
    return found
