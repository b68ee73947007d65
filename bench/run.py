"""One command for issue 5's measurements: smsc side by side with the minimal asyncio baseline.

    python -m bench.run                      # the standard comparison (about 2-3 minutes)
    python -m bench.run mo                   # MO flood towards ESMEs
    python -m bench.run drain --queue 1000000
    python -m bench.run idle --sessions 10000
    python -m bench.run curves --plot bench/plots
    python -m bench.run shards               # one smsc against two side by side: what sharding could give
    python -m bench.run report --from runs.jsonl  # the tables again from records saved with --jsonl

Every server is started here as a subprocess on 127.0.0.1 port 0 (bench/servers.py) in a temporary work
directory (SQLite files included) and stopped by its pid at the end, on error and on Ctrl-C.  Runs are
interleaved (baseline, smsc memory, smsc SQLite, baseline, ... repeated) so that drift of a shared machine
hits all servers alike, and smsc is reported as a ratio to the baseline's run of the same repetition.

Output: one JSON line per run on stdout (``--jsonl FILE`` also appends them to a file), progress on stderr,
and a readable table at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import asyncio
import json
import math
import os
import platform
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import scenarios as S
from bench.configs import BENCH_CONFIG, OFFLINE_PREFIX, write_variant
from bench.report import format_table, median, ratio_rows
from bench.load import DEFAULT_TIMEOUT
from bench.servers import ServerProcess, raise_fd_limit, start_baseline, start_smsc, stop_servers
from bench.workers import Terminated, on_sigterm_raise

__all__ = ["STANDARD_CASES", "Harness", "main"]

#: The standard comparison: issue 5's table (4 x 100 without and with receipts) and the window-1 target.
#: The smsc stores ``--stores`` may name.
STORES = ("memory", "sqlite")

STANDARD_CASES = (
    S.LoadCase("submit", binds=4, window=100, receipts=False),
    S.LoadCase("receipts", binds=4, window=100, receipts=True),
    S.LoadCase("window1", binds=4, window=1, receipts=True),
)


class Harness:
    """The servers of one invocation, the work directory, and where records go.

    Servers started through :meth:`baseline` / :meth:`smsc` are remembered and stopped by :meth:`stop_all`
    (each by its own pid).
    """

    def __init__(self, workdir: Path, out: TextIO, jsonl: TextIO | None, quiet: bool = False) -> None:
        self.workdir = workdir
        self.out = out
        self.jsonl = jsonl
        self.quiet = quiet
        self.servers: list[ServerProcess] = []
        self.records: list[dict[str, Any]] = []
        self.t0 = time.monotonic()

    def progress(self, text: str) -> None:
        """One progress line on stderr with the elapsed time."""
        if not self.quiet:
            print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", file=sys.stderr, flush=True)

    def baseline(self, name: str = "baseline", **kw: Any) -> ServerProcess:
        server = start_baseline(self.workdir, name=name, **kw)
        self.servers.append(server)
        self.progress(f"started {name} (pid {server.pid}, port {server.port})")
        return server

    def smsc(self, name: str, config: Path = BENCH_CONFIG, **kw: Any) -> ServerProcess:
        server = start_smsc(self.workdir, config, name=name, **kw)
        self.servers.append(server)
        self.progress(f"started {name} (pid {server.pid}, port {server.port}"
                      + (f", http {server.http_port}" if server.http_port else "") + ")")
        return server

    def stop(self, server: ServerProcess) -> None:
        """Stop one server (by pid) and forget it."""
        self.stop_many([server])

    def stop_many(self, servers: list[ServerProcess]) -> None:
        """Stop ``servers`` all at once (:func:`bench.servers.stop_servers`: each by its pid, one shared deadline)
        and forget them."""
        try:
            codes = stop_servers(servers)
        except Exception as exc:  # (not expected: every signal and wait in it is guarded) say so, go on
            print(f"could not stop {', '.join(f'{s.name} (pid {s.pid})' for s in servers)}: {exc}", file=sys.stderr)
            return
        for server, code in zip(servers, codes):
            if server in self.servers:
                self.servers.remove(server)
            self.progress(f"stopped {server.name} (exit {code})")

    def stop_all(self) -> None:
        """Stop every server still running, all at once (one after another took 2 s each after Ctrl-C)."""
        self.stop_many(list(self.servers))

    def record(self, rec: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Add ``extra`` fields, print the record as one JSON line, keep it for the tables."""
        rec = {**extra, **rec}
        line = json.dumps(rec, sort_keys=False)
        print(line, file=self.out, flush=True)
        if self.jsonl is not None:
            print(line, file=self.jsonl, flush=True)
        self.records.append(rec)
        return rec


# ------------------------------------------------------------------------------------------------ commands


