"""The default MessageStore: one SQLite file in WAL mode, written by one thread with group commit.

How a write travels (the event loop never waits on SQLite):

1. On the loop thread, ``save_message`` / ``save_delivery`` / ``delete_delivery`` / ``save_counters`` turn
   their argument into a plain tuple (JSON text for the record) and add it to a loop-local batch.
2. ``commit(on_durable)`` adds the callback to that batch; at the end of the loop tick (``call_soon``) the
   batch of everything committed in the tick joins the shared pending batch (one lock) and the writer thread
   is woken.
3. The writer takes the *whole* pending batch, writes it inside one transaction, many rows per statement
   (``INSERT ... VALUES (...), (...)``: one statement step, so one GIL hand-back, per chunk of rows), and
   commits; then it hands every ``on_durable`` of that batch back with one ``call_soon_threadsafe``.  While
   a commit runs, the next batch fills, so batches grow with the load by themselves.

Reads: :meth:`SqliteStore.load_messages` reads records by message_id on the caller's thread (a request needs
a few); :meth:`SqliteStore.load_messages_later` reads them on the writer thread after its pending writes and
calls back on the loop (draining a queue of messages that waited for absent handsets).

A message saved several times in one batch is written once (the last version); a message saved again later
is updated in place (an upsert: it keeps its row).  If a transaction fails
(disk full...), the writer logs it and retries the same batch until it succeeds: its callbacks (and so the
submit_sm_resp they release) wait, because status 0 must mean "on disk".

Without ``call_soon_threadsafe`` the store runs *inline*: ``commit`` writes the batch on the calling thread and
calls ``on_durable`` before returning (unit tests, tools).

Durability: ``synchronous=NORMAL`` in WAL mode survives a crash of the process (``kill -9``) without losing a
committed transaction; ``FULL`` also survives power loss, at the cost of an fsync per commit.

Tables: ``messages`` (one column per :class:`~smsc.core.message.Message` field: addresses split into
ton/npi/addr, octet strings as BLOBs, TLVs and attempts as compact JSON text or NULL), ``outbox`` (one column
per :class:`~smsc.core.api.Delivery` field) and ``counters`` (name, value).  TLV values carry their type in
the JSON (int, string, octets in hex, list) so they come back exactly.  Plain columns keep the hot path
cheap: building a row is a tuple, not a JSON document.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import sqlite3
import sys
import threading
import time
from typing import Any, Callable

import structlog

from smsc.core.api import Address, Delivery
from smsc.core.message import Attempt, Message
from smsc.core.store.base import StoredState, WorldState
from smsc.smpp.constants import MessageState

log = structlog.get_logger("smsc.store")

#: PRAGMA user_version of the file.  Version 1 (a JSON record per row) only existed during development.
SCHEMA_VERSION = 2

_MESSAGE_COLUMNS = (
    "message_id", "system_id", "source_ton", "source_npi", "source_addr", "dest_ton", "dest_npi", "dest_addr",
    "destination_e164", "carrier", "service_type", "esm_class", "protocol_id", "priority_flag",
    "registered_delivery", "data_coding", "short_message", "tlvs", "submit_time", "schedule_time",
    "expiry_time", "state", "final_time", "error_code", "network_error_code", "next_attempt_time", "attempts",
    "submitted_count", "multi_id",
)
_DELIVERY_COLUMNS = (
    "delivery_id", "system_id", "source_ton", "source_npi", "source_addr", "dest_ton", "dest_npi", "dest_addr",
    "esm_class", "protocol_id", "priority_flag", "data_coding", "short_message", "service_type", "tlvs", "kind",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY, system_id TEXT NOT NULL,
    source_ton INTEGER, source_npi INTEGER, source_addr TEXT,
    dest_ton INTEGER, dest_npi INTEGER, dest_addr TEXT, destination_e164 TEXT, carrier TEXT, service_type TEXT,
    esm_class INTEGER, protocol_id INTEGER, priority_flag INTEGER, registered_delivery INTEGER,
    data_coding INTEGER, short_message BLOB, tlvs TEXT,
    submit_time REAL, schedule_time REAL, expiry_time REAL, state INTEGER NOT NULL, final_time REAL,
    error_code INTEGER, network_error_code BLOB, next_attempt_time REAL, attempts TEXT,
    submitted_count INTEGER, multi_id TEXT
);
CREATE INDEX IF NOT EXISTS messages_final_time ON messages (final_time) WHERE final_time IS NOT NULL;
CREATE TABLE IF NOT EXISTS outbox (
    delivery_id INTEGER PRIMARY KEY, system_id TEXT NOT NULL,
    source_ton INTEGER, source_npi INTEGER, source_addr TEXT, dest_ton INTEGER, dest_npi INTEGER, dest_addr TEXT,
    esm_class INTEGER, protocol_id INTEGER, priority_flag INTEGER, data_coding INTEGER, short_message BLOB,
    service_type TEXT, tlvs TEXT, kind TEXT
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
"""

