"""Property tests of smsc.smpp.text: round trips of GSM coding, packing, and split + reassemble."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.smpp.text import (
    GSM_BASIC_TABLE,
    GSM_EXTENSION_TABLE,
    Reassembler,
    concat_info,
    decode_text,
    fits_one_sms,
    encode_text,
    gsm_decode,
    gsm_encode,
    gsm_pack,
    gsm_septets,
    gsm_unpack,
    segment_count,
    split_message,
)

SETTINGS = settings(max_examples=200, deadline=None)

_GSM_ALPHABET = sorted(set(GSM_BASIC_TABLE.replace(" ", "") + " ") | set(GSM_EXTENSION_TABLE.values()))
gsm_text = st.text(alphabet=st.sampled_from(_GSM_ALPHABET), max_size=700)
# Any Unicode scalar value (no lone surrogates: a str holding one cannot be sent as UCS-2).
ucs2_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=400)


@SETTINGS
@given(gsm_text)
def test_gsm_encode_decode_round_trip(text: str) -> None:
    encoded = gsm_encode(text)
    assert len(encoded) == gsm_septets(text)
    assert gsm_decode(encoded) == text


@SETTINGS
@given(st.binary(max_size=300))
def test_gsm_decode_never_raises_and_yields_one_char_per_septet_or_pair(data: bytes) -> None:
    text = gsm_decode(data)
    assert len(text) <= len(data)


@SETTINGS
@given(st.lists(st.integers(0, 0x7F), max_size=400).map(bytes), st.integers(0, 6))
def test_pack_unpack_round_trip(septets: bytes, fill_bits: int) -> None:
    packed = gsm_pack(septets, fill_bits)
    if septets:
        assert len(packed) == (fill_bits + 7 * len(septets) + 7) // 8
    assert gsm_unpack(packed, len(septets), fill_bits) == septets


@SETTINGS
@given(st.binary(max_size=200), st.integers(0, 255))
def test_decode_text_never_raises(data: bytes, data_coding: int) -> None:
    assert isinstance(decode_text(data, data_coding), str)


def _split_and_reassemble(payload: bytes, coding: int, reference: int, reference_bits: int) -> bytes:
    parts = split_message(payload, coding, reference, reference_bits=reference_bits)
    if len(parts) == 1:
        assert parts[0] == payload
        return payload
    r = Reassembler()
    whole = None
    # Deliver the parts in reverse to show order does not matter.
    for part in reversed(parts):
        info = concat_info(0x40, part, {})
        assert info is not None and info.reference == reference % (1 << reference_bits)
        assert len(part) <= (159 if coding in (0, 1, 3) else 140)
        # Each part fits one SMS as the submit_sm length check counts it (tester 56: IA5 and Latin-1 disagreed).
        assert fits_one_sms(part, coding, 1 + part[0])
        whole = r.add(("esme", "src", "dst"), info, now=0.0) or whole
    assert whole is not None
    return whole


@SETTINGS
@given(gsm_text, st.integers(0, 0xFFFF), st.sampled_from([8, 16]))
def test_gsm_split_and_reassemble_gives_the_original(text: str, reference: int, bits: int) -> None:
    payload = encode_text(text, 0)
    whole = _split_and_reassemble(payload, 0, reference, bits)
    assert whole == payload
    assert decode_text(whole, 0) == text
    if bits == 8:
        assert len(split_message(payload, 0, reference)) == segment_count(text, 0)


@SETTINGS
@given(ucs2_text, st.integers(0, 0xFFFF), st.sampled_from([8, 16]))
def test_ucs2_split_and_reassemble_gives_the_original(text: str, reference: int, bits: int) -> None:
    payload = encode_text(text, 8)
    parts = split_message(payload, 8, reference, reference_bits=bits)
    if len(parts) > 1:
        # Every part decodes on its own: no surrogate pair was cut.
        header = 6 if bits == 8 else 7
        assert "".join(decode_text(p[header:], 8) for p in parts) == text
    whole = _split_and_reassemble(payload, 8, reference, bits)
    assert decode_text(whole, 8) == text
    if bits == 8:
        assert len(parts) == segment_count(text, 8)


latin1_text = st.text(alphabet=st.characters(max_codepoint=0xFF, exclude_characters="\x00"), max_size=500)


@SETTINGS
@given(latin1_text, st.integers(0, 0xFFFF), st.sampled_from([1, 3]))
def test_ia5_and_latin1_split_as_the_gsm_they_become_on_the_air(text: str, reference: int, coding: int) -> None:
    if coding == 1:
        text = "".join(ch for ch in text if ch < "\x80")
    payload = encode_text(text, coding)
    whole = _split_and_reassemble(payload, coding, reference, 8)
    assert decode_text(whole, coding) == text
    assert len(split_message(payload, coding, reference)) == segment_count(text, coding)
    assert (len(split_message(payload, coding, reference)) == 1) == fits_one_sms(payload, coding)
