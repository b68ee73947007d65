"""Store-and-forward: attempts, handset alerts, retries, expiry and delivery receipts (fake clock)."""

from __future__ import annotations

import pytest

from tests.unit.test_smsc_support import (
    ESME, INF, SENDER, START, AutoReply, Harness, MessageState, ReceiptStyle, Tag, carrier, make_config,
    outcome_for, receipt_tlvs, rule, stats_after_mix,
)

import dataclasses
import math
import statistics

from smsc.config import Distribution, HandsetConfig
from smsc.smpp.constants import EsmClass
from smsc.smpp.text import gsm_decode

OK = "447700900100"
OFFLINE_10_MIN = "447700900200"
ALWAYS_OFF = "447700900300"
UNKNOWN = "447700900400"
BARRED = "447700900500"
BUSY = "447700900600"


def world(**kwargs) -> Harness:
    rules = (
        rule(OFFLINE_10_MIN, offline=600.0),
        rule(ALWAYS_OFF, offline=INF),
        rule(UNKNOWN, cause="unknown_subscriber"),
        rule(BARRED, cause="barred"),
        rule(BUSY, cause="busy"),
    )
    return Harness(make_config(carrier(rules=rules, **kwargs)))


def test_message_to_reachable_handset_is_delivered_after_the_carrier_latency_with_a_receipt() -> None:
    h = world()
    message_id = h.submit_ok(OK, "hello world", registered_delivery=1)
    h.advance(1.9)
    assert h.state(message_id) == MessageState.ENROUTE
    assert h.receipts() == []
    h.advance(0.1)
    assert h.state(message_id) == MessageState.DELIVERED
    [(delivery, receipt)] = h.receipts()
    assert receipt.message_id == message_id
    assert (receipt.stat, receipt.err, receipt.text) == ("DELIVRD", "000", "hello world")
    assert (receipt.submitted, receipt.delivered) == (1, 1)
    assert delivery.esm_class == EsmClass.DELIVERY_RECEIPT
    assert delivery.source.addr == OK and delivery.destination.addr == SENDER
    tlvs = receipt_tlvs(delivery)
    assert tlvs[Tag.receipted_message_id] == message_id
    assert tlvs[Tag.message_state] == MessageState.DELIVERED
    assert Tag.network_error_code not in tlvs
    assert h.gateway.wakes == [ESME]


def test_receipt_text_is_exactly_the_appendix_b_form() -> None:
    h = world()
    message_id = h.submit_ok(OK, "a text that is longer than twenty characters", registered_delivery=1)
    h.advance(60)
    [delivery] = h.take()
    # 2026-01-01 00:00 submit, delivered 2 s later
    assert delivery.short_message.decode("ascii") == (
        f"id:{message_id} sub:001 dlvrd:001 submit date:2601010000 done date:2601010000 "
        "stat:DELIVRD err:000 text:a text that is longe"
    )
    assert delivery.data_coding == 0


@pytest.mark.parametrize(
    ("data_coding", "user_data", "preview"),
    [
        (0x08, bytes.fromhex("00000041"), "?A"),  # UCS-2 NUL, "A" (tester7 f_enc): no NUL in the receipt
        (0x03, b"a\tb\x07c\xe9\r\nd\x7f\x1be", "a b?c?  d??e"),  # Latin-1: tab, BEL, e-acute, CR LF, DEL, ESC
        (0x00, b"Hello, world 42!", "Hello, world 42!"),  # printable text as it was
        (0x00, b"\x00 home", "? home"),  # GSM 03.38 0x00 is "@" (not a control character), which GSM reads elsewhere
        # tester9 finding 4: "@£$_é ok" in GSM 03.38.  Written as ASCII, "@" "$" "_" would read as "¡" "¤" "§" in
        # GSM 03.38, which is what data_coding 0 means here; "£" "é" have no ASCII form.
        (0x00, bytes([0x00, 0x01, 0x02, 0x11, 0x05]) + b" ok", "????? ok"),
        (0x01, b"a$@[\\]^_`{|}~z", "a????????????z"),  # IA5: every ASCII character GSM 03.38 puts elsewhere
        (0x01, b"!\"#%&'()*+,-./:;<=>?", "!\"#%&'()*+,-./:;<=>?"),  # the ASCII punctuation GSM 03.38 shares
    ],
)
def test_the_receipt_text_field_is_printable_ascii(data_coding: int, user_data: bytes, preview: str) -> None:
    h = world()
    sub = h.submission(OK, registered_delivery=1, data_coding=data_coding)
    sub.short_message = user_data
    replies: list = []
    h.smsc.submit(sub, replies.append)
    h.advance(60)
    [delivery] = h.take()
    assert delivery.short_message.decode("ascii").endswith(f" text:{preview}")


