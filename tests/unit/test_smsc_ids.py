"""message_ids of a short format wrap around: an id is never given to a new message while a message with that
id is not final (waiting in memory, or evicted to the store), and the id of a final message may be given
again (the old final record is replaced).  Memory store and a real SQLite file, on a FakeClock."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_smsc_support import (
    INF,
    START,
    Harness,
    MessageState,
    carrier,
    make_config,
    Tag,
    rule,
)

from smsc.config import MessageIdFormat
from smsc.core.api import Address
from smsc.core.clock import FakeClock
from smsc.core.ids import COLD_TRIES, MessageIdGenerator, first_free, written_by
from smsc.core.message import Message
from smsc.core.tracks import MessageIndex, Track
from smsc.core.store.memory import MemoryStore
from smsc.core.store.sqlite import SqliteStore, message_from_row
from smsc.smpp.constants import CommandStatus as S

OFF = "447700900400"  # never on: its messages wait (evicted from memory) until their validity ends
ONLINE = "447700900100"  # delivered 2 s after the attempt
FOUR = MessageIdFormat(format="decimal", length=4)  # 10,000 ids: "0000" to "9999"
CONFIG = make_config(carrier(rules=(rule(OFF, offline=INF),)), max_waiting=20_000, message_id=FOUR)


def new_store(kind: str, tmp_path: Path) -> Any:
    return MemoryStore() if kind == "memory" else SqliteStore(tmp_path / "ids.sqlite")


def stored_texts(store: Any, message_ids: list[str]) -> dict[str, tuple[bytes, bool]]:
    """message_id -> (short_message, final) of the committed records: read from the SQLite file with a
    connection of our own, or the memory store's records."""
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(store.path)
        try:
            rows = conn.execute("SELECT message_id, final_time, record FROM messages").fetchall()
        finally:
            conn.close()
        messages = [message_from_row(row) for row in rows]
    else:
        messages = store.load_messages(message_ids)
    return {m.message_id: (m.short_message, m.is_final) for m in messages}


THREE = MessageIdFormat(format="decimal", length=3)  # 1,000 ids: "000" to "999" (shorter than a config allows)
CONFIG3 = make_config(carrier(rules=(rule(OFF, offline=INF),)), max_waiting=20_000, message_id=THREE)
ONLINE2 = "447700900101"


def fill_but_one(h: Harness) -> list[str]:
    """999 submits to the number that is never on: with the id that came before them, every one of the 1,000
    ids is taken, the counter has wrapped, and the one id not waiting is the only one a submit can get."""
    return [h.submit_ok(OFF, f"w{i}") for i in range(999)]


def restarted(kind: str, store: Any, tmp_path: Path, clock: FakeClock, **options: Any) -> Harness:
    """A second SMSC on what the first left on disk (SQLite) or in the memory store (read back as copies)."""
    if kind == "sqlite":
        store.close()
        store = SqliteStore(tmp_path / "ids.sqlite")
    return Harness(CONFIG3, store=store, clock=clock, **options)


