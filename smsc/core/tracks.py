"""The runtime side of waiting messages, and the index of every message the SMSC knows.

A :class:`~smsc.core.message.Message` is the record (what the store keeps); a :class:`Track` is its runtime
state while it waits: which phase it is in and its one pending timer.  :class:`NumberWait` holds the messages
waiting for one absent handset; :class:`CarrierQueue` those waiting for a throttled carrier's capacity.
:class:`MessageIndex` finds messages by message_id (query_sm, cancel_sm, replace_sm), by submit_multi id, and
waiting ones by (system_id, source, destination) for replace_if_present and cancel_sm without an id.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from itertools import compress, islice
from operator import attrgetter, not_
from typing import Any, Callable, Iterator

from smsc.core.api import Address
from smsc.core.ids import IdPacker
from smsc.core.message import FINAL_OCTETS_MAX, Message
from smsc.core.scheduler import TimerHandle
from smsc.core.throttle import TokenBucket

_new = object.__new__
_submit_time = attrgetter("submit_time")

#: Phases in which a waiting message cannot be cancelled or replaced (an attempt is under way, an ESME waits
#: for its transaction-mode answer, or a datagram-mode message waits for its one attempt: nothing is stored).
PHASES_NOT_RECALLABLE = frozenset({"inflight", "transaction", "datagram"})


def same_source(requested: Address, original: Address) -> bool:
    """Whether the source address of a query_sm, cancel_sm or replace_sm names the message's originator.

    SMPP 3.4 sections 4.8.1, 4.9.1 and 4.10.1: source_addr_ton, source_addr_npi and source_addr "must match
    the source address of the original message", so all three are compared as the ESME wrote them in the
    submit (TON 2 ``07700900001`` is not TON 1 ``447700900001``).  An empty source_addr matches any, whatever
    its TON and NPI: the specification lets a query_sm give NULL when the source is not known, and many ESMEs
    do not keep it.  For the same reason TON 0 with NPI 0 (both NULL: "if not known, set to NULL", Tables 4-22
    and 4-24) compares the address alone (tester 39: such a query_sm failed)."""
    if not requested.addr:
        return True
    if requested.addr != original.addr:
        return False
    return (requested.ton == original.ton and requested.npi == original.npi) or requested.ton == requested.npi == 0


class Track:
    """Runtime state of one waiting message: which phase it is in and its one pending timer.

    Phases: "new" (accepted, not yet on disk), "scheduled", "retry", "queued" (carrier capacity), "inflight"
    (attempt under way), "absent" (waiting for the handset's alert), "held" (the handset is back: waiting for
    its turn in its number's drain, see :mod:`smsc.core.waits`), "outcome", "detached" (left the machine),
    "transaction" (a transaction-mode message accepted, before its one attempt: see
    :meth:`~smsc.core.smsc.Smsc.submit_transaction`), "datagram" (the same for a datagram-mode message:
    ``Smsc._submit_datagram``).
    ``gen`` changes whenever the message leaves a phase, which turns every queue entry and timer that still
    points at the old phase into a no-op (lazy deletion).
    """

    __slots__ = ("msg", "carrier", "phase", "timer", "gen")

    def __init__(self, msg: Message, carrier: Any) -> None:
        self.msg = msg
        self.carrier = carrier
        self.phase = "new"
        self.timer: TimerHandle | None = None
        self.gen = 0


#: Evicted ids per run of :class:`EvictedIds`: the earliest validity end is kept per run, so finding what
#: is due (or the next expiry) looks at one float per run and scans only the runs holding a due id.
EVICTED_RUN = 1024

_INF = float("inf")


class _Run:
    """Up to :data:`EVICTED_RUN` evicted ids of one number, oldest first, with the validity end of each
    (simulation seconds) and the earliest of them (infinity when empty; minus infinity when not known since
    ids were taken out: found again when asked, not at every drain step)."""

    __slots__ = ("ids", "expiries", "earliest")

    def __init__(self) -> None:
        self.ids = array("q")
        self.expiries = array("d")
        self.earliest = _INF


class EvictedIds:
    """The message_ids of a number's evicted messages in the order they are to be attempted, each with its
    validity end, compact.

    The order is the one promised to the handset: best priority_flag first, then the order the messages joined
    the wait (about submit order).  Each priority_flag has a *lane* of its own: priority 0 in ``_runs``, the
    others (1-3, rare) in ``_urgent``, made for the first message that needs one; :meth:`take` empties the
    lane of the highest priority first.  So the priority messages of a queue of a million are attempted before
    the others, not only before the others of their drain batch.

    Ids in the server's default format are kept as 8-octet numbers in an ``array``, others (an entry -k points
    at ``others[k-1]``) as strings; beside each id, its validity end (simulation seconds) as an 8-octet float in
    a parallel ``array("d")``.  So a million waiting messages cost the core about 16 MB here whatever their
    priorities (and about 0.2 octet each for the runs), and an expiry takes out and reads back only the ids
    that are due instead of the number's whole queue.

    The ids of a lane are held in runs of :data:`EVICTED_RUN`, each knowing its earliest validity end: when
    messages expire one by one (each its own validity end, as with a real clock), each expiry looks at one
    float per run and scans only the runs that hold a due id, not every id of the number.
    """

    __slots__ = ("_packer", "_runs", "_count", "_others", "_urgent")

    def __init__(self, packer: IdPacker | None) -> None:
        self._packer = packer
        #: The lane of priority_flag 0, oldest first.
        self._runs: deque[_Run] = deque()
        self._count = 0
        self._others: list[str] = []
        #: priority_flag > 0 -> its lane (None until a priority message is evicted: most numbers have none).
        self._urgent: dict[int, deque[_Run]] | None = None

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def _lanes(self) -> list[tuple[int, deque[_Run]]]:
        """(priority_flag, lane) in the order :meth:`take` empties them: highest priority first."""
        urgent = self._urgent
        if urgent is None:
            return [(0, self._runs)]
        return [*((p, urgent[p]) for p in sorted(urgent, reverse=True)), (0, self._runs)]

    def _lane(self, priority: int) -> deque[_Run]:
        if priority <= 0:
            return self._runs
        urgent = self._urgent
        if urgent is None:
            urgent = self._urgent = {}
        lane = urgent.get(priority)
        if lane is None:
            lane = urgent[priority] = deque()
        return lane

    def append(self, message_id: str, expiry: float, priority: int = 0) -> None:
        """Add an id at the end of the lane of its message's ``priority`` (priority_flag), with its message's
        validity end ``expiry`` (simulation seconds)."""
        number = self._packer.pack(message_id) if self._packer is not None else None
        if number is None:
            self._others.append(message_id)
            number = -len(self._others)
        runs = self._runs if priority <= 0 else self._lane(priority)
        run = runs[-1] if runs else None
        if run is None or len(run.ids) >= EVICTED_RUN:
            run = _Run()
            runs.append(run)
        run.ids.append(number)
        run.expiries.append(expiry)
        if expiry < run.earliest:
            run.earliest = expiry
        self._count += 1

    def extend(self, other: EvictedIds) -> None:
        """Add every id of ``other`` at the end of the lane of its priority, with its validity end (``other`` is
        emptied)."""
        if not other._others and self._packer is other._packer:  # same numbers: the runs move as they are
            for priority, lane in other._lanes():
                self._lane(priority).extend(lane)
            self._count += other._count
        else:
            for priority, lane in other._lanes():
                for run in lane:
                    for message_id, expiry in zip(other._unpacked(run.ids), run.expiries):
                        self.append(message_id, expiry, priority)
        other._runs = deque()
        other._urgent = None
        other._count = 0
        other._others = []

    def take(self, n: int) -> list[str]:
        """Remove and return the ``n`` first ids (all of them when fewer): highest priority first, then
        oldest."""
        numbers: list[int] = []
        for _, runs in self._lanes():
            while n > 0 and runs:
                run = runs[0]
                ids = run.ids
                if len(ids) <= n:
                    runs.popleft()
                    numbers.extend(ids)
                    n -= len(ids)
                    continue
                numbers.extend(ids[:n])
                del ids[:n]
                del run.expiries[:n]
                run.earliest = -_INF  # (the oldest ids usually hold the earliest end: found again when asked)
                n = 0
            if n <= 0:
                break
        return self._taken(numbers)

    def oldest(self, n: int) -> list[str]:
        """The ``n`` first ids (all when fewer), in the order :meth:`take` would remove them; nothing is
        removed."""
        numbers: list[int] = []
        for _, runs in self._lanes():
            for run in runs:
                if len(numbers) >= n:
                    break
                numbers.extend(run.ids[:n - len(numbers)])
        return self._unpacked(numbers)

    def due(self, now: float) -> list[str]:
        """The ids whose validity end is ``now`` or earlier, in the order :meth:`take_due` would remove them;
        nothing is removed."""
        numbers: list[int] = []
        for _, runs in self._lanes():
            for run in runs:
                if run.earliest == -_INF:
                    run.earliest = min(run.expiries)
                if run.earliest <= now:
                    numbers.extend(compress(run.ids, map(now.__ge__, run.expiries)))
        return self._unpacked(numbers)

    def take_due(self, now: float) -> list[str]:
        """Remove and return, in :meth:`take` order, the ids whose validity end is ``now`` or earlier; the
        others keep their order.  Only the runs holding a due id are scanned."""
        numbers: list[int] = []
        for _, runs in self._lanes():
            emptied = False
            for run in runs:
                if run.earliest == -_INF:
                    run.earliest = min(run.expiries)
                if run.earliest > now:
                    continue
                expiries = run.expiries
                due = list(map(now.__ge__, expiries))
                numbers.extend(compress(run.ids, due))
                keep = list(map(not_, due))
                run.ids = array("q", compress(run.ids, keep))
                run.expiries = array("d", compress(expiries, keep))
                run.earliest = min(run.expiries, default=_INF)
                emptied = emptied or not run.ids
            if emptied:
                kept = [run for run in runs if run.ids]
                runs.clear()
                runs.extend(kept)
        return self._taken(numbers)

    def remove(self, message_id: str) -> bool:
        """Take ``message_id`` out, keeping the order of the others; False when it is not here."""
        for number in self._numbers_of(message_id):
            for _, runs in self._lanes():
                for position, run in enumerate(runs):
                    ids = run.ids
                    if number not in ids:
                        continue
                    i = ids.index(number)
                    del ids[i]
                    expiries = run.expiries
                    expiry = expiries[i]
                    del expiries[i]
                    if not ids:
                        del runs[position]
                    elif expiry <= run.earliest:
                        run.earliest = -_INF
                    self._count -= 1
                    if not self._count:
                        self._others.clear()
                        self._urgent = None
                    return True
        return False

    def earliest(self) -> float:
        """The earliest validity end among the ids (simulation seconds; infinity when there are none)."""
        earliest = _INF
        for _, runs in self._lanes():
            for run in runs:
                if run.earliest == -_INF:
                    run.earliest = min(run.expiries)
                if run.earliest < earliest:
                    earliest = run.earliest
        return earliest

    def newest(self, n: int) -> list[str]:
        """The ``n`` last ids in :meth:`take` order (all when fewer), last first: the most recently added of the
        lowest priority first; nothing is removed."""
        found: list[str] = []
        for _, runs in reversed(self._lanes()):
            for run in reversed(runs):
                if len(found) >= n:
                    return found
                ids = run.ids
                need = n - len(found)
                tail = ids[-need:] if need < len(ids) else ids
                found.extend(self._unpacked(reversed(tail)))
        return found

    def __contains__(self, message_id: object) -> bool:
        if not isinstance(message_id, str):
            return False
        return any(number in run.ids for number in self._numbers_of(message_id)
                   for _, runs in self._lanes() for run in runs)

    def _numbers_of(self, message_id: str) -> list[int]:
        """The entries ``message_id`` may be kept as: its number, or each position it has among the strings
        (an id evicted, read back and evicted again is there twice; only the last entry is live)."""
        number = self._packer.pack(message_id) if self._packer is not None else None
        if number is not None:
            return [number]
        return [-(k + 1) for k, other in enumerate(self._others) if other == message_id]

    def _unpacked(self, numbers: Any) -> list[str]:
        others = self._others
        unpack = self._packer.unpack if self._packer is not None else None
        return [unpack(x) if x >= 0 and unpack is not None else others[-x - 1] for x in numbers]

    def _taken(self, numbers: list[int]) -> list[str]:
        """The ids of ``numbers`` just taken out; the strings (and the priority lanes) are forgotten once no id
        is left."""
        out = self._unpacked(numbers)
        self._count -= len(numbers)
        if not self._count:
            self._others.clear()
            self._urgent = None
        return out


class NumberWait:
    """Messages waiting for one absent handset, the alert timer for when it comes back, and one expiry timer
    for the earliest validity end among them.

    ``members`` are in memory (each with its :class:`Track`); ``evicted`` are only message_ids and their
    validity ends: their records are durable in the store and are read back when the handset comes back, when
    they expire (those due only), or when a request (query_sm, cancel_sm, replace_sm, replace_if_present) needs
    them.  A million messages waiting for offline handsets thus cost the core two arrays, not a million
    records.

    Once the handset is back and the number drains, ``members`` are the messages held for their turn in the
    drain (phase "held"), ``reading`` counts the drain batches on their way back from the store that hold
    some of its messages, and ``in_turns`` says whether the number is in the drain's turns (it has evicted ids
    left to read, or had when its turn was last taken).
    """

    __slots__ = ("e164", "members", "evicted", "timer", "online_at", "expiry_timer", "expiry_at", "reading",
                 "error", "in_turns", "newest_submit")

    def __init__(self, e164: str, packer: IdPacker | None = None) -> None:
        self.e164 = e164
        self.members: dict[str, Track] = {}
        self.evicted = EvictedIds(packer)
        self.timer: TimerHandle | None = None
        self.online_at: float | None = None
        self.expiry_timer: TimerHandle | None = None
        self.expiry_at = 0.0
        self.reading = 0
        #: (err, network_error_code) of the last attempt that found the handset absent: the error of a message
        #: that joined the wait without an attempt of its own and expires in it (None: not known).
        self.error: tuple[int, bytes | None] | None = None
        self.in_turns = False
        #: The latest submit time (simulation seconds) of the messages evicted into this wait: no evicted message
        #: of it is newer (it is not lowered when they leave), for the inspection API's newest-first listing.
        self.newest_submit = -math.inf

    def __bool__(self) -> bool:
        return bool(self.members) or bool(self.evicted)


class CarrierQueue:
    """Messages waiting for a carrier's capacity (attempts per second), or for its return while it is down, best
    priority first.

    ``live`` counts the messages waiting in ``heap``: entries of messages that left the queue otherwise
    (cancelled, expired, replaced) stay in the heap until the queue reaches them, but no longer count."""

    __slots__ = ("bucket", "heap", "timer", "live", "carrier")

    def __init__(self, rate: float, now: float) -> None:
        self.bucket = TokenBucket(rate, now=now)
        self.heap: list[tuple[int, float, int, int, Track]] = []
        self.timer: TimerHandle | None = None
        self.live = 0
        #: The carrier whose messages wait here (its ``down`` holds them all).
        self.carrier: Any = None


class MessageIndex:
    """Every message the SMSC knows: waiting ones (with their :class:`Track`) and final ones kept for query_sm.

    Final messages are kept up to ``max_final_in_memory`` of them and :data:`~smsc.core.message.FINAL_OCTETS_MAX`
    octets of user data (oldest forgotten first) and until they are pruned by age (:meth:`prune`).  Once a short message_id format has wrapped, an id may be given again: the
    final records it named leave the index then (:meth:`forget_id`), so only the new message answers for it.

    Attributes:
        messages: message_id -> Message, waiting and final, in insertion order: submit order while
            ``in_submit_order`` (accepted messages join at the end; see :meth:`sort_by_submit`).
        tracks: message_id -> Track of every waiting message.
        groups: submit_multi id -> the message_ids of its destinations.
        in_submit_order: False once a record joined ``messages`` behind a newer one (read back from the store
            after a wait or at start) or had its submit time moved (replace_sm), until :meth:`sort_by_submit`.
    """

    __slots__ = ("messages", "tracks", "groups", "_final", "_final_octets", "_by_number", "max_final_in_memory",
                 "evicted", "in_submit_order")

    def __init__(self, max_final_in_memory: int) -> None:
        self.max_final_in_memory = max_final_in_memory
        #: Waiting messages whose record is only in the store (see :class:`NumberWait`).
        self.evicted = 0
        self.messages: dict[str, Message] = {}
        self.tracks: dict[str, Track] = {}
        self.groups: dict[str, list[str]] = {}
        #: The final messages kept, in the order they became final (oldest first).  The records themselves, not
        #: their ids: an id given again (:meth:`forget_id`) leaves its old entry here, which then names a record
        #: the index no longer holds and is passed over, instead of forgetting the new message of that id.
        self._final: deque[Message] = deque()
        #: Octets of user data of the records in ``_final``.
        self._final_octets = 0
        #: destination -> message_ids of the waiting messages to it, oldest first (requests that look for
        #: them filter by system_id and source: keying by the number alone builds no key tuple per message).
        self._by_number: dict[str, dict[str, None]] = {}
        self.in_submit_order = True

    @property
    def final_count(self) -> int:
        """Final messages kept in memory (at most; entries of ids given again count until they are passed)."""
        return len(self._final)

    @property
    def waiting(self) -> int:
        """Messages not yet final: in memory and evicted."""
        return len(self.tracks) + self.evicted

    # -- waiting messages ---------------------------------------------------------------------------------

    def register(self, track: Track) -> None:
        """A message starts waiting (accepted, or read back at start)."""
        msg = track.msg
        message_id = msg.message_id
        self.note_order(msg)
        self.messages[message_id] = msg
        self.tracks[message_id] = track
        if msg.multi_id:
            self.group_add(msg)
        e164 = msg.destination_e164
        bucket = self._by_number.get(e164)
        if bucket is None:
            bucket = self._by_number[e164] = {}
        bucket[message_id] = None

    def register_new(self, msg: Message, carrier: Any) -> Track:
        """``register(Track(msg, carrier))`` for a just-accepted submit_sm (no submit_multi id); returns the
        track.  One call for the path of nearly every message."""
        track = _new(Track)
        track.msg = msg
        track.carrier = carrier
        track.phase = "new"
        track.timer = None
        track.gen = 0
        message_id = msg.message_id
        self.messages[message_id] = msg
        self.tracks[message_id] = track
        e164 = msg.destination_e164
        bucket = self._by_number.get(e164)
        if bucket is None:
            bucket = self._by_number[e164] = {}
        bucket[message_id] = None
        return track

    def register_read_back(self, messages: list[Message], carrier_of: Callable[[Message], Any]) -> list[Track]:
        """Tracks for waiting messages read back from the store, in order, each registered as
        ``register(Track(msg, carrier_of(msg)))`` would; final messages and ones already registered are left
        out (cannot happen: an evicted message changes only once read back).

        One call per drain batch (a thousand messages), each message registered by :meth:`register_new`:
        the per-message ``register`` calls and the ``Track`` constructor were a tenth of the loop's time in
        a drain.  ``carrier_of`` is asked once per carrier name in the batch when it answers the carrier of
        that name (it routes by number only when the name is unknown); ``tests/unit`` checks that the index
        ends as :meth:`register` leaves it.
        """
        tracks_by_id = self.tracks
        carriers: dict[str, Any] = {}
        tracks: list[Track] = []
        for msg in messages:
            message_id = msg.message_id
            state = msg.state
            if (state > 1 and state != 7) or message_id in tracks_by_id:  # (final: Message.is_final)
                continue
            name = msg.carrier
            carrier = carriers.get(name) if name else None
            if carrier is None:
                carrier = carrier_of(msg)
                if name and carrier is not None and getattr(carrier, "name", None) == name:
                    carriers[name] = carrier
            self.note_order(msg)
            track = self.register_new(msg, carrier)
            if msg.multi_id:
                self.group_add(msg)
            tracks.append(track)
        return tracks

    def note_order(self, msg: Message) -> None:
        """``msg`` is about to be stored in :attr:`messages`: when it is not there yet and was submitted before
        the record now last, the dict is out of submit order from then on (:attr:`in_submit_order`).  A record
        already there keeps its place (a dict assignment does not move it)."""
        messages = self.messages
        if self.in_submit_order and messages and msg.message_id not in messages:
            if msg.submit_time < next(reversed(messages.values())).submit_time:
                self.in_submit_order = False

    def sort_by_submit(self) -> None:
        """Put :attr:`messages` back in submit order (oldest first; records of one submit time keep their
        order), in place: the listing of the inspection API walks it from the end (newest first).  Called
        when a listing finds it out of order; a sort of a dict mostly in order, O(n) for the runs it has."""
        messages = self.messages
        ordered = sorted(messages.values(), key=_submit_time)
        messages.clear()
        for msg in ordered:
            messages[msg.message_id] = msg
        self.in_submit_order = True

    def unregister(self, track: Track) -> None:
        """A waiting message reached its final state (it stays known as a message)."""
        msg = track.msg
        message_id = msg.message_id
        del self.tracks[message_id]
        e164 = msg.destination_e164
        bucket = self._by_number.get(e164)
        if bucket is not None:
            bucket.pop(message_id, None)
            if not bucket:
                del self._by_number[e164]

    def finish(self, track: Track) -> None:
        """:meth:`unregister` then :meth:`retain_final`: a waiting message reached its final state (one call
        for the path of nearly every message)."""
        msg = track.msg
        message_id = msg.message_id
        del self.tracks[message_id]
        e164 = msg.destination_e164
        bucket = self._by_number.get(e164)
        if bucket is not None:
            bucket.pop(message_id, None)
            if not bucket:
                del self._by_number[e164]
        final = self._final
        final.append(msg)
        octets = self._final_octets = self._final_octets + len(msg.short_message)
        if len(final) > self.max_final_in_memory or octets > FINAL_OCTETS_MAX:
            self._forget_oldest()

    def evict(self, track: Track, *, keep_record: bool) -> None:
        """A waiting message leaves memory: its track (its id stays in a :class:`NumberWait`), and its record
        too unless ``keep_record`` (the memory store holds the record anyway: keeping it here is free and
        keeps it listed)."""
        self.unregister(track)
        if not keep_record:
            del self.messages[track.msg.message_id]
        self.evicted += 1

    def group_add(self, msg: Message) -> None:
        """Record ``msg`` as one destination of its submit_multi (no-op for a submit_sm)."""
        if msg.multi_id:
            members = self.groups.setdefault(msg.multi_id, [])
            if msg.message_id not in members:
                members.append(msg.message_id)

    def replaceable(self, system_id: str, source: Address, e164: str, service_type: str) -> list[Track]:
        """Waiting messages replace_if_present_flag=1 replaces (SMPP 3.4 section 5.2.18): same system_id,
        source address (its TON and NPI too, as query_sm and cancel_sm compare them: :func:`same_source`, but
        an empty source_addr matches only an empty one here), destination and service_type, not in flight."""
        ids = self._by_number.get(e164)
        if not ids:
            return []
        found = []
        addr, ton, npi = source.addr, source.ton, source.npi
        for message_id in ids:
            track = self.tracks[message_id]
            msg = track.msg
            original = msg.source
            if (msg.system_id == system_id and original.addr == addr and original.ton == ton
                    and original.npi == npi and msg.service_type == service_type
                    and track.phase not in PHASES_NOT_RECALLABLE):
                found.append(track)
        return found

    def matching_pending(self, system_id: str, service_type: str, source: Address, e164: str) -> list[Track]:
        """Waiting messages of ``system_id`` from ``source`` to ``e164``, of ``service_type`` when not ""
        (cancel_sm without a message_id, which must name a destination: SMPP 3.4 section 4.9).

        Here the source is what selects the messages, not a check of one message found by its id, so an empty
        source_addr matches only messages submitted without one (section 4.9.1: when the original source was
        NULL, the cancel_sm's "should also be NULL"), whatever its TON and NPI; any other source matches its
        address, TON and NPI.  (:func:`same_source`, for a message named by its id, lets an empty
        source_addr match any: read that way here, it would cancel every sender's messages to the number.)  A
        source_addr given with TON 0 and NPI 0 ("if not known, set to NULL", table 4-24) matches that address
        whatever its TON and NPI, as :func:`same_source` does (tester 166: a group cancel_sm from ``MyBrand`` with
        0/0 failed where the same with its message_id worked)."""
        if source.addr:
            def from_source(original: Address) -> bool:
                return same_source(source, original)
        else:
            def from_source(original: Address) -> bool:
                return not original.addr
        candidates = [
            t for t in (self.tracks[i] for i in self._by_number.get(e164, ()))
            if t.msg.system_id == system_id and from_source(t.msg.source)
        ]
        return [t for t in candidates if not service_type or t.msg.service_type == service_type]

    # -- lookups ------------------------------------------------------------------------------------------

    def lookup(self, system_id: str, message_id: str, source: Address) -> list[Message]:
        """Messages known by ``message_id`` (a submit_multi id gives all its destinations) that belong to
        ``system_id`` and whose source matches (:func:`same_source`)."""
        ids = self.groups.get(message_id)
        if ids is None:
            ids = [message_id]
        found = []
        for mid in ids:
            msg = self.messages.get(mid)
            if msg is None or msg.system_id != system_id:
                continue
            if not same_source(source, msg.source):
                continue
            found.append(msg)
        return found

    # -- final messages -----------------------------------------------------------------------------------

    def retain_final(self, msg: Message) -> None:
        """Keep the final ``msg`` for query_sm, forgetting the oldest beyond ``max_final_in_memory`` and
        :data:`~smsc.core.message.FINAL_OCTETS_MAX`."""
        self._final.append(msg)
        self._final_octets += len(msg.short_message)
        self._forget_oldest()

    def _forget_oldest(self) -> None:
        """Forget the oldest final messages while more than ``max_final_in_memory`` of them are kept, or more
        than :data:`~smsc.core.message.FINAL_OCTETS_MAX` octets of user data."""
        final = self._final
        limit = self.max_final_in_memory
        octets = self._final_octets
        while final and (len(final) > limit or octets > FINAL_OCTETS_MAX):
            msg = final.popleft()
            octets -= len(msg.short_message)
            self._forget(msg)
        self._final_octets = octets

    def _pop_final(self) -> Message:
        """The oldest entry of the final list, taken out of it (its octets with it)."""
        msg = self._final.popleft()
        self._final_octets -= len(msg.short_message)
        return msg

    def _forget(self, msg: Message) -> None:
        """``msg`` leaves memory, unless its id now names another message (given again after a wrap)."""
        message_id = msg.message_id
        if self.messages.get(message_id) is not msg:
            return
        state = msg.state
        if state <= 1 or state == 7:  # not final (Message.is_final, written out)
            return
        del self.messages[message_id]
        if msg.multi_id:
            members = self.groups.get(msg.multi_id)
            if members is not None:
                if message_id in members:
                    members.remove(message_id)
                if not members:
                    del self.groups[msg.multi_id]

    def prune(self, cutoff: float) -> None:
        """Forget final messages that reached their final state before ``cutoff`` (simulation seconds)."""
        final = self._final
        messages = self.messages
        while final:
            msg = final[0]
            if (msg.final_time is not None and msg.final_time >= cutoff
                    and messages.get(msg.message_id) is msg):
                break
            self._forget(self._pop_final())

    def oldest_finals(self, n: int) -> Iterator[Message]:
        """Up to ``n`` of the least recently finalised messages kept, oldest first, as the caller asks for them
        (it must not change the index before it has done).  Entries at the head of the list whose id has been
        given again since (:meth:`forget_id`) are dropped first; further ones are passed over, ``n`` at most
        (so no more than ``2 * n`` entries beyond the head are looked at)."""
        final = self._final
        messages = self.messages
        while final and messages.get(final[0].message_id) is not final[0]:
            self._pop_final()
        found = 0
        for msg in islice(final, 2 * n):
            if messages.get(msg.message_id) is msg:
                yield msg
                found += 1
                if found >= n:
                    return

    def forget_id(self, message_id: str) -> list[str]:
        """``message_id`` is given to a new message (after a message_id wrap): the final records it names leave
        the index, the message of that id and, when it was a submit_multi's id, its destinations, so that no
        lookup (query_sm, cancel_sm, replace_sm, the inspection API) finds them in place of the new message.
        Returns the ids of the destinations it named (the store deletes them too).  A record that is not
        final stays (the caller gives only ids whose records are all final)."""
        messages = self.messages
        msg = messages.get(message_id)
        if msg is not None and msg.is_final:
            del messages[message_id]
        members = self.groups.pop(message_id, None)
        if not members:
            return []
        for member in members:
            msg = messages.get(member)
            if msg is not None and msg.is_final:
                del messages[member]
        return members
