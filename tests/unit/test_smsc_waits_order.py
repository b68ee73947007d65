"""The order in which a handset gets the messages that waited for it: best priority_flag first, then submit
order, for its whole queue, whether the queue drains in a running SMSC or after a restart, and whatever is
replaced or submitted while it drains.

A real SQLite file whose commits and reads come back a loop tick later (``Ticks``, as the server's writer
and reader threads hand them back), on a FakeClock; the drain batches are made small so that a queue of a few
hundred drains in several of them.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_smsc_support import (
    ESME,
    INF,
    SENDER,
    START,
    Harness,
    MessageState,
    Ticks,
    carrier,
    make_config,
    rule,
)

from smsc.config import MessageIdFormat
from smsc.core import tracks, waits
from smsc.core.api import Address
from smsc.core.clock import FakeClock
from smsc.core.ids import IdPacker
from smsc.core.store.sqlite import SqliteStore
from smsc.smpp.constants import CommandStatus as S

OFF = "447700900500"  # absent until the control API switches it on
SWITCHED = "447700900100"  # on by itself: switched off by the control API in the first process only
CONFIG = make_config(carrier(rules=(rule(OFF, offline=INF),)), max_waiting=20_000)
RESUME_BATCH = 16


class Node:
    """One SMSC process on the SQLite file ``path``: its harness and its loop's ticks.  A restart reads the
    waiting messages back :data:`RESUME_BATCH` at a time (several batches for these queues)."""

    def __init__(self, path: Path, at: float) -> None:
        self.ticks = Ticks()
        self.h = Harness(CONFIG, store=SqliteStore(path, call_soon=self.ticks.call_soon), clock=FakeClock(at),
                         resume_batch=RESUME_BATCH)
        self.ticks.run()

    def submit(self, number: str, text: str, **fields: Any) -> str:
        """Submit and let its commit come back; the message_id."""
        replies: list[Any] = []
        self.h.smsc.submit(self.h.submission(number, text, registered_delivery=1, **fields), replies.append)
        self.ticks.run()
        assert len(replies) == 1 and replies[0].status == 0
        return replies[0].message_id

    def replace(self, message_id: str, text: str) -> int:
        """replace_sm of ``message_id`` with ``text``, its commit come back; the status."""
        replies: list[int] = []
        self.h.smsc.replace(ESME, message_id, Address(ton=1, npi=1, addr=SENDER), "", "", 1, text.encode(),
                            replies.append)
        self.ticks.run()
        assert len(replies) == 1
        return replies[0]

    def advance(self, seconds: float) -> None:
        self.h.advance(seconds)
        self.ticks.run()

    def delivered(self, expected: int, rounds: int = 400) -> list[str]:
        """message_ids of the receipts of delivered messages, in the order the handset got them, as an ESME
        takes them (bounded: at most ``rounds`` simulated seconds)."""
        got: list[str] = []
        for _ in range(rounds):
            self.ticks.run()
            got.extend(r.message_id for _, r in self.h.receipts() if r.stat == "DELIVRD")
            self.ticks.run()
            if len(got) >= expected:
                break
            self.advance(1.0)
        return got

    def first_receipts(self) -> list[str]:
        """Let the drain start: the delivered message_ids of the first receipts that come (bounded)."""
        for _ in range(20):
            self.advance(1.0)
            got = [r.message_id for _, r in self.h.receipts() if r.stat == "DELIVRD"]
            if got:
                return got
        raise AssertionError("no receipt in 20 simulated seconds")

    def stop(self) -> None:
        self.h.smsc.stop()
        self.ticks.run()
        self.h.store.close()


def fill(node: Node, number: str, count: int, every: int = 10) -> list[tuple[str, int]]:
    """``count`` messages to ``number``, every ``every``-th at priority_flag 1; (message_id, priority_flag) in
    submit order, once they wait for the handset on disk."""
    queued = []
    for i in range(count):
        priority = 1 if i % every == every - 1 else 0
        queued.append((node.submit(number, f"m{i}", priority_flag=priority), priority))
    node.advance(5.0)
    return queued


def promised(queued: list[tuple[str, int]]) -> list[str]:
    """The order the docs promise: best priority first, then submit order."""
    return [m for m, _ in sorted(queued, key=lambda q: -q[1])]  # (sorted is stable: submit order kept)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waits, "DRAIN_BATCH", 32)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 8)


@pytest.mark.parametrize("restart", [False, True])
@pytest.mark.parametrize("count", [60, 200])
def test_priority_messages_come_first_at_the_alert_across_every_drain_batch_with_or_without_a_restart(
        tmp_path: Path, small_batches: None, restart: bool, count: int) -> None:
    path = tmp_path / "s.sqlite"
    node = Node(path, START)
    queued = fill(node, OFF, count)
    assert node.h.smsc.index.evicted == count
    if restart:
        node.stop()
        node = Node(path, START + 60.0)
        assert node.h.smsc.index.evicted == count
    node.h.smsc.set_handset_online(OFF, True)
    assert node.delivered(count) == promised(queued)
    assert node.h.smsc.waiting_count() == 0 and node.h.smsc.machine.waits.draining == {}
    node.stop()


def test_a_restart_that_finds_the_handset_back_delivers_its_queue_priority_first(tmp_path: Path) -> None:
    """Found by a tester (F2): a handset switched off by the control API is on again after a restart (the switch
    lives in the process); its 200 messages were then attempted in submit order, the priority ones at
    positions 9, 19 ... 199 instead of 0-19."""
    path = tmp_path / "s.sqlite"
    node = Node(path, START)
    node.h.smsc.set_handset_online(SWITCHED, False)
    queued = fill(node, SWITCHED, 200)
    node.stop()

    node = Node(path, START + 60.0)
    assert node.delivered(200) == promised(queued)
    node.stop()


@pytest.mark.parametrize("restart", [False, True])
def test_a_message_replaced_while_its_number_drains_takes_the_place_of_its_new_submit_time(
        tmp_path: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch, restart: bool) -> None:
    """Found by a tester (F7): replace_sm gives the message a new submit time.  In a running SMSC it was attempted
    at once, ahead of the queue still on disk; after a restart it came back at its first place.  It now goes
    behind every message of its priority submitted before the replace, restart or not."""
    monkeypatch.setattr(waits, "DRAIN_BACKLOG", 10)  # the drain pauses until the ESME takes its receipts
    monkeypatch.setattr(waits, "DRAIN_READS", 1)
    path = tmp_path / "s.sqlite"
    node = Node(path, START)
    queued = fill(node, OFF, 150, every=1_000)  # all at priority 0
    ids = [m for m, _ in queued]
    node.h.smsc.set_handset_online(OFF, True)
    first = node.first_receipts()
    assert 0 < len(first) < 100 and OFF in node.h.smsc.machine.waits.draining
    replaced = ids[120]
    assert node.replace(replaced, "new text") == S.ESME_ROK
    if restart:
        node.stop()
        node = Node(path, START + 60.0)
        node.h.smsc.set_handset_online(OFF, True)  # (the switch lived in the stopped process)
    rest = [i for i in ids if i not in first and i != replaced]
    assert node.delivered(len(rest) + 1) == [*rest, replaced]
    assert node.h.smsc.message(replaced).short_message == b"new text"
    node.stop()


def test_messages_submitted_while_their_number_drains_wait_behind_the_older_ones_of_their_priority(
        tmp_path: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by a helper: a message submitted to a number whose handset is back, while older messages still wait
    on disk for their drain batch, was attempted at once.  Now it waits behind the older ones of its priority
    (and leaves memory once on disk, as they did); a priority one goes before the priority-0 ones still
    waiting."""
    monkeypatch.setattr(waits, "DRAIN_BACKLOG", 10)
    monkeypatch.setattr(waits, "DRAIN_READS", 1)
    node = Node(tmp_path / "s.sqlite", START)
    queued = fill(node, OFF, 150, every=1_000)
    ids = [m for m, _ in queued]
    node.h.smsc.set_handset_online(OFF, True)
    first = node.first_receipts()
    assert 0 < len(first) < 100 and OFF in node.h.smsc.machine.waits.draining
    late = node.submit(OFF, "late")
    urgent = node.submit(OFF, "urgent", priority_flag=1)
    evicted = node.h.smsc.machine.waits.draining[OFF].evicted
    on_disk = evicted.oldest(len(evicted))  # not yet read back for the drain when they came
    assert len(on_disk) > 20
    elsewhere = node.submit(SWITCHED, "elsewhere")  # the next commit: both left memory, as the older ones did
    index = node.h.smsc.index
    assert late not in index.tracks and urgent not in index.tracks
    assert index.evicted == len(ids) - len(first) + 2
    rest = [i for i in ids if i not in first]
    got = [i for i in node.delivered(len(rest) + 3) if i != elsewhere]
    assert sorted(got) == sorted([*rest, late, urgent])
    assert got[-1] == late  # behind every older message of its priority
    assert got.index(urgent) < min(got.index(i) for i in on_disk)  # before those still on disk when it came
    assert node.h.state(late) == MessageState.DELIVERED
    assert node.h.smsc.waiting_count() == 0 and node.h.smsc.machine.waits.draining == {}
    node.stop()


