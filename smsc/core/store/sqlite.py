"""The default MessageStore: one SQLite file in WAL mode, written by one writer process with group commit.

How a write travels (the event loop never waits on SQLite):

1. On the loop thread, ``save_message`` / ``save_delivery`` / ``delete_delivery`` / ``save_counters`` turn
   their argument into a row (key, pickled record) and add it to a loop-local batch.
2. ``commit(on_durable)`` adds the callback to that batch; at the end of the loop tick (``call_soon``) the
   batch of everything committed in the tick joins the batch waiting for the writer.
3. The writer is a child process (:mod:`smsc.core.store.sqlite_writer`) that owns the write connection.  When
   it has fewer than :data:`_IN_FLIGHT` (2) batches in hand, the loop turns the *whole* waiting batch into plain
   rows (built-in values only: the outbox inserts are serialised here), pickles them and writes them to the
   child's pipe; the child writes each batch inside one transaction, many rows per statement (``INSERT ...
   VALUES (...), (...)``), commits and acknowledges.  The loop reads the acknowledgement as it reads a socket
   (``add_reader``) and only then hands every ``on_durable`` of that batch back (through
   ``call_soon_threadsafe``, as the callbacks always came).  While the child commits, the next batches fill,
   so batches grow with the load by themselves.
   Why a process: in a writer thread the SQL (about 10-12 us of CPU per message under load) held the GIL the
   loop needs, and the server stayed at one core.  Why no thread to feed it: a thread takes the GIL from the
   busy loop at each step (after its wake-up, its write, the answer), up to ``sys.getswitchinterval()`` (5 ms)
   each time, and under a load bound by the ESMEs' windows the latency of a commit is what limits throughput
   (every submit_sm_resp waits for it).  Why two batches in flight: the child starts the next batch as soon as
   it committed one, instead of waiting for the loop to take the answer and send again.
4. A child that dies (killed, crashed) is noticed by the loop (end of file or broken pipe), logged
   (``store_writer_died``) and replaced, and the batches it had not acknowledged are sent to the new one: a
   batch carries a number committed in its transaction, so one that was committed before the child died is not
   written again (:func:`sqlite_writer.commit`).  The child exits when its pipe closes: at ``close()``, which
   waits for it by its pid (10 s at most, then SIGKILL), or when the server process dies, even by SIGKILL.
5. The child's commits never checkpoint the WAL: a thread of the child does, beside them, and the writer copies
   the last few frames between two batches so that the WAL starts again (a bounded WAL; see "checkpoints" in
   :mod:`smsc.core.store.sqlite_writer`).  The child reports each checkpoint (counted in :attr:`stats`; one
   forced at the WAL's hard limit is logged as ``store_checkpoint_forced``).

Reads: :meth:`SqliteStore.load_messages` reads records by message_id on the caller's thread (a request needs
a few; a file busy or locked by another connection is read again a few times, 50 ms at most in all, before
the error goes up: see :data:`_SYNC_READ_RETRY_DELAYS`); :meth:`SqliteStore.load_messages_later` reads them on a reader thread with a connection of its own and
calls back on the loop (draining a queue of messages that waited for absent handsets).  WAL lets that read run
beside the writer's transaction instead of behind it: it sees every transaction committed before it was asked
for (what the core reads back, the records of evicted waiting messages, were durable before they were
evicted), not the writes still pending;
:meth:`SqliteStore.iter_waiting` hands the waiting messages back at a restart a batch per query, so the core
never holds a queue of a million records at once.

Coalescing: everything that happens between two writes is written as its net effect.  A message saved several
times in one batch is written once (the last version: accepted and finalised before its first write, it is
written once, final); an outbox entry added and deleted before it was written is never written; a message
saved again later is updated in place (an upsert: it keeps its row).  After a crash the file holds the last
committed transaction, and the core redoes what followed (the message is attempted again, its receipt
regenerated), which is why skipping intermediate states is safe.  If a transaction fails
(disk full...), the writer child reports it (logged as ``store_commit_failed``) and retries the same batch until
it succeeds: its callbacks (and so the submit_sm_resp they release) wait, because status 0 must mean "on
disk".  A read of ``load_messages_later``
that fails is tried again the same way (with a growing pause), for as long as the store is open: its callback
gets the messages late, never an empty list in their place.

With ``call_soon_threadsafe`` but no event loop behind ``call_soon`` (a plain function), each handover waits for
the child's answer on the calling thread.  Without ``call_soon_threadsafe`` the store runs *inline* on the
calling thread (no child process; the same transaction, :func:`sqlite_writer.commit`): with ``call_soon`` the
commits
of a loop tick are written in one transaction at the end of the tick, then their ``on_durable`` are called
(group commit without a thread: the engine benchmark); without either, ``commit`` writes the batch and calls
``on_durable`` before returning (unit tests, tools).

Durability: ``synchronous=NORMAL`` in WAL mode survives a crash of the process (``kill -9``) without losing a
committed transaction; ``FULL`` also survives power loss, at the cost of an fsync per commit.

Tables (schema v3): ``messages`` (message_id, final_time for pruning, and the record: a pickled tuple of the
other :class:`~smsc.core.message.Message` fields), ``outbox`` (delivery_id, record of a
:class:`~smsc.core.api.Delivery`), ``counters`` (name, value), ``opt_outs`` and ``dpf_flags`` (the Delivery
Pending Flags: :mod:`smsc.core.dpf`; added to v3 later: a file without it gets it when opened, and a smsc
from before it opens a file that has it and ignores it, so the version stays 3).  One BLOB instead of a column
per field (v2, migrated on open) halves what SQLite and the sqlite3 module spend per row; records hold only
built-in types (TLV values are normalised to int, str, bytes, lists, None) and are read back by an unpickler
that refuses any class but the SMPP int enums.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import functools
import inspect
import io
import json
import math
import os
import pathlib
import pickle
import secrets
import select
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator, TypeVar

import structlog

from smsc.core.api import Address, Delivery
from smsc.core.message import Attempt, Message, new_attempt
from smsc.core.store import sqlite_writer
from smsc.core.store.base import StoredState, WorldState
from smsc.smpp.constants import MessageState

log = structlog.get_logger("smsc.store")

#: PRAGMA user_version of the file.  Version 1 (a JSON record per row) only existed during development;
#: version 2 (a column per field) is migrated when opened.
SCHEMA_VERSION = 3

#: Schema v2 columns (one per field): only read, to migrate a v2 file to v3 (see :func:`_migrate_v2`).
_V2_MESSAGE_COLUMNS = (
    "message_id", "system_id", "source_ton", "source_npi", "source_addr", "dest_ton", "dest_npi", "dest_addr",
    "destination_e164", "carrier", "service_type", "esm_class", "protocol_id", "priority_flag",
    "registered_delivery", "data_coding", "short_message", "tlvs", "submit_time", "schedule_time",
    "expiry_time", "state", "final_time", "error_code", "network_error_code", "next_attempt_time", "attempts",
    "submitted_count", "multi_id",
)
_V2_DELIVERY_COLUMNS = (
    "delivery_id", "system_id", "source_ton", "source_npi", "source_addr", "dest_ton", "dest_npi", "dest_addr",
    "esm_class", "protocol_id", "priority_flag", "data_coding", "short_message", "service_type", "tlvs", "kind",
)

#: Each row is a key, what SQLite must see (final_time, for pruning) and the record as one pickled tuple.
#: Why not a column per field (schema v2): binding and encoding 29 columns cost the writer about twice what
#: one BLOB does, for a message written twice (accepted, final) and a receipt written once.  Nothing queries
#: the other fields in SQL; the record is read back whole.  Pickle protocol 5 is stable across Python
#: versions; records hold only built-in types (ints, floats, str, bytes, None, tuples, lists, dicts) and the
#: protocol's own enums, and are read back with an unpickler that refuses every other class.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY,
    final_time REAL,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_final_time ON messages (final_time) WHERE final_time IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
    delivery_id INTEGER PRIMARY KEY,
    record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS opt_outs (
    carrier TEXT NOT NULL,
    e164 TEXT NOT NULL,
    PRIMARY KEY (carrier, e164)
);
CREATE TABLE IF NOT EXISTS opt_ins (
    carrier TEXT NOT NULL,
    e164 TEXT NOT NULL,
    PRIMARY KEY (carrier, e164)
);
CREATE TABLE IF NOT EXISTS dpf_flags (
    e164 TEXT NOT NULL,
    system_id TEXT NOT NULL,
    handset_ton INTEGER NOT NULL,
    handset_npi INTEGER NOT NULL,
    handset_addr TEXT NOT NULL,
    esme_ton INTEGER NOT NULL,
    esme_npi INTEGER NOT NULL,
    esme_addr TEXT NOT NULL,
    PRIMARY KEY (e164, system_id)
);
CREATE TABLE IF NOT EXISTS rule_spells (
    carrier TEXT NOT NULL,
    e164 TEXT NOT NULL,
    start_us INTEGER NOT NULL,
    PRIMARY KEY (carrier, e164)
);
CREATE TABLE IF NOT EXISTS pending_replies (
    key TEXT PRIMARY KEY,
    due_us INTEGER NOT NULL,
    handset TEXT NOT NULL,
    destination TEXT NOT NULL,
    text TEXT NOT NULL,
    system_id TEXT NOT NULL
);
"""

#: The tables and the index :data:`_SCHEMA` creates.
_SCHEMA_NAMES = frozenset({"messages", "messages_final_time", "outbox", "counters", "opt_outs", "opt_ins",
                           "dpf_flags", "rule_spells", "pending_replies"})



