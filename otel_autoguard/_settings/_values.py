"""Parsing one variable's value: each malformed one becomes a message and its default."""

from __future__ import annotations

from collections.abc import Mapping

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
BOOL_ACCEPTED = "true/false (also 1/0, yes/no, on/off)"


def parse_bool(
    environ: Mapping[str, str], name: str, problems: list[str], fallback: str
) -> bool | None:
    """True, False, or None when unset or malformed (``fallback`` says what happens then)."""
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    problems.append(f"{name}={raw!r} is not valid; accepted: {BOOL_ACCEPTED}; {fallback}")
    return None


def parse_seconds(
    environ: Mapping[str, str], name: str, default: float, problems: list[str]
) -> float:
    """A finite number of seconds > 0; ``default`` when unset or malformed."""
    return parse_positive(environ, name, default, problems, "a number of seconds > 0")


def parse_positive(
    environ: Mapping[str, str], name: str, default: float, problems: list[str], accepted: str
) -> float:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value > 0 and value != float("inf"):
        return value
    problems.append(f"{name}={raw!r} is not valid; accepted: {accepted}; using {default:g}")
    return default
