"""The two patching helpers every server module uses."""

from __future__ import annotations

import functools
from typing import Any, Callable

from .. import _boundary
from .._settings import Settings

MARK = "__otel_autoguard__"


def guarded(settings: Settings, what: str, patch: Callable[[Any], None]) -> Callable[[Any], None]:
    """A post-import callback that reports a failed patch instead of raising.

    It runs inside the user's ``import``: a failure must not reach it.
    """

    def callback(module: Any) -> None:
        with _boundary.guard(settings, f"hooking {what}"):
            patch(module)

    return callback


def is_patched(function: Any) -> bool:
    return bool(getattr(function, MARK, False))


def before(original: Callable[..., Any], hook: Callable[[], None]) -> Callable[..., Any]:
    """``original``, calling ``hook()`` first (hooks report their own failures)."""

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        hook()
        return original(*args, **kwargs)

    setattr(wrapper, MARK, True)
    return wrapper


def patch_method(owner: Any, name: str, hook: Callable[[], None]) -> None:
    """Make ``owner.name`` call ``hook()`` first, once, however often this is called."""
    original = getattr(owner, name)
    if not is_patched(original):
        setattr(owner, name, before(original, hook))
