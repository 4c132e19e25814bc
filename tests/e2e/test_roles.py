"""The role table's remaining rows: scripts, multiprocessing helpers, overrides."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.support.checks import NO_PROVIDERS
from tests.support.procs import Proc, Venv, free_port, get, otel_env, run, wait_port
from tests.support.receiver import Receiver

# The core set: also run on CPython 3.14 and 3.15 (scripts/test-chroot).
pytestmark = pytest.mark.core


def debug_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("otel-autoguard: pid=")]


def run_code(venv: Venv, app_dir: Path, env: dict[str, str], code: str) -> tuple[str, str, str]:
    """``python -c code`` in the app venv: its stdout, then its two debug lines (start, exit)."""
    out = run([venv.python, "-c", code], cwd=app_dir, env=env)
    (start, end) = debug_lines(out.stderr)
    return out.stdout.strip(), start, end


def test_a_script_that_never_serves_is_never_configured(
    venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    env = otel_env(receiver.endpoint)
    stdout, start, end = run_code(venv, app_dir, env, "import app; print(app.app.name)")
    assert stdout == "app"
    assert "role=defer reason='-c: role unknown at start" in start
    assert f"exit role=defer {NO_PROVIDERS} threads=MainThread" in end
    assert receiver.data.requests == {}


def test_multiprocessing_helpers_are_never_configured(
    venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    out = run([venv.python, "mp.py"], cwd=app_dir, env=otel_env(receiver.endpoint))
    assert out.stdout.strip() == "result 42"
    lines = debug_lines(out.stderr)
    pids = {line.split()[1] for line in lines}
    assert len(pids) >= 2  # the script and its spawn child (and maybe the resource tracker)
    # A spawn child may serve (uvicorn's workers do): it defers, and this one never serves.
    spawned = [line for line in lines if "reason='multiprocessing spawn child" in line]
    trackers = [
        line for line in lines if "role=skip reason='multiprocessing helper process" in line
    ]
    assert len(spawned) == 1
    assert len(spawned) + len(trackers) == len(pids) - 1
    assert not any("action=configured" in line for line in lines)
    exits = [line for line in lines if " exit " in line]
    assert len(exits) == len(pids)
    assert all(NO_PROVIDERS in line for line in exits)


def test_role_override_serve_configures_at_start(
    venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    env = otel_env(receiver.endpoint, OTEL_AUTOGUARD_ROLE="serve")
    _, start, end = run_code(venv, app_dir, env, "import app")
    assert "role=serve reason='OTEL_AUTOGUARD_ROLE=serve' action=configured" in start
    assert "exit role=serve tracer=TracerProvider" in end


def test_role_override_skip_and_disabled_flask_instrumentation(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    for extra, configured in (
        ({"OTEL_AUTOGUARD_ROLE": "skip"}, False),
        ({"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "flask"}, True),
    ):
        port = free_port()
        env = otel_env(receiver.endpoint, PORT=str(port), **extra)
        proc = Proc([venv.python, "app.py", "nodebug"], app_dir, env, app_dir / "s.log")
        procs.append(proc)
        wait_port(port, proc)
        for _ in range(3):
            get(port)
        time.sleep(1)
        proc.signal(signal.SIGINT, group=True)
        assert proc.wait() == 0
        assert bool(proc.configured_pids()) is configured, proc.output()
        assert receiver.server_spans() == []


def test_secrets_never_reach_stderr(procs: list[Proc], venv: Venv, app_dir: Path) -> None:
    port = free_port()
    closed = f"http://scott:tiger-pass@127.0.0.1:{free_port()}"
    env = otel_env(
        closed,
        PORT=str(port),
        OTEL_EXPORTER_OTLP_HEADERS="api-key=hunter2-secret,x-tenant=acme-tenant",
        OTEL_EXPORTER_OTLP_TIMEOUT="1",
        OTEL_AUTOGUARD_ENABLED="sure",
    )
    proc = Proc([venv.python, "app.py", "nodebug"], app_dir, env, app_dir / "s.log")
    procs.append(proc)
    wait_port(port, proc)
    get(port)
    proc.wait_until(lambda: "cannot export to" in proc.output(), "the export failure line")
    proc.signal(signal.SIGINT, group=True)
    proc.wait(60)
    output = proc.output()
    assert "cannot export to http://[REDACTED]@127.0.0.1:" in output
    for secret in ("tiger-pass", "hunter2-secret", "acme-tenant", "scott"):
        assert secret not in output


def test_a_live_server_inside_a_test_run_is_not_configured(
    venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    # pytest-xdist workers start as `python -c …`: unknown at start, then pytest loads.
    code = "import sys, pytest; sys.exit(pytest.main(['-q', '-s', '-p', 'no:cacheprovider', "
    code += "'live_server_test.py']))"
    out = run([venv.python, "-c", code], cwd=app_dir, env=otel_env(receiver.endpoint))
    assert "1 passed" in out.stdout
    lines = debug_lines(out.stderr)
    assert any(
        "role=skip reason='Werkzeug server started serving in this process, but pytest runs "
        "in this process' action=none" in line
        for line in lines
    ), out.stderr
    assert not any("action=configured" in line for line in lines)
    assert receiver.data.requests == {}
