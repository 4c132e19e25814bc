"""The demo: an unmodified Flask app under the Werkzeug reloader, traced by otel-autoguard.

Builds the wheel, installs it into a fresh venv as a user would, starts a local
OTLP/HTTP receiver (no collector needed), runs ``python app.py`` with
``debug=True``, sends requests, edits the app to trigger a reload, sends more,
stops with Ctrl-C and prints what every process did.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.procs import (  # noqa: E402
    Proc,
    build_wheel,
    free_port,
    get,
    make_venv,
    otel_env,
    wait_port,
)
from tests.support.receiver import Receiver  # noqa: E402

REQUESTS_PER_CHILD = 5


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="otel-autoguard-demo-"))
    try:
        return run_demo(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_demo(work: Path) -> int:
    print("building the wheel and installing it into a fresh venv ...", flush=True)
    wheel = build_wheel(work / "dist")
    venv = make_venv(work / "venv", sys.executable, wheel)
    app_dir = work / "app"
    shutil.copytree(ROOT / "examples" / "demo_app", app_dir)

    receiver = Receiver().start()
    port = free_port()
    env = otel_env(receiver.endpoint, PORT=str(port), OTEL_SERVICE_NAME="demo-shop")
    print(f"receiver on {receiver.endpoint}; running `python app.py` (debug=True) on :{port}")
    print(
        "environment: OTEL_SERVICE_NAME=demo-shop OTEL_EXPORTER_OTLP_ENDPOINT="
        f"{receiver.endpoint} OTEL_AUTOGUARD_DEBUG=true\n",
        flush=True,
    )
    proc = Proc([venv.python, "app.py"], app_dir, env, work / "app.log")
    try:
        wait_port(port, proc)
        proc.wait_configured(1)
        for i in range(REQUESTS_PER_CHILD):
            get(port, f"/orders/{i}")
        print("editing app.py to trigger a reload ...", flush=True)
        with open(app_dir / "app.py", "a") as f:
            f.write("\n# edited by the demo\n")
        proc.wait_configured(2)
        for i in range(REQUESTS_PER_CHILD):
            get(port, f"/orders/{100 + i}")
        print("stopping with Ctrl-C (SIGINT to the process group) ...\n", flush=True)
        proc.signal(signal.SIGINT, group=True)
        proc.wait(60)
    finally:
        proc.stop()
        receiver.stop()

    print("--- what the app printed (otel-autoguard lines start with 'otel-autoguard:') ---")
    print(proc.output())
    return report(proc, receiver)


def report(proc: Proc, receiver: Receiver) -> int:
    spans = receiver.server_spans()
    per_pid = Counter(s.pid for s in spans)
    roles: dict[int, str] = {}
    for pid, text in proc.debug():
        if text.startswith("exit "):
            roles[pid] = text
    print("--- per process ---")
    print(f"{'pid':>8}  {'server spans':>12}  state at exit")
    for pid in sorted(roles):
        print(f"{pid:>8}  {per_pid.get(pid, 0):>12}  {roles[pid]}")
    expected = 2 * REQUESTS_PER_CHILD
    ok = len(spans) == expected and len({s.span_id for s in spans}) == expected
    ok = ok and proc.pid not in per_pid and len(per_pid) == 2
    print(
        f"\n{expected} requests -> {len(spans)} server spans, "
        f"{len({s.span_id for s in spans})} distinct, from {len(per_pid)} serving children; "
        f"reloader parent {proc.pid} exported {per_pid.get(proc.pid, 0)}."
    )
    print("OK" if ok else "UNEXPECTED RESULT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
