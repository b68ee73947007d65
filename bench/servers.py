"""Start, watch and stop the servers under test as subprocesses: the baseline and smsc.

Each server runs in its own process on 127.0.0.1, port 0, with its output in a log file of the work
directory; the port is read from that log (the baseline prints ``port N``; smsc logs a JSON line with
``"event": "listening"`` and ``"protocol": "smpp"`` / ``"http"``).  Memory and CPU come from /proc:
``VmRSS`` / ``VmHWM`` of /proc/PID/status (KiB) and utime + stime of /proc/PID/stat (seconds), with those of
the server's child processes (smsc's SQLite writer child).

Every process is stopped by its own pid: SIGTERM, then SIGKILL after a grace period (several servers
at once: :func:`stop_servers`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["REPO", "ServerProcess", "raise_fd_limit", "start_baseline", "start_smsc", "stop_servers"]

#: The repository root (bench/ lives in it).
REPO = Path(__file__).resolve().parent.parent
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class ServerProcess:
    """One running server: ``name`` for tables, ``port`` (SMPP), ``http_port`` (smsc with HTTP, else None)."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int = 0
    http_port: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def memory_kib(self) -> dict[str, int]:
        """{"rss": VmRSS, "hwm": VmHWM} in KiB from /proc/PID/status; zeros when the process is gone."""
        out = {"rss": 0, "hwm": 0}
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return out
        for line in text.splitlines():
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                out["hwm"] = int(line.split()[1])
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the server has used so far: its process (all its threads), the children
        it waited for (cutime, cstime: a writer child that died and was reaped) and the children it has now
        (each one's utime + stime, and theirs in turn: smsc's SQLite store commits in a writer child process,
        whose CPU is the server's work too)."""
        return _cpu_ns(self.pid) / 1e9

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM this pid, wait up to ``grace`` seconds, then SIGKILL it; returns the exit status
        (:func:`stop_servers` of this one server)."""
        return stop_servers([self], grace)[0]


def stop_servers(servers: list[ServerProcess], grace: float = 10.0) -> list[int | None]:
    """Stop ``servers`` all at once, each by its own pid: SIGTERM to every one, one shared deadline of ``grace``
    seconds for all of them to exit, then SIGKILL to those left (and up to 5 s more for them); returns their
    exit statuses in order.

    Stopping them one after another, each given 2 s first in case Ctrl-C had reached it too, took 6 s for three
    servers when only bench.run got the SIGINT (tester 77).  No such wait is needed: the baseline and smsc both
    stop on SIGTERM as on SIGINT (the same handler), so a SIGTERM to a server already stopping changes nothing.
    """
    for server in servers:
        try:
            server.proc.send_signal(signal.SIGTERM)  # (nothing for a process already reaped)
        except OSError:
            pass
    _wait_all(servers, grace)
    for server in servers:
        if server.proc.poll() is None:
            try:
                server.proc.kill()
            except OSError:
                pass
    _wait_all(servers, 5.0)
    return [server.proc.returncode for server in servers]


def _wait_all(servers: list[ServerProcess], timeout: float) -> None:
    """Wait until every one of ``servers`` has exited or ``timeout`` seconds have passed, for all together."""
    deadline = time.monotonic() + timeout
    for server in servers:
        try:
            server.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass


def _children(pid: int) -> list[int]:
    """The pids of ``pid``'s live children: from /proc/PID/task/TID/children (each thread lists the children it
    started) when the kernel has it (CONFIG_PROC_CHILDREN), else by the parent pid of every /proc/N/stat."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            found.extend(int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        except FileNotFoundError:
            break  # (no such file on this kernel: scan)
        except OSError:
            continue
    else:
        return found
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                found.append(int(entry))
    return found


