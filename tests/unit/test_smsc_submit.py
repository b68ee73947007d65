"""submit_sm / submit_multi validation and admission, query_sm, cancel_sm and replace_sm (fake clock)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import structlog.testing

from tests.unit.test_smsc_support import (
    ESME, INF, SENDER, START, Harness, MessageIdFormat, MessageState, ReceiptStyle, SubmitRule, Tag, carrier,
    make_config, rule,
)

from smsc.core.api import Address, SubmitResult
from smsc.core.clock import FakeClock
from smsc.core.store.memory import MemoryStore
from smsc.core.store.sqlite import SqliteStore
from smsc.smpp.constants import CommandStatus as S
from tests.stored import stored_state

OK = "447700900100"
ALWAYS_OFF = "447700900300"
FAILS_AT_SUBMIT = "447700900700"
SLOW_ACCEPT = "447700900701"
US = "15550100123"


def world(**config) -> Harness:
    rules = (
        rule(ALWAYS_OFF, offline=INF),
        rule(FAILS_AT_SUBMIT, submit=SubmitRule(status=S.ESME_RSUBMITFAIL, delay=0.0)),
        rule(SLOW_ACCEPT, submit=SubmitRule(status=0, delay=3.0)),
    )
    return Harness(make_config(carrier(rules=rules), **config))


# -- validation ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"priority_flag": 4}, S.ESME_RINVPRTFLG),
        ({"replace_if_present_flag": 2}, S.ESME_RINVREPFLAG),
        ({"schedule_delivery_time": "2601011200"}, S.ESME_RINVSCHED),  # wrong length
        ({"schedule_delivery_time": "261301120000000+"}, S.ESME_RINVSCHED),  # month 13
        ({"schedule_delivery_time": "000015000000000R"}, S.ESME_RINVSCHED),  # 15 days > max_schedule 14 d
        ({"validity_period": "26010112000000x+"}, S.ESME_RINVEXPIRY),
        ({"validity_period": "251231000000000+"}, S.ESME_RINVEXPIRY),  # already over
        ({"validity_period": "000000000000000R"}, S.ESME_RINVEXPIRY),  # zero length
        ({"schedule_delivery_time": "000001000000000R", "validity_period": "000000100000000R"},
         S.ESME_RINVEXPIRY),  # ends before the scheduled start
    ],
)
def test_invalid_submit_fields_get_the_spec_status(fields: dict, status: int) -> None:
    h = world()
    assert h.submit(OK, **fields) == SubmitResult(status=status, message_id="")
    assert h.smsc.stats.submit_errors == 1
    assert h.smsc.waiting_count() == 0


def test_validity_beyond_the_maximum_is_clamped_and_the_first_clamp_is_logged() -> None:
    """Tester 105: with a start_time, an ESME's absolute validity computed from its own clock (10 minutes ahead of
    the wall time) was months ahead of the simulated clock, and became max_validity without a word."""
    h = world(max_validity=3600.0)
    with structlog.testing.capture_logs() as logs:
        message_id = h.submit_ok(ALWAYS_OFF, validity_period="000007000000000R")  # 7 days asked
        h.submit_ok(ALWAYS_OFF, validity_period="000007000000000R")
        h.submit_ok(ALWAYS_OFF, validity_period="000000003000000R")  # (30 minutes: not clamped)
    assert h.smsc.message(message_id).expiry_time == START + 3600.0
    (clamped,) = [e for e in logs if e["event"] == "validity_clamped"]  # (the first only)
    assert (clamped["count"], clamped["asked_seconds"], clamped["max_validity"]) == (1, 7 * 86400, 3600.0)


def test_a_validity_of_max_validity_and_a_fraction_of_a_second_is_no_clamp_worth_a_line() -> None:
    """Tester 136: max_validity asked exactly was now and then logged as clamped ("asked 259200 s, max 259200"):
    the relative time is read from the clock's datetime, in whole microseconds; the ESME's clock was not at fault."""
    h = world(max_validity=3600.0)
    h.clock.advance(0.0000006)  # (a clock between two microseconds: its datetime rounds up)
    with structlog.testing.capture_logs() as logs:
        message_id = h.submit_ok(ALWAYS_OFF, validity_period="000000010000000R")  # 1 hour: max_validity
    assert [e for e in logs if e["event"] == "validity_clamped"] == []
    msg = h.smsc.message(message_id)
    assert msg.expiry_time - msg.submit_time <= 3600.0


def test_default_validity_applies_when_none_is_given() -> None:
    h = world(default_validity=7200.0)
    message_id = h.submit_ok(ALWAYS_OFF)
    assert h.smsc.message(message_id).expiry_time == START + 7200.0
    h.advance(7200.0)
    assert h.state(message_id) == MessageState.EXPIRED


def test_schedule_in_the_past_means_now() -> None:
    h = world()
    message_id = h.submit_ok(OK, schedule_delivery_time="250101000000000+")
    assert h.smsc.message(message_id).schedule_time is None
    h.advance(3.0)
    assert h.state(message_id) == MessageState.DELIVERED


@pytest.mark.parametrize(("no_route", "status"), [("reject", S.ESME_RINVDSTADR), ("undeliverable", S.ESME_ROK)])
def test_no_route_answer_is_configurable(no_route: str, status: int) -> None:
    h = world(no_route=no_route)
    result = h.submit(US, registered_delivery=1)
    assert result.status == status
    if status == S.ESME_ROK:
        assert h.state(result.message_id) == MessageState.UNDELIVERABLE
        [(_, receipt)] = h.receipts()
        assert (receipt.stat, receipt.err) == ("UNDELIV", "001")


def test_empty_or_alphanumeric_destination_is_refused() -> None:
    h = world()
    assert h.submit("").status == S.ESME_RINVDSTADR
    assert h.submit("HELLO", dest_ton=5).status == S.ESME_RINVDSTADR


def test_national_destination_is_normalised_with_the_country_code() -> None:
    h = world()
    message_id = h.submit_ok("07700900100", dest_ton=2)
    msg = h.smsc.message(message_id)
    assert msg.destination_e164 == OK and msg.carrier == "uk"
    assert msg.destination.addr == "07700900100"  # kept as the ESME wrote it (receipt source)


def test_carrier_submit_rule_answers_with_its_status() -> None:
    h = world()
    assert h.submit(FAILS_AT_SUBMIT).status == S.ESME_RSUBMITFAIL
    assert h.smsc.waiting_count() == 0


def test_carrier_submit_rule_delay_holds_the_response() -> None:
    h = world()
    replies: list[SubmitResult] = []
    h.smsc.submit(h.submission(SLOW_ACCEPT), replies.append)
    assert replies == []
    h.advance(2.9)
    assert replies == []
    msg = h.smsc.messages()[0]
    assert msg.attempts == []  # delivery starts after the response went out
    h.advance(0.1)
    assert [r.status for r in replies] == [0]
    h.advance(3.0)
    assert h.state(replies[0].message_id) == MessageState.DELIVERED


def test_queue_full_gives_esme_rmsgqful_until_a_message_leaves() -> None:
    h = world(max_waiting=3)
    for _ in range(3):
        h.submit_ok(ALWAYS_OFF)
    assert h.submit(OK).status == S.ESME_RMSGQFUL
    h.advance(1.0)  # the first attempts found the handset absent: now waiting, cancellable
    first = h.smsc.messages(limit=3)[-1]
    assert h.cancel(first.message_id) == 0
    h.submit_ok(OK)


def test_status_0_is_replied_only_once_the_store_made_the_message_durable() -> None:
    pending: list = []
    store = MemoryStore(call_soon=lambda cb: pending.append(cb))
    h = Harness(make_config(carrier()), store=store)
    replies: list[SubmitResult] = []
    h.smsc.submit(h.submission(OK), replies.append)
    assert replies == []  # not durable yet
    assert h.smsc.messages()[0].attempts == []  # and not attempted either
    while pending:  # the "disk" answers
        pending.pop(0)()
    assert [r.status for r in replies] == [0]
    # errors are answered at once, without the store
    h.smsc.submit(h.submission(OK, priority_flag=9), replies.append)
    assert replies[-1].status == S.ESME_RINVPRTFLG


def test_message_ids_follow_the_configured_format_and_never_repeat() -> None:
    h = world(message_id=MessageIdFormat(format="decimal", length=10))
    ids = [h.submit_ok(OK) for _ in range(20)]
    assert len(set(ids)) == 20
    assert all(len(i) == 10 and i.isdigit() for i in ids)
    assert ids[0] == "0000000001"


def test_carrier_receipt_style_can_choose_its_own_message_id_format() -> None:
    style = ReceiptStyle(message_id_format=MessageIdFormat(format="hex", length=12, uppercase=True))
    h = Harness(make_config(carrier(receipt=style), carrier("us", ("1",))))
    uk_id = h.submit_ok(OK)
    us_id = h.submit_ok(US)
    assert uk_id == "000000000001"
    assert us_id == "00000002"  # the server default: hex, 8


# -- replace_if_present ----------------------------------------------------------------------------------------


def test_replace_if_present_replaces_the_waiting_message_with_the_same_source_destination_and_service_type():
    h = world()
    old = h.submit_ok(ALWAYS_OFF, "old", registered_delivery=1, service_type="CMT")
    other_service = h.submit_ok(ALWAYS_OFF, "keep", service_type="WAP")
    h.advance(1.0)  # out of their first attempt (a message in flight cannot be replaced)
    new = h.submit_ok(ALWAYS_OFF, "new", replace_if_present_flag=1, service_type="CMT")
    assert new != old
    assert h.state(old) == MessageState.DELETED
    assert h.state(other_service) == MessageState.ENROUTE
    assert h.smsc.waiting_count() == 2
    [(_, receipt)] = h.receipts()  # the old message's sender learns it will not be delivered
    assert (receipt.message_id, receipt.stat) == (old, "DELETED")
    assert h.smsc.stats.replaced == 1


def test_replace_if_present_without_a_match_stores_a_new_message() -> None:
    h = world()
    h.submit_ok(ALWAYS_OFF, "one", source="447700900002")
    h.submit_ok(ALWAYS_OFF, "two", replace_if_present_flag=1)
    assert h.smsc.waiting_count() == 2


def test_replace_if_present_compares_the_source_ton_and_npi_too() -> None:
    """SMPP 3.4 section 5.2.18: "the same source address"; as for query_sm and cancel_sm (sections 4.8.1,
    4.9.1), the address is its TON and NPI with its digits."""
    h = world()
    national = h.submit_ok(ALWAYS_OFF, "one", source="7700900002", source_ton=2)
    other_npi = h.submit_ok(ALWAYS_OFF, "two", source="7700900002", source_ton=1, source_npi=9)
    h.advance(1.0)  # out of their first attempt
    h.submit_ok(ALWAYS_OFF, "three", source="7700900002", source_ton=1, replace_if_present_flag=1)
    assert h.state(national) == MessageState.ENROUTE
    assert h.state(other_npi) == MessageState.ENROUTE
    assert h.smsc.waiting_count() == 3
    assert h.smsc.stats.replaced == 0
    same = h.submit_ok(ALWAYS_OFF, "four", source="7700900002", source_ton=2, replace_if_present_flag=1)
    assert h.state(national) == MessageState.DELETED
    assert h.state(same) == MessageState.ENROUTE
    assert h.smsc.stats.replaced == 1


def test_replace_if_present_does_not_touch_another_system_ids_messages() -> None:
    h = world()
    theirs = h.submit_ok(ALWAYS_OFF, system_id="other")
    h.advance(1.0)
    h.submit_ok(ALWAYS_OFF, replace_if_present_flag=1)
    assert h.state(theirs) == MessageState.ENROUTE


# -- query_sm ------------------------------------------------------------------------------------------------


def test_query_answers_enroute_then_the_final_state_with_its_date_and_error() -> None:
    h = world()
    message_id = h.submit_ok(ALWAYS_OFF, validity_period="000000010000000R")
    result = h.query(message_id)
    assert (result.status, result.message_state, result.final_date) == (0, MessageState.ENROUTE, "")
    h.advance(3600.0)
    result = h.query(message_id)
    assert (result.status, result.message_state, result.error_code) == (0, MessageState.EXPIRED, 6)
    assert result.final_date == "260101010000000+"
    assert result.message_id == message_id


@pytest.mark.parametrize(("start", "relative_status"), [
    # 2051-02-12: past 2037, the last year a two-digit SMPP year names (tester9 finding 1).
    (2_560_000_000.0, 0),
    # Year 33658: past 9999, the last year a datetime holds; relative times cannot be read from there.
    (1e12, S.ESME_RINVEXPIRY),
])
def test_a_clock_past_what_smpp_or_datetime_can_write_still_answers_and_sends_receipts(
    start: float, relative_status: int,
) -> None:
    h = Harness(world().config, clock=FakeClock(start))
    message_id = h.submit_ok(OK, registered_delivery=1)
    h.advance(2.0)
    [(_, receipt)] = h.receipts()
    assert (receipt.message_id, receipt.stat) == (message_id, "DELIVRD")
    last = datetime(2037, 12, 31, 23, 59, tzinfo=timezone.utc)
    assert (receipt.submit_date, receipt.done_date) == (last, last)
    result = h.query(message_id)
    assert (result.status, result.message_state, result.final_date) == (0, MessageState.DELIVERED,
                                                                        "371231235959900+")
    # Times the ESME gives are read against the clock without failing; an absolute one (2037 at the latest)
    # has ended before now.
    assert h.submit(OK, validity_period="000001000000000R").status == relative_status
    assert h.submit(OK, validity_period="371231235959900+").status == S.ESME_RINVEXPIRY


def test_query_of_an_unknown_or_foreign_message_fails() -> None:
    h = world()
    message_id = h.submit_ok(OK)
    assert h.query("ffff").status == S.ESME_RQUERYFAIL
    assert h.query(message_id, system_id="other").status == S.ESME_RQUERYFAIL
    assert h.query(message_id, source="447700900999").status == S.ESME_RQUERYFAIL
    assert h.query(message_id, source="").status == 0  # an ESME that did not keep the source


@pytest.mark.parametrize(("ton", "npi"), [(2, 1), (1, 0), (5, 0)])
def test_query_cancel_and_replace_need_the_source_ton_and_npi_of_the_original(ton: int, npi: int) -> None:
    """Found by a tester: a query_sm with source TON 2 found a message submitted with TON 1.  SMPP 3.4 sections
    4.8.1, 4.9.1, 4.10.1: source_addr_ton, source_addr_npi and source_addr must match the original's."""
    h = world()
    message_id = h.submit_ok(ALWAYS_OFF, "original")  # from TON 1, NPI 1, SENDER
    h.advance(1.0)
    wrong = {"source_ton": ton, "source_npi": npi}
    assert h.query(message_id, **wrong).status == S.ESME_RQUERYFAIL
    assert h.replace(message_id, "changed", **wrong) == S.ESME_RREPLACEFAIL
    assert h.cancel(message_id, **wrong) == S.ESME_RCANCELFAIL
    assert h.cancel(destination=ALWAYS_OFF, **wrong) == S.ESME_RCANCELFAIL
    msg = h.smsc.message(message_id)
    assert (msg.state, msg.short_message) == (MessageState.ENROUTE, b"original")
    # An empty source_addr (not known to the ESME) matches whatever its TON and NPI.
    assert h.query(message_id, source="", **wrong).status == 0
    assert h.query(message_id).status == 0
    assert h.replace(message_id, "changed") == 0
    assert h.cancel(destination=ALWAYS_OFF) == 0
    assert h.state(message_id) == MessageState.DELETED


