"""GSM 03.38, data_coding, segmentation, UDH and reassembly (smsc.smpp.text)."""

from __future__ import annotations

import random

import pytest
import smpplib.gsm

from smsc.smpp.text import (
    GSM_BASIC_TABLE,
    GSM_EXTENSION_TABLE,
    ConcatInfo,
    EncodeError,
    ReassembledPart,
    Reassembler,
    Udh,
    alphabet,
    build_udh,
    choose_coding,
    concat_info,
    decode_parts,
    decode_text,
    encode_text,
    fits_one_sms,
    gsm_decode,
    gsm_encode,
    gsm_pack,
    gsm_septets,
    gsm_unpack,
    is_gsm,
    parse_udh,
    parts_needed,
    segment_count,
    split_message,
    strip_udh,
)

# -- GSM 03.38 tables (smpp34-facts.md 8.1, 8.2) --------------------------------------------------


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("@", 0x00), ("£", 0x01), ("$", 0x02), ("¥", 0x03), ("è", 0x04), ("Ç", 0x09), ("\n", 0x0A),
        ("Ø", 0x0B), ("\r", 0x0D), ("Å", 0x0E), ("å", 0x0F), ("Δ", 0x10), ("_", 0x11), ("Φ", 0x12),
        ("Ξ", 0x1A), ("Æ", 0x1C), ("ß", 0x1E), ("É", 0x1F), (" ", 0x20), ("¤", 0x24), ("0", 0x30),
        ("?", 0x3F), ("¡", 0x40), ("A", 0x41), ("Z", 0x5A), ("Ä", 0x5B), ("Ö", 0x5C), ("Ñ", 0x5D),
        ("Ü", 0x5E), ("§", 0x5F), ("¿", 0x60), ("a", 0x61), ("z", 0x7A), ("ä", 0x7B), ("ö", 0x7C),
        ("ñ", 0x7D), ("ü", 0x7E), ("à", 0x7F),
    ],
)
def test_basic_table_characters_encode_to_their_code_and_back(char: str, code: int) -> None:
    assert gsm_encode(char) == bytes([code])
    assert gsm_decode(bytes([code])) == char


@pytest.mark.parametrize(
    ("char", "code"),
    [("\x0c", 0x0A), ("^", 0x14), ("{", 0x28), ("}", 0x29), ("\\", 0x2F), ("[", 0x3C), ("~", 0x3D),
     ("]", 0x3E), ("|", 0x40), ("€", 0x65)],
)
def test_extension_characters_are_escape_pairs_costing_two_septets(char: str, code: int) -> None:
    assert gsm_encode(char) == bytes([0x1B, code])
    assert gsm_decode(bytes([0x1B, code])) == char
    assert gsm_septets(char) == 2


def test_tables_have_128_distinct_basic_characters_and_ten_extensions() -> None:
    assert len(GSM_BASIC_TABLE) == 128
    assert len(set(GSM_BASIC_TABLE) - {" "}) == 126  # 0x1B (ESC) is shown as a space
    assert len(GSM_EXTENSION_TABLE) == 10


def test_small_c_cedilla_and_backtick_have_no_gsm_form() -> None:
    assert not is_gsm("ç")
    assert not is_gsm("`")
    with pytest.raises(EncodeError, match=r"'`'.*index 3"):
        gsm_encode("abc`d")


def test_encode_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        gsm_encode("ж")


def test_escape_with_unknown_code_decodes_as_the_basic_character() -> None:
    assert gsm_decode(b"\x1b\x41") == "A"


def test_double_escape_and_trailing_escape_decode_as_spaces() -> None:
    assert gsm_decode(b"\x1b\x1bX") == " X"
    assert gsm_decode(b"X\x1b") == "X "


def test_octets_above_0x7f_decode_by_their_low_seven_bits() -> None:
    assert gsm_decode(b"\xc1\x9b\x65") == "A€"


