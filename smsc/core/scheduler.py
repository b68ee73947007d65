"""One heap of timers for the whole simulated world (attempts, retries, expiry, alerts, replies, backoffs).

The core never arms an asyncio timer of its own.  It calls :meth:`Scheduler.call_at` with a simulation time;
whoever drives the world (the asyncio driver in ``smsc/app.py``, or a test through ``Smsc.advance``) asks
:meth:`Scheduler.next_deadline`, waits until then and calls :meth:`Scheduler.run_due`.  When a new timer is
earlier than every other, :attr:`Scheduler.on_earlier_deadline` is told so the driver can re-arm sooner.

Many timers for one instant with the same callback (every zero-latency attempt of a loop turn) can share
one heap entry (:meth:`Scheduler.call_at_batched`): the items join the entry pushed last while nothing else was
pushed after it, so they run exactly where their own entries would have run, for one heap operation, and the
callback gets them all in one call (it can then do once what each would do: one store commit).

Cancelling is lazy: a cancelled entry stays in the heap, marked dead, until it reaches the top or until dead
entries make up more than half of the heap, when the heap is rebuilt (O(n)), so memory stays bounded by
about twice the number of live timers.
"""

from __future__ import annotations

import heapq
from itertools import count
from typing import Any, Callable

import structlog

log = structlog.get_logger("smsc.scheduler")

#: An opaque handle to one scheduled call, returned by :meth:`Scheduler.call_at`.  (It is the heap entry
#: itself, a list ``[when, seq, callback, arg]`` compared by ``(when, seq)``; do not touch it.)
TimerHandle = list

_COMPACT_MIN = 1024
#: The fifth element of a :meth:`Scheduler.call_after_real` entry (never compared: seqs are unique).
_REAL = True


class _Items(list):  # type: ignore[type-arg]
    """The items of a batched heap entry, in the order they were added."""

    __slots__ = ()


