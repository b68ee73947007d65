"""The handset population: deterministic online periods, rule spells, control overrides, opt-out keywords
and auto-replies."""

from __future__ import annotations

import math
import random
import time

import pytest

from smsc.config import AutoReply, Distribution, HandsetConfig, NumberRule
from smsc.core.handsets import HandsetPool, MoReply

T0 = 1_700_000_000.0  # a simulation instant (epoch seconds)
DAY = 86400.0


def numbers(n: int, start: int = 447700000000) -> list[str]:
    return [str(start + i) for i in range(n)]


def binomial_tolerance(p: float, n: int, sigmas: float = 4.5) -> float:
    """Half-width of the band a share of n Bernoulli(p) draws stays in, except with ~1e-5 probability."""
    return sigmas * math.sqrt(p * (1 - p) / n)


def model(p: float, offline: Distribution | None = None, **kw) -> HandsetConfig:
    return HandsetConfig(online_probability=p, offline_period=offline or Distribution("exponential", mean=1800.0),
                         **kw)


# ----------------------------------------------------------------------------------- random model


def test_online_state_is_deterministic_for_a_seed_and_number() -> None:
    rng = random.Random(5)
    probes = [(str(447700000000 + rng.randrange(10**6)), T0 + rng.uniform(0, 30 * DAY)) for _ in range(2000)]
    a = HandsetPool(model(0.7), seed=42, name="uk")
    b = HandsetPool(model(0.7), seed=42, name="uk")
    answers = [a.is_online(n, t) for n, t in probes]
    assert answers == [b.is_online(n, t) for n, t in probes]
    assert [a.next_online(n, t) for n, t in probes] == [b.next_online(n, t) for n, t in probes]
    # The order of questions does not matter: no hidden generator state.
    assert [a.is_online(n, t) for n, t in reversed(probes)] == answers[::-1]
    other_seed = HandsetPool(model(0.7), seed=43, name="uk")
    other_carrier = HandsetPool(model(0.7), seed=42, name="us")
    assert [other_seed.is_online(n, t) for n, t in probes] != answers
    assert [other_carrier.is_online(n, t) for n, t in probes] != answers


@pytest.mark.parametrize(
    "offline",
    [Distribution("exponential", mean=1800.0), Distribution("lognormal", median=600.0, sigma=1.5, cap=3 * DAY),
     Distribution("fixed", value=3600.0), Distribution("uniform", low=60.0, high=7200.0)],
)
def test_next_online_is_consistent_with_is_online(offline: Distribution) -> None:
    pool = HandsetPool(model(0.6, offline), seed=3)
    rng = random.Random(11)
    offline_seen = 0
    for number in numbers(200):
        for _ in range(25):
            t = T0 + rng.uniform(0, 10 * DAY)
            back = pool.next_online(number, t)
            assert back is not None
            if pool.is_online(number, t):
                assert back == t
                continue
            offline_seen += 1
            assert back > t
            assert pool.is_online(number, back)
            assert pool.next_online(number, back) == back
            for i in range(10):  # every moment before it comes back is offline
                assert not pool.is_online(number, t + (back - t) * i / 10)
    assert offline_seen > 500


@pytest.mark.parametrize(
    ("p", "offline"),
    [(0.9, Distribution("exponential", mean=1800.0)),
     (0.985, Distribution("lognormal", median=600.0, sigma=1.7, cap=3 * DAY)),
     (0.5, Distribution("lognormal", median=3600.0, sigma=1.0)),
     (0.8, Distribution("fixed", value=1800.0)),
     # Tester 76: the bundled US carrier's handsets (0.8, lognormal median 30 min, p95 12 h, cap 3 d) were 14 %
     # offline, not 20 %; 0.5 with 30-minute exponential spells 42.5 %; 0.3 with spells of hours 28 %, not 70 %.
     (0.8, Distribution("lognormal", median=1800.0, sigma=math.log(43200.0 / 1800.0) / 1.6448536, cap=3 * DAY)),
     (0.5, Distribution("exponential", mean=1800.0)),
     (0.3, Distribution("lognormal", median=7200.0, sigma=math.log(2 * DAY / 7200.0) / 1.6448536))],
)
def test_share_of_handsets_online_matches_online_probability(p: float, offline: Distribution) -> None:
    pool = HandsetPool(model(p, offline), seed=7)
    n = 20000
    online = sum(pool.is_online(number, T0) for number in numbers(n)) / n
    assert abs(online - p) <= binomial_tolerance(p, n), (online, p)


