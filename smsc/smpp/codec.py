"""SMPP 3.4 codec, sans-IO: bytes to :mod:`smsc.smpp.pdu` objects and back.

- :func:`encode` turns a PDU into its wire octets (header included).
- :func:`decode` turns the octets of exactly one PDU into a PDU object.
- :class:`Framer` cuts a TCP byte stream, fed in chunks of any size, into PDUs.
- :class:`SmppError` is the only exception a peer's bytes can cause; :func:`error_response` gives the PDU
  that answers it.

Every PDU body is described once, as a tuple of :class:`Field` rows in :data:`LAYOUTS` (SMPP 3.4 chapter 4,
smpp34-facts.md section 2).  At import time each layout is compiled into straight-line Python functions
per PDU class (no per-field dispatch on the hot path): an encoder, a field-by-field decoder that names the
exact error, and a fast decoder that reads each run of strings and integers with one precompiled regular
expression on the Latin-1 text and falls back on the field-by-field one when a run does not match.  The
generated source of a class can be read with :func:`generated_source`.

Validation (SMPP 3.4 sections 3.3, 4.3, 5.1.3; smpp34-facts.md section 9):

- command_length < 16 or above the framer's maximum: ESME_RINVCMDLEN, *fatal* (the stream cannot be
  resynchronised; the connection must close).
- unknown or reserved command_id: ESME_RINVCMDID (the body is skipped).
- mandatory fields running past command_length: ESME_RINVCMDLEN.
- a C-Octet String longer than its field: the field's own status (:attr:`Field.status`); the time fields
  must hold 0 or 16 characters (ESME_RINVSCHED / ESME_RINVEXPIRY).
- sm_length above 254 or beyond the body: ESME_RINVMSGLEN; number_of_dests 0 or above 254:
  ESME_RINVNUMDESTS; dest_flag not 1 or 2: ESME_RINVDESTFLAG.  One exception to the field sizes:
  submit_multi's SME destination_addr and dl_name decode at any length (up to their NUL), as the SMSC
  refuses a bad destination alone in the unsuccess_sme list (SMPP 3.4 section 4.5.2;
  :func:`smsc.smpp.validate.check_sme_address`; a distribution list always, none being provisioned), not
  the whole request.  The encoder still writes at most 20 characters.
- TLV area errors: see :func:`smsc.smpp.tlv.decode_tlvs`.  Each PDU type reads its TLVs with its own
  :func:`smsc.smpp.tlv.decode_rows`: a known TLV the PDU does not define is ignored, never refused (SMPP 3.4
  section 3.3), as long as it lies inside the PDU.

Tolerances, where real peers bend the spec: a response whose body is empty decodes with default field
values, whatever its command_status (many ESMEs answer deliver_sm with a bare 16-octet header); such a PDU
is not written back byte for byte.  Requests with a non-zero command_status are decoded as they are.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from typing import Any, Callable, Mapping, NamedTuple

from smsc.smpp import pdu as _p
from smsc.smpp.constants import HEADER_SIZE, RESPONSE_BIT, CommandStatus
from smsc.smpp.pdu import PDU_CLASSES, DistributionList, GenericNack, Pdu, SmeAddress, UnsuccessSme
from smsc.smpp.tlv import TlvDecodeError, decode_rows, decode_tlvs, encode_tlvs

__all__ = [
    "SmppError",
    "encode",
    "decode",
    "Framer",
    "error_response",
    "Field",
    "U8",
    "CSTR",
    "TIME",
    "SM",
    "DESTS",
    "UNSUCCESS",
    "LAYOUTS",
    "BODY_OMITTED_ON_ERROR",
    "DEFAULT_MAX_COMMAND_LENGTH",
    "generated_source",
]

#: Default upper bound of command_length accepted by :class:`Framer`, in octets (72 KiB): a message_payload of
#: 65,535 octets, the most its TLV length can say, fits beside every other field of a submit_sm, a data_sm, or
#: a submit_multi to 254 destinations (6,096 octets of them); testers 52 and 53: at 64 and 68 KiB such PDUs got
#: generic_nack and the link was closed.
DEFAULT_MAX_COMMAND_LENGTH = 73_728

S = CommandStatus


class SmppError(Exception):
    """A peer sent octets that are not a valid SMPP 3.4 PDU.

    Attributes:
        status: the command_status to answer with (SMPP 3.4 section 5.1.3), a CommandStatus member when
            the value is one.
        command_id: command_id of the offending PDU, or None when its header was not readable.
        sequence_number: its sequence_number, 0 when not readable (SMPP 3.4 section 4.3).
        fatal: True when the byte stream cannot be resynchronised; the connection must be closed.
        command_status: the command_status of its header when the whole header was read and only the body
            failed, else None.  A response's header says all that acknowledges a request (command_id,
            sequence_number, command_status): the session still takes it (:class:`~smsc.smpp.session.Session`).
        system_id: for an undecodable bind, the system_id it asked for as far as it can be read (its first
            octets up to a NUL, at most 16, Latin-1 with control characters escaped), so that a log can name
            the ESME; else "".
    """

    system_id: str = ""

    def __init__(
        self,
        status: int,
        message: str = "",
        *,
        command_id: int | None = None,
        sequence_number: int = 0,
        fatal: bool = False,
        command_status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status: int = _STATUS_BY_VALUE.get(status, status)
        self.command_id = command_id
        self.sequence_number = sequence_number
        self.fatal = fatal
        self.command_status = command_status

    @property
    def message(self) -> str:
        """The human-readable reason."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return f"{_status_name(self.status)}: {self.message}"

    def __repr__(self) -> str:
        cid = "None" if self.command_id is None else f"0x{self.command_id:08X}"
        return (
            f"SmppError({_status_name(self.status)}, {self.message!r}, command_id={cid}, "
            f"sequence_number={self.sequence_number}, fatal={self.fatal})"
        )


