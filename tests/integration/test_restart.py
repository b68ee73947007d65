"""Durability across a crash: SIGKILL the server process mid-load, restart it on the same SQLite file, and
every message whose submit_sm_resp said status 0 is still there, and every receipt still owed arrives."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus, MessageState, Tag

from .conftest import RawEsme, smsc_command, wait_for_port

DELIVERED_AT_ONCE = "447700900123"
NEVER_ONLINE = "447700900400"


def _start(tmp_path: Path, db: Path) -> tuple[subprocess.Popen[str], int]:
    lines: list[str] = []
    proc = subprocess.Popen(
        [*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--no-http", "--log-format", "json",
         "--db", str(db)],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        return proc, wait_for_port(proc, lines)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def test_sigkill_mid_load_loses_no_accepted_message_and_no_owed_receipt(tmp_path: Path) -> None:
    db = tmp_path / "smsc.sqlite"
    proc, port = _start(tmp_path, db)
    accepted: dict[str, str] = {}  # message_id -> destination
    try:
        esme = RawEsme(port)
        esme.bind("transmitter")  # no receiver bound: every receipt stays owed in the outbox
        sent: dict[int, str] = {}
        for i in range(3000):
            destination = DELIVERED_AT_ONCE if i % 2 else NEVER_ONLINE
            seq = esme.send(P.SubmitSm(source_addr_ton=5, source_addr="ACME", dest_addr_ton=1, dest_addr_npi=1,
                                       destination_addr=destination, short_message=b"m%d" % i,
                                       registered_delivery=1))
            sent[seq] = destination
        # Read some of the answers, then kill the server while the rest are still in flight.
        for _ in range(100):
            if sum(1 for p in esme.pending if isinstance(p, P.SubmitSmResp)) >= 150:
                break
            esme._read()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        try:
            for _ in range(100):
                esme._read()
        except (ConnectionError, OSError):
            pass
        esme.close()
        for p in esme.pending:
            if isinstance(p, P.SubmitSmResp) and p.command_status == CommandStatus.ESME_ROK:
                accepted[p.message_id] = sent[p.sequence_number]
    finally:
        _stop(proc)
    assert len(accepted) >= 150

    proc, port = _start(tmp_path, db)
    try:
        esme = RawEsme(port)
        esme.bind("transceiver")
        for message_id, destination in accepted.items():
            q = esme.request(P.QuerySm(message_id=message_id, source_addr_ton=5, source_addr="ACME"))
            assert q.command_status == CommandStatus.ESME_ROK, f"{message_id} lost across the restart"
            if destination == NEVER_ONLINE:
                assert q.message_state == MessageState.ENROUTE
        delivered_ids = {m for m, d in accepted.items() if d == DELIVERED_AT_ONCE}
        deadline = time.monotonic() + 30
        for _ in range(20_000):  # bounded in count and time
            got = {d.tlvs.get(Tag.receipted_message_id) for d in esme.delivered}
            if delivered_ids <= got or time.monotonic() > deadline:
                break
            esme._read()
        got = {d.tlvs.get(Tag.receipted_message_id) for d in esme.delivered}
        assert delivered_ids <= got, f"{len(delivered_ids - got)} owed receipts lost"
        esme.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        finally:
            _stop(proc)
