"""One simulated carrier: outcome mix and latency distributions (statistically, with a seeded RNG), the order
in which rules, opt-out, handset state and the mix decide an attempt, and the default config's test numbers."""

from __future__ import annotations

import functools
import math
import random
from collections import Counter

import pytest

from smsc.config import (
    CarrierConfig,
    Config,
    Distribution,
    HandsetConfig,
    NumberRule,
    OptOutConfig,
    OutcomeSpec,
    SubmitRule,
    load_config,
    outcome_for,
)
from smsc.core.carrier import AttemptOutcome, Carrier
from smsc.core.handsets import HandsetPool
from smsc.core.routing import build_world
from smsc.smpp.constants import CommandStatus

T0 = 1_700_000_000.0
N = 10000
SIGMAS = 4.5  # bands below are exceeded with probability ~1e-5 per check


def binomial_tolerance(p: float, n: int = N) -> float:
    return SIGMAS * math.sqrt(p * (1 - p) / n)


def moments(dist: Distribution) -> tuple[float, float]:
    """(mean, standard deviation) of a distribution: closed forms, or a fine quantile grid when capped."""
    if dist.cap is None:
        if dist.kind == "fixed":
            return dist.value, 0.0
        if dist.kind == "uniform":
            return (dist.low + dist.high) / 2, (dist.high - dist.low) / math.sqrt(12)
        if dist.kind == "exponential":
            return dist.mean, dist.mean
        mu, s2 = math.log(dist.median), dist.sigma ** 2
        return math.exp(mu + s2 / 2), math.sqrt((math.exp(s2) - 1) * math.exp(2 * mu + s2))
    grid = 200000
    values = [dist.quantile((i + 0.5) / grid) for i in range(grid)]
    mean = sum(values) / grid
    return mean, math.sqrt(max(sum(v * v for v in values) / grid - mean * mean, 0.0))


@functools.cache
def default_config() -> Config:
    return load_config()


def carrier(**kw) -> Carrier:
    kw.setdefault("name", "test")
    kw.setdefault("prefixes", ("",))
    kw.setdefault("handsets", HandsetConfig(online_probability=1.0))
    return Carrier(CarrierConfig(**kw), seed=1)


def numbers(n: int) -> list[str]:
    return [str(447000000000 + i) for i in range(n)]


# --------------------------------------------------------------------------------- statistics


def test_outcome_mix_is_drawn_in_proportion_to_the_weights() -> None:
    mix = (outcome_for("delivered", 90), outcome_for("busy", 5), outcome_for("unknown_subscriber", 3),
           outcome_for("barred", 1.5), outcome_for("call_barred", 0.5), outcome_for("system_failure", 0))
    c = carrier(outcomes=mix)
    rng = random.Random(20240601)
    results = [c.attempt(number, T0, rng) for number in numbers(N)]
    by_cause = Counter(r.cause for r in results)
    total = sum(spec.weight for spec in mix)
    for spec in mix:
        p = spec.weight / total
        assert abs(by_cause[spec.cause] / N - p) <= binomial_tolerance(p), (spec.cause, by_cause)
    assert by_cause["system_failure"] == 0, "a zero weight is never drawn"
    by_kind = Counter(r.kind for r in results)
    assert set(by_kind) == {"delivered", "temporary", "undeliverable", "rejected"}
    unknown = next(r for r in results if r.cause == "unknown_subscriber")
    assert (unknown.err, unknown.network_error_code) == (1, b"\x03\x00\x01")
    busy = next(r for r in results if r.cause == "busy")
    assert (busy.kind, busy.err, busy.network_error_code) == ("temporary", 31, b"\x03\x00\x1f")
    barred = next(r for r in results if r.cause == "barred")
    assert (barred.kind, barred.err) == ("rejected", 13)


