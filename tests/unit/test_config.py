"""YAML configuration: the shipped files load, and every invalid value is reported with file, key path and
what was expected."""

from __future__ import annotations

import math
import os
import random
import re
import textwrap
from pathlib import Path

import pytest

from smsc.config import (
    BIND_TYPES,
    CAUSES,
    Config,
    ConfigError,
    Distribution,
    check_config,
    config_notes,
    load_config,
    parse_duration,
)
from smsc.core.routing import build_world
from smsc.smpp.constants import CommandStatus

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    errors = check_config(path)
    assert errors, "expected the file to be invalid"
    return errors


# --------------------------------------------------------------------------------------- shipped files


@pytest.mark.parametrize("name", ["default.yaml", "example.yaml", "bench.yaml"])
def test_shipped_config_files_load(name: str) -> None:
    path = ROOT / "config" / name
    assert check_config(path) == []
    config = load_config(path)
    assert config.source == str(path)
    assert config.topology.carriers


def test_config_default_is_a_relative_symlink_to_the_bundled_default() -> None:
    link = ROOT / "config" / "default.yaml"
    assert link.is_symlink()
    assert os.readlink(link) == "../smsc/data/default.yaml"
    assert link.resolve() == (ROOT / "smsc" / "data" / "default.yaml").resolve()


def test_no_path_loads_the_bundled_default() -> None:
    bundled = load_config()
    assert bundled.source.startswith("bundled default (") and bundled.source.endswith("default.yaml)")
    from_file = load_config(ROOT / "config" / "default.yaml")
    assert bundled.topology == from_file.topology
    assert bundled.accounts == from_file.accounts


def test_store_final_retention_is_read_and_is_what_the_core_keeps_final_messages_for(tmp_path: Path) -> None:
    # Tester 41: a final message stayed one day (the SQLite file growing all that time), not configurable.
    import random

    from smsc.core.clock import FakeClock
    from smsc.core.smsc import Smsc
    from smsc.core.store.memory import MemoryStore

    path = tmp_path / "c.yaml"
    text = (ROOT / "config" / "default.yaml").read_text().replace("\nstore:\n", "\nstore:\n  final_retention: 2h\n")
    path.write_text(text)
    config = load_config(path)
    assert config.store.final_retention == 7200.0
    assert Smsc(config, MemoryStore(), FakeClock(0.0), random.Random(1)).final_retention == 7200.0
    assert load_config().store.final_retention == 86_400.0


def test_default_config_has_the_test_account_for_every_bind_type() -> None:
    config = load_config()
    account = config.account("test")
    assert account is not None
    assert account.password == "test"
    assert account.bind_types == BIND_TYPES
    assert config.account("nobody") is None


def test_default_config_is_a_small_world_of_three_carriers_in_two_countries_with_a_short_code() -> None:
    topology = load_config().topology
    assert len(topology.carriers) == 3
    countries = {p[:2] if p.startswith("44") else p[:1] for c in topology.carriers for p in c.prefixes}
    assert countries == {"44", "1"}
    assert any(r.prefix == "88123" and r.system_id == "test" for r in topology.mo_routes)
    assert any(r.prefix == "" for r in topology.routes), "a catch-all route"


def test_bench_config_delivers_everything_at_once() -> None:
    config = load_config(ROOT / "config" / "bench.yaml")
    assert config.account("perf") is not None and config.account("perf").password == "perf"
    (carrier,) = config.topology.carriers
    assert carrier.prefixes == ("",)
    assert carrier.handsets.online_probability == 1.0
    assert [o.kind for o in carrier.outcomes] == ["delivered"]
    assert carrier.latency.quantile(0.99) == 0.0
    assert carrier.capacity is None


def test_an_empty_file_is_refused_for_want_of_an_account(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.errors == [
        f"{path}: accounts: expected at least one account (a list of mappings with system_id and password), "
        "got null"
    ]


def test_only_an_account_gives_every_other_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "accounts: [{system_id: a, password: b}]"))
    assert config.server.port == 2775 and config.server.system_id == "smsc"
    assert config.server.year_pivot == 38  # SMPP 3.4 Appendix C's recommended rollover, "xx38"
    assert config.server.oversized_short_message == "reject"
    # 8 characters: what an ESME bound with SMPP 3.3 may be given (SMPP 3.4 section 3.4; tester9 finding 3).
    assert config.server.message_id.format == "hex" and config.server.message_id.length == 8
    assert config.store.kind == "sqlite" and config.store.synchronous == "NORMAL"
    assert config.simulation.default_validity == 172800.0
    (carrier,) = config.topology.carriers
    assert carrier.name == "default" and carrier.prefixes == ("",)