def answers(h: Harness, message_id: str) -> tuple[bytes, list[str]]:
    """What each lookup path finds for ``message_id``: the text of ``Smsc.message`` (the HTTP API's
    ``GET /api/messages/{id}``) and the ids of what query_sm would report on (:meth:`Smsc._lookup`)."""
    msg = h.smsc.message(message_id)
    assert msg is not None
    found = h.smsc._lookup("esme", message_id, Address(ton=1, npi=1, addr=""), recall=False)
    return msg.short_message, sorted(m.message_id for m in found)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_ids_of_waiting_messages_are_not_given_again_after_a_wrap(kind: str, tmp_path: Path) -> None:
    """10,050 submits to a number that is never on, with 4-digit ids: the 10,000 accepted keep distinct ids
    and all wait, each stored with its own text; once every id names a waiting message the rest are refused
    with ESME_RMSGQFUL (before the fix: all 10,050 accepted, 50 overwriting the records of waiting ones)."""
    store = new_store(kind, tmp_path)
    h = Harness(CONFIG, store=store, clock=FakeClock(START))
    results = [h.submit(OFF, f"m{i}") for i in range(10_050)]
    h.advance(1.0)

    accepted = {r.message_id: f"m{i}".encode() for i, r in enumerate(results) if r.status == S.ESME_ROK}
    assert [r.status for r in results[10_000:]] == [S.ESME_RMSGQFUL] * 50
    assert len(accepted) == 10_000  # distinct: a repeated id would have made the dict smaller
    assert set(accepted) == {f"{n:04d}" for n in range(10_000)}
    assert h.smsc.waiting_count() == 10_000
    stored = stored_texts(store, list(accepted))
    assert {i: text for i, (text, final) in stored.items() if not final} == accepted
    if kind == "sqlite":
        store.close()
        again = Harness(CONFIG, store=SqliteStore(tmp_path / "ids.sqlite"), clock=FakeClock(START + 2.0))
        assert again.smsc.waiting_count() == 10_000  # after a restart too: nothing was overwritten
        assert again.submit(OFF, "one more").status == S.ESME_RMSGQFUL
        again.store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_after_a_wrap_a_final_messages_id_is_given_again_and_a_waiting_ones_is_skipped(
    kind: str, tmp_path: Path,
) -> None:
    store = new_store(kind, tmp_path)
    clock = FakeClock(START)
    first = Harness(CONFIG3, store=store, clock=clock)
    done = first.submit_ok(ONLINE, "delivered")
    waiting = first.submit_ok(OFF, "waiting")
    done_too = first.submit_ok(ONLINE, "delivered too")
    assert (done, waiting, done_too) == ("001", "002", "003")
    rest = [first.submit_ok(OFF, f"w{i}") for i in range(997)]  # "004" ... "999", "000": the counter wrapped
    assert rest[-1] == "000"
    first.advance(10.0)
    assert first.state(done) == MessageState.DELIVERED and first.state(done_too) == MessageState.DELIVERED

    h = restarted(kind, store, tmp_path, clock)
    reused = h.submit_ok(OFF, "new one")  # final: given again, "002" (waiting) skipped
    reused_too = h.submit_ok(OFF, "new two")
    assert (reused, reused_too) == ("001", "003")
    assert h.submit(OFF, "no id left").status == S.ESME_RMSGQFUL  # every id names a waiting message
    h.advance(1.0)
    stored = stored_texts(h.store, ["001", "002", "003"])
    assert {i: stored[i] for i in ("001", "002", "003")} == {
        "001": (b"new one", False),  # the old final record is replaced
        "002": (b"waiting", False),
        "003": (b"new two", False),
    }
    assert h.query("002").message_state == MessageState.ENROUTE
    assert h.smsc.waiting_count() == 1000
    if kind == "sqlite":  # a restart resumes them in acceptance order: the new records are rows of their own
        order = [m.message_id for batch in h.store.iter_waiting(4096) for m in batch]
        assert order[0] == "002" and order[-2:] == ["001", "003"]  # (before: "001" first, in its old row)
        h.store.close()


def test_after_a_wrap_a_submit_multi_id_with_a_waiting_destination_is_skipped(tmp_path: Path) -> None:
    """A submit_multi's id names its destinations ("001-1", "001-2"): while one of them waits, neither a
    submit_sm nor another submit_multi may get "001"; once all are final it may be given again, and then no
    longer names the old destinations."""
    store = SqliteStore(tmp_path / "ids.sqlite")
    clock = FakeClock(START)
    first = Harness(CONFIG3, store=store, clock=clock)
    multi = first.submit_multi([OFF, ONLINE])
    done_multi = first.submit_multi([ONLINE, ONLINE])
    assert (multi.message_id, done_multi.message_id) == ("001", "002")
    assert first.submit_ok(ONLINE, "plain before") == "003"
    fill = [first.submit_ok(OFF, f"w{i}") for i in range(997)]  # "004" ... "000": every id taken
    assert fill[-1] == "000"
    first.advance(10.0)

    h = restarted("sqlite", store, tmp_path, clock)
    plain = h.submit_ok(ONLINE, "plain")  # "001" has a waiting destination: skipped; "002" is all final
    assert plain == "002"
    again = h.submit_multi([OFF])
    assert again.status == 0 and again.message_id == "003"
    h.advance(10.0)
    assert h.query("001").message_state == MessageState.ENROUTE  # the old submit_multi still waits
    assert h.query("002").message_state == MessageState.DELIVERED  # the new submit_sm, not the old group
    assert h.smsc.message("002") is not None and h.smsc.message("002").short_message == b"plain"
    h.store.close()


