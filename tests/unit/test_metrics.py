"""The Prometheus collector reads the plain counters of the SMPP server and the core at scrape time."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from smsc.app import App
from smsc.config import load_config
from smsc.core.accounts import Accounts
from smsc.core.clock import FakeClock
from smsc.core.routing import build_world
from smsc.core.smsc import Smsc
from smsc.core.store.memory import MemoryStore
from smsc.http.metrics import CORE_GAUGES, build_registry, plain_counters, render
from smsc.server.listen import SmppServer


def _families(app: App) -> dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]]:
    """Scrape ``app`` once: family name -> (type, {sorted labels: value})."""
    body, content_type = render(build_registry(app, process=False))
    assert content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        samples = {tuple(sorted(s.labels.items())): s.value for s in family.samples if not s.name.endswith("_created")}
        out[family.name] = (family.type, samples)
    return out


def _app(loop: asyncio.AbstractEventLoop, seed: int = 1) -> App:
    """A real App whose core and SMPP server are built but not listening (no sockets)."""
    cfg = load_config(None)
    clock = FakeClock()
    rng = random.Random(seed)
    app = App(cfg, clock=clock, rng=rng)
    app.store = MemoryStore()
    app.smsc = Smsc(cfg, app.store, clock, rng, build_world(cfg, rng))
    app.smpp = SmppServer(cfg, app.smsc, Accounts.from_config(cfg.accounts), loop=loop)
    app.smsc.start()
    return app


def test_plain_counters_reads_numeric_public_fields_of_dataclasses_and_objects() -> None:
    @dataclass(slots=True)
    class Slotted:
        b: int = 2
        a: float = 1.5
        flag: bool = True
        name: str = "x"

    class Plain:
        def __init__(self) -> None:
            self.hits = 3
            self._private = 9

    assert plain_counters(Slotted()) == [("a", 1.5), ("b", 2)]
    assert plain_counters(Plain()) == [("hits", 3)]
    assert plain_counters(None) == []


def test_an_app_that_is_not_started_scrapes_without_error() -> None:
    app = App(load_config(None), clock=FakeClock(1000.0))
    fams = _families(app)
    assert fams["smsc_simulation_time_seconds"] == ("gauge", {(): 1000.0})
    assert not any(name.startswith("smsc_smpp") for name in fams)


async def test_counters_are_read_at_scrape_time() -> None:
    app = _app(asyncio.get_running_loop())
    assert app.smpp is not None and app.smsc is not None
    fams = _families(app)
    assert fams["smsc_smpp_submits"] == ("counter", {(): 0.0})
    assert fams["smsc_submitted"] == ("counter", {(): 0.0})
    assert fams["smsc_smpp_connections"] == ("gauge", {(): 0.0})

    app.smpp.counters.submits += 3
    app.smpp.counters.binds += 1
    app.smsc.stats.delivered += 2
    fams = _families(app)
    assert fams["smsc_smpp_submits"][1] == {(): 3.0}
    assert fams["smsc_smpp_binds"][1] == {(): 1.0}
    assert fams["smsc_delivered"] == ("counter", {(): 2.0})


async def test_levels_are_gauges_and_the_outbox_is_counted_per_system_id() -> None:
    app = _app(asyncio.get_running_loop())
    assert app.smsc is not None
    app.smsc.inject_mo("447700900123", "88123", text="HELLO")  # MO route of default.yaml -> "test"
    fams = _families(app)
    for field, (name, _) in CORE_GAUGES.items():
        assert fams[name][0] == "gauge", field
        assert f"smsc_{field}" not in fams
    assert fams["smsc_mo_received"][1] == {(): 1.0}
    assert fams["smsc_outbox_pending"] == ("gauge", {(("system_id", "test"),): 1.0})


async def test_each_registry_reads_its_own_app() -> None:
    loop = asyncio.get_running_loop()
    one, two = _app(loop, 1), _app(loop, 2)
    assert one.smpp is not None and two.smpp is not None
    one.smpp.counters.submits = 5
    two.smpp.counters.submits = 7
    # both registries (with process metrics) live side by side in one process
    reg_one, reg_two = build_registry(one), build_registry(two)
    text_one, text_two = render(reg_one)[0].decode(), render(reg_two)[0].decode()
    assert "smsc_smpp_submits_total 5.0" in text_one
    assert "smsc_smpp_submits_total 7.0" in text_two


async def test_a_per_system_id_gauge_that_falls_to_nothing_reads_0_not_absent() -> None:
    """Tester 28: smsc_outbox_pending{system_id="test"} left the scrape once the outbox emptied, so a test waiting
    for it to read 0 never saw it.  The collector reports 0 for every label it reported before."""
    app = _app(asyncio.get_running_loop())
    assert app.smsc is not None
    registry = build_registry(app, process=False)

    def pending() -> dict[tuple[tuple[str, str], ...], float]:
        body, _ = render(registry)
        [family] = [f for f in text_string_to_metric_families(body.decode()) if f.name == "smsc_outbox_pending"]
        return {tuple(sorted(s.labels.items())): s.value for s in family.samples}

    assert pending() == {}  # nothing owed yet, no system_id seen: no sample
    app.smsc.inject_mo("447700900123", "88123", text="HELLO")
    assert pending() == {(("system_id", "test"),): 1.0}
    [delivery] = app.smsc.take_deliveries("test", 10)
    app.smsc.delivery_acked(delivery.delivery_id, 0)
    assert pending() == {(("system_id", "test"),): 0.0}
