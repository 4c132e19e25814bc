"""Every way of starting the Werkzeug dev server: exactly one configured, serving process."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.procs import Proc, Venv, free_port, get, otel_env, wait_port
from tests.support.receiver import Receiver

# The core set: also run on CPython 3.14 and 3.15 (scripts/test-chroot).
pytestmark = pytest.mark.core

N = 4


def _cmd(venv: Venv, mode: str, port: int) -> tuple[list[str], dict[str, str]]:
    p = str(port)
    flask = venv.bin("flask")
    return {
        "app.py nodebug": ([venv.python, "app.py", "nodebug"], {}),
        "app.py use_reloader=False": ([venv.python, "app.py", "noreload"], {}),
        "app.py processes=3": ([venv.python, "app.py", "processes"], {}),
        "flask run": ([flask, "--app", "app", "run", "--port", p], {}),
        "flask run --no-reload": (
            [flask, "--app", "app", "run", "--debug", "--no-reload", "--port", p],
            {},
        ),
        "flask run --reload": ([flask, "--app", "app", "run", "--reload", "--port", p], {}),
        "FLASK_DEBUG=1 flask run": (
            [flask, "--app", "app", "run", "--port", p],
            {"FLASK_DEBUG": "1"},
        ),
        "python -m flask run --debug": (
            [venv.python, "-m", "flask", "--app", "app", "run", "--debug", "--port", p],
            {},
        ),
        "factory run --debug": (
            [flask, "--app", "factory:create_app()", "run", "--debug", "--port", p],
            {},
        ),
        "custom flask command": ([flask, "--app", "factory:create_app()", "serve-dev"], {}),
    }[mode]


RELOADING = {
    "flask run --reload",
    "FLASK_DEBUG=1 flask run",
    "python -m flask run --debug",
    "factory run --debug",
}


@pytest.mark.parametrize(
    "mode",
    [
        "app.py nodebug",
        "app.py use_reloader=False",
        "app.py processes=3",
        "flask run",
        "flask run --no-reload",
        "flask run --reload",
        "FLASK_DEBUG=1 flask run",
        "python -m flask run --debug",
        "factory run --debug",
        "custom flask command",
    ],
)
def test_exactly_one_configured_process(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, mode: str
) -> None:
    port = free_port()
    cmd, extra = _cmd(venv, mode, port)
    proc = Proc(
        cmd, app_dir, otel_env(receiver.endpoint, PORT=str(port), **extra), app_dir / "server.log"
    )
    procs.append(proc)
    wait_port(port, proc)
    (serving,) = proc.wait_configured(1)
    for _ in range(N):
        get(port)
    proc.signal(signal.SIGINT, group=True)
    assert proc.wait() == 0

    spans = receiver.wait_for_server_spans(N)
    assert len(spans) == N
    assert {s.pid for s in spans} == {serving}
    assert proc.configured_pids() == [serving]
    assert "tracer=TracerProvider" in proc.exit_line(serving)
    if mode in RELOADING:
        assert serving != proc.pid
        assert proc.exit_line(proc.pid).startswith("exit role=reloader-parent tracer=none ")
    else:
        # One process: it was deferred at start and configured when it started serving.
        assert serving == proc.pid
        assert any("role=defer" in text for pid, text in proc.debug() if pid == serving)
        assert any(
            "role=serve reason='Werkzeug server started serving in this process'" in text
            for pid, text in proc.debug()
        )
