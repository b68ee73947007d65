"""The SQLite store's group commit without a thread (``call_soon`` only), coalescing between writes, and the
migration of a schema v2 file.  Real SQLite files; the loop is a plain call_soon queue."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.unit.test_smsc_support import Ticks

import pytest

from smsc.core.api import Address, Delivery
from smsc.core.message import Attempt, Message
from smsc.core.store.memory import MemoryStore
from smsc.core.store.sqlite import SqliteStore, _Batch, message_from_row
from smsc.smpp.constants import MessageState, Tag
from tests.stored import stored_state


def message(message_id: str, **changes: Any) -> Message:
    fields: dict[str, Any] = dict(
        message_id=message_id, system_id="esme", source=Address(ton=5, addr="Brand"),
        destination=Address(ton=1, npi=1, addr="447700900123"), destination_e164="447700900123", carrier="uk",
        registered_delivery=1, short_message=b"hello", submit_time=1.0, expiry_time=100.0,
        state=MessageState.ENROUTE,
    )
    fields.update(changes)
    return Message(**fields)


def receipt(delivery_id: int) -> Delivery:
    return Delivery(delivery_id=delivery_id, system_id="esme", source=Address(ton=1, npi=1, addr="447700900123"),
                    destination=Address(ton=5, addr="Brand"), esm_class=4, short_message=b"id:1 stat:DELIVRD",
                    tlvs={Tag.receipted_message_id: "1", Tag.message_state: 2})


def rows(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_commits_of_one_tick_are_one_transaction_and_callbacks_follow_it(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    ticks = Ticks()
    store = SqliteStore(path, call_soon=ticks.call_soon)
    done: list[tuple[str, int]] = []
    for i in range(3):
        store.save_message(message(f"m{i}"))
        store.commit(lambda i=i: done.append((f"m{i}", rows(path, "messages"))))
    assert done == [] and rows(path, "messages") == 0  # nothing acknowledged before it is on disk
    ticks.run()
    assert done == [("m0", 3), ("m1", 3), ("m2", 3)]  # in order, each after its row was committed
    assert store.stats.commits == 1
    store.close()


def test_a_message_accepted_and_finalised_between_writes_is_written_once_in_its_final_state(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"
    ticks = Ticks()
    store = SqliteStore(path, call_soon=ticks.call_soon)
    m = message("1")
    store.save_message(m)
    store.commit(lambda: None)
    m.state = MessageState.DELIVERED
    m.final_time = 2.0
    m.attempts = [Attempt(time=2.0, outcome="delivered")]
    store.save_message(m)
    store.save_delivery(receipt(7))
    store.commit(lambda: None)
    ticks.run()
    assert store.stats.messages == 1
    state = stored_state(path)
    assert state.messages == [m] and [d.delivery_id for d in state.deliveries] == [7]
    store.close()


def test_a_receipt_added_and_acknowledged_between_writes_is_never_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    ticks = Ticks()
    store = SqliteStore(path, call_soon=ticks.call_soon)
    store.save_delivery(receipt(1))
    store.save_delivery(receipt(2))
    store.commit(lambda: None)
    store.delete_delivery(1)
    store.commit(lambda: None)
    ticks.run()
    assert store.stats.deliveries == 1  # the insert of 2; neither the insert nor a DELETE of 1
    assert [d.delivery_id for d in stored_state(path).deliveries] == [2]
    store.delete_delivery(2)  # written before: the delete goes out
    store.commit(lambda: None)
    ticks.run()
    assert stored_state(path).deliveries == []
    store.close()


def test_a_delete_handed_over_after_its_insert_cancels_it_while_the_writer_has_not_taken_it() -> None:
    shared = _Batch()  # what waits for the writer thread
    shared.inserts = {1: receipt(1), 2: receipt(2)}
    local = _Batch()  # the next tick's records
    local.deletes = [1, 9]  # 9 was written in an earlier transaction
    shared.merge(local)
    assert list(shared.inserts) == [2] and shared.deletes == [9]


def ids_in(path: Path) -> dict[str, bytes]:
    conn = sqlite3.connect(path)
    try:
        found = [message_from_row(row) for row in conn.execute("SELECT message_id, final_time, record FROM messages")]
    finally:
        conn.close()
    return {m.message_id: m.short_message for m in found}


def final(message_id: str, text: bytes = b"old") -> Message:
    return message(message_id, short_message=text, state=MessageState.DELIVERED, final_time=5.0)


def test_an_id_given_again_deletes_the_final_records_it_named_before_the_new_one_is_written(tmp_path: Path) -> None:
    """``forget_id`` after a message_id wrap: the final message of the id and every final destination of a
    submit_multi of that id go (the core does not know them all: "007-3" is found by range), a record that is
    not final stays, the new record saved after the call is written, and a save still pending before it is
    not; ids that only begin with the same digits ("0070") are not touched."""
    path = tmp_path / "s.sqlite"
    ticks = Ticks()
    store = SqliteStore(path, call_soon=ticks.call_soon)
    for name in ("007-1", "007-2", "007-3", "0070", "008"):
        store.save_message(final(name))
    store.save_message(message("009-1"))  # waiting
    store.commit(lambda: None)
    ticks.run()

    store.save_message(final("010", b"pending"))  # saved, then its id given again within the same batch
    store.forget_id("010", [])
    store.forget_id("007", ["007-1"])
    store.save_message(message("007", short_message=b"new"))
    store.forget_id("008", [])
    store.save_message(message("008-1", short_message=b"new member"))
    store.forget_id("009", ["009-1"])  # (a destination not final: kept)
    store.commit(lambda: None)
    ticks.run()
    assert ids_in(path) == {"007": b"new", "0070": b"old", "008-1": b"new member", "009-1": b"hello"}
    store.close()


def test_an_id_given_again_in_a_later_tick_drops_the_save_still_waiting_for_the_writer() -> None:
    shared = _Batch()  # what waits for the writer thread
    store_row = ("row",)
    shared.messages = {"011": store_row, "012-1": store_row, "013": store_row}  # type: ignore[dict-item]
    local = _Batch()  # the next tick: "011" and the group "012" given again, "011" saved anew
    local.forgets = {"011": [], "012": ["012-1"]}
    local.messages = {"011": ("new",)}  # type: ignore[dict-item]
    shared.merge(local)
    assert shared.messages == {"013": store_row, "011": ("new",)}
    assert shared.forgets == {"011": [], "012": ["012-1"]} and shared.has_rows()


def test_a_crash_before_the_write_loses_only_what_was_never_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    ticks = Ticks()
    store = SqliteStore(path, call_soon=ticks.call_soon)
    acked: list[str] = []
    store.save_message(message("kept"))
    store.commit(lambda: acked.append("kept"))
    ticks.run()
    m = message("kept", state=MessageState.DELIVERED, final_time=3.0)
    store.save_message(m)
    store.save_message(message("lost"))
    store.commit(lambda: acked.append("lost"))
    # the process dies here: the tick's write never happens (the store is dropped unclosed)
    state = stored_state(path)
    assert acked == ["kept"]
    assert [(x.message_id, x.state) for x in state.messages] == [("kept", MessageState.ENROUTE)]


def test_reads_later_see_the_writes_committed_before_them(tmp_path: Path) -> None:
    ticks = Ticks()
    store = SqliteStore(tmp_path / "s.sqlite", call_soon=ticks.call_soon)
    store.save_message(message("1"))
    store.commit(lambda: None)
    got: list[list[str]] = []
    store.load_messages_later(["1", "2"], lambda ms: got.append([x.message_id for x in ms]))
    assert got == []
    ticks.run()
    assert got == [["1"]]
    store.close()


_V2_SCHEMA = """
CREATE TABLE messages (
    message_id TEXT PRIMARY KEY, system_id TEXT NOT NULL,
    source_ton INTEGER, source_npi INTEGER, source_addr TEXT,
    dest_ton INTEGER, dest_npi INTEGER, dest_addr TEXT, destination_e164 TEXT, carrier TEXT, service_type TEXT,
    esm_class INTEGER, protocol_id INTEGER, priority_flag INTEGER, registered_delivery INTEGER,
    data_coding INTEGER, short_message BLOB, tlvs TEXT,
    submit_time REAL, schedule_time REAL, expiry_time REAL, state INTEGER NOT NULL, final_time REAL,
    error_code INTEGER, network_error_code BLOB, next_attempt_time REAL, attempts TEXT,
    submitted_count INTEGER, multi_id TEXT
);
CREATE INDEX messages_final_time ON messages (final_time) WHERE final_time IS NOT NULL;
CREATE TABLE outbox (
    delivery_id INTEGER PRIMARY KEY, system_id TEXT NOT NULL,
    source_ton INTEGER, source_npi INTEGER, source_addr TEXT, dest_ton INTEGER, dest_npi INTEGER, dest_addr TEXT,
    esm_class INTEGER, protocol_id INTEGER, priority_flag INTEGER, data_coding INTEGER, short_message BLOB,
    service_type TEXT, tlvs TEXT, kind TEXT
);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE opt_outs (carrier TEXT NOT NULL, e164 TEXT NOT NULL, PRIMARY KEY (carrier, e164));
PRAGMA user_version=2;
"""


def test_a_schema_v2_file_is_migrated_with_every_row(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(_V2_SCHEMA)
    conn.execute(
        "INSERT INTO messages VALUES ('b', 'esme', 5, 0, 'Brand', 1, 1, '447700900123', '447700900123', 'uk', "
        "'CMT', 64, 1, 2, 17, 8, x'0500', '[[30,\"s\",\"x\"],[5120,\"b\",\"00ff\"],[516,\"i\",7]]', 1.5, NULL, "
        "3.5, 2, 4.5, 0, x'030001', NULL, '[[4.5,\"delivered\",0]]', 1, '')")
    conn.execute(
        "INSERT INTO messages VALUES ('a', 'esme', 5, 0, 'Brand', 1, 1, '447700900124', '447700900124', 'uk', "
        "'', 0, 0, 0, 1, 0, x'68', NULL, 1.5, NULL, 3.5, 1, NULL, 0, NULL, 2.0, NULL, 1, '')")
    conn.execute("INSERT INTO outbox VALUES (3, 'esme', 1, 1, '447700900123', 5, 0, 'Brand', 4, 0, 0, 0, "
                 "x'6964', '', '[[30,\"s\",\"b\"]]', 'receipt')")
    conn.execute("INSERT INTO counters VALUES ('next_message_number', 9)")
    conn.execute("INSERT INTO opt_outs VALUES ('uk', '447700900999')")
    conn.commit()
    conn.close()
    store = SqliteStore(path)
    state = store.load()
    assert [m.message_id for m in state.messages] == ["b", "a"]  # insertion order kept
    b, a = state.messages
    assert (b.state, b.final_time, b.tlvs) == (MessageState.DELIVERED, 4.5, {30: "x", 0x1400: b"\x00\xff", 516: 7})
    assert b.attempts == [Attempt(time=4.5, outcome="delivered", err=0)] and b.network_error_code == b"\x03\x00\x01"
    assert (a.state, a.next_attempt_time, a.short_message) == (MessageState.ENROUTE, 2.0, b"h")
    assert [(d.delivery_id, d.short_message, d.tlvs) for d in state.deliveries] == [(3, b"id", {30: "b"})]
    assert state.next_message_number == 9
    assert store.load_world().opt_outs == [("uk", "447700900999")]
    store.prune_final(10.0)
    store.commit(lambda: None)
    assert [m.message_id for m in store.load().messages] == ["a"]  # the final_time index came along
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    conn.close()


@pytest.mark.parametrize("kind", ["inline", "tick", "writer thread", "memory"])
def test_a_message_moved_last_is_handed_back_after_every_message_saved_before_it(tmp_path: Path, kind: str) -> None:
    """replace_sm gives a message a new submit time: a restart must resume it behind the messages accepted
    before the replace, not at its first place (``iter_waiting`` goes by rowid, which an upsert keeps)."""
    ticks = Ticks()
    store: Any
    if kind == "memory":
        store = MemoryStore()
    elif kind == "writer thread":
        store = SqliteStore(tmp_path / "s.sqlite", call_soon_threadsafe=lambda cb, *a: cb(*a))
    else:
        store = SqliteStore(tmp_path / "s.sqlite", call_soon=ticks.call_soon if kind == "tick" else None)
    done: list[int] = []
    for i in range(5):
        store.save_message(message(f"m{i}"))
    store.commit(lambda: done.append(1))
    ticks.run()
    store.move_message_last(message("m1", short_message=b"replaced"))
    store.save_message(message("m5"))
    store.move_message_last(message("m6", submit_time=2.0))  # saved first by a move: nothing to move
    store.move_message_last(message("m3", short_message=b"replaced"))
    store.commit(lambda: done.append(2))
    ticks.run()
    if kind == "writer thread":
        store.close()
        store = SqliteStore(tmp_path / "s.sqlite")
    else:
        assert done == [1, 2]
    waiting = [m for batch in store.iter_waiting(2) for m in batch]
    assert [m.message_id for m in waiting] == ["m0", "m2", "m4", "m1", "m5", "m6", "m3"]
    assert [m.short_message for m in waiting if m.message_id in ("m1", "m3")] == [b"replaced"] * 2
    store.close()


def test_a_move_handed_over_after_the_first_save_moves_the_message_behind_the_others() -> None:
    shared = _Batch()  # what waits for the writer thread: m1 accepted, not yet written
    shared.messages = {"m1": ("m1", None, b"a"), "m2": ("m2", None, b"b")}
    local = _Batch()  # the next tick: m1 replaced
    local.messages = {"m1": ("m1", None, b"c")}
    local.moved = ["m1"]
    shared.merge(local)
    assert list(shared.messages) == ["m2", "m1"] and shared.messages["m1"][2] == b"c"
    assert shared.moved == ["m1"]