def test_values_are_read_with_their_units_and_types(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
        server:
          port: 0
          session_init_timer: 1m30s
          enquire_link_timer: 0.5
          message_id: {format: decimal, length: 10, uppercase: true}
        accounts:
          - {system_id: 12345, password: 0042, allowed_ips: ["10.1.2.3/8"], throughput: 30,
             bind_types: [receiver], source_addresses: ["Shop.*"]}
        store: {kind: memory, synchronous: full}
        simulation: {seed: 7, default_validity: 2d, max_validity: 10d, retry_schedule: [30, 2m, 250ms]}
        topology:
          country_code: 1
          national_prefix: 1
          carriers:
            - name: us
              prefixes: ["+1", 44]
              capacity: 2.5
              retry_schedule: [10s]
              latency: {distribution: uniform, min: 1s, max: 3s, cap: 2s}
              outcomes:
                - {cause: delivered, weight: 3}
                - {cause: call_barred, weight: 1, err: 9, network_error: {type: 3, code: 0x22}}
                - {cause: system_failure, weight: 1, network_error: null, kind: undeliverable}
              rules:
                - {numbers: ["12125550100"], submit: {status: 0x58, delay: 2s}}
                - {prefixes: ["1212555"], outcome: {cause: memory_full}, offline: always}
        """))
    assert config.server.port == 0
    assert config.server.session_init_timer == 90.0
    assert config.server.enquire_link_timer == 0.5
    assert config.server.message_id.format == "decimal" and config.server.message_id.uppercase
    (account,) = config.accounts
    assert account.system_id == "12345" and account.password == "0042"  # numbers written as text keep zeros
    assert account.allowed_ips == ("10.0.0.0/8",)
    assert account.bind_types == frozenset({"receiver"})
    assert account.throughput == 30.0
    assert config.store.synchronous == "FULL"
    assert config.simulation.seed == 7
    assert config.simulation.retry_schedule == (30.0, 120.0, 0.25)
    topology = config.topology
    assert (topology.country_code, topology.national_prefix) == ("1", "1")
    (carrier,) = topology.carriers
    assert carrier.prefixes == ("1", "44")
    assert carrier.capacity == 2.5 and carrier.retry_schedule == (10.0,)
    assert carrier.latency == Distribution(kind="uniform", low=1.0, high=3.0, cap=2.0)
    delivered, barred, failure = carrier.outcomes
    assert (delivered.kind, delivered.weight, delivered.err, delivered.network_error_code) == (
        "delivered", 3.0, 0, None)
    assert (barred.kind, barred.err, barred.network_error_code) == ("undeliverable", 9, b"\x03\x00\x22")
    assert (failure.kind, failure.err, failure.network_error_code) == ("undeliverable", 34, None)
    exact, prefix = carrier.rules
    assert exact.submit is not None and exact.submit.status == CommandStatus.ESME_RTHROTTLED
    assert exact.submit.delay == 2.0
    assert prefix.outcome is not None and prefix.outcome.cause == "memory_full" and prefix.offline == math.inf


def test_yaml_1_1_surprises_do_not_happen(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
        accounts: [{system_id: "NO", password: "on"}]
        topology:
          carriers:
            - name: "no"
              prefixes: ["*"]
              handsets: {opt_out_keywords: [STOP, NO, off], opt_in_keywords: [yes, ON]}
        """))
    assert config.accounts[0].system_id == "NO"
    handsets = config.topology.carriers[0].handsets
    assert handsets.opt_out_keywords == ("STOP", "NO", "OFF")
    assert handsets.opt_in_keywords == ("YES", "ON")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("1.5", 1.5), ("250ms", 0.25), ("30s", 30.0), ("5m", 300.0), ("5min", 300.0),
     ("2h", 7200.0), ("3d", 259200.0), ("1h30m", 5400.0), ("1h 30m 15s", 5415.0), ("fast", None),
     ("", None), ("5x", None), ("-1s", None), ("h", None),
     # Tester 40: "1 sec" was taken and "5 minutes" refused; words are taken, singular or plural.
     ("5 minutes", 300.0), ("1 minute", 60.0), ("90 seconds", 90.0), ("1 sec", 1.0), ("2 hours 30 mins", 9000.0),
     ("1 day", 86400.0), ("3 days", 259200.0), ("2 hrs", 7200.0), ("500 milliseconds", 0.5), ("5 Minutes", 300.0), ("2H", 7200.0), ("5 weeks", None),
     ("5 mo", None),
     # Tester 167: units given twice or out of order were added up ("1d1d" two days, "1m1h" 3,660 s).
     ("1d1d", None), ("1m1h", None), ("30s 1m", None), ("1h 1h", None), ("1m30s500ms", 90.5)],
)
def test_duration_text(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_every_cause_has_a_valid_kind() -> None:
    assert {kind for kind, _, _ in CAUSES.values()} == {
        "delivered", "absent", "temporary", "undeliverable", "rejected", "accepted"}


# -------------------------------------------------------------------------------------------- errors


def test_an_mo_route_number_and_a_prefix_of_the_same_digits_are_two_routes(tmp_path: Path) -> None:
    """(tester 186) "88123 itself goes to test, 881230-881239 to shop" is a normal short-code split: refused
    before as the same number routed twice."""
    config = load_config(write(tmp_path, """
        accounts: [{system_id: test, password: test}, {system_id: shop, password: shop}]
        topology:
          mo_routes:
            - {number: "88123", system_id: test}
            - {prefix: "88123", system_id: shop}
        """))
    router = build_world(config, random.Random(1))
    assert [router.mo_target(n) for n in ("88123", "881234", "8812")] == ["test", "shop", None]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("server: {port: 99999}", "server.port: expected an integer from 0 to 65535, got 99999"),
        ("server: {port: '2775'}", "server.port: expected an integer from 0 to 65535, got '2775'"),
        ("server: {system_id: a_very_long_system_id}",
         "server.system_id: expected text of 1 to 15 characters, got 'a_very_long_system_id'"),
        ("server: {window: 0}", "server.window: expected an integer from 1 to 10000, got 0"),
        ("server: {year_pivot: 100}", "server.year_pivot: expected an integer from 0 to 99, got 100"),
        ("server: {year_pivot: '70'}", "server.year_pivot: expected an integer from 0 to 99, got '70'"),
        ("server: {oversized_short_message: split}",
         "server.oversized_short_message: expected one of 'reject', 'accept', got 'split'"),
        ("server: {enquire_link_timer: soon}", "server.enquire_link_timer: expected a duration >= 0"),
        ("server: {response_timer: 0}", "server.response_timer: expected a duration > 0"),
        ("server: {message_id: {format: octal}}",
         "server.message_id.format: expected one of 'hex', 'decimal', got 'octal'"),
        ("server: {message_id: {length: 100}}", "server.message_id.length: expected an integer from 4 to 64"),
        ("server: {max_command_length: 10}", "server.max_command_length: expected an integer from 64"),
        ("server: {tls: {port: 3775, certfile: nowhere.pem, keyfile: nowhere.key}}",
         "server.tls.certfile: expected an existing file"),
        ("server: {tls: {port: 3775}}", "server.tls.certfile: expected a file path (PEM), got nothing"),
        ("server: [1, 2]", "server: expected a mapping with the keys host, port"),
        ("accounts: {system_id: test}", "accounts: expected a list of accounts"),
        ("accounts: [{password: x}]",
         "accounts[0].system_id: expected a system_id of 1 to 15 characters, got nothing (the key is missing)"),
        ("accounts: [{system_id: test, password: toolongpassword}]",
         "accounts[0].password: expected a password of at most 8 characters (SMPP 3.4 section 4.1.1), got 15 "
         "characters (not shown)"),
        ("accounts: [{system_id: test, password: x, bind_types: [transmiter]}]",
         "accounts[0].bind_types[0]: expected one of 'receiver', 'transceiver', 'transmitter' "
         "(did you mean 'transmitter'?), got 'transmiter'"),
        ("accounts: [{system_id: test, password: x, bind_types: []}]",
         "accounts[0].bind_types: expected at least one bind type, got an empty list"),
        ("accounts: [{system_id: test, password: x, max_binds: 0}]",
         "accounts[0].max_binds: expected an integer from 1 to 100000000, got 0"),
        ("accounts: [{system_id: test, password: x, allowed_ips: ['10.0.0.0/33']}]",
         "accounts[0].allowed_ips[0]: expected an IP network in CIDR form"),
        ("accounts: [{system_id: test, password: x, throughput: 0}]",
         "accounts[0].throughput: expected a number > 0, got 0"),
        ("accounts: [{system_id: test, password: x, source_addresses: ['(']}]",
         "accounts[0].source_addresses[0]: expected a valid regular expression"),
        ("accounts: [{system_id: a, password: x}, {system_id: a, password: y}]",
         "accounts[1].system_id: expected a system_id not used by accounts[0], got 'a'"),
        ("store: {kind: redis}", "store.kind: expected one of 'sqlite', 'memory', got 'redis'"),
        ("store: {synchronous: half}", "store.synchronous: expected 'NORMAL' or 'FULL', got 'half'"),
        ("store: {max_waiting_messages: 0}", "store.max_waiting_messages: expected an integer from 1 to 1000000000, got 0"),
        ("store: {final_retention: 0}", "store.final_retention: expected a duration > 0"),
        ("simulation: {time_scale: 0}", "simulation.time_scale: expected a number from 0.001 to 86400, got 0"),
        ("simulation: {time_scale: 1e-9}",
         "simulation.time_scale: expected a number from 0.001 to 86400, got 1e-09"),
        ("simulation: {time_scale: 100000000}",
         "simulation.time_scale: expected a number from 0.001 to 86400, got 100000000"),
        ("simulation: {seed: lucky}", "simulation.seed: expected an integer from 0 to 18446744073709551615, got 'lucky'"),
        ("simulation: {default_validity: 10d, max_validity: 1d}",
         "simulation.max_validity: expected a duration >= default_validity (864000 s), got '1d'"),
        ("simulation: {retry_schedule: []}",
         "simulation.retry_schedule: expected a non-empty list of durations > 0"),
        ("simulation: {retry_schedule: [1m, 0]}",
         "simulation.retry_schedule[1]: expected a duration > 0"),
        ("http: {enabled: yes}", "http.enabled: expected true or false, got 'yes'"),
        ("topology: {country_code: '044'}", "topology.country_code: expected a country code not starting with 0"),
        ("topology: {country_code: UK}", "topology.country_code: expected a country code: 1 to 3 digits"),
        ("topology: {national_prefix: x}", "topology.national_prefix: expected a national (trunk) prefix"),
        ("topology: {no_route: drop}", "topology.no_route: expected one of 'reject', 'undeliverable', got 'drop'"),
        ("topology: {carriers: []}", "topology.carriers: expected a list of at least one carrier, got an empty list"),
        ("topology: {carriers: [{prefixes: ['*']}]}",
         "topology.carriers[0].name: expected a carrier name (1 to 64 characters), got nothing"),
        # (tester 146: an 84-character name was refused without the limit)
        ("topology: {carriers: [{name: " + "c" * 65 + ", prefixes: ['*']}]}",
         "topology.carriers[0].name: expected a carrier name (1 to 64 characters), got 'cccc"),
        ("topology: {carriers: [{name: a, prefixes: ['44', abc]}]}",
         "topology.carriers[0].prefixes[1]: expected a number prefix: digits as text"),
        # Tester 31: an empty prefix made the carrier the catch-all; numbers and prefixes in national form
        # checked OK and never matched (traffic is matched in E.164 form).
        ("topology: {carriers: [{name: a, prefixes: ['1', '']}]}",
         "topology.carriers[0].prefixes[1]: expected a number prefix: digits as text such as '4477', or '*' for "
         "any, got ''"),
        ("topology: {carriers: [{name: a, prefixes: ['07700']}]}",
         "topology.carriers[0].prefixes[0]: expected a number prefix: digits as text such as '4477', or '*' for "
         "any in E.164 form, country code first (not starting with 0"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['07700900123'], opted_out: true}]}]}",
         "topology.carriers[0].rules[0].numbers[0]: expected an E.164 number: 7 to 15 digits as text such as "
         "'447700900123' in E.164 form"),
        # Tester 31: a rule number of fewer than 7 digits checked OK and could never match a handset.
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['44770'], opted_out: true}]}]}",
         "topology.carriers[0].rules[0].numbers[0]: expected an E.164 number: 7 to 15 digits as text such as "
         "'447700900123', got '44770'"),
        ("topology: {routes: [{prefix: '0', carrier: uk}]}", "topology.routes[0].prefix: expected a number prefix"),
        ("topology: {mo_routes: [{number: '07700900000', system_id: a}]}",
         "topology.mo_routes[0].number: expected a short code of up to 6 digits, or a number in E.164 form"),
        # Tester 38: a prefix in national form checked OK too, and never matched.
        ("topology: {mo_routes: [{prefix: '07700900', system_id: a}]}",
         "topology.mo_routes[0].prefix: expected a short code of up to 6 digits, or a number prefix in E.164 form"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: {distribution: gaussian}}]}",
         "topology.carriers[0].latency.distribution: expected one of 'fixed', 'uniform', 'exponential', "
         "'lognormal', got 'gaussian'"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: {distribution: exponential, mean: fast}}]}",
         "topology.carriers[0].latency.mean: expected a duration > 0 (seconds, or text such as '30s', '5m', "
         "'1h30m', '3d', '90 seconds', '5 minutes'; each unit once, the largest first), got 'fast'"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: {distribution: exponential}}]}",
         "topology.carriers[0].latency.mean: expected a duration"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: {distribution: uniform, min: 5, max: 1}}]}",
         "topology.carriers[0].latency.max: expected a duration >= min (5 s), got 1"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: {distribution: lognormal, median: 3}}]}",
         "topology.carriers[0].latency.p95: expected p95 (a duration) or sigma (a number)"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: {distribution: lognormal, median: 3, "
         "p95: 1}}]}", "topology.carriers[0].latency.p95: expected a duration >= median (3 s), got 1"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: {distribution: fixed, value: 1, mean: 2}}]}",
         "topology.carriers[0].latency.mean: expected a known key"),
        # Tester 179: a cap below the shortest draw passed, and every latency was the cap.
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: {distribution: uniform, min: 5, max: 10, "
         "cap: 2}}]}", "topology.carriers[0].latency.cap: expected a duration >= min (5 s): a cap below it makes "
         "every draw the cap, got 2"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: {distribution: fixed, value: 2, cap: 1}}]}",
         "topology.carriers[0].latency.cap: expected a duration >= value (2 s)"),
        # (tester 181: an exponential of mean 4 s with a cap of 1 ms passed)
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: {distribution: exponential, mean: 4, "
         "cap: 0.001}}]}", "topology.carriers[0].latency.cap: expected a duration >= the median, mean x ln 2 "
         "(2.773 s): a cap below it makes most draws the cap, got 0.001"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: {distribution: lognormal, median: 10, "
         "p95: 20, cap: 1}}]}", "topology.carriers[0].latency.cap: expected a duration >= median (10 s): a cap "
         "below it makes most draws the cap, got 1"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], latency: [1]}]}",
         "topology.carriers[0].latency: expected a duration, or a mapping with 'distribution'"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], outcomes: [{cause: delivred, weight: 1}]}]}",
         "topology.carriers[0].outcomes[0].cause: expected a cause (did you mean 'delivered'?), got 'delivred'"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], outcomes: [{cause: busy}]}]}",
         "topology.carriers[0].outcomes[0].weight: expected a number >= 0 (relative share of attempts), "
         "got nothing"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], outcomes: [{cause: busy, weight: -1}]}]}",
         "topology.carriers[0].outcomes[0].weight: expected a number >= 0, got -1"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], outcomes: [{cause: busy, weight: 0}]}]}",
         "topology.carriers[0].outcomes: expected weights adding up to more than 0"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], outcomes: [{cause: busy, weight: 1, kind: lost}]}]}",
         "topology.carriers[0].outcomes[0].kind: expected one of 'delivered', 'absent', 'temporary', "
         "'undeliverable', 'rejected', 'accepted', got 'lost'"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], outcomes: [{cause: busy, weight: 1, "
         "network_error: 70000}]}]}",
         "topology.carriers[0].outcomes[0].network_error: expected a GSM error number from 0 to 65535"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], outcomes: [{cause: busy, weight: 1, err: -3}]}]}",
         "topology.carriers[0].outcomes[0].err: expected an integer from 0 to 999999, got -3"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], capacity: 0}]}",
         "topology.carriers[0].capacity: expected a number > 0, got 0"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], receipt: {text_label: TEXT}}]}",
         "topology.carriers[0].receipt.text_label: expected 'text', 'Text' or '' (no text field)"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], receipt: {message_id: {format: base64}}}]}",
         "topology.carriers[0].receipt.message_id.format: expected one of 'hex', 'decimal'"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], handsets: {online_probability: 2}}]}",
         "topology.carriers[0].handsets.online_probability: expected a number from 0 to 1, got 2"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], handsets: {online_after_mo: -5s}}]}",
         "topology.carriers[0].handsets.online_after_mo: expected"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], handsets: {auto_reply: {delay: 1}}}]}",
         "topology.carriers[0].handsets.auto_reply: expected at least one of echo: true, text or keywords"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], handsets: {auto_reply: {echo: true, "
         "probability: 1.5}}}]}",
         "topology.carriers[0].handsets.auto_reply.probability: expected a number from 0 to 1, got 1.5"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], handsets: {auto_reply: {keywords: "
         "{'TWO WORDS': x}}}}]}",
         "topology.carriers[0].handsets.auto_reply.keywords.TWO WORDS: expected a single word"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], opt_out: {submit_status: ESME_NOPE}}]}",
         "topology.carriers[0].opt_out.submit_status: expected an SMPP command_status"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['447700900123']}]}]}",
         "topology.carriers[0].rules[0]: expected at least one of submit, outcome, offline, latency, "
         "auto_reply, opted_out, receipt, got a mapping"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{latency: 1}]}]}",
         "topology.carriers[0].rules[0].numbers: expected numbers and/or prefixes this rule applies to"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['0770 0900'], latency: 1}]}]}",
         "topology.carriers[0].rules[0].numbers[0]: expected an E.164 number: 7 to 15 digits as text"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['447700900123'], "
         "offline: sometimes}]}]}",
         "topology.carriers[0].rules[0].offline: expected 'always' or a duration > 0"),
        # (tester 89: an outcome of another kind never pages the handset: the offline said nothing)
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['447700900001'], "
         "outcome: read_by_customer_service, offline: 2m}]}]}",
         "topology.carriers[0].rules[0].offline: expected no offline with an outcome of kind 'accepted'"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['447700900001'], "
         "outcome: busy, offline: always}]}]}",
         "topology.carriers[0].rules[0].offline: expected no offline with an outcome of kind 'temporary'"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['447700900001'], "
         "outcome: unknown_subscriber, offline: sometimes}]}]}",
         "topology.carriers[0].rules[0].offline: expected 'always' or a duration > 0"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['447700900123'], "
         "outcome: unknown_subscribr}]}]}",
         "topology.carriers[0].rules[0].outcome: expected a cause (did you mean 'unknown_subscriber'?)"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['447700900123'], "
         "submit: {status: ESME_RSUBMITFAL}}]}]}",
         "topology.carriers[0].rules[0].submit.status: expected an SMPP command_status: a name such as "
         "'ESME_RSUBMITFAIL' or a number from 0 to 0xFFFFFFFF (did you mean 'ESME_RSUBMITFAIL'?), "
         "got 'ESME_RSUBMITFAL'"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['447700900123'], "
         "submit: {status: 0x100000000}}]}]}",
         "topology.carriers[0].rules[0].submit.status: expected an SMPP command_status"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['447700900123'], "
         "submit: {}}]}]}",
         "topology.carriers[0].rules[0].submit: expected a mapping with status and/or delay"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{numbers: ['1555000'], latency: 1}, "
         "{numbers: ['1555000'], latency: 2}]}]}",
         "topology.carriers[0].rules[1].numbers[0]: expected a number without another rule "
         "(already at topology.carriers[0].rules[0].numbers[0]), got '1555000'"),
        ("topology: {carriers: [{name: a, prefixes: ['44']}, {name: b, prefixes: ['1'], "
         "rules: [{numbers: ['447700900123'], latency: 0}]}]}",
         "topology.carriers[1].rules[0].numbers[0]: expected a number routed to carrier 'b', "
         "got '447700900123', which routes to 'a'"),
        ("topology: {carriers: [{name: a, prefixes: ['44'], rules: [{numbers: ['12125550100'], latency: 0}]}]}",
         "topology.carriers[0].rules[0].numbers[0]: expected a number routed to carrier 'a', "
         "got '12125550100' (no route)"),
        ("topology: {carriers: [{name: a, prefixes: ['44']}, {name: a, prefixes: ['1']}]}",
         "topology.carriers[1].name: expected a carrier name not already used at topology.carriers[0], got 'a'"),
        ("topology: {carriers: [{name: a, prefixes: ['44']}, {name: b, prefixes: ['+44']}]}",
         "topology.carriers[1].prefixes[0]: expected a prefix not already routed to 'a', got '44'"),
        ("topology: {carriers: [{name: a, prefixes: ['44']}], routes: [{prefix: '1', carrier: aa}]}",
         "topology.routes[0].carrier: expected one of the carrier names (did you mean 'a'?), got 'aa'"),
        ("topology: {carriers: [{name: a, prefixes: ['44']}], routes: [{prefix: '44', carrier: a}]}",
         "topology.routes[0].prefix: expected a prefix not already routed to 'a', got '44'"),
        ("topology: {carriers: [{name: a, prefixes: ['44']}], routes: [{carrier: a}]}",
         "topology.routes[0].prefix: expected a number prefix (digits as text, '*' = any), got nothing"),
        ("accounts: [{system_id: test, password: x}]\ntopology: {mo_routes: [{number: '88123', system_id: nobody}]}",
         "topology.mo_routes[0].system_id: expected the system_id of an account (test), got 'nobody'"),
        ("accounts: [{system_id: test, password: x}]\ntopology: {mo_routes: [{number: '88123'}]}",
         "topology.mo_routes[0].system_id: expected the system_id of an account, got nothing"),
        ("accounts: [{system_id: test, password: x}]\n"
         "topology: {mo_routes: [{number: '88123', prefix: '88', system_id: test}]}",
         "topology.mo_routes[0]: expected exactly one of number (a short code or full number) or prefix"),
        ("accounts: [{system_id: test, password: x}]\n"
         "topology: {mo_routes: [{number: '88123', system_id: test}, {number: '88123', system_id: test}]}",
         "topology.mo_routes[1].number: expected a number not already routed at topology.mo_routes[0], "
         "got '88123'"),
        ("accounts: [{system_id: test, password: x}]\n"
         "topology: {mo_routes: [{prefix: '4477', system_id: test}, {prefix: '+4477', system_id: test}]}",
         "topology.mo_routes[1].prefix: expected a prefix not already routed at topology.mo_routes[0], "
         "got '4477'"),
    ],
)
def test_an_invalid_value_is_reported_with_file_key_path_and_expectation(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    errors = errors_of(tmp_path, yaml_text + "\n")
    source = str(tmp_path / "x.yaml")
    assert all(e.startswith(source + ": ") for e in errors)
    assert any(e.startswith(f"{source}: {expected}") for e in errors), errors


@pytest.mark.parametrize("host", ["999.1.1.1", "1.2.3", "fe80::zz", "[::1]", "bad_host", "-edge", "a" * 64])
def test_a_listen_host_that_is_no_address_or_host_name_is_refused(tmp_path: Path, host: str) -> None:
    # Found by a tester: check-config said OK to 999.1.1.1, and serve then failed with "Name or service not
    # known", naming neither the key nor the value.
    for section in ("server", "http"):
        errors = errors_of(tmp_path, f"accounts: [{{system_id: test, password: x}}]\n{section}: {{host: '{host}'}}\n")
        [error] = errors
        assert error.startswith(f"{tmp_path / 'x.yaml'}: {section}.host: expected an IP address or a host name "
                                f"to listen on (for example 127.0.0.1, 0.0.0.0, ::, localhost), got '{host[:20]}")


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "::", "::1", "localhost", "smsc-1.example.com", "host."])
def test_a_listen_host_may_be_any_ip_address_or_host_name(tmp_path: Path, host: str) -> None:
    path = write(tmp_path, f"accounts: [{{system_id: test, password: x}}]\nserver: {{host: '{host}'}}\n"
                           f"http: {{host: '{host}'}}\n")
    assert check_config(path) == []


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("srever: {}", "srever: expected a known key (did you mean 'server'?), got 'srever'"),
        ("server: {prot: 2775}", "server.prot: expected a known key (did you mean 'port'?), got 'prot'"),
        ("server: {colour: blue}", "server.colour: expected a known key (one of: host, port, system_id"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], handset: {}}]}",
         "topology.carriers[0].handset: expected a known key (did you mean 'handsets'?)"),
        ("topology: {carriers: [{name: a, prefixes: ['*'], rules: [{number: ['1'], latency: 1}]}]}",
         "topology.carriers[0].rules[0].number: expected a known key (did you mean 'numbers'?)"),
    ],
)
def test_an_unknown_key_is_an_error_with_a_suggestion(tmp_path: Path, yaml_text: str, expected: str) -> None:
    errors = errors_of(tmp_path, yaml_text + "\n")
    assert any(e.startswith(f"{tmp_path / 'x.yaml'}: {expected}") for e in errors), errors


