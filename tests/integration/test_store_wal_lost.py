"""Tester 155: the store's -wal file deleted under a running server was not noticed (/api/health ok), and a crash
then lost every commit in it (352 acknowledged messages).  The watch that stops the server for a deleted store
file now looks at the -wal file too."""

from __future__ import annotations

import os
from typing import Callable

from smsc.core.store.sqlite import SqliteStore
from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus

from .conftest import RawEsme, RunningSmsc


def test_a_deleted_write_ahead_log_is_a_lost_store(smsc_factory: Callable[..., RunningSmsc]) -> None:
    running = smsc_factory()
    store = running.app.store
    assert isinstance(store, SqliteStore)
    esme = RawEsme(running.port)
    try:
        esme.bind("transmitter")
        resp = esme.request(P.SubmitSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                       destination_addr="447700900123", short_message=b"hi"))
        assert resp.command_status == CommandStatus.ESME_ROK
    finally:
        esme.close()
    wal = store.path + "-wal"
    assert os.path.exists(wal)
    assert [running.call(store.file_problem) for _ in range(3)] == [None, None, None]  # (no false alarm)
    os.remove(wal)
    first, second = running.call(store.file_problem), running.call(store.file_problem)
    assert first is None  # (once may be SQLite making it again)
    assert second == (f"its write-ahead log {wal!r} was deleted while smsc ran (the commits in it are in no file a "
                      f"restart would read)")
