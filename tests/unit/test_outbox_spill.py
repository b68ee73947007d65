"""Deliveries owed to an ESME that takes none (bound as transmitter only) on a real SQLite file: beyond
``outbox.SPILL_AT`` per system_id they leave memory once durable, keeping only their delivery_id, and come back
from the file, in order, each once, as a receiver takes them; a restart reads the outbox the same way."""

from __future__ import annotations

import gc
from pathlib import Path

from smsc.core.api import Address, Delivery
from smsc.core.clock import FakeClock
from smsc.core.outbox import READ_BACK_BATCH, SPILL_AT, Outbox
from smsc.core.scheduler import Scheduler
from smsc.core.store.memory import MemoryStore
from smsc.core.store.sqlite import SqliteStore
from tests.stored import stored_state

from tests.unit.test_smsc_support import START, Harness, Ticks, make_config

OWED = 100_000
TICK = 500  # adds per loop tick (one commit each, as under load)


def deliveries_in_memory() -> int:
    """Delivery objects alive in this process (the test keeps none of its own; compare with the count before
    the test: earlier tests may leave a few behind)."""
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is Delivery)


class Rig:
    def __init__(self, path: Path) -> None:
        self.ticks = Ticks()
        self.store = SqliteStore(path, call_soon=self.ticks.call_soon)  # one transaction per tick
        self.clock = FakeClock(1000.0)
        self.woken: list[str] = []
        self.outbox = Outbox(self.store, Scheduler(), self.clock, on_available=self.woken.append)

    def add(self, system_id: str, *, at_once: bool) -> int:
        delivery_id = self.outbox.new_delivery_id()
        self.outbox.add(Delivery(
            delivery_id=delivery_id, system_id=system_id, source=Address(addr="447700900100"),
            destination=Address(addr="12345"), short_message=b"id:%d stat:DELIVRD" % delivery_id,
            kind="receipt" if at_once else "mo",
        ), at_once=at_once)
        return delivery_id

    def take_all(self, system_id: str, window: int, add_while: int = 0) -> tuple[list[int], list[int], int]:
        """A receiver of ``system_id`` takes ``window`` at a time and acknowledges each, a loop tick per round,
        while the first ``add_while`` rounds each add a new receipt; returns the ids taken, those added, and
        the most delivery records held in memory at a time."""
        taken: list[int] = []
        added: list[int] = []
        most = 0
        for rounds in range(10 * OWED):
            if rounds < add_while:
                added.append(self.add(system_id, at_once=True))
            batch = self.outbox.take(system_id, window)
            for delivery in batch:
                taken.append(delivery.delivery_id)
                self.outbox.acked(delivery.delivery_id, 0)
            self.ticks.run()
            most = max(most, self.outbox.in_memory())
            if not batch and not self.outbox.available(system_id) and rounds >= add_while:
                break
        return taken, added, most


def test_owed_deliveries_beyond_the_threshold_leave_memory_and_a_receiver_gets_each_once_in_order(
        tmp_path: Path) -> None:
    before = deliveries_in_memory()
    rig = Rig(tmp_path / "smsc.sqlite")
    receipts = []
    mos = []
    for i in range(OWED):
        receipts.append(rig.add("tx-only", at_once=True))  # receipts: offered before their commit
        if i % 10 == 0:
            mos.append(rig.add("mo-sink", at_once=False))  # MO: offered once durable
        if i % TICK == TICK - 1:
            rig.ticks.run()
    rig.ticks.run()
    outbox = rig.outbox

    # What stays in memory is bounded, whatever is owed: SPILL_AT records per system_id, ids for the rest.
    assert outbox.in_memory() == 2 * SPILL_AT
    assert deliveries_in_memory() - before <= 2 * SPILL_AT
    assert outbox.spilled("tx-only") == OWED - SPILL_AT and outbox.spilled("mo-sink") == len(mos) - SPILL_AT
    assert outbox.stats.deliveries_spilled == outbox.spilled()  # (smsc_deliveries_spilled_total)
    assert len(outbox) == OWED + len(mos) and outbox.available("tx-only") == OWED
    assert outbox.sizes() == {"tx-only": OWED, "mo-sink": len(mos)}
    # A listing reads the spilled ones it shows from the file, and only those.
    listed = outbox.pending("tx-only", limit=SPILL_AT + 3)
    assert [d.delivery_id for d in listed] == receipts[:SPILL_AT + 3]
    assert listed[-1].short_message == b"id:%d stat:DELIVRD" % receipts[SPILL_AT + 2]
    del listed

    # A receiver binds: everything comes back in the order it was owed, none twice, none lost, and new
    # receipts made meanwhile come after those owed before them.
    taken, added, most = rig.take_all("tx-only", window=100, add_while=2_000)
    assert taken == receipts + added
    assert most <= 2 * SPILL_AT + 2 * READ_BACK_BATCH
    taken_mo, _, _ = rig.take_all("mo-sink", window=10)
    assert taken_mo == mos
    assert len(outbox) == 0 and outbox.spilled() == 0
    rig.ticks.run()
    rig.store.close()
    assert stored_state(tmp_path / "smsc.sqlite").deliveries == []  # every row deleted once acknowledged


