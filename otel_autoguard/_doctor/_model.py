"""What the doctor knows about this environment, gathered once, read by every check."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from .._settings import Settings
from .._settings._doctor import DoctorEnv

ERROR = "error"
"""Telemetry would not flow (the exit status is 1)."""
WARNING = "warning"
"""Telemetry flows, but not as the user probably expects (duplicates, a second agent…)."""
INFO = "info"


@dataclasses.dataclass(frozen=True)
class Finding:
    severity: str
    what: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Export:
    """How one signal is exported, with OpenTelemetry's defaults applied."""

    signal: str
    exporters: tuple[str, ...]
    """Exporter names as configured (``otlp``, ``console``…); empty for ``none``."""
    exporter_source: str
    entry_points: tuple[str, ...]
    """What the SDK looks up for them (``otlp`` → ``otlp_proto_http`` or ``otlp_proto_grpc``)."""
    protocol: str | None
    protocol_source: str
    endpoint: str | None
    endpoint_source: str
    headers: tuple[tuple[str, str], ...]
    """Sent by --check; only the names are ever shown."""
    headers_source: str | None
    certificate: str | None = None
    client_key: str | None = None
    client_certificate: str | None = None

    @property
    def otlp(self) -> bool:
        return any(name.startswith("otlp") for name in self.entry_points)


@dataclasses.dataclass(frozen=True)
class HookFile:
    path: str
    kind: str  # "pth" or "start"
    as_expected: bool
    """Its content is the line (or entry point) this version installs."""


@dataclasses.dataclass(frozen=True)
class Facts:
    """Inputs of the conflict checks; each field was read once by :mod:`._collect`."""

    settings: Settings
    env: DoctorEnv
    exports: tuple[Export, ...]
    entry_points: Mapping[str, frozenset[str]]
    """Installed entry-point names by group (exporters, samplers, configurators)."""
    hook_files: tuple[HookFile, ...]
    sitecustomize: str | None
    """The file of the ``sitecustomize`` module this interpreter imported, if any."""
    sitecustomize_text: str
    loaded_modules: frozenset[str]
    """Top-level names of the agents' modules already imported in this interpreter."""
    installed: frozenset[str]
    """Top-level modules of other agents that are importable here."""
    distro_defaults_undone: bool = False
    """opentelemetry-instrument ran here; its distro's defaults were left out of ``env``."""