def test_one_handset_is_online_for_its_share_of_time() -> None:
    pool = HandsetPool(model(0.75, Distribution("exponential", mean=600.0)), seed=1)
    n = 20000
    rng = random.Random(2)
    times = [T0 + rng.uniform(0, 3650 * DAY) for _ in range(n)]  # ten years: tens of thousands of cycles
    share = sum(pool.is_online("447700900555", t) for t in times) / n
    assert abs(share - 0.75) <= binomial_tolerance(0.75, n)


def test_the_cycle_gives_the_offline_share_asked_for_whatever_the_spells() -> None:
    """cycle_length solves E[min(X, L)] / L = share: without clamping (every spell shorter than L) it is the old
    mean / share; with long spells it is shorter."""
    from smsc.core.handsets import cycle_length

    fixed = Distribution("fixed", value=1800.0)
    assert cycle_length(fixed, 0.2) == pytest.approx(9000.0)
    heavy = Distribution("lognormal", median=7200.0, sigma=2.0)
    cycle = cycle_length(heavy, 0.7)
    assert cycle < heavy.expected() / 0.7
    spells = [min(heavy.quantile((i + 0.5) / 100_000), cycle) for i in range(100_000)]
    assert sum(spells) / len(spells) / cycle == pytest.approx(0.7, abs=1e-3)
    with pytest.raises(ValueError):
        cycle_length(fixed, 1.0)


def test_offline_spell_lengths_follow_the_offline_period_distribution() -> None:
    offline = Distribution("lognormal", median=900.0, sigma=0.8)
    pool = HandsetPool(model(0.5, offline), seed=9)
    cycle = offline.expected() / 0.5
    n = 10000
    lengths = []
    for number in numbers(n):
        start, end = pool._spell(number, T0, cycle, pool._phase(number, cycle))
        lengths.append(end - start)
    for q in (0.25, 0.5, 0.9):
        theory = min(offline.quantile(q), cycle)
        share_below = sum(x <= theory for x in lengths) / n
        assert abs(share_below - q) <= binomial_tolerance(q, n)


def test_always_online_and_never_online_populations() -> None:
    always = HandsetPool(model(1.0), seed=1)
    never = HandsetPool(model(0.0), seed=1)
    for number in numbers(50):
        assert always.is_online(number, T0) and always.next_online(number, T0) == T0
        assert always.page(number, T0) == (True, T0)
        assert not never.is_online(number, T0) and never.next_online(number, T0) is None
        assert never.page(number, T0) == (False, None)


def test_page_of_a_model_handset_reports_when_it_comes_back() -> None:
    pool = HandsetPool(model(0.5), seed=4)
    for number in numbers(100):
        reachable, back = pool.page(number, T0)
        assert reachable == pool.is_online(number, T0)
        assert back == pool.next_online(number, T0)


def test_online_questions_are_fast() -> None:
    pool = HandsetPool(model(0.9), seed=1)
    batch = numbers(20000)
    start = time.perf_counter()
    for number in batch:
        pool.is_online(number, T0)
        pool.next_online(number, T0)
    assert time.perf_counter() - start < 2.0  # ~10 us per pair on a laptop


# ------------------------------------------------------------------------------------------ rules


def test_rule_always_offline_never_comes_back() -> None:
    pool = HandsetPool(model(1.0), [NumberRule(numbers=("447700900400",), offline=math.inf)])
    assert not pool.is_online("447700900400", T0)
    assert pool.next_online("447700900400", T0) is None
    assert pool.page("447700900400", T0) == (False, None)
    assert pool.is_online("447700900401", T0)


