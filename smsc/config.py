"""The YAML configuration of one SMSC: server, accounts, store, simulation and the simulated world.

:func:`load_config` turns a YAML file into frozen dataclasses, checking every value on the way.  It collects
*all* problems before it gives up and raises :class:`ConfigError`, whose ``errors`` read like::

    config/x.yaml: topology.carriers[2].latency.mean: expected a duration >= 0 (...), got 'fast'
    config/x.yaml: server.prot: expected a known key (did you mean 'port'?), got 'prot'
    config/x.yaml: line 12, column 5: mapping values are not allowed here

``smsc check-config FILE`` prints :func:`check_config`'s list; ``smsc serve`` refuses an invalid file with
the same messages.  config/example.yaml documents every key; the bundled default (``smsc/data/default.yaml``,
also at config/default.yaml) is what runs when no file is named.

Value conventions (see config/example.yaml):

* durations are seconds: a number, or text with a unit: ``"250ms"``, ``"30s"``, ``"5m"``, ``"2h"``, ``"3d"``;
* numbers (prefixes, short codes, MSISDNs) are text; ``+`` is allowed in front of a prefix and dropped;
* YAML 1.2 scalars: only ``true``/``false`` are booleans (``NO``, ``on``, ``yes`` stay text) and a leading
  zero never means octal.
"""

from __future__ import annotations

import datetime
import difflib
import ipaddress
import math
import os
import re
import ssl
import stat
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from statistics import NormalDist
from typing import Any, Callable, Iterable

import yaml

from smsc.core.numbers import E164_MIN_DIGITS, SHORT_CODE_MAX_DIGITS
from smsc.smpp.codec import DEFAULT_MAX_COMMAND_LENGTH
from smsc.smpp.constants import CommandStatus
from smsc.smpp.timefmt import YEAR_PIVOT

__all__ = [
    "ConfigError", "load_config", "check_config", "Config", "ServerConfig", "MessageIdFormat", "TlsConfig",
    "OutbindTarget",
    "Account", "StoreConfig", "SimulationConfig", "HttpConfig", "Topology", "CarrierConfig", "Distribution",
    "OutcomeSpec", "ReceiptStyle", "HandsetConfig", "AutoReply", "SubmitRule", "NumberRule", "OptOutConfig",
    "Route", "MoRoute", "CAUSES", "OUTCOME_KINDS", "BIND_TYPES", "DEFAULT_CARRIER", "DEFAULT_RETRY_SCHEDULE",
    "MAX_TIME_SCALE", "V33_MAX_MESSAGE_ID",
]

#: The three bind kinds an account may be allowed (SMPP 3.4 section 4.1).
BIND_TYPES = frozenset({"transmitter", "receiver", "transceiver"})
#: The bind kinds that take deliver_sm (receipts and MO).
_RECEIVING_BINDS = frozenset({"receiver", "transceiver"})

#: What one delivery attempt can come to (see :class:`smsc.core.carrier.AttemptOutcome`).
OUTCOME_KINDS = ("delivered", "absent", "temporary", "undeliverable", "rejected", "accepted")

#: Named network causes: name -> (outcome kind, receipt ``err:`` value, GSM MAP error for the
#: network_error_code TLV or None).  MAP numbers from 3GPP TS 29.002 (carrier-behaviour.md section 1.2);
#: ``opted_out`` and ``content_blocked`` mirror Infobip's 603 / 607 (section 2.1).
CAUSES: dict[str, tuple[str, int, int | None]] = {
    "delivered": ("delivered", 0, None),
    "absent_subscriber": ("absent", 6, 6),  # absentSubscriberSM: handset off / out of coverage
    "memory_full": ("absent", 32, 32),  # sm-DeliveryFailure, memoryCapacityExceeded: waits for an alert
    "busy": ("temporary", 31, 31),  # subscriberBusyForMT-SMS
    "message_waiting_list_full": ("temporary", 33, 33),
    "system_failure": ("temporary", 34, 34),
    "unknown_subscriber": ("undeliverable", 1, 1),
    "unidentified_subscriber": ("undeliverable", 5, 5),
    "illegal_subscriber": ("undeliverable", 9, 9),
    "teleservice_not_provisioned": ("undeliverable", 11, 11),
    "illegal_equipment": ("undeliverable", 12, 12),
    "call_barred": ("undeliverable", 13, 13),  # the HLR reports the subscriber's barring
    "facility_not_supported": ("undeliverable", 21, 21),
    "equipment_protocol_error": ("undeliverable", 32, 32),
    "data_missing": ("undeliverable", 35, 35),
    "unexpected_data_value": ("undeliverable", 36, 36),
    "barred": ("rejected", 13, 13),  # the operator refuses the line (suspended, DND list): REJECTD
    "opted_out": ("rejected", 603, None),
    # ACCEPTED (SMPP 3.4 section 5.2.28: "manually read on behalf of the subscriber by customer service"): final,
    # never delivered to the handset; receipt stat ACCEPTD.
    "read_by_customer_service": ("accepted", 0, None),
    "content_blocked": ("rejected", 607, None),  # spam / content filter
}

#: GSM network type, first octet of network_error_code (SMPP 3.4 section 5.3.2.31).
_GSM = 3

#: Retries after temporary failures, seconds between attempts (RestComm/Infobip-like backoff; the last
#: interval repeats until the validity period ends).
#: The longest message_id an SMSC may give an ESME bound with SMPP 3.3 or older (SMPP 3.4 section 3.4).
V33_MAX_MESSAGE_ID = 8

#: The fastest ``simulation.time_scale``: one simulated day per real second.  Already at this scale a
#: message's validity of days passes in seconds, and from 2026 the clock is past 2037 (the last year SMPP's
#: two-digit year names; later dates are written as 2037-12-31 23:59) after about 70 minutes; faster, nothing
#: an ESME could observe is simulated any more.  (tester9 ran 100,000,000: 2038 after about 4 s.)
MAX_TIME_SCALE = 86400.0
#: The slowest ``simulation.time_scale``: one simulated second per 1,000 real seconds.  Timeouts given in real
#: seconds (``transaction_timeout``, the outbox's backoff) are turned into simulated time; much slower, they
#: fall below what the simulation clock resolves and fire at once (tester10 ran 1e-9).
MIN_TIME_SCALE = 0.001
DEFAULT_RETRY_SCHEDULE: tuple[float, ...] = (
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0
)

