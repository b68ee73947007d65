"""The ACCEPTED final state (SMPP 3.4 section 5.2.28: "manually read on behalf of the subscriber by customer
service"), reached through the cause ``read_by_customer_service``: the one final state of section 5.2.28 that no
outcome could give before, so an ESME's handling of a stat:ACCEPTD receipt could not be tested."""

from __future__ import annotations

from smsc.config import parse_config
from smsc.core.api import TransactionResult
from smsc.smpp.constants import CommandStatus, Tag
from tests.unit.test_smsc_support import (
    Harness,
    MessageState,
    carrier,
    make_config,
    outcome_for,
    rule,
    stats_after_mix,
)

READ = "447700900922"
CONFIG = make_config(carrier(rules=(rule(READ, cause="read_by_customer_service"),)))


def test_the_message_is_final_as_accepted_with_an_acceptd_receipt() -> None:
    h = Harness(CONFIG)
    message_id = h.submit_ok(READ, "your code is 1234", registered_delivery=1)
    h.advance(5.0)
    [(delivery, receipt)] = h.receipts()
    assert (receipt.message_id, receipt.stat, receipt.err, receipt.delivered) == (message_id, "ACCEPTD", "000", 0)
    assert delivery.tlvs[Tag.message_state] == MessageState.ACCEPTED
    assert Tag.network_error_code not in delivery.tlvs
    assert h.state(message_id) == MessageState.ACCEPTED
    assert h.attempts(message_id) == [(1.0, "accepted")]  # failure_latency 1 s: not retried
    q = h.query(message_id)
    assert (q.message_state, q.error_code) == (MessageState.ACCEPTED, 0) and q.final_date
    stats = h.smsc.stats
    assert (stats.accepted, stats.delivered, stats.undeliverable, stats.rejected, stats.waiting) == (1, 0, 0, 0, 0)
    counters = h.world.carriers["uk"].counters()
    assert (counters["accepted"], counters["attempts"]) == (1, 1)


def test_a_failure_only_receipt_is_sent_and_a_success_only_one_is_not() -> None:
    """registered_delivery 2 asks for a receipt on "delivery failure" (section 5.2.17): the message never reached
    the handset, so it gets one; 3 (SMPP 5.0, success only) does not."""
    h = Harness(CONFIG)
    failure_only = h.submit_ok(READ, registered_delivery=2)
    success_only = h.submit_ok(READ, registered_delivery=3)
    h.advance(5.0)
    assert [r.message_id for _, r in h.receipts()] == [failure_only]
    assert h.state(success_only) == MessageState.ACCEPTED


def test_transaction_mode_answers_a_permanent_failure_naming_the_cause() -> None:
    h = Harness(CONFIG)
    replies: list[TransactionResult] = h.submit_transaction(READ)
    h.advance(1.0)
    (result,) = replies
    assert result.status == CommandStatus.ESME_RDELIVERYFAILURE
    assert result.delivery_failure_reason == 2 and result.text == "read by customer service"
    assert h.state(result.message_id) == MessageState.ACCEPTED


def test_a_mix_can_hold_the_cause_and_the_config_reads_it() -> None:
    stats = stats_after_mix((outcome_for("delivered", 0.5), outcome_for("read_by_customer_service", 0.5)), 200)
    assert stats.delivered + stats.accepted == 200 and 60 < stats.accepted < 140
    config = parse_config("""
accounts: [{system_id: a, password: a}]
topology:
  carriers:
    - name: c
      prefixes: ["44"]
      outcomes: [{cause: delivered, weight: 9}, {cause: read_by_customer_service, weight: 1}]
      rules: [{numbers: ["447700900001"], outcome: {kind: accepted, err: 5}}]
""")
    [c] = config.topology.carriers
    assert [o.kind for o in c.outcomes] == ["delivered", "accepted"]
    assert c.rules[0].outcome is not None and (c.rules[0].outcome.kind, c.rules[0].outcome.err) == ("accepted", 5)
