"""A carrier's submit_sm_resp latency (``submit_latency``, real seconds drawn per submit): tester 129 found every
response within a millisecond, where a real carrier's take tens to hundreds, and a gateway's window handling
could not be tested against that (fake clock, seeded draws, memory store)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.unit.test_smsc_support import Harness, carrier, make_config, rule

from smsc.config import Distribution, SubmitRule, load_config
from smsc.core.api import SubmitResult
from smsc.core.carrier import Carrier
from smsc.smpp.constants import CommandStatus as S


def slow(**kw: object) -> Harness:
    network = dataclasses.replace(carrier(latency=0.0, **kw),  # type: ignore[arg-type]
                                  submit_latency=Distribution(kind="uniform", low=0.2, high=0.6))
    return Harness(make_config(network))


def test_each_submit_is_answered_after_its_drawn_latency_and_attempted_after_it() -> None:
    h = slow()
    replies: list[SubmitResult] = []
    for n in range(20):
        h.smsc.submit(h.submission(f"4477009{n:05d}", registered_delivery=1), replies.append)
    assert replies == []  # (none at once)
    h.advance(0.19)
    assert replies == [] and h.receipts() == []
    h.advance(0.42)  # (past the longest draw, 0.6 s)
    assert len(replies) == 20 and all(r.status == 0 for r in replies)
    h.advance(1.0)
    assert len(h.receipts()) == 20  # (delivered once answered: the attempt starts after the response)


def test_a_rule_s_own_submit_answer_wins_and_the_numbers_are_not_taken_on_the_plain_path() -> None:
    network = dataclasses.replace(carrier(rules=(rule("447700900910", submit=SubmitRule(status=S.ESME_RSUBMITFAIL)),)),
                                  submit_latency=Distribution(kind="fixed", value=0.3))
    c = Carrier(network)
    assert c.submit_rule("447700900910") == SubmitRule(status=S.ESME_RSUBMITFAIL)
    assert c.submit_rule("447700900123") == SubmitRule(status=0, delay=0.3)
    assert not c.accepts_plainly("447700900123")
    assert Carrier(carrier()).submit_rule("447700900123") is None


def test_submit_latency_is_read_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("accounts: [{system_id: a, password: b}]\ntopology: {carriers: [{name: c, prefixes: ['*'], "
                    "submit_latency: {distribution: lognormal, median: 50ms, p95: 300ms, cap: 2s}}]}\n")
    latency = load_config(path).topology.carriers[0].submit_latency
    assert latency is not None and latency.kind == "lognormal" and latency.cap == 2.0
    assert abs(latency.median - 0.05) < 1e-9
    assert load_config(None).topology.carriers[0].submit_latency is None  # (the bundled world answers at once)


def test_the_latencies_follow_the_world_seed() -> None:
    """Tester 131: every run drew the same latencies whatever simulation.seed said (the carrier's seed was 0)."""
    from smsc.core.routing import build_world
    import random

    def draws(seed: int) -> list[float]:
        network = dataclasses.replace(carrier(), submit_latency=Distribution(kind="uniform", low=0.0, high=1.0))
        config = make_config(network)
        config = dataclasses.replace(config, simulation=dataclasses.replace(config.simulation, seed=seed))
        c = build_world(config, random.Random(0)).carriers["uk"]
        return [c.submit_rule("447700900123").delay for _ in range(5)]  # type: ignore[union-attr]

    assert draws(7) == draws(7) != draws(8)

