"""The in-memory MessageStore: no disk at all, for pure load tests (``store.kind: memory``).

"Durable" here means "recorded in this process": a restarted process starts empty.  The store keeps the live
:class:`~smsc.core.message.Message` objects the core hands it (no copy on the hot path); :meth:`MemoryStore.load`
returns deep copies, so a second SMSC started on the same store (tests) gets independent records.  Final
messages are kept for query_sm up to ``retain_final`` of them and :data:`~smsc.core.message.FINAL_OCTETS_MAX`
octets of user data (oldest forgotten first), so a long load test does not grow without bound.
"""

from __future__ import annotations

import copy
from collections import deque
from typing import Callable, Iterator

from smsc.core.api import Delivery
from smsc.core.message import FINAL_OCTETS_MAX, Message
from smsc.core.store.base import StoredState, WorldState


def _copies_by(batch: int, messages: list[Message]) -> Iterator[list[Message]]:
    """Deep copies of ``messages``, ``batch`` per list, made as each list is asked for."""
    for start in range(0, len(messages), batch):
        yield copy.deepcopy(messages[start:start + batch])


class MemoryStore:
    """A :class:`~smsc.core.store.base.MessageStore` in dicts.

    Args:
        call_soon: if given (e.g. ``loop.call_soon``), ``commit`` schedules ``on_durable`` through it, as a
            disk store would answer later; otherwise ``on_durable`` runs inside ``commit``.
        retain_final: how many final messages to keep for query_sm.
    """

    #: ``load_messages`` hands back the live records: the core may keep referring to them when it evicts.
    records_in_memory = True
    #: Every write is "durable" when it is recorded: ``commit`` only orders callbacks, so a commit that nobody
    #: waits on (after deleting an acknowledged delivery) may be left out.
    durable_on_write = True

    @property
    def commits_inline(self) -> bool:
        """True when :meth:`commit` calls back before it returns (no ``call_soon`` given)."""
        return self._call_soon is None

    def __init__(self, call_soon: Callable[..., object] | None = None, *, retain_final: int = 100_000) -> None:
        self._opt_outs: dict[tuple[str, str], bool] = {}
        self._rule_spells: dict[tuple[str, str], float] = {}
        self._pending_replies: dict[str, tuple[float, str, str, str, str]] = {}
        self._sim_time: float | None = None
        self._call_soon = call_soon
        self._commits_done = 0  # (on_durable callbacks run by _flush: see commit_mark)
        self.retain_final = retain_final
        self._messages: dict[str, Message] = {}
        #: The kept final messages, oldest first.  A message is saved final once (the core never changes a final
        #: message again), so a deque does what an ordered set would, at half the cost per message.  Records, not
        #: ids: after a message_id wrap an id may name a newer message, which an old entry must not drop.
        self._final: deque[Message] = deque()
        #: Octets of user data of the messages in ``_final`` (at most :data:`FINAL_OCTETS_MAX`).
        self._final_octets = 0
        self._deliveries: dict[int, Delivery] = {}
        self._next_message_number = 1
        self._next_delivery_id = 1
        self._callbacks: list[Callable[[], None]] = []
        self.commits = 0
        self.closed = False

    def load(self, max_final: int | None = None, *, waiting: bool = True, deliveries: bool = True) -> StoredState:
        """Deep copies of every kept message (of the final ones only the newest ``max_final`` when given; no
        waiting one when ``waiting`` is False, see :meth:`iter_waiting`) and outbox entry (none when
        ``deliveries`` is False), and the counters."""
        messages = list(self._messages.values())
        if not waiting:
            messages = [m for m in messages if m.final_time is not None]
        if max_final is not None:
            finals = [m for m in messages if m.final_time is not None]
            kept = {id(m) for m in sorted(finals, key=lambda m: m.final_time or 0.0, reverse=True)[:max(0, max_final)]}
            messages = [m for m in messages if m.final_time is None or id(m) in kept]
        return StoredState(
            messages=copy.deepcopy(messages),
            deliveries=copy.deepcopy(sorted(self._deliveries.values(), key=lambda d: d.delivery_id))
            if deliveries else [],
            next_delivery_id=self._next_delivery_id,
            next_message_number=self._next_message_number,
        )

    def iter_waiting(self, batch: int) -> Iterator[list[Message]]:
        """Deep copies of the waiting messages (no final time), ``batch`` per list, in the order they were
        first saved, as :meth:`load` would give them (the records stay here anyway: the lists only spare the
        caller a second copy of them all at once).

        Raises:
            ValueError: ``batch`` is less than 1.
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        return _copies_by(batch, [m for m in self._messages.values() if m.final_time is None])

    def load_world(self) -> WorldState:
        """The simulation time, opt-outs, rule spells and pending auto-replies recorded so far in this process (a
        new MemoryStore has none)."""
        return WorldState(sim_time=self._sim_time, opt_outs=[k for k, v in self._opt_outs.items() if v],
                          opt_ins=[k for k, v in self._opt_outs.items() if not v],
                          rule_spells=[(c, e, start) for (c, e), start in self._rule_spells.items()],
                          pending_replies=[(k, *row) for k, row in self._pending_replies.items()])

    def save_opt_out(self, carrier: str, e164: str, opted_out: bool) -> None:
        """Record an opt-out (True) or opt-in (False) of a handset."""
        self._opt_outs.pop((carrier, e164), None)
        self._opt_outs[(carrier, e164)] = opted_out

    def save_sim_time(self, sim_time: float) -> None:
        """Record the simulation clock's time."""
        self._sim_time = sim_time if self._sim_time is None else max(self._sim_time, sim_time)

    def save_pending_reply(self, key: str, due: float | None, handset: str, to: str, text: str,
                           system_id: str) -> None:
        """Record an auto-reply not sent yet (``due`` None: sent)."""
        if due is None:
            self._pending_replies.pop(key, None)
        else:
            self._pending_replies[key] = (due, handset, to, text, system_id)

    def save_rule_spell(self, carrier: str, e164: str, start: float | None) -> None:
        """Record when a number rule's offline spell started (None: ended by the control API)."""
        if start is None:
            self._rule_spells.pop((carrier, e164), None)
        else:
            self._rule_spells[(carrier, e164)] = start

    def save_message(self, message: Message) -> None:
        """Keep ``message`` (by reference); final ones join the bounded retention list."""
        message_id = message.message_id
        self._messages[message_id] = message
        state = message.state
        if state > 1 and state != 7:  # final: not SCHEDULED (0), ENROUTE (1) or UNKNOWN (7)
            final = self._final
            final.append(message)
            octets = self._final_octets = self._final_octets + len(message.short_message)
            if len(final) > self.retain_final or octets > FINAL_OCTETS_MAX:
                messages = self._messages
                while final and (len(final) > self.retain_final or octets > FINAL_OCTETS_MAX):
                    old = final.popleft()
                    octets -= len(old.short_message)
                    # (after a message_id wrap, the id may name a newer message, which stays)
                    if messages.get(old.message_id) is old:
                        del messages[old.message_id]
                self._final_octets = octets

    def move_message_last(self, message: Message) -> None:
        """:meth:`save_message`, listed after every message kept (:meth:`iter_waiting` hands it back there, as
        if first saved now: see the SQLite store's)."""
        self._messages.pop(message.message_id, None)
        self.save_message(message)

    def load_messages(self, message_ids: list[str]) -> list[Message]:
        """The kept messages with these ids (the live records, not copies), in the order given; unknown ids
        are left out."""
        messages = self._messages
        return [messages[i] for i in message_ids if i in messages]

    def live_message_ids(self, message_ids: list[str]) -> set[str]:
        """The ids among ``message_ids`` of kept messages that are not final (see the SQLite store's)."""
        messages = self._messages
        return {i for i in message_ids if i in messages and not messages[i].is_final}

    def forget_id(self, message_id: str, members: list[str]) -> None:
        """``message_id`` is given to a new message (after a message_id wrap): forget the final records it
        names, the message of that id and the submit_multi destinations ``members`` (those the core still
        knows; others it forgot are final and leave with the oldest, ``retain_final``)."""
        messages = self._messages
        for name in (message_id, *members):
            old = messages.get(name)
            if old is not None and old.is_final:
                del messages[name]

    def load_messages_later(self, message_ids: list[str], callback: Callable[[list[Message]], None]) -> None:
        """:meth:`load_messages`, handed to ``callback`` at once."""
        callback(self.load_messages(message_ids))

    def save_delivery(self, delivery: Delivery) -> None:
        """Keep an outbox entry."""
        self._deliveries[delivery.delivery_id] = delivery

    def delete_delivery(self, delivery_id: int) -> None:
        """Forget an acknowledged outbox entry."""
        self._deliveries.pop(delivery_id, None)

    def save_counters(self, next_message_number: int, next_delivery_id: int) -> None:
        """Remember the id counters."""
        self._next_message_number = next_message_number
        self._next_delivery_id = next_delivery_id

    def prune_final(self, before: float) -> None:
        """Forget final messages that reached their final state before ``before`` (simulation seconds)."""
        final = self._final
        messages = self._messages
        while final:
            message = final[0]
            current = messages.get(message.message_id) is message
            if current and message.final_time is not None and message.final_time >= before:
                break
            final.popleft()
            self._final_octets -= len(message.short_message)
            if current:  # (else the id names a newer message now, which may not even be final: it stays)
                del messages[message.message_id]

    def commit(self, on_durable: Callable[[], None]) -> None:
        """Everything is already "durable": call ``on_durable`` now or via ``call_soon``."""
        self.commits += 1
        if self._call_soon is None:
            on_durable()
            return
        self._callbacks.append(on_durable)
        if len(self._callbacks) == 1:
            self._call_soon(self._flush)

    def commit_mark(self) -> int:
        """See :meth:`SqliteStore.commit_mark <smsc.core.store.sqlite.SqliteStore.commit_mark>`."""
        return self._commits_done + len(self._callbacks)

    def commits_outstanding(self, mark: int) -> int:
        """See :meth:`SqliteStore.commits_outstanding <smsc.core.store.sqlite.SqliteStore.commits_outstanding>`."""
        return max(0, mark - self._commits_done)

    def _flush(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        self._commits_done += len(callbacks)
        for callback in callbacks:
            callback()

    def close(self) -> None:
        """Nothing to write; idempotent."""
        self.closed = True
