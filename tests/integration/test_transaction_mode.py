"""data_sm in transaction message mode (esm_class mode 2, SMPP 3.4 sections 2.10.3, 4.7.2, 5.3.2.33) over real
TCP: the data_sm_resp is held until the one delivery attempt's outcome, and a failure carries its reason.

The server runs the bundled default config (test numbers of the README table) with an SQLite store."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smsc.smpp import pdu as P
from smsc.smpp.codec import Framer, encode
from smsc.smpp.constants import CommandStatus, MessageState, Tag

from .conftest import RunningSmsc, make_config

DELIVERED_AT_ONCE = "447700900123"
DELIVERED_AFTER_30S = "447700900201"  # 30 simulation seconds after the attempt
NEVER_ON = "447700900401"
UNKNOWN_SUBSCRIBER = "447700900501"
BARRED = "447700900601"
TRANSACTION = 0x02  # esm_class messaging mode 2


def _start(smsc_factory: Callable[..., RunningSmsc], tmp_path: Path, *, time_scale: float,
           transaction_timeout: float = 25.0) -> RunningSmsc:
    cfg = make_config(tmp_path)
    cfg = dataclasses.replace(cfg, simulation=dataclasses.replace(
        cfg.simulation, time_scale=time_scale, transaction_timeout=transaction_timeout))
    return smsc_factory(cfg)


class _Esme:
    """A raw SMPP transceiver: what it sends and reads is exactly what the test says."""

    def __init__(self, server: RunningSmsc) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.framer = Framer()
        self.sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
        (resp,) = self.read(1)
        assert isinstance(resp, P.BindTransceiverResp) and resp.command_status == 0

    def read(self, count: int) -> list[P.Pdu]:
        got: list[P.Pdu] = []
        while len(got) < count:
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            got.extend(self.framer.feed(data))  # type: ignore[arg-type]
        return got

    def data_sm(self, seq: int, destination: str, *, esm_class: int = TRANSACTION, **kw: Any) -> None:
        self.sock.sendall(encode(P.DataSm(
            sequence_number=seq, source_addr_ton=5, source_addr="ACME", dest_addr_ton=1, dest_addr_npi=1,
            destination_addr=destination, esm_class=esm_class, tlvs={Tag.message_payload: b"hello"}, **kw,
        )))

    def data_sm_resp(self, seq: int, destination: str, **kw: Any) -> tuple[P.DataSmResp, float]:
        """Send a transaction-mode data_sm and wait for its data_sm_resp; returns it and the seconds taken."""
        started = time.monotonic()
        self.data_sm(seq, destination, **kw)
        (resp,) = self.read(1)
        assert isinstance(resp, P.DataSmResp) and resp.sequence_number == seq
        return resp, time.monotonic() - started

    def nothing_more(self) -> None:
        """An enquire_link answered next means nothing (no receipt) was sent before it."""
        self.sock.sendall(encode(P.EnquireLink(sequence_number=999)))
        (pdu,) = self.read(1)
        assert isinstance(pdu, P.EnquireLinkResp), pdu

    def close(self) -> None:
        self.sock.close()


def _message(server: RunningSmsc, message_id: str) -> Any:
    assert server.app.smsc is not None
    return server.call(lambda: server.app.smsc.message(message_id))  # type: ignore[union-attr]


def test_a_delivered_transaction_mode_data_sm_is_answered_after_the_attempt_with_no_receipt(
    smsc_factory: Any, tmp_path: Path,
) -> None:
    server = _start(smsc_factory, tmp_path, time_scale=20.0)  # 30 s of simulated latency = 1.5 s
    esme = _Esme(server)
    try:
        resp, took = esme.data_sm_resp(2, DELIVERED_AFTER_30S, registered_delivery=1)
        assert resp.command_status == 0 and resp.message_id
        assert Tag.delivery_failure_reason not in resp.tlvs
        assert took >= 1.3  # held until the outcome, not answered at acceptance
        msg = _message(server, resp.message_id)
        assert msg.state == MessageState.DELIVERED and [a.outcome for a in msg.attempts] == ["delivered"]
        resp, _ = esme.data_sm_resp(3, DELIVERED_AT_ONCE, registered_delivery=1)
        assert resp.command_status == 0 and resp.message_id
        esme.nothing_more()  # the data_sm_resp was the outcome: no receipt follows
        assert server.call(lambda: server.app.smsc.deliveries("test")) == []  # type: ignore[union-attr]
    finally:
        esme.close()


def test_a_failed_transaction_mode_data_sm_gets_delivery_failure_with_its_reason(
    smsc_factory: Any, tmp_path: Path,
) -> None:
    server = _start(smsc_factory, tmp_path, time_scale=20.0)
    esme = _Esme(server)
    try:
        resp, _ = esme.data_sm_resp(2, UNKNOWN_SUBSCRIBER, registered_delivery=1)
        assert resp.command_status == CommandStatus.ESME_RDELIVERYFAILURE
        assert resp.tlvs[Tag.delivery_failure_reason] == 1  # destination address invalid
        assert resp.tlvs[Tag.network_error_code] == b"\x03\x00\x01"  # GSM, MAP unknownSubscriber
        assert resp.tlvs[Tag.additional_status_info_text] == "unknown subscriber"
        msg = _message(server, resp.message_id)
        assert msg.state == MessageState.UNDELIVERABLE and len(msg.attempts) == 1
        resp, _ = esme.data_sm_resp(3, BARRED)
        assert resp.command_status == CommandStatus.ESME_RDELIVERYFAILURE
        assert resp.tlvs[Tag.delivery_failure_reason] == 2  # permanent network error
        assert _message(server, resp.message_id).state == MessageState.REJECTED
        esme.nothing_more()
    finally:
        esme.close()


def test_a_transaction_mode_data_sm_to_an_absent_handset_fails_at_once_and_is_not_kept(
    smsc_factory: Any, tmp_path: Path,
) -> None:
    server = _start(smsc_factory, tmp_path, time_scale=20.0)
    esme = _Esme(server)
    try:
        resp, took = esme.data_sm_resp(2, NEVER_ON)
        assert resp.command_status == CommandStatus.ESME_RDELIVERYFAILURE
        assert resp.tlvs[Tag.delivery_failure_reason] == 0  # destination unavailable
        assert resp.tlvs[Tag.network_error_code] == b"\x03\x00\x06"  # MAP absentSubscriberSM
        assert took < 5.0  # one paging (failure latency up to 2 s simulated), no wait for the handset
        msg = _message(server, resp.message_id)
        assert msg.state == MessageState.UNDELIVERABLE and [a.outcome for a in msg.attempts] == ["absent"]
        assert server.call(lambda: server.app.smsc.waiting_count()) == 0  # type: ignore[union-attr]
        # A store-and-forward data_sm makes the number known absent; a transaction then fails without paging.
        esme.data_sm(3, NEVER_ON, esm_class=0)
        (plain,) = esme.read(1)
        assert isinstance(plain, P.DataSmResp) and plain.command_status == 0
        deadline = time.monotonic() + 10
        while NEVER_ON not in server.call(lambda: server.app.smsc.machine.absent):  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        resp, took = esme.data_sm_resp(4, NEVER_ON)
        assert resp.command_status == CommandStatus.ESME_RDELIVERYFAILURE
        assert resp.tlvs[Tag.delivery_failure_reason] == 0
        assert took < 1.0
        assert _message(server, resp.message_id).attempts[0].outcome == "absent"
        assert server.call(lambda: server.app.smsc.waiting_count()) == 1  # type: ignore[union-attr]  # (the plain one)
    finally:
        esme.close()


def test_a_transaction_mode_attempt_longer_than_the_timeout_is_answered_with_a_temporary_failure(
    smsc_factory: Any, tmp_path: Path,
) -> None:
    server = _start(smsc_factory, tmp_path, time_scale=1.0, transaction_timeout=0.5)
    esme = _Esme(server)
    try:
        resp, took = esme.data_sm_resp(2, DELIVERED_AFTER_30S)
        assert resp.command_status == CommandStatus.ESME_RDELIVERYFAILURE
        assert resp.tlvs[Tag.delivery_failure_reason] == 3  # temporary network error
        assert resp.tlvs[Tag.additional_status_info_text] == "no delivery outcome within 0.5 s"
        assert 0.4 <= took < 5.0
        msg = _message(server, resp.message_id)
        assert msg.state == MessageState.UNDELIVERABLE and [a.outcome for a in msg.attempts] == ["timeout"]
        assert server.call(lambda: server.app.smsc.waiting_count()) == 0  # type: ignore[union-attr]
    finally:
        esme.close()


def _unbind_answers(esme: _Esme, seq: int, count: int) -> list[P.Pdu]:
    """Read ``count`` PDUs after sending unbind ``seq``; the connection must answer within the socket timeout."""
    esme.sock.sendall(encode(P.Unbind(sequence_number=seq)))
    return esme.read(count)


def test_transaction_mode_data_sm_beyond_the_held_limit_are_throttled_and_unbind_is_answered_at_once(
    smsc_factory: Any, tmp_path: Path, monkeypatch: Any,
) -> None:
    """Held data_sm_resp do not stop the connection from reading (on the 4,097th the ESME's enquire_link and
    unbind went unanswered for up to transaction_timeout): one beyond the limit is throttled, and unbind
    answers the held ones (delivery failure, temporary) before its unbind_resp."""
    from smsc.server import protocol

    monkeypatch.setattr(protocol, "MAX_HELD_TRANSACTIONS", 8, raising=False)
    monkeypatch.setattr(protocol, "MAX_PENDING_REPLIES", 8)  # (the other replies' pause: no longer theirs)
    server = _start(smsc_factory, tmp_path, time_scale=1.0)  # 30 s to the outcome, abandoned at 25 s
    esme = _Esme(server)
    esme.sock.settimeout(5.0)
    try:
        for seq in range(2, 12):
            esme.data_sm(seq, DELIVERED_AFTER_30S)
        throttled = esme.read(2)
        assert [(p.sequence_number, p.command_status) for p in throttled] == [
            (10, CommandStatus.ESME_RTHROTTLED), (11, CommandStatus.ESME_RTHROTTLED)]
        esme.sock.sendall(encode(P.EnquireLink(sequence_number=50)))
        (pdu,) = esme.read(1)
        assert isinstance(pdu, P.EnquireLinkResp)
        started = time.monotonic()
        answers = _unbind_answers(esme, 60, 9)
        assert time.monotonic() - started < 3.0
        *held, last = answers
        assert isinstance(last, P.UnbindResp) and last.sequence_number == 60
        assert sorted(p.sequence_number for p in held) == list(range(2, 10))
        for resp in held:
            assert isinstance(resp, P.DataSmResp)
            assert resp.command_status == CommandStatus.ESME_RDELIVERYFAILURE
            assert resp.tlvs[Tag.delivery_failure_reason] == 3  # temporary network error
            assert resp.tlvs[Tag.additional_status_info_text] == "unbind before the delivery outcome"
            msg = _message(server, resp.message_id)
            assert msg.state == MessageState.UNDELIVERABLE and [a.outcome for a in msg.attempts] == ["abandoned"]
        assert esme.sock.recv(1) == b""  # closed after the unbind_resp
    finally:
        esme.close()


def test_stopping_the_smsc_answers_held_transaction_mode_data_sm_before_it_unbinds(
    smsc_factory: Any, tmp_path: Path,
) -> None:
    server = _start(smsc_factory, tmp_path, time_scale=1.0)
    esme = _Esme(server)
    esme.sock.settimeout(5.0)
    try:
        for seq in (2, 3, 4):
            esme.data_sm(seq, DELIVERED_AFTER_30S)
        deadline = time.monotonic() + 5
        while server.call(lambda: server.app.smsc.stats.in_flight) < 3:  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        started = time.monotonic()
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        *held, unbind = esme.read(4)
        assert isinstance(unbind, P.Unbind)
        esme.sock.sendall(encode(P.UnbindResp(sequence_number=unbind.sequence_number)))
        stopper.join(timeout=15)
        assert not stopper.is_alive() and time.monotonic() - started < 3.0  # (the grace is 5 s)
        assert sorted(p.sequence_number for p in held) == [2, 3, 4]
        for resp in held:
            assert isinstance(resp, P.DataSmResp)
            assert resp.command_status == CommandStatus.ESME_RDELIVERYFAILURE
            assert resp.tlvs[Tag.delivery_failure_reason] == 3
            assert resp.tlvs[Tag.additional_status_info_text] == "SMSC shutting down before the delivery outcome"
    finally:
        esme.close()