async def cmd_compare(h: Harness, args: argparse.Namespace) -> str:
    """The standard comparison: interleaved runs of every standard case on every server."""
    servers = [h.baseline()]
    if args.uvloop_baseline:
        servers.append(h.baseline("baseline-uvloop", uvloop=True))
    if "memory" in args.stores:
        servers.append(h.smsc("smsc-memory", store="memory"))
    if "sqlite" in args.stores:
        servers.append(h.smsc("smsc-sqlite", store="sqlite"))
    cases = [S.LoadCase(c.name, c.binds, c.window, c.receipts, count=args.count, duration=args.duration)
             for c in STANDARD_CASES if c.name in args.cases]
    total = args.repeats * len(cases) * len(servers)
    n = 0
    for server in servers:
        await warm_up(h, server, cases[0], args)
    for rep in range(args.repeats):
        for case in cases:
            for server in servers:
                n += 1
                h.progress(f"run {n}/{total}: {server.name} {case.name} (rep {rep + 1})")
                rec = await S.load_case(server, case, timeout=args.timeout, processes=args.processes,
                                        progress=h.progress)
                h.record(rec, scenario="compare", rep=rep)
                h.progress(f"  {rec['submit_per_s']:,.0f} submit/s, p99 {rec['p99_ms']} ms"
                           + (f", {rec['receipts']:,} receipts" if case.receipts else ""))
    return compare_table(h.records) + "\n\n" + targets_table(h.records)


async def warm_up(h: Harness, server: ServerProcess, case: S.LoadCase, args: argparse.Namespace) -> None:
    """An untimed run of ``case`` for ``args.warmup`` seconds on a server just started; nothing is recorded.

    A fresh process is slow on its first run: the baseline measured 28,514-32,225 submit_sm/s at 4 binds x
    window 1 in its first 3 s and 74,168-87,605 in every run after (session 12), while smsc moved little; so
    a server's first measured run must not be its first run."""
    if args.warmup <= 0:
        return
    h.progress(f"warming up {server.name} ({args.warmup:g} s of {case.name})")
    await S.load_case(server, dataclasses.replace(case, duration=args.warmup), timeout=args.timeout,
                      processes=args.processes)


async def cmd_shards(h: Harness, args: argparse.Namespace) -> str:
    """Each standard case (``--cases``) against one fresh smsc, then shared by ``--shards`` fresh smsc
    processes side by side (:func:`bench.scenarios.side_by_side`), interleaved with the baseline: the most a
    server split into processes could serve on this machine (none of the work that would tie the shards
    together is done)."""
    base = h.baseline()
    cases = [S.LoadCase(c.name, c.binds, c.window, c.receipts, count=args.count, duration=args.duration)
             for c in STANDARD_CASES if c.name in args.cases]
    n = args.shards
    for rep in range(args.repeats):
        for case in cases:
            h.progress(f"rep {rep + 1}/{args.repeats}, {case.name}: baseline")
            h.record(await S.load_case(base, case, timeout=args.timeout, processes=args.processes,
                                       progress=h.progress), scenario="shards", rep=rep)
            for store in args.stores:
                one = h.smsc(f"smsc-{store}-{case.name}-r{rep}", store=store)
                try:
                    rec = await S.load_case(one, case, timeout=args.timeout, processes=args.processes,
                                            progress=h.progress)
                finally:
                    h.stop(one)
                rec["server"] = f"smsc-{store} x1"
                h.record(rec, scenario="shards", rep=rep)
                many = [h.smsc(f"smsc-{store}-{case.name}-r{rep}-s{i}", store=store) for i in range(n)]
                try:
                    rec = await S.side_by_side(many, case, timeout=args.timeout, progress=h.progress)
                finally:
                    h.stop_many(many)
                rec["server"] = f"smsc-{store} x{n}"
                h.record(rec, scenario="shards", rep=rep)
                h.progress(f"  {store}: {rec['submit_per_s']:,.0f} submit/s side by side, p99 {rec['p99_ms']} ms")
    return shards_table(h.records)


def shards_table(records: list[dict[str, Any]]) -> str:
    """One smsc against several side by side, per case: medians over repetitions, ratios to the same-run
    baseline, and the gain (side by side over one smsc of the same store, per repetition, median)."""
    runs = [r for r in records if r.get("scenario") == "shards"]
    rows = ratio_rows(runs)

    def alone(r: dict[str, Any]) -> tuple[str, str, int]:
        return r["case"], r["server"].rsplit(" ", 1)[0], r["rep"]

    single = {alone(r): r for r in runs if r["server"].endswith(" x1")}
    order = {c.name: i for i, c in enumerate(STANDARD_CASES)}
    lines = []
    for (case, server), row in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][0],
                                                                    kv[0][1] != "baseline", kv[0][1])):
        gains = [r["submit_per_s"] / single[alone(r)]["submit_per_s"] for r in runs
                 if r["case"] == case and r["server"] == server and single.get(alone(r), {}).get("submit_per_s")]
        lines.append((f"{case:9} {server}", row["submit_per_s"], row["submit_per_s_ratio"], median(gains),
                      row["p99_ms"], row["p99_ratio"], row["server_cpu_us_per_msg"],
                      (row["server_rss_peak_kib"] or 0) / 1024, row["all_finished"]))
    return format_table(("case / server", "submit/s", "ratio", "gain", "p99 ms", "p99 x", "srv us/msg",
                         "RSS MiB", "complete"), lines)


