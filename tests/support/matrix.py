"""The compatibility matrix: CPython x Flask/Werkzeug x OpenTelemetry (oldest claimed, newest).

Used by tests/e2e/test_matrix.py (a subset on every run, all cells on demand) and
by noxfile.py. The oldest OpenTelemetry set must match the lower bounds in
pyproject.toml; the newest is pinned so a new release cannot change a run.
"""

from __future__ import annotations

from dataclasses import dataclass

PYTHONS = ("3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15")
# Not in pyenv here: Debian's, in the sid chroot (scripts/test-chroot runs their cells).
CHROOT_PYTHONS = ("3.14", "3.15")

# Each Flask minor with the newest Werkzeug of the same minor (the pair Flask released with).
FLASKS = {
    "2.2": ("flask==2.2.5", "werkzeug==2.2.3"),
    "2.3": ("flask==2.3.3", "werkzeug==2.3.8"),
    "3.0": ("flask==3.0.3", "werkzeug==3.0.6"),
    "3.1": ("flask==3.1.3", "werkzeug==3.1.9"),
}


def _otel(core: str, contrib: str) -> tuple[str, ...]:
    return (
        f"opentelemetry-api=={core}",
        f"opentelemetry-sdk=={core}",
        f"opentelemetry-exporter-otlp-proto-http=={core}",
        f"opentelemetry-distro=={contrib}",
        f"opentelemetry-instrumentation=={contrib}",
        f"opentelemetry-instrumentation-flask=={contrib}",
    )


# The oldest we support. 1.27.0 / 0.48b0 import pkg_resources, which setuptools no longer
# ships: they break wherever pip installs a current setuptools (every venv on 3.12+).
OLDEST = _otel("1.28.0", "0.49b0")
NEWEST = _otel("1.45.1", "0.66b1")
# OpenTelemetry 1.42 (contrib 0.63b0) and later need Python 3.10.
NEWEST_ON_39 = _otel("1.41.1", "0.62b1")


@dataclass(frozen=True)
class Cell:
    python: str
    flask: str
    otel: str

    def __str__(self) -> str:
        return f"py{self.python}-flask{self.flask}-otel-{self.otel}"

    @property
    def requirements(self) -> tuple[str, ...]:
        if self.otel == "oldest":
            return FLASKS[self.flask] + OLDEST
        return FLASKS[self.flask] + (NEWEST_ON_39 if self.python == "3.9" else NEWEST)


CELLS = tuple(Cell(p, f, o) for p in PYTHONS for f in FLASKS for o in ("oldest", "newest"))

# On every run (scripts/test): the oldest and the newest corners, plus the oldest
# OpenTelemetry on the newest Python. The plain e2e venvs already cover the
# newest releases on 3.9, 3.11 and 3.13.
SUBSET = (
    Cell("3.9", "2.2", "oldest"),
    Cell("3.13", "2.3", "oldest"),
    Cell("3.13", "3.1", "newest"),
)


def select(which: str) -> tuple[Cell, ...]:
    """``subset``, ``all``, or one Python version's cells (``3.10``)."""
    if which == "subset":
        return SUBSET
    if which == "all":
        return CELLS
    cells = tuple(c for c in CELLS if c.python == which)
    if not cells:
        raise ValueError(f"AUTOGUARD_MATRIX={which!r}: use subset, all, or one of {PYTHONS}")
    return cells