LATENCIES = [
    Distribution("fixed", value=2.5),
    Distribution("uniform", low=1.0, high=5.0),
    Distribution("exponential", mean=4.0),
    Distribution("lognormal", median=3.0, sigma=math.log(10 / 3) / 1.6448536269514722),  # p95 = 10 s
    Distribution("lognormal", median=3.0, sigma=math.log(10 / 3) / 1.6448536269514722, cap=8.0),
    Distribution("exponential", mean=60.0, cap=90.0),
]


@pytest.mark.parametrize("dist", LATENCIES, ids=lambda d: f"{d.kind}{'-capped' if d.cap else ''}")
def test_latency_distributions_have_their_configured_mean_and_quantiles(dist: Distribution) -> None:
    rng = random.Random(77)
    c = carrier(latency=dist)
    draws = [c.attempt(number, T0, rng).latency for number in numbers(N)]
    assert min(draws) >= 0.0
    if dist.cap is not None:
        assert max(draws) <= dist.cap
    mean, sd = moments(dist)
    assert abs(sum(draws) / N - mean) <= SIGMAS * sd / math.sqrt(N) + 1e-12
    if dist.kind == "fixed":
        assert set(draws) == {dist.value}
        return
    for q in (0.05, 0.5, 0.95):
        theory = dist.quantile(q)
        share = sum(x <= theory for x in draws) / N
        p = 1.0 if theory == dist.cap else q  # at the cap every capped draw ties
        if p < 1.0:
            assert abs(share - p) <= binomial_tolerance(p), (q, share)


def test_lognormal_given_by_p95_has_that_p95() -> None:
    config = default_config()
    britmobile = next(c for c in config.topology.carriers if c.name == "britmobile")
    assert britmobile.latency.quantile(0.5) == pytest.approx(3.0)
    assert britmobile.latency.quantile(0.95) == pytest.approx(10.0)
    assert britmobile.latency.quantile(0.9999) == 30.0  # the cap


def test_failed_attempts_take_the_failure_latency() -> None:
    c = carrier(outcomes=(outcome_for("unknown_subscriber"),),
                latency=Distribution("fixed", value=100.0),
                failure_latency=Distribution("uniform", low=0.5, high=2.0))
    rng = random.Random(1)
    draws = [c.attempt(number, T0, rng).latency for number in numbers(N)]
    assert 0.5 <= min(draws) and max(draws) <= 2.0
    assert abs(sum(draws) / N - 1.25) <= SIGMAS * (1.5 / math.sqrt(12)) / math.sqrt(N)


def test_a_seeded_world_replays_exactly() -> None:
    mix = (outcome_for("delivered", 9), outcome_for("busy", 1))
    make = lambda: carrier(outcomes=mix, handsets=HandsetConfig(online_probability=0.8))  # noqa: E731
    a, b = make(), make()
    ra, rb = random.Random(5), random.Random(5)
    assert [a.attempt(n, T0, ra) for n in numbers(500)] == [b.attempt(n, T0, rb) for n in numbers(500)]


# ------------------------------------------------------------------------------ decision order


def test_an_unreachable_handset_is_absent_until_it_comes_back() -> None:
    c = carrier(handsets=HandsetConfig(online_probability=0.5))
    rng = random.Random(2)
    absent = 0
    for number in numbers(200):
        outcome = c.attempt(number, T0, rng)
        if c.handsets.is_online(number, T0):
            assert outcome.kind == "delivered"
        else:
            absent += 1
            assert outcome.kind == "absent"
            assert (outcome.err, outcome.network_error_code) == (6, b"\x03\x00\x06")
            assert outcome.online_at == c.handsets.next_online(number, T0)
            assert outcome.online_at > T0
    assert absent > 50