def test_every_error_is_collected_before_raising(tmp_path: Path) -> None:
    path = write(tmp_path, """
        server: {port: -1, window: 0}
        accounts: [{system_id: a, password: b}]
        store: {kind: redis}
        topology: {carriers: [{name: a, prefixes: ['*'], capacity: -2}]}
        """)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    keys = [e.split(": ")[1] for e in caught.value.errors]
    assert keys == ["server.port", "server.window", "store.kind", "topology.carriers[0].capacity"]
    assert str(caught.value) == "\n".join(caught.value.errors)


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("server:\n  port: [1\n", "line 3, column 1: expected ',' or ']'"),
        ("server: {port: 1}\n  host: x\n", "line 2, column 3: expected <block end>"),
        ("server:\n  port: 1\n  port: 2\n", "line 3, column 3: found the key 'port' twice (first at line 2)"),
        ("server:\n\tport: 1\n", "line 2, column 1: found character '\\t'"),
    ],
)
def test_a_yaml_syntax_error_names_the_line_and_column(tmp_path: Path, yaml_text: str, expected: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    (error,) = check_config(path)
    assert error.startswith(f"{path}: {expected}"), error


def test_a_top_level_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    (error,) = errors_of(tmp_path, "- 1\n")
    assert error.startswith(f"{tmp_path / 'x.yaml'}: (top level): expected a mapping with the keys server")


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    assert check_config(missing) == [f"{missing}: cannot read the file: No such file or directory"]
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"server: \xff\xfe\n")
    (error,) = check_config(binary)
    assert error.startswith(f"{binary}: expected UTF-8 text")


