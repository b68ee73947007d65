"""The SMPP server over real TCP with smpplib as the ESME (issue 3's acceptance checks)."""

from __future__ import annotations

import dataclasses
import socket
import struct
import threading
import time
from typing import Any, Callable

import pytest
import smpplib.client
import structlog.testing
import smpplib.consts as C
import smpplib.exceptions
import smpplib.gsm

from smsc.smpp import pdu as P
from smsc.smpp.codec import Framer, encode
from smsc.smpp.constants import CommandStatus

from .conftest import RunningSmsc, read_until

DELIVERED_AT_ONCE = "447700900123"  # documented test number in the default config


def _submit(client: smpplib.client.Client, text: bytes = b"hello", **kw: Any) -> Any:
    args: dict[str, Any] = dict(
        source_addr_ton=C.SMPP_TON_ALNUM, source_addr_npi=C.SMPP_NPI_UNK, source_addr="ACME",
        dest_addr_ton=C.SMPP_TON_INTL, dest_addr_npi=C.SMPP_NPI_ISDN, destination_addr=DELIVERED_AT_ONCE,
        short_message=text, registered_delivery=1,
    )
    args.update(kw)
    return client.send_message(**args)


def _collect(client: smpplib.client.Client) -> tuple[list[Any], list[Any]]:
    resps: list[Any] = []
    delivered: list[Any] = []
    client.set_message_sent_handler(lambda pdu: resps.append(pdu))
    client.set_message_received_handler(lambda pdu: delivered.append(pdu))
    return resps, delivered


def _as_str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def test_transceiver_submit_gets_message_id_and_matching_receipt(client_factory: Any) -> None:
    client = client_factory()
    client.bind_transceiver(system_id="test", password="test")
    resps, delivered = _collect(client)
    _submit(client)
    read_until(client, lambda: len(resps) == 1 and len(delivered) == 1)
    message_id = _as_str(resps[0].message_id)
    assert message_id
    receipt = delivered[0]
    assert receipt.esm_class & 0x04
    text = _as_str(receipt.short_message)
    assert text.startswith(f"id:{message_id} sub:001 dlvrd:001 submit date:")
    assert "stat:DELIVRD err:000" in text
    assert _as_str(receipt.receipted_message_id) == message_id
    assert int(receipt.message_state) == 2
    assert _as_str(receipt.source_addr) == DELIVERED_AT_ONCE and _as_str(receipt.destination_addr) == "ACME"


def test_transmitter_and_receiver_binds_of_one_account_share_receipts(client_factory: Any) -> None:
    tx = client_factory()
    rx = client_factory()
    tx.bind_transmitter(system_id="test", password="test")
    rx.bind_receiver(system_id="test", password="test")
    resps, _ = _collect(tx)
    _, delivered = _collect(rx)
    _submit(tx)
    read_until(tx, lambda: len(resps) == 1)
    read_until(rx, lambda: len(delivered) == 1)
    assert _as_str(delivered[0].receipted_message_id) == _as_str(resps[0].message_id)


def test_receipt_waits_for_a_receiver_that_binds_later(client_factory: Any) -> None:
    tx = client_factory()
    tx.bind_transmitter(system_id="test", password="test")
    resps, _ = _collect(tx)
    _submit(tx)
    read_until(tx, lambda: len(resps) == 1)
    rx = client_factory()
    rx.bind_receiver(system_id="test", password="test")
    _, delivered = _collect(rx)
    read_until(rx, lambda: len(delivered) == 1)
    assert _as_str(delivered[0].receipted_message_id) == _as_str(resps[0].message_id)


def test_long_ucs2_message_made_by_smpplib_is_accepted_part_by_part(client_factory: Any) -> None:
    client = client_factory()
    client.bind_transceiver(system_id="test", password="test")
    resps, delivered = _collect(client)
    parts, encoding, esm_class = smpplib.gsm.make_parts("Привет, мир! " * 20)
    assert encoding == C.SMPP_ENCODING_ISO10646 and len(parts) > 1
    for part in parts:
        _submit(client, part, data_coding=encoding, esm_class=esm_class)
    read_until(client, lambda: len(resps) == len(parts) and len(delivered) == len(parts))
    assert all(r.status == 0 for r in resps)
    assert len({_as_str(r.message_id) for r in resps}) == len(parts)


def test_enquire_link_and_unbind(client_factory: Any) -> None:
    client = client_factory()
    client.bind_transmitter(system_id="test", password="test")
    client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
    resp = client.read_pdu()
    assert resp.command == "enquire_link_resp" and resp.status == 0
    resp = client.unbind()
    assert resp.command == "unbind_resp" and resp.status == 0


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [("test", "wrong", CommandStatus.ESME_RINVPASWD), ("nobody", "test", CommandStatus.ESME_RINVSYSID)],
)
def test_bad_credentials_are_refused_with_the_spec_status(
    client_factory: Any, system_id: str, password: str, status: int
) -> None:
    client = client_factory()
    with pytest.raises(smpplib.exceptions.PDUError) as exc:
        client.bind_transceiver(system_id=system_id, password=password)
    assert exc.value.args[1] == status


def test_a_connection_is_closed_after_its_third_refused_bind(smsc_server: RunningSmsc) -> None:
    """Tester 42: 200 wrong passwords on one connection took 0.03 s, then the right one bound.  Two refusals
    leave the connection open for another try; the third is answered, then the connection closes."""
    from smsc.smpp.codec import Framer

    with _raw_connection(smsc_server) as sock:
        for seq in (1, 2):
            sock.sendall(encode(P.BindTransceiver(sequence_number=seq, system_id="test", password="wrong")))
        sock.sendall(encode(P.BindTransceiver(sequence_number=3, system_id="test", password="test")))
        resps = _read_pdus(sock, 3)
        assert [r.command_status for r in resps] == [CommandStatus.ESME_RINVPASWD] * 2 + [0]
    with _raw_connection(smsc_server) as sock:
        batch = b"".join(encode(P.BindTransceiver(sequence_number=seq, system_id="test", password="wrong"))
                         for seq in (1, 2, 3))
        sock.sendall(batch + encode(P.BindTransceiver(sequence_number=4, system_id="test", password="test")))
        framer, got = Framer(), []
        for _ in range(100):  # until the server closes
            data = sock.recv(65536)
            if not data:
                break
            got.extend(framer.feed(data))
        assert [(p.sequence_number, p.command_status) for p in got] == [
            (1, CommandStatus.ESME_RINVPASWD), (2, CommandStatus.ESME_RINVPASWD), (3, CommandStatus.ESME_RINVPASWD)]


def _raw_connection(server: RunningSmsc) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return sock


def _read_pdus(sock: socket.socket, count: int) -> list[P.Pdu]:
    framer = Framer()
    got: list[P.Pdu] = []
    for _ in range(50):
        if len(got) >= count:
            break
        data = sock.recv(65536)
        if not data:
            break
        got.extend(framer.feed(data))  # type: ignore[arg-type]
    return got


def test_submit_before_bind_gets_invbndsts(smsc_server: RunningSmsc) -> None:
    with _raw_connection(smsc_server) as sock:
        sock.sendall(encode(P.SubmitSm(sequence_number=5, destination_addr=DELIVERED_AT_ONCE, short_message=b"x")))
        (resp,) = _read_pdus(sock, 1)
        assert isinstance(resp, P.SubmitSmResp)
        assert (resp.command_status, resp.sequence_number) == (CommandStatus.ESME_RINVBNDSTS, 5)


