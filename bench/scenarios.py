"""The scenarios of issue 5, each a coroutine that drives already running servers and returns run records.

A run record is the load generator's result (bench/load.py, bench/idle.py) plus:

* ``scenario``, ``case``, ``server``, ``rep``: what ran against what;
* ``server_rss_kib`` (VmRSS at the end), ``server_rss_peak_kib`` (largest VmRSS sampled every 0.1 s during
  the run), ``server_hwm_kib`` (VmHWM: peak since the server started), all KiB;
* ``server_cpu_s`` and ``server_cpu_us_per_msg``: the server process's CPU during the run (all threads).

Scenarios: :func:`load_case` (submit only, submit + receipts, any binds x window), :func:`mo_flood`,
:func:`offline_drain` (fill a queue for offline handsets, optionally load beside it, then drain it),
:func:`idle_binds` and :func:`side_by_side` (one load shared by several independent servers at once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench import control
from bench.configs import OFFLINE_PREFIX
from bench.idle import run_idle
from bench.load import run_load
from bench.servers import ServerProcess

__all__ = ["HOST", "LoadCase", "idle_binds", "load_case", "measured", "mo_flood", "offline_drain", "side_by_side"]

HOST = "127.0.0.1"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class LoadCase:
    """One load shape: ``binds`` x ``window``, ``count`` submits per bind at most, for ``duration`` seconds
    at most; ``receipts``: ask for a receipt per message and wait for all of them."""

    name: str
    binds: int
    window: int
    receipts: bool
    count: int = 50_000
    duration: float | None = 3.0


async def measured(server: ServerProcess, run: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """Await ``run`` while sampling the server's memory; add the ``server_*`` fields to its result."""
    cpu0 = server.cpu_seconds()
    peak = server.memory_kib()["rss"]
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, server.memory_kib()["rss"])
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except TimeoutError:
                pass

    task = asyncio.create_task(sample())
    try:
        result = await run
    finally:
        stop.set()
        await task
    mem = server.memory_kib()
    cpu = server.cpu_seconds() - cpu0
    if not server.alive():  # (tester 63: a server that died mid-run gave a normal-looking line)
        result["finished"] = False
        result["failure"] = (f"{server.name} exited with status {server.proc.returncode} during the run; its log "
                             f"ends:\n{server.log_tail()}")
    handled = int(result.get("ok", 0)) + int(result.get("mo", 0))
    result.update(server=server.name, server_rss_kib=mem["rss"], server_rss_peak_kib=max(peak, mem["rss"]),
                  server_hwm_kib=mem["hwm"], server_cpu_s=round(cpu, 3),
                  server_cpu_us_per_msg=round(cpu / handled * 1e6, 2) if handled else None)
    return result


def _reporter(progress: Progress | None, label: str) -> Callable[[dict[str, float]], None] | None:
    if progress is None:
        return None

    def report(c: dict[str, float]) -> None:
        progress(f"{label}: " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in c.items()))

    return report


async def load_case(server: ServerProcess, case: LoadCase, *, timeout: float = 120.0, processes: int = 0,
                    destination: str = "447700900123", progress: Progress | None = None) -> dict[str, Any]:
    """One pipelined load run of ``case`` against ``server``."""
    rec = await measured(server, run_load(
        host=HOST, port=server.port, binds=case.binds, window=case.window, count=case.count,
        receipts=case.receipts, duration=case.duration, timeout=timeout, processes=processes,
        destination=destination, progress=_reporter(progress, f"{server.name} {case.name}")))
    rec.update(case=case.name)
    return rec


