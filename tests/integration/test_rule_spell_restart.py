"""A number rule's offline spell (``offline: 10m``) runs on across a restart instead of starting again.

The real application on the bundled config (``447700900920``: handset memory full for 10 minutes, then
delivered), a real SQLite file and a fake clock; the restart is a new App on the same file.  Found by a tester:
each restart started the 10 minutes again, so under repeated restarts the message expired.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from smsc.app import App
from smsc.config import load_config
from smsc.core.api import Address, Submission, SubmitResult
from smsc.core.clock import FakeClock
from smsc.smpp.constants import MessageState

ROOT = Path(__file__).resolve().parents[2]
MEMORY_FULL = "447700900920"
START = FakeClock.DEFAULT_START


async def _started(path: Path, store: str, at: float) -> App:
    config = load_config(ROOT / "config" / "default.yaml")
    config = dataclasses.replace(config, store=dataclasses.replace(config.store, kind=store, path=str(path)))
    app = App(config, clock=FakeClock(at))
    await app.start(host="127.0.0.1", port=0, http=False)
    return app


async def _submit(app: App, destination: str) -> str:
    assert app.smsc is not None
    replies: list[SubmitResult] = []
    app.smsc.submit(Submission(system_id="test", source=Address(ton=5, npi=0, addr="ACME"),
                               destination=Address(ton=1, npi=1, addr=destination), short_message=b"hello",
                               registered_delivery=1), replies.append)
    for _ in range(500):  # (SQLite: the reply follows the writer child's commit)
        if replies:
            break
        await asyncio.sleep(0.01)
    assert replies and replies[0].status == 0
    return replies[0].message_id


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
    app = await _started(path, "sqlite", START)
    try:
        message_id = await _submit(app, MEMORY_FULL)
        assert app.smsc is not None
        app.smsc.advance(5.0)  # the first attempt (1 s latency) finds the memory full: the 10 minutes begin
        assert app.smsc.message(message_id).state == MessageState.ENROUTE
        at = START + 5.0
        for _ in range(restarts):  # a restart every 2 minutes
            await app.stop()
            at += 120.0
            app = await _started(path, "sqlite", at)
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
    app = await _started(path, "sqlite", START)
    try:
        first = await _submit(app, MEMORY_FULL)
        assert app.smsc is not None
        app.smsc.advance(5.0)
        app.smsc.set_handset_online(MEMORY_FULL, True)  # ends the spell (and alerts the waiting message)
        app.smsc.advance(5.0)
        assert app.smsc.message(first).state == MessageState.DELIVERED
        await app.stop()
        app = await _started(path, "sqlite", START + 60.0)  # the control API's switch is not kept: the rule is
        second = await _submit(app, MEMORY_FULL)
        assert app.smsc is not None
        app.smsc.advance(5.0)  # ... and its spell ended: this attempt starts a new one, 10 minutes from now
        assert app.smsc.message(second).state == MessageState.ENROUTE
        await _advance(app, 600.0)
        await _advance(app, 5.0)
        msg = app.smsc.message(second)
        assert msg.state == MessageState.DELIVERED and msg.final_time > START + 60.0 + 600.0
    finally:
        await app.stop()
