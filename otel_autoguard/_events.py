"""What a server adapter may tell the process, and what it is given at install.

Adapters (``_servers``) report events through this interface; they never import
the state machine (:mod:`._process` implements it and passes itself in).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Protocol

    from ._roles import Decision
    from ._settings import Settings

    class Events(Protocol):
        def serving(self, source: str, *, fallback: bool = False) -> None:
            """A server loop starts in this process: configure, once.

            ``fallback``: no known server hook said so; the process accepted a connection.
            """

        def reloader_parent(self, reason: str) -> None:
            """This process only watches files and restarts a serving child."""

        def supervising(self, reason: str) -> None:
            """This process starts and watches serving processes; its forks decide anew."""

        def never_serve(self, reason: str) -> None:
            """The SDK must never be configured in this process."""

        def forked(self) -> None:
            """A fork that skipped ``os.register_at_fork`` hooks (uWSGI's workers)."""

        def ending(self, signals: tuple[str, ...] = ("traces",), *, report: bool = False) -> None:
            """The process is about to ``os._exit``: no exit handler runs after it.

            ``signals``: what to flush now; ``report``: the process is one of its own
            (a pool process, not a forked request), whose exit is reported.
            """

        def flush(self) -> None:
            """A server's own exit hook runs: export what the process holds, now."""

        def library_ready(self, name: str) -> None:
            """A library held back from instrumentation at start is set up (``_otel.LATE``)."""


class Context(NamedTuple):
    """Given to each server adapter's ``install``."""

    settings: Settings
    decision: Decision
    events: Events
