"""One registry of what a forked child resets (in the manner of dd-trace's ``forksafe``).

Every after-fork rule of the package is registered here, and this module alone
calls ``os.register_at_fork``. A server that forks without running those hooks
(uWSGI, unless ``--py-call-osafterfork``) calls :func:`after_fork` itself; the
hooks run at most once per process, so both paths together are harmless.
"""

from __future__ import annotations

import _thread
import os
import sys
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
    held it would otherwise leave it held forever in the child.

    The real lock is made at first use, from ``threading`` if it is imported by then:
    made after gevent's or eventlet's monkey-patching (a worker's), it is a green lock.
    """

    def __init__(self, reentrant: bool = False) -> None:
        self._reentrant = reentrant
        self._lock: Any = None
        register(self._reset)

    def _get(self) -> Any:
        lock = self._lock
        if lock is None:
            with _making:
                if self._lock is None:
                    threading: Any = sys.modules.get("threading")
                    if threading is not None:
                        self._lock = threading.RLock() if self._reentrant else threading.Lock()
                    else:
                        self._lock = _thread.RLock() if self._reentrant else _thread.allocate_lock()
                lock = self._lock
        return lock

    def _reset(self) -> None:
        self._lock = None

    def __enter__(self) -> bool:
        return bool(self._get().__enter__())

    def __exit__(self, *exc: object) -> None:
        self._release()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return bool(self._get().acquire(blocking, timeout))

    def release(self) -> None:
        self._release()

    def _release(self) -> None:
        # None: this thread forked while it held the lock; the child's is new and free.
        if self._lock is not None:
            self._lock.release()


# Held only while one lock is made (no call out, no switch): a real lock is right.
_making = _thread.allocate_lock()
