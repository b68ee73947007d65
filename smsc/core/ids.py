"""message_id generation: one counter for the whole SMSC, written in each carrier's id format.

The id an ESME gets in submit_sm_resp is the one its receipts carry (``id:`` field and receipted_message_id),
so ESMEs can match them (the most common complaint about other simulators).  Ids come from one counter that
the store persists (``StoredState.next_message_number``), so they never repeat across restarts; the text
form is fixed length and zero-padded, hex or decimal, lower or upper case, as the carrier's receipt style
(``config.MessageIdFormat``) says.  SMPP 3.4 section 5.2.23 allows up to 64 characters.

A short format wraps around: number ``n`` is written ``n % modulus`` (10**length or 16**length), so once the
counter passes the modulus, ids repeat.  An id must never name two messages that are not final (receipts,
query_sm, cancel_sm and replace_sm find a message by it, SMPP 3.4 sections 5.2.23 and 5.3.2.12), so after a
wrap each new id is checked and ids still live are skipped (:meth:`MessageIdGenerator.take_wrapped`).  Before
the wrap no check is needed: the counter only grows, so every number so far wrote a different id (the hot
path stays one int comparison).  Different formats cannot write the same id for different numbers: ids of
different lengths differ, and the configuration refuses decimal and hex formats of the same length
(``smsc.config``), the only ones whose texts overlap.

The id of a *final* message may be given again after a wrap, as real SMSCs recycle theirs:

* the least recently finalised free id first, as far as a bounded search finds it.  An id given again right
  after its old message became final would meet that message's delivery receipt, still owed to the ESME or
  not yet acknowledged, and any query_sm the ESME still sends about it.  The SMSC does not follow, per id,
  whether a receipt is still owed (that would cost every message of the hot path); it gives the id that has
  been final longest: with F ids free and S submits a second, an id comes back about F / S seconds after its
  message became final (1,000 free ids at 100 submits/s: 10 s), not at once.  When no other id is free, the
  id of a message final a moment ago is given anyway (refusing submits instead would stop all traffic while an
  ESME does not take its receipts).  The order needs nothing more in memory: ids that name nothing the SMSC
  still holds (final before every message it keeps for query_sm) come first, then those of the messages it
  keeps, least recently final first (:meth:`MessageIdGenerator.take_wrapped` says how the search is bounded).
* the old final records it named (a submit_sm's, or a submit_multi's destinations ``id-1``, ``id-2`` ...)
  leave the index and the store (``MessageIdGenerator.reused``, ``Smsc._id_reused``), so that every lookup
  finds the new message alone, whichever kind each was.
"""

from __future__ import annotations

from typing import Callable, Protocol


class IdFormat(Protocol):
    """The shape of ``smsc.config.MessageIdFormat``."""

    format: str  # "hex" or "decimal"
    length: int
    uppercase: bool


def format_message_id(number: int, fmt: IdFormat) -> str:
    """``number`` written as ``fmt`` says: zero-padded to ``fmt.length``; a number too large for the length
    wraps around (modulo 16**length or 10**length), which only happens after that many messages.

    Raises:
        ValueError: ``fmt.format`` is neither "hex" nor "decimal", or ``fmt.length`` is not 1..64.
    """
    length = fmt.length
    if not 1 <= length <= 64:
        raise ValueError(f"message_id length must be 1..64, got {length!r}")
    if fmt.format == "hex":
        text = format(number % (16**length), "x").zfill(length)
        return text.upper() if fmt.uppercase else text
    if fmt.format == "decimal":
        return str(number % (10**length)).zfill(length)
    raise ValueError(f"message_id format must be 'hex' or 'decimal', got {fmt.format!r}")


def _compile(fmt: IdFormat) -> tuple[int, str]:
    """(modulus, template) that write a number as ``fmt`` says (``template % (n % modulus)``, a printf-style
    template: about half the time of ``format(n, spec)`` in CPython 3.11); validates ``fmt`` like
    :func:`format_message_id`."""
    format_message_id(0, fmt)
    length = fmt.length
    if fmt.format == "hex":
        return 16**length, f"%0{length}{'X' if fmt.uppercase else 'x'}"
    return 10**length, f"%0{length}d"


#: The most candidate ids asked about at once after a wrap (one store read each time at most).
_CHUNK_MAX = 1024
#: Numbers tried per id given after a wrap in search of an id that names nothing the SMSC still holds in
#: memory (:meth:`MessageIdGenerator.take_wrapped`, step 1): the counter moves past them, so the ids given in
#: ``modulus / COLD_TRIES`` turns sweep the whole id space.  Asked in chunks of 1, 2, 4, 8 and 1 (the first is
#: nearly always such an id when the id space is much larger than what the SMSC holds).
COLD_TRIES = 16
#: After a step 1 that found nothing, the next ids skip it: 1, then 2, 4 ... up to this many (reset when it finds
#: one).  When every id is held (an id space no larger than what the SMSC keeps in memory: a few thousand ids)
#: step 1 finds nothing turn after turn; looking anyway nearly doubled the instructions of a submit after the
#: wrap (3-digit ids, memory store: 213,000 instead of 118,000 instructions per submit, delivery and receipt
#: included).
COLD_BACKOFF_MAX = 64