def test_garbage_bytes_get_generic_nack_and_a_close(smsc_server: RunningSmsc) -> None:
    with _raw_connection(smsc_server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        pdus = _read_pdus(sock, 1)
        assert isinstance(pdus[0], P.GenericNack) and pdus[0].command_status == CommandStatus.ESME_RINVCMDLEN
        sock.settimeout(5)
        assert sock.recv(100) == b""  # the server closed the connection


def test_requests_before_a_framing_error_are_answered_before_the_close(smsc_server: RunningSmsc) -> None:
    """A fatal command_length after accepted submits: each submit still gets its submit_sm_resp (the messages
    were stored and will be delivered: the ESME must learn their message_ids), then generic_nack, then close."""
    with _raw_connection(smsc_server) as sock:
        batch = encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test"))
        batch += b"".join(
            encode(P.SubmitSm(sequence_number=10 + i, destination_addr=DELIVERED_AT_ONCE, short_message=b"hi"))
            for i in range(20)
        )
        batch += struct.pack(">IIII", 8, 0x00000004, 0, 99)  # command_length 8: the stream is lost here
        sock.sendall(batch)
        framer = Framer()
        got: list[Any] = []
        for _ in range(200):  # until the server closes (bounded by count and the socket timeout)
            data = sock.recv(65536)
            if not data:
                break
            got.extend(framer.feed(data))
        resps = [p for p in got if isinstance(p, P.SubmitSmResp)]
        assert sorted(r.sequence_number for r in resps) == list(range(10, 30))
        assert all(r.command_status == 0 and r.message_id for r in resps)
        nacks = [p for p in got if isinstance(p, P.GenericNack)]
        assert [n.command_status for n in nacks] == [CommandStatus.ESME_RINVCMDLEN]
        assert data == b""  # and then the connection is closed


def _read_until(sock: socket.socket, framer: Framer, kind: type) -> list[Any]:
    """PDUs read until one of ``kind`` is among them (at most 50 reads, each bounded by the socket's timeout)."""
    got: list[Any] = []
    for _ in range(50):
        if any(isinstance(p, kind) for p in got):
            break
        got.extend(framer.feed(sock.recv(65536)))
    return got


def _bind_and_read_a_receipt(sock: socket.socket) -> tuple[Framer, P.DeliverSm]:
    """Bind a transceiver as ``test``, submit one message delivered at once with registered_delivery 1, and
    read up to its receipt (not answered yet)."""
    sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test"))
                 + encode(P.SubmitSm(sequence_number=2, destination_addr=DELIVERED_AT_ONCE, dest_addr_ton=1,
                                     dest_addr_npi=1, short_message=b"hi", registered_delivery=1)))
    framer = Framer()
    (receipt,) = [p for p in _read_until(sock, framer, P.DeliverSm) if isinstance(p, P.DeliverSm)]
    return framer, receipt


def test_a_deliver_sm_resp_with_junk_after_message_id_acknowledges_the_receipt(smsc_server: RunningSmsc) -> None:
    """Found by a tester: status 0 in the header, b"\\0JUNKJUNK" as the body: the receipt counted as failed and
    was sent again a second later, with no log line.  It is taken as the acknowledgement and logged."""
    with structlog.testing.capture_logs() as logs, _raw_connection(smsc_server) as sock:
        framer, receipt = _bind_and_read_a_receipt(sock)
        body = b"\0JUNKJUNK"
        sock.sendall(struct.pack(">IIII", 16 + len(body), 0x80000005, 0, receipt.sequence_number) + body)
        sock.sendall(encode(P.EnquireLink(sequence_number=3)))  # answered after the resp above was handled
        got = _read_until(sock, framer, P.EnquireLinkResp)
        assert not [p for p in got if isinstance(p, P.GenericNack)]  # a response is never nacked
        assert smsc_server.call(lambda: smsc_server.app.smsc.deliveries_count("test")) == 0
        sock.settimeout(1.5)  # longer than the first redelivery backoff (1 s)
        with pytest.raises(socket.timeout):
            sock.recv(65536)
    (warning,) = [e for e in logs if e["event"] == "malformed_response"]
    assert warning["log_level"] == "warning" and warning["system_id"] == "test"
    assert warning["command"] == "deliver_sm_resp" and warning["command_status"] == 0
    assert warning["taken_as_answer"] is True and "TLV" in warning["problem"]


@pytest.mark.parametrize("body", [b"", b"JUNK"], ids=["header only", "junk after the header"])
def test_a_generic_nack_with_status_0_to_a_receipt_is_no_acknowledgement(smsc_server: RunningSmsc, body: bytes) -> None:
    """Found by a tester: a generic_nack with command_status 0 answering a receipt's deliver_sm counted it as
    acknowledged, never sent again.  A generic_nack means the PDU was not processed (SMPP 3.4 section 4.3),
    whatever its status: the receipt is offered again (after the first backoff, 1 s), and acknowledged once."""
    with _raw_connection(smsc_server) as sock:
        sock.settimeout(5)  # every recv below is bounded by it; the loops by their count
        framer, first = _bind_and_read_a_receipt(sock)
        sock.sendall(struct.pack(">IIII", 16 + len(body), 0x80000000, 0, first.sequence_number) + body)
        got = _read_until(sock, framer, P.DeliverSm)  # (a socket.timeout here: the receipt never came again)
        (again,) = [p for p in got if isinstance(p, P.DeliverSm)]
        assert again.short_message == first.short_message and again.sequence_number != first.sequence_number
        assert not [p for p in got if isinstance(p, P.GenericNack)]  # a response is never nacked
        sock.sendall(encode(P.DeliverSmResp(sequence_number=again.sequence_number))
                     + encode(P.EnquireLink(sequence_number=3)))  # answered after the resp above was handled
        got = []
        for _ in range(50):
            if any(isinstance(p, P.EnquireLinkResp) for p in got):
                break
            got.extend(framer.feed(sock.recv(65536)))
        stats = smsc_server.call(lambda: smsc_server.app.smsc.stats)
        assert (stats.deliveries_acked, stats.deliveries_failed) == (1, 1)
        assert smsc_server.call(lambda: smsc_server.app.smsc.deliveries_count("test")) == 0


def test_unknown_command_gets_generic_nack_and_the_session_survives(smsc_server: RunningSmsc) -> None:
    with _raw_connection(smsc_server) as sock:
        sock.sendall(struct.pack(">IIII", 16, 0x00000999, 0, 77) + encode(P.EnquireLink(sequence_number=78)))
        nack, el = _read_pdus(sock, 2)
        assert isinstance(nack, P.GenericNack)
        assert (nack.command_status, nack.sequence_number) == (CommandStatus.ESME_RINVCMDID, 77)
        assert isinstance(el, P.EnquireLinkResp) and el.sequence_number == 78


def test_pdus_coalesced_in_one_write_are_all_answered(smsc_server: RunningSmsc) -> None:
    with _raw_connection(smsc_server) as sock:
        batch = encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test"))
        batch += b"".join(
            encode(P.SubmitSm(sequence_number=i, destination_addr=DELIVERED_AT_ONCE, short_message=b"hi"))
            for i in range(2, 52)
        )
        sock.sendall(batch)
        pdus = _read_pdus(sock, 51)
        resps = [p for p in pdus if isinstance(p, P.SubmitSmResp)]
        assert isinstance(pdus[0], P.BindTransceiverResp) and pdus[0].command_status == 0
        assert sorted(r.sequence_number for r in resps) == list(range(2, 52))
        assert all(r.command_status == 0 and r.message_id for r in resps)


def test_too_many_binds_are_refused(smsc_factory: Any, tmp_path: Any) -> None:
    import dataclasses

    from .conftest import make_config

    cfg = make_config(tmp_path)
    accounts = tuple(dataclasses.replace(a, max_binds=1) if a.system_id == "test" else a for a in cfg.accounts)
    server = smsc_factory(dataclasses.replace(cfg, accounts=accounts))
    first = smpplib.client.Client("127.0.0.1", server.port, timeout=5, allow_unknown_opt_params=True)
    second = smpplib.client.Client("127.0.0.1", server.port, timeout=5, allow_unknown_opt_params=True)
    try:
        first.connect()
        first.bind_transceiver(system_id="test", password="test")
        second.connect()
        with pytest.raises(smpplib.exceptions.PDUError) as exc:
            second.bind_transceiver(system_id="test", password="test")
        assert exc.value.args[1] == CommandStatus.ESME_RBINDFAIL
    finally:
        first.disconnect()
        second.disconnect()


def _bind_and_pipeline(sock: socket.socket, count: int) -> list[int]:
    """Bind as transmitter and submit ``count`` submit_sm, all in one write; the statuses of their responses in
    sequence_number order."""
    batch = encode(P.BindTransmitter(sequence_number=1, system_id="test", password="test"))
    batch += b"".join(
        encode(P.SubmitSm(sequence_number=i, destination_addr=DELIVERED_AT_ONCE, short_message=b"hi"))
        for i in range(2, count + 2)
    )
    sock.sendall(batch)
    resps = [p for p in _read_pdus(sock, count + 1) if isinstance(p, P.SubmitSmResp)]
    return [r.command_status for r in sorted(resps, key=lambda r: r.sequence_number)]


