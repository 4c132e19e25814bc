"""The hand-over spool: its settings, its files, and who may send what (pure, on tmp_path)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from otel_autoguard import _spool, load_settings
from otel_autoguard._collector import message
from otel_autoguard._settings._collectors import Collector
from otel_autoguard._settings._spool import default_root, destination

URL = "http://collector:4318/v1/traces"


def test_spool_settings_defaults() -> None:
    spool = load_settings({"HOME": "/home/u"}).spool
    assert spool.enabled is True
    assert spool.root == "/home/u/.cache/otel-autoguard/spool"
    assert spool.max_bytes == 64 * 1024 * 1024
    assert spool.handover_timeout == 1.0


@pytest.mark.parametrize(
    ("environ", "root"),
    [
        ({"XDG_CACHE_HOME": "/c", "HOME": "/h"}, "/c/otel-autoguard/spool"),
        ({"HOME": "/h"}, "/h/.cache/otel-autoguard/spool"),
        ({"TMPDIR": "/t"}, f"/t/otel-autoguard-{os.getuid()}/spool"),
        ({}, f"/tmp/otel-autoguard-{os.getuid()}/spool"),
    ],
)
def test_default_root(environ: dict[str, str], root: str) -> None:
    assert default_root(environ) == root


def test_spool_settings_parsed() -> None:
    spool = load_settings(
        {
            "OTEL_AUTOGUARD_SPOOL": "off",
            "OTEL_AUTOGUARD_SPOOL_DIR": "/s",
            "OTEL_AUTOGUARD_SPOOL_MAX_MB": "0.5",
            "OTEL_AUTOGUARD_HANDOVER_TIMEOUT": "2.5",
        }
    ).spool
    assert (spool.enabled, spool.root, spool.max_bytes, spool.handover_timeout) == (
        False,
        "/s",
        512 * 1024,
        2.5,
    )


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        (
            "OTEL_AUTOGUARD_SPOOL",
            "maybe",
            "accepted: true/false (also 1/0, yes/no, on/off); using true",
        ),
        ("OTEL_AUTOGUARD_SPOOL_MAX_MB", "-1", "accepted: a number of MiB > 0; using 64"),
        ("OTEL_AUTOGUARD_HANDOVER_TIMEOUT", "soon", "accepted: a number of seconds > 0; using 1"),
    ],
)
def test_malformed_spool_values_are_named(name: str, value: str, problem: str) -> None:
    settings = load_settings({name: value})
    assert settings.problems == (f"{name}={value!r} is not valid; {problem}",)


def test_destination_follows_the_exporters_rules() -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/",
        "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20t0ken,x-team=a",
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=shop,team=a",
    }
    found = destination(environ)
    assert found.url == "http://c:4318/v1/traces"
    assert found.headers == (("authorization", "Bearer t0ken"), ("x-team", "a"))
    assert found.service == "shop"
    own = destination({**environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:1/x"})
    assert own.url == "http://t:1/x"


def test_put_claim_done(tmp_path: Path) -> None:
    spool = _spool.Spool(str(tmp_path), "shop", URL, 1 << 20)
    assert spool.put(b"first") is None and spool.put(b"second") is None
    batch = next(Path(spool.folder).glob("*.otlp"))
    assert stat.S_IMODE(batch.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(spool.folder).stat().st_mode) == 0o700
    claimed = list(spool.claim())
    assert [data for _claim, data in claimed] == [b"first", b"second"]
    # Claimed by this process: another one (or a second pass) gets nothing.
    assert list(spool.claim()) == []
    _spool.done(claimed[0][0])
    _spool.release(claimed[1][0])
    assert [data for _claim, data in spool.claim()] == [b"second"]


def test_a_full_spool_refuses(tmp_path: Path) -> None:
    spool = _spool.Spool(str(tmp_path), "shop", URL, 10)
    assert spool.put(b"12345678") is None
    assert spool.put(b"123") == "it is full (0 MiB, OTEL_AUTOGUARD_SPOOL_MAX_MB)"
    assert spool.size() == 8


def test_a_spool_that_cannot_be_written_says_why(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    spool = _spool.Spool(str(tmp_path / "file"), "shop", URL, 1 << 20)
    assert spool.put(b"batch") == "NotADirectoryError: Not a directory"


def test_a_stale_claim_is_taken_back(tmp_path: Path) -> None:
    spool = _spool.Spool(str(tmp_path), "shop", URL, 1 << 20)
    spool.put(b"batch")
    ((claimed, _data),) = spool.claim()
    os.utime(claimed, (1, 1))  # left long ago by a process that died while sending
    assert [data for _claim, data in spool.claim()] == [b"batch"]


def test_a_claim_of_a_process_that_is_gone_is_taken_back(tmp_path: Path) -> None:
    spool = _spool.Spool(str(tmp_path), "shop", URL, 1 << 20)
    spool.put(b"batch")
    ((claimed, _data),) = spool.claim()
    gone = _finished_pid()
    os.rename(claimed, claimed.replace(f".{os.getpid()}.sending", f".{gone}.sending"))
    assert [data for _claim, data in spool.claim()] == [b"batch"]


def _finished_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_one_folder_per_service_and_collector(tmp_path: Path) -> None:
    root = str(tmp_path)
    _spool.Spool(root, "shop", URL, 1 << 20).put(b"a")
    _spool.Spool(root, "shop", "http://other:4318/v1/traces", 1 << 20).put(b"bb")
    _spool.Spool(root, "../etc", URL, 1 << 20).put(b"ccc")
    found = {(s.service, s.url): (s.batches, s.size) for s in _spool.summaries(root)}
    assert found == {
        ("shop", URL): (1, 1),
        ("shop", "http://other:4318/v1/traces"): (1, 2),
        ("../etc", URL): (1, 3),
    }
    assert all(Path(s.folder).parent == tmp_path for s in _spool.summaries(root))
    assert _spool.clear(root) == 3
    assert _spool.summaries(root) == []


def _collector(signal: str) -> Collector:
    return Collector(signal, "http://c:4318", "OTEL_EXPORTER_OTLP_ENDPOINT", "c", 4318)


def test_refused_line_says_spans_are_kept() -> None:
    gone = [_collector(s) for s in ("traces", "metrics", "logs")]
    assert message(gone, spooled=True) == (
        "the collector refuses connections at http://c:4318 (OTEL_EXPORTER_OTLP_ENDPOINT: "
        "traces, metrics, logs): this process's spans wait in the spool for the next "
        "process to send; its metrics and logs are dropped at exit"
    )
    assert "dropped at exit instead of retried" in message(gone, spooled=False)
    assert message(gone[:1], spooled=True).endswith("for the next process to send")