_STATUS_BY_VALUE: dict[int, CommandStatus] = {int(member): member for member in CommandStatus}


def _status_name(status: int) -> str:
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


# -- layouts -------------------------------------------------------------------------------------------

#: Field kinds of :class:`Field`.
U8 = "u8"  # unsigned 1-octet integer
CSTR = "cstr"  # C-Octet String, ``size`` octets at most, NUL included
TIME = "time"  # C-Octet String of 0 or 16 characters (SMPP 3.4 section 7.1.1)
SM = "sm"  # sm_length (1 octet) then short_message (sm_length octets, at most 254)
DESTS = "dests"  # number_of_dests then dest_address entries (SMPP 3.4 section 4.5.1.1)
UNSUCCESS = "unsuccess"  # no_unsuccess then unsuccess_sme entries (SMPP 3.4 section 4.5.2.1)


class Field(NamedTuple):
    """One mandatory body parameter: its attribute name, kind, size and the status for a bad value.

    ``size`` is the largest number of octets of a ``cstr`` (NUL included; 17 for ``time``).  ``status`` is
    the command_status of a value too long for the field (SMPP 3.4 section 5.1.3).
    """

    name: str
    kind: str
    size: int = 1
    status: int = S.ESME_RINVPARLEN


def _u8(*names: str) -> tuple[Field, ...]:
    return tuple(Field(name, U8) for name in names)


def _c(name: str, size: int, status: int) -> Field:
    return Field(name, CSTR, size, status)


def _t(name: str, status: int) -> Field:
    return Field(name, TIME, 17, status)


_SM = Field("short_message", SM, 254, S.ESME_RINVMSGLEN)

_BIND = (
    _c("system_id", 16, S.ESME_RINVSYSID),
    _c("password", 9, S.ESME_RINVPASWD),
    _c("system_type", 13, S.ESME_RINVSYSTYP),
    *_u8("interface_version", "addr_ton", "addr_npi"),
    _c("address_range", 41, S.ESME_RINVPARLEN),
)
_BIND_RESP = (_c("system_id", 16, S.ESME_RINVSYSID),)
_MESSAGE_ID = _c("message_id", 65, S.ESME_RINVMSGID)
_SERVICE_TYPE = _c("service_type", 6, S.ESME_RINVSERTYP)
_SOURCE_21 = _c("source_addr", 21, S.ESME_RINVSRCADR)
_DEST_21 = _c("destination_addr", 21, S.ESME_RINVDSTADR)
_SHORT_MESSAGE_TAIL = (
    *_u8("esm_class", "protocol_id", "priority_flag"),
    _t("schedule_delivery_time", S.ESME_RINVSCHED),
    _t("validity_period", S.ESME_RINVEXPIRY),
    *_u8("registered_delivery", "replace_if_present_flag", "data_coding", "sm_default_msg_id"),
    _SM,
)
_SHORT_MESSAGE = (
    _SERVICE_TYPE,
    *_u8("source_addr_ton", "source_addr_npi"),
    _SOURCE_21,
    *_u8("dest_addr_ton", "dest_addr_npi"),
    _DEST_21,
    *_SHORT_MESSAGE_TAIL,
)