def test_throughput_limit_answers_throttled(smsc_factory: Any, tmp_path: Any) -> None:
    import dataclasses

    from .conftest import make_config

    cfg = make_config(tmp_path)
    accounts = tuple(dataclasses.replace(a, throughput=5.0) if a.system_id == "test" else a for a in cfg.accounts)
    server = smsc_factory(dataclasses.replace(cfg, accounts=accounts))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        statuses = _bind_and_pipeline(sock, 20)
        assert statuses.count(CommandStatus.ESME_ROK) == 5  # the bucket holds one second's worth
        assert statuses.count(CommandStatus.ESME_RTHROTTLED) == 15


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_submit_window_answers_the_submits_beyond_it_throttled(smsc_factory: Any, tmp_path: Any, store: str) -> None:
    """Tester 99: 200 pipelined submit_sm on one bind were all accepted, so a gateway's own window could not be
    tested against a carrier's cap.  With ``submit_window: 5``, of 20 submits written at once 5 are taken and 15
    answered ESME_RTHROTTLED (taking no throughput token); one at a time, each waiting for its response, all are
    taken; a smpplib client that waits for each response is never throttled."""
    from .conftest import make_config

    cfg = make_config(tmp_path)
    if store == "memory":
        cfg = dataclasses.replace(cfg, store=dataclasses.replace(cfg.store, kind="memory"))
    accounts = tuple(dataclasses.replace(a, submit_window=5, throughput=100.0) if a.system_id == "test" else a
                     for a in cfg.accounts)
    server = smsc_factory(dataclasses.replace(cfg, accounts=accounts))
    with structlog.testing.capture_logs() as logs, socket.create_connection(("127.0.0.1", server.port),
                                                                              timeout=5) as sock:
        statuses = _bind_and_pipeline(sock, 20)
        assert statuses == [CommandStatus.ESME_ROK] * 5 + [CommandStatus.ESME_RTHROTTLED] * 15
        for i in range(30, 40):  # (one at a time: the window is free again after each response)
            sock.sendall(encode(P.SubmitSm(sequence_number=i, destination_addr=DELIVERED_AT_ONCE, short_message=b"x")))
            (resp,) = [p for p in _read_pdus(sock, 1) if isinstance(p, P.SubmitSmResp)]
            assert (resp.sequence_number, resp.command_status) == (i, CommandStatus.ESME_ROK)
    reasons = {e["reason"] for e in logs if e["event"] == "submit_refused"}
    assert reasons == {"the bind has 5 submits awaiting their response, the account's submit_window: wait for a "
                       "response before the next submit"}, reasons
    client = smpplib.client.Client("127.0.0.1", server.port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    try:
        client.bind_transmitter(system_id="test", password="test")
        for _ in range(20):
            pdu = client.send_message(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                      destination_addr=DELIVERED_AT_ONCE, short_message=b"hello")
            resp = client.read_pdu()
            assert resp.sequence == pdu.sequence and resp.status == 0, resp.status
        client.unbind()
    finally:
        client.disconnect()


def test_a_refused_submit_multi_takes_no_throughput_token(smsc_factory: Any, tmp_path: Any) -> None:
    """Tester 47: a submit_multi refused for its replace_if_present_flag, or whose destinations are all refused
    alone, took a token per destination: 254 of them throttled every bind of a 5/s account for 50 s.  An
    accepted one still takes one per destination it may submit to."""
    from .conftest import make_config

    cfg = make_config(tmp_path)
    accounts = tuple(dataclasses.replace(a, throughput=5.0) if a.system_id == "test" else a for a in cfg.accounts)
    server = smsc_factory(dataclasses.replace(cfg, accounts=accounts))
    good = P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE)
    bad = P.SmeAddress(dest_addr_ton=9, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE)  # (TON 9: refused)
    requests: list[P.Pdu] = [
        P.SubmitMulti(replace_if_present_flag=1, dest_addresses=[good] * 254, short_message=b"x"),
        P.SubmitMulti(dest_addresses=[bad] * 254, short_message=b"x"),
        P.SubmitMulti(dest_addresses=[good] * 254, short_message=b"x" * 161),  # (tester 51: after the tokens)
        P.SubmitSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE, short_message=b"x" * 161),
        # Tester 53: refused by the core (a number rule's status, a destination it cannot take, a time): the
        # tokens come back.
        P.SubmitSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900910", short_message=b"x"),
        P.SubmitSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE, short_message=b"x",
                   validity_period="991231235959000+"),
        P.SubmitMulti(dest_addresses=[P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="12")] * 50,
                      short_message=b"x"),
        # Tester 54: a transaction-mode data_sm the core refuses, twice.
        P.DataSm(esm_class=0x02, dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900910",
                 tlvs={0x0424: b"x"}),
        P.DataSm(esm_class=0x02, dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900910",
                 tlvs={0x0424: b"x"}),
        P.SubmitMulti(dest_addresses=[good, bad, good], short_message=b"x"),  # two tokens
        P.SubmitSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE, short_message=b"x"),
        P.SubmitSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE, short_message=b"x"),
        P.SubmitSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE, short_message=b"x"),
        P.SubmitSm(dest_addr_ton=1, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE, short_message=b"x"),
    ]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        batch = encode(P.BindTransmitter(sequence_number=1, system_id="test", password="test"))
        for seq, pdu in enumerate(requests, start=2):
            pdu.sequence_number = seq
            batch += encode(pdu)
        sock.sendall(batch)
        got = {p.sequence_number: p.command_status for p in _read_pdus(sock, 1 + len(requests))}
    assert [got[seq] for seq in range(2, 2 + len(requests))] == [
        CommandStatus.ESME_RINVREPFLAG, CommandStatus.ESME_RINVDSTTON, CommandStatus.ESME_RINVMSGLEN,
        CommandStatus.ESME_RINVMSGLEN, CommandStatus.ESME_RSUBMITFAIL, CommandStatus.ESME_RINVEXPIRY,
        CommandStatus.ESME_RINVDSTADR, CommandStatus.ESME_RSUBMITFAIL, CommandStatus.ESME_RSUBMITFAIL,
        CommandStatus.ESME_ROK,
        CommandStatus.ESME_ROK, CommandStatus.ESME_ROK, CommandStatus.ESME_ROK,  # 5 tokens: 2 + 3 ...
        CommandStatus.ESME_RTHROTTLED]  # ... and none left for the fourth submit_sm


def _long_source(pdu: Any, source: str) -> bytes:
    """``pdu`` encoded with ``source`` as source_addr, longer than the encoder allows (a broken ESME's)."""
    placeholder = "9" * 20
    wire = encode(dataclasses.replace(pdu, source_addr=placeholder))
    body = wire[16:].replace(placeholder.encode() + b"\0", source.encode() + b"\0", 1)
    return struct.pack(">I", 16 + len(body)) + wire[4:16] + body


def test_submits_refused_before_the_core_are_counted_as_received_and_refused(
    smsc_factory: Any, tmp_path: Any,
) -> None:
    """Found by a tester: a submit_sm refused in the adapter (ESME_RINVSRCADR for a 30-character source_addr)
    moved neither smsc_smpp_submits_total ("requests received") nor smsc_submit_errors_total; throttled ones
    neither.  Each request is now received once and accepted or refused once."""
    from .conftest import make_config

    cfg = make_config(tmp_path)
    accounts = tuple(dataclasses.replace(a, throughput=3.0) if a.system_id == "test" else a for a in cfg.accounts)
    server = smsc_factory(dataclasses.replace(cfg, accounts=accounts))
    app = server.app
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        batch = encode(P.BindTransmitter(sequence_number=1, system_id="test", password="test"))
        batch += encode(P.SubmitSm(sequence_number=2, destination_addr=DELIVERED_AT_ONCE, short_message=b"ok"))
        batch += _long_source(P.SubmitSm(sequence_number=3, destination_addr=DELIVERED_AT_ONCE,
                                         short_message=b"long source"), "1" * 30)
        batch += _long_source(P.SubmitMulti(sequence_number=4, short_message=b"long source", dest_addresses=[
            P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE)]), "1" * 30)
        batch += b"".join(  # three pass the bucket (the first took one), one is throttled
            encode(P.SubmitSm(sequence_number=i, destination_addr=DELIVERED_AT_ONCE, short_message=b"hi"))
            for i in range(5, 8)
        )
        sock.sendall(batch)
        resps = {p.sequence_number: p.command_status for p in _read_pdus(sock, 7) if p.sequence_number > 1}
    assert resps[3] == CommandStatus.ESME_RINVSRCADR and resps[4] == CommandStatus.ESME_RINVSRCADR
    assert sorted(resps.values()).count(CommandStatus.ESME_RTHROTTLED) == 1
    received = server.call(lambda: app.smpp.counters.submits)
    submitted = server.call(lambda: app.smsc.stats.submitted)
    errors = server.call(lambda: app.smsc.stats.submit_errors)
    assert (received, submitted, errors) == (6, 3, 3)
    assert received == submitted + errors  # (one destination per request here)


