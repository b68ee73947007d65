"""A carrier taken down and brought back with the control API (PUT /api/carriers/{name}) while an smpplib ESME
submits to it over a real socket: its message waits without an attempt, then is delivered with its receipt."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import smpplib.client
import smpplib.consts as C
import structlog.testing

from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus, MessageState

from .conftest import RawEsme, RunningSmsc, api_request, api_text, make_config, read_until, wait_until, with_carriers

INSTANT = "447700900123"  # britmobile: delivered at once
Start = Callable[..., RunningSmsc]


def test_a_carrier_taken_down_holds_its_messages_until_it_is_brought_back(http_smsc: Start) -> None:
    running = http_smsc()
    client = smpplib.client.Client("127.0.0.1", running.port, timeout=5, allow_unknown_opt_params=True)
    try:
        with structlog.testing.capture_logs() as logs:
            status, carrier = api_request(running, "PUT", "/api/carriers/britmobile", {"down": True})
        assert status == 200 and carrier["down"] is True and carrier["name"] == "britmobile"
        [switched] = [e for e in logs if e["event"] == "carrier_switched"]
        assert switched["carrier"] == "britmobile" and switched["down"] is True
        assert switched["peer"].startswith("127.0.0.1:")
        client.connect()
        client.bind_transceiver(system_id="test", password="test")
        ids: list[str] = []
        receipts: list[Any] = []
        client.set_message_sent_handler(lambda pdu: ids.append(pdu.message_id.decode()))
        client.set_message_received_handler(lambda pdu: receipts.append(pdu))
        client.send_message(source_addr_ton=C.SMPP_TON_ALNUM, source_addr="ACME", dest_addr_ton=1, dest_addr_npi=1,
                            destination_addr=INSTANT, short_message=b"otp 123456", registered_delivery=1)
        read_until(client, lambda: len(ids) == 1, max_pdus=5)
        time.sleep(0.3)  # (an instant delivery would be done by now)
        assert running.app.smsc is not None
        smsc = running.app.smsc
        message = running.call(lambda: smsc.message(ids[0]))
        assert message.state == MessageState.ENROUTE and message.attempts == []
        assert api_request(running, "GET", "/api/carriers/britmobile")[1]["queued"] == 1
        status, carrier = api_request(running, "PUT", "/api/carriers/britmobile", {"down": False})
        assert status == 200 and carrier["down"] is False
        read_until(client, lambda: len(receipts) == 1, max_pdus=10)
        assert receipts[0].receipted_message_id == ids[0].encode()
        assert b"stat:DELIVRD" in receipts[0].short_message
    finally:
        client.disconnect()


def test_carrier_switch_requests_are_checked(http_smsc: Start) -> None:
    running = http_smsc()

    def put(body: Any, name: str = "thames") -> tuple[int, Any]:
        return api_request(running, "PUT", f"/api/carriers/{name}", body)

    status, body = put({"down": True}, "nowhere")
    assert status == 404 and "britmobile, thames, liberty" in body["error"]
    assert put({})[0] == 400
    status, body = put({"down": "yes"})
    assert status == 400 and body["error"] == 'down: expected true or false, got "yes"'
    assert put({"down": True, "when": 5})[0] == 400
    for bad in ({"down": False, "for": 5}, {"down": True, "for": 0}, {"down": True, "for": "5s"},
                {"down": True, "for": True}):
        status, body = put(bad)
        assert status == 400 and body["error"].startswith("for: expected with down true"), (bad, body)
    status, body = put({"down": True, "for": 0.3})
    assert status == 200 and body["down"] is True and body["back_at"].endswith("Z")  # (tester 147: when?)
    # (0.3 s of the bundled world's real-time clock)
    wait_until(lambda: not api_request(running, "GET", "/api/carriers/thames")[1]["down"], what="thames back")
    assert api_request(running, "GET", "/api/carriers/thames")[1]["back_at"] is None


def test_a_transaction_refused_by_an_outage_is_logged_and_counted(http_smsc: Start, tmp_path: Path) -> None:
    """Tester 143: a transaction-mode data_sm refused by a carrier's outage status got its status, but no
    submit_refused line, and no count in smsc_smpp_requests_refused_total."""
    running = http_smsc(with_carriers(make_config(tmp_path), "britmobile", down=True,
                                      outage_status=CommandStatus.ESME_RSUBMITFAIL))
    esme = RawEsme(running.port)
    try:
        esme.bind("transmitter")
        with structlog.testing.capture_logs() as logs:
            resp = esme.request(P.DataSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                         destination_addr=INSTANT, esm_class=0x02,
                                         tlvs={0x0424: b"otp 123456"}))
        assert resp.command_status == CommandStatus.ESME_RSUBMITFAIL and not resp.message_id
        [refused] = [e for e in logs if e["event"] == "submit_refused"]
        assert refused["command"] == "data_sm" and refused["reason"] == (
            "carrier britmobile is down, and its outage.submit_status answers every submit to it so")
        metrics = api_text(running, "/metrics")
        assert 'smsc_smpp_requests_refused_total{command="data_sm",status="ESME_RSUBMITFAIL"} 1.0' in metrics
    finally:
        esme.close()


def test_a_lone_surrogate_in_a_request_is_answered_400_in_json(http_smsc: Start) -> None:
    """Tester 151: the 400 echoed the value, which UTF-8 cannot hold: a 500 and a traceback in the log."""
    import urllib.error
    import urllib.request

    running = http_smsc()
    assert running.app.http is not None
    for body in (b'{"down": "\\ud800"}', b'{"\\ud800": 1}'):
        req = urllib.request.Request(f"http://127.0.0.1:{running.app.http.port}/api/carriers/thames", data=body,
                                     method="PUT", headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("not refused")
        except urllib.error.HTTPError as exc:
            assert exc.code == 400 and exc.headers["Content-Type"].startswith("application/json")
            assert "\\ud800" in exc.read().decode("ascii")


def test_mo_from_a_number_no_carrier_serves_is_refused(smsc_factory: Any, tmp_path: Any) -> None:
    """Tester 179: without a catch-all route, an MO from 33612345678 was accepted (202) while /api/handsets
    answered 404 "no carrier serves" for the same number: a handset with no network cannot send."""
    import dataclasses

    cfg = make_config(tmp_path)
    topology = dataclasses.replace(cfg.topology, routes=tuple(r for r in cfg.topology.routes if r.prefix))
    running = smsc_factory(dataclasses.replace(cfg, topology=topology), http=True)
    assert api_request(running, "GET", "/api/handsets/33612345678")[0] == 404
    status, body = api_request(running, "POST", "/api/mo", {"from": "33612345678", "to": "88123", "text": "hi"})
    assert status == 422 and body["error"] == ("from: no carrier serves 33612345678 (no route in the topology): the "
                                               "handset has no network to send through; nothing was sent")
    status, _ = api_request(running, "POST", "/api/mo", {"from": "447700900123", "to": "88123", "text": "hi"})
    assert status == 202
