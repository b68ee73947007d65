"""Bind decisions and throughput limits of the accounts policy (SMPP 3.4 section 4.1)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from smsc.core.accounts import Accounts
from smsc.core.throttle import TokenBucket
from smsc.smpp.constants import BindType, CommandStatus as S


@dataclass(frozen=True)
class Acc:
    system_id: str
    password: str
    bind_types: frozenset[str] = frozenset({"transmitter", "receiver", "transceiver"})
    max_binds: int = 2
    allowed_ips: tuple[str, ...] = ()
    throughput: float | None = None
    source_addresses: tuple[str, ...] = field(default_factory=tuple)


def test_credentials_decide_the_status() -> None:
    acc = Accounts.from_config([Acc("test", "secret")])
    assert acc.authenticate("test", "secret", BindType.TRANSCEIVER, "127.0.0.1") == S.ESME_ROK
    assert acc.authenticate("test", "wrong", BindType.TRANSCEIVER, "127.0.0.1") == S.ESME_RINVPASWD
    assert acc.authenticate("other", "secret", BindType.TRANSCEIVER, "127.0.0.1") == S.ESME_RINVSYSID


def test_bind_type_not_allowed_is_bindfail() -> None:
    acc = Accounts.from_config([Acc("rx", "pw", bind_types=frozenset({"receiver"}))])
    assert acc.authenticate("rx", "pw", BindType.TRANSMITTER, None) == S.ESME_RBINDFAIL
    assert acc.authenticate("rx", "pw", BindType.RECEIVER, None) == S.ESME_ROK


def test_max_binds_counts_live_binds() -> None:
    acc = Accounts.from_config([Acc("a", "pw", max_binds=1)])
    assert acc.authenticate("a", "pw", BindType.TRANSMITTER, None) == S.ESME_ROK
    acc.bound("a")
    assert acc.authenticate("a", "pw", BindType.TRANSMITTER, None) == S.ESME_RBINDFAIL
    acc.unbound("a")
    assert acc.authenticate("a", "pw", BindType.TRANSMITTER, None) == S.ESME_ROK


@pytest.mark.parametrize(("ip", "status"), [
    ("10.1.2.3", S.ESME_ROK), ("192.168.0.1", S.ESME_RBINDFAIL), (None, S.ESME_RBINDFAIL),
    # An IPv4 client of a listener on "::" (tester 67: refused, where check-config read it as IPv4)
    ("::ffff:10.1.2.3", S.ESME_ROK), ("::ffff:192.168.0.1", S.ESME_RBINDFAIL),
])
def test_allowed_ip_ranges(ip: str | None, status: int) -> None:
    acc = Accounts.from_config([Acc("a", "pw", allowed_ips=("10.0.0.0/8",))])
    assert acc.authenticate("a", "pw", BindType.TRANSCEIVER, ip) == status


def test_an_address_outside_allowed_ips_learns_nothing_of_the_password() -> None:
    """Tester 126: the password was checked first, so an address that may never bind could still guess it."""
    acc = Accounts.from_config([Acc("a", "pw", allowed_ips=("10.0.0.0/8",))])
    assert acc.authenticate("a", "wrong", BindType.TRANSCEIVER, "192.168.0.1") == S.ESME_RBINDFAIL
    assert acc.authenticate("a", "pw", BindType.TRANSCEIVER, "192.168.0.1") == S.ESME_RBINDFAIL
    assert acc.authenticate("a", "wrong", BindType.TRANSCEIVER, "10.0.0.1") == S.ESME_RINVPASWD


def test_source_address_patterns() -> None:
    acc = Accounts.from_config([Acc("a", "pw", source_addresses=(r"ACME", r"4477\d+"))])
    state = acc.state_for("a")
    assert state is not None
    assert state.source_allowed("ACME")
    assert state.source_allowed("447700900001")
    assert not state.source_allowed("OTHER")


def test_throughput_limit_is_a_token_bucket_per_account() -> None:
    acc = Accounts.from_config([Acc("a", "pw", throughput=10.0)], now=0.0)
    state = acc.state_for("a")
    assert state is not None
    assert sum(state.allow_submit(0.0) for _ in range(20)) == 10
    assert sum(state.allow_submit(0.5) for _ in range(20)) == 5  # half a second refills half the bucket


def test_a_submit_multi_takes_a_token_per_destination_owing_what_the_bucket_lacks() -> None:
    # Tester 42: a submit_multi cost one token whatever its destinations: 2,540 messages a second through a
    # limit of 10 with 254 destinations each.
    acc = Accounts.from_config([Acc("a", "pw", throughput=10.0)], now=0.0)
    state = acc.state_for("a")
    assert state is not None
    assert state.allow_submit(0.0, 254)  # a full bucket (10) lets it pass, owing 244 tokens
    assert not state.allow_submit(1.0) and not state.allow_submit(24.0)  # -234, -4: nothing until paid back
    assert state.allow_submit(24.6)  # 2 tokens, 1 left
    # 5 tokens at 25.0: 3-destination submit_multi pass while a whole token is there (5 -> 2 -> -1).
    assert [state.allow_submit(25.0, 3) for _ in range(3)] == [True, True, False]


def test_token_bucket_wait_time_and_bad_rate() -> None:
    b = TokenBucket(2.0, burst=1.0, now=0.0)
    assert b.take(0.0) and not b.take(0.0)
    assert b.wait_time(0.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        TokenBucket(0)
