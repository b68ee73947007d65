"""Waiting messages with the SQLite store grouping its work per loop tick (``call_soon``): the alerts of one
turn read their evicted messages back together, and every one of them is attempted and receipted."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.unit.test_smsc_support import INF, START, Harness, MessageState, Ticks, carrier, make_config, rule

import pytest

from smsc.core.clock import FakeClock
from smsc.core.store.sqlite import SqliteStore

NUMBERS = [f"4477009003{i:02d}" for i in range(6)]
CONFIG = make_config(carrier(rules=tuple(rule(n, offline=INF) for n in NUMBERS)), max_waiting=10_000)


def test_alerts_of_one_turn_share_one_read_and_every_waiting_message_is_delivered(tmp_path: Path) -> None:
    ticks = Ticks()
    store = SqliteStore(tmp_path / "s.sqlite", call_soon=ticks.call_soon)
    h = Harness(CONFIG, store=store, clock=FakeClock(START))
    ticks.run()
    replies: list[Any] = []
    for number in NUMBERS:
        for i in range(3):
            h.smsc.submit(h.submission(number, f"m{i}", registered_delivery=1, priority_flag=i % 2), replies.append)
    ticks.run()
    assert len(replies) == 18 and all(r.status == 0 for r in replies)
    for _ in range(3):
        h.advance(5.0)
        ticks.run()
    assert h.smsc.index.evicted == 18
    statements: list[str] = []
    assert store._inline is not None
    store._inline.set_trace_callback(statements.append)
    for number in NUMBERS:
        h.smsc.set_handset_online(number, True)
    assert h.smsc.waiting_count() == 18  # read back under way: still counted as waiting
    ticks.run()
    assert h.smsc.index.evicted == 0
    reads = [s for s in statements if s.startswith("SELECT")]
    assert len(reads) == 2  # 18 ids: one chunk of 16 and one of 2, for six numbers
    for _ in range(3):
        h.advance(5.0)
        ticks.run()
    receipts = h.take()
    ticks.run()
    assert len(receipts) == 18
    assert all(h.state(r.message_id) == MessageState.DELIVERED for r in replies)
    store.close()


def test_a_drain_read_that_fails_once_is_read_again_and_every_message_is_delivered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed read back (disk I/O error, database locked) used to give the drain an empty batch: its messages
    left the count of waiting ones but stayed ENROUTE on disk, never attempted until a restart."""
    ticks = Ticks()
    store = SqliteStore(tmp_path / "s.sqlite", call_soon=ticks.call_soon)
    h = Harness(CONFIG, store=store, clock=FakeClock(START))
    ticks.run()
    replies: list[Any] = []
    for i in range(5):
        h.smsc.submit(h.submission(NUMBERS[0], f"m{i}", registered_delivery=1), replies.append)
    ticks.run()
    for _ in range(3):
        h.advance(5.0)
        ticks.run()
    assert h.smsc.index.evicted == 5
    fetch = SqliteStore._fetch
    failed: list[int] = []

    def fails_once(conn: sqlite3.Connection, message_ids: list[str]) -> dict[str, tuple[Any, ...]]:
        if not failed:
            failed.append(len(message_ids))
            raise sqlite3.OperationalError("disk I/O error")
        return fetch(conn, message_ids)

    monkeypatch.setattr(SqliteStore, "_fetch", staticmethod(fails_once))
    h.smsc.set_handset_online(NUMBERS[0], True)
    ticks.run()
    for _ in range(3):
        h.advance(5.0)
        ticks.run()
    receipts = h.take()
    ticks.run()
    assert len(receipts) == 5 and h.smsc.waiting_count() == 0
    assert failed == [5] and store.stats.read_failures == 1
    assert all(h.state(r.message_id) == MessageState.DELIVERED for r in replies)
    store.close()


def test_reads_of_one_batch_each_get_their_own_messages_in_order(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    ticks = Ticks()
    store = SqliteStore(path, call_soon=ticks.call_soon)
    h = Harness(CONFIG, store=SqliteStore(tmp_path / "other.sqlite"), clock=FakeClock(START))
    for i in range(5):
        h.smsc.submit(h.submission(NUMBERS[0], f"m{i}"), lambda r: None)
    for message in h.smsc.index.messages.values():
        store.save_message(message)
    store.commit(lambda: None)
    ids = list(h.smsc.index.messages)
    got: list[list[Any]] = []
    store.load_messages_later([ids[3], ids[1], "missing"], got.append)
    store.load_messages_later([ids[1], ids[4]], got.append)
    ticks.run()
    assert [[m.message_id for m in ms] for ms in got] == [[ids[3], ids[1]], [ids[1], ids[4]]]
    assert got[0][1] is not got[1][0]  # one Message object per request: the core owns what it gets
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 5
    conn.close()


def test_waiting_messages_evicted_to_disk_are_listed(tmp_path: Path) -> None:
    ticks = Ticks()
    store = SqliteStore(tmp_path / "s.sqlite", call_soon=ticks.call_soon)
    h = Harness(CONFIG, store=store, clock=FakeClock(START))
    ticks.run()
    replies: list[Any] = []
    for i, number in enumerate(NUMBERS[:3]):
        h.advance(1.0)
        h.smsc.submit(h.submission(number, f"m{i}", registered_delivery=1), replies.append)
        ticks.run()
    for _ in range(3):
        h.advance(5.0)
        ticks.run()
    assert h.smsc.index.evicted == 3
    listed = h.smsc.messages(state=MessageState.ENROUTE)
    assert [m.message_id for m in listed] == [r.message_id for r in reversed(replies)]  # newest first
    assert all(m.state == MessageState.ENROUTE for m in listed)
    assert [m.message_id for m in h.smsc.messages(limit=2)] == [r.message_id for r in reversed(replies)][:2]
    assert h.smsc.messages(system_id="someone-else") == []
    assert h.smsc.messages(state=MessageState.DELIVERED) == []
    assert h.smsc.index.evicted == 3  # listing reads records back without taking them out of their wait
    # ``since`` (a test's own messages): the evicted ones read back are held to it too
    second = h.smsc.message(replies[1].message_id)
    assert second is not None
    assert [m.message_id for m in h.smsc.messages(since=second.submit_time)] == \
        [r.message_id for r in reversed(replies)][:2]
    assert h.smsc.messages(since=second.submit_time + 100.0) == []
