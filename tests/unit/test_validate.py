"""Value checks on submits (SMPP 3.4 chapter 5): each bad field gets its own status."""

from __future__ import annotations

from typing import Any

import pytest

from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus as S
from smsc.smpp.constants import Tag
from smsc.smpp.validate import (
    check_message_fields,
    check_replace,
    check_sar,
    check_sme_address,
    check_submit,
    check_udh,
    refusal_reason,
)


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, S.ESME_ROK),
        ({"source_addr_ton": 5, "dest_addr_ton": 1, "dest_addr_npi": 1}, S.ESME_ROK),
        ({"source_addr_ton": 7}, S.ESME_RINVSRCTON),
        ({"source_addr_npi": 2}, S.ESME_RINVSRCNPI),
        ({"dest_addr_ton": 0xFF}, S.ESME_RINVDSTTON),
        ({"dest_addr_npi": 5}, S.ESME_RINVDSTNPI),
        ({"esm_class": 0x04}, S.ESME_RINVESMCLASS),  # a receipt is SMSC -> ESME only
        ({"esm_class": 0x20}, S.ESME_RINVESMCLASS),
        ({"esm_class": 0x02}, S.ESME_RINVESMCLASS),  # transaction mode is data_sm only
        ({"esm_class": 0x43}, S.ESME_ROK),  # UDHI + store and forward
        ({"esm_class": 0x08}, S.ESME_ROK),
        ({"registered_delivery": 0x20}, S.ESME_RINVREGDLVFLG),
        ({"registered_delivery": 0x11}, S.ESME_ROK),
        ({"priority_flag": 4}, S.ESME_RINVPRTFLG),
        ({"sm_default_msg_id": 1}, S.ESME_RINVDFTMSGID),  # no canned messages are provisioned
        ({"sm_default_msg_id": 255}, S.ESME_RINVDFTMSGID),
    ],
)
def test_submit_sm_field_values(fields: dict[str, Any], status: int) -> None:
    assert check_submit(P.SubmitSm(**fields)) == status


def test_data_sm_may_use_transaction_mode() -> None:
    assert check_submit(P.DataSm(esm_class=0x02)) == S.ESME_ROK


def test_submit_multi_leaves_its_sme_addresses_to_be_refused_one_by_one() -> None:
    """SMPP 3.4 section 4.5.2: a bad destination goes into unsuccess_sme; check_submit judges the PDU."""
    good = P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123")
    bad = P.SmeAddress(dest_addr_ton=9, dest_addr_npi=1, destination_addr="447700900124")
    assert check_submit(P.SubmitMulti(dest_addresses=[good, P.DistributionList(dl_name="x")])) == S.ESME_ROK
    assert check_submit(P.SubmitMulti(dest_addresses=[good, bad])) == S.ESME_ROK
    assert check_submit(P.SubmitMulti(dest_addresses=[good], sm_default_msg_id=3)) == S.ESME_RINVDFTMSGID


@pytest.mark.parametrize(
    ("ton", "npi", "addr", "status"),
    [
        (1, 1, "447700900123", S.ESME_ROK),
        (5, 0, "Hello", S.ESME_ROK),  # (the core refuses what it cannot route)
        (9, 1, "447700900123", S.ESME_RINVDSTTON),
        (1, 2, "447700900123", S.ESME_RINVDSTNPI),
        (1, 1, "1" * 20, S.ESME_ROK),
        (1, 1, "1" * 21, S.ESME_RINVDSTADR),  # C-Octet String of 21 octets at most, NUL included
    ],
)
def test_one_sme_address_of_submit_multi(ton: int, npi: int, addr: str, status: int) -> None:
    assert check_sme_address(ton, npi, addr) == status


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, S.ESME_ROK),
        ({"registered_delivery": 0x1F}, S.ESME_ROK),
        ({"registered_delivery": 0x21}, S.ESME_RINVREGDLVFLG),
        ({"sm_default_msg_id": 200}, S.ESME_RINVDFTMSGID),
    ],
)
def test_replace_sm_fields_obey_the_rules_of_the_same_submit_sm_fields(fields: dict[str, Any], status: int) -> None:
    assert check_replace(P.ReplaceSm(**fields)) == status
    assert check_submit(P.SubmitSm(**fields)) == status
    assert check_message_fields(fields.get("registered_delivery", 0), fields.get("sm_default_msg_id", 0)) == status