#: Issue 5's targets on the standard comparison: (case, server, metric, bound, at least?).
TARGETS = (
    ("receipts", "smsc-memory", "submit_per_s_ratio", 0.5, True),
    ("window1", "smsc-memory", "submit_per_s_ratio", 0.9, True),
    ("receipts", "smsc-sqlite", "submit_per_s_ratio", 0.3, True),
    ("receipts", "smsc-memory", "p99_ratio", 2.0, False),
    ("receipts", "smsc-sqlite", "p99_ratio", 2.0, False),
)


def targets_table(records: list[dict[str, Any]]) -> str:
    """Issue 5's targets against the medians of this run; one line saying none was measured when the run had
    none of their cases and servers."""
    rows = ratio_rows([r for r in records if r.get("scenario") == "compare"])
    lines = []
    for case, server, metric, bound, at_least in TARGETS:
        row = rows.get((case, server))
        if row is None:
            continue
        value = row[metric]
        met = value is not None and (value >= bound if at_least else value <= bound) and row["all_finished"]
        what = "submit_sm/s ratio" if metric == "submit_per_s_ratio" else "p99 / baseline p99"
        lines.append((f"{server} {case}: {what}", f"{'>=' if at_least else '<='} {bound}", value, met))
    if not lines:  # (an empty table, header and rule alone, for --cases submit: tester 77)
        return ("target (issue 5): none measured (the targets need the receipts case with smsc-memory or "
                "smsc-sqlite, or the window1 case with smsc-memory)")
    return format_table(("target (issue 5)", "wanted", "measured", "met"), lines)


def compare_table(records: list[dict[str, Any]]) -> str:
    """The standard comparison's table: medians over repetitions and ratios to the same-run baseline."""
    rows = ratio_rows([r for r in records if r.get("scenario") == "compare"])
    lines = []
    order = {c.name: i for i, c in enumerate(STANDARD_CASES)}
    for (case, server), row in sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][0],
                                                                    not kv[0][1].startswith("baseline"), kv[0][1])):
        lines.append((f"{case:9} {server}", row["submit_per_s"], row["submit_per_s_ratio"],
                      row["receipts_per_s"] or None, row["receipts_per_s_ratio"], row["p99_ms"], row["p99_ratio"],
                      row["server_cpu_us_per_msg"], row["client_cpu_us_per_msg"], row["client_cpu_cores"],
                      (row["server_rss_peak_kib"] or 0) / 1024, row["all_finished"]))
    return format_table(("case / server", "submit/s", "ratio", "receipts/s", "ratio", "p99 ms", "p99 x",
                         "srv us/msg", "gen us/msg", "gen cores", "RSS MiB", "complete"), lines)


