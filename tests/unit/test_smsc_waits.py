"""Messages waiting for absent handsets leave memory once durable and come back when needed (both stores)."""

from __future__ import annotations

import sqlite3
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
    Tag,
    carrier,
    make_config,
    rule,
)

from smsc.core import waits
from smsc.core.clock import FakeClock
from smsc.core.store.memory import MemoryStore
from smsc.core.store.sqlite import SqliteStore
from smsc.smpp.constants import CommandStatus as S

OK = "447700900100"
OFF = "447700900300"
OFF_2 = "447700900301"
CONFIG = make_config(carrier(rules=(rule(OFF, offline=INF), rule(OFF_2, offline=INF))), max_waiting=10_000)


@pytest.fixture(params=["memory", "sqlite"])
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    store: Any = MemoryStore() if request.param == "memory" else SqliteStore(tmp_path / "s.sqlite")
    return Harness(CONFIG, store=store, clock=FakeClock(START))


def evicted(h: Harness) -> int:
    return h.smsc.index.evicted


def test_waiting_messages_leave_memory_once_durable_and_still_count_as_waiting(h: Harness) -> None:
    ids = [h.submit_ok(OFF, f"m{i}") for i in range(5)]
    h.advance(5.0)
    assert evicted(h) == 5
    assert h.smsc.index.tracks == {}
    assert h.smsc.waiting_count() == 5 and h.smsc.stats.waiting == 5
    for message_id in ids:
        assert h.state(message_id) == MessageState.ENROUTE  # read back for the inspection API


def test_a_message_that_joined_a_wait_expires_with_the_numbers_error_also_once_evicted(h: Harness) -> None:
    """It was never attempted (the handset was known absent); read back at its expiry, its receipt still says
    why it was not delivered, as that of the message it waited behind does (err:006, network_error_code)."""
    h.submit_ok(OFF, "first", validity_period="000000010000000R")
    h.advance(5.0)
    second = h.submit_ok(OFF, "second", registered_delivery=1, validity_period="000000000100000R")
    h.advance(5.0)
    if isinstance(h.store, SqliteStore):
        assert evicted(h) == 2
    h.advance(60.0)
    assert h.state(second) == MessageState.EXPIRED
    [delivery] = h.take()
    assert b"stat:EXPIRED err:006 " in delivery.short_message
    assert delivery.tlvs[Tag.network_error_code] == bytes([3, 0, 6])


def test_the_queue_bound_counts_evicted_messages(h: Harness, tmp_path: Path) -> None:
    small = Harness(make_config(carrier(rules=(rule(OFF, offline=INF),)), max_waiting=2),
                    store=MemoryStore() if isinstance(h.store, MemoryStore) else SqliteStore(tmp_path / "q.sqlite"))
    small.submit_ok(OFF)
    small.submit_ok(OFF)
    small.advance(5.0)
    assert small.smsc.index.evicted == 2
    assert small.submit(OK).status == S.ESME_RMSGQFUL


def test_query_cancel_and_replace_reach_evicted_messages(h: Harness) -> None:
    first, second, third = (h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(3))
    h.advance(5.0)
    assert evicted(h) == 3
    assert h.query(first).message_state == MessageState.ENROUTE
    assert h.cancel(second) == S.ESME_ROK
    assert h.state(second) == MessageState.DELETED
    assert h.replace(third, "new text") == S.ESME_ROK
    assert h.smsc.message(third).short_message == b"new text"
    h.advance(5.0)  # the read-back ones leave memory again
    assert evicted(h) == 2
    h.smsc.set_handset_online(OFF, True)
    h.advance(5.0)
    assert h.state(first) == MessageState.DELIVERED and h.state(third) == MessageState.DELIVERED
    assert evicted(h) == 0 and h.smsc.waiting_count() == 0


def test_another_accounts_cancel_or_replace_reads_nothing_back(h: Harness) -> None:
    """Found by a tester: a cancel_sm naming another account's evicted message read that number's whole
    queue back into memory (150,000 records, a 1.4 s stall) before it was refused."""
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(5)]
    h.advance(5.0)
    assert evicted(h) == 5
    assert h.cancel(ids[2], system_id="intruder") == S.ESME_RCANCELFAIL
    assert h.replace(ids[3], system_id="intruder") == S.ESME_RREPLACEFAIL
    assert evicted(h) == 5  # nothing was brought back
    assert h.cancel(ids[2]) == S.ESME_ROK  # the owner still can