def _nothing_in_use(message_ids: list[str]) -> set[str]:
    return set()


def _no_bound() -> int:
    return 1 << 62


def _nothing_reused(message_id: str) -> None:
    return None


def _none_recent(modulus: int, spec: str) -> str | None:
    return None


def written_by(message_id: str, modulus: int, spec: str) -> bool:
    """True when ``message_id`` is an id that ``(modulus, spec)`` (:meth:`MessageIdGenerator.compiled`)
    writes: ``spec % n`` for a number ``n`` below ``modulus`` (not a submit_multi destination's ``M-1``, not an
    id of another format)."""
    if len(message_id) != len(spec % 0):
        return False
    try:
        number = int(message_id, 16 if spec[-1] in "xX" else 10)
    except ValueError:
        return False
    return 0 <= number < modulus and spec % number == message_id  # (int() also takes "+1", " 1", "1_0")


def first_free(
    number: int, modulus: int, spec: str, bound: int, in_use: Callable[[list[str]], set[str]],
) -> int | None:
    """The first number from ``number`` on whose id (``spec % (n % modulus)``) ``in_use`` does not report, among
    the next ``bound`` numbers (at most ``modulus`` of them: beyond, the ids repeat), or None when all are in use.

    Candidates are asked about in growing chunks (1, 2, 4 ... :data:`_CHUNK_MAX`): the first one is nearly
    always free, and a long run of live ids costs a few reads of the store, not one per id.
    """
    bound = min(bound, modulus)
    tried = 0
    chunk = 1
    while tried < bound:
        k = min(chunk, bound - tried)
        start = number + tried
        texts = [spec % (n % modulus) for n in range(start, start + k)]
        used = in_use(texts)
        for i, text in enumerate(texts):
            if text not in used:
                return start + i
        tried += k
        chunk = min(chunk * 2, _CHUNK_MAX)
    return None


