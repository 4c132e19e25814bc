"""gunicorn: the arbiter (master) forks workers; only the workers serve.

gunicorn forks without exec, so the ``.pth`` runs in the master alone. It stays a
supervisor (libraries instrumented, so ``--preload`` apps are patched, but no
SDK); each worker configures its own SDK at the start of ``init_process``, after
the fork and before it loads the application or accepts a connection. A worker
leaves through ``sys.exit`` (stop, HUP, ``--max-requests``, ``--reload``), so the
SDK's exit handlers flush what it holds.
"""

from __future__ import annotations

from typing import Any

from .._events import Context
from .._imports import patch_on_import
from .._patching import patch_method


def install(ctx: Context) -> None:
    events = ctx.events
    reason = "gunicorn arbiter: forks the workers, serves nothing"

    def arbiter(module: Any) -> None:
        patch_method(module.Arbiter, "run", lambda: events.supervising(reason))

    def worker(module: Any) -> None:
        # Every worker class (sync, gthread, gevent, uvicorn's) ends its own
        # init_process with this one.
        patch_method(
            module.Worker, "init_process", lambda: events.serving("gunicorn worker starting")
        )

    patch_on_import(
        ctx.settings, [("gunicorn.arbiter", arbiter), ("gunicorn.workers.base", worker)]
    )
