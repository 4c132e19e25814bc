"""Each signal's exporter, protocol, endpoint and headers, as the SDK will resolve them.

Pure: the variables come from :func:`otel_autoguard._settings.load_doctor_env`, and
whether the gRPC exporter is installed is passed in (it decides otel-autoguard's
default protocol, see ``_otel._distro_instance``).
"""

from __future__ import annotations

from .. import _otlp
from .._otlp import ENTRY_POINT_BY_PROTOCOL, GRPC, HTTP
from .._settings._doctor import DoctorEnv, SignalEnv, Sourced, parse_headers
from ._model import Export

__all__ = ["ENTRY_POINT_BY_PROTOCOL", "GRPC", "HTTP", "OUR_DEFAULT", "resolve"]

OUR_DEFAULT = "otel-autoguard's default"


def resolve(env: DoctorEnv, grpc_installed: bool) -> tuple[Export, ...]:
    return tuple(_resolve_signal(env, signal, grpc_installed) for signal in env.signals)


def _pair(sourced: Sourced) -> _otlp.Sourced:
    return sourced.value, sourced.source


def _default_protocol(grpc_installed: bool) -> tuple[str, str]:
    if grpc_installed:
        return GRPC, "the distro's default"
    return HTTP, f"{OUR_DEFAULT}: no gRPC exporter installed"


def _resolve_signal(env: DoctorEnv, signal: SignalEnv, grpc_installed: bool) -> Export:
    names = _otlp.exporter_names(signal.exporter.value or "otlp")
    exporter_source = signal.exporter.source or "the distro's default"
    protocol, protocol_source = _otlp.protocol(
        names, _pair(signal.protocol), exporter_source, _default_protocol(grpc_installed)
    )
    entry_points = tuple(_otlp.entry_point(name, protocol) for name in names)
    otlp = any(name.startswith("otlp") for name in entry_points)
    if otlp:
        endpoint: str | None
        endpoint, endpoint_source = _otlp.endpoint(
            signal.signal, protocol, _pair(signal.endpoint), _pair(env.base_endpoint)
        )
    else:
        endpoint, endpoint_source = None, ""
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
