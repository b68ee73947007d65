"""The SMSC session state machine, without sockets: bytes in, events and bytes out."""

from __future__ import annotations

import struct

import pytest

from smsc.smpp import pdu as P
from smsc.smpp.codec import Framer, encode
from smsc.smpp.constants import BindType, CommandStatus as S, MAX_SEQUENCE
from smsc.smpp.session import (
    ALLOWED_REQUESTS,
    BindRequested,
    CloseRequested,
    LATE_RESPONSES_KEPT,
    LateResponse,
    LinkDead,
    MalformedResponse,
    RequestReceived,
    ResponseReceived,
    ResponseTimedOut,
    Session,
    SessionState,
    SessionTimers,
    SubmitRefused,
    Unbound,
    UnmatchedResponse,
)


def sent(session: Session) -> list[P.Pdu]:
    """Decode everything the session wants to write."""
    out = Framer().feed(session.data_to_send())
    assert all(isinstance(p, P.Pdu) for p in out)
    return out  # type: ignore[return-value]


def bound(bind: type[P.Pdu] = P.BindTransceiver, **kw: object) -> Session:
    s = Session(now=0.0, **kw)  # type: ignore[arg-type]
    (ev,) = s.receive_data(encode(bind(sequence_number=1, system_id="test", password="test")), 0.0)
    assert isinstance(ev, BindRequested)
    s.accept_bind(ev, "smsc")
    sent(s)
    return s


def test_bind_is_an_event_and_accept_answers_with_system_id_and_version_tlv() -> None:
    s = Session(now=0.0)
    events = s.receive_data(encode(P.BindTransmitter(sequence_number=7, system_id="acme", password="pw")), 0.0)
    assert len(events) == 1 and isinstance(events[0], BindRequested)
    assert events[0].bind_type is BindType.TRANSMITTER
    assert s.data_to_send() == b""  # nothing answered before the decision
    s.accept_bind(events[0], "smsc")
    (resp,) = sent(s)
    assert isinstance(resp, P.BindTransmitterResp)
    assert (resp.sequence_number, resp.command_status, resp.system_id) == (7, 0, "smsc")
    assert resp.tlvs == {0x0210: 0x34}
    assert s.state is SessionState.BOUND_TX and s.system_id == "acme"


def test_bind_of_a_v33_esme_gets_no_tlvs() -> None:
    s = Session(now=0.0)
    (ev,) = s.receive_data(encode(P.BindReceiver(sequence_number=1, system_id="a", interface_version=0x33)), 0.0)
    s.accept_bind(ev, "smsc")
    (resp,) = sent(s)
    assert resp.tlvs == {}


def _bound_as(bind: type[P.Pdu], version: int) -> Session:
    s = Session(now=0.0)
    (ev,) = s.receive_data(encode(bind(sequence_number=1, system_id="test", interface_version=version)), 0.0)
    assert isinstance(ev, BindRequested)
    s.accept_bind(ev, "smsc")
    sent(s)
    return s


@pytest.mark.parametrize("version", [0x33, 0x00])
def test_data_sm_from_a_v33_bind_gets_generic_nack_invcmdid(version: int) -> None:
    """SMPP 3.3 has no data_sm: treated as an unknown command (SMPP 3.4 sections 3.3, 4.3), decodable or not;
    the session goes on, and a 3.4 bind still has it."""
    s = _bound_as(P.BindTransmitter, version)
    bad_tlv = encode(P.DataSm(sequence_number=6, destination_addr="1")) + b"\x04\x24\x00"  # (a broken TLV)
    bad_tlv = (len(bad_tlv)).to_bytes(4, "big") + bad_tlv[4:]
    events = s.receive_data(encode(P.DataSm(sequence_number=5, destination_addr="1")) + bad_tlv, 0.0)
    assert [(type(e), e.status) for e in events] == [(SubmitRefused, S.ESME_RINVCMDID)] * 2  # type: ignore[union-attr]
    nacks = sent(s)
    assert [(type(p), p.sequence_number, p.command_status) for p in nacks] == [
        (P.GenericNack, 5, S.ESME_RINVCMDID), (P.GenericNack, 6, S.ESME_RINVCMDID)]
    (ev,) = s.receive_data(encode(P.SubmitSm(sequence_number=7, short_message=b"hi")), 0.0)
    assert isinstance(ev, RequestReceived)
    s34 = _bound_as(P.BindTransmitter, 0x34)
    (ev,) = s34.receive_data(encode(P.DataSm(sequence_number=5, destination_addr="1")), 0.0)
    assert isinstance(ev, RequestReceived)


def test_responses_to_a_v33_bind_carry_no_tlvs() -> None:
    """SMPP 3.3 knows no optional parameters (SMPP 3.4 section 5.3): dropped from what we answer, as from our
    requests; a 3.4 bind keeps them."""
    tlvs = {0x0425: 1, 0x001D: "unknown subscriber"}
    for version, kept in ((0x33, {}), (0x34, tlvs)):
        s = _bound_as(P.BindTransceiver, version)
        s.respond(P.SubmitMultiResp(sequence_number=4, message_id="1", tlvs=dict(tlvs)))
        (resp,) = sent(s)
        assert resp.tlvs == kept


def test_rejected_bind_keeps_session_open_and_answers_without_body() -> None:
    s = Session(now=0.0)
    (ev,) = s.receive_data(encode(P.BindTransceiver(sequence_number=3, system_id="x", password="bad")), 0.0)
    s.reject_bind(ev, S.ESME_RINVPASWD)
    raw = s.data_to_send()
    assert len(raw) == 16  # header only: no body on a failed bind_resp (SMPP 3.4 section 4.1.2)
    (resp,) = Framer().feed(raw)
    assert isinstance(resp, P.BindTransceiverResp) and resp.command_status == S.ESME_RINVPASWD
    assert s.state is SessionState.OPEN


