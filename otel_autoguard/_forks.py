"""One registry of what a forked child resets (in the manner of dd-trace's ``forksafe``).

Every after-fork rule of the package is registered here, and this module alone
calls ``os.register_at_fork``. A server that forks without running those hooks
(uWSGI, unless ``--py-call-osafterfork``) calls :func:`after_fork` itself; the
hooks run at most once per process, so both paths together are harmless.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

Hook = Callable[[], None]

_hooks: list[Hook] = []
# The process the hooks last ran for (or the one that registered the first hook).
_ran_for = os.getpid()


def register(hook: Hook) -> Hook:
    """Run ``hook()`` in every forked child, in the order registered."""
    if not _hooks and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=after_fork)
    _hooks.append(hook)
    return hook


def after_fork() -> None:
    """Run every registered hook, once per process; failures are reported, never raised."""
    global _ran_for
    pid = os.getpid()
    if pid == _ran_for:
        return
    _ran_for = pid
    for hook in _hooks:
        try:
            hook()
        except Exception as exc:  # noqa: BLE001 - a fork hook must not break the child
            from ._boundary import describe, emit

            emit(None, f"resetting state after fork failed ({describe(exc)}); carrying on")


class Lock:
    """A lock that a forked child gets back free: a fork taken while another thread
    held it would otherwise leave it held forever in the child."""

    def __init__(self, reentrant: bool = False) -> None:
        self._reentrant = reentrant
        self._lock = self._new()
        register(self._reset)

    def _new(self) -> Any:
        return threading.RLock() if self._reentrant else threading.Lock()

    def _reset(self) -> None:
        self._lock = self._new()

    def __enter__(self) -> bool:
        return bool(self._lock.__enter__())

    def __exit__(self, *exc: object) -> None:
        self._lock.__exit__(*exc)

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return bool(self._lock.acquire(blocking, timeout))

    def release(self) -> None:
        self._lock.release()
