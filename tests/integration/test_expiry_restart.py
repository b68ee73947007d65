"""A message that waited behind its handset's absence and expired while the server was down still says why
(README: "if it expires there, its receipt says why as that one's does (err:006 ...), not err:000").

The real application on the bundled config (447700900400: the handset is never on), a real SQLite file and a
fake clock.  Found by a chaos-testing tester: such a message, past its validity when the server came back, was
expired without the number's wait (it lived in memory) and got err:000."""

from __future__ import annotations

import asyncio
from pathlib import Path

from smsc.core.clock import FakeClock
from smsc.smpp.constants import MessageState

from .conftest import start_on_fake_clock, submit_accepted

NEVER_ON = "447700900400"
START = FakeClock.DEFAULT_START


async def test_a_message_queued_behind_an_absent_handset_expires_with_its_cause_after_a_restart(
        tmp_path: Path) -> None:
    path = tmp_path / "expiry.sqlite"
    app = await start_on_fake_clock(path, "sqlite", START)
    try:
        assert app.smsc is not None
        first = await submit_accepted(app, NEVER_ON, validity_period="000000000100000R")  # 1 minute
        app.smsc.advance(5.0)  # its attempt finds the handset absent: the number waits for it, err:006
        head = app.smsc.message(first)
        assert (head.state, head.error_code) == (MessageState.ENROUTE, 6)
        second = await submit_accepted(app, NEVER_ON, validity_period="000000000500000R")  # 5 minutes
        app.smsc.advance(5.0)
        queued = app.smsc.message(second)
        assert queued.state == MessageState.ENROUTE and not queued.attempts  # (joined the wait, no attempt)
        assert queued.error_code == 6  # (carried from the wait, saved with it)
        app.smsc.advance(60.0)  # the first expires; the second still waits
        assert app.smsc.message(first).state == MessageState.EXPIRED
        done = asyncio.Event()
        app.smsc.when_durable(done.set)
        await asyncio.wait_for(done.wait(), 10)
        await app.stop()
        app = await start_on_fake_clock(path, "sqlite", START + 400.0)  # back after the second's validity
        assert app.smsc is not None
        app.smsc.advance(1.0)
        for _ in range(20):  # (a waiting message evicted to the file is read back off the loop)
            await asyncio.sleep(0.01)
        app.smsc.advance(1.0)
        ended = app.smsc.message(second)
        assert (ended.state, ended.error_code) == (MessageState.EXPIRED, 6)
        # expired when its validity ended, while the server was down (tester 26: the restart's time)
        assert ended.final_time == ended.expiry_time < START + 400.0
        assert ended.attempts[-1].time == ended.expiry_time
        receipts = [d.short_message for d in app.smsc.deliveries("test") if second.encode() in d.short_message]
        assert len(receipts) == 1 and b"stat:EXPIRED err:006" in receipts[0]
    finally:
        await app.stop()
