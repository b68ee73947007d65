"""Pipelined SMPP load generator: several processes, several binds each, a window of submit_sm per bind.

Each bind is an ``asyncio.Protocol`` that keeps ``window`` submit_sm in flight, writes every submit a read
made room for in one ``transport.write``, answers deliver_sm (receipts, MO) in the same write, and records the
submit_sm -> submit_sm_resp latency of every message.  Responses are read from their 16-octet headers alone
(struct.unpack_from); a deliver_sm is looked into only as far as its esm_class and ``stat:`` field, so the
generator spends a few microseconds of CPU per message and shows how many (``client_cpu_us_per_msg``,
``client_cpu_cores``) so a reader can tell it was not the bottleneck.

Binds are spread over ``--processes`` worker processes (multiprocessing, spawn).  Every worker connects and
binds first; the parent then says "go" to all at once, so bind time is not measured.  Workers publish their
counters in shared memory every 10 ms; the parent decides when the run is complete: every submit answered,
and (``--receipts``) a receipt for every accepted message, plus any ``--expect-receipts`` / ``--expect-mo``
deliveries, wherever they arrived (smsc hands a system_id's deliveries to any of its binds, round robin).

It prints one JSON line per run.  Bounded: ``--count`` messages per bind, ``--duration`` seconds of
submitting, ``--timeout`` seconds in all (by default 120 beyond ``--duration``).

    python -m bench.load --port 2775 --binds 4 --window 100 --count 20000 --receipts

Times in the result: rates in messages per second, latencies in milliseconds, ``t_*`` fields in seconds of
``time.perf_counter()`` (CLOCK_MONOTONIC, the same in every process on Linux).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import resource
import signal
import struct
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from zlib import crc32

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.workers import GO, STOP, Terminated, WorkerPool, on_sigterm_raise, run_worker, shares
from smsc.smpp import pdu as P
from smsc.smpp.codec import encode

__all__ = ["LoadSpec", "main", "percentile", "run_load"]

_HDR = struct.Struct(">IIII")


def _status_name(status: int) -> str:
    """``0x0000000E (ESME_RINVPASWD)``: a command_status with its SMPP 3.4 name when it has one."""
    from smsc.smpp.constants import CommandStatus

    try:
        return f"status {status:#010x} ({CommandStatus(status).name})"
    except ValueError:
        return f"status {status:#010x}"
_SEQ = struct.Struct(">I")
#: deliver_sm_resp with an empty message_id: header + one NUL octet (SMPP 3.4 section 4.6.2).
_DELIVER_RESP = struct.Struct(">IIIIx")
_ENQUIRE_RESP = struct.Struct(">IIII")

#: submit_sm per bind when neither ``--count`` nor ``--duration`` is given; with ``--duration`` alone, no count
#: ends the run first.
DEFAULT_COUNT = 10_000
UNBOUNDED_COUNT = 1 << 62
#: Seconds a run may take beyond its ``--duration`` of submitting before it ends unfinished (the CLI's default).
DEFAULT_TIMEOUT = 120.0
#: Seconds without a new receipt or MO, once every submit is answered, after which a run that still waits for some
#: ends unfinished (``--receipt-wait``): the SMSC delivers the bench's messages at once.
DEFAULT_RECEIPT_WAIT = 10.0

SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
ENQUIRE_LINK = 0x00000015
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
GENERIC_NACK = 0x80000000
_BIND_RESPS = (0x80000001, 0x80000002, 0x80000009)

#: Shared counter slots per worker (int64 each), published every ``_TICK`` seconds.
_F_SENT, _F_OK, _F_ERR, _F_RCPT, _F_MO, _F_BOUND, _F_LOST, _F_SUBMIT_DONE, _F_FAILED = range(9)
_NFIELDS = 9
_TICK = 0.01

#: Flags shared by the parent: [go, stop] (see bench/workers.py).
_GO, _STOP = GO, STOP


@dataclass(frozen=True)
class LoadSpec:
    """What one worker process runs: its share of the binds and the load of each.

    ``count``: submit_sm per bind (0 = bind and only receive); ``window``: submits in flight per bind;
    ``duration``: seconds of submitting after go (None = until ``count``); ``destinations``: the number of
    destination numbers, ``destination`` + 0, + 1 ... used in turn; ``bind_type``: "transceiver",
    "transmitter" or "receiver"; ``ask_receipts``: registered_delivery 1 in each submit (None = as
    ``receipts``; True with ``receipts`` False asks for receipts without waiting for them).
    """

    host: str
    port: int
    binds: int
    window: int
    count: int
    receipts: bool
    system_id: str = "perf"
    password: str = "perf"
    destination: str = "447700900123"
    destinations: int = 1
    duration: float | None = None
    timeout: float = 120.0
    loop: str = "auto"
    bind_type: str = "transceiver"
    ask_receipts: bool | None = None


@dataclass
class BindResult:
    """Counters and times of one bind (times: perf_counter seconds; latencies: seconds)."""

    sent: int = 0
    ok: int = 0
    errors: int = 0
    receipts: int = 0
    receipts_not_delivered: int = 0
    #: Sums of the CRC-32 of the message_ids accepted (submit_sm_resp status 0) and of the ids the receipts name
    #: (their "id:"), lower case without leading zeros: equal counts with unequal sums are receipts lost for
    #: some messages and duplicated for others (tester 123), found across binds and worker processes at O(1)
    #: per message.
    ok_ids_sum: int = 0
    receipt_ids_sum: int = 0
    mo: int = 0
    unbound_by_server: int = 0
    latencies: array = field(default_factory=lambda: array("d"))
    first_send: float = 0.0
    last_resp: float = 0.0
    first_delivery: float = 0.0
    last_receipt: float = 0.0
    last_mo: float = 0.0


def _templates(spec: LoadSpec) -> list[bytearray]:
    """One encoded submit_sm per destination number (sequence_number patched per send)."""
    out = []
    base = int(spec.destination)
    ask = spec.receipts if spec.ask_receipts is None else spec.ask_receipts
    for i in range(max(1, spec.destinations)):
        out.append(bytearray(encode(P.SubmitSm(
            source_addr_ton=5, source_addr="BENCH", dest_addr_ton=1, dest_addr_npi=1,
            destination_addr=str(base + i), registered_delivery=1 if ask else 0,
            short_message=b"benchmark message",
        ))))
    return out


def _bind_pdu(spec: LoadSpec) -> bytes:
    cls = {"transceiver": P.BindTransceiver, "transmitter": P.BindTransmitter, "receiver": P.BindReceiver}
    return encode(cls[spec.bind_type](sequence_number=1, system_id=spec.system_id, password=spec.password))


class LoadProtocol(asyncio.Protocol):
    """One bind of the load generator (ESME side of SMPP 3.4, just enough for load)."""

    def __init__(self, spec: LoadSpec, templates: list[bytearray], bound: asyncio.Future[None]) -> None:
        self.spec = spec
        self.window = spec.window
        self.count = spec.count
        self.templates = templates
        self.bound_future = bound
        self.result = BindResult()
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.bound = False
        self.started = False
        self.closed = False
        self.inflight = 0
        self.send_times: dict[int, float] = {}
        self.next_seq = 2
        self.unbind_resp: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        stream: asyncio.Transport = transport  # type: ignore[assignment]  # (a stream connection's)
        self.transport = stream
        stream.write(_bind_pdu(self.spec))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.bound_future.done():
            self.bound_future.set_exception(exc or ConnectionError("connection closed before bind_resp"))

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        n = len(buf)
        pos = 0
        out = bytearray()
        res = self.result
        now = time.perf_counter()
        send_times = self.send_times
        lat = res.latencies
        unpack = _HDR.unpack_from
        while n - pos >= 16:
            length, cid, status, seq = unpack(buf, pos)
            if length < 16:
                self.transport.close()  # type: ignore[union-attr]
                return
            end = pos + length
            if end > n:
                break
            if cid == SUBMIT_SM_RESP or cid == GENERIC_NACK:
                t0 = send_times.pop(seq, None)
                if t0 is not None:
                    lat.append(now - t0)
                    self.inflight -= 1
                if status == 0 and cid == SUBMIT_SM_RESP:
                    res.ok += 1
                    res.ok_ids_sum += crc32(buf[pos + 16:end - 1].lower().lstrip(b"0"))
                else:
                    res.errors += 1
                res.last_resp = now
            elif cid == DELIVER_SM:
                out += _DELIVER_RESP.pack(17, 0x80000005, 0, seq)
                if not res.first_delivery:
                    res.first_delivery = now
                # esm_class sits after service_type, source (ton, npi, addr), dest (ton, npi, addr).
                p = buf.index(b"\0", pos + 16) + 3
                p = buf.index(b"\0", p) + 3
                p = buf.index(b"\0", p) + 1
                if buf[p] & 0x3C:  # a receipt or another SMSC-generated notification (section 5.2.12)
                    res.receipts += 1
                    res.last_receipt = now
                    i = buf.find(b"id:", p, end)
                    if i >= 0:
                        j = buf.find(b" ", i, end)
                        res.receipt_ids_sum += crc32(buf[i + 3:j if j >= 0 else end].lower().lstrip(b"0"))
                    if buf.find(b"stat:DELIVRD", p, end) < 0:
                        res.receipts_not_delivered += 1
                else:
                    res.mo += 1
                    res.last_mo = now
            elif cid == ENQUIRE_LINK:
                out += _ENQUIRE_RESP.pack(16, 0x80000015, 0, seq)
            elif cid in _BIND_RESPS:
                if status != 0:
                    if not self.bound_future.done():
                        self.bound_future.set_exception(RuntimeError(f"bind refused: {_status_name(status)}"))
                    return
                self.bound = True
                if not self.bound_future.done():
                    self.bound_future.set_result(None)
            elif cid == UNBIND:
                out += _ENQUIRE_RESP.pack(16, UNBIND_RESP, 0, seq)
                res.unbound_by_server += 1
            elif cid == UNBIND_RESP:
                if self.unbind_resp is not None and not self.unbind_resp.done():
                    self.unbind_resp.set_result(None)
            pos = end
        self.buf = buf[pos:] if pos < n else b""
        if self.started:
            self._fill(out, now)
        if out:
            self.transport.write(out)  # type: ignore[union-attr]

    # -- load ----------------------------------------------------------------------------------------

    def _fill(self, out: bytearray, now: float) -> None:
        res = self.result
        room = min(self.window - self.inflight, self.count - res.sent)
        if room <= 0:
            return
        tpls = self.templates
        k = len(tpls)
        seq = self.next_seq
        send_times = self.send_times
        pack_into = _SEQ.pack_into
        for _ in range(room):
            tpl = tpls[seq % k] if k > 1 else tpls[0]
            pack_into(tpl, 12, seq)
            out += tpl
            send_times[seq] = now
            seq += 1
        self.next_seq = seq
        self.inflight += room
        res.sent += room
        if not res.first_send:
            res.first_send = now

    def start(self) -> None:
        """Begin submitting: write the first window."""
        self.started = True
        out = bytearray()
        self._fill(out, time.perf_counter())
        if out and self.transport is not None:
            self.transport.write(out)

    def stop_submitting(self) -> None:
        """Send no more submit_sm (the duration is over); those in flight are still awaited."""
        self.count = self.result.sent

    @property
    def submit_done(self) -> bool:
        return self.result.sent >= self.count and self.inflight == 0

    async def unbind(self, wait: float = 1.0) -> None:
        """Send unbind, wait up to ``wait`` seconds for unbind_resp, then close the socket."""
        if self.transport is None or self.closed:
            return
        self.unbind_resp = asyncio.get_running_loop().create_future()
        self.transport.write(_HDR.pack(16, UNBIND, 0, self.next_seq))
        try:
            await asyncio.wait_for(self.unbind_resp, wait)
        except (TimeoutError, ConnectionError):
            pass
        self.transport.close()


# ---------------------------------------------------------------------------------------------- worker


def _install_loop(choice: str) -> None:
    if choice in ("auto", "uvloop"):
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        except ImportError:
            if choice == "uvloop":
                raise


def _cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _worker(index: int, spec: LoadSpec, counts: Any, flags: Any, conn: Connection) -> None:
    """Entry point of one worker process: bind, wait for go, load, report through ``conn``."""
    _install_loop(spec.loop)
    run_worker(index, lambda: _worker_main(index, spec, counts, flags), counts, index * _NFIELDS + _F_FAILED, conn)


async def _worker_main(index: int, spec: LoadSpec, counts: Any, flags: Any) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = time.perf_counter() + spec.timeout
    templates = _templates(spec)
    base = index * _NFIELDS
    protos: list[LoadProtocol] = []
    waits = []
    for _ in range(spec.binds):
        fut: asyncio.Future[None] = loop.create_future()
        _, proto = await loop.create_connection(functools.partial(LoadProtocol, spec, templates, fut),
                                                spec.host, spec.port)
        protos.append(proto)  # type: ignore[arg-type]
        waits.append(fut)
    await asyncio.wait_for(asyncio.gather(*waits), max(0.1, deadline - time.perf_counter()))
    counts[base + _F_BOUND] = len(protos)
    while not flags[_GO] and not flags[_STOP] and time.perf_counter() < deadline:
        await asyncio.sleep(0.002)
    cpu0 = _cpu_seconds()
    t_go = time.perf_counter()
    for p in protos:
        p.start()
    stop_at = t_go + spec.duration if spec.duration else None
    while True:
        now = time.perf_counter()
        if stop_at is not None and now >= stop_at:
            for p in protos:
                p.stop_submitting()
            stop_at = None
        results = [p.result for p in protos]
        counts[base + _F_SENT] = sum(r.sent for r in results)
        counts[base + _F_OK] = sum(r.ok for r in results)
        counts[base + _F_ERR] = sum(r.errors for r in results)
        counts[base + _F_RCPT] = sum(r.receipts for r in results)
        counts[base + _F_MO] = sum(r.mo for r in results)
        counts[base + _F_LOST] = sum(1 for p in protos if p.closed)
        counts[base + _F_SUBMIT_DONE] = int(all(p.submit_done for p in protos))
        if flags[_STOP] or now >= deadline:
            break
        await asyncio.sleep(_TICK)
    cpu = _cpu_seconds() - cpu0
    t_end = time.perf_counter()
    results = [p.result for p in protos]
    summary = {
        "cpu_s": cpu, "t_go": t_go, "t_end": t_end,
        "sent": sum(r.sent for r in results), "ok": sum(r.ok for r in results),
        "errors": sum(r.errors for r in results), "receipts": sum(r.receipts for r in results),
        "receipts_not_delivered": sum(r.receipts_not_delivered for r in results),
        "ok_ids_sum": sum(r.ok_ids_sum for r in results), "receipt_ids_sum": sum(r.receipt_ids_sum for r in results),
        "mo": sum(r.mo for r in results), "unbound_by_server": sum(r.unbound_by_server for r in results),
        "lost": sum(1 for p in protos if p.closed),
        "first_send": min((r.first_send for r in results if r.first_send), default=0.0),
        "last_resp": max((r.last_resp for r in results), default=0.0),
        "first_delivery": min((r.first_delivery for r in results if r.first_delivery), default=0.0),
        "last_receipt": max((r.last_receipt for r in results), default=0.0),
        "last_mo": max((r.last_mo for r in results), default=0.0),
        "latencies": b"".join(r.latencies.tobytes() for r in results),
    }
    for p in protos:  # (a bind stopped mid-run went on refilling its window after its unbind: tester 77)
        p.stop_submitting()
    await asyncio.gather(*(p.unbind() for p in protos))
    return summary


# ---------------------------------------------------------------------------------------------- parent


def percentile(sorted_values: Any, q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest rank; 0.0 when empty."""
    if not len(sorted_values):
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return float(sorted_values[k])


