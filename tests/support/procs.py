"""Start real processes (a built wheel in a fresh venv) and read what they say."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
APPS = ROOT / "tests" / "e2e" / "apps"

# Processes we start must take Ctrl-C as a terminal would deliver it, even when the
# test runner itself was started with SIGINT ignored (a background CI job).
_TRAMPOLINE = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)
_DEBUG = re.compile(r"^otel-autoguard: pid=(\d+) (.*)$")


@dataclass(frozen=True)
class Venv:
    path: Path

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def bin(self, name: str) -> str:
        return str(self.path / "bin" / name)


def run(cmd: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result  # type: ignore[no-any-return]


def build_wheel(out: Path, kind: str = "pth") -> Path:
    """One of the two wheels (hatch_build.py): ``pth``, tagged py39...py317, is what pip
    installs on every Python up to 3.17; ``all`` (py3, with the ``.start`` file too) is
    what 3.18+ will install."""
    env = {**os.environ, "OTEL_AUTOGUARD_WHEEL": kind}
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        env=env,
    )
    (wheel,) = out.glob("otel_autoguard-*.whl")
    return wheel


def make_venv(path: Path, python: str, wheel: Path, *extra: str) -> Venv:
    """A fresh venv with the wheel installed the way a user installs it."""
    run([python, "-m", "venv", str(path)])
    venv = Venv(path)
    run([venv.python, "-m", "pip", "install", "-q", str(wheel), *extra])
    return venv


SPOOL_ROOT = os.path.join(tempfile.gettempdir(), f"otel-autoguard-tests-{os.getpid()}")
"""Where the apps under test spool (the runner's own folder, not the user's cache)."""


def children(pid: int) -> set[int]:
    """The direct children of ``pid`` (of its main thread); none once it is gone."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return {int(p) for p in f.read().split()}
    except OSError:
        return set()


