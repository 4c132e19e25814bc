"""A bounded on-disk spool of OTLP export requests that a leaving process could not send.

One folder per service and collector under the spool root, one file per batch: the
serialized ``ExportTraceServiceRequest``, byte for byte what the exporter would POST,
so each span keeps its own resource (its pid and instance id). Files are written
under a temporary name and renamed (a reader never sees half a batch), mode 0600 in
0700 folders. A sender claims a file by renaming it first (only one process can), and
deletes it only once the collector accepted it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import NamedTuple

SUFFIX = ".otlp"
_CLAIMED = ".sending"
_ABOUT = "collector.json"
_STALE_CLAIM_S = 300.0
"""A claim older than this, or whose process is gone, was left by one that died sending."""


class Summary(NamedTuple):
    folder: str
    service: str
    url: str
    batches: int
    size: int
    oldest: float | None
    """The oldest batch's modification time (seconds since the epoch)."""


def folder_name(service: str, url: str) -> str:
    import hashlib  # the spool is read once configured, never at interpreter start

    digest = hashlib.sha256(f"{service}\n{url}".encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in service)[:40]
    return f"{safe}-{digest}"


class Spool:
    def __init__(self, root: str, service: str, url: str, max_bytes: int) -> None:
        self.folder = os.path.join(root, folder_name(service, url))
        self.service, self.url, self.max_bytes = service, url, max_bytes
        self._seq = 0

    def put(self, data: bytes) -> str | None:
        """Keep one request; else why not (full, or the folder cannot be written)."""
        try:
            if self.size() + len(data) > self.max_bytes:
                return f"it is full ({self.max_bytes >> 20} MiB, OTEL_AUTOGUARD_SPOOL_MAX_MB)"
            self._ensure_folder()
            self._seq += 1
            name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq}{SUFFIX}"
            temporary = os.path.join(self.folder, f".{name}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.rename(temporary, os.path.join(self.folder, name))
        except OSError as exc:
            return f"{type(exc).__name__}: {exc.strerror or exc}"
        return None

    def _ensure_folder(self) -> None:
        import json

        if not os.path.isdir(self.folder):
            os.makedirs(self.folder, mode=0o700, exist_ok=True)
            about = {"service": self.service, "url": self.url}
            fd = os.open(os.path.join(self.folder, _ABOUT), os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as file:
                json.dump(about, file)

    def size(self) -> int:
        return sum(size for _path, size, _mtime in _entries(self.folder, claimed=True))

    def claim(self) -> Iterator[tuple[str, bytes]]:
        """Each batch no other process is sending, oldest first, claimed: (claim, data).

        The caller calls :func:`done` or :func:`release` for each claim it is given.
        """
        now = time.time()
        for path, _size, mtime in _entries(self.folder, claimed=True):
            if path.endswith(_CLAIMED) and now - mtime < _STALE_CLAIM_S and _alive(path):
                continue
            claimed = f"{_original(path)}.{os.getpid()}{_CLAIMED}"
            try:
                os.rename(path, claimed)
                os.utime(claimed)
                with open(claimed, "rb") as file:
                    data = file.read()
            except FileNotFoundError:
                continue  # another process claimed it first
            yield claimed, data


def _alive(claimed: str) -> bool:
    """Whether the process that claimed a batch still runs (its pid is in the name)."""
    try:
        os.kill(int(claimed[: -len(_CLAIMED)].rsplit(".", 1)[1]), 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # another user's process
    return True


def done(claimed: str) -> None:
    os.unlink(claimed)


def release(claimed: str) -> None:
    """Give a claimed batch back (the collector did not take it)."""
    os.rename(claimed, _original(claimed))


def _original(path: str) -> str:
    if path.endswith(_CLAIMED):
        return path[: path.rindex(SUFFIX) + len(SUFFIX)]
    return path


def _entries(folder: str, *, claimed: bool) -> list[tuple[str, int, float]]:
    """(path, size, modification time) of each batch in ``folder``, oldest first."""
    found = []
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    for name in sorted(names):
        if not (name.endswith(SUFFIX) or (claimed and name.endswith(_CLAIMED))):
            continue
        path = os.path.join(folder, name)
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            continue
        found.append((path, stat.st_size, stat.st_mtime))
    return found


def summaries(root: str) -> list[Summary]:
    """Every spool under ``root`` that holds something (for the doctor)."""
    import json

    found = []
    try:
        folders = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    for name in folders:
        folder = os.path.join(root, name)
        entries = _entries(folder, claimed=True)
        if not entries:
            continue
        try:
            with open(os.path.join(folder, _ABOUT)) as file:
                about = json.load(file)
        except (OSError, ValueError):
            about = {}
        found.append(
            Summary(
                folder,
                str(about.get("service", "?")),
                str(about.get("url", "?")),
                len(entries),
                sum(size for _p, size, _m in entries),
                min(mtime for _p, _s, mtime in entries),
            )
        )
    return found


def clear(root: str) -> int:
    """Delete every spooled batch under ``root``; how many."""
    removed = 0
    for summary in summaries(root):
        for path, _size, _mtime in _entries(summary.folder, claimed=True):
            try:
                os.unlink(path)
                removed += 1
            except FileNotFoundError:
                continue
    return removed