def test_shutdown_sends_unbind_to_every_bound_esme(smsc_factory: Any) -> None:
    server = smsc_factory()
    esmes = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
    try:
        for i, sock in enumerate(esmes):
            sock.sendall(encode(P.BindReceiver(sequence_number=1, system_id="test", password="test")))
            (resp,) = _read_pdus(sock, 1)
            assert resp.command_status == 0
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        for sock in esmes:
            (unbind,) = _read_pdus(sock, 1)
            assert isinstance(unbind, P.Unbind)
            sock.sendall(encode(P.UnbindResp(sequence_number=unbind.sequence_number)))
            assert sock.recv(100) == b""  # then the server closes
        stopping.join(timeout=15)
        assert not stopping.is_alive()
    finally:
        for sock in esmes:
            sock.close()


def test_shutdown_with_a_stalled_store_still_sends_unbind_before_closing(smsc_factory: Any) -> None:
    """Found by a tester: with the SQLite writer stopped, a submit_sm waiting for its commit took the whole
    grace of the stop, and the ESME saw the TCP connection close without an unbind.  Part of the grace is kept
    for the unbind; the submit, never durable, gets no response."""
    import os
    import signal

    server = smsc_factory()
    writer = server.call(lambda: server.app.store.writer_pid)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    os.kill(writer, signal.SIGSTOP)
    try:
        sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
        (resp,) = _read_pdus(sock, 1)
        assert resp.command_status == 0
        sock.sendall(encode(P.SubmitSm(sequence_number=2, source_addr="12345", destination_addr="447700900123",
                                       short_message=b"waits for a commit that does not come")))
        time.sleep(0.3)
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        (unbind,) = _read_pdus(sock, 1)  # (not a submit_sm_resp: the submit never became durable)
        assert isinstance(unbind, P.Unbind)
        sock.sendall(encode(P.UnbindResp(sequence_number=unbind.sequence_number)))
        assert sock.recv(100) == b""
    finally:
        os.kill(writer, signal.SIGCONT)
        sock.close()
    stopping.join(timeout=40)
    assert not stopping.is_alive()


def _outbind_world(smsc_factory: Any, tmp_path: Any, esme_port: int, retry_interval: float,
                   **target: Any) -> tuple[Any, Any]:
    """A server whose account "test" outbinds to 127.0.0.1:``esme_port``, and a transmitter of it that has
    submitted one message asking for a receipt (delivered at once): (the transmitter, its submit_sm_resp)."""
    import dataclasses

    from smsc.config import OutbindTarget

    from .conftest import RawEsme, make_config

    cfg = make_config(tmp_path)
    [test] = [a for a in cfg.accounts if a.system_id == "test"]
    accounts = tuple(
        dataclasses.replace(a, outbind=OutbindTarget(host="127.0.0.1", port=esme_port, retry_interval=retry_interval,
                                                     **target))
        if a.system_id == "test" else a for a in cfg.accounts
    ) + (dataclasses.replace(test, system_id="other", password="other"),)  # (another account, without an outbind)
    server = smsc_factory(dataclasses.replace(cfg, accounts=accounts))
    tx = RawEsme(server.port)
    tx.bind("transmitter")
    resp = tx.request(P.SubmitSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                 destination_addr=DELIVERED_AT_ONCE, short_message=b"hi", registered_delivery=1))
    assert resp.command_status == 0
    return tx, resp


def _take_outbind_and_the_receipt(conn: socket.socket, message_id: str,
                                  identity: tuple[str, str] = ("smsc", "")) -> None:
    """As the ESME on an outbind connection: read the outbind, bind as receiver, take and answer the receipt."""
    conn.settimeout(5)
    (outbind,) = _read_pdus(conn, 1)
    assert isinstance(outbind, P.Outbind)
    # SMPP 3.4 section 4.1.7.1: the SMSC's identifier, and a password the ESME may check it by (tester 141: the
    # account's own system_id and password went out)
    assert (outbind.system_id, outbind.password) == identity
    conn.sendall(encode(P.BindReceiver(sequence_number=1, system_id="test", password="test")))
    bind_resp, receipt = _read_pdus(conn, 2)
    assert isinstance(bind_resp, P.BindReceiverResp) and bind_resp.command_status == 0
    # The bind_resp names the SMSC the outbind named (sections 4.1.4 and 4.1.7.1; tester 178: it said "smsc"
    # after an outbind from "SMSCX")
    assert bind_resp.system_id == identity[0]
    assert isinstance(receipt, P.DeliverSm) and receipt.tlvs[0x001E] == message_id
    conn.sendall(encode(P.DeliverSmResp(sequence_number=receipt.sequence_number)))


def test_outbind_brings_a_receiver_when_receipts_wait(smsc_factory: Any, tmp_path: Any) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    tx, resp = _outbind_world(smsc_factory, tmp_path, listener.getsockname()[1], 1.0)
    try:
        conn, _ = listener.accept()  # the SMSC calls us
        with conn:
            _take_outbind_and_the_receipt(conn, resp.message_id)
    finally:
        tx.close()
        listener.close()


def test_an_outbind_carries_the_identity_its_target_names(smsc_factory: Any, tmp_path: Any) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    tx, resp = _outbind_world(smsc_factory, tmp_path, listener.getsockname()[1], 1.0, system_id="carrierX",
                              password="s3cret")
    try:
        conn, _ = listener.accept()
        with conn:
            _take_outbind_and_the_receipt(conn, resp.message_id, identity=("carrierX", "s3cret"))
    finally:
        tx.close()
        listener.close()


def test_outbind_is_tried_again_while_receipts_wait_without_a_new_delivery(smsc_factory: Any, tmp_path: Any) -> None:
    """Tester 39: an outbind that found the ESME down, or that the ESME took and closed without binding, was
    tried again only when another receipt or MO came for the account, so the receipts waiting could wait for
    ever.  Now each attempt is followed by another retry_interval later while deliveries wait and no receiver
    is bound."""
    listener = socket.create_server(("127.0.0.1", 0))
    esme_port = listener.getsockname()[1]
    listener.close()  # the ESME is down when the receipt is made
    tx, resp = _outbind_world(smsc_factory, tmp_path, esme_port, 0.5)
    try:
        time.sleep(0.8)  # the first attempt has failed by now
        listener = socket.create_server(("127.0.0.1", esme_port))
        listener.settimeout(10)
        conn, _ = listener.accept()  # a retry, with no new submit
        with conn:  # taken and closed without a bind
            conn.settimeout(5)
            assert isinstance(_read_pdus(conn, 1)[0], P.Outbind)
        conn, _ = listener.accept()  # and again
        with conn:
            _take_outbind_and_the_receipt(conn, resp.message_id)
            # Bound, and nothing waits: no further outbind.
            listener.settimeout(1.5)
            with pytest.raises(socket.timeout):
                listener.accept()
    finally:
        tx.close()
        listener.close()


