"""The SMSC facade: store-and-forward of MT messages, delivery receipts and MO, behind :class:`SmscApi`.

What happens to a message (issue 4, "Store-and-forward"):

1. **submit** validates the request (priority_flag, replace_if_present_flag, schedule_delivery_time and
   validity_period against the simulation clock: :mod:`smsc.core.validity`), normalises the destination to
   E.164 (ESME_RINVDSTADR when that is not a mobile number: :func:`~smsc.core.numbers.is_valid_msisdn`),
   routes it to a carrier, applies the carrier's submit-time rule for that number, bounds the number of
   waiting messages (ESME_RMSGQFUL), replaces a waiting message when asked, gives it a message_id and saves
   it.  Status 0 is replied only from the store's ``on_durable``: "status 0 means on disk".
2. After the reply the delivery machine (:mod:`smsc.core.attempts`) takes it through its attempts to a final
   state; receipts (:mod:`smsc.core.receipts`) go to the durable outbox (:mod:`smsc.core.outbox`) of the
   submitting system_id; MO and auto-replies are :mod:`smsc.core.mo`.

Choices where the specification leaves room (each documented where it is made):

* replace_if_present_flag=1 replaces a waiting message of the same system_id, source address, destination
  and service_type: the old message ends DELETED (with a receipt if its registered_delivery asks for failure
  receipts, so its sender is not left waiting) and the new one gets a new message_id.
* submit_multi gives one message_id M to the ESME; each destination is its own :class:`Message` with id
  ``M-1``, ``M-2`` ... and ``multi_id`` M; receipts, query_sm, cancel_sm and replace_sm use M.
* A message that is being attempted right now (in flight) cannot be cancelled or replaced.
* Submit-rule delays (``SubmitRule.delay``) are real seconds: they are about the ESME's response timer, so
  they last the same whatever the ``time_scale``.  Handset auto-reply delays are simulation seconds.
* Reserved registered_delivery bits are ignored.
* Datagram message mode (esm_class bits 1-0 = 1, section 2.10.2) is accepted in submit_sm, submit_multi and
  data_sm: one attempt, no retry, no receipt; schedule_delivery_time and registered_delivery are accepted and
  not acted on (:meth:`Smsc._submit_datagram`).
* set_dpf is honoured in submit_sm and submit_multi too (SMPP 5.0 allows it there), not only in data_sm; a
  message without it asks for no Delivery Pending Flag (:mod:`smsc.core.dpf`).

Everything runs on the event-loop thread, driven by :attr:`Smsc.scheduler`; nothing here awaits.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
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
    TransactionResult,
)
from smsc.core.attempts import AttemptMachine
from smsc.core.clock import Clock, FakeClock, sim_seconds_for_real
from smsc.core.dpf import PendingFlags, wants_dpf
from smsc.core.draws import KeyedDraws
from smsc.core.ids import IdPacker, MessageIdGenerator, written_by
from smsc.core.message import Message, accepted_message
from smsc.core.mo import LAST_MT_MAX, MoService
from smsc.core.numbers import is_valid_msisdn, normalise
from smsc.core.outbox import Outbox
from smsc.core.receipts import Receipts
from smsc.core.scheduler import Scheduler, TimerHandle
from smsc.core.stats import SmscStats
from smsc.core.store.base import MessageStore
from smsc.core.tracks import PHASES_NOT_RECALLABLE, MessageIndex, Track, same_source
from smsc.core.validity import Reject, SubmitTimes, utc
from smsc.smpp.constants import CommandStatus, EsmClass, MessageState, Tag
from smsc.smpp.timefmt import format_absolute, writable_range
from smsc.smpp.validate import check_udh, payload_too_many_parts, payload_unsendable, short_message_fits_one_sms

__all__ = ["Smsc", "SmscStats"]

log = structlog.get_logger("smsc.core")

#: Final messages kept in memory (and in the store) for query_sm this long, simulation seconds.
DEFAULT_FINAL_RETENTION = 86_400.0
#: At most this many final messages are kept in memory, oldest forgotten first (memory store).
DEFAULT_MAX_FINAL_IN_MEMORY = 100_000
#: The same with a store that can read messages back (SQLite): older final messages are read from it.
DEFAULT_MAX_FINAL_CACHED = 10_000
#: How often the store is asked to prune old final messages, simulation seconds: at most this, and at most a
#: tenth of ``store.final_retention`` (tester 44: a retention of 10 minutes kept messages for up to 70).
PRUNE_INTERVAL = 3_600.0
#: The fewest real seconds between two prunes, whatever the retention and the time scale.
PRUNE_MIN_REAL = 1.0
#: Entries of each intern table (destinations, sources, short texts) before it is emptied (or, for texts,
#: stops growing).
_INTERN_MAX = 65_536
#: The tlvs of every message submitted without TLVs: shared, so message.tlvs is never changed in place
#: (replace_sm gives the message a new dict).
_NO_TLVS: dict[int, Any] = {}
#: delivery_failure_reason of a transaction-mode message by how its one attempt ended (SMPP 3.4 section 5.3.2.33:
#: 0 destination unavailable, 1 destination address invalid, 2 permanent network error, 3 temporary network
#: error); any other end (temporary failure, timeout, capacity spent) is 3.  A message customer service read for
#: the subscriber (ACCEPTED) never reached the handset and never will: 2, with the cause's text.
_FAILURE_REASONS = {"absent": 0, "undeliverable": 1, "rejected": 2, "accepted": 2}
_TEMPORARY_NETWORK_ERROR = 3
#: esm_class messaging modes (bits 1-0, SMPP 3.4 section 5.2.12): datagram and transaction (forward).
_ESM_MODE = 0x03
_DATAGRAM = 0x01
_TRANSACTION = 0x02
#: How long a datagram's one attempt may take, simulation seconds: nobody waits for its outcome.
_NO_LIMIT = float("inf")
#: Retry delays used when neither the carrier nor the config gives any (simulation seconds).
FALLBACK_RETRY_SCHEDULE: tuple[float, ...] = (60.0, 300.0, 900.0, 1800.0, 3600.0)

#: Final messages looked at, least recently final first, for an id to give again after a wrap
#: (:meth:`Smsc._least_recently_final`); beyond, any free id is taken.
LEAST_RECENT_TRIES = 64

#: Evicted waiting messages :meth:`Smsc.messages` reads back at most, for each of its two ways of finding them (a
#: listing must not read a million records from disk; a filtered one may find its matches older than the newest
#: ``limit`` of each number).
EVICTED_FILTERED_MAX = 10_000
#: Waiting messages read back and resumed per step of a restart (one store query each): those that go on
#: waiting for an absent handset leave memory before the next batch is read (:meth:`Smsc.start`).
RESUME_BATCH = 4_096
#: Outbox rows read per step of a restart (one store query each): beyond what the outbox keeps in memory per
#: system_id, only their delivery_ids stay (:meth:`Outbox.restore_batches`).
RESTORE_DELIVERIES_BATCH = 4_096


_new = object.__new__
#: CommandStatus.ESME_ROK read once: an Enum class attribute costs about 0.1 us in CPython 3.11, a global 7 ns.
_ROK = CommandStatus.ESME_ROK


def _drop_commit(on_durable: Callable[[], None]) -> None:
    """The store commit of a stopped SMSC (see :meth:`Smsc.stop`)."""


def _nothing() -> None:
    return None


def _destination_number(message_id: str) -> int:
    """n of a submit_multi member id ``M-n`` (its destination's place in the request)."""
    tail = message_id.rpartition("-")[2]
    return int(tail) if tail.isdigit() else 0


def _submit_order(track: Track) -> float:
    return track.msg.submit_time


def _datagram_done(track: Track, kind: str, outcome: Any) -> None:
    """A datagram's one attempt ended (its final state is recorded and committed): nobody is told."""


class Smsc:
    """The simulated SMSC core; implements :class:`~smsc.core.api.SmscApi`.

    Args:
        config: the loaded :class:`smsc.config.Config` (server.message_id, store.max_waiting_messages,
            simulation.* validity/schedule/retry options, topology numbering and no_route).
        store: where messages and the outbox are made durable.
        clock: simulation time.
        rng: the world's only source of chance (seeded in tests).
        router: the simulated networks; built from ``config`` with ``routing.build_world`` when None.
        final_retention: simulation seconds a final message stays queryable (default: the config's
            ``store.final_retention``).
        max_final_in_memory: bound on final messages kept in memory (default 100,000 with the memory store;
            10,000 with a store that reads messages back, which answers query_sm for older ones).
        resume_batch: waiting messages read back and resumed per step of :meth:`start`.
    """

    def __init__(
        self,
        config: Any,
        store: MessageStore,
        clock: Clock,
        rng: random.Random,
        router: Any = None,
        *,
        final_retention: float | None = None,
        max_final_in_memory: int | None = None,
        resume_batch: int = RESUME_BATCH,
    ) -> None:
        if router is None:
            from smsc.core.routing import build_world

            router = build_world(config, rng)
        self.config = config
        self.store = store
        self.clock = clock
        self.rng = rng
        self.router = router
        if final_retention is None:
            final_retention = float(getattr(getattr(config, "store", None), "final_retention", DEFAULT_FINAL_RETENTION))
        self.final_retention = final_retention
        if max_final_in_memory is None:
            in_memory = getattr(store, "records_in_memory", False) or not hasattr(store, "load_messages")
            max_final_in_memory = DEFAULT_MAX_FINAL_IN_MEMORY if in_memory else DEFAULT_MAX_FINAL_CACHED
        self.max_final_in_memory = max_final_in_memory
        self.resume_batch = resume_batch
        self.scheduler = Scheduler()
        self.stats = SmscStats()
        self.gateway: DeliveryGateway | None = None
        #: message_id -> how to cut short the wait of a transaction-mode message whose outcome is awaited
        #: (:meth:`cut_transaction`); entries leave with the outcome.
        self._transactions: dict[str, Callable[[str], None]] = {}
        #: The highest number a stored message_id of this config's formats names (-1: none), found at start.
        self._highest_stored = -1
        self._ids = MessageIdGenerator(config.server.message_id, in_use=self._ids_in_use,
                                       live_bound=self._live_bound, reused=self._id_reused,
                                       held=self._ids_held, least_recent=self._least_recently_final)
        self.outbox = Outbox(store, self.scheduler, clock, on_available=self._wake, commit=self._commit)
        self.outbox.stats = self.stats  # the outbox counts deliveries_* straight into our stats
        self.index = MessageIndex(max_final_in_memory)
        #: Commits asked for while held (:meth:`hold_commits`), in order; None when not held.
        self._held: list[Callable[[], None]] | None = None
        self._saved_number = -1  # id counters last saved (-1: never)
        #: (modulus, template) of an id format found with every id live -> (messages not final, messages
        #: accepted) then (see :meth:`_take_id`).
        self._ids_full: dict[tuple[int, str], tuple[int, int]] = {}
        self._saved_delivery_id = -1
        self._prune_timer: TimerHandle | None = None
        #: Responses a carrier rule's submit delay holds (see :meth:`_after_delay`): key -> (timer, callback, arg).
        self._delayed: dict[int, tuple[TimerHandle, Callable[[Any], None], Any]] = {}
        self._delayed_keys = itertools.count()
        #: Set by :meth:`hurry_responses`: a rule's delay no longer holds a response (the server is stopping).
        self._hurried = False
        self._started = False
        sim = config.simulation
        #: How two-digit years are read and written (SMPP 3.4 Appendix C): absolute times, query_sm's final_date,
        #: receipt dates.
        self._year_pivot = config.server.year_pivot
        self._times = SubmitTimes(sim.default_validity, sim.max_validity, sim.max_schedule, self._year_pivot)
        topology = config.topology
        self._country_code = topology.country_code
        self._national_prefix = topology.national_prefix
        self._no_route_rejects = topology.no_route != "undeliverable"
        self._max_waiting = int(config.store.max_waiting_messages)
        self._default_lifetime = self._times.default_expiry(0.0)
        #: (dest TON, NPI, address) -> (E.164 form, carrier or None, the Address): normalising and routing
        #: are pure functions of these for one world; messages to one number share one Address.
        self._routes: dict[tuple[int, int, str], tuple[str, Any, Address, Any]] = {}
        #: The same entries for destinations that take :meth:`_submit_plain`, by address alone (the entry's
        #: Address gives the TON and NPI to compare): no key tuple per submit.
        #: Each is (E.164 form, carrier, the Address, carrier name, message_id modulus, format spec).
        self._plain_routes: dict[str, tuple[str, Any, Address, str, int, str]] = {}
        #: Handset number -> the timer that hands it back after a timed switch (:meth:`set_handset_online`) and
        #: when it is due (simulation seconds), as :attr:`_outage_timers` for carriers.
        self._handset_timers: dict[str, tuple[Any, float]] = {}
        #: Carrier name -> the timer that ends its timed outage (:meth:`set_carrier_down` with ``seconds``) and
        #: when it is due (simulation seconds).
        self._outage_timers: dict[str, tuple[Any, float]] = {}
        #: Carrier name (one with a queue_limit) -> the tracks of messages accepted for it whose commit has not
        #: come yet (:meth:`_queued_or_admitted`).
        self._admitted: dict[str, set[Track]] = {}
        #: Submits recorded whose commit has not called back yet, oldest first (:meth:`_accepted_next`).
        self._accepting: deque[tuple[Track, Callable[[SubmitResult], None]]] = deque()
        self._accepted_next = self._accepted_next  # type: ignore[method-assign]  # one bound method
        #: The source Address interned last (most submits come from a few senders).
        self._last_source: Address | None = None
        #: Interned source addresses and short user data: a queue of a million messages from a few senders
        #: with a few texts holds one copy of each (Address and bytes are never changed in place).
        self._sources: dict[tuple[int, int, str], Address] = {}
        self._payloads: dict[bytes, bytes] = {}
        self.mo = MoService(
            router, self.outbox, self.scheduler, clock, rng, self.stats,
            country_code=self._country_code, national_prefix=self._national_prefix, store=store,
        )
        self.mo.on_handset_back = self._handset_back
        #: ``simulation.seed`` set: every attempt's and auto-reply's chance is keyed to its message
        #: (smsc.core.draws), so that a message meets the same fate however traffic interleaves.
        keyed = KeyedDraws(sim.seed) if sim.seed is not None else None
        self.mo.keyed = keyed
        self.mo.receiving = frozenset(a.system_id for a in config.accounts if a.receives) if config.accounts else None
        self.receipts = Receipts(self.outbox, self.stats, clock, self._year_pivot)
        self.receipts.multi_delivered = self._multi_delivered
        self.receipts.rng = rng
        self.receipts.keyed = keyed
        self.receipts.id_format = config.server.message_id.format
        self.receipts.later = lambda seconds, callback, arg: self.scheduler.call_at(clock.now() + seconds, callback, arg)
        self.machine = AttemptMachine(
            self.index, store, self._commit, self.receipts, self.mo, self.scheduler, clock, rng, self.stats,
            tuple(sim.retry_schedule) or FALLBACK_RETRY_SCHEDULE, carrier_of=self._carrier_of,
            backlog=self._backlog, packer=IdPacker(config.server.message_id),
            spill_limit=self.outbox.spill_limit,
            hold_commits=self.hold_commits, release_commits=self.release_commits,
        )
        self.machine.keyed = keyed
        self._waits = self.machine.waits
        #: Numbers whose handset is known absent -> their wait (the same dict as ``_waits.absent``): read per
        #: submit by :meth:`_carry_known_absence`.
        self._absent = self._waits.absent
        #: False until an alert may be owed (``SmscApi.may_owe_alerts``): one is queued, or read back at start.
        self.may_owe_alerts = False
        #: Delivery Pending Flags (set_dpf) and the alert_notification they turn into.
        self.dpf = PendingFlags(self.outbox, self.scheduler, clock, self.stats, self._handsets_of,
                                on_alert=self._alert_owed, store=store)
        self.machine.on_absent = self.dpf.absent
        self._now = clock.now
        self._save_message = store.save_message
        #: The store's ``forget_id`` (optional, see :mod:`smsc.core.store.base`): an id given again after a wrap.
        self._store_forget_id: Callable[[str, list[str]], None] | None = getattr(store, "forget_id", None)
        #: replace_sm saves the message as if accepted now (``move_message_last``: a restart then resumes it
        #: where its new submit time puts it, behind the messages accepted before the replace).
        self._save_moved: Callable[[Message], None] = getattr(store, "move_message_last", store.save_message)
        self._store_commit = store.commit
        #: Whether an adapter should hold the commits of one read's requests (:meth:`hold_commits`): not with a
        #: store that commits inline (the memory store), where each reply leaves as it is made, in request
        #: order, and holding would let the immediate answers of that read (enquire_link_resp, errors) pass
        #: the submit_sm_resp of earlier requests for almost no saving.
        self.hold_read_commits = not getattr(store, "commits_inline", False)
        #: MO without a route goes back to the system_id that last sent MT to the number (shared with mo).
        self._last_mt = self.mo.last_mt

    # == lifecycle ==============================================================================================

    def start(self) -> None:
        """Read the store back and resume: every waiting message is rescheduled (those whose validity ended
        while the SMSC was down expire now), every unacknowledged delivery is offered again, and every Delivery
        Pending Flag the store kept is set again (:meth:`~smsc.core.dpf.PendingFlags.restore`).

        Waiting messages are read and resumed :attr:`resume_batch` at a time (see :meth:`_resume_waiting`):
        those that go on waiting for an absent handset leave memory at once, as they would have once durable
        in a running SMSC, so a restart with a million of them holds one batch of records at a time.
        Call once, before any request.
        """
        if self._started:
            return
        self._started = True
        self._store_commit = self.store.commit  # (again, after a stop)
        # Final messages beyond what the index keeps in memory stay on disk (query_sm reads them there).  The
        # outbox too is read a batch at a time when the store can (``iter_deliveries``): beyond what the outbox
        # keeps in memory per system_id, only delivery_ids stay.
        iter_deliveries = getattr(self.store, "iter_deliveries", None)
        state = self.store.load(max_final=self.index.max_final_in_memory, waiting=False,
                                deliveries=iter_deliveries is None)
        self._ids.next_number = max(self._ids.next_number, state.next_message_number)
        self.outbox.next_delivery_id = max(self.outbox.next_delivery_id, state.next_delivery_id)
        now = self.clock.now()
        cutoff = now - self.final_retention
        self._restore_finals(state.messages, cutoff)
        self.store.prune_final(cutoff)
        # The outbox before the waiting messages: their expiries at start add receipts, whose rows the store's
        # outbox batches (read from the file) must not bring back a second time.
        if iter_deliveries is not None:
            self.outbox.restore_batches(iter_deliveries(RESTORE_DELIVERIES_BATCH))
        else:
            self.outbox.restore(state.deliveries)
        self.stats.restored_deliveries = len(self.outbox)
        self.mo.continue_references(self.outbox.newest_mo_restored)
        if self.outbox.alerts_restored:
            self.may_owe_alerts = True
        load_dpf_flags = getattr(self.store, "load_dpf_flags", None)
        if load_dpf_flags is not None:  # (before the waiting messages, which may find their flags set)
            self.dpf.restore(load_dpf_flags())
        # What resuming records (expiries and their receipts) is committed once, when every batch is resumed:
        # a commit in between would also take the members that joined a wait, which leave memory at once.
        formats = self._id_formats()
        with self.machine.one_commit():
            self._resume_waiting(sorted(state.messages, key=lambda m: m.submit_time), formats)
        iter_final_ids = getattr(self.store, "iter_final_ids", None)
        if iter_final_ids is not None:  # (the waiting ones were counted as they were resumed)
            for ids in iter_final_ids(RESTORE_DELIVERIES_BATCH):
                self._count_past(ids, formats)
            self._count_back(formats)
        index = self.index
        self.stats.waiting = index.waiting
        self._commit(_nothing)
        self._prune_timer = self.scheduler.call_at(now + self._prune_interval, self._prune)
        log.info("core_started", waiting=index.waiting, final=index.final_count, evicted=index.evicted,
                 deliveries=len(self.outbox), deliveries_spilled=self.outbox.spilled())
        self._check_year_pivot(now)
        self._check_transmit_only()

    def _check_transmit_only(self) -> None:
        """Warn (event ``receipts_unreceivable``) for each account that may bind as transmitter only: a receipt
        it asks for (registered_delivery) is kept for a receiver or transceiver bind of its system_id, which its
        bind_types never allow, so such receipts pile up; with the count owed now when a restart found some
        (an account a config change made transmit-only).  Said once, at start: nothing is added per message
        (tester 85: 20,100 receipts piled up for such an account without a word)."""
        sizes = self.outbox.sizes()
        for system_id in sorted(a.system_id for a in self.config.accounts if not a.receives):
            log.warning("receipts_unreceivable", system_id=system_id, owed=sizes.get(system_id, 0),
                        reason="the account's bind_types allow transmitter only: receipts it asks for wait for a "
                               "receiver or transceiver bind it cannot make (allow one, or submit with "
                               "registered_delivery 0)")
        # Tester 98: receipts and MO read back for an account removed from the config before the restart waited
        # in the outbox (and the dashboard) for good, without a word.  Kept, not dropped: the account may come
        # back.  (System_id "" holds the MO that no ESME could take, counted in mo_unrouted already.)
        configured = {a.system_id for a in self.config.accounts}
        for system_id in sorted(s for s, n in sizes.items() if n and s and s not in configured):
            log.warning("deliveries_unreceivable", system_id=system_id, owed=sizes[system_id],
                        reason="no configured account has this system_id (removed from the config since they were "
                               "queued): they wait for a bind of it; add the account again to have them delivered")

    def _check_year_pivot(self, now: float) -> None:
        """Warn (event ``year_pivot_excludes_now``) when ``server.year_pivot`` leaves the simulation's current
        date outside what a two-digit year can name (SMPP 3.4 Appendix C): then every absolute
        validity_period is refused (ESME_RINVEXPIRY) and every receipt and query_sm date is clamped to the
        range's end, which an ESME cannot tell from a real date.  Not an error: a fast world may start in
        range and leave it, or a test may want exactly that."""
        first, last = writable_range(self._year_pivot)
        today = utc(now)
        if first <= today <= last:
            return
        log.warning("year_pivot_excludes_now", year_pivot=self._year_pivot, simulated_now=today.isoformat(),
                    writable_from=first.isoformat(), writable_until=last.isoformat(),
                    hint="an absolute validity_period is refused, an absolute schedule_delivery_time is in the past "
                         "(delivered at once), receipt dates are clamped; see server.year_pivot")

    def _restore_finals(self, finals: list[Message], cutoff: float) -> None:
        """Keep the final messages read back that reached their final state at or after ``cutoff`` in memory
        for query_sm, oldest final state first (the order in which they are forgotten)."""
        index = self.index
        kept = sorted(
            (m for m in finals if m.is_final and m.final_time is not None and m.final_time >= cutoff),
            key=lambda m: m.final_time or 0.0,
        )
        for msg in kept:
            index.note_order(msg)
            index.messages[msg.message_id] = msg
            index.group_add(msg)
            index.retain_final(msg)

    def _resume_waiting(self, finals: list[Message], formats: list[tuple[int, str, int, int]]) -> None:
        """Register and resume every waiting message of the store, batch by batch, in submit order (each batch's
        ids counted past for ``formats``, the config's message_id formats: :meth:`_count_past`): the store
        hands them back in acceptance order and each batch is sorted by submit time, so the order is exact
        except for a message replace_sm gave a later submit time: it keeps its place in the store, so it is
        resumed with the batch of the messages accepted when it first was.  After each batch, the messages
        that went on waiting for an absent handset leave memory (their records are on disk as read): only
        their ids stay, in their number's wait (:mod:`smsc.core.waits`).

        MO without a route goes back to the system_id that last sent MT to the handset: every message read
        back names its sender in submit order, the final ones (``finals``, by submit time) merged in.

        Messages that waited for a handset that is reachable now wait on all the same, and their numbers are
        alerted once every batch is resumed (see :meth:`~smsc.core.attempts.AttemptMachine.resume`): attempted
        as the store hands them back, a number's queue would go in that order, its priority messages among the
        others."""
        index = self.index
        carrier_of = self._carrier_of
        remember_sender = self.mo.remember_sender
        resume = self.machine.resume
        returned: dict[str, None] = {}
        next_final = 0
        for batch in self.store.iter_waiting(self.resume_batch):
            self._count_past(batch, formats)
            self.stats.restored_waiting += len(batch)
            tracks: list[Track] = []
            for msg in batch:  # registered in store order, as the index lists them
                track = Track(msg, carrier_of(msg))
                index.register(track)
                tracks.append(track)
            tracks.sort(key=_submit_order)
            for track in tracks:
                msg = track.msg
                while next_final < len(finals) and finals[next_final].submit_time <= msg.submit_time:
                    remember_sender(finals[next_final].destination_e164, finals[next_final].system_id)
                    next_final += 1
                remember_sender(msg.destination_e164, msg.system_id)
            for track in tracks:
                mode = track.msg.esm_class & _ESM_MODE
                # Transaction mode: its ESME's data_sm died with us; datagram mode: its one attempt did.
                if mode == _TRANSACTION or mode == _DATAGRAM:
                    self.machine.abandon(track)
                else:
                    resume(track, returned)
            self._waits.evict_unchanged()
        for msg in finals[next_final:]:
            remember_sender(msg.destination_e164, msg.system_id)
        for e164 in returned:
            self._waits.alert(e164)

    def _id_formats(self) -> list[tuple[int, str, int, int]]:
        """``(modulus, template, length, base)`` of every message_id format of this config: the server's and
        each carrier's receipt format (see :meth:`_count_past`)."""
        out: list[tuple[int, str, int, int]] = []
        for fmt in self.config.message_id_formats():
            modulus, spec = self._ids.compiled(fmt)
            entry = (modulus, spec, len(spec % 0), 16 if spec[-1] in "xX" else 10)
            if entry not in out:
                out.append(entry)
        return out

    def _count_past(self, messages: list[Message] | list[str], formats: list[tuple[int, str, int, int]]) -> None:
        """A restart: move the id counter past the number of every stored message (or message_id) whose
        message_id (a submit_multi's ``M-n``: its ``M``) a format of this config writes, while that format has
        not wrapped (after a wrap every new id is checked against the live ones, and a final message's id is
        given again only as the least recently finalised, by design).  Final messages count too: their receipts
        may still be owed, and a new message of their id would both overwrite the old record and be named by
        the old message's receipt (tester 35).

        The counter the store keeps is one past the last number given, and before a wrap each number writes a
        new id, so with the formats unchanged nothing moves.  But a config changed between two runs on one
        store may write, for a number not given yet, the id of a message still waiting: an id written in
        decimal reads as another number in hex (tester 29: with ``server.message_id`` changed from decimal to
        hex, new ids 00000029 ... 00000040 named messages still waiting from the decimal run, and their
        records were overwritten: 12 of 40 accepted messages lost).  SMPP 3.4 section 5.2.23: an id names one
        message."""
        ids = self._ids
        highest = self._highest_stored
        for msg in messages:
            message_id = msg if type(msg) is str else msg.message_id  # type: ignore[union-attr]
            size = len(message_id)
            for modulus, spec, length, base in formats:
                if size != length and not (size > length and message_id[length] == "-"):
                    continue
                head = message_id[:length]
                if not written_by(head, modulus, spec):
                    continue
                number = int(head, base)
                if number > highest:
                    highest = number
                if number >= ids.next_number and ids.next_number < modulus:
                    ids.next_number = number + 1
        self._highest_stored = highest

    def _count_back(self, formats: list[tuple[int, str, int, int]]) -> None:
        """Once every stored id was counted (:meth:`_count_past`, with a store that lists them all): move the
        counter back to one past the highest number a stored id of this config's formats names, when it stands
        at or past the end of such a format with ids of it never given.  The counter came from a run with
        other formats: left there, a short format counted as wrapped and gave again the ids of final messages
        whose receipts were still owed, while thousands of its ids had never been used (tester 38: hex to
        decimal with 4 digits after 10,010 messages, 200 of 200 new ids).  No stored id of these formats has a
        number at or above the new counter, so none is written again before the format really wraps."""
        ids = self._ids
        top = self._highest_stored + 1
        counter = ids.next_number
        if top < counter and any(top < modulus <= counter for modulus, _, _, _ in formats):
            log.info("message_id_counter_moved_back", was=counter, now=top,
                     reason="a message_id format of this config had ids never given below the counter of the last run")
            ids.next_number = top

    def stop(self) -> None:
        """Stop timers of our own and hand what is recorded but not committed to the store.  The store is
        closed by its owner (``App.stop``)."""
        self.scheduler.cancel(self._prune_timer)
        self._prune_timer = None
        if self._started:
            self._commit(_nothing)
        self._started = False
        # What the store still hands back while it closes (a drain's read, a commit's callback) may record
        # and commit more: the store takes no commit once closing, and none is needed (a stopped SMSC
        # answers nobody; what was not committed is redone after a restart, as after a crash).
        self._store_commit = _drop_commit

    def set_gateway(self, gateway: DeliveryGateway) -> None:
        """Register who is woken when deliveries wait (the SMPP server's bind registry)."""
        self.gateway = gateway
        self.outbox.on_available = gateway.wake  # no layer between the outbox and the gateway

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
        ESME_RINVEXPIRY, ESME_RINVDSTADR, ESME_RMSGQFUL, a carrier rule's status, or ESME_RSYSERR when a
        message_id search after a wrap cannot read the store).  Datagram mode (esm_class bits 1-0 = 1):
        :meth:`_submit_datagram`."""
        now = self._now()
        if (submission.priority_flag <= 3 and not submission.replace_if_present_flag
                and not submission.schedule_delivery_time and not submission.validity_period
                # Not datagram mode (bits 1-0 = 1; 3, explicit store and forward, takes the general path too).
                # esm_class 0 is tested first: CPython specialises an int comparison, not ``&``.
                and (submission.esm_class == 0 or not submission.esm_class & 0x01)):
            destination = submission.destination
            routed = self._plain_routes.get(destination.addr)
            if routed is not None:
                known = routed[2]
                index = self.index
                if (known.ton == destination.ton and known.npi == destination.npi
                        and len(index.tracks) + index.evicted < self._max_waiting):
                    self._submit_plain(submission, routed, reply, now)
                    return
        if submission.esm_class & _ESM_MODE == _DATAGRAM:
            self._submit_datagram(submission, reply, now)
            return
        try:
            if submission.priority_flag > 3 or submission.replace_if_present_flag > 1:
                self._check_common(submission)
            if submission.schedule_delivery_time or submission.validity_period:
                schedule_time, expiry_time = self._times.times(
                    submission.schedule_delivery_time, submission.validity_period, now)
            else:
                schedule_time, expiry_time = None, now + self._default_lifetime
            track, delay = self._admit(submission, submission.destination, schedule_time, expiry_time, now)
        except Reject as reject:
            self.stats.submit_errors += 1
            self._reply_later(reply, SubmitResult(status=reject.status), reject.delay)
            return
        result = SubmitResult(message_id=track.msg.message_id)
        if delay > 0:
            self._commit(lambda: self._accepted([track], reply, result, delay))
        else:
            self._commit(lambda: self._accepted_now(track, reply, result))

    def _submit_datagram(self, submission: Submission, reply: Callable[[SubmitResult], None], now: float) -> None:
        """submit_sm / data_sm in datagram message mode (esm_class bits 1-0 = 1; SMPP 3.4 sections 2.10.2 and
        5.2.12): no storage for later attempts and no retry (SMPP 5.0 section 4.2.10.3, figure 4-3: "one
        network delivery attempt made").

        The message is checked and saved like any submit, so that the response still means "accepted" and
        query_sm and the inspection API can find it; status 0 and its message_id are replied once it is on
        disk, before its outcome (section 2.10.3, note: in datagram mode the response "just indicates that the
        message has been accepted").  Then it is attempted once, at once (:meth:`AttemptMachine.attempt_once`):
        DELIVERED or REJECTED as the attempt ends, else UNDELIVERABLE at once (an absent handset, paged or
        known absent, a temporary failure, the carrier's capacity spent now).

        "Scheduled delivery, registered delivery etc. do not apply" (section 2.10.2): the specification does
        not make them errors, so they are accepted and not acted on.  schedule_delivery_time and
        validity_period are still checked as fields (a malformed or out-of-range value gets ESME_RINVSCHED or
        ESME_RINVEXPIRY, whatever the mode), then ignored: no schedule, and the one attempt is not bounded by the
        validity.  registered_delivery is ignored: no receipt of any kind (the message's own value is 0 once
        it is final).  A carrier submit rule's status refuses it, and its delay postpones the response and the
        attempt, as for any submit.  cancel_sm and replace_sm cannot reach it (there is nothing stored to act
        on); a restart finds it abandoned (:meth:`AttemptMachine.abandon`).
        """
        try:
            self._check_common(submission)
            if submission.schedule_delivery_time or submission.validity_period:
                self._times.times(submission.schedule_delivery_time, submission.validity_period, now)
            track, delay = self._admit(submission, submission.destination, None, now + self._default_lifetime, now)
        except Reject as reject:
            self.stats.submit_errors += 1
            self._reply_later(reply, SubmitResult(status=reject.status), reject.delay)
            return
        track.phase = "datagram"  # (not cancelled, replaced or started by anyone else)
        self._admission_over(track)  # (its one attempt never waits in a carrier's queue)
        result = SubmitResult(message_id=track.msg.message_id)
        self._commit(lambda: self._accepted([track], reply, result, delay, phase="datagram"))

    def _attempt_datagram(self, track: Track) -> None:
        """The one attempt of a datagram-mode message (:meth:`_submit_datagram`); nobody waits for its outcome,
        which :meth:`AttemptMachine.attempt_once` records (its final state is committed there)."""
        self.machine.attempt_once(track, _NO_LIMIT, _datagram_done)

    def _submit_plain(
        self, submission: Submission, routed: tuple[str, Any, Address, str, int, str],
        reply: Callable[[SubmitResult], None], now: float,
    ) -> None:
        """:meth:`submit` of the common request, written out: no schedule, validity, replace_if_present or
        priority error; a destination routed before to a carrier with no submit-time rule for it; room in the
        queue.  Does exactly what :meth:`_admit` would (tests/unit/test_core_fastpaths.py compares them)."""
        e164, carrier, destination, carrier_name, modulus, spec = routed
        ids = self._ids
        number = ids.next_number
        if number < modulus:  # the format has not wrapped: no message has this id (MessageIdGenerator.take)
            ids.next_number = number + 1
            message_id = spec % number
        else:
            try:
                wrapped = self._take_id(modulus, spec)
            except Reject as reject:  # the store could not say which ids are live
                self.stats.submit_errors += 1
                reply(SubmitResult(status=reject.status))
                return
            if wrapped is None:  # every id names a message not yet final
                self.stats.submit_errors += 1
                reply(SubmitResult(status=CommandStatus.ESME_RMSGQFUL))
                return
            message_id = wrapped
        system_id = submission.system_id
        source = submission.source
        interned = self._last_source
        if (interned is None or interned.addr != source.addr or interned.ton != source.ton
                or interned.npi != source.npi):
            source_key = (source.ton, source.npi, source.addr)
            interned = self._sources.get(source_key)
            if interned is None:
                if len(self._sources) >= _INTERN_MAX:
                    self._sources.clear()
                interned = self._sources[source_key] = source
            self._last_source = interned
        short_message = submission.short_message
        if type(short_message) is bytes and len(short_message) <= 160:
            payloads = self._payloads
            known = payloads.get(short_message)
            if known is not None:
                short_message = known
            elif len(payloads) < _INTERN_MAX:
                payloads[short_message] = short_message
        msg = accepted_message(
            message_id, system_id, interned, destination, e164, carrier_name, submission.service_type,
            submission.esm_class, submission.protocol_id, submission.priority_flag,
            submission.registered_delivery & 0x1F,  # (bits 7-5 reserved: the SMPP adapter refuses them)
            submission.data_coding, short_message,
            self._kept_tlvs(submission) if submission.tlvs else _NO_TLVS,
            now, None, now + self._default_lifetime, 1, "",
        )
        index = self.index
        track = index.register_new(msg, carrier)
        stats = self.stats
        stats.waiting = len(index.tracks) + index.evicted
        last = self._last_mt  # mo.remember_sender(e164, system_id), written out
        if last.pop(e164, None) is None and len(last) >= LAST_MT_MAX:
            del last[next(iter(last))]
        last[e164] = system_id
        stats.submitted += 1
        if self._absent:
            self._carry_known_absence(msg)
        self._save_message(msg)
        # The store calls back in the order it was given: the n-th _accepted_next answers the n-th submit.
        self._accepting.append((track, reply))
        self._commit(self._accepted_next)

    def _accepted_next(self) -> None:
        """The oldest plain submit not yet answered is on disk: reply, then start delivering."""
        track, reply = self._accepting.popleft()
        msg = track.msg
        result = _new(SubmitResult)  # SubmitResult(message_id=...) without the keyword constructor
        result.status = _ROK
        result.message_id = msg.message_id
        reply(result)
        if track.phase == "new" and self.index.tracks.get(msg.message_id) is track:
            self.machine.start(track)

    def _accepted_now(self, track: Track, reply: Callable[[SubmitResult], None], result: SubmitResult) -> None:
        """A submit_sm is on disk: reply, then start delivering."""
        self._admission_over(track)
        reply(result)
        if track.phase == "new" and self.index.tracks.get(track.msg.message_id) is track:
            self.machine.start(track)

    def submit_transaction(
        self, submission: Submission, reply: Callable[[TransactionResult], None],
    ) -> str | None:
        """data_sm in transaction message mode (esm_class mode 2, SMPP 3.4 sections 2.10.3 and 5.2.12): the
        message is checked and saved like any submit, then attempted once (:meth:`AttemptMachine.attempt_once`;
        SMPP 5.0 section 4.2.10.4, figure 4-4: "one network delivery attempt made", no storage for later
        attempts), and ``reply`` gets that attempt's outcome once its final state is durable.

        Returns the accepted message's message_id, for :meth:`cut_transaction` while its outcome is awaited, or
        None when the message was refused (``reply`` then gets the refusal, at once or after a carrier rule's
        delay).

        Delivered: status 0 and the message_id.  Otherwise ESME_RDELIVERYFAILURE with delivery_failure_reason
        (SMPP 3.4 section 5.3.2.33): absent handset 0 (destination unavailable; at once, without paging, when
        the handset is known absent), undeliverable 1 (destination address invalid: unknown subscriber ...),
        rejected or read by customer service 2 (permanent network error: barred, opted out ...; the message will
        never reach the handset), temporary failure, capacity spent or no
        outcome within ``simulation.transaction_timeout`` real seconds 3 (temporary network error); plus the
        network_error_code the network gave and the cause as additional_status_info_text.  No receipt is
        sent and nothing is retried.  A carrier submit rule's delay postpones the attempt; its status refuses
        the message as for submit_sm.
        """
        now = self._now()
        try:
            self._check_common(submission)
            track, delay = self._admit(submission, submission.destination, None, now + self._default_lifetime, now)
        except Reject as reject:
            self.stats.submit_errors += 1
            self._reply_later(reply, TransactionResult(status=reject.status), reject.delay)
            return None
        track.phase = "transaction"  # (not cancelled, replaced or started by anyone else)
        self._admission_over(track)  # (its one attempt never waits in a carrier's queue)
        message_id = track.msg.message_id
        cut_why = ""  # why the wait was cut short (see cut)

        def attempt(_: Any = None) -> None:
            if self.index.tracks.get(message_id) is not track or track.phase != "transaction":
                return  # (the SMSC stopped and started again in between: resumed from the store; or cut)
            self.machine.attempt_once(track, limit, done)

        def cut(why: str) -> None:
            nonlocal cut_why
            if self.index.tracks.get(message_id) is track:
                cut_why = why
                self.machine.cut_once(track, done)
            else:  # (gone without an outcome: the SMSC stopped and started again in between)
                self._transactions.pop(message_id, None)

        def done(ended: Track, kind: str, outcome: Any) -> None:
            self._transactions.pop(message_id, None)
            msg = ended.msg
            if kind == "delivered":
                result = TransactionResult(message_id=msg.message_id)
            else:
                if kind == "timeout":
                    text = f"no delivery outcome within {limit_real:g} s"
                elif kind == "abandoned":
                    text = cut_why or kind
                else:
                    text = (getattr(outcome, "cause", "") or kind).replace("_", " ")
                # dpf_result (section 5.3.2.28) answers a set_dpf: 1 when this failure set the flag (an absent
                # handset: the machine's on_absent has just set it).  Without set_dpf the ESME assumes 0.
                dpf_result = None
                if msg.tlvs and Tag.set_dpf in msg.tlvs:
                    dpf_result = 1 if kind == "absent" and wants_dpf(msg) else 0
                result = TransactionResult(
                    status=CommandStatus.ESME_RDELIVERYFAILURE, message_id=msg.message_id,
                    delivery_failure_reason=_FAILURE_REASONS.get(kind, _TEMPORARY_NETWORK_ERROR),
                    network_error_code=msg.network_error_code, text=text, dpf_result=dpf_result,
                )
            self._commit(lambda: reply(result))

        limit_real = float(self.config.simulation.transaction_timeout)
        limit = sim_seconds_for_real(self.clock, limit_real)
        self._transactions[message_id] = cut  # (before the commit: inline, done may come within it)
        if delay > 0:
            def attempt_later() -> None:
                self.scheduler.call_after_real(self.clock.now(), sim_seconds_for_real(self.clock, delay), attempt)

            self._commit(attempt_later)
        else:
            self._commit(attempt)
        return message_id

    def cut_transaction(self, message_id: str, why: str) -> None:
        """The session that sent the transaction-mode data_sm ``message_id`` is ending (its unbind, a framing
        error, the SMSC stopping) before the one attempt's outcome is known: nobody could be told that
        outcome later, and the ESME must not wait up to ``simulation.transaction_timeout`` for its
        unbind_resp.  The attempt is abandoned now (the message ends UNDELIVERABLE, outcome "abandoned", as one
        found waiting after a restart does) and the reply of :meth:`submit_transaction` follows once that is
        durable: ESME_RDELIVERYFAILURE, delivery_failure_reason 3 (temporary network error: the ESME may
        submit it again), ``why`` as additional_status_info_text.  Nothing happens when the outcome is
        already recorded (its reply is on its way) or the id is not a transaction awaiting one."""
        cut = self._transactions.get(message_id)
        if cut is not None:
            cut(why)

    def submit_multi(
        self, submission: Submission, destinations: list[Address], dl_names: list[str],
        reply: Callable[[MultiSubmitResult], None], *, refused: dict[int, int] | None = None,
    ) -> None:
        """submit_multi (SMPP 3.4 section 4.5): each destination is validated, routed and stored on its own;
        those refused at once are listed in ``unsuccess`` with their status, in their place among the other
        SME addresses, and so are those the adapter refused already (distribution lists are not provisioned:
        each name follows the SME addresses, as TON 0 / NPI 0 with ESME_RINVDLNAME, since ``dl_names`` comes
        apart from ``destinations``; SMPP 3.4 section 4.5.2 fixes no order): ``refused`` maps their index in
        ``destinations`` to their status (a bad TON, NPI or address length: section 4.5.2 puts per-destination
        errors in unsuccess_sme).  Errors of the common fields
        refuse the whole request.  When every destination fails nothing is submitted: the answer is their
        common status, or ESME_RSUBMITFAIL when they differ, with no message_id and all of them still in
        ``unsuccess`` (the codec writes the body of an error submit_multi_resp that lists them).  A
        destination keeps its place in the message_ids, ``<id>-<n>`` for the n-th, refused ones included.  In
        datagram mode each destination is attempted once, as :meth:`_submit_datagram` describes."""
        now = self.clock.now()
        datagram = submission.esm_class & _ESM_MODE == _DATAGRAM
        try:
            self._check_common(submission)
            if not destinations and not dl_names:
                raise Reject(CommandStatus.ESME_RINVNUMDESTS)
            schedule_time, expiry_time = self._times.times(
                submission.schedule_delivery_time, submission.validity_period, now)
            if datagram:  # (checked as fields, not acted on)
                schedule_time, expiry_time = None, now + self._default_lifetime
        except Reject as reject:
            self.stats.submit_errors += 1
            self._reply_later(reply, MultiSubmitResult(status=reject.status), reject.delay)
            return
        multi_id = ""
        unsuccess: list[tuple[Address, int]] = []
        tracks: list[Track] = []
        delay = 0.0
        for index, destination in enumerate(destinations, start=1):
            if refused and index - 1 in refused:
                self.stats.submit_errors += 1
                unsuccess.append((destination, refused[index - 1]))
                continue
            try:
                track, rule_delay = self._admit(
                    submission, destination, schedule_time, expiry_time, now,
                    multi=(multi_id, index, len(destinations)),
                )
            except Reject as reject:
                self.stats.submit_errors += 1
                unsuccess.append((destination, reject.status))
                delay = max(delay, reject.delay)
                continue
            if not multi_id:
                multi_id = track.msg.multi_id
            if datagram:
                track.phase = "datagram"
                self._admission_over(track)  # (its one attempt never waits in a carrier's queue)
            tracks.append(track)
            delay = max(delay, rule_delay)
        for name in dl_names:
            self.stats.submit_errors += 1
            unsuccess.append((Address(addr=name), CommandStatus.ESME_RINVDLNAME))
        if not tracks:
            # Nothing was submitted: an error status (an ESME that reads no further must not wait for receipts),
            # with no message_id (it would name nothing query_sm could find), and the reasons still listed.
            statuses = {status for _, status in unsuccess}
            status = statuses.pop() if len(statuses) == 1 else CommandStatus.ESME_RSUBMITFAIL
            self._reply_later(reply, MultiSubmitResult(status=status, unsuccess=unsuccess), delay)
            return
        if unsuccess:
            # The receipts' "sub:" is the number of short messages originally submitted (SMPP 3.4 Appendix
            # B); a destination listed in unsuccess_sme was "unsuccessfully submitted to the SMSC" (section
            # 4.5.2, no_unsuccess), so only the accepted ones count.  Each was saved with the request's
            # destination count: saved again (the store writes the net effect once).
            for track in tracks:
                track.msg.submitted_count = len(tracks)
                self.store.save_message(track.msg)
        if not multi_id:
            try:
                new_id = self._new_id(None)
            except Reject as reject:  # the store could not say which ids are live (nothing was accepted)
                self.stats.submit_errors += 1
                reply(MultiSubmitResult(status=reject.status))
                return
            if new_id is None:  # every id names a message not yet final (nothing was accepted either)
                self.stats.submit_errors += 1
                reply(MultiSubmitResult(status=CommandStatus.ESME_RMSGQFUL))
                return
            multi_id = new_id
        result = MultiSubmitResult(message_id=multi_id, unsuccess=unsuccess)
        phase = "datagram" if datagram else "new"
        self._commit(lambda: self._accepted(tracks, reply, result, delay, phase=phase))

    def submit_refused(self) -> None:
        """A submit the adapter refused before it reached the core (a field value, the account's throughput or
        source rules): one more ``submit_errors``, as if the core had refused it."""
        self.stats.submit_errors += 1

    @staticmethod
    def _check_common(submission: Submission) -> None:
        if submission.priority_flag > 3:
            raise Reject(CommandStatus.ESME_RINVPRTFLG)
        if submission.replace_if_present_flag > 1:
            raise Reject(CommandStatus.ESME_RINVREPFLAG)

    def _admit(
        self, submission: Submission, destination: Address, schedule_time: float | None, expiry_time: float,
        now: float, multi: tuple[str, int, int] | None = None,
    ) -> tuple[Track, float]:
        """Route, apply the carrier's submit rule, the queue bound and replace_if_present, then create, register
        and save the message (not yet committed).  Returns its track and the reply delay (real seconds)."""
        key = (destination.ton, destination.npi, destination.addr)
        routed = self._routes.get(key)
        if routed is None:
            e164 = normalise(
                destination.ton, destination.npi, destination.addr,
                country_code=self._country_code, national_prefix=self._national_prefix,
            )
            if not is_valid_msisdn(e164):
                # Not a mobile number: more than 15 digits (ITU-T E.164), too short, a leading 0, letters.  The
                # HTTP API refuses such a number by the same rule; no handset can have it.  Judged once per
                # destination: the verdict is kept with the route (ESME_RINVDSTADR below).
                e164 = ""
            elif e164 == destination.addr:
                e164 = destination.addr  # one string for both
            carrier = self.router.route(e164) if e164 else None
            routed = (e164, carrier, destination, self._plain_lane(e164, carrier))
            if len(self._routes) >= _INTERN_MAX:
                self._routes.clear()
                self._plain_routes.clear()
            self._routes[key] = routed
            lane = routed[3]
            if lane is not None:
                self._plain_routes[destination.addr] = (e164, carrier, destination, *lane)
        e164, carrier, destination, _ = routed  # one Address object per destination (memory: queued messages)
        if not e164:
            raise Reject(CommandStatus.ESME_RINVDSTADR)
        if carrier is None and self._no_route_rejects:
            raise Reject(CommandStatus.ESME_RINVDSTADR)
        delay = 0.0
        if carrier is not None:
            rule = carrier.submit_rule(e164)
            if rule is not None:
                delay = max(0.0, float(rule.delay))
                if rule.status != CommandStatus.ESME_ROK:
                    raise Reject(rule.status, delay)
            limit = carrier.queue_limit
            if limit is not None and self._queued_or_admitted(carrier) >= limit:
                self.stats.congested += 1
                raise Reject(carrier.queue_full_status, delay)
        replaced: list[Track] = []
        if submission.replace_if_present_flag == 1:
            self._waits.recall_number(e164)
            replaced = self.index.replaceable(
                submission.system_id, submission.source, e164, submission.service_type)
        if not replaced and self.index.waiting >= self._max_waiting:
            raise Reject(CommandStatus.ESME_RMSGQFUL)
        fmt = carrier.receipt.message_id_format if carrier is not None else None
        if multi is None:
            new_id = self._new_id(fmt)
            if new_id is None:  # every id names a message not yet final
                raise Reject(CommandStatus.ESME_RMSGQFUL)
            message_id, multi_id, submitted = new_id, "", 1
        else:
            multi_id, index, submitted = multi
            if not multi_id:
                new_id = self._new_id(fmt)
                if new_id is None:
                    raise Reject(CommandStatus.ESME_RMSGQFUL)
                multi_id = new_id
            message_id = f"{multi_id}-{index}"
        source = submission.source
        source_key = (source.ton, source.npi, source.addr)
        interned = self._sources.get(source_key)
        if interned is None:
            if len(self._sources) >= _INTERN_MAX:
                self._sources.clear()
            interned = self._sources[source_key] = source
        short_message = submission.short_message
        if type(short_message) is bytes and len(short_message) <= 160:
            short_message = self._payloads.setdefault(short_message, short_message) \
                if len(self._payloads) < _INTERN_MAX else self._payloads.get(short_message, short_message)
        msg = accepted_message(
            message_id, submission.system_id, interned, destination, e164,
            carrier.name if carrier is not None else "", submission.service_type, submission.esm_class,
            submission.protocol_id, submission.priority_flag,
            submission.registered_delivery & 0x1F,  # (bits 7-5 reserved: the SMPP adapter refuses them)
            submission.data_coding, short_message,
            self._kept_tlvs(submission) if submission.tlvs else _NO_TLVS,
            now, schedule_time, expiry_time, submitted, multi_id,
        )
        with self.machine.one_commit():  # (messages read back together stay in memory until all are ended)
            for old in replaced:
                self.stats.replaced += 1
                self.machine.finalise(old, MessageState.DELETED, old.msg.error_code, old.msg.network_error_code,
                                      outcome="replaced")
        track = Track(msg, carrier)
        self.index.register(track)
        if carrier is not None and carrier.queue_limit is not None:  # (until its commit: see _queued_or_admitted)
            admitted = self._admitted.get(carrier.name)
            if admitted is None:
                admitted = self._admitted[carrier.name] = set()
            admitted.add(track)
        self.stats.waiting = self.index.waiting
        self.mo.remember_sender(e164, submission.system_id)
        self.stats.submitted += 1
        if self._absent:
            self._carry_known_absence(msg)
        self.store.save_message(msg)
        return track, delay

    def _carry_known_absence(self, msg: Message) -> None:
        """A priority-0 message to a handset already known absent joins its number's wait without an attempt of
        its own (:meth:`AttemptMachine._enqueue`): it carries that wait's error (err:006 and the network error
        code of an absent subscriber, err:032 of a full memory ...) from its first save on.  Should it expire
        while the server is down, the restart finds it past its validity without an attempt and without the
        wait (which lived in memory), and its receipt still says why, as the message it queued behind does.
        (Its own attempt, if it gets one, sets its error again.)"""
        if msg.priority_flag or msg.error_code:
            return
        wait = self._absent.get(msg.destination_e164)
        if wait is not None and wait.error is not None:
            msg.error_code, msg.network_error_code = wait.error

    def _new_id(self, fmt: Any) -> str | None:
        """A new message_id in ``fmt`` (None: the server's) that names no message not yet final, or None when
        every id of the format does (the caller refuses the submit with ESME_RMSGQFUL).

        Raises:
            Reject: ESME_RSYSERR, the store could not say which ids are live (after a wrap only).
        """
        modulus, spec = self._ids.compiled(fmt)
        return self._take_id(modulus, spec)

    def _take_id(self, modulus: int, spec: str) -> str | None:
        """:meth:`MessageIdGenerator.take` with ``(modulus, spec)``: before the format wraps, the next number's
        id; after, ids of messages not yet final are skipped and an id given again is first handed to
        :meth:`_id_reused`.

        When every id of the format names a message not yet final (None), that is remembered with the count of
        messages not final and of messages accepted: until a message becomes final (the count drops) or another
        is accepted, the answer is None at once.  The search asks about up to every id of the format (and the
        store about evicted ones): repeated for each refused submit of a flood it cost 5-10 ms each, with the
        loop, every other ESME and the HTTP API waiting (10,000 ids live, 2,000 refused submits: 21 s).

        Raises:
            Reject: ESME_RSYSERR, the store could not be read (a disk I/O error): this one submit is refused.
        """
        full = self._ids_full
        if full:
            seen = full.get((modulus, spec))
            if seen is not None:
                if self.index.waiting >= seen[0] and self.stats.submitted == seen[1]:
                    return None  # nothing became final and nothing was accepted since: still no free id
                del full[(modulus, spec)]
        try:
            message_id = self._ids.take(modulus, spec)
        except Exception as exc:  # the store could not be read (a disk I/O error): refuse this one submit
            log.exception("message_id_search_failed")
            raise Reject(CommandStatus.ESME_RSYSERR) from exc
        if message_id is None:
            full[(modulus, spec)] = (self.index.waiting, self.stats.submitted)
        return message_id

    def _id_reused(self, message_id: str) -> None:
        """``message_id`` is given again after a wrap (:attr:`MessageIdGenerator.reused`): it named final
        messages only, a submit_sm's or a submit_multi's (``message_id`` and its destinations ``message_id-n``).
        Those records leave the index and the store (in the batch the new message's record joins, before it),
        so every lookup (query_sm, cancel_sm, replace_sm, ``GET /api/messages/{id}``, after a restart too) finds
        the new message and nothing else: a submit_sm's id may go to a submit_multi and the other way round.
        Until that batch is committed a read of the store may still see the old records; no ESME knows the new
        id before then (its submit_sm_resp waits for the commit)."""
        members = self.index.forget_id(message_id)
        forget = self._store_forget_id
        if forget is not None:
            forget(message_id, members)

    def _live_bound(self) -> int:
        """How many numbers a wrapped id search tries: no more ids are live than messages are not final (a
        submit_multi's destinations share one id), so one more than those always holds a free id."""
        return self.index.waiting + 1

    def _ids_in_use(self, message_ids: list[str]) -> set[str]:
        """The ids among ``message_ids`` that name a message not yet final, or a submit_multi with a destination
        not yet final.  The index knows every message in memory (a final record there is the newest word, even
        before its commit); an id it does not know may be a waiting message evicted to the store, which is asked
        (by primary key) only when some are evicted.  Asked only after a wrap (:meth:`_take_id`)."""
        index = self.index
        tracks = index.tracks
        messages = index.messages
        groups = index.groups
        used: set[str] = set()
        unknown: dict[str, str] = {}  # id not in memory -> the candidate it belongs to
        for candidate in message_ids:
            names = [candidate]
            members = groups.get(candidate)
            if members:
                names.extend(members)
            for name in names:
                if name in tracks:
                    used.add(candidate)
                    break
                msg = messages.get(name)
                if msg is None:
                    unknown[name] = candidate
                elif not msg.is_final:
                    used.add(candidate)
                    break
        if unknown and index.evicted:
            live = getattr(self.store, "live_message_ids", None)
            if live is None:  # a store that cannot tell: what it may hold is taken as live
                used.update(unknown.values())
            else:
                for name in live([n for n, c in unknown.items() if c not in used]):
                    used.add(unknown[name])
        return used

    def _ids_held(self, message_ids: list[str]) -> set[str]:
        """The ids among ``message_ids`` that name a message the index holds (not final, or final and kept in
        memory for query_sm: finalised more recently than any it forgot), or a submit_multi with a destination
        it holds, or a waiting message evicted to the store (asked as :meth:`_ids_in_use` asks).  The others
        are free and were finalised longest ago: an id given again after a wrap is one of them when the
        generator finds one (:meth:`MessageIdGenerator.take_wrapped`, step 1)."""
        index = self.index
        messages = index.messages
        groups = index.groups
        used: set[str] = set()
        unknown: list[str] = []
        for candidate in message_ids:
            if candidate in messages or candidate in groups:
                used.add(candidate)
            else:
                unknown.append(candidate)
        if unknown and index.evicted:
            live = getattr(self.store, "live_message_ids", None)
            used.update(unknown if live is None else live(unknown))
        return used

    def _least_recently_final(self, modulus: int, spec: str) -> str | None:
        """The id, written with ``(modulus, spec)``, of the least recently finalised message the index holds
        whose id is free (a submit_multi's id once all its destinations are final), among the
        :data:`LEAST_RECENT_TRIES` least recently finalised; None when none is (the generator then takes any
        free id).  Step 2 of :meth:`MessageIdGenerator.take_wrapped`."""
        index = self.index
        groups = index.groups
        seen: set[str] = set()
        for msg in index.oldest_finals(LEAST_RECENT_TRIES):
            message_id = msg.multi_id or msg.message_id
            if message_id in seen or not written_by(message_id, modulus, spec):
                continue
            if not msg.multi_id and message_id not in groups:
                return message_id  # a submit_sm's id: its record, final and current, is all it names
            seen.add(message_id)
            if not self._ids_in_use([message_id]):
                return message_id
        return None

    def _plain_lane(self, e164: str, carrier: Any) -> tuple[str, int, str] | None:
        """(carrier name, message_id modulus, format spec) when submits to ``e164`` may take
        :meth:`_submit_plain`: routed to a carrier whose submit-time answer for it can never be special (no
        rule's ``submit`` and no opt-out submit status, which would depend on the number's state); else None."""
        if not e164 or carrier is None:
            return None
        plain = getattr(carrier, "accepts_plainly", None)
        if plain is None or not plain(e164):
            return None
        modulus, spec = self._ids.compiled(carrier.receipt.message_id_format)
        return carrier.name, modulus, spec

    @staticmethod
    def _kept_tlvs(submission: Submission) -> dict[int, Any]:
        """The submit's TLVs to keep with the message (message_payload is already in short_message)."""
        if not submission.tlvs:
            return {}
        tlvs = dict(submission.tlvs)
        if Tag.message_payload in tlvs and tlvs[Tag.message_payload] == submission.short_message:
            del tlvs[Tag.message_payload]
        return tlvs

    def _accepted(
        self, tracks: list[Track], reply: Callable[[Any], None], result: Any, delay: float, *, phase: str = "new",
    ) -> None:
        """The submit is on disk: reply (after the rule's delay), then start delivering: the messages still in
        ``phase`` ("new", or "datagram" for their one attempt) and still known."""
        start = self._attempt_datagram if phase == "datagram" else self.machine.resume

        def go(_: Any = None) -> None:
            for track in tracks:
                self._admission_over(track)
            reply(result)
            for track in tracks:
                if track.phase == phase and self.index.tracks.get(track.msg.message_id) is track:
                    start(track)

        if delay > 0:
            self._after_delay(delay, go, None)
        else:
            go()

    def _reply_later(self, reply: Callable[[Any], None], result: Any, delay: float) -> None:
        if delay > 0:
            self._after_delay(delay, reply, result)
        else:
            reply(result)

    def _after_delay(self, delay: float, callback: Callable[[Any], None], arg: Any) -> None:
        """``callback(arg)`` once a carrier rule's submit delay (``delay`` real seconds) is over, or at once when
        :meth:`hurry_responses` comes first."""
        if self._hurried:
            callback(arg)
            return
        key = next(self._delayed_keys)
        delayed = self._delayed

        def due(_: Any = None) -> None:
            if delayed.pop(key, None) is not None:
                callback(arg)

        timer = self.scheduler.call_after_real(self.clock.now(), sim_seconds_for_real(self.clock, delay), due)
        delayed[key] = (timer, callback, arg)

    def hurry_responses(self) -> int:
        """Send now every response a carrier rule's submit delay still holds, and hold none from now on; returns
        how many were held.  The SMPP server calls it when it stops: the ESME must learn the message_id of a
        message that is on disk (it would submit it again, and the copy after the restart would be a
        duplicate), and an error response is owed as well.  Messages accepted start their delivery as usual."""
        self._hurried = True
        held = list(self._delayed.values())
        self._delayed.clear()
        for timer, callback, arg in held:
            self.scheduler.cancel(timer)
            callback(arg)
        return len(held)

    # == query / cancel / replace =============================================================================

    def query(
        self, system_id: str, message_id: str, source: Address, reply: Callable[[QueryResult], None]
    ) -> None:
        """query_sm (SMPP 3.4 section 4.8): the message's state, final date and error code (the err: code when
        it fits the 1-octet field, else 255); ESME_RQUERYFAIL for an unknown or foreign message, or a source
        address, TON or NPI other than the original's (an empty source_addr matches any: :func:`same_source`).  For a
        submit_multi id: ENROUTE while any destination is pending, else DELIVERED if all were, else the
        first failed destination's state.  ESME_RSYSERR when the store cannot be read (a disk I/O error):
        the request fails, not the ESME's session."""
        try:
            msgs = self._lookup(system_id, message_id, source, recall=False)
        except Exception:  # reading the store failed (a disk I/O error): this request fails, not the session
            log.exception("store_read_failed", request="query_sm", message_id=message_id)
            reply(QueryResult(status=CommandStatus.ESME_RSYSERR, message_id=message_id,
                              message_state=MessageState.UNKNOWN))
            return
        if not msgs:
            # Nothing is known of it: UNKNOWN, not the dataclass default ENROUTE (which would read as "pending").
            reply(QueryResult(status=CommandStatus.ESME_RQUERYFAIL, message_id=message_id,
                              message_state=MessageState.UNKNOWN))
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
            final_date = format_absolute(utc(final_time), self._year_pivot)
        state = chosen.state if chosen.is_final else MessageState.ENROUTE
        error = chosen.error_code if chosen.error_code <= 255 else 255
        reply(QueryResult(message_id=message_id, final_date=final_date, message_state=state, error_code=error))

    def cancel(
        self, system_id: str, service_type: str, message_id: str, source: Address,
        destination: Address, reply: Callable[[int], None],
    ) -> None:
        """cancel_sm (SMPP 3.4 section 4.9).  With a message_id: that message (every pending destination of a
        submit_multi id); a destination given too must match.  Without: every pending message of this
        system_id from ``source`` to ``destination`` (and ``service_type`` when given).  Cancelled messages
        end DELETED, with a receipt if registered_delivery asks for failure receipts (SMPP 5.0 counts
        cancelled as failed).  Status 0 once durable; ESME_RCANCELFAIL when nothing pending matched (final,
        in flight, unknown, foreign, another source address, TON or NPI: :func:`same_source`); ESME_RSYSERR when the store cannot read the messages back (they keep
        waiting).

        Without a message_id the destination is required: section 4.9 cancels "all messages matching the
        source address [and] destination address", and table 4-24 lets destination_addr be NULL only when a
        message_id is given.  A request with neither is refused with ESME_RINVDSTADR (the destination is
        missing where it is required) and cancels nothing: read as "any destination" it would wipe out every
        pending message of that source."""
        tracks = self.index.tracks
        if not message_id and not destination.addr:
            reply(CommandStatus.ESME_RINVDSTADR)
            return
        try:
            if message_id:
                e164 = self._normalise(destination) if destination.addr else ""
                targets = [
                    tracks[m.message_id] for m in self._lookup(system_id, message_id, source)
                    if m.message_id in tracks and (not e164 or m.destination_e164 == e164)
                ]
            else:
                e164 = self._normalise(destination)
                self._waits.recall_number(e164)
                targets = self.index.matching_pending(system_id, service_type, source, e164)
        except Exception:  # reading evicted messages back failed (a disk I/O error): they stay waiting
            log.exception("store_read_failed", request="cancel_sm", message_id=message_id)
            reply(CommandStatus.ESME_RSYSERR)
            return
        targets = [t for t in targets if t.phase not in PHASES_NOT_RECALLABLE]
        if not targets:
            reply(CommandStatus.ESME_RCANCELFAIL)
            return
        with self.machine.one_commit():  # (targets read back together stay in memory until all are ended)
            for track in targets:
                self.machine.finalise(track, MessageState.DELETED, track.msg.error_code,
                                      track.msg.network_error_code, outcome="cancelled", receipt_durable_first=True)
            self._commit(lambda: reply(CommandStatus.ESME_ROK))

    def replace(
        self, system_id: str, message_id: str, source: Address, schedule_delivery_time: str,
        validity_period: str, registered_delivery: int, short_message: bytes,
        reply: Callable[[int], None], *, one_sms: bool = False, payload: bool = False,
    ) -> None:
        """replace_sm (SMPP 3.4 section 4.10): new text, registered_delivery and (when given) schedule and
        validity for a pending message; it keeps its message_id, its submit date becomes now (the receipt's
        "submit date" of a replaced message, Appendix B).  ESME_RREPLACEFAIL when no pending message matches
        (final, in flight, unknown, foreign, another source address, TON or NPI: :func:`same_source`);
        ESME_RINVMSGLEN for a text that does not start with the UDH its esm_class announces (as submit_sm), or,
        with ``one_sms`` (``server.oversized_short_message: reject``), a new short_message that does not fit one
        SMS in the message's data_coding (:func:`~smsc.smpp.text.fits_one_sms`, as submit_sm) or, with
        ``payload`` (the text came as message_payload), one no network could carry
        (:func:`~smsc.smpp.validate.payload_unsendable`; tester 109: a waiting part replaced by 300 septets was
        taken); with ``payload`` also one of more than 255 SMS; ESME_RINVSCHED / ESME_RINVEXPIRY for bad times, an
        empty one keeping the message's own and the two read together as submit_sm's are
        (:meth:`SubmitTimes.replace_times`); ESME_RSYSERR when the store cannot read the message back (it
        keeps waiting).  The field values the adapter checks as for submit_sm (registered_delivery,
        sm_default_msg_id: :func:`smsc.smpp.validate.check_replace`) are not checked again here."""
        tracks = self.index.tracks
        try:
            found = self._lookup(system_id, message_id, source)
        except Exception:  # reading the message back failed (a disk I/O error): it stays waiting
            log.exception("store_read_failed", request="replace_sm", message_id=message_id)
            reply(CommandStatus.ESME_RSYSERR)
            return
        targets = [tracks[m.message_id] for m in found if m.message_id in tracks]
        targets = [t for t in targets if t.phase not in PHASES_NOT_RECALLABLE]
        if not targets:
            reply(CommandStatus.ESME_RREPLACEFAIL)
            return
        now = self.clock.now()
        times: list[tuple[float | None, float]] = []
        try:
            for track in targets:
                msg = track.msg
                if msg.esm_class & EsmClass.UDHI and check_udh(short_message):
                    raise Reject(CommandStatus.ESME_RINVMSGLEN)
                if payload:
                    if (payload_too_many_parts(short_message, msg.data_coding, msg.esm_class, msg.tlvs)
                            or one_sms and payload_unsendable(short_message, msg.data_coding, msg.esm_class,
                                                              msg.tlvs)):
                        raise Reject(CommandStatus.ESME_RINVMSGLEN)
                elif one_sms and len(short_message) > 70 and not short_message_fits_one_sms(
                        short_message, msg.data_coding, msg.esm_class, msg.tlvs):
                    raise Reject(CommandStatus.ESME_RINVMSGLEN)
                times.append(self._times.replace_times(
                    schedule_delivery_time, validity_period, now, msg.schedule_time, msg.expiry_time))
        except Reject as reject:
            reply(reject.status)
            return
        for track, (schedule_time, expiry_time) in zip(targets, times):
            msg = track.msg
            self.machine.detach(track)
            msg.short_message = short_message
            if Tag.message_payload in msg.tlvs:
                msg.tlvs = {k: v for k, v in msg.tlvs.items() if k != Tag.message_payload}
            msg.registered_delivery = registered_delivery & 0x1F
            msg.submit_time = now
            self.index.in_submit_order = False  # (the listing sorts again: this message is the newest now)
            msg.schedule_time = schedule_time
            msg.expiry_time = expiry_time
            self.stats.replaced += 1
            self._save_moved(msg)
            track.phase = "new"
        self._commit(lambda: self._replaced(targets, reply))

    def _replaced(self, tracks: list[Track], reply: Callable[[int], None]) -> None:
        reply(CommandStatus.ESME_ROK)
        for track in tracks:
            if track.phase == "new" and self.index.tracks.get(track.msg.message_id) is track:
                self.machine.resume(track)

    def _lookup(self, system_id: str, message_id: str, source: Address, *, recall: bool = True) -> list[Message]:
        """:meth:`MessageIndex.lookup`, with the messages the id names that are only in the store: evicted
        waiting ones (see :mod:`smsc.core.waits`) brought back into memory when ``recall`` (to act on them);
        without ``recall`` (query_sm), stored ones read, final ones no longer in memory included."""
        index = self.index
        if not recall:
            found = index.lookup(system_id, message_id, source)
            for msg in self._peek(message_id):
                if msg.system_id == system_id and same_source(source, msg.source):
                    found.append(msg)
            return found
        if index.evicted:
            self._waits.recall_ids(index.groups.get(message_id) or [message_id], system_id)
        return index.lookup(system_id, message_id, source)

    def _multi_delivered(self, msg: Message) -> int:
        """How many destinations of ``msg``'s submit_multi are delivered, ``msg`` as it is now included: the
        ``dlvrd:`` of its receipt (SMPP 3.4 Appendix B).  The destinations are read as query_sm reads them
        (those evicted or forgotten from the store); when the store cannot be read, ``msg`` alone counts."""
        own = 1 if msg.state == MessageState.DELIVERED else 0
        try:
            others = self._lookup(msg.system_id, msg.multi_id, Address(), recall=False)
        except Exception:  # (a disk I/O error: the receipt still goes, with this destination's count)
            log.exception("store_read_failed", request="receipt dlvrd", message_id=msg.multi_id)
            return own
        seen = {msg.message_id}
        delivered = own
        for other in others:
            if other.message_id not in seen:
                seen.add(other.message_id)
                delivered += other.state == MessageState.DELIVERED
        return delivered

    def _peek(self, message_id: str) -> list[Message]:
        """The stored messages ``message_id`` names that are not in memory, read without bringing them back:
        the message itself (evicted waiting, or final and forgotten by the index), else the destinations of a
        submit_multi of that id (some or all of which may have left memory: a query_sm or an API lookup of it
        must not depend on how many messages came after it)."""
        index = self.index
        if message_id in index.groups:
            return self._waits.peek_group(message_id)
        if message_id in index.messages:
            return []
        return self._waits.peek([message_id]) or self._waits.peek_group(message_id)

    # == outbox side of the facade ============================================================================

    def take_deliveries(
        self, system_id: str, limit: int, carries: Callable[[Delivery], bool] | None = None,
    ) -> list[Delivery]:
        """Up to ``limit`` waiting deliveries (receipts, MO) for ``system_id``, now leased to the caller; those
        ``carries`` refuses are held for a caller without a test (:meth:`Outbox.take`)."""
        return self.outbox.take(system_id, limit, carries)

    def deliveries_held(self, system_id: str) -> int:
        """Deliveries of ``system_id`` waiting for a caller that can carry them (:meth:`Outbox.held`)."""
        return self.outbox.held(system_id)

    def delivery_acked(self, delivery_id: int, status: int) -> None:
        """deliver_sm_resp with ``status``: 0 done; ESME_RX_P_APPN / RX_R_APPN dropped; others retried."""
        self.outbox.acked(delivery_id, status)

    def delivery_awaits_answer(self, delivery_id: int) -> bool:
        """The deliver_sm (or data_sm) of ``delivery_id`` is out with an ESME awaiting its answer
        (:meth:`Outbox.is_leased`)."""
        return self.outbox.is_leased(delivery_id)

    def delivery_late_acked(self, delivery_id: int, status: int) -> None:
        """deliver_sm_resp with ``status`` after the response_timer, the delivery offered again meanwhile: 0 (or a
        permanent error) ends it wherever it is now (:meth:`Outbox.late_acked`)."""
        self.outbox.late_acked(delivery_id, status)

    def delivery_failed(self, delivery_id: int, *, at_once: bool = False) -> None:
        """No usable answer (generic_nack, a response of another kind): offered again after a backoff; with
        ``at_once`` (no answer at all: a timeout, a lost connection) offered again now (:meth:`Outbox.failed`)."""
        self.outbox.failed(delivery_id, at_once=at_once)

    def delivery_sent(self, delivery_id: int) -> None:
        """An alert_notification, which has no response, was written (:meth:`Outbox.sent`)."""
        self.outbox.sent(delivery_id)

    def _wake(self, system_id: str) -> None:
        if self.gateway is not None:
            self.gateway.wake(system_id)

    # == handsets and MO ======================================================================================

    def set_carrier_down(self, name: str, down: bool, seconds: float | None = None) -> None:
        """Control API: take the carrier called ``name`` down (its link to the SMSC broken: no attempts; the
        messages due for it wait, and with an ``outage.submit_status`` submits to it are refused) or bring it
        back (what waited for it is attempted at once, as its capacity allows).  Attempts under way when it
        goes down end as they would have.  ``seconds`` (simulated, with ``down``): it comes back by itself after
        that long, unless switched again before (a later switch replaces the timer: a ``down`` with no seconds
        keeps it down until brought back).  The switch is not kept across a restart: the carrier's
        ``down`` setting says how it starts.

        Raises:
            KeyError: no carrier has that name.
        """
        carrier = self.router.carriers[name]
        timer = self._outage_timers.pop(name, None)
        if timer is not None:
            self.scheduler.cancel(timer[0])
        if down and seconds is not None:
            back_at = self.clock.now() + seconds
            self._outage_timers[name] = (self.scheduler.call_at(back_at, self._outage_over, (name, seconds)), back_at)
        if carrier.down == down:
            return
        carrier.down = down
        if not down:
            self.machine.carrier_back(carrier)

    def carrier_back_at(self, name: str) -> float | None:
        """When the timed outage of the carrier called ``name`` ends (simulation seconds), or None: it is up, or
        down until it is brought back."""
        timer = self._outage_timers.get(name)
        return None if timer is None else timer[1]

    def _outage_over(self, arg: tuple[str, float]) -> None:
        """A timed outage (:meth:`set_carrier_down` with ``seconds``) is over: the carrier is back."""
        name, seconds = arg
        self._outage_timers.pop(name, None)
        waiting = self.machine.queued_for(name)
        self.set_carrier_down(name, False)
        log.info("carrier_switched", carrier=name, down=False, queued=waiting,
                 reason=f"its outage of {seconds:g} s (simulated) is over")

    def set_handset_online(self, e164: str, online: bool, seconds: float | None = None) -> None:
        """Control API: switch a handset on or off; switching it on alerts every message waiting for it now
        (as the HLR's alertServiceCentre would).  ``seconds`` (simulated): hand it back to the simulation after
        that long (:meth:`release_handset`), unless switched again before: any later switch replaces the timer
        (tester 148: a scenario's timer released a later hold of the control API).

        Raises:
            ValueError: no carrier serves ``e164``.
        """
        carrier = self.router.route(e164)
        if carrier is None:
            raise ValueError(f"no carrier serves {e164!r}")
        self._drop_handset_timer(e164)
        if seconds is not None:
            ends = self.clock.now() + seconds
            self._handset_timers[e164] = (self.scheduler.call_at(ends, self._handset_over, (e164, seconds)), ends)
        carrier.handsets.set_online(e164, online, self.clock.now())
        if online:
            self._handset_back(e164)

    def release_handset(self, e164: str) -> None:
        """Control API: hand the handset of ``e164`` back to its number rule or the carrier's random on/off model
        (:meth:`HandsetPool.clear_override`), ending a :meth:`set_handset_online` switch.  When that finds it
        online, every message waiting for it is alerted now, as for a switch on.

        Raises:
            ValueError: no carrier serves ``e164``.
        """
        carrier = self.router.route(e164)
        if carrier is None:
            raise ValueError(f"no carrier serves {e164!r}")
        self._drop_handset_timer(e164)
        handsets = carrier.handsets
        handsets.clear_override(e164)
        if handsets.is_online(e164, self.clock.now()):
            self._handset_back(e164)

    def handset_switch_ends_at(self, e164: str) -> float | None:
        """When the timed switch of ``e164``'s handset (:meth:`set_handset_online` with ``seconds``) hands it back
        to the simulation (simulation seconds), or None: not switched, or switched until switched back."""
        timer = self._handset_timers.get(e164)
        return None if timer is None else timer[1]

    def _drop_handset_timer(self, e164: str) -> None:
        timer = self._handset_timers.pop(e164, None)
        if timer is not None:
            self.scheduler.cancel(timer[0])

    def _handset_over(self, arg: tuple[str, float]) -> None:
        """A timed switch (:meth:`set_handset_online` with ``seconds``) is over: the handset is handed back."""
        e164, seconds = arg
        self._handset_timers.pop(e164, None)
        self.release_handset(e164)
        log.info("handset_switched", number=e164, online=None,
                 reason=f"its switch of {seconds:g} s (simulated) is over")

    def _handset_back(self, e164: str) -> None:
        """The handset of ``e164`` is reachable again (switched on by the control API, or attached by an MO it
        sent): alert every message waiting for it, and the ESMEs that set a Delivery Pending Flag for it
        (alert_notification), as the HLR's alertServiceCentre would."""
        if e164 in self._waits.absent:
            self._waits.alert(e164)
        self.dpf.available(e164)

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
        return self.mo.inject_mo(source, destination, text=text, payload=payload, data_coding=data_coding)

    def mo_target(self, source: str, destination: str) -> str:
        """The system_id :meth:`inject_mo` would give an MO from ``source`` to ``destination``; "" when it
        would be kept unrouted (no ESME would ever receive it)."""
        return self.mo.target(source, destination)

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once everything recorded so far is on disk (at once with the memory store):
        what an API answer that reports a change (an MO taken, an opt-out) waits for, so that a crash right
        after the answer cannot undo it."""
        self._commit(callback)

    def queued_for_carrier(self, name: str) -> int:
        """Messages waiting for the carrier called ``name`` now, for its capacity or its return while it is down (0
        for one that never queued)."""
        return self.machine.queued_for(name)

    def time_refusal_reason(self, schedule: str, validity: str, status: int) -> str | None:
        """Why a submit's ``schedule`` / ``validity`` got ``status`` (ESME_RINVSCHED or ESME_RINVEXPIRY), read
        against the simulated clock now (:meth:`SubmitTimes.explain`); None when nothing in them explains it."""
        return self._times.explain(schedule, validity, self._now(), status)

    def submit_rule_reason(self, destination: Address, status: int) -> str | None:
        """Why submit_sm to ``destination`` gets ``status`` when a rule of its carrier says so: a number rule's
        ``submit: {status: ...}``, the carrier's ``opt_out.submit_status`` for an opted-out number, its
        ``outage.submit_status`` while it is down, or its ``queue_full_status`` while its queue holds
        ``queue_limit`` messages; None when
        no rule answers it with that status (for the refusal log: tester 81 read "not a mobile number ... or a
        number rule" for 447700900912's ESME_RINVDSTADR)."""
        e164 = self._normalise(destination)
        if e164 and not is_valid_msisdn(e164):
            e164 = ""
        carrier = self.router.route(e164) if e164 else None
        if carrier is None and e164 and status == CommandStatus.ESME_RINVDSTADR:
            # (tester 156: "not a mobile number ... or no route" left the operator to find which)
            return (f"destination {e164}: no route (no carrier's prefixes and no topology.routes entry cover it; "
                    f"topology.no_route is reject)")
        rule = carrier.submit_rule(e164) if carrier is not None else None
        if rule is None or rule.status != status:
            return self._congestion_reason(carrier, status)
        name = getattr(carrier, "name", "?")
        if getattr(carrier, "down", False) and getattr(carrier, "outage_status", None) == status:
            return f"carrier {name} is down, and its outage.submit_status answers every submit to it so"
        number_rule = carrier.handsets.rule_for(e164)  # type: ignore[union-attr]
        if number_rule is not None and number_rule.submit is rule:
            return f"destination {e164} has a number rule of carrier {name} (submit: status) that answers it so"
        return f"destination {e164} has opted out, and carrier {name}'s opt_out.submit_status answers it so"

    def _queued_or_admitted(self, carrier: Any) -> int:
        """The length ``carrier``'s queue is about to have: the messages waiting for it
        (:meth:`AttemptMachine.queued_for`), plus those accepted for it whose commit (and a rule's submit delay)
        has not come yet and that will join the queue then: all of them while the carrier is down or its queue
        holds any, else those its capacity's tokens now will not cover (none without a capacity limit).  So a
        pipelining ESME does not pass the ``queue_limit`` by all it sends within a commit (tester 143: a limit
        of 3 let 1,709 of 3,000 submits in with the SQLite store), nor is it refused while the queue stays empty
        (tester 145: a carrier of 2,000 attempts/s with a limit of 100 refused two thirds of a 600/s load)."""
        queued = self.machine.queued_for(carrier.name)
        admitted = self._admitted.get(carrier.name)
        coming = len(admitted) if admitted else 0
        if not coming or carrier.down or queued:
            return queued + coming
        tokens = self.machine.tokens_for(carrier)
        return queued if tokens == math.inf else queued + max(0, coming - int(tokens))

    def _admission_over(self, track: Track) -> None:
        """``track``'s submit is on disk (and answered), or it never queues (datagram and transaction modes): it
        no longer counts in :meth:`_queued_or_admitted` (again: idempotent)."""
        carrier = track.carrier
        if carrier is not None and carrier.queue_limit is not None:
            admitted = self._admitted.get(carrier.name)
            if admitted:
                admitted.discard(track)

    def _congestion_reason(self, carrier: Any, status: int) -> str | None:
        """Why a submit routed to ``carrier`` gets ``status`` when its queue holds its ``queue_limit``, else None."""
        limit = getattr(carrier, "queue_limit", None)
        if limit is None or status != carrier.queue_full_status:
            return None
        queued = self._queued_or_admitted(carrier)
        if queued < limit:
            return None
        if getattr(carrier, "down", False):  # (tester 144: it read "congested ... its capacity" while down)
            return (f"carrier {carrier.name} is down: {queued} messages wait for its return, its queue_limit is "
                    f"{limit}")
        capacity = f" of {carrier.capacity:g} attempts/s" if carrier.capacity else ""
        return (f"carrier {carrier.name} is congested: {queued} messages wait for its capacity{capacity}, its "
                f"queue_limit is {limit}")

    # == internals =============================================================================================

    def _normalise(self, address: Address) -> str:
        return normalise(address.ton, address.npi, address.addr, country_code=self._country_code,
                         national_prefix=self._national_prefix)

    def _backlog(self) -> int:
        """What holds a drain back (:data:`~smsc.core.waits.DRAIN_BACKLOG`): deliveries waiting for ESMEs
        that can take them (:meth:`Outbox.backlog`: not those owed to a system_id with no receiver bound, when
        the store keeps them on disk), plus attempts under way or queued (each will make a receipt).

        While the simulated clock jumps (``Scheduler.jump_target`` set) only the attempts count: no delivery
        reaches an ESME in the simulated time a jump skips, so counting them held the drain of every number whose
        handset came back until the jump's end, and its messages expired online (tester 165: 747 of 4,020 with
        SQLite).  What the drain makes meanwhile waits in the outbox, which spills it to disk beyond its memory
        bound with a store that can."""
        stats = self.stats
        if self.scheduler.jump_target is not None:
            return stats.in_flight + stats.queued
        gateway = self.gateway
        return (self.outbox.backlog(gateway.has_receiver if gateway is not None else None)
                + stats.in_flight + stats.queued)

    def _alert_owed(self) -> None:
        """An alert is about to be queued: from now on the adapter looks for alerts among deliveries."""
        self.may_owe_alerts = True

    def _handsets_of(self, e164: str) -> Any:
        """The handset pool of the carrier serving ``e164``, or None."""
        carrier = self.router.route(e164)
        return carrier.handsets if carrier is not None else None

    def _carrier_of(self, msg: Message) -> Any:
        carriers = getattr(self.router, "carriers", {})
        carrier = carriers.get(msg.carrier) if msg.carrier else None
        if carrier is None and msg.destination_e164:
            carrier = self.router.route(msg.destination_e164)
        return carrier

    def _prune(self, _: Any = None) -> None:
        now = self.clock.now()
        cutoff = now - self.final_retention
        self.index.prune(cutoff)
        self.store.prune_final(cutoff)
        self._commit(_nothing)
        self._prune_timer = self.scheduler.call_at(now + self._prune_interval, self._prune)

    @property
    def _prune_interval(self) -> float:
        """Simulation seconds between two prunes of final messages (:data:`PRUNE_INTERVAL`), and at least
        :data:`PRUNE_MIN_REAL` real seconds (tester 45: ``final_retention: 1ms`` pruned every 0.1 ms, an idle
        server using a whole core and making 58,000 empty commits in 6 s)."""
        return max(min(PRUNE_INTERVAL, self.final_retention / 10), sim_seconds_for_real(self.clock, PRUNE_MIN_REAL))

    def hold_commits(self) -> bool:
        """From now until :meth:`release_commits`, commits asked for are gathered into one: a batch of
        outcomes, or the requests of one read (the SMPP adapter holds them while it handles a read, so a
        read of a hundred submit_sm makes one store commit, whose callbacks then reply in order).  False
        (and nothing to release) when they are held already."""
        if self._held is not None:
            return False
        self._held = []
        return True

    def release_commits(self) -> None:
        """One commit for every commit asked for while held; their callbacks run in order once it is
        durable (each after everything recorded before it, as separate commits would)."""
        held, self._held = self._held, None
        if not held:
            return
        if len(held) == 1:
            self._commit(held[0])
            return

        def all_durable() -> None:
            for on_durable in held:
                try:
                    on_durable()
                except Exception:  # one failing callback must not keep the others (replies) from running
                    log.exception("on_durable_failed")

        self._commit(all_durable)

    def _commit(self, on_durable: Callable[[], None]) -> None:
        """Commit the store's pending batch, with the id counters when they moved since the last commit."""
        held = self._held
        if held is not None:
            held.append(on_durable)
            return
        number = self._ids.next_number
        delivery_id = self.outbox.next_delivery_id
        if number != self._saved_number or delivery_id != self._saved_delivery_id:
            self.store.save_counters(number, delivery_id)
            self._saved_number = number
            self._saved_delivery_id = delivery_id
        self._store_commit(on_durable)
        if self._waits.evictable:  # members that joined a wait leave memory once this commit is durable
            self._evict_when_durable()

    def _evict_when_durable(self) -> None:
        waits = self._waits
        batch, waits.evictable = waits.evictable, []
        self._store_commit(lambda: waits.evict(batch))

    # == inspection =============================================================================================

    def message(self, message_id: str) -> Message | None:
        """The message with this id (for a submit_multi id, its first destination still known), or None.  A
        message no longer in memory is read from the store as query_sm reads it (:meth:`_lookup`), not brought
        back: one waiting for an absent handset whose record was evicted, and a final one beyond the newest
        final messages kept in memory (``max_final_in_memory``) but not yet pruned (``final_retention``).  With
        SQLite such a message is a copy read now."""
        index = self.index
        msg = index.messages.get(message_id)
        if msg is not None:
            return msg
        members = [index.messages[m] for m in index.groups.get(message_id, ()) if m in index.messages]
        members.extend(self._peek(message_id))
        if not members:
            return None
        if len(members) == 1:
            return members[0]
        return min(members, key=lambda m: _destination_number(m.message_id))

    def messages(
        self, system_id: str | None = None, state: int | None = None, limit: int = 100, *,
        destination: str | None = None, source: str | None = None, since: float | None = None,
    ) -> list[Message]:
        """Known messages, newest first (by submit time), optionally of one system_id, one state
        (message_state value; waiting messages are ENROUTE), one destination (its E.164 number, as routed),
        one source_addr (as submitted, TON/NPI aside) and/or submitted at ``since`` or later (simulation
        seconds: a test's own messages, those since it began).  Messages waiting for absent handsets whose
        records were evicted to the store (:mod:`smsc.core.waits`) are read back for the listing: the newest
        evictions the waits remember (:data:`~smsc.core.waits.RECENT_EVICTED`), newest first, until ``limit``
        listed are newer than the next, at most :data:`EVICTED_FILTERED_MAX` reads; older ones, when the listing
        may still want them, number by number within as many reads (all of them exact only while the
        remembered ones are enough).  Final messages
        are listed only while in memory (the newest ``max_final_in_memory``): older ones still on disk are
        found by id (:meth:`message`, query_sm), not listed (a listing must not scan the store)."""
        found: list[Message] = []
        if limit <= 0:
            return found
        if not self.index.in_submit_order:  # (records read back from the store joined at the end: tester 72)
            self.index.sort_by_submit()
        for msg in reversed(self.index.messages.values()):
            if since is not None and msg.submit_time < since:
                break  # (newest first: the rest are older still)
            if system_id is not None and msg.system_id != system_id:
                continue
            if state is not None and msg.state != state:
                continue
            if destination is not None and msg.destination_e164 != destination:
                continue
            if source is not None and msg.source.addr != source:
                continue
            found.append(msg)
            if len(found) >= limit:
                break
        load = getattr(self.store, "load_messages", None)
        if (self.index.evicted and load is not None and not getattr(self.store, "records_in_memory", False)
                and (state is None or state == MessageState.ENROUTE)):
            # (A store that keeps records in memory left them in the index: the loop above found them.)
            seen = {m.message_id for m in found}
            in_memory = self.index.messages
            waits = self._waits
            # The newest evictions the waits remember, newest first, read a listing's worth at a time until the
            # listing holds ``limit`` messages newer than the next one (testers 72, 74, 78: taken number by
            # number, the newest could be left out, after a restart or when messages joined a wait out of order).
            candidates = waits.recent_evicted(number=destination)
            reads = 0
            i = 0
            while i < len(candidates) and reads < EVICTED_FILTERED_MAX:
                if len(found) >= limit and found[limit - 1].submit_time >= candidates[i][0]:
                    break
                if since is not None and candidates[i][0] < since:
                    break  # (newest first: none of the rest was submitted since)
                chunk = [mid for _, mid in candidates[i:i + limit] if mid not in seen and mid not in in_memory]
                i += limit
                if chunk:
                    reads += len(chunk)
                    self._merge_listed(found, [m for m in load(chunk) if not m.is_final], seen, limit, system_id,
                                       destination, source, since)
            if not (len(found) >= limit and found[limit - 1].submit_time > waits.recent_floor) \
                    and waits.recent_floor > -math.inf and (since is None or waits.recent_floor >= since):
                # Messages evicted before the newest the waits remember may still belong in the listing: number
                # by number, those that took one last first, within a budget of reads.
                filtered = source is not None or system_id is not None
                per_number = EVICTED_FILTERED_MAX if filtered else limit
                # (the bound ends it early; 4 x limit read only 4 numbers of 10 when the newest waiting messages
                # were spread over more: tester 82, state=ENROUTE after the remembered ones were delivered)
                budget = EVICTED_FILTERED_MAX
                ids: list[str] = []
                last = found[limit - 1].submit_time if len(found) >= limit else -math.inf
                for bound, run in waits.evicted_runs(per_number, number=destination, newer_than=last):
                    if (len(found) >= limit and found[limit - 1].submit_time >= bound) or budget <= 0:
                        break  # (what waits unread can only be newer than the listing's last: it stays as it is)
                    run = [mid for mid in run[:budget] if mid not in seen]
                    budget -= len(run)
                    ids.extend(run)
                    if len(ids) >= limit:  # (a few numbers' ids at a time, one read)
                        self._merge_listed(found, load(ids), seen, limit, system_id, destination, source, since)
                        ids = []
                if ids:
                    self._merge_listed(found, load(ids), seen, limit, system_id, destination, source, since)
        return found

    @staticmethod
    def _merge_listed(found: list[Message], messages: list[Message], seen: set[str], limit: int,
                      system_id: str | None, destination: str | None, source: str | None,
                      since: float | None = None) -> None:
        """Add to the listing ``found`` (newest first, at most ``limit``) the ``messages`` read back that match
        its filters and are not in it yet."""
        for m in messages:
            if (m.message_id not in seen and (system_id is None or m.system_id == system_id)
                    and (destination is None or m.destination_e164 == destination)
                    and (source is None or m.source.addr == source)
                    and (since is None or m.submit_time >= since)):
                seen.add(m.message_id)
                found.append(m)
        found.sort(key=lambda m: m.submit_time, reverse=True)
        del found[limit:]

    def attempt_in_progress(self, message_id: str) -> bool:
        """True when a delivery attempt of ``message_id`` is under way: the network pages its handset and the
        outcome has not come (a carrier's latency)."""
        track = self.index.tracks.get(message_id)
        return track is not None and track.phase == "inflight"

    def waiting_count(self) -> int:
        """Messages not yet in a final state."""
        return self.index.waiting

    def outbox_sizes(self) -> dict[str, int]:
        """Deliveries not yet acknowledged, per system_id (none is read back from the store for it)."""
        return self.outbox.sizes()

    def deliveries(self, system_id: str | None = None, limit: int | None = None) -> list[Delivery]:
        """Deliveries not yet acknowledged (available, leased or in backoff), oldest first; the first ``limit``
        when given (those the outbox keeps on disk only are read back, see :mod:`smsc.core.outbox`)."""
        return self.outbox.pending(system_id, limit)

    def deliveries_available(self, system_id: str) -> int:
        """How many deliveries of ``system_id`` a receiver could take now (none leased to a bind): what an
        outbind is for (:mod:`smsc.server.outbind`)."""
        return self.outbox.available(system_id)

    def deliveries_count(self, system_id: str | None = None) -> int:
        """How many deliveries are not yet acknowledged (of ``system_id`` when given)."""
        if system_id is None:
            return len(self.outbox)
        return self.outbox.sizes().get(system_id, 0)
