from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from otel_autoguard import shim

ROOT = Path(__file__).resolve().parents[2]


def test_shim_is_the_repository_folder_and_avoids_removed_apis() -> None:
    assert shim.source() == ROOT / "sitecustomize_shim" / "sitecustomize.py"
    # Only the shim: site would import a usercustomize from the folder too.
    assert [p.name for p in shim.source().parent.iterdir() if p.suffix == ".py"] == [
        "sitecustomize.py"
    ]
    names = {
        node.attr for node in ast.walk(ast.parse(shim.source().read_text()))
        if isinstance(node, ast.Attribute)
    }  # fmt: skip
    assert "load_module" not in names  # removed in Python 3.15
    assert "exec_module" in names


def test_install_records_this_python_and_compiles(tmp_path: Path) -> None:
    target = shim.install(tmp_path / "otel")
    text = target.read_text()
    assert f"_BUILT_FOR = {sys.implementation.cache_tag!r}" in text
    assert "_BUILT_FOR = None" not in text
    assert (
        target.parent / "__pycache__" / f"sitecustomize.{sys.implementation.cache_tag}.pyc"
    ).is_file()
    assert shim.install(tmp_path / "otel") == target  # running it again is fine


def test_install_keeps_someone_elses_sitecustomize(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sitecustomize.py").write_text("print('theirs')\n")
    assert shim.main([str(tmp_path)]) == 1
    assert (tmp_path / "sitecustomize.py").read_text() == "print('theirs')\n"
    err = capsys.readouterr().err
    assert err.startswith("otel-autoguard: ") and "is not otel-autoguard's shim" in err


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert shim.main([]) == 2
    assert capsys.readouterr().err.startswith("usage: python -m otel_autoguard.shim DIR")