def test_the_receipt_reads_the_same_as_ascii_and_as_gsm_03_38() -> None:
    # data_coding 0: an ESME may decode it either way (Kannel and smpplib use GSM 03.38).
    h = world()
    every_printable = bytes(range(0x20, 0x7F))
    for start in range(0, len(every_printable), 20):
        sub = h.submission(OK, registered_delivery=1, data_coding=0x01)
        sub.short_message = every_printable[start:start + 20]
        h.smsc.submit(sub, lambda r: None)
    h.advance(60)
    deliveries = h.take()
    assert len(deliveries) == 5
    for delivery in deliveries:
        assert delivery.data_coding == 0
        assert gsm_decode(delivery.short_message) == delivery.short_message.decode("ascii")


def test_submit_to_offline_handset_is_held_and_delivered_when_it_comes_online_by_alert_not_polling() -> None:
    h = world()
    message_id = h.submit_ok(OFFLINE_10_MIN, registered_delivery=1)
    h.advance(1.0)  # first attempt: absent (failure latency 1 s); the handset is back at +600 s
    assert h.attempts(message_id) == [(1.0, "absent")]
    timers_before = h.smsc.scheduler.fired
    h.advance(598.0)
    assert h.smsc.scheduler.fired == timers_before  # nothing ran while the handset was away: no polling
    assert h.state(message_id) == MessageState.ENROUTE
    h.advance(1.0 + 2.0)  # alert at +600, delivery latency 2 s
    assert h.state(message_id) == MessageState.DELIVERED
    assert h.attempts(message_id) == [(1.0, "absent"), (602.0, "delivered")]
    [(_, receipt)] = h.receipts()
    assert receipt.stat == "DELIVRD"


def test_one_alert_timer_wakes_every_message_waiting_for_the_same_handset() -> None:
    h = world()
    first = h.submit_ok(OFFLINE_10_MIN)
    h.advance(1.0)
    later = [h.submit_ok(OFFLINE_10_MIN, f"msg {i}") for i in range(5)]
    h.advance(10.0)
    # priority 0 messages to a handset known absent join the wait without an attempt of their own
    for message_id in later:
        assert h.attempts(message_id) == []
    assert len(h.smsc.machine.absent) == 1
    h.advance(600.0)
    for message_id in [first, *later]:
        assert h.state(message_id) == MessageState.DELIVERED


def test_priority_message_to_an_absent_handset_is_attempted_anyway() -> None:
    h = world()
    h.submit_ok(OFFLINE_10_MIN)
    h.advance(1.0)
    urgent = h.submit_ok(OFFLINE_10_MIN, priority_flag=1)
    h.advance(1.0)
    assert h.attempts(urgent) == [(2.0, "absent")]


def test_absent_until_expiry_gives_an_expired_receipt_with_the_last_error() -> None:
    h = world()
    message_id = h.submit_ok(ALWAYS_OFF, registered_delivery=1, validity_period="000000010000000R")  # 1 h
    h.advance(3599.0)
    assert h.state(message_id) == MessageState.ENROUTE
    h.advance(1.0)
    assert h.state(message_id) == MessageState.EXPIRED
    [(delivery, receipt)] = h.receipts()
    assert (receipt.stat, receipt.err) == ("EXPIRED", "006")
    tlvs = receipt_tlvs(delivery)
    assert tlvs[Tag.message_state] == MessageState.EXPIRED
    assert tlvs[Tag.network_error_code] == bytes([3, 0, 6])
    assert receipt.done_date is not None and receipt.done_date.timestamp() == START + 3600


