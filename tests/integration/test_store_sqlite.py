"""The SQLite store's writer thread on a real event loop: group commit, callbacks on the loop thread only after
the rows are on disk, and durability across a SIGKILL of the process."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture

from smsc.core.api import Address, Delivery
from smsc.core.message import Message
from smsc.core.store import sqlite as sqlite_store
from smsc.core.store.sqlite import SqliteStore
from tests.stored import stored_state

from .conftest import COMMITTING_STORE, read_acknowledged


def message(i: int) -> Message:
    return Message(message_id=f"{i:08x}", system_id="esme", source=Address(ton=1, npi=1, addr="447700900001"),
                   destination=Address(ton=1, npi=1, addr="447700900123"), destination_e164="447700900123",
                   short_message=b"hello %d" % i)


def row_exists(path: Path, message_id: str) -> bool:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT 1 FROM messages WHERE message_id = ?", (message_id,)).fetchone() is not None
    finally:
        conn.close()


async def test_group_commit_releases_every_callback_on_the_loop_thread_after_its_rows_are_on_disk(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    n = 3000
    done = asyncio.Event()
    seen: list[int] = []
    threads: set[int] = set()
    checked: list[bool] = []

    def durable(i: int) -> None:
        threads.add(threading.get_ident())
        if i % 500 == 0:
            checked.append(row_exists(path, f"{i:08x}"))
        seen.append(i)
        if len(seen) == n:
            done.set()

    for i in range(n):
        store.save_message(message(i))
        if i % 3 == 0:
            store.save_delivery(Delivery(delivery_id=i, system_id="esme", source=Address(), destination=Address()))
        store.commit(lambda i=i: durable(i))
        if i % 100 == 0:
            await asyncio.sleep(0)  # let some batches go while more arrive
    await asyncio.wait_for(done.wait(), 30)
    assert seen == list(range(n))  # in the order given
    assert threads == {threading.get_ident()}  # only ever on the loop thread
    assert checked and all(checked)
    stats = store.stats
    assert stats.messages == n
    assert stats.commits < n / 10  # many messages per transaction
    await loop.run_in_executor(None, store.close)
    state = stored_state(path)
    assert len(state.messages) == n and len(state.deliveries) == n // 3


async def test_an_outbox_row_that_cannot_be_written_is_logged_and_the_writer_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    odd = Delivery(delivery_id=1, system_id="esme", source=Address(), destination=Address(),
                   tlvs={0x1400: object()})  # deliveries are serialised when their batch is sent to the writer
    plain = Delivery(delivery_id=2, system_id="esme", source=Address(), destination=Address())
    for delivery in (odd, plain):
        durable = asyncio.Event()
        store.save_delivery(delivery)
        store.commit(durable.set)
        await asyncio.wait_for(durable.wait(), 10)  # the writer still commits the next
    await loop.run_in_executor(None, store.close)
    assert [d.delivery_id for d in stored_state(path).deliveries] == [2]


async def test_close_from_another_thread_flushes_and_hands_back_pending_callbacks(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    fired = asyncio.Event()
    store.save_message(message(1))
    store.commit(fired.set)
    store.save_message(message(2))  # recorded, never committed
    await loop.run_in_executor(None, store.close)
    await asyncio.wait_for(fired.wait(), 10)
    assert sorted(m.message_id for m in stored_state(path).messages) == ["00000001", "00000002"]


def test_every_acknowledged_message_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    child = subprocess.Popen([sys.executable, "-c", COMMITTING_STORE, str(path)], stdout=subprocess.PIPE, env=env)
    acked: list[str] = []
    try:
        assert child.stdout is not None
        child.stdout.readline()  # (the writer child's pid)
        acked = read_acknowledged(child.stdout, 2000)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert len(acked) == 2000, "the child did not acknowledge writes"
    stored = {m.message_id for m in stored_state(path).messages}
    missing = [mid for mid in acked if mid not in stored]
    assert missing == []


async def test_smsc_submit_status_0_comes_only_after_the_message_row_is_on_disk(tmp_path: Path) -> None:
    import random

    from smsc.config import load_config
    from smsc.core.api import Submission
    from smsc.core.clock import FakeClock
    from smsc.core.smsc import Smsc

    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    config = load_config(None)
    smsc = Smsc(config, store, FakeClock(), random.Random(3))
    smsc.start()
    replies: list = []
    on_disk: list[bool] = []
    got = asyncio.Event()

    def reply(result) -> None:
        on_disk.append(row_exists(path, result.message_id))
        replies.append(result)
        if len(replies) == 20:
            got.set()

    for i in range(20):
        smsc.submit(Submission(system_id="test", source=Address(ton=1, npi=1, addr="447700900001"),
                               destination=Address(ton=1, npi=1, addr=f"4477009004{i:02d}"),
                               short_message=b"x"), reply)
    assert replies == []  # nothing is replied before the writer thread committed
    await asyncio.wait_for(got.wait(), 10)
    assert [r.status for r in replies] == [0] * 20 and all(on_disk)
    smsc.stop()
    await loop.run_in_executor(None, store.close)


async def test_reads_later_run_beside_a_write_that_cannot_finish_and_see_what_was_committed(tmp_path: Path) -> None:
    """load_messages_later reads on a thread of its own (WAL: a reader does not wait for the writer), so a drain's
    reads do not queue behind the writes of its receipts; it sees every commit made before it was asked."""
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    durable = asyncio.Event()
    store.save_message(message(1))
    store.commit(durable.set)
    await asyncio.wait_for(durable.wait(), 10)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # the writer cannot begin its next transaction until this one ends
    try:
        stuck = asyncio.Event()
        store.save_message(message(2))
        store.commit(stuck.set)
        await asyncio.sleep(0.2)  # handed over: the writer waits for the lock with this write
        got: list[list[str]] = []
        read = asyncio.Event()

        def loaded(messages: list[Message]) -> None:
            got.append([m.message_id for m in messages])
            read.set()

        store.load_messages_later([f"{2:08x}", f"{1:08x}"], loaded)
        await asyncio.wait_for(read.wait(), 3)
        assert got == [[f"{1:08x}"]]  # committed before the read: seen; the pending write: not yet
        assert not stuck.is_set()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await asyncio.wait_for(stuck.wait(), 30)  # the writer retries and commits once the lock is gone
    await loop.run_in_executor(None, store.close)


async def test_reads_asked_for_before_close_are_answered_in_order(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    durable = asyncio.Event()
    for i in range(3000):
        store.save_message(message(i))
    store.commit(durable.set)
    await asyncio.wait_for(durable.wait(), 10)
    got: list[list[str]] = []
    wanted = [[f"{i:08x}" for i in range(start, start + 600)] for start in range(0, 3000, 600)]
    for ids in wanted:
        store.load_messages_later(ids, lambda ms: got.append([m.message_id for m in ms]))
    await loop.run_in_executor(None, store.close)
    for _ in range(100):  # the callbacks come back through call_soon_threadsafe
        if len(got) == len(wanted):
            break
        await asyncio.sleep(0.01)
    assert got == wanted


def fail_reader_reads(monkeypatch: pytest.MonkeyPatch, times: int | None) -> list[str]:
    """Make the next ``times`` reads of the reader thread (all of them when None) raise the OperationalError a
    failing disk gives; returns the list of threads that failed, one entry per failure."""
    fetch = SqliteStore._fetch
    failed: list[str] = []

    def failing(conn: sqlite3.Connection, message_ids: list[str]) -> dict[str, tuple]:
        name = threading.current_thread().name
        if name == "smsc-sqlite-reader" and (times is None or len(failed) < times):
            failed.append(name)
            raise sqlite3.OperationalError("disk I/O error")
        return fetch(conn, message_ids)

    monkeypatch.setattr(SqliteStore, "_fetch", staticmethod(failing))
    return failed


def capture_store_logs(monkeypatch: pytest.MonkeyPatch) -> LogCapture:
    """The store's log entries, whatever structlog configuration an earlier test left cached."""
    capture = LogCapture()
    monkeypatch.setattr(sqlite_store, "log", structlog.wrap_logger(
        structlog.PrintLogger(), processors=[capture], wrapper_class=structlog.stdlib.BoundLogger))
    return capture


