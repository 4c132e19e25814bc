"""The core reloader scenario in each cell of the compatibility matrix.

``AUTOGUARD_MATRIX`` picks the cells: ``subset`` (default, on every run), ``all``,
or a Python version. ``bash scripts/matrix`` runs every cell through nox.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import _pyenv_python
from tests.e2e.test_flask_pending import check_held_apps
from tests.e2e.test_reloader import check_reloads
from tests.support.matrix import CHROOT_PYTHONS, Cell, select
from tests.support.procs import Proc, make_venv, run
from tests.support.receiver import Receiver

VERSIONS = (
    "import sys; from importlib.metadata import version; "
    "print(' '.join(f'{n}=={version(n)}' for n in sys.argv[1:]))"
)


def cell_python(version: str) -> str:
    if version not in CHROOT_PYTHONS:
        return _pyenv_python(version)
    python = shutil.which(f"python{version}")
    if python is None:
        pytest.fail(
            f"no python{version} here: its cells run in the sid chroot "
            f"(bash scripts/matrix runs them there)"
        )
    return python


@pytest.mark.parametrize("cell", select(os.environ.get("AUTOGUARD_MATRIX", "subset")), ids=str)
def test_reloader_scenario(
    procs: list[Proc], wheel: Path, app_dir: Path, receiver: Receiver, cell: Cell
) -> None:
    venv = make_venv(app_dir.parent / "venv", cell_python(cell.python), wheel, *cell.requirements)
    # The cell runs exactly the releases it is named after.
    names = [req.split("==")[0] for req in cell.requirements]
    installed = run([venv.python, "-c", VERSIONS, *names]).stdout.split()
    assert [i.lower() for i in installed] == [r.lower() for r in cell.requirements]
    check_reloads(procs, venv, app_dir, receiver)
    # An app made before the process serves gets the pieces of this instrumentation release.
    check_held_apps(venv, app_dir)
