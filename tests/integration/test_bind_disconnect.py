"""POST /api/binds/disconnect over real sockets: the SMSC unbinds an ESME or drops its connection, as a carrier's
SMSC does when it restarts, and what the ESME had not acknowledged is offered again when it binds again."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import structlog.testing

from smsc.smpp import pdu as P
from smsc.smpp.codec import Framer, encode

from .conftest import RawEsme, RunningSmsc, make_config

INSTANT = "447700900123"  # delivered at once


def _post(running: RunningSmsc, body: Any) -> tuple[int, Any]:
    assert running.app.http is not None
    req = urllib.request.Request(f"http://127.0.0.1:{running.app.http.port}/api/binds/disconnect",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _read_pdus(sock: socket.socket, framer: Framer, count: int) -> list[Any]:
    got: list[Any] = []
    for _ in range(50):
        if len(got) >= count:
            break
        data = sock.recv(65536)
        if not data:
            break
        got.extend(framer.feed(data))
    return got


def _bound(running: RunningSmsc) -> int:
    assert running.app.smpp is not None
    smpp = running.app.smpp
    return int(running.call(lambda: smpp.registry.bound_count()))


def test_an_esme_is_unbound_by_the_smsc_and_binds_again(tmp_path: Path) -> None:
    running = RunningSmsc(make_config(tmp_path), http=True)
    running.start()
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    framer = Framer()
    try:
        sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
        [bind_resp] = _read_pdus(sock, framer, 1)
        assert bind_resp.command_status == 0
        with structlog.testing.capture_logs() as logs:
            status, body = _post(running, {"system_id": "test"})
            assert status == 200 and body["count"] == 1 and body["how"] == "unbind"
            assert body["binds"][0]["system_id"] == "test" and body["binds"][0]["bind_type"] == "transceiver"
            [unbind] = _read_pdus(sock, framer, 1)
            assert isinstance(unbind, P.Unbind)
            sock.sendall(encode(P.UnbindResp(sequence_number=unbind.sequence_number)))
            assert sock.recv(100) == b""  # closed by the SMSC once its unbind is answered
            _wait(lambda: any(e["event"] == "unbound" for e in logs))
        [disconnected] = [e for e in logs if e["event"] == "bind_disconnected"]
        assert (disconnected["system_id"], disconnected["how"]) == ("test", "unbind")
        [unbound] = [e for e in logs if e["event"] == "unbound"]
        assert unbound["reason"] == "unbind from the SMSC (POST /api/binds/disconnect)"
        again = RawEsme(running.port)
        try:
            again.bind("transceiver")  # at once: the account's bind is free again
        finally:
            again.close()
    finally:
        sock.close()
        running.stop()


def test_a_dropped_esme_gets_its_unacknowledged_receipt_again_when_it_binds_again(tmp_path: Path) -> None:
    running = RunningSmsc(make_config(tmp_path), http=True)
    running.start()
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    framer = Framer()
    try:
        sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
        _read_pdus(sock, framer, 1)
        sock.sendall(encode(P.SubmitSm(sequence_number=2, source_addr="ACME", source_addr_ton=5, dest_addr_ton=1,
                                       dest_addr_npi=1, destination_addr=INSTANT, short_message=b"hi",
                                       registered_delivery=1)))
        resp, receipt = _read_pdus(sock, framer, 2)  # the receipt is not answered
        assert isinstance(resp, P.SubmitSmResp) and isinstance(receipt, P.DeliverSm)
        peer = "127.0.0.1:%d" % sock.getsockname()[1]
        status, body = _post(running, {"peer": peer, "how": "drop"})
        assert status == 200 and [b["peer"] for b in body["binds"]] == [peer] and body["how"] == "drop"
        try:
            assert sock.recv(100) == b""
        except ConnectionResetError:
            pass  # (closed at once, without a word: a reset is as good)
        _wait(lambda: _bound(running) == 0)
        again = RawEsme(running.port)
        try:
            again.bind("receiver")
            [offered] = again.wait_deliveries(1)
            assert offered.tlvs[0x001E] == resp.message_id
        finally:
            again.close()
    finally:
        sock.close()
        running.stop()


def test_disconnect_requests_are_checked(tmp_path: Path) -> None:
    running = RunningSmsc(make_config(tmp_path), http=True)
    running.start()
    esme = RawEsme(running.port)
    try:
        esme.bind("transmitter")
        assert _post(running, {})[0] == 400
        status, body = _post(running, {"system_id": "test", "how": "slam"})
        assert status == 400 and body["error"].startswith('how: expected "unbind"')
        assert _post(running, {"system_id": ""})[0] == 400
        assert _post(running, {"system_id": "test", "later": 1})[0] == 400
        status, body = _post(running, {"system_id": "nobody"})
        assert status == 404 and body["error"] == ('no SMPP connection matches: system_id "nobody" '
                                                   '(GET /api/binds lists them)')
        assert _bound(running) == 1  # nothing was ended
    finally:
        esme.close()
        running.stop()


def test_the_bind_listing_is_read_afresh_each_time(tmp_path: Path) -> None:
    """A bind's record was once cached by mistake (the listing showed a bind as it first was)."""
    running = RunningSmsc(make_config(tmp_path), http=True)
    running.start()
    sock = socket.create_connection(("127.0.0.1", running.port), timeout=5)
    framer = Framer()
    assert running.app.http is not None
    url = f"http://127.0.0.1:{running.app.http.port}/api/binds"

    def window_in_use() -> int:
        with urllib.request.urlopen(url, timeout=10) as resp:
            [bind] = json.loads(resp.read())["binds"]
            return int(bind["window_in_use"])

    try:
        sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
        _read_pdus(sock, framer, 1)
        assert window_in_use() == 0
        sock.sendall(encode(P.SubmitSm(sequence_number=2, source_addr="ACME", source_addr_ton=5, dest_addr_ton=1,
                                       dest_addr_npi=1, destination_addr=INSTANT, short_message=b"hi",
                                       registered_delivery=1)))
        _read_pdus(sock, framer, 2)  # its response and its receipt, left unanswered
        assert window_in_use() == 1
    finally:
        sock.close()
        running.stop()
