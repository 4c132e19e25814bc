"""A real Redis (Debian's ``redis-server``) on a free loopback port, for the task-queue tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.support.procs import free_port


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError("redis-server is missing (scripts/test installs it)")
        self.port = free_port()
        self.log = workdir / "redis.log"
        self._out = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        # No snapshots, no append-only file: nothing outlives the test run.
        cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(workdir)]
        cmd += ["--save", "", "--appendonly", "no"]
        self._proc = subprocess.Popen(
            cmd,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while self.command("PING") != b"+PONG\r\n":
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *words: str) -> bytes:
        """One command in Redis's protocol; the raw reply (empty when not reachable)."""
        request = f"*{len(words)}\r\n" + "".join(f"${len(w)}\r\n{w}\r\n" for w in words)
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                s.sendall(request.encode())
                return s.recv(65536)
        except OSError:
            return b""

    def flush(self) -> None:
        assert self.command("FLUSHALL") == b"+OK\r\n"

    def stop(self) -> None:
        self._proc.kill()
        self._proc.wait(10)
        self._out.close()
