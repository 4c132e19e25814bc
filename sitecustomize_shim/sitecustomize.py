# otel-autoguard's sitecustomize shim, for processes that cannot have the package
# installed into their environment: put the folder holding this file on PYTHONPATH.
# docs/shim.md, "Injecting without pip install", says how to build such a folder.
#
# Any Python that inherits PYTHONPATH runs this file, so it must parse everywhere
# (Python 2 included): no f-strings, annotations or other recent syntax.
import os
import sys

# `python -m otel_autoguard.shim DIR` sets this to the cache tag of the Python that
# made the folder (e.g. "cpython-311"): the folder's compiled dependencies only fit
# that one. None: a bare shim (the package lives in the environment, if at all);
# any Python 3.9+ that can import otel_autoguard starts the hook.
_BUILT_FOR = None

_HERE = os.path.dirname(os.path.abspath(__file__))


def _is_here(entry, here=_HERE):
    # By inode: catches duplicates, trailing slashes and symlinks to this folder.
    try:
        return os.path.samefile(entry, here)
    except (OSError, TypeError, ValueError):
        return False


def _is_shim(origin):
    # Another folder's copy of this shim (say one injected, one in the image) would
    # chain back to this one: skip it, and run what comes after both.
    try:
        with open(origin) as f:
            return f.readline().startswith("# otel-autoguard's sitecustomize shim")
    except (OSError, TypeError, ValueError, UnicodeError):
        return False


def _chain():
    """Run the sitecustomize this folder hides, as site would have without it.

    It runs under the name ``sitecustomize`` and is ``sys.modules["sitecustomize"]``
    afterwards. Relative entries ("" is the working directory) are not searched.
    """
    # importlib.machinery's PathFinder is this object; the import system has loaded it
    # already, while importing importlib (and warnings) would cost every process ~0.7 ms.
    PathFinder = getattr(sys.modules.get("_frozen_importlib_external"), "PathFinder", None)
    if PathFinder is None:
        from importlib.machinery import PathFinder

    path = [p for p in sys.path if isinstance(p, str) and os.path.isabs(p) and not _is_here(p)]
    spec = PathFinder.find_spec("sitecustomize", path)
    while spec is not None and spec.origin and _is_shim(spec.origin):
        other = os.path.dirname(spec.origin)
        path = [p for p in path if not _is_here(p, other)]
        spec = PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    from importlib.util import module_from_spec

    ours = sys.modules.get("sitecustomize")
    module = module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:
        sys.modules["sitecustomize"] = ours
        # The same report as site.execsitecustomize (3.9-3.13).
        if isinstance(err, ImportError) and err.name == "sitecustomize":
            return
        if sys.flags.verbose:
            sys.excepthook(*sys.exc_info())
        else:
            sys.stderr.write(
                "Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
                "%s: %s\n" % (err.__class__.__name__, err)
            )


def _behind_site_packages():
    # The application's own packages (its Flask, its OpenTelemetry) win over the
    # copies in this folder, which only fill in what the environment lacks.
    entries = [p for p in sys.path if not _is_here(p)]
    if len(entries) != len(sys.path):
        sys.path[:] = entries + [_HERE]


def _start():
    # The same gate and entry point as otel_autoguard.pth; _hook.start() runs once
    # per process even when that .pth is installed too.
    if not any(k.startswith("OTEL_") for k in os.environ):
        return
    try:
        from otel_autoguard import _hook
    except ImportError as err:
        if _BUILT_FOR is None:
            return  # a bare shim: this environment simply does not have otel-autoguard
        sys.stderr.write(
            "otel-autoguard: the sitecustomize shim in %s cannot import otel_autoguard "
            "(%s: %s); install otel-autoguard into that folder or the environment; "
            "telemetry is off in this process\n" % (_HERE, err.__class__.__name__, err)
        )
        return
    _hook.start()


if sys.version_info >= (3, 5):
    try:
        _chain()
    finally:
        _behind_site_packages()
        if sys.version_info >= (3, 9) and _BUILT_FOR in (None, sys.implementation.cache_tag):
            _start()