def test_septets_count_extension_characters_twice() -> None:
    assert gsm_septets("") == 0
    assert gsm_septets("hello [world]") == 15
    with pytest.raises(EncodeError):
        gsm_septets("привет")


# -- packing (smpp34-facts.md 8.3) -----------------------------------------------------------------


def test_hellohello_packs_to_the_reference_vector() -> None:
    packed = gsm_pack(gsm_encode("hellohello"))
    assert packed == bytes.fromhex("E8329BFD4697D9EC37")
    assert gsm_unpack(packed, 10) == b"hellohello"


def test_160_septets_pack_into_140_octets() -> None:
    septets = bytes(range(128)) + bytes(32)
    packed = gsm_pack(septets)
    assert len(packed) == 140
    assert gsm_unpack(packed, 160) == septets


def test_one_fill_bit_after_a_six_octet_udh_shifts_the_text() -> None:
    packed = gsm_pack(gsm_encode("hellohello"), fill_bits=1)
    assert packed[0] == (0x68 << 1) & 0xFF
    assert len(packed) == 9  # 1 + 70 bits -> 71 bits -> 9 octets
    assert gsm_unpack(packed, 10, fill_bits=1) == b"hellohello"


def test_concatenated_part_packs_udh_and_153_septets_into_140_octets() -> None:
    udh = bytes.fromhex("050003010201")
    body = gsm_pack(gsm_encode("x" * 153), fill_bits=1)
    assert len(udh) + len(body) == 140


def test_pack_and_unpack_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        gsm_pack(b"\x80")
    with pytest.raises(ValueError):
        gsm_pack(b"a", fill_bits=7)
    with pytest.raises(ValueError):
        gsm_unpack(b"\x00" * 7, 9)
    assert gsm_pack(b"") == b""
    assert gsm_unpack(b"", 0) == b""


# -- data_coding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_coding", "expected"),
    [
        (0x00, "gsm7"), (0x01, "ascii"), (0x02, "binary"), (0x03, "latin-1"), (0x04, "binary"),
        (0x06, "iso8859_5"), (0x07, "iso8859_8"), (0x08, "ucs2"), (0x0A, "iso2022_jp"),
        (0x11, "gsm7"), (0x15, "binary"), (0x18, "ucs2"), (0x1C, "binary"), (0x24, "binary"),
        (0x90, "binary"), (0xC0, "gsm7"), (0xD8, "gsm7"), (0xE8, "ucs2"), (0xF0, "gsm7"),
        (0xF3, "gsm7"), (0xF4, "binary"), (0xF6, "binary"), (0x100, "binary"),
    ],
)
def test_alphabet_follows_smpp_values_and_gsm_coding_groups(data_coding: int, expected: str) -> None:
    assert alphabet(data_coding) == expected


def test_decode_text_per_coding() -> None:
    assert decode_text(b"Hi\x00", 0) == "Hi@"
    assert decode_text(b"Hi", 1) == "Hi"
    assert decode_text("café".encode("latin-1"), 3) == "café"
    assert decode_text("привет".encode("utf-16-be"), 8) == "привет"
    assert decode_text("😀".encode("utf-16-be"), 8) == "😀"
    assert decode_text("Привет".encode("iso8859_5"), 6) == "Привет"
    assert decode_text(b"\x01\xab", 4) == "01ab"
    assert decode_text(b"\x01\xab", 0xF6) == "01ab"
    assert decode_text(b"flash", 0xF0) == "flash"


def test_decode_text_never_raises_on_broken_data() -> None:
    assert decode_text(b"\x00A\x00", 8) == "A\ufffd"  # odd length
    assert decode_text(b"\xd8\x3d\x00A", 8) == "\ufffdA"  # lone high surrogate
    assert decode_text(b"\xff", 1) == "\ufffd"
    assert decode_text(b"\x1b", 0) == " "


