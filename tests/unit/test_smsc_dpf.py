"""Delivery Pending Flags in the core (set_dpf / dpf_result / alert_notification, SMPP 3.4 sections 4.12,
5.3.2.28 to 5.3.2.30): a message asking set_dpf=1 that finds its handset absent sets a flag for (system_id,
number); when the handset is back, the ESME is owed one alert, kept in the outbox until a receiver takes it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.unit.test_smsc_support import (
    INF,
    SENDER,
    START,
    Harness,
    MessageState,
    carrier,
    make_config,
    rule,
)

from smsc.core.api import Address, Delivery
from smsc.core.clock import FakeClock
from smsc.core.store.sqlite import SqliteStore
from smsc.smpp.constants import CommandStatus, Tag

OK = "447700900100"
NEVER_ON = "447700900400"
OFF_2_MIN = "447700900300"
BUSY = "447700900600"
DATAGRAM = 0x01
SET_DPF = {Tag.set_dpf: 1}

CONFIG = make_config(carrier(rules=(
    rule(NEVER_ON, offline=INF), rule(OFF_2_MIN, offline=120.0), rule(BUSY, cause="busy"),
)), retry=(60.0,))


def _alerts(h: Harness, system_id: str = "esme") -> list[Delivery]:
    """The alerts owed to ``system_id`` (taken and reported sent, as the adapter does); other deliveries are
    acknowledged."""
    taken = h.smsc.take_deliveries(system_id, 10_000)
    for d in taken:
        if d.kind == "alert":
            h.smsc.delivery_sent(d.delivery_id)
        else:
            h.smsc.delivery_acked(d.delivery_id, 0)
    return [d for d in taken if d.kind == "alert"]


def test_dpf_result_and_one_alert_for_a_transaction_to_an_absent_handset() -> None:
    h = Harness(CONFIG)
    replies = h.submit_transaction(OFF_2_MIN, tlvs=SET_DPF)
    h.advance(1.0)  # paged at 0 (off for 120 s from then), outcome after the failure latency
    (result,) = replies
    assert result.status == CommandStatus.ESME_RDELIVERYFAILURE and result.delivery_failure_reason == 0
    assert result.dpf_result == 1
    assert h.smsc.dpf.is_set("esme", OFF_2_MIN) and h.smsc.stats.dpf_set == 1
    h.advance(118.0)
    assert _alerts(h) == []  # still off
    h.advance(1.0)  # back at 120 s
    (alert,) = _alerts(h)
    assert alert.source == Address(ton=1, npi=1, addr=OFF_2_MIN)  # the handset, as the ESME wrote it
    assert alert.destination == Address(ton=1, npi=1, addr=SENDER)  # the ESME's own address
    assert alert.tlvs == {Tag.ms_availability_status: 0}  # available
    assert not h.smsc.dpf.is_set("esme", OFF_2_MIN)
    h.advance(3600.0)
    assert _alerts(h) == []  # once
    stats = h.smsc.stats
    assert (stats.alerts_queued, stats.alerts_sent) == (1, 1) and len(h.smsc.outbox) == 0


def test_no_flag_without_set_dpf_or_with_set_dpf_0() -> None:
    """set_dpf's value 1 is marked "(default)", but an absent TLV asks for nothing (see smsc.core.dpf)."""
    h = Harness(CONFIG)
    without = h.submit_transaction(OFF_2_MIN)
    zero = h.submit_transaction(OFF_2_MIN, tlvs={Tag.set_dpf: 0})
    h.advance(1.0)
    assert without[0].status == zero[0].status == CommandStatus.ESME_RDELIVERYFAILURE
    assert without[0].dpf_result is None  # no TLV: the ESME assumes the flag was not set
    assert zero[0].dpf_result == 0
    h.advance(3600.0)
    assert _alerts(h) == [] and h.smsc.stats.dpf_set == 0


def test_a_reserved_set_dpf_value_asks_for_the_flag_as_its_default_1_does() -> None:
    """SMPP 3.4 section 3.3: a reserved value takes the default (set_dpf's is 1); tester 141 saw 2 act as 0."""
    h = Harness(CONFIG)
    reserved = h.submit_transaction(OFF_2_MIN, tlvs={Tag.set_dpf: 2})
    h.advance(1.0)
    assert reserved[0].dpf_result == 1 and h.smsc.stats.dpf_set == 1


def test_a_failure_other_than_an_absent_handset_sets_no_flag() -> None:
    h = Harness(CONFIG)
    busy = h.submit_transaction(BUSY, tlvs=SET_DPF)
    h.advance(1.0)
    assert busy[0].delivery_failure_reason == 3 and busy[0].dpf_result == 0
    assert h.smsc.dpf.flags() == []
    delivered = h.submit_transaction(OK, tlvs=SET_DPF)
    h.advance(2.0)
    assert delivered[0].status == 0 and delivered[0].dpf_result is None


