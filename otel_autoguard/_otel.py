"""Calls into OpenTelemetry's own machinery: the distro, instrumentors, configurator.

Split in two steps so that a process whose role is unknown at start can patch
libraries early (the API's proxy providers keep the patches inert) and set up
the SDK only once it serves.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import sys
import uuid
from collections.abc import Iterator
from typing import Any

from . import _boundary
from ._settings import (
    BUILTIN_SAMPLERS,
    CONFIGURATOR,
    DISABLED_INSTRUMENTATIONS,
    TRACES_SAMPLER,
    Collector,
    Settings,
    collectors,
)

_GRPC_EXPORTER = "opentelemetry.exporter.otlp.proto.grpc"
_SAMPLER_GROUP = "opentelemetry_traces_sampler"
_CONFIGURATOR_GROUP = "opentelemetry_configurator"
_INSTRUMENTOR_GROUP = "opentelemetry_instrumentor"
_STOCK_DISTRO = "opentelemetry.distro:OpenTelemetryDistro"

_distro: Any = None


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _otel_warnings(settings: Settings) -> Iterator[None]:
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
        reason = record.getMessage().strip().splitlines()[0][:300]
        _boundary.emit(
            self._settings,
            f"cannot export to {endpoint} (from {source}): {reason}; the exporter keeps "
            "retrying, further export errors for it in this process are not shown",
        )


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


def _quiet_export_failures(settings: Settings) -> None:
    logger = logging.getLogger("opentelemetry.exporter")
    if not any(isinstance(h, _ExportFailures) for h in logger.handlers):
        logger.addHandler(_ExportFailures(settings, collectors(os.environ)))
        logger.propagate = False


def _distro_instance(settings: Settings) -> Any:
    """The installed distro, configured (it sets the SDK's environment defaults)."""
    global _distro
    if _distro is None:
        from opentelemetry.instrumentation.auto_instrumentation._load import _load_distro

        _distro = _load_distro()
        # The distro defaults OTLP to gRPC, which fails when only the HTTP exporter
        # (the one we depend on) is installed. Set before the distro's setdefault.
        if not settings.protocol_set and importlib.util.find_spec(_GRPC_EXPORTER) is None:
            os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
        _distro.configure()
    return _distro


def _instrumenting_distro(settings: Settings) -> Any:
    """The distro that loads instrumentors, without importing the SDK when possible.

    OpenTelemetry's own distro does not change how instrumentors load (it inherits
    ``BaseDistro.load_instrumentor``), but importing it imports the SDK. A process
    that may never serve (a reloader parent) uses ``DefaultDistro`` in its stead
    and keeps the SDK out of memory; any other distro is loaded and used.
    """
    if _distro is not None:
        return _distro
    from opentelemetry.instrumentation.distro import DefaultDistro
    from opentelemetry.util._importlib_metadata import entry_points

    for entry_point in entry_points(group="opentelemetry_distro"):
        if settings.distro in (None, entry_point.name):
            if entry_point.value.replace(" ", "") == _STOCK_DISTRO:
                return DefaultDistro()
            return _distro_instance(settings)
    return DefaultDistro()


def instrument(settings: Settings) -> None:
    """Apply every installed instrumentor (entry points), as opentelemetry-instrument does.

    Except those in ``LATE``: see :func:`instrument_late`.
    """
    from opentelemetry.instrumentation.auto_instrumentation._load import _load_instrumentors

    with _otel_warnings(settings), _excluding(LATE):
        _load_instrumentors(_instrumenting_distro(settings))


# Instrumentors that need the application's own set-up first. Django's reads
# settings.MIDDLEWARE: before the application has chosen DJANGO_SETTINGS_MODULE it
# calls settings.configure() with empty settings, which breaks the application.
LATE = ("django",)
_late_done: set[str] = set()


def instrument_late(settings: Settings, name: str) -> None:
    """Apply one instrumentor held back by :func:`instrument`, now that its library is set up."""
    from opentelemetry.util._importlib_metadata import entry_points

    disabled = settings.disabled_instrumentations
    if name in disabled or "*" in disabled or name in _late_done:
        return
    # Django calls setup() more than once under runserver.
    _late_done.add(name)
    with _otel_warnings(settings):
        for entry_point in entry_points(group=_INSTRUMENTOR_GROUP, name=name):
            _instrumenting_distro(settings).load_instrumentor(entry_point)


@contextlib.contextmanager
def _excluding(names: tuple[str, ...]) -> Iterator[None]:
    # _load_instrumentors reads its exclusions from the environment only.
    saved = os.environ.get(DISABLED_INSTRUMENTATIONS)
    os.environ[DISABLED_INSTRUMENTATIONS] = ",".join(filter(None, (saved, *names)))
    try:
        yield
    finally:
        if saved is None:
            del os.environ[DISABLED_INSTRUMENTATIONS]
        else:
            os.environ[DISABLED_INSTRUMENTATIONS] = saved


def _entry_point_names(group: str) -> set[str]:
    from opentelemetry.util._importlib_metadata import entry_points

    return {ep.name for ep in entry_points(group=group)}


@contextlib.contextmanager
def _without_bad_sampler(settings: Settings) -> Iterator[None]:
    name = settings.traces_sampler
    if name is None or name in BUILTIN_SAMPLERS or name in _entry_point_names(_SAMPLER_GROUP):
        yield
        return
    _boundary.emit(
        settings,
        f"{TRACES_SAMPLER}={name!r} is not a known sampler; accepted: "
        f"{', '.join(BUILTIN_SAMPLERS)}, or a name in the {_SAMPLER_GROUP} "
        "entry-point group; using the default parentbased_always_on",
    )
    # The SDK reads the variable itself; hide it for the duration so the default
    # applies without a second, vaguer warning.
    saved = os.environ.pop(TRACES_SAMPLER)
    try:
        yield
    finally:
        os.environ[TRACES_SAMPLER] = saved


def configure_sdk(settings: Settings) -> str:
    """Run the installed configurator (the distro's SDK configurator); returns its name."""
    from opentelemetry.instrumentation.version import __version__ as auto_version
    from opentelemetry.util._importlib_metadata import entry_points

    _distro_instance(settings)
    attributes: dict[str, Any] = {"process.pid": os.getpid()}
    if not settings.has_resource_instance_id:
        attributes["service.instance.id"] = str(uuid.uuid4())
    wanted = settings.configurator
    with _otel_warnings(settings), _without_bad_sampler(settings):
        for entry_point in entry_points(group=_CONFIGURATOR_GROUP):
            if wanted and entry_point.name != wanted:
                continue
            # Same call as opentelemetry-instrument's loader, plus this process's
            # identity, which it cannot know (it may run before a fork or reload).
            entry_point.load()().configure(
                auto_instrumentation_version=auto_version, resource_attributes=attributes
            )
            _quiet_export_failures(settings)
            return str(entry_point.name)
    hint = f"{CONFIGURATOR}={wanted!r}" if wanted else "none is installed"
    raise RuntimeError(
        f"no OpenTelemetry configurator to run ({hint}); install opentelemetry-distro"
    )


def flush_spans(timeout_s: float) -> None:
    """Export the spans this process still holds, waiting at most ``timeout_s``."""
    from opentelemetry import trace

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush(int(timeout_s * 1000))


def flush_all(timeout_s: float, skip: frozenset[str] = frozenset()) -> None:
    """Export what this process holds: spans first, then metrics and logs, within ``timeout_s``.

    ``skip``: signals not to flush (their collector refuses connections).
    """
    import time

    deadline = time.monotonic() + timeout_s
    for signal, (provider, _processors) in pipelines().items():
        flush = getattr(provider, "force_flush", None)
        left = deadline - time.monotonic()
        if flush is not None and left > 0 and signal not in skip:
            flush(int(left * 1000))


_GLOBALS = (
    ("traces", "tracer", "opentelemetry.trace", "_TRACER_PROVIDER"),
    ("metrics", "meter", "opentelemetry.metrics._internal", "_METER_PROVIDER"),
    ("logs", "logger", "opentelemetry._logs._internal", "_LOGGER_PROVIDER"),
)


def pipelines() -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """Each signal's global provider as set (None: not yet) and the processors it has now.

    Read without importing anything. The processors are the span and log record
    processors anyone may still add to a provider; a meter provider's readers are
    fixed when it is made.
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


def sdk_state() -> str:
    """The providers this process holds, read without importing anything."""
    found = []
    for _signal, label, module, attribute in _GLOBALS:
        provider = getattr(sys.modules.get(module), attribute, None)
        name = type(provider).__name__ if provider is not None else "none"
        if getattr(provider, "_otel_autoguard_stood_down", False):
            name += "(shut-down)"  # the application's, in a reloader parent: see _manual
        found.append(f"{label}={name}")
    return " ".join(found)
