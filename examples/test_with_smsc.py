"""How a test suite can use smsc: a pytest module whose fixture starts the simulator on free ports and stops it.

Each test module gets a fresh simulator (the memory store, a fixed seed): nothing a test leaves behind (receipts
still owed, an opted-out handset, a handset switched off) reaches the next module.  A fresh server starts in
about a second on a 2-core machine; use ``scope="function"`` for a fresh one per test.

Run it from the repository root, with smsc and its test extra installed (``pip install -e '.[test]'``)::

    python -m pytest examples/test_with_smsc.py

The fixture reads the ports from the ``listening`` lines of the JSON log (``--port 0 --http-port 0``: the system
picks free ones, so parallel runs do not clash), waits at most 30 s for them, and stops the server by its own
process id (SIGTERM: it answers what it owes, unbinds, then exits).  What takes simulated minutes or hours (a
validity period running out, a handset off for 2 minutes) a test gets by stepping the clock: ``POST /api/clock
{"advance": seconds}`` runs at once, in order, what falls due meanwhile
(:func:`test_a_validity_period_runs_out_when_the_clock_is_stepped`); start the server with ``--time-scale 0.001``
to keep the clock nearly still between steps (README, "In a test suite").  ``Smsc.log`` is filled by a thread as the server writes: a
test that looks for a log line waits for it (:meth:`Smsc.wait_log`).
"""

from __future__ import annotations

import ctypes
import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.consts

DELIVERED_AT_ONCE = "447700900123"  # test numbers of the bundled config (README, "Test numbers"): delivered at once
UNKNOWN_SUBSCRIBER = "447700900550"  # accepted, then UNDELIV err:001
REFUSED = "447700900910"  # submit_sm_resp ESME_RSUBMITFAIL
NEVER_ON = "447700900450"  # a handset never on: the message expires at the end of its validity period
ANSWERS_KEYWORDS = "447700900901"  # a handset that answers the keyword PIN with 1234