@pytest.mark.parametrize("request_cls", [P.SubmitSm, P.QuerySm, P.CancelSm, P.ReplaceSm, P.SubmitMulti, P.DataSm])
def test_requests_before_bind_get_invbndsts_in_their_own_resp(request_cls: type[P.Pdu]) -> None:
    s = Session(now=0.0)
    kw = {"dest_addresses": [P.SmeAddress(destination_addr="1")]} if request_cls is P.SubmitMulti else {}
    events = s.receive_data(encode(request_cls(sequence_number=9, **kw)), 0.0)
    if request_cls in (P.SubmitSm, P.SubmitMulti, P.DataSm, P.ReplaceSm):  # reported: counted, logged
        assert events == [SubmitRefused(request_cls.command_id, S.ESME_RINVBNDSTS)]
        assert events[0].reason == "not allowed in the session's state (OPEN): bind first (SMPP 3.4 Table 2-1)"
    else:
        assert events == []
    (resp,) = sent(s)
    assert resp.command_id == request_cls.command_id | 0x80000000
    assert (resp.command_status, resp.sequence_number) == (S.ESME_RINVBNDSTS, 9)


def test_submit_on_a_receiver_bind_is_refused() -> None:
    s = bound(P.BindReceiver)
    assert s.receive_data(encode(P.SubmitSm(sequence_number=5)), 0.0) == [
        SubmitRefused(P.SubmitSm.command_id, S.ESME_RINVBNDSTS)]
    (resp,) = sent(s)
    assert isinstance(resp, P.SubmitSmResp) and resp.command_status == S.ESME_RINVBNDSTS


def test_data_sm_on_a_receiver_bind_is_taken_as_smpp_3_4_allows() -> None:
    # SMPP 3.4 Table 2-1: data_sm in every bound state (5.0 restricts it to transmitters and transceivers).
    s = bound(P.BindReceiver)
    (ev,) = s.receive_data(encode(P.DataSm(sequence_number=6, destination_addr="447700900123")), 0.0)
    assert isinstance(ev, RequestReceived) and isinstance(ev.pdu, P.DataSm)
    assert sent(s) == []  # (answered by the adapter once the core has it)


def test_second_bind_gets_already_bound() -> None:
    s = bound()
    assert s.receive_data(encode(P.BindTransmitter(sequence_number=2, system_id="test")), 0.0) == []
    (resp,) = sent(s)
    assert isinstance(resp, P.BindTransmitterResp) and resp.command_status == S.ESME_RALYBND


def test_deliver_sm_from_an_esme_is_not_allowed() -> None:
    s = bound()
    s.receive_data(encode(P.DeliverSm(sequence_number=4)), 0.0)
    (resp,) = sent(s)
    assert isinstance(resp, P.DeliverSmResp) and resp.command_status == S.ESME_RINVBNDSTS


@pytest.mark.parametrize("command_id", [0x00000005, 0x0000000B, 0x00000102])  # deliver_sm, outbind, alert
def test_a_pdu_only_an_smsc_sends_is_refused_for_the_state_whatever_its_body(command_id: int) -> None:
    """Tester 178: deliver_sm, outbind and alert_notification as a bare 16-octet header got ESME_RINVCMDLEN,
    with a valid body ESME_RINVBNDSTS: an ESME may never send them, so the state is the error either way."""
    s = bound()
    s.receive_data(struct.pack(">IIII", 16, command_id, 0, 21), 0.0)
    (resp,) = sent(s)
    assert resp.command_status == S.ESME_RINVBNDSTS and resp.sequence_number == 21
    assert isinstance(resp, P.DeliverSmResp if command_id == 5 else P.GenericNack)
    assert s.state.name == "BOUND_TRX"


def test_submit_in_bound_state_is_an_event_and_answered_by_respond() -> None:
    s = bound(P.BindTransmitter)
    (ev,) = s.receive_data(encode(P.SubmitSm(sequence_number=11, destination_addr="447700900123")), 0.0)
    assert isinstance(ev, RequestReceived) and ev.pdu.destination_addr == "447700900123"
    s.respond(P.SubmitSmResp(sequence_number=11, message_id="abc"))
    (resp,) = sent(s)
    assert resp.message_id == "abc"


def test_enquire_link_answered_in_open_and_bound_states() -> None:
    s = Session(now=0.0)
    assert s.receive_data(encode(P.EnquireLink(sequence_number=7)), 0.0) == []
    assert s.data_to_send() == bytes.fromhex("00000010800000150000000000000007")


def test_unbind_answers_and_asks_to_close() -> None:
    s = bound()
    s.receive_data(encode(P.SubmitSm(sequence_number=7)), 0.0)
    events = s.receive_data(encode(P.Unbind(sequence_number=8)), 0.0)
    assert [type(e) for e in events] == [Unbound]
    assert s.state is SessionState.UNBOUND
    assert s.data_to_send() == b""  # the adapter first answers what it owes (the submit_sm_resp of seq 7)
    s.receive_data(encode(P.SubmitSm(sequence_number=9)), 0.0)
    (refused,) = sent(s)
    assert refused.command_status == S.ESME_RINVBNDSTS  # nothing new after unbind
    s.respond(P.SubmitSmResp(sequence_number=7, message_id="m7"))
    s.answer_unbind(events[0])
    owed, resp = sent(s)
    assert owed.sequence_number == 7
    assert isinstance(resp, P.UnbindResp) and resp.sequence_number == 8
    assert s.state is SessionState.UNBOUND


def test_unknown_command_id_gets_generic_nack_and_session_goes_on() -> None:
    s = bound()
    raw = bytes.fromhex("00000010 00000999 00000000 0000002a".replace(" ", ""))
    assert s.receive_data(raw + encode(P.EnquireLink(sequence_number=43)), 0.0) == []
    nack, el = sent(s)
    assert isinstance(nack, P.GenericNack)
    assert (nack.command_status, nack.sequence_number) == (S.ESME_RINVCMDID, 42)
    assert isinstance(el, P.EnquireLinkResp)


