"""``smsc`` command-line refusals that come before anything starts (tester 59): each gets one clear line and exit
status 2, never a traceback or a setting silently ignored."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Iterator

import pytest
import structlog

from smsc.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _logging_untouched() -> Iterator[None]:
    """A refusal comes before ``serve`` sets up logging; were it to, the next tests would log to a closed
    capture file."""
    before = structlog.get_config()
    yield
    assert structlog.get_config() == before


def test_check_config_with_an_empty_file_name_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    # `smsc check-config "$CONFIG"` with CONFIG unset checked the bundled default and said "None: OK".
    for argv in (["check-config", ""], ["check-config", "-c", ""]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "smsc check-config: error: the file name is empty" in err
        assert err.startswith("usage: smsc check-config")  # (its own usage line, not smsc's)


def test_serve_with_an_empty_config_file_name_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    """Tester 183: `serve -c ""` said ": cannot read the file: No such file or directory", naming no file."""
    assert main(["serve", "-c", "", "--store", "memory", "--port", "0", "--http-port", "0"]) == 2
    assert capsys.readouterr().err == "smsc: -c/--config: the file name is empty\n"


def test_no_http_with_an_http_option_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    # Tester 64: --no-http won silently over --http-port.
    assert main(["serve", "--no-http", "--http-port", "0", "--store", "memory", "--port", "0"]) == 2
    assert capsys.readouterr().err.strip() == ("smsc: --no-http: the HTTP API is off, so --http-port, --http-host "
                                               "and --http-allowed-host have nothing to set; give one or the other")


def test_refusals_in_a_json_log_are_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Tester 121: with --log-format json, exactly the errors (a bad option, a bad config) came as plain text."""
    import json

    assert main(["serve", "--log-format", "json", "--http-allowed-host", "smsc,other", "--store", "memory"]) == 2
    (record,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert (record["event"], record["level"]) == ("cannot_start", "error")
    assert record["error"] == ("--http-allowed-host: expected a host name without port, path or wildcard, such as "
                               "smsc or smsc.lab.example (IP addresses are always answered), got 'smsc,other'")
    assert record["timestamp"].endswith("Z")
    config = tmp_path / "bad.yaml"
    config.write_text("accounts: [{system_id: a, password: b, max_binds: -1}]\n")
    assert main(["serve", "--log-format", "json", "-c", str(config)]) == 2
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [r["event"] for r in records] == ["config_error", "cannot_start"]
    assert records[0]["error"].startswith(f"{config}: accounts[0].max_binds: expected ")
    assert records[1]["error"] == "not starting: 1 error(s) in the config"
    # Tester 122: a bad option value (argparse's own refusal) was still usage text.
    for argv in (["serve", "--log-format", "json", "--time-scale", "abc"], ["serve", "--log-format=json", "--port", "x"]):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2
        (record,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
        assert record["event"] == "usage_error" and record["error"].startswith("smsc serve: argument ")
    with pytest.raises(SystemExit):
        main(["serve", "--time-scale", "abc"])
    assert capsys.readouterr().err.startswith("usage: smsc serve")  # (plain without a JSON log)


def test_db_with_a_memory_store_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "x.sqlite"
    assert main(["serve", "--store", "memory", "--db", str(db), "--port", "0", "--no-http"]) == 2
    assert capsys.readouterr().err.strip() == (
        "smsc: --db: names a SQLite file, but the store is in memory (--store memory)")
    config = tmp_path / "memory.yaml"
    config.write_text("accounts: [{system_id: a, password: b}]\nstore: {kind: memory}\n")
    assert main(["serve", "-c", str(config), "--db", str(db), "--port", "0", "--no-http"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"smsc: --db: names a SQLite file, but the store is in memory (store.kind: memory in {config})")
    assert not db.exists()


def _tls_config(tmp_path: Path) -> Path:
    tls = ROOT / "tests" / "unit" / "tls"
    config = tmp_path / "tls.yaml"
    config.write_text("accounts: [{system_id: a, password: b}]\nstore: {kind: memory}\n"
                      f"server: {{port: 2775, tls: {{port: 3775, certfile: {tls / 'test-cert.pem'}, "
                      f"keyfile: {tls / 'test-key.pem'}}}}}\n")
    return config


def test_a_port_option_equal_to_another_listener_of_smsc_is_named(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # --port equal to the config's TLS port was reported as "address already in use", a port only smsc held.
    config = _tls_config(tmp_path)
    assert main(["serve", "-c", str(config), "--port", "3775", "--no-http"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"smsc: --port 3775 with {config}: server.tls.port: expected a port other than server.port (3775): the TLS "
        "listener is a second one, got 3775")
    assert main(["serve", "-c", str(config), "--http-port", "3775"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"smsc: --http-port 3775 with {config}: http.port: expected a port other than server.tls.port (3775): the "
        "HTTP API is a listener of its own, got 3775")
    assert main(["serve", "--store", "memory", "--port", "2999", "--http-port", "2999"]) == 2
    assert "smsc: --port 2999 --http-port 2999 with bundled default" in capsys.readouterr().err
    # On addresses apart the same ports do not clash, port 0 never.
    from smsc.cli import _build_parser, _options_clash
    from smsc.config import load_config

    loaded = load_config(config)
    args = _build_parser().parse_args(["serve", "--host", "127.0.0.1", "--http-port", "3775", "--http-host",
                                       "127.0.0.2"])
    assert _options_clash(args, loaded) is None
    args = _build_parser().parse_args(["serve", "--port", "0", "--http-port", "0"])
    assert _options_clash(args, loaded) is None


def test_the_example_without_smpplib_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # `pip install -e .` installs smsc alone: the README's first client stopped with a ModuleNotFoundError.
    monkeypatch.setitem(sys.modules, "smpplib", None)
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(ROOT / "examples" / "send_and_receive.py"), run_name="__main__")
    assert exit_.value.code == ("this example needs smpplib, an SMPP client library: .venv/bin/pip install smpplib")


def test_check_config_notes_a_store_file_that_is_not_an_smsc_store(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Tester 67: check-config said plain OK to another application's database, which serve then refused.
    import sqlite3

    db = tmp_path / "users.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    config = tmp_path / "c.yaml"
    config.write_text(f"accounts: [{{system_id: a, password: b}}]\nstore: {{path: '{db}'}}\n")
    assert main(["check-config", str(config)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"{config}: OK"
    assert (f"{config}: note: store.path '{db}' is not an smsc store here: it is another application's database (it "
            "holds users, which no smsc store has): serve would not start here") in err.splitlines()


def test_check_config_notes_a_store_file_that_is_no_sqlite_file(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # Tester 69: check-config said plain OK; serve then said "file is not a database".
    db = tmp_path / "notes.txt"
    db.write_text("my notes\n")
    config = tmp_path / "c.yaml"
    config.write_text(f"accounts: [{{system_id: a, password: b}}]\nstore: {{path: '{db}'}}\n")
    assert main(["check-config", str(config)]) == 0
    assert (f"{config}: note: store.path '{db}' is not an smsc store here: 9 octets: no SQLite database (its header "
            "alone is 100 octets); delete the file for a new store: serve would not start here"
            ) in capsys.readouterr().err.splitlines()


def test_check_config_notes_a_config_without_topology(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Tester 104: a config with an account only passed, and the README's test numbers then did nothing (the bundled
    topology is not merged in); with a topology of its own there is no note."""
    config = tmp_path / "c.yaml"
    config.write_text("accounts: [{system_id: a, password: b}]\n")
    assert main(["check-config", str(config)]) == 0
    assert capsys.readouterr().err.strip() == (
        f"{config}: note: no topology: one carrier delivers every message after about 3 s (at most 30 s), and the "
        "test numbers of the bundled config (447700900910 and the others in README) do nothing here; copy "
        "config/default.yaml and change it to keep them")
    assert main(["check-config", str(ROOT / "config" / "example.yaml")]) == 0
    assert capsys.readouterr().err == ""
    config.write_text("accounts: [{system_id: a, password: b}]\ntopology: {country_code: '1'}\n")  # (tester 109)
    assert main(["check-config", str(config)]) == 0
    assert "note: no topology" in capsys.readouterr().err


def test_a_stop_signal_before_the_server_takes_signals_over_ends_it_with_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Tester 130: SIGTERM or SIGHUP in the first moments of `smsc serve` (before its loop's handlers) killed it
    without a word, and Ctrl-C then gave a KeyboardInterrupt traceback, in a JSON log too."""
    import json
    import os
    import signal
    import time

    from smsc import cli, entry

    def serve_then_signal(args: object) -> int:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # (the signal ends this first)
        return 0

    monkeypatch.setattr(cli, "_serve", serve_then_signal)
    monkeypatch.setattr("sys.argv", ["smsc", "serve", "--log-format", "json"])
    before = signal.getsignal(signal.SIGTERM)
    assert entry.main() == 143
    (record,) = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert (record["event"], record["error"]) == ("stopped_before_start", "stopped by SIGTERM before it started")
    assert signal.getsignal(signal.SIGTERM) == before  # (handed back)

    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_serve", interrupted)
    monkeypatch.setattr("sys.argv", ["smsc", "serve"])
    assert entry.main() == 130
    assert capsys.readouterr().err.strip() == "smsc: stopped by SIGINT before it started"


def test_the_command_entry_stops_with_one_line_on_a_signal_during_its_imports(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Tester 131: the handlers above came after the imports of the server, a quarter of a second in which SIGTERM
    killed the command without a word.  smsc.entry, the console script's entry, takes the signals first."""
    import os
    import signal
    import time

    from smsc import cli, entry

    def imports_then_signal(argv: object = None) -> int:
        os.kill(os.getpid(), signal.SIGHUP)
        time.sleep(5)  # (the signal ends this first)
        return 0

    monkeypatch.setattr(cli, "main", imports_then_signal)
    monkeypatch.setattr("sys.argv", ["smsc", "serve"])
    before = signal.getsignal(signal.SIGHUP)
    assert entry.main() == 128 + signal.SIGHUP
    assert capsys.readouterr().err.strip() == "smsc: stopped by SIGHUP before it started"
    assert signal.getsignal(signal.SIGHUP) == before
