"""Flask in a process whose role is not known yet: placeholders now, instrumentation at serving.

Applying OpenTelemetry's Flask instrumentor at ``import flask`` imports the
instrumentation and what it needs (wrapt and with it asyncio, packaging, the
API, the WSGI instrumentation: 5.5 MiB measured) in every process that imports
Flask, a Werkzeug reloader parent included, which never serves. Where the role
is still ``defer``, ``flask.Flask`` becomes a thin subclass instead, whose
constructor puts placeholders where ``_InstrumentedFlask.__init__`` puts its
pieces, in the same order: ``wsgi_app`` wrapped innermost by a pass-through
:class:`_Slot` (a ``ProxyFix`` the app adds later wraps it, as it would wrap the
instrumentation), then one :class:`_Hook` registered as ``before_request`` and
one as ``teardown_request``, first among the app's own.

When the process serves (:func:`release`, from ``instrument_serving``), or as
soon as the application imports the instrumentation itself, the instrumentor is
applied as before (apps made from then on are ``_InstrumentedFlask``) and each
app made earlier gets the pieces ``FlaskInstrumentor.instrument_app`` builds,
moved into the placeholders' places, with the attributes and the class
``_InstrumentedFlask`` would have given it. A reloader parent, or a process that
never serves, imports none of it.

A pre-fork server's master imports the app for its workers, who share what it
imported: there, and once the process serves, the instrumentor is applied at
``import flask`` as before.
"""

from __future__ import annotations

import functools
import sys
import weakref
from typing import Any, Callable

from ._boundary import guard
from ._forks import Lock
from ._imports import before_import, patch_on_import
from ._patching import guarded, replace
from ._settings import Settings

ENTRY = "flask"
"""The instrumentor entry point held back here."""
_INSTRUMENTATION = "opentelemetry.instrumentation.flask"
# Imported by then: the process is a pre-fork master (or one of its workers).
_PRE_FORK = ("gunicorn", "uwsgi", "granian", "celery")
_UNTRACED = "this app's requests are not traced"


class _Slot:
    """The app's ``wsgi_app`` until the instrumented one takes its place inside."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, environ: Any, start_response: Any) -> Any:
        return self.inner(environ, start_response)


class _Hook:
    """A request hook that does nothing until the instrumentation's own is in place."""

    __slots__ = ("real",)

    def __init__(self) -> None:
        self.real: Any = None

    def __call__(self, *args: Any) -> Any:
        real = self.real
        return None if real is None else real(*args)


class _Built:
    """What ``instrument_app`` is given instead of the app, to build its pieces on.

    On the app itself it would wrap the outermost ``wsgi_app`` and append its hooks
    after the app's own; ``_InstrumentedFlask`` has them innermost and first.
    """

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app
        self.before: Any = None
        self.teardown: Any = None

    def before_request(self, f: Any) -> Any:
        self.before = f
        return f

    def teardown_request(self, f: Any) -> Any:
        self.teardown = f
        return f


class _Held:
    """This process's state (a forked child inherits it, apps included)."""

    def __init__(self) -> None:
        self.lock = Lock(reentrant=True)
        self.settings: Settings | None = None
        self.apply: Callable[[], None] | None = None
        self.released = False
        """The instrumentor was applied, or is applied at ``import flask`` from now on."""
        self.original: Any = None  # flask's own Flask
        self.pending: Any = None  # ours
        self.instrumentation: Any = None  # its module, once the instrumentor is applied
        self.instrumented: Any = None  # the class it gives apps (_InstrumentedFlask)
        self.combined: Any = None  # an _InstrumentedFlask that is also ours (see _combined)
        self.apps: weakref.WeakKeyDictionary[Any, tuple[_Slot, _Hook, _Hook]] = (
            weakref.WeakKeyDictionary()
        )


_held = _Held()


def on_import(settings: Settings, apply: Callable[[Any], None], flask: Any) -> None:
    """``import flask``: hold the instrumentor back, or apply it now (``apply(flask)``)."""
    if (
        _held.released
        or _INSTRUMENTATION in sys.modules  # importing flask: the app's own instrumenting
        or any(name in sys.modules for name in _PRE_FORK)
    ):
        apply(flask)
        return
    with guard(
        settings,
        "holding Flask's instrumentation until this process serves",
        "Flask is instrumented now, as before",
    ) as outcome:
        _hold(settings, flask, functools.partial(apply, flask))
    if not outcome.ok:
        apply(flask)


def _hold(settings: Settings, flask: Any, apply: Callable[[], None]) -> None:
    original = flask.Flask
    pending = _subclass(original)
    if not before_import(_INSTRUMENTATION, guarded(settings, _INSTRUMENTATION, _restore)):
        raise RuntimeError(f"{_INSTRUMENTATION} was imported meanwhile")
    patch_on_import(settings, [(_INSTRUMENTATION, lambda _module: release())])
    with _held.lock:
        _held.settings, _held.apply = settings, apply
        _held.original, _held.pending = original, pending
    replace(flask, "Flask", pending)


