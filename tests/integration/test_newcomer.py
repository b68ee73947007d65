"""A newcomer's first five minutes: the installed ``smsc serve`` console script, the default config, smpplib."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.consts as C
import yaml

from .conftest import smsc_command, wait_for_port, read_until


def test_installed_console_script_serves_default_config_and_sends_receipts(tmp_path: Path) -> None:
    lines: list[str] = []
    proc = subprocess.Popen(
        [*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--no-http", "--log-format", "json"],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        port = wait_for_port(proc, lines)
        client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
        client.connect()
        try:
            client.bind_transceiver(system_id="test", password="test")
            resps: list[Any] = []
            receipts: list[Any] = []
            client.set_message_sent_handler(lambda pdu: resps.append(pdu))
            client.set_message_received_handler(lambda pdu: receipts.append(pdu))
            for i in range(5):
                client.send_message(
                    source_addr_ton=C.SMPP_TON_ALNUM, source_addr="ACME",
                    dest_addr_ton=C.SMPP_TON_INTL, dest_addr_npi=C.SMPP_NPI_ISDN, destination_addr="447700900123",
                    short_message=f"hello {i}".encode(), registered_delivery=1,
                )
            read_until(client, lambda: len(resps) == 5 and len(receipts) == 5, max_pdus=50)
            ids = {r.message_id.decode() for r in resps}
            assert len(ids) == 5 and all(r.status == 0 for r in resps)
            assert {r.receipted_message_id.decode() for r in receipts} == ids
            assert all(b"stat:DELIVRD" in r.short_message for r in receipts)
            client.unbind()
        finally:
            client.disconnect()
        assert any('"gc_paced"' in line for line in lines), "".join(lines)  # (smsc.gc_pacer runs under serve)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert any('"stopped"' in line for line in lines), "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_serve_with_an_unusable_store_path_names_the_config_file_and_the_key(tmp_path: Path) -> None:
    """Found by a tester: the error named store.path but not the file it came from (check-config cannot tell:
    it does not open the store), or that the path came from --db."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    config = tmp_path / "mine.yaml"
    root = Path(__file__).resolve().parents[2]
    default = (root / "config" / "default.yaml").read_text()
    assert "  path: smsc.sqlite" in default
    config.write_text(default.replace("  path: smsc.sqlite", f"  path: {blocker / 'x.sqlite'}", 1))
    base = [*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--no-http"]
    env = {**os.environ, "PYTHONPATH": str(root)}  # this checkout's smsc, wherever the script was installed from
    run = subprocess.run([*base, "-c", str(config)], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env=env)
    assert run.returncode == 2
    assert f"smsc: cannot start: {config}: store.path: cannot open '{blocker / 'x.sqlite'}'" in run.stderr
    assert "stopped" not in run.stdout + run.stderr  # (tester 18: it logged "stopped" for a server never started)
    run = subprocess.run([*base, "-c", str(config), "--db", str(blocker / "y.sqlite")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 2
    assert f"smsc: cannot start: {config} with --db: store.path: cannot open '{blocker / 'y.sqlite'}'" in run.stderr
    # Tester 18: --db '' was taken for no --db, and the server started on the config's file.
    run = subprocess.run([*base, "-c", str(config), "--db", ""], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, env=env)
    assert run.returncode == 2
    assert f"smsc: cannot start: {config} with --db: store.path: cannot open '': '' is not a file name" in run.stderr


def test_serve_on_a_port_in_use_names_the_option_or_the_key_and_the_address(tmp_path: Path) -> None:
    """Found by a tester: a listener that could not start said only why ("Name or service not known"), not which
    setting gave the address."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([*smsc_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-http",
                              "--store", "memory"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             env=env)
        assert run.returncode == 2
        assert (f"smsc: cannot start: --host and --port: cannot listen for SMPP on '127.0.0.1' port {port}: "
                in run.stderr), run.stderr
        assert "address already in use" in run.stderr and "Traceback" not in run.stderr
        config = tmp_path / "mine.yaml"
        raw = yaml.safe_load((root / "config" / "default.yaml").read_text())
        raw["http"] = {**raw.get("http", {}), "host": "127.0.0.1", "port": port}
        config.write_text(yaml.safe_dump(raw))
        run = subprocess.run([*smsc_command(), "serve", "-c", str(config), "--host", "127.0.0.1", "--port", "0",
                              "--store", "memory"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                             env=env)
        assert run.returncode == 2
        assert (f"smsc: cannot start: {config}: http.host and http.port: cannot listen for the HTTP API on "
                f"'127.0.0.1' port {port}: " in run.stderr), run.stderr
        # (testers 130, 142: the refusal came after core_started and stopped, and the SMPP port had been open a
        # moment; now the addresses are tried before anything starts)
        assert "core_started" not in run.stderr and "stopped" not in run.stderr, run.stderr
        assert "listening" not in run.stderr, run.stderr



def test_serve_refuses_a_listen_option_that_is_no_address_or_host_name(tmp_path: Path) -> None:
    # Tester 22: --host "" listened on every interface, where server.host "" in a config is refused.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for option, value in (("--host", ""), ("--http-host", "999.1.1.1")):
        run = subprocess.run([*smsc_command(), "serve", option, value, "--port", "0", "--store", "memory"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
        assert run.returncode == 2
        assert run.stderr.strip() == (f"smsc: {option}: expected an IP address or a host name to listen on (for "
                                      f"example 127.0.0.1, 0.0.0.0, ::, localhost), got {value!r}")


def test_serve_on_a_store_damaged_past_its_header_refuses_in_one_line(tmp_path: Path) -> None:
    """Found by tester 29: a SQLite file with a damaged page in the middle gave a 30-line traceback and exit code 1
    while the rows were read back (a damaged header already got the one-line refusal and exit code 2)."""
    import random

    from smsc.core.clock import FakeClock
    from smsc.core.store.sqlite import SqliteStore
    from tests.unit.test_smsc_support import INF, START, Harness, carrier, make_config, rule

    db = tmp_path / "damaged.sqlite"
    off = "447700900400"
    h = Harness(make_config(carrier(rules=(rule(off, offline=INF),)), max_waiting=10_000),
                store=SqliteStore(db), clock=FakeClock(START))
    for i in range(3000):
        h.submit_ok(off, f"waiting message number {i} " * 4)
    h.smsc.stop()
    h.store.close()
    size = db.stat().st_size
    assert size > 200_000
    with open(db, "r+b") as fh:
        fh.seek(size // 3)
        fh.write(random.Random(29).randbytes(8192))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run([*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--no-http", "--db",
                          str(db)], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "smsc: cannot start: " in run.stderr and f"store.path: cannot read '{db}': " in run.stderr
    assert "the file is damaged" in run.stderr
    assert "Traceback" not in run.stdout + run.stderr


def test_serve_on_a_store_with_a_garbage_header_says_the_file_is_damaged_not_unwritable(tmp_path: Path) -> None:
    """Tester 101: a file whose header was overwritten got "file is not a database" with a hint about write
    permissions and the directory, which starts an operator on the wrong trail."""
    from smsc.core.clock import FakeClock
    from smsc.core.store.sqlite import SqliteStore
    from tests.unit.test_smsc_support import START, Harness, make_config

    db = tmp_path / "header.sqlite"
    h = Harness(make_config(), store=SqliteStore(db), clock=FakeClock(START))
    h.smsc.stop()
    h.store.close()
    with open(db, "r+b") as fh:
        fh.write(b"GARBAGE GARBAGE GARBAGE")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = subprocess.run([*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--no-http", "--db",
                          str(db)], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 2, run.stderr[-2000:]
    assert f"store.path: cannot open '{db}': file is not a database (its header is not a SQLite database's: the " \
           "file is damaged or is another kind of file" in run.stderr, run.stderr[-2000:]
    assert "it can write" not in run.stderr and "Traceback" not in run.stderr


def test_serve_on_a_store_whose_index_is_damaged_stops_with_one_line_at_the_first_commit(tmp_path: Path) -> None:
    """Tester 38: damage in a page the start does not read (the root page of the messages table's index) let the
    server start; /api/health said ok, every commit failed with "database disk image is malformed", no submit_sm
    was ever answered, and a stop waited 30 s for commits that could not come.  Now the first such commit stops
    the server: exit status 2, one line on stderr, at once."""
    import random
    import sqlite3
    import time

    from smsc.core.clock import FakeClock
    from smsc.core.store.sqlite import SqliteStore
    from smsc.smpp import pdu as P
    from smsc.smpp.codec import Framer
    from tests.unit.test_smsc_support import INF, START, Harness, carrier, make_config, rule

    db = tmp_path / "index.sqlite"
    off = "447700900400"
    h = Harness(make_config(carrier(rules=(rule(off, offline=INF),)), max_waiting=10_000),
                store=SqliteStore(db), clock=FakeClock(START))
    for i in range(2000):
        h.submit_ok(off, f"waiting message number {i}")
    h.smsc.stop()
    h.store.close()
    with sqlite3.connect(db) as conn:
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_messages_1'"
                               ).fetchone()
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(random.Random(38).randbytes(page_size))
    root_dir = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root_dir)}
    proc = subprocess.Popen([*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--no-http", "--db",
                             str(db), "--log-format", "json"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        port = wait_for_port(proc, lines)
        # The expired messages' final states, written at start, meet the damaged index (so may a submit).
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                _bind_and_submit(sock)
                framer, got = Framer(), []
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:  # until the server closes
                    data = sock.recv(65536)
                    if not data:
                        break
                    got.extend(framer.feed(data))
            # Never acknowledged, as never stored.  (An error status may come: under load the bind can meet the
            # stop, and the submit is then answered ESME_RINVBNDSTS.)
            assert not [p for p in got if isinstance(p, P.SubmitSmResp) and p.command_status == 0]
        except (ConnectionRefusedError, ConnectionResetError):
            pass  # (stopped already)
        assert proc.wait(timeout=30) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    last = _stopped_line(lines)
    assert "malformed" in last and "the file is damaged" in last


def test_a_store_file_deleted_under_the_running_server_stops_it(tmp_path: Path) -> None:
    """Tester 57: after ``rm -rf`` of the data directory submits still got status 0 and /api/health said ok; the
    restart made a new empty file, and every message acknowledged was gone.  Now the server notices within its
    store watch (every second), stops, and says why: exit status 2, one line on stderr."""
    import time

    from smsc.smpp import pdu as P
    from smsc.smpp.codec import Framer

    data = tmp_path / "data"
    data.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--no-http", "--db",
                             str(data / "x.sqlite"), "--log-format", "json"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        port = wait_for_port(proc, lines)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            _bind_and_submit(sock)
            framer, got = Framer(), []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(isinstance(p, P.SubmitSmResp) for p in got):
                got.extend(framer.feed(sock.recv(65536)))
            assert [p.command_status for p in got if isinstance(p, P.SubmitSmResp)] == [0]
            for path in data.iterdir():
                path.unlink()
            data.rmdir()
            assert proc.wait(timeout=30) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "the file was deleted or moved away while smsc ran" in _stopped_line(lines)
    assert any('"event": "store_file_lost"' in line for line in lines)


def _bind_and_submit(sock: socket.socket) -> None:
    """As the ESME ``test``: bind_transmitter (sequence 1) and a submit_sm to a number delivered at once (2)."""
    from smsc.smpp import pdu as P
    from smsc.smpp.codec import encode

    sock.sendall(encode(P.BindTransmitter(sequence_number=1, system_id="test", password="test"))
                 + encode(P.SubmitSm(sequence_number=2, dest_addr_ton=1, dest_addr_npi=1,
                                     destination_addr="447700900123", short_message=b"hi")))


def _stopped_line(lines: list[str]) -> str:
    """The last line a ``smsc serve --log-format json`` that stopped for a fatal error wrote (its stderr read by
    :func:`wait_for_port`'s thread, which may still be taking it to its end): a JSON ``stopped_on_error`` record
    whose ``error`` starts ``stopped: `` (a JSON log's lines are all JSON: tester 121), after a log with no
    traceback."""
    import json
    import time

    def last_error() -> str:
        try:
            record = json.loads(lines[-1]) if lines else {}
        except ValueError:
            return ""
        return record.get("error", "") if record.get("event") == "stopped_on_error" else ""

    for _ in range(100):
        if last_error().startswith("stopped: "):
            break
        time.sleep(0.05)
    assert last_error().startswith("stopped: "), lines[-5:]
    assert not [line for line in lines if "Traceback" in line]
    return last_error()


def test_an_http_option_starts_the_api_where_the_config_turns_it_off(tmp_path: Path) -> None:
    """Tester 63: ``serve -c config/bench.yaml --http-port 0`` started no HTTP API (the file has http.enabled:
    false) and said nothing; the option asks for it."""
    import time

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([*smsc_command(), "serve", "-c", str(root / "config" / "bench.yaml"), "--store", "memory",
                             "--port", "0", "--host", "127.0.0.1", "--http-port", "0", "--log-format", "json"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        wait_for_port(proc, lines)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any('"protocol": "http"' in line for line in lines):
            time.sleep(0.05)
        assert any('"event": "listening"' in line and '"protocol": "http"' in line for line in lines), lines
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_seed_and_time_scale_options_override_the_config(tmp_path: Path) -> None:
    """Tester 66: a config holding only simulation.seed and time_scale is refused (it has no accounts), so a test
    suite copied the whole default.yaml to change two values."""
    import json
    import time
    import urllib.request

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([*smsc_command(), "serve", "--store", "memory", "--port", "0", "--host", "127.0.0.1",
                             "--http-port", "0", "--seed", "7", "--time-scale", "60", "--start-time",
                             "2026-01-01T00:00:00Z", "--log-format", "json"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        wait_for_port(proc, lines)
        deadline = time.monotonic() + 10
        http = []
        while time.monotonic() < deadline and not http:
            http = [json.loads(line) for line in lines if '"protocol": "http"' in line]
            time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{http[0]['port']}/api/stats", timeout=10) as resp:
            stats = json.load(resp)
        # (60 simulated seconds a real second from the start time: within the first hour of the run)
        assert stats["time_scale"] == 60.0 and stats["time"].startswith("2026-01-01T00:"), stats["time"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    run = subprocess.run([*smsc_command(), "serve", "--time-scale", "0"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, env=env)
    assert run.returncode == 2 and "--time-scale: expected a number from 0.001 to 86400, got '0'" in run.stderr


def test_a_start_time_behind_the_stores_saved_time_is_passed_over_with_a_warning(tmp_path: Path) -> None:
    """Tester 68: --start-time was silently ignored on a store that had saved a later simulated time (the clock
    never runs backwards over a store); the log now says so."""
    import time

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    db = str(tmp_path / "s.sqlite")
    for extra in ([], ["--start-time", "2026-01-01T00:00:00Z"]):
        proc = subprocess.Popen([*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--no-http", "--db",
                                 db, "--log-format", "json", *extra], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)
        lines: list[str] = []
        try:
            wait_for_port(proc, lines)
            time.sleep(0.3)  # (the time saved at start is committed)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    passed = [line for line in lines if '"event": "start_time_passed"' in line]
    assert len(passed) == 1 and '"start_time": "2026-01-01T00:00:00+00:00"' in passed[0], lines


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    """Tester 33: ``smsc --version`` said "the following arguments are required: command"."""
    from importlib.metadata import version

    run = subprocess.run([*smsc_command(), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == f"smsc {version('smsc')}", run.stderr


def test_check_config_takes_the_file_as_serve_does_too(tmp_path: Path) -> None:
    """Tester 31: ``smsc check-config -c FILE`` (as ``serve -c FILE``) was refused."""
    root = Path(__file__).resolve().parents[2]
    config = root / "config" / "default.yaml"
    run = subprocess.run([*smsc_command(), "check-config", "-c", str(config)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == f"{config}: OK", run.stderr
    run = subprocess.run([*smsc_command(), "check-config"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "give the file to check, as FILE or as -c FILE (one of the two)" in run.stderr


def _start_log(tmp_path: Path, config_text: str, preexec_fn: Callable[[], object] | None = None) -> list[str]:
    """``smsc serve`` on a config file of ``config_text`` (memory store, free port, JSON log), stopped by its pid
    once it listens: the lines it logged until then."""
    config = tmp_path / "config.yaml"
    config.write_text(config_text)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([*smsc_command(), "serve", "-c", str(config), "--store", "memory", "--port", "0",
                             "--host", "127.0.0.1", "--no-http", "--log-format", "json"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=preexec_fn)
    lines: list[str] = []
    try:
        wait_for_port(proc, lines)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return lines


def test_serve_on_a_config_without_topology_says_the_test_numbers_are_not_there(tmp_path: Path) -> None:
    """Tester 104: a config with an account only started quietly, and the README's test numbers did nothing (the
    bundled topology is not merged into a file of one's own)."""
    lines = _start_log(tmp_path, "accounts: [{system_id: a, password: b}]\n")
    (note,) = [line for line in lines if '"event": "no_topology"' in line]
    assert "copy config/default.yaml to keep them" in note


def test_serve_makes_its_store_files_readable_by_their_owner_only(tmp_path: Path) -> None:
    """Tester 110: smsc.sqlite, its -wal, -shm and .lock were 0644 under the usual umask 022, and any local user
    could read every message's text (OTP codes included) from them."""
    import stat
    import time

    db = tmp_path / "s.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([*smsc_command(), "serve", "--db", str(db), "--port", "0", "--host", "127.0.0.1",
                             "--no-http", "--log-format", "json"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env, preexec_fn=lambda: os.umask(0o022))
    lines: list[str] = []
    try:
        wait_for_port(proc, lines)
        files = [tmp_path / name for name in ("s.sqlite", "s.sqlite-wal", "s.sqlite-shm", "s.sqlite.lock")]
        deadline = time.monotonic() + 10  # (the -wal and -shm come with the first commit)
        while not all(f.exists() for f in files):
            assert time.monotonic() < deadline, [f.name for f in files if not f.exists()]
            time.sleep(0.05)
        modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert modes == dict.fromkeys(modes, 0o600), modes


def test_serve_raises_its_open_files_limit_for_max_connections_or_says_it_cannot(tmp_path: Path) -> None:
    """Tester 110: at a soft limit of 1,024 open files the default max_connections (10,000) could never be reached,
    and once the descriptors ran out every new bind and HTTP request was reset without a log line."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 12000:
        pytest.skip(f"the hard limit of open files here ({hard}) is below what the test raises to")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for limits, warned in (((256, hard), False), ((256, 2048), True), ((256, 1024), True)):
        proc = subprocess.Popen([*smsc_command(), "serve", "--store", "memory", "--port", "0", "--host", "127.0.0.1",
                                 "--no-http", "--log-format", "json"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, env=env,
                                preexec_fn=lambda limits=limits: resource.setrlimit(resource.RLIMIT_NOFILE, limits))
        # (a config whose max_connections fits the limit is not warned about: tester 112)
        lines: list[str] = []
        try:
            wait_for_port(proc, lines)
            soft = next(int(line.split()[3]) for line in Path(f"/proc/{proc.pid}/limits").read_text().splitlines()
                        if line.startswith("Max open files"))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        warnings = [line for line in lines if '"event": "open_files_limit"' in line]
        if warned:
            assert soft == limits[1] and len(warnings) == 1 and f'"limit": {soft}' in warnings[0], (soft, warnings)
            # (the connections it has room for, from the descriptors open: tester 135 read "about 0" at 64)
            room = int(json.loads(warnings[0])["hint"].split("at most about ")[1].split()[0])
            assert soft - 64 < room < soft - 16, (soft, room)
        else:
            assert soft == 10000 + 1024 and warnings == [], (soft, warnings)


def test_serve_with_few_connections_is_not_warned_about_a_small_open_files_limit(tmp_path: Path) -> None:
    """Tester 112: under a hard limit of 1,024 open files, open_files_limit warned whatever max_connections was
    ("at most about 0 connections"), where 60 connections bound fine under a limit of 100."""
    import resource

    lines = _start_log(tmp_path, "accounts: [{system_id: a, password: b}]\nserver: {max_connections: 100}\n",
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, 1024)))
    assert not [line for line in lines if '"event": "open_files_limit"' in line], lines
