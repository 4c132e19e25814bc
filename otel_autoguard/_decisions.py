"""What a process decided, as records: rendered once for people, written as JSON for tools.

With ``OTEL_AUTOGUARD_DEBUG=true`` each record is one ``otel-autoguard: pid=N …``
line on stderr. With ``OTEL_AUTOGUARD_DECISION_LOG=PATH`` each is also one JSON
object appended to that file (one line, one ``write``; processes share the file):
``{"pid": …, "kind": "decision", "role": …, "reason": …, "action": …, …}`` or
``{"pid": …, "kind": "exit", "role": …, "providers": {…}, "threads": […]}``.
Tests and tools read the fields; the wording of the lines may change.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Union

from ._boundary import debug, describe, emit
from ._settings import DECISION_LOG, Settings


class Decided(NamedTuple):
    """The process took (or kept) a role."""

    role: str
    reason: str
    action: str
    """``configured``, ``instrumented``, ``idle`` or ``none``."""
    note: str = ""
    configurator: str | None = None

    def text(self) -> str:
        line = f"role={self.role} reason={self.reason!r} action={self.action}"
        if self.configurator is not None:
            line += f" by {self.configurator}"
        return f"{line}; {self.note}" if self.note else line


class Exited(NamedTuple):
    """What the process held when it ended."""

    role: str
    providers: dict[str, str]
    """``tracer``, ``meter``, ``logger``: the provider's class name, or ``none``."""
    threads: tuple[str, ...]

    def text(self) -> str:
        held = " ".join(f"{label}={name}" for label, name in self.providers.items())
        return f"exit role={self.role} {held} threads={','.join(self.threads)}"


def thread_names() -> tuple[str, ...]:
    import threading  # at exit: a process that never imported it has one thread

    return tuple(sorted(t.name for t in threading.enumerate()))


Record = Union[Decided, Exited]


def record(settings: Settings, item: Record) -> None:
    debug(settings, item.text())
    if settings.decision_log:
        _append(settings, settings.decision_log, item)


def _append(settings: Settings, path: str, item: Record) -> None:
    import json

    kind = "decision" if isinstance(item, Decided) else "exit"
    line = json.dumps({"pid": os.getpid(), "kind": kind, **item._asdict()}) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError as exc:
        emit(settings, f"{DECISION_LOG}={path!r}: cannot append ({describe(exc)}); not recorded")
