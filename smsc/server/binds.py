"""Registry of live SMPP connections and the bound receivers of each system_id.

It is the core's :class:`~smsc.core.api.DeliveryGateway`: when deliveries wait for a system_id, the core
wakes the registry, which hands them out round-robin to that system_id's receiver and transceiver binds,
each up to the room left in its window.  Shutdown and metrics also walk this registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from smsc.server.protocol import SmppProtocol


class BindRegistry:
    """Live connections, and per system_id the ones that can receive deliver_sm."""

    def __init__(self) -> None:
        self.connections: set[SmppProtocol] = set()
        self._receivers: dict[str, list[SmppProtocol]] = {}
        self._cursor: dict[str, int] = {}
        self._waking: set[str] = set()

    def __iter__(self) -> Iterator[SmppProtocol]:
        return iter(list(self.connections))

    def __len__(self) -> int:
        return len(self.connections)

    def add_receiver(self, system_id: str, proto: SmppProtocol) -> None:
        """A receiver or transceiver bind of ``system_id`` is up."""
        self._receivers.setdefault(system_id, []).append(proto)

    def remove_receiver(self, system_id: str, proto: SmppProtocol) -> None:
        """That bind is gone."""
        lst = self._receivers.get(system_id)
        if lst and proto in lst:
            lst.remove(proto)
            if not lst:
                del self._receivers[system_id]

    def receivers(self, system_id: str) -> list[SmppProtocol]:
        """The receiver-capable binds of ``system_id`` (a copy)."""
        return list(self._receivers.get(system_id, ()))

    def bound_count(self, system_id: str | None = None) -> int:
        """Number of bound sessions, of one system_id or all."""
        return sum(
            1 for p in self.connections if p.session.is_bound and (system_id is None or p.session.system_id == system_id)
        )

    def wake(self, system_id: str) -> None:
        """Deliveries wait for ``system_id``: give them to its binds, round-robin, within their windows."""
        if system_id in self._waking:
            return  # re-entered from a delivery callback: the running loop below picks them up
        lst = self._receivers.get(system_id)
        if not lst:
            return
        self._waking.add(system_id)
        try:
            n = len(lst)
            start = self._cursor.get(system_id, 0) % n
            idle_rounds = 0
            i = start
            # Bounded: each pass either hands out a delivery or counts an idle bind; stop after a full
            # round in which no bind took anything.
            while idle_rounds < n and lst:
                n = len(lst)
                proto = lst[i % n]
                i += 1
                if proto.deliver_from_outbox(system_id, 1) == 0:
                    idle_rounds += 1
                else:
                    idle_rounds = 0
            self._cursor[system_id] = i
        finally:
            self._waking.discard(system_id)