#: A self-signed certificate and its key, made for these tests only (nothing secret), and another key.
TLS_DIR = Path(__file__).resolve().parent / "tls"


def test_tls_files_are_found_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "smsc.pem").write_bytes((TLS_DIR / "test-cert.pem").read_bytes())
    (tmp_path / "certs" / "smsc.key").write_bytes((TLS_DIR / "test-key.pem").read_bytes())
    path = write(tmp_path, "server: {tls: {port: 3775, certfile: certs/smsc.pem, keyfile: certs/smsc.key}}\n"
                           "accounts: [{system_id: a, password: b}]\n")
    config = load_config(path)
    assert config.server.tls is not None
    assert config.server.tls.certfile == str(tmp_path / "certs" / "smsc.pem")
    assert config.server.tls.port == 3775


def test_a_password_too_long_is_refused_without_showing_it(tmp_path: Path) -> None:
    # Tester 51: the error quoted the password, which then went to logs and CI output.
    path = write(tmp_path, "accounts: [{system_id: a, password: 'sesame-opens'}]\n")
    assert check_config(path) == [f"{path}: accounts[0].password: expected a password of at most 8 characters "
                                  "(SMPP 3.4 section 4.1.1), got 12 characters (not shown)"]
    path.write_text("accounts: [{system_id: a, password: 12345678901}]\n")  # (tester 53: a number)
    assert check_config(path) == [f"{path}: accounts[0].password: expected a password of at most 8 characters "
                                  "(SMPP 3.4 section 4.1.1), got 11 characters (not shown)"]
    path.write_text("accounts: [{system_id: a, password: 01234567}]\n")  # (digits: taken as written)
    assert check_config(path) == []
    path.write_text("accounts: [{system_id: a, password: \"\u20ac\u20ac\"}]\n")  # (tester 54: no ESME can send it)
    assert check_config(path) == [f"{path}: accounts[0].password: expected a password of printable ASCII (or "
                                  "Latin-1) characters (SMPP 3.4 section 4.1.1), got other characters (not shown)"]
    path.write_text("accounts: [{system_id: a, password: \"p\u00e4sswd\"}]\n")  # (tester 55: an ESME can send it)
    assert check_config(path) == []