def test_encode_text_is_the_inverse_of_decode_text() -> None:
    for text, coding in [("Hello {you}", 0), ("Hi", 1), ("café", 3), ("привет 😀", 8), ("0aff", 4)]:
        assert decode_text(encode_text(text, coding), coding) == text


def test_encode_text_names_the_character_the_coding_cannot_carry() -> None:
    with pytest.raises(EncodeError, match="U\\+00E9"):
        encode_text("café", 1)
    with pytest.raises(EncodeError, match="hex"):
        encode_text("not hex", 4)
    with pytest.raises(EncodeError):
        encode_text("\ud800", 8)  # lone surrogate in a str


def test_choose_coding_prefers_gsm() -> None:
    assert choose_coding("Price: 5€ [ok]") == 0
    assert choose_coding("") == 0
    assert choose_coding("naïve") == 8


# -- segmentation (smpp34-facts.md 8.4, 8.5) --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "coding", "count"),
    [
        ("", 0, 1), ("a" * 160, 0, 1), ("a" * 161, 0, 2), ("a" * 306, 0, 2), ("a" * 307, 0, 3),
        ("€" * 80, 0, 1), ("€" * 81, 0, 2), ("€" * 153, 0, 3),  # 76 pairs per 153-septet part
        ("ж" * 70, 8, 1), ("ж" * 71, 8, 2), ("ж" * 134, 8, 2), ("ж" * 135, 8, 3),
        ("😀" * 35, 8, 1), ("😀" * 36, 8, 2), ("😀" * 67, 8, 3),  # 33 pairs per 67-unit part
        # Latin-1 and IA5 count as the GSM they become on the air (tester 56: the submit check did, the MO
        # split did not)
        ("é" * 160, 3, 1), ("é" * 161, 3, 2), ("é" * 306, 3, 2), ("é" * 307, 3, 3), ("{" * 80, 3, 1),
        ("{" * 81, 3, 2), ("[" + "i" * 159, 1, 2), ("[" + "i" * 158, 1, 1), ("ж" * 140, 6, 1), ("ж" * 141, 6, 2),
    ],
)
def test_segment_count(text: str, coding: int, count: int) -> None:
    assert segment_count(text, coding) == count
    assert len(split_message(encode_text(text, coding), coding, 0)) == count


@pytest.mark.parametrize(
    ("short_message", "data_coding", "udh", "fits"),
    [
        (b"a" * 160, 0, 0, True),
        (b"a" * 161, 0, 0, False),
        (gsm_encode("\u20ac" * 80), 0, 0, True),  # an extension character is two septets
        (gsm_encode("\u20ac" * 80 + "a"), 0, 0, False),
        (bytes.fromhex("050003010201") + b"a" * 153, 0, 6, True),  # 6 octets of UDH: 7 septets with fill
        (bytes.fromhex("050003010201") + b"a" * 154, 0, 6, False),
        (bytes.fromhex("06080400010201") + b"a" * 152, 0, 7, True),  # 7 octets: 8 septets
        (bytes.fromhex("06080400010201") + b"a" * 153, 0, 7, False),
        (b"a" * 160, 1, 0, True),  # IA5: septets too
        (b"a" * 161, 1, 0, False),
        (b"{" * 80, 1, 0, True),  # ... with GSM's extension characters two each, as Latin-1 (tester 53)
        (b"{" * 81, 1, 0, False),
        (b"\0a" * 70, 8, 0, True),  # UCS-2: 140 octets
        (b"\0a" * 71, 8, 0, False),
        (bytes.fromhex("050003010201") + b"\0a" * 67, 8, 6, True),
        (bytes.fromhex("050003010201") + b"\0a" * 68, 8, 6, False),
        (b"\xff" * 140, 4, 0, True),  # 8-bit data: 140 octets
        (b"\xff" * 141, 4, 0, False),
        (b"a" * 160, 3, 0, True),  # Latin-1 with GSM forms only: sent as GSM 7-bit
        (b"[" * 80, 3, 0, True),  # ... where "[" is an extension character, two septets
        (b"[" * 81, 3, 0, False),
        (b"\xe2" * 160, 3, 0, True),  # "\u00e2" has no GSM form: transliterated, one septet (tester 51)
        (b"\xe2" * 161, 3, 0, False),
    ],
)
def test_fits_one_sms(short_message: bytes, data_coding: int, udh: int, fits: bool) -> None:
    """3GPP 23.040 section 9.2.3.16: 140 octets of user data, 160 septets in the GSM 7-bit alphabet."""
    assert fits_one_sms(short_message, data_coding, udh) is fits


