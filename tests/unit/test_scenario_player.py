"""The failure scenario's player on the core alone (fake clock): handset steps, their undoing, and a step that
finds nothing to act on."""

from __future__ import annotations

import structlog.testing

from smsc.config import ScenarioStep
from smsc.scenario import ScenarioPlayer
from tests.unit.test_smsc_support import Harness, carrier, make_config

OK = "447700900100"


def test_a_handset_step_switches_it_and_hands_it_back_after_its_duration() -> None:
    h = Harness(make_config(carrier()))
    ScenarioPlayer((ScenarioStep(at=10.0, action="handset", target=OK, value=False, duration=60.0),),
                   h.smsc, None, h.clock.now())
    pool = h.smsc.router.carriers["uk"].handsets
    h.advance(10.0)
    assert pool.is_online(OK, h.clock.now()) is False
    message_id = h.submit_ok(OK)
    h.advance(30.0)
    assert h.attempts(message_id)[0][1] == "absent"
    h.advance(30.0)  # handed back to the simulation (always online here): the waiting message goes
    h.advance(5.0)
    assert h.attempts(message_id)[-1][1] == "delivered"


def test_a_later_switch_of_the_handset_is_not_undone_by_an_earlier_steps_timer() -> None:
    """Tester 148: a step's "for" timer handed the handset back to the simulation after a later hold of the
    control API (which lasts until "online": null)."""
    h = Harness(make_config(carrier()))
    ScenarioPlayer((ScenarioStep(at=10.0, action="handset", target=OK, value=False, duration=60.0),),
                   h.smsc, None, h.clock.now())
    pool = h.smsc.router.carriers["uk"].handsets
    h.advance(20.0)
    h.smsc.set_handset_online(OK, False)  # the control API's hold, until released
    h.advance(120.0)
    assert pool.is_online(OK, h.clock.now()) is False


def test_a_step_on_a_number_no_carrier_serves_is_logged_not_raised() -> None:
    h = Harness(make_config(carrier()))  # (only numbers starting 44 are served)
    player = ScenarioPlayer((ScenarioStep(at=1.0, action="handset", target="12025550100", value=False),),
                            h.smsc, None, h.clock.now())
    with structlog.testing.capture_logs() as logs:
        h.advance(2.0)
    [failed] = [e for e in logs if e["event"] == "scenario_step_failed"]
    assert failed["target"] == "12025550100" and "no carrier serves" in failed["reason"]
    assert player.played == 1