def test_a_tls_port_equal_to_the_plain_port_is_refused(tmp_path: Path) -> None:
    # Tester 46: check-config said OK, and serve failed with "address already in use" naming server.port.
    for name in ("test-cert.pem", "test-key.pem"):
        (tmp_path / name).write_bytes((TLS_DIR / name).read_bytes())
    path = write(tmp_path, "server: {port: 2775, tls: {port: 2775, certfile: test-cert.pem, keyfile: test-key.pem}}\n"
                           "accounts: [{system_id: a, password: b}]\n")
    assert check_config(path) == [f"{path}: server.tls.port: expected a port other than server.port (2775): the TLS "
                                  "listener is a second one, got 2775"]
    path.write_text(path.read_text().replace("port: 2775, tls: {port: 2775", "port: 0, tls: {port: 0"))
    assert check_config(path) == []  # (two ports the system chooses)


def test_an_http_port_equal_to_an_smpp_port_is_refused(tmp_path: Path) -> None:
    # Tester 47: check-config said OK to http.port equal to server.port or server.tls.port; serve then failed
    # with "address already in use", about a port only smsc itself held.
    for name in ("test-cert.pem", "test-key.pem"):
        (tmp_path / name).write_bytes((TLS_DIR / name).read_bytes())
    tls = "tls: {port: 3775, certfile: test-cert.pem, keyfile: test-key.pem}"
    path = write(tmp_path, f"server: {{host: 127.0.0.1, port: 2775, {tls}}}\nhttp: {{port: 2775}}\n"
                           "accounts: [{system_id: a, password: b}]\n")
    assert check_config(path) == [f"{path}: http.port: expected a port other than server.port (2775): the HTTP API "
                                  "is a listener of its own, got 2775"]
    path.write_text(path.read_text().replace("http: {port: 2775}", "http: {port: 3775}"))
    assert check_config(path) == [f"{path}: http.port: expected a port other than server.tls.port (3775): the HTTP "
                                  "API is a listener of its own, got 3775"]
    path.write_text(path.read_text().replace("http: {port: 3775}", "http: {host: localhost, port: 2775}"))
    assert len(check_config(path)) == 1  # (tester 51: localhost is 127.0.0.1)
    path.write_text(path.read_text().replace("host: localhost", "host: LOCALHOST").replace("host: 127.0.0.1",
                                                                                           "host: localhost"))
    assert len(check_config(path)) == 1  # (tester 53: a name in any case)
    for http_host, server_host in [("0:0:0:0:0:0:0:1", "::1"), ("::ffff:127.0.0.1", "127.0.0.1")]:  # (tester 54)
        text = path.read_text()
        text = re.sub(r"server: \{host: [^,]*,", f"server: {{host: '{server_host}',", text)
        path.write_text(re.sub(r"http: \{host: [^,]*,", f"http: {{host: '{http_host}',", text))
        assert len(check_config(path)) == 1, (http_host, server_host)
    # Two addresses of their own may share a port; port 0 is the system's choice; a disabled API listens nowhere.
    for http in ("{host: 127.0.0.2, port: 2775}", "{port: 0}", "{enabled: false, port: 2775}"):
        head = path.read_text().split("http:")[0]
        path.write_text(head + f"http: {http}\naccounts: [{{system_id: a, password: b}}]\n")
        assert check_config(path) == [], http