def test_message_that_fits_is_one_part_without_udh() -> None:
    payload = gsm_encode("a" * 160)
    assert split_message(payload, 0, 9) == [payload]


def test_gsm_parts_carry_153_septets_after_an_8_bit_reference_udh() -> None:
    parts = split_message(gsm_encode("a" * 400), 0, 0x1A7)
    assert [len(p) for p in parts] == [159, 159, 6 + 94]
    assert [p[:6] for p in parts] == [bytes([5, 0, 3, 0xA7, 3, seq]) for seq in (1, 2, 3)]


def test_gsm_parts_carry_152_septets_after_a_16_bit_reference_udh() -> None:
    parts = split_message(gsm_encode("a" * 400), 0, 0x1234, reference_bits=16)
    assert [len(p) - 7 for p in parts] == [152, 152, 96]
    assert parts[1][:7] == bytes([6, 8, 4, 0x12, 0x34, 3, 2])


def test_ucs2_parts_carry_67_or_66_characters() -> None:
    payload = encode_text("ж" * 200, 8)
    assert [len(p) - 6 for p in split_message(payload, 8, 1)] == [134, 134, 132]
    assert [len(p) - 7 for p in split_message(payload, 8, 1, reference_bits=16)] == [132, 132, 132, 4]


def test_binary_parts_carry_134_or_133_octets() -> None:
    payload = bytes(300)
    assert [len(p) - 6 for p in split_message(payload, 4, 1)] == [134, 134, 32]
    assert [len(p) - 7 for p in split_message(payload, 4, 1, reference_bits=16)] == [133, 133, 34]


def test_escape_pair_is_not_split_across_parts() -> None:
    payload = gsm_encode("a" * 152 + "€" + "b" * 10)
    parts = split_message(payload, 0, 1)
    assert len(parts[0]) - 6 == 152
    assert parts[1][6:8] == b"\x1b\x65"
    assert b"".join(p[6:] for p in parts) == payload


def test_surrogate_pair_is_not_split_across_parts() -> None:
    payload = encode_text("ж" * 66 + "😀" + "ж" * 10, 8)
    parts = split_message(payload, 8, 1)
    assert len(parts[0]) - 6 == 132
    assert decode_text(parts[1][6:], 8).startswith("😀")


def test_a_two_octet_euc_kr_character_is_not_split_across_parts() -> None:
    """Tester 100: a long EUC-KR MO was cut between a character's lead and trail octets, and every character of
    the next part read as another."""
    text = "a" + "\ud55c" * 80
    payload = encode_text(text, 0x0E)
    parts = split_message(payload, 0x0E, 1)
    assert [len(p) - 6 for p in parts] == [133, 28]
    assert [decode_text(p[6:], 0x0E) for p in parts] == ["a" + "\ud55c" * 66, "\ud55c" * 14]
    assert parts_needed(payload, 0x0E) == segment_count(text, 0x0E) == 2


