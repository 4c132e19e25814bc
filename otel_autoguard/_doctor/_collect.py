"""Read this interpreter and its installation: files, packages, entry points, modules.

Everything that looks outside the environment mapping lives here; a fact that
cannot be read is reported as unknown (with why), never as a crash of the doctor.
"""

from __future__ import annotations

import importlib.util
import os
import site
import sys
from collections.abc import Iterable
from typing import Any

from .. import _boundary
from .._settings import Settings
from .._settings._doctor import DoctorEnv
from . import _exports
from ._model import Facts, HookFile

GROUPS = (
    "opentelemetry_traces_exporter",
    "opentelemetry_metrics_exporter",
    "opentelemetry_logs_exporter",
    "opentelemetry_traces_sampler",
    "opentelemetry_configurator",
    "opentelemetry_distro",
)
AGENTS = ("ddtrace", "newrelic")
GRPC_EXPORTER = "opentelemetry.exporter.otlp.proto.grpc"
_HOOK_NAMES = {"otel_autoguard.pth": "pth", "otel_autoguard.start": "start"}
_EXPECTED = {"pth": "otel_autoguard._hook", "start": "otel_autoguard._hook:start"}


def site_dirs() -> list[str]:
    """The directories whose ``.pth`` files ``site`` reads at start, in its order."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    seen: dict[str, str] = {}
    for path in dirs:
        seen.setdefault(os.path.realpath(path), path)
    return list(seen.values())


def hook_files() -> tuple[HookFile, ...]:
    found = []
    for directory in site_dirs():
        for name, kind in _HOOK_NAMES.items():
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    found.append(HookFile(path, kind, _EXPECTED[kind] in f.read()))
    return tuple(found)


def hook_state(env: DoctorEnv, files: Iterable[HookFile]) -> dict[str, Any]:
    """Whether the hook ran in this interpreter, read from its own module state."""
    from .. import _boundary, _hook

    if _hook.started():
        process = sys.modules.get("otel_autoguard._process")
        decided = _hook.decision()
        # A skipped process never loads the state machine (see _hook.start).
        if process is not None:
            role = process.PROCESS.snapshot()["role"]
        else:
            role = str(decided.role) if decided is not None else None
        failure = _boundary.last_failure
        if failure:
            detail = f"ran and failed: {failure}"
        elif role is not None:
            detail = f"ran; this process's role: {role}"
        else:
            detail = "ran; otel-autoguard is inactive in this process"
        return {"ran": True, "detail": detail, "role": str(role) if role else None}
    if sys.flags.no_site:
        detail = "did not run: site is disabled (python -S), so no .pth file is read"
    elif not env.has_otel_variables:
        detail = "did not run: no OTEL_* variable is set, so the .pth line imports nothing"
    elif not any(f.kind == "pth" for f in files):
        detail = "did not run: otel_autoguard.pth is not in any site directory"
    else:
        detail = "did not run, although otel_autoguard.pth is in place and OTEL_* is set"
    return {"ran": False, "detail": detail, "role": None}


def python_info() -> dict[str, str]:
    return {
        "version": sys.version.split()[0],
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "prefix": sys.prefix,
    }


def _distributions() -> Iterable[Any]:
    from importlib.metadata import distributions

    return distributions()


def opentelemetry_packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for dist in _distributions():
        name = str(dist.metadata["Name"] or "")
        if name.lower().replace("_", "-").startswith("opentelemetry-"):
            found.setdefault(name, str(dist.version))
    return dict(sorted(found.items()))


def _entry_points(group: str) -> list[Any]:
    from opentelemetry.util._importlib_metadata import entry_points

    return list(entry_points(group=group))


def entry_point_names() -> dict[str, frozenset[str]]:
    names = {}
    for group in GROUPS:
        try:
            names[group] = frozenset(ep.name for ep in _entry_points(group))
        except Exception as exc:  # noqa: BLE001 - reported as a fact: the group is unknown
            why = _boundary.describe(exc)
            _boundary.emit(None, f"doctor: reading the entry points {group} failed ({why})")
            names[group] = frozenset()
    return names


def instrumentations(disabled: Iterable[str]) -> list[dict[str, Any]]:
    """Installed instrumentors and whether ``_load_instrumentors`` would apply each."""
    try:
        from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts
    except ImportError as exc:  # a broken installation is what the doctor is run for
        why = _boundary.describe(exc)
        return [{"name": "?", "package": "?", "applies": False, "detail": f"unknown: {why}"}]

    off = set(disabled)
    found = []
    for ep in _entry_points("opentelemetry_instrumentor"):
        dist = getattr(ep, "dist", None)
        package = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "?"
        if ep.name in off:
            applies, detail = False, "disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"
        else:
            conflict: object = None
            try:
                conflict = get_dist_dependency_conflicts(dist) if dist is not None else None
            except Exception as exc:  # noqa: BLE001 - shown in the output instead
                conflict = _boundary.describe(exc)
            applies = conflict is None
            detail = "applies" if applies else f"not applied: {conflict}"
        found.append({"name": ep.name, "package": package, "applies": applies, "detail": detail})
    return sorted(found, key=lambda item: str(item["name"]))


def sitecustomize() -> tuple[str | None, str]:
    module = sys.modules.get("sitecustomize")
    path = getattr(module, "__file__", None)
    if not path:
        return None, ""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return str(path), f.read()
    except OSError as exc:
        return str(path), f"(unreadable: {exc})"


def facts(settings: Settings, env: DoctorEnv, distro_defaults_undone: bool = False) -> Facts:
    grpc = _has(GRPC_EXPORTER)
    path, text = sitecustomize()
    return Facts(
        settings=settings,
        env=env,
        exports=_exports.resolve(env, grpc_installed=grpc),
        entry_points=entry_point_names(),
        hook_files=hook_files(),
        sitecustomize=path,
        sitecustomize_text=text,
        loaded_modules=frozenset(name for name in AGENTS if name in sys.modules),
        installed=frozenset(name for name in AGENTS if _has(name)),
        distro_defaults_undone=distro_defaults_undone,
    )


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
