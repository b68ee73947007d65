"""MO: routing to ESMEs, splitting long MO, opt-out keywords and handset auto-replies (fake clock)."""

from __future__ import annotations

import pytest

from tests.unit.test_smsc_support import (
    SENDER, AutoReply, Harness, MoRoute, carrier, fixed, make_config, rule,
)

from smsc.core.store.memory import MemoryStore
from smsc.smpp.constants import EsmClass, MessageState
from smsc.smpp.text import EncodeError, Reassembler, concat_info, gsm_decode, split_message

HANDSET = "447700900123"
SHORT_CODE = "88123"
KEYWORDS = AutoReply(keywords=(("BALANCE", "Your balance is 5 GBP"),), delay=fixed(3.0))


def world() -> Harness:
    return Harness(make_config(
        carrier(rules=(rule("447700900900", auto_reply=KEYWORDS),)),
        mo_routes=(MoRoute(prefix=SHORT_CODE, system_id="shortcode-app"),),
    ))


def test_mo_to_a_routed_short_code_reaches_that_system_id() -> None:
    h = world()
    [delivery_id] = h.smsc.inject_mo(HANDSET, SHORT_CODE, text="hello")
    [mo] = h.take("shortcode-app")
    assert mo.delivery_id == delivery_id
    assert (mo.kind, mo.esm_class, mo.data_coding, mo.short_message) == ("mo", 0, 0, b"hello")
    assert (mo.source.ton, mo.source.npi, mo.source.addr) == (1, 1, HANDSET)
    assert (mo.destination.ton, mo.destination.addr) == (3, SHORT_CODE)
    assert h.gateway.wakes == ["shortcode-app"]
    assert h.smsc.stats.mo_received == 1


def test_mo_without_a_route_goes_to_the_system_id_that_last_sent_mt_to_the_handset() -> None:
    h = world()
    h.submit_ok(HANDSET, system_id="first")
    h.submit_ok(HANDSET, system_id="second")
    h.smsc.inject_mo(HANDSET, SENDER, text="reply")
    assert h.take("first") == []
    [mo] = h.take("second")
    assert mo.destination.addr == SENDER and (mo.destination.ton, mo.destination.npi) == (1, 1)


def test_mo_does_not_go_back_to_an_account_that_can_only_transmit() -> None:
    """Tester 73: an account allowed transmitter binds only sent MT; the handset's reply was routed to it
    (``POST /api/mo`` answered 202) and waited for ever, as no bind of that account could take it."""
    import dataclasses

    from smsc.config import Account

    h = Harness(dataclasses.replace(world().config, accounts=(
        Account(system_id="mkt", password="pw", bind_types=frozenset({"transmitter"})),
        Account(system_id="app", password="pw", bind_types=frozenset({"transceiver"})),
    )))
    h.submit_ok(HANDSET, system_id="mkt")
    assert h.smsc.mo_target(HANDSET, SENDER) == ""
    h.smsc.inject_mo(HANDSET, SENDER, text="reply")
    assert h.take("mkt") == [] and h.smsc.stats.mo_unrouted == 1
    h.submit_ok(HANDSET, system_id="app")  # an account that can receive gets the next reply
    assert h.smsc.mo_target(HANDSET, SENDER) == "app"


def test_an_auto_reply_to_an_account_that_can_only_transmit_is_counted_not_kept() -> None:
    """Tester 94: a handset's auto-reply to an MT of a transmit-only account went to system_id "" and stayed in
    the outbox for ever (across restarts too), where no bind could ever take it."""
    import dataclasses

    import structlog.testing

    from smsc.config import Account

    h = Harness(dataclasses.replace(world().config, accounts=(
        Account(system_id="mkt", password="pw", bind_types=frozenset({"transmitter"})),
    )))
    with structlog.testing.capture_logs() as logs:
        h.submit_ok("447700900900", "BALANCE please", system_id="mkt")
        h.advance(10.0)
    assert h.smsc.stats.auto_replies == 1 and h.smsc.stats.mo_unrouted == 1
    assert h.smsc.outbox_sizes() == {} or "" not in h.smsc.outbox_sizes()
    [line] = [e for e in logs if e["event"] == "auto_reply_unrouted"]
    assert (line["handset"], line["mt_system_id"]) == ("447700900900", "mkt")


