"""Tester 70's command-line findings, run as a user runs them: the installed ``smsc`` script in a subprocess, on
real files.  A FIFO as store.path hung ``check-config`` for ever; YAML nested 500 levels deep gave a traceback;
outbind.host passed check-config in forms no connection can use."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .conftest import smsc_command

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's smsc, wherever the script was installed from
FIFO_WHAT = ("store.path: expected the name of a regular file, or of none yet (smsc makes it), not of a FIFO "
             "(named pipe), got 'fifo.sqlite'")


def smsc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``smsc ARGS`` in ``cwd``; a run that does not end within 20 s fails the test (subprocess kills it)."""
    return subprocess.run([*smsc_command(), *args], cwd=cwd, capture_output=True, text=True, timeout=20, env=ENV)


def test_check_config_answers_at_once_for_a_fifo_as_store_path(tmp_path: Path) -> None:
    # Tester 70: "sp.yaml: OK", then a hang until `timeout` killed it (rc 124).
    os.mkfifo(tmp_path / "fifo.sqlite")
    (tmp_path / "sp.yaml").write_text("store: {path: fifo.sqlite}\naccounts: [{system_id: t, password: t}]\n")
    run = smsc(tmp_path, "check-config", "sp.yaml")
    assert run.returncode == 1, run
    assert run.stdout == ""  # (no "OK": serve would refuse it)
    assert run.stderr.splitlines() == [f"sp.yaml: {FIFO_WHAT}", "sp.yaml: 1 error(s)"]


def test_serve_refuses_a_fifo_as_store_path_by_the_same_rule_from_the_file_or_db(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.sqlite")
    (tmp_path / "sp.yaml").write_text("store: {path: fifo.sqlite}\naccounts: [{system_id: t, password: t}]\n")
    (tmp_path / "ok.yaml").write_text("accounts: [{system_id: t, password: t}]\n")
    base = ("serve", "--host", "127.0.0.1", "--port", "0", "--no-http")
    run = smsc(tmp_path, *base, "-c", "sp.yaml")
    assert run.returncode == 2, run
    assert run.stderr.splitlines() == [f"sp.yaml: {FIFO_WHAT}", "smsc: not starting: 1 error(s) in the config"]
    # --db: it was refused only by SQLite, as a "disk I/O error".
    run = smsc(tmp_path, *base, "-c", "ok.yaml", "--db", "fifo.sqlite")
    assert run.returncode == 2, run
    assert run.stderr.splitlines() == [f"smsc: cannot start: ok.yaml with --db: {FIFO_WHAT}"]
    # Nothing was made beside it (no lock, no -wal or -shm): the file was never opened.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.sqlite", "ok.yaml", "sp.yaml"]


def test_yaml_nested_500_deep_is_one_error_line_in_check_config_and_serve(tmp_path: Path) -> None:
    # Tester 70's deepn.yaml: a RecursionError traceback, rc 1 and rc 2.
    (tmp_path / "deepn.yaml").write_text("accounts: [{system_id: t, password: t}]\nserver: " + "[" * 500
                                         + "]" * 500 + "\n")
    line = ("deepn.yaml: expected lists and mappings nested a few levels deep, as in config/example.yaml, got a "
            "document nested too deeply to read (hundreds of levels)")
    run = smsc(tmp_path, "check-config", "deepn.yaml")
    assert (run.returncode, run.stderr.splitlines()) == (1, [line, "deepn.yaml: 1 error(s)"]), run
    run = smsc(tmp_path, "serve", "-c", "deepn.yaml", "--port", "0", "--no-http", "--store", "memory")
    assert (run.returncode, run.stderr.splitlines()) == (2, [line, "smsc: not starting: 1 error(s) in the config"]), run


def test_check_config_refuses_an_outbind_host_no_connection_can_use(tmp_path: Path) -> None:
    # Tester 70's ob_hostport.yaml and ob_hostsp.yaml printed OK; serve then logged outbind_failed at every
    # retry_interval.
    (tmp_path / "ob.yaml").write_text(
        "accounts:\n"
        "  - {system_id: shop, password: s3cret, outbind: {host: \"127.0.0.1:2776\", port: 2776}}\n"
        "  - {system_id: other, password: s3cret, outbind: {host: \"not a host\", port: 2776}}\n"
        "  - {system_id: third, password: s3cret, outbind: {host: esme.example.com}}\n")
    run = smsc(tmp_path, "check-config", "ob.yaml")
    assert run.returncode == 1, run
    what = "expected the ESME's IP address or host name (for example 10.0.0.5, ::1, esme.example.com)"
    assert run.stderr.splitlines() == [
        f"ob.yaml: accounts[0].outbind.host: {what} without a port: the port belongs in accounts[0].outbind.port, "
        "got '127.0.0.1:2776'",
        f"ob.yaml: accounts[1].outbind.host: {what}, got 'not a host'",
        "ob.yaml: accounts[2].outbind.port: expected a TCP port from 1 to 65535, got nothing (the key is missing)",
        "ob.yaml: 3 error(s)",
    ]


def test_check_config_hints_to_quote_a_password_yaml_reads_as_a_number(tmp_path: Path) -> None:
    (tmp_path / "pw.yaml").write_text("accounts: [{system_id: t, password: 1e3}]\n")
    run = smsc(tmp_path, "check-config", "pw.yaml")
    assert run.returncode == 1, run
    assert run.stderr.splitlines()[0] == (
        "pw.yaml: accounts[0].password: expected a password of at most 8 characters, got a value that is not text "
        "(not shown; YAML reads it as a number: quote it: password: \"...\")")
    assert "1e3" not in run.stderr and "1000" not in run.stderr  # (a password is never shown)
    (tmp_path / "pw.yaml").write_text("accounts: [{system_id: t, password: \"1e3\"}]\nstore: {kind: memory}\n")
    run = smsc(tmp_path, "check-config", "pw.yaml")
    assert (run.returncode, run.stdout) == (0, "pw.yaml: OK\n"), run


@pytest.mark.parametrize("log_format", ["console", "json"])
def test_serve_at_log_level_warning_still_says_where_it_listens(tmp_path: Path, log_format: str) -> None:
    """Tester 77: at --log-level warning the "listening" lines are left out, and with --port 0 the port could not
    be found at all.  One line says it (a JSON object in a JSON log: tester 78), and the port named takes a bind."""
    import json
    import re
    import select
    import socket

    proc = subprocess.Popen(
        [*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--http-port", "0",
         "--http-host", "127.0.0.1", "--store", "memory", "--log-level", "warning", "--log-format", log_format],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stderr], [], [], 30)  # (bounded: a silent child fails here)
        assert ready, "nothing on stderr within 30 s"
        line = proc.stderr.readline()  # (the first line at this level)
        if log_format == "json":
            record = json.loads(line)
            assert record["event"] == "listening" and record["http"].startswith("127.0.0.1:"), record
            assert record["timestamp"].endswith("Z"), record  # (tester 121: the one line without a time)
            line = f"smsc: listening: SMPP on {record['smpp']}, HTTP on {record['http']}\n"
        found = re.fullmatch(r"smsc: listening: SMPP on 127\.0\.0\.1:(\d+), HTTP on 127\.0\.0\.1:(\d+)\n", line)
        assert found, line
        with socket.create_connection(("127.0.0.1", int(found.group(1))), timeout=5):
            pass
    finally:
        _stop(proc)


