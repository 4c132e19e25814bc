"""Which span pipelines are the same, and what happens to a second one."""

from __future__ import annotations

from typing import Any

import pytest

from otel_autoguard._callsite import OURS
from otel_autoguard._manual import AppSetup
from otel_autoguard._pipelines import (
    Pipeline,
    describe,
    equivalent,
    normalize_endpoint,
    same_exporter,
)
from otel_autoguard._settings import load_settings


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("http://localhost:4318/v1/traces", "http://localhost:4318/v1/traces"),
        ("http://127.0.0.1:4318/v1/traces/", "http://localhost:4318/v1/traces"),
        ("HTTP://LOCALHOST:4318/v1/traces", "http://localhost:4318/v1/traces"),
        ("http://[::1]:4318/v1/traces", "http://localhost:4318/v1/traces"),
        ("http://0.0.0.0:4318/v1/traces", "http://localhost:4318/v1/traces"),
        ("https://collector.example:443/v1/traces", "https://collector.example:443/v1/traces"),
        ("https://collector.example/v1/traces", "https://collector.example:443/v1/traces"),
        ("http://collector.example/v1/traces", "http://collector.example:80/v1/traces"),
        ("http://user:secret@collector.example:4318/x", "http://collector.example:4318/x"),
        ("localhost:4317", "http://localhost:4317"),
        ("  http://localhost:4318  ", "http://localhost:4318"),
        ("http://[2001:db8::1]:4318", "http://[2001:db8::1]:4318"),
        ("http://host:notaport/x", "http://host/x"),
    ],
)
def test_normalize_endpoint(url: str, normal: str) -> None:
    assert normalize_endpoint(url) == normal


class OTLPSpanExporter:
    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint


class OtherExporter(OTLPSpanExporter):
    pass


class Stream:
    name = "<stdout>"


class ConsoleSpanExporter:
    out = Stream()


class Custom:
    pass


class Processor:
    def __init__(self, exporter: Any = None) -> None:
        if exporter is not None:
            self.span_exporter = exporter
        self.shut_down = 0

    def shutdown(self) -> None:
        self.shut_down += 1


def pipeline(exporter: Any) -> Pipeline:
    found = describe(Processor(exporter))
    assert found is not None
    return found


def test_describe() -> None:
    p = pipeline(OTLPSpanExporter("http://127.0.0.1:4318/v1/traces"))
    assert p.kind == f"{__name__}.OTLPSpanExporter"
    assert p.destination == "http://localhost:4318/v1/traces"
    assert p.label == "OTLPSpanExporter to http://127.0.0.1:4318/v1/traces"
    assert pipeline(ConsoleSpanExporter()).destination == "stream <stdout>"
    assert pipeline(Custom()).destination is None
    assert pipeline(Custom()).label == "Custom"
    assert describe(Processor()) is None  # exports nothing we can see


def test_equivalent() -> None:
    a = pipeline(OTLPSpanExporter("http://localhost:4318/v1/traces"))
    assert equivalent(a, pipeline(OTLPSpanExporter("http://127.0.0.1:4318/v1/traces/")))
    assert not equivalent(a, pipeline(OTLPSpanExporter("http://localhost:4319/v1/traces")))
    assert not equivalent(a, pipeline(OtherExporter("http://localhost:4318/v1/traces")))
    assert equivalent(pipeline(ConsoleSpanExporter()), pipeline(ConsoleSpanExporter()))
    # A destination we cannot tell is never a guess, unless it is the same exporter.
    one, two = Custom(), Custom()
    assert not equivalent(pipeline(one), pipeline(two))
    assert not equivalent(pipeline(one), pipeline(one))
    assert same_exporter(Processor(one), Processor(one))
    assert not same_exporter(Processor(one), Processor(two))
    assert not same_exporter(Processor(), Processor())


class Multi:
    def __init__(self) -> None:
        self._span_processors: tuple[Any, ...] = ()

    def add(self, processor: Any) -> None:
        self._span_processors += (processor,)


