"""Structured logging for smsc (structlog), configured once by the CLI.

Log lines are events with key/value fields (``bound``, ``bind_refused``, ``listening``, ``stopped`` ...);
nothing is logged per PDU above debug level, and passwords are never passed to a logger.  At debug level every
PDU read and written is logged (``pdu_in`` / ``pdu_out``, see :func:`pdu_fields`): :data:`debug_pdus`.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog


#: True when the log level is debug: the SMPP adapter then logs every PDU (one test per read and per write,
#: not per PDU, when it is off).
debug_pdus = False

#: The PDU fields a ``pdu_in`` / ``pdu_out`` line shows, when the PDU has them (never a password).
_PDU_FIELDS = ("system_id", "system_type", "interface_version", "service_type", "source_addr_ton", "source_addr_npi",
               "source_addr", "dest_addr_ton", "dest_addr_npi", "destination_addr", "esm_class", "protocol_id",
               "priority_flag", "registered_delivery", "replace_if_present_flag", "data_coding", "sm_default_msg_id",
               "schedule_delivery_time", "validity_period", "message_id", "message_state", "error_code", "final_date")


#: Fields shown even at 0 (tester 86: registered_delivery=0 was left out of the line that should show it).
_SHOWN_AT_ZERO = frozenset({"esm_class", "registered_delivery", "data_coding"})


def peer_name(peername: Any) -> str:
    """A socket's peer as the logs write it (SMPP and HTTP alike): "127.0.0.1:40312", "[::1]:40312"; "" when
    unknown."""
    if not peername:
        return ""
    if isinstance(peername, tuple) and len(peername) >= 2:
        host = str(peername[0])
        return f"[{host}]:{peername[1]}" if ":" in host else f"{host}:{peername[1]}"
    return str(peername)


def pdu_fields(pdu: Any) -> dict[str, Any]:
    """What a debug line says of ``pdu``: command, sequence_number, command_status (hex), the fields of
    :data:`_PDU_FIELDS` it has that are set (esm_class, registered_delivery and data_coding also at 0: a zero
    there is what a user looks for when a receipt never comes or a text reads wrong), ``sm_length`` (octets of
    short_message) and the TLV tags (hex)."""
    from smsc.smpp.constants import command_name

    fields: dict[str, Any] = {"command": command_name(pdu.command_id), "sequence_number": pdu.sequence_number,
                              "status": f"0x{pdu.command_status:08X}"}
    for name in _PDU_FIELDS:
        value = getattr(pdu, name, None)
        if value not in (None, "", 0) or name in _SHOWN_AT_ZERO and value is not None:
            fields[name] = value
    destinations = getattr(pdu, "dest_addresses", None)
    if destinations:  # submit_multi: SME addresses and distribution list names
        fields["dest_addresses"] = [getattr(d, "destination_addr", None) or getattr(d, "dl_name", "")
                                    for d in destinations]
    short_message = getattr(pdu, "short_message", None)
    if short_message is not None:
        fields["sm_length"] = len(short_message)
    if pdu.tlvs:
        fields["tlvs"] = [f"0x{tag:04X}" for tag in pdu.tlvs]
        # A receipt's own id and state, so that "did the receipt of X go out?" is answered by the log (tester 101:
        # only the tags were there).
        for tag, name in _TLVS_SHOWN:
            value = pdu.tlvs.get(tag)
            if value is not None:
                fields[name] = value
    return fields


#: TLVs whose values a debug line shows: receipted_message_id and message_state (SMPP 3.4 sections 5.3.2.12,
#: 5.3.2.35).
_TLVS_SHOWN = ((0x001E, "receipted_message_id"), (0x0427, "message_state"))


class _LogStream:
    """The log's stderr, whose failure does not stop the server: once a write fails (the process reading it is
    gone, a pipe closed: BrokenPipeError; a full disk) the log is dropped, and the server goes on serving and
    stops when told (tester 106: after the reader of its stderr died, every log line raised, every bind was
    dropped, and the signal handler's own line kept SIGTERM from stopping it)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        #: True once a write or flush failed: nothing more is written.
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):  # (ValueError: the stream was closed)
                self.broken = True
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self.broken = True

    def isatty(self) -> bool:
        return not self.broken and self._stream.isatty()


#: Control characters (C0 but tab, DEL, C1) written as ``\xNN`` in the console log: a system_id, address or text an
#: ESME sent may hold terminal escape sequences, which a terminal or ``less -R`` showing the log would obey
#: (tester 126).  The JSON log escapes them itself.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0)) if c != 0x09}
_HAS_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _escape_controls(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: every text value's control characters as ``\\xNN`` (:data:`_CONTROLS`)."""
    for key, value in event.items():
        if isinstance(value, str) and key not in _OWN_TEXT and _HAS_CONTROL.search(value):
            event[key] = value.translate(_CONTROLS)
    return event


#: Values the server writes itself, on several lines: a traceback.
_OWN_TEXT = frozenset({"exception", "stack"})


def configure_logging(*, level: str = "info", fmt: str = "console") -> None:
    """Set up structlog: ``fmt`` "console" (human readable) or "json" (one JSON object per line, stderr)."""
    global debug_pdus
    lvl = logging.getLevelName(level.upper())
    if not isinstance(lvl, int):
        raise ValueError(f"unknown log level {level!r}: expected debug, info, warning or error")
    debug_pdus = lvl <= logging.DEBUG
    renderer: structlog.typing.Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    elif fmt == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    else:
        raise ValueError(f"unknown log format {fmt!r}: expected console or json")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            *([_escape_controls] if fmt == "console" else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=_LogStream(sys.stderr)),  # type: ignore[arg-type]  # (write and flush: all print uses)
        cache_logger_on_first_use=True,
    )