async def test_a_read_later_that_fails_is_tried_again_and_calls_back_once_with_its_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed read on the reader thread (disk I/O error, database locked) used to hand its callback an empty
    list: a drain batch taken for read back was never attempted, its messages ENROUTE on disk until a restart
    (found by a tester, /tmp/tester5/s13_read_error.py)."""
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    durable = asyncio.Event()
    for i in range(3):
        store.save_message(message(i))
    store.commit(durable.set)
    await asyncio.wait_for(durable.wait(), 10)
    failed = fail_reader_reads(monkeypatch, 2)
    logs = capture_store_logs(monkeypatch)
    got: list[list[str]] = []
    threads: set[int] = set()
    read = asyncio.Event()

    def loaded(messages: list[Message]) -> None:
        got.append([m.message_id for m in messages])
        threads.add(threading.get_ident())
        read.set()

    store.load_messages_later([f"{2:08x}", f"{0:08x}"], loaded)
    await asyncio.wait_for(read.wait(), 10)
    await loop.run_in_executor(None, store.close)
    await asyncio.sleep(0.05)  # a second callback would have been handed back by now
    assert got == [[f"{2:08x}", f"{0:08x}"]]  # once, with the messages
    assert len(failed) == 2 and store.stats.read_failures == 2
    assert threads == {threading.get_ident()}
    assert [(e["log_level"], e["event"], e["error"]) for e in logs.entries] == [
        ("error", "store_read_failed", "disk I/O error")] * 2


async def test_a_read_later_still_failing_when_the_store_closes_is_given_up_without_hanging_the_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The retries stop at close (a stopped SMSC waits for nothing): the close returns at once, and the messages
    stay on disk, waiting, for the next start to read back."""
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    durable = asyncio.Event()
    store.save_message(message(1))
    store.commit(durable.set)
    await asyncio.wait_for(durable.wait(), 10)
    monkeypatch.setattr(sqlite_store, "_READ_RETRY_FIRST", 60.0)  # only the close can end the pause
    failed = fail_reader_reads(monkeypatch, None)
    logs = capture_store_logs(monkeypatch)
    got: list[list[Message]] = []
    store.load_messages_later([f"{1:08x}"], got.append)
    for _ in range(200):
        if failed:
            break
        await asyncio.sleep(0.01)
    await asyncio.wait_for(loop.run_in_executor(None, store.close), 5)
    await asyncio.sleep(0.05)
    assert got == [] and len(failed) == 2  # the first try, and one more once closing
    assert [(e["log_level"], e["event"]) for e in logs.entries] == [
        ("error", "store_read_failed"), ("warning", "store_read_abandoned")]
    assert [m.message_id for m in stored_state(path).messages] == [f"{1:08x}"]