def _subclass(original: Any) -> Any:
    """``flask.Flask`` as the application sees it: Flask's own, placeholders added."""

    @functools.wraps(original.__init__)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        super(cls, self).__init__(*args, **kwargs)
        _placeholders(self)

    names = {name: getattr(original, name) for name in ("__module__", "__qualname__", "__doc__")}
    cls: Any = type(original.__name__, (original,), {"__init__": __init__, **names})
    return cls


def _restore(_module: Any) -> None:
    """Before the instrumentation's code runs: it subclasses ``flask.Flask`` as it finds
    it (``class _InstrumentedFlask(flask.Flask)``), which must be Flask's own."""
    flask: Any = sys.modules.get("flask")
    if flask is not None and _held.pending is not None and flask.Flask is _held.pending:
        flask.Flask = _held.original  # not replace(): that would mark Flask's own class


def _placeholders(app: Any) -> None:
    instrumented = _held.instrumented
    if instrumented is not None and isinstance(app, instrumented):
        return  # made by _InstrumentedFlask.__init__ (type(app)(...) of a resolved app)
    with guard(_held.settings, "preparing a Flask app for its instrumentation", _UNTRACED):
        slot, before, teardown = _Slot(app.wsgi_app), _Hook(), _Hook()
        app.wsgi_app = slot
        app.before_request(before)
        app.teardown_request(teardown)
        with _held.lock:
            _held.apps[app] = (slot, before, teardown)
            ready = _held.instrumentation is not None
        if ready:  # made from our class after the instrumentor was applied
            _resolve(app)


def release() -> None:
    """The process serves, or the application imports the instrumentation: apply the
    instrumentor, then give each app made so far the pieces it would have had."""
    with _held.lock:
        if _held.released:
            return
        _held.released = True
        apply, _held.apply = _held.apply, None
    if apply is None:
        return
    apply()  # imports the instrumentation (when serving): this is called again, and returns
    module = sys.modules.get(_INSTRUMENTATION)
    if module is None or not module.FlaskInstrumentor().is_instrumented_by_opentelemetry:
        return  # not applied: a version conflict or a failure, already reported
    flask_class = getattr(sys.modules.get("flask"), "Flask", None)
    with _held.lock:
        if getattr(flask_class, "__bases__", None) == (_held.original,):
            _held.instrumented = flask_class
            _held.combined = _combined(flask_class, _held.pending)
        _held.instrumentation = module
        apps = list(_held.apps)
    for app in apps:
        _resolve(app)


def _resolve(app: Any) -> None:
    with _held.lock:
        pieces = _held.apps.pop(app, None)
    if pieces is None:
        return
    slot, before, teardown = pieces
    with guard(_held.settings, "instrumenting a Flask app made before serving", _UNTRACED):
        original_wsgi = slot.inner  # what _InstrumentedFlask keeps as _original_wsgi_app
        built = _Built(original_wsgi)
        _held.instrumentation.FlaskInstrumentor.instrument_app(built)
        if built.before is None or built.teardown is None:
            raise RuntimeError("FlaskInstrumentor.instrument_app registered no request hooks")
        # What _InstrumentedFlask.__init__ sets on the app (not _teardown_request).
        app._original_wsgi_app = original_wsgi
        app._is_instrumented_by_opentelemetry = True
        app._before_request = built.before
        # Normally before any request. For one under way, teardown first: with no span
        # started it does nothing, while a span started with no teardown would never end.
        _move(app.teardown_request_funcs, teardown, built.teardown)
        _move(app.before_request_funcs, before, built.before)
        slot.inner = built.wsgi_app
        if app.__dict__.get("wsgi_app") is slot:  # not wrapped since: exactly as before
            app.wsgi_app = built.wsgi_app
        if type(app) is _held.pending and _held.combined is not None:
            app.__class__ = _held.combined  # a user's subclass keeps its own class


def _combined(instrumented: Any, pending: Any) -> Any:
    """``_InstrumentedFlask``, also a subclass of ours: an app that changes class stays an
    instance of the ``Flask`` that modules imported before serving hold
    (``from flask import Flask``), and is one of ``flask.Flask`` (the instrumentor's) after."""
    names = {n: getattr(instrumented, n) for n in ("__module__", "__qualname__", "__doc__")}
    return type(instrumented.__name__, (instrumented, pending), names)


def _move(funcs: dict[Any, list[Any]], placeholder: _Hook, real: Any) -> None:
    """Put ``real`` where ``placeholder`` is among the app's own hooks."""
    placeholder.real = real
    hooks = funcs.get(None, [])
    for index, hook in enumerate(hooks):
        if hook is placeholder:
            hooks[index] = real
            return
