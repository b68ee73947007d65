"""A server that stops answers every submit it accepted before it unbinds, also one whose response a carrier
rule delays (447700900914 of the bundled config: ``submit: {delay: 5s}``, longer than the stop's grace).

Found by a tester: the message was on disk but its submit_sm_resp never left, so the ESME could not learn its
message_id and would submit it again; after the restart both copies were delivered."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smsc.smpp import pdu as P
from smsc.smpp.codec import encode
from smsc.smpp.constants import CommandStatus

from .conftest import RawEsme, RunningSmsc, make_config

DELAYED = "447700900914"


class _Unanswering:
    """A raw transceiver bind that answers no deliver_sm by itself: what arrived is in :attr:`got`, and the test
    writes each acknowledgement when it wants to.  Every read is bounded (100 reads of ``timeout`` seconds)."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        import socket

        from smsc.smpp.codec import Framer

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.framer = Framer()
        self.got: list[object] = []

    def read_until(self, done: Callable[[], bool]) -> None:
        for _ in range(100):
            if done():
                return
            data = self.sock.recv(65536)
            assert data, f"closed by the server; got {self.got}"
            self.got.extend(self.framer.feed(data))
        raise AssertionError(f"not there after 100 reads: {self.got}")

    def of(self, cls: type) -> list[Any]:
        return [p for p in self.got if isinstance(p, cls)]

    def bind_and_submit(self, destinations: list[str]) -> None:
        """Bind as transceiver and submit to each of ``destinations`` with a receipt asked for, then read until
        every receipt has come (none answered)."""
        self.sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
        for seq, destination in enumerate(destinations, start=2):
            self.sock.sendall(encode(P.SubmitSm(
                sequence_number=seq, source_addr_ton=5, source_addr="ACME", dest_addr_ton=1, dest_addr_npi=1,
                destination_addr=destination, short_message=b"receipt please", registered_delivery=1)))
        self.read_until(lambda: len(self.of(P.DeliverSm)) == len(destinations))

    def closed_by_server(self, timeout: float = 5.0) -> bool:
        self.sock.settimeout(timeout)
        return self.sock.recv(65536) == b""


def test_a_stop_answers_a_submit_a_rule_delays_before_it_unbinds(
    smsc_factory: Callable[..., RunningSmsc], tmp_path: Path,
) -> None:
    server = smsc_factory()
    esme = RawEsme(server.port, timeout=10)
    try:
        esme.bind("transceiver")
        seq = esme.send(P.SubmitSm(source_addr_ton=5, source_addr="ACME", dest_addr_ton=1, dest_addr_npi=1,
                                   destination_addr=DELAYED, short_message=b"slow"))
        assert seq == 2
        deadline = time.monotonic() + 5
        while server.call(lambda: server.app.smsc.stats.submitted) < 1:  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.2)  # (its commit: the response now waits only for the rule's 5 s)
        started = time.monotonic()
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        for _ in range(50):  # until the server's unbind (bounded: each read waits 10 s at most)
            if any(isinstance(p, P.Unbind) for p in esme.pending):
                break
            esme._read()
        got = esme.pending
        unbind = got[-1]
        assert isinstance(unbind, P.Unbind), got
        esme.sock.sendall(encode(P.UnbindResp(sequence_number=unbind.sequence_number)))
        stopper.join(timeout=15)
        assert not stopper.is_alive() and time.monotonic() - started < 3.0  # (not the rule's 5 s)
        resps = [p for p in got if isinstance(p, P.SubmitSmResp)]
        assert [(r.sequence_number, r.command_status) for r in resps] == [(2, CommandStatus.ESME_ROK)]
        message_id = resps[0].message_id
    finally:
        esme.close()

    # The id the ESME learned names the message the store kept.
    again = smsc_factory(make_config(tmp_path))
    msg = again.call(lambda: again.app.smsc.message(message_id))  # type: ignore[union-attr]
    assert msg is not None and msg.destination.addr == DELAYED



def test_a_stop_takes_the_receipt_acknowledgements_that_come_after_the_unbind_resp(
    smsc_factory: Callable[..., RunningSmsc], tmp_path: Path,
) -> None:
    """Tester 90: a gateway answered the stopping SMSC's unbind at once and its outstanding deliver_sm 0.3 s later
    (its own queue); the SMSC closed on the unbind_resp, the acknowledgements were lost, and every one of those
    receipts came again after the restart (30 duplicates with 3 binds x window 10)."""
    server = smsc_factory()
    esme = _Unanswering(server.port)
    try:
        esme.bind_and_submit(["447700900123"] * 3)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        esme.read_until(lambda: bool(esme.of(P.Unbind)))
        (unbind,) = esme.of(P.Unbind)
        esme.sock.sendall(encode(P.UnbindResp(sequence_number=unbind.sequence_number)))
        time.sleep(0.3)
        for receipt in esme.of(P.DeliverSm):
            esme.sock.sendall(encode(P.DeliverSmResp(sequence_number=receipt.sequence_number)))
        stopper.join(timeout=15)
        assert not stopper.is_alive()
        assert esme.closed_by_server(2)  # (once they were answered)
    finally:
        esme.sock.close()

    again = smsc_factory(make_config(tmp_path))
    assert again.call(lambda: again.app.smsc.deliveries_count()) == 0  # type: ignore[union-attr]