def test_load_config_raises_config_error_with_the_list(tmp_path: Path) -> None:
    path = write(tmp_path, "server: {port: x}\naccounts: [{system_id: a, password: b}]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors == [f"{path}: server.port: expected an integer from 0 to 65535, got 'x'"]


def test_config_is_frozen() -> None:
    config = load_config()
    assert isinstance(config, Config)
    with pytest.raises(AttributeError):
        config.server.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        # The tester's cross.yaml: the server's hex/16 and a carrier's decimal/16 ("...16" is also 0x16).
        ("server: {message_id: {format: hex, length: 16}}\n"
         "topology: {carriers: [{name: a, prefixes: ['44']},"
         " {name: b, prefixes: ['1'], receipt: {message_id: {format: decimal, length: 16}}}]}",
         "topology.carriers[1].receipt.message_id: expected a message_id format that cannot write the id of "
         "another message: server.message_id is {format: hex, length: 16}, and decimal and hex ids of the same "
         "length overlap ('0000000000000016' is both 16 and 0x16); use format hex, or a length other than 16, "
         "got {format: decimal, length: 16}"),
        # The default server format, hex/8, and a carrier's decimal/8.
        ("topology: {carriers: [{name: a, prefixes: ['*'], receipt: {message_id: {format: decimal}}}]}",
         "topology.carriers[0].receipt.message_id: expected a message_id format that cannot write the id of "
         "another message: server.message_id is {format: hex, length: 8}, and decimal and hex ids of the same "
         "length overlap ('00000016' is both 16 and 0x16); use format hex, or a length other than 8, "
         "got {format: decimal, length: 8}"),
        # Two carriers that disagree with each other (not with the server).
        ("server: {message_id: {length: 12}}\n"
         "topology: {carriers: [{name: a, prefixes: ['44'], receipt: {message_id: {format: decimal, length: 8}}},"
         " {name: b, prefixes: ['1'], receipt: {message_id: {format: hex, length: 8, uppercase: true}}}]}",
         "topology.carriers[1].receipt.message_id: expected a message_id format that cannot write the id of "
         "another message: topology.carriers[0].receipt.message_id is {format: decimal, length: 8}"),
        ("server: {message_id: {format: decimal, length: 10}}\n"
         "topology: {carriers: [{name: a, prefixes: ['*'], receipt: {message_id: {format: hex, length: 10}}}]}",
         "topology.carriers[0].receipt.message_id: expected a message_id format that cannot write the id of "
         "another message: server.message_id is {format: decimal, length: 10}"),
    ],
)
def test_id_formats_that_can_write_one_id_for_two_messages_are_refused(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    errors = errors_of(tmp_path, "accounts: [{system_id: a, password: b}]\n" + yaml_text + "\n")
    assert errors == [e for e in errors if e.startswith(f"{tmp_path / 'x.yaml'}: ")]
    assert len(errors) == 1 and errors[0].startswith(f"{tmp_path / 'x.yaml'}: {expected}"), errors


@pytest.mark.parametrize(
    "carriers",
    [
        # Another length (the server's default hex/8, a carrier's decimal/10).
        "[{name: a, prefixes: ['44']}, {name: b, prefixes: ['1'], receipt: {message_id: {format: decimal, "
        "length: 10}}}]",
        # The same base in another case: one text is one number.
        "[{name: a, prefixes: ['*'], receipt: {message_id: {format: hex, length: 8, uppercase: true}}}]",
        # The same format twice.
        "[{name: a, prefixes: ['44'], receipt: {message_id: {format: decimal, length: 12}}},"
        " {name: b, prefixes: ['1'], receipt: {message_id: {format: decimal, length: 12}}}]",
    ],
)
def test_id_formats_that_never_write_one_id_for_two_numbers_are_accepted(tmp_path: Path, carriers: str) -> None:
    path = write(tmp_path, f"accounts: [{{system_id: a, password: b}}]\ntopology: {{carriers: {carriers}}}\n")
    assert check_config(path) == []


def test_the_year_pivot_is_read_from_the_server_section(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "server: {year_pivot: 70}\naccounts: [{system_id: a, password: b}]"))
    assert config.server.year_pivot == 70


def test_store_path_must_name_a_file_for_the_sqlite_store(tmp_path: Path) -> None:
    """Tester 18: ``:memory:`` and ``file:`` URIs passed check-config and failed only at start (the writer child
    and the readers each open the store by its name: an in-memory database would be one per connection)."""
    accounts = "accounts: [{system_id: a, password: b}]\n"
    for path in (":memory:", "file:x.db?mode=memory"):
        errors = errors_of(tmp_path, accounts + f"store: {{path: '{path}'}}\n")
        assert any(f"store.path: expected a file name (for a store in memory: kind: memory), got '{path}'" in e
                   for e in errors), errors
    assert not check_config(write(tmp_path, accounts + "store: {kind: memory, path: ':memory:'}\n"))


