"""The SQLite store's write transaction, and the child process that runs it for a store with an event loop.

Why a process: the store's writer thread used about 10-12 us of CPU per message under load (binding rows,
stepping statements, committing) and shared the GIL with the event loop, so the server stayed at one core.  Now
the loop turns each merged batch into plain rows (``SqliteStore._batch_rows``), pickles them and writes them to
this process over a pipe; this process executes the SQL on another core and acknowledges, and only then does
the loop hand the batch's ``on_durable`` callbacks back (status 0 still means "on disk").  Inline mode (no
loop) runs :func:`commit` on the caller's thread: one implementation of the transaction for both.

The process is started as ``python -I -S -c <this module's source> <path> <synchronous>``, the source as the
store read it when the server imported it: so it runs the same code as the store that started it, whatever
``sys.path`` says and whatever an upgrade has put in this file since (a child started from the file after such
a change spoke another version of the pipe protocol and died at once, in a loop), and it imports only the
standard library (isolated mode, no site: it starts in about 25 ms).  It imports nothing from smsc when run, and smsc imports only the
functions and statements below from it.

The pipe protocol, both ways: frames of an 8-octet big-endian length and a pickle (protocol 5) of built-in
values only (tuples, lists, str, bytes, int, float, None), read with :class:`_PlainUnpickler`, which refuses every
class and so can only build such values (no import, no call: a frame cannot make the reader run anything).
The frames come only from the other end of an anonymous pipe that only the parent and this process hold.

- parent -> child: one frame per batch, ``((token, number), rows)`` (see :func:`commit`); the next may follow before the
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
import threading
import time
from typing import IO, Any, Callable

#: WAL pages (4 KiB) before a commit copies them into the database file (SQLite's default is 1,000), on a
#: connection that writes in the server process (inline mode, the schema); the writer child's connection does
#: not checkpoint when it commits (see :class:`Checkpointer`).  Under load the same pages are written again and
#: again (the end of each table, outbox rows added then deleted): a longer WAL copies each page once per
#: checkpoint instead of every few commits (COMMIT 4.8 -> 3.0 us/msg in bench.profile_engine, group commit per
#: tick).  Durability is the same (a checkpoint only moves committed pages); the WAL file grows to about 40 MiB
#: and a restart after a crash replays up to that much.
WAL_AUTOCHECKPOINT = 10_000

#: WAL frames (pages) not yet copied past which the writer child's checkpointer thread copies them into the
#: database file (the threshold :data:`WAL_AUTOCHECKPOINT` was, for the same reason).
CHECKPOINT_FRAMES = WAL_AUTOCHECKPOINT
#: WAL frames past which the writer child checkpoints itself, between two batches (TRUNCATE: a stall, logged):
#: the checkpointer's passive checkpoints never caught up (readers kept the WAL from starting again).
HARD_LIMIT_FRAMES = 5 * CHECKPOINT_FRAMES
#: The writer copies the last frames itself, between two batches, once no more than CHECKPOINT_FRAMES // this
#: many wait, or the frames of LAST_STEP_BATCHES batches like the last (a PASSIVE checkpoint of a few frames,
#: about as long as a commit or two): the WAL starts again only if a checkpoint copied all of it before the next
#: transaction begins, which the thread beside a busy writer seldom manages (the writer adds frames meanwhile).
LAST_STEP_DIVISOR = 16
LAST_STEP_BATCHES = 4
#: Real seconds without a commit after which the checkpointer copies what the WAL holds, however little.
CHECKPOINT_IDLE = 1.0
#: Real seconds the writer's own checkpoint (:data:`HARD_LIMIT_FRAMES`) waits for readers to leave the WAL.
HARD_CHECKPOINT_WAIT = 1.0

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
#: An opt-in is recorded as one (table ``opt_ins``): a number a rule starts opted out stays opted in after a
#: restart (tester 94: START, then a restart, and MT were REJECTD err:603 again).
INSERT_OPT_IN = "INSERT OR IGNORE INTO opt_ins (carrier, e164) VALUES (?, ?)"
DELETE_OPT_IN = "DELETE FROM opt_ins WHERE carrier = ? AND e164 = ?"
UPSERT_DPF_FLAG = ("INSERT OR REPLACE INTO dpf_flags (e164, system_id, handset_ton, handset_npi, handset_addr,"
                   " esme_ton, esme_npi, esme_addr) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
DELETE_DPF_FLAG = "DELETE FROM dpf_flags WHERE e164 = ? AND system_id = ?"
UPSERT_RULE_SPELL = "INSERT OR REPLACE INTO rule_spells (carrier, e164, start_us) VALUES (?, ?, ?)"
DELETE_RULE_SPELL = "DELETE FROM rule_spells WHERE carrier = ? AND e164 = ?"
UPSERT_PENDING_REPLY = ("INSERT OR REPLACE INTO pending_replies (key, due_us, handset, destination, text,"
                        " system_id) VALUES (?, ?, ?, ?, ?, ?)")
DELETE_PENDING_REPLY = "DELETE FROM pending_replies WHERE key = ?"
#: The number of the last batch a writer child committed (see :func:`commit`), a row of the counters table.
BATCH_COUNTER = "writer_batch"
#: The store that numbered it: a random number each SqliteStore draws when it opens the file.
TOKEN_COUNTER = "writer_token"
SELECT_BATCH = "SELECT name, value FROM counters WHERE name IN ('writer_batch', 'writer_token')"

_statements: dict[tuple[str, int, int, str], str] = {}


def connect(
    path: str, synchronous: str, busy_timeout: float = 5.0, autocheckpoint: int = WAL_AUTOCHECKPOINT,
) -> sqlite3.Connection:
    """A connection to the file in WAL mode; ``busy_timeout``: real seconds SQLite waits for a lock held
    elsewhere before it raises "database is locked"; ``autocheckpoint``: WAL pages past which a commit of this
    connection checkpoints (0: never)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
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


