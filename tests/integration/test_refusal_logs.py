"""Refusals and session endings the log did not explain (tester 73, finding 3), over real TCP to a real server.

README: "Every refusal says why".  A query_sm or cancel_sm the SMSC refused, a second bind on a bound
connection, a connection closed because it never bound, and a session ended by the inactivity timer each left
no line (or only "unbind answered") to tell a gateway developer why.  The session timers are run here at a loop
time ahead of the clock (as the server's once-a-second sweep would run them that much later), so no test waits
for a timer.
"""

from __future__ import annotations

import socket
import time
from collections.abc import MutableMapping
from typing import Any, Callable

import structlog.testing

from smsc.smpp import pdu as P
from smsc.smpp.codec import encode
from smsc.smpp.constants import CommandStatus

from .conftest import RawEsme, RunningSmsc

DELIVERED_AT_ONCE = "447700900123"  # documented test number in the default config
#: The submit fields of the default config's ``test`` account (its ACME sender).
SUBMIT: dict[str, Any] = dict(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                              destination_addr=DELIVERED_AT_ONCE, short_message=b"hello")


def _events(logs: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == name]


def _wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Until ``condition()`` holds (the server logs on its own thread), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _connections(server: RunningSmsc) -> int:
    assert server.app.smpp is not None
    smpp = server.app.smpp
    return int(server.call(lambda: len(smpp.registry.connections)))


def _loop_time(server: RunningSmsc) -> float:
    return float(server.call(lambda: server.loop.time()))


def _run_timers(server: RunningSmsc, at: float) -> None:
    """Run every connection's session timers at loop time ``at``, as the sweep does (``SmppProtocol.poll``)."""
    assert server.app.smpp is not None
    smpp = server.app.smpp

    def run() -> None:
        for proto in list(smpp.registry.connections):
            proto.poll(at)

    server.call(run)


def _read_until_closed(esme: RawEsme) -> None:
    """Read (acknowledging deliveries) until the server closes the connection."""
    for _ in range(100):
        try:
            esme._read()
        except ConnectionError:
            return
    raise AssertionError("the server did not close the connection")


def test_a_refused_query_sm_is_logged_with_its_status_and_why(smsc_factory: Callable[..., RunningSmsc]) -> None:
    """Tester 73: query_sm of an unknown message got ESME_RQUERYFAIL with no log line; a
    query_sm on a receiver bind (ESME_RINVBNDSTS, refused by the session itself) neither.  One line per kind
    of fault: a gateway polling unknown ids does not write one per poll."""
    server = smsc_factory()
    with structlog.testing.capture_logs() as logs:
        esme = RawEsme(server.port)
        receiver = RawEsme(server.port)
        try:
            esme.bind("transceiver")
            for message_id in ("ffffffff", "fffffffe", "fffffffd"):
                resp = esme.request(P.QuerySm(message_id=message_id, source_addr="ACME", source_addr_ton=5))
                assert resp.command_status == CommandStatus.ESME_RQUERYFAIL
            receiver.bind("receiver")
            resp = receiver.request(P.QuerySm(message_id="ffffffff", source_addr="ACME", source_addr_ton=5))
            assert resp.command_status == CommandStatus.ESME_RINVBNDSTS
        finally:
            esme.close()
            receiver.close()
    unknown, on_receiver = _events(logs, "query_refused")
    assert unknown["status"] == "ESME_RQUERYFAIL" and unknown["count"] == 1
    assert unknown["command"] == "query_sm" and unknown["system_id"] == "test"
    assert unknown["peer"].startswith("127.0.0.1:") and unknown["sequence_number"] == 2
    assert unknown["reason"].startswith("message_id 'ffffffff': no message of this system_id from source_addr "
                                        "'ACME' (TON 5, NPI 0)")
    assert on_receiver["status"] == "ESME_RINVBNDSTS" and on_receiver["command"] == "query_sm"
    assert on_receiver["reason"] == ("not allowed in the session's state (BOUND_RX): a receiver bind takes "
                                     "deliveries only; bind as transmitter or transceiver to query_sm (SMPP 3.4 "
                                     "Table 2-1)")
    assert not _events(logs, "submit_refused")  # (not taken for a submit)


