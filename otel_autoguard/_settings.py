"""All environment reading and validation: one frozen :class:`Settings` per process.

Everything else in the package receives a ``Settings`` object and never looks at
``os.environ`` itself, so the parsing rules live in one place and unit tests feed
plain dicts.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._doctor._env import DoctorEnv, Sourced

# Our own variables.
ENABLED = "OTEL_AUTOGUARD_ENABLED"
DEBUG = "OTEL_AUTOGUARD_DEBUG"
STRICT = "OTEL_AUTOGUARD_STRICT"
ROLE = "OTEL_AUTOGUARD_ROLE"
STOP_TIMEOUT = "OTEL_AUTOGUARD_STOP_TIMEOUT"

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
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_BOOL_ACCEPTED = "true/false (also 1/0, yes/no, on/off)"


class SettingsError(ValueError):
    """A malformed value; the message names the variable and what is accepted."""


@dataclasses.dataclass(frozen=True)
class Settings:
    active: bool
    activation_reason: str
    debug: bool = False
    strict: bool = False
    role: str = "auto"
    stop_timeout: float = DEFAULT_STOP_TIMEOUT
    traces_sampler: str | None = None
    configurator: str | None = None
    distro: str | None = None
    werkzeug_run_main: bool = False
    """Werkzeug's own test for "this is the reloader's child" (see _roles for ours)."""
    django_run_main: bool = False
    """Django's autoreloader's own test for its child (``RUN_MAIN=true``)."""
    disabled_instrumentations: tuple[str, ...] = ()
    endpoint: str = "http://localhost:4318"
    endpoint_source: str = "the default"
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


def _parse_bool(
    environ: Mapping[str, str], name: str, problems: list[str], fallback: str
) -> bool | None:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    problems.append(f"{name}={raw!r} is not valid; accepted: {_BOOL_ACCEPTED}; {fallback}")
    return None


def _parse_role(environ: Mapping[str, str], problems: list[str]) -> str:
    raw = environ.get(ROLE)
    if raw is None or not raw.strip():
        return "auto"
    value = raw.strip().lower()
    if value in ROLES:
        return value
    problems.append(f"{ROLE}={raw!r} is not valid; accepted: {', '.join(ROLES)}; using auto")
    return "auto"


def _parse_timeout(environ: Mapping[str, str], problems: list[str]) -> float:
    raw = environ.get(STOP_TIMEOUT)
    if raw is None or not raw.strip():
        return DEFAULT_STOP_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value > 0 and value != float("inf"):
        return value
    problems.append(
        f"{STOP_TIMEOUT}={raw!r} is not valid; accepted: a number of seconds > 0; "
        f"using {DEFAULT_STOP_TIMEOUT:g}"
    )
    return DEFAULT_STOP_TIMEOUT


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
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        value = environ.get(name, "").strip()
        if value:
            return {"endpoint": value, "endpoint_source": name}
    return {}