# -- cancel_sm ---------------------------------------------------------------------------------------------


def test_cancel_a_waiting_message_by_id_gives_deleted_and_a_failure_receipt() -> None:
    h = world()
    message_id = h.submit_ok(ALWAYS_OFF, registered_delivery=2)
    h.advance(10.0)
    assert h.cancel(message_id) == 0
    assert h.state(message_id) == MessageState.DELETED
    [(delivery, receipt)] = h.receipts()
    assert receipt.stat == "DELETED"
    assert h.query(message_id).message_state == MessageState.DELETED
    assert h.smsc.machine.absent == {}  # the number's alert wait went with its last message


def test_cancel_fails_for_final_unknown_foreign_and_in_flight_messages() -> None:
    h = world()
    delivered = h.submit_ok(OK)
    h.advance(5.0)
    assert h.cancel(delivered) == S.ESME_RCANCELFAIL
    assert h.cancel("1234") == S.ESME_RCANCELFAIL
    waiting = h.submit_ok(ALWAYS_OFF)
    assert h.cancel(waiting, system_id="other") == S.ESME_RCANCELFAIL
    in_flight = h.submit_ok(OK)  # latency 2 s: being delivered now
    assert h.cancel(in_flight) == S.ESME_RCANCELFAIL


def test_cancel_without_id_cancels_every_pending_message_from_source_to_destination() -> None:
    h = world()
    a = h.submit_ok(ALWAYS_OFF, service_type="A")
    b = h.submit_ok(ALWAYS_OFF, service_type="B")
    other_source = h.submit_ok(ALWAYS_OFF, source="447700900002")
    h.advance(1.0)
    assert h.cancel(destination=ALWAYS_OFF, service_type="A") == 0
    assert (h.state(a), h.state(b)) == (MessageState.DELETED, MessageState.ENROUTE)
    assert h.cancel(destination=ALWAYS_OFF) == 0
    assert h.state(b) == MessageState.DELETED
    assert h.state(other_source) == MessageState.ENROUTE
    assert h.cancel(destination=ALWAYS_OFF) == S.ESME_RCANCELFAIL


