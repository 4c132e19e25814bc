"""Instrumentors wait while gevent or eventlet monkey-patches the standard library.

gevent's ``patch_all`` (patching ``threading``) and eventlet's ``monkey_patch`` look at
every object in memory to fix up the locks taken before them, with ``isinstance``. A lazy
proxy among those objects evaluates then: Celery's (``celery.local.Proxy``) imports
``celery.app`` half-way through the patching, after ``threading``, before ``select`` and
``socket``. An instrumentor applied at that import imports what it needs with the modules
not yet patched: Celery's imports its worker and kombu, whose poller keeps the real
``select.select``. Measured with ``celery worker --pool gevent``: the worker's own
greenlets then block the whole process in that ``select``, and tasks took 60 to 300 s.
So an instrumentor whose library is imported while the patching runs is applied right
after it returns.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, Callable

from ._patching import is_patched, replace

_PATCHERS = (("gevent.monkey", "patch_all"), ("eventlet", "monkey_patch"))

_depth = 0
"""Patching calls under way (one may call another: eventlet's calls its own parts)."""
_held: list[Callable[[], None]] = []


def hooks() -> list[tuple[str, Callable[[ModuleType], None]]]:
    """For ``patch_on_import``: each patcher's module, and what wraps its patcher."""
    return [(module, functools.partial(_wrap, name=name)) for module, name in _PATCHERS]


def after_patching(action: Callable[[], None]) -> bool:
    """Hold ``action`` until the monkey-patching under way ends; False: none is (run it now)."""
    if not _depth:
        return False
    _held.append(action)
    return True


def _wrap(module: ModuleType, name: str) -> None:
    original = getattr(module, name, None)
    if original is None or is_patched(original):
        return

    @functools.wraps(original)
    def patching(*args: Any, **kwargs: Any) -> Any:
        global _depth
        _depth += 1
        try:
            return original(*args, **kwargs)
        finally:
            _depth -= 1
            if not _depth:
                while _held:  # each reports its own failure (``_otel._apply``)
                    _held.pop(0)()

    replace(module, name, patching)
