"""The durable outbox: deliver_sm the SMSC owes each ESME (delivery receipts and MO), per system_id, FIFO.

It also holds the alert_notification owed to an ESME (kind "alert", :mod:`smsc.core.dpf`): taken like the
others, but there is no response PDU to wait for, so the gateway reports it :meth:`Outbox.sent` once written.

Life of a :class:`~smsc.core.api.Delivery`:

1. :meth:`Outbox.add` records it in the store's pending batch.  An MO becomes *available* (and the gateway
   is woken for its system_id) once that batch is on disk: it exists nowhere else, so nothing is offered
   that a crash could lose.  A delivery receipt is available at once (``at_once``): its row goes to disk in
   the same transaction as the final state of the message it reports, so if a crash loses that
   transaction the message is still waiting on disk, is attempted again after the restart and gets a new
   receipt.  The ESME may then see a receipt twice (as after any crash before its deliver_sm_resp was
   recorded), never not at all; meanwhile the receipt leaves with the reply it follows instead of one
   commit later, and when the ESME acknowledges it before the write, its row is never written.
2. The gateway (the SMPP server's bind registry) calls :meth:`Outbox.take` when a receiver or transceiver of
   that system_id has window room: the deliveries are *leased* to it.  A bind that cannot carry some
   deliveries (an SMPP 3.3 one has no data_sm, which an address over 20 characters needs) takes with a
   ``carries`` test: those it fails are *held* (no backoff, no failure counted) for the next bind that can
   carry everything, which takes them first.
3. The gateway reports the deliver_sm_resp:

   * status 0 -> done, deleted from the store;
   * ESME_RX_P_APPN / ESME_RX_R_APPN -> the ESME refuses it for good (SMPP 3.4 section 5.1.3): deleted and
     logged, counted in ``dropped``;
   * any other error, a generic_nack (:meth:`Outbox.failed`) -> offered again after a backoff, before the
     deliveries of its queue, oldest (lowest delivery_id) first.  No answer at all (the response_timer
     expired, the connection was lost) -> the same, at once, with no backoff: the wait was the timer's, or the
     connection is gone, and whatever bind comes next gets them before the deliveries made after them, in the
     order they were made (with a backoff, an ESME that reconnected within it got those first).  Each
     delivery keeps its own count of failures and backoff, so one refused more often may come after younger
     ones.  Receipts are never dropped otherwise (issue 4).

Backoff delays are *real* seconds (they are about the ESME's connection, not the simulated network) and are
converted to simulation time with the clock, so a fast ``time_scale`` does not turn them into a busy loop.
On restart every delivery in the store is available again (leases are not persisted).

Memory (deliveries owed to an ESME that does not take them, e.g. one bound as transmitter only): with a store
that can read deliveries back off the loop (``load_deliveries_later``: SQLite), at most :data:`SPILL_AT`
available deliveries of a system_id stay in memory.  Those that come after them are *spilled*: each is kept
only as its delivery_id (8 octets, in an ``array``) once its row is durable, in the order it became available.
When a receiver takes deliveries and fewer than :data:`READ_AHEAD` are left in memory (or on their way)
beyond what it takes, the next spilled ids are read back, :data:`READ_BACK_BATCH` per read, on the store's
reader thread, and join the end of the queue: the ESME gets every delivery once, in order.  While a system_id has spilled deliveries,
every new delivery of it (a receipt too) waits for its commit and joins the spilled ids, so none passes
those before it.  A restart reads the outbox a batch at a time (``iter_deliveries``) and spills in the same
way, so it never holds the whole outbox either.  The memory store (load tests) keeps every delivery in memory:
there memory grows with what is owed.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import sys
from array import array
from collections import deque
from typing import Any, Callable, Iterable, Iterator

import structlog

from smsc.core.api import ALERT, PERMANENT_STATUSES, Delivery
from smsc.core.clock import Clock, sim_seconds_for_real
from smsc.core.scheduler import Scheduler
from smsc.core.store.base import MessageStore
from smsc.smpp.constants import CommandStatus, Tag, status_name

log = structlog.get_logger("smsc.outbox")

#: Real seconds to wait before offering a failed delivery again, by failure count (the last one repeats).
DEFAULT_BACKOFF: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)

#: Available deliveries of one system_id kept in memory (with a store that reads them back, see the module
#: docstring); those beyond leave memory once durable, keeping only their delivery_id.  A receipt costs about
#: 0.8 KB in memory, an evicted one 8 octets: 4,096 is about 3 MiB per system_id, and many times what a
#: receiver's window takes at once (so an ESME that keeps up never spills), while 100,000 receipts owed to a
#: transmitter-only ESME cost under 1 MiB of ids instead of 80 MiB of objects.
SPILL_AT = 4096
#: Spilled deliveries read back per read (one store query set and one callback each).
READ_BACK_BATCH = 1024
#: Reads are started while fewer than this many deliveries of the system_id are in memory or on their way
#: beyond what a receiver takes, so that a receiver never waits for a read: reading and decoding 1,024 rows
#: costs about 6 ms of CPU, but on the reader thread, beside a busy event loop, a read comes back after
#: 40-50 ms (it waits for the GIL after each SQLite call); with one read in flight a drain ran at 21,000
#: deliveries/s, behind what the loop sends.  Up to four reads on their way keep the reader thread busy.
READ_AHEAD = 4 * READ_BACK_BATCH
#: Spilled ids per array: a read back takes the oldest from the front run without moving the others.
_RUN = 4096

_THROTTLED = CommandStatus.ESME_RTHROTTLED
_RECEIPTED_MESSAGE_ID = Tag.receipted_message_id


class _Spill:
    """The spilled deliveries of one system_id: delivery_ids of durable rows, oldest first, in runs of
    :data:`_RUN` (``array('q')``, 8 octets each), and those being read back (``reading``, a list per read, in
    the order asked: the store calls back in that order)."""

    __slots__ = ("runs", "count", "reading", "reading_count")

    def __init__(self) -> None:
        self.runs: deque[array[int]] = deque()
        self.count = 0  #: ids in ``runs``
        self.reading: deque[list[int]] = deque()
        self.reading_count = 0  #: ids in ``reading``

    def append(self, delivery_id: int) -> None:
        runs = self.runs
        if not runs or len(runs[-1]) >= _RUN:
            runs.append(array("q"))
        runs[-1].append(delivery_id)
        self.count += 1

    def take(self, n: int) -> list[int]:
        """Remove and return the ``n`` oldest ids (all of them when fewer)."""
        taken: list[int] = []
        runs = self.runs
        while n > 0 and runs:
            run = runs[0]
            if len(run) <= n:
                runs.popleft()
                taken.extend(run)
                n -= len(run)
            else:
                taken.extend(run[:n])
                del run[:n]
                n = 0
        self.count -= len(taken)
        return taken

    def ids(self) -> Iterator[int]:
        """Every id, those being read back first (oldest first)."""
        return itertools.chain(itertools.chain.from_iterable(self.reading), itertools.chain.from_iterable(self.runs))

    def __len__(self) -> int:
        return self.count + self.reading_count


class OutboxStats:
    """Plain counters read by the metrics collector."""

    __slots__ = ("deliveries_queued", "deliveries_acked", "deliveries_failed", "deliveries_dropped",
                 "deliveries_spilled", "alerts_sent")

    def __init__(self) -> None:
        self.deliveries_queued = 0
        self.deliveries_acked = 0
        self.deliveries_failed = 0
        self.deliveries_dropped = 0
        self.deliveries_spilled = 0
        self.alerts_sent = 0


class Outbox:
    """Per-system_id queues of deliveries, leased to the gateway and acknowledged durably.

    Args:
        store: where deliveries are saved and deleted.
        scheduler: runs the backoff timers.
        clock: converts real backoff seconds into simulation time.
        on_available: called with a system_id whenever deliveries become available for it
            (normally ``gateway.wake``).
        commit: makes the store's pending batch durable (default ``store.commit``; the SMSC passes its own
            so that the id counters are saved in the same batch).
        backoff: real seconds before a failed delivery is offered again, by failure count.
        next_delivery_id: first delivery_id to hand out (one past the highest ever used).
        spill_at: available deliveries of a system_id kept in memory before the others are spilled (only
            with a store that has ``load_deliveries_later``; see the module docstring).
    """

    def __init__(
        self,
        store: MessageStore,
        scheduler: Scheduler,
        clock: Clock,
        *,
        on_available: Callable[[str], None] | None = None,
        commit: Callable[[Callable[[], None]], None] | None = None,
        backoff: tuple[float, ...] = DEFAULT_BACKOFF,
        next_delivery_id: int = 1,
        spill_at: int = SPILL_AT,
    ) -> None:
        if not backoff or min(backoff) < 0:
            raise ValueError(f"backoff must be non-empty seconds >= 0, got {backoff!r}")
        self._store = store
        self._scheduler = scheduler
        self._clock = clock
        self._commit = commit or store.commit
        self.on_available = on_available
        #: The store's "commits are lagging" test (:meth:`SqliteStore.commits_lagging`), None without one: while
        #: it holds, a delivery added ``at_once`` waits for its commit as any other.
        self._lagging: Callable[[], bool] | None = getattr(store, "commits_lagging", None)
        #: delivery_ids of deliveries that were to be offered at once but wait for their commit (commits lagged
        #: when they were added): until all are released, later ones wait too, so none passes them.
        self._held_back: set[int] = set()
        self.backoff = backoff
        self.next_delivery_id = next_delivery_id
        self._queues: dict[str, deque[Delivery]] = {}
        self._leased: dict[int, Delivery] = {}
        self._waiting: dict[int, Delivery] = {}  # in backoff (not yet durable ones are in _adding)
        self._failures: dict[int, int] = {}
        #: Deliveries added whose commit has not called back yet, oldest first.
        self._adding: deque[Delivery] = deque()
        #: Per system_id, deliveries a taker's ``carries`` test refused, oldest first: available to takers
        #: without a test only (see :meth:`take`).
        self._held: dict[str, deque[Delivery]] = {}
        #: Per system_id, failed deliveries whose backoff is over: a heap by delivery_id, taken before the
        #: queue (see :meth:`_requeue`).
        self._retries: dict[str, list[tuple[int, Delivery]]] = {}
        self._release_next = self._release_next  # type: ignore[method-assign]  # one bound method
        self._save_delivery = store.save_delivery
        self._delete_delivery = store.delete_delivery
        #: A store whose writes are durable as soon as they are recorded (``durable_on_write``, the memory
        #: store) needs no commit after an acknowledged delivery is deleted: nobody waits on it.  (The SMSC's
        #: commit also evicts absent-handset waiters, but every core operation that makes some commits
        #: before it returns, so none are pending when an ESME acknowledges.)
        self._commit_deletes = not getattr(store, "durable_on_write", False)
        #: Counters; any object with the five ``deliveries_*`` int attributes and ``alerts_sent`` may replace it
        #: (the SMSC puts its own stats here so that metrics see one object).
        self.stats: Any = OutboxStats()
        self._load_later: Callable[[list[int], Callable[[list[Delivery]], None]], None] | None = getattr(
            store, "load_deliveries_later", None)
        self._load_now: Callable[[list[int]], list[Delivery]] | None = getattr(store, "load_deliveries", None)
        if spill_at < 1:
            raise ValueError(f"spill_at must be at least 1, got {spill_at}")
        #: Available deliveries per system_id kept in memory (no limit with a store that cannot read back).
        self._spill_at = spill_at if self._load_later is not None else sys.maxsize
        #: system_id -> its spilled deliveries (see the module docstring); empty while every ESME keeps up.
        self._spills: dict[str, _Spill] = {}
        #: True once a restore read back an alert (kind "alert"): see ``SmscApi.may_owe_alerts``.
        self.alerts_restored = False
        #: The MO read back last by a restore (the newest owed, by delivery_id), or None: its concatenation
        #: reference is where the next long MO's numbering goes on (:meth:`MoService.continue_references`).
        self.newest_mo_restored: Delivery | None = None

    # -- adding -------------------------------------------------------------------------------------------

    def new_delivery_id(self) -> int:
        """A fresh delivery_id (unique across restarts once the counter is saved)."""
        delivery_id = self.next_delivery_id
        self.next_delivery_id = delivery_id + 1
        return delivery_id

    def add(self, delivery: Delivery, *, at_once: bool = False) -> None:
        """Save ``delivery``; it is offered to the gateway once the store has made it durable, or at once
        with ``at_once``: only for a delivery the SMSC makes again if a crash loses it (a receipt recorded
        in the same commit as its message's new state; see the module docstring), and not while the store's
        commits lag (a stall: a crash then would lose the state the receipt reports, and the repeated attempt
        after a restart might end otherwise) or the simulated clock jumps, nor while those held back so still
        wait for theirs (it would pass them).  An MO waiting for its commit may be passed."""
        self.stats.deliveries_queued += 1
        self._save_delivery(delivery)
        lagging = self._lagging
        # (while the simulated clock jumps, receipts wait for their commit too: a jump makes minutes of them in
        # less than the 50 ms that tell a lag, and with the writer stopped all went out with no state on disk,
        # to be sent again after a crash: tester 168)
        if at_once and not self._held_back and (
                lagging is None or not (self._scheduler.jump_target is not None or lagging())):
            system_id = delivery.system_id
            queue = self._queues.get(system_id)
            if queue is None:
                queue = self._queues[system_id] = deque()
            elif len(queue) >= self._spill_at or self._spills and system_id in self._spills:
                # Owed beyond what stays in memory: spilled once durable, behind those before it.
                self._adding.append(delivery)
                self._commit(self._release_next)
                return
            queue.append(delivery)
            self._commit(_nothing)  # (what the message's new state waits for: the row goes with it)
            on_available = self.on_available
            if on_available is not None:
                on_available(system_id)
            return
        if at_once:
            self._held_back.add(delivery.delivery_id)
        # The store calls back in the order it was given: the n-th _release_next releases the n-th delivery
        # added (one shared bound method instead of a closure per delivery).
        self._adding.append(delivery)
        self._commit(self._release_next)

    def restore(self, deliveries: list[Delivery]) -> None:
        """Make deliveries read back from the store available at once (start of a restarted SMSC)."""
        self.restore_batches((deliveries,))

    def restore_batches(self, batches: Iterable[list[Delivery]]) -> None:
        """Make the deliveries read back from the store available, a batch at a time, in order (start of a
        restarted SMSC, ``store.iter_deliveries``): beyond :data:`SPILL_AT` of a system_id only their
        delivery_ids are kept (their rows are on disk as read), so a restart never holds the whole outbox."""
        woken: dict[str, None] = {}
        queues = self._queues
        spills = self._spills
        spill_at = self._spill_at
        for deliveries in batches:
            for delivery in deliveries:
                system_id = delivery.system_id
                spill = spills.get(system_id)
                if spill is None:
                    queue = queues.get(system_id)
                    if queue is None:
                        queue = queues[system_id] = deque()
                    if len(queue) < spill_at:
                        queue.append(delivery)
                    else:
                        spill = spills[system_id] = _Spill()
                if spill is not None:
                    spill.append(delivery.delivery_id)
                    self.stats.deliveries_spilled += 1
                woken[system_id] = None
                if delivery.delivery_id >= self.next_delivery_id:
                    self.next_delivery_id = delivery.delivery_id + 1
                if delivery.kind == ALERT:
                    self.alerts_restored = True
                elif delivery.kind == "mo":
                    newest = self.newest_mo_restored
                    if newest is None or delivery.delivery_id > newest.delivery_id:
                        self.newest_mo_restored = delivery
        for system_id in woken:
            self._wake(system_id)

    def _release_next(self) -> None:
        """The oldest delivery added and not yet released is durable: it becomes available."""
        delivery = self._adding.popleft()
        if self._held_back:
            self._held_back.discard(delivery.delivery_id)
        system_id = delivery.system_id
        queue = self._queues.get(system_id)
        if queue is None:
            queue = self._queues[system_id] = deque()
            queue.append(delivery)
        elif len(queue) >= self._spill_at or self._spills and system_id in self._spills:
            spill = self._spills.get(system_id)
            if spill is None:
                spill = self._spills[system_id] = _Spill()
            spill.append(delivery.delivery_id)  # its row is durable: the record leaves memory
            self.stats.deliveries_spilled += 1
        else:
            queue.append(delivery)
        on_available = self.on_available
        if on_available is not None:
            on_available(system_id)

    def _wake(self, system_id: str) -> None:
        if self.on_available is not None:
            self.on_available(system_id)

    # -- gateway side -------------------------------------------------------------------------------------

    def take(
        self, system_id: str, limit: int, carries: Callable[[Delivery], bool] | None = None,
    ) -> list[Delivery]:
        """Up to ``limit`` available deliveries for ``system_id``, oldest first, now leased to the caller.

        ``carries``: what this taker can send (None: everything).  A delivery it cannot is *held* instead of
        leased (no backoff: it is not this delivery that failed) until a taker without a test takes it, before
        any other (an SMPP 3.3 bind has no data_sm, SMPP 3.4 section 4.7; a 3.4 bind of the same system_id
        can send it).  :meth:`held` says how many wait so.

        Spilled deliveries (see the module docstring) are read back as this takes them: a read may still be on
        its way when fewer than ``limit`` are returned; the gateway is woken when it is back.
        """
        if self._spills and limit > 0:
            spill = self._spills.get(system_id)
            if spill is not None:
                self._read_more(system_id, spill, limit)
        if carries is not None:
            return self._take_carried(system_id, limit, carries)
        if self._held and limit > 0:
            held = self._held.get(system_id)
            if held:
                return self._take_held(system_id, held, limit)
        if self._retries and limit > 0:
            retries = self._retries.get(system_id)
            if retries:
                return self._take_retried(system_id, retries, limit, None)
        queue = self._queues.get(system_id)
        if not queue or limit <= 0:
            return []
        leased = self._leased
        if len(queue) <= limit:
            taken = list(queue)
            queue.clear()
        else:
            popleft = queue.popleft
            taken = [popleft() for _ in range(limit)]
        for delivery in taken:
            leased[delivery.delivery_id] = delivery
        return taken

    def _take_held(self, system_id: str, held: deque[Delivery], limit: int) -> list[Delivery]:
        """:meth:`take` without a test while deliveries are held for ``system_id``: those first."""
        taken: list[Delivery] = []
        while held and len(taken) < limit:
            taken.append(held.popleft())
        if not held:
            del self._held[system_id]
        leased = self._leased
        for delivery in taken:
            leased[delivery.delivery_id] = delivery
        if len(taken) < limit:
            taken.extend(self.take(system_id, limit - len(taken)))
        return taken

    def _take_carried(self, system_id: str, limit: int, carries: Callable[[Delivery], bool]) -> list[Delivery]:
        """:meth:`take` for a taker that cannot carry every delivery: each one it cannot is moved to the held
        ones as it comes up (looked at once, however often such a taker asks)."""
        if self._retries and limit > 0:
            retries = self._retries.get(system_id)
            if retries:
                return self._take_retried(system_id, retries, limit, carries)
        queue = self._queues.get(system_id)
        taken: list[Delivery] = []
        if not queue or limit <= 0:
            return taken
        leased = self._leased
        while queue and len(taken) < limit:
            delivery = queue.popleft()
            if carries(delivery):
                leased[delivery.delivery_id] = delivery
                taken.append(delivery)
            else:
                self._hold(system_id, delivery)
        return taken

    def _hold(self, system_id: str, delivery: Delivery) -> None:
        """A taker's ``carries`` test refused ``delivery``: keep it for a taker without one."""
        held = self._held.get(system_id)
        if held is None:
            held = self._held[system_id] = deque()
        held.append(delivery)
        log.info("delivery_held", delivery_id=delivery.delivery_id, kind=delivery.kind, system_id=system_id)

    def _take_retried(self, system_id: str, retries: list[tuple[int, Delivery]], limit: int,
                      carries: Callable[[Delivery], bool] | None) -> list[Delivery]:
        """:meth:`take` while failed deliveries of ``system_id`` are back from their backoff: those first,
        lowest delivery_id first, then the queue."""
        taken: list[Delivery] = []
        leased = self._leased
        while retries and len(taken) < limit:
            delivery = heapq.heappop(retries)[1]
            if carries is None or carries(delivery):
                leased[delivery.delivery_id] = delivery
                taken.append(delivery)
            else:
                self._hold(system_id, delivery)
        if not retries:
            del self._retries[system_id]
            if len(taken) < limit:
                taken.extend(self.take(system_id, limit - len(taken), carries))
        return taken

    def _read_more(self, system_id: str, spill: _Spill, limit: int) -> None:
        """Read back the next spilled deliveries of ``system_id``, :data:`READ_BACK_BATCH` per read, while fewer
        than :data:`READ_AHEAD` would be left in memory or on their way after a take of ``limit``; end the
        spill once none is left."""
        if not spill.count:
            if not spill.reading:
                self._end_spill(system_id, spill)
            return
        queue = self._queues.get(system_id)
        ahead = (len(queue) if queue is not None else 0) - limit + spill.reading_count
        load_later = self._load_later
        assert load_later is not None  # (a store without it never spills)
        while ahead < READ_AHEAD and spill.count:
            ids = spill.take(READ_BACK_BATCH)
            spill.reading.append(ids)
            spill.reading_count += len(ids)
            ahead += len(ids)
            load_later(ids, functools.partial(self._read_back, system_id, spill, ids))  # (may call back now)

    def _read_back(self, system_id: str, spill: _Spill, ids: list[int], deliveries: list[Delivery]) -> None:
        """Spilled deliveries are read back: they join the end of their queue (nothing newer is in it: new
        deliveries of a spilled system_id are spilled too), in the order they were spilled (the store calls
        back in the order asked)."""
        asked = spill.reading.popleft()
        assert asked is ids, "read backs come back in the order asked"
        spill.reading_count -= len(ids)
        if len(deliveries) != len(ids):  # a row the writer could not write (logged then), or a damaged one
            log.error("delivery_read_back_missing", system_id=system_id, asked=len(ids), found=len(deliveries))
        queue = self._queues.get(system_id)
        if queue is None:
            queue = self._queues[system_id] = deque()
        queue.extend(deliveries)
        if not spill.count and not spill.reading:
            self._end_spill(system_id, spill)
        self._wake(system_id)

    def _end_spill(self, system_id: str, spill: _Spill) -> None:
        """Every spilled delivery of ``system_id`` is back in memory: new ones join its queue directly again,
        unless some were added before and still wait for their commit (they are spilled, and would follow the
        new ones).  Once per spill: a scan of what waits for a commit."""
        if self._spills.get(system_id) is spill and not any(d.system_id == system_id for d in self._adding):
            del self._spills[system_id]

    def held(self, system_id: str) -> int:
        """Deliveries of ``system_id`` a taker could not carry, waiting for one that can (see :meth:`take`)."""
        held = self._held.get(system_id)
        return len(held) if held else 0

    def is_leased(self, delivery_id: int) -> bool:
        """True while delivery ``delivery_id`` is out with an ESME awaiting its answer: False once that answer,
        or a late answer to an earlier copy (:meth:`late_acked`), has ended it."""
        return delivery_id in self._leased

    def acked(self, delivery_id: int, status: int) -> bool:
        """The ESME answered deliver_sm_resp with ``status``; False if the delivery was not leased.  An error
        is retried after a backoff, except ESME_RTHROTTLED: offered again at once, as the ESME's bind pauses
        (``smsc.server.protocol.THROTTLED_PAUSE``) and another bind may take it (its backoff of 1, 2, 5 ... 60 s
        left an ESME that throttled to 20 a second with 120 of 200 receipts after 75 s: tester 42)."""
        if status and status not in PERMANENT_STATUSES:
            return self.failed(delivery_id, at_once=status == _THROTTLED)
        delivery = self._leased.pop(delivery_id, None)
        if delivery is None:
            return False
        if self._failures:
            self._failures.pop(delivery_id, None)
        if not status:
            self.stats.deliveries_acked += 1
        else:
            self.stats.deliveries_dropped += 1
            # What the receipt or MO was about, so that the line can be traced (tester 113: an id alone, which then
            # left /api/deliveries): the receipted message_id of a receipt, and both addresses.
            log.warning(
                "delivery_dropped", delivery_id=delivery_id, kind=delivery.kind, system_id=delivery.system_id,
                status=status_name(status), message_id=delivery.tlvs.get(_RECEIPTED_MESSAGE_ID),
                source_addr=delivery.source.addr, destination_addr=delivery.destination.addr,
            )
        self._delete_delivery(delivery_id)
        if self._commit_deletes:
            self._commit(_nothing)
        return True

    def late_acked(self, delivery_id: int, status: int) -> bool:
        """The ESME answered a deliver_sm after its response_timer, with ``status``: the delivery was offered
        again meanwhile (:meth:`failed`).  Status 0 (or a permanent error, as :meth:`acked` takes it) ends it
        wherever it is now: waiting out its backoff, back in its queue, or leased again (the answer to that
        copy, when it comes, finds nothing to do).  A temporary error changes nothing: the copy offered again
        stands.  False when the delivery is no longer pending."""
        if status and status not in PERMANENT_STATUSES:
            return False
        delivery = self._leased.pop(delivery_id, None) or self._waiting.pop(delivery_id, None)
        if delivery is None:
            for retries in self._retries.values():
                for i, (queued_id, queued) in enumerate(retries):
                    if queued_id == delivery_id:
                        delivery = queued
                        retries[i] = retries[-1]
                        retries.pop()
                        heapq.heapify(retries)
                        break
                if delivery is not None:
                    break
        if delivery is None:
            return False
        self._leased[delivery_id] = delivery
        return self.acked(delivery_id, status)

    def sent(self, delivery_id: int) -> bool:
        """A leased delivery that has no response PDU (alert_notification, SMPP 3.4 section 4.12) was written
        to its ESME: done, deleted from the store, counted in ``alerts_sent``; False if it was not leased."""
        delivery = self._leased.pop(delivery_id, None)
        if delivery is None:
            return False
        self.stats.alerts_sent += 1
        self._delete_delivery(delivery_id)
        if self._commit_deletes:
            self._commit(_nothing)
        return True

    def failed(self, delivery_id: int, *, at_once: bool = False) -> bool:
        """No usable answer: offer the delivery again after a backoff, or now with ``at_once`` (no answer at
        all, or ESME_RTHROTTLED: see the module docstring); False if it was not leased.

        Only the failures that take a backoff move it along the backoff schedule: an answer of ESME_RTHROTTLED, a
        response timer or a lost connection says nothing of whether the ESME can take the delivery (tester 90: a
        receipt throttled three times then answered ESME_RX_T_APPN waited 10 s, the fourth step, not 1 s)."""
        delivery = self._leased.pop(delivery_id, None)
        if delivery is None:
            return False
        self.stats.deliveries_failed += 1
        self._waiting[delivery_id] = delivery
        if at_once:
            self._requeue(delivery)
            return True
        failures = self._failures.get(delivery_id, 0) + 1
        self._failures[delivery_id] = failures
        delay = self.backoff[min(failures, len(self.backoff)) - 1]
        self._scheduler.call_after_real(self._clock.now(), sim_seconds_for_real(self._clock, delay), self._requeue,
                                        delivery)
        return True

    def _requeue(self, delivery: Delivery) -> None:
        """``delivery``'s backoff is over: it is offered again before its queue, among the other deliveries back
        from a backoff by delivery_id.  (Put back at the queue's front one at a time, a burst of failures, such
        as every deliver_sm of a dropped connection, came back newest first.)"""
        if self._waiting.pop(delivery.delivery_id, None) is None:
            return
        system_id = delivery.system_id
        retries = self._retries.get(system_id)
        if retries is None:
            retries = self._retries[system_id] = []
        heapq.heappush(retries, (delivery.delivery_id, delivery))
        self._wake(system_id)

    # -- inspection ---------------------------------------------------------------------------------------

    def available(self, system_id: str) -> int:
        """How many deliveries could be taken for ``system_id`` right now (held and spilled ones included)."""
        queue = self._queues.get(system_id)
        spill = self._spills.get(system_id)
        retries = self._retries.get(system_id)
        return ((len(queue) if queue else 0) + self.held(system_id) + (len(spill) if spill else 0)
                + (len(retries) if retries else 0))

    def in_memory(self) -> int:
        """Delivery records the outbox holds in memory (spilled ones are ids only, not counted)."""
        return (sum(len(q) for q in self._queues.values()) + sum(len(q) for q in self._held.values())
                + sum(len(r) for r in self._retries.values())
                + len(self._leased) + len(self._waiting) + len(self._adding))

    def spilled(self, system_id: str | None = None) -> int:
        """Deliveries kept only as their delivery_id (see the module docstring), of ``system_id`` or all."""
        if system_id is not None:
            spill = self._spills.get(system_id)
            return len(spill) if spill else 0
        return sum(len(s) for s in self._spills.values())

    def pending(self, system_id: str | None = None, limit: int | None = None) -> list[Delivery]:
        """Deliveries not yet acknowledged (available, leased, in backoff or not yet durable), by id; the first
        ``limit`` of them when given.  Spilled ones are read from the store (only those listed, when
        ``limit`` is given)."""
        found: dict[int, Delivery] = {}
        for queues in (self._queues, self._held):
            for queue in queues.values():
                for delivery in queue:
                    found[delivery.delivery_id] = delivery
        for retries in self._retries.values():
            found.update(retries)
        found.update(self._leased)
        found.update(self._waiting)
        for delivery in self._adding:
            found[delivery.delivery_id] = delivery
        if system_id is not None:
            found = {k: d for k, d in found.items() if d.system_id == system_id}
        spills = [s for k, s in self._spills.items() if system_id is None or k == system_id]
        if spills and self._load_now is not None:
            spilled = itertools.chain.from_iterable(s.ids() for s in spills)
            if limit is None:
                wanted = list(spilled)
            else:
                first = heapq.nsmallest(limit, itertools.chain(found, spilled))
                wanted = [k for k in first if k not in found]
            for delivery in self._load_now(wanted):
                found[delivery.delivery_id] = delivery
        keys = sorted(found)
        if limit is not None:
            del keys[limit:]
        return [found[k] for k in keys]

    @property
    def spill_limit(self) -> int | None:
        """Available deliveries of one system_id kept in memory before the next are spilled (see the module
        docstring), or None when this outbox keeps every delivery in memory (a store that cannot read them
        back)."""
        return self._spill_at if self._load_later is not None else None

    def backlog(self, has_taker: Callable[[str], bool] | None = None) -> int:
        """Deliveries not yet acknowledged that should hold back what makes more of them (the drain of messages
        that waited for absent handsets, :mod:`smsc.core.waits`): every one, except, with a store that reads
        deliveries back, those available to a system_id no taker is there for (``has_taker(system_id)``
        False: no receiver bound).  Those cannot move however long a drain waits, so counting them made one
        ESME without a receiver, owed more than the drain's bound, stop every other ESME's drain too; and they
        cost no memory as they grow: beyond :data:`SPILL_AT` per system_id they are spilled (an id each,
        on disk).  Without such a store (the memory store) every delivery stays in memory, and all count.
        ``has_taker`` None: every system_id has one."""
        n = len(self)
        if has_taker is None or self._load_later is None:
            return n
        for system_id in self._queues.keys() | self._spills.keys() | self._held.keys() | self._retries.keys():
            if not has_taker(system_id):
                n -= self.available(system_id)
        return n

    def sizes(self) -> dict[str, int]:
        """Deliveries not yet acknowledged per system_id (spilled ones included), without reading any back."""
        sizes: dict[str, int] = {}
        for queues in (self._queues, self._held, self._spills, self._retries):
            for system_id, queue in queues.items():
                if len(queue):
                    sizes[system_id] = sizes.get(system_id, 0) + len(queue)
        for delivery in itertools.chain(self._leased.values(), self._waiting.values(), self._adding):
            sizes[delivery.system_id] = sizes.get(delivery.system_id, 0) + 1
        return sizes

    def __len__(self) -> int:
        """Deliveries not yet acknowledged (spilled ones included)."""
        n = self.in_memory()
        if self._spills:
            n += sum(len(s) for s in self._spills.values())
        return n


def _nothing() -> None:
    return None
