from __future__ import annotations

import pytest

from otel_autoguard import Role, detect_role

PY = "/app/.venv/bin/python"
PPID = 4242
CHILD = {"WERKZEUG_RUN_MAIN": "true", "OTEL_AUTOGUARD_RELOADER_PID": str(PPID)}

CASES = [
    # (environ, argv, role, reason contains)
    ({}, [PY, "app.py"], Role.DEFER, "app: role unknown at start"),
    ({}, [PY, "-u", "-X", "dev", "/srv/app.py", "--port", "1"], Role.DEFER, "app:"),
    (CHILD, [PY, "app.py"], Role.SERVE, "WERKZEUG_RUN_MAIN=true"),
    (CHILD, [PY, "/v/bin/flask", "run", "--debug"], Role.SERVE, "reloader child"),
    ({**CHILD, "WERKZEUG_RUN_MAIN": "false"}, [PY, "app.py"], Role.DEFER, "role unknown"),
    # What the serving child starts inherits WERKZEUG_RUN_MAIN but has another parent.
    ({**CHILD, "OTEL_AUTOGUARD_RELOADER_PID": "99"}, [PY, "-m", "pip", "list"], Role.SKIP, "pip"),
    ({**CHILD, "OTEL_AUTOGUARD_RELOADER_PID": "99"}, [PY, "app.py"], Role.DEFER, "app:"),
    ({"WERKZEUG_RUN_MAIN": "true"}, [PY, "app.py"], Role.DEFER, "app:"),
    # Under opentelemetry-instrument the role is decided as for any process
    # (_instrument_cli stands in for its sitecustomize).
    (
        {
            "PYTHONPATH": "/x:/v/lib/python3.11/site-packages/opentelemetry/instrumentation/"
            "auto_instrumentation"
        },
        [PY, "app.py"],
        Role.DEFER,
        "app: role unknown at start",
    ),
    # Django's autoreloader child: RUN_MAIN=true and its parent recorded its pid.
    (
        {"RUN_MAIN": "true", "OTEL_AUTOGUARD_RELOADER_PID": str(PPID)},
        [PY, "manage.py", "runserver"],
        Role.SERVE,
        "Django autoreloader child (RUN_MAIN=true)",
    ),
    (
        {"RUN_MAIN": "true", "OTEL_AUTOGUARD_RELOADER_PID": "99"},
        [PY, "manage.py", "runserver"],
        Role.DEFER,
        "manage:",
    ),
    ({"RUN_MAIN": "true"}, [PY, "manage.py", "runserver"], Role.DEFER, "manage:"),
    ({}, [PY, "manage.py", "runserver", "--noreload"], Role.DEFER, "manage:"),
    ({}, [PY, "/srv/manage.py", "test"], Role.SKIP, "manage.py test does not serve"),
    ({}, [PY, "manage.py", "--settings", "x.y", "migrate"], Role.SKIP, "manage.py migrate"),
    ({}, [PY, "manage.py", "-v", "2", "shell"], Role.SKIP, "manage.py shell"),
    ({}, [PY, "manage.py"], Role.SKIP, "manage.py (no command)"),
    ({}, [PY, "/v/bin/django-admin", "check"], Role.SKIP, "django-admin check"),
    ({}, [PY, "manage.py", "runserver_plus"], Role.DEFER, "manage:"),
    ({}, [PY, "-m", "django", "test"], Role.SKIP, "django test does not serve"),
    ({}, [PY, "-m", "django", "runserver"], Role.DEFER, "django:"),
    ({}, [PY, "-m", "unittest", "discover"], Role.SKIP, "unittest never serves"),
    ({}, [PY, "tests/runtests.py", "servers"], Role.SKIP, "runtests never serves"),
    # Pre-fork and supervising servers defer: their hooks settle the role later.
    ({}, [PY, "/v/bin/gunicorn", "-w", "2", "app:app"], Role.DEFER, "gunicorn:"),
    ({}, [PY, "-m", "uvicorn", "--reload", "app:app"], Role.DEFER, "uvicorn:"),
    ({}, [PY, "/v/bin/waitress-serve", "app:app"], Role.DEFER, "waitress-serve:"),
    ({}, [PY, "/v/bin/opentelemetry-instrument", "python", "app.py"], Role.SKIP, "never serves"),
    ({}, [PY, "/v/bin/flask", "run"], Role.DEFER, "flask run"),
    ({}, [PY, "/v/bin/flask", "--app", "run", "run", "--debug"], Role.DEFER, "flask run"),
    ({}, [PY, "/v/bin/flask", "--app=x:create_app()", "run"], Role.DEFER, "flask run"),
    ({}, [PY, "/v/bin/flask", "-A", "routes", "--debug", "run"], Role.DEFER, "flask run"),
    ({}, [PY, "-m", "flask", "--app", "app", "run"], Role.DEFER, "flask run"),
    ({}, [PY, "-mflask", "run"], Role.DEFER, "flask run"),
    ({}, [PY, "/v/bin/flask", "--app", "app", "routes"], Role.SKIP, "flask routes"),
    ({}, [PY, "/v/bin/flask", "shell"], Role.SKIP, "flask shell"),
    ({}, [PY, "/v/bin/flask"], Role.SKIP, "flask (no command)"),
    ({}, [PY, "/v/bin/flask", "serve-prod"], Role.DEFER, "flask serve-prod: serving is settled"),
    ({}, [PY, "-m", "coverage", "run", "app.py"], Role.DEFER, "coverage:"),
    ({}, [PY, "/v/bin/pip", "install", "x"], Role.SKIP, "pip never serves"),
    ({}, [PY, "/v/bin/pip3.11", "install", "x"], Role.SKIP, "pip never serves"),
    ({}, [PY, "-m", "pip", "install", "x"], Role.SKIP, "pip never serves"),
    ({}, [PY, "-m", "pip._internal", "list"], Role.SKIP, "pip never serves"),
    ({}, [PY, "/v/bin/pytest", "-q"], Role.SKIP, "pytest never serves"),
    ({}, [PY, "/v/bin/py.test"], Role.SKIP, "py.test never serves"),
    ({}, [PY, "-m", "pytest"], Role.SKIP, "pytest never serves"),
    ({}, [PY, "-m", "venv", "x"], Role.SKIP, "venv never serves"),
    ({}, [PY], Role.SKIP, "no program given"),
    ({}, [PY, "-i"], Role.SKIP, "no program given"),
    (
        {},
        [
            PY,
            "-c",
            "from multiprocessing.spawn import spawn_main; spawn_main()",
            "--multiprocessing-fork",
        ],
        Role.DEFER,
        "multiprocessing spawn child",
    ),
    (
        {},
        [PY, "-c", "from multiprocessing.resource_tracker import main;main(5)"],
        Role.SKIP,
        "multiprocessing",
    ),
    ({}, [PY, "-c", "import app; app.app.run()"], Role.DEFER, "-c: role unknown"),
    ({}, [PY, "-W", "error", "app.py"], Role.DEFER, "app:"),
    ({}, [PY, "/srv/mypkg/__main__.py"], Role.DEFER, "mypkg:"),
    ({}, [PY, "-"], Role.DEFER, "-:"),
]


