"""Hand over what a leaving process cannot export: spooled, then sent by the next one.

The SDK's configurator makes the OTLP/HTTP span exporter; :func:`install` has it made
wrapped (by ``_exporters``, which patches the one place the configurator names exporters).
It sends one batch at a time, each from a thread of its own, waiting at most
``OTEL_AUTOGUARD_HANDOVER_TIMEOUT``: a batch that comes while one is on its way (a slow,
failing or hung collector) goes to the spool (``_spool``), not the SDK's queue (which
drops when full), as does a batch not taken. The next process of the service whose
batch is taken sends the spool first (``_resend``): each batch taken or spooled, once.

Leaving (:func:`leaving`, around the one flush) gives the collector that budget, more for a
batch in flight to one that answered slowly (cut, it would be sent twice); a refusing one, none.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from typing import Any, Callable

from . import _forks, _resend, _spool
from ._boundary import emit
from ._settings import Settings
from ._settings._collectors import Collector
from ._settings._spool import HANDOVER_TIMEOUT, Destination

INNER = "otel_autoguard_inner"  # the wrapped exporter: to _pipelines, the same pipeline
_HTTP_EXPORTERS = "opentelemetry.exporter.otlp.proto.http"
_POLL_S = 0.05
_SEND_SPOOLED_S = 1.0  # at most this long per round of sending the spool


class _State:
    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.spool: _spool.Spool | None = None
        self.destination: Destination | None = None
        self.leaving_since: float | None = None
        self.refused = False
        self.slowest_answer = 0.0
        self.said = False  # one spool problem line per process
        self.unanswered = False
        """A leaving export was cut: the collector did not answer in the budget."""
        self.sending = _forks.Lock()
        self.exporters: list[HandingOver] = []


STATE = _State()


def install(settings: Settings) -> Callable[[Any], Any] | None:
    """Before the configurator runs: what wraps the span exporter classes it makes (None:
    the spool is off). ``_exporters`` applies it; only the OTLP/HTTP one is wrapped."""
    if not settings.spool.enabled:
        return None
    STATE.settings = settings
    return _wrapping


def _wrapping(cls: Any) -> Any:
    if not str(getattr(cls, "otel_autoguard_target", cls.__module__)).startswith(_HTTP_EXPORTERS):
        return cls
    return lambda **kwargs: HandingOver(cls(**kwargs))


def configured(destination: Destination) -> None:
    """The SDK is configured: where spooled requests of this process's service go."""
    settings = STATE.settings
    if settings is not None:
        STATE.destination = destination
        STATE.spool = _spool.Spool(
            settings.spool.root, destination.service, destination.url, settings.spool.max_bytes
        )


def spooling() -> bool:
    """This process's spans go to the spool when the collector cannot take them."""
    return bool(STATE.exporters) and STATE.spool is not None


@contextlib.contextmanager
def leaving(refused: frozenset[str], collectors: Sequence[Collector]) -> Iterator[frozenset[str]]:
    """Around the flush of a leaving process: gives what not to flush; then settles.

    ``refused``: the signals whose collector refuses connections. Spans are flushed
    anyway (to the spool at once). On leaving, the batch still on its way is waited
    for within the budget, then spooled if it was not taken.
    """
    if STATE.leaving_since is None:
        STATE.leaving_since = time.monotonic()
    STATE.refused = STATE.refused or "traces" in refused
    try:
        yield skipped(refused, collectors)
    finally:
        for exporter in STATE.exporters:
            exporter.settle()


def skipped(refused: frozenset[str], collectors: Sequence[Collector]) -> frozenset[str]:
    """Signals not to flush or shut down: refused ones, except spans handed over, and,
    once the spans' collector left a batch unanswered, the others it takes too (their
    exporters would wait out their own timeouts)."""
    skip = refused - {"traces"} if spooling() else refused
    if STATE.unanswered:
        where = {(c.host, c.port) for c in collectors if c.signal == "traces"}
        silent = {c.signal for c in collectors if (c.host, c.port) in where} - {"traces"}
        if silent - skip and STATE.settings is not None:
            budget = STATE.settings.spool.handover_timeout
            emit(
                STATE.settings,
                f"the collector did not answer within {budget:g}s ({HANDOVER_TIMEOUT}): "
                f"spans wait in the spool; {' and '.join(sorted(silent - skip))} are dropped",
            )
        skip |= silent
    return frozenset(skip)


def budget_left(in_flight: bool) -> float:
    """Seconds to wait for a batch (0: spool it); a leaving process's budget, else 1 s."""
    settings, since = STATE.settings, STATE.leaving_since
    if settings is None:
        return 0.0
    budget = settings.spool.handover_timeout
    if since is None:
        return budget
    if STATE.refused:
        return 0.0
    if in_flight:
        # A collector that answered slowly is slow, not gone: cutting its export would
        # send the batch twice, once from the spool.
        budget = min(settings.stop_timeout, max(budget, 2 * STATE.slowest_answer))
    return since + budget - time.monotonic()


