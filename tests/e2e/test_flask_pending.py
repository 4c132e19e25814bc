"""Flask imported before the role is known: placeholders, then the instrumentation at serving.

A Werkzeug reloader parent imports Flask and never serves: it must import no
OpenTelemetry instrumentation (issue 11). A process that serves must end up with
exactly what the instrumentor applied at ``import flask`` gave it: the same pieces
in the same places, the same spans. The reference is ``_InstrumentedFlask``, the
class the instrumentor gives apps made after it is applied (``at-start``, a
reloader child, any app made once the process serves).
"""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.procs import Proc, Venv, free_port, otel_env, run, wait_port
from tests.support.receiver import Receiver, Span

# What one process of tests/e2e/apps/pieces.py and the checks below see of an app.
PROBE = '''
import json, sys
import flask, flask.app
from werkzeug.middleware.proxy_fix import ProxyFix

def loaded():
    return [m for m in sorted(sys.modules) if m.startswith("opentelemetry.instrumentation")]

def build(cls, name):
    """An app as tests/e2e/apps/pieces.py makes it."""
    app = cls(name)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    @app.before_request
    def answer_early():
        return "early" if flask.request.path == "/early" else None
    @app.teardown_request
    def mine_too(exc):
        return None
    app.route("/items/<int:item>")(lambda item: f"item {item}")
    return app

def layers(app):
    """What a request goes through, outermost first (a pass-through slot is not listed)."""
    found, layer = [], app.wsgi_app
    while True:
        if type(layer).__name__ == "_Slot":
            layer = layer.inner
        elif hasattr(layer, "app"):
            found.append(type(layer).__name__)
            layer = layer.app
        else:
            found.append(getattr(layer, "__qualname__", type(layer).__name__))
            return found

def pieces(app):
    return {
        "class": type(app).__qualname__,
        "attributes": sorted(vars(app)),
        "layers": layers(app),
        "original": app._original_wsgi_app.__qualname__,
        "before": [f.__name__ for f in app.before_request_funcs[None]],
        "teardown": [f.__name__ for f in app.teardown_request_funcs[None]],
        "marked": (app._is_instrumented_by_opentelemetry, app._before_request.__name__),
    }
'''

HELD = (
    PROBE
    + """
out = {"held": flask.Flask is not flask.app.Flask, "at_import": loaded()}
out["looks"] = [getattr(flask.Flask, a) == getattr(flask.app.Flask, a)
                for a in ("__name__", "__qualname__", "__module__", "__doc__")]
early, captured = build(flask.Flask, "early"), flask.Flask
class Sub(flask.Flask):
    pass
sub = build(Sub, "sub")
out["before_serving"] = {
    "loaded": loaded(), "before": [type(f).__name__ for f in early.before_request_funcs[None]],
    "slot": type(early.wsgi_app.app).__name__,
}

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_autoguard._process import PROCESS
PROCESS.serving("the check serves")
from opentelemetry import trace
memory = InMemorySpanExporter()
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(memory))

out["serving"] = {"loaded": "opentelemetry.instrumentation.flask" in loaded()}
reference = build(flask.Flask, "reference")
late = build(captured, "late")
out["pieces"] = {name: pieces(app) for name, app in
                 [("early", early), ("sub", sub), ("late", late), ("reference", reference)]}
spans = {}
headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
for name, app in [("early", early), ("sub", sub), ("late", late), ("reference", reference)]:
    client = app.test_client()
    codes = [client.get(p, headers=headers).status_code for p in ("/items/7", "/early", "/nope")]
    got = memory.get_finished_spans()
    memory.clear()
    spans[name] = {"codes": codes, "spans": [
        [s.name, s.kind.name, {k: v for k, v in s.attributes.items() if not k.endswith("port")}]
        for s in got
    ]}
out["spans"] = spans
# Names bound before serving (from flask import Flask) and flask.Flask now (the
# instrumentor's) both still hold; another app from a resolved app's class is
# instrumented once.
again = type(early)("again")
out["isinstance"] = {
    name: [isinstance(app, cls) for cls in (captured, flask.Flask, flask.app.Flask)]
    for name, app in [("early", early), ("sub", sub), ("late", late), ("reference", reference)]
}
out["again"] = [f.__name__ for f in again.before_request_funcs[None]]
print(json.dumps(out))
"""
)


def probe(venv: Venv, cwd: Path, code: str, **env: str) -> tuple[dict[str, Any], str]:
    """Run ``code`` in a ``python -c`` process (role defer): its JSON line, and its stderr."""
    environ = otel_env(
        "http://127.0.0.1:9",
        OTEL_AUTOGUARD_DEBUG="false",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        **env,
    )
    out = run([venv.python, "-c", code], cwd=cwd, env=environ)
    return json.loads(out.stdout.splitlines()[-1]), out.stderr


