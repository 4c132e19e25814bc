"""When two span export pipelines are the same: same exporter kind, same destination.

Pure: it reads attributes of the objects it is given and nothing else. A
pipeline whose destination cannot be told (a custom exporter) is never called
equivalent to another, so an application's own pipeline is never dropped on a guess.
"""

from __future__ import annotations

from typing import NamedTuple

# Names of this machine that reach the same collector.
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0", "ip6-localhost"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Pipeline(NamedTuple):
    kind: str
    """The exporter's class, with its module: two classes are two kinds."""
    destination: str | None
    """Normalised endpoint URL or output stream; None when unknown."""
    shown: str | None = None
    """The destination as the exporter has it, for messages."""

    @property
    def label(self) -> str:
        name = self.kind.rsplit(".", 1)[-1]
        where = self.shown or self.destination
        return f"{name} to {where}" if where else name


def normalize_endpoint(url: str) -> str:
    """The collector a URL reaches, written one way (credentials left out)."""
    text = url.strip()
    if "://" not in text:
        # gRPC endpoints are often written "host:port".
        text = "http://" + text
    from urllib.parse import urlsplit  # not at start: the exit and the doctor need it

    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if host in _LOOPBACK:
        host = "localhost"
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = None
    if ":" in host:
        host = f"[{host}]"
    shown = f"{host}:{port}" if port else host
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{shown}{parts.path.rstrip('/')}{query}"


def _destination(exporter: object) -> tuple[str | None, str | None]:
    """(normalised, as shown) destination of an exporter."""
    endpoint = getattr(exporter, "_endpoint", None)  # the OTLP exporters, HTTP and gRPC
    if isinstance(endpoint, str) and endpoint.strip():
        return normalize_endpoint(endpoint), endpoint.strip()
    out = getattr(exporter, "out", None)  # ConsoleSpanExporter
    if out is not None:
        name = getattr(out, "name", None)
        where = f"stream {name}" if isinstance(name, str) else f"stream #{id(out)}"
        return where, where
    return None, None


def describe(processor: object) -> Pipeline | None:
    """The pipeline a span processor feeds, or None if it exports nothing we can see."""
    exporter = getattr(processor, "span_exporter", None)
    if exporter is None:
        return None
    # otel-autoguard's hand-over wrapper (``_handover.INNER``) is the pipeline it wraps,
    # and a stand-in (``_exporters``) is the exporter it will make (not made here).
    exporter = getattr(exporter, "otel_autoguard_inner", exporter)
    target = getattr(type(exporter), "otel_autoguard_target", None)
    kind = f"{type(exporter).__module__}.{type(exporter).__qualname__}"
    if isinstance(target, str):
        kind = target.replace(":", ".")
    destination, shown = _destination(exporter)
    return Pipeline(kind, destination, shown)


def equivalent(a: Pipeline, b: Pipeline) -> bool:
    """Would both export every span to the same place?

    (Two processors sharing one exporter object are the same pipeline too; the
    caller, which holds both, checks that.)
    """
    return a.kind == b.kind and a.destination is not None and a.destination == b.destination


def same_exporter(a: object, b: object) -> bool:
    exporter = getattr(a, "span_exporter", None)
    return exporter is not None and exporter is getattr(b, "span_exporter", None)
