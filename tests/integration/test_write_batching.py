"""What one read produces leaves in one write: submit_sm_resp and a zero-latency carrier's receipt together;
from EARLY_WRITE_EVENTS events in a read, two writes: the responses, then the receipts.

The transport here records each ``write`` call (a socket cannot show how many system calls the server
made); everything else is the real application on a real event loop, with ``config/bench.yaml``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from smsc.app import App
from smsc.config import load_config
from smsc.core.clock import Clock, FakeClock
from smsc.server.protocol import SmppProtocol
from smsc.smpp import pdu as P
from smsc.smpp.codec import Framer, encode
from tests.unit.test_smsc_support import CountingClock

ROOT = Path(__file__).resolve().parents[2]


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    abort = close

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default

    reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


@contextlib.asynccontextmanager
async def _running(store: str = "memory", path: Path | None = None, clock: Clock | None = None,
                   **server: Any) -> AsyncIterator[App]:
    """The application with ``config/bench.yaml`` (instant carrier), the given store, clock and server
    settings."""
    config = load_config(ROOT / "config" / "bench.yaml")
    config = dataclasses.replace(
        config, server=dataclasses.replace(config.server, **server),
        store=dataclasses.replace(config.store, kind=store, path=str(path) if path else config.store.path),
    )
    app = App(config, clock=clock)
    await app.start(host="127.0.0.1", port=0, http=False)
    try:
        yield app
    finally:
        # The recording transports never answer the stop's unbind: they go away first, or every test waited the
        # stop's 5 s for them.
        assert app.smpp is not None
        for conn in list(app.smpp.registry.connections):
            if isinstance(conn.transport, RecordingTransport) and not conn._lost:
                conn.connection_lost(None)
        await app.stop()


async def _bound(app: App, bind: type[P.Pdu] = P.BindTransceiver, interface_version: int = 0x34,
                 *, keep_writes: bool = False) -> tuple[SmppProtocol, RecordingTransport]:
    """A bound connection on a recording transport; what the bind wrote (its response, deliveries that
    waited) is cleared unless ``keep_writes``."""
    assert app.smpp is not None
    transport = RecordingTransport()
    proto = SmppProtocol(app.smpp)
    proto.connection_made(transport)  # type: ignore[arg-type]
    proto.data_received(encode(bind(sequence_number=1, system_id="perf", password="perf",
                                    interface_version=interface_version)))
    for _ in range(3):
        await asyncio.sleep(0)
    if not keep_writes:
        transport.writes.clear()
    return proto, transport


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_receipt_of_an_instant_carrier_leaves_with_the_submit_sm_resp(tmp_path: Path, store: str) -> None:
    async with _running(store=store, path=tmp_path / "batching.sqlite") as app:
        proto, transport = await _bound(app)
        submits = b"".join(
            encode(P.SubmitSm(sequence_number=10 + i, source_addr="ACME", destination_addr="447700900123",
                              registered_delivery=1, short_message=b"hello"))
            for i in range(3)
        )
        proto.data_received(submits)
        # memory: answered within the read.  SQLite: the responses once the writer thread has committed the
        # messages, and the receipts with them (a receipt does not wait for a commit of its own: see
        # smsc.core.outbox), so one write either way; bounded waits.
        for _ in range(500):
            if sum(1 for w in transport.writes for p in Framer().feed(w) if isinstance(p, P.DeliverSm)) == 3:
                break
            await asyncio.sleep(0.01)
        for _ in range(3):
            await asyncio.sleep(0)
        assert len(transport.writes) == 1, "one write per read (memory) / per commit (SQLite)"
        first = [type(p).__name__ for p in Framer().feed(transport.writes[0])]
        assert first.count("SubmitSmResp") == 3 and first.count("DeliverSm") == 3
        pdus = Framer().feed(b"".join(transport.writes))
        transport.writes.clear()
        kinds = [type(p).__name__ for p in pdus]
        assert kinds.count("SubmitSmResp") == 3 and kinds.count("DeliverSm") == 3
        ids = {p.message_id for p in pdus if isinstance(p, P.SubmitSmResp)}
        assert {p.tlvs[0x001E] for p in pdus if isinstance(p, P.DeliverSm)} == ids
        # Acknowledge the receipts: nothing more is owed, and the loop finds nothing left to write.
        acks = b"".join(struct.pack(">IIII", 17, 0x80000005, 0, p.sequence_number) + b"\0"
                        for p in pdus if isinstance(p, P.DeliverSm))
        proto.data_received(acks)
        for _ in range(3):
            await asyncio.sleep(0)
        assert transport.writes == []
        assert proto.session.outstanding == 0


async def test_receipts_spread_over_binds_stop_at_the_first_bind_that_empties_the_queue(tmp_path: Path) -> None:
    async with _running(window=2) as app:
        binds = [await _bound(app) for _ in range(3)]
        sender, sender_transport = binds[0]
        submits = b"".join(
            encode(P.SubmitSm(sequence_number=10 + i, source_addr="ACME", destination_addr="447700900123",
                              registered_delivery=1, short_message=b"hello"))
            for i in range(5)
        )
        sender.data_received(submits)
        for _ in range(3):
            await asyncio.sleep(0)
        receipts = [sum(isinstance(p, P.DeliverSm) for w in t.writes for p in Framer().feed(w))
                    for _, t in binds]
        assert sum(receipts) == 5  # windows of 2, 2 and 2: every receipt handed out, none twice
        assert max(receipts) <= 2


async def test_a_delivery_no_deliver_sm_can_carry_is_dropped_and_the_connection_goes_on(tmp_path: Path) -> None:
    async with _running() as app:
        proto, transport = await _bound(app)
        assert app.smsc is not None
        app.smsc.inject_mo("\u20ac447700900123", "88123", text="not Latin-1 source")  # no SMPP form
        app.smsc.inject_mo("447700900123", "88123", text="fine")
        for _ in range(5):
            await asyncio.sleep(0)
        pdus = Framer().feed(b"".join(transport.writes))
        delivered = [p for p in pdus if isinstance(p, P.DeliverSm)]
        assert [p.short_message for p in delivered] == [b"fine"]
        assert not transport.closed
        assert app.smsc.take_deliveries("perf", 10) == []  # the bad one is gone, not waiting to fail again
        assert app.smpp is not None and app.smpp.counters.deliveries_sent == 1  # only what was sent


async def test_a_receipt_for_an_address_too_long_for_deliver_sm_goes_as_data_sm(tmp_path: Path) -> None:
    async with _running() as app:
        proto, transport = await _bound(app)
        long_source = "ACME-NOTIFICATIONS-SERVICE-01"  # 29 characters: data_sm allows 64, deliver_sm 20
        proto.data_received(encode(P.DataSm(
            sequence_number=5, source_addr_ton=5, source_addr=long_source, dest_addr_ton=1, dest_addr_npi=1,
            destination_addr="447700900123", registered_delivery=1, tlvs={0x0424: b"hello"},
        )))
        for _ in range(3):
            await asyncio.sleep(0)
        pdus = Framer().feed(b"".join(transport.writes))
        (resp,) = [p for p in pdus if isinstance(p, P.DataSmResp)]
        (receipt,) = [p for p in pdus if isinstance(p, P.DataSm)]
        assert resp.command_status == 0
        assert (receipt.destination_addr, receipt.dest_addr_ton) == (long_source, 5)
        assert receipt.esm_class == 0x04 and receipt.tlvs[0x001E] == resp.message_id
        assert b"stat:DELIVRD" in receipt.tlvs[0x0424]
        proto.data_received(encode(P.DataSmResp(sequence_number=receipt.sequence_number)))
        assert proto.session.outstanding == 0  # data_sm_resp acknowledges it like deliver_sm_resp
        assert app.smsc is not None and app.smsc.take_deliveries("perf", 10) == []


def _long_source_data_sm(sequence_number: int) -> bytes:
    """A data_sm whose receipt only data_sm can carry: its source (the receipt's destination) has 29
    characters, deliver_sm's addresses 20 (SMPP 3.4 section 4.6.1), data_sm's 64 (section 4.7.1)."""
    return encode(P.DataSm(
        sequence_number=sequence_number, source_addr_ton=5, source_addr="ACME-NOTIFICATIONS-SERVICE-01",
        dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123", registered_delivery=1,
        tlvs={0x0424: b"hello"},
    ))


def _sent(transport: RecordingTransport, kind: type[P.Pdu]) -> list[Any]:
    return [p for w in transport.writes for p in Framer().feed(w) if isinstance(p, kind)]


async def test_a_receipt_only_data_sm_can_carry_skips_an_smpp_33_bind_for_a_34_one(tmp_path: Path) -> None:
    """SMPP 3.3 has no data_sm: a 3.3 receiver does not take a receipt for a 21+ character address (it was
    dropped at first, then handed back into the outbox's backoff), and a 3.4 receiver of the same system_id gets
    it as data_sm in the same drain.  The clock stands still: no backoff can end here."""
    async with _running(clock=FakeClock()) as app:
        old, old_transport = await _bound(app, P.BindReceiver, 0x33)  # first in turn
        new, new_transport = await _bound(app, P.BindReceiver)
        sender, _ = await _bound(app, P.BindTransmitter)
        sender.data_received(_long_source_data_sm(5))
        for _ in range(3):
            await asyncio.sleep(0)
        receipts = _sent(new_transport, P.DataSm)
        assert len(receipts) == 1 and b"stat:DELIVRD" in receipts[0].tlvs[0x0424]
        assert not [p for w in old_transport.writes for p in Framer().feed(w) if not isinstance(p, P.BindReceiverResp)]
        assert not old_transport.closed


async def test_a_receipt_only_data_sm_can_carry_waits_for_a_34_bind_without_backoff_while_only_33_ones_are_bound(
) -> None:
    """Found by a tester (/tmp/tester6/s3_v33_late.py): an SMPP 3.3 bind handed such a receipt back as a failed
    delivery, so it went into the outbox's backoff (1, 2, 5 ... 60 s, growing each time the 3.3 bind took it
    again) and a 3.4 bind of the same system_id got it only after that.  It now waits, set aside, and the 3.4
    bind gets it as soon as it binds.  The clock stands still: no backoff can end here."""
    async with _running(clock=FakeClock()) as app:
        assert app.smsc is not None
        old, old_transport = await _bound(app, P.BindReceiver, 0x33)
        sender, _ = await _bound(app, P.BindTransmitter)
        short = 0
        for i in range(3):
            sender.data_received(_long_source_data_sm(5 + i))
            for _ in range(3):
                await asyncio.sleep(0)
            sender.data_received(encode(P.SubmitSm(  # a receipt deliver_sm can carry: the 3.3 bind takes it
                sequence_number=50 + i, source_addr="ACME", destination_addr="447700900123",
                registered_delivery=1, short_message=b"short")))
            for _ in range(3):
                await asyncio.sleep(0)
            for d in _sent(old_transport, P.DeliverSm):
                old.data_received(encode(P.DeliverSmResp(sequence_number=d.sequence_number)))
                short += 1
            old_transport.writes.clear()
        assert short == 3  # the 3.3 bind went on taking what it can carry
        assert app.smsc.deliveries_held("perf") == 3
        _, new_transport = await _bound(app, P.BindReceiver, keep_writes=True)
        receipts = _sent(new_transport, P.DataSm)
        assert len(receipts) == 3 and all(b"stat:DELIVRD" in r.tlvs[0x0424] for r in receipts)
        assert app.smsc.stats.deliveries_failed == 0  # never backed off because of the 3.3 bind
        assert _sent(old_transport, P.DataSm) == []


async def test_a_connection_that_read_a_lot_stops_reading_until_the_loop_served_the_others(tmp_path: Path) -> None:
    """Fairness: under uvloop, libuv reads one busy socket up to 32 times before it looks at another; after
    READ_TURN_OCTETS a connection pauses reading until the loop's next turn (every request still answered)."""
    from smsc.server.protocol import READ_TURN_OCTETS

    async with _running() as app:
        proto, transport = await _bound(app)
        one = encode(P.SubmitSm(sequence_number=1, source_addr="ACME", destination_addr="447700900123",
                                short_message=b"x" * 40))
        count = READ_TURN_OCTETS // len(one) + 1
        flood = b"".join(encode(P.SubmitSm(sequence_number=2 + i, source_addr="ACME",
                                           destination_addr="447700900123", short_message=b"x" * 40))
                         for i in range(count))
        proto.data_received(flood[:1000])  # a small read: reading goes on
        assert transport.reading
        proto.data_received(flood[1000:])
        assert not transport.reading  # this connection's turn is over ...
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert transport.reading  # ... until the loop came round
        responses = [p for w in transport.writes for p in Framer().feed(w) if isinstance(p, P.SubmitSmResp)]
        assert len(responses) == count and all(r.command_status == 0 for r in responses)


async def test_a_connection_that_reads_a_window_per_turn_is_never_paused_however_long_it_goes_on() -> None:
    """The turn's octets count from zero at every turn: an ESME sending well below READ_TURN_OCTETS per loop
    turn, for more than READ_TURN_OCTETS in all, keeps reading (a pause made it miss the next poll and wait a
    round of the other connections more: the p90 latency was twice the median at 4 binds x window 100)."""
    from smsc.server.protocol import READ_TURN_OCTETS

    async with _running() as app:
        proto, transport = await _bound(app)
        seq = 10
        read = 0
        paused = 0
        while read <= 2 * READ_TURN_OCTETS:
            data = b"".join(encode(P.SubmitSm(sequence_number=seq + i, source_addr="ACME",
                                              destination_addr="447700900123", short_message=b"x" * 40))
                            for i in range(100))
            seq += 100
            proto.data_received(data)
            read += len(data)
            paused += not transport.reading
            await asyncio.sleep(0)  # the loop's next turn
        assert paused == 0
        responses = [p for w in transport.writes for p in Framer().feed(w) if isinstance(p, P.SubmitSmResp)]
        assert len(responses) == seq - 10 and all(r.command_status == 0 for r in responses)


async def test_a_read_of_many_submits_writes_their_responses_before_the_receipts() -> None:
    """From EARLY_WRITE_EVENTS events in a read, the submit_sm_resp leave in a write of their own before the
    pump makes the receipts (the ESME refills its window meanwhile); the receipts follow in a second write.  A
    read of fewer keeps one write (see the window 1 test below)."""
    from smsc.server.protocol import EARLY_WRITE_EVENTS

    async with _running() as app:
        proto, transport = await _bound(app)
        count = EARLY_WRITE_EVENTS
        proto.data_received(b"".join(
            encode(P.SubmitSm(sequence_number=10 + i, source_addr="ACME", destination_addr="447700900123",
                              registered_delivery=1, short_message=b"hello"))
            for i in range(count)))
        assert len(transport.writes) == 2
        first, second = ([type(p).__name__ for p in Framer().feed(w)] for w in transport.writes)
        assert first == ["SubmitSmResp"] * count
        assert second == ["DeliverSm"] * count
        transport.writes.clear()
        proto.data_received(b"".join(  # three: their responses and receipts in one write
            encode(P.SubmitSm(sequence_number=100 + i, source_addr="ACME", destination_addr="447700900123",
                              registered_delivery=1, short_message=b"hello"))
            for i in range(3)))
        assert len(transport.writes) == 1
        assert sorted(type(p).__name__ for p in Framer().feed(transport.writes[0])) == (
            ["DeliverSm"] * 3 + ["SubmitSmResp"] * 3)


async def _transcript(always_ask_outbox: bool) -> tuple[list[list[bytes]], int]:
    """Three transceivers (server window 2) each send three submit_sm per round and acknowledge the
    receipts of the round before only every other round, so windows fill and receipts wait in the outbox.
    Returns every bind's writes (FakeClock: same bytes every run) and how many deliver_sm left in a write
    answering a read that carried no submit_sm (a refill of a window an acknowledgement opened)."""
    from smsc.core.clock import FakeClock

    config = load_config(ROOT / "config" / "bench.yaml")
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, window=2),
                                 store=dataclasses.replace(config.store, kind="memory"))
    app = App(config, clock=FakeClock())
    await app.start(host="127.0.0.1", port=0, http=False)
    try:
        assert app.smpp is not None
        if always_ask_outbox:  # the general path: every opened window asks the outbox
            app.smpp.registry.may_have_waiting = lambda system_id: True  # type: ignore[method-assign]
        binds = [await _bound(app) for _ in range(3)]
        writes: list[list[bytes]] = [[] for _ in binds]
        acks = [bytearray() for _ in binds]
        seq = 10
        refilled = 0
        for rnd in range(40):
            for i, (proto, transport) in enumerate(binds):
                data = bytearray()
                if rnd % 2:
                    data += acks[i]
                    acks[i].clear()
                if rnd < 8:
                    for _ in range(3):
                        seq += 1
                        data += encode(P.SubmitSm(sequence_number=seq, source_addr="ACME",
                                                  destination_addr="447700900123", registered_delivery=1,
                                                  short_message=b"hello %d" % seq))
                if data:
                    proto.data_received(bytes(data))
                for w in transport.writes:
                    delivered = [p for p in Framer().feed(w) if isinstance(p, P.DeliverSm)]
                    if rnd >= 8 and delivered:
                        refilled += len(delivered)
                    for p in delivered:
                        acks[i] += struct.pack(">IIII", 17, 0x80000005, 0, p.sequence_number) + b"\0"
                writes[i] += transport.writes
                transport.writes.clear()
            await asyncio.sleep(0)
        for proto, _ in binds:
            proto.connection_lost(None)  # (the stop need not wait for these in-memory transports)
        return writes, refilled
    finally:
        await app.stop()


