"""The package's layering, checked: no import runs back up, no module takes another's
private names, each module stays readable in one sitting (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "otel_autoguard"

# Lowest first. A module may import from lower layers only (and, inside the
# _doctor and _servers packages, its siblings).
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "_version",
        "_argv",
        "_otlp",
        "_pipelines",
        "_callsite",
        "_providers",
        "_instrumentors",
        "_requirements",
        "_doctor._render",
        "shim",
    ),
    ("_settings", "_settings._doctor", "_settings._collectors", "_task_cli"),
    ("_roles", "_boundary", "_collector", "_spool"),
    ("_forks", "_patching", "_decisions", "_otel_log", "_instrument_cli", "_resend", "_graceful"),
    ("_imports", "_exit", "_events", "_handover", "_exporters", "_monkey"),
    ("_flask_pending",),
    ("_manual", "_reloader", "_otel"),
    ("_manual_patches", "_servers"),
    ("_process",),
    ("_hook",),
    ("_doctor", "__init__"),
    ("__main__",),
)
MAX_LINES = 280


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _group(module: str) -> str:
    """The layer entry a module belongs to (``_servers._gunicorn`` -> ``_servers``)."""
    for layer in LAYERS:
        if module in layer:
            return module
    return module.split(".", maxsplit=1)[0]


def _layer(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if _group(module) in layer:
            return index
    raise AssertionError(f"{module} is in no layer of {__file__}: add it")


MODULES = sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names) for every import of the package in ``path``."""
    here = _name(path).split(".") if path.name != "__init__.py" else [*_name(path).split("."), ""]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - node.level] if node.level <= len(here) else []
            target = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            names = [alias.name for alias in node.names]
            folder = PACKAGE / target.replace(".", "/")
            if node.module is None or folder.is_dir():
                # `from . import _forks`: modules by name; `from . import first`: a name
                # of the package's own __init__.
                for name in names:
                    if (folder / f"{name}.py").is_file() or (folder / name).is_dir():
                        found.append((f"{target}.{name}".strip("."), []))
                    else:
                        found.append((target or "__init__", [name]))
                continue
            found.append((target or "__init__", names))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("otel_autoguard"):
            raise AssertionError(f"{path}: import within the package relatively")
    return found


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _name(p) or "__init__")
def test_imports_run_down_the_layers_only(path: Path) -> None:
    module = _name(path) or "__init__"
    for imported, _names in _imports(path):
        # `from .. import __version__`: the version, at the bottom.
        target = "_version" if imported == "__init__" and module != "__init__" else imported
        if _group(target) == _group(module) and module.split(".")[0] in (
            "_doctor",
            "_servers",
            "_settings",
        ):
            continue  # siblings inside one package
        if target.startswith(f"{module}.") or module.startswith(f"{target}."):
            continue  # a package and its own modules
        assert _layer(target) < _layer(module), f"{module} imports {target}, a layer above"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _name(p) or "__init__")
def test_no_module_takes_another_modules_private_names(path: Path) -> None:
    for target, names in _imports(path):
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not private, f"{_name(path)} imports {private} from {target}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _name(p) or "__init__")
def test_each_module_is_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{_name(path)}: {lines} lines"


def test_the_layer_list_names_only_modules_that_exist() -> None:
    names = {_name(p) or "__init__" for p in MODULES}
    groups = {n.split(".")[0] for n in names} | names
    listed = {m for layer in LAYERS for m in layer}
    assert listed <= groups, listed - groups