def last_batch(conn: sqlite3.Connection, token: int) -> int:
    """The number of the last batch the store that drew ``token`` had a writer child commit to the file (0:
    none, or the last batch committed was another store's)."""
    found = dict(conn.execute(SELECT_BATCH).fetchall())
    return int(found.get(BATCH_COUNTER, 0)) if found.get(TOKEN_COUNTER) == token else 0


def commit(
    conn: sqlite3.Connection, rows: tuple[Any, ...], batch: tuple[int, int] | None = None,
    abandoned: Callable[[], bool] | None = None,
) -> bool:
    """Write one batch's ``rows`` in one transaction (rolled back if any statement fails); returns False when
    the file already holds ``batch`` (nothing written).

    ``rows`` is the tuple ``SqliteStore._batch_rows`` makes, built-in values only: (forgotten message_ids,
    moved message_ids, message rows ``(message_id, final_time, record)``, outbox rows ``(delivery_id, record)``,
    deleted delivery_ids, counters ``(next_message_number, next_delivery_id)`` or None, prune-before time or
    None, opted-out ``(carrier, e164)``, opted-in ``(carrier, e164)``, simulation time in microseconds or None,
    Delivery Pending Flag rows set, ``(e164, system_id)`` of flags cleared, rule spells started ``(carrier, e164,
    start_us)``, ``(carrier, e164)`` of rule spells ended, auto-replies pending ``(key, due_us, handset,
    destination, text, system_id)``, ``(key,)`` of those sent).

    ``batch``: ``(token, number)``, the batch's number among those of the store that drew ``token`` (a writer
    child's batches; None inline).  The store sends a batch again to a new child when the old one died before
    acknowledging it, which may be after its COMMIT; the transaction records both (counters ``writer_token``
    and ``writer_batch``) and a batch of the same store whose number the file already holds is not written
    again, so a batch is committed once.  The token keeps another store's batches apart: a server started on
    the file while the child of one killed a moment before still commits its last batch (or a second server on
    the same file) numbers its batches from 1 again, and they must never be taken for written.

    Written twice, the rows would mostly give the same file
    anyway: message rows are upserts (a row keeps its rowid), moved rows are deleted and inserted again after
    every other row (the same order), outbox, counter and flag rows are INSERT OR REPLACE, opt-outs INSERT OR
    IGNORE, and the deletes, the prune and the forgets delete what the first run deleted (the forgets run before
    the message rows are written again, the prune after); but the final record of an id given again would be
    deleted by its forget and inserted again after the batch's other new rows, a place in the table's order
    that the first run did not give it.

    ``abandoned``: asked just before the COMMIT; True rolls the transaction back and returns False (the writer
    child's parent died while it wrote: see :func:`serve`).  A child stopped inside the COMMIT itself (SQLite
    writes the pages to the WAL there) still completes that one transaction when it goes on: those rows were
    never acknowledged to anyone, and no other server can have written since (the child holds the lock file).

    Raises:
        sqlite3.Error: the transaction failed (it was rolled back).
    """
    (forgets, moved, messages, deliveries, deletes, counters, prune, opted_out, opted_in, sim_time_us, dpf_set,
     dpf_cleared, spells_set, spells_ended, replies_set, replies_sent) = rows
    conn.execute("BEGIN IMMEDIATE")
    try:
        if batch is not None:
            token, number = batch
            if last_batch(conn, token) >= number:
                conn.execute("ROLLBACK")
                return False
            conn.executemany(UPSERT_COUNTER, ((TOKEN_COUNTER, token), (BATCH_COUNTER, number)))
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
            message_number, delivery = counters
            conn.executemany(UPSERT_COUNTER, (("next_message_number", message_number),
                                              ("next_delivery_id", delivery)))
        if prune is not None:
            conn.execute(PRUNE, (prune,))
        if opted_out or opted_in:
            conn.executemany(INSERT_OPT_OUT, opted_out)
            conn.executemany(DELETE_OPT_IN, opted_out)
            conn.executemany(DELETE_OPT_OUT, opted_in)
            conn.executemany(INSERT_OPT_IN, opted_in)
        if sim_time_us is not None:
            # With the wall time it was written at: their difference tells a restart whether that clock ran on
            # its own (a start_time, a time_scale) or was the wall clock (see smsc.app.App._start_core).
            conn.executemany(UPSERT_COUNTER, (("sim_time_us", sim_time_us), ("sim_wall_us", int(time.time() * 1e6))))
        if dpf_set or dpf_cleared:
            conn.executemany(UPSERT_DPF_FLAG, dpf_set)
            conn.executemany(DELETE_DPF_FLAG, dpf_cleared)
        if spells_set or spells_ended:
            conn.executemany(UPSERT_RULE_SPELL, spells_set or ())
            conn.executemany(DELETE_RULE_SPELL, spells_ended or ())
        if replies_set or replies_sent:
            conn.executemany(UPSERT_PENDING_REPLY, replies_set or ())
            conn.executemany(DELETE_PENDING_REPLY, replies_sent or ())
        if abandoned is not None and abandoned():
            conn.execute("ROLLBACK")
            return False
        conn.execute("COMMIT")
    except BaseException:
        # SQLite has already rolled back after some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM ...): a
        # ROLLBACK then raises "no transaction is active", which would hide the error that says why.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return True