def test_an_absent_outcome_from_the_mix_comes_back_after_one_offline_period() -> None:
    c = carrier(outcomes=(outcome_for("memory_full"),),
                handsets=HandsetConfig(online_probability=1.0,
                                       offline_period=Distribution("uniform", low=60.0, high=120.0)))
    rng = random.Random(3)
    for number in numbers(100):
        outcome = c.attempt(number, T0, rng)
        assert (outcome.kind, outcome.cause, outcome.err) == ("absent", "memory_full", 32)
        assert outcome.online_at is not None and T0 + 60.0 <= outcome.online_at <= T0 + 120.0


def test_rules_first_then_opt_out_then_handset_state_then_mix() -> None:
    rules = (
        NumberRule(numbers=("447700900500",), outcome=outcome_for("unknown_subscriber")),
        NumberRule(numbers=("447700900800",), opted_out=True, offline=math.inf),
        NumberRule(numbers=("447700900123",), latency=Distribution("fixed", value=0.0)),
    )
    c = carrier(rules=rules, outcomes=(outcome_for("system_failure"),))
    rng = random.Random(4)
    # 1. a fixed rule outcome wins over opt-out and the control API
    c.handsets.opt_out("447700900500")
    c.handsets.set_online("447700900500", False, T0)
    assert c.attempt("447700900500", T0, rng).cause == "unknown_subscriber"
    # 2. opt-out wins over an unreachable handset
    assert c.attempt("447700900800", T0, rng).kind == "rejected"
    c.handsets.opt_in("447700900800")
    assert c.attempt("447700900800", T0, rng).kind == "absent"
    # 3. handset state: a rule number is delivered when reachable, never drawn from the mix
    assert c.attempt("447700900123", T0, rng) == AttemptOutcome(kind="delivered", latency=0.0, cause="delivered")
    c.handsets.set_online("447700900123", False, T0)
    assert c.attempt("447700900123", T0, rng).kind == "absent"
    # 4. other numbers: opt-out, then the mix
    assert c.attempt("447700900999", T0, rng).cause == "system_failure"
    c.handsets.on_mo_text("447700900999", "STOP", T0)
    opted = c.attempt("447700900999", T0, rng)
    assert (opted.kind, opted.err, opted.network_error_code) == ("rejected", 603, None)


def test_a_reachable_rule_number_with_a_fixed_latency_gets_the_outcome_the_general_path_builds() -> None:
    fixed = NumberRule(prefixes=("4477009001",), latency=Distribution("fixed", value=2.5))
    drawn = NumberRule(prefixes=("4477009002",), latency=Distribution("uniform", low=1.0, high=2.0))
    c = carrier(rules=(fixed, drawn))
    rng, twin = random.Random(9), random.Random(9)
    first = c.attempt("447700900101", T0, rng)
    assert first == AttemptOutcome(kind="delivered", latency=2.5, cause="delivered")
    assert c.attempt("447700900102", T0, rng) is first  # one frozen object per distribution
    twin.random(), twin.random()
    assert rng.random() == twin.random()  # each attempt still made its one latency draw
    assert 1.0 <= c.attempt("447700900201", T0, rng).latency <= 2.0


def test_opt_out_outcome_and_submit_status_are_configurable() -> None:
    strict = OptOutConfig(outcome=OutcomeSpec(kind="undeliverable", err=9, cause="opted_out"),
                          submit_status=CommandStatus.ESME_RINVDSTADR)
    c = carrier(opt_out=strict)
    rng = random.Random(5)
    assert c.submit_rule("447700900555") is None
    c.handsets.opt_out("447700900555")
    assert c.submit_rule("447700900555") == SubmitRule(status=CommandStatus.ESME_RINVDSTADR, delay=0.0)
    outcome = c.attempt("447700900555", T0, rng)
    assert (outcome.kind, outcome.err) == ("undeliverable", 9)
    lenient = carrier()
    lenient.handsets.opt_out("447700900555")
    assert lenient.submit_rule("447700900555") is None


