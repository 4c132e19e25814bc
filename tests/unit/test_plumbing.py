from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import re
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
    # PEP 829: <name>.start beside <name>.pth (the same name makes Python 3.15+ run it
    # instead of the .pth's import line; dot-names are skipped), UTF-8, blank and '#'
    # lines ignored, every other line the colon form `pkg.mod:callable`, resolved with
    # pkgutil.resolve_name and called with no arguments.
    start = ROOT / "hook" / "otel_autoguard.start"
    assert start.with_suffix(".pth").is_file() and not start.name.startswith(".")
    lines = [line.strip() for line in start.read_bytes().decode("utf-8").splitlines()]
    entries = [line for line in lines if line and not line.startswith("#")]
    assert entries == ["otel_autoguard._hook:start"]
    dotted = r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*"
    for entry in entries:
        assert re.fullmatch(f"{dotted}:{dotted}", entry)
        function = pkgutil.resolve_name(entry)
        assert callable(function)
        inspect.signature(function).bind()  # takes no arguments


def test_guard_reports_one_line_and_carries_on(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings({"OTEL_EXPORTER_OTLP_HEADERS": "key=topsecret"})
    with _boundary.guard(settings, "doing a thing", "the thing is not done") as outcome:
        raise RuntimeError("bad\nthing with topsecret")
    err = capsys.readouterr().err
    assert err == (
        "otel-autoguard: doing a thing failed (RuntimeError: bad thing with [REDACTED]); "
        "the thing is not done\n"
    )
    assert not outcome.ok
    assert outcome.failure == "doing a thing failed (RuntimeError: bad\nthing with topsecret)"
    with _boundary.guard(settings, "doing it again", "never said") as outcome:
        pass
    assert outcome.ok and outcome.failure is None and capsys.readouterr().err == ""


def test_strict_guard_reraises(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings({"OTEL_AUTOGUARD_STRICT": "true"})
    with pytest.raises(RuntimeError), _boundary.guard(settings, "x", "y"):
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


def test_before_import_runs_before_the_modules_code_and_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "autoguard_probe_pre.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[str] = []
    assert _imports.before_import(
        "autoguard_probe_pre", lambda m: seen.append(f"pre {vars(m).get('VALUE')}")
    )
    _imports.when_imported("autoguard_probe_pre", lambda m: seen.append(f"post {m.VALUE}"))
    importlib.import_module("autoguard_probe_pre")

    assert seen == ["pre None", "post 1"]
    # Imported already: nothing is registered, and it says so.
    assert not _imports.before_import("autoguard_probe_pre", lambda m: seen.append("again"))
    del sys.modules["autoguard_probe_pre"]
    importlib.import_module("autoguard_probe_pre")
    assert seen == ["pre None", "post 1"]
    sys.modules.pop("autoguard_probe_pre")


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
    from otel_autoguard._patching import guarded

    def broken(module: object) -> None:
        raise AttributeError("module 'werkzeug.serving' has no attribute 'BaseWSGIServer'")

    guarded(load_settings({}), "werkzeug.serving", broken)(object())
    assert capsys.readouterr().err == (
        "otel-autoguard: hooking werkzeug.serving failed (AttributeError: module "
        "'werkzeug.serving' has no attribute 'BaseWSGIServer'); werkzeug.serving is used "
        "unpatched\n"
    )


def test_accept_fallback_fires_once_then_removes_itself(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import socket

    from otel_autoguard import detect_role
    from otel_autoguard._events import Context
    from otel_autoguard._servers import _socket

    calls: list[tuple[str, bool]] = []

    class Events:
        def serving(self, source: str, *, fallback: bool = False) -> None:
            calls.append((source, fallback))

    original = socket.socket.accept
    monkeypatch.setattr(socket.socket, "accept", original)
    _socket.install(Context(load_settings({}), detect_role({}, ["python", "x.py"]), Events()))  # type: ignore[arg-type]
    assert socket.socket.accept is not original
    # Unix sockets (multiprocessing's Manager and Listener) do not count.
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as unix:
        unix.bind(path)
        unix.listen()
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
            conn, _ = unix.accept()
            conn.close()
    assert socket.socket.accept is not original
    assert calls == []
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
    from otel_autoguard import Role
    from otel_autoguard._process import Process

    configured: list[str] = []

    class Recording(Process):
        def _configure(self, reason: str) -> bool:
            configured.append(reason)
            return True

    process = Recording()
    process.settings, process.role = load_settings({}), Role.DEFER
    process.supervising("a master")
    assert process.role is Role.SUPERVISOR
    # Neither the fallback nor a server hook configures the supervisor itself.
    process.serving("accepted", fallback=True)
    process.serving("a server hook")
    assert configured == []
    pid = os.fork()
    if pid == 0:  # the worker: starts as defer, a server hook configures it
        ok = process.role is Role.DEFER
        # serving() refuses in a process running pytest (a test's live server).
        sys.modules.pop("_pytest")
        process.serving("accepted", fallback=True)
        process.serving("worker starting")
        os._exit(0 if ok and configured == ["worker starting"] else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_sigterm_flush_is_not_inherited_by_forks() -> None:
    import signal

    from otel_autoguard import _exit

    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _exit.flush_on_sigterm(load_settings({}), lambda: None)
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        pid = os.fork()
        if pid == 0:  # e.g. a pool worker: SIGTERM ends it at once, as before
            os._exit(0 if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_unpatch_all_puts_back_exactly_what_was_there() -> None:
    import types

    from otel_autoguard import _patching

    class Server:
        def run(self) -> str:
            return "ran"

    class Worker(Server):
        pass

    module = types.ModuleType("fake_server")
    module.serve = lambda: "served"  # type: ignore[attr-defined]
    original_serve = module.serve  # type: ignore[attr-defined]
    seen: list[str] = []
    _patching.patch_method(Worker, "run", lambda: seen.append("worker"))  # inherited: not own
    _patching.patch_method(Worker, "run", lambda: seen.append("twice"))  # patched once only
    _patching.patch_method(Server, "run", lambda: seen.append("server"))
    _patching.replace(module, "serve", lambda: "patched")
    assert Worker().run() == "ran" and Server().run() == "ran" and seen == ["worker", "server"]
    assert _patching.is_patched(Server.run) and module.serve() == "patched"  # type: ignore[attr-defined]
    _patching.unpatch_all()
    assert not _patching.is_patched(Server.run) and "run" not in Worker.__dict__
    assert module.serve is original_serve  # type: ignore[attr-defined]
    seen.clear()
    assert Worker().run() == "ran" and seen == []


def test_import_hooks_can_be_uninstalled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "autoguard_probe_two.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    seen: list[int] = []
    _imports.when_imported("autoguard_probe_two", lambda m: seen.append(m.VALUE))
    assert any(type(f).__name__ == "_Finder" for f in sys.meta_path)
    _imports.uninstall()
    assert not any(type(f).__name__ == "_Finder" for f in sys.meta_path)
    import autoguard_probe_two  # type: ignore[import-not-found]

    assert autoguard_probe_two.VALUE == 1 and seen == []
    sys.modules.pop("autoguard_probe_two")


def test_a_configured_line_names_the_configurator_class() -> None:
    from otel_autoguard import _otel
    from otel_autoguard._decisions import Decided

    line = Decided("serve", "r", "configured", "", "opentelemetry.distro.OpenTelemetryConfigurator")
    assert line.text() == (
        "role=serve reason='r' action=configured by opentelemetry.distro.OpenTelemetryConfigurator"
    )
    # What configure_sdk returns for an entry point: its class, dotted.
    assert "entry_point.value" in inspect.getsource(_otel.configure_sdk)