#: The mandatory body of every PDU class, in wire order (SMPP 3.4 chapter 4).  TLVs follow it.
LAYOUTS: dict[type[Pdu], tuple[Field, ...]] = {
    _p.BindTransmitter: _BIND,
    _p.BindReceiver: _BIND,
    _p.BindTransceiver: _BIND,
    _p.BindTransmitterResp: _BIND_RESP,
    _p.BindReceiverResp: _BIND_RESP,
    _p.BindTransceiverResp: _BIND_RESP,
    _p.Outbind: (_c("system_id", 16, S.ESME_RINVSYSID), _c("password", 9, S.ESME_RINVPASWD)),
    _p.Unbind: (),
    _p.UnbindResp: (),
    _p.GenericNack: (),
    _p.EnquireLink: (),
    _p.EnquireLinkResp: (),
    _p.SubmitSm: _SHORT_MESSAGE,
    _p.DeliverSm: _SHORT_MESSAGE,
    _p.SubmitSmResp: (_MESSAGE_ID,),
    _p.DeliverSmResp: (_MESSAGE_ID,),
    _p.DataSmResp: (_MESSAGE_ID,),
    _p.SubmitMulti: (
        _SERVICE_TYPE,
        *_u8("source_addr_ton", "source_addr_npi"),
        _SOURCE_21,
        Field("dest_addresses", DESTS, 254, S.ESME_RINVNUMDESTS),
        *_SHORT_MESSAGE_TAIL,
    ),
    _p.SubmitMultiResp: (_MESSAGE_ID, Field("unsuccess_smes", UNSUCCESS, 255, S.ESME_RINVPARLEN)),
    _p.DataSm: (
        _SERVICE_TYPE,
        *_u8("source_addr_ton", "source_addr_npi"),
        _c("source_addr", 65, S.ESME_RINVSRCADR),
        *_u8("dest_addr_ton", "dest_addr_npi"),
        _c("destination_addr", 65, S.ESME_RINVDSTADR),
        *_u8("esm_class", "registered_delivery", "data_coding"),
    ),
    _p.QuerySm: (_MESSAGE_ID, *_u8("source_addr_ton", "source_addr_npi"), _SOURCE_21),
    _p.QuerySmResp: (
        _MESSAGE_ID,
        _t("final_date", S.ESME_RINVPARLEN),
        *_u8("message_state", "error_code"),
    ),
    _p.CancelSm: (
        _SERVICE_TYPE,
        _MESSAGE_ID,
        *_u8("source_addr_ton", "source_addr_npi"),
        _SOURCE_21,
        *_u8("dest_addr_ton", "dest_addr_npi"),
        _DEST_21,
    ),
    _p.CancelSmResp: (),
    _p.ReplaceSm: (
        _MESSAGE_ID,
        *_u8("source_addr_ton", "source_addr_npi"),
        _SOURCE_21,
        _t("schedule_delivery_time", S.ESME_RINVSCHED),
        _t("validity_period", S.ESME_RINVEXPIRY),
        *_u8("registered_delivery", "sm_default_msg_id"),
        _SM,
    ),
    _p.ReplaceSmResp: (),
    _p.AlertNotification: (
        *_u8("source_addr_ton", "source_addr_npi"),
        _c("source_addr", 65, S.ESME_RINVSRCADR),
        *_u8("esme_addr_ton", "esme_addr_npi"),
        _c("esme_addr", 65, S.ESME_RINVDSTADR),
    ),
}

#: Responses whose body is left out when command_status is not 0 (SMPP 3.4 sections 4.1.2, 4.4.2; the
#: same rule applied to bind_transceiver_resp, submit_multi_resp and data_sm_resp).  The body is still
#: written when the PDU carries TLVs (or unsuccess_smes), since those cannot follow a missing body.
BODY_OMITTED_ON_ERROR: frozenset[type[Pdu]] = frozenset((
    _p.BindTransmitterResp,
    _p.BindReceiverResp,
    _p.BindTransceiverResp,
    _p.SubmitSmResp,
    _p.SubmitMultiResp,
    _p.DataSmResp,
))

_DEST_ADDR = _DEST_21
#: submit_multi's SME destination_addr as read: any length up to its NUL (see the module docstring).
_SME_DEST_ADDR = _c("destination_addr", 1 << 32, S.ESME_RINVDSTADR)
#: submit_multi's dl_name as read, any length up to its NUL: a name longer than its field (C-Octet String of
#: 21 octets, SMPP 3.4 section 4.5.1) is an error of that destination alone, as a too-long SME address is
#: (section 4.5.2: unsuccess_sme lists "SME address(es) or/and Distribution List names to which submission
#: was unsuccessful").  The SMSC lists every dl_name there with ESME_RINVDLNAME, echoed as its first 20
#: characters (tester 87: a 21-character name refused the whole submit_multi, its SME addresses with it).
_DL_NAME = _c("dl_name", 1 << 32, S.ESME_RINVDLNAME)

# -- shared helpers of the generated code --------------------------------------------------------------

_HDR = struct.Struct(">IIII")
_HDR_TAIL = struct.Struct(">III")
_U32 = struct.Struct(">I")
_new = object.__new__


def _cstr_error(b: bytes, p: int, e: int, z: int, size: int, status: int, name: str) -> SmppError:
    if z < 0:
        if e - p >= size:
            return SmppError(status, f"{name} longer than {size - 1} characters")
        return SmppError(S.ESME_RINVCMDLEN, f"{name} runs past command_length (no terminating NUL)")
    return SmppError(status, f"{name} has {z - p} characters, at most {size - 1} allowed")


def _time_error(b: bytes, p: int, e: int, z: int, status: int, name: str) -> SmppError:
    if z < 0:
        if e - p >= 17:
            return SmppError(status, f"{name} longer than 16 characters")
        return SmppError(S.ESME_RINVCMDLEN, f"{name} runs past command_length (no terminating NUL)")
    return SmppError(status, f"{name} has {z - p} characters; an SMPP time has 0 or 16")


def _short(name: str) -> SmppError:
    return SmppError(S.ESME_RINVCMDLEN, f"{name} runs past command_length")


def _tlvs(b: bytes, p: int, e: int, rows: Mapping[int, Any]) -> dict[int, Any]:
    try:
        return decode_tlvs(b, p, e, rows)
    except TlvDecodeError as exc:
        raise SmppError(exc.status, str(exc)) from None


def _read_cstr(b: bytes, p: int, e: int, f: Field) -> tuple[str, int]:
    z = b.find(b"\0", p, e)
    if z < 0 or z - p >= f.size:
        raise _cstr_error(b, p, e, z, f.size, f.status, f.name)
    return b[p:z].decode("latin-1"), z + 1


