"""replace_sm obeys the rules of submit_sm's same fields, data_sm's qos_time_to_live is its validity, and
submit_multi refuses a bad destination alone: over a real socket, the PDUs as an ESME writes them."""

from __future__ import annotations

import struct
import time
from typing import Any, Callable

import pytest

from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandId, CommandStatus as S, Tag

from .conftest import RawEsme, RunningSmsc

NEVER_ON = "447700900400"  # the default world's handset that is never on


@pytest.fixture
def world(smsc_factory: Callable[..., RunningSmsc]) -> RunningSmsc:
    return smsc_factory()


@pytest.fixture
def esme(world: RunningSmsc) -> Any:
    client = RawEsme(world.port)
    client.bind("transceiver")
    yield client
    client.close()


def submit(esme: RawEsme, **fields: Any) -> Any:
    fields = {"source_addr_ton": 1, "source_addr_npi": 1, "source_addr": "12345", "dest_addr_ton": 1,
              "dest_addr_npi": 1, "destination_addr": NEVER_ON, "short_message": b"hello", **fields}
    return esme.request(P.SubmitSm(**fields))


def replace(esme: RawEsme, message_id: str, **fields: Any) -> int:
    fields = {"source_addr_ton": 1, "source_addr_npi": 1, "source_addr": "12345", "short_message": b"new", **fields}
    return esme.request(P.ReplaceSm(message_id=message_id, **fields)).command_status


def message(world: RunningSmsc, message_id: str) -> Any:
    return world.call(lambda: world.app.smsc.message(message_id))


def wait_attempted(world: RunningSmsc, message_id: str) -> None:
    """Until the first attempt found the handset absent (a message in flight is not replaced: up to 2 s)."""
    for _ in range(200):
        if message(world, message_id).attempts:
            return
        time.sleep(0.025)
    raise AssertionError(f"{message_id} was not attempted within 5 s")


def test_replace_sm_fields_get_the_statuses_submit_sm_gives_them(esme: RawEsme, world: RunningSmsc) -> None:
    assert submit(esme, registered_delivery=0x21).command_status == S.ESME_RINVREGDLVFLG
    assert submit(esme, sm_default_msg_id=200).command_status == S.ESME_RINVDFTMSGID
    assert submit(esme, esm_class=0x40, short_message=b"\x14\x00\x03abc").command_status == S.ESME_RINVMSGLEN
    resp = submit(esme, esm_class=0x40, registered_delivery=1, short_message=bytes.fromhex("050003090201") + b"one")
    assert resp.command_status == 0
    message_id = resp.message_id
    assert replace(esme, message_id, registered_delivery=0x21) == S.ESME_RINVREGDLVFLG
    assert replace(esme, message_id, sm_default_msg_id=200) == S.ESME_RINVDFTMSGID
    wait_attempted(world, message_id)
    assert replace(esme, message_id, short_message=b"\x14\x00\x03abc") == S.ESME_RINVMSGLEN
    msg = message(world, message_id)
    assert (msg.registered_delivery, msg.short_message) == (1, bytes.fromhex("050003090201") + b"one")
    assert replace(esme, message_id, registered_delivery=0x11, short_message=bytes.fromhex("050003090201") + b"two") == 0
    assert message(world, message_id).registered_delivery == 0x11


def test_replace_sm_times_are_read_against_the_kept_ones(esme: RawEsme, world: RunningSmsc) -> None:
    scheduled = submit(esme, schedule_delivery_time="000000000500000R").message_id  # first attempt in 5 min
    assert replace(esme, scheduled, validity_period="000000000200000R") == S.ESME_RINVEXPIRY
    limited = submit(esme, validity_period="000000001000000R").message_id  # expires in 10 min
    expiry = message(world, limited).expiry_time
    wait_attempted(world, limited)
    assert replace(esme, limited, schedule_delivery_time="000000003000000R") == S.ESME_RINVSCHED
    assert message(world, limited).expiry_time == expiry


def test_data_sm_qos_time_to_live_is_its_validity(esme: RawEsme, world: RunningSmsc) -> None:
    resp = esme.request(P.DataSm(
        source_addr_ton=1, source_addr_npi=1, source_addr="12345", dest_addr_ton=1, dest_addr_npi=1,
        destination_addr=NEVER_ON, tlvs={Tag.message_payload: b"ttl 120 s", Tag.qos_time_to_live: 120},
    ))
    assert resp.command_status == 0
    msg = message(world, resp.message_id)
    assert msg.expiry_time - msg.submit_time == pytest.approx(120.0, abs=0.01)


def sme(ton: int, npi: int, addr: str) -> bytes:
    return bytes((1, ton, npi)) + addr.encode("ascii") + b"\0"


