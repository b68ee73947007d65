"""An SMPP 3.3 bind (interface_version below 0x34) over real TCP: data_sm, which 3.3 does not have, gets
generic_nack ESME_RINVCMDID and the session goes on (SMPP 3.4 sections 3.3, 4.3, 5.2.4)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

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