def test_rule_offline_for_a_while_starts_when_paged_and_repeats_after_a_rest() -> None:
    d = 120.0
    pool = HandsetPool(model(0.0), [NumberRule(prefixes=("4477009003",), offline=d)])
    number = "447700900300"
    assert pool.is_online(number, T0), "a rule number is online until an attempt finds it off"
    assert pool.page(number, T0) == (False, T0 + d)
    assert not pool.is_online(number, T0 + d / 2)
    assert pool.next_online(number, T0 + d / 2) == T0 + d
    assert pool.page(number, T0 + d / 2) == (False, T0 + d), "a second message waits for the same alert"
    assert pool.is_online(number, T0 + d)
    assert pool.page(number, T0 + d) == (True, T0 + d)
    assert pool.page(number, T0 + 1.5 * d) == (True, T0 + 1.5 * d)
    assert pool.page(number, T0 + 2 * d) == (False, T0 + 3 * d), "a new spell after a rest of d"
    other = "447700900301"  # same rule, its own spell
    assert pool.is_online(other, T0 + 2 * d)


def test_rule_numbers_ignore_the_random_model() -> None:
    pool = HandsetPool(model(0.0), [NumberRule(numbers=("447700900123",), latency=Distribution())])
    assert pool.is_online("447700900123", T0)
    assert not pool.is_online("447700900124", T0)


def test_exact_rules_win_over_prefix_rules_and_longer_prefixes_over_shorter() -> None:
    exact = NumberRule(numbers=("447700900123",), note="exact")
    long = NumberRule(prefixes=("4477009001",), note="long")
    short = NumberRule(prefixes=("44770",), note="short")
    pool = HandsetPool(model(1.0), [short, long, exact])
    assert pool.rule_for("447700900123") is exact
    assert pool.rule_for("447700900124") is long
    assert pool.rule_for("447700900200") is short
    assert pool.rule_for("12125550100") is None


# -------------------------------------------------------------------------------------- overrides


def test_control_api_override_forces_the_state_until_cleared() -> None:
    pool = HandsetPool(model(1.0), [NumberRule(numbers=("447700900400",), offline=math.inf)])
    pool.set_online("447700900123", False, T0)
    assert not pool.is_online("447700900123", T0)
    assert pool.next_online("447700900123", T0) is None
    assert pool.page("447700900123", T0) == (False, None)
    pool.set_online("447700900400", True, T0)
    assert pool.is_online("447700900400", T0) and pool.page("447700900400", T0) == (True, T0)
    assert pool.overrides() == {"447700900123": False, "447700900400": True}
    assert pool.switched_on_after("447700900400", T0 - 1) and not pool.switched_on_after("447700900123", T0 - 1)
    pool.clear_override("447700900123")
    pool.clear_override("447700900400")
    assert pool.is_online("447700900123", T0)
    assert not pool.is_online("447700900400", T0)
    assert not pool.switched_on_after("447700900400", T0 - 1)  # (the switch went with its override)


def test_switching_a_handset_on_ends_its_rule_spell() -> None:
    pool = HandsetPool(model(1.0), [NumberRule(numbers=("447700900300",), offline=600.0)])
    pool.page("447700900300", T0)
    pool.set_online("447700900300", True, T0 + 10)
    pool.clear_override("447700900300")
    assert pool.is_online("447700900300", T0 + 20)


def test_a_restored_spell_that_starts_after_the_clock_runs_until_its_start_plus_the_duration() -> None:
    """A scaled clock may resume behind a spell's start after a kill -9 (it resumes from the simulation time
    saved every few seconds): the spell runs on, it is not taken for over."""
    pool = HandsetPool(model(1.0), [NumberRule(numbers=("447700900920",), offline=600.0)])
    pool.restore_spell("447700900920", T0 + 100)
    assert not pool.is_online("447700900920", T0)
    assert pool.next_online("447700900920", T0) == T0 + 700
    assert pool.page("447700900920", T0) == (False, T0 + 700)
    assert pool.page("447700900920", T0 + 700) == (True, T0 + 700)  # (within 2 x the duration: no new spell)


# ---------------------------------------------------------------------------------------- opt-out