def test_receipts_acknowledged_just_after_the_esmes_own_unbind_are_not_sent_again(
    smsc_factory: Callable[..., RunningSmsc],
) -> None:
    """Tester 99: an ESME holding 5 receipts wrote its unbind, then its 5 deliver_sm_resp in separate writes a few
    microseconds later; the SMSC answered the unbind and closed at once, took none of them, and sent all 5 again
    on the next bind (in one write with the unbind they were taken: the outcome depended on TCP segmentation)."""
    server = smsc_factory()
    esme = _Unanswering(server.port)
    try:
        esme.bind_and_submit([f"44770090012{i}" for i in range(5)])
        esme.sock.sendall(encode(P.Unbind(sequence_number=10)))
        for receipt in esme.of(P.DeliverSm):
            time.sleep(0.01)  # (each in a segment of its own, after the unbind_resp may have gone)
            esme.sock.sendall(encode(P.DeliverSmResp(sequence_number=receipt.sequence_number)))
        esme.read_until(lambda: bool(esme.of(P.UnbindResp)))
        assert esme.closed_by_server()  # (once they were answered)
    finally:
        esme.sock.close()
    deadline = time.monotonic() + 5
    while server.call(lambda: server.app.smsc.deliveries_count()):  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "receipts still owed: the acknowledgements were lost"
        time.sleep(0.05)
    again = RawEsme(server.port)
    try:
        again.bind("receiver")
        time.sleep(0.3)
        again.request(P.EnquireLink())  # (a round trip: what the bind was offered has arrived by its answer)
        assert again.delivered == []
    finally:
        again.close()


