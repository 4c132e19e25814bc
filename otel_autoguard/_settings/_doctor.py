"""The environment as ``otel-autoguard doctor`` reports it: what is set, and where from.

Read here, beside the settings, so that no other module reads variables; imported
by the doctor only, so a process start does not pay for it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from .._otlp import PREFIX, SIGNALS
from . import RESOURCE_ATTRIBUTES, first


@dataclasses.dataclass(frozen=True)
class Sourced:
    """A value and the variable it came from (``None``: unset, a default applies)."""

    value: str | None = None
    source: str | None = None


@dataclasses.dataclass(frozen=True)
class SignalEnv:
    """The variables that decide how one signal is exported, as set (no defaults)."""

    signal: str
    exporter: Sourced
    protocol: Sourced
    endpoint: Sourced
    headers: Sourced
    certificate: Sourced
    client_key: Sourced
    client_certificate: Sourced


@dataclasses.dataclass(frozen=True)
class DoctorEnv:
    signals: tuple[SignalEnv, ...]
    base_endpoint: Sourced
    """``OTEL_EXPORTER_OTLP_ENDPOINT``: used by every signal without its own endpoint."""
    service_name: str | None
    resource_attributes: tuple[tuple[str, str], ...]
    sampler_arg: str | None
    propagators: str | None
    disabled_instrumentations: tuple[str, ...]
    pythonpath: tuple[str, ...]
    agent_variables: tuple[tuple[str, str], ...]
    """(agent, variable name) for each agent variable that is set; values are not kept."""
    has_otel_variables: bool


def exec_environ() -> dict[str, str] | None:
    """The environment this process was exec'd with (Linux), or None where unknown.

    ``/proc/self/environ`` keeps the strings given at exec: changes made in the
    process since (``os.environ.setdefault`` by a ``sitecustomize``) do not show there.
    """
    try:
        with open("/proc/self/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    found = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep and name:
            found[os.fsdecode(name)] = os.fsdecode(value)
    return found


# Variables that show another agent is set up in processes started from here.
AGENT_VARIABLES = {
    "ddtrace": ("DD_TRACE_ENABLED", "DD_API_KEY", "DD_SERVICE", "DD_AGENT_HOST"),
    "newrelic": ("NEW_RELIC_CONFIG_FILE", "NEW_RELIC_LICENSE_KEY", "NEW_RELIC_APP_NAME"),
}


def _first(environ: Mapping[str, str], *names: str) -> Sourced:
    return Sourced(*first(environ, *names))


def _per_signal(environ: Mapping[str, str], signal: str, what: str) -> Sourced:
    return _first(environ, f"{PREFIX}_{signal.upper()}_{what}", f"{PREFIX}_{what}")


def parse_headers(raw: str) -> tuple[tuple[str, str], ...]:
    """``key=value,…`` as OpenTelemetry reads it (URL-decoded, lower-case names).

    An element without ``=`` is kept with an empty name: the exporters ignore it
    (so it is never sent), but it must still be shown as present (never as text).
    """
    from urllib.parse import unquote

    found = []
    for element in raw.split(","):
        if not element.strip():
            continue
        name, sep, value = element.partition("=")
        if sep:
            found.append((unquote(name).strip().lower(), unquote(value).strip()))
        else:
            found.append(("", element.strip()))
    return tuple(found)


def parse_resource_attributes(raw: str) -> tuple[tuple[str, str], ...]:
    from urllib.parse import unquote

    pairs = (element.partition("=") for element in raw.split(",") if element.strip())
    return tuple((unquote(k).strip(), unquote(v).strip()) for k, sep, v in pairs if sep)


def load_doctor_env(environ: Mapping[str, str]) -> DoctorEnv:
    signals = tuple(
        SignalEnv(
            signal=signal,
            exporter=_first(environ, f"OTEL_{signal.upper()}_EXPORTER"),
            protocol=_per_signal(environ, signal, "PROTOCOL"),
            endpoint=_first(environ, f"{PREFIX}_{signal.upper()}_ENDPOINT"),
            headers=_per_signal(environ, signal, "HEADERS"),
            certificate=_per_signal(environ, signal, "CERTIFICATE"),
            client_key=_per_signal(environ, signal, "CLIENT_KEY"),
            client_certificate=_per_signal(environ, signal, "CLIENT_CERTIFICATE"),
        )
        for signal in SIGNALS
    )
    disabled = environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    return DoctorEnv(
        signals=signals,
        base_endpoint=_first(environ, f"{PREFIX}_ENDPOINT"),
        service_name=environ.get("OTEL_SERVICE_NAME", "").strip() or None,
        resource_attributes=parse_resource_attributes(environ.get(RESOURCE_ATTRIBUTES, "")),
        sampler_arg=environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip() or None,
        propagators=environ.get("OTEL_PROPAGATORS", "").strip() or None,
        disabled_instrumentations=tuple(n.strip() for n in disabled.split(",") if n.strip()),
        pythonpath=tuple(p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p),
        agent_variables=tuple(
            (agent, name)
            for agent, names in AGENT_VARIABLES.items()
            for name in names
            if environ.get(name, "").strip()
        ),
        has_otel_variables=any(name.startswith("OTEL_") for name in environ),
    )
