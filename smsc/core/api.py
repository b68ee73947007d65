"""The narrow interface between the adapters (SMPP server, HTTP API) and the simulated network.

The adapters translate wire PDUs into these plain values and call the :class:`SmscApi` methods; the core
answers through callbacks, because an answer may come at once (a rejected submit), after the store has
committed (an accepted submit: "status 0 means on disk"), or after a delay a test scenario asked for.  The
core never awaits and never sees sockets; callbacks are always invoked on the event-loop thread.

Messages and receipts leave the core towards ESMEs through an outbox per system_id.  The adapter holding the
binds implements :class:`DeliveryGateway`: the core *wakes* it when deliveries wait for a system_id, the
adapter *takes* as many as its sessions' windows allow, and reports each one's fate with ``delivery_acked``
or ``delivery_failed``.  A delivery taken but never reported (connection lost, no deliver_sm_resp in time)
is reported failed by the adapter and offered again later, so nothing accepted is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from smsc.smpp.constants import CommandStatus, MessageState

TlvMap = dict[int, Any]

#: ``Delivery.kind`` of an alert_notification owed to an ESME (:mod:`smsc.core.dpf`).
ALERT = "alert"
#: deliver_sm_resp statuses that end a delivery unacknowledged (dropped, never offered again): the ESME's
#: permanent application errors (SMPP 3.4 Table 5-2); any other error is offered again.
PERMANENT_STATUSES = frozenset({CommandStatus.ESME_RX_P_APPN, CommandStatus.ESME_RX_R_APPN})


@dataclass(slots=True, kw_only=True)
class Address:
    """A TON/NPI/address triple as an ESME wrote it (SMPP 3.4 sections 5.2.5 to 5.2.8)."""

    ton: int = 0
    npi: int = 0
    addr: str = ""


@dataclass(slots=True, kw_only=True)
class Submission:
    """One short message an ESME (or the HTTP API) asks the SMSC to send.

    ``schedule_delivery_time`` and ``validity_period`` are the raw SMPP time strings (SMPP 3.4 section
    7.1.1, "" when absent); the core parses them against its own clock.  ``short_message`` holds the user
    data (the message_payload TLV's value when that was used instead), UDH included when esm_class has UDHI.
    ``tlvs`` carries the request's optional parameters (sar_*, user_message_reference, ports ...).
    """

    system_id: str
    source: Address
    destination: Address
    service_type: str = ""
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    short_message: bytes = b""
    tlvs: TlvMap = field(default_factory=dict)


_new = object.__new__


def new_submission(
    system_id: str, source: Address, destination: Address, service_type: str, esm_class: int,
    protocol_id: int, priority_flag: int, schedule_delivery_time: str, validity_period: str,
    registered_delivery: int, replace_if_present_flag: int, data_coding: int, short_message: bytes,
    tlvs: TlvMap,
) -> Submission:
    """``Submission(...)`` with every field given in order, without keyword parsing: an adapter builds one
    per submit_sm, and the generated keyword ``__init__`` costs several times more."""
    o = _new(Submission)
    o.system_id = system_id
    o.source = source
    o.destination = destination
    o.service_type = service_type
    o.esm_class = esm_class
    o.protocol_id = protocol_id
    o.priority_flag = priority_flag
    o.schedule_delivery_time = schedule_delivery_time
    o.validity_period = validity_period
    o.registered_delivery = registered_delivery
    o.replace_if_present_flag = replace_if_present_flag
    o.data_coding = data_coding
    o.short_message = short_message
    o.tlvs = tlvs
    return o


@dataclass(slots=True, kw_only=True)
class SubmitResult:
    """The answer to a submit: status 0 and the message_id, or an error status (message_id "")."""

    status: int = CommandStatus.ESME_ROK
    message_id: str = ""


@dataclass(slots=True, kw_only=True)
class TransactionResult:
    """The answer to a message in transaction message mode (SMPP 3.4 section 2.10.3): its delivery outcome.

    Delivered: status 0 and the message_id.  Not delivered: ESME_RDELIVERYFAILURE with the message_id, the
    delivery_failure_reason value (SMPP 3.4 section 5.3.2.33: 0 destination unavailable, 1 destination
    address invalid, 2 permanent network error, 3 temporary network error), the 3-octet network_error_code
    (section 5.3.2.31) when the network gave one, and ``text`` for additional_status_info_text (section
    5.3.2.11); when the message carried set_dpf, ``dpf_result`` (section 5.3.2.28): 1 when its failure set a
    Delivery Pending Flag (the handset was absent, :mod:`smsc.core.dpf`), else 0.  Refused before any attempt
    (bad destination, queue full ...): that status, no message_id.
    """

    status: int = CommandStatus.ESME_ROK
    message_id: str = ""
    delivery_failure_reason: int | None = None
    network_error_code: bytes | None = None
    text: str = ""
    dpf_result: int | None = None


@dataclass(slots=True, kw_only=True)
class MultiSubmitResult:
    """The answer to submit_multi: one message_id, and the destinations refused at once with why."""

    status: int = CommandStatus.ESME_ROK
    message_id: str = ""
    unsuccess: list[tuple[Address, int]] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class QueryResult:
    """query_sm's answer (SMPP 3.4 section 4.8.2). ``final_date`` is an SMPP absolute time or ""."""

    status: int = CommandStatus.ESME_ROK
    message_id: str = ""
    final_date: str = ""
    message_state: int = MessageState.ENROUTE
    error_code: int = 0


@dataclass(slots=True, kw_only=True)
class Delivery:
    """A deliver_sm the SMSC owes an ESME: a delivery receipt or an MO message; or an alert_notification.

    ``delivery_id`` is unique and stable across restarts (it keys the durable outbox).  The fields map
    one to one onto deliver_sm (SMPP 3.4 section 4.6.1).  An alert (kind "alert", :mod:`smsc.core.dpf`) uses
    ``source`` for the handset now available and ``destination`` for the ESME's address (alert_notification's
    source_addr and esme_addr, section 4.12.1) and ``tlvs`` for ms_availability_status; it has no response,
    so the gateway reports it with ``delivery_sent``.
    """

    delivery_id: int
    system_id: str
    source: Address
    destination: Address
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    data_coding: int = 0
    short_message: bytes = b""
    service_type: str = ""
    tlvs: TlvMap = field(default_factory=dict)
    #: "receipt", "mo" or "alert", for logs, metrics and the inspection API (and the adapter: an alert is sent
    #: as alert_notification).
    kind: str = "receipt"


class DeliveryGateway(Protocol):
    """What the core needs from whoever holds the ESME connections (the SMPP server's bind registry)."""

    def wake(self, system_id: str) -> None:
        """Deliveries wait for ``system_id``: take them now if a receiver is bound and has window room."""

    def has_receiver(self, system_id: str) -> bool:
        """True while a receiver or transceiver of ``system_id`` is bound (deliveries owed to it can move)."""


ReplyTo = Callable[[Any], None]


class SmscApi(Protocol):
    """The facade the adapters call (implemented by :class:`smsc.core.smsc.Smsc`).

    Every request method takes a ``reply`` callback invoked exactly once with the result object named in
    its docstring, possibly before the method returns.  Errors a client can cause are results with an
    SMPP status, never exceptions.
    """

    def submit(self, submission: Submission, reply: Callable[[SubmitResult], None]) -> None:
        """submit_sm / data_sm. Status 0 is replied only once the message is durable in the store."""

    def submit_transaction(self, submission: Submission, reply: Callable[[TransactionResult], None]) -> str | None:
        """data_sm in transaction message mode (esm_class mode 2, SMPP 3.4 section 2.10.3): one delivery
        attempt, answered with its outcome once that is known and durable.  Returns the message_id while the
        outcome is awaited (for :meth:`cut_transaction`), None when the message was refused."""

    def cut_transaction(self, message_id: str, why: str) -> None:
        """The session of a transaction-mode message awaiting its outcome ends: abandon the attempt and answer
        its ``reply`` now (ESME_RDELIVERYFAILURE, temporary network error, ``why`` as the text)."""

    def submit_multi(
        self, submission: Submission, destinations: list[Address], dl_names: list[str],
        reply: Callable[[MultiSubmitResult], None], *, refused: dict[int, int] | None = None,
    ) -> None:
        """submit_multi (SMPP 3.4 section 4.5): routes each destination on its own; ``refused`` maps the index
        of a destination the adapter refused already to its status (listed in unsuccess in its place)."""

    def submit_refused(self) -> None:
        """A submit_sm, data_sm or submit_multi the adapter refused before calling the core (a field value, the
        account's throughput or source rules): counted with the submits the core refuses (``submit_errors``)."""

    def query(
        self, system_id: str, message_id: str, source: Address, reply: Callable[[QueryResult], None]
    ) -> None:
        """query_sm (SMPP 3.4 section 4.8); ESME_RQUERYFAIL for an unknown message."""

    def cancel(
        self, system_id: str, service_type: str, message_id: str, source: Address,
        destination: Address, reply: Callable[[int], None],
    ) -> None:
        """cancel_sm (SMPP 3.4 section 4.9); replies a status (ESME_RCANCELFAIL when nothing matched)."""

    def replace(
        self, system_id: str, message_id: str, source: Address, schedule_delivery_time: str,
        validity_period: str, registered_delivery: int, short_message: bytes,
        reply: Callable[[int], None], *, one_sms: bool = False, payload: bool = False,
    ) -> None:
        """replace_sm (SMPP 3.4 section 4.10); replies a status (ESME_RREPLACEFAIL when not replaceable;
        ESME_RINVMSGLEN with ``one_sms`` for a short_message longer than one SMS, or with ``payload`` for a
        message_payload no network could carry)."""

    def submit_rule_reason(self, destination: Address, status: int) -> str | None:
        """Why a submit to ``destination`` got ``status`` when a rule of the simulated network answers it so (a
        number rule's submit status, an opt-out's), for the refusal log; None otherwise."""

    def take_deliveries(
        self, system_id: str, limit: int, carries: Callable[[Delivery], bool] | None = None,
    ) -> list[Delivery]:
        """Up to ``limit`` waiting deliveries for ``system_id``, now leased to the caller.  With ``carries``
        (what the caller can send), those it refuses are held, without backoff, for a caller without one."""

    def deliveries_held(self, system_id: str) -> int:
        """How many deliveries of ``system_id`` a caller's ``carries`` refused, waiting for another caller."""

    def deliveries_available(self, system_id: str) -> int:
        """How many deliveries of ``system_id`` a receiver could take now (none leased to a bind)."""

    def delivery_acked(self, delivery_id: int, status: int) -> None:
        """The ESME answered deliver_sm_resp with ``status`` (0 = done; ESME_RX_T_APPN etc. = retry)."""

    def delivery_late_acked(self, delivery_id: int, status: int) -> None:
        """The ESME answered with ``status`` after the response_timer (the delivery was offered again meanwhile)."""

    def time_refusal_reason(self, schedule: str, validity: str, status: int) -> str | None:
        """Why a submit's schedule_delivery_time / validity_period got ESME_RINVSCHED or ESME_RINVEXPIRY, read
        against the simulated clock; None when nothing in them explains it."""

    def delivery_awaits_answer(self, delivery_id: int) -> bool:
        """The delivery is out with an ESME awaiting its answer (False once an answer, or a late answer to an
        earlier copy, ended it)."""

    def delivery_failed(self, delivery_id: int, *, at_once: bool = False) -> None:
        """No usable answer (generic_nack, a response of another kind): offer the delivery again after a backoff;
        with ``at_once`` (no answer at all: the response_timer expired or the connection was lost) offer it again
        now, before the deliveries made after it."""

    def delivery_sent(self, delivery_id: int) -> None:
        """A delivery that has no response PDU (an alert, sent as alert_notification) was written: done."""

    def set_gateway(self, gateway: DeliveryGateway) -> None:
        """Register who is woken when deliveries wait."""

    def hurry_responses(self) -> int:
        """Send now the responses a carrier rule's submit delay holds, and hold none from now on (the adapter
        is stopping); returns how many were held."""

    #: Whether holding the commits of one read's requests saves anything (False with a store that commits
    #: inline, whose replies then leave in request order).
    hold_read_commits: bool

    #: False until an alert (``Delivery.kind`` "alert", sent as alert_notification) may be among the deliveries
    #: taken: until then the adapter need not look at each delivery's kind (the receipt path).
    may_owe_alerts: bool

    def hold_commits(self) -> bool:
        """Gather the commits asked for from now on into one (group commit over one read of requests); False
        when they are held already (then the caller does not release them)."""

    def release_commits(self) -> None:
        """One commit for everything held; the replies waiting on it follow in order once it is durable."""

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once everything recorded so far is on disk (an API answer that reports a
        change waits for it)."""
