"""The start's warning about accounts anyone could guess, when SMPP listens beyond this machine (tester 126: the
Docker image listens on every interface with the bundled test/test account, and nothing said so)."""

from __future__ import annotations

import dataclasses

from smsc.app import guessable_accounts
from smsc.config import Account, load_config


def test_accounts_whose_password_is_their_system_id_are_named_only_beyond_loopback() -> None:
    config = load_config(None)  # (the bundled config: test/test and throttle/throttle)
    assert guessable_accounts(config, "0.0.0.0") == ["test", "throttle"]
    assert guessable_accounts(config, "::") == ["test", "throttle"]
    assert guessable_accounts(config, "192.0.2.10") == ["test", "throttle"]
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert guessable_accounts(config, host) == []
    own = dataclasses.replace(config, accounts=(Account(system_id="shop", password="s3cr3t!"),
                                                Account(system_id="perf", password="perf")))
    assert guessable_accounts(own, "0.0.0.0") == ["perf"]
