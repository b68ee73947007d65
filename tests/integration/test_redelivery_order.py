"""Deliveries an ESME took and did not acknowledge come back in the order they were made, and to a bind that can
take them (tester 24: six MOs taken by a receiver that then dropped its connection reached the next bind newest
first; a data_sm receipt refused by a bind that does not know data_sm was sent to it again for ever)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from smsc.smpp import pdu as P
from smsc.smpp.codec import encode
from smsc.smpp.constants import CommandStatus, Tag
from tests.integration.conftest import RawEsme, RunningSmsc, make_config


def _inject(smsc_server: RunningSmsc, count: int) -> None:
    smsc = smsc_server.app.smsc
    assert smsc is not None
    for i in range(count):
        smsc_server.call(lambda i=i: smsc.inject_mo("447700900123", "88123", text=f"part {i:02d}"))


def _texts(count: int) -> list[bytes]:
    return [f"part {i:02d}".encode() for i in range(count)]


def _read_unanswered(esme: RawEsme, count: int) -> list[P.DeliverSm]:
    """Read ``count`` deliver_sm without acknowledging any (at most 50 reads of the 5 s socket timeout)."""
    unanswered: list[P.DeliverSm] = []
    for _ in range(50):
        if len(unanswered) >= count:
            break
        data = esme.sock.recv(65536)
        assert data, "closed by the server"
        unanswered += [p for p in esme.framer.feed(data) if isinstance(p, P.DeliverSm)]
    return unanswered


def test_mo_left_unanswered_by_a_dropped_receiver_reach_the_next_bind_in_order(smsc_server: RunningSmsc) -> None:
    """30 MO, a window of 10: the first receiver takes 00-09, answers none and drops; one that binds at once
    (within what used to be the 1 s backoff) gets 00-09 before 10-29 (tester 25: 10-29 first, then 00-09)."""
    first = RawEsme(smsc_server.port)
    first.bind("receiver")
    _inject(smsc_server, 30)
    assert [p.short_message for p in _read_unanswered(first, 10)] == _texts(10)
    first.close()  # no unbind, no deliver_sm_resp: the ten fail

    second = RawEsme(smsc_server.port)
    try:
        second.bind("receiver")
        delivered = second.wait_deliveries(30)
        assert [p.short_message for p in delivered] == _texts(30)
    finally:
        second.close()


def test_a_window_that_timed_out_is_offered_again_before_what_queued_behind_it(smsc_factory: Any,
                                                                                 tmp_path: Path) -> None:
    """A live bind leaves its first window unanswered until the response_timer expires, then answers: the ten
    come back first, then the rest (tester 25: the twenty behind them went out during the backoff)."""
    server = smsc_factory(make_config(tmp_path, response_timer=0.5, enquire_link_timer=0.0))
    esme = RawEsme(server.port)
    try:
        esme.bind("receiver")
        _inject(server, 30)
        assert [p.short_message for p in _read_unanswered(esme, 10)] == _texts(10)
        delivered = esme.wait_deliveries(30)  # (acknowledged from now on)
        assert [p.short_message for p in delivered] == _texts(30)
    finally:
        esme.close()


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


@pytest.mark.parametrize("answer", [
    lambda seq: P.GenericNack(sequence_number=seq, command_status=CommandStatus.ESME_RINVCMDID),
    lambda seq: P.GenericNack(sequence_number=seq, command_status=0),  # aiosmpplib's (tester 25)
    lambda seq: P.DataSmResp(sequence_number=seq, command_status=CommandStatus.ESME_RINVCMDID),
], ids=["generic_nack ESME_RINVCMDID", "generic_nack 0", "data_sm_resp ESME_RINVCMDID"])
def test_a_bind_that_refuses_data_sm_is_not_sent_it_again_another_bind_gets_it(smsc_server: RunningSmsc,
                                                                                 answer: Any) -> None:
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
    refusing.sock.sendall(encode(answer(receipt.sequence_number)))
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


def test_a_bind_that_reads_but_never_answers_is_passed_over_while_another_has_room(smsc_factory: Any,
                                                                                      tmp_path: Path) -> None:
    """Tester 27: two receivers of one system_id, one of them reading deliver_sm and answering none.  Its window
    timed out and came straight back to it (the outbox offers unanswered deliveries again at once), while the
    healthy bind idled until the stuck one was found dead, 3 response_timer rounds later (90 s by default).  Now
    a stalled bind is given nothing while another bind has room: everything reaches the healthy one, once."""
    server = smsc_factory(make_config(tmp_path, response_timer=0.5, enquire_link_timer=0.0))
    stuck = RawEsme(server.port)
    healthy = RawEsme(server.port)
    try:
        stuck.bind("receiver")
        healthy.bind("receiver")
        _inject(server, 20)
        got_stuck = _read_unanswered(stuck, 1)  # the registry shares the first deliveries out
        healthy.sock.settimeout(2.0)
        delivered = healthy.wait_deliveries(20, max_reads=100)
        assert sorted(p.short_message for p in delivered) == _texts(20)  # every one, once, on the healthy bind
        stuck.sock.settimeout(1.0)
        try:
            for _ in range(20):  # bounded: whatever else reaches the stuck bind within a second of reads
                data = stuck.sock.recv(65536)
                if not data:
                    break
                got_stuck += [p for p in stuck.framer.feed(data) if isinstance(p, P.DeliverSm)]
        except socket.timeout:
            pass
        texts = [p.short_message for p in got_stuck]
        assert len(texts) == len(set(texts)) <= 10  # its first window only: nothing offered to it again
    finally:
        stuck.close()
        healthy.close()
