"""Celery: the worker's main process forks pool processes (prefork); only they run tasks.

Everything goes through Celery's signals (public API), connected once
``celery.signals`` is imported:

- ``worker_init`` (the main process, before the pool starts): with the prefork
  pool the main process only receives messages and hands them to its pool
  processes: a supervisor (no SDK; its forks start as ``defer``). With ``solo``,
  ``threads`` or any other pool that runs tasks in this process, it is configured
  here, before the first message is consumed. ``gevent`` and ``eventlet`` are not
  covered yet: said in one line, nothing is configured.
- ``worker_process_init`` (each pool process, after the fork and Celery's own
  set-up, before its first task): configured, with its own identity.
- ``worker_process_shutdown`` (each pool process, right before billiard ends it
  with ``os._exit``: ``--max-tasks-per-child`` recycling, warm shutdown): spans,
  then metrics and logs, are flushed, since no exit handler runs after
  ``os._exit``.
- ``beat_init`` (``celery beat``): configured; beat publishes the scheduled tasks.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from .. import _boundary, _collector, _graceful, _lifecycle, _otel
from .._imports import when_imported
from .._settings import Settings
from ._patch import guarded

_UID = "otel-autoguard"


def install(settings: Settings) -> None:
    when_imported(
        "celery.signals",
        guarded(settings, "celery.signals", functools.partial(_connect, settings)),
    )


def _connect(settings: Settings, signals: Any) -> None:
    def handler(name: str, hook: Any) -> Any:
        def receiver(sender: Any = None, **_kwargs: Any) -> None:
            with _boundary.guard(settings, f"handling Celery's {name} signal"):
                hook(sender)

        return receiver

    for name, hook in (
        ("worker_init", functools.partial(_worker_init, settings)),
        ("worker_process_init", _pool_process_init),
        ("worker_process_shutdown", lambda _sender: process_ending(settings)),
        ("beat_init", _beat_init),
    ):
        # weak=False: the receiver is a closure nobody else holds. dispatch_uid:
        # connected once, however often this runs.
        getattr(signals, name).connect(
            handler(name, hook), weak=False, dispatch_uid=f"{_UID}:{name}"
        )


def pool_kind(pool_cls: Any) -> tuple[str, str]:
    """(kind, name) of a worker's pool: kind ``prefork``, ``green`` (gevent, eventlet) or
    ``in-process`` (solo, threads, others); name as given to ``--pool`` where known."""
    from celery.concurrency import ALIASES, get_implementation
    from celery.concurrency.prefork import TaskPool as Prefork

    cls = get_implementation(pool_cls)
    path = f"{getattr(cls, '__module__', '')}:{getattr(cls, '__name__', '')}"
    name = next((alias for alias, target in ALIASES.items() if target == path), path)
    if isinstance(cls, type) and issubclass(cls, Prefork):
        return "prefork", name
    if getattr(cls, "is_green", False):
        return "green", name
    return "in-process", name


def _worker_init(settings: Settings, worker: Any) -> None:
    kind, name = pool_kind(getattr(worker, "pool_cls", None))
    if kind == "prefork":
        _lifecycle.supervising(
            "Celery worker main process (prefork pool): forks the pool processes, runs no task"
        )
    elif kind == "green":
        _boundary.emit(
            settings,
            f"Celery's {name} pool is not covered yet: OpenTelemetry is not set up in this "
            "worker (use the prefork, solo or threads pool)",
        )
        _lifecycle.never_serve(f"Celery worker with the {name} pool: not covered yet")
    else:
        _lifecycle.serving(f"Celery worker ({name} pool): runs the tasks in this process")


def _pool_process_init(_sender: Any) -> None:
    _lifecycle.serving("Celery pool process started: runs the tasks")


def _beat_init(_sender: Any) -> None:
    _lifecycle.serving("Celery beat started: publishes the scheduled tasks")


def process_ending(settings: Settings, skip: frozenset[str] = frozenset()) -> None:
    """This process is about to ``os._exit``: flush spans, then metrics and logs, now.

    ``skip``: signals not to flush (``metrics`` in an RQ work horse).

    The all-signals form of ``_lifecycle.request_process_ending`` (proposed there
    as ``process_ending``): a Celery pool process is a worker's instance of its
    own, whose metrics and logs are its own too. Bounded by the stop timeout from
    outside, as the SDK's ``force_flush`` does not honour its own. Does nothing
    where nothing was configured (no provider to flush).
    """
    with _boundary.guard(settings, "flushing telemetry before the process ends"):
        # A stop signal now would only cut the flush short.
        _graceful.hold_stop_signals()
        kept = f" except {','.join(sorted(skip))}" if skip else ""
        skip |= _collector.down(settings, say=False)
        flusher = threading.Thread(
            target=_otel.flush_all,
            args=(settings.stop_timeout, skip),
            name="otel-autoguard-flush",
            daemon=True,
        )
        flusher.start()
        flusher.join(settings.stop_timeout)
        _boundary.debug(
            settings,
            f"ending with os._exit: flushed{kept}{' (timed out)' if flusher.is_alive() else ''} "
            f"{_otel.sdk_state()}",
        )
