"""An instrumentor's dependency check without packaging's import, where none is needed.

opentelemetry-instrumentation checks an instrumentor's ``instruments`` requirements with
packaging (~16 ms to import) before it applies the instrumentor. Nearly all are one name
with plain numeric bounds (``flask>=1.0``, ``requests~=2.0``, ``celery<6.0,>=4.0``) and
the installed version is plain too: those are decided here. Anything else (a pre-release,
a wildcard, another marker, an ``instruments-any`` group, a bound not met) goes to the
real check, which also words the messages. Pure: it is given the requirement lines and a
way to look versions up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Callable

_REQUIREMENT = re.compile(
    r"""^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*\(?([^;()]*)\)?\s*"""
    r""";\s*extra\s*==\s*["']instruments["']\s*$"""
)
_SPECIFIER = re.compile(r"^(~=|==|!=|<=|>=|<|>)\s*(\d+(?:\.\d+)*)$")
_PLAIN = re.compile(r"^\d+(?:\.\d+)*$")


def plainly_met(requires: Iterable[str] | None, version_of: Callable[[str], str | None]) -> bool:
    """True only when every ``instruments`` requirement is plainly met; False: ask the
    real check (it may still find no conflict)."""
    for line in requires or ():
        if "extra" not in line or "instruments" not in line:
            continue
        match = _REQUIREMENT.match(line)
        if match is None:  # instruments-any, another marker, a URL: not plain
            return False
        name, specifiers = match.groups()
        installed = version_of(name)
        if installed is None or not _PLAIN.match(installed):
            return False
        for specifier in filter(None, (s.strip() for s in specifiers.split(","))):
            bound = _SPECIFIER.match(specifier)
            if bound is None or not _holds(bound.group(1), installed, bound.group(2)):
                return False
    return True


def _holds(operator: str, installed: str, bound: str) -> bool:
    have, want = _release(installed), _release(bound)
    width = max(len(have), len(want))
    have, padded = have + (0,) * (width - len(have)), want + (0,) * (width - len(want))
    if operator == "~=":  # ~=2.3 means >=2.3, ==2.*
        return len(want) >= 2 and have >= padded and have[: len(want) - 1] == want[:-1]
    results = {
        "==": have == padded,
        "!=": have != padded,
        "<=": have <= padded,
        ">=": have >= padded,
        "<": have < padded,
        ">": have > padded,
    }
    return results[operator]


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
