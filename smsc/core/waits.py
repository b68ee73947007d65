"""Messages waiting for absent handsets: one alert timer and one expiry timer per number, records on disk.

When an attempt finds a handset absent, its message waits for the handset's alert (the HLR's
alertServiceCentre when the handset is seen again); a priority-0 message to a number already known absent
joins the wait without an attempt of its own (the HLR's message-waiting flag).  Nothing polls: one timer per
number fires when the handset model says it comes back (or the control API switches it on), and one timer per
number fires at the earliest end of validity among its messages.

Memory (issue 5: a million waiting messages under 1 GiB, not growing with the queue on SQLite): once a waiting
message's record is durable, its in-memory state is *evicted*: the core keeps only its message_id in the
number's :class:`~smsc.core.tracks.NumberWait`, with its validity end beside it (16 octets per message in
all, :class:`~smsc.core.tracks.EvictedIds`).  Records are read back with ``store.load_messages`` when the
handset comes back, when they expire (only those due: the number's expiry timer is then armed again for the
earliest validity end left), or when a request needs them (query_sm, cancel_sm, replace_sm,
replace_if_present, the inspection API).  A store without ``load_messages`` keeps everything in memory.

A restart (``Smsc.start``) reads the waiting records back a batch at a time (``store.iter_waiting``) and
resumes each batch: the members that join a wait then are evicted at once (:meth:`AbsentWaits.evict_unchanged`:
their records are on disk as read), so that after a restart the core holds what the running server held for
them (their ids, an alert timer and an expiry timer per number), and never the whole queue at once.  A message
that waited for a handset that is reachable at the restart (a control-API switch lives in the process) waits
on all the same, and its number is alerted once every batch is resumed: the handset then gets its queue in the
order below, not in the order the store hands the messages back.

Order: a handset gets its number's waiting messages best priority_flag first, then in submit order, for its
whole queue and whether or not the SMSC restarted in between.  The evicted ids of a number are kept in one
*lane* per priority_flag, each in the order its messages joined the wait (about submit order; a restart
resumes them in submit order, and replace_sm moves its message's row to the end of the store, as its submit
time becomes now), and the drain empties the lane of the best priority first.

Draining: when a handset comes back with at most :data:`ALERT_READ_BACK` evicted messages, they are read back
together and attempted with the ones waiting in memory, in that order: at once when the store reads at once,
else when ``load_messages_later`` is back, so that the alerts of one loop turn (many numbers, a few messages
each) share one read instead of a query per number.  More evicted ones are read back and attempted
:data:`DRAIN_BATCH` at a time, one batch per loop turn, pausing while more than :data:`DRAIN_BACKLOG`
deliveries wait for ESMEs that can take them, so a queue of a million turns into receipts at the pace the
ESMEs take them instead of a million receipts in memory (receipts owed to an ESME with no receiver bound do
not pause it when the store spills them to disk: they would hold every other ESME's receipts back).  Either
way the number *drains* until its last read is back.

The messages of a draining number that are in memory are *held* for their turn (phase "held"): each is
attempted with the drain batch that reads back a message of its number that comes after it in that order, or
once nothing of its number is left to read.  They are the members still in memory at the alert (they joined
after the last commit: the newest of their priority), a message a request brought back from the drain
(cancel_sm or replace_sm naming it, cancel_sm by destination: the request may still cancel or replace it), and
any message of the number that becomes due for an attempt while it drains (a new submit, a replaced message,
a retry), which would otherwise overtake the older ones of its priority still on disk.  A new or replaced one
(its submit time is now, the latest of its priority) leaves memory once durable, its id at the end of its
lane, so that a number that keeps getting messages while it drains does not keep their records in memory.

A batch takes the first evicted messages of every draining number, each number a share proportional to what
it has left (at least one), in turns: when the handsets of many numbers come back together, a batch is then
about one stretch of submit time instead of one number's queue.  Their records lie together in the store
(SQLite keeps rows in the order they were first saved), so the read of a batch and the write of its final
states touch a few pages each instead of a page per message (one number's messages lie a page apart when a
hundred numbers' were submitted together), and every handset gets its messages from the start.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from itertools import count
from operator import attrgetter
from typing import Any, Callable, Iterator

from smsc.core.clock import Clock, sim_seconds_for_real
from smsc.core.ids import IdPacker
from smsc.core.message import Message
from smsc.core.scheduler import Scheduler
from smsc.core.store.base import MessageStore
from smsc.core.tracks import MessageIndex, NumberWait, Track

#: Messages read back and attempted per step when a number drains (and at once when its handset comes back).
DRAIN_BATCH = 1024
#: Drain batches being read back from the store at one time (reads wait behind the writer's batch: several
#: keep the pipeline full).  SQLite, 100,000 waiting, `python -m bench.run drain --queue 100000 --stores sqlite
#: --repeats 1`: 4 x 512 drained 15,112 receipts/s, 16 x 1024 22,831/s (peak RSS 65 -> 78 MiB).
DRAIN_READS = 16
#: Draining pauses while more deliveries than this wait for ESMEs that can take them (receipts are made faster
#: than taken), attempts under way included: see ``backlog`` below.  Deliveries owed to a system_id with no
#: receiver bound do not count with a store that spills them to disk (``Outbox.backlog``): they cannot move,
#: and one ESME that never binds a receiver must not stop the drain for every other.  Read at each step.
#: With an outbox that spills (``spill_limit``), the bound is lower still: see :meth:`AbsentWaits._pump`.
DRAIN_BACKLOG = 20_000
#: A number with at most this many evicted messages has them all read back and attempted at its alert, in
#: exact priority order; more are drained (many numbers coming back together must not flood the outbox).
ALERT_READ_BACK = 64
#: Real seconds between two looks at the backlog while draining is paused.
DRAIN_PAUSE = 0.01
#: Simulation seconds between two looks at the backlog while draining is paused during a jump of the simulated
#: clock (``Scheduler.jump_target`` set): :data:`DRAIN_PAUSE` is next to nothing in simulated time at a slow
#: time_scale, and a jump ran a look every 10 microseconds of it, 29 million in a jump of 400 s (tester 165).
DRAIN_PAUSE_IN_JUMP = 1.0
#: Shortest delay before an alert, simulation seconds: a same-instant alert after a zero latency would spin.
MIN_ALERT_DELAY = 1.0
#: Real seconds before an expiry whose read back failed (the store raised) is tried again; in a jump of the
#: simulated clock, at the jump's end.  Simulation seconds were a busy loop at a fast clock: at time_scale 7200
#: one every 0.14 ms, and 172,800 in a jump of 48 h, each with its traceback (tester 177).
EXPIRY_RETRY = 1.0

_INF = float("inf")


def _priority_order(track: Track) -> tuple[int, float]:
    msg = track.msg
    return -msg.priority_flag, msg.submit_time


def _held_order(track: Track) -> tuple[int, float, str]:
    """The order a handset gets its number's messages in: best priority first, then submit time, then
    message_id (the ids of one format are allocated in acceptance order and sort so (fixed length), which
    orders messages accepted at the same instant: a fake or scaled clock, one read)."""
    msg = track.msg
    return -msg.priority_flag, msg.submit_time, msg.message_id


#: Evictions the waits remember as the newest by submit time, for a newest-first listing (the HTTP API's
#: largest ``limit``): a listing finds there, without a scan of the store, the newest messages that wait on disk.
RECENT_EVICTED = 10_000
#: A wait's bound on the submit times of its evicted messages (:meth:`AbsentWaits.evicted_runs` sorts by it).
_NEWEST_SUBMIT = attrgetter("newest_submit")


class AbsentWaits:
    """The numbers whose handset is absent, the messages waiting for each, and numbers draining after an alert.

    Args:
        index: the message index (evicted messages leave it, read-back ones return).
        store: where evicted records are read back from (``load_messages``).
        scheduler, clock: alert, expiry and drain timers.
        carrier_of: the carrier of a read-back message.
        attempt: ``attempt(tracks)`` puts alerted messages on their way to an attempt, in the order given (the
            machine's enqueue, one call per batch); each has left its wait.
        expire: ``expire(tracks)`` ends messages at the end of their validity, with one commit for them all
            (a commit in between could evict the others again before they are ended).
        packer: writes evicted message_ids compactly (the server's default id format).
        backlog: how many deliveries wait for ESMEs that can take them, or will soon (attempts under way):
            draining pauses above :data:`DRAIN_BACKLOG`.
        spill_limit: deliveries of one system_id the outbox keeps in memory before it spills the next to disk
            (:attr:`Outbox.spill_limit <smsc.core.outbox.Outbox.spill_limit>`), None if it never spills: a
            drain keeps what it has under way within it (see :meth:`_pump`).
    """

    def __init__(
        self, index: MessageIndex, store: MessageStore, scheduler: Scheduler, clock: Clock,
        carrier_of: Callable[[Message], Any], attempt: Callable[[list[Track]], None],
        expire: Callable[[list[Track]], None],
        backlog: Callable[[], int], packer: IdPacker | None = None, spill_limit: int | None = None,
    ) -> None:
        self.index = index
        self._packer = packer
        self.store = store
        self.scheduler = scheduler
        self.clock = clock
        self._carrier_of = carrier_of
        self._attempt = attempt
        self._expire = expire
        self._backlog = backlog
        self._spill_limit = spill_limit
        self._load: Callable[[list[str]], list[Message]] | None = getattr(store, "load_messages", None)
        self._keep_records = bool(getattr(store, "records_in_memory", False))
        #: Numbers whose handset is absent -> the messages waiting for its alert.
        self.absent: dict[str, NumberWait] = {}
        #: Numbers whose handset came back while evicted messages still wait to be read back and attempted.
        self.draining: dict[str, NumberWait] = {}
        #: Draining numbers in turn (see :meth:`_pump_one`): a number goes to the back once it had its share.
        self._drain_order: deque[str] = deque()
        #: Numbers still to have their share in this turn, and the evicted messages of all draining numbers
        #: when it started (shares are counted against it).
        self._turn_left = 0
        self._turn_total = 1
        self._pump_timer: list[Any] | None = None
        self._load_later: Callable[[list[str], Callable[[list[Message]], None]], None] | None = getattr(
            store, "load_messages_later", None)
        #: Drain reads on their way back from the store (at most :data:`DRAIN_READS` at a time).
        self._reading = 0
        #: (track, gen) of members that may leave memory once what is recorded now is durable.
        self.evictable: list[tuple[Track, int]] = []
        #: The :data:`RECENT_EVICTED` newest evictions by submit time, a min-heap of (submit_time, seq,
        #: message_id, e164), for the inspection API's newest-first listing (:meth:`recent_evicted`); entries
        #: whose message has left the wait since stay until pushed out.  ``recent_floor``: the newest submit time
        #: pushed out or never let in (-inf while none was): every evicted message not in the heap is no newer.
        self._recent: list[tuple[float, int, str, str]] = []
        self._recent_seq = count()
        self.recent_floor = -math.inf

    # -- joining and leaving ------------------------------------------------------------------------------

    def wait_absent(self, track: Track, online_at: float | None) -> None:
        """An attempt found the handset absent; it is back at ``online_at`` (None: not by itself)."""
        e164 = track.msg.destination_e164
        wait = self.absent.get(e164)
        if wait is None:
            wait = self.absent[e164] = NumberWait(e164, self._packer)
        if online_at is not None:
            online_at = max(online_at, self.clock.now() + MIN_ALERT_DELAY)  # never a same-instant alert loop
        if online_at is not None and online_at != wait.online_at:
            self.scheduler.cancel(wait.timer)
            wait.online_at = online_at
            wait.timer = self.scheduler.call_at(online_at, self._on_alert, wait)
        self._join(track, wait)

    def join_if_waiting(self, track: Track) -> bool:
        """The message of ``track``, about to be attempted, waits instead when older messages of its number wait
        before it (True): while its number drains (whatever its priority: it waits for its turn, see
        :meth:`_join_drain`), or, at priority 0, when its handset is known absent (it joins the wait without an
        attempt of its own, the HLR's message-waiting flag; GSM lets priority messages try anyway)."""
        msg = track.msg
        if self.draining:
            wait = self.draining.get(msg.destination_e164)
            if wait is not None:
                self._join_drain(track, wait)
                return True
        if msg.priority_flag:
            return False
        wait = self.absent.get(msg.destination_e164)
        if wait is None:
            return False
        self._join(track, wait)
        return True

    def _join(self, track: Track, wait: NumberWait) -> None:
        msg = track.msg
        msg.next_attempt_time = None
        if track.timer is not None:
            self.scheduler.cancel(track.timer)
            track.timer = None
        track.phase = "absent"
        track.gen += 1
        wait.members[msg.message_id] = track
        self._arm_expiry(wait, msg.expiry_time)
        if self._load is not None:
            self.evictable.append((track, track.gen))

    def _join_drain(self, track: Track, wait: NumberWait) -> None:
        """``track`` is due for an attempt while its number drains: it is held for its turn (see :meth:`_hold`),
        so that it does not overtake the older messages of its priority still on disk.  One just accepted or
        replaced (phase "new": its submit time is now, the latest of its priority) also leaves memory once
        durable, as the number's waiting messages did: its id goes at the end of its priority's lane of the
        drain (:meth:`evict`), so a number that keeps getting messages while it drains does not keep their
        records in memory until the drain ends."""
        msg = track.msg
        newest = track.phase == "new"
        msg.next_attempt_time = None
        if track.timer is not None:
            self.scheduler.cancel(track.timer)
            track.timer = None
        self._hold(wait, [track])
        self._arm_expiry(wait, msg.expiry_time)
        if newest and self._load is not None:
            self.evictable.append((track, track.gen))

    def leave(self, track: Track) -> None:
        """A waiting member leaves its wait (cancelled, replaced, expired); an emptied wait is dropped.  A member
        held for its turn in a drain ("held") leaves the drain."""
        e164 = track.msg.destination_e164
        if track.phase == "held":
            wait = self.draining.get(e164)
            if wait is not None:
                wait.members.pop(track.msg.message_id, None)
            return
        wait = self.absent.get(e164)
        if wait is None:
            return
        wait.members.pop(track.msg.message_id, None)
        if not wait:
            self._drop(wait)
            del self.absent[e164]

    def _drop(self, wait: NumberWait) -> None:
        self.scheduler.cancel(wait.timer)
        wait.timer = None
        self.scheduler.cancel(wait.expiry_timer)
        wait.expiry_timer = None

    def _arm_expiry(self, wait: NumberWait, when: float) -> None:
        if wait.expiry_timer is not None:
            if wait.expiry_at <= when:
                return
            self.scheduler.cancel(wait.expiry_timer)
        wait.expiry_at = when
        wait.expiry_timer = self.scheduler.call_at(when, self._on_expiry, wait)

    # -- eviction and reading back ------------------------------------------------------------------------

    def _note_recent(self, msg: Message) -> None:
        """Keep ``msg``, just evicted, among the newest evictions when it is one of them."""
        recent = self._recent
        entry = (msg.submit_time, next(self._recent_seq), msg.message_id, msg.destination_e164)
        if len(recent) < RECENT_EVICTED:
            heapq.heappush(recent, entry)
            return
        if entry[0] > recent[0][0]:
            entry = heapq.heapreplace(recent, entry)
        if entry[0] > self.recent_floor:
            self.recent_floor = entry[0]

    def recent_evicted(self, number: str | None = None) -> list[tuple[float, str]]:
        """(submit_time, message_id) of the newest evicted messages kept (:attr:`_recent`), newest first; of
        ``number`` (E.164) only when given.  Some may have left their wait since (read back, expired): the
        caller reads each and keeps those still waiting.  Any evicted message not here was submitted no later
        than :attr:`recent_floor`."""
        entries = sorted(self._recent, reverse=True)
        return [(e[0], e[2]) for e in entries if number is None or e[3] == number]

    def evicted_runs(
        self, per_number: int, number: str | None = None, newer_than: float = -math.inf,
    ) -> Iterator[tuple[float, list[str]]]:
        """For a newest-first listing: (newest submit time of the number's evicted messages, at most, and the
        message_ids of its newest ``per_number`` evicted messages, newest first), number by number, by that bound,
        highest first, only numbers whose bound is above ``newer_than`` (a listing's last entry: nothing of the
        others could enter it); with ``number`` (E.164), that number only.  A caller that has enough messages
        newer than the next bound stops there (:meth:`Smsc.messages`): the bounds come in falling order, so no
        later number holds a newer one.

        Tester 85: walked in the order the numbers last took an evicted message, the walk stopped at the first
        number with an older bound and passed over a later one holding the newest message (a number whose
        attempts fail faster is evicted into sooner).  Sorting costs one pass over the waits, and only a listing
        that goes past the remembered evictions (:data:`RECENT_EVICTED`) asks for it.

        The numbers draining count as much as those absent: their messages still on disk wait as well (tester 89:
        while a drain was held back by a receiver's full outbox, a number's 101 waiting messages, the newest among
        them, were missing from the listing)."""
        if number is not None:  # (a number may have both: absent again while its last drain goes on)
            waits: list[NumberWait | None] = [self.absent.get(number), self.draining.get(number)]
        else:  # (the caller's reads of the store are synchronous: the waits do not change under the walk)
            waits = [*self.absent.values(), *self.draining.values()]
        walk = [wait for wait in waits if wait is not None and wait.evicted and wait.newest_submit > newer_than]
        walk.sort(key=_NEWEST_SUBMIT, reverse=True)
        for wait in walk:
            yield wait.newest_submit, wait.evicted.newest(per_number)

    def evict_unchanged(self) -> None:
        """Evict now, without waiting for a commit, every member that joined a wait since the last commit.
        Only for members whose records are on disk as they are: a restart resuming messages just read from
        the store (joining a wait records nothing), so that a queue of a million is never all in memory."""
        batch, self.evictable = self.evictable, []
        self.evict(batch)

    def evict(self, batch: list[tuple[Track, int]]) -> None:
        """Called once what was recorded before ``batch`` was taken is durable: members still waiting
        unchanged leave memory, keeping only their message_id (in the lane of their priority).  So do the
        messages that joined a draining number new (see :meth:`_join_drain`) and are still held: a number
        whose ids had all been taken for reading takes its turns in the drain again."""
        index = self.index
        absent = self.absent
        last = None  # the number last moved to the end of ``absent``
        for track, gen in batch:
            if track.gen != gen:
                continue
            msg = track.msg
            if track.phase == "absent":
                e164 = msg.destination_e164
                wait = absent.get(e164)
                if wait is not None and e164 != last and wait.members.get(msg.message_id) is track:
                    # Numbers in the order their waits last took an evicted message: the newest-first listing
                    # reads the last ones first (tester 74: a new message to a number absent long before was
                    # missed by ``limit=1``).
                    absent[e164] = absent.pop(e164)
                    last = e164
            elif track.phase == "held":
                wait = self.draining.get(msg.destination_e164)
                if wait is not None and not wait.in_turns and wait.members.get(msg.message_id) is track:
                    self._start_turns(wait)
            else:
                continue
            if wait is None or wait.members.get(msg.message_id) is not track:
                continue
            del wait.members[msg.message_id]
            wait.evicted.append(msg.message_id, msg.expiry_time, msg.priority_flag)
            if not self._keep_records:  # (a store that keeps records lists them from memory: no need)
                self._note_recent(msg)
            if msg.submit_time > wait.newest_submit:
                wait.newest_submit = msg.submit_time
            index.evict(track, keep_record=self._keep_records)
            track.phase = "evicted"
            track.gen += 1

    def _read_back(self, ids: list[str], take: Callable[[], list[str]]) -> list[Track]:
        """Tracks for the evicted ``ids``, read back and registered again.  ``take`` takes those same ids out of
        their wait, and is called only once the store has answered: a read that raises (a disk I/O error)
        leaves them there for the next expiry, alert or request, instead of losing them until a restart."""
        assert self._load is not None
        messages = self._load(ids)
        taken = take()
        assert taken == ids, "the ids taken out are the ones read back"
        return self._registered(ids, messages)

    def _registered(self, ids: list[str], messages: list[Message]) -> list[Track]:
        """Tracks for ``messages``, read back for the evicted ``ids``, registered again in the index."""
        index = self.index
        index.evicted -= len(ids)
        return index.register_read_back(messages, self._carrier_of)

    def _restore(self, wait: NumberWait) -> None:
        """Every evicted member of an absent ``wait`` back in memory, waiting (and evictable again)."""
        evicted = wait.evicted
        self._restore_ids(wait, evicted.oldest(len(evicted)), lambda: evicted.take(len(evicted)))

    def _restore_ids(self, wait: NumberWait, ids: list[str], take: Callable[[], list[str]]) -> None:
        """The evicted ``ids`` of an absent ``wait`` back in memory as members, waiting (and evictable again),
        before the members already in memory; ``take`` takes them out of ``wait.evicted`` once they are read
        (see :meth:`_read_back`)."""
        members: dict[str, Track] = {}
        for track in self._read_back(ids, take):
            track.phase = "absent"
            members[track.msg.message_id] = track
            self.evictable.append((track, track.gen))
        members.update(wait.members)
        wait.members = members

    def recall_ids(self, message_ids: list[str], system_id: str | None = None) -> None:
        """Bring back into memory the evicted messages among ``message_ids``, and only those, so that a request
        (cancel_sm, replace_sm naming a message) can act on them: the rest of their number's queue stays on
        disk.  Ids that are not evicted are ignored, and so are messages of another ``system_id`` when one is
        given: a cancel_sm or replace_sm naming another account's message (ids run in sequence, easy to guess)
        is refused anyway, and must not bring anything back on the way.

        A message of an absent number becomes a member of its wait again (evicted again once durable if the
        request leaves it waiting); one of a draining number is held for its turn in the drain (see
        :meth:`_hold`), not attempted: the request may still cancel or replace it."""
        index = self.index
        if self._load is None or not index.evicted:
            return
        for message_id in message_ids:
            if message_id in index.tracks:
                continue
            msg = index.messages.get(message_id)
            if msg is None:
                if self._keep_records:
                    continue
                found = self._load([message_id])
                if not found:
                    continue
                msg = found[0]
            if system_id is not None and msg.system_id != system_id:
                continue
            if not msg.is_final:
                self._recall_one(msg)

    def _recall_one(self, msg: Message) -> None:
        """Take the evicted ``msg`` (its record just read, or kept by the store) out of its number's evicted
        ids and back into memory; nothing when it is not evicted (an attempt or a drain read has it)."""
        message_id = msg.message_id
        e164 = msg.destination_e164
        wait = self.absent.get(e164)
        if wait is not None and wait.evicted.remove(message_id):
            for track in self._registered([message_id], [msg]):
                track.phase = "absent"
                wait.members[message_id] = track
                self.evictable.append((track, track.gen))
            return
        wait = self.draining.get(e164)
        if wait is not None and wait.evicted.remove(message_id):
            self._hold(wait, self._registered([message_id], [msg]))

    def peek(self, message_ids: list[str]) -> list[Message]:
        """Stored records among ``message_ids`` that are not in the index (evicted waiting messages, final
        messages no longer kept in memory), read without bringing them back: query_sm only reads."""
        index = self.index
        if self._load is None or self._keep_records:
            return []
        missing = [i for i in message_ids if i not in index.messages]
        return self._load(missing) if missing else []

    def peek_group(self, multi_id: str) -> list[Message]:
        """Stored destinations of the submit_multi ``multi_id`` that are not in the index, read without bringing
        them back: evicted waiting ones, and final ones the index forgot (it forgets them from the group too,
        so once the last has gone the core no longer knows the group).  A store that reads groups
        (``load_group``) is asked by id range; else the members the index still lists are peeked."""
        if self._load is None or self._keep_records:
            return []
        load_group = getattr(self.store, "load_group", None)
        if load_group is None:
            return self.peek(self.index.groups.get(multi_id) or [])
        messages = self.index.messages
        return [m for m in load_group(multi_id) if m.message_id not in messages]

    def recall_number(self, e164: str) -> None:
        """Bring back into memory every evicted message waiting for ``e164`` (a request about the whole number:
        cancel_sm by destination, replace_if_present)."""
        if self.index.evicted:
            self._recall_wait(e164)

    def _recall_wait(self, e164: str) -> None:
        """Every evicted message of ``e164`` back in memory: members of its wait if the number is absent, held
        for their turn in the drain (not attempted, so the request can still act on them) if it drains."""
        wait = self.absent.get(e164)
        if wait is not None and wait.evicted:
            self._restore(wait)
        wait = self.draining.get(e164)
        if wait is not None and wait.evicted:
            evicted = wait.evicted
            self._hold(wait, self._read_back(evicted.oldest(len(evicted)), lambda: evicted.take(len(evicted))))

    # -- alerts and draining ------------------------------------------------------------------------------

    def _on_alert(self, wait: NumberWait) -> None:
        if self.absent.get(wait.e164) is wait:
            wait.timer = None
            self.alert(wait.e164)

    def alert(self, e164: str) -> None:
        """The handset is reachable again: attempt every message waiting for it, best priority first, then in
        submit order (evicted ones are read back, a few at once, many batch by batch; the ones in memory are
        held for their turn among them: see the module docstring)."""
        wait = self.absent.pop(e164, None)
        if wait is None:
            return
        self.scheduler.cancel(wait.timer)
        wait.timer = None
        members = [t for t in wait.members.values() if t.phase == "absent"]
        wait.members = {}
        running = self.draining.get(e164)
        if not wait.evicted and running is None:  # everything in memory: attempted now, in order
            self._drop(wait)
            members.sort(key=_priority_order)
            self._attempt(members)
            return
        # Those in memory joined after the evicted ones were durable: newer, they wait for their turn among them.
        self._hold(wait, members)
        if running is not None:
            self._merge_drains(running, wait)
            return
        self.draining[e164] = wait
        if len(wait.evicted) > ALERT_READ_BACK:
            self._start_turns(wait)
            return
        # A few: read them all now, with every other alert of this loop turn (one query for many numbers when
        # the store reads later), outside the drain's turns; the number drains until the read is back, so that
        # what is submitted to it meanwhile waits behind them.
        ids = wait.evicted.take(ALERT_READ_BACK)
        wait.reading += 1
        if self._load_later is not None:
            self._load_later(ids, lambda messages: self._read_done(ids, [wait], messages))
        else:
            self._read_done(ids, [wait], self._load(ids) if self._load is not None else [])

    def _start_turns(self, wait: NumberWait) -> None:
        """The draining ``wait`` takes its turns in the drain (it has evicted ids to read)."""
        wait.in_turns = True
        self._drain_order.append(wait.e164)
        self._schedule_pump(0.0)

    def _merge_drains(self, running: NumberWait, wait: NumberWait) -> None:
        """The handset came back again before its last drain ended: one drain for both.  The messages of the
        new ``wait`` were attempted before the ones ``running`` still has on disk (they came out of its drain,
        or joined before it started), so its ids go first, in each priority's lane; its members are held."""
        wait.evicted.extend(running.evicted)
        running.evicted = wait.evicted
        running.members.update(wait.members)
        wait.members = {}
        if wait.error is not None:  # (the latest attempt that found the handset absent)
            running.error = wait.error
        self._drop(wait)
        self._arm_expiry(running, wait.expiry_at)
        if running.evicted and not running.in_turns:
            self._start_turns(running)

    def _finish(self, wait: NumberWait) -> list[Track]:
        """The draining ``wait`` has nothing left on disk nor on its way back: it stops draining; its held
        members (the newest of their priorities) are taken out, to be attempted now."""
        del self.draining[wait.e164]
        self._drop(wait)
        return self._take_held(wait, None)

    def _schedule_pump(self, real_delay: float) -> None:
        """The next drain step after ``real_delay`` real seconds (0: the next loop turn).  A pause (a delay above
        0) in a jump of the simulated clock lasts :data:`DRAIN_PAUSE_IN_JUMP` simulated seconds instead, cut at
        the jump's end so that after it the drain looks again at once, not a simulated second (at time_scale
        0.001, 1,000 real seconds) later (tester 168: the steps that go on draining waited that second too, and
        messages expired)."""
        if self._pump_timer is None:
            now = self.clock.now()
            delay = max(sim_seconds_for_real(self.clock, real_delay), 1e-6)  # a later loop turn, never this one
            target = self.scheduler.jump_target
            if real_delay > 0 and target is not None:
                delay = max(delay, min(DRAIN_PAUSE_IN_JUMP, target - now))
            self._pump_timer = self.scheduler.call_at(now + delay, self._pump)

    def _pump(self, _: Any = None) -> None:
        """One drain step: read back the next batch of evicted messages of draining numbers and attempt them
        (the read happens off the loop when the store can, see ``load_messages_later``).

        Pacing: a batch is read only while the backlog (deliveries owed to ESMEs that can take them, attempts
        under way) plus :data:`DRAIN_BATCH` for each batch still being read is at most :data:`DRAIN_BACKLOG`.
        With an outbox that spills, the bound is ``spill_limit - DRAIN_BATCH``, so that what a drain has under
        way, all its receipts owed to one ESME at worst, fits in the outbox's memory: past ``spill_limit`` every
        further receipt of that ESME would be written, dropped from memory and read back again
        (:mod:`smsc.core.outbox`) although its receiver keeps up.  Measured with 16 reads under way against
        20,000: 35,904 of 40,000 drained receipts went through that, and the drain cost 55-65 us of CPU per
        message instead of 34-51 (``python -m bench.profile_drain``, no carrier latency).  Attempts under way count too, so
        with a carrier latency of L seconds a drain through SQLite runs at most about 3,000 / L messages a second
        (their receipts then come at that pace instead of in bursts of up to 20,000)."""
        self._pump_timer = None
        limit = DRAIN_BACKLOG
        if self._spill_limit is not None:
            limit = min(limit, self._spill_limit - DRAIN_BATCH)
        for _ in range(DRAIN_READS - self._reading):  # (a store reading at once answers within this loop)
            if not self._drain_order:
                return
            if self._backlog() + self._reading * DRAIN_BATCH > limit:
                if not self._reading:
                    self._schedule_pump(DRAIN_PAUSE)
                return
            reading = self._reading
            self._pump_one()
            if self._reading == reading:  # read back and attempted at once: one batch per loop turn
                return

    def _pump_one(self) -> None:
        """Read back (then attempt) the next :data:`DRAIN_BATCH` evicted messages of the draining numbers: each
        number in turn gives its first (best priority, then oldest), a share of the batch proportional to what
        it has left (see the module docstring)."""
        ids: list[str] = []
        waits: list[NumberWait] = []  # the numbers this batch reads for (each counts it in ``reading``)
        released: list[Track] = []
        order = self._drain_order
        draining = self.draining
        while order and len(ids) < DRAIN_BATCH:
            if self._turn_left <= 0:  # a new turn: every number now draining has its share in it
                self._turn_left = len(order)
                self._turn_total = max(1, sum(len(w.evicted) for w in draining.values()))
            e164 = order.popleft()
            self._turn_left -= 1
            wait = draining.get(e164)
            if wait is None:
                continue
            evicted = wait.evicted
            if evicted:
                share = -(-len(evicted) * DRAIN_BATCH // self._turn_total)  # (rounded up: at least one)
                ids.extend(evicted.take(min(share, DRAIN_BATCH - len(ids))))
                wait.reading += 1
                waits.append(wait)
            if evicted:
                order.append(e164)
                continue
            wait.in_turns = False  # nothing left to read: its last batches decide when it ends
            if not wait.reading:
                released.extend(self._finish(wait))
        if released:
            released.sort(key=_held_order)
            self._attempt(released)
        if not ids:
            return
        self._reading += 1
        if self._load_later is None:
            self._drained(ids, waits, self._load(ids) if self._load is not None else [])
        else:
            self._load_later(ids, lambda messages: self._drained(ids, waits, messages))

    def _drained(self, ids: list[str], waits: list[NumberWait], messages: list[Message]) -> None:
        """A drain batch is read back: attempt it (:meth:`_read_done`), and go on draining."""
        self._reading -= 1
        self._read_done(ids, waits, messages)
        if self._drain_order:
            self._schedule_pump(0.0)

    def _read_done(self, ids: list[str], waits: list[NumberWait], messages: list[Message]) -> None:
        """The evicted ``ids`` of the draining ``waits`` are read back: attempt their messages, with the held
        members of those numbers whose turn came (see :meth:`_hold`), best priority first, then oldest.  A
        number with nothing left on disk nor on its way back stops draining, its last held members going
        with this batch."""
        tracks = self._registered(ids, messages)
        newest: dict[str, tuple[int, float, str]] | None = None
        held = False
        for wait in waits:
            wait.reading -= 1
            if not wait.reading and not wait.in_turns and not wait.evicted:
                taken = self._finish(wait) if self.draining.get(wait.e164) is wait else []
            elif not wait.members:
                continue
            elif not wait.reading and not wait.evicted:  # (taking its turns: it ends at its next turn)
                taken = self._take_held(wait, None)
            else:
                if newest is None:  # the last message read back per number (rarely needed: computed once)
                    newest = {}
                    for track in tracks:
                        order = _held_order(track)
                        e164 = track.msg.destination_e164
                        if e164 not in newest or order > newest[e164]:
                            newest[e164] = order
                cutoff = newest.get(wait.e164)
                taken = self._take_held(wait, cutoff) if cutoff is not None else []
            if taken:
                tracks.extend(taken)
                held = True
        tracks.sort(key=_held_order if held else _priority_order)
        self._attempt(tracks)

    def _hold(self, wait: NumberWait, tracks: list[Track]) -> None:
        """Messages of the draining ``wait`` in memory (still in memory when the handset came back, brought back
        by a request, or due while it drains) wait for their turn in the drain, so that the handset gets its
        messages in the promised order: a held member is attempted with the drain batch that reads back a
        message of its number that comes after it (a worse priority, or the same and accepted after it: see
        :func:`_held_order`), in that batch's order, or once nothing of its number is left to read.  Until
        then a request can still cancel or replace it, and it expires at its validity end."""
        members = wait.members
        for track in tracks:
            track.phase = "held"
            track.gen += 1
            members[track.msg.message_id] = track

    def _take_held(self, wait: NumberWait, cutoff: tuple[int, float, str] | None) -> list[Track]:
        """The held members of ``wait`` that come before the message ``cutoff`` names (its :func:`_held_order`;
        None: every one), taken out of it; members that left meanwhile (cancelled, replaced, expired) are
        forgotten."""
        taken: list[Track] = []
        kept: dict[str, Track] = {}
        for message_id, track in wait.members.items():
            if track.phase != "held":
                continue
            if cutoff is None or _held_order(track) < cutoff:
                taken.append(track)
            else:
                kept[message_id] = track
        wait.members = kept
        return taken

    # -- expiry -------------------------------------------------------------------------------------------

    def _on_expiry(self, wait: NumberWait) -> None:
        """The earliest validity end among the messages of ``wait`` is reached: expire those due.  Of the
        evicted ones, only those due are read back (their validity ends are kept beside their ids); the rest
        stay on disk, and the timer is armed again for the earliest validity end left.  When reading them
        back fails (the store raised: they are still in the wait), the expiry is tried again
        :data:`EXPIRY_RETRY` real seconds later, or at the end of a jump of the clock, and the error goes on to
        the scheduler, which logs it; not when the store found its file damaged (``SqliteStore.on_damage``: the
        server stops)."""
        wait.expiry_timer = None
        try:
            self._expire_due(wait)
        except Exception:
            if getattr(self.store, "damage", None) is not None:
                # The file is damaged and the server stops for it (SqliteStore.on_damage): no retry can succeed,
                # and a traceback per waiting number said nothing more (tester 181: 200 of them).  The messages
                # stay on disk for a start on a restored file.
                return
            now = self.clock.now()
            delay = max(sim_seconds_for_real(self.clock, EXPIRY_RETRY), 1e-6)
            target = self.scheduler.jump_target
            if target is not None:
                delay = max(delay, target - now)
            self._arm_expiry(wait, now + delay)
            raise

    def _expire_due(self, wait: NumberWait) -> None:
        e164 = wait.e164
        now = self.clock.now()
        evicted = wait.evicted
        if self.draining.get(e164) is wait:  # the handset is back, and these wait for their turn in the drain
            ids = evicted.due(now)
            due = self._read_back(ids, lambda: evicted.take_due(now)) if ids else []
            due.extend(t for t in wait.members.values() if t.phase == "held" and t.msg.expiry_time <= now)
            due.sort(key=lambda t: t.msg.expiry_time)
            self._expire(due)  # (held ones leave the drain)
            if self.draining.get(e164) is wait:
                self._arm_expiry_left(wait, min(
                    (t.msg.expiry_time for t in wait.members.values() if t.phase == "held"), default=_INF))
            return
        if self.absent.get(e164) is not wait:
            return
        ids = evicted.due(now)
        if ids:
            self._restore_ids(wait, ids, lambda: evicted.take_due(now))
        due = [t for t in wait.members.values() if t.msg.expiry_time <= now]
        due.sort(key=lambda t: t.msg.expiry_time)
        later = min((t.msg.expiry_time for t in wait.members.values() if t.msg.expiry_time > now), default=_INF)
        self._expire(due)  # they leave the wait (the others may be evicted again after); the last drops it
        if self.absent.get(e164) is wait:
            self._arm_expiry_left(wait, later)

    def _arm_expiry_left(self, wait: NumberWait, members_earliest: float) -> None:
        """Arm the expiry timer of ``wait`` for the earliest validity end left: ``members_earliest`` (those in
        memory) or that of an evicted message; none when nothing is left."""
        when = min(members_earliest, wait.evicted.earliest())
        if when < _INF:
            self._arm_expiry(wait, when)
