"""Smoke test of the benchmark harness with tiny counts: it starts the servers, loads them, counts every
response and receipt, prints its records and stops every process it started.  Speed is not checked here."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench import run


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_standard_comparison_with_tiny_counts_completes_and_stops_its_servers(tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    jsonl = tmp_path / "runs.jsonl"
    status = run.main(["compare", "--repeats", "1", "--count", "100", "--duration", "2", "--stores", "memory",
                       "--cases", "submit,receipts", "--timeout", "20", "--quiet", "--jsonl", str(jsonl),
                       "--workdir", str(tmp_path / "work")])
    out = capsys.readouterr().out
    assert status == 0, out
    recs = [r for r in _records(jsonl) if r["scenario"] == "compare"]
    assert {(r["server"], r["case"]) for r in recs} == {
        ("baseline", "submit"), ("smsc-memory", "submit"), ("baseline", "receipts"), ("smsc-memory", "receipts")}
    for r in recs:
        assert r["finished"] and r["ok"] == r["messages"] == 400 and r["errors"] == 0
        assert r["receipts"] == (400 if r["case"] == "receipts" else 0)
        assert r["receipts_not_delivered"] == 0
        assert r["server_rss_peak_kib"] > 0 and r["client_cpu_us_per_msg"] > 0
    assert "smsc-memory" in out and "ratio" in out  # the readable table
    # every server it started was stopped cleanly (SIGTERM to its pid, then its own shutdown)
    [workdir] = (tmp_path / "work").glob("run-*")  # (a directory of its own per run)
    smsc_log = (workdir / "smsc-memory.log").read_text()
    assert '"event": "stopped"' in smsc_log
    # 4 binds for the untimed warm-up run (not recorded: 4 records above), then 4 per case
    assert len(recs) == 4 and smsc_log.count('"event": "bound"') == 12
    # A file holding two runs is reported run by run (tester 34: records of different runs were paired).
    twice = tmp_path / "twice.jsonl"
    twice.write_text(jsonl.read_text() * 2)
    assert run.main(["report", "--from", str(twice)]) == 0
    report = capsys.readouterr().out
    assert report.count("run 1 of 2: compare") == 1 and report.count("run 2 of 2: compare") == 1
    assert report.count("receipts  baseline") == 2
    rows = [line.split() for line in report.splitlines()]
    assert all(row[3] == "1.00" for row in rows if len(row) > 3 and row[1] == "baseline")  # its ratio to itself


async def test_mo_flood_reaches_every_bind_from_the_baseline(tmp_path: Path) -> None:
    from bench.scenarios import mo_flood
    from bench.servers import start_baseline

    server = start_baseline(tmp_path, mo_per_bind=50)
    try:
        rec = await mo_flood(server, total=200, binds=4, timeout=20)
    finally:
        server.stop()
    assert rec["finished"] and rec["mo"] == 200 and rec["receipts"] == 0
    assert not server.alive()


async def test_a_load_whose_submits_are_refused_or_whose_server_dies_is_not_complete(tmp_path: Path) -> None:
    """Tester 63: every submit refused (an invalid destination) was a finished run, and a server that died during
    a run gave a normal-looking record."""
    from bench.load import run_load
    from bench.scenarios import measured
    from bench.servers import start_smsc

    config = Path(__file__).resolve().parents[2] / "config" / "bench.yaml"
    server = start_smsc(tmp_path, config, store="memory")
    try:
        rec = await measured(server, run_load(host="127.0.0.1", port=server.port, binds=2, window=10, count=20,
                                              receipts=True, destination="0", timeout=20))
        assert rec["errors"] == 40 and not rec["finished"] and "40 submits refused" in rec["failure"]
        rec = await measured(server, run_load(host="127.0.0.1", port=server.port, binds=2, window=10, count=20,
                                              receipts=True, destination="0", timeout=20, allow_refusals=True))
        assert rec["finished"], rec.get("failure")
        rec = await measured(server, run_load(host="127.0.0.1", port=server.port, binds=2, window=10, count=20,
                                              receipts=True, timeout=20))
        assert rec["finished"] and rec["receipts"] == 40, rec.get("failure")
        server.proc.kill()  # dies: the record says so, with its log
        server.proc.wait(10)
        rec = await measured(server, asyncio.sleep(0, result={"ok": 0, "finished": True}))
        assert not rec["finished"] and rec["failure"].startswith(f"{server.name} exited with status -9")
    finally:
        server.stop()


async def test_a_load_whose_receipts_are_lost_or_duplicated_is_not_complete_and_says_so_early(tmp_path: Path) -> None:
    """Tester 123: receipts lost for half the messages and sent twice for the others made a "finished" run (the
    counts matched), and a run whose receipts were lost waited out its whole timeout to say only "timeout"."""
    from bench.load import run_load
    from bench.scenarios import measured
    from bench.servers import start_smsc

    config = Path(__file__).resolve().parents[2] / "config" / "default.yaml"
    server = start_smsc(tmp_path, config, store="memory")
    try:
        # 447700900923 loses every receipt, 447700900924 sends each twice: in turn, as many receipts as messages.
        rec = await measured(server, run_load(host="127.0.0.1", port=server.port, binds=2, window=10, count=20,
                                              receipts=True, destination="447700900923", destinations=2,
                                              system_id="test", password="test", timeout=20))
        assert rec["ok"] == rec["receipts"] == 40 and not rec["receipt_ids_match"]
        assert not rec["finished"] and "the receipts do not name the accepted message_ids one each" in rec["failure"]
        rec = await measured(server, run_load(host="127.0.0.1", port=server.port, binds=2, window=10, count=20,
                                              receipts=True, destination="447700900923", system_id="test",
                                              password="test", timeout=60, receipt_wait=1.0))
        assert not rec["finished"] and rec["elapsed_s"] < 20
        assert rec["failure"].startswith("0 of 40 receipts and 0 of 0 MO after every submit was answered; none more "
                                         "came for 1 s"), rec["failure"]
        rec = await measured(server, run_load(host="127.0.0.1", port=server.port, binds=2, window=10, count=20,
                                              receipts=True, system_id="test", password="test", timeout=20))
        assert rec["finished"] and rec["receipt_ids_match"], rec.get("failure")
    finally:
        server.stop()


async def test_offline_queue_drains_with_every_receipt_and_idle_sessions_are_kept(tmp_path: Path) -> None:
    from bench.configs import OFFLINE_PREFIX, write_variant
    from bench.scenarios import idle_binds, offline_drain
    from bench.servers import start_smsc

    config = write_variant(tmp_path, "smoke", http=True, offline_prefix=OFFLINE_PREFIX, max_binds=100,
                           server={"enquire_link_timer": 1, "response_timer": 5})
    server = start_smsc(tmp_path, config, store="sqlite", http=True)
    try:
        fill, drain = await offline_drain(server, queue=200, numbers=5, timeout=20)
        idle = await idle_binds(server, sessions=20, duration=1.0, interval=0.3)
    finally:
        server.stop()
    assert fill["case"] == "fill" and fill["ok"] == 200 and fill["receipts"] == 0  # handsets off: no receipt yet
    assert drain["case"] == "drain" and drain["finished"] and drain["receipts"] == 200
    assert drain["receipts_not_delivered"] == 0 and drain["drain_per_s"] > 0
    assert idle["finished"] and idle["bound"] == 20 and idle["dropped"] == 0
    assert idle["pings_answered"] > 0 and idle["server_rss_bound_kib"] > 0
    # 20 sessions, one ping each per 0.3 s, for 1 s: about 67 (tester 34: whole pings per tick made it 80)
    assert 20 * 1.0 / 0.3 - 14 <= idle["pings_sent"] <= 20 * 1.0 / 0.3 + 6, idle["pings_sent"]


async def test_a_restart_between_fill_and_drain_reads_the_queue_back_and_every_receipt_arrives(tmp_path: Path) -> None:
    from bench.configs import OFFLINE_PREFIX, write_variant
    from bench.scenarios import offline_drain
    from bench.servers import start_smsc

    config = write_variant(tmp_path, "smoke", http=True, offline_prefix=OFFLINE_PREFIX)
    db = tmp_path / "restart.sqlite"
    servers = [start_smsc(tmp_path, config, store="sqlite", http=True, db=db)]

    async def restart(old):  # type: ignore[no-untyped-def]
        old.stop()
        servers.append(start_smsc(tmp_path, config, name="smsc-2", store="sqlite", http=True, db=db))
        return servers[-1]

    try:
        fill, restarted, drain = await offline_drain(servers[0], queue=200, numbers=5, timeout=20, restart=restart)
    finally:
        for server in servers:
            server.stop()
    assert fill["ok"] == 200 and restarted["case"] == "restart" and restarted["finished"]
    assert restarted["restart_s"] > 0 and restarted["server_rss_kib"] > 0
    assert drain["finished"] and drain["receipts"] == 200 and drain["receipts_not_delivered"] == 0


def test_shards_runs_one_server_then_two_side_by_side_and_stops_them_all(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    jsonl = tmp_path / "runs.jsonl"
    status = run.main(["shards", "--repeats", "1", "--count", "100", "--duration", "2", "--stores", "memory",
                       "--cases", "receipts", "--timeout", "20", "--quiet", "--jsonl", str(jsonl), "--workdir", str(tmp_path / "work")])
    out = capsys.readouterr().out
    assert status == 0, out
    recs = {r["server"]: r for r in _records(jsonl) if r["scenario"] == "shards"}
    assert set(recs) == {"baseline", "smsc-memory x1", "smsc-memory x2"}
    for r in recs.values():
        assert r["finished"] and r["ok"] == r["messages"] == 400 and r["receipts"] == 400
    assert [s["submit_per_s"] > 0 for s in recs["smsc-memory x2"]["per_server"]] == [True, True]
    assert "gain" in out and "smsc-memory x2" in out
    logs = sorted((tmp_path / "work").glob("run-*/smsc-memory-*.log"))
    assert len(logs) == 3  # one alone, two side by side: each stopped cleanly by its pid
    for log in logs:
        assert '"event": "stopped"' in log.read_text()


@pytest.mark.parametrize("argv, error", [
    (["--stores", "foo"], "--stores: expected a comma-separated list of memory, sqlite"),
    (["--cases", "foo"], "--cases: expected a comma-separated list of submit, receipts, window1"),
    (["--repeats", "0"], "--repeats: expected a whole number of at least 1"),
    (["--duration", "-1"], "--duration: expected a number of seconds above 0"),
    (["shards", "--shards", "3"], "--shards: 3 servers cannot share the binds"),
    (["drain", "--queue", "0"], "drain: --queue needs a size above 0"),
    # Tester 63: these ran (a drain that waited out its timeout; a report or jsonl that failed at the end).
    (["drain", "--restart", "--queue", "10"], "drain --restart: the memory store's queue ends with its server"),
    (["report", "--from", "/nonexistent/records.jsonl"], "--from: no such file"),
    (["--jsonl", "/nonexistent/dir/x.jsonl"], "--jsonl: the directory of"),
])
def test_bench_run_refuses_arguments_it_would_run_nonsense_with(argv: list[str], error: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Tester 34: an unknown store was dropped silently (the baseline alone ran, exit 0), an unknown case ended in a
    traceback, --duration -1 reported a complete run of 4 messages, --shards 3 failed half way."""
    with pytest.raises(SystemExit) as exc:
        run.parse_args(argv)
    assert exc.value.code == 2 and error in capsys.readouterr().err


