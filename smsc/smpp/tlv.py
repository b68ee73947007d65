"""Optional parameters (TLVs) of SMPP 3.4: the tag table, and the TLV area's decoder and encoder.

A TLV is tag (2 octets), length (2 octets, the value's octets only) and value (SMPP 3.4 section 3.2.1.1
and 5.3.1).  :data:`TLV_SPECS` says, for every tag of SMPP 3.4 section 5.3.2 (and congestion_state of
5.0), how its value is typed in ``Pdu.tlvs``:

==============  ====================================  ===========================================
kind            Python value                          wire value
==============  ====================================  ===========================================
``INT``         ``int`` (1, 2 or 4 octets)            unsigned big-endian integer
``CSTR``        ``str`` (Latin-1, without the NUL)    C-Octet String: the characters, then 0x00
``OCTETS``      ``bytes``                             octets as they are
``FLAG``        ``bytes`` (``b""``)                   nothing (length 0): presence is the value
==============  ====================================  ===========================================

Tags missing from the table keep their value as raw ``bytes`` and are written back unchanged.  A tag
may appear once per PDU, except ``callback_num`` with its two companions ``callback_num_pres_ind`` and
``callback_num_atag`` (as many of each as of callback_num: :func:`decode_tlvs`), unknown tags, and known
tags the PDU at hand does not define (:data:`TLVS_BY_COMMAND`); their repeats are collected in a ``list``
(in wire order).  ``tlvs`` dicts keep wire order, so ``encode_tlvs(decode_tlvs(b)) == b`` for every valid
TLV area (a repeated tag interleaved with others is written back grouped).

Which TLVs a PDU defines matters to the decoder alone: a known tag that the PDU does not define is
ignored (SMPP 3.4 section 3.3), so its length and value are not checked (:func:`decode_rows`).

This module imports nothing but the standard library and :mod:`smsc.smpp.constants`.
"""

from __future__ import annotations

import enum
from struct import Struct
from typing import Any, Callable, Mapping, NamedTuple

from smsc.smpp.constants import CommandId, CommandStatus, Tag

__all__ = [
    "TlvKind",
    "TlvSpec",
    "TLV_SPECS",
    "TLVS_BY_COMMAND",
    "SizedInt",
    "decode_rows",
    "decode_tlvs",
    "encode_tlvs",
    "encode_tlv",
]


class TlvKind(enum.Enum):
    """How a TLV's value is typed (see the module docstring)."""

    INT = "int"
    CSTR = "cstr"
    OCTETS = "octets"
    FLAG = "flag"


class TlvSpec(NamedTuple):
    """One row of the TLV table (SMPP 3.4 section 5.3.2).

    ``min_len`` / ``max_len`` bound the value's length in octets (the NUL of a C-Octet String counts);
    for ``INT`` they are the integer's width (``source_telematics_id`` accepts 1 or 2).  ``size`` is the
    width an ``INT`` is written with when the value carries no width of its own (see :class:`SizedInt`).
    """

    tag: Tag
    kind: TlvKind
    min_len: int
    max_len: int
    size: int = 0
    repeatable: bool = False

    @property
    def name(self) -> str:
        """The TLV's name in SMPP 3.4 section 5.3.2 (``"receipted_message_id"``)."""
        return self.tag.name


class SizedInt(int):
    """An integer TLV value with its own width in octets, overriding the table's ``size``.

    The decoder returns one when an ``INT`` TLV arrives with a legal width other than the table's (only
    ``source_telematics_id`` sent as 2 octets, smpp34-facts.md footnote [telematics]), so that the PDU is
    written back exactly as it came.  It compares and hashes like the plain ``int``.
    """

    size: int

    def __new__(cls, value: int, size: int) -> SizedInt:
        obj = super().__new__(cls, value)
        obj.size = size
        return obj

    def __repr__(self) -> str:
        return f"SizedInt({int(self)}, size={self.size})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (SizedInt, (int(self), self.size))


def _int(tag: Tag, size: int, min_len: int | None = None) -> TlvSpec:
    return TlvSpec(tag, TlvKind.INT, size if min_len is None else min_len, size, size)


def _cstr(tag: Tag, min_len: int, max_len: int) -> TlvSpec:
    return TlvSpec(tag, TlvKind.CSTR, min_len, max_len)


