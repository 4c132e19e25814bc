"""At exit, do not retry exports to a collector that refuses connections.

With nothing listening at the OTLP endpoint (a laptop with no collector running is
the everyday case), the exporters retry each export until their timeout
(``OTEL_EXPORTER_OTLP_TIMEOUT``, 10 s by default), and a process's exit flush pays
that for spans, then metrics, then logs: a Werkzeug reload took 14 s instead of
1 s, and Ctrl-C 16 s. A refused connection is a definite answer, so the signals
whose collector refuses are not flushed at exit, and the process says so in one
line. Anything else (a connection that times out, a name that does not resolve)
keeps the normal flush. The process decides once (see ``_process``).
"""

from __future__ import annotations

from collections.abc import Iterable

from ._settings._collectors import Collector

PROBE_TIMEOUT = 0.5
"""Seconds for each connection attempt (a refusal from a live host takes microseconds)."""


def refusing(candidates: Iterable[Collector]) -> list[Collector]:
    """The collectors among ``candidates`` that refuse connections now."""
    candidates = list(candidates)
    # One after the other, in the calling thread: Python 3.12+ starts no new thread
    # once the interpreter is shutting down, which is when exit handlers run.
    refused = {a for a in sorted({(c.host, c.port) for c in candidates}) if _refuses(a)}
    return [c for c in candidates if (c.host, c.port) in refused]


def _refuses(address: tuple[str, int]) -> bool:
    # Imported here: only an exiting serving process needs a socket.
    import socket

    try:
        with socket.create_connection(address, timeout=PROBE_TIMEOUT):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False  # no definite answer (a timeout, a name not resolved): flush as usual


def message(gone: list[Collector], *, spooled: bool = False) -> str:
    """One line for the collectors that refuse connections (``spooled``: spans are kept)."""
    by_endpoint: dict[tuple[str, str], list[str]] = {}
    for collector in gone:
        by_endpoint.setdefault((collector.endpoint, collector.source), []).append(collector.signal)
    where = "; ".join(
        f"{endpoint} ({source}: {', '.join(signals)})"
        for (endpoint, source), signals in by_endpoint.items()
    )
    dropped = [c.signal for c in gone if not (spooled and c.signal == "traces")]
    if len(dropped) == len(gone):
        return (
            f"the collector refuses connections at {where}: what this process still holds "
            "for it is dropped at exit instead of retried until the exporter's timeout"
        )
    rest = f"; its {' and '.join(dropped)} are dropped at exit" if dropped else ""
    return (
        f"the collector refuses connections at {where}: this process's spans wait in the "
        f"spool for the next process to send{rest}"
    )
