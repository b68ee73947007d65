"""The SQLite store in inline mode: round trips of every field, batches, pruning, schema checks."""

from __future__ import annotations

import collections
import os
import pickle
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.core.api import Address, Delivery
from smsc.core.message import Attempt, Message
from smsc.core.store.sqlite import (
    NotAStore,
    SqliteStore,
    delivery_from_row,
    delivery_to_row,
    message_from_row,
    message_to_row,
)
from smsc.smpp.constants import MessageState, Tag
from tests.stored import stored_state


def full_message(message_id: str = "00ab", **changes) -> Message:
    fields = dict(
        message_id=message_id, system_id="esme", source=Address(ton=5, npi=0, addr="Brand"),
        destination=Address(ton=1, npi=1, addr="447700900123"), destination_e164="447700900123", carrier="uk",
        service_type="CMT", esm_class=0x40, protocol_id=1, priority_flag=2, registered_delivery=0x11, data_coding=8,
        short_message=b"\x05\x00\x03\x01\x02\x01\x00h\x00i", tlvs={Tag.user_message_reference: 7,
        Tag.receipted_message_id: "x", 0x1400: b"\x00\xff", Tag.callback_num: [b"\x01", b"\x02"]},
        submit_time=1.5, schedule_time=2.5, expiry_time=3.5, state=MessageState.EXPIRED, final_time=4.5,
        error_code=27, network_error_code=b"\x03\x00\x1b", next_attempt_time=None,
        attempts=[Attempt(time=1.0, outcome="absent", err=27), Attempt(time=4.5, outcome="expired", err=27)],
        submitted_count=3, multi_id="00aa",
    )
    fields.update(changes)
    return Message(**fields)


def test_message_round_trips_every_field() -> None:
    m = full_message()
    back = message_from_row(message_to_row(m))
    assert back == m
    assert isinstance(back.state, MessageState)


def test_a_message_without_tlvs_or_attempts_round_trips_through_the_file(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    m = full_message(tlvs={}, attempts=[], schedule_time=None, final_time=None, network_error_code=None,
                     multi_id="", state=MessageState.ENROUTE)
    store.save_message(m)
    store.commit(lambda: None)
    assert store.load().messages == [m]


def test_delivery_round_trips_every_field() -> None:
    d = Delivery(delivery_id=9, system_id="esme", source=Address(ton=1, npi=1, addr="44"),
                 destination=Address(ton=3, addr="88123"), esm_class=0x04, protocol_id=0, priority_flag=1,
                 data_coding=0, short_message=b"id:1 stat:DELIVRD", service_type="WAP",
                 tlvs={Tag.message_state: 2, Tag.network_error_code: b"\x03\x00\x01"}, kind="receipt")
    assert delivery_from_row(delivery_to_row(d)) == d


tlv_values = st.one_of(st.integers(0, 2**32 - 1), st.text(max_size=20), st.binary(max_size=20),
                       st.lists(st.binary(max_size=4), max_size=3))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.dictionaries(st.integers(0, 0xFFFF), tlv_values, max_size=5),
       st.text(max_size=30))
def test_any_user_data_and_tlvs_survive_storage(data: bytes, tlvs: dict, text: str) -> None:
    m = full_message(short_message=data, tlvs=tlvs, service_type=text)
    assert message_from_row(message_to_row(m)) == m


def test_inline_store_writes_on_commit_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SqliteStore(path)
    m = full_message("1")
    store.save_message(m)
    m.error_code = 99  # changes after save_message are not seen: the row was serialised at save time
    store.save_delivery(Delivery(delivery_id=5, system_id="e", source=Address(), destination=Address()))
    store.save_counters(10, 6)
    done: list[int] = []
    store.commit(lambda: done.append(1))
    assert done == [1]
    state = stored_state(path)
    assert [x.error_code for x in state.messages] == [27]
    assert [d.delivery_id for d in state.deliveries] == [5]
    assert (state.next_message_number, state.next_delivery_id) == (10, 6)
    store.delete_delivery(5)
    store.commit(lambda: None)
    assert stored_state(path).deliveries == []
    assert store.stats.commits == 2 and store.stats.messages == 1
    store.close()
    store.close()