def test_first_free_skips_ids_in_use_and_gives_up_after_the_bound() -> None:
    live = {"0005", "0006", "0007"}
    asked: list[list[str]] = []

    def in_use(ids: list[str]) -> set[str]:
        asked.append(ids)
        return live & set(ids)

    assert first_free(10_005, 10_000, "%04d", 100, in_use) == 10_008
    assert asked == [["0005"], ["0006", "0007"], ["0008", "0009", "0010", "0011"]]  # chunks 1, 2, 4
    assert first_free(10_005, 10_000, "%04d", 3, in_use) is None  # the bound is reached
    everything = {f"{n:04d}" for n in range(10_000)}
    assert first_free(1, 10_000, "%04d", 1 << 40, lambda ids: everything & set(ids)) is None  # at most modulus


def test_the_generator_checks_ids_only_once_the_format_has_wrapped() -> None:
    asked: list[list[str]] = []

    def in_use(ids: list[str]) -> set[str]:
        asked.append(ids)
        return {"0001"} & set(ids)

    reused: list[str] = []
    ids = MessageIdGenerator(FOUR, 9_999, in_use=in_use, live_bound=lambda: 10, reused=reused.append)
    assert ids.next_id() == "9999" and asked == [] and reused == []
    assert ids.next_id() == "0000" and asked == [["0000"]]
    assert ids.next_id() == "0002" and ids.next_number == 10_003
    assert reused == ["0000", "0002"]  # every id given after the wrap, none before
    hex_ids = MessageIdGenerator(MessageIdFormat(format="hex", length=4), 0xFFFF, in_use=in_use)
    assert hex_ids.next_id() == "ffff" and hex_ids.next_id() == "0000"


# == an id given again names the new message only (a submit_sm's id to a submit_multi and back) ==============

KINDS = [("memory", True), ("sqlite", True), ("sqlite", False)]
KIND_IDS = ["memory", "sqlite", "sqlite-finals-on-disk"]


def options_for(in_memory: bool) -> dict[str, Any]:
    """With ``in_memory`` False the core keeps one final message in memory: lookups of the others read them
    from the SQLite file."""
    return {} if in_memory else {"max_final_in_memory": 1}


@pytest.mark.parametrize(("kind", "in_memory"), KINDS, ids=KIND_IDS)
def test_a_submit_multi_id_given_to_a_submit_sm_names_only_the_submit_sm(
    kind: str, in_memory: bool, tmp_path: Path,
) -> None:
    """Before the fix the old destinations stayed (``Smsc.message("001-2")``), and after a restart the old group
    answered query_sm for "001" in place of the submit_sm (its destinations were read back with the finals)."""
    options = options_for(in_memory)
    store = new_store(kind, tmp_path)
    clock = FakeClock(START)
    h = Harness(CONFIG3, store=store, clock=clock, **options)
    group = h.submit_multi([ONLINE, ONLINE2, ONLINE], "old group")
    assert group.status == 0 and group.message_id == "001"
    fill_but_one(h)
    h.advance(10.0)
    assert h.query("001").message_state == MessageState.DELIVERED

    assert h.submit_ok(ONLINE, "plain") == "001"  # the only id not held by a waiting message
    h.advance(1.0)  # (committed; not yet delivered)
    assert answers(h, "001") == (b"plain", ["001"])
    assert h.query("001").message_state == MessageState.ENROUTE
    h.advance(10.0)
    assert h.query("001").message_state == MessageState.DELIVERED
    assert h.smsc.message("001-2") is None  # the old destinations are gone

    h = restarted(kind, store, tmp_path, clock, **options)
    assert answers(h, "001") == (b"plain", ["001"])  # before: the old group ["001-1", "001-2", "001-3"]
    assert h.query("001").message_state == MessageState.DELIVERED
    assert h.smsc.message("001-2") is None
    if kind == "sqlite":
        stored = stored_texts(h.store, [])
        assert {i: t for i, (t, _) in stored.items() if i.startswith("001")} == {"001": b"plain"}
        h.store.close()


