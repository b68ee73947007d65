"""SMPP 3.4 PDUs as plain value objects, one class per command_id.

Every field carries the name the specification gives it (SMPP 3.4 chapter 4).  C-Octet Strings are
``str`` (decoded as Latin-1 so that any octet survives a round trip), Octet Strings are ``bytes``,
integers are ``int``.  ``sm_length`` and ``number_of_dests``/``no_unsuccess`` are not stored: the codec
derives them from ``short_message`` and the lists.

Optional parameters live in ``tlvs``: a dict from tag (an ``int``, a :class:`~smsc.smpp.constants.Tag`
where known) to a typed value (``int`` for integer TLVs, ``str`` for C-Octet String TLVs, ``bytes`` for
octet strings, unknown tags and zero-length flags).  A tag that appears several times in one PDU (only
``callback_num`` may) holds a ``list`` of values.  Insertion order is wire order.

The classes are ``slots`` dataclasses with keyword-only fields; they are mutable on purpose, because
building a frozen dataclass costs twice as much on the hot path (the design document asks for frozen ones;
see the note in ``../design.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from smsc.smpp.constants import CommandId, DestFlag, SMPP_VERSION_34

TlvMap = dict[int, Any]


@dataclass(slots=True, kw_only=True)
class Pdu:
    """Fields every PDU has: the header's command_status and sequence_number, and the TLVs."""

    command_id: ClassVar[CommandId]
    sequence_number: int = 0
    command_status: int = 0
    tlvs: TlvMap = field(default_factory=dict)

    @property
    def is_response(self) -> bool:
        """True for a *_resp or generic_nack (bit 31 of command_id)."""
        return self.command_id.is_response


# -- session management (SMPP 3.4 sections 4.1, 4.2, 4.3, 4.11) ---------------------------------


@dataclass(slots=True, kw_only=True)
class _Bind(Pdu):
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = SMPP_VERSION_34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(slots=True, kw_only=True)
class BindTransmitter(_Bind):
    """bind_transmitter (SMPP 3.4 section 4.1.1)."""

    command_id = CommandId.bind_transmitter


@dataclass(slots=True, kw_only=True)
class BindReceiver(_Bind):
    """bind_receiver (SMPP 3.4 section 4.1.3)."""

    command_id = CommandId.bind_receiver


@dataclass(slots=True, kw_only=True)
class BindTransceiver(_Bind):
    """bind_transceiver (SMPP 3.4 section 4.1.5)."""

    command_id = CommandId.bind_transceiver


@dataclass(slots=True, kw_only=True)
class _BindResp(Pdu):
    #: The SMSC's identity; the body is omitted on the wire when command_status is not 0.
    system_id: str = ""


@dataclass(slots=True, kw_only=True)
class BindTransmitterResp(_BindResp):
    """bind_transmitter_resp (SMPP 3.4 section 4.1.2)."""

    command_id = CommandId.bind_transmitter_resp


@dataclass(slots=True, kw_only=True)
class BindReceiverResp(_BindResp):
    """bind_receiver_resp (SMPP 3.4 section 4.1.4)."""

    command_id = CommandId.bind_receiver_resp


@dataclass(slots=True, kw_only=True)
class BindTransceiverResp(_BindResp):
    """bind_transceiver_resp (SMPP 3.4 section 4.1.6)."""

    command_id = CommandId.bind_transceiver_resp


@dataclass(slots=True, kw_only=True)
class Outbind(Pdu):
    """outbind (SMPP 3.4 section 4.1.7): the SMSC asks an ESME to bind as receiver. No response."""

    command_id = CommandId.outbind
    system_id: str = ""
    password: str = ""


@dataclass(slots=True, kw_only=True)
class Unbind(Pdu):
    """unbind (SMPP 3.4 section 4.2.1), header only."""

    command_id = CommandId.unbind


@dataclass(slots=True, kw_only=True)
class UnbindResp(Pdu):
    """unbind_resp (SMPP 3.4 section 4.2.2), header only."""

    command_id = CommandId.unbind_resp


@dataclass(slots=True, kw_only=True)
class GenericNack(Pdu):
    """generic_nack (SMPP 3.4 section 4.3), header only; command_status says why."""

    command_id = CommandId.generic_nack


@dataclass(slots=True, kw_only=True)
class EnquireLink(Pdu):
    """enquire_link (SMPP 3.4 section 4.11.1), header only."""

    command_id = CommandId.enquire_link


@dataclass(slots=True, kw_only=True)
class EnquireLinkResp(Pdu):
    """enquire_link_resp (SMPP 3.4 section 4.11.2), header only."""

    command_id = CommandId.enquire_link_resp


# -- message submission and delivery (SMPP 3.4 sections 4.4 to 4.7) --------------------------------