@pytest.mark.parametrize(
    ("cause", "err", "nec"),
    [("absent_subscriber", "006", bytes([3, 0, 6])), ("memory_full", "032", bytes([3, 0, 32]))],
)
def test_a_message_queued_behind_another_for_an_absent_handset_expires_with_the_numbers_error(
    cause: str, err: str, nec: bytes,
) -> None:
    """Found by a tester: the second message to a handset known absent joins the wait without an attempt of
    its own; when it expired there it said err:000 with no network_error_code, where a lone message says why
    (absent subscriber, memory full)."""
    h = Harness(make_config(carrier(rules=(rule(ALWAYS_OFF, cause=cause, offline=INF),))))
    first = h.submit_ok(ALWAYS_OFF, "first", registered_delivery=1, validity_period="000000001000000R")
    h.advance(5.0)
    assert h.attempts(first) == [(1.0, "absent")]
    second = h.submit_ok(ALWAYS_OFF, "second", registered_delivery=1, validity_period="000000000100000R")
    h.advance(61.0)
    assert h.attempts(second) == [(65.0, "expired")]  # never attempted: it waited behind the first
    [(delivery, receipt)] = h.receipts()
    assert (receipt.message_id, receipt.stat, receipt.err) == (second, "EXPIRED", err)
    assert receipt_tlvs(delivery)[Tag.network_error_code] == nec
    assert h.query(second).error_code == int(err)
    h.advance(600.0)
    [(delivery, receipt)] = h.receipts()
    assert (receipt.message_id, receipt.stat, receipt.err) == (first, "EXPIRED", err)
    assert receipt_tlvs(delivery)[Tag.network_error_code] == nec


@pytest.mark.parametrize(
    ("number", "state", "stat", "err", "nec"),
    [
        (UNKNOWN, MessageState.UNDELIVERABLE, "UNDELIV", "001", bytes([3, 0, 1])),
        (BARRED, MessageState.REJECTED, "REJECTD", "013", bytes([3, 0, 13])),
    ],
)
def test_permanent_failures_give_a_receipt_with_stat_err_and_network_error_code(
    number: str, state: MessageState, stat: str, err: str, nec: bytes
) -> None:
    h = world()
    message_id = h.submit_ok(number, registered_delivery=1)
    h.advance(1.0)
    assert h.state(message_id) == state
    [(delivery, receipt)] = h.receipts()
    assert (receipt.stat, receipt.err, receipt.delivered) == (stat, err, 0)
    tlvs = receipt_tlvs(delivery)
    assert tlvs[Tag.message_state] == state
    assert tlvs[Tag.network_error_code] == nec
    assert h.smsc.message(message_id).error_code == int(err)


def test_temporary_failures_are_retried_on_the_carrier_schedule_until_expiry() -> None:
    h = world(retry=(10.0, 20.0))
    message_id = h.submit_ok(BUSY, registered_delivery=1, validity_period="000000000140000R")  # 100 s
    h.advance(200.0)
    # attempts at 0, 11, 32, 53, 74, 95 (failure latency 1 s, waits 10, 20, 20 ...); expiry at 100
    assert h.attempts(message_id) == [
        (1.0, "temporary"), (12.0, "temporary"), (33.0, "temporary"), (54.0, "temporary"),
        (75.0, "temporary"), (96.0, "temporary"), (100.0, "expired"),
    ]
    [(_, receipt)] = h.receipts()
    assert (receipt.stat, receipt.err) == ("EXPIRED", "031")


def test_a_validity_that_ends_during_an_attempt_expires_the_message_when_the_attempt_fails() -> None:
    """Tester 179: a 1 s validity and a busy attempt failing at 1.134 s (here: at 2 s) listed [temporary at 1.134, expired at 1.000] and sent an ENROUTE notification, then EXPIRED:
    the expiry was dated back before the attempt listed before it.  It is dated when the failure came, and a
    message final already gets no intermediate notification."""
    h = Harness(make_config(carrier(failure_latency=2.0, outcomes=(outcome_for("busy"),))))
    message_id = h.submit_ok("447700900210", registered_delivery=0x11, validity_period="000000000001000R")
    h.advance(10.0)
    assert h.attempts(message_id) == [(2.0, "temporary"), (2.0, "expired")]
    assert h.smsc.message(message_id).final_time == START + 2.0
    [(_, receipt)] = h.receipts()  # (no ENROUTE notification before it)
    assert (receipt.stat, receipt.err) == ("EXPIRED", "031")


