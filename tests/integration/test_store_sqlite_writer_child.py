"""The SQLite store's writer child process (smsc/core/store/sqlite_writer.py): it commits the batches the writer
thread sends and acknowledges them; a callback runs only after its rows are on disk, a child killed is replaced
and the unacknowledged batch sent again, a child never outlives its store or its parent.  Real files, real
processes, every process stopped by its pid."""

from __future__ import annotations

import asyncio
import io
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture

from smsc.core.api import Address
from smsc.core.store import sqlite as sqlite_store
from smsc.core.store import sqlite_writer
from smsc.core.store.sqlite import SqliteStore
from tests.stored import stored_state

from .conftest import COMMITTING_STORE, read_acknowledged
from .test_store_sqlite import message, row_exists

REPO = Path(__file__).resolve().parents[2]


#: True while ``pid`` is a process that has not exited (a zombie waiting to be reaped counts as exited): the
#: check the store makes of a lock file's holders.
running = sqlite_store._running


def wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not running(pid):
            return True
        time.sleep(0.02)
    return not running(pid)


def capture_store_logs(monkeypatch: pytest.MonkeyPatch) -> LogCapture:
    """The store's log entries, whatever structlog configuration an earlier test left cached."""
    capture = LogCapture()
    monkeypatch.setattr(sqlite_store, "log", structlog.wrap_logger(
        structlog.PrintLogger(), processors=[capture], wrapper_class=structlog.stdlib.BoundLogger))
    return capture


