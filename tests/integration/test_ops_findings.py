"""Tester 156's operations findings, over real sockets: a refusal for want of a route said "not a mobile number
... or no route", leaving the operator to find which; an HTTP host this machine does not have was refused only
after the SMPP listener had started (and the store been made); listings that take no query parameter took any;
an invalid JSON body's message read "starting at at line"."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import textwrap
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import structlog.testing

from smsc.app import App, StartupError
from smsc.config import parse_config
from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus

from .conftest import RawEsme, RunningSmsc, api_request, make_config

#: One carrier for the UK's mobile numbers, nothing else: a US number has no route.
UK_ONLY = textwrap.dedent("""\
    accounts: [{system_id: test, password: test}]
    store: {kind: memory}
    topology:
      carriers: [{name: uk, prefixes: ['447']}]
    """)


def _submit(esme: RawEsme, destination: str) -> Any:
    return esme.request(P.SubmitSm(source_addr="447700900999", source_addr_ton=1, source_addr_npi=1,
                                   dest_addr_ton=1, dest_addr_npi=1, destination_addr=destination,
                                   short_message=b"hi"))


def test_a_submit_without_a_route_is_refused_naming_the_missing_route(
        smsc_factory: Callable[..., RunningSmsc]) -> None:
    config = parse_config(UK_ONLY, source="uk-only.yaml")
    server = smsc_factory(dataclasses.replace(config, server=dataclasses.replace(config.server, host="127.0.0.1",
                                                                                   port=0)))
    esme = RawEsme(server.port)
    try:
        esme.bind("transceiver")
        with structlog.testing.capture_logs() as logs:
            no_route = _submit(esme, "12125550100")
            not_mobile = _submit(esme, "12345")
            routed = _submit(esme, "447700900123")
    finally:
        esme.close()
    assert no_route.command_status == not_mobile.command_status == CommandStatus.ESME_RINVDSTADR
    assert routed.command_status == CommandStatus.ESME_ROK
    reasons = [e["reason"] for e in logs if e["event"] == "submit_refused"]
    assert reasons == [
        "destination 12125550100: no route (no carrier's prefixes and no topology.routes entry cover it; "
        "topology.no_route is reject)",
        "destination_addr '12345' (TON 1, NPI 1): not a mobile number of 7-15 digits once read as E.164",
    ]


def test_an_http_host_this_machine_lacks_is_refused_before_the_smpp_listener_starts(tmp_path: Path) -> None:
    # Tester 156: with http.host an address of no interface here (and any port), `listening ... protocol=smpp`
    # and the store came first, then the refusal: a harness waiting for a listening line was misled.
    cfg = make_config(tmp_path)

    async def start() -> tuple[str, bool]:
        app = App(cfg)
        try:
            await app.start(port=0, http=True, http_host="192.0.2.1", http_port=0)
        except StartupError as exc:
            return str(exc), app.smpp is not None or app.store is not None
        finally:
            await app.stop()
        return "started", True

    with structlog.testing.capture_logs() as logs:
        message, anything_started = asyncio.run(start())
    assert "cannot listen" in message and "'192.0.2.1'" in message, message
    assert not anything_started
    assert not [e for e in logs if e["event"] in ("listening", "store_created", "core_started")]
    assert not (tmp_path / "smsc.sqlite").exists()


def _get(running: RunningSmsc, path: str) -> tuple[int, Any]:
    assert running.app.http is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{running.app.http.port}{path}", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_listings_without_query_parameters_refuse_one(http_smsc: Callable[..., RunningSmsc]) -> None:
    # Tester 156: GET /api/binds?x=1 answered 200 as if it had been filtered, where /api/messages refuses.
    running = http_smsc()
    for path in ("/api/binds", "/api/accounts", "/api/carriers", "/api/stats"):
        assert _get(running, f"{path}?system_id=test") == (
            400, {"error": f"system_id: unknown query parameter ({path} takes none)"})
        assert _get(running, path)[0] == 200


def test_an_invalid_json_body_is_described_once(http_smsc: Callable[..., RunningSmsc]) -> None:
    running = http_smsc()
    assert running.app.http is not None
    req = urllib.request.Request(f"http://127.0.0.1:{running.app.http.port}/api/mo", data=b'{"from": "4477',
                                 method="POST", headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("accepted")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, json.loads(exc.read())
    # ("Unterminated string starting at at line 1 column 10": tester 156)
    assert (status, body) == (400, {"error": "request body: invalid JSON: Unterminated string starting at: line 1 "
                                             "column 10"})


def test_a_message_id_stored_as_a_number_is_not_taken_for_one_reading_of_it(
        http_smsc: Callable[..., RunningSmsc]) -> None:
    """Tester 157: Jasmin keeps smsc's ids without their leading zeros ("2" for "00000002"), and GET
    /api/messages/2 answered a bare 404; padded, it then found the wrong message for Kannel (tester 162), which
    keeps the decimal value of the hex id ("36" for "00000024"): each existing reading is named instead."""
    running = http_smsc()
    esme = RawEsme(running.port)
    try:
        esme.bind("transceiver")
        ids = [_submit(esme, "447700900123").message_id for _ in range(0x24)]
    finally:
        esme.close()
    assert ids[-1] == "00000024"
    status, answer = api_request(running, "GET", "/api/messages/24")
    assert status == 404 and answer["error"] == (
        "message_id: no message '24': an id is looked up exactly as submit_sm_resp gave it; did you mean "
        "'00000024' (the id without its leading zeros, as Jasmin keeps it) or '00000018' (24 is its hex value as a "
        "decimal number, as Kannel keeps it with msg-id-type 1 or 3)?")
    status, answer = api_request(running, "GET", "/api/messages/36")  # (00000036 was never given)
    assert status == 404 and "did you mean '00000024' (36 is its hex value" in answer["error"], answer
    status, answer = api_request(running, "GET", "/api/messages/1a")
    assert status == 404 and "did you mean '0000001a' (the id without its leading zeros" in answer["error"]
    assert api_request(running, "GET", "/api/messages/00000024")[0] == 200
    status, answer = api_request(running, "GET", "/api/messages/fffffff0")
    assert status == 404 and "did you mean" not in answer["error"]
    # (tester 184) The full id in the other letter case is named too; a SQLite server's 404 does not speak of the
    # memory store's limits.
    status, answer = api_request(running, "GET", "/api/messages/0000001A")
    assert status == 404 and "did you mean '0000001a' (the id in lower case" in answer["error"], answer
    assert "memory store" not in answer["error"] and "memory store" not in api_request(
        running, "GET", "/api/messages/fffffff0")[1]["error"]
