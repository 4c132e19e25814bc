"""The one place where failures stop: each becomes one ``otel-autoguard:`` line.

Nothing raised inside otel-autoguard may reach the application. A failure turns
telemetry off for the process (the caller decides what "off" means) and is
written to stderr as a single line, with secrets redacted. With
``OTEL_AUTOGUARD_STRICT=true`` the exception is re-raised instead, for tests.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from ._settings import Settings

PREFIX = "otel-autoguard:"

last_failure: str | None = None
"""The last failure this process reported (``otel-autoguard doctor`` shows it)."""


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
def guard(settings: Settings | None, what: str) -> Iterator[None]:
    """Run a block; on failure report ``what`` failed and why, then carry on."""
    try:
        yield
    except Exception as exc:
        global last_failure
        last_failure = f"{what} failed ({describe(exc)})"
        emit(settings, f"{last_failure}; telemetry is off in this process")
        if settings is not None and settings.strict:
            raise
