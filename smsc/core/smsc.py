"""The SMSC facade: store-and-forward of MT messages, delivery receipts and MO, behind :class:`SmscApi`.

What happens to a message (issue 4, "Store-and-forward"):

1. **submit** validates the request (priority_flag, replace_if_present_flag, schedule_delivery_time and
   validity_period against the simulation clock), normalises the destination to E.164, routes it to a
   carrier, applies the carrier's submit-time rule for that number, bounds the number of waiting messages
   (ESME_RMSGQFUL), replaces a waiting message when asked, gives it a message_id and saves it.  Status 0 is
   replied only from the store's ``on_durable``: "status 0 means on disk".
2. After the reply the message waits for its schedule_delivery_time, then for its carrier's capacity (a token
   bucket in simulation time; the queue is ordered by priority_flag, then submit time), then is *attempted*:
   the carrier draws an outcome that arrives after its latency.
3. Outcomes: delivered -> DELIVERED; absent -> the message waits for the handset's alert (one timer per
   number wakes every message waiting for it, as the HLR's alertServiceCentre does; no polling); temporary
   -> retried on the carrier's retry schedule; undeliverable -> UNDELIVERABLE; rejected -> REJECTED; end of
   the validity period -> EXPIRED.  Each attempt is recorded on the :class:`Message`.
4. Receipts follow registered_delivery (SMPP 3.4 section 5.2.17, value 3 from SMPP 5.0; bit 0x10 gives one
   intermediate notification on the first failed attempt), as deliver_sm in the durable outbox of the
   submitting system_id.

Choices where the specification leaves room (each documented where it is made):

* validity_period beyond ``simulation.max_validity`` is clamped to it (not refused); a validity that ends
  before the message could be attempted is ESME_RINVEXPIRY; a schedule beyond ``max_schedule`` is
  ESME_RINVSCHED; a schedule in the past means "now".  Reserved registered_delivery bits are ignored.
* replace_if_present_flag=1 replaces a waiting message of the same system_id, source address, destination
  and service_type: the old message ends DELETED (with a receipt if its registered_delivery asks for failure
  receipts, so its sender is not left waiting) and the new one gets a new message_id.
* submit_multi gives one message_id M to the ESME; each destination is its own :class:`Message` with id
  ``M-1``, ``M-2`` ... and ``multi_id`` M; receipts, query_sm, cancel_sm and replace_sm use M.
* A message that is being attempted right now (in flight) cannot be cancelled or replaced.
* Submit-rule delays (``SubmitRule.delay``) are real seconds: they are about the ESME's response timer, so
  they last the same whatever the ``time_scale``.  Handset auto-reply delays are simulation seconds.
* Receipt texts are ASCII with data_coding 0 (characters outside ASCII in the ``text:`` field become "?").

Everything runs on the event-loop thread, driven by :attr:`Smsc.scheduler`; nothing here awaits.
"""

from __future__ import annotations

import heapq
import random
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import count
from typing import Any, Callable

import structlog

from smsc.core.api import (
    Address,
    Delivery,
    DeliveryGateway,
    MultiSubmitResult,
    QueryResult,
    Submission,
    SubmitResult,
)
from smsc.core.clock import Clock, FakeClock, sim_seconds_for_real
from smsc.core.ids import MessageIdGenerator
from smsc.core.message import Attempt, Message
from smsc.core.numbers import normalise
from smsc.core.outbox import Outbox
from smsc.core.scheduler import Scheduler, TimerHandle
from smsc.core.store.base import MessageStore
from smsc.core.throttle import TokenBucket
from smsc.smpp.constants import (
    CommandStatus,
    EsmClass,
    MessageState,
    Npi,
    RegisteredDelivery,
    Tag,
    Ton,
)
from smsc.smpp.receipt import build_receipt_text
from smsc.smpp.text import (
    Reassembler,
    choose_coding,
    concat_info,
    decode_text,
    encode_text,
    parse_udh,
    split_message,
)
from smsc.smpp.timefmt import format_absolute, parse_smpp_time

log = structlog.get_logger("smsc.core")

#: err: code of the UNDELIV receipt when ``topology.no_route`` is "undeliverable" and no route matched
#: (MAP unknownSubscriber: the network has no such number; carrier-behaviour.md 1.2).
NO_ROUTE_ERR = 1
#: Final messages kept in memory (and in the store) for query_sm this long, simulation seconds.
DEFAULT_FINAL_RETENTION = 86_400.0
#: At most this many final messages are kept in memory, oldest forgotten first.
DEFAULT_MAX_FINAL_IN_MEMORY = 100_000
#: How often the store is asked to prune old final messages, simulation seconds.
PRUNE_INTERVAL = 3_600.0
#: Retry delays used when neither the carrier nor the config gives any (simulation seconds).
FALLBACK_RETRY_SCHEDULE: tuple[float, ...] = (60.0, 300.0, 900.0, 1800.0, 3600.0)
#: MO destinations of at most this many digits are short codes (TON 3 network specific, NPI 0).
_SHORT_CODE_MAX_DIGITS = 8
_LAST_MT_MAX = 1_000_000
#: Shortest retry or alert delay, simulation seconds: a zero delay with a zero latency would spin.
_MIN_DELAY = 1.0

_FAILED_STATES = frozenset({
    MessageState.EXPIRED, MessageState.DELETED, MessageState.UNDELIVERABLE, MessageState.REJECTED,
})
_FINAL_BY_KIND = {
    "delivered": MessageState.DELIVERED,
    "undeliverable": MessageState.UNDELIVERABLE,
    "rejected": MessageState.REJECTED,
}
_PHASES_NOT_RECALLABLE = frozenset({"inflight"})


@dataclass(slots=True)
class SmscStats:
    """Plain counters for metrics (``smsc_<name>_total``); ``waiting``, ``queued``, ``in_flight`` are levels."""

    submitted: int = 0  #: messages accepted (submit_multi counts each destination)
    submit_errors: int = 0  #: submits (or submit_multi destinations) refused with an error status
    replaced: int = 0  #: waiting messages replaced (replace_if_present_flag or replace_sm)
    attempts: int = 0  #: delivery attempts towards handsets
    retries: int = 0  #: temporary failures scheduled for a retry
    absent: int = 0  #: attempts that found the handset absent
    delivered: int = 0
    expired: int = 0
    undeliverable: int = 0
    rejected: int = 0
    deleted: int = 0  #: cancelled (cancel_sm) or replaced messages
    receipts: int = 0  #: final receipts queued
    intermediate_receipts: int = 0
    mo_received: int = 0  #: MO deliveries queued (parts of a long MO count one each)
    mo_unrouted: int = 0  #: MO parts with no system_id to receive them
    auto_replies: int = 0
    deliveries_queued: int = 0  #: receipts and MO added to the outbox
    deliveries_acked: int = 0
    deliveries_failed: int = 0  #: deliver_sm without a usable answer (retried later)
    deliveries_dropped: int = 0  #: deliver_sm refused with ESME_RX_P_APPN / ESME_RX_R_APPN
    waiting: int = 0  #: messages not yet final
    queued: int = 0  #: messages waiting for carrier capacity
    in_flight: int = 0  #: attempts whose outcome is pending


