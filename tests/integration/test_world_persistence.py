"""What the simulated world keeps across a restart on the same SQLite file: the simulation time of a scaled
clock (so time never runs backwards for stored messages) and the opted-out handsets."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from smsc.config import Config

from .conftest import RunningSmsc, make_config


def _fast(tmp_path: Path) -> Config:
    cfg = make_config(tmp_path)
    return dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation, time_scale=3600.0))


def test_a_scaled_clock_resumes_where_it_was_after_a_restart(tmp_path: Path) -> None:
    cfg = _fast(tmp_path)
    first = RunningSmsc(cfg)
    first.start()
    time.sleep(0.5)  # half a real second: half a simulated hour ahead of the wall clock
    before = first.call(lambda: first.app.clock.now())
    first.stop()
    assert before > time.time() + 1000

    second = RunningSmsc(cfg)
    second.start()
    try:
        after = second.call(lambda: second.app.clock.now())
        assert after >= before
    finally:
        second.stop()


def test_an_opted_out_handset_stays_opted_out_after_a_restart(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    first = RunningSmsc(cfg)
    first.start()
    number = "447700900150"

    def opt_out() -> None:
        carrier = first.app.smsc.router.route(number)  # type: ignore[union-attr]
        carrier.handsets.opt_out(number)

    first.call(opt_out)
    first.stop()

    second = RunningSmsc(cfg)
    second.start()
    try:
        opted = second.call(lambda: second.app.smsc.router.route(number).handsets.opted_out(number))  # type: ignore[union-attr]
        assert opted
    finally:
        second.stop()
