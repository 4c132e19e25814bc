"""Which instrumentors are installed and which import each waits for: read from folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_autoguard._instrumentors import Found, installed, target

FLASK = "opentelemetry.instrumentation.flask:FlaskInstrumentor"


def dist(folder: Path, name: str, entry_points: str | None) -> Path:
    info = folder / f"{name}.dist-info"
    info.mkdir(parents=True)
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    return info


@pytest.mark.parametrize(
    ("name", "known", "expected"),
    [
        ("flask", {"flask"}, "flask"),
        ("requests", {"requests", "flask"}, "requests"),
        ("mysql", set(), "mysql.connector"),
        ("aiohttp-client", set(), "aiohttp"),
        ("grpc_aio_server", set(), "grpc"),
        ("tortoiseorm", set(), "tortoise"),
        # After the celery command's gevent/eventlet monkey-patching (see _MODULES).
        ("celery", {"celery"}, "celery.app"),
        # The standard library is imported long before the application: at serving.
        ("logging", {"logging"}, None),
        ("threading", {"threading"}, None),
        ("sqlite3", {"sqlite3"}, None),
        ("urllib", {"urllib"}, None),
        ("asyncio", {"asyncio"}, None),
        ("system_metrics", {"psutil"}, None),
        # A vendor's name that is no importable module: at serving, not never.
        ("acme-db", {"acme"}, None),
        ("acme_db", {"acme"}, None),
    ],
)
def test_target(name: str, known: set[str], expected: str | None) -> None:
    assert target(name, frozenset(known)) == expected


def test_installed_reads_entry_points_and_importable_names(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = dist(
        site,
        "opentelemetry_instrumentation_flask-0.66b1",
        "# a comment\n[console_scripts]\nflask = not.this:main\n\n"
        f"[opentelemetry_instrumentor]\nflask = {FLASK}\n",
    )
    dist(site, "flask-3.1.3", "[console_scripts]\nflask = flask.cli:main\n")
    dist(site, "no_entry_points-1.0", None)
    (site / "flask").mkdir()
    (site / "six.py").write_text("", encoding="utf-8")
    found = installed([str(site), str(tmp_path / "missing"), str(tmp_path / "lib.zip")])
    assert found.instrumentors == [Found("flask", FLASK, str(info))]
    assert {"flask", "six", "opentelemetry_instrumentation_flask-0"} <= found.names


def test_the_first_distribution_of_a_name_wins(tmp_path: Path) -> None:
    """As importlib.metadata does: a second copy further down sys.path is shadowed."""
    first = dist(tmp_path / "a", "Acme_Instr-2.0", "[opentelemetry_instrumentor]\nacme = a:I\n")
    dist(tmp_path / "b", "acme.instr-1.0", "[opentelemetry_instrumentor]\nacme = b:I\n")
    found = installed([str(tmp_path / "a"), str(tmp_path / "b")])
    assert found.instrumentors == [Found("acme", "a:I", str(first))]


def test_an_unreadable_entry_points_file_is_no_entry_point(tmp_path: Path) -> None:
    info = dist(tmp_path, "broken-1.0", None)
    (info / "entry_points.txt").mkdir()  # a folder where the file should be
    assert installed([str(tmp_path)]).instrumentors == []