def _read_dests(b: bytes, p: int, e: int) -> tuple[list[SmeAddress | DistributionList], int]:
    if p >= e:
        raise _short("number_of_dests")
    count = b[p]
    p += 1
    if count == 0 or count > 254:
        raise SmppError(S.ESME_RINVNUMDESTS, f"number_of_dests is {count}, expected 1..254")
    dests: list[SmeAddress | DistributionList] = []
    for _ in range(count):
        if p >= e:
            raise _short("dest_flag")
        flag = b[p]
        p += 1
        if flag == 1:
            if p + 2 > e:
                raise _short("dest_addr_ton")
            ton, npi = b[p], b[p + 1]
            addr, p = _read_cstr(b, p + 2, e, _SME_DEST_ADDR)
            dests.append(SmeAddress(dest_addr_ton=ton, dest_addr_npi=npi, destination_addr=addr))
        elif flag == 2:
            name, p = _read_cstr(b, p, e, _DL_NAME)
            dests.append(DistributionList(dl_name=name))
        else:
            raise SmppError(S.ESME_RINVDESTFLAG, f"dest_flag is {flag}, expected 1 or 2")
    return dests, p


def _read_unsuccess(b: bytes, p: int, e: int) -> tuple[list[UnsuccessSme], int]:
    if p >= e:
        raise _short("no_unsuccess")
    count = b[p]
    p += 1
    smes: list[UnsuccessSme] = []
    for _ in range(count):
        if p + 2 > e:
            raise _short("unsuccess_sme")
        ton, npi = b[p], b[p + 1]
        addr, p = _read_cstr(b, p + 2, e, _DEST_ADDR)
        if p + 4 > e:
            raise _short("error_status_code")
        (code,) = _U32.unpack_from(b, p)
        p += 4
        smes.append(
            UnsuccessSme(dest_addr_ton=ton, dest_addr_npi=npi, destination_addr=addr, error_status_code=code)
        )
    return smes, p


def _too_long(pdu: Pdu, name: str, detail: str) -> ValueError:
    return ValueError(f"{type(pdu).__name__}.{name}: {detail}")


def _cstr_bytes(pdu: Pdu, name: str, value: str, size: int) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"{type(pdu).__name__}.{name} must be a str, not {type(value).__name__}")
    raw = value.encode("latin-1")
    if len(raw) >= size:
        raise _too_long(pdu, name, f"{len(raw)} characters, at most {size - 1} allowed")
    if b"\0" in raw:
        raise _too_long(pdu, name, "contains a NUL character")
    return raw


def _write_dests(pdu: Any) -> bytes:
    dests = pdu.dest_addresses
    if not 1 <= len(dests) <= 254:
        raise _too_long(pdu, "dest_addresses", f"{len(dests)} destinations, expected 1..254")
    parts = [bytes((len(dests),))]
    for dest in dests:
        if isinstance(dest, SmeAddress):
            addr = _cstr_bytes(pdu, "destination_addr", dest.destination_addr, 21)
            parts.append(bytes((1, dest.dest_addr_ton, dest.dest_addr_npi)) + addr + b"\0")
        elif isinstance(dest, DistributionList):
            parts.append(b"\x02" + _cstr_bytes(pdu, "dl_name", dest.dl_name, 21) + b"\0")
        else:
            raise TypeError(f"dest_addresses holds a {type(dest).__name__}, not SmeAddress/DistributionList")
    return b"".join(parts)


def _write_unsuccess(pdu: Any) -> bytes:
    smes = pdu.unsuccess_smes
    if len(smes) > 255:
        raise _too_long(pdu, "unsuccess_smes", f"{len(smes)} entries, at most 255")
    parts = [bytes((len(smes),))]
    for sme in smes:
        addr = _cstr_bytes(pdu, "destination_addr", sme.destination_addr, 21)
        parts.append(bytes((sme.dest_addr_ton, sme.dest_addr_npi)) + addr + b"\0")
        parts.append(_U32.pack(sme.error_status_code))
    return b"".join(parts)


# -- code generation -----------------------------------------------------------------------------------


def _simple_runs(layout: tuple[Field, ...]) -> list[list[Field]]:
    """Split a layout into runs: consecutive fixed-rule fields (u8, cstr, time), or one special field."""
    runs: list[list[Field]] = []
    for f in layout:
        simple = f.kind in (U8, CSTR, TIME)
        if simple and runs and runs[-1][0].kind in (U8, CSTR, TIME):
            runs[-1].append(f)
        else:
            runs.append([f])
    return runs


def _run_pattern(run: list[Field]) -> str:
    """A regular expression matching exactly the valid encodings of a run, on Latin-1 text."""
    parts = []
    for f in run:
        if f.kind == U8:
            parts.append("(.)")
        elif f.kind == CSTR:
            parts.append(f"([^\\x00]{{0,{f.size - 1}}})\\x00")
        else:
            parts.append("((?:[^\\x00]{16})?)\\x00")
    return "".join(parts)


