"""POST /api/binds/disconnect over real sockets: the SMSC unbinds an ESME or drops its connection, as a carrier's
SMSC does when it restarts, and what the ESME had not acknowledged is offered again when it binds again."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import structlog.testing

from smsc.config import Distribution
from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus, MessageState

from .conftest import QuietEsme, RawEsme, RunningSmsc, api_request, make_config, wait_until, with_carriers

INSTANT = "447700900123"  # delivered at once
Start = Callable[..., RunningSmsc]


def _disconnect(running: RunningSmsc, body: Any) -> tuple[int, Any]:
    return api_request(running, "POST", "/api/binds/disconnect", body)


def _bound(running: RunningSmsc) -> int:
    assert running.app.smpp is not None
    smpp = running.app.smpp
    return int(running.call(lambda: smpp.registry.bound_count()))


def _submit(destination: str = INSTANT, **fields: Any) -> P.SubmitSm:
    return P.SubmitSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                      destination_addr=destination, short_message=b"hi", **fields)


def _slow_submits(http_smsc: Start, tmp_path: Path) -> RunningSmsc:
    """The bundled world with its britmobile carrier answering every submit 0.5 s late."""
    return http_smsc(with_carriers(make_config(tmp_path), "britmobile",
                                   submit_latency=Distribution(kind="fixed", value=0.5)))


def test_an_esme_is_unbound_by_the_smsc_and_binds_again(http_smsc: Start) -> None:
    running = http_smsc()
    esme = QuietEsme(running.port)
    try:
        esme.bind("transceiver")
        with structlog.testing.capture_logs() as logs:
            status, body = _disconnect(running, {"system_id": "test"})
            assert status == 200 and body["count"] == 1 and body["how"] == "unbind"
            assert body["binds"][0]["system_id"] == "test" and body["binds"][0]["bind_type"] == "transceiver"
            [unbind] = esme.read(1)
            assert isinstance(unbind, P.Unbind)
            esme.send_response(P.UnbindResp(sequence_number=unbind.sequence_number))
            assert esme.closed()  # closed by the SMSC once its unbind is answered
            wait_until(lambda: any(e["event"] == "unbound" for e in logs))
        [disconnected] = [e for e in logs if e["event"] == "bind_disconnected"]
        assert (disconnected["system_id"], disconnected["how"]) == ("test", "unbind")
        [unbound] = [e for e in logs if e["event"] == "unbound"]
        assert unbound["reason"] == "unbind from the SMSC, asked by the control API (POST /api/binds/disconnect)"
        again = RawEsme(running.port)
        try:
            again.bind("transceiver")  # at once: the account's bind is free again
            [rebound] = api_request(running, "GET", "/api/binds")[1]["binds"]
            # (tester 144: a reconnection could not be seen in /api/binds)
            bound_at = datetime.fromisoformat(rebound["bound_at"].replace("Z", "+00:00")).timestamp()
            assert rebound["bound_at"].endswith("Z") and abs(bound_at - time.time()) < 10
        finally:
            again.close()
    finally:
        esme.close()


def test_a_dropped_esme_gets_its_unacknowledged_receipt_again_when_it_binds_again(http_smsc: Start) -> None:
    running = http_smsc()
    esme = QuietEsme(running.port)
    try:
        esme.bind("transceiver")
        esme.send(_submit(registered_delivery=1))
        resp, receipt = esme.read(2)  # the receipt is not answered
        assert isinstance(resp, P.SubmitSmResp) and isinstance(receipt, P.DeliverSm)
        status, body = _disconnect(running, {"peer": esme.peer, "how": "drop"})
        assert status == 200 and [b["peer"] for b in body["binds"]] == [esme.peer] and body["how"] == "drop"
        assert esme.closed()  # (closed at once, without a word)
        wait_until(lambda: _bound(running) == 0)
        again = RawEsme(running.port)
        try:
            again.bind("receiver")
            [offered] = again.wait_deliveries(1)
            assert offered.tlvs[0x001E] == resp.message_id
        finally:
            again.close()
    finally:
        esme.close()


def test_disconnect_requests_are_checked(http_smsc: Start) -> None:
    running = http_smsc()
    esme = RawEsme(running.port)
    try:
        esme.bind("transmitter")
        assert _disconnect(running, {})[0] == 400
        status, body = _disconnect(running, {"system_id": "test", "how": "slam"})
        assert status == 400 and body["error"].startswith('how: expected "unbind"')
        assert _disconnect(running, {"system_id": ""})[0] == 400
        assert _disconnect(running, {"system_id": "test", "later": 1})[0] == 400
        # (tester 144: none matching answered 404, which failed a chaos step between reconnections)
        assert _disconnect(running, {"system_id": "nobody"}) == (200, {"binds": [], "count": 0, "how": "unbind"})
        for peer in ("nonsense", "127.0.0.1:", "127.0.0.1:99999", ":2775"):
            status, body = _disconnect(running, {"peer": peer})
            assert status == 400 and body["error"].startswith("peer: expected host:port"), (peer, body)
        assert _bound(running) == 1  # nothing was ended
    finally:
        esme.close()


def test_the_bind_listing_is_read_afresh_each_time(http_smsc: Start) -> None:
    """A bind's record was once cached by mistake (the listing showed a bind as it first was)."""
    running = http_smsc()
    esme = QuietEsme(running.port)

    def window_in_use() -> int:
        [bind] = api_request(running, "GET", "/api/binds")[1]["binds"]
        return int(bind["window_in_use"])

    try:
        esme.bind("transceiver")
        assert window_in_use() == 0
        esme.send(_submit(registered_delivery=1))
        esme.read(2)  # its response and its receipt, left unanswered
        assert window_in_use() == 1
    finally:
        esme.close()