async def test_an_opened_window_asks_the_outbox_only_when_deliveries_may_wait_and_sends_the_same_bytes() -> None:
    """The fast path (BindRegistry.may_have_waiting: skip the outbox when no drain left anything) against
    the general one (always ask): same writes, byte for byte, receipts that waited for a window included."""
    fast, refilled = await _transcript(always_ask_outbox=False)
    general, refilled_general = await _transcript(always_ask_outbox=True)
    assert refilled > 0 and refilled == refilled_general  # receipts did wait for a window to open
    assert fast == general
    receipts = sum(isinstance(p, P.DeliverSm) for ws in fast for w in ws for p in Framer().feed(w))
    assert receipts == 3 * 8 * 3  # every receipt delivered, none twice


async def test_with_window_1_a_delivery_queued_behind_our_enquire_link_goes_when_it_is_answered() -> None:
    """Found by a tester: our own enquire_link held the only slot while MO arrived; its enquire_link_resp
    freed the slot but nothing refilled it, and the MO waited for the next delivery of that system_id."""
    async with _running(window=1) as app:
        proto, transport = await _bound(app)
        assert app.smsc is not None
        seq = proto.session.send_request(P.EnquireLink(), asyncio.get_running_loop().time())
        proto._flush()
        app.smsc.inject_mo("447700900123", "88123", text="behind the enquire")
        for _ in range(5):
            await asyncio.sleep(0)
        assert not any(isinstance(p, P.DeliverSm) for w in transport.writes for p in Framer().feed(w))
        transport.writes.clear()
        proto.data_received(encode(P.EnquireLinkResp(sequence_number=seq)))
        for _ in range(3):
            await asyncio.sleep(0)
        delivered = [p for w in transport.writes for p in Framer().feed(w) if isinstance(p, P.DeliverSm)]
        assert [p.short_message for p in delivered] == [b"behind the enquire"]


