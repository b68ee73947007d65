"""Routing: longest-prefix MT routes to carriers, MO routes to system_ids, and building the world."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from smsc.config import CarrierConfig, Config, HandsetConfig, MoRoute, Route, Topology, load_config
from smsc.core.carrier import Carrier
from smsc.core.routing import Router, build_world
from smsc.smpp.constants import Npi, Ton

T0 = 1_700_000_000.0


def router(carriers: dict[str, tuple[str, ...]], routes: tuple[Route, ...] = (),
           mo_routes: tuple[MoRoute, ...] = ()) -> Router:
    configs = tuple(CarrierConfig(name=name, prefixes=prefixes) for name, prefixes in carriers.items())
    topology = Topology(carriers=configs, routes=routes, mo_routes=mo_routes)
    return Router(topology, {c.name: Carrier(c) for c in configs})


def name(carrier: Carrier | None) -> str | None:
    return None if carrier is None else carrier.name


def test_route_takes_the_longest_matching_prefix() -> None:
    r = router({"uk-a": ("44",), "uk-b": ("4477",), "test": ("447700900",), "us": ("1",)},
               routes=(Route(prefix="4477009007", carrier="uk-a"),))
    assert name(r.route("447700900123")) == "test"
    assert name(r.route("447700900700")) == "uk-a"
    assert name(r.route("447911123456")) == "uk-a"
    assert name(r.route("447712345678")) == "uk-b"
    assert name(r.route("12125550100")) == "us"
    assert r.route("33612345678") is None


def test_catch_all_route_takes_every_number_without_a_better_match() -> None:
    r = router({"uk": ("44",), "world": ()}, routes=(Route(prefix="", carrier="world"),))
    assert name(r.route("447700900123")) == "uk"
    assert name(r.route("33612345678")) == "world"
    assert name(r.route("88123")) == "world"


@pytest.mark.parametrize("address", ["", "MyBank", "+447700900123", "4477 00900123", "٤٤٧٧"])
def test_non_numeric_destinations_have_no_route_even_with_a_catch_all(address: str) -> None:
    r = router({"world": ("",)})
    assert r.route(address) is None


def test_mo_target_maps_short_codes_numbers_and_prefixes_to_system_ids() -> None:
    r = router({"uk": ("44",)}, mo_routes=(
        MoRoute(prefix="88123", system_id="shop"),
        MoRoute(prefix="447700900000", system_id="bank"),
        MoRoute(prefix="4477009009", system_id="replies"),
    ))
    assert r.mo_target("88123") == "shop"
    assert r.mo_target("447700900000") == "bank"
    assert r.mo_target("+447700900000") == "bank"
    assert r.mo_target("07700900000") == "bank"  # national form, home country 44
    assert r.mo_target("447700900950") == "replies"
    assert r.mo_target("88124") is None
    assert r.mo_target("447700900001") is None
    assert r.mo_target("ShopCo") is None


def test_an_mo_route_written_as_a_number_takes_that_number_only() -> None:
    """Tester 170: ``number: "6060"`` also took MO to 60607, and ``number: "447700900000"`` MO to 4477009000001
    (number routes went into the prefix table)."""
    r = router({"uk": ("44",)}, mo_routes=(
        MoRoute(prefix="6060", system_id="shop", exact=True),
        MoRoute(prefix="447700900000", system_id="bank", exact=True),
        MoRoute(prefix="44770090", system_id="replies"),
    ))
    assert r.mo_target("6060") == "shop"
    assert r.mo_target("60607") is None and r.mo_target("606") is None
    assert r.mo_target("447700900000") == r.mo_target("07700900000") == "bank"
    assert r.mo_target("4477009000001") == "replies"  # (the prefix route, not the number's)


def test_mo_catch_all_prefix() -> None:
    r = router({"uk": ("44",)}, mo_routes=(MoRoute(prefix="", system_id="all"), MoRoute(prefix="1", system_id="us")))
    assert r.mo_target("12125550199") == "us"
    assert r.mo_target("88123") == "all"
    assert r.mo_target("Brand") is None


def test_router_normalises_with_the_topology_country() -> None:
    r = router({"uk": ("44",)})
    assert r.normalise(Ton.NATIONAL, Npi.ISDN, "07700900123") == "447700900123"
    assert name(r.route(r.normalise(Ton.UNKNOWN, Npi.ISDN, "+44 7700 900123"))) == "uk"


def test_router_refuses_an_unknown_carrier_or_a_duplicate_prefix() -> None:
    config = CarrierConfig(name="a", prefixes=("44",))
    with pytest.raises(KeyError):
        Router(Topology(carriers=(config,), routes=(Route(prefix="1", carrier="b"),)), {"a": Carrier(config)})
    with pytest.raises(ValueError):
        Router(Topology(carriers=(config,), routes=(Route(prefix="44", carrier="a"),)), {"a": Carrier(config)})


def test_default_world_routes() -> None:
    world = build_world(load_config(), random.Random(0))
    assert set(world.carriers) == {"britmobile", "thames", "liberty"}
    expected = {
        "447700900123": "britmobile", "447812345678": "britmobile", "447412345678": "thames",
        "447700900700": "thames", "447700900799": "thames", "447700900800": "britmobile",
        "12125550100": "liberty", "13105551234": "liberty", "442071234567": "britmobile",
        "33612345678": "britmobile", "88123": "britmobile",
    }
    assert {n: name(world.route(n)) for n in expected} == expected
    assert world.mo_target("88123") == "test"
    assert world.mo_target("+12125550199") == "test"
    assert world.carrier("thames") is world.carriers["thames"]
    assert world.carrier("nope") is None
    assert ("", world.carriers["britmobile"]) in list(world.prefixes())


def write_config(tmp_path: Path, seed: str) -> Config:
    path = tmp_path / f"world-{seed}.yaml"
    path.write_text(textwrap.dedent(f"""
        accounts: [{{system_id: a, password: b}}]
        simulation: {{seed: {seed}}}
        topology:
          carriers:
            - name: a
              prefixes: ["*"]
              handsets: {{online_probability: 0.5}}
        """), encoding="utf-8")
    return load_config(path)


def online_map(world: Router) -> list[bool]:
    pool = world.carriers["a"].handsets
    return [pool.is_online(str(447700000000 + i), T0) for i in range(300)]


def test_build_world_uses_the_configured_seed_whatever_the_rng(tmp_path: Path) -> None:
    config = write_config(tmp_path, "42")
    assert online_map(build_world(config, random.Random(1))) == online_map(build_world(config, random.Random(2)))
    other = write_config(tmp_path, "43")
    assert online_map(build_world(other, random.Random(1))) != online_map(build_world(config, random.Random(1)))


def test_build_world_without_a_seed_draws_one_from_the_rng(tmp_path: Path) -> None:
    config = write_config(tmp_path, "null")
    assert online_map(build_world(config, random.Random(7))) == online_map(build_world(config, random.Random(7)))
    assert online_map(build_world(config, random.Random(7))) != online_map(build_world(config, random.Random(8)))


def test_build_world_gives_each_carrier_its_retry_schedule_and_handsets(tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(textwrap.dedent("""
        accounts: [{system_id: a, password: b}]
        simulation: {retry_schedule: [10s, 20s]}
        topology:
          carriers:
            - {name: a, prefixes: ["44"], retry_schedule: [1m]}
            - {name: b, prefixes: ["1"], handsets: {online_probability: 0.0}}
        """), encoding="utf-8")
    world = build_world(load_config(path), random.Random(0))
    assert world.carriers["a"].retry_schedule == (60.0,)
    assert world.carriers["b"].retry_schedule == (10.0, 20.0)
    assert world.carriers["b"].handsets.config == HandsetConfig(online_probability=0.0)
    assert not world.carriers["b"].handsets.is_online("12125550100", T0)
