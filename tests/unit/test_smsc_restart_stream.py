"""Restart with a queue of waiting messages on a real SQLite file: the store hands them back a batch at a time
(``iter_waiting``), and the ones that go on waiting for an absent handset leave memory at once, as they would
have in the running SMSC once durable.  Every message is still found, rescheduled, and delivered or expired
with its receipt exactly once."""

from __future__ import annotations

import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_smsc_support import INF, START, Harness, MessageState, Ticks, carrier, make_config, rule

from smsc.core.clock import FakeClock
from smsc.core.message import Message
from smsc.core.store.memory import MemoryStore
from smsc.core.store.sqlite import SqliteStore

OFF = [f"4477009005{i:02d}" for i in range(5)]  # handsets that never come back by themselves
BUSY = "447700900600"
BACK = "447700900700"  # switched off in the first process only: online again after the restart
OK = "447700900100"

CONFIG = make_config(
    carrier(rules=(*(rule(n, offline=INF) for n in OFF), rule(BUSY, cause="busy")), retry=(600.0,)),
    max_waiting=20_000,
)
PER_NUMBER = 400  # more than waits.ALERT_READ_BACK: the numbers drain batch by batch when they come back
RESUME_BATCH = 128


def fill(path: Path, numbers: list[str], per_number: int, **fields: Any) -> dict[str, list[str]]:
    """A first SMSC queues ``per_number`` messages for each of ``numbers`` (whose handsets are absent), then
    stops; returns the message_ids per number, in submit order."""
    first = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START))
    ids: dict[str, list[str]] = {n: [] for n in numbers}
    for i in range(per_number):
        for number in numbers:
            ids[number].append(first.submit_ok(number, f"m{i}", registered_delivery=1, **fields))
    first.advance(5.0)
    assert first.smsc.waiting_count() == len(numbers) * per_number
    first.smsc.stop()
    first.store.close()
    return ids


def restart(path: Path, at: float, ticks: Ticks | None = None, **options: Any) -> Harness:
    store = SqliteStore(path, call_soon=ticks.call_soon) if ticks is not None else SqliteStore(path)
    return Harness(CONFIG, store=store, clock=FakeClock(at), resume_batch=options.pop("resume_batch", RESUME_BATCH),
                   **options)


def drain(h: Harness, ticks: Ticks, rounds: int = 60) -> list[Any]:
    """Let simulation time pass and the store's reads come back; every receipt taken (and acknowledged)."""
    receipts: list[Any] = []
    for _ in range(rounds):
        h.advance(2.0)
        ticks.run()
        receipts.extend(r for _, r in h.receipts())
        ticks.run()
    return receipts