def test_cancel_without_id_and_with_an_empty_source_cancels_only_messages_submitted_without_a_source() -> None:
    """Found by a tester: an empty source_addr matched every source, so the group cancel deleted other
    senders' messages to the number.  SMPP 3.4 section 4.9.1: the source must match the original's, NULL
    when the original's was NULL."""
    h = world()
    numeric = h.submit_ok(ALWAYS_OFF, source="447700900001")
    brand = h.submit_ok(ALWAYS_OFF, source="Brand", source_ton=5, source_npi=0)
    anonymous = h.submit_ok(ALWAYS_OFF, source="", source_ton=0, source_npi=0)
    h.advance(1.0)
    assert h.cancel(destination=ALWAYS_OFF, source="") == 0
    assert h.state(anonymous) == MessageState.DELETED
    assert (h.state(numeric), h.state(brand)) == (MessageState.ENROUTE, MessageState.ENROUTE)
    assert h.cancel(destination=ALWAYS_OFF, source="") == S.ESME_RCANCELFAIL
    assert h.cancel(destination=ALWAYS_OFF, source="Brand", source_ton=1) == S.ESME_RCANCELFAIL
    assert h.cancel(destination=ALWAYS_OFF, source="Brand", source_ton=5, source_npi=0) == 0
    assert h.state(brand) == MessageState.DELETED
    assert h.state(numeric) == MessageState.ENROUTE


