"""The bundled world's numbers whose receipts the network loses (447700900923) or sends twice (447700900924), over
a real socket with smpplib, and a duplicated receipt owed across a restart on the SQLite file."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

import smpplib.client
import smpplib.consts as C

from smsc.smpp import pdu as P
from smsc.smpp.constants import MessageState
from smsc.smpp.receipt import parse_receipt_text

from .conftest import RawEsme, RunningSmsc, read_until

LOST = "447700900923"
TWICE = "447700900924"
PLAIN = "447700900123"


def test_receipts_lost_and_sent_twice_reach_an_smpplib_esme_so(smsc_factory: Callable[..., RunningSmsc]) -> None:
    world = smsc_factory()
    client = smpplib.client.Client("127.0.0.1", world.port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transceiver(system_id="test", password="test")
        ids: dict[int, str] = {}
        receipts: list[Any] = []
        client.set_message_sent_handler(lambda pdu: ids.__setitem__(pdu.sequence, pdu.message_id.decode()))
        client.set_message_received_handler(lambda pdu: receipts.append(pdu))
        sent: dict[str, int] = {}
        for number in (LOST, TWICE, PLAIN):  # in this order: PLAIN's receipt comes after the others'
            pdu = client.send_message(source_addr_ton=C.SMPP_TON_ALNUM, source_addr="ACME", dest_addr_ton=1,
                                      dest_addr_npi=1, destination_addr=number, short_message=b"otp 123456",
                                      registered_delivery=1)
            sent[number] = pdu.sequence
        read_until(client, lambda: len(ids) == 3 and len(receipts) >= 3, max_pdus=30)
        message_id = {number: ids[seq] for number, seq in sent.items()}
        got = Counter(parse_receipt_text(r.short_message.decode()).message_id for r in receipts)
        assert got == {message_id[TWICE]: 2, message_id[PLAIN]: 1}
        twice = [r for r in receipts if r.source_addr == TWICE.encode()]
        assert twice[0].short_message == twice[1].short_message
        assert twice[0].receipted_message_id == twice[1].receipted_message_id == message_id[TWICE].encode()
        lost = world.call(lambda: world.app.smsc.message(message_id[LOST]))
        assert lost.state == MessageState.DELIVERED
        stats = world.app.smsc.stats
        assert (stats.receipts_lost, stats.receipts_duplicated) == (1, 1)
    finally:
        client.disconnect()


def test_both_copies_of_a_duplicated_receipt_are_owed_after_a_restart(
        smsc_factory: Callable[..., RunningSmsc]) -> None:
    world = smsc_factory()
    sender = RawEsme(world.port)
    try:
        sender.bind("transmitter")  # no receiver bound: the receipts wait in the store
        resp = sender.request(P.SubmitSm(source_addr_ton=5, source_addr="ACME", dest_addr_ton=1, dest_addr_npi=1,
                                         destination_addr=TWICE, short_message=b"hello", registered_delivery=1))
        assert resp.command_status == 0
        for _ in range(200):  # delivered at once: up to 5 s
            if world.call(lambda: world.app.smsc.message(resp.message_id)).state == MessageState.DELIVERED:
                break
            time.sleep(0.025)
        assert world.call(lambda: len(world.app.smsc.outbox)) == 2
    finally:
        sender.close()
    world.stop()
    again = smsc_factory(config=world.config)
    receiver = RawEsme(again.port)
    try:
        receiver.bind("receiver")
        deliveries = receiver.wait_deliveries(2)
        assert len(deliveries) == 2
        assert deliveries[0].short_message == deliveries[1].short_message
        assert parse_receipt_text(deliveries[0].short_message.decode()).message_id == resp.message_id
    finally:
        receiver.close()
