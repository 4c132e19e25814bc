"""Where each signal's OTLP exporter sends, by the SDK configurator's own rules. Pure.

The one resolver behind the settings (:attr:`Settings.endpoint`), the check at exit
(:func:`otel_autoguard._settings.collectors`), the export-failure line and the
doctor. The rules (``opentelemetry.sdk._configuration``, SDK 1.45):

- the exporter names come from ``OTEL_<SIGNAL>_EXPORTER``; ``none`` drops one;
- ``otlp`` takes its protocol from ``OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL``, else
  ``OTEL_EXPORTER_OTLP_PROTOCOL``, else gRPC; ``otlp_proto_grpc`` and
  ``otlp_proto_http`` name their protocol themselves, whatever the variables say;
- a signal's own endpoint variable is used as it is; the general one gets
  ``/v1/<signal>`` appended for HTTP (the spec's rule), not for gRPC.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import TypeAlias

    Sourced: TypeAlias = "tuple[str | None, str | None]"
    """A value as set and the variable it came from; ``(None, None)`` when unset."""

SIGNALS = ("traces", "metrics", "logs")
GRPC = "grpc"
HTTP = "http/protobuf"
PREFIX = "OTEL_EXPORTER_OTLP"
GENERAL_ENDPOINT = f"{PREFIX}_ENDPOINT"
DEFAULT_ENDPOINTS = {GRPC: "http://localhost:4317", HTTP: "http://localhost:4318"}
# The SDK's own table (opentelemetry.sdk._configuration._EXPORTER_BY_OTLP_PROTOCOL).
ENTRY_POINT_BY_PROTOCOL = {GRPC: "otlp_proto_grpc", HTTP: "otlp_proto_http"}
PROTOCOL_BY_ENTRY_POINT = {name: protocol for protocol, name in ENTRY_POINT_BY_PROTOCOL.items()}
DEFAULT = "the default"


def exporter_names(raw: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (raw or "").split(",") if n.strip() and n.strip() != "none")


def protocol(
    names: tuple[str, ...], variable: Sourced, name_source: str, default: tuple[str, str]
) -> tuple[str, str]:
    """The OTLP protocol of a signal exported by ``names``, and where it came from.

    ``variable``: the protocol variable as set (signal's own, else general);
    ``name_source``: where the names came from; ``default``: what applies when
    neither says (the SDK's gRPC, or otel-autoguard's HTTP default).
    """
    explicit = [PROTOCOL_BY_ENTRY_POINT[n] for n in names if n in PROTOCOL_BY_ENTRY_POINT]
    if explicit and "otlp" not in names:
        return explicit[0], name_source
    value, source = variable
    if value and source:
        return value, source
    return default


def entry_point(name: str, protocol: str | None) -> str:
    """The exporter entry point the SDK loads for ``name``."""
    if name != "otlp":
        return name
    # An unsupported protocol stays visible as such; the doctor names the conflict.
    return ENTRY_POINT_BY_PROTOCOL.get(protocol or GRPC, f"otlp ({protocol})")


def endpoint(signal: str, protocol: str, own: Sourced, general: Sourced) -> tuple[str, str]:
    """The URL the exporter sends ``signal`` to, and how it was made."""
    value, source = own
    if value and source:
        return value, source
    base, base_source = general
    if protocol == GRPC:
        return (base, str(base_source)) if base else (DEFAULT_ENDPOINTS[GRPC], DEFAULT)
    if base:
        return f"{base.rstrip('/')}/v1/{signal}", f"{base_source} + /v1/{signal}"
    return f"{DEFAULT_ENDPOINTS[HTTP]}/v1/{signal}", DEFAULT


def configured(own: Sourced, general: Sourced, protocol: str) -> tuple[str, str]:
    """The endpoint as the user set it (what messages show), before ``/v1/<signal>``."""
    for value, source in (own, general):
        if value and source:
            return value, source
    return DEFAULT_ENDPOINTS.get(protocol, DEFAULT_ENDPOINTS[HTTP]), DEFAULT


class Address(NamedTuple):
    host: str
    port: int


def address(url: str) -> Address | None:
    """The TCP address behind an endpoint; None if it cannot be told (a Unix socket, a bad port)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"//{url}")
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    if parts.scheme not in ("", "http", "https") or not parts.hostname or port is None:
        return None
    return Address(parts.hostname, port)
