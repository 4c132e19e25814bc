"""The Werkzeug reloader: the parent stays idle, every child is configured once."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import NO_SDK, NO_SDK_HELD
from tests.support.procs import Proc, Venv, base_env, free_port, get, otel_env, wait_port
from tests.support.receiver import Receiver

N = 5
TRACKER = "role=skip reason='multiprocessing helper process (resource tracker)' action=none"


def start(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, mode: str, **env: str
) -> tuple[Proc, int]:
    port = free_port()
    if mode == "app.py":
        cmd = [venv.python, "app.py"]
    elif mode == "flask-debug":
        cmd = [venv.bin("flask"), "--app", "app", "run", "--debug", "--port", str(port)]
    else:
        raise AssertionError(mode)
    proc = Proc(
        cmd, app_dir, otel_env(receiver.endpoint, PORT=str(port), **env), app_dir / f"{mode}.log"
    )
    procs.append(proc)
    wait_port(port, proc)
    return proc, port


def assert_parent_idle(proc: Proc, receiver: Receiver) -> None:
    parent = proc.pid
    reason = "entered Werkzeug's run_with_reloader as the parent"
    assert proc.decided(parent)[-1] == ("reloader-parent", reason, "idle")
    assert not any(action == "configured" for _, _, action in proc.decided(parent))
    assert proc.exited(parent) == {"role": "reloader-parent", **NO_SDK_HELD}
    assert proc.exit_line(parent) == f"exit role=reloader-parent {NO_SDK}"
    assert parent not in {s.pid for s in receiver.data.spans}
    assert {r.get("process.pid") for r in receiver.data.metric_resources} <= set(
        proc.configured_pids()
    )


def reload_once(proc: Proc, app_dir: Path, count_before: int) -> None:
    with open(app_dir / "app.py", "a") as f:
        f.write(f"\n# edit {count_before}\n")
    proc.wait_configured(count_before + 1)


@pytest.mark.parametrize("mode", ["app.py", "flask-debug"])
@pytest.mark.core
def test_requests_are_traced_by_the_child_only(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, mode: str
) -> None:
    proc, port = start(procs, venv, app_dir, receiver, mode)
    (child,) = proc.wait_configured(1)
    assert child != proc.pid
    for _ in range(N):
        assert f"pid {child}" in get(port)
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0

    spans = receiver.wait_for_server_spans(N)
    assert len(spans) == N
    assert {s.pid for s in spans} == {child}
    assert len({s.span_id for s in spans}) == N
    assert proc.configured_pids() == [child]
    assert_parent_idle(proc, receiver)
    assert "tracer=TracerProvider" in proc.exit_line(child)


def check_reloads(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, **env: str
) -> None:
    """N requests per child, K reloads: exact spans per child, parent idle."""
    k = 3
    # A long batch delay keeps every span queued until its child exits: a reload
    # that did not flush would lose them.
    proc, port = start(
        procs, venv, app_dir, receiver, "app.py", OTEL_BSP_SCHEDULE_DELAY="60000", **env
    )
    proc.wait_configured(1)
    for i in range(k + 1):
        if i:
            reload_once(proc, app_dir, i)
        child = proc.configured_pids()[-1]
        for _ in range(N):
            assert f"pid {child}" in get(port)
        assert len(receiver.server_spans()) == N * i, "exported before its child exited"
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0

    children = proc.configured_pids()
    assert len(children) == k + 1 and len(set(children)) == k + 1
    spans = receiver.wait_for_server_spans(N * (k + 1))
    assert len(spans) == N * (k + 1)
    assert len({s.span_id for s in spans}) == len(spans), "duplicate spans"
    assert Counter(s.pid for s in spans) == dict.fromkeys(children, N)
    # Each child carries its own identity: one service.instance.id per pid.
    assert {s.instance: s.pid for s in spans}.__len__() == k + 1
    assert len({(s.instance, s.pid) for s in spans}) == k + 1
    assert_parent_idle(proc, receiver)


@pytest.mark.core
def test_reloads_lose_and_duplicate_nothing(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    check_reloads(procs, venv, app_dir, receiver)


@pytest.mark.parametrize("version", ["3.9", "3.13"])
def test_reloader_on_other_pythons(
    procs: list[Proc], venvs: dict[str, Venv], app_dir: Path, receiver: Receiver, version: str
) -> None:
    venv = venvs[version]
    proc, port = start(procs, venv, app_dir, receiver, "app.py")
    (child,) = proc.wait_configured(1)
    for _ in range(N):
        get(port)
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    spans = receiver.wait_for_server_spans(N)
    assert len(spans) == N and {s.pid for s in spans} == {child}
    assert_parent_idle(proc, receiver)
    procs.clear()
    receiver.data.spans.clear()
    receiver.data.metric_resources.clear()
    check_reloads(procs, venv, app_dir, receiver)


@pytest.mark.parametrize(
    ("sig", "group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["sigint-group", "sigterm-parent"],
)
@pytest.mark.core
def test_stop_loses_nothing_with_a_slow_collector(
    procs: list[Proc], venv: Venv, app_dir: Path, sig: int, group: bool
) -> None:
    receiver = Receiver(delay=1.0).start()
    try:
        # A long batch delay: every span is still queued in the child at the stop.
        proc, port = start(
            procs, venv, app_dir, receiver, "app.py", OTEL_BSP_SCHEDULE_DELAY="60000"
        )
        (child,) = proc.wait_configured(1)
        for _ in range(N):
            get(port)
        assert receiver.server_spans() == []
        proc.signal(sig, group)
        assert proc.wait() == 0
        spans = receiver.server_spans()
        assert len(spans) == N and {s.pid for s in spans} == {child}
        assert "killed" not in proc.output()
    finally:
        receiver.stop()


@pytest.mark.core
def test_processes_the_child_starts_are_not_servers(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, venv, app_dir, receiver, "app.py")
    (child,) = proc.wait_configured(1)
    helper = int(get(port, "/subprocess").split()[-1])
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    # The helper inherited WERKZEUG_RUN_MAIN=true, but its parent is the child.
    helper_lines = [text for pid, text in proc.debug() if pid == helper]
    assert helper_lines[0].startswith("role=defer reason='-c: role unknown at start")
    assert helper_lines[-1].startswith(f"exit role=defer {NO_SDK}")
    assert proc.configured_pids() == [child]


@pytest.mark.core
def test_a_repeated_ctrl_c_does_not_cut_the_apps_own_shutdown(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, venv, app_dir, receiver, "app.py", APP_CLEANUP_SECONDS="1")
    (child,) = proc.wait_configured(1)
    get(port)
    # The terminal sends SIGINT to the group; the parent passes it on once more.
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    assert f"cleanup done in pid {child}" in proc.output()
    assert f"cleanup done in pid {proc.pid}" in proc.output()
    assert "KeyboardInterrupt" not in proc.output()
    assert len(receiver.wait_for_server_spans(1)) == 1


@pytest.mark.core
def test_spans_are_flushed_first_when_the_stop_budget_is_short(
    procs: list[Proc], venv: Venv, app_dir: Path
) -> None:
    # 4 s per export, 6 s to stop: room for the spans, not for every signal. A collector
    # that has not answered yet gets the hand-over budget (1 s by default, then the spans
    # go to the spool: test_handover.py); here 5 s.
    receiver = Receiver(delay=4.0).start()
    try:
        proc, port = start(
            procs, venv, app_dir, receiver, "app.py",
            OTEL_BSP_SCHEDULE_DELAY="60000", OTEL_METRIC_EXPORT_INTERVAL="60000",
            OTEL_AUTOGUARD_STOP_TIMEOUT="6", OTEL_AUTOGUARD_HANDOVER_TIMEOUT="5",
        )  # fmt: skip
        (child,) = proc.wait_configured(1)
        for _ in range(N):
            get(port)
        proc.signal(signal.SIGTERM, group=False)
        assert proc.wait() == 0
        spans = receiver.server_spans()
        assert len(spans) == N and {s.pid for s in spans} == {child}
    finally:
        receiver.stop()


@pytest.mark.parametrize("dictconfig", [False, True], ids=["plain", "dictconfig"])
@pytest.mark.core
def test_werkzeug_request_log_stays_on_the_console_with_log_export(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, dictconfig: bool
) -> None:
    extra = {"APP_DICTCONFIG": "1"} if dictconfig else {}
    proc, port = start(
        procs, venv, app_dir, receiver, "app.py",
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true", **extra,
    )  # fmt: skip
    proc.wait_configured(1)
    for _ in range(N):
        get(port)
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    # Once each: on the console, as without otel-autoguard, and exported.
    assert proc.output().count('"GET / HTTP/1.1" 200') == N
    assert len(receiver.wait_for_server_spans(N)) == N
    assert receiver.data.log_records >= N


def test_the_debugger_pin_is_never_exported(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    pin = "314-159-265"
    proc, port = start(
        procs, venv, app_dir, receiver, "app.py",
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="true", WERKZEUG_DEBUG_PIN=pin,
    )  # fmt: skip
    proc.wait_configured(1)
    for _ in range(N):
        get(port)
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    # On the console, as without otel-autoguard; the other log records are exported.
    assert f"Debugger PIN: {pin}" in proc.output()
    assert len(receiver.wait_for_server_spans(N)) == N
    assert receiver.data.log_records >= N
    assert receiver.data.bodies
    assert not [body for body in receiver.data.bodies if pin.encode() in body]


@pytest.mark.core
def test_otel_variables_from_a_dotenv_file(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    # Flask loads .env in the reloader parent after interpreter start: the parent
    # starts without OTEL_* (inert), its child starts with them.
    (app_dir / ".env").write_text(
        f"OTEL_SERVICE_NAME=dotenv-app\nOTEL_EXPORTER_OTLP_ENDPOINT={receiver.endpoint}\n"
        "OTEL_BSP_SCHEDULE_DELAY=200\nOTEL_AUTOGUARD_DEBUG=true\n"
    )
    port = free_port()
    cmd = [venv.bin("flask"), "--app", "app", "run", "--debug", "--port", str(port)]
    proc = Proc(cmd, app_dir, base_env(), app_dir / "dotenv.log")
    procs.append(proc)
    wait_port(port, proc)
    (child,) = proc.wait_configured(1)
    for _ in range(N):
        get(port)
    spans = receiver.wait_for_server_spans(N)
    proc.signal(signal.SIGINT, group=True)
    proc.wait()
    assert len(spans) == N and {s.pid for s in spans} == {child}
    # The parent started inert. From 3.14 (forkserver by default) Werkzeug's debugger
    # (its multiprocessing.Value) starts resource trackers, in the parent and the child;
    # they inherit the variables from .env and are skipped.
    others = {pid for pid, _ in proc.debug()} - {child}
    for pid, text in proc.debug():
        if pid in others:
            assert text in (TRACKER, f"exit role=skip {NO_SDK}"), proc.output()
    assert child in {pid for pid, _ in proc.debug()}
    assert any("role=serve reason='Werkzeug server started serving" in t for _, t in proc.debug())
