"""Tester 153's protocol findings, over a real socket: one PDU answered differently from one try to the next at
an exact time boundary (a relative validity_period of zero, a schedule_delivery_time of exactly
simulation.max_schedule), and port TLVs whose header on the air took no room."""

from __future__ import annotations

from typing import Any, Callable

from smsc.core.validity import Reject, SubmitTimes
from smsc.smpp import pdu as P
from smsc.smpp.constants import CommandStatus

from .conftest import RawEsme, RunningSmsc, api_request

DELIVERED_AT_ONCE = "447700900123"
FOURTEEN_DAYS = 14 * 86400.0


def test_a_time_at_an_exact_boundary_gets_one_answer_whatever_the_clock_reads() -> None:
    # Tester 153: 3,805 of 10,000 zero validities were accepted (the clock's float against its datetime rounded to
    # whole microseconds); 12 of 20 schedules of exactly max_schedule.
    times = SubmitTimes(default_validity=86400.0, max_validity=FOURTEEN_DAYS, max_schedule=FOURTEEN_DAYS)
    refused_validity = refused_schedule = 0
    for i in range(10_000):
        now = 1_764_580_000.0 + i * 0.000_000_37 + i * 0.013
        try:
            times.times("", "000000000000000R", now)
        except Reject:
            refused_validity += 1
        try:
            schedule, _ = times.times("000014000000000R", "", now)
        except Reject:
            refused_schedule += 1
        else:
            assert schedule is not None and abs(schedule - now - FOURTEEN_DAYS) < 1e-3
    assert (refused_validity, refused_schedule) == (10_000, 0)


def _submit(**fields: Any) -> P.SubmitSm:
    return P.SubmitSm(**{"source_addr": "ACME", "source_addr_ton": 5, "dest_addr_ton": 1, "dest_addr_npi": 1,
                         "destination_addr": DELIVERED_AT_ONCE, "short_message": b"hi", **fields})


def test_identical_submits_at_a_time_boundary_get_identical_answers(smsc_server: RunningSmsc) -> None:
    esme = RawEsme(smsc_server.port)
    try:
        esme.bind("transceiver")
        zero = [esme.request(_submit(validity_period="000000000000000R")).command_status for _ in range(20)]
        limit = [esme.request(_submit(schedule_delivery_time="000014000000000R")).command_status for _ in range(20)]
        beyond = esme.request(_submit(schedule_delivery_time="000014000001000R")).command_status
    finally:
        esme.close()
    assert zero == [CommandStatus.ESME_RINVEXPIRY] * 20
    assert limit == [CommandStatus.ESME_ROK] * 20
    assert beyond == CommandStatus.ESME_RINVSCHED


def test_a_message_payload_with_port_tlvs_counts_the_port_header_in_each_part(
        http_smsc: Callable[..., RunningSmsc]) -> None:
    # 400 octets of 8-bit data: 3 parts of 134 octets without ports; with port TLVs each part carries the port
    # element too (12 octets of header: 128 octets each), 4 parts (tester 153: the API said as many as without).
    running = http_smsc()
    esme = RawEsme(running.port)
    try:
        esme.bind("transceiver")
        plain = esme.request(_submit(data_coding=4, short_message=b"", tlvs={0x0424: b"\x01" * 400}))
        ported = esme.request(_submit(data_coding=4, short_message=b"",
                                      tlvs={0x0424: b"\x01" * 400, 0x020A: 16000, 0x020B: 2948}))
    finally:
        esme.close()
    assert plain.command_status == ported.command_status == CommandStatus.ESME_ROK
    counts = [api_request(running, "GET", f"/api/messages/{r.message_id}")[1]["sms_count"] for r in (plain, ported)]
    assert counts == [3, 4]


def test_port_tlvs_leave_one_sms_less_room_as_the_same_ports_in_a_udh(smsc_server: RunningSmsc) -> None:
    ports_udh = bytes.fromhex("060504") + (2948).to_bytes(2, "big") + (16000).to_bytes(2, "big")
    esme = RawEsme(smsc_server.port)
    try:
        esme.bind("transceiver")
        statuses = [esme.request(pdu).command_status for pdu in (
            _submit(data_coding=4, esm_class=0x40, short_message=ports_udh + b"\x01" * 134),
            _submit(data_coding=4, short_message=b"\x01" * 134, tlvs={0x020A: 16000, 0x020B: 2948}),
            _submit(data_coding=4, short_message=b"\x01" * 133, tlvs={0x020A: 16000, 0x020B: 2948}),
        )]
    finally:
        esme.close()
    assert statuses == [CommandStatus.ESME_RINVMSGLEN, CommandStatus.ESME_RINVMSGLEN, CommandStatus.ESME_ROK]


def test_a_refused_time_is_explained_against_the_simulated_clock(smsc_server: RunningSmsc) -> None:
    # Tester 157: a gateway wrote its local time labelled UTC (+00); the reason listed "in the past, before the
    # schedule, or beyond simulation.max_validity" (the last is clamped, never refused) and no time to compare.
    import structlog.testing

    esme = RawEsme(smsc_server.port)
    try:
        esme.bind("transceiver")
        with structlog.testing.capture_logs() as logs:
            statuses = [esme.request(pdu).command_status for pdu in (
                _submit(validity_period="200101000000000+"),  # 2020: ended long ago
                _submit(schedule_delivery_time="000020000000000R"),  # 20 days ahead: beyond max_schedule (14 d)
                _submit(schedule_delivery_time="000000020000000R", validity_period="000000010000000R"),
                _submit(validity_period="2613010000000000"),  # not a time: 16 characters, month 13, no p
            )]
    finally:
        esme.close()
    assert statuses == [CommandStatus.ESME_RINVEXPIRY, CommandStatus.ESME_RINVSCHED, CommandStatus.ESME_RINVEXPIRY,
                        CommandStatus.ESME_RINVEXPIRY]
    reasons = [e["reason"] for e in logs if e["event"] == "submit_refused"]
    assert reasons[0].startswith("validity_period '200101000000000+' ended ") and " d " in reasons[0]
    assert "(2020-01-01T00:00:00.000Z; the simulated now is " in reasons[0]
    assert reasons[0].endswith("a local time written as +00 is off by the sender's offset) against the simulated "
                               "clock")
    assert reasons[1].startswith("schedule_delivery_time '000020000000000R' is 20 d ahead (")
    assert reasons[1].endswith("beyond simulation.max_schedule (14 d)")
    assert reasons[2].startswith("validity_period '000000010000000R' ends at ")
    assert ", not after the schedule_delivery_time (" in reasons[2]
    assert reasons[3].startswith("validity_period '2613010000000000': not a time of SMPP 3.4 section 7.1 (")
