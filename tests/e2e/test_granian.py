"""granian: the main process stays idle; each worker is configured once and flushes at its end.

granian's workers are multiprocessing processes started with the start method in
force: fork on Linux up to Python 3.13 (the ``.pth`` runs in the main process only;
a forked worker ends with ``os._exit``), spawn from 3.14 (fresh interpreters).
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import HOLD, NO_SDK, NO_SDK_HELD, one_span_per_request
from tests.support.procs import Proc, Venv, free_port, get, otel_env, pid_of, run, serve, wait_port
from tests.support.receiver import Receiver

N = 6
APPS = {"wsgi": "app:app", "asgi": "asgi_app:app"}
SOURCES = {"wsgi": "app.py", "asgi": "asgi_app.py"}
START = "granian: role unknown at start; the SDK is configured only if this process serves"
MAIN = (
    "supervisor",
    "granian main process: starts and watches the workers, serves nothing",
    "idle",
)
WORKER = ("serve", "granian worker starting", "configured")
SPAWNED = ("defer", "multiprocessing spawn child: configured only if it starts serving")
# The start method Python 3.14+ makes granian use on Linux (its default there is forkserver).
SPAWN = (
    "import multiprocessing, sys; multiprocessing.set_start_method('spawn'); "
    "from granian.cli import entrypoint; sys.argv[0] = 'granian'; entrypoint()"
)


def forks(venv: Venv) -> bool:
    """granian forks its workers with this venv's Python (Linux up to 3.13), else spawns them."""
    code = "import multiprocessing; print(multiprocessing.get_start_method())"
    return run([venv.python, "-c", code]).stdout.strip() == "fork"


def start(
    procs: list[Proc],
    venv: Venv,
    app_dir: Path,
    receiver: Receiver,
    *args: str,
    spawn: bool = False,
) -> tuple[Proc, int]:
    port = free_port()
    program = [venv.python, "-c", SPAWN] if spawn else [venv.bin("granian")]
    cmd = [*program, "--host", "127.0.0.1", "--port", str(port), *args]
    env = otel_env(receiver.endpoint, **HOLD)
    return serve(procs, cmd, app_dir, env=env, port=port, name="granian"), port


def traffic(port: int, workers: int, n: int = N) -> Counter[int]:
    """At least ``n`` requests, until ``workers`` workers have answered."""
    answered: Counter[int] = Counter()
    while len(answered) < workers or sum(answered.values()) < n:
        answered[pid_of(get(port))] += 1
    return answered


def assert_exact(
    proc: Proc, receiver: Receiver, answered: Counter[int], start: str = START
) -> list[int]:
    """Each request one span, from the worker that answered it; the main process idle."""
    one_span_per_request(receiver, answered)
    workers = proc.configured_pids()
    assert len(workers) == len(set(workers)), "a worker configured twice"
    assert set(answered) <= set(workers) and proc.pid not in workers
    for pid in workers:
        assert [d for d in proc.decided(pid) if d[0] == "serve"] == [WORKER]
        # One exit record: a forked worker's, written before os._exit; a spawned one's at exit.
        assert proc.exited(pid)["providers"]["tracer"] == "TracerProvider"
    assert proc.decided(proc.pid) == [("defer", start, "instrumented"), MAIN]
    assert proc.exited(proc.pid) == {"role": "supervisor", **NO_SDK_HELD}
    assert proc.exit_line(proc.pid) == f"exit role=supervisor {NO_SDK}"
    assert proc.pid not in {s.pid for s in receiver.data.spans}
    metric_pids = {r.get("process.pid") for r in receiver.data.metric_resources}
    assert metric_pids and metric_pids <= set(workers)
    return workers


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(("wsgi", "SIGTERM"), id="wsgi-SIGTERM"),
        pytest.param(("asgi", "SIGTERM"), id="asgi-SIGTERM"),
        pytest.param(("asgi", "SIGINT"), id="asgi-SIGINT-group"),
    ],
)
def test_workers_serve_and_the_main_process_stays_idle(
    procs: list[Proc],
    hypercorn_granian_venv: Venv,
    app_dir: Path,
    receiver: Receiver,
    case: tuple[str, str],
) -> None:
    interface, stop = case
    args = ("--interface", interface, "--workers", "2", APPS[interface])
    proc, port = start(procs, hypercorn_granian_venv, app_dir, receiver, *args)
    configured = proc.wait_configured(2)
    answered = traffic(port, 2)
    assert set(answered) == set(configured)
    assert receiver.server_spans() == [], "exported before the stop"
    # SIGTERM to the main process alone (a service manager), which SIGTERMs each worker;
    # SIGINT to the group (Ctrl-C). Not a Ctrl-C under WSGI: granian 2.8.9's WSGI worker then
    # often never stops, otel-autoguard or not (6 of 8 runs without it: its main thread waits
    # for the stop event forever, and the main process for it).
    proc.signal(signal.Signals[stop], group=stop == "SIGINT")
    assert proc.wait() == 0
    workers = assert_exact(proc, receiver, answered)
    for pid in workers:
        if forks(hypercorn_granian_venv):
            # Forked: the .pth ran in the main process alone.
            assert not [d for d in proc.decided(pid) if d[0] == "defer"]
        else:
            # Python 3.14+: spawned, the .pth ran in each worker.
            assert [d[:2] for d in proc.decided(pid)] == [SPAWNED, WORKER[:2]]
    assert {r.get("process.pid") for r in receiver.data.metric_resources} == set(answered)