def test_mo_nobody_can_receive_is_kept_and_counted() -> None:
    h = world()
    h.smsc.inject_mo(HANDSET, "447700900555", text="anyone?")
    assert h.smsc.stats.mo_unrouted == 1
    assert h.smsc.outbox_sizes() == {"": 1}


def test_mo_target_says_where_inject_mo_would_send_it_without_sending() -> None:
    h = world()
    national = "07700900123"  # the same handset written nationally: normalised as inject_mo does
    assert h.smsc.mo_target(HANDSET, SHORT_CODE) == "shortcode-app"
    assert h.smsc.mo_target(HANDSET, "447700900555") == h.smsc.mo_target(national, "447700900555") == ""
    h.submit_ok(HANDSET, system_id="second")
    assert h.smsc.mo_target(national, "447700900555") == "second"
    assert h.smsc.stats.mo_received == 0 and h.smsc.outbox_sizes() == {}


def test_long_mo_is_split_with_a_concatenation_udh_as_a_network_would() -> None:
    h = world()
    text = "".join(chr(ord("a") + i % 26) for i in range(200))
    ids = h.smsc.inject_mo(HANDSET, SHORT_CODE, text=text)
    parts = h.take("shortcode-app")
    assert [p.delivery_id for p in parts] == ids and len(parts) == 2
    assert all(p.esm_class == EsmClass.UDHI for p in parts)
    reassembler = Reassembler()
    whole = None
    for p in parts:
        info = concat_info(p.esm_class, p.short_message, p.tlvs)
        assert info is not None and info.total == 2
        whole = reassembler.add(("k",), info, 0.0) or whole
    assert whole is not None and gsm_decode(whole) == text


def test_mo_text_outside_gsm_is_sent_as_ucs2() -> None:
    h = world()
    h.smsc.inject_mo(HANDSET, SHORT_CODE, text="\u4f60\u597d")
    [mo] = h.take("shortcode-app")
    assert (mo.data_coding, mo.short_message) == (8, "\u4f60\u597d".encode("utf-16-be"))


def test_mo_binary_payload_is_passed_as_is() -> None:
    h = world()
    h.smsc.inject_mo(HANDSET, SHORT_CODE, payload=b"\x01\x02\xff")
    [mo] = h.take("shortcode-app")
    assert (mo.data_coding, mo.short_message) == (4, b"\x01\x02\xff")


def test_mo_needs_exactly_one_of_text_and_payload() -> None:
    h = world()
    with pytest.raises(ValueError):
        h.smsc.inject_mo(HANDSET, SHORT_CODE)
    with pytest.raises(ValueError):
        h.smsc.inject_mo(HANDSET, SHORT_CODE, text="a", payload=b"a")
    with pytest.raises(EncodeError):
        h.smsc.inject_mo(HANDSET, SHORT_CODE, text="\u4f60", data_coding=0)


def test_mo_stop_opts_the_handset_out_and_start_back_in() -> None:
    h = world()
    pool = h.world.route(HANDSET).handsets
    h.smsc.inject_mo(HANDSET, SHORT_CODE, text="stop")
    assert pool.opted_out(HANDSET)
    rejected = h.submit_ok(HANDSET)
    h.advance(5.0)
    assert h.state(rejected) == MessageState.REJECTED
    h.smsc.inject_mo(HANDSET, SHORT_CODE, text="START")
    assert not pool.opted_out(HANDSET)
    delivered = h.submit_ok(HANDSET)
    h.advance(5.0)
    assert h.state(delivered) == MessageState.DELIVERED
    assert len(h.take("shortcode-app")) == 2  # the keywords still reach the ESME


def test_mo_is_offered_only_once_it_is_durable() -> None:
    pending: list = []
    h = Harness(world().config, store=MemoryStore(call_soon=pending.append))
    h.smsc.inject_mo(HANDSET, SHORT_CODE, text="hi")
    assert h.take("shortcode-app") == [] and h.gateway.wakes == []
    while pending:
        pending.pop(0)()
    assert len(h.take("shortcode-app")) == 1