def test_a_drop_counts_and_says_the_responses_the_esme_never_got(http_smsc: Start, tmp_path: Path) -> None:
    """Tester 144: nothing counted the accepted submits whose responses were lost with a connection."""
    running = _slow_submits(http_smsc, tmp_path)
    esme = QuietEsme(running.port)
    try:
        esme.bind("transmitter")
        with structlog.testing.capture_logs() as logs:
            esme.send(*(_submit() for _ in range(3)))
            time.sleep(0.1)
            assert _disconnect(running, {"system_id": "test", "how": "drop"})[0] == 200
            wait_until(lambda: any(e["event"] == "responses_unsent" for e in logs))
        [unsent] = [e for e in logs if e["event"] == "responses_unsent"]
        assert unsent["count"] == 3 and unsent["system_id"] == "test"
        assert running.app.smpp is not None and running.app.smpp.counters.responses_unsent == 3
    finally:
        esme.close()


def test_an_unbind_of_the_control_api_comes_after_the_responses_the_esme_is_owed(
        http_smsc: Start, tmp_path: Path) -> None:
    """Tester 144: with a carrier answering submits 0.5 s late, the unbind went out first and the connection
    closed once it was answered: 39 of 40 responses were lost, and the ESME submitted those messages again."""
    running = _slow_submits(http_smsc, tmp_path)
    esme = QuietEsme(running.port)
    try:
        esme.bind("transmitter")
        esme.send(*(_submit() for _ in range(5)))
        time.sleep(0.1)  # (read, and their responses held for 0.5 s)
        assert _disconnect(running, {"system_id": "test"})[0] == 200
        got = esme.read(6)
        assert [type(p).__name__ for p in got] == ["SubmitSmResp"] * 5 + ["Unbind"], got
        assert all(p.command_status == 0 and p.message_id for p in got[:5])
        esme.send_response(P.UnbindResp(sequence_number=got[5].sequence_number))
        assert esme.closed()
    finally:
        esme.close()


def test_a_transaction_awaiting_its_outcome_is_abandoned_when_its_connection_is_dropped(http_smsc: Start) -> None:
    """Tester 143: a transaction-mode data_sm whose connection was dropped went on to DELIVERED, though nobody
    could be told; it ends abandoned, as when its session ends otherwise."""
    running = http_smsc()
    esme = QuietEsme(running.port)
    try:
        esme.bind("transmitter")
        esme.send(P.DataSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                           destination_addr="447700900200", esm_class=0x02,
                           tlvs={0x0424: b"30 s away"}))  # (delivered 30 s after its attempt)
        smsc = running.app.smsc
        assert smsc is not None
        [waiting] = wait_until(lambda: running.call(lambda: smsc.messages(destination="447700900200")))
        assert _disconnect(running, {"system_id": "test", "how": "drop"})[0] == 200
        wait_until(lambda: running.call(lambda: smsc.message(waiting.message_id).state) == MessageState.UNDELIVERABLE)
        assert running.call(lambda: smsc.message(waiting.message_id).attempts[-1].outcome) == "abandoned"
    finally:
        esme.close()



def test_a_submit_sent_after_the_unbind_was_asked_for_is_refused_after_the_unbind(http_smsc: Start) -> None:
    """Tester 147: a submit sent right after the API's answer was accepted three times in four (the connection
    stopped taking requests only a loop turn later); now it is refused, before or after the unbind goes out."""
    running = http_smsc()
    esme = QuietEsme(running.port)
    try:
        esme.bind("transmitter")
        assert _disconnect(running, {"system_id": "test"})[0] == 200
        esme.send(_submit())
        got = {type(p).__name__: p for p in esme.read(2)}
        assert set(got) == {"Unbind", "SubmitSmResp"}, got
        assert got["SubmitSmResp"].command_status == CommandStatus.ESME_RINVBNDSTS
    finally:
        esme.close()


def test_the_session_takes_nothing_new_from_the_moment_the_unbind_is_asked_for(http_smsc: Start) -> None:
    """What makes the test above hold whatever the timing: the session stops taking requests within the API's
    request, before it answers (it stopped a loop turn later, and a submit that came in between was accepted)."""
    running = http_smsc()
    esme = QuietEsme(running.port)
    try:
        esme.bind("transmitter")
        assert running.app.smpp is not None
        smpp = running.app.smpp

        def disconnect_and_look() -> bool:
            [proto] = list(smpp.registry)
            proto.disconnect(False)
            return bool(proto.session.takes_new_requests)

        assert running.call(disconnect_and_look) is False
    finally:
        esme.close()


def test_an_unbind_waits_for_a_response_held_longer_than_a_stops_grace(http_smsc: Start, tmp_path: Path) -> None:
    """Tester 145: with a 5 s submit_latency the API's unbind waited 4 s, and the responses were lost; it waits
    up to the response_timer, answering enquire_link meanwhile."""
    running = http_smsc(with_carriers(make_config(tmp_path), "britmobile",
                                      submit_latency=Distribution(kind="fixed", value=5.0)))
    esme = QuietEsme(running.port, timeout=10)
    try:
        esme.bind("transmitter")
        esme.send(_submit())
        time.sleep(0.1)
        assert _disconnect(running, {"system_id": "test"})[0] == 200
        esme.send(P.EnquireLink())
        got = esme.read(3)
        assert [type(p).__name__ for p in got] == ["EnquireLinkResp", "SubmitSmResp", "Unbind"], got
        assert got[1].command_status == 0 and got[1].message_id
    finally:
        esme.close()
