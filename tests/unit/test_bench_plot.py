"""bench.plot's PNGs from run records (matplotlib is the optional ``plot`` extra: skipped without it)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from bench.plot import plot_all  # noqa: E402


def test_queue_plot_of_queue_size_0_only_draws_its_points_and_says_there_is_nothing_to_drain(tmp_path: Path) -> None:
    # `curves --queue 0` gave a plot with ticks at -5.5e-2 and 5.5e-2 and an empty drain panel with an empty legend.
    records = [{"scenario": "queue", "store": store, "server": f"smsc-{store}", "queue": 0, "case": "load",
                "submit_per_s": rate, "p99_ms": 9.0, "server_rss_peak_kib": 50_000, "rep": 0}
               for store, rate in (("memory", 60_000.0), ("sqlite", 50_000.0))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (matplotlib warned: no artists with labels found to put in legend)
        [path] = plot_all(records, tmp_path)
    assert path.name == "queue.png" and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
