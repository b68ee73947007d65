"""Field checks an SMSC makes on submit_sm, data_sm, submit_multi and replace_sm before accepting them.

The codec already enforces sizes and framing; these are the value rules of SMPP 3.4 chapter 5 that a real
SMSC answers with a specific command_status rather than silently accepting: TON/NPI outside the defined
values, esm_class bits an ESME may not set, reserved registered_delivery bits, priority_flag above 3, a
canned message (sm_default_msg_id) that does not exist.  replace_sm carries new values of fields a submit_sm
carries: they obey the same rules (:func:`check_message_fields`, :func:`check_udh`).
"""

from __future__ import annotations

from typing import Any

from smsc.smpp import pdu as P
from smsc.smpp.constants import (
    ESM_MODE_MASK,
    ESM_TYPE_MASK,
    CommandStatus,
    EsmClass,
    Npi,
    Tag,
    Ton,
)
from smsc.smpp.text import (
    MAX_PARTS,
    MIN_SEGMENT_ROOM,
    PAYLOAD_OCTETS_ALWAYS_SEGMENTABLE,
    fits_one_sms,
    one_sms_room,
    one_sms_units,
    parse_udh,
    parts_needed,
    segment_room,
    sms_count,
)

_TONS = frozenset(int(t) for t in Ton)
_NPIS = frozenset(int(n) for n in Npi)
#: Message types an ESME may set in esm_class bits 5-2 (SMPP 3.4 section 5.2.12): default, delivery
#: acknowledgement, manual/user acknowledgement.
_ESME_MESSAGE_TYPES = frozenset({0x00, 0x08, 0x10})
_REGISTERED_DELIVERY_RESERVED = 0xE0
#: Characters of submit_multi's destination_addr (SMPP 3.4 section 4.5.1: C-Octet String, 21 octets with NUL).
MAX_SME_ADDRESS = 20
_UDHI = int(EsmClass.UDHI)
_SAR_MSG_REF_NUM = int(Tag.sar_msg_ref_num)
_SAR_TOTAL_SEGMENTS = int(Tag.sar_total_segments)
_SAR_SEGMENT_SEQNUM = int(Tag.sar_segment_seqnum)
_SOURCE_PORT = int(Tag.source_port)
_DESTINATION_PORT = int(Tag.destination_port)
#: The UDH an SMSC writes on the air for source_port / destination_port TLVs: UDHL and an application port
#: addressing element with 16-bit ports (IEI 0x05, 4 octets: 3GPP 23.040 section 9.2.3.24.4), as SMPP's ports
#: are 16-bit values (SMPP 3.4 sections 5.3.2.20-21).
PORT_HEADER_OCTETS = 7
#: Read once: an Enum class attribute costs about 0.1 us in CPython 3.11 (a global: 7 ns), once per submit here.
_ROK = CommandStatus.ESME_ROK


def check_submit(pdu: P.SubmitSm | P.DataSm | P.SubmitMulti) -> int:
    """The status to refuse ``pdu`` with, or ESME_ROK (0) when its field values are acceptable.

    Rules (SMPP 3.4): source TON/NPI (sections 5.2.5, 5.2.6) -> ESME_RINVSRCTON / ESME_RINVSRCNPI;
    destination TON/NPI -> ESME_RINVDSTTON / ESME_RINVDSTNPI (not for submit_multi, whose SME addresses are
    checked one by one: :func:`check_sme_address`); esm_class (5.2.12): a message type other than default /
    delivery ack / user ack, or the transaction mode (2) outside data_sm -> ESME_RINVESMCLASS;
    registered_delivery and sm_default_msg_id as :func:`check_message_fields` (data_sm has no
    sm_default_msg_id); priority_flag (5.2.14) above 3 -> ESME_RINVPRTFLG.
    """
    if pdu.source_addr_ton not in _TONS:
        return CommandStatus.ESME_RINVSRCTON
    if pdu.source_addr_npi not in _NPIS:
        return CommandStatus.ESME_RINVSRCNPI
    if type(pdu) is not P.SubmitMulti:
        if pdu.dest_addr_ton not in _TONS:  # type: ignore[union-attr]
            return CommandStatus.ESME_RINVDSTTON
        if pdu.dest_addr_npi not in _NPIS:  # type: ignore[union-attr]
            return CommandStatus.ESME_RINVDSTNPI
    esm = pdu.esm_class
    if esm & ESM_TYPE_MASK not in _ESME_MESSAGE_TYPES:
        return CommandStatus.ESME_RINVESMCLASS
    # (check_message_fields is called only when it has something to refuse: a call per submit costs ~0.5 %
    # of the server's instructions per message)
    if type(pdu) is P.DataSm:  # (the transaction mode is allowed here)
        if pdu.registered_delivery & _REGISTERED_DELIVERY_RESERVED:
            return check_message_fields(pdu.registered_delivery, 0)
        return _ROK
    if esm & ESM_MODE_MASK == 0x02:
        return CommandStatus.ESME_RINVESMCLASS
    if pdu.registered_delivery & _REGISTERED_DELIVERY_RESERVED or pdu.sm_default_msg_id:  # type: ignore[union-attr]
        return check_message_fields(pdu.registered_delivery, pdu.sm_default_msg_id)  # type: ignore[union-attr]
    if pdu.priority_flag > 3:  # type: ignore[union-attr]
        return CommandStatus.ESME_RINVPRTFLG
    return _ROK