def test_cancel_by_source_and_destination_and_replace_if_present_reach_evicted_messages(h: Harness) -> None:
    old = h.submit_ok(OFF, "old", service_type="CMT")
    h.submit_ok(OFF_2, "other")
    h.advance(5.0)
    new = h.submit_ok(OFF, "new", service_type="CMT", replace_if_present_flag=1)
    assert h.state(old) == MessageState.DELETED
    h.advance(5.0)
    assert h.cancel(destination=OFF_2) == S.ESME_ROK
    assert h.cancel(destination=OFF) == S.ESME_ROK
    assert h.state(new) == MessageState.DELETED
    assert h.smsc.waiting_count() == 0


def test_evicted_messages_expire_at_their_own_validity_end(h: Harness) -> None:
    short = h.submit_ok(OFF, "short", registered_delivery=1, validity_period="000000000200000R")  # 2 min
    long = h.submit_ok(OFF, "long", registered_delivery=1, validity_period="000000001000000R")  # 10 min
    h.advance(60.0)
    assert evicted(h) == 2
    h.advance(61.0)
    assert h.state(short) == MessageState.EXPIRED
    assert h.state(long) == MessageState.ENROUTE
    h.advance(480.0)
    assert h.state(long) == MessageState.EXPIRED
    receipts = h.receipts()
    assert [r.stat for _, r in receipts] == ["EXPIRED", "EXPIRED"]
    assert h.smsc.waiting_count() == 0 and h.smsc.machine.absent == {}


def test_evicted_messages_of_one_number_with_one_validity_end_all_expire_with_their_receipts(h: Harness) -> None:
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1, validity_period="000000000200000R") for i in range(5)]
    h.advance(60.0)
    assert evicted(h) == 5
    h.advance(61.0)  # read back together; with a store that commits at once, ending one must not evict the rest
    assert [h.state(i) for i in ids] == [MessageState.EXPIRED] * 5
    assert sorted(r.message_id for _, r in h.receipts()) == sorted(ids)
    assert h.smsc.scheduler.errors == 0
    assert h.smsc.waiting_count() == 0 and evicted(h) == 0 and h.smsc.machine.absent == {}


