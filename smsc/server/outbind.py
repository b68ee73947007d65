"""Outbind: the SMSC asks an ESME to bind when deliveries wait for it (SMPP 3.4 sections 2.2.1, 4.1.7).

An account may name an ``outbind`` target (host, port).  When receipts or MO wait for that system_id and no
receiver is bound, the SMSC opens a TCP connection to the ESME and sends outbind(system_id, password); the
ESME answers on the same connection with bind_receiver, after which the session is an ordinary receiver
bind.  Attempts are spaced by the target's ``retry_interval`` seconds and a failed connection is logged.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import structlog

from smsc.server.protocol import SmppProtocol

if TYPE_CHECKING:
    from smsc.server.listen import SmppServer

log = structlog.get_logger("smsc.server")


class Outbinder:
    """Opens outbind connections for accounts that have an outbind target, at most one at a time each."""

    def __init__(self, server: SmppServer) -> None:
        self.server = server
        self._last_attempt: dict[str, float] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def maybe_outbind(self, system_id: str) -> None:
        """Start an outbind to ``system_id``'s ESME unless one is running or the last was too recent."""
        account = self.server.config.account(system_id)
        target = getattr(account, "outbind", None) if account is not None else None
        if target is None or system_id in self._tasks:
            return
        loop = self.server.loop
        now = loop.time()
        last = self._last_attempt.get(system_id)
        if last is not None and now - last < target.retry_interval:
            return
        self._last_attempt[system_id] = now
        self._tasks[system_id] = loop.create_task(self._connect(system_id, account, target))

    async def _connect(self, system_id: str, account: Any, target: Any) -> None:
        try:
            await self.server.loop.create_connection(
                lambda: SmppProtocol(self.server, outbind=account), target.host, target.port
            )
        except OSError as exc:
            log.warning("outbind_failed", system_id=system_id, host=target.host, port=target.port, error=str(exc))
        finally:
            self._tasks.pop(system_id, None)

    def stop(self) -> None:
        """Cancel connection attempts still running."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
