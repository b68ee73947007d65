"""The durable outbox: durable-then-offered, leases, acks, backoff on failure, permanent refusals, restore."""

from __future__ import annotations

from smsc.core.api import Address, Delivery
from smsc.core.clock import FakeClock, SystemClock
from smsc.core.outbox import Outbox
from smsc.core.scheduler import Scheduler
from smsc.core.store.memory import MemoryStore
from smsc.smpp.constants import CommandStatus as S


class Rig:
    def __init__(self, *, clock=None, deferred: bool = False) -> None:
        self.pending: list = []
        self.store = MemoryStore(call_soon=self.pending.append if deferred else None)
        self.scheduler = Scheduler()
        self.clock = clock or FakeClock(1000.0)
        self.woken: list[str] = []
        self.outbox = Outbox(self.store, self.scheduler, self.clock, on_available=self.woken.append,
                             backoff=(1.0, 5.0))

    def add(self, system_id: str = "esme", text: bytes = b"x") -> Delivery:
        d = Delivery(delivery_id=self.outbox.new_delivery_id(), system_id=system_id, source=Address(addr="1"),
                     destination=Address(addr="2"), short_message=text)
        self.outbox.add(d)
        return d

    def flush(self) -> None:
        while self.pending:
            self.pending.pop(0)()

    def run_until(self, t: float) -> None:
        self.clock.set(t)
        self.scheduler.run_due(t)


def test_deliveries_are_offered_fifo_per_system_id_once_durable() -> None:
    rig = Rig(deferred=True)
    a, b = rig.add("esme", b"a"), rig.add("esme", b"b")
    c = rig.add("other", b"c")
    assert rig.outbox.take("esme", 10) == [] and rig.woken == []
    rig.flush()
    assert rig.woken == ["esme", "esme", "other"]
    assert rig.outbox.take("esme", 1) == [a]
    assert rig.outbox.take("esme", 10) == [b]
    assert rig.outbox.take("esme", 10) == []
    assert rig.outbox.take("other", 10) == [c]
    assert len(rig.outbox) == 3  # all leased, none acknowledged


def test_a_delivery_added_at_once_is_offered_before_its_commit_an_mo_is_not() -> None:
    rig = Rig(deferred=True)
    mo = rig.add("esme", b"mo")  # the default: offered once durable
    receipt = Delivery(delivery_id=rig.outbox.new_delivery_id(), system_id="esme", source=Address(addr="1"),
                       destination=Address(addr="2"), short_message=b"id:1 stat:DELIVRD")
    rig.outbox.add(receipt, at_once=True)
    assert rig.woken == ["esme"]
    assert rig.outbox.take("esme", 10) == [receipt]
    assert rig.pending, "its commit is still to come"
    rig.flush()
    assert rig.outbox.take("esme", 10) == [mo]
    assert len(rig.outbox) == 2


def test_receipts_wait_for_their_commit_while_commits_lag_and_later_ones_do_not_pass_them() -> None:
    """Tester 155: a receipt offered before the commit of its message's final state, during a stall of the
    store, was acknowledged and then lost with that state in a crash; while commits lag, receipts wait for
    theirs, and once the lag is over the next ones wait until those held back are offered."""
    rig = Rig(deferred=True)
    lagging = [True]
    rig.store.commits_lagging = lambda: lagging[0]  # type: ignore[attr-defined]
    rig.outbox = Outbox(rig.store, rig.scheduler, rig.clock, on_available=rig.woken.append)

    def receipt(n: int) -> Delivery:
        d = Delivery(delivery_id=rig.outbox.new_delivery_id(), system_id="esme", source=Address(addr="1"),
                     destination=Address(addr="2"), short_message=b"id:%d stat:DELIVRD" % n)
        rig.outbox.add(d, at_once=True)
        return d

    held = receipt(1)
    assert rig.outbox.take("esme", 10) == [] and rig.woken == []
    lagging[0] = False
    after = receipt(2)  # the stall is over, but the one before it still waits
    assert rig.outbox.take("esme", 10) == []
    rig.flush()
    assert rig.outbox.take("esme", 10) == [held, after]
    at_once = receipt(3)  # none held back: offered before its commit again
    assert rig.outbox.take("esme", 10) == [at_once] and rig.pending


def test_ack_deletes_durably() -> None:
    rig = Rig()
    d = rig.add()
    [taken] = rig.outbox.take("esme", 10)
    assert rig.outbox.acked(taken.delivery_id, S.ESME_ROK)
    assert rig.store.load().deliveries == []
    assert len(rig.outbox) == 0 and rig.outbox.stats.deliveries_acked == 1
    assert not rig.outbox.acked(d.delivery_id, S.ESME_ROK)  # a second answer is ignored


