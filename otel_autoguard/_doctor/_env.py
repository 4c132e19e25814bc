"""What :func:`otel_autoguard._settings.load_doctor_env` returns (it reads; these hold)."""

from __future__ import annotations

import dataclasses


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