def test_the_simulation_retry_schedule_applies_when_the_carrier_has_none() -> None:
    h = world()  # make_config's retry schedule (60, 300, 900)
    message_id = h.submit_ok(BUSY, validity_period="000000010000000R")
    h.advance(3600.0)
    times = [t for t, outcome in h.attempts(message_id) if outcome == "temporary"]
    assert times == [1.0, 62.0, 363.0, 1264.0, 2165.0, 3066.0]


def test_a_wait_for_an_absent_handset_does_not_move_later_retries_along_the_schedule() -> None:
    """Tester 76: after an absent attempt (a wait for the handset, no retry), the first busy failure waited the
    schedule's second interval (300 s) instead of its first (60 s): absent attempts counted as retries."""
    from smsc.core.carrier import outcome_for

    off_then_busy = "447700900210"
    h = Harness(make_config(carrier(outcomes=(outcome_for("busy"),))))  # every attempt that pages it: busy
    h.smsc.set_handset_online(off_then_busy, False)
    message_id = h.submit_ok(off_then_busy, validity_period="000000010000000R")
    h.advance(100.0)
    h.smsc.set_handset_online(off_then_busy, True)  # the alert: attempted again
    h.advance(600.0)
    outcomes = h.attempts(message_id)
    assert [o for _, o in outcomes[:3]] == ["absent", "temporary", "temporary"], outcomes
    (_, _), (busy_1, _), (busy_2, _) = outcomes[:3]
    assert busy_2 - busy_1 == 60.0 + 1.0  # the schedule's first wait, then the failure latency


@pytest.mark.parametrize(
    ("registered_delivery", "number", "expected"),
    [
        (0, OK, []), (0, UNKNOWN, []),
        (1, OK, ["DELIVRD"]), (1, UNKNOWN, ["UNDELIV"]),
        (2, OK, []), (2, UNKNOWN, ["UNDELIV"]),
        (3, OK, ["DELIVRD"]), (3, UNKNOWN, []),  # SMPP 5.0: success only
        (0x10, OK, []), (0x11, OK, ["DELIVRD"]),
        (0x12, OFFLINE_10_MIN, ["ENROUTE"]),  # intermediate on the first failure, no final on success
        (0x11, OFFLINE_10_MIN, ["ENROUTE", "DELIVRD"]),
        (0x04, OK, []), (0x0D, OK, ["DELIVRD"]),  # SME ack bits do not change SMSC receipts
        (0xE1, OK, ["DELIVRD"]),  # reserved bits 7-5 are ignored
    ],
)
def test_registered_delivery_bits_choose_the_receipts(registered_delivery: int, number: str,
                                                      expected: list[str]) -> None:
    h = world()
    h.submit_ok(number, registered_delivery=registered_delivery)
    h.advance(1000.0)
    assert [r.stat for _, r in h.receipts()] == expected


def test_intermediate_notification_is_sent_once_on_the_first_failed_attempt() -> None:
    h = world(retry=(10.0,))
    message_id = h.submit_ok(BUSY, registered_delivery=0x11, validity_period="000000000140000R")
    h.advance(1.0)
    [(delivery, receipt)] = h.receipts()
    assert delivery.esm_class == EsmClass.INTERMEDIATE_NOTIFICATION
    assert (receipt.stat, receipt.err, receipt.delivered) == ("ENROUTE", "031", 0)
    assert receipt_tlvs(delivery)[Tag.message_state] == MessageState.ENROUTE
    h.advance(200.0)
    assert [r.stat for _, r in h.receipts()] == ["EXPIRED"]
    assert h.state(message_id) == MessageState.EXPIRED


