"""Celery: the worker's main process forks pool processes (prefork); only they run tasks.

Everything goes through Celery's signals (public API), connected once
``celery.signals`` is imported:

- ``worker_init`` (the main process, before the pool starts): with the prefork
  pool the main process only receives messages and hands them to its pool
  processes: a supervisor (no SDK; its forks start as ``defer``). With ``solo``,
  ``threads``, ``gevent``, ``eventlet`` or any other pool that runs tasks in this
  process, it is configured here, before the first message is consumed. The ``celery``
  command monkey-patches for ``gevent`` and ``eventlet`` before it loads the app, so by
  now the SDK's threads and locks are green; Celery's instrumentor waits for that
  patching too (``_monkey``, ``_instrumentors``).
- ``worker_process_init`` (each pool process, after the fork and Celery's own
  set-up, before its first task): configured, with its own identity.
- ``worker_process_shutdown`` (each pool process, right before billiard ends it
  with ``os._exit``: ``--max-tasks-per-child`` recycling, warm shutdown): spans,
  then metrics and logs, are flushed and its exit reported, since no exit handler
  runs after ``os._exit``. A pool process is an instance of its own: its metrics
  and logs are its own too.
- ``beat_init`` (``celery beat``): configured; beat publishes the scheduled tasks.
"""

from __future__ import annotations

from typing import Any, Callable

from .._boundary import guard
from .._events import Context
from .._imports import patch_on_import
from .._providers import SIGNALS

_UID = "otel-autoguard"


def install(ctx: Context) -> None:
    patch_on_import(ctx.settings, [("celery.signals", lambda module: _connect(ctx, module))])


def _connect(ctx: Context, signals: Any) -> None:
    events = ctx.events

    def on(name: str, hook: Callable[[Any], None], consequence: str) -> None:
        def receiver(sender: Any = None, **_kwargs: Any) -> None:
            with guard(ctx.settings, f"handling Celery's {name} signal", consequence):
                hook(sender)

        # weak=False: the receiver is a closure nobody else holds. dispatch_uid:
        # connected once, however often this runs.
        getattr(signals, name).connect(receiver, weak=False, dispatch_uid=f"{_UID}:{name}")

    on("worker_init", lambda worker: _worker_init(ctx, worker), "this worker exports nothing")
    on(
        "worker_process_init",
        lambda _sender: events.serving("Celery pool process started: runs the tasks"),
        "this pool process exports nothing",
    )
    on(
        "worker_process_shutdown",
        lambda _sender: events.ending(SIGNALS, report=True),
        "what this pool process still held may be lost",
    )
    on(
        "beat_init",
        lambda _sender: events.serving("Celery beat started: publishes the scheduled tasks"),
        "beat exports nothing",
    )


def pool_kind(pool_cls: Any) -> tuple[str, str]:
    """(kind, name) of a worker's pool: kind ``prefork``, or ``in-process`` (solo, threads,
    gevent, eventlet, others: the tasks run in the worker's own process); name as given to
    ``--pool`` where known."""
    from celery.concurrency import ALIASES, get_implementation
    from celery.concurrency.prefork import TaskPool as Prefork

    cls = get_implementation(pool_cls)
    path = f"{getattr(cls, '__module__', '')}:{getattr(cls, '__name__', '')}"
    name = next((alias for alias, target in ALIASES.items() if target == path), path)
    if isinstance(cls, type) and issubclass(cls, Prefork):
        return "prefork", name
    return "in-process", name


def _worker_init(ctx: Context, worker: Any) -> None:
    events = ctx.events
    kind, name = pool_kind(getattr(worker, "pool_cls", None))
    if kind == "prefork":
        events.supervising(
            "Celery worker main process (prefork pool): forks the pool processes, runs no task"
        )
    else:
        events.serving(f"Celery worker ({name} pool): runs the tasks in this process")