@pytest.mark.parametrize("certfile, keyfile, expected", [
    ("junk.pem", "test-key.pem", "server.tls.certfile: expected a PEM certificate (chain) ("),
    ("test-cert.pem", "other-key.pem", "server.tls.keyfile: expected the certificate's private key in PEM ("),
    ("test-cert.pem", "junk.pem", "server.tls.keyfile: expected the certificate's private key in PEM ("),
    # Tester 35: an encrypted key stopped check-config at OpenSSL's passphrase prompt.
    ("test-cert.pem", "test-key-encrypted.pem",
     "server.tls.keyfile: expected the certificate's private key in PEM, not encrypted"),
])
def test_tls_files_that_do_not_make_a_certificate_and_its_key_are_refused_by_the_check(
    tmp_path: Path, certfile: str, keyfile: str, expected: str,
) -> None:
    # Tester 33: check-config said OK, and serve failed with a listen error that named --host and --port.
    (tmp_path / "junk.pem").write_text("not a certificate")
    for name in ("test-cert.pem", "test-key.pem", "other-key.pem", "test-key-encrypted.pem"):
        (tmp_path / name).write_bytes((TLS_DIR / name).read_bytes())
    path = write(tmp_path, f"server: {{tls: {{port: 3775, certfile: {certfile}, keyfile: {keyfile}}}}}\n"
                           "accounts: [{system_id: a, password: b}]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    [error] = caught.value.errors
    assert error.startswith(f"{path}: {expected}")  # (OpenSSL's reason may follow: its words vary by version)


def test_an_mo_route_to_a_short_code_may_start_with_0(tmp_path: Path) -> None:
    # Tester 35: the E.164 check of 277e5d5 refused the short code '0800', which had worked (an MO to a short code
    # keeps its digits; only longer numbers are matched in E.164 form).
    config = load_config(write(tmp_path, "accounts: [{system_id: a, password: b}]\n"
                                         "topology: {mo_routes: [{number: '0800', system_id: a}, "
                                         "{prefix: '08', system_id: a}]}\n"))
    assert {r.prefix for r in config.topology.mo_routes} >= {"0800", "08"}


def test_one_error_for_a_section_of_the_wrong_shape_not_one_per_key_it_lacks(tmp_path: Path) -> None:
    # Tester 59: carriers given as a mapping also gave "routes[0].carrier: expected one of the carrier names: ,";
    # tls: "yes" two more lines for certfile and keyfile; a mo_route with number and prefix blamed number alone.
    path = write(tmp_path, "accounts: [{system_id: a, password: b}]\nserver: {tls: 'yes'}\ntopology:\n"
                           "  carriers: {name: redtel}\n  routes: [{prefix: '44', carrier: redtel}]\n"
                           "  mo_routes: [{number: '77777', prefix: '7', system_id: a}, {system_id: a}]\n")
    assert check_config(path) == [
        f"{path}: server.tls: expected a mapping with the keys port, certfile, keyfile, got 'yes'",
        f"{path}: topology.carriers: expected a list of carriers, got a mapping",
        f"{path}: topology.mo_routes[0]: expected exactly one of number (a short code or full number) or prefix, "
        "got both, number '77777' and prefix '7'",
        f"{path}: topology.mo_routes[1].number: expected exactly one of number (a short code or full number) or "
        "prefix, got nothing (the key is missing)",
    ]
    # Tester 61: an empty carriers list, and accounts that could not be read, cascaded the same way.
    path.write_text("accounts: {system_id: test, password: x}\ntopology:\n  carriers: []\n"
                    "  routes: [{prefix: '44', carrier: redtel}]\n  mo_routes: [{number: '77777', system_id: test}]\n")
    assert check_config(path) == [
        f"{path}: accounts: expected a list of accounts (mappings with system_id and password), got a mapping",
        f"{path}: topology.carriers: expected a list of at least one carrier, got an empty list"]
    path.write_text("accounts: [shop, {system_id: a, password: b}]\ntopology:\n"
                    "  mo_routes: [{number: '77777', system_id: shop}]\n")
    assert len(check_config(path)) == 1
    # A null is "not given" (tester 61), and an outbind needs a bind type that receives (tester 61).
    path.write_text("accounts: [{system_id: a, password: b, bind_types: [transmitter], outbind: {host: 127.0.0.1, "
                    "port: 9}}]\ntopology:\n  mo_routes: [{number: null, prefix: '447', system_id: a}]\n")
    assert check_config(path) == [
        f"{path}: accounts[0].outbind: expected no outbind for an account whose bind_types allow neither receiver "
        "nor transceiver (an outbind asks for a bind that receives), got an outbind target",
        # (tester 74: an MO routed to an account that can only transmit waited for ever)
        f"{path}: topology.mo_routes[0].system_id: expected the system_id of an account whose bind_types allow "
        "receiver or transceiver (none of the accounts may: see their bind_types), got 'a', which may only bind as "
        "transmitter"]
    # Tester 64: an outbind to an address outside the account's allowed_ips was refused at every retry, for ever.
    path.write_text("accounts: [{system_id: a, password: b, allowed_ips: ['10.0.0.0/8'], outbind: {host: 127.0.0.1, "
                    "port: 9}}]\n")
    assert check_config(path) == [f"{path}: accounts[0].outbind.host: expected an address within the account's "
                                  "allowed_ips (10.0.0.0/8): the ESME binds from it, got '127.0.0.1'"]
    for host in ("localhost", "'::ffff:127.0.0.1'"):  # (tester 67: passed, and every bind was refused)
        path.write_text("accounts: [{system_id: a, password: b, allowed_ips: ['10.0.0.0/8'], outbind: "
                        f"{{host: {host}, port: 9}}}}]\n")
        assert len(check_config(path)) == 1
    for host in ("10.1.2.3", "esme.example", "'::ffff:10.0.0.1'"):  # (within, or a name not known here)
        path.write_text("accounts: [{system_id: a, password: b, allowed_ips: ['10.0.0.0/8'], outbind: "
                        f"{{host: {host}, port: 9}}}}]\n")
        assert check_config(path) == []
    # With every carrier read, a route naming none is still an error.
    path.write_text("accounts: [{system_id: a, password: b}]\ntopology:\n  carriers: [{name: acme}]\n"
                    "  routes: [{prefix: '44', carrier: redtel}]\n")
    assert check_config(path) == [f"{path}: topology.routes[0].carrier: expected one of the carrier names: acme, "
                                  "got 'redtel'"]


def test_start_time_is_a_moment_with_its_utc_offset(tmp_path: Path) -> None:
    # Tester 66: handset spells follow simulated time, which started at the wall clock: two runs with one seed
    # started 10 s apart disagreed on 16 of 20 handsets.  simulation.start_time fixes where the clock starts.
    for value, expected in (("2026-01-01T00:00:00Z", 1767225600.0), ("'2026-01-01T01:00:00+01:00'", 1767225600.0),
                            ("null", None)):
        path = write(tmp_path, f"accounts: [{{system_id: a, password: b}}]\nsimulation: {{start_time: {value}}}\n")
        assert load_config(path).simulation.start_time == expected
    for value, shown in (("2026-01-01", "2026-01-01"), ("2026-01-01T00:00:00", "2026-01-01T00:00:00"),
                         ("2040-01-01T00:00:00Z", "2040-01-01T00:00:00+00:00"), ("soon", "'soon'")):
        path = write(tmp_path, f"accounts: [{{system_id: a, password: b}}]\nsimulation: {{start_time: {value}}}\n")
        assert check_config(path) == [
            f"{path}: simulation.start_time: expected a date and time with its UTC offset, from 2000 to 2037, such as "
            f"2026-01-01T00:00:00Z (ISO 8601), got {shown}"]


def test_check_config_notes_a_store_path_in_a_missing_directory(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Tester 59: check-config said OK, and serve then refused to open the store.  Tester 65: a config linted in CI
    # for another machine (a container's /data) must still pass, so this is a note beside OK, not an error.
    missing = tmp_path / "no-such-dir" / "x.sqlite"
    path = write(tmp_path, f"accounts: [{{system_id: a, password: b}}]\nstore: {{path: '{missing}'}}\n")
    assert check_config(path) == []
    notes = [n for n in config_notes(load_config(path)) if "store.path" in n]  # (and one: no topology)
    assert len(notes) == 1 and notes[0].startswith(
        f"{path}: note: store.path '{missing}': its directory '{missing.parent}' does not exist here (relative "
        f"paths are read from the directory smsc starts in, here {os.getcwd()!r}): serve would not start here")
    monkeypatch.chdir(tmp_path)
    path.write_text("accounts: [{system_id: a, password: b}]\nstore: {path: no-such-dir/x.sqlite}\n")
    assert len([n for n in config_notes(load_config(path)) if "store.path" in n]) == 1
    (tmp_path / "no-such-dir").mkdir()
    assert [n for n in config_notes(load_config(path)) if "store.path" in n] == [] and check_config(path) == []
    path.write_text("accounts: [{system_id: a, password: b}]\nstore: {kind: memory, path: no-such/x.sqlite}\n")
    assert [n for n in config_notes(load_config(path)) if "store.path" in n] == []  # (a memory store opens no file)
    # Tester 61: "data/" passed check-config; serve failed with a bare "Not a directory".
    for value in ("data/", "no-such-dir"):
        path.write_text(f"accounts: [{{system_id: a, password: b}}]\nstore: {{path: '{value}'}}\n")
        assert check_config(path) == [f"{path}: store.path: expected the name of a file, not of a directory (such "
                                      f"as data/smsc.sqlite), got '{value}'"]


# ------------------------------------------------------------------------------------ carrier congestion


def test_a_carriers_queue_limit_and_its_status_are_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
        accounts: [{system_id: test, password: x}]
        topology:
          carriers:
            - {name: a, prefixes: ['44'], capacity: 5, queue_limit: 100, queue_full_status: ESME_RTHROTTLED}
            - {name: b, prefixes: ['1'], capacity: 5}
    """))
    a, b = config.topology.carriers
    assert (a.queue_limit, a.queue_full_status) == (100, CommandStatus.ESME_RTHROTTLED)
    assert (b.queue_limit, b.queue_full_status) == (None, CommandStatus.ESME_RMSGQFUL)


@pytest.mark.parametrize(
    "fields, expected",
    [
        ("capacity: 5, queue_limit: 0", "topology.carriers[0].queue_limit: expected "),
        ("capacity: 5, queue_limit: lots", "topology.carriers[0].queue_limit: expected "),
        ("capacity: 5, queue_limit: 10, queue_full_status: 0",
         "topology.carriers[0].queue_full_status: expected an error status (not 0, which would accept the "
         "submit), got 0"),
        ("capacity: 5, queue_limit: 10, queue_full_status: ESME_RMSGQFULL",
         "topology.carriers[0].queue_full_status: expected an SMPP command_status: a name such as "
         "'ESME_RSUBMITFAIL' or a number from 0 to 0xFFFFFFFF (did you mean 'ESME_RMSGQFUL'?)"),
    ],
)
def test_a_bad_queue_limit_or_status_is_named_with_its_key(tmp_path: Path, fields: str, expected: str) -> None:
    errors = errors_of(tmp_path, f"""
        accounts: [{{system_id: test, password: x}}]
        topology: {{carriers: [{{name: a, prefixes: ['44'], {fields}}}]}}
    """)
    source = str(tmp_path / "x.yaml")
    assert any(e.startswith(f"{source}: {expected}") for e in errors), errors


def test_a_carriers_outage_settings_are_read(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
        accounts: [{system_id: test, password: x}]
        topology:
          carriers:
            - {name: a, prefixes: ['44'], down: true, outage: {submit_status: ESME_RSUBMITFAIL}}
            - {name: b, prefixes: ['1']}
    """))
    a, b = config.topology.carriers
    assert (a.down, a.outage_status) == (True, CommandStatus.ESME_RSUBMITFAIL)
    assert (b.down, b.outage_status) == (False, None)


