"""Over real TCP with a raw client: datagram message mode (SMPP 3.4 section 2.10.2) and set_dpf / dpf_result /
alert_notification (sections 4.12, 5.3.2.28, 5.3.2.29).

The server runs the bundled default config (test numbers of the README table) with an SQLite store."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smsc.smpp import pdu as P
from smsc.smpp.codec import Framer, encode
from smsc.smpp.constants import CommandStatus, MessageState, Tag

from .conftest import RunningSmsc, make_config

DELIVERED_AT_ONCE = "447700900123"
NEVER_ON = "447700900401"
OFF_2_MIN = "447700900301"
TRANSACTION = 0x02
DATAGRAM = 0x01


def _start(smsc_factory: Callable[..., RunningSmsc], tmp_path: Path, time_scale: float = 20.0) -> RunningSmsc:
    cfg = make_config(tmp_path)
    cfg = dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation, time_scale=time_scale))
    return smsc_factory(cfg)


class _Esme:
    """A raw SMPP client: what it sends and reads is exactly what the test says; deliver_sm are answered."""

    def __init__(self, server: RunningSmsc, bind: type[P.Pdu] = P.BindTransceiver, version: int = 0x34) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.framer = Framer()
        self.pending: list[P.Pdu] = []
        self.sock.sendall(encode(bind(sequence_number=1, system_id="test", password="test",
                                      interface_version=version)))
        resp = self.next()
        assert resp.command_status == 0 and resp.sequence_number == 1, resp

    def next(self, timeout: float = 10.0) -> P.Pdu:
        self.sock.settimeout(timeout)
        while not self.pending:
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            self.pending.extend(self.framer.feed(data))  # type: ignore[arg-type]
        return self.pending.pop(0)

    def send(self, pdu: P.Pdu) -> None:
        self.sock.sendall(encode(pdu))

    def response(self, seq: int) -> P.Pdu:
        """The response to our request ``seq``; nothing else may come first."""
        pdu = self.next()
        assert pdu.sequence_number == seq and pdu.command_id & 0x80000000, pdu
        return pdu

    def nothing_more(self, seq: int = 999) -> None:
        """An enquire_link answered next means nothing (no receipt, no alert) was sent before it."""
        self.send(P.EnquireLink(sequence_number=seq))
        pdu = self.next()
        assert isinstance(pdu, P.EnquireLinkResp), pdu

    def close(self) -> None:
        self.sock.close()


def _data_sm(seq: int, destination: str, esm_class: int, tlvs: dict[int, Any] | None = None) -> P.DataSm:
    return P.DataSm(sequence_number=seq, source_addr_ton=1, source_addr_npi=1, source_addr="447700900001",
                    dest_addr_ton=1, dest_addr_npi=1, destination_addr=destination, esm_class=esm_class,
                    registered_delivery=1, tlvs={Tag.message_payload: b"hello", **(tlvs or {})})


def _smsc(server: RunningSmsc) -> Any:
    assert server.app.smsc is not None
    return server.app.smsc


def _wait_for(server: RunningSmsc, what: Callable[[], Any], seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = server.call(what)
        if value:
            return value
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_datagram_submit_sm_is_accepted_attempted_once_and_never_receipted(
    smsc_factory: Any, tmp_path: Path,
) -> None:
    server = _start(smsc_factory, tmp_path)
    esme = _Esme(server)
    try:
        esme.send(P.SubmitSm(sequence_number=2, source_addr_ton=1, source_addr_npi=1, source_addr="447700900001",
                             dest_addr_ton=1, dest_addr_npi=1, destination_addr=NEVER_ON, esm_class=DATAGRAM,
                             registered_delivery=1, short_message=b"datagram to absent"))
        absent = esme.response(2)
        assert isinstance(absent, P.SubmitSmResp) and absent.command_status == 0 and absent.message_id
        esme.send(P.SubmitSm(sequence_number=3, dest_addr_ton=1, dest_addr_npi=1,
                             destination_addr=DELIVERED_AT_ONCE, esm_class=DATAGRAM, registered_delivery=1,
                             schedule_delivery_time="000000000500000R", short_message=b"scheduled"))
        delivered = esme.response(3)
        assert isinstance(delivered, P.SubmitSmResp) and delivered.command_status == 0
        esme.send(_data_sm(4, NEVER_ON, DATAGRAM))
        data = esme.response(4)
        assert isinstance(data, P.DataSmResp) and data.command_status == 0 and not data.tlvs
        for message_id, state in ((absent.message_id, MessageState.UNDELIVERABLE),
                                  (delivered.message_id, MessageState.DELIVERED),
                                  (data.message_id, MessageState.UNDELIVERABLE)):
            _wait_for(server, lambda: _smsc(server).message(message_id).state == state)  # noqa: B023
            assert len(server.call(lambda: _smsc(server).message(message_id).attempts)) == 1  # noqa: B023
        esme.nothing_more()  # no receipt for any of them
        assert server.call(lambda: _smsc(server).waiting_count()) == 0
    finally:
        esme.close()


def test_set_dpf_gives_dpf_result_and_one_alert_notification_when_the_handset_is_back(
    smsc_factory: Any, tmp_path: Path,
) -> None:
    """The tester's t_dpf.py: transaction-mode data_sm with set_dpf=1 to an absent handset, then the handset is
    switched on (as PUT /api/handsets/{number} does)."""
    server = _start(smsc_factory, tmp_path)
    esme = _Esme(server)
    try:
        esme.send(_data_sm(2, NEVER_ON, TRANSACTION))
        plain = esme.response(2)  # without set_dpf: no flag, no dpf_result
        assert plain.command_status == CommandStatus.ESME_RDELIVERYFAILURE and Tag.dpf_result not in plain.tlvs
        esme.send(_data_sm(3, NEVER_ON, TRANSACTION, {Tag.set_dpf: 1}))
        resp = esme.response(3)
        assert isinstance(resp, P.DataSmResp) and resp.command_status == CommandStatus.ESME_RDELIVERYFAILURE
        assert resp.tlvs[Tag.delivery_failure_reason] == 0 and resp.tlvs[Tag.dpf_result] == 1
        esme.nothing_more(4)
        server.call(lambda: _smsc(server).set_handset_online(NEVER_ON, True))
        alert = esme.next()
        assert isinstance(alert, P.AlertNotification), alert
        assert (alert.source_addr_ton, alert.source_addr_npi, alert.source_addr) == (1, 1, NEVER_ON)
        assert (alert.esme_addr_ton, alert.esme_addr_npi, alert.esme_addr) == (1, 1, "447700900001")
        assert alert.tlvs == {Tag.ms_availability_status: 0} and alert.command_status == 0
        esme.nothing_more(5)  # once; and nothing waits for an answer the ESME must not send
        stats = server.call(lambda: _smsc(server).stats)
        assert (stats.dpf_set, stats.alerts_queued, stats.alerts_sent) == (1, 1, 1)
        assert server.call(lambda: _smsc(server).deliveries("test")) == []
    finally:
        esme.close()


def test_an_alert_notification_leaves_at_once_not_with_the_next_sweep(smsc_factory: Any, tmp_path: Path) -> None:
    """Found by a tester: the alert was logged sent (its outbox row deleted) within 2 ms of the switch, but sat in
    the session's buffer until the once-a-second sweep flushed it (0.2-0.9 s later), lost if the ESME closed or
    the server died meanwhile.  Three rounds, so that a sweep landing by chance inside the limit cannot pass."""
    server = _start(smsc_factory, tmp_path)
    esme = _Esme(server)
    try:
        for seq in (2, 4, 6):
            server.call(lambda: _smsc(server).set_handset_online(NEVER_ON, False))
            esme.send(_data_sm(seq, NEVER_ON, TRANSACTION, {Tag.set_dpf: 1}))
            assert esme.response(seq).tlvs[Tag.dpf_result] == 1
            switched = time.monotonic()
            server.call(lambda: _smsc(server).set_handset_online(NEVER_ON, True))
            alert = esme.next(timeout=3.0)
            took = time.monotonic() - switched
            assert isinstance(alert, P.AlertNotification) and alert.source_addr == NEVER_ON, alert
            assert took < 0.2, f"the alert_notification came {took:.3f} s after the switch"
            esme.nothing_more(seq + 1)
        assert server.call(lambda: _smsc(server).stats.alerts_sent) == 3
    finally:
        esme.close()


def test_an_alert_waits_for_a_receiver_and_is_not_sent_to_an_smpp_33_one(smsc_factory: Any, tmp_path: Path) -> None:
    """The handset comes back by itself (2 min simulated) while the ESME has only a transmitter bound: the
    alert is kept; a 3.3 receiver cannot take it (alert_notification is new in 3.4); a 3.4 receiver gets it."""
    server = _start(smsc_factory, tmp_path, time_scale=60.0)  # 2 min = 2 s
    tx = _Esme(server, P.BindTransmitter)
    try:
        tx.send(_data_sm(2, OFF_2_MIN, DATAGRAM, {Tag.set_dpf: 1}))
        assert tx.response(2).command_status == 0
        _wait_for(server, lambda: [d.kind for d in _smsc(server).deliveries("test")] == ["alert"])
        v33 = _Esme(server, P.BindReceiver, version=0x33)
        try:
            v33.nothing_more()
        finally:
            v33.close()
        rx = _Esme(server, P.BindReceiver)
        try:
            alert = rx.next()
            assert isinstance(alert, P.AlertNotification) and alert.source_addr == OFF_2_MIN
            rx.nothing_more()
        finally:
            rx.close()
        assert server.call(lambda: _smsc(server).deliveries("test")) == []
    finally:
        tx.close()


def test_alerts_take_no_window_slot_so_a_receipt_behind_one_still_goes(smsc_factory: Any, tmp_path: Path) -> None:
    """Window 1, an alert and then a receipt owed when the receiver binds: both come at once (the alert, which
    has no response, does not hold the one slot, nor stop the bind from taking what follows it)."""
    cfg = make_config(tmp_path, window=1)
    server = smsc_factory(dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation,
                                                                                   time_scale=60.0)))
    tx = _Esme(server, P.BindTransmitter)
    try:
        tx.send(P.SubmitSm(sequence_number=2, source_addr_ton=1, source_addr_npi=1, source_addr="447700900001",
                           dest_addr_ton=1, dest_addr_npi=1, destination_addr=OFF_2_MIN, registered_delivery=1,
                           short_message=b"stored", tlvs={Tag.set_dpf: 1}))
        assert tx.response(2).command_status == 0
        _wait_for(server, lambda: sorted(d.kind for d in _smsc(server).deliveries("test")) == ["alert", "receipt"])
        rx = _Esme(server, P.BindReceiver)
        try:
            alert, receipt = rx.next(), rx.next()
            assert isinstance(alert, P.AlertNotification) and alert.source_addr == OFF_2_MIN
            assert isinstance(receipt, P.DeliverSm) and receipt.esm_class == 0x04
            rx.send(P.DeliverSmResp(sequence_number=receipt.sequence_number))
            rx.nothing_more()
        finally:
            rx.close()
        assert server.call(lambda: _smsc(server).deliveries("test")) == []
    finally:
        tx.close()


def test_a_delivery_pending_flag_survives_a_restart_of_the_server(smsc_factory: Any, tmp_path: Path) -> None:
    """The flag is set by a transaction-mode data_sm (final at once: no waiting message remembers it), the
    server is stopped and a new one started on the same SQLite file; when the handset is switched on, the
    ESME bound to the new server gets its alert_notification."""
    first = _start(smsc_factory, tmp_path)
    esme = _Esme(first)
    try:
        esme.send(_data_sm(2, NEVER_ON, TRANSACTION, {Tag.set_dpf: 1}))
        resp = esme.response(2)
        assert resp.command_status == CommandStatus.ESME_RDELIVERYFAILURE and resp.tlvs[Tag.dpf_result] == 1
    finally:
        esme.close()
    first.stop()
    second = _start(smsc_factory, tmp_path)
    esme = _Esme(second)
    try:
        assert _flags(second) == [(NEVER_ON, "test")]
        esme.nothing_more(3)
        second.call(lambda: _smsc(second).set_handset_online(NEVER_ON, True))
        alert = esme.next()
        assert isinstance(alert, P.AlertNotification), alert
        assert (alert.source_addr, alert.esme_addr) == (NEVER_ON, "447700900001")
        esme.nothing_more(4)
        assert _flags(second) == []
    finally:
        esme.close()


def _flags(server: RunningSmsc) -> list[tuple[str, str]]:
    return server.call(lambda: _smsc(server).dpf.flags())