def new_children(
    proc: Proc, known: set[int], find: Callable[[], set[int]] | None = None
) -> set[int]:
    """Polled fast (a boot window lasts ~100 ms) until ``find()`` (default: the children of
    ``proc``) holds a pid not in ``known``; those new pids."""
    look = find or (lambda: children(proc.pid))
    deadline = time.monotonic() + 30
    while not (look() - known):
        assert time.monotonic() < deadline, proc.output()
        time.sleep(0.0005)
    return look() - known


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    """The runner's environment without anything OpenTelemetry or Python-path related."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "PYTHON", "WERKZEUG_", "FLASK_", "VIRTUAL_ENV"))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def otel_env(endpoint: str, **extra: str) -> dict[str, str]:
    settings = {
        "OTEL_SERVICE_NAME": "e2e-app",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_AUTOGUARD_DEBUG": "true",
        # A spool of its own: a later test's collector may get the same port.
        "OTEL_AUTOGUARD_SPOOL_DIR": os.path.join(SPOOL_ROOT, uuid.uuid4().hex),
    }
    settings.update(extra)
    return base_env(**settings)


class Proc:
    """A process group under test: output to a file, readable at any time."""

    def __init__(self, cmd: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> None:
        self.cmd = list(cmd)
        self.log = log
        env = dict(env)
        if env.get("OTEL_AUTOGUARD_DEBUG") == "true":
            # Every process of the group records its decisions as fields, too.
            env.setdefault("OTEL_AUTOGUARD_DECISION_LOG", str(log.with_suffix(".decisions.jsonl")))
        self.decision_log = (
            Path(env["OTEL_AUTOGUARD_DECISION_LOG"])
            if ("OTEL_AUTOGUARD_DECISION_LOG" in env)
            else None
        )
        if self.decision_log is not None:
            # A new process group in the same folder starts a new record, as its log does.
            self.decision_log.unlink(missing_ok=True)
        self._out = open(log, "wb")  # noqa: SIM115 - closed in wait()
        self.popen = subprocess.Popen(
            [sys.executable, "-S", "-E", "-c", _TRAMPOLINE, *cmd],
            cwd=cwd,
            env=dict(env),
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def debug(self) -> list[tuple[int, str]]:
        """The ``OTEL_AUTOGUARD_DEBUG`` lines: (pid, rest of line)."""
        found = []
        for line in self.output().splitlines():
            m = _DEBUG.match(line)
            if m:
                found.append((int(m.group(1)), m.group(2)))
        return found

    def records(self, kind: str = "decision") -> list[dict[str, Any]]:
        """What each process recorded (``OTEL_AUTOGUARD_DECISION_LOG``), in order."""
        assert self.decision_log is not None, "this process group records no decisions"
        if not self.decision_log.exists():
            return []
        lines = self.decision_log.read_text().splitlines()
        return [r for r in map(json.loads, lines) if r["kind"] == kind]

    def decided(self, pid: int) -> list[tuple[str, str, str]]:
        """(role, reason, action) of each decision process ``pid`` took."""
        return [(r["role"], r["reason"], r["action"]) for r in self.records() if r["pid"] == pid]

    def exited(self, pid: int) -> dict[str, Any]:
        """What process ``pid`` held when it ended: role, providers, threads."""
        found = [r for r in self.records("exit") if r["pid"] == pid]
        assert len(found) == 1, f"expected one exit record for pid {pid}:\n{self.output()}"
        return {key: found[0][key] for key in ("role", "providers", "threads")}

    def configured_pids(self) -> list[int]:
        if self.decision_log is not None:
            return [r["pid"] for r in self.records() if r["action"] == "configured"]
        return [pid for pid, text in self.debug() if "action=configured" in text]

    def exit_line(self, pid: int) -> str:
        lines = [text for p, text in self.debug() if p == pid and text.startswith("exit ")]
        assert len(lines) == 1, f"expected one exit line for pid {pid}:\n{self.output()}"
        return lines[0]

    def wait_until(self, predicate: object, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():  # type: ignore[operator]
                return
            if self.popen.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; output:\n{self.output()}")

    def wait_configured(self, count: int, timeout: float = 30.0) -> list[int]:
        self.wait_until(
            lambda: len(self.configured_pids()) >= count, f"{count} configured", timeout
        )
        return self.configured_pids()

    def edit_until_reloaded(self, source: Path, configured: int) -> list[int]:
        """Append to `source` until `configured` processes have been configured.

        Polling reloaders (gunicorn's, Django's StatReloader) take each file's mtime
        as the baseline on their first scan, which runs in a thread after serving has
        begun: an edit that lands before that scan is never seen as a change. A later
        edit is, and it lands before the new process's reloader exists, so one reload
        results either way.
        """
        for attempt in range(10):
            with open(source, "a") as f:
                f.write(f"\n# edit {attempt}\n")
            try:
                return self.wait_configured(configured, timeout=5)
            except AssertionError:
                if self.popen.poll() is not None:
                    raise
        raise AssertionError(f"no reload after 10 edits of {source}:\n{self.output()}")

    def signal(self, sig: int, group: bool) -> None:
        if group:
            os.killpg(self.pid, sig)
        else:
            os.kill(self.pid, sig)

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.popen.wait(timeout)
        finally:
            self._out.close()

    def stop(self) -> None:
        """Make sure nothing outlives the test."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
        self.wait(10)
        # Reap the rest of the group (a reloader child may outlive its parent).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)


def get(port: int, path: str = "/") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        assert response.status == 200
        return str(response.read().decode())


def wait_port(port: int, proc: Proc, timeout: float = 30.0) -> None:
    def accepting() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    proc.wait_until(accepting, f"port {port}", timeout)


def serve(
    procs: list[Proc],
    cmd: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str],
    port: int,
    name: str = "server",
) -> Proc:
    """Start a server's process group and wait until it accepts connections."""
    proc = Proc(cmd, cwd, env, cwd / f"{name}.log")
    procs.append(proc)
    wait_port(port, proc)
    return proc


def pid_of(body: str) -> int:
    """The pid in a test app's ``hello from pid N`` answer."""
    m = re.search(r"pid (\d+)", body)
    assert m, body
    return int(m.group(1))