def test_a_refused_cancel_sm_is_logged_with_its_status_and_why(smsc_factory: Callable[..., RunningSmsc]) -> None:
    """Tester 73: cancel_sm answered ESME_RCANCELFAIL (here: a message already delivered, then an unknown id)
    left no log line; nor did one with neither message_id nor destination (ESME_RINVDSTADR)."""
    server = smsc_factory()
    with structlog.testing.capture_logs() as logs:
        esme = RawEsme(server.port)
        try:
            esme.bind("transceiver")
            resp = esme.request(P.SubmitSm(**SUBMIT, registered_delivery=1))
            assert resp.command_status == 0
            esme.wait_deliveries(1)  # its receipt: the message is final
            final = esme.request(P.CancelSm(message_id=resp.message_id, source_addr="ACME", source_addr_ton=5))
            assert final.command_status == CommandStatus.ESME_RCANCELFAIL
            unknown = esme.request(P.CancelSm(message_id="ffffffff", source_addr="ACME", source_addr_ton=5))
            assert unknown.command_status == CommandStatus.ESME_RCANCELFAIL
            nothing = esme.request(P.CancelSm(source_addr="ACME", source_addr_ton=5))
            assert nothing.command_status == CommandStatus.ESME_RINVDSTADR
        finally:
            esme.close()
    failed, missing = _events(logs, "cancel_refused")  # (the second CANCELFAIL: the same kind of fault)
    assert failed["status"] == "ESME_RCANCELFAIL" and failed["command"] == "cancel_sm"
    assert failed["system_id"] == "test" and failed["peer"].startswith("127.0.0.1:") and failed["count"] == 1
    assert failed["reason"].startswith(f"message_id {resp.message_id!r}: no pending message of this system_id "
                                       f"from source_addr 'ACME' (TON 5, NPI 0) (final, in flight")
    assert missing["status"] == "ESME_RINVDSTADR"
    assert missing["reason"].startswith("neither message_id nor destination_addr given")


def test_a_second_bind_on_a_bound_connection_is_logged(smsc_factory: Callable[..., RunningSmsc]) -> None:
    """Tester 73: a second bind on one session got ESME_RALYBND (0x05) and the log said nothing, although every
    other refused bind has its bind_refused line.  The first bind stands."""
    server = smsc_factory()
    with structlog.testing.capture_logs() as logs:
        esme = RawEsme(server.port)
        try:
            esme.bind("transceiver")
            again = esme.request(P.BindTransmitter(system_id="test", password="test"))
            assert again.command_status == CommandStatus.ESME_RALYBND
            assert esme.request(P.SubmitSm(**SUBMIT)).command_status == 0
        finally:
            esme.close()
    (refused,) = _events(logs, "bind_refused")
    assert refused["status"] == "ESME_RALYBND" and refused["command"] == "bind_transmitter"
    assert refused["system_id"] == "test" and refused["bind_type"] == "transmitter"
    assert refused["peer"].startswith("127.0.0.1:")
    assert refused["reason"].startswith("this connection is bound already (system_id 'test', transceiver)")
    assert "bound_system_id" not in refused  # (the same system_id: said once)


def test_a_second_bind_for_another_system_id_logs_both(smsc_factory: Callable[..., RunningSmsc]) -> None:
    """Tester 85: the bind_refused line of an ESME_RALYBND is read for its system_id.  It names the one the
    refused bind asked for, as every bind_refused line does, and, when the connection is bound as another
    (here ``test``, while the PDU says ``other``, or nothing), that one as ``bound_system_id``."""
    server = smsc_factory()
    with structlog.testing.capture_logs() as logs:
        for asked in ("other", ""):  # (one connection each: a second ESME_RALYBND of a connection is not logged)
            esme = RawEsme(server.port)
            try:
                esme.bind("transceiver")
                again = esme.request(P.BindReceiver(system_id=asked, password="secret"))
                assert again.command_status == CommandStatus.ESME_RALYBND
            finally:
                esme.close()
    other, empty = _events(logs, "bind_refused")
    assert other["system_id"] == "other" and other["bound_system_id"] == "test"
    assert other["status"] == "ESME_RALYBND" and other["command"] == "bind_receiver"
    assert empty["system_id"] == "" and empty["bound_system_id"] == "test"
    assert all("secret" not in repr(line) for line in logs)  # (never the password)


def test_a_connection_that_never_binds_is_closed_with_a_log_line(smsc_factory: Callable[..., RunningSmsc]) -> None:
    """Tester 73: the session_init_timer closed a connection that never bound, and nothing was logged (the
    "unbound" line is written for bound sessions only)."""
    server = smsc_factory(session_init_timer=5.0)
    with structlog.testing.capture_logs() as logs:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5.0)
        peer = "127.0.0.1:%d" % sock.getsockname()[1]
        try:
            _wait_for(lambda: _connections(server) == 1)
            _run_timers(server, _loop_time(server) + 5.0)
            assert sock.recv(16) == b""  # closed by the server
            _wait_for(lambda: _connections(server) == 0)
        finally:
            sock.close()
    (closed,) = _events(logs, "connection_closed")
    assert closed["reason"] == "session_init_timer (5 s) expired before a bind"
    assert closed["peer"] == peer
    assert not _events(logs, "unbound")


