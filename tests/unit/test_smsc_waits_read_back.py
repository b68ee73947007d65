"""What the core reads back from a real SQLite file for messages evicted while they wait for an absent handset:
an expiry reads back the messages that are due, not their number's whole queue (while the number waits, while
it drains, and after a restart), whatever the others' validity ends; a cancel_sm or replace_sm naming one
message reads back that message, and a draining number keeps its order for the others."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.unit.test_smsc_support import (
    INF,
    START,
    Harness,
    MessageState,
    Ticks,
    carrier,
    make_config,
    rule,
)

from smsc.core import waits
from smsc.core.clock import FakeClock
from smsc.core.message import Message
from smsc.core.store.sqlite import SqliteStore
from smsc.smpp.constants import CommandStatus as S

OFF = "447700900300"
OFF_2 = "447700900301"
CONFIG = make_config(carrier(rules=(rule(OFF, offline=INF), rule(OFF_2, offline=INF))), max_waiting=10_000)


class Reads:
    """The real SQLite store, with every message_id the core asks it to read back recorded (``load_messages``
    and ``load_messages_later``), in the order asked."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.ids: list[str] = []
        load: Callable[[list[str]], list[Message]] = store.load_messages
        load_later: Callable[[list[str], Callable[[list[Message]], None]], None] = store.load_messages_later

        def counted_load(message_ids: list[str]) -> list[Message]:
            self.ids.extend(message_ids)
            return load(message_ids)

        def counted_load_later(message_ids: list[str], callback: Callable[[list[Message]], None]) -> None:
            self.ids.extend(message_ids)
            load_later(message_ids, callback)

        store.load_messages = counted_load  # type: ignore[method-assign]
        store.load_messages_later = counted_load_later  # type: ignore[method-assign]

    def take(self) -> list[str]:
        """The ids read back since the last call."""
        ids, self.ids = self.ids, []
        return ids


def sqlite_harness(path: Path, at: float = START, **options: Any) -> tuple[Harness, Reads]:
    store = SqliteStore(path)
    reads = Reads(store)  # before the core is built: it keeps the store's bound methods
    return Harness(CONFIG, store=store, clock=FakeClock(at), **options), reads


def validity(seconds: int) -> str:
    """A relative validity_period (SMPP 3.4 section 7.1.1) of ``seconds`` (under an hour)."""
    return f"00000000{seconds // 60:02d}{seconds % 60:02d}000R"


def test_one_message_expiring_among_many_evicted_reads_back_only_itself(tmp_path: Path) -> None:
    h, reads = sqlite_harness(tmp_path / "s.sqlite")
    long = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(30)]  # default validity: 2 days
    short = h.submit_ok(OFF, "short", registered_delivery=1, validity_period=validity(120))
    more = [h.submit_ok(OFF, f"n{i}", registered_delivery=1) for i in range(10)]
    h.advance(60.0)
    assert h.smsc.index.evicted == 41 and not h.smsc.index.tracks
    reads.take()
    h.advance(61.0)
    assert reads.take() == [short]
    assert h.smsc.index.evicted == 40 and h.smsc.waiting_count() == 40
    assert [(r.message_id, r.stat) for _, r in h.receipts()] == [(short, "EXPIRED")]
    assert h.state(short) == MessageState.EXPIRED
    wait = h.smsc.machine.absent[OFF]
    assert wait.expiry_at == START + 172_800.0  # armed again for the earliest validity end left
    h.smsc.set_handset_online(OFF, True)
    h.advance(5.0)
    assert [r.message_id for _, r in h.receipts()] == long + more
    h.store.close()


def test_messages_expiring_one_by_one_are_each_read_back_alone_at_their_own_validity_end(tmp_path: Path) -> None:
    h, reads = sqlite_harness(tmp_path / "s.sqlite")
    ends = [300, 200, 400, 250]  # not in submit order
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1, validity_period=validity(s)) for i, s in enumerate(ends)]
    keep = h.submit_ok(OFF, "kept", registered_delivery=1)
    h.advance(60.0)
    assert h.smsc.index.evicted == 5
    reads.take()
    for end, message_id in sorted(zip(ends, ids)):
        h.advance(START + end - 0.5 - h.clock.now())  # just before the validity end: nothing yet
        assert reads.take() == []
        h.advance(0.5)
        assert reads.take() == [message_id]
        assert [r.message_id for _, r in h.receipts()] == [message_id]
    assert h.smsc.index.evicted == 1 and h.smsc.waiting_count() == 1
    assert h.state(keep) == MessageState.ENROUTE
    h.store.close()


