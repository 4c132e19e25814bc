"""The application sets up OpenTelemetry itself: each span exported once, one warning.

The rule is in docs/manual-setup.md ("When the application sets up OpenTelemetry itself").
Each case runs a real app from tests/e2e/apps (manual.py, manual_factory.py)
that sets up tracing the way users do, counts server spans by span id at the
real receiver, reads the one ``otel-autoguard:`` warning and the file:line it
names, and checks the reloader parent stayed idle (its own exit line).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.checks import NO_SDK
from tests.support.procs import APPS, Proc, Venv, free_port, get, otel_env, wait_port
from tests.support.receiver import Receiver

N = 5
APP_SHUT_DOWN = "tracer=TracerProvider(shut-down) meter=none logger=none threads=MainThread"


def site(app: str, marker: str) -> str:
    """``app.py:LINE`` of the line marked ``# site:<marker>`` in an example app."""
    lines = (APPS / app).read_text().splitlines()
    (number,) = [i for i, line in enumerate(lines, 1) if line.endswith(f"# site:{marker}")]
    return f"{app}:{number}"


def ours_runs_it(at: str, endpoint: str) -> str:
    return (
        f"otel-autoguard: {at}: the application adds a span pipeline (OTLPSpanExporter to "
        f"{endpoint}/v1/traces) that otel-autoguard already runs (configured from "
        "OTEL_EXPORTER_OTLP_ENDPOINT); not added, so each span is exported once"
    )


def app_runs_it(at: str, endpoint: str) -> str:
    return (
        f"otel-autoguard: {at}: the application already exports spans with OTLPSpanExporter "
        f"to {endpoint}/v1/traces; otel-autoguard did not add its own pipeline to the same "
        "destination, so each span is exported once"
    )


def second_of_apps(at: str, first: str, endpoint: str) -> str:
    return (
        f"otel-autoguard: {at}: a second span pipeline (OTLPSpanExporter to "
        f"{endpoint}/v1/traces) equivalent to the one added at {first}; otel-autoguard did "
        "not add it, so each span is exported once"
    )


def warnings(proc: Proc) -> list[str]:
    """What a user sees from otel-autoguard besides the debug lines."""
    return [
        line
        for line in proc.output().splitlines()
        if line.startswith("otel-autoguard:") and not line.startswith("otel-autoguard: pid=")
    ]


@dataclass
class Run:
    proc: Proc
    port: int


def start(
    procs: list[Proc],
    venv: Venv,
    app_dir: Path,
    receiver: Receiver,
    *,
    cmd: str,
    setup: str,
    instrument: bool = False,
    **env: str,
) -> Run:
    port = free_port()
    argv = {
        "app.py debug": [venv.python, "manual.py", "debug"],
        "app.py nodebug": [venv.python, "manual.py", "nodebug"],
        "flask run --debug": [
            venv.bin("flask"), "--app", "manual_factory", "run", "--debug", "--port", str(port),
        ],
        "flask run": [venv.bin("flask"), "--app", "manual_factory", "run", "--port", str(port)],
    }[cmd]  # fmt: skip
    if instrument:
        argv = [venv.bin("opentelemetry-instrument"), *argv]
    environ = otel_env(
        receiver.endpoint,
        PORT=str(port),
        MANUAL_SETUP=setup,
        PATH=f"{venv.path / 'bin'}:{os.environ['PATH']}",
        **env,
    )
    proc = Proc(argv, app_dir, environ, app_dir / f"{setup}.log")
    procs.append(proc)
    wait_port(port, proc)
    return Run(proc, port)


def serve_and_stop(run: Run, receivers: list[Receiver]) -> int:
    """N requests, Ctrl-C, then every receiver must hold exactly N server spans, once each."""
    (server,) = {int(get(run.port).split()[-1]) for _ in range(N)}
    run.proc.signal(signal.SIGINT, group=True)
    assert run.proc.wait() == 0
    ids = None
    for receiver in receivers:
        spans = receiver.wait_for_server_spans(N)
        assert len(spans) == N, run.proc.output()
        assert len({s.span_id for s in spans}) == N, "a span was exported twice"
        assert {s.pid for s in spans} == {server}
        ids = ids or {s.span_id for s in spans}
        assert {s.span_id for s in spans} == ids, "receivers got different spans"
    out = run.proc.output()
    for noise in ("Overriding of current", "Attempting to instrument", "Traceback"):
        seen = [line for line in out.splitlines() if noise in line]
        assert all(line.startswith("otel-autoguard: pid=") for line in seen), out
    return server


