"""Sending spooled OTLP requests to their collector again, as the exporter would."""

from __future__ import annotations

from collections.abc import Callable

from . import _spool
from ._settings._spool import Destination


def post(destination: Destination, data: bytes, timeout: float = 10.0) -> bool:
    """POST one spooled request; True if the collector took it (a 2xx answer)."""
    import ssl
    import urllib.error
    import urllib.request

    headers = {**dict(destination.headers), "Content-Type": "application/x-protobuf"}
    request = urllib.request.Request(destination.url, data=data, headers=headers, method="POST")
    context = None
    if destination.url.startswith("https:"):
        context = ssl.create_default_context(cafile=destination.certificate)
        if destination.client_certificate:
            context.load_cert_chain(destination.client_certificate, destination.client_key)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return 200 <= int(response.status) < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def send(
    spool: _spool.Spool,
    destination: Destination,
    go_on: Callable[[], bool] = lambda: True,
    timeout: Callable[[], float] = lambda: 10.0,
) -> tuple[int, int]:
    """Send the spool's batches, oldest first, while ``go_on()``; (sent, not taken).

    Each POST waits up to ``timeout()`` seconds: cutting one the collector is slowly
    taking would send it twice. The first batch the collector does not take ends the
    round: it is given back, as is every batch not tried.
    """
    sent = kept = 0
    for claimed, data in spool.claim():
        if not go_on() or not post(destination, data, timeout()):
            _spool.release(claimed)
            kept += 1
            break
        _spool.done(claimed)
        sent += 1
    return sent, kept