async def test_a_deliver_sm_answered_with_the_wrong_response_goes_back_to_the_outbox() -> None:
    """Found by a tester: a deliver_sm answered with a data_sm_resp of its sequence_number was held by that
    bind for good (taken out of the outstanding requests, so neither the response timer nor the lost
    connection could give it back); it now counts as failed and is offered again."""
    async with _running(window=2) as app:
        proto, transport = await _bound(app)
        assert app.smsc is not None
        app.smsc.inject_mo("447700900123", "88123", text="answered wrongly")
        for _ in range(5):
            await asyncio.sleep(0)
        [sent] = [p for w in transport.writes for p in Framer().feed(w) if isinstance(p, P.DeliverSm)]
        proto.data_received(encode(P.DataSmResp(sequence_number=sent.sequence_number, message_id="x")))
        assert proto.session.outstanding == 0
        stats = app.smsc.stats
        assert stats.deliveries_acked == 0 and stats.deliveries_failed == 1  # waits for its retry



async def test_a_window_1_read_is_answered_in_one_write_with_four_clock_readings_and_no_loop_callback() -> None:
    """At window 1 every read is a deliver_sm_resp and the next submit_sm, and pays the read's fixed costs for
    one message.  Its submit_sm_resp and receipt still leave in that read's write, in that order; the core's
    clock is read four times (submit, attempt, the pump, the outcome), not six: a zero-latency outcome tells
    the scheduler driver it is due without a reading, and the pump re-arms nothing while the loop timer armed
    for a later deadline still covers what is left; and the loop gets no callback of its own for it.  The
    store commits twice (the message, then its final state with its receipt), the outcome alone in its batch
    holding no commits to make them one."""
    clock = CountingClock()
    async with _running(clock=clock, window=1) as app:
        assert app.driver is not None and app.smsc is not None
        machine = app.smsc.machine
        holds: list[bool] = []
        hold = machine._hold_commits

        def counted_hold() -> bool:
            holds.append(True)
            return hold()

        machine._hold_commits = counted_hold
        proto, transport = await _bound(app)

        def submit(seq: int) -> bytes:  # (as bench.load sends: an international number takes the short path)
            return encode(P.SubmitSm(sequence_number=seq, source_addr_ton=5, source_addr="ACME", dest_addr_ton=1,
                                     dest_addr_npi=1, destination_addr="447700900123", registered_delivery=1,
                                     short_message=b"hello"))

        proto.data_received(submit(10))  # the first: its receipt is now outstanding
        (receipt,) = _sent(transport, P.DeliverSm)
        transport.writes.clear()
        for seq in range(11, 14):
            clock.reads = 0
            holds.clear()
            commits = app.store.commits
            proto.data_received(encode(P.DeliverSmResp(sequence_number=receipt.sequence_number)) + submit(seq))
            assert clock.reads == 4
            assert app.store.commits - commits == 2 and holds == []
            assert app.driver._soon is None  # (nothing left for a loop turn of its own)
            assert len(transport.writes) == 1
            pdus = Framer().feed(transport.writes[0])
            transport.writes.clear()
            assert [type(p) for p in pdus] == [P.SubmitSmResp, P.DeliverSm]
            assert pdus[0].sequence_number == seq and pdus[1].tlvs[0x001E] == pdus[0].message_id
            receipt = pdus[1]
        await asyncio.sleep(0)
        assert transport.writes == []
