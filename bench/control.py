"""smsc's HTTP control API as the scenarios use it: MO injection, handsets on, queue sizes.

MO injection pipelines raw HTTP/1.1 requests over a few keep-alive connections (tens of thousands of
requests); the rest uses aiohttp.  Each function is bounded by its number of requests and a 60 s timeout per
request.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp

__all__ = ["handsets_online", "inject_mo", "stats"]

_TIMEOUT = aiohttp.ClientTimeout(total=60.0)


async def _run_all(base: str, requests: Iterable[tuple[str, str, dict[str, Any]]], concurrency: int,
                   progress: Callable[[int], None] | None = None) -> int:
    """Send every (method, path, json body) request; returns how many were answered with 2xx.  Raises
    RuntimeError on the first other status (with its body)."""
    queue: asyncio.Queue[tuple[str, str, dict[str, Any]]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    done = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=base, connector=connector, timeout=_TIMEOUT) as session:

        async def worker() -> None:
            nonlocal done
            while True:
                try:
                    method, path, body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                async with session.request(method, path, json=body) as resp:
                    if resp.status >= 300:
                        raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {await resp.text()}")
                    await resp.read()
                done += 1
                if progress is not None and done % 5000 == 0:
                    progress(done)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


async def _pipelined(host: str, port: int, requests: list[bytes], *, connections: int = 4, depth: int = 64,
                     progress: Callable[[int], None] | None = None) -> int:
    """Send raw HTTP/1.1 requests ``depth`` at a time per keep-alive connection (pipelined: one write, then
    ``depth`` responses read in order) over ``connections`` connections; returns how many got 2xx.  Raises
    RuntimeError on any other status.  Far cheaper per request than a full client, so the injector does
    not slow the server under test."""
    chunks = [requests[i:i + depth] for i in range(0, len(requests), depth)]
    queue: asyncio.Queue[list[bytes]] = asyncio.Queue()
    for chunk in chunks:
        queue.put_nowait(chunk)
    done = 0
    next_report = 5000

    async def worker() -> None:
        nonlocal done, next_report
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                try:
                    chunk = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                writer.write(b"".join(chunk))
                for _ in chunk:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60.0)
                    status = int(head.split(b" ", 2)[1])
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line[:15].lower() == b"content-length:":
                            length = int(line[15:])
                    body = await asyncio.wait_for(reader.readexactly(length), 60.0)
                    if not 200 <= status < 300:
                        raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
                    done += 1
                if progress is not None and done >= next_report:
                    next_report += 5000
                    progress(done)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return done


def _request(method: str, path: str, host: str, body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


async def inject_mo(host: str, http_port: int, count: int, *, to: str = "88123", sender_base: int = 447700900001,
                    senders: int = 100, connections: int = 4,
                    progress: Callable[[int], None] | None = None) -> dict[str, float]:
    """POST /api/mo ``count`` times (text MO from ``senders`` numbers to ``to``), pipelined; returns
    {"injected": n, "seconds": s, "per_s": n / s}."""
    reqs = [_request("POST", "/api/mo", host, {"from": str(sender_base + i % senders), "to": to,
                                               "text": f"benchmark mo {i}"}) for i in range(count)]
    t0 = time.perf_counter()
    n = await _pipelined(host, http_port, reqs, connections=connections, progress=progress)
    dt = max(1e-9, time.perf_counter() - t0)
    return {"injected": n, "seconds": round(dt, 3), "per_s": round(n / dt, 1)}


async def handsets_online(host: str, http_port: int, numbers: Iterable[str], *, concurrency: int = 8) -> int:
    """PUT /api/handsets/{number} {"online": true} for each number (this alerts every message waiting for
    it); returns how many were switched."""
    reqs = (("PUT", f"/api/handsets/{n}", {"online": True}) for n in numbers)
    return await _run_all(f"http://{host}:{http_port}", reqs, concurrency)


async def stats(host: str, http_port: int) -> dict[str, Any]:
    """GET /api/stats."""
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as session:
        async with session.get(f"http://{host}:{http_port}/api/stats") as resp:
            resp.raise_for_status()
            return await resp.json()
