"""A carrier taken down and brought back with the control API (PUT /api/carriers/{name}) while an smpplib ESME
submits to it over a real socket: its message waits without an attempt, then is delivered with its receipt."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import smpplib.client
import smpplib.consts as C
import structlog.testing

from smsc.smpp.constants import MessageState

from .conftest import RunningSmsc, make_config, read_until

INSTANT = "447700900123"  # britmobile: delivered at once


def _request(running: RunningSmsc, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    assert running.app.http is not None
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{running.app.http.port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_carrier_taken_down_holds_its_messages_until_it_is_brought_back(tmp_path: Path) -> None:
    running = RunningSmsc(make_config(tmp_path), http=True)
    running.start()
    client = smpplib.client.Client("127.0.0.1", running.port, timeout=5, allow_unknown_opt_params=True)
    try:
        with structlog.testing.capture_logs() as logs:
            status, carrier = _request(running, "PUT", "/api/carriers/britmobile", {"down": True})
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
        message = running.call(lambda: running.app.smsc.message(ids[0]))
        assert message.state == MessageState.ENROUTE and message.attempts == []
        assert _request(running, "GET", "/api/carriers/britmobile")[1]["queued"] == 1
        status, carrier = _request(running, "PUT", "/api/carriers/britmobile", {"down": False})
        assert status == 200 and carrier["down"] is False
        read_until(client, lambda: len(receipts) == 1, max_pdus=10)
        assert receipts[0].receipted_message_id == ids[0].encode()
        assert b"stat:DELIVRD" in receipts[0].short_message
    finally:
        client.disconnect()
        running.stop()


def test_carrier_switch_requests_are_checked(tmp_path: Path) -> None:
    running = RunningSmsc(make_config(tmp_path), http=True)
    running.start()
    try:
        status, body = _request(running, "PUT", "/api/carriers/nowhere", {"down": True})
        assert status == 404 and "britmobile, thames, liberty" in body["error"]
        assert _request(running, "PUT", "/api/carriers/thames", {})[0] == 400
        status, body = _request(running, "PUT", "/api/carriers/thames", {"down": "yes"})
        assert status == 400 and body["error"] == 'down: expected true or false, got "yes"'
        assert _request(running, "PUT", "/api/carriers/thames", {"down": True, "when": 5})[0] == 400
        for bad in ({"down": False, "for": 5}, {"down": True, "for": 0}, {"down": True, "for": "5s"},
                    {"down": True, "for": True}):
            status, body = _request(running, "PUT", "/api/carriers/thames", bad)
            assert status == 400 and body["error"].startswith("for: expected with down true"), (bad, body)
        status, body = _request(running, "PUT", "/api/carriers/thames", {"down": True, "for": 0.3})
        assert status == 200 and body["down"] is True
        deadline = time.monotonic() + 5  # (0.3 s of the bundled world's real-time clock)
        while _request(running, "GET", "/api/carriers/thames")[1]["down"]:
            assert time.monotonic() < deadline, "thames not back by itself"
            time.sleep(0.05)
        assert _request(running, "GET", "/api/carriers/thames")[1]["down"] is False
    finally:
        running.stop()


def test_a_transaction_refused_by_an_outage_is_logged_and_counted(tmp_path: Path) -> None:
    """Tester 143: a transaction-mode data_sm refused by a carrier's outage status got its status, but no
    submit_refused line, and no count in smsc_smpp_requests_refused_total."""
    import dataclasses

    from smsc.smpp import pdu as P
    from smsc.smpp.constants import CommandStatus

    from .conftest import RawEsme

    config = make_config(tmp_path)
    carriers = tuple(dataclasses.replace(c, down=True, outage_status=CommandStatus.ESME_RSUBMITFAIL)
                     if c.name == "britmobile" else c for c in config.topology.carriers)
    config = dataclasses.replace(config, topology=dataclasses.replace(config.topology, carriers=carriers))
    running = RunningSmsc(config, http=True)
    running.start()
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
        assert running.app.http is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{running.app.http.port}/metrics", timeout=10) as r:
            metrics = r.read().decode()
        assert 'smsc_smpp_requests_refused_total{command="data_sm",status="ESME_RSUBMITFAIL"} 1.0' in metrics
    finally:
        esme.close()
        running.stop()