def test_a_handset_that_never_comes_back_by_itself_is_alerted_when_the_control_api_switches_it_on() -> None:
    h = Harness(CONFIG)
    replies = h.submit_transaction(NEVER_ON, tlvs=SET_DPF)
    h.advance(1.0)
    assert replies[0].dpf_result == 1
    h.advance(86_400.0)
    assert _alerts(h) == []
    h.smsc.set_handset_online(NEVER_ON, True)
    h.advance(0.0)
    (alert,) = _alerts(h)
    assert alert.source.addr == NEVER_ON


def test_a_handset_switched_off_again_before_its_time_is_alerted_when_it_really_is_back() -> None:
    h = Harness(CONFIG)
    h.submit_transaction(OFF_2_MIN, tlvs=SET_DPF)
    h.advance(1.0)
    h.smsc.set_handset_online(OFF_2_MIN, False)  # forced off: not back at 120 s
    h.advance(600.0)
    assert _alerts(h) == [] and h.smsc.dpf.is_set("esme", OFF_2_MIN)
    h.smsc.set_handset_online(OFF_2_MIN, True)
    assert len(_alerts(h)) == 1


def test_one_flag_per_esme_and_number_and_one_alert_for_each_esme() -> None:
    h = Harness(CONFIG)
    h.submit_transaction(NEVER_ON, tlvs=SET_DPF)
    h.submit_transaction(NEVER_ON, tlvs=SET_DPF, source="447700900002")  # the same ESME again: its newest address
    h.submit_transaction(NEVER_ON, tlvs=SET_DPF, system_id="other")
    h.advance(1.0)
    assert sorted(h.smsc.dpf.flags()) == [(NEVER_ON, "esme"), (NEVER_ON, "other")]
    assert h.smsc.stats.dpf_set == 2
    h.smsc.set_handset_online(NEVER_ON, True)
    (mine,) = _alerts(h)
    (theirs,) = _alerts(h, "other")
    assert mine.destination.addr == "447700900002" and theirs.destination.addr == SENDER


def test_a_store_and_forward_message_with_set_dpf_sets_the_flag_and_is_still_delivered() -> None:
    """Also a submit_sm (SMPP 5.0 allows set_dpf there), and one that joins the wait without an attempt."""
    h = Harness(CONFIG)
    first = h.submit_ok(OFF_2_MIN, registered_delivery=1, tlvs=SET_DPF)
    h.advance(1.0)
    assert h.smsc.dpf.flags() == [(OFF_2_MIN, "esme")]
    joined = h.submit_ok(OFF_2_MIN, registered_delivery=1, tlvs=SET_DPF, system_id="other")  # known absent
    assert h.smsc.dpf.is_set("other", OFF_2_MIN)
    h.advance(125.0)
    assert h.state(first) == h.state(joined) == MessageState.DELIVERED
    taken = h.take()
    assert sorted(d.kind for d in taken) == ["alert", "receipt"]
    assert [d.kind for d in h.take("other")] == ["alert", "receipt"]


def test_a_datagram_with_set_dpf_to_an_absent_handset_sets_the_flag() -> None:
    h = Harness(CONFIG)
    message_id = h.submit_ok(OFF_2_MIN, esm_class=DATAGRAM, tlvs=SET_DPF)
    h.advance(1.0)
    assert h.state(message_id) == MessageState.UNDELIVERABLE and h.smsc.dpf.is_set("esme", OFF_2_MIN)
    h.advance(120.0)
    assert len(_alerts(h)) == 1


def test_an_alert_waits_in_the_outbox_until_taken_and_survives_a_restart(tmp_path: Path) -> None:
    """No receiver bound when the handset came back: the alert is kept (durably) for the next one."""
    path = tmp_path / "smsc.sqlite"
    first = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START))
    first.gateway.receivers = set()
    first.submit_transaction(OFF_2_MIN, tlvs=SET_DPF)
    first.advance(119.0)
    assert not first.smsc.may_owe_alerts  # (until then the adapter does not look for alerts)
    first.advance(6.0)
    assert first.smsc.may_owe_alerts
    assert [d.kind for d in first.smsc.deliveries("esme")] == ["alert"]
    assert "esme" in first.gateway.wakes
    first.smsc.stop()
    first.store.close()

    second = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START + 600.0))
    assert second.smsc.may_owe_alerts  # read back from the store
    (alert,) = _alerts(second)
    assert alert.source.addr == OFF_2_MIN and alert.tlvs == {Tag.ms_availability_status: 0}
    assert second.smsc.deliveries("esme") == []
    second.smsc.stop()
    second.store.close()
    third = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START + 700.0))
    assert third.smsc.deliveries("esme") == []  # sent is done: not offered again
    assert not third.smsc.may_owe_alerts


SLOW_FAILURES = make_config(carrier(rules=(rule(NEVER_ON, offline=INF),), failure_latency=5.0), retry=(60.0,))


