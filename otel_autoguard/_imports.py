"""Run a callback right after a module is imported (or now, if it already is).

A small ``sys.meta_path`` finder in the manner of dd-trace's ModuleWatchdog: it
asks the other finders for the real spec and wraps the loader, so the callback
runs after the module's code and before the importer receives the module
(:func:`before_import`: right before its code). Modules we never watch pay one
dict lookup per import.
"""

from __future__ import annotations

import _thread
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Callable

from ._forks import Lock
from ._patching import guarded
from ._settings import Settings

Callback = Callable[[ModuleType], None]

_callbacks: dict[str, list[Callback]] = {}
_before: dict[str, list[Callback]] = {}
_lock = Lock(reentrant=True)
_local = _thread._local()  # not threading: nothing early (see _instrumentors)


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once ``name`` is imported; at once if it is already."""
    with _lock:
        module = sys.modules.get(name)
        if module is None or getattr(module, "__spec__", None) is None:
            _callbacks.setdefault(name, []).append(callback)
            _install()
            return
    callback(module)


def before_import(name: str, callback: Callback) -> bool:
    """Call ``callback(module)`` right before ``name``'s code runs, the module still empty.

    False, and nothing is registered, if ``name`` is imported already (or is being
    imported): its code has run, or runs now.
    """
    with _lock:
        if name in sys.modules:
            return False
        _before.setdefault(name, []).append(callback)
        _install()
    return True


def patch_on_import(
    settings: Settings, patches: Sequence[tuple[str, Callable[[ModuleType], None]]]
) -> None:
    """Apply each ``(module, patch)``: ``patch(module)`` right after it is imported.

    Each runs inside the application's own ``import`` statement, so a failure is
    reported (naming the module) and never reaches it.
    """
    for name, patch in patches:
        when_imported(name, guarded(settings, name, patch))


def _install() -> None:
    if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def uninstall() -> None:
    """Forget every pending callback and take the finder out (for tests)."""
    with _lock:
        _callbacks.clear()
        _before.clear()
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]


class _Finder:
    # Duck-typed: importlib.abc would import importlib.resources at start-up.

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname not in _callbacks and fullname not in _before:
            return None
        searching: set[str] = _local.__dict__.setdefault("searching", set())
        if fullname in searching:
            return None
        searching.add(fullname)
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            searching.discard(fullname)
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, fullname)  # type: ignore[assignment]
        return spec


class _Loader:
    def __init__(self, wrapped: Any, fullname: str) -> None:
        self._wrapped = wrapped
        self._fullname = fullname

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._wrapped.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        # Code that inspects __loader__ (pkgutil, importlib.resources) wants the real one.
        module.__loader__ = self._wrapped
        if module.__spec__ is not None:
            module.__spec__.loader = self._wrapped
        with _lock:
            first = _before.pop(self._fullname, [])
        for callback in first:
            callback(module)
        self._wrapped.exec_module(module)
        with _lock:
            callbacks = _callbacks.pop(self._fullname, [])
        for callback in callbacks:
            callback(module)

    def __getattr__(self, name: str) -> object:
        return getattr(self._wrapped, name)
