"""The package under test is the checkout's, whatever is installed where pytest runs."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _use_the_checkout() -> None:
    """Forget an installed otel-autoguard that was imported before pytest started.

    An installed wheel's hook imports its own copy at interpreter start: the ``.start``
    entry always (Python 3.15+), the ``.pth`` line when an ``OTEL_`` variable is set.
    The unit tests would then test that copy instead of the checkout.
    """
    module = sys.modules.get("otel_autoguard")
    origin = getattr(module, "__file__", None)
    if module is None or (origin is not None and ROOT in Path(origin).resolve().parents):
        return
    ours = [n for n in sys.modules if n == "otel_autoguard" or n.startswith("otel_autoguard.")]
    for name in ours:
        del sys.modules[name]
    if sys.path[:1] != [str(ROOT)]:
        sys.path.insert(0, str(ROOT))


_use_the_checkout()
