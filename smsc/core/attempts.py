"""The delivery machine: from an accepted message to its final state, attempt by attempt.

After the submit is on disk the message waits for its schedule_delivery_time, then for its carrier's capacity
(a token bucket in simulation time; the queue is ordered by priority_flag, then submit time), then is
*attempted*: the carrier draws an outcome that arrives after its latency.  Outcomes:

* delivered -> DELIVERED (then the handset's auto-replies);
* absent -> the message waits for the handset's alert (:mod:`smsc.core.waits`: one timer per number, records
  of waiting messages kept on disk, draining at the pace ESMEs take receipts);
* temporary -> retried on the carrier's retry schedule;
* undeliverable -> UNDELIVERABLE; rejected -> REJECTED; end of the validity period -> EXPIRED.

Each attempt is recorded on the :class:`~smsc.core.message.Message`; every state change is saved to the store
and committed; receipts follow registered_delivery (:mod:`smsc.core.receipts`).  Everything runs on the
event-loop thread, driven by the :class:`~smsc.core.scheduler.Scheduler`.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import random
from contextlib import contextmanager
from itertools import count
from typing import Any, Callable, Iterator

import structlog

from smsc.config import outcome_for
from smsc.core.carrier import AttemptOutcome
from smsc.core.clock import Clock
from smsc.core.draws import KeyedDraws
from smsc.core.ids import IdPacker
from smsc.core.message import Message, new_attempt
from smsc.core.mo import MoService
from smsc.core.receipts import Receipts, wants_receipt
from smsc.core.scheduler import Scheduler
from smsc.core.stats import SmscStats
from smsc.core.store.base import MessageStore
from smsc.core.tracks import CarrierQueue, MessageIndex, NumberWait, Track
from smsc.core.waits import AbsentWaits
from smsc.smpp.constants import MessageState, RegisteredDelivery

log = structlog.get_logger("smsc.core")

#: err: code of the UNDELIV receipt when ``topology.no_route`` is "undeliverable" and no route matched
#: (MAP unknownSubscriber: the network has no such number; carrier-behaviour.md 1.2).
NO_ROUTE_ERR = 1
#: Shortest retry delay, simulation seconds: a zero delay with a zero latency would spin.
MIN_DELAY = 1.0
#: Numbers with an outcome still to come that :meth:`AttemptMachine._in_turn` remembers before it forgets the
#: ones whose outcome came (a bound on its memory, not on the numbers served).
BUSY_NUMBERS_MAX = 65_536

_DELIVERED = MessageState.DELIVERED
#: What paging a handset known absent would find (MAP absentSubscriberSM): a transaction-mode message to it
#: fails at once.
_ABSENT = outcome_for("absent_subscriber")
#: The most messages a carrier's queue hands to attempts in one loop turn (one back after an outage may hold many).
_DRAIN_TURN = 1000
_INTERMEDIATE = int(RegisteredDelivery.INTERMEDIATE)
_FINAL_BY_KIND = {
    "delivered": MessageState.DELIVERED,
    "undeliverable": MessageState.UNDELIVERABLE,
    "rejected": MessageState.REJECTED,
    "accepted": MessageState.ACCEPTED,
}


def _nothing() -> None:
    return None


class AttemptMachine:
    """Moves waiting messages through their phases (see :class:`~smsc.core.tracks.Track`) to a final state.

    Args:
        index: the message index (waiting messages are unregistered from it when final).
        store: where every state change is saved.
        commit: makes the store's pending batch durable (the SMSC's, which also saves the id counters).
        receipts: queues receipts.
        mo: runs auto-replies after a delivery.
        scheduler, clock, rng, stats: the world's timers, time, chance and counters.
        retry_schedule: seconds before each retry of a temporary failure when the carrier has none.
        carrier_of: the carrier of a message read back from the store.
        backlog: deliveries waiting for ESMEs that can take them now (a draining number pauses above a
            bound; see :meth:`Smsc._backlog <smsc.core.smsc.Smsc._backlog>`).
        packer: writes the ids of messages waiting on disk compactly (the server's default id format).
        spill_limit: the outbox's :attr:`~smsc.core.outbox.Outbox.spill_limit` (a drain stays below it).
    """

    def __init__(
        self, index: MessageIndex, store: MessageStore, commit: Callable[[Callable[[], None]], None],
        receipts: Receipts, mo: MoService, scheduler: Scheduler, clock: Clock, rng: random.Random,
        stats: SmscStats, retry_schedule: tuple[float, ...], *,
        carrier_of: Callable[[Message], Any], backlog: Callable[[], int], packer: IdPacker | None = None,
        spill_limit: int | None = None,
        hold_commits: Callable[[], bool] = lambda: False, release_commits: Callable[[], None] = lambda: None,
    ) -> None:
        self.index = index
        self.store = store
        self._commit = commit
        self.receipts = receipts
        self.mo = mo
        self.scheduler = scheduler
        self.clock = clock
        self.rng = rng
        #: With ``simulation.seed``: each attempt's draws keyed to its message and index (set by the SMSC
        #: facade); None: every attempt draws from ``rng`` in event order.
        self.keyed: KeyedDraws | None = None
        self.stats = stats
        self.retry_schedule = retry_schedule
        #: Messages waiting for absent handsets (alerts, expiry, eviction to the store, draining).
        self.waits = AbsentWaits(
            index, store, scheduler, clock, carrier_of, self._attempt_alerted, self._expire_all, backlog, packer,
            spill_limit=spill_limit,
        )
        #: One bound method, so that outcomes of one instant share a batched scheduler entry.
        self._outcome_due = self._on_outcomes_due
        self._last_attempt = new_attempt(-1.0, "", 0)
        self._first_time_delivered = [self._last_attempt]
        self._save_message = store.save_message
        self._hold_commits = hold_commits
        self._release_commits = release_commits
        self._now = clock.now
        #: Destination number -> when the outcome of the last attempt to it comes (simulation seconds), for the
        #: numbers with one still to come (:meth:`_in_turn`).
        self._busy_until: dict[str, float] = {}
        #: The size at which :meth:`_in_turn` next forgets the numbers whose outcome came.
        self._busy_prune_at = BUSY_NUMBERS_MAX
        self._carrier_queues: dict[str, CarrierQueue] = {}
        self._queue_seq = count()
        #: Called with (message, time its handset is back or None) when a message that carries TLVs finds its
        #: handset absent, attempted or not (the Delivery Pending Flags of set_dpf, :mod:`smsc.core.dpf`).
        self.on_absent: Callable[[Message, float | None], Any] | None = None

    @property
    def absent(self) -> dict[str, NumberWait]:
        """Numbers whose handset was found absent -> the messages waiting for its alert."""
        return self.waits.absent

    @contextmanager
    def one_commit(self) -> Iterator[None]:
        """Commits asked for inside the block are made as one when it ends (each callback still runs after
        its own records are durable, in order).  A loop that ends several waiting messages read back from the
        store together needs it: with a store whose commit is durable at once (memory, inline SQLite), a
        commit between two of them would evict the others from memory again (:meth:`AbsentWaits.evict`)
        before the loop reached them."""
        held = self._hold_commits()
        try:
            yield
        finally:
            if held:
                self._release_commits()

    def alert(self, e164: str) -> None:
        """The handset of ``e164`` is reachable again: attempt every message waiting for it."""
        self.waits.alert(e164)

    def _attempt_alerted(self, tracks: list[Track]) -> None:
        """Messages whose handset is back (read back from the store, or waiting in memory), in the order given:
        each leaves its wait (``gen`` changes) and is handled as ``_enqueue(track, alerted=True)`` would, with one
        clock reading for them all (they are attempted together).

        A drain attempts a thousand at a time: :meth:`_attempt` is written out here for a carrier without a
        capacity limit (the per-message calls were a tenth of the loop's time in a drain); ``tests/unit``
        compares the outcome with the general path.
        """
        now = self._now()
        rng: Any = self.rng
        keyed = self.keyed
        stats = self.stats
        call_at_batched = self.scheduler.call_at_batched
        outcome_due = self._outcome_due
        for track in tracks:
            track.gen += 1
            carrier = track.carrier
            if getattr(carrier, "capacity", None) or getattr(carrier, "down", False):
                self._enqueue(track, alerted=True)
                continue
            msg = track.msg
            if now >= msg.expiry_time:
                self.expire(track)
                continue
            if keyed is not None:
                rng = keyed.attempt(msg.message_id, len(msg.attempts))
            outcome = carrier.attempt(msg.destination_e164, now, rng)
            stats.attempts += 1
            stats.in_flight += 1
            track.phase = "inflight"
            gen = track.gen = track.gen + 1
            track.timer = None
            latency = outcome.latency
            due = now + latency if latency > 0.0 else now  # (a NaN latency counts as 0, as in _attempt)
            if latency > 0.0 or self._busy_until:
                due = self._in_turn(msg.destination_e164, due, now)
            call_at_batched(due, outcome_due, (track, gen, outcome, now), due_now=due <= now)

    # -- entering the machine -------------------------------------------------------------------------------

    def resume(self, track: Track, returned: dict[str, None] | None = None) -> None:
        """Put a waiting message into the phase its record says: scheduled, retry wait, waiting for its
        handset, or due for an attempt now.  Used after accept, replace_sm and restart.

        ``returned`` (a restart): a message that waited for its handset, which is reachable now, joins a wait
        for it all the same, and its number is added to ``returned``: the caller alerts those numbers once
        every waiting message is resumed, so that the handset gets its queue in the order an alert gives
        (best priority first, then submit order) instead of the order the store hands the messages back in."""
        msg = track.msg
        now = self.clock.now()
        if now >= msg.expiry_time:
            self.expire(track)
            return
        if track.carrier is None:
            self.finalise(track, MessageState.UNDELIVERABLE, NO_ROUTE_ERR, None, outcome="undeliverable")
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
            e164 = msg.destination_e164
            if not handsets.is_online(e164, now):
                online_at = handsets.next_online(e164, now)
                self._wait_absent(track, online_at)
                if msg.tlvs and self.on_absent is not None:  # (its flag again, after a restart)
                    self.on_absent(msg, online_at)
                return
            if returned is not None:
                self.waits.wait_absent(track, None)
                returned[e164] = None
                return
        self._enqueue(track, alerted=False)

    def start(self, track: Track) -> None:
        """A just-accepted message is on disk: :meth:`resume`, with the common case (due now, a carrier
        without a capacity limit, no handset known absent) attempted here without the layers between."""
        msg = track.msg
        carrier = track.carrier
        now = self._now()
        if (carrier is None or now >= msg.expiry_time or carrier.capacity or carrier.down or self.waits.absent
                or self.waits.draining or msg.schedule_time is not None or msg.next_attempt_time is not None
                or msg.attempts):
            self.resume(track)
            return
        keyed = self.keyed
        outcome = carrier.attempt(msg.destination_e164, now,
                                  self.rng if keyed is None else keyed.attempt(msg.message_id, 0))
        stats = self.stats
        stats.attempts += 1
        stats.in_flight += 1
        track.phase = "inflight"
        gen = track.gen = track.gen + 1
        latency = outcome.latency
        due = now + latency if latency > 0.0 else now  # (a NaN latency counts as 0, as max(0.0, nan) did)
        if latency > 0.0 or self._busy_until:
            due = self._in_turn(msg.destination_e164, due, now)
        self.scheduler.call_at_batched(due, self._outcome_due, (track, gen, outcome, now), due_now=due <= now)

    def _in_turn(self, e164: str, due: float, now: float) -> float:
        """When the outcome of an attempt to ``e164`` made at ``now`` comes, its latency drawn for ``due``: not
        before the outcome of the attempt made before it to that number.  A handset takes one message at a time
        (the network delivers to one subscriber in turn), so messages reach it in the order they were attempted
        (best priority first, then submit order, when it comes back: :mod:`smsc.core.waits`), not in the order
        of their latency draws (tester 31: six messages that waited for a handset reached it as 1, 0, 3, 2, 5,
        4).  Simulation seconds.  Only numbers with an outcome still to come are remembered, so the common
        zero-latency attempt never gets here while nothing is under way."""
        busy = self._busy_until
        last = busy.get(e164)
        if last is not None and last > due:
            due = last
        if due > now:
            if last is None and len(busy) >= self._busy_prune_at:
                self._busy_until = busy = {k: v for k, v in busy.items() if v > now}
                # Next time at twice what is left: with more numbers than that awaiting an outcome (long
                # latencies under load) each new number rebuilt the whole map (tester 35: 55,000 submit_sm/s
                # fell to 300-500 past 65,536 numbers).
                self._busy_prune_at = max(BUSY_NUMBERS_MAX, 2 * len(busy))
            busy[e164] = due
        elif last is not None:
            del busy[e164]
        return due

    def _wait_absent(self, track: Track, online_at: float | None) -> None:
        """``track``'s attempt found its handset absent: it waits for the alert, and its error (absent
        subscriber, memory full ...) becomes the number's, for the messages that join without an attempt."""
        self.waits.wait_absent(track, online_at)
        msg = track.msg
        wait = self.waits.absent.get(msg.destination_e164)
        if wait is not None and msg.error_code:
            wait.error = (msg.error_code, msg.network_error_code)

    def _set_timer(self, track: Track, phase: str, when: float, callback: Callable[[Any], None]) -> None:
        track.phase = phase
        track.gen += 1
        track.timer = self.scheduler.call_at(when, callback, (track, track.gen))

    def _on_due(self, arg: tuple[Track, int]) -> None:
        """Schedule time reached, retry time reached, or validity ended while waiting (for the handset, or for the
        carrier's capacity: its queue entry goes stale and is dropped when the queue reaches it)."""
        track, gen = arg
        if track.gen != gen:
            return
        track.timer = None
        msg = track.msg
        if self.clock.now() >= msg.expiry_time:
            self.expire(track)
            return
        if track.phase == "retry":
            msg.next_attempt_time = None
        self._enqueue(track, alerted=False)

    def _enqueue(self, track: Track, *, alerted: bool) -> None:
        """Attempt now, or wait for the carrier's capacity.  A priority-0 message to a handset already known
        absent joins the messages waiting for its alert without an attempt (the HLR's message-waiting flag;
        GSM lets priority messages try anyway); any message to a number that drains waits for its turn behind
        the older ones (:meth:`~smsc.core.waits.AbsentWaits.join_if_waiting`)."""
        msg = track.msg
        waits = self.waits
        if not alerted and (waits.absent or waits.draining) and waits.join_if_waiting(track):
            if msg.tlvs and self.on_absent is not None and track.phase == "absent":  # (not a draining number)
                wait = waits.absent.get(msg.destination_e164)
                self.on_absent(msg, wait.online_at if wait is not None else None)
            return
        carrier = track.carrier
        capacity = getattr(carrier, "capacity", None)
        down = getattr(carrier, "down", False)
        if not capacity and not down:
            self._attempt(track)
            return
        now = self.clock.now()
        queue = self._queue_of(carrier, now)
        if not down and not queue.heap and queue.bucket.take(now):
            self._attempt(track)
            return
        # Its validity may end while it waits for the carrier: its timer expires it then (_on_due), without an
        # attempt slot (an expired message never reaches the network), not when its turn comes (tester 26: EXPIRED
        # receipts up to 8 s late behind a carrier of 2 attempts/s, and live messages waiting behind expired ones).
        self._set_timer(track, "queued", msg.expiry_time, self._on_due)
        heapq.heappush(queue.heap, (-msg.priority_flag, msg.submit_time, next(self._queue_seq), track.gen, track))
        queue.live += 1
        self.stats.queued += 1
        if queue.timer is None and not down:
            queue.timer = self.scheduler.call_at(now + max(queue.bucket.wait_time(now), 1e-6), self._drain, queue)

    def _queue_of(self, carrier: Any, now: float) -> CarrierQueue:
        """The queue of messages waiting for ``carrier`` (its capacity, or its return while it is down), made on
        first use; a carrier without a capacity limit gets one whose bucket never runs dry."""
        queue = self._carrier_queues.get(carrier.name)
        if queue is None:
            capacity = getattr(carrier, "capacity", None)
            queue = self._carrier_queues[carrier.name] = CarrierQueue(float(capacity) if capacity else math.inf, now)
            queue.carrier = carrier
        return queue

    def carrier_back(self, carrier: Any) -> None:
        """``carrier`` is up again (it was taken down): the messages held for it are attempted, as its capacity
        allows, oldest of the best priority first."""
        queue = self._carrier_queues.get(carrier.name)
        if queue is not None and queue.heap and queue.timer is None:
            queue.timer = self.scheduler.call_at(self.clock.now(), self._drain, queue)

    def tokens_for(self, carrier: Any) -> float:
        """Attempts ``carrier``'s capacity allows now without waiting: its bucket's tokens (a full bucket for one
        that never queued; infinite without a capacity limit)."""
        capacity = getattr(carrier, "capacity", None)
        if not capacity:
            return math.inf
        queue = self._carrier_queues.get(carrier.name)
        return max(1.0, float(capacity)) if queue is None else queue.bucket.available(self.clock.now())

    def queued_for(self, carrier_name: str) -> int:
        """Messages waiting for the carrier named ``carrier_name`` now, for its capacity or for its return while
        it is down (0 for a carrier that never had to queue)."""
        queue = self._carrier_queues.get(carrier_name)
        return 0 if queue is None else queue.live

    def _drain(self, queue: CarrierQueue) -> None:
        queue.timer = None
        if getattr(queue.carrier, "down", False):  # (taken down since: :meth:`carrier_back` drains it)
            return
        now = self.clock.now()
        heap = queue.heap
        turn = _DRAIN_TURN
        while heap:
            if turn == 0:  # (a carrier back after a long outage: the rest in later loop turns)
                queue.timer = self.scheduler.call_at(now, self._drain, queue)
                return
            turn -= 1
            _, _, _, gen, track = heap[0]
            if track.gen != gen or track.phase != "queued":
                heapq.heappop(heap)
                continue
            if not queue.bucket.take(now):
                break
            heapq.heappop(heap)
            queue.live -= 1
            self.stats.queued -= 1
            if track.timer is not None:  # its expiry timer (_enqueue)
                self.scheduler.cancel(track.timer)
                track.timer = None
            self._attempt(track)
        if heap:
            queue.timer = self.scheduler.call_at(now + max(queue.bucket.wait_time(now), 1e-6), self._drain, queue)

    # -- attempts and their outcomes ------------------------------------------------------------------------

    def _draws(self, msg: Message) -> Any:
        """What the next attempt of ``msg`` draws its chance from: the keyed draws of (message_id, attempts made
        so far) when the world is seeded, else the shared ``rng``."""
        keyed = self.keyed
        return self.rng if keyed is None else keyed.attempt(msg.message_id, len(msg.attempts))

    def _attempt(self, track: Track) -> None:
        msg = track.msg
        now = self.clock.now()
        if now >= msg.expiry_time:
            self.expire(track)
            return
        outcome = track.carrier.attempt(msg.destination_e164, now, self._draws(msg))
        stats = self.stats
        stats.attempts += 1
        stats.in_flight += 1
        track.phase = "inflight"
        gen = track.gen = track.gen + 1
        latency = outcome.latency
        # Outcomes of one instant (and zero-latency ones of one read) share a heap entry; nothing cancels an
        # attempt under way (it is not recallable), and a stale one is recognised by its gen.
        track.timer = None
        due = now + latency if latency > 0.0 else now  # (a NaN latency counts as 0, as max(0.0, nan) did)
        if latency > 0.0 or self._busy_until:
            due = self._in_turn(msg.destination_e164, due, now)
        self.scheduler.call_at_batched(due, self._outcome_due, (track, gen, outcome, now), due_now=due <= now)

    def _on_outcomes_due(self, items: list[tuple[Track, int, Any, float]]) -> None:
        """The outcomes of one instant's attempts, in attempt order, each (track, its gen when attempted, the
        outcome, the attempt's time); what they record is committed once, after the last (each callback still
        runs after its own records are durable, in order).

        One delivered outcome alone (every read at window 1) is handled without holding: it asks for exactly
        one commit (its receipt's, or its final state's; its auto-replies are timers), so holding would only
        add calls.  Other outcomes may make a message join a wait, which a commit before the outcome is over
        would evict from memory (:meth:`one_commit`), so they are held as in a batch."""
        if len(items) == 1 and items[0][2].kind == "delivered":
            try:
                self._on_outcome_due(items[0])
            except Exception:  # as the scheduler does for a timer of its own
                self.scheduler.errors += 1
                log.exception("timer_failed", callback=repr(self._on_outcome_due))
            return
        held = self._hold_commits()
        try:
            on_outcome_due = self._on_outcome_due
            for item in items:
                try:
                    on_outcome_due(item)
                except Exception:  # as the scheduler does for a timer of its own: the others still run
                    self.scheduler.errors += 1
                    log.exception("timer_failed", callback=repr(on_outcome_due))
        finally:
            if held:
                self._release_commits()

    def _on_outcome_due(self, arg: tuple[Track, int, Any, float]) -> None:
        track, gen, outcome, started = arg
        if track.gen != gen:
            return
        track.timer = None
        stats = self.stats
        stats.in_flight -= 1
        msg = track.msg
        now = self._now()
        if now < started:
            # A zero-latency outcome joins a batch due a moment earlier (Scheduler.call_at_batched, due_now), and a
            # scaled clock is pinned at that batch's time while it runs: at time_scale 3600 messages were delivered
            # up to 1.5 simulated seconds before they were submitted (tester 104).  An outcome is never earlier
            # than its attempt.
            now = started
        kind = outcome.kind
        err = int(outcome.err or 0)
        if kind == "delivered":
            # finalise(track, DELIVERED, 0, None, outcome=None), written out: the path of nearly every message.
            # The attempts of a final message never change: messages delivered at their first attempt at the
            # same instant share one record and one list (one object fewer per message kept for query_sm, which
            # halves what each full garbage collection walks).
            attempt = self._last_attempt
            if attempt.time != now or attempt.err != err or attempt.outcome != kind:
                attempt = self._last_attempt = new_attempt(now, kind, err)
                self._first_time_delivered = [attempt]
            if msg.attempts:
                msg.attempts.append(attempt)
            else:
                msg.attempts = self._first_time_delivered
            track.gen = gen + 1
            track.phase = "detached"
            msg.state = _DELIVERED
            msg.final_time = now
            msg.error_code = 0
            msg.network_error_code = None
            msg.next_attempt_time = None
            index = self.index
            index.finish(track)
            stats.waiting = len(index.tracks) + index.evicted
            stats.delivered += 1
            self._save_message(msg)
            wanted = msg.registered_delivery & 0x03
            carrier = track.carrier
            if wanted == 1 or wanted == 3:
                self.receipts.delivered(msg, carrier)  # commits with the delivery
            else:
                self._commit(_nothing)
            if carrier is not None and getattr(carrier, "may_auto_reply", True):
                self.mo.auto_replies(msg, carrier)
            return
        track.phase = "outcome"
        nec = outcome.network_error_code
        msg.attempts.append(new_attempt(now, kind, err))
        final_state = _FINAL_BY_KIND.get(kind)
        if final_state is not None:
            self.finalise(track, final_state, err, nec, outcome=None, at=now)  # (now: never before the attempt)
            return
        if kind not in ("absent", "temporary"):
            log.warning("unknown_outcome", kind=kind, message_id=msg.message_id)
            kind = "temporary"
        msg.error_code = err
        msg.network_error_code = nec
        online_at = outcome.online_at
        if kind == "absent":
            if self._back_during(track, started, now):
                # The handset came back while the attempt was under way: the control API's alert found nothing
                # waiting for it yet.  The message waits as any other, and its number is alerted as soon as a
                # wait can be (MIN_ALERT_DELAY on: the network's answer arrives after the handset is back); no
                # Delivery Pending Flag is set, as the handset is not absent now (an alert would follow at once).
                online_at = now
            elif msg.tlvs and self.on_absent is not None:
                self.on_absent(msg, online_at)
        if now >= msg.expiry_time:
            # The validity ended while this attempt was under way: EXPIRED when its failure came, not dated back to
            # the validity end before the attempt listed just before it, and no ENROUTE notification of a message
            # already final (tester 179: [temporary at 1.134 s, expired at 1.000 s], an ENROUTE then EXPIRED).
            self.expire(track, at=now)
            return
        failures = sum(1 for a in msg.attempts if a.outcome in ("absent", "temporary"))
        if failures == 1 and msg.registered_delivery & _INTERMEDIATE:
            self.receipts.queue(msg, track.carrier, intermediate=True)
        if kind == "absent":
            self.stats.absent += 1
            self._wait_absent(track, online_at)
        else:
            self.stats.retries += 1
            schedule = tuple(getattr(track.carrier, "retry_schedule", ()) or ()) or self.retry_schedule
            # The n-th temporary failure waits the schedule's n-th interval: a wait for an absent handset was no
            # retry (tester 76: after one, the first busy failure waited the second interval).
            retries = max(1, sum(1 for a in msg.attempts if a.outcome == "temporary"))
            next_time = now + max(MIN_DELAY, float(schedule[min(retries, len(schedule)) - 1]))
            msg.next_attempt_time = next_time
            self._set_timer(track, "retry", min(next_time, msg.expiry_time), self._on_due)
        self.store.save_message(msg)
        self._commit(_nothing)

    @staticmethod
    def _back_during(track: Track, started: float, now: float) -> bool:
        """True when an attempt of ``track`` made at ``started`` (simulation seconds) ended "absent" although the
        handset is online at ``now`` because the control API switched it on after the attempt paged it.  A
        switch at the attempt's own instant does not count: the attempt may have come after it (then the
        handset was online, and an "absent" outcome is the carrier's: a rule's, or memory full from the mix,
        waited for as usual, so never a retry loop).  The handset model needs nothing of the kind: the
        outcome's ``online_at`` already says when the handset comes back, and an alert time passed during
        the attempt fires MIN_ALERT_DELAY after the outcome."""
        handsets = getattr(track.carrier, "handsets", None)
        if handsets is None:
            return False
        e164 = track.msg.destination_e164
        return handsets.switched_on_after(e164, started) and handsets.is_online(e164, now)

    # -- transaction message mode ---------------------------------------------------------------------------

    def attempt_once(
        self, track: Track, limit: float, done: Callable[[Track, str, AttemptOutcome | None], None],
    ) -> None:
        """Transaction message mode (SMPP 3.4 section 2.10.3; SMPP 5.0 section 4.2.10.4, figure 4-4: "one network
        delivery attempt made", the response "delayed until delivery outcome is known"), and datagram mode
        (section 2.10.2; SMPP 5.0 figure 4-3: "one network delivery attempt made", no storage, no retry, no
        delivery acknowledgement): attempt the message once, now, and give it the final state of that attempt:
        DELIVERED, REJECTED, else UNDELIVERABLE (an absent handset or a temporary failure is neither waited for
        nor retried).  No receipt is queued: in transaction mode the outcome is the answer, in datagram mode
        registered delivery does not apply.

        ``done(track, kind, outcome)`` is called once the final state is recorded (its commit not yet asked
        for): ``kind`` is the outcome's kind, "absent" without an attempt when the handset is known absent
        now (the HLR's message-waiting flag: the network would not page it), "throttled" without an attempt
        when the carrier's capacity is spent now, or "timeout" when no outcome came within ``limit``
        simulation seconds (the attempt is abandoned then).  ``outcome`` is None for the last two.
        """
        msg = track.msg
        now = self._now()
        e164 = msg.destination_e164
        carrier = track.carrier
        wait = self.waits.absent.get(e164)
        if wait is not None:
            outcome: AttemptOutcome | None = AttemptOutcome(
                kind="absent", latency=0.0, err=_ABSENT.err, network_error_code=_ABSENT.network_error_code,
                online_at=wait.online_at, cause=_ABSENT.cause)
            self._end_once(track, "absent", outcome, now, attempted=False, done=done)
            return
        if getattr(carrier, "down", False):
            self._end_once(track, "carrier_down", None, now, attempted=False, done=done)
            return
        if getattr(carrier, "capacity", None):
            queue = self._queue_of(carrier, now)
            if queue.heap or not queue.bucket.take(now):
                self._end_once(track, "throttled", None, now, attempted=False, done=done)
                return
        outcome = carrier.attempt(e164, now, self._draws(msg))
        self.stats.attempts += 1
        self.stats.in_flight += 1
        track.phase = "inflight"
        gen = track.gen = track.gen + 1
        latency = max(0.0, outcome.latency)  # (a NaN latency counts as 0)
        # Two timers, the first to come ends it: the outcome, on the simulated clock, and the wait's limit, real
        # seconds a jump of the clock does not shorten (tester 161: a jump of 5 s at time_scale 0.001 ended the
        # wait of 25 real seconds, 0.025 simulated, before the outcome of an unknown subscriber 1.5 s in).
        timeout = self.scheduler.call_after_real(now, limit, self._once_due, (track, gen, None, done, now, None))
        track.timer = self.scheduler.call_at(now + latency, self._once_due,
                                             (track, gen, outcome, done, now, timeout))

    def cut_once(self, track: Track, done: Callable[[Track, str, AttemptOutcome | None], None]) -> None:
        """End a transaction-mode message's wait for its one attempt's outcome now (see
        :meth:`~smsc.core.smsc.Smsc.cut_transaction`): before the attempt (phase "transaction", a commit or a
        carrier rule's delay away) or while it is under way ("inflight", its timer dropped: the outcome the
        carrier would have given is never seen), it ends UNDELIVERABLE with outcome "abandoned" and ``done``
        is called as :meth:`attempt_once` calls it.  In any other phase the outcome is already recorded."""
        phase = track.phase
        if phase == "transaction" or phase == "inflight":
            self._end_once(track, "abandoned", None, self._now(), attempted=phase == "inflight", done=done)

    def abandon(self, track: Track) -> None:
        """A transaction-mode or datagram-mode message found waiting after a restart: the ESME's data_sm died
        with the SMSC (nobody can be answered), or the datagram's one attempt was lost with it, and these modes
        attempt nothing later (:meth:`attempt_once`), so it ends UNDELIVERABLE, outcome "abandoned", without an
        attempt or a receipt."""
        track.msg.registered_delivery = 0
        self.finalise(track, MessageState.UNDELIVERABLE, 0, None, outcome="abandoned")

    def _once_due(
        self, arg: tuple[Track, int, AttemptOutcome | None, Callable[..., None], float, list[Any] | None],
    ) -> None:
        track, gen, outcome, done, started, timeout = arg
        if track.gen != gen or track.phase != "inflight":
            return  # (the wait was cut)
        # The first of its two timers: the other goes (the outcome's is track.timer, the limit's came with it).
        self.scheduler.cancel(timeout if timeout is not None else track.timer)
        track.timer = None
        self.stats.in_flight -= 1
        track.phase = "outcome"
        if outcome is not None and outcome.kind == "absent" and self._back_during(track, started, self._now()):
            # The handset came back while the one attempt was under way: the message still fails (one attempt,
            # section 2.10.3), but a Delivery Pending Flag it sets is cleared by an alert a moment later, not
            # at the next switch (the control API's alert came before the flag).
            outcome = dataclasses.replace(outcome, online_at=self._now())
        self._end_once(track, outcome.kind if outcome is not None else "timeout", outcome, self._now(),
                       attempted=True, done=done)

    def _end_once(
        self, track: Track, kind: str, outcome: AttemptOutcome | None, now: float, *, attempted: bool,
        done: Callable[[Track, str, AttemptOutcome | None], None],
    ) -> None:
        """Record the one attempt's end (see :meth:`attempt_once`) and its final state, then ``done``."""
        msg = track.msg
        err = int(outcome.err or 0) if outcome is not None else 0
        nec = outcome.network_error_code if outcome is not None else None
        # No receipt follows: the data_sm_resp is the delivery outcome (transaction mode), or registered delivery
        # does not apply (datagram mode).
        msg.registered_delivery = 0
        if attempted:
            msg.attempts.append(new_attempt(now, kind, err))
        if kind == "absent" and msg.tlvs and self.on_absent is not None:
            self.on_absent(msg, outcome.online_at if outcome is not None else None)
        if kind == "delivered":
            self.finalise(track, _DELIVERED, 0, None, outcome=None)
        elif kind == "rejected" or kind == "accepted":
            self.finalise(track, _FINAL_BY_KIND[kind], err, nec, outcome=None)
        else:
            self.finalise(track, MessageState.UNDELIVERABLE, err, nec, outcome=None if attempted else kind)
        done(track, kind, outcome)
        if kind == "delivered" and track.carrier is not None and getattr(track.carrier, "may_auto_reply", True):
            self.mo.auto_replies(msg, track.carrier)

    # -- leaving a phase and reaching a final state ----------------------------------------------------------

    def detach(self, track: Track) -> None:
        """Take a waiting message out of whatever phase it is in (its timers and queue entries die)."""
        phase = track.phase
        if track.timer is not None:
            self.scheduler.cancel(track.timer)
            track.timer = None
        if phase == "queued":
            self.stats.queued -= 1
            queue = self._carrier_queues.get(track.carrier.name)
            if queue is not None:
                queue.live -= 1
        elif phase == "inflight":
            self.stats.in_flight -= 1
        elif phase == "absent" or phase == "held":
            self.waits.leave(track)
        track.gen += 1
        track.phase = "detached"

    def expire(self, track: Track, at: float | None = None) -> None:
        """The validity period ended: EXPIRED, with the error of the message's last attempt; one never attempted
        because its handset was known absent (it joined the number's wait: see :meth:`_enqueue`) gets the
        error of the attempt that found it absent, as the receipt's err: and network_error_code say why it
        was not delivered, as they do for the message it queued behind.  ``at``: when (simulation seconds);
        default its validity end, or now when that is earlier."""
        msg = track.msg
        err, nec = msg.error_code, msg.network_error_code
        if not err:
            waits = self.waits
            e164 = msg.destination_e164
            wait = waits.absent.get(e164)
            if wait is None:
                wait = waits.draining.get(e164)
            if wait is not None and wait.error is not None:
                err, nec = wait.error
        # It expired when its validity ended, also when that is only found out later (the server was stopped
        # then, tester 26): the receipt's done date and query_sm's final_date say so, not the restart's time.
        if at is None:
            at = min(self.clock.now(), msg.expiry_time)
        self.finalise(track, MessageState.EXPIRED, err, nec, outcome="expired", at=at)

    def _expire_all(self, tracks: list[Track]) -> None:
        """:meth:`expire` each of ``tracks`` (members of one wait read back together), one commit for all."""
        with self.one_commit():
            for track in tracks:
                self.expire(track)

    def finalise(
        self, track: Track, state: MessageState, err: int, nec: bytes | None, *, outcome: str | None,
        at: float | None = None, receipt_durable_first: bool = False,
    ) -> None:
        """Record the final state, reached at ``at`` (simulation seconds; default now), queue the receipt
        registered_delivery asks for (offered once committed with ``receipt_durable_first``: see
        :meth:`Receipts.queue <smsc.core.receipts.Receipts.queue>`), save and commit."""
        self.detach(track)
        msg = track.msg
        now = self.clock.now() if at is None else at
        if outcome is not None:
            msg.attempts.append(new_attempt(now, outcome, err))
        msg.state = state
        msg.final_time = now
        msg.error_code = err
        msg.network_error_code = nec
        msg.next_attempt_time = None
        index = self.index
        index.unregister(track)
        stats = self.stats
        stats.waiting = index.waiting
        if state is _DELIVERED:
            stats.delivered += 1
        elif state is MessageState.EXPIRED:
            stats.expired += 1
        elif state is MessageState.UNDELIVERABLE:
            stats.undeliverable += 1
        elif state is MessageState.REJECTED:
            stats.rejected += 1
        elif state is MessageState.DELETED:
            stats.deleted += 1
        elif state is MessageState.ACCEPTED:
            stats.accepted += 1
        index.retain_final(msg)
        self.store.save_message(msg)
        if wants_receipt(msg):
            self.receipts.queue(msg, track.carrier, intermediate=False,  # commits with the delivery
                                durable_first=receipt_durable_first)
        else:
            self._commit(_nothing)
