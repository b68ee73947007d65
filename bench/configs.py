"""Config files for the scenarios: config/bench.yaml, changed only where a scenario needs it.

The standard comparison runs config/bench.yaml as it is.  Other scenarios write a variant into the run's
work directory: handsets of some numbers switched off (offline then drain), session timers and connection
limits for many idle binds.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from bench.servers import REPO

__all__ = ["BENCH_CONFIG", "OFFLINE_PREFIX", "load_bench", "write_variant"]

BENCH_CONFIG = REPO / "config" / "bench.yaml"

#: Numbers starting with this prefix have their handsets off until the control API switches them on.
OFFLINE_PREFIX = "4477008"


def load_bench() -> dict[str, Any]:
    """config/bench.yaml as plain data."""
    with open(BENCH_CONFIG, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def write_variant(workdir: Path, name: str, *, offline_prefix: str | None = None, http: bool | None = None,
                  server: dict[str, Any] | None = None, max_binds: int | None = None) -> Path:
    """Write config/bench.yaml with changes to ``workdir/name.yaml`` and return its path.

    ``offline_prefix``: a number rule ``offline: always`` on every carrier for numbers with that prefix
    (their messages wait until ``PUT /api/handsets/{number}`` switches the handset on).  ``http``: the
    http.enabled flag.  ``server``: keys of the ``server`` section to override (timers in seconds).
    ``max_binds``: of every account.
    """
    data = copy.deepcopy(load_bench())
    if offline_prefix:
        for carrier in data["topology"]["carriers"]:
            rules = carrier.setdefault("rules", [])
            rules.append({"prefixes": [offline_prefix], "offline": "always",
                          "note": "bench: off until switched on through the control API"})
    if http is not None:
        data.setdefault("http", {})["enabled"] = http
    if server:
        data.setdefault("server", {}).update(server)
    if max_binds is not None:
        for account in data["accounts"]:
            account["max_binds"] = max_binds
    path = workdir / f"{name}.yaml"
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh, sort_keys=False)
    return path
