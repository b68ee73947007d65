"""The core alone, no sockets: how many microseconds the simulated network spends per message.

Builds the world of ``config/bench.yaml`` (every number online, delivered at once, receipts on) around a
real store, submits ``--count`` messages in batches of ``--batch`` (as one socket read would), runs the
scheduler as the asyncio driver would, and takes and acknowledges every receipt as a bound ESME would.
Prints microseconds per message; ``--profile`` prints the top of a cProfile.

    python -m bench.profile_engine --count 50000
    python -m bench.profile_engine --store sqlite --count 50000 --profile
    python -m bench.profile_engine --offline 1000000    # RSS with a million messages waiting, then drain
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import os
import pstats
import random
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from smsc.config import load_config  # noqa: E402
from smsc.core.api import Address, Submission, SubmitResult  # noqa: E402
from smsc.core.clock import FakeClock  # noqa: E402
from smsc.core.smsc import Smsc  # noqa: E402
from smsc.core.store.memory import MemoryStore  # noqa: E402
from smsc.core.store.sqlite import SqliteStore  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Loop:
    """The two loop services the stores use: call_soon queue run by :meth:`run`."""

    def __init__(self) -> None:
        self.ready: list[Any] = []

    def call_soon(self, cb: Any, *args: Any) -> None:
        self.ready.append((cb, args))

    def run(self) -> int:
        n = 0
        while self.ready:
            ready, self.ready = self.ready, []
            for cb, args in ready:
                cb(*args)
                n += 1
        return n


class _Gateway:
    def __init__(self) -> None:
        self.woken: set[str] = set()

    def wake(self, system_id: str) -> None:
        self.woken.add(system_id)

    def has_receiver(self, system_id: str) -> bool:
        return True  # (the benchmark takes every delivery, as a bound receiver would)


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def build(store_kind: str, tmp: str, offline: bool = False) -> tuple[Smsc, Any, _Loop, FakeClock]:
    config = load_config(os.path.join(ROOT, "config", "bench.yaml"))
    if offline:
        carriers = tuple(
            dataclasses.replace(c, handsets=dataclasses.replace(c.handsets, online_probability=0.0))
            for c in config.topology.carriers
        )
        config = dataclasses.replace(config, topology=dataclasses.replace(config.topology, carriers=carriers))
    loop = _Loop()
    if store_kind == "memory":
        store: Any = MemoryStore(call_soon=loop.call_soon)
    else:
        store = SqliteStore(os.path.join(tmp, "engine.sqlite"), call_soon=loop.call_soon)  # one transaction per tick
    clock = FakeClock()
    smsc = Smsc(config, store, clock, random.Random(1))
    smsc.set_gateway(_Gateway())
    smsc.start()
    return smsc, store, loop, clock


def run(smsc: Smsc, loop: _Loop, clock: FakeClock, count: int, batch: int, destinations: int = 1) -> dict[str, float]:
    replies = 0

    def reply(result: SubmitResult) -> None:
        nonlocal replies
        replies += 1

    subs = [
        Submission(system_id="perf", source=Address(ton=5, addr="BENCH"),
                   destination=Address(ton=1, npi=1, addr=f"4477009{i:05d}"), registered_delivery=1,
                   short_message=b"benchmark message")
        for i in range(destinations)
    ]
    receipts = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    sent = 0
    scheduler = smsc.scheduler
    while sent < count:
        n = min(batch, count - sent)
        for i in range(n):
            smsc.submit(subs[(sent + i) % destinations], reply)
        sent += n
        loop.run()
        clock.advance(0.001)
        scheduler.run_due(clock.now())
        loop.run()
        while True:
            taken = smsc.take_deliveries("perf", 1000)
            if not taken:
                break
            for d in taken:
                smsc.delivery_acked(d.delivery_id, 0)
            receipts += len(taken)
            loop.run()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return {"messages": count, "replies": replies, "receipts": receipts, "seconds": round(elapsed, 3),
            "us_per_msg": round(elapsed / count * 1e6, 2), "cpu_us_per_msg": round(cpu / count * 1e6, 2)}


def offline_run(store_kind: str, tmp: str, count: int, numbers: int) -> None:
    smsc, store, loop, clock = build(store_kind, tmp, offline=True)
    subs = [
        Submission(system_id="perf", source=Address(ton=5, addr="BENCH"),
                   destination=Address(ton=1, npi=1, addr=f"4477{i:08d}"), registered_delivery=1,
                   short_message=b"benchmark message")
        for i in range(numbers)
    ]
    rss0 = _rss_mib()
    t0 = time.perf_counter()
    for i in range(count):
        smsc.submit(subs[i % numbers], lambda r: None)
        if i % 1000 == 999:
            loop.run()
            clock.advance(0.001)
            smsc.scheduler.run_due(clock.now())
            loop.run()
    loop.run()
    clock.advance(0.001)
    smsc.scheduler.run_due(clock.now())
    loop.run()
    gc.collect()
    t1 = time.perf_counter()
    print(f"queued {count} for {numbers} offline numbers in {t1 - t0:.1f} s: RSS {rss0:.0f} -> {_rss_mib():.0f} MiB,"
          f" waiting {smsc.waiting_count()}", flush=True)
    receipts = 0
    for carrier in smsc.router.carriers.values():
        for i in range(numbers):
            smsc.set_handset_online(f"4477{i:08d}", True)
            if i % 100 == 99:
                loop.run()
                clock.advance(0.001)
                smsc.scheduler.run_due(clock.now())
                loop.run()
                while taken := smsc.take_deliveries("perf", 10000):
                    for d in taken:
                        smsc.delivery_acked(d.delivery_id, 0)
                    receipts += len(taken)
                    loop.run()
    for _ in range(10):
        loop.run()
        clock.advance(1)
        smsc.scheduler.run_due(clock.now())
        loop.run()
        while taken := smsc.take_deliveries("perf", 10000):
            for d in taken:
                smsc.delivery_acked(d.delivery_id, 0)
            receipts += len(taken)
            loop.run()
    t2 = time.perf_counter()
    print(f"drained {receipts} receipts in {t2 - t1:.1f} s ({receipts / max(1e-9, t2 - t1):.0f}/s), "
          f"RSS {_rss_mib():.0f} MiB, waiting {smsc.waiting_count()}")
    smsc.stop()
    store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    ap.add_argument("--count", type=int, default=50000)
    ap.add_argument("--batch", type=int, default=400)
    ap.add_argument("--destinations", type=int, default=1)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs; the one with the least CPU is printed")
    ap.add_argument("--offline", type=int, default=0, help="queue this many for offline handsets, then drain")
    ap.add_argument("--numbers", type=int, default=100_000, help="offline handsets to spread them over")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.offline:
            offline_run(args.store, tmp, args.offline, args.numbers)
            return 0
        smsc, store, loop, clock = build(args.store, tmp)
        run(smsc, loop, clock, min(args.count, 5000), args.batch, args.destinations)  # warm up
        if args.profile:
            prof = cProfile.Profile()
            prof.enable()
        results = [run(smsc, loop, clock, args.count, args.batch, args.destinations) for _ in range(args.repeat)]
        result = min(results, key=lambda r: r["cpu_us_per_msg"])
        if args.profile:
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        print(result)
        smsc.stop()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