async def cmd_mo(h: Harness, args: argparse.Namespace) -> str:
    """MO flood: queued MO pushed to 4 binds; the baseline pushes the same number itself."""
    per_bind = max(1, args.mo // 4)
    total_mo = per_bind * 4
    servers = [h.baseline("baseline", mo_per_bind=per_bind)]
    config = write_variant(h.workdir, "bench-http", http=True)
    for store in args.stores:
        servers.append(h.smsc(f"smsc-{store}", config, store=store, http=True))
    for rep in range(args.repeats):
        for server in servers:
            h.progress(f"{server.name}: MO flood of {total_mo:,} (rep {rep + 1})")
            rec = await S.mo_flood(server, total=total_mo, timeout=args.timeout, progress=h.progress)
            h.record(rec, scenario="mo", rep=rep)
    return mo_table(h.records)


def mo_table(records: list[dict[str, Any]]) -> str:
    """MO flood: deliver_sm/s towards the binds, ratio to the baseline, HTTP injection rate."""
    recs = [r for r in records if r.get("scenario") == "mo"]
    rows = ratio_rows(recs, metrics=("mo_per_s",))
    return format_table(("server", "MO/s", "ratio", "HTTP inject/s", "srv us/msg", "RSS MiB", "complete"), [
        (server, row["mo_per_s"], row["mo_per_s_ratio"],
         median(r.get("inject_per_s") for r in recs if r["server"] == server),
         row["server_cpu_us_per_msg"], (row["server_rss_peak_kib"] or 0) / 1024, row["all_finished"])
        for (_, server), row in sorted(rows.items(), key=lambda kv: kv[0][1] != "baseline")])


class ReportError(Exception):
    """``report --from`` a file that holds no records of bench.run."""


async def cmd_report(h: Harness, args: argparse.Namespace) -> str:
    """Tables again from records written earlier with --jsonl (``--from FILE``); runs nothing."""
    records = []
    for number, line in enumerate(Path(args.from_file).read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):  # (a traceback: tester 64)
            raise ReportError(f"{args.from_file} line {number}: not a JSON record of bench.run --jsonl")
        records.append(record)
    if not records:  # (nothing printed, exit 0: tester 64)
        raise ReportError(f"{args.from_file}: no records (write them with bench.run --jsonl FILE)")
    h.records.extend(records)
    # --jsonl appends: a file may hold several runs, each starting with its "meta" record.  Records of different
    # runs must not be paired (tester 34: two runs in one file gave the baseline a ratio of 1.51).
    runs: list[list[dict[str, Any]]] = []
    for r in records:
        if r.get("scenario") == "meta" or not runs:
            runs.append([])
        runs[-1].append(r)
    try:
        return _report_runs(h, args, runs)
    except (KeyError, TypeError, ValueError) as exc:  # (tester 109: a record without its fields, a traceback)
        raise ReportError(f"{args.from_file}: a record lacks what its table needs ({type(exc).__name__}: {exc}); "
                          f"write records with bench.run --jsonl FILE") from None


def _report_runs(h: Harness, args: argparse.Namespace, runs: list[list[dict[str, Any]]]) -> str:
    """:func:`cmd_report`'s tables, run by run."""
    if len(runs) == 1:
        return _report_run(h, args, runs[0])
    parts = []
    for n, run in enumerate(runs, start=1):
        meta = run[0] if run[0].get("scenario") == "meta" else {}
        commit = (meta.get("machine") or {}).get("commit")
        head = f"run {n} of {len(runs)}: {meta.get('command', '?')}" + (f", commit {commit}" if commit else "") \
            + (f", label {meta['label']}" if meta.get("label") else "")
        parts.append(head + "\n\n" + _report_run(h, args, run, plot_suffix=f"-run{n}"))
    return "\n\n".join(parts)


def _report_run(h: Harness, args: argparse.Namespace, records: list[dict[str, Any]], plot_suffix: str = "") -> str:
    """The tables of one run's records (:func:`cmd_report`)."""
    scen = {r.get("scenario") for r in records}
    out = []
    if "compare" in scen:
        out += [compare_table(records), targets_table(records)]
    if "mo" in scen:
        out.append(mo_table(records))
    if "idle" in scen:
        out.append(idle_table(records))
    if "curve" in scen:
        out += [curve_table(records, axis) for axis in ("binds", "window")]
    if scen & {"drain", "queue"}:
        refs = [r["baseline_submit_per_s"] for r in records if r.get("baseline_submit_per_s")]
        out.append(drain_table(records, refs[-1] if refs else 0.0))
    if "shards" in scen:  # (tester 107: shards records printed nothing, exit 0)
        out.append(shards_table(records))
    if not out:
        raise ReportError(f"no table for these records (scenarios: {', '.join(sorted(str(x) for x in scen))})")
    if args.plot:
        from bench.plot import plot_all

        for path in plot_all(records, Path(args.plot + plot_suffix) if plot_suffix else Path(args.plot)):
            h.progress(f"wrote {path}")
    return "\n\n".join(out)


async def _baseline_reference(h: Harness, args: argparse.Namespace) -> float:
    """The baseline's submit_sm/s at 4 x 100 with receipts, this run (median of ``args.repeats``)."""
    server = h.baseline()
    case = S.LoadCase("receipts", 4, 100, True, count=args.count, duration=args.duration)
    rates = []
    for rep in range(args.repeats):
        rec = await S.load_case(server, case, timeout=args.timeout)
        h.record(rec, scenario="reference", rep=rep)
        rates.append(rec["submit_per_s"])
    h.stop(server)
    return median(rates) or 0.0


async def cmd_drain(h: Harness, args: argparse.Namespace, *, load: bool = False) -> str:
    """Offline handsets then drain, for each queue size and store: fill, (load beside the queue), drain."""
    base_rate = await _baseline_reference(h, args)
    config = write_variant(h.workdir, "bench-offline", http=True, offline_prefix=OFFLINE_PREFIX)
    std = S.LoadCase("receipts", 4, 100, True, count=args.count, duration=args.duration)
    points = [(rep, store, queue) for rep in range(args.repeats) for store in args.stores for queue in args.queue]
    for n, (rep, store, queue) in enumerate(points, start=1):  # a fresh server each: RSS belongs to its queue
        h.progress(f"point {n}/{len(points)}: smsc-{store}, queue {queue:,} (rep {rep + 1})")
        db = h.workdir / f"drain-{store}-{queue}-{rep}.sqlite"
        server = h.smsc(f"smsc-{store}", config, store=store, http=True, db=db)

        async def restart(old: ServerProcess, store: str = store, db: Path = db) -> ServerProcess:
            nonlocal server
            h.stop(old)  # SIGTERM: a clean shutdown, then the same SQLite file is read back
            server = h.smsc(f"smsc-{store}", config, store=store, http=True, db=db,
                            timeout=args.timeout + queue / 1000)
            return server

        try:
            # a queue of a million takes minutes to fill and drain: allow 1 ms per message on top
            recs = await S.offline_drain(server, queue=queue, numbers=args.numbers, load=std if load else None,
                                         timeout=args.timeout + queue / 1000, progress=h.progress,
                                         restart=restart if getattr(args, "restart", False) else None)
            for rec in recs:
                rec.update(baseline_submit_per_s=base_rate)
                if rec["case"] == "drain":
                    rec["drain_ratio"] = round(rec["drain_per_s"] / base_rate, 3) if base_rate else None
                h.record(rec, scenario="drain" if not load else "queue", store=store, rep=rep)
        finally:
            h.stop(server)
    return drain_table(h.records, base_rate)


def drain_table(records: list[dict[str, Any]], base_rate: float) -> str:
    """Queue-size table: fill rate and RSS, load beside the queue, drain rate and ratio; with ``--repeats``,
    the median of each figure over the repetitions, and "complete" only when every repetition was."""
    by: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = {}
    for r in records:
        if r.get("scenario") in ("drain", "queue"):
            by.setdefault((r["store"], r["queue"]), {}).setdefault(r["case"], []).append(r)

    def med(cases: dict[str, list[dict[str, Any]]], case: str, key: str, scale: float = 1.0) -> float | None:
        value = median(r.get(key) for r in cases.get(case, ()))
        return value / scale if value is not None else None

    rows = []
    for (store, queue), cases in sorted(by.items()):
        rows.append((f"{store} {queue:,}", med(cases, "fill", "submit_per_s"),
                     med(cases, "fill", "server_rss_kib", 1024),
                     med(cases, "load", "submit_per_s"), med(cases, "load", "p99_ms"),
                     med(cases, "load", "server_rss_peak_kib", 1024), med(cases, "drain", "drain_per_s"),
                     med(cases, "drain", "drain_ratio"), med(cases, "drain", "server_hwm_kib", 1024),
                     all(r.get("finished") for runs in cases.values() for r in runs)))
    head = f"(baseline: {base_rate:,.0f} submit_sm/s at 4 x 100 with receipts, this run)\n"
    table = head + format_table(("store queue", "fill/s", "RSS full MiB", "load/s", "load p99 ms", "load RSS MiB",
                                 "drain/s", "ratio", "peak RSS MiB", "complete"), rows)
    restarts = [(f"{store} {queue:,}", med(c, "restart", "restart_s"), med(c, "restart", "server_rss_kib", 1024),
                 med(c, "restart", "server_hwm_kib", 1024)) for (store, queue), c in sorted(by.items())
                if "restart" in c]
    if restarts:
        table += "\n\nrestarted between fill and drain (SIGTERM, then the same store read back):\n" + format_table(
            ("store queue", "stop to listening s", "RSS MiB", "peak RSS MiB"), restarts)
    return table


async def cmd_idle(h: Harness, args: argparse.Namespace) -> str:
    """Many idle binds with enquire_link traffic, on smsc (memory store) and on the baseline."""
    config = write_variant(h.workdir, "bench-idle", max_binds=args.sessions + 1000, server={
        "max_connections": args.sessions + 1000, "enquire_link_timer": args.server_enquire,
        "response_timer": 10, "inactivity_timer": 0})
    servers = [h.baseline(), h.smsc("smsc-memory", config, store="memory")]
    for server in servers:
        h.progress(f"{server.name}: {args.sessions:,} sessions for {args.idle_duration} s")
        rec = await S.idle_binds(server, sessions=args.sessions, duration=args.idle_duration,
                                 interval=args.interval, progress=h.progress)
        h.record(rec, scenario="idle", rep=0)
        h.stop(server)
    return idle_table(h.records)


def idle_table(records: list[dict[str, Any]]) -> str:
    """Many idle binds: bind time, RSS once bound and at peak, enquire_link traffic, dropped sessions."""
    rows = [(r["server"], r["bound"], r["bind_s"], (r["server_rss_bound_kib"] or 0) / 1024,
             r["server_rss_peak_kib"] / 1024, r["pings_answered"], r["server_pings_answered"], r["rtt_p99_ms"],
             r["dropped"], r["finished"]) for r in records if r.get("scenario") == "idle"]
    return format_table(("server", "bound", "bind s", "RSS bound MiB", "peak RSS MiB", "pings ok", "server pings",
                         "rtt p99 ms", "dropped", "complete"), rows)


async def cmd_curves(h: Harness, args: argparse.Namespace) -> str:
    """Throughput, p99 and RSS against binds, window (every server) and queue size (smsc).

    Every point starts fresh servers, so that RSS belongs to that point and not to the runs before it."""
    points = [("binds", b, S.LoadCase(f"binds={b}", b, 100, True, count=args.count, duration=args.duration))
              for b in args.binds_list]
    points += [("window", w, S.LoadCase(f"window={w}", 4, w, True, count=args.count, duration=args.duration))
               for w in args.windows]
    total = len(points) * (1 + len(args.stores)) * args.repeats
    n = 0
    for rep in range(args.repeats):
        for axis, x, case in points:
            servers = [h.baseline()] + [h.smsc(f"smsc-{store}", store=store,
                                               db=h.workdir / f"curve-{store}-{axis}-{x}-{rep}.sqlite")
                                        for store in args.stores]
            try:
                for server in servers:
                    await warm_up(h, server, case, args)
                    n += 1
                    h.progress(f"run {n}/{total}: {server.name} {case.name}")
                    rec = await S.load_case(server, case, timeout=args.timeout, processes=args.processes,
                                            progress=h.progress)
                    h.record(rec, scenario="curve", axis=axis, x=x, rep=rep)
            finally:
                h.stop_many(servers)
    tables = [curve_table(h.records, axis) for axis in ("binds", "window")]
    if args.queue:
        tables.append(await cmd_drain(h, args, load=True))
    if args.plot:
        from bench.plot import plot_all

        for path in plot_all(h.records, Path(args.plot)):
            h.progress(f"wrote {path}")
    return "\n\n".join(tables)


def curve_table(records: list[dict[str, Any]], axis: str) -> str:
    """One axis of the curves: per x and server, median submit/s, ratio, p99 and peak RSS."""
    recs = [r for r in records if r.get("scenario") == "curve" and r.get("axis") == axis]
    rows = ratio_rows(recs, case_key="x")
    lines = [(f"{axis}={x} {server}", row["submit_per_s"], row["submit_per_s_ratio"], row["receipts_per_s"],
              row["p99_ms"], (row["server_rss_peak_kib"] or 0) / 1024, row["all_finished"])
             for (x, server), row in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1] != "baseline",
                                                                          kv[0][1]))]
    return format_table((f"{axis} / server", "submit/s", "ratio", "receipts/s", "p99 ms", "RSS MiB", "complete"),
                        lines)


