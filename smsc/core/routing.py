"""Routes: which carrier serves a destination number, and which ESME receives MO sent to a number.

MT routing is a longest-prefix match on the destination normalised to E.164 (see
:func:`smsc.core.numbers.normalise`): carrier prefixes and the topology's extra routes form one table, the
empty prefix (written ``"*"`` in YAML) being the catch-all.  MO routing maps the number a handset wrote to
(a short code such as ``88123`` or a long number) to the system_id whose receiver binds get the deliver_sm.

:func:`build_world` turns a :class:`~smsc.config.Config` into the runtime objects: one
:class:`~smsc.core.carrier.Carrier` with its :class:`~smsc.core.handsets.HandsetPool` per configured
carrier, behind a :class:`Router`.
"""

from __future__ import annotations

import random
from typing import Iterable

from smsc.config import Config, Topology
from smsc.core.carrier import Carrier
from smsc.core.handsets import HandsetPool
from smsc.core.numbers import PrefixTable, is_digits, normalise
from smsc.smpp.constants import Npi, Ton

__all__ = ["Router", "build_world"]


class Router:
    """Longest-prefix routing of MT by destination, and MO routing by the number a handset wrote to.

    Args:
        topology: the validated topology (carrier prefixes, routes, MO routes, country code).
        carriers: the runtime carriers by name; every name the topology uses must be present.

    Raises:
        KeyError: a route names a carrier missing from ``carriers``.
        ValueError: the same prefix is routed twice (a validated topology never does this).

    Attributes:
        carriers: the runtime carriers by name.
        topology: the topology it was built from.
    """

    def __init__(self, topology: Topology, carriers: dict[str, Carrier]) -> None:
        self.topology = topology
        self.carriers: dict[str, Carrier] = carriers
        self._table: PrefixTable[Carrier] = PrefixTable()
        for carrier_config in topology.carriers:
            carrier = carriers[carrier_config.name]
            for prefix in carrier_config.prefixes:
                self._table.add(prefix, carrier)
        for route in topology.routes:
            self._table.add(route.prefix, carriers[route.carrier])
        self._mo: PrefixTable[str] = PrefixTable((r.prefix, r.system_id) for r in topology.mo_routes if not r.exact)
        #: MO routes written as a whole number (``number:``): that number only, before any prefix.
        self._mo_numbers: dict[str, str] = {r.prefix: r.system_id for r in topology.mo_routes if r.exact}

    def normalise(self, ton: int, npi: int, addr: str) -> str:
        """``addr`` in routing form, using the topology's country code and national prefix."""
        return normalise(
            ton, npi, addr, country_code=self.topology.country_code,
            national_prefix=self.topology.national_prefix,
        )

    def route(self, e164: str) -> Carrier | None:
        """The carrier serving ``e164`` (E.164 digits without "+"), or None when no route matches.

        Non-numeric addresses (alphanumeric, empty) have no route, even with a catch-all.  Costs one dict
        lookup per distinct prefix length.
        """
        if not is_digits(e164):
            return None
        return self._table.lookup(e164)

    def mo_target(self, destination: str) -> str | None:
        """The system_id receiving MO messages sent to ``destination``, or None.

        ``destination`` is the number the handset wrote to: a short code (``"88123"``), an E.164 number with
        or without "+", or a national number (normalised with the topology's country code first).
        """
        number = self.normalise(Ton.UNKNOWN, Npi.ISDN, destination)
        if not is_digits(number):
            return None
        exact = self._mo_numbers.get(number)
        return exact if exact is not None else self._mo.lookup(number)

    def carrier(self, name: str) -> Carrier | None:
        """The carrier called ``name``, or None."""
        return self.carriers.get(name)

    def prefixes(self) -> Iterable[tuple[str, Carrier]]:
        """Every ``(prefix, carrier)`` of the MT routing table ("" is the catch-all)."""
        return self._table.items()


def build_world(config: Config, rng: random.Random) -> Router:
    """The runtime world of ``config``: carriers with their handset pools, behind a :class:`Router`.

    Handset online periods depend only on the world seed: ``config.simulation.seed`` when set, else 64 bits
    drawn from ``rng`` (so a seeded ``rng`` also gives a reproducible world).
    """
    seed = config.simulation.seed
    if seed is None:
        seed = rng.getrandbits(64)
    carriers: dict[str, Carrier] = {}
    for carrier_config in config.topology.carriers:
        pool = HandsetPool(carrier_config.handsets, carrier_config.rules, seed=seed, name=carrier_config.name)
        carriers[carrier_config.name] = Carrier(
            carrier_config, pool, retry_schedule=config.simulation.retry_schedule, seed=seed,
        )
    return Router(config.topology, carriers)
