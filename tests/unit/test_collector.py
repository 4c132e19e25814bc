"""Which collector each signal connects to, and the check at exit (no SDK needed)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from otel_autoguard import _exit, _otel_log, _providers, load_settings
from otel_autoguard._process import Process
from otel_autoguard._roles import Role
from otel_autoguard._settings._collectors import Collector, collectors

E = "OTEL_EXPORTER_OTLP"
ALL_OTLP = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
}
HTTP = {**ALL_OTLP, f"{E}_PROTOCOL": "http/protobuf"}

CASES: list[tuple[dict[str, str], list[tuple[str, str, str, str, int]]]] = [
    # Nothing set: the SDK configures no exporter, so there is nothing to flush.
    ({}, []),
    # `otlp` alone is gRPC (the SDK's rule), at its default address.
    ({"OTEL_TRACES_EXPORTER": "otlp"},
     [("traces", "http://localhost:4317", "the default", "localhost", 4317)]),
    ({"OTEL_TRACES_EXPORTER": "otlp_proto_http"},
     [("traces", "http://localhost:4318", "the default", "localhost", 4318)]),
    # An exporter that names its protocol keeps it, whatever a protocol variable says
    # (the SDK warns of the conflict and uses the name; one rule with the doctor's).
    ({"OTEL_TRACES_EXPORTER": "otlp_proto_grpc", f"{E}_TRACES_PROTOCOL": "http/protobuf"},
     [("traces", "http://localhost:4317", "the default", "localhost", 4317)]),
    # `otlp` follows the protocol variable.
    ({"OTEL_TRACES_EXPORTER": "otlp", f"{E}_TRACES_PROTOCOL": "http/protobuf"},
     [("traces", "http://localhost:4318", "the default", "localhost", 4318)]),
    ({**HTTP, f"{E}_ENDPOINT": "https://otel.example:4443"}, [
        (s, "https://otel.example:4443", f"{E}_ENDPOINT", "otel.example", 4443)
        for s in ("traces", "metrics", "logs")
    ]),
    # A signal's own endpoint is used as is; the others keep the general one.
    ({**HTTP, f"{E}_ENDPOINT": "http://a:4318", f"{E}_METRICS_ENDPOINT": "http://b/v1/metrics"}, [
        ("traces", "http://a:4318", f"{E}_ENDPOINT", "a", 4318),
        ("metrics", "http://b/v1/metrics", f"{E}_METRICS_ENDPOINT", "b", 80),
        ("logs", "http://a:4318", f"{E}_ENDPOINT", "a", 4318),
    ]),
    # gRPC endpoints may come without a scheme.
    ({"OTEL_METRICS_EXPORTER": "otlp", f"{E}_ENDPOINT": "collector:4317"},
     [("metrics", "collector:4317", f"{E}_ENDPOINT", "collector", 4317)]),
    # Left out: another exporter beside or instead of OTLP, none, unknown protocols,
    # Unix sockets, malformed ports, no port at all.
    ({"OTEL_TRACES_EXPORTER": "otlp,console"}, []),
    ({"OTEL_TRACES_EXPORTER": "console", "OTEL_LOGS_EXPORTER": "none"}, []),
    ({"OTEL_TRACES_EXPORTER": "otlp", f"{E}_PROTOCOL": "http/json"}, []),
    ({"OTEL_TRACES_EXPORTER": "otlp", f"{E}_ENDPOINT": "unix:///run/otel.sock"}, []),
    ({"OTEL_TRACES_EXPORTER": "otlp", f"{E}_ENDPOINT": "http://c:43170000"}, []),
    ({"OTEL_TRACES_EXPORTER": "otlp", f"{E}_ENDPOINT": "collector"}, []),
]  # fmt: skip


@pytest.mark.parametrize(("environ", "expected"), CASES)
def test_collectors(
    environ: dict[str, str], expected: list[tuple[str, str, str, str, int]]
) -> None:
    assert collectors(environ) == tuple(Collector(*row) for row in expected)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield int(sock.getsockname()[1])


class Provider:
    def __init__(self) -> None:
        self.flushed = False
        self.shut_down = False

    def shutdown(self) -> None:
        self.shut_down = True

    def force_flush(self, timeout_millis: int) -> bool:
        self.flushed = True
        return True


SIGNALS = ("traces", "metrics", "logs")
SETTINGS = load_settings({"OTEL_SERVICE_NAME": "x"})
State = dict[str, tuple[Any, tuple[Any, ...]]]


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> State:
    """Each signal's provider as otel-autoguard's configuration left it, and still is."""
    now = {signal: (Provider(), ("its processor",)) for signal in SIGNALS}
    monkeypatch.setattr(_providers, "pipelines", lambda: now)
    return now


@pytest.fixture
def process(state: State) -> Process:
    """A process that otel-autoguard configured (its providers: ``state``)."""
    process = Process()
    process.settings, process.configured, process.ours = SETTINGS, True, dict(state)
    return process


def at(signal: str, port: int) -> Collector:
    endpoint = f"http://127.0.0.1:{port}"
    return Collector(signal, endpoint, f"{E}_ENDPOINT", "127.0.0.1", port)


def test_only_the_refusing_collector_is_given_up(
    process: Process, closed_port: int, listening_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    process.collectors = (
        at("traces", listening_port), at("metrics", closed_port), at("logs", closed_port)
    )  # fmt: skip
    assert process.refused() == {"metrics", "logs"}
    assert capsys.readouterr().err == (
        f"otel-autoguard: the collector refuses connections at http://127.0.0.1:{closed_port} "
        f"({E}_ENDPOINT: metrics, logs): what this process still holds for it is dropped at "
        "exit instead of retried until the exporter's timeout\n"
    )
    # Asked again (the exit flush, then the shutdown): no second probe, no second line.
    process.collectors = ()
    assert process.refused() == {"metrics", "logs"}
    assert capsys.readouterr().err == ""


def test_what_the_application_set_up_is_always_flushed(
    process: Process, state: State, closed_port: int
) -> None:
    process.collectors = tuple(at(signal, closed_port) for signal in SIGNALS)
    # The application added a span processor (its own exporter, perhaps to another
    # collector) to our provider, and set its own MeterProvider before ours.
    provider, processors = state["traces"]
    state["traces"] = (provider, (*processors, "the app's processor"))
    process.ours["metrics"] = (None, ())
    assert process.refused(say=False) == {"logs"}


def test_a_forked_request_process_stays_quiet(
    process: Process, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    process.collectors = (at("traces", closed_port),)
    assert process.refused(say=False) == {"traces"}
    assert capsys.readouterr().err == ""


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each time the process held the stop signals (left as they are in the test run)."""
    calls: list[bool] = []
    monkeypatch.setattr(_exit, "hold_stop_signals", lambda: calls.append(True))
    return calls


