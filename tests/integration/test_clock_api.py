"""POST /api/clock: a test steps the simulated clock of a running server instead of racing a fast time_scale
(tester 154: at time_scale 600 a 2-minute absence took 0.2 s, so what a test could see in between depended on
the machine's speed; an expiry after hours needed a time_scale that made everything else a race)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import os
import signal
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import pytest

from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus

from .conftest import RawEsme, RunningSmsc, api_request, make_config, wait_until

NEVER_ON = "447700900400"  # handset never on: absent until the validity ends (README, "Test numbers")
OFF_TWO_MINUTES = "447700900300"  # handset off for 2 minutes from the first attempt, then delivered


def _slow(tmp_path: Path, time_scale: float = 0.001) -> Any:
    """The bundled world, its simulated clock nearly still: only POST /api/clock moves it."""
    cfg = make_config(tmp_path)
    return dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation, time_scale=time_scale,
                                                                   start_time=1_767_225_600.0))


def _submit(esme: RawEsme, destination: str, validity: str = "") -> str:
    resp = esme.request(P.SubmitSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                   destination_addr=destination, short_message=b"code 1234",
                                   registered_delivery=1, validity_period=validity))
    assert resp.command_status == CommandStatus.ESME_ROK
    return str(resp.message_id)


def _state(running: RunningSmsc, message_id: str) -> str:
    status, record = api_request(running, "GET", f"/api/messages/{message_id}")
    assert status == 200, record
    return str(record["state"])


def _seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_advancing_the_clock_runs_what_falls_due_in_order(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path) -> None:
    running = http_smsc(_slow(tmp_path))
    esme = RawEsme(running.port)
    try:
        esme.bind("transceiver")
        expiring = _submit(esme, NEVER_ON, validity="000000010000000R")  # one hour
        returning = _submit(esme, OFF_TWO_MINUTES)
        time.sleep(0.3)  # (the attempts' outcomes come within a simulated second or two: not yet, at 0.001)
        assert (_state(running, expiring), _state(running, returning)) == ("ENROUTE", "ENROUTE")

        status, clock = api_request(running, "POST", "/api/clock", {"advance": 600})
        assert status == 200, clock
        assert clock["advanced"] == 600 and clock["timers_run"] >= 2 and clock["time_scale"] == 0.001
        assert 600 <= _seconds(clock["time"]) - 1_767_225_600.0 < 601
        # Back after its 2 minutes: delivered, its receipt dated then, not at the end of the jump.
        assert (_state(running, expiring), _state(running, returning)) == ("ENROUTE", "DELIVERED")
        _, record = api_request(running, "GET", f"/api/messages/{returning}")
        assert 120 <= _seconds(record["final_time"]) - 1_767_225_600.0 < 130, record["final_time"]

        assert api_request(running, "POST", "/api/clock", {"advance": 3600})[0] == 200
        assert _state(running, expiring) == "EXPIRED"
        receipts = [d.short_message for d in esme.wait_deliveries(2)]
        assert any(b"stat:DELIVRD" in r for r in receipts) and any(b"stat:EXPIRED" in r for r in receipts), receipts
    finally:
        esme.close()
    status, clock = api_request(running, "GET", "/api/clock")
    assert status == 200 and 4200 <= _seconds(clock["time"]) - 1_767_225_600.0 < 4201


def test_a_bad_advance_is_refused_naming_the_field(http_smsc: Callable[..., RunningSmsc], tmp_path: Path) -> None:
    running = http_smsc(_slow(tmp_path))
    for body in ({"advance": 0}, {"advance": -5}, {"advance": "2h"}, {"advance": True}, {"advance": 400 * 86400},
                 {}):
        status, answer = api_request(running, "POST", "/api/clock", body)
        assert status == 400 and answer["error"].startswith("advance: expected the simulated seconds"), (body, answer)
    status, answer = api_request(running, "POST", "/api/clock", {"advance": 1, "by": 2})
    assert status == 400 and "by" in answer["error"]


def test_the_advanced_time_is_kept_across_a_restart(smsc_factory: Callable[..., RunningSmsc], tmp_path: Path) -> None:
    cfg = _slow(tmp_path)
    first = smsc_factory(cfg, http=True)
    assert api_request(first, "POST", "/api/clock", {"advance": 86400})[0] == 200
    first.stop()
    second = smsc_factory(dataclasses.replace(cfg, simulation=dataclasses.replace(cfg.simulation, start_time=None)),
                          http=True)
    _, clock = api_request(second, "GET", "/api/clock")
    assert _seconds(clock["time"]) - 1_767_225_600.0 >= 86400


def test_advancing_a_clock_at_time_scale_1(http_smsc: Callable[..., RunningSmsc], tmp_path: Path) -> None:
    # (time_scale 1 runs a plain SystemClock, which is never pinned: the jump still runs each deadline in turn)
    running = http_smsc(_slow(tmp_path, time_scale=1.0))
    esme = RawEsme(running.port)
    try:
        esme.bind("transceiver")
        expiring = _submit(esme, NEVER_ON, validity="000000010000000R")  # one hour
        status, clock = api_request(running, "POST", "/api/clock", {"advance": 3601})
        assert status == 200 and clock["time_scale"] == 1.0
        assert _state(running, expiring) == "EXPIRED"
        assert b"stat:EXPIRED" in esme.wait_deliveries(1)[-1].short_message
    finally:
        esme.close()


def test_a_jump_past_a_handsets_return_and_the_validity_delivers_a_message_read_back_from_the_store(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path) -> None:
    """Tester 159: with SQLite a waiting message leaves memory once its record is durable, and the handset's
    return reads it back on the store's reader thread; the jump ran on without it and expired it at the end
    of its validity, 3 minutes after the handset was back (the memory store delivered it)."""
    running = http_smsc(_slow(tmp_path))
    esme = RawEsme(running.port)
    try:
        esme.bind("transceiver")
        returning = _submit(esme, "447700900331", validity="000000000500000R")  # five minutes
        assert api_request(running, "POST", "/api/clock", {"advance": 10})[0] == 200  # the attempt: absent

        def evicted() -> int:
            return running.app.smsc.index.evicted  # type: ignore[union-attr]

        for _ in range(100):  # (the record is committed, then the message leaves memory)
            if running.call(evicted):
                break
            time.sleep(0.02)
        assert running.call(evicted) == 1
        status, clock = api_request(running, "POST", "/api/clock", {"advance": 400})
        assert status == 200, clock
        assert _state(running, returning) == "DELIVERED"
        _, record = api_request(running, "GET", f"/api/messages/{returning}")
        assert 120 <= _seconds(record["final_time"]) - 1_767_225_600.0 < 130, record["final_time"]
    finally:
        esme.close()


def test_a_jump_does_not_shorten_delays_in_real_seconds(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path) -> None:
    """Tester 161: the submit delay of 447700900914 (5 real seconds) and the wait of a transaction-mode data_sm
    (transaction_timeout, 25 real seconds) were timers on the simulated clock, which a jump ran at once: the
    response came after 1 s, and the data_sm ended "no delivery outcome within 25 s" before the outcome of its
    unknown subscriber, 1.5 simulated seconds in, that the jump was to run."""
    from smsc.smpp.constants import Tag

    running = http_smsc(_slow(tmp_path))
    esme = RawEsme(running.port, timeout=15)
    try:
        esme.bind("transceiver")
        seq = esme.send(P.DataSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                 destination_addr="447700900550", esm_class=0x02,  # transaction mode
                                 tlvs={Tag.message_payload: b"code 1234"}))
        time.sleep(0.2)
        assert api_request(running, "POST", "/api/clock", {"advance": 5})[0] == 200
        for _ in range(20):
            if any(getattr(p, "sequence_number", None) == seq for p in esme.pending):
                break
            esme._read()
        [resp] = [p for p in esme.pending if p.sequence_number == seq]
        assert resp.command_status == CommandStatus.ESME_RDELIVERYFAILURE
        assert resp.tlvs[Tag.delivery_failure_reason] == 1  # (1: destination unknown, not 3: a temporary error)

        started = time.monotonic()
        seq = esme.send(P.SubmitSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                   destination_addr="447700900914", short_message=b"slow"))
        time.sleep(0.2)
        assert api_request(running, "POST", "/api/clock", {"advance": 30})[0] == 200
        for _ in range(20):
            if any(getattr(p, "sequence_number", None) == seq for p in esme.pending):
                break
            esme._read()
        assert time.monotonic() - started >= 4.9
    finally:
        esme.close()


def _response_to(esme: RawEsme, seq: int) -> Any:
    """The response with sequence_number ``seq`` (bounded reads)."""
    for _ in range(100):
        for item in esme.pending:
            if item.sequence_number == seq:
                esme.pending.remove(item)
                return item
        esme._read()
    raise AssertionError(f"no response to sequence_number {seq}")


def _stopped_writer(running: RunningSmsc) -> int:
    """Stop the SQLite store's writer child (SIGSTOP): its pid, for the SIGCONT in the test's ``finally``."""
    pid = running.app.store.writer_pid  # type: ignore[union-attr]
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    return int(pid)


def test_a_jump_right_after_a_submit_attempts_the_message(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path) -> None:
    """Tester 163: a submit is attempted once its record is on disk; a jump that ran before the commit came back
    went past the attempt, and the message (validity 2 minutes, then a jump of 5) expired unattempted.  Here the
    writer child is stopped so that the commit is surely out when the jump is asked for: the jump waits for it."""
    running = http_smsc(_slow(tmp_path))
    esme = RawEsme(running.port)
    try:
        esme.bind("transceiver")
        pid = _stopped_writer(running)
        try:
            seq = esme.send(P.SubmitSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                       destination_addr="447700900123", short_message=b"code 1234",
                                       registered_delivery=1, validity_period="000000000200000R"))
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                jump = pool.submit(api_request, running, "POST", "/api/clock", {"advance": 300})
                time.sleep(0.5)
                assert not jump.done()  # (waiting for the commit of the submit)
                os.kill(pid, signal.SIGCONT)
                status, clock = jump.result(timeout=20)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert status == 200, clock
        resp = _response_to(esme, seq)
        assert resp.command_status == CommandStatus.ESME_ROK
        _, record = api_request(running, "GET", f"/api/messages/{resp.message_id}")
        assert record["state"] == "DELIVERED", record
        assert _seconds(record["final_time"]) - 1_767_225_600.0 < 10, record["final_time"]
    finally:
        esme.close()


def test_the_answer_to_a_jump_comes_once_the_new_time_is_on_disk(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path) -> None:
    """Tester 163: after a jump's 200 a kill -9 could lose the saved simulated time (the restart resumed before
    the jump).  With the writer child stopped the answer waits; then the file holds the new time."""
    running = http_smsc(_slow(tmp_path))
    pid = _stopped_writer(running)
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            jump = pool.submit(api_request, running, "POST", "/api/clock", {"advance": 7200})
            time.sleep(0.5)
            assert not jump.done()
            os.kill(pid, signal.SIGCONT)
            status, clock = jump.result(timeout=20)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert status == 200, clock
    with contextlib.closing(sqlite3.connect(running.app.store.path)) as conn:  # type: ignore[union-attr]
        (saved,) = conn.execute("SELECT value FROM counters WHERE name = 'sim_time_us'").fetchone()
    assert _seconds(clock["time"]) >= 1_767_225_600.0 + 7200
    assert saved / 1e6 >= _seconds(clock["time"]) - 0.001


def test_a_jump_on_a_store_that_does_not_commit_is_refused(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer child that does not answer (a hung disk): the jump cannot know what was accepted before it, so it
    is refused with 503 and the clock does not move."""
    import smsc.app as app_module

    monkeypatch.setattr(app_module, "ADVANCE_STORE_WAIT", 0.5)
    running = http_smsc(_slow(tmp_path))
    esme = RawEsme(running.port)
    try:
        esme.bind("transceiver")
        _, before = api_request(running, "GET", "/api/clock")
        pid = _stopped_writer(running)
        try:
            seq = esme.send(P.SubmitSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                       destination_addr="447700900123", short_message=b"code 1234"))
            time.sleep(0.1)
            status, answer = api_request(running, "POST", "/api/clock", {"advance": 300})
        finally:
            os.kill(pid, signal.SIGCONT)
        assert status == 503 and "the clock was not moved" in answer["error"], answer
        _, after = api_request(running, "GET", "/api/clock")
        assert _seconds(after["time"]) - _seconds(before["time"]) < 5
        assert _response_to(esme, seq).command_status == CommandStatus.ESME_ROK
    finally:
        esme.close()