def test_each_iso_2022_jp_part_switches_into_and_out_of_jis_itself() -> None:
    """Tester 100: part 2 of a long ISO-2022-JP MO began in the middle of JIS X 0208 text without its escape
    sequence, and read alone as ASCII letters."""
    text = "\u3053\u3093\u306b\u3061\u306f" * 20
    payload = encode_text(text, 0x0A)
    parts = split_message(payload, 0x0A, 1)
    assert len(parts) == 2 and all(len(p) - 6 <= 134 for p in parts)
    assert all(p[6:9] == b"\x1b$B" and p.endswith(b"\x1b(B") for p in parts)
    assert "".join(decode_text(p[6:], 0x0A) for p in parts) == text
    assert parts_needed(payload, 0x0A) == segment_count(text, 0x0A) == 2
    # Octets that are not ISO-2022-JP are cut as octets.
    assert [len(p) - 6 for p in split_message(b"\xff" * 200, 0x0A, 1)] == [134, 66]


def test_more_than_255_parts_is_an_encode_error() -> None:
    assert len(split_message(bytes(255 * 134), 4, 1)) == 255
    with pytest.raises(EncodeError, match="256 parts"):
        split_message(bytes(255 * 134 + 1), 4, 1)


def test_reference_bits_other_than_8_or_16_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        split_message(b"x", 0, 1, reference_bits=12)


# -- UDH ---------------------------------------------------------------------------------------------


def test_parse_udh_reads_8_bit_concatenation() -> None:
    udh, rest = parse_udh(bytes.fromhex("0500034C0302") + b"hello")
    assert udh.elements == [(0x00, bytes([0x4C, 3, 2]))]
    assert udh.concat == (0x4C, 3, 2)
    assert udh.ports is None
    assert rest == b"hello"


def test_strip_udh_cuts_by_udhl_whatever_the_elements_hold() -> None:
    assert strip_udh(bytes.fromhex("0500034C0302") + b"hello") == b"hello"
    assert strip_udh(bytes.fromhex("03000901") + b"zero") == b"zero"  # an IE past UDHL: parse_udh refuses it
    assert strip_udh(b"\x00abc") == b"abc"
    assert strip_udh(b"\x02ab") == b""
    for bad in (b"", b"\x03ab"):
        with pytest.raises(ValueError):
            strip_udh(bad)


def test_parse_udh_reads_16_bit_concatenation() -> None:
    udh, rest = parse_udh(bytes.fromhex("06080412340201") + b"x")
    assert udh.concat == (0x1234, 2, 1)
    assert rest == b"x"


def test_parse_udh_reads_ports_and_concatenation_together() -> None:
    udh, rest = parse_udh(bytes.fromhex("0B05040B8423F00003AA0201") + b"wap")
    assert udh.ports == (0x0B84, 0x23F0)
    assert udh.concat == (0xAA, 2, 1)
    assert rest == b"wap"


def test_parse_udh_reads_8_bit_ports() -> None:
    assert parse_udh(bytes.fromhex("0404021020"))[0].ports == (0x10, 0x20)


