"""E.164 normalisation of SMPP addresses and the longest-prefix table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.core.numbers import PrefixTable, is_valid_msisdn, normalise

UK = {"country_code": "44", "national_prefix": "0"}
US = {"country_code": "1", "national_prefix": "1"}


@pytest.mark.parametrize(
    ("ton", "npi", "addr", "plan", "expected"),
    [
        # international
        (1, 1, "447700900123", UK, "447700900123"),
        (1, 1, "+447700900123", UK, "447700900123"),
        (1, 1, "00447700900123", UK, "447700900123"),
        (1, 1, "+44 7700 900-123", UK, "447700900123"),
        (1, 1, "12125550100", UK, "12125550100"),
        # national, with the home country code added
        (2, 1, "07700900123", UK, "447700900123"),
        (2, 1, "7700900123", UK, "447700900123"),
        (2, 1, "+447700900123", UK, "447700900123"),
        (2, 1, "0033612345678", UK, "33612345678"),
        (2, 1, "12125550100", US, "12125550100"),
        (2, 1, "2125550100", US, "12125550100"),
        (2, 1, "(212) 555-0100", US, "12125550100"),
        # unknown TON: guessed from "+", "00", the national prefix, else already international
        (0, 1, "+447700900123", UK, "447700900123"),
        (0, 1, "00447700900123", UK, "447700900123"),
        (0, 1, "07700900123", UK, "447700900123"),
        (0, 1, "447700900123", UK, "447700900123"),
        (0, 0, "12125550100", UK, "12125550100"),
        (4, 1, "07700900123", UK, "447700900123"),
        (3, 1, "447700900123", UK, "447700900123"),
        (0, 1, "07700900123", {"country_code": "44", "national_prefix": ""}, "07700900123"),
        # alphanumeric senders are unchanged
        (5, 0, "MyBank", UK, "MyBank"),
        (5, 0, "0800 Shop", UK, "0800 Shop"),
        (5, 0, "447700900123", UK, "447700900123"),
        # short codes are unchanged whatever the TON
        (6, 0, "88123", UK, "88123"),
        (0, 1, "88123", UK, "88123"),
        (2, 1, "88123", UK, "88123"),
        (1, 1, "88123", UK, "88123"),
        (0, 1, "055501", UK, "055501"),
        (6, 1, "0800123456", UK, "0800123456"),
        # not a number at all: unchanged
        (1, 1, "", UK, ""),
        (1, 1, "+", UK, "+"),
        (0, 1, "hello", UK, "hello"),
        (1, 1, "44770O900123", UK, "44770O900123"),
        (1, 1, "٤٤٧٧٠٠٩٠٠١٢٣", UK, "٤٤٧٧٠٠٩٠٠١٢٣"),
    ],
)
def test_normalise_gives_the_routing_form(ton: int, npi: int, addr: str, plan: dict, expected: str) -> None:
    assert normalise(ton, npi, addr, **plan) == expected


@given(ton=st.integers(0, 255), npi=st.integers(0, 255), addr=st.text(max_size=25))
@settings(max_examples=200, deadline=None)
def test_normalise_never_raises(ton: int, npi: int, addr: str) -> None:
    assert isinstance(normalise(ton, npi, addr, **UK), str)


@given(digits=st.from_regex(r"[1-9][0-9]{7,13}", fullmatch=True))
@settings(max_examples=200, deadline=None)
def test_every_written_form_of_an_international_number_normalises_the_same(digits: str) -> None:
    forms = [(1, digits), (1, "+" + digits), (1, "00" + digits), (0, "+" + digits), (0, "00" + digits)]
    assert {normalise(ton, 1, addr, **UK) for ton, addr in forms} == {digits}


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("447700900123", True),
        ("12125550100", True),
        ("6831234", True),
        ("123456789012345", True),
        ("1234567890123456", False),  # 16 digits: longer than E.164 allows
        ("683123", False),
        ("07700900123", False),  # national form
        ("+447700900123", False),
        ("4477009OO123", False),
        ("", False),
        ("MyBank", False),
        ("٤٤٧٧٠٠٩٠٠١٢٣", False),
    ],
)
def test_is_valid_msisdn(number: str, valid: bool) -> None:
    assert is_valid_msisdn(number) is valid


def test_prefix_table_answers_the_longest_prefix() -> None:
    table = PrefixTable([("44", "uk"), ("4477", "uk-mobile"), ("447700900", "test-range"), ("1", "us")])
    assert table.lookup("447700900123") == "test-range"
    assert table.lookup("447712345678") == "uk-mobile"
    assert table.lookup("442071234567") == "uk"
    assert table.lookup("12125550100") == "us"
    assert table.lookup("33612345678") is None
    assert table.lookup("4") is None
    assert table.lookup("") is None
    assert table.lookup_item("447712345678") == ("4477", "uk-mobile")
    assert table.get("4477") == "uk-mobile" and table.get("447") is None
    assert len(table) == 4 and "44" in table


def test_prefix_table_catch_all_matches_everything_not_matched_otherwise() -> None:
    table = PrefixTable([("", "any"), ("44", "uk")])
    assert table.lookup("447700900123") == "uk"
    assert table.lookup("33612345678") == "any"
    assert table.lookup("") == "any"


def test_prefix_table_refuses_a_prefix_twice() -> None:
    table = PrefixTable([("44", "a")])
    with pytest.raises(ValueError, match="44"):
        table.add("44", "b")


def test_prefix_table_lookup_costs_one_probe_per_distinct_prefix_length() -> None:
    probes: list[str] = []

    class CountingDict(dict):
        def get(self, key, default=None):  # type: ignore[override]
            probes.append(key)
            return super().get(key, default)

    table: PrefixTable[int] = PrefixTable()
    table._entries = CountingDict()  # observe the lookups of a table with many entries
    for i in range(10000):
        table.add(f"44{i:05d}", i)  # 10,000 prefixes, all 7 digits long
    table.add("1", -1)
    probes.clear()
    assert table.lookup("447700900123") is None
    assert probes == ["4477009", "4"]
    probes.clear()
    assert table.lookup("440012345678") == 123
    assert probes == ["4400123"]