def peer(attributes: dict[str, Any]) -> Any:
    """The client's address, in the old or the new HTTP semantic conventions."""
    return attributes.get("client.address", attributes.get("net.peer.ip"))


def check_held_apps(venv: Venv, cwd: Path) -> dict[str, Any]:
    """Apps made before serving end up as the instrumentor's (any release): :data:`HELD`."""
    out, stderr = probe(venv, cwd, HELD)
    # Nothing of ours. (OpenTelemetry 1.28's SDK says "An instrument with name
    # http.server.duration ... has been created already" for each app after the first,
    # whichever way it was instrumented.)
    ours = [line for line in stderr.splitlines() if "otel-autoguard" in line or "Trace" in line]
    assert ours == []
    assert out["held"] is True and out["looks"] == [True] * 4
    assert out["at_import"] == []
    assert out["before_serving"] == {"loaded": [], "before": ["_Hook", "function"], "slot": "_Slot"}
    assert out["serving"] == {"loaded": True}
    reference = out["pieces"].pop("reference")
    assert reference == {
        "class": "_InstrumentedFlask",
        "attributes": reference["attributes"],
        "layers": ["ProxyFix", "_rewrapped_app.<locals>._wrapped_app"],
        "original": "Flask.wsgi_app",
        "before": ["_before_request", "answer_early"],
        "teardown": ["_teardown_request", "mine_too"],
        "marked": [True, "_before_request"],
    }
    assert {"_original_wsgi_app", "_is_instrumented_by_opentelemetry"} <= set(
        reference["attributes"]
    )
    # The app made before serving and the one made from the class captured then: the
    # instrumentor's class and pieces, in its places. A subclass keeps its own class.
    assert out["pieces"] == {
        "early": reference,
        "late": reference,
        "sub": {**reference, "class": "Sub"},
    }
    # The same requests, the same server spans: one each, answered early or not found too.
    expected = out["spans"]["reference"]
    assert expected["codes"] == [200, 200, 404]
    assert [kind for _, kind, _ in expected["spans"]] == ["SERVER"] * 3
    # Read inside ProxyFix, as the instrumentation is innermost.
    assert {(peer(a), a["http.scheme"]) for _, _, a in expected["spans"]} == {
        ("203.0.113.7", "https")
    }
    assert out["spans"] == dict.fromkeys(("early", "sub", "late", "reference"), expected)
    # A subclass made before serving derives from the Flask of that moment, not from the
    # instrumentor's class; the reference was never made from the held class.
    assert out["isinstance"] == {
        "early": [True, True, True],
        "late": [True, True, True],
        "sub": [True, False, True],
        "reference": [False, True, True],
    }
    assert out["again"] == ["_before_request"]
    return out


def test_apps_made_before_serving_get_what_the_instrumentor_gives(
    venv: Venv, tmp_path: Path
) -> None:
    out = check_held_apps(venv, tmp_path)
    assert [name for name, _, _ in out["spans"]["early"]["spans"]] == [
        "GET /items/<int:item>",
        "GET /early",
        "GET /nope",
    ]


@pytest.mark.parametrize(
    ("env", "code", "expected"),
    [
        pytest.param(
            {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "flask"},
            ("", ""),
            {"held": False, "class": "Flask", "loaded": []},
            id="disabled",
        ),
        pytest.param(
            {"OTEL_AUTOGUARD_INSTRUMENT": "at-start"},
            ("", ""),
            {"held": False, "class": "_InstrumentedFlask", "loaded": True},
            id="at-start",
        ),
        # A pre-fork master imports the app for its workers, who share what it imported.
        pytest.param(
            {},
            ("import sys, types; sys.modules['gunicorn'] = types.ModuleType('gunicorn')\n", ""),
            {"held": False, "class": "_InstrumentedFlask", "loaded": True},
            id="pre-fork",
        ),
        # The app imports the instrumentation itself: applied then, as at import before,
        # and an app made before has its pieces by the time the import statement returns.
        pytest.param(
            {},
            ("", "made = build(flask.Flask, 'made')\nimport opentelemetry.instrumentation.flask\n"),
            {"held": False, "class": "_InstrumentedFlask", "loaded": True},
            id="app-imports-it",
        ),
    ],
)
def test_when_nothing_is_held(
    venv: Venv, tmp_path: Path, env: dict[str, str], code: tuple[str, str], expected: Any
) -> None:
    first, then = code  # before the probe's `import flask`, and after it
    check = (
        first
        + PROBE
        + then
        + "apps = [build(flask.Flask, 'app'), *([made] if 'made' in globals() else [])]\n"
        + "print(json.dumps([{'held': any(type(f).__name__ == '_Hook' for f in "
        "app.before_request_funcs[None]), 'class': type(app).__name__, "
        "'loaded': 'opentelemetry.instrumentation.flask' in loaded() or loaded()} "
        "for app in apps]))\n"
    )
    out, stderr = probe(venv, tmp_path, check, **env)
    assert stderr == ""
    assert out == [expected] * (2 if "made =" in then else 1)


