"""`otel-autoguard doctor` run for real in a venv with the built wheel.

Each case builds the environment the user would have (variables, a sitecustomize on
PYTHONPATH, another agent's launcher, a collector that is up, down or silent) and
reads what the doctor prints and its exit status.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.support.procs import Venv, base_env, free_port, make_venv, otel_env
from tests.support.receiver import Receiver

SIGNALS = ["traces", "metrics", "logs"]


class Doctor:
    def __init__(self, result: subprocess.CompletedProcess[str]) -> None:
        self.status = result.returncode
        self.out = result.stdout
        self.err = result.stderr

    @property
    def report(self) -> Any:
        return json.loads(self.out)

    def conflicts(self, severity: str) -> list[dict[str, str]]:
        return [c for c in self.report["conflicts"] if c["severity"] == severity]


def doctor(
    venv: Venv,
    *args: str,
    env: dict[str, str],
    launcher: Sequence[str] = (),
    cwd: Path | None = None,
    launcher_fails: bool = False,
) -> Doctor:
    """Run ``otel-autoguard doctor ARGS`` (through ``launcher`` if given); any exit status."""
    cmd = [*launcher, venv.bin("otel-autoguard"), "doctor", *args]
    env = {**env, "PATH": f"{venv.path / 'bin'}:{os.environ['PATH']}"}
    # The timeout is a generous wait for a hung doctor, not a measurement.
    result = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=120, check=False
    )
    # (A launcher whose own set-up fails prints its traceback; the doctor never does.)
    assert launcher_fails or "Traceback" not in result.stderr, result.stderr
    return Doctor(result)


def quiet_env(endpoint: str, **extra: str) -> dict[str, str]:
    env = otel_env(endpoint, **extra)
    del env["OTEL_AUTOGUARD_DEBUG"]
    return env


def test_healthy_setup_human_and_json(venv: Venv, receiver: Receiver) -> None:
    env = quiet_env(receiver.endpoint)
    human = doctor(venv, env=env)
    assert human.status == 0, human.out
    assert "Result: telemetry would flow (exit status 0)" in human.out
    assert "  on: OTEL_SERVICE_NAME is set" in human.out
    assert "hook here        ran; this process's role: skip" in human.out

    data = doctor(venv, "--json", env=env)
    assert data.status == 0
    report = data.report
    site_packages = next(venv.path.glob("lib/python3.*/site-packages"))
    installation = report["installation"]
    assert [(f["kind"], f["path"], f["as_expected"]) for f in installation["hook_files"]] == [
        ("pth", str(site_packages / "otel_autoguard.pth"), True),
    ]
    assert installation["hook_in_this_process"] == {
        "ran": True,
        "detail": "ran; this process's role: skip",
        "role": "skip",
    }
    assert installation["python"]["version"].startswith("3.11.")
    assert {"opentelemetry-api", "opentelemetry-sdk", "opentelemetry-distro"} <= set(
        installation["opentelemetry"]
    )
    (flask,) = [i for i in installation["instrumentations"] if i["name"] == "flask"]
    assert flask["applies"] is True and flask["package"].startswith(
        "opentelemetry-instrumentation-flask "
    )
    assert report["activation"] == {"active": True, "reason": "OTEL_SERVICE_NAME is set"}
    config = report["configuration"]
    assert config["service_name"] == {"value": "e2e-app", "source": "OTEL_SERVICE_NAME"}
    assert [
        (s["signal"], s["exporters"], s["protocol"], s["endpoint"]) for s in config["signals"]
    ] == [
        (signal, ["otlp"], "http/protobuf", f"{receiver.endpoint}/v1/{signal}")
        for signal in SIGNALS
    ]
    assert report["conflicts"] == []
    assert report["check"] is None
    assert report["result"] == {"telemetry_flows": True, "exit_status": 0, "reasons": []}
    # The doctor alone never exports anything.
    assert receiver.data.requests == {}


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_check_on_other_pythons(venvs: dict[str, Venv], receiver: Receiver, version: str) -> None:
    data = doctor(venvs[version], "--check", "--json", env=quiet_env(receiver.endpoint))
    assert data.status == 0, data.out
    report = data.report
    assert report["installation"]["python"]["version"].startswith(f"{version}.")
    assert report["installation"]["hook_in_this_process"]["role"] == "skip"
    assert [r["ok"] for r in report["check"]] == [True, True, True]
    assert receiver.data.requests == {"/v1/traces": 1, "/v1/metrics": 1, "/v1/logs": 1}


def test_python_dash_m_is_the_same_command(venv: Venv, receiver: Receiver) -> None:
    env = {**quiet_env(receiver.endpoint), "PATH": os.environ["PATH"]}
    result = subprocess.run(
        [venv.python, "-m", "otel_autoguard", "doctor", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["installation"]["hook_in_this_process"]["role"] == "skip"
    assert report["result"]["exit_status"] == 0


@pytest.mark.parametrize(
    ("env", "hook", "reason"),
    [
        (
            {},
            "did not run: no OTEL_* variable is set, so the .pth line imports nothing",
            "otel-autoguard is off: no OpenTelemetry configuration",
        ),
        (
            {"OTEL_SDK_DISABLED": "true", "OTEL_SERVICE_NAME": "x"},
            "ran; otel-autoguard is inactive in this process",
            "otel-autoguard is off: OTEL_SDK_DISABLED=true",
        ),
        (
            {"OTEL_AUTOGUARD_ENABLED": "false", "OTEL_SERVICE_NAME": "x"},
            "ran; otel-autoguard is inactive in this process",
            "otel-autoguard is off: OTEL_AUTOGUARD_ENABLED=false",
        ),
    ],
    ids=["nothing-set", "sdk-disabled", "autoguard-disabled"],
)
def test_inactive_exits_1_and_says_which_variable(
    venv: Venv, env: dict[str, str], hook: str, reason: str
) -> None:
    data = doctor(venv, "--json", env=base_env(**env))
    assert data.status == 1
    assert data.report["installation"]["hook_in_this_process"]["detail"] == hook
    assert data.report["activation"]["active"] is False
    (found,) = data.report["result"]["reasons"]
    assert found.startswith(reason)
    human = doctor(venv, env=base_env(**env))
    assert human.status == 1
    assert "Result: telemetry would NOT flow (exit status 1):" in human.out
    assert f"  - {reason}" in human.out


@pytest.mark.parametrize(
    "case",
    [
        (["python", "app.py"], {}, "defer", "app: role unknown at start", 0),
        (["flask", "--app", "app", "run", "--debug"], {}, "defer", "flask run: serving", 0),
        (["flask", "--app", "app", "routes"], {}, "skip", "flask routes does not serve", 1),
        (["python", "-m", "pip", "install", "x"], {}, "skip", "pip never serves requests", 1),
        (["pytest", "-q"], {}, "skip", "pytest never serves requests", 1),
        (["python", "app.py"], {"OTEL_AUTOGUARD_ROLE": "serve"}, "serve",
         "OTEL_AUTOGUARD_ROLE=serve", 0),
        (["python", "app.py"], {"OTEL_AUTOGUARD_ROLE": "skip"}, "skip",
         "OTEL_AUTOGUARD_ROLE=skip", 1),
        # Decided as without it: otel-autoguard stands in for its sitecustomize.
        (["opentelemetry-instrument", "python", "app.py"], {}, "defer",
         "app: role unknown at start", 0),
        (["gunicorn", "-w", "2", "app:app"], {}, "defer", "gunicorn: role unknown at start", 0),
        (["python", "manage.py", "runserver"], {}, "defer", "manage: role unknown at start", 0),
        (["python", "manage.py", "test"], {}, "skip", "manage.py test does not serve requests", 1),
        (["uwsgi", "--master", "--http", ":8000", "--module", "app:app"], {}, "defer",
         "uWSGI: its workers are configured after fork, its master never", 0),
    ],
    ids=["script", "flask-run", "flask-routes", "pip", "pytest", "override-serve", "override-skip",
         "opentelemetry-instrument", "gunicorn", "django-runserver", "django-test", "uwsgi"],
)  # fmt: skip
def test_role_of_a_command(
    venv: Venv, receiver: Receiver, case: tuple[list[str], dict[str, str], str, str, int]
) -> None:
    command, extra, role, reason, status = case
    env = quiet_env(receiver.endpoint, **extra)
    after_dashes = doctor(venv, "--json", "--", *command, env=env)
    with_argv = doctor(venv, "--json", "--argv", " ".join(command), env=env)
    for data in (after_dashes, with_argv):
        assert data.status == status, data.out
        found = data.report["role"]
        assert found["command"] == " ".join(command)
        assert (found["role"], reason in found["reason"]) == (role, True), found
    human = doctor(venv, "--", *command, env=env)
    assert f"Role of `{' '.join(command)}`\n  {role}: " in human.out


def test_argv_and_dashes_together_is_a_usage_error(venv: Venv, receiver: Receiver) -> None:
    data = doctor(venv, "--argv", "python app.py", "--", "python", "x.py", env=base_env())
    assert data.status == 2
    assert "give the command either after -- or with --argv, not both" in data.err


def test_secrets_never_appear_in_any_output(venv: Venv, receiver: Receiver) -> None:
    names = ("all", "traces", "pw", "query", "bare")
    secrets = {name: f"{name}-{uuid.uuid4().hex}" for name in names}
    # A value with JSON's special characters, which an escaped form could let through.
    secrets["quoted"] = f'q"\\{uuid.uuid4().hex}'
    host = receiver.endpoint.split("//")[1]
    env = quiet_env(
        receiver.endpoint,
        OTEL_EXPORTER_OTLP_HEADERS=(
            f"authorization=Bearer {secrets['all']},x-quoted={secrets['quoted']},"
            # An element without "=": ignored by the exporter, and by the check.
            f"Token: {secrets['bare']}"
        ),
        OTEL_EXPORTER_OTLP_TRACES_HEADERS=f"api-key={secrets['traces']}",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=(
            f"http://user:{secrets['pw']}@{host}/v1/traces?key={secrets['query']}"
        ),
    )
    runs = [
        doctor(venv, env=env),
        doctor(venv, "--json", env=env),
        doctor(venv, "--check", env=env),
        doctor(venv, "--check", "--json", env=env),
    ]
    for data in runs:
        assert data.status == 0, data.out
        for secret in secrets.values():
            assert secret not in data.out and secret not in data.err
            assert json.dumps(secret)[1:-1] not in data.out
        assert "[REDACTED]" in data.out
    report = runs[3].report
    traces, metrics, _ = report["configuration"]["signals"]
    assert traces["headers"] == ["api-key"]
    assert traces["headers_source"] == "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
    assert traces["endpoint"] == f"http://[REDACTED]@{host}/v1/traces?[REDACTED]"
    assert metrics["headers"] == ["authorization", "x-quoted", "(an element without '=')"]
    assert [c["what"] for c in report["conflicts"]] == [
        "metrics, logs: an element of OTEL_EXPORTER_OTLP_HEADERS has no '=', so the exporter "
        "ignores it (its text is not shown)"
    ]
    assert [r["ok"] for r in report["check"]] == [True, True, True]
    # The checks really carried the credentials: the receiver saw them.
    sent = [headers for path, headers in receiver.data.headers if path.startswith("/v1/traces")]
    assert len(sent) == 2  # one per --check run
    assert all(h["api-key"] == secrets["traces"] for h in sent)
    assert all(h["authorization"].startswith("Basic ") for h in sent)
    sent_metrics = [h for path, h in receiver.data.headers if path == "/v1/metrics"]
    assert all(h["authorization"] == f"Bearer {secrets['all']}" for h in sent_metrics)
    assert len(sent_metrics) == 2
    assert not any(secrets["bare"] in str(h) for _, h in receiver.data.headers)


def test_check_against_a_live_receiver(venv: Venv, receiver: Receiver) -> None:
    data = doctor(venv, "--check", "--json", env=quiet_env(receiver.endpoint))
    assert data.status == 0, data.out
    results = data.report["check"]
    assert [(r["signal"], r["endpoint"], r["ok"], r["status"]) for r in results] == [
        (signal, f"{receiver.endpoint}/v1/{signal}", True, 200) for signal in SIGNALS
    ]
    assert all(r["latency_ms"] > 0 for r in results)
    # One real, empty export per signal: recorded, with nothing in it.
    assert receiver.data.requests == {"/v1/traces": 1, "/v1/metrics": 1, "/v1/logs": 1}
    assert receiver.data.spans == [] and receiver.data.log_records == 0
    assert all(h["content-type"] == "application/x-protobuf" for _, h in receiver.data.headers)

    human = doctor(venv, "--check", env=quiet_env(receiver.endpoint))
    assert human.status == 0
    lines = [line for line in human.out.splitlines() if " -> " in line]
    assert len(lines) == 3
    for signal, line in zip(SIGNALS, lines):
        assert line.startswith(f"  {signal:<8} OK: HTTP 200 in ")
        assert line.endswith(f" ms -> {receiver.endpoint}/v1/{signal}")


def test_check_against_a_stopped_collector(venv: Venv) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    data = doctor(venv, "--check", "--json", env=quiet_env(closed))
    assert data.status == 1
    refused = "connection refused (is the collector running, and on this port?)"
    assert [(r["ok"], r["detail"]) for r in data.report["check"]] == [(False, refused)] * 3
    assert data.report["result"]["reasons"] == [
        f"{signal}: export to {closed}/v1/{signal} failed: {refused}" for signal in SIGNALS
    ]
    human = doctor(venv, "--check", env=quiet_env(closed))
    assert human.status == 1
    assert f"  traces   FAILED: {refused}" in human.out


@pytest.fixture
def silent_collector() -> Iterator[str]:
    """Accepts connections (the kernel's backlog) and never reads or answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_check_against_a_collector_that_never_answers(venv: Venv, silent_collector: str) -> None:
    data = doctor(venv, "--check", "--timeout", "1.5", "--json", env=quiet_env(silent_collector))
    assert data.status == 1
    assert [(r["ok"], r["status"], r["detail"]) for r in data.report["check"]] == [
        (False, None, "no answer within 1.5 s")
    ] * 3
    human = doctor(venv, "--check", "--timeout", "1.5", env=quiet_env(silent_collector))
    assert human.status == 1
    assert "  logs     FAILED: no answer within 1.5 s" in human.out


class _Collector(http.server.ThreadingHTTPServer):
    answer: tuple[int, bytes] = (200, b"")
    seen: list[dict[str, str]]


class _Answer(http.server.BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        status, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def collector(
    status: int = 200, body: bytes = b"", tls: ssl.SSLContext | None = None
) -> Iterator[tuple[str, _Collector]]:
    """A collector stand-in that answers every export with `status` and `body`."""
    server = _Collector(("127.0.0.1", 0), _Answer)
    server.answer, server.seen = (status, body), []
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}", server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "detail"),
    [
        (401, b"invalid API key", "HTTP 401 Unauthorized: invalid API key"),
        (503, b"", "HTTP 503 Service Unavailable"),
    ],
)
def test_check_against_a_collector_that_refuses_the_export(
    venv: Venv, status: int, body: bytes, detail: str
) -> None:
    secret = f"key-{uuid.uuid4().hex}"
    with collector(status, body) as (endpoint, server):
        env = quiet_env(endpoint, OTEL_EXPORTER_OTLP_HEADERS=f"api-key={secret}")
        data = doctor(venv, "--check", "--json", env=env)
        human = doctor(venv, "--check", env=env)
    assert data.status == 1 and human.status == 1
    assert [(r["ok"], r["status"], r["detail"]) for r in data.report["check"]] == [
        (False, status, detail)
    ] * 3
    assert data.report["result"]["reasons"] == [
        f"{signal}: export to {endpoint}/v1/{signal} failed: {detail}" for signal in SIGNALS
    ]
    assert f"  metrics  FAILED: {detail}" in human.out
    # The key really went out with each export, and never into the report.
    assert len(server.seen) == 6 and {h["api-key"] for h in server.seen} == {secret}
    assert secret not in data.out + data.err + human.out + human.err


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def test_check_over_tls(venv: Venv, ca: trustme.CA, tmp_path: Path) -> None:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    ca_pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    with collector(tls=tls) as (endpoint, server):
        untrusted = doctor(venv, "--check", "--json", env=quiet_env(endpoint))
        trusted = doctor(
            venv, "--check", "--json",
            env=quiet_env(endpoint, OTEL_EXPORTER_OTLP_CERTIFICATE=str(ca_pem)),
        )  # fmt: skip
    assert untrusted.status == 1
    for result in untrusted.report["check"]:
        assert result["ok"] is False and result["status"] is None
        assert result["detail"].startswith("TLS failed ([SSL: CERTIFICATE_VERIFY_FAILED]")
    assert trusted.status == 0, trusted.out
    assert [(r["ok"], r["status"]) for r in trusted.report["check"]] == [(True, 200)] * 3
    assert len(server.seen) == 3


