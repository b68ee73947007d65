"""Outbind: the SMSC asks an ESME to bind when deliveries wait for it (SMPP 3.4 sections 2.2.1, 4.1.7).

An account may name an ``outbind`` target (host, port).  When receipts or MO wait for that system_id and no
receiver is bound, the SMSC opens a TCP connection to the ESME and sends outbind(system_id, password); the
ESME answers on the same connection with bind_receiver, after which the session is an ordinary receiver
bind.  Attempts are spaced by the target's ``retry_interval`` seconds and a failed connection is logged.

An attempt that ends without a receiver bound (the ESME unreachable, or it took the outbind and closed without
binding) is followed by another ``retry_interval`` seconds after it, for as long as deliveries wait and no
receiver is bound: before, only a new receipt or MO for the account started one, so an ESME that was down for
a moment could wait for its receipts for ever (tester 39).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from smsc.server.protocol import SmppProtocol

if TYPE_CHECKING:
    from smsc.server.listen import SmppServer

log = structlog.get_logger("smsc.server")


#: An outbind that keeps failing to connect is logged the first time, then every this-many-th attempt.
FAILED_LOG_EVERY = 60


class Outbinder:
    """Opens outbind connections for accounts that have an outbind target, at most one at a time each (and none
    while one it opened waits for its bind)."""

    def __init__(self, server: SmppServer) -> None:
        self.server = server
        self._last_attempt: dict[str, float] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._rechecks: dict[str, asyncio.TimerHandle] = {}
        self._stopped = False
        #: Connection attempts that failed in a row, per system_id: the first is logged, then every
        #: :data:`FAILED_LOG_EVERY`-th (tester 83: one warning every retry_interval, for as long as it lasted).
        self._failures: dict[str, int] = {}

    def maybe_outbind(self, system_id: str) -> None:
        """Start an outbind to ``system_id``'s ESME when deliveries wait for it and no receiver of it is bound,
        unless one is under way; within ``retry_interval`` seconds of the last attempt, at the end of that
        interval instead."""
        if self._stopped:
            return
        account = self.server.config.account(system_id)
        target = getattr(account, "outbind", None) if account is not None else None
        if target is None or system_id in self._tasks or not self._wanted(system_id):
            return
        loop = self.server.loop
        now = loop.time()
        last = self._last_attempt.get(system_id)
        if last is not None and now - last < target.retry_interval:
            self._recheck_at(system_id, last + target.retry_interval)
            return
        if self._still_open(system_id):
            # The ESME took the last outbind and has not bound (nor closed) yet: no second connection beside it
            # (tester 43: one ESME that never bound had five open at once); look again after the interval.
            self._recheck_at(system_id, now + target.retry_interval)
            return
        self._last_attempt[system_id] = now
        self._tasks[system_id] = loop.create_task(self._connect(system_id, account, target))

    def _wanted(self, system_id: str) -> bool:
        """True while deliveries of ``system_id`` wait and no receiver or transceiver of it is bound."""
        server = self.server
        return not server.registry.has_receiver(system_id) and server.smsc.deliveries_available(system_id) > 0

    def _still_open(self, system_id: str) -> bool:
        """True while a connection opened by an outbind to ``system_id`` is open and not bound (its session_init
        timer closes it in the end)."""
        for proto in self.server.registry.connections:
            outbind = proto.outbind
            if outbind is not None and outbind.system_id == system_id and not proto.session.is_bound:
                return True
        return False

    def _recheck_at(self, system_id: str, when: float) -> None:
        """Ask :meth:`maybe_outbind` again at ``when`` (loop time, seconds), once per system_id."""
        if system_id not in self._rechecks and not self._stopped:
            self._rechecks[system_id] = self.server.loop.call_at(when, self._recheck, system_id)

    def _recheck(self, system_id: str) -> None:
        del self._rechecks[system_id]
        self.maybe_outbind(system_id)

    async def _connect(self, system_id: str, account: Any, target: Any) -> None:
        try:
            await self.server.loop.create_connection(
                lambda: SmppProtocol(self.server, outbind=account), target.host, target.port
            )
        except OSError as exc:
            failures = self._failures[system_id] = self._failures.get(system_id, 0) + 1
            if failures == 1 or failures % FAILED_LOG_EVERY == 0:
                log.warning("outbind_failed", system_id=system_id, host=target.host, port=target.port, error=str(exc),
                            failures=failures, retry_in=target.retry_interval)
        else:
            failures = self._failures.pop(system_id, 0)
            if failures:
                log.info("outbind_connected", system_id=system_id, host=target.host, port=target.port,
                         after_failures=failures)
        finally:
            self._tasks.pop(system_id, None)
            # Whatever came of it (refused, or taken and closed without a bind): look again once the interval
            # is over; a receiver bound by then, or nothing waiting, ends the retries.
            self._recheck_at(system_id, self._last_attempt[system_id] + target.retry_interval)

    def stop(self) -> None:
        """Cancel connection attempts still running and the retries planned."""
        self._stopped = True
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        for handle in self._rechecks.values():
            handle.cancel()
        self._rechecks.clear()
