"""What the end-to-end tests check again and again: one span per request, idle processes."""

from __future__ import annotations

from collections import Counter

from tests.support.receiver import Receiver, Span

# A process's own exit report (OTEL_AUTOGUARD_DEBUG) when it holds no SDK at all.
NO_PROVIDERS = "tracer=none meter=none logger=none"
NO_SDK = f"{NO_PROVIDERS} threads=MainThread"
# The same, as the process records it (OTEL_AUTOGUARD_DECISION_LOG).
NO_SDK_HELD = {
    "providers": {"tracer": "none", "meter": "none", "logger": "none"},
    "threads": ["MainThread"],
}
# Spans stay queued until their process exits: only its exit path can deliver them.
HOLD = {"OTEL_BSP_SCHEDULE_DELAY": "60000"}


def one_span_per_request(receiver: Receiver, answered: Counter[int]) -> list[Span]:
    """Every request exactly one server span, from the process that answered it
    (``answered``: responses per pid), each process with its own identity."""
    total = sum(answered.values())
    spans = receiver.wait_for_server_spans(total)
    assert len(spans) == total
    assert len({s.span_id for s in spans}) == total, "duplicate spans"
    assert Counter(s.pid for s in spans) == answered
    assert len({(s.pid, s.instance) for s in spans}) == len({s.instance for s in spans})
    assert len({s.instance for s in spans}) == len(answered)
    return spans
