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