def _decoder_source(cls: type[Pdu], layout: tuple[Field, ...], fast: bool) -> tuple[str, dict[str, Any]]:
    """Python source of a decoder ``(b, p, e, seq, st) -> Pdu`` for one layout, and its regexes.

    The plain decoder (``fast=False``) reads field by field and raises the precise SmppError.  The fast
    one matches each run of two or more strings (with the integers around them) with one compiled regular
    expression on the Latin-1 text; when a run does not match, the PDU is invalid somewhere and the plain
    decoder is called to say where.
    """
    name = f"_{'dec' if fast else 'slow'}_{cls.__name__}"
    lines = [f"def {name}(b, p, e, seq, st):"]
    emit = lines.append
    patterns: dict[str, Any] = {}
    as_char: set[str] = set()
    if cls.command_id & RESPONSE_BIT and layout:
        emit("    if p == e:")
        emit("        return _empty(seq, st)")
    runs = _simple_runs(layout)
    if fast and any(sum(f.kind != U8 for f in run) >= 2 for run in runs):
        emit("    p0 = p")
    for run in runs:
        f = run[0]
        if fast and sum(g.kind != U8 for g in run) >= 2:
            key = f"_m{len(patterns)}"
            patterns[key] = re.compile(_run_pattern(run), re.DOTALL).match
            width = sum(1 if g.kind == U8 else g.size for g in run)
            emit(f"    mm = {key}(b[p:p + {width}].decode('latin-1'), 0, e - p)")
            emit("    if mm is None:")
            emit("        return _slow(b, p0, e, seq, st)")
            targets = ", ".join(f"f_{g.name}" for g in run)
            emit(f"    {targets}, = mm.groups()")
            emit("    p += mm.end()")
            as_char.update(g.name for g in run if g.kind == U8)
            continue
        i = 0
        while i < len(run):
            f = run[i]
            if f.kind == U8:
                group = [f]
                while i + len(group) < len(run) and run[i + len(group)].kind == U8:
                    group.append(run[i + len(group)])
                k = len(group)
                emit(f"    if p + {k} > e:")
                emit(f"        raise _short({f.name!r})")
                for j, g in enumerate(group):
                    emit(f"    f_{g.name} = b[p + {j}]" if j else f"    f_{g.name} = b[p]")
                emit(f"    p += {k}")
                i += k
                continue
            if f.kind == CSTR:
                emit("    z = b.find(b'\\0', p, e)")
                emit(f"    if z < 0 or z - p >= {f.size}:")
                emit(f"        raise _cstr_error(b, p, e, z, {f.size}, {int(f.status)}, {f.name!r})")
                emit(f"    f_{f.name} = b[p:z].decode('latin-1') if z != p else ''")
                emit("    p = z + 1")
            elif f.kind == TIME:
                emit("    z = b.find(b'\\0', p, e)")
                emit("    if z != p and (z < 0 or z - p != 16):")
                emit(f"        raise _time_error(b, p, e, z, {int(f.status)}, {f.name!r})")
                emit(f"    f_{f.name} = b[p:z].decode('latin-1') if z != p else ''")
                emit("    p = z + 1")
            elif f.kind == SM:
                emit("    if p >= e:")
                emit("        raise _short('sm_length')")
                emit("    n = b[p]")
                emit("    p += 1")
                emit("    q = p + n")
                emit("    if n > 254 or q > e:")
                emit("        raise _SmppError(1, f'sm_length is {n}, the body holds {e - p} octets (at most 254)')")
                emit(f"    f_{f.name} = b[p:q]")
                emit("    p = q")
            elif f.kind == DESTS:
                emit(f"    f_{f.name}, p = _read_dests(b, p, e)")
            elif f.kind == UNSUCCESS:
                emit(f"    f_{f.name}, p = _read_unsuccess(b, p, e)")
            else:  # pragma: no cover - table error
                raise AssertionError(f.kind)
            i += 1
    emit("    o = _new(_cls)")
    emit("    o.sequence_number = seq")
    emit("    o.command_status = st")
    for f in layout:
        value = f"ord(f_{f.name})" if f.name in as_char else f"f_{f.name}"
        emit(f"    o.{f.name} = {value}")
    if not layout:
        # A PDU without a body (enquire_link, unbind, their responses, generic_nack: SMPP 3.4 sections 4.11-4.13)
        # defines no TLV: what follows its header is kept when it reads as TLVs (a vendor's), else it makes the
        # command_length too long (ESME_RINVCMDLEN), not a broken TLV area (tester 153: ESME_RINVOPTPARSTREAM
        # for an enquire_link with 4 octets more).
        emit("    if p < e:")
        emit("        try:")
        emit("            o.tlvs = _tlvs(b, p, e, _rows)")
        emit("        except _SmppError:")
        emit("            raise _SmppError(2, f'{e - p} octets after the header of a PDU that has no body, "
             "and they are no TLV') from None")
        emit("    else:")
        emit("        o.tlvs = {}")
    else:
        emit("    o.tlvs = _tlvs(b, p, e, _rows) if p < e else {}")
    emit("    return o")
    return "\n".join(lines) + "\n", patterns


