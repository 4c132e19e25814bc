"""All environment reading and validation: one frozen :class:`Settings` per process.

Everything else in the package receives a ``Settings`` object and never looks at
``os.environ`` itself, so the parsing rules live in one place and unit tests feed
plain dicts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from .. import _otlp
from ._spool import SpoolSettings, load_spool
from ._values import parse_bool, parse_seconds

# Our own variables.
ENABLED = "OTEL_AUTOGUARD_ENABLED"
DEBUG = "OTEL_AUTOGUARD_DEBUG"
STRICT = "OTEL_AUTOGUARD_STRICT"
ROLE = "OTEL_AUTOGUARD_ROLE"
STOP_TIMEOUT = "OTEL_AUTOGUARD_STOP_TIMEOUT"
DECISION_LOG = "OTEL_AUTOGUARD_DECISION_LOG"
INSTRUMENT = "OTEL_AUTOGUARD_INSTRUMENT"
INSTRUMENT_WHEN = ("on-import", "at-start")

# Standard OpenTelemetry variables that decide activation or that we validate.
SDK_DISABLED = "OTEL_SDK_DISABLED"
TRACES_SAMPLER = "OTEL_TRACES_SAMPLER"
RESOURCE_ATTRIBUTES = "OTEL_RESOURCE_ATTRIBUTES"
CONFIGURATOR = "OTEL_PYTHON_CONFIGURATOR"
DISTRO = "OTEL_PYTHON_DISTRO"
DISABLED_INSTRUMENTATIONS = "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
WERKZEUG_RUN_MAIN = "WERKZEUG_RUN_MAIN"
DJANGO_RUN_MAIN = "RUN_MAIN"
# Set by a reloader parent for its child (see _roles.reloader_child); internal.
RELOADER_PID = "OTEL_AUTOGUARD_RELOADER_PID"
ACTIVATING = (
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_CONFIG_FILE",
)
PROTOCOLS = (
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
)
# Header variables carry credentials: their values never reach a message.
SECRET_SUFFIX = "_HEADERS"

BUILTIN_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
ROLES = ("auto", "serve", "skip")
DEFAULT_STOP_TIMEOUT = 20.0

# User info ("user:password@") and query strings ("?api_key=…") of URLs in messages.
_URL_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]+@")
_URL_QUERY = re.compile(r"(\w+://[^\s?#]*)\?[^\s#'\"]*")


class SettingsError(ValueError):
    """A malformed value; the message names the variable and what is accepted."""


class Settings(NamedTuple):
    """Immutable; a NamedTuple, because a dataclass costs every activated process the
    import of ``dataclasses`` and ``inspect`` (~9 ms)."""

    active: bool
    activation_reason: str
    debug: bool = False
    strict: bool = False
    role: str = "auto"
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    decision_log: str | None = None
    """A file each process appends its decisions to, as JSON lines (see ``_decisions``)."""
    spool: SpoolSettings = SpoolSettings()
    """The hand-over spool (``_handover``, ``_spool``)."""
    traces_sampler: str | None = None
    configurator: str | None = None
    distro: str | None = None
    werkzeug_run_main: bool = False
    """Werkzeug's own test for "this is the reloader's child" (see _roles for ours)."""
    django_run_main: bool = False
    """Django's autoreloader's own test for its child (``RUN_MAIN=true``)."""
    disabled_instrumentations: tuple[str, ...] = ()
    instrument_at_start: bool = False
    """Every instrumentor applied at start, as opentelemetry-instrument does (see _otel)."""
    endpoint: str = _otlp.DEFAULT_ENDPOINTS[_otlp.HTTP]
    endpoint_source: str = _otlp.DEFAULT
    protocol_set: bool = False
    has_resource_instance_id: bool = False
    secrets: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def reloader_child(self) -> bool:
        """A reloader's own test says this is its serving child (Werkzeug or Django)."""
        return self.werkzeug_run_main or self.django_run_main

    def redact(self, text: str) -> str:
        """Replace every secret value (and each of its parts) and URL credentials."""
        for secret in self.secrets:
            text = text.replace(secret, "[REDACTED]")
        text = _URL_CREDENTIALS.sub(r"\1[REDACTED]@", text)
        return _URL_QUERY.sub(r"\1?[REDACTED]", text)


def _parse_role(environ: Mapping[str, str], problems: list[str]) -> str:
    raw = environ.get(ROLE)
    if raw is None or not raw.strip():
        return "auto"
    value = raw.strip().lower()
    if value in ROLES:
        return value
    problems.append(f"{ROLE}={raw!r} is not valid; accepted: {', '.join(ROLES)}; using auto")
    return "auto"


