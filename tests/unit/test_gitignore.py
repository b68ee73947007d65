""".gitignore keeps the files a running smsc writes out of git (tester9 finding 5).

The SQLite store in WAL mode writes ``<path>-wal`` and ``<path>-shm`` next to its file (and ``<path>-journal``
while it changes journal mode); ``git status`` showed them after a run.  The patterns are matched here the way
git matches a slash-free pattern: against the file name, in any directory.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import pytest

GITIGNORE = Path(__file__).resolve().parents[2] / ".gitignore"


def _patterns() -> list[str]:
    lines = GITIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("name", [
    f"{stem}{suffix}"
    for stem in ("smsc.sqlite", "t.sqlite3", "store.db")
    for suffix in ("", "-wal", "-shm", "-journal")
])
def test_sqlite_files_and_their_wal_shm_and_journal_are_ignored(name: str) -> None:
    assert any(fnmatchcase(name, p) for p in _patterns() if "/" not in p.rstrip("/")), name


@pytest.mark.parametrize("name", ["smsc.pid", "server.log", "captured.pcap"])
def test_pid_files_logs_and_captures_are_ignored(name: str) -> None:
    # (a helper's busy.pid was committed once with the rest of a change)
    assert any(fnmatchcase(name, p) for p in _patterns() if "/" not in p.rstrip("/")), name
