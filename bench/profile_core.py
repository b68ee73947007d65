"""Side-by-side quick comparison of smsc against the baseline server, with an optional cProfile of smsc.

A working tool for the core speed work (issue 5): starts ``bench.baseline_server`` and ``smsc serve`` (config
``config/bench.yaml``, store chosen on the command line), runs ``bench.load`` against each in turn, ``--repeat``
times interleaved, and prints one JSON line per run plus the smsc/baseline ratio of each round.

    python -m bench.profile_core --store memory --repeat 3 --count 10000
    python -m bench.profile_core --store memory --profile /tmp/smsc.prof   # cProfile the smsc process

Every child is stopped with SIGINT by its own pid; every wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
_PORT_RX = re.compile(r"protocol=smpp.*?port=(\d+)|port=(\d+).*?protocol=smpp|^port (\d+)")


def _wait_port(proc: subprocess.Popen[str], timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"child exited with {proc.returncode}")
            continue
        m = _PORT_RX.search(line)
        if m:
            return int(next(g for g in m.groups() if g))
    raise RuntimeError("child did not report its port in time")


def _stop(proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


async def _run_load_global(port: int, args: argparse.Namespace) -> dict[str, object]:
    """bench.load's run against ``port``.  It ends when every submit is answered and, with receipts, a receipt
    has arrived for every accepted message wherever it arrived (smsc hands a system_id's receipts to any of its
    binds, round robin): bench.load counts them across its worker processes itself.  (This once also patched
    bench.load's protocol class to watch for that here, which did nothing: the binds live in the workers.)"""
    from bench import load

    return await load.run_load(host="127.0.0.1", port=port, binds=args.binds, window=args.window,
                               count=args.count, receipts=not args.no_receipts, timeout=args.timeout)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` used so far (all threads), 0.0 if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _load(port: int, args: argparse.Namespace) -> dict[str, object]:
    cmd = [PY, "-m", "bench.profile_core", "--load-only", str(port), "--binds", str(args.binds),
           "--window", str(args.window), "--count", str(args.count), "--timeout", str(args.timeout)]
    if args.no_receipts:
        cmd.append("--no-receipts")
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.timeout + 30)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"load failed: {out.stderr[-2000:]}")
    return json.loads(lines[-1])


def _start_smsc(args: argparse.Namespace, db: str) -> subprocess.Popen[str]:
    cmd = [PY]
    if args.pyspy:
        cmd = [os.path.join(os.path.dirname(PY), "py-spy"), "record", "--format", "raw", "--threads", "--rate", "250", *(["--gil"] if os.environ.get("PYSPY_GIL") else []),
               "-o", args.pyspy, "--", PY]
    if args.profile:
        cmd += ["-m", "cProfile", "-o", args.profile]
    cmd += ["-m", "smsc", "serve", "-c", os.path.join(ROOT, "config", "bench.yaml"), "--port", "0",
            "--no-http", "--store", args.store, "--db", db, "--log-level", "info"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    ap.add_argument("--binds", type=int, default=4)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--count", type=int, default=10000, help="messages per bind")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-receipts", action="store_true")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--profile", help="write a cProfile of the smsc process to this file (one smsc run)")
    ap.add_argument("--pyspy", help="record the smsc process with py-spy (collapsed stacks, all threads) to this file")
    ap.add_argument("--load-only", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.load_only:
        import asyncio

        print(json.dumps(asyncio.run(_run_load_global(args.load_only, args))))
        return 0
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeat):
            base_rate = 0.0
            if not args.no_baseline:
                base = subprocess.Popen([PY, "-m", "bench.baseline_server", "--port", "0"], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                try:
                    result = _load(_wait_port(base), args)
                finally:
                    _stop(base)
                base_rate = float(result["submit_per_s"])  # type: ignore[arg-type]
                print(json.dumps({"server": "baseline", "round": round_, **result}), flush=True)
            db = os.path.join(tmp, f"bench{round_}.sqlite")
            smsc = _start_smsc(args, db)
            try:
                port = _wait_port(smsc)
                cpu0 = _cpu_seconds(smsc.pid)
                result = _load(port, args)
                cpu = _cpu_seconds(smsc.pid) - cpu0
                rss = _rss_kib(smsc.pid)
            finally:
                _stop(smsc)
            rate = float(result["submit_per_s"])  # type: ignore[arg-type]
            ratio = rate / base_rate if base_rate else 0.0
            ratios.append(ratio)
            ok = max(1, int(result["ok"]))  # type: ignore[call-overload]
            print(json.dumps({"server": f"smsc-{args.store}", "round": round_, "ratio": round(ratio, 3),
                              "server_cpu_us_per_msg": round(cpu / ok * 1e6, 1),
                              "peak_rss_mib": round(rss / 1024, 1), **result}), flush=True)
            if args.profile or args.pyspy:
                break
    if ratios and not args.no_baseline:
        print(json.dumps({"ratios": [round(r, 3) for r in ratios], "median": round(sorted(ratios)[len(ratios) // 2], 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
