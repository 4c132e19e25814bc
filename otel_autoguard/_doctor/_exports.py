"""Each signal's exporter, protocol, endpoint and headers, as the SDK will resolve them.

Pure: the variables come from :func:`otel_autoguard._settings.load_doctor_env`, and
whether the gRPC exporter is installed is passed in (it decides otel-autoguard's
default protocol, see ``_otel._distro_instance``).
"""

from __future__ import annotations

from .._settings import parse_headers
from ._env import DoctorEnv, SignalEnv
from ._model import Export

GRPC = "grpc"
HTTP = "http/protobuf"
# The SDK's own table (opentelemetry.sdk._configuration._EXPORTER_BY_OTLP_PROTOCOL).
ENTRY_POINT_BY_PROTOCOL = {GRPC: "otlp_proto_grpc", HTTP: "otlp_proto_http"}
DEFAULT_HTTP = "http://localhost:4318"
DEFAULT_GRPC = "http://localhost:4317"
OUR_DEFAULT = "otel-autoguard's default"


def resolve(env: DoctorEnv, grpc_installed: bool) -> tuple[Export, ...]:
    return tuple(_resolve_signal(env, signal, grpc_installed) for signal in env.signals)


def _protocol(signal: SignalEnv, grpc_installed: bool) -> tuple[str, str]:
    if signal.protocol.value is not None and signal.protocol.source is not None:
        return signal.protocol.value, signal.protocol.source
    if grpc_installed:
        return GRPC, "the distro's default"
    return HTTP, f"{OUR_DEFAULT}: no gRPC exporter installed"


def _entry_point(name: str, protocol: str) -> str:
    if name != "otlp":
        return name
    # An unsupported protocol stays visible as such; a conflict check names it.
    return ENTRY_POINT_BY_PROTOCOL.get(protocol, f"otlp ({protocol})")


def _endpoint(env: DoctorEnv, signal: SignalEnv, protocol: str) -> tuple[str, str]:
    if signal.endpoint.value is not None and signal.endpoint.source is not None:
        return signal.endpoint.value, signal.endpoint.source
    base, source = env.base_endpoint.value, env.base_endpoint.source
    if protocol == GRPC:
        return (base, str(source)) if base else (DEFAULT_GRPC, "the default")
    if base:
        return f"{base.rstrip('/')}/v1/{signal.signal}", f"{source} + /v1/{signal.signal}"
    return f"{DEFAULT_HTTP}/v1/{signal.signal}", "the default"


def _resolve_signal(env: DoctorEnv, signal: SignalEnv, grpc_installed: bool) -> Export:
    raw = signal.exporter.value or "otlp"
    names = tuple(n.strip() for n in raw.split(",") if n.strip() and n.strip() != "none")
    exporter_source = signal.exporter.source or "the distro's default"
    protocol, protocol_source = _protocol(signal, grpc_installed)
    explicit = [p for p, name in ENTRY_POINT_BY_PROTOCOL.items() if name in names]
    if explicit and "otlp" not in names:
        protocol, protocol_source = explicit[0], exporter_source
    entry_points = tuple(_entry_point(name, protocol) for name in names)
    otlp = any(name.startswith("otlp") for name in entry_points)
    endpoint, endpoint_source = _endpoint(env, signal, protocol) if otlp else (None, "")
    headers = parse_headers(signal.headers.value or "") if otlp else ()
    return Export(
        signal=signal.signal,
        exporters=names,
        exporter_source=exporter_source,
        entry_points=entry_points,
        protocol=protocol if otlp else None,
        protocol_source=protocol_source if otlp else "",
        endpoint=endpoint,
        endpoint_source=endpoint_source,
        headers=headers,
        headers_source=signal.headers.source if otlp else None,
        certificate=signal.certificate.value,
        client_key=signal.client_key.value,
        client_certificate=signal.client_certificate.value,
    )