def _schema_columns() -> dict[str, tuple[str, ...]]:
    """The columns of each table :data:`_SCHEMA` creates, read from a database in memory."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(_SCHEMA)
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: tuple(row[1] for row in conn.execute(f"PRAGMA table_info({t})")) for t in tables}
    finally:
        conn.close()


_SCHEMA_COLUMNS = _schema_columns()


def _some(names: list[str]) -> str:
    """The first five of ``names``, and how many more."""
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


#: Octets of an SQLite database file's header (sqlite.org/fileformat2.html, section 1.3).
_SQLITE_HEADER_OCTETS = 100


def foreign_file_problem(path: str) -> str | None:
    """Why the existing SQLite file at ``path`` is not a store smsc may open and change, or None (no file, an
    empty one, a store of this smsc, or one of schema version 2, which is migrated).

    Read with a read-only connection before anything is written: opening switches a file to WAL for good and
    creates the store's tables, which another application's database must not get (tester 57: a file with a
    ``users`` table was adopted, and files refused later were switched to WAL first).  A file SQLite cannot read
    is left to the opening itself, whose error says why.
    """
    try:
        size = os.path.getsize(path)
    except OSError:
        return None  # (no file yet: the store makes one)
    if size == 0:
        return None
    if size < _SQLITE_HEADER_OCTETS:
        # SQLite takes a file too short for its header for an empty database and writes a new one over it
        # (tester 92: `echo > smsc.sqlite` left one octet, and a store began there without a word).
        return (f"{size} octet{'s' if size != 1 else ''}: no SQLite database (its header alone is "
                f"{_SQLITE_HEADER_OCTETS} octets); delete the file for a new store")
    try:
        journal = os.path.getsize(path + "-journal")
    except OSError:
        journal = 0
    if journal:  # (an empty one is no transaction: tester 67)
        # smsc's stores are always in WAL mode: a rollback journal beside the file is another application's, one
        # that stopped inside a transaction (opening would roll it back and take the file over: tester 64).
        return ("a rollback journal lies beside it (" + path + "-journal), which an smsc store never has: another "
                "application's database, perhaps stopped inside a transaction")
    try:
        conn = sqlite3.connect(f"{pathlib.Path(os.path.abspath(path)).as_uri()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        # Tables only: an index, view or trigger a user added to a store is no sign of another application
        # (tester 65: a store with the user's own index was refused after the upgrade).
        names = {name: kind for name, kind in conn.execute(
            "SELECT name, type FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        if version not in (0, 2, SCHEMA_VERSION):
            return (f"its schema version ({version}) is not one this smsc writes ({SCHEMA_VERSION}): a store of "
                    "another release of smsc, or another application's database")
        others = sorted(name for name in names if name not in _SCHEMA_NAMES)
        # A store of this version (its first tables there: later tables came in the same version) may hold
        # tables a user added beside them.
        whole_store = version == SCHEMA_VERSION and {"messages", "outbox", "counters"} <= set(names)
        if others and not whole_store:
            # (whatever its user_version: tester 61 saw files of version 2 switched to WAL, and of version 3 given
            # smsc's tables, beside another application's)
            return f"it is another application's database (it holds {_some(others)}, which no smsc store has)"
        if names and "messages" not in names:
            # (an smsc store's first table is messages: a file with only, say, a counters table is not one)
            return f"it is another application's database (it holds {', '.join(sorted(names))} but no messages)"
        if version == 2 and not {"messages", "outbox"} <= set(names):
            return "its schema version is 2, but it lacks the messages and outbox tables of an smsc store of then"
        expected = ({"messages": _V2_MESSAGE_COLUMNS, "outbox": _V2_DELIVERY_COLUMNS} if version == 2
                    else _SCHEMA_COLUMNS)
        for table, columns in expected.items():
            if names.get(table) != "table":
                continue
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            missing = [c for c in columns if c not in present]
            if missing:
                return (f"its table {table!r} lacks the column(s) {_some(missing)} of an smsc store: another "
                        "application's database")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            # (another process holds a write lock: an smsc server's writer child is seen before, by the lock file;
            # waiting it out and opening took another application's file over: tester 64)
            return "another process holds it locked (SQLite: database is locked), as an application writing it does"
        return None  # (unreadable: the opening says why)
    except sqlite3.DatabaseError:
        return None  # (unreadable: the opening says why)
    finally:
        conn.close()
    return None


#: The write statements and the transaction live in :mod:`smsc.core.store.sqlite_writer`, which the writer
#: child process runs and inline mode calls (one implementation); the v2 migration uses the same statements.
_CHUNK_ROWS = sqlite_writer.CHUNK_ROWS
_UPSERT_MESSAGES_HEAD = sqlite_writer.UPSERT_MESSAGES_HEAD
_UPSERT_MESSAGES_TAIL = sqlite_writer.UPSERT_MESSAGES_TAIL
_INSERT_DELIVERIES_HEAD = sqlite_writer.INSERT_DELIVERIES_HEAD


_SELECT_MESSAGES = "SELECT message_id, final_time, record FROM messages ORDER BY rowid"
_SELECT_WAITING = "SELECT message_id, final_time, record FROM messages WHERE final_time IS NULL ORDER BY rowid"
_SELECT_FINAL = "SELECT message_id, final_time, record FROM messages WHERE final_time IS NOT NULL ORDER BY rowid"
#: The next ``?`` waiting messages after rowid ``?`` (one query per batch of a restart: keyset paging on the
#: table's own order, so each query starts where the last one ended and none keeps a read transaction open).
_SELECT_WAITING_AFTER = ("SELECT rowid, message_id, final_time, record FROM messages"
                         " WHERE rowid > ? AND final_time IS NULL ORDER BY rowid LIMIT ?")
#: The message_ids of final messages, a page at a time (``iter_final_ids``).
_SELECT_FINAL_IDS_AFTER = ("SELECT rowid, message_id FROM messages"
                           " WHERE rowid > ? AND final_time IS NOT NULL ORDER BY rowid LIMIT ?")
#: The newest ``?`` final messages (the partial index on final_time serves the ORDER BY and the LIMIT).
_SELECT_NEWEST_FINAL = ("SELECT message_id, final_time, record FROM (SELECT rowid AS r, * FROM messages"
                        " WHERE final_time IS NOT NULL ORDER BY final_time DESC LIMIT ?) ORDER BY r")
_SELECT_MESSAGES_BY_ID = "SELECT message_id, final_time, record FROM messages WHERE message_id IN "
#: The destinations of one submit_multi: ids ``M-1``, ``M-2`` ... lie between ``M-`` and ``M.`` ("." follows "-"),
#: a range of the primary key.
_SELECT_GROUP = "SELECT message_id, final_time, record FROM messages WHERE message_id > ? AND message_id < ?"
_SELECT_DELIVERIES = "SELECT delivery_id, record FROM outbox ORDER BY delivery_id"
#: The next ``?`` outbox rows after delivery_id ``?`` (a restart reads the outbox a batch per query, as the
#: waiting messages: see :meth:`SqliteStore.iter_deliveries`).
_SELECT_DELIVERIES_AFTER = "SELECT delivery_id, record FROM outbox WHERE delivery_id > ? ORDER BY delivery_id LIMIT ?"
_SELECT_DELIVERIES_BY_ID = "SELECT delivery_id, record FROM outbox WHERE delivery_id IN "
#: Statement texts by (table's IN head, number of ids).
_select_statements: dict[tuple[str, int], str] = {}
_SELECT_LIVE_BY_ID = "SELECT message_id FROM messages WHERE final_time IS NULL AND message_id IN "
_live_statements: dict[int, str] = {}
_SELECT_DPF_FLAGS = ("SELECT e164, system_id, handset_ton, handset_npi, handset_addr, esme_ton, esme_npi, esme_addr"
                     " FROM dpf_flags ORDER BY rowid")

#: What a writer child runs: read once, with the module the server runs, and handed to the child over a pipe
#: by :data:`_WRITER_BOOTSTRAP` (``python -c``), so that its command line stays short in ``ps``.
_WRITER_SOURCE = inspect.getsource(sqlite_writer).encode()
_WRITER_BOOTSTRAP = (
    "import os, sys\n"
    "fd = int(sys.argv.pop(1))\n"
    "parts = []\n"
    "while True:\n"
    "    part = os.read(fd, 65536)\n"
    "    if not part:\n"
    "        break\n"
    "    parts.append(part)\n"
    "os.close(fd)\n"
    "exec(compile(b''.join(parts), 'smsc-sqlite-writer', 'exec'), {'__name__': '__main__'})\n"
)
#: The writer child runs in a process group of its own (see :meth:`SqliteStore._start_child`).  A side effect: the
#: group is orphaned when the server dies, so the kernel continues a writer that was stopped (SIGSTOP) then; tests
#: of a stopped orphan turn this off.
WRITER_OWN_PROCESS_GROUP = True
_RETRY_DELAY = sqlite_writer.RETRY_DELAY  # real seconds between attempts to write a batch that failed
#: A commit or checkpoint failing again and again (a full disk retried every 0.5 s, a file made immutable that
#: every checkpoint fails on) is logged the first time, then every this-many-th time with the count (tester 70: an
#: error line twice a second for as long as it lasted), and once when it works again.
REPEATED_FAILURE_LOG_EVERY = 120
#: Real seconds ``close()`` waits for the writer child to exit once its pipe is closed (it only has to close its
#: connection: every batch was acknowledged), before it kills it.
_CHILD_EXIT_WAIT = 10.0
#: Batches sent to the writer child before the first is acknowledged (the child reads the next one as soon as
#: it committed the one before, without waiting for the loop to take the answer and send again).
#: Linux's fcntl to set a pipe's buffer size, and the size asked for the child's stdin (the default most
#: systems allow an unprivileged process: /proc/sys/fs/pipe-max-size), so that a batch of a few thousand
#: messages fits while the child is busy.
#: Real seconds ``close()`` waits for the writer child to commit what is left (a full disk, a file another
#: process keeps locked) before it gives up on it: what those batches hold was never acknowledged (their
#: submit_sm_resp are not sent), and the server must still be able to stop.
_CLOSE_WAIT = 30.0
#: Real seconds a store waits for the lock file of its database (see ``SqliteStore._lock_file``).
_LOCK_WAIT = 5.0
_F_SETPIPE_SZ = 1031
_PIPE_SIZE = 1 << 20
_IN_FLIGHT = 2
#: Real seconds a commit may wait before receipts wait for theirs (:meth:`SqliteStore.commits_lagging`): well
#: above a commit's few milliseconds, group commits of thousands of rows included.
COMMIT_LAG_SECONDS = 0.05
#: A read of ``load_messages_later`` that fails (disk I/O error, database locked...) is tried again after this
#: many real seconds, twice as long after each failure up to :data:`_READ_RETRY_MAX`, then at that interval for
#: as long as the store is open: its callback waits for the messages instead of getting none (the core would
#: take the batch for read back, and its messages would wait on disk, never attempted, until a restart).
_READ_RETRY_FIRST = 0.05
_READ_RETRY_MAX = 2.0
#: A read on the caller's thread (the event loop: ``load_messages``, ``live_message_ids``, ``load_group``,
#: ``load_deliveries``, for query_sm, the inspection API, the message_id search after a wrap) that finds the
#: file busy or locked (SQLITE_BUSY / SQLITE_LOCKED: another connection holds a lock no reader may pass, such
#: as a backup tool in exclusive locking mode) is tried again after each of these real seconds in turn (50 ms in
#: all), then its error goes up: the request fails (ESME_RSYSERR) instead of the loop waiting longer.  Its
#: connection has no busy timeout of its own (the sqlite3 module's default, 5 s, held the loop that long).  Any
#: other error goes up at once.
_SYNC_READ_RETRY_DELAYS = (0.002, 0.004, 0.008, 0.016, 0.020)
#: SQLITE_BUSY and SQLITE_LOCKED, the primary result codes of a lock held elsewhere (extended codes add bits above
#: the low octet).
_BUSY_CODES = (5, 6)
_sleep = time.sleep  # (the tests' clock: they release a lock when the first retry waits)
#: The reader thread reads and decodes the ``load_messages_later`` requests it finds waiting in groups of about
#: this many ids and hands each group back as soon as it is decoded, so that the loop attempts the first
#: messages of a drain while the next are read (one group of everything waiting made the loop wait for the
#: last of a dozen thousand records before it could start on the first).
_READ_GROUP = 1024
#: What reading back a damaged row can raise (it is logged and skipped).
_UNREADABLE = (ValueError, TypeError, KeyError, IndexError, EOFError, pickle.UnpicklingError)


#: A read request for the reader thread: (keys, callback, outbox).  ``outbox`` False: message_ids, the callback
#: gets Messages (``load_messages_later``); True: delivery_ids, it gets Deliveries (``load_deliveries_later``).
_ReadRequest = tuple[list[Any], Callable[[list[Any]], None], bool]


_T = TypeVar("_T")


def _busy(exc: sqlite3.Error) -> bool:
    """True for SQLITE_BUSY or SQLITE_LOCKED ("database is locked"): a lock another connection holds, which
    goes away by itself."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _BUSY_CODES
    text = str(exc)
    return "locked" in text or "busy" in text


# -- records <-> rows ---------------------------------------------------------------------------------------

_dumps = pickle.dumps  # called as _dumps(record, 5): a partial with protocol=5 as a keyword costs twice as much
_PROTOCOL = 5


def _enum_classes() -> dict[tuple[str, str], type]:
    """The int enums of the SMPP constants, by (module, name): the only classes a record may name (a field
    the codec typed as an enum, e.g. a TLV tag, is stored as that enum and comes back equal)."""
    import enum

    from smsc.smpp import constants

    return {
        (value.__module__, value.__qualname__): value
        for value in vars(constants).values()
        if isinstance(value, type) and issubclass(value, enum.Enum) and issubclass(value, int)
    }


class _RecordUnpickler(pickle.Unpickler):
    """Reads a record and nothing else: a class other than the SMPP int enums is refused (a record never names
    one, so a file changed by hand cannot make smsc import or call anything)."""

    allowed: dict[tuple[str, str], type] | None = None

    def find_class(self, module: str, name: str) -> Any:
        allowed = _RecordUnpickler.allowed
        if allowed is None:
            allowed = _RecordUnpickler.allowed = _enum_classes()
        found = allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"a stored record may not name {module}.{name}")
        return found


def _loads(data: bytes) -> Any:
    return _RecordUnpickler(io.BytesIO(data)).load()


_PLAIN = (int, str, bytes, type(None))


def _plain_tlv(value: Any) -> Any:
    """A TLV value as a built-in type (bool and int subclasses as int, bytes-likes as bytes, sequences as
    lists), so it pickles without naming a class.

    Raises:
        TypeError: a value of another type (the store cannot read it back).
    """
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [_plain_tlv(v) for v in value]
    if value is None:
        return None
    raise TypeError(f"cannot store a TLV value of type {type(value).__name__}")


def _tlvs_record(tlvs: dict[int, Any]) -> dict[int, Any] | None:
    """The TLVs to pickle (None when there are none): a copy with int tags and built-in values (the common
    case, plain ints, strings and bytes, costs one pass)."""
    if not tlvs:
        return None
    plain = _PLAIN
    for t, v in tlvs.items():  # (a loop, not all() over a generator: a receipt's two TLVs on every row)
        if type(t) is not int or type(v) not in plain:
            return {int(t): (v if type(v) in plain else _plain_tlv(v)) for t, v in tlvs.items()}
    return dict(tlvs)


def _attempt_rows(attempts: list[Attempt]) -> list[tuple[float, str, int]]:
    """A message's attempts as stored; the common single attempt without a comprehension's frame."""
    if len(attempts) == 1:
        a = attempts[0]
        return [(a.time, a.outcome, a.err)]
    return [(a.time, a.outcome, a.err) for a in attempts]


def message_to_row(message: Message) -> tuple[str, float | None, bytes]:
    """The row a message is stored as, ``(message_id, final_time, record)``: a snapshot of it now."""
    source = message.source
    destination = message.destination
    attempts = message.attempts
    tlvs = message.tlvs
    return message.message_id, message.final_time, _dumps((
        message.system_id, source.ton, source.npi, source.addr, destination.ton, destination.npi,
        destination.addr, message.destination_e164, message.carrier, message.service_type, message.esm_class,
        message.protocol_id, message.priority_flag, message.registered_delivery, message.data_coding,
        message.short_message, _tlvs_record(tlvs) if tlvs else None, message.submit_time, message.schedule_time,
        message.expiry_time, int(message.state), message.error_code, message.network_error_code,
        message.next_attempt_time, _attempt_rows(attempts) if attempts else None,
        message.submitted_count, message.multi_id,
    ), _PROTOCOL)


_addresses: dict[tuple[int, int, str], Address] = {}
_new = object.__new__
_STATES = tuple(MessageState(v) for v in range(max(MessageState) + 1))


#: Texts read back, one object each (system_ids, numbers, carriers: a million waiting messages share few);
#: cleared when it grows past 65,536 entries (a table of numbers is the one thing that grows).
_interned: dict[Any, Any] = {}



def _member_number(message_id: str) -> int:
    """The destination number of a submit_multi member id ``M-n`` (n), for ordering a group read back."""
    tail = message_id.rpartition("-")[2]
    return int(tail) if tail.isdigit() else 0


def _address(ton: int, npi: int, addr: str) -> Address:
    """One Address object per (TON, NPI, address) read back (messages read back share them; an Address is
    never changed in place)."""
    key = (ton, npi, addr)
    address = _addresses.get(key)
    if address is None:
        if len(_addresses) >= 65_536:
            _addresses.clear()
        address = _addresses[key] = Address(ton=ton, npi=npi, addr=addr)
    return address


def _message(
    message_id: str, system_id: str, source_ton: int, source_npi: int, source_addr: str, dest_ton: int,
    dest_npi: int, dest_addr: str, e164: str, carrier: str, service_type: str, esm_class: int, protocol_id: int,
    priority_flag: int, registered_delivery: int, data_coding: int, short_message: bytes | None,
    tlvs: dict[int, Any], submit_time: float, schedule_time: float | None, expiry_time: float, state: int,
    final_time: float | None, error_code: int, nec: bytes | None, next_attempt_time: float | None,
    attempts: list[tuple[float, str, int]], submitted_count: int, multi_id: str | None,
) -> Message:
    """A Message from its fields as stored (both schema versions), sharing interned texts and addresses."""
    m = _new(Message)  # every field set below (the round-trip tests compare whole records)
    m.message_id = message_id
    if len(_interned) >= 65_536:
        _interned.clear()
    intern = _interned.setdefault  # (inline: a queue drained reads a message per handset)
    m.system_id = intern(system_id, system_id)
    addresses = _addresses
    source = addresses.get((source_ton, source_npi, source_addr))
    m.source = source if source is not None else _address(source_ton, source_npi, source_addr)
    destination = addresses.get((dest_ton, dest_npi, dest_addr))
    m.destination = destination if destination is not None else _address(dest_ton, dest_npi, dest_addr)
    m.destination_e164 = intern(e164, e164)
    m.carrier = intern(carrier, carrier)
    m.service_type = intern(service_type, service_type)
    m.esm_class = esm_class
    m.protocol_id = protocol_id
    m.priority_flag = priority_flag
    m.registered_delivery = registered_delivery
    m.data_coding = data_coding
    m.short_message = bytes(short_message or b"")
    m.tlvs = tlvs
    m.submit_time = submit_time
    m.schedule_time = schedule_time
    m.expiry_time = expiry_time
    m.state = _STATES[state] if type(state) is int and 0 <= state < len(_STATES) else MessageState(state)
    m.final_time = final_time
    m.error_code = error_code
    m.network_error_code = None if nec is None else bytes(nec)
    m.next_attempt_time = next_attempt_time
    # (new_attempt: the keyword-only dataclass constructor cost a third of reading a record back)
    m.attempts = [new_attempt(t, o, e) for t, o, e in attempts] if attempts else []
    m.submitted_count = submitted_count
    m.multi_id = multi_id or ""
    return m