def test_receipt_echoes_user_message_reference_and_follows_the_carrier_style() -> None:
    style = ReceiptStyle(receipted_message_id=False, text_label="Text", err_digits=3)
    h = Harness(make_config(carrier(receipt=style, rules=(rule(UNKNOWN, cause="unknown_subscriber"),))))
    h.submit_ok(UNKNOWN, "hi", registered_delivery=1, tlvs={Tag.user_message_reference: 4242})
    h.advance(5.0)
    [delivery] = h.take()
    tlvs = receipt_tlvs(delivery)
    assert Tag.receipted_message_id not in tlvs
    assert tlvs[Tag.user_message_reference] == 4242
    assert delivery.short_message.decode().endswith("stat:UNDELIV err:001 Text:hi")


def test_receipt_text_field_is_ascii_even_for_ucs2_messages() -> None:
    h = world()
    sub = h.submission(OK, "", registered_delivery=1, data_coding=8)
    sub.short_message = "caf\u00e9 \u2603".encode("utf-16-be")
    h.smsc.submit(sub, lambda r: None)
    h.advance(5.0)
    [(_, receipt)] = h.receipts()
    assert receipt.text == "caf? ?"


def test_carrier_capacity_queues_attempts_best_priority_first_then_oldest() -> None:
    h = Harness(make_config(carrier(capacity=1.0)))
    order = []
    ids = {}
    for i, priority in enumerate([0, 0, 3, 1, 0, 2]):
        ids[h.submit_ok(f"4477009001{i:02d}", priority_flag=priority)] = (priority, i)
    h.advance(10.0)
    for message_id in ids:
        order.append((h.smsc.message(message_id).attempts[0].time - START - 2.0, ids[message_id]))
    order.sort()
    # the first goes at once (a full bucket holds one token), then one per second by priority, then age
    assert [key for _, key in order] == [(0, 0), (3, 2), (2, 5), (1, 3), (0, 1), (0, 4)]
    assert [t for t, _ in order] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert h.smsc.stats.queued == 0


def test_a_message_waiting_for_carrier_capacity_expires_at_its_validity_without_an_attempt_slot() -> None:
    """Tester 26: 20 messages of 1 s validity behind a carrier of 2 attempts/s were expired only when their turn
    came, each spending a slot: EXPIRED receipts up to 8 s late, and a live message behind them waited 9.5 s."""
    h = Harness(make_config(carrier(capacity=2.0)))
    short = [h.submit_ok(f"4477009001{i:02d}", registered_delivery=1, validity_period="000000000001000R")
             for i in range(20)]
    live = h.submit_ok("447700900150", registered_delivery=1)
    h.advance(1.0)
    expired = [m for m in short if h.smsc.message(m).state == MessageState.EXPIRED]
    # 2 attempts at once (a full bucket), 1 at 0.5 s, under way (2 s latency); the other 17 expired at their
    # validity, never attempted (no attempt but the expiry, no slot taken), and the token of 1.0 s went to the
    # live message behind them.
    assert len(expired) == 17
    assert all(h.attempts(m) == [(1.0, "expired")] for m in expired)
    assert h.smsc.stats.queued == 0 and h.smsc.stats.in_flight == 4
    h.advance(2.0)
    assert h.attempts(live) == [(3.0, "delivered")]  # attempted at 1.0 s, 2 s of latency
    receipts = {r.message_id: r for _, r in h.receipts()}
    assert all(receipts[m].stat == "EXPIRED" and receipts[m].done_date is not None for m in expired)


def test_schedule_delivery_time_defers_the_first_attempt() -> None:
    h = world()
    message_id = h.submit_ok(OK, registered_delivery=1, schedule_delivery_time="000000003000000R")  # +30 min
    h.advance(1799.0)
    assert h.attempts(message_id) == []
    h.advance(10.0)
    assert h.attempts(message_id) == [(1802.0, "delivered")]
    [(_, receipt)] = h.receipts()
    assert receipt.done_date is not None and receipt.done_date.timestamp() == START + 1800


def test_absolute_schedule_delivery_time_with_a_utc_offset() -> None:
    h = world()
    # 2026-01-01 02:00:00 local at UTC+1 (4 quarter hours) = 01:00 UTC = START + 3600
    message_id = h.submit_ok(OK, schedule_delivery_time="260101020000004+")
    h.advance(3599.0)
    assert h.attempts(message_id) == []
    h.advance(5.0)
    assert h.attempts(message_id) == [(3602.0, "delivered")]


