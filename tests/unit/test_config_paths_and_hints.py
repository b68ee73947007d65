"""Tester 70's config findings: a store.path that names no regular file (a FIFO hung check-config), YAML nested
too deeply (a RecursionError traceback), outbind.host not checked as a host, and the wording of a missing key and
of text that YAML reads as a number."""

from __future__ import annotations

import os
import socket
import textwrap
import threading
from pathlib import Path

import pytest

from smsc.cli import _store_notes
from smsc.config import Config, ConfigError, StoreConfig, check_config, load_config

ACCOUNT = "accounts: [{system_id: a, password: b}]\n"


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ store.path: no regular file


def test_a_store_path_naming_a_fifo_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tester 70: check-config printed OK and then hung, reading the FIFO for SQLite's header.
    monkeypatch.chdir(tmp_path)  # (relative paths, read from here as serve reads them: short in the messages)
    os.mkfifo("fifo.sqlite")
    path = write(tmp_path, ACCOUNT + "store: {path: fifo.sqlite}\n")
    assert check_config(path) == [
        f"{path}: store.path: expected the name of a regular file, or of none yet (smsc makes it), not of a FIFO "
        "(named pipe), got 'fifo.sqlite'"]
    # A link to one is the same (the path is followed, as SQLite follows it); a memory store opens no file.
    os.symlink("fifo.sqlite", "link.sqlite")
    path.write_text(ACCOUNT + "store: {path: link.sqlite}\n")
    assert check_config(path) == [
        f"{path}: store.path: expected the name of a regular file, or of none yet (smsc makes it), not of a FIFO "
        "(named pipe), got 'link.sqlite'"]
    path.write_text(ACCOUNT + "store: {kind: memory, path: fifo.sqlite}\n")
    assert check_config(path) == []


