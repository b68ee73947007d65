"""PNG curves from run records: throughput, p99 and RSS against binds, window and queue size.

matplotlib is an optional extra (``pip install -e '.[plot]'``); nothing else in bench/ imports it.

    python -m bench.plot results.jsonl bench/plots      # re-plot records written with --jsonl
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["main", "plot_all"]

_METRICS = (("submit_per_s", "submit_sm/s", False), ("p99_ms", "p99 submit -> resp (ms)", True),
            ("server_rss_peak_kib", "server RSS (MiB)", False))


def _series(records: Iterable[dict[str, Any]], key: str) -> dict[str, list[tuple[float, float]]]:
    """server -> sorted [(x, median of ``key`` over repetitions)]."""
    from statistics import median

    acc: dict[str, dict[float, list[float]]] = {}
    for r in records:
        value = r.get(key)
        if value is None:
            continue
        if key == "server_rss_peak_kib":
            value = value / 1024
        acc.setdefault(r["server"], {}).setdefault(float(r["x"]), []).append(float(value))
    return {s: sorted((x, median(v)) for x, v in pts.items()) for s, pts in acc.items()}


def plot_all(records: list[dict[str, Any]], outdir: Path) -> list[Path]:
    """Write one PNG per axis present in ``records`` (binds, window, queue) into ``outdir``; returns
    the paths.  Raises ImportError when matplotlib is not installed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir.mkdir(parents=True, exist_ok=True)
    axes: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r.get("scenario") == "curve":
            axes.setdefault(r["axis"], []).append(r)
        elif r.get("scenario") == "queue" and r.get("case") == "load":
            axes.setdefault("queue", []).append({**r, "x": r["queue"]})
    written = []
    for axis, recs in axes.items():
        fig, panels = plt.subplots(1, 3, figsize=(15, 4.2))
        for panel, (key, label, logy) in zip(panels, _METRICS):
            for server, pts in sorted(_series(recs, key).items()):
                xs = [p[0] for p in pts]
                ys = [p[1] for p in pts]
                panel.plot(xs, ys, marker="o", label=server)
            if axis in ("binds", "window"):
                panel.set_xscale("log", base=10 if axis == "window" else 2)
            elif axis == "queue":
                panel.set_xscale("symlog", linthresh=1e5)
            if logy:
                panel.set_yscale("log")
            panel.set_xlabel({"binds": "binds (window 100, receipts)", "window": "window (4 binds, receipts)",
                              "queue": "messages waiting for offline handsets"}.get(axis, axis))
            panel.set_ylabel(label)
            panel.grid(True, alpha=0.3)
            panel.legend(fontsize=8)
        fig.suptitle(f"smsc vs the minimal asyncio baseline: cost against {axis}")
        fig.tight_layout()
        path = outdir / f"{axis}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m bench.plot RECORDS.jsonl OUTDIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.plot RECORDS.jsonl OUTDIR", file=sys.stderr)
        return 2
    records = [json.loads(line) for line in Path(args[0]).read_text().splitlines() if line.strip()]
    for path in plot_all(records, Path(args[1])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