def test_check_with_a_client_certificate(venv: Venv, ca: trustme.CA, tmp_path: Path) -> None:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    tls.verify_mode = ssl.CERT_REQUIRED
    ca.configure_trust(tls)
    client = ca.issue_cert("client.example")
    files = {"ca": ca.cert_pem, "cert": client.cert_chain_pems[0], "key": client.private_key_pem}
    for name, blob in files.items():
        blob.write_to_path(str(tmp_path / f"{name}.pem"))
    trust = {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(tmp_path / "ca.pem")}
    with collector(tls=tls) as (endpoint, server):
        anonymous = doctor(venv, "--check", "--json", env=quiet_env(endpoint, **trust))
        known = doctor(
            venv, "--check", "--json",
            env=quiet_env(
                endpoint, **trust,
                OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=str(tmp_path / "cert.pem"),
                OTEL_EXPORTER_OTLP_CLIENT_KEY=str(tmp_path / "key.pem"),
            ),
        )  # fmt: skip
    # Without a certificate the server ends the handshake; how that surfaces (a TLS
    # alert or a reset) depends on the TLS version, so only the outcome is fixed.
    assert anonymous.status == 1
    assert [(r["ok"], r["status"]) for r in anonymous.report["check"]] == [(False, None)] * 3
    assert known.status == 0, known.out
    assert [(r["ok"], r["status"]) for r in known.report["check"]] == [(True, 200)] * 3
    assert len(server.seen) == 3


