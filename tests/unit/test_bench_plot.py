"""bench.plot's PNGs from run records (matplotlib is the optional ``plot`` extra: skipped without it).

The plots are drawn by ``python -m bench.plot`` in a process of its own: matplotlib leaves garbage behind that
other tests of this process count."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib (the plot extra) missing")
def test_queue_plot_of_queue_size_0_only_draws_its_points_and_says_there_is_nothing_to_drain(tmp_path: Path) -> None:
    # `curves --queue 0` gave a plot with ticks at -5.5e-2 and 5.5e-2 and an empty drain panel with an empty legend.
    records = tmp_path / "runs.jsonl"
    records.write_text("".join(
        json.dumps({"scenario": "queue", "store": store, "server": f"smsc-{store}", "queue": 0, "case": "load",
                    "submit_per_s": rate, "p99_ms": 9.0, "server_rss_peak_kib": 50_000, "rep": 0}) + "\n"
        for store, rate in (("memory", 60_000.0), ("sqlite", 50_000.0))))
    # -W error: matplotlib warned "No artists with labels found to put in legend" for the drain panel.
    done = subprocess.run([sys.executable, "-W", "error", "-m", "bench.plot", str(records), str(tmp_path / "png")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "png" / "queue.png"
    assert done.stdout.split() == [str(path)]
    assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