FAILURES = (
    PROBE
    + """
class NoTeardown(flask.Flask):
    def teardown_request(self, f):
        raise RuntimeError("no teardown here")
def refuse(self, value):
    raise RuntimeError("not settable here")
class Marked(flask.Flask):
    _is_instrumented_by_opentelemetry = property(lambda self: False, refuse)
broken, marked = NoTeardown("broken"), Marked("marked")
for app in (broken, marked):
    app.route("/")(lambda: "ok")
from otel_autoguard._process import PROCESS
PROCESS.serving("the check serves")
print(json.dumps([app.test_client().get("/").status_code for app in (broken, marked)]))
"""
)


def test_a_failure_is_one_line_and_the_app_runs_untraced(venv: Venv, tmp_path: Path) -> None:
    out, stderr = probe(venv, tmp_path, FAILURES)
    assert out == [200, 200]
    assert stderr.splitlines() == [
        "otel-autoguard: preparing a Flask app for its instrumentation failed "
        "(RuntimeError: no teardown here); this app's requests are not traced",
        "otel-autoguard: instrumenting a Flask app made before serving failed "
        "(RuntimeError: not settable here); "
        "this app's requests are not traced",
    ]


# --- real servers: tests/e2e/apps/pieces.py -------------------------------------------

HEADERS = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
PATHS = ("/items/7", "/early", "/")


def serve_each_path_once(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, mode: str, **env: str
) -> tuple[Proc, Shape]:
    port = free_port()
    proc = Proc(
        [venv.python, "pieces.py", mode],
        app_dir,
        otel_env(receiver.endpoint, PORT=str(port), **env),
        app_dir / f"pieces-{mode}.log",
    )
    procs.append(proc)
    wait_port(port, proc)
    for path in PATHS:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=HEADERS)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    spans = receiver.wait_for_server_spans(len(PATHS))
    assert len(spans) == len(PATHS) == len({s.span_id for s in spans}), proc.output()
    return proc, shape(spans, port)


Shape = list[tuple[str, list[tuple[str, Any]]]]


def shape(spans: list[Span], port: int) -> Shape:
    """Each span's name and attributes, the port (a new one per run) left out."""

    def same(value: Any) -> Any:
        return value.replace(f":{port}", ":PORT") if isinstance(value, str) else value

    return sorted(
        (s.name, sorted((k, same(v)) for k, v in s.attributes.items() if not k.endswith("port")))
        for s in spans
    )


def instrumentation_by_pid(proc: Proc) -> dict[int, str]:
    prefix = "instrumentation in pid "
    found = {}
    for line in proc.output().splitlines():
        if line.startswith(prefix):
            pid, modules = line[len(prefix) :].split(": ", 1)
            found[int(pid)] = modules
    return found


@pytest.mark.core
def test_the_reloader_parent_imports_no_instrumentation_and_spans_are_as_before(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    reference = Receiver().start()
    held = Receiver().start()
    try:
        # opentelemetry-instrument's way: the instrumentor applied at start.
        _, expected = serve_each_path_once(
            procs, venv, app_dir, reference, "nodebug", OTEL_AUTOGUARD_INSTRUMENT="at-start"
        )
        # No reloader: imported while the role is unknown, instrumented when it serves.
        single, from_held = serve_each_path_once(procs, venv, app_dir, held, "nodebug")
        # The reloader: the parent holds it back for good; its child serves from the start.
        proc, from_child = serve_each_path_once(procs, venv, app_dir, receiver, "debug")
    finally:
        reference.stop()
        held.stop()
    assert [name for name, _ in expected] == ["GET /", "GET /early", "GET /items/<int:item>"]
    assert {(peer(dict(a)), dict(a)["http.scheme"]) for _, a in expected} == {
        ("203.0.113.7", "https")
    }
    assert from_held == expected
    assert from_child == expected

    (child,) = proc.configured_pids()
    loaded = instrumentation_by_pid(proc)
    assert set(loaded) == {proc.pid, child}
    assert loaded[proc.pid] == "-"
    assert "opentelemetry.instrumentation.flask" in loaded[child].split()
    assert proc.decided(proc.pid)[-1][0] == "reloader-parent"
    (pid,) = instrumentation_by_pid(single)
    assert "opentelemetry.instrumentation.flask" in instrumentation_by_pid(single)[pid].split()
    assert single.configured_pids() == [pid] == [single.pid]
