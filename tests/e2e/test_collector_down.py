"""A collector that refuses connections: exits and reloads do not wait on retries.

The exporters retry a refused export until their timeout (10 s), once per signal, so
an exit flush would hold each reload and each stop for seconds. Every test holds its
telemetry until exit (60 s batch delay and metric interval), so the only export a
process could try is the one at exit: a ``cannot export`` line would mean it tried.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import HOLD, NO_SDK, one_span_per_request
from tests.support.procs import Proc, Venv, free_port, get, otel_env, pid_of, serve
from tests.support.receiver import Receiver

N = 4
HOLD_ALL = {**HOLD, "OTEL_METRIC_EXPORT_INTERVAL": "60000"}
ALL = "traces, metrics, logs"


def refused(endpoint: str, source: str, signals: str) -> str:
    start = f"otel-autoguard: the collector refuses connections at {endpoint} ({source}: {signals})"
    if "traces" not in signals:
        return f"{start}: what this process still holds for it is dropped at exit instead of " + (
            "retried until the exporter's timeout"
        )
    # Spans are handed over to the spool (test_handover.py); the rest is dropped.
    rest = signals.replace("traces, ", "").replace(", ", " and ")
    return (
        f"{start}: this process's spans wait in the spool for the next process to send; "
        f"its {rest} are dropped at exit"
    )


def closed_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_reloads_and_ctrl_c_with_no_collector(procs: list[Proc], venv: Venv, app_dir: Path) -> None:
    closed = closed_endpoint()
    port = free_port()
    env = otel_env(closed, PORT=str(port), **HOLD_ALL)
    proc = serve(procs, [venv.python, "app.py"], app_dir, env=env, port=port, name="reloader")
    (first,) = proc.wait_configured(1)
    answered = Counter(pid_of(get(port)) for _ in range(N))
    second = proc.edit_until_reloaded(app_dir / "app.py", 2)[1]
    answered += Counter(pid_of(get(port)) for _ in range(N))
    assert answered == {first: N, second: N}
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0

    out = proc.output()
    # One line from each child as it ends (the reload, then Ctrl-C); none from the parent.
    assert out.count(refused(closed, "OTEL_EXPORTER_OTLP_ENDPOINT", ALL)) == 2, out
    assert "cannot export" not in out
    assert proc.exit_line(proc.pid) == f"exit role=reloader-parent {NO_SDK}"
    assert proc.exit_line(first).startswith("exit role=serve tracer=TracerProvider")


def test_sigterm_flushes_to_the_live_collector_and_skips_the_refusing_one(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    metrics = f"{closed_endpoint()}/v1/metrics"
    port = free_port()
    env = otel_env(
        receiver.endpoint, PORT=str(port), OTEL_EXPORTER_OTLP_METRICS_ENDPOINT=metrics, **HOLD_ALL
    )
    cmd = [venv.python, "app.py", "nodebug"]
    proc = serve(procs, cmd, app_dir, env=env, port=port, name="single")
    answered = Counter(pid_of(get(port)) for _ in range(N))
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == -signal.SIGTERM

    one_span_per_request(receiver, answered)
    out = proc.output()
    assert out.count(refused(metrics, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "metrics")) == 1, out
    assert "cannot export" not in out
    assert receiver.data.metric_resources == []


def test_gunicorn_workers_exit_without_retrying(
    procs: list[Proc], servers_venv: Venv, app_dir: Path
) -> None:
    closed = closed_endpoint()
    port = free_port()
    cmd = [servers_venv.bin("gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "2", "app:app"]
    proc = serve(procs, cmd, app_dir, env=otel_env(closed, **HOLD_ALL), port=port, name="gunicorn")
    workers = proc.wait_configured(2)
    for _ in range(N):
        get(port)
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0

    out = proc.output()
    assert out.count(refused(closed, "OTEL_EXPORTER_OTLP_ENDPOINT", ALL)) == 2, out
    assert "cannot export" not in out
    for worker in workers:
        assert proc.exit_line(worker).startswith("exit role=serve tracer=TracerProvider")


@pytest.mark.parametrize("setup", ["module-top", "add"])
def test_the_apps_own_pipeline_is_still_flushed(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, setup: str
) -> None:
    # otel-autoguard's collector is down; the app also sends spans to its own, which is
    # up. Its span pipeline joined the provider, so traces are flushed as usual (our
    # exporter's retries bounded by OTEL_EXPORTER_OTLP_TIMEOUT), and nothing is lost.
    closed = closed_endpoint()
    port = free_port()
    env = otel_env(
        closed,
        PORT=str(port),
        MANUAL_SETUP=setup,
        APP_TRACES_ENDPOINT=f"{receiver.endpoint}/v1/traces",
        OTEL_EXPORTER_OTLP_TIMEOUT="2",
        **HOLD_ALL,
    )
    proc = serve(procs, [venv.python, "manual.py"], app_dir, env=env, port=port, name="manual")
    (child,) = proc.wait_configured(1)
    answered = Counter(pid_of(get(port)) for _ in range(N))
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0

    spans = receiver.wait_for_server_spans(N)
    assert len(spans) == N and {s.pid for s in spans} == {child} == set(answered)
    out = proc.output()
    assert out.count(refused(closed, "OTEL_EXPORTER_OTLP_ENDPOINT", "metrics, logs")) == 1, out
