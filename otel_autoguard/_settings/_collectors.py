"""Where each signal's OTLP exporter connects, read from the environment.

Read once the SDK is configured (the distro sets its defaults then), for the check
at exit and the export-failure line; the rules are :mod:`otel_autoguard._otlp`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from .. import _otlp
from . import first


class Collector(NamedTuple):
    """One signal's OTLP destination: the endpoint as configured, and its TCP address."""

    signal: str
    endpoint: str
    source: str
    host: str
    port: int


def collectors(environ: Mapping[str, str]) -> tuple[Collector, ...]:
    """The signals exported by one OTLP exporter only, and where each connects.

    A signal with no exporter, another exporter (``console``, …) besides or instead,
    or an address that cannot be told (a Unix socket, a malformed port) is left out.
    """
    found = []
    for signal in _otlp.SIGNALS:
        upper = signal.upper()
        names = _otlp.exporter_names(environ.get(f"OTEL_{upper}_EXPORTER"))
        if len(set(names)) != 1 or names[0] not in ("otlp", *_otlp.PROTOCOL_BY_ENTRY_POINT):
            continue
        protocol_set = first(
            environ, f"{_otlp.PREFIX}_{upper}_PROTOCOL", f"{_otlp.PREFIX}_PROTOCOL"
        )
        protocol, _ = _otlp.protocol(names, protocol_set, "", (_otlp.GRPC, _otlp.DEFAULT))
        if protocol not in _otlp.DEFAULT_ENDPOINTS:
            continue
        own = first(environ, f"{_otlp.PREFIX}_{upper}_ENDPOINT")
        url, source = _otlp.configured(own, first(environ, _otlp.GENERAL_ENDPOINT), protocol)
        where = _otlp.address(url)
        if where is not None:
            found.append(Collector(signal, url, source, where.host, where.port))
    return tuple(found)
