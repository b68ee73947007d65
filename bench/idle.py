"""Many bound, mostly idle SMPP sessions with enquire_link traffic: does the server keep every one of them?

Worker processes (multiprocessing, spawn) open their share of ``sessions`` connections, ``connect_concurrency``
at a time, and bind each as a transceiver.  Once all are bound the parent says "go"; for ``duration``
seconds every session sends an enquire_link every ``interval`` seconds (spread evenly: each worker pings
the next slice of its sessions every 50 ms) and answers the server's own enquire_link at once.  A session the
server unbinds or closes during that time was timed out wrongly: it answered everything.

    python -m bench.idle --port 2775 --sessions 10000 --duration 30

Result fields: counts, ``rtt_*_ms`` (enquire_link -> enquire_link_resp round trip, milliseconds),
``bind_s`` (seconds from the first connect to the last bind_resp).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import struct
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.load import _install_loop, percentile
from bench.servers import raise_fd_limit
from bench.workers import GO, STOP, WorkerPool, run_worker, shares
from smsc.smpp import pdu as P
from smsc.smpp.codec import encode

__all__ = ["IdleSpec", "main", "run_idle"]

_HDR = struct.Struct(">IIII")
_BIND_RESP = 0x80000009
_ENQUIRE, _ENQUIRE_RESP = 0x15, 0x80000015
_UNBIND, _UNBIND_RESP = 0x06, 0x80000006
_TICK = 0.05

_F_BOUND, _F_LOST, _F_UNBOUND, _F_SENT, _F_ANSWERED, _F_SERVER_PINGS, _F_FAILED = range(7)
_NFIELDS = 7
_GO, _STOP = GO, STOP


@dataclass(frozen=True)
class IdleSpec:
    """One worker's share: ``sessions`` connections to host:port, bound as ``system_id``."""

    host: str
    port: int
    sessions: int
    interval: float
    system_id: str = "perf"
    password: str = "perf"
    connect_concurrency: int = 100
    timeout: float = 300.0
    loop: str = "auto"


