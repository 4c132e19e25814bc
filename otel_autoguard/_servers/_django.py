"""Django: ``manage.py runserver`` (autoreloader parent and child) and any Django app.

The autoreloader parent restarts a child with ``RUN_MAIN=true``; it records its
pid for the child (as for Werkzeug, see ``_roles.reloader_child``), which then
configures at start. The parent runs the child with ``subprocess.run``, which on
Ctrl-C kills it after 0.25 s, and its SIGTERM handler (``sys.exit(0)``) leaves
the child running: both become a stop passed to the child, waited for (see
``_reloader``). The child takes the first stop signal only, once Django has set
its own handlers (``start_django``).

Django's instrumentor is applied when ``django.setup()`` has run (see
``_otel.LATE``): under runserver, gunicorn, uvicorn or any WSGI/ASGI entry point.
"""

from __future__ import annotations

import functools
from typing import Any

from .. import _reloader
from .._events import Context
from .._imports import patch_on_import
from .._patching import is_patched, patch_method, replace


def install(ctx: Context) -> None:
    patches = {
        "django": _patch_setup,
        "django.utils.autoreload": _patch_reloader,
        "django.core.servers.basehttp": _patch_runserver,
    }
    patch_on_import(ctx.settings, [(m, functools.partial(p, ctx)) for m, p in patches.items()])


def _patch_setup(ctx: Context, module: Any) -> None:
    setup = module.setup
    if is_patched(setup):
        return

    @functools.wraps(setup)
    def setup_then_instrument(*args: Any, **kwargs: Any) -> Any:
        result = setup(*args, **kwargs)
        ctx.events.library_ready("django")
        return result

    replace(module, "setup", setup_then_instrument)


def _patch_reloader(ctx: Context, module: Any) -> None:
    # Django's own test for its child is RUN_MAIN=true.
    run_main = ctx.settings.django_run_main

    def entering() -> None:
        reason = "entered Django's autoreloader as the parent"
        _reloader.entering_as_parent(ctx, module, run_main, reason)

    patch_method(module, "restart_with_reloader", entering)
    # run_with_reloader has set SIGTERM to sys.exit(0), in the main thread, by then.
    patch_method(module, "start_django", lambda: _reloader.child_serving(run_main))


def _patch_runserver(ctx: Context, module: Any) -> None:
    # runserver binds `run` at its own import, which follows this one.
    patch_method(module, "run", lambda: ctx.events.serving("Django runserver starting"))