@pytest.mark.parametrize(("kind", "in_memory"), KINDS, ids=KIND_IDS)
def test_a_submit_sm_id_given_to_a_submit_multi_names_only_the_submit_multi(
    kind: str, in_memory: bool, tmp_path: Path,
) -> None:
    """Before the fix ``Smsc.message("001")`` (``GET /api/messages/001``) showed the old submit_sm, and with
    the final records on disk only, query_sm found the old submit_sm beside the new destination."""
    options = options_for(in_memory)
    store = new_store(kind, tmp_path)
    clock = FakeClock(START)
    h = Harness(CONFIG3, store=store, clock=clock, **options)
    assert h.submit_ok(ONLINE, "plain") == "001"
    fill_but_one(h)
    h.advance(10.0)
    assert h.query("001").message_state == MessageState.DELIVERED

    multi = h.submit_multi([ONLINE], "new group")  # "001" is the only free id
    assert multi.status == 0 and multi.message_id == "001"
    h.advance(1.0)
    assert answers(h, "001") == (b"new group", ["001-1"])  # before: b"plain" from Smsc.message
    assert h.query("001").message_state == MessageState.ENROUTE
    h.advance(10.0)
    assert h.query("001").message_state == MessageState.DELIVERED
    assert answers(h, "001") == (b"new group", ["001-1"])

    h = restarted(kind, store, tmp_path, clock, **options)
    assert answers(h, "001") == (b"new group", ["001-1"])  # before: b"plain" (its record was kept)
    if kind == "sqlite":
        stored = stored_texts(h.store, [])
        assert {i: t for i, (t, _) in stored.items() if i.startswith("001")} == {"001-1": b"new group"}
        h.store.close()


@pytest.mark.parametrize(("kind", "in_memory"), KINDS, ids=KIND_IDS)
def test_a_submit_multi_id_given_to_a_smaller_submit_multi_names_only_its_destinations(
    kind: str, in_memory: bool, tmp_path: Path,
) -> None:
    """A group of three destinations, then a group of one with the same id: "001-2" and "001-3" of the old
    group must not join the new one (before the fix they did after a restart: query_sm reported on three)."""
    options = options_for(in_memory)
    store = new_store(kind, tmp_path)
    clock = FakeClock(START)
    h = Harness(CONFIG3, store=store, clock=clock, **options)
    assert h.submit_multi([ONLINE, ONLINE2, ONLINE], "old group").message_id == "001"
    fill_but_one(h)
    h.advance(10.0)
    multi = h.submit_multi([ONLINE2], "new group")
    assert multi.status == 0 and multi.message_id == "001"
    h.advance(10.0)
    assert answers(h, "001") == (b"new group", ["001-1"])
    h = restarted(kind, store, tmp_path, clock, **options)
    assert answers(h, "001") == (b"new group", ["001-1"])
    assert h.smsc.message("001-3") is None
    if kind == "sqlite":
        h.store.close()