def test_submit_multi_refuses_a_bad_destination_alone(esme: RawEsme, world: RunningSmsc) -> None:
    """SMPP 3.4 section 4.5.2: per-destination errors go into unsuccess_sme.  Written by hand: our own encoder
    (rightly) refuses to write a 21-character destination_addr."""
    dests = [sme(1, 1, "447700900123"), sme(9, 1, "447700900124"), sme(1, 2, "447700900125"),
             sme(1, 1, "1" * 21), sme(5, 0, "Hello")]
    body = (b"\0" + b"\x01\x01" + b"12345\0" + bytes((len(dests),)) + b"".join(dests)
            + b"\0\0\0" + b"\0" + b"\0" + b"\x01\x00\x00\x00" + b"\x05multi")
    esme.seq += 1
    esme.sock.sendall(struct.pack(">IIII", 16 + len(body), CommandId.submit_multi, 0, esme.seq) + body)
    resp = None
    for _ in range(100):
        resp = next((p for p in esme.pending if p.sequence_number == esme.seq), None)
        if resp is not None:
            break
        esme._read()
    assert isinstance(resp, P.SubmitMultiResp)
    assert resp.command_status == 0 and resp.message_id
    assert [(u.dest_addr_ton, u.dest_addr_npi, u.destination_addr, u.error_status_code)
            for u in resp.unsuccess_smes] == [
        (9, 1, "447700900124", S.ESME_RINVDSTTON),
        (1, 2, "447700900125", S.ESME_RINVDSTNPI),
        (1, 1, "1" * 20, S.ESME_RINVDSTADR),  # echoed as far as the field holds
        (5, 0, "Hello", S.ESME_RINVDSTADR),
    ]
    accepted = world.call(lambda: [m.message_id for m in world.app.smsc.messages() if m.multi_id == resp.message_id])
    assert accepted == [f"{resp.message_id}-1"]


def test_replace_sm_takes_its_new_text_from_message_payload(esme: RawEsme, world: RunningSmsc) -> None:
    """Tester 39: replace_sm with the message_payload TLV (SMPP 5.0 section 4.5.3.3) was answered ESME_ROK and
    left the message with the empty short_message.  As in submit_sm, the TLV is the text, and giving both is
    ESME_RINVMSGLEN."""
    message_id = submit(esme, registered_delivery=1).message_id
    wait_attempted(world, message_id)
    long_text = b"replaced by a payload " * 20  # 440 octets: more than short_message can carry
    assert replace(esme, message_id, short_message=b"", tlvs={Tag.message_payload: long_text}) == 0
    assert message(world, message_id).short_message == long_text
    assert replace(esme, message_id, short_message=b"both", tlvs={Tag.message_payload: b"x"}) == S.ESME_RINVMSGLEN
    assert message(world, message_id).short_message == long_text


def test_replace_sm_text_longer_than_one_sms_is_refused_as_submit_sm_refuses_it(
    esme: RawEsme, world: RunningSmsc,
) -> None:
    """``server.oversized_short_message: reject`` (the default) for replace_sm's new short_message, in the
    message's own data_coding; a message_payload is still the SMSC's to segment."""
    message_id = submit(esme, registered_delivery=1).message_id
    wait_attempted(world, message_id)
    assert replace(esme, message_id, short_message=b"a" * 161) == S.ESME_RINVMSGLEN
    assert message(world, message_id).short_message == b"hello"
    assert replace(esme, message_id, short_message=b"a" * 160) == 0
    assert replace(esme, message_id, short_message=b"", tlvs={Tag.message_payload: b"a" * 161}) == 0
    ucs2 = submit(esme, data_coding=8, short_message="\u0416".encode("utf-16-be"),
                  destination_addr="447700900401").message_id  # (NEVER_ON is known absent now: no attempt)
    wait_attempted(world, ucs2)
    assert replace(esme, ucs2, short_message=b"a" * 141) == S.ESME_RINVMSGLEN  # 140 octets in UCS-2
    assert replace(esme, ucs2, short_message="\u0416".encode("utf-16-be") * 70) == 0


def test_data_sm_from_a_receiver_bind_is_accepted_and_its_receipt_comes_back_on_it(world: RunningSmsc) -> None:
    """SMPP 3.4 Table 2-1 lets an ESME send data_sm in every bound state, the receiver's included; it was refused
    with ESME_RINVBNDSTS, SMPP 5.0's rule (testers 32 and 39)."""
    receiver = RawEsme(world.port)
    try:
        receiver.bind("receiver")
        resp = receiver.request(P.DataSm(source_addr_ton=1, source_addr_npi=1, source_addr="12345", dest_addr_ton=1,
                                         dest_addr_npi=1, destination_addr="447700900123", registered_delivery=1,
                                         tlvs={Tag.message_payload: b"from a receiver"}))
        assert resp.command_status == 0 and resp.message_id
        (receipt,) = receiver.wait_deliveries(1)
        assert receipt.tlvs[Tag.receipted_message_id] == resp.message_id
    finally:
        receiver.close()


