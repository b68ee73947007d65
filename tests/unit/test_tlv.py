"""The TLV table and the TLV area's decoder and encoder (SMPP 3.4 sections 3.2.1.1, 5.3)."""

from __future__ import annotations

import pytest

from smsc.smpp.constants import CommandStatus, Tag
from smsc.smpp.tlv import (
    TLV_SPECS,
    SizedInt,
    TlvDecodeError,
    TlvKind,
    decode_tlvs,
    encode_tlv,
    encode_tlvs,
)


def roundtrip(raw: bytes) -> dict:
    tlvs = decode_tlvs(raw, 0, len(raw))
    assert encode_tlvs(tlvs) == raw
    return tlvs


def test_every_tag_of_the_constants_is_in_the_table():
    assert set(TLV_SPECS) == set(Tag)
    for tag, spec in TLV_SPECS.items():
        assert spec.tag == tag and spec.name == Tag(tag).name


@pytest.mark.parametrize(
    ("raw", "tag", "value"),
    [
        (bytes.fromhex("0427 0001 02"), Tag.message_state, 2),
        (bytes.fromhex("020C 0002 1234"), Tag.sar_msg_ref_num, 0x1234),
        (bytes.fromhex("0017 0004 00015180"), Tag.qos_time_to_live, 86400),
        (bytes.fromhex("0501 0001 11"), Tag.ussd_service_op, 17),
    ],
)
def test_integer_tlvs_decode_to_int_of_their_width(raw, tag, value):
    tlvs = roundtrip(raw)
    assert tlvs == {tag: value}
    assert type(tlvs[tag]) is int
    assert list(tlvs)[0] is Tag(tag)


def test_c_string_tlv_decodes_without_its_nul():
    raw = bytes.fromhex("001E 0005") + b"abcd\0"
    assert roundtrip(raw) == {Tag.receipted_message_id: "abcd"}


def test_octet_string_tlvs_stay_bytes():
    raw = bytes.fromhex("0423 0003 030022") + bytes.fromhex("0424 0000")
    assert roundtrip(raw) == {Tag.network_error_code: b"\x03\x00\x22", Tag.message_payload: b""}


def test_zero_length_flag_is_empty_bytes_and_one_octet_5_0_form_is_kept():
    assert roundtrip(bytes.fromhex("130C 0000")) == {Tag.alert_on_message_delivery: b""}
    assert roundtrip(bytes.fromhex("130C 0001 02")) == {Tag.alert_on_message_delivery: b"\x02"}


def test_unknown_tags_keep_raw_bytes_in_wire_order():
    raw = bytes.fromhex("1400 0003 414243") + bytes.fromhex("0427 0001 02") + bytes.fromhex("4001 0000")
    tlvs = roundtrip(raw)
    assert list(tlvs.items()) == [(0x1400, b"ABC"), (Tag.message_state, 2), (0x4001, b"")]


def test_repeated_callback_num_becomes_a_list():
    one = bytes.fromhex("0381 0004 01010131")
    two = bytes.fromhex("0381 0005 0101013132")
    assert roundtrip(one + two) == {Tag.callback_num: [b"\x01\x01\x01\x31", b"\x01\x01\x01\x31\x32"]}


def test_repeated_known_tag_other_than_callback_num_is_a_stream_error():
    raw = bytes.fromhex("0427 0001 02") * 2
    with pytest.raises(TlvDecodeError) as info:
        decode_tlvs(raw, 0, len(raw))
    assert info.value.status == CommandStatus.ESME_RINVOPTPARSTREAM


def test_source_telematics_id_accepts_two_octets_and_writes_them_back():
    tlvs = roundtrip(bytes.fromhex("0010 0002 0005"))
    value = tlvs[Tag.source_telematics_id]
    assert value == 5 and isinstance(value, SizedInt) and value.size == 2
    assert roundtrip(bytes.fromhex("0010 0001 05")) == {Tag.source_telematics_id: 5}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (bytes.fromhex("04"), CommandStatus.ESME_RINVOPTPARSTREAM),  # stray octet
        (bytes.fromhex("0427 00"), CommandStatus.ESME_RINVOPTPARSTREAM),  # header cut
        (bytes.fromhex("0427 0002 02"), CommandStatus.ESME_RINVOPTPARSTREAM),  # value cut
        (bytes.fromhex("0427 0002 0002"), CommandStatus.ESME_RINVPARLEN),  # I1 sent as 2
        (bytes.fromhex("020C 0001 01"), CommandStatus.ESME_RINVPARLEN),  # I2 sent as 1
        (bytes.fromhex("0423 0002 0300"), CommandStatus.ESME_RINVPARLEN),  # network_error_code != 3
        (bytes.fromhex("001E 0000"), CommandStatus.ESME_RINVPARLEN),  # empty C string TLV
        (bytes.fromhex("0381 0003 010101"), CommandStatus.ESME_RINVPARLEN),  # callback_num < 4
        (bytes.fromhex("130C 0002 0000"), CommandStatus.ESME_RINVPARLEN),  # flag too long
        (bytes.fromhex("001E 0003") + b"abc", CommandStatus.ESME_RINVOPTPARAMVAL),  # no NUL
        (bytes.fromhex("001D 0002 0000"), CommandStatus.ESME_RINVOPTPARAMVAL),  # NUL inside (found by hypothesis)
    ],
)
def test_bad_tlv_areas_raise_the_spec_status(raw, status):
    with pytest.raises(TlvDecodeError) as info:
        decode_tlvs(raw, 0, len(raw))
    assert info.value.status == status