def test_the_index_forgets_an_old_final_record_without_forgetting_the_newer_message_of_its_id() -> None:
    """The index keeps two final messages.  "001" is final, then its id names a newer message that becomes final
    too: when the old entry leaves the bound, or is pruned, the newer "001" stays (before: the entry was the id,
    and forgot whichever message had it then: lookups of the newer "001" found nothing)."""
    index = MessageIndex(2)

    def final(message_id: str, t: float, multi_id: str = "") -> Message:
        msg = Message(message_id=message_id, system_id="esme", source=Address(addr="1"),
                      destination=Address(addr="2"), destination_e164="2", multi_id=multi_id)
        track = Track(msg, None)
        index.register(track)
        msg.state, msg.final_time = MessageState.DELIVERED, t
        index.finish(track)
        return msg

    final("001", 10.0)
    newer = final("001", 20.0)
    two = final("002", 30.0)  # the bound of 2 passes over the old entry of "001": the newer one stays
    assert index.messages == {"001": newer, "002": two}
    index.prune(15.0)
    assert index.messages == {"001": newer, "002": two}
    index.prune(25.0)
    assert index.messages == {"002": two}

    final("003-1", 40.0, multi_id="003")
    assert index.forget_id("003") == ["003-1"]  # given again: the group and its destination leave
    assert index.groups == {} and index.lookup("esme", "003", Address()) == []
    assert index.forget_id("002") == [] and index.messages == {}


# == after a wrap, the least recently finalised free id is given first ========================================

SLOW = "447700900102"  # delivered 50 s after the attempt
CONFIG3_SLOW = make_config(carrier(rules=(rule(OFF, offline=INF), rule(SLOW, latency=50.0))), max_waiting=20_000,
                           message_id=THREE)


@pytest.mark.parametrize(("kind", "in_memory"), KINDS, ids=KIND_IDS)
def test_after_a_wrap_the_id_of_a_message_final_a_moment_ago_is_given_last(
    kind: str, in_memory: bool, tmp_path: Path,
) -> None:
    """"001" goes to a slow number, "002" ... "000" are delivered and their receipts taken at once; "001" is
    delivered 50 s later and its receipt is still owed (not taken).  The next 999 submits get the 999 ids
    finalised 48 s before it, least recently finalised first ("002" first); "001" only when no other id is
    free (before the fix: the very next submit got "001", which its old receipt still carried).  With the finals
    on disk (one kept in memory) the ids it no longer holds come first, as finalised before any it holds."""
    store = new_store(kind, tmp_path)
    h = Harness(CONFIG3_SLOW, store=store, clock=FakeClock(START), **options_for(in_memory))
    assert h.submit_ok(SLOW, "slow", registered_delivery=1) == "001"
    others = [h.submit_ok(ONLINE, f"m{i}", registered_delivery=1) for i in range(999)]
    assert others[0] == "002" and others[-1] == "000"
    h.advance(10.0)
    assert len(h.receipts()) == 999  # taken and acknowledged
    h.advance(45.0)
    assert h.state("001") == MessageState.DELIVERED
    owed = h.take(ack=False)
    assert [d.tlvs[Tag.receipted_message_id] for d in owed] == ["001"]  # leased, not acknowledged

    given = [h.submit_ok(ONLINE, f"n{i}") for i in range(999)]  # no simulated time passes
    assert given[0] == "002"
    assert "001" not in given and sorted(given) == sorted(others)
    assert h.submit_ok(ONLINE, "last") == "001"  # the only free id left: given although final a moment ago
    assert h.submit(ONLINE, "none left").status == S.ESME_RMSGQFUL
    if kind == "sqlite":
        h.store.close()


def test_the_generator_prefers_ids_not_held_then_the_least_recently_final_then_any_free_one() -> None:
    live = {"0003"}
    held = live | {"0001", "0002", "0004"}  # (final and still held in memory: finalised recently)
    recent: list[str | None] = ["0004"]
    asked_held: list[list[str]] = []

    def is_held(texts: list[str]) -> set[str]:
        asked_held.append(texts)
        return held & set(texts)

    ids = MessageIdGenerator(FOUR, 10_001, in_use=lambda t: live & set(t), held=is_held,
                             least_recent=lambda modulus, spec: recent.pop(0) if recent else None)
    assert ids.next_id() == "0005" and ids.next_number == 10_006  # step 1: the first id not held
    held.update(f"{n:04d}" for n in range(10_000))  # every id is held now
    asked_held.clear()
    assert ids.next_id() == "0004"  # step 2: the least recently finalised one held
    assert sum(map(len, asked_held)) == COLD_TRIES  # step 1 looked at COLD_TRIES numbers ...
    assert ids.next_number == 10_006 + COLD_TRIES  # ... and the counter moved past them
    asked_held.clear()
    assert ids.next_id() == f"{6 + COLD_TRIES:04d}"  # step 1 skipped once; step 2 found none: any id not live
    assert asked_held == []
    assert ids.next_id() is not None and len(asked_held) > 0  # step 1 again (then skipped twice)
    asked_held.clear()
    ids.next_id()
    ids.next_id()
    assert asked_held == []
    live.update(f"{n:04d}" for n in range(10_000))
    number = ids.next_number
    assert ids.next_id() is None and ids.next_number == number  # every id is live: the counter unchanged


