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

from .. import _lifecycle
from .._imports import when_imported
from .._settings import Settings
from ._patch import guarded, patch_method


def install(settings: Settings) -> None:
    when_imported("gunicorn.arbiter", guarded(settings, "gunicorn.arbiter", _patch_arbiter))
    when_imported(
        "gunicorn.workers.base", guarded(settings, "gunicorn.workers.base", _patch_worker)
    )


def _patch_arbiter(module: Any) -> None:
    patch_method(
        module.Arbiter,
        "run",
        lambda: _lifecycle.supervising("gunicorn arbiter: forks the workers, serves nothing"),
    )


def _patch_worker(module: Any) -> None:
    # Every worker class (sync, gthread, gevent, uvicorn's) ends its own
    # init_process with this one.
    patch_method(
        module.Worker, "init_process", lambda: _lifecycle.serving("gunicorn worker starting")
    )
