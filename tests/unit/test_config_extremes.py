"""Tester 156's config findings: values check-config called valid that then failed serve with a traceback (a
lognormal shape whose draws overflow, an online_probability too small to leave anything of 1 - p), or made a
silently wrong world (weights adding up to infinity, a keyword in two lists, a carrier serving no number), and
a character YAML refuses reported without its line."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from smsc.cli import main
from smsc.config import LOGNORMAL_SIGMA_MAX, Distribution, HandsetConfig, check_config, load_config
from smsc.core.handsets import HandsetPool

ACCOUNT = "accounts: [{system_id: a, password: b}]\n"


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def carrier(extra: str) -> str:
    return ACCOUNT + "topology:\n  carriers:\n    - name: uk\n      prefixes: ['44']\n" + textwrap.indent(
        textwrap.dedent(extra), "      ")


@pytest.mark.parametrize(("extra", "expected"), [
    ("latency: {distribution: lognormal, median: 1s, sigma: 1000}\n",
     f"topology.carriers[0].latency.sigma: expected a number from 0 to {LOGNORMAL_SIGMA_MAX:g}, got 1000"),
    ("handsets: {online_probability: 0.5, offline_period: {distribution: lognormal, median: 10m, sigma: 38}}\n",
     f"topology.carriers[0].handsets.offline_period.sigma: expected a number from 0 to {LOGNORMAL_SIGMA_MAX:g}, "
     "got 38"),
    ("handsets: {online_probability: 0.5, offline_period: {distribution: lognormal, median: 1e-300, p95: 3h}}\n",
     "topology.carriers[0].handsets.offline_period.p95: expected a duration at most 14000000 times the median "
     "(1e-300 s), got '3h'"),
], ids=["latency-sigma", "offline-sigma", "tiny-median"])
def test_a_lognormal_shape_whose_draws_would_overflow_is_a_config_error(
        tmp_path: Path, extra: str, expected: str) -> None:
    # Tester 156: OverflowError from math.exp at start (offline_period), in a submit (latency: the connection was
    # closed and the message stayed ENROUTE for good) and in every GET /api/carriers (duplicate_delay).
    path = write(tmp_path, carrier(extra))
    assert check_config(path) == [f"{path}: {expected}"]


def test_the_largest_lognormal_shape_allowed_draws_finite_durations() -> None:
    dist = Distribution(kind="lognormal", median=1.0, sigma=LOGNORMAL_SIGMA_MAX)
    rng = random.Random(7)
    assert all(dist.sample(rng) < float("inf") for _ in range(1000))
    assert dist.quantile(1.0 - 2.0 ** -53) < float("inf") and dist.expected() < float("inf")


def test_serve_refuses_a_lognormal_shape_that_overflowed_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, carrier(
        "handsets: {online_probability: 0.5, offline_period: {distribution: lognormal, median: 10m, sigma: 38}}\n"))
    assert main(["serve", "-c", str(path), "--store", "memory", "--port", "0", "--http-port", "0"]) == 2
    err = capsys.readouterr().err
    assert "offline_period.sigma: expected a number from 0 to 10" in err and "Traceback" not in err


def test_an_online_probability_too_small_to_leave_a_share_online_is_always_offline() -> None:
    # Tester 156: 1 - 1e-17 is 1.0 exactly; the pool's 0 < p < 1 passed it to cycle_length, which refused a share
    # of 1.0: a ValueError traceback at start.
    pool = HandsetPool(HandsetConfig(online_probability=1e-17), seed=1)
    assert not pool.always_online
    assert not pool.is_online("447700900123", 0.0) and not pool.is_online("447700900123", 86400.0)


def test_serve_starts_with_an_online_probability_of_1e_17(tmp_path: Path) -> None:
    path = write(tmp_path, carrier("handsets: {online_probability: 1e-17}\n"))
    load_config(path)  # valid: the same config the pool above got
    assert check_config(path) == []


def test_outcome_weights_adding_up_to_infinity_are_a_config_error(tmp_path: Path) -> None:
    # Tester 156: two weights of 1e308 added up to inf, and every draw was the last outcome (20 of 20 UNDELIV).
    path = write(tmp_path, carrier(
        "outcomes: [{cause: delivered, weight: 1e308}, {cause: unknown_subscriber, weight: 1e308}]\n"))
    assert check_config(path) == [
        f"{path}: topology.carriers[0].outcomes: expected weights adding up to more than 0 and less than 1e308 (they "
        "add up to inf), got a list"]


@pytest.mark.parametrize(("extra", "expected"), [
    ("handsets: {opt_in_keywords: [START, STOP]}\n",
     "topology.carriers[0].handsets.opt_in_keywords: expected keywords not already in opt_out_keywords ('STOP' is), "
     "got a list"),
    ("handsets: {help_keywords: [info, unsubscribe]}\n",
     "topology.carriers[0].handsets.help_keywords: expected keywords not already in opt_out_keywords "
     "('UNSUBSCRIBE' is), got a list"),
], ids=["opt-in", "help"])
def test_a_keyword_in_two_lists_is_a_config_error(tmp_path: Path, extra: str, expected: str) -> None:
    # Tester 156: STOP under opt_in_keywords still opted the handset out, silently (opt-out is checked first).
    path = write(tmp_path, carrier(extra))
    assert check_config(path) == [f"{path}: {expected}"]


def test_check_config_notes_a_carrier_that_serves_no_number(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Tester 156: accepted without a word; every submit to it was then refused.
    path = write(tmp_path, ACCOUNT + "topology:\n  carriers: [{name: uk, prefixes: ['44']}, {name: a}, "
                                     "{name: b}]\n  routes: [{prefix: '1', carrier: b}]\n")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().err
    assert (f"{path}: note: topology.carriers[1] ('a') serves no number: it has no prefixes and no topology.routes "
            "entry names it") in out
    assert "carriers[2]" not in out and "carriers[0]" not in out


def test_a_character_yaml_refuses_is_reported_at_its_line_and_column(tmp_path: Path) -> None:
    # Tester 156: "unacceptable character #x0000 ... in "<unicode string>", position 4471", on two lines, the only
    # YAML error without its line.
    path = write(tmp_path, ACCOUNT + "server:\n  port: 27\x0075\n")
    assert check_config(path) == [
        f"{path}: line 3, column 11: a character YAML does not allow (U+0000): special characters are not allowed"]
