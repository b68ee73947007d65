"""Tester 85's config findings: integers of more digits than Python reads (and numbers too large for a float)
ended check-config and serve in a traceback; a store.path with a NUL character passed check-config and then
crashed it; a default_validity above the default max_validity was blamed on max_validity; and an MO route's
suggested accounts included accounts whose bind_types were themselves refused."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from smsc.cli import main
from smsc.config import check_config, load_config

ACCOUNT = "accounts: [{system_id: a, password: b}]\n"
#: The most digits Python reads as an int (4,300 unless the interpreter was told otherwise).
LIMIT = sys.get_int_max_str_digits()
DURATION_HINT = ("(seconds, or text such as '30s', '5m', '1h30m', '3d', '90 seconds', '5 minutes'; each unit once, "
                 "the largest first)")


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ------------------------------------------------------------------------- integers too long to read

NINES = "9" * (LIMIT + 700)


@pytest.mark.parametrize(("yaml_text", "expected"), [
    (f"server: {{port: {NINES}}}",
     f"server.port: expected an integer from 0 to 65535, got {'9' * 20}... (an integer of {LIMIT + 700:,} digits)"),
    (f"server: {{port: {'0' * (LIMIT + 701)}}}",
     f"server.port: expected an integer from 0 to 65535, got {'0' * 20}... (an integer of {LIMIT + 701:,} digits)"),
    (f"server: {{port: -{NINES}}}",
     f"server.port: expected an integer from 0 to 65535, got -{'9' * 19}... (an integer of {LIMIT + 700:,} digits)"),
    (f"simulation: {{seed: {NINES}}}",
     f"simulation.seed: expected an integer from 0 to {2**64 - 1}, got {'9' * 20}... (an integer of "
     f"{LIMIT + 700:,} digits)"),
    # (hexadecimal text has no limit, but serve writes the seed in decimal: that was a traceback at start)
    (f"simulation: {{seed: 0x{'f' * (LIMIT)}}}",
     f"simulation.seed: expected an integer from 0 to {2**64 - 1}, got 0x{'f' * 18}... (an integer of more "
     f"than {LIMIT:,} digits in decimal)"),
    (f"simulation: {{default_validity: {NINES}}}",
     f"simulation.default_validity: expected a duration > 0 and at most 3155760000 s (100 years) {DURATION_HINT}, got "
     f"{'9' * 20}... (an integer of {LIMIT + 700:,} digits)"),
    (f"foo: {NINES}", "foo: expected a known key (one of: server, accounts, store, simulation, http, topology, "
                      "scenario), got 'foo'"),
    # (where text is expected it is text, as every integer is, and refused for its length)
    (f"http: {{host: {NINES}}}", None),
], ids=["port", "zeros", "negative", "seed", "hex-seed", "duration", "unknown-key", "text"])
def test_an_integer_of_more_digits_than_python_reads_is_a_config_error(
        tmp_path: Path, yaml_text: str, expected: str | None) -> None:
    # Tester 85: "ValueError: Exceeds the limit (4300 digits) for integer string conversion" from _construct_int.
    path = write(tmp_path, ACCOUNT + yaml_text + "\n")
    errors = check_config(path)
    if expected is None:
        assert len(errors) == 1 and errors[0].startswith(f"{path}: http.host: expected "), errors
    else:
        assert errors == [f"{path}: {expected}"]


def test_numbers_too_large_for_a_float_are_config_errors(tmp_path: Path) -> None:
    # (found beside tester 85's: 400 digits are read as an int, and float() of it raised OverflowError)
    big = "9" * 400
    shown = f"{'9' * 20}... (an integer of 400 digits)"
    path = write(tmp_path, f"accounts: [{{system_id: a, password: b, throughput: {big}}}]\n"
                           f"simulation: {{time_scale: {big}, max_schedule: {big}}}\n")
    assert check_config(path) == [
        f"{path}: accounts[0].throughput: expected a number > 0 (at most 1.79769e+308), got {shown}",
        f"{path}: simulation.time_scale: expected a number from 0.001 to 86400, got {shown}",
        f"{path}: simulation.max_schedule: expected a duration >= 0 and at most 3155760000 s (100 years) {DURATION_HINT}, "
        f"got {shown}",
    ]


def test_a_duration_text_too_long_for_a_float_is_refused_where_it_is_written(tmp_path: Path) -> None:
    # Tester 85: default_validity '999...9s' read as infinity and was reported as max_validity's fault, "(inf s)".
    path = write(tmp_path, ACCOUNT + f"simulation: {{default_validity: '{'9' * 400}s'}}\n")
    errors = check_config(path)
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}: simulation.default_validity: expected a duration > 0 and at most "
                                "3155760000 s (100 years) ")


@pytest.mark.parametrize("value", ["!!int abc", "!!float abc", "!!bool abc", "2026-02-30T00:00:00Z",
                                   "2026-13-01", "!!timestamp abc"])
def test_a_scalar_yaml_cannot_read_as_its_type_is_kept_as_text(tmp_path: Path, value: str) -> None:
    # (found beside tester 85's: an unquoted start_time on a day that does not exist ended in a ValueError traceback
    # from datetime, an explicit tag on the wrong text in a ValueError or KeyError one)
    path = write(tmp_path, ACCOUNT + f"simulation: {{start_time: {value}}}\n")
    written = value.split()[-1]
    assert check_config(path) == [
        f"{path}: simulation.start_time: expected a date and time with its UTC offset, from 2000 to 2037, such as "
        f"2026-01-01T00:00:00Z (ISO 8601), got {written!r}"]


def test_check_config_and_serve_report_a_long_integer_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ACCOUNT + f"server: {{port: {NINES}}}\n")
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: server.port: expected an integer from 0 to 65535" in err and "Traceback" not in err
    assert main(["serve", "-c", str(path), "--port", "0", "--http-port", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{path}: server.port: expected an integer from 0 to 65535" in err
    assert "smsc: not starting: 1 error(s) in the config" in err


# ------------------------------------------------------------------------------ paths no file can have

NUL = "a file path without a NUL character (no path can contain one)"


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_store_path_with_a_nul_character_is_a_config_error(tmp_path: Path, kind: str) -> None:
    # Tester 85: check-config printed OK and then a traceback ("embedded null byte"); serve crashed.  A memory store
    # opens no file, but serve --store sqlite opens its path.
    path = write(tmp_path, ACCOUNT + f'store: {{kind: {kind}, path: "a\\0b"}}\n')
    assert check_config(path) == [f"{path}: store.path: expected {NUL}, got 'a\\x00b'"]


def test_check_config_and_serve_refuse_a_store_path_with_a_nul_character(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ACCOUNT + 'store: {path: "a\\0b"}\n')
    assert main(["check-config", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "OK" not in out
    assert err == f"{path}: store.path: expected {NUL}, got 'a\\x00b'\n{path}: 1 error(s)\n"
    assert main(["serve", "-c", str(path), "--port", "0", "--http-port", "0"]) == 2
    assert f"{path}: store.path: expected {NUL}" in capsys.readouterr().err


def test_tls_files_and_a_store_path_no_file_system_can_name_are_config_errors(tmp_path: Path) -> None:
    # A TLS file with a NUL character was "not an existing file (looked for ...)", which did not say why.
    path = write(tmp_path, ACCOUNT + 'server: {tls: {port: 3775, certfile: "c\\0.pem", keyfile: "k\\ud800.pem"}}\n'
                                     'store: {path: "s\\ud800"}\n')
    surrogate = ("a file path the file system encoding (utf-8) can write (no lone surrogate such as '\\ud800')"
                 if sys.getfilesystemencoding() == "utf-8" else None)
    errors = check_config(path)
    assert errors[0] == f"{path}: server.tls.certfile: expected {NUL}, got 'c\\x00.pem'"
    if surrogate is not None:
        assert errors[1:] == [f"{path}: server.tls.keyfile: expected {surrogate}, got 'k\\ud800.pem'",
                              f"{path}: store.path: expected {surrogate}, got 's\\ud800'"]


# ----------------------------------------------------------------------------------------- validity


@pytest.mark.parametrize("value", ['"10000d"', "3000000000"])
def test_a_default_validity_above_the_default_max_validity_is_blamed_on_default_validity(
        tmp_path: Path, value: str) -> None:
    # Tester 85: "simulation.max_validity: expected a duration >= default_validity (...), got 604800.0": a key
    # and a value the file never had.
    path = write(tmp_path, ACCOUNT + f"simulation: {{default_validity: {value}}}\n")
    assert check_config(path) == [
        f"{path}: simulation.default_validity: expected a duration <= max_validity (604800 s, its default; set "
        f"max_validity to allow longer), got {value.replace(chr(34), chr(39))}"]


def test_max_validity_below_default_validity_is_blamed_on_max_validity_when_given(tmp_path: Path) -> None:
    path = write(tmp_path, ACCOUNT + "simulation: {default_validity: 2h, max_validity: 1h}\n")
    assert check_config(path) == [
        f"{path}: simulation.max_validity: expected a duration >= default_validity (7200 s), got '1h'"]
    path = write(tmp_path, ACCOUNT + "simulation: {max_validity: 1h}\n")
    assert check_config(path) == [
        f"{path}: simulation.max_validity: expected a duration >= default_validity (172800 s, its default), got '1h'"]
    # (a refused default_validity is reported once, not compared again as its default)
    path = write(tmp_path, ACCOUNT + "simulation: {default_validity: soon, max_validity: 1h}\n")
    assert check_config(path) == [
        f"{path}: simulation.default_validity: expected a duration > 0 {DURATION_HINT}, got 'soon'"]
    path = write(tmp_path, ACCOUNT + "simulation: {default_validity: 10000d, max_validity: 10000d}\n")
    assert load_config(path).simulation.max_validity == 864_000_000.0


# ---------------------------------------------------------------------------------- MO route hints


def test_an_mo_route_hint_names_only_accounts_whose_bind_types_were_read(tmp_path: Path) -> None:
    # Tester 85: "accounts whose bind_types allow receiver or transceiver (ty, tz)" named accounts with
    # bind_types: [] and bind_types: transmitter, both refused (and read as every bind type).
    path = write(tmp_path, """\
        accounts:
          - {system_id: tx, password: tx, bind_types: [transmitter]}
          - {system_id: ty, password: ty, bind_types: []}
          - {system_id: tz, password: tz, bind_types: transmitter}
          - {system_id: tw, password: tw, bind_types: [receiver, recever]}
          - {system_id: rx, password: rx, bind_types: [receiver]}
        topology:
          mo_routes:
            - {number: "88123", system_id: tx}
        """)
    errors = check_config(path)
    assert errors[-1] == (
        f"{path}: topology.mo_routes[0].system_id: expected the system_id of an account whose bind_types allow "
        "receiver or transceiver (rx), got 'tx', which may only bind as transmitter")
    assert len(errors) == 4  # (ty's, tz's and tw's bind_types, and the route)
    path = write(tmp_path, """\
        accounts:
          - {system_id: tx, password: tx, bind_types: [transmitter]}
          - {system_id: ty, password: ty, bind_types: []}
        topology:
          mo_routes:
            - {number: "88123", system_id: tx}
        """)
    assert check_config(path)[-1].endswith(
        "whose bind_types allow receiver or transceiver (none of the accounts may: see their bind_types), got 'tx', "
        "which may only bind as transmitter")


# ------------------------------------------------------------------------------ tester 92

@pytest.mark.parametrize(("section", "value"), [
    ("server: {system_id: \"sm\\0sc\"}", "server.system_id"),
    ("server: {system_id: \"sms\\u20ac\"}", "server.system_id"),
])
def test_a_system_id_no_bind_resp_can_carry_is_a_config_error(tmp_path: Path, section: str, value: str) -> None:
    """Tester 92: ``server.system_id: "sm\\0sc"`` (or a character beyond Latin-1) passed check-config, then every
    bind_resp failed to encode: no answer, the connection dropped, a traceback in the log."""
    errors = check_config(write(tmp_path, ACCOUNT + section + "\n"))
    assert len(errors) == 1 and f"{value}: expected a system_id of printable ASCII (or Latin-1) characters" in errors[0]


def test_an_account_system_id_no_esme_can_send_is_a_config_error(tmp_path: Path) -> None:
    errors = check_config(write(tmp_path, 'accounts: [{system_id: "on\\u20ac", password: x}]\n'))
    assert len(errors) == 1 and "accounts[0].system_id: expected a system_id of printable ASCII" in errors[0]
    assert check_config(write(tmp_path, 'accounts: [{system_id: "caf\\u00e9", password: x}]\n')) == []


def test_a_config_that_is_no_regular_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """Tester 92: a named pipe as the config hung check-config (opening one waits for a writer), /dev/zero ended it
    in a MemoryError traceback."""
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "a named pipe (FIFO)"), (Path("/dev/zero"), "a character device"),
                       (tmp_path, "a directory")):
        assert check_config(path) == [f"{path}: expected a regular file of YAML text, got {kind}"]


def test_a_config_file_beyond_the_size_limit_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from smsc import config as config_module

    monkeypatch.setattr(config_module, "MAX_CONFIG_OCTETS", 1 << 20)
    path = write(tmp_path, ACCOUNT + "# " + "x" * (1 << 20) + "\n")
    assert check_config(path) == [f"{path}: expected a config of at most 1 MiB, got a larger file"]


def test_an_unknown_key_of_thousands_of_characters_is_shown_short(tmp_path: Path) -> None:
    path = write(tmp_path, ACCOUNT + "? " + "x" * 5000 + "\n: 1\n")
    [error] = check_config(path)
    assert len(error) < 400 and "... (5,000 characters)" in error


def test_an_unknown_key_with_control_characters_is_shown_escaped(tmp_path: Path) -> None:
    """Tester 96: a key holding an escape sequence or a line break was printed raw (it could clear the terminal,
    or split one error over lines)."""
    path = write(tmp_path, ACCOUNT + '"bad\\x1b[2Jkey\\nx": 1\n')
    [error] = check_config(path)
    assert "\x1b" not in error and "\n" not in error and "bad\\x1b[2Jkey\\nx" in error


@pytest.mark.parametrize(("key", "value"), [
    ("server: {response_timer: 1e308}", "1e+308"), ("simulation: {transaction_timeout: 1e300}", "1e+300"),
    ("simulation: {max_validity: 99999999999999999999d}", "'99999999999999999999d'"),
    ("simulation: {retry_schedule: [60, 1e300]}", "1e+300"),
])
def test_a_duration_longer_than_100_years_is_a_config_error(tmp_path: Path, key: str, value: str) -> None:
    """Tester 98: response_timer 1e308, retry_schedule [1e300] and the like passed check-config, and the API then
    showed dates of 9999-12-31 (a next attempt after the message's expiry)."""
    path = write(tmp_path, ACCOUNT + key + "\n")
    errors = check_config(path)
    assert len(errors) == 1 and "and at most 3155760000 s (100 years)" in errors[0], errors
    assert errors[0].endswith(f"got {value}"), errors


def test_submit_window_is_a_whole_number_of_at_least_one_or_null(tmp_path: Path) -> None:
    path = write(tmp_path, "accounts: [{system_id: a, password: b, submit_window: 0}, "
                           "{system_id: c, password: d, submit_window: 3}, {system_id: e, password: f, "
                           "submit_window: null}]\n")
    assert check_config(path) == [f"{path}: accounts[0].submit_window: expected an integer >= 1, got 0"]
    path = write(tmp_path, "accounts: [{system_id: c, password: d, submit_window: 3}, {system_id: e, password: f}]\n")
    assert [a.submit_window for a in load_config(path).accounts] == [3, None]


def test_http_allowed_hosts_is_a_list_of_names_read_in_lower_case(tmp_path: Path) -> None:
    path = write(tmp_path, ACCOUNT + "http: {allowed_hosts: [SMSC, smsc.lab.example.]}\n")
    assert load_config(path).http.allowed_hosts == ("smsc", "smsc.lab.example")
    path = write(tmp_path, ACCOUNT + "http: {allowed_hosts: smsc}\n")
    assert check_config(path) == [f"{path}: http.allowed_hosts: expected a list of host names, got 'smsc'"]
    # (tester 112: entries that could never match passed)
    path = write(tmp_path, ACCOUNT + "http: {allowed_hosts: ['smsc:8080', '*.example.org', '.', 'bücher.example']}\n")
    errors = check_config(path)
    assert [e.split(": expected")[0] for e in errors] == [
        f"{path}: http.allowed_hosts[0]", f"{path}: http.allowed_hosts[1]", f"{path}: http.allowed_hosts[2]"], errors
    path = write(tmp_path, ACCOUNT + "http: {allowed_hosts: ['smsc,other', 'smsc?x', \"a\\tb\"]}\n")  # (tester 115)
    assert len(check_config(path)) == 3
    path = write(tmp_path, ACCOUNT + "http: {allowed_hosts: ['bücher.example']}\n")
    assert load_config(path).http.allowed_hosts == ("xn--bcher-kva.example",)