def check_parent(run: Run, child: int, exit_state: str) -> None:
    parent = run.proc.pid
    assert child != parent
    assert run.proc.configured_pids() == [child]
    assert run.proc.exit_line(parent) == f"exit role=reloader-parent {exit_state}"


# (command, MANUAL_SETUP, which warning, where, exit state of the reloader parent or None)
CASES = [
    ("app.py debug", "module-top", "ours", "manual.py/provider-add", APP_SHUT_DOWN),
    ("app.py nodebug", "module-top", "app", "manual.py/provider-add", None),
    ("app.py debug", "run-main", "ours", "manual.py/provider-add", NO_SDK),
    ("app.py debug", "add", "ours", "manual.py/add", NO_SDK),
    ("app.py nodebug", "add", "ours", "manual.py/add", None),
    ("app.py debug", "twice", "ours", "manual.py/provider-add", APP_SHUT_DOWN),
    ("app.py nodebug", "twice", "second", "manual.py/provider-add", None),
    ("flask run --debug", "setup-tracing", "ours", "manual_factory.py/provider-add",
     APP_SHUT_DOWN),
    ("flask run", "setup-tracing", "app", "manual_factory.py/provider-add", None),
    ("flask run --debug", "own-provider", "ours", "manual_factory.py/own-provider-add",
     APP_SHUT_DOWN),
    ("flask run", "own-provider", "app", "manual_factory.py/own-provider-add", None),
    ("flask run --debug", "init", "ours", "manual_factory.py/add", NO_SDK),
    ("flask run", "init", "ours", "manual_factory.py/add", None),
]  # fmt: skip


def expected_warning(kind: str, where: str, endpoint: str) -> str:
    at = site(*where.split("/"))
    if kind == "ours":
        return ours_runs_it(at, endpoint)
    if kind == "app":
        return app_runs_it(at, endpoint)
    return second_of_apps(at, at, endpoint)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[1]}-{c[0].replace(' ', '_')}" for c in CASES])
@pytest.mark.core
def test_equivalent_pipeline_is_added_once_with_one_warning(
    procs: list[Proc],
    venv: Venv,
    app_dir: Path,
    receiver: Receiver,
    case: tuple[str, str, str, str, str | None],
) -> None:
    cmd, setup, kind, where, parent = case
    # init: two create_app() calls per process, each of which runs it.
    calls = "2" if setup == "init" else "1"
    run = start(procs, venv, app_dir, receiver, cmd=cmd, setup=setup, FACTORY_CALLS=calls)
    server = serve_and_stop(run, [receiver])
    assert warnings(run.proc) == [expected_warning(kind, where, receiver.endpoint)]
    if parent is None:
        assert run.proc.configured_pids() == [server] == [run.proc.pid]
    else:
        check_parent(run, server, parent)


@pytest.fixture
def collectors(receiver: Receiver) -> Iterator[tuple[Receiver, Receiver]]:
    """OTEL_EXPORTER_OTLP_ENDPOINT's, and the legacy app's own collector elsewhere."""
    r = Receiver().start()
    yield receiver, r
    r.stop()


