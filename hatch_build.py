"""Wheel build hook: which hook files the wheel carries, and its tag.

``OTEL_AUTOGUARD_WHEEL`` picks the wheel (both are built for a release):

- unset or ``all``: ``py3-none-any``, with ``otel_autoguard.pth`` and the PEP 829
  ``otel_autoguard.start``. Right on every Python: up to 3.14 only the ``.pth`` line runs;
  from 3.15 the same-named ``.start`` runs instead (and the import line is suppressed),
  which is also all that 3.18+ will run. But on 3.15+ any ``.start`` file makes ``site``
  import ``pkgutil``: ``python -c pass`` takes about twice as long (docs/python-versions.md).
- ``pth``: the ``.pth`` only, tagged ``py39.py310...py317-none-any``: pip ranks a tag
  naming the running minor version (``py315``) above ``py3``, so Python 3.9-3.17, where
  ``.pth`` import lines still run, install this one, and 3.18+ (which ignores import
  lines) can only install the ``py3`` wheel.
"""

from __future__ import annotations

import os
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

VARIABLE = "OTEL_AUTOGUARD_WHEEL"
# The versions whose site still runs .pth import lines (silently ignored from 3.18).
PTH_ONLY_TAG = ".".join(f"py3{minor}" for minor in range(9, 18)) + "-none-any"


class HookFiles(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        kind = os.environ.get(VARIABLE) or "all"
        if kind not in ("all", "pth"):
            raise ValueError(f"{VARIABLE}={kind}: expected all or pth")
        if version == "editable" or kind == "all":
            build_data["force_include"]["hook/otel_autoguard.start"] = "otel_autoguard.start"
        else:
            build_data["tag"] = PTH_ONLY_TAG