class _Reject(Exception):
    """A submit refused with ``status`` (after ``delay`` real seconds)."""

    def __init__(self, status: int, delay: float = 0.0) -> None:
        super().__init__(status)
        self.status = status
        self.delay = delay


class _Track:
    """Runtime state of one waiting message: which phase it is in and its one pending timer.

    ``gen`` changes whenever the message leaves a phase, which turns every queue entry and timer that
    still points at the old phase into a no-op (lazy deletion).
    """

    __slots__ = ("msg", "carrier", "phase", "timer", "gen")

    def __init__(self, msg: Message, carrier: Any) -> None:
        self.msg = msg
        self.carrier = carrier
        self.phase = "new"
        self.timer: TimerHandle | None = None
        self.gen = 0


class _NumberWait:
    """Messages waiting for one absent handset, and the alert timer for when it comes back."""

    __slots__ = ("e164", "members", "timer", "online_at")

    def __init__(self, e164: str) -> None:
        self.e164 = e164
        self.members: dict[str, _Track] = {}
        self.timer: TimerHandle | None = None
        self.online_at: float | None = None


class _CarrierQueue:
    """Messages waiting for a carrier's capacity (attempts per second), best priority first."""

    __slots__ = ("bucket", "heap", "timer")

    def __init__(self, rate: float, now: float) -> None:
        self.bucket = TokenBucket(rate, now=now)
        self.heap: list[tuple[int, float, int, int, _Track]] = []
        self.timer: TimerHandle | None = None


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=timezone.utc)


_minute_cache: dict[int, datetime] = {}


