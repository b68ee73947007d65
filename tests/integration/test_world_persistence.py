"""What the simulated world keeps across a restart on the same SQLite file: the simulation time of a scaled
clock (so time never runs backwards for stored messages) and the opted-out handsets."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from smsc.config import Config
from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus

from .conftest import RawEsme, RunningSmsc, make_config, smsc_command, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
NEVER_ONLINE = "447700900400"


def _fast(tmp_path: Path) -> Config:
    cfg = make_config(tmp_path)
    return dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation, time_scale=3600.0))


def test_a_scaled_clock_resumes_where_it_was_after_a_restart(tmp_path: Path) -> None:
    cfg = _fast(tmp_path)
    first = RunningSmsc(cfg)
    first.start()
    time.sleep(0.5)  # half a real second: half a simulated hour ahead of the wall clock
    before = first.call(lambda: first.app.clock.now())
    first.stop()
    assert before > time.time() + 1000

    second = RunningSmsc(cfg)
    second.start()
    try:
        after = second.call(lambda: second.app.clock.now())
        assert after >= before
    finally:
        second.stop()


def test_a_clock_started_in_the_past_goes_on_from_there_after_a_restart_without_its_start_time(
        tmp_path: Path) -> None:
    """Tester 73: a world started at 2026-01-01 (``--start-time``), restarted without it, jumped to the wall time,
    11 months on, and every message waiting for a handset came back EXPIRED.  The store now says when the
    simulated time was written by the wall clock: a clock that ran on its own goes on from where it was.  A
    clock that was the wall clock (time_scale 1, no start_time) still starts at the wall time."""
    cfg = make_config(tmp_path)
    past = time.time() - 300 * 86400.0
    first = RunningSmsc(dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation, start_time=past)))
    first.start()
    esme = RawEsme(first.port)
    try:
        esme.bind("transceiver")
        waiting = esme.request(P.SubmitSm(source_addr="447700900001", source_addr_ton=1, source_addr_npi=1,
                                          dest_addr_ton=1, dest_addr_npi=1, destination_addr=NEVER_ONLINE,
                                          short_message=b"waits", registered_delivery=1)).message_id
    finally:
        esme.close()
    before = first.call(lambda: first.app.clock.now())
    first.stop()
    assert before < past + 60

    second = RunningSmsc(cfg)  # (no start_time)
    second.start()
    try:
        after = second.call(lambda: second.app.clock.now())
        assert before <= after < before + 60
        state = second.call(lambda: second.app.smsc.message(waiting).state)  # type: ignore[union-attr]
        assert state == 1  # ENROUTE: its 2-day validity has not passed in the world
    finally:
        second.stop()

    third = RunningSmsc(cfg)  # the clock of the second run was its own too: it goes on again
    third.start()
    try:
        assert third.call(lambda: third.app.clock.now()) < past + 120
    finally:
        third.stop()


def test_a_store_of_an_older_smsc_that_records_no_wall_time_says_its_clock_jumped(tmp_path: Path) -> None:
    """Tester 74: without the wall time of its simulated time (a store an older smsc wrote) a world started in the
    past cannot tell its clock from the wall clock, and jumped to the wall time without a word."""
    import sqlite3

    import structlog

    cfg = make_config(tmp_path)
    past = time.time() - 300 * 86400.0
    first = RunningSmsc(dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation, start_time=past)))
    first.start()
    first.stop()
    with sqlite3.connect(cfg.store.path) as conn:
        conn.execute("DELETE FROM counters WHERE name = 'sim_wall_us'")
    conn.close()
    with structlog.testing.capture_logs() as logs:
        second = RunningSmsc(cfg)
        second.start()
        second.stop()
    [jumped] = [e for e in logs if e["event"] == "sim_time_jumped"]
    assert jumped["seconds"] >= 300 * 86400 - 60 and "older smsc" in jumped["reason"], jumped


def test_a_world_ahead_of_the_wall_clock_says_where_it_resumes(tmp_path: Path) -> None:
    """Tester 99: a time_scale world, stopped and started again on its store, went on hours ahead of the wall clock
    without a log line (only one behind it said sim_time_resumed)."""
    import structlog

    cfg = make_config(tmp_path)
    ahead = time.time() + 3 * 3600.0
    first = RunningSmsc(dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation, start_time=ahead)))
    first.start()
    first.stop()
    with structlog.testing.capture_logs() as logs:
        second = RunningSmsc(cfg)  # (no start_time)
        second.start()
        second.stop()
    [resumed] = [e for e in logs if e["event"] == "sim_time_resumed"]
    assert 3 * 3600 - 60 <= resumed["ahead_of_wall_clock_seconds"] <= 3 * 3600 + 60, resumed


def test_a_wall_clock_world_starts_at_the_wall_time_after_a_restart(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    first = RunningSmsc(cfg)
    first.start()
    first.stop()
    second = RunningSmsc(cfg)
    second.start()
    try:
        assert abs(second.call(lambda: second.app.clock.now()) - time.time()) < 5
    finally:
        second.stop()


def test_an_opted_out_handset_stays_opted_out_after_a_restart(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    first = RunningSmsc(cfg)
    first.start()
    number = "447700900150"

    def opt_out() -> None:
        carrier = first.app.smsc.router.route(number)  # type: ignore[union-attr]
        carrier.handsets.opt_out(number)

    first.call(opt_out)
    first.stop()

    second = RunningSmsc(cfg)
    second.start()
    try:
        opted = second.call(lambda: second.app.smsc.router.route(number).handsets.opted_out(number))  # type: ignore[union-attr]
        assert opted
    finally:
        second.stop()


def test_a_handset_a_rule_starts_opted_out_stays_opted_in_after_a_restart(tmp_path: Path) -> None:
    """Tester 94: 447700900850 (the default world's opted-out range) sent START, or the control API opted it in;
    after a restart it was opted out again and MT got REJECTD err:603: only opt-outs were kept, and the rule's
    default came back.  Opting out again after that is kept too."""
    cfg = make_config(tmp_path)
    number = "447700900850"

    def handsets(server: RunningSmsc) -> Any:
        return server.app.smsc.router.route(number).handsets  # type: ignore[union-attr]

    first = RunningSmsc(cfg)
    first.start()
    assert first.call(lambda: handsets(first).opted_out(number))  # (the rule's default)
    first.call(lambda: handsets(first).opt_in(number))
    first.stop()
    second = RunningSmsc(cfg)
    second.start()
    try:
        assert not second.call(lambda: handsets(second).opted_out(number))
        second.call(lambda: handsets(second).opt_out(number))
    finally:
        second.stop()
    third = RunningSmsc(cfg)
    third.start()
    try:
        assert third.call(lambda: handsets(third).opted_out(number))
    finally:
        third.stop()


def _serve_scaled(tmp_path: Path, config: Path, db: Path) -> tuple[subprocess.Popen[str], int, int]:
    """``smsc serve`` on ``config`` and ``db``; returns the process, its SMPP port and its HTTP port."""
    lines: list[str] = []
    proc = subprocess.Popen(
        [*smsc_command(), "serve", "-c", str(config), "--port", "0", "--host", "127.0.0.1", "--http-port", "0",
         "--http-host", "127.0.0.1", "--log-format", "json", "--db", str(db)],
        cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        port = wait_for_port(proc, lines)
        for _ in range(300):  # (the HTTP line follows the SMPP one: 3 s at most)
            found = [json.loads(line) for line in list(lines) if '"protocol": "http"' in line]
            if found:
                return proc, port, int(found[0]["port"])
            time.sleep(0.01)
        raise AssertionError("no HTTP port:\n" + "".join(lines))
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise


def _get(port: int, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_a_scaled_clock_never_resumes_behind_a_message_after_a_kill(tmp_path: Path) -> None:
    # Found by a tester: the simulation time was saved every 5 real seconds only, so after a kill -9 a scaled
    # clock resumed behind the submit times the last commits had recorded (at 3,600x, up to 5 simulated
    # hours), and a waiting message then lay in the clock's future.  Now every batch saves the time too.
    config = tmp_path / "scaled.yaml"
    raw = yaml.safe_load((ROOT / "config" / "default.yaml").read_text())
    raw.setdefault("simulation", {})["time_scale"] = 3600.0
    config.write_text(yaml.safe_dump(raw))
    db = tmp_path / "smsc.sqlite"
    proc, port, _ = _serve_scaled(tmp_path, config, db)
    try:
        time.sleep(3.0)  # 3 real s after the start's save (the next is at 5 s): 3 simulated hours on
        esme = RawEsme(port)
        esme.bind("transmitter")
        resp = esme.request(P.SubmitSm(source_addr_ton=5, source_addr="ACME", dest_addr_ton=1, dest_addr_npi=1,
                                       destination_addr=NEVER_ONLINE, short_message=b"waits"))
        assert resp.command_status == CommandStatus.ESME_ROK
        os.kill(proc.pid, signal.SIGKILL)  # before the periodic save
        proc.wait(timeout=10)
        esme.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)

    proc, _, http_port = _serve_scaled(tmp_path, config, db)
    try:
        message = _get(http_port, f"/api/messages/{resp.message_id}")
        now = _get(http_port, "/api/stats")["time"]
        # (ISO 8601 UTC of one width: the text order is the time order)
        assert message["submit_time"] <= now, (message["submit_time"], now)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

