"""The single timer heap: order, cancellation, earliest-deadline notification, compaction."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.core.scheduler import Scheduler


def test_timers_run_in_time_order_and_ties_in_scheduling_order() -> None:
    s = Scheduler()
    ran: list[str] = []
    s.call_at(5.0, ran.append, "c")
    s.call_at(1.0, ran.append, "a")
    s.call_at(5.0, ran.append, "d")
    s.call_at(2.0, ran.append, "b")
    assert s.next_deadline() == 1.0
    assert s.run_due(4.9) == 2
    assert ran == ["a", "b"]
    assert s.run_due(5.0) == 2
    assert ran == ["a", "b", "c", "d"]
    assert s.next_deadline() is None and len(s) == 0


def test_timers_scheduled_by_a_callback_for_now_run_in_the_same_pass() -> None:
    s = Scheduler()
    ran: list[int] = []

    def chain(n: int) -> None:
        ran.append(n)
        if n < 3:
            s.call_at(10.0, chain, n + 1)

    s.call_at(10.0, chain, 0)
    assert s.run_due(10.0) == 4
    assert ran == [0, 1, 2, 3]


def test_cancelled_timers_never_run_and_cancel_is_idempotent() -> None:
    s = Scheduler()
    ran: list[str] = []
    a = s.call_at(1.0, ran.append, "a")
    s.call_at(2.0, ran.append, "b")
    s.cancel(a)
    s.cancel(a)
    s.cancel(None)
    assert len(s) == 1
    assert s.next_deadline() == 2.0
    s.run_due(10.0)
    assert ran == ["b"]
    s.cancel(a)  # after it would have run: still nothing
    assert len(s) == 0


def test_on_earlier_deadline_reports_only_a_new_earliest_timer_outside_run_due() -> None:
    s = Scheduler()
    seen: list[float] = []
    s.on_earlier_deadline = seen.append
    s.call_at(10.0, lambda _: None)
    s.call_at(20.0, lambda _: None)
    s.call_at(5.0, lambda _: None)
    assert seen == [10.0, 5.0]
    s.call_at(1.0, lambda _: s.call_at(0.5, lambda _: None))
    assert seen == [10.0, 5.0, 1.0]
    s.run_due(1.0)  # the timer it adds at 0.5 runs in the same pass, without a notification
    assert seen == [10.0, 5.0, 1.0]


def test_a_new_earliest_batch_due_now_is_reported_to_on_due_now_instead_of_on_earlier_deadline() -> None:
    """The driver learns that a zero-latency outcome is due without reading its clock; a batch that is not
    due now, or not the earliest, or that joins one already pushed, or that is pushed while timers run, is
    reported as before (or not at all)."""
    s = Scheduler()
    deadlines: list[float] = []
    due_now: list[str] = []
    s.on_earlier_deadline = deadlines.append
    s.on_due_now = lambda: due_now.append("now")
    s.call_at(100.0, lambda _: None)  # (the prune timer, say)
    ran: list[object] = []
    s.call_at_batched(10.0, ran.extend, "a", due_now=True)
    assert (deadlines, due_now) == ([100.0], ["now"])
    s.call_at_batched(10.5, ran.extend, "b", due_now=True)  # joins the batch: no report
    s.call_at_batched(50.0, ran.extend, "c")  # later than the earliest: no report
    assert (deadlines, due_now) == ([100.0], ["now"])
    s.call_at_batched(5.0, ran.extend, "d")  # a new earliest, not due now: a deadline as before
    assert (deadlines, due_now) == ([100.0, 5.0], ["now"])
    s.call_at_batched(1.0, lambda items: s.call_at_batched(1.0, ran.extend, "f", due_now=True), "e", due_now=True)
    assert due_now == ["now", "now"]
    assert s.run_due(10.5) == 5  # e, f (added while running: not reported), d, a and b
    assert ran == ["f", "d", "a", "b"] and due_now == ["now", "now"] and deadlines == [100.0, 5.0]
    s.on_due_now = None  # without the hook, a batch due now is a deadline like any other
    s.call_at_batched(11.0, ran.extend, "g", due_now=True)
    assert deadlines == [100.0, 5.0, 11.0]


def test_a_failing_callback_is_counted_and_the_others_still_run() -> None:
    s = Scheduler()
    ran: list[int] = []

    def boom(_: object) -> None:
        raise RuntimeError("bug")

    s.call_at(1.0, boom)
    s.call_at(2.0, ran.append, 2)
    assert s.run_due(3.0) == 2
    assert ran == [2] and s.errors == 1


def test_heap_is_compacted_when_most_entries_are_cancelled() -> None:
    s = Scheduler()
    handles = [s.call_at(float(i), lambda _: None) for i in range(5000)]
    for h in handles[:4000]:
        s.cancel(h)
    assert len(s) == 1000
    assert len(s._heap) < 5000  # rebuilt: memory follows the live timers
    assert s.next_deadline() == 4000.0
    assert s.run_due(1e9) == 1000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.booleans()), max_size=60), st.integers(0, 60))
def test_run_due_runs_exactly_the_live_timers_due_in_order(plan: list[tuple[int, bool]], now: int) -> None:
    s = Scheduler()
    ran: list[int] = []
    expected = []
    for index, (when, cancelled) in enumerate(plan):
        handle = s.call_at(float(when), ran.append, index)
        if cancelled:
            s.cancel(handle)
        elif when <= now:
            expected.append((when, index))
    s.run_due(float(now))
    assert ran == [index for _, index in sorted(expected)]
    assert len(s) == sum(1 for when, c in plan if not c and when > now)


def test_a_jump_moves_timers_of_real_delays_and_those_made_during_it_count_from_its_end() -> None:
    s = Scheduler()
    ran: list[str] = []
    s.call_at(3.0, ran.append, "outcome")
    s.call_after_real(0.0, 2.0, ran.append, "real")
    cancelled = s.call_after_real(0.0, 1.0, ran.append, "cancelled")
    s.cancel(cancelled)
    assert s.shift_real(100.0) == 1  # (a cancelled one is not counted)
    s.jump_target = 100.0
    s.call_after_real(10.0, 5.0, ran.append, "made during the jump")  # at 10 s of a jump to 100 s: 105
    s.jump_target = None
    assert s.run_due(100.0) == 1 and ran == ["outcome"]
    assert s.next_deadline() == 102.0
    assert s.run_due(105.0) == 2 and ran == ["outcome", "real", "made during the jump"]
