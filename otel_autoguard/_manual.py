"""When the application sets up OpenTelemetry itself: one provider, each pipeline once.

The rule (README, "When the application sets up OpenTelemetry itself"):

- The first ``TracerProvider`` set in a process stays the global one, as
  OpenTelemetry wants. A later ``set_tracer_provider`` (the application's after
  otel-autoguard's, or otel-autoguard's after the application's) does not leave
  an orphan: the later provider's span pipelines join the global one.
- A span pipeline equivalent to one the provider already has (same exporter
  kind and destination, see :mod:`._pipelines`) is not added; it is shut down
  and the user is told once, naming the application's file and line.
- ``get_tracer_provider().add_span_processor(...)`` before any SDK exists (a
  process whose role is not known yet) is held, and added after otel-autoguard's
  own pipeline once the process serves.
- A reloader parent runs none of it: whatever the application set up there is
  shut down; its serving child sets up the same.
- Instrumenting again what otel-autoguard instrumented at start does nothing and
  says nothing (debug aside); a ``tracer_provider=`` passed along is treated as
  if the application had set it globally.

Every patch runs inside the application's own call, so each goes through the
boundary and falls back to OpenTelemetry's own behaviour if it fails.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import weakref
from typing import Any, Callable

from . import _boundary
from ._imports import when_imported
from ._pipelines import Pipeline, describe, equivalent, same_exporter
from ._settings import Settings

OURS = "otel-autoguard"
STOOD_DOWN = "_otel_autoguard_stood_down"
_MARK = "__otel_autoguard__"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_SEP = os.sep

_settings: Settings | None = None
_lock = threading.RLock()
_warned: set[str] = set()
# Span processors the application added before any SDK provider existed.
_held: list[Any] = []
_sites: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_sdk_configured = False
# In a process whose role is not known yet, warnings wait: a reloader parent
# never says them (its child will), a process that serves says them then.
_waiting: list[str] | None = None
_stood_down = False


def install(settings: Settings, settled: bool) -> None:
    """Watch OpenTelemetry's modules; cheap until the application imports them.

    ``settled``: the process is known to serve; otherwise warnings wait for it.
    """
    global _settings, _waiting
    if _settings is not None:
        return
    _settings = settings
    if not settled:
        _waiting = []
        atexit.register(_say_waiting)
    when_imported("opentelemetry.trace", _guarded("opentelemetry.trace", _patch_api))
    when_imported("opentelemetry.sdk.trace", _guarded("opentelemetry.sdk.trace", _patch_sdk))
    when_imported(
        "opentelemetry.instrumentation.instrumentor",
        _guarded("opentelemetry.instrumentation", _patch_instrumentor),
    )
    when_imported(
        "opentelemetry.instrumentation.flask",
        _guarded("opentelemetry.instrumentation.flask", _patch_flask),
    )


def _guarded(what: str, patch: Callable[[Any], None]) -> Callable[[Any], None]:
    def callback(module: Any) -> None:
        with _boundary.guard(_settings, f"hooking {what}"):
            patch(module)

    return callback


# --- where a call came from -------------------------------------------------


def _is_library(filename: str) -> bool:
    return (
        filename == __file__
        or f"{_SEP}opentelemetry{_SEP}" in filename
        or filename.startswith("<frozen ")
    )


def _shown(filename: str) -> str:
    path = os.path.abspath(filename)
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def call_site() -> str:
    """``file:line`` of the application's call, or ``OURS`` if otel-autoguard made it."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_library(filename):
            if os.path.abspath(filename).startswith(_PACKAGE_DIR + _SEP):
                return OURS
            return f"{_shown(filename)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "an unknown place"


def _site_of(processor: Any, default: str) -> str:
    try:
        return _sites.get(processor, default)
    except TypeError:  # not weak-referenceable
        return default


def _remember(processor: Any, site: str) -> None:
    try:
        _sites.setdefault(processor, site)
    except TypeError:
        return


def _debug(message: str) -> None:
    if _settings is not None:
        _boundary.debug(_settings, message)


# --- one pipeline per destination ------------------------------------------


def _warn_once(key: str, message: str) -> None:
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
        if _waiting is not None:
            _waiting.append(message)
            return
    _boundary.emit(_settings, message)