def test_a_restart_reads_the_outbox_a_batch_at_a_time_and_keeps_only_ids_beyond_the_threshold(
        tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    before = deliveries_in_memory()
    rig = Rig(path)
    owed = []
    for i in range(OWED):
        owed.append(rig.add("tx-only", at_once=True))
        if i % TICK == TICK - 1:
            rig.ticks.run()
    rig.ticks.run()
    rig.store.close()
    del rig
    assert deliveries_in_memory() == before

    again = Rig(path)
    again.outbox.restore_batches(again.store.iter_deliveries(4096))
    assert again.outbox.next_delivery_id == owed[-1] + 1
    assert again.woken == ["tx-only"]
    assert again.outbox.in_memory() == SPILL_AT and deliveries_in_memory() - before == SPILL_AT
    assert again.outbox.spilled("tx-only") == OWED - SPILL_AT
    taken, _, most = again.take_all("tx-only", window=250)
    assert taken == owed
    assert most <= SPILL_AT + 2 * READ_BACK_BATCH
    again.store.close()


def test_a_restarted_smsc_offers_every_owed_receipt_once_in_submit_order_holding_only_ids_beyond_the_threshold(
        tmp_path: Path) -> None:
    path = tmp_path / "smsc.sqlite"
    config = make_config(max_waiting=20_000)
    first = Harness(config, store=SqliteStore(path))
    count = SPILL_AT + 1500
    ids = [first.submit_ok("447700900100", f"m{i}", registered_delivery=1) for i in range(count)]
    first.advance(5.0)  # delivered at once: a receipt each, owed to an ESME that binds no receiver
    assert first.smsc.deliveries_count() == count and first.smsc.outbox.spilled() > 0
    assert first.smsc.outbox.in_memory() <= SPILL_AT
    first.smsc.stop()
    first.store.close()

    h = Harness(config, store=SqliteStore(path), clock=FakeClock(START + 60.0))
    outbox = h.smsc.outbox
    assert outbox.in_memory() == SPILL_AT and outbox.spilled() == count - SPILL_AT
    assert h.smsc.outbox_sizes() == {"esme": count}
    got = []
    for _ in range(100):
        batch = h.receipts()
        if not batch:
            break
        got.extend(r.message_id for _, r in batch)
    assert got == ids
    assert h.smsc.deliveries_count() == 0
    h.store.close()


def test_the_memory_store_keeps_every_owed_delivery_in_memory() -> None:
    outbox = Outbox(MemoryStore(), Scheduler(), FakeClock(0.0))
    for _ in range(SPILL_AT + 100):
        outbox.add(Delivery(delivery_id=outbox.new_delivery_id(), system_id="tx-only", source=Address(addr="1"),
                            destination=Address(addr="2")), at_once=True)
    assert outbox.spilled() == 0 and outbox.in_memory() == SPILL_AT + 100


def test_the_drain_backlog_leaves_out_what_is_owed_to_a_system_id_without_a_receiver_only_when_spilled(
        tmp_path: Path) -> None:
    """Outbox.backlog (what pauses a drain, smsc.core.waits.DRAIN_BACKLOG): on SQLite, deliveries available to a
    system_id with no receiver bound do not count (they cannot move, and beyond SPILL_AT they leave memory);
    with the memory store, which keeps every one in memory, they all count."""
    rig = Rig(tmp_path / "s.sqlite")
    for _ in range(SPILL_AT + 10):
        rig.add("idle", at_once=False)
    for _ in range(5):
        rig.add("busy", at_once=True)
    rig.ticks.run()
    assert rig.outbox.spilled("idle") == 10 and len(rig.outbox) == SPILL_AT + 15
    assert rig.outbox.backlog(lambda system_id: system_id == "busy") == 5
    assert rig.outbox.backlog(lambda system_id: True) == rig.outbox.backlog() == SPILL_AT + 15
    assert len(rig.outbox.take("busy", 1)) == 1  # a leased one still counts: it awaits its answer
    assert rig.outbox.backlog(lambda system_id: system_id == "busy") == 5

    memory = Outbox(MemoryStore(), Scheduler(), FakeClock(1000.0))
    for system_id in ("idle", "idle", "busy"):
        memory.add(Delivery(delivery_id=memory.new_delivery_id(), system_id=system_id, source=Address(addr="1"),
                            destination=Address(addr="2"), short_message=b"x"))
    assert memory.backlog(lambda system_id: system_id == "busy") == 3
    rig.store.close()
