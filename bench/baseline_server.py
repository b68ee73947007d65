"""The baseline: the least an SMPP server can do in pure-Python asyncio, to measure smsc against.

It accepts any bind, answers every submit_sm with a submit_sm_resp (a counter as message_id) and, when
registered_delivery asks for one, sends a DELIVRD receipt as deliver_sm at once; enquire_link and unbind are
answered.  No routing, no store, no validation: one ``asyncio.Protocol`` per socket, every reply produced by
one read joined into one write.  Issue 5 reports smsc's rates as a ratio to this server in the same run.

With ``--mo-per-bind N`` it also pushes N MO deliver_sm to every receiver/transceiver bind as soon as it is
bound, keeping ``--mo-window`` of them unacknowledged (the MO flood scenario's reference).

    python -m bench.baseline_server --port 0     # prints "port N" on stdout once listening
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import struct
import sys
import time

_HDR = struct.Struct(">IIII")


def _cstr(buf: bytes, pos: int) -> tuple[bytes, int]:
    end = buf.index(b"\0", pos)
    return buf[pos:end], end + 1


class BaselineProtocol(asyncio.Protocol):
    """Minimal SMSC side of one connection."""

    message_counter = 0
    #: MO deliver_sm pushed to each receiver/transceiver bind, and how many may be unacknowledged.
    mo_per_bind = 0
    mo_window = 100
    _MO_BODY = (b"\0" + b"\x01\x01447700900001\0" + b"\x00\x0188123\0" + b"\x00\x00\x00\0\0\x00\x00\x00\x00"
                + bytes((len(b"benchmark mo message"),)) + b"benchmark mo message")

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.seq = 0
        self.mo_left = 0
        self.mo_inflight = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        out = bytearray()
        pos = 0
        n = len(buf)
        while n - pos >= 16:
            length, cid, _status, seq = _HDR.unpack_from(buf, pos)
            if length < 16 or length > 65536:
                self.transport.close()  # type: ignore[union-attr]
                return
            if n - pos < length:
                break
            if cid == 4:  # submit_sm
                BaselineProtocol.message_counter += 1
                mid = b"%d" % BaselineProtocol.message_counter
                out += _HDR.pack(17 + len(mid), 0x80000004, 0, seq) + mid + b"\0"
                body = buf[pos + 16:pos + length]
                try:
                    p = 0
                    _st, p = _cstr(body, p)
                    s_ton, s_npi = body[p], body[p + 1]
                    src, p = _cstr(body, p + 2)
                    d_ton, d_npi = body[p], body[p + 1]
                    dst, p = _cstr(body, p + 2)
                    p += 3
                    _sched, p = _cstr(body, p)
                    _valid, p = _cstr(body, p)
                    registered = body[p]
                except (ValueError, IndexError):
                    registered = 0
                if registered & 1:
                    self.seq += 1
                    stamp = time.strftime("%y%m%d%H%M").encode()
                    text = (b"id:" + mid + b" sub:001 dlvrd:001 submit date:" + stamp + b" done date:" + stamp
                            + b" stat:DELIVRD err:000 text:")
                    dbody = (b"\0" + bytes((d_ton, d_npi)) + dst + b"\0" + bytes((s_ton, s_npi)) + src + b"\0"
                             + b"\x04\x00\x00\0\0\x00\x00\x00\x00" + bytes((len(text),)) + text
                             + b"\x00\x1e" + struct.pack(">H", len(mid) + 1) + mid + b"\0"
                             + b"\x04\x27\x00\x01\x02")
                    out += _HDR.pack(16 + len(dbody), 5, 0, self.seq) + dbody
            elif cid in (1, 2, 9):  # binds
                out += _HDR.pack(21, cid | 0x80000000, 0, seq) + b"base\0"
                if cid != 2:
                    self.mo_left = BaselineProtocol.mo_per_bind
            elif cid == 0x15:
                out += _HDR.pack(16, 0x80000015, 0, seq)
            elif cid == 6:
                out += _HDR.pack(16, 0x80000006, 0, seq)
            elif cid == 0x80000005:
                self.mo_inflight -= 1
            # other responses need nothing
            pos += length
        self.buf = buf[pos:]
        if self.mo_left:
            self._push_mo(out)
        if out:
            self.transport.write(out)  # type: ignore[union-attr]


    def _push_mo(self, out: bytearray) -> None:
        room = min(self.mo_left, BaselineProtocol.mo_window - max(0, self.mo_inflight))
        body = BaselineProtocol._MO_BODY
        for _ in range(room):
            self.seq += 1
            out += _HDR.pack(16 + len(body), 5, 0, self.seq) + body
        self.mo_left -= max(0, room)
        self.mo_inflight += max(0, room)


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(BaselineProtocol, host, port, reuse_address=True, backlog=1024)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--uvloop", action="store_true")
    ap.add_argument("--mo-per-bind", type=int, default=0, help="MO deliver_sm pushed to each receiving bind")
    ap.add_argument("--mo-window", type=int, default=100, help="unacknowledged MO deliver_sm per bind")
    args = ap.parse_args(argv)
    BaselineProtocol.mo_per_bind = args.mo_per_bind
    BaselineProtocol.mo_window = args.mo_window
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args.host, args.port))
    else:
        asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
