"""Durability across a crash: SIGKILL the server process mid-load, restart it on the same SQLite file, and
every message whose submit_sm_resp said status 0 is still there, and every receipt still owed arrives."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

from smsc.app import App
from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus, MessageState, Tag
from smsc.smpp.text import concat_info

from .conftest import RawEsme, smsc_command, start_on_fake_clock, wait_for_port

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


def _terminate(proc: subprocess.Popen[str]) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL if it takes more than 20 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    finally:
        _stop(proc)


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
        _terminate(proc)


def _http_port(lines: list[str]) -> int:
    import json

    for _ in range(300):  # bounded: 3 s after the SMPP port showed
        for line in list(lines):
            if '"protocol": "http"' in line:
                return int(json.loads(line)["port"])
        time.sleep(0.01)
    raise AssertionError("smsc serve did not report its HTTP port:\n" + "".join(lines))


def test_an_mo_the_http_api_accepted_survives_a_sigkill_right_after_the_202(tmp_path: Path) -> None:
    """POST /api/mo answers 202 only once the MO is on disk: it exists nowhere else (tester's finding: 10 of 10
    were lost when the answer came before the commit)."""
    import http.client
    import json

    db = tmp_path / "smsc.sqlite"
    texts = [f"mo before the crash {i}" for i in range(3)]
    for text in texts:
        lines: list[str] = []
        proc = subprocess.Popen(
            [*smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--http-host", "127.0.0.1",
             "--http-port", "0", "--log-format", "json", "--db", str(db)],
            cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            wait_for_port(proc, lines)
            conn = http.client.HTTPConnection("127.0.0.1", _http_port(lines), timeout=10)
            conn.request("POST", "/api/mo", json.dumps({"from": "447700900123", "to": "88123", "text": text}),
                         {"Content-Type": "application/json"})
            assert conn.getresponse().status == 202
            os.kill(proc.pid, signal.SIGKILL)  # at once: no time for a commit that was not waited for
        finally:
            _stop(proc)

    proc, port = _start(tmp_path, db)
    try:
        esme = RawEsme(port)
        esme.bind("receiver")  # system_id "test": the MO route of short code 88123 in the default config
        got = [d.short_message.decode() for d in esme.wait_deliveries(len(texts))]
        assert sorted(got) == sorted(texts)
        esme.close()
    finally:
        _terminate(proc)


async def test_a_long_mo_after_a_restart_takes_a_reference_the_owed_ones_do_not_have(tmp_path: Path) -> None:
    """Tester 139: the MO concatenation reference started at 1 in each process, so two long MOs from one handset,
    one owed from before a restart and one after it, both went out as reference 1 (an ESME reassembling by sender
    and reference mixes their parts)."""
    path = tmp_path / "smsc.sqlite"
    long_text = "x" * 200  # two GSM parts
    app = await start_on_fake_clock(path, "sqlite", 1_767_225_600.0)
    try:
        assert app.smsc is not None
        app.smsc.inject_mo("447700900123", "88123", text=long_text)  # no receiver bound: owed
        await _durable(app)
    finally:
        await app.stop()
    again = await start_on_fake_clock(path, "sqlite", 1_767_225_660.0)
    try:
        assert again.smsc is not None
        again.smsc.inject_mo("447700900123", "88123", text=long_text)
        await _durable(again)
        owed = again.smsc.outbox.pending("test")
        references = [concat_info(d.esm_class, d.short_message, d.tlvs) for d in owed]
        assert [(c.reference, c.seq) for c in references if c is not None] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    finally:
        await again.stop()


async def _durable(app: App) -> None:
    """Until what the core recorded so far is committed (the SQLite writer child: up to 5 s)."""
    assert app.smsc is not None
    done = asyncio.get_running_loop().create_future()
    app.smsc.when_durable(lambda: done.done() or done.set_result(None))
    await asyncio.wait_for(done, 5.0)