def check_message_fields(registered_delivery: int, sm_default_msg_id: int) -> int:
    """The status to refuse the message fields that submit_sm, submit_multi and replace_sm share with, or
    ESME_ROK: registered_delivery (SMPP 3.4 section 5.2.17) with a reserved bit 7-5 set -> ESME_RINVREGDLVFLG;
    sm_default_msg_id (section 5.2.20) other than 0 -> ESME_RINVDFTMSGID: 1 to 254 name canned messages
    provisioned on the SMSC, and this one has none (255 is reserved)."""
    if registered_delivery & _REGISTERED_DELIVERY_RESERVED:
        return CommandStatus.ESME_RINVREGDLVFLG
    if sm_default_msg_id:
        return CommandStatus.ESME_RINVDFTMSGID
    return _ROK


def check_replace(pdu: P.ReplaceSm) -> int:
    """The status to refuse replace_sm's new field values with, or ESME_ROK: the rules submit_sm's same fields
    obey (:func:`check_message_fields`).  Its new short_message is checked against the UDH indicator of the
    message it replaces (:func:`check_udh`), which only the core knows."""
    return check_message_fields(pdu.registered_delivery, pdu.sm_default_msg_id)


def check_sme_address(ton: int, npi: int, addr: str) -> int:
    """The status to refuse one SME address of submit_multi with, or ESME_ROK: TON / NPI outside the values
    of SMPP 3.4 sections 5.2.5 and 5.2.6 -> ESME_RINVDSTTON / ESME_RINVDSTNPI; an address longer than 20
    characters (section 4.5.1: destination_addr is a C-Octet String of at most 21 octets) ->
    ESME_RINVDSTADR.  Such a destination goes into submit_multi_resp's unsuccess_sme list with that status
    (section 4.5.2), the others are still accepted."""
    if ton not in _TONS:
        return CommandStatus.ESME_RINVDSTTON
    if npi not in _NPIS:
        return CommandStatus.ESME_RINVDSTNPI
    if len(addr) > MAX_SME_ADDRESS:
        return CommandStatus.ESME_RINVDSTADR
    return _ROK


def check_sar(tlvs: dict[int, Any], esm_class: int) -> int:
    """The status to refuse a submit's SAR TLVs with, or ESME_ROK (0); call it when ``tlvs`` holds any of them.

    * together with a UDH (esm_class UDHI): ESME_RINVOPTPARAMVAL (SMPP 3.4 section 5.2.12 forbids the mix);
    * one or two of sar_msg_ref_num, sar_total_segments, sar_segment_seqnum: ESME_RMISSINGOPTPARAM (sections
      5.3.2.22 to 5.3.2.24: "when present, the PDU must also contain" the other two; the same sections go on
      "otherwise this parameter shall be ignored", but a segment that cannot be placed is better refused than
      delivered as a whole message the ESME did not write);
    * sar_total_segments or sar_segment_seqnum 0, or the sequence number above the total: ESME_RINVOPTPARAMVAL
      (both are 1 to 255, the sequence number counting from 1 up to the total).
    """
    if esm_class & _UDHI:
        return CommandStatus.ESME_RINVOPTPARAMVAL
    total = tlvs.get(_SAR_TOTAL_SEGMENTS)
    seqnum = tlvs.get(_SAR_SEGMENT_SEQNUM)
    if total is None or seqnum is None or _SAR_MSG_REF_NUM not in tlvs:
        return CommandStatus.ESME_RMISSINGOPTPARAM
    if not total or not seqnum or seqnum > total:
        return CommandStatus.ESME_RINVOPTPARAMVAL
    return _ROK