def _say_waiting() -> None:
    global _waiting
    with _lock:
        waiting, _waiting = _waiting or [], None
        if _stood_down:
            return
    for message in waiting:
        _boundary.emit(_settings, message)


def _report_duplicate(new: Pipeline, new_site: str, kept_site: str) -> None:
    assert _settings is not None
    if new_site == OURS:
        _warn_once(
            kept_site,
            f"{kept_site}: the application already exports spans with {new.label}; "
            "otel-autoguard did not add its own pipeline to the same destination, so each "
            "span is exported once",
        )
    elif kept_site == OURS:
        _warn_once(
            new_site,
            f"{new_site}: the application adds a span pipeline ({new.label}) that "
            f"otel-autoguard already runs (configured from {_settings.endpoint_source}); "
            "not added, so each span is exported once",
        )
    else:
        _warn_once(
            new_site,
            f"{new_site}: a second span pipeline ({new.label}) equivalent to the one added at "
            f"{kept_site}; otel-autoguard did not add it, so each span is exported once",
        )


def _add(multi: Any, processor: Any, site: str, add: Callable[[Any], None]) -> None:
    """Add ``processor`` to a provider's processors unless an equivalent one is there."""
    new = describe(processor)
    with _lock:
        for existing in getattr(multi, "_span_processors", ()):
            old = describe(existing)
            if (
                existing is processor
                or same_exporter(existing, processor)
                or (new and old and equivalent(new, old))
            ):
                break
        else:
            add(processor)
            return
    if existing is processor:
        return
    assert new is not None
    _report_duplicate(new, site, _site_of(existing, "an earlier call"))
    if same_exporter(existing, processor):
        return  # shutting it down would shut down the exporter the kept one uses
    with _boundary.guard(_settings, "shutting down a duplicate span pipeline"):
        processor.shutdown()


# --- the patches ------------------------------------------------------------


def _is_sdk_provider(provider: Any) -> bool:
    return hasattr(getattr(provider, "_active_span_processor", None), "_span_processors")


def _patch_sdk(module: Any) -> None:
    provider_class = module.TracerProvider
    original = provider_class.add_span_processor
    if getattr(original, _MARK, False):
        return

    def add_span_processor(self: Any, span_processor: Any) -> None:
        done = False
        with _boundary.guard(_settings, "checking an added span processor"):
            _remember(span_processor, call_site())
            # Where the application added it, even when otel-autoguard adds it later.
            site = _site_of(span_processor, OURS)
            _add(
                self._active_span_processor,
                span_processor,
                site,
                lambda p: original(self, p),
            )
            done = True
        if not done:
            original(self, span_processor)

    setattr(add_span_processor, _MARK, True)
    provider_class.add_span_processor = add_span_processor


def _patch_api(trace: Any) -> None:
    original = trace._set_tracer_provider
    if getattr(original, _MARK, False):
        return

    # set_tracer_provider (however it was imported) calls this module global.
    def set_provider(tracer_provider: Any, log: bool) -> None:
        current = trace._TRACER_PROVIDER
        if (
            current is None
            or current is tracer_provider
            or not (_is_sdk_provider(current) and _is_sdk_provider(tracer_provider))
        ):
            original(tracer_provider, log)
            if current is None and trace._TRACER_PROVIDER is tracer_provider:
                _first_provider(tracer_provider)
            return
        done = False
        with _boundary.guard(_settings, "joining a second TracerProvider to the first"):
            _join(current, tracer_provider, call_site())
            done = True
        if not done:
            original(tracer_provider, log)

    setattr(set_provider, _MARK, True)
    trace._set_tracer_provider = set_provider

    # The API's placeholder, until an SDK provider is set: the documented
    # get_tracer_provider().add_span_processor(...) would raise AttributeError in
    # a process that is not configured yet (a reloader parent, a plain server).
    placeholder = trace.ProxyTracerProvider
    if not hasattr(placeholder, "add_span_processor"):
        placeholder.add_span_processor = _hold


def _hold(self: Any, span_processor: Any) -> None:
    with _boundary.guard(_settings, "holding a span processor"):
        site = call_site()
        _remember(span_processor, site)
        with _lock:
            _held.append(span_processor)
        _debug(
            f"{site}: add_span_processor before any TracerProvider is set: held; it is added "
            "once this process serves and its SDK is configured (after otel-autoguard's own)"
        )


