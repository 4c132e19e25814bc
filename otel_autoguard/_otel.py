"""Calls into OpenTelemetry's own machinery: the distro, instrumentors, configurator.

Split in two steps so that a process whose role is unknown at start can patch
libraries early (the API's proxy providers keep the patches inert) and set up
the SDK only once it serves.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import os
from collections.abc import Iterator
from typing import Any

from . import _boundary, _flask_pending, _instrumentors, _monkey
from ._boundary import guard
from ._imports import patch_on_import
from ._instrumentors import Found
from ._requirements import plainly_met
from ._settings import (
    BUILTIN_SAMPLERS,
    CONFIGURATOR,
    TRACES_SAMPLER,
    Settings,
)

_GRPC_EXPORTER = "opentelemetry.exporter.otlp.proto.grpc"
_SAMPLER_GROUP = "opentelemetry_traces_sampler"
_CONFIGURATOR_GROUP = "opentelemetry_configurator"
_STOCK_DISTRO = "opentelemetry.distro:OpenTelemetryDistro"

_distro: Any = None


def _distro_instance(settings: Settings) -> Any:
    """The installed distro, configured (it sets the SDK's environment defaults)."""
    global _distro
    if _distro is None:
        _distro = _load_distro(settings)
        # The distro defaults OTLP to gRPC, which fails when only the HTTP exporter
        # (the one we depend on) is installed. Set before the distro's setdefault.
        if not settings.protocol_set and importlib.util.find_spec(_GRPC_EXPORTER) is None:
            os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
        _distro.configure()
    return _distro


def _load_distro(settings: Settings) -> Any:
    """opentelemetry-instrument's choice of distro (``_load_distro``), without importing
    its loader, which imports packaging for its dependency checks (see ``_requirements``)."""
    from opentelemetry.util._importlib_metadata import entry_points

    distros = importlib.import_module("opentelemetry.instrumentation.distro")
    for entry_point in entry_points(group="opentelemetry_distro"):
        if settings.distro in (None, entry_point.name):
            distro = entry_point.load()()
            if isinstance(distro, distros.BaseDistro):
                return distro
    return distros.DefaultDistro()


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


def instrument(settings: Settings, *, serving: bool) -> None:
    """Have every installed instrumentor applied when its library is imported.

    Those that wait for serving (:data:`._instrumentors.SERVING`) are applied now
    if the process ``serving``, else by :func:`instrument_serving`; so is Flask's,
    imported before the role is known (:mod:`._flask_pending`). ``LATE`` ones
    wait for :func:`instrument_late`. With ``OTEL_AUTOGUARD_INSTRUMENT=at-start``
    all are applied now, as opentelemetry-instrument does.
    """
    disabled = settings.disabled_instrumentations
    if "*" in disabled:
        return
    patch_on_import(settings, _monkey.hooks())
    found = _installed()
    for entry in found.instrumentors:
        if entry.name in disabled or entry.name in LATE:
            continue
        module = _instrumentors.target(entry.name, found.names)
        if settings.instrument_at_start or (module is None and serving):
            _apply(settings, entry)
        elif module is None:
            _waiting.append(entry)
        else:
            callback = functools.partial(_on_import, settings, entry)
            if entry.name == _flask_pending.ENTRY:  # held back while the role is unknown
                callback = functools.partial(_flask_pending.on_import, settings, callback)
            patch_on_import(settings, [(module, callback)])


def instrument_serving(settings: Settings) -> None:
    """Apply the instrumentors that wait for this process to serve (see :func:`instrument`)."""
    _flask_pending.release()
    while _waiting:
        _apply(settings, _waiting.pop(0))


def _on_import(settings: Settings, entry: Found, _module: object) -> None:
    if not _monkey.after_patching(functools.partial(_apply, settings, entry)):
        _apply(settings, entry)


def _installed() -> _instrumentors.Installed:
    global _found
    if _found is None:
        _found = _instrumentors.installed()
    return _found


_found: _instrumentors.Installed | None = None
_waiting: list[Found] = []
"""Instrumentors applied when the process serves; a supervisor's forks inherit them."""
_done: set[str] = set()
"""Entry-point names applied (or tried) in this process: each at most once."""


def _apply(settings: Settings, entry: Found) -> None:
    """What opentelemetry-instrument does for one entry point: check its dependencies,
    then ``distro.load_instrumentor``; a library that is absent is skipped quietly."""
    if entry.name in _done:
        return
    first = not _done
    _done.add(entry.name)
    from ._otel_log import otel_warnings

    consequence = f"{entry.name} is not traced"
    with guard(settings, f"instrumenting {entry.name}", consequence), otel_warnings(settings):
        if first:  # the hooks around "all instrumentors": here, around the first
            _run_hooks("opentelemetry_pre_instrument")
        _load(settings, entry)
        if first:
            _run_hooks("opentelemetry_post_instrument")


def _load(settings: Settings, entry: Found) -> None:
    import logging
    from importlib.metadata import Distribution, EntryPoint

    logger = logging.getLogger("opentelemetry.instrumentation.auto_instrumentation._load")
    dist = Distribution.at(entry.dist_path)
    conflict = None
    if not plainly_met(dist.requires, _version_of):
        # mypy cannot read opentelemetry.instrumentation.dependencies (0.66b2): take it as Any.
        dependencies = importlib.import_module("opentelemetry.instrumentation.dependencies")
        conflict = dependencies.get_dist_dependency_conflicts(dist)
    if conflict:
        # 0.51+: an error for a version out of range, debug for a library not installed.
        log = getattr(conflict, "_log", None)
        if log is not None:
            log(logger, entry.name)
        else:
            logger.debug("Skipping instrumentation %s: %s", entry.name, conflict)
        return
    try:
        _instrumenting_distro(settings).load_instrumentor(
            EntryPoint(entry.name, entry.value, _instrumentors.INSTRUMENTOR_GROUP),
            skip_dep_check=True,
        )
    except ModuleNotFoundError as exc:  # what opentelemetry-instrument skips too
        logger.debug("Skipping instrumentation %s: %s", entry.name, exc.msg)


def _version_of(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _run_hooks(group: str) -> None:
    from opentelemetry.util._importlib_metadata import entry_points

    for entry_point in entry_points(group=group):
        entry_point.load()()


# Instrumentors that need the application's own set-up first. Django's reads
# settings.MIDDLEWARE: before the application has chosen DJANGO_SETTINGS_MODULE it
# calls settings.configure() with empty settings, which breaks the application.
LATE = ("django",)


def instrument_late(settings: Settings, name: str) -> None:
    """Apply one instrumentor held back by :func:`instrument`, now that its library is set up."""
    disabled = settings.disabled_instrumentations
    if name in disabled or "*" in disabled or name in _done:
        return
    for entry in _installed().instrumentors:
        if entry.name == name:
            _apply(settings, entry)  # once: Django calls setup() more than once


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
    import uuid

    from opentelemetry.instrumentation.version import __version__ as auto_version
    from opentelemetry.util._importlib_metadata import entry_points

    from ._otel_log import keep_secrets_local, otel_warnings, quiet_export_failures

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