def default_processes(binds: int) -> int:
    """Worker processes when not given: one per 16 binds, at most half the CPUs (the server needs the
    rest), at least one."""
    cpus = os.cpu_count() or 2
    return max(1, min(binds, (binds + 15) // 16, cpus // 2))


async def run_load(*, host: str, port: int, binds: int = 4, window: int = 100, count: int = 10000,
                   receipts: bool = False, system_id: str = "perf", password: str = "perf",
                   destination: str = "447700900123", destinations: int = 1, timeout: float = 120.0,
                   processes: int = 0, duration: float | None = None, expect_receipts: int = 0,
                   expect_mo: int = 0, loop: str = "auto", bind_type: str = "transceiver",
                   ask_receipts: bool | None = None,
                   on_bound: Callable[[], Awaitable[None]] | None = None,
                   progress: Callable[[dict[str, float]], None] | None = None,
                   progress_every: float = 2.0, allow_refusals: bool = False,
                   receipt_wait: float = DEFAULT_RECEIPT_WAIT) -> dict[str, Any]:
    """Run one load and return its figures.

    ``binds`` connections (spread over ``processes`` workers, 0 = :func:`default_processes`) each submit
    ``count`` submit_sm (or for ``duration`` seconds) with ``window`` in flight.  The run is complete when
    every submit is answered and, with ``receipts``, one receipt per accepted submit plus
    ``expect_receipts`` more and ``expect_mo`` MO deliver_sm have arrived; or after ``timeout`` seconds
    (``finished`` false).  ``finished`` is false too, with the reason in ``failure``, when a submit was refused
    (unless ``allow_refusals``), or, with ``receipts``, more receipts came than were expected or one is not
    ``stat:DELIVRD``, or the receipts do not name the accepted message_ids one each (lost and duplicated ones);
    and it ends early, unfinished, when every submit is answered and no receipt or MO has come for
    ``receipt_wait`` seconds (0: wait for the timeout).  ``on_bound`` is awaited once every bind is bound, just after "go" (e.g. switch
    handsets on).  ``ask_receipts``: see :class:`LoadSpec`.  ``progress`` is called about every
    ``progress_every`` seconds with the live counters.

    Returns a dict: rates in messages per second, latencies in milliseconds, ``client_cpu_us_per_msg``
    (generator CPU, microseconds per submit or MO), ``client_cpu_cores`` (generator CPU seconds per second
    of the run), ``t_*`` in perf_counter seconds.  Raises RuntimeError when a worker could not connect
    or bind.
    """
    nproc = processes or default_processes(binds)
    nproc = max(1, min(nproc, binds))
    t_start = time.perf_counter()
    pool = WorkerPool(_worker, [
        LoadSpec(host=host, port=port, binds=share, window=window, count=count, receipts=receipts,
                 system_id=system_id, password=password, destination=destination,
                 destinations=destinations, duration=duration, timeout=timeout + 30.0, loop=loop,
                 bind_type=bind_type, ask_receipts=ask_receipts)
        for share in shares(binds, nproc)
    ], _NFIELDS)
    total = pool.total

    summaries: list[dict[str, Any]] = []
    finished = False
    failure: str | None = None
    t_go = 0.0
    try:
        bind_deadline = time.perf_counter() + max(30.0, timeout)
        while total(_F_BOUND) < binds:
            if total(_F_FAILED) or not pool.all_alive():
                failure = "a worker could not connect or bind"
                break
            if time.perf_counter() > bind_deadline:
                failure = "binds not complete within the timeout"
                break
            await asyncio.sleep(0.005)
        if failure is None:
            t_go = time.perf_counter()
            pool.flags[GO] = 1
            if on_bound is not None:
                await on_bound()
            deadline = t_go + timeout
            next_progress = t_go + progress_every
            seen = (-1, -1)  # (receipts, MO) at the last change, and when it came (or every submit was answered)
            changed_at = t_go
            was_submitted = False
            while True:
                now = time.perf_counter()
                ok = total(_F_OK)
                need_receipts = (ok if receipts else 0) + expect_receipts
                submitted = total(_F_SUBMIT_DONE) == nproc
                have = (total(_F_RCPT), total(_F_MO))
                if submitted and have[0] >= need_receipts and have[1] >= expect_mo:
                    finished = True
                    break
                if total(_F_LOST) or total(_F_FAILED):
                    failure = "connection closed by the server" if total(_F_LOST) else "a worker failed"
                    break
                if have != seen or (submitted and not was_submitted):
                    # (counted from the later of the last receipt and the last answer: tester 127 saw a --duration
                    # run end 0.02 s after its last response, its receipts "lost")
                    seen, changed_at = have, now
                was_submitted = submitted
                if submitted and receipt_wait and now - changed_at >= receipt_wait:
                    # (tester 123: with receipts lost, the run waited out its 120 s and said only "timeout")
                    failure = (f"{have[0]:,} of {need_receipts:,} receipts and {have[1]:,} of {expect_mo:,} MO after "
                               f"every submit was answered; none more came for {receipt_wait:g} s (receipts lost, "
                               f"or owed to another bind)")
                    break
                if now >= deadline:
                    failure = (f"not complete within the timeout ({timeout:g} s): {total(_F_SENT):,} sent, {ok:,} "
                               f"accepted, {have[0]:,} of {need_receipts:,} receipts, {have[1]:,} of {expect_mo:,} MO")
                    break
                if progress is not None and now >= next_progress:
                    next_progress = now + progress_every
                    progress({"sent": total(_F_SENT), "ok": ok, "errors": total(_F_ERR),
                              "receipts": total(_F_RCPT), "mo": total(_F_MO), "elapsed_s": round(now - t_go, 1)})
                await asyncio.sleep(_TICK)
    finally:
        summaries = await pool.stop(receive_wait=15.0, join_wait=5.0)
    errors = [s["error"] for s in summaries if "error" in s]
    summaries = [s for s in summaries if "error" not in s]
    if failure and not summaries:
        raise RuntimeError(f"load failed: {failure}; {'; '.join(errors)}")
    if not finished and failure is None and not errors:  # (failure: null for a run that timed out: tester 64)
        failure = f"not complete within the timeout ({timeout:g} s)"
    result = _aggregate(summaries, binds=binds, window=window, nproc=nproc, finished=finished and not errors,
                        t_go=t_go or t_start, failure=failure or ("; ".join(errors) or None))
    if result["finished"]:
        # Complete means what the scenario wanted happened, not only that enough arrived (tester 63: every submit
        # refused, receipts twice for some messages and none for others, or all UNDELIV, were "complete").
        wanted = (result["ok"] if receipts else 0) + expect_receipts
        problems = []
        if result["errors"] and not allow_refusals:
            problems.append(f"{result['errors']} submits refused (not status 0)")
        if (receipts or expect_receipts) and result["receipts"] > wanted:
            problems.append(f"{result['receipts'] - wanted} receipts more than the {wanted} expected")
        if (receipts or expect_receipts) and result["receipts_not_delivered"]:
            problems.append(f"{result['receipts_not_delivered']} receipts without stat:DELIVRD")
        if (receipts and not expect_receipts and result["receipts"] == wanted
                and result["receipt_ids_match"] is False):
            problems.append("the receipts do not name the accepted message_ids one each: some messages got none and "
                            "others two or more (receipts lost and duplicated), or the receipts give the ids in "
                            "another format than submit_sm_resp")
        if problems:
            result["finished"] = False
            result["failure"] = "; ".join(problems)
    return result


def _aggregate(summaries: list[dict[str, Any]], *, binds: int, window: int, nproc: int, finished: bool,
               t_go: float, failure: str | None) -> dict[str, Any]:
    def s(key: str) -> int:
        return sum(x[key] for x in summaries)

    samples = array("d")
    for x in summaries:
        samples.frombytes(x["latencies"])
    lat = sorted(samples)
    ok = s("ok")
    mo = s("mo")
    n_receipts = s("receipts")
    first = min((x["first_send"] for x in summaries if x["first_send"]), default=t_go)
    last_resp = max((x["last_resp"] for x in summaries), default=first)
    last_receipt = max((x["last_receipt"] for x in summaries), default=0.0)
    first_delivery = min((x["first_delivery"] for x in summaries if x["first_delivery"]), default=0.0)
    last_mo = max((x["last_mo"] for x in summaries), default=0.0)
    t_end = max((x["t_end"] for x in summaries), default=t_go)
    cpu = sum(x["cpu_s"] for x in summaries)
    span = max(1e-9, t_end - t_go)
    # (a run that only receives: from go, or from the first delivery when it came before, as bound; tester 127 read
    # 5,000,000,000 receipts/s)
    start = first if ok else min(t_go, first_delivery) if first_delivery else t_go
    out: dict[str, Any] = {
        "binds": binds, "window": window, "messages": s("sent"), "ok": ok, "errors": s("errors"),
        "receipts": n_receipts, "finished": finished,
        "submit_per_s": round(ok / max(1e-9, last_resp - first), 1) if ok else 0.0,
        "receipts_per_s": round(n_receipts / max(1e-9, last_receipt - start), 1) if n_receipts else 0.0,
        "p50_ms": round(percentile(lat, 0.50) * 1000, 3), "p99_ms": round(percentile(lat, 0.99) * 1000, 3),
        "elapsed_s": round(span, 3),
        # (per submit or MO; a drain submits nothing, so per receipt: tester 63 read 61,308 us there)
        "client_cpu_us_per_msg": round(cpu / max(1, ok + mo or n_receipts) * 1e6, 2),
        # added fields
        "mo": mo, "mo_per_s": round(mo / max(1e-9, last_mo - first_delivery), 1) if mo else 0.0,
        "receipts_not_delivered": s("receipts_not_delivered"), "unbound_by_server": s("unbound_by_server"),
        # (None when nothing was submitted, only received, or no receipt came: nothing to match)
        "receipt_ids_match": s("ok_ids_sum") == s("receipt_ids_sum") if ok and n_receipts else None,
        "lost": s("lost"), "p90_ms": round(percentile(lat, 0.90) * 1000, 3),
        "max_ms": round(lat[-1] * 1000, 3) if lat else 0.0,
        "client_processes": nproc, "client_cpu_s": round(cpu, 3), "client_cpu_cores": round(cpu / span, 3),
        "t_go": t_go, "t_first_send": first, "t_last_resp": last_resp, "t_first_delivery": first_delivery,
        "t_last_receipt": last_receipt, "t_last_mo": last_mo,
    }
    if failure:
        out["failure"] = failure
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The CLI's options; ``timeout`` is resolved (seconds: :data:`DEFAULT_TIMEOUT` beyond ``duration``)."""
    ap = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--binds", type=int, default=4)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--count", type=int, default=None,
                    help="messages per bind (default: 10000; with --duration, as many as that time allows; 0 with "
                         "--expect-receipts or --expect-mo: submit nothing, receive what is owed)")
    ap.add_argument("--receipts", action="store_true", help="ask for and wait for a receipt per message")
    ap.add_argument("--system-id", default="perf")
    ap.add_argument("--password", default="perf")
    ap.add_argument("--destination", default="447700900123")
    ap.add_argument("--destinations", type=int, default=1, help="use this many numbers from --destination on")
    ap.add_argument("--timeout", type=float, default=None,
                    help="seconds from go until the run ends unfinished (default: --duration + 120, or 120)")
    ap.add_argument("--duration", type=float, default=None, help="stop submitting after this many seconds")
    ap.add_argument("--processes", type=int, default=0, help="worker processes (0 = one per 16 binds, "
                                                              "at most half the CPUs)")
    ap.add_argument("--expect-receipts", type=int, default=0, help="also wait for this many other receipts")
    ap.add_argument("--expect-mo", type=int, default=0, help="wait for this many MO deliver_sm")
    ap.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    ap.add_argument("--bind-type", choices=("transceiver", "transmitter", "receiver"), default="transceiver")
    ap.add_argument("--receipt-wait", type=float, default=DEFAULT_RECEIPT_WAIT,
                    help="once every submit is answered, end the run unfinished when no receipt or MO has come for "
                         "this many seconds (0: wait for --timeout)")
    ap.add_argument("--allow-refusals", action="store_true",
                    help="a refused submit (ESME_RTHROTTLED, ...) does not make the run incomplete")
    args = ap.parse_args(argv)
    if args.count is None:
        # (tester 107: --duration 10 ended after 0.72 s, the default 10,000 messages a bind spent)
        args.count = DEFAULT_COUNT if args.duration is None else UNBOUNDED_COUNT
    for name in ("binds", "window", "count", "destinations"):
        if name == "count" and args.count == 0 and (args.expect_receipts or args.expect_mo):
            continue  # (bind and only receive what is owed: tester 123 had to submit to drain)
        if getattr(args, name) < 1:  # (--window 0 waited for the timeout; --binds 0 reported success)
            hint = " (0 only with --expect-receipts or --expect-mo: bind and receive)" if name == "count" else ""
            ap.error(f"--{name}: expected a whole number of at least 1{hint}, got {getattr(args, name)}")
    for name in ("processes", "expect_receipts", "expect_mo"):
        if getattr(args, name) < 0:  # (--processes -1 ran as "automatic", a negative count waited for nothing)
            ap.error(f"--{name.replace('_', '-')}: expected a whole number, 0 or more, got {getattr(args, name)}")
    if args.duration is not None and not args.duration > 0:
        ap.error(f"--duration: expected a number of seconds above 0, got {args.duration}")
    if args.timeout is not None and not args.timeout > 0:
        ap.error(f"--timeout: expected a number of seconds above 0, got {args.timeout}")
    if args.timeout is not None and args.duration is not None and args.timeout < args.duration:
        # (the run then always ended "not complete within the timeout": tester 77)
        ap.error(f"--timeout: a run submits for up to --duration seconds ({args.duration:g}) and may take "
                 f"--timeout seconds in all; expected at least {args.duration:g}, got {args.timeout:g}")
    if not args.receipt_wait >= 0:
        ap.error(f"--receipt-wait: expected a number of seconds, 0 or more, got {args.receipt_wait}")
    if args.receipts and args.bind_type == "transmitter":
        # (tester 123: it waited for receipts that a transmitter bind is never sent)
        ap.error("--receipts with --bind-type transmitter: a transmitter is sent no receipts; bind as transceiver, "
                 "or ask for them without waiting with another receiver bound")
    if not 0 <= args.port <= 65535:
        ap.error(f"--port: expected a TCP port (0 to 65535), got {args.port}")
    if args.timeout is None:  # (a fixed 120 s ended every longer --duration run unfinished)
        args.timeout = DEFAULT_TIMEOUT + (args.duration or 0.0)
    return args


def main(argv: list[str] | None = None) -> int:
    """CLI: run one load, print its JSON line; exit 1 when it did not finish, 2 when it could not run (a usage
    error, a closed port, a refused bind), 130 on Ctrl-C (no JSON line then)."""
    args = parse_args(argv)
    previous = signal.signal(signal.SIGTERM, on_sigterm_raise)
    try:
        result = asyncio.run(run_load(
        host=args.host, port=args.port, binds=args.binds, window=args.window, count=args.count,
        receipts=args.receipts, system_id=args.system_id, password=args.password, destination=args.destination,
        destinations=args.destinations, timeout=args.timeout, duration=args.duration, processes=args.processes,
        expect_receipts=args.expect_receipts, expect_mo=args.expect_mo, loop=args.loop, bind_type=args.bind_type,
        progress=lambda c: print(f"  {c}", file=sys.stderr, flush=True), allow_refusals=args.allow_refusals,
        receipt_wait=args.receipt_wait))
    except (OSError, RuntimeError) as exc:  # a closed port, a refused bind: one line, not a traceback
        print(f"bench.load: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C: asyncio.run cancelled the run, whose workers were stopped on the way out (run_load's finally);
        # what remains is a line and the usual 128 + SIGINT, not a traceback (tester 77).
        print("bench.load: interrupted; no result", file=sys.stderr)
        return 130
    except Terminated:
        # SIGTERM (a CI job's limit, `timeout`): the same, 128 + SIGTERM (tester 107: the worker went on loading the
        # server for the rest of --duration, then held its binds).
        print("bench.load: terminated; no result", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(json.dumps(result))
    return 0 if result["finished"] else 1


if __name__ == "__main__":
    sys.exit(main())
