"""Tester 155: receipts offered while the store's commits stalled. A receipt is offered before its message's final
state is committed (docs/architecture.md), which a crash then may lose; with the writer child stopped for half a
second (a disk that hangs) and a crash after it, 697 of 1,000 messages the ESME had been told were DELIVERED were
waiting again at the restart and expired: two receipts that disagree.  While commits lag, a receipt now waits for
its commit, as an MO does.  The writer child here is stopped for real (SIGSTOP) and let go (SIGCONT)."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any, Callable

from smsc.core.store.sqlite import COMMIT_LAG_SECONDS, SqliteStore
from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus

from .conftest import RawEsme, RunningSmsc, api_request, make_config, wait_until

LATE = "447700900250"  # delivered 30 s after the attempt (README, "Test numbers"): its outcome is a timer
DELIVERED_AT_ONCE = "447700900123"


def _submit(destination: str) -> P.SubmitSm:
    return P.SubmitSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                      destination_addr=destination, short_message=b"code 4321", registered_delivery=1)


def _deliveries_within(esme: RawEsme, seconds: float) -> list[Any]:
    """What the ESME reads in ``seconds`` (deliver_sm acknowledged as they come)."""
    deadline = time.monotonic() + seconds
    esme.sock.settimeout(0.05)
    try:
        while time.monotonic() < deadline:
            try:
                esme._read()
            except socket.timeout:
                continue
    finally:
        esme.sock.settimeout(5.0)
    return list(esme.delivered)


def test_a_receipt_waits_for_its_commit_while_the_store_stalls(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path) -> None:
    # (at time_scale 20 the attempt's 30 simulated seconds last 1.5 real s: its outcome comes while the writer
    # is stopped; a jump of the clock would wait for the stopped writer first)
    cfg = make_config(tmp_path)
    running = http_smsc(dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation, time_scale=20.0)))
    store = running.app.store
    assert isinstance(store, SqliteStore) and store.writer_pid is not None
    esme = RawEsme(running.port)
    writer = store.writer_pid
    stopped = False
    try:
        esme.bind("transceiver")
        late = esme.request(_submit(LATE)).message_id  # its attempt is under way for 30 simulated seconds
        wait_until(lambda: api_request(running, "GET", f"/api/messages/{late}")[1]["attempt_in_progress"],
                   what="the attempt under way")

        os.kill(writer, signal.SIGSTOP)
        stopped = True
        esme.send(_submit(DELIVERED_AT_ONCE))  # its commit goes to the stopped writer and waits there
        time.sleep(COMMIT_LAG_SECONDS * 4)
        assert running.call(store.commits_lagging)
        # The attempt's outcome comes: DELIVERED, whose state is not on disk while the writer is stopped, so
        # neither is its receipt offered.
        wait_until(lambda: api_request(running, "GET", f"/api/messages/{late}")[1]["state"] == "DELIVERED",
                   what="the attempt's outcome")
        during = _deliveries_within(esme, 0.6)
        assert during == [], [d.short_message for d in during]

        os.kill(writer, signal.SIGCONT)
        stopped = False
        esme.wait_deliveries(2)
        receipts = [d.short_message for d in esme.delivered]
        assert sum(b"stat:DELIVRD" in r for r in receipts) == 2, receipts
        assert any(f"id:{late}".encode() in r for r in receipts), receipts
        responses = [p for p in esme.pending if isinstance(p, P.SubmitSmResp)]
        assert [r.command_status for r in responses] == [CommandStatus.ESME_ROK]
    finally:
        if stopped:
            os.kill(writer, signal.SIGCONT)
        esme.close()
