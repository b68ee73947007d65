"""The MessageStore protocol: what the core needs to make messages and pending deliveries durable.

The core never waits on the store.  It records changes (``save_message``, ``save_delivery``,
``delete_delivery``) which join the pending batch, then calls ``commit(on_durable)``; the store writes the
whole batch in one transaction (group commit) and calls ``on_durable`` on the event-loop thread once it is
on disk.  Every ``on_durable`` given before a commit starts is called after that commit succeeds, in the
order given.  A submit_sm_resp with status 0 is released from ``on_durable``: "status 0 means on disk".

An implementation may be SQLite (the default, ``sqlite.py``), memory (``memory.py``, for pure load tests),
or later a shared server store (PostgreSQL, Redis) behind the same methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

from smsc.core.api import Delivery
from smsc.core.message import Message


@dataclass(slots=True)
class StoredState:
    """What a store hands back on start: everything needed to resume as if nothing happened.

    ``messages`` holds every message not yet final (unless ``load`` was asked to leave them to
    ``iter_waiting``), plus final ones kept for query_sm; ``deliveries`` every outbox entry not yet
    acknowledged by an ESME; ``next_delivery_id`` and ``next_message_number`` are one past
    the highest ever handed out, so identifiers never repeat across restarts.
    """

    messages: list[Message] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    next_delivery_id: int = 1
    next_message_number: int = 1


@dataclass(slots=True)
class WorldState:
    """What the simulated world keeps across restarts besides messages: the last simulation time recorded
    (seconds since the epoch, None for a new store), the opted-out numbers as (carrier, e164) pairs, and the
    offline spells that ``offline: <duration>`` number rules started, as (carrier, e164, start) with start in
    simulation seconds (see :meth:`HandsetPool.page <smsc.core.handsets.HandsetPool.page>`), and the handsets'
    auto-replies not sent yet, as (key, due, handset, to, text, system_id) with due in simulation seconds and
    system_id the ESME whose MT the reply answers (see
    :meth:`MoService.auto_replies <smsc.core.mo.MoService.auto_replies>`).  ``sim_wall_time``: the wall time
    (seconds since the epoch) at which ``sim_time`` was written, None when the store does not say."""

    sim_time: float | None = None
    sim_wall_time: float | None = None
    opt_outs: list[tuple[str, str]] = field(default_factory=list)
    #: (carrier, e164) opted back in (START, the control API): recorded too, as a number rule may start one
    #: opted out.
    opt_ins: list[tuple[str, str]] = field(default_factory=list)
    rule_spells: list[tuple[str, str, float]] = field(default_factory=list)
    pending_replies: list[tuple[str, float, str, str, str, str]] = field(default_factory=list)


class MessageStore(Protocol):
    """Durable record of messages and the outbox. All methods are called on the event-loop thread."""

    def load(self, max_final: int | None = None, *, waiting: bool = True, deliveries: bool = True) -> StoredState:
        """Read back the state at start (empty for a new store): every waiting message (none when ``waiting``
        is False: the caller reads them with :meth:`iter_waiting`), every outbox entry (none when
        ``deliveries`` is False: the caller reads them with ``iter_deliveries``, below), and the final messages
        not yet pruned (only the newest ``max_final`` of them when given).  ``next_delivery_id`` is right
        either way."""

    def iter_waiting(self, batch: int) -> Iterator[list[Message]]:
        """Every message not yet final, at most ``batch`` per list, in the order they were first saved
        (acceptance order; a message saved with ``move_message_last``, below, as if first saved then).  A
        restart resumes a queue of a million this way without holding every record in memory at once: the
        records of messages that go on waiting for an absent handset leave memory batch by batch.  The caller
        may record and commit changes to the messages it was given (those that expire at start) while it
        iterates: the lists that follow are not affected.

        Raises:
            ValueError: ``batch`` is less than 1.
        """

    def save_message(self, message: Message) -> None:
        """Insert or update ``message`` (keyed by message_id) in the pending batch."""

    def save_delivery(self, delivery: Delivery) -> None:
        """Insert an outbox entry in the pending batch."""

    def delete_delivery(self, delivery_id: int) -> None:
        """Remove an acknowledged outbox entry in the pending batch."""

    def save_counters(self, next_message_number: int, next_delivery_id: int) -> None:
        """Record the id counters in the pending batch."""

    def prune_final(self, before: float) -> None:
        """Delete, in the pending batch, final messages whose ``final_time`` is before ``before`` (simulation
        seconds): they are no longer needed for query_sm (added by the engine; retention is the core's choice).
        """

    def load_world(self) -> WorldState:
        """Read back the simulation time, opt-outs and rule spells (before the core starts)."""

    def save_opt_out(self, carrier: str, e164: str, opted_out: bool) -> None:
        """Record an opt-out (True) or opt-in (False) of a handset, in the pending batch."""

    def save_sim_time(self, sim_time: float) -> None:
        """Record the simulation clock's time, in the pending batch."""

    def save_rule_spell(self, carrier: str, e164: str, start: float | None) -> None:
        """Record when a number rule's offline spell started for ``e164`` (simulation seconds), or that it was
        ended (None: the control API switched the handset on), in the pending batch."""

    def save_pending_reply(self, key: str, due: float | None, handset: str, to: str, text: str,
                           system_id: str) -> None:
        """Record a handset's auto-reply due at ``due`` (simulation seconds) from ``handset`` to ``to``, an answer
        to an MT of ``system_id``, or that it was sent (``due`` None), in the pending batch."""

    # Optional (looked up with getattr by the core): stores that keep records on disk let the core evict
    # waiting messages from memory and read them back when needed.
    #   load_messages(message_ids: list[str]) -> list[Message]            read now, on the caller's thread
    #   load_messages_later(message_ids, callback: Callable[[list[Message]], None])  read off the loop
    #   move_message_last(message: Message) -> None    save_message, and have iter_waiting hand the message back
    #                               after every message saved before, as if first saved now (replace_sm gives
    #                               it a new submit time; without it a restart resumes it at its first place)
    #   live_message_ids(message_ids: list[str]) -> set[str]   those not final, read now (ids after a wrap; a
    #                               store without it that evicts makes every id it may hold count as live)
    #   forget_id(message_id: str, members: list[str]) -> None   the id is given to a new message (after a
    #                               wrap): in the pending batch, before anything saved after this call, delete
    #                               the *final* records it names: the message of that id and the destinations
    #                               ``message_id-n`` of a submit_multi of that id (``members`` lists those the
    #                               core knows; a store that can find them all by range finds the others too)
    #   load_deliveries(delivery_ids: list[int]) -> list[Delivery]          read now, on the caller's thread
    #   load_deliveries_later(delivery_ids, callback: Callable[[list[Delivery]], None])  read off the loop:
    #                               with it the outbox keeps only the ids of deliveries owed beyond
    #                               ``outbox.SPILL_AT`` per system_id, and reads them back as they are taken
    #   iter_deliveries(batch: int) -> Iterator[list[Delivery]]             the outbox by delivery_id, a batch
    #                               per list (a restart, with ``load(deliveries=False)``)
    #   save_dpf_flag(e164, system_id, handset: Address, esme: Address) -> None   a Delivery Pending Flag set
    #                               (or its addresses changed), in the pending batch (:mod:`smsc.core.dpf`)
    #   delete_dpf_flag(e164, system_id) -> None    that flag cleared (its alert is owed), in the pending batch
    #   load_dpf_flags() -> list[tuple[str, str, Address, Address]]   the flags at start, as (e164, system_id,
    #                               handset, ESME): a store without these three forgets the flags at a restart
    #                               (the memory store: its world ends with the process)
    #   records_in_memory: bool                                             True when evicting saves nothing
    #   durable_on_write: bool      True when a write is durable as soon as it is recorded (the memory store):
    #                               the outbox then needs no commit after an acknowledged delivery's delete
    #   commits_inline: bool        True when ``commit`` calls back before it returns (the memory store without
    #                               ``call_soon``): an adapter then gains nothing by holding commits over a read

    def commit(self, on_durable: Callable[[], None]) -> None:
        """Make everything recorded so far durable; call ``on_durable`` (on the loop thread) once it is."""

    def close(self) -> None:
        """Write what is pending, stop any writer (thread or process) and close the file. Idempotent."""