def test_handset_auto_reply_comes_back_as_mo_to_the_sender_system_id() -> None:
    echo = AutoReply(echo=True, delay=Distribution(kind="fixed", value=5.0))
    h = Harness(make_config(carrier(rules=(rule(OK, auto_reply=echo),))))
    h.submit_ok(OK, "ping")
    h.advance(6.9)
    assert h.take() == []
    h.advance(0.2)
    [mo] = h.take()
    assert mo.kind == "mo" and mo.esm_class == 0
    assert (mo.source.addr, mo.destination.addr, mo.short_message) == (OK, SENDER, b"ping")
    assert h.smsc.stats.auto_replies == 1


def test_opted_out_handset_gets_rejected_with_err_603() -> None:
    h = world()
    h.smsc.inject_mo(OK, "88000", text="STOP")
    message_id = h.submit_ok(OK, registered_delivery=1)
    h.advance(5.0)
    assert h.state(message_id) == MessageState.REJECTED
    [(_, receipt)] = h.receipts()
    assert (receipt.stat, receipt.err) == ("REJECTD", "603")


def test_switching_a_handset_on_alerts_its_waiting_messages_at_once() -> None:
    h = world()
    message_id = h.submit_ok(ALWAYS_OFF)
    h.advance(100.0)
    assert h.state(message_id) == MessageState.ENROUTE
    h.smsc.set_handset_online(ALWAYS_OFF, True)
    h.advance(2.0)
    assert h.state(message_id) == MessageState.DELIVERED
    assert h.attempts(message_id) == [(1.0, "absent"), (102.0, "delivered")]


def test_stats_count_outcomes() -> None:
    h = world()
    for number in (OK, OK, UNKNOWN, BARRED):
        h.submit_ok(number)
    h.advance(10.0)
    stats = h.smsc.stats
    assert (stats.submitted, stats.delivered, stats.undeliverable, stats.rejected) == (4, 2, 1, 1)
    assert (stats.waiting, stats.in_flight, stats.queued) == (0, 0, 0)
    assert stats.attempts == 4


def test_outcome_mix_of_a_carrier_is_applied_per_message() -> None:
    stats = stats_after_mix((outcome_for("delivered", 0.9), outcome_for("unknown_subscriber", 0.1)), 2000)
    assert stats.delivered + stats.undeliverable == 2000
    # binomial(2000, 0.1): sd = 13.4; 5 sd either side
    assert abs(stats.undeliverable - 200) < 5 * 13.4


def test_delivery_latency_follows_the_carrier_distribution() -> None:
    lognormal = Distribution(kind="lognormal", median=3.0, sigma=0.5)
    cfg = make_config(dataclasses.replace(carrier(), latency=lognormal), max_waiting=5000)
    h = Harness(cfg, seed=5)
    n = 2001
    ids = [h.submit_ok(f"4477{i:08d}") for i in range(n)]
    h.advance(600.0)
    logs = [math.log(h.smsc.message(i).final_time - START) for i in ids]
    # the median of n log-normal draws: log-median ~ N(log 3, (sigma * sqrt(pi / 2) / sqrt(n))^2)
    standard_error = 0.5 * math.sqrt(math.pi / 2) / math.sqrt(n)
    assert abs(statistics.median(logs) - math.log(3.0)) < 5 * standard_error
    # and the spread: sd of the logs is sigma (standard error sigma / sqrt(2 (n - 1)))
    assert abs(statistics.stdev(logs) - 0.5) < 5 * 0.5 / math.sqrt(2 * (n - 1))


def test_a_handset_switched_on_while_an_attempt_to_it_is_under_way_gets_its_message_promptly() -> None:
    """The attempt paged the handset while it was off (an "absent" outcome, 5 s of failure latency away), and
    the control API switched it on in between: when the outcome arrives the handset is online, so the message
    is retried as an alert would retry it, not left waiting for a switch that already happened."""
    h = world(failure_latency=5.0)
    message_id = h.submit_ok(ALWAYS_OFF, registered_delivery=1)
    h.advance(2.0)
    h.smsc.set_handset_online(ALWAYS_OFF, True)  # nothing waits yet: the attempt is under way
    h.advance(3.0)  # the absent outcome of the attempt made at 0
    h.advance(10.0)
    assert h.state(message_id) == MessageState.DELIVERED
    assert h.attempts(message_id) == [(5.0, "absent"), (8.0, "delivered")]  # again 1 s after the outcome
    [(_, receipt)] = h.receipts()  # one receipt, the final one
    assert receipt.stat == "DELIVRD"
    h.advance(3600.0)
    assert h.receipts() == [] and h.smsc.stats.waiting == 0


