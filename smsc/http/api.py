"""The HTTP control API: inspect messages and binds, drive handsets, inject MO, scrape metrics.

A thin aiohttp adapter on its own port: every handler validates its input, makes one call into the core
(:class:`~smsc.core.smsc.Smsc`, the simulated world's handsets) or reads the SMPP bind registry, and turns
the answer into JSON.  No domain rule lives here.  Handlers run on the event-loop thread that runs the core,
so they read and call it directly.

Endpoints (JSON; errors are ``{"error": "..."}`` with 400, 404, 405, 413, 422 or 503 and name the bad field; a change
sent from another site's page in a browser gets 403, and so does a request by another name than localhost
while the API listens on a loopback address: see :func:`_browser_guard`):

==========================================  ===========================================================
``GET  /api/health``                        ``{"status": "ok"}``, or 503 with the store's trouble
``GET  /api/messages``                      message records kept in memory; query ``system_id``, ``state``,
                                            ``destination``, ``source``, ``limit``
``GET  /api/messages/{message_id}``         one message record, from memory or the store (as query_sm)
``GET  /api/deliveries``                    receipts and MO not yet acknowledged; query ``system_id``, ``limit``
``POST /api/mo``                            MO from a simulated handset to an ESME -> 202 delivery ids
``GET  /api/handsets/{number}``             carrier, online, opted_out of one handset
``PUT  /api/handsets/{number}``             ``{"online": true|false|null, "for": s}`` (null: back to the simulation)
``POST /api/handsets/{number}/opt-out``     mark the number opted out (as if it had sent STOP)
``POST /api/handsets/{number}/opt-in``      clear the opt-out
``GET  /api/binds``                         live SMPP sessions
``GET  /api/carriers``                      simulated networks with prefixes and counters
``GET  /api/stats``                         the counters of /metrics as one JSON object (dashboard)
``GET  /api/openapi``                       the OpenAPI 3 document of this API
``GET  /metrics``                           Prometheus text exposition
``GET  /``                                  the dashboard (static page polling /api/stats, /api/health ...)
``GET  /dashboard/{file}``                  the dashboard's files (``/dashboard/`` redirects as ``/``)
==========================================  ===========================================================

Times in responses are ISO 8601 in UTC (``2026-01-01T00:00:00.000Z``) on the *simulation* clock.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import socket
import sys
from datetime import datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import structlog
import yaml
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from smsc.app import ClockAdvanceRefused
from smsc.core.api import Delivery
from smsc.core.message import Message
from smsc.core.mo import mo_coding
from smsc.core.numbers import E164_MAX_DIGITS, is_digits, is_valid_msisdn, normalise
from smsc.core.validity import iso_utc
from smsc.http.metrics import build_registry, plain_counters, render
from smsc.obs import peer_name
from smsc.smpp.constants import EsmClass, MessageState, Tag, Ton, status_name
from smsc.smpp.text import (
    MAX_PARTS,
    ConcatInfo,
    EncodeError,
    Reassembler,
    alphabet,
    concat_info,
    decode_parts,
    decode_text,
    encode_text,
    one_sms_room,
    sms_count,
    split_message,
    strip_udh,
)
from smsc.smpp.validate import on_the_air

if TYPE_CHECKING:
    from smsc.app import App

log = structlog.get_logger("smsc.http")

__all__ = ["HttpServer", "message_record", "delivery_record", "reassembled_texts", "iso_time", "ApiError"]

#: The most ``POST /api/clock`` moves the clock in one request, simulated seconds (a year).
MAX_ADVANCE = 366 * 86400
#: Largest ``limit`` accepted by ``GET /api/messages``.
MAX_LIMIT = 10_000
#: SMPP address fields hold at most 20 characters (21 octets with the NUL, SMPP 3.4 section 5.2.8).
MAX_ADDRESS_CHARS = 20
#: Largest request body accepted, in octets (aiohttp's client_max_size; beyond it 413).
MAX_BODY_OCTETS = 1 << 20
#: Octets of the concatenation UDH on each part of a long MO (``05 00 03 RR TT SS``, 8-bit reference: 3GPP
#: 23.040 section 9.2.3.24.1), as :func:`smsc.smpp.text.split_message` writes it.
CONCAT_UDH_OCTETS = 6
#: Seconds an answer that reports a change waits for the store's commit before it gives up with 503.
DURABLE_TIMEOUT = 30.0

_STATE_NAMES = ", ".join(s.name for s in MessageState)


class ApiError(Exception):
    """A request the API refuses: HTTP ``status`` and a message naming the bad field."""

    def __init__(self, status: int, message: str, *, close: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        #: The answer ends the connection (the rest of the request cannot be read past: its body did not decode).
        self.close = close


def _json(data: Any, status: int = 200) -> web.Response:
    """``data`` as a JSON answer, UTF-8; text that UTF-8 cannot hold (a lone surrogate a request sent, echoed in an
    error) is written as a JSON escape instead (tester 151: the answer failed with a 500 and a traceback)."""
    text = json.dumps(data, ensure_ascii=False)
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:
        body = json.dumps(data).encode("ascii")
    return web.Response(body=body, status=status, content_type="application/json", charset="utf-8")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


# -- rendering of records ------------------------------------------------------------------------------


def iso_time(t: float | None) -> str | None:
    """Seconds since the epoch -> ISO 8601 UTC with milliseconds and "Z"; None stays None.  A time past year
    9999 (a fast simulation clock, run long enough) shows as 9999-12-31T23:59:59.999Z instead of failing the
    request (:func:`smsc.core.validity.utc`)."""
    if t is None or not math.isfinite(t):
        return None
    return iso_utc(t)


def _address(addr: Any) -> dict[str, Any]:
    return {"ton": addr.ton, "npi": addr.npi, "addr": addr.addr}


def _user_data(msg: Message) -> tuple[bytes, tuple[int, int, int] | None]:
    """The message's user data without UDH, and (reference, total, seq) if it is one concatenated part.

    The UDH (esm_class UDHI) is cut by its UDHL whatever its elements hold, as the receipt's ``text:`` field
    cuts it (:func:`smsc.core.receipts.mt_preview`): SMPP carries a UDH as user data and does not refuse a
    malformed one (part 0 of 2, part 3 of 2, an element running past UDHL), and its octets are no text.  The
    concatenation details are given only when they are valid.  When UDHL itself runs past the end, no octet
    is text: "" (the receipt shows none either)."""
    try:
        info = concat_info(msg.esm_class, msg.short_message, msg.tlvs)
    except ValueError:
        info = None
    if info is not None:
        return info.user_data, (info.reference, info.total, info.seq)
    if msg.esm_class & EsmClass.UDHI:
        try:
            return strip_udh(msg.short_message), None
        except ValueError:
            return b"", None
    return msg.short_message, None


def _sms_count(msg: Message) -> int:
    """How many SMS ``msg`` takes on the air (:func:`~smsc.smpp.text.sms_count`), with the header it has there
    (:func:`~smsc.smpp.validate.on_the_air`: its own UDH, or the port and concatenation elements the SMSC writes
    for its port and SAR TLVs): 1 when it fits one SMS, which every part of a concatenated message does; a
    message_payload (or an oversized short_message a ``server.oversized_short_message: accept`` took) as many as
    the network segments it into (tester 99: a 400-character message_payload said nothing of the 3 SMS it
    costs), an oversized part such a config took too (tester 176: a 200-character part said 1)."""
    short_message = msg.short_message
    if msg.esm_class & EsmClass.UDHI and (not short_message or short_message[0] + 1 > len(short_message)):
        return 1  # (a UDH running past the end: no user data to count; such user data is refused at submit)
    on_air, header = on_the_air(short_message, msg.esm_class, msg.tlvs)
    return sms_count(on_air, msg.data_coding, header)


def reassembled_texts(messages: list[Message]) -> dict[str, str]:
    """Full text of every concatenated message whose parts are all in ``messages``, by each part's id.

    ``messages`` newest first, as :meth:`~smsc.core.smsc.Smsc.messages` lists them.  They are taken oldest
    first (by submit time) and put together as the handset does (:class:`~smsc.smpp.text.Reassembler`):
    parts belong together when system_id, source address, destination, reference and total agree (3GPP TS
    23.040 section 9.2.3.24.1); a message is whole once every seq from 1 to total is there, and the next part
    with that reference starts the next message (8-bit references come round again after 256 long messages,
    and a reference used for a second message must not mix the two); a repeated part of an incomplete
    message is left out (the first copy counts, and only it gets the full text).  The text is decoded by
    :func:`~smsc.smpp.text.decode_parts`.
    """
    ordered = sorted(reversed(messages), key=_submit_time)
    reassembler = Reassembler(max_pending=max(1, len(messages)), timeout=math.inf)
    out: dict[str, str] = {}
    for msg in ordered:
        data, concat = _user_data(msg)
        if concat is None:
            continue
        info = ConcatInfo(reference=concat[0], total=concat[1], seq=concat[2], user_data=data)
        whole = reassembler.add_part((msg.system_id, msg.source.addr, msg.destination_e164), info, 0.0,
                                     msg.data_coding, msg.message_id)
        if whole is not None:
            text = decode_parts(whole)
            for part in whole:
                out[part.tag] = text
    return out


def _submit_time(msg: Message) -> float:
    return msg.submit_time


def message_record(msg: Message, full_text: str | None = None, in_progress: bool = False) -> dict[str, Any]:
    """The JSON shape of one message (see the OpenAPI schema ``Message``).

    ``text`` is this message's user data decoded as its data_coding says (UDH removed); for one part of a
    concatenated message ``concat`` gives reference/total/seq and ``full_text`` the whole text when every
    part is known (else null).  ``in_progress``: an attempt of it is under way (its outcome not yet come).
    """
    data, concat = _user_data(msg)
    state = MessageState(msg.state)
    return {
        "message_id": msg.message_id,
        # A submit_multi destination's own id is M-1, M-2 ...; the ESME knows only M, the submit_multi_resp's
        # message_id (also the receipts' id and what query_sm, cancel_sm and replace_sm take).
        "multi_id": msg.multi_id or None,
        "system_id": msg.system_id,
        "source": _address(msg.source),
        "destination": _address(msg.destination),
        "destination_e164": msg.destination_e164,
        "carrier": msg.carrier,
        "service_type": msg.service_type,
        "state": state.name,
        "state_code": int(state),
        "final": state.is_final,
        "esm_class": msg.esm_class,
        "protocol_id": msg.protocol_id,
        "priority_flag": msg.priority_flag,
        "registered_delivery": msg.registered_delivery,
        "data_coding": msg.data_coding,
        "text": decode_text(data, msg.data_coding),
        # (tester 176: the octets 41 42 as binary and the GSM text "4142" read the same, text and dashboard)
        "text_hex": alphabet(msg.data_coding) == "binary",
        "short_message_hex": msg.short_message.hex(),
        "concat": None if concat is None else {"reference": concat[0], "total": concat[1], "seq": concat[2]},
        "full_text": full_text if concat is not None else decode_text(data, msg.data_coding),
        # (a segment "1 of 1" goes out as a whole message, segmented as the network needs: tester 139)
        "sms_count": _sms_count(msg),
        "submit_time": iso_time(msg.submit_time),
        "schedule_time": iso_time(msg.schedule_time),
        "expiry_time": iso_time(msg.expiry_time),
        "final_time": iso_time(msg.final_time),
        "next_attempt_time": iso_time(msg.next_attempt_time),
        "error_code": msg.error_code,
        "network_error_code": None if msg.network_error_code is None else msg.network_error_code.hex(),
        "submitted_count": msg.submitted_count,
        "attempts": [{"time": iso_time(a.time), "outcome": a.outcome, "err": a.err} for a in msg.attempts],
        # The history also records how a message ended without an attempt (tester 40: the dashboard counted an
        # expiry as an attempt; tester 44: and a message that had no route).
        "attempt_count": sum(1 for a in msg.attempts if a.outcome not in _NOT_ATTEMPTS) if msg.carrier else 0,
        # (tester 50: 48 attempts under way on the dashboard's cards, and every one of those messages said 0)
        "attempt_in_progress": in_progress,
    }


#: Outcomes in a message's history that record no delivery attempt (see :class:`smsc.core.message.Attempt`).
_NOT_ATTEMPTS = frozenset({"expired", "cancelled", "replaced", "abandoned", "throttled", "carrier_down"})


def _tlv_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def delivery_record(delivery: Delivery) -> dict[str, Any]:
    """The JSON shape of one outbox entry, a receipt or MO not yet acknowledged or an alert not yet sent (OpenAPI
    ``Delivery``)."""
    try:
        info = concat_info(delivery.esm_class, delivery.short_message, delivery.tlvs)
    except ValueError:
        info = None
    data = info.user_data if info is not None else delivery.short_message
    tlvs = {}
    for tag, value in delivery.tlvs.items():
        try:
            name = Tag(tag).name
        except ValueError:
            name = f"0x{tag:04X}"
        tlvs[name] = _tlv_value(value)
    return {
        "delivery_id": delivery.delivery_id,
        "kind": delivery.kind,
        "system_id": delivery.system_id,
        "source": _address(delivery.source),
        "destination": _address(delivery.destination),
        "esm_class": delivery.esm_class,
        "data_coding": delivery.data_coding,
        "text": decode_text(data, delivery.data_coding),
        "text_hex": alphabet(delivery.data_coding) == "binary",
        "short_message_hex": delivery.short_message.hex(),
        "concat": None if info is None else {"reference": info.reference, "total": info.total, "seq": info.seq},
        "tlvs": tlvs,
    }


# -- input validation ------------------------------------------------------------------------------------


def _answered_unreadable_body(record: logging.LogRecord) -> bool:
    """A logging filter for aiohttp's server log: False for its "Unhandled exception" about a request body that
    cannot be read.  A Content-Encoding that does not decode is answered 400 by :func:`_json_object`, and one
    aiohttp has no decoder for (br, zstd) by aiohttp itself; either way aiohttp then met the error again and
    logged a 30-line traceback for each such request (testers 51 and 53)."""
    return not (record.exc_info and isinstance(record.exc_info[1], (RequestPayloadError, HttpProcessingError)))


def _peer(request: web.Request) -> str:
    """The client as the logs name an SMPP peer: "127.0.0.1:40312" (the control API's changes are logged so)."""
    transport = request.transport
    return peer_name(transport.get_extra_info("peername") if transport is not None else None) or (request.remote or "")


def _refuse_query(request: web.Request) -> None:
    """A listing that takes no query parameter refuses one, as the listings that take some refuse the others
    (tester 156: ``GET /api/binds?system_id=x`` answered every bind, as if filtered).

    Raises:
        ApiError: 400 naming the first parameter."""
    if request.query:
        raise ApiError(400, f"{sorted(request.query)[0]}: unknown query parameter ({request.path} takes none)")


async def _json_object(request: web.Request, allowed: frozenset[str]) -> dict[str, Any]:
    """The request body as a JSON object with only ``allowed`` keys; ApiError(400) otherwise."""
    raw = await _read_body(request)
    if not raw.strip():
        raise ApiError(400, "request body: expected a JSON object, got an empty body")
    return _parse_object(raw, allowed)


async def _read_body(request: web.Request) -> bytes:
    """The request's body, read within :data:`HTTP_REQUEST_TIMEOUT` seconds; ApiError (408, 400) otherwise."""
    try:
        return await asyncio.wait_for(request.read(), HTTP_REQUEST_TIMEOUT)
    except asyncio.TimeoutError:  # (tester 126: a body that never came held its connection for ever)
        raise ApiError(408, f"request body: not received within {HTTP_REQUEST_TIMEOUT:g} s", close=True) from None
    except RequestPayloadError as exc:  # (a body its Content-Encoding cannot decode: tester 50 got a 500)
        raise ApiError(400, f"request body: cannot be read ({exc})", close=True) from None
    except ConnectionResetError:  # the client went before its whole body came (tester 72: logged as a bug)
        log.info("http_client_gone", method=request.method, path=request.path,
                 reason="connection closed before the request body was read")
        raise ApiError(400, "request body: the connection closed before it was read", close=True) from None


def _parse_object(raw: bytes, allowed: frozenset[str]) -> dict[str, Any]:
    """``raw`` as a JSON object with only ``allowed`` keys; ApiError(400) otherwise."""
    try:
        body = json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "request body: expected UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        # ("Unterminated string starting at" ends in "at" already: tester 156 read "starting at at line 1")
        where = ":" if exc.msg.endswith(" at") else " at"
        raise ApiError(400, f"request body: invalid JSON: {exc.msg}{where} line {exc.lineno} column {exc.colno}") \
            from None
    except ValueError:  # (an integer of more than sys.get_int_max_str_digits() digits: tester 72 got a 500)
        raise ApiError(400, f"request body: a number too long to read (more than "
                            f"{sys.get_int_max_str_digits():,} digits)") from None
    except RecursionError:  # (the json module parses nested arrays and objects recursively)
        raise ApiError(400, "request body: JSON nested too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"request body: expected a JSON object, got {_json_kind(body)}")
    unknown = sorted(set(body) - allowed)
    if unknown:
        expected = f"expected one of {', '.join(sorted(allowed))}" if allowed else "this request takes no fields"
        raise ApiError(400, f"{unknown[0]}: unknown field ({expected})")
    return body


def _json_text(value: Any) -> str:
    """A value of a request's JSON as JSON writes it (``null``, ``true``, ``"yes"``): error messages answer
    JSON clients in their own terms, not Python's (``None``, ``True``)."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_kind(value: Any) -> str:
    """The JSON name of a value's type: object, array, string, number, true/false or null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _address_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        raise ApiError(400, f"{name}: required")
    if not isinstance(value, str):
        raise ApiError(400, f"{name}: expected a string (write numbers in quotes), got {_json_text(value)}")
    if not value.strip():
        raise ApiError(400, f"{name}: expected a non-empty string, got {value!r}")
    value = value.strip()
    if len(value) > MAX_ADDRESS_CHARS:
        raise ApiError(400, f"{name}: expected at most {MAX_ADDRESS_CHARS} characters, got {len(value)}")
    if not (value.isascii() and value.isprintable()):
        # An SMPP address (source_addr, destination_addr) is a C-Octet String: ASCII characters and a NUL (SMPP
        # 3.4 sections 3.1 and 5.2.8).  "Héllo" went out as the octet 0xE9 (tester9 finding 2).
        raise ApiError(400, f"{name}: expected printable ASCII characters (digits, or letters for an "
                            f"alphanumeric sender), got {value!r}")
    return value


def _int_field(body: dict[str, Any], name: str, lo: int, hi: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ApiError(400, f"{name}: expected an integer {lo}-{hi}, got {_json_text(value)}")
    return value


def _check_mo_parts(field: str, user_data: bytes, data_coding: int, *, size: str, how: str) -> None:
    """Refuse (ApiError 400 naming ``field``) MO user data that needs more than
    :data:`~smsc.smpp.text.MAX_PARTS` (255) concatenated parts: the limit of
    :func:`~smsc.smpp.text.split_message`, which the core splits an MO with.

    ``user_data``: the encoded text (unpacked septets for GSM 7-bit) or the payload's octets; ``size``: its
    length as the client gave it (``"34,171 octets"``); ``how``: how the data_coding was chosen
    (``"with data_coding 4"``).  One part holds :func:`~smsc.smpp.text.one_sms_room` after the
    :data:`CONCAT_UDH_OCTETS`-octet header: 134 octets for UCS-2 and the 8-bit codings, 153 septets for GSM
    7-bit, IA5 and Latin-1 (an extension character takes two; an escape or surrogate pair is never split, so a
    little less may fit).  The message says how many parts the data needs and the most that fits; beyond twice
    that most, "at least" so many (cutting a 1 MiB body exactly would hold the event loop for 0.1 s).
    """
    room, unit = one_sms_room(data_coding, CONCAT_UDH_OCTETS)  # (134, "octets") or (153, "septets")
    if len(user_data) > 2 * MAX_PARTS * room:  # (each octet takes one unit or more)
        problem = f"message needs at least {-(-len(user_data) // room):,} parts, at most {MAX_PARTS} are possible"
    else:
        try:
            split_message(user_data, data_coding, 0)
            return
        except EncodeError as exc:  # "message needs 256 parts, at most 255 are possible"
            problem = str(exc)
    kind = alphabet(data_coding)
    # (tester 68: 19,381 euro signs, 38,762 septets, were refused under "at most 39,015 septets fit")
    pairs = (b"\x1b" in user_data if kind == "gsm7"
             else kind == "ucs2" and any(0xD8 <= user_data[i] <= 0xDB for i in range(0, len(user_data), 2)))
    straddle = "; a part does not end inside a pair, so a little less fits with them" if pairs else ""
    note = ""
    if field == "text" and kind == "ucs2":
        room, unit, note = room // 2, "UTF-16 units", " (a character beyond U+FFFF takes two)"
    elif unit == "septets" and field == "text":
        note = " (a character of the GSM extension table, [ ] { } ^ ~ | \u20ac \\, takes two)"
    elif unit == "septets":
        note = (" (one octet per septet, unpacked; an escape pair takes two)" if kind == "gsm7"
                else " (one per octet; [ ] { } ^ ~ | \\ take two, as the GSM they become)")
    raise ApiError(400, f"{field}: too long {how}: {size}: {problem}; one part holds {room} {unit} after its "
                        f"{CONCAT_UDH_OCTETS}-octet concatenation header, so at most {MAX_PARTS * room:,} {unit} "
                        f"fit{note}{straddle}")


def _parse_state(value: str) -> MessageState:
    text = value.strip()
    if is_digits(text):
        try:
            return MessageState(int(text))
        except ValueError:
            pass
    else:
        name = text.upper()
        aliases = {"UNDELIV": "UNDELIVERABLE", "DELIVRD": "DELIVERED", "REJECTD": "REJECTED", "ACCEPTD": "ACCEPTED",
                   "DELETD": "DELETED", "EXPIRD": "EXPIRED"}
        name = aliases.get(name, name)
        if name in MessageState.__members__:
            return MessageState[name]
    raise ApiError(400, f"state: expected one of {_STATE_NAMES}, the receipt's stat: word (DELIVRD, UNDELIV, "
                        f"REJECTD ...) or the message_state number, got {value!r}")


def _clip(value: str, most: int = 40) -> str:
    """``repr(value)`` for an error message, its middle left out beyond ``most`` characters (a query value of
    5,000 digits is not written back whole)."""
    if len(value) <= most:
        return repr(value)
    return f"{value[:most // 2]!r} ... {value[-(most // 2):]!r} ({len(value):,} characters)"


async def _switch(request: web.Request, key: str, meaning: str, for_what: str,
                  most: float) -> tuple[bool, float | None]:
    """The body of a switch, ``{key: bool, "for": seconds}`` (``for`` only with true, more than 0 and at most
    ``most``): (the switch, the seconds or None).  400 naming the field otherwise."""
    body = await _json_object(request, frozenset({key, "for"}))
    if key not in body:
        raise ApiError(400, f"{key}: required ({meaning})")
    on = body[key]
    if not isinstance(on, bool):
        raise ApiError(400, f"{key}: expected true or false, got {_json_text(on)}")
    seconds = body.get("for")
    if seconds is not None and (not on or isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not 0 < seconds <= most):
        limit = "a day" if most == 86400 else "a year" if most == 366 * 86400 else f"{most:g} s"
        raise ApiError(400, f"for: expected with {key} true, {for_what}, more than 0 and at most {limit}, got "
                            f"{_json_text(seconds)}")
    return on, None if seconds is None else float(seconds)


def _parse_since(value: str) -> float:
    """``since`` of a listing: an ISO 8601 time with its offset or "Z" (as the API writes times), or seconds
    since the epoch; 400 otherwise.  A microsecond earlier than given: a time the API wrote may have been rounded
    up to it (tester 145: about one in 2,400 records was missed by a ``since`` of its own submit_time)."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return seconds - 1e-6
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise ApiError(400, f"since: expected a time such as 2026-12-01T09:30:00.000Z (ISO 8601 with its offset or "
                            f"Z, as /api/stats gives the time) or seconds since the epoch, got {_clip(value)}")
    return when.timestamp() - 1e-6


def _parse_limit(value: str | None) -> int:
    if value is None or value == "":
        return 100
    digits = value.lstrip("0")  # (int() of more than 4,300 digits raises, leading zeros too: testers 72, 74)
    if not is_digits(value) or len(digits) > len(str(MAX_LIMIT)) or not 1 <= int(digits or "0") <= MAX_LIMIT:
        raise ApiError(400, f"limit: expected an integer 1-{MAX_LIMIT}, got {_clip(value)}")
    return int(digits)


def _bind_record(proto: Any) -> dict[str, Any]:
    """One SMPP connection as the API shows it (the Bind schema of openapi.yaml)."""
    s = proto.session
    peername = proto.transport.get_extra_info("peername") if proto.transport is not None else None
    return {
        "system_id": s.system_id,
        "bind_type": s.bind_type.name.lower() if s.bind_type is not None else None,
        "state": s.state.name,
        "bound": s.is_bound,
        "peer": f"{peername[0]}:{peername[1]}" if peername else proto.peer,
        "interface_version": s.interface_version,
        "window": s.window,
        "window_in_use": s.outstanding,
        "bound_at": iso_time(getattr(proto, "bound_at", None)),
        # (the SMSC is ending it: an unbind sent, or to be sent once the responses owed are: tester 146 saw
        # nothing of it for the 30 s an ESME that never answers the unbind took)
        "unbinding": s.is_bound and not s.takes_new_requests,
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 document (``smsc/http/openapi.yaml``) as a dict, read once."""
    text = resources.files("smsc.http").joinpath("openapi.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


# -- the server ----------------------------------------------------------------------------------------------


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


#: Methods that change the simulated world (MO injection, handset switches, opt-outs).
_CHANGING = frozenset(("POST", "PUT", "PATCH", "DELETE"))
#: Host names beside loopback names and IP addresses that the API answers (see :func:`_host_allowed`).
_HOST_NAMES = web.AppKey("host_names", frozenset)


def _is_loopback(host: str) -> bool:
    """``host`` (a name or an address, without port) is this machine's loopback: localhost, 127.0.0.0/8, ::1."""
    name = host.lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_allowed(name: str, names: frozenset[str]) -> bool:
    """Whether a request's host name (without port) may reach the API: a loopback name or address, any IP
    address (a browser led here by a DNS rebinding sends the attacker's name, never an address), or one of
    ``names`` (the name the API listens on, this machine's name, ``http.allowed_hosts``).  Tester 110: listening
    on 0.0.0.0 turned the check off, and a page whose name pointed here could read and change everything."""
    name = name.lower().rstrip(".")
    if name in names or _is_loopback(name):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _host_name(host_header: str) -> str:
    """The host of a Host header, without its port (``[::1]:8080`` -> ``::1``)."""
    if host_header.startswith("["):
        return host_header[1:].partition("]")[0]
    return host_header.rpartition(":")[0] if host_header.count(":") == 1 else host_header


@web.middleware
async def _browser_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Keep web pages of other sites away from the API (403), which has no authentication of its own.

    * A change (POST, PUT ...) whose ``Origin`` names another site than the request's ``Host``: a browser sends
      a POST with a ``text/plain`` body to any address without asking first (a CORS "simple" request), so any
      page open beside a running smsc could otherwise inject MO or opt numbers out.  Tools (curl, test code)
      send no ``Origin``; the dashboard's own requests name this server.
    * A request whose ``Host`` the API does not know (:func:`_host_allowed`).  A site whose name its DNS points at
      this machine (DNS rebinding) makes a browser send its own name in both ``Host`` and ``Origin``; that request
      could otherwise read and change everything.
    """
    if not _host_allowed(_host_name(request.host), request.app[_HOST_NAMES]):
        return _error(403, f"Host {request.host!r} refused: the API answers requests made to localhost, an IP "
                           f"address, the name it listens on or this machine's; list other names it is reached by "
                           f"in http.allowed_hosts (a web page could lead a browser here by a name of its own)")
    if request.method in _CHANGING:
        origin = request.headers.get("Origin")
        if origin is not None and origin.partition("://")[2].rstrip("/") != request.host:
            return _error(403, f"{request.method} {request.path} from another site's page ({origin}) refused: "
                               "the control API takes changes from tools and from its own dashboard only")
    return await handler(request)


#: HTTP connections open at once; one more is answered 503 and closed as it opens.
HTTP_MAX_CONNECTIONS = 256
#: Seconds a connection may take to send a whole request head, or a request its body (then 408).
HTTP_REQUEST_TIMEOUT = 10.0
#: Seconds a connection may stay idle after a request before aiohttp closes it.
HTTP_KEEPALIVE = 15.0
#: Seconds a connection's answers may wait unread (its client reads nothing) before it is closed.
HTTP_WRITE_STALL = 30.0
#: Message records a listing builds before it lets the loop run the SMPP side (GET /api/messages).
LISTING_SLICE = 500


class _Refused(asyncio.Protocol):
    """A connection beyond :data:`HTTP_MAX_CONNECTIONS`: answered 503 and closed as it opens (the first refusal
    logged, then every 100th)."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # ("status" too: the dashboard reads a 503 of /api/health as its answer, tester 137 saw "health: undefined")
        body = json.dumps({"error": f"too many HTTP connections open (at most {HTTP_MAX_CONNECTIONS:,}): try again "
                                    "later", "status": "too_many_connections"}).encode()
        head = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n"
        transport.write(head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # type: ignore[attr-defined]
        transport.close()
        self.server.refused += 1
        if self.server.refused == 1 or self.server.refused % 100 == 0:
            log.warning("http_connection_refused", peer=peer_name(transport.get_extra_info("peername")),
                        limit=HTTP_MAX_CONNECTIONS, count=self.server.refused)


#: Headers of every response (tester 126): no MIME sniffing of a JSON or text answer into a page, no framing of the
#: dashboard by another site (a click on its buttons made through an invisible frame), no Referer with the API's
#: address sent on from the dashboard.
_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp's ``on_response_prepare``: add :data:`_SECURITY_HEADERS` (errors and files too)."""
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


@web.middleware
async def _errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn ApiError, aiohttp's HTTP errors (404, 405, 413) and bugs (500) into ``{"error": ...}``.  A body its
    Content-Length declares too large is refused from the header alone, before any of it is read (tester 101: the
    request waited for a body of 99,999,999,999 octets that never came); the connection then closes, as the body
    may follow."""
    if request.content_length is not None and request.content_length > MAX_BODY_OCTETS:
        resp = _error(413, f"request body: larger than {MAX_BODY_OCTETS:,} octets (Content-Length "
                           f"{request.content_length:,})")
        resp.force_close()
        return resp
    try:
        return await handler(request)
    except ApiError as exc:
        resp = _error(exc.status, exc.message)
        if exc.close:
            resp.force_close()  # ("Connection: close": the client opens a new one for its next request)
        return resp
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif exc.status == 405:
            message = f"method {request.method} not allowed on {request.path}"
        elif exc.status == 413:
            message = f"request body: larger than {MAX_BODY_OCTETS:,} octets"
        else:
            message = exc.reason
        resp = _error(exc.status, message)
        if "Allow" in exc.headers:
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
    except Exception:
        log.exception("http_handler_error", method=request.method, path=request.path)
        return _error(500, "internal error (logged by the server)")


class HttpServer:
    """The control API and /metrics of one :class:`~smsc.app.App`, served by aiohttp on its own port.

    ``start(host, port)`` binds (port 0 = a free port, then read :attr:`port`); ``stop()`` closes the
    listener and open requests.  Each instance has its own Prometheus registry.
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self.registry = build_registry(app)
        #: The dashboard's directory (``smsc/http/dashboard``), None when the package has none.
        self._dashboard: Path | None = None
        #: Connections that have not sent a whole request head yet -> loop time they opened (see _reap).
        self._opened: dict[Any, float] = {}
        self.web_app = self._build()
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.AbstractServer | None = None
        self._reaper: asyncio.Task[None] | None = None
        #: Connections refused for HTTP_MAX_CONNECTIONS (logged the first time, then every 100th).
        self.refused = 0
        self._port: int | None = None
        #: The host the API listens on (as given to :meth:`start`).
        self.host = ""

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The TCP port the API listens on (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("HttpServer is not started")
        return self._port

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host:port`` (0 = any free port)."""
        self.host = host
        # The name it listens on (one that resolves to 127.0.0.1 too: tester 110 found it refused nothing then,
        # now it is one name more), this machine's, and those the config lists.
        names = {host.lower().rstrip("."), socket.gethostname().lower(), *self.app.config.http.allowed_hosts}
        self.web_app[_HOST_NAMES] = frozenset(n for n in names if n)
        server_log = logging.getLogger("aiohttp.server")
        if _answered_unreadable_body not in server_log.filters:
            server_log.addFilter(_answered_unreadable_body)
        # (lingering_time: after an answer sent before the whole body came, a 408 or 413, aiohttp reads what the
        # client still sends for that long before it closes: 10 s by default)
        runner = web.AppRunner(self.web_app, access_log=None, handle_signals=False, shutdown_timeout=5.0,
                               keepalive_timeout=HTTP_KEEPALIVE, lingering_time=1.0)
        await runner.setup()
        handlers = runner.server
        assert handlers is not None
        loop = asyncio.get_running_loop()
        opened = self._opened

        made: list[Any] = []  # (the protocols this loop turn's accepts made, not connected yet: see below)

        def turn_over() -> None:
            made.clear()

        def connection() -> asyncio.BaseProtocol:
            # (aiohttp's own protocol per connection, but beyond HTTP_MAX_CONNECTIONS: idle or slow clients held
            # every file descriptor, and SMPP binds then failed: tester 126).  asyncio makes the protocols of a
            # turn's burst of accepts before it connects any (their connection_made come as the turn's callbacks),
            # so those made in this turn count too (tester 131: 296 of 300 were let in); the next turn finds them
            # in aiohttp's list (tester 136: counted for a second, closed ones refused 36 of 300 requests made one
            # after the other).
            if not made:
                loop.call_soon(turn_over)
            if len(handlers.connections) + len(made) >= HTTP_MAX_CONNECTIONS:
                return _Refused(self)
            handler = handlers()
            opened[handler] = loop.time()
            made.append(handler)
            return handler

        try:
            self._listener = await loop.create_server(connection, host, port, reuse_address=True)
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = self._listener.sockets[0].getsockname()[1]
        self._reaper = loop.create_task(self._reap(handlers))

    async def _reap(self, handlers: Any) -> None:
        """Once a second, close the connections that opened :data:`HTTP_REQUEST_TIMEOUT` seconds ago or more and
        have sent no whole request head (tester 126: a client sending nothing, or a header octet every 2 s, was
        still connected after 100 s).  A connection idle after its requests is closed by aiohttp after
        :data:`HTTP_KEEPALIVE` seconds."""
        loop = asyncio.get_running_loop()
        opened = self._opened
        stalled: dict[Any, tuple[float, int]] = {}  # answers waiting to be written -> (since when, octets then)
        while True:
            await asyncio.sleep(1.0)
            live = set(handlers.connections)
            now = loop.time()
            for handler, since in list(opened.items()):
                if handler not in live:
                    if now - since > 1.0:  # (not registered yet in its first instant)
                        del opened[handler]
                elif now - since >= HTTP_REQUEST_TIMEOUT:
                    del opened[handler]
                    handler.force_close()
            # A client that reads none of its answers (tester 137: 300 pipelined requests, 2.8 MB unread) held its
            # connection for ever: neither idle nor slow to send.  Closed once HTTP_WRITE_STALL s pass without its
            # waiting answers getting any shorter (a slow reader of a long listing still takes them).
            for handler in live:
                transport = handler.transport
                waiting = transport.get_write_buffer_size() if transport is not None else 0
                if not waiting:
                    stalled.pop(handler, None)
                    continue
                since, before = stalled.get(handler, (now, waiting))
                if waiting < before:
                    since = now
                if now - since >= HTTP_WRITE_STALL:
                    del stalled[handler]
                    transport.abort()  # (not close(): that waits for the unread answers to be written)
                else:
                    stalled[handler] = (since, waiting)
            for handler in [h for h in stalled if h not in live]:
                del stalled[handler]

    async def stop(self) -> None:
        """Stop listening and finish open requests. Safe to call twice."""
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        if self._listener is not None:
            listener, self._listener = self._listener, None
            listener.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- routing ---------------------------------------------------------------------------------------

    def _build(self) -> web.Application:
        opened = self._opened

        @web.middleware
        async def request_came(request: web.Request, handler: Handler) -> web.StreamResponse:
            opened.pop(request.protocol, None)  # (its head is whole: no longer reaped as slow)
            return await handler(request)

        webapp = web.Application(middlewares=[request_came, _browser_guard, _errors_as_json],
                                 client_max_size=MAX_BODY_OCTETS)
        webapp.on_response_prepare.append(_security_headers)
        r = webapp.router
        r.add_get("/api/health", self.health)
        r.add_get("/api/messages", self.list_messages)
        r.add_get("/api/messages/{message_id}", self.get_message)
        r.add_get("/api/deliveries", self.list_deliveries)
        r.add_post("/api/mo", self.post_mo)
        r.add_get("/api/handsets/{number}", self.get_handset)
        r.add_put("/api/handsets/{number}", self.put_handset)
        r.add_post("/api/handsets/{number}/opt-out", self.opt_out)
        r.add_post("/api/handsets/{number}/opt-in", self.opt_in)
        r.add_get("/api/accounts", self.list_accounts)
        r.add_get("/api/accounts/{system_id}", self.get_account)
        r.add_put("/api/accounts/{system_id}", self.put_account)
        r.add_get("/api/binds", self.binds)
        r.add_post("/api/binds/disconnect", self.disconnect_binds)
        r.add_get("/api/carriers", self.carriers)
        r.add_get("/api/carriers/{name}", self.get_carrier)
        r.add_put("/api/carriers/{name}", self.put_carrier)
        r.add_get("/api/stats", self.stats)
        r.add_get("/api/clock", self.get_clock)
        r.add_post("/api/clock", self.post_clock)
        r.add_get("/api/openapi", self.openapi)
        r.add_get("/metrics", self.metrics)
        dashboard = resources.files("smsc.http").joinpath("dashboard")
        if dashboard.is_dir():
            self._dashboard = Path(str(dashboard)).resolve()
            r.add_get("/", self.dashboard_index)
            r.add_get("/dashboard", self.dashboard_index)
            # (not add_static: it answered a missing file with an empty application/octet-stream 404 and
            # /dashboard/ with 403 "Forbidden", where every other unknown path gets a JSON 404: tester 58)
            r.add_get("/dashboard/{filename:.*}", self.dashboard_file)
        return webapp

    # -- helpers ---------------------------------------------------------------------------------------------

    @property
    def _smsc(self) -> Any:
        smsc = self.app.smsc
        if smsc is None:
            raise ApiError(503, "the SMSC core is not running")
        return smsc

    def _now(self) -> float:
        return self.app.clock.now()

    def _normalise(self, number: str) -> str:
        topo = self.app.config.topology
        return normalise(Ton.UNKNOWN, 1, number, country_code=topo.country_code,
                         national_prefix=topo.national_prefix)

    def _handset(self, request: web.Request) -> tuple[str, Any]:
        """(E.164 number, carrier) for the ``{number}`` path segment; 400 bad number, 404 no carrier."""
        raw = request.match_info["number"]
        e164 = self._normalise(raw)
        if not is_valid_msisdn(e164):
            raise ApiError(400, f"number: expected a mobile number (E.164 digits, optional '+', or national "
                                f"form), got {raw!r}")
        carrier = self._smsc.router.route(e164)
        if carrier is None:
            raise ApiError(404, f"number: no carrier serves {e164} (no route in the topology)")
        return e164, carrier

    def _handset_record(self, e164: str, carrier: Any) -> dict[str, Any]:
        now = self._now()
        pool = carrier.handsets
        online = bool(pool.is_online(e164, now))
        rule = pool.rule_for(e164)
        forced = pool.overrides().get(e164)
        forced_until = self._smsc.handset_switch_ends_at(e164) if forced is not None else None
        if online:
            next_online = None
        elif forced_until is not None:
            # (tester 179: a timed switch off said null, yet the handset came back by itself at its end)
            next_online = pool.unforced_next_online(e164, forced_until)
        else:
            next_online = pool.next_online(e164, now)
        return {
            "number": e164,
            "carrier": carrier.name,
            "online": online,
            "next_online": iso_time(next_online),
            "opted_out": bool(pool.opted_out(e164)),
            "forced": forced is not None,
            "forced_until": iso_time(forced_until),
            "rule": None if rule is None else (rule.note or "fixed behaviour (topology rule)"),
        }

    # -- handlers ----------------------------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        """GET /api/health: 200 {"status": "ok"}; 503 with "store_stalled" while a store commit has waited 5 s or
        more (submit_sm_resp wait for it), "store_failing" for 5 s after a commit failed, "store_damaged" or
        "store_lost" (the server is stopping for its file, found
        damaged or no longer at its path), or "stopping", so
        that a container's HEALTHCHECK sees it (tester 38: a server that could commit nothing said ok)."""
        state, waited = self.app.store_health()
        if state == "ok":
            if self.app.stopping:  # (tester 51: "ok" while the SMPP port already refused connections)
                return _json({"status": "stopping"}, 503)
            return _json({"status": "ok"})
        return _json({"status": f"store_{state}", "commit_wait_seconds": round(waited, 1)}, 503)

    async def list_messages(self, request: web.Request) -> web.Response:
        """GET /api/messages?system_id=&state=&destination=&source=&since=&limit= (newest first, as the core
        returns them).  ``destination`` is read as a destination_addr of TON unknown (national form allowed), so
        that "what did my application send to this handset" needs no client-side filtering (tester 48).
        ``since``: submitted at that simulated time or later (ISO 8601 as the API writes times, or seconds since
        the epoch), so that a test sees its own messages only: it reads ``time`` from /api/stats as it begins."""
        q = request.query
        unknown = sorted(set(q) - {"system_id", "state", "destination", "source", "since", "limit"})
        if unknown:
            raise ApiError(400, f"{unknown[0]}: unknown query parameter "
                                f"(expected system_id, state, destination, source, since, limit)")
        since = _parse_since(q["since"]) if q.get("since") else None
        system_id = q.get("system_id") or None
        state = _parse_state(q["state"]) if q.get("state") else None
        destination = None
        if q.get("destination"):
            destination = self._normalise(q["destination"].strip())
            if not is_digits(destination) or len(destination) > E164_MAX_DIGITS:
                # (tester 72: 5,000 digits gave an empty list, where "abc" gave this 400: no message has such a number)
                raise ApiError(400, f"destination: expected a number (E.164 digits, at most {E164_MAX_DIGITS}, "
                                    f"optional '+', or national form), got {_clip(q['destination'])}")
        # Exact, spaces included: an alphanumeric sender may end in one ("My Brand "; tester 184 could not list it).
        source = q["source"] if q.get("source") else None
        limit = _parse_limit(q.get("limit"))
        msgs = self._smsc.messages(system_id=system_id, state=state, limit=limit, destination=destination,
                                   source=source, since=since)
        full = self._full_texts(msgs)
        records = []
        for i, m in enumerate(msgs, start=1):
            records.append(message_record(m, full.get(m.message_id), self._in_progress(m)))
            if i % LISTING_SLICE == 0:
                # The loop is the SMPP server's too: 10,000 records in one go held every ESME up for half a second
                # (tester 126: enquire_link answered in 204 ms instead of 0.3).
                await asyncio.sleep(0)
        return _json({"messages": records, "count": len(msgs)})

    def _in_progress(self, msg: Message) -> bool:
        return bool(self._smsc.attempt_in_progress(msg.message_id))

    def _full_texts(self, msgs: list[Message]) -> dict[str, str]:
        """:func:`reassembled_texts` for the concatenated parts among ``msgs``, put together from the newest
        :data:`MAX_LIMIT` messages of each one's system_id whatever the listing's filter and limit, so that a
        part's ``full_text`` is the same in every listing and in ``GET /api/messages/{message_id}``.  A part older
        than those (a lookup by id reads it from the store) is put together only with the other older parts
        asked for: with the newest ones it met a later message that reused its reference (tester 38: 'old-' +
        'NEWER'), so alone it has none (null) rather than a wrong one."""
        system_ids = {m.system_id for m in msgs if _user_data(m)[1] is not None}
        full: dict[str, str] = {}
        for system_id in system_ids:
            siblings = self._smsc.messages(system_id=system_id, limit=MAX_LIMIT)
            known = {m.message_id for m in siblings}
            full.update(reassembled_texts(siblings))
            older = [m for m in msgs if m.system_id == system_id and m.message_id not in known]
            if older:
                full.update(reassembled_texts(older))
        return full

    async def get_message(self, request: web.Request) -> web.Response:
        """GET /api/messages/{message_id}."""
        message_id = request.match_info["message_id"]
        smsc = self._smsc
        msg = smsc.message(message_id)
        if msg is None:
            readings = [f"{found!r} ({why})" for found, why in self._id_readings(message_id)]
            if readings:
                # (tester 162: "36", Kannel's decimal value of 00000024, found 00000036, another message; so no
                # reading is taken for the id: each is named)
                raise ApiError(404, f"message_id: no message {message_id!r}: an id is looked up exactly as "
                                    f"submit_sm_resp gave it; did you mean {' or '.join(readings)}?")
            # (tester 105: at time_scale 86400 a message was gone 2 s after it was final, and "no message" read like
            # a mistyped id)
            store = self.app.config.store
            sooner = (", or sooner: the memory store keeps the newest 100,000 final messages and 64 MiB of their "
                      "texts" if store.kind == "memory" else "")
            raise ApiError(404, f"message_id: no message {message_id!r}: never accepted, or final and removed: "
                                f"store.final_retention ({store.final_retention:g} simulated seconds) after its "
                                f"final state{sooner}")
        return _json(message_record(msg, self._full_texts([msg]).get(msg.message_id), self._in_progress(msg)))

    def _id_readings(self, message_id: str) -> list[tuple[str, str]]:
        """The messages ``message_id`` may stand for when a gateway stored their id as a number: (id, how it
        reads so) for each that exists.  Jasmin keeps an id without its leading zeros ("36" for "00000036":
        tester 157), Kannel with ``msg-id-type`` 1 or 3 as the decimal value of a hex id ("36" for "00000024":
        tester 162); both readings of a number are given, as neither can be told from the other."""
        if not (message_id.isalnum() and message_id.isascii()):
            return []
        readings: dict[str, str] = {}
        for fmt in self.app.config.message_id_formats():
            digits = "0123456789abcdefABCDEF" if fmt.format == "hex" else "0123456789"
            if len(message_id) < fmt.length and all(c in digits for c in message_id):
                padded = message_id.zfill(fmt.length)
                readings.setdefault(padded.upper() if fmt.uppercase else padded.lower(),
                                    "the id without its leading zeros, as Jasmin keeps it")
            if (fmt.format == "hex" and len(message_id) == fmt.length
                    and all(c in "0123456789abcdefABCDEF" for c in message_id)):
                # (tester 184: "0000001e" for liberty's "0000001E" was told "final and removed")
                readings.setdefault(message_id.upper() if fmt.uppercase else message_id.lower(),
                                    f"the id in {'upper' if fmt.uppercase else 'lower'} case, as this carrier "
                                    f"writes its ids")
            if fmt.format == "hex" and message_id.isdigit() and len(message_id) <= 20:
                value = format(int(message_id), f"0{fmt.length}{'X' if fmt.uppercase else 'x'}")
                if len(value) == fmt.length:
                    readings.setdefault(value, f"{message_id} is its hex value as a decimal number, as Kannel keeps "
                                               f"it with msg-id-type 1 or 3")
        return [(found, why) for found, why in readings.items()
                if found != message_id and self._smsc.message(found) is not None]

    async def list_deliveries(self, request: web.Request) -> web.Response:
        """GET /api/deliveries?system_id=&limit=: receipts and MO not yet acknowledged, oldest first."""
        q = request.query
        unknown = sorted(set(q) - {"system_id", "limit"})
        if unknown:
            raise ApiError(400, f"{unknown[0]}: unknown query parameter (expected system_id, limit)")
        limit = _parse_limit(q.get("limit"))
        system_id = q.get("system_id") or None
        pending = self._smsc.deliveries(system_id, limit)
        return _json({"deliveries": [delivery_record(d) for d in pending],
                      "count": self._smsc.deliveries_count(system_id)})

    async def post_mo(self, request: web.Request) -> web.Response:
        """POST /api/mo {"from", "to", "text"[, "data_coding"]} or {"from", "to", "payload_hex", "data_coding"}
        -> 202 {"delivery_ids": [...]}, one per part.

        ``null`` for ``text``, ``payload_hex`` or ``data_coding`` is the same as leaving the field out.  The body is
        checked whole before routing (400 before 422): the text must encode in its data_coding, and the user data
        fit 255 concatenated parts (:func:`_check_mo_parts`), as :meth:`~smsc.core.smsc.Smsc.inject_mo` will
        encode and split it."""
        self._refuse_while_stopping()
        body = await _json_object(request, frozenset({"from", "to", "text", "payload_hex", "data_coding"}))
        source = _address_field(body, "from")
        destination = _address_field(body, "to")
        data_coding = _int_field(body, "data_coding", 0, 255)
        text = body.get("text")
        payload_hex = body.get("payload_hex")
        if (text is None) == (payload_hex is None):
            raise ApiError(400, "text: give exactly one of text or payload_hex")
        payload: bytes | None = None
        if text is not None:
            if not isinstance(text, str):
                raise ApiError(400, f"text: expected a string, got {_json_text(text)}")
            coding = mo_coding(text, data_coding)  # (as the core will: the handset's own choice when none is given)
            how = f"as a handset would send it (data_coding {coding})" if data_coding is None \
                else f"with data_coding {data_coding}"
            try:
                user_data = encode_text(text, coding)
            except EncodeError as exc:
                if alphabet(coding) == "binary":
                    # (a hex string in text is taken, as before; tester 50: the error did not say payload_hex)
                    raise ApiError(400, f"text: data_coding {coding} takes octets (binary data, or a character set "
                                        f"smsc has no encoder for): give them as hex, in text or in payload_hex") \
                        from None
                raise ApiError(400, f"text: cannot be encoded {how}: {exc}") from None
            size = f"{len(user_data):,} octets as hex in text" if alphabet(coding) == "binary" \
                else f"{len(text):,} characters"
            _check_mo_parts("text", user_data, coding, size=size, how=how)
        else:
            if not isinstance(payload_hex, str):
                raise ApiError(400, f"payload_hex: expected a string of hex digits, got {_json_text(payload_hex)}")
            try:
                payload = bytes.fromhex(payload_hex)
            except ValueError:
                # (hex digits only, in pairs: "0x41" was told it had an odd number: tester 56)
                raise ApiError(400, "payload_hex: expected an even number of hex digits (0-9, a-f; spaces between "
                               f"octets allowed, no 0x), got {payload_hex!r}") from None
            if data_coding is None:
                raise ApiError(400, "data_coding: required with payload_hex (0-255, SMPP 3.4 section 5.2.19)")
            # (tester 58: 34,171-35,700 octets passed a check of 255 x 140 octets, then failed in the core as a
            # "text" error telling the client to send payload_hex)
            _check_mo_parts("payload_hex", payload, data_coding, size=f"{len(payload):,} octets",
                            how=f"with data_coding {data_coding}")
        smsc = self._smsc
        src = self._normalise(source)
        if not is_valid_msisdn(src):
            # An MO comes from a handset, and a handset has a number (tester 48: "MyBrand" went out as an MO
            # of TON 5, a sender no phone can have and no ESME can answer).
            raise ApiError(400, f"from: expected the sending handset's number (E.164 digits, optional '+', or "
                                f"national form), got {source!r}")
        network = smsc.router.route(src)
        if network is None or network.down:
            # A handset sends through its network (tester 179: an MO from a number no carrier serves, or of a
            # carrier taken down, was accepted and delivered, while /api/handsets answered 404 for that number).
            why = (f"no carrier serves {src} (no route in the topology)" if network is None else
                   f"its carrier {network.name} is down (PUT /api/carriers/{network.name} brings it back)")
            raise ApiError(422, f"from: {why}: the handset has no network to send through; nothing was sent")
        dst = self._normalise(destination)
        if not smsc.mo_target(src, dst):
            # Accepted, it would wait under no system_id for ever (only mo_unrouted would show it): refuse it.
            raise ApiError(422, f"to: no ESME receives MO sent to {destination!r} (expected a number of "
                                f"topology.mo_routes, or a 'from' handset that an ESME has sent MT to, of an "
                                f"account that can bind as receiver or transceiver); "
                                f"nothing was sent")
        try:
            ids = smsc.inject_mo(src, dst, text=text, payload=payload, data_coding=data_coding)
        except EncodeError as exc:  # (checked above: only if the core's rules came to differ from these checks)
            raise ApiError(400, f"{'text' if text is not None else 'payload_hex'}: {exc}") from None
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        log.info("mo_injected", source=src, destination=dst, parts=len(ids), peer=_peer(request))
        await self._durable()  # an MO exists nowhere but in the store: 202 means a crash cannot lose it
        return _json({"delivery_ids": list(ids)}, 202)

    async def get_handset(self, request: web.Request) -> web.Response:
        """GET /api/handsets/{number}."""
        e164, carrier = self._handset(request)
        return _json(self._handset_record(e164, carrier))

    async def put_handset(self, request: web.Request) -> web.Response:
        """PUT /api/handsets/{number} {"online": bool}: switch a handset on or off until {"online": null} hands
        it back to its number rule or its carrier's random on/off model (tester 48: a switched handset stayed
        forced until a restart)."""
        self._refuse_while_stopping()
        body = await _json_object(request, frozenset({"online", "for"}))
        if "online" not in body:
            raise ApiError(400, "online: required (true, false, or null to hand the handset back to the simulation)")
        online = body["online"]
        if online is not None and not isinstance(online, bool):
            raise ApiError(400, f"online: expected true, false or null, got {_json_text(online)}")
        seconds = body.get("for")
        # (tester 179: a scenario's step could switch a handset for a while, the control API could not)
        if seconds is not None and (online is None or isinstance(seconds, bool)
                                    or not isinstance(seconds, (int, float)) or not 0 < seconds <= 366 * 86400):
            raise ApiError(400, f"for: expected with online true or false, the seconds (simulated) until the handset "
                                f"is handed back to the simulation, more than 0 and at most a year, got "
                                f"{_json_text(seconds)}")
        e164, carrier = self._handset(request)
        if online is None:
            self._smsc.release_handset(e164)  # alerts what waits for it when the simulation has it online
        else:
            # switching on alerts the messages waiting for it
            self._smsc.set_handset_online(e164, online, None if seconds is None else float(seconds))
        log.info("handset_switched", number=e164, online=online, peer=_peer(request),
                 **({"for_seconds": seconds} if seconds is not None else {}))
        return _json(self._handset_record(e164, carrier))

    async def opt_out(self, request: web.Request) -> web.Response:
        """POST /api/handsets/{number}/opt-out (no body, or an empty JSON object)."""
        return await self._opt(request, out=True)

    async def opt_in(self, request: web.Request) -> web.Response:
        """POST /api/handsets/{number}/opt-in (no body, or an empty JSON object)."""
        return await self._opt(request, out=False)

    async def _opt(self, request: web.Request, *, out: bool) -> web.Response:
        self._refuse_while_stopping()
        raw = await _read_body(request)
        if raw.strip():  # (tester 121: a body was read by nobody; other endpoints refuse fields)
            _parse_object(raw, frozenset())
        e164, carrier = self._handset(request)
        if out:
            carrier.handsets.opt_out(e164)
        else:
            carrier.handsets.opt_in(e164)
        log.info("handset_opted_out" if out else "handset_opted_in", number=e164, peer=_peer(request))
        await self._durable()
        return _json(self._handset_record(e164, carrier))

    def _refuse_while_stopping(self) -> None:
        """503 for a change asked while the server stops (``/api/health`` says "stopping" then): with the memory
        store an MO accepted now would be lost with the process (tester 121: 202 while health said 503)."""
        if self.app.stopping:
            raise ApiError(503, "stopping: the server is shutting down; nothing was changed")

    async def _durable(self) -> None:
        """Wait until what this request recorded is on disk (at once with the memory store).

        Raises:
            ApiError: 503 when the store is closing or has not committed within :data:`DURABLE_TIMEOUT`
                seconds (the change is made, but the answer cannot say it will survive a crash).
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def durable() -> None:
            if not done.done():
                done.set_result(None)

        try:
            self._smsc.when_durable(durable)
            await asyncio.wait_for(done, DURABLE_TIMEOUT)
        except RuntimeError as exc:  # the store is closed: shutting down
            raise ApiError(503, f"store: {exc}") from None
        except asyncio.TimeoutError:
            raise ApiError(503, f"store: not committed within {DURABLE_TIMEOUT:g} s") from None

    async def list_accounts(self, request: web.Request) -> web.Response:
        """GET /api/accounts: every account (never its password) with its binds now and whether it is locked."""
        _refuse_query(request)
        return _json({"accounts": [self._account_record(state) for state in self._accounts().states()]})

    async def get_account(self, request: web.Request) -> web.Response:
        """GET /api/accounts/{system_id}."""
        return _json(self._account_record(self._account_state(request)))

    async def put_account(self, request: web.Request) -> web.Response:
        """PUT /api/accounts/{system_id} {"locked": bool, "for": seconds}: keep the account from binding (its
        binds refused with ESME_RBINDFAIL; those bound already go on: POST /api/binds/disconnect ends them), for
        that many simulated seconds when given (as a carrier's ``for``), as a carrier's SMSC does while it refuses an ESME, so that the ESME's
        reconnection back-off can be tested; or let it bind again.  Not kept across a restart."""
        self._refuse_while_stopping()
        locked, seconds = await _switch(request, "locked", "true refuses the account's binds, false lets it bind "
                                        "again", "the seconds (simulated) until the account may bind again",
                                        366 * 86400)
        state = self._account_state(request)
        system_id = state.account.system_id
        self._accounts_server().lock_account(system_id, locked, seconds,
                                             "the control API (PUT /api/accounts/{system_id})")
        log.info("account_switched", system_id=system_id, locked=locked, peer=_peer(request),
                 **({"for_seconds": seconds} if seconds is not None else {}))
        return _json(self._account_record(state))

    def _accounts_server(self) -> Any:
        smpp = self.app.smpp
        if smpp is None:
            raise ApiError(503, "the SMPP server is not running")
        return smpp

    def _accounts(self) -> Any:
        return self._accounts_server().accounts

    def _account_state(self, request: web.Request) -> Any:
        system_id = request.match_info["system_id"]
        state = self._accounts().state_for(system_id)
        if state is None:
            known = ", ".join(s.account.system_id for s in self._accounts().states())
            raise ApiError(404, f"no account has system_id {_json_text(system_id)} (accounts: {known})")
        return state

    @staticmethod
    def _account_record(state: Any) -> dict[str, Any]:
        """An account as the API shows it (the Account schema of openapi.yaml): never its password."""
        acc = state.account
        return {
            "system_id": acc.system_id,
            "bind_types": sorted(acc.bind_types),
            "max_binds": acc.max_binds,
            "bound": state.binds,
            "throughput": acc.throughput,
            "submit_window": getattr(acc, "submit_window", None),
            "locked": state.locked,
            "unlocks_at": iso_time(state.unlocks_at),
        }

    async def binds(self, request: web.Request) -> web.Response:
        """GET /api/binds: one entry per open SMPP connection, bound ones first."""
        _refuse_query(request)
        smpp = self.app.smpp
        out = [_bind_record(proto) for proto in smpp.registry] if smpp is not None else []
        out.sort(key=lambda b: (not b["bound"], b["system_id"], b["peer"]))
        return _json({"binds": out, "count": len(out)})

    async def disconnect_binds(self, request: web.Request) -> web.Response:
        """POST /api/binds/disconnect {"system_id": ..., "peer": "host:port", "how": "unbind" | "drop"}: end the
        SMPP connections of a system_id (bound as it), or the one from ``peer``, or those matching both, as a
        carrier's SMSC does when it restarts or sheds load, so that an ESME's reconnection can be tested.
        "unbind" (the default) sends unbind (SMPP 3.4 section 4.2: either side may) and closes once it is
        answered, or after the response_timer; "drop" closes the TCP connection at once, without a word.
        Deliveries the ESME had not answered are offered again, as after any lost connection.  None matching
        ends none: count 0."""
        self._refuse_while_stopping()
        body = await _json_object(request, frozenset({"system_id", "peer", "how"}))
        system_id, peer, how = body.get("system_id"), body.get("peer"), body.get("how", "unbind")
        for key, value in (("system_id", system_id), ("peer", peer)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ApiError(400, f"{key}: expected non-empty text, got {_json_text(value)}")
        if peer is not None:
            host, colon, port = peer.rpartition(":")
            if not colon or not host or not is_digits(port) or len(port) > 5 or not 0 < int(port) < 65536:
                # (tester 144: a malformed one answered 404, as if no such connection were open)
                raise ApiError(400, f"peer: expected host:port as GET /api/binds shows it (127.0.0.1:40000), got "
                                    f"{_json_text(peer)}")
        if system_id is None and peer is None:
            raise ApiError(400, "system_id or peer: at least one is required (which connections to end)")
        if how not in ("unbind", "drop"):
            raise ApiError(400, f'how: expected "unbind" (an unbind PDU first) or "drop" (the TCP connection '
                                f'closed at once), got {_json_text(how)}')
        smpp = self.app.smpp
        candidates = [] if smpp is None else list(smpp.registry) if system_id is None else smpp.bound_as(system_id)
        matched = [(proto, record) for proto, record in ((p, _bind_record(p)) for p in candidates)
                   if peer is None or record["peer"] == peer]
        # None matching is an answer, not an error: a chaos step may come between an ESME's reconnections (tester
        # 144: a 404 failed such a test step)
        for proto, record in matched:
            proto.disconnect(how == "drop")
            log.info("bind_disconnected", system_id=record["system_id"], bind_peer=record["peer"], how=how,
                     peer=_peer(request))
        out = [record for _, record in matched]
        return _json({"binds": out, "count": len(out), "how": how})

    async def carriers(self, request: web.Request) -> web.Response:
        """GET /api/carriers: every simulated network with its prefixes, capacity, retry schedule, receipt style
        and counters (:meth:`Carrier.counters <smsc.core.carrier.Carrier.counters>`: ``attempts`` and one count
        per outcome kind, since the server started)."""
        _refuse_query(request)
        router = self._smsc.router
        prefixes = self._carrier_prefixes()
        return _json({"carriers": [self._carrier_record(name, carrier, prefixes)
                                   for name, carrier in router.carriers.items()]})

    async def get_carrier(self, request: web.Request) -> web.Response:
        """GET /api/carriers/{name}: one carrier as ``GET /api/carriers`` lists it."""
        name, carrier = self._carrier(request)
        return _json(self._carrier_record(name, carrier, self._carrier_prefixes()))

    async def put_carrier(self, request: web.Request) -> web.Response:
        """PUT /api/carriers/{name} {"down": bool, "for": seconds}: take the carrier down (for that many simulated
        seconds, when given) or bring it back (:meth:`Smsc.set_carrier_down
        <smsc.core.smsc.Smsc.set_carrier_down>`)."""
        self._refuse_while_stopping()
        down, seconds = await _switch(request, "down", "true takes the carrier down, false brings it back",
                                      "the seconds (simulated) until the carrier is back by itself", 366 * 86400)
        name, carrier = self._carrier(request)
        waiting = self._smsc.queued_for_carrier(name)
        self._smsc.set_carrier_down(name, down, seconds)
        log.info("carrier_switched", carrier=name, down=down, queued=waiting, peer=_peer(request),
                 **({"for_seconds": seconds} if seconds is not None else {}))
        return _json(self._carrier_record(name, carrier, self._carrier_prefixes()))

    def _carrier(self, request: web.Request) -> tuple[str, Any]:
        name = request.match_info["name"]
        carrier = self._smsc.router.carriers.get(name)
        if carrier is None:
            known = ", ".join(self._smsc.router.carriers)
            raise ApiError(404, f"no carrier is called {_json_text(name)} (carriers: {known})")
        return name, carrier

    def _carrier_prefixes(self) -> dict[str, list[str]]:
        prefixes: dict[str, list[str]] = {}
        for prefix, carrier in self._smsc.router.prefixes():
            prefixes.setdefault(carrier.name, []).append(prefix or "*")
        return prefixes

    def _carrier_record(self, name: str, carrier: Any, prefixes: dict[str, list[str]]) -> dict[str, Any]:
        """A carrier as the API shows it (the Carrier schema of openapi.yaml)."""
        style = carrier.receipt
        id_format = style.message_id_format
        record: dict[str, Any] = {
            "name": name,
            "description": carrier.config.description,
            "prefixes": sorted(prefixes.get(name, []), key=lambda p: (p == "*", p)),
            "capacity": carrier.capacity,
            "down": carrier.down,
            "back_at": iso_time(self._smsc.carrier_back_at(name)),
            "outage_submit_status": None if carrier.outage_status is None else status_name(carrier.outage_status),
            # (messages waiting for it now, and the most it lets wait before refusing submits)
            "queued": self._smsc.queued_for_carrier(name),
            "queue_limit": carrier.queue_limit,
            "queue_full_status": status_name(carrier.queue_full_status),
            "retry_schedule": list(carrier.retry_schedule),
            "receipt": {
                "message_id": None if id_format is None else {
                    "format": id_format.format, "length": id_format.length, "uppercase": id_format.uppercase},
                "receipted_message_id": style.receipted_message_id,
                "text_label": style.text_label,
                "err_digits": style.err_digits,
                "lost": style.lost,
                "duplicated": style.duplicated,
                "text_id": style.text_id,
                # (tester 136: not shown; the mean of its distribution, simulated seconds, or null)
                "duplicate_delay_mean": None if style.duplicate_delay is None
                else round(style.duplicate_delay.expected(), 3),
            },
            "submit_latency_mean": None if carrier.config.submit_latency is None
            else round(carrier.config.submit_latency.expected(), 3),
        }
        record["counters"] = carrier.counters()
        return record

    async def get_clock(self, request: web.Request) -> web.Response:
        """GET /api/clock: the simulated time now and how fast it runs."""
        _refuse_query(request)
        return _json(self._clock_record())

    async def post_clock(self, request: web.Request) -> web.Response:
        """POST /api/clock {"advance": seconds}: move the simulated clock forward at once, running in order what
        falls due meanwhile (:meth:`App.advance_clock <smsc.app.App.advance_clock>`), so that a test lives through
        hours in a request with everything else running slowly (``--time-scale 0.001``)."""
        self._refuse_while_stopping()
        body = await _json_object(request, frozenset({"advance"}))
        seconds = body.get("advance")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_ADVANCE:
            raise ApiError(400, f"advance: expected the simulated seconds to move the clock forward, more than 0 "
                                f"and at most a year, got {_json_text(seconds)}")
        before = self.app.clock.now()
        try:
            ran = await self.app.advance_clock(float(seconds))
        except ClockAdvanceRefused as refused:  # (ClockAdvanceUnsaved too: the clock moved, and says so)
            log.warning("clock_advance_refused", seconds=float(seconds), peer=_peer(request), reason=str(refused))
            raise ApiError(503, str(refused)) from None
        log.info("clock_advanced", seconds=float(seconds), timers_run=ran, peer=_peer(request),
                 sim_time=iso_time(self.app.clock.now()), **{"from": iso_time(before)})
        return _json({**self._clock_record(), "advanced": float(seconds), "timers_run": ran})

    def _clock_record(self) -> dict[str, Any]:
        clock = self.app.clock
        return {"time": iso_time(clock.now()), "time_scale": getattr(clock, "time_scale", None)}

    async def stats(self, request: web.Request) -> web.Response:
        """GET /api/stats: SMPP server counters, core counters, sessions and simulation time as JSON."""
        _refuse_query(request)
        smpp = self.app.smpp
        smsc = self.app.smsc
        return _json({
            "time": iso_time(self._now()),
            "time_scale": getattr(self.app.clock, "time_scale", 1.0),
            "started": iso_time(getattr(self.app, "started_wall", None)),
            "smpp": dict(plain_counters(smpp.counters)) if smpp is not None else {},
            "connections": len(smpp.registry.connections) if smpp is not None else 0,
            "bound": smpp.registry.bound_count() if smpp is not None else 0,
            "core": dict(plain_counters(getattr(smsc, "stats", None))),
            "queues": {
                "waiting": smsc.waiting_count() if smsc is not None else 0,
                "outbox": smsc.outbox_sizes() if smsc is not None else {},
            },
        })

    async def openapi(self, request: web.Request) -> web.Response:
        """GET /api/openapi: the OpenAPI 3 document, its server the address this request was sent to (the Host
        header, which the allowed-host check passed): the file's 127.0.0.1:8080 is only the default (tester 142:
        tools pointed at the document called the wrong port with ``--http-port 0``)."""
        doc = dict(openapi_document())  # (a copy: the document is read once and shared)
        doc["servers"] = [{"url": f"{request.scheme}://{request.host}", "description": "this server"}]
        return _json(doc)

    async def metrics(self, request: web.Request) -> web.Response:
        """GET /metrics: Prometheus text exposition (read from plain counters now)."""
        body, content_type = render(self.registry)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def dashboard_index(self, request: web.Request) -> web.StreamResponse:
        """GET /, /dashboard and /dashboard/: 302 to the dashboard page, /dashboard/index.html."""
        raise web.HTTPFound("/dashboard/index.html")

    async def dashboard_file(self, request: web.Request) -> web.StreamResponse:
        """GET /dashboard/{filename}: a file of ``smsc/http/dashboard`` (its content type from its name; aiohttp's
        FileResponse, with conditional and range requests).  An empty name (``/dashboard/``) redirects to the page
        as ``/`` does.  A name that is not a file there (missing, a directory, a path that leads out of it) is
        answered as any unknown path: 404 ``{"error": "no such endpoint: ..."}``."""
        name = request.match_info["filename"]
        if not name:
            return await self.dashboard_index(request)
        root = self._dashboard
        if root is None:
            raise web.HTTPNotFound()
        try:
            path = (root / name).resolve()  # (an absolute name replaces root, and resolves outside it)
            found = path.is_relative_to(root) and path.is_file()
        except (ValueError, OSError):  # a NUL in the name, a name too long (tester 61: 500 with a traceback)
            found = False
        if not found:
            raise web.HTTPNotFound()
        return web.FileResponse(path)