def test_cancel_without_id_and_a_source_of_ton_0_npi_0_matches_the_address_alone() -> None:
    """Tester 166: TON 0 with NPI 0 is "not known" (SMPP 3.4 table 4-24); a cancel_sm naming a message_id
    compared the address alone, a group cancel_sm with the same source failed (ESME_RCANCELFAIL)."""
    h = world()
    brand = h.submit_ok(ALWAYS_OFF, source="MyBrand", source_ton=5, source_npi=0)
    other = h.submit_ok(ALWAYS_OFF, source="Other", source_ton=5, source_npi=0)
    h.advance(1.0)
    assert h.cancel(destination=ALWAYS_OFF, source="MyBrand", source_ton=0, source_npi=0) == 0
    assert (h.state(brand), h.state(other)) == (MessageState.DELETED, MessageState.ENROUTE)


def test_cancel_with_neither_message_id_nor_destination_is_refused_and_cancels_nothing() -> None:
    """Found by a tester: read as "any destination", it cancelled every pending message of the source.
    SMPP 3.4 section 4.9 and table 4-24: without a message_id the destination is required."""
    h = world()
    waiting = [h.submit_ok(ALWAYS_OFF), h.submit_ok(ALWAYS_OFF, service_type="A"),
               h.submit_ok(OK, schedule_delivery_time="000000010000000R")]
    h.advance(1.0)
    assert h.cancel() == S.ESME_RINVDSTADR
    assert h.cancel(service_type="A") == S.ESME_RINVDSTADR
    assert [h.state(m) for m in waiting] == [MessageState.ENROUTE] * 3
    assert h.cancel(waiting[0]) == 0  # with a message_id the destination may be empty
    assert h.state(waiting[0]) == MessageState.DELETED


def test_cancel_a_scheduled_message_before_its_time() -> None:
    h = world()
    message_id = h.submit_ok(OK, schedule_delivery_time="000000010000000R")
    assert h.cancel(message_id) == 0
    h.advance(7200.0)
    assert h.smsc.message(message_id).attempts[-1].outcome == "cancelled"
    assert len(h.smsc.message(message_id).attempts) == 1


# -- replace_sm --------------------------------------------------------------------------------------------


def test_replace_a_waiting_message_changes_its_text_and_keeps_its_id() -> None:
    h = world()
    message_id = h.submit_ok(OK, "original", schedule_delivery_time="000000010000000R")
    h.advance(60.0)
    assert h.replace(message_id, "replaced text", registered_delivery=1) == 0
    msg = h.smsc.message(message_id)
    assert msg.short_message == b"replaced text"
    assert msg.submit_time == START + 60.0
    h.advance(3600.0)
    [(_, receipt)] = h.receipts()
    assert (receipt.message_id, receipt.stat, receipt.text) == (message_id, "DELIVRD", "replaced text")
    assert receipt.submit_date is not None and receipt.submit_date.timestamp() == START + 60.0


