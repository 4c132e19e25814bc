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
from typing import Any

from . import _boundary, _otel
from ._settings import Collector, Settings

PROBE_TIMEOUT = 0.5
"""Seconds for each connection attempt (a refusal from a live host takes microseconds)."""

_collectors: tuple[Collector, ...] = ()
_ours: dict[str, tuple[Any, tuple[Any, ...]]] = {}
_down: tuple[int, frozenset[str]] | None = None
"""Decided at most once per process: (pid, signals not flushed)."""


def watch(
    settings: Settings,
    collectors: tuple[Collector, ...],
    ours: dict[str, tuple[Any, tuple[Any, ...]]],
) -> None:
    """In a process just configured; call after the SDK set its exit handlers.

    ``ours``: per signal, the provider this configuration set and its processors
    then (see ``_otel.pipelines``). A signal whose provider is the application's,
    or to which a processor was added since, may export elsewhere: it is always
    flushed. ``atexit`` runs the last registered first, so ours runs before the
    SDK's handlers and can take back theirs for signals that would only retry.
    """
    global _collectors, _ours
    _collectors, _ours = collectors, ours
    if collectors:
        atexit.register(_at_exit, settings)


def down(settings: Settings, *, say: bool = True) -> frozenset[str]:
    """The signals not to flush: only ours, and their collector refuses connections now.

    Decided once per process. ``say``: report it (one line). A process forked per
    request stays quiet, or a line would follow every request.
    """
    global _down
    pid = os.getpid()
    if _down is None or _down[0] != pid:
        now = _otel.pipelines()
        candidates = [c for c in _collectors if _ours.get(c.signal, 0) == now[c.signal]]
        refused = _refusing({(c.host, c.port) for c in candidates})
        gone = [c for c in candidates if (c.host, c.port) in refused]
        _down = (pid, frozenset(c.signal for c in gone))
        if gone and say:
            _boundary.emit(settings, _message(gone))
    return _down[1]


def _at_exit(settings: Settings) -> None:
    with _boundary.guard(settings, "checking the collector at exit"):
        skip = down(settings)
        for signal, (provider, _processors) in _otel.pipelines().items():
            shutdown = getattr(provider, "shutdown", None)
            if signal in skip and shutdown is not None:
                atexit.unregister(shutdown)


def _refusing(addresses: set[tuple[str, int]]) -> set[tuple[str, int]]:
    # One after the other, in the exiting thread: Python 3.12+ starts no new thread
    # once the interpreter is shutting down, which is when atexit handlers run.
    return {address for address in sorted(addresses) if _refuses(address)}


def _refuses(address: tuple[str, int]) -> bool:
    # Imported here: this module loads in every process the hook activates (pip and
    # pytest included), and only an exiting serving process needs a socket.
    import socket

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