#: Rows go to SQLite many per statement (``VALUES (...), (...), ...``): one statement step per chunk instead of
#: one per row, so the writer thread gives up and takes back the GIL once per chunk, not once per row (under
#: load a per-row handover throttled the writer and the event loop alike).  Chunks are powers of two up to
#: this many rows, so only a few statement texts exist (the sqlite3 module caches them).
_CHUNK_ROWS = 512
_UPSERT_MESSAGES_HEAD = f"INSERT INTO messages ({', '.join(_MESSAGE_COLUMNS)}) VALUES "
#: A message saved again keeps its row and rowid; every column takes the new value (as INSERT OR REPLACE did).
_UPSERT_MESSAGES_TAIL = " ON CONFLICT(message_id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _MESSAGE_COLUMNS[1:]
)
_INSERT_DELIVERIES_HEAD = f"INSERT OR REPLACE INTO outbox ({', '.join(_DELIVERY_COLUMNS)}) VALUES "
_DELETE_DELIVERIES_HEAD = "DELETE FROM outbox WHERE delivery_id IN ("
_statements: dict[tuple[str, int, int, str], str] = {}


def _write_rows(
    conn: sqlite3.Connection, head: str, width: int, rows: list[tuple[Any, ...]], tail: str = "",
    group: str | None = None,
) -> None:
    """Execute ``head`` + ``k`` value groups + ``tail`` over ``rows`` (tuples of ``width`` values) in chunks
    of ``k`` rows (powers of two up to :data:`_CHUNK_ROWS`)."""
    chain = itertools.chain.from_iterable
    n = len(rows)
    i = 0
    while i < n:
        k = min(n - i, _CHUNK_ROWS)
        k = 1 << (k.bit_length() - 1)
        key = (head, width, k, tail)
        sql = _statements.get(key)
        if sql is None:
            one = group or f"({', '.join('?' * width)})"
            sql = _statements[key] = head + ", ".join([one] * k) + tail
        conn.execute(sql, list(chain(rows[i:i + k])) if width > 1 else [r[0] for r in rows[i:i + k]])
        i += k


_SELECT_MESSAGES = f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages ORDER BY rowid"
_SELECT_MESSAGES_BY_ID = f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages WHERE message_id IN "
_SELECT_DELIVERIES = f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM outbox ORDER BY delivery_id"
_UPSERT_COUNTER = "INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)"
_PRUNE = "DELETE FROM messages WHERE final_time IS NOT NULL AND final_time < ?"
_INSERT_OPT_OUT = "INSERT OR IGNORE INTO opt_outs (carrier, e164) VALUES (?, ?)"
_DELETE_OPT_OUT = "DELETE FROM opt_outs WHERE carrier = ? AND e164 = ?"

_RETRY_DELAY = 0.5  # real seconds between attempts to write a batch that failed
_json_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]  (what json.dumps uses for str)
_isfinite = math.isfinite


# -- records <-> rows ---------------------------------------------------------------------------------------


