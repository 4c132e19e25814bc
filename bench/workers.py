"""Per-task and per-job cost of otel-autoguard in Celery and RQ workers, side by side.

Run from the repository root with an interpreter that has opentelemetry-proto and
``redis-server`` on the PATH::

    .venv/bin/python -m bench.workers [--tasks 40] [--jobs 20] [--workdir DIR]

One venv (``otel-autoguard[celery,rq]``, Celery, RQ 2, Redis's client), one Redis on a
free loopback port, one in-process OTLP receiver. Each worker runs once with
otel-autoguard on (``OTEL_*`` set) and once with it off (the same variables plus
``OTEL_AUTOGUARD_ENABLED=false``, so the ``.pth`` line stops at reading them):

1. Celery prefork ``-c 1``: tasks sent one after the other, each waited for;
   per-task wall time from the client (median).
2. RQ default worker (``--burst``, a work horse forked per job): the worker's run
   time for N jobs minus its run time for 1 job, over N - 1: the per-job cost
   (fork, job, the horse's flush before ``os._exit``), without start-up.
3. RQ ``SimpleWorker`` the same way.
4. What an SDK per work horse would cost instead (the design not chosen): the
   time to configure the SDK in a process forked from an unconfigured one.

Figures only, never asserted: on a shared machine compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.procs import Venv, base_env, build_wheel, make_venv, run
from tests.support.receiver import Receiver
from tests.support.redis import RedisServer

ROOT = Path(__file__).resolve().parents[1]
APPS = ROOT / "tests" / "e2e" / "apps"
# As the tests (tests/e2e/conftest.py): RQ 2, and redis-py < 8, with which RQ 2.12's
# worker does not wait 60 s at teardown.
PACKAGES = ("celery", "redis>=6.4,<8", "rq>=2,<3")

CELERY_CLIENT = """
import statistics, sys, time
from tasks import hello
hello.delay().get(timeout=60)  # warm: connections, the pool process's first task
samples = []
for _ in range(int(sys.argv[1])):
    t = time.perf_counter()
    hello.delay().get(timeout=60)
    samples.append(time.perf_counter() - t)
print(statistics.median(samples))
"""

SDK_PER_FORK = """
import os, statistics, sys, time
from otel_autoguard._process import PROCESS
samples = []
for _ in range(int(sys.argv[1])):
    r, w = os.pipe()
    if os.fork() == 0:
        t = time.perf_counter()
        PROCESS.serving("bench: an SDK per forked process")
        os.write(w, str(time.perf_counter() - t).encode())
        os._exit(0)
    os.close(w)
    samples.append(float(os.read(r, 64)))
    os.close(r)
    os.wait()
print(statistics.median(samples))
"""


def setup_venv(workdir: Path) -> Venv:
    wheel = build_wheel(workdir / "wheel")
    venv = make_venv(workdir / "venv", sys.executable, wheel)
    version = run(
        [
            venv.python,
            "-c",
            "import importlib.metadata as m; print(m.version('opentelemetry-instrumentation'))",
        ]
    ).stdout.strip()
    pin = f"opentelemetry-instrumentation=={version}"
    run([venv.python, "-m", "pip", "install", "-q", f"{wheel}[celery,rq]", pin, *PACKAGES])
    return venv


def environ(receiver: Receiver, broker: str, on: bool) -> dict[str, str]:
    env = base_env(
        OTEL_SERVICE_NAME="bench-worker",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        CELERY_BROKER=broker,
    )
    if not on:
        env["OTEL_AUTOGUARD_ENABLED"] = "false"
    return env


@contextlib.contextmanager
def celery_worker(venv: Venv, app: Path, env: dict[str, str]) -> Iterator[None]:
    cmd = [venv.bin("celery"), "-A", "tasks", "worker", "-c", "1", "--loglevel", "INFO"]
    cmd += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    log = app / "bench-worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=app, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"the Celery worker did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(60)


def celery_per_task(venv: Venv, app: Path, env: dict[str, str], tasks: int) -> float:
    with celery_worker(venv, app, env):
        client = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
        return float(
            run([venv.python, "-c", CELERY_CLIENT, str(tasks)], cwd=app, env=client).stdout
        )


def rq_run(venv: Venv, app: Path, env: dict[str, str], broker: str, jobs: int, *args: str) -> float:
    client = {k: v for k, v in env.items() if not k.startswith("OTEL_")}
    run([venv.python, "enqueue.py", broker, str(jobs), "--plain"], cwd=app, env=client)
    t = time.perf_counter()
    run([venv.bin("rq"), "worker", "--burst", "-u", broker, *args], cwd=app, env=env)
    return time.perf_counter() - t


def rq_per_job(
    venv: Venv, app: Path, env: dict[str, str], broker: str, jobs: int, *args: str
) -> float:
    one = statistics.median(rq_run(venv, app, env, broker, 1, *args) for _ in range(3))
    many = statistics.median(rq_run(venv, app, env, broker, jobs, *args) for _ in range(3))
    return (many - one) / (jobs - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        workdir.mkdir(parents=True, exist_ok=True)
        print("setting up the venv (a few minutes)...", flush=True)
        venv = setup_venv(workdir)
        redis = RedisServer(workdir)
        stack.callback(redis.stop)
        receiver = Receiver().start()
        stack.callback(receiver.stop)
        rows = []
        for name, measure in (
            (
                "Celery prefork -c 1, per task",
                lambda env: celery_per_task(venv, APPS / "celery_app", env, args.tasks),
            ),
            (
                "RQ Worker (fork per job), per job",
                lambda env: rq_per_job(venv, APPS / "rq_app", env, redis.url, args.jobs),
            ),
            (
                "RQ SimpleWorker, per job",
                lambda env: rq_per_job(
                    venv, APPS / "rq_app", env, redis.url, args.jobs, "-w", "rq.worker.SimpleWorker"
                ),
            ),
        ):
            redis.flush()
            off = measure(environ(receiver, redis.url, on=False))
            redis.flush()
            on = measure(environ(receiver, redis.url, on=True))
            rows.append((name, off, on))
            print(f"  {name}: off {off * 1000:.1f} ms, on {on * 1000:.1f} ms", flush=True)
        sdk = float(
            run(
                [venv.python, "-c", SDK_PER_FORK, "10"],
                env=environ(receiver, redis.url, on=True),
            ).stdout
        )
    print()
    print(f"{'':38} {'without':>10} {'with':>10} {'ratio':>7}")
    for name, off, on in rows:
        print(f"{name:38} {off * 1000:8.1f}ms {on * 1000:8.1f}ms {on / off:7.2f}")
    print(f"{'(not chosen) an SDK per forked horse':38} {'':>10} {sdk * 1000:8.1f}ms  set-up alone")
    print("\nNoisy on a shared machine: compare ratios from one run. Nothing is asserted.")


if __name__ == "__main__":
    main()
