"""Checks of the export configuration: exporters, protocols, endpoints, SDK inputs."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from .._settings import BUILTIN_SAMPLERS, CONFIGURATOR, TRACES_SAMPLER
from . import _exports
from ._model import ERROR, WARNING, Export, Facts, Finding


def exporters(facts: Facts) -> Iterable[Finding]:
    for export in facts.exports:
        group = f"opentelemetry_{export.signal}_exporter"
        installed = facts.entry_points.get(group, frozenset())
        source = export.exporter_source
        for name, entry_point in zip(export.exporters, export.entry_points):
            if entry_point.startswith("otlp ("):
                yield Finding(
                    ERROR,
                    f"{export.signal}: OTLP protocol {export.protocol!r} (from "
                    f"{export.protocol_source}) is not supported; the SDK set-up fails and "
                    "nothing is exported",
                    f"set {export.protocol_source} to {_exports.HTTP} (port 4318) or "
                    f"{_exports.GRPC} (port 4317)",
                )
            elif entry_point not in installed:
                yield _missing_exporter(export, name, entry_point, source, installed)


def _missing_exporter(
    export: Export, name: str, entry_point: str, source: str, installed: frozenset[str]
) -> Finding:
    signal = export.signal
    what = (
        f"{signal}: the exporter {entry_point!r} ({name!r} from {source}) is not installed; "
        "the SDK set-up fails and nothing is exported"
    )
    if entry_point == _exports.ENTRY_POINT_BY_PROTOCOL[_exports.GRPC]:
        return Finding(
            ERROR,
            f"{signal}: gRPC protocol (from {export.protocol_source}) but the gRPC exporter is not "
            "installed; the SDK set-up fails and nothing is exported",
            "pip install opentelemetry-exporter-otlp-proto-grpc, or set "
            "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (and an endpoint on port 4318)",
        )
    if entry_point == _exports.ENTRY_POINT_BY_PROTOCOL[_exports.HTTP]:
        fix = "pip install opentelemetry-exporter-otlp-proto-http"
    else:
        known = ", ".join(sorted(installed)) or "none"
        fix = f"install the package that provides it, or use an installed one ({known})"
    return Finding(ERROR, what, fix)


def protocol_and_port(facts: Facts) -> Iterable[Finding]:
    usual = {_exports.GRPC: 4317, _exports.HTTP: 4318}
    for export in facts.exports:
        if export.endpoint is None or export.protocol not in usual:
            continue
        try:
            port = urlsplit(export.endpoint).port
        except ValueError:
            port = None
        other = {4317: _exports.GRPC, 4318: _exports.HTTP}.get(port or 0)
        if other is not None and other != export.protocol:
            yield Finding(
                WARNING,
                f"{export.signal}: protocol {export.protocol} (from {export.protocol_source}) "
                f"but the endpoint's port {port} is the usual {other} port",
                f"use port {usual[str(export.protocol)]} for {export.protocol}, or set "
                f"OTEL_EXPORTER_OTLP_PROTOCOL={other}",
            )


def endpoint_paths(facts: Facts) -> Iterable[Finding]:
    """The two usual OTLP/HTTP path mistakes: both send every export to a 404."""
    for export in facts.exports:
        if export.protocol != _exports.HTTP or export.endpoint is None:
            continue
        path = f"/v1/{export.signal}"
        own = f"OTEL_EXPORTER_OTLP_{export.signal.upper()}_ENDPOINT"
        try:
            actual = urlsplit(export.endpoint).path
        except ValueError:
            continue
        if export.endpoint_source == own and actual.rstrip("/") == "":
            yield Finding(
                ERROR,
                f"{export.signal}: {own} is used as is and has no path, so exports go to / "
                f"(collectors answer {path})",
                f"append {path} to {own}",
            )
        elif export.endpoint_source.startswith("OTEL_EXPORTER_OTLP_ENDPOINT") and (
            actual.count("/v1/") > 1
        ):
            yield Finding(
                ERROR,
                f"{export.signal}: OTEL_EXPORTER_OTLP_ENDPOINT already has a signal path, and "
                f"the SDK appends {path} to it",
                "set OTEL_EXPORTER_OTLP_ENDPOINT to the collector's base URL (e.g. "
                f"http://host:4318), or give the full URL in {own}",
            )


def malformed_headers(facts: Facts) -> Iterable[Finding]:
    for export in facts.exports:
        if any(not name for name, _ in export.headers):
            yield Finding(
                WARNING,
                f"{export.signal}: an element of {export.headers_source} has no '=', so the "
                "exporter ignores it (its text is not shown)",
                "write each header as name=value, comma-separated, the value URL-encoded "
                "(e.g. authorization=Bearer%20…)",
            )


def sdk_inputs(facts: Facts) -> Iterable[Finding]:
    for problem in facts.settings.problems:
        yield Finding(WARNING, problem, "correct the value (the default is used meanwhile)")
    sampler = facts.settings.traces_sampler
    known = facts.entry_points.get("opentelemetry_traces_sampler", frozenset())
    if sampler is not None and sampler not in BUILTIN_SAMPLERS and sampler not in known:
        yield Finding(
            WARNING,
            f"{TRACES_SAMPLER}={sampler!r} is not a known sampler; the default "
            "parentbased_always_on is used",
            f"use one of {', '.join(BUILTIN_SAMPLERS)}, or install the package that provides it",
        )
    configurators = facts.entry_points.get("opentelemetry_configurator", frozenset())
    wanted = facts.settings.configurator
    if (wanted and wanted not in configurators) or not configurators:
        yield Finding(
            ERROR,
            f"no OpenTelemetry configurator to run ({CONFIGURATOR}={wanted!r})"
            if wanted
            else "no OpenTelemetry configurator is installed",
            "pip install opentelemetry-distro" + (f", or unset {CONFIGURATOR}" if wanted else ""),
        )