# -- the pipe ------------------------------------------------------------------------------------------------

_HEADER = struct.Struct(">Q")
_PROTOCOL = 5


#: The int enums and flags of ``smsc.smpp.constants`` (a unit test keeps the list whole).  A value typed as one
#: that reaches a frame outside a record (the records are bytes already) names its class; the child, which
#: imports nothing of smsc, reads it as the plain int it equals.
INT_ENUMS = frozenset({
    "BindType", "CommandId", "CommandStatus", "DataCoding", "DestFlag", "EsmClass", "MessageState", "NetworkType",
    "Npi", "PriorityFlag", "RegisteredDelivery", "Tag", "Ton",
})


class _PlainUnpickler(pickle.Unpickler):
    """Reads built-in values only: any class a pickle names is refused (the int enums of
    :data:`INT_ENUMS` are read as ``int``), so reading a frame imports and calls nothing of smsc."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "smsc.smpp.constants" and name in INT_ENUMS:
            return int
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


# -- checkpoints ---------------------------------------------------------------------------------------------
#
# Why not in the commit: with wal_autocheckpoint, the commit that takes the WAL past the threshold copies the
# whole WAL into the database file and syncs it before it returns (52-57 ms at 10,000 pages under the receipts
# benchmark), and every submit_sm_resp of that batch and of the next waits for it (p99 submit ->
# submit_sm_resp doubled).  So the writer's connection never checkpoints (wal_autocheckpoint=0) and a thread of
# the child, with a connection of its own, runs PASSIVE checkpoints beside it: a passive checkpoint takes no
# lock the writer needs (it never calls the busy handler, and copies only frames no reader still needs), so
# commits go on while it copies; once it has copied the whole WAL, the next commit starts the WAL again from
# its beginning.  A reader that stays in the WAL (a snapshot older than the last frame) keeps it from
# starting again; should the WAL reach :data:`HARD_LIMIT_FRAMES` anyway, the writer runs a TRUNCATE
# checkpoint itself between two batches (after acknowledging one, before starting the next): it waits
# (:data:`HARD_CHECKPOINT_WAIT` at most) for the readers to leave the WAL, copies it and empties the file.
#
# Why it is as durable: a checkpoint copies only frames of committed transactions (up to the last commit
# frame it sees when it starts) into the database file, and the WAL stays the record until then: SQLite syncs
# the WAL before it copies a frame and syncs the database file before the WAL can be started again or
# truncated, so a crash in the middle of a checkpoint (of the thread, the child or the machine) leaves the WAL
# whole, and the next connection replays it.  With synchronous=NORMAL in WAL mode a commit is not synced at
# all (it survives a crash of the process, not a power loss; FULL syncs each commit), and which connection or
# thread checkpoints changes none of that: SQLite coordinates the writer, the checkpointer and readers of other
# processes through the WAL index's locks, whatever connection they use.

#: The WAL index header (the start of the -shm file, in the host's byte order; sqlite.org/walformat.html):
#: ``mxFrame`` (the WAL's last valid frame) at octet 16; the checkpoint information follows the header's two
#: copies, its ``nBackfill`` (frames already copied into the database file) at octet 96.
_SHM = struct.Struct("=16xI76xI")


class WalIndex:
    """Reads how far the WAL has grown from its index (``path``-shm, one ``pread``), for deciding when to
    checkpoint: (frames in the WAL, frames of them already copied into the database file).  Read without
    SQLite's locks, so a value may be a step old; never used for anything else.

    The descriptor stays open until :meth:`close`, which must come after every SQLite connection of this
    process to the file is closed: SQLite's locks on the -shm file are POSIX record locks, and closing *any*
    descriptor of a file drops every such lock the process holds on it (another connection would then take the
    WAL index for abandoned and rebuild it under this process's feet: a SIGBUS, seen when each read opened and
    closed the file)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path + "-shm", os.O_RDONLY)

    def frames(self) -> tuple[int, int] | None:
        """(frames in the WAL, frames copied), or None when the index cannot be read."""
        try:
            data = os.pread(self._fd, _SHM.size, 0)
        except OSError:
            return None
        if len(data) < _SHM.size:
            return None
        frames, copied = _SHM.unpack(data)
        return frames, min(copied, frames)

    def close(self) -> None:
        os.close(self._fd)


