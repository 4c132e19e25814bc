"""Stand-ins for the OTLP/HTTP exporters: the real one made at the first export, not at start."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk import _configuration
from opentelemetry.sdk.metrics.export import MetricExporter
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SpanExporter, SpanExportResult

from otel_autoguard import _exporters, _pipelines, load_settings

SETTINGS = load_settings({"OTEL_SERVICE_NAME": "shop"})
TRACES = "opentelemetry.exporter.otlp.proto.http.trace_exporter:OTLPSpanExporter"


class Made:
    """What a stand-in makes in these tests: it records how and what it exported."""

    instances: ClassVar[list[Made]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs, self.batches, self.shut = kwargs, [], False
        Made.instances.append(self)

    def export(self, batch: Any) -> SpanExportResult:
        self.batches.append(batch)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.shut = True

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def stand_in(target: str = f"{__name__}:Made") -> Any:
    Made.instances.clear()
    return _exporters._stand_in(SETTINGS, SpanExporter, "traces", target)


def test_the_real_exporter_is_made_at_the_first_export_only() -> None:
    exporter = stand_in()(timeout=3)
    assert isinstance(exporter, SpanExporter)
    assert Made.instances == []
    assert exporter.force_flush() is True  # nothing made: nothing held
    assert exporter.export(["span"]) == SpanExportResult.SUCCESS
    assert exporter.export(["other"]) == SpanExportResult.SUCCESS
    (made,) = Made.instances
    assert (made.kwargs, made.batches) == ({"timeout": 3}, [["span"], ["other"]])
    exporter.shutdown()
    assert made.shut


def test_shutting_down_an_exporter_never_used_makes_nothing() -> None:
    stand_in()().shutdown()
    assert Made.instances == []


def test_an_exporter_that_cannot_be_made_is_reported_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    exporter = stand_in(f"{__name__}:Missing")()
    assert exporter.export(["a"]) == SpanExportResult.FAILURE
    assert exporter.export(["b"]) == SpanExportResult.FAILURE
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("otel-autoguard: cannot make the traces exporter Missing (")
    assert lines[0].endswith("; traces are dropped")


def test_metric_defaults_are_the_otlp_exporters(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _exporters._METRIC_CHOICES:
        monkeypatch.delenv(name, raising=False)
    real = OTLPMetricExporter()
    temporality, aggregation = _exporters._metric_defaults()
    assert temporality == real._preferred_temporality
    assert {k: type(v) for k, v in aggregation.items()} == {
        k: type(v) for k, v in real._preferred_aggregation.items()
    }


@pytest.mark.parametrize("preference", ["delta", "lowmemory"])
def test_a_metric_preference_makes_the_real_exporter_at_once(
    monkeypatch: pytest.MonkeyPatch, preference: str
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", preference)
    target = "opentelemetry.exporter.otlp.proto.http.metric_exporter:OTLPMetricExporter"
    exporter = _exporters._stand_in(SETTINGS, MetricExporter, "metrics", target)()
    assert exporter._real is not None
    assert exporter._preferred_temporality == OTLPMetricExporter()._preferred_temporality


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example:443/in",
        },
    ],
)
def test_the_endpoint_is_the_real_exporters_without_making_it(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    exporter = _exporters._stand_in(SETTINGS, SpanExporter, "traces", TRACES)()
    assert exporter._endpoint == OTLPSpanExporter()._endpoint
    assert exporter._real is None
    # _pipelines sees the exporter it will make: an app's own OTLPSpanExporter matches it.
    processor = type("Processor", (), {"span_exporter": exporter})()
    own = type("Processor", (), {"span_exporter": OTLPSpanExporter()})()
    mine, theirs = _pipelines.describe(processor), _pipelines.describe(own)
    assert mine is not None and theirs is not None
    assert _pipelines.equivalent(mine, theirs)


def test_install_gives_stand_ins_for_otlp_http_only() -> None:
    wrapped: list[Any] = []

    def spans(cls: Any) -> Any:
        wrapped.append(cls)
        return cls

    _exporters.install(SETTINGS, spans=spans)
    traces, metrics, logs = _configuration._import_exporters(
        ["otlp_proto_http", "console"], ["otlp_proto_http"], ["otlp_proto_http"]
    )
    assert getattr(traces["otlp_proto_http"], _exporters.TARGET) == TRACES
    assert traces["console"] is ConsoleSpanExporter
    assert wrapped == [traces["otlp_proto_http"], ConsoleSpanExporter]
    assert {
        getattr(c, _exporters.TARGET).rsplit(":")[-1] for c in (*metrics.values(), *logs.values())
    } == {
        "OTLPMetricExporter",
        "OTLPLogExporter",
    }