class MessageIdGenerator:
    """Hands out message numbers from ``next_number`` upwards and formats them.

    ``next_number`` is one past the highest number ever handed out; the SMSC saves it with every store
    commit so that a restarted SMSC continues after it.  Each id format is compiled once (a modulus and a
    printf-style template), so a new id costs one ``%`` operation and, before the format wraps, one comparison.

    After a wrap (``next_number >= modulus``), :meth:`take_wrapped` gives an id that is free (``in_use``: the
    SMSC answers which ids name a message that is not final), preferring the least recently finalised ones, so
    that a receipt still owed for an id's old message, or a query_sm about it, does not meet a new message of
    that id: first an id that names nothing the SMSC holds in memory (``held``), then the id of the least
    recently finalised message it holds (``least_recent``), else any free id.  Every id given after a wrap is
    handed to ``reused`` first: the SMSC forgets what the id named before (the old final records) so that
    nothing but the new message answers for it.
    """

    __slots__ = ("next_number", "default_format", "in_use", "live_bound", "reused", "held", "least_recent",
                 "_default", "_compiled", "_cold_backoff", "_cold_skip")

    def __init__(
        self, default_format: IdFormat, next_number: int = 1, *,
        in_use: Callable[[list[str]], set[str]] = _nothing_in_use, live_bound: Callable[[], int] = _no_bound,
        reused: Callable[[str], None] = _nothing_reused, held: Callable[[list[str]], set[str]] | None = None,
        least_recent: Callable[[int, str], str | None] = _none_recent,
    ) -> None:
        self._default = _compile(default_format)  # validate early
        self.default_format = default_format
        self.next_number = next_number
        #: The ids among those given that name a message that is not final (asked only after a wrap).
        self.in_use = in_use
        #: How many numbers to try after a wrap before giving up (the count of messages not final, plus one).
        self.live_bound = live_bound
        #: Called with each id given after a wrap, before it is returned (it may have named final messages).
        self.reused = reused
        #: The ids among those given that are live or name a final message still held in memory: finalised more
        #: recently than any other (``in_use`` when None: every free id counts as finalised long ago).
        self.held = held if held is not None else in_use
        #: ``least_recent(modulus, spec)``: the free id, written with ``(modulus, spec)``, of the least recently
        #: finalised message held in memory; None when there is none (or it is not found quickly).
        self.least_recent = least_recent
        #: id(format) -> (format, modulus, template); formats live in the config for the whole run.
        self._compiled: dict[int, tuple[IdFormat, int, str]] = {}
        #: Turns step 1 of :meth:`take_wrapped` is skipped after it last found nothing, and how many are left.
        self._cold_backoff = 0
        self._cold_skip = 0

    def compiled(self, fmt: IdFormat | None) -> tuple[int, str]:
        """(modulus, template) of ``fmt`` (the default format when None): ``template % (n % modulus)`` is
        the id of number ``n``; lets a caller that sends many messages one way write ids without a lookup.

        Raises:
            ValueError: ``fmt`` is not a valid format (see :func:`format_message_id`).
        """
        if fmt is None or fmt is self.default_format:
            return self._default
        entry = self._compiled.get(id(fmt))
        if entry is None or entry[0] is not fmt:
            entry = (fmt, *_compile(fmt))
            self._compiled[id(fmt)] = entry
        return entry[1], entry[2]

    def next_id(self, fmt: IdFormat | None = None) -> str | None:
        """A new message_id in ``fmt`` (the server's default format when None) that is not live, or None when
        every id of the format is (see :meth:`take`).

        Raises:
            ValueError: ``fmt`` is not a valid format (see :func:`format_message_id`).
        """
        modulus, spec = self.compiled(fmt)
        return self.take(modulus, spec)

    def take(self, modulus: int, spec: str) -> str | None:
        """A new message_id written with ``(modulus, spec)`` (from :meth:`compiled`): the next number's, or
        after a wrap a free one, final the longest (:meth:`take_wrapped`); None when every id is live."""
        number = self.next_number
        if number < modulus:
            self.next_number = number + 1
            return spec % number
        return self.take_wrapped(number, modulus, spec)

    def take_wrapped(self, number: int, modulus: int, spec: str) -> str | None:
        """:meth:`take` once ``number`` (``next_number``) has reached ``modulus``: a free id, the least recently
        finalised one as far as a bounded search finds, handed to ``reused`` before it is returned; None (the
        counter unchanged) when every id is live.  In order:

        1. the first of the next :data:`COLD_TRIES` numbers whose id ``held`` does not report: free, and its
           messages (if any) finalised before every message the SMSC still holds, the least recently finalised
           ids of all (among themselves in counter order: with more than ``max_final_in_memory`` messages made
           final in a short while, one the SMSC has just forgotten may come before older ones).  The counter
           moves past the numbers tried.  After a step 1 that found nothing, the next 1, 2, 4 ...
           :data:`COLD_BACKOFF_MAX` ids skip it (whatever their format).
        2. ``least_recent(modulus, spec)``: the id of the least recently finalised message still held (the
           SMSC looks at a few of the least recent: with several id formats, or submit_multi whose other
           destinations still wait, it may find none and step 3 decides).
        3. the first number from the counter on whose id ``in_use`` does not report, among the next
           ``live_bound()`` (no more ids than messages not final can be live, so that many plus one holds a
           free id unless the whole id space is live).

        Why (SMPP 3.4 section 5.2.23: a message_id names one message): an id given again right after its old
        message became final meets that message's receipt, which the ESME may not have acknowledged yet, and a
        query_sm the ESME may still send about it.  The counter alone gave an id as soon as its message was
        final, however recent.  Nothing is added to what the SMSC keeps: ``held`` and ``least_recent`` read
        the bounded index of final messages it keeps for query_sm (``max_final_in_memory``).

        What ``in_use``, ``held``, ``least_recent`` or ``reused`` raises (a store that cannot be read) goes to
        the caller, the counter unchanged."""
        tries = 0
        if self._cold_skip:
            self._cold_skip -= 1
        else:
            tries = COLD_TRIES if COLD_TRIES < modulus else modulus
            free = first_free(number, modulus, spec, tries, self.held)
            if free is not None:
                message_id = spec % (free % modulus)
                self.reused(message_id)
                self.next_number = free + 1
                self._cold_backoff = 0
                return message_id
            self._cold_backoff = backoff = min(2 * self._cold_backoff or 1, COLD_BACKOFF_MAX)
            self._cold_skip = backoff
        recent = self.least_recent(modulus, spec)
        after = number + tries  # (the sweep of step 1 goes on from there)
        if recent is not None:
            message_id = recent
        else:
            free = first_free(after, modulus, spec, self.live_bound(), self.in_use)
            if free is None:
                return None
            message_id = spec % (free % modulus)
            after = free + 1
        self.reused(message_id)
        self.next_number = after
        return message_id


class IdPacker:
    """Writes message_ids of one format as numbers and back: a queue of evicted ids then costs 8 octets each
    (an ``array``) instead of a string object.  :meth:`pack` answers None for an id that is not exactly the
    format's rendering of a number below 2**63 (other formats, submit_multi ids "M-1"), which the caller keeps
    as a string.
    """

    __slots__ = ("_base", "_modulus", "_spec", "_length")

    def __init__(self, fmt: IdFormat) -> None:
        self._modulus, self._spec = _compile(fmt)
        self._base = 16 if fmt.format == "hex" else 10
        self._length = fmt.length

    def pack(self, message_id: str) -> int | None:
        """The number ``message_id`` writes, or None when :meth:`unpack` would not give it back."""
        if len(message_id) != self._length:
            return None
        try:
            number = int(message_id, self._base)
        except ValueError:
            return None
        if not 0 <= number < 1 << 63 or self._spec % number != message_id:  # "-000...1" too
            return None
        return number

    def unpack(self, number: int) -> str:
        """The message_id of a number :meth:`pack` gave."""
        return self._spec % number
