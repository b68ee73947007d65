"""Delivery receipt text (SMPP 3.4 Appendix B) and the network_error_code TLV value (section 5.3.2.31).

The SMSC writes the "safe" shape every known ESME parses::

    id:<message_id> sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000 text:<20 chars>

and reads the variants seen in the field (``Text:`` or ``text:``, 10/12/14-digit dates, sub/dlvrd/text
missing, hex or UUID ids).  Facts: ``../shared/reference/smpp34-facts.md`` sections 4.3 and 7.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from smsc.smpp.constants import MessageState
from smsc.smpp.timefmt import YEAR_PIVOT, parse_receipt_date, receipt_date

__all__ = [
    "TEXT_LENGTH",
    "build_receipt_text",
    "Receipt",
    "parse_receipt_text",
    "network_error_code",
    "parse_network_error_code",
]

#: Characters of the original message a receipt repeats (Appendix B, Table B-1).
TEXT_LENGTH = 20

_TEXT_LABELS = ("text", "Text", "")


def build_receipt_text(
    *,
    message_id: str,
    submitted: int,
    delivered: int,
    submit_date: datetime,
    done_date: datetime,
    stat: str,
    err: int | str,
    text: str | None,
    text_label: str = "text",
    year_pivot: int = YEAR_PIVOT,
) -> str:
    """The short_message text of a delivery receipt (SMPP 3.4 Appendix B).

    ``message_id`` is the same string the submit_sm_resp carried.  ``submitted`` / ``delivered`` are
    the sub:/dlvrd: counts, zero-padded to 3 digits.  Dates are written ``YYMMDDhhmm`` in UTC (naive
    datetimes are taken as UTC), within the century the two-digit year names with ``year_pivot``
    (:func:`~smsc.smpp.timefmt.receipt_date`).  ``stat`` is the 7-letter word (``MessageState.stat``, e.g.
    DELIVRD).  ``err`` is zero-padded to 3 characters.  ``text`` is cut to its first 20 characters; with
    ``text_label`` ``""`` (or ``text`` None) the text field is left out.  The result holds ``text``
    verbatim, so encode it with the coding :func:`smsc.smpp.text.choose_coding` picks.

    Raises ValueError for an empty message_id or one containing whitespace (a parser could not find
    its end), negative counts or err, or a text_label other than "text", "Text" or "".
    """
    if not message_id or any(ch.isspace() for ch in message_id):
        raise ValueError(f"message_id {message_id!r} cannot be written in a receipt")
    if submitted < 0 or delivered < 0:
        raise ValueError("sub and dlvrd counts cannot be negative")
    if text_label not in _TEXT_LABELS:
        raise ValueError(f"text_label must be 'text', 'Text' or '', got {text_label!r}")
    if isinstance(err, int):
        if err < 0:
            raise ValueError(f"err cannot be negative ({err})")
        err_text = f"{err:03d}"
    else:
        err_text = err.rjust(3, "0")
    receipt = (
        f"id:{message_id} sub:{submitted:03d} dlvrd:{delivered:03d} "
        f"submit date:{receipt_date(submit_date, year_pivot)} done date:{receipt_date(done_date, year_pivot)} "
        f"stat:{stat} err:{err_text}"
    )
    if text_label and text is not None:
        receipt += f" {text_label}:{text[:TEXT_LENGTH]}"
    return receipt


# Words other SMSCs put in stat: that are not the MessageState words (Kannel's mapping).
_STAT_ALIASES: dict[str, MessageState] = {
    "ACKED": MessageState.ENROUTE,
    "BUFFRED": MessageState.ENROUTE,
    "BUFFERD": MessageState.ENROUTE,
    "DELIVERED": MessageState.DELIVERED,
    "UNDELIVERABLE": MessageState.UNDELIVERABLE,
    "ACCEPTED": MessageState.ACCEPTED,
    "REJECTED": MessageState.REJECTED,
    "FAILED": MessageState.UNDELIVERABLE,
}
_STATES_BY_WORD: dict[str, MessageState] = {
    state.stat: state for state in MessageState if state not in (MessageState.SCHEDULED,)
}


@dataclass(frozen=True, slots=True)
class Receipt:
    """A parsed delivery receipt text.  Fields the text left out are None.

    ``message_id`` is kept as written (decimal, hex, UUID...); dates are aware UTC datetimes (None
    when missing or unreadable); ``err`` is the raw err: field; ``text`` runs to the end of the string.
    """

    message_id: str
    stat: str
    submitted: int | None = None
    delivered: int | None = None
    submit_date: datetime | None = None
    done_date: datetime | None = None
    err: str | None = None
    text: str | None = None

    @property
    def state(self) -> MessageState | None:
        """The MessageState the stat: word names (also ACKED/BUFFRED -> ENROUTE), else None."""
        word = self.stat.upper()
        return _STATES_BY_WORD.get(word) or _STAT_ALIASES.get(word)

    @property
    def error_code(self) -> int | None:
        """err: as an integer when it is decimal digits, else None."""
        if self.err and self.err.isascii() and self.err.isdigit():
            return int(self.err)
        return None


# A label starts the string or follows whitespace; "text:" takes everything after it.
_TEXT_RE = re.compile(r"(?:^|\s)text:", re.IGNORECASE)
_FIELD_RE = re.compile(
    r"(?:^|(?<=\s))(id|sub|dlvrd|submit[ _]?date|done[ _]?date|stat|err):(\S*)",
    re.IGNORECASE,
)


def _count(value: str | None) -> int | None:
    if value and value.isascii() and value.isdigit():
        return int(value)
    return None


def parse_receipt_text(s: str, year_pivot: int = YEAR_PIVOT) -> Receipt:
    """Read a delivery receipt text, tolerating what SMSCs send (smpp34-facts.md section 7.3).

    Labels are matched case-insensitively in any order (``submit date``, ``submit_date`` and
    ``submitdate`` alike); ``text:`` / ``Text:`` takes the rest of the string.  Dates of 10, 12 or 14
    digits are read (others give None; a two-digit year by ``year_pivot``); sub/dlvrd that are not decimal
    give None.

    Raises ValueError when the text has no ``id:`` with a value or no ``stat:`` with a value.
    """
    text: str | None = None
    head = s
    match = _TEXT_RE.search(s)
    if match:
        head = s[: match.start()]
        text = s[match.end() :]
    fields: dict[str, str] = {}
    for label, value in _FIELD_RE.findall(head):
        key = label.lower().replace("_", "").replace(" ", "")
        fields.setdefault(key, value)
    message_id = fields.get("id")
    stat = fields.get("stat")
    if not message_id:
        raise ValueError(f"no id: in receipt text {s[:80]!r}")
    if not stat:
        raise ValueError(f"no stat: in receipt text {s[:80]!r}")
    submit = fields.get("submitdate")
    done = fields.get("donedate")
    return Receipt(
        message_id=message_id,
        stat=stat,
        submitted=_count(fields.get("sub")),
        delivered=_count(fields.get("dlvrd")),
        submit_date=parse_receipt_date(submit, year_pivot) if submit else None,
        done_date=parse_receipt_date(done, year_pivot) if done else None,
        err=fields.get("err"),
        text=text,
    )


def network_error_code(network_type: int, code: int) -> bytes:
    """The 3-octet network_error_code TLV value: network type, then the error code as I2 big-endian.

    ``network_type`` is 1 ANSI-136, 2 IS-95, 3 GSM (SMPP 3.4 section 5.3.2.31; 5.0 adds 4-8).
    Example: GSM error 0x22 -> ``03 00 22``.  Raises ValueError for a type outside 0-255 or a code
    outside 0-65535.
    """
    if not 0 <= network_type <= 0xFF:
        raise ValueError(f"network_type {network_type} does not fit one octet")
    if not 0 <= code <= 0xFFFF:
        raise ValueError(f"network error code {code} does not fit two octets")
    return bytes((network_type, code >> 8, code & 0xFF))


def parse_network_error_code(value: bytes) -> tuple[int, int]:
    """Read a network_error_code TLV value as (network type, error code).

    Raises ValueError when ``value`` is not 3 octets.
    """
    if len(value) != 3:
        raise ValueError(f"network_error_code must be 3 octets, got {len(value)}")
    return value[0], int.from_bytes(value[1:], "big")
