"""Instrumentors wait while gevent monkey-patches (``_monkey``)."""

from __future__ import annotations

import inspect
import types
from typing import Callable

import pytest

from otel_autoguard import _monkey


def patch_all(body: Callable[[], None]) -> Callable[[], None]:
    """``body`` as ``gevent.monkey.patch_all``, wrapped as the post-import hook wraps it."""
    owner = types.ModuleType("gevent.monkey")
    owner.patch_all = body  # type: ignore[attr-defined]
    dict(_monkey.hooks())["gevent.monkey"](owner)
    wrapped: Callable[[], None] = owner.patch_all  # type: ignore[attr-defined]
    return wrapped


def test_outside_patching_nothing_is_held() -> None:
    assert _monkey.after_patching(lambda: None) is False


def test_an_import_during_patching_is_instrumented_after_it() -> None:
    ran: list[str] = []

    def patch() -> None:
        # What Celery's lazy proxy does from inside gevent's lock fix-up: an import.
        assert _monkey.after_patching(lambda: ran.append("instrumented"))
        ran.append("patched")

    patch_all(patch)()
    assert ran == ["patched", "instrumented"]
    assert _monkey.after_patching(lambda: None) is False


def test_a_nested_patching_call_releases_only_at_the_outermost() -> None:
    ran: list[str] = []
    inner = patch_all(lambda: ran.append("inner"))

    def outer() -> None:
        _monkey.after_patching(lambda: ran.append("instrumented"))
        inner()
        ran.append("outer")

    patch_all(outer)()
    assert ran == ["inner", "outer", "instrumented"]


def test_a_failing_patcher_still_releases_and_raises() -> None:
    ran: list[str] = []

    def patch() -> None:
        _monkey.after_patching(lambda: ran.append("instrumented"))
        raise RuntimeError("patching failed")

    with pytest.raises(RuntimeError, match="patching failed"):
        patch_all(patch)()
    assert ran == ["instrumented"]


def test_wrapped_once() -> None:
    owner = types.ModuleType("gevent.monkey")
    owner.patch_all = lambda: None  # type: ignore[attr-defined]
    hook = dict(_monkey.hooks())["gevent.monkey"]
    hook(owner)
    first = owner.patch_all  # type: ignore[attr-defined]
    hook(owner)
    assert owner.patch_all is first  # type: ignore[attr-defined]


def test_introspected_as_the_original() -> None:
    # python -m gevent.monkey --no-socket: the option names are patch_all's parameters.
    def original(socket: bool = True, thread: bool = True, **kwargs: object) -> None:
        """gevent's."""

    wrapped = patch_all(original)  # type: ignore[arg-type]
    assert inspect.getfullargspec(wrapped).args == ["socket", "thread"]
    assert wrapped.__doc__ == "gevent's."
