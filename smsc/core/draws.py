"""Chance keyed to the message, so that a seeded world gives a message the same fate however traffic interleaves.

A single ``random.Random`` stream hands out its numbers in event order: when two ESMEs' submits, a retry timer
or a handset's alert come in another order (another pace, another machine), every later message draws other
numbers and meets another outcome.  With ``simulation.seed`` set, :class:`KeyedDraws` instead derives each
delivery attempt's numbers from the seed, the message_id and the attempt's index (0 for the first attempt),
an auto-reply's from the seed and the MT's message_id, and a receipt's fate (lost, sent twice: a carrier's receipt
style) from the seed, the message_id and which receipt it is: the n-th message a fresh server accepts always
gets the same latency and outcome draws on its k-th attempt, whatever happened to the others.

The numbers: BLAKE2b (RFC 7693) keyed with the seed gives a 64-bit start for the (message_id, purpose) pair;
SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014) steps from
it, one 64-bit output per draw, of which the top 53 bits make a float in [0, 1) as ``random.random()`` does.
Nothing is computed until the first draw, so an attempt that draws nothing (the common case of a carrier
whose handsets are always online and whose outcome is fixed) costs a call and three attribute stores.
"""

from __future__ import annotations

import hashlib

__all__ = ["KeyedDraws"]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15  # SplitMix64's increment (2**64 / golden ratio, odd)
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_UNIT = 2.0 ** -53


class KeyedDraws:
    """The ``random()`` of one message's attempt or auto-reply, a drop-in for ``random.Random`` where only
    ``random()`` is called (carriers, latency distributions, handsets' auto-replies).

    One object serves a whole world: :meth:`attempt` / :meth:`reply` point it at a message before each use, and
    the draws of that use follow.  It is not safe to hold across another :meth:`attempt` call (the engine
    calls the carrier synchronously and keeps no reference).

    Args:
        seed: ``simulation.seed`` (any integer; its decimal text keys the hash, so negative and huge seeds work).
    """

    __slots__ = ("_index", "_key", "_message_id", "_state")

    def __init__(self, seed: int) -> None:
        self._key = hashlib.blake2b(str(seed).encode(), digest_size=32, person=b"smsc.draws").digest()
        #: What the next draws are for: (message_id, attempt index), index -1 for an auto-reply, -2 for a final
        #: receipt's fate, -3 for an intermediate notification's.
        self._message_id = ""
        self._index = 0
        #: The SplitMix64 state; -1 until the first draw since the last :meth:`attempt` / :meth:`reply`.
        self._state = -1

    def attempt(self, message_id: str, index: int) -> KeyedDraws:
        """Point at the delivery attempt ``index`` (0-based: how many attempts the message made before) of
        ``message_id``; returns ``self``."""
        self._message_id = message_id
        self._index = index
        self._state = -1
        return self

    def reply(self, message_id: str) -> KeyedDraws:
        """Point at the auto-reply chance and delay of the handset answering the MT ``message_id``; returns
        ``self``."""
        self._message_id = message_id
        self._index = -1
        self._state = -1
        return self

    def receipt(self, message_id: str, intermediate: bool) -> KeyedDraws:
        """Point at the chance that the final receipt (or, ``intermediate``, the intermediate notification) of
        ``message_id`` is lost or sent twice; returns ``self``."""
        self._message_id = message_id
        self._index = -3 if intermediate else -2
        self._state = -1
        return self

    def random(self) -> float:
        """The next number in [0, 1) for the current label (53 random bits, as ``random.Random.random``)."""
        state = self._state
        if state < 0:
            index = self._index
            if index >= 0:
                label = f"a\x00{self._message_id}\x00{index}"
            elif index == -1:
                label = f"r\x00{self._message_id}"
            else:  # (a receipt's fate: d for the final receipt, i for the intermediate notification)
                label = f"{'d' if index == -2 else 'i'}\x00{self._message_id}"
            state = int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8, key=self._key).digest(), "little")
        state = (state + _GOLDEN) & _MASK
        self._state = state
        z = ((state ^ (state >> 30)) * _MIX1) & _MASK
        z = ((z ^ (z >> 27)) * _MIX2) & _MASK
        return ((z ^ (z >> 31)) >> 11) * _UNIT