def test_evicted_ids_of_every_priority_cost_about_16_octets_each() -> None:
    packer = IdPacker(MessageIdFormat())
    ids = [packer.unpack(n) for n in range(100_000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = tracks.EvictedIds(packer)
        for n, message_id in enumerate(ids):
            kept.append(message_id, 1.0, n % 4)
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert used / len(ids) < 18
    assert kept.take(4) == [ids[3], ids[7], ids[11], ids[15]]  # priority 3 first, oldest first


def test_a_handset_back_again_before_its_drain_ended_gets_the_messages_that_failed_meanwhile_first(
        tmp_path: Path, small_batches: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handset went away again while its queue drained: the messages the drain attempted meanwhile waited
    again, and came after the ones the drain had not reached yet once it was back (one drain for both)."""
    monkeypatch.setattr(waits, "DRAIN_BACKLOG", 10)
    monkeypatch.setattr(waits, "DRAIN_READS", 1)
    monkeypatch.setattr(waits, "DRAIN_PAUSE", 0.75)  # (a paused drain looks again after 0.75 s: attempts fail in 1)
    node = Node(tmp_path / "s.sqlite", START)
    ids = [m for m, _ in fill(node, OFF, 150, every=1_000)]
    smsc = node.h.smsc
    smsc.set_handset_online(OFF, True)
    first = node.first_receipts()
    smsc.set_handset_online(OFF, False)
    for _ in range(40):  # until a batch of the drain found it absent (they wait for it again), none in flight
        node.advance(0.1)
        if OFF in smsc.machine.waits.absent and not smsc.stats.in_flight:
            break
    assert OFF in smsc.machine.waits.absent and not smsc.stats.in_flight
    assert smsc.machine.waits.draining[OFF].evicted
    smsc.set_handset_online(OFF, True)
    assert node.delivered(150 - len(first)) == [i for i in ids if i not in first]
    assert smsc.waiting_count() == 0 and smsc.machine.waits.draining == {}
    node.stop()


def test_a_message_submitted_while_the_few_messages_of_its_number_are_read_back_comes_after_them(
        tmp_path: Path) -> None:
    """A handset back with a few messages on disk has them read back with the other alerts of the loop turn;
    a message submitted to it before that read was back went first (its commit came back before the read)."""
    node = Node(tmp_path / "s.sqlite", START)
    queued = fill(node, OFF, 5, every=5)  # the last at priority 1
    assert node.h.smsc.index.evicted == 5
    node.h.smsc.set_handset_online(OFF, True)  # the read back is asked for: it comes at the end of the tick
    replies: list[Any] = []
    node.h.smsc.submit(node.h.submission(OFF, "late", registered_delivery=1), replies.append)
    node.ticks.run()
    assert [r.status for r in replies] == [0]
    assert node.delivered(6) == [*promised(queued), replies[0].message_id]
    assert node.h.smsc.machine.waits.draining == {}
    node.stop()


def _random_latency_world() -> Harness:
    """A carrier whose every attempt draws its latency from 0.1-5 s (seed fixed): without a turn per handset,
    messages attempted together reach it in the order of their draws."""
    import dataclasses

    from smsc.config import Distribution

    spread = dataclasses.replace(carrier(), latency=Distribution(kind="uniform", low=0.1, high=5.0))
    return Harness(make_config(spread), seed=3)


def _delivered_order(h: Harness, ids: list[str]) -> list[int]:
    times = {message_id: h.smsc.message(message_id).final_time for message_id in ids}  # type: ignore[union-attr]
    assert all(t is not None for t in times.values())
    return sorted(range(len(ids)), key=lambda i: (times[ids[i]], i))


def test_messages_that_waited_reach_the_handset_in_submit_order_whatever_their_latency_draws() -> None:
    # Tester 31: six messages that waited for a switched-off handset reached it as 1, 0, 3, 2, 5, 4.
    h = _random_latency_world()
    number = "447700900952"
    h.smsc.set_handset_online(number, False)
    ids = [h.submit_ok(number, f"order {n}", registered_delivery=1) for n in range(6)]
    h.advance(30.0)
    assert all(h.state(i) == MessageState.ENROUTE for i in ids)
    h.smsc.set_handset_online(number, True)
    h.advance(60.0)
    assert all(h.state(i) == MessageState.DELIVERED for i in ids)
    assert _delivered_order(h, ids) == list(range(6))
    receipts = [r.message_id for _, r in h.receipts()]
    assert receipts == ids


def test_messages_to_one_online_handset_reach_it_in_submit_order_and_other_handsets_are_not_held_up() -> None:
    h = _random_latency_world()
    ids = [h.submit_ok("447700900960", f"order {n}") for n in range(8)]
    other = h.submit_ok("447700900961", "elsewhere")
    h.advance(60.0)
    assert _delivered_order(h, ids) == list(range(8))
    # The other handset's message took its own latency draw, not the first handset's turn.
    last_of_first = max(h.smsc.message(i).final_time for i in ids)  # type: ignore[union-attr, type-var]
    assert h.smsc.message(other).final_time < last_of_first  # type: ignore[union-attr, operator]


def test_many_numbers_awaiting_an_outcome_do_not_make_each_attempt_rebuild_the_turn_map(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tester 35: past 65,536 numbers awaiting an outcome (a long latency under load) each attempt to a new number
    # rebuilt the whole map: 55,000 submit_sm/s fell to 300-500.  Here with a bound of 8 and 200 numbers.
    import dataclasses

    from smsc.config import Distribution
    from smsc.core import attempts

    monkeypatch.setattr(attempts, "BUSY_NUMBERS_MAX", 8)
    slow = dataclasses.replace(carrier(), latency=Distribution(kind="uniform", low=100.0, high=120.0))
    h = Harness(make_config(slow), seed=3)
    machine = h.smsc.machine
    rebuilds = 0
    sizes: list[int] = []
    for n in range(200):
        before = machine._busy_until
        h.submit_ok(f"4477009{n:05d}", "slow")
        if machine._busy_until is not before:
            rebuilds += 1
            sizes.append(len(machine._busy_until))
    assert len(machine._busy_until) == 200
    assert rebuilds <= 6, sizes  # 8, 16, 32, 64, 128: doubling, not one per number
    h.advance(200.0)
    assert h.smsc.stats.delivered == 200