@dataclass
class Smsc:
    """A running simulator: its SMPP and HTTP ports, and the log lines it wrote so far."""

    smpp_port: int
    http_port: int
    log: list[dict[str, Any]]

    def wait_log(self, event: str, seconds: float = 10.0) -> dict[str, Any]:
        """The first log record of ``event`` (as ``"event": "bound"``), waited for up to ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            found = next((r for r in list(self.log) if r.get("event") == event), None)
            if found is not None:
                return found
            assert time.monotonic() < deadline, f"no {event!r} in the log within {seconds:g} s"
            time.sleep(0.02)

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call the HTTP control API; the decoded JSON answer (an error status raises HTTPError)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.http_port}{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


def _smsc_command() -> list[str]:
    """The ``smsc`` command installed beside this Python, else on PATH, else ``python -m smsc``."""
    script = shutil.which("smsc", path=str(Path(sys.executable).parent)) or shutil.which("smsc")
    return [script] if script else [sys.executable, "-m", "smsc"]


def _stop_with_this_process() -> None:
    """In the server's process before it starts (Linux): SIGTERM when the test process ends, however it ends (a CI
    job's timeout killing pytest runs no fixture teardown), so that no simulator is left holding its ports.  (Linux
    ties it to the thread that started the server: start it from the main thread, as pytest runs fixtures, or from
    a thread that lives as long as the server should.)"""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # (not Linux: the fixture's teardown stops it)


@pytest.fixture(scope="module")
def smsc() -> Iterator[Smsc]:
    proc = subprocess.Popen([*_smsc_command(), "serve", "--store", "memory", "--port", "0", "--http-port", "0",
                             "--seed", "1", "--log-format", "json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_stop_with_this_process if sys.platform == "linux" else None)
    lines: list[dict[str, Any]] = []
    plain: list[str] = []  # (what is not JSON: why the command refused to start, a usage error)
    ports: queue.Queue[tuple[str, int]] = queue.Queue()

    def read_log() -> None:  # (on a thread: a server that writes nothing cannot block the test)
        assert proc.stderr is not None
        for line in proc.stderr:
            try:
                record = json.loads(line)
            except ValueError:
                plain.append(line.rstrip())
                continue
            if not isinstance(record, dict):
                plain.append(line.rstrip())
                continue
            lines.append(record)
            if record.get("event") == "listening":
                if "protocol" in record:  # one line per listener, at --log-level info or debug
                    ports.put((record["protocol"], int(record["port"])))
                else:  # one line for all, {"smpp": "HOST:PORT", "http": ...}, at warning or error
                    for protocol in ("smpp", "http"):
                        if protocol in record:
                            ports.put((protocol, int(str(record[protocol]).rpartition(":")[2])))

    threading.Thread(target=read_log, daemon=True).start()
    try:
        found: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while len(found) < 2:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.poll() is not None:
                time.sleep(0.2)  # (the reader takes the last lines)
                errors = [r.get("error", "") for r in lines if r.get("level") == "error"]  # (every config error)
                raise RuntimeError(f"smsc did not start (exit status {proc.poll()}): "
                                   + "; ".join(plain[-5:] + (errors or [json.dumps(r) for r in lines[-3:]])))
            try:
                protocol, port = ports.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            found[protocol] = port
        yield Smsc(smpp_port=found["smpp"], http_port=found["http"], log=lines)
    finally:
        proc.terminate()  # by its own process id
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Esme:
    """An smpplib client bound as transceiver, with what it has read: ``received`` the deliver_sm (receipts and MO)
    in order, ``responses`` the submit_sm_resp by sequence number.

    Tests match what they read by sequence number and message_id, never by order: the module's server is shared, so
    a receipt a previous test did not wait for (or left unacknowledged at its unbind, which the SMSC then offers
    again) may come first on the next bind."""

    client: smpplib.client.Client
    received: list[Any]
    responses: dict[int, Any]

    def read_until(self, done: Callable[[], bool], seconds: float = 10.0) -> None:
        """Read PDUs (each read waits up to the client's timeout) until ``done()``; AssertionError after
        ``seconds``."""
        deadline = time.monotonic() + seconds
        while not done():
            assert time.monotonic() < deadline, "not there in time"
            self.client.read_once()

    def submit(self, destination: str, text: bytes, **fields: Any) -> Any:
        """submit_sm from the sender ID MyBrand to ``destination``; its submit_sm_resp (``.status``, and
        ``.message_id`` when the status is 0)."""
        pdu = self.client.send_message(source_addr="MyBrand", source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
                                       dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                                       dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN, destination_addr=destination,
                                       short_message=text, **fields)
        self.read_until(lambda: pdu.sequence in self.responses)
        return self.responses.pop(pdu.sequence)

    def receipt_for(self, message_id: str) -> Any:
        """The first receipt whose receipted_message_id is ``message_id``, read as it comes."""
        def mine() -> list[Any]:
            return [r for r in self.received if r.receipted_message_id == message_id.encode()]
        self.read_until(lambda: bool(mine()))
        return mine()[0]


@pytest.fixture
def esme(smsc: Smsc) -> Iterator[Esme]:
    """A transceiver bound as ``test``/``test``."""
    received: list[Any] = []
    responses: dict[int, Any] = {}
    client = smpplib.client.Client("127.0.0.1", smsc.smpp_port, timeout=5, allow_unknown_opt_params=True)
    client.set_message_received_handler(lambda pdu: received.append(pdu))
    client.set_message_sent_handler(lambda pdu: responses.__setitem__(pdu.sequence, pdu))
    # smpplib raises on a response with an error status unless told otherwise: keep it as an answer to look at.
    client.set_error_pdu_handler(lambda pdu: None)
    client.connect()
    client.bind_transceiver(system_id="test", password="test")
    try:
        yield Esme(client, received, responses)
    finally:
        client.unbind()  # (a receipt read here instead of the unbind_resp is offered again on the next bind)
        client.disconnect()


def test_a_submitted_message_is_delivered_and_receipted(esme: Esme, smsc: Smsc) -> None:
    response = esme.submit(DELIVERED_AT_ONCE, b"Your code is 123456", registered_delivery=1)
    assert response.status == 0
    message_id = response.message_id.decode()
    receipt = esme.receipt_for(message_id)
    assert b"stat:DELIVRD" in receipt.short_message
    # What the SMSC received, asked of its control API.
    record = smsc.api("GET", f"/api/messages/{message_id}")
    assert (record["state"], record["text"], record["sms_count"]) == ("DELIVERED", "Your code is 123456", 1)


def test_a_number_that_fails_gets_its_status_or_its_receipt(esme: Esme) -> None:
    assert esme.submit(REFUSED, b"Your code is 654321").status == smpplib.consts.SMPP_ESME_RSUBMITFAIL
    response = esme.submit(UNKNOWN_SUBSCRIBER, b"Your code is 654321", registered_delivery=1)
    assert response.status == 0  # accepted; the network then fails it
    receipt = esme.receipt_for(response.message_id.decode())
    assert b"stat:UNDELIV err:001" in receipt.short_message


def test_a_handset_reply_reaches_the_esme(esme: Esme, smsc: Smsc) -> None:
    smsc.api("POST", "/api/mo", {"from": ANSWERS_KEYWORDS, "to": "88123", "text": "hello"})
    esme.read_until(lambda: any(r.short_message == b"hello" for r in esme.received))
    (mo,) = [r for r in esme.received if r.short_message == b"hello"]
    assert mo.source_addr.decode() == ANSWERS_KEYWORDS and mo.destination_addr.decode() == "88123"


def test_a_validity_period_runs_out_when_the_clock_is_stepped(esme: Esme, smsc: Smsc) -> None:
    # One hour of validity (a relative time, SMPP 3.4 section 7.1.2), to a handset that is never on: step the
    # simulated clock past it instead of waiting an hour.
    response = esme.submit(NEVER_ON, b"Your code is 777777", registered_delivery=1, validity_period="000000010000000R")
    assert response.status == 0
    message_id = response.message_id.decode()
    assert smsc.api("GET", f"/api/messages/{message_id}")["final"] is False
    clock = smsc.api("POST", "/api/clock", {"advance": 3601})
    assert clock["advanced"] == 3601
    assert b"stat:EXPIRED err:006" in esme.receipt_for(message_id).short_message
    assert smsc.api("GET", f"/api/messages/{message_id}")["state"] == "EXPIRED"