def _instrument_at_start(environ: Mapping[str, str], problems: list[str]) -> bool:
    raw = environ.get(INSTRUMENT)
    if raw is None or not raw.strip():
        return False
    value = raw.strip().lower()
    if value in INSTRUMENT_WHEN:
        return value == "at-start"
    accepted = ", ".join(INSTRUMENT_WHEN)
    problems.append(f"{INSTRUMENT}={raw!r} is not valid; accepted: {accepted}; using on-import")
    return False


def _secrets(environ: Mapping[str, str]) -> tuple[str, ...]:
    found: set[str] = set()
    for name, value in environ.items():
        if not (name.startswith("OTEL_") and name.endswith(SECRET_SUFFIX)):
            continue
        # The whole value, each element, and each element's value: a malformed
        # element ("Authorization: Bearer x") is as secret as a well-formed one.
        for part in (value, *value.split(",")):
            for piece in (part, re.split(r"[=:]", part, maxsplit=1)[-1]):
                if len(piece.strip()) >= 3:
                    found.add(piece.strip())
                if "%" in piece:
                    # Exporters send (and may report) the URL-decoded value.
                    from urllib.parse import unquote

                    decoded = unquote(piece).strip()
                    if len(decoded) >= 3:
                        found.add(decoded)
    # Longest first, so a whole value is replaced before its parts.
    return tuple(sorted(found, key=len, reverse=True))


def _activation(environ: Mapping[str, str], enabled: bool | None) -> tuple[bool, str]:
    if _is_true(environ.get(SDK_DISABLED)):
        return False, f"{SDK_DISABLED}=true"
    if enabled is True:
        return True, f"{ENABLED}=true"
    if enabled is False:
        return False, f"{ENABLED}=false"
    present = [name for name in ACTIVATING if environ.get(name, "").strip()]
    if present:
        return True, f"{present[0]} is set"
    return False, f"no OpenTelemetry configuration ({', '.join(ACTIVATING)}) and {ENABLED} unset"


def _endpoint(environ: Mapping[str, str]) -> dict[str, str]:
    own = first(environ, f"{_otlp.PREFIX}_TRACES_ENDPOINT")
    endpoint, source = _otlp.configured(own, first(environ, _otlp.GENERAL_ENDPOINT), _otlp.HTTP)
    return {"endpoint": endpoint, "endpoint_source": source}


def first(environ: Mapping[str, str], *names: str) -> _otlp.Sourced:
    """The first of ``names`` set to something, and its name; ``(None, None)`` if none is."""
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value, name
    return None, None


def _is_true(raw: str | None) -> bool:
    return raw is not None and raw.strip().lower() == "true"


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Parse ``environ`` into :class:`Settings`.

    Never raises for a malformed value: each one becomes a message in
    ``Settings.problems`` and its default is used, so the application keeps running.
    """
    problems: list[str] = []
    enabled = parse_bool(environ, ENABLED, problems, "deciding as if unset")
    active, reason = _activation(environ, enabled)
    debug = parse_bool(environ, DEBUG, problems, "using false")
    strict = parse_bool(environ, STRICT, problems, "using false")
    sampler = environ.get(TRACES_SAMPLER, "").strip() or None
    return Settings(
        active=active,
        activation_reason=reason,
        debug=bool(debug),
        strict=bool(strict),
        role=_parse_role(environ, problems),
        stop_timeout=parse_seconds(environ, STOP_TIMEOUT, DEFAULT_STOP_TIMEOUT, problems),
        spool=load_spool(environ, problems),
        decision_log=environ.get(DECISION_LOG, "").strip() or None,
        traces_sampler=sampler,
        configurator=environ.get(CONFIGURATOR, "").strip() or None,
        distro=environ.get(DISTRO) or None,
        werkzeug_run_main=environ.get(WERKZEUG_RUN_MAIN) == "true",
        django_run_main=environ.get(DJANGO_RUN_MAIN) == "true",
        disabled_instrumentations=tuple(
            name.strip() for name in environ.get(DISABLED_INSTRUMENTATIONS, "").split(",")
        ),
        instrument_at_start=_instrument_at_start(environ, problems),
        **_endpoint(environ),
        protocol_set=any(environ.get(name, "").strip() for name in PROTOCOLS),
        has_resource_instance_id="service.instance.id="
        in environ.get(RESOURCE_ATTRIBUTES, "").replace(" ", ""),
        secrets=_secrets(environ),
        problems=tuple(problems),
    )