_REF, _TOTAL, _SEQ = Tag.sar_msg_ref_num, Tag.sar_total_segments, Tag.sar_segment_seqnum


@pytest.mark.parametrize(
    ("tlvs", "esm_class", "status"),
    [
        ({_REF: 7, _TOTAL: 3, _SEQ: 1}, 0, S.ESME_ROK),
        ({_REF: 7, _TOTAL: 3, _SEQ: 3}, 0, S.ESME_ROK),
        ({_REF: 7, _TOTAL: 1, _SEQ: 1}, 0, S.ESME_ROK),
        ({_REF: 7}, 0, S.ESME_RMISSINGOPTPARAM),  # 1 of the 3 (sections 5.3.2.22-24: all three together)
        ({_REF: 7, _TOTAL: 3}, 0, S.ESME_RMISSINGOPTPARAM),
        ({_TOTAL: 3, _SEQ: 1}, 0, S.ESME_RMISSINGOPTPARAM),
        ({_SEQ: 1}, 0, S.ESME_RMISSINGOPTPARAM),
        ({_REF: 7, _TOTAL: 3, _SEQ: 5}, 0, S.ESME_RINVOPTPARAMVAL),  # seqnum above the total
        ({_REF: 7, _TOTAL: 0, _SEQ: 0}, 0, S.ESME_RINVOPTPARAMVAL),  # both 1..255
        ({_REF: 7, _TOTAL: 3, _SEQ: 0}, 0, S.ESME_RINVOPTPARAMVAL),
        ({_REF: 7, _TOTAL: 3, _SEQ: 1}, 0x40, S.ESME_RINVOPTPARAMVAL),  # with a UDH (section 5.2.12)
        ({_REF: 7}, 0x40, S.ESME_RINVOPTPARAMVAL),
    ],
)
def test_sar_tlvs_come_as_all_three_with_consistent_values(tlvs: dict[int, int], esm_class: int, status: int) -> None:
    assert check_sar(tlvs, esm_class) == status


@pytest.mark.parametrize(
    ("user_data", "status"),
    [
        (bytes.fromhex("050003010201") + b"hi", S.ESME_ROK),
        (bytes.fromhex("050003010201"), S.ESME_ROK),  # a UDH and no text
        (bytes.fromhex("00") + b"hi", S.ESME_ROK),  # an empty UDH
        (bytes.fromhex("20000301"), S.ESME_RINVMSGLEN),  # UDHL 32, 3 octets follow (tester7 f_malformed)
        (bytes.fromhex("0500030102"), S.ESME_RINVMSGLEN),  # one octet short
        (b"", S.ESME_RINVMSGLEN),  # UDHI with no user data at all
    ],
)
def test_a_udh_must_fit_in_the_user_data(user_data: bytes, status: int) -> None:
    assert check_udh(user_data) == status


def test_a_schedule_refusal_names_the_max_schedule_rule() -> None:
    """Tester 87: a well-formed schedule 15 days ahead was refused as "not a time of SMPP 3.4 section 7.1 ... or
    later than the message's validity allows", which named neither what was wrong nor the rule at fault."""
    from smsc.smpp.validate import refusal_reason

    reason = refusal_reason(P.SubmitSm(schedule_delivery_time="000015000000000R"), S.ESME_RINVSCHED)
    assert "simulation.max_schedule" in reason and "validity" not in reason
    replace = refusal_reason(P.ReplaceSm(schedule_delivery_time="000015000000000R"), S.ESME_RINVSCHED)
    assert "simulation.max_schedule" in replace and "validity end" in replace


def test_a_national_number_given_as_international_is_named_so() -> None:
    """Tester 128: 07700900123 as TON 1 was said not to be a number of 7-15 digits (it has 11), naming no cause."""
    national = P.SubmitSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr="07700900123")
    assert refusal_reason(national, S.ESME_RINVDSTADR) == (
        "destination_addr '07700900123' (TON 1, international, NPI 1): a national number (leading 0) given as "
        "international; send it with TON 2 (national), or in international form with its country code and no "
        "leading 0")
    other = P.SubmitSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr="12")
    assert "not a mobile number of 7-15 digits" in refusal_reason(other, S.ESME_RINVDSTADR)

