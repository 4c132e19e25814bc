"""RQ: the default worker forks a work horse per job, which ends with ``os._exit``.

The worker is configured once, when its work loop starts (``BaseWorker.work``),
and each forked work horse is handed that SDK: the SDK's own fork hooks give the
horse a fresh, empty span queue and export thread, and the horse flushes spans
and logs right after the job (``perform_job``), before RQ's ``os._exit``, which
runs no exit handler. A job's span therefore leaves exactly once, from the horse
that ran it, under the worker's ``process.pid``: a horse is part of its worker,
as Werkzeug's forked request processes are part of their server. An SDK per
horse would cost a full set-up per job (measured: see ``bench/workers.py``). The
horse's metrics are not flushed: its meter provider is a copy of the worker's,
so exporting it would report the worker's counts twice.

``SimpleWorker`` runs the jobs in the worker itself: configured the same way,
flushed at exit by the exit plan. ``SpawnWorker``'s horse is a fresh
interpreter: configured on its own and flushed (everything) before it ends.

The spans come from ``opentelemetry-instrumentation-rq`` (``otel-autoguard[rq]``),
which registers no ``opentelemetry_instrumentor`` entry point: it is applied
here, unless ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` names ``rq``.
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from typing import Any

from .._boundary import emit, guard
from .._events import Context
from .._imports import patch_on_import
from .._patching import is_patched, replace
from .._providers import SIGNALS, pipelines

INSTRUMENTATION = "opentelemetry_instrumentation_rq"
# Everything opentelemetry-instrumentation-rq 0.1.x patches. RQ 3.0 has no
# Job.execute_*_callback: the instrumentor then fails half-way, leaving some
# patches in place, so it is applied only when every one of them exists.
INSTRUMENTED = (
    ("rq.queue", "Queue", "_enqueue_job"),
    ("rq.queue", "Queue", "schedule_job"),
    ("rq.queue", "Queue", "setup_dependencies"),
    ("rq.worker", "Worker", "perform_job"),
    ("rq.job", "Job", "perform"),
    ("rq.job", "Job", "execute_success_callback"),
    ("rq.job", "Job", "execute_failure_callback"),
    ("rq.job", "Job", "execute_stopped_callback"),
    ("rq.worker", "Worker", "handle_job_success"),
    ("rq.worker", "Worker", "handle_job_failure"),
)
# What opentelemetry-instrumentation-rq patches on rq.worker.Worker only; RQ 2.x+
# SimpleWorker derives from BaseWorker and would run without it.
_INSTRUMENTED_ON_WORKER = ("perform_job", "handle_job_success", "handle_job_failure")
# A horse flushes no metrics: its meter provider is the worker's, copied by the fork.
_HORSE_SIGNALS: tuple[str, ...] = ("traces", "logs")


def install(ctx: Context) -> None:
    patch_on_import(ctx.settings, [("rq.worker", functools.partial(_patch, ctx))])


def _patch(ctx: Context, module: Any) -> None:
    with guard(ctx.settings, "applying opentelemetry-instrumentation-rq", "jobs have no spans"):
        _instrument(ctx, module)
    base = getattr(module, "BaseWorker", None) or module.Worker
    work, main_work_horse = base.work, base.main_work_horse
    if is_patched(work):
        return

    @functools.wraps(work)
    def working(self: Any, *args: Any, **kwargs: Any) -> Any:
        ctx.events.serving(
            f"RQ worker started ({type(self).__name__}): runs the jobs or forks a work "
            "horse per job, which is handed this SDK"
        )
        return work(self, *args, **kwargs)

    @functools.wraps(main_work_horse)
    def horse(self: Any, *args: Any, **kwargs: Any) -> Any:
        with guard(ctx.settings, "preparing an RQ work horse", "this job's spans may be lost"):
            _flush_after_the_job(ctx, self)
        return main_work_horse(self, *args, **kwargs)

    replace(base, "work", working)
    replace(base, "main_work_horse", horse)


def _flush_after_the_job(ctx: Context, worker: Any) -> None:
    """In a work horse: flush what the job recorded before RQ's ``os._exit``."""
    signals = _HORSE_SIGNALS
    if pipelines()["traces"][0] is None:
        # SpawnWorker: a fresh interpreter (or a worker that was never configured,
        # whose role then keeps this one unconfigured too).
        ctx.events.serving("RQ work horse in a fresh interpreter (SpawnWorker)")
        signals = SIGNALS
    perform_job = worker.perform_job

    @functools.wraps(perform_job)
    def perform_then_flush(*args: Any, **kwargs: Any) -> Any:
        try:
            return perform_job(*args, **kwargs)
        finally:
            ctx.events.ending(signals)

    # On this horse's worker object only (outside the instrumentation's own wrapper,
    # so the job's span has ended): the horse performs one job and ends.
    replace(worker, "perform_job", perform_then_flush)


def _instrument(ctx: Context, module: Any) -> None:
    disabled = ctx.settings.disabled_instrumentations
    if "rq" in disabled or "*" in disabled or importlib.util.find_spec(INSTRUMENTATION) is None:
        return
    missing = [
        f"{name}.{attribute}"
        for module_name, name, attribute in INSTRUMENTED
        if not hasattr(getattr(sys.modules.get(module_name), name, None), attribute)
    ]
    if missing:
        from importlib.metadata import version

        emit(
            ctx.settings,
            f"opentelemetry-instrumentation-rq {version('opentelemetry-instrumentation-rq')} "
            f"does not support RQ {version('rq')} (no {', '.join(missing)}): not applied, "
            "so jobs have no span of their own; what a job itself records is still exported",
        )
        return
    from opentelemetry_instrumentation_rq import RQInstrumentor

    instrumentor = RQInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
    worker, simple = getattr(module, "Worker", None), getattr(module, "SimpleWorker", None)
    if worker is None or simple is None or issubclass(simple, worker):
        return
    for name in _INSTRUMENTED_ON_WORKER:
        wrapped = worker.__dict__.get(name)
        if wrapped is not None and name not in simple.__dict__:
            replace(simple, name, wrapped)
