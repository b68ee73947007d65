"""The handsets of one carrier: reachable or not, opted out or not, and what they answer.

Online state of an ordinary handset is a pure function of (seed, carrier, number, time), so it costs no
memory, is the same on every run with the same seed, and is cheap to ask about any instant:

    Time is cut, per number, into cycles of length ``L``, shifted by a per-number phase.  Each cycle holds
    exactly one offline spell whose length is drawn from the carrier's ``offline_period`` distribution
    (clamped to ``L``) and whose position inside the cycle is uniform.  ``L`` is chosen so that the spells
    take ``1 - online_probability`` of the time, clamping included (:func:`cycle_length`), so the long-run
    share of time online, and of attempts that find the handset on, is ``online_probability``; with long
    spells and a low probability, spells longer than ``L`` are cut to ``L``.  :meth:`HandsetPool.next_online`
    is the end of the current spell.

The random numbers come from BLAKE2b of the number and cycle index, keyed by the seed and carrier name, so
no per-number generator state is kept.  Memory grows only with numbers the control API or a rule touched:
online overrides (with when each was switched on), opt-out changes, and the offline spells of
``offline: <duration>`` rules.

Numbers matched by a :class:`~smsc.config.NumberRule` are deterministic instead: online unless the rule
says ``offline``.  ``offline: always`` never comes back; ``offline: D`` switches the handset off when an
attempt (:meth:`HandsetPool.page`) first finds it, for D seconds, and a new spell starts at the first
attempt at least D after the previous spell ended.

A handset that sends an MO is attached to the network at that moment (it needed a radio connection to send):
:meth:`HandsetPool.mo_sent` keeps an ordinary handset (the random model's) online for the carrier's
``online_after_mo`` seconds from then, even inside an offline spell, so that the reply an ESME sends to a
keyword is delivered as a real network would deliver it.  Numbers governed by a rule or switched by the
control API keep what those say.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b
from itertools import accumulate
from typing import Any, Callable, Sequence

from smsc.config import AutoReply, Distribution, HandsetConfig, NumberRule
from smsc.core.numbers import PrefixTable

__all__ = ["HandsetPool", "MoReply", "cycle_length"]

_TWO_53 = float(1 << 53)
_WORD_RX = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*")

_NOT_CACHED = object()
#: Numbers whose rule lookup is remembered before the memo is emptied.
_RULE_CACHE_MAX = 65_536

#: Upper bound on the spells :meth:`HandsetPool.next_online` walks through before answering None.
_MAX_SPELLS = 10000

#: Handsets kept as attached by an MO before the ended attachments are forgotten (checked as one is added).
_ATTACHED_MAX = 65_536

#: Quantiles of an offline_period distribution that :func:`cycle_length` averages over (midpoint rule).
_CYCLE_QUANTILES = 4096


@lru_cache(maxsize=64)
def cycle_length(offline: Distribution, offline_share: float) -> float:
    """The cycle ``L`` (seconds) in which one offline spell of length ``min(X, L)``, ``X`` drawn from ``offline``,
    takes ``offline_share`` of the time on average: ``E[min(X, L)] / L = offline_share`` (0 < share < 1).

    ``L = mean / share`` holds only when no spell is longer than ``L``; with long spells that cycle left the
    handsets online more than asked (tester 76: the bundled US carrier's 0.8 gave 14 % of first attempts absent,
    not 20 %; 0.3 with spells of hours gave 28 %, not 70 %).  ``E[min(X, L)] / L`` falls steadily from 1 (``L``
    near 0) as ``L`` grows, so bisection finds it, over the distribution's quantiles (midpoint rule, cap
    included).

    Raises:
        ValueError: ``offline_share`` is not between 0 and 1, or the distribution's spells have no length.
    """
    if not 0.0 < offline_share < 1.0:
        raise ValueError(f"offline_share must be between 0 and 1, got {offline_share!r}")
    n = _CYCLE_QUANTILES
    q = sorted(offline.quantile((i + 0.5) / n) for i in range(n))
    sums = list(accumulate(q, initial=0.0))
    if sums[n] <= 0.0:
        raise ValueError("offline spells of no length take no share of the time")

    def share(cycle: float) -> float:
        k = bisect_left(q, cycle)  # spells shorter than the cycle count whole, the others as the cycle
        return (sums[k] + cycle * (n - k)) / (n * cycle)

    hi = sums[n] / n / offline_share  # (E[min(X, L)] <= the mean: the share there is at most the one asked)
    lo = hi
    while share(lo) < offline_share:
        lo /= 2.0
    for _ in range(100):
        mid = (lo + hi) / 2.0
        if share(mid) > offline_share:
            lo = mid
        else:
            hi = mid
        if hi - lo <= hi * 1e-12:
            break
    return hi


@dataclass(frozen=True, slots=True)
class MoReply:
    """An MO message a handset sends back ``delay`` seconds after it received an MT message."""

    text: str
    delay: float


class HandsetPool:
    """Every handset of one carrier: online state, opt-out state and auto-replies.

    Args:
        config: the carrier's handset model (online probability, offline spell lengths, keywords).
        rules: the carrier's number rules; exact numbers win over prefixes, longer prefixes over shorter.
        seed: the world seed; with ``name`` it fixes every handset's online periods.
        name: the carrier name, so that carriers sharing a seed still differ.

    All times are simulation seconds (the Clock's epoch seconds).
    """

    def __init__(
        self, config: HandsetConfig = HandsetConfig(), rules: Sequence[NumberRule] = (), *, seed: int = 0,
        name: str = "",
    ) -> None:
        self.config = config
        self._exact: dict[str, NumberRule] = {}
        self._prefixes: PrefixTable[NumberRule] = PrefixTable()
        for rule in rules:
            for number in rule.numbers:
                self._exact.setdefault(number, rule)
            for prefix in rule.prefixes:
                if prefix not in self._prefixes:
                    self._prefixes.add(prefix, rule)
        #: False when no number rule exists: :meth:`rule_for` answers None without a lookup.
        self.has_rules = bool(self._exact) or len(self._prefixes) > 0
        #: False when no handset of this carrier can auto-reply (no carrier-wide or rule auto_reply), so a
        #: delivered MT needs no look at its text.
        self.may_auto_reply = config.auto_reply is not None or any(r.auto_reply is not None for r in rules)
        #: number -> its rule or None (rules never change after start; an attempt asks three times).
        self._rule_cache: dict[str, NumberRule | None] = {}
        self._key = blake2b(f"{seed}/{name}".encode(), digest_size=32).digest()
        self._overrides: dict[str, bool] = {}
        #: number -> when the control API last switched it on (simulation seconds), until it switches it off.
        self._switched_on: dict[str, float] = {}
        self._opt_state: dict[str, bool] = {}
        #: Called with (e164, opted_out) when a number's opt-out state changes (the app persists it).
        self.on_opt_change: Callable[[str, bool], None] | None = None
        #: number -> when its rule's offline spell started (``offline: <duration>`` rules), simulation seconds.
        self._spells: dict[str, float] = {}
        #: Called with (e164, start) when a rule spell starts, (e164, None) when the control API ends one (the
        #: app persists them: a restart within a spell must not start it again).
        self.on_spell_change: Callable[[str, float | None], None] | None = None
        #: number -> (when an MO brought it back, or -inf when it was online already; until when it stays
        #: attached), simulation seconds (:meth:`mo_sent`).
        self._attached: dict[str, tuple[float, float]] = {}
        self._online_after_mo = config.online_after_mo
        self._opt_out_words = frozenset(config.opt_out_keywords)
        self._opt_in_words = frozenset(config.opt_in_keywords)
        self._help_words = frozenset(config.help_keywords)
        self._offline = config.offline_period
        # The share of the time offline; an online_probability below 1.1e-16 leaves 1.0 exactly (tester 156:
        # 1e-17 passed the config's 0..1 and then failed cycle_length): it is always offline, as 0 is.
        offline_share = 1.0 - config.online_probability
        mean_off = self._offline.expected() if 0.0 < offline_share < 1.0 else 0.0
        #: Cycle length in seconds, or None when every handset is always online (or always offline).
        self._cycle: float | None = (cycle_length(self._offline, offline_share)
                                     if 0.0 < offline_share < 1.0 and mean_off > 0 else None)
        self._always_online = offline_share < 1.0

    @property
    def always_online(self) -> bool:
        """True when the random model keeps every handset online all the time (online_probability 1, or no
        offline spell to take); control-API overrides and rules may still say otherwise for some numbers."""
        return self._cycle is None and self._always_online

    def is_plain(self, e164: str) -> bool:
        """True when nothing but the random model speaks for ``e164``: no control-API override and no opt-out
        state of its own (rules are checked separately, with :attr:`has_rules`)."""
        return e164 not in self._overrides and e164 not in self._opt_state

    # ------------------------------------------------------------------------------------------ rules

    def rule_for(self, e164: str) -> NumberRule | None:
        """The number rule governing ``e164``: an exact number first, else the longest prefix, else None."""
        if not self.has_rules:
            return None
        rule = self._rule_cache.get(e164, _NOT_CACHED)
        if rule is _NOT_CACHED:
            rule = self._exact.get(e164)
            if rule is None and len(self._prefixes):
                rule = self._prefixes.lookup(e164)
            if len(self._rule_cache) >= _RULE_CACHE_MAX:
                self._rule_cache.clear()
            self._rule_cache[e164] = rule
        return rule  # type: ignore[return-value]

    # ------------------------------------------------------------------------------------ online state

    def _uniforms(self, e164: str, k: int) -> tuple[float, float]:
        h = blake2b(f"{e164}/{k}".encode(), digest_size=16, key=self._key).digest()
        a = int.from_bytes(h[:8], "big") >> 11
        b = int.from_bytes(h[8:], "big") >> 11
        return (a + 0.5) / _TWO_53, (b + 0.5) / _TWO_53

    def _phase(self, e164: str, cycle: float) -> float:
        return self._uniforms(e164, -1)[0] * cycle

    def _spell(self, e164: str, now: float, cycle: float, phase: float) -> tuple[float, float]:
        """(start, end) of the offline spell in the cycle containing ``now``."""
        k = math.floor((now + phase) / cycle)
        u_len, u_pos = self._uniforms(e164, k)
        length = min(self._offline.quantile(u_len), cycle)
        start = k * cycle - phase + u_pos * (cycle - length)
        return start, start + length

    def _model_online(self, e164: str, now: float) -> bool:
        cycle = self._cycle
        if cycle is None:
            return self._always_online
        start, end = self._spell(e164, now, cycle, self._phase(e164, cycle))
        return not start <= now < end

    def _model_next_online(self, e164: str, now: float) -> float | None:
        cycle = self._cycle
        if cycle is None:
            return now if self._always_online else None
        phase = self._phase(e164, cycle)
        t = now
        for _ in range(_MAX_SPELLS):
            start, end = self._spell(e164, t, cycle, phase)
            if not start <= t < end:
                return t
            t = end
        return None

    def _rule_online(self, e164: str, rule: NumberRule, now: float) -> bool:
        if rule.offline is None:
            return True
        if rule.offline == math.inf:
            return False
        start = self._spells.get(e164)
        return start is None or now >= start + rule.offline  # (see restore_spell: a start after now runs)

    def is_online(self, e164: str, now: float) -> bool:
        """True when the handset of ``e164`` is reachable at time ``now`` (seconds).

        Control-API overrides win, then number rules, then the random model.  A pure query: it never
        starts a rule's offline spell (only :meth:`page` does).
        """
        override = self._overrides.get(e164)
        if override is not None:
            return override
        rule = self.rule_for(e164)
        if rule is not None:
            return self._rule_online(e164, rule, now)
        return self._model_online(e164, now) or self._is_attached(e164, now)

    def next_online(self, e164: str, now: float) -> float | None:
        """The first time >= ``now`` at which the handset is online, or None when it will not come back
        by itself (always off, forced off by the control API, or no online moment within 10,000 spells).

        Consistent with :meth:`is_online`: returns ``now`` exactly when ``is_online(e164, now)``.
        """
        override = self._overrides.get(e164)
        if override is not None:
            return now if override else None
        return self.unforced_next_online(e164, now)

    def unforced_next_online(self, e164: str, now: float) -> float | None:
        """:meth:`next_online` as the number rule or the random model has it, a control-API switch left aside:
        when a timed switch off ends, the handset is back at the first such time after its end."""
        rule = self.rule_for(e164)
        if rule is not None:
            if rule.offline is None:
                return now
            if rule.offline == math.inf:
                return None
            start = self._spells.get(e164)
            if start is not None and now < start + rule.offline:
                return start + rule.offline
            return now
        if self._is_attached(e164, now):
            return now
        return self._model_next_online(e164, now)

    def page(self, e164: str, now: float) -> tuple[bool, float | None]:
        """The network pages the handset for a delivery attempt at ``now``.

        Returns ``(reachable, online_at)``: ``(True, now)`` when reachable, else ``(False, t)`` with the time
        ``t`` it comes back (None = not by itself).  Unlike :meth:`is_online`, paging a number whose rule says
        ``offline: D`` starts a D-second spell when none ran in the last D seconds.
        """
        override = self._overrides.get(e164)
        if override is not None:
            return (True, now) if override else (False, None)
        rule = self.rule_for(e164)
        if rule is None:
            if self._model_online(e164, now) or self._is_attached(e164, now):
                return True, now
            return False, self._model_next_online(e164, now)
        if rule.offline is None:
            return True, now
        if rule.offline == math.inf:
            return False, None
        duration = rule.offline
        start = self._spells.get(e164)
        if start is not None and now < start + duration:
            return False, start + duration
        if start is None or now >= start + 2 * duration:
            self._spells[e164] = now
            if self.on_spell_change is not None:
                self.on_spell_change(e164, now)
            return False, now + duration
        return True, now

    def restore_spell(self, e164: str, start: float) -> None:
        """A rule spell of ``e164`` that started at ``start`` (simulation seconds) before a restart: it runs on
        from there (see :meth:`page`).  A start later than the clock counts as running until ``start`` plus the
        rule's duration: a scaled clock resumes from the simulation time saved every few seconds, which a
        ``kill -9`` may leave behind the spell's start (a tester saw the memory-full number delivered at once
        after such a restart at time_scale 60)."""
        self._spells[e164] = start

    def set_online(self, e164: str, online: bool, now: float) -> None:
        """Control API: force the handset of ``e164`` on or off from ``now`` until :meth:`clear_override`.

        Switching a handset on also ends a running rule spell.  The caller (the SMSC facade) is the one that
        alerts waiting messages, as the HLR's alertServiceCentre would.
        """
        self._overrides[e164] = online
        if online:
            if self._spells.pop(e164, None) is not None and self.on_spell_change is not None:
                self.on_spell_change(e164, None)
            self._switched_on[e164] = now
        else:
            self._switched_on.pop(e164, None)

    def mo_sent(self, e164: str, now: float) -> bool:
        """The handset of ``e164`` sent an MO at ``now`` (seconds): an ordinary handset (no rule, no control-API
        switch) stays online until ``now + online_after_mo``.  Returns True when that brings back a handset
        that was absent a moment before (the caller alerts what waits for it, as the HLR's alertServiceCentre
        would after the handset's network access)."""
        if self._online_after_mo <= 0 or e164 in self._overrides or self.rule_for(e164) is not None:
            return False
        back = not self.is_online(e164, now)
        attached = self._attached
        if len(attached) >= _ATTACHED_MAX and e164 not in attached:
            for number in [n for n, (_, until) in attached.items() if until <= now]:
                del attached[number]
        since, until = attached.get(e164, (-math.inf, now))
        attached[e164] = (now if back else since, max(until, now + self._online_after_mo))
        return back

    def _is_attached(self, e164: str, now: float) -> bool:
        entry = self._attached.get(e164)
        return entry is not None and now < entry[1]

    def switched_on_after(self, e164: str, when: float) -> bool:
        """True when the control API switched the handset of ``e164`` on after ``when`` (seconds) and has not
        switched it off since, or an MO it sent after ``when`` brought it back (:meth:`mo_sent`).  An attempt
        that paged the handset at ``when`` and found it absent was overtaken by that: the alert it gave found
        nothing waiting yet (see
        :meth:`AttemptMachine._on_outcome_due <smsc.core.attempts.AttemptMachine._on_outcome_due>`)."""
        switched = self._switched_on.get(e164)
        if switched is not None and switched > when:
            return True
        entry = self._attached.get(e164)
        return entry is not None and entry[0] > when

    def clear_override(self, e164: str) -> None:
        """Control API: hand ``e164`` back to its rule or the random model (and forget when the control API
        switched it on: :meth:`switched_on_after` speaks of the control API's switches only)."""
        self._overrides.pop(e164, None)
        self._switched_on.pop(e164, None)

    def overrides(self) -> dict[str, bool]:
        """A copy of the control-API overrides (number -> forced online state)."""
        return dict(self._overrides)

    # -------------------------------------------------------------------------------------- opt-out

    def opted_out(self, e164: str) -> bool:
        """True when the subscriber of ``e164`` has opted out (by MO keyword, control API or rule)."""
        state = self._opt_state.get(e164)
        if state is not None:
            return state
        rule = self.rule_for(e164)
        return rule is not None and rule.opted_out

    def opt_out(self, e164: str) -> None:
        """Mark ``e164`` as opted out: the carrier rejects further MT messages to it."""
        self._set_opt(e164, True)

    def opt_in(self, e164: str) -> None:
        """Clear the opt-out of ``e164`` (also one that a rule started with)."""
        self._set_opt(e164, False)

    def _set_opt(self, e164: str, opted_out: bool) -> None:
        changed = self._opt_state.get(e164) is not opted_out
        self._opt_state[e164] = opted_out
        if changed and self.on_opt_change is not None:
            self.on_opt_change(e164, opted_out)

    def keyword(self, text: str) -> str | None:
        """Classify an MO text: "opt_out", "opt_in", "help" or None.

        The whole text must be one keyword (case and surrounding spaces ignored; "STOP PLEASE" is no
        keyword), as the CTIA-style carriers and most aggregators match.  Case is folded one letter for one
        letter: a letter whose capital is another letter's ("ſtop", long s, reads STOP upper-cased) or several
        letters (the ligature "ﬆ") is not that keyword (tester 100).  Full stops, commas, exclamation and
        question marks after it are ignored ("Stop!" and "STOP." opt out, as a person types them: tester 170).
        """
        spaced = " ".join(text.split()).rstrip(".,!?").rstrip()
        word = spaced.upper()
        if word.lower() != spaced.lower():
            return None
        if word in self._opt_out_words:
            return "opt_out"
        if word in self._opt_in_words:
            return "opt_in"
        if word in self._help_words:
            return "help"
        return None

    def on_mo_text(self, e164: str, text: str, now: float) -> None:
        """A handset sent MO ``text``: STOP-like keywords opt ``e164`` out, START-like ones opt it back in.

        HELP changes nothing here (the ESME answers it).  See :meth:`keyword` for the matching rule.
        """
        kind = self.keyword(text)
        if kind == "opt_out":
            self.opt_out(e164)
        elif kind == "opt_in":
            self.opt_in(e164)

    # ----------------------------------------------------------------------------------- auto-reply

    def auto_reply_for(self, e164: str) -> AutoReply | None:
        """The auto-reply behaviour of ``e164``: its rule's, else the carrier-wide one, else None."""
        rule = self.rule_for(e164)
        if rule is not None and rule.auto_reply is not None:
            return rule.auto_reply
        return self.config.auto_reply

    def replies_to_mt(self, e164: str, text: str, now: float, rng: Any) -> list[MoReply]:
        """The MO messages the handset of ``e164`` sends after receiving MT ``text`` at ``now``.

        At most one reply: the answer of the first MT word that is one of the auto-reply ``keywords``, else
        the fixed ``text``, else the MT text itself when ``echo`` (an empty ``text``, as a binary MT gives, is
        not echoed).  Opted-out handsets never reply.  Draws from
        ``rng`` (a seeded ``random.Random``) for the answer probability and the delay.
        """
        behaviour = self.auto_reply_for(e164)
        if behaviour is None or self.opted_out(e164):
            return []
        if behaviour.probability < 1.0 and rng.random() >= behaviour.probability:
            return []
        reply: str | None = None
        if behaviour.keywords:
            answers = dict(behaviour.keywords)
            for word in _WORD_RX.findall(text.upper()):
                if word in answers:
                    reply = answers[word]
                    break
        if reply is None:
            reply = behaviour.text
        if reply is None and behaviour.echo and text:
            reply = text
        if reply is None:
            return []
        return [MoReply(text=reply, delay=behaviour.delay.sample(rng))]