def _utc_minute(t: float) -> datetime:
    """``t`` truncated to its minute, as a UTC datetime (receipt dates are YYMMDDhhmm), cached."""
    minute = int(t // 60)
    dt = _minute_cache.get(minute)
    if dt is None:
        if len(_minute_cache) > 4096:
            _minute_cache.clear()
        dt = _minute_cache[minute] = datetime.fromtimestamp(minute * 60, tz=timezone.utc)
    return dt


def _nothing() -> None:
    return None


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


class Smsc:
    """The simulated SMSC core; implements :class:`~smsc.core.api.SmscApi`.

    Args:
        config: the loaded :class:`smsc.config.Config` (server.message_id, store.max_waiting_messages,
            simulation.* validity/schedule/retry options, topology numbering and no_route).
        store: where messages and the outbox are made durable.
        clock: simulation time.
        rng: the world's only source of chance (seeded in tests).
        router: the simulated networks; built from ``config`` with ``routing.build_world`` when None.
        final_retention: simulation seconds a final message stays queryable.
        max_final_in_memory: bound on final messages kept in memory.
    """

    def __init__(
        self,
        config: Any,
        store: MessageStore,
        clock: Clock,
        rng: random.Random,
        router: Any = None,
        *,
        final_retention: float = DEFAULT_FINAL_RETENTION,
        max_final_in_memory: int = DEFAULT_MAX_FINAL_IN_MEMORY,
    ) -> None:
        if router is None:
            from smsc.core.routing import build_world

            router = build_world(config, rng)
        self.config = config
        self.store = store
        self.clock = clock
        self.rng = rng
        self.router = router
        self.final_retention = final_retention
        self.max_final_in_memory = max_final_in_memory
        self.scheduler = Scheduler()
        self.stats = SmscStats()
        self.gateway: DeliveryGateway | None = None
        self._ids = MessageIdGenerator(config.server.message_id)
        self.outbox = Outbox(store, self.scheduler, clock, on_available=self._wake, commit=self._commit)
        self.outbox.stats = self.stats  # the outbox counts deliveries_* straight into our stats
        self._messages: dict[str, Message] = {}
        self._tracks: dict[str, _Track] = {}
        self._final: deque[str] = deque()
        self._groups: dict[str, list[str]] = {}
        self._by_route: dict[tuple[str, str, str], dict[str, None]] = {}
        self._absent: dict[str, _NumberWait] = {}
        self._carrier_queues: dict[str, _CarrierQueue] = {}
        self._last_mt: OrderedDict[str, str] = OrderedDict()
        self._reassembler = Reassembler(max_pending=10_000, timeout=3_600.0)
        self._queue_seq = count()
        self._mo_reference = 0
        self._saved_counters: tuple[int, int] | None = None
        self._prune_timer: TimerHandle | None = None
        self._started = False
        sim = config.simulation
        self._default_validity = float(sim.default_validity)
        self._max_validity = float(sim.max_validity)
        self._max_schedule = float(sim.max_schedule)
        self._retry_schedule = tuple(sim.retry_schedule) or FALLBACK_RETRY_SCHEDULE
        topology = config.topology
        self._country_code = topology.country_code
        self._national_prefix = topology.national_prefix
        self._no_route_rejects = topology.no_route != "undeliverable"
        self._max_waiting = int(config.store.max_waiting_messages)

    # == lifecycle ==============================================================================================

    def start(self) -> None:
        """Read the store back and resume: every waiting message is rescheduled (those whose validity ended
        while the SMSC was down expire now), every unacknowledged delivery is offered again.
        Call once, before any request.
        """
        if self._started:
            return
        self._started = True
        state = self.store.load()
        self._ids.next_number = max(self._ids.next_number, state.next_message_number)
        self.outbox.next_delivery_id = max(self.outbox.next_delivery_id, state.next_delivery_id)
        now = self.clock.now()
        cutoff = now - self.final_retention
        resumed: list[_Track] = []
        finals = sorted(
            (m for m in state.messages if m.is_final and m.final_time is not None and m.final_time >= cutoff),
            key=lambda m: m.final_time or 0.0,
        )
        for msg in finals:
            self._messages[msg.message_id] = msg
            self._group_add(msg)
            self._retain_final(msg)
        for msg in state.messages:
            if msg.is_final:
                continue
            track = _Track(msg, self._carrier_of(msg))
            self._register(track)
            resumed.append(track)
        self.store.prune_final(cutoff)
        for msg in sorted(state.messages, key=lambda m: m.submit_time):
            self._remember_sender(msg.destination_e164, msg.system_id)  # MO without a route goes back there
        resumed.sort(key=lambda t: t.msg.submit_time)
        for track in resumed:
            self._resume(track)
        self.outbox.restore(state.deliveries)
        self._commit(_nothing)
        self._prune_timer = self.scheduler.call_at(now + PRUNE_INTERVAL, self._prune)
        log.info("core_started", waiting=len(self._tracks), final=len(self._final), deliveries=len(state.deliveries))

    def stop(self) -> None:
        """Stop timers of our own and hand what is recorded but not committed to the store.  The store is
        closed by its owner (``App.stop``)."""
        self.scheduler.cancel(self._prune_timer)
        self._prune_timer = None
        if self._started:
            self._commit(_nothing)
        self._started = False

    def set_gateway(self, gateway: DeliveryGateway) -> None:
        """Register who is woken when deliveries wait (the SMPP server's bind registry)."""
        self.gateway = gateway

    def advance(self, seconds: float, *, max_timers: int = 10_000_000) -> int:
        """Tests: move a :class:`FakeClock` forward by ``seconds``, running every due timer at its own time,
        in order; return how many ran.

        Raises:
            TypeError: the clock is not a FakeClock.
            RuntimeError: more than ``max_timers`` timers ran (a timer loop).
        """
        clock = self.clock
        if not isinstance(clock, FakeClock):
            raise TypeError("Smsc.advance needs a FakeClock")
        target = clock.now() + seconds
        ran = 0
        scheduler = self.scheduler
        while True:
            deadline = scheduler.next_deadline()
            if deadline is None or deadline > target:
                break
            if deadline > clock.now():
                clock.set(deadline)
            ran += scheduler.run_due(clock.now())
            if ran > max_timers:
                raise RuntimeError(f"more than {max_timers} timers ran in advance({seconds})")
        clock.set(target)
        return ran + scheduler.run_due(target)

    # == submit ================================================================================================

    def submit(self, submission: Submission, reply: Callable[[SubmitResult], None]) -> None:
        """submit_sm / data_sm (SMPP 3.4 sections 4.4, 4.7): replies status 0 and the message_id once the
        message is durable, or an error status (ESME_RINVPRTFLG, ESME_RINVREPFLAG, ESME_RINVSCHED,
        ESME_RINVEXPIRY, ESME_RINVDSTADR, ESME_RMSGQFUL, or a carrier rule's status)."""
        now = self.clock.now()
        try:
            self._check_common(submission)
            schedule_time, expiry_time = self._times(submission.schedule_delivery_time, submission.validity_period, now)
            track, delay = self._admit(submission, submission.destination, schedule_time, expiry_time, now)
        except _Reject as reject:
            self.stats.submit_errors += 1
            self._reply_later(reply, SubmitResult(status=reject.status), reject.delay)
            return
        message_id = track.msg.message_id
        self._commit(lambda: self._accepted([track], reply, SubmitResult(message_id=message_id), delay))

    def submit_multi(
        self, submission: Submission, destinations: list[Address], dl_names: list[str],
        reply: Callable[[MultiSubmitResult], None],
    ) -> None:
        """submit_multi (SMPP 3.4 section 4.5): each destination is validated, routed and stored on its own;
        those refused at once are listed in ``unsuccess`` with their status (distribution lists are not
        provisioned: ESME_RINVDLNAME).  Errors of the common fields refuse the whole request.  When every
        destination fails the answer is still status 0, with all of them in ``unsuccess`` (the only way the
        ESME learns why: an error response carries no body)."""
        now = self.clock.now()
        try:
            self._check_common(submission)
            if not destinations and not dl_names:
                raise _Reject(CommandStatus.ESME_RINVNUMDESTS)
            schedule_time, expiry_time = self._times(submission.schedule_delivery_time, submission.validity_period, now)
        except _Reject as reject:
            self.stats.submit_errors += 1
            self._reply_later(reply, MultiSubmitResult(status=reject.status), reject.delay)
            return
        multi_id = ""
        unsuccess: list[tuple[Address, int]] = []
        tracks: list[_Track] = []
        delay = 0.0
        for index, destination in enumerate(destinations, start=1):
            try:
                track, rule_delay = self._admit(
                    submission, destination, schedule_time, expiry_time, now,
                    multi=(multi_id, index, len(destinations)),
                )
            except _Reject as reject:
                self.stats.submit_errors += 1
                unsuccess.append((destination, reject.status))
                delay = max(delay, reject.delay)
                continue
            if not multi_id:
                multi_id = track.msg.multi_id
            tracks.append(track)
            delay = max(delay, rule_delay)
        for name in dl_names:
            self.stats.submit_errors += 1
            unsuccess.append((Address(addr=name), CommandStatus.ESME_RINVDLNAME))
        if not multi_id:
            multi_id = self._ids.next_id()
        result = MultiSubmitResult(message_id=multi_id, unsuccess=unsuccess)
        self._commit(lambda: self._accepted(tracks, reply, result, delay))

    def _check_common(self, submission: Submission) -> None:
        if submission.priority_flag > 3:
            raise _Reject(CommandStatus.ESME_RINVPRTFLG)
        if submission.replace_if_present_flag > 1:
            raise _Reject(CommandStatus.ESME_RINVREPFLAG)

    def _times(self, schedule: str, validity: str, now: float) -> tuple[float | None, float]:
        """(schedule_time or None for "now", expiry_time) in simulation seconds (SMPP 3.4 section 7.1.1)."""
        now_dt = _utc(now)
        try:
            when = parse_smpp_time(schedule, now_dt)
        except ValueError:
            raise _Reject(CommandStatus.ESME_RINVSCHED) from None
        schedule_time: float | None = None
        if when is not None:
            schedule_time = when.timestamp()
            if schedule_time <= now:
                schedule_time = None
            elif schedule_time - now > self._max_schedule:
                raise _Reject(CommandStatus.ESME_RINVSCHED)
        start = now if schedule_time is None else schedule_time
        try:
            until = parse_smpp_time(validity, now_dt)
        except ValueError:
            raise _Reject(CommandStatus.ESME_RINVEXPIRY) from None
        if until is None:
            expiry_time = start + min(self._default_validity, self._max_validity)
        else:
            expiry_time = until.timestamp()
            if expiry_time <= start:
                raise _Reject(CommandStatus.ESME_RINVEXPIRY)
            expiry_time = min(expiry_time, start + self._max_validity)
        return schedule_time, expiry_time

    def _admit(
        self, submission: Submission, destination: Address, schedule_time: float | None, expiry_time: float,
        now: float, multi: tuple[str, int, int] | None = None,
    ) -> tuple[_Track, float]:
        """Route, apply the carrier's submit rule, the queue bound and replace_if_present, then create, register
        and save the message (not yet committed).  Returns its track and the reply delay (real seconds)."""
        e164 = normalise(
            destination.ton, destination.npi, destination.addr,
            country_code=self._country_code, national_prefix=self._national_prefix,
        )
        if not e164:
            raise _Reject(CommandStatus.ESME_RINVDSTADR)
        carrier = self.router.route(e164)
        if carrier is None and self._no_route_rejects:
            raise _Reject(CommandStatus.ESME_RINVDSTADR)
        delay = 0.0
        if carrier is not None:
            rule = carrier.submit_rule(e164)
            if rule is not None:
                delay = max(0.0, float(rule.delay))
                if rule.status != CommandStatus.ESME_ROK:
                    raise _Reject(rule.status, delay)
        replaced: list[_Track] = []
        if submission.replace_if_present_flag == 1:
            replaced = self._replaceable(submission.system_id, submission.source.addr, e164, submission.service_type)
        if not replaced and len(self._tracks) >= self._max_waiting:
            raise _Reject(CommandStatus.ESME_RMSGQFUL)
        fmt = carrier.receipt.message_id_format if carrier is not None else None
        if multi is None:
            message_id, multi_id, submitted = self._ids.next_id(fmt), "", 1
        else:
            multi_id, index, submitted = multi
            if not multi_id:
                multi_id = self._ids.next_id(fmt)
            message_id = f"{multi_id}-{index}"
        msg = Message(
            message_id=message_id,
            system_id=submission.system_id,
            source=submission.source,
            destination=destination,
            destination_e164=e164,
            carrier=carrier.name if carrier is not None else "",
            service_type=submission.service_type,
            esm_class=submission.esm_class,
            protocol_id=submission.protocol_id,
            priority_flag=submission.priority_flag,
            registered_delivery=submission.registered_delivery & 0x1F,  # bits 7-5 reserved: ignored
            data_coding=submission.data_coding,
            short_message=submission.short_message,
            tlvs=self._kept_tlvs(submission),
            submit_time=now,
            schedule_time=schedule_time,
            expiry_time=expiry_time,
            submitted_count=submitted,
            multi_id=multi_id,
        )
        for old in replaced:
            self.stats.replaced += 1
            self._finalise(old, MessageState.DELETED, old.msg.error_code, old.msg.network_error_code,
                           outcome="replaced")
        track = _Track(msg, carrier)
        self._register(track)
        self._remember_sender(e164, submission.system_id)
        self.stats.submitted += 1
        self.store.save_message(msg)
        return track, delay

    @staticmethod
    def _kept_tlvs(submission: Submission) -> dict[int, Any]:
        """The submit's TLVs to keep with the message (message_payload is already in short_message)."""
        tlvs = dict(submission.tlvs)
        if Tag.message_payload in tlvs and tlvs[Tag.message_payload] == submission.short_message:
            del tlvs[Tag.message_payload]
        return tlvs

    def _accepted(self, tracks: list[_Track], reply: Callable[[Any], None], result: Any, delay: float) -> None:
        """The submit is on disk: reply (after the rule's delay), then start delivering."""
        def go(_: Any = None) -> None:
            reply(result)
            for track in tracks:
                if track.phase == "new" and self._tracks.get(track.msg.message_id) is track:
                    self._resume(track)

        if delay > 0:
            self.scheduler.call_at(self.clock.now() + sim_seconds_for_real(self.clock, delay), go)
        else:
            go()

    def _reply_later(self, reply: Callable[[Any], None], result: Any, delay: float) -> None:
        if delay > 0:
            self.scheduler.call_at(self.clock.now() + sim_seconds_for_real(self.clock, delay), reply, result)
        else:
            reply(result)

    def _replaceable(self, system_id: str, source: str, e164: str, service_type: str) -> list[_Track]:
        ids = self._by_route.get((system_id, source, e164))
        if not ids:
            return []
        found = []
        for message_id in ids:
            track = self._tracks[message_id]
            if track.msg.service_type == service_type and track.phase not in _PHASES_NOT_RECALLABLE:
                found.append(track)
        return found

    # == query / cancel / replace =============================================================================

    def _lookup(self, system_id: str, message_id: str, source: Address) -> list[Message]:
        """Messages known by ``message_id`` (a submit_multi id gives all its destinations) that belong to
        ``system_id`` and whose source matches (an empty source in the request matches any: many ESMEs do
        not keep it; SMPP 3.4 sections 4.8-4.10 ask for the same source)."""
        ids = self._groups.get(message_id)
        if ids is None:
            ids = [message_id]
        found = []
        for mid in ids:
            msg = self._messages.get(mid)
            if msg is None or msg.system_id != system_id:
                continue
            if source.addr and source.addr != msg.source.addr:
                continue
            found.append(msg)
        return found

    def query(
        self, system_id: str, message_id: str, source: Address, reply: Callable[[QueryResult], None]
    ) -> None:
        """query_sm (SMPP 3.4 section 4.8): the message's state, final date and error code (the err: code when
        it fits the 1-octet field, else 255); ESME_RQUERYFAIL for an unknown or foreign message.  For a
        submit_multi id: ENROUTE while any destination is pending, else DELIVERED if all were, else the
        first failed destination's state."""
        msgs = self._lookup(system_id, message_id, source)
        if not msgs:
            reply(QueryResult(status=CommandStatus.ESME_RQUERYFAIL, message_id=message_id))
            return
        pending = [m for m in msgs if not m.is_final]
        if pending:
            chosen = pending[0]
        else:
            failed = [m for m in msgs if m.state != MessageState.DELIVERED]
            chosen = failed[0] if failed else max(msgs, key=lambda m: m.final_time or 0.0)
        final_date = ""
        if not pending:
            final_time = max(m.final_time or 0.0 for m in msgs)
            final_date = format_absolute(_utc(final_time))
        state = chosen.state if chosen.is_final else MessageState.ENROUTE
        error = chosen.error_code if chosen.error_code <= 255 else 255
        reply(QueryResult(message_id=message_id, final_date=final_date, message_state=state, error_code=error))

    def cancel(
        self, system_id: str, service_type: str, message_id: str, source: Address,
        destination: Address, reply: Callable[[int], None],
    ) -> None:
        """cancel_sm (SMPP 3.4 section 4.9).  With a message_id: that message (every pending destination of a
        submit_multi id); a destination given too must match.  Without: every pending message of this
        system_id from ``source`` to ``destination`` (and ``service_type`` when given; an empty destination
        matches all).  Cancelled messages end DELETED, with a receipt if registered_delivery asks for failure
        receipts (SMPP 5.0 counts cancelled as failed).  Status 0 once durable; ESME_RCANCELFAIL when
        nothing pending matched (final, in flight, unknown, foreign)."""
        if message_id:
            e164 = self._normalise(destination) if destination.addr else ""
            targets = [
                self._tracks[m.message_id] for m in self._lookup(system_id, message_id, source)
                if m.message_id in self._tracks and (not e164 or m.destination_e164 == e164)
            ]
        else:
            targets = self._matching_pending(system_id, service_type, source, destination)
        targets = [t for t in targets if t.phase not in _PHASES_NOT_RECALLABLE]
        if not targets:
            reply(CommandStatus.ESME_RCANCELFAIL)
            return
        for track in targets:
            self._finalise(track, MessageState.DELETED, track.msg.error_code, track.msg.network_error_code,
                           outcome="cancelled")
        self._commit(lambda: reply(CommandStatus.ESME_ROK))

    def _matching_pending(self, system_id: str, service_type: str, source: Address, destination: Address) -> list[_Track]:
        if destination.addr:
            e164 = self._normalise(destination)
            ids = list(self._by_route.get((system_id, source.addr, e164), ()))
            candidates = [self._tracks[i] for i in ids]
        else:
            candidates = [
                t for t in self._tracks.values() if t.msg.system_id == system_id and t.msg.source.addr == source.addr
            ]
        return [t for t in candidates if not service_type or t.msg.service_type == service_type]

    def replace(
        self, system_id: str, message_id: str, source: Address, schedule_delivery_time: str,
        validity_period: str, registered_delivery: int, short_message: bytes,
        reply: Callable[[int], None],
    ) -> None:
        """replace_sm (SMPP 3.4 section 4.10): new text, registered_delivery and (when given) schedule and
        validity for a pending message; it keeps its message_id, its submit date becomes now (the receipt's
        "submit date" of a replaced message, Appendix B).  ESME_RREPLACEFAIL when no pending message matches
        (final, in flight, unknown, foreign); ESME_RINVSCHED / ESME_RINVEXPIRY for bad times."""
        targets = [
            self._tracks[m.message_id] for m in self._lookup(system_id, message_id, source)
            if m.message_id in self._tracks
        ]
        targets = [t for t in targets if t.phase not in _PHASES_NOT_RECALLABLE]
        if not targets:
            reply(CommandStatus.ESME_RREPLACEFAIL)
            return
        now = self.clock.now()
        try:
            schedule_time, expiry_time = self._times(schedule_delivery_time, validity_period, now)
        except _Reject as reject:
            reply(reject.status)
            return
        for track in targets:
            msg = track.msg
            self._detach(track)
            msg.short_message = short_message
            msg.tlvs.pop(Tag.message_payload, None)
            msg.registered_delivery = registered_delivery & 0x1F
            msg.submit_time = now
            if schedule_delivery_time:
                msg.schedule_time = schedule_time
            if validity_period:
                msg.expiry_time = expiry_time
            elif schedule_time is not None and schedule_delivery_time and msg.expiry_time <= schedule_time:
                msg.expiry_time = schedule_time + min(self._default_validity, self._max_validity)
            self.stats.replaced += 1
            self.store.save_message(msg)
            track.phase = "new"
        self._commit(lambda: self._replaced(targets, reply))

    def _replaced(self, tracks: list[_Track], reply: Callable[[int], None]) -> None:
        reply(CommandStatus.ESME_ROK)
        for track in tracks:
            if track.phase == "new" and self._tracks.get(track.msg.message_id) is track:
                self._resume(track)

    # == outbox side of the facade ============================================================================

    def take_deliveries(self, system_id: str, limit: int) -> list[Delivery]:
        """Up to ``limit`` waiting deliveries (receipts, MO) for ``system_id``, now leased to the caller."""
        return self.outbox.take(system_id, limit)

    def delivery_acked(self, delivery_id: int, status: int) -> None:
        """deliver_sm_resp with ``status``: 0 done; ESME_RX_P_APPN / RX_R_APPN dropped; others retried."""
        self.outbox.acked(delivery_id, status)

    def delivery_failed(self, delivery_id: int) -> None:
        """No answer (timeout, connection lost, generic_nack): offered again after a backoff."""
        self.outbox.failed(delivery_id)

    def _wake(self, system_id: str) -> None:
        if self.gateway is not None:
            self.gateway.wake(system_id)

    # == handsets and MO ======================================================================================

    def set_handset_online(self, e164: str, online: bool) -> None:
        """Control API: switch a handset on or off; switching it on alerts every message waiting for it now
        (as the HLR's alertServiceCentre would)."""
        carrier = self.router.route(e164)
        if carrier is None:
            raise ValueError(f"no carrier serves {e164!r}")
        carrier.handsets.set_online(e164, online, self.clock.now())
        if online and e164 in self._absent:
            self._alert(e164)

    def inject_mo(
        self, source: str, destination: str, text: str | None = None, payload: bytes | None = None,
        data_coding: int | None = None,
    ) -> list[int]:
        """A handset (``source``) sends a message to ``destination`` (a number or short code).

        Exactly one of ``text`` (encoded with ``data_coding``, default GSM 03.38 when every character has a
        GSM form, else UCS-2) or ``payload`` (user data as is, ``data_coding`` default 0x04 binary) is given.
        Longer than one SMS, it is split with a concatenation UDH (esm_class 0x40) as a network would.  It
        goes to the system_id of the MO route for ``destination``, else to the system_id that last sent MT to
        ``source``, else it is kept under system_id "" (counted in ``mo_unrouted`` and logged).  The source's
        carrier sees the text (STOP/START opt-out keywords).  Returns the delivery_ids, one per part.

        Raises:
            ValueError: neither or both of text and payload given, an empty number, or a text that cannot be
                encoded (:class:`smsc.smpp.text.EncodeError`) or needs more than 255 parts.
        """
        if (text is None) == (payload is None):
            raise ValueError("give exactly one of text or payload")
        if not source or not destination:
            raise ValueError("source and destination must not be empty")
        now = self.clock.now()
        source_e164 = normalise(Ton.UNKNOWN, Npi.ISDN, source, country_code=self._country_code,
                                national_prefix=self._national_prefix) or source
        if text is not None:
            coding = choose_coding(text) if data_coding is None else data_coding
            user_data = encode_text(text, coding)
        else:
            assert payload is not None
            coding = 0x04 if data_coding is None else data_coding
            user_data = bytes(payload)
            text = decode_text(user_data, coding)
        self._mo_reference = (self._mo_reference + 1) & 0xFF
        parts = split_message(user_data, coding, self._mo_reference)
        carrier = self.router.route(source_e164)
        if carrier is not None:
            carrier.handsets.on_mo_text(source_e164, text, now)
        system_id = self._mo_target(destination, source_e164)
        esm_class = EsmClass.UDHI if len(parts) > 1 else 0
        src = Address(ton=Ton.INTERNATIONAL, npi=Npi.ISDN, addr=source_e164) if source_e164.isdigit() \
            else Address(ton=Ton.ALPHANUMERIC, npi=Npi.UNKNOWN, addr=source_e164)
        dst = self._mo_destination_address(destination)
        ids: list[int] = []
        for part in parts:
            delivery = Delivery(
                delivery_id=self.outbox.new_delivery_id(),
                system_id=system_id,
                source=src,
                destination=dst,
                esm_class=int(esm_class),
                data_coding=coding,
                short_message=part,
                kind="mo",
            )
            self.outbox.add(delivery)
            ids.append(delivery.delivery_id)
        self.stats.mo_received += len(parts)
        if not system_id:
            self.stats.mo_unrouted += len(parts)
            log.warning("mo_unrouted", source=source_e164, destination=destination, parts=len(parts))
        return ids

    def _mo_target(self, destination: str, source_e164: str) -> str:
        target = self.router.mo_target(destination)
        if target:
            return target
        return self._last_mt.get(source_e164, "")

    @staticmethod
    def _mo_destination_address(destination: str) -> Address:
        if destination.isdigit():
            if len(destination) <= _SHORT_CODE_MAX_DIGITS:
                return Address(ton=Ton.NETWORK_SPECIFIC, npi=Npi.UNKNOWN, addr=destination)
            return Address(ton=Ton.INTERNATIONAL, npi=Npi.ISDN, addr=destination)
        return Address(ton=Ton.ALPHANUMERIC, npi=Npi.UNKNOWN, addr=destination)

    def _remember_sender(self, e164: str, system_id: str) -> None:
        last = self._last_mt
        last.pop(e164, None)
        last[e164] = system_id
        if len(last) > _LAST_MT_MAX:
            last.popitem(last=False)

    def _auto_replies(self, track: _Track) -> None:
        """After a delivery: the handset's configured answers come back as MO after their delays."""
        msg = track.msg
        carrier = track.carrier
        if carrier is None or not msg.source.addr:
            return
        handsets = carrier.handsets
        has_reply = getattr(handsets, "auto_reply_for", None)
        if has_reply is not None and has_reply(msg.destination_e164) is None:
            return  # the common case: no auto-reply configured, no need to read the text
        text = self._mt_text(msg)
        if text is None:
            return
        now = self.clock.now()
        replies = handsets.replies_to_mt(msg.destination_e164, text, now, self.rng)
        for answer in replies:
            self.stats.auto_replies += 1
            self.scheduler.call_at(
                now + max(0.0, float(answer.delay)), self._send_auto_reply,
                (msg.destination_e164, msg.source.addr, answer.text),
            )

    def _send_auto_reply(self, arg: tuple[str, str, str]) -> None:
        source, destination, text = arg
        try:
            self.inject_mo(source, destination, text=text)
        except ValueError:
            log.exception("auto_reply_failed", source=source, destination=destination)

    def _mt_text(self, msg: Message) -> str | None:
        """The whole text of a delivered MT (reassembled when it is one part of a long message; None until
        the last part arrives, or for user data that cannot be read)."""
        try:
            info = concat_info(msg.esm_class, msg.short_message, msg.tlvs)
        except ValueError:
            return None
        if info is not None:
            key = (msg.system_id, msg.source.addr, msg.destination_e164)
            whole = self._reassembler.add(key, info, self.clock.now())
            if whole is None:
                return None
            return decode_text(whole, msg.data_coding)
        data = msg.short_message or msg.tlvs.get(Tag.message_payload, b"")
        if not isinstance(data, (bytes, bytearray)):
            return None
        if msg.esm_class & EsmClass.UDHI:
            try:
                _, data = parse_udh(bytes(data))
            except ValueError:
                return None
        return decode_text(bytes(data), msg.data_coding)

    # == the delivery machine =================================================================================

    def _normalise(self, address: Address) -> str:
        return normalise(address.ton, address.npi, address.addr, country_code=self._country_code,
                         national_prefix=self._national_prefix)

    def _carrier_of(self, msg: Message) -> Any:
        carriers = getattr(self.router, "carriers", {})
        carrier = carriers.get(msg.carrier) if msg.carrier else None
        if carrier is None and msg.destination_e164:
            carrier = self.router.route(msg.destination_e164)
        return carrier

    def _register(self, track: _Track) -> None:
        msg = track.msg
        self._messages[msg.message_id] = msg
        self._tracks[msg.message_id] = track
        self._group_add(msg)
        key = (msg.system_id, msg.source.addr, msg.destination_e164)
        bucket = self._by_route.get(key)
        if bucket is None:
            bucket = self._by_route[key] = {}
        bucket[msg.message_id] = None
        self.stats.waiting = len(self._tracks)

    def _group_add(self, msg: Message) -> None:
        if msg.multi_id:
            members = self._groups.setdefault(msg.multi_id, [])
            if msg.message_id not in members:
                members.append(msg.message_id)

    def _resume(self, track: _Track) -> None:
        """Put a waiting message into the phase its record says: scheduled, retry wait, waiting for its
        handset, or due for an attempt now.  Used after accept, replace_sm and restart."""
        msg = track.msg
        now = self.clock.now()
        if now >= msg.expiry_time:
            self._expire(track)
            return
        if track.carrier is None:
            self._finalise(track, MessageState.UNDELIVERABLE, NO_ROUTE_ERR, None, outcome="undeliverable")
            self._commit(_nothing)
            return
        if msg.schedule_time is not None and msg.schedule_time > now:
            self._set_timer(track, "scheduled", msg.schedule_time, self._on_due)
            return
        if msg.next_attempt_time is not None and msg.next_attempt_time > now:
            self._set_timer(track, "retry", min(msg.next_attempt_time, msg.expiry_time), self._on_due)
            return
        if msg.attempts and msg.attempts[-1].outcome == "absent":
            handsets = track.carrier.handsets
            if not handsets.is_online(msg.destination_e164, now):
                self._wait_absent(track, handsets.next_online(msg.destination_e164, now))
                return
        self._enqueue(track, alerted=False)

    def _set_timer(self, track: _Track, phase: str, when: float, callback: Callable[[Any], None]) -> None:
        track.phase = phase
        track.gen += 1
        track.timer = self.scheduler.call_at(when, callback, (track, track.gen))

    def _on_due(self, arg: tuple[_Track, int]) -> None:
        """Schedule time reached, retry time reached, or validity ended while waiting."""
        track, gen = arg
        if track.gen != gen:
            return
        track.timer = None
        msg = track.msg
        if self.clock.now() >= msg.expiry_time:
            self._expire(track)
            return
        if track.phase == "retry":
            msg.next_attempt_time = None
        self._enqueue(track, alerted=False)

    def _enqueue(self, track: _Track, *, alerted: bool) -> None:
        """Attempt now, or wait for the carrier's capacity.  A priority-0 message to a handset already known
        absent joins the messages waiting for its alert without an attempt (the HLR's message-waiting flag;
        GSM lets priority messages try anyway)."""
        msg = track.msg
        if not alerted and msg.priority_flag == 0:
            wait = self._absent.get(msg.destination_e164)
            if wait is not None:
                self._join_wait(track, wait)
                return
        carrier = track.carrier
        capacity = getattr(carrier, "capacity", None)
        if not capacity:
            self._attempt(track)
            return
        queue = self._carrier_queues.get(carrier.name)
        now = self.clock.now()
        if queue is None:
            queue = self._carrier_queues[carrier.name] = _CarrierQueue(float(capacity), now)
        if not queue.heap and queue.bucket.take(now):
            self._attempt(track)
            return
        track.phase = "queued"
        track.gen += 1
        heapq.heappush(queue.heap, (-msg.priority_flag, msg.submit_time, next(self._queue_seq), track.gen, track))
        self.stats.queued += 1
        if queue.timer is None:
            queue.timer = self.scheduler.call_at(now + max(queue.bucket.wait_time(now), 1e-6), self._drain, queue)

    def _drain(self, queue: _CarrierQueue) -> None:
        queue.timer = None
        now = self.clock.now()
        heap = queue.heap
        while heap:
            _, _, _, gen, track = heap[0]
            if track.gen != gen or track.phase != "queued":
                heapq.heappop(heap)
                continue
            if not queue.bucket.take(now):
                break
            heapq.heappop(heap)
            self.stats.queued -= 1
            self._attempt(track)
        if heap:
            queue.timer = self.scheduler.call_at(now + max(queue.bucket.wait_time(now), 1e-6), self._drain, queue)

    def _attempt(self, track: _Track) -> None:
        msg = track.msg
        now = self.clock.now()
        if now >= msg.expiry_time:
            self._expire(track)
            return
        outcome = track.carrier.attempt(msg.destination_e164, now, self.rng)
        self.stats.attempts += 1
        self.stats.in_flight += 1
        track.phase = "inflight"
        track.gen += 1
        when = now + max(0.0, float(outcome.latency))
        track.timer = self.scheduler.call_at(when, self._on_outcome_due, (track, track.gen, outcome))

    def _on_outcome_due(self, arg: tuple[_Track, int, Any]) -> None:
        track, gen, outcome = arg
        if track.gen != gen:
            return
        track.timer = None
        self.stats.in_flight -= 1
        track.phase = "outcome"
        msg = track.msg
        now = self.clock.now()
        kind = outcome.kind
        err = int(outcome.err or 0)
        nec = outcome.network_error_code
        msg.attempts.append(Attempt(time=now, outcome=kind, err=err))
        final_state = _FINAL_BY_KIND.get(kind)
        if final_state is not None:
            if final_state is MessageState.DELIVERED:
                err, nec = 0, None
            self._finalise(track, final_state, err, nec, outcome=None)
            if final_state is MessageState.DELIVERED:
                self._auto_replies(track)
            return
        if kind not in ("absent", "temporary"):
            log.warning("unknown_outcome", kind=kind, message_id=msg.message_id)
            kind = "temporary"
        msg.error_code = err
        msg.network_error_code = nec
        failures = sum(1 for a in msg.attempts if a.outcome in ("absent", "temporary"))
        if failures == 1 and msg.registered_delivery & RegisteredDelivery.INTERMEDIATE:
            self._queue_receipt(msg, track.carrier, intermediate=True)
        if now >= msg.expiry_time:
            self._expire(track)
            return
        if kind == "absent":
            self.stats.absent += 1
            self._wait_absent(track, outcome.online_at)
        else:
            self.stats.retries += 1
            schedule = tuple(getattr(track.carrier, "retry_schedule", ()) or ()) or self._retry_schedule
            next_time = now + max(_MIN_DELAY, float(schedule[min(failures, len(schedule)) - 1]))
            msg.next_attempt_time = next_time
            self._set_timer(track, "retry", min(next_time, msg.expiry_time), self._on_due)
        self.store.save_message(msg)
        self._commit(_nothing)

    # -- absent handsets (one alert timer per number) --------------------------------------------------------

    def _wait_absent(self, track: _Track, online_at: float | None) -> None:
        e164 = track.msg.destination_e164
        wait = self._absent.get(e164)
        if wait is None:
            wait = self._absent[e164] = _NumberWait(e164)
        if online_at is not None:
            online_at = max(online_at, self.clock.now() + _MIN_DELAY)  # never a same-instant alert loop
        if online_at is not None and online_at != wait.online_at:
            self.scheduler.cancel(wait.timer)
            wait.online_at = online_at
            wait.timer = self.scheduler.call_at(online_at, self._on_alert, wait)
        self._join_wait(track, wait)

    def _join_wait(self, track: _Track, wait: _NumberWait) -> None:
        msg = track.msg
        msg.next_attempt_time = None
        self._set_timer(track, "absent", msg.expiry_time, self._on_due)
        wait.members[msg.message_id] = track

    def _on_alert(self, wait: _NumberWait) -> None:
        if self._absent.get(wait.e164) is wait:
            wait.timer = None
            self._alert(wait.e164)

    def _alert(self, e164: str) -> None:
        """The handset is reachable again: attempt every message waiting for it, best priority first."""
        wait = self._absent.pop(e164, None)
        if wait is None:
            return
        self.scheduler.cancel(wait.timer)
        members = sorted(wait.members.values(), key=lambda t: (-t.msg.priority_flag, t.msg.submit_time))
        for track in members:
            if track.phase == "absent":
                self.scheduler.cancel(track.timer)
                track.timer = None
                track.gen += 1
                self._enqueue(track, alerted=True)

    # -- leaving a phase and reaching a final state ----------------------------------------------------------

    def _detach(self, track: _Track) -> None:
        """Take a waiting message out of whatever phase it is in (its timers and queue entries die)."""
        phase = track.phase
        self.scheduler.cancel(track.timer)
        track.timer = None
        if phase == "queued":
            self.stats.queued -= 1
        elif phase == "inflight":
            self.stats.in_flight -= 1
        elif phase == "absent":
            e164 = track.msg.destination_e164
            wait = self._absent.get(e164)
            if wait is not None:
                wait.members.pop(track.msg.message_id, None)
                if not wait.members:
                    self.scheduler.cancel(wait.timer)
                    del self._absent[e164]
        track.gen += 1
        track.phase = "detached"

    def _expire(self, track: _Track) -> None:
        msg = track.msg
        self._finalise(track, MessageState.EXPIRED, msg.error_code, msg.network_error_code, outcome="expired")

    def _finalise(
        self, track: _Track, state: MessageState, err: int, nec: bytes | None, *, outcome: str | None,
    ) -> None:
        """Record the final state, queue the receipt registered_delivery asks for, save and commit."""
        self._detach(track)
        msg = track.msg
        now = self.clock.now()
        if outcome is not None:
            msg.attempts.append(Attempt(time=now, outcome=outcome, err=err))
        msg.state = state
        msg.final_time = now
        msg.error_code = err
        msg.network_error_code = nec
        msg.next_attempt_time = None
        del self._tracks[msg.message_id]
        key = (msg.system_id, msg.source.addr, msg.destination_e164)
        bucket = self._by_route.get(key)
        if bucket is not None:
            bucket.pop(msg.message_id, None)
            if not bucket:
                del self._by_route[key]
        stats = self.stats
        stats.waiting = len(self._tracks)
        if state is MessageState.DELIVERED:
            stats.delivered += 1
        elif state is MessageState.EXPIRED:
            stats.expired += 1
        elif state is MessageState.UNDELIVERABLE:
            stats.undeliverable += 1
        elif state is MessageState.REJECTED:
            stats.rejected += 1
        elif state is MessageState.DELETED:
            stats.deleted += 1
        self._retain_final(msg)
        self.store.save_message(msg)
        if self._wants_receipt(msg):
            self._queue_receipt(msg, track.carrier, intermediate=False)  # commits with the delivery
        else:
            self._commit(_nothing)

    @staticmethod
    def _wants_receipt(msg: Message) -> bool:
        """registered_delivery bits 1-0 (SMPP 3.4 section 5.2.17; value 3 = success only, SMPP 5.0)."""
        wanted = msg.registered_delivery & 0x03
        if msg.state is MessageState.DELIVERED:
            return wanted in (1, 3)
        return wanted in (1, 2)

    def _queue_receipt(self, msg: Message, carrier: Any, *, intermediate: bool) -> None:
        """A deliver_sm receipt (SMPP 3.4 Appendix B text, esm_class 0x04, or 0x20 for an intermediate
        notification) to the submitting system_id, from the original destination to the original source."""
        style = getattr(carrier, "receipt", None)
        now = self.clock.now()
        receipt_id = msg.multi_id or msg.message_id
        state = MessageState.ENROUTE if intermediate else msg.state
        err_digits = int(getattr(style, "err_digits", 3) or 3)
        text = self._mt_preview(msg)
        body = build_receipt_text(
            message_id=receipt_id,
            submitted=msg.submitted_count,
            delivered=1 if state is MessageState.DELIVERED else 0,
            submit_date=_utc_minute(msg.submit_time),
            done_date=_utc_minute(now if intermediate or msg.final_time is None else msg.final_time),
            stat=state.stat,
            err=f"{msg.error_code:0{err_digits}d}",
            text=text,
            text_label=getattr(style, "text_label", "text"),
        )
        tlvs: dict[int, Any] = {}
        if getattr(style, "receipted_message_id", True):
            tlvs[Tag.receipted_message_id] = receipt_id
        tlvs[Tag.message_state] = int(state)
        if msg.network_error_code is not None and state is not MessageState.DELIVERED:
            tlvs[Tag.network_error_code] = msg.network_error_code
        reference = msg.tlvs.get(Tag.user_message_reference)
        if reference is not None:
            tlvs[Tag.user_message_reference] = reference
        delivery = Delivery(
            delivery_id=self.outbox.new_delivery_id(),
            system_id=msg.system_id,
            source=msg.destination,
            destination=msg.source,
            esm_class=int(EsmClass.INTERMEDIATE_NOTIFICATION if intermediate else EsmClass.DELIVERY_RECEIPT),
            data_coding=0,
            short_message=body.encode("ascii", "replace"),
            tlvs=tlvs,
            kind="receipt",
        )
        if intermediate:
            self.stats.intermediate_receipts += 1
        else:
            self.stats.receipts += 1
        self.outbox.add(delivery)

    def _mt_preview(self, msg: Message) -> str:
        """The first characters of the message for the receipt's text: field (ASCII)."""
        data = msg.short_message or msg.tlvs.get(Tag.message_payload, b"")
        if not isinstance(data, (bytes, bytearray)):
            return ""
        data = bytes(data)
        if msg.esm_class & EsmClass.UDHI:
            try:
                _, data = parse_udh(data)
            except ValueError:
                return ""
        try:
            text = decode_text(data[:160], msg.data_coding)
        except Exception:  # decode_text promises not to raise; a receipt must never fail on the preview
            return ""
        return _ascii(text[:20]).replace("\n", " ").replace("\r", " ")

    # -- retention of final messages -------------------------------------------------------------------------

    def _retain_final(self, msg: Message) -> None:
        self._final.append(msg.message_id)
        while len(self._final) > self.max_final_in_memory:
            self._forget(self._final.popleft())

    def _forget(self, message_id: str) -> None:
        msg = self._messages.get(message_id)
        if msg is None or not msg.is_final:
            return
        del self._messages[message_id]
        if msg.multi_id:
            members = self._groups.get(msg.multi_id)
            if members is not None:
                if message_id in members:
                    members.remove(message_id)
                if not members:
                    del self._groups[msg.multi_id]

    def _prune(self, _: Any = None) -> None:
        now = self.clock.now()
        cutoff = now - self.final_retention
        final = self._final
        while final:
            msg = self._messages.get(final[0])
            if msg is not None and msg.final_time is not None and msg.final_time >= cutoff:
                break
            self._forget(final.popleft())
        self.store.prune_final(cutoff)
        self._commit(_nothing)
        self._prune_timer = self.scheduler.call_at(now + PRUNE_INTERVAL, self._prune)

    # -- store ---------------------------------------------------------------------------------------------------

    def _commit(self, on_durable: Callable[[], None]) -> None:
        counters = (self._ids.next_number, self.outbox.next_delivery_id)
        if counters != self._saved_counters:
            self.store.save_counters(*counters)
            self._saved_counters = counters
        self.store.commit(on_durable)

    # == inspection =============================================================================================

    def message(self, message_id: str) -> Message | None:
        """The message with this id (for a submit_multi id, its first destination), or None."""
        msg = self._messages.get(message_id)
        if msg is None:
            members = self._groups.get(message_id)
            if members:
                msg = self._messages.get(members[0])
        return msg

    def messages(
        self, system_id: str | None = None, state: int | None = None, limit: int = 100,
    ) -> list[Message]:
        """Known messages, newest first, optionally of one system_id and/or one state (message_state value;
        waiting messages are ENROUTE)."""
        found: list[Message] = []
        if limit <= 0:
            return found
        for msg in reversed(self._messages.values()):
            if system_id is not None and msg.system_id != system_id:
                continue
            if state is not None and msg.state != state:
                continue
            found.append(msg)
            if len(found) >= limit:
                break
        return found

    def waiting_count(self) -> int:
        """Messages not yet in a final state."""
        return len(self._tracks)

    def outbox_sizes(self) -> dict[str, int]:
        """Deliveries not yet acknowledged, per system_id."""
        sizes: dict[str, int] = {}
        for delivery in self.outbox.pending():
            sizes[delivery.system_id] = sizes.get(delivery.system_id, 0) + 1
        return sizes

    def deliveries(self, system_id: str | None = None) -> list[Delivery]:
        """Deliveries not yet acknowledged (available, leased or in backoff), oldest first."""
        return self.outbox.pending(system_id)
