"""The core's plain counters: incremented inline on the hot path, read by the metrics collector at scrape time.

No metric objects live on the hot path (design.md, "The hot path"): :class:`SmscStats` is a slotted dataclass
of ints; ``smsc/http/metrics.py`` turns every field into ``smsc_<name>_total`` (levels into gauges).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SmscStats:
    """Plain counters for metrics (``smsc_<name>_total``); ``waiting``, ``queued``, ``in_flight`` are levels."""

    submitted: int = 0  #: messages accepted (submit_multi counts each destination)
    #: submits (or submit_multi destinations) refused with an error status, here or by the adapter's checks
    submit_errors: int = 0
    replaced: int = 0  #: waiting messages replaced (replace_if_present_flag or replace_sm)
    attempts: int = 0  #: delivery attempts towards handsets
    retries: int = 0  #: temporary failures scheduled for a retry
    absent: int = 0  #: attempts that found the handset absent
    delivered: int = 0
    expired: int = 0
    undeliverable: int = 0
    rejected: int = 0
    accepted: int = 0  #: final as ACCEPTED: read by customer service on the subscriber's behalf (ACCEPTD)
    deleted: int = 0  #: cancelled (cancel_sm) or replaced messages
    receipts: int = 0  #: final receipts queued
    intermediate_receipts: int = 0
    #: receipts (final or intermediate) never queued: the carrier lost them (its receipt style's ``lost``, or a
    #: number rule's ``receipt: lost``)
    receipts_lost: int = 0
    #: receipts queued a second time: the carrier sent them twice (``duplicated``; the copies also count in
    #: ``receipts`` / ``intermediate_receipts``)
    receipts_duplicated: int = 0
    #: submits refused because their carrier's queue held its ``queue_limit`` (also in ``submit_errors``)
    congested: int = 0
    mo_received: int = 0  #: MO deliveries queued (parts of a long MO count one each)
    mo_unrouted: int = 0  #: MO parts with no system_id to receive them
    auto_replies: int = 0  #: auto-replies scheduled (each sent after its delay, unless unsendable then)
    #: auto-replies not sent when due: more than 255 parts once encoded, or the handset's carrier down or none
    #: (logged ``auto_reply_skipped``)
    auto_replies_unsendable: int = 0
    deliveries_queued: int = 0  #: receipts, MO and alert_notification added to the outbox
    deliveries_acked: int = 0
    deliveries_failed: int = 0  #: deliver_sm without a usable answer (retried later)
    deliveries_dropped: int = 0  #: deliver_sm refused with ESME_RX_P_APPN / ESME_RX_R_APPN
    deliveries_spilled: int = 0  #: deliveries kept on disk only, beyond the outbox's memory (SQLite)
    dpf_set: int = 0  #: Delivery Pending Flags set (set_dpf=1 and the handset absent; one per ESME and number)
    alerts_queued: int = 0  #: alert_notification owed to ESMEs (a flagged handset came back)
    alerts_sent: int = 0  #: alert_notification sent (no response exists: sent is done)
    #: Messages not final read back from the store at start (with ``submitted``, what the final-state
    #: counters and ``waiting`` of this process add up to: they count the restored ones too)
    restored_waiting: int = 0
    #: Receipts and MO still owed read back from the store at start (with ``deliveries_queued``, what the
    #: acked, dropped and pending ones of this process add up to)
    restored_deliveries: int = 0
    waiting: int = 0  #: messages not yet final
    queued: int = 0  #: messages waiting for their carrier (its capacity, or its return while it is down)
    in_flight: int = 0  #: attempts whose outcome is pending
