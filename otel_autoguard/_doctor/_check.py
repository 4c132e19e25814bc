"""``--check``: one real, empty OTLP export per configured endpoint, with a bounded wait.

An empty ``Export*ServiceRequest`` serialises to zero bytes, so the body is empty;
the collector answers it like any export (auth, routing and TLS all apply).
Each export runs in a daemon thread that is waited for at most ``timeout`` plus a
margin, so neither a silent server nor a slow DNS lookup can hold the doctor.
"""

from __future__ import annotations

import base64
import importlib
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from .. import _boundary
from . import _exports
from ._model import Export

_GRPC_METHODS = {
    "traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}
_MARGIN = 2.0
_NOT_CHECKED = "not checked: "


def check_all(exports: tuple[Export, ...], timeout: float) -> list[dict[str, Any]]:
    targets = [e for e in exports if e.otlp and e.endpoint]
    # Each thread fills its own slot with one assignment; an empty slot after the
    # wait means it is still waiting (and is abandoned: it is a daemon thread).
    slots: list[list[dict[str, Any]]] = [[] for _ in targets]
    threads = [
        threading.Thread(target=_run, args=(e, timeout, s), daemon=True, name=f"check-{e.signal}")
        for e, s in zip(targets, slots)
    ]
    deadline = time.monotonic() + timeout + _MARGIN
    for thread in threads:
        thread.start()
    results = []
    for export, thread, slot in zip(targets, threads, slots):
        thread.join(max(0.0, deadline - time.monotonic()))
        outcome = list(slot)
        result: dict[str, Any] = {
            "signal": export.signal,
            "endpoint": export.endpoint,
            "protocol": export.protocol,
        }
        if outcome:
            result.update(outcome[0])
        else:
            result.update(ok=False, checked=True, status=None, latency_ms=None)
            result["detail"] = f"no answer within {timeout:g} s"
        results.append(result)
    return results


def _run(export: Export, timeout: float, slot: list[dict[str, Any]]) -> None:
    start = time.perf_counter()
    try:
        if export.protocol == _exports.GRPC:
            ok, status, detail = _grpc(export, timeout)
        else:
            ok, status, detail = _http(export, timeout)
    except Exception as exc:  # noqa: BLE001 - the failure is the check's result
        ok, status, detail = False, None, _failure(exc, timeout)
    latency = round((time.perf_counter() - start) * 1000, 1)
    checked = not detail.startswith(_NOT_CHECKED)
    slot.append(
        {
            "ok": ok,
            "checked": checked,
            "status": status,
            "latency_ms": latency if checked else None,
            "detail": detail if checked else detail[len(_NOT_CHECKED) :],
        }
    )


def _failure(exc: BaseException, timeout: float) -> str:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the collector running, and on this port?)"
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, socket.gaierror):
        return f"host name not resolved ({reason})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed ({reason})"
    return _boundary.describe(reason if isinstance(reason, BaseException) else exc)


def _tls(export: Export) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=export.certificate)
    if export.client_certificate:
        context.load_cert_chain(export.client_certificate, export.client_key)
    return context


def _http(export: Export, timeout: float) -> tuple[bool, int | None, str]:
    assert export.endpoint is not None
    parts = urlsplit(export.endpoint)
    headers = {name: value for name, value in export.headers if name}
    headers["Content-Type"] = "application/x-protobuf"
    if parts.username is not None:
        # The exporter (requests) sends URL user info as basic auth; so do we.
        user = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(user.encode()).decode()
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    url = urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
    request = urllib.request.Request(url, data=b"", headers=headers, method="POST")
    context = _tls(export) if parts.scheme == "https" else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            response.read()
            return True, int(response.status), f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        body = exc.read(300).decode("utf-8", "replace").strip()
        detail = f"HTTP {exc.code} {exc.reason}" + (f": {body}" if body else "")
        return False, int(exc.code), " ".join(detail.split())


def _grpc(export: Export, timeout: float) -> tuple[bool, int | None, str]:
    try:
        grpc: Any = importlib.import_module("grpc")
    except ImportError:
        return False, None, f"{_NOT_CHECKED}grpcio is not installed (the gRPC exporter needs it)"
    assert export.endpoint is not None
    parts = urlsplit(export.endpoint if "://" in export.endpoint else f"//{export.endpoint}")
    target = parts.netloc.rsplit("@", 1)[-1] or export.endpoint
    if parts.scheme == "https":
        ca = open(export.certificate, "rb").read() if export.certificate else None  # noqa: SIM115
        channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca))
    else:
        channel = grpc.insecure_channel(target)
    try:
        call = channel.unary_unary(_GRPC_METHODS[export.signal])
        metadata = tuple((name, value) for name, value in export.headers if name)
        call(b"", timeout=timeout, metadata=metadata)
        return True, 0, "gRPC OK"
    except grpc.RpcError as exc:
        code = exc.code()
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return False, code.value[0], f"no answer within {timeout:g} s"
        return False, code.value[0], f"gRPC {code.name}: {exc.details()}"
    finally:
        channel.close()
