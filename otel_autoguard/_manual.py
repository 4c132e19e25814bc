"""When the application sets up OpenTelemetry itself: one provider, each pipeline once.

The rule (docs/manual-setup.md):

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

:class:`AppSetup` holds what this takes per process; the patches that feed it are
in :mod:`._manual_patches`, which watches OpenTelemetry's modules (cheap until the
application imports them). Each runs inside the application's own call, so each
goes through the boundary and falls back to OpenTelemetry's own behaviour.
"""

from __future__ import annotations

import atexit
import sys
import weakref
from typing import Any, Callable

from . import _forks
from ._boundary import debug, emit, guard
from ._callsite import OURS, call_site
from ._pipelines import Pipeline, describe, equivalent, same_exporter
from ._providers import STOOD_DOWN, is_sdk_provider, pipelines
from ._settings import Settings


class AppSetup:
    """The application's own OpenTelemetry set-up in this process."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.lock = _forks.Lock(reentrant=True)
        self.warned: set[str] = set()
        self.held: list[Any] = []
        """Span processors the application added before any SDK provider existed."""
        self.sites: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self.sdk_configured = False
        self.waiting: list[str] | None = None
        """Warnings of a process whose role is not known yet: a reloader parent never
        says them (its child will), a process that serves says them then."""
        self.stood_down = False

    def begin(self, settings: Settings, settled: bool) -> None:
        """``settled``: the process is known to serve; otherwise warnings wait for it.

        The patches that feed this (:func:`._manual_patches.install`) are installed
        by the process right after.
        """
        self.settings = settings
        if not settled:
            self.waiting = []

    # --- where a processor was added ---------------------------------------

    def site_of(self, processor: Any, default: str) -> str:
        try:
            return self.sites.get(processor, default)
        except TypeError:  # not weak-referenceable
            return default

    def remember(self, processor: Any, site: str) -> None:
        try:
            self.sites.setdefault(processor, site)
        except TypeError:
            return

    def debug(self, message: str) -> None:
        if self.settings is not None:
            debug(self.settings, message)

    # --- one pipeline per destination ----------------------------------------

    def warn_once(self, key: str, message: str) -> None:
        with self.lock:
            if key in self.warned:
                return
            self.warned.add(key)
            if self.waiting is not None:
                self.waiting.append(message)
                return
        emit(self.settings, message)

    def say_waiting(self) -> None:
        with self.lock:
            waiting, self.waiting = self.waiting or [], None
            if self.stood_down:
                return
        for message in waiting:
            emit(self.settings, message)

    def report_duplicate(self, new: Pipeline, new_site: str, kept_site: str) -> None:
        assert self.settings is not None
        if new_site == OURS:
            self.warn_once(
                kept_site,
                f"{kept_site}: the application already exports spans with {new.label}; "
                "otel-autoguard did not add its own pipeline to the same destination, so each "
                "span is exported once",
            )
        elif kept_site == OURS:
            self.warn_once(
                new_site,
                f"{new_site}: the application adds a span pipeline ({new.label}) that "
                f"otel-autoguard already runs (configured from {self.settings.endpoint_source}); "
                "not added, so each span is exported once",
            )
        else:
            self.warn_once(
                new_site,
                f"{new_site}: a second span pipeline ({new.label}) equivalent to the one added "
                f"at {kept_site}; otel-autoguard did not add it, so each span is exported once",
            )

    def add(self, multi: Any, processor: Any, site: str, add: Callable[[Any], None]) -> None:
        """Add ``processor`` to a provider's processors unless an equivalent one is there."""
        new = describe(processor)
        with self.lock:
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
        self.report_duplicate(new, site, self.site_of(existing, "an earlier call"))
        if same_exporter(existing, processor):
            return  # shutting it down would shut down the exporter the kept one uses
        with guard(self.settings, "shutting down a duplicate span pipeline", "it may still export"):
            processor.shutdown()

    # --- providers and held processors ---------------------------------------

    def hold(self, span_processor: Any) -> None:
        site = call_site()
        self.remember(span_processor, site)
        with self.lock:
            self.held.append(span_processor)
        self.debug(
            f"{site}: add_span_processor before any TracerProvider is set: held; it is added "
            "once this process serves and its SDK is configured (after otel-autoguard's own)"
        )

    def first_provider(self, provider: Any) -> None:
        """A provider became the global one. The application's: held processors go to it now."""
        if call_site() != OURS or self.sdk_configured:
            self.release_held(provider)

    def configured(self) -> None:
        """otel-autoguard configured the SDK in this process: add what the application held."""
        self.sdk_configured = True
        self.say_waiting()
        provider = pipelines()["traces"][0]
        if is_sdk_provider(provider):
            self.release_held(provider)

    def release_held(self, provider: Any) -> None:
        with self.lock:
            held = list(self.held)
            self.held.clear()
        for processor in held:
            provider.add_span_processor(processor)

    def join(self, current: Any, later: Any, site: str) -> None:
        """A second SDK provider: its pipelines join the first (once each), its spans too."""
        multi = current._active_span_processor
        owner = "otel-autoguard's SDK configuration" if site == OURS else site
        self.debug(
            f"{owner}: set_tracer_provider while a TracerProvider is already set; OpenTelemetry "
            "keeps the first, so the later one's span pipelines were added to it (each once)"
        )
        if later._active_span_processor is multi:
            return
        for processor in tuple(later._active_span_processor._span_processors):
            self.add(multi, processor, self.site_of(processor, site), multi.add_span_processor)
        # Spans started from the later provider's own tracers go through the same
        # pipelines; the first provider's exit handler shuts them down, once.
        later._active_span_processor = multi
        handler = getattr(later, "_atexit_handler", None)
        if handler is not None:
            atexit.unregister(handler)
            later._atexit_handler = None

    def stand_down(self) -> None:
        """In a reloader parent: stop what the application started here (it never serves)."""
        with self.lock:
            held = list(self.held)
            self.held.clear()
            self.stood_down = True  # the child sets up the same and says the same
        for processor in held:
            with guard(self.settings, "shutting down a held span processor", "it may export"):
                processor.shutdown()
        trace = sys.modules.get("opentelemetry.trace")
        provider: Any = getattr(trace, "_TRACER_PROVIDER", None)
        if is_sdk_provider(provider) and not getattr(provider, STOOD_DOWN, False):
            with guard(
                self.settings,
                "shutting down the application's TracerProvider",
                "the reloader parent may hold the application's SDK threads",
            ):
                provider.shutdown()
                setattr(provider, STOOD_DOWN, True)
                self.debug(
                    "the application set a TracerProvider in the reloader parent; shut down "
                    "(no threads, no exports): the serving child sets up its own"
                )
        if held:
            self.debug(f"{len(held)} held span processor(s) shut down in the reloader parent")
