"""Processes that must stay untouched, and bad input that must not hurt the app."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.checks import NO_SDK
from tests.support.procs import (
    Proc,
    Venv,
    base_env,
    free_port,
    get,
    make_venv,
    otel_env,
    run,
    wait_port,
)
from tests.support.receiver import Receiver

# The core set: also run on CPython 3.14 and 3.15 (scripts/test-chroot).
pytestmark = pytest.mark.core

N = 3
PROBE = (
    "import sys; print(sorted(m for m in ('otel_autoguard', 'opentelemetry') if m in sys.modules))"
)


def problem_lines(output: str) -> list[str]:
    """Our stderr lines other than the debug trace."""
    return [
        line
        for line in output.splitlines()
        if line.startswith("otel-autoguard:") and not line.startswith("otel-autoguard: pid=")
    ]


def serve_nodebug(
    procs: list[Proc], venv: Venv, app_dir: Path, env: dict[str, str]
) -> tuple[Proc, int]:
    port = free_port()
    env["PORT"] = str(port)
    proc = Proc([venv.python, "app.py", "nodebug"], app_dir, env, app_dir / "server.log")
    procs.append(proc)
    wait_port(port, proc)
    for _ in range(N):
        assert "hello" in get(port)
    return proc, port


def test_no_otel_variables_imports_nothing(venv: Venv) -> None:
    assert run([venv.python, "-c", PROBE], env=base_env()).stdout.strip() == "[]"


@pytest.mark.parametrize(
    "switch",
    [{"OTEL_SDK_DISABLED": "true"}, {"OTEL_AUTOGUARD_ENABLED": "false"}],
    ids=["sdk-disabled", "autoguard-disabled"],
)
def test_switched_off(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, switch: dict[str, str]
) -> None:
    env = otel_env(receiver.endpoint, **switch)
    ((name, value),) = switch.items()
    out = run([venv.python, "-c", PROBE], env=env)
    assert out.stdout.strip() == "['otel_autoguard']"
    assert f"inactive: {name}={value}" in out.stderr

    proc, _ = serve_nodebug(procs, venv, app_dir, env)
    time.sleep(1.5)  # a configured process would have exported by now (200 ms batches)
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    assert receiver.data.spans == [] and receiver.data.requests == {}
    assert proc.configured_pids() == []


@pytest.mark.parametrize(
    ("cmd", "reasons"),
    [
        (["-m", "pip", "--version"], ["pip never serves requests"]),
        (["@pip", "--version"], ["pip never serves requests"]),
        (["-m", "venv", "--help"], ["venv never serves requests"]),
        (["@flask", "--app", "app", "routes"], ["flask routes does not serve requests"]),
        (["@flask", "--app", "app", "shell"], ["flask shell does not serve requests"]),
        (["@flask", "--app", "app", "--help"], ["flask (no command) does not serve requests"]),
        (
            ["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_in_app.py"],
            ["pytest never serves requests"],
        ),
        (["@pytest", "-q", "-p", "no:cacheprovider", "test_in_app.py"],
         ["pytest never serves requests"]),
        ([], ["no program given (interactive, or read from stdin)"]),
    ],
    ids=["python-m-pip", "pip", "venv", "flask-routes", "flask-shell", "flask", "python-m-pytest",
         "pytest", "stdin"],
)  # fmt: skip
def test_tools_are_never_configured(
    venv: Venv, app_dir: Path, receiver: Receiver, cmd: list[str], reasons: list[str]
) -> None:
    argv = (
        [venv.bin(cmd[0][1:]), *cmd[1:]]
        if cmd[:1] and cmd[0].startswith("@")
        else [venv.python, *cmd]
    )
    env = otel_env(receiver.endpoint, PATH=f"{venv.path / 'bin'}:{os.environ['PATH']}")
    out = run(argv, cwd=app_dir, env=env, input="print('from stdin')\n")
    lines = [line for line in out.stderr.splitlines() if line.startswith("otel-autoguard:")]
    assert [line.split(" reason=")[1] for line in lines[:-1]] == [
        f"{reason!r} action=none" for reason in reasons
    ], out.stderr
    assert f" exit role=skip {NO_SDK}" in lines[-1]
    assert receiver.data.requests == {}


def test_malformed_values_are_named_and_the_app_is_traced(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    env = otel_env(
        receiver.endpoint,
        OTEL_AUTOGUARD_ENABLED="maybe",
        OTEL_AUTOGUARD_STOP_TIMEOUT="soon",
        OTEL_TRACES_SAMPLER="sometimes",
    )
    proc, _ = serve_nodebug(procs, venv, app_dir, env)
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    assert len(receiver.wait_for_server_spans(N)) == N
    lines = problem_lines(proc.output())
    assert lines == [
        "otel-autoguard: OTEL_AUTOGUARD_ENABLED='maybe' is not valid; accepted: true/false "
        "(also 1/0, yes/no, on/off); deciding as if unset",
        "otel-autoguard: OTEL_AUTOGUARD_STOP_TIMEOUT='soon' is not valid; accepted: a number "
        "of seconds > 0; using 20",
        "otel-autoguard: OTEL_TRACES_SAMPLER='sometimes' is not a known sampler; accepted: "
        "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, "
        "parentbased_traceidratio, or a name in the opentelemetry_traces_sampler entry-point "
        "group; using the default parentbased_always_on",
    ], proc.output()
    assert "Traceback" not in proc.output()


@pytest.fixture(scope="module")
def venv_without_exporter(
    tmp_path_factory: pytest.TempPathFactory, wheel: Path, venv: Venv
) -> Iterator[Venv]:
    broken = make_venv(tmp_path_factory.mktemp("no-exporter"), venv.python, wheel)
    run(
        [
            broken.python,
            "-m",
            "pip",
            "uninstall",
            "-q",
            "-y",
            "opentelemetry-exporter-otlp-proto-http",
        ]
    )
    yield broken


def test_missing_exporter_package(
    procs: list[Proc], venv_without_exporter: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, _ = serve_nodebug(procs, venv_without_exporter, app_dir, otel_env(receiver.endpoint))
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    (line,) = problem_lines(proc.output())
    assert line.startswith("otel-autoguard: configuring the OpenTelemetry SDK failed (")
    assert "otlp_proto_http" in line and line.endswith("telemetry is off in this process")
    assert "Traceback" not in proc.output()
    assert receiver.data.requests == {}


ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"


def test_unreachable_collector(procs: list[Proc], venv: Venv, app_dir: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    proc, port = serve_nodebug(
        procs, venv, app_dir, otel_env(closed, OTEL_EXPORTER_OTLP_TIMEOUT="1")
    )
    proc.wait_until(lambda: problem_lines(proc.output()), "the export failure line", 30)
    for _ in range(N):
        get(port)
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait(60) == 0
    # One line when the first export fails, one at exit: nothing is retried then.
    lines = problem_lines(proc.output())
    assert len(lines) == 2, proc.output()
    assert lines[0].startswith(f"otel-autoguard: cannot export to {closed} (from {ENDPOINT}): ")
    assert lines[1] == (
        f"otel-autoguard: the collector refuses connections at {closed} ({ENDPOINT}: traces, "
        "metrics, logs): this process's spans wait in the spool for the next process to send; "
        "its metrics and logs are dropped at exit"
    )
    assert "Traceback" not in proc.output()