@pytest.mark.parametrize(
    "case",
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "error",
         "traces, metrics, logs: gRPC protocol (from OTEL_EXPORTER_OTLP_PROTOCOL) but the gRPC "
         "exporter is not installed", "pip install opentelemetry-exporter-otlp-proto-grpc", 1),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "error",
         "traces, metrics, logs: OTLP protocol 'http/json' (from OTEL_EXPORTER_OTLP_PROTOCOL) is "
         "not supported",
         "set OTEL_EXPORTER_OTLP_PROTOCOL to http/protobuf", 1),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "error",
         "traces: the exporter 'zipkin' ('zipkin' from OTEL_TRACES_EXPORTER) is not installed",
         "install the package that provides it, or use an installed one (console, ", 1),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "@/"}, "error",
         "traces: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as is and has no path",
         "append /v1/traces to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", 1),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "@/v1/traces"}, "error",
         "traces: OTEL_EXPORTER_OTLP_ENDPOINT already has a signal path",
         "set OTEL_EXPORTER_OTLP_ENDPOINT to the collector's base URL", 1),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, "warning",
         "traces, metrics, logs: protocol http/protobuf (from otel-autoguard's default: no gRPC "
         "exporter installed) but the endpoint's port 4317 is the usual grpc port",
         "use port 4318 for http/protobuf", 0),
        ({"OTEL_AUTOGUARD_STOP_TIMEOUT": "soon"}, "warning",
         "OTEL_AUTOGUARD_STOP_TIMEOUT='soon' is not valid; accepted: a number of seconds > 0",
         "correct the value", 0),
        ({"OTEL_TRACES_SAMPLER": "sometimes"}, "warning",
         "OTEL_TRACES_SAMPLER='sometimes' is not a known sampler", "use one of always_on", 0),
        ({"OTEL_PYTHON_CONFIGURATOR": "mine"}, "error",
         "no OpenTelemetry configurator to run (OTEL_PYTHON_CONFIGURATOR='mine')",
         "unset OTEL_PYTHON_CONFIGURATOR", 1),
    ],
    ids=["grpc-without-exporter", "unsupported-protocol", "missing-exporter", "endpoint-no-path",
         "base-endpoint-with-path", "port-mismatch", "malformed-value", "unknown-sampler",
         "unknown-configurator"],
)  # fmt: skip
def test_configuration_conflicts(
    venv: Venv, receiver: Receiver, case: tuple[dict[str, str], str, str, str, int]
) -> None:
    extra, severity, what, fix, status = case
    extra = {k: v.replace("@", receiver.endpoint) for k, v in extra.items()}
    data = doctor(venv, "--json", env=quiet_env(receiver.endpoint, **extra))
    assert data.status == status, data.out
    found = [c for c in data.report["conflicts"] if c["what"].startswith(what)]
    assert len(found) == 1, data.report["conflicts"]
    assert found[0]["severity"] == severity
    assert fix in found[0]["fix"]
    if status:
        assert found[0]["what"] in data.report["result"]["reasons"]
    human = doctor(venv, env=quiet_env(receiver.endpoint, **extra))
    assert human.status == status
    assert f"{severity}: {found[0]['what']}\n      fix: {found[0]['fix']}" in human.out


