"""hypercorn: a supervisor (``--workers N``, the default 1; ``--reload``) of spawned workers.

``hypercorn.run.run`` starts each worker with multiprocessing's spawn: fresh
interpreters whose ``.pth`` runs and defers (see ``_roles``) until the worker
function starts in them; it configures there, before the application is loaded.
The process that runs ``run`` serves only with ``--workers 0``; with ``--reload``
it is a reloader parent (it loads the application itself, to know which files
to watch), otherwise a supervisor. A spawned worker whose server has stopped
ignores further stop signals: its parent stops it with SIGTERM as soon as
another worker has exited, which would cut that worker's exit flush short (the
parent waits for every worker at its own exit).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from .._events import Context
from .._exit import hold_stop_signals
from .._imports import patch_on_import
from .._patching import is_patched, replace

_WORKERS = {
    "hypercorn.asyncio.run": ("asyncio_worker", "uvloop_worker"),
    "hypercorn.trio.run": ("trio_worker",),
}


def install(ctx: Context) -> None:
    patches: list[tuple[str, Callable[[Any], None]]] = [
        ("hypercorn.run", functools.partial(_patch_run, ctx))
    ]
    for module, names in _WORKERS.items():
        patches.append((module, functools.partial(_patch_workers, ctx, names)))
    patch_on_import(ctx.settings, patches)


def _patch_run(ctx: Context, module: Any) -> None:
    run = module.run
    if is_patched(run):
        return

    @functools.wraps(run)
    def supervising(config: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(config, "workers", 0) > 0:
            if getattr(config, "use_reloader", False):
                ctx.events.reloader_parent("hypercorn --reload supervisor: restarts the workers")
            else:
                ctx.events.supervising("hypercorn supervisor: spawns the workers")
        return run(config, *args, **kwargs)

    replace(module, "run", supervising)


def _patch_workers(ctx: Context, names: tuple[str, ...], module: Any) -> None:
    for name in names:
        worker = getattr(module, name, None)
        if worker is not None and not is_patched(worker):
            replace(module, name, _serving(ctx, worker))
    # hypercorn.asyncio.serve / hypercorn.trio.serve: the application's own loop.
    serve = getattr(module, "worker_serve", None)
    if serve is not None and not is_patched(serve):

        @functools.wraps(serve)
        async def worker_serve(*args: Any, **kwargs: Any) -> Any:
            ctx.events.serving("hypercorn server starting")
            return await serve(*args, **kwargs)

        replace(module, "worker_serve", worker_serve)


def _serving(ctx: Context, worker: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(worker)
    def serving(*args: Any, **kwargs: Any) -> Any:
        # Before the application is loaded (the worker function loads it).
        ctx.events.serving("hypercorn worker starting")
        result = worker(*args, **kwargs)
        if kwargs.get("shutdown_event") is not None:
            hold_stop_signals()  # a spawned worker: only its exit is left
        return result

    return serving
