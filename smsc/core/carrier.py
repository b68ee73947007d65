"""One simulated mobile network: what happens when the SMSC tries to deliver a message to one of its numbers.

The SMSC core (the store-and-forward engine) asks a :class:`Carrier` two things:

* at submit time, :meth:`Carrier.submit_rule`: should this submit_sm be answered specially (a chosen
  error status such as ESME_RSUBMITFAIL, or a late answer)?
* per delivery attempt, :meth:`Carrier.attempt`: how does the attempt end, and after how many seconds?

An attempt is decided in this order (first match wins):

1. an explicit number rule with a fixed, non-absent outcome (unknown subscriber, barred, busy ...);
2. the opt-out list: an opted-out number gets the carrier's opt-out outcome (REJECTD err 603 by default);
3. the handset's reachability (control-API override, rule ``offline``, or the random handset model):
   unreachable -> "absent" with the time the handset comes back (the SMSC waits for that alert);
4. a rule number that is reachable is delivered; any other number draws from the carrier's outcome mix.

Latencies come from the carrier's ``latency`` distribution for deliveries and ``failure_latency`` for
everything else, unless a rule sets its own.  Randomness comes only from the ``rng`` passed in (a seeded
``random.Random``) and the handset pool's seeded hash, so a seeded world replays exactly.

Each carrier counts the attempts it decided, by outcome kind (:meth:`Carrier.counters`, shown by the HTTP
API's ``GET /api/carriers``): plain ints, one increment per attempt.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from smsc.config import (
    DEFAULT_RETRY_SCHEDULE,
    OUTCOME_KINDS,
    CarrierConfig,
    NumberRule,
    OutcomeSpec,
    ReceiptStyle,
    SubmitRule,
    outcome_for,
)
from smsc.core.draws import KeyedDraws
from smsc.core.handsets import HandsetPool

__all__ = ["Carrier", "AttemptOutcome", "SubmitRule", "ReceiptStyle"]

#: The cause reported when paging finds a handset switched off or out of coverage (MAP absentSubscriberSM).
_ABSENT = outcome_for("absent_subscriber")


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """How one delivery attempt ends.

    ``kind``: "delivered"; "absent" (handset unreachable: wait for the alert at ``online_at``, None = not
    before the message expires); "temporary" (retry on the retry schedule: busy, system failure);
    "undeliverable" (permanent: unknown subscriber ...); "rejected" (the network refuses: barred, opted
    out).  ``latency``: seconds from the attempt to this outcome.  ``err``: the receipt's ``err:`` value;
    ``network_error_code``: the 3-octet TLV value (SMPP 3.4 section 5.3.2.31) or None.  ``cause``: the named
    cause from :data:`smsc.config.CAUSES` (for logs and the inspection API).
    """

    kind: str
    latency: float
    err: int = 0
    network_error_code: bytes | None = None
    online_at: float | None = None
    cause: str = ""


class Carrier:
    """A simulated network built from its :class:`~smsc.config.CarrierConfig`.

    Attributes:
        name: the carrier's name (unique in the topology).
        receipt: how its delivery receipts look (:class:`~smsc.config.ReceiptStyle`).
        capacity: delivery attempts per second it accepts, None = unlimited (the engine queues above it).
        queue_limit: the most messages that may wait for ``capacity``; None = unlimited.
        queue_full_status: the command_status of a submit refused beyond ``queue_limit``.
        down: True while the carrier is down: no attempts, its messages wait for its return.
        outage_status: the command_status of a submit while it is down (None = accepted and held).
        retry_schedule: seconds to wait before each retry after a temporary failure (last one repeats).
        handsets: its :class:`~smsc.core.handsets.HandsetPool`.
        config: the configuration it was built from.

    Args:
        config: the carrier's configuration.
        handsets: its handset pool; default: built from ``config`` with ``seed``.
        retry_schedule: the simulation-wide schedule, used when the carrier has none of its own.
        seed: the world seed for a default handset pool.
    """

    def __init__(
        self, config: CarrierConfig, handsets: HandsetPool | None = None, *,
        retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE, seed: int = 0,
    ) -> None:
        self.config = config
        self.name = config.name
        self.receipt: ReceiptStyle = config.receipt
        self.capacity: float | None = config.capacity
        #: The most messages waiting for ``capacity`` before submits are refused with ``queue_full_status``.
        self.queue_limit: int | None = config.queue_limit
        self.queue_full_status: int = config.queue_full_status
        #: True while the carrier is down (its link broken): nothing is attempted, messages wait for its return
        #: (:meth:`~smsc.core.smsc.Smsc.set_carrier_down`).
        self.down: bool = config.down
        #: While down, submits to it are refused with this command_status (None = accepted and held).
        self.outage_status: int | None = config.outage_status
        self.retry_schedule: tuple[float, ...] = config.retry_schedule or retry_schedule
        self.handsets = handsets if handsets is not None else HandsetPool(
            config.handsets, config.rules, seed=seed, name=config.name
        )
        self._mix: tuple[OutcomeSpec, ...] = config.outcomes
        self._cumulative = list(accumulate(spec.weight for spec in self._mix))
        self._total = self._cumulative[-1] if self._cumulative else 0.0
        self._opt_out_status = config.opt_out.submit_status
        #: Attempts :meth:`attempt` decided, by outcome kind (plain ints; read by :meth:`counters`) ...
        self._counts: dict[str, int] = dict.fromkeys(OUTCOME_KINDS, 0)
        #: ... except those answered with ``_sole`` (below), counted here: one attribute is cheaper than the dict.
        self._sole_count = 0
        #: Outcomes that never differ for numbers without a rule: id(spec) -> (spec, outcome), for specs whose
        #: latency distribution is fixed and whose kind is not absent (an absent one has its own online_at).
        #: Handing out the same frozen outcome saves building one per attempt; the latency draw's
        #: ``rng.random()`` is still made, so a seeded world replays exactly as before.
        self._constant: dict[int, tuple[OutcomeSpec, AttemptOutcome]] = {}
        #: The same for a reachable number with a rule whose latency is fixed: id(dist) -> (dist, outcome).
        self._delivered_fixed: dict[int, tuple[Any, AttemptOutcome]] = {}
        for spec in (*self._mix, config.opt_out.outcome):
            dist = config.latency if spec.kind == "delivered" else config.failure_latency
            if spec.kind != "absent" and dist.kind == "fixed":
                outcome = AttemptOutcome(
                    kind=spec.kind, latency=dist.quantile(0.5), err=spec.err,
                    network_error_code=spec.network_error_code, online_at=None, cause=spec.cause,
                )
                self._constant[id(spec)] = (spec, outcome)
        #: The one outcome of every attempt to a number without a rule, override or opt-out state, when the
        #: carrier has no number rules, every handset is always online (no random model to ask) and its mix
        #: holds one constant outcome; else None.  :meth:`attempt` then answers with it after the same single
        #: ``rng.random()`` the general path makes (the latency draw), skipping the paging and the mix.
        self._sole: AttemptOutcome | None = None
        pool = self.handsets
        #: False when no handset of this carrier can auto-reply: a delivered MT needs no look at its text.
        self.may_auto_reply: bool = getattr(pool, "may_auto_reply", True)
        if (len(self._mix) == 1 and id(self._mix[0]) in self._constant and not pool.has_rules
                and pool.always_online):
            self._sole = self._constant[id(self._mix[0])][1]
        #: submit_sm_resp after a drawn delay (real seconds: ``submit_latency``), from a stream of its own so that
        #: it moves no draw of the simulated world.
        self._submit_latency = config.submit_latency
        self._submit_rng = random.Random(f"{seed}:{config.name}:submit")
        style = config.receipt
        #: True when a receipt of this carrier may be lost or sent twice (the receipt style's ``lost`` or
        #: ``duplicated`` chance, or a number rule's ``receipt``): False spares every receipt
        #: :meth:`receipt_fate`.
        self.receipt_fates: bool = bool(style.lost or style.duplicated or any(r.receipt for r in config.rules))

    def __repr__(self) -> str:
        return f"Carrier({self.name!r})"

    def rule_for(self, e164: str) -> NumberRule | None:
        """The number rule for ``e164`` (exact number, else longest prefix), or None."""
        return self.handsets.rule_for(e164)

    def submit_rule(self, e164: str) -> SubmitRule | None:
        """How submit_sm to ``e164`` must be answered, or None for normally (accept at once).

        While the carrier is down with an ``outage.submit_status``, that refuses every submit.  Otherwise a
        rule's ``submit`` wins; otherwise, when the carrier's ``opt_out.submit_status`` is set and the
        number has opted out, submit_sm is refused with that status; with a ``submit_latency``, the answer comes
        after a delay drawn from it (real seconds).
        """
        if self.down and self.outage_status is not None:
            return SubmitRule(status=self.outage_status)
        handsets = self.handsets
        latency = self._submit_latency
        if not handsets.has_rules and self._opt_out_status is None and latency is None:
            return None
        rule = handsets.rule_for(e164)
        if rule is not None and rule.submit is not None:
            return rule.submit
        delay = 0.0 if latency is None else max(0.0, latency.sample(self._submit_rng))
        status = self._opt_out_status
        if status is not None and self.handsets.opted_out(e164):
            return SubmitRule(status=status, delay=delay)
        return SubmitRule(status=0, delay=delay) if delay > 0.0 else None

    def accepts_plainly(self, e164: str) -> bool:
        """True when :meth:`submit_rule` answers None for ``e164`` now and always will: no rule gives it a
        ``submit`` answer and no opt-out submit status could refuse it (rules never change after start)."""
        if (self._opt_out_status is not None or self._submit_latency is not None or self.queue_limit is not None
                or self.outage_status is not None):  # (the carrier may go down at any time)
            return False
        rule = self.handsets.rule_for(e164)
        return rule is None or rule.submit is None

    def receipt_fate(self, e164: str, rng: Any) -> str:
        """What becomes of one receipt of a message to ``e164``: "lost" (never sent), "duplicated" (sent twice)
        or "sent".  A number with a rule is deterministic: its rule's ``receipt``, else "sent" (no draw); any other
        number one ``rng.random()`` against the receipt style's chances: below ``lost`` lost, below ``lost +
        duplicated`` duplicated.
        No draw either when both chances are 0, so a carrier without them replays a seeded world as before."""
        handsets = self.handsets
        if handsets.has_rules:
            rule = handsets.rule_for(e164)
            if rule is not None:
                # A number with a rule is deterministic, its receipts too: sent, unless the rule says otherwise
                # (tester 129: with the carrier's chances on, 447700900123 lost its receipt).
                return rule.receipt or "sent"
        style = self.receipt
        if not style.lost and not style.duplicated:
            return "sent"
        draw = rng.random()
        if draw < style.lost:
            return "lost"
        if draw < style.lost + style.duplicated:
            return "duplicated"
        return "sent"

    def draw_outcome(self, rng: Any) -> OutcomeSpec:
        """One outcome from the weighted mix (one ``rng.random()`` call)."""
        if len(self._mix) == 1:
            return self._mix[0]
        i = bisect.bisect_right(self._cumulative, rng.random() * self._total)
        return self._mix[min(i, len(self._mix) - 1)]

    def attempt(self, e164: str, now: float, rng: Any) -> AttemptOutcome:
        """Try to deliver to ``e164`` at ``now`` (simulation seconds); see the module docstring for the order.

        The outcome is decided here, at the attempt's start, and counted by its kind (:meth:`counters`); the
        engine applies it to the message ``latency`` seconds later.

        Args:
            e164: the destination in E.164 digits without "+".
            now: the attempt time, seconds.
            rng: a ``random.Random`` (seeded in tests) for latency and outcome draws.

        Returns:
            An :class:`AttemptOutcome`; never raises for any number.
        """
        sole = self._sole
        if sole is not None and self.handsets.is_plain(e164):
            if rng.__class__ is not KeyedDraws:  # (keyed draws need no place kept in a shared stream)
                rng.random()  # the latency draw of the general path (_finish), even for a fixed latency
            self._sole_count += 1
            return sole
        outcome = self._decide(e164, now, rng)
        try:
            self._counts[outcome.kind] += 1
        except KeyError:  # (a kind outside OUTCOME_KINDS: an outcome built in code, which the config refuses)
            self._counts[outcome.kind] = 1
        return outcome

    def counters(self) -> dict[str, int]:
        """The carrier's counters since it was built (server start), a new dict: ``attempts`` (delivery
        attempts decided by :meth:`attempt`), then one key per outcome kind, each the number of those attempts
        that came to it: ``delivered``, ``absent`` (handset unreachable: the message waits for its alert),
        ``temporary`` (retried on the retry schedule), ``undeliverable``, ``rejected`` (permanent); they add
        up to ``attempts``.  An outcome is counted when the attempt starts, while the message learns it after the
        carrier's latency; an attempt a transaction-mode message stopped waiting for is counted all the same."""
        counts = dict(self._counts)
        sole = self._sole
        if sole is not None:
            counts[sole.kind] = counts.get(sole.kind, 0) + self._sole_count
        return {"attempts": sum(counts.values()), **counts}

    def _decide(self, e164: str, now: float, rng: Any) -> AttemptOutcome:
        """:meth:`attempt` past its common case (no rule, opt-out or override, every handset online, one
        constant outcome), uncounted."""
        handsets = self.handsets
        rule = handsets.rule_for(e164)
        if rule is not None:
            fixed = rule.outcome
            if fixed is not None and fixed.kind != "absent":
                return self._finish(fixed, rule, now, rng)
            if handsets.opted_out(e164):
                return self._finish(self.config.opt_out.outcome, rule, now, rng)
            if fixed is not None and rule.offline is None:
                # An absent-kind outcome with no spell length: the handset never comes back.
                return self._absent(fixed, rule, None, rng)
            reachable, online_at = handsets.page(e164, now)
            if not reachable:
                return self._absent(fixed or _ABSENT, rule, online_at, rng)
            dist = rule.latency or self.config.latency
            if dist.kind == "fixed":  # the same outcome every time: one object per distribution
                rng.random()  # the draw dist.sample() makes, even for a fixed latency
                cached = self._delivered_fixed.get(id(dist))
                if cached is None or cached[0] is not dist:
                    cached = self._delivered_fixed[id(dist)] = (dist, AttemptOutcome(
                        kind="delivered", latency=dist.quantile(0.5), cause="delivered"))
                return cached[1]
            return AttemptOutcome(kind="delivered", latency=dist.sample(rng), cause="delivered")
        if handsets.opted_out(e164):
            return self._finish(self.config.opt_out.outcome, None, now, rng)
        reachable, online_at = handsets.page(e164, now)
        if not reachable:
            return self._absent(_ABSENT, None, online_at, rng)
        return self._finish(self.draw_outcome(rng), None, now, rng)

    def _absent(
        self, spec: OutcomeSpec, rule: NumberRule | None, online_at: float | None, rng: Any
    ) -> AttemptOutcome:
        dist = rule.latency if rule is not None and rule.latency is not None else self.config.failure_latency
        return AttemptOutcome(
            kind="absent", latency=dist.sample(rng), err=spec.err, network_error_code=spec.network_error_code,
            online_at=online_at, cause=spec.cause,
        )

    def _finish(self, spec: OutcomeSpec, rule: NumberRule | None, now: float, rng: Any) -> AttemptOutcome:
        if rule is None:
            constant = self._constant.get(id(spec))
            if constant is not None and constant[0] is spec:
                rng.random()  # the draw dist.sample() makes, even for a fixed latency
                return constant[1]
        if rule is not None and rule.latency is not None:
            dist = rule.latency
        elif spec.kind == "delivered":
            dist = self.config.latency
        else:
            dist = self.config.failure_latency
        latency = dist.sample(rng)
        online_at = None
        if spec.kind == "absent":
            # Drawn from the mix (e.g. memory full): back after one offline spell of this carrier's handsets.
            back = self.config.handsets.offline_period.sample(rng)
            online_at = now + back if math.isfinite(back) else None
        return AttemptOutcome(
            kind=spec.kind, latency=latency, err=spec.err, network_error_code=spec.network_error_code,
            online_at=online_at, cause=spec.cause,
        )