def _is_true(raw: str | None) -> bool:
    return raw is not None and raw.strip().lower() == "true"


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Parse ``environ`` into :class:`Settings`.

    Never raises for a malformed value: each one becomes a message in
    ``Settings.problems`` and its default is used, so the application keeps running.
    """
    problems: list[str] = []
    enabled = _parse_bool(environ, ENABLED, problems, "deciding as if unset")
    active, reason = _activation(environ, enabled)
    debug = _parse_bool(environ, DEBUG, problems, "using false")
    strict = _parse_bool(environ, STRICT, problems, "using false")
    sampler = environ.get(TRACES_SAMPLER, "").strip() or None
    return Settings(
        active=active,
        activation_reason=reason,
        debug=bool(debug),
        strict=bool(strict),
        role=_parse_role(environ, problems),
        stop_timeout=_parse_timeout(environ, problems),
        traces_sampler=sampler,
        configurator=environ.get(CONFIGURATOR, "").strip() or None,
        distro=environ.get(DISTRO) or None,
        werkzeug_run_main=environ.get(WERKZEUG_RUN_MAIN) == "true",
        django_run_main=environ.get(DJANGO_RUN_MAIN) == "true",
        disabled_instrumentations=tuple(
            name.strip() for name in environ.get(DISABLED_INSTRUMENTATIONS, "").split(",")
        ),
        **_endpoint(environ),
        protocol_set=any(environ.get(name, "").strip() for name in PROTOCOLS),
        has_resource_instance_id="service.instance.id="
        in environ.get(RESOURCE_ATTRIBUTES, "").replace(" ", ""),
        secrets=_secrets(environ),
        problems=tuple(problems),
    )


# --- Where each signal's OTLP exporter connects: read once the SDK is configured (the
# distro sets its defaults then), for the check at exit in _collector.

_OTLP_EXPORTERS = {"otlp": None, "otlp_proto_grpc": "grpc", "otlp_proto_http": "http/protobuf"}
_DEFAULT_ENDPOINTS = {"grpc": "http://localhost:4317", "http/protobuf": "http://localhost:4318"}


@dataclasses.dataclass(frozen=True)
class Collector:
    """One signal's OTLP destination: the endpoint as configured, and its TCP address."""

    signal: str
    endpoint: str
    source: str
    host: str
    port: int


def collectors(environ: Mapping[str, str]) -> tuple[Collector, ...]:
    """The signals exported by one kind of OTLP exporter only, and where each connects.

    The rules are the SDK configurator's: a protocol variable decides over the
    exporter's name, and ``otlp`` alone means gRPC. A signal with no exporter, another
    exporter (``console``, …) or an address this cannot tell (a Unix socket, a
    malformed port) is left out.
    """
    from urllib.parse import urlsplit

    found = []
    for signal in SIGNALS:
        raw = environ.get(f"OTEL_{signal.upper()}_EXPORTER", "")
        names = {name.strip().lower() for name in raw.split(",") if name.strip()}
        if len(names) != 1 or not names <= _OTLP_EXPORTERS.keys():
            continue
        protocol_var, _ = _set(environ, f"{_OTLP}_{signal.upper()}_PROTOCOL", f"{_OTLP}_PROTOCOL")
        protocol = protocol_var or _OTLP_EXPORTERS[names.pop()] or "grpc"
        if protocol not in _DEFAULT_ENDPOINTS:
            continue
        url, source = _set(environ, f"{_OTLP}_{signal.upper()}_ENDPOINT", f"{_OTLP}_ENDPOINT")
        url = url or _DEFAULT_ENDPOINTS[protocol]
        parts = urlsplit(url if "://" in url else f"//{url}")
        try:
            port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        except ValueError:
            continue
        if parts.scheme not in ("", "http", "https") or not parts.hostname or port is None:
            continue
        found.append(Collector(signal, url, source or "the default", parts.hostname, port))
    return tuple(found)


def _set(environ: Mapping[str, str], *names: str) -> tuple[str | None, str | None]:
    """The first of ``names`` set to something, and its name."""
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value, name
    return None, None


# --- What `otel-autoguard doctor` reports: the export set-up per signal and the
# environment around the hook. Read here so that no other module reads variables; the
# types live with the doctor, so a process start does not pay for defining them.

SIGNALS = ("traces", "metrics", "logs")
_OTLP = "OTEL_EXPORTER_OTLP"


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
    from ._doctor._env import Sourced

    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return Sourced(value, name)
    return Sourced()


def _per_signal(environ: Mapping[str, str], signal: str, what: str) -> Sourced:
    return _first(environ, f"{_OTLP}_{signal.upper()}_{what}", f"{_OTLP}_{what}")


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
    from ._doctor._env import DoctorEnv, SignalEnv

    signals = tuple(
        SignalEnv(
            signal=signal,
            exporter=_first(environ, f"OTEL_{signal.upper()}_EXPORTER"),
            protocol=_per_signal(environ, signal, "PROTOCOL"),
            endpoint=_first(environ, f"{_OTLP}_{signal.upper()}_ENDPOINT"),
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
        base_endpoint=_first(environ, f"{_OTLP}_ENDPOINT"),
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