def test_an_expiry_while_the_number_drains_reads_back_only_what_is_due(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waits, "DRAIN_BATCH", 5)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 0)
    monkeypatch.setattr(waits, "DRAIN_BACKLOG", 3)  # the drain pauses until the ESME takes its receipts
    h, reads = sqlite_harness(tmp_path / "s.sqlite")
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(20)]
    short = h.submit_ok(OFF, "short", registered_delivery=1, validity_period=validity(120))
    ids += [h.submit_ok(OFF, f"n{i}", registered_delivery=1) for i in range(10)]
    h.advance(60.0)
    assert h.smsc.index.evicted == 31
    h.smsc.set_handset_online(OFF, True)
    h.advance(30.0)
    assert OFF in h.smsc.machine.waits.draining  # paused: receipts wait for the ESME
    drained = reads.take()
    assert short not in drained
    h.advance(31.0)
    assert reads.take() == [short]
    assert h.state(short) == MessageState.EXPIRED
    receipts: list[Any] = []
    for _ in range(100):  # bounded: the ESME takes receipts, the drain goes on
        receipts.extend(r for _, r in h.receipts())
        h.advance(1.0)
        if len(receipts) == 31:
            break
    assert sorted(r.message_id for r in receipts) == sorted([*ids, short])
    assert [r.message_id for r in receipts if r.stat == "DELIVRD"] == ids
    assert h.smsc.waiting_count() == 0 and h.smsc.index.evicted == 0
    h.store.close()


def test_after_a_restart_an_expiry_reads_back_only_the_messages_due(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    first, _ = sqlite_harness(path)
    long = [first.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(40)]
    short = [first.submit_ok(OFF, f"s{i}", registered_delivery=1, validity_period=validity(600)) for i in range(3)]
    first.advance(5.0)
    first.smsc.stop()
    first.store.close()

    h, reads = sqlite_harness(path, START + 60.0, resume_batch=16)
    assert h.smsc.index.evicted == 43 and not h.smsc.index.tracks  # resumed and evicted at once
    assert reads.take() == []
    h.advance(539.0)
    assert reads.take() == []
    h.advance(2.0)
    assert reads.take() == short
    assert sorted(r.message_id for _, r in h.receipts()) == sorted(short)
    assert h.smsc.index.evicted == 40
    h.smsc.set_handset_online(OFF, True)
    h.advance(5.0)
    assert [r.message_id for _, r in h.receipts()] == long
    h.store.close()


def delivered(receipts: list[Any]) -> list[str]:
    return [r.message_id for r in receipts if r.stat == "DELIVRD"]


def take_all(h: Harness, expected: int) -> list[Any]:
    """Receipts as an ESME takes them while the drain goes on (bounded: at most 100 simulated seconds)."""
    receipts: list[Any] = []
    for _ in range(100):
        receipts.extend(r for _, r in h.receipts())
        if len(receipts) >= expected:
            break
        h.advance(1.0)
    return receipts


def test_cancel_or_replace_of_one_evicted_message_reads_back_only_that_message(tmp_path: Path) -> None:
    h, reads = sqlite_harness(tmp_path / "s.sqlite")
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(30)]
    h.advance(5.0)
    assert h.smsc.index.evicted == 30
    reads.take()
    assert h.cancel(ids[5]) == S.ESME_ROK
    assert reads.take() == [ids[5]]
    assert h.smsc.index.evicted == 29
    assert h.replace(ids[7], "new text") == S.ESME_ROK
    assert reads.take() == [ids[7]]
    assert h.cancel(ids[9], destination=OFF_2) == S.ESME_RCANCELFAIL  # read back, not cancelled: waits again
    assert reads.take() == [ids[9]]
    h.submit_ok(OFF_2, "another")  # the next commit: what was read back and still waits leaves memory again
    h.advance(5.0)
    assert h.smsc.index.evicted == 29 + 1 and not h.smsc.index.tracks
    assert h.state(ids[5]) == MessageState.DELETED
    h.smsc.set_handset_online(OFF, True)
    h.advance(5.0)
    kept = [i for i in ids if i not in (ids[5], ids[7])]
    assert sorted(delivered([r for _, r in h.receipts()])) == sorted([*kept, ids[7]])
    assert h.smsc.message(ids[7]).short_message == b"new text"
    h.store.close()