# ------------------------------------------------------------------------------------------------ CLI


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import uvloop  # noqa: F401

        has_uvloop = True
    except ImportError:
        has_uvloop = False
    return {"cpus": os.cpu_count(), "cpu": cpu, "python": platform.python_version(),
            "kernel": platform.release(), "uvloop_installed": has_uvloop, "commit": _commit()}


def _commit() -> str | None:
    """The checkout's commit (with "+changes" when smsc/ or bench/ differ from it), None outside git."""
    import subprocess

    from bench.servers import REPO

    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "smsc", "bench"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+changes" if dirty else "")


def _csv_ints(text: str) -> list[int]:
    """Comma-separated whole numbers (``1e6`` too); raises ValueError for any other, a fraction included: it was
    cut down, and ``drain --queue 1.5`` ran a queue of 1 (tester 77)."""
    out = []
    for item in text.split(","):
        if item.strip():
            value = float(item)
            if not value.is_integer():  # (inf and nan are not either)
                raise ValueError(f"not a whole number: {item.strip()!r}")
            out.append(int(value))
    return out


def _blocking_file(path: str) -> str | None:
    """The part of ``path`` that is a file where a directory must be (``path`` itself or the nearest of its
    parents that exists), None when ``path`` can be a directory: makedirs failed on it with a traceback after
    the command had started (``--workdir`` naming a file: tester 77)."""
    for part in (Path(path).absolute(), *Path(path).absolute().parents):
        if part.exists():
            return None if part.is_dir() else str(part)
    return None


