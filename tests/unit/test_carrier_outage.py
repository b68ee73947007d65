"""A carrier taken down (its link to the SMSC broken): nothing is attempted, what is due for it waits until it is
back, or submits are refused with its ``outage.submit_status`` (fake clock, memory store)."""

from __future__ import annotations

import dataclasses

from smsc.core.api import Address
from smsc.smpp.constants import CommandStatus
from tests.unit.test_smsc_support import Harness, MessageState, carrier, make_config, outcome_for

OK = "447700900100"


def with_carrier(**changes: object) -> Harness:
    return Harness(make_config(dataclasses.replace(carrier(), **changes), carrier("us", ("1",))))


def test_a_message_for_a_carrier_that_is_down_waits_without_an_attempt_and_goes_when_it_is_back() -> None:
    h = with_carrier()
    h.smsc.set_carrier_down("uk", True)
    message_id = h.submit_ok(OK, registered_delivery=1)
    other = h.submit_ok("12025550100")  # another carrier: not held up
    h.advance(3600.0)
    assert h.attempts(message_id) == [] and h.state(message_id) == MessageState.ENROUTE
    assert h.state(other) == MessageState.DELIVERED
    assert h.smsc.queued_for_carrier("uk") == 1 == h.smsc.stats.queued
    assert h.receipts() == []
    h.smsc.set_carrier_down("uk", False)
    h.advance(2.0)  # attempted as it comes back, 2 s of latency
    assert h.attempts(message_id) == [(3602.0, "delivered")]
    assert h.smsc.queued_for_carrier("uk") == 0 == h.smsc.stats.queued
    [(_, receipt)] = h.receipts()
    assert receipt.stat == "DELIVRD"


def test_an_attempt_under_way_ends_as_it_would_and_a_retry_due_meanwhile_waits() -> None:
    h = Harness(make_config(dataclasses.replace(carrier(outcomes=(outcome_for("busy"),), retry=(10.0,)))))
    message_id = h.submit_ok(OK)
    h.smsc.set_carrier_down("uk", True)  # its first attempt is under way: busy after 1 s
    h.advance(100.0)
    assert h.attempts(message_id) == [(1.0, "temporary")]  # the retry due at 11 s waits
    h.smsc.set_carrier_down("uk", False)
    h.advance(1.0)
    assert h.attempts(message_id) == [(1.0, "temporary"), (101.0, "temporary")]


def test_a_message_waiting_for_a_carrier_that_is_down_expires_at_its_validity() -> None:
    h = with_carrier()
    h.smsc.set_carrier_down("uk", True)
    message_id = h.submit_ok(OK, registered_delivery=1, validity_period="000000000010000R")  # 10 s
    h.advance(11.0)
    assert h.state(message_id) == MessageState.EXPIRED and h.attempts(message_id) == [(10.0, "expired")]
    assert h.smsc.queued_for_carrier("uk") == 0
    [(_, receipt)] = h.receipts()
    assert receipt.stat == "EXPIRED"


def test_with_an_outage_submit_status_submits_are_refused_while_it_is_down_and_say_why() -> None:
    h = with_carrier(outage_status=CommandStatus.ESME_RSUBMITFAIL)
    h.submit_ok(OK)  # up: accepted
    h.smsc.set_carrier_down("uk", True)
    assert h.submit(OK).status == CommandStatus.ESME_RSUBMITFAIL
    reason = h.smsc.submit_rule_reason(Address(ton=1, npi=1, addr=OK), CommandStatus.ESME_RSUBMITFAIL)
    assert reason == "carrier uk is down, and its outage.submit_status answers every submit to it so"
    h.submit_ok("12025550100")
    h.smsc.set_carrier_down("uk", False)
    h.submit_ok(OK)


def test_a_queue_limit_bounds_what_waits_for_a_carrier_that_is_down() -> None:
    h = with_carrier(capacity=100.0, queue_limit=2)
    h.smsc.set_carrier_down("uk", True)
    h.submit_ok(OK)
    h.submit_ok(OK)
    assert h.submit(OK).status == CommandStatus.ESME_RMSGQFUL
    # (tester 144: the reason said "congested ... its capacity of 100 attempts/s" while the carrier was down)
    reason = h.smsc.submit_rule_reason(Address(ton=1, npi=1, addr=OK), CommandStatus.ESME_RMSGQFUL)
    assert reason == "carrier uk is down: 2 messages wait for its return, its queue_limit is 2"


def test_a_long_outage_queue_is_attempted_in_turns_of_a_thousand_at_the_same_simulated_time() -> None:
    h = Harness(make_config(carrier(), max_waiting=5000))
    h.smsc.set_carrier_down("uk", True)
    ids = [h.submit_ok(f"4477009{i:05d}") for i in range(2500)]
    h.advance(60.0)
    h.smsc.set_carrier_down("uk", False)
    h.advance(0.0)
    assert h.smsc.stats.in_flight == 2500 and h.smsc.queued_for_carrier("uk") == 0
    h.advance(2.0)
    assert {h.attempts(m)[0] for m in ids} == {(62.0, "delivered")}


def test_a_transaction_or_datagram_to_a_carrier_that_is_down_fails_at_once_without_an_attempt() -> None:
    h = with_carrier()
    h.smsc.set_carrier_down("uk", True)
    [answer] = h.submit_transaction(OK)
    assert answer.status == CommandStatus.ESME_RDELIVERYFAILURE and answer.delivery_failure_reason == 3
    assert h.attempts(answer.message_id) == [(0.0, "carrier_down")]
    datagram = h.submit_ok(OK, esm_class=0x01)
    assert h.state(datagram) == MessageState.UNDELIVERABLE and h.attempts(datagram) == [(0.0, "carrier_down")]


def test_a_carrier_configured_down_starts_down() -> None:
    h = with_carrier(down=True)
    message_id = h.submit_ok(OK)
    h.advance(60.0)
    assert h.attempts(message_id) == []
    assert h.smsc.router.carriers["uk"].down is True


def test_a_timed_outage_ends_by_itself_unless_switched_before() -> None:
    h = with_carrier()
    h.smsc.set_carrier_down("uk", True, 30.0)
    assert h.smsc.carrier_back_at("uk") == h.clock.now() + 30.0
    message_id = h.submit_ok(OK)
    h.advance(29.0)
    assert h.attempts(message_id) == []
    h.advance(1.0)  # back at 30 s: attempted then, 2 s of latency
    h.advance(2.0)
    assert h.attempts(message_id) == [(32.0, "delivered")]
    assert h.smsc.router.carriers["uk"].down is False
    h.smsc.set_carrier_down("uk", True, 10.0)
    h.smsc.set_carrier_down("uk", True)  # down again, for good: the timer of the first is dropped
    assert h.smsc.carrier_back_at("uk") is None
    h.advance(60.0)
    assert h.smsc.router.carriers["uk"].down is True


def test_a_carrier_without_capacity_may_bound_what_waits_while_it_is_down() -> None:
    """Tester 143: a queue_limit needed a capacity, so the queue of a carrier that was down had no bound."""
    h = with_carrier(queue_limit=1)
    h.submit_ok(OK)  # up, no capacity limit: attempted at once, never queued
    h.submit_ok(OK)
    h.smsc.set_carrier_down("uk", True)
    h.submit_ok(OK)
    assert h.submit(OK).status == CommandStatus.ESME_RMSGQFUL
