"""A congested carrier: its ``queue_limit`` bounds the messages waiting for its capacity, and a submit beyond is
refused with its ``queue_full_status`` (fake clock, memory store)."""

from __future__ import annotations

import dataclasses

import pytest

from smsc.core.api import Address
from smsc.smpp.constants import CommandStatus
from tests.unit.test_smsc_support import Harness, MessageState, carrier, make_config


def congested(limit: int, status: int = CommandStatus.ESME_RMSGQFUL, capacity: float = 1.0) -> Harness:
    return Harness(make_config(dataclasses.replace(carrier(capacity=capacity), queue_limit=limit,
                                                   queue_full_status=status)))


def test_submits_beyond_the_queue_limit_are_refused_until_the_queue_drains() -> None:
    h = congested(2)
    first = h.submit_ok("447700900101")  # attempted at once: a full bucket holds one token
    queued = [h.submit_ok("447700900102"), h.submit_ok("447700900103")]
    assert h.smsc.queued_for_carrier("uk") == 2
    refused = h.submit("447700900104")
    assert (refused.status, refused.message_id) == (CommandStatus.ESME_RMSGQFUL, "")
    assert (h.smsc.stats.congested, h.smsc.stats.submit_errors, h.smsc.stats.submitted) == (1, 1, 3)
    h.advance(1.0)  # one token: the oldest queued message is attempted, a place is free
    assert h.smsc.queued_for_carrier("uk") == 1
    h.submit_ok("447700900104")
    assert h.submit("447700900105").status == CommandStatus.ESME_RMSGQFUL
    h.advance(10.0)
    assert all(h.state(m) == MessageState.DELIVERED for m in [first, *queued])
    assert h.smsc.queued_for_carrier("uk") == 0 and h.smsc.stats.queued == 0


def test_a_cancelled_or_expired_queued_message_frees_its_place_at_once() -> None:
    h = congested(2, capacity=0.1)  # one attempt every 10 s: nothing leaves the queue by its turn below
    h.submit_ok("447700900101")
    doomed = h.submit_ok("447700900102")
    h.submit_ok("447700900103")
    assert h.submit("447700900104").status == CommandStatus.ESME_RMSGQFUL
    assert h.cancel(doomed) == CommandStatus.ESME_ROK
    # its heap entry stays until the queue reaches it, but no longer counts
    assert h.smsc.queued_for_carrier("uk") == 1
    short = h.submit_ok("447700900104", validity_period="000000000003000R")  # 3 s of validity
    assert h.submit("447700900105").status == CommandStatus.ESME_RMSGQFUL
    h.advance(3.5)
    assert h.state(short) == MessageState.EXPIRED
    assert h.smsc.queued_for_carrier("uk") == 1
    h.submit_ok("447700900105")
    assert h.smsc.queued_for_carrier("uk") == h.smsc.stats.queued == 2


def test_the_refusal_status_is_the_carriers_and_other_carriers_are_not_held_up() -> None:
    config = make_config(
        dataclasses.replace(carrier(capacity=1.0), queue_limit=1, queue_full_status=CommandStatus.ESME_RTHROTTLED),
        carrier("us", ("1",)),
    )
    h = Harness(config)
    h.submit_ok("447700900101")  # the bucket's token: attempted at once
    h.submit_ok("447700900102")  # queued
    assert h.submit("447700900103").status == CommandStatus.ESME_RTHROTTLED
    h.submit_ok("12025550100")  # another carrier, no limit
    assert h.smsc.stats.congested == 1


def test_the_reason_names_the_carrier_its_queue_and_its_limit() -> None:
    h = congested(1)
    h.submit_ok("447700900101")
    h.submit_ok("447700900102")
    assert h.submit("447700900103").status == CommandStatus.ESME_RMSGQFUL
    reason = h.smsc.submit_rule_reason(Address(ton=1, npi=1, addr="447700900103"), CommandStatus.ESME_RMSGQFUL)
    assert reason == "carrier uk is congested: 1 messages wait for its capacity of 1 attempts/s, its queue_limit is 1"


