"""``python -m otel_autoguard.shim DIR``: make DIR a folder to inject with ``PYTHONPATH``.

Copies the ``sitecustomize`` shim into DIR (normally a folder filled with
``pip install --target DIR otel-autoguard``), records which Python made it and
compiles it. Run it with that same Python. docs/shim.md, "Injecting without pip
install", has the whole recipe.
"""

from __future__ import annotations

import py_compile
import sys
from pathlib import Path

_NAME = "sitecustomize.py"
_UNSET = "_BUILT_FOR = None"
# A line of the shim's header: how an earlier copy of ours is recognised.
_SIGNATURE = "# otel-autoguard's sitecustomize shim"


def source() -> Path:
    """The shim: ``sitecustomize_shim/`` beside the package (the wheel puts it there)."""
    return Path(__file__).resolve().parents[1] / "sitecustomize_shim" / _NAME


def install(folder: Path) -> Path:
    """Write the shim into ``folder`` for this Python; returns the file written."""
    text = source().read_text(encoding="utf-8")
    if text.count(_UNSET) != 1:
        raise RuntimeError(f"{source()} has no single {_UNSET!r} line")
    target = folder / _NAME
    if target.exists() and not target.read_text(encoding="utf-8").startswith(_SIGNATURE):
        raise FileExistsError(
            f"{target} exists and is not otel-autoguard's shim; move it to another folder "
            "on PYTHONPATH (the shim runs it from there)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(
        text.replace(_UNSET, f"_BUILT_FOR = {sys.implementation.cache_tag!r}"), encoding="utf-8"
    )
    # Every process that inherits PYTHONPATH imports the shim: spare them the compile.
    py_compile.compile(str(target), doraise=True)
    return target


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        sys.stderr.write(
            "usage: python -m otel_autoguard.shim DIR\n"
            "  copies the sitecustomize shim into DIR (made with pip install --target DIR "
            "otel-autoguard); then run the app with PYTHONPATH=DIR\n"
        )
        return 2
    try:
        target = install(Path(argv[0]).resolve())
    except (OSError, RuntimeError) as err:
        sys.stderr.write(f"otel-autoguard: {err}\n")
        return 1
    sys.stdout.write(f"{target} (for {sys.implementation.cache_tag})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
