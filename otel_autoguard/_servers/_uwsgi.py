"""uWSGI: the master starts Python once and forks workers without exec.

The ``.pth`` runs once, in the first process, before uWSGI has created its
``uwsgi`` module; no worker runs it again. The master then loads the app (unless
``--lazy-apps``) and forks; uWSGI does not run ``os.register_at_fork`` hooks in
workers (unless ``--py-call-osafterfork``), so the only per-worker Python entry
is its own ``uwsgi.post_fork_hook``.

The first ``import`` statement after the ``uwsgi`` module exists tells where we
are: in the master (the app loads before the fork), ``uwsgi.post_fork_hook`` is
set; in a worker (``--lazy-apps``, the app loads after the fork), the worker is
configured at once. Either way before its first request, and with handlers of its
own for the stop signals until uWSGI sets the worker's (it still has the master's,
under which a stop is lost). Each worker then sets
``uwsgi.atexit`` to flush on its way out. A hook the application sets before or
after ours is kept and called too.
"""

from __future__ import annotations

import builtins
import os
import signal
import sys
import types
from collections.abc import Mapping
from typing import Any, Callable

from .._boundary import emit, guard
from .._events import Context
from .._exit import stop_at_once

# From this release on, Python threads are always on (``--enable-threads`` is a
# no-op); before it they are off unless one of the options below is given.
THREADS_ALWAYS_ON = (2, 0, 27)
# uWSGI options flagged UWSGI_OPT_THREADS (core and Python plugin, 2.0.x).
THREAD_OPTIONS = frozenset(
    {
        "enable-threads",
        "threads",
        "thread-stacksize",
        "threads-stacksize",
        "thread-stack-size",
        "threads-stack-size",
        "py-tracebacker",
        "py-autoreload",
        "py-auto-reload",
        "python-autoreload",
        "python-auto-reload",
        "py-auto-reload-ignore",
        "gevent",
        "asyncio",
        "tornado",
    }
)
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP)
# uWSGI's own reading of a boolean option's value (uwsgi_opt_true).
_FALSE = frozenset({"0", "false", "no", "off"})

Hook = Callable[[], None]


def install(ctx: Context) -> None:
    if ctx.decision.launcher == "uwsgi":
        _on_first_import_with_uwsgi(lambda uwsgi: _attach(ctx, uwsgi))


def threads_enabled(version_info: tuple[Any, ...], opt: Mapping[str, Any]) -> bool:
    """Whether uWSGI runs Python threads (``uwsgi.version_info``, ``uwsgi.opt``)."""
    if tuple(version_info[:3]) >= THREADS_ALWAYS_ON:
        return True
    return any(_set(opt[name]) for name in THREAD_OPTIONS & set(opt))