def test_replace_can_move_the_schedule_and_the_validity() -> None:
    h = world()
    message_id = h.submit_ok(OK, schedule_delivery_time="000000010000000R")
    assert h.replace(message_id, schedule="000000000500000R", validity="000000020000000R") == 0
    msg = h.smsc.message(message_id)
    assert msg.schedule_time == START + 300.0
    assert msg.expiry_time == START + 7200.0
    h.advance(310.0)
    assert h.state(message_id) == MessageState.DELIVERED


def test_replace_of_a_message_waiting_for_its_handset_keeps_it_waiting() -> None:
    h = world()
    message_id = h.submit_ok(ALWAYS_OFF)
    h.advance(5.0)
    assert h.replace(message_id, "new text") == 0
    h.advance(5.0)
    assert h.attempts(message_id) == [(1.0, "absent")]
    assert h.smsc.message(message_id).short_message == b"new text"


def test_replace_fails_for_final_unknown_and_bad_times() -> None:
    h = world()
    delivered = h.submit_ok(OK)
    h.advance(5.0)
    assert h.replace(delivered) == S.ESME_RREPLACEFAIL
    assert h.replace("abc") == S.ESME_RREPLACEFAIL
    waiting = h.submit_ok(ALWAYS_OFF)
    assert h.replace(waiting) == S.ESME_RREPLACEFAIL  # in flight: its first attempt is running
    h.advance(1.0)
    assert h.replace(waiting, schedule="bad") == S.ESME_RINVSCHED
    assert h.replace(waiting, validity="371231235959000+") == 0  # far future: clamped
    assert h.replace(waiting, validity="bad") == S.ESME_RINVEXPIRY


def test_replace_with_only_a_validity_ending_before_the_kept_schedule_is_refused_as_submit_sm_is() -> None:
    """Found by a tester: the new validity was read against now, not the message's schedule, so the message
    expired before its first attempt; submit_sm with the same times gets ESME_RINVEXPIRY."""
    h = world()
    assert h.submit(OK, schedule_delivery_time="000000000500000R",
                    validity_period="000000000200000R").status == S.ESME_RINVEXPIRY
    message_id = h.submit_ok(OK, schedule_delivery_time="000000000500000R")  # first attempt at +5 min
    before = h.smsc.message(message_id).expiry_time
    assert h.replace(message_id, validity="000000000200000R") == S.ESME_RINVEXPIRY
    msg = h.smsc.message(message_id)
    assert (msg.schedule_time, msg.expiry_time, msg.short_message) == (START + 300.0, before, b"hello world")
    assert h.replace(message_id, validity="000000000600000R") == 0  # ends after the kept schedule: fine
    assert h.smsc.message(message_id).expiry_time == START + 360.0
    h.advance(305.0)
    assert h.state(message_id) == MessageState.DELIVERED


def test_replace_validity_is_clamped_from_the_kept_schedule() -> None:
    h = world(max_validity=3600.0)
    message_id = h.submit_ok(OK, schedule_delivery_time="000000010000000R")  # +1 h
    assert h.replace(message_id, validity="000007000000000R") == 0
    assert h.smsc.message(message_id).expiry_time == START + 3600.0 + 3600.0


def test_replace_with_only_a_schedule_after_the_kept_expiry_is_refused_and_keeps_the_validity() -> None:
    """Found by a tester: the ESME's 10-minute validity was silently replaced by the 48 h default.  An empty
    validity_period keeps the old value (SMPP 3.4 section 4.10.1); the new schedule is what is wrong."""
    h = world()
    message_id = h.submit_ok(ALWAYS_OFF, validity_period="000000001000000R")  # expires at +10 min
    h.advance(2.0)
    assert h.replace(message_id, schedule="000000003000000R") == S.ESME_RINVSCHED
    assert h.replace(message_id, schedule="000000001000000R") == S.ESME_RINVSCHED  # (at the expiry: too late)
    msg = h.smsc.message(message_id)
    assert (msg.schedule_time, msg.expiry_time, msg.short_message) == (None, START + 600.0, b"hello world")
    assert h.replace(message_id, schedule="000000000500000R") == 0  # before the kept expiry: fine
    msg = h.smsc.message(message_id)
    assert (msg.schedule_time, msg.expiry_time) == (START + 2.0 + 300.0, START + 600.0)
    # both times given: read together, as submit_sm's are
    assert h.replace(message_id, schedule="000000003000000R", validity="000000004000000R") == 0
    msg = h.smsc.message(message_id)
    assert (msg.schedule_time, msg.expiry_time) == (START + 2.0 + 1800.0, START + 2.0 + 2400.0)


def test_replace_of_a_udhi_message_with_text_that_holds_no_udh_is_refused_as_submit_sm_is() -> None:
    """Found by a tester: replace_sm stored user data whose UDH length ran past its end."""
    h = world()
    part = bytes.fromhex("050003090201") + b"part one"
    replies: list[SubmitResult] = []
    h.smsc.submit(dataclasses.replace(h.submission(ALWAYS_OFF), esm_class=0x40, short_message=part), replies.append)
    [result] = replies
    h.advance(2.0)
    broken = "\x14\x00\x03abc"  # UDHL 20, 5 octets follow
    assert h.replace(result.message_id, broken) == S.ESME_RINVMSGLEN
    assert h.smsc.message(result.message_id).short_message == part
    assert h.replace(result.message_id, "\x05\x00\x03\x09\x02\x01new part") == 0
    plain = h.submit_ok(ALWAYS_OFF)  # no UDHI: the same octets are just text
    h.advance(2.0)
    assert h.replace(plain, broken) == 0


# -- destination numbers -----------------------------------------------------------------------------------


