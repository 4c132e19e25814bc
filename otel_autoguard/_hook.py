"""Entry point of the ``.pth`` line and the PEP 829 ``.start`` file.

Kept to ``os`` and ``sys`` at import: this runs in every Python process of the
environment. ``start`` is idempotent because ``site`` executes a venv's ``.pth``
lines twice (CPython issue 75723) and Python 3.15 may call both forms.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing itself is not imported here: every process pays for it
if TYPE_CHECKING:
    from ._roles import Decision

_started = False
_decision: Decision | None = None
"""The start-time decision (None: inactive, failed, or not run)."""


def _cmdline(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        raw = f.read()
    return [os.fsdecode(arg) for arg in raw.split(b"\0")[:-1]]


def _parent_argv(argv: list[str]) -> list[str] | None:
    """The parent's command line, for a multiprocessing spawn child only."""
    if "--multiprocessing-fork" not in argv:
        return None
    try:
        return _cmdline(os.getppid())
    except OSError:
        return None


def _argv() -> list[str]:
    orig = getattr(sys, "orig_argv", None)  # Python 3.10+
    if orig:
        return list(orig)
    try:
        # Python 3.9: during site, sys.argv has lost the -m module name.
        return _cmdline("self")
    except OSError:
        args = list(sys.argv)
        if args[:1] == ["-m"]:
            args[:1] = ["-m", "<unknown module>"]  # not a guess at what runs
        return [sys.executable, *args]


def started() -> bool:
    """Whether the hook ran in this process (the doctor asks)."""
    return _started


def decision() -> Decision | None:
    """The role it decided at start, if it got that far."""
    return _decision


def start() -> None:
    """Decide this process's role and act on it; never raises (unless strict)."""
    global _started, _decision
    if _started or not any(k.startswith("OTEL_") for k in os.environ):
        return
    _started = True
    from ._boundary import TELEMETRY_OFF, debug, emit, guard
    from ._settings import load_settings

    settings = None
    with guard(None, "reading the environment", "otel-autoguard does nothing here"):
        settings = load_settings(os.environ)
    if settings is None:
        return
    with guard(settings, "starting", TELEMETRY_OFF):
        for problem in settings.problems:
            emit(settings, problem)
        if not settings.active:
            debug(settings, f"inactive: {settings.activation_reason}")
            return
        from ._roles import Role, detect_role

        argv = _argv()
        decided = detect_role(
            os.environ,
            argv,
            ppid=os.getppid(),
            override=settings.role,
            parent_argv=_parent_argv(argv),
        )
        _decision = decided
        if decided.role is Role.SKIP and not (settings.debug or settings.decision_log):
            # Nothing to do and nothing to tell: the state machine is not even loaded.
            return
        from ._process import PROCESS

        PROCESS.begin(settings, decided)
