"""OpenTelemetry's own log lines, as otel-autoguard lines: during set-up, and export failures.

Without a handler they would reach stderr through logging's last resort as bare
text (tracebacks included), and an exporter whose collector is down logs every
failed attempt.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator

from . import _boundary
from ._settings import Settings
from ._settings._collectors import Collector, collectors


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def otel_warnings(settings: Settings) -> Iterator[None]:
    """Turn OpenTelemetry's own warnings during set-up into ``otel-autoguard:`` lines.

    Without a handler they would reach stderr through logging's last resort as
    bare text (tracebacks included); on failure the boundary reports instead.
    """
    logger = logging.getLogger("opentelemetry")
    handler = _Collect()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    for record in handler.records:
        _boundary.emit(settings, f"OpenTelemetry ({record.name}): {record.getMessage()}")


class _ExportFailures(logging.Handler):
    """After set-up: the first export failure per collector becomes one line; the rest stay quiet.

    The exporters log every failed attempt and retry (with a traceback-sized
    message), which buries the application's own output when a collector is down.
    The line names the collector of the signal that failed: with per-signal
    endpoints, the others may be fine.
    """

    def __init__(self, settings: Settings, collectors: tuple[Collector, ...]) -> None:
        super().__init__(logging.WARNING)
        self._settings = settings
        self._collectors = {collector.signal: collector for collector in collectors}
        self._reported: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        collector = self._collectors.get(_signal_of(record) or "")
        if collector is not None:
            endpoint, source = collector.endpoint, collector.source
        else:
            endpoint, source = self._settings.endpoint, self._settings.endpoint_source
        if endpoint in self._reported:
            return
        self._reported.add(endpoint)
        _boundary.emit(
            self._settings,
            f"cannot export to {endpoint} (from {source}): {summary(record.getMessage())}; "
            "retrying quietly",
        )


_REASON_LIMIT = 80
_CLASS = re.compile(r"\b([A-Z][A-Za-z]*(?:Error|Exception|Timeout))\b")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_HOST = re.compile(r"host='([^']+)', port=(\d+)\)?:? ?([^(]*)")


def summary(message: str) -> str:
    """An exporter's message, short: an exception class, a short reason, the host.

    The HTTP exporters embed the whole urllib3 exception (``HTTPConnectionPool(host=…):
    Max retries exceeded … (Caused by NewConnectionError('<… object at 0x…>: Failed to
    establish a new connection: [Errno 111] Connection refused'))``).
    """
    lines = message.strip().splitlines()
    line = lines[0] if lines else "export failed"
    if len(line) <= _REASON_LIMIT and "object at 0x" not in line:
        return line
    classes = _CLASS.findall(line)
    errno, host = _ERRNO.search(line), _HOST.search(line)
    parts = [classes[-1]] if classes else []
    if errno:
        parts.append(errno.group(1).strip())
    elif host and host.group(3).strip():
        parts.append(host.group(3).strip().rstrip("."))
    text = ": ".join(parts) or line.split(":")[0]
    if host:
        text += f" ({host.group(1)}:{host.group(2)})"
    if len(text) > _REASON_LIMIT:
        text = text[: _REASON_LIMIT - 1].rsplit(" ", 1)[0] + "…"
    return text


# The HTTP exporters log under one module per signal; the gRPC ones share a module
# and name the signal in the message ("exporting traces to …").
_SIGNAL_MODULES = (
    ("trace_exporter", "traces"),
    ("metric_exporter", "metrics"),
    ("log_exporter", "logs"),
)
_SIGNAL_WORDS = re.compile(r"export(?:ing)? (span|trace|metric|log)")
_SIGNAL_OF_WORD = {"span": "traces", "trace": "traces", "metric": "metrics", "log": "logs"}


def _signal_of(record: logging.LogRecord) -> str | None:
    for module, signal in _SIGNAL_MODULES:
        if module in record.name:
            return signal
    found = _SIGNAL_WORDS.search(record.getMessage().lower())
    return _SIGNAL_OF_WORD[found.group(1)] if found else None


def quiet_export_failures(settings: Settings) -> None:
    logger = logging.getLogger("opentelemetry.exporter")
    if not any(isinstance(h, _ExportFailures) for h in logger.handlers):
        logger.addHandler(_ExportFailures(settings, collectors(os.environ)))
        logger.propagate = False


class _NoDebuggerPin(logging.Filter):
    """Werkzeug's ``* Debugger PIN: …`` line unlocks its debugger's remote console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("werkzeug") and "Debugger PIN:" in str(record.msg))


def keep_secrets_local() -> None:
    """OpenTelemetry's log handlers never export the debugger PIN; the console still shows it."""
    for handler in logging.getLogger().handlers:
        opentelemetry = type(handler).__module__.startswith("opentelemetry")
        if opentelemetry and not any(isinstance(f, _NoDebuggerPin) for f in handler.filters):
            handler.addFilter(_NoDebuggerPin())
