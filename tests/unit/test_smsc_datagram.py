"""Datagram message mode in the core (esm_class bits 1-0 = 1, SMPP 3.4 sections 2.10.2 and 5.2.12): accepted at
once, then one attempt; no storage for later attempts, no retry, no receipt, no scheduled delivery."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_smsc_support import (
    INF,
    START,
    Harness,
    MessageState,
    carrier,
    make_config,
    rule,
)

from smsc.config import SubmitRule
from smsc.core.clock import FakeClock
from smsc.core.store.sqlite import SqliteStore
from smsc.smpp.constants import CommandStatus

OK = "447700900100"
NEVER_ON = "447700900400"
OFF_2_MIN = "447700900300"
BUSY = "447700900600"
SLOW = "447700900700"
LATE_ANSWER = "447700900800"
DATAGRAM = 0x01
STORE_AND_FORWARD = 0x03

CONFIG = make_config(carrier(rules=(
    rule(NEVER_ON, offline=INF), rule(OFF_2_MIN, offline=120.0), rule(BUSY, cause="busy"),
    rule(SLOW, latency=20.0), rule(LATE_ANSWER, submit=SubmitRule(delay=5.0)),
)), retry=(60.0,))
#: Less than the time a final message stays queryable (final_retention, a day).
HOURS_20 = 20 * 3600.0


def test_a_datagram_to_a_handset_that_is_never_on_ends_undeliverable_after_its_one_attempt() -> None:
    """The tester's case: it sat ENROUTE for 48 h and then got an EXPIRED receipt."""
    h = Harness(CONFIG)
    message_id = h.submit_ok(NEVER_ON, esm_class=DATAGRAM, registered_delivery=1)
    assert h.state(message_id) == MessageState.ENROUTE  # accepted; the attempt is under way
    h.advance(1.0)  # failure latency
    assert h.state(message_id) == MessageState.UNDELIVERABLE
    assert h.attempts(message_id) == [(1.0, "absent")]
    assert h.smsc.waiting_count() == 0 and NEVER_ON not in h.smsc.machine.absent  # nothing kept waiting
    h.advance(HOURS_20)
    assert h.attempts(message_id) == [(1.0, "absent")]  # never attempted again
    assert h.take() == []  # registered delivery does not apply: no receipt, not even a failure one
    assert h.query(message_id).message_state == MessageState.UNDELIVERABLE


def test_a_delivered_datagram_gets_no_receipt() -> None:
    h = Harness(CONFIG)
    message_id = h.submit_ok(OK, esm_class=DATAGRAM, registered_delivery=0x11)
    h.advance(2.0)
    assert h.state(message_id) == MessageState.DELIVERED
    assert h.take() == []  # neither the final receipt nor an intermediate notification
    assert h.smsc.message(message_id).registered_delivery == 0  # type: ignore[union-attr]


def test_a_temporary_failure_of_a_datagram_is_not_retried() -> None:
    h = Harness(CONFIG)
    message_id = h.submit_ok(BUSY, esm_class=DATAGRAM, registered_delivery=1)
    h.advance(3600.0)
    assert h.state(message_id) == MessageState.UNDELIVERABLE
    assert h.attempts(message_id) == [(1.0, "temporary")]
    assert h.take() == []


def test_a_datagram_schedule_delivery_time_does_not_apply_but_is_still_checked() -> None:
    h = Harness(CONFIG)
    message_id = h.submit_ok(OK, esm_class=DATAGRAM, schedule_delivery_time="000000000500000R")
    h.advance(2.0)  # attempted at once, not in 5 minutes
    assert h.state(message_id) == MessageState.DELIVERED and h.attempts(message_id) == [(2.0, "delivered")]
    assert h.submit(OK, esm_class=DATAGRAM, schedule_delivery_time="not a time").status == \
        CommandStatus.ESME_RINVSCHED
    assert h.submit(OK, esm_class=DATAGRAM, validity_period="garbage").status == CommandStatus.ESME_RINVEXPIRY


