"""Hypothesis strategies for SMPP 3.4 PDUs with valid fields and TLVs (importable by any test).

Public strategies:

- ``c_strings(max_octets)``: a C-Octet String value fitting a field of ``max_octets`` (NUL included).
- ``smpp_times()``: "" or a 16-character SMPP time (absolute or relative, SMPP 3.4 section 7.1.1).
- ``tlv_values(tag)`` / ``tlv_maps()``: typed TLV values and ``{tag: value}`` dicts, known and unknown tags.
- ``pdus_of(cls)``: one PDU class with every field valid; ``pdus()``: any PDU class.
- ``wire_pdus()``: the encoded octets of ``pdus()``.
- ``pdu_bodies()``: (command_id, body octets) pairs, often near-valid, for fuzzing the decoder.

Every PDU drawn here satisfies ``decode(encode(pdu)) == pdu``: the error responses whose body is left out
on the wire (``BODY_OMITTED_ON_ERROR``) get default body fields.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from smsc.smpp.codec import (
    BODY_OMITTED_ON_ERROR,
    CSTR,
    DESTS,
    LAYOUTS,
    SM,
    TIME,
    U8,
    UNSUCCESS,
    Field,
    encode,
)
from smsc.smpp.pdu import PDU_CLASSES, DistributionList, Pdu, SmeAddress, UnsuccessSme
from smsc.smpp.tlv import TLV_SPECS, SizedInt, TlvKind
from smsc.smpp.constants import CommandStatus, Tag

__all__ = [
    "c_strings",
    "smpp_times",
    "tlv_values",
    "tlv_maps",
    "pdus_of",
    "pdus",
    "wire_pdus",
    "pdu_bodies",
    "sequence_numbers",
    "octets",
]

#: Latin-1 characters without NUL: every one survives a C-Octet String round trip.
_CHARS = st.characters(min_codepoint=1, max_codepoint=0xFF)
_DIGITS = st.characters(min_codepoint=ord("0"), max_codepoint=ord("9"))

sequence_numbers = st.integers(min_value=1, max_value=0x7FFFFFFF)
octets = st.integers(min_value=0, max_value=255)


def c_strings(max_octets: int) -> st.SearchStrategy[str]:
    """Strings of 0 to ``max_octets - 1`` Latin-1 characters, no NUL, often digits only."""
    limit = max_octets - 1
    return st.one_of(
        st.text(_DIGITS, max_size=limit),
        st.text(_CHARS, max_size=limit),
    )


def smpp_times() -> st.SearchStrategy[str]:
    """"" or 16 characters: mostly well-formed absolute/relative SMPP times, sometimes any 16 characters."""
    two = st.integers(min_value=0, max_value=99).map(lambda n: f"{n:02d}")
    wellformed = st.tuples(
        st.lists(two, min_size=6, max_size=6),
        st.integers(min_value=0, max_value=9),
        st.integers(min_value=0, max_value=48),
        st.sampled_from("+-R"),
    ).map(lambda t: "".join(t[0]) + f"{t[1]}{t[2]:02d}{t[3]}")
    return st.one_of(st.just(""), wellformed, st.text(_CHARS, min_size=16, max_size=16))


def tlv_values(tag: int) -> st.SearchStrategy[Any]:
    """A value valid for ``tag`` as typed in ``Pdu.tlvs`` (raw bytes for a tag not in TLV_SPECS)."""
    spec = TLV_SPECS.get(tag)
    if spec is None:
        return st.binary(max_size=40)
    if spec.kind is TlvKind.INT:
        plain = st.integers(min_value=0, max_value=(1 << (8 * spec.size)) - 1)
        if spec.max_len > spec.size:  # source_telematics_id: also sent as 2 octets
            wide = st.integers(min_value=0, max_value=0xFFFF).map(lambda v: SizedInt(v, 2))
            return st.one_of(plain, wide)
        return plain
    if spec.kind is TlvKind.CSTR:
        return st.text(_CHARS, min_size=max(0, spec.min_len - 1), max_size=min(spec.max_len - 1, 80))
    if spec.kind is TlvKind.FLAG:
        return st.sampled_from([b"", b"\x00", b"\x03"])
    return st.binary(min_size=spec.min_len, max_size=min(spec.max_len, 300))


_KNOWN_TAGS = sorted(TLV_SPECS)
#: Vendor-specific and reserved tags that smsc does not know.
_UNKNOWN_TAGS = st.one_of(
    st.integers(min_value=0x1400, max_value=0x3FFF),
    st.sampled_from([0x0000, 0x0100, 0x0600, 0x4000, 0xFFFF]),
)


@st.composite
def tlv_maps(draw: st.DrawFn, max_size: int = 4) -> dict[int, Any]:
    """A ``tlvs`` dict of known tags (typed values) and unknown ones (raw bytes), sometimes a repeated
    callback_num (a list) or a repeated unknown tag."""
    tlvs: dict[int, Any] = {}
    for _ in range(draw(st.integers(min_value=0, max_value=max_size))):
        if draw(st.booleans()):
            tag: int = TLV_SPECS[draw(st.sampled_from(_KNOWN_TAGS))].tag
        else:
            tag = draw(_UNKNOWN_TAGS)
            if tag in TLV_SPECS:
                continue
        if tag in tlvs:
            continue
        if (tag == Tag.callback_num or tag not in TLV_SPECS) and draw(st.integers(0, 4)) == 0:
            tlvs[tag] = draw(st.lists(tlv_values(tag), min_size=2, max_size=3))
        else:
            tlvs[tag] = draw(tlv_values(tag))
    return tlvs


def _field_values(f: Field) -> st.SearchStrategy[Any]:
    if f.kind == U8:
        return octets
    if f.kind == CSTR:
        return c_strings(f.size)
    if f.kind == TIME:
        return smpp_times()
    if f.kind == SM:
        return st.binary(max_size=254)
    if f.kind == DESTS:
        sme = st.builds(
            SmeAddress, dest_addr_ton=octets, dest_addr_npi=octets, destination_addr=c_strings(21)
        )
        dl = st.builds(DistributionList, dl_name=c_strings(21))
        return st.lists(st.one_of(sme, dl), min_size=1, max_size=5)
    if f.kind == UNSUCCESS:
        return st.lists(
            st.builds(
                UnsuccessSme,
                dest_addr_ton=octets,
                dest_addr_npi=octets,
                destination_addr=c_strings(21),
                error_status_code=st.integers(min_value=0, max_value=0xFFFFFFFF),
            ),
            max_size=4,
        )
    raise AssertionError(f.kind)


_STATUSES = st.one_of(
    st.just(0),
    st.sampled_from(list(CommandStatus)),
    st.integers(min_value=0, max_value=0xFFFFFFFF),
)


@st.composite
def pdus_of(draw: st.DrawFn, cls: type[Pdu], with_tlvs: bool = True) -> Pdu:
    """A ``cls`` PDU with every mandatory field valid, TLVs (when ``with_tlvs``) and any header values."""
    values = {f.name: draw(_field_values(f)) for f in LAYOUTS[cls]}
    status = draw(_STATUSES) if cls.command_id.is_response else draw(st.sampled_from([0, 0, 0, 1]))
    tlvs = draw(tlv_maps()) if with_tlvs and draw(st.booleans()) else {}
    pdu = cls(
        sequence_number=draw(st.one_of(sequence_numbers, st.integers(0, 0xFFFFFFFF))),
        command_status=status,
        tlvs=tlvs,
        **values,
    )
    if cls in BODY_OMITTED_ON_ERROR and status and not tlvs and not getattr(pdu, "unsuccess_smes", None):
        pdu = cls(sequence_number=pdu.sequence_number, command_status=status)  # nothing on the wire
    return pdu


def pdus(with_tlvs: bool = True) -> st.SearchStrategy[Pdu]:
    """Any PDU class of SMPP 3.4, valid."""
    return st.one_of([pdus_of(cls, with_tlvs) for cls in PDU_CLASSES.values()])


def wire_pdus() -> st.SearchStrategy[bytes]:
    """Encoded valid PDUs."""
    return pdus().map(encode)


@st.composite
def pdu_bodies(draw: st.DrawFn) -> tuple[int, bytes]:
    """(command_id, body) for fuzzing: a valid body with octets flipped, cut or inserted, or random octets,
    under a known (mostly) or unknown command_id."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.integers(0, 0xFFFFFFFF)), draw(st.binary(max_size=300))
    valid = encode(draw(pdus()))
    cid = int.from_bytes(valid[4:8], "big")
    body = bytearray(valid[16:])
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.integers(0, 3))
        where = draw(st.integers(0, len(body)))
        if action == 0 and where < len(body):
            body[where] = draw(octets)
        elif action == 1:
            del body[where:]
        elif action == 2:
            body[where:where] = draw(st.binary(min_size=1, max_size=20))
        elif where < len(body):
            body[where] = 0
    return cid, bytes(body)
