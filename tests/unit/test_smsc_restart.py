"""Restart: a new Smsc on the same SQLite file resumes every waiting message and every undelivered receipt."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_smsc_support import INF, START, Harness, MessageState, Ticks, carrier, make_config, rule

from smsc.core.clock import FakeClock
from smsc.core.store.sqlite import SqliteStore
from tests.stored import stored_state

OK = "447700900100"
OFFLINE_HOUR = "447700900200"
ALWAYS_OFF = "447700900300"
BUSY = "447700900600"

CONFIG = make_config(carrier(rules=(
    rule(OFFLINE_HOUR, offline=3600.0), rule(ALWAYS_OFF, offline=INF), rule(BUSY, cause="busy"),
)), retry=(600.0,))


def start(path: Path, at: float) -> Harness:
    return Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(at))


def test_restart_resumes_every_waiting_message_and_every_undelivered_receipt(tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    first = start(path, START)
    delivered = first.submit_ok(OK, "done before the crash", registered_delivery=1)
    offline = first.submit_ok(OFFLINE_HOUR, "waits for its handset", registered_delivery=1)
    expiring = first.submit_ok(ALWAYS_OFF, "expires while down", registered_delivery=1,
                               validity_period="000000003000000R")
    retrying = first.submit_ok(BUSY, "retries", registered_delivery=1, validity_period="000000020000000R")
    scheduled = first.submit_ok(OK, "later", registered_delivery=1, schedule_delivery_time="000000010000000R")
    first.advance(10.0)
    leased = first.take(ack=False)  # the DELIVRD receipt went out but no deliver_sm_resp came
    assert [d.kind for d in leased] == ["receipt"]
    assert first.smsc.message(retrying).next_attempt_time == START + 1.0 + 600.0
    # kill -9: nothing is closed or flushed; the inline store committed every change already

    second = start(path, START + 2400.0)  # 40 minutes later
    smsc = second.smsc
    # What was read back is counted (tester 40: delivered and acked counters exceeded submitted and queued after a
    # restart, with no metric saying why): four messages not final, one receipt owed.
    assert (smsc.stats.restored_waiting, smsc.stats.restored_deliveries) == (4, 1)
    assert smsc.message(delivered).state == MessageState.DELIVERED  # kept for query_sm
    assert second.query(delivered).message_state == MessageState.DELIVERED
    # the receipt never acknowledged is offered again, the one for the expired message is new
    receipts = {r.message_id: r.stat for _, r in second.receipts()}
    assert receipts == {delivered: "DELIVRD", expiring: "EXPIRED"}
    # it expired when its validity ended (30 minutes), while the server was down, not at the restart
    assert smsc.message(expiring).final_time == smsc.message(expiring).expiry_time == START + 1800.0
    for message_id in (offline, retrying, scheduled):
        assert smsc.message(message_id).state == MessageState.ENROUTE
    assert smsc.waiting_count() == 3
    assert second.gateway.wakes  # the gateway was told receipts wait

    second.advance(5000.0)
    assert second.state(scheduled) == MessageState.DELIVERED
    assert second.attempts(scheduled)[0][0] == 3600.0 + 2.0  # at its schedule time, not at restart
    # the handset rule's offline spell lived in the old process: the new one pages again and waits an hour
    assert second.attempts(offline) == [(1.0, "absent"), (2401.0, "absent"), (6002.0, "delivered")]
    retry_times = [t for t, o in second.attempts(retrying) if o == "temporary"]
    assert retry_times[:3] == [1.0, 2401.0, 3002.0]  # the retry due during the outage ran at restart
    assert second.state(retrying) == MessageState.EXPIRED
    assert second.smsc.message(retrying).final_time == START + 7200.0
    second.smsc.inject_mo(OFFLINE_HOUR, "447700900001", text="thanks")  # no MO route: back to its MT sender
    assert [d.kind for d in second.take("esme")][-1] == "mo"
    new_id = second.submit_ok(OK)
    assert new_id > scheduled  # ids continue after the stored counter


def test_restart_keeps_message_ids_unique_even_without_messages(tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    first = start(path, START)
    ids = {first.submit_ok(OK) for _ in range(5)}
    first.store.close()
    second = start(path, START + 10)
    assert second.submit_ok(OK) not in ids
    assert second.smsc.outbox.next_delivery_id >= 1


def test_restart_forgets_final_messages_older_than_the_retention(tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    first = start(path, START)
    old = first.submit_ok(OK)
    first.advance(10.0)
    first.store.close()
    second = start(path, START + 2 * 86_400.0)
    assert second.smsc.message(old) is None
    assert second.query(old).status != 0
    second.store.close()
    assert stored_state(path).messages == []


def test_a_receipt_sent_before_its_commit_is_made_again_when_a_crash_loses_that_commit(tmp_path: Path) -> None:
    """Receipts are offered before their commit (smsc.core.outbox): the commit that would have recorded the
    DELIVERED state and the receipt is lost in a crash, so the message is still waiting on disk, is
    attempted again after the restart and gets a new receipt: twice, never zero times."""
    path = tmp_path / "smsc.sqlite"
    ticks = Ticks()  # the store's end-of-tick writes, run by hand: what is never run was never written
    store = SqliteStore(path, call_soon=ticks.call_soon)
    first = Harness(CONFIG, store=store, clock=FakeClock(START))
    ticks.run()
    replies: list = []
    first.smsc.submit(first.submission(OK, "before the crash", registered_delivery=1), replies.append)
    assert replies == []  # status 0 only once the message is on disk
    ticks.run()
    [accepted] = replies
    first.advance(10.0)  # delivered: the receipt is offered at once, its commit still pending
    [receipt] = first.take(ack=True)
    assert receipt.tlvs and ticks.ready, "the receipt left before the commit that records it"
    # kill -9 here: the pending end-of-tick write never runs, the connection goes away with nothing written
    assert store._inline is not None
    store._inline.close()

    second = start(path, START + 60.0)
    assert second.state(accepted.message_id) == MessageState.ENROUTE  # the DELIVERED state was never on disk
    second.advance(10.0)
    assert [(r.message_id, r.stat) for _, r in second.receipts()] == [(accepted.message_id, "DELIVRD")]
    assert second.state(accepted.message_id) == MessageState.DELIVERED


def test_a_receipt_acknowledged_before_its_commit_is_never_written(tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    ticks = Ticks()
    store = SqliteStore(path, call_soon=ticks.call_soon)
    h = Harness(CONFIG, store=store, clock=FakeClock(START))
    ticks.run()
    replies: list = []
    h.smsc.submit(h.submission(OK, "acknowledged at once", registered_delivery=1), replies.append)
    ticks.run()
    h.advance(10.0)
    [receipt] = h.take(ack=True)
    written = store.stats.deliveries
    ticks.run()
    assert store.stats.deliveries == written  # neither its insert nor a delete: no row of it was ever written
    assert store.load().deliveries == []
    assert h.state(replies[0].message_id) == MessageState.DELIVERED
    store.close()


def test_what_a_stopped_smsc_records_while_its_store_closes_is_dropped_not_an_error(tmp_path: Path) -> None:
    """A read or a commit callback the store hands back while it closes may still record and commit; the
    stopped SMSC must not ask the closing store for a commit (it raised "commit on a closed SqliteStore")."""
    path = tmp_path / "smsc.sqlite"
    h = start(path, START)
    waiting = h.submit_ok(OFFLINE_HOUR, "waits", registered_delivery=1)
    h.smsc.stop()
    h.store.close()
    h.smsc.set_handset_online(OFFLINE_HOUR, True)  # a late alert: its attempt ends, records and commits
    h.advance(1.0)
    assert h.smsc.scheduler.errors == 0  # (a timer that raised is logged and counted there)
    again = start(path, START + 1.0)
    assert again.smsc.message(waiting).state == MessageState.ENROUTE  # still waiting on disk: nothing lost


def test_a_short_final_retention_is_kept_to_within_a_tenth_of_it(tmp_path: Path) -> None:
    # Tester 44: with store.final_retention 10 minutes, messages were still there 30 minutes later (pruned once an
    # hour); now the prune runs every tenth of the retention (at most hourly).
    import dataclasses

    config = dataclasses.replace(CONFIG, store=dataclasses.replace(CONFIG.store, final_retention=600.0))
    h = Harness(config, store=SqliteStore(tmp_path / "smsc.sqlite"), clock=FakeClock(START))
    done = h.submit_ok(OK)
    h.advance(10.0)
    assert h.smsc.message(done).state == MessageState.DELIVERED
    h.advance(600.0)
    assert h.query(done).status == 0  # (600 s after it became final, at most: kept)
    h.advance(70.0)  # one prune interval (60 s) later at the most
    assert h.smsc.message(done) is None and h.query(done).status != 0
    h.store.close()


def test_a_tiny_final_retention_prunes_at_most_once_a_real_second(tmp_path: Path) -> None:
    # Tester 45: final_retention 1ms pruned every 0.1 ms; an idle server used a whole core (58,081 empty commits in
    # about 6 s with SQLite).
    import dataclasses

    config = dataclasses.replace(CONFIG, store=dataclasses.replace(CONFIG.store, final_retention=0.001))
    h = Harness(config, store=SqliteStore(tmp_path / "smsc.sqlite"), clock=FakeClock(START))
    prunes: list[float] = []
    prune_final = h.store.prune_final
    h.store.prune_final = lambda cutoff: (prunes.append(cutoff), prune_final(cutoff))[1]  # type: ignore[method-assign]
    h.advance(10.0)
    assert 9 <= len(prunes) <= 11, len(prunes)  # once a second (the fake clock runs at real speed)
    h.store.close()