def test_a_jump_drains_the_messages_of_a_returning_handset_while_receipts_wait_for_an_esme(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 165: with SQLite, a handset that comes back with many messages on disk has them drained, and the
    drain pauses while too many receipts wait for the ESMEs.  In a jump no receipt can reach an ESME, so the
    drain paused until the jump's end (looking again every 10 real ms: 10 simulated microseconds at 0.001, 29
    million timers in a jump of 400 s that froze the server for minutes) and the messages expired with their
    handset online.  Here the bounds are made small: 30 messages drain, with more receipts unread than the
    backlog allows (a receiver that never reads)."""
    import smsc.core.waits as waits_module

    monkeypatch.setattr(waits_module, "ALERT_READ_BACK", 4)
    monkeypatch.setattr(waits_module, "DRAIN_BACKLOG", 5)
    running = http_smsc(_slow(tmp_path))
    sender, deaf = RawEsme(running.port), RawEsme(running.port)
    try:
        sender.bind("transmitter")
        deaf.bind("receiver")  # (never reads: its receipts stay owed)
        ids = []
        for _ in range(30):
            resp = sender.request(P.SubmitSm(source_addr="ACME", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                             destination_addr="447700900300", short_message=b"code 1234",
                                             registered_delivery=0x11, validity_period="000000000230000R"))
            assert resp.command_status == CommandStatus.ESME_ROK
            ids.append(str(resp.message_id))
        assert api_request(running, "POST", "/api/clock", {"advance": 10})[0] == 200  # absent: ENROUTE receipts
        assert running.call(lambda: running.app.smsc.outbox.backlog()) >= 30  # type: ignore[union-attr]

        def evicted() -> int:
            return running.app.smsc.index.evicted  # type: ignore[union-attr]

        wait_until(lambda: running.call(evicted) == 30, what="the 30 messages evicted")
        started = time.monotonic()
        status, clock = api_request(running, "POST", "/api/clock", {"advance": 300})
        took = time.monotonic() - started
        assert status == 200, clock
        assert clock["timers_run"] < 10_000 and took < 10, (clock, took)
        states = {_state(running, message_id) for message_id in ids}
        assert states == {"DELIVERED"}, states
    finally:
        sender.close()
        deaf.close()


def test_a_jump_whose_new_time_is_not_saved_says_so_and_a_queued_jump_does_not_wait_twice(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 165: with the writer child stopped and nothing waiting for a commit, the jump answered 200 after 30 s
    (a log line the only sign) and a restart resumed before it; a second jump queued behind one waiting for the
    store waited its 30 s and then 30 more; neither refusal was logged."""
    import structlog
    from structlog.testing import LogCapture

    import smsc.app as app_module
    import smsc.http.api as api_module

    monkeypatch.setattr(app_module, "ADVANCE_STORE_WAIT", 1.0)
    monkeypatch.setattr(app_module, "SIM_TIME_RECORD_INTERVAL", 3600.0)  # (no commit of its own meanwhile)
    capture = LogCapture()
    monkeypatch.setattr(api_module, "log", structlog.wrap_logger(
        structlog.PrintLogger(), processors=[capture], wrapper_class=structlog.stdlib.BoundLogger))
    running = http_smsc(_slow(tmp_path))
    store: Any = running.app.store

    def settled() -> bool:
        return bool(store.commits_outstanding(store.commit_mark()) == 0)

    wait_until(lambda: running.call(settled), what="the start's commits done")
    pid = _stopped_writer(running)
    try:
        status, answer = api_request(running, "POST", "/api/clock", {"advance": 600})
        assert status == 503, answer
        assert answer["error"].startswith("the clock moved to 2026-01-01T00:10:00") and "restart" in answer["error"]
        # Now a commit is out (the time just moved): two jumps asked for together are both refused within the wait.
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            jumps = [pool.submit(api_request, running, "POST", "/api/clock", {"advance": 60}) for _ in range(2)]
            answers = [jump.result(timeout=20) for jump in jumps]
        assert time.monotonic() - started < 1.9, answers
        assert [status for status, _ in answers] == [503, 503], answers
        assert all("the clock was not moved" in answer["error"] for _, answer in answers), answers
    finally:
        os.kill(pid, signal.SIGCONT)
    assert [e["event"] for e in capture.entries if e["event"] == "clock_advance_refused"] == [
        "clock_advance_refused"] * 3
    _, clock = api_request(running, "GET", "/api/clock")
    assert 600 <= _seconds(clock["time"]) - 1_767_225_600.0 < 601


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_jump_drains_a_returning_handsets_queue_at_its_own_pace(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str) -> None:
    """Tester 168: after tester 165's fix every drain step in a jump came a simulated second after the last (1,024
    messages a second: 20,564 of 40,000 expired that the clock running delivered), and a jump that ended
    mid-drain left the rest until the next whole second (1,000 real seconds at 0.001).  Small batches here: 100
    messages in batches of 4 drain within the second the handset is back, and a jump that ends while they
    drain leaves none unattempted."""
    import smsc.core.waits as waits_module

    monkeypatch.setattr(waits_module, "ALERT_READ_BACK", 4)
    monkeypatch.setattr(waits_module, "DRAIN_BATCH", 4)
    cfg = _slow(tmp_path)
    if store == "memory":
        cfg = dataclasses.replace(cfg, store=dataclasses.replace(cfg.store, kind="memory"))
    running = http_smsc(cfg)
    esme = RawEsme(running.port)
    try:
        esme.bind("transceiver")
        ids = [_submit(esme, "447700900300", validity="000000000220000R") for _ in range(100)]  # 2 min 20 s
        assert api_request(running, "POST", "/api/clock", {"advance": 10})[0] == 200  # absent until about 2:01

        def evicted() -> int:
            return running.app.smsc.index.evicted  # type: ignore[union-attr]

        wait_until(lambda: running.call(evicted) == 100, what="the 100 messages evicted")
        # To just after the return (its drain under way as the jump ends), then a moment later.
        status, clock = api_request(running, "POST", "/api/clock", {"advance": 112})
        assert status == 200, clock
        wait_until(lambda: running.call(evicted) == 0, what="every message read back after the jump")
        assert api_request(running, "POST", "/api/clock", {"advance": 60})[0] == 200
        records = [api_request(running, "GET", f"/api/messages/{message_id}")[1] for message_id in ids]
        assert {r["state"] for r in records} == {"DELIVERED"}, sorted({(r["state"], r["final_time"]) for r in records})
        assert max(_seconds(r["final_time"]) for r in records) - 1_767_225_600.0 < 126
    finally:
        esme.close()


