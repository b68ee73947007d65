"""Token bucket used for per-account submit rate limits and per-carrier capacity.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second of whatever clock the caller
passes in; taking a token when none is left is refused (the SMPP server then answers ESME_RTHROTTLED,
SMPP 3.4 section 5.1.3).
"""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` (default: one second's worth, at least 1) stored."""

    __slots__ = ("rate", "burst", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: float | None = None, *, now: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 tokens per second, got {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate)
        self._tokens = self.burst
        self._stamp = now

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def give_back(self, count: float) -> None:
        """Return ``count`` tokens taken for a request that was then refused (never above ``burst``)."""
        self._tokens = min(self.burst, self._tokens + count)

    def available(self, now: float) -> float:
        """Tokens there at time ``now`` (seconds), nothing taken."""
        self._refill(now)
        return self._tokens

    def take(self, now: float, count: float = 1.0) -> bool:
        """Take ``count`` tokens at time ``now`` (seconds); False (and nothing taken) if too few."""
        self._refill(now)
        if self._tokens >= count:
            self._tokens -= count
            return True
        return False

    def take_owing(self, now: float, count: float) -> bool:
        """Take ``count`` tokens at time ``now`` (seconds) when a whole one is there, owing the rest: the bucket
        may go below zero, and nothing more passes until it has refilled.  For a request that counts as
        ``count`` messages, perhaps more than ``burst`` (a submit_multi of 254 destinations): the average rate
        holds, and such a request is not refused for ever.  False (nothing taken) without a whole token."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= count
            return True
        return False

    def wait_time(self, now: float, count: float = 1.0) -> float:
        """Seconds from ``now`` until ``count`` tokens will be available (0.0 if they are now)."""
        self._refill(now)
        missing = count - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate
