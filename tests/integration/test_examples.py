"""The client example in examples/ runs as a user would run it, against a real smsc on 127.0.0.1."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .conftest import RunningSmsc

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/send_and_receive.py"


def run_example(*options: str) -> subprocess.CompletedProcess[str]:
    """The example as a child process from the repository root; on timeout ``subprocess.run`` kills that child."""
    return subprocess.run([sys.executable, EXAMPLE, *options], cwd=ROOT, capture_output=True, text=True, timeout=90)


def test_send_and_receive_example_gets_receipts_for_every_part_and_the_auto_reply(
        smsc_factory: Callable[..., RunningSmsc]) -> None:
    server = smsc_factory()  # the bundled default config on an OS-chosen port, stopped by the fixture
    run = run_example("--port", str(server.port), "--timeout", "30")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "bound as a transceiver" in run.stdout, output
    accepted = re.search(r"short message accepted: message_id=(\S+)", run.stdout)
    assert accepted, output
    assert "sent as 2 parts" in run.stdout, output
    receipted = re.findall(r"receipt for message_id=(\S+): stat=DELIVRD", run.stdout)
    assert len(receipted) == 3 and len(set(receipted)) == 3, output  # the short message and both parts
    assert receipted[0] == accepted.group(1), output
    assert len(re.findall(r"^ +id:\S+ .*stat:DELIVRD err:000", run.stdout, re.MULTILINE)) == 3, output
    assert "reply from 447700900901: '1234'" in run.stdout, output  # the keyword PIN's answer
    assert run.stdout.rstrip().endswith("unbound"), output
    assert "failed" not in output and "Traceback" not in output, output


def test_send_and_receive_example_bound_as_another_account_gets_its_own_auto_reply(
        smsc_factory: Callable[..., RunningSmsc]) -> None:
    """(tester 184) The bundled config routes every MO to the short code 88123 to system_id test, the auto-reply
    included: as another account the example sends from a long number no MO route names, so the reply comes back
    to it."""
    server = smsc_factory()
    run = run_example("--port", str(server.port), "--timeout", "30", "--system-id", "throttle",
                      "--password", "throttle")
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "reply from 447700900901: '1234'" in run.stdout, output
    assert "failed" not in output and "Traceback" not in output, output


def test_send_and_receive_example_without_a_server_fails_with_a_clear_message() -> None:
    with socket.socket() as unused:  # bound, not listening: a connection to it is refused
        unused.bind(("127.0.0.1", 0))
        run = run_example("--port", str(unused.getsockname()[1]), "--timeout", "5")
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stderr.strip().startswith("failed: no connection to 127.0.0.1:"), run.stderr
    assert "Traceback" not in run.stderr


def test_the_pytest_example_starts_smsc_on_free_ports_and_passes() -> None:
    """examples/test_with_smsc.py, the fixture a test suite can copy (tester 104: no recipe said how to start the
    simulator for a suite, wait until it listens and stop it), runs as a user runs it."""
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "-o", "addopts=", "-q",
                          "examples/test_with_smsc.py"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "4 passed" in run.stdout, run.stdout[-3000:]


def test_the_pytest_example_is_not_confused_by_receipts_an_earlier_test_left(tmp_path: Path) -> None:
    """Tester 118: the example read "the next PDU" as its submit_sm_resp and "the one receipt" as its own; a test
    before it that did not wait for its receipts made it fail (they come on the next bind of the module)."""
    source = (ROOT / "examples" / "test_with_smsc.py").read_text()
    first = source.index("def test_a_submitted_message_is_delivered_and_receipted")
    careless = '''def test_that_does_not_wait_for_its_receipts(esme: Esme) -> None:
    for _ in range(3):
        esme.client.send_message(source_addr="MyBrand", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                 destination_addr=DELIVERED_AT_ONCE, short_message=b"x", registered_delivery=1)


'''
    (tmp_path / "test_copied.py").write_text(source[:first] + careless + source[first:])
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "-o", "addopts=", "-q",
                          "test_copied.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "5 passed" in run.stdout, run.stdout[-3000:]


def test_the_pytest_example_reads_the_ports_at_log_level_warning_too(tmp_path: Path) -> None:
    """Tester 130: at --log-level warning one "listening" line names both listeners ({"smpp": "HOST:PORT", ...}),
    and the fixture's log reader died on it (KeyError), then waited its 30 s for ports it had been given."""
    source = (ROOT / "examples" / "test_with_smsc.py").read_text()
    quiet = source.replace('"--seed", "1", "--log-format", "json"]', '"--seed", "1", "--log-format", "json", '
                                                                     '"--log-level", "warning"]')
    assert quiet != source
    (tmp_path / "test_quiet.py").write_text(quiet)
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "-o", "addopts=", "-q",
                          "test_quiet.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "4 passed" in run.stdout, run.stdout[-3000:]
