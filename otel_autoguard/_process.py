"""The per-process state machine: one :class:`Process`, its transitions, its exit plan.

::

    start ──▶ skip                        (nothing; decided by the hook)
      │
      ├──▶ serve ─────────────────────▶ configured at start (reloader child, override)
      └──▶ defer ─┬─ serving() ───────▶ serve: configured once, when a server starts
                  ├─ reloader_parent() ▶ reloader-parent: idle for good
                  ├─ supervising() ────▶ supervisor: idle; each fork starts as defer
                  └─ never_serve() ────▶ skip

State lives in this object, not in the environment: an exec'd child starts fresh
(and decides for itself), while a forked child inherits exactly the state of the
SDK it inherits, so "configured" can never be claimed twice for one SDK. What a
fork must reset is registered with :mod:`._forks`.
"""

from __future__ import annotations

import atexit
import os
from typing import Any

from . import (
    _boundary,
    _callsite,
    _collector,
    _exit,
    _exporters,
    _forks,
    _handover,
    _instrument_cli,
    _manual_patches,
    _otel,
    _providers,
    _reloader,
)
from ._boundary import TELEMETRY_OFF, emit, guard
from ._decisions import Decided, Exited, record, thread_names
from ._events import Context
from ._manual import AppSetup
from ._roles import Decision, Role
from ._settings import Settings
from ._settings._collectors import Collector, collectors
from ._settings._spool import destination

_NEVER_SERVE = (Role.SKIP, Role.RELOADER_PARENT, Role.SUPERVISOR)
_LOST = "the spans it still held may be lost"


