"""Delivery receipts: which messages get one, and the deliver_sm that carries it to the submitting ESME.

A receipt follows registered_delivery (SMPP 3.4 section 5.2.17; value 3, "success only", is SMPP 5.0): bits
1-0 ask for a final receipt on success and/or failure, bit 0x10 for one intermediate notification on the
first failed attempt.  The text is the SMPP 3.4 Appendix B shape (:func:`smsc.smpp.receipt.build_receipt_text`)
in the carrier's receipt style (``err:`` digits, ``text:`` label, message_id format), with data_coding 0.

data_coding 0 is the SMSC default alphabet, which this SMSC reads as GSM 03.38 (submits, MO); ESMEs such as
Kannel and smpplib read a receipt's short_message that way too, others as ASCII.  So the receipt holds only
characters that are the same octet in both: printable ASCII without ``$ @ [ \\ ] ^ _ ` { | } ~`` (GSM 03.38
puts other characters at those octets: 0x40 is "¡", 0x24 "¤", 0x5F "§" ...).  The fixed fields are made of
such characters already; in the ``text:`` preview every other character becomes "?" (line breaks and tabs a
space), as most SMSCs do: ESMEs find the fields with patterns, and the preview is for people (tester9
finding 4).  Encoding the whole receipt in GSM 03.38 instead would write "@" as the octet 0x00, which cuts
the text short for an ESME that reads it as a C string.  The deliver_sm goes from the original
destination to the original source, esm_class 0x04 (0x20 for an intermediate notification), with the
receipted_message_id, message_state, network_error_code and user_message_reference TLVs.
"""

from __future__ import annotations

import copy
import random
from datetime import datetime
from typing import Any, Callable

import structlog

from smsc.core.api import Address, Delivery
from smsc.core.clock import Clock
from smsc.core.draws import KeyedDraws
from smsc.core.message import Message
from smsc.core.outbox import Outbox
from smsc.core.stats import SmscStats
from smsc.core.validity import utc
from smsc.smpp.constants import EsmClass, MessageState, Tag
from smsc.smpp.receipt import TEXT_LENGTH, build_receipt_text
from smsc.smpp.text import GSM_BASIC_TABLE, decode_text, strip_udh
from smsc.smpp.timefmt import YEAR_PIVOT, receipt_date, writable_range

_UDHI = int(EsmClass.UDHI)
_RECEIPT_ESM = int(EsmClass.DELIVERY_RECEIPT)
_INTERMEDIATE_ESM = int(EsmClass.INTERMEDIATE_NOTIFICATION)
_ENROUTE = MessageState.ENROUTE
_DELIVERED = MessageState.DELIVERED
_TAG_RECEIPTED_ID = int(Tag.receipted_message_id)
_TAG_MESSAGE_STATE = int(Tag.message_state)
_TAG_NETWORK_ERROR = int(Tag.network_error_code)
_TAG_USER_REF = int(Tag.user_message_reference)
_TAG_PAYLOAD = int(Tag.message_payload)
#: stat: word by message_state value (SMPP 3.4 Appendix B, Table B-2).
_STAT = tuple(MessageState(v).stat for v in range(max(MessageState) + 1))
_STATE = tuple(MessageState(v) for v in range(max(MessageState) + 1))
_STATE_VALUE = tuple(range(max(MessageState) + 1))
_DELIVERED_VALUE = int(MessageState.DELIVERED)
_TEXT_LABELS = ("text", "Text", "")
_PAD3 = tuple(f"{i:03d}" for i in range(1000))

log = structlog.get_logger("smsc.receipts")


def _pad3(n: int) -> str:
    """``n`` in at least three digits, as the receipt's sub: and dlvrd: fields carry it (SMPP 3.4 Appendix B)."""
    return _PAD3[n] if 0 <= n < 1000 else f"{n:03d}"

#: Receipt date text ("YYMMDDhhmm", UTC) by minute since the epoch, one table per year pivot (SMPP 3.4
#: Appendix C, ``server.year_pivot``): one strftime per minute, not per receipt.
_date_caches: dict[int, dict[int, str]] = {}
#: The ``text:`` preview by (data_coding, UDHI bit, user data): load tests repeat the same text.
_preview_cache: dict[tuple[int, int, bytes], str] = {}
_CACHE_MAX = 4096