@pytest.mark.parametrize(
    "data", [b"", bytes.fromhex("05000301"), bytes.fromhex("0300050102"), bytes.fromhex("0100")]
)
def test_parse_udh_rejects_malformed_headers(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_udh(data)


def test_build_udh_is_the_inverse_of_parse_udh() -> None:
    elements = [(0x05, bytes.fromhex("0B8423F0")), (0x00, bytes([7, 2, 1]))]
    header = build_udh(elements)
    assert header == bytes.fromhex("0B05040B8423F0000307" + "0201")
    assert parse_udh(header + b"x") == (Udh(elements), b"x")


def test_build_udh_rejects_oversized_elements() -> None:
    with pytest.raises(ValueError):
        build_udh([(0x70, bytes(256))])


# -- concatenation info and reassembly -------------------------------------------------------------


def test_concat_info_from_udh() -> None:
    info = concat_info(0x40, bytes.fromhex("050003070302") + b"abc", {})
    assert info == ConcatInfo(reference=7, total=3, seq=2, user_data=b"abc")


def test_concat_info_from_sar_tlvs() -> None:
    tlvs = {0x020C: 0x1234, 0x020E: 2, 0x020F: 1}
    assert concat_info(0, b"abc", tlvs) == ConcatInfo(0x1234, 2, 1, b"abc")
    raw = {0x020C: b"\x12\x34", 0x020E: b"\x02", 0x020F: b"\x02"}
    assert concat_info(0, b"abc", raw) == ConcatInfo(0x1234, 2, 2, b"abc")


def test_concat_info_reads_message_payload_when_short_message_is_empty() -> None:
    tlvs = {0x0424: bytes.fromhex("050003070201") + b"payload"}
    assert concat_info(0x40, b"", tlvs) == ConcatInfo(7, 2, 1, b"payload")


def test_concat_info_is_none_for_a_whole_message() -> None:
    assert concat_info(0, b"hello", {}) is None
    assert concat_info(0x40, bytes.fromhex("0404021020") + b"x", {}) is None  # ports only


@pytest.mark.parametrize(
    ("esm_class", "data", "tlvs"),
    [
        (0x40, bytes.fromhex("0500030703"), {}),  # UDH cut short
        (0x40, bytes.fromhex("050003070304"), {}),  # seq 4 of 3
        (0x40, bytes.fromhex("050003070000"), {}),  # total 0
        (0x40, bytes.fromhex("050003070201"), {0x020C: 1, 0x020E: 2, 0x020F: 1}),  # UDH + SAR
        (0x00, b"x", {0x020C: 1, 0x020E: 2}),  # incomplete SAR
        (0x00, b"x", {0x020C: 1, 0x020E: 2, 0x020F: 0}),  # seq 0
    ],
)
def test_concat_info_rejects_inconsistent_concatenation(esm_class: int, data: bytes, tlvs: dict[int, object]) -> None:
    with pytest.raises(ValueError):
        concat_info(esm_class, data, tlvs)


def test_reassembler_returns_the_message_when_the_last_missing_part_arrives() -> None:
    r = Reassembler()
    assert r.add(("esme", "1", "2"), ConcatInfo(5, 3, 3, b"C"), now=0.0) is None
    assert r.add(("esme", "1", "2"), ConcatInfo(5, 3, 1, b"A"), now=1.0) is None
    assert r.add(("esme", "1", "2"), ConcatInfo(5, 3, 2, b"B"), now=2.0) == b"ABC"
    assert len(r) == 0


def test_reassembler_ignores_duplicates_and_keeps_conversations_apart() -> None:
    r = Reassembler()
    assert r.add(("a",), ConcatInfo(1, 2, 1, b"first"), 0) is None
    assert r.add(("a",), ConcatInfo(1, 2, 1, b"dup"), 0) is None
    assert r.add(("b",), ConcatInfo(1, 2, 2, b"other"), 0) is None
    assert r.add(("a",), ConcatInfo(1, 2, 2, b"-second"), 0) == b"first-second"
    assert len(r) == 1


def test_reassembler_passes_single_part_messages_through() -> None:
    assert Reassembler().add(("a",), ConcatInfo(1, 1, 1, b"all"), 0) == b"all"


def test_reassembler_drops_parts_older_than_the_timeout() -> None:
    r = Reassembler(timeout=60.0)
    r.add(("a",), ConcatInfo(1, 2, 1, b"old"), now=0.0)
    assert r.add(("a",), ConcatInfo(1, 2, 2, b"new"), now=61.0) is None
    assert len(r) == 1 and r.dropped == 1


def test_reassembler_drops_the_oldest_when_full() -> None:
    r = Reassembler(max_pending=2)
    for ref in range(3):
        r.add(("a",), ConcatInfo(ref, 2, 1, b"x"), now=float(ref))
    assert len(r) == 2 and r.dropped == 1
    assert r.add(("a",), ConcatInfo(0, 2, 2, b"y"), now=3.0) is None  # ref 0 was dropped
    assert r.add(("a",), ConcatInfo(2, 2, 2, b"y"), now=3.0) == b"xy"


# -- interop with python-smpplib ---------------------------------------------------------------------


def _reassemble_smpplib(text: str) -> tuple[str, int]:
    parts, coding, esm_class = smpplib.gsm.make_parts(text)
    r = Reassembler()
    whole: bytes | None = None
    for part in parts:
        info = concat_info(esm_class, part, {})
        assert info is not None
        whole = r.add(("smpplib",), info, now=0.0) or whole
    assert whole is not None
    return decode_text(whole, coding), len(parts)


def test_smpplib_long_gsm_message_is_reassembled() -> None:
    random.seed(1)  # smpplib draws its concatenation reference from the global random module
    text = "The quick brown fox [jumps] over 5€ " * 12
    decoded, count = _reassemble_smpplib(text)
    assert decoded == text
    assert count == segment_count(text, 0)


def test_smpplib_long_ucs2_message_is_reassembled() -> None:
    random.seed(2)
    text = "Привет, мир! 你好 " * 20
    decoded, count = _reassemble_smpplib(text)
    assert decoded == text
    assert count == segment_count(text, 8)


def test_smpplib_short_message_has_no_concatenation() -> None:
    parts, coding, esm_class = smpplib.gsm.make_parts("hello")
    assert concat_info(esm_class, parts[0], {}) is None
    assert decode_text(parts[0], coding) == "hello"


def test_reassembler_starts_the_next_message_once_one_is_whole() -> None:
    r = Reassembler()
    assert r.add(("a",), ConcatInfo(44, 2, 1, b"X1"), 0) is None
    assert r.add(("a",), ConcatInfo(44, 2, 2, b"X2"), 0) == b"X1X2"
    assert r.add(("a",), ConcatInfo(44, 2, 2, b"Y2"), 0) is None  # the same reference again: a new message
    assert r.add(("a",), ConcatInfo(44, 2, 1, b"Y1"), 0) == b"Y1Y2"


def test_reassembler_add_part_gives_back_each_part_with_its_coding_and_tag() -> None:
    r = Reassembler()
    assert r.add_part(("a",), ConcatInfo(1, 2, 2, b"\x00B"), 0, data_coding=8, tag="m2") is None
    assert r.add_part(("a",), ConcatInfo(1, 2, 1, b"A"), 0, data_coding=0, tag="m1") == [
        ReassembledPart(b"A", 0, "m1"), ReassembledPart(b"\x00B", 8, "m2")]


def test_decode_parts_shows_a_character_split_across_parts_as_a_handset_does() -> None:
    # Tester 56: a surrogate pair or an escape pair cut across two parts (smpplib's splitter does it) decoded
    # whole, so the control API and the echo handsets hid the ESME's bug; a handset decodes each part alone.
    octets = "\U0001F600".encode("utf-16-be")
    parts = [ReassembledPart(b"\x00a" + octets[:2], 8, None), ReassembledPart(octets[2:] + b"\x00b", 8, None)]
    assert decode_parts(parts) == "a\ufffd\ufffdb"
    euro = gsm_encode("a\u20acb")
    shown = decode_parts([ReassembledPart(euro[:2], 0, None), ReassembledPart(euro[2:], 0, None)])
    assert "\u20ac" not in shown and shown.endswith("eb")
    # Whole characters in each part read as the text.
    assert decode_parts([ReassembledPart(gsm_encode("a\u20ac"), 0, None), ReassembledPart(gsm_encode("b"), 0, None)]
                        ) == "a\u20acb"


def test_decode_parts_of_mixed_codings_decodes_each_with_its_own() -> None:
    parts = [ReassembledPart(gsm_encode("gsm "), 0, None), ReassembledPart("\u4f60".encode("utf-16-be"), 8, None)]
    assert decode_parts(parts) == "gsm \u4f60"
    assert decode_parts([]) == ""