def test_serve_answers_a_host_name_given_with_http_allowed_host(tmp_path: Path) -> None:
    """Tester 121: Prometheus scraping ``smsc:8080`` got 403, and the name could only be allowed in a config file,
    which replaces the bundled one whole."""
    import json
    import select
    import urllib.error
    import urllib.request

    proc = subprocess.Popen(
        [*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--http-port", "0",
         "--http-host", "127.0.0.1", "--store", "memory", "--log-level", "warning", "--log-format", "json",
         "--http-allowed-host", "Prom.Example.", "--http-allowed-host", "smsc"],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stderr], [], [], 30)  # (bounded: a silent child fails here)
        assert ready, "nothing on stderr within 30 s"
        url = f"http://{json.loads(proc.stderr.readline())['http']}/api/health"

        def status(host: str) -> int:
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers={"Host": host}), timeout=5) as resp:
                    return int(resp.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        assert [status(h) for h in ("prom.example:8080", "smsc", "other.example")] == [200, 200, 403]
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[str]) -> None:
    """Stop a ``smsc serve`` this test started, by its own process id: SIGTERM, then SIGKILL after 15 s."""
    import signal

    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def test_the_console_log_writes_control_characters_an_esme_sent_as_escapes(tmp_path: Path) -> None:
    """Tester 126: a system_id holding a terminal escape sequence reached the console log raw, for the terminal
    showing it to obey."""
    import re
    import select
    import socket
    import struct

    proc = subprocess.Popen(
        [*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--no-http", "--store", "memory"],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    seen = b""
    try:
        assert proc.stderr is not None
        port = 0
        for _ in range(20):  # (the console log's first lines, up to its "listening ... port=N protocol=smpp")
            ready, _, _ = select.select([proc.stderr], [], [], 30)
            assert ready, "nothing on stderr within 30 s"
            line = proc.stderr.readline()
            seen += line
            found = re.search(rb"listening .* port=(\d+) protocol=smpp", line)
            if found:
                port = int(found.group(1))
                break
        assert port, seen
        body = b"\x1b[2J\x07evil\0" + b"pw\0" + b"\0" + b"\x34\0\0\0"
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(struct.pack(">IIII", 16 + len(body), 9, 0, 1) + body)
            assert sock.recv(64)  # (its bind_resp: ESME_RINVSYSID)
    finally:
        _stop(proc)
    assert proc.stderr is not None
    log = seen + proc.stderr.read()
    assert b"\x1b" not in log and b"\x07" not in log
    assert b"\\x1b[2J\\x07evil" in log


@pytest.mark.parametrize("after", [0.0, 0.1, 0.3])
def test_serve_stopped_at_any_moment_of_its_start_says_so_in_json(tmp_path: Path, after: float) -> None:
    """Testers 130, 131: SIGTERM in the first quarter second (the imports) killed `smsc serve` without a word, and
    Ctrl-C printed a traceback into a JSON log.  Whenever it comes now, every line is JSON and the end is said:
    stopped_before_start and 143, or the usual stop and 0."""
    import json
    import signal
    import time

    proc = subprocess.Popen(
        [*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--no-http", "--store", "memory",
         "--log-format", "json"], cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        for _ in range(500):  # (until its first step caught SIGTERM: before, the signal's default is all there is)
            with open(f"/proc/{proc.pid}/status") as status_file:
                caught = int(next(line for line in status_file if line.startswith("SigCgt:")).split()[1], 16)
            if caught & (1 << (signal.SIGTERM - 1)):
                break
            time.sleep(0.01)
        time.sleep(after)
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=30)
    finally:
        _stop(proc)
    assert proc.stderr is not None
    records = [json.loads(line) for line in proc.stderr.read().splitlines()]  # (every line JSON)
    events = [r["event"] for r in records]
    if status == 143:
        assert events == ["stopped_before_start"], events
    else:
        assert status == 0 and events[-1] == "stopped", (status, events)