@pytest.mark.parametrize("interface", ["wsgi", "asgi"])
def test_reload_restarts_workers_without_loss(
    procs: list[Proc],
    hypercorn_granian_venv: Venv,
    app_dir: Path,
    receiver: Receiver,
    interface: str,
) -> None:
    # The test's own logs are in the watched folder: granian must not reload for them.
    args = ("--interface", interface, "--reload", "--reload-ignore-patterns", r"\.(log|jsonl)$")
    proc, port = start(procs, hypercorn_granian_venv, app_dir, receiver, *args, APPS[interface])
    (first,) = proc.wait_configured(1)
    answered = traffic(port, 1)
    second = proc.edit_until_reloaded(app_dir / SOURCES[interface], 2)[1]
    # The old worker flushed on its way out (SIGTERM from the main process, then os._exit).
    assert len(receiver.wait_for_server_spans(N)) == N
    # On Linux each worker binds the port itself (SO_REUSEPORT): the new one listens only
    # once it has loaded the app, a moment after it was configured.
    wait_port(port, proc)
    later = traffic(port, 1)
    assert set(answered) == {first} and set(later) == {second}
    # SIGTERM to the main process: a Ctrl-C to the group with --reload makes granian itself
    # exit 1 about half the time, otel-autoguard or not ("Unexpected exit from worker-1": the
    # worker stops before the main process's file watcher has noticed the signal).
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered + later)


def test_spawned_workers_as_on_python_314(
    procs: list[Proc], hypercorn_granian_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    args = ("--interface", "wsgi", "--workers", "2", APPS["wsgi"])
    proc, port = start(procs, hypercorn_granian_venv, app_dir, receiver, *args, spawn=True)
    configured = proc.wait_configured(2)
    answered = traffic(port, 2)
    assert set(answered) == set(configured)
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    start_reason = "-c: role unknown at start; the SDK is configured only if this process serves"
    workers = assert_exact(proc, receiver, answered, start_reason)
    # Spawned: the .pth ran in each worker, which deferred until granian's worker started.
    for pid in workers:
        assert [d[:2] for d in proc.decided(pid)] == [SPAWNED, WORKER[:2]]


def test_a_reload_while_a_worker_boots_stops_it(
    procs: list[Proc], hypercorn_granian_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    if not forks(hypercorn_granian_venv):
        pytest.skip("spawned workers: no handlers inherited from the main process")
    # Until granian's worker function has set its own handlers, a forked worker has the main
    # process's: granian alone then hangs here (4 of 4 runs), its main process waiting for a
    # worker that took the reload's SIGTERM for the main process's own.
    args = ("--interface", "asgi", "--reload", "--reload-ignore-patterns", r"\.(log|jsonl)$")
    proc, port = start(procs, hypercorn_granian_venv, app_dir, receiver, *args, APPS["asgi"])
    proc.wait_configured(1)
    answered = traffic(port, 1)
    spawning = re.compile(r"Spawning worker-1 with PID: (\d+)")
    source = app_dir / "asgi_app.py"

    def edit() -> None:
        with open(source, "a") as f:
            f.write("\n# edited\n")

    # watchfiles (inotify) sees every edit: no polling baseline to miss.
    edit()
    proc.wait_until(lambda: len(spawning.findall(proc.output())) == 2, "a reload")
    booting = int(spawning.findall(proc.output())[-1])
    edit()  # lands while that worker loads the app (FastAPI: about a second)
    sent = time.monotonic()
    proc.wait_until(lambda: len(spawning.findall(proc.output())) == 3, "a new worker", 10)
    took = time.monotonic() - sent
    print(f"worker {booting}, stopped while it booted, replaced after {took:.2f}s")
    wait_port(port, proc)
    later = traffic(port, 1)
    # Each worker's Rust server logs this when it starts: the first and the third did.
    assert proc.output().count("Started worker-1") == 2, "the edit came after it had booted"
    assert booting not in later
    assert booting not in {s.pid for s in receiver.data.spans}
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered + later)
