"""At exit, do not retry exports to a collector that refuses connections.

With nothing listening at the OTLP endpoint (a laptop with no collector running is
the everyday case), the exporters retry each export until their timeout
(``OTEL_EXPORTER_OTLP_TIMEOUT``, 10 s by default), and a process's exit flush pays
that for spans, then metrics, then logs: a Werkzeug reload took 14 s instead of
1 s, and Ctrl-C 16 s. A refused connection is a definite answer, so the signals
whose collector refuses are not flushed at exit, and the process says so in one
line. Anything else (a connection that times out, a name that does not resolve)
keeps the normal flush.
"""

from __future__ import annotations

import atexit
import os
import socket

from . import _boundary, _otel
from ._settings import Collector, Settings

PROBE_TIMEOUT = 0.5
"""Seconds for each connection attempt (a refusal from a live host takes microseconds)."""

_collectors: tuple[Collector, ...] = ()
_down: tuple[int, frozenset[str]] | None = None
"""Probed at most once per process: (pid, signals whose collector refused)."""


def watch(settings: Settings, collectors: tuple[Collector, ...]) -> None:
    """In a process just configured; call after the SDK set its exit handlers.

    ``atexit`` runs the last registered first, so ours runs before the SDK's and
    can take back theirs for signals that would only retry.
    """
    global _collectors
    _collectors = collectors
    if collectors:
        atexit.register(_at_exit, settings)


def down(settings: Settings, *, say: bool = True) -> frozenset[str]:
    """The signals whose collector refuses connections now; probed once per process.

    ``say``: report it (one line). A process forked per request stays quiet, or a
    line would follow every request.
    """
    global _down
    pid = os.getpid()
    if _down is None or _down[0] != pid:
        refused = _refusing({(c.host, c.port) for c in _collectors})
        gone = [c for c in _collectors if (c.host, c.port) in refused]
        _down = (pid, frozenset(c.signal for c in gone))
        if gone and say:
            _boundary.emit(settings, _message(gone))
    return _down[1]


def _at_exit(settings: Settings) -> None:
    with _boundary.guard(settings, "checking the collector at exit"):
        skip = down(settings)
        for signal, provider in _otel.providers().items():
            shutdown = getattr(provider, "shutdown", None)
            if signal in skip and shutdown is not None:
                atexit.unregister(shutdown)


def _refusing(addresses: set[tuple[str, int]]) -> set[tuple[str, int]]:
    # One after the other, in the exiting thread: Python 3.12+ starts no new thread
    # once the interpreter is shutting down, which is when atexit handlers run.
    return {address for address in sorted(addresses) if _refuses(address)}


def _refuses(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=PROBE_TIMEOUT):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False  # no definite answer (a timeout, a name not resolved): flush as usual


def _message(gone: list[Collector]) -> str:
    by_endpoint: dict[tuple[str, str], list[str]] = {}
    for collector in gone:
        by_endpoint.setdefault((collector.endpoint, collector.source), []).append(collector.signal)
    where = "; ".join(
        f"{endpoint} ({source}: {', '.join(signals)})"
        for (endpoint, source), signals in by_endpoint.items()
    )
    return (
        f"the collector refuses connections at {where}: what this process still holds "
        "for it is dropped at exit instead of retried until the exporter's timeout"
    )