async def side_by_side(servers: list[ServerProcess], case: LoadCase, *, timeout: float = 120.0,
                       progress: Progress | None = None) -> dict[str, Any]:
    """``case`` shared by ``servers`` that know nothing of each other, run at once: each gets ``case.binds /
    len(servers)`` binds (one load generator process each) for the same ``duration``.

    It measures what a server split into independent processes could serve at most: none of the work that
    would bind them together (one routing table, store, outbox and world for all) is done.

    Returns one record: ``submit_per_s`` and ``receipts_per_s`` summed, ``p99_ms`` and ``max_ms`` the largest
    of the servers' (the combined p99 is at most that), ``finished`` when every run finished, the servers'
    CPU per message over all of them, their RSS peaks summed; ``per_server`` keeps each run's rate and p99.

    Raises:
        ValueError: ``case.binds`` is not a multiple of the number of servers.
    """
    n = len(servers)
    if n == 0 or case.binds % n:
        raise ValueError(f"{case.binds} binds cannot be shared evenly by {n} servers")
    runs = await asyncio.gather(*(
        measured(server, run_load(
            host=HOST, port=server.port, binds=case.binds // n, window=case.window, count=case.count,
            receipts=case.receipts, duration=case.duration, timeout=timeout, processes=1,
            progress=_reporter(progress, f"{server.name} {case.name}")))
        for server in servers))
    handled = sum(int(r.get("ok", 0)) for r in runs)
    cpu = sum(float(r.get("server_cpu_s") or 0.0) for r in runs)
    return {
        "case": case.name, "servers": n, "finished": all(r.get("finished") for r in runs),
        "messages": sum(int(r.get("messages", 0)) for r in runs), "ok": handled,
        "receipts": sum(int(r.get("receipts", 0)) for r in runs),
        "submit_per_s": sum(float(r.get("submit_per_s") or 0.0) for r in runs),
        "receipts_per_s": sum(float(r.get("receipts_per_s") or 0.0) for r in runs),
        "p99_ms": max(float(r.get("p99_ms") or 0.0) for r in runs),
        "max_ms": max(float(r.get("max_ms") or 0.0) for r in runs),
        "server_cpu_s": round(cpu, 3),
        "server_cpu_us_per_msg": round(cpu / handled * 1e6, 2) if handled else None,
        "server_rss_peak_kib": sum(int(r.get("server_rss_peak_kib") or 0) for r in runs),
        "client_cpu_cores": sum(float(r.get("client_cpu_cores") or 0.0) for r in runs),
        "per_server": [{"submit_per_s": r.get("submit_per_s"), "p99_ms": r.get("p99_ms")} for r in runs],
    }


async def mo_flood(server: ServerProcess, *, total: int, binds: int = 4, timeout: float = 120.0,
                   progress: Progress | None = None) -> dict[str, Any]:
    """MO deliver_sm pushed towards ``binds`` ESME binds until ``total`` have arrived.

    smsc (a server with an HTTP port): ``total`` MO are first queued through POST /api/mo while no ESME is
    bound (``inject_per_s`` is that rate), then the binds are opened.  The baseline pushes its own MO on
    bind (started with ``mo_per_bind = total / binds``).  ``mo_per_s`` counts from the first deliver_sm.
    """
    inject: dict[str, float] = {}
    if server.http_port is not None:
        inject = await control.inject_mo(
            HOST, server.http_port, total,
            progress=(lambda n: progress(f"{server.name}: {n:,} MO queued")) if progress else None)
    rec = await measured(server, run_load(
        host=HOST, port=server.port, binds=binds, window=1, count=0, receipts=False, expect_mo=total,
        timeout=timeout, progress=_reporter(progress, f"{server.name} mo")))
    rec.update(case="mo", inject_per_s=inject.get("per_s"))
    return rec


def offline_numbers(count: int) -> list[str]:
    """The destination numbers whose handsets are off (see configs.OFFLINE_PREFIX)."""
    base = int(OFFLINE_PREFIX + "00000")
    return [str(base + i) for i in range(count)]