def test_no_second_outbind_while_the_esme_holds_the_first_without_binding(smsc_factory: Any, tmp_path: Any) -> None:
    """Tester 43: an ESME that took the outbind and neither bound nor closed got a new outbind connection every
    retry_interval, the old ones open until their session_init_timer (five at once)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    tx, resp = _outbind_world(smsc_factory, tmp_path, listener.getsockname()[1], 0.3)
    try:
        held, _ = listener.accept()
        with held:  # taken, and held without a bind for four retry intervals
            held.settimeout(5)
            assert isinstance(_read_pdus(held, 1)[0], P.Outbind)
            listener.settimeout(1.2)
            with pytest.raises(socket.timeout):
                listener.accept()
        listener.settimeout(10)
        conn, _ = listener.accept()  # closed: the next outbind comes, and brings the receipt
        with conn:
            _take_outbind_and_the_receipt(conn, resp.message_id)
    finally:
        tx.close()
        listener.close()


@pytest.mark.parametrize("refused", [
    # Tester 60: a bind_transmitter on the outbind connection was taken (it receives nothing, so the receipt kept
    # waiting), and every outbind after it added one more, until the account's max_binds was full.  SMPP 3.4
    # section 2.2.1: the ESME answers with bind_receiver; then the receipt comes on the same connection.
    P.BindTransmitter(sequence_number=1, system_id="test", password="test"),
    # Tester 141: after an outbind for one account, a bind_receiver as another was taken, and the receipts the
    # outbind was for waited for the next outbind.
    P.BindReceiver(sequence_number=1, system_id="other", password="other"),
])
def test_an_outbind_answered_with_a_bind_it_did_not_ask_for_is_refused(
        smsc_factory: Any, tmp_path: Any, refused: Any) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    tx, resp = _outbind_world(smsc_factory, tmp_path, listener.getsockname()[1], 1.0)
    try:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            assert isinstance(_read_pdus(conn, 1)[0], P.Outbind)
            conn.sendall(encode(refused))
            (bind_resp,) = _read_pdus(conn, 1)
            assert bind_resp.command_id == refused.command_id | 0x80000000
            assert bind_resp.command_status == CommandStatus.ESME_RBINDFAIL
            conn.sendall(encode(P.BindReceiver(sequence_number=2, system_id="test", password="test")))
            bind_resp, receipt = _read_pdus(conn, 2)
            assert isinstance(bind_resp, P.BindReceiverResp) and bind_resp.command_status == 0
            assert isinstance(receipt, P.DeliverSm) and receipt.tlvs[0x001E] == resp.message_id
            conn.sendall(encode(P.DeliverSmResp(sequence_number=receipt.sequence_number)))
    finally:
        tx.close()
        listener.close()


def test_unbind_behind_pipelined_submits_answers_every_submit_first(smsc_server: RunningSmsc) -> None:
    """An ESME that submits and unbinds at once gets every submit_sm_resp (status 0 = stored) before the
    unbind_resp, not a closed socket with its message_ids lost."""
    with _raw_connection(smsc_server) as sock:
        batch = encode(P.BindTransmitter(sequence_number=1, system_id="test", password="test"))
        batch += b"".join(
            encode(P.SubmitSm(sequence_number=i, destination_addr=DELIVERED_AT_ONCE, short_message=b"hi"))
            for i in range(2, 202)
        )
        batch += encode(P.Unbind(sequence_number=202))
        sock.sendall(batch)
        framer = Framer()
        pdus: list[P.Pdu] = []
        for _ in range(1000):  # until the server closes
            data = sock.recv(65536)
            if not data:
                break
            pdus.extend(framer.feed(data))  # type: ignore[arg-type]
        kinds = [type(p).__name__ for p in pdus]
        assert kinds[0] == "BindTransmitterResp" and kinds[-1] == "UnbindResp"
        resps = [p for p in pdus if isinstance(p, P.SubmitSmResp)]
        assert sorted(r.sequence_number for r in resps) == list(range(2, 202))
        assert all(r.command_status == 0 and r.message_id for r in resps)


def test_inconsistent_sar_tlvs_and_an_overlong_udh_are_refused_with_their_status(smsc_server: RunningSmsc) -> None:
    """tester7 f_malformed: 1 of the 3 SAR TLVs, a sequence number above the total, a UDH length octet past the
    user data (SMPP 3.4 sections 5.3.2.22-24, 5.2.12); a consistent SAR segment is still accepted."""
    sar = {0x020C: 1, 0x020E: 3, 0x020F: 1}
    cases = [
        (P.SubmitSm(short_message=b"part", tlvs={0x020C: 1}), CommandStatus.ESME_RMISSINGOPTPARAM),
        (P.SubmitSm(short_message=b"part", tlvs={**sar, 0x020F: 5}), CommandStatus.ESME_RINVOPTPARAMVAL),
        (P.SubmitSm(esm_class=0x40, short_message=bytes.fromhex("20000301")), CommandStatus.ESME_RINVMSGLEN),
        (P.DataSm(esm_class=0x40, tlvs={0x0424: bytes.fromhex("0500")}), CommandStatus.ESME_RINVMSGLEN),
        (P.SubmitSm(short_message=b"part", tlvs=sar), CommandStatus.ESME_ROK),
        (P.SubmitSm(esm_class=0x40, short_message=bytes.fromhex("050003010201") + b"hi"), CommandStatus.ESME_ROK),
        # (tester 119: source_port / destination_port with a UDH, which section 5.2.12 forbids as it does SAR TLVs)
        (P.SubmitSm(esm_class=0x40, short_message=bytes.fromhex("050003010201") + b"hi", tlvs={0x020B: 5000}),
         CommandStatus.ESME_RINVOPTPARAMVAL),
        (P.DataSm(esm_class=0x40, tlvs={0x020A: 16000, 0x0424: bytes.fromhex("050003010201") + b"hi"}),
         CommandStatus.ESME_RINVOPTPARAMVAL),
        (P.SubmitSm(short_message=b"hi", tlvs={0x020A: 16000, 0x020B: 5000}), CommandStatus.ESME_ROK),
    ]
    with _raw_connection(smsc_server) as sock:
        batch = encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test"))
        for seq, (pdu, _) in enumerate(cases, start=10):
            pdu.sequence_number = seq
            pdu.destination_addr = DELIVERED_AT_ONCE  # type: ignore[attr-defined]
            batch += encode(pdu)
        sock.sendall(batch)
        got = _read_pdus(sock, 1 + len(cases))
        statuses = {p.sequence_number: p.command_status for p in got
                    if isinstance(p, (P.SubmitSmResp, P.DataSmResp))}
        assert statuses == {seq: status for seq, (_, status) in enumerate(cases, start=10)}


_UDH8 = bytes.fromhex("050003010201")
_SAR = {0x020C: 7, 0x020E: 2, 0x020F: 1}
_SAR16 = {0x020C: 0x1234, 0x020E: 2, 0x020F: 1}  # (a reference above 255)
_PORTS = {0x020A: 16000, 0x020B: 2948}  # source_port, destination_port
#: (PDU, status) with the default ``server.oversized_short_message: reject``: a short_message must fit one SMS.
_ONE_SMS_CASES: list[tuple[P.Pdu, int]] = [
    (P.SubmitSm(short_message=b"a" * 160), CommandStatus.ESME_ROK),
    (P.SubmitSm(short_message=b"a" * 161), CommandStatus.ESME_RINVMSGLEN),
    (P.SubmitSm(data_coding=8, short_message="\u0416".encode("utf-16-be") * 70), CommandStatus.ESME_ROK),
    (P.SubmitSm(data_coding=8, short_message="\u0416".encode("utf-16-be") * 71), CommandStatus.ESME_RINVMSGLEN),
    (P.SubmitSm(esm_class=0x40, short_message=_UDH8 + b"a" * 153), CommandStatus.ESME_ROK),
    (P.SubmitSm(esm_class=0x40, short_message=_UDH8 + b"a" * 154), CommandStatus.ESME_RINVMSGLEN),
    (P.SubmitSm(short_message=b"a" * 153, tlvs=_SAR), CommandStatus.ESME_ROK),
    (P.SubmitSm(short_message=b"a" * 160, tlvs=_SAR), CommandStatus.ESME_RINVMSGLEN),
    # (tester 176: a sar_msg_ref_num above 255 needs the 16-bit reference element, 7 octets with the UDHL, as the
    # ESME's own 16-bit UDH does: 152 GSM characters, 66 UCS-2, 133 octets)
    (P.SubmitSm(short_message=b"a" * 152, tlvs=_SAR16), CommandStatus.ESME_ROK),
    (P.SubmitSm(short_message=b"a" * 153, tlvs=_SAR16), CommandStatus.ESME_RINVMSGLEN),
    (P.SubmitSm(short_message=b"a" * 153, tlvs={**_SAR16, 0x020C: 255}), CommandStatus.ESME_ROK),
    (P.SubmitSm(data_coding=8, short_message="\u0416".encode("utf-16-be") * 66, tlvs=_SAR16), CommandStatus.ESME_ROK),
    (P.SubmitSm(data_coding=8, short_message="\u0416".encode("utf-16-be") * 67, tlvs=_SAR16),
     CommandStatus.ESME_RINVMSGLEN),
    (P.SubmitSm(data_coding=4, short_message=b"\x01" * 133, tlvs=_SAR16), CommandStatus.ESME_ROK),
    (P.SubmitSm(data_coding=4, short_message=b"\x01" * 134, tlvs=_SAR16), CommandStatus.ESME_RINVMSGLEN),
    (P.SubmitSm(data_coding=4, short_message=b"\x01" * 127, tlvs={**_PORTS, **_SAR16}), CommandStatus.ESME_ROK),
    (P.SubmitSm(data_coding=4, short_message=b"\x01" * 128, tlvs={**_PORTS, **_SAR16}),
     CommandStatus.ESME_RINVMSGLEN),
    # (tester 55: a segment "1 of 1" goes out as one SMS, without a concatenation header)
    (P.SubmitSm(short_message=b"a" * 160, tlvs={0x020C: 8, 0x020E: 1, 0x020F: 1}), CommandStatus.ESME_ROK),
    (P.SubmitSm(tlvs={0x0424: b"a" * 500}), CommandStatus.ESME_ROK),  # message_payload: the SMSC segments it
    # (the most a message_payload TLV carries fits the default max_command_length, tester 52, and is decoded; in GSM
    # it needs 429 parts, more than the 255 a concatenated message can have, in either mode: tester 71)
    (P.SubmitSm(tlvs={0x0424: b"a" * 65_535}), CommandStatus.ESME_RINVMSGLEN),
    (P.SubmitSm(tlvs={0x0424: b"a" * 39_015}), CommandStatus.ESME_ROK),  # 255 x 153
    # Port TLVs: the SMSC writes a 7-octet port UDH on the air (16-bit ports), which takes room as the ESME's own
    # would (tester 153: 160 characters and 140 octets with port TLVs passed as one SMS)
    (P.SubmitSm(short_message=b"a" * 152, tlvs=_PORTS), CommandStatus.ESME_ROK),
    (P.SubmitSm(short_message=b"a" * 153, tlvs=_PORTS), CommandStatus.ESME_RINVMSGLEN),
    (P.SubmitSm(data_coding=4, short_message=b"\x01" * 133, tlvs=_PORTS), CommandStatus.ESME_ROK),
    (P.SubmitSm(data_coding=4, short_message=b"\x01" * 134, tlvs=_PORTS), CommandStatus.ESME_RINVMSGLEN),
    # (a SAR segment with ports: port element and concatenation element, 12 octets with the UDHL)
    (P.SubmitSm(data_coding=4, short_message=b"\x01" * 128, tlvs={**_PORTS, **_SAR}), CommandStatus.ESME_ROK),
    (P.SubmitSm(data_coding=4, short_message=b"\x01" * 129, tlvs={**_PORTS, **_SAR}), CommandStatus.ESME_RINVMSGLEN),
    (P.SubmitSm(data_coding=4, tlvs={**_PORTS, 0x0424: b"\x01" * 32_640}), CommandStatus.ESME_ROK),  # 255 x 128
    (P.SubmitSm(data_coding=4, tlvs={**_PORTS, 0x0424: b"\x01" * 32_641}), CommandStatus.ESME_RINVMSGLEN),
    (P.SubmitMulti(short_message=b"a" * 161,
                   dest_addresses=[P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE)]),
     CommandStatus.ESME_RINVMSGLEN),
]


def _one_sms_statuses(server: RunningSmsc) -> list[int]:
    with _raw_connection(server) as sock:
        batch = encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test"))
        for seq, (pdu, _) in enumerate(_ONE_SMS_CASES, start=10):
            pdu.sequence_number = seq
            if isinstance(pdu, P.SubmitSm):
                pdu.dest_addr_ton, pdu.dest_addr_npi, pdu.destination_addr = 1, 1, DELIVERED_AT_ONCE
            batch += encode(pdu)
        sock.sendall(batch)
        got = {p.sequence_number: p.command_status for p in _read_pdus(sock, 1 + len(_ONE_SMS_CASES))
               if isinstance(p, (P.SubmitSmResp, P.SubmitMultiResp))}
    return [got[seq] for seq in range(10, 10 + len(_ONE_SMS_CASES))]


def test_a_short_message_longer_than_one_sms_is_refused_unless_the_config_accepts_it(
    smsc_server: RunningSmsc, smsc_factory: Any, tmp_path: Any,
) -> None:
    """Tester 48: 161 GSM characters without a UDH (an ESME's splitting bug) were accepted and receipted
    DELIVRD, a green test where a network that does not segment refuses the message."""
    assert _one_sms_statuses(smsc_server) == [status for _, status in _ONE_SMS_CASES]
    from .conftest import make_config

    (tmp_path / "accept").mkdir()
    cfg = make_config(tmp_path / "accept")
    accepting = smsc_factory(dataclasses.replace(
        cfg, server=dataclasses.replace(cfg.server, oversized_short_message="accept")))
    assert _one_sms_statuses(accepting) == [  # (a message_payload of too many parts is refused in either mode)
        CommandStatus.ESME_RINVMSGLEN if status == CommandStatus.ESME_RINVMSGLEN and 0x0424 in pdu.tlvs
        else CommandStatus.ESME_ROK
        for pdu, status in _ONE_SMS_CASES]


def _receipt_copies(server: RunningSmsc, answer: Callable[[int], tuple[float, int]], seconds: float,
                    copies_wanted: int = 1_000) -> list[float]:
    """As a transceiver ESME: submit one message asking for a receipt (delivered at once), then for ``seconds``
    (or until ``copies_wanted`` copies came) answer the n-th copy of the receipt (n from 1) as ``answer(n)``
    says: (delay in seconds, command_status).  Returns when each copy arrived (time.monotonic())."""
    from smsc.smpp.codec import Framer

    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    arrivals: list[float] = []
    try:
        sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
        sock.sendall(encode(P.SubmitSm(sequence_number=2, source_addr="ACME", source_addr_ton=5, dest_addr_ton=1,
                                       dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE, short_message=b"hi",
                                       registered_delivery=1)))
        framer = Framer()
        answers: list[tuple[float, int, int]] = []  # (when, sequence_number, status), in time order

        def send_due() -> None:
            now = time.monotonic()
            while answers and answers[0][0] <= now:
                _, seq, status = answers.pop(0)
                sock.sendall(encode(P.DeliverSmResp(sequence_number=seq, command_status=status)))

        sock.settimeout(0.05)
        start = time.monotonic()
        while time.monotonic() - start < seconds and len(arrivals) < copies_wanted:
            send_due()
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            assert data, "closed by the server"
            for pdu in framer.feed(data):
                if isinstance(pdu, P.DeliverSm):
                    arrivals.append(time.monotonic())
                    delay, status = answer(len(arrivals))
                    answers.append((time.monotonic() + delay, pdu.sequence_number, status))
                    answers.sort()
            send_due()
    finally:
        sock.close()
    return arrivals


def test_an_esme_answering_each_receipt_after_the_response_timer_stops_getting_it_once_it_answered(
    smsc_factory: Any,
) -> None:
    """Tester 42: with the response_timer at 3 s and every deliver_sm_resp sent after 4.5 s, one receipt was sent
    10 times in 30 s, each copy answered, and it was still owed: the late answer was dropped as unmatched.  Now
    a late status 0 ends the delivery, wherever its next copy is."""
    server = smsc_factory(response_timer=1.0, enquire_link_timer=60.0)
    # Each copy answered 3 s late (the timer fires within 1-2 s: the sweep looks once a second).
    copies = _receipt_copies(server, lambda n: (3.0, 0), 9.0)
    # The first and the copies offered again each time the timer fired before the first late answer came (at
    # 3 s: 1 or 2 of them); then none (without the late answer: 9 in these 9 s).
    assert 2 <= len(copies) <= 3, copies
    core = server.app.smsc
    assert server.call(lambda: core.deliveries_count()) == 0  # type: ignore[union-attr]
    assert server.call(lambda: core.stats.deliveries_acked) == 1  # type: ignore[union-attr]


def test_the_answer_to_a_copy_after_a_late_answer_ended_the_delivery_is_ignored(smsc_factory: Any) -> None:
    """Tester 153: the first receipt answered 0 after the response_timer ends it; the copy offered meanwhile,
    answered ESME_RX_T_APPN after that, was logged "offered again after a backoff" and counted as a failure,
    though nothing was offered again."""
    import structlog.testing

    from smsc.smpp.codec import Framer

    server = smsc_factory(response_timer=1.0, enquire_link_timer=60.0)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    framer = Framer()
    receipts: list[Any] = []

    def read_until(count: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while len(receipts) < count and time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            assert data, "closed by the server"
            receipts.extend(p for p in framer.feed(data) if isinstance(p, P.DeliverSm))

    try:
        with structlog.testing.capture_logs() as logs:
            sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
            sock.sendall(encode(P.SubmitSm(sequence_number=2, source_addr="ACME", source_addr_ton=5,
                                           dest_addr_ton=1, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE,
                                           short_message=b"hi", registered_delivery=1)))
            sock.settimeout(0.05)
            read_until(2, 5.0)  # the receipt, unanswered, then its copy once the response_timer fired
            assert len(receipts) == 2, receipts
            first, copy = receipts
            # The first answered late (status 0: it ends the delivery), then the copy with a temporary error.
            sock.sendall(encode(P.DeliverSmResp(sequence_number=first.sequence_number))
                         + encode(P.DeliverSmResp(sequence_number=copy.sequence_number,
                                                  command_status=CommandStatus.ESME_RX_T_APPN)))
            read_until(3, 2.5)
    finally:
        sock.close()
    assert len(receipts) == 2, receipts  # (nothing offered again)
    assert not [e for e in logs if e["event"] == "delivery_failed" and "answered with status" in e["reason"]], [
        e for e in logs if e["event"] == "delivery_failed"]
    core = server.app.smsc
    assert server.call(lambda: core.deliveries_count()) == 0  # type: ignore[union-attr]
    assert server.call(lambda: core.stats.deliveries_acked) == 1  # type: ignore[union-attr]


def test_esme_rthrottled_pauses_the_bind_and_the_delivery_comes_back_after_the_pause(smsc_factory: Any) -> None:
    """Tester 42: ESME_RTHROTTLED sent each receipt into its own backoff (1, 2, 5 ... 60 s) while the rest of the
    window kept coming; an ESME taking 20 a second had 120 of 200 after 75 s.  Now the bind pauses for
    THROTTLED_PAUSE after each such answer, and the receipt is offered again when the pause ends."""
    from smsc.server.protocol import THROTTLED_PAUSE

    server = smsc_factory(enquire_link_timer=60.0)
    # Three refusals, then OK.
    arrivals = _receipt_copies(server, lambda n: (0.0, CommandStatus.ESME_RTHROTTLED if n <= 3 else 0), 10.0,
                               copies_wanted=4)
    assert len(arrivals) == 4, arrivals
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    # Each copy after a pause, not after a backoff that grows (1 + 2 + 5 s before the fourth copy).
    assert all(THROTTLED_PAUSE * 0.9 <= gap <= THROTTLED_PAUSE + 1.5 for gap in gaps), gaps
    core = server.app.smsc
    for _ in range(50):
        if server.call(lambda: core.stats.deliveries_acked) == 1:  # type: ignore[union-attr]
            break
        time.sleep(0.05)
    assert server.call(lambda: core.deliveries_count()) == 0  # type: ignore[union-attr]


def test_at_debug_level_every_pdu_read_and_written_is_logged_without_the_password(
    smsc_factory: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tester 40: --log-level debug printed what info printed; nothing showed a submit, a receipt or an MO."""
    from smsc import obs

    from .conftest import RawEsme

    monkeypatch.setattr(obs, "debug_pdus", True)
    server = smsc_factory()
    with structlog.testing.capture_logs() as logs:
        esme = RawEsme(server.port)
        try:
            esme.bind("transceiver")
            resp = esme.request(P.SubmitSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                           destination_addr=DELIVERED_AT_ONCE, short_message=b"hello",
                                           registered_delivery=1))
            esme.wait_deliveries(1)
            # Answered by the session itself: logged all the same (tester 44), an unknown command too.
            assert esme.request(P.EnquireLink()).command_status == 0
            esme.seq += 1
            esme.sock.sendall(struct.pack(">IIII", 16, 0x00000099, 0, esme.seq))
            assert esme.request(P.EnquireLink()).command_status == 0  # (after the generic_nack)
            multi = esme.request(P.SubmitMulti(
                source_addr="ACME", source_addr_ton=5, short_message=b"hi",
                dest_addresses=[P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr=DELIVERED_AT_ONCE)]))
            assert multi.command_status == 0
        finally:
            esme.close()
    pdus = [(e["event"], e["command"]) for e in logs if e["event"] in ("pdu_in", "pdu_out")]
    for expected in [("pdu_in", "enquire_link"), ("pdu_out", "enquire_link_resp"), ("pdu_in", "0x00000099"),
                     ("pdu_out", "generic_nack")]:
        assert expected in pdus, expected
    multi_in = next(e for e in logs if e["event"] == "pdu_in" and e["command"] == "submit_multi")
    assert multi_in["dest_addresses"] == [DELIVERED_AT_ONCE]
    # (tester 86: a registered_delivery of 0, the reason a receipt never comes, was left out of the line)
    assert (multi_in["registered_delivery"], multi_in["esm_class"], multi_in["data_coding"]) == (0, 0, 0)
    assert pdus[:4] == [("pdu_in", "bind_transceiver"), ("pdu_out", "bind_transceiver_resp"),
                        ("pdu_in", "submit_sm"), ("pdu_out", "submit_sm_resp")]
    assert ("pdu_out", "deliver_sm") in pdus
    # (tester 101: a receipt's line had its TLV tags only, so whether the receipt of X went out was not in the log)
    receipt = next(e for e in logs if e["event"] == "pdu_out" and e["command"] == "deliver_sm")
    assert (receipt["receipted_message_id"], receipt["message_state"]) == (resp.message_id, 2)
    submit = next(e for e in logs if e["event"] == "pdu_in" and e["command"] == "submit_sm")
    assert (submit["destination_addr"], submit["sm_length"], submit["registered_delivery"]) == (
        DELIVERED_AT_ONCE, 5, 1)
    answer = next(e for e in logs if e["event"] == "pdu_out" and e["command"] == "submit_sm_resp")
    assert answer["message_id"] == resp.message_id and answer["status"] == "0x00000000"
    assert not [e for e in logs if "password" in e]  # (never logged)


