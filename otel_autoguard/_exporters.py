"""The OTLP/HTTP exporters, made when first used: by the export thread, not at start.

The SDK's configurator imports each exporter class as it configures. For OTLP/HTTP that
is requests, urllib3, protobuf and the OTLP messages, in the serving process's main thread,
before the application answers its first request. :func:`install` has
``_import_exporters`` (the one place the configurator names exporters) give stand-ins
for those three classes; the others load as before. A batch of spans or log records is
exported from its processor's own thread, which makes the real exporter at the first
export; until then the batch waits in the processor's queue, as for a slow collector.

A metric reader reads its exporter's temporality and aggregation when it is made. The
OTLP defaults (cumulative; explicit-bucket histograms) are known, so the real metric
exporter is made at once only when ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``
or ``OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION`` is set. A real exporter
that cannot be made is reported once per signal; that signal's batches are dropped.

The export thread's first export comes ``OTEL_BSP_SCHEDULE_DELAY`` (5 s) after the first
span, and a process that leaves before it (a reload) would make its exporters on its way
out, lengthening the stop. So a timer makes them a second after set-up, once the app has
usually imported and answered its first request.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Any, Callable

from . import _forks, _otlp
from ._boundary import describe, emit
from ._patching import is_patched, replace
from ._settings import Settings, first

HTTP_EXPORTERS = "opentelemetry.exporter.otlp.proto.http"
TARGET = "otel_autoguard_target"
"""On a stand-in class: ``module:Class`` of the exporter it makes."""
_GROUPS = ("traces", "metrics", "logs")
_WARM_UP_S = 1.0
_stand_ins: list[Any] = []
"""Every stand-in of this process, for the timer."""
_METRIC_CHOICES = (
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
)


def install(settings: Settings, spans: Callable[[Any], Any] | None = None) -> None:
    """Before the configurator runs: its OTLP/HTTP exporters are stand-ins, and each span
    exporter class it makes is ``spans(cls)`` (the hand-over wrapper, ``_handover``)."""
    from opentelemetry.sdk import _configuration

    original = _configuration._import_exporters
    if is_patched(original):
        return
    bases = _bases()

    def import_exporters(*names: Sequence[str]) -> Any:
        found: list[dict[str, Any]] = [{}, {}, {}]
        rest: list[list[str]] = [[], [], []]
        for index, (group, wanted) in enumerate(zip(_GROUPS, names)):
            for name in wanted:
                target = _http_target(group, name)
                if target is None:
                    rest[index].append(name)
                else:
                    found[index][name] = _stand_in(settings, bases[index], group, target)
        loaded: Any = original(*rest) if any(rest) else ({}, {}, {})
        made = [{**mine, **theirs} for mine, theirs in zip(found, loaded)]
        if spans is not None:
            made[0] = {name: spans(cls) for name, cls in made[0].items()}
        return tuple(made)

    replace(_configuration, "_import_exporters", import_exporters)
    import threading

    timer = threading.Timer(_WARM_UP_S, _make_all)
    timer.name, timer.daemon = "otel-autoguard-exporters", True
    timer.start()


def _make_all() -> None:
    for stand_in in list(_stand_ins):
        stand_in._made()


def _bases() -> tuple[type, type, type]:
    from opentelemetry.sdk._logs import export as logs
    from opentelemetry.sdk.metrics.export import MetricExporter
    from opentelemetry.sdk.trace.export import SpanExporter

    # LogExporter before SDK 1.39, LogRecordExporter since.
    log_base = getattr(logs, "LogRecordExporter", None) or logs.LogExporter
    return SpanExporter, MetricExporter, log_base


def _http_target(group: str, name: str) -> str | None:
    """``module:Class`` of an OTLP/HTTP exporter entry point, without importing it."""
    from opentelemetry.util._importlib_metadata import entry_points

    for entry_point in entry_points(group=f"opentelemetry_{group}_exporter", name=name):
        value = str(entry_point.value).replace(" ", "")
        return value if value.startswith(HTTP_EXPORTERS) else None
    return None


def _stand_in(settings: Settings, base: Any, signal: str, target: str) -> type:
    metrics = signal == "metrics"

    class StandIn(base):  # type: ignore[misc]
        __qualname__ = f"StandIn[{target}]"

        def __init__(self, **kwargs: Any) -> None:
            self._kwargs, self._real, self._failed = kwargs, None, False
            self._making = _forks.Lock()  # a fork while the export thread made it
            _stand_ins.append(self)
            if metrics:
                known = not kwargs and not any(os.environ.get(v) for v in _METRIC_CHOICES)
                real = None if known else self._made()
                if real is None:
                    base.__init__(self, *_metric_defaults())
                else:
                    base.__init__(self, real._preferred_temporality, real._preferred_aggregation)

        def _made(self) -> Any:
            if self._real is None and not self._failed:
                with self._making:
                    if self._real is None and not self._failed:
                        self._real = self._make()
            return self._real

        def _make(self) -> Any:
            module, _, name = target.partition(":")
            try:
                return getattr(importlib.import_module(module), name)(**self._kwargs)
            except Exception as exc:  # noqa: BLE001 - reported; the process goes on
                self._failed = True
                emit(
                    settings,
                    f"cannot make the {signal} exporter {name} ({describe(exc)}); "
                    f"{signal} are dropped",
                )
                return None

        @property
        def _endpoint(self) -> str:
            """Where the real one sends, as it reads it: ``_pipelines`` compares it with an
            application's own exporter without making it."""
            given = self._kwargs.get("endpoint")
            if given:
                return str(given)
            own = first(os.environ, f"{_otlp.PREFIX}_{signal.upper()}_ENDPOINT")
            general = first(os.environ, _otlp.GENERAL_ENDPOINT)
            return _otlp.endpoint(signal, _otlp.HTTP, own, general)[0]

        def export(self, batch: Any, *args: Any, **kwargs: Any) -> Any:
            real = self._made()
            if real is None:
                return _failure(signal)
            return real.export(batch, *args, **kwargs)

        def force_flush(self, *args: Any, **kwargs: Any) -> Any:
            real = self._real  # nothing made, nothing held
            return True if real is None else real.force_flush(*args, **kwargs)

        def shutdown(self, *args: Any, **kwargs: Any) -> Any:
            real = self._real
            return None if real is None else real.shutdown(*args, **kwargs)

    setattr(StandIn, TARGET, target)
    return StandIn


def _metric_defaults() -> tuple[dict[type, Any], dict[type, Any]]:
    """What OTLPMetricExporterMixin chooses with neither of ``_METRIC_CHOICES`` set."""
    from opentelemetry.sdk import metrics as m
    from opentelemetry.sdk.metrics.export import AggregationTemporality
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation

    instruments = (
        m.Counter,
        m.UpDownCounter,
        m.Histogram,
        m.ObservableCounter,
        m.ObservableUpDownCounter,
        m.ObservableGauge,
    )
    temporality: dict[type, Any] = {kind: AggregationTemporality.CUMULATIVE for kind in instruments}
    return temporality, {m.Histogram: ExplicitBucketHistogramAggregation()}


def _failure(signal: str) -> Any:
    if signal == "traces":
        from opentelemetry.sdk.trace.export import SpanExportResult

        return SpanExportResult.FAILURE
    if signal == "metrics":
        from opentelemetry.sdk.metrics.export import MetricExportResult

        return MetricExportResult.FAILURE
    from opentelemetry.sdk._logs import export as logs

    results = getattr(logs, "LogRecordExportResult", None) or logs.LogExportResult
    return results.FAILURE