def test_keyword_auto_reply_after_its_delay() -> None:
    h = world()
    h.submit_ok("447700900900", "What is my BALANCE please")
    h.advance(2.0 + 2.9)
    assert h.take() == []
    h.advance(0.2)
    [mo] = h.take()
    assert mo.short_message.decode() == "Your balance is 5 GBP"
    assert (mo.source.addr, mo.destination.addr) == ("447700900900", SENDER)


def test_an_auto_reply_goes_to_the_account_whose_mt_it_answers() -> None:
    """Tester 170: an auto-reply went to the handset's last MT sender: two accounts writing to one handset a second
    apart, both replies reached the second (one customer got another's replies).  Each goes to the account whose MT
    it answers, addressed to that MT's source; an MO route for that number still wins."""
    h = world()
    h.submit_ok("447700900900", "BALANCE", system_id="first", source="447700111111")
    h.advance(1.0)
    h.submit_ok("447700900900", "BALANCE", system_id="second", source="447700222222")
    h.advance(10.0)
    [first] = h.take("first")
    [second] = h.take("second")
    assert (first.destination.addr, second.destination.addr) == ("447700111111", "447700222222")
    # A typed MO (no MT it answers) still goes to the last MT sender, as README says.
    h.smsc.inject_mo("447700900900", "447700111111", text="typed")
    assert h.take("first") == [] and len(h.take("second")) == 1
    h.submit_ok("447700900900", "BALANCE", system_id="first", source=SHORT_CODE)
    h.advance(10.0)
    assert h.take("first") == [] and len(h.take("shortcode-app")) == 1


def test_an_auto_reply_is_never_due_before_the_mt_it_answers_was_delivered() -> None:
    """A scaled clock pinned at an earlier batch's time reads earlier than the MT's final_time (tester 104: at
    time_scale 3600, messages delivered before they were submitted); the reply's delay counts from the delivery."""
    h = world()
    message_id = h.submit_ok("447700900900", "BALANCE")
    h.advance(2.5)  # (the carrier's latency is 2 s)
    msg = h.smsc.message(message_id)
    assert msg.state == MessageState.DELIVERED and msg.final_time is not None
    store = MemoryStore()
    h.smsc.mo.store = store
    msg.final_time += 10.0  # (as if the clock read 10 s before the delivery)
    h.smsc.mo.auto_replies(msg, h.smsc.router.carriers[msg.carrier])
    [(_, due, *_)] = store.load_world().pending_replies
    assert due == msg.final_time + 3.0


def test_an_auto_reply_a_sender_id_cannot_get_is_logged_once() -> None:
    """Tester 108: an echo handset said nothing when the MT came from "MyBrand" (a handset cannot answer a sender
    ID), and a test waiting for the echo timed out without a word."""
    import structlog

    h = world()
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            sub = h.submission("447700900900", "BALANCE")
            sub.source = type(sub.source)(ton=5, npi=0, addr="MyBrand")
            h.smsc.submit(sub, lambda r: None)
        h.submit_ok(HANDSET, "BALANCE")  # (a handset without an auto-reply: nothing to say)
        h.advance(10.0)
    assert h.take() == [] and h.smsc.stats.auto_replies == 0
    (skipped,) = [e for e in logs if e["event"] == "auto_reply_skipped"]
    assert (skipped["handset"], skipped["source_addr"], skipped["count"]) == ("447700900900", "MyBrand", 1)