def test_configure_logging_turns_pdu_lines_on_at_debug_level_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from smsc import obs

    monkeypatch.setattr(obs, "debug_pdus", False)
    try:
        obs.configure_logging(level="debug")
        assert obs.debug_pdus
        obs.configure_logging(level="info")
        assert not obs.debug_pdus
    finally:
        structlog.reset_defaults()




def test_the_log_says_why_a_submit_a_bind_or_a_receipt_was_refused(smsc_factory: Any, tmp_path: Any) -> None:
    """Tester 50: a refused submit left no line at info level (the debug line had only the status in hex), the
    three causes of ESME_RBINDFAIL logged alike, and an ESME answering receipts with an error left nothing."""
    from .conftest import RawEsme, make_config

    cfg = make_config(tmp_path)
    accounts = tuple(dataclasses.replace(a, max_binds=1, source_addresses=("ACME", "4477\\d+"))
                     if a.system_id == "test" else a for a in cfg.accounts)
    server = smsc_factory(dataclasses.replace(cfg, accounts=accounts))
    with structlog.testing.capture_logs() as logs:
        esme = RawEsme(server.port)
        other = RawEsme(server.port)
        ports = {esme.sock.getsockname()[1], other.sock.getsockname()[1]}
        try:
            esme.bind("transceiver")
            assert other.request(P.BindTransceiver(system_id="test", password="test")).command_status == \
                CommandStatus.ESME_RBINDFAIL
            assert other.request(P.BindTransceiver(system_id="test", password="nope")).command_status == \
                CommandStatus.ESME_RINVPASWD
            # Tester 53: a replace_sm the session refuses (not bound here) is logged too.
            assert other.request(P.ReplaceSm(message_id="1", source_addr="ACME")).command_status == \
                CommandStatus.ESME_RINVBNDSTS
            fields = dict(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                          destination_addr=DELIVERED_AT_ONCE, short_message=b"hi")
            for bad, status in [({"priority_flag": 9}, CommandStatus.ESME_RINVPRTFLG),
                                ({"priority_flag": 7}, CommandStatus.ESME_RINVPRTFLG),  # (the same field: once)
                                ({"source_addr": "Other"}, CommandStatus.ESME_RINVSRCADR),
                                ({"short_message": b"a" * 161}, CommandStatus.ESME_RINVMSGLEN),
                                ({"destination_addr": "447700900912"}, CommandStatus.ESME_RINVDSTADR)]:
                assert esme.request(P.SubmitSm(**{**fields, **bad})).command_status == status
            # One the session refuses undecoded: its reason is the decoder's, naming the field.
            esme.seq += 1
            wire = encode(P.SubmitSm(**fields, service_type="CMT", sequence_number=esme.seq))
            body = b"TOOLONGX\0" + wire[16 + 4:]  # (service_type: at most 5 characters)
            esme.sock.sendall(struct.pack(">I", 16 + len(body)) + wire[4:16] + body)
            for _ in range(20):
                if any(getattr(p, "sequence_number", None) == esme.seq for p in esme.pending):
                    break
                esme._read()
            # Tester 51: another field at fault under a status already logged is said too; a replace_sm too.
            assert esme.request(P.SubmitSm(**{**fields, "esm_class": 0x40, "short_message": b"\x05\x00\x03"})
                                ).command_status == CommandStatus.ESME_RINVMSGLEN
            # Tester 54: values in hex are values too (one kind of fault, one line).
            for esm_class in (0x0C, 0x14):
                assert esme.request(P.SubmitSm(**{**fields, "esm_class": esm_class})
                                    ).command_status == CommandStatus.ESME_RINVESMCLASS
            # Tester 53: the two kinds again, alternating, are not logged again.
            assert esme.request(P.SubmitSm(**{**fields, "short_message": b"b" * 170})
                                ).command_status == CommandStatus.ESME_RINVMSGLEN
            assert esme.request(P.SubmitSm(**{**fields, "esm_class": 0x40, "short_message": b"\x09\x00\x03"})
                                ).command_status == CommandStatus.ESME_RINVMSGLEN
            assert esme.request(P.ReplaceSm(message_id="ffffffff", source_addr="ACME", source_addr_ton=5)
                                ).command_status == CommandStatus.ESME_RREPLACEFAIL
        finally:
            esme.close()
            other.close()
    refused = [e for e in logs if e["event"] == "submit_refused"]
    assert [(e["status"], e["count"]) for e in refused] == [
        ("ESME_RINVPRTFLG", 1), ("ESME_RINVSRCADR", 1), ("ESME_RINVMSGLEN", 1), ("ESME_RINVDSTADR", 1),
        ("ESME_RINVSERTYP", 1), ("ESME_RINVMSGLEN", 2), ("ESME_RINVESMCLASS", 1)]
    assert refused[4]["reason"] == "service_type has 8 characters, at most 5 allowed"
    assert refused[4]["sequence_number"] == esme.seq - 6
    assert refused[5]["reason"].startswith("esm_class sets UDHI but the user data does not start with a whole UDH")
    unbound, replace = [e for e in logs if e["event"] == "replace_refused"]
    assert (unbound["status"], unbound["reason"]) == ("ESME_RINVBNDSTS",
                                                    "not allowed in the session's state (OPEN): bind first (SMPP 3.4 Table 2-1)")
    assert replace["status"] == "ESME_RREPLACEFAIL" and replace["reason"].startswith("message_id 'ffffffff': no")
    assert refused[0]["reason"].startswith("priority_flag 9: expected 0-3")
    assert refused[0]["command"] == "submit_sm" and refused[0]["system_id"] == "test"
    assert refused[1]["reason"] == "source_addr 'Other' matches none of the account's source_addresses (ACME, 4477\\d+)"
    assert refused[2]["reason"].startswith(
        "short_message of 161 septets (data_coding 0x00) is more than one SMS holds: 160 septets")
    # Tester 81: a valid, routed number refused by its test rule read "not a mobile number ... no route ... or a
    # number rule": the rule that answered is named.
    assert refused[3]["reason"] == ("destination 447700900912 has a number rule of carrier britmobile (submit: "
                                    "status) that answers it so")
    binds = [e for e in logs if e["event"] == "bind_refused"]
    assert [(e["status"], e["reason"]) for e in binds] == [
        ("ESME_RBINDFAIL", "the account's max_binds (1) are bound already"), ("ESME_RINVPASWD", "wrong password")]
    assert binds[0]["bind_type"] == "transceiver"
    assert {e["peer"] for e in logs if e["event"] in ("bound", "bind_refused")} == {f"127.0.0.1:{p}" for p in ports}


