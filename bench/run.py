"""Side-by-side cost of otel-autoguard, opentelemetry-instrument and plain Python.

Run from the repository root with an interpreter that has opentelemetry-proto
(for the in-process OTLP receiver)::

    .venv/bin/python -m bench.run

Three measurements, each reported as medians and ratios (see bench/README.md):

1. inert hook: ``python -c pass`` without OTEL_* variables, venv with the wheel
   against an identical venv without it;
2. reloader parent: peak RSS (VmHWM) and threads of the Werkzeug reloader parent
   once its child serves, for bare / opentelemetry-instrument / otel-autoguard;
3. start-up: process start to first HTTP 200, with and without the reloader.

The machine may be noisy: the script reports figures and never asserts them.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from tests.support.procs import Venv

if TYPE_CHECKING:
    from tests.support.receiver import Receiver

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "latest.json"

# What venv A (bare) gets; venv B gets the same list plus the wheel, which depends
# on exactly these, so both resolve to the same packages.
APP_REQUIREMENTS = (
    "flask",
    "opentelemetry-distro",
    "opentelemetry-instrumentation-flask",
    "opentelemetry-exporter-otlp-proto-http",
)

BARE = "bare"
INSTRUMENT = "opentelemetry-instrument"
AUTOGUARD = "otel-autoguard"
HAND_WRITTEN = "hand-written"
CONFIGS = (BARE, INSTRUMENT, AUTOGUARD, HAND_WRITTEN)
FLOOR = "import floor"
"""Bare Python importing, in the serving process only, what the official SDK configurator and
the Flask instrumentor import, and setting nothing up: what no set-up can start below (start
and reload only)."""

PLAIN = "no reloader"
RELOADER = "reloader"
APP_MODES = {PLAIN: "plain", RELOADER: "reload"}  # table label -> app.py argument

TARGET_HOOK_RATIO = 1.03
TARGET_PARENT_MIB = 2.0
TARGET_PARENT_THREADS = 0
TARGET_START_RATIO = 0.25
TARGET_RELOAD_SHARE = 0.3  # reload cycle <= bare + this share of instrument's added time
TARGET_THROUGHPUT_RATIO = 0.97  # requests/s with wrk, over opentelemetry-instrument's
TARGET_DOWN_RELOAD_RATIO = 2.0  # reload time with no collector, over bare's

POLL_INTERVAL = 0.005  # seconds between attempts to reach the app
REQUEST_TIMEOUT = 5.0  # one GET; with the reloader it waits in the listen backlog
START_TIMEOUT = 60.0  # whole start-up, before the run counts as failed
STOP_TIMEOUT = 10.0
HOOK_WARMUP = 5  # python -c pass rounds run first and dropped (page cache, .pyc)

APP_SOURCE = """\
# An unmodified Flask app: no OpenTelemetry code. `python app.py PORT plain|reload`.
import os
import sys

from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return f"ok {os.getpid()}\\n"


if __name__ == "__main__":
    reload = sys.argv[2] == "reload"
    app.run(host="127.0.0.1", port=int(sys.argv[1]), debug=reload, use_reloader=reload)
"""

# The same app with the minimal set-up people write by hand (traces, metrics, logs), at
# module top: what "zero-code can beat hand-written" is measured against.
MANUAL_SOURCE = APP_SOURCE.replace(
    "app = Flask(__name__)\n",
    """app = Flask(__name__)

from opentelemetry import _logs, metrics, trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

tracer_provider = TracerProvider()
tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
trace.set_tracer_provider(tracer_provider)
reader = PeriodicExportingMetricReader(OTLPMetricExporter())
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
logger_provider = LoggerProvider()
logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
_logs.set_logger_provider(logger_provider)
FlaskInstrumentor().instrument_app(app)
""",
)
assert MANUAL_SOURCE != APP_SOURCE

FLOOR_SOURCE = APP_SOURCE.replace(
    "app = Flask(__name__)\n",
    """app = Flask(__name__)

if os.environ.get("WERKZEUG_RUN_MAIN") == "true" or sys.argv[2] != "reload":
    # Imported, never used: the configurator module (the SDK's providers and processors)
    # and the Flask instrumentor (instrumentor, semconv, wsgi). Not the exporters, which
    # otel-autoguard imports in the export thread.
    import opentelemetry.instrumentation.flask  # noqa: F401
    import opentelemetry.sdk._configuration  # noqa: F401
