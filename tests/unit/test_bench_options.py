"""The benchmark commands' option defaults (the harness itself runs in tests/integration/test_bench_smoke.py)."""

from __future__ import annotations

from bench import load, run


def test_load_timeout_defaults_to_120_seconds_beyond_the_duration() -> None:
    # A fixed 120 s default ended every run of a longer --duration unfinished.
    assert load.parse_args(["--port", "1"]).timeout == 120.0
    assert load.parse_args(["--port", "1", "--duration", "300"]).timeout == 420.0
    assert load.parse_args(["--port", "1", "--duration", "300", "--timeout", "30"]).timeout == 30.0


def test_run_timeout_defaults_to_120_seconds_beyond_the_duration() -> None:
    assert run.parse_args([]).timeout == 123.0  # (--duration 3 by default)
    assert run.parse_args(["--duration", "600"]).timeout == 720.0
    assert run.parse_args(["--duration", "600", "--timeout", "50"]).timeout == 50.0
    args = run.parse_args(["drain", "--queue", "0,1000", "--stores", "sqlite"])
    assert args.queue == [1000] and args.stores == ["sqlite"]


def test_drain_table_gives_the_median_of_the_repetitions_and_complete_only_when_each_was() -> None:
    # The queue axis ran once whatever --repeats said, and its table showed the last record of a point.
    def rec(rep: int, case: str, finished: bool = True, **figures: float) -> dict:
        return {"scenario": "drain", "store": "sqlite", "queue": 1000, "rep": rep, "case": case,
                "finished": finished, **figures}

    records = [
        rec(0, "fill", submit_per_s=200.0, server_rss_kib=2048),
        rec(0, "drain", finished=False, drain_per_s=20.0, drain_ratio=0.2),
        rec(1, "fill", submit_per_s=300.0, server_rss_kib=3072), rec(1, "drain", drain_per_s=30.0, drain_ratio=0.3),
        rec(2, "fill", submit_per_s=100.0, server_rss_kib=1024), rec(2, "drain", drain_per_s=10.0, drain_ratio=0.1),
    ]
    table = run.drain_table(records, 100.0)
    row = next(line.split() for line in table.splitlines() if line.startswith("sqlite 1,000"))
    assert row[2:4] == ["200", "2.00"]  # fill/s and RSS full MiB: medians of 200/300/100 and 2/3/1 MiB
    assert row[-4:] == ["20.0", "0.20", "-", "NO"]  # drain/s, ratio, peak RSS (none), not every rep complete
