"""A server in a ``multiprocessing.Process`` child, under every start method.

The child that serves is configured; the parent that started it stays idle, and so does
the forkserver (multiprocessing's default start method on Linux from 3.14), whose forks
decide their role for themselves instead of inheriting the forkserver's.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.checks import NO_SDK, one_span_per_request
from tests.support.procs import Proc, Venv, free_port, get, otel_env, pid_of, serve
from tests.support.receiver import Receiver

pytestmark = pytest.mark.core

N = 20
FORKSERVER = "reason='multiprocessing forkserver"


def exit_line_eventually(proc: Proc, pid: int, timeout: float = 15.0) -> str:
    """A helper's exit line, which it writes when it sees its parent gone (after ours)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [text for p, text in proc.debug() if p == pid and text.startswith("exit ")]
        if lines:
            assert len(lines) == 1, proc.output()
            return lines[0]
        time.sleep(0.05)
    raise AssertionError(f"no exit line from pid {pid}:\n{proc.output()}")


# Start method ("default": forkserver on Linux from 3.14, fork before) and server
# (Werkzeug has a hook; wsgiref only the accept() fallback).
CASES = [
    f"{method}-{server}"
    for method in ("fork", "spawn", "forkserver", "default")
    for server in ("werkzeug", "wsgiref")
]


@pytest.mark.parametrize("case", CASES)
def test_the_multiprocessing_child_that_serves_is_configured(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver, case: str
) -> None:
    method, server = case.split("-")
    port = free_port()
    proc = serve(
        procs,
        [venv.python, "mp_server.py", method, server],
        app_dir,
        env=otel_env(receiver.endpoint, PORT=str(port)),
        port=port,
        name=case,
    )
    said = re.search(r"^start method (\w+)$", proc.output(), re.MULTILINE)
    assert said, proc.output()
    started_with = said.group(1)
    if method != "default":
        assert started_with == method

    answered = Counter(pid_of(get(port)) for _ in range(N))
    (child,) = answered
    assert child != proc.pid
    assert proc.wait_configured(1) == [child]
    # The serving child flushes on SIGTERM, then dies of it; its parent then exits.
    os.kill(child, signal.SIGTERM)
    assert proc.wait() == 0
    assert f"server exited {-signal.SIGTERM}" in proc.output()

    one_span_per_request(receiver, answered)
    assert receiver.wait_for_server_spans(N) and len(receiver.server_spans()) == N
    assert proc.configured_pids() == [child]
    # The parent that started the server: instrumented at most, never an SDK.
    assert proc.exit_line(proc.pid) == f"exit role=defer {NO_SDK}"

    forkservers = {pid for pid, text in proc.debug() if FORKSERVER in text}
    if started_with == "forkserver":
        # It forked the child: its own role is supervisor, it holds no SDK.
        (forkserver,) = forkservers
        assert forkserver not in (proc.pid, child)
        assert exit_line_eventually(proc, forkserver) == f"exit role=supervisor {NO_SDK}"
    else:
        assert not forkservers
    # Nothing else (the resource tracker) was configured or exported.
    assert {s.pid for s in receiver.data.spans} == {child}
