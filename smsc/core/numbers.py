"""Telephone numbers: E.164 normalisation of SMPP addresses and a longest-prefix lookup table.

An ESME writes a destination as a TON/NPI/address triple (SMPP 3.4 sections 5.2.5 to 5.2.8) in whatever
form its authors preferred: ``1/1 447700900123``, ``1/1 +447700900123``, ``2/1 07700900123``,
``0/1 0044 7700 900123``.  Routing, number rules and handset state all key on one form: the E.164 digits
without "+" (``447700900123``).  Alphanumeric senders (TON 5) and short codes are not E.164 and pass
through unchanged.

:class:`PrefixTable` answers "which entry has the longest prefix of this number" in O(number length) dict
lookups; the router, the MO routes and the per-carrier number rules all use it.
"""

from __future__ import annotations

from typing import Generic, Iterable, Iterator, TypeVar

from smsc.smpp.constants import Ton

__all__ = ["normalise", "is_valid_msisdn", "is_digits", "PrefixTable", "SHORT_CODE_MAX_DIGITS"]

#: Digit strings this long or shorter are short codes (UK 5 digits, US 5 or 6) and are never rewritten.
SHORT_CODE_MAX_DIGITS = 6

#: E.164 numbers have at most 15 digits (ITU-T E.164 section 6.1).
E164_MAX_DIGITS = 15

#: Shortest MSISDN accepted by :func:`is_valid_msisdn` (small numbering plans: country code + 4 digits).
E164_MIN_DIGITS = 7

#: Characters people put inside numbers for readability; removed before a number is judged numeric.
_SEPARATORS = str.maketrans("", "", " -.()/\t")

_ASCII_DIGITS = frozenset("0123456789")

T = TypeVar("T")


def is_digits(s: str) -> bool:
    """True when ``s`` is non-empty and made only of the ASCII digits 0-9 (``str.isdigit`` accepts more)."""
    return bool(s) and _ASCII_DIGITS.issuperset(s)


def normalise(ton: int, npi: int, addr: str, *, country_code: str, national_prefix: str) -> str:
    """The routing form of an SMPP address: E.164 digits without "+", or the address unchanged.

    Rules, by ``ton`` (SMPP 3.4 section 5.2.5); ``npi`` is accepted for symmetry and not used, because
    ESMEs set it inconsistently and real SMSCs route on the digits:

    * 5 (alphanumeric): returned unchanged (a sender name such as ``"MyBank"``).
    * 6 (abbreviated) and any digit string of at most :data:`SHORT_CODE_MAX_DIGITS` digits: a short code,
      returned as its digits (``"88123"``).
    * 1 (international): a leading "+" or "00" is dropped (``"+447700900123"`` -> ``"447700900123"``).
    * 2 (national): the national (trunk) prefix is dropped and ``country_code`` put in front
      (``"07700900123"`` -> ``"447700900123"``); a leading "+" or "00" makes it international after all.
    * 0, 3, 4 and reserved values (unknown): guessed from the digits: "+" or "00" -> international,
      starting with ``national_prefix`` -> national, otherwise already international (E.164 without "+").

    Spaces, dashes, dots, slashes and parentheses inside numbers are ignored.  An address that is not a
    number after that (letters, empty) is returned unchanged.  Never raises.

    Args:
        ton: type of number, 0-255.
        npi: numbering plan indicator, 0-255 (unused, see above).
        addr: the address as the ESME wrote it (at most 20 characters on the wire, not checked here).
        country_code: E.164 country code of the simulated home network, digits (``"44"``).
        national_prefix: trunk prefix dialled before national numbers, digits or "" (``"0"``; ``"1"`` in
            the NANP, where it equals the country code).

    Returns:
        The normalised address (str).
    """
    if ton == Ton.ALPHANUMERIC:
        return addr
    compact = addr.translate(_SEPARATORS)
    plus = compact.startswith("+")
    digits = compact[1:] if plus else compact
    if not is_digits(digits):
        return addr
    if ton == Ton.ABBREVIATED or (not plus and len(digits) <= SHORT_CODE_MAX_DIGITS):
        return digits
    if plus:
        return digits
    if digits.startswith("00"):
        # The international access code: no country code starts with 0, so this is never national.
        return digits[2:]
    if ton == Ton.INTERNATIONAL:
        return digits
    if ton == Ton.NATIONAL:
        if national_prefix and digits.startswith(national_prefix):
            digits = digits[len(national_prefix):]
        return country_code + digits
    if national_prefix and digits.startswith(national_prefix):
        return country_code + digits[len(national_prefix):]
    return digits


def is_valid_msisdn(s: str) -> bool:
    """True when ``s`` looks like a mobile number in E.164 form without "+".

    That is 7 to 15 ASCII digits (ITU-T E.164 allows at most 15) not starting with 0 (no country code
    starts with 0).  Short codes and alphanumeric addresses are not MSISDNs.
    """
    return (
        E164_MIN_DIGITS <= len(s) <= E164_MAX_DIGITS
        and is_digits(s)
        and s[0] != "0"
    )


class PrefixTable(Generic[T]):
    """A map from digit prefixes to values, answering the longest prefix of a key.

    The empty prefix ``""`` is a catch-all matching every key.  :meth:`lookup` costs one dict lookup per
    distinct prefix length present (at most the key's length), never a scan over the entries.

    Raises:
        ValueError: from :meth:`add` when the prefix is already present.
    """

    __slots__ = ("_entries", "_lengths")

    def __init__(self, items: Iterable[tuple[str, T]] = ()) -> None:
        self._entries: dict[str, T] = {}
        self._lengths: list[int] = []
        for prefix, value in items:
            self.add(prefix, value)

    def add(self, prefix: str, value: T) -> None:
        """Add ``prefix`` -> ``value``; ValueError if the prefix is already present."""
        if prefix in self._entries:
            raise ValueError(f"prefix {prefix!r} is already present")
        self._entries[prefix] = value
        if len(prefix) not in self._lengths:
            self._lengths.append(len(prefix))
            self._lengths.sort(reverse=True)

    def lookup(self, key: str) -> T | None:
        """The value of the longest prefix of ``key``, or None when no prefix matches."""
        entries = self._entries
        n = len(key)
        for length in self._lengths:
            if length <= n:
                value = entries.get(key[:length])
                if value is not None:
                    return value
        return None

    def lookup_item(self, key: str) -> tuple[str, T] | None:
        """``(prefix, value)`` of the longest prefix of ``key``, or None."""
        entries = self._entries
        n = len(key)
        for length in self._lengths:
            if length <= n:
                prefix = key[:length]
                if prefix in entries:
                    return prefix, entries[prefix]
        return None

    def get(self, prefix: str) -> T | None:
        """The value stored for exactly ``prefix``, or None."""
        return self._entries.get(prefix)

    def __contains__(self, prefix: object) -> bool:
        return prefix in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def items(self) -> Iterable[tuple[str, T]]:
        """Every ``(prefix, value)`` pair in insertion order."""
        return self._entries.items()