@pytest.mark.parametrize("first_signal", ["SIGTERM", "SIGHUP"])
def test_a_stop_says_when_it_begins_and_why_it_closed_an_esme_that_answered_the_unbind_only(
        tmp_path: Path, first_signal: str) -> None:
    """Tester 101: nothing was logged when a stop began, a second SIGTERM seemed ignored, and an ESME that answered
    the unbind but not its receipt was closed as having sent "no unbind_resp within the stop's grace", with its
    receipt "offered again at once" (it waits for the next start).  Tester 121: SIGHUP (a closed terminal) ended
    the process at once, exit status 129, without the unbinds."""
    import json
    import os
    import signal
    import subprocess

    from .conftest import smsc_command, wait_for_port

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([*smsc_command(), "serve", "--store", "memory", "--port", "0", "--host", "127.0.0.1",
                             "--no-http", "--log-format", "json"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        port = wait_for_port(proc, lines)
        esme = _Unanswering(port, timeout=10)
        try:
            esme.bind_and_submit(["447700900123"])  # (its receipt never answered)
            proc.send_signal(getattr(signal, first_signal))
            esme.read_until(lambda: bool(esme.of(P.Unbind)))
            (unbind,) = esme.of(P.Unbind)
            esme.sock.sendall(encode(P.UnbindResp(sequence_number=unbind.sequence_number)))
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            esme.sock.close()
    finally:
        _kill_if_running(proc)
    deadline = time.monotonic() + 5  # (the reader thread takes the last lines)
    while time.monotonic() < deadline and not any('"event": "stopped"' in line for line in lines):
        time.sleep(0.05)
    records = [json.loads(line) for line in lines if line.startswith("{")]
    events = [r["event"] for r in records]
    assert events.index("stopping") < events.index("stop_in_progress") < events.index("stopped"), events
    stopping = next(r for r in records if r["event"] == "stopping")
    assert (stopping["signal"], stopping["grace_seconds"]) == (first_signal, 5.0)
    (unbound,) = [r for r in records if r["event"] == "unbound"]
    assert unbound["reason"] == "unbind answered, but deliver_sm still unanswered at the end of the stop's grace (5 s)"
    (failed,) = [r for r in records if r["event"] == "delivery_failed"]
    # (tester 142: with the memory store it said "offered again after the restart", which nothing keeps)
    assert failed["action"] == ("lost: the SMSC is stopping, and the memory store keeps nothing across a "
                                "restart"), failed


def test_a_server_whose_log_reader_is_gone_goes_on_serving_and_stops_when_told(tmp_path: Path) -> None:
    """Tester 106: once the process reading smsc's stderr was gone (a test runner killed), every log line raised
    BrokenPipeError: binds were dropped without a bind_resp, and the signal handler's own line kept SIGTERM from
    stopping the server; only kill -9 ended it."""
    import json
    import os
    import select
    import signal
    import subprocess

    from .conftest import smsc_command

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([*smsc_command(), "serve", "--store", "memory", "--port", "0", "--host", "127.0.0.1",
                             "--no-http", "--log-format", "json"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        port = 0
        deadline = time.monotonic() + 30
        while not port:  # (read here, not on a thread: this test closes the pipe itself)
            ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
            assert ready and time.monotonic() < deadline, "smsc serve did not report its port"
            record = json.loads(proc.stderr.readline() or "{}")
            if record.get("event") == "listening" and record.get("protocol") == "smpp":
                port = int(record["port"])
        proc.stderr.close()  # (the reader is gone: the server's next log line meets a broken pipe)
        for _ in range(3):
            esme = RawEsme(port)
            try:
                esme.bind("transceiver")
                assert esme.request(P.SubmitSm(source_addr_ton=5, source_addr="ACME", dest_addr_ton=1,
                                               dest_addr_npi=1, destination_addr="447700900123",
                                               short_message=b"still served")).command_status == 0
            finally:
                esme.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        _kill_if_running(proc)


def test_an_unbind_answered_frees_the_accounts_bind_while_its_receipts_are_still_unanswered(
    smsc_factory: Callable[..., RunningSmsc], tmp_path: Path,
) -> None:
    """Tester 120: an ESME that unbound with deliver_sm outstanding kept its place in max_binds after the
    unbind_resp, until the response_timer (30 s) or its close: its rebind at max_binds got ESME_RBINDFAIL."""
    import dataclasses

    cfg = make_config(tmp_path)
    accounts = tuple(dataclasses.replace(a, max_binds=1) if a.system_id == "test" else a for a in cfg.accounts)
    server = smsc_factory(dataclasses.replace(cfg, accounts=accounts))
    esme = _Unanswering(server.port)
    try:
        esme.bind_and_submit(["447700900123"])  # (its receipt never answered)
        esme.sock.sendall(encode(P.Unbind(sequence_number=10)))
        esme.read_until(lambda: bool(esme.of(P.UnbindResp)))
        again = RawEsme(server.port)
        try:
            assert again.bind("transmitter").command_status == 0  # (at once, the old socket still open)
        finally:
            again.close()
        # The receipt answered after the unbind_resp still counts (tester 99), and the slot is not given back twice.
        (receipt,) = esme.of(P.DeliverSm)
        esme.sock.sendall(encode(P.DeliverSmResp(sequence_number=receipt.sequence_number)))
        assert esme.closed_by_server()
    finally:
        esme.sock.close()
    first = RawEsme(server.port)
    second = RawEsme(server.port)
    try:
        first.bind("transceiver")
        assert second.request(P.BindTransceiver(system_id="test", password="test")).command_status == \
            CommandStatus.ESME_RBINDFAIL
    finally:
        first.close()
        second.close()


def test_a_hang_up_to_the_process_group_stops_the_server_gracefully_and_nohup_keeps_it_running(
        tmp_path: Path) -> None:
    """Tester 122: the SQLite writer child died of the SIGHUP a closed terminal sends to the whole process group
    (store_writer_died in the middle of the graceful stop), and under ``nohup`` (SIGHUP ignored) the new handler
    stopped the server all the same."""
    import json
    import os
    import signal
    import subprocess

    from .conftest import smsc_command, wait_for_port

    def serve(ignore_hup: bool) -> tuple[subprocess.Popen[str], list[str], int]:
        def preexec() -> None:
            if ignore_hup:
                signal.signal(signal.SIGHUP, signal.SIG_IGN)  # (as nohup does)

        proc = subprocess.Popen([*smsc_command(), "serve", "--db", str(tmp_path / f"{ignore_hup}.sqlite"), "--port",
                                 "0", "--host", "127.0.0.1", "--no-http", "--log-format", "json"], cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
                                preexec_fn=preexec)
        lines: list[str] = []
        return proc, lines, wait_for_port(proc, lines)

    proc, lines, port = serve(ignore_hup=False)
    try:
        esme = RawEsme(port)
        try:
            esme.bind("transceiver")
            os.killpg(proc.pid, signal.SIGHUP)  # (the server and its writer child)
            assert proc.wait(timeout=30) == 0
        finally:
            esme.close()
    finally:
        _kill_if_running(proc)
    deadline = time.monotonic() + 5  # (the reader thread takes the last lines)
    while time.monotonic() < deadline and not any('"event": "stopped"' in line for line in lines):
        time.sleep(0.05)
    events = [json.loads(line)["event"] for line in lines if line.startswith("{")]
    assert "stopping" in events and "stopped" in events, events
    assert "store_writer_died" not in events, [line for line in lines if "died" in line]

    proc, lines, port = serve(ignore_hup=True)
    try:
        os.killpg(proc.pid, signal.SIGHUP)
        time.sleep(0.5)
        assert proc.poll() is None
        esme = RawEsme(port)
        esme.bind("transceiver")  # (still serving)
        esme.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        _kill_if_running(proc)


def _kill_if_running(proc: "subprocess.Popen[str]") -> None:
    """End a ``smsc serve`` a test started, by its own process id, if the test did not stop it."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)


def _read_until_closed_answering_unbind(esme: RawEsme, max_reads: int = 100) -> list[Any]:
    """Every PDU the server sends until it closes the connection, its unbind answered at once (as smpplib and
    most clients do); at most ``max_reads`` reads of the socket timeout each."""
    from smsc.smpp.codec import Framer

    framer = Framer()
    got: list[Any] = []
    for _ in range(max_reads):
        data = esme.sock.recv(65536)
        if not data:
            return got
        for pdu in framer.feed(data):
            got.append(pdu)
            if isinstance(pdu, P.Unbind):
                esme.sock.sendall(encode(P.UnbindResp(sequence_number=pdu.sequence_number)))
    raise AssertionError(f"not closed after {max_reads} reads: {got}")


def test_an_inactivity_unbind_waits_for_a_submit_sm_resp_still_owed(
    smsc_factory: Callable[..., RunningSmsc],
) -> None:
    """Tester 180: the inactivity_timer (here 2 s) unbound a transmitter whose submit_sm_resp a carrier rule held
    5 s, and the connection closed with that response unsent (``responses_unsent``), while the message was
    delivered: the ESME never learnt its message_id and would submit it again.  The control API's unbind
    waited for it (tester 144); the timer's now does too."""
    server = smsc_factory(inactivity_timer=2.0, enquire_link_timer=60.0, response_timer=30.0)
    esme = RawEsme(server.port, timeout=10)
    try:
        esme.bind("transmitter")
        seq = esme.send(P.SubmitSm(source_addr_ton=5, source_addr="ACME", dest_addr_ton=1, dest_addr_npi=1,
                                   destination_addr=DELAYED, short_message=b"slow"))
        # Tester 181: at 3 s, the timer past while the SMSC itself held a response, the next submit was refused
        # (ESME_RINVBNDSTS): a transaction is not over while its response is owed (SMPP 3.4 section 7.2).
        time.sleep(3.0)
        second = esme.send(P.SubmitSm(source_addr_ton=5, source_addr="ACME", dest_addr_ton=1, dest_addr_npi=1,
                                      destination_addr="447700900123", short_message=b"next"))
        got = _read_until_closed_answering_unbind(esme)
    finally:
        esme.close()
    kinds = [type(p).__name__ for p in got]
    assert kinds == ["SubmitSmResp", "SubmitSmResp", "Unbind"], kinds
    answers = {p.sequence_number: (p.command_status, bool(p.message_id)) for p in got[:2]}
    assert answers == {seq: (0, True), second: (0, True)}


def test_an_unbind_of_the_smscs_own_answers_a_held_transaction_mode_data_sm_first(
    smsc_factory: Callable[..., RunningSmsc], tmp_path: Path,
) -> None:
    """Tester 180: a transaction-mode data_sm held for its delivery outcome (447700900250: 30 s) when the SMSC
    unbound on its own (the control API's unbind once its wait ran out, a dead link) got no answer at all, and
    its message was abandoned.  As at a stop or the ESME's own unbind: ESME_RDELIVERYFAILURE first, then the
    unbind (after the wait for the outcome: the response_timer, at least 5 s).  (The inactivity_timer does not
    run out while such a transaction is under way: tester 181.)"""
    from .conftest import api_request

    server = smsc_factory(make_config(tmp_path, response_timer=3.0), http=True)
    esme = RawEsme(server.port, timeout=15)
    try:
        esme.bind("transceiver")
        seq = esme.send(P.DataSm(source_addr_ton=1, source_addr_npi=1, source_addr="88123", dest_addr_ton=1,
                                 dest_addr_npi=1, destination_addr="447700900250", esm_class=0x02,
                                 tlvs={0x0424: b"hi"}))
        time.sleep(0.3)
        status, _ = api_request(server, "POST", "/api/binds/disconnect", {"system_id": "test"})
        assert status == 200
        got = _read_until_closed_answering_unbind(esme)
    finally:
        esme.close()
    kinds = [type(p).__name__ for p in got if not isinstance(p, P.EnquireLink)]
    assert kinds == ["DataSmResp", "Unbind"], kinds
    answer = next(p for p in got if isinstance(p, P.DataSmResp))
    assert answer.sequence_number == seq and answer.command_status == CommandStatus.ESME_RDELIVERYFAILURE
