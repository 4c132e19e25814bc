"""A Python command line, read the way the interpreter reads it.

Pure string work, shared by role detection and the doctor: which program
``sys.orig_argv`` runs, its arguments, and a CLI's first subcommand.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

_OPTS_WITH_VALUE = frozenset({"-W", "-X", "--check-hash-based-pycs"})
FLASK_OPTS_WITH_VALUE = frozenset({"--app", "-A", "--env-file", "-e"})
DJANGO_OPTS_WITH_VALUE = frozenset({"--settings", "--pythonpath", "-v", "--verbosity"})


class Program(NamedTuple):
    kind: str  # "module", "script", "command" or "interactive"
    name: str  # module name, script base name, or the -c code
    args: tuple[str, ...]


def parse_interpreter_argv(argv: Sequence[str]) -> Program:
    """Split ``sys.orig_argv`` into what Python runs and that program's arguments."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg in ("-m", "-c"):
            kind = "module" if arg == "-m" else "command"
            name = argv[i + 1] if i + 1 < len(argv) else ""
            return Program(kind, name, tuple(argv[i + 2 :]))
        if arg.startswith(("-m", "-c")) and not arg.startswith("--"):
            kind = "module" if arg[1] == "m" else "command"
            return Program(kind, arg[2:], tuple(argv[i + 1 :]))
        if arg == "-" or not arg.startswith("-"):
            return Program("script", _script_name(arg), tuple(argv[i + 1 :]))
        if arg in _OPTS_WITH_VALUE:
            i += 1
        i += 1
    return Program("interactive", "", ())


def _script_name(path: str) -> str:
    name = os.path.basename(path.rstrip("/"))
    if name.endswith(".py"):
        name = name[:-3]
    if name == "__main__":
        # `python path/to/pkg/__main__.py` or `python path/to/pkg`: name the package.
        name = os.path.basename(os.path.dirname(path.rstrip("/")))
    return name


def tool_name(program: Program) -> str:
    name = program.name.split(".")[0] if program.kind == "module" else program.name
    # pip3, pip3.11, pytest-3: the version suffix does not change what it is.
    return name.rstrip("0123456789.-") or name


def first_command(args: Sequence[str], opts_with_value: frozenset[str] = frozenset()) -> str | None:
    """The first argument that is not an option (a CLI's subcommand)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in opts_with_value:
            i += 2
            continue
        if not arg.startswith("-"):
            return arg
        i += 1
    return None