def test_a_store_path_naming_a_socket_or_a_device_is_a_config_error(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # (a socket's name is short: AF_UNIX paths have about 100 octets)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock.sqlite")
        path = write(tmp_path, ACCOUNT + "store: {path: sock.sqlite}\n")
        assert check_config(path) == [
            f"{path}: store.path: expected the name of a regular file, or of none yet (smsc makes it), not of a "
            "socket, got 'sock.sqlite'"]
    path.write_text(ACCOUNT + "store: {path: /dev/null}\n")
    assert check_config(path) == [
        f"{path}: store.path: expected the name of a regular file, or of none yet (smsc makes it), not of a "
        "character device, got '/dev/null'"]


def test_store_path_problem_is_one_rule_for_every_kind_of_path(tmp_path: Path) -> None:
    from smsc.config import store_path_problem

    regular = tmp_path / "s.sqlite"
    regular.write_bytes(b"")
    fifo = tmp_path / "f.sqlite"
    os.mkfifo(fifo)
    directory = "the name of a file, not of a directory (such as data/smsc.sqlite)"
    assert store_path_problem(str(regular)) is None
    assert store_path_problem(str(tmp_path / "new.sqlite")) is None  # (nothing yet: the store makes it)
    assert store_path_problem(str(tmp_path / "no-dir" / "x.sqlite")) is None  # (a note: config_notes)
    assert store_path_problem(str(tmp_path)) == directory
    assert store_path_problem("data/") == directory
    assert store_path_problem(str(fifo)) == ("the name of a regular file, or of none yet (smsc makes it), not of a "
                                             "FIFO (named pipe)")
    # (no traceback; tester 85: refused, as no file can have the name, for serve --db as for store.path)
    assert store_path_problem("a\0b") == "a file path without a NUL character (no path can contain one)"


def test_store_notes_never_open_a_fifo(tmp_path: Path) -> None:
    """Even for a config made without load_config (which refuses the path): opening a FIFO to read waits for a
    writer for ever."""
    fifo = tmp_path / "fifo.sqlite"
    os.mkfifo(fifo)
    config = Config(source="c.yaml", store=StoreConfig(path=str(fifo)))
    notes: list[list[str]] = []
    thread = threading.Thread(target=lambda: notes.append(_store_notes(config)), daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():  # (let the reader go: a writer that opens the FIFO ends its wait)
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(5)
        pytest.fail("_store_notes opened the FIFO and waited for a writer")
    assert notes == [[]]


# ------------------------------------------------------------------------------------- nesting too deep


@pytest.mark.parametrize("body", ["[" * 5000 + "]" * 5000, "{a: " * 5000 + "1" + "}" * 5000])
def test_yaml_nested_too_deeply_is_a_config_error_naming_the_file(tmp_path: Path, body: str) -> None:
    # Tester 70: a RecursionError traceback from PyYAML, in check-config and serve alike.
    path = write(tmp_path, ACCOUNT + "server: " + body + "\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.errors == [
        f"{path}: expected lists and mappings nested a few levels deep, as in config/example.yaml, got a document "
        "nested too deeply to read (hundreds of levels)"]
    assert exc.value.__cause__ is None and exc.value.__suppress_context__


def test_yaml_nested_a_little_is_read_as_before(tmp_path: Path) -> None:
    path = write(tmp_path, ACCOUNT + "server: " + "[" * 50 + "]" * 50 + "\n")
    assert check_config(path) == [f"{path}: server: expected a mapping with the keys host, port, system_id, "
                                  "max_command_length, max_connections, max_connections_per_ip, max_bind_failures, "
                                  "session_init_timer, enquire_link_timer, inactivity_timer, response_timer, window, "
                                  "message_id, tls, year_pivot, oversized_short_message, got a list"]


# ------------------------------------------------------------------------------------------- outbind.host


def _outbind(tmp_path: Path, host: str) -> Path:
    return write(tmp_path, f"accounts: [{{system_id: a, password: b, outbind: {{host: {host}, port: 2776}}}}]\n")


def test_an_outbind_host_with_a_port_says_where_the_port_goes(tmp_path: Path) -> None:
    # Tester 70: "127.0.0.1:2776" passed check-config; every outbind then failed "Name or service not known".
    for host in ("'127.0.0.1:2776'", "'esme.example.com:2776'", "'[::1]:2776'"):
        path = _outbind(tmp_path, host)
        assert check_config(path) == [
            f"{path}: accounts[0].outbind.host: expected the ESME's IP address or host name (for example 10.0.0.5, "
            f"::1, esme.example.com) without a port: the port belongs in accounts[0].outbind.port, got {host}"]


def test_an_outbind_host_that_is_no_host_name_is_refused(tmp_path: Path) -> None:
    # Tester 70: "not a host" passed; serve --host refuses the same text.
    for host in ("'not a host'", "'999.1.1.1'", "'-esme'", "'esme..example'", "'http://esme'"):
        path = _outbind(tmp_path, host)
        assert check_config(path) == [
            f"{path}: accounts[0].outbind.host: expected the ESME's IP address or host name (for example 10.0.0.5, "
            f"::1, esme.example.com), got {host}"], host


def test_an_outbind_host_that_is_an_address_or_a_name_passes(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "'::1'", "localhost", "esme.example.com", "esme.example.com.", "ESME-1",
                 "my_esme", "esme_1.internal"):  # (underscores: container names, Docker Compose's)
        path = _outbind(tmp_path, host)
        assert check_config(path) == [], host
        config = load_config(path)
        assert config.accounts[0].outbind is not None
        assert config.accounts[0].outbind.host == host.strip("'")


# ------------------------------------------------------------------------------------ wording of errors


def test_a_missing_outbind_port_is_said_to_be_missing(tmp_path: Path) -> None:
    # Tester 70: "got null", where every other missing key says it is missing.
    path = write(tmp_path, "accounts: [{system_id: a, password: b, outbind: {host: 127.0.0.1}}]\n")
    assert check_config(path) == [f"{path}: accounts[0].outbind.port: expected a TCP port from 1 to 65535, got "
                                  "nothing (the key is missing)"]
    path.write_text("accounts: [{system_id: a, password: b, outbind: {host: 127.0.0.1, port: null}}]\n")
    assert check_config(path) == [f"{path}: accounts[0].outbind.port: expected an integer from 1 to 65535, got null"]


def test_missing_accounts_are_said_to_be_missing(tmp_path: Path) -> None:
    what = "accounts: expected at least one account (a list of mappings with system_id and password), got"
    path = write(tmp_path, "server: {port: 2775}\n")
    assert check_config(path) == [f"{path}: {what} nothing (the key is missing)"]
    path.write_text("accounts:\n")
    assert check_config(path) == [f"{path}: {what} null"]
    path.write_text("")  # (an empty file is null itself: as before)
    assert check_config(path) == [f"{path}: {what} null"]


def test_a_password_yaml_reads_as_no_text_gets_a_hint_to_quote_it_and_is_not_shown(tmp_path: Path) -> None:
    # Tester 70: password: 1e3 was "a value that is not text", with no word of quotes.
    for value, read_as in (("1e3", "a number"), ("1.5", "a number"), (".inf", "a number"),
                           ("true", "true or false"), ("2026-01-01", "a date")):
        path = write(tmp_path, f"accounts: [{{system_id: a, password: {value}}}]\n")
        assert check_config(path) == [
            f"{path}: accounts[0].password: expected a password of at most 8 characters, got a value that is not "
            f"text (not shown; YAML reads it as {read_as}: quote it: password: \"...\")"], value
    path = write(tmp_path, "accounts: [{system_id: a, password: [x]}]\n")  # (quotes would not help: no hint)
    assert check_config(path) == [f"{path}: accounts[0].password: expected a password of at most 8 characters, got "
                                  "a value that is not text (not shown)"]
    path = write(tmp_path, "accounts: [{system_id: a, password: \"1e3\"}]\n")
    assert check_config(path) == [] and load_config(path).accounts[0].password == "1e3"


def test_text_yaml_reads_as_a_number_gets_a_hint_to_quote_it_as_written(tmp_path: Path) -> None:
    path = write(tmp_path, "accounts: [{system_id: 1e3, password: b}]\n")
    assert check_config(path) == [
        f"{path}: accounts[0].system_id: expected a system_id of 1 to 15 characters, got 1000.0 (YAML reads it as a "
        "number: quote it: system_id: \"1e3\")"]
    path = write(tmp_path, "accounts: [{system_id: false, password: b}]\n")
    assert check_config(path) == [
        f"{path}: accounts[0].system_id: expected a system_id of 1 to 15 characters, got false (YAML reads it as "
        "true or false: quote it: system_id: \"false\")"]
    path = write(tmp_path, ACCOUNT + "topology: {carriers: [{name: a, handsets: {opt_out_keywords: [1.50]}}]}\n")
    assert check_config(path) == [
        f"{path}: topology.carriers[0].handsets.opt_out_keywords[0]: expected non-empty text, got 1.5 (YAML reads "
        "it as a number: quote it: \"1.50\")"]
    # Numbers where numbers are expected are read as before.
    path = write(tmp_path, ACCOUNT + "simulation: {time_scale: 1e3}\n")
    config = load_config(path)
    assert config.simulation.time_scale == 1000.0 and type(config.simulation.time_scale) is float


# ------------------------------------------------------------------------------------- config/example.yaml


def test_example_says_which_status_a_bind_from_outside_allowed_ips_gets() -> None:
    """Tester 70: the accounts comment gave ESME_RBINDFAIL for "a bind type not allowed or too many binds" only;
    the status is the one the account check returns."""
    from smsc.core.accounts import Accounts
    from smsc.smpp.constants import BindType, CommandStatus

    example = Path(__file__).resolve().parents[2] / "config" / "example.yaml"
    config = load_config(example)
    shop = config.account("shop")
    assert shop is not None and shop.allowed_ips
    status, why = Accounts.from_config(config.accounts).decide_bind("shop", shop.password, BindType.TRANSCEIVER,
                                                                    "10.9.9.9")
    assert status == CommandStatus.ESME_RBINDFAIL and "allowed_ips" in why
    text = example.read_text()
    header = text[text.index("# ESME logins."):text.index("\naccounts:")]
    assert "outside allowed_ips" in header and "-> ESME_RBINDFAIL" in " ".join(header.split())
    (allowed,) = [line for line in text.splitlines() if line.strip().startswith("allowed_ips: []")]
    after = text.split(allowed, 1)[1].splitlines()[1]  # (the comment goes on on the next line)
    assert "ESME_RBINDFAIL" in after


def test_an_mo_route_to_an_account_that_may_only_transmit_is_refused(tmp_path: Path) -> None:
    # Tester 74: check-config said OK, POST /api/mo answered 202, and the MO waited for ever (no bind of a
    # transmitter-only account takes deliver_sm).
    path = write(tmp_path, "accounts:\n  - {system_id: tx, password: pw, bind_types: [transmitter]}\n"
                           "  - {system_id: rx, password: pw}\n"
                           "topology:\n  mo_routes:\n    - {number: '88123', system_id: tx}\n")
    assert check_config(path) == [
        f"{path}: topology.mo_routes[0].system_id: expected the system_id of an account whose bind_types allow "
        "receiver or transceiver (rx), got 'tx', which may only bind as transmitter"]


def test_an_outbind_host_that_no_connection_can_go_to_is_refused(tmp_path: Path) -> None:
    # Tester 74: 0.0.0.0, multicast and broadcast addresses passed; "[::1]" was refused with no word of the brackets.
    what = "accounts[0].outbind.host: expected the ESME's IP address or host name (for example 10.0.0.5, ::1, " \
           "esme.example.com)"
    for host, why in (("0.0.0.0", "the unspecified address (it names every interface of a listener)"),
                      ("'::'", "the unspecified address (it names every interface of a listener)"),
                      ("224.0.0.1", "a multicast address"), ("255.255.255.255", "the broadcast address"),
                      ("'::ffff:0.0.0.0'", "the unspecified address (it names every interface of a listener)")):
        path = _outbind(tmp_path, host)
        shown = host if host.startswith("'") else f"'{host}'"
        assert check_config(path) == [f"{path}: {what}: one host's address, not {why}, got {shown}"], host
    path = _outbind(tmp_path, "'[::1]'")
    assert check_config(path) == [f"{path}: {what}, an IPv6 address without brackets, got '[::1]'"]


# ------------------------------------------------------------------------------ tester 167


def one_carrier(tmp_path: Path, setting: str) -> Path:
    """A config file with the account and one carrier "c" for the prefix 49, with ``setting`` (a line of YAML
    at the carrier's level) added."""
    return write(tmp_path, ACCOUNT + "topology:\n  carriers:\n    - name: c\n      prefixes: ['49']\n"
                 f"      {setting}\n")


def test_an_opt_out_submit_status_of_0_is_refused_as_the_other_submit_statuses_are(tmp_path: Path) -> None:
    # Tester 167: ESME_ROK checked OK and acted as null (the submit taken, the message rejected later).
    path = one_carrier(tmp_path, "opt_out: {submit_status: ESME_ROK}")
    assert check_config(path) == [
        f"{path}: topology.carriers[0].opt_out.submit_status: expected an error status (not 0; null "
        "accepts the submit and rejects the message as it is attempted), got 'ESME_ROK'"]


def test_a_misspelt_status_is_not_said_to_mean_esme_rok(tmp_path: Path) -> None:
    # Tester 167: "ESME_NOPE ... (did you mean 'ESME_ROK'?)" for a rule whose point is a failure.
    path = one_carrier(tmp_path, "rules: [{numbers: ['4915000000001'], submit: {status: ESME_RSUBMITFAL}}, "
                                 "{numbers: ['4915000000002'], submit: {status: ESME_NOPE}}]")
    errors = check_config(path)
    assert len(errors) == 2 and "did you mean 'ESME_RSUBMITFAIL'?" in errors[0], errors
    assert "ESME_ROK" not in errors[1], errors


def test_a_scenario_names_the_accounts_once_each_and_says_when_there_is_none(tmp_path: Path) -> None:
    # Tester 167: "(appA, appA)" for a duplicated account, "(appA, )" beside a bad one, "()" with none.
    path = write(tmp_path, """
        accounts: [{system_id: appA, password: b}, {system_id: appA, password: c}, {system_id: ToooLongSystemId16, password: d}]
        scenario: [{at: 1m, account: appB, locked: true}]
        """)
    errors = check_config(path)
    assert any("scenario[0].account: expected the system_id of an account (appA), got 'appB'" in e for e in errors), \
        errors
    path = write(tmp_path, """
        acounts: [{system_id: appA, password: b}]
        scenario: [{at: 1m, account: appB, locked: true}]
        """)
    errors = check_config(path)
    assert any("scenario[0].account: expected the system_id of an account (none is configured), got 'appB'" in e
               for e in errors), errors


@pytest.mark.parametrize(("key", "value"), [
    ("accounts[0].max_binds", "99999999999999999999999999"), ("server.max_connections", "99999999999999"),
    ("store.max_waiting_messages", "99999999999999999999"), ("simulation.seed", "-1"),
    ("simulation.seed", "123456789012345678901234567890"),
])
def test_counts_of_many_digits_and_a_negative_seed_are_refused(tmp_path: Path, key: str, value: str) -> None:
    # Tester 167: each checked OK and started (a 26-digit max_binds came back in /api/accounts, past what a
    # JavaScript client reads exactly).
    section, name = key.split(".")
    if section == "accounts[0]":
        text = f"accounts: [{{system_id: a, password: b, {name}: {value}}}]\n"
    else:
        text = ACCOUNT + f"{section}: {{{name}: {value}}}\n"
    errors = check_config(write(tmp_path, text))
    assert len(errors) == 1 and f": {key}: expected " in errors[0] and errors[0].endswith(f"got {value}"), errors


def test_auto_reply_keywords_that_differ_only_in_case_are_refused(tmp_path: Path) -> None:
    # Tester 167: {PIN: "9999", pin: "1111"} checked OK; keywords match whatever the case, so one was never used.
    path = one_carrier(tmp_path, "handsets: {auto_reply: {keywords: {PIN: '9999', pin: '1111'}}}")
    assert check_config(path) == [
        f"{path}: topology.carriers[0].handsets.auto_reply.keywords.pin: expected a word not given already (keywords "
        "match whatever the case: 'PIN' is), got 'pin'"]
