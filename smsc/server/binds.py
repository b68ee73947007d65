"""Registry of live SMPP connections and the bound receivers of each system_id.

It is the core's :class:`~smsc.core.api.DeliveryGateway`: when deliveries wait for a system_id, the core
wakes the registry; once per loop tick the registry hands them out to that system_id's receiver and
transceiver binds, each up to the room left in its window, starting with the next bind each time.  Shutdown and metrics also walk this registry.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Callable, Iterator

if TYPE_CHECKING:
    from smsc.server.protocol import SmppProtocol


class BindRegistry:
    """Live connections, and per system_id the ones that can receive deliver_sm."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        #: Called with a system_id whose deliveries may wait while it has no receiver bound (outbind hook: it
        #: looks whether any wait).
        self.on_no_receiver: Callable[[str], None] | None = None
        self._drain_scheduled = False
        self.connections: set[SmppProtocol] = set()
        self._receivers: dict[str, list[SmppProtocol]] = {}
        self._cursor: dict[str, int] = {}
        self._waking: set[str] = set()
        #: system_ids whose deliveries may still wait although no drain is due: a drain found every window
        #: full (or no receiver).  With :attr:`_waking` it is a superset of the system_ids with deliveries
        #: available, so a connection whose window opens asks the outbox only when one of them is its own
        #: (:meth:`may_have_waiting`), not on every read that carries a deliver_sm_resp.
        self._backlog: set[str] = set()
        #: True while a read is handled: :meth:`drain_now` runs before the loop does (``SmppServer.pump``),
        #: so :meth:`wake` schedules no drain of its own.
        self.pump_pending = False

    def __iter__(self) -> Iterator[SmppProtocol]:
        return iter(list(self.connections))

    def add_receiver(self, system_id: str, proto: SmppProtocol) -> None:
        """A receiver or transceiver bind of ``system_id`` is up."""
        self._receivers.setdefault(system_id, []).append(proto)

    def remove_receiver(self, system_id: str, proto: SmppProtocol) -> None:
        """That bind is gone; when it was the last of ``system_id``, :attr:`on_no_receiver` hears of it (an
        outbind for deliveries still waiting that no wake would announce again)."""
        lst = self._receivers.get(system_id)
        if lst and proto in lst:
            lst.remove(proto)
            if not lst:
                del self._receivers[system_id]
                if self.on_no_receiver is not None:
                    self.on_no_receiver(system_id)

    def has_other_taker(self, system_id: str, proto: SmppProtocol) -> bool:
        """True when a receiver or transceiver of ``system_id`` other than ``proto``, not stalled (an answer to
        our deliver_sm overdue), has room in its window now."""
        for other in self._receivers.get(system_id, ()):
            if other is not proto and not other.stalled and other.delivery_room > 0:
                return True
        return False

    def has_receiver(self, system_id: str) -> bool:
        """True while a receiver or transceiver of ``system_id`` is bound."""
        return system_id in self._receivers

    def bound_count(self, system_id: str | None = None) -> int:
        """Number of bound sessions, of one system_id or all."""
        return sum(
            1 for p in self.connections if p.session.is_bound and (system_id is None or p.session.system_id == system_id)
        )

    def may_have_waiting(self, system_id: str) -> bool:
        """False when no delivery of ``system_id`` is available now (every one the core made available was
        woken for, and each drain since either emptied the queue or left the system_id in the backlog)."""
        return system_id in self._waking or system_id in self._backlog

    def emptied(self, system_id: str) -> None:
        """A bind of ``system_id`` took fewer deliveries than it had room for: none waits now."""
        self._backlog.discard(system_id)

    def wake(self, system_id: str) -> None:
        """Deliveries wait for ``system_id``. They are handed out once per loop tick (however many wakes
        came in it), so that a burst of receipts goes out as one write per connection."""
        self._waking.add(system_id)
        if not self._drain_scheduled and not self.pump_pending:
            self._schedule_drain()

    def end_pump(self) -> None:
        """The pump is over: wakes go back to scheduling a drain, and one is scheduled for anything still
        waiting (a drain that failed part way)."""
        self.pump_pending = False
        if self._waking and not self._drain_scheduled:
            self._schedule_drain()

    def _schedule_drain(self) -> None:
        if self._loop is not None:
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)

    def drain_now(self, first: SmppProtocol | None = None) -> None:
        """Hand out what waits now rather than at the end of the tick (before a connection writes),
        offering it to ``first`` (the connection about to write) before the others of its system_id: the
        receipts an ESME's read caused then leave in the reply to that read, as a real SMSC answering on
        the session the message came in on would, not in a write of their own on another bind."""
        if not self._waking:
            return
        if first is not None:
            system_id = first.session.system_id
            waking = self._waking
            if system_id in waking and first.fill_window(system_id):
                waking.discard(system_id)  # fewer than its room: nothing more waits for the others
                self._backlog.discard(system_id)
                if not waking:
                    return
        self._drain()

    def _drain(self) -> None:
        self._drain_scheduled = False
        waking, self._waking = self._waking, set()
        self._backlog |= waking  # until a bind empties its queue (also if a drain fails part way)
        for system_id in waking:
            self.deliver(system_id)

    def deliver(self, system_id: str) -> None:
        """Give waiting deliveries of ``system_id`` to its binds now, each up to the room in its window,
        starting one bind further each time (round-robin over binds)."""
        lst = self._receivers.get(system_id)
        if not lst:
            self._backlog.add(system_id)  # (for the bind that comes)
            if self.on_no_receiver is not None:
                self.on_no_receiver(system_id)
            return
        n = len(lst)
        start = self._cursor.get(system_id, 0) % n
        self._cursor[system_id] = start + 1
        for k in range(n):
            if lst[(start + k) % n].fill_window(system_id):
                # Fewer than its room: nothing more waits, the other binds need no visit.
                self._backlog.discard(system_id)
                return
        self._backlog.add(system_id)  # every window full: what is left waits for one to open