async def offline_drain(server: ServerProcess, *, queue: int, numbers: int = 100, load: LoadCase | None = None,
                        timeout: float = 600.0, progress: Progress | None = None,
                        restart: Callable[[ServerProcess], Awaitable[ServerProcess]] | None = None,
                        ) -> list[dict[str, Any]]:
    """Fill ``queue`` messages (receipts asked) for ``numbers`` offline handsets, optionally run ``load``
    (to online handsets) beside the waiting queue, then switch the handsets on and drain the queue.

    ``server`` must be smsc with a config from ``configs.write_variant(offline_prefix=OFFLINE_PREFIX)`` and
    its HTTP API.  Returns up to four records, case "fill", "load", "restart" and "drain"; the drain record
    has ``drain_per_s`` (receipts per second from the first PUT /api/handsets to the last receipt) and
    ``online_s`` (seconds the PUT requests took).  ``restart``: after the fill, stop ``server`` and return a
    new one on the same store (its record: ``restart_s`` from the stop to listening again, ``server_rss_kib``
    and ``server_hwm_kib`` once listening); the drain then runs on the new server.
    """
    records: list[dict[str, Any]] = []
    dests = offline_numbers(numbers)
    if queue:
        per_bind = -(-queue // 4)
        fill = await measured(server, run_load(
            host=HOST, port=server.port, binds=4, window=100, count=per_bind, receipts=False, ask_receipts=True,
            destination=dests[0], destinations=numbers, duration=None, timeout=timeout,
            progress=_reporter(progress, f"{server.name} fill {queue:,}")))
        fill.update(case="fill", queue=fill["ok"])
        records.append(fill)
    queued = records[0]["ok"] if records else 0
    if restart is not None:
        t0 = time.perf_counter()
        server = await restart(server)
        mem = server.memory_kib()
        records.append({"case": "restart", "queue": queued, "restart_s": round(time.perf_counter() - t0, 2),
                        "server_rss_kib": mem["rss"], "server_hwm_kib": mem["hwm"], "finished": server.alive()})
        if progress is not None:
            progress(f"{server.name}: listening again {records[-1]['restart_s']} s after the stop, "
                     f"RSS {mem['rss'] / 1024:,.0f} MiB (peak {mem['hwm'] / 1024:,.0f})")
    if load is not None:
        rec = await load_case(server, load, timeout=timeout, progress=progress)
        rec.update(case="load", queue=queued)
        records.append(rec)
    if queued:
        t_online: list[float] = []

        async def switch_on() -> None:
            assert server.http_port is not None
            t_online.append(time.perf_counter())
            await control.handsets_online(HOST, server.http_port, dests)
            t_online.append(time.perf_counter())

        drain = await measured(server, run_load(
            host=HOST, port=server.port, binds=4, window=1, count=0, receipts=False, expect_receipts=queued,
            timeout=timeout, on_bound=switch_on, progress=_reporter(progress, f"{server.name} drain")))
        span = drain["t_last_receipt"] - t_online[0] if drain["receipts"] else 0.0
        drain.update(case="drain", queue=queued, online_s=round(t_online[1] - t_online[0], 3),
                     drain_per_s=round(drain["receipts"] / span, 1) if span > 0 else 0.0)
        records.append(drain)
    return records


async def idle_binds(server: ServerProcess, *, sessions: int, duration: float, interval: float = 8.0,
                     progress: Progress | None = None) -> dict[str, Any]:
    """Hold ``sessions`` bound sessions with enquire_link traffic for ``duration`` seconds; adds
    ``server_rss_bound_kib`` (VmRSS once all are bound) to the record."""
    at_bound: dict[str, int] = {}

    async def bound() -> None:
        at_bound.update(server.memory_kib())
        if progress is not None:
            progress(f"{server.name}: {sessions:,} sessions bound, RSS {at_bound['rss'] / 1024:,.0f} MiB")

    rec = await measured(server, run_idle(host=HOST, port=server.port, sessions=sessions, duration=duration,
                                          interval=interval, on_bound=bound,
                                          progress=_reporter(progress, f"{server.name} idle")))
    rec.update(case="idle", server_rss_bound_kib=at_bound.get("rss"))
    return rec
