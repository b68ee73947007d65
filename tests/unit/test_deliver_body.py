"""deliver_sm bodies from plain fields (smsc/smpp/deliver_body.py) against the generic codec."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.core.api import Address, Submission, new_submission
from smsc.smpp import deliver_body
from smsc.smpp import pdu as P
from smsc.smpp.codec import decode, encode
from smsc.smpp.constants import CommandId, Tag
from smsc.smpp.deliver_body import deliver_sm_body
from tests.unit.test_session import bound, sent

_octet = st.integers(0, 255)
_cstr = st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=20)


@settings(max_examples=200, deadline=None)
@given(
    service_type=st.text(st.characters(min_codepoint=1, max_codepoint=255), max_size=5),
    s_ton=_octet, s_npi=_octet, source=_cstr, d_ton=_octet, d_npi=_octet, destination=_cstr,
    esm_class=_octet, protocol_id=_octet, priority=_octet, data_coding=_octet,
    short_message=st.binary(max_size=254),
)
def test_body_equals_the_generic_encoder(
    service_type: str, s_ton: int, s_npi: int, source: str, d_ton: int, d_npi: int, destination: str,
    esm_class: int, protocol_id: int, priority: int, data_coding: int, short_message: bytes,
) -> None:
    for _ in range(2):  # first through the cache miss, then through the cached prefix
        body = deliver_sm_body(service_type, s_ton, s_npi, source, d_ton, d_npi, destination, esm_class,
                               protocol_id, priority, data_coding, short_message)
        wire = encode(P.DeliverSm(
            sequence_number=1, service_type=service_type, source_addr_ton=s_ton, source_addr_npi=s_npi,
            source_addr=source, dest_addr_ton=d_ton, dest_addr_npi=d_npi, destination_addr=destination,
            esm_class=esm_class, protocol_id=protocol_id, priority_flag=priority, data_coding=data_coding,
            short_message=short_message,
        ))
        assert body == wire[16:]


@pytest.mark.parametrize(("field", "value"), [("source", "x" * 21), ("destination", "a\0b"), ("ton", 256)])
def test_fields_that_do_not_fit_raise_value_error(field: str, value: object) -> None:
    args: list[object] = ["", 1, 1, "447700900123", 5, 0, "BENCH", 4, 0, 0, 0, b"x"]
    args[{"source": 3, "destination": 6, "ton": 1}[field]] = value
    with pytest.raises(ValueError):
        deliver_sm_body(*args)  # type: ignore[arg-type]


def test_short_message_above_254_octets_is_refused() -> None:
    with pytest.raises(ValueError, match="254"):
        deliver_sm_body("", 1, 1, "1", 1, 1, "2", 0, 0, 0, 0, b"x" * 255)


def test_prefix_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deliver_body, "PREFIX_CACHE_MAX", 10)
    monkeypatch.setattr(deliver_body, "_prefixes", {})
    for i in range(35):
        deliver_sm_body("", 1, 1, str(i), 1, 1, "2", 0, 0, 0, 0, b"")
    assert 0 < len(deliver_body._prefixes) <= 10


def test_send_request_body_is_a_request_matched_by_its_response() -> None:
    s = bound(window=2)
    body = deliver_sm_body("", 1, 1, "447700900123", 5, 0, "BENCH", 4, 0, 0, 0, b"id:1 stat:DELIVRD")
    seq = s.send_request_body(CommandId.deliver_sm, body, {Tag.receipted_message_id: "1"}, 0.0, "d1")
    assert s.window_free == 1
    (pdu,) = sent(s)
    assert isinstance(pdu, P.DeliverSm) and pdu.sequence_number == seq
    assert (pdu.destination_addr, pdu.short_message, pdu.tlvs) == ("BENCH", b"id:1 stat:DELIVRD", {0x1E: "1"})
    (event,) = s.receive_data(encode(P.DeliverSmResp(sequence_number=seq)), 1.0)
    assert event.context == "d1"  # type: ignore[union-attr]
    assert s.window_free == 2


def test_send_request_body_drops_tlvs_for_a_v33_esme() -> None:
    s = bound(window=2)
    s.interface_version = 0x33
    body = deliver_sm_body("", 1, 1, "1", 1, 1, "2", 4, 0, 0, 0, b"r")
    s.send_request_body(CommandId.deliver_sm, body, {Tag.receipted_message_id: "1"}, 0.0)
    (pdu,) = sent(s)
    assert pdu.tlvs == {} and decode(encode(pdu)).short_message == b"r"  # type: ignore[attr-defined]


def test_new_submission_sets_every_field_like_the_keyword_constructor() -> None:
    src, dst = Address(ton=5, addr="ACME"), Address(ton=1, npi=1, addr="447700900123")
    values = {"system_id": "perf", "source": src, "destination": dst, "service_type": "CMT", "esm_class": 0x40,
                  "protocol_id": 1, "priority_flag": 2, "schedule_delivery_time": "000000001000000R",
                  "validity_period": "000001000000000R", "registered_delivery": 1, "replace_if_present_flag": 1,
                  "data_coding": 8, "short_message": b"\x00h", "tlvs": {0x204: 7}}
    assert [f.name for f in dataclasses.fields(Submission)] == list(values)  # a new field must be added
    assert new_submission(*values.values()) == Submission(**values)  # type: ignore[arg-type]
