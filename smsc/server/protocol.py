"""The asyncio adapter for one SMPP connection: bytes <-> :class:`~smsc.smpp.session.Session` <-> core.

Per socket read: the session decodes every complete PDU and answers what the spec decides; this adapter
turns the remaining events into core calls (:class:`~smsc.core.api.SmscApi`) and their replies into
response PDUs; everything produced by one read (and every reply arriving in one loop tick, such as the
submit_sm_resp released by one store commit) goes out in one ``transport.write``.

Backpressure: when the transport's write buffer passes its high-water mark, or when too many submits are
waiting for their store commit, the adapter stops reading from the socket until things drain, so a client
that stops reading cannot make the server's memory grow without bound.  No domain rule lives here.

Transaction-mode data_sm (SMPP 3.4 section 2.10.3) are the exception: their data_sm_resp waits for the
delivery outcome, up to ``simulation.transaction_timeout`` (25 s), so they do not pause reading (a paused
connection would leave the ESME's enquire_link and unbind unanswered that long).  At most
:data:`MAX_HELD_TRANSACTIONS` wait per connection; one more is answered ESME_RTHROTTLED at once (the ESME
sends it again later, SMPP 3.4 section 5.1.3).  When the session ends before their outcomes (the ESME's
unbind, a framing error, the SMSC stopping), the held ones are answered first, ESME_RDELIVERYFAILURE with
delivery_failure_reason 3 (temporary network error), their attempts abandoned
(:meth:`~smsc.core.smsc.Smsc.cut_transaction`), and then the unbind_resp: an SMSC may not answer a request
after its unbind_resp (the session is over, section 2.3), and the ESME should not wait 25 s for it.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING, Any, Callable

import structlog

from smsc import obs
from smsc.config import V33_MAX_MESSAGE_ID
from smsc.core.accounts import AccountState
from smsc.core.api import (
    ALERT,
    PERMANENT_STATUSES,
    Address,
    Delivery,
    MultiSubmitResult,
    QueryResult,
    Submission,
    SubmitResult,
    TransactionResult,
    new_submission,
)
from smsc.smpp import pdu as P
from smsc.smpp.codec import Framer
from smsc.smpp.constants import ESM_MODE_MASK, CommandId, CommandStatus, EsmClass, Tag, command_name, status_name
from smsc.smpp.deliver_body import deliver_sm_body
from smsc.smpp.session import (
    BindRequested,
    CloseRequested,
    InactivityExpired,
    LateResponse,
    LinkDead,
    MalformedResponse,
    RequestReceived,
    RequestRefused,
    ResponseReceived,
    ResponseTimedOut,
    Session,
    SubmitRefused,
    Unbound,
    UnmatchedResponse,
)
from smsc.smpp.timefmt import format_relative
from smsc.smpp.validate import (
    MAX_SME_ADDRESS,
    check_replace,
    check_sar,
    check_sme_address,
    check_submit,
    check_udh,
    payload_too_many_parts,
    payload_unsendable,
    refusal_reason,
    short_message_fits_one_sms,
)

if TYPE_CHECKING:
    from smsc.server.listen import SmppServer

log = structlog.get_logger("smsc.server")

#: Submits waiting for their commit (or a scripted delay) above which we stop reading from the socket.
MAX_PENDING_REPLIES = 4096
#: Transaction-mode data_sm awaiting their delivery outcome, per connection, beyond which one more is answered
#: ESME_RTHROTTLED at once (see the module docstring).  They do not count toward MAX_PENDING_REPLIES.
MAX_HELD_TRANSACTIONS = 4096
#: Octets read within one turn of the loop (a thousand submit_sm or so) after which a connection's turn ends:
#: it reads no more until the loop has served the others.  Under uvloop, libuv reads a busy socket up to 32
#: times in a row (up to 256 KiB each) before it looks at another, so one ESME flooding the memory store (whose
#: replies never wait, so nothing else pauses it) kept every other connection, the HTTP API and the timers
#: waiting for seconds.  Checked after each read: a flooding ESME's turn may reach one read of 256 KiB, about
#: 2,900 submit_sm.  The count starts again at every turn: an ESME that sends a window's worth per turn,
#: however long it goes on, is never paused (a pause makes it miss the next poll, and its submits wait a whole
#: round of the other connections more than theirs: at 4 binds x window 100 that doubled the p99 latency).
READ_TURN_OCTETS = 64 * 1024
#: Events of one read (requests and responses) from which what the read produced (its responses, and the
#: deliveries its deliver_sm_resp made room for) is written before the pump makes the receipts of its messages;
#: those follow in a second write when the window has room for them (under a steady load it has not: they wait
#: for the next read's deliver_sm_resp).  The ESME then refills its window while the receipts are made, and its
#: next submits are in before the loop polls again.  Written after the pump, the connection read last in a turn
#: answered after the poll, missed the next turn and waited a whole round of the others more: at 4 binds x
#: window 100 with receipts a quarter of the submits took twice the median latency (p90 = 2 x p50).  A small
#: read (window 1) keeps one write: a system call per message costs more than its receipts.
EARLY_WRITE_EVENTS = 16
#: After the first malformed response of a connection, every this many-th is logged (with the count): an ESME
#: that adds junk to every deliver_sm_resp must not write a log line per receipt.
MALFORMED_RESPONSE_LOG_EVERY = 1000
#: A connection's failed deliver_sm / data_sm (no response, generic_nack ...), and its responses that name no
#: request of ours, are logged the first, then every this many (a whole window times out at once when an ESME
#: stalls, and its late answers come together).
FAILED_REQUEST_LOG_EVERY = 100
#: Real seconds a closing connection may take to hand its last writes to the ESME before it is aborted: a close
#: waits for the write buffer to drain, and an ESME that reads nothing (a hung or stopped process) never drains
#: it, so its connection, and the bind slot of its account, stayed for ever (tester 35).
CLOSE_GRACE = 10.0
#: Real seconds a bind is given no deliver_sm or data_sm after its ESME answered one with ESME_RTHROTTLED (each
#: such answer starts the pause again): the ESME asks the SMSC to slow down, and offering the rest of the window
#: at once only had it refused too (tester 42: an ESME taking 20 receipts a second had 120 of 200 after 75 s).
THROTTLED_PAUSE = 1.0
#: Refused binds one connection may make: the last refusal is answered, then the connection closes, as carriers'
#: SMSCs do (tester 42: 200 wrong passwords on one connection took 0.03 s, then the right one bound).
MAX_BIND_FAILURES = 3
_SAR_TAGS = (Tag.sar_msg_ref_num, Tag.sar_total_segments, Tag.sar_segment_seqnum)
#: Enum members used per PDU, as module globals: an attribute of an Enum class (``CommandId.deliver_sm``) costs
#: about 0.1 us to read in CPython 3.11, ten times a global.
_SUBMIT_SM_RESP = CommandId.submit_sm_resp
_DATA_SM_RESP = CommandId.data_sm_resp
_DELIVER_SM = CommandId.deliver_sm
_SubmitSm = P.SubmitSm
_ESM_MODE_MASK = ESM_MODE_MASK
_UDHI = int(EsmClass.UDHI)
_THROTTLED = int(CommandStatus.ESME_RTHROTTLED)
#: The window of ``server.max_bind_failures``, in seconds.
BIND_FAILURE_WINDOW = 60.0
#: esm_class messaging mode 2: transaction (forward) mode, data_sm only (SMPP 3.4 section 5.2.12).
_TRANSACTION_MODE = 0x02
#: The longest qos_time_to_live taken as it is, seconds: 99 days 23:59:59, the longest validity_period a
#: relative SMPP time writes in days (its months and years have no fixed length).  Longer ones are cut to it
#: (and then, as any validity_period, to ``simulation.max_validity``).
MAX_TIME_TO_LIVE = 99 * 86400 + 86399
#: Delivery.kind of an alert_notification owed (:mod:`smsc.core.dpf`).
_ALERT = ALERT


#: Address objects shared by every submit from the same TON/NPI/address (ESMEs repeat a few senders and,
#: in load tests, a few numbers); emptied when full so that a run over millions of numbers stays bounded.
_addresses: dict[tuple[int, int, str], Address] = {}
ADDRESS_CACHE_MAX = 50_000


def _address(ton: int, npi: int, addr: str) -> Address:
    key = (ton, npi, addr)
    address = _addresses.get(key)
    if address is None:
        if len(_addresses) >= ADDRESS_CACHE_MAX:
            _addresses.clear()
        address = _addresses[key] = Address(ton=ton, npi=npi, addr=addr)
    return address


def fits_deliver_sm(d: Delivery) -> bool:
    """True when deliver_sm can carry ``d``: addresses of at most 20 characters (SMPP 3.4 section 4.6.1).  A
    longer one (the receipt of a data_sm from a long source address) goes as data_sm, whose addresses take 64
    (section 4.7.1), and so only to a bind of SMPP 3.4: 3.3 has no data_sm."""
    return len(d.source.addr) <= 20 and len(d.destination.addr) <= 20


#: What :meth:`SmppProtocol._log_refused` strips from a reason to tell one kind of fault from another: quoted
#: values, hex values and numbers ("priority_flag 9: expected 0-3" and "priority_flag 7: ..." are one kind).
_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|0x[0-9A-Fa-f]+|\d+")


#: Kinds of fault remembered per status and connection for the refusal log (beyond: every 100th line only).
_REFUSAL_KINDS_KEPT = 64

#: The log event of a refused request, by command_id (:meth:`SmppProtocol._log_refused`); any other request (an
#: enquire_link or unbind out of place, a PDU an ESME does not send, an unknown command_id): ``request_refused``.
_REFUSAL_EVENTS: dict[int, str] = {
    CommandId.submit_sm: "submit_refused",
    CommandId.data_sm: "submit_refused",
    CommandId.submit_multi: "submit_refused",
    CommandId.replace_sm: "replace_refused",
    CommandId.query_sm: "query_refused",
    CommandId.cancel_sm: "cancel_refused",
    CommandId.bind_transmitter: "bind_refused",
    CommandId.bind_receiver: "bind_refused",
    CommandId.bind_transceiver: "bind_refused",
}

#: The binds, counted in ``binds_refused`` besides ``requests_refused`` when answered with an error status
#: (:meth:`SmppProtocol._count_refusal`).
_BIND_COMMANDS = frozenset(command_id for command_id, event in _REFUSAL_EVENTS.items() if event == "bind_refused")


peer_name = obs.peer_name


def carried_by_v33(d: Delivery) -> bool:
    """True when a bind of SMPP 3.3 can carry ``d``: a deliver_sm (:func:`fits_deliver_sm`), not an
    alert_notification (new in SMPP 3.4, as data_sm is)."""
    return len(d.source.addr) <= 20 and len(d.destination.addr) <= 20 and d.kind != _ALERT


def _submission(system_id: str, pdu: P.SubmitSm | P.DataSm, one_sms: bool = False) -> Submission | int:
    """Turn submit_sm / data_sm into a Submission, or return the status to refuse it with.

    The user data is short_message, or the message_payload TLV's value (never both: SMPP 3.4 section
    5.3.2.32); SAR TLVs come as all three with consistent values and never with a UDH (sections 5.2.12,
    5.3.2.22 to 5.3.2.24), nor do source_port and destination_port (section 5.2.12), and a UDH fits in the
    user data (:mod:`smsc.smpp.validate`).  With ``one_sms``
    (``server.oversized_short_message: reject``) a short_message must fit one SMS, its UDH included
    (:func:`~smsc.smpp.text.fits_one_sms`), else ESME_RINVMSGLEN: 161 GSM characters without a UDH are a
    splitting bug of the ESME that a network which does not segment refuses (tester 48).
    """
    tlvs = pdu.tlvs
    if tlvs:
        payload = tlvs.get(Tag.message_payload)
        if Tag.sar_msg_ref_num in tlvs or Tag.sar_total_segments in tlvs or Tag.sar_segment_seqnum in tlvs:
            status = check_sar(tlvs, pdu.esm_class)
            if status:
                return status
        if pdu.esm_class & _UDHI and (Tag.source_port in tlvs or Tag.destination_port in tlvs):
            return CommandStatus.ESME_RINVOPTPARAMVAL  # (SMPP 3.4 section 5.2.12: ports go in the UDH then)
        if payload is not None:
            tlvs = {k: v for k, v in tlvs.items() if k != Tag.message_payload}
    else:
        payload = None
        tlvs = {}
    # _address, its cache hit written out (two calls fewer per message)
    key = (pdu.source_addr_ton, pdu.source_addr_npi, pdu.source_addr)
    source = _addresses.get(key) or _address(*key)
    key = (pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr)
    destination = _addresses.get(key) or _address(*key)
    if type(pdu) is P.SubmitSm:
        short_message = pdu.short_message
        if payload is not None:
            if short_message:
                return CommandStatus.ESME_RINVMSGLEN
            short_message = payload
        if pdu.esm_class & _UDHI and check_udh(short_message):
            return CommandStatus.ESME_RINVMSGLEN
        if payload is not None:
            if payload_too_many_parts(payload, pdu.data_coding, pdu.esm_class, tlvs):
                return CommandStatus.ESME_RINVMSGLEN  # (more than a concatenated message has parts: tester 71)
            if one_sms and payload_unsendable(payload, pdu.data_coding, pdu.esm_class, tlvs):
                return CommandStatus.ESME_RINVMSGLEN
        # (70 octets fit one SMS in every coding: the hot path pays one comparison)
        if (len(short_message) > 70 and one_sms and payload is None
                and not short_message_fits_one_sms(short_message, pdu.data_coding, pdu.esm_class, tlvs)):
            return CommandStatus.ESME_RINVMSGLEN
        return new_submission(
            system_id, source, destination, pdu.service_type, pdu.esm_class, pdu.protocol_id,
            pdu.priority_flag, pdu.schedule_delivery_time, pdu.validity_period, pdu.registered_delivery,
            pdu.replace_if_present_flag, pdu.data_coding, short_message, tlvs,
        )
    user_data = payload if payload is not None else b""
    if pdu.esm_class & _UDHI and check_udh(user_data):
        return CommandStatus.ESME_RINVMSGLEN
    if payload_too_many_parts(user_data, pdu.data_coding, pdu.esm_class, tlvs):
        return CommandStatus.ESME_RINVMSGLEN
    if one_sms and payload_unsendable(user_data, pdu.data_coding, pdu.esm_class, tlvs):
        return CommandStatus.ESME_RINVMSGLEN
    # data_sm has no validity_period: its qos_time_to_live TLV (SMPP 3.4 section 5.3.2.9, seconds from
    # submission; 0 or absent: the SMSC's default) is its validity, given to the core as a relative time.
    time_to_live = tlvs.get(Tag.qos_time_to_live) if tlvs else None
    validity = format_relative(min(time_to_live, MAX_TIME_TO_LIVE)) if time_to_live else ""
    return new_submission(
        system_id, source, destination, pdu.service_type, pdu.esm_class, 0, 0, "", validity,
        pdu.registered_delivery, 0, pdu.data_coding, user_data, tlvs,
    )


def _lookup_refusal_reason(pdu: P.QuerySm | P.CancelSm, status: int) -> str:
    """Why the core refused a query_sm or cancel_sm with ``status`` (:meth:`~smsc.core.smsc.Smsc.query`,
    :meth:`~smsc.core.smsc.Smsc.cancel` decide it; they name no reason, so it is told here from the request)."""
    if status == CommandStatus.ESME_RSYSERR:
        return "the store could not read the message back (a disk I/O error: see the store_read_failed line)"
    source = f"source_addr {pdu.source_addr!r} (TON {pdu.source_addr_ton}, NPI {pdu.source_addr_npi})"
    if isinstance(pdu, P.QuerySm):
        if status == CommandStatus.ESME_RQUERYFAIL:
            return (f"message_id {pdu.message_id!r}: no message of this system_id from {source} (unknown, another "
                    f"system_id's, or another source_addr, TON or NPI than the submit's; an empty source_addr "
                    f"matches any)")
    elif status == CommandStatus.ESME_RINVDSTADR and not pdu.message_id and not pdu.destination_addr:
        return ("neither message_id nor destination_addr given: cancelling by source needs the destination too "
                "(SMPP 3.4 section 4.9, Table 4-24)")
    elif status == CommandStatus.ESME_RCANCELFAIL:
        if pdu.message_id:
            to = f" to destination_addr {pdu.destination_addr!r}" if pdu.destination_addr else ""
            return (f"message_id {pdu.message_id!r}: no pending message of this system_id from {source}{to} (final, "
                    f"in flight: an attempt in progress, unknown, another system_id's, or another source_addr, TON "
                    f"or NPI than the submit's)")
        service = f" with service_type {pdu.service_type!r}" if pdu.service_type else ""
        return (f"no pending message of this system_id from {source} to destination_addr "
                f"{pdu.destination_addr!r}{service} (final, in flight: an attempt in progress, or none sent)")
    return f"{command_name(pdu.command_id)} refused by the SMSC with {status_name(status)}"


class SmppProtocol(asyncio.Protocol):
    """One ESME connection. Created by :class:`~smsc.server.listen.SmppServer` for every accepted socket."""

    def __init__(self, server: SmppServer, *, outbind: Any = None) -> None:
        # shared state
        self.server = server
        self.smsc = server.smsc
        self.loop = server.loop
        #: A short_message must fit one SMS (server.oversized_short_message: reject; see _submission).
        self._one_sms = server.config.server.oversized_short_message == "reject"
        # per-connection state
        self.transport: asyncio.Transport | None = None
        #: The ESME's address as the logs name the connection ("127.0.0.1:40312", "[::1]:40312": several binds
        #: from one host are told apart), and its IP alone (connection limits, allowed_ips).
        self.peer: str = ""
        self.peer_ip: str = ""
        self.session = Session(
            now=self.loop.time(),
            timers=server.timers,
            max_command_length=server.config.server.max_command_length,
            window=server.config.server.window,
            report_refusals=True,  # (every refusal is logged: _log_refused)
            tls_port=server.addresses[1][1] if len(server.addresses) > 1 else None,
            timer_unbinds_wait=True,  # (the unbind goes after the responses owed: SmppServer.unbind_soon)
        )
        self._receiving = False
        self._flush_scheduled = False
        #: The timer that aborts a close the ESME does not let end (:data:`CLOSE_GRACE`), and whether the
        #: connection is gone.
        self._abort_handle: asyncio.TimerHandle | None = None
        self._lost = False
        #: The ESME ended its input (:meth:`eof_received`): nothing more to read, so reading never resumes.
        self._eof_seen = False
        self._write_paused = False
        self._read_paused = False
        self._turn_over = False  # READ_TURN_OCTETS were read: reading waits for the loop's next turn
        self._turn = -1  # the server's read_turn of the octets counted in _turn_octets
        self._turn_octets = 0
        self._pending_replies = 0
        #: Of those, the replies of query_sm, cancel_sm and replace_sm (no place in a submit_window).
        self._pending_lookups = 0
        self._malformed_responses = 0  # responses whose body could not be decoded (MalformedResponse)
        self._failed_requests = 0  # our deliver_sm / data_sm that failed (ResponseTimedOut with a context)
        self._unsuccess_logged = 0  # submit_multi answered with destinations in unsuccess_sme (_log_unsuccess)
        self._last_failure = ""  # the reason of the last failure logged (_log_failed_request)
        self._unmatched_responses = 0  # responses naming no request of ours (UnmatchedResponse)
        self._bind_failures = 0  # binds refused on this connection (MAX_BIND_FAILURES)
        self._debug_framer: Framer | None = None  # --log-level debug: frames what is read, for pdu_in lines
        self._late_responses = 0  # answers after the response_timer (LateResponse)
        #: Transaction-mode data_sm whose data_sm_resp waits for the delivery outcome: a key per request ->
        #: its message_id ("" when the core refused it: its answer only waits for a scripted delay).
        self._transactions: dict[int, str] = {}
        self._transaction_keys = 0
        #: A deliver_sm_resp freed room in our window during this read: refill it before writing.
        self._window_opened = False
        self._closing = False
        self._closing_reads = False
        self._registered_receiver = False
        #: This connection's bind counts against its account's max_binds (from the bind_resp until the
        #: unbind_resp or the close, whichever comes first).
        self._holds_bind = False
        self._unbind: Unbound | None = None  # an ESME unbind waiting for our owed responses
        self._close_when_answered = False  # a framing error: close once the owed responses are queued
        #: Submits of this bind not yet answered on the wire, counted only for an account with a submit_window
        #: (:meth:`_check_submit`); and whether the last ESME_RTHROTTLED was the window's (else the throughput's).
        self._window_used = 0
        self._throttled_by_window = False
        self._account: AccountState | None = None  # the bound account (rate bucket, source patterns)
        self._refuses_data_sm_flag = False  # the ESME answered data_sm with ESME_RINVCMDID (_refuses_data_sm)
        self._close_reason = ""  # why the session asked to close (CloseRequested), for the "unbound" log line
        self._inactivity_unbind = False  # the inactivity_timer made the session send unbind (InactivityExpired)
        #: Requests refused on this connection, by log event and status (see _log_refused), and the kinds of fault
        #: logged of each.
        self._refusals: dict[tuple[str, int], int] = {}
        self._refused_kinds: dict[tuple[str, int], set[str]] = {}
        #: A deliver_sm or data_sm of ours went unanswered past the response_timer, and none has been answered
        #: since: while another bind of the system_id has room, this one is given nothing (:meth:`fill_window`).
        self.stalled = False
        #: Loop time until which this bind takes no delivery (an ESME_RTHROTTLED answer: THROTTLED_PAUSE); 0.0 none.
        self._throttled_until = 0.0
        self._throttle_handle: asyncio.TimerHandle | None = None
        #: The Account this connection was opened for to send outbind (None for accepted connections).
        self.outbind = outbind
        #: Wall-clock time of its bind (seconds since the epoch), None before: GET /api/binds shows it, so that a
        #: test sees a reconnection (tester 144).
        self.bound_at: float | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # (uvloop's transports are not subclasses)
        peer = transport.get_extra_info("peername")
        self.peer_ip = peer[0] if peer else ""
        self.peer = peer_name(peer)
        self.server.registry.connections.add(self)
        self.server.counters.connections_opened += 1
        if self.outbind is not None:
            # SMPP 3.4 section 4.1.7.1: the SMSC's identifier and a password the ESME may check it by; the ESME
            # knows which account is called by where it was called (tester 141: the account's own system_id and
            # password went out, the password in clear to whatever host the target names).
            target = self.outbind.outbind
            identity = target.system_id or self.server.config.server.system_id
            self.session.send_outbind(identity, target.password)
            self._flush()
            log.info("outbind_sent", peer=self.peer, system_id=self.outbind.system_id, outbind_system_id=identity)

    def data_received(self, data: bytes) -> None:
        session = self.session
        self._receiving = True
        smsc = self.smsc
        server = self.server
        server.registry.pump_pending = True  # the pump below hands out what this read makes
        held = False
        early_write = False
        outstanding = session.outstanding
        try:
            now = self.loop.time()
            if obs.debug_pdus:
                self._log_read(data)
            events = session.receive_data(data, now)
            # A read of many requests: their responses are written before the pump below makes the receipts of
            # the messages delivered at once (see EARLY_WRITE_EVENTS).
            early_write = len(events) >= EARLY_WRITE_EVENTS
            # One store commit for the requests of this read (group commit); their replies follow it in order.
            held = len(events) > 1 and smsc.hold_read_commits and smsc.hold_commits()
            while True:
                for event in events:
                    # Requests and responses, the events of every read at a steady load, handled as _dispatch
                    # would, one call fewer per event.
                    if type(event) is RequestReceived:
                        pdu = event.pdu
                        if type(pdu) is _SubmitSm:
                            self._on_submit(pdu)
                        else:
                            self._on_request(pdu)
                    elif type(event) is ResponseReceived:
                        if event.status:
                            self._answered_with_error(event)
                        smsc.delivery_acked(event.context, event.status)
                        self._window_opened = True
                    else:
                        self._dispatch(event)
                # Input is held only behind a bind, the last event of the list it ends.
                if not events or type(events[-1]) is not BindRequested or not session.has_held_input:
                    break
                events = session.receive_data(b"", now)
            if held:
                held = False
                smsc.release_commits()
            # Any answer frees a slot, the answer to our own enquire_link too: with window 1 a delivery queued
            # while the enquire_link held the slot otherwise waited for the next wake.  (A deliver_sm_resp, in
            # nearly every read at window 1, has said so already: no need to count.)
            if self._window_opened or session.outstanding < outstanding:  # _refill_window, written out
                if self._window_opened:  # (a response to our deliver_sm or data_sm: it answers again)
                    self.stalled = False
                self._window_opened = False
                system_id = session.system_id
                registry = server.registry
                if registry.may_have_waiting(system_id) and self.fill_window(system_id):
                    registry.emptied(system_id)
        except Exception:  # a bug must not kill the loop: log it and close this connection only
            log.exception("connection_error", peer=self.peer, system_id=session.system_id)
            self._close()
        finally:
            try:
                if held:  # what was recorded before the failure is still committed and answered
                    smsc.release_commits()
            finally:
                try:
                    if early_write:
                        self._flush()
                finally:
                    server.pump(self)  # (it catches its own errors and always ends pump_pending)
                    self._receiving = False
        self._flush()
        turn = server.read_turn
        if self._turn != turn:  # the first read of this loop turn: count from zero
            self._turn = turn
            self._turn_octets = len(data)
            server.read_turn_started()
        else:
            self._turn_octets += len(data)
        if self._turn_octets >= READ_TURN_OCTETS and not self._turn_over:
            self._turn_over = True
            self._update_reading()
            server.turn_paused.append(self)

    def next_turn(self) -> None:
        """The loop came round again (other connections had their turn meanwhile): read on."""
        if self._turn_over:
            self._turn_over = False
            self._update_reading()

    def eof_received(self) -> bool | None:
        """The ESME closed its side for writing (a TCP half-close, ``shutdown(SHUT_WR)``): no request follows,
        but the responses it is owed still go out (submit_sm_resp held until their messages are on disk, an
        unbind_resp behind them), then the connection closes; no deliver_sm is sent meanwhile (nothing could
        answer it).  Tester 32: the server closed at once, and the submit_sm_resp of messages it had stored
        never arrived (the ESME could only send them again).  True keeps our side open until then; a TLS
        transport cannot half-close and closes as before."""
        if self._eof_seen:
            return True  # (reported again when reading resumed: what the first report decided stands)
        self._eof_seen = True
        self._close_reason = self._close_reason or "closed by the ESME (end of its input)"
        transport = self.transport
        if transport is None or transport.is_closing() or transport.get_extra_info("ssl_object") is not None:
            return False  # (TLS: asyncio closes at once, and warns in the log when asked to stay open)
        if self._closing:
            return True  # a flush is on its way: it writes what is owed, then closes (tester 36: closing here
            # at once dropped the responses it was about to write)
        self._close_when_answered = True
        self.cut_transactions("connection closing before the delivery outcome")
        self._maybe_finish_unbind()
        if not self._receiving:
            self._schedule_flush()
        return True

    def _release_bind(self) -> None:
        """Give this connection's place in its account's max_binds back (once)."""
        if self._holds_bind:
            self._holds_bind = False
            self.server.accounts.unbound(self.session.system_id)

    def _unanswered_fate(self) -> str:
        """What becomes of the deliveries a closed connection left unanswered, for the log: offered again at
        once, or, while the SMSC stops, after the restart; lost with the process for the memory store, which
        keeps nothing across a restart (tester 142: the log promised them to a memory-store user)."""
        if not self.server.stopping:
            return "offered again at once"
        if self.server.config.store.kind == "memory":
            return "lost: the SMSC is stopping, and the memory store keeps nothing across a restart"
        return "offered again after the restart (the SMSC is stopping)"

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._throttle_handle is not None:
            self._throttle_handle.cancel()
            self._throttle_handle = None
        if self._abort_handle is not None:
            self._abort_handle.cancel()
            self._abort_handle = None
        session = self.session
        was_bound = session.is_bound or session.bind_type is not None
        session.connection_lost()
        owed = self._pending_replies + len(self._transactions)
        if owed:
            # (tester 144: nothing said that accepted submits' responses were lost with a connection)
            self.server.counters.responses_unsent += owed
            log.info("responses_unsent", peer=self.peer, system_id=session.system_id, count=owed,
                     reason="the connection closed before their answers came (a commit, a carrier's submit latency "
                            "or a transaction's outcome): those whose commit comes are delivered all the same, but "
                            "the ESME never learned their message_ids; those whose commit never comes (a store "
                            "that fails until the stop: store_close_gave_up) were not accepted")
        # A transaction-mode data_sm still awaiting its outcome is abandoned, as when the session ends otherwise:
        # nobody can be told it (tester 143: after a drop it went on to DELIVERED).
        self.cut_transactions("connection lost before the delivery outcome")
        unanswered = 0
        for delivery_id in session.pending_contexts():
            self.smsc.delivery_failed(delivery_id, at_once=True)
            unanswered += 1
        if unanswered:
            # (counted in smsc_deliveries_failed_total, and said here: tester 84 found only "unbound")
            log.info("delivery_failed", peer=self.peer, system_id=session.system_id, count=unanswered,
                     reason="the connection closed before their deliver_sm_resp",
                     action=self._unanswered_fate())
        registry = self.server.registry
        registry.connections.discard(self)
        if self._registered_receiver:
            registry.remove_receiver(session.system_id, self)
            self._registered_receiver = False
        self._release_bind()
        if was_bound:
            # A connection this side was closing ends for the reason it was closed: an ESME that closes its
            # socket after its unbind_resp without reading TLS's close_notify resets the connection, and the log
            # said "Connection reset by peer" for a clean unbind (tester 36).
            reason = (self._close_reason if self._closing and self._close_reason else str(exc) if exc
                      else self._close_reason or "closed")
            log.info("unbound", peer=self.peer, system_id=session.system_id,
                     bind_type=session.bind_type.name.lower() if session.bind_type is not None else None,
                     reason=reason)
        self.server.counters.connections_closed += 1

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._update_reading()
        if self.session.can_receive:
            self.server.registry.wake(self.session.system_id)

    # -- output --------------------------------------------------------------------------------

    def _flush(self) -> None:
        self._flush_scheduled = False
        data = self.session.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            if obs.debug_pdus:
                self._log_pdus("pdu_out", [p for p in Framer().feed(bytes(data)) if isinstance(p, P.Pdu)])
            self.transport.write(data)
            if self._window_used:
                # What this write answered leaves the window; what still waits for the store (or, in transaction
                # mode, for its outcome) stays in it.
                self._window_used = self._pending_replies - self._pending_lookups + len(self._transactions)
        if self._closing and self.transport is not None:
            if not self.transport.is_closing():
                # (once: asyncio's TLS transport, closed again, drops its innards, and its abort then did nothing
                # and /api/binds failed reading its peer: tester 127)
                self.transport.close()
            if self._abort_handle is None:
                self._abort_handle = self.loop.call_later(CLOSE_GRACE, self._abort_unflushed)

    def _log_read(self, data: bytes) -> None:
        """``--log-level debug``: one ``pdu_in`` line per PDU this read completes, whatever the session does with
        it (tester 44: enquire_link, unbind and unknown commands, answered by the session itself, had none), read
        by a framer of its own; one the codec refuses is logged with its header and the error."""
        framer = self._debug_framer
        if framer is None:
            framer = self._debug_framer = Framer()
        items = framer.feed(bytes(data))
        self._log_pdus("pdu_in", [item for item in items if isinstance(item, P.Pdu)])
        for item in items:
            if not isinstance(item, P.Pdu):
                log.debug("pdu_in", peer=self.peer, bound_as=self.session.system_id or None,
                          command=command_name(getattr(item, "command_id", 0) or 0),
                          sequence_number=getattr(item, "sequence_number", None), undecodable=str(item))

    def _log_pdus(self, event: str, pdus: list[P.Pdu]) -> None:
        """``--log-level debug``: one line per PDU read (``pdu_in``; a bind's password is never shown) or written
        (``pdu_out``), with :func:`smsc.obs.pdu_fields`."""
        for pdu in pdus:
            log.debug(event, peer=self.peer, bound_as=self.session.system_id or None, **obs.pdu_fields(pdu))

    def _abort_unflushed(self) -> None:
        """The close asked :data:`CLOSE_GRACE` seconds ago has not ended (the ESME reads nothing): abort it."""
        self._abort_handle = None
        if not self._lost:
            self.abort(f"{self._close_reason or 'closed'}; aborted: the ESME did not take the last writes within "
                       f"{CLOSE_GRACE:g} s")

    def _schedule_flush(self) -> None:
        if not self._receiving and not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _update_reading(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        should_pause = (self._write_paused or self._pending_replies >= MAX_PENDING_REPLIES or self._closing_reads
                        or self._turn_over or self._eof_seen)
        if should_pause and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()
        elif not should_pause and self._read_paused:
            self._read_paused = False
            self.transport.resume_reading()

    def _close(self) -> None:
        self._closing = True
        self._schedule_flush()

    # -- events --------------------------------------------------------------------------------

    def _dispatch(self, event: Any) -> None:
        if type(event) is RequestReceived:
            pdu = event.pdu
            if type(pdu) is P.SubmitSm:
                self._on_submit(pdu)
            else:
                self._on_request(pdu)
        elif type(event) is ResponseReceived:
            if event.status:
                self._answered_with_error(event)
            self.smsc.delivery_acked(event.context, event.status)
            self._window_opened = True
        elif type(event) is BindRequested:
            self._on_bind(event)
        elif type(event) is ResponseTimedOut:
            if event.command_id == CommandId.data_sm and event.nack_status is not None:
                self._refuses_data_sm()
            if event.context is not None:
                self._log_failed_request(event)
                if event.answer is None:
                    self.stalled = True
                self.smsc.delivery_failed(event.context, at_once=event.answer is None)
        elif type(event) is LateResponse:
            self._late_responses += 1
            count = self._late_responses
            if count == 1 or count % FAILED_REQUEST_LOG_EVERY == 0:
                log.info("response_late", peer=self.peer, system_id=self.session.system_id,
                         command=command_name(event.pdu.command_id), sequence_number=event.pdu.sequence_number,
                         status=f"0x{event.status:08X}", count=count,
                         reason="answered after the response_timer: the delivery was offered again; status 0 ends it")
            if event.context is not None:
                self.smsc.delivery_late_acked(event.context, event.status)
        elif type(event) is UnmatchedResponse:
            self._unmatched_responses += 1
            count = self._unmatched_responses
            if count == 1 or count % FAILED_REQUEST_LOG_EVERY == 0:
                log.info("response_unmatched", peer=self.peer, system_id=self.session.system_id,
                         command=command_name(event.command_id), sequence_number=event.sequence_number,
                         status=f"0x{event.command_status:08X}", count=count,
                         reason="no request of ours has this sequence_number: late (after the response_timer) "
                             "or unsolicited")
        elif type(event) is LinkDead:
            log.warning("link_dead", peer=self.peer, system_id=self.session.system_id,
                        expiries=event.expiries, action="unbind")
            self._close_reason = f"unbind from the SMSC: no answer in {event.expiries} response_timer rounds"
            self.server.unbind_soon(self, reason=self._close_reason)  # (after the responses owed: tester 180)
        elif type(event) is InactivityExpired:
            if self.owes_responses:
                # A transaction is not over while its response is owed (SMPP 3.4 section 7.2: the lapse between
                # transactions; tester 181: the timer ran out while a rule held a submit_sm_resp, and the ESME's
                # next submit was refused): the timer counts from its end.
                self.session.transaction_under_way(self.loop.time())
                return
            # Said now, and by the "unbound" line: its CloseRequested names only the unbind's outcome (tester 73).
            timer = self.session.timers.inactivity
            log.info("inactivity_timer_expired", peer=self.peer, system_id=self.session.system_id,
                     inactivity_timer=timer, idle=round(event.idle, 1), action="unbind")
            self._close_reason = f"unbind from the SMSC: no transaction within the inactivity_timer ({timer:g} s)"
            self._inactivity_unbind = True
            self.server.unbind_soon(self, reason=self._close_reason)  # (after the responses owed: tester 180)
        elif type(event) is CloseRequested:
            if self.session.input_closed:
                # A framing error: the requests before it are still answered, then the connection closes.  Its
                # generic_nack (ESME_RINVCMDLEN) is counted as any refusal (tester 115: it was not).
                self._count_refusal(0, CommandStatus.ESME_RINVCMDLEN)
                # (per address, the first then every 100th: a client reconnecting in a loop with octets that are
                # not SMPP wrote a warning per connection, tester 124)
                count = self.server.log_count("framing_error", "", self.peer_ip)
                if count:
                    log.warning("connection_closed", peer=self.peer, system_id=self.session.system_id,
                                reason=event.reason, count=count)
                self._closing_reads = True
                self._update_reading()
                self._close_when_answered = True
                self.cut_transactions("connection closing before the delivery outcome")
                self._maybe_finish_unbind()
            else:
                if self._inactivity_unbind or (event.reason == "unbind not answered" and self._close_reason):
                    # the cause, then the outcome: "...; unbind not answered" (tester 144: an unbind of the control
                    # API the ESME never answered read as a clean one)
                    self._close_reason = f"{self._close_reason}; {event.reason}"
                self._close_reason = self._close_reason or event.reason  # (the unbind's own reason first)
                if self.session.bind_type is None:
                    # Never bound (the session_init_timer): no "unbound" line follows to say why (tester 73).
                    log.info("connection_closed", peer=self.peer, reason=event.reason)
                self._close()
        elif type(event) is Unbound:
            self._close_reason = "unbind from the ESME"
            self._unbind = event
            self.cut_transactions("unbind before the delivery outcome")
            self._maybe_finish_unbind()
        elif type(event) is SubmitRefused:
            if event.command_id != CommandId.replace_sm:
                self._refused()
            self._log_refused(event, event.status)
        elif type(event) is RequestRefused:
            self._log_refused(event, event.status)
        elif type(event) is MalformedResponse:
            self._malformed_response(event)

    def _log_failed_request(self, event: ResponseTimedOut) -> None:
        """Say why a deliver_sm or data_sm of ours failed (it is offered again: at once when nothing answered, else
        after a backoff): the first of the connection, then every :data:`FAILED_REQUEST_LOG_EVERY`-th, with the
        count, and whenever the reason changes (a generic_nack after timeouts)."""
        if event.answer is None:
            why = "no response within the response_timer"
        elif event.nack_status is not None:
            why = f"generic_nack {status_name(event.nack_status)}"
        else:
            why = f"answered with {command_name(event.answer)}"
        self._log_failed(event.context, event.command_id, why)

    def _log_failed(self, delivery_id: Any, command_id: int, why: str) -> None:
        """:meth:`_log_failed_request`'s line: the first failure of the connection, then every
        :data:`FAILED_REQUEST_LOG_EVERY`-th, and whenever the reason changes."""
        self._failed_requests += 1
        count = self._failed_requests
        if count != 1 and count % FAILED_REQUEST_LOG_EVERY and why == self._last_failure:
            return
        self._last_failure = why
        log.info("delivery_failed", peer=self.peer, system_id=self.session.system_id, delivery_id=delivery_id,
                 command=command_name(command_id), reason=why, count=count)

    def _answered_with_error(self, event: ResponseReceived) -> None:
        """Our deliver_sm or data_sm was answered with an error status (the core retries or drops it by the
        status): a data_sm_resp with ESME_RINVCMDID says the ESME does not know data_sm.  Logged as a
        ``delivery_failed`` line (tester 50: an ESME whose handler refused every receipt saw them come again and
        again, and the log said nothing).  The answer to a copy whose delivery a late answer to the first one
        ended already (:meth:`Smsc.delivery_late_acked`) is ignored: nothing is offered again, nor the bind
        paused (tester 153: it was logged "offered again after a backoff")."""
        if event.context is not None and not self.smsc.delivery_awaits_answer(event.context):
            return
        if event.status not in PERMANENT_STATUSES:  # (those are dropped: the core logs delivery_dropped)
            if event.status == CommandStatus.ESME_RTHROTTLED:
                outcome = f"offered again after a {THROTTLED_PAUSE:g} s pause of this bind"
            else:
                outcome = "offered again after a backoff"
            self._log_failed(event.context, event.pdu.command_id & ~0x80000000,
                             f"answered with status {status_name(event.status)}: {outcome}")
        if event.status == CommandStatus.ESME_RINVCMDID and event.pdu.command_id == CommandId.data_sm_resp:
            self._refuses_data_sm()
        elif event.status == CommandStatus.ESME_RTHROTTLED:
            self._throttled_until = self.loop.time() + THROTTLED_PAUSE
            if self._throttle_handle is None:
                self._throttle_handle = self.loop.call_later(THROTTLED_PAUSE, self._throttle_over)

    def _throttle_over(self) -> None:
        """The pause an ESME_RTHROTTLED answer began has ended (or was started again meanwhile: wait on)."""
        left = self._throttled_until - self.loop.time()
        if left > 0:
            self._throttle_handle = self.loop.call_later(left, self._throttle_over)
            return
        self._throttle_handle = None
        self._throttled_until = 0.0
        if self.session.can_receive and not self._lost:
            self.server.registry.wake(self.session.system_id)

    def _refuses_data_sm(self) -> None:
        """The ESME answered our data_sm with a generic_nack (whatever its status: aiosmpplib sends 0; SMPP 3.4
        section 4.3 says the PDU was not processed) or with data_sm_resp ESME_RINVCMDID: it does not take data_sm
        (optional for an ESME; some client libraries refuse it).  Sent again to this bind it would be refused
        for ever, so from now on this bind takes only what deliver_sm carries (:func:`fits_deliver_sm`; alerts
        still go as alert_notification): the rest is held, not retried, for another bind of its system_id."""
        if not self._refuses_data_sm_flag:
            self._refuses_data_sm_flag = True
            log.warning("data_sm_refused", peer=self.peer, system_id=self.session.system_id,
                        action="deliveries only data_sm can carry wait for another bind of this system_id")

    def _malformed_response(self, event: MalformedResponse) -> None:
        """Log a response whose body could not be decoded: the first of the connection, then every
        :data:`MALFORMED_RESPONSE_LOG_EVERY`-th.  The session took it by its header already (an
        acknowledgement with the header's status when it answers our request of its kind); nothing is
        sent back (a response is never nacked)."""
        self._malformed_responses += 1
        count = self._malformed_responses
        if count == 1 or count % MALFORMED_RESPONSE_LOG_EVERY == 0:
            log.warning("malformed_response", peer=self.peer, system_id=self.session.system_id,
                        command=command_name(event.command_id),
                        sequence_number=event.sequence_number, command_status=event.command_status,
                        problem=event.reason, taken_as_answer=event.matched, count=count)

    def _on_bind(self, event: BindRequested) -> None:
        if self._closing:  # (a bind read behind the last refused one: MAX_BIND_FAILURES)
            return
        server = self.server
        req = event.pdu
        lockout = server.bind_lockout(self.peer_ip)
        status: int
        if lockout:  # (before the credentials: an address locked out learns nothing of them)
            status, reason = CommandStatus.ESME_RBINDFAIL, lockout
        else:
            status, reason = server.accounts.decide_bind(req.system_id, req.password, event.bind_type, self.peer_ip)
            if status == CommandStatus.ESME_RINVPASWD or status == CommandStatus.ESME_RINVSYSID:
                failures = server.bind_failed(self.peer_ip)
                if failures == server.config.server.max_bind_failures:
                    log.warning("bind_failures_exceeded", peer=self.peer, failures=failures,
                                window_seconds=BIND_FAILURE_WINDOW,
                                action="every bind from this address is refused (ESME_RBINDFAIL) until the window "
                                       "is over (server.max_bind_failures)")
        if status == CommandStatus.ESME_ROK and self.outbind is not None and req.system_id != self.outbind.system_id:
            # The outbind called one account's ESME, for what waits for that account (tester 141: a bind as
            # another account was taken, and the receipts the outbind was for waited for the next one).
            status = CommandStatus.ESME_RBINDFAIL
            reason = (f"this connection carried an outbind for system_id {self.outbind.system_id!r}: only a bind "
                      f"as that account is taken on it")
        elif status == CommandStatus.ESME_ROK and self.outbind is not None and not event.bind_type.can_receive:
            # SMPP 3.4 section 2.2.1: the ESME answers an outbind with bind_receiver (5.0 also bind_transceiver).
            # A transmitter bind there takes none of what waits, and each outbind after it added one more,
            # until they filled the account's max_binds (tester 60).
            status = CommandStatus.ESME_RBINDFAIL
            reason = ("this connection carried an outbind, which asks for a bind that receives (bind_receiver or "
                      "bind_transceiver, SMPP 3.4 section 2.2.1)")
        if status != CommandStatus.ESME_ROK:
            self.session.reject_bind(event, status)
            self._count_refusal(req.command_id, status)
            # Never the password.  Per address the first of each kind, then every 100th (a guesser reconnecting
            # wrote a line per try: tester 126).  ESME_RBINDFAIL's kinds are its causes (each account's own).
            kind = "lockout" if lockout else reason if status == CommandStatus.ESME_RBINDFAIL else status_name(status)
            count = server.log_count("bind_refused", kind, self.peer_ip)
            if count:
                log.info("bind_refused", peer=self.peer, system_id=req.system_id,
                         bind_type=event.bind_type.name.lower(), status=status_name(status), reason=reason,
                         count=count)
            self._bind_failures += 1
            if self._bind_failures >= MAX_BIND_FAILURES:
                self._close_reason = f"{self._bind_failures} binds refused on this connection"
                log.info("connection_closed", peer=self.peer, reason=self._close_reason)
                self._close()  # (after its bind_resp is written)
            return
        identity = server.config.server.system_id
        if self.outbind is not None:
            # The SMSC this connection's outbind named (SMPP 3.4 sections 4.1.7.1 and 4.1.4: both identify the SMSC
            # to the ESME; tester 178: the outbind said "SMSCX", the bind_receiver_resp on it "smsc").
            identity = self.outbind.outbind.system_id or identity
        self.session.accept_bind(event, identity)
        self.bound_at = time.time()
        server.accounts.bound(req.system_id)
        self._holds_bind = True
        self._account = server.accounts.state_for(req.system_id)
        server.counters.binds += 1
        log.info("bound", peer=self.peer, system_id=req.system_id, bind_type=event.bind_type.name.lower())
        if req.interface_version < 0x34:
            longest = server.config.longest_message_id()
            if longest > V33_MAX_MESSAGE_ID:
                # SMPP 3.4 section 3.4: at most 8 octets for a 3.3 ESME.  The ids are not shortened (they name
                # the message in receipts, query_sm, cancel_sm, the store): the config decides, so say so.
                log.warning("v33_bind_long_message_ids", peer=self.peer, system_id=req.system_id,
                            interface_version=f"0x{req.interface_version:02x}", longest=longest,
                            allowed=V33_MAX_MESSAGE_ID,
                            hint="set server.message_id and every carrier's receipt.message_id to a length of 8 "
                                 "or less (the default config's ids are 8)")
        if event.bind_type.can_receive:
            server.registry.add_receiver(req.system_id, self)
            self._registered_receiver = True
            # Only this new bind needs offering what waits (the others had their chance): binding the n-th
            # receiver stays O(1), not O(n).
            self.fill_window(req.system_id)

    def _on_request(self, pdu: P.Pdu) -> None:
        cid = pdu.command_id
        if cid == CommandId.submit_sm or cid == CommandId.data_sm:
            self._on_submit(pdu)  # type: ignore[arg-type]
        elif cid == CommandId.submit_multi:
            self._on_submit_multi(pdu)  # type: ignore[arg-type]
        elif cid == CommandId.query_sm:
            self._on_query(pdu)  # type: ignore[arg-type]
        elif cid == CommandId.cancel_sm:
            self._on_cancel(pdu)  # type: ignore[arg-type]
        elif cid == CommandId.replace_sm:
            self._on_replace(pdu)  # type: ignore[arg-type]

    def _check_submit(self, source_addr: str, messages: int = 1) -> int:
        """The bound account's source address rules, submit window and throughput limit (``messages`` tokens: a
        submit_multi's destinations; 0 takes none), ESME_ROK when it has none of them.  Called once every other
        check of the request has passed, so that a refused request costs no token (tester 51) and takes no
        place in the window."""
        account = self._account
        if account is None:
            return CommandStatus.ESME_ROK
        if account.receive_only:  # (a data_sm from its receiver bind: nothing else of it reaches here)
            return CommandStatus.ESME_RINVBNDSTS
        # (the source first: a request it refuses takes no token either)
        if account.source_patterns and not account.source_allowed(source_addr):
            return CommandStatus.ESME_RINVSRCADR
        window = account.window
        if window is not None and self._window_used >= window:
            # The ESME has as many submits awaiting their response as the account allows (tester 99: a gateway's
            # own window could not be tested against a carrier's cap).
            self.server.counters.throttled += 1
            self._throttled_by_window = True
            return CommandStatus.ESME_RTHROTTLED
        if account.bucket is not None and messages and not account.allow_submit(self.loop.time(), messages):
            self.server.counters.throttled += 1
            self._throttled_by_window = False
            return CommandStatus.ESME_RTHROTTLED
        if window is not None:
            self._window_used += 1
        return CommandStatus.ESME_ROK

    def _begin_reply(self, submit: bool = True) -> None:
        """A request's reply waits (for a commit, a store read): count it; ``submit`` False for query_sm,
        cancel_sm and replace_sm, which take no place in the account's submit_window."""
        self._pending_replies += 1
        if not submit:
            self._pending_lookups += 1
        if self._pending_replies >= MAX_PENDING_REPLIES:
            self._update_reading()

    def _maybe_finish_unbind(self) -> None:
        """Once every response we owe the ESME has been queued: answer its unbind and close, or close after
        a framing error."""
        if self._pending_replies or self._transactions:
            return
        if self._unbind is not None:
            closes_now = self.session.answer_unbind(self._unbind)
            self._unbind = None
            # The account may bind again at once: the session is over, even while it reads the answers to the
            # deliveries it was sent (tester 120: a rebind at max_binds was refused until the response_timer).
            self._release_bind()
            if closes_now:
                self._close()
            elif not self._receiving:
                self._schedule_flush()  # (the unbind_resp goes out now; the session closes after the answers)
        elif self._close_when_answered:
            self._close()

    def _end_reply(self, submit: bool = True) -> None:
        self._pending_replies -= 1
        if not submit:
            self._pending_lookups -= 1
        self._after_reply()

    def _after_reply(self) -> None:
        """A reply was queued (``_pending_replies`` already counts it off): finish an unbind or a close that
        waited for it, read again below the limit, and write it unless a read's own write takes it."""
        if self._unbind is not None or self._close_when_answered:
            self._maybe_finish_unbind()
        if self._read_paused and self._pending_replies < MAX_PENDING_REPLIES // 2:
            self._update_reading()
        if not self._receiving:  # (within a read, the read's own write takes it)
            self._schedule_flush()

    def _refused(self) -> None:
        """A submit request refused before the core saw it, here (a field value, text or TLV the adapter cannot
        take, the account's throughput limit or source rules) or by the session (undecodable, or not allowed
        in the bind state: :class:`SubmitRefused`): it was received (``smpp_submits``) and refused (the core's
        ``submit_errors``), as one the core refuses is, so that the counters add up."""
        self.server.counters.submits += 1
        self.smsc.submit_refused()

    def _count_refusal(self, command_id: int, status: int) -> None:
        """One more request answered with ``status``: ``smsc_smpp_requests_refused_total{command,status}``, and
        for a bind ``binds_refused`` too.  The one place both are counted, whoever refused the request (the
        account's rules in :meth:`_on_bind`, the session's state or decoder through :meth:`_log_refused`):
        tester 85 found each metric missing the binds the other counted (ESME_RINVPASWD and ESME_RBINDFAIL only
        in binds_refused, ESME_RALYBND only in requests_refused), so an alert on either missed a class."""
        server = self.server
        refusals = server.refusals
        # An unknown command_id is one label value, "unknown": written as its hex, each id an ESME or a fuzzer
        # sends made a series of its own for the life of the process (tester 113: 200 ids, 206 series).
        name = command_name(command_id) if command_id in P.PDU_CLASSES else "unknown"
        counted = (name, status_name(status))
        refusals[counted] = refusals.get(counted, 0) + 1
        if command_id in _BIND_COMMANDS:
            server.counters.binds_refused += 1

    def _log_refused(self, pdu: Any, status: int, *, by_core: bool = False) -> None:
        """Say why a request got ``status`` (tester 50: nothing was logged, and "why 0x0000000A?" had no answer but
        guessing; tester 73: query_sm, cancel_sm and a second bind neither): the field and value at fault
        (:func:`refusal_reason`), the account's rule, the network's, or the message looked for.  One event per
        kind of request (:data:`_REFUSAL_EVENTS`: ``submit_refused``, ``query_refused`` ...).  The first refusal
        of each event and status on a connection, then every :data:`FAILED_REQUEST_LOG_EVERY`-th of it with the
        count (a throttled load test refuses thousands, a gateway may poll an unknown message_id for ever), and
        the first of each other kind of fault under that status (tester 51: a second reason for the same status
        was hidden; tester 53: two alternating ones were each logged every time); every one at debug level.
        ``pdu`` a :class:`SubmitRefused` or :class:`RequestRefused`: the session refused it (its command_id and
        reason say what and why); ``by_core``: the core's answer (a number rule's status is not the account's)."""
        command_id = pdu.command_id
        self._count_refusal(command_id, status)  # (every refusal counted, the log lines limited below)
        event = _REFUSAL_EVENTS.get(command_id, "request_refused")
        key = (event, status)
        counts = self._refusals
        count = counts[key] = counts.get(key, 0) + 1
        refused = None  # the request, when decoded
        if type(pdu) is SubmitRefused or type(pdu) is RequestRefused:  # (the session's: undecodable, bind state)
            reason = pdu.reason or "the PDU could not be decoded"
            if type(pdu) is RequestRefused:
                refused = pdu.pdu
        else:
            reason = self._refusal_reason(pdu, status, by_core)
        kind = _VALUES.sub("", reason)  # (the reason without the values: one kind of fault)
        seen = self._refused_kinds.setdefault(key, set())
        known = kind in seen or len(seen) >= _REFUSAL_KINDS_KEPT  # (past that many kinds, the count alone)
        if count != 1 and count % FAILED_REQUEST_LOG_EVERY and not obs.debug_pdus and known:
            return
        if not known:
            seen.add(kind)
        if event == "bind_refused":  # (the fields of the adapter's own bind_refused lines: _on_bind)
            session = self.session
            if not session.is_bound:
                # Per address across connections, as _on_bind's lines (tester 182: a client reconnecting with a
                # 9-character password wrote a line per connection, each "count": 1).
                count = self.server.log_count("bind_refused", f"{status_name(status)} {kind}", self.peer_ip)
                if not count:
                    return
            bind_type = command_name(command_id).removeprefix("bind_")
            # The system_id the refused bind asked for, as in _on_bind's lines; on a bound connection
            # (ESME_RALYBND) the one it is bound as too, when another: which account's session refused it.
            system_id = (getattr(refused, "system_id", session.system_id) if refused is not None
                         else getattr(pdu, "system_id", "") or session.system_id)
            bound = ({"bound_system_id": session.system_id}
                     if session.is_bound and session.system_id != system_id else {})
            log.info(event, peer=self.peer, system_id=system_id, **bound,
                     bind_type=bind_type, command=command_name(command_id), sequence_number=pdu.sequence_number,
                     status=status_name(status), reason=reason, count=count)
            return
        log.info(event, peer=self.peer, system_id=self.session.system_id, command=command_name(command_id),
                 sequence_number=pdu.sequence_number, status=status_name(status), reason=reason, count=count)

    def _refusal_reason(self, pdu: Any, status: int, by_core: bool) -> str:
        """:meth:`_log_refused`'s reason for a request the adapter or the core refused."""
        if type(pdu) is P.QuerySm or type(pdu) is P.CancelSm:
            return _lookup_refusal_reason(pdu, status)
        if status == CommandStatus.ESME_RSYSERR and type(pdu) is P.ReplaceSm:
            return "the store could not read the message back (a disk I/O error: see the store_read_failed line)"
        account = self._account
        if not by_core and status == CommandStatus.ESME_RINVBNDSTS and account is not None and account.receive_only:
            return (f"account {account.account.system_id!r} may only receive (bind_types: "
                    f"{', '.join(sorted(account.account.bind_types))}): it sends no MT, data_sm included")
        if not by_core and status == CommandStatus.ESME_RTHROTTLED and account is not None:
            if self._throttled_by_window:
                return (f"the bind has {account.window} submits awaiting their response, the account's "
                        f"submit_window: wait for a response before the next submit")
            if account.bucket is not None:
                return f"over the account's throughput limit ({account.account.throughput:g} messages a second)"
        if (not by_core and status == CommandStatus.ESME_RINVSRCADR and account is not None
                and account.source_patterns and not account.source_allowed(pdu.source_addr)):
            return (f"source_addr {pdu.source_addr!r} matches none of the account's source_addresses "
                    f"({', '.join(account.account.source_addresses)})")
        if (by_core and status in (CommandStatus.ESME_RINVSCHED, CommandStatus.ESME_RINVEXPIRY)
                and (type(pdu) is P.SubmitSm or type(pdu) is P.SubmitMulti)):
            # (the time read and the simulated now, where the field alone could only list the possible causes)
            why = self.smsc.time_refusal_reason(pdu.schedule_delivery_time, pdu.validity_period, status)
            if why is not None:
                return why
        if by_core and hasattr(pdu, "dest_addr_ton"):  # (a number rule's answer before any field's guess)
            rule = self.smsc.submit_rule_reason(
                Address(ton=pdu.dest_addr_ton, npi=pdu.dest_addr_npi, addr=pdu.destination_addr), status)
            if rule is not None:
                return rule
        reason = refusal_reason(pdu, status)
        if reason:
            return reason
        if status == CommandStatus.ESME_RMSGQFUL:
            return "the SMSC holds as many messages as it may (every message_id in use, or the queue full)"
        if status == CommandStatus.ESME_RREPLACEFAIL:
            return (f"message_id {pdu.message_id!r}: no pending message of this system_id with this source (final, "
                    f"in flight, unknown, or another source_addr, TON or NPI)")
        if type(pdu) is P.SubmitMulti:
            return "no destination could be submitted to: each is in unsuccess_sme with its own status"
        return (f"the simulated network refused it for destination_addr {getattr(pdu, 'destination_addr', '')!r}: "
                f"a number rule of the topology, or the SMSC's own state")

    def _on_submit(self, pdu: P.SubmitSm | P.DataSm) -> None:
        seq = pdu.sequence_number
        command_id = _SUBMIT_SM_RESP if type(pdu) is _SubmitSm else _DATA_SM_RESP
        session = self.session
        status = check_submit(pdu)
        sub = _submission(session.system_id, pdu, self._one_sms) if status == 0 else status
        account = self._account
        if type(sub) is Submission and account is not None and account.has_submit_rules:
            status = self._check_submit(pdu.source_addr)  # (only an account with a rule to apply)
            if status:
                sub = status
        if type(sub) is not Submission:
            self._refused()
            session.respond_message_id(command_id, seq, sub, "")  # type: ignore[arg-type]
            self._log_refused(pdu, sub)  # type: ignore[arg-type]
            return
        self.server.counters.submits += 1
        if command_id is _DATA_SM_RESP and sub.esm_class & _ESM_MODE_MASK == _TRANSACTION_MODE:
            self._on_transaction(sub, seq, pdu)  # type: ignore[arg-type]
            return
        self._pending_replies += 1  # _begin_reply, written out
        if self._pending_replies >= MAX_PENDING_REPLIES:
            self._update_reading()

        def reply(result: SubmitResult) -> None:
            session.respond_message_id(command_id, seq, result.status, result.message_id)
            if result.status:
                self._log_refused(pdu, result.status, by_core=True)
                if account is not None:
                    account.refund(1)  # (refused by the core: the token the account's limit took comes back)
                if result.status == _THROTTLED:  # (a carrier rule's: an alert on smsc_smpp_throttled_total missed
                    self.server.counters.throttled += 1  # those, tester 123)
            self._pending_replies -= 1  # _end_reply, without the call when it has nothing else to do
            if not self._receiving or self._read_paused or self._unbind is not None or self._close_when_answered:
                self._after_reply()

        self.smsc.submit(sub, reply)

    def _on_transaction(self, sub: Submission, seq: int, pdu: P.DataSm) -> None:
        """data_sm in transaction message mode (SMPP 3.4 section 2.10.3): data_sm_resp is held until the core
        reports the delivery outcome; a failure carries delivery_failure_reason, network_error_code and
        additional_status_info_text (section 4.7.2, Table 4-21).  Held apart from the other replies (reading
        goes on), at most :data:`MAX_HELD_TRANSACTIONS` at a time: beyond, ESME_RTHROTTLED at once."""
        transactions = self._transactions
        account = self._account
        if len(transactions) >= MAX_HELD_TRANSACTIONS:
            self.server.counters.throttled += 1
            self._count_refusal(CommandId.data_sm, CommandStatus.ESME_RTHROTTLED)
            self.smsc.submit_refused()  # (counted in smpp_submits already)
            self.session.respond_message_id(_DATA_SM_RESP, seq, CommandStatus.ESME_RTHROTTLED, "")
            if account is not None:
                account.refund(1)  # (refused: the account's token comes back, tester 54)
            return
        key = self._transaction_keys = self._transaction_keys + 1
        transactions[key] = ""

        def reply(result: TransactionResult) -> None:
            tlvs: dict[int, Any] = {}
            if result.delivery_failure_reason is not None:
                tlvs[Tag.delivery_failure_reason] = result.delivery_failure_reason
            if result.network_error_code is not None:
                tlvs[Tag.network_error_code] = result.network_error_code
            if result.text:
                tlvs[Tag.additional_status_info_text] = result.text[:255]
            if result.dpf_result is not None:
                tlvs[Tag.dpf_result] = result.dpf_result
            self.session.respond(P.DataSmResp(
                sequence_number=seq, command_status=result.status, message_id=result.message_id, tlvs=tlvs,
            ))
            if result.status and not result.message_id:
                # Refused before any attempt (a carrier's outage or full queue, a rule): logged and counted as a
                # store-and-forward submit's refusal is (tester 143: no line, and missing from the metrics).
                self._log_refused(pdu, result.status, by_core=True)
                if result.status == _THROTTLED:
                    self.server.counters.throttled += 1
            del transactions[key]
            self._after_reply()

        message_id = self.smsc.submit_transaction(sub, reply)
        if message_id is None and account is not None:
            account.refund(1)  # (refused by the core before any attempt: its token comes back, tester 54)
        if message_id is not None and key in transactions:  # (not answered already)
            transactions[key] = message_id

    def cut_transactions(self, why: str) -> None:
        """The session ends: answer every transaction-mode data_sm still awaiting its outcome now (see the
        module docstring); ``why`` becomes their additional_status_info_text.  The answers come once the
        abandoned attempts are durable, before the unbind_resp or the close that waits for them; also before an
        unbind of the SMSC's own (:meth:`SmppServer.unbind_one <smsc.server.listen.SmppServer.unbind_one>`;
        tester 180: an inactivity or control API unbind left them unanswered)."""
        for message_id in list(self._transactions.values()):
            if message_id:
                self.smsc.cut_transaction(message_id, why)

    def _on_submit_multi(self, pdu: P.SubmitMulti) -> None:
        seq = pdu.sequence_number
        status = check_submit(pdu)
        if not status and pdu.replace_if_present_flag:
            # "Reserved. Must be set to NULL" (SMPP 3.4 Table 4-12): refused as submit_sm refuses its reserved
            # values, not taken as a replace that never happens (tester 39).
            status = CommandStatus.ESME_RINVREPFLAG
        sub: Submission | int = status
        if not status:
            template = P.SubmitSm(
                service_type=pdu.service_type, source_addr_ton=pdu.source_addr_ton,
                source_addr_npi=pdu.source_addr_npi, source_addr=pdu.source_addr, esm_class=pdu.esm_class,
                protocol_id=pdu.protocol_id, priority_flag=pdu.priority_flag,
                schedule_delivery_time=pdu.schedule_delivery_time, validity_period=pdu.validity_period,
                registered_delivery=pdu.registered_delivery, data_coding=pdu.data_coding,
                short_message=pdu.short_message, tlvs=pdu.tlvs,
            )
            sub = _submission(self.session.system_id, template, self._one_sms)
        # An SME address with a bad TON, NPI or length is refused alone, in unsuccess_sme (section 4.5.2).
        destinations: list[Address] = []
        refused: dict[int, int] = {}
        for d in pdu.dest_addresses:
            if isinstance(d, P.SmeAddress):
                bad = check_sme_address(d.dest_addr_ton, d.dest_addr_npi, d.destination_addr)
                if bad:
                    refused[len(destinations)] = bad
                destinations.append(Address(ton=d.dest_addr_ton, npi=d.dest_addr_npi, addr=d.destination_addr))
        taken = len(destinations) - len(refused)
        if isinstance(sub, Submission):
            # Last, the account's rules: one token of its throughput limit per destination the request may
            # submit to, so that a refused request, or its destinations refused alone (a bad TON, NPI or length;
            # distribution lists, none provisioned), cost nothing (testers 47 and 51: a refused submit_multi of
            # 254 destinations throttled every bind of the account for 50 s).
            status = self._check_submit(pdu.source_addr, taken)
            if status:
                sub = status
        if not isinstance(sub, Submission):
            self._refused()
            self.session.respond(P.SubmitMultiResp(sequence_number=seq, command_status=sub))
            self._log_refused(pdu, sub)
            return
        dl_names = [d.dl_name for d in pdu.dest_addresses if isinstance(d, P.DistributionList)]
        self.server.counters.submits += 1
        self._begin_reply()

        def reply(result: MultiSubmitResult) -> None:
            if result.status:
                self._log_refused(pdu, result.status, by_core=True)
            if result.unsuccess:
                self._log_unsuccess(result.unsuccess)
            account = self._account
            if account is not None and (result.status or result.unsuccess):
                # The destinations the core refused give their tokens back (those refused here took none).
                account.refund(taken if result.status else len(result.unsuccess) - len(refused) - len(dl_names))
            self.session.respond(P.SubmitMultiResp(
                sequence_number=seq, command_status=result.status, message_id=result.message_id,
                unsuccess_smes=[
                    # (an address too long for the field is echoed as far as it fits: 20 characters)
                    P.UnsuccessSme(dest_addr_ton=a.ton, dest_addr_npi=a.npi,
                                   destination_addr=a.addr[:MAX_SME_ADDRESS], error_status_code=code)
                    for a, code in result.unsuccess
                ],
            ))
            self._end_reply()

        self.smsc.submit_multi(sub, destinations, dl_names, reply, refused=refused)

    def _log_unsuccess(self, unsuccess: list[tuple[Address, int]]) -> None:
        """Say which destinations of a submit_multi were refused, and why (tester 182: those in unsuccess_sme went
        unlogged, and a carrier rule's ESME_RTHROTTLED among them was not in smsc_smpp_throttled_total, where
        the same refusal of a submit_sm was).  Each counted; logged as ``submit_multi_destinations_refused``, the
        first of the connection, then every :data:`FAILED_REQUEST_LOG_EVERY`-th, at most 10 destinations named."""
        throttled = sum(1 for _, code in unsuccess if code == _THROTTLED)
        if throttled:
            self.server.counters.throttled += throttled
        self._unsuccess_logged += 1
        count = self._unsuccess_logged
        if count != 1 and count % FAILED_REQUEST_LOG_EVERY:
            return
        named = []
        for address, code in unsuccess[:10]:
            why = self.smsc.submit_rule_reason(address, code)
            if why is None:
                if code == CommandStatus.ESME_RINVDLNAME:
                    why = "a distribution list: none is provisioned"
                elif code == CommandStatus.ESME_RINVDSTADR:
                    why = (f"not a mobile number of 7-15 digits once read as E.164 (TON {address.ton}, NPI "
                           f"{address.npi}), or longer than the field")
                elif code in (CommandStatus.ESME_RINVDSTTON, CommandStatus.ESME_RINVDSTNPI):
                    why = f"TON {address.ton} or NPI {address.npi} out of range (SMPP 3.4 sections 5.2.5, 5.2.6)"
                else:
                    why = "the simulated network or the SMSC's own state"
            named.append({"destination_addr": address.addr, "status": status_name(code), "reason": why})
        log.info("submit_multi_destinations_refused", peer=self.peer, system_id=self.session.system_id,
                 refused=len(unsuccess), destinations=named, count=count)

    def _on_query(self, pdu: P.QuerySm) -> None:
        seq = pdu.sequence_number
        self._begin_reply(submit=False)

        def reply(result: QueryResult) -> None:
            self.session.respond(P.QuerySmResp(
                sequence_number=seq, command_status=result.status, message_id=result.message_id,
                final_date=result.final_date, message_state=result.message_state, error_code=result.error_code,
            ))
            if result.status:
                self._log_refused(pdu, result.status, by_core=True)
            self._end_reply(submit=False)

        source = Address(ton=pdu.source_addr_ton, npi=pdu.source_addr_npi, addr=pdu.source_addr)
        self.smsc.query(self.session.system_id, pdu.message_id, source, reply)

    def _on_cancel(self, pdu: P.CancelSm) -> None:
        seq = pdu.sequence_number
        self._begin_reply(submit=False)

        def reply(status: int) -> None:
            self.session.respond(P.CancelSmResp(sequence_number=seq, command_status=status))
            if status:
                self._log_refused(pdu, status, by_core=True)
            self._end_reply(submit=False)

        self.smsc.cancel(
            self.session.system_id, pdu.service_type, pdu.message_id,
            Address(ton=pdu.source_addr_ton, npi=pdu.source_addr_npi, addr=pdu.source_addr),
            Address(ton=pdu.dest_addr_ton, npi=pdu.dest_addr_npi, addr=pdu.destination_addr),
            reply,
        )

    def _on_replace(self, pdu: P.ReplaceSm) -> None:
        """replace_sm (SMPP 3.4 section 4.10.1).  The new text is short_message, or the message_payload TLV that
        SMPP 5.0 allows here (section 4.5.3.3, Table 4-34; as in submit_sm, never both: ESME_RINVMSGLEN).  Tester
        39: the TLV was ignored and the message replaced by the empty short_message."""
        seq = pdu.sequence_number
        status = check_replace(pdu)  # the rules of submit_sm's same fields
        short_message = pdu.short_message
        payload = pdu.tlvs.get(Tag.message_payload) if pdu.tlvs else None
        if payload is not None:
            if short_message:
                status = status or CommandStatus.ESME_RINVMSGLEN
            short_message = payload
        if status:
            self.session.respond(P.ReplaceSmResp(sequence_number=seq, command_status=status))
            self._log_refused(pdu, status)
            return
        self._begin_reply(submit=False)

        def reply(status: int) -> None:
            self.session.respond(P.ReplaceSmResp(sequence_number=seq, command_status=status))
            if status:
                self._log_refused(pdu, status, by_core=True)
            self._end_reply(submit=False)

        self.smsc.replace(
            self.session.system_id, pdu.message_id,
            Address(ton=pdu.source_addr_ton, npi=pdu.source_addr_npi, addr=pdu.source_addr),
            pdu.schedule_delivery_time, pdu.validity_period, pdu.registered_delivery, short_message,
            reply, one_sms=self._one_sms, payload=payload is not None,
        )

    # -- deliveries towards the ESME -------------------------------------------------------------

    @property
    def delivery_room(self) -> int:
        """How many deliver_sm this connection may be given now (window room; 0 while closing, while its write
        buffer drains, or while the pause of an ESME_RTHROTTLED answer lasts)."""
        if self._closing or self._write_paused or self._close_when_answered or self._throttled_until:
            return 0
        return self.session.window_free

    def fill_window(self, system_id: str) -> bool:
        """Send waiting deliveries of ``system_id`` up to the room in the window; True when there was room
        and fewer were waiting than it (so nothing more waits: other binds need no visit).

        Each delivery taken is sent or dropped as unencodable.  Alerts (kind "alert") go as alert_notification,
        which has no response and takes no window slot (:meth:`_send_alerts`); they are looked for only once
        the core may owe one (``may_owe_alerts``), so the receipt path pays nothing for them.  An SMPP 3.3 bind
        does not take those only data_sm can carry (:func:`fits_deliver_sm`), nor alerts (alert_notification
        is new in 3.4, as data_sm is): they are held for a 3.4 bind, and while any is, this returns False so
        that the registry offers them to the other binds."""
        if self._closing or self._write_paused or self._close_when_answered:
            return False
        if self._throttled_until and self._throttled_until > self.loop.time():
            return False  # the ESME asked for a pause (ESME_RTHROTTLED): the other binds, or after it
        session = self.session
        room = session.window_free
        if room <= 0:
            return False
        if self.stalled and self.server.registry.has_other_taker(system_id, self):
            # Its unanswered deliveries came back to the outbox at once: they, and what follows, go to a bind that
            # answers (a stalled one took them straight back, and a healthy bind idled until the stalled one was
            # found dead, 3 response_timer rounds later: tester 27).
            return False
        v34 = session.interface_version >= 0x34
        if v34 and not self._refuses_data_sm_flag:
            held = 0
            carries = None
            deliveries = self.smsc.take_deliveries(system_id, room)
        else:
            # SMPP 3.3 has no data_sm: what only data_sm carries is held, without backoff, for a 3.4 bind of
            # this system_id, now or when one binds; while some is, the registry must go on to the others.
            # A 3.4 bind that refused data_sm (_refuses_data_sm) is served the same way, its alerts sent.
            carries = fits_deliver_sm if v34 else carried_by_v33
            deliveries = self.smsc.take_deliveries(system_id, room, carries)
            held = self.smsc.deliveries_held(system_id)
        if v34 and deliveries and self.smsc.may_owe_alerts:
            deliveries, room = self._send_alerts(system_id, deliveries, room, carries)
            # Written now, as any delivery: each alert's outbox row is gone already (delivery_sent), and left in
            # the buffer for the sweep's flush (up to 1 s) it was lost if the ESME closed or the server died
            # meanwhile.  (Within a read, the read's own write takes it.)
            self._schedule_flush()
        if not deliveries:
            return not held
        now = self.loop.time()
        send = session.send_request_body
        unsent = 0  # dropped
        for d in deliveries:
            sm = d.short_message
            tlvs = d.tlvs
            if len(sm) > 254:  # too long for short_message: message_payload (SMPP 3.4 section 5.3.2.32)
                tlvs = {**tlvs, Tag.message_payload: sm}
                sm = b""
            s, t = d.source, d.destination
            try:
                if len(s.addr) > 20 or len(t.addr) > 20:  # (not fits_deliver_sm: never on a 3.3 bind)
                    self._send_as_data_sm(d, sm, tlvs, now)
                    continue
                body = deliver_sm_body(d.service_type, s.ton, s.npi, s.addr, t.ton, t.npi, t.addr, d.esm_class,
                                       d.protocol_id, d.priority_flag, d.data_coding, sm)
                send(_DELIVER_SM, body, tlvs, now, d.delivery_id)
            except (ValueError, TypeError) as exc:
                # A field no deliver_sm can carry: offering it again would fail the same way on every bind,
                # so it is dropped, loudly, instead of taking this connection down with it.
                log.error("delivery_unencodable", delivery_id=d.delivery_id, kind=d.kind, system_id=system_id,
                          error=str(exc))
                self.smsc.delivery_acked(d.delivery_id, CommandStatus.ESME_RX_P_APPN)
                unsent += 1
        self.server.counters.deliveries_sent += len(deliveries) - unsent
        if not self._receiving:  # (within a read, the read's own write takes them)
            self._schedule_flush()
        return len(deliveries) < room and not held

    def _send_alerts(self, system_id: str, deliveries: list[Delivery], room: int,
                     carries: Callable[[Delivery], bool] | None = None) -> tuple[list[Delivery], int]:
        """Send the alerts among ``deliveries`` (taken for ``room`` window slots) as alert_notification (SMPP
        3.4 section 4.12.1: source_addr the handset now available, esme_addr the ESME's address,
        ms_availability_status in the TLVs).  There is no response: each is done once queued and takes no slot,
        so while a take came back full, as many more are taken as it held alerts.  Returns the other deliveries
        and a room for them: fewer deliveries than it when the last take came back short (nothing more
        waits), as many when more may wait.  ``carries``: the take's test, for the takes made here too."""
        rest: list[Delivery] = []
        now = self.loop.time()
        asked = room
        while True:
            alerts = 0
            for d in deliveries:
                if d.kind != _ALERT:
                    rest.append(d)
                    continue
                alerts += 1
                s, e = d.source, d.destination
                try:
                    self.session.send_unanswered(P.AlertNotification(
                        source_addr_ton=s.ton, source_addr_npi=s.npi, source_addr=s.addr,
                        esme_addr_ton=e.ton, esme_addr_npi=e.npi, esme_addr=e.addr, tlvs=dict(d.tlvs),
                    ), now)
                except (ValueError, TypeError) as exc:  # (dropped, as an unencodable deliver_sm is)
                    log.error("delivery_unencodable", delivery_id=d.delivery_id, kind=d.kind, system_id=system_id,
                              error=str(exc))
                    self.smsc.delivery_acked(d.delivery_id, CommandStatus.ESME_RX_P_APPN)
                    continue
                self.smsc.delivery_sent(d.delivery_id)
                log.debug("alert_sent", system_id=system_id, delivery_id=d.delivery_id, peer=self.peer)
            if len(deliveries) < asked:
                return rest, len(rest) + 1
            if not alerts:
                return rest, len(rest)
            asked = alerts
            deliveries = self.smsc.take_deliveries(system_id, asked, carries)
            if not deliveries:
                return rest, len(rest) + 1

    def _send_as_data_sm(self, d: Delivery, short_message: bytes, tlvs: dict[int, Any], now: float) -> None:
        """Send delivery ``d`` as data_sm, its user data in message_payload (SMPP 3.4 section 4.7.1)."""
        s, t = d.source, d.destination
        if short_message:
            tlvs = {**tlvs, Tag.message_payload: short_message}
        self.session.send_request(P.DataSm(
            service_type=d.service_type, source_addr_ton=s.ton, source_addr_npi=s.npi, source_addr=s.addr,
            dest_addr_ton=t.ton, dest_addr_npi=t.npi, destination_addr=t.addr, esm_class=d.esm_class,
            data_coding=d.data_coding, tlvs=tlvs,
        ), now, d.delivery_id)

    def _refill_window(self) -> None:
        """Fill the room acknowledgements opened in *this* connection's window. Other binds of the system_id
        need no visit: deliveries only wait while every window with room has been offered them (the core
        wakes the registry when new ones arrive), so this stays O(1) however many binds there are.  The
        outbox is asked only when the registry says deliveries may wait (at a steady low window, none do:
        each receipt leaves in the pump of the read that caused it)."""
        if self._window_opened:
            self._window_opened = False
            system_id = self.session.system_id
            registry = self.server.registry
            if registry.may_have_waiting(system_id) and self.fill_window(system_id):
                registry.emptied(system_id)

    # -- timers and shutdown -------------------------------------------------------------------

    def poll(self, now: float) -> None:
        """Run the session timers (called about once a second by the server's sweep)."""
        session = self.session
        outstanding = session.outstanding
        events = session.poll(now)
        for event in events:
            self._dispatch(event)
        if session.outstanding < outstanding:  # a request timed out: its slot is free for what waits
            self._window_opened = True
        self._refill_window()
        self._schedule_flush()

    @property
    def owes_responses(self) -> bool:
        """True while responses to this ESME's requests are still waiting (for a commit, a delay or a
        transaction-mode delivery outcome)."""
        return self._pending_replies > 0 or bool(self._transactions)

    @property
    def lost(self) -> bool:
        """True once the connection is gone (``connection_lost`` ran)."""
        return self._lost

    def stop_reading(self) -> None:
        """Shutdown, first step: take no new requests from this ESME, and answer the transaction-mode data_sm
        still awaiting their outcome now (the SMSC will not be there to learn it)."""
        self.cut_transactions("SMSC shutting down before the delivery outcome")
        self._closing_reads = True
        if self.transport is not None and not self.transport.is_closing() and not self._read_paused:
            self._read_paused = True
            self.transport.pause_reading()

    @property
    def closing(self) -> bool:
        """True once this side closed the connection (after its last writes), while it waits for the ESME to end it."""
        return self._closing and self.transport is not None and self.transport.is_closing()

    def abort(self, reason: str) -> None:
        """Close the connection now, without a goodbye; ``reason`` goes to the ``unbound`` log line."""
        self._close_reason = reason
        if self.transport is not None:
            self.transport.abort()

    def start_unbind(self, reason: str = "unbind from the SMSC (stopping)") -> None:
        """Shutdown: send unbind to a bound ESME (its unbind_resp or the response timer closes us)."""
        self._closing_reads = False
        self._update_reading()  # the unbind_resp must be read; the session refuses new requests now
        self._close_reason = reason
        if self.session.is_bound:
            self.session.unbind(self.loop.time())
            self._schedule_flush()
        else:
            self._close()

    def disconnect(self, drop: bool, by: str = "the control API (POST /api/binds/disconnect)") -> None:
        """Control API (POST /api/binds/disconnect): end this connection, with an unbind first (after the
        responses still owed: :meth:`SmppServer.unbind_one`; closed once it is answered, or by the
        response_timer), or, ``drop``, at once without a word (the ESME sees its TCP connection reset, as when a
        carrier's SMSC restarts: responses still owed are lost with it).  Deliveries left unanswered are offered
        again, and a message accepted is delivered also when its submit_sm_resp never left.  ``by``: who asked,
        for the log (the control API, or the config's scenario)."""
        if drop:
            self.abort(f"dropped by {by}")
        elif not self._closing and not self._closing_reads and self.session.takes_new_requests:
            self.server.unbind_soon(self, by)