class _Batch:
    """One batch on its way: taken, or kept in the spool by whoever gives up first."""

    def __init__(self, spans: Any) -> None:
        import threading  # at the first export, not at start (see _instrumentors)

        self.spans, self.started, self.kept = spans, time.monotonic(), False
        self.finished = threading.Event()
        self.lock = threading.Lock()

    @property
    def done(self) -> bool:
        return self.finished.is_set()

    def keep(self) -> None:
        with self.lock:
            if not self.kept:
                self.kept = True
                keep(self.spans)


class HandingOver:
    """A span exporter: the wrapped one, one batch at a time, the rest kept in the spool."""

    def __init__(self, inner: Any) -> None:
        setattr(self, INNER, inner)
        self._inner = inner
        self._current: _Batch | None = None
        STATE.exporters.append(self)
        _forks.register(self._after_fork)

    def _after_fork(self) -> None:
        self._current = None  # the parent's batch, and its thread, stayed there

    def export(self, spans: Any) -> Any:
        import threading

        from opentelemetry.sdk.trace.export import SpanExportResult

        current = self._current
        if budget_left(in_flight=False) <= 0 or (current is not None and not current.done):
            keep(spans)  # nothing to wait for, or the collector is still busy with a batch
            return SpanExportResult.SUCCESS
        batch = self._current = _Batch(spans)
        # A daemon: a batch a hung collector holds must not hold the interpreter's exit.
        threading.Thread(
            target=self._send, args=(batch,), name="otel-autoguard-export", daemon=True
        ).start()
        self._wait(batch, in_flight=False)
        return SpanExportResult.SUCCESS

    def _send(self, batch: _Batch) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        taken = False
        try:
            taken = self._inner.export(batch.spans) == SpanExportResult.SUCCESS
        finally:
            with batch.lock:
                # Taken, or kept here unless a leaving process kept it already.
                batch.kept = batch.kept or taken
            if not taken:
                batch.keep()
            batch.finished.set()
        if taken:
            STATE.slowest_answer = max(STATE.slowest_answer, time.monotonic() - batch.started)
            send_spooled()

    def _wait(self, batch: _Batch, *, in_flight: bool) -> None:
        """Until the batch is taken or kept, or its budget is spent (serving: 1 s; leaving)."""
        settings = STATE.settings
        serving_until = batch.started + (settings.spool.handover_timeout if settings else 0)
        while not batch.finished.wait(_POLL_S):
            if STATE.leaving_since is None:
                if time.monotonic() >= serving_until:
                    return
            elif budget_left(in_flight) <= 0:
                return

    def settle(self) -> None:
        """Leaving: wait for the batch on its way within the budget, else keep it."""
        batch = self._current
        if batch is not None and not batch.done:
            self._wait(batch, in_flight=True)
            if not batch.done:
                STATE.unanswered = True
                batch.keep()  # at least once: a collector that never answered may have it
        # A round of sending the spool ends within the budget: let it delete what it sent.
        sending = STATE.sending
        if sending.acquire(timeout=max(budget_left(in_flight=True), 0.0) + 0.2):
            sending.release()

    def shutdown(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.shutdown(*args, **kwargs)

    def force_flush(self, timeout_millis: int = 30000) -> Any:
        return self._inner.force_flush(timeout_millis)


def keep(spans: Any) -> None:
    """Spool ``spans`` as the OTLP request the exporter would have sent."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    spool = STATE.spool
    if spool is not None and spans:
        problem = spool.put(encode_spans(spans).SerializePartialToString())
        if problem:
            _say_once(f"cannot keep spans in the spool {spool.folder}: {problem}; they are dropped")


def _say_once(message: str) -> None:
    if not STATE.said:
        STATE.said = True
        emit(STATE.settings, message)


def send_spooled() -> None:
    """The collector just took a batch: send the spool, for a round of at most 1 s (a
    leaving process: what fits in its budget; the rest waits on)."""
    spool, destination = STATE.spool, STATE.destination
    sending = STATE.sending
    if spool is None or destination is None or not sending.acquire(blocking=False):
        return
    until = time.monotonic() + _SEND_SPOOLED_S
    try:
        _resend.send(
            spool,
            destination,
            lambda: time.monotonic() < until and budget_left(in_flight=False) > 0,
            lambda: 10.0 if STATE.leaving_since is None else budget_left(in_flight=True),
        )
    except OSError as exc:
        _say_once(f"cannot send the spool {spool.folder} ({exc.strerror or exc}); it stays")
    finally:
        sending.release()
