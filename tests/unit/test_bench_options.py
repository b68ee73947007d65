"""The benchmark commands' option defaults (the harness itself runs in tests/integration/test_bench_smoke.py)."""

from __future__ import annotations

from bench import load, run


def test_load_timeout_defaults_to_120_seconds_beyond_the_duration() -> None:
    # A fixed 120 s default ended every run of a longer --duration unfinished.
    assert load.parse_args(["--port", "1"]).timeout == 120.0
    assert load.parse_args(["--port", "1", "--duration", "300"]).timeout == 420.0
    assert load.parse_args(["--port", "1", "--duration", "300", "--timeout", "330"]).timeout == 330.0
    assert load.parse_args(["--port", "1", "--timeout", "30"]).timeout == 30.0


def test_load_duration_alone_is_not_cut_short_by_the_default_count() -> None:
    """Tester 107: --duration 10 ended after 0.72 s, the default 10,000 messages a bind spent."""
    assert load.parse_args(["--port", "1"]).count == 10_000
    assert load.parse_args(["--port", "1", "--duration", "10"]).count >= 1 << 40
    assert load.parse_args(["--port", "1", "--duration", "10", "--count", "50"]).count == 50


def test_run_timeout_defaults_to_120_seconds_beyond_the_duration() -> None:
    assert run.parse_args([]).timeout == 123.0  # (--duration 3 by default)
    assert run.parse_args(["--duration", "600"]).timeout == 720.0
    assert run.parse_args(["--duration", "600", "--timeout", "650"]).timeout == 650.0  # (not below --duration)
    args = run.parse_args(["drain", "--queue", "0,1000", "--stores", "sqlite"])
    assert args.queue == [1000] and args.stores == ["sqlite"]


def test_drain_table_gives_the_median_of_the_repetitions_and_complete_only_when_each_was() -> None:
    # The queue axis ran once whatever --repeats said, and its table showed the last record of a point.
    def rec(rep: int, case: str, finished: bool = True, **figures: float) -> dict:
        return {"scenario": "drain", "store": "sqlite", "queue": 1000, "rep": rep, "case": case,
                "finished": finished, **figures}

    records = [
        rec(0, "fill", submit_per_s=200.0, server_rss_kib=2048),
        rec(0, "drain", finished=False, drain_per_s=20.0, drain_ratio=0.2),
        rec(1, "fill", submit_per_s=300.0, server_rss_kib=3072), rec(1, "drain", drain_per_s=30.0, drain_ratio=0.3),
        rec(2, "fill", submit_per_s=100.0, server_rss_kib=1024), rec(2, "drain", drain_per_s=10.0, drain_ratio=0.1),
    ]
    table = run.drain_table(records, 100.0)
    row = next(line.split() for line in table.splitlines() if line.startswith("sqlite 1,000"))
    assert row[2:4] == ["200", "2.00"]  # fill/s and RSS full MiB: medians of 200/300/100 and 2/3/1 MiB
    assert row[-4:] == ["20.0", "0.20", "-", "NO"]  # drain/s, ratio, peak RSS (none), not every rep complete


# ---------------------------------------------------------------------------------------- tester 77: option checks