@pytest.mark.parametrize(
    "fields, expected",
    [
        ("down: maybe", "topology.carriers[0].down: expected "),
        ("outage: 5", "topology.carriers[0].outage: expected a mapping with the keys submit_status, got 5"),
        ("outage: {status: 8}", "topology.carriers[0].outage.status: expected a known key (did you mean "
                                "'submit_status'?), got 'status'"),
        ("outage: {submit_status: 0}", "topology.carriers[0].outage.submit_status: expected an error status (not "
                                       "0; null accepts the submits and holds them until the carrier is back), got 0"),
    ],
)
def test_a_bad_outage_setting_is_named_with_its_key(tmp_path: Path, fields: str, expected: str) -> None:
    errors = errors_of(tmp_path, f"""
        accounts: [{{system_id: test, password: x}}]
        topology: {{carriers: [{{name: a, prefixes: ['44'], {fields}}}]}}
    """)
    source = str(tmp_path / "x.yaml")
    assert any(e.startswith(f"{source}: {expected}") for e in errors), errors


def test_an_outbinds_identity_is_read_and_checked_as_smpp_fields(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
        accounts:
          - {system_id: a, password: b, outbind: {host: 127.0.0.1, port: 9, system_id: carrierX, password: '1234'}}
          - {system_id: c, password: d, outbind: {host: 127.0.0.1, port: 9}}
    """))
    first, second = (a.outbind for a in config.accounts)
    assert first is not None and (first.system_id, first.password) == ("carrierX", "1234")
    assert second is not None and (second.system_id, second.password) == (None, "")
    errors = errors_of(tmp_path, """
        accounts:
          - {system_id: a, password: b, outbind: {host: 127.0.0.1, port: 9, system_id: a-very-long-system-id,
             password: far-too-long}}
    """)
    source = str(tmp_path / "x.yaml")
    assert any(e.startswith(f"{source}: accounts[0].outbind.system_id: expected ") for e in errors), errors
    assert f"{source}: accounts[0].outbind.password: expected a password of at most 8 characters (SMPP 3.4 " \
           "section 4.1.1), got 12 characters (not shown)" in errors
    assert not any("far-too-long" in e for e in errors)


def test_a_scenario_is_read_in_time_order(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
        accounts: [{system_id: test, password: x}]
        topology: {carriers: [{name: a, prefixes: ['44']}]}
        scenario:
          - {at: 5m, disconnect: test, how: drop}
          - {at: 30s, carrier: a, down: true, for: 2m}
          - {at: 6m, disconnect: test}
          - {at: 6m, account: test, locked: true, for: 20s}
          - {at: 7m, handset: '447700900123', online: false}
          - {at: 8m, handset: '+447700900123', online: null}
    """))
    assert [(s.at, s.action, s.target, s.value, s.duration, s.how) for s in config.scenario] == [
        (30.0, "carrier", "a", True, 120.0, "unbind"),
        (300.0, "disconnect", "test", None, None, "drop"),
        (360.0, "account", "test", True, 20.0, "unbind"),  # (before the disconnect of its time)
        (360.0, "disconnect", "test", None, None, "unbind"),
        (420.0, "handset", "447700900123", False, None, "unbind"),
        (480.0, "handset", "447700900123", None, None, "unbind"),
    ]


@pytest.mark.parametrize(
    "step, expected",
    [
        ("{at: 1m, carrier: b, down: true}", "scenario[0].carrier: expected a carrier of the topology (a), got 'b'"),
        ("{at: 1m, carrier: a, account: test, down: true}",
         "scenario[0]: expected exactly one of carrier, account, disconnect or handset (what the step acts on), "
         "got carrier, account"),
        ("{carrier: a, down: true}", "scenario[0].at: expected when the step happens"),
        ("{at: 1m, carrier: a, down: false, for: 5m}", "scenario[0].for: expected for only with down: true"),
        ("{at: 1m, carrier: a}", "scenario[0].down: expected true (down) or false (back)"),
        ("{at: 1m, carrier: a, locked: true}", "scenario[0].locked: expected no locked in a carrier step"),
        ("{at: 1m, disconnect: test, how: slam}", "scenario[0].how: expected unbind (the default) or drop"),
        ("{at: 1m, disconnect: test, for: 5s}", "scenario[0].for: expected no for in a disconnect step"),
        ("{at: 1m, account: nobody, locked: true}", "scenario[0].account: expected the system_id of an account"),
        ("{at: 1m, handset: 'abc', online: true}", "scenario[0].handset: expected a handset's number"),
        # (tester 148: these passed check-config; the first failed at its time with a traceback)
        ("{at: 1m, handset: '12025550100', online: false}",
         "scenario[0].handset: expected a number a carrier of the topology serves"),
        ("{at: 1m, handset: '123', online: false}", "scenario[0].handset: expected a mobile number in E.164 form"),
        ("{at: 1m, handset: '447700900123', online: null, for: 5m}",
         "scenario[0].for: expected for only with online: true or false"),
        ("{at: soon, carrier: a, down: true}", "scenario[0].at: expected "),
        ("{at: 1m, carrier: a, down: true, when: 3}", "scenario[0].when: expected a known key"),
    ],
)
def test_a_bad_scenario_step_is_named_with_its_key(tmp_path: Path, step: str, expected: str) -> None:
    errors = errors_of(tmp_path, f"""
        accounts: [{{system_id: test, password: x}}]
        topology: {{carriers: [{{name: a, prefixes: ['44']}}]}}
        scenario: [{step}]
    """)
    source = str(tmp_path / "x.yaml")
    assert any(e.startswith(f"{source}: {expected}") for e in errors), errors


def test_a_scenario_must_be_a_list(tmp_path: Path) -> None:
    errors = errors_of(tmp_path, "accounts: [{system_id: test, password: x}]\nscenario: {at: 1m}\n")
    assert any("scenario: expected a list of steps" in e for e in errors), errors


@pytest.mark.parametrize(
    ("carrier_yaml", "error"),
    [
        # Tester 183: offline_period 0 kept every handset online, whatever online_probability said.
        ("handsets: {online_probability: 0.5, offline_period: 0}",
         "topology.carriers[0].handsets.offline_period: expected a duration above 0 (with online_probability 0.5 "
         "handsets are offline for spells of this length: 0 keeps every one online), got 0"),
        # Tester 183: an err: wider than the receipt writes it went out whole ("err:123456").
        ("outcomes: [{cause: unknown_subscriber, weight: 1, err: 123456}]",
         "topology.carriers[0].outcomes[0].err: expected an error code of at most 3 digits (the carrier's "
         "receipt.err_digits, the width of the receipt's err: field: 3 in SMPP 3.4 Appendix B), got 123456"),
        ("opt_out: {err: 99999}", "topology.carriers[0].opt_out.err: expected an error code of at most 3 digits"),
        # Tester 183: a rule with empty lists passed and applied to nothing.
        ("rules: [{numbers: [], prefixes: [], outcome: busy}]",
         "topology.carriers[0].rules[0].numbers: expected at least one number or prefix this rule applies to, got "
         "an empty list"),
    ],
)
def test_carrier_settings_that_would_do_nothing_or_break_the_receipt_are_refused(
        tmp_path: Path, carrier_yaml: str, error: str) -> None:
    path = write(tmp_path, "accounts: [{system_id: test, password: test}]\n"
                 f"topology: {{carriers: [{{name: a, prefixes: ['44'], {carrier_yaml}}}]}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert any(e.startswith(f"{path}: " + error) for e in err.value.errors), err.value.errors


def test_a_wider_err_digits_takes_a_wider_err_and_online_probability_1_takes_offline_period_0(
        tmp_path: Path) -> None:
    path = write(tmp_path, "accounts: [{system_id: test, password: test}]\n"
                 "topology: {carriers: [{name: a, prefixes: ['44'], receipt: {err_digits: 6}, "
                 "outcomes: [{cause: unknown_subscriber, weight: 1, err: 123456}], "
                 "handsets: {online_probability: 1, offline_period: 0}}]}\n")
    config = load_config(path)
    assert config.topology.carriers[0].outcomes[0].err == 123456