def test_receipts_a_jump_makes_wait_for_their_commit(
        http_smsc: Callable[..., RunningSmsc], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tester 168: with the writer child stopped, a jump sent its 2,020 receipts before any of their messages'
    states was on disk (commits had lagged less than the 50 ms that hold receipts back: a jump makes minutes of
    them at once), and after a crash every one was sent again.  In a jump receipts wait for their commit."""
    import smsc.app as app_module

    monkeypatch.setattr(app_module, "ADVANCE_STORE_WAIT", 1.0)
    monkeypatch.setattr(app_module, "SIM_TIME_RECORD_INTERVAL", 3600.0)  # (no commit of its own meanwhile)
    running = http_smsc(_slow(tmp_path))
    store: Any = running.app.store
    esme = RawEsme(running.port)
    pid = None
    try:
        esme.bind("transceiver")
        ids = [_submit(esme, "447700900250") for _ in range(5)]  # delivered 30 s after the attempt: in the jump
        wait_until(lambda: running.call(lambda: store.commits_outstanding(store.commit_mark()) == 0),
                   what="the submits' commits done")
        pid = _stopped_writer(running)
        status, answer = api_request(running, "POST", "/api/clock", {"advance": 60})
        assert status == 503 and answer["error"].startswith("the clock moved"), answer
        assert {_state(running, message_id) for message_id in ids} == {"DELIVERED"}
        esme.sock.settimeout(0.3)
        with contextlib.suppress(TimeoutError):
            esme._read()
        assert esme.delivered == []  # (their states are not on disk)
        esme.sock.settimeout(5.0)
        os.kill(pid, signal.SIGCONT)
        pid = None
        receipts = [d.short_message for d in esme.wait_deliveries(5)]
        assert sum(b"stat:DELIVRD" in r for r in receipts) == 5, receipts
    finally:
        if pid is not None:
            os.kill(pid, signal.SIGCONT)
        esme.close()