@pytest.mark.parametrize(
    ("text", "kind"),
    [("STOP", "opt_out"), ("stop", "opt_out"), ("  Stop \n", "opt_out"), ("STOP ALL", "opt_out"),
     ("stop   all", "opt_out"), ("UNSUBSCRIBE", "opt_out"), ("quit", "opt_out"), ("START", "opt_in"),
     ("unstop", "opt_in"), ("Yes", "opt_in"), ("HELP", "help"), ("info", "help"), ("STOP PLEASE", None),
     ("please stop", None), ("", None), ("STOPP", None),
     # (tester 100: a letter whose capital is another letter, or two, is not that keyword)
     ("\u017ftop", None), ("\ufb06op", None), ("\uff33\uff34\uff2f\uff30", None),
     # (tester 170: punctuation typed after the word did not opt out)
     ("STOP.", "opt_out"), ("Stop!", "opt_out"), ("stop !", "opt_out"), ("Start?", "opt_in"), ("STOP PLEASE.", None),
     ("!", None), ("ST.OP", None)],
)
def test_mo_keywords_are_whole_texts_in_any_case(text: str, kind: str | None) -> None:
    assert HandsetPool(model(1.0)).keyword(text) == kind


def test_stop_opts_out_and_start_opts_back_in() -> None:
    pool = HandsetPool(model(1.0))
    number = "447700900555"
    assert not pool.opted_out(number)
    pool.on_mo_text(number, "Stop", T0)
    assert pool.opted_out(number)
    pool.on_mo_text(number, "HELP", T0)
    assert pool.opted_out(number)
    pool.on_mo_text(number, "hello there", T0)
    assert pool.opted_out(number)
    pool.on_mo_text(number, "START", T0)
    assert not pool.opted_out(number)


def test_keywords_come_from_the_carrier_configuration() -> None:
    pool = HandsetPool(model(1.0, opt_out_keywords=("ARRET",), opt_in_keywords=("SUITE",)))
    pool.on_mo_text("33612345678", "STOP", T0)
    assert not pool.opted_out("33612345678")
    pool.on_mo_text("33612345678", "arret", T0)
    assert pool.opted_out("33612345678")
    pool.on_mo_text("33612345678", "suite", T0)
    assert not pool.opted_out("33612345678")


def test_a_rule_can_start_a_number_opted_out_and_start_opts_it_in() -> None:
    pool = HandsetPool(model(1.0), [NumberRule(prefixes=("4477009008",), opted_out=True)])
    assert pool.opted_out("447700900800") and pool.opted_out("447700900899")
    pool.opt_in("447700900800")
    assert not pool.opted_out("447700900800")
    assert pool.opted_out("447700900899")
    pool.opt_out("447700900123")
    assert pool.opted_out("447700900123")


# ------------------------------------------------------------------------------------- auto-reply


def replies(pool: HandsetPool, number: str, text: str, seed: int = 0) -> list[MoReply]:
    return pool.replies_to_mt(number, text, T0, random.Random(seed))


def test_echo_handset_sends_the_mt_text_back() -> None:
    pool = HandsetPool(model(1.0), [NumberRule(numbers=("447700900900",), auto_reply=AutoReply(echo=True))])
    assert replies(pool, "447700900900", "hello") == [MoReply(text="hello", delay=2.0)]
    assert replies(pool, "447700900901", "hello") == []


def test_keyword_answers_match_whole_words_in_text_order() -> None:
    auto = AutoReply(keywords=(("PIN", "1234"), ("CONFIRM", "YES")), text="?",
                     delay=Distribution("uniform", low=1.0, high=3.0))
    pool = HandsetPool(model(1.0), [NumberRule(numbers=("447700900901",), auto_reply=auto)])
    (reply,) = replies(pool, "447700900901", "Please confirm with your pin")
    assert reply.text == "YES" and 1.0 <= reply.delay <= 3.0
    assert replies(pool, "447700900901", "your PIN, then CONFIRM")[0].text == "1234"
    assert replies(pool, "447700900901", "PINK spinach")[0].text == "?"  # no whole word: the fixed text


def test_keywords_without_a_match_and_without_fallback_give_no_reply() -> None:
    auto = AutoReply(keywords=(("PIN", "1234"),))
    pool = HandsetPool(model(1.0), [NumberRule(numbers=("1",), auto_reply=auto)])
    assert replies(pool, "1", "nothing to see") == []


def test_carrier_wide_auto_reply_answers_a_share_of_messages() -> None:
    pool = HandsetPool(model(1.0, auto_reply=AutoReply(text="ok", probability=0.3)))
    rng = random.Random(8)
    n = 10000
    answered = sum(bool(pool.replies_to_mt(number, "hi", T0, rng)) for number in numbers(n))
    assert abs(answered / n - 0.3) <= binomial_tolerance(0.3, n)


