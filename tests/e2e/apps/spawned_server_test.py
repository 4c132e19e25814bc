# Run as `python -m pytest spawned_server_test.py`: a test that spawns a real uvicorn
# server with multiprocessing (the spawn start method) must not configure the SDK there.
import multiprocessing
import os
import socket
import time
import urllib.request

import uvicorn


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_spawned_live_server_is_not_traced():
    port = free_port()
    ctx = multiprocessing.get_context("spawn")
    server = ctx.Process(
        target=uvicorn.run, args=("asgi_app:app",), kwargs={"port": port, "log_level": "error"}
    )
    server.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    assert r.status == 200
                    print("answered by", r.read().decode().strip(), "test pid", os.getpid())
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        server.terminate()
        server.join(30)
