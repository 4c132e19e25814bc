"""uvicorn with a FastAPI app: supervisors stay idle, each spawned server is configured once."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import HOLD, NO_SDK, one_span_per_request
from tests.support.procs import (
    Proc,
    Venv,
    children,
    free_port,
    get,
    new_children,
    otel_env,
    pid_of,
    serve,
)
from tests.support.receiver import Receiver

# The core set: also run on CPython 3.14 and 3.15 (scripts/test-chroot).
pytestmark = pytest.mark.core

N = 6
TRACKER = "role=skip reason='multiprocessing helper process (resource tracker)'"


def start(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, *args: str
) -> tuple[Proc, int]:
    port = free_port()
    cmd = [venv.bin("uvicorn"), "--port", str(port), *args, "asgi_app:app"]
    env = otel_env(receiver.endpoint, **HOLD)
    return serve(procs, cmd, app_dir, env=env, port=port, name="uvicorn"), port


def assert_exact(
    proc: Proc, receiver: Receiver, answered: Counter[int], *, supervised: bool = True
) -> None:
    one_span_per_request(receiver, answered)
    servers = proc.configured_pids()
    assert len(servers) == len(set(servers))
    assert set(answered) <= set(servers)
    if supervised:
        assert proc.pid not in servers
        assert proc.pid not in {s.pid for s in receiver.data.spans}
    metric_pids = {r.get("process.pid") for r in receiver.data.metric_resources}
    assert metric_pids and metric_pids <= set(servers)


def helpers_idle(proc: Proc) -> None:
    """multiprocessing's resource tracker is skipped and stays without an SDK."""
    trackers = [pid for pid, text in proc.debug() if text.startswith(TRACKER)]
    assert trackers, proc.output()
    for pid in trackers:
        assert proc.exit_line(pid) == f"exit role=skip {NO_SDK}"


def test_workers_supervisor_idle_each_server_configured(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, servers_venv, app_dir, receiver, "--workers", "2")
    servers = proc.wait_configured(2)
    answered: Counter[int] = Counter()
    while len(answered) < 2 or sum(answered.values()) < N:
        answered[pid_of(get(port))] += 1
    assert set(answered) == set(servers)
    assert receiver.server_spans() == [], "exported before the stop"
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered)
    assert (
        proc.pid,
        "role=supervisor reason='uvicorn --workers supervisor: spawns the servers' "
        "action=idle; its workers configure after fork",
    ) in proc.debug()
    assert proc.exit_line(proc.pid) == f"exit role=supervisor {NO_SDK}"
    helpers_idle(proc)


def test_reload_parent_idle_and_nothing_lost(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, servers_venv, app_dir, receiver, "--reload")
    (first,) = proc.wait_configured(1)
    answered = Counter(pid_of(get(port)) for _ in range(N))
    with open(app_dir / "asgi_app.py", "a") as f:
        f.write("\n# edited\n")
    proc.wait_configured(2)
    second = proc.configured_pids()[1]
    # The old server flushed on its way out (SIGTERM from the reloader).
    assert len(receiver.wait_for_server_spans(N)) == N
    later = Counter(pid_of(get(port)) for _ in range(N))
    assert set(answered) == {first} and set(later) == {second}
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered + later)
    assert (
        proc.pid,
        "role=reloader-parent reason='uvicorn --reload supervisor: restarts the server' "
        "action=idle",
    ) in proc.debug()
    assert proc.exit_line(proc.pid) == f"exit role=reloader-parent {NO_SDK}"
    helpers_idle(proc)


def test_single_server_flushes_on_sigterm(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    # uvicorn re-raises SIGTERM after its graceful shutdown, which would end the
    # process before any exit handler ran.
    proc, port = start(procs, servers_venv, app_dir, receiver)
    assert proc.wait_configured(1) == [proc.pid]
    answered = Counter(pid_of(get(port)) for _ in range(N))
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == -signal.SIGTERM
    assert_exact(proc, receiver, answered, supervised=False)


def _spawned(parent: int) -> set[int]:
    found = set()
    for pid in children(parent):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    found.add(pid)
        except OSError:
            pass
    return found


def test_a_stop_while_a_server_boots_is_as_quick_as_without(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    # A spawned server is configured before uvicorn's capture_signals: SIGTERM still has
    # its default action there, so a stop in that window ends it at once, as without us.
    # Measured (docs/stopping.md): the parent's SIGTERM 0.3 s after a spawn, 0.27-1.6 s
    # with otel-autoguard, 0.67-1.02 s without.
    port = free_port()
    cmd = [servers_venv.bin("uvicorn"), "--port", str(port), "--workers", "2", "asgi_app:app"]
    proc = serve(procs, cmd, app_dir, env=otel_env(receiver.endpoint), port=port, name="uvicorn")
    proc.wait_configured(2)
    answered: Counter[int] = Counter(pid_of(get(port)) for _ in range(N))
    receiver.wait_for_server_spans(N)  # exported: the killed server's are not lost
    known = _spawned(proc.pid)
    os.kill(min(known), signal.SIGKILL)  # the supervisor spawns a new server
    new_children(proc, known, lambda: _spawned(proc.pid))
    time.sleep(0.3)  # the new interpreter has started; it is being configured
    proc.signal(signal.SIGTERM, group=False)
    sent = time.monotonic()
    assert proc.wait(30) == 0
    took = time.monotonic() - sent
    print(f"SIGTERM 0.3 s after a respawn: uvicorn gone after {took:.2f}s")
    assert took < 5
    one_span_per_request(receiver, answered)