def message_from_row(row: tuple[Any, ...] | sqlite3.Row) -> Message:
    """Inverse of :func:`message_to_row`.

    Raises:
        ValueError, TypeError, pickle.UnpicklingError: the row is not a stored message.
    """
    message_id, final_time, record = row
    (system_id, source_ton, source_npi, source_addr, dest_ton, dest_npi, dest_addr, e164, carrier, service_type,
     esm_class, protocol_id, priority_flag, registered_delivery, data_coding, short_message, tlvs, submit_time,
     schedule_time, expiry_time, state, error_code, nec, next_attempt_time, attempts, submitted_count,
     multi_id) = _loads(record)
    if type(message_id) is not str:
        raise TypeError(f"message_id {message_id!r} is not text")
    if final_time is not None and type(final_time) is not float and type(final_time) is not int:
        # (a file edited by another program: tester 38's blob here ended the start in a traceback)
        raise TypeError(f"final_time {final_time!r} is not a number")
    return _message(
        message_id, system_id, source_ton, source_npi, source_addr, dest_ton, dest_npi, dest_addr, e164, carrier,
        service_type, esm_class, protocol_id, priority_flag, registered_delivery, data_coding, short_message,
        tlvs or {}, submit_time, schedule_time, expiry_time, state, final_time, error_code, nec,
        next_attempt_time, attempts, submitted_count, multi_id,
    )


def delivery_to_row(delivery: Delivery) -> tuple[int, bytes]:
    """The row an outbox entry is stored as, ``(delivery_id, record)``."""
    source = delivery.source
    destination = delivery.destination
    tlvs = delivery.tlvs
    return delivery.delivery_id, _dumps((
        delivery.system_id, source.ton, source.npi, source.addr, destination.ton, destination.npi,
        destination.addr, delivery.esm_class, delivery.protocol_id, delivery.priority_flag, delivery.data_coding,
        delivery.short_message, delivery.service_type, _tlvs_record(tlvs) if tlvs else None, delivery.kind,
    ), _PROTOCOL)


def _delivery_rows(inserts: dict[int, Delivery]) -> list[tuple[int, bytes]]:
    """The rows of a batch's outbox inserts.  One that cannot be serialised (a TLV value of a type no row
    holds) is left out and logged: it is still offered from memory, only a restart would not bring it back;
    the loop must not fail on it."""
    rows = []
    for delivery in inserts.values():
        try:
            rows.append(delivery_to_row(delivery))
        except (TypeError, ValueError, pickle.PicklingError) as exc:
            log.error("store_delivery_unwritable", delivery_id=delivery.delivery_id, kind=delivery.kind,
                      error=str(exc))
    return rows


def _delivery(
    delivery_id: int, system_id: str, source_ton: int, source_npi: int, source_addr: str, dest_ton: int,
    dest_npi: int, dest_addr: str, esm_class: int, protocol_id: int, priority_flag: int, data_coding: int,
    short_message: bytes | None, service_type: str, tlvs: dict[int, Any], kind: str,
) -> Delivery:
    return Delivery(
        delivery_id=delivery_id, system_id=system_id,
        source=Address(ton=source_ton, npi=source_npi, addr=source_addr),
        destination=Address(ton=dest_ton, npi=dest_npi, addr=dest_addr),
        esm_class=esm_class, protocol_id=protocol_id, priority_flag=priority_flag, data_coding=data_coding,
        short_message=bytes(short_message or b""), service_type=service_type, tlvs=tlvs, kind=kind,
    )


def delivery_from_row(row: tuple[Any, ...] | sqlite3.Row) -> Delivery:
    """Inverse of :func:`delivery_to_row`.

    Raises:
        ValueError, TypeError, pickle.UnpicklingError: the row is not a stored outbox entry.
    """
    delivery_id, record = row
    fields = _loads(record)
    if type(delivery_id) is not int:
        raise TypeError(f"delivery_id {delivery_id!r} is not an integer")
    *head, tlvs, kind = fields
    return _delivery(delivery_id, *head, tlvs or {}, kind)  # type: ignore[call-arg]  # (head: the fields between)


# -- schema v2 (a column per field), read once to migrate --------------------------------------------------


def _tlv_value_from_json(item: list[Any]) -> Any:
    kind, value = item
    if kind == "i":
        return int(value)
    if kind == "s":
        return str(value)
    if kind == "b":
        return bytes.fromhex(value)
    if kind == "l":
        return [_tlv_value_from_json(v) for v in value]
    if kind == "n":
        return None
    raise ValueError(f"unknown TLV value kind {kind!r}")


def tlvs_from_text(text: str | None) -> dict[int, Any]:
    """TLVs from schema v2's JSON text ``[[tag, kind, value], ...]`` (kind i/s/b/l/n, bytes in hex).

    Raises:
        ValueError: the text is not a stored TLV list.
    """
    if not text:
        return {}
    return {int(tag): _tlv_value_from_json([kind, value]) for tag, kind, value in json.loads(text)}


def _message_from_v2_row(row: tuple[Any, ...]) -> Message:
    *head, tlvs, submit_time, schedule_time, expiry_time, state, final_time, error_code, nec, nat, attempts, \
        submitted_count, multi_id = row
    return _message(  # type: ignore[call-arg]  # (head: the fields before tlvs)
        *head, tlvs_from_text(tlvs), submit_time, schedule_time, expiry_time, state, final_time, error_code, nec,
        nat, json.loads(attempts) if attempts else [], submitted_count, multi_id,
    )


def _delivery_from_v2_row(row: tuple[Any, ...]) -> Delivery:
    *head, tlvs, kind = row
    return _delivery(*head, tlvs_from_text(tlvs), kind)  # type: ignore[call-arg]  # (head: the fields before tlvs)


def _migrate_v2(conn: sqlite3.Connection) -> None:
    """Rewrite a schema v2 file (a column per field) as v3 (a record per row), in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("ALTER TABLE messages RENAME TO messages_v2")
        conn.execute("ALTER TABLE outbox RENAME TO outbox_v2")
        conn.execute("DROP INDEX IF EXISTS messages_final_time")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        moved = skipped = 0
        select = f"SELECT {', '.join(_V2_MESSAGE_COLUMNS)} FROM messages_v2 ORDER BY rowid"
        for row in conn.execute(select).fetchall():
            try:
                new = message_to_row(_message_from_v2_row(row))
            except _UNREADABLE:
                skipped += 1
                continue
            conn.execute(f"{_UPSERT_MESSAGES_HEAD}(?, ?, ?){_UPSERT_MESSAGES_TAIL}", new)
            moved += 1
        select = f"SELECT {', '.join(_V2_DELIVERY_COLUMNS)} FROM outbox_v2 ORDER BY delivery_id"
        for row in conn.execute(select).fetchall():
            try:
                new_delivery = delivery_to_row(_delivery_from_v2_row(row))
            except _UNREADABLE:
                skipped += 1
                continue
            conn.execute(f"{_INSERT_DELIVERIES_HEAD}(?, ?)", new_delivery)
            moved += 1
        conn.execute("DROP TABLE messages_v2")
        conn.execute("DROP TABLE outbox_v2")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    log.info("store_migrated", from_version=2, to_version=SCHEMA_VERSION, rows=moved, skipped=skipped)

# -- the store ----------------------------------------------------------------------------------------------


class StoreInUse(sqlite3.OperationalError):
    """Another smsc server (or the writer child of one that is gone) holds the store's file: see
    ``SqliteStore._lock_file``."""


#: The first 16 octets of every SQLite database file (https://www.sqlite.org/fileformat.html, section 1.3.1).
SQLITE_MAGIC = b"SQLite format 3\x00"


def _identity(path: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of ``path``, or None when no file has that name (or it cannot be looked at)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class NotAStore(sqlite3.DatabaseError):
    """The file is a SQLite database but not a store of this smsc (:func:`foreign_file_problem`); nothing in it
    was changed."""


def _plain_rows(value: Any) -> Any:
    """``value`` (a batch's rows, :meth:`SqliteStore._batch_rows`) as built-in values only, at any depth: a
    subclass of int, float, str or bytes as its base type, a bytes-like as bytes, a list or tuple as one, and
    any other object as its text (logged).  The fallback for a batch that could not be pickled, or that the
    writer child could not read (a value of a type no row should hold: a programming error), so that one bad
    value never stops the writer or costs the batch: the records themselves are bytes already (pickled when
    saved), only the other rows (opt-outs, flags, counters) could hold one."""
    kind = type(value)
    if value is None or kind in (int, float, str, bytes, bool):
        return value
    if kind in (list, tuple):
        return kind(_plain_rows(v) for v in value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):  # (a subclass: a named tuple ...)
        return [_plain_rows(v) for v in value]
    log.error("store_value_unwritable", type=kind.__name__, value=repr(value)[:200])
    return repr(value)


def _lock_holders(fd: int) -> tuple[int | None, int | None]:
    """The server and writer child pids a lock file names (see ``SqliteStore._write_holders``), None for what
    it does not say (a lock file written by an older smsc is empty)."""
    try:
        words = os.pread(fd, 64, 0).split()
    except OSError:
        return None, None
    pids = [int(w) if w.isdigit() else None for w in words[:2]]
    pids += [None] * (2 - len(pids))
    return pids[0], pids[1]


def _running(pid: int) -> bool:
    """True when a process ``pid`` exists (and is not a zombie waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # (someone else's process: it exists)
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # (no /proc: it exists)


class _Batch:
    __slots__ = ("messages", "moved", "inserts", "deletes", "counters", "prune", "callbacks", "reads", "opt_outs",
                 "sim_time", "forgets", "dpf_flags", "rule_spells", "pending_replies", "number")

    def __init__(self) -> None:
        #: (the store's token, the batch's number) once sent to a writer child (see sqlite_writer.commit).
        self.number: tuple[int, int] | None = None
        self.messages: dict[str, tuple[Any, ...]] = {}
        #: Ids given again after a message_id wrap -> the submit_multi destinations the core knew them to name:
        #: their final records are deleted before ``messages`` are written (:meth:`SqliteStore.forget_id`).
        self.forgets: dict[str, list[str]] = {}
        #: message_ids among ``messages`` whose rows are deleted before they are written, so that they get a new
        #: rowid after every other row (``move_message_last``); ``messages`` lists them last.
        self.moved: list[str] = []
        #: load_messages_later requests: (message_ids, callback), read after the batch's writes (inline only: with
        #: a writer child they go to the reader thread, see :meth:`SqliteStore._hand_reads`).
        self.reads: list[_ReadRequest] = []
        #: delivery_id -> delivery, serialised when written (a delivery never changes once added, and most
        #: receipts are acknowledged first: an entry deleted before it was written is dropped from here).
        self.inserts: dict[int, Delivery] = {}
        self.deletes: list[int] = []
        self.counters: tuple[int, int] | None = None
        self.prune: float | None = None
        self.callbacks: list[Callable[[], None]] = []
        #: (carrier, e164) -> opted out or not, in the order the changes were made.
        self.opt_outs: dict[tuple[str, str], bool] = {}
        self.sim_time: float | None = None
        #: (e164, system_id) -> the flag's row (None: cleared), the latest change of each.
        self.dpf_flags: dict[tuple[str, str], tuple[Any, ...] | None] = {}
        #: (carrier, e164) -> a rule spell's start in microseconds of simulation time (None: ended), the latest.
        self.rule_spells: dict[tuple[str, str], int | None] = {}
        #: key -> an auto-reply's row (due_us, handset, destination, text, system_id), None: sent, the latest.
        self.pending_replies: dict[str, tuple[int, str, str, str, str] | None] = {}

    def has_rows(self) -> bool:
        return bool(self.messages or self.inserts or self.deletes or self.counters or self.prune is not None
                    or self.opt_outs or self.sim_time is not None or self.forgets or self.dpf_flags
                    or self.rule_spells or self.pending_replies)

    def empty(self) -> bool:
        return not self.callbacks and not self.reads and not self.has_rows()

    def merge(self, other: _Batch) -> None:
        if other.forgets:
            # Deleted after whatever this batch saved before them (``other`` came later): rows of them still
            # waiting here are not written; ``other`` dropped its own when they were recorded.
            messages = self.messages
            for message_id, members in other.forgets.items():
                messages.pop(message_id, None)
                for member in members:
                    messages.pop(member, None)
                self.forgets.setdefault(message_id, []).extend(members)
        if other.moved:
            messages = self.messages
            for message_id in other.moved:  # (written after every message of this batch: moved to the end)
                messages.pop(message_id, None)
            self.moved.extend(other.moved)
        self.messages.update(other.messages)
        inserts = self.inserts
        if other.deletes and inserts:
            # An entry still waiting here to be written is deleted by just not writing it.
            self.deletes.extend([d for d in other.deletes if inserts.pop(d, None) is None])
        else:
            self.deletes.extend(other.deletes)
        inserts.update(other.inserts)
        if other.counters is not None:
            self.counters = other.counters
        if other.prune is not None:
            self.prune = other.prune if self.prune is None else max(self.prune, other.prune)
        self.callbacks.extend(other.callbacks)
        self.reads.extend(other.reads)
        for key, value in other.opt_outs.items():
            self.opt_outs.pop(key, None)
            self.opt_outs[key] = value
        self.dpf_flags.update(other.dpf_flags)
        self.rule_spells.update(other.rule_spells)
        self.pending_replies.update(other.pending_replies)
        if other.sim_time is not None:
            self.sim_time = other.sim_time if self.sim_time is None else max(self.sim_time, other.sim_time)


#: Free space below which a failure to open or write the store names the disk's free space (octets).
LOW_DISK_SPACE = 16 << 20


def low_disk_note(path: str) -> str:
    """"" or, when the file system holding ``path`` (its directory) has less than :data:`LOW_DISK_SPACE` octets
    free for this process, a note saying how much: SQLite says "disk I/O error" or "database or disk is full",
    and a full disk at the start read as the first (tester 177).  Never raises."""
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)) or ".")
    except OSError:
        return ""
    free = st.f_bavail * st.f_frsize
    if free >= LOW_DISK_SPACE:
        return ""
    return f"the disk holding it has {free // 1024:,} KiB free"


