"""What a leaving process cannot export is handed over, not lost; stops stay quick.

A reloaded child, a stopped server: what the collector cannot take in the hand-over
budget goes to the spool (``OTEL_AUTOGUARD_SPOOL_DIR``), and the next process of the
same service that exports successfully sends it first, with its original resource.
The receiver injects the faults: stopped (refuses), hung (never answers), 503, slow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import HOLD, one_span_per_request
from tests.support.procs import Proc, Venv, free_port, get, otel_env, pid_of, serve
from tests.support.receiver import Receiver

N = 4
# The stop timeout a test must stay well inside: waiting for it is what this prevents.
STOP_TIMEOUT = 20.0


def exactly_once(receiver: Receiver, answered: Counter[int]) -> None:
    one_span_per_request(receiver, answered)
    time.sleep(1.0)  # a duplicate sent late would show now
    one_span_per_request(receiver, answered)


def spooled(spool_dir: Path) -> list[str]:
    return sorted(p.name for p in spool_dir.rglob("*.otlp*"))


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def env_for(endpoint: str, spool_dir: Path, **extra: str) -> dict[str, str]:
    return otel_env(
        endpoint,
        OTEL_AUTOGUARD_SPOOL_DIR=str(spool_dir),
        OTEL_AUTOGUARD_STOP_TIMEOUT=str(STOP_TIMEOUT),
        **extra,
    )


def next_run(
    procs: list[Proc],
    venv: Venv,
    app_dir: Path,
    env: dict[str, str],
    port: int,
    *,
    requests: int = N,
) -> Counter[int]:
    """The service started again: its first export taken, it sends the spool first."""
    again = serve(
        procs, [venv.python, "app.py", "nodebug"], app_dir, env=env, port=port, name="next"
    )
    answered = Counter(pid_of(get(port)) for _ in range(requests))
    stop_and_time(again)
    return answered


def stop_and_time(proc: Proc) -> float:
    started = time.monotonic()
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    return time.monotonic() - started


def test_a_child_reloaded_while_the_collector_is_down_hands_its_spans_over(
    procs: list[Proc], venv: Venv, app_dir: Path, spool_dir: Path
) -> None:
    collector_port, port = free_port(), free_port()
    first_collector = Receiver(port=collector_port).start()
    env = env_for(first_collector.endpoint, spool_dir, PORT=str(port), **HOLD)
    proc = serve(procs, [venv.python, "app.py"], app_dir, env=env, port=port, name="reloader")
    (first,) = proc.wait_configured(1)
    answered = Counter(pid_of(get(port)) for _ in range(N))
    first_collector.stop()  # the collector is killed...
    second = proc.edit_until_reloaded(app_dir / "app.py", 2)[1]  # ...the child reloaded
    assert len(spooled(spool_dir)) == 1, proc.output()
    collector = Receiver(port=collector_port).start()  # and the collector is back
    try:
        answered += Counter(pid_of(get(port)) for _ in range(N))
        assert answered == {first: N, second: N}
        assert stop_and_time(proc) < STOP_TIMEOUT / 4
        # The second child's exit export succeeds, then it sends the first child's batch.
        exactly_once(collector, answered)
    finally:
        collector.stop()
    assert first_collector.data.spans == []
    assert spooled(spool_dir) == []
    out = proc.output()
    assert "this process's spans wait in the spool for the next process to send" in out, out


def test_spool_off_drops_them_as_before(
    procs: list[Proc], venv: Venv, app_dir: Path, spool_dir: Path
) -> None:
    collector_port, port = free_port(), free_port()
    first_collector = Receiver(port=collector_port).start()
    env = env_for(
        first_collector.endpoint, spool_dir, PORT=str(port), OTEL_AUTOGUARD_SPOOL="false", **HOLD
    )
    proc = serve(procs, [venv.python, "app.py"], app_dir, env=env, port=port, name="reloader")
    proc.wait_configured(1)
    for _ in range(N):
        get(port)
    first_collector.stop()
    second = proc.edit_until_reloaded(app_dir / "app.py", 2)[1]
    collector = Receiver(port=collector_port).start()
    try:
        answered = Counter(pid_of(get(port)) for _ in range(N))
        assert answered == {second: N}
        stop_and_time(proc)
        exactly_once(collector, answered)  # the first child's N are lost
    finally:
        collector.stop()
    assert spooled(spool_dir) == []
    assert "is dropped at exit instead of retried" in proc.output()


def test_ctrl_c_with_a_hung_collector_is_quick_and_the_next_run_sends_the_spans(
    procs: list[Proc], venv: Venv, app_dir: Path, spool_dir: Path
) -> None:
    collector = Receiver().start()
    collector.mode = "hang"
    try:
        port = free_port()
        env = env_for(collector.endpoint, spool_dir, PORT=str(port), **HOLD)
        cmd = [venv.python, "app.py", "nodebug"]
        proc = serve(procs, cmd, app_dir, env=env, port=port, name="hung")
        answered = Counter(pid_of(get(port)) for _ in range(N))
        took = stop_and_time(proc)
        # About the hand-over budget (1 s), not the stop timeout or the exporter's 10 s.
        assert took < STOP_TIMEOUT / 4, (took, proc.output())
        assert len(spooled(spool_dir)) == 1
        assert collector.data.spans == []

        collector.mode = "ok"
        answered += next_run(procs, venv, app_dir, env, port)
        exactly_once(collector, answered)
        assert spooled(spool_dir) == []
    finally:
        collector.stop()


@pytest.mark.parametrize("fault", ["503", "garbage"])
def test_a_failing_collector_then_recovery_loses_nothing_while_serving(
    procs: list[Proc], venv: Venv, app_dir: Path, spool_dir: Path, fault: str
) -> None:
    collector = Receiver().start()
    collector.mode = fault
    try:
        port = free_port()
        # Exports every 200 ms; each failing one retries for at most 2 s, then is spooled.
        env = env_for(collector.endpoint, spool_dir, PORT=str(port), OTEL_EXPORTER_OTLP_TIMEOUT="2")
        proc = serve(procs, [venv.python, "app.py", "nodebug"], app_dir, env=env, port=port)
        answered = Counter(pid_of(get(port)) for _ in range(N))
        proc.wait_until(lambda: len(spooled(spool_dir)) >= 1, "a spooled batch", timeout=20)
        collector.mode = "ok"
        answered += Counter(pid_of(get(port)) for _ in range(N))
        # The next export succeeds, then the spooled batch is sent, while still serving.
        exactly_once(collector, answered)
        proc.wait_until(lambda: spooled(spool_dir) == [], "an empty spool", timeout=10)
        stop_and_time(proc)
        exactly_once(collector, answered)
    finally:
        collector.stop()


def test_a_slow_collector_gets_everything_once(
    procs: list[Proc], venv: Venv, app_dir: Path, spool_dir: Path
) -> None:
    collector = Receiver(delay=1.5).start()
    try:
        port = free_port()
        env = env_for(collector.endpoint, spool_dir, PORT=str(port))
        proc = serve(procs, [venv.python, "app.py", "nodebug"], app_dir, env=env, port=port)
        answered = Counter(pid_of(get(port)) for _ in range(N))
        proc.wait_until(lambda: len(collector.server_spans()) >= N, "the first spans", 20)
        answered += Counter(pid_of(get(port)) for _ in range(N))
        # Ctrl-C while the last spans may be in flight: the collector answered slowly
        # before, so an export in flight is waited for (cutting it would send it twice).
        took = stop_and_time(proc)
        assert took < STOP_TIMEOUT / 4, took
        if spooled(spool_dir):
            # What did not fit in the budget was handed over: the next run sends it.
            answered += next_run(procs, venv, app_dir, env, port)
        exactly_once(collector, answered)
        assert spooled(spool_dir) == []
    finally:
        collector.stop()


def test_spool_files_are_private_and_the_doctor_shows_sends_and_clears_them(
    procs: list[Proc], venv: Venv, app_dir: Path, spool_dir: Path
) -> None:
    collector_port, port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{collector_port}"
    env = env_for(endpoint, spool_dir, PORT=str(port), **HOLD)
    proc = serve(procs, [venv.python, "app.py", "nodebug"], app_dir, env=env, port=port)
    answered = Counter(pid_of(get(port)) for _ in range(N))
    stop_and_time(proc)  # no collector: the spans go to the spool
    (batch,) = spool_dir.rglob("*.otlp")
    assert os.stat(batch).st_mode & 0o777 == 0o600
    assert os.stat(batch.parent).st_mode & 0o777 == 0o700

    doctor = [venv.bin("otel-autoguard"), "doctor"]
    shown = run_doctor(doctor, env)
    assert f"e2e-app at {endpoint}/v1/traces: 1 batches" in shown, shown
    collector = Receiver(port=collector_port).start()
    try:
        sent = run_doctor([*doctor, "--spool-send"], env)
        assert "sent 1 spooled batches; 0 left in the spool" in sent, sent
        exactly_once(collector, answered)
    finally:
        collector.stop()
    assert spooled(spool_dir) == []

    for _ in range(2):  # two more batches, then cleared
        proc = serve(procs, [venv.python, "app.py", "nodebug"], app_dir, env=env, port=port)
        get(port)
        stop_and_time(proc)
    report = json.loads(run_doctor([*doctor, "--json", "--spool-clear"], env))
    assert report["spool"]["action"] == "deleted 2 spooled batches"
    assert report["spool"]["spools"] == []
    assert spooled(spool_dir) == []


def run_doctor(cmd: list[str], env: dict[str, str]) -> str:
    # Exit status 1 is the doctor's "telemetry would not flow" (no collector answers).
    done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout


def test_steady_load_across_a_collector_outage_and_reloads_loses_nothing(
    procs: list[Proc], venv: Venv, app_dir: Path, spool_dir: Path
) -> None:
    # bench/faults.py's "killed" and "hang" rows, shortened: three clients throughout.
    collector_port, port = free_port(), free_port()
    first = Receiver(port=collector_port).start()
    env = env_for(first.endpoint, spool_dir, PORT=str(port))
    proc = serve(procs, [venv.python, "app.py"], app_dir, env=env, port=port, name="reloader")
    proc.wait_configured(1)
    answered: Counter[int] = Counter()
    lock, stop = threading.Lock(), threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                pid = pid_of(get(port))
            except OSError:
                time.sleep(0.02)  # between two children
                continue
            with lock:
                answered[pid] += 1

    clients = [threading.Thread(target=client) for _ in range(3)]
    for thread in clients:
        thread.start()
    second = None
    try:
        time.sleep(1.5)
        first.stop()  # killed...
        proc.edit_until_reloaded(app_dir / "app.py", 2)  # ...a reload while it is down
        time.sleep(1.0)
        second = Receiver(port=collector_port).start()  # back...
        second.mode = "hang"  # ...hung across the next reload
        proc.edit_until_reloaded(app_dir / "app.py", 3)
        second.mode = "ok"
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    assert second is not None
    try:
        assert stop_and_time(proc) < STOP_TIMEOUT / 4
        if spooled(spool_dir):  # what the last child could not send: the next run sends it
            answered += next_run(procs, venv, app_dir, env, port, requests=1)
        assert len(answered) >= 3 and sum(answered.values()) > 30, answered
        total = sum(answered.values())
        second.wait_for_server_spans(total - len(first.server_spans()))
        time.sleep(1.0)  # a duplicate sent late would show now
        spans = first.server_spans() + second.server_spans()
        assert len(spans) == total
        assert len({s.span_id for s in spans}) == total, "duplicate spans"
        assert Counter(s.pid for s in spans) == answered
    finally:
        second.stop()
    assert spooled(spool_dir) == []