def test_written_by_tells_the_ids_a_format_writes() -> None:
    modulus, spec = MessageIdGenerator(FOUR).compiled(None)
    assert written_by("0042", modulus, spec) and written_by("9999", modulus, spec)
    for other in ("042", "00042", "0042-1", "+042", " 042", "00_4", "00a1", ""):
        assert not written_by(other, modulus, spec)
    hex_modulus, hex_spec = MessageIdGenerator(MessageIdFormat(format="hex", length=4, uppercase=True)).compiled(None)
    assert written_by("00AF", hex_modulus, hex_spec) and not written_by("00af", hex_modulus, hex_spec)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_once_every_id_is_live_a_flood_of_submits_is_refused_without_searching_the_ids_again(
    kind: str, tmp_path: Path,
) -> None:
    """Every 4-digit id names a waiting message: the first refused submit searches every id (and the store for
    evicted ones); the next ones are refused at once until a message becomes final, so a flood of refused
    submits does not hold the loop (a tester's 2,000 refused submits took 21 s, 5-10 ms each)."""
    store = new_store(kind, tmp_path)
    h = Harness(CONFIG, store=store, clock=FakeClock(START))
    ids = [h.submit_ok(OFF, f"m{i}") for i in range(10_000)]
    h.advance(60.0)
    searched: list[int] = []
    in_use = h.smsc._ids.in_use

    def counting(message_ids: list[str]) -> set[str]:
        searched.append(len(message_ids))
        return in_use(message_ids)

    h.smsc._ids.in_use = counting
    assert h.submit(OFF, "refused").status == S.ESME_RMSGQFUL
    first = sum(searched)
    assert first >= 10_000  # the whole id space was asked about once
    for i in range(200):
        assert h.submit(OFF, f"refused {i}").status == S.ESME_RMSGQFUL
    assert sum(searched) == first  # not again
    assert h.cancel(ids[1234]) == S.ESME_ROK  # one id becomes free
    h.advance(1.0)
    again = h.submit(OFF, "accepted")
    assert again.status == S.ESME_ROK and again.message_id == ids[1234]
    assert h.submit(OFF, "refused again").status == S.ESME_RMSGQFUL
    if kind == "sqlite":
        store.close()


def test_a_restart_with_the_id_format_changed_gives_no_id_of_a_message_still_waiting(tmp_path: Path) -> None:
    # Tester 29: server.message_id changed from decimal to hex between two runs on one store; the new hex ids
    # 00000029 ... 00000040 were those of decimal-era messages still waiting, whose records were overwritten.
    decimal = make_config(carrier(rules=(rule(OFF, offline=INF),)),
                          message_id=MessageIdFormat(format="decimal", length=8))
    first = Harness(decimal, store=SqliteStore(tmp_path / "ids.sqlite"), clock=FakeClock(START))
    old = {first.submit_ok(OFF, f"decimal {i}"): f"decimal {i}".encode() for i in range(40)}
    assert max(old) == "00000040"
    first.smsc.stop()
    first.store.close()
    hexa = make_config(carrier(rules=(rule(OFF, offline=INF),)), message_id=MessageIdFormat(format="hex", length=8))
    again = Harness(hexa, store=SqliteStore(tmp_path / "ids.sqlite"), clock=FakeClock(START + 2.0))
    new = {again.submit_ok(OFF, f"hex {i}"): f"hex {i}".encode() for i in range(40)}
    assert not set(new) & set(old)
    assert min(new) == "00000041"  # past 0x40, the highest waiting id read as hex
    assert again.smsc.waiting_count() == 80
    stored = stored_texts(again.store, [*old, *new])
    assert {i: text for i, (text, final) in stored.items()} == {**old, **new}
    again.store.close()