def test_restart_streams_waiting_messages_evicts_them_at_once_and_delivers_each_once(tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    ids = fill(path, OFF, PER_NUMBER)
    every_id = [i for number in OFF for i in ids[number]]

    ticks = Ticks()
    h = restart(path, START + 60.0, ticks)  # nothing the store queued has run yet: no commit came back
    smsc = h.smsc
    index = smsc.index
    assert smsc.waiting_count() == len(every_id) == smsc.stats.waiting
    assert index.evicted == len(every_id)
    assert not index.tracks
    assert not any(i in index.messages for i in every_id)  # no records in memory, only ids in the waits
    for number in OFF:
        wait = smsc.machine.absent[number]
        assert not wait.members
        assert wait.evicted.newest(PER_NUMBER) == ids[number][::-1]  # in submit order
        assert wait.expiry_timer is not None and wait.expiry_at == min(
            smsc.message(i).expiry_time for i in ids[number][:3])

    for message_id in (every_id[0], every_id[len(every_id) // 2], every_id[-1]):
        msg = smsc.message(message_id)  # read back from the file for the inspection API
        assert msg is not None and msg.state == MessageState.ENROUTE
        assert h.query(message_id).message_state == MessageState.ENROUTE
    assert index.evicted == len(every_id)  # reading does not bring them back

    ticks.run()
    for number in OFF:
        smsc.set_handset_online(number, True)
    receipts = drain(h, ticks)
    counts = Counter(r.message_id for r in receipts)
    assert counts == Counter({i: 1 for i in every_id})  # every message, its receipt exactly once
    assert all(r.stat == "DELIVRD" for r in receipts)
    assert smsc.waiting_count() == 0 and index.evicted == 0
    assert all(h.state(i) == MessageState.DELIVERED for i in every_id[::97])
    h.store.close()


def test_restart_expires_at_once_what_expired_while_down_and_the_rest_at_its_validity_end(
        tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    short = fill(path, OFF[:2], 150, validity_period="000000003000000R")  # 30 minutes
    first = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START + 10.0))
    long = {n: [first.submit_ok(n, f"l{i}", registered_delivery=1, validity_period="000000020000000R")
                for i in range(150)] for n in OFF[2:4]}  # 2 hours
    first.advance(5.0)
    first.store.close()
    short_ids = [i for n in short for i in short[n]]
    long_ids = [i for n in long for i in long[n]]

    h = restart(path, START + 2400.0, resume_batch=64)  # 40 minutes later
    smsc = h.smsc
    expired = h.receipts()
    assert Counter(r.message_id for _, r in expired) == Counter({i: 1 for i in short_ids})
    assert all(r.stat == "EXPIRED" for _, r in expired)
    # expired at once, each dated the end of its validity (while the server was down), not the restart's time
    assert all(smsc.message(i).final_time == smsc.message(i).expiry_time < START + 2400.0 for i in short_ids)
    assert smsc.waiting_count() == len(long_ids) == smsc.index.evicted  # still waiting, on disk only

    h.advance(7200.0)
    later = h.receipts()
    assert Counter(r.message_id for _, r in later) == Counter({i: 1 for i in long_ids})
    assert all(r.stat == "EXPIRED" for _, r in later)
    assert {smsc.message(i).final_time for i in long_ids} == {START + 10.0 + 7200.0}
    assert smsc.waiting_count() == 0
    h.store.close()


def test_restart_attempts_messages_for_handsets_now_online_and_keeps_retry_and_schedule_times(
        tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    first = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START))
    first.smsc.set_handset_online(BACK, False)  # a control-API switch lives in the process, not the file
    back, busy, off, scheduled = [], [], [], []
    for i in range(6):
        back.append(first.submit_ok(BACK, f"b{i}", registered_delivery=1))
        busy.append(first.submit_ok(BUSY, f"r{i}", registered_delivery=1))
        off.append(first.submit_ok(OFF[0], f"o{i}", registered_delivery=1))
        scheduled.append(first.submit_ok(OK, f"s{i}", registered_delivery=1,
                                         schedule_delivery_time="000000010000000R"))  # in one hour
    first.advance(5.0)
    assert {first.smsc.message(i).next_attempt_time for i in busy} == {START + 1.0 + 600.0}
    first.store.close()

    h = restart(path, START + 100.0, resume_batch=5)  # several batches, each with a mix
    smsc = h.smsc
    assert set(smsc.index.tracks) == {*back, *busy, *scheduled}  # the ones still absent left memory at once
    assert smsc.index.evicted == len(off)
    assert all(smsc.index.tracks[i].phase == "inflight" for i in back)  # attempted at start
    assert all(smsc.index.tracks[i].phase == "retry" for i in busy)
    assert all(smsc.index.tracks[i].phase == "scheduled" for i in scheduled)

    h.advance(10.0)
    assert [r.message_id for _, r in h.receipts()] == back  # delivered, in submit order
    assert all(h.attempts(i) == [(1.0, "absent"), (102.0, "delivered")] for i in back)
    h.advance(600.0)
    # retried at its retry time (601 s, outcome a second later), not at the restart
    assert all(h.attempts(i)[:2] == [(1.0, "temporary"), (602.0, "temporary")] for i in busy)
    h.advance(3600.0)
    assert all(h.attempts(i) == [(3600.0 + 2.0, "delivered")] for i in scheduled)
    assert all(h.state(i) == MessageState.ENROUTE for i in off)
    assert Counter(r.message_id for _, r in h.receipts()) == Counter({i: 1 for i in scheduled})
    h.store.close()


def test_restart_holds_about_one_batch_of_waiting_records_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    fill(path, OFF, 600)

    def peak_of_restart(resume_batch: int) -> int:
        tracemalloc.start()
        try:
            h = restart(path, START + 60.0, resume_batch=resume_batch)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert h.smsc.index.evicted == 3000 and not h.smsc.index.tracks
        h.store.close()
        return peak

    streamed = peak_of_restart(100)
    all_at_once = peak_of_restart(3000)
    assert streamed * 4 < all_at_once


def test_store_hands_back_waiting_messages_in_batches_in_the_order_they_were_saved(tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    ids = fill(path, OFF[:1], 10)[OFF[0]]
    h = restart(path, START + 60.0, resume_batch=3)
    delivered = h.submit_ok(OK)
    h.advance(5.0)
    assert h.state(delivered) == MessageState.DELIVERED
    h.store.close()

    sqlite_store = SqliteStore(path)
    memory_store = MemoryStore()
    for msg in sqlite_store.load().messages:
        memory_store.save_message(msg)
    for store in (sqlite_store, memory_store):
        batches: list[list[Message]] = list(store.iter_waiting(4))
        assert [len(b) for b in batches] == [4, 4, 2]
        assert [m.message_id for b in batches for m in b] == ids
        assert [m.message_id for m in store.load(waiting=False).messages] == [delivered]
        assert [m.message_id for m in store.load(max_final=0, waiting=False).messages] == []
        with pytest.raises(ValueError):
            store.iter_waiting(0)
    sqlite_store.close()


def test_restart_on_the_memory_store_resumes_through_the_same_batches_and_keeps_the_records(
        tmp_path: Path) -> None:
    store = MemoryStore()
    first = Harness(CONFIG, store=store, clock=FakeClock(START))
    ids = [first.submit_ok(OFF[0], f"m{i}", registered_delivery=1) for i in range(10)]
    first.advance(5.0)

    h = Harness(CONFIG, store=store, clock=FakeClock(START + 60.0), resume_batch=3)
    index = h.smsc.index
    assert index.evicted == 10 and not index.tracks
    assert all(index.messages[i].state == MessageState.ENROUTE for i in ids)  # the memory store keeps records
    h.smsc.set_handset_online(OFF[0], True)
    h.advance(5.0)
    assert [r.message_id for _, r in h.receipts()] == ids
