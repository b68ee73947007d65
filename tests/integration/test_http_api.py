"""The HTTP control API over real TCP: a whole App on 127.0.0.1 (port 0), aiohttp as the HTTP client and
smpplib as the ESME (its blocking calls run in worker threads, each bounded by a socket timeout)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import smpplib.client
import smpplib.consts
import smpplib.gsm

from smsc.app import App
from smsc.config import load_config
from smsc.core.api import Address
from smsc.core.message import Attempt, Message
from smsc.core.receipts import mt_preview
from smsc.http.api import (
    HttpServer, _host_name, _is_loopback, iso_time, message_record, openapi_document, reassembled_texts,
)
from smsc.smpp.constants import MessageState
from smsc.smpp.text import concat_info, encode_text, split_message

# -- rendering (no sockets) ---------------------------------------------------------------------------


def _message(message_id: str, short_message: bytes, *, esm_class: int = 0, data_coding: int = 0,
             state: MessageState = MessageState.ENROUTE, carrier: str = "uk", **kw: Any) -> Message:
    return Message(
        message_id=message_id, system_id="test", source=Address(ton=5, npi=0, addr="Shop"),
        destination=Address(ton=1, npi=1, addr="447700900123"), destination_e164="447700900123",
        carrier=carrier, esm_class=esm_class, data_coding=data_coding, short_message=short_message,
        submit_time=1_767_225_600.0, expiry_time=1_767_225_600.0 + 3600, state=state, **kw,
    )


def test_iso_time_is_utc_with_milliseconds_and_z() -> None:
    assert iso_time(1_767_225_600.25) == "2026-01-01T00:00:00.250Z"
    assert iso_time(None) is None


def test_iso_time_past_year_9999_saturates_instead_of_failing_the_request() -> None:
    assert iso_time(1e12) == "9999-12-31T23:59:59.999Z"


def test_message_record_decodes_gsm_text_and_names_the_state() -> None:
    msg = _message("00ab", encode_text("Hello {world} €", 0), state=MessageState.DELIVERED,
                   attempts=[Attempt(time=1_767_225_601.0, outcome="delivered")], final_time=1_767_225_601.0,
                   network_error_code=b"\x03\x00\x01")
    rec = message_record(msg)
    assert rec["text"] == "Hello {world} €"
    assert rec["full_text"] == "Hello {world} €"
    assert rec["state"] == "DELIVERED" and rec["state_code"] == 2 and rec["final"] is True
    assert rec["concat"] is None
    assert rec["attempts"] == [{"time": "2026-01-01T00:00:01.000Z", "outcome": "delivered", "err": 0}]
    assert rec["network_error_code"] == "030001"
    assert rec["source"] == {"ton": 5, "npi": 0, "addr": "Shop"}


@pytest.mark.parametrize(("carrier", "outcomes", "count"), [
    ("uk", ["absent", "cancelled"], 1), ("uk", ["absent", "absent", "expired"], 2), ("uk", ["delivered"], 1),
    ("uk", ["throttled"], 0), ("uk", ["replaced"], 0), ("uk", ["abandoned"], 0),
    ("", ["undeliverable"], 0),  # no route: never reached a carrier
])
def test_attempt_count_leaves_out_the_entries_that_record_how_a_message_ended_without_an_attempt(
    carrier: str, outcomes: list[str], count: int,
) -> None:
    # Testers 40 and 44: the dashboard counted an expiry, a cancel and a message with no route as attempts.
    msg = _message("1", b"x", carrier=carrier, attempts=[Attempt(time=1_767_225_601.0, outcome=o) for o in outcomes])
    assert message_record(msg)["attempt_count"] == count


def test_message_record_decodes_ucs2() -> None:
    rec = message_record(_message("1", "Привет 👋".encode("utf-16-be"), data_coding=8))
    assert rec["text"] == "Привет 👋"


def test_parts_of_a_long_message_are_reassembled_for_inspection() -> None:
    text = "".join(chr(0x0410 + i % 32) for i in range(150)) + "😀 end"  # UCS-2: 3 parts
    parts = split_message(encode_text(text, 8), 8, reference=7)
    assert len(parts) == 3
    msgs = [_message(f"m{i}", p, esm_class=0x40, data_coding=8) for i, p in enumerate(parts)]
    full = reassembled_texts(list(reversed(msgs)))
    assert set(full) == {"m0", "m1", "m2"}
    assert all(v == text for v in full.values())
    rec = message_record(msgs[1], full["m1"])
    assert rec["concat"] == {"reference": 7, "total": 3, "seq": 2}
    assert rec["full_text"] == text
    # with a part missing the whole text is unknown
    assert reassembled_texts(msgs[:2]) == {}
    assert message_record(msgs[0])["full_text"] is None


def test_sms_count_says_how_many_sms_a_message_takes_on_the_air() -> None:
    """Tester 99: a 400-character message_payload got one receipt and the API said nothing of the 3 SMS it costs,
    so a per-part billing check could not be written."""
    ports = bytes((6, 5, 4, 0x0B, 0x84, 0x23, 0xF0))
    cases = [
        (_message("a", b"a" * 160), 1),
        (_message("b", b"a" * 400), 3),  # (153 septets a part)
        (_message("c", "\u0416".encode("utf-16-be") * 100, data_coding=8), 2),  # (67 UCS-2 a part)
        (_message("d", "\u0416".encode("utf-16-be") * 70, data_coding=8), 1),
        (_message("e", b"\x1b\x65" * 80), 1),  # (80 euro signs: 160 septets)
        (_message("f", b"\x1b\x65" * 81), 2),
        (_message("g", split_message(b"a" * 400, 0, 1)[0], esm_class=0x40), 1),  # (a part: one SMS)
        (_message("h", b"a" * 153, tlvs={0x020C: 9, 0x020E: 2, 0x020F: 1}), 1),  # (a SAR segment)
        # (tester 176: a part longer than one SMS, which server.oversized_short_message: accept takes, said 1)
        (_message("h2", b"a" * 200, tlvs={0x020C: 9, 0x020E: 2, 0x020F: 1}), 2),
        (_message("h3", split_message(b"a" * 400, 0, 1)[0][:6] + b"a" * 200, esm_class=0x40), 2),
        (_message("h4", b"a" * 152, tlvs={0x020C: 0x1234, 0x020E: 2, 0x020F: 1}), 1),  # (16-bit reference)
        (_message("h5", b"a" * 153, tlvs={0x020C: 0x1234, 0x020E: 2, 0x020F: 1}), 2),
        # (tester 139: a segment "1 of 1" is a whole message, which the network segments: it said 1)
        (_message("i", b"a" * 400, tlvs={0x020C: 5, 0x020E: 1, 0x020F: 1}), 3),
        (_message("n", b"a" * 100, tlvs={0x020C: 5, 0x020E: 1, 0x020F: 1}), 1),
        (_message("j", ports + b"a" * 153, esm_class=0x40), 2),  # (+ a concatenation element: 146 a part)
        (_message("k", ports + b"a" * 152, esm_class=0x40), 1),  # (152 septets fit after a port UDH)
        # (tester 106: a UDH leaving no room in the parts raised, and the listing answered 500: such user data is
        # refused now, and a record of it still renders)
        (_message("l", bytes((134, 0x70, 132)) + bytes(132) + b"b" * 20, esm_class=0x40, data_coding=4), 1),
        (_message("m", bytes((140, 0x70, 138)) + bytes(138) + b"b" * 20, esm_class=0x40), 1),
    ]
    assert [message_record(msg)["sms_count"] for msg, _ in cases] == [n for _, n in cases]


def test_sar_tlv_parts_are_reassembled_too() -> None:
    a = _message("a", encode_text("first half ", 0), tlvs={0x020C: 9, 0x020E: 2, 0x020F: 1})
    b = _message("b", encode_text("second half", 0), tlvs={0x020C: 9, 0x020E: 2, 0x020F: 2})
    assert reassembled_texts([b, a]) == {"a": "first half second half", "b": "first half second half"}


def _part(message_id: str, reference: int, total: int, seq: int, text: str, *, data_coding: int = 0,
          at: float = 0.0) -> Message:
    """One part of a concatenated message (8-bit reference UDH), submitted ``at`` seconds after the others."""
    udh = bytes((5, 0, 3, reference, total, seq))
    msg = _message(message_id, udh + encode_text(text, data_coding), esm_class=0x40, data_coding=data_coding)
    msg.submit_time += at
    return msg


def test_a_reference_used_again_after_a_whole_message_starts_the_next_message() -> None:
    # Tester 30: X whole, then only part 1 of Y with the same reference; X's part 2 showed "Y1 X2".
    x1, x2, y1 = _part("x1", 44, 2, 1, "X1 "), _part("x2", 44, 2, 2, "X2", at=1), _part("y1", 44, 2, 1, "Y1 ", at=2)
    newest_first = [y1, x2, x1]
    assert reassembled_texts(newest_first) == {"x1": "X1 X2", "x2": "X1 X2"}


def test_two_whole_messages_on_one_reference_each_get_their_own_text() -> None:
    p1, p2 = _part("p1", 9, 2, 1, "P1 "), _part("p2", 9, 2, 2, "P2", at=1)
    q1, q2 = _part("q1", 9, 2, 1, "Q1 ", at=2), _part("q2", 9, 2, 2, "Q2", at=3)
    assert reassembled_texts([q2, q1, p2, p1]) == {"p1": "P1 P2", "p2": "P1 P2", "q1": "Q1 Q2", "q2": "Q1 Q2"}


def test_a_repeated_part_is_left_out_as_the_handset_leaves_it_out() -> None:
    first, repeat, second = _part("a", 3, 2, 1, "first "), _part("b", 3, 2, 1, "again ", at=1), \
        _part("c", 3, 2, 2, "second", at=2)
    assert reassembled_texts([second, repeat, first]) == {"a": "first second", "c": "first second"}


def test_parts_of_mixed_data_coding_are_each_decoded_with_their_own() -> None:
    gsm = _part("g", 5, 2, 1, "gsm part, ")
    ucs2 = _part("u", 5, 2, 2, "ucs2 part é你", data_coding=8, at=1)
    assert reassembled_texts([ucs2, gsm]) == {"g": "gsm part, ucs2 part é你",
                                              "u": "gsm part, ucs2 part é你"}


def test_malformed_udh_does_not_break_rendering() -> None:
    rec = message_record(_message("x", b"\x09\x00\x03", esm_class=0x40))
    assert rec["concat"] is None
    assert rec["short_message_hex"] == "090003"


#: UDHs an ESME may send with esm_class UDHI that name no valid concatenated part, each before the text "zero".
MALFORMED_UDHS = [
    bytes.fromhex("050003130200"),  # part 0 of 2
    bytes.fromhex("050003140203"),  # part 3 of 2
    bytes.fromhex("050003150001"),  # 0 parts
    bytes.fromhex("03000901"),  # an element of 9 octets in a UDH of 3
]


@pytest.mark.parametrize("udh", MALFORMED_UDHS, ids=lambda u: u.hex())
def test_a_malformed_udh_is_cut_by_its_udhl_as_the_receipt_cuts_it(udh: bytes) -> None:
    """Found by a tester: the API showed such a UDH's octets decoded as GSM text ('é@¥Γ$@zero') while the
    receipt's text: field showed the text after it."""
    msg = _message("x", udh + b"zero", esm_class=0x40)
    rec = message_record(msg)
    assert (rec["text"], rec["full_text"], rec["concat"]) == ("zero", "zero", None)
    assert mt_preview(msg) == "zero"
    assert reassembled_texts([msg]) == {}


