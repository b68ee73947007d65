"""Property tests of the SMPP codec: round trips, and no exception but SmppError from any octets."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsc.smpp import codec
from smsc.smpp.codec import Framer, SmppError, decode, encode, error_response
from smsc.smpp.constants import CommandStatus
from smsc.smpp.pdu import Pdu
from tests.property.strategies import pdu_bodies, pdus, wire_pdus

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def frame(command_id: int, body: bytes, seq: int = 1, status: int = 0) -> bytes:
    return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body


def assert_clean(item: object) -> None:
    """A decode outcome: a PDU, or an SmppError that is not an internal decoder bug."""
    if isinstance(item, SmppError):
        assert item.status != CommandStatus.ESME_RSYSERR, item.message
        assert isinstance(error_response(item), Pdu)
    else:
        assert isinstance(item, Pdu)


def outcome(item: Pdu | SmppError) -> object:
    """What must not depend on chunking: the PDU, or an error's status (and, if not fatal, its header)."""
    if isinstance(item, SmppError):
        if item.fatal:
            return ("fatal", item.status)
        return ("error", item.status, item.command_id, item.sequence_number)
    return item


@SETTINGS
@given(pdus())
def test_decode_of_encode_is_the_pdu_and_encode_is_stable(pdu):
    data = encode(pdu)
    back = decode(data)
    assert back == pdu
    assert list(back.tlvs) == list(pdu.tlvs)  # wire order kept
    assert encode(back) == data


@SETTINGS
@given(wire_pdus())
def test_encode_of_decode_gives_the_same_octets(data):
    assert encode(decode(data)) == data


@SETTINGS
@given(st.binary(max_size=400))
def test_arbitrary_octets_into_decode_raise_only_smpp_error(data):
    try:
        pdu = decode(data)
    except SmppError as err:
        assert_clean(err)
    else:
        assert_clean(pdu)


@SETTINGS
@given(pdu_bodies(), st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF))
def test_mangled_bodies_under_a_valid_header_raise_only_smpp_error(body, seq, status):
    command_id, payload = body
    data = frame(command_id, payload, seq, status)
    try:
        pdu = decode(data)
    except SmppError as err:
        assert_clean(err)
        assert not err.fatal
        assert (err.command_id, err.sequence_number) == (command_id, seq)
    else:
        assert_clean(pdu)
        # whatever decodes, encodes; and re-encoding what that decodes to changes nothing (an error
        # response's body may be dropped on the first encode: BODY_OMITTED_ON_ERROR)
        again = encode(pdu)
        assert encode(decode(again)) == again
        if pdu.command_status == 0:
            assert decode(again) == pdu


@SETTINGS
@given(pdu_bodies())
def test_fast_and_field_by_field_decoders_agree(body):
    command_id, payload = body
    fast = codec._DECODERS.get(command_id)
    slow = codec._SLOW_DECODERS.get(command_id)
    if fast is None:
        return
    data = frame(command_id, payload)
    results = []
    for decoder in (fast, slow):
        try:
            results.append(decoder(data, 16, len(data), 1, 0))
        except SmppError as err:
            results.append((err.status, err.message))
    assert results[0] == results[1]


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


def feed_all(chunks: list[bytes], max_command_length: int = 65536) -> list[Pdu | SmppError]:
    framer = Framer(max_command_length)
    out: list[Pdu | SmppError] = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
        assert framer.buffered < max_command_length
    return out


@SETTINGS
@given(st.binary(max_size=600), st.lists(st.integers(0, 10_000), max_size=8), st.sampled_from([16, 64, 65536]))
def test_arbitrary_octets_into_the_framer_whatever_the_chunking(data, cuts, maximum):
    whole = feed_all([data], maximum)
    for item in whole:
        assert_clean(item)
    fatal = [i for i, item in enumerate(whole) if isinstance(item, SmppError) and item.fatal]
    assert fatal in ([], [len(whole) - 1])
    expected = [outcome(item) for item in whole]
    assert [outcome(item) for item in feed_all(chunked(data, cuts), maximum)] == expected
    assert [outcome(item) for item in feed_all([data[i : i + 1] for i in range(len(data))], maximum)] == expected


@SETTINGS
@given(st.lists(pdu_bodies(), max_size=6), st.lists(st.integers(0, 10_000), max_size=10))
def test_a_stream_of_mangled_pdus_gives_one_outcome_each(bodies, cuts):
    data = b"".join(frame(cid, body, seq=i + 1) for i, (cid, body) in enumerate(bodies))
    whole = feed_all([data])
    assert len(whole) == len(bodies)
    for i, item in enumerate(whole):
        assert_clean(item)
        if isinstance(item, SmppError):
            assert item.sequence_number == i + 1
    assert [outcome(x) for x in feed_all(chunked(data, cuts))] == [outcome(x) for x in whole]


@SETTINGS
@given(st.lists(pdus(), min_size=1, max_size=12), st.lists(st.integers(0, 100_000), max_size=12))
def test_valid_pdus_split_at_random_points_come_out_the_same(pdu_list, cuts):
    data = b"".join(encode(p) for p in pdu_list)
    assert feed_all(chunked(data, cuts)) == pdu_list
    assert feed_all([data]) == pdu_list


@settings(max_examples=30, deadline=None)
@given(st.lists(pdus(with_tlvs=False), min_size=1, max_size=5))
def test_valid_pdus_one_octet_at_a_time(pdu_list):
    data = b"".join(encode(p) for p in pdu_list)
    assert feed_all([data[i : i + 1] for i in range(len(data))]) == pdu_list