def test_auto_reply_to_a_long_mt_comes_once_the_whole_message_arrived() -> None:
    echo = AutoReply(echo=True, delay=fixed(1.0))
    h = Harness(make_config(carrier(rules=(rule(HANDSET, auto_reply=echo),))))
    text = "x" * 150 + "y" * 150
    payload = text.encode("ascii")
    parts = split_message(payload, 0, 77)
    for part in parts:
        sub = h.submission(HANDSET, esm_class=0x40)
        sub.short_message = part
        h.smsc.submit(sub, lambda r: None)
    h.advance(10.0)
    mos = [d for d in h.take() if d.kind == "mo"]
    assert h.smsc.stats.auto_replies == 1  # one reply for the whole message, not one per part
    assert len(mos) == 2  # the 300-character echo is itself split
    reassembler = Reassembler()
    whole = None
    for mo in mos:
        info = concat_info(mo.esm_class, mo.short_message, mo.tlvs)
        assert info is not None
        whole = reassembler.add(("echo",), info, 0.0) or whole
    assert whole is not None and gsm_decode(whole) == text


def test_the_echo_of_a_long_mt_with_parts_in_two_codings_decodes_each_part_with_its_own() -> None:
    # Tester 30: every part was decoded with one part's data_coding ("gsm part, @u@c@s@2...").
    echo = AutoReply(echo=True, delay=fixed(1.0))
    h = Harness(make_config(carrier(rules=(rule(HANDSET, auto_reply=echo),))))
    for seq, (coding, data) in enumerate(((0, b"gsm part, "), (8, "ucs2 \u4f60".encode("utf-16-be"))), start=1):
        sub = h.submission(HANDSET, esm_class=0x40, data_coding=coding)
        sub.short_message = bytes((5, 0, 3, 12, 2, seq)) + data
        h.smsc.submit(sub, lambda r: None)
    h.advance(10.0)
    [mo] = [d for d in h.take() if d.kind == "mo"]
    assert mo.data_coding == 8 and mo.short_message.decode("utf-16-be") == "gsm part, ucs2 \u4f60"


def test_a_binary_mt_is_not_echoed_as_the_hex_of_its_octets() -> None:
    # Tester 30: a dc 4 MT (a WAP push, say) came back as a GSM text MO "010603ae81ea".
    echo = AutoReply(echo=True, delay=fixed(1.0))
    h = Harness(make_config(carrier(rules=(rule(HANDSET, auto_reply=echo),))))
    for coding, data in ((4, b"\x01\x06\x03\xae\x81\xea"), (0, b"plain text")):
        sub = h.submission(HANDSET, data_coding=coding)
        sub.short_message = data
        h.smsc.submit(sub, lambda r: None)
    h.advance(10.0)
    assert [d.short_message for d in h.take() if d.kind == "mo"] == [b"plain text"]
    assert h.smsc.stats.auto_replies == 1


def test_a_long_mt_with_a_binary_part_is_not_echoed_whichever_part_comes_last() -> None:
    # Tester 38: only the last part's data_coding was looked at: binary first, text last came back as
    # "cafe0001text-part".
    echo = AutoReply(echo=True, delay=fixed(1.0))
    h = Harness(make_config(carrier(rules=(rule(HANDSET, auto_reply=echo),))))
    for seq, (coding, data) in enumerate(((4, b"\xca\xfe\x00\x01"), (0, b"text-part")), start=1):
        sub = h.submission(HANDSET, esm_class=0x40, data_coding=coding)
        sub.short_message = bytes((5, 0, 3, 13, 2, seq)) + data
        h.smsc.submit(sub, lambda r: None)
    h.advance(10.0)
    assert [d for d in h.take() if d.kind == "mo"] == []


def test_an_mt_whose_concatenation_element_a_handset_ignores_is_echoed_as_one_text() -> None:
    # Tester 160: part 0, part above the total and total 0 (which 3GPP TS 23.040 9.2.3.24.1 has a handset
    # ignore) were shown whole by the HTTP API but the echo handset said nothing.
    echo = AutoReply(echo=True, delay=fixed(1.0))
    h = Harness(make_config(carrier(rules=(rule(HANDSET, auto_reply=echo),))))
    for header, text in ((b"\x05\x00\x03\x46\x02\x00", b"seq0"), (b"\x05\x00\x03\x50\x02\x03", b"seq>tot"),
                         (b"\x05\x00\x03\x5a\x00\x01", b"tot0")):
        sub = h.submission(HANDSET, esm_class=0x40)
        sub.short_message = header + text
        h.smsc.submit(sub, lambda r: None)
    h.advance(10.0)
    assert [d.short_message for d in h.take() if d.kind == "mo"] == [b"seq0", b"seq>tot", b"tot0"]


