"""The process pool both load generators share (``load.py`` and ``idle.py``).

The parent splits the work into one spec per worker, starts the workers (spawn), watches their progress
through a shared array of counters (``nfields`` ints per worker) and two flags (go, stop), then collects the
one summary dict each worker sends through its pipe.  Every wait is bounded; a worker that does not end is
killed by its own pid.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import signal
from collections.abc import Callable, Coroutine
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from typing import Any

#: Indices of the two shared flags.
GO, STOP = 0, 1


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` near-equal integers (the first ones one larger)."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class Terminated(Exception):
    """The process got SIGTERM (see :func:`on_sigterm_raise`)."""


def on_sigterm_raise(signum: int, frame: Any) -> None:
    """A SIGTERM handler that raises :class:`Terminated` in the main thread, so that a run unwinds as after Ctrl-C:
    its ``finally`` blocks stop what it started (load workers, servers) instead of the process ending at once and
    leaving them running (tester 34 for bench.run; tester 107: bench.load's worker went on loading the server)."""
    raise Terminated()


def run_worker(index: int, main: Callable[[], Coroutine[Any, Any, dict[str, Any]]], counts: Any,
               failed_slot: int, conn: Connection) -> None:
    """Body of a worker process: run ``main()``, send its summary (or ``{"error": ...}``) through ``conn``.

    SIGINT is ignored (the parent handles Ctrl-C and raises the stop flag); an exception is reported, never
    raised across the process boundary, and marks ``counts[failed_slot]``.  The process started with SIGINT
    blocked (:class:`WorkerPool`); it is unblocked only once ignored, which also drops a Ctrl-C that came
    while the process was starting.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        summary = asyncio.run(main())
    except BaseException as exc:
        counts[failed_slot] = 1
        summary = {"error": f"{type(exc).__name__}: {exc}"}
    conn.send(summary)
    conn.close()


class WorkerPool:
    """Workers started from ``target(index, spec, counts, flags, conn)``, one per spec.

    Each starts with SIGINT blocked, which it inherits from the thread that starts it here: a new interpreter
    takes a few hundred milliseconds to import its way to :func:`run_worker`, and a Ctrl-C in that time (it
    reaches the whole process group) ended the worker with a 30-line KeyboardInterrupt traceback from
    multiprocessing's spawn code (tester 77).  The parent's SIGINT blocked meanwhile stays pending, and comes
    once the workers are started.
    """

    def __init__(self, target: Callable[..., None], specs: list[Any], nfields: int) -> None:
        ctx = mp.get_context("spawn")
        self.nfields = nfields
        self.n = len(specs)
        self.counts = ctx.Array("q", self.n * nfields, lock=False)
        self.flags = ctx.Array("b", 2, lock=False)
        self.workers: list[Any] = []
        self.pipes: list[Connection] = []
        # (multiprocessing starts its resource tracker on the first start, blocking SIGINT around it and then
        # unblocking it, which would unblock it here before the first worker: start the tracker first)
        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for i, spec in enumerate(specs):
                parent_end, child_end = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=target, args=(i, spec, self.counts, self.flags, child_end), daemon=True)
                proc.start()
                child_end.close()
                self.workers.append(proc)
                self.pipes.append(parent_end)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def total(self, field: int) -> int:
        """The sum of counter ``field`` over all workers."""
        return sum(self.counts[i * self.nfields + field] for i in range(self.n))

    def all_alive(self) -> bool:
        """True while no worker process has ended."""
        return all(w.is_alive() for w in self.workers)

    async def stop(self, *, receive_wait: float, join_wait: float) -> list[dict[str, Any]]:
        """Raise the stop flag, collect each worker's summary (waiting at most ``receive_wait`` seconds for
        each, off the event loop), join each for at most ``join_wait`` seconds, then kill what is left."""
        self.flags[STOP] = 1
        loop = asyncio.get_running_loop()
        summaries: list[dict[str, Any]] = []
        for pipe in self.pipes:
            got = await loop.run_in_executor(None, _receive, pipe, receive_wait)
            if got is not None:
                summaries.append(got)
        for proc in self.workers:
            proc.join(join_wait)
            if proc.is_alive():
                proc.kill()  # by its own pid (Process.kill sends SIGKILL to that pid only)
                proc.join(5.0)
        return summaries


def _receive(pipe: Connection, wait: float) -> dict[str, Any] | None:
    if pipe.poll(wait):
        try:
            return pipe.recv()
        except EOFError:
            return None
    return None
