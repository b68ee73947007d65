"""deliver_sm bodies built from plain fields: the SMSC's busiest output after submit_sm_resp.

An SMSC sends one deliver_sm (a delivery receipt, or an MO message) for about every message it accepts.
Building a :class:`~smsc.smpp.pdu.DeliverSm` object and running the generic encoder for each costs several
microseconds, yet everything before ``sm_length`` (service_type, both addresses, esm_class, protocol_id,
priority_flag, the two null times, the flags and data_coding; SMPP 3.4 section 4.6.1) repeats across the
receipts of one sender and number.  That part is encoded once, by the generic validating encoder, and
kept; each body is then that prefix, one octet of sm_length and the short_message.  TLVs are left to the
session (it drops them for ESMEs bound with interface_version below 0x34).
"""

from __future__ import annotations

from smsc.smpp.codec import encode
from smsc.smpp.pdu import DeliverSm

#: Encoded prefixes kept at most; the cache is emptied when full (distinct address pairs are bounded by
#: what the ESMEs send, but a load test over millions of numbers must not grow memory without end).
PREFIX_CACHE_MAX = 20_000

_PrefixKey = tuple[str, int, int, str, int, int, str, int, int, int, int]
_prefixes: dict[_PrefixKey, bytes] = {}
_SM_LENGTH = [bytes((n,)) for n in range(255)]


def deliver_sm_body(
    service_type: str, source_addr_ton: int, source_addr_npi: int, source_addr: str, dest_addr_ton: int,
    dest_addr_npi: int, destination_addr: str, esm_class: int, protocol_id: int, priority_flag: int,
    data_coding: int, short_message: bytes,
) -> bytes:
    """The mandatory part of a deliver_sm body (SMPP 3.4 section 4.6.1), without header and TLVs.

    schedule_delivery_time and validity_period are null, registered_delivery, replace_if_present_flag and
    sm_default_msg_id are 0, as the spec requires of deliver_sm.  ``short_message``: at most 254 octets
    (longer user data belongs in the message_payload TLV).

    Raises:
        ValueError: a field does not fit its SMPP type (as :func:`smsc.smpp.codec.encode` reports it), or
            ``short_message`` is longer than 254 octets.
    """
    key = (service_type, source_addr_ton, source_addr_npi, source_addr, dest_addr_ton, dest_addr_npi,
           destination_addr, esm_class, protocol_id, priority_flag, data_coding)
    prefix = _prefixes.get(key)
    if prefix is None:
        prefix = _prefix(key)
    n = len(short_message)
    if n > 254:
        raise ValueError(f"deliver_sm short_message of {n} octets: at most 254 (use message_payload)")
    return prefix + _SM_LENGTH[n] + short_message


def _prefix(key: _PrefixKey) -> bytes:
    (service_type, source_addr_ton, source_addr_npi, source_addr, dest_addr_ton, dest_addr_npi,
     destination_addr, esm_class, protocol_id, priority_flag, data_coding) = key
    wire = encode(DeliverSm(
        service_type=service_type, source_addr_ton=source_addr_ton, source_addr_npi=source_addr_npi,
        source_addr=source_addr, dest_addr_ton=dest_addr_ton, dest_addr_npi=dest_addr_npi,
        destination_addr=destination_addr, esm_class=esm_class, protocol_id=protocol_id,
        priority_flag=priority_flag, data_coding=data_coding,
    ))
    prefix = wire[16:-1]  # header off, and the sm_length octet (0) of the empty short_message
    if len(_prefixes) >= PREFIX_CACHE_MAX:
        _prefixes.clear()
    _prefixes[key] = prefix
    return prefix
