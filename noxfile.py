"""The compatibility matrix, one nox session per CPython version: ``bash scripts/matrix``.

Each session runs tests/e2e/test_matrix.py for that Python's cells (Flask 2.2-3.1 x
the oldest and newest OpenTelemetry we support); each cell builds its own venv
from a fresh wheel. The tools (pytest, the receiver) come from the .venv that
scripts/_venv.sh makes, so sessions need no venv of their own. 3.14 and 3.15 run in
the Debian sid chroot of scripts/test-chroot (root needed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from tests.support.matrix import CHROOT_PYTHONS, PYTHONS

nox.options.sessions = ["matrix"]
nox.options.default_venv_backend = "none"


@nox.session
@nox.parametrize("version", PYTHONS)
def matrix(session: nox.Session, version: str) -> None:
    if version in CHROOT_PYTHONS:
        # Debian's CPython in the sid chroot; its test runner venv is the chroot's.
        session.run(
            "bash", "scripts/test-chroot", "-v", "tests/e2e/test_matrix.py", *session.posargs,
            env={
                "AUTOGUARD_MATRIX": version,
                "AUTOGUARD_CHROOT_PYTHONS": version,
                "AUTOGUARD_CHROOT_MARK": "e2e",
            },
            external=True,
        )  # fmt: skip
        return
    session.run(
        ".venv/bin/python", "-m", "pytest", "-v", "-p", "no:cacheprovider",
        "tests/e2e/test_matrix.py", *session.posargs,
        env={"AUTOGUARD_MATRIX": version},
        external=True,
    )  # fmt: skip
