"""The SQLite store's write transaction, and the child process that runs it for a store with an event loop.

Why a process: the store's writer thread used about 10-12 us of CPU per message under load (binding rows,
stepping statements, committing) and shared the GIL with the event loop, so the server stayed at one core.  Now
the loop turns each merged batch into plain rows (``SqliteStore._batch_rows``), pickles them and writes them to
this process over a pipe; this process executes the SQL on another core and acknowledges, and only then does
the loop hand the batch's ``on_durable`` callbacks back (status 0 still means "on disk").  Inline mode (no
loop) runs :func:`commit` on the caller's thread: one implementation of the transaction for both.

The process is started as ``python -I -S <this file> <path> <synchronous>``: by file, so that it runs the same
code as the store that started it whatever ``sys.path`` says, and importing only the standard library (isolated
mode, no site: it starts in about 25 ms).  It imports nothing from smsc when run, and smsc imports only the
functions and statements below from it.

The pipe protocol, both ways: frames of an 8-octet big-endian length and a pickle (protocol 5) of built-in
values only (tuples, lists, str, bytes, int, float, None), read with :class:`_PlainUnpickler`, which refuses every
class and so can only build such values (no import, no call: a frame cannot make the reader run anything).
The frames come only from the other end of an anonymous pipe that only the parent and this process hold.

- parent -> child: one frame per batch, ``(number, rows)`` (see :func:`commit`); the next may follow before the
  answer to the last (the child reads it when done with the one before).
- child -> parent: ``("failed", text)`` for each attempt that raised :class:`sqlite3.Error` (the child tries the
  same batch again :data:`RETRY_DELAY` seconds later, as the writer thread used to: the callbacks wait, because
  status 0 must mean "on disk"), then ``("ok", seconds)`` once it committed (seconds: the successful attempt).

Lifetime: the child exits when its stdin reaches end of file, after finishing the batches sent: the store's
``close()`` closes the pipe, and a parent killed with SIGKILL closes it too (the kernel closes its descriptors),
so no child outlives its store.  It ignores SIGINT and SIGTERM (a Ctrl-C or a ``kill`` of the process group
would otherwise kill it in the middle of a batch while its parent shuts down cleanly): the pipe decides.
"""

from __future__ import annotations

import io
import itertools
import os
import pickle
import signal
import sqlite3
import struct
import sys
import time
from typing import IO, Any

#: WAL pages (4 KiB) before a commit copies them into the database file (SQLite's default is 1,000).  Under
#: load the same pages are written again and again (the end of each table, outbox rows added then deleted): a
#: longer WAL copies each page once per checkpoint instead of every few commits (COMMIT 4.8 -> 3.0 us/msg
#: in bench.profile_engine, group commit per tick).  Durability is the same (a checkpoint only moves
#: committed pages); the WAL file grows to about 40 MiB and a restart after a crash replays up to that much.
WAL_AUTOCHECKPOINT = 10_000

RETRY_DELAY = 0.5  # real seconds between attempts to write a batch that failed

#: Rows go to SQLite many per statement (``VALUES (...), (...), ...``): one statement step per chunk instead of
#: one per row (with the writer in a thread, a per-row GIL handover throttled the writer and the event loop
#: alike; in the child it still spares the per-statement overhead).  Chunks are powers of two up to this many
#: rows, so only a few statement texts exist (the sqlite3 module caches them).
CHUNK_ROWS = 512
UPSERT_MESSAGES_HEAD = "INSERT INTO messages (message_id, final_time, record) VALUES "
#: A message saved again keeps its row and rowid (load order is insertion order).
UPSERT_MESSAGES_TAIL = (" ON CONFLICT(message_id) DO UPDATE SET final_time = excluded.final_time,"
                        " record = excluded.record")
