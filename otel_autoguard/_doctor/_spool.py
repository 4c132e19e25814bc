"""The doctor's view of the hand-over spool, and its ``--spool-send`` / ``--spool-clear``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .. import _spool
from .._resend import send
from .._settings import Settings
from .._settings._spool import Destination, destination


def report(settings: Settings, environ: Mapping[str, str], action: str | None) -> dict[str, Any]:
    root = settings.spool.root
    done = None
    if action == "clear":
        done = f"deleted {_spool.clear(root)} spooled batches"
    elif action == "send":
        sent, kept = send_all(settings, environ)
        done = f"sent {sent} spooled batches; {kept} left in the spool"
    now = time.time()
    return {
        "enabled": settings.spool.enabled,
        "folder": root,
        "max_bytes": settings.spool.max_bytes,
        "spools": [
            {
                "service": s.service,
                "collector": s.url,
                "batches": s.batches,
                "bytes": s.size,
                "oldest_age_s": round(now - s.oldest, 1) if s.oldest is not None else None,
            }
            for s in _spool.summaries(root)
        ],
        "action": done,
    }


def send_all(settings: Settings, environ: Mapping[str, str]) -> tuple[int, int]:
    """Send every spool to its collector; the headers configured here go to the same URL."""
    here = destination(environ)
    sent = 0
    for summary in _spool.summaries(settings.spool.root):
        if summary.url == here.url:
            target = here
        else:
            target = Destination(summary.service, summary.url, (), None, None, None)
        spool = _spool.Spool(
            settings.spool.root, summary.service, summary.url, settings.spool.max_bytes
        )
        sent += send(spool, target)[0]
    left = sum(s.batches for s in _spool.summaries(settings.spool.root))
    return sent, left
