"""The record of one short message inside the simulated SMSC, from submit to final state.

Times are floats: seconds since the Unix epoch on the simulation :class:`~smsc.core.clock.Clock` (which may
run faster than real time).  The record is what the store persists and what query_sm, cancel_sm and
replace_sm act on; its ``state`` uses the SMPP message_state values (SMPP 3.4 section 5.2.28).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from smsc.core.api import Address
from smsc.smpp.constants import MessageState

#: Octets of user data (short_message, or a message_payload of up to 64 KiB) the final messages kept in memory
#: for query_sm and the API may hold together, beside their count limit: the oldest go first beyond it (tester
#: 102: 10,000 finals of 39,015-octet payloads held 390 MB with the SQLite store, 100,000 would have held 3.8 GB
#: with the memory store).
FINAL_OCTETS_MAX = 64 * 1024 * 1024


@dataclass(slots=True, kw_only=True)
class Attempt:
    """One delivery attempt towards the handset and how it ended.

    ``outcome`` is one of "delivered", "absent", "temporary", "undeliverable", "rejected", "accepted", "expired",
    "cancelled", "replaced", and for a transaction-mode message (one attempt only) "timeout" (no outcome in
    time), "throttled" (no attempt: the carrier's capacity was spent), "carrier_down" (no attempt: the carrier
    was down) or "abandoned" (found waiting after a restart, or its ESME's session ended before the outcome);
    ``err`` is the network error code as the receipt's ``err:`` field reports it.
    """

    time: float
    outcome: str
    err: int = 0


@dataclass(slots=True, kw_only=True)
class Message:
    """One accepted MT short message (one destination: submit_multi creates one Message per destination).

    ``short_message`` is the user data (UDH included when esm_class has UDHI), ``tlvs`` the optional
    parameters kept from the submit (for example user_message_reference, which receipts echo).
    """

    message_id: str
    system_id: str
    source: Address
    destination: Address
    #: The destination normalised to E.164 digits (no "+"), as routing saw it.
    destination_e164: str
    #: Name of the carrier the route chose ("" when the message was accepted without a route).
    carrier: str = ""
    service_type: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    short_message: bytes = b""
    tlvs: dict[int, Any] = field(default_factory=dict)
    submit_time: float = 0.0
    #: Earliest delivery time from schedule_delivery_time, or None for "now".
    schedule_time: float | None = None
    #: End of the validity period; the message expires at this time if still undelivered.
    expiry_time: float = 0.0
    state: MessageState = MessageState.ENROUTE
    #: When the message reached a final state (the receipt's "done date"), else None.
    final_time: float | None = None
    #: Network error code of the last failure (receipt err:, query_sm_resp error_code).
    error_code: int = 0
    #: 3 octets for the network_error_code TLV of the receipt, or None.
    network_error_code: bytes | None = None
    #: When the next attempt is due (None while waiting for a handset alert or when final).
    next_attempt_time: float | None = None
    #: Never changed once the message is final: messages delivered at their first attempt at the same instant
    #: share one list (and one Attempt), so a final message's list must not be appended to.
    attempts: list[Attempt] = field(default_factory=list)
    #: submit_multi: how many short messages it submitted, one per destination accepted (receipt "sub:" field,
    #: SMPP 3.4 Appendix B; destinations listed in unsuccess_sme were not submitted, section 4.5.2).
    submitted_count: int = 1
    #: submit_multi: the message_id the ESME got for the whole submit_multi (receipts, query_sm, cancel_sm
    #: and replace_sm use it); "" for a submit_sm.  (Added by the engine.)
    multi_id: str = ""

    @property
    def is_final(self) -> bool:
        """True once the message will not be attempted again (``MessageState.is_final``, in int arithmetic:
        not SCHEDULED 0, ENROUTE 1 or UNKNOWN 7)."""
        state = self.state
        return state > 1 and state != 7


_new = object.__new__
_ENROUTE = MessageState.ENROUTE


def accepted_message(
    message_id: str, system_id: str, source: Address, destination: Address, destination_e164: str, carrier: str,
    service_type: str, esm_class: int, protocol_id: int, priority_flag: int, registered_delivery: int,
    data_coding: int, short_message: bytes, tlvs: dict[int, Any], submit_time: float, schedule_time: float | None,
    expiry_time: float, submitted_count: int, multi_id: str,
) -> Message:
    """A just-accepted :class:`Message` (state ENROUTE, no attempt yet), built with positional arguments.

    The same record as ``Message(message_id=..., ...)`` with the other fields at their defaults, in a third of
    the time (the keyword-only dataclass constructor dominates a submit).  ``tests/unit`` checks that it sets
    every field of the dataclass.
    """
    m = _new(Message)
    m.message_id = message_id
    m.system_id = system_id
    m.source = source
    m.destination = destination
    m.destination_e164 = destination_e164
    m.carrier = carrier
    m.service_type = service_type
    m.esm_class = esm_class
    m.protocol_id = protocol_id
    m.priority_flag = priority_flag
    m.registered_delivery = registered_delivery
    m.data_coding = data_coding
    m.short_message = short_message
    m.tlvs = tlvs
    m.submit_time = submit_time
    m.schedule_time = schedule_time
    m.expiry_time = expiry_time
    m.state = _ENROUTE
    m.final_time = None
    m.error_code = 0
    m.network_error_code = None
    m.next_attempt_time = None
    m.attempts = []
    m.submitted_count = submitted_count
    m.multi_id = multi_id
    return m


def new_attempt(time: float, outcome: str, err: int) -> Attempt:
    """``Attempt(time=time, outcome=outcome, err=err)`` without the keyword-only constructor (one per
    attempt); ``tests/unit`` checks that it sets every field."""
    a = _new(Attempt)
    a.time = time
    a.outcome = outcome
    a.err = err
    return a
