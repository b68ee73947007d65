"""Where the wall-clock time of a loaded server goes: a timeline of the event loop.

CPU profiles (cProfile, py-spy) say what the server computes; they do not say when it waits.  With the SQLite
store a submit_sm_resp waits for its commit, so throughput also depends on how the event loop and the writer
child process take turns.  This runs the real application in this process on 127.0.0.1 (port 0), drives it with
``bench.load`` in a subprocess, and times a few methods of the server (wrapped only in this process):

- ``read``: ``SmppProtocol.data_received`` (decode, submit, acks, and the pump that ends it);
- ``pump``: ``SmppServer.pump`` outside a read (after a commit: the outcomes due and the deliveries), with
  ``sched`` (``SchedulerDriver._run``) and ``drain`` (``BindRegistry._drain``) inside it;
- ``durable``: the callbacks a commit releases (submit_sm_resp);
- ``flush``: ``SmppProtocol._flush`` (the write system call);
- ``handover``: the SQLite store giving a loop tick's batch to its writer child (on the loop: the batch is
  pickled and written to the child's pipe, or merged with the one waiting while two are in flight);
- ``write``: ``SqliteStore._write``, the transaction of a store without a writer child (inline mode).  The
  server's store has a child, whose transactions run in that process and are not timed here, so this kind
  does not appear.

It prints the share of the middle 40 % of the run each kind took (they overlap: ``sched`` and ``drain`` run
inside ``pump``), the loop's idle share (wall time outside every loop-side kind), and the
first milliseconds of that stretch as a timeline (start and length in milliseconds):

    python -m bench.profile_pipeline --store sqlite --count 20000
    python -m bench.profile_pipeline --store memory --count 20000 --timeline 0

Figures include the wrappers' own cost (about a microsecond per call); compare runs, not absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import gc
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from smsc import app as app_module  # noqa: E402
from smsc.app import App  # noqa: E402
from smsc.config import load_config  # noqa: E402
from smsc.core.store import sqlite as sqlite_module  # noqa: E402
from smsc.server import binds as binds_module  # noqa: E402
from smsc.server import listen as listen_module  # noqa: E402
from smsc.server import protocol as protocol_module  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Kinds that run on the event loop's thread and do not nest in another kind (their union is "busy").
LOOP_KINDS = ("read", "pump", "durable", "flush", "handover")

#: (start, end, kind): perf_counter seconds.  Appended from both threads (list.append is atomic).
_events: list[tuple[float, float, str]] = []


def _timed(kind: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            _events.append((started, time.perf_counter(), kind))
    return wrapper


def _instrument() -> None:
    """Wrap the timed methods (this process only)."""
    targets: list[tuple[Any, str, str]] = [
        (protocol_module.SmppProtocol, "data_received", "read"),
        (protocol_module.SmppProtocol, "_flush", "flush"),
        (listen_module.SmppServer, "pump", "pump"),
        (app_module.SchedulerDriver, "_run", "sched"),
        (binds_module.BindRegistry, "_drain", "drain"),
        (sqlite_module.SqliteStore, "_write", "write"),
        (sqlite_module.SqliteStore, "_handover", "handover"),
    ]
    for owner, name, kind in targets:
        setattr(owner, name, _timed(kind, getattr(owner, name)))
    sqlite_module._run_all = _timed("durable", sqlite_module._run_all)


def _union(spans: list[tuple[float, float]]) -> float:
    """Seconds covered by the union of ``spans``."""
    total = 0.0
    end = float("-inf")
    for start, stop in sorted(spans):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def report(events: list[tuple[float, float, str]], timeline_ms: float) -> str:
    """Shares of the middle 40 % of the run per kind, the loop's idle share, and a timeline excerpt."""
    if not events:
        return "no events recorded"
    events = sorted(events)
    first, last = events[0][0], max(e[1] for e in events)
    lo, hi = first + 0.3 * (last - first), first + 0.7 * (last - first)
    span = hi - lo
    shares: dict[str, float] = {}
    loop_spans: list[tuple[float, float]] = []
    for start, stop, kind in events:
        if stop < lo or start > hi:
            continue
        clipped = (max(start, lo), min(stop, hi))
        shares[kind] = shares.get(kind, 0.0) + clipped[1] - clipped[0]
        if kind in LOOP_KINDS:
            loop_spans.append(clipped)
    idle = 1.0 - _union(loop_spans) / span
    lines = [f"middle of the run: {span:.2f} s; share of wall time per kind (they overlap):"]
    lines += [f"  {kind:9s} {seconds / span * 100:5.1f} %" for kind, seconds in
              sorted(shares.items(), key=lambda item: -item[1])]
    lines.append(f"  loop idle {idle * 100:5.1f} % (outside {', '.join(LOOP_KINDS)})")
    if timeline_ms > 0:
        lines.append(f"timeline, first {timeline_ms:g} ms of that stretch (start ms, length ms, kind):")
        for start, stop, kind in events:
            if lo <= start <= lo + timeline_ms / 1000:
                lines.append(f"  {(start - lo) * 1e3:8.2f} {(stop - start) * 1e3:6.2f}  {kind}")
    return "\n".join(lines)


async def run(store: str, binds: int, window: int, count: int) -> str:
    """Serve ``binds`` x ``count`` submit_sm with receipts from ``bench.load``; return its JSON line."""
    cfg = load_config(os.path.join(ROOT, "config", "bench.yaml"))
    with tempfile.TemporaryDirectory() as workdir:
        cfg = dataclasses.replace(cfg, store=dataclasses.replace(
            cfg.store, kind=store, path=os.path.join(workdir, "smsc.sqlite")))
        app = App(cfg)
        await app.start(host="127.0.0.1", port=0, http=False)
        assert app.smpp is not None
        gc.freeze()
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.load", "--host", "127.0.0.1", "--port", str(app.smpp.port),
                "--binds", str(binds), "--window", str(window), "--count", str(count), "--receipts",
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            try:
                out, _ = await asyncio.wait_for(proc.communicate(), timeout=300)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
                raise
        finally:
            await app.stop()
    return out.decode().strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("memory", "sqlite"), default="sqlite")
    parser.add_argument("--binds", type=int, default=4)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--count", type=int, default=20000, help="submit_sm per bind")
    parser.add_argument("--timeline", type=float, default=30.0, help="milliseconds of timeline to print")
    args = parser.parse_args(argv)
    _instrument()
    runner: Callable[[Any], Any] = asyncio.run
    try:
        import uvloop  # as smsc serve does when installed

        runner = uvloop.run
    except ImportError:
        pass
    assert threading.current_thread() is threading.main_thread()
    line = runner(run(args.store, args.binds, args.window, args.count))
    print(line[:300])
    print(report(_events, args.timeline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