#: The commands (the positional argument), for its help.
COMMANDS = {
    "compare": "the standard comparison (the default)",
    "mo": "MO flood towards ESMEs",
    "drain": "offline handsets, then drain (--queue)",
    "idle": "many idle binds with enquire_link traffic (--sessions)",
    "curves": "throughput, p99 and RSS against binds, window and queue size",
    "shards": "one smsc against --shards side by side",
    "report": "the tables again from records saved with --jsonl (--from FILE)",
}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    ap.add_argument("command", nargs="?", default="compare", choices=tuple(COMMANDS),
                    help="; ".join(f"{name}: {what}" for name, what in COMMANDS.items()))
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (default 3)")
    ap.add_argument("--count", type=int, default=50_000, help="submit_sm per bind at most (default 50,000)")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds of submitting per run at most (default 3)")
    ap.add_argument("--warmup", type=float, default=1.0,
                    help="seconds of untimed load on each server before its first measured run (compare, curves; "
                         "default 1, 0 for none)")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds a run may take in all (default: --duration + 120)")
    ap.add_argument("--processes", type=int, default=0, help="load generator processes (0 = automatic)")
    ap.add_argument("--stores", default="memory,sqlite", help="smsc stores to run (default memory,sqlite)")
    ap.add_argument("--cases", default="submit,receipts,window1", help="standard cases to run (compare, shards)")
    ap.add_argument("--uvloop-baseline", action="store_true", help="also run the baseline on uvloop (compare)")
    ap.add_argument("--mo", type=int, default=40_000, help="MO messages in the MO flood (default 40,000)")
    ap.add_argument("--queue", default=None, help="queue sizes, comma separated (drain default 100000; "
                                                  "curves default 0,100000,1000000)")
    ap.add_argument("--numbers", type=int, default=100, help="offline handsets the queue is spread over")
    ap.add_argument("--restart", action="store_true",
                    help="drain: stop smsc after the fill and start it again on the same store (SQLite) first")
    ap.add_argument("--sessions", type=int, default=10_000, help="idle sessions (default 10,000)")
    ap.add_argument("--idle-duration", type=float, default=30.0, help="seconds of enquire_link traffic")
    ap.add_argument("--interval", type=float, default=8.0, help="seconds between a session's enquire_link")
    ap.add_argument("--server-enquire", type=float, default=5.0, help="smsc's enquire_link_timer in idle")
    ap.add_argument("--shards", type=int, default=2, help="shards: smsc servers side by side (default 2)")
    ap.add_argument("--binds-list", default="1,4,16,64", help="binds axis of the curves")
    ap.add_argument("--windows", default="1,10,100,1000", help="window axis of the curves")
    ap.add_argument("--plot", default=None, metavar="DIR", help="write PNG curves there (needs matplotlib)")
    ap.add_argument("--from", dest="from_file", default=None, metavar="FILE", help="report: records to read")
    ap.add_argument("--jsonl", default=None, metavar="FILE", help="also append every record to FILE")
    ap.add_argument("--workdir", default=None,
                    help="keep logs and databases here (in a new run-<time>-<pid> directory) instead of a temp dir")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    ap.add_argument("--label", default=None, help="free text kept in the run's first record (e.g. a commit)")
    return ap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with ``timeout`` resolved (seconds: :data:`bench.load.DEFAULT_TIMEOUT` beyond
    ``duration``) and the comma-separated lists split."""
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.timeout is None:  # (a fixed 120 s ended every longer --duration run unfinished)
        args.timeout = DEFAULT_TIMEOUT + args.duration
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [s for s in args.stores if s not in STORES]
    if unknown or not args.stores:
        ap.error(f"--stores: expected a comma-separated list of {', '.join(STORES)}, got {unknown or 'none'}")
    names = [c.name for c in STANDARD_CASES]
    unknown = [c for c in args.cases if c not in names]
    if unknown or not args.cases:
        ap.error(f"--cases: expected a comma-separated list of {', '.join(names)}, got {unknown or 'none'}")
    for name in ("repeats", "count", "sessions", "mo", "numbers", "shards"):
        if getattr(args, name) < 1:
            ap.error(f"--{name}: expected a whole number of at least 1, got {getattr(args, name)}")
    for name in ("duration", "idle_duration", "interval", "timeout"):
        if not 0 < getattr(args, name) < math.inf:  # (nan and inf too: tester 78)
            ap.error(f"--{name.replace('_', '-')}: expected a number of seconds above 0, got {getattr(args, name)}")
    if not 0 <= args.warmup < math.inf:
        ap.error(f"--warmup: expected a number of seconds, 0 or more, got {args.warmup}")
    if not 0 <= args.server_enquire < math.inf:  # (smsc refused the config, after the baseline had started)
        ap.error(f"--server-enquire: expected a number of seconds, 0 or more, got {args.server_enquire}")
    if args.processes < 0:  # (-1 ran as "automatic": a run meant to fail ran the whole comparison, tester 77)
        ap.error(f"--processes: expected a whole number, 0 (automatic) or more, got {args.processes}")
    if args.timeout < args.duration:  # (every run then ended "not complete within the timeout": tester 77)
        ap.error(f"--timeout: a run submits for up to --duration seconds ({args.duration:g}) and may take "
                 f"--timeout seconds in all; expected at least {args.duration:g}, got {args.timeout:g}")
    if args.command == "shards":
        uneven = [c.name for c in STANDARD_CASES if c.name in args.cases and c.binds % args.shards]
        if uneven:
            ap.error(f"--shards: {args.shards} servers cannot share the binds of {', '.join(uneven)} evenly "
                     f"(expected a divisor of {', '.join(str(c.binds) for c in STANDARD_CASES if c.name in uneven)})")
    if args.queue is None:
        args.queue = "0,100000,1000000" if args.command == "curves" else "100000"
    for name in ("binds_list", "windows", "queue"):
        try:
            setattr(args, name, _csv_ints(getattr(args, name)))
        except ValueError as exc:
            ap.error(f"--{name.replace('_', '-')}: expected comma-separated whole numbers: {exc}")
    if any(b < 1 for b in args.binds_list) or any(w < 1 for w in args.windows) or any(q < 0 for q in args.queue):
        ap.error("--binds-list and --windows take numbers of at least 1, --queue numbers of 0 or more")
    # (tracebacks, and the second after the runs: tester 63)
    if getattr(args, "from_file", None) and not os.path.isfile(args.from_file):
        ap.error(f"--from: no such file: {args.from_file!r}")
    if getattr(args, "from_file", None) and args.command != "report":
        # (without the command it started the whole comparison and read nothing: tester 95)
        ap.error(f"--from is read by the report command only: python -m bench.run report --from {args.from_file}")
    if args.jsonl and not os.path.isdir(os.path.dirname(os.path.abspath(args.jsonl))):
        ap.error(f"--jsonl: the directory of {args.jsonl!r} does not exist")
    if args.jsonl and os.path.isdir(args.jsonl):  # (IsADirectoryError, a traceback: tester 77)
        ap.error(f"--jsonl: {args.jsonl!r} is a directory; expected a file to append the records to")
    for option, path in (("--workdir", args.workdir), ("--plot", args.plot)):
        blocking = _blocking_file(path) if path else None
        if blocking:  # (NotADirectoryError, a traceback: tester 77; --plot only after every run)
            ap.error(f"{option}: expected a directory, but {blocking!r} is a file")
    if args.plot:  # (before the runs, not after 15 minutes of them: tester 63)
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            ap.error("--plot needs matplotlib: pip install -e '.[plot]'")
    if args.command == "drain" and args.restart and "memory" in args.stores:
        # (the queue ended with the server, and the drain waited out its timeout: tester 63)
        ap.error("drain --restart: the memory store's queue ends with its server; give --stores sqlite")
    if args.command == "drain":
        args.queue = [q for q in args.queue if q > 0]
        if not args.queue:
            ap.error("drain: --queue needs a size above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns 0 when every run completed (every message answered, every receipt and MO
    received, no session dropped)."""
    args = parse_args(argv)
    raise_fd_limit(max(65536, args.sessions + 2048))
    commands: dict[str, Callable[..., Any]] = {"compare": cmd_compare, "mo": cmd_mo, "drain": cmd_drain,
                                               "idle": cmd_idle, "curves": cmd_curves, "report": cmd_report,
                                               "shards": cmd_shards}
    jsonl = open(args.jsonl, "a", encoding="utf-8") if args.jsonl else None
    tmp = None
    if args.workdir:
        # A directory of its own per run: a second run in the same --workdir started on the first one's SQLite
        # files and overwrote its logs (tester 34).
        workdir = Path(args.workdir) / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        workdir.mkdir(parents=True, exist_ok=False)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="smsc-bench-")
        workdir = Path(tmp.name)
    h = Harness(workdir.resolve(), sys.stdout, jsonl, quiet=args.quiet)
    if args.command == "report":
        if not args.from_file:
            print("report needs --from FILE (records written with --jsonl)", file=sys.stderr)
            return 2
        try:
            print(asyncio.run(cmd_report(h, args)))
        except ReportError as exc:
            print(f"report: {exc}", file=sys.stderr)
            return 2
        return 0
    h.record({"machine": machine(), "command": args.command, "argv": sys.argv[1:] if argv is None else argv,
              "label": args.label}, scenario="meta")
    status = 1
    # SIGTERM (a CI timeout, a supervisor) stops the servers as Ctrl-C does; by default it ended this process at
    # once and left every server, its SQLite writer child and the load workers running (tester 34).
    previous = signal.signal(signal.SIGTERM, on_sigterm_raise)
    try:
        table = asyncio.run(commands[args.command](h, args))
        print("\n" + table, flush=True)
        runs = [r for r in h.records if r.get("scenario") not in ("meta",)]
        status = 0 if runs and all(r.get("finished") for r in runs) else 1
        if status:
            print("\nsome runs did not complete (see 'complete' / 'failure')", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping servers", file=sys.stderr)
        status = 130
    except Terminated:
        print("\nterminated (SIGTERM): stopping servers", file=sys.stderr)
        status = 143
    except Exception:  # a server that would not start, a load that could not bind: say so, stop the rest
        traceback.print_exc()
        for server in h.servers:  # (a server that died mid-run: name it, with its log; tester 63)
            if not server.alive():
                print(f"\n{server.name} (pid {server.pid}) exited with status {server.proc.returncode}; its log "
                      f"ends:\n{server.log_tail()}", file=sys.stderr)
        status = 1
    finally:
        h.stop_all()
        signal.signal(signal.SIGTERM, previous)
        if jsonl is not None:
            jsonl.close()
        if tmp is not None:
            tmp.cleanup()
    return status


if __name__ == "__main__":
    sys.exit(main())