@pytest.mark.parametrize(
    ("ending", "flushed"),
    [
        # A forked request (Werkzeug's processes=N): its spans, quietly.
        (((), False), [True, False, False]),
        # An RQ work horse: spans and logs; its metrics are its worker's.
        (((("traces", "logs"),), False), [True, False, True]),
        # A Celery pool process: an instance of its own, all of it, and its exit reported.
        (((SIGNALS,), True), [True, True, True]),
    ],
)
def test_a_process_about_to_os_exit_flushes_what_it_is_told(
    process: Process,
    capsys: pytest.CaptureFixture[str],
    held: list[bool],
    ending: tuple[tuple[tuple[str, ...]], bool],
    flushed: list[bool],
) -> None:
    signals, report = ending
    process.settings = load_settings({"OTEL_SERVICE_NAME": "x", "OTEL_AUTOGUARD_DEBUG": "true"})
    process.role = Role.SERVE
    process.ending(*signals, report=report)
    providers = [provider for provider, _ in process.ours.values()]
    assert [provider.flushed for provider in providers] == flushed
    assert [provider.shut_down for provider in providers] == [False] * 3
    assert held == [True], "a stop signal must not cut the flush"
    lines = capsys.readouterr().err.splitlines()
    if report:
        (line,) = lines
        assert line.startswith(f"otel-autoguard: pid={os.getpid()} exit role=serve tracer=")
    else:
        assert lines == []


def test_a_process_never_configured_has_nothing_to_flush_before_os_exit(
    process: Process, held: list[bool]
) -> None:
    process.configured = False
    process.ending(SIGNALS, report=True)
    assert [provider.flushed for provider, _ in process.ours.values()] == [False] * 3
    assert held == []


