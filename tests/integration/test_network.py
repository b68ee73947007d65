"""The simulated network over real TCP (issue 4): hold, deliver, expire, fail, cancel, replace, query, MO.

The server runs the bundled default config with ``simulation.time_scale`` = 600 (ten simulated minutes per
real second), so a two-minute offline period takes a fifth of a second.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import smpplib.client
import smpplib.consts as C

from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus, MessageState, Tag
from smsc.smpp.receipt import parse_receipt_text

from .conftest import RawEsme, RunningSmsc, make_config, read_until

SCALE = 600.0


@pytest.fixture
def fast_world(smsc_factory: Callable[..., RunningSmsc], tmp_path: Path) -> RunningSmsc:
    cfg = make_config(tmp_path)
    cfg = dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation, time_scale=SCALE))
    return smsc_factory(cfg)


@pytest.fixture
def esme(fast_world: RunningSmsc) -> Any:
    client = RawEsme(fast_world.port)
    client.bind("transceiver")
    yield client
    client.close()


def submit(esme: RawEsme, destination: str, text: bytes = b"hello", **kw: Any) -> str:
    kw.setdefault("source_addr_ton", 5)
    kw.setdefault("source_addr", "ACME")
    resp = esme.request(P.SubmitSm(
        dest_addr_ton=1, dest_addr_npi=1,
        destination_addr=destination, short_message=text, registered_delivery=kw.pop("registered_delivery", 1),
        **kw,
    ))
    assert resp.command_status == 0, CommandStatus(resp.command_status).name
    return resp.message_id


def receipts_for(esme: RawEsme, message_id: str, count: int = 1) -> list[P.DeliverSm]:
    for _ in range(100):
        got = [d for d in esme.delivered if d.tlvs.get(Tag.receipted_message_id) == message_id]
        if len(got) >= count:
            return got
        esme.wait_deliveries(len(esme.delivered) + 1)
    raise AssertionError(f"no receipt for {message_id}")


def test_offline_handset_is_held_then_delivered_with_intermediate_notice(esme: RawEsme) -> None:
    mid = submit(esme, "447700900300", registered_delivery=0x11)  # final + intermediate
    first, final = receipts_for(esme, mid, 2)
    assert first.esm_class & 0x20 and parse_receipt_text(first.short_message.decode()).stat == "ENROUTE"
    assert final.esm_class & 0x04
    r = parse_receipt_text(final.short_message.decode())
    assert (r.message_id, r.stat) == (mid, "DELIVRD")
    assert final.tlvs[Tag.message_state] == MessageState.DELIVERED


@pytest.mark.parametrize(
    ("destination", "stat", "err", "state"),
    [
        ("447700900500", "UNDELIV", "001", MessageState.UNDELIVERABLE),
        ("447700900600", "REJECTD", "013", MessageState.REJECTED),
    ],
)
def test_failures_come_back_with_stat_err_and_network_error_code(
    esme: RawEsme, destination: str, stat: str, err: str, state: int
) -> None:
    mid = submit(esme, destination, b"failing message text")
    (receipt,) = receipts_for(esme, mid)
    text = receipt.short_message.decode()
    assert f"stat:{stat} err:{err} text:failing message text" in text
    assert receipt.tlvs[Tag.message_state] == state
    assert receipt.tlvs[Tag.network_error_code] == bytes([3, 0, int(err)])
    assert receipt.source_addr == destination and receipt.destination_addr == "ACME"


def test_absent_handset_expires_at_the_end_of_its_validity(esme: RawEsme) -> None:
    mid = submit(esme, "447700900400", validity_period="000000000500000R")  # 5 minutes
    (receipt,) = receipts_for(esme, mid)
    r = parse_receipt_text(receipt.short_message.decode())
    assert (r.stat, r.err) == ("EXPIRED", "006")
    assert receipt.tlvs[Tag.message_state] == MessageState.EXPIRED


def test_query_cancel_and_replace_a_waiting_message(esme: RawEsme, fast_world: RunningSmsc) -> None:
    mid = submit(esme, "447700900400", b"original")  # never online: waits for days
    # A message is locked while an attempt is in flight; wait until the first attempt found the handset absent.
    for _ in range(200):
        if fast_world.call(lambda: fast_world.app.smsc.message(mid).attempts):
            break
        time.sleep(0.01)
    q = esme.request(P.QuerySm(message_id=mid, source_addr_ton=5, source_addr="ACME"))
    assert (q.command_status, q.message_id, q.message_state, q.final_date) == (0, mid, MessageState.ENROUTE, "")

    r = esme.request(P.ReplaceSm(message_id=mid, source_addr_ton=5, source_addr="ACME", short_message=b"replaced"))
    assert r.command_status == 0
    assert fast_world.call(lambda: fast_world.app.smsc.message(mid).short_message) == b"replaced"

    c = esme.request(P.CancelSm(message_id=mid, source_addr_ton=5, source_addr="ACME",
                                dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900400"))
    assert c.command_status == 0
    q = esme.request(P.QuerySm(message_id=mid, source_addr_ton=5, source_addr="ACME"))
    assert q.message_state == MessageState.DELETED and len(q.final_date) == 16

    # final now: neither cancel nor replace applies any more
    c = esme.request(P.CancelSm(message_id=mid, source_addr_ton=5, source_addr="ACME"))
    assert c.command_status == CommandStatus.ESME_RCANCELFAIL
    r = esme.request(P.ReplaceSm(message_id=mid, source_addr_ton=5, source_addr="ACME", short_message=b"x"))
    assert r.command_status == CommandStatus.ESME_RREPLACEFAIL


def test_the_cancel_sm_resp_comes_before_the_receipt_of_the_message_it_cancelled(
        esme: RawEsme, fast_world: RunningSmsc) -> None:
    """Tester 73: the DELETED receipt always arrived before the cancel_sm_resp (3 of 3): the receipt was offered at
    once while the response waited for the commit.  An ESME then reads that its message is gone before it
    reads that its cancel succeeded."""
    from smsc.smpp.codec import encode

    mid = submit(esme, "447700900400", b"cancel me", registered_delivery=1)
    for _ in range(200):  # until the first attempt found the handset absent (in flight it is locked)
        if fast_world.call(lambda: fast_world.app.smsc.message(mid).attempts):
            break
        time.sleep(0.01)
    seq = esme.send(P.CancelSm(message_id=mid, source_addr_ton=5, source_addr="ACME"))
    order: list[str] = []
    for _ in range(50):  # each read bounded by the socket's timeout
        data = esme.sock.recv(65536)
        assert data, "closed by the server"
        for item in esme.framer.feed(data):
            if isinstance(item, P.DeliverSm):
                esme.sock.sendall(encode(P.DeliverSmResp(sequence_number=item.sequence_number)))
                if item.tlvs.get(Tag.receipted_message_id) == mid:
                    order.append("receipt " + parse_receipt_text(item.short_message.decode()).stat)
            elif getattr(item, "sequence_number", None) == seq:
                assert item.command_status == 0
                order.append("cancel_sm_resp")
        if len(order) == 2:
            break
    assert order == ["cancel_sm_resp", "receipt DELETED"]


def test_cancel_sm_without_message_id_or_destination_is_refused(esme: RawEsme, fast_world: RunningSmsc) -> None:
    """SMPP 3.4 section 4.9, table 4-24: destination_addr may be NULL only when a message_id is given; read as
    "any destination" such a request cancelled every pending message of the source."""
    mid = submit(esme, "447700900400", b"keep me")
    c = esme.request(P.CancelSm(source_addr_ton=5, source_addr="ACME"))
    assert c.command_status == CommandStatus.ESME_RINVDSTADR
    q = esme.request(P.QuerySm(message_id=mid, source_addr_ton=5, source_addr="ACME"))
    assert (q.command_status, q.message_state) == (0, MessageState.ENROUTE)


def test_query_cancel_and_replace_match_the_source_ton_and_npi(esme: RawEsme, fast_world: RunningSmsc) -> None:
    """SMPP 3.4 sections 4.8.1, 4.9.1, 4.10.1: the source address, TON and NPI included, must be the original's;
    a query_sm with TON 2 found a message submitted with TON 1."""
    resp = esme.request(P.SubmitSm(source_addr_ton=1, source_addr_npi=1, source_addr="447700900001", dest_addr_ton=1,
                                   dest_addr_npi=1, destination_addr="447700900400", short_message=b"original"))
    assert resp.command_status == 0
    mid = resp.message_id
    for _ in range(200):  # until the first attempt found the handset absent (in flight it is locked)
        if fast_world.call(lambda: fast_world.app.smsc.message(mid).attempts):
            break
        time.sleep(0.01)
    wrong = {"source_addr_ton": 2, "source_addr_npi": 1, "source_addr": "447700900001"}
    assert esme.request(P.QuerySm(message_id=mid, **wrong)).command_status == CommandStatus.ESME_RQUERYFAIL
    assert esme.request(P.ReplaceSm(message_id=mid, short_message=b"x", **wrong)).command_status == \
        CommandStatus.ESME_RREPLACEFAIL
    assert esme.request(P.CancelSm(message_id=mid, **wrong)).command_status == CommandStatus.ESME_RCANCELFAIL
    assert esme.request(P.CancelSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900400",
                                   **wrong)).command_status == CommandStatus.ESME_RCANCELFAIL
    # TON and NPI NULL: not known (Tables 4-22 and 4-24), the address alone is compared (tester 39).
    unknown = {**wrong, "source_addr_ton": 0, "source_addr_npi": 0}
    q = esme.request(P.QuerySm(message_id=mid, **unknown))
    assert (q.command_status, q.message_state) == (0, MessageState.ENROUTE)
    other = {**unknown, "source_addr": "447700900002"}
    assert esme.request(P.QuerySm(message_id=mid, **other)).command_status == CommandStatus.ESME_RQUERYFAIL
    right = {**wrong, "source_addr_ton": 1}
    q = esme.request(P.QuerySm(message_id=mid, **right))
    assert (q.command_status, q.message_state) == (0, MessageState.ENROUTE)
    assert fast_world.call(lambda: fast_world.app.smsc.message(mid).short_message) == b"original"
    assert esme.request(P.CancelSm(message_id=mid, **right)).command_status == 0


def test_query_of_an_unknown_message_fails(esme: RawEsme) -> None:
    q = esme.request(P.QuerySm(message_id="doesnotexist", source_addr_ton=5, source_addr="ACME"))
    assert q.command_status == CommandStatus.ESME_RQUERYFAIL
    assert (q.message_id, q.message_state) == ("doesnotexist", MessageState.UNKNOWN)  # not "en route"


def test_submit_time_rules_answer_the_configured_status(esme: RawEsme) -> None:
    for number, status in [("447700900910", CommandStatus.ESME_RSUBMITFAIL),
                           ("447700900911", CommandStatus.ESME_RTHROTTLED),
                           ("447700900912", CommandStatus.ESME_RINVDSTADR)]:
        resp = esme.request(P.SubmitSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr=number, short_message=b"x"))
        assert resp.command_status == status


def test_destinations_longer_than_an_e164_number_are_refused(esme: RawEsme, fast_world: RunningSmsc) -> None:
    """Found by a tester: a 20-digit submit_sm destination and a 64-digit data_sm one were accepted and
    delivered; E.164 numbers have at most 15 digits, and the HTTP API refused the same numbers."""
    resp = esme.request(P.SubmitSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr="4" * 20, short_message=b"x"))
    assert resp.command_status == CommandStatus.ESME_RINVDSTADR
    resp = esme.request(P.DataSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr="4" * 64,
                                 tlvs={Tag.message_payload: b"x"}))
    assert resp.command_status == CommandStatus.ESME_RINVDSTADR
    resp = esme.request(P.SubmitMulti(
        short_message=b"x", dest_addresses=[P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="4" * 16),
                                            P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123")]))
    assert resp.command_status == 0
    assert [(u.destination_addr, u.error_status_code) for u in resp.unsuccess_smes] == [
        ("4" * 16, CommandStatus.ESME_RINVDSTADR)]
    assert fast_world.call(lambda: [m.destination_e164 for m in fast_world.app.smsc.messages()]) == ["447700900123"]


def test_submit_multi_reports_unsuccessful_destinations(esme: RawEsme) -> None:
    resp = esme.request(P.SubmitMulti(
        source_addr_ton=5, source_addr="ACME", registered_delivery=1, short_message=b"to many",
        dest_addresses=[P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123"),
                        P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900910"),
                        P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="12125550100")],
    ))
    assert resp.command_status == 0 and resp.message_id
    assert [(u.destination_addr, u.error_status_code) for u in resp.unsuccess_smes] == [
        ("447700900910", CommandStatus.ESME_RSUBMITFAIL)]
    receipts = esme.wait_deliveries(2)
    assert {d.source_addr for d in receipts} == {"447700900123", "12125550100"}


def test_submit_multi_whose_every_destination_is_refused_fails_with_the_list_on_the_wire(esme: RawEsme) -> None:
    resp = esme.request(P.SubmitMulti(
        source_addr_ton=5, source_addr="ACME", registered_delivery=1, short_message=b"to none",
        dest_addresses=[P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900910"),
                        P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="12345")],
    ))
    assert resp.command_status == CommandStatus.ESME_RSUBMITFAIL and resp.message_id == ""
    assert [(u.destination_addr, u.error_status_code) for u in resp.unsuccess_smes] == [
        ("447700900910", CommandStatus.ESME_RSUBMITFAIL), ("12345", CommandStatus.ESME_RINVDSTADR)]


def test_mo_from_a_handset_reaches_a_receiver_bind_via_smpplib(fast_world: RunningSmsc) -> None:
    client = smpplib.client.Client("127.0.0.1", fast_world.port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_receiver(system_id="test", password="test")
        got: list[Any] = []
        client.set_message_received_handler(lambda pdu: got.append(pdu))
        fast_world.call(lambda: fast_world.app.smsc.inject_mo("447700900123", "88123", text="Hello from a handset"))
        read_until(client, lambda: len(got) == 1, max_pdus=20)
        mo = got[0]
        assert mo.esm_class == 0 and mo.short_message == b"Hello from a handset"
        assert mo.source_addr == b"447700900123" and mo.destination_addr == b"88123"
    finally:
        client.disconnect()


def test_auto_replying_handset_answers_with_an_mo(esme: RawEsme) -> None:
    # From a number: a handset cannot answer a sender ID such as ACME (tester 31).
    submit(esme, "447700900900", b"echo me", source_addr_ton=1, source_addr_npi=1, source_addr="447700900001")
    deliveries = esme.wait_deliveries(2)
    mo = [d for d in deliveries if not d.esm_class & 0x04]
    assert mo and mo[0].source_addr == "447700900900" and b"echo me" in mo[0].short_message
    _ = C


def test_a_message_read_by_customer_service_is_final_as_accepted(esme: RawEsme) -> None:
    """447700900922: ACCEPTED (SMPP 3.4 section 5.2.28, "manually read on behalf of the subscriber by customer
    service"), the one final state no number could provoke before: receipt stat ACCEPTD err:000, message_state 6,
    no network_error_code (the network did not fail), and query_sm says ACCEPTED with its final_date."""
    mid = submit(esme, "447700900922", b"read for you")
    (receipt,) = receipts_for(esme, mid)
    r = parse_receipt_text(receipt.short_message.decode())
    assert (r.message_id, r.stat, r.err, r.delivered) == (mid, "ACCEPTD", "000", 0)
    assert receipt.tlvs[Tag.message_state] == MessageState.ACCEPTED
    assert Tag.network_error_code not in receipt.tlvs
    q = esme.request(P.QuerySm(message_id=mid, source_addr_ton=5, source_addr="ACME"))
    assert (q.command_status, q.message_state, q.error_code) == (0, MessageState.ACCEPTED, 0)
    assert len(q.final_date) == 16


def test_at_a_high_time_scale_no_message_is_delivered_before_it_was_submitted(tmp_path: Path) -> None:
    """Tester 104: at time_scale 3600, 38 of 40 messages of a burst had their attempt and final_time up to 1.5
    simulated seconds before their submit_time: a zero-latency outcome joined a batch due a moment earlier, and
    the scaled clock was pinned at that batch's time while it ran."""
    import socket

    from smsc.smpp.codec import Framer, encode

    from smsc.config import Distribution, NumberRule, outcome_for

    cfg = make_config(tmp_path)
    # (tester 106: with zero-latency rules, the failed and accepted outcomes were dated early too)
    instant = Distribution(kind="fixed", value=0.0)
    failing = tuple(NumberRule(prefixes=(f"44770090016{i}",), outcome=outcome_for(cause), latency=instant)
                    for i, cause in enumerate(("unknown_subscriber", "barred", "read_by_customer_service")))
    uk, *others = cfg.topology.carriers
    uk = dataclasses.replace(uk, rules=(*failing, *uk.rules))
    cfg = dataclasses.replace(cfg, store=dataclasses.replace(cfg.store, kind="memory"),
                              simulation=dataclasses.replace(cfg.simulation, time_scale=3600.0),
                              topology=dataclasses.replace(cfg.topology, carriers=(uk, *others)))
    server = RunningSmsc(cfg)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
            framer, got = Framer(), []
            for burst in range(4):
                sock.sendall(b"".join(encode(P.SubmitSm(
                    sequence_number=2 + burst * 10 + i, source_addr_ton=5, source_addr="ACME", dest_addr_ton=1,
                    dest_addr_npi=1, destination_addr=f"44770090016{i % 3}{i}" if burst % 2 else f"4477009001{i:02d}",
                    short_message=b"x", registered_delivery=0x11)) for i in range(10)))
                time.sleep(0.01)
            for _ in range(100):  # (bounded: each read waits 5 s at most)
                if sum(isinstance(p, P.SubmitSmResp) for p in got) >= 40:
                    break
                got.extend(framer.feed(sock.recv(65536)))
        ids = [p.message_id for p in got if isinstance(p, P.SubmitSmResp)]
        assert len(ids) == 40
        deadline = time.monotonic() + 10
        while True:
            msgs = [server.call(lambda i=i: server.app.smsc.message(i)) for i in ids]  # type: ignore[union-attr]
            if all(m.final_time is not None for m in msgs) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        early = [(m.message_id, m.state, m.submit_time - m.final_time) for m in msgs
                 if m.final_time is None or m.final_time < m.submit_time
                 or any(a.time < m.submit_time for a in m.attempts)]
        assert early == [], early
        assert {m.state for m in msgs} == {MessageState.DELIVERED, MessageState.UNDELIVERABLE,
                                           MessageState.REJECTED, MessageState.ACCEPTED}
    finally:
        server.stop()
