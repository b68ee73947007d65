"""CPU of a live smsc per thread and per child process, in microseconds per message, under one load case.

``srv us/msg`` of ``bench.run`` sums the whole server.  This splits it: each thread of the ``smsc serve``
process (the event loop, the SQLite reader thread ...) and each child process (the SQLite writer child) with
its own figure, from /proc/PID/task/TID/stat and /proc/CHILD/stat read before and after the load.  A thread or
process that sits at about 1e6 / rate us per message is saturated (one core); the event loop at that figure
bounds the whole server.

    python -m bench.thread_cpu --store sqlite
    python -m bench.thread_cpu --store memory --window 1

It starts ``smsc serve`` with ``config/bench.yaml`` on 127.0.0.1 (port 0) and stops it by its pid.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

from bench.scenarios import LoadCase, load_case
from bench.servers import _children, start_smsc

_CLK_TCK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parent.parent


def _ticks(stat_path: Path) -> tuple[int, int] | None:
    """(utime, stime) clock ticks from a /proc stat file (fields 14 and 15 of proc(5)); None when gone."""
    try:
        fields = stat_path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]), int(fields[12])


def _name(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return "?"


def sample(pid: int) -> dict[str, tuple[int, int]]:
    """{label: (utime, stime)} for every thread of ``pid`` and every thread of its live children."""
    out: dict[str, tuple[int, int]] = {}
    for proc, kind in [(pid, "server")] + [(c, "child") for c in _children(pid)]:
        try:
            tids = os.listdir(f"/proc/{proc}/task")
        except OSError:
            continue
        for tid in tids:
            ticks = _ticks(Path(f"/proc/{proc}/task/{tid}/stat"))
            if ticks is not None:
                out[f"{kind} {proc} thread {tid} ({_name(Path(f'/proc/{proc}/task/{tid}/comm'))})"] = ticks
    return out


async def _run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="smsc-thread-cpu-"))
    server = start_smsc(workdir, ROOT / "config" / "bench.yaml", store=args.store)
    try:
        before = sample(server.pid)
        rec = await load_case(server, LoadCase("case", args.binds, args.window, True, count=args.count,
                                               duration=args.duration))
        after = sample(server.pid)
    finally:
        server.stop()
    messages = int(rec.get("ok", 0))
    print(f"{args.store}, {args.binds} x window {args.window} with receipts: {messages:,} messages, "
          f"{rec['submit_per_s']:,.0f} submit_sm/s, srv us/msg {rec['server_cpu_us_per_msg']}")
    if not messages:
        return 1
    print(f"{'us/msg total':>12} {'user':>8} {'system':>8}  thread")
    for label, (user, system) in sorted(after.items()):
        user0, system0 = before.get(label, (0, 0))
        du, ds = (user - user0) / _CLK_TCK / messages * 1e6, (system - system0) / _CLK_TCK / messages * 1e6
        if du + ds >= 0.05:
            print(f"{du + ds:12.1f} {du:8.1f} {ds:8.1f}  {label}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.thread_cpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("memory", "sqlite"), default="sqlite")
    parser.add_argument("--binds", type=int, default=4)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--count", type=int, default=50_000, help="submit_sm per bind at most")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of submitting at most")
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
