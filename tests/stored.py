"""What an SQLite store file holds, read by a store opened for it and closed again (Python 3.13 warns of a
connection dropped unclosed: a test reading a file with ``SqliteStore(path)`` and ``load()`` left one behind)."""

from __future__ import annotations

import os

from smsc.core.store.base import WorldState
from smsc.core.store.sqlite import SqliteStore


def stored_state(path: str | os.PathLike[str]) -> WorldState:
    """The whole state the store file at ``path`` holds (messages, deliveries ...), as a restart would load it."""
    store = SqliteStore(path)
    try:
        return store.load()
    finally:
        store.close()