def test_saving_a_message_twice_in_one_batch_writes_the_last_version(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    m = full_message("1", state=MessageState.ENROUTE, final_time=None)
    store.save_message(m)
    m.state = MessageState.DELIVERED
    m.final_time = 9.0
    store.save_message(m)
    store.commit(lambda: None)
    [back] = store.load().messages
    assert back.state == MessageState.DELIVERED
    assert store.stats.messages == 1


def test_each_batch_written_saves_the_simulation_time_of_its_source(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SqliteStore(path)
    store.save_message(full_message("1"))
    store.commit(lambda: None)
    assert SqliteStore(path).load_world().sim_time is None  # (no source: only save_sim_time saves it)
    now = [5000.25]
    store.sim_time_source = lambda: now[0]
    store.save_message(full_message("2"))
    store.commit(lambda: None)
    assert SqliteStore(path).load_world().sim_time == 5000.25
    now[0] = 4000.0  # an explicit later save of a greater time wins over the source's reading
    store.save_sim_time(6000.0)
    store.save_message(full_message("3"))
    store.commit(lambda: None)
    assert SqliteStore(path).load_world().sim_time == 6000.0
    store.commit(lambda: None)  # (nothing to write: no batch, no time saved)
    assert SqliteStore(path).load_world().sim_time == 6000.0
    store.close()


def test_prune_deletes_only_final_messages_older_than_the_cutoff(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    store.save_message(full_message("old", final_time=10.0))
    store.save_message(full_message("new", final_time=30.0))
    store.save_message(full_message("waiting", state=MessageState.ENROUTE, final_time=None))
    store.commit(lambda: None)
    store.prune_final(20.0)
    store.commit(lambda: None)
    assert sorted(m.message_id for m in store.load().messages) == ["new", "waiting"]


def test_close_writes_saves_that_were_never_committed(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SqliteStore(path)
    store.save_message(full_message("late"))
    store.close()
    assert [m.message_id for m in stored_state(path).messages] == ["late"]
    with pytest.raises(RuntimeError):
        store.commit(lambda: None)


def test_the_file_is_in_wal_mode_and_refuses_another_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute("PRAGMA user_version=99")
    conn.close()
    with pytest.raises(sqlite3.DatabaseError):
        SqliteStore(path)


def test_another_applications_database_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    """Tester 57: a file with a ``users`` table was adopted (seven tables added, user_version 3, WAL for good);
    files refused later were switched to WAL first, and told to "delete the file"."""
    cases = {
        "users.db": ("CREATE TABLE users (id INTEGER, name TEXT)", 0, "another application's database (it holds "
                     "users, which no smsc store has)"),
        # Tester 61: versions 2 and 3 were taken as smsc's (2 switched to WAL, then refused; 3 adopted).
        "users2.db": ("CREATE TABLE users (id INTEGER, name TEXT)", 2, "(it holds users, which no smsc store has)"),
        "users3.db": ("CREATE TABLE users (id INTEGER, name TEXT)", 3, "(it holds users, which no smsc store has)"),
        "empty2.db": ("CREATE TABLE messages (x)", 2, "it lacks the messages and outbox tables"),
        "counters.db": ("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)", 0,
                        "(it holds counters but no messages)"),
        "v9.db": ("CREATE TABLE t (x)", 9, "its schema version (9) is not one this smsc writes (3)"),
        "messages.db": ("CREATE TABLE messages (id INTEGER, body TEXT)", 3, "its table 'messages' lacks the "
                        "column(s) message_id, final_time, record of an smsc store"),
        "messages0.db": ("CREATE TABLE messages (id INTEGER, body TEXT)", 0, "its table 'messages' lacks"),
    }
    for name, (ddl, version, why) in cases.items():
        path = tmp_path / name
        conn = sqlite3.connect(path)
        conn.execute(ddl)
        conn.execute(f"PRAGMA user_version={version}")
        conn.commit()
        conn.close()
        before = path.read_bytes()
        with pytest.raises(NotAStore) as refused:
            SqliteStore(path)
        assert str(refused.value).startswith("not an smsc store, left as it is: ") and why in str(refused.value)
        assert "delete" not in str(refused.value)
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(name)) == [name]  # (no -wal, -shm)
    # Tester 64: another application stopped inside a transaction (its hot rollback journal beside the file), or
    # writing it meanwhile, had its file rolled back and taken over.
    app = tmp_path / "app.db"
    conn = sqlite3.connect(app, isolation_level=None)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("INSERT INTO users VALUES (1)")
    with pytest.raises(NotAStore, match="a rollback journal lies beside it"):
        SqliteStore(app)
    conn.execute("ROLLBACK")
    conn.close()
    assert not (tmp_path / "app.db-wal").exists()
    # A store with the user's own index, view and table beside smsc's tables opens (tester 65: refused after the
    # upgrade, its waiting messages out of reach).
    store = SqliteStore(tmp_path / "mine.db")
    store.save_message(full_message("kept"))
    store.commit(lambda: None)
    store.close()
    conn = sqlite3.connect(tmp_path / "mine.db")
    conn.execute("CREATE INDEX my_final ON messages (final_time)")
    conn.execute("CREATE VIEW my_view AS SELECT message_id FROM messages")
    conn.execute("CREATE TABLE my_notes (note TEXT)")
    conn.commit()
    conn.close()
    assert [m.message_id for m in stored_state(tmp_path / "mine.db").messages] == ["kept"]
    # A directory's name (tester 61: "data/" left a file named "data" behind and said only "Not a directory").
    for name in (f"{tmp_path}/data/", str(tmp_path)):
        with pytest.raises(sqlite3.OperationalError, match="names a directory: give a file in it"):
            SqliteStore(name)
    assert not (tmp_path / "data").exists()
    # An empty file, and a store whose creation stopped half way (its own tables, version 0), are taken.
    (tmp_path / "empty.db").write_bytes(b"")
    SqliteStore(tmp_path / "empty.db").close()
    conn = sqlite3.connect(tmp_path / "half.db")
    conn.execute("CREATE TABLE messages (message_id TEXT PRIMARY KEY, final_time REAL, record BLOB NOT NULL)")
    conn.commit()
    conn.close()
    store = SqliteStore(tmp_path / "half.db")
    store.save_message(full_message("kept"))
    store.commit(lambda: None)
    store.close()
    assert [m.message_id for m in stored_state(tmp_path / "half.db").messages] == ["kept"]


def test_a_file_of_the_same_version_without_the_rule_spells_table_gets_it_and_keeps_its_rows(tmp_path: Path) -> None:
    """Files written before rule spells were kept (same schema version 3) gain the table at open."""
    path = tmp_path / "s.sqlite"
    store = SqliteStore(path)
    store.save_message(full_message("kept"))
    store.save_opt_out("uk", "447700900123", True)
    store.commit(lambda: None)
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE rule_spells")
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    assert [m.message_id for m in store.load().messages] == ["kept"]
    assert store.load_world().rule_spells == []
    store.save_rule_spell("uk", "447700900920", 1234.5)
    store.save_rule_spell("uk", "447700900921", 99.0)
    store.save_rule_spell("uk", "447700900921", None)  # ended: the row goes
    store.commit(lambda: None)
    store.close()
    store = SqliteStore(path)
    world = store.load_world()
    store.close()
    assert world.rule_spells == [("uk", "447700900920", 1234.5)]
    assert world.opt_outs == [("uk", "447700900123")]


def test_unreadable_rows_are_skipped_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SqliteStore(path)
    store.save_message(full_message("good"))
    store.save_delivery(Delivery(delivery_id=1, system_id="e", source=Address(), destination=Address()))
    store.commit(lambda: None)
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO messages (message_id, record) VALUES ('garbage', x'0001')")
    conn.execute("INSERT INTO messages (message_id, record) VALUES ('short', ?)", (pickle.dumps(("e", 1)),))
    conn.execute("INSERT INTO outbox (delivery_id, record) VALUES (2, x'80')")
    # Tester 38: a blob in final_time (a file edited by another program) ended the start in a traceback.
    good_record = conn.execute("SELECT record FROM messages WHERE message_id = 'good'").fetchone()[0]
    conn.execute("INSERT INTO messages (message_id, final_time, record) VALUES ('blob', x'deadbeef', ?)",
                 (good_record,))
    conn.commit()
    conn.close()
    state = store.load()
    assert [m.message_id for m in state.messages] == ["good"]
    assert [d.delivery_id for d in state.deliveries] == [1]
    assert [m.message_id for m in store.load_messages(["garbage", "good", "short", "blob"])] == ["good"]


def test_a_record_naming_a_class_is_refused_not_loaded(tmp_path: Path) -> None:
    """A file changed by hand cannot make the store import or call anything: records hold built-in types."""
    path = tmp_path / "s.sqlite"
    SqliteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO messages (message_id, record) VALUES ('evil', ?)",
                 (pickle.dumps(collections.OrderedDict(a=1)),))
    conn.commit()
    conn.close()
    assert stored_state(path).messages == []


def test_tlvs_are_stored_as_plain_values_and_enum_tags_come_back_equal(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    m = full_message("1", tlvs={Tag.user_message_reference: True, 0x1401: bytearray(b"ab"), 0x1402: (1, b"x"),
                                0x1403: None, Tag.message_state: MessageState.DELIVERED})
    store.save_message(m)
    store.commit(lambda: None)
    [back] = store.load().messages
    assert back.tlvs == {Tag.user_message_reference: 1, 0x1401: b"ab", 0x1402: [1, b"x"], 0x1403: None,
                         Tag.message_state: 2}
    assert all(type(v) in (int, bytes, list, type(None)) for v in back.tlvs.values())
    with pytest.raises(TypeError):
        store.save_message(full_message("2", tlvs={0x1400: 1.5}))


def test_synchronous_must_be_normal_or_full(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        SqliteStore(tmp_path / "s.sqlite", synchronous="OFF")
    SqliteStore(tmp_path / "f.sqlite", synchronous="full").close()


def test_many_rows_in_one_batch_are_written_in_chunks_and_read_back(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite")
    for i in range(1500):
        store.save_message(full_message(f"{i:05d}", state=MessageState.ENROUTE, final_time=None))
        store.save_delivery(Delivery(delivery_id=i, system_id="esme", source=Address(), destination=Address()))
    store.commit(lambda: None)
    for i in range(0, 1500, 2):
        store.save_message(full_message(f"{i:05d}", state=MessageState.DELIVERED, final_time=9.0))
        store.delete_delivery(i)
    store.commit(lambda: None)
    state = store.load()
    assert [m.message_id for m in state.messages] == [f"{i:05d}" for i in range(1500)]  # rows keep their place
    assert sum(m.state == MessageState.DELIVERED for m in state.messages) == 750
    assert [d.delivery_id for d in state.deliveries] == list(range(1, 1500, 2))


def test_load_reads_every_waiting_message_and_only_the_newest_final_ones(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = SqliteStore(path)
    waiting = [full_message(f"w{i}", state=MessageState.ENROUTE, final_time=None) for i in range(2)]
    finals = [full_message(f"f{i}", state=MessageState.DELIVERED, final_time=10.0 + i) for i in range(5)]
    for m in [finals[0], waiting[0], *finals[1:], waiting[1]]:
        store.save_message(m)
    store.commit(lambda: None)
    store.close()
    again = SqliteStore(path)
    assert [m.message_id for m in again.load(max_final=2).messages] == ["f3", "f4", "w0", "w1"]
    assert [m.message_id for m in again.load(max_final=0).messages] == ["w0", "w1"]
    assert len(again.load().messages) == 7  # without a bound: everything, as before
    assert [m.message_id for m in again.load_messages(["f0"])] == ["f0"]  # the others stay readable
    again.close()


def test_dpf_flags_are_written_as_their_last_change_and_read_back(tmp_path: Path) -> None:
    """A flag set then cleared before a commit is never written; one set again replaces its addresses."""
    path = tmp_path / "s.sqlite"
    store = SqliteStore(path)
    handset, esme = Address(ton=1, npi=1, addr="447700900400"), Address(ton=5, npi=0, addr="Brand")
    store.save_dpf_flag("447700900400", "esme", handset, esme)
    store.save_dpf_flag("447700900401", "esme", handset, esme)
    store.delete_dpf_flag("447700900401", "esme")
    store.commit(lambda: None)
    assert store.load_dpf_flags() == [("447700900400", "esme", handset, esme)]
    national = Address(ton=2, npi=1, addr="07700900400")
    store.save_dpf_flag("447700900400", "esme", national, esme)
    store.save_dpf_flag("447700900400", "other", handset, esme)
    store.commit(lambda: None)
    store.close()
    again = SqliteStore(path)
    assert again.load_dpf_flags() == [("447700900400", "esme", national, esme),
                                      ("447700900400", "other", handset, esme)]
    again.delete_dpf_flag("447700900400", "esme")
    again.close()  # (writes what is pending)
    last = SqliteStore(path)
    assert last.load_dpf_flags() == [("447700900400", "other", handset, esme)]
    last.close()


def test_the_store_tells_when_its_file_is_deleted_or_replaced(tmp_path: Path) -> None:
    # Tester 57: commits go on into a deleted file, and a restart finds none of them (App stops on this).
    path = tmp_path / "s.sqlite"
    store = SqliteStore(path)
    try:
        assert store.file_problem() is None
        before = path.read_bytes()
        with open(path, "r+b") as f:  # emptied in place (tester 61: ``: > file``, same inode)
            f.truncate(0)
        assert store.file_problem() == ("the file was emptied or written over while smsc ran (it no longer starts "
                                        "as a SQLite database)")
        with open(path, "r+b") as f:
            f.write(before)
        assert store.file_problem() is None
        other = tmp_path / "other.sqlite"
        other.write_bytes(path.read_bytes())
        os.replace(other, path)
        assert store.file_problem() == "the file was replaced by another while smsc ran"
        path.unlink()
        assert store.file_problem() == "the file was deleted or moved away while smsc ran"
    finally:
        store.close()


def test_a_checkpoint_that_finds_the_file_not_a_database_reports_damage(tmp_path: Path) -> None:
    # Tester 61: "file is not a database" from the writer's checkpoints was logged every second for ten minutes
    # while /api/health said ok; the commits then go on into a WAL that no restart can use.
    store = SqliteStore(tmp_path / "s.sqlite")
    damaged: list[str] = []
    store.on_damage = damaged.append
    try:
        store._on_checkpoint(("checkpoint", "PASSIVE", 0.001, 10, 0, "database is locked"))
        assert damaged == [] and store.damage is None  # (a lock is no damage: the next one may pass)
        store._on_checkpoint(("checkpoint", "PASSIVE", 0.001, 10, 0, "DatabaseError: file is not a database"))
        assert damaged == ["DatabaseError: file is not a database"]
        store._on_checkpoint(("checkpoint", "PASSIVE", 0.001, 10, 0, "DatabaseError: file is not a database"))
        assert len(damaged) == 1  # reported once
    finally:
        store.close()


def test_a_checkpoint_failing_again_and_again_is_logged_first_then_every_so_often_then_when_it_works(
        tmp_path: Path) -> None:
    """Tester 70: a store file made immutable under the server failed every checkpoint, and the log got an error
    line once or twice a second for as long as it lasted.  The first, every REPEATED_FAILURE_LOG_EVERY-th with the
    count, and one line when a checkpoint works again.  (The writer child's answers, as it sends them.)"""
    import structlog

    from smsc.core.store import sqlite as sqlite_store

    store = SqliteStore(tmp_path / "s.sqlite")
    every = sqlite_store.REPEATED_FAILURE_LOG_EVERY
    try:
        with structlog.testing.capture_logs() as logs:
            for _ in range(2 * every + 5):
                store._on_checkpoint(("checkpoint", "PASSIVE", 0.001, 10, 0, "OperationalError: disk I/O error"))
            store._on_checkpoint(("checkpoint", "PASSIVE", 0.001, 10, 10, None))
            store._on_checkpoint(("checkpoint", "PASSIVE", 0.001, 10, 0, "OperationalError: disk I/O error"))
            store._on_checkpoint(("checkpoint", "PASSIVE", 0.001, 10, 10, None))
            store._checkpoint_failures.last_at -= sqlite_store._Failures.QUIET + 1  # (a quiet minute)
            store._on_checkpoint(("checkpoint", "PASSIVE", 0.001, 10, 0, "OperationalError: disk I/O error"))
        events = [(e["event"], e.get("failures")) for e in logs]
        # (the failure right after the recovery counts on, unlogged, and so is its recovery: tester 117; after a
        # quiet minute the next one is a first again)
        assert events == [("store_checkpoint_failed", 1), ("store_checkpoint_failed", every),
                          ("store_checkpoint_failed", 2 * every), ("store_checkpoint_recovered", 2 * every + 5),
                          ("store_checkpoint_failed", 1)]
        assert store.stats.checkpoint_failures == 2 * every + 7
    finally:
        store.close()


def test_a_commit_that_fails_and_recovers_again_and_again_is_logged_once_per_120_and_health_says_failing(
        tmp_path: Path) -> None:
    """Tester 117: a store that failed and recovered about once a second (a file-size limit) logged a failed and a
    recovered line every second, each failure a "first", while /api/health said ok.  (The writer child's answers,
    as it sends them; the batch each success acknowledges is one in flight.)"""
    import collections

    import structlog

    from smsc.core.store import sqlite as sqlite_store

    store = SqliteStore(tmp_path / "s.sqlite")
    every = sqlite_store.REPEATED_FAILURE_LOG_EVERY
    try:
        assert store.seconds_since_commit_failure() == float("inf")
        with structlog.testing.capture_logs() as logs:
            for _ in range(every + 1):
                store._on_answer(("error", "OperationalError: database or disk is full"))
                store._in_flight = collections.deque([(b"", sqlite_store._Batch(), 0.0)])
                store._on_answer(("ok", 0.001))
        events = [(e["event"], e.get("failures")) for e in logs]
        assert events == [("store_commit_failed", 1), ("store_commit_recovered", 1),
                          ("store_commit_failed", every), ("store_commit_recovered", 1)]
        assert store.stats.failures == every + 1
        assert store.seconds_since_commit_failure() < 5
    finally:
        store._in_flight.clear()
        store.close()


def test_a_new_store_and_its_companions_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    """Tester 110: the store, its -wal, -shm and .lock were 0644 under the usual umask 022 (0644 even under 000),
    and any local user could read every message's text, OTP codes included."""
    import stat

    previous = os.umask(0o022)
    try:
        store = SqliteStore(tmp_path / "s.sqlite")
        try:
            store.save_sim_time(1.0)
            store.commit(lambda: None)
            files = [tmp_path / name for name in ("s.sqlite", "s.sqlite-wal", "s.sqlite-shm", "s.sqlite.lock")]
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files if f.exists()}
        finally:
            store.close()
    finally:
        os.umask(previous)
    assert modes["s.sqlite"] == 0o600 and "s.sqlite-wal" in modes, modes
    assert all(mode == 0o600 for mode in modes.values()), modes


def _open_and_commit(path: Path) -> None:
    """Open a store at ``path``, commit one write, close it."""
    store = SqliteStore(path)
    try:
        store.save_sim_time(1.0)
        store.commit(lambda: None)
    finally:
        store.close()


def test_an_existing_store_and_an_empty_file_open_to_others_are_made_owner_only(tmp_path: Path) -> None:
    """Tester 117: only a file smsc made itself was 0600; an older store at 0644 (with its -wal) and an empty 0666
    file taken as a new store stayed readable, or writable, by every local user."""
    import stat

    from structlog.testing import capture_logs

    old = tmp_path / "old.sqlite"
    _open_and_commit(old)
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    (tmp_path / "old.sqlite-wal").write_bytes(b"")  # (a -wal left beside it, as after a crash)
    for path, mode in ((old, 0o644), (tmp_path / "old.sqlite-wal", 0o644), (empty, 0o666)):
        path.chmod(mode)
    with capture_logs() as logs:
        for path in (old, empty):
            _open_and_commit(path)
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in tmp_path.iterdir() if f.name != "old.sqlite.lock"
             and not f.name.endswith(".lock")}
    assert modes and all(mode == 0o600 for mode in modes.values()), modes
    tightened = [(e["path"], e["was"]) for e in logs if e["event"] == "store_permissions_tightened"]
    assert tightened == [(str(old), "0644"), (str(old) + "-wal", "0644"), (str(empty), "0666")]


def test_a_new_store_through_a_dangling_symlink_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """Tester 112: --db naming a symlink to a file not yet there made the target, its -wal and -shm 0644."""
    import stat

    link = tmp_path / "link.sqlite"
    link.symlink_to(tmp_path / "target.sqlite")
    previous = os.umask(0o022)
    try:
        _open_and_commit(link)
    finally:
        os.umask(previous)
    assert link.is_symlink()
    assert stat.S_IMODE((tmp_path / "target.sqlite").stat().st_mode) == 0o600


def test_a_lock_file_that_is_a_symbolic_link_is_refused_and_its_target_left_alone(tmp_path: Path) -> None:
    """Tester 126: ``<store>.lock`` was opened through a symbolic link put in its place, and the server's pids
    were written over the file it named, even when the start then failed."""
    import sqlite3

    victim = tmp_path / "precious.txt"
    victim.write_text("keep me\n")
    (tmp_path / "s.sqlite.lock").symlink_to(victim)
    with pytest.raises(sqlite3.OperationalError, match=r"s\.sqlite\.lock: it is a symbolic link"):
        SqliteStore(tmp_path / "s.sqlite", call_soon_threadsafe=lambda *a: None)
    assert victim.read_text() == "keep me\n"


def test_a_store_on_a_nearly_full_disk_says_how_much_is_free(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 177: on a full disk the start said only SQLite's "disk I/O error", and store_commit_failed nothing
    of the disk.  Below LOW_DISK_SPACE free (here the threshold is raised above any disk: the real file system's
    figure is read) the note says how much is free; above it, nothing."""
    import os

    from smsc.core.store import sqlite as sqlite_store

    path = str(tmp_path / "s.sqlite")
    assert sqlite_store.low_disk_note(path) == ""  # (this machine's temporary directory is not full)
    monkeypatch.setattr(sqlite_store, "LOW_DISK_SPACE", 1 << 62)
    st = os.statvfs(tmp_path)
    note = sqlite_store.low_disk_note(path)
    assert note.startswith("the disk holding it has ") and note.endswith(" KiB free")
    free_kib = int(note.split()[5].replace(",", ""))
    assert abs(free_kib - st.f_bavail * st.f_frsize // 1024) < 1 << 20  # (within 1 GiB: other writers move it)
    assert sqlite_store.low_disk_note("/nonexistent/dir/s.sqlite") == ""  # (never raises)