def _encoder_source(cls: type[Pdu], layout: tuple[Field, ...]) -> str:
    """Python source of ``_enc_<Class>(o) -> bytes`` for one layout.

    Each run of strings and integers is written with one ``%``-format on text (``%s\\0`` per C-Octet
    String, ``%c`` per integer) and one Latin-1 encode: an integer above 255 then fails the encode, a
    negative one the format.  The strings are checked first, all in one condition; ``"\\0" in value``
    doubles as the type check (it raises TypeError for bytes and int).
    """
    cid = int(cls.command_id)
    lines = [f"def _enc_{cls.__name__}(o):"]
    emit = lines.append
    if cls in BODY_OMITTED_ON_ERROR:
        extra = " and not o.unsuccess_smes" if any(f.kind == UNSUCCESS for f in layout) else ""
        emit(f"    if o.command_status and not o.tlvs{extra}:")
        emit(f"        return _pack_hdr(16, {cid}, o.command_status, o.sequence_number)")
    strings = [f for f in layout if f.kind in (CSTR, TIME)]
    guards = []
    for f in strings:
        emit(f"    s_{f.name} = o.{f.name}")
        v = f"s_{f.name}"
        if f.kind == CSTR:
            guards.append(f"len({v}) >= {f.size} or '\\0' in {v}")
        else:
            guards.append(f"({v} and len({v}) != 16) or '\\0' in {v}")
    if guards:
        emit(f"    if {' or '.join(guards)}:")
        emit("        _check_strings(o)")
    has_sm = any(f.kind == SM for f in layout)
    if has_sm:
        emit("    sm = o.short_message")
        emit("    if len(sm) > 254:")
        emit("        raise _too_long(o, 'short_message', f'{len(sm)} octets, at most 254')")
    parts: list[str] = []
    for run in _simple_runs(layout):
        f = run[0]
        if f.kind in (U8, CSTR, TIME):
            if len(run) == 1 and f.kind == CSTR:
                parts.append(f"s_{f.name}.encode('latin-1') + b'\\0'")
                continue
            fmt = "".join("%c" if g.kind == U8 else "%s\0" for g in run)
            args = [f"o.{g.name}" if g.kind == U8 else f"s_{g.name}" for g in run]
            parts.append((fmt, args))  # type: ignore[arg-type]
        elif f.kind == SM:
            parts.append(("%c", ["len(sm)"]))  # type: ignore[arg-type]
            parts.append("sm")
        elif f.kind == DESTS:
            parts.append("_write_dests(o)")
        elif f.kind == UNSUCCESS:
            parts.append("_write_unsuccess(o)")
        else:  # pragma: no cover - table error
            raise AssertionError(f.kind)
    # Merge adjacent format parts (an integer run followed by sm_length) into one format.
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, tuple) and merged and isinstance(merged[-1], tuple):
            merged[-1] = (merged[-1][0] + part[0], merged[-1][1] + part[1])
        else:
            merged.append(part)
    exprs = [
        f"({part[0]!r} % ({', '.join(part[1])},)).encode('latin-1')" if isinstance(part, tuple) else part
        for part in merged
    ]
    if not exprs:
        emit("    t = o.tlvs")
        emit("    if not t:")
        emit(f"        return _pack_hdr(16, {cid}, o.command_status, o.sequence_number)")
        emit("    body = _encode_tlvs(t)")
    else:
        if len(exprs) <= 3:
            emit(f"    body = {' + '.join(exprs)}")
        else:
            emit(f"    body = b''.join(({', '.join(exprs)}))")
        emit("    t = o.tlvs")
        emit("    if t:")
        emit("        body += _encode_tlvs(t)")
    emit(f"    return _pack_hdr(16 + len(body), {cid}, o.command_status, o.sequence_number) + body")
    return "\n".join(lines) + "\n"


def _string_checker(layout: tuple[Field, ...]) -> Callable[[Any], None]:
    """The slow path of an encoder's string guard: raise the precise TypeError/ValueError."""
    fields = [f for f in layout if f.kind in (CSTR, TIME)]

    def check(pdu: Any) -> None:
        for f in fields:
            value = getattr(pdu, f.name)
            if f.kind == CSTR:
                _cstr_bytes(pdu, f.name, value, f.size)
            else:
                raw = _cstr_bytes(pdu, f.name, value, 17)
                if raw and len(raw) != 16:
                    raise _too_long(pdu, f.name, f"{len(raw)} characters; an SMPP time has 0 or 16")

    return check


_SOURCES: dict[type[Pdu], str] = {}
#: The field-by-field decoders, by command_id (the fast ones fall back on them; tests compare the two).
_SLOW_DECODERS: dict[int, Callable[..., Pdu]] = {}


def _compile(cls: type[Pdu], layout: tuple[Field, ...]) -> tuple[Callable[..., Pdu], Callable[[Any], bytes]]:
    def empty(seq: int, st: int) -> Pdu:
        return cls(sequence_number=seq, command_status=st)

    namespace: dict[str, Any] = {
        "_cls": cls,
        "_new": _new,
        "_empty": empty,
        "_short": _short,
        "_cstr_error": _cstr_error,
        "_time_error": _time_error,
        "_tlvs": _tlvs,
        "_rows": decode_rows(cls.command_id),  # the TLVs this PDU defines (the others are ignored)
        "_read_dests": _read_dests,
        "_read_unsuccess": _read_unsuccess,
        "_SmppError": SmppError,
        "_too_long": _too_long,
        "_cstr_bytes": _cstr_bytes,
        "_check_strings": _string_checker(layout),
        "_write_dests": _write_dests,
        "_write_unsuccess": _write_unsuccess,
        "_encode_tlvs": encode_tlvs,
        "_pack_hdr": _HDR.pack,
    }
    slow_src, _ = _decoder_source(cls, layout, fast=False)
    fast_src, patterns = _decoder_source(cls, layout, fast=True)
    enc_src = _encoder_source(cls, layout)
    namespace.update(patterns)
    _SOURCES[cls] = "\n".join((fast_src, slow_src, enc_src))
    exec(compile(_SOURCES[cls], f"<smsc.smpp.codec {cls.__name__}>", "exec"), namespace)
    namespace["_slow"] = namespace[f"_slow_{cls.__name__}"]
    _SLOW_DECODERS[int(cls.command_id)] = namespace["_slow"]
    return namespace[f"_dec_{cls.__name__}"], namespace[f"_enc_{cls.__name__}"]


