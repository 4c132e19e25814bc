from __future__ import annotations

import os
import pkgutil
import sys
from pathlib import Path

import pytest

from otel_autoguard import _boundary, _imports, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_pth_is_one_env_gated_import_line(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (ROOT / "hook" / "otel_autoguard.pth").read_text().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("import os; ")
    for name in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.delitem(sys.modules, "otel_autoguard._hook", raising=False)
    # site exec()s the line: with no OTEL_ variable it imports nothing of ours.
    exec(lines[0], {})
    assert "otel_autoguard._hook" not in sys.modules
    monkeypatch.setenv("OTEL_AUTOGUARD_ENABLED", "false")
    exec(lines[0], {})
    assert "otel_autoguard._hook" in sys.modules


def test_start_file_names_a_real_callable() -> None:
    # PEP 829: each non-comment line is `pkg.mod:callable`, resolved with pkgutil.resolve_name.
    entries = [
        line.strip()
        for line in (ROOT / "hook" / "otel_autoguard.start").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert entries == ["otel_autoguard._hook:start"]
    assert callable(pkgutil.resolve_name(entries[0]))


def test_guard_reports_one_line_and_carries_on(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings({"OTEL_EXPORTER_OTLP_HEADERS": "key=topsecret"})
    with _boundary.guard(settings, "doing a thing"):
        raise RuntimeError("bad\nthing with topsecret")
    err = capsys.readouterr().err
    assert err == (
        "otel-autoguard: doing a thing failed (RuntimeError: bad thing with [REDACTED]); "
        "telemetry is off in this process\n"
    )


def test_strict_guard_reraises(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings({"OTEL_AUTOGUARD_STRICT": "true"})
    with pytest.raises(RuntimeError), _boundary.guard(settings, "x"):
        raise RuntimeError("boom")
    assert capsys.readouterr().err.startswith("otel-autoguard: x failed")


def test_when_imported_runs_after_the_module_and_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "autoguard_probe_mod.py").write_text("VALUE = 41\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[int] = []
    _imports.when_imported("autoguard_probe_mod", lambda m: seen.append(m.VALUE + 1))
    import autoguard_probe_mod  # type: ignore[import-not-found]

    assert seen == [42]
    assert autoguard_probe_mod.__spec__.loader.__class__.__name__ == "SourceFileLoader"
    # Already imported: the callback runs at once.
    _imports.when_imported("autoguard_probe_mod", lambda m: seen.append(0))
    assert seen == [42, 0]
    sys.modules.pop("autoguard_probe_mod")


def test_argv_fallback_without_orig_argv_or_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    # Python 3.9 off Linux: during site, sys.argv has lost the -m module name.
    from otel_autoguard import _hook, detect_role

    monkeypatch.delattr(sys, "orig_argv", raising=False)
    monkeypatch.setattr(sys, "argv", ["-m", "install", "x"])

    def no_proc(*args: object, **kwargs: object) -> None:
        raise OSError("no /proc here")

    monkeypatch.setattr("builtins.open", no_proc)
    argv = _hook._argv()
    assert argv[1:] == ["-m", "<unknown module>", "install", "x"]
    assert detect_role({}, argv).role.value == "defer"  # not taken for a module "install"


def test_a_failing_server_hook_never_reaches_the_import(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from otel_autoguard._servers._patch import guarded

    def broken(module: object) -> None:
        raise AttributeError("module 'werkzeug.serving' has no attribute 'BaseWSGIServer'")

    guarded(load_settings({}), "werkzeug.serving", broken)(object())
    assert capsys.readouterr().err == (
        "otel-autoguard: hooking werkzeug.serving failed (AttributeError: module "
        "'werkzeug.serving' has no attribute 'BaseWSGIServer'); telemetry is off in this "
        "process\n"
    )


def test_accept_fallback_fires_once_then_removes_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from otel_autoguard import _lifecycle
    from otel_autoguard._servers import _socket

    calls: list[tuple[str, bool]] = []
    monkeypatch.setattr(
        _lifecycle, "serving", lambda source, fallback=False: calls.append((source, fallback))
    )
    original = socket.socket.accept
    monkeypatch.setattr(socket.socket, "accept", original)
    _socket.install(load_settings({}))
    assert socket.socket.accept is not original
    with socket.create_server(("127.0.0.1", 0)) as server:
        for _ in range(2):
            with socket.create_connection(server.getsockname()):
                conn, _ = server.accept()
                conn.close()
    assert socket.socket.accept is original
    assert calls == [("accepted a connection (no known server claimed it)", True)]


def test_a_supervisor_claims_its_process_and_its_forks_start_as_defer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from otel_autoguard import Role, _lifecycle

    configured: list[str] = []
    monkeypatch.setattr(_lifecycle, "_settings", load_settings({}))
    monkeypatch.setattr(_lifecycle, "_role", Role.DEFER)
    monkeypatch.setattr(_lifecycle, "_configured", False)
    monkeypatch.setattr(_lifecycle, "_server_known", False)
    monkeypatch.setattr(_lifecycle, "_configure", configured.append)
    _lifecycle.supervising("a master")
    assert _lifecycle._role is Role.SUPERVISOR
    # Neither the fallback nor a server hook configures the supervisor itself.
    _lifecycle.serving("accepted", fallback=True)
    _lifecycle.serving("a server hook")
    assert configured == []
    pid = os.fork()
    if pid == 0:  # the worker: starts as defer, a server hook configures it
        ok = _lifecycle._role is Role.DEFER
        # serving() refuses in a process running pytest (a test's live server).
        sys.modules.pop("_pytest")
        _lifecycle.serving("accepted", fallback=True)
        _lifecycle.serving("worker starting")
        os._exit(0 if ok and configured == ["worker starting"] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
