"""``opentelemetry-instrument`` on top of otel-autoguard: one configuration per serving process.

opentelemetry-instrument's ``sitecustomize`` would configure every process it
starts, the reloader parent included. With otel-autoguard enabled, otel-autoguard
stands in for it (see ``_instrument_cli``) and the debug lines say so.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.e2e.test_manual_setup import (
    APP_SHUT_DOWN,
    NO_SDK,
    N,
    Run,
    check_parent,
    ours_runs_it,
    serve_and_stop,
    site,
    start,
    warnings,
)
from tests.support.procs import Proc, Venv, free_port, get, otel_env, run, wait_port
from tests.support.receiver import Receiver

LAUNCHER = "role=skip reason='opentelemetry-instrument never serves requests' action=none"
STANDS_IN = (
    "opentelemetry-instrument: its sitecustomize does not run in this process; otel-autoguard "
    "instruments and configures it instead, with the same distro, configurator and "
    "instrumentors, and only if it serves"
)
LEFT_ALONE = (
    "opentelemetry-instrument: its sitecustomize sets up this process as usual "
    "(otel-autoguard leaves it alone)"
)


def instrumented(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, args: list[str], **env: str
) -> tuple[Proc, int]:
    port = free_port()
    cmd = [venv.bin("opentelemetry-instrument"), *(a.replace("PORT", str(port)) for a in args)]
    environ = otel_env(
        receiver.endpoint, PORT=str(port), PATH=f"{venv.path / 'bin'}:{os.environ['PATH']}", **env
    )
    proc = Proc(cmd, app_dir, environ, app_dir / "instrument.log")
    procs.append(proc)
    wait_port(port, proc)
    return proc, port


def test_reloader_parent_idle_child_configured_once(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = instrumented(procs, venv, app_dir, receiver, ["python", "app.py"])
    server = serve_and_stop(Run(proc, port), [receiver])
    check_parent(Run(proc, port), server, NO_SDK)
    # opentelemetry-instrument execs the program: the launcher and the reloader
    # parent are one pid, and say in turn what each tool did.
    parent_lines = [text for pid, text in proc.debug() if pid == proc.pid]
    assert parent_lines[:3] == [LAUNCHER, STANDS_IN, parent_lines[2]]
    assert parent_lines[2].startswith("role=defer reason='app: role unknown at start")
    assert parent_lines[3].startswith("role=reloader-parent ")
    child_lines = [text for pid, text in proc.debug() if pid == server]
    assert child_lines[:2] == [
        STANDS_IN,
        "role=serve reason='Werkzeug reloader child (WERKZEUG_RUN_MAIN=true)' "
        "action=configured by opentelemetry.distro.OpenTelemetryConfigurator",
    ]
    assert warnings(proc) == []


def test_flask_run_without_reloader_configured_once(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = instrumented(
        procs, venv, app_dir, receiver, ["flask", "--app", "app", "run", "--port", "PORT"]
    )
    server = serve_and_stop(Run(proc, port), [receiver])
    assert proc.configured_pids() == [server] == [proc.pid]
    assert [t for p, t in proc.debug()][:2] == [LAUNCHER, STANDS_IN]
    assert warnings(proc) == []


def test_with_the_apps_own_set_up(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    started = start(
        procs, venv, app_dir, receiver, cmd="app.py debug", setup="module-top", instrument=True
    )
    server = serve_and_stop(started, [receiver])
    assert warnings(started.proc) == [
        ours_runs_it(site("manual.py", "provider-add"), receiver.endpoint)
    ]
    check_parent(started, server, APP_SHUT_DOWN)


def test_a_script_is_instrumented_not_configured(
    venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    env = otel_env(receiver.endpoint, PATH=f"{venv.path / 'bin'}:{os.environ['PATH']}")
    out = run([venv.bin("opentelemetry-instrument"), "python", "-c", "pass"], cwd=app_dir, env=env)
    lines = [line.split(" ", 2)[2] for line in out.stderr.splitlines()]
    assert lines[:2] == [LAUNCHER, STANDS_IN], out.stderr
    assert lines[-1] == f"exit role=defer {NO_SDK}"
    assert receiver.data.requests == {}


def test_role_skip_leaves_opentelemetry_instrument_in_charge(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = instrumented(
        procs, venv, app_dir, receiver, ["python", "app.py", "nodebug"],
        OTEL_AUTOGUARD_ROLE="skip",
        # opentelemetry-instrument alone picks gRPC, whose exporter is not installed.
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
    )  # fmt: skip
    for _ in range(N):
        get(port)
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    # Its own configuration (no process.pid in the resource: that is otel-autoguard's).
    spans = receiver.wait_for_server_spans(N)
    assert len(spans) == N == len({s.span_id for s in spans})
    lines = [t for p, t in proc.debug()]
    assert LEFT_ALONE in lines
    assert proc.configured_pids() == []
    assert proc.exit_line(proc.pid).startswith("exit role=skip tracer=TracerProvider ")