def test_submit_multi_with_replace_if_present_flag_set_is_refused(esme: RawEsme, world: RunningSmsc) -> None:
    """SMPP 3.4 Table 4-12: submit_multi's replace_if_present_flag is "Reserved. Must be set to NULL".  It was
    accepted and ignored (tester 39), where submit_sm refuses its reserved values."""
    multi = P.SubmitMulti(source_addr_ton=1, source_addr_npi=1, source_addr="12345", replace_if_present_flag=1,
                          dest_addresses=[P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr=NEVER_ON)],
                          short_message=b"multi")
    resp = esme.request(multi)
    assert isinstance(resp, P.SubmitMultiResp) and resp.command_status == S.ESME_RINVREPFLAG
    assert world.call(lambda: [m for m in world.app.smsc.messages() if m.multi_id]) == []
    multi.replace_if_present_flag = 0
    assert esme.request(multi).command_status == 0


def test_a_message_payload_longer_than_255_parts_is_refused(esme: RawEsme) -> None:
    """Tester 71: 65,535 octets of message_payload (429 GSM parts) were accepted and reported DELIVRD, where a
    concatenated message has at most 255 parts (3GPP TS 23.040 section 9.2.3.24.1) and no network carries it."""
    import structlog

    fits = {"short_message": b"", "tlvs": {Tag.message_payload: b"a" * 39_015}}  # 255 x 153 GSM septets
    assert submit(esme, **fits).command_status == 0
    with structlog.testing.capture_logs() as logs:
        over = submit(esme, short_message=b"", tlvs={Tag.message_payload: b"a" * 39_016})
        assert over.command_status == S.ESME_RINVMSGLEN
        ucs2 = submit(esme, short_message=b"", data_coding=8, tlvs={Tag.message_payload: b"\x00a" * 17_086})
        assert ucs2.command_status == S.ESME_RINVMSGLEN
        data = esme.request(P.DataSm(source_addr_ton=1, source_addr_npi=1, source_addr="12345", dest_addr_ton=1,
                                     dest_addr_npi=1, destination_addr=NEVER_ON, data_coding=4,
                                     tlvs={Tag.message_payload: b"\x01" * 34_171}))
        assert data.command_status == S.ESME_RINVMSGLEN
        assert esme.request(P.DataSm(source_addr_ton=1, source_addr_npi=1, source_addr="12345", dest_addr_ton=1,
                                     dest_addr_npi=1, destination_addr=NEVER_ON, data_coding=4,
                                     tlvs={Tag.message_payload: b"\x01" * 34_170})).command_status == 0
    reasons = [e["reason"] for e in logs if e["event"] == "submit_refused"]
    assert reasons[0] == ("message_payload of 39,016 octets needs 256 SMS in data_coding 0x00: a concatenated "
                          "message has at most 255 parts (3GPP TS 23.040 section 9.2.3.24.1)"), reasons


