"""The doctor's pure pieces: resolution, conflict checks, verdict, redaction, rendering."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from otel_autoguard import __main__ as cli
from otel_autoguard import _doctor, load_settings
from otel_autoguard._doctor import _check, _conflicts, _exports, _render, _role
from otel_autoguard._doctor._model import Export, Facts, HookFile
from otel_autoguard._settings._doctor import exec_environ, load_doctor_env, parse_headers

SITE = "/venv/lib/python3.11/site-packages"
INSTRUMENT = f"{SITE}/opentelemetry/instrumentation/auto_instrumentation"
ENTRY_POINTS = {
    "opentelemetry_traces_exporter": frozenset({"console", "otlp_proto_http"}),
    "opentelemetry_metrics_exporter": frozenset({"console", "otlp_proto_http"}),
    "opentelemetry_logs_exporter": frozenset({"console", "otlp_proto_http"}),
    "opentelemetry_traces_sampler": frozenset(),
    "opentelemetry_configurator": frozenset({"configurator"}),
}
HOOKS = (
    HookFile(f"{SITE}/otel_autoguard.pth", "pth", True),
    HookFile(f"{SITE}/otel_autoguard.start", "start", True),
)


def exports(environ: dict[str, str], grpc: bool = False) -> dict[str, Export]:
    return {e.signal: e for e in _exports.resolve(load_doctor_env(environ), grpc)}


def facts(environ: dict[str, str], **changes: Any) -> Facts:
    env = load_doctor_env(environ)
    base = Facts(
        settings=load_settings(environ),
        env=env,
        exports=_exports.resolve(env, grpc_installed=False),
        entry_points=ENTRY_POINTS,
        hook_files=HOOKS,
        sitecustomize=None,
        sitecustomize_text="",
        loaded_modules=frozenset(),
        installed=frozenset(),
    )
    return dataclasses.replace(base, **changes)


def findings(environ: dict[str, str], **changes: Any) -> list[tuple[str, str]]:
    return [(f.severity, f.what) for f in _conflicts.find(facts(environ, **changes))]


# --- resolution -------------------------------------------------------------------------


def test_defaults_without_the_grpc_exporter() -> None:
    for signal, export in exports({}).items():
        assert (export.exporters, export.entry_points) == (("otlp",), ("otlp_proto_http",))
        assert export.protocol == "http/protobuf"
        assert export.protocol_source.startswith("otel-autoguard's default")
        assert export.endpoint == f"http://localhost:4318/v1/{signal}"
        assert (export.endpoint_source, export.headers) == ("the default", ())


def test_defaults_with_the_grpc_exporter() -> None:
    for export in exports({}, grpc=True).values():
        assert (export.protocol, export.protocol_source) == ("grpc", "the distro's default")
        assert export.entry_points == ("otlp_proto_grpc",)
        assert export.endpoint == "http://localhost:4317"


def test_base_and_per_signal_variables() -> None:
    found = exports(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://c.example:4318/",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "https://logs.example/custom",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_HEADERS": "a=1",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=2",
            "OTEL_TRACES_EXPORTER": "otlp,console",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": "/ca.pem",
        }
    )
    traces, metrics, logs = found["traces"], found["metrics"], found["logs"]
    assert traces.endpoint == "https://c.example:4318/v1/traces"
    assert traces.endpoint_source == "OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces"
    assert traces.entry_points == ("otlp_proto_http", "console")
    assert (traces.headers, traces.headers_source) == (
        (("b", "2"),),
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    )
    assert (metrics.protocol, metrics.protocol_source) == (
        "grpc",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    )
    assert metrics.endpoint == "https://c.example:4318/"  # gRPC takes the base as is
    assert metrics.headers == (("a", "1"),)
    assert (logs.endpoint, logs.endpoint_source) == (
        "https://logs.example/custom",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    )
    assert traces.certificate == "/ca.pem"


def test_none_and_non_otlp_exporters_have_no_endpoint() -> None:
    found = exports({"OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "console"})
    assert found["metrics"].exporters == () and found["metrics"].endpoint is None
    assert found["logs"].entry_points == ("console",) and not found["logs"].otlp
    assert found["logs"].headers == ()


def test_explicit_grpc_exporter_name_sets_the_protocol() -> None:
    found = exports({"OTEL_TRACES_EXPORTER": "otlp_proto_grpc"})
    assert (found["traces"].protocol, found["traces"].endpoint) == (
        "grpc",
        "http://localhost:4317",
    )


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("a=1,B=two%20words", (("a", "1"), ("b", "two words"))),
        ("Authorization: Bearer x", (("", "Authorization: Bearer x"),)),
        ("justatoken", (("", "justatoken"),)),
        (" , k=v=w ", (("k", "v=w"),)),
    ],
)
def test_parse_headers(raw: str, parsed: tuple[tuple[str, str], ...]) -> None:
    assert parse_headers(raw) == parsed


def test_doctor_env_keeps_agent_variable_names_not_values() -> None:
    env = load_doctor_env(
        {"NEW_RELIC_LICENSE_KEY": "secret", "DD_SERVICE": "shop", "PYTHONPATH": "/a::/b"}
    )
    assert env.agent_variables == (("ddtrace", "DD_SERVICE"), ("newrelic", "NEW_RELIC_LICENSE_KEY"))
    assert env.pythonpath == ("/a", "/b")
    assert env.has_otel_variables is False
    assert load_doctor_env({"OTEL_X": ""}).has_otel_variables is True


# --- conflicts ------------------------------------------------------------------------


def test_a_clean_environment_has_no_findings() -> None:
    assert findings({"OTEL_SERVICE_NAME": "x"}) == []


def test_hook_installation() -> None:
    assert findings({}, hook_files=()) == [
        (
            "error",
            "otel_autoguard.pth is not in any site directory of this interpreter, so the hook "
            "never runs",
        )
    ]
    twice = (*HOOKS, HookFile("/home/u/.local/otel_autoguard.pth", "pth", True))
    assert [s for s, _ in findings({}, hook_files=twice)] == ["warning"]
    edited = (HookFile(f"{SITE}/otel_autoguard.pth", "pth", False),)
    assert findings({}, hook_files=edited) == [
        ("error", f"{SITE}/otel_autoguard.pth does not contain what this version installs")
    ]


def test_opentelemetry_instrument_is_named_once_not_as_another_sitecustomize() -> None:
    environ = {
        "PYTHONPATH": f"{INSTRUMENT}:/x",
        "OTEL_SERVICE_NAME": "x",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    found = findings(
        environ,
        sitecustomize=f"{INSTRUMENT}/sitecustomize.py",
        sitecustomize_text="from opentelemetry.instrumentation.auto_instrumentation import x",
    )
    assert len(found) == 1
    # otel-autoguard stands in for it: a note, not a conflict.
    assert found[0][0] == "info"
    assert found[0][1].startswith(
        f"opentelemetry-instrument's sitecustomize is on PYTHONPATH ({INSTRUMENT}): "
        "otel-autoguard does its work instead"
    )
    assert found[0][1].endswith("; it ran in this process too, so the configuration shown "
                                "includes the defaults its distro set (e.g. "
                                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc)")  # fmt: skip


def test_opentelemetry_instrument_while_otel_autoguard_is_off() -> None:
    found = findings({"PYTHONPATH": INSTRUMENT, "OTEL_AUTOGUARD_ENABLED": "false"})
    assert [severity for severity, _ in found] == ["warning", "error"]
    assert found[0][1].endswith("and otel-autoguard is off: it sets up OpenTelemetry in every "
                                "Python process started from here (reloader parents and "
                                "pre-fork masters too)")  # fmt: skip
    assert found[1][1] == (
        "traces, metrics, logs: no OTLP protocol is set: every process here is set up by "
        "opentelemetry-instrument (otel-autoguard is off) and gets the distro's default, grpc, "
        "and the gRPC exporter is not installed: its set-up fails with a traceback on stderr and "
        "nothing is exported"
    )


def test_opentelemetry_instrument_gets_the_distros_grpc_default_where_it_sets_up() -> None:
    environ = {"PYTHONPATH": INSTRUMENT, "OTEL_SERVICE_NAME": "x"}
    found = findings({**environ, "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc"})
    # Only the processes otel-autoguard skips get that default: not an error for the app.
    assert [severity for severity, _ in found] == ["info", "warning", "error"]
    assert found[1][1] == (
        "traces, metrics: no OTLP protocol is set: the processes otel-autoguard sets up get "
        "http/protobuf, but those it leaves to opentelemetry-instrument (tools, helpers) get the "
        "distro's default, grpc, and the gRPC exporter is not installed: their set-up fails with "
        "a traceback on stderr (they run on)"
    )
    assert found[2][1].startswith("logs: gRPC protocol (from OTEL_EXPORTER_OTLP_LOGS_PROTOCOL)")
    everywhere = findings({**environ, "OTEL_AUTOGUARD_ROLE": "skip"})
    assert [severity for severity, _ in everywhere] == ["info", "error"]
    assert (
        "every process here is set up by opentelemetry-instrument (OTEL_AUTOGUARD_ROLE=skip)"
        in (everywhere[1][1])
    )


@pytest.mark.parametrize("agent", ["ddtrace", "newrelic"])
def test_other_agents(agent: str) -> None:
    bootstrap = f"{SITE}/{agent}/bootstrap"
    found = findings(
        {"PYTHONPATH": bootstrap + "/"},
        sitecustomize=f"{bootstrap}/sitecustomize.py",
        sitecustomize_text="import opentelemetry",  # must not also count as "another" one
    )
    assert len(found) == 1 and found[0][0] == "warning"
    assert found[0][1].startswith(f"{agent} is active: ")
    loaded = findings({}, loaded_modules=frozenset({agent}))
    assert "it is already imported at start" in loaded[0][1]
    variable = "DD_SERVICE" if agent == "ddtrace" else "NEW_RELIC_APP_NAME"
    assert findings({variable: "x"}) == []  # configured but not installed
    (info,) = findings({variable: "x"}, installed=frozenset({agent}))
    assert info[0] == "info" and f"({variable})" in info[1]


def test_protocol_and_port_mismatch() -> None:
    # One finding for the three signals, which share the mistake.
    ((severity, what),) = findings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"})
    assert severity == "warning"
    assert what.startswith("traces, metrics, logs: protocol http/protobuf (from otel-autoguard")
    ((_, what),) = findings(
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4317/v1/traces", "OTEL_METRICS_EXPORTER":
         "none", "OTEL_LOGS_EXPORTER": "none"}
    )  # fmt: skip
    assert what.startswith("traces: protocol http/protobuf")
    assert (
        findings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_TRACES_EXPORTER": "none",
                  "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"})
        == []
    )  # fmt: skip
    # Any other port is the user's business.
    assert findings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:9999"}) == []


def test_endpoint_paths() -> None:
    (found,) = findings({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318"})
    assert found == (
        "error",
        "traces: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is and has no path, so exports "
        "go to / (collectors answer /v1/traces)",
    )
    assert len(findings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/v1/traces"})) == 3
    assert findings({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/prefix"}) == []


def test_header_elements_without_equals_sign() -> None:
    found = findings({"OTEL_EXPORTER_OTLP_HEADERS": "a=1,Authorization: Bearer s3cret"})
    assert found == [
        (
            "warning",
            "traces, metrics, logs: an element of OTEL_EXPORTER_OTLP_HEADERS has no '=', so the "
            "exporter ignores it (its text is not shown)",
        )
    ]


def test_missing_configurator() -> None:
    none = {**ENTRY_POINTS, "opentelemetry_configurator": frozenset()}
    assert findings({}, entry_points=none) == [
        ("error", "no OpenTelemetry configurator is installed")
    ]


def test_checks_are_a_list_to_extend() -> None:
    def always(_: Facts) -> list[_conflicts.Finding]:
        return [_conflicts.Finding("warning", "w", "f")]

    assert _conflicts.CHECKS[0] is _conflicts.hook_installation
    original = _conflicts.CHECKS
    try:
        _conflicts.CHECKS = (*original, always)
        assert findings({})[-1] == ("warning", "w")
    finally:
        _conflicts.CHECKS = original


# --- verdict, redaction, rendering ------------------------------------------------------


def report(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "otel_autoguard": "0",
        "activation": {"active": True, "reason": "OTEL_SERVICE_NAME is set"},
        "role": None,
        "conflicts": [],
        "check": None,
    }
    base.update(changes)
    return base


def test_verdict() -> None:
    assert _doctor.verdict(report()) == {"telemetry_flows": True, "exit_status": 0, "reasons": []}
    off = report(activation={"active": False, "reason": "OTEL_SDK_DISABLED=true"})
    assert _doctor.verdict(off)["reasons"] == ["otel-autoguard is off: OTEL_SDK_DISABLED=true"]
    warned = report(conflicts=[{"severity": "warning", "what": "w", "fix": "f"}])
    assert _doctor.verdict(warned)["exit_status"] == 0
    broken = report(conflicts=[{"severity": "error", "what": "e", "fix": "f"}])
    assert _doctor.verdict(broken) == {"telemetry_flows": False, "exit_status": 1, "reasons": ["e"]}
    skipped = report(role={"command": "pip x", "role": "skip", "reason": "r", "set_up_by": None})
    assert _doctor.verdict(skipped)["reasons"] == ["`pip x` gets role skip: r"]
    other = report(role={"command": "p", "role": "skip", "reason": "r", "set_up_by": "x"})
    assert _doctor.verdict(other)["exit_status"] == 0
    result = {"signal": "logs", "endpoint": "http://c", "ok": False, "checked": True, "detail": "d"}
    assert _doctor.verdict(report(check=[result]))["reasons"] == [
        "logs: export to http://c failed: d"
    ]
    unchecked = report(check=[{**result, "checked": False}])
    assert _doctor.verdict(unchecked)["exit_status"] == 0


def test_interpreter_argv() -> None:
    exe = _role.sys.executable
    assert _role.interpreter_argv(["python3.11", "-m", "flask"]) == ["python3.11", "-m", "flask"]
    assert _role.interpreter_argv(["/usr/bin/python", "a.py"]) == ["/usr/bin/python", "a.py"]
    assert _role.interpreter_argv(["flask", "run"]) == [exe, "flask", "run"]
    assert _role.interpreter_argv(["./app.py"]) == [exe, "./app.py"]


def predict(environ: dict[str, str], command: list[str]) -> Any:
    return _role.role(environ, load_settings(environ), load_doctor_env(environ), command)


def test_role_is_predicted_by_detect_role() -> None:
    environ = {"OTEL_SERVICE_NAME": "x"}
    found = predict(environ, ["flask", "routes"])
    assert (found["role"], found["reason"], found["set_up_by"]) == (
        "skip",
        "flask routes does not serve requests",
        None,
    )
    assert predict(environ, ["python", "app.py"])["set_up_by"] == "otel-autoguard"
    assert predict(environ, []) is None


@pytest.mark.parametrize(
    "command, role, reason, then",
    [
        ("gunicorn app:app", "defer", "gunicorn: role unknown", "the arbiter becomes `supervisor`"),
        ("uvicorn app:app --workers 2", "defer", "uvicorn: role unknown",
         "with --workers `supervisor`"),
        ("python manage.py runserver", "defer", "manage: role unknown",
         "this process becomes `reloader-parent`"),
        ("python manage.py test", "skip", "manage.py test does not serve requests", None),
        ("django-admin migrate --settings s", "skip", "django-admin migrate does not serve", None),
        ("uwsgi --master --http :8000 -w app", "defer", "uWSGI: its workers are configured",
         "the master becomes `supervisor`"),
        ("waitress-serve app:app", "defer", "waitress-serve: role unknown",
         "`serve` when waitress's server starts"),
        ("flask --app app run --debug", "defer", "flask run:", "becomes `reloader-parent`"),
        ("python -m multiprocessing.x --multiprocessing-fork", "defer",
         "multiprocessing spawn child", "a known server's hook, or else its first accepted"),
        ("python worker.py", "defer", "worker: role unknown", "its first accepted connection"),
        ("celery -A proj worker", "defer", "celery: role unknown",
         "main process becomes `supervisor`"),
        ("rq worker", "defer", "rq: role unknown", "each forked work horse flushes"),
        ("hypercorn -w 2 app:app", "defer", "hypercorn: role unknown",
         "this process becomes `supervisor`"),
        ("granian --interface wsgi app:app", "defer", "granian: role unknown",
         "each worker (forked up to Python 3.13, spawned from 3.14) is configured"),
        ("celery -A proj inspect active", "skip", "celery inspect", None),
    ],
)  # fmt: skip
def test_role_of_servers_and_what_happens_later(
    command: str, role: str, reason: str, then: str | None
) -> None:
    found = predict({"OTEL_SERVICE_NAME": "x"}, command.split())
    assert (found["role"], found["reason"].startswith(reason)) == (role, True), found
    if then is None:
        assert "note" not in found and found["set_up_by"] is None
    else:
        assert then in found["note"] and found["set_up_by"] == "otel-autoguard"
    off = predict({}, ["python", "app.py"])
    assert off["set_up_by"] is None and off["note"].startswith("otel-autoguard is off")


def test_role_of_a_program_under_opentelemetry_instrument() -> None:
    environ = {"OTEL_SERVICE_NAME": "x", "PYTHONPATH": "/mine"}
    command = ["opentelemetry-instrument", "--traces_exporter", "console", "python", "app.py"]
    found = predict(environ, command)
    assert found["command"] == " ".join(command)
    # The role is decided as without it; otel-autoguard does that tool's set-up.
    assert (found["role"], found["set_up_by"]) == ("defer", "otel-autoguard")
    assert found["reason"].startswith("app: role unknown at start")
    assert "opentelemetry-instrument's sitecustomize does not run in it" in found["note"]
    # Only the launched program's environment has the sitecustomize directory.
    assert "opentelemetry-instrument" not in predict(environ, ["python", "app.py"])["note"]
    # A process otel-autoguard skips keeps that tool's own set-up.
    tool = predict(environ, ["opentelemetry-instrument", "flask", "--app", "app", "routes"])
    assert (tool["role"], tool["set_up_by"]) == ("skip", "opentelemetry-instrument")
    assert tool["note"] == (
        "otel-autoguard leaves it alone, so opentelemetry-instrument's sitecustomize sets it up "
        "as usual"
    )
    # Off, otel-autoguard sets up nothing: the launcher still does, in every process.
    off = predict({**environ, "OTEL_AUTOGUARD_ENABLED": "false"}, command)
    assert off["set_up_by"] == "opentelemetry-instrument"
    assert predict({"OTEL_AUTOGUARD_ENABLED": "false"}, ["python", "app.py"])["set_up_by"] is None
    assert "opentelemetry-instrument's sitecustomize runs in it as without" in off["note"]


def test_url_encoded_header_values_are_secret_decoded_too() -> None:
    settings = load_settings({"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20tok3n"})
    assert settings.redact("sent 'Bearer tok3n'") == "sent '[REDACTED]'"


def test_redact_reaches_every_string_and_json_escaping() -> None:
    secret = 'to"k\\en-123'
    settings = load_settings({"OTEL_EXPORTER_OTLP_HEADERS": f"x={secret}"})
    tree = {"a": [f"v {secret}", {secret: ("https://u:p@h/?q=1",)}], "n": 3}
    redacted = _doctor.redact(tree, settings)
    text = json.dumps(redacted)
    assert secret not in text and json.dumps(secret)[1:-1] not in text
    assert redacted["a"][1] == {"[REDACTED]": ["https://[REDACTED]@h/?[REDACTED]"]}
    assert redacted["n"] == 3


def test_text_shows_header_names_only() -> None:
    environ = {"OTEL_SERVICE_NAME": "s", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=v4lue"}
    settings = load_settings(environ)
    env = load_doctor_env(environ)
    config = _doctor.configuration(settings, env, _exports.resolve(env, False))
    full = {
        **report(),
        "installation": {
            "version": "0",
            "package": "/p",
            "python": {"version": "3", "implementation": "cpython", "executable": "/py"},
            "hook_files": [],
            "hook_in_this_process": {"detail": "ran"},
            "opentelemetry": {},
            "instrumentations": [],
        },
        "configuration": config,
        "check": [
            {"signal": "traces", "endpoint": "http://c", "ok": True, "checked": True,
             "status": 200, "latency_ms": 1.5, "detail": "HTTP 200"},
            {"signal": "logs", "endpoint": "http://c", "ok": False, "checked": False,
             "status": None, "latency_ms": None, "detail": "grpcio is not installed"},
        ],
        "result": {"telemetry_flows": True, "exit_status": 0, "reasons": []},
    }  # fmt: skip
    text = _render.as_text(full)
    assert "v4lue" not in text and "v4lue" not in _render.as_json(full)
    assert "    headers        api-key: [REDACTED] (OTEL_EXPORTER_OTLP_HEADERS)" in text
    assert "  traces   OK: HTTP 200 in 1.5 ms -> http://c" in text
    assert "  logs     NOT CHECKED: grpcio is not installed -> http://c" in text
    assert "  service name     s (OTEL_SERVICE_NAME)" in text


def test_failure_descriptions() -> None:
    assert _check._failure(ConnectionRefusedError(), 1).startswith("connection refused")
    assert _check._failure(TimeoutError(), 2.5) == "no answer within 2.5 s"
    assert _check._failure(ValueError("bad"), 1) == "ValueError: bad"


# --- command line --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["doctor", "--argv", "a", "--", "b"], "not both"),
        (["doctor", "--timeout", "0"], "--timeout must be"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_exec_environ_is_the_environment_given_at_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    assert exec_environ()  # Linux: the runner's environment is not empty
    monkeypatch.setenv("OTEL_SET_AFTER_START", "grpc")
    after = exec_environ()
    assert after is not None and "OTEL_SET_AFTER_START" not in after


@pytest.mark.parametrize(
    ("command", "environ", "parent"),
    [
        ("flask --app flaskr run --debug", {}, "its Werkzeug reloader parent"),
        ("flask --debug run", {}, "its Werkzeug reloader parent"),
        ("flask run", {"FLASK_DEBUG": "1"}, "its Werkzeug reloader parent"),
        ("flask run --debug --no-reload", {}, None),
        ("flask run", {}, None),
        ("python manage.py runserver", {}, "its Django autoreloader parent"),
        ("python manage.py runserver --noreload", {}, None),
        ("uvicorn app:app --reload", {}, "its uvicorn --reload parent"),
        ("uvicorn app:app --workers=2", {}, "its uvicorn --workers parent"),
        ("gunicorn app:app", {}, "its gunicorn arbiter"),
        ("hypercorn app:app", {}, "its hypercorn supervisor"),
        ("hypercorn --workers=3 app:app", {}, "its hypercorn supervisor"),
        ("hypercorn --reload app:app", {}, "its hypercorn --reload parent"),
        ("hypercorn -w 0 app:app", {}, None),
        ("hypercorn -w0 app:app", {}, None),
        ("hypercorn --workers=0 app:app", {}, None),
        ("granian --interface asgi --workers 2 app:app", {}, "its granian main process"),
        ("celery -A proj worker -c 2", {}, "its Celery prefork main process"),
        ("celery -A proj worker --pool solo", {}, None),
        ("celery -A proj worker --pool=threads", {}, None),
        ("celery -A proj beat", {}, None),
        ("python app.py", {}, None),
    ],
)
def test_the_idle_parent_of_a_command(
    command: str, environ: dict[str, str], parent: str | None
) -> None:
    import shlex

    from otel_autoguard._doctor import _role

    found = _role.idle_parent(environ, _role.interpreter_argv(shlex.split(command)))
    assert (found or "").startswith(parent or "") and (found is None) == (parent is None)


@pytest.mark.parametrize(
    ("args", "workers"),
    [
        ([], None),
        (["-w", "2", "app:app"], "2"),
        (["--workers", "0"], "0"),
        (["--workers=4", "-w", "1"], "1"),
        (["-w3"], "3"),
        (["-w"], None),
        (["--worker-class", "trio", "app:app"], None),
    ],
)
def test_hypercorn_workers(args: list[str], workers: str | None) -> None:
    from otel_autoguard._doctor._role import hypercorn_workers

    assert hypercorn_workers(args) == workers