def test_a_udhl_past_the_end_leaves_no_text_in_the_api_or_the_receipt() -> None:
    msg = _message("x", b"\x09\x00\x03ab", esm_class=0x40)
    rec = message_record(msg)
    assert (rec["text"], rec["concat"], rec["short_message_hex"]) == ("", None, "0900036162")
    assert mt_preview(msg) == ""


def test_openapi_document_describes_every_route() -> None:
    server = HttpServer(App(load_config(None)))
    doc = openapi_document()
    assert doc["openapi"].startswith("3.")
    routes: set[tuple[str, str]] = set()
    for route in server.web_app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path is None or route.method == "HEAD" or path.startswith("/dashboard"):
            continue
        routes.add((path, route.method.lower()))
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    assert routes == documented


# -- the whole App over real TCP -------------------------------------------------------------------------------

UK_INSTANT = "447700900123"  # default.yaml: delivered at once
SHORT_CODE = "88123"  # default.yaml: MO to it goes to system_id "test"


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    """The bundled default config on 127.0.0.1, SMPP and HTTP on free ports, SQLite in tmp_path."""
    cfg = load_config(None)
    cfg = dataclasses.replace(
        cfg,
        store=dataclasses.replace(cfg.store, kind="sqlite", path=str(tmp_path / "smsc.sqlite")),
        server=dataclasses.replace(cfg.server, host="127.0.0.1", port=0),
        http=dataclasses.replace(cfg.http, enabled=True, host="127.0.0.1", port=0),
    )
    running = App(cfg, rng=random.Random(4))
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def http(app: App) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(f"http://127.0.0.1:{app.http.port}",
                                     timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


class Esme:
    """A blocking smpplib client; the test calls its methods through ``asyncio.to_thread``."""

    def __init__(self, port: int) -> None:
        self.client = smpplib.client.Client("127.0.0.1", port, timeout=1.0, allow_unknown_opt_params=True)
        self.received: list[Any] = []
        self.sent: list[Any] = []
        self.client.set_message_received_handler(lambda pdu: self.received.append(pdu))
        self.client.set_message_sent_handler(lambda pdu: self.sent.append(pdu))

    def bind(self, kind: str) -> None:
        self.client.connect()
        getattr(self.client, f"bind_{kind}")(system_id="test", password="test")

    def submit(self, destination: str, text: bytes, **kw: Any) -> str:
        """submit_sm; returns the message_id of its submit_sm_resp."""
        before = len(self.sent)
        kw.setdefault("source_addr_ton", smpplib.consts.SMPP_TON_ALNUM)
        kw.setdefault("source_addr", "Shop")
        self.client.send_message(dest_addr_ton=smpplib.consts.SMPP_TON_INTL, dest_addr_npi=1,
                                 destination_addr=destination, short_message=text, **kw)
        self.read_until(lambda: len(self.sent) > before)
        resp = self.sent[before]
        assert resp.status == 0, resp.status
        return resp.message_id.decode() if isinstance(resp.message_id, bytes) else resp.message_id

    def read_until(self, done: Callable[[], bool], *, seconds: float = 10.0, max_pdus: int = 100) -> None:
        """Read PDUs until ``done()``; bounded by ``max_pdus`` reads and ``seconds``."""
        deadline = time.monotonic() + seconds
        for _ in range(max_pdus):
            if done() or time.monotonic() > deadline:
                break
            self.client.read_once()
        assert done(), "condition not met in time"

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
async def esme_factory(app: App) -> AsyncIterator[Callable[[str], Any]]:
    esmes: list[Esme] = []

    async def bound(kind: str) -> Esme:
        esme = Esme(app.smpp.port)
        esmes.append(esme)
        await asyncio.to_thread(esme.bind, kind)
        return esme

    yield bound
    for esme in esmes:
        esme.close()


async def _get(http: aiohttp.ClientSession, path: str, status: int = 200) -> Any:
    async with http.get(path) as resp:
        body = await resp.json()
        assert resp.status == status, body
        return body


async def _send(http: aiohttp.ClientSession, method: str, path: str, status: int, **kw: Any) -> Any:
    async with http.request(method, path, **kw) as resp:
        body = await resp.json()
        assert resp.status == status, body
        assert resp.content_type == "application/json"
        return body


async def _wait_for(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Await ``check()`` until it returns something truthy; bounded by ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_openapi_document_has_no_key_without_a_value() -> None:
    # Found by a tester: an unquoted comma inside a YAML flow mapping ({description: a, b}) ended the
    # description there and added a property named after the rest, with no value ("hex.": null).
    def empty(node: Any, path: str) -> list[str]:
        if isinstance(node, dict):
            return [p for k, v in node.items() for p in ([f"{path}/{k}"] if v is None else empty(v, f"{path}/{k}"))]
        if isinstance(node, list):
            return [p for i, v in enumerate(node) for p in empty(v, f"{path}[{i}]")]
        return []

    assert empty(openapi_document(), "") == []


async def test_every_answer_carries_the_security_headers(http: aiohttp.ClientSession) -> None:
    """Tester 126: no header kept a browser from sniffing an answer into a page or framing the dashboard."""
    for path in ("/", "/api/health", "/api/messages/nosuch", "/metrics", "/dashboard/nosuch.js"):
        async with http.get(path) as resp:
            assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
            assert resp.headers.get("X-Frame-Options") == "DENY", path
            assert resp.headers.get("Referrer-Policy") == "no-referrer", path


async def test_health_and_openapi_are_served(app: App, http: aiohttp.ClientSession) -> None:
    assert await _get(http, "/api/health") == {"status": "ok"}
    doc = await _get(http, "/api/openapi")
    assert "/api/mo" in doc["paths"]
    # (tester 142: it named 127.0.0.1:8080 whatever the port)
    assert app.http is not None
    assert doc["servers"] == [{"url": f"http://127.0.0.1:{app.http.port}", "description": "this server"}]


async def test_injected_mo_reaches_a_receiver_bind_as_deliver_sm(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    esme = await esme_factory("receiver")
    binds = (await _get(http, "/api/binds"))["binds"]
    assert [(b["system_id"], b["bind_type"], b["bound"]) for b in binds] == [("test", "receiver", True)]
    assert binds[0]["peer"].startswith("127.0.0.1:") and binds[0]["window_in_use"] == 0

    body = await _send(http, "POST", "/api/mo", 202, json={"from": "+447700900123", "to": SHORT_CODE,
                                                           "text": "Hello from a handset"})
    assert len(body["delivery_ids"]) == 1
    await asyncio.to_thread(esme.read_until, lambda: len(esme.received) >= 1)
    pdu = esme.received[0]
    assert pdu.command == "deliver_sm"
    assert pdu.source_addr == b"447700900123" and pdu.destination_addr == SHORT_CODE.encode()
    assert pdu.esm_class == 0 and pdu.short_message == b"Hello from a handset"


async def test_mo_that_no_esme_would_receive_is_refused_and_not_queued(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    # tester9 finding 2: 202 with a delivery id, but nobody ever received it.  "99999" has no MO route, and
    # the handset has had no MT from any ESME.
    esme = await esme_factory("transceiver")
    body = await _send(http, "POST", "/api/mo", 422, json={"from": UK_INSTANT, "to": "99999", "text": "lost"})
    assert set(body) == {"error"} and body["error"].startswith("to: no ESME receives MO sent to '99999'")
    core = (await _get(http, "/api/stats"))["core"]
    assert (core["mo_received"], core["mo_unrouted"]) == (0, 0)
    assert (await _get(http, "/api/deliveries"))["count"] == 0
    # Once an ESME has sent MT to the handset, its answer to any number goes back to that ESME.
    await asyncio.to_thread(esme.submit, UK_INSTANT, b"hello")
    body = await _send(http, "POST", "/api/mo", 202, json={"from": UK_INSTANT, "to": "99999", "text": "reply"})
    assert len(body["delivery_ids"]) == 1
    await asyncio.to_thread(esme.read_until, lambda: any(p.short_message == b"reply" for p in esme.received))


async def test_mo_from_a_handset_whose_carrier_is_down_is_refused_and_not_queued(
    http: aiohttp.ClientSession,
) -> None:
    """Tester 179: with its carrier taken down, a handset's MO was accepted (202) and delivered, as if its network
    were up: a handset sends through its network, which is cut from the SMSC.  422, nothing queued; back up, it
    goes through."""
    await _send(http, "PUT", "/api/carriers/britmobile", 200, json={"down": True})
    body = await _send(http, "POST", "/api/mo", 422, json={"from": UK_INSTANT, "to": SHORT_CODE, "text": "hi"})
    assert body["error"] == ("from: its carrier britmobile is down (PUT /api/carriers/britmobile brings it back): "
                             "the handset has no network to send through; nothing was sent")
    assert (await _get(http, "/api/stats"))["core"]["mo_received"] == 0
    await _send(http, "PUT", "/api/carriers/britmobile", 200, json={"down": False})
    await _send(http, "POST", "/api/mo", 202, json={"from": UK_INSTANT, "to": SHORT_CODE, "text": "hi"})


async def test_an_injected_mo_too_long_for_255_parts_is_refused_naming_the_encoding(
    http: aiohttp.ClientSession,
) -> None:
    # (a tester saw "data_coding None" when the request gave none)
    body = await _send(http, "POST", "/api/mo", 400, json={"from": UK_INSTANT, "to": SHORT_CODE, "text": "z" * 39016})
    assert body["error"] == (
        "text: too long as a handset would send it (data_coding 0): 39,016 characters: message needs 256 parts, at "
        "most 255 are possible; one part holds 153 septets after its 6-octet concatenation header, so at most "
        "39,015 septets fit (a character of the GSM extension table, [ ] { } ^ ~ | \u20ac \\, takes two)")
    # (tester 68: 19,381 euro signs, 38,762 septets, were refused under "at most 39,015 septets fit" alone)
    body = await _send(http, "POST", "/api/mo", 400, json={"from": UK_INSTANT, "to": SHORT_CODE,
                                                           "text": "\u20ac" * 19381})
    assert "message needs 256 parts" in body["error"] and "so a little less fits with them" in body["error"]
    body = await _send(http, "POST", "/api/mo", 400, json={"from": UK_INSTANT, "to": SHORT_CODE,
                                                           "text": "\U0001F600" * 8416})
    assert "message needs 256 parts" in body["error"] and "so a little less fits with them" in body["error"]
    body = await _send(http, "POST", "/api/mo", 400,
                       json={"from": UK_INSTANT, "to": SHORT_CODE, "text": "z" * 50000, "data_coding": 8})
    assert body["error"].startswith("text: too long with data_coding 8: 50,000 characters: message needs at least "
                                    "747 parts, at most 255 are possible; one part holds 67 UTF-16 units")
    assert "so at most 17,085 UTF-16 units fit" in body["error"]
    assert (await _get(http, "/api/deliveries"))["count"] == 0


async def test_a_binary_mo_given_as_hex_in_text_too_long_for_255_parts_is_refused_for_its_length(
    http: aiohttp.ClientSession,
) -> None:
    # Tester 58: the part count's error was answered "data_coding 4 takes octets ... give them as hex", which the
    # request had done.
    body = await _send(http, "POST", "/api/mo", 400,
                       json={"from": UK_INSTANT, "to": SHORT_CODE, "text": "ab" * 34171, "data_coding": 4})
    assert body["error"] == (
        "text: too long with data_coding 4: 34,171 octets as hex in text: message needs 256 parts, at most 255 are "
        "possible; one part holds 134 octets after its 6-octet concatenation header, so at most 34,170 octets fit")
    await _send(http, "POST", "/api/mo", 202,
                json={"from": UK_INSTANT, "to": SHORT_CODE, "text": "ab" * 34170, "data_coding": 4})


@pytest.mark.parametrize(("data_coding", "octet", "most", "per_part"), [
    (4, "ab", 34_170, "134 octets"),  # 8-bit data: 255 x (140 - 6); 255 x 140 = 35,700 passed (tester 58)
    (0xF4, "ab", 34_170, "134 octets"),  # 8-bit data, message class 0 (GSM 03.38 coding group 1111)
    (2, "ab", 34_170, "134 octets"),
    (8, "ab", 34_170, "134 octets"),  # UCS-2: 67 UTF-16 units a part
    (0, "41", 39_015, "153 septets"),  # GSM 7-bit, unpacked: 255 x 153, more than 35,700 (refused before)
    (3, "41", 39_015, "153 septets"),  # Latin-1: counted as the GSM it becomes
])
async def test_an_mo_payload_too_long_for_255_parts_is_refused_naming_payload_hex_and_the_most_that_fits(
    http: aiohttp.ClientSession, data_coding: int, octet: str, most: int, per_part: str,
) -> None:
    """Tester 58: a payload_hex of 34,171 to 35,700 octets passed a check of 255 x 140 octets, which forgot each
    part's 6-octet concatenation header, and was then refused naming ``text``, a field not sent."""
    mo = {"from": UK_INSTANT, "to": SHORT_CODE, "data_coding": data_coding}
    body = await _send(http, "POST", "/api/mo", 202, json={**mo, "payload_hex": octet * most})
    assert len(body["delivery_ids"]) == 255
    unit = per_part.split()[1]
    body = await _send(http, "POST", "/api/mo", 400, json={**mo, "payload_hex": octet * (most + 1)})
    assert body["error"].startswith(
        f"payload_hex: too long with data_coding {data_coding}: {most + 1:,} octets: message needs 256 parts, at "
        f"most 255 are possible; one part holds {per_part} after its 6-octet concatenation header, so at most "
        f"{most:,} {unit} fit"), body
    body = await _send(http, "POST", "/api/mo", 400, json={**mo, "payload_hex": octet * 100_000})
    assert body["error"].startswith(f"payload_hex: too long with data_coding {data_coding}: 100,000 octets: message "
                                    f"needs at least {-(-100_000 // int(per_part.split()[0])):,} parts"), body
    assert (await _get(http, "/api/deliveries"))["count"] == 255


async def test_null_text_or_payload_hex_is_the_same_as_leaving_it_out_as_the_document_says(
    http: aiohttp.ClientSession,
) -> None:
    # Tester 58 (schemathesis): "payload_hex": null was taken as absent while the schema said string.
    mo = {"from": UK_INSTANT, "to": SHORT_CODE}
    await _send(http, "POST", "/api/mo", 202, json={**mo, "text": "hi", "payload_hex": None, "data_coding": None})
    await _send(http, "POST", "/api/mo", 202, json={**mo, "text": None, "payload_hex": "41", "data_coding": 4})
    body = await _send(http, "POST", "/api/mo", 400, json={**mo, "text": None, "payload_hex": None})
    assert body == {"error": "text: give exactly one of text or payload_hex"}
    fields = openapi_document()["paths"]["/api/mo"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    for name in ("text", "payload_hex", "data_coding"):
        assert fields["properties"][name]["nullable"] is True, name


async def test_long_injected_mo_arrives_split_with_a_concatenation_udh(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    esme = await esme_factory("transceiver")
    text = "".join(chr(ord("a") + i % 26) for i in range(200))
    body = await _send(http, "POST", "/api/mo", 202, json={"from": UK_INSTANT, "to": SHORT_CODE, "text": text})
    assert len(body["delivery_ids"]) == 2
    pending = await _get(http, "/api/deliveries?system_id=test")
    assert pending["count"] == 2
    assert {d["kind"] for d in pending["deliveries"]} == {"mo"}
    assert {d["concat"]["seq"] for d in pending["deliveries"]} == {1, 2}
    await asyncio.to_thread(esme.read_until, lambda: len(esme.received) >= 2)
    infos = sorted((concat_info(p.esm_class, p.short_message, {}) for p in esme.received), key=lambda i: i.seq)
    assert [(i.total, i.seq) for i in infos] == [(2, 1), (2, 2)]
    assert b"".join(i.user_data for i in infos).decode("ascii") == text


async def test_mo_payload_hex_is_delivered_as_is(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    esme = await esme_factory("receiver")
    await _send(http, "POST", "/api/mo", 202,
                json={"from": UK_INSTANT, "to": SHORT_CODE, "payload_hex": "0041004200e9", "data_coding": 8})
    await asyncio.to_thread(esme.read_until, lambda: len(esme.received) >= 1)
    assert esme.received[0].data_coding == 8 and esme.received[0].short_message == bytes.fromhex("0041004200e9")
    # A binary data_coding's octets as hex in text are taken too (tester 55: refused for a while, which broke
    # suites that inject binary MO this way).
    await _send(http, "POST", "/api/mo", 202,
                json={"from": UK_INSTANT, "to": SHORT_CODE, "text": "cafe0001", "data_coding": 4})
    await asyncio.to_thread(esme.read_until, lambda: len(esme.received) >= 2)
    assert esme.received[1].data_coding == 4 and esme.received[1].short_message == bytes.fromhex("cafe0001")


async def test_message_to_a_handset_switched_off_waits_until_it_is_switched_on(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any], app: App,
) -> None:
    handset = await _send(http, "PUT", f"/api/handsets/{UK_INSTANT}", 200, json={"online": False})
    assert handset == {"number": UK_INSTANT, "carrier": "britmobile", "online": False, "next_online": None,
                       "opted_out": False, "forced": True, "forced_until": None, "rule": "delivered at once"}
    esme = await esme_factory("transceiver")
    message_id = await asyncio.to_thread(esme.submit, UK_INSTANT, b"Your code is 1234", registered_delivery=1)

    async def absent_once() -> Any:
        rec = await _get(http, f"/api/messages/{message_id}")
        return rec if rec["attempts"] else None

    rec = await _wait_for(absent_once)
    assert rec["state"] == "ENROUTE" and rec["attempts"][0]["outcome"] == "absent"
    assert rec["text"] == "Your code is 1234" and rec["system_id"] == "test" and rec["carrier"] == "britmobile"
    # Once on disk the waiting message leaves memory (SQLite store); the listing reads it back.
    async def evicted() -> bool:
        return app.smsc is not None and app.smsc.index.evicted == 1

    assert await _wait_for(evicted)
    listed = await _get(http, "/api/messages?state=ENROUTE&system_id=test")
    assert [m["message_id"] for m in listed["messages"]] == [message_id]

    handset = await _send(http, "PUT", f"/api/handsets/{UK_INSTANT}", 200, json={"online": True})
    assert handset["online"] is True

    async def delivered() -> Any:
        rec = await _get(http, f"/api/messages/{message_id}")
        return rec if rec["state"] == "DELIVERED" else None

    rec = await _wait_for(delivered)
    assert rec and rec["final"] and rec["final_time"].endswith("Z")
    await asyncio.to_thread(esme.read_until, lambda: len(esme.received) >= 1)
    receipt = esme.received[0]
    assert receipt.esm_class == 0x04 and b"stat:DELIVRD" in receipt.short_message
    assert receipt.receipted_message_id.decode() == message_id
    listed = await _get(http, "/api/messages?state=delivrd&system_id=test")
    assert [m["message_id"] for m in listed["messages"]] == [message_id]
    assert (await _get(http, "/api/messages?state=ENROUTE"))["count"] == 0
    body = await _send(http, "GET", "/api/messages?state=DONE", 400)
    assert "the receipt's stat: word (DELIVRD, UNDELIV, REJECTD ...)" in body["error"]  # (tester 118)


async def test_messages_are_listed_by_destination_and_by_source(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    """Tester 48: "what did my application send to this number" needed the whole listing, filtered by the
    client.  ``destination`` is read as a destination_addr (national form too); ``source`` is exact."""
    other = "447700900124"  # also delivered at once
    esme = await esme_factory("transmitter")
    to_instant = await asyncio.to_thread(esme.submit, UK_INSTANT, b"code 1")
    await asyncio.to_thread(esme.submit, other, b"code 2")
    from_bank = await asyncio.to_thread(esme.submit, UK_INSTANT, b"code 3", source_addr="Bank")
    for query in (f"destination={UK_INSTANT}", "destination=07700900123", "destination=%2B447700900123"):
        listed = await _get(http, f"/api/messages?{query}")
        assert [m["message_id"] for m in listed["messages"]] == [from_bank, to_instant], query
    listed = await _get(http, f"/api/messages?destination={UK_INSTANT}&source=Shop")
    assert [m["message_id"] for m in listed["messages"]] == [to_instant]
    listed = await _get(http, "/api/messages?source=Bank")
    assert [(m["message_id"], m["text"]) for m in listed["messages"]] == [(from_bank, "code 3")]
    assert (await _get(http, "/api/messages?destination=447700900199"))["count"] == 0
    # (tester 184) Exactly as submitted, spaces included: an alphanumeric sender may carry one.
    spaced = await asyncio.to_thread(esme.submit, UK_INSTANT, b"code 4", source_addr="My Brand ")
    listed = await _get(http, "/api/messages?source=My%20Brand%20")
    assert [m["message_id"] for m in listed["messages"]] == [spaced]
    assert (await _get(http, "/api/messages?source=My%20Brand"))["count"] == 0
    assert (await _get(http, "/api/messages?source=%20Bank"))["count"] == 0


async def test_messages_are_listed_since_a_time_so_a_test_sees_its_own(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    esme = await esme_factory("transmitter")
    await asyncio.to_thread(esme.submit, UK_INSTANT, b"an earlier test's")
    await asyncio.sleep(0.01)  # (the clock moves on: the next submit is later)
    began = (await _get(http, "/api/stats"))["time"]
    mine = await asyncio.to_thread(esme.submit, UK_INSTANT, b"this test's")
    listed = await _get(http, f"/api/messages?destination={UK_INSTANT}&since={began}")
    assert [m["message_id"] for m in listed["messages"]] == [mine]
    record = await _get(http, f"/api/messages/{mine}")
    at = record["submit_time"]
    from datetime import datetime
    epoch = datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    for since in (at, str(epoch), at.replace("Z", "+00:00").replace("+", "%2B")):
        assert [m["message_id"] for m in (await _get(http, f"/api/messages?since={since}"))["messages"]] == [mine]
    assert (await _get(http, "/api/messages?since=2099-01-01T00:00:00Z"))["count"] == 0
    for bad in ("yesterday", "2026-12-01T09:30:00", "nan"):
        body = await _send(http, "GET", f"/api/messages?since={bad}", 400)
        assert body["error"].startswith("since: expected a time such as"), body


async def test_an_attempt_under_way_shows_on_its_message(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    """Tester 50: while the network paged the handset (a 30-s latency here), the message said 0 attempts and
    nothing else; attempt_in_progress says so, and the attempt counts once its outcome has come."""
    esme = await esme_factory("transmitter")
    message_id = await asyncio.to_thread(esme.submit, "447700900200", b"30 s away")  # delivered 30 s after

    async def paging() -> Any:
        rec = await _get(http, f"/api/messages/{message_id}")
        return rec if rec["attempt_in_progress"] else None

    rec = await _wait_for(paging)
    assert rec["state"] == "ENROUTE" and rec["attempt_count"] == 0 and rec["attempts"] == []
    [listed] = (await _get(http, "/api/messages?destination=447700900200"))["messages"]
    assert listed["attempt_in_progress"] is True
    at_once = await asyncio.to_thread(esme.submit, UK_INSTANT, b"delivered at once")

    async def delivered() -> Any:
        rec = await _get(http, f"/api/messages/{at_once}")
        return rec if rec["state"] == "DELIVERED" else None

    rec = await _wait_for(delivered)
    assert rec["attempt_in_progress"] is False and rec["attempt_count"] == 1


async def test_a_switched_handset_is_handed_back_to_the_simulation_and_alerted(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    """Tester 48: a handset switched by the API stayed forced until a restart.  ``{"online": null}`` hands it
    back to its rule (here: online, delivered at once), and what waited for it is delivered without a retry."""
    handset = await _send(http, "PUT", f"/api/handsets/{UK_INSTANT}", 200, json={"online": False})
    assert handset["forced"] is True and handset["online"] is False
    esme = await esme_factory("transmitter")
    message_id = await asyncio.to_thread(esme.submit, UK_INSTANT, b"wait for me")

    async def absent_once() -> Any:
        rec = await _get(http, f"/api/messages/{message_id}")
        return rec if rec["attempts"] else None

    rec = await _wait_for(absent_once)
    assert rec["state"] == "ENROUTE" and rec["attempts"][0]["outcome"] == "absent"
    handset = await _send(http, "PUT", f"/api/handsets/{UK_INSTANT}", 200, json={"online": None})
    assert handset["forced"] is False and handset["online"] is True and handset["rule"] == "delivered at once"

    async def delivered() -> Any:
        rec = await _get(http, f"/api/messages/{message_id}")
        return rec if rec["state"] == "DELIVERED" else None

    rec = await _wait_for(delivered, seconds=5.0)  # (the first retry would come a simulated minute later)
    assert [a["outcome"] for a in rec["attempts"]] == ["absent", "delivered"]


async def test_a_handset_switched_off_for_a_while_says_when_and_comes_back_by_itself(
    http: aiohttp.ClientSession,
) -> None:
    """Tester 179: a scenario's step could switch a handset off for a while, the control API could not
    (``for``: unknown field), and the handset said ``next_online: null`` although it came back by itself."""
    stats = await _get(http, "/api/stats")
    handset = await _send(http, "PUT", f"/api/handsets/{UK_INSTANT}", 200, json={"online": False, "for": 600})
    assert handset["forced"] is True and handset["online"] is False
    until = datetime.fromisoformat(handset["forced_until"].replace("Z", "+00:00")).timestamp()
    now = datetime.fromisoformat(stats["time"].replace("Z", "+00:00")).timestamp()
    assert abs(until - (now + 600)) < 60  # (the clock ran on between the two calls)
    assert handset["next_online"] == handset["forced_until"]  # (its rule has it online at once)
    for bad in ({"online": None, "for": 60}, {"online": False, "for": 0}, {"online": True, "for": "10m"},
                {"online": False, "for": True}, {"online": False, "for": 366 * 86400 + 1}):
        body = await _send(http, "PUT", f"/api/handsets/{UK_INSTANT}", 400, json=bad)
        assert body["error"].startswith("for: expected with online true or false"), body
    await _send(http, "POST", "/api/clock", 200, json={"advance": 601})
    handset = await _get(http, f"/api/handsets/{UK_INSTANT}")
    assert (handset["forced"], handset["forced_until"], handset["online"]) == (False, None, True)


async def test_a_delivered_message_no_longer_kept_in_memory_is_read_from_the_store(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any], app: App,
) -> None:
    """Found by a tester: beyond the newest final messages kept in memory (10,000 with SQLite) the lookup
    answered 404 while query_sm found the message on disk.  Here the core keeps one."""
    assert app.smsc is not None
    app.smsc.index.max_final_in_memory = 1
    esme = await esme_factory("transmitter")
    ids = [await asyncio.to_thread(esme.submit, UK_INSTANT, f"number {i}".encode()) for i in range(3)]

    async def forgotten() -> bool:
        return app.smsc is not None and ids[0] not in app.smsc.index.messages and app.smsc.index.final_count == 1

    assert await _wait_for(forgotten)
    rec = await _get(http, f"/api/messages/{ids[0]}")
    assert rec["message_id"] == ids[0] and rec["state"] == "DELIVERED" and rec["text"] == "number 0"
    listed = await _get(http, "/api/messages?limit=10")
    assert [m["message_id"] for m in listed["messages"]] == [ids[2]]  # the listing shows memory only


async def test_receipt_waits_in_the_outbox_while_no_receiver_is_bound(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    esme = await esme_factory("transmitter")
    message_id = await asyncio.to_thread(esme.submit, UK_INSTANT, b"receipt please", registered_delivery=1)

    async def receipt() -> Any:
        return (await _get(http, "/api/deliveries?system_id=test"))["deliveries"]

    pending = await _wait_for(receipt)
    assert len(pending) == 1
    d = pending[0]
    assert d["kind"] == "receipt" and d["esm_class"] == 4
    assert d["source"]["addr"] == UK_INSTANT and d["destination"]["addr"] == "Shop"
    assert d["text"].startswith(f"id:{message_id} ") and "stat:DELIVRD" in d["text"]
    assert d["tlvs"]["receipted_message_id"] == message_id and d["tlvs"]["message_state"] == 2


async def test_opt_out_and_opt_in_of_a_handset(http: aiohttp.ClientSession) -> None:
    rec = await _send(http, "POST", "/api/handsets/07700900123/opt-out", 200)  # national form
    assert rec["number"] == UK_INSTANT and rec["opted_out"] is True
    assert (await _get(http, "/api/handsets/+447700900123"))["opted_out"] is True
    rec = await _send(http, "POST", f"/api/handsets/{UK_INSTANT}/opt-in", 200)
    assert rec["opted_out"] is False
    us = await _get(http, "/api/handsets/12125550100")
    assert us["carrier"] == "liberty"
    # Tester 121: a body was accepted and read by nobody; an empty object is still taken.
    body = await _send(http, "POST", f"/api/handsets/{UK_INSTANT}/opt-out", 400, json={"opted_out": False})
    assert body["error"] == "opted_out: unknown field (this request takes no fields)"
    assert (await _get(http, "/api/handsets/+447700900123"))["opted_out"] is False
    assert (await _send(http, "POST", f"/api/handsets/{UK_INSTANT}/opt-out", 200, json={}))["opted_out"] is True


async def test_every_change_through_the_api_is_logged_with_its_peer(http: aiohttp.ClientSession) -> None:
    """Tester 121: on a server shared by teams, who switched a handset off or opted a number out left no trace."""
    import structlog

    with structlog.testing.capture_logs() as logs:
        await _send(http, "PUT", f"/api/handsets/{UK_INSTANT}", 200, json={"online": False})
        await _send(http, "PUT", f"/api/handsets/{UK_INSTANT}", 200, json={"online": None})
        await _send(http, "POST", f"/api/handsets/{UK_INSTANT}/opt-out", 200)
        await _send(http, "POST", f"/api/handsets/{UK_INSTANT}/opt-in", 200)
        await _send(http, "POST", "/api/mo", 202, json={"from": UK_INSTANT, "to": "88123", "text": "hi"})
    changes = [(e["event"], e.get("number") or e.get("source"), e.get("online"), e["peer"].rpartition(":")[0])
               for e in logs if "peer" in e]
    assert changes == [
        ("handset_switched", UK_INSTANT, False, "127.0.0.1"),
        ("handset_switched", UK_INSTANT, None, "127.0.0.1"),
        ("handset_opted_out", UK_INSTANT, None, "127.0.0.1"),
        ("handset_opted_in", UK_INSTANT, None, "127.0.0.1"),
        ("mo_injected", UK_INSTANT, None, "127.0.0.1"),
    ]
    assert all(e["peer"].rpartition(":")[2].isdigit() for e in logs if "peer" in e)  # ip:port, as SMPP's (tester 122)


async def test_a_change_sent_from_another_sites_page_is_refused(app: App, http: aiohttp.ClientSession) -> None:
    # Found by a tester: a text/plain POST is a request a browser sends to any address without asking first,
    # so any page open beside smsc could inject MO or opt numbers out.  A browser names the page's site in
    # Origin; tools send none, and the dashboard's own requests name this server.
    evil = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    body = await _send(http, "POST", f"/api/handsets/{UK_INSTANT}/opt-out", 403, headers=evil)
    assert "another site's page (http://evil.example) refused" in body["error"]
    await _send(http, "POST", "/api/mo", 403, headers={"Origin": "null"},
                data='{"from": "447700900123", "to": "88123", "text": "csrf"}')
    await _send(http, "PUT", f"/api/handsets/{UK_INSTANT}", 403, headers=evil, json={"online": False})
    assert (await _get(http, f"/api/handsets/{UK_INSTANT}"))["opted_out"] is False
    assert (await _get(http, "/api/deliveries"))["deliveries"] == []
    assert (await _get(http, f"/api/handsets/{UK_INSTANT}", ))["online"] is True
    own = {"Origin": f"http://127.0.0.1:{app.http.port}"}  # (the dashboard's page)
    assert (await _send(http, "POST", f"/api/handsets/{UK_INSTANT}/opt-out", 200, headers=own))["opted_out"]
    assert not (await _send(http, "POST", f"/api/handsets/{UK_INSTANT}/opt-in", 200))["opted_out"]  # (curl)
    assert (await _get(http, "/api/health", ))["status"] == "ok"


async def test_a_request_by_another_name_than_localhost_is_refused_on_loopback(
        app: App, http: aiohttp.ClientSession) -> None:
    # Tester 22: a site whose DNS name points at 127.0.0.1 (DNS rebinding) sends its own name in Host and in
    # Origin, which then match: the API listens on 127.0.0.1, so it answers only by a loopback name.
    port = app.http.port
    rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    body = await _send(http, "POST", f"/api/handsets/{UK_INSTANT}/opt-out", 403, headers=rebound)
    assert body["error"].startswith(f"Host 'evil.example:{port}' refused")
    await _send(http, "GET", "/api/messages", 403, headers={"Host": "evil.example"})
    assert (await _get(http, f"/api/handsets/{UK_INSTANT}"))["opted_out"] is False
    for host in (f"localhost:{port}", "LOCALHOST", f"127.0.0.1:{port}", "127.1.2.3", f"[::1]:{port}", "localhost."):
        await _send(http, "GET", "/api/health", 200, headers={"Host": host})


def test_only_a_loopback_listen_address_restricts_the_host_names_answered() -> None:
    # (tests listen on 127.0.0.1 only: the other side of the rule is checked here, where it is decided)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost", "LOCALHOST."):
        assert _is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.5", "smsc.lab.example", "127.example"):
        assert not _is_loopback(host), host
    assert [_host_name(h) for h in ("a:80", "[::1]:8080", "::1", "b")] == ["a", "::1", "::1", "b"]


def test_host_names_answered_are_loopback_names_ip_addresses_and_the_names_listed() -> None:
    """Tester 110: listening on 0.0.0.0 (the Docker image) turned the Host check off, so a page whose DNS name
    pointed at the machine read and changed everything; and a listen name that resolves to 127.0.0.1 (``vm``) did
    the same.  Now any listener answers loopback names, IP addresses and the names it knows only."""
    from smsc.http.api import _host_allowed

    names = frozenset({"vm", "smsc.lab.example"})
    for host in ("localhost", "127.0.0.1", "::1", "192.168.1.5", "10.0.0.7", "fe80::1", "vm", "VM.",
                 "smsc.lab.example"):
        assert _host_allowed(host, names), host
    for host in ("evil.example", "vm.evil.example", "127.example", "localhost.evil", "0x7f000001.example", ""):
        assert not _host_allowed(host, names), host


async def test_a_name_listed_in_allowed_hosts_is_answered_and_others_are_refused(tmp_path: Path) -> None:
    cfg = load_config(None)
    cfg = dataclasses.replace(
        cfg, store=dataclasses.replace(cfg.store, kind="memory"),
        server=dataclasses.replace(cfg.server, host="127.0.0.1", port=0),
        http=dataclasses.replace(cfg.http, enabled=True, host="127.0.0.1", port=0, allowed_hosts=("smsc.test",)))
    running = App(cfg)
    await running.start()
    try:
        assert running.http is not None
        async with aiohttp.ClientSession(f"http://127.0.0.1:{running.http.port}",
                                         timeout=aiohttp.ClientTimeout(total=10)) as session:
            await _send(session, "GET", "/api/health", 200, headers={"Host": "smsc.test"})
            await _send(session, "GET", "/api/health", 200, headers={"Host": "SMSC.test.:8080"})
            await _send(session, "GET", "/api/health", 403, headers={"Host": "other.test"})
    finally:
        await running.stop()


async def test_carriers_list_their_routed_prefixes_and_receipt_style(http: aiohttp.ClientSession) -> None:
    carriers = {c["name"]: c for c in (await _get(http, "/api/carriers"))["carriers"]}
    assert list(carriers) == ["britmobile", "thames", "liberty"]
    assert carriers["britmobile"]["prefixes"] == ["44", "4477", "4478", "4479", "*"]
    assert "4477009007" in carriers["thames"]["prefixes"] and carriers["thames"]["capacity"] == 2
    liberty = carriers["liberty"]
    assert liberty["prefixes"] == ["1"]
    assert liberty["receipt"]["message_id"] == {"format": "hex", "length": 8, "uppercase": True}
    assert liberty["receipt"]["text_label"] == "Text"
    assert carriers["britmobile"]["receipt"]["message_id"] is None
    assert (liberty["receipt"]["lost"], liberty["receipt"]["duplicated"]) == (0.0, 0.0)
    assert (liberty["receipt"]["duplicate_delay_mean"], liberty["submit_latency_mean"]) == (None, None)


async def test_carrier_counters_count_each_attempt_and_its_outcome(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    """Tester 58: the Carrier schema's ``counters`` were never returned.  Default-config test numbers give one
    attempt of each outcome on britmobile, and one delivery each on thames and liberty."""
    zero = {"attempts": 0, "delivered": 0, "absent": 0, "temporary": 0, "undeliverable": 0, "rejected": 0,
            "accepted": 0}
    carriers = (await _get(http, "/api/carriers"))["carriers"]
    assert {c["name"]: c["counters"] for c in carriers} == {"britmobile": zero, "thames": zero, "liberty": zero}
    esme = await esme_factory("transmitter")
    numbers = {
        UK_INSTANT: "delivered",
        "447700900400": "absent",  # never on
        "447700900921": "busy",  # temporary, retried a simulated minute later
        "447700900500": "unknown_subscriber",  # undeliverable
        "447700900600": "barred",  # rejected
        "447700900922": "read_by_customer_service",  # accepted (ACCEPTD)
        "447700900700": "thames",  # delivered 1 s after the attempt
        "12125550100": "liberty",  # delivered at once
    }
    ids = [await asyncio.to_thread(esme.submit, number, b"count me") for number in numbers]

    async def attempted() -> bool:
        for message_id in ids:
            rec = await _get(http, f"/api/messages/{message_id}")
            if not rec["attempt_count"]:
                return False
        return True

    assert await _wait_for(attempted)
    counters = {c["name"]: c["counters"] for c in (await _get(http, "/api/carriers"))["carriers"]}
    assert counters == {
        "britmobile": {"attempts": 6, "delivered": 1, "absent": 1, "temporary": 1, "undeliverable": 1, "rejected": 1,
                       "accepted": 1},
        "thames": {**zero, "attempts": 1, "delivered": 1},
        "liberty": {**zero, "attempts": 1, "delivered": 1},
    }
    outcomes = [(await _get(http, f"/api/messages/{i}"))["attempts"][0]["outcome"] for i in ids]
    assert outcomes == ["delivered", "absent", "temporary", "undeliverable", "rejected", "accepted", "delivered",
                        "delivered"]
    assert (await _get(http, "/api/stats"))["core"]["attempts"] == 8


async def test_metrics_counters_move_after_a_submit(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    async def scrape() -> str:
        async with http.get("/metrics") as resp:
            assert resp.status == 200 and resp.content_type == "text/plain"
            return await resp.text()

    before = await scrape()
    assert _metric(before, "smsc_smpp_submits_total") == 0
    assert _metric(before, "smsc_submitted_total") == 0
    esme = await esme_factory("transmitter")
    await asyncio.to_thread(esme.submit, UK_INSTANT, b"metrics")
    after = await scrape()
    assert _metric(after, "smsc_smpp_submits_total") == 1
    assert _metric(after, "smsc_submitted_total") == 1
    assert _metric(after, "smsc_smpp_binds_total") == 1
    assert 'smsc_smpp_bound_sessions{bind_type="transmitter",system_id="test"} 1.0' in after
    assert "process_cpu_seconds_total" in after
    # What runs (tester 121: no version to alert on).
    import platform

    from smsc import installed_version

    (build,) = [line for line in after.splitlines() if line.startswith("smsc_build_info{")]
    assert f'version="{installed_version()}"' in build and f'python="{platform.python_version()}"' in build
    assert 'event_loop="asyncio"' in build and 'store="sqlite"' in build and build.endswith(" 1.0")
    stats = await _get(http, "/api/stats")
    assert stats["smpp"]["submits"] == 1 and stats["core"]["submitted"] == 1 and stats["bound"] == 1
    # When the process started, on the wall clock: a restart shows as one, not only as counters at 0 (tester 91).
    import datetime

    started = datetime.datetime.fromisoformat(stats["started"].replace("Z", "+00:00")).timestamp()
    assert 0 <= time.time() - started < 60 and (await _get(http, "/api/stats"))["started"] == stats["started"]


async def test_metrics_count_refused_requests_by_command_and_status(http: aiohttp.ClientSession, app: App) -> None:
    """Tester 84: 302 ESME_RTHROTTLED, ESME_RSYSERR and others were one unlabelled smsc_submit_errors_total, and
    smsc_smpp_throttled_total counts an account's limit only: no alert could tell them apart."""
    from smsc.smpp import pdu as P
    from smsc.smpp.codec import Framer, encode

    assert app.smpp is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", app.smpp.port)
    try:
        requests = [P.BindTransceiver(sequence_number=1, system_id="test", password="test")]
        for seq, number in enumerate(["447700900911", "447700900911", "447700900913"], start=2):
            requests.append(P.SubmitSm(sequence_number=seq, source_addr="Shop", source_addr_ton=5, dest_addr_ton=1,
                                       dest_addr_npi=1, destination_addr=number, short_message=b"x"))
        requests.append(P.QuerySm(sequence_number=9, message_id="ffffffff", source_addr="Shop", source_addr_ton=5))
        writer.write(b"".join(encode(r) for r in requests))
        framer, answered = Framer(), set()
        while len(answered) < len(requests):
            data = await asyncio.wait_for(reader.read(65536), 5)
            assert data
            answered.update(p.sequence_number for p in framer.feed(data) if isinstance(p, P.Pdu))
    finally:
        writer.close()
    async with http.get("/metrics") as resp:
        text = await resp.text()
    assert _metric(text, 'smsc_smpp_requests_refused_total{command="submit_sm",status="ESME_RTHROTTLED"}') == 2
    assert _metric(text, 'smsc_smpp_requests_refused_total{command="submit_sm",status="ESME_RSYSERR"}') == 1
    assert _metric(text, 'smsc_smpp_requests_refused_total{command="query_sm",status="ESME_RQUERYFAIL"}') == 1
    # (tester 123: a carrier rule's ESME_RTHROTTLED was left out of the throttled counter an alert would watch)
    assert _metric(text, "smsc_smpp_throttled_total") == 2


async def test_a_stalled_store_shows_in_the_metrics_and_the_log(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any], app: App, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Found by a tester: with the SQLite writer stopped, submits waited and nothing on the server said why
    (/metrics had no store series; the log was silent).  Here the writer child is stopped with SIGSTOP."""
    import os
    import signal

    import structlog
    from structlog.testing import LogCapture

    import smsc.app as app_module

    capture = LogCapture()
    monkeypatch.setattr(app_module, "log", structlog.wrap_logger(
        structlog.PrintLogger(), processors=[capture], wrapper_class=structlog.stdlib.BoundLogger))
    monkeypatch.setattr(app_module, "STORE_STALL_SECONDS", 0.2)
    esme = await esme_factory("transmitter")
    await asyncio.to_thread(esme.submit, UK_INSTANT, b"before")
    async with http.get("/metrics") as resp:
        text = await resp.text()
    assert _metric(text, "smsc_store_commits_total") >= 1 and _metric(text, "smsc_store_commit_wait_seconds") < 1
    pid = app.store.writer_pid
    os.kill(pid, signal.SIGSTOP)
    try:
        stalled = asyncio.ensure_future(asyncio.to_thread(esme.submit, UK_INSTANT, b"while stopped"))
        await asyncio.sleep(0.5)
        # The server looks every second (tester 47: every 5 s, and the line came 5-10 s into a stall).
        for _ in range(25):
            if capture.entries:
                break
            await asyncio.sleep(0.1)
        async with http.get("/metrics") as resp:
            text = await resp.text()
        assert _metric(text, "smsc_store_commit_wait_seconds") >= 0.3
        assert [e["event"] for e in capture.entries] == ["store_commit_slow"]
        # The health check says so too (tester 38: it said ok while no submit could be answered).
        async with http.get("/api/health") as resp:
            assert resp.status == 503
            health = await resp.json()
        assert health["status"] == "store_stalled" and health["commit_wait_seconds"] >= 0.3
    finally:
        os.kill(pid, signal.SIGCONT)
    await asyncio.wait_for(stalled, 10)
    app._watch_store()
    assert [e["event"] for e in capture.entries] == ["store_commit_slow", "store_commit_resumed"]
    assert await _get(http, "/api/health") == {"status": "ok"}
    # Tester 117: commits failing and recovering every second said ok.  A failed commit (as the writer reports one)
    # makes it store_failing for 5 s.
    app.store._commit_failures.failed()
    async with http.get("/api/health") as resp:
        assert (resp.status, (await resp.json())["status"]) == (503, "store_failing")
    app.store._commit_failures.last_at -= 5
    assert await _get(http, "/api/health") == {"status": "ok"}


@pytest.mark.parametrize(
    ("stop_for", "status"),
    [
        # Tester 47: a damaged file stops the server, but the HTTP listener closed first, so the documented 503
        # "store_damaged" was never seen: connection refused straight after "ok".
        (lambda app: app._store_damaged("database disk image is malformed"), "store_damaged"),
        # Tester 70: a store file deleted under the server stopped it, as it should, but /api/health said
        # "store_damaged" meanwhile, which sends an operator looking for corruption.
        (lambda app: app._store_lost("the file was deleted or moved away while smsc ran"), "store_lost"),
    ],
    ids=["damaged", "lost"],
)
async def test_health_says_why_the_server_stops_for_its_store(
    http: aiohttp.ClientSession, app: App, stop_for: Callable[[App], None], status: str,
) -> None:
    """The SMPP side stops first; an ESME that does not answer the unbind keeps that stop going for up to 5 s, and
    the health check says why meanwhile."""
    from smsc.smpp import pdu as P
    from smsc.smpp.codec import encode

    assert app.smpp is not None
    reader, quiet = await asyncio.open_connection("127.0.0.1", app.smpp.port)  # binds, then reads nothing
    try:
        quiet.write(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
        assert await asyncio.wait_for(reader.read(4096), 5)  # the bind_resp
        stopping = asyncio.ensure_future(app.stop())
        app.on_fatal = lambda: None
        stop_for(app)
        await asyncio.sleep(0.3)
        assert not stopping.done()  # (waiting for the unbind_resp)
        async with http.get("/api/health") as resp:
            assert resp.status == 503
            assert (await resp.json())["status"] == status
        quiet.close()  # (the stop waited its 5 s for this ESME's unbind_resp: its going ends the wait)
        await asyncio.wait_for(stopping, 10)
    finally:
        quiet.close()


async def test_a_body_that_does_not_decode_is_answered_400_without_a_traceback(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
) -> None:
    """Tester 51: the 400 came with aiohttp's "Unhandled exception" and a 30-line traceback in the log, as it
    read the rest of the body after the answer."""
    import logging

    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        for _ in range(2):  # (the second on the same connection, if aiohttp kept it)
            body = await _send(http, "POST", "/api/mo", 400, data=b"xxxx", headers={"Content-Encoding": "gzip"})
            assert body["error"].startswith("request body: cannot be read")
        # Tester 53: one aiohttp has no decoder for, which it answers 400 itself.
        async with http.post("/api/mo", data=b"xxxx", headers={"Content-Encoding": "br"}) as resp:
            assert resp.status == 400
        assert await _get(http, "/api/health") == {"status": "ok"}
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


async def test_a_client_gone_before_its_body_arrived_is_no_error_in_the_log(
    http: aiohttp.ClientSession, app: App,
) -> None:
    """Tester 72: a PUT whose client closed after 10 of its 100 body octets (a CI job killed mid-request) was
    logged as ``http_handler_error``, a bug's traceback: aiohttp's ConnectionResetError from the body read."""
    import structlog

    with structlog.testing.capture_logs() as logs:
        reader, writer = await asyncio.open_connection("127.0.0.1", app.http.port)
        writer.write(b"PUT /api/handsets/447700900152 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n"
                     b'{"online":')
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        await asyncio.sleep(0.3)
        assert await _get(http, "/api/health") == {"status": "ok"}
    assert not [e for e in logs if e["log_level"] in ("error", "critical") or "exc_info" in e], logs


async def test_health_says_stopping_during_a_stop(http: aiohttp.ClientSession, app: App) -> None:
    """Tester 51: "ok" for up to 5 s of a stop while the SMPP port already refused connections."""
    from smsc.smpp import pdu as P
    from smsc.smpp.codec import encode

    assert app.smpp is not None
    reader, quiet = await asyncio.open_connection("127.0.0.1", app.smpp.port)  # binds, then reads nothing
    try:
        quiet.write(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
        assert await asyncio.wait_for(reader.read(4096), 5)
        stopping = asyncio.ensure_future(app.stop())
        await asyncio.sleep(0.3)
        async with http.get("/api/health") as resp:
            assert (resp.status, await resp.json()) == (503, {"status": "stopping"})
        # Tester 121: an MO was still answered 202 (with the memory store, lost with the process).
        for method, path, body in (("POST", "/api/mo", {"from": UK_INSTANT, "to": "88123", "text": "hi"}),
                                   ("PUT", f"/api/handsets/{UK_INSTANT}", {"online": False}),
                                   ("POST", f"/api/handsets/{UK_INSTANT}/opt-out", None)):
            answer = await _send(http, method, path, 503, json=body)
            assert answer["error"] == "stopping: the server is shutting down; nothing was changed"
        quiet.close()  # (the stop waited its 5 s for this ESME's unbind_resp: its going ends the wait)
        await asyncio.wait_for(stopping, 10)
    finally:
        quiet.close()


async def test_long_submitted_message_is_shown_reassembled(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    esme = await esme_factory("transmitter")
    text = "Long message " * 20
    parts, encoding, esm_class = smpplib.gsm.make_parts(text)
    ids = [await asyncio.to_thread(esme.submit, UK_INSTANT, part, esm_class=esm_class, data_coding=encoding)
           for part in parts]
    assert len(ids) == 2
    listed = (await _get(http, "/api/messages?limit=10"))["messages"]
    assert {m["message_id"] for m in listed} == set(ids)
    assert all(m["full_text"] == text for m in listed)
    one = await _get(http, f"/api/messages/{ids[1]}")
    assert one["full_text"] == text and one["concat"]["seq"] == 2


async def test_full_text_is_the_same_in_a_short_listing_and_by_id_when_a_reference_comes_round_again(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    # Tester 30: two long messages on one reference; the listing and the lookup by id disagreed (null in one).
    esme = await esme_factory("transmitter")
    ids = []
    for text in ("First message, part one. ", "and its part two.", "Second message, part one. ", "then two."):
        ids.append(await asyncio.to_thread(esme.submit, UK_INSTANT, bytes((5, 0, 3, 77, 2, 1 + len(ids) % 2))
                                           + encode_text(text, 0), esm_class=0x40, data_coding=0))
    first = "First message, part one. and its part two."
    second = "Second message, part one. then two."
    expected = {ids[0]: first, ids[1]: first, ids[2]: second, ids[3]: second}
    for message_id, text in expected.items():
        assert (await _get(http, f"/api/messages/{message_id}"))["full_text"] == text
    # A listing of the newest message alone still shows the whole text of the message it belongs to.
    [newest] = (await _get(http, "/api/messages?limit=1"))["messages"]
    assert newest["message_id"] == ids[3] and newest["full_text"] == second
    listed = (await _get(http, "/api/messages?limit=10"))["messages"]
    assert {m["message_id"]: m["full_text"] for m in listed} == expected


async def test_a_part_older_than_the_newest_messages_is_not_put_together_with_a_newer_message_on_its_reference(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tester 38: beyond the newest 10,000 messages, an old part's full_text was made with a later part that
    # reused its reference ('old-NEWER'), and its real sibling got null.  (The window is 3 messages here.)
    from smsc.http import api as api_module

    monkeypatch.setattr(api_module, "MAX_LIMIT", 3)
    esme = await esme_factory("transmitter")

    async def part(seq: int, text: str) -> str:
        return await asyncio.to_thread(esme.submit, UK_INSTANT, bytes((5, 0, 3, 1, 2, seq)) + encode_text(text, 0),
                                       esm_class=0x40, data_coding=0)

    old_one, old_two = await part(1, "old-"), await part(2, "part")
    for _ in range(3):
        await asyncio.to_thread(esme.submit, UK_INSTANT, b"filler")
    await part(2, "NEWER")  # the same reference again, its first part never sent
    assert (await _get(http, f"/api/messages/{old_one}"))["full_text"] is None  # (not 'old-NEWER')
    assert (await _get(http, f"/api/messages/{old_two}"))["full_text"] is None


async def test_messages_with_a_malformed_udh_show_the_text_after_it_in_the_api_and_the_receipt(
    http: aiohttp.ClientSession, esme_factory: Callable[[str], Any],
) -> None:
    esme = await esme_factory("transceiver")
    ids = [await asyncio.to_thread(esme.submit, UK_INSTANT, udh + b"zero", esm_class=0x40, registered_delivery=1)
           for udh in MALFORMED_UDHS]
    for message_id in ids:
        rec = await _get(http, f"/api/messages/{message_id}")
        assert (rec["text"], rec["full_text"], rec["concat"]) == ("zero", "zero", None)
    await asyncio.to_thread(esme.read_until, lambda: len(esme.received) >= len(ids))
    texts = {r.receipted_message_id.decode(): r.short_message.decode().rpartition("text:")[2] for r in esme.received}
    assert texts == {message_id: "zero" for message_id in ids}


@pytest.mark.parametrize(
    ("method", "path", "kw", "status", "field"),
    [
        ("POST", "/api/mo", {"data": b"{not json"}, 400, "request body"),
        ("POST", "/api/mo", {"data": b""}, 400, "request body"),
        ("POST", "/api/mo", {"data": b"[" * 100_000}, 400, "nested too deeply"),  # (was a RecursionError: 500)
        ("PUT", "/api/handsets/447700900123", {"data": b'{"online": ' + b"[" * 100_000}, 400, "nested too deeply"),
        ("POST", "/api/mo", {"json": ["a"]}, 400, "request body"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": SHORT_CODE, "txt": "x"}}, 400, "txt"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "text": "x"}}, 400, "to"),
        ("POST", "/api/mo", {"json": {"from": 447700900123, "to": SHORT_CODE, "text": "x"}}, 400, "from"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": SHORT_CODE}}, 400, "text"),
        ("POST", "/api/mo", {"json": {"from": "\u20ac4477", "to": SHORT_CODE, "text": "x"}}, 400, "from"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": "881\x0023", "text": "x"}}, 400, "to"),
        # An SMPP address is ASCII (C-Octet String, SMPP 3.4 section 3.1); 0xE9 went out (tester9 finding 2).
        ("POST", "/api/mo", {"json": {"from": "H\u00e9llo", "to": SHORT_CODE, "text": "x"}}, 400, "from"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": "88\u00b923", "text": "x"}}, 400, "to"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": SHORT_CODE, "text": "x", "payload_hex": "00"}},
         400, "text"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": SHORT_CODE, "payload_hex": "0g",
                                      "data_coding": 4}}, 400, "payload_hex"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": SHORT_CODE, "payload_hex": "0x41",
                                      "data_coding": 4}}, 400, "(0-9, a-f; spaces between octets allowed, no 0x)"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": SHORT_CODE, "payload_hex": "00"}}, 400,
         "data_coding"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": SHORT_CODE, "text": "€", "data_coding": 1}},
         400, "text"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": SHORT_CODE, "text": "x", "data_coding": 256}},
         400, "data_coding"),
        ("PUT", f"/api/handsets/{UK_INSTANT}", {"json": {"online": "yes"}}, 400, "online"),
        ("PUT", f"/api/handsets/{UK_INSTANT}", {"data": b"{"}, 400, "request body"),
        ("GET", "/api/handsets/not-a-number", {}, 400, "number"),
        ("GET", "/api/messages?state=LOST", {}, 400, "state"),
        ("GET", "/api/messages?limit=0", {}, 400, "limit"),
        # Tester 72: a number of more than 4,300 digits (Python's int_max_str_digits) was a 500 with a traceback.
        ("GET", "/api/messages?limit=" + "9" * 5000, {}, 400, "limit"),
        ("GET", "/api/deliveries?limit=" + "9" * 5000, {}, 400, "limit"),
        ("GET", "/api/deliveries?limit=" + "0" * 5000 + "1" * 6, {}, 400, "limit"),  # (tester 74)
        ("GET", "/api/messages?destination=" + "9" * 5000, {}, 400, "destination"),
        ("GET", "/api/messages?limit=" + "9" * 5000, {}, 400, "(5,000 characters)"),
        ("PUT", f"/api/handsets/{UK_INSTANT}", {"data": b'{"online": ' + b"9" * 5000 + b"}"}, 400,
         "request body: a number too long to read (more than 4,300 digits)"),
        ("POST", "/api/mo", {"data": b'{"from": "1", "zzz": ' + b"9" * 5000 + b"}"}, 400, "request body"),
        ("GET", "/api/messages?color=red", {}, 400, "color"),
        ("GET", "/api/messages?destination=MyBrand", {}, 400, "destination"),
        ("POST", "/api/mo", {"data": b"xxxx", "headers": {"Content-Encoding": "gzip"}}, 400, "request body"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": SHORT_CODE, "text": "caf\u00e9", "data_coding": 4}},
         400, "give them as hex, in text or in payload_hex"),
        ("PUT", f"/api/handsets/{UK_INSTANT}", {"data": b"xxxx", "headers": {"Content-Encoding": "deflate"}}, 400,
         "request body"),
        ("POST", "/api/mo", {"json": {"from": "MyBrand", "to": SHORT_CODE, "text": "x"}}, 400, "from"),
        ("POST", "/api/mo", {"json": {"from": "88123", "to": SHORT_CODE, "text": "x"}}, 400, "from"),
        ("GET", "/api/messages/ffff0000", {}, 404, "message_id: no message 'ffff0000': never accepted, or final "
                                                     "and removed: store.final_retention (86400 simulated seconds) "
                                                     "after its final state"),
        ("GET", "/api/nothing", {}, 404, "no such endpoint"),
        ("DELETE", "/api/health", {}, 405, "not allowed"),
    ],
)
async def test_bad_requests_get_a_json_error_naming_the_field(
    http: aiohttp.ClientSession, method: str, path: str, kw: dict[str, Any], status: int, field: str,
) -> None:
    body = await _send(http, method, path, status, **kw)
    assert set(body) == {"error"}
    assert body["error"].startswith(field) or field in body["error"], body


@pytest.mark.parametrize(
    ("method", "path", "kw", "status", "error"),
    [
        ("PUT", f"/api/handsets/{UK_INSTANT}", {"json": {}}, 400,
         "online: required (true, false, or null to hand the handset back to the simulation)"),
        ("PUT", f"/api/handsets/{UK_INSTANT}", {"json": {"online": "yes"}}, 400,
         'online: expected true, false or null, got "yes"'),
        ("PUT", f"/api/handsets/{UK_INSTANT}", {"data": b"null"}, 400,
         "request body: expected a JSON object, got null"),
        ("PUT", f"/api/handsets/{UK_INSTANT}", {"data": b"[true]"}, 400,
         "request body: expected a JSON object, got an array"),
        ("POST", "/api/mo", {"json": {"from": UK_INSTANT, "to": SHORT_CODE, "text": "x", "data_coding": True}},
         400, "data_coding: expected an integer 0-255, got true"),
        ("POST", "/api/mo", {"data": b"{" + b" " * (1 << 20) + b"}"}, 413,
         "request body: larger than 1,048,576 octets (Content-Length 1,048,578)"),
    ],
)
async def test_errors_speak_json_to_a_json_client(
    http: aiohttp.ClientSession, method: str, path: str, kw: dict[str, Any], status: int, error: str,
) -> None:
    """Tester 28: values were echoed as Python wrote them (None, True, NoneType, 'yes'), and the 413 did not say
    the limit."""
    assert await _send(http, method, path, status, **kw) == {"error": error}


async def test_a_content_length_over_the_limit_is_refused_before_the_body_comes(app: App) -> None:
    """Tester 101: ``Content-Length: 99999999999`` with a 2-octet body hung until the client gave up; a body that
    large is refused from the header alone."""
    reader, writer = await asyncio.open_connection("127.0.0.1", app.http.port)  # type: ignore[union-attr]
    try:
        writer.write(b"POST /api/mo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 99999999999\r\n\r\n{}")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 413 "), head
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        body = json.loads(await asyncio.wait_for(reader.readexactly(length), 5))
        assert body == {"error": "request body: larger than 1,048,576 octets (Content-Length 99,999,999,999)"}
    finally:
        writer.close()


async def test_dashboard_page_is_served(http: aiohttp.ClientSession) -> None:
    async with http.get("/") as resp:  # redirected to the static page
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "/api/stats" in await resp.text()


@pytest.mark.parametrize("path", ["/dashboard/", "/dashboard"])
async def test_the_dashboard_directory_redirects_to_its_page_as_the_root_does(
    http: aiohttp.ClientSession, path: str,
) -> None:
    # Tester 58: /dashboard/ was aiohttp's directory-listing refusal, 403 {"error": "Forbidden"}.
    async with http.get(path, allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/dashboard/index.html"
    async with http.get(path) as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        assert "/api/stats" in await resp.text()


@pytest.mark.parametrize("raw_path", [
    "/dashboard/nope.js", "/dashboard/index.htm", "/dashboard/..%2Fapi.py", "/dashboard/%2E%2E/%2E%2E/http/api.py",
    "/dashboard//etc/passwd",
    "/dashboard/%00", "/dashboard/" + "a" * 300,  # (tester 61: 500 with a traceback)
])
async def test_a_missing_dashboard_file_is_a_json_404_like_any_unknown_path(
    app: App, http: aiohttp.ClientSession, raw_path: str,
) -> None:
    # Tester 58: a 404 with an empty application/octet-stream body (aiohttp's static files), where every other
    # unknown path answers {"error": ...}.  Paths leading out of the dashboard's directory are no file of it.
    import yarl

    url = yarl.URL(f"http://127.0.0.1:{app.http.port}{raw_path}", encoded=True)
    async with http.get(url) as resp:
        assert resp.status == 404 and resp.content_type == "application/json"
        body = await resp.json()
    assert set(body) == {"error"} and body["error"].startswith("no such endpoint: GET /dashboard/")


async def test_a_submit_multi_destination_shows_the_message_id_its_esme_was_given(
    http: aiohttp.ClientSession, app: App, esme_factory: Callable[[str], Any],
) -> None:
    """Found by a tester: GET /api/messages/<submit_multi message_id> showed only the destination's own id
    (``<id>-1``), which no PDU ever carries, and nothing linked it to the id the ESME got."""
    from smsc.smpp import pdu as P

    from .conftest import RawEsme

    assert app.smpp is not None
    esme = RawEsme(app.smpp.port)
    try:
        await asyncio.to_thread(esme.bind, "transmitter")
        resp = await asyncio.to_thread(esme.request, P.SubmitMulti(short_message=b"to two", dest_addresses=[
            P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr=UK_INSTANT),
            P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="12125550100")]))
    finally:
        esme.sock.close()
    assert resp.command_status == 0
    multi_id = resp.message_id
    first = await _get(http, f"/api/messages/{multi_id}")
    assert (first["message_id"], first["multi_id"], first["destination"]["addr"]) == (
        f"{multi_id}-1", multi_id, UK_INSTANT)
    second = await _get(http, f"/api/messages/{multi_id}-2")
    assert (second["multi_id"], second["destination"]["addr"]) == (multi_id, "12125550100")
    listed = (await _get(http, "/api/messages?limit=10"))["messages"]
    assert sorted(m["multi_id"] for m in listed) == [multi_id, multi_id]
    plain = await esme_factory("transmitter")
    plain_id = await asyncio.to_thread(plain.submit, UK_INSTANT, b"to one")
    assert (await _get(http, f"/api/messages/{plain_id}"))["multi_id"] is None


async def test_slow_and_surplus_http_connections_are_closed(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 126: clients that sent nothing, a header octet every 2 s, or a body that never came were all still
    connected after 100 s, and 300 idle ones took every file descriptor (SMPP binds then failed).  A request head
    must be whole, and a body come, within HTTP_REQUEST_TIMEOUT; beyond HTTP_MAX_CONNECTIONS a connection is
    answered 503 and closed."""
    from smsc.http import api as http_api

    monkeypatch.setattr(http_api, "HTTP_REQUEST_TIMEOUT", 1.0)
    port = app.http.port

    async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
        return await asyncio.wait_for(reader.read(), seconds)  # (to the end: the server closed it)

    silent = await asyncio.open_connection("127.0.0.1", port)
    slow = await asyncio.open_connection("127.0.0.1", port)
    slow[1].write(b"GET /api/health HTTP/1.1\r\nHo")
    bodiless = await asyncio.open_connection("127.0.0.1", port)
    bodiless[1].write(b"PUT /api/handsets/447700900123 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n{")
    try:
        assert await closed_within(silent[0], 5) == b""
        assert await closed_within(slow[0], 5) == b""
        answer = await closed_within(bodiless[0], 5)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"request body: not received within 1 s" in answer
    finally:
        for _, writer in (silent, slow, bodiless):
            writer.close()
    monkeypatch.setattr(http_api, "HTTP_REQUEST_TIMEOUT", 30.0)
    monkeypatch.setattr(http_api, "HTTP_MAX_CONNECTIONS", 2)
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
    try:
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answer = await closed_within(reader, 5)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 ") and b"too many HTTP connections open (at most 2)" in answer
        assert b'"status": "too_many_connections"' in answer  # (what the dashboard shows: tester 137)
    finally:
        for _, writer in held:
            writer.close()
    await asyncio.sleep(0.2)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:  # (room again once they are gone)
        assert await _get(session, "/api/health") == {"status": "ok"}


async def test_a_burst_of_connections_is_held_to_the_limit(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 131: on asyncio's loop a burst of 300 connections left 296 open against a limit of 256 (the protocols
    of a burst of accepts are made before any is connected, so the count lagged)."""
    import socket

    from smsc.http import api as http_api

    monkeypatch.setattr(http_api, "HTTP_MAX_CONNECTIONS", 20)
    port = app.http.port
    socks = []
    try:
        for _ in range(100):
            sock = socket.socket()
            sock.setblocking(False)
            try:
                sock.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            socks.append(sock)
        for _ in range(40):  # (until the server took them all: at most 4 s)
            await asyncio.sleep(0.1)
            if len(app.http._runner.server.connections) + app.http.refused >= 100:
                break
        assert len(app.http._runner.server.connections) <= 20
        assert app.http.refused >= 80
    finally:
        for sock in socks:
            sock.close()


async def test_accepts_failing_for_want_of_file_descriptors_are_logged_once_per_100(
        app: App, caplog: pytest.LogCaptureFixture) -> None:
    """Tester 131: out of file descriptors, asyncio's accept loop logged a traceback per attempt (16,379, 6.6 MB, in
    4 s).  The loop's error handler the app installs says it once, then every 100th; other errors as before."""
    import errno
    import logging

    import structlog

    loop = asyncio.get_running_loop()
    handler = loop.get_exception_handler()
    assert handler is not None
    context = {"message": "socket.accept() out of system resource",
               "exception": OSError(errno.EMFILE, "Too many open files")}
    with structlog.testing.capture_logs() as logs, caplog.at_level(logging.ERROR, logger="asyncio"):
        for _ in range(150):
            handler(loop, dict(context))
        handler(loop, {"message": "something else", "exception": ValueError("x")})
    assert [(e["event"], e["count"]) for e in logs if e["event"] == "accept_failed"] == [
        ("accept_failed", 1), ("accept_failed", 100)]
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == ["something else"]


async def test_connections_made_one_after_the_other_never_meet_the_limit(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 136: 300 requests, each on a connection of its own closed before the next, got 36 answers of 503
    "too many HTTP connections open": closed ones were counted for a second."""
    from smsc.http import api as http_api

    monkeypatch.setattr(http_api, "HTTP_MAX_CONNECTIONS", 20)
    statuses = []
    for _ in range(100):
        reader, writer = await asyncio.open_connection("127.0.0.1", app.http.port)
        writer.write(b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        statuses.append((await asyncio.wait_for(reader.read(), 5)).split(b" ", 2)[1])
        writer.close()
    assert statuses == [b"200"] * 100


async def test_a_client_that_reads_none_of_its_answers_is_closed(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 137: 300 pipelined requests whose answers were never read held the connection for ever (2.8 MB
    waiting): neither idle nor slow to send, it escaped both timers, and 256 such clients would lock the API."""
    import socket

    from smsc.http import api as http_api

    monkeypatch.setattr(http_api, "HTTP_WRITE_STALL", 1.0)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # (a small window: the answers back up at once)
    sock.connect(("127.0.0.1", app.http.port))
    sock.setblocking(False)
    try:
        request = b"GET /api/openapi HTTP/1.1\r\nHost: localhost\r\n\r\n"
        for _ in range(300):
            try:
                sock.send(request)
            except BlockingIOError:
                break
        handlers = app.http._runner.server
        for _ in range(100):  # (the reaper looks once a second: within a few seconds)
            await asyncio.sleep(0.1)
            if not handlers.connections:
                break
        assert handlers.connections == []
    finally:
        sock.close()