def test_sigterm_to_bench_run_stops_every_server_it_started(tmp_path: Path) -> None:
    """Tester 34: SIGTERM (a CI timeout) ended bench.run at once, leaving the servers, a SQLite writer child and
    the load workers running."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        # Each run lasts its 5 s (a count it cannot reach), so the SIGTERM finds smsc under load: with the default
        # count a fast machine finished the whole run first and bench.run exited 0.
        [sys.executable, "-m", "bench.run", "compare", "--repeats", "1", "--duration", "5", "--count", "100000000",
         "--warmup", "0", "--stores", "sqlite", "--cases", "receipts", "--workdir", str(tmp_path)],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        for line in proc.stderr:  # (bounded: each run lasts 5 s, and this loop stops at the smsc server)
            pids += [int(p) for p in re.findall(r"started \S+ \(pid (\d+)", line)]
            if "started smsc-sqlite" in line or time.monotonic() > deadline:
                break
        assert len(pids) == 2, pids  # the baseline and smsc
        time.sleep(1.0)  # (the load is under way)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 143
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    left = []
    for pid in pids:  # every server it started is gone (and its writer child with it)
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            left.append(pid)
            os.kill(pid, signal.SIGKILL)  # (stopped by its own id all the same)
    assert not left, f"server pids {left} still running after bench.run's SIGTERM"


def test_server_cpu_is_read_finer_than_clock_ticks_and_counts_child_processes() -> None:
    """Tester 34: the server CPU column moved in 10 ms clock ticks (short runs read 1.00, 3.00, 8.00 us per
    message).  A process that burns about 0.15 s of CPU, a third of it in a child of its own, is read in
    nanoseconds, the child included."""
    import subprocess
    import sys

    from bench.servers import ServerProcess

    burn = ("import subprocess, sys, time\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time, sys\\nt = time.process_time()\\n"
            "while time.process_time() - t < 0.05: pass\\nprint(1, flush=True)\\nsys.stdin.read()'],"
            " stdin=subprocess.PIPE, stdout=subprocess.PIPE)\n"
            "child.stdout.readline()\n"
            "t = time.process_time()\n"
            "while time.process_time() - t < 0.1: pass\n"
            "print('burnt', flush=True)\n"
            "sys.stdin.read()\n"
            "child.stdin.close()\n"
            "child.wait(10)\n")
    proc = subprocess.Popen([sys.executable, "-c", burn], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "burnt"
        server = ServerProcess(name="burner", proc=proc, log_path=Path("/dev/null"))  # type: ignore[arg-type]
        seen = server.cpu_seconds()
        assert 0.15 <= seen < 0.6, seen  # both processes, interpreter start-up included
        assert abs(seen * 100 - round(seen * 100)) > 1e-6, seen  # (nanoseconds, not whole 10 ms ticks)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # (it then closes its child's input and waits for it)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_report_from_a_file_without_records_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Tester 64: a file that is not JSONL gave a traceback, an empty one nothing and exit status 0.
    bad, empty = tmp_path / "bad.jsonl", tmp_path / "empty.jsonl"
    bad.write_text("not json\n")
    empty.write_text("")
    assert run.main(["report", "--from", str(bad)]) == 2
    assert f"report: {bad} line 1: not a JSON record of bench.run --jsonl" in capsys.readouterr().err
    assert run.main(["report", "--from", str(empty)]) == 2
    assert f"report: {empty}: no records" in capsys.readouterr().err
