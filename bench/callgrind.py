"""Instructions per message of the whole server path, counted by valgrind's callgrind: a speed figure that does
not drift with the machine's load.

Timings on this shared 2-core machine move by 15-40 % between runs; an instruction count of the same code and
input moves by well under 1 %.  This runs ``bench.profile_server`` (the real application, in-memory transports,
no sockets) under ``valgrind --tool=callgrind`` twice, with ``--count N`` and ``--count 2N`` messages, and prints
``(instructions(2N) - instructions(N)) / N``: start-up, imports and shut-down cancel out, what is left is the
cost of one more message (submit_sm in, submit_sm_resp out, receipt out, deliver_sm_resp in).  Every process
the run starts is counted (``--trace-children=yes``: the SQLite store's writer child too).

    python -m bench.callgrind                          # memory store, 4 binds x window 100, N = 2000
    python -m bench.callgrind --window 1 --store sqlite
    python -m bench.callgrind --count 4000 --label after

Prints one JSON line.  Fewer instructions is not always faster (cache misses and system calls are not in the
count), so a change that saves instructions is still checked live with ``python -m bench.run``.  Needs valgrind
(Debian package ``valgrind``); each run is bounded by ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _totals(path: str) -> int:
    """The instructions (``Ir``) one callgrind output file counted: its ``summary:`` or ``totals:`` line."""
    total = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    return total


def count_instructions(count: int, args: argparse.Namespace, workdir: str) -> int:
    """Instructions of one ``bench.profile_server`` run of ``count`` messages, every process summed.

    Raises RuntimeError when the run fails or writes no callgrind output; subprocess.TimeoutExpired past
    ``args.timeout`` seconds (the run is killed)."""
    outdir = tempfile.mkdtemp(prefix=f"cg{count}-", dir=workdir)
    cmd = [
        "valgrind", "--tool=callgrind", "--trace-children=yes",
        f"--callgrind-out-file={outdir}/callgrind.out.%p",
        sys.executable, "-m", "bench.profile_server", "--repeat", "1", "--count", str(count),
        "--binds", str(args.binds), "--window", str(args.window), "--store", args.store,
    ]
    if args.uvloop:
        cmd.append("--uvloop")
    # valgrind's own children inherit PYTHONHASHSEED: the same seed in both runs keeps dict layouts alike.
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"profile_server under callgrind exited {proc.returncode}: {proc.stderr[-2000:]}")
    files = glob.glob(os.path.join(outdir, "callgrind.out.*"))
    if not files:
        raise RuntimeError(f"callgrind wrote no output in {outdir}")
    return sum(_totals(f) for f in files)


def main(argv: list[str] | None = None) -> int:
    # (the docstring's first sentence, whole: its first line alone stopped mid-sentence: tester 95)
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    ap.add_argument("--count", type=int, default=2000, help="N: messages of the first run (the second has 2N)")
    ap.add_argument("--binds", type=int, default=4)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop (as smsc serve does when installed)")
    ap.add_argument("--label", default="", help="copied into the JSON line")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds each callgrind run may take")
    args = ap.parse_args(argv)
    # (--count 0 ran valgrind for 10 s, then divided by zero: tester 95)
    for name, value, least in (("--count", args.count, 1), ("--binds", args.binds, 1), ("--window", args.window, 1)):
        if value < least:
            ap.error(f"{name}: expected a whole number of at least {least}, got {value}")
    if not args.timeout > 0:
        ap.error(f"--timeout: expected seconds above 0, got {args.timeout}")
    if shutil.which("valgrind") is None:
        print("valgrind not found (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="smsc-callgrind-") as workdir:
            once = count_instructions(args.count, args, workdir)
            twice = count_instructions(2 * args.count, args, workdir)
    except subprocess.TimeoutExpired:  # (a traceback before: tester 95)
        print(f"callgrind: a run took longer than --timeout {args.timeout:g} s", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"callgrind: {exc}", file=sys.stderr)
        return 1
    result: dict[str, Any] = {
        "label": args.label, "store": args.store, "binds": args.binds, "window": args.window,
        "count": args.count, "instructions_n": once, "instructions_2n": twice,
        "instructions_per_msg": round((twice - once) / args.count),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
