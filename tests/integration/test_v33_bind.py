"""An SMPP 3.3 bind (interface_version below 0x34) over real TCP: data_sm, which 3.3 does not have, gets
generic_nack ESME_RINVCMDID and the session goes on (SMPP 3.4 sections 3.3, 4.3, 5.2.4); message_ids of the
default config fit 3.3's 8 octets (section 3.4), and a config with longer ones is warned about at the bind."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import LogCapture

from smsc.config import MessageIdFormat
from smsc.server import protocol
from smsc.smpp import pdu as P
from smsc.smpp.codec import Framer, encode
from smsc.smpp.constants import CommandStatus as S

from .conftest import make_config


def _answer(sock: socket.socket, framer: Framer) -> P.Pdu:
    while True:
        pdus = framer.feed(sock.recv(65536))
        if pdus:
            assert len(pdus) == 1
            return pdus[0]  # type: ignore[return-value]


def test_data_sm_from_a_v33_transmitter_is_an_unknown_command(smsc_factory: Any, tmp_path: Path) -> None:
    server = smsc_factory(make_config(tmp_path))
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    framer = Framer()
    sock.sendall(encode(P.BindTransmitter(sequence_number=1, system_id="test", password="test",
                                          interface_version=0x33)))
    bind_resp = _answer(sock, framer)
    assert bind_resp.command_status == 0 and bind_resp.tlvs == {}
    sock.sendall(encode(P.DataSm(sequence_number=2, source_addr="ACME", destination_addr="447700900123",
                                 dest_addr_ton=1, dest_addr_npi=1, esm_class=2)))  # transaction mode
    nack = _answer(sock, framer)
    assert (type(nack), nack.sequence_number, nack.command_status) == (P.GenericNack, 2, S.ESME_RINVCMDID)
    sock.sendall(encode(P.SubmitSm(sequence_number=3, source_addr="ACME", destination_addr="447700900123",
                                   dest_addr_ton=1, dest_addr_npi=1, short_message=b"hi")))
    resp = _answer(sock, framer)
    assert isinstance(resp, P.SubmitSmResp) and resp.command_status == 0 and resp.message_id
    sock.close()


def _bind_v33(port: int) -> tuple[socket.socket, Framer]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    framer = Framer()
    sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test",
                                          interface_version=0x33)))
    assert _answer(sock, framer).command_status == 0
    return sock, framer


def test_a_v33_bind_gets_ids_of_at_most_8_characters_with_the_default_config(
    smsc_factory: Any, tmp_path: Path,
) -> None:
    """SMPP 3.4 section 3.4: no message_id longer than 8 octets for an ESME on SMPP 3.3 (tester9 finding 3: the
    default config gave 16 hex digits, and 10 decimal ones for US numbers).  Its receipt and query_sm use the
    same id."""
    server = smsc_factory(make_config(tmp_path))
    sock, framer = _bind_v33(server.port)
    for seq, destination in ((2, "447700900123"), (4, "12125550100")):  # britmobile, liberty: delivered at once
        sock.sendall(encode(P.SubmitSm(sequence_number=seq, source_addr="ACME", destination_addr=destination,
                                       dest_addr_ton=1, dest_addr_npi=1, registered_delivery=1,
                                       short_message=b"v33")))
        pdus: list[P.Pdu] = []
        for _ in range(10):  # the submit_sm_resp, then the receipt
            if len(pdus) >= 2:
                break
            pdus += framer.feed(sock.recv(65536))
        resp = next(p for p in pdus if isinstance(p, P.SubmitSmResp))
        receipt = next(p for p in pdus if isinstance(p, P.DeliverSm))
        assert resp.command_status == 0 and 1 <= len(resp.message_id) <= 8, resp.message_id
        assert receipt.short_message.startswith(f"id:{resp.message_id} ".encode()) and receipt.tlvs == {}
        sock.sendall(encode(P.DeliverSmResp(sequence_number=receipt.sequence_number)))
        sock.sendall(encode(P.QuerySm(sequence_number=seq + 1, message_id=resp.message_id, source_addr="ACME")))
        query = _answer(sock, framer)
        assert isinstance(query, P.QuerySmResp) and query.command_status == 0 and query.message_state == 2
    sock.close()


def test_a_v33_bind_is_warned_about_when_the_config_gives_longer_ids(
    smsc_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    capture = LogCapture()
    monkeypatch.setattr(protocol, "log", structlog.wrap_logger(
        structlog.PrintLogger(), processors=[capture], wrapper_class=structlog.stdlib.BoundLogger))
    config = make_config(tmp_path)
    long_ids = dataclasses.replace(config.server, message_id=MessageIdFormat(format="hex", length=16))
    server = smsc_factory(dataclasses.replace(config, server=long_ids))
    sock, _ = _bind_v33(server.port)
    sock.close()
    [warning] = [e for e in capture.entries if e["event"] == "v33_bind_long_message_ids"]
    assert (warning["log_level"], warning["system_id"], warning["longest"], warning["allowed"]) == (
        "warning", "test", 16, 8)
    capture.entries.clear()
    second = tmp_path / "second"  # (a server of its own needs a file of its own: the first holds its lock)
    second.mkdir()
    server34 = smsc_factory(make_config(second))  # the default config: 8 at most, nothing to say
    sock, _ = _bind_v33(server34.port)
    sock.close()
    assert [e for e in capture.entries if e["event"] == "bound"]
    assert not [e for e in capture.entries if e["event"] == "v33_bind_long_message_ids"]
