"""Which instrumentors are installed, and which module each one waits for.

opentelemetry-instrument applies every ``opentelemetry_instrumentor`` entry point
at start. That imports each instrumented library whether the program uses it or
not, plus wrapt (which imports asyncio and concurrent.futures) and packaging, in
every process: before gevent's or eventlet's monkey-patching can run, and in
processes that never serve. Here an instrumentor is applied when its library is
first imported; one whose target is the standard library (or unknown) is applied
when the process starts to serve.

Entry points are read from the ``*.dist-info/entry_points.txt`` files on
``sys.path`` directly: ``importlib.metadata`` imports email, zipfile and (on
3.11) socket, which this must not import at interpreter start.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import NamedTuple

INSTRUMENTOR_GROUP = "opentelemetry_instrumentor"

# Entry-point name -> the module whose import it waits for, where the two differ.
_MODULES = {
    "aio-pika": "aio_pika",
    "aiohttp-client": "aiohttp",
    "aiohttp-server": "aiohttp",
    "boto3": "boto3",
    # Not `celery`: the `celery` command imports it before its gevent or eventlet
    # monkey-patching (`celery.__main__.main`), and the instrumentor imports Celery's
    # worker, kombu and threading; kombu then polls with the unpatched select.poll and
    # blocks the whole worker (measured: 60-300 s per task with `--pool gevent`). A
    # program that sends or runs tasks imports `celery.app` (Celery, shared_task, Task).
    "celery": "celery.app",
    "google-genai": "google.genai",
    "grpc_client": "grpc",
    "grpc_server": "grpc",
    "grpc_aio_client": "grpc",
    "grpc_aio_server": "grpc",
    "httpx2": "httpx",
    "mysql": "mysql.connector",
    "mysqlclient": "MySQLdb",
    "openai_agents": "agents",
    "tortoiseorm": "tortoise",
}
# Applied when the process serves: they patch the standard library (imported by
# the interpreter, the server and gevent itself long before the application) or
# watch the process rather than a library.
SERVING = frozenset(
    {
        "asyncio",
        "aws-lambda",
        "exceptions",
        "logging",
        "sqlite3",
        "system_metrics",
        "threading",
        "urllib",
    }
)
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ()))


class Found(NamedTuple):
    """One ``opentelemetry_instrumentor`` entry point and the distribution declaring it."""

    name: str
    value: str
    dist_path: str
    """Its ``*.dist-info`` (or ``*.egg-info``) folder."""


def target(name: str, known: Iterable[str] = ()) -> str | None:
    """The module ``name`` waits for; None: applied when the process serves.

    ``known`` holds the importable top-level names, for an entry point this module
    has no rule for (a vendor's): without a module of that name it waits for serving.
    """
    if name in SERVING:
        return None
    module = _MODULES.get(name, name)
    if module.split(".")[0] in _STDLIB:
        return None
    if name in _MODULES or module in known:
        return module
    return None


class Installed(NamedTuple):
    instrumentors: list[Found]
    names: frozenset[str]
    """Top-level names importable from ``sys.path`` (packages and modules)."""


def installed(paths: Iterable[str] | None = None) -> Installed:
    """Every instrumentor entry point, the first distribution of each name winning
    (as ``importlib.metadata`` does), in ``sys.path`` order; one listing per folder."""
    found: list[Found] = []
    names: set[str] = set()
    seen: set[str] = set()
    for folder in sys.path if paths is None else paths:
        try:
            entries = sorted(os.listdir(folder or "."))
        except OSError:  # not a folder (a zip archive, a missing entry): nothing read here
            continue
        for entry in entries:
            names.add(entry.split(".", 1)[0])
            if not entry.endswith((".dist-info", ".egg-info")):
                continue
            key = _normalized(entry)
            if key in seen:
                continue
            seen.add(key)
            path = os.path.join(folder or ".", entry)
            for name, value in _entry_points(path, INSTRUMENTOR_GROUP):
                found.append(Found(name, value, path))
    return Installed(found, frozenset(names))


def _normalized(dist: str) -> str:
    name = dist.rsplit(".", 1)[0].split("-", 1)[0]
    return name.lower().replace("-", "_").replace(".", "_")


def _entry_points(dist_path: str, group: str) -> list[tuple[str, str]]:
    try:
        with open(os.path.join(dist_path, "entry_points.txt"), encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return []
    found: list[tuple[str, str]] = []
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line:
            name, value = line.split("=", 1)
            found.append((name.strip(), value.strip()))
    return found