def test_bad_command_length_closes_without_waiting_for_the_body() -> None:
    s = bound()
    events = s.receive_data(bytes.fromhex("7fffffff0000000400000000000000050000"), 0.0)
    assert len(events) == 1 and isinstance(events[0], CloseRequested)
    (nack,) = sent(s)
    assert nack.command_status == S.ESME_RINVCMDLEN
    assert s.input_closed
    assert s.receive_data(b"more", 0.0) == []


def test_requests_before_a_framing_error_can_still_be_answered() -> None:
    from smsc.smpp.constants import CommandId

    s = bound(window=5)
    data = encode(P.SubmitSm(sequence_number=3, destination_addr="1")) + bytes.fromhex("00000008" + "00" * 12)
    events = s.receive_data(data, 0.0)
    assert [type(e) for e in events] == [RequestReceived, CloseRequested]
    s.respond_message_id(CommandId.submit_sm_resp, 3, 0, "abc")
    nack, resp = sent(s)
    assert nack.command_status == S.ESME_RINVCMDLEN
    assert (resp.sequence_number, resp.message_id) == (3, "abc")  # type: ignore[attr-defined]
    assert s.window_free == 0 and s.poll(100.0) == []  # no deliver_sm, no timers on a dying connection


def test_deliver_sm_window_and_response_matching() -> None:
    s = bound(window=2)
    assert s.window_free == 2
    seq1 = s.send_request(P.DeliverSm(), 0.0, context="d1")
    s.send_request(P.DeliverSm(), 0.0, context="d2")
    assert s.window_free == 0
    events = s.receive_data(encode(P.DeliverSmResp(sequence_number=seq1)), 1.0)
    assert len(events) == 1 and isinstance(events[0], ResponseReceived)
    assert (events[0].context, events[0].status) == ("d1", 0)
    assert s.window_free == 1


@pytest.mark.parametrize("status", [0, S.ESME_RINVCMDLEN, S.ESME_RX_P_APPN])
@pytest.mark.parametrize("request_pdu", [P.DeliverSm(), P.DataSm()], ids=["deliver_sm", "data_sm"])
def test_generic_nack_fails_the_matching_request_whatever_its_status(request_pdu: P.Pdu, status: int) -> None:
    """A generic_nack means the request was not processed (SMPP 3.4 section 4.3).  Found by a tester: one with
    command_status 0 was taken by its status, as an acknowledgement, and the receipt was never sent again."""
    s = bound()
    seq = s.send_request(request_pdu, 0.0, context="d1")
    s.data_to_send()
    (ev,) = s.receive_data(encode(P.GenericNack(sequence_number=seq, command_status=status)), 0.0)
    assert isinstance(ev, ResponseTimedOut) and ev.context == "d1" and ev.command_id == request_pdu.command_id
    assert s.outstanding == 0 and s.data_to_send() == b""  # (a response is never nacked)


@pytest.mark.parametrize("status", [0, S.ESME_RINVCMDLEN])
def test_an_undecodable_generic_nack_fails_the_matching_request_whatever_its_status(status: int) -> None:
    """The tester's generic_nack with status 0 and junk octets after its header: taken by its header (a
    generic_nack answering our deliver_sm), which fails the deliver_sm."""
    s = bound()
    seq = s.send_request(P.DeliverSm(), 0.0, context="d1")
    s.data_to_send()
    malformed, failed = s.receive_data(_raw_response(0x80000000, status, seq, b"JUNK"), 0.0)
    assert isinstance(malformed, MalformedResponse) and malformed.matched
    assert (malformed.command_id, malformed.sequence_number, malformed.command_status) == (0x80000000, seq, status)
    assert isinstance(failed, ResponseTimedOut) and failed.context == "d1"
    assert s.outstanding == 0 and s.data_to_send() == b""


def test_response_timer_reports_unanswered_deliver_sm() -> None:
    s = bound(timers=SessionTimers(response=5.0, enquire_link=0))
    s.send_request(P.DeliverSm(), 0.0, context="d1")
    assert s.poll(4.9) == []
    (ev,) = s.poll(5.0)
    assert isinstance(ev, ResponseTimedOut) and ev.context == "d1"
    assert s.window_free == s.window


def test_an_answer_after_the_response_timer_is_reported_late_with_its_context() -> None:
    """Tester 42: the answer to a deliver_sm that had timed out was dropped as unmatched, so an ESME always a
    little slower than the timer got each receipt again and again."""
    s = bound(timers=SessionTimers(response=5.0, enquire_link=0))
    seq = s.send_request(P.DeliverSm(), 0.0, context="d1")
    (ev,) = s.poll(5.0)
    assert isinstance(ev, ResponseTimedOut)
    (late,) = s.receive_data(encode(P.DeliverSmResp(sequence_number=seq)), 6.0)
    assert isinstance(late, LateResponse) and (late.context, late.status) == ("d1", 0)
    # Once only; an answer to nothing of ours, or of the wrong kind, is still unmatched.
    (again,) = s.receive_data(encode(P.DeliverSmResp(sequence_number=seq)), 6.5)
    assert isinstance(again, UnmatchedResponse)
    seq = s.send_request(P.DeliverSm(), 10.0, context="d2")
    s.poll(15.0)
    (other,) = s.receive_data(encode(P.DataSmResp(sequence_number=seq)), 16.0)
    assert isinstance(other, UnmatchedResponse)


