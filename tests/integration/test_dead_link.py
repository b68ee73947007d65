"""A bound ESME that never answers our deliver_sm is unbound and closed after repeated response_timer expiries
(SMPP 3.4 section 7.2), and its deliveries go to the next bind; over real TCP with short timers."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from smsc.smpp import pdu as P
from smsc.smpp.codec import Framer, encode

from .conftest import make_config

DELIVERED_AT_ONCE = "447700900123"


def _bind(port: int) -> tuple[socket.socket, Framer]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
    return sock, Framer()


def test_an_esme_that_never_answers_deliver_sm_is_unbound_and_its_receipts_go_to_the_next_bind(
    smsc_factory: Any, tmp_path: Path,
) -> None:
    server = smsc_factory(make_config(tmp_path, response_timer=0.5, enquire_link_timer=0.0))
    smsc = server.app.smsc
    server.call(lambda: setattr(smsc.outbox, "backoff", (0.1,)))  # offered again at once after each expiry
    dead, framer = _bind(server.port)
    dead.sendall(b"".join(encode(P.SubmitSm(
        sequence_number=10 + i, source_addr="ACME", destination_addr=DELIVERED_AT_ONCE, dest_addr_ton=1,
        dest_addr_npi=1, short_message=b"hi", registered_delivery=1)) for i in range(3)))
    dead.sendall(encode(P.SubmitSm(sequence_number=20, short_message=b"x" * 100))[:60])  # then half a PDU
    got: list[Any] = []
    started = time.monotonic()
    while True:  # read only, never answer
        data = dead.recv(65536)
        if not data:
            break
        got.extend(framer.feed(data))
        assert time.monotonic() - started < 20, "the server kept the dead link"
    closed_after = time.monotonic() - started
    dead.close()
    delivers = [p for p in got if isinstance(p, P.DeliverSm)]
    unbinds = [p for p in got if isinstance(p, P.Unbind)]
    assert len(unbinds) == 1 and got.index(unbinds[0]) > got.index(delivers[-1])  # nothing leased after it
    assert len(delivers) >= 9  # three rounds of the three receipts
    assert closed_after < 10
    assert len(server.call(lambda: smsc.deliveries("test"))) == 3  # none lost

    alive, framer = _bind(server.port)
    receipts: list[P.DeliverSm] = []
    while len(receipts) < 3:
        for pdu in framer.feed(alive.recv(65536)):
            if isinstance(pdu, P.DeliverSm):
                receipts.append(pdu)
                alive.sendall(encode(P.DeliverSmResp(sequence_number=pdu.sequence_number)))
    alive.close()
    deadline = time.monotonic() + 5
    while server.call(lambda: smsc.deliveries("test")):
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_an_esme_whose_keep_alive_runs_but_that_never_answers_deliver_sm_is_unbound(
    smsc_factory: Any, tmp_path: Path,
) -> None:
    """The common zombie: a keep-alive timer sends enquire_link (and answers ours) while the deliver_sm handler
    is stuck.  Those show the socket alive, not the receipts taken: unbound after three response_timer rounds."""
    server = smsc_factory(make_config(tmp_path, response_timer=0.5, enquire_link_timer=0.3))
    smsc = server.app.smsc
    server.call(lambda: setattr(smsc.outbox, "backoff", (0.1,)))
    zombie, framer = _bind(server.port)
    zombie.sendall(b"".join(encode(P.SubmitSm(
        sequence_number=10 + i, source_addr="ACME", destination_addr=DELIVERED_AT_ONCE, dest_addr_ton=1,
        dest_addr_npi=1, short_message=b"hi", registered_delivery=1)) for i in range(3)))
    zombie.settimeout(0.1)
    got: list[Any] = []
    seq = 100
    started = time.monotonic()
    while True:
        assert time.monotonic() - started < 10, "the server kept the zombie bound"
        try:
            try:
                data = zombie.recv(65536)
            except socket.timeout:
                data = None
            if data == b"":
                break
            for pdu in framer.feed(data or b""):
                got.append(pdu)
                if isinstance(pdu, P.EnquireLink):
                    zombie.sendall(encode(P.EnquireLinkResp(sequence_number=pdu.sequence_number)))
            seq += 1
            zombie.sendall(encode(P.EnquireLink(sequence_number=seq)))  # its own, every 0.1 s
        except ConnectionError:  # (closed by the server while writing)
            break
    zombie.close()
    delivers = [p for p in got if isinstance(p, P.DeliverSm)]
    assert any(isinstance(p, P.Unbind) for p in got)
    assert len(delivers) >= 9  # three rounds of the three receipts, then no more
    assert len(server.call(lambda: smsc.deliveries("test"))) == 3  # none lost


def test_the_log_says_why_a_session_closed_and_why_a_receipt_is_sent_again(smsc_factory: Any, tmp_path: Path) -> None:
    """Found by a tester: a session closed for an unanswered enquire_link was logged as ``unbound
    reason=closed``, as a client closing its own socket is; a deliver_sm that timed out, and a
    deliver_sm_resp naming no deliver_sm of ours, left no log line at all."""
    import structlog

    server = smsc_factory(make_config(tmp_path, response_timer=0.5, enquire_link_timer=0.3))
    with structlog.testing.capture_logs() as logs:
        sock, framer = _bind(server.port)
        sock.sendall(encode(P.SubmitSm(sequence_number=2, source_addr="ACME", destination_addr=DELIVERED_AT_ONCE,
                                       dest_addr_ton=1, dest_addr_npi=1, short_message=b"hi", registered_delivery=1)))
        got: list[Any] = []
        started = time.monotonic()
        while not any(isinstance(p, P.DeliverSm) for p in got):
            got.extend(framer.feed(sock.recv(65536)))
            assert time.monotonic() - started < 10
        sock.sendall(encode(P.DeliverSmResp(sequence_number=999)))  # names no deliver_sm of ours
        while True:  # nothing more is answered: the receipt times out, then the enquire_link
            data = sock.recv(65536)
            if not data:
                break
            assert time.monotonic() - started < 20, "the server kept the silent session"
        sock.close()
        deadline = time.monotonic() + 5
        while not [e for e in logs if e["event"] == "unbound"]:
            assert time.monotonic() < deadline, "no unbound log line"
            time.sleep(0.05)
    (unmatched,) = [e for e in logs if e["event"] == "response_unmatched"]
    assert unmatched["command"] == "deliver_sm_resp" and unmatched["sequence_number"] == 999
    failed = [e for e in logs if e["event"] == "delivery_failed"]
    assert failed and failed[0]["reason"] == "no response within the response_timer"
    assert failed[0]["command"] == "deliver_sm" and failed[0]["system_id"] == "test"
    (unbound,) = [e for e in logs if e["event"] == "unbound"]
    assert unbound["reason"] == "enquire_link not answered"


def test_a_stalled_window_is_logged_once_per_hundred_failures_not_once_per_deliver_sm(
    smsc_factory: Any, tmp_path: Path,
) -> None:
    """A window of receipts that times out at once, and the late answers to all of them, make one log line each
    (the first; then every FAILED_REQUEST_LOG_EVERY-th), not one per deliver_sm; a failure of another kind after
    them is logged at once (tester 25: a generic_nack after timeouts was hidden)."""
    import structlog

    server = smsc_factory(make_config(tmp_path, response_timer=1.0, enquire_link_timer=0.0))
    with structlog.testing.capture_logs() as logs:
        sock, framer = _bind(server.port)
        sock.sendall(b"".join(encode(P.SubmitSm(
            sequence_number=10 + i, source_addr="ACME", destination_addr=DELIVERED_AT_ONCE, dest_addr_ton=1,
            dest_addr_npi=1, short_message=b"hi", registered_delivery=1)) for i in range(5)))
        delivers: list[P.DeliverSm] = []
        started = time.monotonic()
        while len(delivers) < 10:  # five, unanswered; after the response_timer the same five again, at once
            delivers += [p for p in framer.feed(sock.recv(65536)) if isinstance(p, P.DeliverSm)]
            assert time.monotonic() - started < 10
        first, again = delivers[:5], delivers[5:]
        assert [p.short_message for p in again] == [p.short_message for p in first]
        sock.sendall(b"".join(encode(P.DeliverSmResp(sequence_number=p.sequence_number)) for p in first))  # late
        sock.sendall(b"".join(encode(P.GenericNack(sequence_number=p.sequence_number, command_status=8))
                              for p in again))
        sock.sendall(encode(P.EnquireLink(sequence_number=99)))
        while not any(isinstance(p, P.EnquireLinkResp) for p in framer.feed(sock.recv(65536))):
            assert time.monotonic() - started < 20
        sock.close()
    failed = [e for e in logs if e["event"] == "delivery_failed"]
    late = [e for e in logs if e["event"] == "response_late"]
    assert [(e["count"], e["reason"]) for e in failed] == [
        (1, "no response within the response_timer"), (6, "generic_nack ESME_RSYSERR")]
    assert [e["count"] for e in late] == [1]  # (they acknowledge the receipts: no third copy)
    assert not [e for e in logs if e["event"] == "response_unmatched"]