def check_udh(user_data: bytes) -> int:
    """The status to refuse user data announced as starting with a UDH (esm_class UDHI) with, or ESME_ROK.

    The UDH is its length octet UDHL and UDHL octets (GSM 03.40 section 9.2.3.24); when the user data is
    shorter than that (or empty), ESME_RINVMSGLEN: the length of the message is what is inconsistent (as for an
    sm_length that disagrees with the octets present), not the esm_class value, which is a valid one.
    """
    if not user_data or user_data[0] + 1 > len(user_data):
        return CommandStatus.ESME_RINVMSGLEN
    return _ROK


def port_header_octets(esm_class: int, tlvs: Any) -> int:
    """Octets of the UDH the SMSC writes on the air for the request's source_port / destination_port TLVs
    (:data:`PORT_HEADER_OCTETS`, UDHL included), or 0: no port TLV, or a UDH of the ESME's own (esm_class UDHI;
    ports with it are refused ESME_RINVOPTPARAMVAL).  Tester 153: 140 octets with port TLVs passed as one SMS
    where the same ports in the ESME's own UDH left room for 133."""
    if tlvs and not esm_class & _UDHI and (_SOURCE_PORT in tlvs or _DESTINATION_PORT in tlvs):
        return PORT_HEADER_OCTETS
    return 0


def _sar_segment(tlvs: Any) -> bool:
    """The request's SAR TLVs number a segment of two or more: the SMSC puts a concatenation element in front of
    it (a segment "1 of 1" goes out as one SMS, without a header: tester 55 saw 160 characters refused)."""
    return bool(tlvs) and _SAR_MSG_REF_NUM in tlvs and tlvs.get(_SAR_TOTAL_SEGMENTS, 0) > 1


def on_the_air(short_message: bytes, esm_class: int, tlvs: Any) -> tuple[bytes, int]:
    """``short_message`` with the header it has on the air, and that header's length in octets: its own UDH
    (esm_class UDHI, a whole UDH already checked: :func:`check_udh`); or the header the SMSC puts in front of it:
    for port TLVs the port addressing element (:func:`port_header_octets`), for a segment of SAR TLVs of two or
    more a concatenation element (6 octets with the UDHL, 3GPP 23.040 section 9.2.3.24.1; 7 for a sar_msg_ref_num
    above 255, which only the 16-bit reference element of section 9.2.3.24.8 holds: tester 176 saw such a segment
    given the 8-bit element's room where the same segment numbered by the ESME's own 16-bit UDH was refused),
    both for both."""
    if esm_class & _UDHI:
        return short_message, short_message[0] + 1
    header = port_header_octets(esm_class, tlvs)
    if _sar_segment(tlvs):
        element = 6 if tlvs[_SAR_MSG_REF_NUM] > 0xFF else 5  # (IEI, IEDL, reference of 1 or 2 octets, total, seq)
        header = header + element if header else element + 1
    return (bytes(header) + short_message, header) if header else (short_message, 0)


