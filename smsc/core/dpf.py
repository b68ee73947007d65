"""Delivery Pending Flags and alert_notification (SMPP 3.4 sections 4.12, 5.3.2.28 to 5.3.2.30).

An ESME asks for a Delivery Pending Flag (DPF) with the set_dpf TLV (0x0421) set to 1 in data_sm (SMPP 3.4
section 5.3.2.29; SMPP 5.0 section 4.8.4.52 allows it in submit_sm too, and so does this SMSC, in
submit_multi as well).  When such a message finds its handset absent (an attempt's outcome, or no attempt
because the handset is already known absent: :meth:`PendingFlags.absent`), the SMSC sets the flag for the
pair (the ESME's system_id, the handset's number): one flag per pair, however many messages asked.  A
transaction-mode data_sm_resp says so with dpf_result 1 (section 5.3.2.28).  When the handset is seen again,
every flag of its number is cleared and each ESME gets one alert_notification (section 4.12): source_addr is
the handset's address as the ESME wrote it as destination_addr, esme_addr the source_addr of the message that
set the flag (the ESME's own address), with ms_availability_status 0, "available" (section 5.3.2.30).

Reading of the specification: set_dpf's value 1 is marked "(default)", but a message without the TLV does not
ask for a flag.  The same marking on more_messages_to_send's value 1 ("more messages to follow") cannot mean
the value of an absent TLV, and where the specification means that it says so (dpf_result,
ms_availability_status: "if not included ... assume").  So an alert_notification, which the ESME never
acknowledges, goes only to an ESME that asked for it.

"Seen again" is: the handset model says it is back (a timer at the time the absent outcome gave; at that
time the handset is asked again, and a handset still off is waited for until its next online time), or the
control API switches it on (:meth:`PendingFlags.available`).  A handset that never comes back by itself is
alerted only by the control API.

The alert is a :class:`~smsc.core.api.Delivery` of kind :data:`ALERT` in the durable outbox: it is kept
there, also across a restart, until a receiver or transceiver of the system_id binds (an SMPP 3.3 bind does
not take it: alert_notification is new in 3.4), and the adapter reports it sent (``Outbox.sent``) instead of
acknowledged, as no response PDU exists.

The flags themselves are durable with a store that has ``save_dpf_flag`` / ``delete_dpf_flag`` /
``load_dpf_flags`` (SQLite): a flag set by a message that is final by now (a transaction or datagram, a
message that expired) still gets its ESME the alert after a restart.  A flag's row goes to the store with the
next commit (every caller commits after it: an attempt's outcome, a final state; a message that joins a wait
sets its flag again when a restart resumes it), and the rows of the flags an alert clears go in the same
commit as the alert's outbox row, so a crash neither loses nor repeats the alert.  At start
(:meth:`PendingFlags.restore`) the handset of every flagged number is looked at a moment later, as a waiting
message's handset is: the handset model says whether it is back (a control-API switch lives in the process).
The memory store keeps no flags: they end with the process, like everything else it holds.
"""

from __future__ import annotations

from typing import Any, Callable

import structlog

from smsc.core.api import ALERT, Address, Delivery
from smsc.core.clock import Clock
from smsc.core.message import Message
from smsc.core.outbox import Outbox
from smsc.core.scheduler import Scheduler, TimerHandle
from smsc.core.stats import SmscStats
from smsc.smpp.constants import Tag

log = structlog.get_logger("smsc.core")

#: ms_availability_status value "available" (SMPP 3.4 section 5.3.2.30).
MS_AVAILABLE = 0
#: Shortest delay before looking at the handset again, simulation seconds (as the waits' alerts: never a
#: same-instant loop).
MIN_LOOK_DELAY = 1.0

_SET_DPF = int(Tag.set_dpf)
_MS_AVAILABILITY_STATUS = int(Tag.ms_availability_status)


def wants_dpf(msg: Message) -> bool:
    """True when ``msg`` asked for a Delivery Pending Flag: a set_dpf TLV present and not 0.  Values 2 to 255 are
    reserved, and SMPP 3.4 section 3.3 says a reserved value takes the parameter's default, which for set_dpf is 1
    (section 5.3.2.29; tester 141: a reserved value asked for nothing)."""
    tlvs = msg.tlvs
    if not tlvs:
        return False
    value = tlvs.get(_SET_DPF)
    return value is not None and value != 0


