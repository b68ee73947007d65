"""The core's fast constructors and the fast receipt text agree with the plain, obvious versions."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.config import MessageIdFormat, ReceiptStyle
from smsc.core.api import Address, Delivery
from smsc.core.ids import MessageIdGenerator, format_message_id
from smsc.core.message import Message, accepted_message
from smsc.core.receipts import Receipts, receipt_delivery, reference_text
from smsc.core.stats import SmscStats
from smsc.smpp.constants import MessageState


class _Outbox:
    def __init__(self) -> None:
        self.added: list[Delivery] = []
        self.next_delivery_id = 1

    def add(self, delivery: Delivery, *, at_once: bool = False) -> None:
        assert at_once, "a receipt is offered at once (its message's state goes to disk with it)"
        self.added.append(delivery)


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


class _Carrier:
    def __init__(self, receipt: ReceiptStyle) -> None:
        self.receipt = receipt


def _message(**fields: object) -> Message:
    base: dict[str, object] = dict(
        message_id="00000000000000ab", system_id="esme", source=Address(ton=1, npi=1, addr="447700900001"),
        destination=Address(ton=1, npi=1, addr="447700900123"), destination_e164="447700900123",
        carrier="uk", short_message=b"hello world", submit_time=1_767_225_600.0, expiry_time=1_767_312_000.0,
    )
    base.update(fields)
    return Message(**base)  # type: ignore[arg-type]


def test_accepted_message_sets_every_field_like_the_dataclass_constructor() -> None:
    src = Address(ton=5, addr="BANK")
    dst = Address(ton=1, npi=1, addr="447700900123")
    fast = accepted_message("m1", "esme", src, dst, "447700900123", "uk", "CMT", 0x40, 1, 2, 0x11, 8,
                            b"\x00h", {0x0204: 7}, 10.0, 20.0, 30.0, 3, "m")
    slow = Message(message_id="m1", system_id="esme", source=src, destination=dst, destination_e164="447700900123",
                   carrier="uk", service_type="CMT", esm_class=0x40, protocol_id=1, priority_flag=2,
                   registered_delivery=0x11, data_coding=8, short_message=b"\x00h", tlvs={0x0204: 7},
                   submit_time=10.0, schedule_time=20.0, expiry_time=30.0, submitted_count=3, multi_id="m")
    for f in dataclasses.fields(Message):
        assert getattr(fast, f.name) == getattr(slow, f.name), f.name
    assert fast.attempts is not slow.attempts


def test_receipt_delivery_sets_every_field_like_the_dataclass_constructor() -> None:
    src = Address(ton=1, npi=1, addr="447700900123")
    dst = Address(ton=5, addr="BANK")
    fast = receipt_delivery(7, "esme", src, dst, 4, b"id:1", {0x001E: "1"})
    slow = Delivery(delivery_id=7, system_id="esme", source=src, destination=dst, esm_class=4, data_coding=0,
                    short_message=b"id:1", tlvs={0x001E: "1"}, kind="receipt")
    for f in dataclasses.fields(Delivery):
        assert getattr(fast, f.name) == getattr(slow, f.name), f.name


_FINAL = [MessageState.DELIVERED, MessageState.EXPIRED, MessageState.DELETED, MessageState.UNDELIVERABLE,
          MessageState.REJECTED]


@settings(max_examples=200, deadline=None)
@given(
    state=st.sampled_from(_FINAL),
    intermediate=st.booleans(),
    error_code=st.integers(min_value=0, max_value=100_000),
    err_digits=st.integers(min_value=3, max_value=6),
    text_label=st.sampled_from(["text", "Text", ""]),
    submit_offset=st.floats(min_value=0, max_value=10 * 365 * 86400, allow_nan=False),
    final_delay=st.one_of(st.none(), st.floats(min_value=0, max_value=86400 * 30, allow_nan=False)),
    text=st.text(max_size=40),
    data_coding=st.sampled_from([0, 1, 3, 8]),
    multi=st.booleans(),
    submitted=st.integers(min_value=1, max_value=255),
    year_pivot=st.sampled_from([38, 0, 5, 99]),  # (0 and 5: 2001-2011 are past or across the century's end)
)
def test_fast_receipt_text_equals_build_receipt_text(
    state: MessageState, intermediate: bool, error_code: int, err_digits: int, text_label: str,
    submit_offset: float, final_delay: float | None, text: str, data_coding: int, multi: bool, submitted: int,
    year_pivot: int,
) -> None:
    submit_time = 1_000_000_000.0 + submit_offset
    if data_coding == 8:
        payload = text.encode("utf-16-be", "surrogatepass")
    else:
        payload = text.encode("latin-1", "replace")
    msg = _message(
        state=state, error_code=error_code, submit_time=submit_time, short_message=payload, data_coding=data_coding,
        final_time=None if final_delay is None else submit_time + final_delay,
        multi_id="00000000000000aa" if multi else "", submitted_count=submitted,
    )
    now = submit_time + 5.0
    outbox = _Outbox()
    carrier = _Carrier(ReceiptStyle(text_label=text_label, err_digits=err_digits))
    receipts = Receipts(outbox, SmscStats(), _Clock(now), year_pivot)  # type: ignore[arg-type]
    receipts.queue(msg, carrier, intermediate=intermediate)  # type: ignore[arg-type]
    [delivery] = outbox.added
    expected = reference_text(msg, carrier, now, intermediate=intermediate, year_pivot=year_pivot).encode(
        "ascii", "replace")
    assert delivery.short_message == expected


@settings(max_examples=200, deadline=None)
@given(
    number=st.integers(min_value=0, max_value=2**80),
    kind=st.sampled_from(["hex", "decimal"]),
    length=st.integers(min_value=1, max_value=64),
    uppercase=st.booleans(),
)
def test_compiled_message_id_formats_equal_format_message_id(number: int, kind: str, length: int,
                                                              uppercase: bool) -> None:
    fmt = MessageIdFormat(format=kind, length=length, uppercase=uppercase)
    ids = MessageIdGenerator(MessageIdFormat(), next_number=number)
    assert ids.next_id(fmt) == format_message_id(number, fmt)
    ids = MessageIdGenerator(fmt, next_number=number)
    assert ids.next_id() == format_message_id(number, fmt)


def test_a_negative_number_written_like_an_id_is_kept_as_a_string() -> None:
    from smsc.core.ids import IdPacker
    from smsc.core.tracks import EvictedIds

    assert IdPacker(MessageIdFormat()).pack("-000000000000001") is None  # found by the property below
    kept = EvictedIds(IdPacker(MessageIdFormat()))
    kept.append("-000000000000001", 10.0)
    kept.append(format_message_id(7, MessageIdFormat()), 20.0)
    assert kept.take(2) == ["-000000000000001", format_message_id(7, MessageIdFormat())]


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.one_of(
    st.integers(min_value=0, max_value=2**64).map(lambda n: format_message_id(n, MessageIdFormat())),
    st.text(alphabet="0123456789abcdefABCDEF-", min_size=1, max_size=20),
), unique=True, max_size=30), cut=st.integers(min_value=0, max_value=40))
def test_evicted_ids_keep_every_id_in_order_whatever_its_form(ids: list[str], cut: int) -> None:
    from smsc.core.ids import IdPacker
    from smsc.core.tracks import EvictedIds

    kept = EvictedIds(IdPacker(MessageIdFormat()))
    for message_id in ids:
        kept.append(message_id, 0.0)
    assert len(kept) == len(ids)
    assert all(message_id in kept for message_id in ids)
    assert "not an id" not in kept
    head = kept.take(cut)
    assert head == ids[:cut]
    assert all(message_id not in kept for message_id in head)
    other = EvictedIds(None)
    other.extend(kept)
    assert not kept and other.take(len(other)) == ids[cut:]


_ID_OR_STRING = st.one_of(
    st.integers(min_value=0, max_value=300).map(lambda n: format_message_id(n, MessageIdFormat())),
    st.sampled_from(["M-1", "M-2", "x", "-000000000000001"]),
)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(st.one_of(
    st.tuples(st.just("append"), _ID_OR_STRING, st.sampled_from([1.0, 2.0, 3.0, 5.0, float("inf")]),
              st.sampled_from([0, 0, 0, 1, 3])),
    st.tuples(st.just("take"), st.integers(min_value=0, max_value=6)),
    st.tuples(st.just("due"), st.sampled_from([0.0, 1.0, 2.5, 5.0])),
    st.tuples(st.just("remove"), _ID_OR_STRING),
    st.tuples(st.just("move"), st.booleans()),
    st.tuples(st.just("join"), st.booleans(), st.lists(st.tuples(
        _ID_OR_STRING, st.sampled_from([1.0, 5.0]), st.sampled_from([0, 1, 2])), max_size=5)),
), max_size=60))
def test_evicted_ids_keep_each_validity_end_beside_its_id_through_every_change(ops: list[tuple]) -> None:
    """EvictedIds against a plain list of (id, validity end, priority_flag) kept in take order (best priority
    first, then the order added), with runs of 3 ids so that appends, takes, expiries and removals cross run
    boundaries.  An id may come back after it left (read back, evicted again)."""
    from smsc.core import tracks
    from smsc.core.ids import IdPacker

    packer = IdPacker(MessageIdFormat())
    saved = tracks.EVICTED_RUN
    tracks.EVICTED_RUN = 3
    try:
        kept = tracks.EvictedIds(packer)
        model: list[tuple[str, float, int]] = []
        for op in ops:
            if op[0] == "append":
                if any(m == op[1] for m, _, _ in model):
                    continue  # an id waits once at a time
                kept.append(op[1], op[2], op[3])
                model.append((op[1], op[2], op[3]))
                model.sort(key=lambda entry: -entry[2])  # (stable: the order added, within a priority)
            elif op[0] == "take":
                assert kept.oldest(op[1]) == [m for m, _, _ in model[:op[1]]]  # (a look, then the same taken)
                assert kept.take(op[1]) == [m for m, _, _ in model[:op[1]]]
                del model[:op[1]]
            elif op[0] == "due":
                assert kept.due(op[1]) == [m for m, e, _ in model if e <= op[1]]
                assert kept.take_due(op[1]) == [m for m, e, _ in model if e <= op[1]]
                model = [entry for entry in model if entry[1] > op[1]]
            elif op[0] == "remove":
                present = any(m == op[1] for m, _, _ in model)
                assert kept.remove(op[1]) is present
                model = [entry for entry in model if entry[0] != op[1]]
            elif op[0] == "join":  # this one's ids go behind another's, lane by lane (see waits._merge_drains)
                other = tracks.EvictedIds(packer if op[1] else None)
                first: list[tuple[str, float, int]] = []
                for entry in op[2]:
                    if not any(m == entry[0] for m, _, _ in [*model, *first]):
                        other.append(*entry)
                        first.append(entry)
                other.extend(kept)
                assert not kept
                kept = other
                model = sorted([*first, *model], key=lambda entry: -entry[2])
            else:  # another wait's ids join this one (a handset back again while its drain runs)
                other = tracks.EvictedIds(packer if op[1] else None)
                other.extend(kept)
                assert not kept and kept.earliest() == float("inf")
                kept = tracks.EvictedIds(packer)
                kept.extend(other)
            assert len(kept) == len(model)
            assert kept.earliest() == min((e for _, e, _ in model), default=float("inf"))
            assert kept.newest(2) == [m for m, _, _ in reversed(model)][:2]
            assert all(m in kept for m, _, _ in model)
        assert kept.take(len(kept)) == [m for m, _, _ in model]
    finally:
        tracks.EVICTED_RUN = saved


# -- scheduler: batched entries ------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.sampled_from([1.0, 2.0, 3.0])), max_size=40))
def test_batched_timers_run_in_the_order_separate_timers_would(ops: list[tuple[bool, float]]) -> None:
    from smsc.core.scheduler import Scheduler

    batched, plain = Scheduler(), Scheduler()
    got: list[int] = []
    want: list[int] = []
    calls: list[int] = []

    def each(items: list[int]) -> None:  # one function object: batches need the same callback
        calls.append(len(items))
        got.extend(items)

    for i, (batch, when) in enumerate(ops):
        if batch:
            batched.call_at_batched(when, each, i)
        else:
            batched.call_at(when, got.append, i)
        plain.call_at(when, want.append, i)
    assert batched.run_due(2.0) == plain.run_due(2.0)
    assert batched.run_due(5.0) == plain.run_due(5.0)
    assert got == want
    assert batched.fired == plain.fired == len(ops)
    assert sum(calls) == sum(1 for batch, _ in ops if batch)


def test_consecutive_items_for_one_instant_come_in_one_call() -> None:
    from smsc.core.scheduler import Scheduler

    s = Scheduler()
    calls: list[list[int]] = []
    for i in range(3):
        s.call_at_batched(1.0, calls.append, i)  # a new bound method each time: no batch
    cb = calls.append
    for i in range(3, 6):
        s.call_at_batched(1.0, cb, i)
    s.call_at_batched(2.0, cb, 6)
    assert s.run_due(2.0) == 7
    assert calls == [[0], [1], [2], [3, 4, 5], [6]]


def test_an_item_batched_while_its_batch_runs_runs_after_it_in_the_same_pass() -> None:
    from smsc.core.scheduler import Scheduler

    s = Scheduler()
    ran: list[int] = []

    def cb(items: list[int]) -> None:
        for i in items:
            ran.append(i)
            if i < 2:
                s.call_at_batched(1.0, cb, i + 10)

    s.call_at_batched(1.0, cb, 0)
    s.call_at_batched(1.0, cb, 1)
    assert s.run_due(1.0) == 4
    assert ran == [0, 1, 10, 11]


def test_items_due_at_successive_readings_of_a_real_clock_share_the_open_batch() -> None:
    from smsc.core.scheduler import Scheduler

    s = Scheduler()
    calls: list[list[int]] = []
    cb = calls.append
    s.call_at_batched(1.0, cb, 0, due_now=True)
    s.call_at_batched(1.000002, cb, 1, due_now=True)  # a later reading joins the batch of an earlier time
    s.call_at_batched(1.000005, cb, 2, due_now=True)
    s.call_at(1.5, calls.append, [99])  # a timer pushed after the batch closes it
    s.call_at_batched(1.6, cb, 3, due_now=True)
    s.call_at_batched(0.5, cb, 4, due_now=True)  # earlier than the open batch: never joins one that could run late
    assert s.run_due(1.0) == 4  # item 4 (due at 0.5) runs first
    assert calls == [[4], [0, 1, 2]]
    assert s.run_due(2.0) == 2
    assert calls == [[4], [0, 1, 2], [99], [3]]


def test_an_item_due_now_never_joins_a_batch_that_already_ran() -> None:
    from smsc.core.scheduler import Scheduler

    s = Scheduler()
    ran: list[list[int]] = []

    def cb(items: list[int]) -> None:
        ran.append(list(items))
        if items[0] == 0:
            s.call_at_batched(1.0, cb, 7, due_now=True)  # scheduled while its batch runs: a new entry, same pass

    s.call_at_batched(1.0, cb, 0, due_now=True)
    assert s.run_due(1.0) == 2
    assert ran == [[0], [7]]


# -- carrier: the single-outcome path ------------------------------------------------------------------------


def test_the_sole_outcome_path_answers_and_draws_like_the_general_path() -> None:
    import random

    from smsc.config import CarrierConfig, Distribution, HandsetConfig
    from smsc.core.carrier import Carrier

    config = CarrierConfig(name="c", prefixes=("",), latency=Distribution(kind="fixed", value=0.0),
                           failure_latency=Distribution(kind="fixed", value=0.0),
                           handsets=HandsetConfig(online_probability=1.0))
    fast, slow = Carrier(config, seed=1), Carrier(config, seed=1)
    assert fast._sole is not None
    slow._sole = None
    for c in (fast, slow):
        c.handsets.set_online("4477000002", False, 0.0)
        c.handsets.opt_out("4477000003")
        c.handsets.opt_in("4477000004")
    rf, rs = random.Random(5), random.Random(5)
    for i in range(6):
        e164 = f"447700000{i}"
        assert fast.attempt(e164, 100.0, rf) == slow.attempt(e164, 100.0, rs)
        assert rf.random() == rs.random()


def test_no_sole_outcome_with_rules_a_random_handset_model_or_a_mix() -> None:
    from smsc.config import CarrierConfig, Distribution, HandsetConfig, NumberRule, outcome_for
    from smsc.core.carrier import Carrier

    base = dict(name="c", prefixes=("",), latency=Distribution(kind="fixed", value=0.0),
                failure_latency=Distribution(kind="fixed", value=0.0))
    assert Carrier(CarrierConfig(**base, handsets=HandsetConfig(online_probability=0.5)), seed=1)._sole is None
    assert Carrier(CarrierConfig(**base, rules=(NumberRule(numbers=("1",), outcome=outcome_for("delivered")),)),
                   seed=1)._sole is None
    mix = (outcome_for("delivered"), outcome_for("absent_subscriber"))
    assert Carrier(CarrierConfig(**base, outcomes=mix), seed=1)._sole is None
    lognormal = dict(base, latency=Distribution(kind="lognormal", median=1.0, sigma=0.5))
    assert Carrier(CarrierConfig(**lognormal), seed=1)._sole is None


# -- the whole path: fast lanes against the general one ------------------------------------------------------


def _run_world(fast: bool, store_kind: str, tmp_path: object) -> tuple[list[object], list[object], list[object]]:
    """Submit a mix of plain and special requests, run the world, take and ack every delivery; return every
    reply, message record and delivery as plain values."""
    import random

    from smsc.core.api import Address, Submission
    from smsc.core.clock import FakeClock
    from smsc.core.routing import build_world
    from smsc.core.smsc import Smsc
    from smsc.core.store.memory import MemoryStore
    from tests.unit.test_smsc_support import carrier, make_config, rule

    config = make_config(
        carrier("uk", ("44",), latency=0.0, failure_latency=0.0, rules=(rule("447700900555", cause="busy"),)),
        carrier("fr", ("33",), latency=1.0),
    )
    store = MemoryStore()
    clock = FakeClock()
    smsc = Smsc(config, store, clock, random.Random(3), build_world(config, random.Random(3)))
    if not fast:
        smsc._plain_lane = lambda e164, c: None  # type: ignore[method-assign]
        smsc.machine.start = smsc.machine.resume  # type: ignore[method-assign]
    smsc.start()
    replies: list[object] = []
    dests = ["447700900123", "07700900124", "447700900555", "33612345678", "447700900123", "abc", "4477009"]
    for i in range(40):
        dest = dests[i % len(dests)]
        sub = Submission(system_id="esme", source=Address(ton=1, npi=1, addr="447700900001"),
                         destination=Address(ton=1 if dest[0] != "0" else 0, npi=1, addr=dest),
                         registered_delivery=i % 4, short_message=b"hello %d" % (i % 3),
                         validity_period="000001000000000R" if i % 11 == 5 else "",
                         tlvs={0x0204: i} if i % 5 == 0 else {})
        smsc.submit(sub, lambda r: replies.append((type(r.status), r.status, r.message_id)))
        if i % 6 == 0:
            smsc.advance(0.5)
    smsc.advance(4000.0)
    deliveries = []
    for d in smsc.take_deliveries("esme", 1000):
        deliveries.append((d.delivery_id, d.source, d.destination, d.esm_class, d.short_message, d.tlvs))
        smsc.delivery_acked(d.delivery_id, 0)
    records = [dataclasses.asdict(m) for m in smsc.messages(limit=1000)]
    return replies, records, deliveries


def test_fast_lanes_give_exactly_what_the_general_path_gives(tmp_path: object) -> None:
    assert _run_world(True, "memory", tmp_path) == _run_world(False, "memory", tmp_path)


@settings(max_examples=200, deadline=None)
@given(
    err_digits=st.integers(min_value=3, max_value=6),
    text_label=st.sampled_from(["text", "Text", ""]),
    receipted=st.booleans(),
    submit_offset=st.floats(min_value=0, max_value=10 * 365 * 86400, allow_nan=False),
    final_delay=st.floats(min_value=0, max_value=86400 * 30, allow_nan=False),
    texts=st.lists(st.sampled_from([b"hello", b"hello", b"", b"\x05\x00\x03\x01\x02\x01hi"]), min_size=1,
                   max_size=4),
    esm_class=st.sampled_from([0, 0x40]),
    multi=st.booleans(),
    submitted=st.sampled_from([1, 1, 3]),
    error_code=st.sampled_from([0, 0, 5]),
    reference=st.sampled_from([None, 7]),
)
def test_delivered_receipts_equal_the_general_ones(
    err_digits: int, text_label: str, receipted: bool, submit_offset: float, final_delay: float,
    texts: list[bytes], esm_class: int, multi: bool, submitted: int, error_code: int, reference: int | None,
) -> None:
    style = ReceiptStyle(text_label=text_label, err_digits=err_digits, receipted_message_id=receipted)
    fast_outbox, slow_outbox = _Outbox(), _Outbox()
    fast = Receipts(fast_outbox, SmscStats(), _Clock(0.0))  # type: ignore[arg-type]
    slow = Receipts(slow_outbox, SmscStats(), _Clock(0.0))  # type: ignore[arg-type]
    carrier = _Carrier(style)
    for text in texts:  # one Receipts for several: its remembered parts must not leak between messages
        submit_time = 1_000_000_000.0 + submit_offset
        msg = _message(state=MessageState.DELIVERED, submit_time=submit_time, final_time=submit_time + final_delay,
                       short_message=text, esm_class=esm_class, error_code=error_code,
                       multi_id="00000000000000aa" if multi else "", submitted_count=submitted,
                       tlvs={0x0204: reference} if reference is not None else {})
        fast.delivered(msg, carrier)
        slow.queue(msg, carrier, intermediate=False)
    assert [dataclasses.asdict(d) for d in fast_outbox.added] == [dataclasses.asdict(d) for d in slow_outbox.added]
