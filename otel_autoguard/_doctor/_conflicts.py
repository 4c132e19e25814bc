"""Conflicts: each check reads :class:`Facts` and returns findings, each with its fix.

To add a check, write a function ``(Facts) -> Iterable[Finding]`` and append it to
:data:`CHECKS`; the report, the JSON output and the exit status pick it up. The
checks of the export configuration itself are in :mod:`._config_checks`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from .._instrument_cli import is_its_directory
from .._otlp import SIGNALS
from .._settings import ENABLED
from . import _config_checks
from ._exports import OUR_DEFAULT as _OUR_DEFAULT
from ._model import ERROR, INFO, WARNING, Facts, Finding

Check = Callable[[Facts], Iterable[Finding]]


def _off(tool: str) -> str:
    return f"or set {ENABLED}=false to leave tracing to {tool}"


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
    entries = [e for e in facts.env.pythonpath if is_its_directory(e)]
    ran_here = is_its_directory(os.path.dirname(facts.sitecustomize or ""))
    active = facts.settings.active
    everywhere = not active or facts.settings.role == "skip"
    for entry in entries:
        if active:
            what = (
                f"opentelemetry-instrument's sitecustomize is on PYTHONPATH ({entry}): "
                "otel-autoguard does its work instead (same distro, configurator and "
                "instrumentors) in every process it does not skip, configured only where the "
                "process serves; processes it skips (tools, helpers"
                + (", and every process here: OTEL_AUTOGUARD_ROLE=skip" if everywhere else "")
                + ") are set up by opentelemetry-instrument as usual"
            )
            fix = (
                "nothing to do; starting the app without opentelemetry-instrument (e.g. "
                "`python app.py`) gives its serving processes the same set-up and leaves "
                "tools alone"
            )
        else:
            what = (
                f"opentelemetry-instrument's sitecustomize is on PYTHONPATH ({entry}) and "
                "otel-autoguard is off: it sets up OpenTelemetry in every Python process "
                "started from here (reloader parents and pre-fork masters too)"
            )
            fix = (
                "enable otel-autoguard (see Activation) to have it stand in for that tool, or "
                "start the app without opentelemetry-instrument"
            )
        if ran_here and facts.distro_defaults_undone:
            what += (
                "; it ran in this process too (the doctor is a tool), so the configuration "
                "shown is the OTEL_* variables this process was started with, without the "
                "defaults its distro set here"
            )
        elif ran_here:
            what += (
                "; it ran in this process too, so the configuration shown includes the "
                "defaults its distro set (e.g. OTEL_EXPORTER_OTLP_PROTOCOL=grpc)"
            )
        yield Finding(INFO if active else WARNING, what, fix)
    defaulted = [e.signal for e in facts.exports if e.protocol_source.startswith(_OUR_DEFAULT)]
    if entries and defaulted:
        # otel-autoguard's http/protobuf default applies where it sets up; the processes
        # opentelemetry-instrument sets up get the distro's grpc default instead.
        grpc = "the distro's default, grpc, and the gRPC exporter is not installed"
        if everywhere:
            why = "otel-autoguard is off" if not active else "OTEL_AUTOGUARD_ROLE=skip"
            what = (
                "every process here is set up by opentelemetry-instrument "
                f"({why}) and gets {grpc}: its set-up fails with a traceback on stderr and "
                "nothing is exported"
            )
        else:
            what = (
                "the processes otel-autoguard sets up get http/protobuf, but those it leaves to "
                f"opentelemetry-instrument (tools, helpers) get {grpc}: their set-up fails with "
                "a traceback on stderr (they run on)"
            )
        yield Finding(
            ERROR if everywhere else WARNING,
            f"{', '.join(defaulted)}: no OTLP protocol is set: {what}",
            "set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, or pip install "
            "opentelemetry-exporter-otlp-proto-grpc",
        )


def other_sitecustomize(facts: Facts) -> Iterable[Finding]:
    path = facts.sitecustomize
    if path is None:
        return
    directory = os.path.normpath(os.path.dirname(path))
    bootstraps = (_bootstrap_entry(facts, agent) for agent in _AGENT_BOOTSTRAP)
    if is_its_directory(directory) or any(
        entry is not None and os.path.normpath(entry) == directory for entry in bootstraps
    ):
        return  # its own check names the tool
    if "opentelemetry" in facts.sitecustomize_text:
        yield Finding(
            WARNING,
            f"a sitecustomize that mentions OpenTelemetry runs at every start ({path}); if it "
            "configures OpenTelemetry, every process gets a second set-up and spans may be "
            "exported twice",
            f"remove the OpenTelemetry set-up from {path} (otel-autoguard does it), " + _off("it"),
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
                _AGENT_FIX[agent] + _off(agent),
            )
            continue
        configured = [name for a, name in facts.env.agent_variables if a == agent]
        if configured and agent in facts.installed:
            yield Finding(
                INFO,
                f"{agent} is installed and configured ({', '.join(configured)}), not active at "
                "start; if the app starts it itself, each request is traced by two agents",
                _AGENT_FIX[agent] + _off(agent),
            )


CHECKS: tuple[Check, ...] = (
    hook_installation,
    opentelemetry_instrument,
    other_sitecustomize,
    other_agents,
    _config_checks.exporters,
    _config_checks.protocol_and_port,
    _config_checks.endpoint_paths,
    _config_checks.malformed_headers,
    _config_checks.sdk_inputs,
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
