"""Django: ``manage.py runserver`` (autoreloader parent and child) and any Django app.

The autoreloader parent restarts a child with ``RUN_MAIN=true``; it records its
pid for the child (as for Werkzeug, see ``_roles.reloader_child``), which then
configures at start. The parent runs the child with ``subprocess.run``, which on
Ctrl-C kills it after 0.25 s, and it has no SIGTERM handler at all: both become
a stop passed to the child, waited for (see ``_graceful``).

Django's instrumentor is applied when ``django.setup()`` has run (see
``_otel.LATE``): under runserver, gunicorn, uvicorn or any WSGI/ASGI entry point.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from .. import _boundary, _graceful, _lifecycle, _otel
from .._imports import when_imported
from .._settings import RELOADER_PID, Settings
from ._patch import MARK, guarded, is_patched, patch_method


def install(settings: Settings) -> None:
    when_imported("django", guarded(settings, "django", functools.partial(_patch_setup, settings)))
    when_imported(
        "django.utils.autoreload",
        guarded(settings, "django.utils.autoreload", functools.partial(_patch_reloader, settings)),
    )
    when_imported(
        "django.core.servers.basehttp",
        guarded(settings, "django.core.servers.basehttp", _patch_runserver),
    )


def _patch_setup(settings: Settings, module: Any) -> None:
    setup = module.setup
    if is_patched(setup):
        return

    @functools.wraps(setup)
    def setup_then_instrument(*args: Any, **kwargs: Any) -> Any:
        result = setup(*args, **kwargs)
        with _boundary.guard(settings, "instrumenting Django"):
            _otel.instrument_late(settings, "django")
        return result

    setattr(setup_then_instrument, MARK, True)
    module.setup = setup_then_instrument


def _patch_reloader(settings: Settings, module: Any) -> None:
    def entering() -> None:
        # Django's own test for its child; ours may miss one whose OTEL_* came later.
        if settings.django_run_main:
            return
        os.environ[RELOADER_PID] = str(os.getpid())
        _lifecycle.reloader_parent("entered Django's autoreloader as the parent")
        with _boundary.guard(settings, "making the autoreloader stop gracefully"):
            _graceful.install(module, settings)
            _graceful.exit_on_sigterm()

    patch_method(module, "restart_with_reloader", entering)


def _patch_runserver(module: Any) -> None:
    # runserver binds `run` at its own import, which follows this one.
    patch_method(module, "run", lambda: _lifecycle.serving("Django runserver starting"))
