"""tests/conftest.py: the unit tests import the checkout even when another copy came first."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# What an installed wheel's .start entry (3.15+) or gated-on .pth line does at start:
# import its own otel_autoguard. Then pytest runs a test that needs the checkout's.
_RUN = """
import sys
sys.path.insert(0, sys.argv[1])
import otel_autoguard
assert otel_autoguard.__file__.startswith(sys.argv[1]), otel_autoguard.__file__
sys.path.remove(sys.argv[1])
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", sys.argv[2]]))
"""


def test_an_installed_copy_imported_at_start_is_replaced_by_the_checkout(tmp_path: Path) -> None:
    installed = tmp_path / "site-packages"
    shutil.copytree(ROOT / "otel_autoguard", installed / "otel_autoguard")
    test = "tests/unit/test_shim.py::test_shim_is_the_repository_folder_and_avoids_removed_apis"
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(installed), test],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