def _is_damage(error: str) -> bool:
    """True for a commit error that says the file itself is damaged (SQLITE_CORRUPT, SQLITE_NOTADB), which no
    retry mends, unlike a full disk or a lock held by another process."""
    return "malformed" in error or "not a database" in error


_Row = TypeVar("_Row")


def _decode_rows(rows: dict[Any, tuple[Any, ...]], keys: list[Any], from_row: Callable[[tuple[Any, ...]], _Row],
                 table: str) -> list[_Row]:
    """``from_row`` of the fetched row of each key, in the order of ``keys``; a key with no row is left out, and
    so is an unreadable row (logged with its table and key)."""
    decoded = []
    for key in keys:
        row = rows.get(key)
        if row is None:
            continue
        try:
            decoded.append(from_row(row))
        except _UNREADABLE:
            log.exception("store_row_unreadable", table=table, key=key)
    return decoded


class SqliteStats:
    """Counters of the writer, for metrics and the benchmark (commits, rows, batch sizes, time spent)."""

    __slots__ = ("commits", "messages", "deliveries", "callbacks", "largest_batch", "write_seconds", "failures",
                 "read_failures", "read_retries", "checkpoints", "checkpoint_seconds", "forced_checkpoints",
                 "checkpoint_failures", "writer_restarts")

    def __init__(self) -> None:
        self.commits = 0
        self.messages = 0
        self.deliveries = 0
        self.callbacks = 0
        self.largest_batch = 0
        self.write_seconds = 0.0
        self.failures = 0
        self.read_failures = 0  #: load_messages_later reads that failed (each tried again)
        self.read_retries = 0  #: reads on the caller's thread tried again, the file busy or locked
        self.checkpoints = 0  #: WAL checkpoints the writer child reported (its checkpointer thread's and its own)
        self.checkpoint_seconds = 0.0  #: real seconds they took (beside the commits, not in them)
        self.forced_checkpoints = 0  #: of them, run by the writer between two batches (the WAL at its limit)
        self.checkpoint_failures = 0  #: of them, those that failed or could not empty a WAL at its limit
        self.writer_restarts = 0  #: writer child processes that died and were replaced