def test_an_undecodable_answer_after_the_response_timer_is_reported_late_too() -> None:
    """The twin of the test above for a deliver_sm_resp with junk after its header: before, only a
    well-formed late answer was a LateResponse, and this one let the copy offered again go out too."""
    s = bound(timers=SessionTimers(response=5.0, enquire_link=0))
    seq = s.send_request(P.DeliverSm(), 0.0, context="d1")
    (ev,) = s.poll(5.0)
    assert isinstance(ev, ResponseTimedOut)
    malformed, late = s.receive_data(_raw_response(0x80000005, S.ESME_RX_T_APPN, seq, b"\0JUNK"), 6.0)
    assert isinstance(malformed, MalformedResponse) and not malformed.matched
    assert isinstance(late, LateResponse) and (late.context, late.status) == ("d1", S.ESME_RX_T_APPN)
    assert isinstance(late.pdu, P.DeliverSmResp) and late.pdu.sequence_number == seq
    (again,) = s.receive_data(_raw_response(0x80000005, 0, seq, b"\0JUNK"), 6.5)  # once only
    assert isinstance(again, MalformedResponse)
    # A late answer of the wrong kind stays unmatched.
    seq = s.send_request(P.DeliverSm(), 10.0, context="d2")
    s.data_to_send()
    s.poll(15.0)
    (other,) = s.receive_data(_raw_response(0x80000103, 0, seq, b"\0JUNK"), 16.0)
    assert isinstance(other, MalformedResponse)
    assert s.data_to_send() == b""


def test_an_answer_with_a_command_id_smpp_does_not_define_fails_the_request_named_as_it_came() -> None:
    """Tester 180: a deliver_sm answered by a header with command_id 0x80000099 failed as a "generic_nack
    ESME_ROK", which the ESME never sent; it fails the request as a response of the wrong kind does, named."""
    s = bound(timers=SessionTimers(response=5.0, enquire_link=0))
    seq = s.send_request(P.DeliverSm(), 0.0, context="d1")
    s.data_to_send()
    malformed, failed = s.receive_data(_raw_response(0x80000099, 0, seq, b""), 1.0)
    assert isinstance(malformed, MalformedResponse) and not malformed.matched
    assert failed == ResponseTimedOut("d1", 0x00000005, 0x80000099, None)
    assert s.outstanding == 0 and s.data_to_send() == b""


def test_a_session_remembers_a_bounded_number_of_timed_out_requests() -> None:
    s = bound(timers=SessionTimers(response=5.0, enquire_link=0), window=LATE_RESPONSES_KEPT + 10)
    seqs = [s.send_request(P.DeliverSm(), 0.0, context=i) for i in range(LATE_RESPONSES_KEPT + 10)]
    assert len(s.poll(5.0)) == LATE_RESPONSES_KEPT + 10
    (first,) = s.receive_data(encode(P.DeliverSmResp(sequence_number=seqs[0])), 6.0)
    (last,) = s.receive_data(encode(P.DeliverSmResp(sequence_number=seqs[-1])), 6.0)
    assert isinstance(first, UnmatchedResponse)  # forgotten: the oldest went first
    assert isinstance(last, LateResponse) and last.context == LATE_RESPONSES_KEPT + 9


def _resend_window(s: Session, now: float, count: int = 3) -> None:
    for i in range(count):
        s.send_request(P.DeliverSm(), now, context=f"d{now}-{i}")
    sent(s)


def test_three_rounds_of_unanswered_requests_with_no_pdu_in_between_unbind_the_dead_link() -> None:
    """An ESME that answers nothing (SMPP 3.4 section 7.2: each expired request is failed) is unbound after
    three response_timer rounds, then closed by the unbind's own response timer."""
    s = bound(timers=SessionTimers(response=30.0, enquire_link=0))
    s.receive_data(encode(P.SubmitSm(sequence_number=5, short_message=b"x" * 100))[:60], 0.0)  # half a PDU
    _resend_window(s, 0.0)
    assert [type(e) for e in s.poll(30.0)] == [ResponseTimedOut] * 3
    _resend_window(s, 30.5)
    assert [type(e) for e in s.poll(60.5)] == [ResponseTimedOut] * 3
    assert s.is_bound and sent(s) == []
    _resend_window(s, 61.0)
    events = s.poll(91.0)
    assert [type(e) for e in events] == [ResponseTimedOut] * 3 + [LinkDead]
    (unbind,) = sent(s)
    assert isinstance(unbind, P.Unbind)
    assert s.window_free == 0  # no more deliveries leased to it
    (close,) = s.poll(121.0)
    assert isinstance(close, CloseRequested) and close.reason == "unbind not answered"


def test_a_late_answer_between_expiry_rounds_keeps_the_link_and_expiries_a_moment_apart_are_one_round() -> None:
    s = bound(timers=SessionTimers(response=30.0, enquire_link=0))
    first = s.send_request(P.DeliverSm(), 0.0, context="d0")
    _resend_window(s, 0.0, count=2)
    s.poll(30.0)
    _resend_window(s, 30.0, count=1)
    _resend_window(s, 31.0, count=1)
    s.poll(60.0)
    assert LinkDead not in [type(e) for e in s.poll(61.0)]  # (60 and 61: one round, the second)
    # Alive after all: the answer to the first deliver_sm, 70 s late (failed at 30 s: reported as late, so that
    # the copy offered again meanwhile can be dropped).
    (late,) = s.receive_data(encode(P.DeliverSmResp(sequence_number=first)), 70.0)
    assert isinstance(late, LateResponse) and late.context == "d0"
    _resend_window(s, 71.0)
    assert LinkDead not in [type(e) for e in s.poll(101.0)]
    _resend_window(s, 102.0)
    assert LinkDead not in [type(e) for e in s.poll(132.0)]
    assert s.is_bound and sent(s) == []
    _resend_window(s, 133.0)
    assert LinkDead in [type(e) for e in s.poll(163.0)]