def test_opentelemetry_instrument_on_pythonpath(venv: Venv, receiver: Receiver) -> None:
    data = doctor(
        venv,
        "--json",
        "--",
        "python",
        "app.py",
        # Set, so that its set-up in the doctor's own process (a tool) succeeds.
        env=quiet_env(receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"),
        launcher=[venv.bin("opentelemetry-instrument")],
    )
    assert data.status == 0, data.out
    assert data.conflicts("warning") == data.conflicts("error") == []
    # Not a conflict: otel-autoguard stands in for it where the process does not skip.
    (found,) = data.conflicts("info")
    assert found["what"].startswith("opentelemetry-instrument's sitecustomize is on PYTHONPATH (")
    assert (
        "opentelemetry/instrumentation/auto_instrumentation): otel-autoguard does its work"
        in (found["what"])
    )
    assert found["fix"].startswith("nothing to do;")
    role = data.report["role"]
    assert (role["role"], role["set_up_by"]) == ("defer", "otel-autoguard")
    assert role["reason"].startswith("app: role unknown at start")
    assert "opentelemetry-instrument's sitecustomize does not run in it" in role["note"]
    # A process otel-autoguard skips keeps that tool's own set-up.
    tool = doctor(
        venv,
        "--json",
        "--",
        "flask",
        "--app",
        "app",
        "routes",
        env=quiet_env(receiver.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf"),
        launcher=[venv.bin("opentelemetry-instrument")],
    )
    assert tool.status == 0, tool.out
    role = tool.report["role"]
    assert (role["role"], role["set_up_by"]) == ("skip", "opentelemetry-instrument")


@pytest.mark.parametrize(
    "case",
    [
        ("from opentelemetry import trace  # set up by hand\n", "warning",
         "a sitecustomize that mentions OpenTelemetry runs at every start ("),
        ("import sys\n", "info", "another sitecustomize runs at every start ("),
    ],
    ids=["sets-up-opentelemetry", "unrelated"],
)  # fmt: skip
def test_another_sitecustomize(
    venv: Venv, receiver: Receiver, tmp_path: Path, case: tuple[str, str, str]
) -> None:
    source, severity, what = case
    (tmp_path / "sitecustomize.py").write_text(source)
    env = quiet_env(receiver.endpoint, PYTHONPATH=str(tmp_path))
    data = doctor(venv, "--json", env=env)
    assert data.status == 0, data.out
    (found,) = data.report["conflicts"]
    assert found["severity"] == severity
    assert found["what"].startswith(what + str(tmp_path / "sitecustomize.py"))


@pytest.fixture(scope="module")
def venv_with_extras(tmp_path_factory: pytest.TempPathFactory, wheel: Path, venv: Venv) -> Venv:
    """Other agents, and the OTLP gRPC exporter (which brings grpcio)."""
    return make_venv(
        tmp_path_factory.mktemp("extras"),
        venv.python,
        wheel,
        "ddtrace",
        "newrelic",
        "opentelemetry-exporter-otlp-proto-grpc",
    )


@pytest.mark.parametrize(
    ("launcher", "agent", "how"),
    [
        (["ddtrace-run"], "ddtrace", "ddtrace-run's bootstrap is on PYTHONPATH"),
        (["newrelic-admin", "run-program"], "newrelic",
         "newrelic-admin run-program's bootstrap is on PYTHONPATH"),
    ],
    ids=["ddtrace", "newrelic"],
)  # fmt: skip
def test_other_agents_active(
    venv_with_extras: Venv, receiver: Receiver, launcher: list[str], agent: str, how: str
) -> None:
    venv = venv_with_extras
    data = doctor(
        venv,
        "--json",
        env=quiet_env(receiver.endpoint),
        launcher=[venv.bin(launcher[0]), *launcher[1:]],
    )
    assert data.status == 0, data.out
    (found,) = data.conflicts("warning")
    assert found["what"].startswith(f"{agent} is active: {how} (")
    assert "each request is traced by two agents" in found["what"]
    assert found["fix"].startswith("use one agent per process")
    # Without the launcher, the same venv shows no conflict.
    plain = doctor(venv, "--json", env=quiet_env(receiver.endpoint))
    assert plain.report["conflicts"] == []


# A real OTLP/gRPC endpoint, run in the venv that has grpcio: it decodes each export
# and prints the method, the number of spans/points/records and the api-key it got.
GRPC_RECEIVER = """
import sys
import threading
from concurrent import futures
import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

LOCK = threading.Lock()
TYPES = {"TraceService": ExportTraceServiceRequest, "MetricsService": ExportMetricsServiceRequest,
         "LogsService": ExportLogsServiceRequest}

class Handler(grpc.GenericRpcHandler):
    def service(self, details):
        service = details.method.split("/")[1].rsplit(".", 1)[1]
        def export(request, context):
            decoded = TYPES[service].FromString(request)
            items = len(decoded.ListFields())
            key = dict(context.invocation_metadata()).get("api-key")
            with LOCK:  # the exports arrive at once, on the pool's threads
                print("export", details.method, items, key, flush=True)
            return b""
        return grpc.unary_unary_rpc_method_handler(export)

server = grpc.server(futures.ThreadPoolExecutor(4))
server.add_generic_rpc_handlers((Handler(),))
print("port", server.add_insecure_port("127.0.0.1:0"), flush=True)
server.start()
server.wait_for_termination()
"""


@pytest.fixture
def grpc_receiver(venv_with_extras: Venv, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "grpc.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [venv_with_extras.python, "-c", GRPC_RECEIVER], stdout=out, stderr=subprocess.STDOUT,
            env=base_env(),
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not log.read_text().startswith("port ") and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        port = int(log.read_text().split()[1])
        yield f"http://127.0.0.1:{port}", log
    finally:
        proc.kill()
        proc.wait(30)


def test_check_over_grpc(venv_with_extras: Venv, grpc_receiver: tuple[str, Path]) -> None:
    endpoint, log = grpc_receiver
    key = f"k-{uuid.uuid4().hex}"
    env = quiet_env(endpoint, OTEL_EXPORTER_OTLP_HEADERS=f"api-key={key}")
    data = doctor(venv_with_extras, "--check", "--json", env=env)
    assert data.status == 0, data.out
    assert [s["protocol"] for s in data.report["configuration"]["signals"]] == ["grpc"] * 3
    assert data.report["configuration"]["signals"][0]["protocol_source"] == "the distro's default"
    assert [(r["signal"], r["endpoint"], r["ok"], r["detail"]) for r in data.report["check"]] == [
        (signal, endpoint, True, "gRPC OK") for signal in SIGNALS
    ]
    assert key not in data.out
    exports = sorted(line for line in log.read_text().splitlines() if line.startswith("export "))
    assert exports == [
        f"export /opentelemetry.proto.collector.{name}.v1.{service}/Export 0 {key}"
        for name, service in [("logs", "LogsService"), ("metrics", "MetricsService"),
                              ("trace", "TraceService")]
    ]  # fmt: skip


def test_check_over_grpc_stopped_and_silent(venv_with_extras: Venv, silent_collector: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    data = doctor(venv_with_extras, "--check", "--json", env=quiet_env(closed))
    assert data.status == 1
    for result in data.report["check"]:
        assert not result["ok"]
        assert result["detail"].startswith("gRPC UNAVAILABLE: ")
        assert "Connection refused" in result["detail"]
    data = doctor(
        venv_with_extras, "--check", "--timeout", "1.5", "--json", env=quiet_env(silent_collector)
    )
    assert data.status == 1
    assert [(r["ok"], r["detail"]) for r in data.report["check"]] == [
        (False, "no answer within 1.5 s")
    ] * 3


def test_opentelemetry_instrument_without_a_protocol(venv: Venv, receiver: Receiver) -> None:
    data = doctor(
        venv,
        "--json",
        env=quiet_env(receiver.endpoint),
        launcher=[venv.bin("opentelemetry-instrument")],
        launcher_fails=True,
    )
    # The doctor is a tool, which otel-autoguard leaves to opentelemetry-instrument: that
    # tool's set-up failed in it, as the doctor says it will in every such process.
    assert "Requested component 'otlp_proto_grpc' not found" in data.err
    # The processes otel-autoguard sets up get http/protobuf: telemetry flows.
    assert data.status == 0, data.out
    assert data.conflicts("error") == []
    (info,) = data.conflicts("info")
    assert info["what"].endswith(
        "; it ran in this process too (the doctor is a tool), so the configuration shown is the "
        "OTEL_* variables this process was started with, without the defaults its distro set here"
    )
    # Its distro set the protocol in this process; the doctor reads it as it was given.
    signals = data.report["configuration"]["signals"]
    assert [(s["protocol"], s["protocol_source"]) for s in signals] == [
        ("http/protobuf", "otel-autoguard's default: no gRPC exporter installed")
    ] * 3, signals
    (warning,) = data.conflicts("warning")
    assert warning["what"] == (
        "traces, metrics, logs: no OTLP protocol is set: the processes otel-autoguard sets up "
        "get http/protobuf, but those it leaves to opentelemetry-instrument (tools, helpers) get "
        "the distro's default, grpc, and the gRPC exporter is not installed: their set-up fails "
        "with a traceback on stderr (they run on)"
    )
    assert "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf" in warning["fix"]


def test_opentelemetry_instrument_while_otel_autoguard_is_off(
    venv: Venv, receiver: Receiver
) -> None:
    data = doctor(
        venv,
        "--json",
        env=quiet_env(receiver.endpoint, OTEL_AUTOGUARD_ENABLED="false"),
        launcher=[venv.bin("opentelemetry-instrument")],
        launcher_fails=True,
    )
    assert data.status == 1, data.out
    # Then that tool sets up every process, with its distro's defaults: they are shown.
    (warning,) = data.conflicts("warning")
    assert (
        "and otel-autoguard is off: it sets up OpenTelemetry in every Python process"
        in (warning["what"])
    )
    assert warning["what"].endswith(
        "; it ran in this process too, so the configuration shown includes the defaults its "
        "distro set (e.g. OTEL_EXPORTER_OTLP_PROTOCOL=grpc)"
    )
    signals = data.report["configuration"]["signals"]
    assert [(s["protocol"], s["protocol_source"]) for s in signals] == [
        ("grpc", "OTEL_EXPORTER_OTLP_PROTOCOL")
    ] * 3, signals
    (error,) = data.conflicts("error")
    assert error["what"].startswith(
        "traces, metrics, logs: gRPC protocol (from OTEL_EXPORTER_OTLP_PROTOCOL) but the gRPC "
        "exporter is not installed"
    )


@pytest.mark.parametrize("enabled", ["false", "true"])
def test_a_command_under_opentelemetry_instrument(
    venv: Venv, receiver: Receiver, enabled: str
) -> None:
    # `doctor -- opentelemetry-instrument flask run --debug`: off, that tool still sets up
    # every process it starts (its reloader parent too); on, otel-autoguard stands in for it.
    env = quiet_env(
        receiver.endpoint,
        OTEL_AUTOGUARD_ENABLED=enabled,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_SERVICE_NAME="x",
    )
    command = ["opentelemetry-instrument", "flask", "--app", "flaskr", "run", "--debug"]
    data = doctor(venv, "--json", "--", *command, env=env)
    human = doctor(venv, "--", *command, env=env)
    assert data.status == human.status == 0, data.out
    assert data.report["result"]["telemetry_flows"] is True
    assert "Result: telemetry would flow" in human.out, human.out
    role = data.report["role"]
    assert data.conflicts("error") == []
    if enabled == "false":
        assert (role["role"], role["set_up_by"]) == ("defer", "opentelemetry-instrument")
        assert "  set up by opentelemetry-instrument\n" in human.out
        (found,) = data.conflicts("warning")
        assert found["what"].startswith(
            f"`{' '.join(command)}`: opentelemetry-instrument sets up OpenTelemetry in every "
            "process it starts (otel-autoguard is off), its Werkzeug reloader parent too, "
            "which never serves"
        )
        assert found["fix"].startswith("enable otel-autoguard (see Activation) and keep")
    else:
        assert (role["role"], role["set_up_by"]) == ("defer", "otel-autoguard")
        assert "becomes `reloader-parent`" in role["note"]
        assert data.conflicts("warning") == []
