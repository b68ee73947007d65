"""The whole server path without sockets: microseconds of CPU per message, SMPP bytes in to bytes out.

Starts the real application (``config/bench.yaml``, memory store by default) on a running event loop and
attaches ``--binds`` :class:`~smsc.server.protocol.SmppProtocol` objects to in-memory transports.  Each round
feeds every connection one read of ``--window`` submit_sm (plus the deliver_sm_resp for the receipts it
received), lets the loop run its callbacks, and parses the written bytes (headers only).  No system calls
and no client process: what is printed is what the SMPP adapter, the codec, the session and the core cost,
measured with ``time.process_time`` (CPU seconds of this process), best of ``--repeat`` runs.

    python -m bench.profile_server --count 50000
    python -m bench.profile_server --count 50000 --profile          # cProfile top 30 (tottime)
    python -m bench.profile_server --window 1 --binds 4 --count 20000

Every loop is bounded: a run stops with an error after ``--rounds-max`` rounds without finishing.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import gc
import os
import pstats
import struct
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from smsc.app import App  # noqa: E402
from smsc.config import load_config  # noqa: E402
from smsc.server.protocol import SmppProtocol  # noqa: E402
from smsc.smpp import pdu as P  # noqa: E402
from smsc.smpp.codec import encode  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_HDR = struct.Struct(">IIII")
#: Empty rounds in a row (nothing fed, nothing read: the store's commit is late) after which each round also
#: sleeps a millisecond: CPU time is what is measured, and a stall then costs rounds at a real pace.
IDLE_ROUNDS = 100


class _Transport:
    """The part of ``asyncio.Transport`` the adapter uses; keeps what is written."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


@dataclasses.dataclass
class _Conn:
    proto: SmppProtocol
    transport: _Transport
    seq: int = 2
    sent: int = 0
    responses: int = 0
    receipts: int = 0
    errors: int = 0
    acks: bytearray = dataclasses.field(default_factory=bytearray)


def _submit_template(receipts: bool) -> bytes:
    return encode(P.SubmitSm(
        source_addr_ton=5, source_addr="BENCH", dest_addr_ton=1, dest_addr_npi=1,
        destination_addr="447700900123", registered_delivery=1 if receipts else 0,
        short_message=b"benchmark message",
    ))


def _parse(conn: _Conn) -> None:
    """Count submit_sm_resp and answer every deliver_sm (headers only, as bench.load does)."""
    for chunk in conn.transport.out:
        pos, n = 0, len(chunk)
        while pos + 16 <= n:
            length, cid, status, seq = _HDR.unpack_from(chunk, pos)
            if cid == 0x80000004:
                conn.responses += 1
                if status:
                    conn.errors += 1
            elif cid == 5:
                conn.receipts += 1
                conn.acks += _HDR.pack(17, 0x80000005, 0, seq) + b"\0"
            pos += length
    conn.transport.out.clear()


async def _connect(server: Any, binds: int) -> list[_Conn]:
    """``binds`` transceiver connections of system_id perf on in-memory transports, bound, output cleared."""
    conns: list[_Conn] = []
    bind = encode(P.BindTransceiver(sequence_number=1, system_id="perf", password="perf"))
    for _ in range(binds):
        transport = _Transport()
        proto = SmppProtocol(server)
        proto.connection_made(transport)  # type: ignore[arg-type]
        proto.data_received(bind)
        conns.append(_Conn(proto, transport))
    for _ in range(5):
        await asyncio.sleep(0)
    for c in conns:
        c.transport.out.clear()
    return conns


async def _drive(conns: list[_Conn], template: bytearray, per_bind: int, window: int,
                 args: argparse.Namespace) -> int:
    """Keep ``window`` submit_sm in flight per connection until ``per_bind`` each are answered (and their
    receipts in); return the number of rounds."""
    # Receipts are counted over every connection: smsc hands a system_id's receipts to its binds in turn, not
    # to the bind that submitted (tester 63: with SQLite 1300/1300/1200/1200 of 5,000, and the run spun to
    # --rounds-max waiting for 1,250 on each).
    want_receipts = per_bind * len(conns) if args.receipts else 0
    rounds = 0
    idle = 0  # rounds in a row that fed nothing and read nothing (waiting for the store's commits)
    while any(c.responses < per_bind for c in conns) or sum(c.receipts for c in conns) < want_receipts:
        rounds += 1
        if rounds > args.rounds_max:
            raise RuntimeError(f"not finished after {rounds} rounds: "
                               f"{[(c.seq, c.sent, c.responses, c.receipts, c.errors) for c in conns]}")
        before = sum(c.responses + c.receipts for c in conns)
        fed = False
        for c in conns:
            data = bytearray(c.acks)
            c.acks.clear()
            room = min(window - (c.sent - c.responses), per_bind - c.sent)
            for _ in range(max(0, room)):
                c.seq += 1
                struct.pack_into(">I", template, 12, c.seq)
                data += template
                c.sent += 1
            if data:
                fed = True
                c.proto.data_received(bytes(data))
        pacer = getattr(args, "pacer", None)  # (bench.profile_adapter runs no pacer)
        if pacer is not None and rounds % args.pacer_every == 0:
            pacer.tick()  # (smsc serve ticks it once a second)
        if rounds % args.yield_every == 0:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        for c in conns:
            _parse(c)
        if fed or sum(c.responses + c.receipts for c in conns) != before:
            idle = 0
        else:
            idle += 1
            if idle >= IDLE_ROUNDS:
                # A commit takes long (a loaded machine): wait for it in real time instead of spinning, so that
                # --rounds-max bounds a stall of seconds, not of 20,000 empty rounds (a CI run under load).
                await asyncio.sleep(0.001)
    return rounds


