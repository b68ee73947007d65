"""Value checks on submits (SMPP 3.4 chapter 5): each bad field gets its own status."""

from __future__ import annotations

from typing import Any

import pytest

from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus as S
from smsc.smpp.validate import check_submit


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({}, S.ESME_ROK),
        ({"source_addr_ton": 5, "dest_addr_ton": 1, "dest_addr_npi": 1}, S.ESME_ROK),
        ({"source_addr_ton": 7}, S.ESME_RINVSRCTON),
        ({"source_addr_npi": 2}, S.ESME_RINVSRCNPI),
        ({"dest_addr_ton": 0xFF}, S.ESME_RINVDSTTON),
        ({"dest_addr_npi": 5}, S.ESME_RINVDSTNPI),
        ({"esm_class": 0x04}, S.ESME_RINVESMCLASS),  # a receipt is SMSC -> ESME only
        ({"esm_class": 0x20}, S.ESME_RINVESMCLASS),
        ({"esm_class": 0x02}, S.ESME_RINVESMCLASS),  # transaction mode is data_sm only
        ({"esm_class": 0x43}, S.ESME_ROK),  # UDHI + store and forward
        ({"esm_class": 0x08}, S.ESME_ROK),
        ({"registered_delivery": 0x20}, S.ESME_RINVREGDLVFLG),
        ({"registered_delivery": 0x11}, S.ESME_ROK),
        ({"priority_flag": 4}, S.ESME_RINVPRTFLG),
    ],
)
def test_submit_sm_field_values(fields: dict[str, Any], status: int) -> None:
    assert check_submit(P.SubmitSm(**fields)) == status


def test_data_sm_may_use_transaction_mode() -> None:
    assert check_submit(P.DataSm(esm_class=0x02)) == S.ESME_ROK


def test_submit_multi_checks_every_sme_address() -> None:
    good = P.SmeAddress(dest_addr_ton=1, dest_addr_npi=1, destination_addr="447700900123")
    bad = P.SmeAddress(dest_addr_ton=9, dest_addr_npi=1, destination_addr="447700900124")
    assert check_submit(P.SubmitMulti(dest_addresses=[good, P.DistributionList(dl_name="x")])) == S.ESME_ROK
    assert check_submit(P.SubmitMulti(dest_addresses=[good, bad])) == S.ESME_RINVDSTTON
