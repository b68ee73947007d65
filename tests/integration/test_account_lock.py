"""PUT /api/accounts/{system_id}: a locked account's binds are refused with ESME_RBINDFAIL, as a carrier's SMSC
refuses an ESME for a while, so that its reconnection back-off can be tested (tester 144); over real sockets."""

from __future__ import annotations

from typing import Callable

import structlog.testing

from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus

from .conftest import RawEsme, RunningSmsc, api_request, wait_until

Start = Callable[..., RunningSmsc]


def _bind_status(running: RunningSmsc) -> int:
    esme = RawEsme(running.port)
    try:
        resp = esme.request(P.BindTransceiver(system_id="test", password="test"))
        return int(resp.command_status)
    finally:
        esme.close()


def test_a_locked_account_is_refused_binds_until_unlocked_and_the_bound_ones_go_on(http_smsc: Start) -> None:
    running = http_smsc()
    bound = RawEsme(running.port)
    try:
        bound.bind("transmitter")
        status, accounts = api_request(running, "GET", "/api/accounts")
        assert status == 200
        [test] = [a for a in accounts["accounts"] if a["system_id"] == "test"]
        assert test["bound"] == 1 and test["locked"] is False and "password" not in test
        with structlog.testing.capture_logs() as logs:
            status, test = api_request(running, "PUT", "/api/accounts/test", {"locked": True})
            assert status == 200 and test["locked"] is True
            assert _bind_status(running) == CommandStatus.ESME_RBINDFAIL
        [refused] = [e for e in logs if e["event"] == "bind_refused"]
        assert refused["reason"].startswith("the account is locked by the control API")
        assert bound.request(P.EnquireLink()).command_status == 0  # (the bind made before goes on)
        assert api_request(running, "PUT", "/api/accounts/test", {"locked": False})[1]["locked"] is False
        assert _bind_status(running) == 0
    finally:
        bound.close()


def test_a_timed_lock_ends_by_itself_and_requests_are_checked(http_smsc: Start) -> None:
    running = http_smsc()
    status, test = api_request(running, "PUT", "/api/accounts/test", {"locked": True, "for": 0.3})
    assert status == 200 and test["unlocks_at"].endswith("Z")
    assert _bind_status(running) == CommandStatus.ESME_RBINDFAIL
    wait_until(lambda: not api_request(running, "GET", "/api/accounts/test")[1]["locked"], what="the unlock")
    assert _bind_status(running) == 0
    status, body = api_request(running, "PUT", "/api/accounts/nobody", {"locked": True})
    assert status == 404 and body["error"].startswith('no account has system_id "nobody"')
    for bad in ({}, {"locked": "yes"}, {"locked": False, "for": 3}, {"locked": True, "for": -1},
                {"locked": True, "why": "x"}):
        assert api_request(running, "PUT", "/api/accounts/test", bad)[0] == 400, bad