async def _run(args: argparse.Namespace, profile: cProfile.Profile | None) -> dict[str, Any]:
    config = load_config(os.path.join(ROOT, "config", "bench.yaml"))
    store = dataclasses.replace(config.store, kind=args.store, path=os.path.join(args.workdir, "pserver.sqlite"))
    config = dataclasses.replace(config, store=store)
    app = App(config)
    await app.start(host="127.0.0.1", port=0, http=False)
    assert app.smpp is not None
    args.pacer = None
    if args.gc_pacer:  # as smsc serve runs (smsc.gc_pacer), ticked every --gc-pacer-every rounds
        from smsc.gc_pacer import GcPacer

        counters = app.smpp.counters
        args.pacer = GcPacer(lambda: counters.connections_opened + counters.submits + counters.deliveries_sent)
        args.pacer.start()
    try:
        conns = await _connect(app.smpp, args.binds)
        template = bytearray(_submit_template(args.receipts))
        if args.warmup:  # a server that has already served traffic (final messages kept, heaps grown)
            await _drive(conns, template, args.warmup // args.binds, 100, args)
            for c in conns:
                c.sent = c.responses = c.receipts = c.errors = 0
        per_bind = args.count // args.binds
        gc.collect()
        t_cpu, t_wall = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        rounds = await _drive(conns, template, per_bind, args.window, args)
        if profile is not None:
            profile.disable()
        cpu, wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
        messages = per_bind * args.binds
        return {
            "store": args.store, "binds": args.binds, "window": args.window, "messages": messages,
            "responses": sum(c.responses for c in conns), "errors": sum(c.errors for c in conns),
            "receipts": sum(c.receipts for c in conns), "rounds": rounds,
            "cpu_us_per_msg": round(cpu / messages * 1e6, 2), "wall_us_per_msg": round(wall / messages * 1e6, 2),
        }
    finally:
        await app.stop()
        if args.pacer is not None:
            gc.unfreeze()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    ap.add_argument("--count", type=int, default=50000, help="submit_sm in all")
    ap.add_argument("--binds", type=int, default=4)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--no-receipts", dest="receipts", action="store_false")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumulative)")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--dump", metavar="FILE", help="with --profile: also write the cProfile stats to FILE")
    ap.add_argument("--repeat", type=int, default=3, help="runs; the one with the least CPU is printed")
    ap.add_argument("--warmup", type=int, default=0,
                    help="serve this many messages (4 x 100, untimed) before measuring, as a long-running server")
    ap.add_argument("--yield-every", type=int, default=1,
                    help="let the loop run its callbacks every N rounds (replies are written within the read)")
    ap.add_argument("--rounds-max", type=int, default=2_000_000)
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop (as smsc serve does when installed)")
    ap.add_argument("--gc-pacer", action="store_true", help="pace the garbage collector as smsc serve does")
    ap.add_argument("--pacer-every", type=int, default=100,
                    help="with --gc-pacer: rounds between two ticks (100 rounds of 4 x 100: about a second live)")
    args = ap.parse_args(argv)
    for name in ("binds", "window", "repeat"):
        if getattr(args, name) < 1:  # (--window 0 spun to --rounds-max: tester 63)
            ap.error(f"--{name}: expected a whole number of at least 1, got {getattr(args, name)}")
    if args.count < args.binds:  # (fewer than one message per bind divided by zero: tester 63)
        ap.error(f"--count: expected at least one message per bind ({args.binds}), got {args.count}")
    import logging
    import tempfile

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    best: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory() as workdir:
        args.workdir = workdir
        for i in range(1 if args.profile else args.repeat):
            profile = cProfile.Profile() if args.profile else None
            runner = asyncio.run
            if args.uvloop:
                import uvloop

                runner = uvloop.run
            result = runner(_run(args, profile))
            if os.path.exists(os.path.join(workdir, "pserver.sqlite")):
                for suffix in ("", "-wal", "-shm"):
                    try:
                        os.remove(os.path.join(workdir, "pserver.sqlite" + suffix))
                    except FileNotFoundError:
                        pass
            if best is None or result["cpu_us_per_msg"] < best["cpu_us_per_msg"]:
                best = result
            if profile is not None:
                pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
                if args.dump:
                    profile.dump_stats(args.dump)
    print(best)
    return 0


if __name__ == "__main__":
    sys.exit(main())