def test_an_error_answer_to_a_receipt_is_logged_with_what_happens_next(smsc_server: RunningSmsc) -> None:
    with structlog.testing.capture_logs() as logs:
        copies = _receipt_copies(smsc_server, lambda n: (0.0, CommandStatus.ESME_RSYSERR if n == 1 else 0), 5.0,
                                 copies_wanted=2)
    assert len(copies) == 2
    (failed,) = [e for e in logs if e["event"] == "delivery_failed"]
    assert failed["reason"] == "answered with status ESME_RSYSERR: offered again after a backoff"
    assert failed["command"] == "deliver_sm"


def test_a_receipt_dropped_for_a_permanent_error_is_logged_with_what_it_was_about(smsc_server: RunningSmsc) -> None:
    """Tester 113: delivery_dropped named only an internal delivery_id, which then left /api/deliveries: the
    receipt could not be traced to its message."""
    with structlog.testing.capture_logs() as logs:
        copies = _receipt_copies(smsc_server, lambda n: (0.0, CommandStatus.ESME_RX_P_APPN), 2.0, copies_wanted=1)
        smsc_server.call(lambda: None)
    assert len(copies) == 1
    (dropped,) = [e for e in logs if e["event"] == "delivery_dropped"]
    (submitted,) = [m for m in smsc_server.call(lambda: smsc_server.app.smsc.messages())]  # type: ignore[union-attr]
    assert (dropped["kind"], dropped["message_id"], dropped["status"]) == (
        "receipt", submitted.message_id, "ESME_RX_P_APPN")
    assert (dropped["source_addr"], dropped["destination_addr"]) == (DELIVERED_AT_ONCE, "ACME")