def payload_too_many_parts(payload: bytes, data_coding: int, esm_class: int, tlvs: Any = None) -> int:
    """The SMS a message_payload needs when that is more than a concatenated message can have
    (:data:`~smsc.smpp.text.MAX_PARTS`), else 0: its own UDH (esm_class UDHI, whole: :func:`check_udh`), or the
    port addressing element the SMSC writes for port TLVs (:func:`port_header_octets`), leaves less room in each
    part (tester 109: a ports UDH and 34,000 octets, 266 SMS, were accepted; tester 153: the same with port
    TLVs).  Otherwise only a payload over :data:`~smsc.smpp.text.PAYLOAD_OCTETS_ALWAYS_SEGMENTABLE` octets is
    counted (the hot path pays one comparison)."""
    ports = port_header_octets(esm_class, tlvs)
    if esm_class & _UDHI and payload:
        parts = sms_count(payload, data_coding, payload[0] + 1)
    elif ports:
        parts = sms_count(bytes(ports) + payload, data_coding, ports)
    elif len(payload) > PAYLOAD_OCTETS_ALWAYS_SEGMENTABLE:
        parts = parts_needed(payload, data_coding)
    else:
        return 0
    return parts if parts > MAX_PARTS else 0


def payload_unsendable(payload: bytes, data_coding: int, esm_class: int, tlvs: Any) -> str:
    """Why no network could carry a message_payload (answered ESME_RINVMSGLEN), or "" when one could.  The
    payload's UDH (esm_class UDHI) was checked whole already (:func:`check_udh`); ``tlvs`` are the request's.

    * A part the ESME cut itself, numbered by a concatenation element in its UDH or by SAR TLVs of two or more
      segments, longer than one SMS: concatenation does not nest (3GPP 23.040 section 9.2.3.24.1: one element
      numbers the part), so the SMSC cannot segment it again (tester 100: a payload "part 1 of 2" of 200 septets
      was accepted, the same short_message refused; tester 106: and one numbered by SAR TLVs).
    * A UDH so long that the parts of its segmentation would have no room for user data (tester 106: a
      135-octet UDH was accepted, and its record then broke the API's listing).
    A UDH whose element runs past UDHL numbers nothing that can be read (tester 103: the error escaped and closed
    the connection): only its length counts."""
    if esm_class & _UDHI and payload:
        udh_octets = payload[0] + 1
        if fits_one_sms(payload, data_coding, udh_octets):
            return ""
        try:
            concat = parse_udh(payload)[0].concat
        except ValueError:
            concat = None
        room, unit = one_sms_room(data_coding, udh_octets)
        if concat is not None:
            return (f"message_payload starts with a concatenation UDH (a part the ESME cut itself, which the SMSC "
                    f"cannot segment again) and holds {one_sms_units(payload, data_coding, udh_octets)} {unit} "
                    f"(data_coding 0x{data_coding:02X}) after it: one SMS holds {room} {unit}")
        if segment_room(data_coding, udh_octets) < MIN_SEGMENT_ROOM:
            return (f"message_payload's UDH of {udh_octets} octets leaves no room for user data in the parts of a "
                    f"concatenated message (data_coding 0x{data_coding:02X}): no network can carry it")
        return ""
    if not payload or not _sar_segment(tlvs):  # (a payload with port TLVs alone is segmented: any length)
        return ""
    on_air, header = on_the_air(payload, esm_class, tlvs)  # (no UDH here: SAR segments get their header)
    if not fits_one_sms(on_air, data_coding, header):
        room, unit = one_sms_room(data_coding, header)
        return (f"message_payload numbered by SAR TLVs (a part the ESME cut itself, which the SMSC cannot "
                f"segment again) holds {one_sms_units(on_air, data_coding, header)} {unit} (data_coding "
                f"0x{data_coding:02X}): one SMS holds {room} {unit} after the concatenation header")
    return ""


def short_message_fits_one_sms(short_message: bytes, data_coding: int, esm_class: int, tlvs: Any) -> bool:
    """:func:`~smsc.smpp.text.fits_one_sms` for a submit_sm's or replace_sm's short_message, with the header it
    has on the air (:func:`on_the_air`)."""
    on_air, udh = on_the_air(short_message, esm_class, tlvs)
    return fits_one_sms(on_air, data_coding, udh)


def _values(allowed: frozenset[int]) -> str:
    return ", ".join(str(v) for v in sorted(allowed))


