"""The report as JSON, or as text for a terminal (from the same, already redacted, dict)."""

from __future__ import annotations

import json
import textwrap
from typing import Any

_MARK = {"error": "✗ error", "warning": "! warning", "info": "· info"}


def as_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def _sourced(value: Any, source: Any) -> str:
    return f"{value} ({source})" if source else str(value)


def _installation(part: dict[str, Any]) -> list[str]:
    py = part["python"]
    lines = [
        "Installation",
        f"  otel-autoguard   {part['version']} in {part['package']}",
        f"  Python           {py['version']} ({py['implementation']}) {py['executable']}",
    ]
    for f in part["hook_files"]:
        ok = "" if f["as_expected"] else "  [UNEXPECTED CONTENT]"
        lines.append(f"  .{f['kind']:<15} {f['path']} (read by {f['read_by']}){ok}")
    if not part["hook_files"]:
        lines.append("  hook files       none found in this interpreter's site directories")
    lines.append(f"  hook here        {part['hook_in_this_process']['detail']}")
    packages = ", ".join(f"{k} {v}" for k, v in part["opentelemetry"].items()) or "none"
    wrapped = textwrap.wrap(
        packages, 100, initial_indent=" " * 19, subsequent_indent=" " * 19, break_on_hyphens=False
    )
    lines.append("  OpenTelemetry    " + "\n".join(wrapped).lstrip())
    lines.append("  instrumentations" + ("" if part["instrumentations"] else " none installed"))
    lines += [
        f"    {i['name']:<14} {i['package']}: {i['detail']}" for i in part["instrumentations"]
    ]
    return lines


def _configuration(part: dict[str, Any]) -> list[str]:
    service = part["service_name"]
    sampler = part["sampler"]
    sampler_text = sampler["name"] + (f" (arg {sampler['arg']})" if sampler["arg"] else "")
    attributes = ", ".join(f"{k}={v}" for k, v in part["resource_attributes"].items())
    lines = [
        "Configuration",
        f"  service name     {_sourced(service['value'], service['source'])}",
        f"  resource attrs   {attributes or '(none set)'}",
        f"  sampler          {_sourced(sampler_text, sampler['source'])}",
        f"  propagators      {part['propagators']}",
    ]
    if part["disabled_instrumentations"]:
        lines.append(f"  disabled         {', '.join(part['disabled_instrumentations'])}")
    for s in part["signals"]:
        name = s["signal"]
        if not s["exporters"]:
            lines.append(f"  {name:<16} not exported ({s['exporter_source']}=none)")
            continue
        lines.append(f"  {name:<16} {', '.join(s['exporters'])} ({s['exporter_source']})")
        if s["protocol"]:
            lines.append(f"    protocol       {_sourced(s['protocol'], s['protocol_source'])}")
            lines.append(f"    endpoint       {_sourced(s['endpoint'], s['endpoint_source'])}")
            headers = ", ".join(f"{h}: [REDACTED]" for h in s["headers"])
            lines.append(f"    headers        {_sourced(headers or '(none)', s['headers_source'])}")
    return lines


def _conflicts(findings: list[dict[str, Any]]) -> list[str]:
    lines = ["Conflicts"]
    if not findings:
        return [*lines, "  none found"]
    for finding in findings:
        lines.append(f"  {_MARK.get(finding['severity'], finding['severity'])}: {finding['what']}")
        lines.append(f"      fix: {finding['fix']}")
    return lines


def _check(results: list[dict[str, Any]]) -> list[str]:
    lines = ["Check (an empty OTLP export to each endpoint)"]
    if not results:
        return [*lines, "  no OTLP endpoint is configured"]
    for r in results:
        latency = f" in {r['latency_ms']:g} ms" if r["latency_ms"] is not None else ""
        state = "OK" if r["ok"] else "FAILED" if r["checked"] else "NOT CHECKED"
        # The endpoint goes last: redaction of a query string runs to the next space.
        lines.append(f"  {r['signal']:<8} {state}: {r['detail']}{latency} -> {r['endpoint']}")
    return lines


def _spool(part: dict[str, Any]) -> list[str]:
    state = "on" if part["enabled"] else "off (OTEL_AUTOGUARD_SPOOL=false)"
    lines = ["Hand-over spool", f"  {state}, in {part['folder']}"]
    for s in part["spools"]:
        lines.append(
            f"  {s['service']} at {s['collector']}: {s['batches']} batches, "
            f"{s['bytes']} bytes, oldest {s['oldest_age_s']} s ago"
        )
    if not part["spools"]:
        lines.append("  empty")
    if part["action"]:
        lines.append(f"  {part['action']}")
    return lines


def as_text(report: dict[str, Any]) -> str:
    lines = [f"otel-autoguard doctor {report['otel_autoguard']}", ""]
    lines += [*_installation(report["installation"]), ""]
    activation = report["activation"]
    state = "on" if activation["active"] else "OFF"
    lines += ["Activation", f"  {state}: {activation['reason']}", ""]
    role = report["role"]
    if role:
        lines += [f"Role of `{role['command']}`", f"  {role['role']}: {role['reason']}"]
        lines += [f"  set up by {role['set_up_by']}"] if role.get("set_up_by") else []
        lines += [f"  note: {role['note']}"] if role.get("note") else []
        lines.append("")
    lines += [*_configuration(report["configuration"]), ""]
    lines += [*_conflicts(report["conflicts"]), ""]
    if report["check"] is not None:
        lines += [*_check(report["check"]), ""]
    if report.get("spool") is not None:
        lines += [*_spool(report["spool"]), ""]
    result = report["result"]
    if result["telemetry_flows"]:
        lines.append("Result: telemetry would flow (exit status 0)")
    else:
        lines.append("Result: telemetry would NOT flow (exit status 1):")
        lines += [f"  - {reason}" for reason in result["reasons"]]
    return "\n".join(lines)
