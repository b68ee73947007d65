"""A declarative failure scenario (the config's ``scenario``) played on a fake clock by the real application, with
an ESME on a real socket: the carrier goes down and comes back, the ESME is dropped and its account locked for a
while, as the steps say, at their simulated times."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from pathlib import Path

import structlog.testing

from smsc.app import App
from smsc.config import ScenarioStep, load_config
from smsc.core.clock import FakeClock
from smsc.smpp import pdu as P
from smsc.smpp.codec import Framer, encode
from smsc.smpp.constants import CommandStatus, MessageState

INSTANT = "447700900123"  # britmobile: delivered at once
START = FakeClock.DEFAULT_START


class _Esme:
    """A blocking raw ESME (its calls run in a worker thread: the server's loop is the test's)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.framer = Framer()
        self.seq = 0

    def request(self, pdu: P.Pdu) -> P.Pdu:
        self.seq += 1
        pdu.sequence_number = self.seq
        self.sock.sendall(encode(pdu))
        return self.read()

    def read(self) -> P.Pdu:
        for _ in range(20):
            for item in self.framer.feed(b""):
                return item  # type: ignore[no-any-return]
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the server")
            items = list(self.framer.feed(data))
            if items:
                return items[0]  # type: ignore[no-any-return]
        raise AssertionError("nothing read")

    def closed(self) -> bool:
        try:
            return self.sock.recv(100) == b""
        except ConnectionResetError:
            return True


async def test_the_steps_happen_at_their_simulated_times(tmp_path: Path) -> None:
    config = load_config(Path(__file__).resolve().parents[2] / "config" / "default.yaml")
    config = dataclasses.replace(
        config, store=dataclasses.replace(config.store, kind="memory"),
        scenario=(ScenarioStep(at=10.0, action="carrier", target="britmobile", value=True, duration=60.0),
                  ScenarioStep(at=30.0, action="disconnect", target="test", how="drop"),
                  ScenarioStep(at=40.0, action="account", target="test", value=True, duration=20.0)))
    app = App(config, clock=FakeClock(START))
    with structlog.testing.capture_logs() as logs:
        await app.start(host="127.0.0.1", port=0, http=False)
    try:
        assert app.smsc is not None and app.smpp is not None
        assert [e for e in logs if e["event"] == "scenario_loaded"][0]["steps"] == 3
        carrier = app.smsc.router.carriers["britmobile"]
        esme = await asyncio.to_thread(_Esme, app.smpp.port)
        assert (await asyncio.to_thread(esme.request, P.BindTransmitter(system_id="test", password="test"))
                ).command_status == 0
        app.smsc.advance(10.0)
        assert carrier.down is True
        resp = await asyncio.to_thread(esme.request, P.SubmitSm(
            source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1, destination_addr=INSTANT,
            short_message=b"held", registered_delivery=1))
        assert resp.command_status == 0
        app.smsc.advance(20.0)  # 30 s: the ESME is dropped
        assert await asyncio.to_thread(esme.closed)
        app.smsc.advance(10.0)  # 40 s: its account locked for 20 s
        again = await asyncio.to_thread(_Esme, app.smpp.port)
        refused = await asyncio.to_thread(again.request, P.BindTransmitter(system_id="test", password="test"))
        assert refused.command_status == CommandStatus.ESME_RBINDFAIL
        assert app.smsc.message(resp.message_id).attempts == []  # (the carrier is still down)
        app.smsc.advance(20.0)  # 60 s: unlocked
        ok = await asyncio.to_thread(again.request, P.BindTransmitter(system_id="test", password="test"))
        assert ok.command_status == 0
        app.smsc.advance(10.0)  # 70 s: the carrier is back, and the message goes
        assert carrier.down is False
        app.smsc.advance(1.0)
        assert app.smsc.message(resp.message_id).state == MessageState.DELIVERED
        esme.sock.close()
        again.sock.close()
    finally:
        await app.stop()