def _inactive_session(server: RunningSmsc, *, answer: bool) -> list[MutableMapping[str, Any]]:
    """Bind, let the inactivity_timer (5 s) unbind the session, answer that unbind or not; the log lines."""
    with structlog.testing.capture_logs() as logs:
        esme = RawEsme(server.port)
        try:
            esme.bind("transceiver")
            assert esme.request(P.EnquireLink()).command_status == 0  # (no transaction: keeps nothing alive)
            start = _loop_time(server)
            _run_timers(server, start + 5.0)
            for _ in range(20):
                unbinds = [p for p in esme.pending if isinstance(p, P.Unbind)]
                if unbinds:
                    break
                esme._read()
            (unbind,) = unbinds
            if answer:
                esme.sock.sendall(encode(P.UnbindResp(sequence_number=unbind.sequence_number)))
            else:
                _run_timers(server, start + 5.0 + server.config.server.response_timer)
            _read_until_closed(esme)
            _wait_for(lambda: bool(_events(logs, "unbound")))
        finally:
            esme.close()
    return logs


def test_an_inactivity_unbind_says_the_timer_was_the_cause(smsc_factory: Callable[..., RunningSmsc]) -> None:
    """Tester 73: the SMSC unbinds after inactivity_timer with only enquire_link traffic, but the log named only
    the unbind's outcome ("unbind answered" / "unbind not answered"), never that the inactivity timer sent it."""
    server = smsc_factory(inactivity_timer=5.0, enquire_link_timer=60.0, response_timer=30.0)
    for answer in (True, False):
        logs = _inactive_session(server, answer=answer)
        (expired,) = _events(logs, "inactivity_timer_expired")
        assert expired["system_id"] == "test" and expired["peer"].startswith("127.0.0.1:")
        assert expired["inactivity_timer"] == 5.0 and expired["idle"] >= 5.0 and expired["action"] == "unbind"
        (unbound,) = _events(logs, "unbound")
        outcome = "unbind answered" if answer else "unbind not answered"
        assert unbound["reason"] == ("unbind from the SMSC: no transaction within the inactivity_timer (5 s); "
                                     + outcome)
        assert unbound["peer"] == expired["peer"]


def test_binds_whose_fields_cannot_be_read_are_logged_per_address_not_per_connection(
    smsc_factory: Callable[..., RunningSmsc],
) -> None:
    """Tester 182: a client reconnecting with a 9-character password (or a 26-character system_id) wrote one
    bind_refused line per connection, each "count": 1, where the README promises per client address the first of
    each status or cause, then every 100th."""
    import struct

    from smsc.smpp.codec import Framer

    server = smsc_factory()
    with structlog.testing.capture_logs() as logs:
        for i in range(5):
            body = b"test\0" + f"S3cretPW{i}".encode() + b"\0" + b"\0" + bytes((0x34, 0, 0)) + b"\0"
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(struct.pack(">IIII", 16 + len(body), 0x00000009, 0, 1) + body)
                (resp,) = Framer().feed(sock.recv(1024))
            assert resp.command_status == CommandStatus.ESME_RINVPASWD
    refused = _events(logs, "bind_refused")
    assert [(e["status"], e["count"]) for e in refused] == [("ESME_RINVPASWD", 1)], refused


def test_the_destinations_a_submit_multi_could_not_submit_to_are_logged_and_counted(
    smsc_factory: Callable[..., RunningSmsc],
) -> None:
    """Tester 182: destinations in unsuccess_sme were logged nowhere, and a carrier rule's ESME_RTHROTTLED among
    them (447700900911) was not in smsc_smpp_throttled_total, where the same refusal of a submit_sm is."""
    server = smsc_factory()
    esme = RawEsme(server.port)
    try:
        esme.bind("transmitter")
        with structlog.testing.capture_logs() as logs:
            resp = esme.request(P.SubmitMulti(
                source_addr_ton=1, source_addr_npi=1, source_addr="447700900001", short_message=b"to all",
                dest_addresses=[P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr=d)
                                for d in ("447700900123", "447700900911", "44x")]))
            assert resp.command_status == 0 and len(resp.unsuccess_smes) == 2
            _wait_for(lambda: bool(_events(logs, "submit_multi_destinations_refused")))
    finally:
        esme.close()
    (line,) = _events(logs, "submit_multi_destinations_refused")
    assert line["refused"] == 2 and line["system_id"] == "test"
    named = {d["destination_addr"]: d["status"] for d in line["destinations"]}
    assert named == {"447700900911": "ESME_RTHROTTLED", "44x": "ESME_RINVDSTADR"}, line
    reasons = {d["destination_addr"]: d["reason"] for d in line["destinations"]}
    assert reasons["44x"].startswith("not a mobile number of 7-15 digits"), reasons
    assert reasons["447700900911"] and "simulated network" not in reasons["447700900911"], reasons
    assert server.app.smpp is not None and server.call(lambda: server.app.smpp.counters.throttled) == 1  # type: ignore[union-attr]