def test_a_handset_switched_on_during_an_attempt_made_in_its_offline_spell_is_not_waited_for_until_the_spell_ends() -> None:
    """The same with a handset whose rule gives an end to the spell (600 s): the switch wins over it."""
    h = world(failure_latency=5.0)
    message_id = h.submit_ok(OFFLINE_10_MIN)
    h.advance(1.0)
    h.smsc.set_handset_online(OFFLINE_10_MIN, True)
    h.advance(20.0)
    assert h.state(message_id) == MessageState.DELIVERED
    assert h.attempts(message_id) == [(5.0, "absent"), (8.0, "delivered")]


def test_an_attempt_made_after_the_switch_that_ends_absent_waits_as_usual() -> None:
    """Only a switch made while the attempt was under way counts: a number whose rule makes every attempt end
    absent ("absent_subscriber" as its fixed outcome), attempted after the switch, is not retried every
    second but waits for the next switch (no retry loop)."""
    never = "447700900700"
    h = Harness(make_config(carrier(rules=(rule(never, cause="absent_subscriber"),), failure_latency=5.0)))
    h.smsc.set_handset_online(never, True)
    message_id = h.submit_ok(never)
    h.advance(3600.0)
    assert h.attempts(message_id) == [(5.0, "absent")]
    assert h.state(message_id) == MessageState.ENROUTE


def _offline_world(failure_latency: float = 1.0) -> tuple[Harness, str]:
    """A carrier whose handsets are online half the time, and a number its model has offline at the start."""
    cfg = make_config(dataclasses.replace(
        carrier(failure_latency=failure_latency),
        handsets=HandsetConfig(online_probability=0.5, offline_period=Distribution("fixed", value=7200.0),
                               online_after_mo=600.0)))
    h = Harness(cfg)
    pool = h.world.route("447700930000").handsets
    for i in range(2000):
        number = f"4477009{i:05d}"
        if not pool.is_online(number, START) and (pool.next_online(number, START) or INF) > START + 3600.0:
            return h, number
    raise AssertionError("no number offline for the next hour among 2,000")


def test_a_message_waiting_for_an_absent_handset_is_delivered_when_the_handset_sends_an_mo() -> None:
    """Found by a tester: a handset that sent an MO stayed absent, so the message waiting for it (or the reply
    to its keyword) waited for the end of its offline spell.  Sending needs network access, which a real HLR
    follows with alertServiceCentre: the waiting message is delivered at once."""
    h, number = _offline_world()
    message_id = h.submit_ok(number, registered_delivery=1)
    h.advance(60.0)
    assert h.state(message_id) == MessageState.ENROUTE
    h.smsc.inject_mo(number, "88123", text="hello")
    h.advance(10.0)
    assert h.state(message_id) == MessageState.DELIVERED
    reply_id = h.submit_ok(number, "the reply to your keyword", registered_delivery=1)
    h.advance(5.0)
    assert h.state(reply_id) == MessageState.DELIVERED
    assert sorted(r.stat for _, r in h.receipts()) == ["DELIVRD", "DELIVRD"]


def test_an_mo_sent_while_an_attempt_to_its_handset_is_under_way_gets_the_message_retried_promptly() -> None:
    h, number = _offline_world(failure_latency=5.0)
    message_id = h.submit_ok(number)
    h.advance(2.0)
    h.smsc.inject_mo(number, "88123", text="hello")  # nothing waits yet: the attempt is under way
    h.advance(20.0)
    assert h.state(message_id) == MessageState.DELIVERED
    assert [outcome for _, outcome in h.attempts(message_id)] == ["absent", "delivered"]
