"""What a process is, as far as can be told at interpreter start.

:func:`detect_role` is pure: it sees only the environment and the original
command line. Whatever it cannot settle it answers with ``Role.DEFER``; the server
hooks in :mod:`otel_autoguard._servers` settle those processes later, when they
start serving (configure) or enter a reloader as the parent (stay idle).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from ._argv import (
    DJANGO_OPTS_WITH_VALUE,
    FLASK_OPTS_WITH_VALUE,
    Program,
    first_command,
    parse_interpreter_argv,
    tool_name,
)
from ._settings import DJANGO_RUN_MAIN, RELOADER_PID, WERKZEUG_RUN_MAIN
from ._task_cli import task_tool


class Role(str, enum.Enum):
    SERVE = "serve"
    """Serves requests: the SDK is configured."""
    DEFER = "defer"
    """Unknown at start: libraries are instrumented, the SDK waits for serving."""
    SKIP = "skip"
    """Never serves (a tool, a helper process): nothing is done."""
    RELOADER_PARENT = "reloader-parent"
    """Watches files and restarts a serving child: nothing is configured."""
    SUPERVISOR = "supervisor"
    """Starts and watches serving processes (a pre-fork master): nothing is configured.

    Unlike a reloader parent, its forked children may serve: they start as ``defer``.
    """

    def __str__(self) -> str:
        return self.value


class Decision(NamedTuple):
    role: Role
    reason: str
    launcher: str = "python"
    """What started the interpreter: ``python`` or ``uwsgi`` (embedded; its own argv)."""


# Programs that never serve requests, by module or script name.
TOOLS = frozenset(
    {
        "pip",
        "pytest",
        "py.test",
        "unittest",
        # Django's own test suite (tests/runtests.py), and projects that copy it.
        "runtests",
        "pipx",
        "ensurepip",
        "venv",
        "virtualenv",
        "build",
        "twine",
        "py_compile",
        "compileall",
        "pydoc",
        "mypy",
        "ruff",
        "nox",
        "tox",
        "hatch",
        "hatchling",
        "poetry",
        "otel-autoguard",
        "otel_autoguard",
        # Its launcher only execs the program (see _instrument_cli for that one).
        "opentelemetry-instrument",
        "opentelemetry-bootstrap",
    }
)

# Flask's own commands that never serve; a custom command (an extension's) might.
FLASK_TOOLS = frozenset({"routes", "shell", None})

# Django management commands that never serve (a custom command might: runserver_plus).
DJANGO_TOOLS = frozenset(
    {
        "test",
        "shell",
        "dbshell",
        "migrate",
        "makemigrations",
        "showmigrations",
        "sqlmigrate",
        "check",
        "collectstatic",
        "createsuperuser",
        "changepassword",
        "startapp",
        "startproject",
        "compilemessages",
        "makemessages",
        "dumpdata",
        "loaddata",
        "flush",
        "help",
        "version",
        None,
    }
)


def reloader_child(environ: Mapping[str, str], ppid: int | None) -> str | None:
    """Which reloader parent running otel-autoguard started this process, if one did.

    ``WERKZEUG_RUN_MAIN`` (Django: ``RUN_MAIN``) alone is not enough: every process
    the serving child starts inherits it. The parent records its pid
    (``OTEL_AUTOGUARD_RELOADER_PID``), so only its direct child matches.
    """
    if ppid is None or environ.get(RELOADER_PID) != str(ppid):
        return None
    if environ.get(WERKZEUG_RUN_MAIN) == "true":
        return f"Werkzeug reloader child ({WERKZEUG_RUN_MAIN}=true)"
    if environ.get(DJANGO_RUN_MAIN) == "true":
        return f"Django autoreloader child ({DJANGO_RUN_MAIN}=true)"
    return None


def is_uwsgi(argv: Sequence[str]) -> bool:
    """The interpreter is embedded in uWSGI (its binary, not ``python``, was started).

    uWSGI's own options follow, which are not Python's: reading them as a Python
    command line would name a random option value as the program.
    """
    return bool(argv) and os.path.basename(argv[0]).startswith("uwsgi")


def _multiprocessing(
    environ: Mapping[str, str], program: Program, parent_argv: Sequence[str] | None
) -> Decision | None:
    spawned = "--multiprocessing-fork" in program.args
    forkserver = program.kind == "command" and "from multiprocessing.forkserver import" in (
        program.name
    )
    if (spawned or forkserver) and parent_argv:
        # A live server a test suite starts is the test's, not the application's.
        parent = detect_role(environ, parent_argv)
        if parent.role is Role.SKIP:
            what = "spawned" if spawned else "forkserver started"
            return Decision(Role.SKIP, f"{what} by a process left alone ({parent.reason})")
    if spawned:
        # uvicorn's --reload and --workers serve from spawned children; a pool's
        # workers never do. Only serving tells them apart.
        return Decision(
            Role.DEFER, "multiprocessing spawn child: configured only if it starts serving"
        )
    if forkserver:
        # It never serves, but the children it forks (multiprocessing's default start
        # method on Linux from 3.14) may: like a pre-fork master's workers they decide
        # for themselves, starting as defer. A skip here would be inherited by every fork.
        return Decision(
            Role.SUPERVISOR,
            "multiprocessing forkserver: the children it forks decide for themselves",
        )
    if program.kind == "command" and "from multiprocessing" in program.name:
        return Decision(Role.SKIP, "multiprocessing helper process (resource tracker)")
    return None


def detect_role(  # noqa: PLR0911 - one return per rule reads best
    environ: Mapping[str, str],
    argv: Sequence[str],
    *,
    ppid: int | None = None,
    override: str = "auto",
    parent_argv: Sequence[str] | None = None,
) -> Decision:
    """Classify a process from its environment and original command line.

    ``argv`` is the interpreter's own command line (``sys.orig_argv``: the
    executable, its options, then the program and its arguments); ``ppid`` the
    parent's pid. ``override`` is the parsed ``OTEL_AUTOGUARD_ROLE`` (``auto``,
    ``serve`` or ``skip``). ``parent_argv``, the parent's command line, is read
    for multiprocessing spawn children and the forkserver only.
    """
    if override == "serve":
        return Decision(Role.SERVE, "OTEL_AUTOGUARD_ROLE=serve")
    if override == "skip":
        return Decision(Role.SKIP, "OTEL_AUTOGUARD_ROLE=skip")
    child = reloader_child(environ, ppid)
    if child is not None:
        return Decision(Role.SERVE, child)

    if is_uwsgi(argv):
        return Decision(
            Role.DEFER,
            "uWSGI: its workers are configured after fork, its master never",
            launcher="uwsgi",
        )

    program = parse_interpreter_argv(argv)
    helper = _multiprocessing(environ, program, parent_argv)
    if helper is not None:
        return helper
    if program.kind == "interactive":
        return Decision(Role.SKIP, "no program given (interactive, or read from stdin)")
    tool = tool_name(program)
    if tool in TOOLS:
        return Decision(Role.SKIP, f"{tool} never serves requests")
    task = task_tool(tool, program.args)
    if task is not None:
        return Decision(Role.SKIP, task)
    if tool == "flask":
        command = first_command(program.args, FLASK_OPTS_WITH_VALUE)
        if command in FLASK_TOOLS:
            return Decision(Role.SKIP, f"flask {command or '(no command)'} does not serve requests")
        return Decision(
            Role.DEFER, f"flask {command}: serving is settled when a server starts in this process"
        )
    if tool in ("manage", "django-admin", "django"):
        command = first_command(program.args, DJANGO_OPTS_WITH_VALUE)
        if command in DJANGO_TOOLS:
            # As the user typed it: manage.py test, django-admin test, python -m django test.
            shown = {"manage": "manage.py", "django": "python -m django"}.get(tool, tool)
            return Decision(
                Role.SKIP, f"{shown} {command or '(no command)'} does not serve requests"
            )
    shown = program.name if program.kind != "command" else "-c"
    return Decision(
        Role.DEFER,
        f"{shown}: role unknown at start; the SDK is configured only if this process serves",
    )