def refusal_reason(pdu: Any, status: int) -> str:
    """Why a submit_sm, data_sm, submit_multi or replace_sm gets ``status``, naming the field and the value at
    fault, for the log line that answers an ESME developer's "why 0x0000000A?" (tester 50: the log said
    nothing).  Read back from the PDU after the decision, so it costs nothing on the accepted path.  "" for a
    status that no field of the PDU explains (a carrier rule's, a full queue: the caller says those)."""
    s = CommandStatus
    if status == s.ESME_RINVSRCTON:
        return f"source_addr_ton {pdu.source_addr_ton}: expected one of {_values(_TONS)} (SMPP 3.4 section 5.2.5)"
    if status == s.ESME_RINVSRCNPI:
        return f"source_addr_npi {pdu.source_addr_npi}: expected one of {_values(_NPIS)} (SMPP 3.4 section 5.2.6)"
    if status == s.ESME_RINVDSTTON and hasattr(pdu, "dest_addr_ton"):
        return f"dest_addr_ton {pdu.dest_addr_ton}: expected one of {_values(_TONS)} (SMPP 3.4 section 5.2.5)"
    if status == s.ESME_RINVDSTNPI and hasattr(pdu, "dest_addr_npi"):
        return f"dest_addr_npi {pdu.dest_addr_npi}: expected one of {_values(_NPIS)} (SMPP 3.4 section 5.2.6)"
    if status == s.ESME_RINVESMCLASS:
        return (f"esm_class 0x{pdu.esm_class:02X}: an ESME may set message type (bits 5-2) 0, 2 or 4 only, and the "
                f"transaction mode (bits 1-0 = 2) in data_sm only (SMPP 3.4 section 5.2.12)")
    if status == s.ESME_RINVREGDLVFLG:
        return f"registered_delivery 0x{pdu.registered_delivery:02X}: bits 7-5 are reserved (SMPP 3.4 section 5.2.17)"
    if status == s.ESME_RINVDFTMSGID:
        return (f"sm_default_msg_id {pdu.sm_default_msg_id}: no canned message is provisioned, expected 0 "
                f"(SMPP 3.4 section 5.2.20)")
    if status == s.ESME_RINVPRTFLG:
        return f"priority_flag {pdu.priority_flag}: expected 0-3 (SMPP 3.4 section 5.2.14)"
    if status == s.ESME_RINVREPFLAG:
        if isinstance(pdu, P.SubmitMulti):
            return f"replace_if_present_flag {pdu.replace_if_present_flag}: reserved in submit_multi, expected 0"
        return f"replace_if_present_flag {pdu.replace_if_present_flag}: expected 0 or 1 (SMPP 3.4 section 5.2.18)"
    if status == s.ESME_RINVSCHED:
        # (tester 87: a well-formed schedule 15 days ahead read "not a time of section 7.1", and the rule at
        # fault, simulation.max_schedule, went unnamed)
        why = ("not a time of SMPP 3.4 section 7.1 (YYMMDDhhmmsstnnp, or relative ...R), or further ahead than "
               "simulation.max_schedule (14 days unless configured)")
        if isinstance(pdu, P.ReplaceSm):
            why += ", or not before the message's validity end"
        return f"schedule_delivery_time {pdu.schedule_delivery_time!r}: {why}"
    if status == s.ESME_RINVEXPIRY:
        # (a validity beyond simulation.max_validity is clamped to it, never refused: tester 157)
        why = "not a time of SMPP 3.4 section 7.1, or ending before the message could be attempted"
        if isinstance(pdu, P.ReplaceSm):
            why += " (now, or at the schedule in force)"
        return f"validity_period {pdu.validity_period!r}: {why}"
    if status == s.ESME_RINVDSTADR and hasattr(pdu, "destination_addr"):
        address = pdu.destination_addr
        if pdu.dest_addr_ton == 1 and address.startswith("0") and not address.startswith("00"):
            # (tester 128: "07700900123" as TON 1 was said not to be 7-15 digits, naming no cause)
            return (f"destination_addr {address!r} (TON 1, international, NPI {pdu.dest_addr_npi}): a national "
                    f"number (leading 0) given as international; send it with TON 2 (national), or in international "
                    f"form with its country code and no leading 0")
        return (f"destination_addr {address!r} (TON {pdu.dest_addr_ton}, NPI {pdu.dest_addr_npi}): "
                f"not a mobile number of 7-15 digits once read as E.164")
    if status == s.ESME_RMISSINGOPTPARAM:
        return "sar_msg_ref_num, sar_total_segments and sar_segment_seqnum come all three or not at all"
    if status == s.ESME_RINVOPTPARAMVAL:
        tlvs = getattr(pdu, "tlvs", None) or {}
        if _SAR_MSG_REF_NUM in tlvs and getattr(pdu, "esm_class", 0) & _UDHI:
            return "SAR TLVs and a UDH (esm_class UDHI) both given: a segment is numbered one way only"
        if (Tag.source_port in tlvs or Tag.destination_port in tlvs) and getattr(pdu, "esm_class", 0) & _UDHI:
            return ("source_port or destination_port with a UDH (esm_class UDHI): the ports then go in the UDH "
                    "(SMPP 3.4 section 5.2.12)")
        return ("a TLV's value is out of range (sar_total_segments or sar_segment_seqnum 0, or the seqnum above "
                "the total)")
    if status == s.ESME_RINVMSGLEN:
        short_message = getattr(pdu, "short_message", b"")
        tlvs = getattr(pdu, "tlvs", None) or {}
        if short_message and Tag.message_payload in tlvs:
            return ("short_message and message_payload both given: the text is one or the other "
                    "(SMPP 3.4 section 5.3.2.32)")
        if isinstance(pdu, P.ReplaceSm):  # (the message's own data_coding and esm_class, which only the core has)
            payload = tlvs.get(Tag.message_payload)
            if isinstance(payload, bytes):  # (tester 112: the reason spoke of a short_message of 0 octets)
                return (f"the new message_payload of {len(payload):,} octets does not start with the UDH the "
                        f"message's esm_class announces, or no network could carry it in the message's data_coding "
                        f"(more than {MAX_PARTS} SMS, a part the ESME cut itself longer than one SMS, or a UDH "
                        f"that leaves no room)")
            return (f"the new short_message of {len(short_message)} octets does not start with the UDH the message's "
                    f"esm_class announces, or is more than one SMS holds in its data_coding")
        if getattr(pdu, "esm_class", 0) & _UDHI and check_udh(short_message or tlvs.get(Tag.message_payload, b"")):
            return "esm_class sets UDHI but the user data does not start with a whole UDH (SMPP 3.4 section 5.2.12)"
        payload = tlvs.get(Tag.message_payload)
        if isinstance(payload, bytes):
            unsendable = payload_unsendable(payload, getattr(pdu, "data_coding", 0), getattr(pdu, "esm_class", 0),
                                            tlvs)
            if unsendable:
                return unsendable
        if isinstance(payload, bytes) and not short_message:
            parts = payload_too_many_parts(payload, getattr(pdu, "data_coding", 0), getattr(pdu, "esm_class", 0),
                                           tlvs)
            if parts:
                return (f"message_payload of {len(payload):,} octets needs {parts} SMS in data_coding "
                        f"0x{getattr(pdu, 'data_coding', 0):02X}: a concatenated message has at most {MAX_PARTS} "
                        f"parts (3GPP TS 23.040 section 9.2.3.24.1)")
        data_coding = getattr(pdu, "data_coding", 0)
        on_air, udh = on_the_air(short_message, getattr(pdu, "esm_class", 0), tlvs)
        room, unit = one_sms_room(data_coding, udh)
        if not udh:
            header = ""
        elif getattr(pdu, "esm_class", 0) & _UDHI:
            header = f" after its {udh}-octet UDH"
        elif not port_header_octets(getattr(pdu, "esm_class", 0), tlvs):
            header = f" after the {udh}-octet concatenation header the SMSC adds to a SAR segment"
        elif udh == PORT_HEADER_OCTETS:
            header = f" after the {udh}-octet port addressing header the SMSC writes for its port TLVs"
        else:
            header = (f" after the {udh}-octet header the SMSC writes for its port TLVs and its SAR segment "
                      f"number")
        return (f"short_message of {one_sms_units(on_air, data_coding, udh)} {unit} (data_coding "
                f"0x{data_coding:02X}) is more than one SMS holds{header}: {room} {unit}; split it, or send "
                f"message_payload (server.oversized_short_message: accept takes it)")
    return ""
