"""The one place where failures stop: each becomes one ``otel-autoguard:`` line.

Nothing raised inside otel-autoguard may reach the application. :func:`guard`
runs a block and answers with an :class:`Outcome`; on failure it writes one line
to stderr naming what failed, why, and what that means for the process (the
caller knows the consequence), with secrets redacted. With
``OTEL_AUTOGUARD_STRICT=true`` the exception is re-raised instead, for tests.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from ._settings import Settings

PREFIX = "otel-autoguard:"
TELEMETRY_OFF = "telemetry is off in this process"

last_failure: str | None = None
"""The last failure this process reported (``otel-autoguard doctor`` shows it)."""


class Outcome:
    """What :func:`guard` answers: ``ok`` until the block raised."""

    __slots__ = ("failure", "ok")

    def __init__(self) -> None:
        self.ok = True
        self.failure: str | None = None


def emit(settings: Settings | None, message: str) -> None:
    """Write one line to stderr; never raises."""
    text = settings.redact(message) if settings is not None else message
    line = " ".join(f"{PREFIX} {text}".split("\n"))
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001 - stderr may be closed; there is nowhere left to report
        return


def debug(settings: Settings, message: str) -> None:
    if settings.debug:
        emit(settings, f"pid={os.getpid()} {message}")


def describe(exc: BaseException) -> str:
    text = str(exc).strip() or "(no message)"
    return f"{type(exc).__name__}: {text}"


@contextlib.contextmanager
def guard(settings: Settings | None, what: str, consequence: str) -> Iterator[Outcome]:
    """Run a block; on failure say ``what`` failed, why, and ``consequence``; carry on."""
    outcome = Outcome()
    try:
        yield outcome
    except Exception as exc:
        global last_failure
        outcome.ok = False
        outcome.failure = last_failure = f"{what} failed ({describe(exc)})"
        emit(settings, f"{outcome.failure}; {consequence}")
        if settings is not None and settings.strict:
            raise
