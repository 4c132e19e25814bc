"""The patches behind :mod:`._manual`: the API's provider setter, the SDK's
``add_span_processor``, and instrumenting twice. Each falls back to
OpenTelemetry's own behaviour if it fails."""

from __future__ import annotations

import functools
import sys
from typing import Any

from ._boundary import guard
from ._callsite import OURS, call_site
from ._imports import patch_on_import
from ._manual import AppSetup
from ._patching import is_patched, replace
from ._providers import is_sdk_provider
from ._settings import Settings

_FALLBACK = "OpenTelemetry's own behaviour applies"


def install(app: AppSetup, settings: Settings) -> None:
    patches = {
        "opentelemetry.trace": _patch_api,
        "opentelemetry.sdk.trace": _patch_sdk,
        "opentelemetry.instrumentation.instrumentor": _patch_instrumentor,
        "opentelemetry.instrumentation.flask": _patch_flask,
    }
    patch_on_import(settings, [(m, functools.partial(p, app)) for m, p in patches.items()])


def _patch_sdk(app: AppSetup, module: Any) -> None:
    provider_class = module.TracerProvider
    original = provider_class.add_span_processor
    if is_patched(original):
        return

    def add_span_processor(self: Any, span_processor: Any) -> None:
        with guard(app.settings, "checking an added span processor", _FALLBACK) as outcome:
            app.remember(span_processor, call_site())
            # Where the application added it, even when otel-autoguard adds it later.
            site = app.site_of(span_processor, OURS)
            app.add(self._active_span_processor, span_processor, site, lambda p: original(self, p))
        if not outcome.ok:
            original(self, span_processor)

    replace(provider_class, "add_span_processor", add_span_processor)


def _patch_api(app: AppSetup, trace: Any) -> None:
    original = trace._set_tracer_provider
    if is_patched(original):
        return

    # set_tracer_provider (however it was imported) calls this module global.
    def set_provider(tracer_provider: Any, log: bool) -> None:
        current = trace._TRACER_PROVIDER
        if (
            current is None
            or current is tracer_provider
            or not (is_sdk_provider(current) and is_sdk_provider(tracer_provider))
        ):
            original(tracer_provider, log)
            if current is None and trace._TRACER_PROVIDER is tracer_provider:
                app.first_provider(tracer_provider)
            return
        with guard(
            app.settings, "joining a second TracerProvider to the first", _FALLBACK
        ) as outcome:
            app.join(current, tracer_provider, call_site())
        if not outcome.ok:
            original(tracer_provider, log)

    replace(trace, "_set_tracer_provider", set_provider)

    # The API's placeholder, until an SDK provider is set: the documented
    # get_tracer_provider().add_span_processor(...) would raise AttributeError in
    # a process that is not configured yet (a reloader parent, a plain server).
    placeholder = trace.ProxyTracerProvider
    if not hasattr(placeholder, "add_span_processor"):

        def hold(self: Any, span_processor: Any) -> None:
            with guard(app.settings, "holding a span processor", "it is not added"):
                app.hold(span_processor)

        replace(placeholder, "add_span_processor", hold)


def _patch_instrumentor(app: AppSetup, module: Any) -> None:
    base = module.BaseInstrumentor
    original = base.instrument
    if is_patched(original):
        return

    def instrument(self: Any, **kwargs: Any) -> Any:
        if getattr(self, "_is_instrumented_by_opentelemetry", False):
            # OpenTelemetry would log "Attempting to instrument while already
            # instrumented" and ignore the call, tracer_provider= included.
            _already_instrumented(app, f"{type(self).__name__}().instrument()", kwargs)
            return None
        return original(self, **kwargs)

    replace(base, "instrument", instrument)


def _patch_flask(app: AppSetup, module: Any) -> None:
    instrumentor = module.FlaskInstrumentor
    original = instrumentor.instrument_app
    if is_patched(original):
        return
    names = ("request_hook", "response_hook", "tracer_provider")

    def instrument_app(flask_app: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(flask_app, "_is_instrumented_by_opentelemetry", False):
            given = dict(zip(names, args), **kwargs)
            _already_instrumented(app, "FlaskInstrumentor().instrument_app(app)", given)
            return None
        return original(flask_app, *args, **kwargs)

    replace(instrumentor, "instrument_app", staticmethod(instrument_app))


def _already_instrumented(app: AppSetup, call: str, kwargs: dict[str, Any]) -> None:
    """The app instruments what otel-autoguard instrumented at start.

    The instrumentation uses the global provider; a ``tracer_provider=`` the app
    passes is treated as if it had been set globally (rule 1), so the app's own
    pipelines still receive the spans.
    """
    site = call_site()
    provider = kwargs.get("tracer_provider")
    trace = sys.modules.get("opentelemetry.trace")
    joined = ""
    if (
        trace is not None
        and is_sdk_provider(provider)
        and provider is not getattr(trace, "_TRACER_PROVIDER", None)
    ):
        trace.set_tracer_provider(provider)
        joined = "; its tracer_provider was joined to the global one"
    app.debug(
        f"{site}: {call}: already instrumented (otel-autoguard instruments installed "
        f"libraries at start){joined or '; nothing to do'}"
    )
