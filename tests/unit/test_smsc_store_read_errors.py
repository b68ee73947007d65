"""A request that needs a read of the SQLite store which fails (a disk I/O error) is answered ESME_RSYSERR,
and only that request fails: the messages it named keep waiting, nothing is saved for it, and the same
request succeeds once the store reads again.  Before, the error went up to the SMPP adapter, which closed
the ESME's connection, losing the responses it still owed for the requests before it (an accepted submit
whose submit_sm_resp never left: the ESME resubmits it, and the handset gets it twice).

A file locked by another connection ("database is locked") is read again a few times, 50 ms at most in all:
the read succeeds once the lock is gone, and a lock that outlasts that fails the request as above (the loop
thread used to wait out the sqlite3 module's 5 s busy timeout first)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.unit.test_smsc_support import (
    INF,
    START,
    Harness,
    MessageState,
    carrier,
    make_config,
    rule,
)

from smsc.config import MessageIdFormat
from smsc.core.api import Address, Delivery
from smsc.core.clock import FakeClock
from smsc.core.message import Message
from smsc.core.store import sqlite as sqlite_store
from smsc.core.store.sqlite import SqliteStore
from smsc.smpp.constants import CommandStatus as S

OFF = "447700900300"  # never on by itself: its messages wait, evicted to the store once durable


class FailingReads:
    """The real SQLite store, whose reads by message_id raise ``sqlite3.OperationalError`` while ``failing``
    (patched on the instance before the core is built: the core keeps the store's bound methods)."""

    def __init__(self, store: SqliteStore) -> None:
        self.failing = False
        load: Callable[[list[str]], list[Message]] = store.load_messages
        live: Callable[[list[str]], set[str]] = store.live_message_ids

        def load_messages(message_ids: list[str]) -> list[Message]:
            if self.failing:
                raise sqlite3.OperationalError("disk I/O error (test)")
            return load(message_ids)

        def live_message_ids(message_ids: list[str]) -> set[str]:
            if self.failing:
                raise sqlite3.OperationalError("disk I/O error (test)")
            return live(message_ids)

        store.load_messages = load_messages  # type: ignore[method-assign]
        store.live_message_ids = live_message_ids  # type: ignore[method-assign]


def harness(path: Path, **config: object) -> tuple[Harness, FailingReads]:
    store = SqliteStore(path)
    faults = FailingReads(store)
    cfg = make_config(carrier(rules=(rule(OFF, offline=INF),)), max_waiting=20_000, **config)
    return Harness(cfg, store=store, clock=FakeClock(START)), faults


def test_query_cancel_and_replace_of_an_evicted_message_fail_alone_while_the_store_cannot_read(
        tmp_path: Path) -> None:
    h, faults = harness(tmp_path / "s.sqlite")
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(3)]
    h.advance(60.0)
    assert h.smsc.index.evicted == 3  # on disk only

    faults.failing = True
    assert h.query(ids[0]).status == S.ESME_RSYSERR
    assert h.cancel(ids[1]) == S.ESME_RSYSERR  # (the harness checks each request is answered exactly once)
    assert h.replace(ids[2], "new text") == S.ESME_RSYSERR
    assert h.smsc.waiting_count() == 3 and h.smsc.index.evicted == 3  # nothing left its wait

    faults.failing = False
    assert h.query(ids[0]).message_state == MessageState.ENROUTE
    assert h.cancel(ids[1]) == S.ESME_ROK
    assert h.replace(ids[2], "new text") == S.ESME_ROK
    h.smsc.set_handset_online(OFF, True)
    h.advance(5.0)
    stats = {r.message_id: r.stat for _, r in h.receipts()}
    assert stats == {ids[0]: "DELIVRD", ids[1]: "DELETED", ids[2]: "DELIVRD"}
    h.store.close()


def test_a_submit_whose_message_id_search_cannot_read_the_store_is_refused_and_saves_nothing(
        tmp_path: Path) -> None:
    """After a 4-digit id format wrapped, the next id must be checked against waiting messages evicted to
    the store: when that read fails the submit gets ESME_RSYSERR and nothing is stored for it."""
    h, faults = harness(tmp_path / "s.sqlite", message_id=MessageIdFormat(format="decimal", length=4))
    ids = [h.submit_ok(OFF, f"m{i}") for i in range(10_000)]
    h.advance(60.0)
    assert h.smsc.index.evicted == 10_000

    faults.failing = True
    assert h.submit(OFF, "while failing").status == S.ESME_RSYSERR
    assert h.smsc.waiting_count() == 10_000 and h.smsc.stats.submitted == 10_000

    faults.failing = False
    h.smsc.set_handset_online(OFF, True)  # every id frees up as its message is delivered
    for _ in range(120):  # bounded: the drain keeps at most a few thousand attempts under way
        h.advance(1.0)
        if not h.smsc.waiting_count():
            break
    assert h.smsc.waiting_count() == 0
    again = h.submit(OFF, "after")
    assert again.status == S.ESME_ROK and again.message_id in ids
    h.store.close()


# -- a file locked by another connection ---------------------------------------------------------------------


