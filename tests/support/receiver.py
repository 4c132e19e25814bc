"""A real OTLP/HTTP receiver: decodes protobuf traces, metrics and logs.

Run in the test process (``Receiver().start()``) or standalone
(``python -m tests.support.receiver --port N``) for the demo. ``delay`` makes
every export take that long, as a slow collector would.
"""

from __future__ import annotations

import argparse
import gzip
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

SERVER_KIND = 2  # Span.SpanKind.SPAN_KIND_SERVER


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind else None


def _attrs(attributes: Any) -> dict[str, Any]:
    return {a.key: _value(a.value) for a in attributes}


@dataclass(frozen=True)
class Span:
    trace_id: str
    span_id: str
    name: str
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    parent_span_id: str = ""

    @property
    def pid(self) -> Any:
        return self.resource.get("process.pid")

    @property
    def instance(self) -> Any:
        return self.resource.get("service.instance.id")


@dataclass
class Received:
    spans: list[Span] = field(default_factory=list)
    metric_resources: list[dict[str, Any]] = field(default_factory=list)
    metric_names: set[str] = field(default_factory=set)
    log_records: int = 0
    bodies: list[bytes] = field(default_factory=list)
    """Every export request's body, as received."""
    requests: dict[str, int] = field(default_factory=dict)
    headers: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    """(path, request headers) of every export, in order."""


class Receiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, delay: float = 0.0) -> None:
        self.delay = delay
        self.mode = "ok"
        """Fault injection: ``ok``; ``hang`` (reads each export, never answers, records
        nothing until the mode changes, then drops the connection); ``503``; ``garbage``
        (bytes that are not HTTP)."""
        self._stopped = threading.Event()
        self.data = Received()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()

    def server_spans(self) -> list[Span]:
        with self._lock:
            return [s for s in self.data.spans if s.kind == SERVER_KIND]

    def wait_for_server_spans(self, count: int, timeout: float = 30.0) -> list[Span]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            spans = self.server_spans()
            if len(spans) >= count:
                return spans
            time.sleep(0.05)
        return self.server_spans()

    def _record(self, path: str, body: bytes, headers: dict[str, str]) -> None:
        with self._lock:
            self.data.requests[path] = self.data.requests.get(path, 0) + 1
            self.data.headers.append((path, headers))
            self.data.bodies.append(body)
            if path.endswith("/v1/traces"):
                req = ExportTraceServiceRequest.FromString(body)
                for rs in req.resource_spans:
                    resource = _attrs(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        for s in ss.spans:
                            self.data.spans.append(
                                Span(
                                    s.trace_id.hex(),
                                    s.span_id.hex(),
                                    s.name,
                                    s.kind,
                                    _attrs(s.attributes),
                                    resource,
                                    s.parent_span_id.hex(),
                                )
                            )
            elif path.endswith("/v1/metrics"):
                mreq = ExportMetricsServiceRequest.FromString(body)
                for rm in mreq.resource_metrics:
                    self.data.metric_resources.append(_attrs(rm.resource.attributes))
                    for sm in rm.scope_metrics:
                        self.data.metric_names.update(m.name for m in sm.metrics)
            elif path.endswith("/v1/logs"):
                lreq = ExportLogsServiceRequest.FromString(body)
                self.data.log_records += sum(
                    len(sl.log_records) for rl in lreq.resource_logs for sl in rl.scope_logs
                )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                if receiver.mode == "hang":
                    while receiver.mode == "hang" and not receiver._stopped.wait(0.05):
                        pass
                    self.close_connection = True
                    return
                if receiver.mode == "503":
                    self.send_error(503)
                    return
                if receiver.mode == "garbage":  # not HTTP at all
                    self.wfile.write(b"\x00\xffnot an answer\r\n\r\n")
                    self.close_connection = True
                    return
                if receiver.delay:
                    time.sleep(receiver.delay)
                receiver._record(self.path, body, {k.lower(): v for k, v in self.headers.items()})
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=4318)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    receiver = Receiver(port=args.port, delay=args.delay).start()
    print(f"OTLP/HTTP receiver on {receiver.endpoint}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        receiver.stop()


if __name__ == "__main__":
    main()
