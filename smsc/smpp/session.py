"""The SMSC side of one SMPP 3.4 connection, as a sans-IO state machine.

Bytes go in with :meth:`Session.receive_data`, which returns *events* (a bind asks to be decided, a request
arrived, a response to one of our deliver_sm came back, the peer unbound, a submit was refused here ...).  Bytes to write come out of
:meth:`Session.data_to_send`.  The session answers on its own whatever the spec fully decides: decode errors
(the request's _resp or generic_nack), PDUs not allowed in the current state (ESME_RINVBNDSTS, ESME_RALYBND),
enquire_link, unbind.  Everything that needs a decision from outside (credentials, message handling) is an
event; the adapter answers with :meth:`accept_bind`, :meth:`reject_bind` or :meth:`respond`.

Time is passed in (``now``, seconds on any monotonic scale); :meth:`poll` turns the four timers of SMPP 3.4
section 7.2 into events and actions.  Nothing here knows sockets, asyncio or the SMSC domain.

States (SMPP 3.4 section 2.2, plus UNBOUND from 5.0): OPEN -> BOUND_TX / BOUND_RX / BOUND_TRX -> UNBOUND ->
CLOSED.  Which request may arrive in which state is the table :data:`ALLOWED_REQUESTS` (SMPP 3.4 Table 2-1,
with replace_sm also in BOUND_TRX as 5.0 allows, and enquire_link in OPEN as 5.0 allows).
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from smsc.smpp import pdu as P
from smsc.smpp.codec import DEFAULT_MAX_COMMAND_LENGTH, Framer, SmppError, encode, error_response
from smsc.smpp.constants import (
    MAX_SEQUENCE,
    BindType,
    CommandId,
    CommandStatus,
    command_name,
)
from smsc.smpp.tlv import encode_tlvs


#: The first octets of protocols that clients point at an SMPP port by mistake, and what to say then.
_HTTP_METHODS = (b"GET ", b"POST", b"PUT ", b"HEAD", b"DELE", b"OPTI", b"PATC", b"CONN", b"PRI ")  # (PRI: HTTP/2)


def _foreign_protocol(data: bytes, tls_port: int | None) -> str:
    """A hint for a framing error on a connection not yet bound whose read starts like another protocol: an
    HTTP request (its method read as command_length gives some 1.2 billion) or a TLS ClientHello (a record of
    type 22, version 3.x) sent to a plain SMPP port (tester 86: only "command_length is 1195725856" was said).
    ``tls_port``: the server's TLS port to send such a client to, None when it has none (tester 98: the hint named
    one that the server did not have; tester 103: it named the setting, not the port)."""
    head = data[:4]
    if head in _HTTP_METHODS:
        return " (this looks like an HTTP request: the HTTP API listens on its own port, http.port)"
    if len(data) >= 3 and data[0] == 0x16 and data[1] == 0x03:
        if tls_port is not None:
            return (f" (this looks like a TLS handshake: connect to the TLS listener, port {tls_port} "
                    f"(server.tls.port), or turn TLS off in the client)")
        return (" (this looks like a TLS handshake: this server has no TLS listener, so turn TLS off in the "
                "client, or configure server.tls)")
    return ""


class SessionState(enum.Enum):
    """Where a connection is in its life (SMPP 3.4 section 2.2)."""

    OPEN = "OPEN"
    BOUND_TX = "BOUND_TX"
    BOUND_RX = "BOUND_RX"
    BOUND_TRX = "BOUND_TRX"
    UNBOUND = "UNBOUND"
    CLOSED = "CLOSED"


_HEADER = struct.Struct(">IIII")

_BOUND_STATE = {
    BindType.TRANSMITTER: SessionState.BOUND_TX,
    BindType.RECEIVER: SessionState.BOUND_RX,
    BindType.TRANSCEIVER: SessionState.BOUND_TRX,
}
#: Module-level aliases of the members used per PDU: reading an attribute of an Enum class (``SessionState.CLOSED``,
#: ``CommandId.unbind``) costs about 0.1 us in CPython 3.11, ten times a global; the hot paths use these.
_BOUND_TX = SessionState.BOUND_TX
_BOUND_RX = SessionState.BOUND_RX
_BOUND_TRX = SessionState.BOUND_TRX
_CLOSED = SessionState.CLOSED
_ENQUIRE_LINK = CommandId.enquire_link
_UNBIND = CommandId.unbind
_GENERIC_NACK = CommandId.generic_nack
_DELIVER_SM = CommandId.deliver_sm
_DELIVER_SM_RESP = CommandId.deliver_sm_resp
_DATA_SM = CommandId.data_sm
_ENQUIRE_LINK_RESP = CommandId.enquire_link_resp
_TX = frozenset({SessionState.BOUND_TX, SessionState.BOUND_TRX})
_ALL_BOUND = frozenset({SessionState.BOUND_TX, SessionState.BOUND_RX, SessionState.BOUND_TRX})
_SUBMIT_SM = int(CommandId.submit_sm)
#: The requests that carry a short message (reported when refused here: :class:`SubmitRefused`).
_SUBMIT_IDS = frozenset({_SUBMIT_SM, int(CommandId.data_sm), int(CommandId.submit_multi)})
#: Requests whose refusal by the session itself is reported (:class:`SubmitRefused`): the submits, and
#: replace_sm, which carries a new message (the adapter logs why; tester 53).
_REPORTED_IDS = _SUBMIT_IDS | {int(CommandId.replace_sm)}
#: Requests only a transmitter or transceiver may send (SMPP 3.4 Table 2-1).
_TRANSMITTER_IDS = _SUBMIT_IDS | {int(CommandId.query_sm), int(CommandId.cancel_sm), int(CommandId.replace_sm)}

#: Why a request only an SMSC sends (deliver_sm, outbind, alert_notification) is refused from an ESME.
_SMSC_ONLY_REASON = "a PDU only an SMSC sends, not an ESME (SMPP 3.4 Table 2-1)"

#: Requests an ESME may send, by state (SMPP 3.4 Table 2-1; the readable form of the rules).
ALLOWED_REQUESTS: dict[CommandId, frozenset[SessionState]] = {
    CommandId.bind_transmitter: frozenset({SessionState.OPEN}),
    CommandId.bind_receiver: frozenset({SessionState.OPEN}),
    CommandId.bind_transceiver: frozenset({SessionState.OPEN}),
    CommandId.submit_sm: _TX,
    CommandId.submit_multi: _TX,
    CommandId.query_sm: _TX,
    CommandId.cancel_sm: _TX,
    CommandId.replace_sm: _TX,
    # SMPP 3.4 Table 2-1 lets an ESME send data_sm in every bound state, the receiver's included (SMPP 5.0
    # allows it only from a transmitter or transceiver); testers 32 and 39 found it refused, citing 3.4.
    CommandId.data_sm: _ALL_BOUND,
    CommandId.unbind: _ALL_BOUND,
    CommandId.enquire_link: _ALL_BOUND | {SessionState.OPEN},
}

_BIND_IDS = {
    CommandId.bind_transmitter: BindType.TRANSMITTER,
    CommandId.bind_receiver: BindType.RECEIVER,
    CommandId.bind_transceiver: BindType.TRANSCEIVER,
}


# -- events --------------------------------------------------------------------------------------


@dataclass(slots=True)
class BindRequested:
    """An ESME asks to bind; answer with :meth:`Session.accept_bind` or :meth:`Session.reject_bind`."""

    pdu: P.BindTransmitter | P.BindReceiver | P.BindTransceiver
    bind_type: BindType


@dataclass(slots=True)
class RequestReceived:
    """A request allowed in the current state (submit_sm, data_sm, submit_multi, query_sm, cancel_sm,
    replace_sm). Answer it with :meth:`Session.respond`, in any order."""

    pdu: P.Pdu


@dataclass(slots=True)
class ResponseReceived:
    """The ESME answered one of our requests with its response. ``context`` is what was given to
    :meth:`send_request`; ``status`` is the command_status.  A generic_nack is never one: it fails the request
    (:class:`ResponseTimedOut`)."""

    pdu: P.Pdu
    context: Any
    status: int


@dataclass(slots=True)
class MalformedResponse:
    """A response from the ESME whose body could not be decoded (trailing octets after message_id, a broken
    TLV ...), for the adapter's log.  Its header was read, and the header is what acknowledges a request
    (command_id, sequence_number, command_status; SMPP 3.4 section 3.2): when it answers one of our requests
    of its kind, a :class:`ResponseReceived` with the header's status follows, as for a well-formed response
    (``matched`` True; a generic_nack is matched too, and fails the request as a well-formed one does).
    ``reason`` says what was wrong with the body."""

    command_id: int
    sequence_number: int
    command_status: int
    reason: str
    matched: bool


@dataclass(slots=True)
class LateResponse:
    """The ESME answered one of our requests after it had timed out (:class:`ResponseTimedOut` reported it, and
    the adapter offered the delivery again): ``context`` and ``status`` as in :class:`ResponseReceived`.  The
    answer still says the ESME took the first copy: an ESME a little slower than response_timer otherwise got
    every receipt again and again, each copy answered too late (tester 42: one receipt sent 10 times in 30 s)."""

    pdu: P.Pdu
    context: Any
    status: int


#: How many timed-out requests a session remembers for a :class:`LateResponse` (the oldest forgotten first).
LATE_RESPONSES_KEPT = 4096


@dataclass(slots=True)
class ResponseTimedOut:
    """One of our requests failed: no answer within response_timer (SMPP 3.4 section 7.2), or answered by a
    generic_nack (whatever its command_status) or a response of the wrong kind.  ``answer``: the command_id
    of the PDU that answered it, None when nothing did; ``nack_status``: the generic_nack's command_status
    when one answered it (ESME_RINVCMDID: the ESME does not know the command, section 4.3), else None."""

    context: Any
    command_id: int
    answer: int | None = None
    nack_status: int | None = None


@dataclass(slots=True)
class UnmatchedResponse:
    """A well-formed response whose sequence_number names none of our outstanding requests: late (after its
    request timed out and was sent again or given up) or unsolicited.  Nothing to match (SMPP 3.4 section
    3.3); reported for the adapter's log, as an ESME's bug or a slow acknowledgement shows up here."""

    command_id: int
    sequence_number: int
    command_status: int


@dataclass(slots=True)
class Unbound:
    """The ESME sent unbind (SMPP 3.4 section 4.2). The session is UNBOUND: further requests are refused.
    The adapter first sends every response it still owes (submit_sm_resp waiting for the store), then calls
    :meth:`Session.answer_unbind` and closes once that is written."""

    sequence_number: int


@dataclass(slots=True)
class SubmitRefused:
    """The session answered a submit_sm, data_sm, submit_multi or replace_sm with an error of its own: the PDU
    could not be decoded (a field too long, a bad TLV ...: its own _resp with the status, SMPP 3.4 section
    5.1.3) or the bind state does not allow it (ESME_RINVBNDSTS).  Nothing to answer: the adapter counts a
    submit with the submits it refuses itself, so that submits received = accepted + refused, and logs why."""

    command_id: int
    status: int
    #: Why, in words, for the log: the decoder's message (which field, what was wrong), or the bind state
    #: (details: two refusals with the same command_id and status compare equal).
    reason: str = field(default="", compare=False)
    #: The refused request's sequence_number (0 when its header was not readable).
    sequence_number: int = field(default=0, compare=False)


@dataclass(slots=True)
class RequestRefused:
    """The session answered a request other than those of :class:`SubmitRefused` with an error of its own: a
    second bind on a bound connection (ESME_RALYBND), a query_sm or cancel_sm the bind state does not allow
    (ESME_RINVBNDSTS), a PDU an ESME may not send, one that could not be decoded, an unknown command_id
    (generic_nack).  Reported only by a session made with ``report_refusals`` (the adapter logs why: tester
    73 found these refusals silent); nothing to answer or count.  ``pdu`` the refused request, None when it
    could not be decoded."""

    command_id: int
    status: int
    reason: str = field(default="", compare=False)
    sequence_number: int = field(default=0, compare=False)
    pdu: P.Pdu | None = field(default=None, compare=False)
    #: An undecodable bind's system_id as far as it could be read (:attr:`SmppError.system_id`), else "".
    system_id: str = field(default="", compare=False)


@dataclass(slots=True)
class InactivityExpired:
    """No transaction for the inactivity_timer (SMPP 3.4 section 7.2): the session sent unbind (the close follows
    its unbind_resp, or the response timer), or with ``timer_unbinds_wait`` leaves the unbind to the caller (which
    may find a transaction still under way: :meth:`Session.transaction_under_way`).  For the adapter's log: the :class:`CloseRequested` that ends the
    session names only the unbind's outcome ("unbind answered"), not why it was sent (tester 73).  ``idle``:
    seconds since the last transaction."""

    idle: float


@dataclass(slots=True)
class CloseRequested:
    """The session is over (fatal framing error, timer, unbind done): write what is queued, then close."""

    reason: str


@dataclass(slots=True)
class LinkDead:
    """Our requests went unanswered for :data:`DEAD_LINK_EXPIRIES` response_timer periods in a row with no
    answer from the ESME in between (see :data:`DEAD_LINK_EXPIRIES` for what counts as one): the session sent
    unbind (the close follows its unbind_resp, or the response timer), or with ``timer_unbinds_wait`` takes
    nothing new and leaves the unbind to the caller.  For the adapter's log; each expired
    request was reported by its own :class:`ResponseTimedOut`."""

    expiries: int


Event = (BindRequested | RequestReceived | ResponseReceived | ResponseTimedOut | Unbound | CloseRequested
         | SubmitRefused | RequestRefused | InactivityExpired | LinkDead | MalformedResponse | UnmatchedResponse
         | LateResponse)

#: Rounds of response_timer expiries, each at least one response_timer after the last and with no answer from
#: the ESME since, after which a bound session is taken for dead and unbound (SMPP 3.4 section 7.2 says only that
#: an expired request is failed; an ESME that answers nothing, its TCP connection still open, would otherwise
#: lease a window of deliveries every response_timer forever).
#:
#: "Answers nothing" means: no response PDU to our requests other than enquire_link, on time or late.  A
#: deliver_sm_resp or data_sm_resp (whatever its status), a generic_nack to a deliver_sm or data_sm, even one
#: that cannot be decoded or of the wrong kind, shows the ESME's handler of deliveries is running, so a slow ESME
#: answering after response_timer keeps its bind.  What the ESME sends on its own does not count: its
#: enquire_link and enquire_link_resp (often a keep-alive timer in a thread of its own, SMPP 3.4 section 4.11),
#: submit_sm and the other requests of a transceiver show that the socket is alive, not that the deliveries
#: leased to it are taken.
DEAD_LINK_EXPIRIES = 3


class _Outstanding(NamedTuple):
    """One request of ours waiting for its response (a tuple: one is made per deliver_sm sent)."""

    command_id: int
    sent_at: float
    context: Any


_new_outstanding = tuple.__new__  # _Outstanding(...) without the keyword-parsing __new__


@dataclass(slots=True, frozen=True)
class SessionTimers:
    """Timer lengths in seconds (SMPP 3.4 section 7.2); 0 disables a timer."""

    session_init: float = 30.0
    enquire_link: float = 60.0
    inactivity: float = 0.0
    response: float = 30.0


class Session:
    """One SMPP connection seen from the SMSC. See the module docstring for the contract."""

    def __init__(
        self,
        *,
        now: float,
        timers: SessionTimers = SessionTimers(),
        max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH,
        window: int = 10,
        report_refusals: bool = False,
        tls_port: int | None = None,
        timer_unbinds_wait: bool = False,
    ) -> None:
        """``report_refusals``: also report, as :class:`RequestRefused`, the requests the session refuses on its
        own that no :class:`SubmitRefused` reports (a caller that logs every refusal; off, the events are those
        of the protocol alone).  ``tls_port``: the server's TLS port, which the hint for a TLS handshake on this
        connection names (None: it says there is none).  ``timer_unbinds_wait``: when the inactivity_timer
        expires or the link is found dead (:class:`InactivityExpired`, :class:`LinkDead`) the session does not
        send unbind itself: the caller sends it with :meth:`unbind` once the responses it still owes the ESME are
        written (tester 180: a submit_sm_resp waiting for a carrier's delay was lost to an inactivity unbind, the
        message delivered all the same).  A dead link takes nothing new from then (:meth:`take_nothing_new`);
        an expired inactivity_timer is the caller's to act on: it takes nothing new and unbinds, or, while it
        still owes a response (a transaction not over: SMPP 3.4 section 7.2 times the lapse between
        transactions), calls :meth:`transaction_under_way` (tester 181: the timer ran out while the SMSC held a
        response, and the ESME's next submit was refused)."""
        self.state = SessionState.OPEN
        self._timer_unbinds_wait = timer_unbinds_wait
        self._report_refusals = report_refusals
        self._tls_port = tls_port
        self.bind_type: BindType | None = None
        self.system_id: str = ""
        #: interface_version the ESME bound with; below 0x34 it gets no TLVs (SMPP 3.4 section 3.4).
        self.interface_version = 0
        self.timers = timers
        self.window = window
        self._framer = Framer(max_command_length)
        self._out = bytearray()
        self._next_seq = 1
        self._outstanding: dict[int, _Outstanding] = {}
        #: Requests with a context that timed out, by sequence_number, oldest first (see LateResponse).
        self._timed_out: dict[int, _Outstanding] = {}
        self._opened_at = now
        self._last_received = now
        #: When the ESME last answered one of our requests other than enquire_link, late or not
        #: (:data:`DEAD_LINK_EXPIRIES`); ``_last_received`` counts any octet, a partial PDU included.
        self._last_answer = now
        #: Rounds of response_timer expiries with no PDU in between (:data:`DEAD_LINK_EXPIRIES`), the last one's time.
        self._expiry_rounds = 0
        self._last_expiry_round = now
        self._last_sent_request = now
        self._last_transaction = now
        self._enquire_outstanding = False
        self._unbind_sent = False
        #: True once the session takes no new request: its unbind is sent, or about to be (:meth:`take_nothing_new`).
        self._ending = False
        #: An unbind was answered (ours by the ESME, or the ESME's by us) while deliveries we sent were still
        #: unanswered: the session stays open for their responses (or their response timer) and closes after the
        #: last (:meth:`_close_when_answered`), with this reason ("" while no unbind was answered).
        self._unbind_answered = ""
        self._bind_pending = False
        self._input_closed = False
        self._held: list[P.Pdu | SmppError] = []

    # -- state ---------------------------------------------------------------------------------

    @property
    def is_bound(self) -> bool:
        """True in BOUND_TX, BOUND_RX and BOUND_TRX."""
        return self.state in _ALL_BOUND

    @property
    def can_receive(self) -> bool:
        """True if the SMSC may send deliver_sm on this session (BOUND_RX or BOUND_TRX)."""
        state = self.state
        return state is _BOUND_RX or state is _BOUND_TRX

    @property
    def window_free(self) -> int:
        """How many more deliver_sm may be sent before the window of unacknowledged ones is full (0 unless
        BOUND_RX or BOUND_TRX, and 0 once we are unbinding or input is closed).

        Asked a few times per socket read, so :attr:`can_receive` and ``max`` are written out here."""
        state = self.state
        if (state is _BOUND_TRX or state is _BOUND_RX) and not (
            self._ending or self._input_closed
        ):
            free = self.window - len(self._outstanding)
            if free > 0:
                return free
        return 0

    @property
    def input_closed(self) -> bool:
        """True after a fatal framing error (SMPP 3.4 section 3.3: command_length out of range): no more
        input is read, but responses to the requests that came before it may still be queued."""
        return self._input_closed

    @property
    def outstanding(self) -> int:
        """Number of our requests the ESME has not answered yet."""
        return len(self._outstanding)

    # -- input ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[Event]:
        """Feed bytes read from the connection; return the events they cause, in order.

        Responses the spec fully determines are queued for :meth:`data_to_send` on the way.
        """
        if self.state is _CLOSED or self._input_closed:
            return []
        items = self._framer.feed(data) if data else []
        if data:
            self._last_received = now
        if self._held:
            items = self._held + items
            self._held = []
        events: list[Event] = []
        outstanding = self._outstanding
        state = self.state
        # A submit_sm is taken on the short path below while this holds; only _handle changes it.
        submits_ok = (state is _BOUND_TX or state is _BOUND_TRX) and not self._ending
        for i, item in enumerate(items):
            if isinstance(item, SmppError):
                if not item.fatal and item.command_id is not None and item.command_id & 0x80000000:
                    # An undecodable response: never nack a response (both sides could nack forever).
                    self._malformed_response(item, now, events)
                    if self.state is _CLOSED:
                        break
                    continue
                if (not item.fatal and item.command_id is not None and item.command_id in P.PDU_CLASSES
                        and item.command_id not in ALLOWED_REQUESTS):
                    # deliver_sm, outbind, alert_notification: not the ESME's to send, whatever their body holds
                    # (tester 178: a bare header got ESME_RINVCMDLEN, the same PDU with a body ESME_RINVBNDSTS).
                    item = SmppError(CommandStatus.ESME_RINVBNDSTS, _SMSC_ONLY_REASON, command_id=item.command_id,
                                     sequence_number=item.sequence_number)
                if item.command_id == _DATA_SM and not item.fatal and self._speaks_v33:
                    self._refuse_v33_data_sm(item.sequence_number, events)
                    continue
                self._queue(error_response(item))
                if item.command_id in _REPORTED_IDS and not item.fatal:
                    events.append(SubmitRefused(item.command_id, item.status, item.message, item.sequence_number))
                elif self._report_refusals and not item.fatal:
                    events.append(RequestRefused(item.command_id or 0, item.status, item.message or
                                                 "the PDU could not be decoded", item.sequence_number,
                                                 system_id=item.system_id))
                if item.fatal:
                    # The stream cannot be followed past this point; the requests before it stand: the
                    # session still takes their responses (the adapter closes once they are written).
                    self._input_closed = True
                    hint = _foreign_protocol(data, self._tls_port) if self.state is SessionState.OPEN else ""
                    events.append(CloseRequested(f"framing error: {item}{hint}"))
                    break
                continue
            cid = item.command_id
            if cid == _SUBMIT_SM and submits_ok:
                # The hot path, what _handle decides for a submit_sm in a bound transmitter state.
                self._last_transaction = now
                events.append(RequestReceived(item))
                continue
            if cid & 0x80000000:  # a response (deliver_sm_resp ...): what _handle does first
                out = outstanding.pop(item.sequence_number, None)
                if out is None:
                    # Late or unsolicited: nothing to match (SMPP 3.4 section 3.3), but a late answer is
                    # still an answer (DEAD_LINK_EXPIRIES).
                    if cid != _ENQUIRE_LINK_RESP:
                        self._last_answer = now
                    late = self._timed_out.pop(item.sequence_number, None) if self._timed_out else None
                    if late is not None and cid == late.command_id | 0x80000000:
                        events.append(LateResponse(item, late.context, item.command_status))
                    else:
                        events.append(UnmatchedResponse(cid, item.sequence_number, item.command_status))
                    continue
                if cid == _DELIVER_SM_RESP and out.command_id == _DELIVER_SM:
                    # The hot path, what _matched_response decides for a deliver_sm_resp.
                    self._last_answer = now
                    events.append(ResponseReceived(item, out.context, item.command_status))
                    continue
                if out.command_id != _ENQUIRE_LINK:
                    self._last_answer = now
                self._matched_response(item, out, events)
                if self.state is _CLOSED:
                    break
                continue
            self._handle(item, now, events)
            state = self.state
            if state is _CLOSED:
                break
            if self._bind_pending:
                # Nothing after a bind may be handled before the bind is decided: keep the rest.
                self._held = items[i + 1:]
                break
            submits_ok = (state is _BOUND_TX or state is _BOUND_TRX) and not self._ending
        if self._unbind_answered:
            self._close_when_answered(events, self._unbind_answered)
        return events

    def _close_when_answered(self, events: list[Event], reason: str) -> None:
        """After an unbind was answered: close once no delivery we sent waits for its response any more."""
        if self.state is not _CLOSED and not self._deliveries_outstanding():
            self.state = _CLOSED
            events.append(CloseRequested(reason))

    @property
    def unbind_answered(self) -> bool:
        """True while an unbind was answered (ours by the ESME, or the ESME's by us) and the session waits for the
        responses to deliveries still outstanding before it closes."""
        return bool(self._unbind_answered)

    @property
    def has_held_input(self) -> bool:
        """True when PDUs that arrived behind a bind wait for it to be decided; call ``receive_data(b"")``
        after :meth:`accept_bind` / :meth:`reject_bind` to handle them."""
        return bool(self._held) and not self._bind_pending

    def _handle(self, pdu: P.Pdu, now: float, events: list[Event]) -> None:
        """A request from the ESME (:meth:`receive_data` matches every response itself, before this)."""
        cid = pdu.command_id
        allowed = ALLOWED_REQUESTS.get(cid)
        if allowed is None:
            # outbind, alert_notification, deliver_sm ...: valid PDUs an ESME may not send to an SMSC.
            self._reject(pdu, CommandStatus.ESME_RINVBNDSTS, events, _SMSC_ONLY_REASON)
            return
        if cid == _DATA_SM and self._speaks_v33:
            self._refuse_v33_data_sm(pdu.sequence_number, events)
            return
        if self.state not in allowed:
            if cid in _BIND_IDS and self.is_bound:
                bound_as = self.bind_type.name.lower() if self.bind_type is not None else ""
                self._reject(pdu, CommandStatus.ESME_RALYBND, events,
                             f"this connection is bound already (system_id {self.system_id!r}, {bound_as}): one "
                             f"bind per connection, a bind is allowed in state OPEN only (SMPP 3.4 Table 2-1); "
                             f"unbind first, or bind on another connection")
            else:
                self._reject(pdu, CommandStatus.ESME_RINVBNDSTS, events, self._state_refusal(cid))
            return
        if cid == CommandId.enquire_link:
            self._queue(P.EnquireLinkResp(sequence_number=pdu.sequence_number))
            return
        if self._ending and cid != CommandId.unbind:
            # We are unbinding: take nothing new.  (Tester 57: the log said "not allowed in the session's state
            # (BOUND_TRX)" for submits that crossed the unbind of a stopping SMSC.)
            self._reject(pdu, CommandStatus.ESME_RINVBNDSTS, events,
                         "it came after the SMSC began to end the session with an unbind (the SMSC is stopping, or "
                         "ended the session for its inactivity timer, a dead link, the control API or the config's "
                         "scenario): not taken, to be submitted again on a new bind")
            return
        if cid == CommandId.unbind:
            self.state = SessionState.UNBOUND
            events.append(Unbound(pdu.sequence_number))
            return
        self._last_transaction = now
        bind_type = _BIND_IDS.get(cid)
        if bind_type is not None:
            self._bind_pending = True
            events.append(BindRequested(pdu, bind_type))  # type: ignore[arg-type]
        else:
            events.append(RequestReceived(pdu))

    def _malformed_response(self, err: SmppError, now: float, events: list[Event]) -> None:
        """A response whose body could not be decoded (``err``, not fatal: the stream goes on).

        Its header was read, and the header is the acknowledgement: command_id, sequence_number and
        command_status (SMPP 3.4 section 3.2; a deliver_sm_resp's only body field, message_id, is unused and
        NULL, section 4.6.2).  So a response of the kind of the request it answers counts as that response
        with the header's status (a deliver_sm_resp with status 0 followed by junk octets is an acknowledgement:
        treated as a failure, the receipt was sent again a second later, and again, with nothing logged).  A
        generic_nack, or a response of another kind, fails the request, as a well-formed one does.  Either way a
        :class:`MalformedResponse` comes first, for the adapter's log."""
        cid = err.command_id
        seq = err.sequence_number
        status = err.command_status
        out = self._outstanding.pop(seq, None)
        if cid != _ENQUIRE_LINK_RESP:
            self._last_answer = now  # (an answer all the same: DEAD_LINK_EXPIRIES)
        cls = P.PDU_CLASSES.get(cid)  # type: ignore[arg-type]
        matched = (out is not None and status is not None and cls is not None
                   and (cid == out.command_id | 0x80000000 or cid == _GENERIC_NACK))
        events.append(MalformedResponse(cid, seq, status if status is not None else 0,  # type: ignore[arg-type]
                                        err.message, matched))
        if out is None:
            # Late or unsolicited: nothing to match, but a late answer of the right kind is a LateResponse,
            # as for a well-formed one (its header is the acknowledgement).
            late = self._timed_out.pop(seq, None) if self._timed_out else None
            if (late is not None and status is not None and cls is not None
                    and cid == late.command_id | 0x80000000):
                late_pdu: P.Pdu = cls(sequence_number=seq, command_status=status)  # type: ignore[misc]
                events.append(LateResponse(late_pdu, late.context, status))
            return
        if matched and status is not None:
            pdu: P.Pdu = cls(sequence_number=seq, command_status=status)  # type: ignore[misc]
        elif cid != _GENERIC_NACK and cid is not None and out.command_id not in (_ENQUIRE_LINK, _UNBIND):
            # Another kind, or a command_id that names no PDU: the request fails as for a response of the wrong
            # kind, said as what came (tester 180: "generic_nack ESME_ROK" for a header 0x80000099 the ESME sent).
            if out.context is not None:
                events.append(ResponseTimedOut(out.context, out.command_id, cid, None))
            return
        else:  # a generic_nack, or what answers our enquire_link or unbind: as a generic_nack would
            pdu = P.GenericNack(sequence_number=seq, command_status=status or 0)
        self._matched_response(pdu, out, events)

    def _matched_response(self, pdu: P.Pdu, out: _Outstanding, events: list[Event]) -> None:
        """``pdu`` answers our request ``out`` (already taken out of the outstanding ones)."""
        sent_id = out.command_id
        if sent_id == _ENQUIRE_LINK:
            self._enquire_outstanding = False
            return
        if sent_id == _UNBIND:
            # Tester 90: an ESME that answered the unbind at once and its last deliver_sm a moment later lost those
            # acknowledgements to the close, and got the receipts again after the restart.  With deliveries
            # outstanding, their responses are still read (the response timer bounds the wait, as the stop's
            # grace does): :meth:`receive_data` and :meth:`poll` close after the last.
            self._unbind_answered = "unbind answered, and the deliveries outstanding then"
            self._close_when_answered(events, "unbind answered")
            return
        if pdu.command_id != (sent_id | 0x80000000):
            # A generic_nack says the request was not processed (SMPP 3.4 section 4.3), whatever its
            # command_status: taken by its status, one with status 0 acknowledged a receipt never handled.  A
            # response of the wrong kind for this sequence number (a data_sm_resp to a deliver_sm) says nothing
            # better.  Either way the request counts as failed, as with no answer, and its sender retries it.
            # (Ignoring it left the delivery held by this bind for good: nothing outstanding was left to time out.)
            if out.context is not None:
                nack_status = pdu.command_status if pdu.command_id == _GENERIC_NACK else None
                events.append(ResponseTimedOut(out.context, sent_id, pdu.command_id, nack_status))
            return
        events.append(ResponseReceived(pdu, out.context, pdu.command_status))

    @property
    def _speaks_v33(self) -> bool:
        """True once bound with interface_version below 0x34: SMPP 3.3 or older (SMPP 3.4 section 5.2.4,
        smpp34-facts.md section 5.10), which has neither data_sm nor optional parameters."""
        return self.bind_type is not None and self.interface_version < 0x34

    def _refuse_v33_data_sm(self, sequence_number: int, events: list[Event]) -> None:
        """A data_sm from an SMPP 3.3 bind: a command 3.3 does not have, so generic_nack ESME_RINVCMDID as for
        any unknown command_id (SMPP 3.4 sections 3.3, 4.3; a data_sm_resp would also carry TLVs it does not
        know).  Reported as refused, so that submits received = accepted + refused."""
        self._queue(P.GenericNack(sequence_number=sequence_number, command_status=CommandStatus.ESME_RINVCMDID))
        events.append(SubmitRefused(_DATA_SM, CommandStatus.ESME_RINVCMDID, "data_sm does not exist in SMPP 3.3, "
                                    "the version this ESME bound with", sequence_number))

    def _state_refusal(self, command_id: int) -> str:
        """Why a request the state does not allow is refused, with what to do instead (tester 86: "not allowed
        in the session's state (BOUND_RX)" left a new user to work out that a receiver cannot submit)."""
        state = self.state
        why = f"not allowed in the session's state ({state.name})"
        if state is SessionState.BOUND_RX and command_id in _TRANSMITTER_IDS:
            return (f"{why}: a receiver bind takes deliveries only; bind as transmitter or transceiver to "
                    f"{command_name(command_id)} (SMPP 3.4 Table 2-1)")
        if state is SessionState.OPEN:
            return f"{why}: bind first (SMPP 3.4 Table 2-1)"
        return why

    def _reject(self, pdu: P.Pdu, status: int, events: list[Event] | None = None, reason: str | None = None) -> None:
        """Answer ``pdu`` with ``status``; with ``events`` (a refusal of the session's own, not a bind the adapter
        refused) report it, with ``reason`` or the session's state as why."""
        if events is not None:
            if pdu.command_id in _REPORTED_IDS:
                events.append(SubmitRefused(pdu.command_id, status, reason or f"not allowed in the session's state "
                                            f"({self.state.name})", pdu.sequence_number))
            elif self._report_refusals:
                events.append(RequestRefused(pdu.command_id, status, reason or f"not allowed in the session's state "
                                             f"({self.state.name})", pdu.sequence_number, pdu))
        resp_cls = P.response_class(type(pdu))
        if resp_cls is None:
            self._queue(P.GenericNack(sequence_number=pdu.sequence_number, command_status=status))
        else:
            self._queue(resp_cls(sequence_number=pdu.sequence_number, command_status=status))

    # -- decisions from the adapter -------------------------------------------------------------

    def accept_bind(self, request: BindRequested, smsc_system_id: str) -> None:
        """Answer a bind with ESME_ROK and enter the bound state (SMPP 3.4 section 4.1)."""
        req = request.pdu
        resp_cls = cast("type[P.BindTransmitterResp | P.BindReceiverResp | P.BindTransceiverResp] | None",
                        P.response_class(type(req)))
        assert resp_cls is not None
        resp = resp_cls(sequence_number=req.sequence_number, system_id=smsc_system_id)
        self.interface_version = req.interface_version
        if req.interface_version >= 0x34:
            resp.tlvs[0x0210] = 0x34  # sc_interface_version
        self._queue(resp)
        self._bind_pending = False
        self.state = _BOUND_STATE[request.bind_type]
        self.bind_type = request.bind_type
        self.system_id = req.system_id

    def reject_bind(self, request: BindRequested, status: int) -> None:
        """Answer a bind with an error status; the session stays OPEN (SMPP 3.4 section 4.1.2)."""
        self._bind_pending = False
        self._reject(request.pdu, status)

    def respond(self, pdu: P.Pdu) -> None:
        """Queue a response PDU (its sequence_number must be the request's).

        Its TLVs are dropped for an ESME bound with interface_version below 0x34, which knows none (SMPP 3.4
        section 5.3; as :meth:`send_request` does for our requests)."""
        if self.state is not _CLOSED:
            if pdu.tlvs and self._speaks_v33:
                pdu.tlvs = {}
            self._queue(pdu)

    def respond_message_id(self, command_id: int, sequence_number: int, status: int, message_id: str) -> None:
        """Queue a submit_sm_resp or data_sm_resp (SMPP 3.4 sections 4.4.2, 4.7.2) without building a PDU
        object: the hot path of every submit. The body (message_id) is omitted when status is not 0."""
        if self.state is _CLOSED:
            return
        if status:
            self._out += _HEADER.pack(16, command_id, status, sequence_number)
        else:
            body = message_id.encode("latin-1")
            if len(body) > 64:
                raise ValueError(f"message_id longer than 64 octets: {message_id!r}")
            self._out += _HEADER.pack(17 + len(body), command_id, 0, sequence_number)
            self._out += body
            self._out += b"\0"

    def send_request(self, pdu: P.Pdu, now: float, context: Any = None) -> int:
        """Queue a request of ours (deliver_sm, data_sm, enquire_link, unbind); return its sequence_number.

        ``context`` comes back in the :class:`ResponseReceived` or :class:`ResponseTimedOut` event.
        """
        seq = self._take_seq()
        pdu.sequence_number = seq
        if self.interface_version < 0x34 and pdu.tlvs:
            pdu.tlvs = {}
        self._outstanding[seq] = _new_outstanding(_Outstanding, (pdu.command_id, now, context))
        self._last_sent_request = now
        if pdu.command_id != CommandId.enquire_link:
            self._last_transaction = now
        self._queue(pdu)
        return seq

    def send_request_body(
        self, command_id: int, body: bytes, tlvs: dict[int, Any], now: float, context: Any = None
    ) -> int:
        """Queue a request of ours whose mandatory body is already encoded (the deliver_sm hot path: see
        :mod:`smsc.smpp.deliver_body`); return its sequence_number.

        ``tlvs`` are appended unless the ESME bound with interface_version below 0x34, which knows none
        (SMPP 3.4 section 5.3).  ``context`` comes back as in :meth:`send_request`.

        Raises:
            ValueError: a TLV value does not fit its tag (as :func:`smsc.smpp.tlv.encode_tlvs` reports).
        """
        if tlvs and self.interface_version >= 0x34:
            body += encode_tlvs(tlvs)
        seq = self._next_seq
        self._next_seq = 1 if seq >= MAX_SEQUENCE else seq + 1
        self._outstanding[seq] = _new_outstanding(_Outstanding, (command_id, now, context))
        self._last_sent_request = now
        if command_id != _ENQUIRE_LINK:
            self._last_transaction = now
        out = self._out
        out += _HEADER.pack(16 + len(body), command_id, 0, seq)
        out += body
        return seq

    def send_unanswered(self, pdu: P.Pdu, now: float) -> int:
        """Queue a request of ours that has no response PDU (alert_notification, SMPP 3.4 section 4.12: "there
        is no alert_notification_resp PDU"); return its sequence_number.  It takes no window slot and starts
        no response timer: once queued it is done.  TLVs are dropped for an ESME bound below 0x34, as in
        :meth:`send_request`.

        Raises:
            ValueError: the session cannot take a delivery now (not BOUND_RX or BOUND_TRX, or unbinding), or a
                field does not fit (as :func:`smsc.smpp.codec.encode` reports; TypeError for a wrong type).
        """
        state = self.state
        if not (state is _BOUND_RX or state is _BOUND_TRX) or self._ending or self._input_closed:
            raise ValueError(f"{type(pdu).__name__} cannot be sent in state {state.name}")
        if self.interface_version < 0x34 and pdu.tlvs:
            pdu.tlvs = {}
        seq = self._take_seq()
        pdu.sequence_number = seq
        self._out += encode(pdu)  # (a field that does not fit raises before anything is queued)
        self._last_sent_request = now
        self._last_transaction = now
        return seq

    def _link_dead(self, now: float) -> bool:
        """Count a round of response_timer expiries at ``now``; once :data:`DEAD_LINK_EXPIRIES` rounds, each one
        response_timer or more after the last, came with no answer from the ESME since the first, send unbind
        and return True.  An answer to one of our requests other than enquire_link (on time or late) starts
        the count again; the ESME's own requests and its enquire_link_resp do not."""
        if self._last_answer > self._last_expiry_round:
            self._expiry_rounds = 0
        if self._expiry_rounds and now - self._last_expiry_round < self.timers.response:
            return False  # (expiries a moment apart are one round)
        self._expiry_rounds += 1
        self._last_expiry_round = now
        if self._expiry_rounds < DEAD_LINK_EXPIRIES or not self.is_bound or self._unbind_sent or self._ending:
            return False
        if self._timer_unbinds_wait:
            self.take_nothing_new()
        else:
            self.unbind(now)
        return True

    def transaction_under_way(self, now: float) -> None:
        """A transaction is not over at ``now`` (the SMSC still owes its response): the inactivity_timer counts
        from here, as from a request just received."""
        self._last_transaction = now

    def take_nothing_new(self) -> None:
        """The SMSC will unbind this session once the responses it owes are sent: from now on every new request
        but enquire_link and unbind is refused with ESME_RINVBNDSTS, and no deliver_sm is sent (SMPP 3.4
        section 2.3: no request after an unbind; here the responses owed come first)."""
        if self.is_bound:
            self._ending = True

    @property
    def takes_new_requests(self) -> bool:
        """False once the session takes no new request (its unbind sent, or :meth:`take_nothing_new`)."""
        return not self._ending

    def unbind(self, now: float) -> None:
        """Start an SMSC-initiated unbind (shutdown); CloseRequested follows its unbind_resp or a timeout."""
        if self.is_bound and not self._unbind_sent:
            self._unbind_sent = True
            self._ending = True
            self.send_request(P.Unbind(), now)

    def answer_unbind(self, event: Unbound) -> bool:
        """Queue the unbind_resp for ``event``.  True: the adapter closes the connection after it.  False:
        deliveries we sent are still unanswered, and their responses are still read (the response timer bounds
        the wait); :meth:`receive_data` or :meth:`poll` ends the session with :class:`CloseRequested` after
        the last.  Tester 99: an ESME that wrote its deliver_sm_resp a moment after its unbind, in another TCP
        segment, lost them to the close and got the receipts again on its next bind (SMPP 3.4 section 2.3 asks
        the ESME to finish its operations first; one that does not should not be sent them twice)."""
        self._queue(P.UnbindResp(sequence_number=event.sequence_number))
        if self._deliveries_outstanding():
            self._unbind_answered = "unbind of the ESME answered, and the deliveries outstanding then"
            return False
        return True

    def _deliveries_outstanding(self) -> bool:
        """True while a delivery we sent (a request with a context: deliver_sm, data_sm) awaits its response."""
        return any(o.context is not None for o in self._outstanding.values())

    def send_outbind(self, system_id: str, password: str) -> None:
        """On a connection the SMSC opened: ask the ESME to bind as receiver (SMPP 3.4 section 4.1.7).
        There is no outbind_resp; the ESME answers with bind_receiver (a :class:`BindRequested` event)."""
        if self.state is SessionState.OPEN:
            self._queue(P.Outbind(sequence_number=self._take_seq(), system_id=system_id, password=password))

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq = 1 if seq >= MAX_SEQUENCE else seq + 1
        return seq

    def pending_contexts(self) -> list[Any]:
        """Contexts of every unanswered request, cleared; for the adapter when the connection is lost."""
        contexts = [o.context for o in self._outstanding.values() if o.context is not None]
        self._outstanding.clear()
        self._timed_out.clear()
        return contexts

    def connection_lost(self) -> None:
        """The transport is gone."""
        self.state = SessionState.CLOSED

    # -- output and time -----------------------------------------------------------------------

    def _queue(self, pdu: P.Pdu) -> None:
        self._out += encode(pdu)

    def data_to_send(self) -> bytes | bytearray:
        """Every byte queued since the last call (possibly empty). The buffer itself is handed over (no copy)
        and the session starts a new one, so the caller may keep it."""
        if not self._out:
            return b""
        data = self._out
        self._out = bytearray()
        return data

    def poll(self, now: float) -> list[Event]:
        """Run the timers of SMPP 3.4 section 7.2 at time ``now``; return what they cause.

        session_init: close a connection that never bound. enquire_link: ping an ESME silent that long.
        inactivity: unbind a bound ESME with no transaction that long. response: report unanswered requests.
        """
        events: list[Event] = []
        if self.state is SessionState.CLOSED or self._input_closed:
            return events
        t = self.timers
        if self.state is SessionState.OPEN:
            if t.session_init and now - self._opened_at >= t.session_init:
                self.state = SessionState.CLOSED
                events.append(CloseRequested(f"session_init_timer ({t.session_init:g} s) expired before a bind"))
            return events
        if t.response and self._outstanding:
            limit = now - t.response
            expired = [s for s, o in self._outstanding.items() if o.sent_at <= limit]
            for seq in expired:
                out = self._outstanding.pop(seq)
                if out.command_id == CommandId.enquire_link:
                    self._enquire_outstanding = False
                    self.state = SessionState.CLOSED
                    events.append(CloseRequested("enquire_link not answered"))
                    return events
                if out.command_id == CommandId.unbind:
                    self.state = SessionState.CLOSED
                    events.append(CloseRequested("unbind not answered"))
                    return events
                events.append(ResponseTimedOut(out.context, out.command_id))
                if out.context is not None:  # (its answer may still come: LateResponse)
                    timed_out = self._timed_out
                    if len(timed_out) >= LATE_RESPONSES_KEPT:
                        del timed_out[next(iter(timed_out))]
                    timed_out[seq] = out
            if expired and self._link_dead(now):
                events.append(LinkDead(self._expiry_rounds))
            if self._unbind_answered:
                self._close_when_answered(events, self._unbind_answered)
                if self.state is _CLOSED:
                    return events
        if not self.is_bound:
            return events
        if t.inactivity and now - self._last_transaction >= t.inactivity and not self._ending:
            events.append(InactivityExpired(now - self._last_transaction))  # (before the unbind counts as one)
            if not self._timer_unbinds_wait:
                self.unbind(now)
            return events
        if (
            t.enquire_link
            and not self._enquire_outstanding
            and not self._unbind_sent  # (the unbind's own response timer watches the link: tester 60)
            and now - max(self._last_received, self._last_sent_request) >= t.enquire_link
        ):
            self._enquire_outstanding = True
            self.send_request(P.EnquireLink(), now)
        return events
