"""A carrier's counters (:meth:`smsc.core.carrier.Carrier.counters`): every attempt it decides is counted once, by
the kind of its outcome, on the fast path for a plain number as on the general path (tester 58: ``GET
/api/carriers`` documented counters that did not exist)."""

from __future__ import annotations

import random
from collections import Counter

from smsc.config import CarrierConfig, Distribution, HandsetConfig, load_config, outcome_for
from smsc.core.carrier import Carrier
from smsc.core.routing import build_world

T0 = 1_700_000_000.0
KINDS = ("delivered", "absent", "temporary", "undeliverable", "rejected", "accepted")


def test_a_new_carrier_has_every_counter_at_zero() -> None:
    carrier = Carrier(CarrierConfig(name="test"))
    assert carrier.counters() == dict.fromkeys(("attempts", *KINDS), 0)


def test_attempts_answered_on_the_fast_path_for_plain_numbers_are_counted() -> None:
    # One constant outcome, every handset online, no rules: Carrier.attempt answers without paging or drawing.
    carrier = Carrier(CarrierConfig(name="fast", latency=Distribution(kind="fixed", value=0.0),
                                    handsets=HandsetConfig(online_probability=1.0)), seed=1)
    assert carrier._sole is not None  # (the path this test is about)
    rng = random.Random(1)
    for i in range(25):
        assert carrier.attempt(str(447000000000 + i), T0, rng).kind == "delivered"
    counters = carrier.counters()
    assert counters == {"attempts": 25, "delivered": 25, "absent": 0, "temporary": 0, "undeliverable": 0,
                        "rejected": 0, "accepted": 0}
    carrier.handsets.opt_out("447000000003")  # no longer plain: the general path, its outcome counted there
    assert carrier.attempt("447000000003", T0, rng).kind == "rejected"
    assert carrier.counters() == {**counters, "attempts": 26, "rejected": 1}


def test_counters_match_the_outcomes_the_carrier_gave_on_the_general_path() -> None:
    mix = (outcome_for("delivered", 60.0), outcome_for("absent_subscriber", 10.0), outcome_for("busy", 10.0),
           outcome_for("unknown_subscriber", 10.0), outcome_for("barred", 10.0),
           outcome_for("read_by_customer_service", 5.0))
    carrier = Carrier(CarrierConfig(name="mixed", outcomes=mix, handsets=HandsetConfig(online_probability=0.9)),
                      seed=3)
    rng = random.Random(2)
    given = Counter(carrier.attempt(str(447000000000 + i), T0 + i, rng).kind for i in range(2000))
    assert set(given) == set(KINDS)  # (every kind came, so every counter is checked)
    assert carrier.counters() == {"attempts": 2000, **{kind: given[kind] for kind in KINDS}}


def test_the_default_worlds_carriers_count_only_their_own_attempts() -> None:
    world = build_world(load_config(), random.Random(0))
    rng = random.Random(1)
    for number in ("447700900123", "447700900500", "447700900600", "447700900700", "12125550100"):
        carrier = world.route(number)
        assert carrier is not None
        carrier.attempt(number, T0, rng)
    counters = {name: carrier.counters() for name, carrier in world.carriers.items()}
    assert {name: c["attempts"] for name, c in counters.items()} == {"britmobile": 3, "thames": 1, "liberty": 1}
    assert (counters["britmobile"]["delivered"], counters["britmobile"]["undeliverable"],
            counters["britmobile"]["rejected"]) == (1, 1, 1)