def test_decoding_respects_the_end_offset():
    raw = b"xx" + bytes.fromhex("0427 0001 02") + b"garbage"
    assert decode_tlvs(raw, 2, 7) == {Tag.message_state: 2}


def test_encode_accepts_enums_and_lists():
    from smsc.smpp.constants import MessageState

    assert encode_tlv(Tag.message_state, MessageState.DELIVERED) == bytes.fromhex("0427 0001 02")
    assert encode_tlvs({0x1401: [b"a", b"bc"]}) == bytes.fromhex("1401 0001 61 1401 0002 6263")


@pytest.mark.parametrize(
    ("tag", "value", "error"),
    [
        (Tag.message_state, 256, ValueError),
        (Tag.message_state, -1, ValueError),
        (Tag.sar_msg_ref_num, 0x10000, ValueError),
        (Tag.message_state, "2", TypeError),
        (Tag.receipted_message_id, "x" * 65, ValueError),
        (Tag.receipted_message_id, "a\0b", ValueError),
        (Tag.receipted_message_id, "\u20ac", ValueError),
        (Tag.receipted_message_id, b"abc", TypeError),
        (Tag.network_error_code, b"\x03\x00", ValueError),
        (Tag.network_error_code, "abc", TypeError),
        (Tag.message_payload, b"x" * 0x10000, ValueError),
        (0x1400, "text", TypeError),
        (0x10000, b"", ValueError),
        (Tag.source_telematics_id, SizedInt(1, 4), ValueError),
    ],
)
def test_encoding_a_value_that_does_not_fit_is_a_programming_error(tag, value, error):
    with pytest.raises(error):
        encode_tlv(tag, value)
    with pytest.raises(error):
        encode_tlvs({tag: value})


def test_table_kinds_match_smpp34_facts_section_4_2():
    kinds = {spec.name: (spec.kind, spec.min_len, spec.max_len) for spec in TLV_SPECS.values()}
    assert kinds["receipted_message_id"] == (TlvKind.CSTR, 1, 65)
    assert kinds["additional_status_info_text"] == (TlvKind.CSTR, 1, 256)
    assert kinds["qos_time_to_live"] == (TlvKind.INT, 4, 4)
    assert kinds["dest_telematics_id"] == (TlvKind.INT, 2, 2)
    assert kinds["source_telematics_id"] == (TlvKind.INT, 1, 2)
    assert kinds["callback_num"] == (TlvKind.OCTETS, 4, 19)
    assert kinds["source_subaddress"] == (TlvKind.OCTETS, 2, 23)
    assert kinds["its_session_info"] == (TlvKind.OCTETS, 2, 2)
    assert kinds["message_payload"] == (TlvKind.OCTETS, 0, 0xFFFF)


def test_one_octet_integers_encode_alike_from_int_enum_and_bool():
    from smsc.smpp.constants import MessageState

    expected = bytes.fromhex("0427 0001 02")
    assert encode_tlvs({Tag.message_state: 2}) == expected
    assert encode_tlvs({Tag.message_state: MessageState.DELIVERED}) == expected
    assert encode_tlvs({Tag.set_dpf: True}) == bytes.fromhex("0421 0001 01")
    with pytest.raises(ValueError):
        encode_tlvs({Tag.message_state: MessageState.DELIVERED + 300})
    with pytest.raises(ValueError):
        encode_tlvs({Tag.source_telematics_id: SizedInt(0x1FFFF, 2)})
    assert encode_tlvs({Tag.source_telematics_id: SizedInt(5, 2)}) == bytes.fromhex("0010 0002 0005")
