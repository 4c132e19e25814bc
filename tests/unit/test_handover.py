"""The hand-over wrapper with a stand-in exporter: each batch taken or spooled, never both."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_autoguard import _handover, _resend, load_settings
from otel_autoguard._settings._collectors import Collector
from otel_autoguard._settings._spool import destination


class Inner:
    """An exporter whose answer the test decides: ``result``, after ``release`` is set."""

    def __init__(self, result: SpanExportResult = SpanExportResult.SUCCESS) -> None:
        self.result, self.release, self.batches = result, threading.Event(), 0
        self.release.set()

    def export(self, spans: Any) -> SpanExportResult:
        self.release.wait(10)
        self.batches += 1
        return self.result

    def shutdown(self) -> None:
        return None


@pytest.fixture
def spool_root(tmp_path: Path) -> Iterator[Path]:
    settings = load_settings(
        {
            "OTEL_SERVICE_NAME": "shop",
            "OTEL_AUTOGUARD_SPOOL_DIR": str(tmp_path),
            "OTEL_AUTOGUARD_HANDOVER_TIMEOUT": "0.3",
        }
    )
    _handover.STATE.__init__()  # type: ignore[misc]
    _handover.STATE.settings = settings
    _handover.configured(destination({"OTEL_SERVICE_NAME": "shop"}))
    yield tmp_path
    for thread in threading.enumerate():  # a batch a test left on its way
        if thread.name == "otel-autoguard-export":
            thread.join(15)
    _handover.STATE.__init__()  # type: ignore[misc]


def spans(n: int = 2) -> list[Any]:
    tracer = TracerProvider().get_tracer("t")
    made = []
    for _ in range(n):
        with tracer.start_as_current_span("s") as span:
            made.append(span)
    return made


def spooled(root: Path) -> int:
    return len(list(root.rglob("*.otlp")))


def test_a_batch_taken_is_not_spooled(spool_root: Path) -> None:
    inner = Inner()
    assert _handover.HandingOver(inner).export(spans()) == SpanExportResult.SUCCESS
    assert (inner.batches, spooled(spool_root)) == (1, 0)


def test_a_batch_not_taken_is_spooled(spool_root: Path) -> None:
    exporter = _handover.HandingOver(Inner(SpanExportResult.FAILURE))
    exporter.export(spans())
    assert spooled(spool_root) == 1


def test_while_a_batch_is_on_its_way_the_next_goes_to_the_spool(spool_root: Path) -> None:
    inner = Inner()
    inner.release.clear()  # the collector is slow
    exporter = _handover.HandingOver(inner)
    started = time.monotonic()
    exporter.export(spans())  # returns after the 0.3 s budget; still on its way
    assert time.monotonic() - started < 5
    exporter.export(spans())
    assert spooled(spool_root) == 1
    inner.release.set()  # the first is taken at last: it is not spooled as well
    time.sleep(0.3)
    assert (inner.batches, spooled(spool_root)) == (1, 1)


def test_leaving_cuts_a_batch_the_collector_does_not_answer(spool_root: Path) -> None:
    inner = Inner()
    inner.release.clear()  # hung
    exporter = _handover.HandingOver(inner)
    exporter.export(spans())
    started = time.monotonic()
    with _handover.leaving(frozenset(), ()) as skip:
        assert skip == frozenset()
    assert time.monotonic() - started < 5
    assert spooled(spool_root) == 1 and _handover.STATE.unanswered
    traces = Collector("traces", "http://c:4318", "x", "c", 4318)
    metrics = Collector("metrics", "http://c:4318", "x", "c", 4318)
    other = Collector("logs", "http://o:4318", "x", "o", 4318)
    assert _handover.skipped(frozenset(), (traces, metrics, other)) == {"metrics"}
    inner.release.set()


def test_a_refusing_collector_costs_no_wait(spool_root: Path) -> None:
    inner = Inner()
    exporter = _handover.HandingOver(inner)
    with _handover.leaving(frozenset({"traces", "logs"}), ()) as skip:
        assert skip == {"logs"}  # spans are flushed: to the spool, at once
        exporter.export(spans())
    assert (inner.batches, spooled(spool_root)) == (0, 1)


def test_a_batch_taken_sends_the_spool_first(
    spool_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted: list[bytes] = []
    monkeypatch.setattr(_resend, "post", lambda _d, data, timeout=10.0: posted.append(data) or True)
    _handover.keep(spans(3))
    assert spooled(spool_root) == 1
    _handover.HandingOver(Inner()).export(spans())
    deadline = time.monotonic() + 5
    while spooled(spool_root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(posted) == 1 and spooled(spool_root) == 0
