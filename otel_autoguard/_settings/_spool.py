"""The hand-over spool's variables, and where spooled spans are sent (see ``_spool``).

``load_spool`` runs with the other settings at start. ``destination`` runs once the
SDK is configured (a distro may set endpoint defaults then), as ``collectors`` does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

from .. import _otlp
from ._values import parse_bool, parse_positive, parse_seconds

SPOOL = "OTEL_AUTOGUARD_SPOOL"
SPOOL_DIR = "OTEL_AUTOGUARD_SPOOL_DIR"
SPOOL_MAX_MB = "OTEL_AUTOGUARD_SPOOL_MAX_MB"
HANDOVER_TIMEOUT = "OTEL_AUTOGUARD_HANDOVER_TIMEOUT"
DEFAULT_MAX_MB = 64.0
DEFAULT_HANDOVER_TIMEOUT = 1.0


# NamedTuples, not dataclasses: this module loads at every activated interpreter start,
# and a dataclass costs about 1 ms to define.
class SpoolSettings(NamedTuple):
    enabled: bool = True
    root: str = ""
    """The folder holding one spool per service and collector."""
    max_bytes: int = int(DEFAULT_MAX_MB * 1024 * 1024)
    handover_timeout: float = DEFAULT_HANDOVER_TIMEOUT
    """How long a leaving process waits on a collector that has not answered."""


class Destination(NamedTuple):
    """Where the traces exporter sends, as spooled requests are sent there again."""

    service: str
    url: str
    headers: tuple[tuple[str, str], ...]
    certificate: str | None
    client_key: str | None
    client_certificate: str | None


def default_root(environ: Mapping[str, str]) -> str:
    """``$XDG_CACHE_HOME`` or ``~/.cache``, else the temporary folder, per user."""
    base = environ.get("XDG_CACHE_HOME", "").strip()
    if not base and environ.get("HOME", "").strip():
        base = os.path.join(environ["HOME"], ".cache")
    if base:
        return os.path.join(base, "otel-autoguard", "spool")
    temp = environ.get("TMPDIR", "").strip() or "/tmp"
    return os.path.join(temp, f"otel-autoguard-{os.getuid()}", "spool")


def load_spool(environ: Mapping[str, str], problems: list[str]) -> SpoolSettings:
    enabled = parse_bool(environ, SPOOL, problems, "using true")
    megabytes = parse_positive(
        environ, SPOOL_MAX_MB, DEFAULT_MAX_MB, problems, "a number of MiB > 0"
    )
    return SpoolSettings(
        enabled=enabled is not False,
        root=environ.get(SPOOL_DIR, "").strip() or default_root(environ),
        max_bytes=int(megabytes * 1024 * 1024),
        handover_timeout=parse_seconds(
            environ, HANDOVER_TIMEOUT, DEFAULT_HANDOVER_TIMEOUT, problems
        ),
    )


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def _headers(raw: str | None) -> tuple[tuple[str, str], ...]:
    """``OTEL_EXPORTER_OTLP_HEADERS``' format: URL-encoded ``key=value`` pairs, commas between."""
    from urllib.parse import unquote  # once configured, not at every interpreter start

    found = []
    for pair in (raw or "").split(","):
        key, sep, value = pair.partition("=")
        if sep and key.strip():
            found.append((unquote(key.strip()).lower(), unquote(value.strip())))
    return tuple(found)


def _service(environ: Mapping[str, str]) -> str:
    from urllib.parse import unquote

    named = environ.get("OTEL_SERVICE_NAME", "").strip()
    if named:
        return named
    for pair in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() == "service.name" and value.strip():
            return unquote(value.strip())
    return "unknown_service"


def destination(environ: Mapping[str, str]) -> Destination:
    """The OTLP/HTTP traces endpoint and its credentials, by the SDK exporter's rules."""
    prefix = f"{_otlp.PREFIX}_TRACES"
    own = (_first(environ, f"{prefix}_ENDPOINT"), f"{prefix}_ENDPOINT")
    general = (_first(environ, _otlp.GENERAL_ENDPOINT), _otlp.GENERAL_ENDPOINT)
    url, _source = _otlp.endpoint(
        "traces",
        _otlp.HTTP,
        own if own[0] else (None, None),
        general if general[0] else (None, None),
    )
    return Destination(
        service=_service(environ),
        url=url,
        headers=_headers(_first(environ, f"{prefix}_HEADERS", f"{_otlp.PREFIX}_HEADERS")),
        certificate=_first(environ, f"{prefix}_CERTIFICATE", f"{_otlp.PREFIX}_CERTIFICATE"),
        client_key=_first(environ, f"{prefix}_CLIENT_KEY", f"{_otlp.PREFIX}_CLIENT_KEY"),
        client_certificate=_first(
            environ, f"{prefix}_CLIENT_CERTIFICATE", f"{_otlp.PREFIX}_CLIENT_CERTIFICATE"
        ),
    )