async def test_spilled_outbox_deliveries_come_back_from_the_reader_thread_in_order_each_once(tmp_path: Path) -> None:
    """With the writer and reader threads of the server: receipts owed beyond ``SPILL_AT`` leave memory once
    their commit is back, and a receiver taking them a window at a time gets every one, in order, while
    more are added."""
    from smsc.core.clock import FakeClock
    from smsc.core.outbox import SPILL_AT, Outbox
    from smsc.core.scheduler import Scheduler

    loop = asyncio.get_running_loop()
    store = SqliteStore(tmp_path / "s.sqlite", call_soon_threadsafe=loop.call_soon_threadsafe)
    outbox = Outbox(store, Scheduler(), FakeClock(0.0))

    def add() -> int:
        delivery_id = outbox.new_delivery_id()
        outbox.add(Delivery(delivery_id=delivery_id, system_id="esme", source=Address(addr="1"),
                            destination=Address(addr="2"), short_message=b"r%d" % delivery_id), at_once=True)
        return delivery_id

    owed = []
    for _ in range(20):
        owed.extend(add() for _ in range(1000))
        await asyncio.sleep(0)
    for _ in range(500):  # until every commit came back
        if outbox.spilled("esme") == len(owed) - SPILL_AT:
            break
        await asyncio.sleep(0.01)
    assert outbox.in_memory() == SPILL_AT and len(outbox) == len(owed)

    taken: list[int] = []
    for rounds in range(100_000):
        if rounds < 3000:
            owed.append(add())
        for delivery in outbox.take("esme", 50):
            taken.append(delivery.delivery_id)
            outbox.acked(delivery.delivery_id, 0)
        if len(taken) == len(owed):
            break
        await asyncio.sleep(0 if rounds % 10 else 0.001)
    assert taken == owed
    assert outbox.spilled() == 0
    store.close()


def test_a_store_begun_in_an_empty_file_says_so(smsc_factory: Callable[..., Any], tmp_path: Path) -> None:
    """Tester 88: a store file cut to 0 octets started as a new store (ids from 00000001 again) with the same start
    lines as a store that was merely empty; a new file is said to be new, an empty one warned about."""
    import structlog.testing

    with structlog.testing.capture_logs() as logs:
        first = smsc_factory()
        first.stop()
    assert [e["event"] for e in logs if e["event"].startswith("store_created")] == ["store_created"]
    path = tmp_path / "smsc.sqlite"
    for companion in ("-wal", "-shm"):
        (tmp_path / f"smsc.sqlite{companion}").unlink(missing_ok=True)
    path.write_bytes(b"")
    with structlog.testing.capture_logs() as logs:
        second = smsc_factory()
        second.stop()
    [warning] = [e for e in logs if e["event"].startswith("store_created")]
    assert warning["event"] == "store_created_in_empty_file" and warning["log_level"] == "warning"
    with structlog.testing.capture_logs() as logs:
        smsc_factory().stop()
    assert not [e for e in logs if e["event"].startswith("store_created")]  # (a store already)


@pytest.mark.parametrize("content", [b"\n", b"x" * 99])
def test_a_store_file_too_short_for_an_sqlite_header_is_refused_not_written_over(
        tmp_path: Path, content: bytes) -> None:
    """Tester 92: `echo > smsc.sqlite` left one octet; SQLite took the file for an empty database, and a store began
    in it without a word (its messages gone, ids from 00000001 again)."""
    from smsc.core.store.sqlite import NotAStore

    path = tmp_path / "short.sqlite"
    path.write_bytes(content)
    with pytest.raises(NotAStore, match=f"{len(content)} octets?: no SQLite database"):
        SqliteStore(path)
    assert path.read_bytes() == content  # (left as it was)
