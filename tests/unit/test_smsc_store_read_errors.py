"""A request that needs a read of the SQLite store which fails (a disk I/O error) is answered ESME_RSYSERR,
and only that request fails: the messages it named keep waiting, nothing is saved for it, and the same
request succeeds once the store reads again.  Before, the error went up to the SMPP adapter, which closed
the ESME's connection, losing the responses it still owed for the requests before it (an accepted submit
whose submit_sm_resp never left: the ESME resubmits it, and the handset gets it twice)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable

from tests.unit.test_smsc_support import (
    INF,
    START,
    Harness,
    MessageState,
    carrier,
    make_config,
    rule,
)

from smsc.config import MessageIdFormat
from smsc.core.clock import FakeClock
from smsc.core.message import Message
from smsc.core.store.sqlite import SqliteStore
from smsc.smpp.constants import CommandStatus as S

OFF = "447700900300"  # never on by itself: its messages wait, evicted to the store once durable


class FailingReads:
    """The real SQLite store, whose reads by message_id raise ``sqlite3.OperationalError`` while ``failing``
    (patched on the instance before the core is built: the core keeps the store's bound methods)."""

    def __init__(self, store: SqliteStore) -> None:
        self.failing = False
        load: Callable[[list[str]], list[Message]] = store.load_messages
        live: Callable[[list[str]], set[str]] = store.live_message_ids

        def load_messages(message_ids: list[str]) -> list[Message]:
            if self.failing:
                raise sqlite3.OperationalError("disk I/O error (test)")
            return load(message_ids)

        def live_message_ids(message_ids: list[str]) -> set[str]:
            if self.failing:
                raise sqlite3.OperationalError("disk I/O error (test)")
            return live(message_ids)

        store.load_messages = load_messages  # type: ignore[method-assign]
        store.live_message_ids = live_message_ids  # type: ignore[method-assign]


def harness(path: Path, **config: object) -> tuple[Harness, FailingReads]:
    store = SqliteStore(path)
    faults = FailingReads(store)
    cfg = make_config(carrier(rules=(rule(OFF, offline=INF),)), max_waiting=20_000, **config)
    return Harness(cfg, store=store, clock=FakeClock(START)), faults


def test_query_cancel_and_replace_of_an_evicted_message_fail_alone_while_the_store_cannot_read(
        tmp_path: Path) -> None:
    h, faults = harness(tmp_path / "s.sqlite")
    ids = [h.submit_ok(OFF, f"m{i}", registered_delivery=1) for i in range(3)]
    h.advance(60.0)
    assert h.smsc.index.evicted == 3  # on disk only

    faults.failing = True
    assert h.query(ids[0]).status == S.ESME_RSYSERR
    assert h.cancel(ids[1]) == S.ESME_RSYSERR  # (the harness checks each request is answered exactly once)
    assert h.replace(ids[2], "new text") == S.ESME_RSYSERR
    assert h.smsc.waiting_count() == 3 and h.smsc.index.evicted == 3  # nothing left its wait

    faults.failing = False
    assert h.query(ids[0]).message_state == MessageState.ENROUTE
    assert h.cancel(ids[1]) == S.ESME_ROK
    assert h.replace(ids[2], "new text") == S.ESME_ROK
    h.smsc.set_handset_online(OFF, True)
    h.advance(5.0)
    stats = {r.message_id: r.stat for _, r in h.receipts()}
    assert stats == {ids[0]: "DELIVRD", ids[1]: "DELETED", ids[2]: "DELIVRD"}
    h.store.close()


def test_a_submit_whose_message_id_search_cannot_read_the_store_is_refused_and_saves_nothing(
        tmp_path: Path) -> None:
    """After a 4-digit id format wrapped, the next id must be checked against waiting messages evicted to
    the store: when that read fails the submit gets ESME_RSYSERR and nothing is stored for it."""
    h, faults = harness(tmp_path / "s.sqlite", message_id=MessageIdFormat(format="decimal", length=4))
    ids = [h.submit_ok(OFF, f"m{i}") for i in range(10_000)]
    h.advance(60.0)
    assert h.smsc.index.evicted == 10_000

    faults.failing = True
    assert h.submit(OFF, "while failing").status == S.ESME_RSYSERR
    assert h.smsc.waiting_count() == 10_000 and h.smsc.stats.submitted == 10_000

    faults.failing = False
    h.smsc.set_handset_online(OFF, True)  # every id frees up as its message is delivered
    h.advance(5.0)
    assert h.smsc.waiting_count() == 0
    again = h.submit(OFF, "after")
    assert again.status == S.ESME_ROK and again.message_id in ids
    h.store.close()