def _octets(tag: Tag, min_len: int, max_len: int, repeatable: bool = False) -> TlvSpec:
    return TlvSpec(tag, TlvKind.OCTETS, min_len, max_len, 0, repeatable)


#: Every known TLV by tag (SMPP 3.4 section 5.3.2; smpp34-facts.md section 4.2).
TLV_SPECS: dict[int, TlvSpec] = {
    spec.tag: spec
    for spec in (
        _int(Tag.dest_addr_subunit, 1),
        _int(Tag.dest_network_type, 1),
        _int(Tag.dest_bearer_type, 1),
        _int(Tag.dest_telematics_id, 2),
        _int(Tag.source_addr_subunit, 1),
        _int(Tag.source_network_type, 1),
        _int(Tag.source_bearer_type, 1),
        # The spec says 1 octet; node-smpp and others send 2 (smpp34-facts.md [^telematics]).
        _int(Tag.source_telematics_id, 1, min_len=1)._replace(max_len=2),
        _int(Tag.qos_time_to_live, 4),
        _int(Tag.payload_type, 1),
        _cstr(Tag.additional_status_info_text, 1, 256),
        _cstr(Tag.receipted_message_id, 1, 65),
        _int(Tag.ms_msg_wait_facilities, 1),
        _int(Tag.privacy_indicator, 1),
        _octets(Tag.source_subaddress, 2, 23),
        _octets(Tag.dest_subaddress, 2, 23),
        _int(Tag.user_message_reference, 2),
        _int(Tag.user_response_code, 1),
        _int(Tag.source_port, 2),
        _int(Tag.destination_port, 2),
        _int(Tag.sar_msg_ref_num, 2),
        _int(Tag.language_indicator, 1),
        _int(Tag.sar_total_segments, 1),
        _int(Tag.sar_segment_seqnum, 1),
        _int(Tag.sc_interface_version, 1),
        # callback_num "can be included a number of times", and then each companion "must occur an equal
        # number of instances" (SMPP 3.4 Tables 4-10, 4-12, 4-20): all three repeat (decode_tlvs checks
        # the counts).
        _int(Tag.callback_num_pres_ind, 1)._replace(repeatable=True),
        _octets(Tag.callback_num_atag, 0, 65, repeatable=True),
        _int(Tag.number_of_messages, 1),
        _octets(Tag.callback_num, 4, 19, repeatable=True),
        _int(Tag.dpf_result, 1),
        _int(Tag.set_dpf, 1),
        _int(Tag.ms_availability_status, 1),
        _octets(Tag.network_error_code, 3, 3),
        _octets(Tag.message_payload, 0, 0xFFFF),
        _int(Tag.delivery_failure_reason, 1),
        _int(Tag.more_messages_to_send, 1),
        _int(Tag.message_state, 1),
        _int(Tag.congestion_state, 1),  # SMPP 5.0 section 4.8.4.19
        # "Octet String" of 1 octet in 3.4, used as an integer everywhere (smpp34-facts.md [^ussd]).
        _int(Tag.ussd_service_op, 1),
        _int(Tag.display_time, 1),
        _int(Tag.sms_signal, 2),
        _int(Tag.ms_validity, 1),
        # Length 0 in 3.4; SMPP 5.0 section 4.8.4.2 allows one octet (0-3). Kept raw either way.
        TlvSpec(Tag.alert_on_message_delivery, TlvKind.FLAG, 0, 1),
        _int(Tag.its_reply_type, 1),
        _octets(Tag.its_session_info, 2, 2),
    )
}

_TL = Struct(">HH")