def _cpu_ns(pid: int, depth: int = 0) -> int:
    """Nanoseconds of CPU used by ``pid``: the run time of each of its live threads (the first field of
    ``/proc/PID/task/TID/schedstat``, nanoseconds on a CPU, user and system together), the children it waited for
    (cutime + cstime, in clock ticks: all the kernel keeps of them), and its live children counted the same way.
    Clock ticks alone (utime + stime) count in 10 ms steps, coarse for a short run (tester 34: an MO run's
    server CPU read 1.00, 3.00, 8.00 us per message); they are the fallback where schedstat is missing.  0 for a
    process gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    if os.path.exists(f"/proc/{pid}/schedstat"):
        ns = 0
        for tid in tasks:
            try:
                ns += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # (a thread that ended meanwhile)
    else:  # (no schedstat on this kernel: utime + stime, in clock ticks)
        ns = (int(fields[11]) + int(fields[12])) * 1_000_000_000 // _CLK_TCK
    ns += (int(fields[13]) + int(fields[14])) * 1_000_000_000 // _CLK_TCK
    if depth < 4:  # (bounded: smsc's children have none of their own)
        for child in _children(pid):
            ns += _cpu_ns(child, depth + 1)
    return ns


def raise_fd_limit(wanted: int = 65536) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``wanted`` (capped by the hard limit); children
    started afterwards inherit it.  Returns the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def _spawn(name: str, args: list[str], workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    # A log of its own per server started: a server of the same name started again (a --restart, every point
    # of a curve) wrote over the last one's (tester 95: with --workdir only the last log was left).
    log_path = workdir / f"{name}.log"
    for n in range(2, 10_000):  # (bounded)
        if not log_path.exists():
            break
        log_path = workdir / f"{name}-{n}.log"
    log = open(log_path, "wb")
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
                            env=env)
    log.close()
    return proc, log_path


def _wait_for(server: ServerProcess, found: Callable[[str], bool], timeout: float) -> None:
    """Read the log until ``found(line)`` has seen everything it needs; bounded by ``timeout`` seconds.  Whatever
    ends the wait otherwise (a timeout, Ctrl-C, SIGTERM) stops the server first: the caller has not kept it yet
    (tester 95: a SIGTERM to bench.run while an smsc started left that smsc running, its directory deleted).

    Ctrl-C acts at once here: the wait blocks the event loop, whose own SIGINT handler (asyncio.run's) would be
    heard only once it ended, up to ``timeout`` seconds later (tester 95)."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            text = server.log_path.read_text(errors="replace")
            lines = text.splitlines()
            complete = lines if text.endswith("\n") else lines[:-1]
            for line in complete[seen:]:
                if found(line):
                    return
            seen = len(complete)
            code = server.proc.poll()
            if code == -signal.SIGINT:
                # (Ctrl-C in a terminal reached the server too: an interrupt, not a server that failed to start)
                raise KeyboardInterrupt
            if code is not None:
                raise RuntimeError(f"{server.name} exited with {code}:\n{server.log_tail()}")
            time.sleep(0.02)
        raise RuntimeError(f"{server.name} did not report its port within {timeout} s:\n{server.log_tail()}")
    except BaseException:
        server.stop()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def start_baseline(workdir: Path, *, name: str = "baseline", uvloop: bool = False, mo_per_bind: int = 0,
                   timeout: float = 30.0) -> ServerProcess:
    """Start bench/baseline_server.py on port 0 and return it once it listens."""
    args = [sys.executable, "-m", "bench.baseline_server", "--host", "127.0.0.1", "--port", "0"]
    if uvloop:
        args.append("--uvloop")
    if mo_per_bind:
        args += ["--mo-per-bind", str(mo_per_bind)]
    proc, log_path = _spawn(name, args, workdir)
    server = ServerProcess(name=name, proc=proc, log_path=log_path)

    def found(line: str) -> bool:
        if line.startswith("port "):
            server.port = int(line.split()[1])
            return True
        return False

    _wait_for(server, found, timeout)
    return server


def start_smsc(workdir: Path, config: Path, *, name: str = "smsc", store: str = "memory", http: bool = False,
               db: Path | None = None, log_level: str = "info", timeout: float = 60.0) -> ServerProcess:
    """Start ``smsc serve`` with ``config`` on port 0 (``http``: the HTTP API on port 0 too) and return it
    once every listener it starts has reported its port.  ``db``: the SQLite file (default: in
    ``workdir``)."""
    args = [sys.executable, "-m", "smsc", "serve", "--host", "127.0.0.1", "--port", "0", "--log-format", "json",
            "--log-level", log_level, "-c", str(config), "--store", store]
    if store == "sqlite":
        args += ["--db", str(db or (workdir / f"{name}.sqlite"))]
    args += ["--http-port", "0"] if http else ["--no-http"]
    proc, log_path = _spawn(name, args, workdir)
    server = ServerProcess(name=name, proc=proc, log_path=log_path)

    def found(line: str) -> bool:
        try:
            rec = json.loads(line)
        except ValueError:
            return False
        if not isinstance(rec, dict) or rec.get("event") != "listening":
            return False
        if rec.get("protocol") == "smpp":
            server.port = int(rec["port"])
        elif rec.get("protocol") == "http":
            server.http_port = int(rec["port"])
        return bool(server.port) and (server.http_port is not None or not http)

    _wait_for(server, found, timeout)
    return server
