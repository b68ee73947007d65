"""Wire one running SMSC: config -> store -> simulated world -> core -> SMPP server (-> HTTP API).

This is the only module that knows every layer.  It also owns the *scheduler driver*: the core keeps all its
timers in one heap on a simulation clock; here one ``loop.call_at`` handle is armed for the earliest of them
and re-armed whenever an earlier one appears, so the core never needs asyncio.

Start order: store (read back) -> core (reschedules what was waiting) -> SMPP listeners -> HTTP.
Stop order: HTTP -> SMPP (unbind every ESME) -> core -> store (write what is pending, close).
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import random
import sqlite3
import time
from typing import Any, Callable

import structlog

from smsc.config import Config
from smsc.core.accounts import Accounts
from smsc.core.clock import Clock, ScaledClock, system_clock
from smsc.core.routing import build_world
from smsc.core.smsc import Smsc
from smsc.core.store.base import WorldState
from smsc.core.store.memory import MemoryStore
from smsc.core.store.sqlite import NotAStore, SqliteStore, StoreInUse, low_disk_note
from smsc.core.validity import iso_utc, utc
from smsc.server.listen import SmppServer, TlsListenError

log = structlog.get_logger("smsc")


#: Seconds (real) between two records of the simulation time in the store: how far behind a scaled clock may
#: resume after a kill -9 with no commit meanwhile (tester 57: at 5 s and time_scale 60, 157 simulated seconds
#: back).  A record is one small row, committed with whatever else waits.
SIM_TIME_RECORD_INTERVAL = 1.0
#: Seconds between the simulated and the wall time, at the store's last record of the simulated time, within which
#: the clock counts as the wall clock (time_scale 1, no start_time): a restart then starts at the wall time.
WALL_CLOCK_TOLERANCE = 60.0
#: Real seconds between two looks at the store's oldest waiting commit (``store_commit_slow`` is logged within
#: this much of a stall reaching STORE_STALL_SECONDS; tester 47: checked every 5 s, it came 5-10 s late).
STORE_WATCH_INTERVAL = 1.0
#: Real seconds a store commit may wait before the log says the store stalls (checked every
#: STORE_WATCH_INTERVAL).
STORE_STALL_SECONDS = 5.0


#: Young collections every 50,000 allocations instead of 700: message records are freed by reference
#: counting, and frequent collections over a heap full of long-lived objects only cost pauses. Measured
#: (bench/profile_core, memory store, 4 x 100 with receipts): p99 178 -> 52 ms, server CPU 84.5 -> 69.7 us/msg.
GC_THRESHOLDS = (50_000, 20, 100)


def _never() -> bool:
    return False


def _nothing() -> None:
    """An on_durable callback for writes nobody waits on."""


#: Real seconds :meth:`App.advance_clock` waits at most, before it starts and between two deadlines, for the
#: store's reads back and commits (a read of a drain batch or a commit takes milliseconds; a store that fails
#: retries for as long as it is open).
ADVANCE_STORE_WAIT = 30.0


class ClockAdvanceRefused(Exception):
    """:meth:`App.advance_clock` did not move the clock: the store did not come back within
    :data:`ADVANCE_STORE_WAIT` real seconds with what was committed or read before the jump."""


class ClockAdvanceUnsaved(ClockAdvanceRefused):
    """:meth:`App.advance_clock` moved the clock, but the store did not commit the new simulated time within
    :data:`ADVANCE_STORE_WAIT` real seconds: a restart now would resume before the jump."""


async def _store_settled(pending: Callable[[], int], stopping: Callable[[], bool], deadline: float) -> bool:
    """Yield to the loop until ``pending()`` is 0 (the store's reads and commits asked for, and any their
    callbacks asked for, are back), or ``stopping()``; False when ``time.monotonic()`` passed ``deadline`` first."""
    if not pending():
        return True
    spins = 0
    while pending() and not stopping():
        if time.monotonic() > deadline:
            return False
        spins += 1
        await asyncio.sleep(0 if spins < 10 else 0.001)  # (the hand-over to the reader is a call_soon)
    return True


#: What a damaged store file needs, in the refusal to start on it.
_DAMAGED = ("the file is damaged: restore it from a copy or start on a new file; `sqlite3 FILE .recover` may save "
            "what is readable")


class StartupError(Exception):
    """Something outside the config keeps smsc from starting (the store file cannot be opened ...)."""


class SchedulerDriver:
    """Runs the core scheduler's due timers from the asyncio loop: one timer handle for the earliest future
    deadline, and at most one ready-queue callback for timers that are due already."""

    def __init__(self, smsc: Smsc, clock: Clock, loop: asyncio.AbstractEventLoop) -> None:
        self.smsc = smsc
        self.clock = clock
        self.loop = loop
        self._handle: asyncio.Handle | None = None
        self._armed_for: float | None = None
        self._soon: asyncio.Handle | None = None
        #: True while a pump follows before the loop runs again (the SMPP side sets it while it handles a
        #: read, see :meth:`SmppServer.pump`): timers due now then need no loop callback of their own.
        self.pump_pending: Callable[[], bool] = _never
        self._scheduler = smsc.scheduler
        #: A clock that runs faster or slower than real time: each due timer runs at the time it was due.
        self._pinnable = clock if isinstance(clock, ScaledClock) else None
        smsc.scheduler.on_earlier_deadline = self.arm
        smsc.scheduler.on_due_now = self._due_now

    def arm(self, deadline: float | None = None, *, after_run: bool = False) -> None:
        """(Re-)arm the loop timer for ``deadline`` (simulation seconds) or the scheduler's earliest.

        ``after_run``: the due timers were just run (a pump's among them), so a timer due now that is left
        (one those timers scheduled a moment later than the time they ran at) needs its own loop callback."""
        if deadline is None:
            deadline = self._scheduler.next_deadline()
            if deadline is None:
                return
        clock = self.clock
        remaining = deadline - clock.now()  # (simulation seconds: real_delay keeps the sign)
        if remaining <= 0:
            # Due already (a zero-latency attempt): a plain ready-queue callback, unless the pump that follows
            # the read being handled runs it first.  The timer armed for a later deadline stays armed.
            if self._soon is None and (after_run or not self.pump_pending()):
                self._soon = self.loop.call_soon(self._run_soon)
            return
        handle = self._handle
        if handle is not None:
            armed_for = self._armed_for
            if armed_for is not None and armed_for <= deadline:
                return
            handle.cancel()
        self._armed_for = deadline
        self._handle = self.loop.call_later(clock.real_delay(remaining), self._fire)

    def _due_now(self) -> None:
        """A batch due now became the earliest timer (a zero-latency attempt's outcome): :meth:`arm` for a
        deadline known to be due, without reading the clock (once per read at window 1)."""
        if self._soon is None and not self.pump_pending():
            self._soon = self.loop.call_soon(self._run_soon)

    def _fire(self) -> None:
        self._handle = None
        self._armed_for = None
        self._run(self.clock.now())

    def _run_soon(self) -> None:
        self._soon = None
        self._run(self.clock.now())

    def _run(self, now: float) -> None:
        """Run the timers due at ``now`` (simulation seconds), then arm for what is left."""
        try:
            self._run_due(now)
        except Exception:
            log.exception("scheduler_error")
        self.arm(after_run=True)

    def _run_due(self, now: float) -> int:
        """``scheduler.run_due(now)``; with a :class:`ScaledClock`, deadline by deadline, each with the clock
        pinned at its own time (see there: a loop timer late by a millisecond was 3.6 simulated seconds late at
        time_scale 3600, in every outcome, receipt and retry it stamped)."""
        scheduler = self._scheduler
        clock = self._pinnable
        if clock is None:
            return scheduler.run_due(now)
        outer = clock.pinned  # (run from within a timer's callback: its time stays pinned afterwards)
        ran = 0
        try:
            while True:
                deadline = scheduler.next_deadline()
                if deadline is None or deadline > now:
                    return ran
                clock.pin(deadline)
                ran += scheduler.run_due(deadline)
        finally:
            clock.pin(outer)

    def run_at(self, deadline: float) -> int:
        """Run the timers due at ``deadline`` (simulation seconds, the clock at or just past it: :meth:`App.
        advance_clock`), pinned at their own time with a scaled clock; errors logged as a loop timer's are.
        Returns how many ran."""
        try:
            return self._run_due(deadline if self._pinnable is not None else self.clock.now())
        except Exception:
            log.exception("scheduler_error")
            return 1

    def rearm(self) -> None:
        """Arm the loop timer afresh for the earliest deadline: after the clock jumped (:meth:`App.advance_clock`),
        the handle armed before waits a real delay computed for the old time."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._armed_for = None
        self.arm(after_run=True)

    def run_due_now(self) -> None:
        """Run the timers already due, at once instead of on the loop timer's turn.

        The SMPP adapter calls this before it writes what a read produced, so that what those timers make
        (a zero-latency carrier's delivery receipt) leaves in the same write as the submit_sm_resp, as one
        reply of a real SMSC would, instead of one loop turn and one system call later."""
        now = self.clock.now()
        try:
            # (run_due returns at once when nothing is due: no next_deadline look of our own first)
            if not self._run_due(now):
                return
        except Exception:
            log.exception("scheduler_error")
        handle = self._handle
        if handle is not None:
            armed_for = self._armed_for
            if armed_for is not None and armed_for <= now:
                handle.cancel()  # its deadline was run here; the next one gets a handle of its own
                self._handle = None
                self._armed_for = None
            else:
                # The usual case: the loop timer stays armed for a later deadline (the prune timer, a carrier's
                # latency) that is still the earliest or earlier than it: nothing to re-arm, no clock to read.
                deadline = self._scheduler.next_deadline()
                if deadline is None or (armed_for is not None and armed_for <= deadline and deadline > now):
                    return
                self.arm(deadline, after_run=True)
                return
        self.arm(after_run=True)  # (timers those made due a moment later than ``now`` get a loop callback)

    def stop(self) -> None:
        """Cancel the pending timer handles and stop arming new ones: what the store hands back while it
        closes (reads, commit callbacks) may still schedule timers, which must not run on a closed store."""
        if self._scheduler.on_earlier_deadline == self.arm:
            self._scheduler.on_earlier_deadline = None
        if self._scheduler.on_due_now == self._due_now:
            self._scheduler.on_due_now = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._armed_for = None
        if self._soon is not None:
            self._soon.cancel()
            self._soon = None


class App:
    """One running SMSC built from a :class:`~smsc.config.Config`.

    ``clock`` and ``rng`` may be injected (tests); by default the clock runs at ``simulation.time_scale``
    and the RNG is seeded from ``simulation.seed`` (random when unset).
    """

    def __init__(self, config: Config, *, clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.config = config
        #: When this process built its SMSC, wall-clock seconds since the epoch (``/api/stats`` ``started``: a
        #: restart shows as a new start, not only as counters back at 0; tester 91).
        self.started_wall = time.time()
        self._own_clock = clock is None
        self.clock = clock or system_clock(time_scale=config.simulation.time_scale,
                                          start=config.simulation.start_time)
        self.rng = rng or random.Random(config.simulation.seed)
        self.store: Any = None
        self.smsc: Smsc | None = None
        self.smpp: SmppServer | None = None
        self.http: Any = None
        self.driver: SchedulerDriver | None = None
        #: The config's failure scenario being played (None without one).
        self.scenario: Any = None
        self._sim_time_handle: asyncio.TimerHandle | None = None
        self._watch_handle: asyncio.TimerHandle | None = None
        self._store_stalled = False  # (see _watch_store)
        self._advancing = asyncio.Lock()  # (one advance_clock at a time)
        #: Why the server must stop although nobody asked it to (a store found damaged while running), or None.
        self.fatal: str | None = None
        #: The event the server stops for its store with (store_damaged, store_file_lost), once :attr:`fatal` is set.
        self._fatal_event = ""
        #: Connections asyncio could not accept (out of file descriptors): see _loop_exception.
        self._accept_failures = 0
        #: True from the start of :meth:`stop`: /api/health answers 503 "stopping" while the SMPP side closes.
        self.stopping = False
        #: Called once when :attr:`fatal` is set (``smsc serve`` stops then, with exit status 2).
        self.on_fatal: Callable[[], None] | None = None

    async def start(self, *, host: str | None = None, port: int | None = None, http_host: str | None = None,
                    http_port: int | None = None, http: bool | None = None) -> None:
        """Open the store, start the core and the listeners (``port`` 0 = any free port)."""
        loop = asyncio.get_running_loop()
        cfg = self.config
        await self._probe_listeners(loop, host, port, http_host, http_port,
                                    cfg.http.enabled if http is None else http)
        if cfg.store.kind == "memory":
            self.store = MemoryStore()  # commits inline: replies leave in the same write as the read
        else:
            try:
                self.store = SqliteStore(cfg.store.path, synchronous=cfg.store.synchronous,
                                         call_soon_threadsafe=self._durable_soon(loop), call_soon=loop.call_soon)
            except (StoreInUse, NotAStore) as exc:
                raise StartupError(f"{cfg.source}: store.path: cannot open {cfg.store.path!r}: {exc}") from None
            except sqlite3.Error as exc:
                if "malformed" in str(exc):  # (a damaged file, not a permission: tester 35)
                    raise StartupError(f"{cfg.source}: store.path: cannot open {cfg.store.path!r}: {exc} "
                                       f"({_DAMAGED})") from None
                if "not a database" in str(exc):  # (a damaged header, or another file: tester 101)
                    raise StartupError(f"{cfg.source}: store.path: cannot open {cfg.store.path!r}: {exc} (its "
                                       f"header is not a SQLite database's: the file is damaged or is another "
                                       f"kind of file; restore it from a copy, or give a new path to start with "
                                       f"an empty store)") from None
                low = low_disk_note(cfg.store.path)  # (tester 177: a full disk read as "disk I/O error" alone)
                raise StartupError(f"{cfg.source}: store.path: cannot open {cfg.store.path!r}: {exc} ("
                                   + (f"{low}: free some space, or give a path on another disk" if low else
                                      "a SQLite file smsc can write is expected, in a directory it can write: "
                                      "SQLite keeps its -wal and -shm files beside it")
                                   + ")") from None
        if isinstance(self.store, SqliteStore):
            self.store.on_damage = self._store_damaged
        try:
            self._start_core(loop)
        except sqlite3.DatabaseError as exc:
            # Read back past the file's header: a page damaged in the middle (tester 29: a traceback and exit
            # code 1 where a damaged header got this one-line refusal).
            raise StartupError(f"{cfg.source}: store.path: cannot read {cfg.store.path!r}: {exc} "
                               f"({_DAMAGED})") from None
        assert self.driver is not None and self.smpp is not None
        self.driver.arm()
        self._record_sim_time()
        gc.set_threshold(*GC_THRESHOLDS)
        loop.set_exception_handler(self._loop_exception)
        try:
            await self.smpp.start(host, port)
        except TlsListenError as exc:
            listen_host = cfg.server.host if host is None else host
            raise StartupError(f"{cfg.source}: server.tls.port: cannot listen for SMPP over TLS on {listen_host!r} "
                               f"port {exc.port}: {exc.strerror} (expected a free port)") from None
        except OSError as exc:
            raise StartupError(_listen_error("SMPP", cfg.source, "server", host, cfg.server.host, port,
                                             cfg.server.port, exc)) from None
        if cfg.scenario:
            from smsc.scenario import ScenarioPlayer

            self.scenario = ScenarioPlayer(cfg.scenario, self.smsc, self.smpp, self.clock.now())
            log.info("scenario_loaded", steps=len(cfg.scenario), starts_at=iso_utc(self.clock.now()),
                     last_at_seconds=cfg.scenario[-1].at, hint="played on the simulated clock from now")
        host_, port_ = self.smpp.addresses[0]
        log.info("listening", protocol="smpp", host=host_, port=port_, config=cfg.source,
                 store=cfg.store.kind, tls_port=self.smpp.addresses[1][1] if len(self.smpp.addresses) > 1 else None)
        guessable = guessable_accounts(cfg, host_)
        if guessable:
            # (tester 126: the Docker image listens on every interface with the bundled test/test account, and
            # nothing said so)
            log.warning("guessable_accounts_exposed", host=host_, system_ids=guessable,
                        hint="these accounts' password is their system_id, and the SMPP port is reachable from other "
                             "machines: give them passwords of their own in a config of yours, or listen on 127.0.0.1 "
                             "(and publish the container's port on the host's loopback only)")
        if (cfg.http.enabled if http is None else http):
            from smsc.http.api import HttpServer

            self.http = HttpServer(self)
            listen_host = cfg.http.host if http_host is None else http_host
            try:
                await self.http.start(listen_host, cfg.http.port if http_port is None else http_port)
            except OSError as exc:
                raise StartupError(_listen_error("the HTTP API", cfg.source, "http", http_host, cfg.http.host,
                                                 http_port, cfg.http.port, exc)) from None
            log.info("listening", protocol="http", host=listen_host, port=self.http.port)

    async def _probe_listeners(self, loop: asyncio.AbstractEventLoop, host: str | None, port: int | None,
                               http_host: str | None, http_port: int | None, http: bool) -> None:
        """Bind each listener's address once, without listening, and let it go, before anything else starts: a
        port in use or an address this machine does not have is refused in one line, before the store is opened
        and the core started (testers 130, 142: ``core_started`` and ``stopped`` came first, and the SMPP port
        accepted connections for a moment before the HTTP port's refusal).  Port 0 is probed too, for its host
        (tester 156: an HTTP host that did not resolve was refused after the SMPP listener had started).  What the
        probe cannot foresee (another process taking the port in between) is still refused as the listener
        starts.

        Raises:
            StartupError: a listener's address cannot be bound, naming the config keys or options it came from.
        """
        cfg = self.config
        probes: list[tuple[str, str, str | None, str, int | None, int, str | None]] = [
            ("SMPP", "server", host, cfg.server.host, port, cfg.server.port, None)]
        if cfg.server.tls is not None:
            probes.append(("SMPP over TLS", "server", host, cfg.server.host, None, cfg.server.tls.port, "tls"))
        if http:
            probes.append(("the HTTP API", "http", http_host, cfg.http.host, http_port, cfg.http.port, None))
        for what, section, given_host, config_host, given_port, config_port, tls in probes:
            try:
                server = await loop.create_server(asyncio.Protocol, config_host if given_host is None else given_host,
                                                  config_port if given_port is None else given_port,
                                                  reuse_address=True, start_serving=False)
            except OSError as exc:
                if tls:
                    listen_host = config_host if given_host is None else given_host
                    raise StartupError(f"{cfg.source}: server.tls.port: cannot listen for SMPP over TLS on "
                                       f"{listen_host!r} port {config_port}: {exc.strerror or exc} (expected a free "
                                       f"port)") from None
                raise StartupError(_listen_error(what, cfg.source, section, given_host, config_host, given_port,
                                                 config_port, exc)) from None
            server.close()
            await server.wait_closed()

    def _durable_soon(self, loop: asyncio.AbstractEventLoop) -> Callable[..., object]:
        """The store's way back to the loop: run its ``on_durable`` callbacks (the submit_sm_resp they
        release, the attempts they start), then pump the SMPP side so that the receipts of zero-latency
        carriers join the responses in the same write instead of following a few loop turns later."""
        def run(callback: Callable[..., object], *args: Any) -> None:
            smpp = self.smpp
            if smpp is None:
                callback(*args)
                return
            smpp.registry.pump_pending = True
            try:
                callback(*args)
            finally:
                smpp.pump()

        def soon(callback: Callable[..., object], *args: Any) -> object:
            return loop.call_soon_threadsafe(run, callback, *args)

        return soon

    def _restore_world(self, router: Any, world: WorldState) -> None:
        """Re-apply what the store kept of the simulated world: opt-outs, and the offline spells number rules
        started (``offline: 10m``: a handset whose memory was full 4 minutes before the restart has 6 minutes to
        go, not 10 again).  Then persist every later change of either: STOP from a handset or the HTTP API, a
        spell's start, and the end the control API makes of one."""
        store = self.store
        carriers = router.carriers
        for carrier_name, e164 in world.opt_outs:
            carrier = carriers.get(carrier_name)
            if carrier is not None:
                carrier.handsets.opt_out(e164)
        for carrier_name, e164 in world.opt_ins:  # (over a number rule's opted_out: tester 94)
            carrier = carriers.get(carrier_name)
            if carrier is not None:
                carrier.handsets.opt_in(e164)
        for carrier_name, e164, start in world.rule_spells:
            carrier = carriers.get(carrier_name)
            if carrier is not None:
                carrier.handsets.restore_spell(e164, start)
        for name, carrier in carriers.items():
            def opt_changed(e164: str, opted_out: bool, name: str = name) -> None:
                store.save_opt_out(name, e164, opted_out)
                store.commit(_nothing)

            def spell_changed(e164: str, start: float | None, name: str = name) -> None:
                store.save_rule_spell(name, e164, start)
                store.commit(_nothing)

            carrier.handsets.on_opt_change = opt_changed
            carrier.handsets.on_spell_change = spell_changed

    async def advance_clock(self, seconds: float) -> int:
        """Move the simulated clock ``seconds`` forward at once and run, in order, every timer that falls due
        meanwhile (attempt outcomes, retries, handsets' spells ending, validity periods running out, a
        scenario's steps), each at its own time (a scaled clock is pinned at each deadline while its timers run).
        Returns how many timers ran.  Then the clock runs on at its time_scale from the new time, which is saved
        (a restart resumes from it).  Steps run one at a time (a second call waits for the first).

        Before it starts it waits (real seconds, at most :data:`ADVANCE_STORE_WAIT`) until the store has
        committed what was committed so far and read back what was asked of it, and between two deadlines until
        it has read back what the timers asked for.  A submit is attempted once it is on disk: a jump that
        started before a fresh submit's commit came back went past its attempt, and the message expired
        unattempted (tester 163).  With SQLite a waiting
        message leaves memory, and a handset that comes back has its messages read back on the store's reader
        thread before they are attempted: run on without them, the jump expired at the end of their validity
        messages whose handset had come back in time (tester 159).  The call returns once the new simulated time
        is on disk (a restart resumes from it: tester 163).

        What a test of "expiry after 12 hours" needs without a time_scale that makes everything else a race:
        run the server slowly (``--time-scale 0.001``) and step its clock (tester 154).  Real-time matters are
        not moved: SMPP session timers, throughput limits, and the core's delays in real seconds (a
        submit_sm_resp's delay, an outbox's backoff, a transaction-mode data_sm's wait: tester 161), which are
        moved as far as the clock (:meth:`Scheduler.shift_real <smsc.core.scheduler.Scheduler.shift_real>`).

        Raises:
            ValueError: ``seconds`` is negative, or the core has not started.
            ClockAdvanceRefused: the store did not commit or read back within :data:`ADVANCE_STORE_WAIT` (counted
                from the call) what was asked of it before the jump (a stalled disk or writer process); the clock
                did not move.
            ClockAdvanceUnsaved: the clock moved, but the store did not commit the new time within
                :data:`ADVANCE_STORE_WAIT`.
        """
        if seconds < 0:
            raise ValueError(f"cannot move the clock backwards by {seconds!r} s")
        driver, smsc = self.driver, self.smsc
        if driver is None or smsc is None:
            raise ValueError("the SMSC has not started")
        # (from the request on: a jump queued behind one that waits for a stalled store does not wait twice)
        deadline = time.monotonic() + ADVANCE_STORE_WAIT
        async with self._advancing:
            clock: Any = self.clock
            scheduler = smsc.scheduler
            if not await self._store_settled(deadline=deadline):
                raise ClockAdvanceRefused(
                    f"the store has not committed or read back within {ADVANCE_STORE_WAIT:g} s what was asked of it "
                    f"(a stalled disk or writer process?): the clock was not moved")
            if self.stopping:
                raise ClockAdvanceRefused("the SMSC is stopping: the clock was not moved")
            target = clock.now() + seconds
            # Delays in real seconds (a submit_sm_resp held back, a deliver_sm's backoff, a transaction's wait)
            # keep their real length: moved as far as the clock, and any made during the jump count from its end.
            scheduler.shift_real(seconds)
            scheduler.jump_target = target
            try:
                ran = await self._advance_to(target)
            finally:
                scheduler.jump_target = None
            now = clock.now()
            if target > now:
                clock.advance(target - now)
            driver.rearm()
            if self.store is not None and not self.stopping:
                self.store.save_sim_time(clock.now())
                saved: asyncio.Future[None] = asyncio.get_running_loop().create_future()

                def on_saved() -> None:
                    if not saved.done():
                        saved.set_result(None)

                self.store.commit(on_saved)
                try:
                    await asyncio.wait_for(asyncio.shield(saved), ADVANCE_STORE_WAIT)
                except asyncio.TimeoutError:
                    raise ClockAdvanceUnsaved(
                        f"the clock moved to {iso_utc(clock.now())}, but the store has not committed that "
                        f"time within {ADVANCE_STORE_WAIT:g} s (a stalled disk or writer process?): a restart now "
                        f"would resume before the jump") from None
            return ran

    async def _store_settled(self, *, commits: bool = True, deadline: float | None = None) -> bool:
        """Wait until the store has read back what was asked of it and, with ``commits``, run the ``on_durable``
        callbacks of every commit asked for so far (see :func:`_store_settled`); False when ``deadline``
        (``time.monotonic()``; default: :data:`ADVANCE_STORE_WAIT` from now) passed first."""
        store: Any = self.store
        if store is None:
            return True
        reads_pending: Callable[[], int] | None = getattr(store, "reads_pending", None)
        commit_mark: Callable[[], int] | None = getattr(store, "commit_mark", None) if commits else None
        mark = commit_mark() if commit_mark is not None else 0

        def pending() -> int:
            # (reads asked for by the callbacks of those commits are waited for too, as they come)
            commits = store.commits_outstanding(mark) if commit_mark is not None else 0
            return commits + (reads_pending() if reads_pending is not None else 0)

        if deadline is None:
            deadline = time.monotonic() + ADVANCE_STORE_WAIT
        return await _store_settled(pending, lambda: self.stopping, deadline)

    async def _advance_to(self, target: float) -> int:
        """:meth:`advance_clock`'s steps: each deadline up to ``target`` in turn; how many timers ran."""
        clock: Any = self.clock
        driver, smsc = self.driver, self.smsc
        assert driver is not None and smsc is not None
        scheduler = smsc.scheduler
        ran = 0
        last: float | None = None
        while not self.stopping:  # (a stop came while it waited: the store may be closing)
            deadline = scheduler.next_deadline()
            if deadline is None or deadline > target:
                break
            now = clock.now()
            if deadline > now:
                clock.advance(deadline - now)
            count = driver.run_at(deadline)
            if not count and deadline == last:  # (nothing ran and nothing moved on: never spin)
                log.warning("clock_advance_stuck", deadline=deadline)
                break
            ran += count
            last = deadline
            # (between two deadlines, reads only: what the timers commit arms no simulated timer once durable,
            # and a commit's round trip at each deadline made a jump 20 times slower)
            if not await self._store_settled(commits=False):
                log.warning("clock_advance_store_wait", waited_seconds=ADVANCE_STORE_WAIT, sim_time=clock.now())
        return ran

    def _record_sim_time(self) -> None:
        """Persist the simulation time now and every few seconds (a scaled clock resumes from it)."""
        if self.store is None:
            return
        self.store.save_sim_time(self.clock.now())
        self.store.commit(_nothing)
        self._sim_time_handle = asyncio.get_running_loop().call_later(SIM_TIME_RECORD_INTERVAL,
                                                                      self._record_sim_time)
        if self._watch_handle is None:
            self._watch_tick()

    def _watch_tick(self) -> None:
        self._watch_handle = asyncio.get_running_loop().call_later(STORE_WATCH_INTERVAL, self._watch_tick)
        self._watch_store()

    def _stop_watching(self) -> None:
        if self._watch_handle is not None:
            self._watch_handle.cancel()
            self._watch_handle = None

    def _store_damaged(self, error: str) -> None:
        """A commit found the file damaged past what the start read (tester 38: an index page; the server ran,
        its health said ok, and no submit_sm was ever answered).  No retry can succeed, so the server stops
        (nothing unanswered was acknowledged: the ESMEs get unbind and submit again elsewhere)."""
        self._stop_for_store("store_damaged", error, f" ({_DAMAGED})", _DAMAGED)

    def _stop_for_store(self, event: str, error: str, consequence: str, hint: str) -> None:
        """Log ``event`` and stop the server for its store (see ``fatal``): ``smsc serve`` exits with status 2 and
        the line ``<config>: store.path: <path>: <error><consequence>``; ``/api/health`` says ``event`` meanwhile
        (:meth:`store_health`)."""
        cfg = self.config
        self._fatal_event = event
        self.fatal = f"{cfg.source}: store.path: {cfg.store.path!r}: {error}{consequence}"
        log.error(event, path=cfg.store.path, error=error, hint=hint)
        if self.on_fatal is not None:
            self.on_fatal()

    def store_health(self) -> tuple[str, float]:
        """("ok" | "stalled" | "failing" | "damaged" | "lost", real seconds the oldest commit has waited): what
        ``/api/health`` reports.  Stalled: a commit has waited :data:`STORE_STALL_SECONDS` or more (submit_sm_resp
        wait).  Failing: a commit failed (and was retried) within the last :data:`STORE_STALL_SECONDS` (tester 117:
        a store failing and recovering every second, at 23 submits/s, said ok).  Damaged, lost: the server is
        stopping for its store, found damaged or no longer at its path (tester 70: a deleted file read
        "store_damaged", which sends an operator looking for corruption)."""
        wait = getattr(self.store, "commit_wait_seconds", None)
        seconds = wait() if wait is not None else 0.0
        if self.fatal is not None:
            return ("lost" if self._fatal_event == "store_file_lost" else "damaged"), seconds
        if seconds >= STORE_STALL_SECONDS:
            return "stalled", seconds
        since_failure = getattr(self.store, "seconds_since_commit_failure", None)
        if since_failure is not None and since_failure() < STORE_STALL_SECONDS:
            return "failing", seconds
        return "ok", seconds

    def _store_lost(self, problem: str) -> None:
        """The store's file was deleted, replaced, or emptied or written over in place under the running server
        (:meth:`SqliteStore.file_problem`): what is acknowledged from now on would not be found at a restart, so
        the server stops, as for a damaged file, and says which messages are at risk."""
        self._stop_for_store("store_file_lost", problem, "; what was acknowledged since would not be found at a "
                             "restart: stopping so that nothing more is",
                             "messages acknowledged in the last second may be lost; restore the file before starting")

    def _watch_store(self) -> None:
        """Say so in the log when the store's commits stall (its writer stopped, a disk that hangs or is full):
        the ESMEs then wait for their submit_sm_resp with no other sign on the server's side.  Once per stall,
        and once when commits go on again (looked at every STORE_WATCH_INTERVAL).  A file deleted or replaced
        under the server stops it (:meth:`_store_lost`)."""
        store = self.store
        if isinstance(store, SqliteStore) and self.fatal is None:
            problem = store.file_problem()
            if problem is not None:
                self._store_lost(problem)
                return
        state, seconds = self.store_health()
        if state == "stalled" and not self._store_stalled:
            self._store_stalled = True
            log.warning("store_commit_slow", waiting_seconds=round(seconds, 1),
                        hint="submit_sm_resp wait for the store: see store_commit_failed, the disk, the writer child")
        elif state == "ok" and self._store_stalled:
            self._store_stalled = False
            log.info("store_commit_resumed")

    def _start_core(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the store back and build the simulated world, the core and the SMPP server on it.

        Raises:
            sqlite3.DatabaseError: the store's file is damaged past its header.
        """
        cfg = self.config
        assert self.store is not None
        world = self.store.load_world()
        if self._own_clock and world.sim_time is not None and world.sim_time > self.clock.now():
            # A scaled clock ran ahead of the wall clock before the restart: go on from where it was.
            if cfg.simulation.start_time is not None:
                # (time never runs backwards over a store; tester 68 saw start_time ignored without a word)
                log.warning("start_time_passed", start_time=utc(cfg.simulation.start_time).isoformat(),
                            resumes_at=utc(world.sim_time).isoformat(),
                            hint="this store saved a later simulated time, and time never runs back over a store: "
                                 "to start at start_time give a fresh store; to resume (a restart) leave the "
                                 "start time out (--start-time, or simulation.start_time in the config file)")
            else:
                # Tester 99: a time_scale world resumed hours ahead of the wall clock without a word, and its dates
                # looked wrong.
                log.info("sim_time_resumed", resumes_at=utc(world.sim_time).isoformat(),
                         ahead_of_wall_clock_seconds=round(world.sim_time - time.time()),
                         hint="the simulated clock never runs backwards over a store; a fresh store starts now")
            self.clock = system_clock(time_scale=cfg.simulation.time_scale, start=world.sim_time)
        elif (self._own_clock and cfg.simulation.start_time is None and world.sim_time is not None
              and world.sim_wall_time is not None
              and abs(world.sim_wall_time - world.sim_time) > WALL_CLOCK_TOLERANCE):
            # The clock ran on its own (an earlier start_time, a time_scale), now behind the wall clock: the world
            # goes on from where it was, not from today (tester 73: a restart without the --start-time
            # jumped 11 months and expired every waiting message).  Given a start_time, that is where it starts.
            log.info("sim_time_resumed", resumes_at=utc(world.sim_time).isoformat(),
                     behind_wall_clock_seconds=round(time.time() - world.sim_time),
                     hint="simulation.start_time (or --start-time) starts elsewhere; a fresh store starts now")
            self.clock = system_clock(time_scale=cfg.simulation.time_scale, start=world.sim_time)
        elif (self._own_clock and world.sim_time is not None
              and self.clock.now() - world.sim_time > WALL_CLOCK_TOLERANCE):
            # The world's time jumps over the time the server was down: say so (tester 74: a store that records no
            # wall time, from an older smsc, jumped 11 months without a word).
            if cfg.simulation.start_time is not None:
                reason = "simulation.start_time (or --start-time) is later than the time this store saved"
            elif world.sim_wall_time is None:
                reason = ("this store does not say whether its clock was the wall clock (written by an older smsc): "
                          "give the start_time again to go on from where it was")
            else:
                reason = ("the clock was within a minute of the wall clock when last saved (time_scale 1 and no "
                          "start_time, or a run too short to drift): the world skips the time the server was down")
            log.info("sim_time_jumped", saved=utc(world.sim_time).isoformat(),
                     starts_at=utc(self.clock.now()).isoformat(),
                     seconds=round(self.clock.now() - world.sim_time), reason=reason)
        if self._own_clock and cfg.simulation.time_scale != 1.0 and isinstance(self.store, SqliteStore):
            # Every batch then carries the time it was written at: after a kill -9 the clock cannot resume
            # behind the submit and attempt times the last batches recorded (the periodic save is 5 s apart).
            self.store.sim_time_source = lambda: self.clock.now()
        router = build_world(cfg, self.rng)
        self._restore_world(router, world)
        self.smsc = Smsc(cfg, self.store, self.clock, self.rng, router)
        self.smsc.mo.restore_pending_replies(world.pending_replies)
        self.driver = SchedulerDriver(self.smsc, self.clock, loop)
        accounts = Accounts.from_config(cfg.accounts, now=loop.time())
        self.smpp = SmppServer(cfg, self.smsc, accounts, loop=loop)
        self.smpp.run_due_timers = self.driver.run_due_now
        registry = self.smpp.registry
        self.driver.pump_pending = lambda: registry.pump_pending
        self.smsc.start()

    def _loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The loop's handler of errors nobody awaited: asyncio's failed accept of a connection when the process is
        out of file descriptors (or memory) is logged as ``accept_failed``, the first time then every 100th with
        the count, not as a traceback per attempt (tester 131: 16,379 tracebacks, 6.6 MB, in 4 s); anything
        else as asyncio would."""
        exc = context.get("exception")
        if isinstance(exc, OSError) and "accept" in str(context.get("message", "")):
            self._accept_failures += 1
            count = self._accept_failures
            if count == 1 or count % 100 == 0:
                log.warning("accept_failed", reason=exc.strerror or str(exc), count=count,
                            hint="raise the open-files limit (ulimit -n), or lower server.max_connections")
            return
        loop.default_exception_handler(context)

    async def stop(self) -> None:
        """Stop in reverse order; safe to call twice.  Logs ``stopped`` when something had started (not after
        a start that could not open the store)."""
        started = any(part is not None for part in (self.store, self.smsc, self.smpp, self.http))
        self.stopping = True
        self._stop_watching()
        loop = asyncio.get_running_loop()
        if loop.get_exception_handler() == self._loop_exception:
            loop.set_exception_handler(None)
        if self._sim_time_handle is not None:
            self._sim_time_handle.cancel()
            self._sim_time_handle = None
            if self.store is not None and self.smsc is not None:
                self.store.save_sim_time(self.clock.now())
                self.store.commit(_nothing)
        # The SMPP side first: while it answers what it owes and unbinds the ESMEs (up to 5 s), /api/health still
        # answers, 503 "store_damaged" when that is why the server stops (tester 47: the HTTP listener closed
        # first, and that 503 was never seen).
        if self.smpp is not None:
            await self.smpp.stop()
            self.smpp = None
        if self.http is not None:
            await self.http.stop()
            self.http = None
        if self.driver is not None:
            self.driver.stop()
        if self.smsc is not None:
            self.smsc.stop()
            self.smsc = None
        if self.store is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.store.close)
            self.store = None
        if started:
            log.info("stopped")


def guessable_accounts(config: Config, host: str) -> list[str]:
    """The system_ids whose password is their own system_id (the bundled ``test``/``test``, the bench's
    ``perf``/``perf``) when SMPP listens on ``host`` beyond this machine (not a loopback address or name); else []."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback:
        return []
    return [a.system_id for a in config.accounts if a.password == a.system_id]


def _listen_error(what: str, source: str, section: str, host: str | None, config_host: str, port: int | None,
                  config_port: int, exc: OSError) -> str:
    """Why a listener could not start, naming where its address came from: the config file's keys, or the
    command line's options that replaced them (a host name that does not resolve, an address this machine
    does not have, a port in use)."""
    options = ("--http-host", "--http-port") if section == "http" else ("--host", "--port")
    given = (host is not None, port is not None)
    keys = [f"{section}.{key}" for key, on_line in zip(("host", "port"), given) if not on_line]
    named = [f"{source}: {' and '.join(keys)}"] if keys else []
    named += [" and ".join(option for option, on_line in zip(options, given) if on_line)] if any(given) else []
    shown_host = config_host if host is None else host
    shown_port = config_port if port is None else port
    return (f"{'; '.join(named)}: cannot listen for {what} on {shown_host!r} port {shown_port}: "
            f"{exc.strerror or exc} (expected an address of this machine, or a name that resolves to one, "
            "and a free port)")