@dataclass(slots=True, kw_only=True)
class _ShortMessage(Pdu):
    """The common layout of submit_sm and deliver_sm (SMPP 3.4 sections 4.4.1 and 4.6.1)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    #: 0 to 254 octets; sm_length on the wire is its length.
    short_message: bytes = b""


@dataclass(slots=True, kw_only=True)
class SubmitSm(_ShortMessage):
    """submit_sm (SMPP 3.4 section 4.4.1)."""

    command_id = CommandId.submit_sm


@dataclass(slots=True, kw_only=True)
class DeliverSm(_ShortMessage):
    """deliver_sm (SMPP 3.4 section 4.6.1): MO messages and delivery receipts, SMSC to ESME."""

    command_id = CommandId.deliver_sm


@dataclass(slots=True, kw_only=True)
class _MessageIdResp(Pdu):
    #: Up to 64 characters; omitted on the wire for submit_sm_resp with an error status.
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class SubmitSmResp(_MessageIdResp):
    """submit_sm_resp (SMPP 3.4 section 4.4.2)."""

    command_id = CommandId.submit_sm_resp


@dataclass(slots=True, kw_only=True)
class DeliverSmResp(_MessageIdResp):
    """deliver_sm_resp (SMPP 3.4 section 4.6.2); message_id is always empty."""

    command_id = CommandId.deliver_sm_resp


@dataclass(slots=True, kw_only=True)
class DataSmResp(_MessageIdResp):
    """data_sm_resp (SMPP 3.4 section 4.7.2)."""

    command_id = CommandId.data_sm_resp


@dataclass(slots=True, kw_only=True)
class SmeAddress:
    """One submit_multi destination with dest_flag 1 (SMPP 3.4 section 4.5.1.1)."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    dest_flag: ClassVar[DestFlag] = DestFlag.SME_ADDRESS


@dataclass(slots=True, kw_only=True)
class DistributionList:
    """One submit_multi destination with dest_flag 2: a distribution list name (up to 20 chars)."""

    dl_name: str = ""
    dest_flag: ClassVar[DestFlag] = DestFlag.DISTRIBUTION_LIST


@dataclass(slots=True, kw_only=True)
class SubmitMulti(Pdu):
    """submit_multi (SMPP 3.4 section 4.5.1): one message to 1..254 destinations."""

    command_id = CommandId.submit_multi
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addresses: list[SmeAddress | DistributionList] = field(default_factory=list)
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(slots=True, kw_only=True)
class UnsuccessSme:
    """A destination submit_multi could not take, with why (SMPP 3.4 section 4.5.2)."""

    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    error_status_code: int = 0


@dataclass(slots=True, kw_only=True)
class SubmitMultiResp(Pdu):
    """submit_multi_resp (SMPP 3.4 section 4.5.2)."""

    command_id = CommandId.submit_multi_resp
    message_id: str = ""
    unsuccess_smes: list[UnsuccessSme] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class DataSm(Pdu):
    """data_sm (SMPP 3.4 section 4.7.1); user data travels in the message_payload TLV."""

    command_id = CommandId.data_sm
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0


# -- message management (SMPP 3.4 sections 4.8 to 4.10, 4.12) --------------------------------------


@dataclass(slots=True, kw_only=True)
class QuerySm(Pdu):
    """query_sm (SMPP 3.4 section 4.8.1)."""

    command_id = CommandId.query_sm
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(slots=True, kw_only=True)
class QuerySmResp(Pdu):
    """query_sm_resp (SMPP 3.4 section 4.8.2)."""

    command_id = CommandId.query_sm_resp
    message_id: str = ""
    #: SMPP time string (16 characters) once final, else "".
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


@dataclass(slots=True, kw_only=True)
class CancelSm(Pdu):
    """cancel_sm (SMPP 3.4 section 4.9.1)."""

    command_id = CommandId.cancel_sm
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(slots=True, kw_only=True)
class CancelSmResp(Pdu):
    """cancel_sm_resp (SMPP 3.4 section 4.9.2), header only."""

    command_id = CommandId.cancel_sm_resp


@dataclass(slots=True, kw_only=True)
class ReplaceSm(Pdu):
    """replace_sm (SMPP 3.4 section 4.10.1)."""

    command_id = CommandId.replace_sm
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(slots=True, kw_only=True)
class ReplaceSmResp(Pdu):
    """replace_sm_resp (SMPP 3.4 section 4.10.2), header only."""

    command_id = CommandId.replace_sm_resp


@dataclass(slots=True, kw_only=True)
class AlertNotification(Pdu):
    """alert_notification (SMPP 3.4 section 4.12.1): a handset is reachable again. No response."""

    command_id = CommandId.alert_notification
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""


#: Every PDU class by command_id, for the decoder.
PDU_CLASSES: dict[int, type[Pdu]] = {
    cls.command_id: cls
    for cls in (
        BindTransmitter, BindReceiver, BindTransceiver,
        BindTransmitterResp, BindReceiverResp, BindTransceiverResp,
        Outbind, Unbind, UnbindResp, GenericNack, EnquireLink, EnquireLinkResp,
        SubmitSm, SubmitSmResp, DeliverSm, DeliverSmResp, DataSm, DataSmResp,
        SubmitMulti, SubmitMultiResp, QuerySm, QuerySmResp, CancelSm, CancelSmResp,
        ReplaceSm, ReplaceSmResp, AlertNotification,
    )
}  # fmt: skip


def response_class(request: type[Pdu]) -> type[Pdu] | None:
    """The _resp class of a request class, or None for outbind and alert_notification."""
    return PDU_CLASSES.get(request.command_id | 0x80000000)