class TlvDecodeError(Exception):
    """Raised by :func:`decode_tlvs` with the command_status it calls for; the codec wraps it."""

    def __init__(self, status: CommandStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


# -- which TLVs each PDU defines -------------------------------------------------------------------------

_T = Tag
#: submit_multi's TLVs (SMPP 3.4 Table 4-12), and set_dpf: SMPP 5.0 section 4.2.4 lists it among the
#: message submission TLVs, and smsc honours it in submit_sm and submit_multi too (see smsc.core.smsc).
_SUBMIT_MULTI_TLVS = frozenset((
    _T.user_message_reference, _T.source_port, _T.source_addr_subunit, _T.destination_port,
    _T.dest_addr_subunit, _T.sar_msg_ref_num, _T.sar_total_segments, _T.sar_segment_seqnum, _T.payload_type,
    _T.message_payload, _T.privacy_indicator, _T.callback_num, _T.callback_num_pres_ind, _T.callback_num_atag,
    _T.source_subaddress, _T.dest_subaddress, _T.display_time, _T.sms_signal, _T.ms_validity,
    _T.ms_msg_wait_facilities, _T.alert_on_message_delivery, _T.language_indicator, _T.set_dpf,
))
#: submit_sm's TLVs (SMPP 3.4 Table 4-10): submit_multi's and six more.
_SUBMIT_SM_TLVS = _SUBMIT_MULTI_TLVS | {
    _T.more_messages_to_send, _T.user_response_code, _T.number_of_messages, _T.its_reply_type,
    _T.its_session_info, _T.ussd_service_op,
}
_BIND_RESP_TLVS = frozenset((_T.sc_interface_version,))  # SMPP 3.4 Tables 4-2, 4-4, 4-6

#: The TLVs each PDU defines, by command_id: those of its table in SMPP 3.4 chapter 4 (smpp34-facts.md
#: section 4.2, column "Carried in"), plus the SMPP 5.0 ones that smsc acts on in that PDU (set_dpf in
#: submit_sm and submit_multi; message_payload in replace_sm, SMPP 5.0 section 4.5.3.3).  A PDU missing here
#: defines none.  The decoder ignores the other known tags (SMPP 3.4 section 3.3): see :func:`decode_rows`.
TLVS_BY_COMMAND: dict[int, frozenset[Tag]] = {
    CommandId.bind_transmitter_resp: _BIND_RESP_TLVS,
    CommandId.bind_receiver_resp: _BIND_RESP_TLVS,
    CommandId.bind_transceiver_resp: _BIND_RESP_TLVS,
    CommandId.submit_sm: _SUBMIT_SM_TLVS,
    CommandId.submit_multi: _SUBMIT_MULTI_TLVS,
    CommandId.deliver_sm: frozenset((  # SMPP 3.4 Table 4-18
        _T.user_message_reference, _T.source_port, _T.destination_port, _T.sar_msg_ref_num,
        _T.sar_total_segments, _T.sar_segment_seqnum, _T.user_response_code, _T.privacy_indicator,
        _T.payload_type, _T.message_payload, _T.callback_num, _T.source_subaddress, _T.dest_subaddress,
        _T.language_indicator, _T.its_session_info, _T.network_error_code, _T.message_state,
        _T.receipted_message_id,
    )),
    CommandId.data_sm: frozenset((  # SMPP 3.4 Table 4-20
        _T.source_port, _T.source_addr_subunit, _T.source_network_type, _T.source_bearer_type,
        _T.source_telematics_id, _T.destination_port, _T.dest_addr_subunit, _T.dest_network_type,
        _T.dest_bearer_type, _T.dest_telematics_id, _T.sar_msg_ref_num, _T.sar_total_segments,
        _T.sar_segment_seqnum, _T.more_messages_to_send, _T.qos_time_to_live, _T.payload_type,
        _T.message_payload, _T.set_dpf, _T.receipted_message_id, _T.message_state, _T.network_error_code,
        _T.user_message_reference, _T.privacy_indicator, _T.callback_num, _T.callback_num_pres_ind,
        _T.callback_num_atag, _T.source_subaddress, _T.dest_subaddress, _T.user_response_code,
        _T.display_time, _T.sms_signal, _T.ms_validity, _T.ms_msg_wait_facilities, _T.number_of_messages,
        _T.alert_on_message_delivery, _T.language_indicator, _T.its_reply_type, _T.its_session_info,
    )),
    CommandId.data_sm_resp: frozenset((  # SMPP 3.4 Table 4-21
        _T.delivery_failure_reason, _T.network_error_code, _T.additional_status_info_text, _T.dpf_result,
    )),
    CommandId.replace_sm: frozenset((_T.message_payload,)),
    CommandId.alert_notification: frozenset((_T.ms_availability_status,)),  # SMPP 3.4 Table 4-30
}

# -- decoder -------------------------------------------------------------------------------------------

_INT, _CSTR, _RAW = 0, 1, 2
#: How a tag may occur, the last element of a decode row: once; repeated (the callback_num family, whose
#: counts decode_tlvs then compares); or at will, as a tag the PDU does not define, which is skipped rather
#: than refused when its length or value is wrong.
_ONCE, _REPEATS, _IGNORED = 0, 1, 2
_CALLBACK_COMPANIONS = (Tag.callback_num_pres_ind, Tag.callback_num_atag)

#: A decode row: (Tag member, kind code, min_len, max_len, size, occurrence code).
_Row = tuple[Tag, int, int, int, int, int]


def _row(spec: TlvSpec, defined: bool) -> _Row:
    kind = _INT if spec.kind is TlvKind.INT else _CSTR if spec.kind is TlvKind.CSTR else _RAW
    use = _IGNORED if not defined else _REPEATS if spec.repeatable else _ONCE
    return (spec.tag, kind, spec.min_len, spec.max_len, spec.size, use)


#: TLV_SPECS flattened for the decoder, every tag defined: for a TLV area read without a PDU's context.
_DECODE_ROWS: dict[int, _Row] = {tag: _row(spec, True) for tag, spec in TLV_SPECS.items()}


def decode_rows(command_id: int) -> Mapping[int, _Row]:
    """The table :func:`decode_tlvs` reads the TLVs of a ``command_id`` PDU with (build it once per PDU type).

    A tag the PDU defines (:data:`TLVS_BY_COMMAND`) is checked: a length outside its range, a C-Octet String
    without its NUL or a repeat where none is allowed refuses the PDU.  Any other known tag "shall be ignored"
    (SMPP 3.4 section 3.3: "If an Optional Parameter Tag is recognized but not expected for the particular
    SMPP operation, the optional parameter shall be ignored"): when it is well formed it is still typed and
    kept in ``tlvs`` (so the PDU is written back as it came; nothing reads it there), otherwise left out, and
    it may repeat.  Either way its octets must lie inside the PDU: the TLV area must still split into whole
    TLVs (SMPP 3.4 section 3.2.1.1).
    """
    defined = TLVS_BY_COMMAND.get(command_id, frozenset())
    return {tag: _row(spec, tag in defined) for tag, spec in TLV_SPECS.items()}


def _occurrences(value: Any) -> int:
    return 0 if value is None else len(value) if type(value) is list else 1


def _check_callback_counts(tlvs: dict[int, Any], rows: Mapping[int, _Row]) -> None:
    """Refuse a TLV area whose callback_num_pres_ind or callback_num_atag do not pair with its callback_num.

    SMPP 3.4 Tables 4-10, 4-12 and 4-20 say of each companion: "If this parameter is present and there are
    multiple instances of the callback_num parameter then this parameter must occur an equal number of
    instances and the order of occurrence determines the particular callback_num_pres_ind which corresponds
    to a particular callback_num."  Fewer than callback_num leaves some callback_num without the one the
    context requires: ESME_RMISSINGOPTPARAM (section 3.3: a TLV "required in the context of the operation"
    that "is not present" gets "Expected Optional Parameter missing").  More, or several beside a single
    callback_num, pair with nothing: ESME_RINVOPTPARSTREAM, as any TLV repeated where it may not be.
    Absent, a companion is fine.  A companion the PDU does not define is not looked at (it is ignored).
    """
    numbers = _occurrences(tlvs.get(Tag.callback_num))
    for tag in _CALLBACK_COMPANIONS:
        row = rows.get(tag)
        count = _occurrences(tlvs.get(tag))
        if row is None or row[5] != _REPEATS or not count or count == numbers or (count == 1 and numbers < 2):
            continue
        if count < numbers:
            raise TlvDecodeError(
                CommandStatus.ESME_RMISSINGOPTPARAM,
                f"{numbers} callback_num but only {count} {tag.name}: a repeated callback_num needs one "
                f"{tag.name} each, in the same order (SMPP 3.4 Tables 4-10, 4-12, 4-20)",
            )
        raise TlvDecodeError(
            CommandStatus.ESME_RINVOPTPARSTREAM,
            f"{count} {tag.name} but {numbers} callback_num: each {tag.name} goes with one callback_num, "
            f"in the same order (SMPP 3.4 Tables 4-10, 4-12, 4-20)",
        )


def decode_tlvs(buf: bytes, pos: int, end: int, rows: Mapping[int, _Row] = _DECODE_ROWS) -> dict[int, Any]:
    """Decode the TLV area ``buf[pos:end]`` into a ``{tag: value}`` dict in wire order.

    ``buf`` must be ``bytes`` (values are slices of it).  ``rows`` is the PDU's :func:`decode_rows`; by
    default every known tag counts as defined.  Known tags are keyed by their
    :class:`~smsc.smpp.constants.Tag` member and typed per :data:`TLV_SPECS`; unknown tags by ``int`` with
    raw ``bytes`` values.  Raises :class:`TlvDecodeError` with ESME_RINVOPTPARSTREAM when the area does not
    split into whole TLVs or a defined tag that may not repeat appears twice, ESME_RINVPARLEN when a defined
    TLV's length is outside its range, ESME_RINVOPTPARAMVAL when a defined C-Octet String TLV lacks its NUL
    (SMPP 3.4 sections 3.2.1.1, 5.3.1; smpp34-facts.md section 9 row 19), and as
    :func:`_check_callback_counts` says when the callback_num family repeats with unequal counts.  A known tag
    the PDU does not define is never refused (:func:`decode_rows`).
    """
    tlvs: dict[int, Any] = {}
    unpack = _TL.unpack_from
    value: Any
    repeated = False
    while pos < end:
        if end - pos < 4:
            raise TlvDecodeError(
                CommandStatus.ESME_RINVOPTPARSTREAM,
                f"{end - pos} stray octets where a TLV header (4 octets) should be",
            )
        tag, length = unpack(buf, pos)
        start = pos + 4
        pos = start + length
        if pos > end:
            raise TlvDecodeError(
                CommandStatus.ESME_RINVOPTPARSTREAM,
                f"TLV 0x{tag:04X} claims {length} octets, only {end - start} left in the PDU",
            )
        row = rows.get(tag)
        if row is None:
            value = buf[start:pos]
            use = _IGNORED
        else:
            tag, kind, low, high, size, use = row
            if length < low or length > high:
                if use == _IGNORED:
                    continue
                raise TlvDecodeError(
                    CommandStatus.ESME_RINVPARLEN,
                    f"TLV {tag.name} has length {length}, expected {low}..{high} octets",
                )
            if kind == _INT:
                if length == 1:
                    value = buf[start]
                elif length == 2:
                    value = (buf[start] << 8) | buf[start + 1]
                else:
                    value = int.from_bytes(buf[start:pos], "big")
                if length != size:
                    value = SizedInt(value, length)
            elif kind == _CSTR:
                if buf[pos - 1] != 0:
                    if use == _IGNORED:
                        continue
                    raise TlvDecodeError(
                        CommandStatus.ESME_RINVOPTPARAMVAL,
                        f"TLV {tag.name} is not a C-Octet String (no terminating NUL)",
                    )
                if buf.find(0, start, pos - 1) >= 0:
                    if use == _IGNORED:
                        continue
                    raise TlvDecodeError(
                        CommandStatus.ESME_RINVOPTPARAMVAL,
                        f"TLV {tag.name} holds a NUL before its end (a C-Octet String has one NUL, last)",
                    )
                value = buf[start : pos - 1].decode("latin-1")
            else:
                value = buf[start:pos]
        if tag in tlvs:
            if use == _ONCE:
                raise TlvDecodeError(CommandStatus.ESME_RINVOPTPARSTREAM, f"TLV {tag.name} appears twice")
            if use == _REPEATS:
                repeated = True
            previous = tlvs[tag]
            if type(previous) is list:
                previous.append(value)
            else:
                tlvs[tag] = [previous, value]
        else:
            tlvs[tag] = value
    if repeated:
        _check_callback_counts(tlvs, rows)
    return tlvs


def encode_tlv(tag: int, value: Any) -> bytes:
    """One TLV on the wire: tag, length, value (SMPP 3.4 section 3.2.1.1).

    ``value`` is typed as :data:`TLV_SPECS` says for a known tag (an ``INT`` may be a :class:`SizedInt`;
    a ``CSTR`` gets its NUL appended), raw ``bytes`` for an unknown tag.  A list writes the tag once per
    element.  Raises ``ValueError`` when a value does not fit its tag (out of range, too long, a NUL inside a
    C-Octet String) and ``TypeError`` when it has the wrong type: both are programming errors of the caller.
    """
    if type(value) is list:
        return b"".join([encode_tlv(tag, item) for item in value])
    if not 0 <= tag <= 0xFFFF:
        raise ValueError(f"TLV tag {tag!r} is outside 0..0xFFFF")
    spec = TLV_SPECS.get(tag)
    if spec is None:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError(f"unknown TLV 0x{tag:04X} needs a bytes value, got {type(value).__name__}")
        raw = bytes(value)
    elif spec.kind is TlvKind.INT:
        if not isinstance(value, int):
            raise TypeError(f"TLV {spec.name} needs an int, got {type(value).__name__}")
        size = value.size if type(value) is SizedInt else spec.size
        if not spec.min_len <= size <= spec.max_len:
            raise ValueError(f"TLV {spec.name} cannot be {size} octets wide")
        if not 0 <= value < 1 << (8 * size):
            raise ValueError(f"TLV {spec.name} value {int(value)} does not fit {size} octet(s)")
        raw = int(value).to_bytes(size, "big")
    else:
        if spec.kind is TlvKind.CSTR:
            if not isinstance(value, str):
                raise TypeError(f"TLV {spec.name} needs a str, got {type(value).__name__}")
            raw = value.encode("latin-1") + b"\0"
            if b"\0" in raw[:-1]:
                raise ValueError(f"TLV {spec.name} contains a NUL character")
        else:
            if not isinstance(value, (bytes, bytearray, memoryview)):
                raise TypeError(f"TLV {spec.name} needs bytes, got {type(value).__name__}")
            raw = bytes(value)
        if not spec.min_len <= len(raw) <= spec.max_len:
            raise ValueError(
                f"TLV {spec.name} value of {len(raw)} octets is outside {spec.min_len}..{spec.max_len}"
            )
    if len(raw) > 0xFFFF:
        raise ValueError(f"TLV 0x{tag:04X} value of {len(raw)} octets exceeds 65535")
    return _TL.pack(tag, len(raw)) + raw


def _fast_encoder(spec: TlvSpec) -> Callable[[Any], bytes]:
    """A one-tag encoder for the common case (plain int / str / bytes); anything else goes to encode_tlv."""
    tag = int(spec.tag)
    kind = spec.kind
    if kind is TlvKind.INT and spec.size == 1:
        head1 = _TL.pack(tag, 1)
        table: list[bytes] = []  # the 256 possible TLVs, built on first use

        def encode_octet(value: Any) -> bytes:
            # IntEnum members (MessageState.DELIVERED) take this path too; SizedInt and odd types do not.
            if type(value) is int or (isinstance(value, int) and type(value) is not SizedInt):
                if 0 <= value < 256:
                    if not table:
                        table.extend(head1 + bytes((i,)) for i in range(256))
                    return table[value]
            return encode_tlv(tag, value)

        return encode_octet
    if kind is TlvKind.INT:
        size = spec.size
        head = _TL.pack(tag, size)
        limit = 1 << (8 * size)

        def encode_int(value: Any) -> bytes:
            if type(value) is int and 0 <= value < limit:
                return head + value.to_bytes(size, "big")
            return encode_tlv(tag, value)

        return encode_int
    low, high = spec.min_len, spec.max_len
    pack = _TL.pack
    if kind is TlvKind.CSTR:

        def encode_cstr(value: Any) -> bytes:
            if type(value) is str:
                raw = value.encode("latin-1")
                n = len(raw) + 1
                if low <= n <= high and b"\0" not in raw:
                    return pack(tag, n) + raw + b"\0"
            return encode_tlv(tag, value)

        return encode_cstr

    def encode_octets(value: Any) -> bytes:
        if type(value) is bytes and low <= len(value) <= high:
            return pack(tag, len(value)) + value
        return encode_tlv(tag, value)

    return encode_octets


_FAST_ENCODERS: dict[int, Callable[[Any], bytes]] = {
    tag: _fast_encoder(spec) for tag, spec in TLV_SPECS.items()
}


def encode_tlvs(tlvs: dict[int, Any]) -> bytes:
    """The TLV area for a ``tlvs`` dict, in its iteration order (see :func:`encode_tlv` for errors)."""
    fast = _FAST_ENCODERS
    out = b""  # a few TLVs at most, as a rule: concatenation beats a list and a join
    for tag, value in tlvs.items():
        enc = fast.get(tag)
        out += encode_tlv(tag, value) if enc is None else enc(value)
    return out