def test_a_restart_with_the_same_id_format_continues_the_counter_unmoved(tmp_path: Path) -> None:
    config = make_config(carrier(rules=(rule(OFF, offline=INF),)), message_id=MessageIdFormat(format="hex", length=8))
    first = Harness(config, store=SqliteStore(tmp_path / "ids.sqlite"), clock=FakeClock(START))
    assert [first.submit_ok(OFF, f"m{i}") for i in range(3)] == ["00000001", "00000002", "00000003"]
    first.smsc.stop()
    first.store.close()
    again = Harness(config, store=SqliteStore(tmp_path / "ids.sqlite"), clock=FakeClock(START + 2.0))
    assert again.submit_ok(OFF, "m3") == "00000004"
    again.store.close()


def test_a_restart_with_the_id_format_changed_gives_no_id_of_a_final_message_still_stored(tmp_path: Path) -> None:
    # Tester 35: delivered messages of the decimal run, their receipts still owed, had their ids given again by the
    # hex run: the old records were overwritten, and the old receipts named new messages still waiting.
    decimal = make_config(carrier(rules=(rule(OFF, offline=INF),)),
                          message_id=MessageIdFormat(format="decimal", length=8))
    first = Harness(decimal, store=SqliteStore(tmp_path / "ids.sqlite"), clock=FakeClock(START))
    delivered = [first.submit_ok(ONLINE, f"delivered {i}") for i in range(40)]
    first.advance(10.0)
    assert all(first.state(i) == MessageState.DELIVERED for i in delivered) and max(delivered) == "00000040"
    first.smsc.stop()
    first.store.close()
    hexa = make_config(carrier(rules=(rule(OFF, offline=INF),)), message_id=MessageIdFormat(format="hex", length=8))
    again = Harness(hexa, store=SqliteStore(tmp_path / "ids.sqlite"), clock=FakeClock(START + 20.0))
    new = [again.submit_ok(OFF, f"hex {i}") for i in range(40)]
    assert not set(new) & set(delivered) and min(new) == "00000041"
    assert all(again.state(i) == MessageState.DELIVERED for i in delivered)  # the old records are intact
    again.store.close()


def test_a_restart_with_a_shorter_id_format_takes_its_unused_ids_not_those_of_stored_final_messages(
    tmp_path: Path,
) -> None:
    # Tester 38: hex with 4 digits, then decimal with 4 digits after 10,010 messages.  The shared counter stood
    # past 9,999, so decimal counted as wrapped and gave again the ids of final messages whose receipts were still
    # owed (200 of 200 new ids), while 2720-9999 had never been used.
    hex4 = make_config(carrier(rules=(rule(OFF, offline=INF),)), message_id=MessageIdFormat(format="hex", length=4),
                       max_waiting=20_000)
    first = Harness(hex4, store=SqliteStore(tmp_path / "ids.sqlite"), clock=FakeClock(START))
    old = [first.submit_ok(ONLINE, f"m{i}") for i in range(10_010)] + [first.submit_ok(OFF, "waiting")]
    first.advance(10.0)
    assert old[-1] == "271b"
    first.smsc.stop()
    first.store.close()
    dec4 = make_config(carrier(rules=(rule(OFF, offline=INF),)), message_id=MessageIdFormat(format="decimal", length=4))
    again = Harness(dec4, store=SqliteStore(tmp_path / "ids.sqlite"), clock=FakeClock(START + 20.0))
    new = [again.submit_ok(OFF, f"decimal {i}") for i in range(200)]
    assert new[0] == "2720"  # one past "2719", the highest stored hex id that reads as decimal
    assert not set(new) & set(old)
    assert all(again.state(i) == MessageState.DELIVERED for i in old[:5])  # the old records are intact
    again.store.close()
