"""Deliveries an ESME took and did not acknowledge come back in the order they were made, and to a bind that can
take them (tester 24: six MOs taken by a receiver that then dropped its connection reached the next bind newest
first; a data_sm receipt refused by a bind that does not know data_sm was sent to it again for ever)."""

from __future__ import annotations

import socket

from smsc.smpp import pdu as P
from smsc.smpp.codec import encode
from smsc.smpp.constants import CommandStatus, Tag
from tests.integration.conftest import RawEsme, RunningSmsc


def test_mo_left_unanswered_by_a_dropped_receiver_reach_the_next_bind_in_order(smsc_server: RunningSmsc) -> None:
    first = RawEsme(smsc_server.port)
    first.bind("receiver")
    app = smsc_server.app
    assert app.smsc is not None
    smsc = app.smsc
    for i in range(6):
        smsc_server.call(lambda i=i: smsc.inject_mo("447700900123", "88123", text=f"part {i}"))
    unanswered: list[P.DeliverSm] = []
    for _ in range(50):  # bounded reads (5 s socket timeout each); nothing is acknowledged
        if len(unanswered) >= 6:
            break
        data = first.sock.recv(65536)
        assert data, "closed by the server"
        unanswered += [p for p in first.framer.feed(data) if isinstance(p, P.DeliverSm)]
    assert [p.short_message for p in unanswered] == [f"part {i}".encode() for i in range(6)]
    first.close()  # no unbind, no deliver_sm_resp: every one of the six fails

    second = RawEsme(smsc_server.port)  # the backoff is 1 real second: within the socket timeout
    try:
        second.bind("receiver")
        delivered = second.wait_deliveries(6)
        assert [p.short_message for p in delivered] == [f"part {i}".encode() for i in range(6)]
    finally:
        second.close()


def _read_for(esme: RawEsme, seconds: float) -> None:
    """Read (acknowledging deliver_sm, keeping the rest) until ``seconds`` pass without data; bounded."""
    esme.sock.settimeout(seconds)
    try:
        for _ in range(100):
            esme._read()
    except socket.timeout:
        pass
    finally:
        esme.sock.settimeout(5.0)


def _wait_data_sm(esme: RawEsme) -> list[P.DataSm]:
    """Read until a data_sm of ours has arrived (at most 50 reads); return those that did."""
    for _ in range(50):
        found = [p for p in esme.pending if isinstance(p, P.DataSm)]
        if found:
            return found
        esme._read()
    return []


def test_a_bind_that_refuses_data_sm_is_not_sent_it_again_another_bind_gets_it(smsc_server: RunningSmsc) -> None:
    """The receipt of a data_sm from a source of more than 20 digits can only go as data_sm (deliver_sm's
    addresses take 21 octets).  An ESME that answers it with generic_nack ESME_RINVCMDID does not know the
    command (tester 24: aiosmpplib does so): it was retried for ever, every 60 s in the end; now the bind is
    served as an SMPP 3.3 one is, and the receipt waits for a bind that takes data_sm."""
    long_source = "4477009001234567890123"  # 22 digits
    refusing = RawEsme(smsc_server.port)
    refusing.bind("transceiver")
    resp = refusing.request(P.DataSm(source_addr_ton=1, source_addr_npi=1, source_addr=long_source,
                                     dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123",
                                     registered_delivery=1, tlvs={Tag.message_payload: b"hello"}))
    assert resp.command_status == 0
    [receipt] = _wait_data_sm(refusing)
    refusing.pending.remove(receipt)
    refusing.sock.sendall(encode(P.GenericNack(sequence_number=receipt.sequence_number,
                                               command_status=CommandStatus.ESME_RINVCMDID)))
    _read_for(refusing, 2.5)  # the backoff (1 s) passes
    assert not [p for p in refusing.pending if isinstance(p, P.DataSm)], "sent again to the bind that refused it"
    smsc = smsc_server.app.smsc
    assert smsc is not None
    assert smsc_server.call(lambda: smsc.deliveries_held("test")) == 1

    taking = RawEsme(smsc_server.port)
    try:
        taking.bind("receiver")
        [resent] = _wait_data_sm(taking)
        assert resent.destination_addr == long_source
        assert resent.tlvs[Tag.receipted_message_id] == resp.message_id
    finally:
        taking.close()
        refusing.close()