#: Rows of messages moved to the end of the table (``move_message_last``): deleted, then inserted again.
DELETE_MESSAGES_HEAD = "DELETE FROM messages WHERE message_id IN ("
INSERT_DELIVERIES_HEAD = "INSERT OR REPLACE INTO outbox (delivery_id, record) VALUES "
DELETE_DELIVERIES_HEAD = "DELETE FROM outbox WHERE delivery_id IN ("
UPSERT_COUNTER = "INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)"
PRUNE = "DELETE FROM messages WHERE final_time IS NOT NULL AND final_time < ?"
#: The final records an id given again names (``SqliteStore.forget_id``): the message ``M`` and the
#: destinations ``M-1``, ``M-2`` ... of a submit_multi ``M``, which lie in ``[M, M.)`` ("-" sorts before "."
#: and every other character of an id after it); a record not final is never deleted.
FORGET_ID = "DELETE FROM messages WHERE message_id >= ? AND message_id < ? AND final_time IS NOT NULL"
INSERT_OPT_OUT = "INSERT OR IGNORE INTO opt_outs (carrier, e164) VALUES (?, ?)"
DELETE_OPT_OUT = "DELETE FROM opt_outs WHERE carrier = ? AND e164 = ?"
UPSERT_DPF_FLAG = ("INSERT OR REPLACE INTO dpf_flags (e164, system_id, handset_ton, handset_npi, handset_addr,"
                   " esme_ton, esme_npi, esme_addr) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
DELETE_DPF_FLAG = "DELETE FROM dpf_flags WHERE e164 = ? AND system_id = ?"
#: The number of the last batch a writer child committed (see :func:`commit`), a row of the counters table.
BATCH_COUNTER = "writer_batch"
SELECT_BATCH = "SELECT value FROM counters WHERE name = 'writer_batch'"

_statements: dict[tuple[str, int, int, str], str] = {}


def connect(path: str, synchronous: str, busy_timeout: float = 5.0) -> sqlite3.Connection:
    """A connection to the file in WAL mode; ``busy_timeout``: real seconds SQLite waits for a lock held
    elsewhere before it raises "database is locked"."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
    except BaseException:
        conn.close()
        raise
    return conn


def write_rows(
    conn: sqlite3.Connection, head: str, width: int, rows: list[Any], tail: str = "",
    group: str | None = None,
) -> None:
    """Execute ``head`` + ``k`` value groups + ``tail`` over ``rows`` (tuples of ``width`` values; plain
    values when ``width`` is 1) in chunks of ``k`` rows (powers of two up to :data:`CHUNK_ROWS`)."""
    chain = itertools.chain.from_iterable
    n = len(rows)
    i = 0
    while i < n:
        k = min(n - i, CHUNK_ROWS)
        k = 1 << (k.bit_length() - 1)
        key = (head, width, k, tail)
        sql = _statements.get(key)
        if sql is None:
            one = group or f"({', '.join('?' * width)})"
            sql = _statements[key] = head + ", ".join([one] * k) + tail
        conn.execute(sql, list(chain(rows[i:i + k])) if width > 1 else rows[i:i + k])
        i += k


def last_batch(conn: sqlite3.Connection) -> int:
    """The number of the last batch a writer child committed to the file (0: none)."""
    row = conn.execute(SELECT_BATCH).fetchone()
    return 0 if row is None else int(row[0])


def commit(conn: sqlite3.Connection, rows: tuple[Any, ...], number: int | None = None) -> bool:
    """Write one batch's ``rows`` in one transaction (rolled back if any statement fails); returns False when
    the file already holds batch ``number`` (nothing written).

    ``rows`` is the tuple ``SqliteStore._batch_rows`` makes, built-in values only: (forgotten message_ids,
    moved message_ids, message rows ``(message_id, final_time, record)``, outbox rows ``(delivery_id, record)``,
    deleted delivery_ids, counters ``(next_message_number, next_delivery_id)`` or None, prune-before time or
    None, opted-out ``(carrier, e164)``, opted-in ``(carrier, e164)``, simulation time in microseconds or None,
    Delivery Pending Flag rows set, ``(e164, system_id)`` of flags cleared).

    ``number``: the batch's number (a writer child's batches; None inline).  The store sends a batch
    again to a new child when the old one died before acknowledging it, which may be after its COMMIT; the
    transaction records ``number`` (counter ``writer_batch``) and a batch whose number the file already holds is
    not written again, so a batch is committed once.  (The numbers go on from the file's own, read when the
    store opens it: one store writes a file at a time.)  Written twice, the rows would mostly give the same file
    anyway: message rows are upserts (a row keeps its rowid), moved rows are deleted and inserted again after
    every other row (the same order), outbox, counter and flag rows are INSERT OR REPLACE, opt-outs INSERT OR
    IGNORE, and the deletes, the prune and the forgets delete what the first run deleted (the forgets run before
    the message rows are written again, the prune after); but the final record of an id given again would be
    deleted by its forget and inserted again after the batch's other new rows, a place in the table's order
    that the first run did not give it.

    Raises:
        sqlite3.Error: the transaction failed (it was rolled back).
    """
    (forgets, moved, messages, deliveries, deletes, counters, prune, opted_out, opted_in, sim_time_us, dpf_set,
     dpf_cleared) = rows
    conn.execute("BEGIN IMMEDIATE")
    try:
        if number is not None:
            if last_batch(conn) >= number:
                conn.execute("ROLLBACK")
                return False
            conn.execute(UPSERT_COUNTER, (BATCH_COUNTER, number))
        if forgets:  # (before the messages: a new record of an id given again must stay)
            conn.executemany(FORGET_ID, [(m, m + ".") for m in forgets])
        if moved:
            write_rows(conn, DELETE_MESSAGES_HEAD, 1, moved, ")", group="?")
        if messages:
            write_rows(conn, UPSERT_MESSAGES_HEAD, 3, messages, UPSERT_MESSAGES_TAIL)
        if deliveries:
            write_rows(conn, INSERT_DELIVERIES_HEAD, 2, deliveries)
        if deletes:
            write_rows(conn, DELETE_DELIVERIES_HEAD, 1, deletes, ")", group="?")
        if counters is not None:
            number, delivery = counters
            conn.executemany(UPSERT_COUNTER, (("next_message_number", number), ("next_delivery_id", delivery)))
        if prune is not None:
            conn.execute(PRUNE, (prune,))
        if opted_out or opted_in:
            conn.executemany(INSERT_OPT_OUT, opted_out)
            conn.executemany(DELETE_OPT_OUT, opted_in)
        if sim_time_us is not None:
            conn.execute(UPSERT_COUNTER, ("sim_time_us", sim_time_us))
        if dpf_set or dpf_cleared:
            conn.executemany(UPSERT_DPF_FLAG, dpf_set)
            conn.executemany(DELETE_DPF_FLAG, dpf_cleared)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


# -- the pipe ------------------------------------------------------------------------------------------------

_HEADER = struct.Struct(">Q")
_PROTOCOL = 5


class _PlainUnpickler(pickle.Unpickler):
    """Reads built-in values only: any class a pickle names is refused, so reading a frame imports and calls
    nothing (the values of a batch, and the child's answers, never name one)."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a writer frame may not name {module}.{name}")


def dumps(value: Any) -> bytes:
    """``value`` as one frame (length and pickle)."""
    data = pickle.dumps(value, _PROTOCOL)
    return _HEADER.pack(len(data)) + data


def read_frame(stream: IO[bytes]) -> Any:
    """The value of the next frame on ``stream``.

    Raises:
        EOFError: the stream ended (before or inside a frame: the other end is gone).
        pickle.UnpicklingError: the frame names a class.
    """
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("writer pipe closed")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("writer pipe closed inside a frame")
    return _PlainUnpickler(io.BytesIO(data)).load()


def split_frames(buffer: bytearray) -> list[Any]:
    """The values of the whole frames at the start of ``buffer``, removed from it (a partial frame stays).

    Raises:
        pickle.UnpicklingError: a frame names a class.
    """
    values = []
    start = 0
    size = len(buffer)
    while size - start >= _HEADER.size:
        (length,) = _HEADER.unpack_from(buffer, start)
        end = start + _HEADER.size + length
        if end > size:
            break
        values.append(_PlainUnpickler(io.BytesIO(buffer[start + _HEADER.size:end])).load())
        start = end
    del buffer[:start]
    return values


def serve(path: str, synchronous: str, incoming: IO[bytes], outgoing: IO[bytes]) -> None:
    """The child's loop: read a batch, commit it (trying again after each failure, reported), acknowledge it;
    return at end of file on ``incoming`` or when ``outgoing`` is gone (the parent died)."""
    conn: sqlite3.Connection | None = None
    try:
        while True:
            try:
                number, rows = read_frame(incoming)
            except EOFError:
                return
            while True:
                started = time.perf_counter()
                try:
                    if conn is None:
                        conn = connect(path, synchronous)
                    commit(conn, rows, number)
                except sqlite3.Error as exc:
                    answer: tuple[Any, ...] = ("failed", f"{type(exc).__name__}: {exc}")
                else:
                    answer = ("ok", time.perf_counter() - started)
                try:
                    outgoing.write(dumps(answer))
                    outgoing.flush()
                except (BrokenPipeError, ValueError):  # the parent is gone: nobody waits for the answer
                    return
                if answer[0] == "ok":
                    break
                time.sleep(RETRY_DELAY)
    finally:
        if conn is not None:
            conn.close()


def main(argv: list[str]) -> None:
    """``python -I -S sqlite_writer.py PATH SYNCHRONOUS``: serve the parent on stdin and stdout, then exit
    without flushing anything more (stdout may be a broken pipe by then; the connection is closed)."""
    path, synchronous = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    serve(path, synchronous, sys.stdin.buffer, sys.stdout.buffer)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
