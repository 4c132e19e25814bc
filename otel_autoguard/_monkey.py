"""Instrumentors wait while gevent monkey-patches the standard library.

gevent's ``patch_all``, as it patches ``threading``, looks at every object in memory to fix
up the locks taken before it, with ``isinstance``. A lazy proxy among those objects
evaluates then: Celery's (``celery.local.Proxy``) imports ``celery.app`` half-way through
the patching, after ``threading``, before ``select`` and ``socket``. An instrumentor applied
at that import imports what it needs with the modules not yet patched: Celery's imports its
worker and kombu, whose poller keeps the real ``select.select``. Measured with ``celery
worker --pool gevent``: the worker's own greenlets then blocked the whole process in that
``select``, and tasks took 60 to 300 s. So an instrumentor whose library is imported while
``patch_all`` runs is applied right after it returns.

eventlet's ``monkey_patch`` fixes up existing locks only after it has patched every module:
an import from there already sees them patched, so it is not wrapped (a watched ``eventlet``
import would also have its deprecation warning name this package's import hook).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any, Callable

from ._patching import is_patched, replace

_PATCHERS = (("gevent.monkey", "patch_all"),)

_depth = 0
"""``patch_all`` calls under way: one reached again from inside another releases nothing;
the outermost's end does."""
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
    replace(module, name, _Patching(original))


class _Patching:
    """The patcher, holding instrumentors while it runs.

    Introspected as the original: ``python -m gevent.monkey --no-socket`` reads the names
    of ``patch_all``'s parameters with ``inspect.getfullargspec``, which reads
    ``__signature__`` but does not follow ``__wrapped__``. A property, so that ``inspect``
    is imported only by whoever asks.
    """

    def __init__(self, original: Callable[..., Any]) -> None:
        functools.update_wrapper(self, original)
        self._original = original

    @property
    def __signature__(self) -> Any:
        import inspect

        return inspect.signature(self._original)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        global _depth
        _depth += 1
        try:
            return self._original(*args, **kwargs)
        finally:
            _depth -= 1
            if not _depth:
                while _held:  # each reports its own failure (``_otel._apply``)
                    _held.pop(0)()
