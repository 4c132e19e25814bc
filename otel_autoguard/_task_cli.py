"""Celery and RQ commands that run no task: they inspect, control or clean up.

Pure string work for role detection: ``celery inspect``, ``rq info`` and the
like are tools. ``celery worker`` and ``celery beat``, ``rq worker`` are not:
their hooks (``_servers._celery``, ``_servers._rq``) settle the role.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._argv import first_command

CELERY_TOOLS = frozenset(
    {
        "inspect",
        "status",
        "purge",
        "shell",
        "events",
        "call",
        "result",
        "control",
        "report",
        "list",
        "upgrade",
        "migrate",
        "graph",
        "amqp",
        "multi",
        "logtool",
        "help",
        None,
    }
)
RQ_TOOLS = frozenset({"info", "empty", "requeue", "suspend", "resume", None})
CELERY_OPTS_WITH_VALUE = frozenset(
    {"-A", "--app", "-b", "--broker", "--result-backend", "--loader", "--config", "--workdir"}
)
RQ_OPTS_WITH_VALUE = frozenset({"-u", "--url", "-c", "--config", "-P", "--path"})


def task_tool(program_name: str, args: Sequence[str]) -> str | None:
    """Why the Celery or RQ command ``program_name args`` is a tool; ``None`` if it is not.

    ``program_name``: the program's name as role detection reads it (``celery``,
    ``rq``); ``args``: its arguments.
    """
    if program_name == "celery":
        command = first_command(args, CELERY_OPTS_WITH_VALUE)
        if command in CELERY_TOOLS:
            return f"celery {command or '(no command)'} runs no task"
    elif program_name == "rq":
        command = first_command(args, RQ_OPTS_WITH_VALUE)
        if command in RQ_TOOLS:
            return f"rq {command or '(no command)'} runs no job"
    return None
