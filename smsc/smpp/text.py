"""Short message text: GSM 03.38, the other data_coding alphabets, segmentation and UDH concatenation.

Sans-IO and pure: bytes and str in, bytes and str out.  What lives here:

* GSM 03.38 default alphabet and its extension table, unpacked (one septet per octet, the usual SMPP
  carriage of data_coding 0) and packed (septets squeezed into octets, as on the radio interface).
* :func:`decode_text` / :func:`encode_text` for every data_coding value of SMPP 3.4 section 5.2.19 and
  the GSM 03.38 coding groups.
* Segment counting and splitting of long messages with a concatenation UDH (3GPP 23.040 section
  9.2.3.24.1 and .8), UDH parsing, and reassembly of concatenated parts from a UDH or from the
  sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs (SMPP 3.4 section 5.3.2.22-24).

Facts used: ``../shared/reference/smpp34-facts.md`` sections 5.7 and 8.
"""

from __future__ import annotations

import codecs
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterator, NamedTuple, Sequence

__all__ = [
    "EncodeError",
    "GSM_BASIC_TABLE",
    "GSM_EXTENSION_TABLE",
    "gsm_encode",
    "gsm_decode",
    "is_gsm",
    "gsm_septets",
    "gsm_pack",
    "gsm_unpack",
    "alphabet",
    "decode_text",
    "encode_text",
    "choose_coding",
    "segment_count",
    "segment_room",
    "sms_count",
    "split_message",
    "Udh",
    "parse_udh",
    "strip_udh",
    "build_udh",
    "ConcatInfo",
    "concat_info",
    "Reassembler",
    "ReassembledPart",
    "decode_parts",
]


class EncodeError(ValueError):
    """Text cannot be represented in the requested data_coding, or a message needs more than 255 parts."""


# -- GSM 03.38 tables -------------------------------------------------------------------------------

#: The 128 characters of the GSM 03.38 default alphabet, indexed by septet value (3GPP 23.038 section
#: 6.2.1).  Position 0x1B is the escape to the extension table; it is held here as a space, which is
#: what a receiver shows for an escape it cannot resolve.  0x09 is capital C-cedilla and 0x5F is the
#: section sign, as ETSI publishes them.
GSM_BASIC_TABLE: str = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x20ÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(GSM_BASIC_TABLE) == 128

_ESC = 0x1B