def test_failed_and_rx_t_appn_come_back_first_after_the_backoff() -> None:
    rig = Rig()
    first, second = rig.add(text=b"1"), rig.add(text=b"2")
    rig.outbox.take("esme", 1)
    assert rig.outbox.failed(first.delivery_id)
    assert rig.outbox.take("esme", 10) == [second]
    rig.outbox.acked(second.delivery_id, 0)
    rig.woken.clear()
    rig.run_until(1000.9)
    assert rig.outbox.take("esme", 10) == []
    rig.run_until(1001.0)
    assert rig.woken == ["esme"]
    [again] = rig.outbox.take("esme", 10)
    assert again is first
    rig.outbox.acked(first.delivery_id, S.ESME_RX_T_APPN)  # temporary: retried, second backoff 5 s
    rig.run_until(1005.9)
    assert rig.outbox.take("esme", 10) == []
    rig.run_until(1006.0)
    assert rig.outbox.take("esme", 10) == [first]
    assert rig.outbox.stats.deliveries_failed == 2
    assert [d.delivery_id for d in rig.store.load().deliveries] == [first.delivery_id]


def test_other_error_statuses_are_retried_too() -> None:
    rig = Rig()
    d = rig.add()
    rig.outbox.take("esme", 10)
    rig.outbox.acked(d.delivery_id, S.ESME_RSYSERR)
    rig.run_until(1001.0)
    assert rig.outbox.take("esme", 10) == [d]


def test_permanent_refusals_drop_the_delivery() -> None:
    rig = Rig()
    a, b = rig.add(), rig.add()
    rig.outbox.take("esme", 10)
    rig.outbox.acked(a.delivery_id, S.ESME_RX_P_APPN)
    rig.outbox.acked(b.delivery_id, S.ESME_RX_R_APPN)
    assert rig.outbox.stats.deliveries_dropped == 2
    assert rig.store.load().deliveries == [] and len(rig.outbox) == 0


def test_backoff_is_real_seconds_whatever_the_time_scale() -> None:
    ticks = [0.0]
    clock = SystemClock(time_scale=3600.0, start=1000.0, monotonic=lambda: ticks[0])
    rig = Rig(clock=clock)
    d = rig.add()
    rig.outbox.take("esme", 10)
    rig.outbox.failed(d.delivery_id)
    assert rig.scheduler.next_deadline() == 1000.0 + 3600.0  # 1 real second = an hour of simulation


def test_restore_offers_everything_read_back_and_wakes_each_system_id_once() -> None:
    rig = Rig()
    stored = [Delivery(delivery_id=i, system_id=s, source=Address(), destination=Address())
              for i, s in ((4, "a"), (7, "b"), (9, "a"))]
    rig.outbox.restore(stored)
    assert rig.woken == ["a", "b"]
    assert [d.delivery_id for d in rig.outbox.take("a", 10)] == [4, 9]
    assert rig.outbox.new_delivery_id() == 10


def test_pending_lists_every_unacknowledged_delivery() -> None:
    rig = Rig(deferred=True)
    a = rig.add("x")
    rig.flush()
    b = rig.add("y")  # not durable yet
    rig.outbox.take("x", 10)
    assert [d.delivery_id for d in rig.outbox.pending()] == [a.delivery_id, b.delivery_id]
    assert rig.outbox.pending("y") == [b]
    assert rig.outbox.available("x") == 0


def test_deliveries_a_taker_cannot_carry_are_held_without_backoff_for_the_next_taker_that_can() -> None:
    """An SMPP 3.3 bind has no data_sm (SMPP 3.4 section 4.7): what only data_sm carries is held for a 3.4 bind,
    which takes it first, instead of failing into the backoff (minutes after a few rounds)."""
    rig = Rig()
    a, b, c, d = rig.add(text=b"a"), rig.add(text=b"b-long"), rig.add(text=b"c"), rig.add(text=b"d-long")
    looked_at: list[int] = []

    def short_only(delivery: Delivery) -> bool:
        looked_at.append(delivery.delivery_id)
        return not delivery.short_message.endswith(b"-long")

    assert rig.outbox.take("esme", 1, short_only) == [a]
    assert rig.outbox.take("esme", 5, short_only) == [c]
    assert rig.outbox.take("esme", 5, short_only) == []
    assert looked_at == [a.delivery_id, b.delivery_id, c.delivery_id, d.delivery_id]  # each looked at once
    assert rig.outbox.held("esme") == 2 and rig.outbox.available("esme") == 2 and len(rig.outbox) == 4
    assert [x.delivery_id for x in rig.outbox.pending()] == [a.delivery_id, b.delivery_id, c.delivery_id,
                                                            d.delivery_id]
    assert rig.outbox.stats.deliveries_failed == 0 and rig.scheduler.next_deadline() is None
    e = rig.add(text=b"e")
    assert rig.outbox.take("esme", 2) == [b, d]  # held ones first
    assert rig.outbox.take("esme", 5) == [e]
    assert rig.outbox.held("esme") == 0
    for x in (a, b, c, d, e):
        assert rig.outbox.acked(x.delivery_id, 0)
    assert len(rig.outbox) == 0 and rig.store.load().deliveries == []