_OPT_OUT_WORDS = ("STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "OPT-OUT")
_OPT_IN_WORDS = ("START", "UNSTOP", "YES")
_HELP_WORDS = ("HELP", "INFO")


class ConfigError(Exception):
    """The configuration is invalid; ``errors`` lists every problem found, one line each.

    Each error reads ``"<file>: <key.path>: expected <what>, got <value>"``, or for YAML syntax errors
    ``"<file>: line L, column C: <problem>"``.
    """

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# --------------------------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True, slots=True)
class MessageIdFormat:
    """How message_ids look: ``format`` "hex" or "decimal", ``length`` characters (zero-padded), case.

    The default, 8 hex digits, is the longest id an ESME bound with SMPP 3.3 may be given ("must not generate
    message IDs greater than 8 octets", SMPP 3.4 section 3.4), so the default config suits 3.3 and 3.4 binds
    alike, and it leaves 2**32 ids before the counter wraps (:mod:`smsc.core.ids`).  SMPP 3.4 allows 64.
    """

    format: str = "hex"
    length: int = 8
    uppercase: bool = False


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """An SMPP-over-TLS listener: ``port`` and PEM files (paths resolved against the config file)."""

    port: int
    certfile: str
    keyfile: str


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The SMPP listener and session defaults.  Timers in seconds, 0 = off (SMPP 3.4 section 7.2).

    ``inactivity_timer``: a bound ESME with no transaction other than enquire_link (either way) for that long
    is sent unbind, as carriers drop links that carry only keep-alives.

    ``window`` is the number of unacknowledged deliver_sm per session; ``max_command_length`` in octets.
    """

    #: This machine only unless the config says otherwise, as the HTTP API: accounts such as test/test must not be
    #: open on every interface because a key was left out (tester 97).  ``--host 0.0.0.0`` (the Docker image).
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = "smsc"
    max_command_length: int = DEFAULT_MAX_COMMAND_LENGTH
    max_connections: int = 10000
    max_connections_per_ip: int = 0
    #: Failed binds (unknown system_id, wrong password) from one IP address in a minute, beyond which every bind from
    #: it is refused until that minute has passed; 0 = no limit.
    max_bind_failures: int = 100
    session_init_timer: float = 30.0
    enquire_link_timer: float = 60.0
    inactivity_timer: float = 0.0
    response_timer: float = 30.0
    window: int = 10
    message_id: MessageIdFormat = MessageIdFormat()
    tls: TlsConfig | None = None
    #: A submit_sm, submit_multi or replace_sm whose short_message does not fit one SMS (160 GSM septets, 140
    #: octets in other codings, UDH included; :func:`smsc.smpp.text.fits_one_sms`): "reject" answers
    #: ESME_RINVMSGLEN, as a network that does not segment does; "accept" takes it (SMPP 3.4 allows 254 octets)
    #: as one message.  message_payload (up to 65,535 octets) is always accepted: the SMSC segments it.
    oversized_short_message: str = "reject"
    #: The rollover of SMPP's two-digit years (SMPP 3.4 Appendix C: "SMPP developers should make the rollover
    #: date configurable"; its recommended default "xx38"): years below it are 20YY, the others 19YY, in
    #: schedule_delivery_time and validity_period, query_sm's final_date and receipt dates (0-99).
    year_pivot: int = YEAR_PIVOT


@dataclass(frozen=True, slots=True)
class OutbindTarget:
    """Where the SMSC opens a connection to send outbind (SMPP 3.4 section 4.1.7) when deliveries wait for
    an account with no receiver bound; ``retry_interval`` seconds between attempts.  The outbind PDU identifies
    the SMSC (section 4.1.7.1): ``system_id`` None = ``server.system_id``, and ``password`` the one the ESME may
    check it by ("" = none); never the account's own password."""

    host: str
    port: int
    retry_interval: float = 30.0
    system_id: str | None = None
    password: str = ""


@dataclass(frozen=True, slots=True)
class Account:
    """An ESME login (SMPP 3.4 section 4.1): who may bind, how, from where and how fast.

    ``allowed_ips`` are CIDR strings (empty = any address); ``throughput`` is submit_sm per second (token
    bucket, None = unlimited); ``source_addresses`` are regular expressions a source_addr must match in full
    (empty = any); ``submit_window`` is how many submit requests one bind may have awaiting their response at a
    time (None = no limit).
    """

    system_id: str
    password: str
    bind_types: frozenset[str] = BIND_TYPES
    max_binds: int = 10
    allowed_ips: tuple[str, ...] = ()
    throughput: float | None = None
    source_addresses: tuple[str, ...] = ()
    #: submit_sm, data_sm and submit_multi of one bind awaiting their response at a time; one more is answered
    #: ESME_RTHROTTLED at once (a carrier's cap on an ESME's window).  None = no limit.
    submit_window: int | None = None
    #: Outbind target; None = never outbind (the ESME must bind by itself).
    outbind: OutbindTarget | None = None

    @property
    def receives(self) -> bool:
        """True when a bind of this account can take deliver_sm: its bind_types allow receiver or transceiver."""
        return bool(self.bind_types & _RECEIVING_BINDS)


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where accepted messages live: ``kind`` "sqlite" (``path``, relative to the current directory) or
    "memory"; ``synchronous`` "NORMAL" (survives kill -9) or "FULL" (survives power loss)."""

    kind: str = "sqlite"
    path: str = "smsc.sqlite"
    synchronous: str = "NORMAL"
    max_waiting_messages: int = 1_000_000
    #: Simulation seconds a final message stays (query_sm, the control API; the SQLite file grows with it),
    #: then it is removed.  The memory store keeps the newest 100,000 final messages at the most anyway.
    final_retention: float = 86_400.0


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Simulated time and chance.  Durations in seconds.

    ``time_scale`` > 1 runs the world faster than real time (at most :data:`MAX_TIME_SCALE`, at least
    :data:`MIN_TIME_SCALE`); ``seed`` fixes every random draw (None = a new
    world each start).  ``retry_schedule`` lists the waits between attempts after temporary failures; its last
    entry repeats until the message expires.  ``transaction_timeout`` is in real seconds (see the field).
    """

    time_scale: float = 1.0
    seed: int | None = None
    #: Where the simulated clock starts, seconds since the epoch (None: the wall time at start).  With a seed it
    #: makes handset spells, which follow simulated time, the same in every run started from it (tester 66).
    start_time: float | None = None
    default_validity: float = 172800.0
    max_validity: float = 604800.0
    max_schedule: float = 1209600.0
    retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE
    #: Real seconds a data_sm in transaction mode (SMPP 3.4 section 2.10.3) may wait for its one attempt's
    #: outcome; a longer attempt is abandoned and answered ESME_RDELIVERYFAILURE (temporary network error), so
    #: the answer beats an ESME's response timer (commonly 30 s or more).
    transaction_timeout: float = 25.0


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """The HTTP control API, /metrics and dashboard listener."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    #: Host names (a request's ``Host`` header) the API answers beside loopback names, IP addresses, the name it
    #: listens on and this machine's name: a DNS name a browser could be led to is refused unless listed.
    allowed_hosts: tuple[str, ...] = ()


_NORMAL = NormalDist()
_Z95 = _NORMAL.inv_cdf(0.95)
#: The largest lognormal shape a config may give: its draws stay finite (exp(sigma * z) for the most extreme
#: quantile, z about 8.3, and the mean's exp(sigma**2 / 2)), where sigma 38 overflowed (tester 156).  A p95 of
#: 14 million times the median: no network's spread.
LOGNORMAL_SIGMA_MAX = 10.0
_P95_RATIO_MAX = float(f"{math.exp(LOGNORMAL_SIGMA_MAX * _Z95):.2g}")


@dataclass(frozen=True, slots=True)
class Distribution:
    """A distribution of durations in seconds.

    ``kind`` and its parameters: "fixed" (``value``), "uniform" (``low`` .. ``high``), "exponential"
    (``mean``), "lognormal" (``median`` and shape ``sigma``; the YAML may give ``p95`` instead of ``sigma``).
    ``cap``, when set, clamps every draw to at most ``cap`` seconds.
    """

    kind: str = "fixed"
    value: float = 0.0
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    median: float = 0.0
    sigma: float = 0.0
    cap: float | None = None

    def quantile(self, u: float) -> float:
        """The duration at cumulative probability ``u`` (0 <= u < 1): the inverse CDF, capped."""
        kind = self.kind
        if kind == "fixed":
            x = self.value
        elif kind == "uniform":
            x = self.low + u * (self.high - self.low)
        elif kind == "exponential":
            x = -self.mean * math.log1p(-u) if u < 1.0 else math.inf
        else:
            if u <= 0.0:
                x = 0.0
            elif u >= 1.0:
                x = math.inf
            else:
                x = self.median * math.exp(self.sigma * _NORMAL.inv_cdf(u))
        cap = self.cap
        return x if cap is None or x <= cap else cap

    def sample(self, rng: Any) -> float:
        """One draw, in seconds, using ``rng.random()`` (a seeded ``random.Random`` in tests)."""
        return self.quantile(rng.random())

    def expected(self) -> float:
        """The mean in seconds, cap included (closed form without a cap, numeric integration with one)."""
        if self.cap is None:
            if self.kind == "fixed":
                return self.value
            if self.kind == "uniform":
                return (self.low + self.high) / 2
            if self.kind == "exponential":
                return self.mean
            return self.median * math.exp(self.sigma * self.sigma / 2)
        return _capped_mean(self)


@lru_cache(maxsize=256)
def _capped_mean(dist: Distribution) -> float:
    """Mean of a capped distribution by the midpoint rule over 4096 quantiles (relative error < 1e-3)."""
    n = 4096
    return sum(dist.quantile((i + 0.5) / n) for i in range(n)) / n


@dataclass(frozen=True, slots=True)
class OutcomeSpec:
    """One possible result of a delivery attempt: its ``kind`` (one of :data:`OUTCOME_KINDS`), the receipt
    ``err:`` value, the 3-octet network_error_code TLV value or None, the named ``cause`` it came from, and its
    ``weight`` in an outcome mix (relative, any positive scale)."""

    kind: str
    err: int = 0
    network_error_code: bytes | None = None
    cause: str = ""
    weight: float = 1.0


def outcome_for(cause: str, weight: float = 1.0) -> OutcomeSpec:
    """The :class:`OutcomeSpec` of a named cause from :data:`CAUSES`, with its default err and TLV."""
    kind, err, map_error = CAUSES[cause]
    nec = None if map_error is None else bytes((_GSM,)) + map_error.to_bytes(2, "big")
    return OutcomeSpec(kind=kind, err=err, network_error_code=nec, cause=cause, weight=weight)


@dataclass(frozen=True, slots=True)
class ReceiptStyle:
    """How one carrier's delivery receipts look (SMPP 3.4 Appendix B and the variants of the field).

    ``message_id_format`` None = the server's format; ``receipted_message_id`` whether that TLV is sent;
    ``text_label`` "text", "Text" or "" (no text field); ``err_digits`` the zero-padded width of ``err:``.
    ``lost`` and ``duplicated``: the chance (0 to 1, together at most 1) that a receipt is never sent, or sent
    twice (two deliver_sm with the same text and TLVs), as receipts are by real networks now and then; one draw
    per receipt decides both.  ``text_id``: how the text's ``id:`` writes the message_id: "same" as in
    submit_sm_resp, or its value as "decimal", "hex" or "hex_upper" without leading zeros, as some carriers write
    it (receipted_message_id stays as in submit_sm_resp).  ``duplicate_delay``: simulated seconds from a receipt to
    its duplicate, drawn per duplicate (None: at once).
    """

    message_id_format: MessageIdFormat | None = None
    receipted_message_id: bool = True
    text_label: str = "text"
    err_digits: int = 3
    lost: float = 0.0
    duplicated: float = 0.0
    text_id: str = "same"
    duplicate_delay: Distribution | None = None


@dataclass(frozen=True, slots=True)
class AutoReply:
    """A handset that answers MT messages with MO messages.

    A reply is chosen in this order: the answer of the first ``keywords`` word found in the MT text
    (whole words, case-insensitive), else ``text``, else the MT text itself when ``echo``.  ``delay`` is the
    time from delivery to the reply (seconds); ``probability`` the share of MT messages answered.
    """

    echo: bool = False
    text: str | None = None
    keywords: tuple[tuple[str, str], ...] = ()
    delay: Distribution = Distribution(kind="fixed", value=2.0)
    probability: float = 1.0


@dataclass(frozen=True, slots=True)
class SubmitRule:
    """Answer submit_sm with ``status`` (0 = accept) after ``delay`` seconds instead of at once."""

    status: int = 0
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class NumberRule:
    """Fixed behaviour for some numbers of one carrier (exact ``numbers`` or number ``prefixes``).

    A number that matches a rule is deterministic: no random handset state, no outcome mix.
    ``submit``: the answer to submit_sm.  ``outcome``: the result of every attempt.  ``offline``: seconds the
    handset stays off after an attempt finds it (``math.inf`` = always off, the message expires).  ``latency``:
    the attempt's duration.  ``auto_reply``: MO answers to each MT.  ``opted_out``: starts opted out.
    ``receipt``: what becomes of every receipt of a message to these numbers, in place of the receipt style's
    chances: "lost" (never sent), "duplicated" (sent twice) or "sent" (once); "" = the style's chances.
    """

    numbers: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    note: str = ""
    submit: SubmitRule | None = None
    outcome: OutcomeSpec | None = None
    offline: float | None = None
    latency: Distribution | None = None
    auto_reply: AutoReply | None = None
    opted_out: bool = False
    receipt: str = ""


#: The values of a number rule's ``receipt`` (:class:`NumberRule`).
RECEIPT_FATES = ("lost", "duplicated", "sent")


@dataclass(frozen=True, slots=True)
class HandsetConfig:
    """The handset population of one carrier.

    ``online_probability``: long-run share of time a handset is reachable.  ``offline_period``: how long
    one offline spell lasts (seconds).  ``online_after_mo``: seconds a handset that sent an MO stays
    reachable, even within an offline spell (0: an MO changes nothing).  Keywords (upper case, matched against a whole MO text) switch a
    number's opt-out state; ``auto_reply`` applies to every handset without a rule of its own.
    """

    online_probability: float = 1.0
    offline_period: Distribution = Distribution(kind="exponential", mean=1800.0)
    online_after_mo: float = 600.0
    opt_out_keywords: tuple[str, ...] = _OPT_OUT_WORDS
    opt_in_keywords: tuple[str, ...] = _OPT_IN_WORDS
    help_keywords: tuple[str, ...] = _HELP_WORDS
    auto_reply: AutoReply | None = None


@dataclass(frozen=True, slots=True)
class OptOutConfig:
    """What an opted-out number gets: the attempt ``outcome`` (REJECTD err 603 by default), and, when
    ``submit_status`` is set, submit_sm is refused with that status instead (strict aggregators)."""

    outcome: OutcomeSpec = field(default_factory=lambda: outcome_for("opted_out"))
    submit_status: int | None = None


_DEFAULT_LATENCY = Distribution(kind="lognormal", median=3.0, sigma=math.log(10.0 / 3.0) / _Z95, cap=30.0)
_DEFAULT_FAILURE_LATENCY = Distribution(kind="uniform", low=0.5, high=2.0)


@dataclass(frozen=True, slots=True)
class CarrierConfig:
    """One simulated mobile network (see :class:`smsc.core.carrier.Carrier` for the runtime side).

    ``prefixes``: E.164 prefixes it serves ("" = every number).  ``latency``: duration of a successful
    attempt; ``failure_latency``: of a failed one (seconds).  ``outcomes``: the weighted mix drawn per
    attempt.  ``capacity``: attempts per second (None = unlimited).  ``retry_schedule`` None = the
    simulation's.
    """

    name: str
    prefixes: tuple[str, ...] = ()
    description: str = ""
    latency: Distribution = _DEFAULT_LATENCY
    failure_latency: Distribution = _DEFAULT_FAILURE_LATENCY
    outcomes: tuple[OutcomeSpec, ...] = (OutcomeSpec(kind="delivered", cause="delivered"),)
    capacity: float | None = None
    receipt: ReceiptStyle = ReceiptStyle()
    handsets: HandsetConfig = HandsetConfig()
    rules: tuple[NumberRule, ...] = ()
    retry_schedule: tuple[float, ...] | None = None
    opt_out: OptOutConfig = OptOutConfig()
    #: Real seconds from a submit_sm to its submit_sm_resp (drawn per submit, as a carrier's response time varies;
    #: the attempt starts after it); None = at once.  A number rule's ``submit`` answer wins over it.
    submit_latency: Distribution | None = None
    #: The most messages that may wait for the carrier (its ``capacity``, or its return while it is ``down``); a
    #: submit to it beyond is refused with ``queue_full_status``, as a congested network's SMSC answers.  None =
    #: no limit.
    queue_limit: int | None = None
    #: The command_status of that refusal: ESME_RMSGQFUL (0x14) by default, ESME_RTHROTTLED (0x58) is the other
    #: common answer (SMPP 3.4 section 5.1.3).
    queue_full_status: int = 0x14
    #: True: the carrier starts down (its link to the SMSC broken): nothing is attempted, messages wait for it
    #: until the control API brings it back.
    down: bool = False
    #: While the carrier is down, submits routed to it are refused with this command_status (None = accepted
    #: and held until it is back, as a store-and-forward SMSC does).
    outage_status: int | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """Numbers starting with ``prefix`` ("" = any) go to the carrier named ``carrier``."""

    prefix: str
    carrier: str


@dataclass(frozen=True, slots=True)
class MoRoute:
    """MO messages to a number starting with ``prefix`` go to the ESMEs bound as ``system_id``; with ``exact``
    (a route written as ``number:``, a short code or long number in full) only MO to that number itself (tester
    170: ``number: "6060"`` took MO to 60607 too)."""

    prefix: str
    system_id: str
    exact: bool = False


#: The carrier used when a file has no ``topology.carriers``: every number, every handset online, delivered.
DEFAULT_CARRIER = CarrierConfig(name="default", prefixes=("",), description="catch-all: everything delivered")


@dataclass(frozen=True, slots=True)
class Topology:
    """The simulated world: home ``country_code`` and ``national_prefix`` (for TON 2 and guessed numbers),
    carriers, extra routes, MO routes, and what happens without a route (``no_route``: "reject" answers
    ESME_RINVDSTADR, "undeliverable" accepts and sends an UNDELIV receipt)."""

    country_code: str = "44"
    national_prefix: str = "0"
    carriers: tuple[CarrierConfig, ...] = (DEFAULT_CARRIER,)
    routes: tuple[Route, ...] = ()
    mo_routes: tuple[MoRoute, ...] = ()
    no_route: str = "reject"


@dataclass(frozen=True, slots=True)
class ScenarioStep:
    """One step of a declarative failure scenario (``scenario`` in the config): ``at`` simulated seconds after
    the server starts, ``action`` on ``target``:

    - "carrier": take carrier ``target`` down (``value`` True) or bring it back (False);
    - "account": lock account ``target`` (its binds refused with ESME_RBINDFAIL) or unlock it;
    - "disconnect": end the connections bound as system_id ``target``, with an unbind, or dropped (``how``);
    - "handset": switch handset ``target`` (E.164 digits) on (True) or off (False), or hand it back to the
      simulation (None).

    ``duration`` (simulated seconds, carrier, account and handset steps): the switch is undone after it.
    """

    at: float
    action: str
    target: str
    value: bool | None = None
    duration: float | None = None
    how: str = "unbind"


@dataclass(frozen=True, slots=True)
class Config:
    """One whole configuration; ``source`` names the file it came from."""

    source: str
    server: ServerConfig = ServerConfig()
    accounts: tuple[Account, ...] = ()
    store: StoreConfig = StoreConfig()
    simulation: SimulationConfig = SimulationConfig()
    http: HttpConfig = HttpConfig()
    topology: Topology = Topology()
    #: Failure steps played on the simulated clock from each start (see :class:`ScenarioStep`).
    scenario: tuple[ScenarioStep, ...] = ()

    def account(self, system_id: str) -> Account | None:
        """The account with this system_id (exact, case-sensitive match), or None."""
        for account in self.accounts:
            if account.system_id == system_id:
                return account
        return None

    def message_id_formats(self) -> list[MessageIdFormat]:
        """Every format a message_id is written in: the server's first, then each carrier's receipt format."""
        return [self.server.message_id] + [c.receipt.message_id_format for c in self.topology.carriers
                                           if c.receipt.message_id_format is not None]

    def longest_message_id(self) -> int:
        """The most characters a message_id can have: the server's format and every carrier's receipt
        format (an ESME bound with SMPP 3.3 may be given at most :data:`V33_MAX_MESSAGE_ID`)."""
        return max(fmt.length for fmt in self.message_id_formats())


# ------------------------------------------------------------------------------------------------ YAML


class _YInt(int):
    """An int read from YAML that remembers how it was written (``07700`` stays ``"07700"`` as text)."""

    text: str


class _YFloat(float):
    """A float read from YAML that remembers how it was written, for the hint to quote it where text was meant
    (``password: 1e3``: tester 70).  Unlike :class:`_YInt` it is not taken as text: the converters return plain
    floats, and a float where text is expected stays an error."""

    text: str


_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and duplicate keys reported as errors."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL_TAG, _INT_TAG, _FLOAT_TAG)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, Any] = {}
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    key = key_node.value
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            "while reading a mapping", node.start_mark,
                            f"found the key {key!r} twice (first at line {seen[key].line + 1})",
                            key_node.start_mark,
                        )
                    seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


class _LongInt(str):
    """An integer read from YAML that Python cannot hold as a number and write back in decimal: more digits than
    ``sys.get_int_max_str_digits()`` (4,300 by default), written in decimal or, as a value, in hexadecimal or
    octal.  It is kept as written.

    Where text is expected it is text, as a :class:`_YInt` is; where a number is expected the converters refuse it
    with the file and key path.  Tester 85: ``port:`` with 5,000 digits (or 5,000 zeros, or such a value under an
    unknown key) ended check-config and serve in a ``ValueError`` traceback from ``int()``; a hexadecimal seed of
    5,000 digits, which ``int()`` reads, ended serve in the same traceback where the seed is written in decimal."""

    def description(self) -> str:
        """How an error message shows it: its first digits and how many there are."""
        limit = _int_digit_limit()
        body = self.lstrip("+-").replace("_", "")
        if body[:2] in ("0x", "0o"):
            size = f"more than {limit:,} digits in decimal"
        else:
            size = f"{sum(c.isdigit() for c in body):,} digits"
        return f"{self[:20]}... (an integer of {size})"


def _int_digit_limit() -> int:
    """The most decimal digits Python converts between an int and text (0: no limit)."""
    return sys.get_int_max_str_digits()


@lru_cache(maxsize=4)
def _decimal_bound(limit: int) -> int:
    """The smallest int whose decimal text has more than ``limit`` digits (10 ** limit)."""
    return 10 ** limit


#: What the ``!!int`` constructor reads: the implicit resolver's forms below, with underscores allowed as YAML 1.1
#: writes them (``!!int 1_000``).
_INT_TEXT = re.compile(r"[-+]?[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+")


def _construct_int(loader: _Loader, node: Any) -> _YInt | _LongInt | str:
    text = loader.construct_scalar(node)
    clean = text.replace("_", "")
    if not _INT_TEXT.fullmatch(clean):
        # (only an explicit tag gets here: ``port: !!int abc`` ended in a ValueError traceback; as text, the key
        # that reads it says what it expected)
        return text
    try:
        number = int(clean, 0) if clean[:2] in ("0x", "0o") else int(clean, 10)
    except ValueError:  # (decimal text of more digits than sys.get_int_max_str_digits(): tester 85)
        return _LongInt(text)
    limit = _int_digit_limit()
    if limit and abs(number) >= _decimal_bound(limit):
        # (hexadecimal and octal text has no limit, but the value must be writable in decimal too: the seed is)
        return _LongInt(text)
    value = _YInt(number)
    value.text = text
    return value


def _construct_float(loader: _Loader, node: Any) -> _YFloat | str:
    written = loader.construct_scalar(node)
    text = written.lower()
    if text.endswith(".inf"):
        value = _YFloat(-math.inf if text.startswith("-") else math.inf)
    elif text == ".nan":
        value = _YFloat(math.nan)
    else:
        try:
            value = _YFloat(text)
        except ValueError:  # (only with an explicit tag, ``!!float abc``: kept as text, as by _construct_int)
            return written
    value.text = written
    return value


def _as_text_if_unreadable(construct: Callable[[Any, Any], Any]) -> Callable[[_Loader, Any], Any]:
    """``construct`` (one of PyYAML's scalar constructors), keeping the scalar as the text written when it cannot
    read it.  An unquoted ``start_time: 2026-02-30T00:00:00Z`` (no such day) or ``2026-13-01`` ended check-config
    and serve in a ValueError traceback from ``datetime`` (found beside tester 85's integers), ``!!bool abc`` in a
    KeyError: as text, the key that reads it reports it with its path (``expected a date and time ..., got
    '2026-02-30T00:00:00Z'``)."""

    def construct_or_text(loader: _Loader, node: Any) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
            return loader.construct_scalar(node)

    return construct_or_text


_Loader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    _INT_TAG, re.compile(r"^(?:[-+]?[0-9]+|0x[0-9a-fA-F]+|0o[0-7]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    _FLOAT_TAG,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
_Loader.add_constructor(_INT_TAG, _construct_int)
_Loader.add_constructor(_FLOAT_TAG, _construct_float)
_Loader.add_constructor(_BOOL_TAG, _as_text_if_unreadable(yaml.SafeLoader.construct_yaml_bool))
_Loader.add_constructor(_TIMESTAMP_TAG, _as_text_if_unreadable(yaml.SafeLoader.construct_yaml_timestamp))


# ------------------------------------------------------------------------------------- validation helpers

_MISSING: Any = object()
_BAD: Any = object()

_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_PLAIN_RX = re.compile(rf"^\s*{_NUMBER}\s*$")
#: Duration units, longest spelling first (the regular expression takes the first that matches): tester 40 found
#: "1 sec" accepted and "5 minutes" refused.
_UNITS = ("milliseconds|millisecond|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h"
          "|days|day|d")
_PARTS_RX = re.compile(rf"^\s*(?:{_NUMBER}\s*(?:{_UNITS})\s*)+$", re.IGNORECASE)
_PART_RX = re.compile(rf"({_NUMBER})\s*({_UNITS})", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_HINT = ("(seconds, or text such as '30s', '5m', '1h30m', '3d', '90 seconds', '5 minutes'; each unit once, "
                  "the largest first)")


def _unit_seconds(unit: str) -> float:
    """Seconds in one ``unit`` of :data:`_UNITS` ("ms" and "millisecond(s)" are thousandths; otherwise the first
    letter says)."""
    return 0.001 if unit == "ms" or unit.startswith("milli") else _UNIT_SECONDS[unit[0]]


def parse_duration(text: str) -> float | None:
    """Seconds in a duration text: ``"90"``, ``"250ms"``, ``"30s"``, ``"5m"``, ``"1h30m"``, ``"3d"``, ``"5 minutes"``,
    ``"2 hours 30 min"``; else None, also for units out of order or given twice (``"1m1h"``, ``"1d1d"``: tester
    167 saw them taken, as 3,660 s and two days, where a typo is likelier than the intent)."""
    if _PLAIN_RX.match(text):
        return float(text)
    if _PARTS_RX.match(text):
        total, last = 0.0, math.inf
        for number, unit in _PART_RX.findall(text):
            seconds = _unit_seconds(unit.lower())
            if seconds >= last:
                return None
            total += float(number) * seconds
            last = seconds
        return total
    return None


def _octet_text(ctx: _Ctx, path: str, what: str, value: Any) -> Any:
    """``value`` (text already read, or _BAD) when it is a C-Octet String an ESME can send and the SMSC can write:
    printable Latin-1, no NUL (SMPP 3.4 sections 3.1 and 4.1.1); else an error at ``path`` (tester 92:
    ``server.system_id: "sm\\0sc"`` passed check-config, then every bind_resp failed to encode and the
    connection dropped with a traceback; an account's ``"on\u20ac"`` could never be bound)."""
    if isinstance(value, str) and not _sendable(value):
        return ctx.error(path, f"{what} of printable ASCII (or Latin-1) characters (a C-Octet String, SMPP 3.4 "
                         "section 4.1.1)", value)
    return value


def _sendable(text: str) -> bool:
    """True when ``text`` can travel in a C-Octet String the SMSC reads as Latin-1: every character printable and
    one octet of ISO 8859-1 (no NUL, no control character).  One rule for passwords and system_ids."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return text.isprintable()


class _Hidden(str):
    """A bad value described rather than quoted (a password, two keys given together): :func:`_show` writes it
    as it is."""


def _show(value: Any) -> str:
    """How a bad value is quoted in an error message."""
    if isinstance(value, _Hidden):
        return str(value)
    if isinstance(value, _LongInt):
        return value.description()
    if value is _MISSING:
        return "nothing (the key is missing)"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, _YInt):
        if len(value.text) > 60:  # (all of 4,000 digits made a line as long: tester 85)
            return f"{value.text[:20]}... (an integer of {len(str(abs(int(value)))):,} digits)"
        return value.text
    if isinstance(value, (datetime.date, datetime.datetime)):  # (YAML reads a timestamp as one)
        return value.isoformat()
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _read_as(raw: Any) -> str | None:
    """What YAML made of an unquoted scalar that is not text: "a number" (``1e3``, ``1.5``, ``.inf``), "true or
    false", "a date" (``2026-01-01``); None for text, null, a list or a mapping (an integer is taken as written
    where text is expected, so it never gets here)."""
    if isinstance(raw, bool):
        return "true or false"
    if isinstance(raw, float):
        return "a number"
    if isinstance(raw, datetime.date):  # (a datetime too)
        return "a date"
    return None


def _quote_hint(path: str, raw: Any, *, shown: bool = True) -> str:
    """How to write ``raw`` at ``path`` so that YAML reads it as text, as in ``YAML reads it as a number: quote it:
    password: "1e3"``; "" when quotes would not make it text (a list, a mapping, null).  ``password: 1e3`` was
    refused as "not text" with no word of why (tester 70).  ``shown``: False for a value never written out (a
    password: testers 51, 53), whose quoted form is then "..."."""
    read_as = _read_as(raw)
    if read_as is None:
        return ""
    key = path.rsplit(".", 1)[-1]
    prefix = "" if key.endswith("]") else f"{key}: "  # (an element of a list: the value alone)
    if not shown or isinstance(raw, datetime.datetime):  # (written out again, a datetime may differ: "...")
        written = "..."
    elif isinstance(raw, _YFloat):
        written = raw.text
    elif isinstance(raw, datetime.date):
        written = raw.isoformat()
    else:
        written = _show(raw)
    return f'YAML reads it as {read_as}: quote it: {prefix}"{written}"'


class _Ctx:
    """Collects errors for one file."""

    def __init__(self, source: str, base_dir: Path | None) -> None:
        self.source = source
        self.base_dir = base_dir
        self.errors: list[str] = []

    def error(self, path: str, what: str, got: Any) -> Any:
        """Record "path: expected what, got value"; returns the _BAD marker."""
        self.errors.append(f"{self.source}: {path}: expected {what}, got {_show(got)}")
        return _BAD


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _range_text(kind: str, lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    if lo is not None and hi is not None and not lo_open:
        return f"{kind} from {_num(lo)} to {_num(hi)}"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {_num(lo)}")
    if hi is not None:
        parts.append(f"<= {_num(hi)}")
    return f"{kind} {' and '.join(parts)}" if parts else kind


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# Converters: (ctx, path, raw value) -> converted value, or _BAD after recording an error.

def _to_int(ctx: _Ctx, path: str, raw: Any, lo: int | None = None, hi: int | None = None) -> Any:
    what = _range_text("an integer", lo, hi)
    if isinstance(raw, _LongInt) and hi is None:
        # ("expected an integer, got ... (an integer of 5,000 digits)" would not say what is wrong: tester 85)
        what += f" of at most {_int_digit_limit():,} digits"
    if not isinstance(raw, int) or isinstance(raw, bool):
        return ctx.error(path, what, raw)
    if (lo is not None and raw < lo) or (hi is not None and raw > hi):
        return ctx.error(path, what, raw)
    return int(raw)


#: The largest number a float holds, as error messages write it.
_FLOAT_MAX_TEXT = f"{sys.float_info.max:.6g}"
#: The longest duration a config may give, in seconds: 100 years (of 365.25 days).  Nothing smsc times is
#: longer, and a simulated date past it leaves what a date can name.
DURATION_MAX = 100 * 365.25 * 86400.0


def _finite(raw: Any) -> float | None:
    """``raw`` as a finite float, or None when it is no number (a bool neither) or none a float holds: infinite,
    NaN, or an integer of more than 308 digits (``math.isfinite`` and ``float`` raise OverflowError for one:
    tester 85's ``time_scale`` of 400 nines ended check-config in a traceback)."""
    if not isinstance(raw, (int, float)) or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def _too_large(raw: Any) -> bool:
    """True when ``raw`` is an integer, as YAML read it, too large for a float (or for Python to read at all)."""
    return isinstance(raw, _LongInt) or (isinstance(raw, int) and not isinstance(raw, bool) and _finite(raw) is None)


def _to_number(
    ctx: _Ctx, path: str, raw: Any, lo: float | None = None, hi: float | None = None, lo_open: bool = False
) -> Any:
    what = _range_text("a number", lo, hi, lo_open)
    if _too_large(raw) and hi is None:
        what += f" (at most {_FLOAT_MAX_TEXT})"
    value = _finite(raw)
    if value is None:
        return ctx.error(path, what, raw)
    if lo is not None and (value <= lo if lo_open else value < lo):
        return ctx.error(path, what, raw)
    if hi is not None and value > hi:
        return ctx.error(path, what, raw)
    return value


def _to_duration(ctx: _Ctx, path: str, raw: Any, lo: float = 0.0, lo_open: bool = False) -> Any:
    what = f"{_range_text('a duration', lo, None, lo_open)} {_DURATION_HINT}"
    seconds: float | None = None
    if isinstance(raw, _LongInt):
        seconds = math.inf  # (never read as the text it is kept as: "0" * 5000 would be 0 seconds)
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        seconds = math.inf if _too_large(raw) else float(raw)
    elif isinstance(raw, str):
        seconds = parse_duration(raw)
    if seconds is not None and not seconds <= DURATION_MAX:
        # A duration too long for a float (text of 400 nines reads as infinity) was taken, and default_validity
        # "inf s" then failed max_validity's check instead (tester 85); one that fits a float but no calendar
        # (response_timer: 1e308) made dates of 9999-12-31 in the API (tester 98).
        return ctx.error(path, f"{_range_text('a duration', lo, None, lo_open)} and at most {DURATION_MAX:.0f} s "
                         f"(100 years) {_DURATION_HINT}", raw)
    if seconds is None or (seconds <= lo if lo_open else seconds < lo):
        return ctx.error(path, what, raw)
    return seconds


def _to_bool(ctx: _Ctx, path: str, raw: Any) -> Any:
    if not isinstance(raw, bool):
        return ctx.error(path, "true or false", raw)
    return raw


def _to_text(
    ctx: _Ctx, path: str, raw: Any, *, max_len: int | None = None, min_len: int = 0,
    choices: Iterable[str] | None = None, what: str | None = None,
) -> Any:
    if isinstance(raw, _YInt):
        raw_text: Any = raw.text
    else:
        raw_text = raw
    if choices is not None:
        options = tuple(choices)
        description = what or "one of " + ", ".join(repr(c) for c in options)
        if not isinstance(raw_text, str) or raw_text not in options:
            close = difflib.get_close_matches(raw_text, options, n=1) if isinstance(raw_text, str) else []
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return ctx.error(path, description + hint, raw)
        return raw_text
    if what is None:
        what = "text"
        if max_len is not None and min_len > 0:
            what = f"text of {min_len} to {max_len} characters"
        elif max_len is not None:
            what = f"text of at most {max_len} characters"
        elif min_len > 0:
            what = "non-empty text" if min_len == 1 else f"text of at least {min_len} characters"
    if not isinstance(raw_text, str):
        hint = _quote_hint(path, raw)
        return ctx.error(path, what, _Hidden(f"{_show(raw)} ({hint})") if hint else raw)
    if len(raw_text) < min_len or (max_len is not None and len(raw_text) > max_len):
        return ctx.error(path, what, raw)
    return raw_text


def _to_digits(ctx: _Ctx, path: str, raw: Any, what: str, *, allow_empty: bool = False, any_prefix: bool = False,
               e164: bool = False, min_len: int = 1, max_len: int = 15) -> Any:
    """Digits as text ("+" in front dropped).  ``allow_empty``: "" is a value; ``any_prefix``: "*" is the
    catch-all prefix, returned as "" (an empty text is refused: it looked like a missing value and routed every
    number, tester 31).  ``e164``: a number or prefix in E.164 form, country code first: a leading 0 (a national
    prefix, or an international one) is refused, since the traffic it is meant to match is normalised to E.164
    and it would never match (tester 31: '07700900123' checked OK and never applied).  ``min_len``: the fewest
    digits (a whole number of E.164 form has 7, ITU-T E.164; a shorter one is never a handset's)."""
    text = raw.text if isinstance(raw, _YInt) else raw
    if not isinstance(text, str):
        return ctx.error(path, what, raw)
    text = text.strip()
    if any_prefix and text == "*":
        return ""
    if allow_empty and text == "":
        return ""
    if text.startswith("+"):
        text = text[1:]
    if not text or not text.isascii() or not text.isdigit() or not min_len <= len(text) <= max_len:
        return ctx.error(path, what, raw)
    if e164 and text.startswith("0"):
        return ctx.error(path, what + " in E.164 form, country code first (not starting with 0: '07700900123' in "
                         "the UK is '447700900123'; traffic is matched in E.164 form)", raw)
    return text


_ERROR_STATUS_NAMES = [name for name in CommandStatus.__members__ if name != "ESME_ROK"]


def _to_status(ctx: _Ctx, path: str, raw: Any) -> Any:
    """A command_status: a CommandStatus name (ESME_RSUBMITFAIL), or a number (69, 0x45, '0x45')."""
    what = "an SMPP command_status: a name such as 'ESME_RSUBMITFAIL' or a number from 0 to 0xFFFFFFFF"
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = int(raw)
    elif isinstance(raw, str) and not isinstance(raw, _LongInt):  # (no name: nor a number ``int()`` reads)
        name = raw.strip()
        if name.upper() in CommandStatus.__members__:
            return int(CommandStatus[name.upper()])
        try:
            value = int(name, 0)
        except ValueError:
            # (not ESME_ROK: a status written in a config is an error to answer with, and "did you mean
            # 'ESME_ROK'?" for a misspelt failure misled: tester 167)
            close = difflib.get_close_matches(name.upper(), _ERROR_STATUS_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return ctx.error(path, what + hint, raw)
    else:
        return ctx.error(path, what, raw)
    if not 0 <= value <= 0xFFFFFFFF:
        return ctx.error(path, what, raw)
    return value


class _Map:
    """A YAML mapping being read: unknown keys are reported once, getters convert and record errors."""

    def __init__(self, ctx: _Ctx, path: str, raw: Any, keys: Iterable[str], what: str = "a mapping") -> None:
        self.ctx = ctx
        self.path = path
        self.keys = tuple(keys)
        self.ok = True
        if raw is None or raw is _MISSING:
            raw = {}
        if not isinstance(raw, dict):
            ctx.error(path or "(top level)", f"{what} with the keys {', '.join(self.keys)}", raw)
            raw = {}
            self.ok = False
        self.data: dict[Any, Any] = raw
        for key in raw:
            if key not in self.keys:
                # (an unknown key of 5,000 characters was written out whole, twice: tester 92)
                name = _show(key) if isinstance(key, _LongInt) else str(key)
                # (control characters escaped: a NUL, an escape sequence or a line break in a key was printed raw,
                # and could colour or clear the terminal or split the line: tester 96)
                name = "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)
                name = name if len(name) <= 60 else f"{name[:40]}... ({len(name):,} characters)"
                close = difflib.get_close_matches(name, self.keys, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else "one of: " + ", ".join(self.keys)
                ctx.error(_join(path, name), f"a known key ({hint})", name)

    def at(self, key: str) -> str:
        return _join(self.path, key)

    def raw(self, key: str) -> Any:
        return self.data.get(key, _MISSING)

    def has(self, key: str) -> bool:
        return key in self.data

    def _get(self, key: str, default: Any, convert: Callable[[Any], Any], *, nullable: bool = False) -> Any:
        raw = self.data.get(key, _MISSING)
        if raw is _MISSING:
            return default
        if raw is None and nullable:
            return None
        value = convert(raw)
        return default if value is _BAD else value

    def integer(self, key: str, default: Any, lo: int | None = None, hi: int | None = None,
                nullable: bool = False) -> Any:
        return self._get(key, default, lambda r: _to_int(self.ctx, self.at(key), r, lo, hi), nullable=nullable)

    def number(self, key: str, default: Any, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False, nullable: bool = False) -> Any:
        return self._get(
            key, default, lambda r: _to_number(self.ctx, self.at(key), r, lo, hi, lo_open), nullable=nullable
        )

    def duration(self, key: str, default: Any, lo: float = 0.0, lo_open: bool = False) -> Any:
        return self._get(key, default, lambda r: _to_duration(self.ctx, self.at(key), r, lo, lo_open))

    def boolean(self, key: str, default: bool) -> Any:
        return self._get(key, default, lambda r: _to_bool(self.ctx, self.at(key), r))

    def text(self, key: str, default: Any, nullable: bool = False, **kw: Any) -> Any:
        return self._get(key, default, lambda r: _to_text(self.ctx, self.at(key), r, **kw), nullable=nullable)

    def required_text(self, key: str, what: str, **kw: Any) -> Any:
        raw = self.data.get(key, _MISSING)
        if raw is _MISSING or raw is None:
            return self.ctx.error(self.at(key), what, raw)
        return _to_text(self.ctx, self.at(key), raw, what=what, **kw)

    def items(self, key: str, what: str) -> list[tuple[str, Any]]:
        """The elements of a list value as (path, raw element) pairs; [] when absent or not a list."""
        raw = self.data.get(key, _MISSING)
        if raw is _MISSING or raw is None:
            return []
        if not isinstance(raw, list):
            self.ctx.error(self.at(key), what, raw)
            return []
        return [(_join(self.at(key), i), item) for i, item in enumerate(raw)]


def _text_list(m: _Map, key: str, default: tuple[str, ...], *, upper: bool = False) -> tuple[str, ...]:
    if not m.has(key):
        return default
    out = []
    for path, item in m.items(key, "a list of text"):
        value = _to_text(m.ctx, path, item, min_len=1)
        if value is not _BAD:
            out.append(" ".join(value.split()).upper() if upper else value)
    return tuple(out)


# ------------------------------------------------------------------------------------------ sections

_TOP_KEYS = ("server", "accounts", "store", "simulation", "http", "topology", "scenario")


def _parse_message_id(ctx: _Ctx, path: str, raw: Any) -> MessageIdFormat:
    m = _Map(ctx, path, raw, ("format", "length", "uppercase"))
    return MessageIdFormat(
        format=m.text("format", "hex", choices=("hex", "decimal")),
        length=m.integer("length", MessageIdFormat().length, 4, 64),
        uppercase=m.boolean("uppercase", False),
    )


def path_text_problem(path: str) -> str | None:
    """What a file path in the config should have been when no file can have its name, whatever is on this
    machine: a NUL character (the operating system ends a name there), or a character the file system encoding
    cannot write (a lone surrogate such as YAML's ``"\\ud800"``); None otherwise.

    Tester 85: ``store.path: "a\\0b"`` passed check-config, which then ended in a ``ValueError: embedded null
    byte`` traceback looking into the file, and serve crashed; a TLS certfile with one was "not an existing file".
    """
    if "\0" in path:
        return "a file path without a NUL character (no path can contain one)"
    try:
        os.fsencode(path)
    except UnicodeError:
        return (f"a file path the file system encoding ({sys.getfilesystemencoding()}) can write (no lone "
                "surrogate such as '\\ud800')")
    return None


def _resolve_file(ctx: _Ctx, path: str, raw: Any) -> Any:
    name = _to_text(ctx, path, raw, min_len=1, what="a file path")
    if name is _BAD:
        return _BAD
    problem = path_text_problem(name)
    if problem is not None:
        return ctx.error(path, problem, raw)
    full = Path(name).expanduser()
    if not full.is_absolute() and ctx.base_dir is not None:
        full = ctx.base_dir / full
    if not full.is_file():
        return ctx.error(path, f"an existing file (looked for {str(full)!r})", raw)
    return str(full)


def _parse_tls(ctx: _Ctx, path: str, raw: Any) -> TlsConfig | None:
    if raw is None:
        return None
    m = _Map(ctx, path, raw, ("port", "certfile", "keyfile"))
    if not m.ok:
        return None  # (not a mapping: that one error, not one more for each key it lacks: tester 59)
    port = m.integer("port", 3775, 0, 65535)
    files = []
    for key in ("certfile", "keyfile"):
        if m.has(key):
            files.append(_resolve_file(ctx, m.at(key), m.raw(key)))
        else:
            files.append(ctx.error(m.at(key), "a file path (PEM)", _MISSING))
    if _BAD in files:
        return None
    problem = _tls_problem(files[0], files[1])
    if problem is not None:
        key, what = problem
        ctx.error(m.at(key), what, m.raw(key))
        return None
    return TlsConfig(port=port, certfile=files[0], keyfile=files[1])


def _no_passphrase() -> bytes:
    """The passphrase asked for an encrypted key: none (OpenSSL would otherwise prompt on the terminal)."""
    return b""


def _tls_problem(certfile: str, keyfile: str) -> tuple[str, str] | None:
    """Read the files as the TLS listener will (``load_cert_chain``): None when they make a certificate and
    its key, else the key at fault ("certfile" or "keyfile") and what was expected.  A file that exists but holds
    no PEM certificate, or a key that is not the certificate's, was found only by serve, as a listen error naming
    --host and --port (tester 33); an encrypted key stopped check-config at a passphrase prompt (tester 35)."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certfile, keyfile, password=_no_passphrase)
        return None
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=certfile)
    except (ssl.SSLError, OSError):
        return "certfile", f"a PEM certificate (chain) ({reason})"
    try:
        with open(keyfile, "rb") as fh:
            encrypted = b"ENCRYPTED" in fh.read(4096)
    except OSError:
        encrypted = False
    if encrypted:
        return "keyfile", ("the certificate's private key in PEM, not encrypted (smsc asks for no passphrase: "
                           "`openssl pkey -in KEY -out KEY.plain` writes it without one)")
    return "keyfile", f"the certificate's private key in PEM ({reason})"


#: One label of a host name (RFC 1123 section 2.1): letters, digits and hyphens, not at either end.
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
#: A label of a name to connect to: underscores too, which resolvers take and container names have
#: (Docker Compose's ``my_esme``).
_CONNECT_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")


def is_listen_host(host: str, *, connect: bool = False) -> bool:
    """``host`` has the form of a listen address: an IPv4 or IPv6 address, or a host name made of RFC 1123
    labels (with ``connect``, a name to connect to, underscores are allowed too).  Only the form is checked (a
    name is looked up when the server starts): ``999.1.1.1`` and ``""`` are refused here, not at the bind."""
    if re.fullmatch(r"[0-9.]+", host) or ":" in host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True
    name = host[:-1] if host.endswith(".") else host
    label = _CONNECT_LABEL if connect else _HOST_LABEL
    return bool(name) and len(name) <= 253 and all(label.match(part) for part in name.split("."))


#: What :func:`is_listen_host` wants, for error messages.
LISTEN_HOST_WHAT = "an IP address or a host name to listen on (for example 127.0.0.1, 0.0.0.0, ::, localhost)"


def _listen_host(m: _Map, key: str, default: str) -> Any:
    host = m.text(key, default, min_len=1)
    if host is _BAD or not isinstance(host, str):
        return host
    return host if is_listen_host(host) else m.ctx.error(m.at(key), LISTEN_HOST_WHAT, host)


def _parse_server(ctx: _Ctx, raw: Any) -> ServerConfig:
    keys = ("host", "port", "system_id", "max_command_length", "max_connections", "max_connections_per_ip",
            "max_bind_failures", "session_init_timer", "enquire_link_timer", "inactivity_timer", "response_timer",
            "window", "message_id", "tls", "year_pivot", "oversized_short_message")
    m = _Map(ctx, "server", raw, keys)
    d = ServerConfig()
    port = m.integer("port", d.port, 0, 65535)
    tls = _parse_tls(ctx, m.at("tls"), m.raw("tls")) if m.has("tls") else None
    # (server.tls.port equal to server.port: see listener_clashes)
    return ServerConfig(
        host=_listen_host(m, "host", d.host),
        port=port,
        system_id=_octet_text(ctx, m.at("system_id"), "a system_id",
                              m.text("system_id", d.system_id, max_len=15, min_len=1)),
        max_command_length=m.integer("max_command_length", d.max_command_length, 64, 16 * 1024 * 1024),
        # (upper bounds far beyond any use, so that a typo of many digits is named: tester 167)
        max_connections=m.integer("max_connections", d.max_connections, 1, _COUNT_MAX),
        max_connections_per_ip=m.integer("max_connections_per_ip", d.max_connections_per_ip, 0, _COUNT_MAX),
        max_bind_failures=m.integer("max_bind_failures", d.max_bind_failures, 0, _COUNT_MAX),
        session_init_timer=m.duration("session_init_timer", d.session_init_timer),
        enquire_link_timer=m.duration("enquire_link_timer", d.enquire_link_timer),
        inactivity_timer=m.duration("inactivity_timer", d.inactivity_timer),
        response_timer=m.duration("response_timer", d.response_timer, lo=0.0, lo_open=True),
        window=m.integer("window", d.window, 1, 10000),
        message_id=_parse_message_id(ctx, m.at("message_id"), m.raw("message_id")),
        tls=tls,
        year_pivot=m.integer("year_pivot", d.year_pivot, 0, 99),
        oversized_short_message=m.text("oversized_short_message", d.oversized_short_message,
                                       choices=("reject", "accept")),
    )


def _parse_accounts(ctx: _Ctx, raw: Any) -> tuple[tuple[Account, ...], frozenset[str]]:
    """The accounts, and the system_ids of those whose bind_types were refused (read as every bind type, so
    that no error follows from them, but no account to suggest: tester 85)."""
    if raw is None or raw is _MISSING or raw == []:
        # Without an account no ESME can bind: almost certainly a mistake (an empty or truncated file).  A missing
        # key is said to be missing, as every other one is (tester 70: "got null"); an empty file is null itself.
        ctx.error("accounts", "at least one account (a list of mappings with system_id and password)", raw)
        return (), frozenset()
    if not isinstance(raw, list):
        ctx.error("accounts", "a list of accounts (mappings with system_id and password)", raw)
        return (), frozenset()
    keys = ("system_id", "password", "bind_types", "max_binds", "allowed_ips", "throughput",
            "source_addresses", "submit_window", "outbind")
    accounts: list[Account] = []
    bad_bind_types: set[str] = set()
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        path = _join("accounts", i)
        m = _Map(ctx, path, item, keys)
        if not m.ok:
            continue
        system_id = _octet_text(ctx, m.at("system_id"), "a system_id", m.required_text(
            "system_id", "a system_id of 1 to 15 characters", min_len=1, max_len=15))
        password = _read_password(ctx, m)
        if system_id is not _BAD:
            if system_id in seen:
                ctx.error(m.at("system_id"), f"a system_id not used by accounts[{seen[system_id]}]", system_id)
            seen.setdefault(system_id, i)
        bind_types: frozenset[str] = BIND_TYPES
        if m.has("bind_types"):
            errors_before = len(ctx.errors)
            chosen = []
            for p, b in m.items("bind_types", "a list of bind types (transmitter, receiver, transceiver)"):
                value = _to_text(ctx, p, b, choices=sorted(BIND_TYPES))
                if value is not _BAD:
                    chosen.append(value)
            if m.raw("bind_types") == []:
                ctx.error(m.at("bind_types"), "at least one bind type", m.raw("bind_types"))
            bind_types = frozenset(chosen) or BIND_TYPES
            if len(ctx.errors) > errors_before and isinstance(system_id, str):
                bad_bind_types.add(system_id)
        allowed_ips = []
        for p, item_ip in m.items("allowed_ips", "a list of IP networks in CIDR form"):
            text = _to_text(ctx, p, item_ip, what="an IP network in CIDR form such as '10.0.0.0/8'")
            if text is _BAD:
                continue
            try:
                allowed_ips.append(str(ipaddress.ip_network(text, strict=False)))
            except ValueError:
                ctx.error(p, "an IP network in CIDR form such as '10.0.0.0/8'", item_ip)
        sources = []
        for p, item_rx in m.items("source_addresses", "a list of regular expressions"):
            text = _to_text(ctx, p, item_rx, what="a regular expression")
            if text is _BAD:
                continue
            try:
                re.compile(text)
            except re.error as exc:
                ctx.error(p, f"a valid regular expression ({exc})", item_rx)
                continue
            sources.append(text)
        account = Account(
            system_id=system_id if system_id is not _BAD else "",
            password=password if password is not _BAD else "",
            bind_types=bind_types,
            max_binds=m.integer("max_binds", 10, 1, _COUNT_MAX),
            allowed_ips=tuple(allowed_ips),
            throughput=m.number("throughput", None, lo=0.0, lo_open=True, nullable=True),
            source_addresses=tuple(sources),
            submit_window=m.integer("submit_window", None, 1, nullable=True),
            outbind=_parse_outbind(ctx, m.at("outbind"), m.raw("outbind")) if m.has("outbind") else None,
        )
        if account.outbind is not None and allowed_ips and not _host_allowed(account.outbind.host, allowed_ips):
            # The ESME binds on the outbind connection from the address smsc called: one outside allowed_ips is
            # refused at every retry_interval, for ever (tester 64).
            ctx.error(_join(m.at("outbind"), "host"), f"an address within the account's allowed_ips "
                      f"({', '.join(allowed_ips)}): the ESME binds from it", account.outbind.host)
        if account.outbind is not None and not account.receives:
            # An outbind asks for a bind that receives (SMPP 3.4 section 2.2.1): with none allowed, each one was
            # refused and the next came, for ever (tester 61).
            ctx.error(m.at("outbind"), "no outbind for an account whose bind_types allow neither receiver nor "
                      "transceiver (an outbind asks for a bind that receives)", _Hidden("an outbind target"))
        accounts.append(account)
    return tuple(accounts), frozenset(bad_bind_types)


def ip_in_networks(ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                   networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """True when ``ip`` is within one of ``networks``: the account's ``allowed_ips`` test, for a bind's peer and,
    in the config, for an outbind host.  An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``, as a dual-stack socket
    reports an IPv4 client) matches as its IPv4 address too (tester 67: the two tests disagreed on it)."""
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return any(ip in net or (mapped is not None and mapped in net) for net in networks)


def _host_allowed(host: str, networks: list[str]) -> bool:
    """True when ``host`` passes :func:`ip_in_networks` for ``networks`` (CIDR; "localhost" as 127.0.0.1 or
    ::1), or is another name (its address is not known here)."""
    if host.lower() == "localhost":
        candidates = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    else:
        try:
            candidates = [ipaddress.ip_address(host)]
        except ValueError:
            return True
    nets = [ipaddress.ip_network(net, strict=False) for net in networks]
    return any(ip_in_networks(ip, nets) for ip in candidates)


#: What an outbind's host must be, for error messages (the form of :func:`is_listen_host`).
OUTBIND_HOST_WHAT = "the ESME's IP address or host name (for example 10.0.0.5, ::1, esme.example.com)"


def _no_peer_address(host: str) -> str:
    """What kind of address ``host`` is when it is an IP address no connection can go to ("the unspecified
    address", "a multicast address", "the broadcast address"), else ""."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:  # (::ffff:0.0.0.0: tester 78)
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "the unspecified address (it names every interface of a listener)"
    if ip.is_multicast:
        return "a multicast address"
    if ip == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    return ""


def _outbind_host_what(host: str, port_key: str) -> str:
    """:data:`OUTBIND_HOST_WHAT`, and where the port goes when ``host`` ends in a port ("127.0.0.1:2776",
    "[::1]:2776", "esme.example:2776"): an address there is not one to connect to."""
    head, colon, tail = host.rpartition(":")
    if colon and tail.isdigit():
        name = head[1:-1] if head.startswith("[") and head.endswith("]") else head
        if is_listen_host(name, connect=True):
            return f"{OUTBIND_HOST_WHAT} without a port: the port belongs in {port_key}"
    if host.startswith("[") and host.endswith("]") and is_listen_host(host[1:-1]):
        return f"{OUTBIND_HOST_WHAT}, an IPv6 address without brackets"  # (tester 74: "[::1]")
    return OUTBIND_HOST_WHAT


def _read_password(ctx: _Ctx, m: _Map, required: bool = True) -> Any:
    """The ``password`` of mapping ``m`` (an account's, or an outbind's: ``required`` False, "" when left out): at
    most 8 characters of printable ASCII or Latin-1, never echoed in an error."""
    raw_password = m.raw("password")
    if isinstance(raw_password, _YInt):  # (a password of digits, written without quotes: taken as written)
        raw_password = raw_password.text
    if isinstance(raw_password, str) and len(raw_password) > 8:
        # (never echoed: a password in an error message ends up in logs and CI output; testers 51, 53)
        password = ctx.error(m.at("password"), "a password of at most 8 characters (SMPP 3.4 section 4.1.1)",
                             _Hidden(f"{len(raw_password)} characters (not shown)"))
    elif raw_password is not None and raw_password is not _MISSING and not isinstance(raw_password, str):
        hint = _quote_hint(m.at("password"), raw_password, shown=False)
        password = ctx.error(m.at("password"), "a password of at most 8 characters",
                             _Hidden(f"a value that is not text (not shown{'; ' + hint if hint else ''})"))
    elif isinstance(raw_password, str) and not _sendable(raw_password):
        # (a C-Octet String, SMPP 3.4 sections 3.1 and 4.1.1, whose octets the server reads as Latin-1:
        # "\u20ac\u20ac" passed and no ESME could ever send it, tester 54; "p\u00e4sswd" can be sent, tester 55)
        password = ctx.error(m.at("password"), "a password of printable ASCII (or Latin-1) characters (SMPP "
                             "3.4 section 4.1.1)", _Hidden("other characters (not shown)"))
    elif not required and raw_password in (None, _MISSING):
        password = ""
    else:
        password = m.required_text("password", "a password of at most 8 characters", max_len=8)
    return password


def _parse_outbind(ctx: _Ctx, path: str, raw: Any) -> OutbindTarget | None:
    if raw is None:
        return None
    m = _Map(ctx, path, raw, ("host", "port", "retry_interval", "system_id", "password"))
    if not m.ok:
        return None
    system_id = None
    if m.raw("system_id") not in (None, _MISSING):
        system_id = _octet_text(ctx, m.at("system_id"), "a system_id",
                                m.text("system_id", None, max_len=15, min_len=1))
        system_id = None if system_id is _BAD else system_id
    password = _read_password(ctx, m, required=False)
    host = m.required_text("host", "the ESME's host name or address", min_len=1)
    if host is not _BAD and not is_listen_host(host, connect=True):
        # (the form serve's --host is held to: "127.0.0.1:2776" and "not a host" passed, and every outbind then
        # failed with "Name or service not known", at each retry_interval: tester 70)
        host = ctx.error(m.at("host"), _outbind_host_what(host, _join(path, "port")), host)
    elif host is not _BAD and _no_peer_address(host):
        # (0.0.0.0, ::, a multicast or broadcast address: nothing to connect to; tester 74)
        host = ctx.error(m.at("host"), f"{OUTBIND_HOST_WHAT}: one host's address, not {_no_peer_address(host)}",
                         host)
    port = m.integer("port", None, 1, 65535)
    if not m.has("port"):  # (missing, said as for every other key: it said "got null", tester 70)
        ctx.error(m.at("port"), "a TCP port from 1 to 65535", _MISSING)
    retry = m.duration("retry_interval", 30.0, lo=0.0, lo_open=True)
    if host is _BAD or port is None:
        return None
    return OutbindTarget(host=host, port=port, retry_interval=retry, system_id=system_id,
                         password=password if isinstance(password, str) else "")


#: What :func:`store_path_problem` names, by ``stat.S_IFMT`` of the file's mode.
_FILE_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
               stat.S_IFBLK: "a block device"}


def store_path_problem(path: str) -> str | None:
    """What a SQLite ``store.path`` (or ``serve --db``) should have been, when what it names here can be no store:
    a directory (or a name ending in "/"), or anything else that exists and is not a regular file (a FIFO, a
    socket, a device); None for a regular file, a link to one, or nothing yet (the store makes the file).

    The one rule for ``check-config`` and ``serve``, its ``-c`` file and its ``--db`` alike.  Only ``stat`` looks at
    the file, which is never opened: opening a FIFO to read waits for a writer for ever (tester 70: check-config
    printed OK and hung), and opening a device may act on it.  Tester 61: "data/" passed, and serve failed with a
    bare "Not a directory", leaving a file "data".  Tester 85: a name with a NUL character (see
    :func:`path_text_problem`)."""
    text_problem = path_text_problem(path)
    if text_problem is not None:
        return text_problem
    if path.endswith(("/", os.sep)):
        return "the name of a file, not of a directory (such as data/smsc.sqlite)"
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None  # (nothing there yet, or nothing this process may look at: opening the store says why)
    if stat.S_ISDIR(mode):
        return "the name of a file, not of a directory (such as data/smsc.sqlite)"
    if stat.S_ISREG(mode):
        return None
    kind = _FILE_KINDS.get(stat.S_IFMT(mode), "a file of another kind")
    return f"the name of a regular file, or of none yet (smsc makes it), not of {kind}"


def _parse_store(ctx: _Ctx, raw: Any) -> StoreConfig:
    m = _Map(ctx, "store", raw, ("kind", "path", "synchronous", "max_waiting_messages", "final_retention"))
    d = StoreConfig()
    sync = m.raw("synchronous")
    synchronous = d.synchronous
    if sync is not _MISSING:
        if isinstance(sync, str) and sync.upper() in ("NORMAL", "FULL"):
            synchronous = sync.upper()
        else:
            ctx.error(m.at("synchronous"), "'NORMAL' or 'FULL'", sync)
    kind = m.text("kind", d.kind, choices=("sqlite", "memory"))
    path = m.text("path", d.path, min_len=1)
    problem = store_path_problem(path) if kind == "sqlite" and isinstance(path, str) else None
    if isinstance(path, str) and problem is None:
        # (with any kind: serve --store sqlite opens a memory store's path)
        problem = path_text_problem(path)
    if kind == "sqlite" and isinstance(path, str) and (path == ":memory:" or path.startswith("file:")):
        # (SQLite's in-memory and URI names: the writer child and the readers each open the file by its name)
        path = ctx.error(m.at("path"), "a file name (for a store in memory: kind: memory)", path)
    elif problem is not None:
        path = ctx.error(m.at("path"), problem, path)
    return StoreConfig(
        kind=kind,
        path=path,
        synchronous=synchronous,
        max_waiting_messages=m.integer("max_waiting_messages", d.max_waiting_messages, 1, _QUEUE_LIMIT_MAX * 10),
        final_retention=m.duration("final_retention", d.final_retention, lo=0.0, lo_open=True),
    )


def _duration_list(m: _Map, key: str, default: tuple[float, ...] | None) -> tuple[float, ...] | None:
    if not m.has(key) or m.raw(key) is None:
        return default
    raw = m.raw(key)
    if not isinstance(raw, list) or not raw:
        m.ctx.error(m.at(key), f"a non-empty list of durations > 0 {_DURATION_HINT}", raw)
        return default
    out = []
    for p, item in m.items(key, "a list"):
        value = _to_duration(m.ctx, p, item, lo=0.0, lo_open=True)
        if value is not _BAD:
            out.append(value)
    return tuple(out) if len(out) == len(raw) else default


START_TIME_WHAT = ("a date and time with its UTC offset, from 2000 to 2037, such as 2026-01-01T00:00:00Z "
                   "(ISO 8601)")


def parse_start_time(value: Any) -> float | None:
    """``simulation.start_time`` (or ``serve --start-time``) as seconds since the epoch, or None when ``value`` is
    not an ISO 8601 date and time with its UTC offset ("Z" or "+01:00") from 2000 to 2037 (SMPP's two-digit
    years, SMPP 3.4 Appendix C, name no later year with the default year_pivot).  YAML may give a datetime."""
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None or not 2000 <= moment.astimezone(datetime.timezone.utc).year <= 2037:
        return None
    return moment.timestamp()


def _parse_simulation(ctx: _Ctx, raw: Any) -> SimulationConfig:
    keys = ("time_scale", "seed", "start_time", "default_validity", "max_validity", "max_schedule",
            "retry_schedule", "transaction_timeout")
    m = _Map(ctx, "simulation", raw, keys)
    d = SimulationConfig()
    start_time = d.start_time
    if m.has("start_time") and m.raw("start_time") is not None:
        start_time = parse_start_time(m.raw("start_time"))
        if start_time is None:
            ctx.error(m.at("start_time"), START_TIME_WHAT, m.raw("start_time"))
    errors_before = len(ctx.errors)
    default_validity = m.duration("default_validity", d.default_validity, lo=0.0, lo_open=True)
    default_read = len(ctx.errors) == errors_before  # (a refused value is reported, not compared as its default)
    errors_before = len(ctx.errors)
    max_validity = m.duration("max_validity", d.max_validity, lo=0.0, lo_open=True)
    max_read = len(ctx.errors) == errors_before
    if max_validity < default_validity and default_read and max_read:
        if m.has("max_validity"):
            given = "" if m.has("default_validity") else ", its default"
            ctx.error(m.at("max_validity"), f"a duration >= default_validity ({_num(default_validity)} s{given})",
                      m.raw("max_validity"))
        else:
            # Tester 85: default_validity "1000000d" was reported as "simulation.max_validity: expected a duration
            # >= default_validity (...), got 604800.0", a key and a value the file never had.
            ctx.error(m.at("default_validity"), f"a duration <= max_validity ({_num(max_validity)} s, its default; "
                      "set max_validity to allow longer)", m.raw("default_validity"))
    return SimulationConfig(
        time_scale=m.number("time_scale", d.time_scale, lo=MIN_TIME_SCALE, hi=MAX_TIME_SCALE),
        seed=m.integer("seed", d.seed, 0, 2**64 - 1, nullable=True),
        start_time=start_time,
        default_validity=default_validity,
        max_validity=max_validity,
        max_schedule=m.duration("max_schedule", d.max_schedule),
        retry_schedule=_duration_list(m, "retry_schedule", d.retry_schedule) or d.retry_schedule,
        transaction_timeout=m.duration("transaction_timeout", d.transaction_timeout, lo=0.0, lo_open=True),
    )


def _parse_http(ctx: _Ctx, raw: Any) -> HttpConfig:
    m = _Map(ctx, "http", raw, ("enabled", "host", "port", "allowed_hosts"))
    d = HttpConfig()
    return HttpConfig(
        enabled=m.boolean("enabled", d.enabled),
        host=_listen_host(m, "host", d.host),
        port=m.integer("port", d.port, 0, 65535),
        allowed_hosts=_host_names(m, "allowed_hosts", d.allowed_hosts),
    )


#: A host name as a Host header carries it once lower-cased and IDNA-encoded: dot-separated labels of letters,
#: digits and hyphens (tester 115: "smsc,other", "smsc?x" and a TAB inside a name passed and never matched).
_HOST_NAME_RX = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


#: What a host name of ``http.allowed_hosts`` (and ``--http-allowed-host``) may be, for error messages.
HOST_NAME_WHAT = ("a host name without port, path or wildcard, such as smsc or smsc.lab.example (IP addresses are "
                  "always answered)")


def allowed_host_name(text: str) -> str | None:
    """``text`` as a Host header carries it (lower case, no trailing dot, IDNA "xn--" form for another script), or
    None when it is no host name (a port, a path, a wildcard, a comma ...: :data:`HOST_NAME_WHAT`)."""
    name = text.strip().lower().rstrip(".")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return ascii_name if _HOST_NAME_RX.fullmatch(ascii_name) else None


def _host_names(m: _Map, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """``http.allowed_hosts``: host names as a Host header carries them (lower case, no trailing dot; a name in
    another script as its IDNA "xn--" form, which a browser sends), each without port, path or wildcard (tester 112:
    "smsc:8080" and "*.example.org" passed and never matched)."""
    names = []
    for path, item in m.items(key, "a list of host names"):
        text = _to_text(m.ctx, path, item, min_len=1)
        if text is _BAD:
            continue
        ascii_name = allowed_host_name(text)
        if ascii_name is None:
            m.ctx.error(path, HOST_NAME_WHAT, item)
            continue
        names.append(ascii_name)
    return tuple(names) if m.has(key) else default


_DIST_KEYS = {
    "fixed": ("value",),
    "uniform": ("min", "max"),
    "exponential": ("mean",),
    "lognormal": ("median", "p95", "sigma"),
}


def _parse_distribution(ctx: _Ctx, path: str, raw: Any, default: Distribution) -> Distribution:
    """A duration distribution: a plain duration (= fixed) or a mapping with ``distribution``."""
    if raw is _MISSING:
        return default
    if not isinstance(raw, dict):
        if isinstance(raw, (int, float, str)) and not isinstance(raw, bool):
            value = _to_duration(ctx, path, raw)
            return default if value is _BAD else Distribution(kind="fixed", value=value)
        ctx.error(path, "a duration, or a mapping with 'distribution' (fixed, uniform, exponential, "
                        "lognormal) and its parameters", raw)
        return default
    kind = raw.get("distribution", _MISSING)
    kind_path = _join(path, "distribution")
    if kind is _MISSING:
        ctx.error(kind_path, "one of 'fixed', 'uniform', 'exponential', 'lognormal'", kind)
        return default
    kind = _to_text(ctx, kind_path, kind, choices=tuple(_DIST_KEYS))
    if kind is _BAD:
        return default
    m = _Map(ctx, path, raw, ("distribution", *_DIST_KEYS[kind], "cap"))
    errors_before = len(ctx.errors)
    cap = m.duration("cap", None, lo=0.0, lo_open=True) if m.raw("cap") is not None else None

    def need(key: str, lo_open: bool = False) -> float:
        if not m.has(key):
            ctx.error(m.at(key), f"a duration {_DURATION_HINT} for a {kind} distribution", _MISSING)
            return 0.0
        return m.duration(key, 0.0, lo=0.0, lo_open=lo_open)

    if kind == "fixed":
        dist = Distribution(kind="fixed", value=need("value"), cap=cap)
    elif kind == "uniform":
        low, high = need("min"), need("max")
        if high < low:
            ctx.error(m.at("max"), f"a duration >= min ({_num(low)} s)", m.raw("max"))
        dist = Distribution(kind="uniform", low=low, high=high, cap=cap)
    elif kind == "exponential":
        dist = Distribution(kind="exponential", mean=need("mean", lo_open=True), cap=cap)
    else:
        median = need("median", lo_open=True)
        if m.has("sigma") and m.has("p95"):
            ctx.error(m.at("p95"), "either p95 or sigma, not both", m.raw("p95"))
            sigma = 0.0
        elif m.has("sigma"):
            sigma = m.number("sigma", 0.0, lo=0.0, hi=LOGNORMAL_SIGMA_MAX)
        elif m.has("p95"):
            p95 = m.duration("p95", median)
            if p95 < median:
                ctx.error(m.at("p95"), f"a duration >= median ({_num(median)} s)", m.raw("p95"))
            sigma = math.log(p95 / median) / _Z95 if median > 0 and p95 >= median else 0.0
            if sigma > LOGNORMAL_SIGMA_MAX:
                ctx.error(m.at("p95"), f"a duration at most {_num(_P95_RATIO_MAX)} times the median "
                          f"({_num(median)} s)", m.raw("p95"))
                sigma = 0.0
        else:
            ctx.error(m.at("p95"), "p95 (a duration) or sigma (a number) for a lognormal distribution", _MISSING)
            sigma = 0.0
        dist = Distribution(kind="lognormal", median=median, sigma=sigma, cap=cap)
    # A cap below the shortest draw (fixed: the value, uniform: min) or below a lognormal's or an exponential's
    # median makes every draw, or most, the cap: the other keys would say nothing (tester 179: uniform 5-10 s
    # with cap 2 s passed check-config and every latency was 2 s; tester 181: exponential mean 4 s, cap 1 ms).
    floor = {"fixed": ("value", dist.value), "uniform": ("min", dist.low), "lognormal": ("median", dist.median),
             "exponential": ("the median, mean x ln 2", dist.mean * math.log(2.0))}.get(kind)
    if cap is not None and floor is not None and cap < floor[1] and len(ctx.errors) == errors_before:
        ctx.error(m.at("cap"), f"a duration >= {floor[0]} ({_num(round(floor[1], 3))} s): a cap below it makes "
                  f"{'every draw' if kind in ('fixed', 'uniform') else 'most draws'} the cap", m.raw("cap"))
    return dist if len(ctx.errors) == errors_before else default


def _parse_network_error(ctx: _Ctx, path: str, raw: Any, default: bytes | None) -> bytes | None:
    what = ("a GSM error number from 0 to 65535, a mapping {type: 1..8, code: 0..65535}, "
            "or null for no network_error_code")
    if raw is _MISSING:
        return default
    if raw is None:
        return None
    if isinstance(raw, dict):
        m = _Map(ctx, path, raw, ("type", "code"))
        net = m.integer("type", _GSM, 1, 8)
        code = m.integer("code", _BAD, 0, 65535)
        if code is _BAD:
            if not m.has("code"):
                ctx.error(m.at("code"), "an error code from 0 to 65535", _MISSING)
            return default
        return bytes((net,)) + code.to_bytes(2, "big")
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 65535:
        return bytes((_GSM,)) + int(raw).to_bytes(2, "big")
    ctx.error(path, what, raw)
    return default


def _parse_outcome(
    ctx: _Ctx, path: str, raw: Any, *, weighted: bool, extra_keys: tuple[str, ...] = ()
) -> tuple[OutcomeSpec | None, _Map | None]:
    """An outcome: a cause name, or a mapping {cause, kind, err, network_error[, weight]}."""
    cause_what = "a cause, one of: " + ", ".join(CAUSES)
    if isinstance(raw, str) and not weighted:
        if raw not in CAUSES:
            close = difflib.get_close_matches(raw, CAUSES, n=1)
            ctx.error(path, f"a cause (did you mean {close[0]!r}?)" if close else cause_what, raw)
            return None, None
        return outcome_for(raw), None
    keys = ("cause", "kind", "err", "network_error") + (("weight",) if weighted else ()) + extra_keys
    if not isinstance(raw, dict):
        what = "a mapping with 'cause' and 'weight'" if weighted else "a cause name or a mapping with 'cause'"
        ctx.error(path, what, raw)
        return None, None
    m = _Map(ctx, path, raw, keys)
    errors_before = len(ctx.errors)
    cause = m.raw("cause")
    base: OutcomeSpec | None = None
    if cause is _MISSING:
        if not m.has("kind"):
            ctx.error(m.at("cause"), cause_what, cause)
    elif not isinstance(cause, str) or cause not in CAUSES:
        close = difflib.get_close_matches(str(cause), CAUSES, n=1) if isinstance(cause, str) else []
        ctx.error(m.at("cause"), f"a cause (did you mean {close[0]!r}?)" if close else cause_what, cause)
    else:
        base = outcome_for(cause)
    kind = m.text("kind", base.kind if base else "delivered", choices=OUTCOME_KINDS)
    err = m.integer("err", base.err if base else 0, 0, 999999)
    nec = _parse_network_error(ctx, m.at("network_error"), m.raw("network_error"),
                               base.network_error_code if base else None)
    weight = m.number("weight", 1.0, lo=0.0) if weighted else 1.0
    if weighted and not m.has("weight"):
        ctx.error(m.at("weight"), "a number >= 0 (relative share of attempts)", _MISSING)
    if len(ctx.errors) != errors_before:
        return None, m
    spec = OutcomeSpec(kind=kind, err=err, network_error_code=nec,
                       cause=base.cause if base else kind, weight=weight)
    return spec, m


def _parse_receipt(ctx: _Ctx, path: str, raw: Any) -> ReceiptStyle:
    m = _Map(ctx, path, raw, ("message_id", "receipted_message_id", "text_label", "err_digits", "lost",
                              "duplicated", "text_id", "duplicate_delay"))
    mid = m.raw("message_id")
    lost = m.number("lost", 0.0, lo=0.0, hi=1.0)
    duplicated = m.number("duplicated", 0.0, lo=0.0, hi=1.0)
    if lost + duplicated > 1.0:
        ctx.error(m.at("duplicated"), f"at most {1.0 - lost:g} (lost + duplicated: the chances of one draw per "
                  "receipt, at most 1 together)", m.raw("duplicated"))
    return ReceiptStyle(
        message_id_format=None if mid in (None, _MISSING) else _parse_message_id(ctx, m.at("message_id"), mid),
        receipted_message_id=m.boolean("receipted_message_id", True),
        text_label=m.text("text_label", "text", choices=("text", "Text", ""),
                          what="'text', 'Text' or '' (no text field)"),
        # (at least 3, as SMPP 3.4 Appendix B writes err:; 1 and 2 were taken and wrote 3 all the same: tester 133)
        err_digits=m.integer("err_digits", 3, 3, 10),
        lost=lost,
        duplicated=duplicated,
        text_id=m.text("text_id", "same", choices=("same", "decimal", "hex", "hex_upper"),
                       what="same (as in submit_sm_resp), decimal, hex or hex_upper"),
        duplicate_delay=None if m.raw("duplicate_delay") in (None, _MISSING) else _parse_distribution(
            ctx, m.at("duplicate_delay"), m.raw("duplicate_delay"), _DEFAULT_LATENCY),
    )


def _parse_auto_reply(ctx: _Ctx, path: str, raw: Any) -> AutoReply | None:
    if raw is None:
        return None
    m = _Map(ctx, path, raw, ("echo", "text", "keywords", "delay", "probability"))
    keywords: list[tuple[str, str]] = []
    kw_raw = m.raw("keywords")
    if kw_raw not in (_MISSING, None):
        if not isinstance(kw_raw, dict):
            ctx.error(m.at("keywords"), "a mapping of word -> reply text", kw_raw)
        else:
            for word, answer in kw_raw.items():
                p = _join(m.at("keywords"), str(word))
                w = _to_text(ctx, p, word, min_len=1, what="a single word")
                a = _to_text(ctx, p, answer, min_len=1, what="reply text")
                if w is not _BAD and " " in w.strip():
                    ctx.error(p, "a single word", word)
                elif w is not _BAD and a is not _BAD:
                    word_upper = w.strip().upper()
                    if any(known == word_upper for known, _ in keywords):  # (tester 167: one shadowed the other)
                        ctx.error(p, f"a word not given already (keywords match whatever the case: {word_upper!r} "
                                     "is)", word)
                    else:
                        keywords.append((word_upper, a))
    reply = AutoReply(
        echo=m.boolean("echo", False),
        text=m.text("text", None, nullable=True, min_len=1),
        keywords=tuple(keywords),
        delay=_parse_distribution(ctx, m.at("delay"), m.raw("delay"), AutoReply().delay),
        probability=m.number("probability", 1.0, lo=0.0, hi=1.0),
    )
    if m.ok and not (reply.echo or reply.text or reply.keywords):
        ctx.error(path, "at least one of echo: true, text or keywords", raw)
    return reply


def _parse_handsets(ctx: _Ctx, path: str, raw: Any) -> HandsetConfig:
    keys = ("online_probability", "offline_period", "online_after_mo", "opt_out_keywords", "opt_in_keywords",
            "help_keywords", "auto_reply")
    m = _Map(ctx, path, raw, keys)
    d = HandsetConfig()
    words = {kind: _text_list(m, kind, getattr(d, kind), upper=True)
             for kind in ("opt_out_keywords", "opt_in_keywords", "help_keywords")}
    # A word in two lists would do what the first list checked says (opt-out, then opt-in, then help) and
    # silently not the other (tester 156: STOP listed under opt_in_keywords still opted out).
    seen: dict[str, str] = {}
    for kind, listed in words.items():
        for word in listed:
            other = seen.setdefault(word, kind)
            if other != kind and m.has(kind):
                ctx.error(m.at(kind), f"keywords not already in {other} ({word!r} is)", m.raw(kind))
            elif other != kind:
                ctx.error(m.at(other), f"keywords not in {kind} ({word!r} is)", m.raw(other))
    online_probability = m.number("online_probability", d.online_probability, lo=0.0, hi=1.0)
    offline_period = _parse_distribution(ctx, m.at("offline_period"), m.raw("offline_period"), d.offline_period)
    if m.has("offline_period") and online_probability < 1.0 and offline_period.expected() <= 0.0:
        # (tester 183: 0 passed and kept every handset online, whatever online_probability said)
        ctx.error(m.at("offline_period"), f"a duration above 0 (with online_probability {_num(online_probability)} "
                  f"handsets are offline for spells of this length: 0 keeps every one online)",
                  m.raw("offline_period"))
    return HandsetConfig(
        online_probability=online_probability,
        offline_period=offline_period,
        online_after_mo=m.duration("online_after_mo", d.online_after_mo),
        opt_out_keywords=words["opt_out_keywords"],
        opt_in_keywords=words["opt_in_keywords"],
        help_keywords=words["help_keywords"],
        auto_reply=_parse_auto_reply(ctx, m.at("auto_reply"), m.raw("auto_reply")) if m.has("auto_reply")
        else None,
    )


def _parse_submit_rule(ctx: _Ctx, path: str, raw: Any) -> SubmitRule | None:
    m = _Map(ctx, path, raw, ("status", "delay"))
    if not m.ok:
        return None
    status = 0
    if m.has("status"):
        value = _to_status(ctx, m.at("status"), m.raw("status"))
        status = 0 if value is _BAD else value
    rule = SubmitRule(status=status, delay=m.duration("delay", 0.0))
    if not m.has("status") and not m.has("delay"):
        ctx.error(path, "a mapping with status and/or delay", raw)
    return rule


_RULE_ACTIONS = ("submit", "outcome", "offline", "latency", "auto_reply", "opted_out", "receipt")


def _parse_rule(ctx: _Ctx, path: str, raw: Any) -> NumberRule | None:
    m = _Map(ctx, path, raw, ("numbers", "prefixes", "note") + _RULE_ACTIONS, what="a rule: a mapping")
    if not m.ok:
        return None
    numbers = []
    for p, item in m.items("numbers", "a list of numbers (E.164 digits as text)"):
        value = _to_digits(ctx, p, item, "an E.164 number: 7 to 15 digits as text such as '447700900123'",
                           e164=True, min_len=E164_MIN_DIGITS)
        if value is not _BAD:
            numbers.append(value)
    prefixes = []
    for p, item in m.items("prefixes", "a list of number prefixes (digits as text)"):
        value = _to_digits(ctx, p, item, "a number prefix: digits as text such as '4477009001'", e164=True)
        if value is not _BAD:
            prefixes.append(value)
    if not m.has("numbers") and not m.has("prefixes"):
        ctx.error(m.at("numbers"), "numbers and/or prefixes this rule applies to", _MISSING)
    elif (not numbers and not prefixes and isinstance(m.raw("numbers"), (list, type(_MISSING)))
          and isinstance(m.raw("prefixes"), (list, type(_MISSING)))):
        # (tester 183: numbers: [] passed, and the rule applied to nothing)
        ctx.error(m.at("numbers"), "at least one number or prefix this rule applies to", m.raw("numbers"))
    if not any(m.has(k) for k in _RULE_ACTIONS):
        ctx.error(path, "at least one of " + ", ".join(_RULE_ACTIONS), raw)
    offline: float | None = None
    if m.has("offline"):
        raw_off = m.raw("offline")
        if raw_off == "always":
            offline = math.inf
        else:
            silent = _Ctx(ctx.source, None)
            value = _to_duration(silent, m.at("offline"), raw_off, lo=0.0, lo_open=True)
            if value is _BAD:
                ctx.error(m.at("offline"), f"'always' or a duration > 0 {_DURATION_HINT}", raw_off)
            else:
                offline = value
    outcome = None
    if m.has("outcome"):
        outcome, _ = _parse_outcome(ctx, m.at("outcome"), m.raw("outcome"), weighted=False)
    if offline is not None and outcome is not None and outcome.kind != "absent":
        # An outcome of another kind ends every attempt without paging the handset, so its spells never
        # matter (tester 89: read_by_customer_service with offline: 2m was taken, the offline said nothing).
        ctx.error(m.at("offline"), f"no offline with an outcome of kind {outcome.kind!r}: that outcome is given "
                  "at every attempt, the handset on or off, so the offline spells would never apply (offline goes "
                  "with no outcome, or one of kind absent such as memory_full)", m.raw("offline"))
    return NumberRule(
        numbers=tuple(numbers),
        prefixes=tuple(prefixes),
        note=m.text("note", ""),
        submit=_parse_submit_rule(ctx, m.at("submit"), m.raw("submit")) if m.has("submit") else None,
        outcome=outcome,
        offline=offline,
        latency=_parse_distribution(ctx, m.at("latency"), m.raw("latency"), _DEFAULT_LATENCY)
        if m.has("latency") else None,
        auto_reply=_parse_auto_reply(ctx, m.at("auto_reply"), m.raw("auto_reply")) if m.has("auto_reply")
        else None,
        opted_out=m.boolean("opted_out", False),
        receipt=m.text("receipt", "", choices=RECEIPT_FATES,
                       what="lost (never sent), duplicated (sent twice) or sent (once)"),
    )


def _parse_opt_out(ctx: _Ctx, path: str, raw: Any) -> OptOutConfig:
    if raw is None or raw is _MISSING:
        return OptOutConfig()
    if isinstance(raw, dict) and "cause" not in raw and "kind" not in raw:
        raw = {"cause": "opted_out", **raw}
    spec, m = _parse_outcome(ctx, path, raw, weighted=False, extra_keys=("submit_status",))
    submit_status = None
    if m is not None and m.has("submit_status") and m.raw("submit_status") is not None:
        value = _to_status(ctx, m.at("submit_status"), m.raw("submit_status"))
        if value is not _BAD and value == 0:  # (tester 167: 0 was taken, and acted as null)
            value = ctx.error(m.at("submit_status"), "an error status (not 0; null accepts the submit and rejects "
                              "the message as it is attempted)", m.raw("submit_status"))
        submit_status = None if value is _BAD else value
    return OptOutConfig(outcome=spec or outcome_for("opted_out"), submit_status=submit_status)


#: The largest ``queue_limit`` (a carrier's queue past store.max_waiting_messages' own maximum means nothing).
_QUEUE_LIMIT_MAX = 100_000_000
#: The most connections, binds or bind failures a count in the config may allow (far beyond any machine's).
_COUNT_MAX = 100_000_000

_CARRIER_KEYS = ("name", "description", "prefixes", "capacity", "latency", "failure_latency", "outcomes",
                 "retry_schedule", "receipt", "handsets", "opt_out", "rules", "submit_latency", "queue_limit",
                 "queue_full_status", "down", "outage")


def _parse_carrier(ctx: _Ctx, path: str, raw: Any) -> CarrierConfig | None:
    m = _Map(ctx, path, raw, _CARRIER_KEYS, what="a carrier: a mapping")
    if not m.ok:
        return None
    name = m.required_text("name", "a carrier name (1 to 64 characters)", min_len=1, max_len=64)
    prefixes = []
    for p, item in m.items("prefixes", "a list of number prefixes (digits as text; '*' = every number)"):
        value = _to_digits(ctx, p, item, "a number prefix: digits as text such as '4477', or '*' for any",
                           any_prefix=True, e164=True)
        if value is not _BAD:
            prefixes.append(value)
    outcomes: list[OutcomeSpec] = []
    outcome_paths: list[str] = []
    if m.has("outcomes"):
        entries = m.items("outcomes", "a list of outcomes with cause and weight")
        for p, item in entries:
            spec, _ = _parse_outcome(ctx, p, item, weighted=True)
            if spec is not None:
                outcomes.append(spec)
                outcome_paths.append(p)
        total = sum(o.weight for o in outcomes)
        if entries and len(outcomes) == len(entries) and not 0 < total < math.inf:
            # (an infinite sum, two weights of 1e308, made every draw the last outcome: tester 156)
            ctx.error(m.at("outcomes"), "weights adding up to more than 0 and less than 1e308 "
                      f"(they add up to {_num(total)})", m.raw("outcomes"))
            outcomes = []
        if not entries and isinstance(m.raw("outcomes"), list):
            ctx.error(m.at("outcomes"), "at least one outcome", m.raw("outcomes"))
    rules = []
    for p, item in m.items("rules", "a list of number rules"):
        rule = _parse_rule(ctx, p, item)
        if rule is not None:
            rules.append(rule)
    d = CarrierConfig(name="")
    capacity = m.number("capacity", None, lo=0.0, lo_open=True, nullable=True)
    queue_limit = m.integer("queue_limit", None, lo=1, hi=_QUEUE_LIMIT_MAX, nullable=True)
    queue_full_status = d.queue_full_status
    if m.has("queue_full_status") and m.raw("queue_full_status") is not None:
        value = _to_status(ctx, m.at("queue_full_status"), m.raw("queue_full_status"))
        if value is not _BAD and value == 0:
            value = ctx.error(m.at("queue_full_status"), "an error status (not 0, which would accept the submit)",
                              m.raw("queue_full_status"))
        if value is not _BAD:
            queue_full_status = value
    outage_status = None
    outage = _Map(ctx, m.at("outage"), m.raw("outage"), ("submit_status",))
    if outage.ok and outage.has("submit_status") and outage.raw("submit_status") is not None:
        value = _to_status(ctx, outage.at("submit_status"), outage.raw("submit_status"))
        if value is not _BAD and value == 0:
            value = ctx.error(outage.at("submit_status"), "an error status (not 0; null accepts the submits and "
                              "holds them until the carrier is back)", outage.raw("submit_status"))
        if value is not _BAD:
            outage_status = value
    receipt = _parse_receipt(ctx, m.at("receipt"), m.raw("receipt"))
    opt_out = _parse_opt_out(ctx, m.at("opt_out"), m.raw("opt_out"))
    # An err: wider than the receipt writes it (SMPP 3.4 Appendix B: 3 octets; err_digits widens it) went out
    # whole, "err:123456" with err_digits 3 (tester 183).
    err_paths = [(p, spec.err) for p, spec in zip(outcome_paths, outcomes)]
    if m.has("opt_out"):
        err_paths.append((m.at("opt_out"), opt_out.outcome.err))
    for p, err in err_paths:
        if err >= 10 ** receipt.err_digits:
            ctx.error(_join(p, "err"), f"an error code of at most {receipt.err_digits} digits (the carrier's "
                      f"receipt.err_digits, the width of the receipt's err: field: 3 in SMPP 3.4 Appendix B)", err)
    return CarrierConfig(
        name=name if name is not _BAD else "",
        prefixes=tuple(prefixes),
        description=m.text("description", ""),
        latency=_parse_distribution(ctx, m.at("latency"), m.raw("latency"), d.latency),
        failure_latency=_parse_distribution(ctx, m.at("failure_latency"), m.raw("failure_latency"),
                                            d.failure_latency),
        outcomes=tuple(outcomes) or d.outcomes,
        capacity=capacity,
        receipt=receipt,
        handsets=_parse_handsets(ctx, m.at("handsets"), m.raw("handsets")),
        rules=tuple(rules),
        retry_schedule=_duration_list(m, "retry_schedule", None),
        opt_out=opt_out,
        submit_latency=None if m.raw("submit_latency") in (None, _MISSING) else _parse_distribution(
            ctx, m.at("submit_latency"), m.raw("submit_latency"), _DEFAULT_LATENCY),
        queue_limit=queue_limit,
        queue_full_status=queue_full_status,
        down=m.boolean("down", False),
        outage_status=outage_status,
    )


def _show_id_format(fmt: MessageIdFormat) -> str:
    return f"{{format: {fmt.format}, length: {fmt.length}}}"


def _check_id_formats(
    ctx: _Ctx, server_ids: MessageIdFormat, carriers: list[CarrierConfig], carrier_paths: list[str],
) -> None:
    """Refuse message_id formats that can write one id for two numbers: a decimal and a hex format of the same
    length (the decimal "0000000000000016" is also hex 0x16).  The SMSC hands numbers from one counter to every
    format, so such ids would name two messages at once, and the second would overwrite the first in the store
    (SMPP 3.4 section 5.2.23: a message_id identifies one message).  Different lengths never collide, and
    neither do hex formats that differ only in case (one text, one number).  Each carrier is compared with
    the server's format and with the carriers before it."""
    seen: list[tuple[str, MessageIdFormat]] = [("server.message_id", server_ids)]
    for carrier, path in zip(carriers, carrier_paths):
        fmt = carrier.receipt.message_id_format
        if fmt is None:
            continue
        where = _join(_join(path, "receipt"), "message_id")
        for other_where, other in seen:
            if other.length == fmt.length and other.format != fmt.format:
                ctx.errors.append(
                    f"{ctx.source}: {where}: expected a message_id format that cannot write the id of another "
                    f"message: {other_where} is {_show_id_format(other)}, and decimal and hex ids of the same "
                    f"length overlap ('{'0' * (fmt.length - 2)}16' is both 16 and 0x16); use format "
                    f"{other.format}, or a length other than {fmt.length}, got {_show_id_format(fmt)}"
                )
                break
        seen.append((where, fmt))


def _parse_topology(
    ctx: _Ctx, raw: Any, accounts: tuple[Account, ...], server_ids: MessageIdFormat = MessageIdFormat(),
    accounts_read: bool = True, bad_bind_types: frozenset[str] = frozenset(),
) -> Topology:
    """``accounts_read``: False when the accounts section could not be read whole (not a list, an entry not a
    mapping), so that an MO route naming an account is not reported as naming none (tester 61).
    ``bad_bind_types``: the system_ids of accounts whose bind_types were refused, never suggested as an MO
    route's account (tester 85)."""
    m = _Map(ctx, "topology", raw, ("country_code", "national_prefix", "no_route", "carriers", "routes",
                                    "mo_routes"))
    d = Topology()
    country_code = d.country_code
    if m.has("country_code"):
        value = _to_digits(ctx, m.at("country_code"), m.raw("country_code"),
                           "a country code: 1 to 3 digits as text such as '44'", max_len=3)
        if value is not _BAD and value.startswith("0"):
            value = ctx.error(m.at("country_code"), "a country code not starting with 0", m.raw("country_code"))
        country_code = d.country_code if value is _BAD else value
    national_prefix = d.national_prefix
    if m.has("national_prefix"):
        value = _to_digits(ctx, m.at("national_prefix"), m.raw("national_prefix"),
                           "a national (trunk) prefix: up to 2 digits as text such as '0', or ''",
                           allow_empty=True, max_len=2)
        national_prefix = d.national_prefix if value is _BAD else value

    carriers: list[CarrierConfig] = []
    carrier_paths: list[str] = []
    # False when a carrier could not be read: a route naming it is then not reported as naming no carrier (tester
    # 59: "expected one of the carrier names: , got 'redtel'" followed a carriers mapping given for a list).
    carriers_read = True
    if m.has("carriers"):
        entries = m.items("carriers", "a list of carriers")
        if not entries and (m.raw("carriers") is None or isinstance(m.raw("carriers"), list)):
            ctx.error(m.at("carriers"), "a list of at least one carrier", m.raw("carriers"))
        carriers_read = isinstance(m.raw("carriers"), list)
        for p, item in entries:
            carrier = _parse_carrier(ctx, p, item)
            if carrier is not None:
                carriers.append(carrier)
                carrier_paths.append(p)
            else:
                carriers_read = False
    else:
        carriers = list(d.carriers)
        carrier_paths = ["topology.carriers"]

    _check_id_formats(ctx, server_ids, carriers, carrier_paths)
    names: dict[str, str] = {}
    for carrier, p in zip(carriers, carrier_paths):
        if carrier.name and carrier.name in names:
            ctx.error(_join(p, "name"), f"a carrier name not already used at {names[carrier.name]}", carrier.name)
        names.setdefault(carrier.name, p)

    # The routing table: carrier prefixes, then explicit routes; every prefix may appear once.
    table: dict[str, str] = {}
    for carrier, p in zip(carriers, carrier_paths):
        for i, prefix in enumerate(carrier.prefixes):
            if prefix in table:
                ctx.error(_join(_join(p, "prefixes"), i), f"a prefix not already routed to {table[prefix]!r}",
                          prefix or "*")
            else:
                table[prefix] = carrier.name
    routes: list[Route] = []
    for p, item in m.items("routes", "a list of routes ({prefix, carrier})"):
        r = _Map(ctx, p, item, ("prefix", "carrier"), what="a route: a mapping")
        if not r.ok:
            continue
        prefix = r.raw("prefix")
        if prefix is _MISSING:
            prefix = ctx.error(r.at("prefix"), "a number prefix (digits as text, '*' = any)", prefix)
        else:
            prefix = _to_digits(ctx, r.at("prefix"), prefix,
                                "a number prefix: digits as text such as '44', or '*' for any", any_prefix=True,
                                e164=True)
        target = r.required_text("carrier", "the name of a carrier defined in topology.carriers", min_len=1)
        if target is not _BAD and target not in names and (not carriers_read or not names):
            continue  # (its carrier may be the one not read, or none is: that error is reported)
        if target is not _BAD and target not in names:
            close = difflib.get_close_matches(target, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f": {', '.join(names)}"
            target = ctx.error(r.at("carrier"), f"one of the carrier names{hint}", target)
        if prefix is _BAD or target is _BAD:
            continue
        if prefix in table:
            ctx.error(r.at("prefix"), f"a prefix not already routed to {table[prefix]!r}", prefix or "*")
            continue
        table[prefix] = target
        routes.append(Route(prefix=prefix, carrier=target))

    # Number rules must concern numbers that reach their carrier; a number may have one rule per carrier.
    def routed_to(number: str) -> str | None:
        for n in range(len(number), -1, -1):
            if number[:n] in table:
                return table[number[:n]]
        return None

    for carrier, p in zip(carriers, carrier_paths):
        seen_numbers: dict[str, str] = {}
        for ri, rule in enumerate(carrier.rules):
            rp = _join(_join(p, "rules"), ri)
            for key, values in (("numbers", rule.numbers), ("prefixes", rule.prefixes)):
                for i, number in enumerate(values):
                    where = _join(_join(rp, key), i)
                    tag = f"{key}:{number}"
                    if tag in seen_numbers:
                        ctx.error(where, f"a number without another rule (already at {seen_numbers[tag]})", number)
                        continue
                    seen_numbers[tag] = where
                    target = routed_to(number)
                    if target != carrier.name:
                        got = f"{number!r}, which routes to {target!r}" if target else f"{number!r} (no route)"
                        ctx.errors.append(
                            f"{ctx.source}: {where}: expected a number routed to carrier {carrier.name!r}, got {got}"
                        )

    account_ids = list(dict.fromkeys(a.system_id for a in accounts if a.system_id))
    transmit_only = {a.system_id for a in accounts if not a.receives}
    mo_routes: list[MoRoute] = []
    mo_seen: dict[tuple[str, str], str] = {}
    for p, item in m.items("mo_routes", "a list of MO routes ({number or prefix, system_id})"):
        r = _Map(ctx, p, item, ("number", "prefix", "system_id"), what="an MO route: a mapping")
        if not r.ok:
            continue
        # (null is "not given", as elsewhere: tester 61 saw number: null beside a prefix called both)
        has_number = r.has("number") and r.raw("number") is not None
        has_prefix = r.has("prefix") and r.raw("prefix") is not None
        if has_number == has_prefix:
            # (both given: the error names the route, not number alone: tester 59)
            ctx.error(p if has_number else r.at("number"),
                      "exactly one of number (a short code or full number) or prefix",
                      _Hidden(f"both, number {_show(r.raw('number'))} and prefix {_show(r.raw('prefix'))}")
                      if has_number else _MISSING)
            continue
        key = "number" if has_number else "prefix"
        prefix = _to_digits(ctx, r.at(key), r.raw(key),
                            "digits as text such as '88123'" + (", or '*' for any" if key == "prefix" else ""),
                            any_prefix=key == "prefix")
        if prefix is not _BAD and prefix.startswith("0") and len(prefix) > SHORT_CODE_MAX_DIGITS:
            # An MO to a longer number is matched in E.164 form ('07700900000' as '447700900000'): a national
            # form here never matched (tester 31; tester 38: nor did a prefix).  Short codes keep their digits, a
            # leading 0 included.
            what = "number" if key == "number" else "number prefix"
            prefix = ctx.error(r.at(key), f"a short code of up to {SHORT_CODE_MAX_DIGITS} digits, or a {what} in "
                               "E.164 form, country code first (an MO sent to '07700900000' is matched as "
                               "'447700900000')", r.raw(key))
        system_id = r.required_text("system_id", "the system_id of an account", min_len=1, max_len=15)
        if system_id is not _BAD and system_id not in account_ids and not accounts_read:
            continue  # (its account may be the one not read: that error is reported)
        if system_id is not _BAD and system_id not in account_ids:
            hint = f" ({', '.join(account_ids)})" if account_ids else " (no accounts are defined)"
            system_id = ctx.error(r.at("system_id"), f"the system_id of an account{hint}", system_id)
        elif system_id is not _BAD and system_id in transmit_only:
            # (no bind of it could ever take the MO: answered 202, it waited for ever; tester 74)
            # (not one whose bind_types were refused, read as every type: tester 85 was offered "[]" and a bare
            # string as receiving accounts)
            receiving = [a for a in account_ids if a not in transmit_only and a not in bad_bind_types]
            hint = f" ({', '.join(receiving)})" if receiving else " (none of the accounts may: see their bind_types)"
            system_id = ctx.error(r.at("system_id"), f"the system_id of an account whose bind_types allow "
                                  f"receiver or transceiver{hint}", _Hidden(f"{system_id!r}, which may only bind as "
                                                                           f"transmitter"))
        if prefix is _BAD or system_id is _BAD:
            continue
        # A number and a prefix of the same digits are two routes ("88123" itself, and 881230...: tester 186).
        seen_key = (key, prefix)
        if seen_key in mo_seen:
            ctx.error(r.at(key), f"a {'number' if key == 'number' else 'prefix'} not already routed at "
                                 f"{mo_seen[seen_key]}", prefix or "*")
            continue
        mo_seen[seen_key] = p
        mo_routes.append(MoRoute(prefix=prefix, system_id=system_id, exact=key == "number"))

    return Topology(
        country_code=country_code,
        national_prefix=national_prefix,
        carriers=tuple(carriers),
        routes=tuple(routes),
        mo_routes=tuple(mo_routes),
        no_route=m.text("no_route", d.no_route, choices=("reject", "undeliverable")),
    )


# -------------------------------------------------------------------------------------------- loading


#: The largest config file read, octets (the bundled example is about 20 KiB).
MAX_CONFIG_OCTETS = 16 << 20


def _file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in words."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


def _read(path: str | os.PathLike[str] | None) -> tuple[str, str, Path | None]:
    """(source name, text, directory for relative paths); raises ConfigError when the file is unreadable."""
    if path is None:
        resource = resources.files("smsc").joinpath("data/default.yaml")
        where = f"bundled default ({resource})" if isinstance(resource, Path) else "bundled default"
        return where, resource.read_text(encoding="utf-8"), None
    source = os.fspath(path)
    try:
        # Not a regular file, or one far larger than any config: refused before reading (tester 92: a named pipe
        # hung check-config, as opening one waits for a writer; /dev/zero ended it in a MemoryError traceback).
        mode = os.stat(source).st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError([f"{source}: expected a regular file of YAML text, got {_file_kind(mode)}"])
        with open(source, "rb") as raw:
            data = raw.read(MAX_CONFIG_OCTETS + 1)
        if len(data) > MAX_CONFIG_OCTETS:
            raise ConfigError([f"{source}: expected a config of at most {MAX_CONFIG_OCTETS // (1 << 20)} MiB, got "
                               f"a larger file"])
        return source, data.decode("utf-8"), Path(source).resolve().parent
    except OSError as exc:
        raise ConfigError([f"{source}: cannot read the file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{source}: expected UTF-8 text, got an undecodable byte at offset {exc.start}"]) from None


def parse_config(text: str, source: str = "<string>", base_dir: Path | None = None) -> Config:
    """Validate YAML ``text`` into a :class:`Config`; ``source`` names it in errors.

    Raises:
        ConfigError: with every problem found.
    """
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context and exc.context != problem else ""
        raise ConfigError([f"{source}: {where}: {problem}{context}"]) from None
    except yaml.reader.ReaderError as exc:
        # A character YAML does not allow (a NUL, a control character): where it is, as for any other YAML error
        # (tester 156: "position 4471" of "<unicode string>", on two lines).
        before = text[:exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        raise ConfigError([f"{source}: line {line}, column {column}: a character YAML does not allow "
                           f"(U+{exc.character if isinstance(exc.character, int) else ord(exc.character):04X}): "
                           f"{exc.reason}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source}: invalid YAML: {exc}"]) from None
    except RecursionError:
        # PyYAML reads nested lists and mappings by recursion: some 500 levels ran out of Python's stack, and
        # check-config and serve ended in a traceback (tester 70).  No config needs more than a few levels.
        raise ConfigError([f"{source}: expected lists and mappings nested a few levels deep, as in "
                           "config/example.yaml, got a document nested too deeply to read (hundreds of levels)"]
                          ) from None
    ctx = _Ctx(source, base_dir)
    top = _Map(ctx, "", data, _TOP_KEYS, what="a mapping")
    accounts, bad_bind_types = (_parse_accounts(ctx, top.raw("accounts") if data is not None else None) if top.ok
                                else ((), frozenset()))
    server = _parse_server(ctx, top.raw("server"))
    config = Config(
        source=source,
        server=server,
        accounts=accounts,
        store=_parse_store(ctx, top.raw("store")),
        simulation=_parse_simulation(ctx, top.raw("simulation")),
        http=_parse_http(ctx, top.raw("http")),
        topology=_parse_topology(ctx, top.raw("topology"), accounts, server.message_id,
                                 accounts_read=isinstance(top.raw("accounts"), list) and bool(top.raw("accounts"))
                                 and all(isinstance(item, dict) for item in top.raw("accounts")),
                                 bad_bind_types=bad_bind_types),
    )
    if top.ok and top.has("scenario"):
        config = replace(config, scenario=_parse_scenario(ctx, top.raw("scenario"), config))
    _check_ports(ctx, config)
    if ctx.errors:
        raise ConfigError(ctx.errors)
    return config


#: What one scenario step does: its key, the value key it takes and what that value says.
_SCENARIO_ACTIONS = {
    "carrier": ("down", "true (down) or false (back)"),
    "account": ("locked", "true (its binds refused) or false (unlocked)"),
    "disconnect": ("how", "unbind (the default) or drop"),
    "handset": ("online", "true, false, or null (back to the simulation)"),
}


def _served(number: str, topology: Topology) -> bool:
    """True when a carrier of ``topology`` serves ``number`` (E.164 digits): a prefix of a carrier or a route
    starts it ("" is the catch-all)."""
    prefixes = [p for c in topology.carriers for p in c.prefixes] + [r.prefix for r in topology.routes]
    return any(number.startswith(p) for p in prefixes)


def _parse_scenario(ctx: _Ctx, raw: Any, config: Config) -> tuple[ScenarioStep, ...]:
    """``scenario``: a list of steps, each ``at`` a duration after the start and exactly one of carrier (a
    carrier's name) with down, account (a system_id) with locked, disconnect (a system_id) with how, handset (a
    number) with online; carrier, account and handset steps may take ``for`` (undone after that long)."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        ctx.error("scenario", "a list of steps such as {at: 30s, carrier: thames, down: true, for: 2m}", raw)
        return ()
    carriers = [c.name for c in config.topology.carriers]
    # (once each, and none left empty by an error of its own: tester 167 read "(appA, )" and "()")
    accounts = list(dict.fromkeys(a.system_id for a in config.accounts if a.system_id))
    account_names = ", ".join(accounts) if accounts else "none is configured"
    steps: list[ScenarioStep] = []
    for i, item in enumerate(raw):
        path = f"scenario[{i}]"
        keys = ("at", "for", *_SCENARIO_ACTIONS, *(k for k, _ in _SCENARIO_ACTIONS.values()))
        m = _Map(ctx, path, item, keys, what="a step: a mapping")
        if not m.ok:
            continue
        actions = [a for a in _SCENARIO_ACTIONS if m.has(a)]
        if len(actions) != 1:
            ctx.error(path, "exactly one of carrier, account, disconnect or handset (what the step acts on)",
                      _Hidden(", ".join(actions) if actions else "none of them"))
            continue
        action = actions[0]
        value_key, value_what = _SCENARIO_ACTIONS[action]
        for other, (other_key, _) in _SCENARIO_ACTIONS.items():
            if other != action and m.has(other_key) and other_key != value_key:
                ctx.error(_join(path, other_key), f"no {other_key} in a {action} step (it takes {value_key})",
                          m.raw(other_key))
        if not m.has("at"):
            ctx.error(_join(path, "at"), "when the step happens: a duration after the start such as 30s or 5m",
                      _MISSING)
            continue
        at = m.duration("at", None)
        seconds = m.duration("for", None, lo=0.0, lo_open=True) if m.has("for") else None
        if seconds is not None and action == "disconnect":
            ctx.error(_join(path, "for"), "no for in a disconnect step (the ESME binds again when it will)",
                      m.raw("for"))
        target_raw = m.raw(action)
        target: Any = _BAD
        if action == "carrier":
            target = m.text(action, None, min_len=1)
            if target is not None and target not in carriers:
                target = ctx.error(_join(path, action), f"a carrier of the topology ({', '.join(carriers)})",
                                   target_raw)
        elif action in ("account", "disconnect"):
            target = m.text(action, None, min_len=1)
            if target is not None and target not in accounts:
                target = ctx.error(_join(path, action), f"the system_id of an account ({account_names})",
                                   target_raw)
        else:
            target = _to_digits(ctx, _join(path, action), target_raw, "a handset's number: digits as text "
                                "such as '447700900123'", e164=True)
            if target is not _BAD and (len(target) < 7 or target.startswith("0")):
                target = ctx.error(_join(path, action), "a mobile number in E.164 form (7 to 15 digits, the "
                                   "country code first)", target_raw)
            elif target is not _BAD and not _served(target, config.topology):
                # (tester 148: passed check-config, then failed at its time with a traceback)
                target = ctx.error(_join(path, action), "a number a carrier of the topology serves (no prefix "
                                   "of a carrier or a route starts it)", target_raw)
        value: Any = None
        how = "unbind"
        if action == "disconnect":
            how = m.text("how", "unbind")
            if how not in ("unbind", "drop"):
                how = ctx.error(_join(path, "how"), value_what, m.raw("how"))
        elif action == "handset":
            if not m.has(value_key):
                ctx.error(_join(path, value_key), value_what, _MISSING)
            elif m.raw(value_key) is not None:
                value = m.boolean(value_key, False)
            elif seconds is not None:  # (tester 148: taken, and its for ignored)
                ctx.error(_join(path, "for"), "for only with online: true or false (the switch it undoes)",
                          m.raw("for"))
        else:
            if not m.has(value_key):
                ctx.error(_join(path, value_key), value_what, _MISSING)
            else:
                value = m.boolean(value_key, False)
                if seconds is not None and value is False:
                    ctx.error(_join(path, "for"), f"for only with {value_key}: true (the switch it undoes)",
                              m.raw("for"))
        if target is _BAD or target is None or at is None or how is _BAD:
            continue
        steps.append(ScenarioStep(at=at, action=action, target=target, value=value, duration=seconds, how=how))
    # (at one time, disconnects last: a lock is in place before the ESME it ends binds again, tester 150)
    return tuple(sorted(steps, key=lambda step: (step.at, step.action == "disconnect")))


_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
#: Names of this machine's loopback: "localhost" listens on 127.0.0.1 (and ::1), as the others do.
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _host_key(host: str) -> str:
    """``host`` in one spelling: an IP address in its compressed form, an IPv4-mapped IPv6 one as IPv4
    ("0:0:0:0:0:0:0:1" is "::1", "::ffff:127.0.0.1" is "127.0.0.1": tester 54), a name in lower case."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host.lower()
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def _may_overlap(a: str, b: str) -> bool:
    """True when listeners on hosts ``a`` and ``b`` may take the same address: the same host (names in any
    case: tester 53), either on every address, or "localhost" beside a loopback address (tester 51: localhost
    and 127.0.0.1 passed)."""
    a, b = _host_key(a), _host_key(b)
    if a == b or a in _WILDCARD_HOSTS or b in _WILDCARD_HOSTS:
        return True
    return "localhost" in (a, b) and a in _LOOPBACK_HOSTS and b in _LOOPBACK_HOSTS


def listener_clashes(config: Config) -> list[tuple[str, str, int]]:
    """Pairs of smsc's own listeners that would take the same port: ``(key, expected, value)`` for each.

    The SMPP-over-TLS listener must not take ``server.port`` (``serve`` failed with "address already in use"
    naming a port that was free: tester 46); the HTTP listener must take neither SMPP port where both listen
    on the same address or either on every address (tester 47).  Port 0 (chosen by the system) never clashes.
    ``smsc serve`` asks again after its ``--port``/``--http-port``/``--host``/``--http-host`` options
    (tester 59: a ``--port`` equal to the TLS port was reported as a port in use)."""
    clashes: list[tuple[str, str, int]] = []
    server, http = config.server, config.http
    if server.tls is not None and server.tls.port and server.tls.port == server.port:
        clashes.append(("server.tls.port", f"a port other than server.port ({server.port}): the TLS listener is "
                        "a second one", server.tls.port))
    if not http.enabled or not http.port:
        return clashes
    if not isinstance(http.host, str) or not isinstance(server.host, str):
        return clashes  # (a bad host is reported already)
    if not _may_overlap(http.host, server.host):
        return clashes
    if http.port == server.port:
        clashes.append(("http.port", f"a port other than server.port ({server.port}): the HTTP API is a listener "
                        "of its own", http.port))
    elif server.tls is not None and http.port == server.tls.port:
        clashes.append(("http.port", f"a port other than server.tls.port ({server.tls.port}): the HTTP API is a "
                        "listener of its own", http.port))
    return clashes


def _check_ports(ctx: _Ctx, config: Config) -> None:
    """Report :func:`listener_clashes` as errors of the file."""
    for key, expected, value in listener_clashes(config):
        ctx.error(key, expected, value)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a YAML configuration file (None = the bundled default, smsc/data/default.yaml).

    Every error is collected before raising, so one run shows them all.

    Raises:
        ConfigError: the file cannot be read, is not valid YAML, or has invalid values; ``errors`` holds one
            line per problem naming the file, the key path and what was expected.
    """
    source, text, base_dir = _read(path)
    return parse_config(text, source, base_dir)


def check_config(path: str | os.PathLike[str] | None) -> list[str]:
    """The errors :func:`load_config` would raise for ``path``, or [] when the file is valid."""
    try:
        load_config(path)
    except ConfigError as exc:
        return list(exc.errors)
    return []


def config_notes(config: Config) -> list[str]:
    """What ``smsc serve`` would find on this machine about a valid ``config`` (as :func:`load_config` read it),
    beyond its values: a SQLite ``store.path`` whose directory does not exist here (read from the current
    directory, as ``serve`` reads it).

    Notes, not errors: a file checked in CI for another machine (a container's ``/data``) is valid there, while
    one checked where it runs should say what ``serve`` would refuse (tester 59: check-config said OK, serve then
    refused the store; tester 65: a deployment config linted in CI must still pass)."""
    notes = []
    store = config.store
    if store.kind == "sqlite":
        directory = os.path.dirname(os.path.abspath(store.path))
        if not os.path.isdir(directory):
            notes.append(f"{config.source}: note: store.path {store.path!r}: its directory {directory!r} does not "
                         f"exist here (relative paths are read from the directory smsc starts in, here "
                         f"{os.getcwd()!r}): serve would not start here")
        elif not os.access(directory, os.W_OK | os.X_OK):
            # (tester 156: an unwritable directory passed where a missing one got this note)
            notes.append(f"{config.source}: note: store.path {store.path!r}: its directory {directory!r} cannot "
                         f"be written here (the database and its lock and journal files go there): serve would "
                         f"not start here")
    routed = {route.carrier for route in config.topology.routes}
    for i, carrier in enumerate(config.topology.carriers):
        if not carrier.prefixes and carrier.name not in routed:
            # (tester 156: such a carrier was accepted without a word, and every submit then refused)
            notes.append(f"{config.source}: note: topology.carriers[{i}] ({carrier.name!r}) serves no number: it has "
                         f"no prefixes and no topology.routes entry names it")
    if config.topology.carriers == Topology().carriers:
        # Tester 104: a config of its own with an account only passed, and every test number of the README then
        # was delivered (447700900910 accepted, not refused): the bundled topology is not merged in.  (A topology
        # without carriers is the same: tester 109.)
        notes.append(f"{config.source}: note: no topology: one carrier delivers every message after about 3 s (at "
                     f"most 30 s), and the test numbers of the bundled config (447700900910 and the others in README) "
                     f"do nothing here; copy config/default.yaml and change it to keep them")
    return notes
