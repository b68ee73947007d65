"""Mobile-originated messages: a handset's MO towards an ESME, and the auto-replies handsets send after an MT.

An MO goes to the system_id of the MO route for the number the handset wrote to, else to the system_id that
last sent MT to that handset (what a reply to a long number does on a real network) when that account can bind
to receive, else it is kept under
system_id "" (counted in ``mo_unrouted``).  Longer than one SMS it is split with a concatenation UDH (esm_class
0x40) as a network would.  The handset's carrier sees the text first (STOP/START opt-out keywords).

Auto-replies (``handsets.auto_reply``) answer a delivered MT after their delay (simulation seconds); a long MT
is answered once its last part arrives (parts are reassembled per ESME, sender and handset).
"""

from __future__ import annotations

import random
from typing import Any, Callable

import structlog

from smsc.core.api import Address, Delivery
from smsc.core.clock import Clock
from smsc.core.draws import KeyedDraws
from smsc.core.message import Message
from smsc.core.numbers import SHORT_CODE_MAX_DIGITS, normalise
from smsc.core.outbox import Outbox
from smsc.core.scheduler import Scheduler
from smsc.core.stats import SmscStats
from smsc.smpp.constants import EsmClass, Npi, Tag, Ton
from smsc.smpp.text import (
    Reassembler,
    alphabet,
    choose_coding,
    concat_info,
    decode_parts,
    decode_text,
    encode_text,
    split_message,
    strip_udh,
)

log = structlog.get_logger("smsc.core")


def _nothing() -> None:
    return None


#: Handsets whose last MT sender is remembered (least recently used forgotten first).
LAST_MT_MAX = 1_000_000



def mo_user_data(text: str | None, payload: bytes | None, data_coding: int | None) -> tuple[int, bytes]:
    """(data_coding, user data) an MO is sent with: ``text`` encoded in ``data_coding``, or when None the coding a
    handset would choose (:func:`~smsc.smpp.text.choose_coding`: GSM 7-bit, else UCS-2); else ``payload`` as it
    is, 8-bit data (4) unless ``data_coding`` says otherwise.  One of ``text`` and ``payload`` is given.

    Raises:
        EncodeError: ``text`` cannot be encoded in ``data_coding``.
    """
    coding = mo_coding(text, data_coding)
    if text is not None:
        return coding, encode_text(text, coding)
    assert payload is not None
    return coding, bytes(payload)


def mo_coding(text: str | None, data_coding: int | None) -> int:
    """The data_coding of an MO (:func:`mo_user_data`): ``data_coding`` when given, else for a ``text`` the coding
    a handset would choose, for a payload (``text`` None) 8-bit data (4).  The HTTP API checks a request's text
    in it before routing, so that the rule lives here once."""
    if data_coding is not None:
        return data_coding
    return choose_coding(text) if text is not None else 0x04

