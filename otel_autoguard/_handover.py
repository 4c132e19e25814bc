"""Hand over what a leaving process cannot export: spooled, then sent by the next one.

The SDK's configurator makes the OTLP/HTTP span exporter; :func:`install` has it made
wrapped (``_import_exporters`` is the one place the configurator names exporters).
The wrapper exports through a sender thread, so a leaving process can stop waiting on
a collector that does not answer: what is left goes to the spool (``_spool``), and
whichever process of the same service next exports successfully sends it first.

Leaving (:func:`leaving`, called by the one flush) gives the collector
``OTEL_AUTOGUARD_HANDOVER_TIMEOUT`` to take what is queued, more for an export in
flight to a collector that answered slowly before (cutting it would send it twice);
a collector that refuses connections gets nothing to wait for.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from . import _spool
from ._boundary import emit
from ._forks import Lock
from ._patching import is_patched, replace
from ._settings import Settings
from ._settings._collectors import Collector
from ._settings._spool import HANDOVER_TIMEOUT, Destination

INNER = "otel_autoguard_inner"
"""The wrapped exporter, for ``_pipelines``: the wrapper is the same pipeline."""
_HTTP_EXPORTERS = "opentelemetry.exporter.otlp.proto.http"
_POLL_S = 0.05
_SEND_SPOOLED_S = 1.0
"""At most this long per export sending spooled batches: the queue waits meanwhile."""


class _State:
    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.spool: _spool.Spool | None = None
        self.destination: Destination | None = None
        self.leaving_since: float | None = None
        self.refused = False
        self.slowest_answer = 0.0
        self.said_full = False
        self.wrapped = 0
        self.unanswered = False
        """A leaving export was cut: the collector did not answer in the budget."""
        self.lock = Lock()


STATE = _State()


def install(settings: Settings) -> None:
    """Before the configurator runs: the OTLP/HTTP span exporter it makes is wrapped."""
    if not settings.spool.enabled:
        return
    from opentelemetry.sdk import _configuration

    original = _configuration._import_exporters
    if is_patched(original):
        return
    STATE.settings = settings

    def import_exporters(*args: Any, **kwargs: Any) -> Any:
        spans, metrics, logs = original(*args, **kwargs)
        return {name: _wrapping(cls) for name, cls in spans.items()}, metrics, logs

    replace(_configuration, "_import_exporters", import_exporters)


def _wrapping(cls: Any) -> Any:
    if not str(getattr(cls, "__module__", "")).startswith(_HTTP_EXPORTERS):
        return cls

    def make(**kwargs: Any) -> HandingOver:
        STATE.wrapped += 1
        return HandingOver(cls(**kwargs))

    return make


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
    return STATE.wrapped > 0 and STATE.spool is not None


def leaving(refused: frozenset[str], collectors: Sequence[Collector] = ()) -> frozenset[str]:
    """The process is leaving: stop waiting on the collector soon; what not to flush.

    ``refused``: the signals whose collector refuses connections. Spans handed over
    are still flushed: they go to the spool at once, costing no wait. Once the spans'
    collector has not answered in the budget, the signals it also takes are not
    flushed either (their exporters would wait out their own timeouts).
    """
    if STATE.leaving_since is None:
        STATE.leaving_since = time.monotonic()
    STATE.refused = STATE.refused or "traces" in refused
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


def _budget_left(in_flight: bool) -> float:
    """Seconds a leaving process still waits for an export (0: spool it)."""
    settings, since = STATE.settings, STATE.leaving_since
    if settings is None or since is None:
        return float("inf")
    if STATE.refused:
        return 0.0
    budget = settings.spool.handover_timeout
    if in_flight:
        # A collector that answered slowly is slow, not gone: cutting its export would
        # send the batch twice, once from the spool.
        budget = min(settings.stop_timeout, max(budget, 2 * STATE.slowest_answer))
    return since + budget - time.monotonic()


class HandingOver:
    """A span exporter: the wrapped one, with what it cannot send kept for the next process."""

    def __init__(self, inner: Any) -> None:
        setattr(self, INNER, inner)
        self._inner = inner

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        if _budget_left(in_flight=False) <= 0:
            self._keep(spans)
            return SpanExportResult.SUCCESS
        started = time.monotonic()
        outcome: list[Any] = []
        sender = threading.Thread(
            target=lambda: outcome.append(self._inner.export(spans)),
            name="otel-autoguard-export",
            daemon=True,
        )
        sender.start()
        while sender.is_alive():
            sender.join(_POLL_S)
            if sender.is_alive() and _budget_left(in_flight=True) <= 0:
                STATE.unanswered = True
                self._keep(spans)  # the collector did not answer in time
                return SpanExportResult.SUCCESS
        if outcome and outcome[0] == SpanExportResult.SUCCESS:
            STATE.slowest_answer = max(STATE.slowest_answer, time.monotonic() - started)
            send_spooled()
            return outcome[0]
        self._keep(spans)
        return SpanExportResult.FAILURE

    def _keep(self, spans: Any) -> None:
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        spool, settings = STATE.spool, STATE.settings
        if spool is None or settings is None or not spans:
            return
        if not spool.put(encode_spans(spans).SerializePartialToString()) and not STATE.said_full:
            STATE.said_full = True
            emit(
                settings,
                f"the spool in {spool.folder} is full ({settings.spool.max_bytes >> 20} MiB, "
                "OTEL_AUTOGUARD_SPOOL_MAX_MB): spans it cannot hold are dropped",
            )

    def shutdown(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner.shutdown(*args, **kwargs)

    def force_flush(self, timeout_millis: int = 30000) -> Any:
        return self._inner.force_flush(timeout_millis)


def send_spooled() -> int:
    """Send what the spool holds (the collector just took an export); how many batches."""
    spool, destination = STATE.spool, STATE.destination
    if spool is None or destination is None or not STATE.lock.acquire(blocking=False):
        return 0
    sent, until = 0, time.monotonic() + _SEND_SPOOLED_S
    try:
        for claimed, data in spool.claim():
            # A leaving process sends what fits in its budget; the rest waits on.
            late = time.monotonic() > until or _budget_left(in_flight=False) <= 0
            if late or not post(destination, data):
                _spool.release(claimed)
                break
            _spool.done(claimed)
            sent += 1
    finally:
        STATE.lock.release()
    return sent


def post(destination: Destination, data: bytes, timeout: float = 10.0) -> bool:
    """POST one spooled request as the exporter would; True if the collector took it."""
    import ssl
    import urllib.error
    import urllib.request

    headers = {**dict(destination.headers), "Content-Type": "application/x-protobuf"}
    request = urllib.request.Request(destination.url, data=data, headers=headers, method="POST")
    context = None
    if destination.url.startswith("https:"):
        context = ssl.create_default_context(cafile=destination.certificate)
        if destination.client_certificate:
            context.load_cert_chain(destination.client_certificate, destination.client_key)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False