""",
)
assert FLOOR_SOURCE != APP_SOURCE

T = TypeVar("T")


# ----------------------------------------------------------------------------- setup


@dataclasses.dataclass(frozen=True)
class Launcher:
    """How one configuration starts ``app.py``: a command prefix and an environment."""

    name: str
    prefix: tuple[str, ...]
    env: Mapping[str, str]
    script: str = "app.py"


@dataclasses.dataclass(frozen=True)
class Setup:
    workdir: Path
    bare: Venv
    autoguard: Venv
    app: Path
    logs: Path
    versions: dict[str, str]
    same_packages: bool


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="python -c pass runs per venv")
    parser.add_argument("--runs-parent", type=int, default=5, help="reloader-parent runs")
    parser.add_argument("--runs-start", type=int, default=10, help="start-up runs per case")
    parser.add_argument(
        "--runs-reload", type=int, default=5, help="reload/Ctrl-C runs, collector up"
    )
    parser.add_argument(
        "--runs-down", type=int, default=3, help="reload/Ctrl-C runs with no collector"
    )
    parser.add_argument("--runs-wrk", type=int, default=3, help="wrk runs per config (0: none)")
    parser.add_argument("--wrk-seconds", type=int, default=5, help="seconds per wrk run")
    parser.add_argument(
        "--wrk-warmup", type=int, default=2, help="seconds of wrk before each measured run"
    )
    parser.add_argument("--workdir", type=Path, help="where venvs live (default: a temp dir)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep venvs and reuse them when still current"
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter the venvs are made from"
    )
    return parser.parse_args(argv)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without Python, OpenTelemetry, Flask or venv settings."""
    dropped = ("PYTHON", "OTEL_", "WERKZEUG_", "FLASK_", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(extra)
    return env


def otel_env(endpoint: str) -> dict[str, str]:
    return clean_env(
        OTEL_SERVICE_NAME="bench",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
    )


def run_checked(cmd: Sequence[str]) -> str:
    """Run a set-up command (pip, venv) without this environment's PYTHON* settings."""
    result = subprocess.run(list(cmd), capture_output=True, text=True, check=False, env=clean_env())
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def build_wheel(out: Path) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    run_checked(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)]
    )
    (wheel,) = out.glob("otel_autoguard-*.whl")
    return wheel


def wheel_digest(wheel: Path) -> str:
    """A hash of the wheel's contents, stable across rebuilds of the same sources."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode() + b"\0" + archive.read(name))
    return digest.hexdigest()


def ensure_venv(path: Path, python: str, packages: Sequence[str], stamp: str, reuse: bool) -> Venv:
    """A venv with ``packages``; reused as is when ``reuse`` and its stamp still match."""
    stamp_file = path / "bench-stamp.txt"
    venv = Venv(path)
    if reuse and stamp_file.is_file() and stamp_file.read_text() == stamp:
        print(f"  reusing {path}", flush=True)
        return venv
    shutil.rmtree(path, ignore_errors=True)
    print(f"  creating {path}", flush=True)
    run_checked([python, "-m", "venv", str(path)])
    run_checked([venv.python, "-m", "pip", "install", "-q", *packages])
    stamp_file.write_text(stamp)
    return venv


def installed(venv: Venv) -> dict[str, str]:
    listing = run_checked([venv.python, "-m", "pip", "list", "--format=json"])
    return {p["name"].lower(): p["version"] for p in json.loads(listing)}


def write_app(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    app = directory / "app.py"
    app.write_text(APP_SOURCE)
    (directory / "app_manual.py").write_text(MANUAL_SOURCE)
    (directory / "app_floor.py").write_text(FLOOR_SOURCE)
    return app


def prepare(workdir: Path, python: str, reuse: bool) -> Setup:
    print(f"setting up in {workdir}", flush=True)
    wheel = build_wheel(workdir / "wheel")
    base_stamp = f"{os.path.realpath(python)}\n{' '.join(APP_REQUIREMENTS)}\n"
    bare = ensure_venv(workdir / "venv-bare", python, APP_REQUIREMENTS, base_stamp, reuse)
    autoguard = ensure_venv(
        workdir / "venv-autoguard",
        python,
        [str(wheel), *APP_REQUIREMENTS],
        f"{base_stamp}{wheel_digest(wheel)}\n",
        reuse,
    )
    bare_pkgs, autoguard_pkgs = installed(bare), installed(autoguard)
    guard_version = autoguard_pkgs.pop("otel-autoguard", "?")
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    return Setup(
        workdir=workdir,
        bare=bare,
        autoguard=autoguard,
        app=write_app(workdir / "app"),
        logs=logs,
        versions=versions_of(bare_pkgs, guard_version, python),
        same_packages=bare_pkgs == autoguard_pkgs,
    )


def versions_of(packages: Mapping[str, str], guard_version: str, python: str) -> dict[str, str]:
    version = run_checked([python, "-c", "import platform; print(platform.python_version())"])
    found = {"python": version.strip(), "otel-autoguard": guard_version}
    for name in ("flask", "werkzeug", "opentelemetry-sdk", "opentelemetry-instrumentation"):
        found[name] = packages.get(name, "?")
    return found


def launchers(setup: Setup, endpoint: str) -> list[Launcher]:
    otel = otel_env(endpoint)
    bare = setup.bare
    return [
        Launcher(BARE, (bare.python,), clean_env()),
        Launcher(INSTRUMENT, (bare.bin("opentelemetry-instrument"), bare.python), otel),
        Launcher(AUTOGUARD, (setup.autoguard.python,), otel),
        Launcher(HAND_WRITTEN, (bare.python,), otel, "app_manual.py"),
    ]


def floor_launcher(setup: Setup) -> Launcher:
    return Launcher(FLOOR, (setup.bare.python,), clean_env(), "app_floor.py")


def start_receiver() -> Receiver:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from tests.support.receiver import Receiver
    except ImportError as exc:
        raise SystemExit(
            f"the OTLP receiver needs opentelemetry-proto in this interpreter ({exc}); "
            "run with the repository's .venv/bin/python"
        ) from exc
    return Receiver().start()


# ------------------------------------------------------------------------- processes


@dataclasses.dataclass(frozen=True)
class App:
    proc: subprocess.Popen[bytes]
    started: float
    port: int
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole session the app started (reloader parent and child)."""
    deadline = time.monotonic() + STOP_TIMEOUT
    while True:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)
        if proc.returncode is not None and not group_members(proc.pid):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"process group {proc.pid} is still running after SIGKILL")