def _dead_link_after(esme: str, until: float = 400.0) -> float | None:
    """Run a bound receiver for ``until`` seconds of fake time, response_timer 30 s, the SMSC keeping three
    deliver_sm leased (each failed one offered again at once, as the outbox does); return when the session
    declared the link dead (LinkDead), or None.  ``esme`` is how the ESME behaves:

    silent: sends nothing.  own_enquire_link: its keep-alive sends enquire_link every 5 s, deliver_sm never
    answered.  answers_enquire_link: answers our enquire_link (enquire_link_timer 10 s), nothing else.
    submits: a transceiver submitting every 5 s, deliver_sm never answered.  late: answers every deliver_sm
    35 s after it came, after its response_timer.  on_time: answers every deliver_sm after 1 s."""
    s = bound(timers=SessionTimers(response=30.0, enquire_link=10.0 if esme == "answers_enquire_link" else 0))
    leased = 0
    owed: list[tuple[float, int]] = []  # (when the ESME answers, sequence_number)
    delay = {"late": 35.0, "on_time": 1.0}.get(esme)
    t = 0.0
    while t <= until:
        feed = [encode(P.DeliverSmResp(sequence_number=seq)) for due, seq in owed if due <= t]
        owed = [(due, seq) for due, seq in owed if due > t]
        if t % 5 == 0 and esme == "own_enquire_link":
            feed.append(encode(P.EnquireLink(sequence_number=int(t) + 1)))
        if t % 5 == 0 and esme == "submits":
            feed.append(encode(P.SubmitSm(sequence_number=int(t) + 1, short_message=b"hi")))
        events = s.receive_data(b"".join(feed), t) if feed else []
        events += s.poll(t)
        if any(isinstance(e, LinkDead) for e in events):
            return t
        leased -= sum(isinstance(e, (ResponseReceived, ResponseTimedOut)) for e in events)
        while s.window_free and leased < 3:
            s.send_request(P.DeliverSm(), t, context=t)
            leased += 1
        for pdu in sent(s):
            if isinstance(pdu, P.DeliverSm) and delay is not None:
                owed.append((t + delay, pdu.sequence_number))
            elif isinstance(pdu, P.EnquireLink) and esme == "answers_enquire_link":
                s.receive_data(encode(P.EnquireLinkResp(sequence_number=pdu.sequence_number)), t)
        assert s.is_bound, esme
        t += 1.0
    return None


@pytest.mark.parametrize("esme", ["silent", "own_enquire_link", "answers_enquire_link", "submits"])
def test_an_esme_that_answers_no_deliver_sm_is_unbound_whatever_else_it_sends(esme: str) -> None:
    """Its own requests and its enquire_link_resp show the socket is alive, not that deliveries are taken
    (DEAD_LINK_EXPIRIES): three response_timer rounds (30 s each, the third one expiring at 90 s or soon
    after) and the link is dead."""
    dead_at = _dead_link_after(esme)
    assert dead_at is not None and 90.0 <= dead_at <= 95.0


@pytest.mark.parametrize("esme", ["late", "on_time"])
def test_an_esme_that_answers_deliver_sm_even_after_response_timer_keeps_its_bind(esme: str) -> None:
    """A slow ESME answering every deliver_sm 35 s late (each one already failed at 30 s) is alive."""
    assert _dead_link_after(esme) is None


def test_session_init_timer_closes_a_connection_that_never_binds() -> None:
    s = Session(now=0.0, timers=SessionTimers(session_init=10.0))
    assert s.poll(9.0) == []
    (ev,) = s.poll(10.0)
    assert isinstance(ev, CloseRequested)


def test_enquire_link_timer_pings_an_idle_esme_and_closes_if_unanswered() -> None:
    s = bound(timers=SessionTimers(enquire_link=30.0, response=10.0))
    assert s.poll(29.0) == []
    assert s.poll(30.0) == []
    (ping,) = sent(s)
    assert isinstance(ping, P.EnquireLink)
    assert s.poll(35.0) == []  # one ping at a time
    (ev,) = s.poll(40.0)
    assert isinstance(ev, CloseRequested)


def test_inactivity_timer_unbinds() -> None:
    s = bound(timers=SessionTimers(inactivity=100.0, enquire_link=0, response=10.0))
    s.receive_data(encode(P.EnquireLink(sequence_number=2)), 90.0)  # not a transaction
    s.data_to_send()
    s.poll(100.0)
    (unbind,) = sent(s)
    assert isinstance(unbind, P.Unbind)
    (ev,) = s.receive_data(encode(P.UnbindResp(sequence_number=unbind.sequence_number)), 101.0)
    assert isinstance(ev, CloseRequested)


def test_with_timer_unbinds_wait_an_expired_inactivity_timer_leaves_the_unbind_to_the_caller() -> None:
    """Tester 180: the inactivity_timer's unbind went out while a submit_sm_resp was still owed, and the close lost
    it; tester 181: the timer ran out while the SMSC itself held a response.  With ``timer_unbinds_wait`` the
    session says so and sends nothing: the caller either finds a transaction under way (the timer counts again
    from then) or takes nothing new and unbinds once its responses are written."""
    from smsc.smpp.session import InactivityExpired, SubmitRefused

    s = bound(timers=SessionTimers(inactivity=100.0, enquire_link=0, response=10.0), timer_unbinds_wait=True)
    (ev,) = s.poll(100.0)
    assert isinstance(ev, InactivityExpired) and sent(s) == [] and s.takes_new_requests
    s.transaction_under_way(100.0)  # (a response still owed)
    assert s.poll(150.0) == []
    (ev,) = s.poll(200.0)
    assert isinstance(ev, InactivityExpired) and sent(s) == []
    s.take_nothing_new()
    assert s.poll(201.0) == [] and s.poll(400.0) == []  # (said once)
    (refused,) = s.receive_data(encode(P.SubmitSm(sequence_number=7, short_message=b"x")), 400.0)
    assert isinstance(refused, SubmitRefused) and refused.status == S.ESME_RINVBNDSTS
    sent(s)
    s.unbind(401.0)
    (unbind,) = sent(s)
    assert isinstance(unbind, P.Unbind)


