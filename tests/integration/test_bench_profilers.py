"""The in-process profiling tools of bench/ still run against the current server (they are not in the standard
comparison, so nothing else would notice one falling behind an API change: bench.profile_adapter did, once)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.callgrind import _totals

ROOT = Path(__file__).resolve().parents[2]


def _run_tool(*args: str) -> dict[str, object]:
    """Run ``python -m bench.<tool> ...`` and return the dict it prints last (bounded to 120 s)."""
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONHASHSEED="0"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert isinstance(result, dict)
    return result


@pytest.mark.parametrize("window", [1, 50])
def test_profile_server_answers_every_submit_and_receipt(window: int) -> None:
    r = _run_tool("bench.profile_server", "--count", "200", "--window", str(window), "--repeat", "1")
    assert (r["messages"], r["responses"], r["receipts"], r["errors"]) == (200, 200, 200, 0)
    assert isinstance(r["cpu_us_per_msg"], float) and r["cpu_us_per_msg"] > 0


def test_profile_server_with_sqlite_finishes_however_the_receipts_fall_on_the_binds() -> None:
    # Tester 63: with SQLite the receipts fell 1300/1300/1200/1200 on the binds, and the run, which waited for
    # 1,250 on each, spun to --rounds-max.  (--rounds-max bounds this test: it ran 2,933 rounds for 5,000.)
    r = _run_tool("bench.profile_server", "--store", "sqlite", "--count", "3000", "--repeat", "1",
                  "--rounds-max", "20000")
    assert (r["messages"], r["responses"], r["receipts"], r["errors"]) == (3000, 3000, 3000, 0)


def test_profile_adapter_stand_in_core_serves_the_real_adapter() -> None:
    """The stand-in core implements the whole SmscApi: with one missing, every read failed on the server side
    and the tool ran to its round limit with no response at all."""
    r = _run_tool("bench.profile_adapter", "--count", "400", "--repeat", "1", "--rounds-max", "1000")
    assert (r["messages"], r["responses"], r["receipts"]) == (400, 400, 400)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_callgrind_totals_reads_the_instruction_count_of_a_real_callgrind_file(tmp_path: Path) -> None:
    out = tmp_path / "callgrind.out"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "/bin/true"],
                   capture_output=True, timeout=60, check=True)
    lines = [line for line in out.read_text().splitlines() if line.startswith(("summary:", "totals:"))]
    assert lines, "callgrind wrote no summary or totals line"
    assert _totals(str(out)) == int(lines[-1].split()[1]) > 0