def test_an_auto_reply_to_a_sender_written_with_a_plus_goes_to_an_international_number() -> None:
    # Tester 38: "+447700900000" (TON 1) was answered as an alphanumeric address (TON 5, NPI 0).
    echo = AutoReply(echo=True, delay=fixed(1.0))
    h = Harness(make_config(carrier(rules=(rule(HANDSET, auto_reply=echo),))))
    h.submit_ok(HANDSET, "hello", source="+447700900000", source_ton=1, source_npi=1)
    h.advance(10.0)
    [mo] = [d for d in h.take() if d.kind == "mo"]
    assert (mo.destination.ton, mo.destination.npi, mo.destination.addr) == (1, 1, "447700900000")


@pytest.mark.parametrize(("source", "ton", "npi", "expected"), [
    ("07700900000", 2, 1, (1, 1, "447700900000")),  # national
    ("07700900000", 0, 1, (1, 1, "447700900000")),  # unknown, with the trunk prefix
    ("447700900000", 0, 0, (1, 1, "447700900000")),
    ("88123", 3, 0, (3, 0, "88123")),  # a short code keeps its digits
])
def test_an_auto_reply_goes_to_the_sender_as_its_network_reads_it(
    source: str, ton: int, npi: int, expected: tuple[int, int, str],
) -> None:
    # Tester 47: an MT from the national "07700900000" was answered to TON 1 "07700900000" (international with
    # national digits), where an MO to the same number through the API goes to "447700900000".
    echo = AutoReply(echo=True, delay=fixed(1.0))
    h = Harness(make_config(carrier(rules=(rule(HANDSET, auto_reply=echo),))))
    h.submit_ok(HANDSET, "hello", source=source, source_ton=ton, source_npi=npi)
    h.advance(10.0)
    [mo] = [d for d in h.take() if d.kind == "mo"]
    assert (mo.destination.ton, mo.destination.npi, mo.destination.addr) == expected


def test_a_fixed_auto_reply_still_answers_a_binary_mt() -> None:
    thanks = AutoReply(text="Thanks", delay=fixed(1.0))
    h = Harness(make_config(carrier(rules=(rule(HANDSET, auto_reply=thanks),))))
    sub = h.submission(HANDSET, data_coding=4)
    sub.short_message = b"\x00\x01\xff"
    h.smsc.submit(sub, lambda r: None)
    h.advance(10.0)
    assert [d.short_message for d in h.take() if d.kind == "mo"] == [b"Thanks"]


def test_a_handset_does_not_answer_an_alphanumeric_sender() -> None:
    # Tester 31: the echo handset "replied" to MyBrand (TON 5), which no phone can do.
    echo = AutoReply(echo=True, delay=fixed(1.0))
    h = Harness(make_config(carrier(rules=(rule(HANDSET, auto_reply=echo),))))
    h.submit_ok(HANDSET, "from a brand", source="MyBrand", source_ton=5, source_npi=0)
    h.submit_ok(HANDSET, "from a number")
    h.advance(10.0)
    assert [d.short_message for d in h.take() if d.kind == "mo"] == [b"from a number"]
    assert h.smsc.stats.auto_replies == 1


def test_mo_does_not_go_to_a_system_id_no_configured_account_has() -> None:
    """Tester 96: an MT's sender removed from the config before a restart (the handset's last MT sender is restored
    with its pending auto-reply) was still given the reply, which then waited in its outbox for ever."""
    import dataclasses

    from smsc.config import Account

    h = Harness(dataclasses.replace(world().config, accounts=(
        Account(system_id="app", password="pw", bind_types=frozenset({"transceiver"})),
    )))
    h.submit_ok(HANDSET, system_id="gone")  # (an MT the restart restored, from an account no longer configured)
    assert h.smsc.mo_target(HANDSET, SENDER) == ""
    h.smsc.inject_mo(HANDSET, SENDER, text="reply")
    assert h.smsc.stats.mo_unrouted == 1 and "gone" not in h.smsc.outbox_sizes()


