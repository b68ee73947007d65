"""The bundled default world (smsc/data/default.yaml) through the engine: every documented test number gives
its documented outcome and receipt (fake clock, seeded RNG, memory store)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.test_smsc_support import Harness

from smsc.config import load_config
from smsc.core.api import SubmitResult
from smsc.smpp.constants import CommandStatus as S
from smsc.smpp.constants import EsmClass, MessageState

CONFIG = load_config(None)
CONFIG = dataclasses.replace(CONFIG, store=dataclasses.replace(CONFIG.store, kind="memory"))
DAYS_3 = 3 * 86_400.0


def harness() -> Harness:
    return Harness(CONFIG, seed=11)


@pytest.mark.parametrize(
    ("number", "stats", "err"),
    [
        ("447700900123", ["DELIVRD"], "000"),
        ("447700900250", ["DELIVRD"], "000"),
        ("447700900350", ["ENROUTE", "DELIVRD"], "000"),
        ("447700900450", ["ENROUTE", "EXPIRED"], "006"),
        ("447700900550", ["UNDELIV"], "001"),
        ("447700900650", ["REJECTD"], "013"),
        ("447700900750", ["DELIVRD"], "000"),
        ("447700900850", ["REJECTD"], "603"),
        ("447700900900", ["DELIVRD"], "000"),
        ("447700900920", ["ENROUTE", "DELIVRD"], "000"),
        ("447700900921", ["ENROUTE", "EXPIRED"], "031"),
        ("447700900922", ["ACCEPTD"], "000"),
        ("447700900924", ["DELIVRD", "DELIVRD"], "000"),
        ("12125550100", ["DELIVRD"], "000"),
        ("12125550101", ["DELIVRD"], "000"),
        ("12125550102", ["ENROUTE", "DELIVRD"], "000"),
        ("12125550103", ["ENROUTE", "EXPIRED"], "006"),
        ("12125550104", ["UNDELIV"], "001"),
        ("12125550105", ["REJECTD"], "607"),
        ("12125550106", ["REJECTD"], "603"),
    ],
)
def test_documented_test_numbers_give_their_receipts(number: str, stats: list[str], err: str) -> None:
    h = harness()
    message_id = h.submit_ok(number, "test message", system_id="test", registered_delivery=0x11)
    h.advance(DAYS_3)
    receipts = h.receipts("test")
    assert [r.stat for _, r in receipts] == stats
    assert receipts[-1][1].err == err
    assert all(r.message_id == message_id for _, r in receipts)
    assert receipts[-1][0].esm_class == EsmClass.DELIVERY_RECEIPT
    assert h.smsc.scheduler.errors == 0


@pytest.mark.parametrize(
    ("number", "status"),
    [
        ("447700900910", S.ESME_RSUBMITFAIL), ("447700900911", S.ESME_RTHROTTLED),
        ("447700900912", S.ESME_RINVDSTADR), ("447700900913", S.ESME_RSYSERR),
        ("12125550108", S.ESME_RSUBMITFAIL), ("12125550109", S.ESME_RTHROTTLED),
    ],
)
def test_documented_submit_rules_answer_with_their_status(number: str, status: int) -> None:
    assert harness().submit(number, system_id="test").status == status


def test_the_late_answer_number_replies_after_5_seconds_then_delivers() -> None:
    h = harness()
    replies: list[SubmitResult] = []
    h.smsc.submit(h.submission("447700900914", system_id="test", registered_delivery=1), replies.append)
    h.advance(4.9)
    assert replies == []
    h.advance(0.1)
    assert [r.status for r in replies] == [0]
    h.advance(2.0)
    assert [r.stat for _, r in h.receipts("test")] == ["DELIVRD"]


def test_delivered_at_once_and_30_seconds_later_timings() -> None:
    h = harness()
    now_id = h.submit_ok("447700900123", system_id="test")
    late_id = h.submit_ok("447700900250", system_id="test")
    h.advance(0.0)
    assert h.state(now_id) == MessageState.DELIVERED
    h.advance(29.9)
    assert h.state(late_id) == MessageState.ENROUTE
    h.advance(0.1)
    assert h.state(late_id) == MessageState.DELIVERED


def test_the_throttled_carrier_spaces_a_burst_at_two_attempts_per_second() -> None:
    h = harness()
    ids = [h.submit_ok(f"4477009007{i:02d}", system_id="test") for i in range(10)]
    h.advance(60.0)
    starts = sorted(h.smsc.message(i).attempts[0].time - 1.0 for i in ids)  # latency 1 s
    span = starts[-1] - starts[0]
    assert 4.0 <= span <= 5.0  # 10 attempts at 2/s after the bucket's first token(s)


def test_us_receipts_use_upper_case_hex_ids_and_the_text_label_with_capital_t() -> None:
    h = harness()
    for _ in range(9):
        h.submit_ok("12125550100", "no receipt", system_id="test")
    message_id = h.submit_ok("12125550100", "hi there", system_id="test", registered_delivery=1)
    assert message_id == "0000000A"  # the tenth id, the first with a letter
    h.advance(1.0)
    [(delivery, receipt)] = h.receipts("test")
    assert " Text:hi there" in delivery.short_message.decode()
    assert receipt.message_id == message_id


def test_echo_handset_and_mo_routes_of_the_default_world() -> None:
    h = harness()
    h.submit_ok("447700900900", "echo me", system_id="test", source="447700900000")
    h.advance(10.0)
    [mo] = [d for d in h.take("test") if d.kind == "mo"]
    assert (mo.source.addr, mo.destination.addr, mo.short_message) == ("447700900900", "447700900000", b"echo me")
    h.smsc.inject_mo("447700900123", "88123", text="hello short code")
    [mo] = h.take("test")
    assert mo.destination.addr == "88123"


def test_random_handsets_of_the_default_world_all_end_final_within_the_validity() -> None:
    h = harness()
    h.smsc.final_retention = 10 * 86_400.0  # keep every final message queryable for the check below
    ids = [h.submit_ok(f"4479{i:08d}", system_id="test") for i in range(300)]
    h.advance(DAYS_3)
    states = [h.state(i) for i in ids]
    assert all(s.is_final for s in states)
    delivered = states.count(MessageState.DELIVERED)
    assert delivered >= 280  # 98.5 % delivered by the mix, absent handsets mostly come back
    assert h.smsc.waiting_count() == 0 and h.smsc.stats.in_flight == 0 and h.smsc.stats.queued == 0
    assert h.smsc.scheduler.errors == 0
