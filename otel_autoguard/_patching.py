"""Every patch otel-autoguard makes goes through here: marked, recorded, undoable.

A patch wraps the owner's attribute as it is when the patch is made and records
the original, so :func:`unpatch_all` puts back exactly what was there (unit tests
restore what they patched). A post-import callback that patches is
:func:`guarded`: it runs inside the application's own ``import`` statement.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from ._boundary import guard
from ._settings import Settings

MARK = "__otel_autoguard__"
_F = TypeVar("_F")

_applied: list[tuple[Any, str, Any, bool]] = []
"""(owner, name, original, whether the owner had its own attribute), oldest first."""


def guarded(settings: Settings, what: str, patch: Callable[[Any], None]) -> Callable[[Any], None]:
    """A post-import callback that reports a failed patch instead of raising."""

    def callback(module: Any) -> None:
        with guard(settings, f"hooking {what}", f"{what} is used unpatched"):
            patch(module)

    return callback


def is_patched(function: Any) -> bool:
    return bool(getattr(function, MARK, False))


def mark(function: _F) -> _F:
    # Python 3.9's staticmethod takes no attributes: mark the function it holds.
    inner = function.__func__ if isinstance(function, (staticmethod, classmethod)) else function
    setattr(inner, MARK, True)
    return function


def replace(owner: Any, name: str, replacement: Any) -> None:
    """Set ``owner.name`` to ``replacement`` (marked), remembering what it was."""
    own = name in getattr(owner, "__dict__", {})
    _applied.append((owner, name, getattr(owner, name, None), own))
    setattr(owner, name, mark(replacement))


def before(original: Callable[..., Any], hook: Callable[[], None]) -> Callable[..., Any]:
    """``original``, calling ``hook()`` first (hooks report their own failures)."""

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hook()
        return original(*args, **kwargs)

    return mark(wrapper)


def patch_method(owner: Any, name: str, hook: Callable[[], None]) -> None:
    """Make ``owner.name`` call ``hook()`` first, once, however often this is called."""
    original = getattr(owner, name)
    if not is_patched(original):
        replace(owner, name, before(original, hook))


def unpatch_all() -> None:
    """Undo every patch, newest first (for tests; a process never needs it)."""
    while _applied:
        owner, name, original, own = _applied.pop()
        if own:
            setattr(owner, name, original)
        else:
            try:
                delattr(owner, name)
            except AttributeError:
                continue