def test_cancel_or_replace_of_one_message_of_a_draining_number_reads_back_only_that_message(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waits, "DRAIN_BATCH", 5)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 0)
    monkeypatch.setattr(waits, "DRAIN_BACKLOG", 3)  # the drain pauses until the ESME takes its receipts
    h, reads = sqlite_harness(tmp_path / "s.sqlite")
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(30)]
    h.advance(5.0)
    h.smsc.set_handset_online(OFF, True)
    h.advance(5.0)
    assert OFF in h.smsc.machine.waits.draining
    reads.take()
    assert h.cancel(ids[25]) == S.ESME_ROK  # not attempted on the way: still cancellable
    assert reads.take() == [ids[25]]
    assert h.state(ids[25]) == MessageState.DELETED
    assert h.replace(ids[20], "new text") == S.ESME_ROK
    assert reads.take() == [ids[20]]
    assert h.cancel(ids[15], destination=OFF_2) == S.ESME_RCANCELFAIL  # read back, left for its turn
    assert reads.take() == [ids[15]]
    receipts = take_all(h, 29)
    assert sorted(delivered(receipts)) == sorted(i for i in ids if i != ids[25])
    assert [i for i in delivered(receipts) if i != ids[20]] == [i for i in ids if i not in (ids[20], ids[25])]
    assert h.smsc.message(ids[20]).short_message == b"new text"
    assert h.smsc.waiting_count() == 0 and h.smsc.machine.waits.draining == {}
    h.store.close()


def test_cancel_by_destination_while_the_number_drains_cancels_every_message_not_yet_attempted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waits, "DRAIN_BATCH", 5)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 0)
    monkeypatch.setattr(waits, "DRAIN_BACKLOG", 3)
    h, _ = sqlite_harness(tmp_path / "s.sqlite")
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(30)]
    h.advance(5.0)
    h.smsc.set_handset_online(OFF, True)
    h.advance(5.0)
    assert OFF in h.smsc.machine.waits.draining
    attempted = [i for i in ids if h.smsc.message(i).state == MessageState.DELIVERED]
    assert 0 < len(attempted) < 30
    assert h.cancel(destination=OFF) == S.ESME_ROK  # read back and held, not attempted all at once
    left = ids[len(attempted):]
    assert [h.state(i) for i in left] == [MessageState.DELETED] * len(left)
    assert delivered(take_all(h, len(attempted))) == attempted
    h.advance(5.0)
    assert h.smsc.waiting_count() == 0 and h.smsc.machine.waits.draining == {}
    h.store.close()


