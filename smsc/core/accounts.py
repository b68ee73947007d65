"""Who may bind: the accounts policy the SMPP server consults on every bind (SMPP 3.4 section 4.1).

The session reports "bind requested with these credentials"; this policy answers with a command_status.
Passwords are compared in constant time and never logged.  Per-account submit throughput limits live here
too, as one token bucket per account shared by all of its binds.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from smsc.config import ip_in_networks
from smsc.core.throttle import TokenBucket
from smsc.smpp.constants import BindType, CommandStatus

_BIND_NAMES = {
    BindType.TRANSMITTER: "transmitter",
    BindType.RECEIVER: "receiver",
    BindType.TRANSCEIVER: "transceiver",
}


class AccountLike(Protocol):
    """What the policy reads of an account (``smsc.config.Account`` has these attributes).  Read-only
    properties, so that a frozen dataclass satisfies it."""

    @property
    def system_id(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def bind_types(self) -> frozenset[str]: ...
    @property
    def max_binds(self) -> int: ...
    @property
    def allowed_ips(self) -> tuple[str, ...]: ...
    @property
    def throughput(self) -> float | None: ...  # submit_sm per second; None: unlimited
    @property
    def source_addresses(self) -> tuple[str, ...]: ...
    @property
    def submit_window(self) -> int | None: ...  # submits of one bind awaiting their response; None: no limit


@dataclass(slots=True)
class AccountState:
    """One account with its live bind count, compiled IP networks and source patterns, and rate bucket."""

    account: AccountLike
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    source_patterns: tuple[re.Pattern[str], ...]
    bucket: TokenBucket | None
    binds: int = 0
    #: The account's submit_window (None: no limit), and whether any rule applies to its submits (a throughput
    #: limit, source patterns or a window): without one the adapter checks nothing per submit.
    window: int | None = None
    has_submit_rules: bool = False
    #: True while the control API keeps the account from binding (PUT /api/accounts/{system_id}): its binds are
    #: refused with ESME_RBINDFAIL, those bound already go on; ``unlock`` the timer that ends a timed lock.
    locked: bool = False
    unlock: Any = None
    #: When a timed lock ends (simulation seconds), or None.
    unlocks_at: float | None = None
    #: Who locked it, for the refusals' reason ("the control API (PUT /api/accounts/{system_id})", "the config's
    #: scenario").
    locked_by: str = "the control API (PUT /api/accounts/{system_id})"

    #: The account's bind_types name neither transmitter nor transceiver: it only receives, and its receiver
    #: binds' data_sm (which SMPP 3.4 Table 2-1 allows from BOUND_RX) are refused ESME_RINVBNDSTS, as the
    #: operator who allowed receiver binds alone meant (tester 178: such an account sent MT with data_sm).
    receive_only: bool = False

    def __post_init__(self) -> None:
        self.window = getattr(self.account, "submit_window", None)
        bind_types = getattr(self.account, "bind_types", None)
        self.receive_only = bind_types is not None and not {"transmitter", "transceiver"} & set(bind_types)
        self.has_submit_rules = (self.bucket is not None or bool(self.source_patterns) or self.window is not None
                                 or self.receive_only)

    def allow_submit(self, now: float, messages: int = 1) -> bool:
        """Take one token of the account's throughput limit per message (a submit_multi counts its destinations,
        as a carrier counts messages: tester 42 sent 2,540 a second through a limit of 10 with 254-destination
        submit_multi); False means answer ESME_RTHROTTLED."""
        if self.bucket is None:
            return True
        return self.bucket.take(now) if messages == 1 else self.bucket.take_owing(now, messages)

    def refund(self, messages: int) -> None:
        """Give back the tokens :meth:`allow_submit` took for ``messages`` the core then refused (a number rule,
        a time or address it cannot take): a refused request costs nothing (tester 53)."""
        if self.bucket is not None and messages > 0:
            self.bucket.give_back(messages)

    def source_allowed(self, source_addr: str) -> bool:
        """True if the account may use ``source_addr`` (no patterns configured means any)."""
        return not self.source_patterns or any(p.fullmatch(source_addr) for p in self.source_patterns)


@dataclass(slots=True)
class Accounts:
    """The configured accounts (``smsc.config.Account``) with their live bind counts and rate buckets."""

    _by_id: dict[str, AccountState] = field(default_factory=dict)

    @classmethod
    def from_config(cls, accounts: Iterable[AccountLike], *, now: float = 0.0) -> "Accounts":
        """Build the policy from ``Config.accounts``; ``now`` starts the throughput buckets."""
        table: dict[str, AccountState] = {}
        for acc in accounts:
            nets = tuple(ipaddress.ip_network(c, strict=False) for c in acc.allowed_ips)
            pats = tuple(re.compile(p) for p in acc.source_addresses)
            bucket = TokenBucket(acc.throughput, now=now) if acc.throughput else None
            table[acc.system_id] = AccountState(acc, nets, pats, bucket)
        return cls(table)

    def authenticate(self, system_id: str, password: str, bind_type: BindType, peer_ip: str | None) -> int:
        """Decide a bind: ESME_ROK, or ESME_RINVSYSID (unknown system_id), ESME_RINVPASWD (wrong password),
        ESME_RBINDFAIL (bind type not allowed, address not allowed, or max_binds reached)."""
        return self.decide_bind(system_id, password, bind_type, peer_ip)[0]

    def decide_bind(self, system_id: str, password: str, bind_type: BindType, peer_ip: str | None) -> tuple[int, str]:
        """:meth:`authenticate`'s status with why, in words for the log ("" for ESME_ROK): which of
        ESME_RBINDFAIL's three causes, the account's own limit named (tester 50: a max_binds reached by leaked
        connections looked like a config mistake).  Never the password."""
        state = self._by_id.get(system_id)
        if state is None:
            return CommandStatus.ESME_RINVSYSID, f"no account has system_id {system_id!r}"
        acc = state.account
        # The address before the password: from outside allowed_ips every bind gets ESME_RBINDFAIL, so the answer
        # tells nothing of the password (tester 126: the right one got ESME_RBINDFAIL, a wrong one
        # ESME_RINVPASWD, and an address that may never bind could still guess it).
        if state.networks:
            try:
                ip = ipaddress.ip_address(peer_ip or "")
            except ValueError:
                return (CommandStatus.ESME_RBINDFAIL,
                        f"the peer address {peer_ip!r} cannot be checked against the account's allowed_ips")
            if not ip_in_networks(ip, state.networks):
                return (CommandStatus.ESME_RBINDFAIL,
                        f"{peer_ip} is not in the account's allowed_ips ({', '.join(acc.allowed_ips)})")
        if not hmac.compare_digest(password.encode("utf-8", "replace"), acc.password.encode("utf-8")):
            return CommandStatus.ESME_RINVPASWD, "wrong password"
        if state.locked:
            return CommandStatus.ESME_RBINDFAIL, f"the account is locked by {state.locked_by}: no bind until it is unlocked"
        name = _BIND_NAMES[bind_type]
        if name not in acc.bind_types:
            return (CommandStatus.ESME_RBINDFAIL,
                    f"bind type {name} is not in the account's bind_types ({', '.join(sorted(acc.bind_types))})")
        if state.binds >= acc.max_binds:
            return CommandStatus.ESME_RBINDFAIL, f"the account's max_binds ({acc.max_binds}) are bound already"
        return CommandStatus.ESME_ROK, ""

    def bound(self, system_id: str) -> None:
        """Count a bind that was accepted."""
        self._by_id[system_id].binds += 1

    def unbound(self, system_id: str) -> None:
        """Count a bind that ended."""
        state = self._by_id.get(system_id)
        if state is not None and state.binds > 0:
            state.binds -= 1

    def states(self) -> list[AccountState]:
        """Every account's state, in the config's order."""
        return list(self._by_id.values())

    def state_for(self, system_id: str) -> AccountState | None:
        """The live state of one account (its rate bucket and source patterns), for a bound session to
        keep at hand instead of looking it up on every submit."""
        return self._by_id.get(system_id)
