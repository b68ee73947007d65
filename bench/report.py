"""Readable tables from run records: aligned text columns, medians, ratios to the baseline.

A *record* is the dict one run prints as a JSON line (see bench/run.py): the load generator's figures plus
``scenario``, ``case``, ``server``, ``rep`` and the server's ``server_*`` figures.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["fmt", "format_table", "median", "ratio_rows"]


def fmt(value: Any) -> str:
    """A cell: thousands separators for big numbers, 2 significant decimals for small ones, '-' for None."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Text table: first column left-aligned, the others right-aligned, a rule under the headers."""
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row))

    out = [line(list(headers)), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells]
    return "\n".join(out)


def median(values: Iterable[float | None]) -> float | None:
    """Median of the values that are not None; None when there are none."""
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def ratio_rows(records: list[dict[str, Any]], *, case_key: str = "case", baseline: str = "baseline",
               metrics: Sequence[str] = ("submit_per_s", "receipts_per_s")) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (case, server): the median of each metric over repetitions, and the median over repetitions of
    the ratio to the baseline's run of the same repetition and case (``<metric>_ratio``), plus
    ``p99_ratio`` (smsc p99 / baseline p99) and ``all_finished``."""
    base: dict[tuple[str, int], dict[str, Any]] = {}
    for r in records:
        if r["server"] == baseline:
            base[(r[case_key], r["rep"])] = r
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r[case_key], r["server"]), []).append(r)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for key, runs in groups.items():
        row: dict[str, Any] = {"runs": len(runs), "all_finished": all(r.get("finished") for r in runs)}
        for m in (*metrics, "p99_ms", "server_cpu_us_per_msg", "client_cpu_us_per_msg", "client_cpu_cores",
                  "server_rss_peak_kib"):
            row[m] = median(r.get(m) for r in runs)
        for m in metrics:
            ratios = []
            for r in runs:
                b = base.get((r[case_key], r["rep"]))
                if b and b.get(m):
                    ratios.append(r.get(m, 0.0) / b[m])
            row[f"{m}_ratio"] = median(ratios)
        p99 = []
        for r in runs:
            b = base.get((r[case_key], r["rep"]))
            if b and b.get("p99_ms"):
                p99.append(r.get("p99_ms", 0.0) / b["p99_ms"])
        row["p99_ratio"] = median(p99)
        out[key] = row
    return out
