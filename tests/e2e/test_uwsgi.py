"""uWSGI: the master stays idle, every worker is configured once, after its fork."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import one_span_per_request
from tests.support.procs import (
    Proc,
    Venv,
    children,
    free_port,
    get,
    new_children,
    otel_env,
    wait_port,
)
from tests.support.receiver import Receiver

N = 8
# "spawned uWSGI worker 1 (pid: 42, ...)", "Respawned uWSGI worker 1 (new pid: 43)"
_SPAWNED = re.compile(r"pawned uWSGI worker \d+ \((?:new )?pid: (\d+)")
MASTER_IDLE = (
    "role=supervisor reason='uWSGI master: forks the workers, serves no request' "
    "action=idle; its workers configure after fork"
)
MULE_SKIPPED = "role=skip reason='uWSGI mule or spooler: serves no request' action=none"


def start(
    procs: list[Proc],
    venv: Venv,
    app_dir: Path,
    receiver: Receiver,
    *options: str,
    wsgi_file: str = "app.py",
    stats: bool = True,
    **env: str,
) -> tuple[Proc, int]:
    port, stats_port = free_port(), free_port()
    cmd = [
        venv.bin("uwsgi"),
        "--http-socket", f"127.0.0.1:{port}",
        # The stats server tells when workers are idle; it implies --master.
        *(["--stats", f"127.0.0.1:{stats_port}"] if stats else []),
        "--wsgi-file", wsgi_file,
        "--callable", "app",
        "--pythonpath", str(app_dir),
        *options,
    ]  # fmt: skip
    log = app_dir / f"uwsgi-{len(procs)}.log"
    proc = Proc(cmd, app_dir, otel_env(receiver.endpoint, **env), log)
    procs.append(proc)
    wait_port(port, proc)
    STATS[proc.pid] = stats_port
    return proc, port


STATS: dict[int, int] = {}


def stop(proc: Proc, sig: int, group: bool) -> None:
    """Stop once every worker is idle, as uWSGI's stats server reports it.

    uWSGI kills a worker that is still in a request (even in its last step,
    after the client has the response) at once, with no exit hook: see the
    README. The client gets its response a moment before the worker is idle.
    """
    wait_idle(proc)
    proc.signal(sig, group)


def wait_idle(proc: Proc) -> None:
    def idle() -> bool:
        with socket.create_connection(("127.0.0.1", STATS[proc.pid]), timeout=5) as conn:
            data = b"".join(iter(lambda: conn.recv(65536), b""))
        return all(w["status"] == "idle" for w in json.loads(data)["workers"])

    proc.wait_until(idle, "idle workers")


def wait_apps_loaded(proc: Proc, count: int) -> None:
    """Until ``count`` app loads are logged. A lazy-apps worker is configured before it
    imports the app; these tests stop workers that serve, not workers still importing it
    (a stop then is the boot-window case, tested on its own)."""
    proc.wait_until(lambda: proc.output().count("(default app)") >= count, f"{count} app loads")


def workers(proc: Proc) -> list[int]:
    return [int(pid) for pid in _SPAWNED.findall(proc.output())]


def serve(port: int, count: int) -> Counter[int]:
    """Send ``count`` requests; how many each worker answered (the app says its pid)."""
    answered: Counter[int] = Counter()
    for _ in range(count):
        answered[int(get(port).split()[-1])] += 1
    return answered


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def assert_master_idle(proc: Proc, receiver: Receiver) -> None:
    master = proc.pid
    assert (master, MASTER_IDLE) in proc.debug()
    assert master not in proc.configured_pids()
    assert master not in {s.pid for s in receiver.data.spans}
    assert master not in {r.get("process.pid") for r in receiver.data.metric_resources}


def assert_exactly_once(proc: Proc, receiver: Receiver, answered: Counter[int]) -> None:
    """Every request one span, from the worker that answered it, each with its own identity."""
    spans = one_span_per_request(receiver, answered)
    # Every worker was configured once; the master never.
    configured = Counter(proc.configured_pids())
    assert set(configured.values()) == {1}
    assert set(configured) == set(workers(proc))
    instance = {s.pid: s.instance for s in spans}
    assert len({(s.pid, s.instance) for s in spans}) == len(instance)
    assert len(set(instance.values())) == len(instance)
    # Metrics come from the workers, with the same identity as their spans.
    for pid in answered:
        assert {"process.pid": pid, "service.instance.id": instance[pid]}.items() <= next(
            r for r in receiver.data.metric_resources if r.get("process.pid") == pid
        ).items()
    assert_master_idle(proc, receiver)


def wait_metrics(receiver: Receiver, pids: set[int], proc: Proc) -> None:
    proc.wait_until(
        lambda: pids <= {r.get("process.pid") for r in receiver.data.metric_resources},
        f"metrics from {pids}",
    )


@pytest.mark.parametrize("lazy", [False, True], ids=["preloaded", "lazy-apps"])
def test_workers_are_configured_after_fork_and_the_master_stays_idle(
    procs: list[Proc], uwsgi_venv: Venv, app_dir: Path, receiver: Receiver, lazy: bool
) -> None:
    (app_dir / "spool").mkdir()
    options = ["--master", "--processes", "3", "--mules", "1", "--spooler", "spool"]
    options += ["--lazy-apps"] if lazy else []
    proc, port = start(procs, uwsgi_venv, app_dir, receiver, *options)
    proc.wait_configured(3)
    # A mule and a spooler run uWSGI's post-fork hook too, but answer no request.
    out = proc.output()
    (mule,) = (int(pid) for pid in re.findall(r"spawned uWSGI mule 1 \(pid: (\d+)", out))
    (spooler,) = (int(pid) for pid in re.findall(r"uWSGI spooler on dir \S+ with pid (\d+)", out))
    for pid in (mule, spooler):
        proc.wait_until(lambda pid=pid: (pid, MULE_SKIPPED) in proc.debug(), f"{pid}'s decision")
    answered = serve(port, N)
    wait_metrics(receiver, set(answered), proc)
    # The SDK's export threads would show here; uWSGI's master has none of its own.
    assert threads(proc.pid) == 1
    assert all(threads(pid) > 1 for pid in workers(proc))
    stop(proc, signal.SIGINT, group=False)
    assert proc.wait() == 0
    assert_exactly_once(proc, receiver, answered)
    for pid in workers(proc):
        assert "tracer=TracerProvider meter=MeterProvider" in proc.exit_line(pid)
    assert mule not in proc.configured_pids() and spooler not in proc.configured_pids()


def test_without_a_master_every_process_is_a_configured_worker(
    procs: list[Proc], uwsgi_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, uwsgi_venv, app_dir, receiver, "--processes", "2", stats=False)
    proc.wait_configured(2)
    answered = serve(port, N)
    # Exported while serving (no idle check without a master: the stop is not the point).
    assert len(receiver.wait_for_server_spans(N)) == N
    proc.signal(signal.SIGINT, group=True)
    proc.wait()
    spans = receiver.server_spans()
    assert len(spans) == N and Counter(s.pid for s in spans) == answered
    # The first process loads the app, then serves as worker 1 itself.
    assert sorted(proc.configured_pids()) == sorted(workers(proc))
    assert proc.pid in workers(proc)
    assert not any("role=supervisor" in text for _, text in proc.debug())


@pytest.mark.parametrize(
    "how",
    [
        (signal.SIGINT, True, ()),
        (signal.SIGINT, True, ("--lazy-apps",)),
        (signal.SIGTERM, False, ("--die-on-term",)),
        (signal.SIGQUIT, False, ()),
        # Python's own exit handlers (the SDK's) are skipped; uwsgi.atexit still runs.
        (signal.SIGINT, False, ("--skip-atexit-teardown",)),
    ],
    ids=[
        "sigint-group",
        "sigint-group-lazy-apps",
        "sigterm-die-on-term",
        "sigquit",
        "sigint-skip-atexit-teardown",
    ],
)
def test_stop_loses_nothing_with_a_slow_collector(
    procs: list[Proc], uwsgi_venv: Venv, app_dir: Path, how: tuple[int, bool, tuple[str, ...]]
) -> None:
    sig, group, options = how
    # 1 s per export and a 60 s batch delay: every span is still queued at the stop.
    receiver = Receiver(delay=1.0).start()
    try:
        proc, port = start(
            procs, uwsgi_venv, app_dir, receiver, "--master", "--processes", "2", *options,
            OTEL_BSP_SCHEDULE_DELAY="60000",
        )  # fmt: skip
        proc.wait_configured(2)
        wait_apps_loaded(proc, 2 if "--lazy-apps" in options else 1)
        answered = serve(port, N)
        assert receiver.server_spans() == []
        stop(proc, sig, group)
        assert proc.wait() in (0, 30)  # 30: uWSGI's own code for a SIGQUIT stop
        spans = receiver.server_spans()
        assert len(spans) == N
        assert Counter(s.pid for s in spans) == answered
        assert_master_idle(proc, receiver)
    finally:
        receiver.stop()


def test_max_requests_recycling_configures_each_new_worker(
    procs: list[Proc], uwsgi_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(
        procs, uwsgi_venv, app_dir, receiver, "--master", "--processes", "1",
        # Without --min-worker-lifetime 0 a worker lives at least 10 s.
        "--max-requests", "2", "--min-worker-lifetime", "0", OTEL_BSP_SCHEDULE_DELAY="60000",
    )  # fmt: skip
    answered: Counter[int] = Counter()
    for i in range(3):
        # A recycled worker exits after its 2nd request; its spans leave with it.
        proc.wait_configured(i + 1)
        answered += serve(port, 2)
    proc.wait_configured(4)
    assert len(answered) == 3
    receiver.wait_for_server_spans(6)
    stop(proc, signal.SIGINT, group=False)
    assert proc.wait() == 0
    assert_exactly_once(proc, receiver, answered)


RELOADS = {
    # name: (options, how the reload is asked for)
    "touch-reload": (["--touch-reload", "reload.trigger"], "touch"),
    "touch-reload-lazy-apps": (["--touch-reload", "reload.trigger", "--lazy-apps"], "touch"),
    "py-autoreload": (["--py-autoreload", "1"], "edit"),
    "sighup": ([], signal.SIGHUP),
    # uWSGI 2.0 reloads on SIGTERM (without --die-on-term), killing workers at once.
    "sigterm-brutal-reload": ([], signal.SIGTERM),
}


@pytest.mark.parametrize("reload", list(RELOADS))
def test_reload_loses_nothing(
    procs: list[Proc], uwsgi_venv: Venv, app_dir: Path, receiver: Receiver, reload: str
) -> None:
    options, how = RELOADS[reload]
    (app_dir / "reload.trigger").write_text("")
    proc, port = start(
        procs, uwsgi_venv, app_dir, receiver, "--master", "--processes", "2", *options,
        OTEL_BSP_SCHEDULE_DELAY="60000",
    )  # fmt: skip
    proc.wait_configured(2)
    answered = serve(port, N)
    first = set(workers(proc))
    wait_idle(proc)
    if how == "touch":
        # uWSGI compares the file's mtime about once a second.
        time.sleep(1.1)
        (app_dir / "reload.trigger").write_text("touched")
    elif how == "edit":
        time.sleep(1.1)
        with open(app_dir / "app.py", "a") as f:
            f.write("\n# edited\n")
    else:
        proc.signal(how, group=False)
    proc.wait_configured(4)
    wait_apps_loaded(proc, 4 if "--lazy-apps" in options else 2)
    # The old workers flushed on their way out (a 60 s batch delay otherwise).
    assert len(receiver.wait_for_server_spans(N)) == N
    answered += serve(port, N)
    assert set(answered) - first <= set(workers(proc)) - first
    stop(proc, signal.SIGINT, group=False)
    assert proc.wait() == 0
    # The master re-executed itself: the .pth ran again there, and it stayed idle.
    assert [text for pid, text in proc.debug() if pid == proc.pid].count(MASTER_IDLE) == 2
    assert_exactly_once(proc, receiver, answered)


def test_graceful_shutdown_through_the_master_fifo_loses_nothing(
    procs: list[Proc], uwsgi_venv: Venv, app_dir: Path
) -> None:
    receiver = Receiver(delay=1.0).start()
    try:
        fifo = app_dir / "master.fifo"
        proc, port = start(
            procs, uwsgi_venv, app_dir, receiver, "--master", "--processes", "2",
            "--master-fifo", str(fifo), OTEL_BSP_SCHEDULE_DELAY="60000",
        )  # fmt: skip
        proc.wait_configured(2)
        answered = serve(port, N)
        # "q": workers finish their requests, then exit through their exit hooks.
        with open(fifo, "w") as f:
            f.write("q")
        assert proc.wait() == 0
        assert Counter(s.pid for s in receiver.server_spans()) == answered
        assert_master_idle(proc, receiver)
    finally:
        receiver.stop()


def test_skip_atexit_is_reported_once(
    procs: list[Proc], uwsgi_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, _ = start(
        procs, uwsgi_venv, app_dir, receiver, "--master", "--processes", "2", "--skip-atexit"
    )
    proc.wait_configured(2)
    stop(proc, signal.SIGINT, group=False)
    proc.wait()
    assert ours(proc) == [
        "otel-autoguard: uWSGI --skip-atexit: workers end with _exit(), so the spans and "
        "metrics a worker still holds when it stops, reloads or is recycled are lost; "
        "remove --skip-atexit (--skip-atexit-teardown is fine)"
    ]


def ours(proc: Proc) -> list[str]:
    """otel-autoguard's lines other than the debug ones."""
    return [
        line
        for line in proc.output().splitlines()
        if line.startswith("otel-autoguard:") and not line.startswith("otel-autoguard: pid=")
    ]