@pytest.mark.parametrize(("environ", "argv", "role", "reason"), CASES)
def test_detect_role(environ: dict[str, str], argv: list[str], role: Role, reason: str) -> None:
    decision = detect_role(environ, argv, ppid=PPID)
    assert decision.role is role
    assert reason in decision.reason


@pytest.mark.parametrize(
    ("override", "role"), [("serve", Role.SERVE), ("skip", Role.SKIP), ("auto", Role.SKIP)]
)
def test_override_wins(override: str, role: Role) -> None:
    decision = detect_role({}, [PY, "-m", "pip"], override=override)
    assert decision.role is role
    if override != "auto":
        assert decision.reason == f"OTEL_AUTOGUARD_ROLE={override}"


def test_role_prints_as_its_value() -> None:
    assert str(Role.RELOADER_PARENT) == "reloader-parent"


SPAWN = [PY, "-c", "from multiprocessing.spawn import spawn_main; spawn_main()"]
SPAWN += ["--multiprocessing-fork"]


@pytest.mark.parametrize(
    ("parent_argv", "role", "reason"),
    [
        ([PY, "-m", "pytest", "-q"], Role.SKIP, "spawned by a process left alone (pytest"),
        ([PY, "/v/bin/pytest"], Role.SKIP, "spawned by a process left alone (pytest"),
        ([PY, "/v/bin/uvicorn", "--reload", "app:app"], Role.DEFER, "multiprocessing spawn"),
        ([PY, "pool_script.py"], Role.DEFER, "multiprocessing spawn"),
        (None, Role.DEFER, "multiprocessing spawn"),
    ],
)
def test_a_spawn_child_takes_after_a_parent_left_alone(
    parent_argv: list[str] | None, role: Role, reason: str
) -> None:
    decision = detect_role({}, SPAWN, parent_argv=parent_argv)
    assert decision.role is role
    assert reason in decision.reason


CELERY = [PY, "/v/bin/celery"]
RQ = [PY, "/v/bin/rq"]