def test_deliveries_left_unanswered_by_a_connection_that_closes_are_logged(smsc_server: RunningSmsc) -> None:
    """Tester 84: a receiver that reset its connection with 10 receipts unanswered raised
    smsc_deliveries_failed_total by 10, and the log said only "unbound ... Connection reset by peer"."""
    import structlog

    with structlog.testing.capture_logs() as logs:
        with _raw_connection(smsc_server) as sock:
            sock.sendall(encode(P.BindReceiver(sequence_number=1, system_id="test", password="test")))
            assert _read_pdus(sock, 1)[0].command_status == 0
            for i in range(3):
                smsc_server.call(lambda i=i: smsc_server.app.smsc.inject_mo(  # type: ignore[union-attr]
                    "447700900950", "88123", text=f"mo {i}"))
            delivered = [p for p in _read_pdus(sock, 3) if isinstance(p, P.DeliverSm)]
            assert len(delivered) == 3  # (none answered)
        deadline = time.monotonic() + 5
        while not [e for e in logs if e["event"] == "delivery_failed"] and time.monotonic() < deadline:
            time.sleep(0.02)
    [failed] = [e for e in logs if e["event"] == "delivery_failed"]
    assert failed["count"] == 3 and failed["system_id"] == "test" and "closed" in failed["reason"], failed


def test_an_outbind_failing_again_and_again_is_logged_first_then_every_so_often_then_when_it_connects(
        smsc_factory: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 83: an outbind to an ESME that was down logged outbind_failed at every retry_interval, for as long as
    it lasted (24 lines in 3 minutes at 5 s)."""
    from smsc.server import outbind

    monkeypatch.setattr(outbind, "FAILED_LOG_EVERY", 3)
    listener = socket.create_server(("127.0.0.1", 0))
    esme_port = listener.getsockname()[1]
    listener.close()  # the ESME is down
    with structlog.testing.capture_logs() as logs:
        tx, resp = _outbind_world(smsc_factory, tmp_path, esme_port, 0.1)
        try:
            deadline = time.monotonic() + 10
            while len([e for e in logs if e["event"] == "outbind_failed"]) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            listener = socket.create_server(("127.0.0.1", esme_port))
            listener.settimeout(10)
            conn, _ = listener.accept()
            with conn:
                _take_outbind_and_the_receipt(conn, resp.message_id)
        finally:
            tx.close()
            listener.close()
    failed = [e["failures"] for e in logs if e["event"] == "outbind_failed"]
    assert failed[:2] == [1, 3] and all(n == 1 or n % 3 == 0 for n in failed), failed
    [connected] = [e for e in logs if e["event"] == "outbind_connected"]
    assert connected["after_failures"] >= 3
