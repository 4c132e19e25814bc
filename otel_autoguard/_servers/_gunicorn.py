"""gunicorn: the arbiter (master) forks workers; only the workers serve.

gunicorn forks without exec, so the ``.pth`` runs in the master alone. It stays a
supervisor (libraries instrumented, so ``--preload`` apps are patched, but no
SDK); each worker configures its own SDK at the start of ``init_process``, after
the fork and before it loads the application or accepts a connection. A worker
leaves through ``sys.exit`` (stop, HUP, ``--max-requests``, ``--reload``), so the
SDK's exit handlers flush what it holds.
"""

from __future__ import annotations

import functools
from typing import Any

from .._events import Context
from .._imports import when_imported
from .._patching import guarded, patch_method


def install(ctx: Context) -> None:
    arbiter = functools.partial(_patch_arbiter, ctx)
    when_imported("gunicorn.arbiter", guarded(ctx.settings, "gunicorn.arbiter", arbiter))
    worker = functools.partial(_patch_worker, ctx)
    when_imported("gunicorn.workers.base", guarded(ctx.settings, "gunicorn.workers.base", worker))


def _patch_arbiter(ctx: Context, module: Any) -> None:
    reason = "gunicorn arbiter: forks the workers, serves nothing"
    patch_method(module.Arbiter, "run", lambda: ctx.events.supervising(reason))


def _patch_worker(ctx: Context, module: Any) -> None:
    # Every worker class (sync, gthread, gevent, uvicorn's) ends its own
    # init_process with this one.
    serving = "gunicorn worker starting"
    patch_method(module.Worker, "init_process", lambda: ctx.events.serving(serving))