def test_a_forked_process_decides_again(
    process: Process, closed_port: int, listening_port: int
) -> None:
    process.collectors = (at("traces", listening_port),)
    assert process.refused() == frozenset()
    process.collectors = (at("traces", closed_port),)
    pid = os.fork()
    if pid == 0:  # the fork registry has reset the decision
        os._exit(0 if process.refused(say=False) == {"traces"} else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert process.refused() == frozenset()  # the parent keeps its own


def test_the_exit_plan_skips_refused_signals_in_every_step(
    process: Process, state: State, closed_port: int, listening_port: int
) -> None:
    process.collectors = (at("traces", closed_port), at("metrics", listening_port))
    steps = [what for what, _step, _consequence in process.exit_plan()]
    assert steps == ["flushing spans first", "shutting down the SDK", "saying what waited"]
    process.at_exit()
    providers = [provider for provider, _ in state.values()]
    # Spans (refused) are neither flushed nor shut down; metrics and logs are shut down.
    assert [(p.flushed, p.shut_down) for p in providers] == [
        (False, False), (False, True), (False, True)
    ]  # fmt: skip
    # Every other flush path skips the same signals.
    process.flush()
    assert [p.flushed for p in providers] == [False, True, True]


def record(name: str, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, None, None)


HTTP_EXPORTER = "opentelemetry.exporter.otlp.proto.http"
GRPC_EXPORTER = "opentelemetry.exporter.otlp.proto.grpc.exporter"


@pytest.mark.parametrize(
    ("name", "message", "signal"),
    [
        (f"{HTTP_EXPORTER}.trace_exporter", "Transient error … exporting spans batch", "traces"),
        (f"{HTTP_EXPORTER}.metric_exporter", "Failed to export metrics batch", "metrics"),
        (f"{HTTP_EXPORTER}._log_exporter", "Failed to export logs batch", "logs"),
        (GRPC_EXPORTER, "Transient error X encountered while exporting traces to c:4317", "traces"),
        (GRPC_EXPORTER, "Failed to export metrics to c:4317, error code: UNAVAILABLE", "metrics"),
        (GRPC_EXPORTER, "Failed to export logs to c:4317", "logs"),
        ("opentelemetry.exporter.other", "something else went wrong", None),
    ],
)
def test_the_signal_of_an_export_failure(name: str, message: str, signal: str | None) -> None:
    assert _otel_log._signal_of(record(name, message)) == signal


def test_one_export_failure_line_per_collector(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {
        **HTTP,
        f"{E}_ENDPOINT": "http://a:4318",
        f"{E}_METRICS_ENDPOINT": "http://b:4318/v1/metrics",
        "OTEL_SERVICE_NAME": "x",
    }
    handler = _otel_log._ExportFailures(load_settings(environ), collectors(environ))
    metrics = record(f"{HTTP_EXPORTER}.metric_exporter", "Failed to export metrics batch: 503")
    spans = record(f"{HTTP_EXPORTER}.trace_exporter", "Failed to export spans batch: refused")
    logs = record(f"{HTTP_EXPORTER}._log_exporter", "Failed to export logs batch: refused")
    for each in (metrics, metrics, spans, logs, spans):
        handler.emit(each)
    assert capsys.readouterr().err.splitlines() == [
        f"otel-autoguard: cannot export to http://b:4318/v1/metrics (from {E}_METRICS_ENDPOINT): "
        "Failed to export metrics batch: 503; retrying quietly",
        f"otel-autoguard: cannot export to http://a:4318 (from {E}_ENDPOINT): Failed to export "
        "spans batch: refused; retrying quietly",
    ]


URLLIB3 = (
    "Transient error HTTPConnectionPool(host='127.0.0.1', port=4318): Max retries exceeded "
    "with url: /v1/traces (Caused by NewConnectionError('<urllib3.connection.HTTPConnection "
    "object at 0x7f3b2c1d5e90>: Failed to establish a new connection: [Errno 111] Connection "
    "refused')) encountered while exporting span batch, retrying in 1.00s."
)
TIMEOUT = (
    "Failed to export span batch due to HTTPConnectionPool(host='collector.internal', "
    "port=4318): Read timed out. (read timeout=10) ReadTimeoutError, giving up after retries"
)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (URLLIB3, "NewConnectionError: Connection refused (127.0.0.1:4318)"),
        (TIMEOUT, "ReadTimeoutError: Read timed out (collector.internal:4318)"),
        ("Failed to export spans batch: refused", "Failed to export spans batch: refused"),
        ("x" * 300, "x" * 79 + "…"),
    ],
)
def test_an_export_failure_is_summarized(message: str, expected: str) -> None:
    assert _otel_log.summary(message) == expected


def test_an_export_failure_line_stays_short(capsys: pytest.CaptureFixture[str]) -> None:
    environ = {**HTTP, f"{E}_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SERVICE_NAME": "x"}
    handler = _otel_log._ExportFailures(load_settings(environ), collectors(environ))
    handler.emit(record(f"{HTTP_EXPORTER}.trace_exporter", URLLIB3))
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"otel-autoguard: cannot export to http://127.0.0.1:4318 (from {E}_ENDPOINT): "
        "NewConnectionError: Connection refused (127.0.0.1:4318); retrying quietly"
    )
    assert len(line) <= 200
