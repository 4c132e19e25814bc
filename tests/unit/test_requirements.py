"""The dependency check's fast path: plainly met, or left to packaging (the real check)."""

from __future__ import annotations

import pytest

from otel_autoguard._requirements import plainly_met

INSTALLED = {"flask": "3.1.3", "requests": "2.34.2", "celery": "5.6.0", "pre": "2.0rc1"}


def met(*requires: str) -> bool:
    return plainly_met(list(requires), INSTALLED.get)


@pytest.mark.parametrize(
    "line",
    [
        "flask>=1.0; extra == 'instruments'",
        'flask (>=1.0) ; extra == "instruments"',
        "flask[async] >= 3.1.3 ; extra == 'instruments'",
        "requests~=2.0; extra == 'instruments'",
        "requests~=2.34.1; extra == 'instruments'",
        "celery<6.0,>=4.0; extra == 'instruments'",
        "flask==3.1.3.0; extra == 'instruments'",
        "flask!=3.1.2; extra == 'instruments'",
        "flask; extra == 'instruments'",
        "opentelemetry-api~=1.12",  # not an instruments line: not checked here
    ],
)
def test_plainly_met(line: str) -> None:
    assert met(line)


@pytest.mark.parametrize(
    "line",
    [
        "flask<3.0; extra == 'instruments'",  # a conflict: the real check words it
        "requests~=3.0; extra == 'instruments'",
        "requests~=2; extra == 'instruments'",  # invalid for ~=: packaging decides
        "celery>=6.0,<7; extra == 'instruments'",
        "flask>3.1.3; extra == 'instruments'",
        "absent>=1.0; extra == 'instruments'",
        "pre>=1.0; extra == 'instruments'",  # installed pre-release
        "flask>=3.0.*; extra == 'instruments'",
        "flask>=1.0rc1; extra == 'instruments'",
        "flask>=1.0; extra == 'instruments-any'",
        "flask>=1.0; python_version >= '3.9' and extra == 'instruments'",
    ],
)
def test_left_to_the_real_check(line: str) -> None:
    assert not met(line)


def test_no_requirement_is_no_conflict() -> None:
    assert plainly_met(None, INSTALLED.get)
    assert plainly_met([], INSTALLED.get)
