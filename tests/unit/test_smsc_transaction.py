"""Transaction message mode in the core (SMPP 3.4 section 2.10.3): one attempt, its outcome is the answer."""

from __future__ import annotations

from pathlib import Path

from smsc.config import SubmitRule
from smsc.core.clock import FakeClock
from smsc.core.store.sqlite import SqliteStore
from smsc.smpp.constants import CommandStatus
from tests.unit.test_smsc_support import (
    START,
    Harness,
    MessageState,
    carrier,
    make_config,
    rule,
)

OK = "447700900100"
BUSY = "447700900600"
SLOW = "447700900700"

CONFIG = make_config(carrier(rules=(rule(BUSY, cause="busy"), rule(SLOW, latency=20.0))), retry=(60.0,))


def test_a_temporary_failure_is_answered_and_never_retried_or_receipted() -> None:
    h = Harness(CONFIG)
    replies = h.submit_transaction(BUSY, registered_delivery=1)
    assert replies == []  # held for the outcome (failure latency 1 s)
    h.advance(1.0)
    (result,) = replies
    assert result.status == CommandStatus.ESME_RDELIVERYFAILURE and result.delivery_failure_reason == 3
    assert result.network_error_code == b"\x03\x00\x1f" and result.text == "busy"
    h.advance(3600.0)
    assert h.attempts(result.message_id) == [(1.0, "temporary")]
    assert h.state(result.message_id) == MessageState.UNDELIVERABLE
    assert h.take() == []  # no receipt
    assert h.smsc.waiting_count() == 0


def test_the_answer_waits_for_the_attempt_within_the_timeout_and_not_beyond_it() -> None:
    h = Harness(CONFIG)  # transaction_timeout 25 real seconds = 25 simulation seconds on a FakeClock
    replies = h.submit_transaction(OK)
    h.advance(1.9)
    assert replies == []
    h.advance(0.1)
    assert replies[0].status == 0 and replies[0].delivery_failure_reason is None
    replies = h.submit_transaction(SLOW)  # 20 s: within 25 s
    h.advance(20.0)
    assert replies[0].status == 0
    slow = make_config(carrier(rules=(rule(SLOW, latency=30.0),)))
    h = Harness(slow)
    replies = h.submit_transaction(SLOW)
    h.advance(24.9)
    assert replies == []
    h.advance(0.1)
    assert replies[0].status == CommandStatus.ESME_RDELIVERYFAILURE
    assert replies[0].delivery_failure_reason == 3 and replies[0].text == "no delivery outcome within 25 s"
    h.advance(10.0)  # the abandoned attempt's outcome changes nothing
    assert h.state(replies[0].message_id) == MessageState.UNDELIVERABLE
    assert h.attempts(replies[0].message_id) == [(25.0, "timeout")]


def test_a_pending_transaction_cannot_be_cancelled_or_replaced() -> None:
    h = Harness(CONFIG)
    replies = h.submit_transaction(SLOW)
    pending = next(iter(h.smsc.index.tracks))
    assert h.cancel(pending) == CommandStatus.ESME_RCANCELFAIL
    assert h.replace(pending) == CommandStatus.ESME_RREPLACEFAIL
    assert h.cancel(destination=SLOW) == CommandStatus.ESME_RCANCELFAIL
    h.advance(20.0)
    assert replies[0].status == 0 and replies[0].message_id == pending


def test_a_spent_carrier_capacity_fails_the_transaction_at_once() -> None:
    h = Harness(make_config(carrier(capacity=1.0)))
    first = h.submit_transaction(OK)
    second = h.submit_transaction(OK)
    assert first == []
    assert second[0].status == CommandStatus.ESME_RDELIVERYFAILURE and second[0].delivery_failure_reason == 3
    assert h.attempts(second[0].message_id) == [(0.0, "throttled")]
    h.advance(2.0)
    assert first[0].status == 0


def test_a_transaction_found_waiting_after_a_restart_ends_without_an_attempt(tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    first = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START))
    replies = first.submit_transaction(SLOW, registered_delivery=1)
    (pending,) = first.smsc.index.tracks
    first.advance(5.0)  # kill -9 while the attempt is under way: the ESME's data_sm dies with us
    assert replies == []

    second = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START + 60.0))
    assert second.state(pending) == MessageState.UNDELIVERABLE
    assert second.attempts(pending) == [(60.0, "abandoned")]
    second.advance(3600.0)
    assert second.attempts(pending) == [(60.0, "abandoned")]  # never attempted again
    assert second.take() == [] and second.smsc.waiting_count() == 0


def test_a_transaction_cut_short_while_its_attempt_is_under_way_is_answered_now_and_ends_abandoned() -> None:
    """The ESME unbinds (or the SMSC stops) before the outcome: the answer cannot wait for it."""
    h = Harness(CONFIG)
    replies = h.submit_transaction(SLOW)  # 20 s latency
    (pending,) = h.smsc.index.tracks
    h.advance(5.0)
    assert replies == [] and h.smsc.stats.in_flight == 1
    h.smsc.cut_transaction(pending, "unbind before the delivery outcome")
    (result,) = replies
    assert result.status == CommandStatus.ESME_RDELIVERYFAILURE and result.message_id == pending
    assert result.delivery_failure_reason == 3  # temporary network error: the ESME may send it again
    assert result.text == "unbind before the delivery outcome"
    assert h.state(pending) == MessageState.UNDELIVERABLE and h.attempts(pending) == [(5.0, "abandoned")]
    assert h.smsc.stats.in_flight == 0
    h.advance(60.0)  # the dropped attempt's outcome changes nothing, and nothing is answered twice
    assert len(replies) == 1 and h.attempts(pending) == [(5.0, "abandoned")]
    h.smsc.cut_transaction(pending, "again")  # an outcome already given: nothing happens
    assert len(replies) == 1 and h.smsc._transactions == {}


def test_a_transaction_cut_short_before_its_delayed_attempt_is_never_attempted() -> None:
    delayed = "447700900800"
    h = Harness(make_config(carrier(rules=(rule(delayed, submit=SubmitRule(delay=10.0)),))))
    replies = h.submit_transaction(delayed)
    (pending,) = h.smsc.index.tracks
    h.advance(2.0)
    h.smsc.cut_transaction(pending, "SMSC shutting down before the delivery outcome")
    assert replies[0].status == CommandStatus.ESME_RDELIVERYFAILURE and replies[0].delivery_failure_reason == 3
    h.advance(60.0)
    assert len(replies) == 1 and h.attempts(pending) == [(2.0, "abandoned")]
    assert h.smsc.stats.attempts == 0 and h.state(pending) == MessageState.UNDELIVERABLE
