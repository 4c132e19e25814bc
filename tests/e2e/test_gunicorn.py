"""gunicorn: the arbiter stays idle; each worker is configured once, after its fork."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import HOLD, NO_SDK, NO_SDK_HELD, one_span_per_request
from tests.support.procs import Proc, Venv, free_port, get, otel_env, pid_of, serve
from tests.support.receiver import Receiver

# The core set: also run on CPython 3.14 and 3.15 (scripts/test-chroot).
pytestmark = pytest.mark.core

N = 6
ARBITER_START = "gunicorn: role unknown at start; the SDK is configured only if this process serves"
ARBITER = ("supervisor", "gunicorn arbiter: forks the workers, serves nothing", "idle")


def start(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, *args: str, **env: str
) -> tuple[Proc, int]:
    port = free_port()
    cmd = [venv.bin("gunicorn"), "-b", f"127.0.0.1:{port}", *args, "app:app"]
    proc = serve(
        procs, cmd, app_dir, env=otel_env(receiver.endpoint, **env), port=port, name="gunicorn"
    )
    return proc, port


def traffic(port: int, n: int = N) -> Counter[int]:
    return Counter(pid_of(get(port)) for _ in range(n))


def assert_exact(proc: Proc, receiver: Receiver, answered: Counter[int]) -> None:
    """Each request one span, from the worker that answered it; the arbiter idle."""
    one_span_per_request(receiver, answered)
    workers = proc.configured_pids()
    assert len(workers) == len(set(workers)), "a worker configured twice"
    assert set(answered) <= set(workers)
    assert proc.pid not in workers
    assert proc.decided(proc.pid) == [("defer", ARBITER_START, "instrumented"), ARBITER]
    assert proc.exited(proc.pid) == {"role": "supervisor", **NO_SDK_HELD}
    assert proc.exit_line(proc.pid) == f"exit role=supervisor {NO_SDK}"
    assert proc.pid not in {s.pid for s in receiver.data.spans}
    metric_pids = {r.get("process.pid") for r in receiver.data.metric_resources}
    assert proc.pid not in metric_pids
    assert metric_pids and metric_pids <= set(workers)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param((["-w", "2"], "SIGTERM"), id="sync-SIGTERM"),
        pytest.param((["-w", "2", "--preload"], "SIGINT"), id="sync-preload-SIGINT"),
        pytest.param(
            (["-w", "2", "-k", "gthread", "--threads", "4"], "SIGINT"), id="gthread-SIGINT"
        ),
        pytest.param(
            (["-w", "2", "-k", "gthread", "--threads", "4", "--preload"], "SIGTERM"),
            id="gthread-preload-SIGTERM",
        ),
    ],
)
def test_workers_serve_and_the_arbiter_stays_idle(
    procs: list[Proc],
    servers_venv: Venv,
    app_dir: Path,
    receiver: Receiver,
    case: tuple[list[str], str],
) -> None:
    args, stop = case
    proc, port = start(procs, servers_venv, app_dir, receiver, *args, **HOLD)
    proc.wait_configured(2)
    answered = traffic(port)
    assert receiver.server_spans() == [], "exported before the stop"
    # SIGTERM to the arbiter alone (a service manager); SIGINT to the group (Ctrl-C).
    proc.signal(signal.Signals[stop], group=stop == "SIGINT")
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered)
    for worker in answered:
        assert "tracer=TracerProvider meter=MeterProvider" in proc.exit_line(worker)
    # The workers' metrics carry their own identity.
    assert {r.get("process.pid") for r in receiver.data.metric_resources} == set(answered)


def test_max_requests_recycles_workers_without_loss(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(
        procs, servers_venv, app_dir, receiver, "-w", "1", "--max-requests", "2", **HOLD
    )
    answered: Counter[int] = Counter()
    for i in range(3):
        proc.wait_configured(i + 1)
        answered += traffic(port, 2)
    assert len(answered) == 3 and set(answered.values()) == {2}
    proc.wait_configured(4)  # the fourth worker, started after the third retired
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered)


def test_hup_replaces_workers_without_loss(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, servers_venv, app_dir, receiver, "-w", "2", **HOLD)
    old = proc.wait_configured(2)
    answered = traffic(port)
    proc.signal(signal.SIGHUP, group=False)
    new = proc.wait_configured(4)[2:]
    assert not set(new) & set(old)
    # Old workers exit gracefully and flush; wait for their spans before new traffic.
    receiver.wait_for_server_spans(N)
    later = Counter[int]()
    while not set(later) & set(new) or sum(later.values()) < N:
        later[pid_of(get(port))] += 1
    assert set(later) <= set(new)
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered + later)


def test_reload_restarts_workers_without_loss(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, servers_venv, app_dir, receiver, "-w", "1", "--reload", **HOLD)
    (first,) = proc.wait_configured(1)
    answered = traffic(port)
    second = proc.edit_until_reloaded(app_dir / "app.py", 2)[1]
    receiver.wait_for_server_spans(N)
    later = traffic(port)
    assert set(answered) == {first} and set(later) == {second}
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered + later)


def test_uvicorn_workers_flush_on_sigterm(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    # uvicorn's gunicorn worker resets SIGTERM to its default and re-raises it after
    # its graceful shutdown: no exit handler would run.
    port = free_port()
    cmd = [servers_venv.bin("gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "2"]
    cmd += ["-k", "uvicorn.workers.UvicornWorker", "asgi_app:app"]
    env = otel_env(receiver.endpoint, **HOLD)
    proc = serve(procs, cmd, app_dir, env=env, port=port, name="gunicorn-uvicorn")
    proc.wait_configured(2)
    answered = traffic(port)
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered)


def _gone(pid: int) -> bool:
    """Exited (a zombie its arbiter has not reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_a_stop_signal_while_a_worker_boots_stops_it(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver, stop: str
) -> None:
    # A rolling deploy stops a worker that has just been forked. gunicorn sets the
    # worker's own handlers in init_signals; a signal before them reaches the
    # arbiter's inherited handler, which only queues it: the worker would serve on
    # until the graceful timeout (10 s here) SIGKILLed it.
    proc, port = start(
        procs, servers_venv, app_dir, receiver, "-w", "1", "--graceful-timeout", "10", **HOLD
    )
    (first,) = proc.wait_configured(1)
    answered = traffic(port)
    # Replace the worker: the arbiter boots a new one; stop that one as it boots.
    proc.signal(signal.SIGHUP, group=False)
    booting = re.compile(r"Booting worker with pid: (\d+)")
    deadline = time.monotonic() + 30
    while len(booting.findall(proc.output())) < 2:
        assert time.monotonic() < deadline, proc.output()
        time.sleep(0.001)
    worker = int(booting.findall(proc.output())[1])
    time.sleep(0.03)
    os.kill(worker, signal.Signals[stop])
    sent = time.monotonic()
    while not _gone(worker) and time.monotonic() - sent < 8:
        time.sleep(0.01)
    took = time.monotonic() - sent
    print(f"{stop} {0.03:g}s after 'Booting worker': worker {worker} gone after {took:.2f}s")
    assert _gone(worker), f"worker {worker} still running {took:.1f}s after {stop}"
    assert took < 5, f"worker {worker} took {took:.1f}s to stop: the graceful timeout"
    # The arbiter boots another; it serves, and every span of every worker arrives.
    proc.wait_until(lambda: len(booting.findall(proc.output())) >= 3, "a third worker")
    proc.wait_configured(3)
    receiver.wait_for_server_spans(N)
    later = Counter[int]()
    while sum(later.values()) < N:
        later[pid_of(get(port))] += 1
    assert first not in later and worker not in later
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered + later)
    assert worker not in {s.pid for s in receiver.data.spans}