def test_a_message_whose_handset_is_switched_on_during_its_attempt_is_delivered_without_a_flag() -> None:
    """The attempt paged the handset while it was off, the control API switched it on before the "absent"
    outcome came back: the message is retried a moment later and delivered, one receipt, no flag left set and
    no alert (the handset was not absent when the outcome came)."""
    h = Harness(SLOW_FAILURES)
    message_id = h.submit_ok(NEVER_ON, registered_delivery=1, tlvs=SET_DPF)
    h.advance(2.0)
    h.smsc.set_handset_online(NEVER_ON, True)
    h.advance(3.0)  # the outcome: absent
    assert h.smsc.dpf.flags() == []
    h.advance(10.0)
    assert h.state(message_id) == MessageState.DELIVERED
    taken = h.take()
    assert [d.kind for d in taken] == ["receipt"]
    h.advance(3600.0)
    assert h.take() == [] and h.smsc.dpf.flags() == [] and h.smsc.stats.dpf_set == 0


def test_a_transaction_whose_handset_is_switched_on_during_its_attempt_is_alerted_a_moment_later() -> None:
    """Transaction mode makes one attempt: it fails, dpf_result says the flag is set, and the alert follows a
    moment later (the handset is online), not at the next switch of the control API."""
    h = Harness(SLOW_FAILURES)
    replies = h.submit_transaction(NEVER_ON, tlvs=SET_DPF)
    h.advance(2.0)
    h.smsc.set_handset_online(NEVER_ON, True)
    h.advance(3.0)
    (result,) = replies
    assert result.status == CommandStatus.ESME_RDELIVERYFAILURE and result.dpf_result == 1
    h.advance(1.0)
    (alert,) = _alerts(h)
    assert alert.source.addr == NEVER_ON and h.smsc.dpf.flags() == []
    h.advance(3600.0)
    assert _alerts(h) == []


def _restart(h: Harness, path: Path, at: float) -> Harness:
    h.smsc.stop()
    h.store.close()
    return Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START + at))


def test_a_flag_survives_a_restart_and_the_esme_is_alerted_when_the_handset_is_switched_on(tmp_path: Path) -> None:
    """The message that set the flag is final (a transaction): only the flag's own row remembers it."""
    path = tmp_path / "smsc.sqlite"
    h = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START))
    replies = h.submit_transaction(NEVER_ON, tlvs=SET_DPF, source="447700900002")
    h.advance(1.0)
    assert replies[0].dpf_result == 1 and h.smsc.dpf.flags() == [(NEVER_ON, "esme")]
    h = _restart(h, path, 600.0)
    assert h.smsc.dpf.flags() == [(NEVER_ON, "esme")]
    h.advance(3600.0)
    assert _alerts(h) == []  # still off (the look at start found it so)
    h.smsc.set_handset_online(NEVER_ON, True)
    (alert,) = _alerts(h)
    assert alert.source == Address(ton=1, npi=1, addr=NEVER_ON)
    assert alert.destination == Address(ton=1, npi=1, addr="447700900002")  # the addresses the flag kept
    assert alert.tlvs == {Tag.ms_availability_status: 0}
    h = _restart(h, path, 7200.0)
    assert h.smsc.dpf.flags() == []  # cleared for good: its alert was owed (and is sent)
    h.smsc.set_handset_online(NEVER_ON, True)
    assert _alerts(h) == []
    h.smsc.stop()
    h.store.close()


def test_a_flag_kept_over_a_restart_alerts_a_moment_after_start_when_the_handset_is_online(tmp_path: Path) -> None:
    """At start every flagged number's handset is looked at, as a waiting message's is: a rule's offline spell
    lives in the process (it started at the attempt), so after the restart the handset is online, and the
    alert comes a moment later; a handset still off is not alerted."""
    path = tmp_path / "smsc.sqlite"
    h = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START))
    h.submit_transaction(OFF_2_MIN, tlvs=SET_DPF)
    h.submit_transaction(NEVER_ON, tlvs=SET_DPF)
    h.advance(1.0)
    h = _restart(h, path, 60.0)
    assert sorted(h.smsc.dpf.flags()) == [(OFF_2_MIN, "esme"), (NEVER_ON, "esme")]
    assert _alerts(h) == []
    h.advance(1.0)
    (alert,) = _alerts(h)
    assert alert.source.addr == OFF_2_MIN and h.smsc.dpf.flags() == [(NEVER_ON, "esme")]
    h.advance(3600.0)
    assert _alerts(h) == []
    h.smsc.stop()
    h.store.close()


def test_a_store_file_without_the_flags_table_gets_it_when_opened(tmp_path: Path) -> None:
    """A file written by the smsc before flags were kept (schema v3 without ``dpf_flags``) opens as it is, its
    messages intact, and keeps flags from then on."""
    path = tmp_path / "smsc.sqlite"
    h = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START))
    message_id = h.submit_ok(OK, registered_delivery=1)
    h.advance(5.0)
    h.smsc.stop()
    h.store.close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE dpf_flags")  # as the previous version wrote it
    conn.commit()
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    conn.close()
    h = Harness(CONFIG, store=SqliteStore(path), clock=FakeClock(START + 60.0))
    assert h.state(message_id) == MessageState.DELIVERED and h.smsc.dpf.flags() == []
    h.submit_transaction(NEVER_ON, tlvs=SET_DPF)
    h.advance(1.0)
    h = _restart(h, path, 120.0)
    assert h.smsc.dpf.flags() == [(NEVER_ON, "esme")]
    h.smsc.stop()
    h.store.close()