class Checkpointer:
    """The writer child's checkpointer thread: a PASSIVE checkpoint on a connection of its own when the writer
    says the WAL holds :data:`CHECKPOINT_FRAMES` frames not yet copied (:meth:`wake`), or once the writer has
    been idle :data:`CHECKPOINT_IDLE` seconds with frames not yet copied.  Each checkpoint is reported to the
    parent (``report``), as ``("checkpoint", "PASSIVE", seconds, frames in the WAL, frames copied, error)``."""

    def __init__(
        self, path: str, synchronous: str, report: Any, idle: float = CHECKPOINT_IDLE,
    ) -> None:
        self._path = path
        self._synchronous = synchronous
        self._report = report
        self._idle = idle
        self._wake = threading.Event()
        #: Held while this thread checkpoints; the writer takes it for its own checkpoints (SQLite runs one
        #: checkpoint at a time and answers any other "busy" at once, without waiting).
        self.lock = threading.Lock()
        self._stopping = False
        #: Commits of the writer so far (counted by the writer; read here to tell whether it was idle).
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Checkpoint now (or as soon as the checkpoint under way ends)."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread once its checkpoint under way (if any) is done; ``timeout``: real seconds at most."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        seen = -1  # the writer's commits when the last complete checkpoint started
        try:
            while True:
                woken = self._wake.wait(self._idle)
                if self._stopping:
                    return
                commits = self.commits
                if woken:
                    self._wake.clear()
                elif commits == seen:
                    continue  # idle, and nothing written since everything was copied
                started = time.perf_counter()
                error = None
                frames = copied = -1
                with self.lock:
                    try:
                        if conn is None:
                            conn = connect(self._path, self._synchronous, autocheckpoint=0)
                        _busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    except sqlite3.Error as exc:
                        error = f"{type(exc).__name__}: {exc}"
                if error is None and frames == copied:
                    seen = commits
                self._report(("checkpoint", "PASSIVE", time.perf_counter() - started, frames, copied, error))
        finally:
            if conn is not None:
                conn.close()