class Stderr:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self._seen = ""

    def getvalue(self) -> str:
        self._seen += self._capsys.readouterr().err
        return self._seen


@pytest.fixture
def stderr(capsys: pytest.CaptureFixture[str]) -> Stderr:
    return Stderr(capsys)


@pytest.fixture
def app() -> AppSetup:
    """A serving process's record of the application's own set-up (no patches installed)."""
    setup = AppSetup()
    setup.settings = load_settings({"OTEL_SERVICE_NAME": "x"})
    return setup


def test_a_second_equivalent_pipeline_is_shut_down_with_one_warning(
    stderr: Stderr, app: AppSetup
) -> None:
    multi = Multi()
    ours = Processor(OTLPSpanExporter("http://localhost:4318/v1/traces"))
    app.remember(ours, OURS)
    app.add(multi, ours, OURS, multi.add)
    apps = [Processor(OTLPSpanExporter("http://127.0.0.1:4318/v1/traces")) for _ in range(3)]
    for each in apps:
        app.add(multi, each, "app.py:7", multi.add)
    assert multi._span_processors == (ours,)
    assert [p.shut_down for p in apps] == [1, 1, 1] and ours.shut_down == 0
    assert stderr.getvalue().splitlines() == [
        "otel-autoguard: app.py:7: the application adds a span pipeline (OTLPSpanExporter to "
        "http://127.0.0.1:4318/v1/traces) that otel-autoguard already runs (configured from "
        "the default); not added, so each span is exported once"
    ]


def test_distinct_pipelines_are_all_kept(stderr: Stderr, app: AppSetup) -> None:
    multi = Multi()
    processors = [
        Processor(OTLPSpanExporter("http://localhost:4318/v1/traces")),
        Processor(OTLPSpanExporter("http://collector.example:4318/v1/traces")),
        Processor(ConsoleSpanExporter()),
        Processor(Custom()),
        Processor(Custom()),
        Processor(),
    ]
    for p in processors:
        app.add(multi, p, "app.py:1", multi.add)
    assert multi._span_processors == tuple(processors)
    assert stderr.getvalue() == ""


def test_ours_is_not_added_after_the_apps(stderr: Stderr, app: AppSetup) -> None:
    multi = Multi()
    apps = Processor(OTLPSpanExporter("http://localhost:4318/v1/traces"))
    app.remember(apps, "app.py:3")
    app.add(multi, apps, "app.py:3", multi.add)
    ours = Processor(OTLPSpanExporter("http://localhost:4318/v1/traces"))
    app.add(multi, ours, OURS, multi.add)
    app.add(multi, apps, "app.py:3", multi.add)  # the same object again: nothing to say
    assert multi._span_processors == (apps,) and ours.shut_down == 1 and apps.shut_down == 0
    assert stderr.getvalue().splitlines() == [
        "otel-autoguard: app.py:3: the application already exports spans with OTLPSpanExporter "
        "to http://localhost:4318/v1/traces; otel-autoguard did not add its own pipeline to the "
        "same destination, so each span is exported once"
    ]


def test_warnings_wait_until_the_role_is_known(stderr: Stderr, app: AppSetup) -> None:
    app.waiting = []  # as in a process whose role is not known yet
    multi = Multi()
    first = Processor(ConsoleSpanExporter())
    app.remember(first, "a.py:1")
    app.add(multi, first, "a.py:1", multi.add)
    app.add(multi, Processor(ConsoleSpanExporter()), "a.py:2", multi.add)
    assert stderr.getvalue() == ""
    app.say_waiting()
    assert stderr.getvalue().startswith(
        "otel-autoguard: a.py:2: a second span pipeline (ConsoleSpanExporter to stream "
        "<stdout>) equivalent to the one added at a.py:1; "
    )
    assert len(stderr.getvalue().splitlines()) == 1