class Process:
    """This process: its role, whether it is configured, and how it leaves."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.decision: Decision | None = None
        self.role: Role | None = None
        self.configured = False
        self.server_known = False
        """A known server's hook spoke here (or in the master forked from): no fallback."""
        self.ours: _providers.Pipelines = {}
        """Per signal, the provider otel-autoguard's configuration set and its processors."""
        self.collectors: tuple[Collector, ...] = ()
        """Where each of our signals exports (read once configured: the distro's defaults)."""
        self.down: frozenset[str] | None = None  # refusing collectors' signals, decided once
        self.app = AppSetup()
        self._lock = _forks.Lock()
        _forks.register(self._after_fork)

    # --- transitions -----------------------------------------------------------

    def begin(self, settings: Settings, decision: Decision) -> None:
        """Act on the start-time decision. Called once per process by the hook."""
        self.settings, self.decision, self.role = settings, decision, decision.role
        atexit.register(self.at_exit)
        _instrument_cli.stand_in(settings, decision.role)
        if decision.role is Role.SKIP:
            record(settings, Decided(Role.SKIP, decision.reason, "none"))
            return
        self.app.begin(settings, settled=decision.role is Role.SERVE)
        _manual_patches.install(self.app, settings)
        if decision.role is Role.SERVE:
            # The order opentelemetry-instrument uses: SDK first, then instrumentors.
            if self._configure(decision.reason):
                self._instrument_and_watch()
            return
        if self._instrument_and_watch():
            # defer; or supervisor from the start (multiprocessing's forkserver), whose
            # forks inherit the instrumented libraries and decide for themselves.
            note = (
                "its forks decide for themselves"
                if decision.role is Role.SUPERVISOR
                else "SDK waits until this process serves"
            )
            record(settings, Decided(decision.role, decision.reason, "instrumented", note))

    def serving(self, source: str, *, fallback: bool = False) -> None:
        if fallback and self.server_known:
            return
        self.server_known = True
        if self.settings is None or self.role in _NEVER_SERVE:
            return
        if self.configured:
            # A worker configured earlier (gunicorn's init_process) whose server has
            # since reset SIGTERM to its default (uvicorn's gunicorn worker does).
            _exit.flush_on_sigterm(self.settings, self._flush_on_sigterm)
            return
        runner = _callsite.test_runner()  # a test's live server (xdist: `python -c`)
        if runner is not None:
            self._become(Role.SKIP, f"{source}, but {runner} runs in this process", "none")
            return
        self._configure(source)

    def reloader_parent(self, reason: str) -> None:
        self.server_known = True
        if self.settings is None or self.configured:
            return
        self._become(Role.RELOADER_PARENT, reason, "idle")
        self.app.stand_down()

    def supervising(self, reason: str) -> None:
        self.server_known = True
        if self.settings is None or self.configured or self.role is Role.SKIP:
            return
        self._become(Role.SUPERVISOR, reason, "idle", "its workers configure after fork")

    def never_serve(self, reason: str) -> None:
        if self.settings is not None and not self.configured:
            self._become(Role.SKIP, reason, "none")

    def forked(self) -> None:
        _forks.after_fork()

    def ending(self, signals: tuple[str, ...] = ("traces",), *, report: bool = False) -> None:
        """About to ``os._exit``: flush ``signals``; ``report`` its exit (a process of its own)."""
        if self.settings is None or not self.configured:
            return
        with guard(self.settings, "flushing before os._exit", _LOST):
            # A Ctrl-C now would only cut the flush; the parent waits for this process.
            _exit.hold_stop_signals()
            self.flush(signals, say=False)  # quiet: a line would follow every request
        if report and (self.settings.debug or self.settings.decision_log):
            self._report_exit()

    def library_ready(self, name: str) -> None:
        if self.settings is not None:
            with guard(self.settings, f"instrumenting {name}", f"{name} is not traced"):
                _otel.instrument_late(self.settings, name)

    def _after_fork(self) -> None:
        # A pre-fork master's children are its workers: they decide for themselves.
        if self.role is Role.SUPERVISOR:
            self.role = Role.DEFER
        self.down = None

    def _become(self, role: Role, reason: str, action: str, note: str = "") -> None:
        self.role = role
        if self.settings is not None:
            record(self.settings, Decided(role, reason, action, note))

    # --- configuring -------------------------------------------------------------

    def _instrument_and_watch(self) -> bool:
        assert self.settings is not None and self.decision is not None
        from . import _servers

        with guard(self.settings, "instrumenting libraries", TELEMETRY_OFF) as outcome:
            _otel.instrument(self.settings, serving=self.configured)
            _servers.install(Context(self.settings, self.decision, self))
        return outcome.ok

    def _configure(self, reason: str) -> bool:
        """Configure the SDK once per process; False when that failed (already reported)."""
        settings = self.settings
        assert settings is not None
        with self._lock:
            if self.configured:
                return True
            self.configured, self.role = True, Role.SERVE
            with guard(settings, "configuring the OpenTelemetry SDK", TELEMETRY_OFF) as outcome:
                before = _providers.pipelines()
                _exporters.install(settings, spans=_handover.install(settings))
                configurator = _otel.configure_sdk(settings)
                _handover.configured(destination(os.environ))
                # What this configuration set up, before the application's held span
                # processors join it. Its providers leave through the exit plan.
                self.ours = {
                    signal: state
                    for signal, state in _providers.pipelines().items()
                    if state[0] is not None and state[0] is not before[signal][0]
                }
                for provider, _processors in self.ours.values():
                    atexit.unregister(provider.shutdown)
                self.collectors = collectors(os.environ)
                _otel.instrument_serving(settings)
                self.app.configured()
                _exit.flush_on_sigterm(settings, self._flush_on_sigterm)
                if settings.reloader_child and _exit.in_main_thread():
                    _reloader.stop_once()
                record(settings, Decided(Role.SERVE, reason, "configured", "", configurator))
            return outcome.ok

    # --- flushing and leaving ----------------------------------------------------

    def refused(self, *, say: bool = True) -> frozenset[str]:
        """Signals not to flush: only ours, and their collector refuses connections now.

        Decided once per process. A signal whose provider is the application's, or
        to which a processor was added since, may export elsewhere: always flushed.
        """
        if self.down is None:
            now = _providers.pipelines()
            candidates = [c for c in self.collectors if self.ours.get(c.signal, 0) == now[c.signal]]
            gone = _collector.refusing(candidates)
            self.down = frozenset(c.signal for c in gone)
            if gone and say:
                emit(self.settings, _collector.message(gone, spooled=_handover.spooling()))
        return self.down

    def flush(self, signals: tuple[str, ...] = _providers.SIGNALS, *, say: bool = True) -> None:
        """The one flush: every way out of a serving process goes through it."""
        if self.settings is not None and self.configured:
            with _handover.leaving(self.refused(say=say), self.collectors) as skip:
                _providers.flush(self.settings.stop_timeout, signals, skip)

    def _flush_on_sigterm(self) -> None:
        with guard(self.settings, "flushing telemetry on SIGTERM", _LOST):
            self.flush()

    def exit_plan(self) -> list[_exit.Step]:
        """What the process does at interpreter exit, in order."""
        settings = self.settings
        assert settings is not None
        plan: list[_exit.Step] = []
        if self.configured:
            if settings.reloader_child:
                # Its parent waits for it with a deadline: no second signal may cut it.
                plan.append(("holding stop signals", _exit.hold_stop_signals, _LOST))
            plan += [
                ("flushing spans first", lambda: self.flush(("traces",)), _LOST),
                ("shutting down the SDK", self._shut_down, "some telemetry may be lost"),
            ]
        plan.append(("saying what waited", self.app.say_waiting, "some warnings are not shown"))
        if settings.debug or settings.decision_log:
            plan.append(("reporting the exit", self._report_exit, "no exit report"))
        return plan

    def at_exit(self) -> None:
        if self.settings is not None:
            _exit.run(self.settings, self.exit_plan())

    def _shut_down(self) -> None:
        """Shut down the providers of our own configuration: spans, then metrics and logs.

        Signals whose collector refuses connections are not: their shutdown would
        only retry until the exporter's timeout.
        """
        skip = _handover.skipped(self.refused(), self.collectors)
        for signal in _providers.SIGNALS:
            provider: Any = self.ours.get(signal, (None,))[0]
            if provider is not None and signal not in skip:
                provider.shutdown()

    def _report_exit(self) -> None:
        assert self.settings is not None
        record(self.settings, Exited(str(self.role), _providers.held(), thread_names()))

    def snapshot(self) -> dict[str, Any]:
        """What ``otel-autoguard doctor`` shows of this process."""
        return {
            "role": str(self.role) if self.role is not None else None,
            "configured": self.configured,
            "reason": self.decision.reason if self.decision is not None else None,
            "last_failure": _boundary.last_failure,
        }


PROCESS = Process()