async def test_a_batch_committed_by_the_child_is_on_disk_before_its_callback_runs(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    pid = store.writer_pid
    try:
        assert pid is not None and pid != os.getpid() and running(pid)
        on_disk: list[bool] = []
        durable = asyncio.Event()

        def done() -> None:
            on_disk.append(row_exists(path, f"{7:08x}"))  # a connection of its own, opened now
            durable.set()

        store.save_message(message(7))
        store.commit(done)
        await asyncio.wait_for(durable.wait(), 10)
        assert on_disk == [True]
        assert store.stats.commits == 1 and store.stats.messages == 1
    finally:
        await loop.run_in_executor(None, store.close)
    assert not running(pid)


class _Carrier(str):
    """A carrier name of a class of its own: no row should hold one, and the writer child cannot read it."""


async def test_a_value_the_child_cannot_read_costs_one_restart_not_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by tester 17: a value of a class the child does not know (a programming error; here a str
    subclass as an opt-out's carrier) made the child die on the frame, be restarted and get the same frame
    every 0.5 s for ever, and no later commit became durable.  It now says so and exits; the store makes the
    frames in flight again of built-in values only and sends them to the next child."""
    logs = capture_store_logs(monkeypatch)
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    try:
        store.save_opt_out(_Carrier("mobile"), "447700900123", True)
        store.save_message(message(2))
        first = asyncio.Event()
        store.commit(first.set)
        await asyncio.wait_for(first.wait(), 10)
        store.save_message(message(3))
        second = asyncio.Event()
        store.commit(second.set)
        await asyncio.wait_for(second.wait(), 10)
        assert store.stats.writer_restarts == 1
    finally:
        await loop.run_in_executor(None, store.close)
    assert row_exists(path, f"{2:08x}") and row_exists(path, f"{3:08x}")
    back = SqliteStore(path)
    try:
        assert back.load_world().opt_outs == [("mobile", "447700900123")]
    finally:
        back.close()
    assert [e["event"] for e in logs.entries if e["log_level"] == "error"] == [
        "store_batch_unreadable", "store_writer_died"]


async def test_a_value_pickle_cannot_write_costs_its_own_row_not_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An outbox entry holding a value pickle cannot write (a memoryview: a programming error) is left out and
    logged; the batch, an unrelated message and its callback with it, is written (tester 17 found the whole
    batch dropped while the records went to the writer child unpickled)."""
    logs = capture_store_logs(monkeypatch)
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    try:
        store.save_message(message(4))
        store.save_delivery(sqlite_store.Delivery(
            delivery_id=9, system_id="esme", source=Address(addr="1"), destination=Address(addr="2"),
            short_message=memoryview(b"not bytes")))  # type: ignore[arg-type]
        durable = asyncio.Event()
        store.commit(durable.set)
        await asyncio.wait_for(durable.wait(), 10)
        assert store.stats.writer_restarts == 0
    finally:
        await loop.run_in_executor(None, store.close)
    assert row_exists(path, f"{4:08x}")
    assert [e["event"] for e in logs.entries if e["log_level"] == "error"] == ["store_delivery_unwritable"]


def test_a_failed_open_leaves_no_lock_file_and_a_name_that_is_no_file_is_refused(tmp_path: Path) -> None:
    """Found by tester 17: ``--db`` naming a directory or a file that is not a database left ``<path>.lock``
    behind it, and ``:memory:`` (a database per connection: the writer child's was not the server's) failed
    later with "no such table"."""
    (tmp_path / "adir").mkdir()
    (tmp_path / "junk.txt").write_text("not a database")
    for name in ("adir", "junk.txt"):
        with pytest.raises(sqlite3.DatabaseError):
            SqliteStore(tmp_path / name, call_soon_threadsafe=lambda *a: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "junk.txt"]
    for name in (":memory:", ""):
        with pytest.raises(sqlite3.OperationalError, match="is not a file name.*store.kind: memory"):
            SqliteStore(name, call_soon_threadsafe=lambda *a: None)


def test_the_child_reads_every_int_enum_of_the_smpp_constants_and_no_other_class() -> None:
    import enum

    from smsc.smpp import constants

    int_enums = {name for name, value in vars(constants).items()
                 if isinstance(value, type) and issubclass(value, enum.Enum) and issubclass(value, int)
                 and value.__module__ == constants.__name__}
    assert sqlite_writer.INT_ENUMS == int_enums
    frame = pickle.dumps([constants.Ton.NATIONAL, constants.EsmClass.UDHI], 5)
    assert sqlite_writer._PlainUnpickler(io.BytesIO(frame)).load() == [2, 0x40]
    with pytest.raises(pickle.UnpicklingError):
        sqlite_writer._PlainUnpickler(io.BytesIO(pickle.dumps(Address(ton=1, npi=1, addr="1"), 5))).load()


async def test_batches_larger_than_the_pipe_go_while_the_child_is_busy_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    """A batch sent while the child commits the one before waits in the pipe (1 MiB); what does not fit is
    written by the loop when the pipe has room (add_writer), in order, each batch once."""
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    order: list[int] = []
    done = asyncio.Event()
    waited: list[int] = []
    add_writer = loop.add_writer

    def counting_add_writer(fd: int, callback: object, *args: object) -> None:
        waited.append(fd)
        add_writer(fd, callback, *args)

    loop.add_writer = counting_add_writer  # type: ignore[method-assign]
    # The child stopped while the batches are handed over: the pipe must fill and the loop wait for room.  (Left
    # running, a child reading on the other core could keep up with the writes, and the test failed now and then.)
    os.kill(store.writer_pid, signal.SIGSTOP)
    stopped = True
    try:
        for step in range(4):  # four ticks of 8,000 messages: about 2.5 MB per batch
            for i in range(step * 8000, (step + 1) * 8000):
                m = message(i)
                m.short_message = i.to_bytes(4, "big") * 50  # (200 octets each: a frame pickles one object once)
                store.save_message(m)
            store.commit(lambda step=step: order.append(step) or (step == 3 and done.set()))
            await asyncio.sleep(0)
        for _ in range(50):  # (bounded) the loop turns while the child cannot read
            await asyncio.sleep(0)
        assert waited  # the pipe was full: the loop waited for room instead of blocking
        os.kill(store.writer_pid, signal.SIGCONT)
        stopped = False
        ticks = 0
        while not done.is_set() and ticks < 20_000:  # the loop stays free while the batches go
            ticks += 1
            await asyncio.sleep(0)
        await asyncio.wait_for(done.wait(), 30)
        assert order == [0, 1, 2, 3] and ticks > 10
    finally:
        if stopped:
            os.kill(store.writer_pid, signal.SIGCONT)
        del loop.add_writer
        await loop.run_in_executor(None, store.close)
    assert len(stored_state(path).messages) == 32_000


async def test_a_child_killed_while_batches_flow_is_replaced_and_nothing_acknowledged_is_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "s.sqlite"
    logs = capture_store_logs(monkeypatch)
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    n = 6000
    seen: list[int] = []
    missing: list[int] = []
    killed: list[int] = []
    done = asyncio.Event()

    def durable(i: int) -> None:
        if not row_exists(path, f"{i:08x}"):
            missing.append(i)
        seen.append(i)
        if len(seen) == n:
            done.set()

    try:
        for i in range(n):
            if i in (2000, 4000):  # while batches are on their way, each time the child then running
                for _ in range(500):
                    pid = store.writer_pid
                    if pid is not None and pid not in killed:
                        break
                    await asyncio.sleep(0.01)
                assert pid is not None and pid not in killed
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            store.save_message(message(i))
            store.commit(lambda i=i: durable(i))
            if i % 50 == 0:
                await asyncio.sleep(0.002)
        await asyncio.wait_for(done.wait(), 60)
        assert seen == list(range(n))  # every callback, once, in order
        assert missing == []  # each one after its row was on disk
        assert len(killed) == 2 and all(wait_gone(pid, 5) for pid in killed)
        last = asyncio.Event()  # (the second kill may have found nothing more to send: the next commit will)
        store.save_message(message(n))
        store.commit(last.set)
        await asyncio.wait_for(last.wait(), 10)
        now = store.writer_pid
        assert now is not None and now not in killed and running(now)
        died = [e for e in logs.entries if e["event"] == "store_writer_died"]
        assert [e["pid"] for e in died] == killed and all(e["log_level"] == "error" for e in died)
    finally:
        await loop.run_in_executor(None, store.close)
    assert len(stored_state(path).messages) == n + 1


async def test_a_batch_in_flight_when_its_child_is_killed_is_sent_again_to_the_next(tmp_path: Path) -> None:
    """A lock held by another connection keeps the child inside the batch (waiting to begin its transaction):
    killed there, it never acknowledged; its successor gets the same batch and commits it once the lock goes."""
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        first = store.writer_pid
        assert first is not None
        blocker.execute("BEGIN IMMEDIATE")
        durable = asyncio.Event()
        store.save_message(message(1))
        store.commit(durable.set)
        await asyncio.sleep(0.3)  # handed over: the child waits for the lock with this batch
        os.kill(first, signal.SIGKILL)
        for _ in range(250):  # until the writer thread noticed and started another child
            if store.writer_pid not in (None, first):
                break
            await asyncio.sleep(0.02)
        second = store.writer_pid
        assert second not in (None, first) and not durable.is_set()
        blocker.execute("ROLLBACK")
        await asyncio.wait_for(durable.wait(), 10)
        assert row_exists(path, f"{1:08x}") and store.writer_pid == second
    finally:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()
        await loop.run_in_executor(None, store.close)


def test_a_batch_sent_again_after_its_commit_is_not_written_twice(tmp_path: Path) -> None:
    """A child may die after its COMMIT and before its acknowledgement: the batch then goes again to the next
    one.  Its number, committed with it, makes that second run write nothing: the tables are as after one run
    (without it, the final record of an id given again would be deleted by its forget and inserted again,
    after the batch's other new rows)."""
    from smsc.core.api import Delivery

    def tables(conn: sqlite3.Connection) -> list[list[tuple]]:
        # (sim_wall_us is the wall time of the write: it differs between the two files)
        return [conn.execute(f"SELECT * FROM {t} {'WHERE name != ' + repr('sim_wall_us') if t == 'counters' else ''}"
                             f" ORDER BY rowid").fetchall()
                for t in ("messages", "outbox", "counters", "opt_outs", "dpf_flags")]

    written: list[list[list[tuple]]] = []
    for times in (1, 2):
        path = tmp_path / f"{times}.sqlite"
        store = SqliteStore(path)  # inline: the schema, and the rows of an earlier batch
        for i in range(6):
            m = message(i)
            if i < 3:
                m.final_time = 10.0 + i
            store.save_message(m)
        store.save_delivery(Delivery(delivery_id=1, system_id="esme", source=Address(), destination=Address()))
        store.save_opt_out("c", "4477", True)
        store.save_dpf_flag("4478", "esme", Address(ton=1, npi=1, addr="4478"), Address(addr="x"))
        store.commit(lambda: None)
        store.close()
        batch = sqlite_store._Batch()
        batch.forgets["00000001"] = []
        final = message(1)
        final.final_time = 20.0
        batch.messages["00000001"] = sqlite_store.message_to_row(final)  # the id given again, final at once
        batch.messages["00000009"] = sqlite_store.message_to_row(message(9))
        batch.messages["00000004"] = sqlite_store.message_to_row(message(4))
        batch.moved.append("00000004")  # (replace_sm: moved rows come last)
        batch.inserts[2] = Delivery(delivery_id=2, system_id="esme", source=Address(), destination=Address())
        batch.deletes.append(1)
        batch.counters = (10, 3)
        batch.prune = 11.0
        batch.opt_outs[("c", "4477")] = False
        batch.opt_outs[("c", "4479")] = True
        batch.sim_time = 12.5
        batch.dpf_flags[("4478", "esme")] = None
        batch.dpf_flags[("4480", "esme")] = ("4480", "esme", 1, 1, "4480", 0, 0, "x")
        rows = SqliteStore._batch_rows(batch)
        conn = sqlite_writer.connect(str(path), "NORMAL")
        try:
            assert [sqlite_writer.commit(conn, rows, (7, 1)) for _ in range(times)] == [True, False][:times]
            written.append(tables(conn))
        finally:
            conn.close()
    once, twice = written
    assert twice == once
    assert [r[0] for r in once[0]] == ["00000002", "00000003", "00000005", "00000001", "00000009", "00000004"]
    assert [r[0] for r in once[1]] == [2] and once[3] == [("c", "4479")] and [r[0] for r in once[4]] == ["4480"]


async def test_a_child_killed_while_idle_is_replaced_by_the_next_commit(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    try:
        first = store.writer_pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        assert wait_gone(first, 5)
        durable = asyncio.Event()
        store.save_message(message(1))
        store.commit(durable.set)
        await asyncio.wait_for(durable.wait(), 10)
        assert row_exists(path, f"{1:08x}")
        assert store.writer_pid not in (None, first)
    finally:
        await loop.run_in_executor(None, store.close)


async def test_close_leaves_no_child_process(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    store = SqliteStore(tmp_path / "s.sqlite", call_soon_threadsafe=loop.call_soon_threadsafe)
    pid = store.writer_pid
    assert pid is not None and running(pid)
    durable = asyncio.Event()
    store.save_message(message(1))
    store.commit(durable.set)
    await asyncio.wait_for(durable.wait(), 10)
    await loop.run_in_executor(None, store.close)
    assert store.writer_pid is None
    assert not Path(f"/proc/{pid}").exists()  # exited and reaped by the store, not left a zombie


async def test_close_waits_for_the_answer_to_a_batch_in_flight_on_a_non_blocking_pipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a tester: under uvloop the loop's reader makes the child's answer pipe non-blocking, and a
    close() that found the last batch's answer not there yet took the empty read for a dead child: it logged
    ``store_writer_died`` on an ordinary stop, started a second child and sent the batch again.  Here the
    batch's commit waits for a lock another connection holds while close() runs."""
    path = tmp_path / "s.sqlite"
    logs = capture_store_logs(monkeypatch)
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    first = store.writer_pid
    child = store._child
    assert child is not None and child.stdout is not None
    os.set_blocking(child.stdout.fileno(), False)  # (what uvloop's add_reader does to the descriptor)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # the child's commit waits for this lock (busy timeout 5 s)
    # (released from a thread: the close runs on the loop's thread and holds it until the answer comes)
    release = threading.Timer(0.3, blocker.execute, ("COMMIT",))
    release.start()
    durable = asyncio.Event()
    store.save_message(message(1))
    store.commit(durable.set)
    await asyncio.sleep(0.05)  # (the batch is sent at the end of the tick, and waits in the child)
    try:
        await loop.run_in_executor(None, store.close)
    finally:
        release.join(10)
        blocker.close()
    assert [e for e in logs.entries if e["event"] == "store_writer_died"] == []
    assert store.stats.commits == 1 and row_exists(path, message(1).message_id)
    assert not Path(f"/proc/{first}").exists()


async def test_a_second_server_store_on_the_same_file_is_refused_with_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a tester: two ``smsc serve`` on one file both answered status 0 while the second one's batches
    were skipped as already written (their numbers were below the first one's), and both handed out the same
    message_ids."""
    monkeypatch.setattr(sqlite_store, "_LOCK_WAIT", 5.0)
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    first = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    try:
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match=rf"in use by another smsc server \(pid {os.getpid()}\)"):
            SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
        # Refused at once, not after the wait for the writer child of a server that is gone (tester 16: a
        # second server waited the whole 5 s although the holder was running).
        assert time.monotonic() - started < 2.0
        SqliteStore(path).close()  # (inline, as tools read a file: not locked out)
        link = tmp_path / "link.sqlite"
        link.symlink_to(path)
        with pytest.raises(sqlite3.OperationalError, match="in use by another smsc server"):
            SqliteStore(link, call_soon_threadsafe=loop.call_soon_threadsafe)
    finally:
        await loop.run_in_executor(None, first.close)
    again = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)  # the lock went with the close
    await loop.run_in_executor(None, again.close)


async def test_a_second_server_store_is_refused_also_when_the_lock_file_was_deleted(tmp_path: Path) -> None:
    """Found by tester 29: ``rm <db>.lock`` while a server ran let a second server start on the same file, and
    both handed out message_id 00000002.  The database file itself is locked too; the refusal leaves no lock file
    of its own behind, and the file is free again once the first store is closed."""
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    first = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    try:
        os.unlink(f"{path}.lock")
        with pytest.raises(sqlite3.OperationalError, match="the database file itself is locked"):
            SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
        assert not os.path.exists(f"{path}.lock")
        # The first store goes on reading and writing the file (its SQLite locks were not disturbed).
        first.save_counters(7, 1)
        done: list[bool] = []
        first.commit(lambda: done.append(True))
        for _ in range(500):
            if done:
                break
            await asyncio.sleep(0.01)
        assert done
    finally:
        await loop.run_in_executor(None, first.close)
    again = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    await loop.run_in_executor(None, again.close)


async def test_batches_of_a_new_store_are_written_whatever_number_another_store_left_in_the_file(
    tmp_path: Path,
) -> None:
    """The batch numbers that make a batch sent again a no-op belong to one store: a server started on the file
    while the child of one killed a moment before still commits its last batch numbers its own from 1, and they
    must be written (status 0 is answered for them)."""
    path = tmp_path / "s.sqlite"
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    late = sqlite_writer.connect(str(path), "NORMAL")  # the old child's last batch, numbered far ahead
    try:
        assert sqlite_writer.commit(late, SqliteStore._batch_rows(sqlite_store._Batch()), (12345, 900))
    finally:
        late.close()
    durable = asyncio.Event()
    store.save_message(message(1))
    store.commit(durable.set)
    await asyncio.wait_for(durable.wait(), 10)
    assert row_exists(path, message(1).message_id)
    await loop.run_in_executor(None, store.close)


class _DiskFullsOnMessages(sqlite3.Connection):
    """A real connection with one fault injected: writing message rows fails as on a full disk, after SQLite
    rolled the transaction back (what it does for SQLITE_FULL when it cannot spill its cache, seen on a
    full tmpfs)."""

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if sql.startswith(sqlite_writer.UPSERT_MESSAGES_HEAD):
            super().execute("ROLLBACK")
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


def test_a_full_disk_is_reported_as_full_not_hidden_by_the_rollback(tmp_path: Path) -> None:
    """Found by a tester: on a full disk every failed commit was logged as "cannot rollback - no transaction is
    active" (SQLite had rolled back already), never as the full disk."""
    path = tmp_path / "s.sqlite"
    SqliteStore(path).close()  # (the schema)
    conn = sqlite3.connect(path, isolation_level=None, factory=_DiskFullsOnMessages)
    try:
        batch = sqlite_store._Batch()
        batch.messages["00000001"] = sqlite_store.message_to_row(message(1))
        with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
            sqlite_writer.commit(conn, SqliteStore._batch_rows(batch), (1, 1))
        assert not conn.in_transaction
    finally:
        conn.close()


async def test_close_gives_up_on_a_child_that_cannot_commit_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a tester: stopping the server while the disk was full waited for ever (the child retries every
    half second), through further SIGTERM and SIGINT, saying nothing.  What the batches left hold was never
    acknowledged, so close() waits ``_CLOSE_WAIT`` seconds, then logs what it drops and stops the child.  Here
    another connection keeps the file locked for longer than that."""
    monkeypatch.setattr(sqlite_store, "_CLOSE_WAIT", 1.0)
    path = tmp_path / "s.sqlite"
    logs = capture_store_logs(monkeypatch)
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    pid = store.writer_pid
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        acknowledged = asyncio.Event()
        for i in (1, 2, 3):  # three ticks: two batches in flight, the third waiting for their answers
            store.save_message(message(i))
            store.commit(acknowledged.set)
            await asyncio.sleep(0.05)
        started = time.monotonic()
        await loop.run_in_executor(None, store.close)
        took = time.monotonic() - started
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert took < 5.0, took
    [gave_up] = [e for e in logs.entries if e["event"] == "store_close_gave_up"]
    assert (gave_up["batches"], gave_up["callbacks"], gave_up["messages"]) == (3, 3, 3)
    assert not acknowledged.is_set() and not row_exists(path, message(1).message_id)
    assert pid is not None and not Path(f"/proc/{pid}").exists()


def test_an_inline_store_has_no_child(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    try:
        assert store.writer_pid is None
    finally:
        store.close()


def test_the_child_of_a_parent_killed_with_sigkill_exits_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    parent = subprocess.Popen([sys.executable, "-c", COMMITTING_STORE, str(path)], stdout=subprocess.PIPE, env=env)
    child_pid = 0
    acked: list[str] = []
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        acked = read_acknowledged(parent.stdout, 500)  # (commits are flowing through the child)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
    try:
        assert len(acked) == 500
        assert wait_gone(child_pid, 5), "the writer child outlived its parent"
        stored = {m.message_id for m in stored_state(path).messages}
        assert [mid for mid in acked if mid not in stored] == []
    finally:
        if child_pid and running(child_pid):
            os.kill(child_pid, signal.SIGKILL)


def test_the_writer_child_of_a_killed_server_holds_the_file_until_it_is_gone_and_commits_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a tester: a server started on the file while the killed server's writer child still had
    batches in its pipe (here: stopped with SIGSTOP) took the lock, handed out the same message_ids, and the
    orphan then committed the dead server's batches over the new server's rows.  The child holds the lock file
    too, and once orphaned it commits nothing more and exits."""
    monkeypatch.setattr(sqlite_store, "_LOCK_WAIT", 0.3)
    path = tmp_path / "s.sqlite"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # (the writer in the server's process group, so that it stays stopped when the server dies: in a group of its
    # own the kernel continues it then, as the next test shows)
    parent = subprocess.Popen([sys.executable, "-c", COMMITTING_STORE, str(path), "same-group"],
                              stdout=subprocess.PIPE, env=env)
    child_pid = 0
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        for _ in range(200):  # bounded: commits flow
            parent.stdout.readline()
        os.kill(child_pid, signal.SIGSTOP)
        time.sleep(0.1)  # (the parent goes on sending: frames wait in the stopped child's pipe)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        acked = {line.decode().strip() for line in parent.stdout.read().splitlines()}
        with pytest.raises(sqlite3.OperationalError,
                           match=rf"in use by the writer child \(pid {child_pid}\) of an smsc server that is gone "
                                 rf"\(pid {parent.pid}\).*kill -KILL {child_pid}"):
            SqliteStore(path, call_soon_threadsafe=lambda *a: None)  # (the orphan still holds the lock)
        rows_before = {m.message_id for m in stored_state(path).messages}
        os.kill(child_pid, signal.SIGCONT)
        assert wait_gone(child_pid, 5), "the orphaned writer child did not exit"
        rows_after = {m.message_id for m in stored_state(path).messages}
        # It committed nothing more once orphaned, but for a COMMIT the stop caught under way (SQLite writes the
        # WAL pages inside the COMMIT, past the last look at its parent): at most that one batch, never the
        # batches the dead server left in the pipe (it kept sending while the child was stopped).
        assert len(rows_after - rows_before) <= 200
        assert acked <= rows_after or not acked
        SqliteStore(path, call_soon_threadsafe=lambda *a: None).close()  # the lock is free now
    finally:
        _kill_server_and_writer(parent, child_pid)


def test_a_stopped_writer_child_of_a_killed_server_is_continued_and_exits_committing_nothing_more(
    tmp_path: Path,
) -> None:
    """The writer runs in a process group of its own (tester 122: signals a terminal sends the server's group
    killed it).  That group is orphaned when the server dies, and the kernel then continues its stopped members
    (SIGHUP, which the writer ignores, and SIGCONT): the writer notices its server is gone, commits none of the
    batches left in its pipe, and exits, so a new server may take the file."""
    path = tmp_path / "s.sqlite"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    parent = subprocess.Popen([sys.executable, "-c", COMMITTING_STORE, str(path)], stdout=subprocess.PIPE, env=env)
    child_pid = 0
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        assert os.getpgid(child_pid) == child_pid  # (a group of its own)
        for _ in range(200):  # bounded: commits flow
            parent.stdout.readline()
        os.kill(child_pid, signal.SIGSTOP)
        time.sleep(0.1)  # (the parent goes on sending: frames wait in the stopped child's pipe)
        rows_before = {m.message_id for m in stored_state(path).messages}
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert wait_gone(child_pid, 10), "the orphaned writer child was not continued, or did not exit"
        # (at most the batch a COMMIT under way at the stop held: see the test above)
        assert len({m.message_id for m in stored_state(path).messages} - rows_before) <= 200
        SqliteStore(path, call_soon_threadsafe=lambda *a: None).close()  # the lock is free
    finally:
        _kill_server_and_writer(parent, child_pid)


def _kill_server_and_writer(parent: subprocess.Popen[bytes], child_pid: int) -> None:
    """End what a test of a stopped writer child left: the server process, and the writer (continued first)."""
    if parent.poll() is None:
        parent.kill()
        parent.wait(5)
    if child_pid and running(child_pid):
        os.kill(child_pid, signal.SIGCONT)
        os.kill(child_pid, signal.SIGKILL)


def test_a_frame_naming_a_class_is_refused(tmp_path: Path) -> None:
    """The child builds built-in values only from what it reads: a pickle that names a class (here one that
    would call os.system when loaded) raises instead of importing or calling anything."""

    class Evil:
        def __reduce__(self) -> tuple:
            return (os.system, ("touch " + str(tmp_path / "ran"),))

    frame = pickle.dumps(("ok", Evil()), 5)
    import io
    stream = io.BytesIO(len(frame).to_bytes(8, "big") + frame)
    with pytest.raises(pickle.UnpicklingError):
        sqlite_writer.read_frame(stream)
    assert not (tmp_path / "ran").exists()
    plain = ([("id", 1.5, b"rec")], None, (1, 2), "x")
    assert sqlite_writer.read_frame(io.BytesIO(sqlite_writer.dumps(plain))) == plain
