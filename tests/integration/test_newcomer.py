"""A newcomer's first five minutes: the installed ``smsc serve`` console script, the default config, smpplib."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import smpplib.client
import smpplib.consts as C

from .conftest import read_until



def _smsc_command() -> list[str]:
    script = Path(sys.executable).with_name("smsc")
    if script.exists():
        return [str(script)]
    found = shutil.which("smsc")
    assert found, "the smsc console script is not installed (pip install -e .)"
    return [found]


def _wait_for_port(proc: subprocess.Popen[str], lines: list[str], timeout: float = 30.0) -> int:
    """Read the child's stderr on a thread (so a silent child cannot block us) until the port line shows."""
    found: queue.Queue[int] = queue.Queue()

    def reader() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "listening" and record.get("protocol") == "smpp":
                found.put(int(record["port"]))

    threading.Thread(target=reader, daemon=True).start()
    try:
        return found.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("smsc serve did not report its port:\n" + "".join(lines)) from None


def test_installed_console_script_serves_default_config_and_sends_receipts(tmp_path: Path) -> None:
    lines: list[str] = []
    proc = subprocess.Popen(
        [*_smsc_command(), "serve", "--port", "0", "--host", "127.0.0.1", "--no-http", "--log-format", "json"],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        port = _wait_for_port(proc, lines)
        client = smpplib.client.Client("127.0.0.1", port, timeout=10, allow_unknown_opt_params=True)
        client.connect()
        try:
            client.bind_transceiver(system_id="test", password="test")
            resps: list[Any] = []
            receipts: list[Any] = []
            client.set_message_sent_handler(lambda pdu: resps.append(pdu))
            client.set_message_received_handler(lambda pdu: receipts.append(pdu))
            for i in range(5):
                client.send_message(
                    source_addr_ton=C.SMPP_TON_ALNUM, source_addr="ACME",
                    dest_addr_ton=C.SMPP_TON_INTL, dest_addr_npi=C.SMPP_NPI_ISDN, destination_addr="447700900123",
                    short_message=f"hello {i}".encode(), registered_delivery=1,
                )
            read_until(client, lambda: len(resps) == 5 and len(receipts) == 5, max_pdus=50)
            ids = {r.message_id.decode() for r in resps}
            assert len(ids) == 5 and all(r.status == 0 for r in resps)
            assert {r.receipted_message_id.decode() for r in receipts} == ids
            assert all(b"stat:DELIVRD" in r.short_message for r in receipts)
            client.unbind()
        finally:
            client.disconnect()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert any('"stopped"' in line for line in lines), "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