@pytest.mark.parametrize(
    "case",
    [
        ("app.py debug", "module-top"),
        ("app.py nodebug", "module-top"),
        ("app.py debug", "add"),
        ("flask run --debug", "setup-tracing"),
        ("flask run --debug", "own-provider"),
        ("flask run", "own-provider"),
    ],
    ids=lambda c: f"{c[1]}-{c[0].replace(' ', '_')}",
)
@pytest.mark.core
def test_the_apps_own_collector_keeps_its_spans(
    procs: list[Proc],
    venv: Venv,
    app_dir: Path,
    collectors: tuple[Receiver, Receiver],
    case: tuple[str, str],
) -> None:
    cmd, setup = case
    receiver, app_collector = collectors
    run = start(
        procs, venv, app_dir, receiver, cmd=cmd, setup=setup,
        APP_TRACES_ENDPOINT=f"{app_collector.endpoint}/v1/traces",
    )  # fmt: skip
    server = serve_and_stop(run, [receiver, app_collector])
    assert warnings(run.proc) == []
    if cmd in ("app.py debug", "flask run --debug"):  # under the reloader
        check_parent(run, server, APP_SHUT_DOWN if setup != "add" else NO_SDK)


@pytest.mark.core
def test_a_second_import_does_not_double_the_apps_own_pipeline(
    procs: list[Proc], venv: Venv, app_dir: Path, collectors: tuple[Receiver, Receiver]
) -> None:
    receiver, app_collector = collectors
    endpoint = f"{app_collector.endpoint}/v1/traces"
    run = start(
        procs, venv, app_dir, receiver, cmd="app.py debug", setup="twice",
        APP_TRACES_ENDPOINT=endpoint,
    )  # fmt: skip
    server = serve_and_stop(run, [receiver, app_collector])
    at = site("manual.py", "provider-add")
    assert warnings(run.proc) == [second_of_apps(at, at, app_collector.endpoint)]
    check_parent(run, server, APP_SHUT_DOWN)


@pytest.mark.core
def test_without_debug_the_user_sees_one_line(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    run = start(
        procs, venv, app_dir, receiver, cmd="app.py debug", setup="module-top",
        OTEL_AUTOGUARD_DEBUG="false",
    )  # fmt: skip
    serve_and_stop(run, [receiver])
    ours = [line for line in run.proc.output().splitlines() if "otel-autoguard" in line]
    assert ours == [ours_runs_it(site("manual.py", "provider-add"), receiver.endpoint)]


@pytest.mark.parametrize(
    "case",
    [(v, s) for v in ("3.9", "3.13") for s in ("module-top", "add")],
    ids=lambda c: f"{c[1]}-{c[0]}",
)
def test_on_other_pythons(
    procs: list[Proc],
    venvs: dict[str, Venv],
    app_dir: Path,
    receiver: Receiver,
    case: tuple[str, str],
) -> None:
    version, setup = case
    run = start(procs, venvs[version], app_dir, receiver, cmd="app.py debug", setup=setup)
    server = serve_and_stop(run, [receiver])
    where = "provider-add" if setup == "module-top" else "add"
    assert warnings(run.proc) == [ours_runs_it(site("manual.py", where), receiver.endpoint)]
    check_parent(run, server, APP_SHUT_DOWN if setup == "module-top" else NO_SDK)


@pytest.mark.core
def test_each_reloaded_child_follows_the_same_rule(
    procs: list[Proc], venv: Venv, app_dir: Path, receiver: Receiver
) -> None:
    run = start(procs, venv, app_dir, receiver, cmd="app.py debug", setup="module-top")
    children = []
    for edit in range(2):
        if edit:
            with open(app_dir / "manual.py", "a") as f:
                f.write("\n# edited\n")  # below every marked line: the sites keep their numbers
        children.append(run.proc.wait_configured(edit + 1)[-1])
        wait_port(run.port, run.proc)
        assert {int(get(run.port).split()[-1]) for _ in range(N)} == {children[-1]}
    run.proc.signal(signal.SIGINT, group=True)
    assert run.proc.wait() == 0
    spans = receiver.wait_for_server_spans(2 * N)
    assert len(spans) == 2 * N == len({s.span_id for s in spans})
    assert sorted(s.pid for s in spans) == sorted(children * N)
    # One line per serving process: the parent says nothing, each child the same.
    warning = ours_runs_it(site("manual.py", "provider-add"), receiver.endpoint)
    assert warnings(run.proc) == [warning, warning]
    assert run.proc.configured_pids() == children
    assert run.proc.exit_line(run.proc.pid) == f"exit role=reloader-parent {APP_SHUT_DOWN}"
