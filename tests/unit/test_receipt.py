"""Delivery receipt text (SMPP 3.4 Appendix B) and network_error_code (smsc.smpp.receipt)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.smpp.constants import MessageState
from smsc.smpp.receipt import (
    Receipt,
    build_receipt_text,
    network_error_code,
    parse_network_error_code,
    parse_receipt_text,
)
from smsc.smpp.text import gsm_encode

UTC = timezone.utc
SUBMIT = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
DONE = datetime(2025, 3, 4, 5, 7, 59, tzinfo=UTC)


def _build(**overrides: object) -> str:
    fields: dict[str, object] = dict(
        message_id="0000000042", submitted=1, delivered=1, submit_date=SUBMIT, done_date=DONE,
        stat="DELIVRD", err=0, text="Hello there, this is longer than twenty",
    )
    fields.update(overrides)
    return build_receipt_text(**fields)  # type: ignore[arg-type]


def test_receipt_text_has_the_safe_appendix_b_shape() -> None:
    assert _build() == (
        "id:0000000042 sub:001 dlvrd:001 submit date:2503040506 done date:2503040507 "
        "stat:DELIVRD err:000 text:Hello there, this is"
    )


def test_receipt_text_label_can_be_capitalised_or_left_out() -> None:
    assert _build(text_label="Text").endswith(" err:000 Text:Hello there, this is")
    assert _build(text_label="").endswith(" stat:DELIVRD err:000")
    assert _build(text=None).endswith(" stat:DELIVRD err:000")
    with pytest.raises(ValueError):
        _build(text_label="TEXT")


def test_receipt_err_is_zero_padded_to_three() -> None:
    assert " err:034 " in _build(err=34)
    assert " err:007 " in _build(err="7")
    assert " err:1234 " in _build(err=1234)
    with pytest.raises(ValueError):
        _build(err=-1)


def test_receipt_counts_and_stat_words() -> None:
    text = _build(submitted=3, delivered=0, stat=MessageState.UNDELIVERABLE.stat, err=1)
    assert "sub:003 dlvrd:000" in text and "stat:UNDELIV err:001" in text


def test_receipt_rejects_an_id_a_parser_could_not_delimit() -> None:
    with pytest.raises(ValueError):
        _build(message_id="")
    with pytest.raises(ValueError):
        _build(message_id="12 34")


def test_receipt_text_is_gsm_encodable_for_gsm_text() -> None:
    assert gsm_encode(_build())


def test_built_receipt_parses_back() -> None:
    receipt = parse_receipt_text(_build())
    assert receipt == Receipt(
        message_id="0000000042", stat="DELIVRD", submitted=1, delivered=1,
        submit_date=datetime(2025, 3, 4, 5, 6, tzinfo=UTC), done_date=datetime(2025, 3, 4, 5, 7, tzinfo=UTC),
        err="000", text="Hello there, this is",
    )
    assert receipt.state is MessageState.DELIVERED
    assert receipt.error_code == 0


def test_parse_capital_text_label_and_text_with_colons() -> None:
    receipt = parse_receipt_text(
        "id:1234567890 sub:001 dlvrd:001 submit date:2503040506 done date:2503040507 "
        "stat:DELIVRD err:000 Text:stat:UNDELIV id:x"
    )
    assert receipt.message_id == "1234567890"
    assert receipt.stat == "DELIVRD"
    assert receipt.text == "stat:UNDELIV id:x"


def test_parse_jasmin_style_without_sub_dlvrd_text_and_uuid_id() -> None:
    receipt = parse_receipt_text(
        "id:6b3e2c1a-7f0e-4c55-9d7c-2a3b4c5d6e7f submit date:2503040506 done date:2503040507 "
        "stat:UNDELIV err:034"
    )
    assert receipt.message_id == "6b3e2c1a-7f0e-4c55-9d7c-2a3b4c5d6e7f"
    assert receipt.submitted is None and receipt.delivered is None and receipt.text is None
    assert receipt.state is MessageState.UNDELIVERABLE
    assert receipt.error_code == 34


def test_parse_hex_id_and_12_and_14_digit_dates() -> None:
    receipt = parse_receipt_text(
        "id:0A1B2C3D sub:001 dlvrd:000 submit date:250304050607 done date:20250304050809 "
        "stat:EXPIRED err:27 text:none"
    )
    assert receipt.message_id == "0A1B2C3D"
    assert receipt.submit_date == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert receipt.done_date == datetime(2025, 3, 4, 5, 8, 9, tzinfo=UTC)
    assert receipt.state is MessageState.EXPIRED
    assert receipt.err == "27"
    assert receipt.text == "none"


def test_parse_unreadable_dates_and_counts_as_none() -> None:
    receipt = parse_receipt_text(
        "id:1 sub:ab dlvrd: submit date:YYMMDDhhmm done date:2599999999 stat:DELIVRD err:ABC"
    )
    assert receipt.submitted is None and receipt.delivered is None
    assert receipt.submit_date is None and receipt.done_date is None
    assert receipt.err == "ABC" and receipt.error_code is None


def test_parse_is_case_insensitive_about_labels_and_knows_kannel_stat_words() -> None:
    receipt = parse_receipt_text("ID:77 SUB:001 DLVRD:001 STAT:buffred ERR:000")
    assert receipt.message_id == "77"
    assert receipt.state is MessageState.ENROUTE
    assert parse_receipt_text("id:1 stat:WHATEVER").state is None


@pytest.mark.parametrize(
    "text", ["", "hello world", "sub:001 stat:DELIVRD err:000", "id:123 sub:001 err:000", "id: stat:DELIVRD"]
)
def test_parse_without_id_or_stat_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_receipt_text(text)


def test_network_error_code_is_type_then_big_endian_code() -> None:
    assert network_error_code(3, 0x22) == bytes.fromhex("030022")
    assert network_error_code(1, 0x1234) == bytes.fromhex("011234")
    assert parse_network_error_code(bytes.fromhex("030022")) == (3, 0x22)


def test_network_error_code_rejects_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError):
        network_error_code(256, 0)
    with pytest.raises(ValueError):
        network_error_code(3, 0x10000)
    with pytest.raises(ValueError):
        parse_network_error_code(b"\x03\x00")


# -- properties ---------------------------------------------------------------------------------------

_ids = st.text(alphabet="0123456789abcdefABCDEF-_", min_size=1, max_size=64)
_dates = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0, tzinfo=UTC)
)


@settings(max_examples=200, deadline=None)
@given(_ids, st.integers(0, 999), st.integers(0, 999), _dates, _dates,
       st.sampled_from([s.stat for s in MessageState]), st.integers(0, 999), st.text(max_size=40),
       st.sampled_from(["text", "Text"]))
def test_any_built_receipt_parses_back(
    message_id: str, sub: int, dlvrd: int, submitted: datetime, done: datetime, stat: str, err: int,
    text: str, label: str,
) -> None:
    built = build_receipt_text(
        message_id=message_id, submitted=sub, delivered=dlvrd, submit_date=submitted, done_date=done,
        stat=stat, err=err, text=text, text_label=label,
    )
    receipt = parse_receipt_text(built)
    assert (receipt.message_id, receipt.submitted, receipt.delivered) == (message_id, sub, dlvrd)
    assert (receipt.submit_date, receipt.done_date) == (submitted, done)
    assert (receipt.stat, receipt.error_code, receipt.text) == (stat, err, text[:20])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_parse_receipt_text_raises_only_value_error(text: str) -> None:
    try:
        parse_receipt_text(text)
    except ValueError:
        pass