def test_an_unrouted_auto_reply_counts_its_parts() -> None:
    import dataclasses

    from smsc.config import Account

    long_reply = AutoReply(text="x" * 200, delay=fixed(1.0))  # (two parts)
    config = make_config(carrier(rules=(rule("447700900950", auto_reply=long_reply),)))
    h = Harness(dataclasses.replace(config, accounts=(
        Account(system_id="mkt", password="pw", bind_types=frozenset({"transmitter"})),
    )))
    h.submit_ok("447700900950", "hello", system_id="mkt")
    h.advance(10.0)
    assert h.smsc.stats.mo_unrouted == 2


def test_an_echo_too_long_for_any_handset_is_skipped_and_said_not_a_traceback() -> None:
    """Tester 176: an echo of 20,000 Latin-1 octets holding "½" (no GSM 03.38 form) goes out in UCS-2 and needs
    299 parts, more than the 255 of a concatenated message; it failed with a traceback at error level
    (``auto_reply_failed``) and a test waiting for the echo timed out without a reason."""
    import structlog

    from smsc.smpp.constants import Tag

    echo = AutoReply(echo=True, delay=fixed(1.0))
    h = Harness(make_config(carrier(rules=(rule(HANDSET, auto_reply=echo),))))
    store = MemoryStore()
    h.smsc.mo.store = store
    with structlog.testing.capture_logs() as logs:
        sub = h.submission(HANDSET, "", data_coding=3, registered_delivery=1)
        sub.tlvs = {Tag.message_payload: "½".encode("latin-1") * 20_000}
        replies: list = []
        h.smsc.submit(sub, replies.append)
        assert replies[0].status == 0
        h.advance(10.0)
    assert [d.kind for d in h.take()] == ["receipt"]  # the receipt, no MO
    assert h.smsc.stats.auto_replies == 1 and h.smsc.stats.auto_replies_unsendable == 1
    assert h.smsc.stats.mo_received == 0
    assert not [e for e in logs if e["event"] == "auto_reply_failed" or e.get("log_level") == "error"]
    [skipped] = [e for e in logs if e["event"] == "auto_reply_skipped"]
    assert skipped["log_level"] == "warning" and skipped["handset"] == HANDSET
    assert "299 parts" in skipped["reason"] and "255" in skipped["reason"]
    assert store.load_world().pending_replies == []  # not sent again after a restart
    # A shorter echo of the same text still comes back.
    sub = h.submission(HANDSET, "", data_coding=3)
    sub.short_message = "½ price".encode("latin-1")
    h.smsc.submit(sub, lambda r: None)
    h.advance(10.0)
    [mo] = [d for d in h.take() if d.kind == "mo"]
    assert mo.data_coding == 8 and mo.short_message.decode("utf-16-be") == "½ price"


def test_an_auto_reply_due_while_the_handsets_carrier_is_down_is_not_sent() -> None:
    """Tester 181: an echo reached the ESME while the handset's carrier was down, where POST /api/mo from that
    handset is refused (422: no network to send through).  Skipped, said and counted, not sent later."""
    import structlog

    echo = AutoReply(echo=True, delay=fixed(5.0))
    h = Harness(make_config(carrier(rules=(rule(HANDSET, auto_reply=echo),))))
    h.submit_ok(HANDSET, "echo me")
    h.advance(3.0)  # (delivered after the carrier's 2 s latency; the echo is due 5 s later)
    h.smsc.set_carrier_down("uk", True)
    with structlog.testing.capture_logs() as logs:
        h.advance(10.0)
    assert [d for d in h.take() if d.kind == "mo"] == []
    assert h.smsc.stats.auto_replies == 1 and h.smsc.stats.auto_replies_unsendable == 1
    [skipped] = [e for e in logs if e["event"] == "auto_reply_skipped"]
    assert skipped["reason"] == "the handset has no network to send through: its carrier uk is down"
    h.smsc.set_carrier_down("uk", False)
    h.advance(60.0)
    assert [d for d in h.take() if d.kind == "mo"] == []  # (not kept to be sent later)