NOT_MOBILE_NUMBERS = [
    ("4" * 20, 1),  # 20 digits (submit_sm's longest address): E.164 numbers have at most 15
    ("4" + "7" * 63, 1),  # 64 digits (data_sm's longest)
    ("4477009001234567", 1),  # 16 digits
    ("077009001234567", 2),  # national: 44 and 14 digits make 16
    ("07700900123", 1),  # international, yet a leading 0: no country code starts with 0
]


@pytest.mark.parametrize(("destination", "ton"), NOT_MOBILE_NUMBERS)
def test_a_destination_that_is_not_a_mobile_number_is_refused_in_every_mode(destination: str, ton: int) -> None:
    """Found by a tester: a 20-digit submit_sm destination and a 64-digit data_sm one were accepted and
    delivered, while the HTTP API refused the same number; an SMSC routing to a carrier for unknown numbers
    (no_route: undeliverable) must refuse them too, not accept and fail them later."""
    h = world(no_route="undeliverable")
    for _ in range(2):  # the verdict kept with the route answers the second submit alike
        assert h.submit(destination, dest_ton=ton).status == S.ESME_RINVDSTADR
    assert h.submit(destination, dest_ton=ton, validity_period="000001000000000R").status == S.ESME_RINVDSTADR
    assert h.submit(destination, dest_ton=ton, esm_class=0x01).status == S.ESME_RINVDSTADR  # datagram
    assert [r.status for r in h.submit_transaction(destination, dest_ton=ton)] == [S.ESME_RINVDSTADR]
    result = h.submit_multi([OK, destination])
    assert result.status == 0
    assert [(a.addr, status) for a, status in result.unsuccess] == [(destination, S.ESME_RINVDSTADR)]
    assert [m.destination_e164 for m in h.smsc.messages()] == [OK]


def test_mobile_numbers_of_up_to_15_digits_are_accepted_in_any_form() -> None:
    h = world()
    for destination, ton in [("447700900123456", 1), ("+447700900123456", 1), ("07700900123456", 2),
                             ("00447700900123", 0), ("4477009", 1)]:
        assert h.submit(destination, dest_ton=ton).status == 0, destination


# -- submit_multi ------------------------------------------------------------------------------------------


def test_submit_multi_routes_each_destination_and_lists_those_refused_at_once() -> None:
    h = world()
    result = h.submit_multi([OK, US, FAILS_AT_SUBMIT, ALWAYS_OFF], dl_names=["friends"], registered_delivery=1)
    assert result.status == 0 and result.message_id
    assert [(a.addr, status) for a, status in result.unsuccess] == [
        (US, S.ESME_RINVDSTADR), (FAILS_AT_SUBMIT, S.ESME_RSUBMITFAIL), ("friends", S.ESME_RINVDLNAME),
    ]
    members = h.smsc.messages()
    assert sorted(m.message_id for m in members) == [f"{result.message_id}-1", f"{result.message_id}-4"]
    # sub: counts the short messages submitted (Appendix B), not those "unsuccessfully submitted" (4.5.2)
    assert all(m.multi_id == result.message_id and m.submitted_count == 2 for m in members)
    h.advance(5.0)
    [(delivery, receipt)] = h.receipts()  # the reachable one; receipts carry the submit_multi id
    assert (receipt.message_id, receipt.submitted, receipt.delivered) == (result.message_id, 2, 1)
    assert h.cancel(result.message_id) == 0  # the other ends DELETED: still one of two delivered
    [(_, receipt)] = h.receipts()
    assert (receipt.stat, receipt.submitted, receipt.delivered) == ("DELETED", 2, 1)
    assert delivery.tlvs[Tag.receipted_message_id] == result.message_id
    query = h.query(result.message_id)
    assert query.message_state == MessageState.DELETED and query.final_date


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_submit_multi_receipts_count_the_messages_accepted_as_sub(store: str, tmp_path: Path) -> None:
    """Found by a tester: 4 SME addresses (one refused at submit) and a distribution list name gave receipts
    saying sub:004, neither the 5 destinations sent nor the 3 accepted.  Appendix B: sub is the number of
    short messages originally submitted; section 4.5.2 calls the refused ones "unsuccessfully submitted to
    the SMSC", so sub is 3, also in the stored record a restart reads back."""
    path = tmp_path / "s.sqlite"
    rules = (rule(FAILS_AT_SUBMIT, submit=SubmitRule(status=S.ESME_RSUBMITFAIL, delay=0.0)),)
    h = Harness(make_config(carrier(rules=rules)),
                store=MemoryStore() if store == "memory" else SqliteStore(path))
    result = h.submit_multi([OK, "447700900101", FAILS_AT_SUBMIT, "447700900102"], dl_names=["friends"],
                            registered_delivery=1)
    assert len(result.unsuccess) == 2
    h.advance(5.0)
    receipts = h.receipts()
    # dlvrd: the destinations delivered so far (tester 60: each said 001, its own, and a failed one 000).
    assert [(r.message_id, r.submitted, r.delivered) for _, r in receipts] == [
        (result.message_id, 3, 1), (result.message_id, 3, 2), (result.message_id, 3, 3)]
    assert [b" sub:003 dlvrd:00%d " % n in d.short_message for n, (d, _) in enumerate(receipts, 1)] == [True] * 3
    if store == "sqlite":
        h.smsc.stop()
        h.store.close()
        stored = stored_state(path).messages
        assert sorted((m.message_id, m.submitted_count) for m in stored) == [
            (f"{result.message_id}-{i}", 3) for i in (1, 2, 4)]


