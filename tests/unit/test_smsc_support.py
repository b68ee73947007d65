"""Shared helpers for the store-and-forward engine tests (no tests here).

A small real world built in code (``smsc.config`` dataclasses -> ``routing.build_world``), a FakeClock, a
seeded RNG and a real store; the only stand-in is the gateway, which records wakes the way the SMPP bind
registry would receive them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from smsc.config import (
    AutoReply,
    CarrierConfig,
    Config,
    Distribution,
    HandsetConfig,
    MessageIdFormat,
    MoRoute,
    NumberRule,
    OutcomeSpec,
    ReceiptStyle,
    ServerConfig,
    SimulationConfig,
    StoreConfig,
    SubmitRule,
    Topology,
    outcome_for,
)
from smsc.core.api import (
    Address,
    Delivery,
    MultiSubmitResult,
    QueryResult,
    Submission,
    SubmitResult,
    TransactionResult,
)
from smsc.core.clock import FakeClock
from smsc.core.routing import build_world
from smsc.core.smsc import Smsc
from smsc.core.store.memory import MemoryStore
from smsc.smpp.constants import MessageState, Tag
from smsc.smpp.receipt import Receipt, parse_receipt_text

START = FakeClock.DEFAULT_START


class CountingClock(FakeClock):
    """A FakeClock that counts its readings (what reading a real clock costs per message, in tests that
    check how often the hot path does)."""

    __slots__ = ("reads",)

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return self._now
ESME = "esme"
SENDER = "447700900001"
INF = math.inf


def fixed(seconds: float) -> Distribution:
    return Distribution(kind="fixed", value=seconds)


def rule(*numbers: str, cause: str | None = None, offline: float | None = None, submit: SubmitRule | None = None,
         auto_reply: AutoReply | None = None, latency: float | None = None, opted_out: bool = False,
         prefixes: tuple[str, ...] = ()) -> NumberRule:
    return NumberRule(
        numbers=numbers, prefixes=prefixes, submit=submit, outcome=outcome_for(cause) if cause else None,
        offline=offline, latency=fixed(latency) if latency is not None else None, auto_reply=auto_reply,
        opted_out=opted_out,
    )


def carrier(name: str = "uk", prefixes: tuple[str, ...] = ("44",), *, rules: tuple[NumberRule, ...] = (),
            latency: float = 2.0, failure_latency: float = 1.0, capacity: float | None = None,
            receipt: ReceiptStyle = ReceiptStyle(), outcomes: tuple[OutcomeSpec, ...] | None = None,
            retry: tuple[float, ...] | None = None, auto_reply: AutoReply | None = None) -> CarrierConfig:
    return CarrierConfig(
        name=name, prefixes=prefixes, latency=fixed(latency), failure_latency=fixed(failure_latency),
        outcomes=outcomes or (outcome_for("delivered"),), capacity=capacity, receipt=receipt,
        handsets=HandsetConfig(online_probability=1.0, auto_reply=auto_reply), rules=rules,
        retry_schedule=retry,
    )


def make_config(*carriers: CarrierConfig, mo_routes: tuple[MoRoute, ...] = (), no_route: str = "reject",
                max_waiting: int = 1000, retry: tuple[float, ...] = (60.0, 300.0, 900.0),
                default_validity: float = 172_800.0, max_validity: float = 604_800.0,
                max_schedule: float = 1_209_600.0,
                message_id: MessageIdFormat = MessageIdFormat()) -> Config:
    return Config(
        source="test",
        server=ServerConfig(message_id=message_id),
        store=StoreConfig(kind="memory", max_waiting_messages=max_waiting),
        simulation=SimulationConfig(seed=7, default_validity=default_validity, max_validity=max_validity,
                                    max_schedule=max_schedule, retry_schedule=retry),
        topology=Topology(country_code="44", national_prefix="0", carriers=carriers or (carrier(),),
                          mo_routes=mo_routes, no_route=no_route),
    )


class Ticks:
    """The event loop's ``call_soon`` for a store that groups its work per loop tick: what it queues runs only
    when the test says so (:meth:`run`), so a test sees the moment before a commit came back."""

    def __init__(self) -> None:
        self.ready: list[tuple[Any, tuple[Any, ...]]] = []

    def call_soon(self, callback: Any, *args: Any) -> None:
        self.ready.append((callback, args))

    def run(self) -> None:
        for _ in range(10_000):  # bounded: a callback may queue more
            if not self.ready:
                return
            ready, self.ready = self.ready, []
            for callback, args in ready:
                callback(*args)
        raise AssertionError("call_soon callbacks kept queueing more for 10,000 ticks")


@dataclass
class RecordingGateway:
    """Stands in for the SMPP bind registry: remembers which system_ids were woken."""

    wakes: list[str] = field(default_factory=list)
    #: system_ids with a receiver bound (None: every one).
    receivers: set[str] | None = None

    def wake(self, system_id: str) -> None:
        self.wakes.append(system_id)

    def has_receiver(self, system_id: str) -> bool:
        return self.receivers is None or system_id in self.receivers


class Harness:
    """One Smsc on a FakeClock with a seeded RNG, plus helpers to submit and to collect deliveries."""

    def __init__(self, config: Config | None = None, store: Any = None, *, seed: int = 1,
                 clock: FakeClock | None = None, **smsc_options: Any) -> None:
        self.config = config or make_config()
        self.clock = clock or FakeClock(START)
        self.store = store if store is not None else MemoryStore()
        self.rng = random.Random(seed)
        self.world = build_world(self.config, random.Random(seed))
        self.smsc = Smsc(self.config, self.store, self.clock, self.rng, self.world, **smsc_options)
        self.gateway = RecordingGateway()
        self.smsc.set_gateway(self.gateway)
        self.smsc.start()

    def submission(self, destination: str, text: str = "hello world", *, system_id: str = ESME,
                   source: str = SENDER, dest_ton: int = 1, source_ton: int = 1, source_npi: int = 1,
                   **fields: Any) -> Submission:
        return Submission(
            system_id=system_id, source=Address(ton=source_ton, npi=source_npi, addr=source),
            destination=Address(ton=dest_ton, npi=1, addr=destination),
            short_message=text.encode("ascii"), **fields,
        )

    def submit(self, destination: str, text: str = "hello world", **fields: Any) -> SubmitResult:
        """Submit and return the reply, which must have come (inline memory store)."""
        replies: list[SubmitResult] = []
        self.smsc.submit(self.submission(destination, text, **fields), replies.append)
        assert len(replies) == 1, "submit did not reply at once"
        return replies[0]

    def submit_transaction(self, destination: str, text: str = "hello world",
                           **fields: Any) -> list[TransactionResult]:
        """A transaction-mode submit (esm_class 0x02, SMPP 3.4 section 2.10.3): the replies so far, [] while the
        answer waits for the one attempt's outcome."""
        replies: list[TransactionResult] = []
        self.smsc.submit_transaction(self.submission(destination, text, esm_class=0x02, **fields), replies.append)
        return replies

    def submit_ok(self, destination: str, text: str = "hello world", **fields: Any) -> str:
        result = self.submit(destination, text, **fields)
        assert result.status == 0, f"submit refused with 0x{result.status:08X}"
        return result.message_id

    def submit_multi(self, destinations: list[str], text: str = "hello all", dl_names: list[str] | None = None,
                     **fields: Any) -> MultiSubmitResult:
        replies: list[MultiSubmitResult] = []
        sub = self.submission("", text, **fields)
        self.smsc.submit_multi(sub, [Address(ton=1, npi=1, addr=d) for d in destinations], dl_names or [],
                               replies.append)
        assert len(replies) == 1
        return replies[0]

    def query(self, message_id: str, *, system_id: str = ESME, source: str = SENDER, source_ton: int = 1,
              source_npi: int = 1) -> QueryResult:
        replies: list[QueryResult] = []
        self.smsc.query(system_id, message_id, Address(ton=source_ton, npi=source_npi, addr=source), replies.append)
        assert len(replies) == 1
        return replies[0]

    def cancel(self, message_id: str = "", *, destination: str = "", service_type: str = "",
               system_id: str = ESME, source: str = SENDER, source_ton: int = 1, source_npi: int = 1) -> int:
        replies: list[int] = []
        self.smsc.cancel(system_id, service_type, message_id, Address(ton=source_ton, npi=source_npi, addr=source),
                         Address(ton=1, npi=1, addr=destination), replies.append)
        assert len(replies) == 1
        return replies[0]

    def replace(self, message_id: str, text: str = "replaced", *, schedule: str = "", validity: str = "",
                registered_delivery: int = 1, system_id: str = ESME, source: str = SENDER, source_ton: int = 1,
                source_npi: int = 1) -> int:
        replies: list[int] = []
        self.smsc.replace(system_id, message_id, Address(ton=source_ton, npi=source_npi, addr=source), schedule,
                          validity, registered_delivery, text.encode("ascii"), replies.append)
        assert len(replies) == 1
        return replies[0]

    def advance(self, seconds: float) -> int:
        return self.smsc.advance(seconds)

    def take(self, system_id: str = ESME, *, ack: bool = True) -> list[Delivery]:
        """Every available delivery for ``system_id`` (acknowledged with status 0 unless ``ack`` is False)."""
        taken = self.smsc.take_deliveries(system_id, 10_000)
        if ack:
            for delivery in taken:
                self.smsc.delivery_acked(delivery.delivery_id, 0)
        return taken

    def receipts(self, system_id: str = ESME) -> list[tuple[Delivery, Receipt]]:
        return [(d, parse_receipt_text(d.short_message.decode("ascii"))) for d in self.take(system_id)
                if d.kind == "receipt"]

    def state(self, message_id: str) -> MessageState:
        msg = self.smsc.message(message_id)
        assert msg is not None
        return msg.state

    def attempts(self, message_id: str) -> list[tuple[float, str]]:
        msg = self.smsc.message(message_id)
        assert msg is not None
        return [(a.time - START, a.outcome) for a in msg.attempts]


def stats_after_mix(mix: tuple[OutcomeSpec, ...], count: int) -> Any:
    """The core's counters once ``count`` messages to as many ordinary numbers met a carrier with outcome ``mix``
    (one attempt each, 10 s on)."""
    h = Harness(make_config(carrier(outcomes=mix), max_waiting=max(1000, count)))
    for i in range(count):
        h.submit_ok(f"4477{i:08d}")
    h.advance(10.0)
    return h.smsc.stats


def receipt_tlvs(delivery: Delivery) -> dict[int, Any]:
    return {int(k): v for k, v in delivery.tlvs.items()}


__all__ = [
    "START", "ESME", "SENDER", "INF", "Harness", "RecordingGateway", "Ticks", "make_config", "carrier", "rule", "fixed",
    "receipt_tlvs", "stats_after_mix", "Tag", "MessageState", "AutoReply", "MoRoute", "SubmitRule", "ReceiptStyle",
    "MessageIdFormat", "outcome_for",
]