def test_no_enquire_link_while_the_unbind_waits_for_its_response() -> None:
    # Tester 60: after its own unbind (inactivity) the SMSC still sent enquire_link while it waited.
    s = bound(timers=SessionTimers(inactivity=100.0, enquire_link=30.0, response=60.0))
    s.poll(100.0)
    (unbind,) = sent(s)
    assert isinstance(unbind, P.Unbind)
    for now in (131.0, 150.0):
        s.poll(now)
        assert sent(s) == []
    (ev,) = s.poll(161.0)  # the unbind's response timer still ends a link that does not answer
    assert isinstance(ev, CloseRequested)


def test_sequence_numbers_wrap_to_one() -> None:
    s = bound()
    s._next_seq = MAX_SEQUENCE
    assert s.send_request(P.DeliverSm(), 0.0) == MAX_SEQUENCE
    assert s.send_request(P.DeliverSm(), 0.0) == 1


def test_many_pdus_in_one_read_all_handled_in_order() -> None:
    s = bound()
    data = b"".join(encode(P.SubmitSm(sequence_number=i, destination_addr=str(i))) for i in range(1, 1001))
    events = s.receive_data(data, 0.0)
    assert [e.pdu.sequence_number for e in events] == list(range(1, 1001))  # type: ignore[union-attr]


def test_allowed_table_matches_spec_examples() -> None:
    from smsc.smpp.constants import CommandId

    assert SessionState.BOUND_RX not in ALLOWED_REQUESTS[CommandId.submit_sm]
    assert SessionState.BOUND_TRX in ALLOWED_REQUESTS[CommandId.replace_sm]
    assert ALLOWED_REQUESTS[CommandId.bind_transceiver] == {SessionState.OPEN}


def test_pdus_behind_a_bind_wait_for_its_decision() -> None:
    s = Session(now=0.0)
    data = encode(P.BindTransmitter(sequence_number=1, system_id="a")) + encode(P.SubmitSm(sequence_number=2))
    (ev,) = s.receive_data(data, 0.0)
    assert isinstance(ev, BindRequested) and not s.has_held_input
    s.accept_bind(ev, "smsc")
    assert s.has_held_input
    (sub,) = s.receive_data(b"", 0.0)
    assert isinstance(sub, RequestReceived) and sub.pdu.sequence_number == 2
    assert not s.has_held_input


def test_pdus_behind_a_refused_bind_are_refused_as_unbound() -> None:
    s = Session(now=0.0)
    data = encode(P.BindTransmitter(sequence_number=1, system_id="a")) + encode(P.SubmitSm(sequence_number=2))
    (ev,) = s.receive_data(data, 0.0)
    s.reject_bind(ev, S.ESME_RINVPASWD)
    assert s.receive_data(b"", 0.0) == [SubmitRefused(P.SubmitSm.command_id, S.ESME_RINVBNDSTS)]
    bind_resp, submit_resp = sent(s)
    assert bind_resp.command_status == S.ESME_RINVPASWD
    assert submit_resp.command_status == S.ESME_RINVBNDSTS


def _raw_response(command_id: int, status: int, seq: int, body: bytes) -> bytes:
    return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body


@pytest.mark.parametrize("body", [b"\0JUNKJUNK", b"abc", b"\0\x00\x1d\x00"],
                         ids=["junk after message_id", "message_id without its NUL", "a cut TLV header"])
@pytest.mark.parametrize("status", [0, S.ESME_RX_T_APPN])
def test_an_undecodable_response_is_not_nacked_and_answers_its_request_by_its_header(body: bytes, status: int) -> None:
    """Found by a tester: a deliver_sm_resp with status 0 and junk after message_id counted as a failure, and
    the receipt was sent again a second later, with nothing logged.  The header is the acknowledgement."""
    s = bound()
    seq = s.send_request(P.DeliverSm(), 0.0, context="d1")
    s.data_to_send()
    malformed, received = s.receive_data(_raw_response(0x80000005, status, seq, body), 0.0)
    assert isinstance(malformed, MalformedResponse)
    assert (malformed.command_id, malformed.sequence_number, malformed.command_status, malformed.matched) == (
        0x80000005, seq, status, True)
    assert malformed.reason
    assert isinstance(received, ResponseReceived)
    assert (received.context, received.status) == ("d1", status)
    assert isinstance(received.pdu, P.DeliverSmResp) and received.pdu.sequence_number == seq
    assert s.data_to_send() == b""  # never nacked
    assert s.outstanding == 0


def test_an_undecodable_response_of_the_wrong_kind_or_unsolicited_is_reported_and_fails_its_request() -> None:
    s = bound()
    seq = s.send_request(P.DeliverSm(), 0.0, context="d1")
    s.data_to_send()
    malformed, timed_out = s.receive_data(_raw_response(0x80000103, 0, seq, b"\0JUNK"), 0.0)  # a data_sm_resp
    assert isinstance(malformed, MalformedResponse) and not malformed.matched
    assert isinstance(timed_out, ResponseTimedOut) and timed_out.context == "d1"
    (late,) = s.receive_data(_raw_response(0x80000005, 0, seq, b"\0JUNK"), 0.0)  # nothing outstanding now
    assert isinstance(late, MalformedResponse) and not late.matched
    assert s.data_to_send() == b""


def test_an_undecodable_enquire_link_resp_answers_our_enquire_link() -> None:
    """Before, it was dropped with our enquire_link still marked outstanding: no enquire_link was ever sent
    again on that session."""
    s = bound(timers=SessionTimers(enquire_link=30.0, response=10.0))
    assert s.poll(30.0) == []
    (ping,) = sent(s)
    (malformed,) = s.receive_data(_raw_response(0x80000015, 0, ping.sequence_number, b"JUNK"), 31.0)
    assert isinstance(malformed, MalformedResponse) and malformed.matched
    assert s.poll(45.0) == []  # answered: no close for an unanswered enquire_link
    assert s.poll(61.0) == []
    (again,) = sent(s)
    assert isinstance(again, P.EnquireLink)


