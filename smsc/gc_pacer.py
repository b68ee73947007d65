"""When the cyclic garbage collector may pause a running server: rarely, and when nobody waits.

CPython finds reference cycles by walking every object a collection covers, and a collection stops the loop
while it walks.  A running SMSC keeps many long-lived objects: every message not yet final, and the newest final
ones for query_sm (three objects each: the record, its attempts list, an attempt).  They are freed by reference
counting, never by the cycle collector (a busy server's young collections found nothing to collect), yet each
young collection walked the last ones made again: at 4 binds x window 100 with receipts a pass over 50,000 young
objects stopped the loop for 5-7 ms every 0.4 s, and each one added that much to the latency of the 400 submits
in flight at the time, a few per cent of all of them: the p99.  An older generation's pass walked far more.

So, while ``smsc serve`` runs, :class:`GcPacer` (:meth:`~GcPacer.tick` about once a second):

- freezes what the last second made (``gc.freeze``: a splice of lists, no walk), so that automatic collections,
  with a young threshold of :data:`YOUNG_THRESHOLD`, do not start under any load smsc can take;
- makes one full pass (``gc.unfreeze``, ``gc.collect``, ``gc.freeze``) once the server has been idle for a whole
  tick (no connection, submit or delivery: the pause costs nobody), and at the latest every
  :data:`FULL_EVERY` seconds under load, so that the few cycles a server does make (a closed connection, an
  HTTP request) are freed within minutes.

The full pass is logged (``gc_full``: objects collected, seconds it took).  Not used by :class:`~smsc.app.App`
itself, so that tests and embedding programs keep the interpreter's own collector.
"""

from __future__ import annotations

import gc
import time
from typing import Callable

import structlog

log = structlog.get_logger("smsc.gc")

#: Seconds between two ticks (the freezes).
TICK = 1.0
#: Seconds under load after which a full pass is made anyway.
FULL_EVERY = 120.0
#: Net new container objects after which CPython starts a young collection by itself (its default: 700).  Above
#: what a second of the heaviest load makes (about 3 per message), so that only the pacer's full pass walks
#: the heap; it still bounds a burst of allocation between two ticks.
YOUNG_THRESHOLD = 500_000


class GcPacer:
    """Freeze once a tick, collect fully when idle or every ``full_every`` seconds (see the module docstring).

    ``activity`` returns a number that grows with the server's work (connections, submits, deliveries); two
    ticks that read the same number mean a tick without work.  Times are seconds of a monotonic clock, given to
    :meth:`tick` by the caller.
    """

    def __init__(self, activity: Callable[[], int], *, now: float, full_every: float = FULL_EVERY) -> None:
        self._activity = activity
        self._full_every = full_every
        self._last_activity = activity()
        self._last_full = now
        self._frozen_since_full = False  # something was frozen that no full pass has looked at
        self.full_passes = 0

    def start(self) -> None:
        """Raise the young threshold and freeze what exists (the loaded state, the modules)."""
        gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        gc.freeze()

    def tick(self, now: float) -> bool:
        """Freeze what the last tick made; make a full pass when the server was idle for the whole tick or the
        last one is ``full_every`` seconds old.  Returns True when a full pass was made."""
        activity = self._activity()
        idle = activity == self._last_activity
        self._last_activity = activity
        if (idle and self._frozen_since_full) or now - self._last_full >= self._full_every:
            self.full_pass(now)
            return True
        gc.freeze()
        if not idle:
            self._frozen_since_full = True
        return False

    def full_pass(self, now: float) -> int:
        """Collect every generation, the frozen objects included, then freeze the survivors; returns the number
        of objects found unreachable."""
        started = time.perf_counter()
        gc.unfreeze()
        try:
            collected = gc.collect()
        finally:
            gc.freeze()
        self._last_full = now
        self._frozen_since_full = False
        self.full_passes += 1
        log.info("gc_full", collected=collected, seconds=round(time.perf_counter() - started, 4))
        return collected
