"""What the inert hook (no OTEL_* variable set) costs ``python -c pass``, per hook layout.

Standard library only, so it runs on any interpreter (scripts/bench-inert runs it on the
host's Pythons and on 3.14 and 3.15 in the sid chroot)::

    python bench/inert.py [--python PYTHON ...] [--runs 300]

For each interpreter it makes one venv per layout, with the checkout's package and hook
files copied into site-packages exactly where the wheel puts them:

- ``bare``: nothing;
- ``any-pth``: a ``.pth`` of another name holding one import line (``import os``): what
  CPython's ``site`` costs for any ``.pth`` file, whatever it runs (a venv with setuptools
  already has one: ``distutils-precedence.pth``);
- ``pth``: ``otel_autoguard.pth`` only;
- ``pth+start``: the ``.pth`` and ``otel_autoguard.start`` (PEP 829, read from 3.15 on);
- ``start``: the ``.start`` only;
- ``any-start``: the ``.pth`` plus a ``.start`` of another name (``os:getpid``): what
  CPython's ``site`` costs for any ``.start`` file, whatever it runs.

Runs are interleaved (one of each layout per round) so that drift on a busy machine
hits every layout alike. It prints medians and ratios to ``bare`` from the same run, and
the modules each layout imports beyond ``bare`` (``-X importtime``). Figures only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "hook"
LAYOUTS = {
    "bare": (),
    "any-pth": ("other.pth",),
    "pth": ("otel_autoguard.pth",),
    "pth+start": ("otel_autoguard.pth", "otel_autoguard.start"),
    "start": ("otel_autoguard.start",),
    "any-start": ("otel_autoguard.pth", "other.start"),
}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTHON"))}


def _make(python: str, path: Path, files: tuple[str, ...]) -> str:
    subprocess.run([python, "-m", "venv", "--without-pip", str(path)], check=True)
    venv_python = str(path / "bin" / "python")
    purelib = subprocess.run(
        [venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    site = Path(purelib)
    if any(name.startswith("otel_autoguard") for name in files):
        shutil.copytree(ROOT / "otel_autoguard", site / "otel_autoguard")
    for name in files:
        if name == "other.start":
            (site / name).write_text("os:getpid\n")
        elif name == "other.pth":
            (site / name).write_text("import os\n")
        else:
            shutil.copy(HOOK / name, site / name)
    # Compiled once, as pip does at install: no run pays for a first compile.
    subprocess.run([venv_python, "-m", "compileall", "-q", str(site)], check=True)
    return venv_python


def _once(python: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    pid = os.posix_spawn(python, [python, "-c", "pass"], env)
    _, status = os.waitpid(pid, 0)
    took = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{python} -c pass exited with status {status}")
    return took


def _imports(python: str, env: dict[str, str]) -> set[str]:
    err = subprocess.run(
        [python, "-X", "importtime", "-c", "pass"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    return {m.group(1).strip() for m in re.finditer(r"\|\s*\d+ \|([^\n]+)$", err, re.MULTILINE)}


def bench(python: str, runs: int, work: Path) -> None:
    env = _env()
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version.split()[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    pythons = {
        name: _make(python, work / f"{version}-{name}", files) for name, files in LAYOUTS.items()
    }
    for p in pythons.values():  # warm the page cache
        _once(p, env)
    samples: dict[str, list[float]] = {name: [] for name in pythons}
    for _ in range(runs):
        for name, p in pythons.items():
            samples[name].append(_once(p, env))
    base = statistics.median(samples["bare"])
    bare_imports = _imports(pythons["bare"], env)
    print(f"\nCPython {version} ({python}), python -c pass, {runs} interleaved runs each")
    print(f"{'layout':<10} {'median ms':>9} {'ratio':>6}  imports beyond bare")
    for name, p in pythons.items():
        median = statistics.median(samples[name])
        extra = sorted(_imports(p, env) - bare_imports)
        shown = ", ".join(extra) if extra else "-"
        print(f"{name:<10} {median * 1000:9.2f} {median / base:6.3f}  {shown}")
    any_pth = statistics.median(samples["any-pth"])
    ours = statistics.median(samples["pth"])
    print(
        f"the hook's .pth over any .pth: {ours / any_pth:.3f}x ({(ours - any_pth) * 1000:+.2f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--python", action="append", help="interpreter (repeatable)")
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="otel-autoguard-inert-") as tmp:
        for python in args.python or [sys.executable]:
            bench(python, args.runs, Path(tmp))


if __name__ == "__main__":
    main()
