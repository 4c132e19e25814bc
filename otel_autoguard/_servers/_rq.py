"""RQ: placeholder (see the next commit)."""

from __future__ import annotations

from .._settings import Settings


def install(settings: Settings) -> None:
    return
