"""Delivery receipts: which messages get one, and the deliver_sm that carries it to the submitting ESME.

A receipt follows registered_delivery (SMPP 3.4 section 5.2.17; value 3, "success only", is SMPP 5.0): bits
1-0 ask for a final receipt on success and/or failure, bit 0x10 for one intermediate notification on the
first failed attempt.  The text is the SMPP 3.4 Appendix B shape (:func:`smsc.smpp.receipt.build_receipt_text`)
in the carrier's receipt style (``err:`` digits, ``text:`` label, message_id format), ASCII with data_coding 0
(characters outside ASCII in the ``text:`` field become "?").  The deliver_sm goes from the original
destination to the original source, esm_class 0x04 (0x20 for an intermediate notification), with the
receipted_message_id, message_state, network_error_code and user_message_reference TLVs.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from smsc.core.api import Delivery
from smsc.core.clock import Clock
from smsc.core.message import Message
from smsc.core.outbox import Outbox
from smsc.core.stats import SmscStats
from smsc.smpp.constants import EsmClass, MessageState, Tag
from smsc.smpp.receipt import build_receipt_text
from smsc.smpp.text import decode_text, parse_udh

_minute_cache: dict[int, datetime] = {}


def _utc_minute(t: float) -> datetime:
    """``t`` truncated to its minute, as a UTC datetime (receipt dates are YYMMDDhhmm), cached."""
    minute = int(t // 60)
    dt = _minute_cache.get(minute)
    if dt is None:
        if len(_minute_cache) > 4096:
            _minute_cache.clear()
        dt = _minute_cache[minute] = datetime.fromtimestamp(minute * 60, tz=timezone.utc)
    return dt


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def wants_receipt(msg: Message) -> bool:
    """True when ``msg`` (in its final state) asked for a final receipt: registered_delivery bits 1-0 are 1
    (always), 2 (failure only) or 3 (success only, SMPP 5.0) (SMPP 3.4 section 5.2.17)."""
    wanted = msg.registered_delivery & 0x03
    if msg.state is MessageState.DELIVERED:
        return wanted in (1, 3)
    return wanted in (1, 2)


def mt_preview(msg: Message) -> str:
    """The first 20 characters of the message for the receipt's ``text:`` field, in ASCII ("?" for others,
    line breaks as spaces); "" for user data that cannot be read.  Never raises."""
    data = msg.short_message or msg.tlvs.get(Tag.message_payload, b"")
    if not isinstance(data, (bytes, bytearray)):
        return ""
    data = bytes(data)
    if msg.esm_class & EsmClass.UDHI:
        try:
            _, data = parse_udh(data)
        except ValueError:
            return ""
    try:
        text = decode_text(data[:160], msg.data_coding)
    except Exception:  # decode_text promises not to raise; a receipt must never fail on the preview
        return ""
    return _ascii(text[:20]).replace("\n", " ").replace("\r", " ")


class Receipts:
    """Builds receipt deliveries and adds them to the outbox (which makes them durable, then offers them).

    Args:
        outbox: where the deliver_sm waits for a receiver of the submitting system_id.
        stats: counts ``receipts`` and ``intermediate_receipts``.
        clock: the done date of an intermediate notification is now.
    """

    __slots__ = ("outbox", "stats", "clock")

    def __init__(self, outbox: Outbox, stats: SmscStats, clock: Clock) -> None:
        self.outbox = outbox
        self.stats = stats
        self.clock = clock

    def queue(self, msg: Message, carrier: Any, *, intermediate: bool) -> None:
        """Queue the receipt of ``msg`` in ``carrier``'s receipt style: its final receipt (``msg`` is final), or
        the intermediate notification of a first failed attempt (message_state ENROUTE, esm_class 0x20)."""
        style = getattr(carrier, "receipt", None)
        now = self.clock.now()
        receipt_id = msg.multi_id or msg.message_id
        state = MessageState.ENROUTE if intermediate else msg.state
        err_digits = int(getattr(style, "err_digits", 3) or 3)
        text = mt_preview(msg)
        body = build_receipt_text(
            message_id=receipt_id,
            submitted=msg.submitted_count,
            delivered=1 if state is MessageState.DELIVERED else 0,
            submit_date=_utc_minute(msg.submit_time),
            done_date=_utc_minute(now if intermediate or msg.final_time is None else msg.final_time),
            stat=state.stat,
            err=f"{msg.error_code:0{err_digits}d}",
            text=text,
            text_label=getattr(style, "text_label", "text"),
        )
        tlvs: dict[int, Any] = {}
        if getattr(style, "receipted_message_id", True):
            tlvs[Tag.receipted_message_id] = receipt_id
        tlvs[Tag.message_state] = int(state)
        if msg.network_error_code is not None and state is not MessageState.DELIVERED:
            tlvs[Tag.network_error_code] = msg.network_error_code
        reference = msg.tlvs.get(Tag.user_message_reference)
        if reference is not None:
            tlvs[Tag.user_message_reference] = reference
        delivery = Delivery(
            delivery_id=self.outbox.new_delivery_id(),
            system_id=msg.system_id,
            source=msg.destination,
            destination=msg.source,
            esm_class=int(EsmClass.INTERMEDIATE_NOTIFICATION if intermediate else EsmClass.DELIVERY_RECEIPT),
            data_coding=0,
            short_message=body.encode("ascii", "replace"),
            tlvs=tlvs,
            kind="receipt",
        )
        if intermediate:
            self.stats.intermediate_receipts += 1
        else:
            self.stats.receipts += 1
        self.outbox.add(delivery)