@pytest.mark.parametrize(
    ("argv", "role", "reason"),
    [
        # Workers and beat run (or publish) tasks: their hooks settle the role.
        ([*CELERY, "-A", "proj", "worker", "-c", "2"], Role.DEFER, "celery:"),
        ([*CELERY, "--app", "inspect", "worker"], Role.DEFER, "celery:"),
        ([*CELERY, "--app=proj", "beat"], Role.DEFER, "celery:"),
        ([PY, "-m", "celery", "-A", "proj", "worker", "--pool", "solo"], Role.DEFER, "celery:"),
        ([*CELERY, "-A", "proj", "flower"], Role.DEFER, "celery:"),
        ([*CELERY, "-A", "proj", "inspect", "active"], Role.SKIP, "celery inspect runs no task"),
        ([*CELERY, "-b", "redis://x", "status"], Role.SKIP, "celery status"),
        ([*CELERY, "-A", "proj", "-q", "purge", "-f"], Role.SKIP, "celery purge"),
        ([PY, "-m", "celery", "-A", "proj", "shell"], Role.SKIP, "celery shell"),
        ([*CELERY, "-A", "proj", "events"], Role.SKIP, "celery events"),
        ([*CELERY, "-A", "proj", "call", "tasks.add"], Role.SKIP, "celery call"),
        ([*CELERY, "-A", "proj", "result", "abc"], Role.SKIP, "celery result"),
        ([*CELERY, "-A", "proj", "control", "shutdown"], Role.SKIP, "celery control"),
        ([*CELERY, "report"], Role.SKIP, "celery report"),
        ([*CELERY, "list", "bindings"], Role.SKIP, "celery list"),
        ([*CELERY, "upgrade", "settings", "x.py"], Role.SKIP, "celery upgrade"),
        ([*CELERY, "migrate", "a", "b"], Role.SKIP, "celery migrate"),
        ([*CELERY, "-A", "proj", "graph", "bootsteps"], Role.SKIP, "celery graph"),
        ([*CELERY, "amqp"], Role.SKIP, "celery amqp"),
        ([*CELERY, "multi", "start", "w1", "-A", "proj"], Role.SKIP, "celery multi"),
        ([*CELERY, "--workdir", "/srv", "--config", "c", "status"], Role.SKIP, "celery status"),
        (CELERY, Role.SKIP, "celery (no command)"),
        ([*RQ, "worker", "high", "default"], Role.DEFER, "rq:"),
        ([*RQ, "worker", "-w", "rq.worker.SimpleWorker"], Role.DEFER, "rq:"),
        ([*RQ, "info"], Role.SKIP, "rq info runs no job"),
        ([*RQ, "info", "-u", "redis://x"], Role.SKIP, "rq info"),
        ([*RQ, "-u", "redis://x", "empty", "default"], Role.SKIP, "rq empty"),
        ([*RQ, "requeue", "--all"], Role.SKIP, "rq requeue"),
        ([*RQ, "suspend"], Role.SKIP, "rq suspend"),
        ([*RQ, "resume"], Role.SKIP, "rq resume"),
        ([PY, "-m", "rq", "info"], Role.SKIP, "rq info"),
        (RQ, Role.SKIP, "rq (no command)"),
        # Only the programs themselves: an app of that name is not a tool.
        ([PY, "celery_app.py", "status"], Role.DEFER, "celery_app:"),
    ],
)
def test_celery_and_rq_tools_are_skipped(argv: list[str], role: Role, reason: str) -> None:
    decision = detect_role({}, argv)
    assert decision.role is role
    assert reason in decision.reason


# What multiprocessing.forkserver runs (CPython 3.11 and 3.14 alike), and the resource tracker.
FORKSERVER = [
    PY,
    "-c",
    "from multiprocessing.forkserver import main; main(7, 8, ['__main__'], "
    "**{'sys_path': ['/srv'], 'main_path': '/srv/app.py'})",
]
RESOURCE_TRACKER = [PY, "-c", "from multiprocessing.resource_tracker import main;main(5)"]


def test_the_forkserver_lets_its_forks_decide() -> None:
    # Its forks are the multiprocessing children of the default start method on Linux
    # from 3.14: a skip would be inherited by every one of them (no hook runs after a fork).
    decision = detect_role({}, FORKSERVER)
    assert decision.role is Role.SUPERVISOR
    assert "forkserver" in decision.reason
    assert "decide for themselves" in decision.reason


def test_the_resource_tracker_is_still_skipped() -> None:
    decision = detect_role({}, RESOURCE_TRACKER)
    assert decision.role is Role.SKIP
    assert "resource tracker" in decision.reason


@pytest.mark.parametrize(
    ("parent_argv", "role", "reason"),
    [
        ([PY, "-m", "pytest", "-q"], Role.SKIP, "forkserver started by a process left alone"),
        ([PY, "/v/bin/pip", "install", "x"], Role.SKIP, "(pip never serves"),
        ([PY, "app.py"], Role.SUPERVISOR, "multiprocessing forkserver"),
        (None, Role.SUPERVISOR, "multiprocessing forkserver"),
    ],
)
def test_a_forkserver_takes_after_a_parent_left_alone(
    parent_argv: list[str] | None, role: Role, reason: str
) -> None:
    decision = detect_role({}, FORKSERVER, parent_argv=parent_argv)
    assert decision.role is role
    assert reason in decision.reason


def test_the_override_wins_over_the_forkserver_rule() -> None:
    assert detect_role({}, FORKSERVER, override="skip").role is Role.SKIP
