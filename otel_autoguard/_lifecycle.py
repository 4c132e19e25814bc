"""The per-process state machine: start, then serving or reloader parent.

State lives in module globals, not in the environment: an exec'd child starts
fresh (and decides for itself), while a forked child inherits exactly the state
of the SDK it inherits, so "configured" can never be claimed twice for one SDK.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

from . import _boundary, _collector, _graceful, _instrument_cli, _manual, _otel
from ._roles import Decision, Role
from ._settings import Settings, collectors

_settings: Settings | None = None
_role: Role | None = None
_configured = False
# A known server's hook has spoken in this process (or the master it forked from):
# the accept() fallback then has nothing to add.
_server_known = False
_lock = threading.Lock()
_NEVER_SERVE = (Role.SKIP, Role.RELOADER_PARENT, Role.SUPERVISOR)


def _after_fork_in_child() -> None:
    global _lock, _role
    # A fork taken while another thread held the lock would leave it held forever.
    _lock = threading.Lock()
    # A pre-fork master's children are its workers: they decide for themselves.
    if _role is Role.SUPERVISOR:
        _role = Role.DEFER


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def begin(settings: Settings, decision: Decision) -> None:
    """Act on the start-time decision. Called once per process by the hook."""
    global _settings, _role
    _settings, _role = settings, decision.role
    if settings.debug:
        atexit.register(_report_exit)
    _instrument_cli.stand_in(settings, decision.role)
    if decision.role is not Role.SKIP:
        _manual.install(settings, settled=decision.role is Role.SERVE)
    if decision.role is Role.SKIP:
        _boundary.debug(settings, f"role=skip reason={decision.reason!r} action=none")
        return
    if decision.role is Role.SERVE:
        # The order opentelemetry-instrument uses: SDK first, then instrumentors.
        if _configure(decision.reason):
            _instrument_and_watch(settings)
        return
    if _instrument_and_watch(settings):
        _boundary.debug(
            settings,
            f"role=defer reason={decision.reason!r} action=instrumented; "
            "SDK waits until this process serves",
        )


def _instrument_and_watch(settings: Settings) -> bool:
    from . import _servers

    with _boundary.guard(settings, "instrumenting libraries"):
        _otel.instrument(settings)
        _servers.install(settings)
        return True
    return False


def _configure(reason: str) -> bool:
    """Configure the SDK once per process; False when that failed (already reported)."""
    global _configured, _role
    assert _settings is not None
    with _lock:
        if _configured:
            return True
        _configured = True
        _role = Role.SERVE
        with _boundary.guard(_settings, "configuring the OpenTelemetry SDK"):
            before = _otel.pipelines()
            configurator = _otel.configure_sdk(_settings)
            # What this configuration set up, before the application's held span
            # processors join it.
            ours = {
                signal: state
                for signal, state in _otel.pipelines().items()
                if state[0] is not None and state[0] is not before[signal][0]
            }
            _manual.sdk_configured()
            _graceful.flush_on_sigterm(_settings)
            if _settings.reloader_child:
                # Its parent waits for it with a deadline. Registered after the
                # SDK's own exit handlers, so it runs first.
                atexit.register(_graceful.flush_at_exit, _settings)
                if threading.current_thread() is threading.main_thread():
                    _graceful.stop_once()
            # After every other exit handler of ours: it runs first.
            _collector.watch(_settings, collectors(os.environ), ours)
            _boundary.debug(
                _settings,
                f"role=serve reason={reason!r} action=configured (configurator {configurator!r})",
            )
            return True
        return False


def serving(source: str, *, fallback: bool = False) -> None:
    """A server loop is starting in this process: configure, once.

    ``fallback``: no known server hook said so; this process accepted a connection.
    """
    global _server_known
    if fallback and _server_known:
        return
    _server_known = True
    if _settings is None or _role in _NEVER_SERVE:
        return
    if _configured:
        # A worker configured earlier (gunicorn's init_process) whose server has
        # since reset SIGTERM to its default (uvicorn's gunicorn worker does).
        _graceful.flush_on_sigterm(_settings)
        return
    if "_pytest" in sys.modules:
        # A test suite's live server (pytest-xdist workers start as `python -c`).
        _set_role(Role.SKIP, f"{source}, but pytest runs in this process", "none")
        return
    _configure(source)


def request_process_ending() -> None:
    """A process forked for one request (``app.run(processes=N)``) is about to ``os._exit``.

    No exit handler runs after ``os._exit``: the spans it holds go now or never.
    """
    if _settings is not None and _configured:
        with _boundary.guard(_settings, "flushing a forked request's spans"):
            # A Ctrl-C now would only cut the flush; the server waits for its
            # request processes before it exits.
            _graceful.hold_stop_signals()
            if "traces" not in _collector.down(_settings, say=False):
                _otel.flush_spans(_settings.stop_timeout)


def reloader_parent(reason: str) -> None:
    """This process only watches files and restarts a serving child."""
    global _server_known
    _server_known = True
    if _settings is None or _configured:
        return
    _set_role(Role.RELOADER_PARENT, reason, "idle")
    _manual.stand_down()


def supervising(reason: str) -> None:
    """This process starts and watches serving processes; its forks decide for themselves."""
    global _server_known
    _server_known = True
    if _settings is None or _configured or _role is Role.SKIP:
        return
    _set_role(Role.SUPERVISOR, reason, "idle; its workers configure after fork")


def forked() -> None:
    """This process was forked by a server that skips ``os.register_at_fork`` hooks.

    uWSGI forks its workers without ``PyOS_AfterFork_Child`` (unless
    ``--py-call-osafterfork``), so it reports the fork itself. Harmless twice.
    """
    _after_fork_in_child()


def never_serve(reason: str) -> None:
    """The SDK must never be configured in this process (the caller says why)."""
    if _settings is None or _configured:
        return
    _set_role(Role.SKIP, reason, "none")


def _set_role(role: Role, reason: str, action: str) -> None:
    global _role
    _role = role
    if _settings is not None:
        _boundary.debug(_settings, f"role={role} reason={reason!r} action={action}")


def _report_exit() -> None:
    if _settings is None:
        return
    threads = ",".join(sorted(t.name for t in threading.enumerate()))
    _boundary.debug(_settings, f"exit role={_role} {_otel.sdk_state()} threads={threads}")