def _utc_minute(t: float) -> datetime:
    """``t`` truncated to its minute, as a UTC datetime (receipt dates are YYMMDDhhmm); saturated beyond the
    years ``datetime`` holds (:func:`smsc.core.validity.utc`)."""
    return utc(int(t // 60) * 60)


def _date(t: float, pivot: int = YEAR_PIVOT) -> str:
    """Receipt date of ``t`` (seconds): ``YYMMDDhhmm`` in UTC, cached per minute (in ``_date_caches[pivot]``).
    A date past the century of ``pivot`` is written as its last minute (3712312359 by default:
    :func:`smsc.smpp.timefmt.receipt_date`).  Never raises for a valid pivot."""
    minute = int(t // 60)
    cache = _date_caches.get(pivot)
    if cache is None:
        cache = _date_caches[pivot] = {}
    text = cache.get(minute)
    if text is None:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        text = cache[minute] = receipt_date(_utc_minute(t), pivot)
    return text


#: What the preview writes instead of an ASCII character: for the control characters (C0 and DEL) "?", but a
#: space for line breaks and tabs (a NUL in the ``text:`` field cut the receipt short for ESMEs that read it as
#: a C string, tester7 finding 7); "?" for the printable ones GSM 03.38 reads as another character ("$" "@"
#: "_" ...: module docstring).
_CONTROLS = (
    {c: "?" for c in (*range(0x20), 0x7F)}
    | {c: "?" for c in range(0x20, 0x7F) if GSM_BASIC_TABLE[c] != chr(c)}
    | {ord("\n"): " ", ord("\r"): " ", ord("\t"): " "}
)


def _ascii(text: str) -> str:
    """``text`` in the printable ASCII characters that GSM 03.38 reads the same: others "?", line breaks and
    tabs a space (:data:`_CONTROLS`)."""
    return text.encode("ascii", "replace").decode("ascii").translate(_CONTROLS)


def wants_receipt(msg: Message) -> bool:
    """True when ``msg`` (in its final state) asked for a final receipt: registered_delivery bits 1-0 are 1
    (always), 2 (failure only) or 3 (success only, SMPP 5.0) (SMPP 3.4 section 5.2.17)."""
    wanted = msg.registered_delivery & 0x03
    if msg.state == _DELIVERED:
        return wanted == 1 or wanted == 3
    return wanted == 1 or wanted == 2


def mt_preview(msg: Message) -> str:
    """The first 20 characters of the message for the receipt's ``text:`` field, in the printable ASCII that
    GSM 03.38 reads the same ("?" for other characters, line breaks and tabs as spaces: :func:`_ascii`); ""
    for user data that cannot be read.  Memoised per text.  Never raises."""
    data = msg.short_message or msg.tlvs.get(_TAG_PAYLOAD, b"")
    if not isinstance(data, (bytes, bytearray)):
        return ""
    data = bytes(data)
    udhi = msg.esm_class & _UDHI
    key = (msg.data_coding, udhi, data)
    text = _preview_cache.get(key)
    if text is not None:
        return text
    if udhi:
        try:
            data = strip_udh(data)  # by UDHL: a malformed element does not hide the text (as for the HTTP API)
        except ValueError:
            return ""
    try:
        decoded = decode_text(data[:160], msg.data_coding)
    except Exception:  # decode_text promises not to raise; a receipt must never fail on the preview
        return ""
    text = _ascii(decoded[:20])
    if len(_preview_cache) >= _CACHE_MAX:
        _preview_cache.clear()
    _preview_cache[key] = text
    return text


_new = object.__new__


def receipt_delivery(
    delivery_id: int, system_id: str, source: Address, destination: Address, esm_class: int, short_message: bytes,
    tlvs: dict[int, Any],
) -> Delivery:
    """A receipt :class:`~smsc.core.api.Delivery` (data_coding 0, kind "receipt", other fields at their
    defaults), built without the keyword-only dataclass constructor (a third of the time; ``tests/unit``
    checks that every field is set)."""
    d = _new(Delivery)
    d.delivery_id = delivery_id
    d.system_id = system_id
    d.source = source
    d.destination = destination
    d.esm_class = esm_class
    d.protocol_id = 0
    d.priority_flag = 0
    d.data_coding = 0
    d.short_message = short_message
    d.service_type = ""
    d.tlvs = tlvs
    d.kind = "receipt"
    return d


def _text_id(wanted: str, id_format: str) -> Callable[[str], str] | None:
    """The receipt text's ``id:`` from the message_id (written in ``id_format``, "hex" or "decimal") when the
    style writes it otherwise (``wanted``: "decimal", "hex", "hex_upper"; "same" gives None), as some carriers
    do (a hex id in submit_sm_resp, its decimal value in the receipt).  Leading zeros are not written; an id
    that is not a number in ``id_format`` is left as it is."""
    if wanted == "same":
        return None
    base = 16 if id_format == "hex" else 10
    spec = {"decimal": "d", "hex": "x", "hex_upper": "X"}[wanted]

    def convert(message_id: str) -> str:
        try:
            return format(int(message_id, base), spec)
        except ValueError:
            return message_id

    return convert


class _Style:
    """One carrier receipt style, read once: err: width, text label, whether receipted_message_id is sent."""

    __slots__ = ("source", "err_digits", "text_label", "receipted_id", "_errs", "delivered_tail", "text_id")

    def __init__(self, source: Any, id_format: str = "hex") -> None:
        self.source = source
        #: How the ``id:`` of the text is written when not as in submit_sm_resp (the style's ``text_id``), else
        #: None: a function of the message_id, written in ``id_format`` (the carrier's message_id format, else the
        #: server's: "hex" or "decimal").
        self.text_id = _text_id(getattr(source, "text_id", "same"), getattr(
            getattr(source, "message_id_format", None), "format", None) or id_format)
        self._errs: dict[int, str] = {}
        self.err_digits = int(getattr(source, "err_digits", 3) or 3)
        self.text_label = getattr(source, "text_label", "text")
        if self.text_label not in _TEXT_LABELS:
            raise ValueError(f"text_label must be 'text', 'Text' or '', got {self.text_label!r}")
        self.receipted_id = bool(getattr(source, "receipted_message_id", True))
        #: "stat:DELIVRD err:<0 in this style>" (what follows the dates in every delivered receipt).
        self.delivered_tail = f"stat:{_STAT[_DELIVERED]} err:{self.err_text(0)}"

    def err_text(self, code: int) -> str:
        """The ``err:`` field of ``code``: zero-padded to ``err_digits``, at least 3 characters (cached)."""
        text = self._errs.get(code)
        if text is None:
            text = f"{code:0{self.err_digits}d}"
            if len(text) < 3:
                text = text.rjust(3, "0")
            if len(self._errs) < 1024:
                self._errs[code] = text
        return text


class Receipts:
    """Builds receipt deliveries and adds them to the outbox (which makes them durable, then offers them).

    The text is exactly :func:`smsc.smpp.receipt.build_receipt_text`'s, built with per-minute date strings
    and a per-style template (a receipt is built for every message of a load test).

    Args:
        outbox: where the deliver_sm waits for a receiver of the submitting system_id.
        stats: counts ``receipts`` and ``intermediate_receipts``.
        clock: the done date of an intermediate notification is now.
        year_pivot: how the dates' two-digit years are written (SMPP 3.4 Appendix C, ``server.year_pivot``).

    Raises:
        ValueError: ``year_pivot`` is not an integer from 0 to 99.
    """

    __slots__ = ("outbox", "stats", "clock", "_styles", "_last", "_memo", "_pivot", "_dates", "multi_delivered",
                 "rng", "keyed", "id_format", "later")

    def __init__(self, outbox: Outbox, stats: SmscStats, clock: Clock, year_pivot: int = YEAR_PIVOT) -> None:
        self.outbox = outbox
        self.stats = stats
        self.clock = clock
        writable_range(year_pivot)  # (checks it)
        self._pivot = year_pivot
        #: Date texts by minute for this pivot (shared with every Receipts of the same pivot).
        self._dates = _date_caches.setdefault(year_pivot, {})
        self._styles: dict[int, _Style] = {}
        #: The style of the last receipt (most load is one carrier).
        self._last: _Style | None = None
        #: (user data, data_coding, UDHI bit, style, text part) of the last receipt.
        self._memo: tuple[Any, int, int, _Style, str] | None = None
        #: The destinations of a submit_multi delivered so far, ``msg``'s own state included (set by the
        #: facade, which holds every destination): the ``dlvrd:`` of its receipts.  None: this one only.
        self.multi_delivered: Callable[[Message], int] | None = None
        #: The world's random stream, for a carrier that loses or duplicates receipts
        #: (:meth:`Carrier.receipt_fate`) ...
        self.rng: Any = random.Random()
        #: ... or, with ``simulation.seed`` set, the draws keyed to the message (set by the facade).
        self.keyed: KeyedDraws | None = None
        #: The server's message_id format ("hex" or "decimal": ``server.message_id``), that of the ids of carriers
        #: without one of their own (a style's ``text_id`` reads them in it).
        self.id_format = "hex"
        #: ``later(seconds, callback, arg)``: ``callback(arg)`` that many simulated seconds from now (the facade's
        #: scheduler), for a duplicate that comes after its receipt; None: duplicates come at once.
        self.later: Callable[[float, Callable[[Any], None], Any], Any] | None = None

    def _style(self, carrier: Any) -> _Style:
        source = getattr(carrier, "receipt", None)
        style = self._styles.get(id(source))
        if style is None or style.source is not source:
            style = self._styles[id(source)] = _Style(source, self.id_format)
        return style

    def queue(self, msg: Message, carrier: Any, *, intermediate: bool, durable_first: bool = False) -> None:
        """Queue the receipt of ``msg`` in ``carrier``'s receipt style: its final receipt (``msg`` is final), or
        the intermediate notification of a first failed attempt (message_state ENROUTE, esm_class 0x20).

        The receipt is offered to the ESME at once, before its commit: the caller records the message's new
        state first, so both reach the disk in one transaction (:mod:`smsc.core.outbox` says why that is
        safe).  With ``durable_first`` it is offered once committed, after what the ESME's request that ended
        the message is answered with (a cancel_sm_resp before the DELETED receipt: tester 73)."""
        source = getattr(carrier, "receipt", None)
        style = self._last
        if style is None or style.source is not source:
            style = self._last = self._style(carrier)
        receipt_id = msg.multi_id or msg.message_id
        if intermediate:
            state = _ENROUTE
            done = self.clock.now()
            if msg.attempts and msg.attempts[-1].time > done:
                done = msg.attempts[-1].time  # (the failed attempt's time: a pinned scaled clock may read earlier)
        else:
            state = msg.state
            done = self.clock.now() if msg.final_time is None else msg.final_time
        err = style.err_text(msg.error_code)
        count = msg.submitted_count
        # SMPP 3.4 Appendix B: sub: the messages submitted to the distribution list, dlvrd: how many of them are
        # delivered.  A submit_multi's receipt counts its delivered destinations so far, not its own (tester 60:
        # "sub:003 dlvrd:001" then "sub:003 dlvrd:000" for the next destination).
        if msg.multi_id and self.multi_delivered is not None:
            delivered = self.multi_delivered(msg)
            dlvrd = _pad3(delivered)
        else:
            dlvrd = "001" if state == _DELIVERED else "000"
        submit_time = msg.submit_time
        dates = self._dates
        submit_date = dates.get(int(submit_time // 60)) or _date(submit_time, self._pivot)
        done_date = dates.get(int(done // 60)) or _date(done, self._pivot)
        body = (
            f"id:{receipt_id if style.text_id is None else style.text_id(receipt_id)} sub:{_pad3(count)} "
            f"dlvrd:{dlvrd} "
            f"submit date:{submit_date} done date:{done_date} stat:{_STAT[state]} err:{err}"
            f"{self._text_part(msg, style)}"
        )
        if style.receipted_id:
            tlvs: dict[int, Any] = {_TAG_RECEIPTED_ID: receipt_id, _TAG_MESSAGE_STATE: _STATE_VALUE[state]}
        else:
            tlvs = {_TAG_MESSAGE_STATE: _STATE_VALUE[state]}
        if msg.network_error_code is not None and state != _DELIVERED:
            tlvs[_TAG_NETWORK_ERROR] = msg.network_error_code
        if msg.tlvs:
            reference = msg.tlvs.get(_TAG_USER_REF)
            if reference is not None:
                tlvs[_TAG_USER_REF] = reference
        outbox = self.outbox
        delivery_id = outbox.next_delivery_id  # outbox.new_delivery_id(), written out
        outbox.next_delivery_id = delivery_id + 1
        # receipt_delivery(...), written out: one per message of a load test.
        d = _new(Delivery)
        d.delivery_id = delivery_id
        d.system_id = msg.system_id
        d.source = msg.destination
        d.destination = msg.source
        d.esm_class = _INTERMEDIATE_ESM if intermediate else _RECEIPT_ESM
        d.protocol_id = 0
        d.priority_flag = 0
        d.data_coding = 0
        d.short_message = body.encode("ascii", "replace")
        d.service_type = ""
        d.tlvs = tlvs
        d.kind = "receipt"
        if getattr(carrier, "receipt_fates", False):
            self._add_by_fate(msg, carrier, d, intermediate, not durable_first)
            return
        if intermediate:
            self.stats.intermediate_receipts += 1
        else:
            self.stats.receipts += 1
        outbox.add(d, at_once=not durable_first)  # (made again if a crash loses it: see smsc.core.outbox)

    def delivered(self, msg: Message, carrier: Any) -> None:
        """``queue(msg, carrier, intermediate=False)`` for a message that has just become DELIVERED (final_time
        set, no network error), with the parts every such receipt shares read from the style."""
        if msg.submitted_count != 1 or msg.error_code:
            self.queue(msg, carrier, intermediate=False)
            return
        source = getattr(carrier, "receipt", None)
        style = self._last
        if style is None or style.source is not source:
            style = self._last = self._style(carrier)
        receipt_id = msg.multi_id or msg.message_id
        submit_time = msg.submit_time
        done: float = msg.final_time  # type: ignore[assignment]  # (set: the message has just become DELIVERED)
        dates = self._dates
        submit_date = dates.get(int(submit_time // 60)) or _date(submit_time, self._pivot)
        done_date = dates.get(int(done // 60)) or _date(done, self._pivot)
        data = msg.short_message
        memo = self._memo  # _text_part's last answer, checked here (the common case: the same text again)
        if (memo is not None and memo[0] is data and memo[3] is style and memo[1] == msg.data_coding
                and memo[2] == msg.esm_class & _UDHI and data):
            text = memo[4]
        else:
            text = self._text_part(msg, style)
        text_id = style.text_id
        body = (f"id:{receipt_id if text_id is None else text_id(receipt_id)} sub:001 dlvrd:001 "
                f"submit date:{submit_date} done date:{done_date} "
                f"{style.delivered_tail}{text}")
        if style.receipted_id:
            tlvs: dict[int, Any] = {_TAG_RECEIPTED_ID: receipt_id, _TAG_MESSAGE_STATE: _DELIVERED_VALUE}
        else:
            tlvs = {_TAG_MESSAGE_STATE: _DELIVERED_VALUE}
        if msg.tlvs:
            reference = msg.tlvs.get(_TAG_USER_REF)
            if reference is not None:
                tlvs[_TAG_USER_REF] = reference
        outbox = self.outbox
        delivery_id = outbox.next_delivery_id
        outbox.next_delivery_id = delivery_id + 1
        d = _new(Delivery)
        d.delivery_id = delivery_id
        d.system_id = msg.system_id
        d.source = msg.destination
        d.destination = msg.source
        d.esm_class = _RECEIPT_ESM
        d.protocol_id = 0
        d.priority_flag = 0
        d.data_coding = 0
        d.short_message = body.encode("ascii", "replace")
        d.service_type = ""
        d.tlvs = tlvs
        d.kind = "receipt"
        if getattr(carrier, "receipt_fates", False):
            self._add_by_fate(msg, carrier, d, False, True)
            return
        self.stats.receipts += 1
        outbox.add(d, at_once=True)  # (made again if a crash loses it: see smsc.core.outbox)

    def _add_by_fate(self, msg: Message, carrier: Any, d: Delivery, intermediate: bool, at_once: bool) -> None:
        """Queue the receipt ``d`` of ``msg`` as ``carrier`` has it (:meth:`Carrier.receipt_fate`): not at all
        when it is lost (counted in ``receipts_lost``); twice when it is duplicated, ``d`` then its copy, a
        delivery of its own with the next delivery_id (counted in ``receipts_duplicated`` and, like ``d``, in
        ``receipts`` or ``intermediate_receipts``); else once."""
        keyed = self.keyed
        rng = self.rng if keyed is None else keyed.receipt(msg.message_id, intermediate)
        fate = carrier.receipt_fate(msg.destination_e164, rng)
        stats = self.stats
        if fate == "lost":
            stats.receipts_lost += 1
            log.debug("receipt_lost", message_id=msg.message_id, system_id=msg.system_id,
                      intermediate=intermediate, carrier=carrier.name)
            return
        if intermediate:
            stats.intermediate_receipts += 1
        else:
            stats.receipts += 1
        self.outbox.add(d, at_once=at_once)  # (made again if a crash loses it: see smsc.core.outbox)
        if fate == "duplicated":
            twin = copy.copy(d)
            twin.tlvs = dict(d.tlvs)
            delay_dist = getattr(getattr(carrier, "receipt", None), "duplicate_delay", None)
            delay = delay_dist.sample(rng) if delay_dist is not None else 0.0
            if delay > 0.0 and self.later is not None:
                # (as real duplicates come: later, after a resend; one not sent when the server stops is not made
                # after the restart, as a real network's resend would not be either)
                self.later(delay, self._add_twin, (twin, intermediate, at_once, msg.message_id, carrier.name))
            else:
                self._add_twin((twin, intermediate, at_once, msg.message_id, carrier.name))

    def _add_twin(self, arg: tuple[Delivery, bool, bool, str, str]) -> None:
        """Queue the copy of a duplicated receipt (a delivery of its own, with the next delivery_id)."""
        twin, intermediate, at_once, message_id, carrier_name = arg
        stats = self.stats
        if intermediate:
            stats.intermediate_receipts += 1
        else:
            stats.receipts += 1
        stats.receipts_duplicated += 1
        outbox = self.outbox
        twin.delivery_id = outbox.new_delivery_id()
        log.debug("receipt_duplicated", message_id=message_id, system_id=twin.system_id, intermediate=intermediate,
                  carrier=carrier_name)
        outbox.add(twin, at_once=at_once)

    def _text_part(self, msg: Message, style: _Style) -> str:
        """``" text:<preview>"`` in ``style`` ("" without a label); the last answer is remembered for the same
        user data object (the SMSC interns short texts), data_coding, UDHI bit and style."""
        label = style.text_label
        data = msg.short_message
        udhi = msg.esm_class & _UDHI
        memo = self._memo
        if memo is not None and memo[0] is data and memo[1] == msg.data_coding and memo[2] == udhi \
                and memo[3] is style and data:
            return memo[4]
        part = f" {label}:{mt_preview(msg)[:TEXT_LENGTH]}" if label else ""
        self._memo = (data, msg.data_coding, udhi, style, part)
        return part


def reference_text(msg: Message, carrier: Any, now: float, *, intermediate: bool,
                   year_pivot: int = YEAR_PIVOT) -> str:
    """The same receipt text built the slow, obvious way with :func:`build_receipt_text` (for tests)."""
    style = getattr(carrier, "receipt", None)
    state = MessageState.ENROUTE if intermediate else msg.state
    err_digits = int(getattr(style, "err_digits", 3) or 3)
    return build_receipt_text(
        message_id=msg.multi_id or msg.message_id,
        submitted=msg.submitted_count,
        delivered=1 if state is MessageState.DELIVERED else 0,
        submit_date=_utc_minute(msg.submit_time),
        done_date=_utc_minute(now if intermediate or msg.final_time is None else msg.final_time),
        stat=state.stat,
        err=f"{msg.error_code:0{err_digits}d}",
        text=mt_preview(msg),
        text_label=getattr(style, "text_label", "text"),
        year_pivot=year_pivot,
    )
