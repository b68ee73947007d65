"""A number rule's offline spell (``offline: 10m``) runs on across a restart instead of starting again.

The real application on the bundled config (``447700900920``: handset memory full for 10 minutes, then
delivered), a real SQLite file and a fake clock; the restart is a new App on the same file.  Found by a tester:
each restart started the 10 minutes again, so under repeated restarts the message expired.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from smsc.app import App
from smsc.core.clock import FakeClock
from smsc.smpp.constants import MessageState

from .conftest import start_on_fake_clock, submit_accepted

MEMORY_FULL = "447700900920"
START = FakeClock.DEFAULT_START


async def _advance(app: App, seconds: float) -> None:
    """Move the fake clock on, then let the loop run what the timers started (a waiting message evicted to the
    SQLite file is read back off the loop before its attempt)."""
    assert app.smsc is not None
    app.smsc.advance(seconds)
    for _ in range(20):
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("restarts", [1, 3])
async def test_the_memory_full_spell_ends_ten_minutes_after_it_began_whatever_the_restarts(
        tmp_path: Path, restarts: int) -> None:
    path = tmp_path / "spell.sqlite"
    app = await start_on_fake_clock(path, "sqlite", START)
    try:
        message_id = await submit_accepted(app, MEMORY_FULL)
        assert app.smsc is not None
        app.smsc.advance(5.0)  # the first attempt (1 s latency) finds the memory full: the 10 minutes begin
        assert app.smsc.message(message_id).state == MessageState.ENROUTE
        at = START + 5.0
        for _ in range(restarts):  # a restart every 2 minutes
            await app.stop()
            at += 120.0
            app = await start_on_fake_clock(path, "sqlite", at)
            assert app.smsc is not None
            assert app.smsc.message(message_id).state == MessageState.ENROUTE
        app.smsc.advance(START + 600.0 - at)  # just before the 10 minutes are over
        assert app.smsc.message(message_id).state == MessageState.ENROUTE
        await _advance(app, 2.0)  # the spell ends: the message's record is read back for the attempt
        await _advance(app, 5.0)
        msg = app.smsc.message(message_id)
        assert msg.state == MessageState.DELIVERED
        assert START + 600.0 < msg.final_time <= START + 610.0  # (not 10 minutes after the last restart)
        # No attempt at a restart: the handset is known absent until the spell ends (each restart used to page
        # it again, find it "absent" and start a new spell).
        assert [a.outcome for a in msg.attempts] == ["absent", "delivered"]
    finally:
        await app.stop()


async def test_a_spell_the_control_api_ended_stays_ended_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "spell.sqlite"
    app = await start_on_fake_clock(path, "sqlite", START)
    try:
        first = await submit_accepted(app, MEMORY_FULL)
        assert app.smsc is not None
        app.smsc.advance(5.0)
        app.smsc.set_handset_online(MEMORY_FULL, True)  # ends the spell (and alerts the waiting message)
        app.smsc.advance(5.0)
        assert app.smsc.message(first).state == MessageState.DELIVERED
        await app.stop()
        app = await start_on_fake_clock(path, "sqlite", START + 60.0)  # the control API's switch is not kept: the rule is
        second = await submit_accepted(app, MEMORY_FULL)
        assert app.smsc is not None
        app.smsc.advance(5.0)  # ... and its spell ended: this attempt starts a new one, 10 minutes from now
        assert app.smsc.message(second).state == MessageState.ENROUTE
        await _advance(app, 600.0)
        await _advance(app, 5.0)
        msg = app.smsc.message(second)
        assert msg.state == MessageState.DELIVERED and msg.final_time > START + 60.0 + 600.0
    finally:
        await app.stop()