def checkpoint_now(
    conn: sqlite3.Connection, frames: int, mode: str, wait: float, busy_timeout: float,
) -> tuple[Any, ...]:
    """A checkpoint (``mode``: PASSIVE or TRUNCATE) of a WAL of ``frames`` frames on the writer's connection
    ``conn``, between two batches (waiting ``wait`` real seconds at most for readers, then restoring
    ``busy_timeout``), reported as ``("checkpoint", "writer " + mode, seconds, frames, frames copied, error)``.
    The caller holds the checkpointer's lock (no other checkpoint of this process runs)."""
    started = time.perf_counter()
    error = None
    copied = -1
    try:
        if wait:
            conn.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
        try:
            busy, left, copied = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        finally:
            if wait:
                conn.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        if busy and mode == "TRUNCATE":  # (a passive one copies what it can, and is not an error)
            error = f"busy: readers stayed in the WAL ({left} frames, {copied} copied)"
        elif mode == "TRUNCATE":
            copied = frames  # (SQLite reports 0 and 0 for the WAL it emptied)
    except sqlite3.Error as exc:
        error = f"{type(exc).__name__}: {exc}"
    return ("checkpoint", "writer " + mode, time.perf_counter() - started, frames, copied, error)


def serve(
    path: str, synchronous: str, incoming: IO[bytes], outgoing: IO[bytes],
    checkpoint_frames: int = CHECKPOINT_FRAMES, hard_limit_frames: int = HARD_LIMIT_FRAMES,
    idle: float = CHECKPOINT_IDLE,
) -> None:
    """The child's loop: read a batch, commit it (trying again after each failure, reported), acknowledge it,
    then see whether the WAL needs a checkpoint (see :class:`Checkpointer`); return at end of file on
    ``incoming`` or when ``outgoing`` is gone (the parent died).

    A child whose parent died (it has another parent now) commits nothing more (it looks before reading a
    batch and again before each COMMIT; a COMMIT already under way completes): what the pipe still holds was
    never acknowledged, and a server started on the file since must not find its rows overwritten by the dead
    one's (the same message_ids; the store's lock file, which the child holds too, keeps that server from
    starting until this one is gone).  After a failed attempt the connection is opened again, so that one
    opened read-only (the file was read-only then) does not stay so once the cause is fixed."""
    conn: sqlite3.Connection | None = None
    checkpointer: Checkpointer | None = None
    index: WalIndex | None = None
    lock = threading.Lock()  # (the checkpointer's reports and the acknowledgements share the pipe)
    busy_timeout = 5.0
    forced_at = 0  # WAL frames when the writer last checkpointed itself
    forced_step = checkpoint_frames  # WAL growth before it tries again (doubled while readers keep it busy)
    last_frames = -1  # WAL frames after the batch before (-1: no batch yet)
    parent = os.getppid()

    def orphaned() -> bool:
        return os.getppid() != parent

    def send(answer: tuple[Any, ...]) -> bool:
        try:
            with lock:
                outgoing.write(dumps(answer))
                outgoing.flush()
        except (BrokenPipeError, ValueError):  # the parent is gone: nobody waits for the answer
            return False
        return True

    try:
        while True:
            try:
                batch, rows = read_frame(incoming)
            except EOFError:
                return
            except Exception as exc:  # a value this process cannot read (a class not in INT_ENUMS)
                # Said, then gone: the store makes what it sent again of built-in values only and sends it to a
                # new child (the frames after this one must not be committed before it).
                send(("unreadable", f"{type(exc).__name__}: {exc}"))
                return
            while True:
                if orphaned():
                    return  # (see above; checked again before each COMMIT)
                started = time.perf_counter()
                try:
                    if conn is None:
                        conn = connect(path, synchronous, busy_timeout, autocheckpoint=0)
                    if not commit(conn, rows, tuple(batch), orphaned) and orphaned():
                        return
                except sqlite3.Error as exc:
                    answer: tuple[Any, ...] = ("failed", f"{type(exc).__name__}: {exc}")
                    if conn is not None:
                        conn.close()  # (opened again for the next attempt)
                        conn = None
                else:
                    answer = ("ok", time.perf_counter() - started)
                if not send(answer):
                    return
                if answer[0] == "ok":
                    break
                time.sleep(RETRY_DELAY)
            assert conn is not None
            if checkpointer is None:
                checkpointer = Checkpointer(path, synchronous, send, idle)
            checkpointer.commits += 1
            if index is None:
                try:
                    index = WalIndex(path)
                except OSError:
                    continue
            wal = index.frames()
            if wal is None:
                continue
            frames, copied = wal
            grown = 0 if last_frames < 0 else frames - last_frames if frames >= last_frames else frames
            last_frames = frames
            if frames < forced_at:
                forced_at = 0  # (the WAL started again)
            if frames >= hard_limit_frames and frames >= forced_at + forced_step:
                forced_at = frames  # (busy: tried again only once the WAL has grown as much again)
                if checkpointer.lock.acquire(timeout=HARD_CHECKPOINT_WAIT):
                    try:
                        report = checkpoint_now(conn, frames, "TRUNCATE", HARD_CHECKPOINT_WAIT, busy_timeout)
                    finally:
                        checkpointer.lock.release()
                else:
                    report = ("checkpoint", "TRUNCATE", HARD_CHECKPOINT_WAIT, frames, -1, "busy: the checkpointer")
                # A reader that kept this one from emptying the WAL is likely still there: each try stalls the
                # commits up to HARD_CHECKPOINT_WAIT, so the next waits for twice the growth.
                forced_step = checkpoint_frames if report[5] is None else forced_step * 2
                if not send(report):
                    return
            elif frames >= checkpoint_frames:
                if frames - copied > max(checkpoint_frames // LAST_STEP_DIVISOR, LAST_STEP_BATCHES * grown):
                    checkpointer.wake()
                elif checkpointer.lock.acquire(blocking=False):  # (else the thread is at it: next time)
                    try:
                        report = checkpoint_now(conn, frames, "PASSIVE", 0.0, busy_timeout)
                    finally:
                        checkpointer.lock.release()
                    if not send(report):
                        return
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        if conn is not None:
            conn.close()
        if index is not None:
            index.close()  # (after the connections: see WalIndex)


def main(argv: list[str]) -> None:
    """``python -I -S sqlite_writer.py PATH SYNCHRONOUS [CHECKPOINT_FRAMES HARD_LIMIT_FRAMES IDLE_SECONDS]``:
    serve the parent on stdin and stdout, then exit without flushing anything more (stdout may be a broken pipe
    by then; the connections are closed).  The store passes two arguments; tests pass smaller limits."""
    path, synchronous = argv[:2]
    limits = (int(argv[2]), int(argv[3]), float(argv[4])) if len(argv) > 2 else ()
    # The server stops its writer itself (it closes the pipe once its last batch is answered); signals meant for
    # the server's process group must not end the writer first.  SIGHUP too: a closed terminal sends it to the
    # whole group, and the writer died during the server's graceful stop (tester 122).
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    serve(path, synchronous, sys.stdin.buffer, sys.stdout.buffer, *limits)
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