def test_each_submit_multi_destination_of_a_congested_carrier_is_refused_in_unsuccess_sme() -> None:
    h = congested(1)
    h.submit_ok("447700900101")
    h.submit_ok("447700900102")
    result = h.submit_multi(["447700900103", "447700900104"])
    assert [(address.addr, status) for address, status in result.unsuccess] == [
        ("447700900103", CommandStatus.ESME_RMSGQFUL), ("447700900104", CommandStatus.ESME_RMSGQFUL)]
    assert h.smsc.stats.congested == 2


@pytest.mark.parametrize("limit", [1, 3])
def test_a_carrier_with_a_queue_limit_never_takes_the_plain_submit_path(limit: int) -> None:
    h = congested(limit)
    accepted = 0
    for i in range(8):
        if h.submit(f"4477009001{i:02d}").status == 0:
            accepted += 1
    assert accepted == 1 + limit


def test_submits_awaiting_their_commit_count_against_the_limit() -> None:
    """Tester 143: with the SQLite store, whose commits come later, a pipelining ESME had 1,709 of 3,000 submits
    accepted against a queue_limit of 3: the count only saw messages that had reached the queue."""
    from smsc.core.store.memory import MemoryStore
    from tests.unit.test_smsc_support import Ticks

    ticks = Ticks()
    h = Harness(make_config(dataclasses.replace(carrier(capacity=1.0), queue_limit=3)),
                store=MemoryStore(call_soon=ticks.call_soon))
    ticks.run()
    replies: list[object] = []
    for i in range(10):  # one read's worth, before any commit comes back
        h.smsc.submit(h.submission(f"4477009001{i:02d}"), replies.append)
    assert replies == [r for r in replies if getattr(r, "status", 0)]  # only refusals answered so far
    ticks.run()
    statuses = [getattr(r, "status") for r in replies]
    # the bucket's one token covers the first; the next three fill the queue
    assert statuses.count(0) == 4 and statuses.count(CommandStatus.ESME_RMSGQFUL) == 6
    assert h.smsc.queued_for_carrier("uk") == 3 and h.smsc._admitted == {"uk": set()}
    h.smsc.submit(h.submission("447700900199"), replies.append)
    assert getattr(replies[-1], "status") == CommandStatus.ESME_RMSGQFUL
    h.advance(1.0)  # a token: the oldest queued is attempted, a place is free
    h.smsc.submit(h.submission("447700900199"), replies.append)
    ticks.run()
    assert getattr(replies[-1], "status") == 0


def test_submits_awaiting_their_commit_are_not_counted_while_the_capacity_covers_them() -> None:
    """Tester 145: a carrier of 2,000 attempts/s with a queue_limit of 100 refused two thirds of a 600/s load with
    the SQLite store, though its queue stayed empty: every submit awaiting its commit counted as queued."""
    from smsc.core.store.memory import MemoryStore
    from tests.unit.test_smsc_support import Ticks

    ticks = Ticks()
    h = Harness(make_config(dataclasses.replace(carrier(capacity=2000.0), queue_limit=100)),
                store=MemoryStore(call_soon=ticks.call_soon))
    ticks.run()
    replies: list[object] = []
    for i in range(300):  # one commit's worth: the bucket's 2,000 tokens cover them
        h.smsc.submit(h.submission(f"4477009{i:05d}"), replies.append)
    ticks.run()
    assert [getattr(r, "status") for r in replies] == [0] * 300
    assert h.smsc.queued_for_carrier("uk") == 0


def test_a_carrier_without_capacity_that_is_up_and_at_its_limit_still_answers() -> None:
    """Tester 145: the refusal's reason formatted the missing capacity as a number (TypeError): the connection
    closed.  Its queue can only fill while it is down; brought back, it drains a thousand per turn."""
    h = Harness(make_config(dataclasses.replace(carrier(), queue_limit=1)))
    h.smsc.set_carrier_down("uk", True)
    h.submit_ok("447700900101")
    h.smsc.set_carrier_down("uk", False)  # back: the one queued drains at the next timer
    assert h.submit("447700900102").status == CommandStatus.ESME_RMSGQFUL
    reason = h.smsc.submit_rule_reason(Address(ton=1, npi=1, addr="447700900102"), CommandStatus.ESME_RMSGQFUL)
    assert reason == "carrier uk is congested: 1 messages wait for its capacity, its queue_limit is 1"
    h.advance(0.0)
    h.submit_ok("447700900103")