def test_submit_multi_with_every_destination_accepted_counts_them_all_as_sub() -> None:
    h = world()
    result = h.submit_multi([OK, "447700900101"], registered_delivery=1)
    assert result.unsuccess == []
    h.advance(5.0)
    assert [(r.message_id, r.submitted) for _, r in h.receipts()] == [(result.message_id, 2)] * 2


def test_replace_sm_of_a_submit_multi_id_replaces_every_destination_still_pending() -> None:
    """As docs/protocol.md says (tester 178 found it unwritten): the whole id replaces the text of each pending
    destination, a delivered one keeps its own; ``<id>-N`` replaces one, and fails for a delivered one."""
    h = world()
    result = h.submit_multi([OK, ALWAYS_OFF], registered_delivery=1)
    h.advance(5.0)  # (OK delivered, ALWAYS_OFF waits for its handset)
    assert h.replace(result.message_id, "new text") == 0
    texts = [h.smsc.message(f"{result.message_id}-{n}").short_message for n in (1, 2)]
    assert texts == [b"hello all", b"new text"]
    assert h.replace(f"{result.message_id}-2", "second only") == 0
    assert h.smsc.message(f"{result.message_id}-2").short_message == b"second only"
    assert h.replace(f"{result.message_id}-1", "too late") == S.ESME_RREPLACEFAIL


def test_submit_multi_with_every_destination_refused_fails_and_still_lists_them() -> None:
    # Nothing was submitted: an error status (a tester found status 0 with a message_id that query_sm,
    # cancel_sm and the API did not know, and an ESME that reads no further waiting for receipts), no id, and
    # every destination still listed with its reason.
    h = world()
    result = h.submit_multi([US, FAILS_AT_SUBMIT])
    assert result.status == S.ESME_RSUBMITFAIL  # (their statuses differ)
    assert result.message_id == ""
    assert [s for _, s in result.unsuccess] == [S.ESME_RINVDSTADR, S.ESME_RSUBMITFAIL]
    assert h.smsc.waiting_count() == 0
    same = h.submit_multi([US, US])
    assert same.status == S.ESME_RINVDSTADR and same.message_id == ""  # (the one status they share)
    assert h.submit_multi([US, OK]).status == 0  # one accepted: status 0, the other listed


def test_submit_multi_lists_the_destinations_the_adapter_refused_in_their_place() -> None:
    """SMPP 3.4 section 4.5.2: a destination with a bad TON/NPI or length goes into unsuccess_sme with its
    status (the adapter's check_sme_address), the others are accepted, each keeping its place in the ids."""
    h = world()
    replies: list[Any] = []
    destinations = [Address(ton=1, npi=1, addr=OK), Address(ton=9, npi=1, addr="447700900101"),
                    Address(ton=1, npi=1, addr=US), Address(ton=1, npi=1, addr="447700900102")]
    h.smsc.submit_multi(h.submission("", "hello all"), destinations, [], replies.append,
                        refused={1: S.ESME_RINVDSTTON})
    [result] = replies
    assert result.status == 0
    assert [(a.ton, a.addr, status) for a, status in result.unsuccess] == [
        (9, "447700900101", S.ESME_RINVDSTTON), (1, US, S.ESME_RINVDSTADR)]
    assert sorted(m.message_id for m in h.smsc.messages()) == [f"{result.message_id}-1", f"{result.message_id}-4"]
    assert h.smsc.stats.submit_errors == 2


def test_submit_multi_common_field_errors_refuse_the_whole_request() -> None:
    h = world()
    assert h.submit_multi([OK], priority_flag=7).status == S.ESME_RINVPRTFLG
    assert h.submit_multi([]).status == S.ESME_RINVNUMDESTS


# -- inspection ---------------------------------------------------------------------------------------------


def test_messages_lists_newest_first_with_filters() -> None:
    h = world()
    a = h.submit_ok(OK)
    b = h.submit_ok(ALWAYS_OFF, system_id="other")
    c = h.submit_ok(ALWAYS_OFF)
    h.advance(5.0)
    assert [m.message_id for m in h.smsc.messages()] == [c, b, a]
    assert [m.message_id for m in h.smsc.messages(system_id=ESME)] == [c, a]
    assert [m.message_id for m in h.smsc.messages(state=MessageState.DELIVERED)] == [a]
    assert [m.message_id for m in h.smsc.messages(limit=1)] == [c]
    assert h.smsc.message(a).source.addr == SENDER
    assert h.smsc.message("nope") is None


def test_a_replaced_message_is_listed_as_submitted_when_it_was_replaced() -> None:
    """replace_sm gives the message a new submit time (its receipt's submit date): the listing, newest first by
    submit time, puts it before the messages submitted between."""
    h = world()
    a = h.submit_ok(ALWAYS_OFF)
    h.advance(1.0)
    b = h.submit_ok(ALWAYS_OFF)
    h.advance(1.0)
    assert h.replace(a) == S.ESME_ROK
    assert [m.message_id for m in h.smsc.messages()] == [a, b]
    assert [m.message_id for m in h.smsc.messages(limit=1)] == [a]


def test_data_sm_style_message_payload_is_kept_once_and_shows_in_the_receipt() -> None:
    h = world()
    text = b"payload text"
    result: list[SubmitResult] = []
    sub = h.submission(OK, "", registered_delivery=1, tlvs={Tag.message_payload: text, Tag.user_message_reference: 3})
    sub.short_message = text  # the adapter puts message_payload's value here (core/api.py)
    h.smsc.submit(sub, result.append)
    msg = h.smsc.message(result[0].message_id)
    assert Tag.message_payload not in msg.tlvs and msg.tlvs[Tag.user_message_reference] == 3
    h.advance(5.0)
    [(_, receipt)] = h.receipts()
    assert receipt.text == "payload text"