def _first_provider(provider: Any) -> None:
    """A provider became the global one. The application's: held processors go to it now."""
    if call_site() != OURS or _sdk_configured:
        _release_held(provider)


def sdk_configured() -> None:
    """otel-autoguard configured the SDK in this process: add what the application held."""
    global _sdk_configured
    _sdk_configured = True
    _say_waiting()
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if _is_sdk_provider(provider):
        _release_held(provider)


def _release_held(provider: Any) -> None:
    with _lock:
        held = list(_held)
        _held.clear()
    for processor in held:
        provider.add_span_processor(processor)


def _join(current: Any, later: Any, site: str) -> None:
    """A second SDK provider: its pipelines join the first (once each), its spans too."""
    multi = current._active_span_processor
    owner = "otel-autoguard's SDK configuration" if site == OURS else site
    _debug(
        f"{owner}: set_tracer_provider while a TracerProvider is already set; OpenTelemetry "
        "keeps the first, so the later one's span pipelines were added to it (each once)"
    )
    if later._active_span_processor is multi:
        return
    for processor in tuple(later._active_span_processor._span_processors):
        _add(multi, processor, _site_of(processor, site), multi.add_span_processor)
    # Spans started from the later provider's own tracers go through the same
    # pipelines; the first provider's exit handler shuts them down, once.
    later._active_span_processor = multi
    handler = getattr(later, "_atexit_handler", None)
    if handler is not None:
        atexit.unregister(handler)
        later._atexit_handler = None


def stand_down() -> None:
    """In a reloader parent: stop what the application started here (it never serves)."""
    global _stood_down
    with _lock:
        held = list(_held)
        _held.clear()
        _stood_down = True  # the child sets up the same and says the same
    for processor in held:
        with _boundary.guard(_settings, "shutting down a held span processor"):
            processor.shutdown()
    trace = sys.modules.get("opentelemetry.trace")
    provider: Any = getattr(trace, "_TRACER_PROVIDER", None)
    if (
        provider is not None
        and _is_sdk_provider(provider)
        and not getattr(provider, STOOD_DOWN, False)
    ):
        with _boundary.guard(_settings, "shutting down the application's TracerProvider"):
            provider.shutdown()
            setattr(provider, STOOD_DOWN, True)
            _debug(
                "the application set a TracerProvider in the reloader parent; shut down "
                "(no threads, no exports): the serving child sets up its own"
            )
    if held:
        _debug(f"{len(held)} held span processor(s) shut down in the reloader parent")


def _patch_instrumentor(module: Any) -> None:
    base = module.BaseInstrumentor
    original = base.instrument
    if getattr(original, _MARK, False):
        return

    def instrument(self: Any, **kwargs: Any) -> Any:
        if getattr(self, "_is_instrumented_by_opentelemetry", False):
            # OpenTelemetry would log "Attempting to instrument while already
            # instrumented" and ignore the call, tracer_provider= included.
            _already_instrumented(f"{type(self).__name__}().instrument()", kwargs)
            return None
        return original(self, **kwargs)

    setattr(instrument, _MARK, True)
    base.instrument = instrument


def _patch_flask(module: Any) -> None:
    instrumentor = module.FlaskInstrumentor
    original = instrumentor.instrument_app
    if getattr(original, _MARK, False):
        return
    names = ("request_hook", "response_hook", "tracer_provider")

    def instrument_app(app: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(app, "_is_instrumented_by_opentelemetry", False):
            given = dict(zip(names, args), **kwargs)
            _already_instrumented("FlaskInstrumentor().instrument_app(app)", given)
            return None
        return original(app, *args, **kwargs)

    setattr(instrument_app, _MARK, True)
    instrumentor.instrument_app = staticmethod(instrument_app)


def _already_instrumented(call: str, kwargs: dict[str, Any]) -> None:
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
        and _is_sdk_provider(provider)
        and provider is not getattr(trace, "_TRACER_PROVIDER", None)
    ):
        trace.set_tracer_provider(provider)
        joined = "; its tracer_provider was joined to the global one"
    _debug(
        f"{site}: {call}: already instrumented (otel-autoguard instruments installed "
        f"libraries at start){joined or '; nothing to do'}"
    )
