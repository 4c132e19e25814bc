"""The OpenTelemetry providers a process holds, read and flushed without importing anything.

Each signal's global provider lives in a module global of the API; reading it
through ``sys.modules`` costs nothing in a process that never imported the API.
"""

from __future__ import annotations

import sys
import time
from typing import Any

SIGNALS = ("traces", "metrics", "logs")
STOOD_DOWN = "_otel_autoguard_stood_down"
"""Set on the application's provider shut down in a reloader parent (see ``_manual``)."""

_GLOBALS = (
    ("traces", "tracer", "opentelemetry.trace", "_TRACER_PROVIDER"),
    ("metrics", "meter", "opentelemetry.metrics._internal", "_METER_PROVIDER"),
    ("logs", "logger", "opentelemetry._logs._internal", "_LOGGER_PROVIDER"),
)

Pipelines = dict[str, tuple[Any, tuple[Any, ...]]]


def is_sdk_provider(provider: Any) -> bool:
    """An SDK ``TracerProvider`` (or one like it), not the API's proxy or no-op."""
    return hasattr(getattr(provider, "_active_span_processor", None), "_span_processors")


def pipelines() -> Pipelines:
    """Each signal's global provider as set (None: not yet) and the processors it has now.

    The processors are the span and log record processors anyone may still add to
    a provider; a meter provider's readers are fixed when it is made.
    """
    found = {}
    for signal, _label, module, attribute in _GLOBALS:
        provider = getattr(sys.modules.get(module), attribute, None)
        multi = getattr(provider, "_active_span_processor", None) or getattr(
            provider, "_multi_log_record_processor", None
        )
        processors: Any = getattr(multi, "_span_processors", None) or getattr(
            multi, "_log_record_processors", ()
        )
        found[signal] = (provider, tuple(processors))
    return found


def held() -> dict[str, str]:
    """``tracer``/``meter``/``logger``: the class of the provider held, or ``none``."""
    found = {}
    for _signal, label, module, attribute in _GLOBALS:
        provider = getattr(sys.modules.get(module), attribute, None)
        name = type(provider).__name__ if provider is not None else "none"
        if getattr(provider, STOOD_DOWN, False):
            name += "(shut-down)"
        found[label] = name
    return found


def flush(
    budget_s: float, signals: tuple[str, ...] = SIGNALS, skip: frozenset[str] = frozenset()
) -> None:
    """Export what the providers of ``signals`` hold, in that order, within ``budget_s``.

    ``skip``: signals not to flush (their collector refuses connections).
    """
    deadline = time.monotonic() + budget_s
    providers = pipelines()
    for signal in signals:
        flush = getattr(providers[signal][0], "force_flush", None)
        left = deadline - time.monotonic()
        if flush is not None and left > 0 and signal not in skip:
            flush(int(left * 1000))