def test_a_datagram_to_a_handset_known_absent_fails_without_paging() -> None:
    h = Harness(CONFIG)
    waiting = h.submit_ok(OFF_2_MIN)  # store and forward: finds it absent and waits for it
    h.advance(1.0)
    assert OFF_2_MIN in h.smsc.machine.absent
    attempts = h.smsc.stats.attempts
    message_id = h.submit_ok(OFF_2_MIN, esm_class=DATAGRAM)
    assert h.state(message_id) == MessageState.UNDELIVERABLE  # at once, with the commit
    assert h.attempts(message_id) == [(1.0, "absent")] and h.smsc.stats.attempts == attempts
    h.advance(125.0)  # back at 120 s, delivered 2 s later
    assert h.state(waiting) == MessageState.DELIVERED  # the stored one, as before
    assert h.state(message_id) == MessageState.UNDELIVERABLE


def test_explicit_store_and_forward_mode_still_waits_for_the_handset() -> None:
    h = Harness(CONFIG)
    message_id = h.submit_ok(OFF_2_MIN, esm_class=STORE_AND_FORWARD, registered_delivery=1)
    h.advance(125.0)
    assert h.state(message_id) == MessageState.DELIVERED
    assert [a.outcome for a in h.smsc.message(message_id).attempts] == ["absent", "delivered"]  # type: ignore[union-attr]
    assert len(h.receipts()) == 1


def test_a_datagram_cannot_be_cancelled_or_replaced_before_its_attempt() -> None:
    """Nothing is stored to act on: also while a carrier's submit delay holds its response and its attempt
    (a store-and-forward message could be cancelled then)."""
    h = Harness(CONFIG)
    h.smsc.submit(h.submission(LATE_ANSWER, esm_class=DATAGRAM), lambda result: None)
    (message_id,) = h.smsc.index.tracks
    assert h.cancel(message_id) == CommandStatus.ESME_RCANCELFAIL
    assert h.cancel(destination=LATE_ANSWER) == CommandStatus.ESME_RCANCELFAIL
    assert h.replace(message_id) == CommandStatus.ESME_RREPLACEFAIL
    h.advance(7.0)
    assert h.state(message_id) == MessageState.DELIVERED
    slow = h.submit_ok(SLOW, esm_class=DATAGRAM)  # and while its attempt is under way, as any message
    assert h.cancel(slow) == CommandStatus.ESME_RCANCELFAIL


def test_a_carrier_submit_delay_postpones_the_response_and_the_one_attempt() -> None:
    h = Harness(CONFIG)
    replies: list[object] = []
    h.smsc.submit(h.submission(LATE_ANSWER, esm_class=DATAGRAM), replies.append)
    assert replies == []
    h.advance(5.0)
    (result,) = replies
    message_id = result.message_id  # type: ignore[attr-defined]
    assert h.smsc.stats.attempts == 1 and h.state(message_id) == MessageState.ENROUTE
    h.advance(2.0)
    assert h.attempts(message_id) == [(7.0, "delivered")]


def test_submit_multi_in_datagram_mode_attempts_each_destination_once() -> None:
    h = Harness(CONFIG)
    result = h.submit_multi([OK, NEVER_ON, BUSY], esm_class=DATAGRAM, registered_delivery=1,
                            schedule_delivery_time="000000010000000R")
    assert result.status == 0 and result.unsuccess == []
    h.advance(HOURS_20)
    states = {m: h.state(f"{result.message_id}-{n}") for n, m in enumerate((OK, NEVER_ON, BUSY), start=1)}
    assert states == {OK: MessageState.DELIVERED, NEVER_ON: MessageState.UNDELIVERABLE,
                      BUSY: MessageState.UNDELIVERABLE}
    assert h.smsc.stats.attempts == 3 and h.take() == [] and h.smsc.waiting_count() == 0


def test_a_datagram_found_waiting_after_a_restart_ends_abandoned(tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    first = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START))
    message_id = first.submit_ok(SLOW, esm_class=DATAGRAM, registered_delivery=1)
    first.advance(5.0)  # kill -9 while the one attempt is under way

    second = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START + 60.0))
    assert second.state(message_id) == MessageState.UNDELIVERABLE
    assert second.attempts(message_id) == [(60.0, "abandoned")]
    second.advance(3600.0)
    assert second.attempts(message_id) == [(60.0, "abandoned")]
    assert second.take() == [] and second.smsc.waiting_count() == 0