@pytest.mark.parametrize(("status", "message_id"), [(0, "0a1b2c"), (S.ESME_RTHROTTLED, "")])
def test_respond_message_id_fast_path_equals_the_codec(status: int, message_id: str) -> None:
    from smsc.smpp.constants import CommandId

    s = bound()
    s.respond_message_id(CommandId.submit_sm_resp, 9, status, message_id)
    s.respond_message_id(CommandId.data_sm_resp, 10, status, message_id)
    assert s.data_to_send() == (
        encode(P.SubmitSmResp(sequence_number=9, command_status=status, message_id=message_id))
        + encode(P.DataSmResp(sequence_number=10, command_status=status, message_id=message_id))
    )


def test_requests_after_our_unbind_are_refused() -> None:
    s = bound()
    s.unbind(0.0)
    s.data_to_send()
    (event,) = s.receive_data(encode(P.SubmitSm(sequence_number=3)), 0.0)
    assert event == SubmitRefused(P.SubmitSm.command_id, S.ESME_RINVBNDSTS)
    # The log's reason says why, not "not allowed in the session's state (BOUND_TRX)" (tester 57).
    assert isinstance(event, SubmitRefused) and event.reason.startswith("it came after the SMSC began to end the session")
    (resp,) = sent(s)
    assert resp.command_status == S.ESME_RINVBNDSTS


def _stretched(pdu: P.Pdu, value: str, longer: str) -> bytes:
    """``pdu`` encoded with its C-string ``value`` replaced by ``longer`` (more than the field allows)."""
    wire = encode(pdu)
    body = wire[16:].replace(value.encode() + b"\0", longer.encode() + b"\0", 1)
    return (16 + len(body)).to_bytes(4, "big") + wire[4:16] + body


def test_an_undecodable_submit_is_answered_and_reported() -> None:
    """Found by a tester: a submit_sm whose source_addr is too long (30 characters, at most 20) got its
    ESME_RINVSRCADR but counted nowhere; the session now reports it.  Another undecodable request does not."""
    s = bound()
    raw = _stretched(P.SubmitSm(sequence_number=4, source_addr="9" * 20, short_message=b"x"), "9" * 20, "1" * 30)
    raw += _stretched(P.QuerySm(sequence_number=5, message_id="7" * 64), "7" * 64, "7" * 70)
    assert s.receive_data(raw, 0.0) == [SubmitRefused(P.SubmitSm.command_id, S.ESME_RINVSRCADR)]
    submit_resp, query_resp = sent(s)
    assert isinstance(submit_resp, P.SubmitSmResp) and submit_resp.command_status == S.ESME_RINVSRCADR
    assert isinstance(query_resp, P.QuerySmResp) and query_resp.command_status != 0


def test_alert_notification_is_sent_without_a_window_slot_or_a_response_timer() -> None:
    """SMPP 3.4 section 4.12: there is no alert_notification_resp; nothing waits for one."""
    s = bound(window=1, timers=SessionTimers(response=5.0))
    seq = s.send_unanswered(P.AlertNotification(
        source_addr_ton=1, source_addr_npi=1, source_addr="447700900300", esme_addr_ton=1, esme_addr_npi=1,
        esme_addr="447700900001", tlvs={0x0422: 0}), 0.0)
    (alert,) = sent(s)
    assert isinstance(alert, P.AlertNotification) and alert.sequence_number == seq
    assert (alert.source_addr, alert.esme_addr, alert.tlvs) == ("447700900300", "447700900001", {0x0422: 0})
    assert s.outstanding == 0 and s.window_free == 1
    assert [e for e in s.poll(60.0) if isinstance(e, ResponseTimedOut)] == []
    assert s.send_request(P.DeliverSm(destination_addr="1"), 60.0) > seq  # it used a sequence number


def test_alert_notification_is_refused_on_a_transmitter_bind() -> None:
    s = bound(P.BindTransmitter)
    with pytest.raises(ValueError):
        s.send_unanswered(P.AlertNotification(source_addr="1"), 0.0)
    assert s.data_to_send() == b""


def test_a_request_the_state_refuses_says_what_to_do_instead() -> None:
    """Tester 86: a submit_sm on a receiver bind was refused "not allowed in the session's state (BOUND_RX)",
    leaving a new user to work out that a receiver cannot submit."""
    s = bound(P.BindReceiver)
    (event,) = s.receive_data(encode(P.SubmitSm(sequence_number=3)), 0.0)
    assert isinstance(event, SubmitRefused) and event.status == S.ESME_RINVBNDSTS
    assert "bind as transmitter or transceiver to submit_sm" in event.reason
    opened = Session(now=0.0, report_refusals=True)
    (refused,) = opened.receive_data(encode(P.QuerySm(sequence_number=4, message_id="1")), 0.0)
    assert refused.status == S.ESME_RINVBNDSTS and "bind first" in refused.reason  # type: ignore[attr-defined]


@pytest.mark.parametrize(("data", "hint"), [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "looks like an HTTP request"),
    (b"POST /api/mo HTTP/1.1\r\n\r\n", "looks like an HTTP request"),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "looks like an HTTP request"),  # (HTTP/2's preface: tester 92)
    (bytes.fromhex("160301020001000200") + bytes(20), "looks like a TLS handshake"),
])
def test_a_framing_error_from_another_protocol_says_which(data: bytes, hint: str) -> None:
    """Tester 86: curl at the SMPP port was logged as "command_length is 1195725856, expected 16..." only."""
    s = Session(now=0.0)
    events = s.receive_data(data, 0.0)
    (close,) = [e for e in events if isinstance(e, CloseRequested)]
    assert close.reason.startswith("framing error: ESME_RINVCMDLEN: command_length is") and hint in close.reason


@pytest.mark.parametrize(("tls_port", "hint"), [
    (2777, "connect to the TLS listener, port 2777 (server.tls.port)"),
    (None, "this server has no TLS listener, so turn TLS off in the client, or configure server.tls"),
])
def test_the_tls_hint_names_a_tls_listener_only_when_there_is_one(tls_port: int | None, hint: str) -> None:
    """Tester 98: with no TLS configured, the hint sent the ESME to server.tls.port, which did not exist; tester 103:
    with one, it named the setting and not the port."""
    s = Session(now=0.0, tls_port=tls_port)
    events = s.receive_data(bytes.fromhex("160301020001000200") + bytes(20), 0.0)
    (close,) = [e for e in events if isinstance(e, CloseRequested)]
    assert hint in close.reason


