"""Pipelined SMPP load generator: several binds, a window of unanswered submit_sm each, batched writes.

Each bind is an ``asyncio.Protocol`` that keeps ``window`` submit_sm in flight, writes every submit its read
made room for in one ``transport.write``, answers deliver_sm (receipts) in one write per read, and records
the submit_sm -> submit_sm_resp latency of every message.  It prints one JSON line per run (and a readable
summary with ``--table``).  Bounded: it stops after ``--count`` messages per bind or ``--timeout`` seconds.

    python -m bench.load --port 2775 --binds 4 --window 100 --count 20000 --receipts
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import struct
import sys
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from smsc.smpp import pdu as P  # noqa: E402
from smsc.smpp.codec import Framer, encode  # noqa: E402

_SEQ = struct.Struct(">I")


@dataclass
class BindResult:
    sent: int = 0
    ok: int = 0
    errors: int = 0
    receipts: int = 0
    latencies: list[float] = field(default_factory=list)
    first_send: float = 0.0
    last_resp: float = 0.0
    last_receipt: float = 0.0


class LoadProtocol(asyncio.Protocol):
    """One bind of the load generator."""

    def __init__(self, *, system_id: str, password: str, window: int, count: int, receipts: bool,
                 destination: str, done: asyncio.Future[None]) -> None:
        self.window = window
        self.count = count
        self.want_receipts = receipts
        self.done = done
        self.result = BindResult()
        self.framer = Framer()
        self.transport: asyncio.Transport | None = None
        self.bound = False
        self.inflight = 0
        self.send_times: dict[int, float] = {}
        self.next_seq = 2
        self.system_id = system_id
        self.password = password
        template = encode(P.SubmitSm(
            source_addr_ton=5, source_addr="BENCH", dest_addr_ton=1, dest_addr_npi=1,
            destination_addr=destination, registered_delivery=1 if receipts else 0,
            short_message=b"benchmark message",
        ))
        self.template = bytearray(template)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(encode(P.BindTransceiver(sequence_number=1, system_id=self.system_id,
                                                      password=self.password)))

    def _fill(self, out: bytearray) -> None:
        res = self.result
        now = time.perf_counter()
        tpl = self.template
        while self.inflight < self.window and res.sent < self.count:
            seq = self.next_seq
            self.next_seq += 1
            _SEQ.pack_into(tpl, 12, seq)
            out += tpl
            self.send_times[seq] = now
            self.inflight += 1
            res.sent += 1
        if res.first_send == 0.0 and res.sent:
            res.first_send = now

    def data_received(self, data: bytes) -> None:
        out = bytearray()
        res = self.result
        now = time.perf_counter()
        for pdu in self.framer.feed(data):
            cid = getattr(pdu, "command_id", None)
            if cid == 0x80000004:
                t0 = self.send_times.pop(pdu.sequence_number, None)  # type: ignore[union-attr]
                if t0 is not None:
                    res.latencies.append(now - t0)
                    self.inflight -= 1
                if pdu.command_status == 0:  # type: ignore[union-attr]
                    res.ok += 1
                else:
                    res.errors += 1
                res.last_resp = now
            elif cid == 0x00000005:
                out += encode(P.DeliverSmResp(sequence_number=pdu.sequence_number))  # type: ignore[union-attr]
                res.receipts += 1
                res.last_receipt = now
            elif cid == 0x80000009:
                if pdu.command_status != 0:  # type: ignore[union-attr]
                    self._finish(RuntimeError(f"bind refused: status {pdu.command_status:#x}"))  # type: ignore[union-attr]
                    return
                self.bound = True
            elif cid == 0x00000015:
                out += encode(P.EnquireLinkResp(sequence_number=pdu.sequence_number))  # type: ignore[union-attr]
        if self.bound:
            self._fill(out)
        if out and self.transport is not None:
            self.transport.write(out)
        if res.sent >= self.count and self.inflight == 0 and (
            not self.want_receipts or res.receipts >= res.ok
        ):
            self._finish(None)

    def _finish(self, exc: Exception | None) -> None:
        if not self.done.done():
            if exc is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(exc or ConnectionError("connection closed by the server"))


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest rank; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[k]


async def run_load(*, host: str, port: int, binds: int, window: int, count: int, receipts: bool,
                   system_id: str = "perf", password: str = "perf", destination: str = "447700900123",
                   timeout: float = 120.0) -> dict[str, object]:
    """Run one load and return its figures (rates in messages per second, latencies in milliseconds)."""
    loop = asyncio.get_running_loop()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    protos: list[LoadProtocol] = []
    waits = []
    for _ in range(binds):
        done: asyncio.Future[None] = loop.create_future()
        _, proto = await loop.create_connection(
            lambda d=done: LoadProtocol(system_id=system_id, password=password, window=window, count=count,
                                        receipts=receipts, destination=destination, done=d),
            host, port)
        protos.append(proto)  # type: ignore[arg-type]
        waits.append(done)
    t0 = time.perf_counter()
    finished = True
    try:
        await asyncio.wait_for(asyncio.gather(*waits), timeout)
    except asyncio.TimeoutError:
        finished = False
    elapsed_all = time.perf_counter() - t0
    for p in protos:
        if p.transport is not None:
            p.transport.close()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    results = [p.result for p in protos]
    ok = sum(r.ok for r in results)
    first = min((r.first_send for r in results if r.first_send), default=t0)
    last_resp = max((r.last_resp for r in results), default=first)
    lat = sorted(x for r in results for x in r.latencies)
    n_receipts = sum(r.receipts for r in results)
    last_receipt = max((r.last_receipt for r in results), default=last_resp)
    submit_span = max(1e-9, last_resp - first)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return {
        "binds": binds, "window": window, "messages": sum(r.sent for r in results), "ok": ok,
        "errors": sum(r.errors for r in results), "receipts": n_receipts, "finished": finished,
        "submit_per_s": round(ok / submit_span, 1),
        "receipts_per_s": round(n_receipts / max(1e-9, last_receipt - first), 1) if n_receipts else 0.0,
        "p50_ms": round(percentile(lat, 0.50) * 1000, 3), "p99_ms": round(percentile(lat, 0.99) * 1000, 3),
        "elapsed_s": round(elapsed_all, 3),
        "client_cpu_us_per_msg": round(cpu / max(1, ok) * 1e6, 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--binds", type=int, default=4)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--count", type=int, default=10000, help="messages per bind")
    ap.add_argument("--receipts", action="store_true", help="ask for and wait for a receipt per message")
    ap.add_argument("--system-id", default="perf")
    ap.add_argument("--password", default="perf")
    ap.add_argument("--destination", default="447700900123")
    ap.add_argument("--timeout", type=float, default=120.0)
    args = ap.parse_args(argv)
    result = asyncio.run(run_load(host=args.host, port=args.port, binds=args.binds, window=args.window,
                                  count=args.count, receipts=args.receipts, system_id=args.system_id,
                                  password=args.password, destination=args.destination, timeout=args.timeout))
    print(json.dumps(result))
    return 0 if result["finished"] else 1


if __name__ == "__main__":
    sys.exit(main())
