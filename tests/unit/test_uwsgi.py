"""uWSGI rules: the role at start (from the command line) and whether Python threads run."""

from __future__ import annotations

from typing import Any

import pytest

from otel_autoguard import Decision, Role, detect_role
from otel_autoguard._roles import is_uwsgi
from otel_autoguard._servers._uwsgi import threads_enabled

UWSGI_ROLE = "uWSGI: its workers are configured after fork, its master never"


@pytest.mark.parametrize(
    "argv",
    [
        # What /proc/self/cmdline holds while the .pth runs (sys.argv is [''] and
        # sys.orig_argv is [] at that moment).
        ["/v/bin/uwsgi", "--master", "--processes", "2", "--wsgi-file", "app.py"],
        ["uwsgi", "--ini", "app.ini"],
        ["/usr/bin/uwsgi-core", "--plugin", "python3", "--module", "app:app"],
        # Option values that the Python rules would take for a tool's name.
        ["/v/bin/uwsgi", "--wsgi-file", "pytest.py"],
        ["/v/bin/uwsgi", "-m", "pip", "--http", ":8000"],
        ["/v/bin/uwsgi"],
    ],
)
def test_uwsgi_defers_to_its_workers(argv: list[str]) -> None:
    assert is_uwsgi(argv)
    assert detect_role({}, argv, ppid=1) == Decision(Role.DEFER, UWSGI_ROLE, launcher="uwsgi")


@pytest.mark.parametrize(
    "argv",
    [
        ["/v/bin/python", "uwsgi.py"],
        ["/v/bin/python", "-m", "uwsgi"],
        ["/v/bin/python", "/v/bin/uwsgitop"],
        [],
    ],
)
def test_python_running_something_named_uwsgi_is_not_uwsgi(argv: list[str]) -> None:
    assert not is_uwsgi(argv)


def test_overrides_still_win_and_opentelemetry_instrument_changes_nothing() -> None:
    argv = ["/v/bin/uwsgi", "--master"]
    assert detect_role({}, argv, override="skip").role is Role.SKIP
    # Under opentelemetry-instrument otel-autoguard stands in for its sitecustomize:
    # the role is decided as without it.
    otel = {"PYTHONPATH": "/v/site-packages/opentelemetry/instrumentation/auto_instrumentation"}
    assert detect_role(otel, argv) == detect_role({}, argv)
    assert detect_role(otel, argv).role is Role.DEFER


OLD = (2, 0, 26, 0, "")


@pytest.mark.parametrize(
    ("version", "opt", "enabled"),
    [
        # 2.0.27 made --enable-threads a no-op: threads are always on.
        ((2, 0, 27, 0, ""), {}, True),
        ((2, 0, 31, 0, ""), {"master": True}, True),
        ((2, 1, 0, 0, ""), {}, True),
        (OLD, {}, False),
        (OLD, {"master": True, "processes": b"4"}, False),
        (OLD, {"enable-threads": True}, True),
        (OLD, {"threads": b"4"}, True),
        (OLD, {"threads": b"1"}, True),
        (OLD, {"py-autoreload": b"1"}, True),
        (OLD, {"gevent": b"100"}, True),
        (OLD, {"enable-threads": b"false"}, False),
        (OLD, {"enable-threads": b"Off"}, False),
        (OLD, {"enable-threads": b"true"}, True),
        (OLD, {"enable-threads": [b"0", b"1"]}, True),
    ],
)
def test_threads_enabled(version: tuple[Any, ...], opt: dict[str, Any], enabled: bool) -> None:
    assert threads_enabled(version, opt) is enabled