def _tlv_value_to_json(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return ["i", int(value)]
    if isinstance(value, int):
        return ["i", int(value)]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ["b", bytes(value).hex()]
    if isinstance(value, (list, tuple)):
        return ["l", [_tlv_value_to_json(v) for v in value]]
    if value is None:
        return ["n", None]
    raise TypeError(f"cannot store a TLV value of type {type(value).__name__}")


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


def tlvs_to_text(tlvs: dict[int, Any]) -> str | None:
    """TLVs as JSON ``[[tag, kind, value], ...]`` (kind i/s/b/l/n, bytes in hex), None when there are none.

    Plain ints, strings and bytes (every TLV of a receipt) are written directly; other values go through
    :func:`json.dumps`.  The text is the same either way (a property test checks it).
    """
    if not tlvs:
        return None
    parts = []
    for tag, value in tlvs.items():
        kind = type(value)
        if kind is int:
            parts.append(f'[{int(tag)},"i",{value}]')
        elif kind is str:
            parts.append(f'[{int(tag)},"s",{_json_str(value)}]')
        elif kind is bytes:
            parts.append(f'[{int(tag)},"b","{value.hex()}"]')
        else:
            parts.append(json.dumps([int(tag), *_tlv_value_to_json(value)], separators=(",", ":")))
    return f"[{','.join(parts)}]"


#: JSON text of each attempt outcome word ("delivered" -> '"delivered"').
_OUTCOME_JSON: dict[str, str] = {}


def attempts_to_text(attempts: list[Attempt]) -> str | None:
    """Attempts as JSON ``[[time, outcome, err], ...]``, None when there are none (same text as
    ``json.dumps`` with compact separators; finite float times and int errors are written directly)."""
    if not attempts:
        return None
    parts = []
    for a in attempts:
        t = a.time
        err = a.err
        if type(t) is not float or not _isfinite(t) or type(err) is not int:
            return json.dumps([[x.time, x.outcome, x.err] for x in attempts], separators=(",", ":"))
        word = _OUTCOME_JSON.get(a.outcome)
        if word is None:
            word = _OUTCOME_JSON[a.outcome] = json.dumps(a.outcome)
        parts.append(f"[{t!r},{word},{err}]")
    return f"[{','.join(parts)}]"


def tlvs_from_text(text: str | None) -> dict[int, Any]:
    """Inverse of :func:`tlvs_to_text`.

    Raises:
        ValueError: the text is not a stored TLV list.
    """
    if not text:
        return {}
    return {int(tag): _tlv_value_from_json([kind, value]) for tag, kind, value in json.loads(text)}


def message_to_row(message: Message) -> tuple[Any, ...]:
    """The row a message is stored as (columns :data:`_MESSAGE_COLUMNS`), a snapshot of it now."""
    source = message.source
    destination = message.destination
    attempts = message.attempts
    return (
        message.message_id, message.system_id, source.ton, source.npi, source.addr,
        destination.ton, destination.npi, destination.addr, message.destination_e164, message.carrier,
        message.service_type, message.esm_class, message.protocol_id, message.priority_flag,
        message.registered_delivery, message.data_coding, message.short_message,
        tlvs_to_text(message.tlvs) if message.tlvs else None,
        message.submit_time, message.schedule_time, message.expiry_time, int(message.state), message.final_time,
        message.error_code, message.network_error_code, message.next_attempt_time,
        attempts_to_text(attempts) if attempts else None,
        message.submitted_count, message.multi_id,
    )


_addresses: dict[tuple[int, int, str], Address] = {}
_new = object.__new__
_STATES = tuple(MessageState(v) for v in range(max(MessageState) + 1))


def _intern(text: str | None) -> Any:
    return sys.intern(text) if type(text) is str else text


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


def message_from_row(row: tuple[Any, ...] | sqlite3.Row) -> Message:
    """Inverse of :func:`message_to_row`.

    Raises:
        ValueError, TypeError: the row is not a stored message.
    """
    (message_id, system_id, source_ton, source_npi, source_addr, dest_ton, dest_npi, dest_addr, e164, carrier,
     service_type, esm_class, protocol_id, priority_flag, registered_delivery, data_coding, short_message, tlvs,
     submit_time, schedule_time, expiry_time, state, final_time, error_code, nec, next_attempt_time, attempts,
     submitted_count, multi_id) = row
    m = _new(Message)  # every field set below (the round-trip tests compare whole records)
    m.message_id = message_id
    m.system_id = _intern(system_id)
    m.source = _address(source_ton, source_npi, source_addr)
    m.destination = _address(dest_ton, dest_npi, dest_addr)
    m.destination_e164 = _intern(e164)
    m.carrier = _intern(carrier)
    m.service_type = _intern(service_type)
    m.esm_class = esm_class
    m.protocol_id = protocol_id
    m.priority_flag = priority_flag
    m.registered_delivery = registered_delivery
    m.data_coding = data_coding
    m.short_message = bytes(short_message or b"")
    m.tlvs = tlvs_from_text(tlvs) if tlvs else {}
    m.submit_time = submit_time
    m.schedule_time = schedule_time
    m.expiry_time = expiry_time
    m.state = _STATES[state] if type(state) is int and 0 <= state < len(_STATES) else MessageState(state)
    m.final_time = final_time
    m.error_code = error_code
    m.network_error_code = None if nec is None else bytes(nec)
    m.next_attempt_time = next_attempt_time
    m.attempts = [Attempt(time=t, outcome=o, err=e) for t, o, e in json.loads(attempts)] if attempts else []
    m.submitted_count = submitted_count
    m.multi_id = multi_id or ""
    return m


def delivery_to_row(delivery: Delivery) -> tuple[Any, ...]:
    """The row an outbox entry is stored as (columns :data:`_DELIVERY_COLUMNS`)."""
    source = delivery.source
    destination = delivery.destination
    return (
        delivery.delivery_id, delivery.system_id, source.ton, source.npi, source.addr,
        destination.ton, destination.npi, destination.addr, delivery.esm_class, delivery.protocol_id,
        delivery.priority_flag, delivery.data_coding, delivery.short_message, delivery.service_type,
        tlvs_to_text(delivery.tlvs), delivery.kind,
    )


def delivery_from_row(row: tuple[Any, ...] | sqlite3.Row) -> Delivery:
    """Inverse of :func:`delivery_to_row`."""
    (delivery_id, system_id, source_ton, source_npi, source_addr, dest_ton, dest_npi, dest_addr, esm_class,
     protocol_id, priority_flag, data_coding, short_message, service_type, tlvs, kind) = row
    return Delivery(
        delivery_id=delivery_id, system_id=system_id,
        source=Address(ton=source_ton, npi=source_npi, addr=source_addr),
        destination=Address(ton=dest_ton, npi=dest_npi, addr=dest_addr),
        esm_class=esm_class, protocol_id=protocol_id, priority_flag=priority_flag, data_coding=data_coding,
        short_message=bytes(short_message or b""), service_type=service_type, tlvs=tlvs_from_text(tlvs), kind=kind,
    )


# -- the store ----------------------------------------------------------------------------------------------


class _Batch:
    __slots__ = ("messages", "inserts", "deletes", "counters", "prune", "callbacks", "reads", "opt_outs",
                 "sim_time")

    def __init__(self) -> None:
        self.messages: dict[str, tuple[Any, ...]] = {}
        #: load_messages_later requests: (message_ids, callback), done by the writer after the batch's writes.
        self.reads: list[tuple[list[str], Callable[[list[Message]], None]]] = []
        self.inserts: list[tuple[Any, ...]] = []
        self.deletes: list[tuple[int]] = []
        self.counters: tuple[int, int] | None = None
        self.prune: float | None = None
        self.callbacks: list[Callable[[], None]] = []
        #: (carrier, e164) -> opted out or not, in the order the changes were made.
        self.opt_outs: dict[tuple[str, str], bool] = {}
        self.sim_time: float | None = None

    def has_rows(self) -> bool:
        return bool(self.messages or self.inserts or self.deletes or self.counters or self.prune is not None
                    or self.opt_outs or self.sim_time is not None)

    def empty(self) -> bool:
        return not self.callbacks and not self.reads and not self.has_rows()

    def merge(self, other: _Batch) -> None:
        self.messages.update(other.messages)
        self.inserts.extend(other.inserts)
        self.deletes.extend(other.deletes)
        if other.counters is not None:
            self.counters = other.counters
        if other.prune is not None:
            self.prune = other.prune if self.prune is None else max(self.prune, other.prune)
        self.callbacks.extend(other.callbacks)
        self.reads.extend(other.reads)
        for key, value in other.opt_outs.items():
            self.opt_outs.pop(key, None)
            self.opt_outs[key] = value
        if other.sim_time is not None:
            self.sim_time = other.sim_time if self.sim_time is None else max(self.sim_time, other.sim_time)


class SqliteStats:
    """Counters of the writer, for metrics and the benchmark (commits, rows, batch sizes, time spent)."""

    __slots__ = ("commits", "messages", "deliveries", "callbacks", "largest_batch", "write_seconds", "failures")

    def __init__(self) -> None:
        self.commits = 0
        self.messages = 0
        self.deliveries = 0
        self.callbacks = 0
        self.largest_batch = 0
        self.write_seconds = 0.0
        self.failures = 0


def _run_all(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:
            log.exception("on_durable_failed")


class SqliteStore:
    """A :class:`~smsc.core.store.base.MessageStore` in one SQLite file (WAL, group commit).

    Args:
        path: the database file (created with its tables when missing).
        synchronous: "NORMAL" (survives a process crash) or "FULL" (also power loss).
        call_soon_threadsafe: ``loop.call_soon_threadsafe`` of the event loop that must receive the
            ``on_durable`` callbacks; when None the store writes inline on the caller's thread.
        call_soon: ``loop.call_soon`` of that loop (default: taken from ``call_soon_threadsafe``'s loop).  The
            commits of one loop tick are handed to the writer together, once, at the end of the tick; without
            it every ``commit`` hands its batch over at once.

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
        self.synchronous = synchronous
        self.stats = SqliteStats()
        self._call_soon_threadsafe = call_soon_threadsafe
        if call_soon is None and call_soon_threadsafe is not None:
            call_soon = getattr(getattr(call_soon_threadsafe, "__self__", None), "call_soon", None)
        self._call_soon = call_soon
        self._handover_scheduled = False
        self._local = _Batch()  # loop thread only (swapped under _cond, see _take_local)
        self._shared = _Batch()  # guarded by _cond
        self._cond = threading.Condition(threading.Lock())
        self._closing = False
        self._closed = False
        setup = self._connect()
        try:
            self._create_schema(setup)
        finally:
            setup.close()
        self._inline: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None  # load_messages (loop thread), opened when first needed
        self._thread: threading.Thread | None = None
        if call_soon_threadsafe is None:
            self._inline = self._connect()
        else:
            self._thread = threading.Thread(target=self._writer, name="smsc-sqlite-writer", daemon=True)
            self._thread.start()

    # -- connection ----------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        return conn

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(
                f"store schema version {version} is not the one this smsc writes ({SCHEMA_VERSION}): "
                "use another store.path or delete the file"
            )
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- reading -------------------------------------------------------------------------------------------

    def load(self) -> StoredState:
        """Every stored message (waiting ones and final ones not yet pruned), every outbox entry, counters.

        Rows that cannot be decoded are logged and skipped.
        """
        conn = self._connect()
        try:
            messages: list[Message] = []
            for row in conn.execute(_SELECT_MESSAGES):
                try:
                    messages.append(message_from_row(row))
                except (ValueError, TypeError, KeyError):
                    log.exception("store_row_unreadable", table="messages", key=row[0])
            deliveries: list[Delivery] = []
            for row in conn.execute(_SELECT_DELIVERIES):
                try:
                    deliveries.append(delivery_from_row(row))
                except (ValueError, TypeError, KeyError):
                    log.exception("store_row_unreadable", table="outbox", key=row[0])
            counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
        finally:
            conn.close()
        next_delivery_id = int(counters.get("next_delivery_id", 1))
        if deliveries:
            next_delivery_id = max(next_delivery_id, deliveries[-1].delivery_id + 1)
        return StoredState(
            messages=messages,
            deliveries=deliveries,
            next_delivery_id=next_delivery_id,
            next_message_number=int(counters.get("next_message_number", 1)),
        )

    def load_world(self) -> WorldState:
        """What the simulated world needs back before the core starts: the last simulation time recorded
        (so a scaled clock does not run backwards across a restart) and the opted-out numbers per carrier.
        A small read, separate from :meth:`load`."""
        conn = self._connect()
        try:
            row = conn.execute("SELECT value FROM counters WHERE name = 'sim_time_us'").fetchone()
            opt_outs = [(c, e) for c, e in conn.execute("SELECT carrier, e164 FROM opt_outs ORDER BY rowid")]
        finally:
            conn.close()
        return WorldState(sim_time=row[0] / 1e6 if row else None, opt_outs=opt_outs)

    def save_opt_out(self, carrier: str, e164: str, opted_out: bool) -> None:
        """Record that ``e164`` on ``carrier`` opted out (True) or back in (False), in the pending batch."""
        self._local.opt_outs.pop((carrier, e164), None)
        self._local.opt_outs[(carrier, e164)] = opted_out

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
        conn = self._reader
        if conn is None:
            conn = self._reader = self._connect()
        return self._read(conn, message_ids)

    def load_messages_later(self, message_ids: list[str], callback: Callable[[list[Message]], None]) -> None:
        """Read the committed messages with these ids on the writer thread (after the writes handed to it so
        far) and call ``callback(messages)`` on the loop thread, as :meth:`load_messages` would return them.
        Inline (no writer thread): read now and call back before returning.

        Raises:
            RuntimeError: the store is closed.
        """
        if self._closing:
            raise RuntimeError("read on a closed SqliteStore")
        if self._inline is not None:
            callback(self._read(self._inline, message_ids))
            return
        with self._cond:
            self._shared.reads.append((message_ids, callback))
            self._cond.notify()

    @staticmethod
    def _read(conn: sqlite3.Connection, message_ids: list[str]) -> list[Message]:
        found: dict[str, Message] = {}
        for start in range(0, len(message_ids), _CHUNK_ROWS):
            chunk = message_ids[start:start + _CHUNK_ROWS]
            sql = f"{_SELECT_MESSAGES_BY_ID}({', '.join('?' * len(chunk))})"
            for row in conn.execute(sql, chunk).fetchall():
                try:
                    found[row[0]] = message_from_row(row)
                except (ValueError, TypeError, KeyError):
                    log.exception("store_row_unreadable", table="messages", key=row[0])
        return [found[i] for i in message_ids if i in found]

    # -- recording (loop thread) ---------------------------------------------------------------------------

    def save_message(self, message: Message) -> None:
        """Insert or update ``message`` in the pending batch (serialised now: later changes are not seen)."""
        self._local.messages[message.message_id] = message_to_row(message)

    def save_delivery(self, delivery: Delivery) -> None:
        """Insert an outbox entry in the pending batch."""
        self._local.inserts.append(delivery_to_row(delivery))

    def delete_delivery(self, delivery_id: int) -> None:
        """Delete an outbox entry in the pending batch."""
        self._local.deletes.append((delivery_id,))

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
            batch, self._local = self._local, _Batch()
            batch.callbacks.append(on_durable)
            self._write(self._inline, batch)
            _run_all(batch.callbacks)
            return
        self._local.callbacks.append(on_durable)
        if self._call_soon is None:
            self._handover()
        elif not self._handover_scheduled:
            self._handover_scheduled = True
            self._call_soon(self._handover)

    def _handover(self) -> None:
        """Give everything committed in this loop tick to the writer as one batch."""
        self._handover_scheduled = False
        with self._cond:
            batch, self._local = self._local, _Batch()
            if batch.empty():
                return
            self._shared.merge(batch)
            self._cond.notify()

    # -- writing -------------------------------------------------------------------------------------------

    def _write(self, conn: sqlite3.Connection, batch: _Batch) -> None:
        """One transaction for the whole batch; retried until it succeeds."""
        if not batch.has_rows():
            self.stats.callbacks += len(batch.callbacks)
            return
        while True:
            started = time.perf_counter()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if batch.messages:
                        _write_rows(conn, _UPSERT_MESSAGES_HEAD, len(_MESSAGE_COLUMNS), list(batch.messages.values()),
                                    _UPSERT_MESSAGES_TAIL)
                    if batch.inserts:
                        _write_rows(conn, _INSERT_DELIVERIES_HEAD, len(_DELIVERY_COLUMNS), batch.inserts)
                    if batch.deletes:
                        _write_rows(conn, _DELETE_DELIVERIES_HEAD, 1, batch.deletes, ")", group="?")
                    if batch.counters is not None:
                        number, delivery = batch.counters
                        conn.executemany(
                            _UPSERT_COUNTER, (("next_message_number", number), ("next_delivery_id", delivery))
                        )
                    if batch.prune is not None:
                        conn.execute(_PRUNE, (batch.prune,))
                    if batch.opt_outs:
                        conn.executemany(_INSERT_OPT_OUT, [k for k, v in batch.opt_outs.items() if v])
                        conn.executemany(_DELETE_OPT_OUT, [k for k, v in batch.opt_outs.items() if not v])
                    if batch.sim_time is not None:
                        conn.execute(_UPSERT_COUNTER, ("sim_time_us", int(batch.sim_time * 1e6)))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error:
                self.stats.failures += 1
                log.exception("store_commit_failed", retry_in=_RETRY_DELAY)
                time.sleep(_RETRY_DELAY)
                continue
            stats = self.stats
            stats.write_seconds += time.perf_counter() - started
            stats.commits += 1
            stats.messages += len(batch.messages)
            stats.deliveries += len(batch.inserts) + len(batch.deletes)
            stats.callbacks += len(batch.callbacks)
            size = len(batch.messages) + len(batch.inserts) + len(batch.deletes)
            if size > stats.largest_batch:
                stats.largest_batch = size
            return

    def _writer(self) -> None:
        conn = self._connect()
        try:
            while True:
                with self._cond:
                    while self._shared.empty() and not self._closing:
                        self._cond.wait()
                    batch, self._shared = self._shared, _Batch()
                    closing = self._closing
                if batch.empty():
                    if closing:
                        break
                    continue
                self._write(conn, batch)
                if batch.callbacks:
                    self._hand_back(batch.callbacks)
                for message_ids, callback in batch.reads:
                    try:
                        messages = self._read(conn, message_ids)
                    except sqlite3.Error:
                        log.exception("store_read_failed", count=len(message_ids))
                        messages = []
                    self._hand_back([functools.partial(callback, messages)])
        finally:
            conn.close()

    def _hand_back(self, callbacks: list[Callable[[], None]]) -> None:
        assert self._call_soon_threadsafe is not None
        try:
            self._call_soon_threadsafe(_run_all, callbacks)
        except RuntimeError:  # the loop is already closed: nobody is waiting any more
            log.warning("store_callbacks_undelivered", reason="event loop closed", count=len(callbacks))

    # -- closing -------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Write what is pending (including saves not yet committed), stop the writer, close. Idempotent.

        May be called from another thread than the loop's (``run_in_executor``) once the loop stopped
        recording.
        """
        if self._closed:
            return
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        with self._cond:
            leftover, self._local = self._local, _Batch()
        if self._inline is not None:
            self._closing = True
            if leftover.has_rows():
                self._write(self._inline, leftover)
            self._inline.close()
            self._inline = None
        else:
            with self._cond:
                self._shared.merge(leftover)
                self._closing = True
                self._cond.notify()
            if self._thread is not None:
                self._thread.join()
        self._closed = True