class PendingFlags:
    """The Delivery Pending Flags set, per handset number, and the alerts they turn into.

    Args:
        outbox: where the alerts go (kind :data:`ALERT`, available once durable).
        store: the message store; its optional ``save_dpf_flag`` and ``delete_dpf_flag`` make the flags durable
            (None, or a store without them: in memory only).
        scheduler, clock: the timer per flagged number, for when its handset comes back.
        stats: counts ``dpf_set`` and ``alerts_queued``.
        handsets_of: the handset pool serving a number (None when no carrier does), asked whether a handset is
            back and when it will be.
        on_alert: called before the first alert of a call to :meth:`available` is queued (the SMSC's
            ``may_owe_alerts``).
    """

    def __init__(
        self, outbox: Outbox, scheduler: Scheduler, clock: Clock, stats: SmscStats,
        handsets_of: Callable[[str], Any], on_alert: Callable[[], None] | None = None, store: Any = None,
    ) -> None:
        self._outbox = outbox
        self._save: Callable[[str, str, Address, Address], None] | None = getattr(store, "save_dpf_flag", None)
        self._delete: Callable[[str, str], None] | None = getattr(store, "delete_dpf_flag", None)
        self._on_alert = on_alert
        self._scheduler = scheduler
        self._clock = clock
        self._stats = stats
        self._handsets_of = handsets_of
        #: Number (E.164) -> system_id -> (the handset's address, the ESME's address) of the flag.
        self._flags: dict[str, dict[str, tuple[Address, Address]]] = {}
        #: Number -> (when, its timer) of the look at whether the handset is back.
        self._timers: dict[str, tuple[float, TimerHandle]] = {}

    def __len__(self) -> int:
        """Flags set, every number and system_id."""
        return sum(len(f) for f in self._flags.values())

    def is_set(self, system_id: str, e164: str) -> bool:
        """True while a flag of ``system_id`` for the handset ``e164`` waits for the handset."""
        flags = self._flags.get(e164)
        return flags is not None and system_id in flags

    def flags(self) -> list[tuple[str, str]]:
        """Every flag as (number, system_id), for inspection."""
        return [(e164, system_id) for e164, flags in self._flags.items() for system_id in flags]

    def absent(self, msg: Message, online_at: float | None) -> bool:
        """``msg`` found its handset absent; the handset model says it is back at ``online_at`` (simulation
        seconds; None: not by itself).  Sets the flag when ``msg`` asked for one (:func:`wants_dpf`) and
        returns whether it did."""
        if not wants_dpf(msg):
            return False
        e164 = msg.destination_e164
        flags = self._flags.get(e164)
        if flags is None:
            flags = self._flags[e164] = {}
        system_id = msg.system_id
        old = flags.get(system_id)
        if old is None:
            self._stats.dpf_set += 1
        # The latest message's addresses: the ESME's current view of the handset and of itself.
        new = (msg.destination, msg.source)
        if new != old:
            flags[system_id] = new
            if self._save is not None:
                self._save(e164, system_id, *new)
        if online_at is not None:
            self._look_at(e164, online_at)
        return True

    def available(self, e164: str) -> None:
        """The handset of ``e164`` is reachable again: every flag set for it is cleared and each ESME that set
        one is owed one alert_notification."""
        timer = self._timers.pop(e164, None)
        if timer is not None:
            self._scheduler.cancel(timer[1])
        flags = self._flags.pop(e164, None)
        if not flags:
            return
        if self._on_alert is not None:
            self._on_alert()
        outbox = self._outbox
        delete = self._delete
        for system_id, (handset, esme) in flags.items():
            if delete is not None:
                delete(e164, system_id)  # (committed with the alert's row, by the outbox's commit)
            outbox.add(Delivery(
                delivery_id=outbox.new_delivery_id(), system_id=system_id, source=handset, destination=esme,
                tlvs={_MS_AVAILABILITY_STATUS: MS_AVAILABLE}, kind=ALERT,
            ))
            self._stats.alerts_queued += 1
            log.debug("alert_queued", system_id=system_id, number=e164)

    def restore(self, flags: list[tuple[str, str, Address, Address]]) -> None:
        """At start, the flags the store kept (``load_dpf_flags``: (e164, system_id, handset, ESME)): each number's
        handset is looked at :data:`MIN_LOOK_DELAY` from now (alerted if the handset model says it is online
        then, else at its next online time, else when the control API switches it on).  Before the waiting
        messages are resumed: those that find their handset absent again keep their flag as it is."""
        now = self._clock.now()
        for e164, system_id, handset, esme in flags:
            self._flags.setdefault(e164, {})[system_id] = (handset, esme)
        for e164 in self._flags:
            self._look_at(e164, now)

    def _look_at(self, e164: str, when: float) -> None:
        """Look at whether the handset of ``e164`` is back at ``when`` (the latest time given wins, as later
        news of the same handset)."""
        when = max(when, self._clock.now() + MIN_LOOK_DELAY)
        timer = self._timers.get(e164)
        if timer is not None:
            if timer[0] == when:
                return
            self._scheduler.cancel(timer[1])
        self._timers[e164] = (when, self._scheduler.call_at(when, self._on_look, e164))

    def _on_look(self, e164: str) -> None:
        """The time the handset of ``e164`` was said to come back: alert if it is online now, else look again
        at its next online time (none: wait for the control API)."""
        self._timers.pop(e164, None)
        if e164 not in self._flags:
            return
        handsets = self._handsets_of(e164)
        now = self._clock.now()
        if handsets is None or handsets.is_online(e164, now):
            self.available(e164)
            return
        back = handsets.next_online(e164, now)
        if back is not None:
            self._look_at(e164, back)
