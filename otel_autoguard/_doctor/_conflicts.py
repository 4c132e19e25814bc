"""Conflicts: each check reads :class:`Facts` and returns findings, each with its fix.

To add a check, write a function ``(Facts) -> Iterable[Finding]`` and append it to
:data:`CHECKS`; the report, the JSON output and the exit status pick it up.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from .._roles import _OTEL_INSTRUMENT_DIR
from .._settings import BUILTIN_SAMPLERS, CONFIGURATOR, ENABLED, SIGNALS, TRACES_SAMPLER
from . import _exports
from ._model import ERROR, INFO, WARNING, Export, Facts, Finding

Check = Callable[[Facts], Iterable[Finding]]

_OFF = f"or set {ENABLED}=false to leave OpenTelemetry to it"
_AGENT_BOOTSTRAP = {"ddtrace": "ddtrace-run", "newrelic": "newrelic-admin run-program"}
_AGENT_FIX = {
    "ddtrace": "use one agent per process: start the app without ddtrace-run (and without "
    "`import ddtrace.auto`), ",
    "newrelic": "use one agent per process: start the app without newrelic-admin run-program "
    "(and without newrelic.agent.initialize()), ",
}


def _bootstrap_entry(facts: Facts, agent: str) -> str | None:
    for entry in facts.env.pythonpath:
        parts = os.path.normpath(entry).split(os.sep)
        if parts[-2:] == [agent, "bootstrap"]:
            return entry
    return None


def hook_installation(facts: Facts) -> Iterable[Finding]:
    pth = [f for f in facts.hook_files if f.kind == "pth"]
    if not pth:
        yield Finding(
            ERROR,
            "otel_autoguard.pth is not in any site directory of this interpreter, so the hook "
            "never runs",
            "install the package into this environment with `pip install otel-autoguard` "
            "(a wheel install; running from a source checkout installs no hook)",
        )
    for f in facts.hook_files:
        if not f.as_expected:
            yield Finding(
                ERROR,
                f"{f.path} does not contain what this version installs",
                "reinstall: pip install --force-reinstall otel-autoguard",
            )
    if len(pth) > 1:
        yield Finding(
            WARNING,
            "otel_autoguard.pth is in more than one site directory: "
            + ", ".join(f.path for f in pth),
            "uninstall the copy you do not use (e.g. the user site's: pip uninstall --user)",
        )


def opentelemetry_instrument(facts: Facts) -> Iterable[Finding]:
    entries = [e for e in facts.env.pythonpath if e.rstrip("/").endswith(_OTEL_INSTRUMENT_DIR)]
    for entry in entries:
        yield Finding(
            WARNING,
            f"opentelemetry-instrument's sitecustomize is on PYTHONPATH ({entry}): it sets up "
            "OpenTelemetry in every Python process started from here (reloader parents and "
            "pre-fork masters too), and otel-autoguard leaves those processes to it",
            "start the app without opentelemetry-instrument (e.g. `python app.py`) and remove "
            f"that entry from PYTHONPATH, {_OFF}",
        )


def other_sitecustomize(facts: Facts) -> Iterable[Finding]:
    path = facts.sitecustomize
    if path is None:
        return
    directory = os.path.normpath(os.path.dirname(path))
    bootstraps = (_bootstrap_entry(facts, agent) for agent in _AGENT_BOOTSTRAP)
    if directory.endswith(_OTEL_INSTRUMENT_DIR) or any(
        entry is not None and os.path.normpath(entry) == directory for entry in bootstraps
    ):
        return  # its own check names the tool
    if "opentelemetry" in facts.sitecustomize_text:
        yield Finding(
            WARNING,
            f"a sitecustomize that mentions OpenTelemetry runs at every start ({path}); if it "
            "configures OpenTelemetry, every process gets a second set-up and spans may be "
            "exported twice",
            f"remove the OpenTelemetry set-up from {path} (otel-autoguard does it), {_OFF}",
        )
    else:
        yield Finding(
            INFO,
            f"another sitecustomize runs at every start ({path}); Python imports only the "
            "first sitecustomize on sys.path, so tools that rely on their own (like "
            "opentelemetry-instrument) are shadowed by it",
            "nothing to do unless it sets up an agent; otel-autoguard uses a .pth file and "
            "does not need a sitecustomize",
        )


def other_agents(facts: Facts) -> Iterable[Finding]:
    for agent, launcher in _AGENT_BOOTSTRAP.items():
        entry = _bootstrap_entry(facts, agent)
        if entry is not None or agent in facts.loaded_modules:
            how = (
                f"{launcher}'s bootstrap is on PYTHONPATH ({entry})"
                if entry
                else "it is already imported at start (a sitecustomize or .pth imports it)"
            )
            yield Finding(
                WARNING,
                f"{agent} is active: {how}; it patches the same libraries, so each request is "
                "traced by two agents",
                _AGENT_FIX[agent] + _OFF,
            )
            continue
        configured = [name for a, name in facts.env.agent_variables if a == agent]
        if configured and agent in facts.installed:
            yield Finding(
                INFO,
                f"{agent} is installed and configured ({', '.join(configured)}), not active at "
                "start; if the app starts it itself, each request is traced by two agents",
                _AGENT_FIX[agent] + _OFF,
            )


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


CHECKS: tuple[Check, ...] = (
    hook_installation,
    opentelemetry_instrument,
    other_sitecustomize,
    other_agents,
    exporters,
    protocol_and_port,
    endpoint_paths,
    sdk_inputs,
)


def find(facts: Facts) -> list[Finding]:
    return _merge_signals([finding for check in CHECKS for finding in check(facts)])


def _merge_signals(findings: list[Finding]) -> list[Finding]:
    """One finding for "traces, metrics, logs: X" instead of three identical ones."""
    merged: dict[tuple[str, str, str], list[str]] = {}
    for finding in findings:
        signal, sep, rest = finding.what.partition(": ")
        if not sep or signal not in SIGNALS:
            signal, rest = "", finding.what
        merged.setdefault((finding.severity, rest, finding.fix), []).append(signal)
    return [
        Finding(severity, f"{', '.join(signals)}: {what}" if all(signals) else what, fix)
        for (severity, what, fix), signals in merged.items()
    ]