def test_an_expiry_whose_read_back_fails_keeps_its_messages_and_expires_them_once_the_store_reads_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The synchronous read back (load_messages) of an expiry raising (disk I/O error) used to lose the ids it
    had taken out of their wait: the messages stayed ENROUTE, never expired nor receipted, until a restart."""
    h = Harness(CONFIG, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1, validity_period="000000000200000R") for i in range(3)]
    h.advance(60.0)
    assert evicted(h) == 3
    fetch = SqliteStore._fetch
    failed: list[int] = []

    def fails_once(conn: Any, message_ids: list[str]) -> dict[str, tuple[Any, ...]]:
        if not failed:
            failed.append(len(message_ids))
            raise sqlite3.OperationalError("disk I/O error")
        return fetch(conn, message_ids)

    monkeypatch.setattr(SqliteStore, "_fetch", staticmethod(fails_once))
    h.advance(61.0)  # the expiry's read back fails: logged by the scheduler, tried again a moment later
    assert failed == [3] and h.smsc.scheduler.errors == 1
    h.advance(waits.EXPIRY_RETRY)
    assert [h.state(i) for i in ids] == [MessageState.EXPIRED] * 3
    assert sorted(r.message_id for _, r in h.receipts()) == sorted(ids)
    assert h.smsc.waiting_count() == 0 and evicted(h) == 0 and h.smsc.machine.absent == {}


def _evicted_then_unreadable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int,
                             error: Exception) -> tuple[Harness, SqliteStore]:
    """A real SQLite store with ``count`` messages to OFF (2 minutes' validity) evicted from memory, whose every
    read back raises ``error`` from now on."""
    store = SqliteStore(tmp_path / "s.sqlite")
    h = Harness(CONFIG, store=store, clock=FakeClock(START))
    for i in range(count):
        h.submit_ok(OFF, f"m{i}", registered_delivery=1, validity_period="000000000200000R")
    h.advance(60.0)
    assert evicted(h) == count

    def fails(conn: Any, message_ids: list[str]) -> dict[str, tuple[Any, ...]]:
        raise error

    monkeypatch.setattr(SqliteStore, "_fetch", staticmethod(fails))
    return h, store


def test_an_expiry_whose_read_back_keeps_failing_is_tried_again_a_real_second_later_not_each_simulated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tester 177: EXPIRY_RETRY was in simulated seconds, so a read back that kept failing was tried 172,800 times
    in a jump of the clock of 48 h (``POST /api/clock``), each with its traceback, and the advance never returned.
    Now a real second later (the FakeClock's real second is its simulated one), or at the end of a jump."""
    h, _ = _evicted_then_unreadable(tmp_path, monkeypatch, 20, sqlite3.OperationalError("disk I/O error"))
    h.smsc.scheduler.jump_target = START + 48 * 3600.0  # (as a jump of the clock sets it)
    h.advance(48 * 3600.0 - 60.0)
    assert 1 <= h.smsc.scheduler.errors <= 3  # (the expiry, then once at the jump's end)
    h.smsc.scheduler.jump_target = None


def test_an_expiry_whose_read_back_finds_the_file_damaged_is_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tester 181: once the store had found its file damaged (the server stops for it), every waiting number's
    expiry still failed with a traceback, twice in a jump: 200 of them.  No retry can succeed: none is made, and
    nothing more is logged (the store said store_damaged); the messages stay on disk."""
    h, store = _evicted_then_unreadable(tmp_path, monkeypatch, 5,
                                        sqlite3.DatabaseError("database disk image is malformed"))
    h.advance(3600.0)
    assert store.damage == "database disk image is malformed"
    assert h.smsc.scheduler.errors == 0 and evicted(h) == 5  # (all five still on disk, none expired)
    assert h.smsc.machine.absent[OFF].expiry_timer is None  # (no retry armed)


def test_cancel_and_replace_if_present_end_every_evicted_message_they_match(h: Harness) -> None:
    cancelled = [h.submit_ok(OFF, f"c{i}", registered_delivery=0x10) for i in range(3)]
    replaced = [h.submit_ok(OFF_2, f"r{i}", service_type="CMT") for i in range(3)]
    h.advance(5.0)
    assert evicted(h) == 6
    assert h.cancel(destination=OFF) == S.ESME_ROK
    assert [h.state(i) for i in cancelled] == [MessageState.DELETED] * 3
    new = h.submit_ok(OFF_2, "new", service_type="CMT", replace_if_present_flag=1)
    assert [h.state(i) for i in replaced] == [MessageState.DELETED] * 3
    assert h.state(new) == MessageState.ENROUTE
    assert h.smsc.waiting_count() == 1


def test_a_big_queue_for_one_handset_drains_in_batches_in_submit_order_with_every_receipt(
    h: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(waits, "DRAIN_BATCH", 7)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 3)
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(40)]
    urgent = h.submit_ok(OFF, "urgent", registered_delivery=1, priority_flag=1)
    h.advance(5.0)
    assert evicted(h) == 41
    h.smsc.set_handset_online(OFF, True)
    assert evicted(h) == 41  # more than ALERT_READ_BACK: drained batch by batch
    h.advance(1e-6)  # one drain step
    assert 0 < evicted(h) < 41
    h.advance(60.0)
    assert evicted(h) == 0 and h.smsc.waiting_count() == 0
    receipts = h.receipts()
    assert sorted(r.message_id for _, r in receipts) == sorted([*ids, urgent])
    delivered_at = {mid: h.smsc.message(mid).attempts[-1].time for mid in ids}
    assert [delivered_at[m] for m in ids] == sorted(delivered_at[m] for m in ids)
    assert all(r.stat == "DELIVRD" for _, r in receipts)


def test_draining_pauses_while_deliveries_pile_up(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waits, "DRAIN_BATCH", 5)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 0)
    monkeypatch.setattr(waits, "DRAIN_BACKLOG", 8)
    for i in range(30):
        h.submit_ok(OFF, f"m{i}", registered_delivery=1)
    h.advance(5.0)
    h.smsc.set_handset_online(OFF, True)
    h.advance(30.0)
    assert len(h.smsc.outbox) <= 8 + 4 * 5  # paused once the backlog passed the bound
    taken = 0
    for _ in range(100):  # bounded: the ESME takes receipts, the drain goes on
        taken += len(h.take())
        h.advance(1.0)
        if taken == 30:
            break
    assert taken == 30 and h.smsc.waiting_count() == 0


def test_receipts_owed_to_an_esme_with_no_receiver_do_not_pause_the_drain_of_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ESME "idle" binds no receiver and is owed more receipts than the drain's bound: they cannot move, and on
    SQLite they leave memory beyond the outbox's spill limit, so they must not stop the handset of ESME "busy"
    from getting its messages.  Receipts owed to "busy", which has a receiver, still pace its drain."""
    monkeypatch.setattr(waits, "DRAIN_BATCH", 5)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 0)
    monkeypatch.setattr(waits, "DRAIN_BACKLOG", 20)
    h = Harness(CONFIG, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    h.gateway.receivers = {"busy"}
    for i in range(40):
        h.submit_ok(OK, f"to idle {i}", system_id="idle", registered_delivery=1)
    waiting = [h.submit_ok(OFF, f"to busy {i}", system_id="busy", registered_delivery=1) for i in range(30)]
    h.advance(60.0)
    assert h.smsc.outbox.available("idle") == 40 and evicted(h) == 30  # more than DRAIN_BACKLOG owed to idle
    h.smsc.set_handset_online(OFF, True)
    h.advance(30.0)
    assert 0 < h.smsc.waiting_count() < 30  # draining, paused by busy's own receipts
    assert h.smsc.outbox.available("busy") <= 20 + 4 * 5
    taken = 0
    for _ in range(100):  # bounded: busy takes its receipts, its drain goes on
        taken += len(h.take("busy"))
        h.advance(1.0)
        if taken == 30:
            break
    assert taken == 30 and h.smsc.waiting_count() == 0
    assert all(h.state(m) == MessageState.DELIVERED for m in waiting)
    assert h.smsc.outbox.available("idle") == 40  # still owed, for when it binds a receiver
    h.store.close()


def test_query_reads_final_messages_no_longer_in_memory_from_sqlite(tmp_path: Path) -> None:
    h = Harness(CONFIG, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    h.smsc.index.max_final_in_memory = 2
    ids = [h.submit_ok(OK, f"m{i}") for i in range(5)]
    h.advance(10.0)
    assert ids[0] not in h.smsc.index.messages
    result = h.query(ids[0])
    assert result.status == 0 and result.message_state == MessageState.DELIVERED
    assert h.query(ids[0], source="447700999999").status == S.ESME_RQUERYFAIL  # still only for its sender
    assert h.query(ids[0], source_ton=2).status == S.ESME_RQUERYFAIL  # with its TON and NPI
    assert h.query(ids[0], source_npi=0).status == S.ESME_RQUERYFAIL
    assert SENDER


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_final_messages_kept_in_memory_are_bounded_by_their_octets_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """Tester 102: finals kept for query_sm were bounded by their number only, so 10,000 of 39,015-octet
    message_payloads held 390 MB with the SQLite store (100,000 would be 3.8 GB with the memory store).  Beyond the
    octet bound the oldest go: read back from SQLite, gone with the memory store as beyond the count bound."""
    from smsc.core import tracks
    from smsc.core.store import memory

    for module in (tracks, memory):
        monkeypatch.setattr(module, "FINAL_OCTETS_MAX", 100_000)
    store = SqliteStore(tmp_path / "s.sqlite") if kind == "sqlite" else MemoryStore()
    h = Harness(CONFIG, store=store, clock=FakeClock(START))
    ids = [h.submit_ok(OK, chr(ord("a") + i) * 30_000) for i in range(6)]
    h.advance(10.0)
    assert all(h.state(m) == MessageState.DELIVERED for m in ids[-3:])
    kept = [m for m in ids if m in h.smsc.index.messages]
    assert kept == ids[-3:]  # (3 x 30,000 octets fit 100,000; a fourth would not)
    if kind == "sqlite":
        assert h.query(ids[0]).message_state == MessageState.DELIVERED  # (read back from the store)
        store.close()
    else:
        assert h.query(ids[0]).status == S.ESME_RQUERYFAIL
        assert [m for m in ids if store.load_messages([m])] == ids[-3:]


def test_lookup_reads_final_messages_no_longer_in_memory_from_sqlite(tmp_path: Path) -> None:
    """Found by a tester: the inspection API's lookup answered None (HTTP 404) for a delivered message beyond
    the newest final ones kept in memory, while query_sm read it from the store."""
    h = Harness(CONFIG, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    h.smsc.index.max_final_in_memory = 2
    ids = [h.submit_ok(OK, f"m{i}") for i in range(5)]
    h.advance(10.0)
    assert ids[0] not in h.smsc.index.messages
    msg = h.smsc.message(ids[0])
    assert msg is not None and msg.message_id == ids[0] and msg.short_message == b"m0"
    assert msg.state == MessageState.DELIVERED and msg.final_time is not None
    assert ids[0] not in h.smsc.index.messages  # read, not brought back
    assert h.smsc.message("ffffffffffffffff") is None


def test_a_submit_multi_id_is_queried_and_looked_up_once_its_destinations_left_memory(tmp_path: Path) -> None:
    """Found by a tester: once the index forgot a submit_multi's final destinations it forgot the group too,
    and query_sm answered ESME_RQUERYFAIL (the API 404) for the id the ESME was given; the store reads the
    group by its id range."""
    h = Harness(CONFIG, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    h.smsc.index.max_final_in_memory = 2
    multi = h.submit_multi([OK, "447700900101", "447700900102"], registered_delivery=1).message_id
    h.advance(10.0)
    assert h.query(multi).message_state == MessageState.DELIVERED  # (in memory)
    for i in range(3):
        h.submit_ok(OK, f"after {i}")
    h.advance(10.0)
    assert multi not in h.smsc.index.groups and f"{multi}-1" not in h.smsc.index.messages
    result = h.query(multi)
    assert result.status == S.ESME_ROK and result.message_state == MessageState.DELIVERED
    assert result.final_date
    assert h.query(multi, system_id="intruder").status == S.ESME_RQUERYFAIL
    first = h.smsc.message(multi)
    assert first is not None and first.message_id == f"{multi}-1" and first.multi_id == multi


def test_a_submit_multi_partly_forgotten_is_queried_with_all_its_destinations(tmp_path: Path) -> None:
    """One destination delivered and forgotten by the index, one still waiting (evicted): query_sm reports the
    group as pending and the lookup gives the first destination, read from the store."""
    h = Harness(CONFIG, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    h.smsc.index.max_final_in_memory = 1
    multi = h.submit_multi([OK, OFF], registered_delivery=1).message_id
    h.advance(10.0)
    h.submit_ok(OK, "after")
    h.advance(10.0)
    assert h.smsc.index.groups.get(multi) == [f"{multi}-2"] and evicted(h) == 1
    result = h.query(multi)
    assert result.status == S.ESME_ROK and result.message_state == MessageState.ENROUTE
    first = h.smsc.message(multi)
    assert first is not None and first.message_id == f"{multi}-1" and first.state == MessageState.DELIVERED


def test_messages_listing_keeps_evicted_messages_with_the_memory_store() -> None:
    h = Harness(CONFIG, store=MemoryStore(), clock=FakeClock(START))
    ids = [h.submit_ok(OFF, f"m{i}") for i in range(3)]
    h.advance(5.0)
    assert h.smsc.index.evicted == 3
    assert [m.message_id for m in h.smsc.messages()] == ids[::-1]


def test_numbers_draining_together_share_each_batch_in_proportion_to_what_they_have_left(
    h: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(waits, "DRAIN_BATCH", 6)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 0)
    big = [h.submit_ok(OFF, f"a{i}", registered_delivery=1) for i in range(20)]
    small = [h.submit_ok(OFF_2, f"b{i}", registered_delivery=1) for i in range(10)]
    h.advance(5.0)
    assert evicted(h) == 30
    h.smsc.set_handset_online(OFF, True)
    h.smsc.set_handset_online(OFF_2, True)
    h.advance(1e-6)  # one drain step: the first batch has the oldest of both numbers, 4 and 2
    read_back = {mid for mid in big + small if mid in h.smsc.index.tracks}  # attempts under way
    assert read_back == {*big[:4], *small[:2]}
    h.advance(60.0)
    assert evicted(h) == 0 and h.smsc.waiting_count() == 0
    receipts = h.receipts()
    assert sorted(r.message_id for _, r in receipts) == sorted(big + small)
    for ids in (big, small):  # each handset still gets its messages in submit order
        delivered_at = [h.smsc.message(mid).attempts[-1].time for mid in ids]
        assert delivered_at == sorted(delivered_at)
    assert h.smsc.machine.waits.draining == {}


def test_register_read_back_leaves_the_index_as_register_does() -> None:
    from smsc.core.tracks import MessageIndex, Track

    h = Harness(CONFIG, clock=FakeClock(START))
    plain = [h.smsc.message(h.submit_ok(OFF, f"m{i}")) for i in range(3)]
    group = h.submit_multi([OFF, OFF_2])
    grouped = [h.smsc.index.messages[mid] for mid in h.smsc.index.groups[group.message_id]]
    assert len(grouped) == 2 and all(m.multi_id for m in grouped)
    final = h.smsc.message(h.submit_ok(OK, "done"))
    h.advance(5.0)
    assert final is not None and final.is_final
    messages = [m for m in [*plain, *grouped, final] if m is not None]
    carriers = {"uk": object()}

    def carrier_of(msg: Any) -> Any:
        return carriers.get(msg.carrier)

    general, fast = MessageIndex(10), MessageIndex(10)
    general.register(Track(plain[0], carrier_of(plain[0])))  # one already registered: left out by both
    fast.register(Track(plain[0], carrier_of(plain[0])))
    expected = []
    for msg in messages:
        if not msg.is_final and msg.message_id not in general.tracks:
            track = Track(msg, carrier_of(msg))
            general.register(track)
            expected.append(track)
    got = fast.register_read_back(messages, carrier_of)

    def shape(tracks: list[Any]) -> list[tuple[Any, ...]]:
        return [(t.msg, t.carrier, t.phase, t.timer, t.gen) for t in tracks]

    assert shape(got) == shape(expected) and len(got) == len(messages) - 2
    assert fast.messages == general.messages and fast.groups == general.groups
    assert shape(list(fast.tracks.values())) == shape(list(general.tracks.values()))
    assert fast._by_number == general._by_number


@pytest.mark.parametrize("capacity", [None, 2.0])
def test_alerted_messages_attempted_together_end_as_one_by_one_through_enqueue(capacity: float | None) -> None:
    config = make_config(carrier(rules=(rule(OFF, offline=INF),), capacity=capacity), max_waiting=10_000)
    runs = []
    for general in (False, True):
        h = Harness(config, clock=FakeClock(START))
        ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1, priority_flag=i % 2) for i in range(6)]
        h.advance(5.0)
        if general:
            machine = h.smsc.machine

            def one_by_one(tracks: list[Any], machine: Any = machine) -> None:
                for track in tracks:
                    track.gen += 1
                    machine._enqueue(track, alerted=True)

            machine.waits._attempt = one_by_one
        h.smsc.set_handset_online(OFF, True)
        h.advance(10.0)  # (a capacity of 2 per second queues them)
        runs.append(([(h.state(i), h.attempts(i)) for i in ids], sorted((r.message_id, r.stat) for _, r in h.receipts()),
                     h.smsc.stats.attempts, h.smsc.waiting_count()))
    assert runs[0] == runs[1]
    assert runs[0][3] == 0


def test_a_drain_keeps_the_receipts_of_an_esme_that_keeps_up_within_the_outbox_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With SQLite the outbox spills an ESME's deliveries beyond its spill limit to disk and reads them back
    (smsc.core.outbox).  A drain paced only by DRAIN_BACKLOG, above that limit and with several batches being
    read at once, pushed the receipts of an ESME whose receiver kept up past it, so that nearly every drained
    receipt was written, dropped and read back again.  The drain keeps what it has under way (owed receipts,
    attempts, batches being read) within the limit: nothing spills, and every message is still delivered."""
    monkeypatch.setattr(waits, "DRAIN_BATCH", 5)
    monkeypatch.setattr(waits, "ALERT_READ_BACK", 0)
    h = Harness(CONFIG, store=SqliteStore(tmp_path / "s.sqlite"), clock=FakeClock(START))
    h.smsc.outbox._spill_at = 20  # (the outbox's and the drain's view of it; SPILL_AT is 4,096)
    h.smsc.machine.waits._spill_limit = 20
    assert waits.DRAIN_BACKLOG > 20
    waiting = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(200)]
    h.advance(60.0)
    assert evicted(h) == 200
    h.smsc.set_handset_online(OFF, True)
    taken, most_owed = 0, 0
    for _ in range(2000):  # bounded: a receiver with a window of 4 takes and acknowledges each step
        h.advance(0.1)
        most_owed = max(most_owed, len(h.smsc.outbox))
        assert h.smsc.outbox.spilled() == 0
        deliveries = h.smsc.take_deliveries(ESME, 4)
        for delivery in deliveries:
            h.smsc.delivery_acked(delivery.delivery_id, 0)
        taken += len(deliveries)
        if taken == 200:
            break
    assert taken == 200 and h.smsc.waiting_count() == 0
    assert all(h.state(m) == MessageState.DELIVERED for m in waiting)
    assert 4 < most_owed <= 20
    assert h.smsc.stats.deliveries_spilled == 0
    h.store.close()
