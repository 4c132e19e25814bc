"""Collector faults under steady load: what each tool loses, and how long Ctrl-C takes.

Run from the repository root with the repository's venv (the receiver needs
opentelemetry-proto)::

    .venv/bin/python -m bench.faults [--seconds 16] [--reuse]

The same Flask app under the Werkzeug reloader, the same faults, for
``opentelemetry-instrument`` and otel-autoguard, in one run: three client threads send
requests for ``--seconds``; the receiver (tests/support/receiver.py) is stopped and
restarted on its port, hangs (reads, never answers), answers 503 or answers slowly on a
schedule; the app is reloaded (its source touched) on a schedule; then Ctrl-C. It counts
requests answered, distinct server spans received, duplicates, spans left in
otel-autoguard's spool (sent by the next process of the service: here ``otel-autoguard
doctor --spool-send`` once the collector answers), and the stop time. Figures only.
"""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.run import (
    AUTOGUARD,
    INSTRUMENT,
    Launcher,
    Setup,
    free_port,
    get_ok,
    group_members,
    otel_env,
    prepare,
    running_app,
)

# (seconds into the run, action) per fault; actions: stop, start, hang, 503, ok, reload.
SCENARIOS: dict[str, tuple[str, list[tuple[float, str]]]] = {
    "killed": (
        "collector killed at 6 s, a reload at 7 s, back at 9 s, a reload at 12 s",
        [(6, "stop"), (7, "reload"), (9, "start"), (12, "reload")],
    ),
    "503": ("collector answers 503 until 6 s, then recovers", [(0, "503"), (6, "ok")]),
    "slow": ("collector takes 2 s per export", [(0, "slow")]),
    "hang": ("collector hangs (accepts, never answers)", [(0, "hang")]),
    "late": ("collector down at start, up at 6 s", [(-1, "stop"), (6, "start")]),
}


class Collector:
    """The receiver, restartable on its port; spans counted across restarts."""

    def __init__(self) -> None:
        from tests.support.receiver import Receiver

        self._make = Receiver
        self.port = free_port()
        self.spans: list[Any] = []
        self.current: Any = None
        self.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.current is None:
            self.current = self._make(port=self.port).start()

    def stop(self) -> None:
        if self.current is not None:
            self.current.mode = "ok"
            self.spans += self.current.server_spans()
            self.current.stop()
            self.current = None

    def act(self, action: str) -> None:
        if action in ("stop", "start"):
            getattr(self, action)()
        elif self.current is not None:
            self.current.delay = 2.0 if action == "slow" else 0.0
            self.current.mode = action if action in ("hang", "503") else "ok"

    def server_spans(self) -> list[Any]:
        live = self.current.server_spans() if self.current is not None else []
        return [*self.spans, *live]


def _load(port: int, until: float, answered: list[int]) -> None:
    while time.monotonic() < until:
        if get_ok(port):
            answered.append(1)
        else:
            time.sleep(0.02)


def _stop_time(app: Any) -> float:
    started = time.monotonic()
    os.killpg(app.proc.pid, signal.SIGINT)
    while app.proc.poll() is None or group_members(app.proc.pid):
        if time.monotonic() - started > 60:
            break
        time.sleep(0.01)
    return time.monotonic() - started


def spooled_spans(folder: Path) -> int:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    count = 0
    for path in folder.rglob("*.otlp*"):
        request = ExportTraceServiceRequest.FromString(path.read_bytes())
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                count += sum(1 for s in ss.spans if s.kind == 2)  # SERVER
    return count


def run_one(setup: Setup, launcher: Launcher, scenario: str, seconds: float) -> dict[str, Any]:
    _label, schedule = SCENARIOS[scenario]
    collector = Collector()
    spool = Path(tempfile.mkdtemp(prefix="otel-autoguard-faults-"))
    env = {**otel_env(collector.endpoint), "OTEL_AUTOGUARD_SPOOL_DIR": str(spool)}
    launcher = Launcher(launcher.name, launcher.prefix, env)
    for at, action in schedule:
        if at < 0:
            collector.act(action)
    answered: list[int] = []
    with running_app(launcher, setup, "reloader") as app:
        while not get_ok(app.port):  # the one that succeeds has a span too
            time.sleep(0.05)
        answered.append(1)
        begun = time.monotonic()
        until = begun + seconds
        clients = [
            threading.Thread(target=_load, args=(app.port, until, answered)) for _ in range(3)
        ]
        for client in clients:
            client.start()
        for at, action in schedule:
            if at >= 0:
                time.sleep(max(0.0, begun + at - time.monotonic()))
                if action == "reload":
                    with open(setup.app, "a") as source:
                        source.write("\n# reload\n")
                else:
                    collector.act(action)
        for client in clients:
            client.join()
        stop = _stop_time(app)
    collector.act("ok")
    collector.start()
    time.sleep(3.0)  # stragglers
    spans = collector.server_spans()
    distinct = len({s.span_id for s in spans})
    in_spool = spooled_spans(spool)
    if launcher.name == AUTOGUARD and in_spool:
        _send_spooled(setup, env)
        time.sleep(1.0)
    spans = collector.server_spans()
    collector.stop()
    after = len({s.span_id for s in spans})
    return {
        "answered": len(answered),
        "received": distinct,
        "duplicates": len(spans) - after,
        "spooled": in_spool,
        "lost": len(answered) - after,
        "stop_s": round(stop, 2),
    }


def _send_spooled(setup: Setup, env: dict[str, str]) -> None:
    import subprocess

    doctor = setup.autoguard.bin("otel-autoguard")
    subprocess.run([doctor, "doctor", "--spool-send"], env=env, capture_output=True, check=False)


def main(argv: list[str] | None = None, *, report: Callable[[str], None] = print) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=16.0)
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--reuse", action="store_true", help="reuse the venvs of bench.run")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.gettempdir()) / "otel-autoguard-bench"
    import sys

    setup = prepare(workdir, sys.executable, args.reuse)
    tools = [
        Launcher(INSTRUMENT, (setup.bare.bin("opentelemetry-instrument"), setup.bare.python), {}),
        Launcher(AUTOGUARD, (setup.autoguard.python,), {}),
    ]
    load = os.getloadavg()
    report(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    rows = []
    for scenario in args.scenario or list(SCENARIOS):
        for tool in tools:
            result = run_one(setup, tool, scenario, args.seconds)
            rows.append((scenario, tool.name, result))
            report(f"  {scenario:<7} {tool.name:<25} {result}")
    report("")
    report("| fault | tool | lost / answered | duplicates | stop (s) | spooled, then sent |")
    report("|---|---|---|---|---|---|")
    for scenario, tool, r in rows:
        report(
            f"| {SCENARIOS[scenario][0]} | {tool} | {r['lost']} of {r['answered']} | "
            f"{r['duplicates']} | {r['stop_s']} | {r['spooled']} |"
        )


if __name__ == "__main__":
    main()