def test_the_apps_own_uwsgi_hooks_still_run(
    procs: list[Proc], uwsgi_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(
        procs, uwsgi_venv, app_dir, receiver, "--master", "--processes", "2",
        wsgi_file="uwsgi_hooks.py", OTEL_BSP_SCHEDULE_DELAY="60000",
    )  # fmt: skip
    proc.wait_configured(2)
    answered = serve(port, N)
    stop(proc, signal.SIGINT, group=False)
    assert proc.wait() == 0
    out = proc.output()
    for pid in workers(proc):
        # Configured before the app's post-fork hook runs; its atexit hook ran,
        # and the span it made on the way out was exported after it.
        assert f"app post_fork in pid {pid} sees TracerProvider" in out
        assert f"app atexit in pid {pid}" in out
    assert_exactly_once(proc, receiver, answered)
    atexit_spans = [s for s in receiver.data.spans if s.name == "app-atexit"]
    assert sorted(s.pid for s in atexit_spans) == sorted(workers(proc))


def test_without_python_threads_one_line_and_nothing_configured(
    procs: list[Proc], old_uwsgi_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, old_uwsgi_venv, app_dir, receiver, "--master", "--processes", "2")
    answered = serve(port, N)
    stop(proc, signal.SIGINT, group=False)
    assert proc.wait() == 0
    (line,) = ours(proc)
    assert line.startswith("otel-autoguard: uWSGI runs without Python threads")
    assert "Add --enable-threads" in line
    assert proc.configured_pids() == []
    assert receiver.data.spans == []
    for pid in answered:
        assert proc.exit_line(pid).startswith("exit role=skip tracer=none")


def test_older_uwsgi_with_enable_threads_is_traced(
    procs: list[Proc], old_uwsgi_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(
        procs, old_uwsgi_venv, app_dir, receiver, "--master", "--processes", "2",
        "--enable-threads",
    )  # fmt: skip
    proc.wait_configured(2)
    answered = serve(port, N)
    wait_metrics(receiver, set(answered), proc)
    stop(proc, signal.SIGINT, group=False)
    assert proc.wait() == 0
    assert "otel-autoguard: uWSGI runs without Python threads" not in proc.output()
    assert_exactly_once(proc, receiver, answered)


def test_a_uwsgi_from_elsewhere_with_virtualenv(
    procs: list[Proc],
    uwsgi_venv: Venv,
    old_uwsgi_venv: Venv,
    app_dir: Path,
    receiver: Receiver,
) -> None:
    """``uwsgi -H <venv>``: site reads that venv's .pth although uWSGI lives elsewhere."""
    proc, port = start(
        procs, old_uwsgi_venv, app_dir, receiver, "--master", "--processes", "2",
        "--enable-threads", "--virtualenv", str(uwsgi_venv.path),
    )  # fmt: skip
    assert f"Set PythonHome to {uwsgi_venv.path}" in proc.output()
    proc.wait_configured(2)
    answered = serve(port, N)
    stop(proc, signal.SIGINT, group=False)
    assert proc.wait() == 0
    assert_exactly_once(proc, receiver, answered)


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_stop_signal_while_a_worker_boots_stops_it(
    procs: list[Proc], uwsgi_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    # Until uWSGI's C code sets a new worker's handlers (after the post-fork hook, where it
    # is configured), the worker has the master's: a SIGINT there was lost, the worker
    # served on (not gone after 15 s) and a master stopped then waited for it (20 s+).
    proc, port = start(procs, uwsgi_venv, app_dir, receiver, "--master", "--processes", "2")
    proc.wait_configured(2)
    answered = serve(port, N)
    receiver.wait_for_server_spans(N)
    known = children(proc.pid)
    os.kill(min(known), signal.SIGKILL)  # the master respawns it: stop the new one at once
    (worker,) = new_children(proc, known)
    time.sleep(0.01)
    os.kill(worker, signal.SIGINT)
    sent = time.monotonic()
    while not _gone(worker) and time.monotonic() - sent < 8:
        time.sleep(0.01)
    took = time.monotonic() - sent
    print(f"SIGINT 10 ms after the respawn: worker {worker} gone after {took:.2f}s")
    assert _gone(worker), f"worker {worker} still running {took:.1f}s after SIGINT"
    assert took < 3, f"worker {worker} took {took:.1f}s to stop"
    proc.signal(signal.SIGINT, group=False)
    assert proc.wait(30) == 0
    one_span_per_request(receiver, answered)
    assert worker not in {s.pid for s in receiver.data.spans}
