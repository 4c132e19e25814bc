"""Django: runserver's autoreloader parent stays idle, its child is configured once."""

from __future__ import annotations

import shutil
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import HOLD, NO_SDK, one_span_per_request
from tests.support.procs import Proc, Venv, free_port, get, otel_env, pid_of, run, serve, wait_port
from tests.support.receiver import Receiver

N = 5
PARENT = 'role=reloader-parent reason="entered Django\'s autoreloader as the parent" action=idle'


def start(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, *args: str
) -> tuple[Proc, int]:
    port = free_port()
    cmd = [venv.python, "manage.py", "runserver", f"127.0.0.1:{port}", *args]
    env = otel_env(receiver.endpoint, **HOLD)
    proc = serve(procs, cmd, app_dir / "djangoproj", env=env, port=port, name="runserver")
    return proc, port


def assert_exact(receiver: Receiver, answered: Counter[int]) -> None:
    one_span_per_request(receiver, answered)


def assert_parent_idle(proc: Proc, receiver: Receiver) -> None:
    assert (proc.pid, PARENT) in proc.debug()
    assert proc.exit_line(proc.pid) == f"exit role=reloader-parent {NO_SDK}"
    assert proc.pid not in {s.pid for s in receiver.data.spans}
    assert proc.pid not in {r.get("process.pid") for r in receiver.data.metric_resources}


def test_runserver_reloads_lose_and_duplicate_nothing(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, servers_venv, app_dir, receiver)
    (first,) = proc.wait_configured(1)
    answered = Counter(pid_of(get(port)) for _ in range(N))
    proc.edit_until_reloaded(app_dir / "djangoproj" / "site_" / "urls.py", 2)
    wait_port(port, proc)
    second = proc.configured_pids()[1]
    assert len(receiver.wait_for_server_spans(N)) == N  # flushed by the reload
    later = Counter(pid_of(get(port)) for _ in range(N))
    assert set(answered) == {first} and set(later) == {second}
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0
    assert_exact(receiver, answered + later)
    assert proc.configured_pids() == [first, second]
    assert (first, "role=serve reason='Django autoreloader child (RUN_MAIN=true)'") in [
        (pid, text.split(" action=")[0]) for pid, text in proc.debug()
    ]
    assert_parent_idle(proc, receiver)


def test_runserver_sigterm_to_the_parent_loses_nothing(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, servers_venv, app_dir, receiver)
    proc.wait_configured(1)
    answered = Counter(pid_of(get(port)) for _ in range(N))
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    assert_exact(receiver, answered)
    assert_parent_idle(proc, receiver)


def test_runserver_noreload_flushes_on_sigterm(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    proc, port = start(procs, servers_venv, app_dir, receiver, "--noreload")
    assert proc.wait_configured(1) == [proc.pid]
    answered = Counter(pid_of(get(port)) for _ in range(N))
    assert answered == {proc.pid: N}
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == -signal.SIGTERM
    assert_exact(receiver, answered)


@pytest.mark.parametrize("server", ["gunicorn WSGI", "uvicorn ASGI"])
def test_django_under_other_servers_is_instrumented_after_setup(
    procs: list[Proc], servers_venv: Venv, app_dir: Path, receiver: Receiver, server: str
) -> None:
    port = free_port()
    if server == "gunicorn WSGI":
        cmd = [servers_venv.bin("gunicorn"), "-w", "1", "-b", f"127.0.0.1:{port}", "site_.wsgi"]
    else:
        cmd = [servers_venv.bin("uvicorn"), "--port", str(port), "site_.asgi:application"]
    env = otel_env(receiver.endpoint, **HOLD)
    proc = serve(procs, cmd, app_dir / "djangoproj", env=env, port=port, name="server")
    answered = Counter(pid_of(get(port)) for _ in range(N))
    proc.signal(signal.SIGTERM, group=False)
    # gunicorn exits 0; uvicorn re-raises SIGTERM once it has shut down (and flushed).
    assert proc.wait() == (0 if server == "gunicorn WSGI" else -signal.SIGTERM)
    assert_exact(receiver, answered)
    assert "instrument" not in "".join(
        line for line in proc.output().splitlines() if not line.startswith("otel-autoguard: pid=")
    ), proc.output()


@pytest.mark.parametrize("command", ["check", "test"])
def test_management_commands_that_never_serve_are_skipped(
    servers_venv: Venv, app_dir: Path, receiver: Receiver, command: str
) -> None:
    done = run(
        [servers_venv.python, "manage.py", command],
        cwd=app_dir / "djangoproj",
        env=otel_env(receiver.endpoint),
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("otel-autoguard:")]
    assert lines[0].endswith(
        f"role=skip reason='manage.py {command} does not serve requests' action=none"
    ), done.stderr
    assert lines[-1].endswith(f"exit role=skip {NO_SDK}")
    assert receiver.data.requests == {}


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["manage.py", "test", "test_live"], id="manage.py-test"),
        pytest.param(["-m", "django", "test", "test_live"], id="django-test"),
        pytest.param(["runtests.py"], id="runtests.py"),
        # Not a name known at start: the live server's first connection finds the runner.
        pytest.param(["live_check.py"], id="a-script-running-django-tests"),
    ],
)
def test_a_live_server_test_case_is_left_alone(
    servers_venv: Venv, app_dir: Path, receiver: Receiver, command: list[str]
) -> None:
    project = app_dir / "djangoproj"
    shutil.copy(project / "runtests.py", project / "live_check.py")
    env = otel_env(receiver.endpoint, DJANGO_SETTINGS_MODULE="site_.settings")
    done = run([servers_venv.python, *command], cwd=project, env=env)
    assert "Ran 1 test" in done.stderr and "\nOK" in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("otel-autoguard:")]
    assert not [line for line in lines if "action=configured" in line], done.stderr
    assert lines[-1].endswith(f"exit role=skip {NO_SDK}"), done.stderr
    if command == ["live_check.py"]:
        assert "but a Django LiveServerTestCase runs in this process" in done.stderr, done.stderr
    time.sleep(0.5)
    assert receiver.data.requests == {}