class IdleProtocol(asyncio.Protocol):
    """One idle ESME session: binds, pings when told to, answers the server's pings and unbinds."""

    def __init__(self, spec: IdleSpec, bound: asyncio.Future[None]) -> None:
        self.spec = spec
        self.bound_future = bound
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.seq = 1
        self.closed = False
        self.unbound_by_server = 0
        self.sent = 0
        self.answered = 0
        self.server_pings = 0
        self.ping_sent_at = 0.0
        self.rtts = array("d")
        self.unbind_resp: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream: asyncio.Transport = transport  # type: ignore[assignment]  # (a stream connection's)
        self.transport = stream
        stream.write(encode(P.BindTransceiver(sequence_number=1, system_id=self.spec.system_id,
                                              password=self.spec.password)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.bound_future.done():
            self.bound_future.set_exception(exc or ConnectionError("closed before bind_resp"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        pos = 0
        n = len(buf)
        out = bytearray()
        while n - pos >= 16:
            length, cid, status, seq = _HDR.unpack_from(buf, pos)
            if length < 16 or pos + length > n:
                break
            if cid == _ENQUIRE_RESP:
                if self.ping_sent_at:
                    self.rtts.append(time.perf_counter() - self.ping_sent_at)
                    self.ping_sent_at = 0.0
                self.answered += 1
            elif cid == _ENQUIRE:
                out += _HDR.pack(16, _ENQUIRE_RESP, 0, seq)
                self.server_pings += 1
            elif cid == _BIND_RESP:
                if not self.bound_future.done():
                    if status:
                        self.bound_future.set_exception(RuntimeError(f"bind refused: status {status:#x}"))
                    else:
                        self.bound_future.set_result(None)
            elif cid == _UNBIND:
                out += _HDR.pack(16, _UNBIND_RESP, 0, seq)
                self.unbound_by_server += 1
            elif cid == _UNBIND_RESP:
                if self.unbind_resp is not None and not self.unbind_resp.done():
                    self.unbind_resp.set_result(None)
            pos += length
        self.buf = buf[pos:] if pos < n else b""
        if out and self.transport is not None:
            self.transport.write(out)

    def ping(self) -> None:
        """Send one enquire_link (unless the previous one is still unanswered)."""
        if self.closed or self.transport is None or self.ping_sent_at:
            return
        self.seq += 1
        self.ping_sent_at = time.perf_counter()
        self.transport.write(_HDR.pack(16, _ENQUIRE, 0, self.seq))
        self.sent += 1

    async def unbind(self, wait: float) -> None:
        if self.closed or self.transport is None:
            return
        self.unbind_resp = asyncio.get_running_loop().create_future()
        self.seq += 1
        self.transport.write(_HDR.pack(16, _UNBIND, 0, self.seq))
        try:
            await asyncio.wait_for(self.unbind_resp, wait)
        except (TimeoutError, ConnectionError):
            pass
        self.transport.close()


def _worker(index: int, spec: IdleSpec, counts: Any, flags: Any, conn: Connection) -> None:
    raise_fd_limit(spec.sessions + 1024)
    _install_loop(spec.loop)
    run_worker(index, lambda: _worker_main(index, spec, counts, flags), counts, index * _NFIELDS + _F_FAILED, conn)


async def _worker_main(index: int, spec: IdleSpec, counts: Any, flags: Any) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    base = index * _NFIELDS
    deadline = time.perf_counter() + spec.timeout
    protos: list[IdleProtocol] = []
    sem = asyncio.Semaphore(spec.connect_concurrency)
    t0 = time.perf_counter()

    async def open_one() -> None:
        async with sem:
            fut: asyncio.Future[None] = loop.create_future()
            _, proto = await loop.create_connection(lambda: IdleProtocol(spec, fut), spec.host, spec.port)
            protos.append(proto)  # type: ignore[arg-type]
            await asyncio.wait_for(fut, 60.0)
            counts[base + _F_BOUND] += 1

    await asyncio.gather(*(open_one() for _ in range(spec.sessions)))
    bind_s = time.perf_counter() - t0
    while not flags[_GO] and not flags[_STOP] and time.perf_counter() < deadline:
        await asyncio.sleep(0.005)
    # Pings owed per tick, a fraction carried over: rounded up to whole pings per tick, 250 sessions at 8 s
    # pinged every 6.25 s (tester 34).
    per_tick = len(protos) * _TICK / spec.interval if protos else 0.0
    owed = 0.0
    cursor = 0
    next_tick = time.perf_counter()
    while not flags[_STOP] and time.perf_counter() < deadline:
        owed += per_tick
        due = int(owed)
        owed -= due
        for _ in range(due):
            protos[cursor].ping()
            cursor = (cursor + 1) % len(protos)
        counts[base + _F_LOST] = sum(1 for p in protos if p.closed)
        counts[base + _F_UNBOUND] = sum(p.unbound_by_server for p in protos)
        counts[base + _F_SENT] = sum(p.sent for p in protos)
        counts[base + _F_ANSWERED] = sum(p.answered for p in protos)
        counts[base + _F_SERVER_PINGS] = sum(p.server_pings for p in protos)
        next_tick += _TICK
        await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
    rtts = array("d")
    for p in protos:
        rtts.extend(p.rtts)
    summary = {
        "sessions": len(protos), "bind_s": bind_s,
        "lost": sum(1 for p in protos if p.closed), "unbound_by_server": sum(p.unbound_by_server for p in protos),
        "sent": sum(p.sent for p in protos), "answered": sum(p.answered for p in protos),
        "unanswered_at_end": sum(1 for p in protos if p.ping_sent_at),
        "server_pings": sum(p.server_pings for p in protos), "rtts": rtts.tobytes(),
    }
    for i in range(0, len(protos), 500):  # unbind in slices so the server is not flooded at once
        await asyncio.gather(*(p.unbind(2.0) for p in protos[i:i + 500]))
    return summary


def default_processes(sessions: int) -> int:
    """One worker per 5,000 sessions, at most one per CPU."""
    return max(1, min(os.cpu_count() or 1, math.ceil(sessions / 5000)))


async def run_idle(*, host: str, port: int, sessions: int = 10000, processes: int = 0, interval: float = 8.0,
                   duration: float = 30.0, system_id: str = "perf", password: str = "perf",
                   connect_concurrency: int = 100, timeout: float = 300.0, loop: str = "auto",
                   on_bound: Callable[[], Awaitable[None]] | None = None,
                   progress: Callable[[dict[str, float]], None] | None = None,
                   progress_every: float = 5.0) -> dict[str, Any]:
    """Hold ``sessions`` bound sessions for ``duration`` seconds with enquire_link every ``interval``
    seconds each; ``on_bound`` is awaited once all are bound (e.g. to read the server's RSS).

    Returns counts (``lost`` + ``unbound_by_server`` is the number of sessions the server dropped),
    ``rtt_p50_ms`` / ``rtt_p99_ms`` / ``rtt_max_ms``, ``bind_s`` and ``finished`` (every session bound and
    kept).  Raises RuntimeError when not every session could bind within ``timeout`` seconds.
    """
    nproc = max(1, min(processes or default_processes(sessions), sessions))
    raise_fd_limit(sessions + 1024)
    pool = WorkerPool(_worker, [
        IdleSpec(host=host, port=port, sessions=share, interval=interval, system_id=system_id,
                 password=password, connect_concurrency=connect_concurrency,
                 timeout=timeout + duration + 60.0, loop=loop)
        for share in shares(sessions, nproc)
    ], _NFIELDS)
    total = pool.total

    failure: str | None = None
    summaries: list[dict[str, Any]] = []
    t_bound = 0.0
    try:
        deadline = time.perf_counter() + timeout
        next_progress = time.perf_counter() + progress_every
        while total(_F_BOUND) < sessions:
            if total(_F_FAILED) or not pool.all_alive():
                failure = "a worker could not connect or bind all its sessions"
                break
            if time.perf_counter() > deadline:
                failure = f"only {total(_F_BOUND)} of {sessions} sessions bound within {timeout} s"
                break
            if progress is not None and time.perf_counter() >= next_progress:
                next_progress = time.perf_counter() + progress_every
                progress({"bound": total(_F_BOUND)})
            await asyncio.sleep(0.02)
        if failure is None:
            t_bound = time.perf_counter()
            if on_bound is not None:
                await on_bound()
            pool.flags[GO] = 1
            end = time.perf_counter() + duration
            while time.perf_counter() < end:
                if total(_F_FAILED):
                    failure = "a worker failed"
                    break
                if progress is not None and time.perf_counter() >= next_progress:
                    next_progress = time.perf_counter() + progress_every
                    progress({"bound": total(_F_BOUND), "pings": total(_F_SENT), "answered": total(_F_ANSWERED),
                              "server_pings": total(_F_SERVER_PINGS), "dropped": total(_F_LOST) + total(_F_UNBOUND)})
                await asyncio.sleep(0.05)
    finally:
        summaries = await pool.stop(receive_wait=60.0, join_wait=10.0)
    errors = [s["error"] for s in summaries if "error" in s]
    good = [s for s in summaries if "error" not in s]
    if failure and not good:
        raise RuntimeError(f"idle binds failed: {failure}; {'; '.join(errors)}")
    rtts = array("d")
    for s in good:
        rtts.frombytes(s["rtts"])
    rtt = sorted(rtts)

    def add(key: str) -> int:
        return sum(s[key] for s in good)

    bound = add("sessions")
    dropped = add("lost") + add("unbound_by_server")
    out: dict[str, Any] = {
        "sessions": sessions, "bound": bound, "client_processes": nproc, "duration_s": duration,
        "interval_s": interval, "bind_s": round(max((s["bind_s"] for s in good), default=0.0), 3),
        "lost": add("lost"), "unbound_by_server": add("unbound_by_server"), "dropped": dropped,
        "pings_sent": add("sent"), "pings_answered": add("answered"), "unanswered_at_end": add("unanswered_at_end"),
        "server_pings_answered": add("server_pings"),
        "rtt_p50_ms": round(percentile(rtt, 0.5) * 1000, 3), "rtt_p99_ms": round(percentile(rtt, 0.99) * 1000, 3),
        "rtt_max_ms": round(rtt[-1] * 1000, 3) if rtt else 0.0,
        "finished": failure is None and not errors and bound == sessions and dropped == 0,
        "t_bound": t_bound,
    }
    if failure or errors:
        out["failure"] = "; ".join(filter(None, [failure, *errors]))
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI: hold the sessions, print one JSON line; exit 1 when a session was dropped or did not bind."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--sessions", type=int, default=10000)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of enquire_link traffic")
    ap.add_argument("--interval", type=float, default=8.0, help="seconds between a session's enquire_link")
    ap.add_argument("--processes", type=int, default=0)
    ap.add_argument("--system-id", default="perf")
    ap.add_argument("--password", default="perf")
    args = ap.parse_args(argv)
    result = asyncio.run(run_idle(host=args.host, port=args.port, sessions=args.sessions, duration=args.duration,
                                  interval=args.interval, processes=args.processes, system_id=args.system_id,
                                  password=args.password,
                                  progress=lambda c: print(f"  {c}", file=sys.stderr, flush=True)))
    print(json.dumps(result))
    return 0 if result["finished"] else 1


if __name__ == "__main__":
    sys.exit(main())
