"""The role a process started with a given command would get, and why.

The command is turned into what ``sys.orig_argv`` would be in that process and
given to the same pure :func:`otel_autoguard._roles.detect_role` the hook uses.
Start-time roles are ``serve``, ``defer`` and ``skip``; a known server's hook later
turns a ``defer`` process into ``serve``, ``reloader-parent`` or ``supervisor``,
which :func:`then` describes for the servers otel-autoguard has hooks for.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .._argv import (
    DJANGO_OPTS_WITH_VALUE,
    FLASK_OPTS_WITH_VALUE,
    first_command,
    parse_interpreter_argv,
    tool_name,
)
from .._instrument_cli import DIRECTORY as OTEL_INSTRUMENT_DIR
from .._instrument_cli import is_its_directory
from .._roles import Role, detect_role, is_uwsgi
from .._settings import Settings
from .._settings._doctor import DoctorEnv
from ._model import WARNING, Finding

_PYTHON = re.compile(r"python[0-9.]*w?")

_DEFER = (
    "libraries are instrumented at start; the SDK is configured when a server starts serving "
    "in it (a known server's hook, or else its first accepted connection); a process that "
    "never serves exports nothing"
)
_RELOADER_CHILD = "the child it starts is configured at start, once per reload"

# What a known server's hook makes of a `defer` process started with its command.
_SERVERS = {
    "gunicorn": "the arbiter becomes `supervisor` (idle: no SDK, threads or exports); each "
    "worker configures its own SDK after its fork, before the app is loaded",
    "uvicorn": "`serve` when `Server.serve` starts; with --reload this process becomes "
    "`reloader-parent` and with --workers `supervisor` (idle), and each spawned server is "
    "configured when it starts serving",
    "waitress-serve": "`serve` when waitress's server starts",
    "uwsgi": "the master becomes `supervisor` (idle); each worker is configured after its fork "
    "(or as the app loads under --lazy-apps); mules and spoolers are left alone",
    "celery": "a prefork worker's main process becomes `supervisor` (idle); each pool process "
    "is configured after its fork and flushes before it ends; --pool solo/threads and "
    "`celery beat` configure this process; gevent/eventlet pools are not covered",
    "rq": "`rq worker` is configured once its work loop starts; each forked work horse flushes "
    "its spans before os._exit; SimpleWorker runs the jobs in this process",
    "hypercorn": "this process becomes `supervisor` (idle; with --reload `reloader-parent`) and "
    "each worker it spawns is configured when it starts, before the app is loaded; with "
    "--workers 0, `serve` when its worker starts",
    "granian": "this process becomes `supervisor` (idle: no SDK, threads or exports); each "
    "worker (forked up to Python 3.13, spawned from 3.14) is configured when it starts, before "
    "the app is loaded, and flushes when it stops",
}


def interpreter_argv(command: Sequence[str]) -> list[str]:
    """The command as ``sys.orig_argv`` would show it in the process it starts."""
    first = os.path.basename(command[0])
    if is_uwsgi(command) or _PYTHON.fullmatch(first):
        return list(command)
    if os.path.realpath(command[0]) == sys.executable:
        return list(command)
    # A console script (flask, gunicorn) or a script with a shebang runs as
    # `python <path> args…`: detect_role names it by its base name.
    return [sys.executable, *command]


def then(argv: Sequence[str]) -> str:
    """What happens later in a ``defer`` process started with ``argv``."""
    if is_uwsgi(argv):
        return _SERVERS["uwsgi"]
    program = parse_interpreter_argv(argv)
    tool = tool_name(program)
    if tool in _SERVERS:
        return _SERVERS[tool]
    if tool == "flask" and first_command(program.args, FLASK_OPTS_WITH_VALUE) == "run":
        return (
            "with the reloader (--debug, --reload) this process becomes `reloader-parent` "
            f"(idle) and {_RELOADER_CHILD}; without it, `serve` when Werkzeug's server starts"
        )
    django = tool in ("manage", "django-admin")
    if django and first_command(program.args, DJANGO_OPTS_WITH_VALUE) == "runserver":
        return (
            "with the autoreloader (the default) this process becomes `reloader-parent` "
            f"(idle) and {_RELOADER_CHILD}; with --noreload, `serve` when runserver starts "
            "its server"
        )
    return _DEFER


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
    entry = os.path.join("<opentelemetry-instrument>", OTEL_INSTRUMENT_DIR)
    changed = {**environ, "PYTHONPATH": os.pathsep.join((entry, *pythonpath))}
    return changed, command[i:]


def under_opentelemetry_instrument(environ: Mapping[str, str]) -> bool:
    """Its sitecustomize directory is on ``PYTHONPATH`` (then on every child's ``sys.path``)."""
    entries = environ.get("PYTHONPATH", "").split(os.pathsep)
    return any(is_its_directory(e) for e in entries if e)


def role(
    environ: Mapping[str, str], settings: Settings, env: DoctorEnv, command: Sequence[str]
) -> dict[str, Any] | None:
    if not command:
        return None
    shown = shlex.join(command)
    environ, command = launched_by_opentelemetry_instrument(environ, env.pythonpath, command)
    if not command:
        return None
    argv = interpreter_argv(command)
    decision = detect_role(environ, argv, ppid=None, override=settings.role)
    instrument = under_opentelemetry_instrument(environ)
    if decision.role is Role.SKIP or not settings.active:
        # otel-autoguard leaves a skip process alone (and every process when it is off):
        # that tool's sitecustomize runs.
        set_up_by = "opentelemetry-instrument" if instrument else None
    else:
        set_up_by = "otel-autoguard"
    found: dict[str, Any] = {
        "command": shown,
        "role": str(decision.role),
        "reason": decision.reason,
        "set_up_by": set_up_by,
    }
    notes = []
    if not settings.active:
        notes.append("otel-autoguard is off here, so it sets up nothing in it whatever its role")
        if instrument:
            notes.append(
                "opentelemetry-instrument's sitecustomize runs in it as without otel-autoguard"
            )
    else:
        if decision.role is Role.DEFER:
            notes.append(then(argv))
        if instrument and set_up_by == "otel-autoguard":
            notes.append(
                "opentelemetry-instrument's sitecustomize does not run in it: otel-autoguard "
                "does that tool's work (same distro, configurator and instrumentors), and "
                "configures only where the process serves"
            )
        elif instrument:
            notes.append(
                "otel-autoguard leaves it alone, so opentelemetry-instrument's sitecustomize "
                "sets it up as usual"
            )
    if notes:
        found["note"] = "; ".join(notes)
    return found


def idle_parent(environ: Mapping[str, str], argv: Sequence[str]) -> str | None:  # noqa: PLR0911
    """The process of ``argv`` that never serves (a reloader parent, a pre-fork master)."""
    program = parse_interpreter_argv(argv)
    tool, args = tool_name(program), set(program.args)
    if tool == "flask" and first_command(program.args, FLASK_OPTS_WITH_VALUE) == "run":
        debug = "--debug" in args or environ.get("FLASK_DEBUG", "").lower() in ("1", "true")
        if (debug or "--reload" in args) and "--no-reload" not in args:
            return "its Werkzeug reloader parent"
    django = tool in ("manage", "django-admin")
    if django and first_command(program.args, DJANGO_OPTS_WITH_VALUE) == "runserver":
        return None if "--noreload" in args else "its Django autoreloader parent"
    if tool == "uvicorn" and "--reload" in args:
        return "its uvicorn --reload parent"
    if tool == "uvicorn" and any(a.split("=")[0] == "--workers" for a in args):
        return "its uvicorn --workers parent"
    if tool == "gunicorn":
        return "its gunicorn arbiter (whose SDK every worker inherits through the fork)"
    if tool == "hypercorn" and hypercorn_workers(program.args) != "0":
        return f"its hypercorn {'--reload parent' if '--reload' in args else 'supervisor'}"
    if tool == "granian":
        return "its granian main process (whose SDK a forked worker inherits)"
    in_process = {"solo", "threads", "gevent", "eventlet"} & {a.split("=")[-1] for a in args}
    if tool == "celery" and "worker" in args and not in_process:
        return "its Celery prefork main process (whose SDK every pool process inherits)"
    return None


def hypercorn_workers(args: Sequence[str]) -> str | None:
    """The value of hypercorn's ``-w`` / ``--workers`` (the last one given), if any."""
    found = None
    for i, arg in enumerate(args):
        if arg in ("-w", "--workers"):
            found = args[i + 1] if i + 1 < len(args) else None
        elif arg.startswith("--workers="):
            found = arg.split("=", 1)[1]
        elif arg.startswith("-w") and not arg.startswith("--"):
            found = arg[2:]
    return found


def conflicts(
    environ: Mapping[str, str], settings: Settings, env: DoctorEnv, command: Sequence[str]
) -> list[Finding]:
    """What goes wrong in the processes of ``command`` that otel-autoguard leaves alone."""
    environ, inner = launched_by_opentelemetry_instrument(environ, env.pythonpath, command)
    taken_on = settings.active and settings.role != "skip"
    if not inner or taken_on or not under_opentelemetry_instrument(environ):
        return []
    parent = idle_parent(environ, interpreter_argv(inner))
    if parent is None:
        return []
    why = "otel-autoguard is off" if not settings.active else "OTEL_AUTOGUARD_ROLE=skip"
    what = (
        f"`{shlex.join(command)}`: opentelemetry-instrument sets up OpenTelemetry in every "
        f"process it starts ({why}), {parent} too, which never serves: a full SDK (exporter "
        "threads, a metric reader, a log handler) in a process that only watches the ones "
        "that serve"
    )
    enable = "enable otel-autoguard (see Activation)" if not settings.active else "unset it"
    fix = (
        f"{enable} and keep the command as it is: otel-autoguard then stands in for "
        "opentelemetry-instrument and configures only the processes that serve"
    )
    return [Finding(WARNING, what, fix)]
