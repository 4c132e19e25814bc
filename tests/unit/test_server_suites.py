"""The comparer of scripts/server-suites: reading each runner's report, and what differs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import suites

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite>
<testcase classname="tests.test_a.T" name="test_ok" time="0.5"/>
<testcase classname="tests.test_a.T" name="test_bad" time="1.0"><failure message="x"/></testcase>
<testcase classname="tests.test_a" name="test_skip"><skipped type="pytest.skip"/></testcase>
<testcase classname="tests.test_a" name="test_xf" time="0"><skipped type="pytest.xfail"/></testcase>
<testcase classname="tests.test_a" name="test_td" time="0.2"/>
<testcase classname="tests.test_a" name="test_td" time="0.1"><error message="teardown"/></testcase>
</testsuite></testsuites>
"""

DJANGO = """\
test_plain (utils_tests.test_autoreload.A.test_plain) ... ok
test_doc (servers.tests.B.test_doc)
A docstring's first line ... ok
test_noisy (servers.tests.B.test_noisy) ... something on stderr
FAIL
test_skip (utils_tests.test_autoreload.W.test_skip) ... skipped 'pywatchman not installed'
test_err (servers.tests.B.test_err) ... ERROR

Slowest test durations
----------------------------------------------------------------------
0.502s     test_doc (servers.tests.B.test_doc)
"""


def test_junit(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text(JUNIT)
    assert suites.from_junit(path) == {
        "tests.test_a.T::test_ok": ("passed", 0.5),
        "tests.test_a.T::test_bad": ("failed", 1.0),
        "tests.test_a::test_skip": ("skipped", 0.0),
        "tests.test_a::test_xf": ("xfailed", 0.0),
        "tests.test_a::test_td": ("error", pytest.approx(0.3)),
    }


def test_django(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    path.write_text(DJANGO)
    assert suites.from_django(path) == {
        "utils_tests.test_autoreload.A.test_plain": ("passed", 0.0),
        "servers.tests.B.test_doc": ("passed", 0.502),
        "servers.tests.B.test_noisy": ("failed", 0.0),
        "utils_tests.test_autoreload.W.test_skip": ("skipped", 0.0),
        "servers.tests.B.test_err": ("error", 0.0),
    }


@pytest.mark.parametrize(
    ("was", "now", "found"),
    [
        (("passed", 0.4), ("passed", 1.9), []),  # slower, but not by 5x and 5 s
        (("passed", 0.1), ("passed", 4.9), []),  # 49x, but not 5 s more
        (("passed", 0.4), ("passed", 30.5), ["passed, 0.4 s -> 30.5 s"]),
        (("passed", 0.4), ("failed", 0.4), ["passed -> failed"]),
        (("skipped", 0.0), None, ["skipped -> missing"]),
    ],
)
def test_differences(
    was: tuple[str, float], now: tuple[str, float] | None, found: list[str]
) -> None:
    other = {} if now is None else {"t": now}
    assert suites.differences("s", {"t": was}, other) == [("s::t", what) for what in found]


def test_compare_fails_on_an_unknown_difference_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "srv").mkdir()
    for mode, outcome in [("nohook", "passed"), ("up", "failed"), ("down", "passed")]:
        (tmp_path / "srv" / f"{mode}.json").write_text(f'{{"t": ["{outcome}", 0.1]}}')
    monkeypatch.setattr(suites, "KNOWN", {})
    assert suites.compare(tmp_path) == 1
    assert "DIFFERS [up] srv::t: passed -> failed" in capsys.readouterr().out
    monkeypatch.setattr(suites, "KNOWN", {"srv::t": "a known bug", "other::t": "not run"})
    assert suites.compare(tmp_path) == 0
    out = capsys.readouterr().out
    assert "KNOWN (a known bug) [up] srv::t" in out
    assert "other::t" not in out
