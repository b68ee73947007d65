"""The drain alone, no sockets: CPU per message when a queue for absent handsets drains to an ESME that keeps up.

Queues ``--count`` messages (receipts asked) for ``--numbers`` handsets that are off, lets them leave memory
(SQLite), brings every handset back and acts as the ESME's receiver: each loop turn it takes at most
``--window`` deliveries and acknowledges them.  Prints the CPU microseconds per drained message (this process,
the store's writer and reader threads included) and how many deliveries went to disk and back
(``deliveries_spilled``): with a receiver that keeps up there should be none.

    python -m bench.profile_drain --count 40000
    python -m bench.profile_drain --count 40000 --store memory

Every loop is bounded: the drain stops after ``--seconds`` of real time, and the run then fails.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.profile_engine import build  # noqa: E402
from smsc.core.api import Address, Submission  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", choices=("memory", "sqlite"), default="sqlite")
    ap.add_argument("--count", type=int, default=40_000, help="messages queued, then drained")
    ap.add_argument("--numbers", type=int, default=100, help="handsets they are spread over")
    ap.add_argument("--window", type=int, default=400, help="deliveries the receiver takes per loop turn")
    ap.add_argument("--seconds", type=float, default=120.0, help="longest drain, real seconds")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        smsc, store, loop, clock = build(args.store, tmp, offline=True)

        def turn(step: float) -> None:
            loop.run()
            clock.advance(step)
            smsc.scheduler.run_due(clock.now())
            loop.run()

        subs = [Submission(system_id="perf", source=Address(ton=5, addr="BENCH"),
                           destination=Address(ton=1, npi=1, addr=f"4477{i:08d}"), registered_delivery=1,
                           short_message=b"benchmark message") for i in range(args.numbers)]
        for i in range(args.count):
            smsc.submit(subs[i % args.numbers], lambda result: None)
            if i % 1000 == 999:
                turn(0.001)
        for _ in range(20):  # every commit back, the waiting messages evicted
            turn(0.01)
            time.sleep(0.01)
        gc.collect()
        spilled_before = getattr(smsc.stats, "deliveries_spilled", 0)  # (a counter since session 6)
        c0, t0 = time.process_time(), time.perf_counter()
        for i in range(args.numbers):
            smsc.set_handset_online(f"4477{i:08d}", True)
        receipts = 0
        deadline = t0 + args.seconds
        while receipts < args.count and time.perf_counter() < deadline:
            turn(0.001)
            taken = smsc.take_deliveries("perf", args.window)
            for delivery in taken:
                smsc.delivery_acked(delivery.delivery_id, 0)
            receipts += len(taken)
            if not taken:
                time.sleep(0.0005)  # a read is on its way back from the reader thread
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        smsc.stop()
        store.close()
    print({"store": args.store, "messages": args.count, "receipts": receipts,
           "cpu_us_per_msg": round(cpu / args.count * 1e6, 1), "wall_us_per_msg": round(wall / args.count * 1e6, 1),
           "deliveries_spilled": getattr(smsc.stats, "deliveries_spilled", 0) - spilled_before})
    return 0 if receipts == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
