"""A simulation clock past 2037 over real TCP (tester9 finding 1).

SMPP's two-digit year names 1938-2037 only (SMPP 3.4 section 7.1.1, Appendix C).  A fast ``time_scale``, whose
clock the SQLite store carries across restarts, passes 2037 in the end; the receipt's dates and query_sm's
final_date then raised ValueError, which failed the receipt timer and closed the ESME's connection.  Now those
dates are written as the last instant the year can name, and everything else goes on as before.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from smsc.app import App
from smsc.core.clock import SystemClock
from smsc.smpp import pdu as P
from smsc.smpp.receipt import parse_receipt_text

from .conftest import RawEsme, RunningSmsc, make_config

#: A number of the default world that is delivered at once (rule in smsc/data/default.yaml).
DELIVERED_AT_ONCE = "12125550100"


def test_receipt_and_query_sm_in_2051_carry_the_last_date_smpp_can_write(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    server = RunningSmsc(config)
    start = datetime(2051, 3, 4, 5, 6, tzinfo=timezone.utc).timestamp()
    server.app = App(config, clock=SystemClock(time_scale=1.0, start=start))
    server.start()
    esme = RawEsme(server.port)
    try:
        esme.bind()
        resp = esme.request(P.SubmitSm(source_addr="ACME", destination_addr=DELIVERED_AT_ONCE, dest_addr_ton=1,
                                       dest_addr_npi=1, registered_delivery=1, short_message=b"after 2037"))
        assert resp.command_status == 0
        [receipt_pdu] = esme.wait_deliveries(1)
        receipt = parse_receipt_text(receipt_pdu.short_message.decode("ascii"))
        assert (receipt.message_id, receipt.stat) == (resp.message_id, "DELIVRD")
        assert b"submit date:3712312359 done date:3712312359 " in receipt_pdu.short_message
        query = esme.request(P.QuerySm(message_id=resp.message_id, source_addr="ACME"))
        assert (query.command_status, query.final_date) == (0, "371231235959900+")
        # The session is still there: a second message goes the same way.
        again = esme.request(P.SubmitSm(source_addr="ACME", destination_addr=DELIVERED_AT_ONCE, dest_addr_ton=1,
                                        dest_addr_npi=1, registered_delivery=1, short_message=b"again"))
        assert again.command_status == 0 and len(esme.wait_deliveries(2)) == 2
    finally:
        esme.close()
        server.stop()
