"""Where a call into OpenTelemetry came from: the application's ``file:line``, or us."""

from __future__ import annotations

import os
import sys

OURS = "otel-autoguard"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_SEP = os.sep
# Our own frames between the application's call and the question.
_PASSED = frozenset(
    os.path.join(_PACKAGE_DIR, name)
    for name in ("_callsite.py", "_manual.py", "_manual_patches.py")
)


def _is_library(filename: str) -> bool:
    return (
        filename in _PASSED
        or f"{_SEP}opentelemetry{_SEP}" in filename
        or filename.startswith("<frozen ")
    )


def _shown(filename: str) -> str:
    path = os.path.abspath(filename)
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def call_site() -> str:
    """``file:line`` of the application's call, or ``OURS`` if otel-autoguard made it."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_library(filename):
            if os.path.abspath(filename).startswith(_PACKAGE_DIR + _SEP):
                return OURS
            return f"{_shown(filename)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "an unknown place"


# A test runner's own frames, by the end of their file name: whoever runs them runs tests.
_RUNNERS = {
    ("unittest", "main.py"): "unittest",
    ("unittest", "runner.py"): "unittest",
    ("unittest", "suite.py"): "unittest",
    ("django", "test", "runner.py"): "Django's test runner",
}


def test_runner() -> str | None:
    """The test runner this process runs, if any (pytest, unittest, Django's runner).

    A live server a test starts (Django's ``LiveServerTestCase``, a ``unittest`` test's
    server thread) serves the test, not the application: the process is a tool.
    """
    if "_pytest" in sys.modules:
        return "pytest"
    import threading

    if any(c.__name__ == "LiveServerThread" for c in type(threading.current_thread()).__mro__):
        return "a Django LiveServerTestCase"
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        parts = tuple(os.path.normpath(frame.f_code.co_filename).split(_SEP)[-3:])
        for tail, name in _RUNNERS.items():
            if parts[-len(tail) :] == tail:
                return name
        frame = frame.f_back
    return None
