"""``otel-autoguard doctor``: collect facts, find conflicts, optionally check, render.

The report is one plain dict (the ``--json`` document); the human text is rendered
from it. Every string in it goes through ``Settings.redact`` before anything is
printed, and header values are never put in it at all.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .. import __version__
from .._instrument_cli import is_its_directory
from .._settings import Settings, load_settings
from .._settings._doctor import DoctorEnv, exec_environ, load_doctor_env
from . import _check, _collect, _conflicts, _render, _role, _spool
from ._model import ERROR, Export, Facts
from ._role import role


def run(
    environ: Mapping[str, str],
    *,
    command: Sequence[str] = (),
    as_json: bool = False,
    check: bool = False,
    timeout: float = 5.0,
    spool_action: str | None = None,
) -> int:
    started = started_with(environ)
    # otel-autoguard decides on the variables as given, before any sitecustomize runs.
    settings = load_settings(started or environ)
    # Where it takes processes on, opentelemetry-instrument's defaults never apply.
    undone = started is not None and settings.active and settings.role != "skip"
    if started is not None and undone:
        environ = started
    env = load_doctor_env(environ)
    facts = _collect.facts(settings, env, distro_defaults_undone=undone)
    report = build(facts, environ, command)
    report["spool"] = _spool.report(settings, environ, spool_action)
    if check:
        report["check"] = _check.check_all(facts.exports, timeout)
    report["result"] = verdict(report)
    report = redact(report, settings)
    text = _render.as_json(report) if as_json else _render.as_text(report)
    sys.stdout.write(settings.redact(text) + "\n")
    sys.stdout.flush()
    return int(report["result"]["exit_status"])


def started_with(environ: Mapping[str, str]) -> Mapping[str, str] | None:
    """The ``OTEL_*`` variables as given, when opentelemetry-instrument's sitecustomize ran here.

    The doctor is a tool, so otel-autoguard left it to that sitecustomize, whose
    distro then set its defaults (``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``, the exporters)
    in this process. The processes otel-autoguard takes on never run it. None when it
    did not run here, or the starting environment cannot be read.
    """
    if not is_its_directory(os.path.dirname(_collect.sitecustomize()[0] or "")):
        return None
    given = exec_environ()
    if given is None:
        return None
    kept = {k: v for k, v in environ.items() if not k.startswith("OTEL_")}
    kept.update((k, v) for k, v in given.items() if k.startswith("OTEL_"))
    return kept


def build(facts: Facts, environ: Mapping[str, str], cmd: Sequence[str]) -> dict[str, Any]:
    settings, env = facts.settings, facts.env
    return {
        "otel_autoguard": __version__,
        "installation": installation(facts),
        "activation": {"active": settings.active, "reason": settings.activation_reason},
        "role": role(environ, settings, env, cmd),
        "configuration": configuration(settings, env, facts.exports),
        "conflicts": [
            finding.as_dict()
            for finding in (
                *_conflicts.find(facts),
                *_role.conflicts(environ, settings, env, cmd),
            )
        ],
        "check": None,
    }


def installation(facts: Facts) -> dict[str, Any]:
    import otel_autoguard

    return {
        "version": __version__,
        "package": os.path.dirname(otel_autoguard.__file__ or ""),
        "python": _collect.python_info(),
        "hook_files": [
            {
                "path": f.path,
                "kind": f.kind,
                "as_expected": f.as_expected,
                "read_by": "site, at every start"
                if f.kind == "pth"
                else "site on Python 3.15+ (PEP 829)",
            }
            for f in facts.hook_files
        ],
        "hook_in_this_process": _collect.hook_state(facts.env, facts.hook_files),
        "opentelemetry": _collect.opentelemetry_packages(),
        "instrumentations": _collect.instrumentations(facts.env.disabled_instrumentations),
    }


def _header_names(headers: Sequence[tuple[str, str]]) -> list[str]:
    return [name or "(an element without '=')" for name, _ in headers]


def _signal(export: Export) -> dict[str, Any]:
    return {
        "signal": export.signal,
        "exporters": list(export.exporters),
        "exporter_source": export.exporter_source,
        "protocol": export.protocol,
        "protocol_source": export.protocol_source or None,
        "endpoint": export.endpoint,
        "endpoint_source": export.endpoint_source or None,
        "headers": _header_names(export.headers),
        "headers_source": export.headers_source,
    }


def configuration(settings: Settings, env: DoctorEnv, exports: Sequence[Export]) -> dict[str, Any]:
    attributes = dict(env.resource_attributes)
    if env.service_name:
        service = {"value": env.service_name, "source": "OTEL_SERVICE_NAME"}
    elif attributes.get("service.name"):
        service = {"value": attributes["service.name"], "source": "OTEL_RESOURCE_ATTRIBUTES"}
    else:
        service = {"value": "unknown_service", "source": "the SDK's default"}
    return {
        "service_name": service,
        "resource_attributes": attributes,
        "sampler": {
            "name": settings.traces_sampler or "parentbased_always_on",
            "source": "OTEL_TRACES_SAMPLER" if settings.traces_sampler else "the SDK's default",
            "arg": env.sampler_arg,
        },
        "propagators": env.propagators or "tracecontext,baggage",
        "disabled_instrumentations": list(env.disabled_instrumentations),
        "signals": [_signal(export) for export in exports],
    }


def verdict(report: dict[str, Any]) -> dict[str, Any]:
    reasons = []
    found = report["role"]
    # Off, otel-autoguard sets up nothing; opentelemetry-instrument, launching the command,
    # still does.
    instrumented = found is not None and found["set_up_by"] == "opentelemetry-instrument"
    if not report["activation"]["active"] and not instrumented:
        reasons.append(f"otel-autoguard is off: {report['activation']['reason']}")
    reasons += [c["what"] for c in report["conflicts"] if c["severity"] == ERROR]
    if found and report["activation"]["active"] and not found["set_up_by"]:
        reasons.append(f"`{found['command']}` gets role {found['role']}: {found['reason']}")
    for result in report["check"] or ():
        # Not checked means a conflict already says why (e.g. no gRPC exporter).
        if result["checked"] and not result["ok"]:
            reasons.append(
                f"{result['signal']}: export to {result['endpoint']} failed: {result['detail']}"
            )
    return {"telemetry_flows": not reasons, "exit_status": 1 if reasons else 0, "reasons": reasons}


def redact(value: Any, settings: Settings) -> Any:
    """Every string of the report (keys too) through ``Settings.redact``."""
    if isinstance(value, str):
        return settings.redact(value)
    if isinstance(value, dict):
        return {redact(k, settings): redact(v, settings) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v, settings) for v in value]
    return value
