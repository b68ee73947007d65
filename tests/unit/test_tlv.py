"""The TLV table and the TLV area's decoder and encoder (SMPP 3.4 sections 3.2.1.1, 5.3)."""

from __future__ import annotations

import pytest

from smsc.smpp.constants import CommandId, CommandStatus, Tag
from smsc.smpp.tlv import (
    TLV_SPECS,
    TLVS_BY_COMMAND,
    SizedInt,
    TlvDecodeError,
    TlvKind,
    decode_rows,
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


# -- which TLVs a PDU defines (SMPP 3.4 section 3.3) -----------------------------------------------------

#: The "Carried in" column of smpp34-facts.md section 4.2 (SS submit_sm, SM submit_multi, DS deliver_sm,
#: DA data_sm, DR data_sm_resp, BR bind_*_resp, AN alert_notification), transcribed on its own as a check.
_CARRIED_IN = {
    "dest_addr_subunit": "SS SM DA", "dest_network_type": "DA", "dest_bearer_type": "DA",
    "dest_telematics_id": "DA", "source_addr_subunit": "SS SM DA", "source_network_type": "DA",
    "source_bearer_type": "DA", "source_telematics_id": "DA", "qos_time_to_live": "DA",
    "payload_type": "SS SM DS DA", "additional_status_info_text": "DR", "receipted_message_id": "DS DA",
    "ms_msg_wait_facilities": "SS SM DA", "privacy_indicator": "SS SM DS DA", "source_subaddress": "SS SM DS DA",
    "dest_subaddress": "SS SM DS DA", "user_message_reference": "SS SM DS DA", "user_response_code": "SS DS DA",
    "source_port": "SS SM DS DA", "destination_port": "SS SM DS DA", "sar_msg_ref_num": "SS SM DS DA",
    "language_indicator": "SS SM DS DA", "sar_total_segments": "SS SM DS DA", "sar_segment_seqnum": "SS SM DS DA",
    "sc_interface_version": "BR", "callback_num_pres_ind": "SS SM DA", "callback_num_atag": "SS SM DA",
    "number_of_messages": "SS DA", "callback_num": "SS SM DS DA", "dpf_result": "DR", "set_dpf": "DA",
    "ms_availability_status": "AN", "network_error_code": "DS DA DR", "message_payload": "SS SM DS DA",
    "delivery_failure_reason": "DR", "more_messages_to_send": "SS DA", "message_state": "DS DA",
    "ussd_service_op": "SS", "display_time": "SS SM DA", "sms_signal": "SS SM DA", "ms_validity": "SS SM DA",
    "alert_on_message_delivery": "SS SM DA", "its_reply_type": "SS DA", "its_session_info": "SS DS DA",
    "congestion_state": "",  # SMPP 5.0; smsc reads it nowhere
}
_PDUS_OF = {
    "SS": [CommandId.submit_sm], "SM": [CommandId.submit_multi], "DS": [CommandId.deliver_sm],
    "DA": [CommandId.data_sm], "DR": [CommandId.data_sm_resp], "AN": [CommandId.alert_notification],
    "BR": [CommandId.bind_transmitter_resp, CommandId.bind_receiver_resp, CommandId.bind_transceiver_resp],
}
#: SMPP 5.0 TLVs smsc acts on in PDUs whose 3.4 table lacks them.
_SMSC_EXTRAS = {
    (CommandId.submit_sm, Tag.set_dpf), (CommandId.submit_multi, Tag.set_dpf),
    (CommandId.replace_sm, Tag.message_payload),
}


def test_tlvs_by_command_are_the_smpp34_tables_plus_the_5_0_ones_smsc_acts_on():
    expected: set[tuple[int, Tag]] = set(_SMSC_EXTRAS)
    for name, codes in _CARRIED_IN.items():
        for code in codes.split():
            expected.update((command, Tag[name]) for command in _PDUS_OF[code])
    actual = {(command, tag) for command, tags in TLVS_BY_COMMAND.items() for tag in tags}
    assert actual == expected


@pytest.mark.parametrize(
    ("raw", "defined_in", "kept"),
    [
        (bytes.fromhex("0420 0002 0000"), CommandId.data_sm_resp, {}),  # dpf_result of 2 octets
        (bytes.fromhex("001D 0003") + b"why", CommandId.data_sm_resp, {}),  # a C string without its NUL
        (bytes.fromhex("001D 0004") + b"w\0y\0", CommandId.data_sm_resp, {}),  # ... with a NUL inside
        (bytes.fromhex("0210 0001 34") * 2, CommandId.bind_receiver_resp,
         {Tag.sc_interface_version: [0x34, 0x34]}),  # twice, each well formed: kept as a list
    ],
    ids=["dpf_result-len2", "text-no-nul", "text-nul-inside", "sc_interface_version-twice"],
)  # fmt: skip
def test_a_known_tlv_the_pdu_does_not_define_is_not_checked(raw, defined_in, kept):
    """SMPP 3.4 section 3.3: a TLV "recognized but not expected for the particular SMPP operation ... shall be
    ignored" (tester 87: submit_sm got 0xC2 / 0xC4 for such TLVs)."""
    assert decode_tlvs(raw, 0, len(raw), decode_rows(CommandId.submit_sm)) == kept
    for rows in (decode_rows(defined_in), None):  # (None: no PDU's table, every tag counts as defined)
        with pytest.raises(TlvDecodeError):
            decode_tlvs(raw, 0, len(raw), *([rows] if rows else []))


def test_ignoring_a_tlv_keeps_the_framing_check():
    raw = bytes.fromhex("0420 0005 00")
    with pytest.raises(TlvDecodeError) as info:
        decode_tlvs(raw, 0, len(raw), decode_rows(CommandId.submit_sm))
    assert info.value.status == CommandStatus.ESME_RINVOPTPARSTREAM


_CB = bytes.fromhex("0381 0004 01010131")
_PRES = bytes.fromhex("0302 0001 01")
_ATAG = bytes.fromhex("0303 0002 0041")


def test_callback_num_companions_repeat_with_it():
    raw = _CB + _PRES + _ATAG + _CB + _PRES + _ATAG
    tlvs = decode_tlvs(raw, 0, len(raw), decode_rows(CommandId.data_sm))
    assert tlvs == {Tag.callback_num: [_CB[4:]] * 2, Tag.callback_num_pres_ind: [1, 1],
                    Tag.callback_num_atag: [b"\x00A"] * 2}
    assert encode_tlvs(tlvs) == _CB * 2 + _PRES * 2 + _ATAG * 2


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (_CB * 2 + _PRES, CommandStatus.ESME_RMISSINGOPTPARAM),
        (_CB * 3 + _ATAG * 2, CommandStatus.ESME_RMISSINGOPTPARAM),
        (_CB + _PRES * 2, CommandStatus.ESME_RINVOPTPARSTREAM),
        (_CB * 2 + _ATAG * 3, CommandStatus.ESME_RINVOPTPARSTREAM),
        (_ATAG * 2, CommandStatus.ESME_RINVOPTPARSTREAM),
    ],
    ids=["2cb-1pres", "3cb-2atag", "1cb-2pres", "2cb-3atag", "0cb-2atag"],
)
def test_callback_num_companions_in_another_number_than_callback_num_are_refused(raw, status):
    with pytest.raises(TlvDecodeError) as info:
        decode_tlvs(raw, 0, len(raw), decode_rows(CommandId.submit_sm))
    assert info.value.status == status
    # deliver_sm defines callback_num but not its companions: they are ignored, counts and all
    assert decode_tlvs(raw, 0, len(raw), decode_rows(CommandId.deliver_sm))
