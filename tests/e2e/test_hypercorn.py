"""hypercorn: the supervisor stays idle; each spawned worker is configured once."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import HOLD, NO_SDK, NO_SDK_HELD, one_span_per_request
from tests.support.procs import Proc, Venv, free_port, get, otel_env, pid_of, serve
from tests.support.receiver import Receiver

N = 6
START = "hypercorn: role unknown at start; the SDK is configured only if this process serves"
SUPERVISOR = ("supervisor", "hypercorn supervisor: spawns the workers", "idle")
RELOADER = ("reloader-parent", "hypercorn --reload supervisor: restarts the workers", "idle")
WORKER = ("serve", "hypercorn worker starting", "configured")
TRACKER = ("skip", "multiprocessing helper process (resource tracker)", "none")


def start(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, app: str, *args: str
) -> tuple[Proc, int]:
    port = free_port()
    cmd = [venv.bin("hypercorn"), "--bind", f"127.0.0.1:{port}", *args, app]
    env = otel_env(receiver.endpoint, **HOLD)
    return serve(procs, cmd, app_dir, env=env, port=port, name="hypercorn"), port


def traffic(port: int, workers: int, n: int = N) -> Counter[int]:
    """At least ``n`` requests, until ``workers`` workers have answered."""
    answered: Counter[int] = Counter()
    while len(answered) < workers or sum(answered.values()) < n:
        answered[pid_of(get(port))] += 1
    return answered


def workers_of(proc: Proc) -> list[int]:
    """Every process that was configured, each once, as a hypercorn worker."""
    workers = proc.configured_pids()
    assert len(workers) == len(set(workers)), "a worker configured twice"
    for pid in workers:
        assert [d for d in proc.decided(pid) if d[0] == "serve"] == [WORKER]
        assert proc.exited(pid)["providers"]["tracer"] == "TracerProvider"
    return workers


def assert_exact(proc: Proc, receiver: Receiver, answered: Counter[int], parent: tuple) -> None:
    """Each request one span, from the worker that answered it; the parent idle."""
    one_span_per_request(receiver, answered)
    workers = workers_of(proc)
    assert set(answered) <= set(workers) and proc.pid not in workers
    assert proc.decided(proc.pid) == [("defer", START, "instrumented"), parent]
    assert proc.exited(proc.pid) == {"role": parent[0], **NO_SDK_HELD}
    assert proc.exit_line(proc.pid) == f"exit role={parent[0]} {NO_SDK}"
    assert proc.pid not in {s.pid for s in receiver.data.spans}
    metric_pids = {r.get("process.pid") for r in receiver.data.metric_resources}
    assert metric_pids and metric_pids <= set(workers)
    # multiprocessing's resource tracker: left alone.
    trackers = [
        r["pid"] for r in proc.records() if (r["role"], r["reason"], r["action"]) == TRACKER
    ]
    assert len(trackers) == 1
    assert proc.exited(trackers[0]) == {"role": "skip", **NO_SDK_HELD}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(("asgi_app:app", "3", "SIGTERM"), id="fastapi-3-workers-SIGTERM"),
        pytest.param(("asgi_app:app", "2", "SIGINT"), id="fastapi-2-workers-SIGINT-group"),
        pytest.param(("app:app", "2", "SIGTERM"), id="flask-wsgi-2-workers-SIGTERM"),
    ],
)
def test_workers_serve_and_the_supervisor_stays_idle(
    procs: list[Proc],
    hypercorn_granian_venv: Venv,
    app_dir: Path,
    receiver: Receiver,
    case: tuple[str, str, str],
) -> None:
    app, workers, stop = case
    proc, port = start(procs, hypercorn_granian_venv, app_dir, receiver, app, "-w", workers)
    configured = proc.wait_configured(int(workers))
    answered = traffic(port, int(workers))
    assert set(answered) == set(configured)
    assert receiver.server_spans() == [], "exported before the stop"
    # SIGTERM to the supervisor alone (a service manager); SIGINT to the group (Ctrl-C).
    # Either way the supervisor sets its shutdown event, and SIGTERMs the workers still
    # running once the first has exited: none of them may lose its queued spans.
    proc.signal(signal.Signals[stop], group=stop == "SIGINT")
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered, SUPERVISOR)
    assert {r.get("process.pid") for r in receiver.data.metric_resources} == set(answered)


def test_reload_parent_idle_and_nothing_lost(
    procs: list[Proc], hypercorn_granian_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, hypercorn_granian_venv, app_dir, receiver, "asgi_app:app", "--reload")
    (first,) = proc.wait_configured(1)
    answered = traffic(port, 1)
    # hypercorn polls the files of every loaded module once a second.
    second = proc.edit_until_reloaded(app_dir / "asgi_app.py", 2)[1]
    # The old worker flushed on its way out (its supervisor joins it).
    assert len(receiver.wait_for_server_spans(N)) == N
    later = traffic(port, 1)
    assert set(answered) == {first} and set(later) == {second}
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered + later, RELOADER)


def test_no_workers_one_process_serves(
    procs: list[Proc], hypercorn_granian_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    # --workers 0: hypercorn serves in the process it was started in.
    proc, port = start(procs, hypercorn_granian_venv, app_dir, receiver, "asgi_app:app", "-w", "0")
    assert proc.wait_configured(1) == [proc.pid]
    answered = traffic(port, 1)
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    one_span_per_request(receiver, answered)
    assert set(answered) == {proc.pid}
    assert proc.decided(proc.pid) == [("defer", START, "instrumented"), WORKER]
