"""A declarative failure scenario: the config's ``scenario`` steps played on the simulated clock.

Each step does what the control API would (take a carrier down, lock an account, end an ESME's connections,
switch a handset), at a simulated time after the server's start, so that a CI run or a soak test meets the same
failures at the same moments every time, without a script driving the API.  With ``simulation.time_scale`` the
steps come that much faster in real time.  The steps are played from each start: a restart plays them again
from its own start (a switch made before it is not kept, as for the control API).

This module is wiring: it knows the core (:class:`~smsc.core.smsc.Smsc`) and the SMPP server
(:class:`~smsc.server.listen.SmppServer`), and is built by :mod:`smsc.app`.
"""

from __future__ import annotations

from typing import Any

import structlog

from smsc.config import ScenarioStep
from smsc.core.validity import iso_utc as iso

log = structlog.get_logger("smsc.scenario")

#: Who a step's effects are said to come from, in the log lines they cause.
_BY = "the config's scenario"


class ScenarioPlayer:
    """Schedules every step of ``steps`` on the core's scheduler from ``start`` (simulation seconds).

    Args:
        steps: the config's ``scenario``, in time order.
        smsc: the core (its scheduler, carriers and handsets).
        smpp: the SMPP server (accounts and connections), or None (no account or disconnect step can act).
        start: the simulated time the steps' ``at`` counts from.
    """

    def __init__(self, steps: tuple[ScenarioStep, ...], smsc: Any, smpp: Any, start: float) -> None:
        self.smsc = smsc
        self.smpp = smpp
        self.played = 0
        scheduler = smsc.scheduler
        for step in steps:
            scheduler.call_at(start + step.at, self._play, step)

    def _play(self, step: ScenarioStep) -> None:
        """Do ``step`` now, and schedule its undoing after its ``duration``."""
        self.played += 1
        action = step.action
        # (tester 148: each line said value=True, a disconnect system_id= where the others said target=, and
        # none when in the simulated world it happened)
        said = {"target": step.target, "at_seconds": step.at, "sim_time": iso(self.smsc.clock.now())}
        if action == "carrier":
            self.smsc.set_carrier_down(step.target, bool(step.value), step.duration if step.value else None)
        elif action == "account":
            self._lock(step.target, bool(step.value), step.duration)
        elif action == "disconnect":
            ended = self.smpp.bound_as(step.target) if self.smpp is not None else []
            for proto in ended:
                proto.disconnect(step.how == "drop", _BY)
            log.info("scenario_step", action=action, how=step.how, connections=len(ended), **said)
            return
        else:
            try:
                if step.value is None:
                    self.smsc.release_handset(step.target)
                else:
                    self.smsc.set_handset_online(step.target, step.value, step.duration)
            except ValueError as exc:  # (a number no carrier serves: nothing to switch)
                log.warning("scenario_step_failed", action=action, reason=str(exc), **said)
                return
        value_key = {"carrier": "down", "account": "locked", "handset": "online"}[action]
        log.info("scenario_step", action=action, for_seconds=step.duration, **{value_key: step.value}, **said)

    def _lock(self, system_id: str, locked: bool, duration: float | None) -> None:
        """Lock or unlock account ``system_id`` (as PUT /api/accounts/{system_id} does), for ``duration``
        simulated seconds when given."""
        if self.smpp is not None:
            self.smpp.lock_account(system_id, locked, duration, _BY)
