from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_autoguard import _imports, _patching


@pytest.fixture(autouse=True)
def _restore_patches() -> Iterator[None]:
    """Whatever a test patched through otel-autoguard, or left waiting for an import, is undone."""
    yield
    _patching.unpatch_all()
    _imports.uninstall()