def test_the_configured_year_pivot_reads_and_writes_every_smpp_date() -> None:
    """``server.year_pivot`` 70 (SMPP 3.4 Appendix C: the rollover is the implementation's to configure): in
    2051, a validity_period "51..." is this year, and the receipt's dates and query_sm's final_date are written
    as they are, not as the last instant of 1938-2037."""
    base = make_config()
    config = dataclasses.replace(base, server=dataclasses.replace(base.server, year_pivot=70))
    start = datetime(2051, 3, 4, 5, 6, tzinfo=timezone.utc).timestamp()
    h = Harness(config, clock=FakeClock(start))
    message_id = h.submit_ok("447700900100", registered_delivery=1, validity_period="510305050600000+")
    assert h.smsc.message(message_id).expiry_time == start + 86_400.0
    h.advance(5.0)
    [(delivery, receipt)] = h.receipts()
    assert b"submit date:5103040506 done date:5103040506 " in delivery.short_message
    assert receipt.stat == "DELIVRD"
    assert h.query(message_id).final_date == "510304050602000+"
    # The default pivot reads "51" as 1951: a validity that ended long ago.
    old = Harness(make_config(), clock=FakeClock(start))
    assert old.submit("447700900100", validity_period="510305050600000+").status == S.ESME_RINVEXPIRY
    old.submit_ok("447700900100", registered_delivery=1)
    old.advance(5.0)
    [(delivery, _)] = old.receipts()
    assert b"submit date:3712312359 done date:3712312359 " in delivery.short_message


def test_a_year_pivot_that_cannot_name_the_simulated_date_is_warned_about_at_start() -> None:
    """Found by a tester: ``server.year_pivot`` 26 in 2026 (a typo, say) refuses every absolute validity_period
    and clamps every receipt date, silently.  The start says so once; a pivot that names the year does not."""
    start = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc).timestamp()
    base = make_config()
    with structlog.testing.capture_logs() as logs:
        Harness(dataclasses.replace(base, server=dataclasses.replace(base.server, year_pivot=26)),
                clock=FakeClock(start))
    [warning] = [e for e in logs if e["event"] == "year_pivot_excludes_now"]
    assert warning["log_level"] == "warning"
    assert (warning["year_pivot"], warning["writable_until"]) == (26, "2025-12-31T23:59:59.900000+00:00")
    assert warning["simulated_now"].startswith("2026-11-29T12:00")
    with structlog.testing.capture_logs() as logs:
        Harness(dataclasses.replace(base, server=dataclasses.replace(base.server, year_pivot=27)),
                clock=FakeClock(start))
        Harness(base, clock=FakeClock(start))
    assert not [e for e in logs if e["event"] == "year_pivot_excludes_now"]


def _restarted(h: Harness, config: Any, path: Path) -> tuple[Harness, list[dict[str, Any]]]:
    """``h`` runs 5 s more and stops; a new SMSC on ``config`` starts on its SQLite file: it, and its start's log."""
    h.advance(5.0)
    h.smsc.stop()
    h.store.close()
    with structlog.testing.capture_logs() as logs:
        again = Harness(config, store=SqliteStore(path))
    return again, logs


def test_an_account_that_may_only_transmit_is_warned_about_at_start_with_the_receipts_it_is_owed(
        tmp_path: Path) -> None:
    """Tester 85: 20,100 receipts piled up for an account with bind_types [transmitter] (none of its binds can
    take them) without a word.  The start names each such account, and how many it is owed after a restart."""
    from smsc.config import Account

    base = make_config()
    config = dataclasses.replace(base, accounts=(
        Account(system_id="tx", password="x", bind_types=frozenset({"transmitter"})),
        Account(system_id="trx", password="y"),
    ))
    path = tmp_path / "s.sqlite"
    with structlog.testing.capture_logs() as logs:
        h = Harness(config, store=SqliteStore(path))
    [warning] = [e for e in logs if e["event"] == "receipts_unreceivable"]
    assert (warning["log_level"], warning["system_id"], warning["owed"]) == ("warning", "tx", 0)
    h.submit_ok("447700900100", system_id="tx", registered_delivery=1)
    again, logs = _restarted(h, config, path)
    [warning] = [e for e in logs if e["event"] == "receipts_unreceivable"]
    assert (warning["system_id"], warning["owed"]) == ("tx", 1)
    again.store.close()


def test_deliveries_owed_to_an_account_removed_before_a_restart_are_warned_about_at_start(tmp_path: Path) -> None:
    """Tester 98: receipts queued for an account that was then removed from the config waited in the outbox (and
    on the dashboard) for good after the restart, without a word.  They are kept (the account may come back) and
    named at start."""
    from smsc.config import Account

    base = make_config()
    with_acme = dataclasses.replace(base, accounts=(*base.accounts, Account(system_id="acme", password="x")))
    path = tmp_path / "s.sqlite"
    h = Harness(with_acme, store=SqliteStore(path))
    for number in ("447700900100", "447700900101"):
        h.submit_ok(number, system_id="acme", registered_delivery=1)
    again, logs = _restarted(h, base, path)
    [warning] = [e for e in logs if e["event"] == "deliveries_unreceivable"]
    assert (warning["log_level"], warning["system_id"], warning["owed"]) == ("warning", "acme", 2)
    assert again.smsc.deliveries_count("acme") == 2  # (kept)
    again.smsc.stop()
    again.store.close()
    with structlog.testing.capture_logs() as logs:
        back = Harness(with_acme, store=SqliteStore(path))
    assert not [e for e in logs if e["event"] == "deliveries_unreceivable"]
    back.store.close()