def _set(value: Any) -> bool:
    """An option's value as uWSGI reads a boolean (``uwsgi_opt_true``)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, list):
        return any(_set(v) for v in value)
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return text.lower() not in _FALSE


def _on_first_import_with_uwsgi(callback: Callable[[Any], None]) -> None:
    """Call ``callback(uwsgi)`` at the first ``import`` statement once it exists.

    uWSGI creates its module in C (no import finder sees it) after the ``.pth``
    ran; the app's loading runs import statements, even of modules loaded before
    (which a ``sys.meta_path`` finder would not see). Removed after one call.
    """
    original = builtins.__import__

    def watching(*args: Any, **kwargs: Any) -> Any:
        uwsgi = sys.modules.get("uwsgi")
        if uwsgi is not None and builtins.__import__ is watching:
            builtins.__import__ = original
            callback(uwsgi)
        return original(*args, **kwargs)

    builtins.__import__ = watching


def _attach(ctx: Context, uwsgi: Any) -> None:
    settings, events = ctx.settings, ctx.events
    with guard(settings, "hooking uWSGI", "uWSGI's workers are not recognised as such"):
        worker = uwsgi.worker_id()
        if not threads_enabled(uwsgi.version_info, uwsgi.opt):
            if worker <= 1:
                emit(
                    settings,
                    "uWSGI runs without Python threads, so the exporters' threads would "
                    "never run while a worker waits for requests; telemetry is off. "
                    "Add --enable-threads (enable-threads = true), or use uWSGI 2.0.27 "
                    "or later, where threads are always on",
                )
            events.never_serve("uWSGI without Python threads (--enable-threads)")
            return
        if worker <= 1 and _set(uwsgi.opt.get("skip-atexit")):
            emit(
                settings,
                "uWSGI --skip-atexit: workers end with _exit(), so the spans and metrics "
                "a worker still holds when it stops, reloads or is recycled are lost; "
                "remove --skip-atexit (--skip-atexit-teardown is fine)",
            )
        if worker > 0:
            # --lazy-apps: the app loads in the worker, after the fork.
            _worker_started(ctx, uwsgi)
            return
        _chain(uwsgi, "post_fork_hook", before=lambda: _worker_started(ctx, uwsgi))
        if uwsgi.masterpid() == os.getpid():
            events.supervising("uWSGI master: forks the workers, serves no request")


def _worker_started(ctx: Context, uwsgi: Any) -> None:
    events = ctx.events
    with guard(ctx.settings, "starting a uWSGI worker", "this worker exports nothing"):
        events.forked()
        if uwsgi.worker_id() <= 0:
            # Mules and spoolers run the post-fork hook too; they answer no request.
            events.never_serve("uWSGI mule or spooler: serves no request")
            return
        # Before the app's own exit work (which may still end spans), stop
        # signals are held; after it, everything is flushed. ``uwsgi.atexit`` runs
        # before the interpreter's own teardown, and also with
        # ``--skip-atexit-teardown``, which skips Python's exit handlers.
        _chain(uwsgi, "atexit", before=_hold_stop_signals, after=events.flush)
        # Until uWSGI's C code sets this worker's handlers (after this hook, and after the
        # app is loaded with --lazy-apps), it has the master's, under which a stop is lost.
        stop_at_once((signal.SIGINT, signal.SIGTERM, signal.SIGQUIT))
        # uWSGI's signal handlers call exit(): run in the SDK's export threads,
        # they would end the worker while its main thread flushes. Threads
        # inherit the signal mask of the thread that starts them.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            events.serving(f"uWSGI worker {uwsgi.worker_id()} started")
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _hold_stop_signals() -> None:
    # The master passes a stop on to a worker that had it already (a terminal's
    # Ctrl-C reaches the whole group): a repeat must not cut the flush.
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class _Chain:
    """The application's hook (set before or after ours), with ours around it."""

    def __init__(self, app: Any, before: Hook | None, after: Hook | None) -> None:
        self.app = app
        self.before = before
        self.after = after

    def __call__(self) -> None:
        if self.before is not None:
            self.before()
        try:
            if callable(self.app):
                self.app()
        finally:
            if self.after is not None:
                self.after()


class _UwsgiModule(types.ModuleType):
    """The ``uwsgi`` module, where assigning a hook we hold keeps ours in front.

    ``import uwsgidecorators`` sets ``uwsgi.post_fork_hook`` unconditionally, and
    apps set ``uwsgi.atexit`` themselves: the new value becomes the app's part.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        current = self.__dict__.get(name)
        if isinstance(current, _Chain) and not isinstance(value, _Chain):
            current.app = value
            return
        super().__setattr__(name, value)


def _chain(uwsgi: Any, name: str, *, before: Hook | None = None, after: Hook | None = None) -> None:
    if isinstance(getattr(uwsgi, name, None), _Chain):
        return
    if type(uwsgi) is types.ModuleType:
        uwsgi.__class__ = _UwsgiModule
    setattr(uwsgi, name, _Chain(getattr(uwsgi, name, None), before, after))
