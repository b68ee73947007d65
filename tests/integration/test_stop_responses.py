"""A server that stops answers every submit it accepted before it unbinds, also one whose response a carrier
rule delays (447700900914 of the bundled config: ``submit: {delay: 5s}``, longer than the stop's grace).

Found by a tester: the message was on disk but its submit_sm_resp never left, so the ESME could not learn its
message_id and would submit it again; after the restart both copies were delivered."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from smsc.smpp import pdu as P
from smsc.smpp.codec import Framer, encode
from smsc.smpp.constants import CommandStatus

from .conftest import RunningSmsc, make_config

DELAYED = "447700900914"


def _read_until_unbind(sock: socket.socket, framer: Framer, max_reads: int = 50) -> list[P.Pdu]:
    got: list[P.Pdu] = []
    for _ in range(max_reads):
        data = sock.recv(65536)
        if not data:
            break
        got.extend(framer.feed(data))  # type: ignore[arg-type]
        if any(isinstance(p, P.Unbind) for p in got):
            break
    return got


def test_a_stop_answers_a_submit_a_rule_delays_before_it_unbinds(
    smsc_factory: Callable[..., RunningSmsc], tmp_path: Path,
) -> None:
    server = smsc_factory()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    framer = Framer()
    try:
        sock.sendall(encode(P.BindTransceiver(sequence_number=1, system_id="test", password="test")))
        (bound,) = _read_count(sock, framer, 1)
        assert bound.command_status == 0
        sock.sendall(encode(P.SubmitSm(sequence_number=2, source_addr_ton=5, source_addr="ACME", dest_addr_ton=1,
                                       dest_addr_npi=1, destination_addr=DELAYED, short_message=b"slow")))
        deadline = time.monotonic() + 5
        while server.call(lambda: server.app.smsc.stats.submitted) < 1:  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.2)  # (its commit: the response now waits only for the rule's 5 s)
        started = time.monotonic()
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        got = _read_until_unbind(sock, framer)
        unbind = got[-1]
        assert isinstance(unbind, P.Unbind), got
        sock.sendall(encode(P.UnbindResp(sequence_number=unbind.sequence_number)))
        stopper.join(timeout=15)
        assert not stopper.is_alive() and time.monotonic() - started < 3.0  # (not the rule's 5 s)
        resps = [p for p in got if isinstance(p, P.SubmitSmResp)]
        assert [(r.sequence_number, r.command_status) for r in resps] == [(2, CommandStatus.ESME_ROK)]
        message_id = resps[0].message_id
    finally:
        sock.close()

    # The id the ESME learned names the message the store kept.
    again = smsc_factory(make_config(tmp_path))
    msg = again.call(lambda: again.app.smsc.message(message_id))  # type: ignore[union-attr]
    assert msg is not None and msg.destination.addr == DELAYED


def _read_count(sock: socket.socket, framer: Framer, count: int) -> list[P.Pdu]:
    got: list[P.Pdu] = []
    for _ in range(50):
        if len(got) >= count:
            break
        data = sock.recv(65536)
        assert data, "the server closed the connection"
        got.extend(framer.feed(data))  # type: ignore[arg-type]
    return got