def _check_layouts() -> None:
    base = {"sequence_number", "command_status", "tlvs"}
    for cls in PDU_CLASSES.values():
        names = {f.name for f in dataclasses.fields(cls)} - base
        laid = {f.name for f in LAYOUTS[cls]}
        if names != laid:  # pragma: no cover - guards edits of pdu.py
            raise AssertionError(f"{cls.__name__}: layout {sorted(laid)} != fields {sorted(names)}")


_check_layouts()

_DECODERS: dict[int, Callable[..., Pdu]] = {}
_ENCODERS: dict[type[Pdu], Callable[[Any], bytes]] = {}
for _cls, _layout in LAYOUTS.items():
    _DECODERS[int(_cls.command_id)], _ENCODERS[_cls] = _compile(_cls, _layout)
del _cls, _layout


def generated_source(cls: type[Pdu]) -> str:
    """The Python source generated for ``cls``'s decoder and encoder (for reading and debugging)."""
    return _SOURCES[cls]


# -- public API ----------------------------------------------------------------------------------------


def encode(pdu: Pdu) -> bytes:
    """The wire octets of ``pdu``: header (command_length computed) then body and TLVs (SMPP 3.4 ch. 3, 4).

    sm_length, number_of_dests and no_unsuccess are derived from the lists and ``short_message``.  The body
    of bind_*_resp, submit_sm_resp, submit_multi_resp and data_sm_resp is left out when command_status is
    not 0 and the PDU has no TLVs (see :data:`BODY_OMITTED_ON_ERROR`).

    Raises:
        ValueError: a field does not fit (a string too long for its field or holding a NUL, a time not of
            0 or 16 characters, short_message above 254 octets, an integer out of range): a programming
            error of whoever built the PDU.
        TypeError: ``pdu`` is not a PDU, or a field has the wrong type.
    """
    enc = _ENCODERS.get(type(pdu))
    if enc is None:
        enc = _encoder_by_command_id(pdu)
    try:
        return enc(pdu)
    except struct.error as exc:
        raise ValueError(f"{type(pdu).__name__}: header or integer field out of range: {exc}") from None
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{type(pdu).__name__}: a string holds a non-Latin-1 character or an integer field is above 255"
        ) from exc
    except OverflowError as exc:
        raise ValueError(f"{type(pdu).__name__}: an integer field is negative or too large") from exc


def _encoder_by_command_id(pdu: Any) -> Callable[[Any], bytes]:
    cls = PDU_CLASSES.get(getattr(pdu, "command_id", -1))
    if cls is None or not isinstance(pdu, cls):
        raise TypeError(f"cannot encode {type(pdu).__name__}: not an SMPP PDU")
    return _ENCODERS[cls]


_BIND_IDS = frozenset((0x00000001, 0x00000002, 0x00000009))  # bind_receiver, bind_transmitter, bind_transceiver


def _system_id_given(head: bytes) -> str:
    """The system_id a bind body starting with ``head`` asks for, as far as it can be read: up to its NUL or 16
    octets (one more than its field holds: SMPP 3.4 section 4.1.1), control characters escaped, "..." after
    when no NUL came within them (tester 98: a bind refused for a 16-character system_id logged it empty)."""
    nul = head.find(0)
    text = (head[:nul] if nul >= 0 else head[:16]).decode("latin-1")
    shown = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)
    return shown if nul >= 0 else shown + "..."


def _decode_at(b: bytes, pos: int, end: int) -> Pdu | SmppError:
    """Decode the PDU in ``b[pos:end]`` (command_length already checked); return an error, never raise."""
    cid, st, seq = _HDR_TAIL.unpack_from(b, pos + 4)
    dec = _DECODERS.get(cid)
    if dec is None:
        return SmppError(
            S.ESME_RINVCMDID, f"unknown command_id 0x{cid:08X}", command_id=cid, sequence_number=seq,
            command_status=st,
        )
    try:
        return dec(b, pos + 16, end, seq, st)
    except SmppError as err:
        err.command_id = cid
        err.sequence_number = seq
        err.command_status = st
        if cid in _BIND_IDS:
            err.system_id = _system_id_given(b[pos + 16 : min(end, pos + 16 + 17)])
        # Returned, not raised: its traceback (and the exception it was raised while handling: Framer.feed's
        # first try) would keep the frames of the decode alive, and with them (the caller's list of results
        # holds it) a reference cycle that only the cycle collector frees.
        err.__traceback__ = None
        err.__context__ = None
        return err
    except Exception as exc:  # a decoder bug must not escape to the connection (tests assert none)
        return SmppError(
            S.ESME_RSYSERR, f"internal decoder error: {exc!r}", command_id=cid, sequence_number=seq,
            command_status=st,
        )


def _fatal_length(header: bytes, length: int, maximum: int | None) -> SmppError:
    command_id = _U32.unpack_from(header, 4)[0] if len(header) >= 8 else None
    seq = _U32.unpack_from(header, 12)[0] if len(header) >= 16 else 0
    limit = f"16..{maximum}" if maximum is not None else "16 or more"
    return SmppError(
        S.ESME_RINVCMDLEN,
        f"command_length is {length}, expected {limit}",
        command_id=command_id,
        sequence_number=seq,
        fatal=True,
    )


