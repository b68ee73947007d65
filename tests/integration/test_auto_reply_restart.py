"""A handset's auto-reply waiting for its delay is sent after a restart (README: 447700900900 "DELIVRD, then MO").

The real application on the bundled config (447700900900 echoes every MT 2 s after its delivery), a real SQLite
file and a fake clock; the restart is a new App on the same file.  Found by a tester: the reply was only a
timer, so a stop (or a kill -9) between the delivery and the reply lost the MO for good."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from smsc.app import App
from smsc.core.api import Address
from smsc.core.clock import FakeClock
from smsc.smpp.constants import MessageState

from .conftest import start_on_fake_clock, submit_accepted

ECHO = "447700900900"  # latency 1 s, then the echo 2 s after the delivery
START = FakeClock.DEFAULT_START
SENDER = Address(ton=1, npi=1, addr="447700900001")  # a number: a handset cannot answer a sender ID such as ACME


async def _durable(app: App) -> None:
    """Wait until everything recorded so far is on disk (the writer child commits in real time)."""
    assert app.smsc is not None
    done = asyncio.Event()
    app.smsc.when_durable(done.set)
    await asyncio.wait_for(done.wait(), 10)


def _mo_texts(app: App) -> list[bytes]:
    assert app.smsc is not None
    return [d.short_message for d in app.smsc.deliveries("test") if d.kind == "mo"]


@pytest.mark.parametrize("restarts", [1, 2])
async def test_an_auto_reply_due_after_a_restart_is_still_sent(tmp_path: Path, restarts: int) -> None:
    path = tmp_path / "replies.sqlite"
    app = await start_on_fake_clock(path, "sqlite", START)
    try:
        assert app.smsc is not None
        message_id = await submit_accepted(app, ECHO, b"ping 42", source=SENDER)
        app.smsc.advance(1.5)  # delivered at START + 1; the echo is due at START + 3
        assert app.smsc.message(message_id).state == MessageState.DELIVERED
        await _durable(app)
        assert _mo_texts(app) == []
        at = START + 1.5
        for _ in range(restarts):  # each before the echo's time: its timer dies with the process
            await app.stop()
            at += 0.5
            app = await start_on_fake_clock(path, "sqlite", at)
            assert _mo_texts(app) == []
        app.smsc.advance(START + 2.9 - at)
        assert _mo_texts(app) == []  # (not before its time)
        app.smsc.advance(0.2)
        assert _mo_texts(app) == [b"ping 42"]  # to the ESME whose MT it answers
        await _durable(app)
        await app.stop()
        app = await start_on_fake_clock(path, "sqlite", START + 10.0)  # sent once: a later restart does not send it again
        assert _mo_texts(app) == [b"ping 42"]  # (the MO itself, still owed: no receiver was bound)
        app.smsc.advance(10.0)
        assert _mo_texts(app) == [b"ping 42"]
    finally:
        await app.stop()


async def test_the_memory_store_keeps_pending_replies_in_the_process(tmp_path: Path) -> None:
    app = await start_on_fake_clock(tmp_path / "unused.sqlite", "memory", START)
    try:
        assert app.smsc is not None and app.store is not None
        await submit_accepted(app, ECHO, b"hi", registered_delivery=0, source=SENDER)
        app.smsc.advance(1.5)
        [(key, due, handset, to, text, system_id)] = app.store.load_world().pending_replies
        assert (due, handset, to, text, system_id) == (START + 3.0, ECHO, SENDER.addr, "hi", "test")
        app.smsc.advance(2.0)
        assert app.store.load_world().pending_replies == []
        assert _mo_texts(app) == [b"hi"]
    finally:
        await app.stop()