#: Extension table: septet code (sent after 0x1B) -> character (3GPP 23.038 section 6.2.1.1).
GSM_EXTENSION_TABLE: dict[int, str] = {
    0x0A: "\x0c",  # form feed
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# Encoding map for codecs.charmap_encode: code point -> septet (int) or ESC pair (bytes).
_GSM_ENCODE_MAP: dict[int, int | bytes] = {
    ord(ch): code for code, ch in enumerate(GSM_BASIC_TABLE) if code != _ESC
}
_GSM_ENCODE_MAP.update({ord(ch): bytes((_ESC, code)) for code, ch in GSM_EXTENSION_TABLE.items()})

_GSM_CHARS: frozenset[str] = frozenset(chr(cp) for cp in _GSM_ENCODE_MAP)
_GSM_EXTENSION_CHARS: frozenset[str] = frozenset(GSM_EXTENSION_TABLE.values())

# Decoding table for codecs.charmap_decode: every octet, high bit ignored.
_GSM_DECODE_TABLE: str = GSM_BASIC_TABLE * 2
_GSM_EXT_DECODE: list[str] = [GSM_EXTENSION_TABLE.get(code, GSM_BASIC_TABLE[code]) for code in range(128)]
_GSM_EXT_DECODE[_ESC] = " "  # ESC ESC: escape to a further table, shown as a space


def gsm_encode(text: str) -> bytes:
    """Encode ``text`` as unpacked GSM 03.38: one septet per octet, extension characters as 0x1B + code.

    Returns as many octets as the text has septets (see :func:`gsm_septets`).
    Raises :class:`EncodeError` naming the first character (and its index) that has no GSM form, for
    example the backtick or any letter outside the table.
    """
    try:
        encoded, _ = codecs.charmap_encode(text, "strict", _GSM_ENCODE_MAP)
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise EncodeError(
            f"character {bad!r} (U+{ord(bad):04X}) at index {exc.start} has no GSM 03.38 form"
        ) from None
    return encoded


def gsm_decode(data: bytes) -> str:
    """Decode unpacked GSM 03.38 septets (one per octet) into text.  Never raises.

    Tolerance rules (3GPP 23.038 section 6.2.1.1 and what decoders do):

    * octets above 0x7F are read by their low 7 bits (a sender that set the 8th bit still means the
      septet);
    * 0x1B + a code of the extension table gives that character; 0x1B + a code without an extension
      character gives the basic-table character of that code; 0x1B 0x1B gives a space; a lone 0x1B
      at the very end gives a space.
    """
    if _ESC not in data and (_ESC | 0x80) not in data:
        return codecs.charmap_decode(data, "strict", _GSM_DECODE_TABLE)[0]
    out: list[str] = []
    i = 0
    n = len(data)
    while i < n:
        code = data[i] & 0x7F
        if code == _ESC:
            if i + 1 < n:
                out.append(_GSM_EXT_DECODE[data[i + 1] & 0x7F])
                i += 2
                continue
            out.append(" ")
        else:
            out.append(GSM_BASIC_TABLE[code])
        i += 1
    return "".join(out)


def is_gsm(text: str) -> bool:
    """True when every character of ``text`` is in the GSM 03.38 basic or extension table."""
    return _GSM_CHARS.issuperset(text)


def gsm_septets(text: str) -> int:
    """Number of septets ``text`` takes in GSM 03.38 (extension characters cost 2).

    Raises :class:`EncodeError` if a character has no GSM form.
    """
    if not is_gsm(text):
        gsm_encode(text)  # raises, naming the character
    return len(text) + sum(1 for ch in text if ch in _GSM_EXTENSION_CHARS)


def gsm_pack(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets (values 0x00-0x7F, one per octet) into octets, GSM 03.38 section 6.1.2.1.1.

    Septet k occupies bits ``fill_bits + 7k`` to ``fill_bits + 7k + 6`` of the output, octets filled
    from their least significant bit upward; ``fill_bits`` (0-6) zero bits come first, to align the
    text after a UDH on a septet boundary.  The output has ``ceil((fill_bits + 7 * len(septets)) / 8)``
    octets (none for no septets), so 160 septets take 140 octets.  Raises ValueError for a value above 0x7F or a fill_bits
    outside 0-6.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0-6, got {fill_bits}")
    if not septets:
        return b""
    out = bytearray()
    acc = 0
    nbits = fill_bits
    for value in septets:
        if value > 0x7F:
            raise ValueError(f"septet value 0x{value:02X} above 0x7F")
        acc |= value << nbits
        nbits += 7
        if nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def gsm_unpack(data: bytes, count: int, fill_bits: int = 0) -> bytes:
    """Unpack ``count`` septets from packed octets, skipping ``fill_bits`` (0-6) leading bits.

    The inverse of :func:`gsm_pack`; ``count`` is needed because 7 septets and 8 septets (the last
    one ``@``) can both fill 7 octets.  Returns ``count`` octets, one septet each.  Raises ValueError
    if ``data`` holds fewer than ``count`` septets or ``fill_bits`` is outside 0-6.
    """
    if not 0 <= fill_bits <= 6:
        raise ValueError(f"fill_bits must be 0-6, got {fill_bits}")
    if count < 0 or (count and fill_bits + 7 * count > 8 * len(data)):
        raise ValueError(f"{len(data)} octets with {fill_bits} fill bits do not hold {count} septets")
    out = bytearray()
    acc = 0
    nbits = 0
    it = iter(data)
    # Drop the fill bits of the first octet.
    if fill_bits and count:
        acc = next(it) >> fill_bits
        nbits = 8 - fill_bits
    for _ in range(count):
        if nbits < 7:
            acc |= next(it) << nbits
            nbits += 8
        out.append(acc & 0x7F)
        acc >>= 7
        nbits -= 7
    return bytes(out)


# -- data_coding ------------------------------------------------------------------------------------

_GSM7 = "gsm7"
_UCS2 = "ucs2"
_BINARY = "binary"
_EUC_KR = "euc_kr"
_ISO2022_JP = "iso2022_jp"

# SMPP 3.4 section 5.2.19 values 0x00-0x0F -> alphabet (a Python codec name for byte charsets).
_SMPP_ALPHABETS: dict[int, str] = {
    0x00: _GSM7,
    0x01: "ascii",
    0x02: _BINARY,
    0x03: "latin-1",
    0x04: _BINARY,
    0x05: _BINARY,  # JIS X 0208 has no agreed byte form on SMPP; kept as data
    0x06: "iso8859_5",
    0x07: "iso8859_8",
    0x08: _UCS2,
    0x09: _BINARY,  # pictogram: vendor specific
    0x0A: _ISO2022_JP,
    0x0B: _BINARY,
    0x0C: _BINARY,
    0x0D: _BINARY,  # JIS X 0212: no Python codec for the bare table
    0x0E: _EUC_KR,  # KS C 5601 as carried in practice (EUC-KR)
    0x0F: _BINARY,
}


def alphabet(data_coding: int) -> str:
    """The alphabet a data_coding value selects.

    Returns ``"gsm7"`` (GSM 03.38, unpacked in SMPP), ``"ucs2"`` (UTF-16BE), ``"binary"`` (octets
    without a text meaning) or the Python codec name of a byte charset (``"ascii"``, ``"latin-1"``,
    ``"iso8859_5"``, ``"iso8859_8"``, ``"iso2022_jp"``, ``"euc_kr"``).

    0x00-0x0F follow SMPP 3.4 section 5.2.19.  Above that the GSM 03.38 / 3GPP 23.038 section 4 coding
    groups are read: 0x10-0x7F general data coding (bit 5 compressed -> binary; bits 3-2: 00 GSM 7-bit,
    01 8-bit data, 10 UCS-2, 11 reserved -> binary), 0x80-0xBF reserved -> binary, 0xC0-0xDF message
    waiting GSM 7-bit, 0xE0-0xEF message waiting UCS-2, 0xF0-0xFF bit 2 (0 GSM 7-bit, 1 8-bit data).
    Values outside 0-255 are binary.
    """
    if 0 <= data_coding <= 0x0F:
        return _SMPP_ALPHABETS[data_coding]
    if 0x10 <= data_coding <= 0x7F:
        if data_coding & 0x20:
            return _BINARY
        return (_GSM7, _BINARY, _UCS2, _BINARY)[(data_coding >> 2) & 0x03]
    if 0xC0 <= data_coding <= 0xDF:
        return _GSM7
    if 0xE0 <= data_coding <= 0xEF:
        return _UCS2
    if 0xF0 <= data_coding <= 0xFF:
        return _BINARY if data_coding & 0x04 else _GSM7
    return _BINARY


def decode_text(data: bytes, data_coding: int) -> str:
    """Decode ``short_message`` / ``message_payload`` octets (without UDH) as the data_coding says.

    0 and the GSM coding groups: unpacked GSM 03.38 (:func:`gsm_decode`); 1 IA5/ASCII; 3 Latin-1; 6
    ISO-8859-5; 7 ISO-8859-8; 8 and the UCS-2 groups: UTF-16BE (surrogate pairs joined; lone
    surrogates and an odd final octet become U+FFFD); 0x0A ISO-2022-JP; 0x0E EUC-KR.  Binary codings
    (2, 4, 0xF4-0xF7, reserved values, see :func:`alphabet`) give the lower-case hex string of the
    octets.  Undecodable octets become U+FFFD.  Never raises.
    """
    kind = alphabet(data_coding)
    if kind == _GSM7:
        return gsm_decode(data)
    if kind == _UCS2:
        return data.decode("utf-16-be", "replace")
    if kind == _BINARY:
        return data.hex()
    return data.decode(kind, "replace")


def encode_text(text: str, data_coding: int) -> bytes:
    """Encode ``text`` for ``data_coding``: the inverse of :func:`decode_text`.

    GSM codings give unpacked septets, UCS-2 codings UTF-16BE (characters above U+FFFF as surrogate
    pairs), byte charsets their octets.  For a binary coding ``text`` must be a hex string (what
    :func:`decode_text` returns), which is turned back into octets.
    Raises :class:`EncodeError` naming the first character the coding cannot carry, or when a binary
    coding gets text that is not hex.
    """
    kind = alphabet(data_coding)
    if kind == _GSM7:
        return gsm_encode(text)
    if kind == _BINARY:
        try:
            return bytes.fromhex(text)
        except ValueError:
            raise EncodeError(f"data_coding 0x{data_coding:02X} is binary: expected a hex string") from None
    codec = "utf-16-be" if kind == _UCS2 else kind
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise EncodeError(
            f"character {bad!r} (U+{ord(bad):04X}) at index {exc.start} "
            f"cannot be encoded in data_coding 0x{data_coding:02X} ({kind})"
        ) from None


def choose_coding(text: str) -> int:
    """The data_coding to send ``text`` with: 0 (GSM 03.38) when every character is GSM, else 8 (UCS-2)."""
    return 0 if is_gsm(text) else 8


# -- segmentation -----------------------------------------------------------------------------------

#: Most parts a concatenated message can have (one-octet counters of the concatenation IE).
MAX_PARTS = 255
_SMS_OCTETS = 140  # user data of one SMS on the radio interface (3GPP 23.040)
_SMS_SEPTETS = 160
#: Alphabets counted in septets on the air: GSM 7-bit, and IA5 and Latin-1, which an SMSC converts to it.
_SEPTET_KINDS = frozenset({_GSM7, "ascii", "latin-1"})
#: IA5 / Latin-1 octets of the characters that take a GSM extension pair (two septets): [ ] { } \ ^ ~ | and
#: nothing else an octet of these codings can carry (the euro sign is not in Latin-1).
_GSM_EXTENSION_OCTETS = frozenset(ord(ch) for ch in _GSM_EXTENSION_CHARS if ord(ch) < 0x100)


def _capacity(kind: str, udh_octets: int) -> int:
    """What fits one SMS after a UDH of ``udh_octets`` (UDHL included; 0 = none): septets for GSM 7-bit, IA5
    and Latin-1 (which an SMSC converts to the GSM alphabet for the air), else octets."""
    if kind in _SEPTET_KINDS:
        # Septets (one per octet, unpacked): the header is counted in septets, padded by fill bits.
        return _SMS_SEPTETS - (udh_octets * 8 + 6) // 7
    room = _SMS_OCTETS - udh_octets
    return room - room % 2 if kind == _UCS2 else room


def _atoms(payload: bytes, kind: str) -> Iterator[tuple[int, int]]:
    """The pieces a split must keep whole, as (octets, units of :func:`_capacity`): ESC pairs, UTF-16 surrogate
    pairs; in IA5 and Latin-1 a character with a GSM extension form is one octet but two septets."""
    n = len(payload)
    i = 0
    if kind == _GSM7:
        while i < n:
            step = 2 if payload[i] & 0x7F == _ESC and i + 1 < n else 1
            yield step, step
            i += step
    elif kind == _UCS2:
        while i < n:
            step = 2
            if 0xD8 <= payload[i] <= 0xDB and i + 3 < n and 0xDC <= payload[i + 2] <= 0xDF:
                step = 4
            step = min(step, n - i)
            yield step, step
            i += step
    elif kind in _SEPTET_KINDS:
        yield from ((1, 2 if ch in _GSM_EXTENSION_OCTETS else 1) for ch in payload)
    elif kind == _EUC_KR:
        # A character of KS C 5601 is two octets, both with the high bit set (a lead octet and a trail octet):
        # cut between them, and every character after the cut reads as another (tester 100).
        while i < n:
            step = 2 if payload[i] >= 0x80 and i + 1 < n else 1
            yield step, step
            i += step
    else:
        # Byte charsets and binary data: every octet stands alone.
        yield from ((1, 1) for _ in range(n))


def _units(payload: bytes, kind: str) -> int:
    """The length of ``payload`` in :func:`_capacity`'s unit."""
    if kind in ("ascii", "latin-1"):
        return len(payload) + sum(1 for ch in payload if ch in _GSM_EXTENSION_OCTETS)
    return len(payload)


def _cut(payload: bytes, kind: str, capacity: int) -> list[tuple[int, int]]:
    """Greedy split of ``payload`` into (start, end) octet ranges of at most ``capacity`` units each."""
    if kind not in _SEPTET_KINDS and kind != _UCS2 and kind != _EUC_KR:
        return [(start, min(start + capacity, len(payload))) for start in range(0, len(payload), capacity)]
    ranges: list[tuple[int, int]] = []
    start = pos = units = 0
    for octets, weight in _atoms(payload, kind):
        if units + weight > capacity:
            ranges.append((start, pos))
            start, units = pos, 0
        pos += octets
        units += weight
    if pos > start:
        ranges.append((start, pos))
    return ranges


def _segments(payload: bytes, kind: str, capacity: int) -> list[bytes]:
    """``payload`` cut into the user data of parts of at most ``capacity`` units each (:func:`_cut`).

    ISO-2022-JP is stateful: an escape sequence switches to JIS X 0208 and back, and a part read alone (as a
    handset or ESME reads each) starts in ASCII.  Its text is cut between characters and each part encoded on
    its own, so that each switches in and back out itself (3GPP 23.040 section 9.2.3.24.1: a part is a
    message of its own on the air).  Octets that are not ISO-2022-JP are cut as octets."""
    if kind == _ISO2022_JP:
        try:
            text = payload.decode(_ISO2022_JP)
        except UnicodeDecodeError:
            text = None
        if text is not None:
            parts: list[bytes] = []
            current = ""
            for ch in text:
                if current and len((current + ch).encode(_ISO2022_JP)) > capacity:
                    parts.append(current.encode(_ISO2022_JP))
                    current = ch
                else:
                    current += ch
            if current:
                parts.append(current.encode(_ISO2022_JP))
            return parts
    return [payload[start:end] for start, end in _cut(payload, kind, capacity)]


def _udh_octets(reference_bits: int) -> int:
    if reference_bits == 8:
        return 6
    if reference_bits == 16:
        return 7
    raise ValueError(f"reference_bits must be 8 or 16, got {reference_bits}")


#: User data of at most this many octets fits :data:`MAX_PARTS` parts in every coding: the fewest octets a part
#: holds are an IA5 / Latin-1 text of extension characters only (two septets each: 76 per 153-septet part).
PAYLOAD_OCTETS_ALWAYS_SEGMENTABLE = MAX_PARTS * (_capacity("latin-1", _udh_octets(8)) // 2)


def one_sms_room(data_coding: int, udh_octets: int = 0) -> tuple[int, str]:
    """What one SMS holds after a UDH of ``udh_octets`` octets (UDHL included; 0 = none), in the unit its
    data_coding counts: ``(160 - UDH septets, "septets")`` for GSM 7-bit, IA5 and Latin-1 (which an SMSC
    converts to the GSM alphabet for the air), else ``(140 - UDH, "octets")`` (3GPP 23.040 section 9.2.3.16)."""
    kind = alphabet(data_coding)
    return _capacity(kind, udh_octets), "septets" if kind in _SEPTET_KINDS else "octets"


def one_sms_units(short_message: bytes, data_coding: int, udh_octets: int = 0) -> int:
    """The length of ``short_message`` after its UDH in :func:`one_sms_room`'s unit: octets, or septets where
    an IA5 or Latin-1 character with a GSM extension form (``[ ] { } \\ ^ ~ |``) takes two (SMPP carries GSM septets
    unpacked, an extension character as two octets already)."""
    return _units(short_message[udh_octets:], alphabet(data_coding))


def fits_one_sms(short_message: bytes, data_coding: int, udh_octets: int = 0) -> bool:
    """True when ``short_message`` (its UDH of ``udh_octets`` octets, UDHL included, first; 0 = none) fits
    the user data of one SMS on the radio interface (3GPP 23.040 section 9.2.3.16: 140 octets).

    GSM 7-bit: 160 septets, the UDH counted in septets with its fill bits (an extension character is two
    septets already, as SMPP carries them unpacked); IA5 and Latin-1 (data_coding 1, 3) as the GSM alphabet an
    SMSC converts them to (``[ ] { } \\ ^ ~ |`` two septets each: tester 53), a character without a GSM form
    counting one (it is transliterated: tester 51 saw ordinary Spanish texts refused when such a character
    made the whole text count as UCS-2); UCS-2 and the other codings: 140 octets.  SMPP 3.4 section 5.2.22 lets short_message carry 254 octets; a network that does not
    segment it refuses more than one SMS.
    """
    return one_sms_units(short_message, data_coding, udh_octets) <= one_sms_room(data_coding, udh_octets)[0]


def split_message(payload: bytes, data_coding: int, reference: int, *, reference_bits: int = 8) -> list[bytes]:
    """Split encoded user data into ``short_message`` parts, each starting with a concatenation UDH.

    ``payload`` is what :func:`encode_text` returns (unpacked septets for GSM).  When it fits one SMS
    (:func:`fits_one_sms`: 160 septets for GSM, IA5 and Latin-1, 140 octets otherwise) the result is
    ``[payload]`` without a UDH.  Otherwise each part is ``05 00 03 RR TT SS`` (8-bit reference) or
    ``06 08 04 RR RR TT SS`` (16-bit) followed by at most 153/152 septets (GSM; IA5 and Latin-1 counted as the
    GSM they become, ``[ ] { } \\ ^ ~ |`` two septets each, as the submit_sm length check counts them:
    tester 56), 134/132 octets = 67/66 UTF-16 units (UCS-2) or 134/133 octets (other codings).  An ESC
    pair (GSM), a surrogate pair (UCS-2) or a two-octet EUC-KR character is never split across parts, and
    each part of ISO-2022-JP text switches into and out of JIS X 0208 itself (:func:`_segments`).  The
    sender sets esm_class bit 0x40 (UDHI) on the parts.  ``reference`` is taken modulo 2**reference_bits.

    Raises :class:`EncodeError` when more than 255 parts would be needed, ValueError when
    reference_bits is not 8 or 16.  3GPP 23.040 section 9.2.3.24.1 / 9.2.3.24.8.
    """
    udh_len = _udh_octets(reference_bits)
    kind = alphabet(data_coding)
    if _units(payload, kind) <= _capacity(kind, 0):
        return [bytes(payload)]
    segments = _segments(payload, kind, _capacity(kind, udh_len))
    total = len(segments)
    if total > MAX_PARTS:
        raise EncodeError(f"message needs {total} parts, at most {MAX_PARTS} are possible")
    if reference_bits == 8:
        head = bytes((0x05, 0x00, 0x03, reference & 0xFF, total))
    else:
        ref = reference & 0xFFFF
        head = bytes((0x06, 0x08, 0x04, ref >> 8, ref & 0xFF, total))
    return [head + bytes((seq,)) + segment for seq, segment in enumerate(segments, start=1)]


def parts_needed(payload: bytes, data_coding: int) -> int:
    """How many SMS the SMSC's segmentation of encoded user data ``payload`` takes: 1 when it fits one SMS, else
    the parts :func:`split_message` cuts with an 8-bit-reference concatenation header, whatever their number
    (it refuses more than :data:`MAX_PARTS`).  3GPP 23.040 section 9.2.3.24.1."""
    kind = alphabet(data_coding)
    if _units(payload, kind) <= _capacity(kind, 0):
        return 1
    return len(_segments(payload, kind, _capacity(kind, _udh_octets(8))))


def sms_count(short_message: bytes, data_coding: int, udh_octets: int = 0) -> int:
    """How many SMS encoded user data takes on the radio interface, as a network bills it: 1 when it fits one
    SMS after its UDH of ``udh_octets`` octets (UDHL included; 0 = none), else the parts of a segmentation that
    adds an 8-bit-reference concatenation element to that UDH (5 octets; 6 with the UDHL when there was
    none), each at most :func:`_capacity` units and never cut inside a character.  ``short_message`` starts
    with its UDH.  3GPP 23.040 sections 9.2.3.16 and 9.2.3.24.1."""
    kind = alphabet(data_coding)
    payload = short_message[udh_octets:]
    if _units(payload, kind) <= _capacity(kind, udh_octets):
        return 1
    room = segment_room(data_coding, udh_octets)
    if room < MIN_SEGMENT_ROOM:
        return 1  # (a header that leaves no room cannot be segmented: the submit checks refuse such user data)
    return len(_segments(payload, kind, room))


#: The least room a part must leave for user data, in :func:`_capacity`'s unit: a GSM escape pair or a UCS-2
#: surrogate pair (4 octets) is never split, so a smaller part could not always carry the next character.
MIN_SEGMENT_ROOM = 4


def segment_room(data_coding: int, udh_octets: int = 0) -> int:
    """What each part holds, in :func:`one_sms_room`'s unit, when user data with a UDH of ``udh_octets`` octets
    (UDHL included; 0 = none) is segmented: that UDH plus an 8-bit-reference concatenation element (5 octets; 6
    with the UDHL when there was none).  Below :data:`MIN_SEGMENT_ROOM` (a UDH of some 130 octets or more) the
    user data cannot be segmented.  3GPP 23.040 section 9.2.3.24.1."""
    header = udh_octets + 5 if udh_octets else _udh_octets(8)
    return _capacity(alphabet(data_coding), header)


def segment_count(text: str, data_coding: int) -> int:
    """Number of SMS ``text`` needs in ``data_coding`` with 8-bit-reference concatenation.

    GSM 7-bit, IA5 and Latin-1: 160 septets in one SMS, else 153 per part (extension characters cost 2 and
    are not split); UCS-2: 70 UTF-16 units, else 67 per part (surrogate pairs not split); other 8-bit codings:
    140 octets, else 134.  Empty text needs 1.  Agrees with ``len(split_message(encode_text(text, dc), dc,
    0))`` but does not build the parts and has no 255 limit.  Raises :class:`EncodeError` when the
    coding cannot carry the text.
    """
    kind = alphabet(data_coding)
    payload = encode_text(text, data_coding)
    if _units(payload, kind) <= _capacity(kind, 0):
        return 1
    return len(_segments(payload, kind, _capacity(kind, 6)))


# -- UDH --------------------------------------------------------------------------------------------

IEI_CONCAT_8 = 0x00
IEI_PORTS_8 = 0x04
IEI_PORTS_16 = 0x05
IEI_CONCAT_16 = 0x08


@dataclass(slots=True)
class Udh:
    """A user data header: its information elements in wire order, as (IEI, IE data) pairs.

    3GPP 23.040 section 9.2.3.24.
    """

    elements: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def concat(self) -> tuple[int, int, int] | None:
        """(reference, total, seq) of the first concatenation IE (IEI 0x00 or 0x08), else None."""
        for iei, data in self.elements:
            if iei == IEI_CONCAT_8 and len(data) == 3:
                return data[0], data[1], data[2]
            if iei == IEI_CONCAT_16 and len(data) == 4:
                return (data[0] << 8) | data[1], data[2], data[3]
        return None

    @property
    def ports(self) -> tuple[int, int] | None:
        """(destination port, originator port) of the first application port IE (0x04 or 0x05), else None."""
        for iei, data in self.elements:
            if iei == IEI_PORTS_8 and len(data) == 2:
                return data[0], data[1]
            if iei == IEI_PORTS_16 and len(data) == 4:
                return (data[0] << 8) | data[1], (data[2] << 8) | data[3]
        return None


def parse_udh(short_message: bytes) -> tuple[Udh, bytes]:
    """Split ``short_message`` (sent with esm_class UDHI 0x40) into its UDH and the user data after it.

    The first octet is UDHL, the header length after it; the header is a sequence of IEI, IEDL, data.
    Raises ValueError when the message is empty, UDHL runs past the end, or an IE runs past UDHL.
    """
    if not short_message:
        raise ValueError("UDHI set but the user data is empty")
    udhl = short_message[0]
    end = 1 + udhl
    if end > len(short_message):
        raise ValueError(f"UDHL {udhl} runs past the {len(short_message)} octets of user data")
    elements: list[tuple[int, bytes]] = []
    i = 1
    while i < end:
        if i + 2 > end:
            raise ValueError(f"UDH information element at octet {i} is cut short")
        iei, iedl = short_message[i], short_message[i + 1]
        if i + 2 + iedl > end:
            raise ValueError(f"UDH information element 0x{iei:02X} of {iedl} octets runs past UDHL {udhl}")
        elements.append((iei, bytes(short_message[i + 2 : i + 2 + iedl])))
        i += 2 + iedl
    return Udh(elements), bytes(short_message[end:])


def strip_udh(short_message: bytes) -> bytes:
    """The user data after the UDH of ``short_message`` (sent with esm_class UDHI 0x40), cut by UDHL alone.

    Unlike :func:`parse_udh` the information elements are not read: a handset skips UDHL + 1 octets whatever
    they hold (3GPP TS 23.040 section 9.2.3.24), so a malformed element (an IE running past UDHL, a
    concatenation IE naming part 0 of 2) still leaves the text after the header readable, and it is the text
    that receipts and the HTTP API show.  Raises ValueError when the message is empty or UDHL runs past its
    end (then no octet can be called text).
    """
    if not short_message:
        raise ValueError("UDHI set but the user data is empty")
    end = 1 + short_message[0]
    if end > len(short_message):
        raise ValueError(f"UDHL {short_message[0]} runs past the {len(short_message)} octets of user data")
    return bytes(short_message[end:])


def build_udh(elements: list[tuple[int, bytes]]) -> bytes:
    """Encode (IEI, IE data) pairs as a UDH, UDHL first.

    Raises ValueError when an IE holds more than 255 octets or the header exceeds 255 octets.
    """
    body = bytearray()
    for iei, data in elements:
        if not 0 <= iei <= 0xFF or len(data) > 0xFF:
            raise ValueError(f"UDH element 0x{iei:X} with {len(data)} octets does not fit")
        body += bytes((iei, len(data))) + data
    if len(body) > 0xFF:
        raise ValueError(f"UDH of {len(body)} octets exceeds 255")
    return bytes((len(body),)) + bytes(body)


# -- concatenation ----------------------------------------------------------------------------------

TAG_SAR_MSG_REF_NUM = 0x020C
TAG_SAR_TOTAL_SEGMENTS = 0x020E
TAG_SAR_SEGMENT_SEQNUM = 0x020F
TAG_MESSAGE_PAYLOAD = 0x0424
_ESM_UDHI = 0x40


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """One part of a concatenated message: reference, total parts, 1-based seq, user data without UDH."""

    reference: int
    total: int
    seq: int
    user_data: bytes


def _tlv_int(value: Any, name: str) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, bytearray)) and 1 <= len(value) <= 2:
        return int.from_bytes(value, "big")
    raise ValueError(f"{name} TLV has an unusable value {value!r}")


def concat_info(esm_class: int, short_message: bytes, tlvs: dict[int, object]) -> ConcatInfo | None:
    """Concatenation details of a submit_sm / deliver_sm / data_sm, or None for a whole message.

    The user data is ``short_message``, or the message_payload TLV (0x0424) when short_message is
    empty.  With esm_class UDHI (0x40) a concatenation IE in the UDH decides (None if the UDH has no
    such IE); otherwise the sar_msg_ref_num / sar_total_segments / sar_segment_seqnum TLVs (0x020C,
    0x020E, 0x020F; int values, or raw big-endian bytes) do.

    Raises ValueError on a malformed UDH, on SAR TLVs together with UDHI (SMPP 3.4 section 5.2.12), on
    only some of the three SAR TLVs, or on total 0 / seq 0 / seq > total.  Callers answer that with
    ESME_RINVOPTPARAMVAL or ESME_RINVESMCLASS as fits.
    """
    data: Any = short_message
    if not data:
        payload = tlvs.get(TAG_MESSAGE_PAYLOAD)
        data = payload if isinstance(payload, (bytes, bytearray)) else b""
    sar = [tlvs.get(tag) for tag in (TAG_SAR_MSG_REF_NUM, TAG_SAR_TOTAL_SEGMENTS, TAG_SAR_SEGMENT_SEQNUM)]
    has_sar = any(value is not None for value in sar)
    if esm_class & _ESM_UDHI:
        if has_sar:
            raise ValueError("sar_* TLVs must not be combined with a UDH (esm_class UDHI)")
        udh, user_data = parse_udh(bytes(data))
        concat = udh.concat
        if concat is None:
            return None
        reference, total, seq = concat
    elif has_sar:
        if any(value is None for value in sar):
            raise ValueError("sar_msg_ref_num, sar_total_segments and sar_segment_seqnum go together")
        reference = _tlv_int(sar[0], "sar_msg_ref_num")
        total = _tlv_int(sar[1], "sar_total_segments")
        seq = _tlv_int(sar[2], "sar_segment_seqnum")
        user_data = bytes(data)
    else:
        return None
    if total < 1 or not 1 <= seq <= total:
        raise ValueError(f"concatenation part {seq} of {total} is impossible")
    return ConcatInfo(reference, total, seq, user_data)


class ReassembledPart(NamedTuple):
    """One part of a whole concatenated message, as :meth:`Reassembler.add_part` returns them (seq order)."""

    #: The part's user data, UDH removed (octets).
    user_data: bytes
    #: The part's own data_coding.
    data_coding: int
    #: What the caller gave with the part (a message_id, say), or None.
    tag: Any


@dataclass(slots=True)
class _Pending:
    started: float
    total: int
    parts: dict[int, ReassembledPart] = field(default_factory=dict)


def decode_parts(parts: Sequence[ReassembledPart]) -> str:
    """The text of a whole concatenated message from its parts (user data and data_coding), in seq order, as a
    handset shows it: each part decoded on its own (:func:`decode_text`) and the texts joined.

    A character must not be split across parts (3GPP TS 23.038 section 6.2.1.1 and TS 23.040 section
    9.2.3.24.1: neither a GSM escape pair nor, in UCS-2, a UTF-16 surrogate pair); a handset that decodes each
    SMS as it comes shows a split one as a space or U+FFFD.  Joining the octets first hid that bug of an ESME's
    splitter (smpplib's `make_parts` cuts at a fixed 153 or 134 octets) from the control API, the dashboard and
    the echo handsets (tester 56).  Never raises.
    """
    return "".join(decode_text(part.user_data, part.data_coding) for part in parts)


class Reassembler:
    """Collects the parts of concatenated messages until each is whole.

    A message is named by the caller's key (e.g. ``(system_id, source_addr, destination_addr)``) with the
    reference and total of its parts, and is whole once every seq from 1 to total is held; it is then
    handed back and forgotten, so a later part with the same reference (8-bit references come round
    again after 256 long messages) starts the next message.  While a message is incomplete, a part whose
    seq it holds already is a repeat and is left out: the first copy counts.

    Bounded: at most ``max_pending`` incomplete messages are kept (the oldest is dropped when a new
    one would exceed it), and an incomplete message whose first part arrived more than ``timeout``
    seconds ago is dropped.  Time comes from the caller (``now``, seconds on any monotonic scale).
    """

    def __init__(self, max_pending: int = 10000, timeout: float = 3600.0) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.max_pending = max_pending
        self.timeout = timeout
        #: Incomplete messages dropped for age or for room, since creation (for metrics).
        self.dropped = 0
        self._pending: OrderedDict[tuple[Any, ...], _Pending] = OrderedDict()

    def __len__(self) -> int:
        """Number of incomplete messages held."""
        return len(self._pending)

    def purge(self, now: float) -> int:
        """Drop incomplete messages older than ``timeout`` seconds at ``now``; returns how many."""
        limit = now - self.timeout
        dropped = 0
        pending = self._pending
        while pending:
            key, entry = next(iter(pending.items()))
            if entry.started >= limit:
                break
            del pending[key]
            dropped += 1
        self.dropped += dropped
        return dropped

    def add(self, key: tuple[Any, ...], info: ConcatInfo, now: float) -> bytes | None:
        """Add one part; returns the whole user data (parts joined in seq order) when it completes.

        ``key`` names the conversation the reference belongs to; the reference and total of ``info`` are
        added to it.  A part already held (same seq) is ignored; a part with an impossible seq is ignored.
        Returns None while parts are missing.
        """
        whole = self.add_part(key, info, now)
        if whole is None:
            return None
        return b"".join(part.user_data for part in whole)

    def add_part(self, key: tuple[Any, ...], info: ConcatInfo, now: float, data_coding: int = 0,
                 tag: Any = None) -> list[ReassembledPart] | None:
        """:meth:`add`, keeping each part's ``data_coding`` and ``tag``: returns the whole message's parts in
        seq order when this part completes it (for :func:`decode_parts`), else None."""
        if not 1 <= info.seq <= info.total:
            return None
        part = ReassembledPart(info.user_data, data_coding, tag)
        if info.total == 1:
            return [part]
        self.purge(now)
        full_key = (key, info.reference, info.total)
        entry = self._pending.get(full_key)
        if entry is None:
            while len(self._pending) >= self.max_pending:
                self._pending.popitem(last=False)
                self.dropped += 1
            entry = _Pending(started=now, total=info.total)
            self._pending[full_key] = entry
        entry.parts.setdefault(info.seq, part)
        if len(entry.parts) < entry.total:
            return None
        del self._pending[full_key]
        return [entry.parts[seq] for seq in range(1, entry.total + 1)]