def test_submit_rules_apply_to_their_numbers_only() -> None:
    rule = NumberRule(prefixes=("44770090091",), submit=SubmitRule(status=CommandStatus.ESME_RSUBMITFAIL))
    c = carrier(rules=(rule,))
    assert c.submit_rule("447700900910") == SubmitRule(status=0x45, delay=0.0)
    assert c.submit_rule("447700900919") == SubmitRule(status=0x45, delay=0.0)
    assert c.submit_rule("447700900920") is None


def test_carrier_attributes_come_from_its_configuration() -> None:
    config = default_config()
    world = build_world(config, random.Random(0))
    liberty = world.carriers["liberty"]
    assert liberty.name == "liberty" and liberty.capacity == 50.0
    assert liberty.receipt.message_id_format is not None
    fmt = liberty.receipt.message_id_format
    assert (fmt.format, fmt.length, fmt.uppercase) == ("hex", 8, True)
    assert liberty.receipt.text_label == "Text" and liberty.receipt.receipted_message_id
    assert liberty.retry_schedule[0] == 300.0
    britmobile = world.carriers["britmobile"]
    assert britmobile.retry_schedule == config.simulation.retry_schedule
    assert britmobile.receipt.message_id_format is None and britmobile.receipt.text_label == "text"
    assert world.carriers["thames"].capacity == 2.0
    assert isinstance(britmobile.handsets, HandsetPool)


# ------------------------------------------------------------------------- default test numbers


def run_until_final(c: Carrier, number: str, start: float, rng: random.Random, horizon: float = 172800.0
                    ) -> tuple[AttemptOutcome, float, list[str]]:
    """Attempt like a minimal SMSC: absent -> retry at online_at, temporary -> retry on the schedule, until a
    final outcome or ``horizon`` seconds pass (then the last outcome, as at expiry)."""
    now, kinds = start, []
    retries = 0
    for _ in range(100):
        outcome = c.attempt(number, now, rng)
        kinds.append(outcome.kind)
        if outcome.kind in ("delivered", "undeliverable", "rejected"):
            return outcome, now + outcome.latency, kinds
        if outcome.kind == "absent":
            if outcome.online_at is None:
                return outcome, start + horizon, kinds
            now = max(outcome.online_at, now + outcome.latency)
        else:
            now += outcome.latency + c.retry_schedule[min(retries, len(c.retry_schedule) - 1)]
            retries += 1
        if now >= start + horizon:
            return outcome, start + horizon, kinds
    raise AssertionError("no final outcome in 100 attempts")


TEST_NUMBERS = [
    # number, carrier, final kind, err, delivered after (s, from submit) or None, attempts
    ("447700900123", "britmobile", "delivered", 0, 0.0, ["delivered"]),
    ("447700900100", "britmobile", "delivered", 0, 0.0, ["delivered"]),
    ("447700900250", "britmobile", "delivered", 0, 30.0, ["delivered"]),
    ("447700900300", "britmobile", "delivered", 0, 121.0, ["absent", "delivered"]),
    ("447700900400", "britmobile", "absent", 6, None, ["absent"]),
    ("447700900500", "britmobile", "undeliverable", 1, None, ["undeliverable"]),
    ("447700900600", "britmobile", "rejected", 13, None, ["rejected"]),
    ("447700900700", "thames", "delivered", 0, 1.0, ["delivered"]),
    ("447700900800", "britmobile", "rejected", 603, None, ["rejected"]),
    ("447700900900", "britmobile", "delivered", 0, 1.0, ["delivered"]),
    ("447700900914", "britmobile", "delivered", 0, 1.0, ["delivered"]),
    ("447700900920", "britmobile", "delivered", 0, 601.0, ["absent", "delivered"]),
    ("12125550100", "liberty", "delivered", 0, 0.0, ["delivered"]),
    ("12125550101", "liberty", "delivered", 0, 30.0, ["delivered"]),
    ("12125550102", "liberty", "delivered", 0, 121.0, ["absent", "delivered"]),
    ("12125550103", "liberty", "absent", 6, None, ["absent"]),
    ("12125550104", "liberty", "undeliverable", 1, None, ["undeliverable"]),
    ("12125550105", "liberty", "rejected", 607, None, ["rejected"]),
    ("12125550106", "liberty", "rejected", 603, None, ["rejected"]),
]