def _run_all(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("on_durable_failed")


class _Failures:
    """When to log a failure that repeats (:data:`REPEATED_FAILURE_LOG_EVERY`), also one that comes and goes.

    A commit that fails, works, then fails again a moment later (a disk at its last free blocks, a file-size limit)
    was logged as a first failure and a recovery every time: two lines a second (tester 117).  Failures are counted
    across recoveries until :attr:`QUIET` seconds pass without one; the first and every 120th of that count are
    logged, and a recovery only after a failure that was.
    """

    __slots__ = ("consecutive", "recent", "last_at", "said")

    #: Real seconds without a failure after which the next one is logged as a first again.
    QUIET = 60.0

    def __init__(self) -> None:
        self.consecutive = 0  #: failures since the last success
        self.recent = 0  #: failures since the last quiet spell
        self.last_at = -math.inf  #: time.monotonic() of the last failure
        self.said = False  #: a failure was logged and its recovery not yet

    def failed(self) -> int:
        """Count a failure: the count to log it with (failures since the last quiet spell), or 0 to log nothing."""
        now = time.monotonic()
        if now - self.last_at > self.QUIET:
            self.recent = 0
        self.recent += 1
        self.consecutive += 1
        self.last_at = now
        if self.recent == 1 or self.recent % REPEATED_FAILURE_LOG_EVERY == 0:
            self.said = True
            return self.recent
        return 0

    def worked(self) -> int:
        """A success: the failures it ends to log as a recovery, or 0 (none, or they went unlogged)."""
        ended, self.consecutive = self.consecutive, 0
        if ended and self.said:
            self.said = False
            return ended
        return 0

    def seconds_since(self) -> float:
        """Real seconds since the last failure (inf: none)."""
        return time.monotonic() - self.last_at


def _owner_only(paths: list[str]) -> None:
    """Take group's and others' access away from the store's own files that grant it (an older smsc's file at
    0644, an empty 0666 file taken as a new store; SQLite gives its -wal and -shm the file's mode): the README
    promises the store, which holds every message's text, readable by its owner only (tester 117).  Only files
    this user owns; one it cannot change is left as it is (logged)."""
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            continue  # (not there)
        if not stat.S_ISREG(info.st_mode) or not info.st_mode & 0o077 or info.st_uid != os.geteuid():
            continue
        mode = stat.S_IMODE(info.st_mode)
        try:
            os.chmod(path, mode & 0o700)
        except OSError as exc:
            log.warning("store_permissions_kept", path=path, mode=f"{mode:04o}", reason=exc.strerror or str(exc))
            continue
        log.info("store_permissions_tightened", path=path, was=f"{mode:04o}", now=f"{mode & 0o700:04o}",
                 reason="the store holds every message's text: readable by its owner only")


class SqliteStore:
    """A :class:`~smsc.core.store.base.MessageStore` in one SQLite file (WAL, group commit).

    Args:
        path: the database file (created with its tables when missing).
        synchronous: "NORMAL" (survives a process crash) or "FULL" (also power loss).
        call_soon_threadsafe: ``loop.call_soon_threadsafe`` of the event loop that must receive the
            ``on_durable`` callbacks; given, the store starts its writer child process (see :attr:`writer_pid`),
            which the loop of ``call_soon`` drives (make the store on that loop's thread); when None the store
            writes inline on the caller's thread.
        call_soon: ``loop.call_soon`` of that loop (default: taken from ``call_soon_threadsafe``'s loop).  The
            commits of one loop tick are handed to the writer together, once, at the end of the tick; without
            it every ``commit`` hands its batch over at once.  Given without ``call_soon_threadsafe``, the store
            writes on the loop thread, one transaction per loop tick (at its end, through ``call_soon``), and
            calls the tick's ``on_durable`` callbacks right after it (group commit without a thread: the
            engine benchmark, single-threaded tools).

    Raises:
        ValueError: ``synchronous`` is not NORMAL or FULL.
        sqlite3.Error: the file cannot be opened or is not an smsc store.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        call_soon_threadsafe: Callable[..., object] | None = None,
        call_soon: Callable[..., object] | None = None,
    ) -> None:
        synchronous = synchronous.upper()
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = os.fspath(path)
        if self.path in ("", ":memory:") or self.path.startswith("file:"):
            raise sqlite3.OperationalError(
                f"{self.path!r} is not a file name: the SQLite store needs a file (its writer child and readers "
                "each open it); for a store in memory use store.kind: memory")
        if self.path.endswith(("/", os.sep)) or os.path.isdir(self.path):
            # (--db "data/": SQLite made a file named "data" and failed with a bare "Not a directory": tester 61)
            raise sqlite3.OperationalError(f"{self.path!r} names a directory: give a file in it, such as "
                                           f"{os.path.join(self.path, 'smsc.sqlite')!r}")
        self.synchronous = synchronous
        self.stats = SqliteStats()
        self._call_soon_threadsafe = call_soon_threadsafe
        if call_soon is None and call_soon_threadsafe is not None:
            call_soon = getattr(getattr(call_soon_threadsafe, "__self__", None), "call_soon", None)
        self._call_soon = call_soon
        self._handover_scheduled = False
        self._local = _Batch()  # loop thread only
        #: The simulation clock (seconds), read as each batch with rows is written and saved with it (see
        #: :meth:`save_sim_time`), or None.  A scaled clock resumes from the last saved time after a restart;
        #: saved with every batch, that time is never before a time the batch records (a submit, an attempt),
        #: even after a kill -9 between two of the server's periodic saves.
        self.sim_time_source: Callable[[], float] | None = None
        self._closing = False
        self._closed = False
        #: The descriptor of ``<path>.lock``, locked (flock) while a store with a writer child has the file:
        #: taken before anything else touches the file (the writer child of a server killed a moment before may
        #: be stopped inside a transaction, and the schema's statements would wait for it, then fail with
        #: SQLite's "database is locked" instead of saying who holds the file).
        self._lock_fd: int | None = None
        self._lock_created: str | None = None
        #: The descriptor of the database file itself, locked (flock) beside ``<path>.lock``: see
        #: :meth:`_lock_database`.
        self._db_lock_fd: int | None = None
        if call_soon_threadsafe is not None:
            self._lock_fd = self._lock_file()
        companions = [self.path + suffix for suffix in ("-wal", "-shm")]
        made = [p for p in companions if not os.path.exists(p)]  # (SQLite makes them beside the file)
        try:
            size_before: int | None = os.path.getsize(self.path)
        except OSError:
            size_before = None  # (no file yet)
        created_file = False
        if size_before is None:
            # Made here, readable and writable by its owner only, before SQLite makes it with 0644 (its -wal and
            # -shm take the file's mode): the store holds every message's text, OTP codes included, and any local
            # user could read them (tester 110).
            try:
                # (the file a symlink names when the link dangles: O_EXCL refuses the link itself, and SQLite then
                # made the target with 0644: tester 112)
                os.close(os.open(os.path.realpath(self.path), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                                 0o600))
                created_file = True
            except OSError:
                pass  # (SQLite says why it cannot make the file, as before)
        try:
            problem = foreign_file_problem(self.path)
            if problem is not None:
                # (named as an smsc store's refusal: nothing in the file was touched; never "delete the file",
                # which may be another application's data)
                raise NotAStore(f"not an smsc store, left as it is: {problem}; give another store.path")
            if not created_file:
                _owner_only([self.path, *(p for p in companions if p not in made)])
            setup = self._connect()
            try:
                self._create_schema(setup)
                if call_soon_threadsafe is not None:
                    # A file this process cannot write must be refused now, with the error that says why, not
                    # accepted and then fail every commit (the schema, when already there, writes nothing).
                    # (In WAL mode BEGIN IMMEDIATE alone succeeds on a read-only file: a page must be written.)
                    setup.execute("BEGIN IMMEDIATE")
                    try:
                        setup.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                    finally:
                        setup.execute("ROLLBACK")
            finally:
                setup.close()
            if call_soon_threadsafe is not None:
                self._db_lock_fd = self._lock_database()  # (no connection of this process is open here)
        except BaseException:
            # What this failed start made is not left beside the file: the lock file, and an empty WAL and its
            # index (made with the file's mode: those of a read-only file would keep it refused once it is
            # writable again).
            for made_path in ([self._lock_created] if self._lock_created is not None else []) + made:
                try:
                    if not made_path.endswith("-wal") or os.path.getsize(made_path) == 0:
                        os.unlink(made_path)
                except OSError:
                    pass
            if created_file:  # (the file made above, while still empty)
                try:
                    if os.path.getsize(self.path) == 0:
                        os.unlink(os.path.realpath(self.path))
                except OSError:
                    pass
            self._unlock_file()
            raise
        self._lock_created = None
        if call_soon_threadsafe is not None:
            # A new store says so, and an empty file most of all (tester 88: a store cut to 0 octets started as
            # a new one, its ids from 00000001 again, with the same start lines as a store that was empty).
            if size_before is None:
                log.info("store_created", path=self.path)
            elif size_before == 0:
                log.warning("store_created_in_empty_file", path=self.path,
                            reason="the file was empty (0 octets): a new store begins in it; if it held a store "
                                   "before, that store is gone")
        #: (st_dev, st_ino) of the file as opened: see :meth:`file_problem`.
        self._identity = _identity(self.path)
        #: The -wal file beside it: seen once (SQLite keeps it while connections are open), then missing at how
        #: many looks in a row (:meth:`file_problem`).
        self._wal_seen = False
        self._wal_missing = 0
        #: This store's batches to a writer child: (a random token of this store, the last number sent), see
        #: :func:`sqlite_writer.commit`.
        self._batch_token = secrets.randbits(62)
        self._batch_number = 0
        self._inline: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None  # load_messages (loop thread), opened when first needed
        #: The writer child process (see :mod:`smsc.core.store.sqlite_writer`): started here, replaced when it
        #: dies, stopped by ``close()``.  Driven from the loop thread (see :meth:`_handover`).
        self._child: subprocess.Popen[bytes] | None = None
        #: The event loop that reads the child's answers (``add_reader``): the one ``call_soon`` belongs to;
        #: None without one (each handover then waits for its answer on the caller's thread).
        self._loop: Any = None
        #: The batches sent to the child and not yet acknowledged, oldest first: (frame, batch).  At most
        #: :data:`_IN_FLIGHT`: what is committed meanwhile merges into ``_pending`` (group commit), sent when an
        #: answer comes.
        #: Each entry: (frame, batch, when it was first sent: ``time.monotonic()``).
        self._in_flight: collections.deque[tuple[bytes, _Batch, float]] = collections.deque()
        #: on_durable callbacks committed and handed to the loop (``call_soon_threadsafe``), not yet run.
        self._handed_back = 0
        #: on_durable callbacks run so far (see :meth:`commit_mark`).
        self._commits_done = 0
        self._pending = _Batch()
        self._answers = bytearray()  # what the child wrote and is not yet a whole frame
        self._unsent = bytearray()  # frames, or the end of one, not yet written to the child (pipe full)
        self._writing = False  # the loop waits for room in the child's pipe (add_writer) to write _unsent
        self._restarts = 0  # children started since the last acknowledgement
        #: The error of a commit that found the file damaged (SQLite's "database disk image is malformed":
        #: an index or table page read nowhere at start), or None.  No retry can succeed: see on_damage.
        self.damage: str | None = None
        #: Commits and checkpoints that failed, and when to say so (:class:`_Failures`).
        self._commit_failures = _Failures()
        self._checkpoint_failures = _Failures()
        #: Called once with that error, on the loop thread (the server stops: ``App``).
        self.on_damage: Callable[[str], None] | None = None
        self._reviving = False  # a restart is scheduled (call_later): nothing is sent until it runs
        #: load_messages_later requests of this loop tick (loop thread), handed to the reader at its end.
        self._reads_local: list[_ReadRequest] = []
        self._reads_scheduled = False
        #: ``load_*_later`` requests whose callback has not run yet (loop thread): see :meth:`reads_pending`.
        self._reads_out = 0
        #: Requests handed to the reader thread, guarded by _read_cond; the thread starts with the first.
        self._reads_shared: list[_ReadRequest] = []
        self._read_cond = threading.Condition(threading.Lock())
        self._read_thread: threading.Thread | None = None
        self._read_conn: sqlite3.Connection | None = None  # the reader thread's, opened (again) by it
        self._reads_closing = False
        if call_soon_threadsafe is None:
            self._inline = self._connect()
        else:
            loop = getattr(call_soon, "__self__", None)
            if loop is not None and hasattr(loop, "add_reader"):
                self._loop = loop
            try:
                self._child = self._start_child()
            except BaseException:
                self._unlock_file()
                raise

        #: The loop's thread: the store is made on it (``close()`` from another thread asks the loop to close).
        self._loop_thread = threading.get_ident()

    def _lock_file(self) -> int:
        """Lock ``<path>.lock`` (created if missing) for this store: a second server on the same file would hand
        out the same message_ids and overwrite this one's rows.  The lock (flock, on a file of its own so that
        it never meets SQLite's own locks) is held by this process and its writer child (the same open file), so
        it goes only when both are gone, also when they are killed.  The file says who holds it (``<server
        pid> <writer child pid>``, :meth:`_write_holders`).  Held by a server that is running (this one
        included), the lock is refused at once; held only by the writer child of a server that is gone (killed
        a moment before: the child finishes its batch and exits), it is waited for up to :data:`_LOCK_WAIT`
        seconds, then refused.

        Raises:
            sqlite3.OperationalError: another store with a writer child (another ``smsc serve``) has the file, or
                the lock file cannot be opened (its directory is missing or not writable).
        """
        lock_path = os.path.realpath(self.path) + ".lock"  # (the file's, also when reached by a symlink)
        try:
            try:
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
                self._lock_created = lock_path  # (removed again if this store then fails to open)
            except FileExistsError:
                # Never through a symbolic link: the holders' pids are written into the lock file, and a link
                # put there would have them written over whatever file it names (tester 126).
                fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise sqlite3.OperationalError(f"unable to open the lock file {lock_path}: it is a symbolic link "
                                               f"(remove it: smsc makes its own)") from None
            raise sqlite3.OperationalError(f"unable to open the lock file {lock_path}: {exc.strerror}") from None
        deadline = time.monotonic() + _LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._write_holders(fd, None)
                return fd
            except BlockingIOError:
                server, child = _lock_holders(fd)
                server_running = server is not None and _running(server)
                if server_running or time.monotonic() >= deadline:
                    os.close(fd)
                    if server_running:
                        holder = f"another smsc server (pid {server})"
                        advice = "stop it, or give this one a file of its own"
                    elif child is not None and _running(child):
                        holder = f"the writer child (pid {child}) of an smsc server that is gone (pid {server})"
                        advice = (f"it still had a batch to finish; if it does not exit, stop it (kill -KILL {child}: "
                                  "a stopped process ignores a plain kill), then start again")
                    else:  # (an older smsc, which writes no pids, or pids that are gone: the file names no holder)
                        holder = "another smsc server"
                        advice = "stop it, or give this one a file of its own"
                    raise StoreInUse(f"{self.path} is in use by {holder}: {lock_path} is locked; {advice}") from None
                time.sleep(0.05)

    @staticmethod
    def _write_holders(fd: int, child: int | None) -> None:
        """Write who holds the lock into the lock file: this process and its writer child (None: not started
        yet).  Only for the messages of a store refused the lock; a failure to write is ignored."""
        try:
            data = f"{os.getpid()} {child if child is not None else '-'}\n".encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, data, 0)
        except OSError:
            pass

    def _lock_database(self) -> int:
        """Lock the database file itself too (flock, kept until :meth:`close`): ``<path>.lock`` guards the file
        only while it stays in place, and deleted while a server runs (a clean-up step's ``rm -f *.lock``) it
        let a second server start on the same file, both handing out message_id 00000002 (tester 29).

        flock, not fcntl: SQLite's own locks are POSIX (fcntl) locks, which flock never meets on Linux.  But
        closing any descriptor of a file drops the POSIX locks the process holds on it, so this one is opened
        while no connection of this process is open and closed only once they all are (:meth:`close`).  The
        writer child does not inherit it: a server killed with its child still finishing a batch is waited for
        by ``<path>.lock`` (:meth:`_lock_file`), which the child holds.

        Raises:
            StoreInUse: another store of a running server has the file.
        """
        fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreInUse(f"{self.path} is in use by another smsc server: the database file itself is locked "
                             "(that server's lock file is not the one beside this path: removed while it ran, or "
                             "the file is reached here through a hard link); stop it, or give this one a file of "
                             "its own") from None
        return fd

    def _unlock_file(self) -> None:
        fd, self._db_lock_fd = self._db_lock_fd, None
        if fd is not None:
            os.close(fd)  # (releases the flock; every connection of this process is closed by now)
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # (releases the flock)

    def file_problem(self) -> str | None:
        """Why ``path`` no longer names the file this store writes, or None: deleted (its directory too),
        replaced by another file, or emptied or written over in place so that it no longer starts as a SQLite
        database (a SQLite file copied over it in place is not seen here).  The open descriptors of the writer child go on committing to the file
        deleted, and every submit_sm_resp still says "on disk", but a restart would find none of it (tester 57:
        ten acknowledged messages gone after ``rm -rf`` of the data directory, with ``/api/health`` ok).
        A stat of the path: cheap enough for a look every second (``App``)."""
        identity = _identity(self.path)
        if identity is None:
            return "the file was deleted or moved away while smsc ran"
        if self._identity is not None and identity != self._identity:
            return "the file was replaced by another while smsc ran"
        try:
            with open(self.path, "rb") as f:
                header = f.read(len(SQLITE_MAGIC))
        except OSError:
            return None  # (cannot look: the commits say what is wrong, if anything)
        if header != SQLITE_MAGIC:
            # (the same file emptied or written over in place, ``: > file`` or ``cp other file``: tester 61)
            return "the file was emptied or written over while smsc ran (it no longer starts as a SQLite database)"
        # The -wal file holds every commit not yet copied into the database: deleted, the writer goes on
        # committing to the open file nobody will find, and a crash loses all of it (tester 155: 352 acknowledged
        # messages).  Missing at two looks in a row, once seen: SQLite may remove and make it again as its last
        # connection closes and the next opens (a writer child started again).
        if os.path.exists(self.path + "-wal"):
            self._wal_seen, self._wal_missing = True, 0
        elif self._wal_seen and self._child is not None:
            self._wal_missing += 1
            if self._wal_missing >= 2:
                return (f"its write-ahead log {self.path + '-wal'!r} was deleted while smsc ran (the commits in it "
                        f"are in no file a restart would read)")
        return None

    def commits_lagging(self) -> bool:
        """True when the oldest batch sent to the writer child has waited :data:`COMMIT_LAG_SECONDS` or more for
        its COMMIT (a disk that hangs, a stopped writer): the outbox then offers new receipts only once they are
        durable, as it does MO, rather than before their message's final state is (tester 155: a crash after a
        stall of half a second lost the DELIVERED states of 697 receipts the ESME had acknowledged, and after
        the restart those messages expired: two receipts that disagree)."""
        in_flight = self._in_flight
        return bool(in_flight) and time.monotonic() - in_flight[0][2] >= COMMIT_LAG_SECONDS

    def commit_wait_seconds(self) -> float:
        """Real seconds the oldest batch sent to the writer child has waited for its COMMIT (0.0 when none
        waits): what the submit_sm_resp it holds have waited for the store.  A stalled writer (a disk that
        hangs, a stopped process) shows here, and in the log (see ``App``)."""
        in_flight = self._in_flight
        return time.monotonic() - in_flight[0][2] if in_flight else 0.0

    @property
    def writer_pid(self) -> int | None:
        """The pid of the writer child process now running (None inline, or once closed)."""
        child = self._child
        return None if child is None or child.returncode is not None else child.pid

    # -- connection ----------------------------------------------------------------------------------------

    def _connect(self, busy_timeout: float = 5.0) -> sqlite3.Connection:
        """A connection to the file in WAL mode; ``busy_timeout``: real seconds SQLite waits for a lock held
        elsewhere before it raises "database is locked"."""
        return sqlite_writer.connect(self.path, self.synchronous, busy_timeout)

    def _read_now(self, read: Callable[[sqlite3.Connection], _T]) -> _T:
        """``read(connection)`` on the caller's thread with the connection kept for it (opened here, with no
        busy timeout), tried again after each of :data:`_SYNC_READ_RETRY_DELAYS` while the file is busy or
        locked; ``read`` must have no effect but its result (it may run several times).

        Raises:
            sqlite3.Error: the read failed with another error, or the lock outlasted the retries.
        """
        retries = 0
        while True:
            try:
                conn = self._reader
                if conn is None:
                    conn = self._reader = self._connect(busy_timeout=0.0)
                return read(conn)
            except sqlite3.DatabaseError as exc:
                busy = isinstance(exc, sqlite3.OperationalError) and _busy(exc)
                if not busy or retries >= len(_SYNC_READ_RETRY_DELAYS):
                    # A page the start never read (an index leaf of the messages, say) may be damaged: no retry
                    # mends it, and the messages it holds, with the readable ones read beside them, could never
                    # expire nor be answered for (tester 177: expiries retried every simulated second for ever, a
                    # traceback each, health ok; at a fast clock the loop never let SIGTERM in).  The server
                    # stops, as for a commit.
                    self._note_damage(str(exc))
                    raise
                self.stats.read_retries += 1
                _sleep(_SYNC_READ_RETRY_DELAYS[retries])
                retries += 1

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 2:
            _migrate_v2(conn)
            return
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(
                f"store schema version {version} is not the one this smsc writes ({SCHEMA_VERSION}): "
                "give another store.path"
            )
        if version == SCHEMA_VERSION:
            present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
            if _SCHEMA_NAMES <= present:
                return  # (nothing to write: opening must not wait for a writer that holds the file)
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- reading -------------------------------------------------------------------------------------------

    def load(self, max_final: int | None = None, *, waiting: bool = True, deliveries: bool = True) -> StoredState:
        """Every waiting message (none when ``waiting`` is False: a restart reads them batch by batch with
        :meth:`iter_waiting`), the final ones not yet pruned (only the newest ``max_final`` of them when
        given: the others stay on disk for query_sm, and a restart after millions of messages does not read
        them all into memory), every outbox entry (none when ``deliveries`` is False: a restart reads them
        with :meth:`iter_deliveries`), counters.

        Rows that cannot be decoded are logged and skipped.
        """
        conn = self._connect()
        try:
            messages: list[Message] = []
            queries: list[tuple[str, tuple[int, ...]]]
            if max_final is None:
                queries = [(_SELECT_MESSAGES, ())] if waiting else [(_SELECT_FINAL, ())]
            else:
                queries = [(_SELECT_NEWEST_FINAL, (max(0, max_final),))]
                if waiting:
                    queries.append((_SELECT_WAITING, ()))
            for sql, params in queries:
                for row in conn.execute(sql, params):
                    try:
                        messages.append(message_from_row(row))
                    except _UNREADABLE:
                        log.exception("store_row_unreadable", table="messages", key=row[0])
            found: list[Delivery] = []
            highest: int | None = None  # the highest delivery_id on disk, when the outbox is not read
            if deliveries:
                for row in conn.execute(_SELECT_DELIVERIES):
                    try:
                        found.append(delivery_from_row(row))
                    except _UNREADABLE:
                        log.exception("store_row_unreadable", table="outbox", key=row[0])
            else:
                highest = conn.execute("SELECT MAX(delivery_id) FROM outbox").fetchone()[0]
            counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
        finally:
            conn.close()
        next_delivery_id = int(counters.get("next_delivery_id", 1))
        if found:
            next_delivery_id = max(next_delivery_id, found[-1].delivery_id + 1)
        elif highest is not None:
            next_delivery_id = max(next_delivery_id, highest + 1)
        return StoredState(
            messages=messages,
            deliveries=found,
            next_delivery_id=next_delivery_id,
            next_message_number=int(counters.get("next_message_number", 1)),
        )

    def iter_waiting(self, batch: int) -> Iterator[list[Message]]:
        """Every waiting message, at most ``batch`` per list, in rowid order (the order they were first saved:
        an upsert keeps a message's row, :meth:`move_message_last` gives it a new one), read one query per list
        on a connection of its own.  Each query starts after the last row of the one before, so rows the
        caller finalises meanwhile change nothing, and no read transaction stays open between lists (the
        writer's checkpoints are not held back).

        Rows that cannot be decoded are logged and skipped.

        Raises:
            ValueError: ``batch`` is less than 1.
        """
        return self._batches(_SELECT_WAITING_AFTER, batch, "messages", lambda row: message_from_row(row[1:]), 1)

    def iter_final_ids(self, batch: int) -> Iterator[list[str]]:
        """The message_id of every final message still stored, at most ``batch`` per list (records not read):
        a restart checks that no id it gives names one of them (:meth:`~smsc.core.smsc.Smsc.start`).

        Raises:
            ValueError: ``batch`` is less than 1.
        """
        return self._batches(_SELECT_FINAL_IDS_AFTER, batch, "messages", lambda row: str(row[1]), 1)

    def _batches(
        self, sql: str, batch: int, table: str, decode: Callable[[Any], Any], name_at: int,
    ) -> Iterator[list[Any]]:
        """Keyset paging for the ``iter_*`` readers: ``sql`` takes (last key, ``batch``) and gives rows whose
        first column is the key; each list holds the decoded rows of one query (undecodable ones logged, with
        the row's column ``name_at`` as their name, and skipped), on a connection of the generator's own.

        Raises:
            ValueError: ``batch`` is less than 1 (at the call, not at the first ``next``: this is no generator).
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        return self._pages(sql, batch, table, decode, name_at)

    def _pages(
        self, sql: str, batch: int, table: str, decode: Callable[[Any], Any], name_at: int,
    ) -> Iterator[list[Any]]:
        """The generator behind :meth:`_batches`."""
        conn = self._connect()
        try:
            after = 0  # rowids and delivery_ids start at 1
            while True:
                rows = conn.execute(sql, (after, batch)).fetchall()
                if not rows:
                    return
                after = rows[-1][0]
                decoded: list[Any] = []
                for row in rows:
                    try:
                        decoded.append(decode(row))
                    except _UNREADABLE:
                        log.exception("store_row_unreadable", table=table, key=row[name_at])
                yield decoded
                if len(rows) < batch:
                    return
        finally:
            conn.close()

    def iter_deliveries(self, batch: int) -> Iterator[list[Delivery]]:
        """Every outbox entry, at most ``batch`` per list, by delivery_id (the order they were added), one query
        per list on a connection of its own, each starting after the last delivery_id of the one before: a
        restart hands the outbox to the core a batch at a time, and the core keeps only the ids of those it
        does not need in memory (see :mod:`smsc.core.outbox`), instead of reading a million records at once.

        Rows that cannot be decoded are logged and skipped.

        Raises:
            ValueError: ``batch`` is less than 1.
        """
        return self._batches(_SELECT_DELIVERIES_AFTER, batch, "outbox", delivery_from_row, 0)

    def load_world(self) -> WorldState:
        """What the simulated world needs back before the core starts: the last simulation time recorded
        (so a scaled clock does not run backwards across a restart) and the opted-out numbers per carrier.
        A small read, separate from :meth:`load`."""
        conn = self._connect()
        try:
            row = conn.execute("SELECT value FROM counters WHERE name = 'sim_time_us'").fetchone()
            wall = conn.execute("SELECT value FROM counters WHERE name = 'sim_wall_us'").fetchone()
            opt_outs = [(c, e) for c, e in conn.execute("SELECT carrier, e164 FROM opt_outs ORDER BY rowid")]
            opt_ins = [(c, e) for c, e in conn.execute("SELECT carrier, e164 FROM opt_ins ORDER BY rowid")]
            spells = [(c, e, s / 1e6) for c, e, s in conn.execute(
                "SELECT carrier, e164, start_us FROM rule_spells ORDER BY rowid")]
            replies = [(k, d / 1e6, h, t, x, s) for k, d, h, t, x, s in conn.execute(
                "SELECT key, due_us, handset, destination, text, system_id FROM pending_replies"
                " ORDER BY due_us, rowid")]
        finally:
            conn.close()
        return WorldState(sim_time=row[0] / 1e6 if row else None, opt_outs=opt_outs, opt_ins=opt_ins,
                          rule_spells=spells,
                          pending_replies=replies, sim_wall_time=wall[0] / 1e6 if row and wall else None)

    def save_opt_out(self, carrier: str, e164: str, opted_out: bool) -> None:
        """Record that ``e164`` on ``carrier`` opted out (True) or back in (False), in the pending batch."""
        self._local.opt_outs.pop((carrier, e164), None)
        self._local.opt_outs[(carrier, e164)] = opted_out

    def save_dpf_flag(self, e164: str, system_id: str, handset: Address, esme: Address) -> None:
        """Record a Delivery Pending Flag of ``system_id`` for the handset ``e164`` (SMPP 3.4 section 4.12), with
        the addresses its alert_notification will carry (the handset's as the ESME wrote it, the ESME's own),
        in the pending batch; a flag of the same pair is replaced."""
        self._local.dpf_flags[(e164, system_id)] = (  # (plain ints: the writer child reads built-in values only)
            e164, system_id, int(handset.ton), int(handset.npi), handset.addr, int(esme.ton), int(esme.npi),
            esme.addr)

    def delete_dpf_flag(self, e164: str, system_id: str) -> None:
        """Record that the flag of ``system_id`` for ``e164`` is cleared (its alert is owed), in the pending
        batch: written in the same transaction as the alert's outbox row when committed with it."""
        self._local.dpf_flags[(e164, system_id)] = None

    def load_dpf_flags(self) -> list[tuple[str, str, Address, Address]]:
        """Every Delivery Pending Flag recorded, as (e164, system_id, handset address, ESME address), in the
        order they were last set (a small read at start, like :meth:`load_world`)."""
        conn = self._connect()
        try:
            rows = conn.execute(_SELECT_DPF_FLAGS).fetchall()
        finally:
            conn.close()
        return [(e164, system_id, _address(ht, hn, ha), _address(et, en, ea))
                for e164, system_id, ht, hn, ha, et, en, ea in rows]

    def save_rule_spell(self, carrier: str, e164: str, start: float | None) -> None:
        """Record when a number rule's offline spell started for ``e164`` (simulation seconds; kept to the
        microsecond), or that it was ended (None), in the pending batch."""
        self._local.rule_spells[(carrier, e164)] = None if start is None else int(round(start * 1e6))

    def save_pending_reply(self, key: str, due: float | None, handset: str, to: str, text: str,
                           system_id: str) -> None:
        """Record an auto-reply not sent yet, due at ``due`` (simulation seconds; kept to the microsecond), or
        that it was sent (None), in the pending batch."""
        self._local.pending_replies[key] = (None if due is None
                                            else (int(round(due * 1e6)), handset, to, text, system_id))

    def save_sim_time(self, sim_time: float) -> None:
        """Record the simulation clock's current time (seconds) in the pending batch."""
        local = self._local
        local.sim_time = sim_time if local.sim_time is None else max(local.sim_time, sim_time)

    def load_messages(self, message_ids: list[str]) -> list[Message]:
        """The committed messages with these ids, in the order given; unknown ids (and unreadable rows) are left
        out.  A read on the caller's thread with its own connection: the event loop waits for it, so it is
        for the few messages a request needs, read by primary key (draining uses :meth:`load_messages_later`).
        """
        if not message_ids:
            return []
        return self._decode(self._read_now(functools.partial(self._fetch, message_ids=message_ids)), message_ids)

    def live_message_ids(self, message_ids: list[str]) -> set[str]:
        """The ids among ``message_ids`` of committed messages that are not final (``final_time`` NULL): the
        core asks, after its message_id counter has wrapped, whether an id is still held by a waiting message
        evicted from memory before giving it again.  Primary-key reads on the caller's thread, with the
        connection of :meth:`load_messages`, in power-of-two chunks as :meth:`_fetch` does."""
        if not message_ids:
            return set()
        return self._read_now(functools.partial(self._live_ids, message_ids=message_ids))

    @staticmethod
    def _live_ids(conn: sqlite3.Connection, message_ids: list[str]) -> set[str]:
        live: set[str] = set()
        n = len(message_ids)
        i = 0
        while i < n:
            k = min(n - i, _CHUNK_ROWS)
            k = 1 << (k.bit_length() - 1)
            sql = _live_statements.get(k)
            if sql is None:
                sql = _live_statements[k] = f"{_SELECT_LIVE_BY_ID}({', '.join('?' * k)})"
            live.update(row[0] for row in conn.execute(sql, message_ids[i:i + k]).fetchall())
            i += k
        return live

    def forget_id(self, message_id: str, members: list[str]) -> None:
        """``message_id`` is given to a new message (after a message_id wrap): delete, in the pending batch and
        before anything saved after this call, the final records it names: the message of that id and the
        destinations ``message_id-n`` of a submit_multi of that id, all of them (a range of the primary key,
        ``members`` or not: the core no longer knows those it forgot).  Saves of them still pending are
        dropped (``members`` are the destinations that may have one)."""
        local = self._local
        messages = local.messages
        if messages:
            messages.pop(message_id, None)
            for member in members:
                messages.pop(member, None)
        local.forgets[message_id] = list(members)

    def load_group(self, multi_id: str) -> list[Message]:
        """The committed destinations of the submit_multi ``multi_id`` (message_ids ``multi_id-1``,
        ``multi_id-2`` ..., see :mod:`smsc.core.smsc`), in destination order; none for an id that is not one.
        Read as :meth:`load_messages` reads (on the caller's thread): query_sm and the inspection API ask for
        a group whose members left memory, which the core no longer knows the ids of (at most 254 rows,
        the most destinations a submit_multi may carry, SMPP 3.4 section 4.5.1)."""
        if not multi_id:
            return []
        rows = self._read_now(lambda conn: conn.execute(_SELECT_GROUP, (f"{multi_id}-", f"{multi_id}.")).fetchall())
        found = {row[0]: row for row in rows}
        return self._decode(found, sorted(found, key=_member_number))

    def load_messages_later(self, message_ids: list[str], callback: Callable[[list[Message]], None]) -> None:
        """Read the committed messages with these ids on the reader thread and call ``callback(messages)`` on
        the loop thread, as :meth:`load_messages` would return them.

        The read sees every transaction committed before this call (its ``on_durable`` called), as
        :meth:`load_messages` does, but not the writes still pending: it runs beside the writer's transaction
        (WAL), not behind it, because a drain's reads waiting behind the writes of the receipts of the last
        drain step left the loop idle.  The requests of one loop tick are handed over together at its end (with
        ``call_soon``), so that the alerts of one tick share one query.  Callbacks come back in the order
        asked, but not in any order with ``on_durable`` callbacks.
        Inline (no writer child): with ``call_soon``, after the writes of the tick, at its end; without,
        read now and call back before returning.

        Raises:
            RuntimeError: the store is closed.
        """
        self._read_later((message_ids, callback, False))

    def load_deliveries(self, delivery_ids: list[int]) -> list[Delivery]:
        """The committed outbox entries with these delivery_ids, in the order given; unknown ids (and unreadable
        rows) are left out.  Read now on the caller's thread (a listing of the control API needs a few)."""
        if not delivery_ids:
            return []
        rows = self._read_now(functools.partial(self._fetch_deliveries, delivery_ids=delivery_ids))
        return self._decode_deliveries(rows, delivery_ids)

    def load_deliveries_later(self, delivery_ids: list[int], callback: Callable[[list[Delivery]], None]) -> None:
        """Read the committed outbox entries with these delivery_ids on the reader thread and call
        ``callback(deliveries)`` on the loop thread, as :meth:`load_deliveries` would return them: the outbox
        reads back the deliveries it evicted from memory (owed to a system_id no receiver took them from) as
        a receiver takes them.  Same thread, ordering and failure handling as :meth:`load_messages_later`.

        Raises:
            RuntimeError: the store is closed.
        """
        self._read_later((delivery_ids, callback, True))

    def _read_later(self, request: _ReadRequest) -> None:
        """:meth:`load_messages_later` and :meth:`load_deliveries_later`: ``request`` is (ids, callback, True for
        outbox entries).  Inline (no writer child) the read comes after the writes committed so far."""
        if self._closing:
            raise RuntimeError("read on a closed SqliteStore")
        ids, callback, outbox = request
        self._reads_out += 1
        request = (ids, functools.partial(self._read_back, callback), outbox)
        if self._inline is not None:
            if self._call_soon is None:
                for call in self._read_all([request]) or ():
                    call()
                return
            self._local.reads.append(request)
            if not self._handover_scheduled:
                self._handover_scheduled = True
                self._call_soon(self._flush_inline)
            return
        self._ask_reader(request)

    def _read_back(self, callback: Callable[[list[Any]], None], items: list[Any]) -> None:
        self._reads_out -= 1
        callback(items)

    def reads_pending(self) -> int:
        """How many :meth:`load_messages_later` and :meth:`load_deliveries_later` requests have not had their
        callback yet: what a jump of the simulated clock waits for between two deadlines (:meth:`smsc.app.App.
        advance_clock`), so that messages read back for a handset that came back are attempted at that time,
        not after the jump has expired them (tester 159)."""
        return self._reads_out

    def _ask_reader(self, request: _ReadRequest) -> None:
        """Queue a read for the reader thread, handed over at the end of this loop tick (with ``call_soon``)."""
        self._reads_local.append(request)
        if self._call_soon is None:
            self._hand_reads()
        elif not self._reads_scheduled:
            self._reads_scheduled = True
            self._call_soon(self._hand_reads)

    def _hand_reads(self) -> None:
        """Give the ``load_messages_later`` requests of this loop tick to the reader thread (started with the
        first: a store that never reads back keeps one thread)."""
        self._reads_scheduled = False
        reads, self._reads_local = self._reads_local, []
        if not reads:
            return
        with self._read_cond:
            self._reads_shared.extend(reads)
            if self._read_thread is None:
                self._read_thread = threading.Thread(target=self._read_loop, name="smsc-sqlite-reader", daemon=True)
                self._read_thread.start()
            self._read_cond.notify()

    def _read_loop(self) -> None:
        """The reader thread: serve waiting requests a group at a time (see :data:`_READ_GROUP`) until the
        store closes and nothing is left."""
        try:
            while True:
                with self._read_cond:
                    while not self._reads_shared and not self._reads_closing:
                        self._read_cond.wait()
                    reads, self._reads_shared = self._reads_shared, []
                if not reads:
                    return  # closing, and everything asked for was answered
                group: list[_ReadRequest] = []
                size = 0
                for read in reads:
                    group.append(read)
                    size += len(read[0])
                    if size >= _READ_GROUP:
                        self._hand_back(self._read_all(group) or [])
                        group = []
                        size = 0
                if group:
                    self._hand_back(self._read_all(group) or [])
        finally:
            if self._read_conn is not None:
                self._read_conn.close()
                self._read_conn = None

    @staticmethod
    def _fetch(
        conn: sqlite3.Connection, message_ids: list[str], head: str = _SELECT_MESSAGES_BY_ID,
    ) -> dict[Any, Any]:
        """The stored rows of these ids, by id, read in power-of-two chunks (few statement texts: a statement
        prepared afresh costs about as much as the read); ``head`` names the table (messages or outbox)."""
        rows: dict[Any, tuple[Any, ...]] = {}
        n = len(message_ids)
        i = 0
        while i < n:
            k = min(n - i, _CHUNK_ROWS)
            k = 1 << (k.bit_length() - 1)
            sql = _select_statements.get((head, k))
            if sql is None:
                sql = _select_statements[(head, k)] = f"{head}({', '.join('?' * k)})"
            for row in conn.execute(sql, message_ids[i:i + k]).fetchall():
                rows[row[0]] = row
            i += k
        return rows

    @classmethod
    def _fetch_deliveries(cls, conn: sqlite3.Connection, delivery_ids: list[int]) -> dict[Any, Any]:
        return cls._fetch(conn, delivery_ids, _SELECT_DELIVERIES_BY_ID)  # type: ignore[arg-type]

    @staticmethod
    def _decode_deliveries(rows: dict[Any, tuple[Any, ...]], delivery_ids: list[int]) -> list[Delivery]:
        """Deliveries for ``delivery_ids`` in that order from fetched rows (missing and unreadable ones left
        out)."""
        return _decode_rows(rows, delivery_ids, delivery_from_row, "outbox")

    @staticmethod
    def _decode(rows: dict[str, tuple[Any, ...]], message_ids: list[str]) -> list[Message]:
        """Messages for ``message_ids`` in that order from fetched rows (missing and unreadable ones left out)."""
        return _decode_rows(rows, message_ids, message_from_row, "messages")

    def _read_all(self, reads: list[_ReadRequest]) -> list[Callable[[], None]] | None:
        """Every pending ``load_messages_later`` (and ``load_deliveries_later``) of a batch with one set of
        queries per table (draining reads many numbers' few messages: one query each cost more than the rows);
        returns the callbacks to run, in the order asked, each with its own objects, or None when the store
        closed while the read still failed (see :meth:`_fetch_retrying`)."""
        found: dict[bool, dict[Any, Any]] = {}
        for outbox in (False, True):
            wanted = list(dict.fromkeys(i for keys, _, o in reads if o is outbox for i in keys))
            if not wanted:
                continue
            rows = self._fetch_retrying(wanted, self._fetch_deliveries if outbox else self._fetch)
            if rows is None:
                return None
            found[outbox] = rows
        decode = self._decode
        decode_deliveries = self._decode_deliveries
        return [
            functools.partial(callback, (decode_deliveries if outbox else decode)(found[outbox], keys))
            for keys, callback, outbox in reads
        ]

    def _fetch_retrying(
        self, wanted: list[Any], fetch: Callable[[sqlite3.Connection, list[Any]], dict[Any, Any]],
    ) -> dict[Any, tuple[Any, ...]] | None:
        """:meth:`_fetch` on the reader thread's connection (the inline one without a thread), tried again
        after a failure (each logged once, with its error) :data:`_READ_RETRY_FIRST` seconds later, doubling
        up to :data:`_READ_RETRY_MAX`, for as long as the store is open: the callbacks of a drain batch must get
        its messages, not an empty list.  The thread's connection is opened here, so that a failure to open it
        is retried too, and opened afresh after a failure.

        Returns None when the store closes while the read still fails (after one more try once closing): the
        messages stay waiting on disk, read back by the next start; nobody waits for them any more.
        """
        delay = _READ_RETRY_FIRST
        failures = 0
        while True:
            conn = self._inline
            try:
                if conn is None:
                    conn = self._read_conn
                    if conn is None:
                        conn = self._read_conn = self._connect()
                return fetch(conn, wanted)
            except sqlite3.Error as exc:
                failures += 1
                self.stats.read_failures += 1
                if self._inline is None and self._read_conn is not None:
                    self._read_conn.close()
                    self._read_conn = None
                if self._reads_closing or self._closing:
                    log.warning("store_read_abandoned", count=len(wanted), error=str(exc), reason="store closing",
                                failures=failures)
                    return None
                log.error("store_read_failed", path=self.path, count=len(wanted), error=str(exc), failures=failures,
                          retry_in=delay)
                if failures == 1 and _is_damage(str(exc)):  # (a damaged page: the server stops, see _read_now)
                    if self._inline is not None or self._call_soon_threadsafe is None:
                        self._note_damage(str(exc))
                    else:
                        self._hand_back([functools.partial(self._note_damage, str(exc))])
            if self._inline is not None:
                time.sleep(delay)  # on the caller's thread, as the inline writer's retries
            else:
                deadline = time.monotonic() + delay
                with self._read_cond:  # close() wakes it: one more try, then give up
                    while not self._reads_closing and (left := deadline - time.monotonic()) > 0:
                        self._read_cond.wait(left)
            delay = min(delay * 2, _READ_RETRY_MAX)

    # -- recording (loop thread) ---------------------------------------------------------------------------

    def save_message(self, message: Message) -> None:
        """Insert or update ``message`` in the pending batch (serialised now: later changes are not seen)."""
        self._local.messages[message.message_id] = message_to_row(message)

    def move_message_last(self, message: Message) -> None:
        """:meth:`save_message`, and give the message's row a rowid after every other row (its row is deleted
        and inserted again in the same transaction): :meth:`iter_waiting` then hands it back after every
        message saved before, as if it were first saved now.  replace_sm gives a message a new submit time; a
        restart must find it where that time puts it, not where it was first accepted."""
        local = self._local
        message_id = message.message_id
        local.messages.pop(message_id, None)
        local.messages[message_id] = message_to_row(message)
        local.moved.append(message_id)

    def save_delivery(self, delivery: Delivery) -> None:
        """Insert an outbox entry in the pending batch (serialised when the batch is written: a delivery
        does not change once added, and one acknowledged before that is never serialised at all)."""
        self._local.inserts[delivery.delivery_id] = delivery

    def delete_delivery(self, delivery_id: int) -> None:
        """Delete an outbox entry in the pending batch.  An entry added and deleted between two writes is
        never written, and neither is its delete: the core saves each delivery_id once (ids are never reused),
        so no older row of it can be on disk.  (Under load most receipts are acknowledged before their
        commit is written: this spares the writer a DELETE per receipt.)"""
        local = self._local
        if local.inserts and local.inserts.pop(delivery_id, None) is not None:
            return  # added since the last handover: no row of it exists (a delivery_id is inserted only once)
        local.deletes.append(delivery_id)

    def save_counters(self, next_message_number: int, next_delivery_id: int) -> None:
        """Record the id counters in the pending batch."""
        self._local.counters = (next_message_number, next_delivery_id)

    def prune_final(self, before: float) -> None:
        """Delete final messages with ``final_time < before`` in the pending batch."""
        local = self._local
        local.prune = before if local.prune is None else max(local.prune, before)

    def commit(self, on_durable: Callable[[], None]) -> None:
        """Make everything recorded so far durable, then call ``on_durable`` on the loop thread.

        Raises:
            RuntimeError: the store is closed.
        """
        if self._closing:
            raise RuntimeError("commit on a closed SqliteStore")
        if self._inline is not None:
            self._local.callbacks.append(on_durable)
            if self._call_soon is None:
                self._flush_inline()
            elif not self._handover_scheduled:
                self._handover_scheduled = True
                self._call_soon(self._flush_inline)
            return
        self._local.callbacks.append(on_durable)
        if self._call_soon is None:
            self._handover()
        elif not self._handover_scheduled:
            self._handover_scheduled = True
            self._call_soon(self._handover)

    def _flush_inline(self) -> None:
        """Inline mode: write what was committed (this loop tick, with ``call_soon``) in one transaction on
        this thread, then run its callbacks."""
        self._handover_scheduled = False
        if self._inline is None:
            return
        batch, self._local = self._local, _Batch()
        self._write(self._inline, batch)
        self._commits_done += len(batch.callbacks)
        _run_all(batch.callbacks)
        if batch.reads:
            _run_all(self._read_all(batch.reads) or [])

    def _handover(self) -> None:
        """Give everything committed in this loop tick to the writer child: sent at once when it has no batch
        in hand, else merged with what waits for it (sent when its answer comes)."""
        self._handover_scheduled = False
        batch, self._local = self._local, _Batch()
        if batch.empty() or self._child_stopped:
            return
        self._pending.merge(batch)
        if len(self._in_flight) < _IN_FLIGHT and not self._reviving:
            self._send_pending()
            if self._loop is None:
                self._wait_answers()

    # -- writing -------------------------------------------------------------------------------------------

    @staticmethod
    def _batch_rows(batch: _Batch) -> tuple[Any, ...]:
        """What :func:`sqlite_writer.commit` writes for ``batch``, as built-in values only (the writer child reads
        nothing else): the message rows are already ``(message_id, final_time, record)``; the outbox inserts
        are serialised here (:func:`_delivery_rows`)."""
        opt_outs = batch.opt_outs
        dpf_flags = batch.dpf_flags
        spells = batch.rule_spells
        replies = batch.pending_replies
        counters = batch.counters
        return (
            list(batch.forgets) if batch.forgets else None,
            list(dict.fromkeys(batch.moved)) if batch.moved else None,
            list(batch.messages.values()),
            _delivery_rows(batch.inserts) if batch.inserts else None,
            batch.deletes or None,
            None if counters is None else (int(counters[0]), int(counters[1])),
            None if batch.prune is None else float(batch.prune),
            [k for k, v in opt_outs.items() if v] if opt_outs else None,
            [k for k, v in opt_outs.items() if not v] if opt_outs else None,
            None if batch.sim_time is None else int(batch.sim_time * 1e6),
            [r for r in dpf_flags.values() if r is not None] if dpf_flags else None,
            [k for k, r in dpf_flags.items() if r is None] if dpf_flags else None,
            [(c, e, s) for (c, e), s in spells.items() if s is not None] if spells else None,
            [k for k, s in spells.items() if s is None] if spells else None,
            [(k, *r) for k, r in replies.items() if r is not None] if replies else None,
            [(k,) for k, r in replies.items() if r is None] if replies else None,
        )

    def _stamp(self, batch: _Batch) -> None:
        """Save the simulation time with a batch about to be written (see :attr:`sim_time_source`)."""
        source = self.sim_time_source
        if source is not None:
            now = source()
            if batch.sim_time is None or now > batch.sim_time:
                batch.sim_time = now

    def _count(self, batch: _Batch, seconds: float) -> None:
        """Add a committed batch to :attr:`stats` (``seconds``: its transaction)."""
        stats = self.stats
        stats.write_seconds += seconds
        stats.commits += 1
        stats.messages += len(batch.messages)
        stats.deliveries += len(batch.inserts) + len(batch.deletes)
        stats.callbacks += len(batch.callbacks)
        size = len(batch.messages) + len(batch.inserts) + len(batch.deletes)
        if size > stats.largest_batch:
            stats.largest_batch = size

    def seconds_since_commit_failure(self) -> float:
        """Real seconds since a commit last failed (inf: never), for ``/api/health``."""
        return self._commit_failures.seconds_since()

    def _write(self, conn: sqlite3.Connection, batch: _Batch) -> None:
        """Inline mode: one transaction for the whole batch on this thread; retried until it succeeds."""
        if not batch.has_rows():
            self.stats.callbacks += len(batch.callbacks)
            return
        self._stamp(batch)
        rows = self._batch_rows(batch)
        while True:
            started = time.perf_counter()
            try:
                sqlite_writer.commit(conn, rows)
            except sqlite3.Error:
                self.stats.failures += 1
                failing = self._commit_failures.failed()
                if failing:
                    log.exception("store_commit_failed", path=self.path, retry_in=_RETRY_DELAY, failures=failing,
                                  **({"disk": note} if (note := low_disk_note(self.path)) else {}))
                time.sleep(_RETRY_DELAY)
                continue
            ended = self._commit_failures.worked()
            if ended:
                log.info("store_commit_recovered", failures=ended)
            self._count(batch, time.perf_counter() - started)
            return

    # -- the writer child (driven from the loop thread: see the module's docstring) -------------------------

    _child_stopped = False

    def _start_child(self) -> subprocess.Popen[bytes]:
        """Start a writer child process on this store's file (see :mod:`smsc.core.store.sqlite_writer`): the
        module's source as read when this module was imported, run in isolated mode without site, so that it
        runs the code the server runs (not what an upgrade put in the file since) and imports only the standard
        library.  Its stderr is the server's (a crash of it shows in the server's log).  Its answers are read by
        the loop (``add_reader``) when there is one."""
        source_in, source_out = os.pipe()
        try:
            child = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _WRITER_BOOTSTRAP, str(source_in), self.path, self.synchronous],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                # (it holds the lock file too: a server started on the file waits until it is gone)
                pass_fds=(source_in,) if self._lock_fd is None else (source_in, self._lock_fd),
                # A process group of its own: what a terminal sends the server's group (SIGINT at Ctrl-C, SIGHUP
                # when it closes) is the server's to act on; the writer ends when the server closes its pipe
                # (tester 122: a hang-up killed the writer, a moment after its start, before it could ignore it).
                process_group=0 if WRITER_OWN_PROCESS_GROUP else None,
            )
        finally:
            os.close(source_in)
        try:
            view = memoryview(_WRITER_SOURCE)
            while view:  # (about 30 KB: the pipe takes it at once; the child reads it to the end)
                view = view[os.write(source_out, view):]
        except OSError:  # (the child died at once: noticed as any dead child, on its pipes)
            pass
        finally:
            os.close(source_out)
        assert child.stdin is not None and child.stdout is not None
        try:  # (a batch sent while the child commits the one before waits in the pipe, not in the loop's write)
            fcntl.fcntl(child.stdin.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:
            pass
        os.set_blocking(child.stdin.fileno(), False)
        if self._loop is not None and not self._closing:
            self._loop.add_reader(child.stdout.fileno(), self._on_answers)
        if self._lock_fd is not None:
            self._write_holders(self._lock_fd, child.pid)
        return child

    def _send_pending(self) -> None:
        """Send the batch waiting for the child (none in flight); a batch without rows (callbacks only) is
        handed back at once."""
        while True:
            batch, self._pending = self._pending, _Batch()
            if batch.empty():
                return
            if batch.has_rows():
                break
            self.stats.callbacks += len(batch.callbacks)
            if batch.callbacks:
                self._hand_back_commits(batch.callbacks)
        self._batch_number += 1
        number = batch.number = (self._batch_token, self._batch_number)
        self._stamp(batch)
        rows = self._batch_rows(batch)
        try:
            frame = sqlite_writer.dumps((number, rows))
        except Exception as exc:  # a value pickle cannot write (a programming error): see _plain_rows
            log.error("store_batch_unpicklable", error=f"{type(exc).__name__}: {exc}")
            frame = sqlite_writer.dumps((number, _plain_rows(rows)))
        self._in_flight.append((frame, batch, time.monotonic()))
        self._transmit(frame)

    def _transmit(self, frame: bytes) -> None:
        """Write a batch's frame to the child, after what is still unwritten.  The pipe does not block: what
        does not fit while the child is busy with the batch before (its buffer is 1 MiB, see
        :data:`_PIPE_SIZE`) is written by the loop when the pipe has room (``add_writer``); without the loop's
        reader (no loop, closing) this thread waits for the room."""
        self._unsent += frame
        self._flush_unsent()

    def _flush_unsent(self) -> None:
        child = self._child
        unsent = self._unsent
        try:
            if child is None:
                raise BrokenPipeError("no writer child")
            assert child.stdin is not None
            fd = child.stdin.fileno()
            while unsent:
                try:
                    del unsent[:os.write(fd, unsent)]
                except BlockingIOError:
                    if self._loop is not None and not self._closing:
                        if not self._writing:
                            self._loop.add_writer(fd, self._flush_unsent)
                            self._writing = True
                        return
                    select.select([], [fd], [], 1.0)
            if self._writing:
                self._writing = False
                self._loop.remove_writer(fd)
        except OSError as exc:
            self._child_lost(repr(exc))

    def _read_answers(self) -> bool:
        """Read what the child wrote (one read) and act on every whole answer in it; False when the child is
        gone (handled: see :meth:`_child_lost`)."""
        child = self._child
        if child is None:
            return False
        assert child.stdout is not None
        fd = child.stdout.fileno()
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            # Nothing to read yet: the pipe is non-blocking once a loop watched it (uvloop's add_reader sets
            # O_NONBLOCK).  The child is busy, not gone; waiting on this thread (no loop reader: closing), wait
            # here for the answer (_wait_answers reads again), bounded per call.
            if self._loop is None or self._closing:
                select.select([fd], [], [], 1.0)
            return True
        except OSError as exc:
            self._child_lost(repr(exc))
            return False
        if not data:
            self._child_lost("end of file")
            return False
        self._answers += data
        try:
            answers = sqlite_writer.split_frames(self._answers)
        except pickle.UnpicklingError as exc:
            self._child_lost(repr(exc))
            return False
        for answer in answers:
            self._on_answer(answer)
        return True

    def _on_answers(self) -> None:
        """The loop's reader of the child's answers."""
        self._read_answers()

    def _on_answer(self, answer: tuple[Any, ...]) -> None:
        """An acknowledgement hands its batch's callbacks back and sends what waits; a failed attempt is
        logged and counted (the child tries again)."""
        child = self._child
        if answer[0] == "checkpoint":
            self._on_checkpoint(answer)
            return
        if answer[0] == "unreadable":
            # The child could not read the oldest frame in flight (a value naming a class it does not know) and
            # exits: every frame in flight is made again of built-in values only (_plain_rows), and goes to the
            # next child, in order (see _child_lost).
            log.error("store_batch_unreadable", error=answer[1], batches=len(self._in_flight),
                      writer_pid=None if child is None else child.pid)
            self._in_flight = collections.deque(
                (sqlite_writer.dumps((batch.number, _plain_rows(self._batch_rows(batch)))), batch, sent)
                for _, batch, sent in self._in_flight
            )
            return
        if answer[0] != "ok":
            self.stats.failures += 1
            failing = self._commit_failures.failed()
            if failing:
                log.error("store_commit_failed", path=self.path, error=answer[1], retry_in=_RETRY_DELAY,
                          writer_pid=None if child is None else child.pid, failures=failing,
                          **({"disk": note} if (note := low_disk_note(self.path)) else {}))
            self._note_damage(str(answer[1]))
            return
        if not self._in_flight:  # (an answer to nothing: cannot happen; ignored)
            return
        batch = self._in_flight.popleft()[1]
        ended = self._commit_failures.worked()
        if ended:
            log.info("store_commit_recovered", failures=ended)
        self._restarts = 0
        self._count(batch, answer[1])
        if batch.callbacks:
            self._hand_back_commits(batch.callbacks)
        if not self._closing:
            self._send_pending()

    def _on_checkpoint(self, answer: tuple[Any, ...]) -> None:
        """A WAL checkpoint the child ran, ``("checkpoint", mode, seconds, frames, copied, error)`` (see
        :func:`sqlite_writer.serve`): counted; one the writer had to run itself, or one that failed, logged."""
        _, mode, seconds, frames, copied, error = answer
        stats = self.stats
        stats.checkpoints += 1
        stats.checkpoint_seconds += seconds
        forced = mode == "writer TRUNCATE"
        if forced:
            stats.forced_checkpoints += 1
        if error is not None:
            stats.checkpoint_failures += 1
            failing = self._checkpoint_failures.failed()
            if failing:
                log.error("store_checkpoint_failed", path=self.path, mode=mode, error=error, frames=frames,
                          copied=copied, seconds=round(seconds, 4), failures=failing,
                          hint="the -wal file grows until a checkpoint works: see that the file can be written")
            # A checkpoint reads the file itself: "file is not a database" there is a file overwritten or emptied
            # under the server (tester 61: logged every second for ten minutes, health ok, commits acknowledged
            # into a WAL that no restart could use).
            self._note_damage(str(error))
            return
        ended = self._checkpoint_failures.worked()
        if ended:
            log.info("store_checkpoint_recovered", failures=ended)
        if forced:
            log.warning("store_checkpoint_forced", mode=mode, frames=frames, seconds=round(seconds, 4),
                        limit_frames=sqlite_writer.HARD_LIMIT_FRAMES)

    def _wait_answers(self, deadline: float | None = None) -> bool:
        """Without the loop's reader (no loop, or closing): read the child's answers on this thread until the
        batch in flight is acknowledged, replacing a child that dies (see :meth:`_child_lost`).  False when
        ``deadline`` (``time.monotonic()``) came first."""
        while self._in_flight:
            if self._child is None:
                self._revive()
                continue
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                stdout = self._child.stdout
                if stdout is not None and not select.select([stdout.fileno()], [], [], min(left, 1.0))[0]:
                    continue  # (nothing yet: look at the deadline again)
            self._read_answers()
        return True

    def _child_lost(self, reason: str) -> None:
        """The child died (end of file, broken pipe) or answered nonsense: reap it, log it, start another and
        send it the batch in flight again.  The old child committed that batch's whole transaction or none of
        it, and the batch's number tells the new one which (see :func:`sqlite_writer.commit`).  A child that
        dies again before acknowledging anything is replaced only after :data:`_RETRY_DELAY` seconds (a timer
        of the loop, or a sleep without one), not in a tight loop."""
        child, self._child = self._child, None
        self._answers.clear()
        self._unsent.clear()  # (the new child gets every batch in flight from its start)
        if child is not None:
            self._unwatch(child)
            self._reap(child)
        self._restarts += 1
        self.stats.writer_restarts += 1
        log.error("store_writer_died", pid=None if child is None else child.pid,
                  returncode=None if child is None else child.returncode, error=reason, restarts=self._restarts)
        if self._restarts > 1:
            if self._loop is not None and not self._closing:
                self._reviving = True
                self._loop.call_later(_RETRY_DELAY, self._revive)
                return
            time.sleep(_RETRY_DELAY)
        if self._loop is None or self._closing:
            return  # (the caller's loop, _wait_answers, starts the next one)
        self._revive()

    def _revive(self) -> None:
        """Start a new child and send it the batch in flight (or what waits)."""
        self._reviving = False
        if self._child_stopped:
            return
        try:
            self._child = self._start_child()
        except OSError as exc:  # (cannot even start one: tried again later)
            self._child_lost(repr(exc))
            return
        for frame, _, _ in list(self._in_flight):
            if self._child is None:
                return  # (lost again while sending: see _child_lost)
            self._transmit(frame)
        if not self._in_flight and not self._closing:
            self._send_pending()

    @staticmethod
    def _reap(child: subprocess.Popen[bytes], wait: float = _CHILD_EXIT_WAIT) -> None:
        """Close this end of ``child``'s pipes and wait for it by its pid, at most ``wait`` seconds; then kill
        it (SIGKILL) and wait for that."""
        for stream in (child.stdin, child.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:  # (flushing a broken pipe)
                pass
        try:
            child.wait(wait)
        except subprocess.TimeoutExpired:
            log.warning("store_writer_killed", pid=child.pid, waited=wait)
            child.kill()
            child.wait()

    def _close_child(self) -> None:
        """Closing, on the loop thread or with the loop stopped: take the child's answers off the loop, send
        what is left (the saves of this tick too) and wait for each answer here, then close the child's pipe,
        so that it exits, and wait for it by its pid (see :meth:`_reap`)."""
        if self._child is not None:
            self._unwatch(self._child)
        leftover, self._local = self._local, _Batch()
        self._pending.merge(leftover)
        self._reviving = False  # (a restart the loop would have made: made here, if needed)
        # (a damaged file fails every commit: nothing to wait for)
        deadline = time.monotonic() + (0.0 if self.damage is not None else _CLOSE_WAIT)
        gave_up = False
        while True:
            if not self._wait_answers(deadline):
                gave_up = True
                break
            self._send_pending()
            if not self._in_flight:
                break
        self._child_stopped = True
        child, self._child = self._child, None
        if gave_up:
            dropped = [batch for _, batch, _ in self._in_flight]
            if not self._pending.empty():
                dropped.append(self._pending)  # (merged, waiting for a batch in flight to be answered)
            log.error("store_close_gave_up", waited=0.0 if self.damage is not None else _CLOSE_WAIT,
                      batches=len(dropped),
                      callbacks=sum(len(batch.callbacks) for batch in dropped),
                      messages=sum(len(batch.messages) for batch in dropped),
                      writer_pid=None if child is None else child.pid,
                      reason="the writer child did not commit them (failing: see store_commit_failed; or stopped,"
                             " hung); none was acknowledged")
            if child is not None:
                child.kill()
        if child is not None:
            self._reap(child)

    def _unwatch(self, child: subprocess.Popen[bytes]) -> None:
        """Take ``child``'s pipes off the loop (its reader, and its writer while a frame waits for room)."""
        loop = self._loop
        if loop is None:
            return
        try:
            if child.stdout is not None and not child.stdout.closed:
                loop.remove_reader(child.stdout.fileno())
            if self._writing and child.stdin is not None and not child.stdin.closed:
                loop.remove_writer(child.stdin.fileno())
        except RuntimeError:  # (the loop is closed)
            pass
        self._writing = False

    def _close_on_loop(self, loop: Any) -> None:
        """:meth:`_close_child` on the running loop's thread (the loop owns the child's reader and the batches),
        waited for here; done here if the loop stops before it runs it."""
        done = threading.Event()
        claim = threading.Lock()
        claimed: list[bool] = []

        def finish() -> None:
            with claim:
                if claimed:
                    return
                claimed.append(True)
            try:
                self._close_child()
            finally:
                done.set()

        try:
            loop.call_soon_threadsafe(finish)
        except RuntimeError:  # (the loop closed meanwhile)
            finish()
        while not done.wait(0.05):
            if not loop.is_running():
                finish()

    def _note_damage(self, error: str) -> None:
        """``error``, of a commit, a checkpoint or a read, may say the file is damaged (:func:`_is_damage`): the
        first such error is kept in :attr:`damage` and given to ``on_damage`` (loop thread only)."""
        if self.damage is None and _is_damage(error):
            self.damage = error
            if self.on_damage is not None:
                self.on_damage(error)

    def _hand_back(self, callbacks: list[Callable[[], None]],
                   run: Callable[[list[Callable[[], None]]], None] = _run_all) -> bool:
        """``run(callbacks)`` on the loop thread (called from the reader thread too); False when the loop is
        already closed (nobody is waiting any more: logged)."""
        assert self._call_soon_threadsafe is not None
        try:
            self._call_soon_threadsafe(run, callbacks)
        except RuntimeError:
            log.warning("store_callbacks_undelivered", reason="event loop closed", count=len(callbacks))
            return False
        return True

    def _hand_back_commits(self, callbacks: list[Callable[[], None]]) -> None:
        """:meth:`_hand_back` for a committed batch's ``on_durable`` callbacks, counted in :meth:`commit_mark`
        until they run (loop thread only)."""
        self._handed_back += len(callbacks)
        if not self._hand_back(callbacks, self._run_handed_back):
            self._handed_back -= len(callbacks)

    def _run_handed_back(self, callbacks: list[Callable[[], None]]) -> None:
        self._handed_back -= len(callbacks)
        self._commits_done += len(callbacks)
        _run_all(callbacks)

    def commit_mark(self) -> int:
        """A mark for :meth:`commits_outstanding`: the number of ``on_durable`` callbacks given to :meth:`commit`
        so far (the ones run and the ones not yet run: writes not yet committed, or committed and queued for the
        loop)."""
        return (self._commits_done + len(self._local.callbacks) + len(self._pending.callbacks) + self._handed_back
                + sum(len(batch.callbacks) for _, batch, _ in self._in_flight))

    def commits_outstanding(self, mark: int) -> int:
        """How many of the ``on_durable`` callbacks counted in ``mark`` (:meth:`commit_mark`) have not run yet
        (callbacks run in the order they were given).  What a jump of the simulated clock waits for before it
        starts (:meth:`smsc.app.App.advance_clock`): a submit is attempted once it is
        on disk, and a jump that ran before its commit came back went past its attempt (tester 163: a message
        with a validity of 2 minutes, then a jump of 5, expired unattempted).  Commits asked for later (an ESME
        submitting throughout) are not waited for."""
        return max(0, mark - self._commits_done)

    # -- closing -------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Write what is pending (including saves not yet committed), stop the writer child process (it gets
        end of file, exits, and is waited for by its pid), close. Idempotent.

        May be called from another thread than the loop's (``run_in_executor``) once the loop stopped
        recording: while the loop runs, the closing is done on it (it owns the child's pipes) and waited for.
        """
        if self._closed:
            return
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._inline is not None:
            self._closing = True
            leftover, self._local = self._local, _Batch()
            if leftover.has_rows():
                self._write(self._inline, leftover)
            self._inline.close()
            self._inline = None
            if leftover.callbacks and self._call_soon is not None:  # tick mode: committed, not yet handed back
                self._call_soon(_run_all, leftover.callbacks)
        else:
            self._closing = True
            loop = self._loop
            if loop is not None and loop.is_running() and threading.get_ident() != self._loop_thread:
                self._close_on_loop(loop)
            else:
                self._close_child()
            self._hand_reads()  # reads asked for before the close are still answered
            with self._read_cond:
                self._reads_closing = True
                self._read_cond.notify()
            if self._read_thread is not None:
                self._read_thread.join()
            self._unlock_file()
        self._closed = True