import asyncio  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _usage_error(parse, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """``parse(argv)`` ends with argparse's usage error (exit status 2); returns its message."""
    with pytest.raises(SystemExit) as exc:
        parse(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("argv, error", [
    (["--processes", "-1"], "--processes: expected a whole number, 0 (automatic) or more, got -1"),
    (["drain", "--queue", "1.5"], "--queue: expected comma-separated whole numbers: not a whole number: '1.5'"),
    (["drain", "--queue", "100,abc"], "--queue: expected comma-separated whole numbers"),
    (["curves", "--windows", "1,2.5"], "--windows: expected comma-separated whole numbers"),
    (["curves", "--binds-list", "inf"], "--binds-list: expected comma-separated whole numbers"),
    (["drain", "--queue", "-5"], "--queue numbers of 0 or more"),
    (["--timeout", "0.3", "--duration", "1"], "--timeout: a run submits for up to --duration seconds (1)"),
    (["--count", "-3"], "--count: expected a whole number of at least 1"),
    (["--warmup", "-1"], "--warmup: expected a number of seconds, 0 or more"),
    (["idle", "--server-enquire", "-1"], "--server-enquire: expected a number of seconds, 0 or more"),
    # (tester 78: nan and inf passed, and --server-enquire nan ended in a traceback)
    (["--warmup", "nan"], "--warmup: expected a number of seconds, 0 or more"),
    (["idle", "--server-enquire", "nan"], "--server-enquire: expected a number of seconds, 0 or more"),
    (["idle", "--interval", "inf"], "--interval: expected a number of seconds above 0"),
])
def test_bench_run_refuses_invalid_numbers(argv: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert error in _usage_error(run.parse_args, argv, capsys)


def test_bench_run_refuses_paths_of_the_wrong_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Tester 77: --jsonl naming a directory and --workdir naming a file ended in tracebacks (exit 1).
    a_file = tmp_path / "records.out"
    a_file.write_text("")
    assert "--jsonl: " in _usage_error(run.parse_args, ["--jsonl", str(tmp_path)], capsys)
    assert "is a directory" in _usage_error(run.parse_args, ["report", "--from", str(a_file), "--jsonl",
                                                             str(tmp_path)], capsys)
    for option in ("--workdir", "--plot"):
        for path in (a_file, a_file / "below"):  # the file itself, or a file standing where a parent must be
            err = _usage_error(run.parse_args, [option, str(path)], capsys)
            assert f"{option}: expected a directory, but {str(a_file)!r} is a file" in err


def test_bench_run_still_accepts_the_limits(tmp_path: Path) -> None:
    args = run.parse_args(["drain", "--queue", "1e5,0", "--processes", "0", "--duration", "2", "--timeout", "2",
                           "--workdir", str(tmp_path / "new" / "dir"), "--jsonl", str(tmp_path / "r.jsonl")])
    assert args.queue == [100_000] and args.processes == 0 and args.timeout == 2.0


@pytest.mark.parametrize("argv, error", [
    (["--processes", "-1"], "--processes: expected a whole number, 0 or more, got -1"),
    (["--expect-receipts", "-1"], "--expect-receipts: expected a whole number, 0 or more"),
    (["--expect-mo", "-2"], "--expect-mo: expected a whole number, 0 or more"),
    (["--timeout", "0"], "--timeout: expected a number of seconds above 0"),
    (["--timeout", "-5"], "--timeout: expected a number of seconds above 0"),
    (["--timeout", "1", "--duration", "3"], "--timeout: a run submits for up to --duration seconds (3)"),
    (["--count", "-1"], "--count: expected a whole number of at least 1"),
    (["--count", "0"], "--count: expected a whole number of at least 1 (0 only with --expect-receipts or "
                       "--expect-mo: bind and receive), got 0"),
    (["--receipt-wait", "-1"], "--receipt-wait: expected a number of seconds, 0 or more, got -1"),
    # (tester 123: it waited for receipts a transmitter bind is never sent)
    (["--receipts", "--bind-type", "transmitter"], "--receipts with --bind-type transmitter: a transmitter is sent "
                                                   "no receipts"),
])
def test_bench_load_refuses_invalid_numbers(argv: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert error in _usage_error(load.parse_args, ["--port", "1", *argv], capsys)


def test_bench_load_takes_a_count_of_0_to_only_receive_what_is_owed() -> None:
    args = load.parse_args(["--port", "1", "--count", "0", "--expect-receipts", "12", "--receipt-wait", "0"])
    assert (args.count, args.expect_receipts, args.receipt_wait) == (0, 12, 0.0)


def test_bench_load_calls_itself_by_its_command(capsys: pytest.CaptureFixture[str]) -> None:
    # (it said "usage: load.py")
    err = _usage_error(load.parse_args, ["--port", "1", "--binds", "0"], capsys)
    assert err.startswith("usage: python -m bench.load ")


@pytest.mark.parametrize("module, argv", [
    ("bench.run", ["--jsonl", "{dir}"]),
    ("bench.run", ["--workdir", "{file}"]),
    ("bench.run", ["drain", "--queue", "1.5"]),
    ("bench.run", ["--processes", "-1"]),
    ("bench.load", ["--port", "1", "--processes", "-1"]),
])
def test_bad_options_end_at_once_with_status_2_and_no_traceback(module: str, argv: list[str], tmp_path: Path) -> None:
    """As a command: a usage error before any server or worker starts (tester 77: two tracebacks, and a run meant
    to fail that ran the whole default comparison)."""
    (tmp_path / "f").write_text("")
    argv = [a.format(dir=tmp_path, file=tmp_path / "f") for a in argv]
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", module, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "error: " in done.stderr
    assert done.stdout == "" and time.monotonic() - t0 < 10


def test_targets_table_says_none_was_measured_for_the_submit_case_alone() -> None:
    # --cases submit printed a targets table of a header and a rule.
    records = [{"scenario": "compare", "case": "submit", "server": server, "rep": 0, "finished": True,
                "submit_per_s": rate, "p99_ms": 1.0} for server, rate in (("baseline", 100.0), ("smsc-memory", 20.0))]
    table = run.targets_table(records)
    assert len(table.splitlines()) == 1 and "none measured" in table
    records += [{**r, "case": "receipts", "receipts_per_s": r["submit_per_s"]} for r in records]
    assert "smsc-memory receipts: submit_sm/s ratio" in run.targets_table(records)


def test_bench_run_command_has_a_help_text_naming_every_command() -> None:
    text = run.build_parser().format_help()
    for name in run.COMMANDS:
        assert f"{name}: " in text


# ---------------------------------------------------------------------------------------- tester 77: stopping


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_worker_sigint_reaches_while_it_starts_is_dropped_not_a_traceback() -> None:
    """Tester 77: Ctrl-C (which reaches the whole process group) while a load worker was still importing ended it
    with a KeyboardInterrupt traceback from multiprocessing's spawn code.  Workers now start with SIGINT blocked
    and ignore it once running: each still reports (here: it could not connect)."""
    from bench.workers import WorkerPool

    spec = load.LoadSpec(host="127.0.0.1", port=_closed_port(), binds=1, window=1, count=1, receipts=False,
                         timeout=5.0)
    pool = WorkerPool(load._worker, [spec, spec], load._NFIELDS)
    try:
        assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # (the parent's mask is back)
        for worker in pool.workers:  # at once: each is still starting its interpreter
            os.kill(worker.pid, signal.SIGINT)
        summaries = asyncio.run(pool.stop(receive_wait=5.0, join_wait=2.0))
    finally:
        for worker in pool.workers:
            if worker.is_alive():
                worker.kill()
    assert [s.get("error", "").split(":")[0] for s in summaries] == ["ConnectionRefusedError"] * 2
    assert [w.exitcode for w in pool.workers] == [0, 0]


def test_servers_are_stopped_at_once_with_one_shared_deadline() -> None:
    """Tester 77: after a SIGINT to bench.run alone, three servers were stopped one after another, each after a
    2 s wait: 6 s in all.  Here three processes that ignore SIGTERM are killed after one shared grace period."""
    from bench.servers import ServerProcess, stop_servers

    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE) for _ in range(3)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        servers = [ServerProcess(name=f"p{i}", proc=proc, log_path=Path("/dev/null")) for i, proc in enumerate(procs)]
        t0 = time.monotonic()
        assert stop_servers(servers, grace=0.4) == [-signal.SIGKILL] * 3
        assert time.monotonic() - t0 < 1.0  # one grace period, not three
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)


def test_bench_load_interrupted_ends_with_a_line_and_status_130(tmp_path: Path) -> None:
    """Tester 77: SIGINT to bench.load printed a KeyboardInterrupt traceback."""
    from bench.servers import start_baseline

    server = start_baseline(tmp_path)
    try:
        # SIGINT at its default in the child, whatever this process has: a test run started in the background by
        # a shell without job control ignores SIGINT, the child inherited that, and ran its 5 s (tester 104).
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--port", str(server.port), "--binds", "1", "--window", "10",
             "--count", "100000000", "--duration", "5", "--processes", "1"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(0.8)  # (started, its worker bound and loading)
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    finally:
        server.stop()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "bench.load: interrupted" in err and out == ""


def _children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` and that run multiprocessing's spawned interpreter (a load worker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "")
        if ppid == str(pid) and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is no zombie."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_bench_load_terminated_stops_its_workers_and_ends_with_status_143(tmp_path: Path) -> None:
    """Tester 107: SIGTERM to bench.load (a CI job's limit, `timeout`) ended it with 143 at once, and its worker
    went on loading the server for the rest of --duration, then held its binds."""
    from bench.servers import start_baseline

    server = start_baseline(tmp_path)
    workers: list[int] = []
    alive: list[int] = []
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.load", "--port", str(server.port), "--binds", "1", "--window", "10",
             "--count", "100000000", "--duration", "20", "--processes", "1"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 15
        while not workers and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            workers = _children(proc.pid)
        assert workers, "no worker process seen"
        time.sleep(0.5)  # (loading)
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        alive = [w for w in workers if _running(w)]
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = [w for w in workers if _running(w)]
    finally:
        for w in workers:  # (the test's own cleanup, by the ids it saw: an orphan also holds the output pipes)
            if _running(w):
                os.kill(w, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate(timeout=10)
        server.stop()
    assert alive == [], "a load worker outlived bench.load"
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "bench.load: terminated; no result" in err and out == ""


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, run.Terminated])
def test_a_server_interrupted_while_it_starts_is_stopped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: type[BaseException]) -> None:
    """Tester 95: SIGTERM to bench.run while a server started left that server running (the harness keeps a
    server only once it reported its port), its work directory deleted under it."""
    from bench import servers

    started: list[subprocess.Popen[bytes]] = []
    spawn = servers._spawn

    def recording_spawn(name: str, args: list[str], workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
        proc, log = spawn(name, args, workdir)
        started.append(proc)
        return proc, log

    sleep = time.sleep

    def interrupted(seconds: float) -> None:  # (the wait's first pause is interrupted; stopping sleeps as ever)
        monkeypatch.setattr(time, "sleep", sleep)
        raise interrupt()

    monkeypatch.setattr(servers, "_spawn", recording_spawn)
    monkeypatch.setattr(time, "sleep", interrupted)
    with pytest.raises(interrupt):
        servers.start_baseline(tmp_path, timeout=30.0)
    [proc] = started
    assert proc.poll() is not None  # (stopped by its pid before the interrupt went on)


def test_servers_of_one_name_keep_a_log_each(tmp_path: Path) -> None:
    """Tester 95: with --workdir, a server started again under its name (a --restart, each point of a curve)
    wrote over the last one's log."""
    from bench import servers

    first = servers.start_baseline(tmp_path)
    second = servers.start_baseline(tmp_path)
    try:
        assert first.log_path != second.log_path and first.log_path.exists() and second.log_path.exists()
        assert second.log_path.name == "baseline-2.log"
    finally:
        servers.stop_servers([first, second])


def test_from_is_refused_without_the_report_command(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    records = tmp_path / "r.jsonl"
    records.write_text("{}\n")
    with pytest.raises(SystemExit) as exit_info:
        run.parse_args(["--from", str(records)])
    assert exit_info.value.code == 2
    assert "--from is read by the report command only" in capsys.readouterr().err


def test_callgrind_refuses_a_count_of_zero_before_running_anything(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import callgrind

    with pytest.raises(SystemExit) as exit_info:
        callgrind.main(["--count", "0"])
    assert exit_info.value.code == 2
    assert "--count: expected a whole number of at least 1, got 0" in capsys.readouterr().err


def test_ctrl_c_acts_at_once_while_a_server_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 95: a SIGINT to bench.run alone waited for the start-up wait to end (up to 60 s): asyncio.run's own
    handler is heard only when the loop gets control, which the blocking wait does not give it."""
    from bench import servers

    seen: list[object] = []
    sleep = time.sleep

    def look(seconds: float) -> None:
        seen.append(signal.getsignal(signal.SIGINT))
        monkeypatch.setattr(time, "sleep", sleep)
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", look)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        servers.start_baseline(tmp_path)
    assert seen == [signal.default_int_handler] and signal.getsignal(signal.SIGINT) is before


def test_report_rebuilds_the_shards_table_and_says_when_it_has_none(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Tester 107: ``report --from`` a file of shards records printed nothing and exited 0."""
    import json

    def rec(server: str, rate: float) -> dict[str, object]:
        return {"scenario": "shards", "case": "receipts", "server": server, "rep": 0, "submit_per_s": rate,
                "receipts_per_s": rate, "p99_ms": 2.0, "server_cpu_us_per_msg": 1.0, "server_rss_peak_kib": 1024,
                "finished": True}

    records = [{"scenario": "meta", "command": "shards"}, rec("baseline", 300_000.0),
               rec("smsc-memory x1", 75_000.0), rec("smsc-memory x2", 120_000.0)]
    path = tmp_path / "shards.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert run.main(["report", "--from", str(path)]) == 0
    out = capsys.readouterr().out
    assert "gain" in out and "smsc-memory x2" in out and "1.60" in out, out
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"scenario": "meta", "command": "x"}) + "\n" + json.dumps({"scenario": "odd"}) + "\n")
    assert run.main(["report", "--from", str(other)]) == 2
    assert "no table for these records (scenarios: meta, odd)" in capsys.readouterr().err
    bare = tmp_path / "bare.jsonl"  # (tester 109: a KeyError traceback, exit 1)
    bare.write_text(json.dumps({"scenario": "shards"}) + "\n")
    assert run.main(["report", "--from", str(bare)]) == 2
    assert "a record lacks what its table needs (KeyError: 'server')" in capsys.readouterr().err