class MoService:
    """Queues MO deliveries and runs handset auto-replies.

    Args:
        router: the world's :class:`~smsc.core.routing.Router` (MO routes, the sender's carrier).
        outbox: where MO deliveries wait for a receiver.
        scheduler: runs auto-reply delays.
        clock: simulation time.
        rng: draws auto-reply chance and delay.
        stats: counts ``mo_received``, ``mo_unrouted``, ``auto_replies``.
        country_code, national_prefix: the topology's numbering, to normalise handset numbers.

    ``on_handset_back`` (set by the SMSC facade) is called with the number of a handset that was absent and
    is attached again because it sent an MO (:meth:`HandsetPool.mo_sent`).
    """

    def __init__(
        self, router: Any, outbox: Outbox, scheduler: Scheduler, clock: Clock, rng: random.Random,
        stats: SmscStats, *, country_code: str, national_prefix: str, store: Any = None,
    ) -> None:
        self.router = router
        #: Where an auto-reply waiting for its delay is kept (``save_pending_reply``), so that a restart sends it.
        self.store = store
        self.outbox = outbox
        self.scheduler = scheduler
        self.clock = clock
        self.rng = rng
        #: With ``simulation.seed``: an auto-reply's chance and delay keyed to its MT's message_id (set by the
        #: SMSC facade); None: drawn from ``rng`` in event order.
        self.keyed: KeyedDraws | None = None
        #: Auto-replies not sent because the MT came from a sender ID (the first, then every 1,000th, is logged).
        self.replies_to_sender_ids = 0
        self.stats = stats
        self._country_code = country_code
        self._national_prefix = national_prefix
        #: handset -> system_id of its last MT, least recently used first (a plain dict keeps insertion
        #: order and is smaller and faster than an OrderedDict).
        self.last_mt: dict[str, str] = {}
        #: The system_ids of the configured accounts that can receive (set by the SMSC facade), or None when no
        #: account is configured (any system_id is taken).  A handset's last MT sender not among them gets no MO:
        #: an account allowed transmitter binds only (tester 73: such MO, answered 202, waited for ever where no
        #: bind could take them), or one removed from the config before a restart (tester 96: a pending
        #: auto-reply went to its outbox and stayed there for ever).
        self.receiving: frozenset[str] | None = None
        self._reassembler = Reassembler(max_pending=10_000, timeout=3_600.0)
        self._mo_reference = 0
        self.on_handset_back: Callable[[str], None] | None = None

    def continue_references(self, newest: Delivery | None) -> None:
        """Number the next long MO after ``newest``, the newest MO still owed to an ESME after a restart (None:
        none is), so that its parts do not take the concatenation reference of parts still owed (tester 139:
        after a restart two long MOs from one handset went out both as reference 1, which an ESME that
        reassembles by sender and reference mixes up).  The counter is 8-bit, as a handset's is."""
        if newest is None:
            return
        try:
            info = concat_info(newest.esm_class, newest.short_message, newest.tlvs)
        except ValueError:
            return
        if info is not None:
            self._mo_reference = info.reference & 0xFF

    def inject_mo(
        self, source: str, destination: str, text: str | None = None, payload: bytes | None = None,
        data_coding: int | None = None, *, answers: str | None = None,
    ) -> list[int]:
        """A handset (``source``) sends a message to ``destination`` (a number or short code); returns the
        delivery_ids, one per part.  See :meth:`smsc.core.smsc.Smsc.inject_mo`.  ``answers``: the system_id whose
        MT this MO answers (an auto-reply), which takes it when no MO route names ``destination``, rather than
        the handset's last MT sender (see :meth:`_reply_target`).

        Raises:
            ValueError: neither or both of text and payload given, an empty number, or a text that cannot be
                encoded (:class:`smsc.smpp.text.EncodeError`) or needs more than 255 parts.
        """
        if (text is None) == (payload is None):
            raise ValueError("give exactly one of text or payload")
        if not source or not destination:
            raise ValueError("source and destination must not be empty")
        now = self.clock.now()
        source_e164 = self._source_e164(source)
        coding, user_data = mo_user_data(text, payload, data_coding)
        if text is None:
            text = decode_text(user_data, coding)
        self._mo_reference = (self._mo_reference + 1) & 0xFF
        parts = split_message(user_data, coding, self._mo_reference)
        carrier = self.router.route(source_e164)
        if carrier is not None:
            carrier.handsets.on_mo_text(source_e164, text, now)
            if carrier.handsets.mo_sent(source_e164, now) and self.on_handset_back is not None:
                self.on_handset_back(source_e164)
        system_id = (self._mo_target(destination, source_e164) if answers is None
                     else self._reply_target(destination, answers))
        esm_class = EsmClass.UDHI if len(parts) > 1 else 0
        src = Address(ton=Ton.INTERNATIONAL, npi=Npi.ISDN, addr=source_e164) if source_e164.isdigit() \
            else Address(ton=Ton.ALPHANUMERIC, npi=Npi.UNKNOWN, addr=source_e164)
        dst = self._mo_destination_address(destination)
        ids: list[int] = []
        for part in parts:
            delivery = Delivery(
                delivery_id=self.outbox.new_delivery_id(),
                system_id=system_id,
                source=src,
                destination=dst,
                esm_class=int(esm_class),
                data_coding=coding,
                short_message=part,
                kind="mo",
            )
            self.outbox.add(delivery)
            ids.append(delivery.delivery_id)
        self.stats.mo_received += len(parts)
        if not system_id:
            self.stats.mo_unrouted += len(parts)
            log.warning("mo_unrouted", source=source_e164, destination=destination, parts=len(parts))
        return ids

    def target(self, source: str, destination: str) -> str:
        """The system_id an MO from ``source`` to ``destination`` would go to (as :meth:`inject_mo` decides:
        the MO route for ``destination``, else the ESME that last sent MT to ``source``), "" when none: such an
        MO would reach nobody, so a caller that can refuse it (the HTTP API) asks first."""
        return self._mo_target(destination, self._source_e164(source))

    def _source_e164(self, source: str) -> str:
        return normalise(Ton.UNKNOWN, Npi.ISDN, source, country_code=self._country_code,
                         national_prefix=self._national_prefix) or source

    def _mo_target(self, destination: str, source_e164: str) -> str:
        target = self.router.mo_target(destination)
        if target:
            return target
        last = self.last_mt.get(source_e164, "")
        receiving = self.receiving  # (an account that may only transmit is not among them)
        return "" if receiving is not None and last not in receiving else last

    def _reply_target(self, destination: str, system_id: str) -> str:
        """Where an auto-reply to an MT of ``system_id`` goes: the MO route for ``destination`` (the number the MT
        came from), else ``system_id`` itself when it may receive, else "" (nobody).  Not the handset's last MT
        sender: with two accounts writing to one handset, the reply to the first went to the second (tester
        170: one customer got another's replies, STOPs among them)."""
        target = self.router.mo_target(destination)
        if target:
            return target
        receiving = self.receiving
        return "" if receiving is not None and system_id not in receiving else system_id

    @staticmethod
    def _mo_destination_address(destination: str) -> Address:
        """The address an MO goes to the ESME with: digits as a short code (TON 3) or an international number
        (TON 1, NPI 1; a leading "+" dropped, tester 38: an auto-reply to "+447700900000" went out as an
        alphanumeric address), anything else as alphanumeric (TON 5)."""
        if destination.startswith("+") and destination[1:].isdigit():
            destination = destination[1:]
        if destination.isdigit():
            # (at most SHORT_CODE_MAX_DIGITS digits: a short code, as routing and the config read it; tester 47:
            # 7 and 8 digits went out as short codes here and could not be configured as one)
            if len(destination) <= SHORT_CODE_MAX_DIGITS:
                return Address(ton=Ton.NETWORK_SPECIFIC, npi=Npi.UNKNOWN, addr=destination)
            return Address(ton=Ton.INTERNATIONAL, npi=Npi.ISDN, addr=destination)
        return Address(ton=Ton.ALPHANUMERIC, npi=Npi.UNKNOWN, addr=destination)

    def remember_sender(self, e164: str, system_id: str) -> None:
        """``system_id`` sent MT to ``e164``: an MO from that handset without an MO route goes back there."""
        last = self.last_mt
        if last.pop(e164, None) is None and len(last) >= LAST_MT_MAX:
            del last[next(iter(last))]
        last[e164] = system_id

    def auto_replies(self, msg: Message, carrier: Any) -> None:
        """After ``msg`` was delivered: the handset's configured answers come back as MO after their delays."""
        source = msg.source
        if carrier is None or not source.addr:
            return
        handsets = carrier.handsets
        if not getattr(handsets, "may_auto_reply", True):
            return
        if source.ton == Ton.ALPHANUMERIC or not source.addr.lstrip("+").isdigit():
            # A handset cannot answer a sender ID such as "MyBrand": an app that sends from one and tested its
            # replies here would learn they work (tester 31).  Said when this handset would have answered
            # (tester 108: a test waiting for an echo timed out without a word).
            has_reply = getattr(handsets, "auto_reply_for", None)
            if has_reply is not None and has_reply(msg.destination_e164) is not None:
                self.replies_to_sender_ids += 1
                if self.replies_to_sender_ids == 1 or self.replies_to_sender_ids % 1000 == 0:
                    log.info("auto_reply_skipped", handset=msg.destination_e164, source_addr=source.addr,
                             count=self.replies_to_sender_ids,
                             reason="a handset cannot answer a sender ID (an alphanumeric source_addr): submit "
                                    "from a number to have it reply")
            return
        # The number the handset answers, as its network reads it: a national "07700900000" (TON 2, or TON 0
        # with the trunk prefix) is "447700900000", as an MO to it through the API is (tester 47: the reply went
        # out as TON 1 "07700900000", international with national digits); a short code keeps its digits.
        reply_to = normalise(source.ton, source.npi, source.addr, country_code=self._country_code,
                             national_prefix=self._national_prefix) or source.addr
        has_reply = getattr(handsets, "auto_reply_for", None)
        if has_reply is not None and has_reply(msg.destination_e164) is None:
            return  # the common case: no auto-reply configured, no need to read the text
        text = self._mt_text(msg)
        if text is None:
            return
        now = self.clock.now()
        if msg.final_time is not None and now < msg.final_time:
            # A scaled clock pinned at an earlier batch's time (see AttemptMachine._on_outcome_due): the handset
            # answers once it has the MT, never before.
            now = msg.final_time
        keyed = self.keyed
        replies = handsets.replies_to_mt(
            msg.destination_e164, text, now, self.rng if keyed is None else keyed.reply(msg.message_id))
        store = self.store
        for n, answer in enumerate(replies):
            self.stats.auto_replies += 1
            due = now + max(0.0, float(answer.delay))
            key = f"{msg.message_id}/{n}@{now!r}"
            if store is not None:
                # Kept with the MT's final state (the same batch): a restart before the delay is over still
                # sends it (restore_pending_replies), and sending it deletes it with the MO's own rows.
                store.save_pending_reply(key, due, msg.destination_e164, reply_to, answer.text, msg.system_id)
            self.scheduler.call_at(due, self._send_auto_reply, (key, msg.destination_e164, reply_to,
                                                                answer.text, msg.system_id))

    def restore_pending_replies(self, rows: list[tuple[str, float, str, str, str, str]]) -> None:
        """After a restart: the auto-replies that were waiting for their delay (``WorldState.pending_replies``),
        sent at their time, or at once when it has passed.  Each goes back to the ESME whose MT it answers
        (kept with it); that ESME is the handset's last MT sender again, which only memory kept."""
        for key, due, handset, to, text, system_id in rows:
            self.remember_sender(handset, system_id)
            self.scheduler.call_at(max(due, self.clock.now()), self._send_auto_reply,
                                   (key, handset, to, text, system_id))

    def _send_auto_reply(self, arg: tuple[str, str, str, str, str]) -> None:
        key, source, destination, text, system_id = arg
        if self.store is not None:
            self.store.save_pending_reply(key, None, source, destination, text, system_id)
        if not self._reply_target(destination, system_id):
            # Nobody could ever take it (the MT came from an account that may only transmit, and no MO route
            # names the address): counted and said, not kept for ever under system_id "" as an unrouted MO is
            # (tester 94: such replies piled up across restarts; the HTTP API refuses such an MO with 422).
            coding, user_data = mo_user_data(text, None, None)
            self.stats.mo_unrouted += len(split_message(user_data, coding, 0))  # (parts, as for any MO: tester 96)
            log.info("auto_reply_unrouted", handset=source, destination=destination, mt_system_id=system_id)
            if self.store is not None:
                self.store.commit(_nothing)  # (the pending reply's deletion)
            return
        network = self.router.route(source)
        if network is None or network.down:
            # The handset has no network to send through, as POST /api/mo refuses such an MO (tester 181: an echo
            # reached the ESME while the handset's carrier was down).  Not kept: a phone shows "not sent".
            self._reply_unsendable(source, destination, system_id, "the handset has no network to send through: "
                                   + ("no carrier serves it" if network is None else f"its carrier {network.name} "
                                      "is down"))
            return
        try:
            self.inject_mo(source, destination, text=text, answers=system_id)  # (commits, with the delete above)
        except ValueError as exc:
            # A reply no handset could send: an echo of a long Latin-1 or IA5 MT holding a character GSM 03.38
            # lacks goes out in UCS-2 and may need more than 255 parts (tester 176: a traceback at error level,
            # and a test waiting for the echo timed out).  inject_mo refuses before any side effect.
            self._reply_unsendable(source, destination, system_id, f"the reply cannot be sent as an MO: {exc}")

    def _reply_unsendable(self, source: str, destination: str, system_id: str, reason: str) -> None:
        """An auto-reply due now is not sent, for ``reason``: counted, said (``auto_reply_skipped``), and its
        pending row's deletion committed."""
        self.stats.auto_replies_unsendable += 1
        log.warning("auto_reply_skipped", handset=source, destination=destination, mt_system_id=system_id,
                    reason=reason)
        if self.store is not None:
            self.store.commit(_nothing)  # (the pending reply's deletion)

    def _mt_text(self, msg: Message) -> str | None:
        """The whole text of a delivered MT (reassembled when it is one part of a long message; None until
        the last part arrives, or for user data that cannot be read).

        "" for binary user data, in any part (a ringtone, a WAP push, an OTA setting): no word to match and
        nothing a person would echo, where it was sent back as the hex of its octets, a GSM text the handset
        never wrote (tester 30; tester 38: a long message whose binary part was not the last).  A fixed reply
        text still comes."""
        try:
            info = concat_info(msg.esm_class, msg.short_message, msg.tlvs)
        except ValueError:
            # A concatenation element a handset ignores (part 0, part above the total, total 0: 3GPP TS 23.040
            # section 9.2.3.24.1): the text after the header is the message, as the HTTP API shows it (tester
            # 160: the echo handset said nothing).
            info = None
        if info is not None:
            key = (msg.system_id, msg.source.addr, msg.destination_e164)
            whole = self._reassembler.add_part(key, info, self.clock.now(), msg.data_coding)
            if whole is None:
                return None
            if any(alphabet(part.data_coding) == "binary" for part in whole):
                return ""
            return decode_parts(whole)
        if alphabet(msg.data_coding) == "binary":
            return ""
        data = msg.short_message or msg.tlvs.get(Tag.message_payload, b"")
        if not isinstance(data, (bytes, bytearray)):
            return None
        if msg.esm_class & EsmClass.UDHI:
            try:
                data = strip_udh(bytes(data))  # (cut by UDHL whatever its elements hold, as a handset does)
            except ValueError:
                return None
        return decode_text(bytes(data), msg.data_coding)
