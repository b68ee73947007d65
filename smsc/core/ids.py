"""message_id generation: one counter for the whole SMSC, written in each carrier's id format.

The id an ESME gets in submit_sm_resp is the one its receipts carry (``id:`` field and receipted_message_id),
so ESMEs can match them (the most common complaint about other simulators).  Ids come from one counter that
the store persists (``StoredState.next_message_number``), so they never repeat across restarts; the text
form is fixed length and zero-padded, hex or decimal, lower or upper case, as the carrier's receipt style
(``config.MessageIdFormat``) says.  SMPP 3.4 section 5.2.23 allows up to 64 characters.
"""

from __future__ import annotations

from typing import Protocol


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


class MessageIdGenerator:
    """Hands out message numbers from ``next_number`` upwards and formats them.

    ``next_number`` is one past the highest number ever handed out; the SMSC saves it with every store
    commit so that a restarted SMSC continues after it.  Each id format is compiled once (a modulus and a
    printf-style template), so a new id costs one ``%`` operation.
    """

    __slots__ = ("next_number", "default_format", "_default", "_compiled")

    def __init__(self, default_format: IdFormat, next_number: int = 1) -> None:
        self._default = _compile(default_format)  # validate early
        self.default_format = default_format
        self.next_number = next_number
        #: id(format) -> (format, modulus, template); formats live in the config for the whole run.
        self._compiled: dict[int, tuple[IdFormat, int, str]] = {}

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

    def next_id(self, fmt: IdFormat | None = None) -> str:
        """A new message_id in ``fmt`` (the server's default format when None).

        Raises:
            ValueError: ``fmt`` is not a valid format (see :func:`format_message_id`).
        """
        number = self.next_number
        self.next_number = number + 1
        if fmt is None or fmt is self.default_format:
            modulus, spec = self._default
        else:
            entry = self._compiled.get(id(fmt))
            if entry is None or entry[0] is not fmt:
                entry = (fmt, *_compile(fmt))
                self._compiled[id(fmt)] = entry
            _, modulus, spec = entry
        return spec % (number % modulus)


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