def test_a_message_payload_that_is_a_part_already_must_fit_one_sms(esme: RawEsme) -> None:
    """Tester 100: a message_payload starting with a concatenation UDH ("part 1 of 2") and 200 septets was
    accepted, where the same short_message is refused: concatenation does not nest, so the SMSC cannot segment
    a part again and no network carries it.  A payload with another UDH (ports) is still segmented."""
    import structlog

    concat = bytes((0x05, 0x00, 0x03, 0x01, 0x02, 0x01))
    ports = bytes((0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0))
    with structlog.testing.capture_logs() as logs:
        over = submit(esme, esm_class=0x40, short_message=b"", tlvs={Tag.message_payload: concat + b"a" * 154})
        assert over.command_status == S.ESME_RINVMSGLEN
        data = esme.request(P.DataSm(source_addr_ton=1, source_addr_npi=1, source_addr="12345", dest_addr_ton=1,
                                     dest_addr_npi=1, destination_addr=NEVER_ON, esm_class=0x40,
                                     tlvs={Tag.message_payload: concat + b"a" * 154}))
        assert data.command_status == S.ESME_RINVMSGLEN
    fits = submit(esme, esm_class=0x40, short_message=b"", tlvs={Tag.message_payload: concat + b"a" * 153})
    assert fits.command_status == 0
    long_ported = submit(esme, esm_class=0x40, short_message=b"", tlvs={Tag.message_payload: ports + b"a" * 400})
    assert long_ported.command_status == 0
    # (tester 103: a UDH whose element runs past UDHL raised out of the check, and the connection was closed; the
    # same UDH in a short_message is taken, its UDHL cutting it, and so is this payload)
    malformed = bytes((0x04, 0x00, 0x03, 0x0A, 0x02)) + b"a" * 20
    for request in (P.SubmitSm(source_addr_ton=1, source_addr_npi=1, source_addr="12345", dest_addr_ton=1,
                               dest_addr_npi=1, destination_addr=NEVER_ON, esm_class=0x40,
                               tlvs={Tag.message_payload: malformed}),
                    P.SubmitSm(source_addr_ton=1, source_addr_npi=1, source_addr="12345", dest_addr_ton=1,
                               dest_addr_npi=1, destination_addr=NEVER_ON, esm_class=0x40, short_message=malformed),
                    P.DataSm(source_addr_ton=1, source_addr_npi=1, source_addr="12345", dest_addr_ton=1,
                             dest_addr_npi=1, destination_addr=NEVER_ON, esm_class=0x40,
                             tlvs={Tag.message_payload: malformed})):
        assert esme.request(request).command_status == 0
    assert esme.request(P.EnquireLink()).command_status == 0  # (the connection stands)
    # (tester 106: a payload numbered by SAR TLVs was not held to one SMS, and a UDH of 135 octets, which leaves no
    # room in the parts of a segmentation, was accepted and then broke the API's listing)
    sar = {Tag.sar_msg_ref_num: 7, Tag.sar_total_segments: 2, Tag.sar_segment_seqnum: 1}
    with structlog.testing.capture_logs() as more:
        assert submit(esme, short_message=b"", tlvs={**sar, Tag.message_payload: b"a" * 154}).command_status == \
            S.ESME_RINVMSGLEN
        assert submit(esme, short_message=b"", tlvs={**sar, Tag.message_payload: b"a" * 153}).command_status == 0
        huge = bytes((134, 0x70, 132)) + bytes(132) + b"b" * 20
        assert submit(esme, esm_class=0x40, data_coding=4, short_message=b"",
                      tlvs={Tag.message_payload: huge}).command_status == S.ESME_RINVMSGLEN
    assert [e["reason"] for e in more if e["event"] == "submit_refused"] == [
        "message_payload numbered by SAR TLVs (a part the ESME cut itself, which the SMSC cannot segment again) "
        "holds 154 septets (data_coding 0x00): one SMS holds 153 septets after the concatenation header",
        "message_payload's UDH of 135 octets leaves no room for user data in the parts of a concatenated message "
        "(data_coding 0x04): no network can carry it"]
    reasons = [e["reason"] for e in logs if e["event"] == "submit_refused"]
    assert reasons[0] == ("message_payload starts with a concatenation UDH (a part the ESME cut itself, which the "
                          "SMSC cannot segment again) and holds 154 septets (data_coding 0x00) after it: one SMS "
                          "holds 153 septets"), reasons


def test_a_message_payload_with_its_own_udh_counts_that_udh_in_its_parts(esme: RawEsme, world: RunningSmsc) -> None:
    """Tester 109: a ports UDH and 34,000 octets (266 SMS once each part carries the UDH) were accepted; the
    255-part check read the payload as if it had no UDH.  And replace_sm with a message_payload skipped the
    checks a submit's payload meets: a waiting part was replaced by its concatenation UDH and 300 septets."""
    import structlog

    ports = bytes((6, 5, 4, 0x0B, 0x84, 0x23, 0xF0))
    with structlog.testing.capture_logs() as logs:
        assert submit(esme, esm_class=0x40, data_coding=4, short_message=b"",
                      tlvs={Tag.message_payload: ports + bytes(34_000)}).command_status == S.ESME_RINVMSGLEN
        assert submit(esme, esm_class=0x40, data_coding=4, short_message=b"",
                      tlvs={Tag.message_payload: ports + bytes(30_000)}).command_status == 0  # (236 SMS)
    (reason,) = [e["reason"] for e in logs if e["event"] == "submit_refused"]
    assert reason.startswith("message_payload of 34,007 octets needs 266 SMS in data_coding 0x04"), reason
    concat = bytes((0x05, 0x00, 0x03, 0x01, 0x02, 0x01))
    part = submit(esme, esm_class=0x40, short_message=concat + b"first part",
                  destination_addr="447700900402").message_id
    wait_attempted(world, part)
    with structlog.testing.capture_logs() as logs:
        assert replace(esme, part, short_message=b"", tlvs={Tag.message_payload: concat + b"a" * 300}) == \
            S.ESME_RINVMSGLEN
    (refused,) = [e for e in logs if e["event"] == "replace_refused"]
    assert refused["reason"].startswith("the new message_payload of 306 octets"), refused  # (tester 112)
    assert replace(esme, part, short_message=b"", tlvs={Tag.message_payload: concat + b"a" * 153}) == 0