def test_a_handset_gets_its_queue_in_submit_order_when_the_newest_were_never_evicted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a tester: the messages still in memory when the handset came back (joined after the last
    commit) were attempted at once, before the older evicted ones drained after: [19, 0, 1, ...]."""
    monkeypatch.setattr(waits, "DRAIN_BATCH", 4)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 3)
    ticks = Ticks()  # the store hands commits back a loop tick later, as the server's writer does
    store = SqliteStore(tmp_path / "s.sqlite", call_soon=ticks.call_soon)
    h = Harness(CONFIG, store=store, clock=FakeClock(START))
    ticks.run()
    replies: list[Any] = []
    for i in range(20):  # one at a time: each submit's commit evicts the one that joined before it
        h.smsc.submit(h.submission(OFF, f"m{i}", registered_delivery=1), replies.append)
        ticks.run()
        h.advance(1.0)
        ticks.run()
    ids = [r.message_id for r in replies]
    wait = h.smsc.machine.absent[OFF]
    assert list(wait.members) == [ids[-1]] and len(wait.evicted) == 19
    h.smsc.set_handset_online(OFF, True)
    receipts: list[Any] = []
    for _ in range(60):
        ticks.run()
        receipts.extend(r for _, r in h.receipts())
        ticks.run()
        if len(receipts) == 20:
            break
        h.advance(1.0)
    assert delivered(receipts) == ids
    assert h.smsc.waiting_count() == 0 and h.smsc.machine.waits.draining == {}
    store.close()


def test_a_priority_message_in_memory_still_goes_before_the_drain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waits, "DRAIN_BATCH", 4)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 3)
    ticks = Ticks()
    store = SqliteStore(tmp_path / "s.sqlite", call_soon=ticks.call_soon)
    h = Harness(CONFIG, store=store, clock=FakeClock(START))
    ticks.run()
    replies: list[Any] = []
    for i in range(10):
        h.smsc.submit(h.submission(OFF, f"m{i}", registered_delivery=1), replies.append)
        ticks.run()
        h.advance(1.0)
        ticks.run()
    h.smsc.submit(h.submission(OFF, "urgent", registered_delivery=1, priority_flag=1), replies.append)
    ticks.run()  # on disk: attempted (a priority message tries even when the handset is known absent)
    h.advance(1.0)  # found absent: joins the wait; the commit that would evict it has not come back
    wait = h.smsc.machine.absent[OFF]
    urgent = replies[-1].message_id
    assert urgent in wait.members and len(wait.evicted) >= 4
    h.smsc.set_handset_online(OFF, True)
    receipts: list[Any] = []
    for _ in range(60):
        ticks.run()
        receipts.extend(r for _, r in h.receipts())
        ticks.run()
        if len(receipts) == 11:
            break
        h.advance(1.0)
    assert delivered(receipts) == [urgent, *(r.message_id for r in replies[:10])]
    store.close()


def test_a_message_held_for_its_turn_in_a_drain_expires_at_its_validity_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waits, "DRAIN_BATCH", 5)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 0)
    monkeypatch.setattr(waits, "DRAIN_BACKLOG", 3)  # the drain pauses until the ESME takes its receipts
    h, reads = sqlite_harness(tmp_path / "s.sqlite")
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(20)]
    short = h.submit_ok(OFF, "short", registered_delivery=1, validity_period=validity(120))
    h.advance(60.0)
    h.smsc.set_handset_online(OFF, True)
    h.advance(5.0)
    assert h.cancel(short, destination=OFF_2) == S.ESME_RCANCELFAIL  # read back: held for its turn
    assert h.smsc.index.tracks[short].phase == "held"
    reads.take()
    h.advance(60.0)
    assert h.state(short) == MessageState.EXPIRED
    assert reads.take() == []  # it was in memory: the expiry read nothing back
    receipts = take_all(h, 21)
    assert [r.message_id for r in receipts if r.stat == "EXPIRED"] == [short]
    assert delivered(receipts) == ids
    assert h.smsc.waiting_count() == 0 and h.smsc.machine.waits.draining == {}
    h.store.close()


def test_a_listing_by_destination_reads_back_that_number_whatever_the_others(tmp_path: Path) -> None:
    """Tester 51: GET /api/messages?destination= read back the newest evicted messages of the numbers that went
    absent last (4 x limit in all) and filtered those, so a message to a number absent before 450 others was
    not listed at the default limit; the listing by destination reads that number's own."""
    config = make_config(carrier(rules=(rule(prefixes=("4477009004",), offline=INF),)), max_waiting=10_000)
    h = Harness(config, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    first = h.submit_ok("447700900400", "the first number")
    for i in range(1, 30):
        h.submit_ok(f"4477009004{i:02d}", f"number {i}")
    h.advance(60.0)
    assert h.smsc.index.evicted == 30 and not h.smsc.index.tracks
    assert [m.message_id for m in h.smsc.messages(limit=1, destination="447700900400")] == [first]
    assert h.smsc.messages(limit=1, destination="447700900499") == []
    # Tester 53: with a source (or system_id) as well, past the newest ``limit`` of that number's own.
    older = h.submit_ok("447700900401", "from another sender", source="SRC9")
    for i in range(20):
        h.submit_ok("447700900401", f"newer {i}", source="SRC8")
    h.advance(60.0)
    assert [m.message_id for m in h.smsc.messages(limit=1, destination="447700900401", source="SRC9")] == [older]
    # Tester 54: and without a destination, the sender's among every number's newer ones.
    assert [m.message_id for m in h.smsc.messages(limit=1, source="SRC9")] == [older]
    h.store.close()


def test_the_listing_stays_newest_first_when_waiting_messages_come_back_from_the_store(tmp_path: Path) -> None:
    """Tester 72: with SQLite, messages that waited (evicted) for an offline handset joined the index again at
    the end when read back for delivery, and the listing, walking the index from its end, put them before newer
    messages (``limit=1`` gave the oldest); after a restart it listed them in the order they became final."""
    path = tmp_path / "s.sqlite"
    h, _ = sqlite_harness(path)
    waited = [h.submit_ok(OFF, f"w{i}", registered_delivery=1) for i in range(3)]
    h.advance(60.0)
    assert h.smsc.index.evicted == 3
    later = [h.submit_ok("447700900150", f"n{i}", registered_delivery=1) for i in range(2)]
    h.advance(60.0)
    assert all(h.state(m) == MessageState.DELIVERED for m in later)
    h.smsc.set_handset_online(OFF, True)
    h.advance(5.0)
    assert all(h.state(m) == MessageState.DELIVERED for m in waited)
    newest_first = (waited + later)[::-1]
    assert [m.message_id for m in h.smsc.messages()] == newest_first
    assert [m.message_id for m in h.smsc.messages(limit=1)] == newest_first[:1]
    assert [m.message_id for m in h.smsc.messages(destination=OFF, limit=2)] == waited[::-1][:2]
    h.smsc.stop()
    h.store.close()

    again, _ = sqlite_harness(path, START + 200.0)
    assert [m.message_id for m in again.smsc.messages()] == newest_first
    assert [m.message_id for m in again.smsc.messages(limit=2)] == newest_first[:2]
    again.store.close()


#: Numbers 447700900400-499 never online (their messages wait, evicted to the store).
NEVER_ON = make_config(carrier(rules=(rule(prefixes=("4477009004",), offline=INF),)), max_waiting=10_000)


def _evicted_then_listed(tmp_path: Path, destinations: list[str], restart: bool) -> tuple[Harness, list[str]]:
    """One message to each of ``destinations`` (never online), a second apart, all evicted once waiting; then, with
    ``restart``, the same store opened by a new core.  Returns the core to list with and the ids in submit order."""
    path = tmp_path / "s.sqlite"
    h = Harness(NEVER_ON, store=SqliteStore(path), clock=FakeClock(START))
    ids = []
    for i, number in enumerate(destinations):
        ids.append(h.submit_ok(number, f"m{i}"))
        h.advance(1.0)
    h.advance(60.0)
    assert h.smsc.index.evicted == len(ids)
    if restart:
        h.smsc.stop()
        h.store.close()
        h = Harness(NEVER_ON, store=SqliteStore(path), clock=FakeClock(START + 2.0 * len(ids)))
        assert h.smsc.index.evicted == len(ids)
    return h, ids


@pytest.mark.parametrize("restart", [False, True])
def test_the_newest_message_is_listed_first_when_it_joined_a_number_absent_long_before(
        tmp_path: Path, restart: bool) -> None:
    """Tester 74: messages waited (evicted) on 10 absent numbers, then one more went to each of the first two; a
    listing read the newest ``limit`` of the numbers absent last, 4 x limit in all, and ``limit=1`` gave an older
    message than the newest (after a restart too, where the numbers come back in another order)."""
    numbers = [f"4477009004{i:02d}" for i in range(10)]
    h, ids = _evicted_then_listed(tmp_path, numbers + numbers[:2], restart)
    newest_first = ids[::-1]
    for limit in (1, 2, 3, 5, 12):
        assert [m.message_id for m in h.smsc.messages(limit=limit)] == newest_first[:limit], limit
    assert [m.message_id for m in h.smsc.messages(limit=1, state=MessageState.ENROUTE)] == newest_first[:1]
    h.store.close()


@pytest.mark.parametrize("restart", [False, True])
def test_the_newest_messages_are_listed_when_they_are_spread_over_many_absent_numbers(
        tmp_path: Path, restart: bool) -> None:
    """Tester 78: 20 absent numbers with 5 messages each, submitted in turn; the listing read numbers until it had
    read 4 x limit ids, and ``limit=5`` showed older messages than the 5 newest (with 2,000 numbers,
    ``limit=100`` missed 61 of the 100 newest)."""
    h, ids = _evicted_then_listed(tmp_path, [f"4477009004{i % 20:02d}" for i in range(100)], restart)
    newest_first = ids[::-1]
    for limit in (1, 5, 21, 100):
        assert [m.message_id for m in h.smsc.messages(limit=limit)] == newest_first[:limit], limit
    assert [m.message_id for m in h.smsc.messages(limit=3, destination="447700900401")] == \
        [ids[81], ids[61], ids[41]]
    h.store.close()


def test_a_message_that_joined_its_wait_after_a_newer_one_is_still_listed_in_submit_order(
        tmp_path: Path) -> None:
    """Tester 78: a message whose first attempt failed (busy) joined its number's wait only at its retry, after a
    newer message had joined another number's; ``limit=1`` (with a state or system_id filter too) missed the
    newer one."""
    from smsc.core.carrier import outcome_for

    config = make_config(carrier(outcomes=(outcome_for("busy"),)), max_waiting=10_000)
    h = Harness(config, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    older = h.submit_ok("447700900500", "busy first")  # busy: retried in 60 s
    h.advance(5.0)
    h.smsc.set_handset_online("447700900500", False)  # its retry finds the handset absent
    h.smsc.set_handset_online("447700900501", False)
    h.advance(5.0)
    newer = h.submit_ok("447700900501", "absent at once")
    h.advance(120.0)  # the older one joins its wait at its retry, after the newer one joined
    assert h.smsc.index.evicted == 2
    assert [m.message_id for m in h.smsc.messages(limit=1)] == [newer]
    assert [m.message_id for m in h.smsc.messages(limit=1, state=MessageState.ENROUTE)] == [newer]
    assert [m.message_id for m in h.smsc.messages(limit=1, system_id=h.smsc.message(older).system_id)] == [newer]
    assert [m.message_id for m in h.smsc.messages(limit=2)] == [newer, older]
    h.store.close()


def test_past_the_evictions_it_remembers_the_listing_still_finds_the_newest_of_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The waits remember the newest RECENT_EVICTED evictions; once the newest of those have left (delivered), the
    newest still waiting are older than all it remembers and are found number by number."""
    monkeypatch.setattr(waits, "RECENT_EVICTED", 4)
    h = Harness(NEVER_ON, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    ids = []
    for i in range(10):
        ids.append(h.submit_ok(f"4477009004{i:02d}", f"m{i}"))
        h.advance(1.0)
    h.advance(60.0)
    assert h.smsc.machine.waits.recent_floor > -float("inf")
    for i in range(6, 10):  # the 4 it remembers are delivered
        h.smsc.set_handset_online(f"4477009004{i:02d}", True)
    h.advance(10.0)
    assert all(h.state(m) == MessageState.DELIVERED for m in ids[6:])
    assert [m.message_id for m in h.smsc.messages(limit=3, state=MessageState.ENROUTE)] == [ids[5], ids[4], ids[3]]
    assert [m.message_id for m in h.smsc.messages(limit=6)] == ids[::-1][:6]
    h.store.close()


def test_past_the_remembered_evictions_the_newest_are_found_however_many_numbers_they_are_spread_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 82: once the remembered evictions had left (delivered), a ``state=ENROUTE&limit=10`` listing read the
    numbers' newest ``limit`` each, 4 x limit in all: 4 numbers, where the 10 newest waiting messages were on 10."""
    monkeypatch.setattr(waits, "RECENT_EVICTED", 1)
    h, ids = _evicted_then_listed(tmp_path, [f"4477009004{i % 20:02d}" for i in range(240)], restart=False)
    assert h.smsc.machine.waits.recent_floor > -float("inf")
    assert [m.message_id for m in h.smsc.messages(limit=10, state=MessageState.ENROUTE)] == ids[::-1][:10]
    h.store.close()


def test_past_the_remembered_evictions_a_number_evicted_into_earlier_is_not_passed_over(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 85: the numbers were walked in the order they last took an evicted message and the walk stopped at the
    first whose newest message was no newer than the listing's last.  That order is eviction order: B, the newest
    submit, failed fastest and was evicted first, so after the remembered evictions had left (cancelled),
    ``state=ENROUTE&limit=1`` gave an older message and B showed only with a larger limit."""
    monkeypatch.setattr(waits, "RECENT_EVICTED", 1)
    slow, fast, middle, bulk = "447700900401", "447700900402", "447700900403", "447700900404"
    config = make_config(carrier(rules=(
        rule(slow, offline=INF, latency=5.0), rule(fast, offline=INF, latency=0.1),
        rule(middle, offline=INF, latency=3.0), rule(bulk, offline=INF, latency=0.1),
    )), max_waiting=10_000)
    h = Harness(config, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    c = h.submit_ok(middle, "C")
    h.advance(0.3)
    a = [h.submit_ok(slow, f"A{i}") for i in range(3)]
    h.advance(0.3)
    b = h.submit_ok(fast, "B")  # the newest, evicted first
    h.advance(10.0)
    for i in range(5):
        h.submit_ok(bulk, f"bulk {i}")
    h.advance(10.0)
    assert h.smsc.index.evicted == 10 and h.smsc.machine.waits.recent_floor > -float("inf")
    assert h.cancel(destination=bulk) == 0  # the remembered evictions leave their wait
    h.advance(1.0)
    newest_first = [b, *a[::-1], c]
    for limit in (1, 2, 3, 5):
        listed = [m.message_id for m in h.smsc.messages(limit=limit, state=MessageState.ENROUTE)]
        assert listed == newest_first[:limit], limit
    h.store.close()


def test_past_the_remembered_evictions_a_number_whose_drain_is_held_back_is_still_listed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 89: the numbers draining were left out of the walk; while a drain was held back (a receiver's full
    outbox), the number's waiting messages, the newest among them, were missing from ``state=ENROUTE``."""
    monkeypatch.setattr(waits, "RECENT_EVICTED", 1)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 2)  # (more than that take their turns in the drain)
    older, back, bulk = "447700900401", "447700900402", "447700900403"
    h = Harness(NEVER_ON, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    o = h.submit_ok(older, "older")
    h.advance(1.0)
    b = [h.submit_ok(back, f"back {i}") for i in range(3)]
    h.advance(10.0)
    for i in range(5):
        h.submit_ok(bulk, f"bulk {i}")
    h.advance(10.0)
    assert h.cancel(destination=bulk) == 0  # the remembered evictions leave their wait
    h.smsc.machine.waits._backlog = lambda: 10**9  # the outbox is full: drains wait
    h.smsc.set_handset_online(back, True)
    h.advance(5.0)
    assert back in h.smsc.machine.waits.draining and all(h.state(m) == MessageState.ENROUTE for m in b)
    newest_first = [*b[::-1], o]
    for limit in (1, 2, 4):
        listed = [m.message_id for m in h.smsc.messages(limit=limit, state=MessageState.ENROUTE)]
        assert listed == newest_first[:limit], limit
    assert [m.message_id for m in h.smsc.messages(limit=5, destination=back)] == b[::-1]
    h.store.close()


def _damage_the_message_id_index(path: Path) -> None:
    """Overwrite one leaf page of the messages' primary-key index, past its header (SQLite's dbstat lists the
    pages), as tester 177 did: the file opens, and reads through that page fail "malformed"."""
    import random
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        leaves = [row[0] for row in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'sqlite_autoindex_messages_1' AND pagetype = 'leaf'")]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    assert len(leaves) > 2
    with open(path, "r+b") as f:
        f.seek((leaves[1] - 1) * page_size + 8)
        f.write(random.Random(1).randbytes(page_size - 100))


def test_a_read_that_finds_the_file_damaged_reports_it_as_a_commit_does(tmp_path: Path) -> None:
    """Tester 177: a leaf page of the message_id index damaged on disk, found by no start check: when the
    messages waiting for an absent handset fell due, each expiry's read back failed "malformed" for ever (a
    traceback a simulated second, health ok, no receipt, SIGTERM never let in at a fast clock).  A read that
    finds damage is reported as a commit's is (``on_damage``: the server stops, exit status 2), once; on the
    loop thread (``load_messages``) and from the reader thread (``load_messages_later``, a drain's reads)."""
    import asyncio

    path = tmp_path / "s.sqlite"
    store = SqliteStore(path)
    h = Harness(CONFIG, store=store, clock=FakeClock(START))
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(3000)]
    store.close()
    _damage_the_message_id_index(path)

    damaged = SqliteStore(path)  # (opens: the start reads no index page)
    found: list[str] = []
    damaged.on_damage = found.append
    try:
        assert len(damaged.load_messages(ids[:50])) == 50  # (pages that are whole still read)
        with pytest.raises(sqlite3.DatabaseError, match="malformed"):
            damaged.load_messages(ids)
        assert found == ["database disk image is malformed"] and damaged.damage == found[0]
        with pytest.raises(sqlite3.DatabaseError):
            damaged.load_messages(ids)
        assert len(found) == 1  # (said once)
    finally:
        damaged.close()

    async def drain_read() -> list[str]:
        loop = asyncio.get_running_loop()
        threaded = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
        seen: list[str] = []
        threaded.on_damage = seen.append
        try:
            threaded.load_messages_later(ids, lambda messages: None)
            for _ in range(200):  # (at most 10 s)
                if seen:
                    break
                await asyncio.sleep(0.05)
        finally:
            threaded.close()
        return seen

    assert asyncio.run(drain_read()) == ["database disk image is malformed"]
