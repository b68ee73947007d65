"""data_sm's qos_time_to_live TLV is its validity (SMPP 3.4 section 5.3.2.9): the adapter turns it into the
relative validity_period the core reads against its own clock (fake clock here)."""

from __future__ import annotations

import pytest

from tests.unit.test_smsc_support import INF, START, Harness, MessageState, carrier, make_config, rule

from smsc.core.api import Submission, SubmitResult
from smsc.server.protocol import MAX_TIME_TO_LIVE, _submission
from smsc.smpp import pdu as P
from smsc.smpp.constants import Tag

ALWAYS_OFF = "447700900300"


def data_sm(**tlvs: int) -> P.DataSm:
    return P.DataSm(source_addr_ton=1, source_addr_npi=1, source_addr="447700900001", dest_addr_ton=1,
                    dest_addr_npi=1, destination_addr=ALWAYS_OFF,
                    tlvs={Tag.message_payload: b"hello", **{Tag[k]: v for k, v in tlvs.items()}})


@pytest.mark.parametrize(
    ("tlvs", "validity"),
    [
        ({}, ""),  # absent: the SMSC's default validity
        ({"qos_time_to_live": 0}, ""),  # 0: the same
        ({"qos_time_to_live": 120}, "000000000200000R"),
        ({"qos_time_to_live": 90061}, "000001010101000R"),  # 1 d 1 h 1 min 1 s
        ({"qos_time_to_live": 0xFFFFFFFF}, "000099235959000R"),  # cut to what a relative time holds
    ],
)
def test_qos_time_to_live_becomes_the_data_sm_validity_period(tlvs: dict[str, int], validity: str) -> None:
    sub = _submission("esme", data_sm(**tlvs))
    assert isinstance(sub, Submission)
    assert sub.validity_period == validity
    assert sub.short_message == b"hello"


def test_the_core_expires_a_data_sm_at_the_end_of_its_time_to_live_bounded_by_max_validity() -> None:
    h = Harness(make_config(carrier(rules=(rule(ALWAYS_OFF, offline=INF),)), max_validity=3600.0,
                            default_validity=1800.0))
    replies: list[SubmitResult] = []
    for tlvs in ({"qos_time_to_live": 120}, {}, {"qos_time_to_live": 7200}, {"qos_time_to_live": MAX_TIME_TO_LIVE}):
        sub = _submission("esme", data_sm(**tlvs))
        assert isinstance(sub, Submission)
        h.smsc.submit(sub, replies.append)
    assert [r.status for r in replies] == [0, 0, 0, 0]
    expiries = [h.smsc.message(r.message_id).expiry_time - START for r in replies]
    assert expiries == [120.0, 1800.0, 3600.0, 3600.0]
    h.advance(121.0)
    assert h.smsc.message(replies[0].message_id).state == MessageState.EXPIRED
    assert h.smsc.message(replies[1].message_id).state == MessageState.ENROUTE