@contextlib.contextmanager
def running_app(launcher: Launcher, setup: Setup, mode: str) -> Iterator[App]:
    """Start ``app.py`` in its own session; on leaving, nothing of it is left running."""
    port = free_port()
    log = setup.logs / f"{launcher.name}-{APP_MODES[mode]}.log"
    cmd = [*launcher.prefix, str(setup.app.parent / launcher.script), str(port), APP_MODES[mode]]
    with open(log, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd,
            cwd=setup.app.parent,
            env=dict(launcher.env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield App(proc, started, port, log)
        finally:
            kill_group(proc)


def get_ok(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def answering_pid(port: int) -> int | None:
    """The pid in the app's ``ok PID`` answer, or None if it does not answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read().decode()
        return int(body.split()[1]) if response.status == 200 else None
    except (OSError, http.client.HTTPException, IndexError, ValueError):
        return None
    finally:
        conn.close()


def seconds_to_first_200(app: App) -> float:
    """Poll until the first successful GET; seconds from Popen to its response."""
    return first_200(app)[0]


def first_200(app: App) -> tuple[float, float]:
    """Seconds from Popen to the first successful GET's response, and that GET's latency."""
    deadline = app.started + START_TIMEOUT
    while True:
        sent = time.perf_counter()
        if get_ok(app.port):
            answered = time.perf_counter()
            return answered - app.started, answered - sent
        if app.proc.poll() is not None or time.perf_counter() > deadline:
            tail = app.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{app.proc.args!r} never answered 200 on port {app.port}:\n{tail}")
        time.sleep(POLL_INTERVAL)


@dataclasses.dataclass(frozen=True)
class ParentSnapshot:
    peak_rss_kib: int
    threads: int
    thread_names: tuple[str, ...]


def parent_snapshot(pid: int) -> ParentSnapshot:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    names = []
    for comm in Path(f"/proc/{pid}/task").glob("*/comm"):
        with contextlib.suppress(OSError):
            names.append(comm.read_text().strip())
    return ParentSnapshot(int(fields["VmHWM"][0]), int(fields["Threads"][0]), tuple(sorted(names)))


def rotated(items: Sequence[T], turn: int) -> list[T]:
    """``items`` starting at a different one each turn, so no config always goes first."""
    k = turn % len(items)
    return [*items[k:], *items[:k]]


# ---------------------------------------------------------------------- measurements


@dataclasses.dataclass(frozen=True)
class HookResult:
    runs: int
    bare_ms: float
    autoguard_ms: float
    ratio: float
    target_ratio: float
    samples_bare_ms: list[float]
    samples_autoguard_ms: list[float]


@dataclasses.dataclass(frozen=True)
class ParentResult:
    config: str
    peak_rss_mib: float
    threads: int
    thread_names: list[str]
    peak_rss_delta_mib: float
    threads_delta: int
    samples_mib: list[float]
    samples_threads: list[int]


@dataclasses.dataclass(frozen=True)
class StartResult:
    mode: str
    median_ms: dict[str, float]
    added_ms: dict[str, float]
    ratio: float | None
    target_ratio: float
    samples_ms: dict[str, list[float]]
    first_request_ms: dict[str, float]
    """Median latency of the first GET answered 200 (it may wait for a lazy set-up)."""


def time_python_pass(venv: Venv, env: Mapping[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [venv.python, "-c", "pass"],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    return (time.perf_counter() - started) * 1000


def measure_inert_hook(setup: Setup, runs: int) -> HookResult:
    """``python -c pass`` without OTEL_*: venv B (wheel) against venv A, interleaved."""
    print(f"1/6 inert hook: {runs} x python -c pass per venv", flush=True)
    env = clean_env()
    venvs = [setup.bare, setup.autoguard]
    samples: dict[Venv, list[float]] = {v: [] for v in venvs}
    for turn in range(HOOK_WARMUP + runs):
        for venv in rotated(venvs, turn):
            elapsed = time_python_pass(venv, env)
            if turn >= HOOK_WARMUP:
                samples[venv].append(elapsed)
    bare, guard = (
        statistics.median(samples[setup.bare]),
        statistics.median(samples[setup.autoguard]),
    )
    return HookResult(
        runs=runs,
        bare_ms=bare,
        autoguard_ms=guard,
        ratio=guard / bare,
        target_ratio=TARGET_HOOK_RATIO,
        samples_bare_ms=samples[setup.bare],
        samples_autoguard_ms=samples[setup.autoguard],
    )


def measure_reloader_parent(
    setup: Setup, apps: Sequence[Launcher], runs: int
) -> list[ParentResult]:
    """Peak RSS and threads of the reloader parent once its child serves."""
    print(f"2/6 reloader parent: {runs} runs per config (+1 warm-up)", flush=True)
    snapshots: dict[str, list[ParentSnapshot]] = {a.name: [] for a in apps}
    for turn in range(runs + 1):
        for launcher in rotated(apps, turn):
            with running_app(launcher, setup, RELOADER) as app:
                seconds_to_first_200(app)
                snapshot = parent_snapshot(app.proc.pid)
            if turn > 0:
                snapshots[launcher.name].append(snapshot)
    return summarize_parents(snapshots)


def summarize_parents(snapshots: Mapping[str, list[ParentSnapshot]]) -> list[ParentResult]:
    medians = {
        name: (
            statistics.median(s.peak_rss_kib for s in runs) / 1024,
            statistics.median_low(s.threads for s in runs),
        )
        for name, runs in snapshots.items()
    }
    bare_mib, bare_threads = medians[BARE]
    results = []
    for name, runs in snapshots.items():
        mib, threads = medians[name]
        names = collections.Counter(s.thread_names for s in runs).most_common(1)[0][0]
        results.append(
            ParentResult(
                config=name,
                peak_rss_mib=mib,
                threads=threads,
                thread_names=list(names),
                peak_rss_delta_mib=mib - bare_mib,
                threads_delta=threads - bare_threads,
                samples_mib=[s.peak_rss_kib / 1024 for s in runs],
                samples_threads=[s.threads for s in runs],
            )
        )
    return results


def measure_start(setup: Setup, apps: Sequence[Launcher], runs: int) -> list[StartResult]:
    """Popen to first HTTP 200, every config and mode interleaved."""
    print(f"3/6 start to first 200: {runs} runs per config and mode (+1 warm-up)", flush=True)
    samples: dict[str, dict[str, list[float]]] = {m: {a.name: [] for a in apps} for m in APP_MODES}
    firsts: dict[str, dict[str, list[float]]] = {m: {a.name: [] for a in apps} for m in APP_MODES}
    cases = [(mode, launcher) for mode in APP_MODES for launcher in apps]
    for turn in range(runs + 1):
        for mode, launcher in rotated(cases, turn):
            with running_app(launcher, setup, mode) as app:
                elapsed, first = first_200(app)
            if turn > 0:
                samples[mode][launcher.name].append(elapsed * 1000)
                firsts[mode][launcher.name].append(first * 1000)
    return [summarize_start(mode, samples[mode], firsts[mode]) for mode in samples]


def summarize_start(
    mode: str, samples: Mapping[str, list[float]], firsts: Mapping[str, list[float]]
) -> StartResult:
    median = {name: statistics.median(values) for name, values in samples.items()}
    added = {name: median[name] - median[BARE] for name in samples if name != BARE}
    # Undefined when opentelemetry-instrument adds nothing measurable.
    ratio = added[AUTOGUARD] / added[INSTRUMENT] if added[INSTRUMENT] > 0 else None
    first = {name: statistics.median(values) for name, values in firsts.items()}
    return StartResult(mode, median, added, ratio, TARGET_START_RATIO, dict(samples), first)


@dataclasses.dataclass(frozen=True)
class DownResult:
    config: str
    reload_ms: float
    stop_ms: float
    samples_reload_ms: list[float]
    samples_stop_ms: list[float]
    child_ms: float
    """The new child alone: first seen in the process group -> its first 200. Without the
    0-1 s the stat reloader takes to notice the edit, which dominates ``reload_ms``."""
    samples_child_ms: list[float]


def measure_no_collector(
    setup: Setup, apps: Sequence[Launcher], runs: int, step: str = "5/6", what: str = "no collector"
) -> list[DownResult]:
    """With the reloader: the time from touching the app's script until a new child
    answers, and from Ctrl-C until every process has exited (``apps`` say where they
    export: nothing listening there, or the receiver)."""
    print(f"{step} reload and Ctrl-C, {what}: {runs} runs per config (+1 warm-up)", flush=True)
    reloads: dict[str, list[float]] = {a.name: [] for a in apps}
    stops: dict[str, list[float]] = {a.name: [] for a in apps}
    children: dict[str, list[float]] = {a.name: [] for a in apps}
    for turn in range(runs + 1):
        for launcher in rotated(apps, turn):
            with running_app(launcher, setup, RELOADER) as app:
                seconds_to_first_200(app)
                first = answering_pid(app.port)
                for _ in range(5):  # spans queued in the child
                    get_ok(app.port)
                time.sleep(1.0)  # the stat reloader has taken its baseline by now
                before = set(group_members(app.proc.pid))
                started = time.perf_counter()
                os.utime(setup.app.parent / launcher.script)
                spawned = None
                while True:
                    if spawned is None and set(group_members(app.proc.pid)) - before:
                        spawned = time.perf_counter()
                    if spawned is not None and answering_pid(app.port) not in (first, None):
                        break
                    if time.perf_counter() - started > START_TIMEOUT:
                        raise RuntimeError(f"{launcher.name}: no reload; see {app.log}")
                    time.sleep(POLL_INTERVAL)
                reloaded = time.perf_counter() - started
                child = time.perf_counter() - spawned
                started = time.perf_counter()
                os.killpg(app.proc.pid, signal.SIGINT)
                while app.proc.poll() is None or group_members(app.proc.pid):
                    if time.perf_counter() - started > START_TIMEOUT:
                        raise RuntimeError(f"{launcher.name}: Ctrl-C did not end it; {app.log}")
                    time.sleep(POLL_INTERVAL)
                stopped = time.perf_counter() - started
            if turn > 0:
                reloads[launcher.name].append(reloaded * 1000)
                stops[launcher.name].append(stopped * 1000)
                children[launcher.name].append(child * 1000)
    return [
        DownResult(
            name,
            statistics.median(reloads[name]),
            statistics.median(stops[name]),
            reloads[name],
            stops[name],
            statistics.median(children[name]),
            children[name],
        )
        for name in reloads
    ]


@dataclasses.dataclass(frozen=True)
class ThroughputResult:
    config: str
    requests_per_s: float
    samples: list[float]


def measure_throughput(
    setup: Setup, apps: Sequence[Launcher], runs: int, seconds: int, warmup: int
) -> list[ThroughputResult] | None:
    """Requests per second with wrk against the app without reloader (Werkzeug's threaded
    server), every config interleaved; None when wrk is not installed.

    A ``warmup`` of wrk, not counted, comes first: the row is the steady state, the same
    for every config. Without it, otel-autoguard's run also held the exporters' import
    (made on a timer a second after set-up, ``_exporters``), which the start rows count.
    """
    wrk = shutil.which("wrk")
    if wrk is None or runs <= 0:
        print("6/6 throughput: skipped (wrk is not installed: apt-get install wrk)", flush=True)
        return None
    print(f"6/6 throughput with wrk: {runs} runs of {seconds} s per config", flush=True)
    samples: dict[str, list[float]] = {a.name: [] for a in apps}
    for turn in range(runs):
        for launcher in rotated(apps, turn):
            with running_app(launcher, setup, PLAIN) as app:
                seconds_to_first_200(app)
                url = f"http://127.0.0.1:{app.port}/"
                if warmup > 0:
                    warm = [wrk, "-t2", "-c8", f"-d{warmup}s", url]
                    subprocess.run(warm, capture_output=True, text=True, check=True)
                cmd = [wrk, "-t2", "-c8", f"-d{seconds}s", url]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rate = next(line for line in out.splitlines() if line.startswith("Requests/sec:"))
            samples[launcher.name].append(float(rate.split()[1]))
    return [ThroughputResult(n, statistics.median(v), v) for n, v in samples.items()]


# --------------------------------------------------------------------------- report


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def render_rows(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    """Columns padded to width; ``align`` has one "l" or "r" per column (default: "l" then "r")."""
    align = align or "l" + "r" * (len(header) - 1)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.ljust(width) if side == "l" else cell.rjust(width)
            for cell, width, side in zip(row, widths, align)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def render_hook(hook: HookResult) -> list[str]:
    met = hook.ratio <= hook.target_ratio
    return [
        f"1. Inert hook: python -c pass, no OTEL_* set (median of {hook.runs}, interleaved)",
        *render_rows(
            ["venv", "median ms"],
            [[f"A {BARE}", f"{hook.bare_ms:.2f}"], [f"B {AUTOGUARD}", f"{hook.autoguard_ms:.2f}"]],
        ),
        f"  ratio B/A = {hook.ratio:.3f}  (target <= {hook.target_ratio}: {verdict(met)})",
    ]


def thread_names(names: Sequence[str]) -> str:
    counts = collections.Counter(names)
    return ", ".join(f"{n} x{c}" if c > 1 else n for n, c in sorted(counts.items()))


def render_parents(parents: Sequence[ParentResult], runs: int) -> list[str]:
    rows = [
        [
            p.config,
            f"{p.peak_rss_mib:.1f}",
            "" if p.config == BARE else f"{p.peak_rss_delta_mib:+.1f}",
            str(p.threads),
            "" if p.config == BARE else f"{p.threads_delta:+d}",
            thread_names(p.thread_names),
        ]
        for p in parents
    ]
    guard = next(p for p in parents if p.config == AUTOGUARD)
    met = (
        guard.peak_rss_delta_mib <= TARGET_PARENT_MIB
        and guard.threads_delta <= TARGET_PARENT_THREADS
    )
    header = ["config", "VmHWM MiB", "delta", "threads", "delta", "thread names (comm)"]
    return [
        f"2. Reloader parent once the child serves (median of {runs})",
        *render_rows(header, rows, align="lrrrrl"),
        f"  {AUTOGUARD}: target <= bare + {TARGET_PARENT_MIB:g} MiB and no extra threads: "
        f"{verdict(met)}",
    ]


def render_start(starts: Sequence[StartResult], runs: int) -> list[str]:
    rows = []
    for s in starts:
        ratio = "n/a" if s.ratio is None else f"{s.ratio:.2f}"
        beats = s.median_ms[AUTOGUARD] < s.median_ms[HAND_WRITTEN]
        rows.append(
            [
                s.mode,
                f"{s.median_ms[BARE]:.0f}",
                *(
                    f"{s.median_ms[name]:.0f} ({s.added_ms[name]:+.0f})"
                    for name in (INSTRUMENT, HAND_WRITTEN, AUTOGUARD, FLOOR)
                    if name in s.median_ms
                ),
                ratio,
                floor_share(s.added_ms),
                verdict(s.ratio is not None and s.ratio <= s.target_ratio and beats),
                " / ".join(f"{s.first_request_ms[name]:.1f}" for name in CONFIGS),
            ]
        )
    header = [
        "app.run",
        "bare ms",
        "instrument (added)",
        "hand-written (added)",
        "autoguard (added)",
        "floor (added)",
        "ratio",
        "floor",
        "",
        "first GET ms: " + " / ".join(CONFIGS),
    ]
    return [
        f"3. Process start to first HTTP 200 (median of {runs}, interleaved)",
        *render_rows(header, rows),
        f"  ratio = autoguard added / instrument added; target <= {TARGET_START_RATIO} and "
        f"below {HAND_WRITTEN} (TracerProvider, MeterProvider, LoggerProvider with OTLP "
        "exporters and FlaskInstrumentor, at module top)",
        f"  floor = {FLOOR} added / instrument added: bare Python importing the SDK "
        "configurator's and the Flask instrumentor's modules in the serving process, "
        "nothing set up; no set-up built on them can have a lower ratio",
    ]


def floor_share(added: Mapping[str, float]) -> str:
    if FLOOR not in added or added.get(INSTRUMENT, 0.0) <= 0:
        return "n/a"
    return f"{added[FLOOR] / added[INSTRUMENT]:.2f}"


def render_reload(reloads: Sequence[DownResult], runs: int) -> list[str]:
    by = {d.config: d for d in reloads}
    bare, instrument, guard = by[BARE], by[INSTRUMENT], by[AUTOGUARD]
    limit = bare.child_ms + TARGET_RELOAD_SHARE * (instrument.child_ms - bare.child_ms)
    rows = [
        [
            d.config,
            f"{d.reload_ms:.0f}",
            f"{d.child_ms:.0f}",
            f"{d.child_ms - bare.child_ms:+.0f}",
            f"{d.stop_ms:.0f}",
        ]
        for d in reloads
    ]
    added = instrument.child_ms - bare.child_ms
    share = "n/a" if added <= 0 else f"{(guard.child_ms - bare.child_ms) / added:.2f}"
    header = ["config", "touch -> 200 ms", "new child -> 200 ms", "added", "Ctrl-C ms"]
    return [
        f"4. Reload cycle, collector up (median of {runs}); the stat reloader notices an edit "
        "0-1 s late, so compare the new child's own time",
        *render_rows(header, rows),
        f"  new child: {AUTOGUARD} added / {INSTRUMENT} added = {share}; target <= bare + "
        f"{TARGET_RELOAD_SHARE:g} x instrument's added ({limit:.0f} ms): "
        f"{verdict(guard.child_ms <= limit)}",
        *(
            [
                f"  {FLOOR} (the new child imports what the configurator and the Flask "
                f"instrumentor import, sets nothing up): added / {INSTRUMENT} added = "
                + ("n/a" if added <= 0 else f"{(by[FLOOR].child_ms - bare.child_ms) / added:.2f}")
            ]
            if FLOOR in by
            else []
        ),
    ]


def render_throughput(results: Sequence[ThroughputResult] | None, runs: int) -> list[str]:
    if results is None:
        return ["6. Throughput: not measured (wrk is not installed)"]
    by = {r.config: r for r in results}
    instrument = by[INSTRUMENT].requests_per_s
    rows = [
        [r.config, f"{r.requests_per_s:.0f}", f"{r.requests_per_s / instrument:.3f}"]
        for r in results
    ]
    ratio = by[AUTOGUARD].requests_per_s / instrument
    return [
        f"6. Throughput: wrk -t2 -c8 against app.py without reloader (median of {runs})",
        *render_rows(["config", "requests/s", f"x {INSTRUMENT}"], rows),
        f"  {AUTOGUARD} / {INSTRUMENT} = {ratio:.3f}; target >= {TARGET_THROUGHPUT_RATIO}: "
        f"{verdict(ratio >= TARGET_THROUGHPUT_RATIO)}",
    ]


def render_down(downs: Sequence[DownResult], runs: int) -> list[str]:
    by = {d.config: d for d in downs}
    bare = by[BARE]
    rows = [
        [
            d.config,
            f"{d.reload_ms:.0f}",
            f"{d.reload_ms / bare.reload_ms:.2f}",
            f"{d.stop_ms:.0f}",
            f"{d.stop_ms / bare.stop_ms:.2f}",
        ]
        for d in downs
    ]
    guard = by[AUTOGUARD].reload_ms / bare.reload_ms
    met = verdict(guard <= TARGET_DOWN_RELOAD_RATIO)
    versus = by[AUTOGUARD].reload_ms / by[INSTRUMENT].reload_ms
    return [
        f"5. No collector running: touch the script -> new child answers; Ctrl-C -> all exited "
        f"(median of {runs})",
        *render_rows(["config", "reload ms", "x bare", "Ctrl-C ms", "x bare"], rows),
        f"  {AUTOGUARD} reload / {INSTRUMENT} reload = {versus:.2f}; target {AUTOGUARD} "
        f"reload <= {TARGET_DOWN_RELOAD_RATIO:g} x bare: {met}",
    ]


def render(
    results: Mapping[str, Any],
    *,
    hook: HookResult,
    parents: Sequence[ParentResult],
    starts: Sequence[StartResult],
    reloads: Sequence[DownResult],
    downs: Sequence[DownResult],
    throughput: Sequence[ThroughputResult] | None,
) -> str:
    meta = results["meta"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    lines = [
        f"otel-autoguard bench: {versions}; {meta['cpus']} CPUs",
        "",
        *render_hook(hook),
        "",
        *render_parents(parents, meta["runs_parent"]),
        "",
        *render_start(starts, meta["runs_start"]),
        "",
        *render_reload(reloads, meta["runs_reload"]),
        "",
        *render_down(downs, meta["runs_down"]),
        "",
        *render_throughput(throughput, meta["runs_wrk"]),
    ]
    if not meta["same_packages"]:
        lines += ["", "  warning: venv A and venv B differ in more than otel-autoguard"]
    lines += ["", f"  leftover processes: {meta['leftover_processes'] or 'none'}"]
    return "\n".join(lines)


def write_json(results: Mapping[str, Any]) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


# ----------------------------------------------------------------------------- main


@contextlib.contextmanager
def work_directory(requested: Path | None, reuse: bool) -> Iterator[Path]:
    """The given directory, a fixed one to reuse, or a temp dir removed afterwards."""
    if requested is not None or reuse:
        path = requested or Path(tempfile.gettempdir()) / "otel-autoguard-bench"
        path.mkdir(parents=True, exist_ok=True)
        yield path.resolve()
        return
    path = Path(tempfile.mkdtemp(prefix="otel-autoguard-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def leftover_processes(workdir: Path) -> list[int]:
    """Any process still running app.py from this work dir (there should be none)."""
    marker = str(workdir / "app" / "app.py").encode()
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if marker in cmdline.read_bytes().split(b"\0"):
                found.append(int(cmdline.parent.name))
    return found


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    receiver = start_receiver()
    try:
        with work_directory(args.workdir, args.reuse) as workdir:
            setup = prepare(workdir, args.python, args.reuse)
            apps = launchers(setup, receiver.endpoint)
            hook = measure_inert_hook(setup, args.runs)
            parents = measure_reloader_parent(setup, apps, args.runs_parent)
            with_floor = [*apps, floor_launcher(setup)]
            starts = measure_start(setup, with_floor, args.runs_start)
            reloads = measure_no_collector(
                setup, with_floor, args.runs_reload, "4/6", "collector up"
            )
            closed = f"http://127.0.0.1:{free_port()}"
            downs = measure_no_collector(setup, launchers(setup, closed), args.runs_down)
            throughput = measure_throughput(
                setup, apps, args.runs_wrk, args.wrk_seconds, args.wrk_warmup
            )
            meta = {
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "versions": setup.versions,
                "same_packages": setup.same_packages,
                "runs": args.runs,
                "runs_parent": args.runs_parent,
                "runs_start": args.runs_start,
                "runs_reload": args.runs_reload,
                "runs_down": args.runs_down,
                "runs_wrk": args.runs_wrk,
                "wrk_warmup": args.wrk_warmup,
                "leftover_processes": leftover_processes(workdir),
            }
    finally:
        receiver.stop()
    results: dict[str, Any] = {
        "meta": meta,
        "inert_hook": dataclasses.asdict(hook),
        "reloader_parent": [dataclasses.asdict(p) for p in parents],
        "start_to_first_200": [dataclasses.asdict(s) for s in starts],
        "reload_cycle": [dataclasses.asdict(d) for d in reloads],
        "no_collector": [dataclasses.asdict(d) for d in downs],
        "throughput": None if throughput is None else [dataclasses.asdict(t) for t in throughput],
    }
    table = render(
        results,
        hook=hook,
        parents=parents,
        starts=starts,
        reloads=reloads,
        downs=downs,
        throughput=throughput,
    )
    results["table"] = table
    write_json(results)
    print()
    print(table)
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