def test_a_framing_error_of_smpp_octets_has_no_hint() -> None:
    s = Session(now=0.0)
    (close,) = [e for e in s.receive_data(struct.pack(">IIII", 8, 0x15, 0, 1), 0.0) if isinstance(e, CloseRequested)]
    assert "looks like" not in close.reason


def _unbind_seq(s: Session) -> int:
    """The sequence_number of the unbind just queued (what else was queued is dropped)."""
    (unbind,) = [p for p in sent(s) if isinstance(p, P.Unbind)]
    return unbind.sequence_number


def test_after_our_unbind_is_answered_the_session_waits_for_the_deliveries_outstanding() -> None:
    """Tester 90: an ESME answered the SMSC's unbind at once and its last deliver_sm 0.3 s later; the session
    closed on the unbind_resp, those acknowledgements were lost, and the receipts came again after the restart."""
    s = bound()
    first = s.send_request(P.DeliverSm(), 0.0, context="d1")
    second = s.send_request(P.DeliverSm(), 0.0, context="d2")
    s.unbind(0.0)
    unbind = _unbind_seq(s)
    assert s.window_free == 0  # (nothing more is offered while unbinding)
    events = s.receive_data(encode(P.UnbindResp(sequence_number=unbind)), 0.1)
    assert not [e for e in events if isinstance(e, CloseRequested)]
    events = s.receive_data(encode(P.DeliverSmResp(sequence_number=first)), 0.3)
    assert [e.context for e in events if isinstance(e, ResponseReceived)] == ["d1"]
    assert not [e for e in events if isinstance(e, CloseRequested)]
    events = s.receive_data(encode(P.DeliverSmResp(sequence_number=second)), 0.4)
    assert [e.context for e in events if isinstance(e, ResponseReceived)] == ["d2"]
    assert [e.reason for e in events if isinstance(e, CloseRequested)] == [
        "unbind answered, and the deliveries outstanding then"]
    assert s.state == SessionState.CLOSED


def test_after_our_unbind_is_answered_an_unanswered_delivery_times_out_and_closes() -> None:
    s = bound(timers=SessionTimers(response=5.0, enquire_link=0))
    s.send_request(P.DeliverSm(), 0.0, context="d1")
    s.unbind(0.0)
    unbind = _unbind_seq(s)
    assert not [e for e in s.receive_data(encode(P.UnbindResp(sequence_number=unbind)), 0.1)
                if isinstance(e, CloseRequested)]
    events = s.poll(5.0)
    assert [e.context for e in events if isinstance(e, ResponseTimedOut)] == ["d1"]
    assert [e for e in events if isinstance(e, CloseRequested)] and s.state == SessionState.CLOSED


def test_an_unbind_answered_with_nothing_outstanding_closes_at_once() -> None:
    s = bound()
    s.unbind(0.0)
    unbind = _unbind_seq(s)
    events = s.receive_data(encode(P.UnbindResp(sequence_number=unbind)), 0.1)
    assert [e.reason for e in events if isinstance(e, CloseRequested)] == ["unbind answered"]


def test_after_the_esmes_unbind_is_answered_the_session_waits_for_the_deliveries_outstanding() -> None:
    """Tester 99: an ESME wrote its unbind, then a moment later (another TCP segment) its deliver_sm_resp; the
    session closed on the unbind_resp, those acknowledgements were lost, and the receipts came again on its next
    bind."""
    s = bound()
    first = s.send_request(P.DeliverSm(), 0.0, context="d1")
    second = s.send_request(P.DeliverSm(), 0.0, context="d2")
    (unbound,) = [e for e in s.receive_data(encode(P.Unbind(sequence_number=7)), 0.1) if isinstance(e, Unbound)]
    assert s.answer_unbind(unbound) is False  # (deliveries outstanding: not closed on the unbind_resp)
    assert [type(p) for p in sent(s)][-1] is P.UnbindResp
    assert s.window_free == 0  # (nothing more is offered)
    events = s.receive_data(encode(P.DeliverSmResp(sequence_number=first)), 0.2)
    assert [e.context for e in events if isinstance(e, ResponseReceived)] == ["d1"]
    assert not [e for e in events if isinstance(e, CloseRequested)]
    events = s.receive_data(encode(P.DeliverSmResp(sequence_number=second)), 0.3)
    assert [e.context for e in events if isinstance(e, ResponseReceived)] == ["d2"]
    assert [e.reason for e in events if isinstance(e, CloseRequested)] == [
        "unbind of the ESME answered, and the deliveries outstanding then"]
    assert s.state == SessionState.CLOSED


def test_after_the_esmes_unbind_an_unanswered_delivery_times_out_and_closes() -> None:
    s = bound(timers=SessionTimers(response=5.0, enquire_link=0))
    s.send_request(P.DeliverSm(), 0.0, context="d1")
    (unbound,) = [e for e in s.receive_data(encode(P.Unbind(sequence_number=7)), 0.1) if isinstance(e, Unbound)]
    assert s.answer_unbind(unbound) is False
    events = s.poll(5.0)
    assert [e.context for e in events if isinstance(e, ResponseTimedOut)] == ["d1"]
    assert [e for e in events if isinstance(e, CloseRequested)] and s.state == SessionState.CLOSED


def test_the_esmes_unbind_with_nothing_outstanding_closes_on_its_answer() -> None:
    s = bound()
    (unbound,) = [e for e in s.receive_data(encode(P.Unbind(sequence_number=7)), 0.1) if isinstance(e, Unbound)]
    assert s.answer_unbind(unbound) is True
