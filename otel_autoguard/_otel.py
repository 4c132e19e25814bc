"""Calls into OpenTelemetry's own machinery: the distro, instrumentors, configurator.

Split in two steps so that a process whose role is unknown at start can patch
libraries early (the API's proxy providers keep the patches inert) and set up
the SDK only once it serves.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any

from . import _boundary
from ._otel_log import otel_warnings, quiet_export_failures
from ._settings import (
    BUILTIN_SAMPLERS,
    CONFIGURATOR,
    DISABLED_INSTRUMENTATIONS,
    TRACES_SAMPLER,
    Settings,
)

_GRPC_EXPORTER = "opentelemetry.exporter.otlp.proto.grpc"
_SAMPLER_GROUP = "opentelemetry_traces_sampler"
_CONFIGURATOR_GROUP = "opentelemetry_configurator"
_INSTRUMENTOR_GROUP = "opentelemetry_instrumentor"
_STOCK_DISTRO = "opentelemetry.distro:OpenTelemetryDistro"

_distro: Any = None


def _distro_instance(settings: Settings) -> Any:
    """The installed distro, configured (it sets the SDK's environment defaults)."""
    global _distro
    if _distro is None:
        from opentelemetry.instrumentation.auto_instrumentation._load import _load_distro

        _distro = _load_distro()
        # The distro defaults OTLP to gRPC, which fails when only the HTTP exporter
        # (the one we depend on) is installed. Set before the distro's setdefault.
        if not settings.protocol_set and importlib.util.find_spec(_GRPC_EXPORTER) is None:
            os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
        _distro.configure()
    return _distro


def _instrumenting_distro(settings: Settings) -> Any:
    """The distro that loads instrumentors, without importing the SDK when possible.

    OpenTelemetry's own distro does not change how instrumentors load (it inherits
    ``BaseDistro.load_instrumentor``), but importing it imports the SDK. A process
    that may never serve (a reloader parent) uses ``DefaultDistro`` in its stead
    and keeps the SDK out of memory; any other distro is loaded and used.
    """
    if _distro is not None:
        return _distro
    from opentelemetry.util._importlib_metadata import entry_points

    # mypy cannot read opentelemetry.instrumentation.distro (0.66b2): take it as Any.
    default = importlib.import_module("opentelemetry.instrumentation.distro").DefaultDistro
    for entry_point in entry_points(group="opentelemetry_distro"):
        if settings.distro in (None, entry_point.name):
            if entry_point.value.replace(" ", "") == _STOCK_DISTRO:
                return default()
            return _distro_instance(settings)
    return default()


def instrument(settings: Settings) -> None:
    """Apply every installed instrumentor (entry points), as opentelemetry-instrument does.

    Except those in ``LATE``: see :func:`instrument_late`.
    """
    from opentelemetry.instrumentation.auto_instrumentation._load import _load_instrumentors

    with otel_warnings(settings), _excluding(LATE):
        _load_instrumentors(_instrumenting_distro(settings))  # type: ignore[no-untyped-call]


# Instrumentors that need the application's own set-up first. Django's reads
# settings.MIDDLEWARE: before the application has chosen DJANGO_SETTINGS_MODULE it
# calls settings.configure() with empty settings, which breaks the application.
LATE = ("django",)
_late_done: set[str] = set()


def instrument_late(settings: Settings, name: str) -> None:
    """Apply one instrumentor held back by :func:`instrument`, now that its library is set up."""
    from opentelemetry.util._importlib_metadata import entry_points

    disabled = settings.disabled_instrumentations
    if name in disabled or "*" in disabled or name in _late_done:
        return
    # Django calls setup() more than once under runserver.
    _late_done.add(name)
    with otel_warnings(settings):
        for entry_point in entry_points(group=_INSTRUMENTOR_GROUP, name=name):
            _instrumenting_distro(settings).load_instrumentor(entry_point)


@contextlib.contextmanager
def _excluding(names: tuple[str, ...]) -> Iterator[None]:
    # _load_instrumentors reads its exclusions from the environment only.
    saved = os.environ.get(DISABLED_INSTRUMENTATIONS)
    os.environ[DISABLED_INSTRUMENTATIONS] = ",".join(filter(None, (saved, *names)))
    try:
        yield
    finally:
        if saved is None:
            del os.environ[DISABLED_INSTRUMENTATIONS]
        else:
            os.environ[DISABLED_INSTRUMENTATIONS] = saved


def _entry_point_names(group: str) -> set[str]:
    from opentelemetry.util._importlib_metadata import entry_points

    return {ep.name for ep in entry_points(group=group)}


@contextlib.contextmanager
def _without_bad_sampler(settings: Settings) -> Iterator[None]:
    name = settings.traces_sampler
    if name is None or name in BUILTIN_SAMPLERS or name in _entry_point_names(_SAMPLER_GROUP):
        yield
        return
    _boundary.emit(
        settings,
        f"{TRACES_SAMPLER}={name!r} is not a known sampler; accepted: "
        f"{', '.join(BUILTIN_SAMPLERS)}, or a name in the {_SAMPLER_GROUP} "
        "entry-point group; using the default parentbased_always_on",
    )
    # The SDK reads the variable itself; hide it for the duration so the default
    # applies without a second, vaguer warning.
    saved = os.environ.pop(TRACES_SAMPLER)
    try:
        yield
    finally:
        os.environ[TRACES_SAMPLER] = saved


def configure_sdk(settings: Settings) -> str:
    """Run the installed configurator (the distro's SDK configurator); returns its class."""
    from opentelemetry.instrumentation.version import __version__ as auto_version
    from opentelemetry.util._importlib_metadata import entry_points

    _distro_instance(settings)
    attributes: dict[str, Any] = {"process.pid": os.getpid()}
    if not settings.has_resource_instance_id:
        attributes["service.instance.id"] = str(uuid.uuid4())
    wanted = settings.configurator
    with otel_warnings(settings), _without_bad_sampler(settings):
        for entry_point in entry_points(group=_CONFIGURATOR_GROUP):
            if wanted and entry_point.name != wanted:
                continue
            # Same call as opentelemetry-instrument's loader, plus this process's
            # identity, which it cannot know (it may run before a fork or reload).
            entry_point.load()().configure(
                auto_instrumentation_version=auto_version, resource_attributes=attributes
            )
            quiet_export_failures(settings)
            keep_secrets_local()
            # What the line names: the class (opentelemetry.distro.OpenTelemetryConfigurator).
            return str(entry_point.value).replace(":", ".")
    hint = f"{CONFIGURATOR}={wanted!r}" if wanted else "none is installed"
    raise RuntimeError(
        f"no OpenTelemetry configurator to run ({hint}); install opentelemetry-distro"
    )


class _NoDebuggerPin(logging.Filter):
    """Werkzeug's ``* Debugger PIN: …`` line unlocks its debugger's remote console."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("werkzeug") and "Debugger PIN:" in str(record.msg))


def keep_secrets_local() -> None:
    """OpenTelemetry's log handlers never export the debugger PIN; the console still shows it."""
    for handler in logging.getLogger().handlers:
        opentelemetry = type(handler).__module__.startswith("opentelemetry")
        if opentelemetry and not any(isinstance(f, _NoDebuggerPin) for f in handler.filters):
            handler.addFilter(_NoDebuggerPin())
