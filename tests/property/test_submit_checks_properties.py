"""Property tests of the checks a submit_sm or data_sm meets in the SMPP adapter before the core sees it: whatever
its esm_class, data_coding, user data (a UDH, well formed or not) and SAR TLVs, each gives a Submission or a status,
and the log line's reason for that status; never an exception (tester 103: a message_payload whose UDH element ran
past UDHL raised out of a check, and the connection was closed)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsc.core.api import Submission
from smsc.server.protocol import _submission
from smsc.smpp import pdu as P
from smsc.smpp.constants import Tag
from smsc.smpp.text import EncodeError, parts_needed, sms_count, split_message
from smsc.smpp.validate import check_submit, refusal_reason

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: User data that often starts like a UDH: a length octet, then elements (concatenation 0x00 / 0x08, ports 0x05)
#: whose lengths may or may not agree with it.
_UDH_LIKE = st.builds(
    lambda udhl, iei, iedl, rest: bytes((udhl, iei, iedl)) + rest,
    st.one_of(st.integers(0, 12), st.integers(120, 255)), st.sampled_from([0x00, 0x08, 0x05, 0x24, 0x70]),
    st.one_of(st.integers(0, 8), st.integers(110, 253)), st.binary(max_size=400))
_USER_DATA = st.one_of(st.binary(max_size=400), _UDH_LIKE)
_SAR = st.one_of(st.just({}), st.fixed_dictionaries({
    Tag.sar_msg_ref_num: st.integers(0, 0xFFFF), Tag.sar_total_segments: st.integers(0, 255),
    Tag.sar_segment_seqnum: st.integers(0, 255)}))


@SETTINGS
@given(esm_class=st.sampled_from([0x00, 0x40, 0x43, 0x02, 0x01]), data_coding=st.integers(0, 255),
       user_data=_USER_DATA, as_payload=st.booleans(), sar=_SAR, data_sm=st.booleans(), one_sms=st.booleans())
def test_the_adapters_submit_checks_never_raise(esm_class: int, data_coding: int, user_data: bytes,
                                                as_payload: bool, sar: dict[int, Any], data_sm: bool,
                                                one_sms: bool) -> None:
    tlvs: dict[int, Any] = dict(sar)
    fields: dict[str, Any] = {"source_addr_ton": 1, "source_addr_npi": 1, "source_addr": "447700900001",
                              "dest_addr_ton": 1, "dest_addr_npi": 1, "destination_addr": "447700900123",
                              "esm_class": esm_class, "data_coding": data_coding}
    if data_sm or as_payload:
        tlvs[Tag.message_payload] = user_data
    pdu: Any = (P.DataSm(tlvs=tlvs, **fields) if data_sm
                else P.SubmitSm(short_message=b"" if as_payload else user_data, tlvs=tlvs, **fields))
    status = check_submit(pdu)
    outcome = _submission("esme", pdu, one_sms) if status == 0 else status
    if not isinstance(outcome, Submission):
        assert isinstance(outcome, int) and outcome != 0
        assert isinstance(refusal_reason(pdu, outcome), str)


@SETTINGS
@given(user_data=_USER_DATA, data_coding=st.integers(0, 255), has_udh=st.booleans())
def test_segment_counts_never_raise_and_agree(user_data: bytes, data_coding: int, has_udh: bool) -> None:
    udh = user_data[0] + 1 if has_udh and user_data and user_data[0] + 1 <= len(user_data) else 0
    assert sms_count(user_data, data_coding, udh) >= 1
    needed = parts_needed(user_data, data_coding)
    assert sms_count(user_data, data_coding) == needed
    try:
        assert len(split_message(user_data, data_coding, 7)) == needed
    except EncodeError:
        assert needed > 255
