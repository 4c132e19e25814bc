"""waitress, a server without a hook (the accept() fallback), and in-process test clients."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from tests.support.checks import HOLD, NO_PROVIDERS, one_span_per_request
from tests.support.procs import Proc, Venv, free_port, get, otel_env, pid_of, run, serve
from tests.support.receiver import Receiver

N = 5


def test_waitress_one_process_many_threads(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    port = free_port()
    cmd = [servers_venv.bin("waitress-serve"), "--listen", f"127.0.0.1:{port}", "app:app"]
    env = otel_env(receiver.endpoint, **HOLD)
    proc = serve(procs, cmd, app_dir, env=env, port=port, name="waitress")
    assert Counter(pid_of(get(port)) for _ in range(N)) == {proc.pid: N}
    assert (proc.pid, "role=serve reason='waitress server starting' action=configured") in [
        (pid, text.split(" by ")[0]) for pid, text in proc.debug()
    ]
    # waitress never handles SIGTERM: without ours the queued spans died with it.
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == -signal.SIGTERM
    one_span_per_request(receiver, Counter({proc.pid: N}))


def test_an_unknown_server_is_configured_at_its_first_connection(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    port = free_port()
    cmd = [servers_venv.python, "wsgiref_app.py"]
    env = otel_env(receiver.endpoint, PORT=str(port), **HOLD)
    proc = serve(procs, cmd, app_dir, env=env, port=port, name="wsgiref")
    assert Counter(pid_of(get(port)) for _ in range(N)) == {proc.pid: N}
    assert proc.configured_pids() == [proc.pid]
    assert (
        "role=serve reason='accepted a connection (no known server claimed it)' action=configured"
        in proc.output()
    )
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == -signal.SIGTERM
    one_span_per_request(receiver, Counter({proc.pid: N}))


def test_in_process_test_clients_leave_the_sdk_unconfigured(
    servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    done = run([servers_venv.python, "clients.py"], cwd=app_dir, env=otel_env(receiver.endpoint))
    assert "answers [200, 200, 200]" in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("otel-autoguard:")]
    assert "role=defer" in lines[0], done.stderr
    assert "action=configured" not in done.stderr
    assert f"exit role=defer {NO_PROVIDERS} " in lines[-1], done.stderr
    assert receiver.data.requests == {}


def test_a_server_spawned_by_a_test_run_is_not_configured(
    servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    cmd = [servers_venv.python, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"]
    done = run([*cmd, "spawned_server_test.py"], cwd=app_dir, env=otel_env(receiver.endpoint))
    assert "1 passed" in done.stdout
    assert "answered by hello from pid" in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("otel-autoguard:")]
    spawned = [line for line in lines if "reason='spawned by a process left alone (pytest" in line]
    assert len(spawned) == 1, done.stderr
    assert "action=configured" not in done.stderr
    assert receiver.data.requests == {}


def test_a_multiprocessing_manager_is_not_a_server(
    servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    done = run([servers_venv.python, "mp_manager.py"], cwd=app_dir, env=otel_env(receiver.endpoint))
    assert "result 42" in done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("otel-autoguard:")]
    # Before TCP-only: the manager's server process (forked) accepted and configured.
    assert "action=configured" not in done.stderr
    exits = [line for line in lines if " exit " in line]
    assert exits and all(NO_PROVIDERS in line for line in exits), done.stderr
    assert receiver.data.requests == {}