class Scheduler:
    """A min-heap of ``(when, seq, callback, arg)``; calls run in time order, ties in scheduling order.

    Exceptions raised by a callback are logged and counted in :attr:`errors`; the remaining due timers still
    run (one broken timer must not stop the world).
    """

    __slots__ = ("_heap", "_seq", "_dead", "_running", "on_earlier_deadline", "on_due_now", "errors", "fired",
                 "_last_batch", "jump_target")

    def __init__(self) -> None:
        self._heap: list[list[Any]] = []
        self._seq = count()
        self._dead = 0
        self._running = False
        #: Called with the new earliest deadline (simulation seconds) when a timer earlier than every other
        #: is added outside :meth:`run_due`.  The driver re-arms its single real timer from it.
        self.on_earlier_deadline: Callable[[float], None] | None = None
        #: Called instead of :attr:`on_earlier_deadline` when the new earliest entry is a batch due now
        #: (:meth:`call_at_batched` with ``due_now``): the driver then knows, without reading its clock, that
        #: the entry needs running as soon as possible, not a timer.  None: ``on_earlier_deadline`` is told.
        self.on_due_now: Callable[[], None] | None = None
        #: Callbacks that raised.
        self.errors = 0
        #: Callbacks run so far (a batched entry counts one per item).
        self.fired = 0
        #: The entry :meth:`call_at_batched` pushed, while it is the last entry pushed; else None.
        self._last_batch: list[Any] | None = None
        #: While the clock jumps (:meth:`shift_real`), the simulation time it jumps to; else None.
        self.jump_target: float | None = None

    def __len__(self) -> int:
        """Number of live (not cancelled, not yet run) heap entries (a batch from :meth:`call_at_batched`
        counts once)."""
        return len(self._heap) - self._dead

    def call_at(self, when: float, callback: Callable[[Any], None], arg: Any = None) -> TimerHandle:
        """Run ``callback(arg)`` once the simulation time reaches ``when`` (seconds); return its handle."""
        entry = [when, next(self._seq), callback, arg]
        self._last_batch = None
        heap = self._heap
        earlier = not heap or when < heap[0][0]
        heapq.heappush(heap, entry)
        if earlier and not self._running and self.on_earlier_deadline is not None:
            self.on_earlier_deadline(when)
        return entry

    def call_after_real(self, now: float, sim_delay: float, callback: Callable[[Any], None],
                        arg: Any = None) -> TimerHandle:
        """Run ``callback(arg)`` after a delay of real seconds, given as the ``sim_delay`` simulation seconds it
        lasts at the clock's time_scale from ``now`` (:func:`smsc.core.clock.sim_seconds_for_real`): a delay
        about the ESME's connection (a submit_sm_resp held back, a deliver_sm's backoff, the wait of a
        transaction-mode data_sm), which a jump of the simulated clock does not shorten (:meth:`shift_real`).
        Made while the clock jumps, it counts from the time jumped to.  Returns its handle."""
        target = self.jump_target
        when = (target if target is not None and target > now else now) + sim_delay
        entry = [when, next(self._seq), callback, arg, _REAL]
        self._last_batch = None
        heap = self._heap
        earlier = not heap or when < heap[0][0]
        heapq.heappush(heap, entry)
        if earlier and not self._running and self.on_earlier_deadline is not None:
            self.on_earlier_deadline(when)
        return entry

    def shift_real(self, seconds: float) -> int:
        """The simulated clock jumps ``seconds`` ahead: move every pending :meth:`call_after_real` timer as far,
        so that it still comes after its real delay (a jump of an hour must not end a 5-second submit_sm_resp
        delay, nor a transaction-mode data_sm's wait, before the outcome the jump runs: tester 161).  Returns
        how many moved."""
        moved = 0
        for entry in self._heap:
            if len(entry) == 5 and entry[2] is not None:
                entry[0] += seconds
                moved += 1
        if moved:
            heapq.heapify(self._heap)
        return moved

    def call_at_batched(self, when: float, callback: Callable[[list[Any]], None], item: Any, *,
                        due_now: bool = False) -> None:
        """Have ``item`` handled at ``when`` by ``callback(items)``, which gets a list of items and must handle
        each in order as if each had a timer of its own (and contain an item's failure: :meth:`run_due` counts
        and logs only what escapes).  There is no handle: the callback must recognise a stale item itself.

        When the entry pushed last is a batch of the same callback object (keep one bound method: each
        ``obj.method`` makes a new one) for the same ``when`` that has not run yet, ``item`` joins it: no other
        timer lies between them, so the order is the one separate entries would give.  Each item counts as one
        timer run (:attr:`fired`, the return value of :meth:`run_due`).

        ``due_now``: ``when`` is the caller's clock reading (simulation seconds), which no later :meth:`run_due`
        goes below.  With a real clock no two zero-latency attempts of one read share an instant, so the item
        also joins that batch when the batch's time is *earlier*: every run that pops it has a clock at or past
        ``when``, so no item runs before its time (a scaled clock pinned at each deadline while its timers run,
        as the app's driver pins it, reads the batch's time: the callback takes the later of that and the
        item's own time, as :meth:`~smsc.core.attempts.AttemptMachine._on_outcome_due` does).  The one difference from separate entries: the item may run
        before another timer due between the batch's time and ``when`` (both are due by then).  A new entry due now
        that is earlier than every other is reported to :attr:`on_due_now` when set (else, as any entry, to
        :attr:`on_earlier_deadline`)."""
        last = self._last_batch
        if last is not None and last[2] is callback and (last[0] <= when if due_now else last[0] == when):
            last[3].append(item)
            return
        items = _Items()
        items.append(item)
        on_due_now = self.on_due_now
        if not due_now or on_due_now is None:
            self._last_batch = self.call_at(when, callback, items)
            return
        # call_at, with the driver told "due now" (a zero-latency attempt's outcome, once per read at window 1)
        entry = [when, next(self._seq), callback, items]
        heap = self._heap
        earlier = not heap or when < heap[0][0]
        heapq.heappush(heap, entry)
        self._last_batch = entry
        if earlier and not self._running:
            on_due_now()

    def cancel(self, handle: TimerHandle | None) -> None:
        """Cancel a pending call; a handle that already ran or was cancelled (or None) is ignored."""
        if handle is None or handle[2] is None:
            return
        handle[2] = None
        handle[3] = None
        self._dead += 1
        if self._dead > _COMPACT_MIN and self._dead * 2 > len(self._heap):
            self._heap = [e for e in self._heap if e[2] is not None]
            heapq.heapify(self._heap)
            self._dead = 0

    def next_deadline(self) -> float | None:
        """The earliest live timer's time (simulation seconds), or None when nothing is scheduled."""
        heap = self._heap
        while heap and heap[0][2] is None:
            heapq.heappop(heap)
            self._dead -= 1
        return heap[0][0] if heap else None

    def run_due(self, now: float) -> int:
        """Run every timer due at or before ``now``, in order, including ones those calls schedule for
        ``<= now``; return how many ran.  ``on_earlier_deadline`` is not called meanwhile: the driver
        re-arms from :meth:`next_deadline` afterwards.
        """
        heap = self._heap
        ran = 0
        self._running = True
        try:
            while heap and heap[0][0] <= now:
                entry = heapq.heappop(heap)
                callback = entry[2]
                if callback is None:
                    self._dead -= 1
                    continue
                arg = entry[3]
                entry[2] = None
                entry[3] = None
                ran += len(arg) if type(arg) is _Items else 1
                try:
                    callback(arg)
                except Exception:
                    self.errors += 1
                    log.exception("timer_failed", callback=repr(callback))
                heap = self._heap  # cancel() may have rebuilt it
        finally:
            self._running = False
        self.fired += ran
        return ran
