"""A seeded world gives each message the same fate however traffic interleaves (smsc.core.draws).

Before, every attempt drew from one ``random.Random`` in event order: submitting the same messages at another
pace let retry timers take their draws between the submits, and tester runs saw 29 of 400 final states differ.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from smsc.config import AutoReply, Distribution
from smsc.core.draws import KeyedDraws
from tests.unit.test_smsc_support import Harness, carrier, make_config, outcome_for, rule

N = 120


def test_the_same_seed_message_and_index_give_the_same_numbers() -> None:
    a, b = KeyedDraws(7), KeyedDraws(7)
    first = [a.attempt("0000002A", 0).random() for _ in range(1)] + [a.random() for _ in range(4)]
    again = [b.attempt("0000002A", 0).random()] + [b.random() for _ in range(4)]
    assert first == again
    assert len(set(first)) == 5
    # Pointing elsewhere and back starts the same sequence again.
    a.attempt("0000002B", 0).random()
    assert [a.attempt("0000002A", 0).random() for _ in range(1)][0] == first[0]


def test_another_seed_message_index_or_purpose_gives_other_numbers() -> None:
    base = KeyedDraws(7).attempt("1", 0).random()
    others = {
        KeyedDraws(8).attempt("1", 0).random(),
        KeyedDraws(7).attempt("2", 0).random(),
        KeyedDraws(7).attempt("1", 1).random(),
        KeyedDraws(7).reply("1").random(),
        KeyedDraws(-7).attempt("1", 0).random(),
        KeyedDraws(10**40).attempt("1", 0).random(),
    }
    assert base not in others and len(others) == 6


def test_the_numbers_are_uniform_in_the_unit_interval() -> None:
    draws = KeyedDraws(1)
    values: list[float] = []
    for n in range(2000):
        draws.attempt(str(n), n % 3)
        values.extend(draws.random() for _ in range(3))
    assert all(0.0 <= v < 1.0 for v in values)
    mean = sum(values) / len(values)
    assert abs(mean - 0.5) < 0.02  # 6,000 draws: standard error 0.0037
    tenths = [0] * 10
    for v in values:
        tenths[int(v * 10)] += 1
    assert min(tenths) > 480 and max(tenths) < 720  # about 600 each


def _mixed_world(seed: int | None = 7) -> Any:
    """A carrier whose attempts mostly depend on chance: a mix with retries and a random latency."""
    config = make_config(carrier(outcomes=(
        outcome_for("delivered", 0.5), outcome_for("busy", 0.3), outcome_for("unknown_subscriber", 0.2),
    ), retry=(5.0, 10.0, 20.0)))
    config = replace(config, simulation=replace(config.simulation, seed=seed),
                     topology=replace(config.topology, carriers=tuple(
                         replace(c, latency=Distribution(kind="uniform", low=0.5, high=4.0))
                         for c in config.topology.carriers)))
    return config


def _fates(config: Any, pace: float, rng_seed: int) -> dict[str, tuple[Any, ...]]:
    """Submit N messages ``pace`` simulated seconds apart, run the world an hour on, and return each
    message's final state and attempts (outcome, seconds after its submit)."""
    h = Harness(config, seed=rng_seed)
    ids = []
    for n in range(N):
        ids.append(h.submit_ok(f"4477009{n:05d}", f"message {n}", registered_delivery=1))
        if pace:
            h.advance(pace)
    h.advance(3600.0)
    fates = {}
    for message_id in ids:
        msg = h.smsc.message(message_id)
        assert msg is not None
        fates[message_id] = (msg.state, tuple((a.outcome, round(a.time - msg.submit_time, 6))
                                              for a in msg.attempts))
    return fates


def test_a_seeded_world_gives_each_message_the_same_fate_at_another_pace() -> None:
    config = _mixed_world()
    at_once = _fates(config, 0.0, rng_seed=1)
    paced = _fates(config, 0.7, rng_seed=1)  # retries and outcomes now fall between the submits
    assert paced == at_once
    states = [fate[0] for fate in at_once.values()]
    assert len(set(states)) == 2  # delivered and undeliverable both came up: chance was at work
    assert any(len(fate[1]) > 1 for fate in at_once.values())  # and retries


def test_the_fate_follows_the_seed_not_the_injected_rng() -> None:
    config = _mixed_world()
    assert _fates(config, 0.3, rng_seed=1) == _fates(config, 0.3, rng_seed=2)
    other = _mixed_world(seed=8)
    assert _fates(other, 0.3, rng_seed=1) != _fates(config, 0.3, rng_seed=1)


def test_without_a_seed_attempts_draw_from_the_shared_stream() -> None:
    h = Harness(_mixed_world(seed=None), seed=3)
    assert h.smsc.machine.keyed is None and h.smsc.mo.keyed is None
    # Two runs on identically seeded streams still agree (the stream is the only chance).
    assert _fates(_mixed_world(seed=None), 0.0, rng_seed=3) == _fates(_mixed_world(seed=None), 0.0, rng_seed=3)


def test_auto_replies_come_to_the_same_messages_at_another_pace() -> None:
    answer = AutoReply(text="ok", probability=0.5, delay=Distribution(kind="uniform", low=1.0, high=30.0))
    config = make_config(carrier(rules=(rule(prefixes=("4477009",), auto_reply=answer),)))

    def replied(pace: int) -> list[tuple[str, float]]:
        """(handset, seconds from its MT's submit to its reply's arrival, to the whole second) for every
        reply, the world stepped a second at a time throughout so that both runs see the same grid."""
        h = Harness(config)
        sent: dict[str, float] = {}
        seen: list[tuple[str, float]] = []

        def step() -> None:
            h.advance(1.0)
            seen.extend((mo.source.addr, h.clock.now() - sent[mo.source.addr]) for mo in h.take() if mo.kind == "mo")

        for n in range(60):
            number = f"4477009{n:05d}"
            h.submit_ok(number, f"question {n}")
            sent[number] = h.clock.now()
            for _ in range(pace):
                step()
        for _ in range(60):
            step()
        return sorted(seen)

    at_once, paced = replied(0), replied(3)
    assert at_once == paced
    assert 10 < len(at_once) < 50  # about half answered
    assert len({delay for _, delay in at_once}) > 5  # at random delays