class OtherConnectionLock:
    """Another connection to the same SQLite file that keeps new connections from reading it, as a backup tool
    in exclusive locking mode does: its exclusive transaction is refused while the store's connections are
    open, but the attempt leaves it holding SQLite's PENDING lock, which lets no new reader in ("database is
    locked", SQLITE_BUSY) until it closes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = sqlite3.connect(path, isolation_level=None, timeout=0,
                                                               check_same_thread=False)
        self.conn.execute("SELECT count(*) FROM messages").fetchall()
        self.conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            self.conn.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError, match="locked"):  # it does lock readers out
            probe = sqlite3.connect(path, timeout=0)
            try:
                probe.execute("SELECT count(*) FROM messages").fetchall()
            finally:
                probe.close()

    def release(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class RetrySleeps:
    """The store's sleep between two tries of a locked read (time is the one thing tests fake): records each
    delay, really sleeps it, and releases ``lock`` at the ``release_at``-th (None: never)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, lock: OtherConnectionLock, release_at: int | None) -> None:
        self.delays: list[float] = []
        self.lock = lock
        self.release_at = release_at
        monkeypatch.setattr(sqlite_store, "_sleep", self.sleep, raising=False)

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        if len(self.delays) == self.release_at:
            self.lock.release()
        time.sleep(seconds)


def locked_harness(path: Path) -> tuple[Harness, list[str]]:
    """A core on ``path`` with three messages waiting for an absent handset, their records evicted to the file
    (query_sm of one reads it on the loop thread)."""
    store = SqliteStore(path)
    h = Harness(make_config(carrier(rules=(rule(OFF, offline=INF),)), max_waiting=20_000), store=store,
                clock=FakeClock(START))
    ids = [h.submit_ok(OFF, f"m{i}") for i in range(3)]
    h.advance(60.0)
    assert h.smsc.index.evicted == 3
    return h, ids


def test_a_query_that_finds_the_file_locked_is_read_again_once_the_lock_is_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h, ids = locked_harness(tmp_path / "s.sqlite")
    lock = OtherConnectionLock(tmp_path / "s.sqlite")
    sleeps = RetrySleeps(monkeypatch, lock, release_at=1)
    try:
        result = h.query(ids[0])
    finally:
        lock.release()
    assert result.status == S.ESME_ROK and result.message_state == MessageState.ENROUTE
    assert sleeps.delays == [0.002] and h.store.stats.read_retries == 1  # one more try, 2 ms later
    h.store.close()


def test_a_lock_that_outlasts_the_retries_fails_only_that_query_and_holds_the_loop_50_ms_at_most(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h, ids = locked_harness(tmp_path / "s.sqlite")
    lock = OtherConnectionLock(tmp_path / "s.sqlite")
    sleeps = RetrySleeps(monkeypatch, lock, release_at=None)
    try:
        started = time.monotonic()
        result = h.query(ids[0])
        took = time.monotonic() - started
    finally:
        lock.release()
    assert result.status == S.ESME_RSYSERR
    assert len(sleeps.delays) == 5 and sum(sleeps.delays) <= 0.05 + 1e-9
    assert took < 1.0  # (50 ms of sleeps; the bound is loose for a busy machine: SQLite's own wait was 5 s)
    assert h.query(ids[0]).message_state == MessageState.ENROUTE  # the lock is gone: read at once
    assert len(sleeps.delays) == 5
    h.store.close()


def test_every_read_on_the_loop_thread_tries_a_locked_file_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_messages (query_sm, the inspection API), live_message_ids (the id search after a wrap), load_group
    (query_sm of a submit_multi id) and load_deliveries (the API's outbox listing), each on a store whose
    loop-thread connection opens while the file is locked."""
    path = tmp_path / "s.sqlite"
    h = Harness(make_config(carrier(rules=(rule(OFF, offline=INF),)), max_waiting=20_000),
                store=SqliteStore(path), clock=FakeClock(START))
    multi = h.submit_multi([OFF, OFF], registered_delivery=1).message_id
    waiting = h.submit_ok(OFF, "one")
    h.advance(60.0)
    h.store.close()
    mo = Delivery(delivery_id=7, system_id="esme", source=Address(addr=OFF), destination=Address(addr="12345"),
                  short_message=b"hi", kind="mo")
    setup = SqliteStore(path)
    setup.save_delivery(mo)
    setup.commit(lambda: None)
    setup.close()
    reads: list[tuple[Callable[[SqliteStore], object], object]] = [
        (lambda s: [m.message_id for m in s.load_messages([waiting])], [waiting]),
        (lambda s: s.live_message_ids([waiting, "nothing"]), {waiting}),
        (lambda s: [m.message_id for m in s.load_group(multi)], [f"{multi}-1", f"{multi}-2"]),
        (lambda s: [d.delivery_id for d in s.load_deliveries([7])], [7]),
    ]
    for read, expected in reads:
        store = SqliteStore(path)
        lock = OtherConnectionLock(path)
        sleeps = RetrySleeps(monkeypatch, lock, release_at=2)
        try:
            assert read(store) == expected
        finally:
            lock.release()
            store.close()
        assert sleeps.delays == [0.002, 0.004] and store.stats.read_retries == 2


def test_a_read_error_other_than_a_lock_is_not_tried_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h, ids = locked_harness(tmp_path / "s.sqlite")
    other = sqlite3.connect(tmp_path / "s.sqlite", isolation_level=None)
    sleeps: list[float] = []
    monkeypatch.setattr(sqlite_store, "_sleep", sleeps.append, raising=False)
    try:
        other.execute("ALTER TABLE messages RENAME TO hidden")  # "no such table: messages": no lock, no retry
        assert h.query(ids[0]).status == S.ESME_RSYSERR
        assert sleeps == [] and h.store.stats.read_retries == 0
        other.execute("ALTER TABLE hidden RENAME TO messages")
        assert h.query(ids[0]).message_state == MessageState.ENROUTE
    finally:
        other.close()
    h.store.close()
