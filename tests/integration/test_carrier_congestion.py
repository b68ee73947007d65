"""A congested carrier over a real socket: an smpplib ESME submitting to the bundled world's throttled carrier
(thames) given a ``queue_limit`` is refused with ESME_RMSGQFUL once that many messages wait, and the HTTP API and
the metrics show it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import smpplib.client
import smpplib.consts as C
import structlog.testing

from smsc.smpp.constants import CommandStatus

from .conftest import RunningSmsc, api_text, make_config, read_until, with_carriers

THAMES = "4477009007"  # + 2 digits: the throttled carrier's test numbers (its capacity is replaced below)


def test_an_esme_is_refused_with_rmsgqful_while_the_carriers_queue_is_full(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path) -> None:
    running = http_smsc(with_carriers(make_config(tmp_path), "thames", capacity=0.1, queue_limit=2))
    client = smpplib.client.Client("127.0.0.1", running.port, timeout=5, allow_unknown_opt_params=True)
    try:
        client.connect()
        client.bind_transmitter(system_id="test", password="test")
        statuses: dict[int, int] = {}
        client.set_message_sent_handler(lambda pdu: statuses.__setitem__(pdu.sequence, pdu.status))
        client.set_error_pdu_handler(lambda pdu: None)  # (an error status is an answer here, not an exception)
        sequences = []
        with structlog.testing.capture_logs() as logs:
            for i in range(5):
                pdu: Any = client.send_message(source_addr_ton=C.SMPP_TON_ALNUM, source_addr="ACME", dest_addr_ton=1,
                                               dest_addr_npi=1, destination_addr=f"{THAMES}{i:02d}",
                                               short_message=b"hello", registered_delivery=1)
                sequences.append(pdu.sequence)
                answered = i + 1
                read_until(client, lambda: len(statuses) == answered, max_pdus=5)  # one at a time: each commits
        # the first takes the carrier's one token at once; two wait for its capacity; the rest are refused
        assert [statuses[s] for s in sequences] == [0, 0, 0, CommandStatus.ESME_RMSGQFUL,
                                                    CommandStatus.ESME_RMSGQFUL]
        [thames] = [c for c in json.loads(api_text(running, "/api/carriers"))["carriers"] if c["name"] == "thames"]
        assert (thames["queued"], thames["queue_limit"], thames["queue_full_status"]) == (2, 2, "ESME_RMSGQFUL")
        [refused] = [e for e in logs if e["event"] == "submit_refused"]  # (the first of a kind is logged)
        assert refused["reason"] == ("carrier thames is congested: 2 messages wait for its capacity of 0.1 "
                                     "attempts/s, its queue_limit is 2")
        metrics = api_text(running, "/metrics")
        assert "\nsmsc_congested_total 2.0\n" in metrics
        assert 'smsc_carrier_queued{carrier="thames"} 2.0' in metrics
        assert 'smsc_carrier_down{carrier="thames"} 0.0' in metrics
    finally:
        client.disconnect()
