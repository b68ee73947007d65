"""SMPP 3.4 numeric constants: command ids, status codes, TLV tags and field enumerations.

Every value comes from the SMPP v3.4 Issue 1.2 specification (section numbers on each class);
the few SMPP 5.0 values smsc adopts are marked.  All enums are ``IntEnum``/``IntFlag`` so that a
value read off the wire compares equal to the member without conversion.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

#: Bit 31 of command_id marks a response (SMPP 3.4 section 5.1.2.1).
RESPONSE_BIT = 0x80000000

#: Size of the PDU header in octets (command_length, command_id, command_status, sequence_number).
HEADER_SIZE = 16

#: Largest sequence_number; the next one after it is 1 (SMPP 3.4 section 5.1.4, 5.0 wrap rule).
MAX_SEQUENCE = 0x7FFFFFFF

#: interface_version / sc_interface_version value for SMPP 3.4 (section 5.2.4).
SMPP_VERSION_34 = 0x34


class CommandId(IntEnum):
    """command_id of every SMPP 3.4 PDU (SMPP 3.4 section 5.1.2.1, Table 5-1)."""

    generic_nack = 0x80000000
    bind_receiver = 0x00000001
    bind_receiver_resp = 0x80000001
    bind_transmitter = 0x00000002
    bind_transmitter_resp = 0x80000002
    query_sm = 0x00000003
    query_sm_resp = 0x80000003
    submit_sm = 0x00000004
    submit_sm_resp = 0x80000004
    deliver_sm = 0x00000005
    deliver_sm_resp = 0x80000005
    unbind = 0x00000006
    unbind_resp = 0x80000006
    replace_sm = 0x00000007
    replace_sm_resp = 0x80000007
    cancel_sm = 0x00000008
    cancel_sm_resp = 0x80000008
    bind_transceiver = 0x00000009
    bind_transceiver_resp = 0x80000009
    outbind = 0x0000000B
    enquire_link = 0x00000015
    enquire_link_resp = 0x80000015
    submit_multi = 0x00000021
    submit_multi_resp = 0x80000021
    alert_notification = 0x00000102
    data_sm = 0x00000103
    data_sm_resp = 0x80000103

    @property
    def is_response(self) -> bool:
        """True for a *_resp or generic_nack."""
        return bool(self.value & RESPONSE_BIT)


def command_name(command_id: int) -> str:
    """``deliver_sm`` for 0x00000005; the hex value (``0x00000099``) for a command_id SMPP 3.4 does not define."""
    try:
        return CommandId(command_id).name
    except ValueError:
        return f"0x{command_id:08X}"


def status_name(command_status: int) -> str:
    """``ESME_RSYSERR`` for 0x00000008; the hex value (``0x00000401``) for a command_status SMPP 3.4 does not
    name (a vendor's, or the 0x400-0x4FF range it reserves for the SMSC vendor)."""
    try:
        return CommandStatus(command_status).name
    except ValueError:
        return f"0x{command_status:08X}"


class CommandStatus(IntEnum):
    """command_status codes (SMPP 3.4 section 5.1.3, Table 5-2)."""

    ESME_ROK = 0x00000000
    ESME_RINVMSGLEN = 0x00000001
    ESME_RINVCMDLEN = 0x00000002
    ESME_RINVCMDID = 0x00000003
    ESME_RINVBNDSTS = 0x00000004
    ESME_RALYBND = 0x00000005
    ESME_RINVPRTFLG = 0x00000006
    ESME_RINVREGDLVFLG = 0x00000007
    ESME_RSYSERR = 0x00000008
    ESME_RINVSRCADR = 0x0000000A
    ESME_RINVDSTADR = 0x0000000B
    ESME_RINVMSGID = 0x0000000C
    ESME_RBINDFAIL = 0x0000000D
    ESME_RINVPASWD = 0x0000000E
    ESME_RINVSYSID = 0x0000000F
    ESME_RCANCELFAIL = 0x00000011
    ESME_RREPLACEFAIL = 0x00000013
    ESME_RMSGQFUL = 0x00000014
    ESME_RINVSERTYP = 0x00000015
    ESME_RINVNUMDESTS = 0x00000033
    ESME_RINVDLNAME = 0x00000034
    ESME_RINVDESTFLAG = 0x00000040
    ESME_RINVSUBREP = 0x00000042
    ESME_RINVESMCLASS = 0x00000043
    ESME_RCNTSUBDL = 0x00000044
    ESME_RSUBMITFAIL = 0x00000045
    ESME_RINVSRCTON = 0x00000048
    ESME_RINVSRCNPI = 0x00000049
    ESME_RINVDSTTON = 0x00000050
    ESME_RINVDSTNPI = 0x00000051
    ESME_RINVSYSTYP = 0x00000053
    ESME_RINVREPFLAG = 0x00000054
    ESME_RINVNUMMSGS = 0x00000055
    ESME_RTHROTTLED = 0x00000058
    ESME_RINVSCHED = 0x00000061
    ESME_RINVEXPIRY = 0x00000062
    ESME_RINVDFTMSGID = 0x00000063
    ESME_RX_T_APPN = 0x00000064
    ESME_RX_P_APPN = 0x00000065
    ESME_RX_R_APPN = 0x00000066
    ESME_RQUERYFAIL = 0x00000067
    ESME_RINVOPTPARSTREAM = 0x000000C0
    ESME_ROPTPARNOTALLWD = 0x000000C1
    ESME_RINVPARLEN = 0x000000C2
    ESME_RMISSINGOPTPARAM = 0x000000C3
    ESME_RINVOPTPARAMVAL = 0x000000C4
    ESME_RDELIVERYFAILURE = 0x000000FE
    ESME_RUNKNOWNERR = 0x000000FF


class Tag(IntEnum):
    """Optional parameter (TLV) tags of SMPP 3.4 section 5.3.2 (plus congestion_state from 5.0)."""

    dest_addr_subunit = 0x0005
    dest_network_type = 0x0006
    dest_bearer_type = 0x0007
    dest_telematics_id = 0x0008
    source_addr_subunit = 0x000D
    source_network_type = 0x000E
    source_bearer_type = 0x000F
    source_telematics_id = 0x0010
    qos_time_to_live = 0x0017
    payload_type = 0x0019
    additional_status_info_text = 0x001D
    receipted_message_id = 0x001E
    ms_msg_wait_facilities = 0x0030
    privacy_indicator = 0x0201
    source_subaddress = 0x0202
    dest_subaddress = 0x0203
    user_message_reference = 0x0204
    user_response_code = 0x0205
    source_port = 0x020A
    destination_port = 0x020B
    sar_msg_ref_num = 0x020C
    language_indicator = 0x020D
    sar_total_segments = 0x020E
    sar_segment_seqnum = 0x020F
    sc_interface_version = 0x0210
    callback_num_pres_ind = 0x0302
    callback_num_atag = 0x0303
    number_of_messages = 0x0304
    callback_num = 0x0381
    dpf_result = 0x0420
    set_dpf = 0x0421
    ms_availability_status = 0x0422
    network_error_code = 0x0423
    message_payload = 0x0424
    delivery_failure_reason = 0x0425
    more_messages_to_send = 0x0426
    message_state = 0x0427
    congestion_state = 0x0428  # SMPP 5.0
    ussd_service_op = 0x0501
    display_time = 0x1201
    sms_signal = 0x1203
    ms_validity = 0x1204
    alert_on_message_delivery = 0x130C
    its_reply_type = 0x1380
    its_session_info = 0x1383


class Ton(IntEnum):
    """Type of number (SMPP 3.4 section 5.2.5)."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER_NUMBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6


class Npi(IntEnum):
    """Numbering plan indicator (SMPP 3.4 section 5.2.6)."""

    UNKNOWN = 0
    ISDN = 1
    DATA = 3
    TELEX = 4
    LAND_MOBILE = 6
    NATIONAL = 8
    PRIVATE = 9
    ERMES = 10
    INTERNET = 14
    WAP_CLIENT_ID = 18


class DataCoding(IntEnum):
    """data_coding values of SMPP 3.4 section 5.2.19 (the coding groups 0xC0-0xFF are not members)."""

    DEFAULT = 0x00  # SMSC default alphabet: GSM 03.38 in smsc
    IA5 = 0x01
    BINARY_TDMA = 0x02
    LATIN_1 = 0x03
    BINARY = 0x04
    JIS = 0x05
    CYRILLIC = 0x06
    LATIN_HEBREW = 0x07
    UCS2 = 0x08
    PICTOGRAM = 0x09
    ISO_2022_JP = 0x0A
    EXTENDED_KANJI = 0x0D
    KS_C_5601 = 0x0E


class EsmClass(IntFlag):
    """esm_class bits (SMPP 3.4 section 5.2.12)."""

    DEFAULT = 0x00
    MODE_DATAGRAM = 0x01
    MODE_FORWARD = 0x02
    MODE_STORE_AND_FORWARD = 0x03
    DELIVERY_RECEIPT = 0x04  # S->E: SMSC delivery receipt
    DELIVERY_ACK = 0x08
    USER_ACK = 0x10
    INTERMEDIATE_NOTIFICATION = 0x20  # S->E
    UDHI = 0x40
    REPLY_PATH = 0x80


#: Mask of the messaging mode bits of esm_class.
ESM_MODE_MASK = 0x03
#: Mask of the message type bits of esm_class.
ESM_TYPE_MASK = 0x3C


class RegisteredDelivery(IntFlag):
    """registered_delivery bits (SMPP 3.4 section 5.2.17; value 3 from SMPP 5.0)."""

    NONE = 0x00
    FINAL = 0x01  # receipt on success or failure
    FAILURE = 0x02  # receipt on failure only
    SUCCESS = 0x03  # SMPP 5.0: receipt on success only
    SME_DELIVERY_ACK = 0x04
    SME_MANUAL_ACK = 0x08
    INTERMEDIATE = 0x10


#: Mask of the SMSC receipt bits of registered_delivery.
RECEIPT_MASK = 0x03


class MessageState(IntEnum):
    """message_state values (SMPP 3.4 section 5.2.28; SCHEDULED and SKIPPED from 5.0)."""

    SCHEDULED = 0
    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8
    SKIPPED = 9

    @property
    def is_final(self) -> bool:
        """True once no further delivery attempt will be made."""
        return self not in (MessageState.SCHEDULED, MessageState.ENROUTE, MessageState.UNKNOWN)

    @property
    def stat(self) -> str:
        """The 7-character ``stat:`` word of a receipt (SMPP 3.4 Appendix B, Table B-2)."""
        return _STAT_WORDS[self]


_STAT_WORDS = {
    MessageState.SCHEDULED: "ENROUTE",
    MessageState.ENROUTE: "ENROUTE",
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.REJECTED: "REJECTD",
    MessageState.SKIPPED: "SKIPPED",
}


class DestFlag(IntEnum):
    """dest_flag of a submit_multi destination (SMPP 3.4 section 5.2.25)."""

    SME_ADDRESS = 1
    DISTRIBUTION_LIST = 2


class PriorityFlag(IntEnum):
    """priority_flag levels (SMPP 3.4 section 5.2.14); values above 3 are ESME_RINVPRTFLG."""

    LEVEL_0 = 0
    LEVEL_1 = 1
    LEVEL_2 = 2
    LEVEL_3 = 3


class NetworkType(IntEnum):
    """First octet of network_error_code (SMPP 3.4 section 5.3.2.31)."""

    ANSI_136 = 1
    IS_95 = 2
    GSM = 3


class BindType(IntEnum):
    """The three bind kinds, valued as their request command_id."""

    RECEIVER = CommandId.bind_receiver
    TRANSMITTER = CommandId.bind_transmitter
    TRANSCEIVER = CommandId.bind_transceiver

    @property
    def can_transmit(self) -> bool:
        """True if the ESME may submit on this bind."""
        return self is not BindType.RECEIVER

    @property
    def can_receive(self) -> bool:
        """True if the SMSC may deliver on this bind."""
        return self is not BindType.TRANSMITTER