def test_a_taker_without_a_test_takes_the_held_deliveries_then_the_queue_up_to_its_limit() -> None:
    rig = Rig()
    held, a, b = rig.add(text=b"x-long"), rig.add(text=b"a"), rig.add(text=b"b")
    assert rig.outbox.take("esme", 1, lambda d: not d.short_message.endswith(b"-long")) == [a]
    assert rig.outbox.take("esme", 1) == [held]
    assert rig.outbox.take("esme", 5) == [b]


def test_deliveries_failed_together_come_back_oldest_first_before_the_queue() -> None:
    """A connection drops with six deliver_sm unanswered (tester 24: its MOs came back '5' to '0'): after the
    backoff they are offered again in the order they were made, then what was queued behind them."""
    rig = Rig()
    sent = [rig.add(text=str(i).encode()) for i in range(6)]
    later = rig.add(text=b"later")
    assert rig.outbox.take("esme", 6) == sent
    for d in sent:  # the order the session lists them in
        assert rig.outbox.failed(d.delivery_id)
    rig.run_until(1001.0)
    assert rig.outbox.available("esme") == 7 and len(rig.outbox) == 7
    assert [d.delivery_id for d in rig.outbox.pending("esme")] == [d.delivery_id for d in sent + [later]]
    assert rig.outbox.take("esme", 4) == sent[:4]
    assert rig.outbox.take("esme", 10) == sent[4:] + [later]


def test_retried_deliveries_are_ordered_by_delivery_id_whatever_order_they_failed_in() -> None:
    rig = Rig()
    a, b, c = rig.add(text=b"a"), rig.add(text=b"b"), rig.add(text=b"c")
    rig.outbox.take("esme", 3)
    for d in (c, a, b):
        rig.outbox.failed(d.delivery_id)
    rig.run_until(1001.0)
    assert rig.outbox.take("esme", 10) == [a, b, c]
    assert rig.outbox.acked(b.delivery_id, S.ESME_RX_T_APPN)  # b fails again (5 s), a and c are acknowledged
    rig.outbox.acked(a.delivery_id, 0)
    rig.outbox.acked(c.delivery_id, 0)
    d = rig.add(text=b"d")
    rig.run_until(1006.0)
    assert rig.outbox.take("esme", 10) == [b, d]


def test_a_taker_that_cannot_carry_a_retried_delivery_leaves_it_held_for_one_that_can() -> None:
    rig = Rig()
    short, long_ = rig.add(text=b"short"), rig.add(text=b"x-long")
    rig.outbox.take("esme", 2)
    rig.outbox.failed(short.delivery_id)
    rig.outbox.failed(long_.delivery_id)
    rig.run_until(1001.0)
    assert rig.outbox.take("esme", 10, lambda d: not d.short_message.startswith(b"x")) == [short]
    assert rig.outbox.held("esme") == 1 and rig.outbox.available("esme") == 1
    assert rig.outbox.take("esme", 10) == [long_]


def test_throttled_and_unanswered_offers_do_not_move_the_backoff_along() -> None:
    """Tester 90: a receipt answered ESME_RTHROTTLED three times, then ESME_RX_T_APPN, waited 10 s (the backoff's
    fourth step) instead of the first: answers that are offered again at once counted as steps."""
    rig = Rig()
    d = rig.add()
    for _ in range(3):
        [taken] = rig.outbox.take("esme", 10)
        rig.outbox.acked(taken.delivery_id, S.ESME_RTHROTTLED)  # offered again at once
    [taken] = rig.outbox.take("esme", 10)
    assert rig.outbox.failed(taken.delivery_id, at_once=True)  # the response timer, the connection lost
    [taken] = rig.outbox.take("esme", 10)
    rig.outbox.acked(taken.delivery_id, S.ESME_RX_T_APPN)
    rig.run_until(1000.9)
    assert rig.outbox.take("esme", 10) == []
    rig.run_until(1001.0)  # the first step of the backoff
    assert rig.outbox.take("esme", 10) == [d]