def test_a_rule_auto_reply_wins_over_the_carrier_wide_one() -> None:
    pool = HandsetPool(model(1.0, auto_reply=AutoReply(text="carrier")),
                       [NumberRule(numbers=("447700900902",), auto_reply=AutoReply(text="rule"))])
    assert replies(pool, "447700900902", "x")[0].text == "rule"
    assert replies(pool, "447700900903", "x")[0].text == "carrier"


def test_an_opted_out_handset_does_not_reply() -> None:
    pool = HandsetPool(model(1.0, auto_reply=AutoReply(echo=True)))
    pool.opt_out("447700900555")
    assert replies(pool, "447700900555", "hello") == []


def test_reply_delays_follow_the_configured_distribution() -> None:
    delay = Distribution("exponential", mean=10.0)
    pool = HandsetPool(model(1.0, auto_reply=AutoReply(echo=True, delay=delay)))
    rng = random.Random(3)
    n = 10000
    delays = [pool.replies_to_mt("447700900555", "x", T0, rng)[0].delay for _ in range(n)]
    mean = sum(delays) / n
    assert abs(mean - 10.0) <= 4.5 * 10.0 / math.sqrt(n)  # exponential: sd = mean


# ------------------------------------------------------------------------------ attached by an MO


def _offline_now(pool: HandsetPool, now: float) -> str:
    """An ordinary number the random model has offline at ``now`` (bounded search)."""
    for number in numbers(5000):
        if not pool.is_online(number, now):
            return number
    raise AssertionError("no offline number among 5,000")


def test_a_handset_that_sends_an_mo_is_online_for_online_after_mo_seconds_then_follows_its_model_again() -> None:
    """Found by a tester: a handset that had just sent an MO was still "absent" for the reply the ESME sent
    two seconds later, and that reply waited hours for the offline spell to end."""
    pool = HandsetPool(model(0.5, online_after_mo=600.0), seed=3, name="uk")
    plain = HandsetPool(model(0.5, online_after_mo=600.0), seed=3, name="uk")  # the same world without the MO
    number = _offline_now(pool, T0)
    spell_end = plain.next_online(number, T0)
    assert spell_end is not None and spell_end > T0
    assert pool.mo_sent(number, T0) is True  # it was absent: the caller alerts what waits for it
    assert pool.is_online(number, T0) and pool.page(number, T0 + 1.0) == (True, T0 + 1.0)
    assert pool.next_online(number, T0 + 599.0) == T0 + 599.0
    later = T0 + 600.0
    assert pool.is_online(number, later) == plain.is_online(number, later)
    assert pool.next_online(number, later) == plain.next_online(number, later)
    assert pool.mo_sent(number, T0 + 10.0) is False  # attached already: nothing to alert


def test_an_mo_from_a_number_with_a_rule_or_a_control_api_switch_changes_nothing() -> None:
    always_off = NumberRule(numbers=("447700900300",), offline=math.inf)
    pool = HandsetPool(model(0.5, online_after_mo=600.0), (always_off,), seed=3, name="uk")
    assert pool.mo_sent("447700900300", T0) is False and not pool.is_online("447700900300", T0)
    forced = _offline_now(pool, T0)
    pool.set_online(forced, False, T0)
    assert pool.mo_sent(forced, T0) is False and not pool.is_online(forced, T0)


def test_online_after_mo_zero_keeps_the_model() -> None:
    pool = HandsetPool(model(0.5, online_after_mo=0.0), seed=3, name="uk")
    number = _offline_now(pool, T0)
    assert pool.mo_sent(number, T0) is False and not pool.is_online(number, T0)


def test_an_mo_after_an_attempt_paged_the_handset_counts_as_a_switch_on_for_that_attempt() -> None:
    pool = HandsetPool(model(0.5, online_after_mo=600.0), seed=3, name="uk")
    number = _offline_now(pool, T0)
    pool.mo_sent(number, T0 + 2.0)
    assert pool.switched_on_after(number, T0) and not pool.switched_on_after(number, T0 + 2.0)