@pytest.mark.parametrize(("number", "carrier_name", "kind", "err", "after", "attempts"), TEST_NUMBERS)
def test_default_test_numbers_give_their_documented_outcome(
    number: str, carrier_name: str, kind: str, err: int, after: float | None, attempts: list[str]
) -> None:
    world = build_world(default_config(), random.Random(0))
    c = world.route(number)
    assert c is not None and c.name == carrier_name
    assert c.submit_rule(number) is None or c.submit_rule(number).status == 0
    outcome, done, kinds = run_until_final(c, number, T0, random.Random(1))
    assert (outcome.kind, outcome.err, kinds) == (kind, err, attempts)
    if after is not None:
        assert done - T0 == pytest.approx(after)
    if kind == "absent":
        assert outcome.online_at is None, "never back: the message expires"


def test_default_busy_test_number_is_retried_until_expiry() -> None:
    world = build_world(default_config(), random.Random(0))
    c = world.route("447700900921")
    outcome, _, kinds = run_until_final(c, "447700900921", T0, random.Random(1))
    assert outcome.kind == "temporary" and outcome.err == 31
    assert len(kinds) > 5 and set(kinds) == {"temporary"}


@pytest.mark.parametrize(
    ("number", "status", "delay"),
    [("447700900910", CommandStatus.ESME_RSUBMITFAIL, 0.0), ("447700900911", CommandStatus.ESME_RTHROTTLED, 0.0),
     ("447700900912", CommandStatus.ESME_RINVDSTADR, 0.0), ("447700900913", CommandStatus.ESME_RSYSERR, 0.0),
     ("447700900914", CommandStatus.ESME_ROK, 5.0), ("12125550108", CommandStatus.ESME_RSUBMITFAIL, 0.0),
     ("12125550109", CommandStatus.ESME_RTHROTTLED, 0.0)],
)
def test_default_submit_time_test_numbers(number: str, status: int, delay: float) -> None:
    world = build_world(default_config(), random.Random(0))
    assert world.route(number).submit_rule(number) == SubmitRule(status=status, delay=delay)


def test_default_opted_out_number_is_delivered_after_start() -> None:
    world = build_world(default_config(), random.Random(0))
    c = world.route("447700900801")
    rng = random.Random(2)
    assert c.attempt("447700900801", T0, rng).kind == "rejected"
    c.handsets.on_mo_text("447700900801", "START", T0)
    assert c.attempt("447700900801", T0, rng).kind == "delivered"


@pytest.mark.parametrize(
    ("number", "mt", "reply"),
    [("447700900900", "hello world", "hello world"), ("447700900901", "Your PIN please", "1234"),
     ("447700900901", "Reply CONFIRM", "YES"), ("447700900902", "anything", "Thanks, got it"),
     ("12125550107", "Text HELP for help", "HELP")],
)
def test_default_auto_reply_test_numbers(number: str, mt: str, reply: str) -> None:
    world = build_world(default_config(), random.Random(0))
    c = world.route(number)
    assert c.attempt(number, T0, random.Random(1)).kind == "delivered"
    (mo,) = c.handsets.replies_to_mt(number, mt, T0, random.Random(1))
    assert mo.text == reply and mo.delay > 0


def test_default_world_other_numbers_route_somewhere_and_mostly_deliver() -> None:
    world = build_world(default_config(), random.Random(0))
    rng = random.Random(9)
    for number in ("447911123456", "442071234567", "33612345678", "4915112345678", "13105551234"):
        c = world.route(number)
        assert c is not None
        outcome = c.attempt(number, T0, rng)
        assert outcome.kind in ("delivered", "absent", "temporary", "undeliverable", "rejected")