def decode(data: bytes | bytearray | memoryview) -> Pdu:
    """Decode exactly one whole PDU, header included (SMPP 3.4 chapters 3 and 4).

    Raises:
        SmppError: and nothing else, whatever ``data`` holds.  Fatal (ESME_RINVCMDLEN) when the octets
            are fewer than 16 or command_length differs from their number; otherwise as listed in the
            module docstring, with command_id and sequence_number of the header.
    """
    b = data if type(data) is bytes else bytes(data)
    n = len(b)
    if n < HEADER_SIZE:
        length = _U32.unpack_from(b, 0)[0] if n >= 4 else n
        raise _fatal_length(b, length, None)
    length = _U32.unpack_from(b, 0)[0]
    if length != n:
        if length < HEADER_SIZE:
            raise _fatal_length(b, length, None)
        raise SmppError(
            S.ESME_RINVCMDLEN,
            f"command_length is {length} but {n} octets were given",
            command_id=_U32.unpack_from(b, 4)[0],
            sequence_number=_U32.unpack_from(b, 12)[0],
            fatal=True,
        )
    result = _decode_at(b, 0, n)
    if type(result) is SmppError:
        raise result
    return result  # type: ignore[return-value]


class Framer:
    """Cuts an SMPP byte stream into PDUs, incrementally (SMPP 3.4 section 3.1: command_length frames).

    ``feed`` accepts chunks of any size, from one octet to thousands of PDUs.  Only the unfinished tail is
    kept, so at most ``max_command_length - 1`` octets are ever held.  Only a PDU that straddles two chunks
    is copied; the others are decoded in place.
    """

    __slots__ = ("_partial", "_max", "_stopped")

    def __init__(self, max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH) -> None:
        """``max_command_length``: the largest PDU accepted, in octets (at least 16)."""
        if max_command_length < HEADER_SIZE:
            raise ValueError(f"max_command_length must be at least 16, got {max_command_length}")
        self._partial = bytearray()
        self._max = max_command_length
        self._stopped = False

    @property
    def buffered(self) -> int:
        """Octets held that do not yet make a whole PDU."""
        return len(self._partial)

    @property
    def stopped(self) -> bool:
        """True once a fatal error was returned; every later ``feed`` returns ``[]``."""
        return self._stopped

    def feed(self, data: bytes | bytearray | memoryview) -> list[Pdu | SmppError]:
        """Add ``data`` and return every PDU completed by it, in stream order.

        A PDU that fails to decode is returned as an :class:`SmppError` value in its place, and the stream
        goes on.  A command_length below 16 or above ``max_command_length`` gives a fatal SmppError
        (ESME_RINVCMDLEN) as the last item, as soon as the 4 octets of command_length are in, without
        waiting for the body; the framer then stops.  Never raises.
        """
        if self._stopped:
            return []
        if type(data) is not bytes:
            data = bytes(data)
        out: list[Pdu | SmppError] = []
        n = len(data)
        start = 0
        part = self._partial
        maximum = self._max
        if part:
            have = len(part)
            if have < 4:
                start = min(4 - have, n)
                part += data[:start]
                if len(part) < 4:
                    return out
            length = _U32.unpack_from(part, 0)[0]
            if length < HEADER_SIZE or length > maximum:
                out.append(self._stop(bytes(part[:16]) + data[start : start + 12], length))
                return out
            need = length - len(part)
            if n - start < need:
                part += data[start:] if start else data
                return out
            part += data[start : start + need]
            start += need
            out.append(_decode_at(bytes(part), 0, length))
            part.clear()
        pos = start
        unpack = _U32.unpack_from
        header_tail = _HDR_TAIL.unpack_from
        decoders = _DECODERS
        append = out.append
        while n - pos >= 4:
            length = unpack(data, pos)[0]
            if length < HEADER_SIZE or length > maximum:
                append(self._stop(data[pos : pos + 16], length))
                return out
            end = pos + length
            if end > n:
                break
            # _decode_at(data, pos, end), written out for the common case; any error takes _decode_at, which
            # decodes again and reports it.
            cid, st, seq = header_tail(data, pos + 4)
            dec = decoders.get(cid)
            if dec is None:
                append(_decode_at(data, pos, end))
            else:
                try:
                    append(dec(data, pos + 16, end, seq, st))
                except Exception:
                    append(_decode_at(data, pos, end))
            pos = end
        if pos < n:
            part += memoryview(data)[pos:]
        return out

    def _stop(self, header: bytes, length: int) -> SmppError:
        self._stopped = True
        self._partial = bytearray()
        return _fatal_length(header, length, self._max)


def error_response(err: SmppError) -> Pdu:
    """The PDU that answers a decode error (SMPP 3.4 sections 3.3, 4.3; smpp34-facts.md section 9).

    The request's own _resp class with the request's sequence_number and ``err.status`` when
    ``err.command_id`` is a known request that has a response and the error is not fatal; a generic_nack
    otherwise (unknown command_id, fatal command_length errors, outbind, alert_notification, an
    undecodable response).
    """
    cid = err.command_id
    if not err.fatal and cid is not None and not cid & RESPONSE_BIT and cid in PDU_CLASSES:
        resp = PDU_CLASSES.get(cid | RESPONSE_BIT)
        if resp is not None:
            return resp(sequence_number=err.sequence_number, command_status=err.status)
    return GenericNack(sequence_number=err.sequence_number, command_status=err.status)

