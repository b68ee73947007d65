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
    written = []
    queue = [r for r in records if r.get("scenario") == "queue"]
    if queue:
        written.append(_plot_queue(plt, queue, outdir))
    for axis, recs in axes.items():
        names = sorted({r["server"] for r in recs})
        colour = {name: f"C{i}" for i, name in enumerate(names)}
        fig, panels = plt.subplots(1, 3, figsize=(15, 4.2))
        for panel, (key, label, logy) in zip(panels, _METRICS):
            for server, pts in sorted(_series(recs, key).items()):
                xs = [p[0] for p in pts]
                ys = [p[1] for p in pts]
                panel.plot(xs, ys, marker="o", label=server, color=colour[server])
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


def _plot_queue(plt: Any, records: list[dict[str, Any]], outdir: Path) -> Path:
    """queue.png: load beside the waiting queue (submit_sm/s, p99), server RSS with the queue full and at
    its peak while draining, and the drain rate, against the queue size."""
    def pts(case: str, key: str, scale: float = 1.0) -> dict[str, list[tuple[float, float]]]:
        recs = [{**r, "x": r["queue"], "server": r["server"]} for r in records
                if r.get("case") == case and r.get(key) is not None]
        return _series([{**r, "v": r[key] / scale} for r in recs], "v")

    panels_spec = [
        ("submit_sm/s beside the queue (4 x 100, receipts)", {"": pts("load", "submit_per_s")}, False),
        ("p99 submit -> resp beside the queue (ms)", {"": pts("load", "p99_ms")}, True),
        # (the peak under the load run beside the full queue, not the table's "RSS full" after the fill: tester 95)
        ("server RSS (MiB)", {"queue full, under load": pts("load", "server_rss_peak_kib", 1024),
                              "peak while draining": pts("drain", "server_hwm_kib", 1024)}, False),
        ("drain: receipts/s once handsets are on", {"": pts("drain", "drain_per_s")}, False),
    ]
    names = sorted({r["server"] for r in records})
    colour = {name: f"C{i}" for i, name in enumerate(names)}
    fig, panels = plt.subplots(1, 4, figsize=(19, 4.2))
    sizes = sorted({float(r["queue"]) for r in records})
    for panel, (label, groups, logy) in zip(panels, panels_spec):
        drawn = False
        for suffix, series in groups.items():
            for server, p in sorted(series.items()):
                drawn = True
                panel.plot([x for x, _ in p], [y for _, y in p], marker="o", color=colour.get(server),
                           label=f"{server} {suffix}".strip(), linestyle="--" if suffix.startswith("peak") else "-")
        if sizes[-1] > 0:
            panel.set_xscale("symlog", linthresh=1e5)
        else:  # (only --queue 0: one point, on a plain axis; symlog around 0 alone printed ticks of 5.5e-2)
            panel.set_xticks([0])
        if logy and drawn:
            panel.set_yscale("log")
        panel.set_xlabel("messages waiting for offline handsets")
        panel.set_ylabel(label)
        panel.grid(True, alpha=0.3)
        if drawn:
            panel.legend(fontsize=8)
        else:
            panel.text(0.5, 0.5, "nothing to drain:\nno queue size above 0", ha="center", va="center",
                       transform=panel.transAxes)
    fig.suptitle("smsc: cost against the number of messages waiting for offline handsets")
    fig.tight_layout()
    path = outdir / "queue.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m bench.plot RECORDS.jsonl OUTDIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.plot RECORDS.jsonl OUTDIR", file=sys.stderr)
        return 2
    records = [json.loads(line) for line in Path(args[0]).read_text().splitlines() if line.strip()]
    try:
        paths = plot_all(records, Path(args[1]))
    except ImportError:  # (a traceback before: tester 95)
        print("bench.plot needs matplotlib: pip install -e '.[plot]'", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
