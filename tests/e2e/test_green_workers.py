"""gunicorn's gevent and eventlet workers: the arbiter idle, each worker configured once."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.test_gunicorn import assert_exact, start, traffic
from tests.support.checks import HOLD, one_span_per_request
from tests.support.procs import Proc, Venv, free_port, otel_env, serve
from tests.support.receiver import Receiver

# gunicorn 27 ships no eventlet worker (gunicorn/workers/ has no geventlet.py; `-k eventlet`:
# "Entry point ('gunicorn.workers', 'eventlet') not found"); eventlet is deprecated upstream.
GREEN = [
    "gevent",
    pytest.param("eventlet", marks=pytest.mark.skip(reason="gunicorn 27 has no eventlet worker")),
]


def os_threads(pid: int) -> list[str]:
    """The OS threads of ``pid``, by name."""
    tasks = Path(f"/proc/{pid}/task")
    return sorted((task / "comm").read_text().strip() for task in tasks.iterdir())


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("worker", GREEN)
def test_green_workers_flush_at_stop_and_the_arbiter_stays_idle(
    procs: list[Proc],
    green_venv: Venv,
    app_dir: Path,
    receiver: Receiver,
    *,
    worker: str,
    stop: str,
) -> None:
    proc, port = start(procs, green_venv, app_dir, receiver, "-w", "2", "-k", worker, **HOLD)
    proc.wait_configured(2)
    answered = traffic(port)
    assert receiver.server_spans() == [], "exported before the stop"
    proc.signal(signal.Signals[stop], group=stop == "SIGINT")
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered)
    # Issue 14 item 4: no logging finaliser failing on gevent's torn-down lock module.
    assert "Exception ignored" not in proc.output()


@pytest.mark.parametrize("worker", ["gevent", "sync"])
def test_ctrl_c_with_a_slow_collector_keeps_the_exit_flush_whole(
    procs: list[Proc], green_venv: Venv, app_dir: Path, worker: str
) -> None:
    # Ctrl-C: the worker's SIGINT, then the arbiter's SIGQUIT; each runs gunicorn's
    # handle_quit, which ends in sys.exit (gevent's, in a greenlet, 0.1 s later). The
    # second one used to land while the exit flush waited on this collector, and cut it.
    slow = Receiver(delay=0.5).start()
    try:
        proc, port = start(procs, green_venv, app_dir, slow, "-w", "2", "-k", worker, **HOLD)
        proc.wait_configured(2)
        answered = traffic(port)
        proc.signal(signal.SIGINT, group=True)
        assert proc.wait() == 0
        assert_exact(proc, slow, answered)
        assert "Exception ignored" not in proc.output()
        # gevent's report of the second quit's SystemExit (thrown into the main greenlet).
        assert "failed with SystemExit" not in proc.output()
    finally:
        slow.stop()


@pytest.mark.parametrize("worker", GREEN)
def test_green_workers_export_while_serving_from_green_threads(
    procs: list[Proc], green_venv: Venv, app_dir: Path, receiver: Receiver, worker: str
) -> None:
    # The default 200 ms schedule delay: spans must arrive before any stop.
    proc, port = start(procs, green_venv, app_dir, receiver, "-w", "1", "-k", worker)
    (pid,) = proc.wait_configured(1)
    answered = traffic(port)
    spans = receiver.wait_for_server_spans(sum(answered.values()))
    assert Counter(s.pid for s in spans) == answered
    # Measured, not asserted: which OS threads the worker runs while it exports.
    print(f"{worker} worker {pid} OS threads while exporting: {os_threads(pid)}")
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered)


@pytest.mark.parametrize("worker", GREEN)
def test_green_max_requests_and_hup_lose_nothing(
    procs: list[Proc], green_venv: Venv, app_dir: Path, receiver: Receiver, worker: str
) -> None:
    args = ("-w", "1", "-k", worker, "--max-requests", "2")
    proc, port = start(procs, green_venv, app_dir, receiver, *args, **HOLD)
    answered: Counter[int] = Counter()
    for i in range(2):
        proc.wait_configured(i + 1)
        answered += traffic(port, 2)
    assert len(answered) == 2 and set(answered.values()) == {2}
    proc.wait_configured(3)  # the third worker, started after the second retired
    proc.signal(signal.SIGHUP, group=False)
    proc.wait_configured(4)
    receiver.wait_for_server_spans(4)
    proc.signal(signal.SIGTERM, group=False)
    assert proc.wait() == 0
    assert_exact(proc, receiver, answered)
    assert "Exception ignored" not in proc.output()


def test_gevent_pywsgi_is_configured_and_exact(
    procs: list[Proc], green_venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    port = free_port()
    env = otel_env(receiver.endpoint, PORT=str(port), **HOLD)
    cmd = [green_venv.python, "gevent_app.py"]
    proc = serve(procs, cmd, app_dir, env=env, port=port, name="pywsgi")
    (pid,) = proc.wait_configured(1)
    assert pid == proc.pid
    answered = traffic(port)
    assert set(answered) == {pid}
    proc.signal(signal.SIGTERM, group=False)
    proc.wait()
    one_span_per_request(receiver, answered)
    assert "Exception ignored" not in proc.output()
