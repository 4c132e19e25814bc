"""RQ with a real Redis: the worker is configured once; each forked work horse is handed
its SDK and flushes the job's spans before RQ's ``os._exit``."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import HOLD
from tests.support.procs import Proc, Venv, base_env, otel_env, run
from tests.support.receiver import Receiver, Span

CONSUMER = 5  # Span.SpanKind.SPAN_KIND_CONSUMER
CONFIGURED = (
    "RQ worker started ({cls}): runs the jobs or forks a work horse per job, which is "
    "handed this SDK"
)
SERVED = "exit role=serve tracer=TracerProvider meter=MeterProvider logger=LoggerProvider"


@pytest.fixture
def app(app_dir: Path) -> Path:
    return app_dir / "rq_app"


def enqueue(venv: Venv, app: Path, url: str, n: int) -> list[str]:
    """``n`` jobs that succeed, one that fails, one that times out (from a client without OTel)."""
    out = run([venv.python, "enqueue.py", url, str(n)], cwd=app, env=base_env())
    return out.stdout.split()


def burst(
    procs: list[Proc], venv: Venv, app: Path, receiver: Receiver, url: str, *args: str
) -> Proc:
    """A worker that performs every queued job, then exits."""
    cmd = [venv.bin("rq"), "worker", "--burst", "-u", url, *args]
    # A worker that hangs dumps every thread's stack (SIGABRT) into its log.
    env = otel_env(receiver.endpoint, PYTHONFAULTHANDLER="1", **HOLD)
    proc = Proc(cmd, app, env, app / "rq.log")
    procs.append(proc)
    try:
        status = proc.popen.wait(90)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGABRT)
        proc.wait(10)
        raise AssertionError(f"the worker hung:\n{proc.output()}") from None
    assert proc.wait() == status == 0, proc.output()
    return proc


def job_spans(receiver: Receiver) -> list[Span]:
    return [s for s in list(receiver.data.spans) if s.kind == CONSUMER]


def assert_one_span_per_job(receiver: Receiver, jobs: list[str], pid: int, *, forked: bool) -> None:
    spans = job_spans(receiver)
    assert sorted(s.attributes["rq.job.id"] for s in spans) == sorted(jobs)
    assert len({s.span_id for s in spans}) == len(jobs), "duplicate spans"
    assert {s.name for s in spans} == {"consume default"}
    # The worker's process.pid (set when it was configured) ...
    assert Counter(s.pid for s in spans) == {pid: len(jobs)}
    # ... and, from a forked horse, the service.instance.id the SDK (1.45) detects
    # anew in every forked process.
    assert len({s.instance for s in spans}) == (len(jobs) if forked else 1)
    # The failing and the timed-out job's own spans too ("perform", with the error).
    performed = [s for s in receiver.data.spans if s.name == "perform"]
    assert sorted(s.attributes["rq.job.id"] for s in performed) == sorted(jobs)


def test_default_worker_hands_its_sdk_to_each_work_horse(
    procs: list[Proc], tasks_venv: Venv, app: Path, receiver: Receiver, redis_url: str
) -> None:
    jobs = enqueue(tasks_venv, app, redis_url, 3)
    assert len(jobs) == 5
    proc = burst(procs, tasks_venv, app, receiver, redis_url)
    assert proc.configured_pids() == [proc.pid], "configured once, in the worker"
    assert proc.decided(proc.pid)[-1] == ("serve", CONFIGURED.format(cls="Worker"), "configured")
    # A horse is part of its worker: it decides nothing and reports no exit of its own
    # (its spans, held for 60 s, arrive only because it flushed before os._exit).
    assert {r["pid"] for r in proc.records()} == {proc.pid}
    assert {r["pid"] for r in proc.records("exit")} == {proc.pid}
    assert_one_span_per_job(receiver, jobs, proc.pid, forked=True)
    assert proc.exit_line(proc.pid).startswith(SERVED)


def test_simple_worker_is_configured_in_process(
    procs: list[Proc], tasks_venv: Venv, app: Path, receiver: Receiver, redis_url: str
) -> None:
    jobs = enqueue(tasks_venv, app, redis_url, 3)
    proc = burst(procs, tasks_venv, app, receiver, redis_url, "-w", "rq.worker.SimpleWorker")
    assert proc.configured_pids() == [proc.pid]
    decided = ("serve", CONFIGURED.format(cls="SimpleWorker"), "configured")
    assert proc.decided(proc.pid)[-1] == decided
    assert_one_span_per_job(receiver, jobs, proc.pid, forked=False)
    assert proc.exit_line(proc.pid).startswith(SERVED)


@pytest.mark.parametrize("command", [["info"], ["empty", "default"], ["suspend"], ["resume"]])
def test_tools_are_left_alone(
    tasks_venv: Venv, app: Path, receiver: Receiver, redis_url: str, command: list[str]
) -> None:
    env = otel_env(receiver.endpoint)
    out = run([tasks_venv.bin("rq"), *command, "-u", redis_url], cwd=app, env=env)
    text = out.stdout + out.stderr
    assert f"role=skip reason='rq {command[0]} runs no job' action=none" in text, text
    assert "action=instrumented" not in text
    assert receiver.data.requests == {}
