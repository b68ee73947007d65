"""The dashboard in a real browser: headless Chromium loads the page, runs its scripts against the live
HTTP API, and the DOM it renders shows the bind and the message the test just sent."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from smsc.smpp import pdu as P

from .conftest import RawEsme, RunningSmsc, make_config

_BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser() -> str:
    for name in _BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on this machine (.ci/run installs it where apt-get is available)")


def test_dashboard_renders_live_binds_and_messages(tmp_path: Path) -> None:
    browser = _browser()
    server = RunningSmsc(make_config(tmp_path), http=True)
    server.start()
    esme = RawEsme(server.port)
    try:
        esme.bind("transceiver")
        resp = esme.request(P.SubmitSm(source_addr="DASHTEST", source_addr_ton=5, dest_addr_ton=1,
                                       dest_addr_npi=1, destination_addr="447700900123",
                                       short_message=b"seen in the browser"))
        assert resp.command_status == 0
        # Tester 40: the attempts column counted a message's end (expired, cancelled ...) as an attempt.
        waiting = esme.request(P.SubmitSm(source_addr="DASHTEST", source_addr_ton=5, dest_addr_ton=1,
                                          dest_addr_npi=1, destination_addr="447700900400",  # never on
                                          short_message=b"cancelled after one attempt")).message_id
        for _ in range(200):  # until its first attempt found the handset absent
            if server.call(lambda: server.app.smsc.message(waiting).attempts):  # type: ignore[union-attr]
                break
            time.sleep(0.025)
        assert esme.request(P.CancelSm(message_id=waiting, source_addr_ton=5,
                                       source_addr="DASHTEST")).command_status == 0
        # Tester 50: what waits for an ESME (here an MO its bind has not acknowledged: it reads no more) showed
        # nowhere on the page.
        server.call(lambda: server.app.smsc.inject_mo("447700900950", "88123", text="owed"))  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{server.app.http.port}/dashboard/index.html"  # type: ignore[union-attr]
        profile = tmp_path / "chromium-profile"
        result = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", url],
            capture_output=True, text=True, timeout=90,
        )
        dom = result.stdout
        assert "seen in the browser" in dom, result.stderr[-2000:]
        assert resp.message_id in dom
        assert "BOUND_TRX" in dom
        row = next(r for r in re.findall(r"<tr>(.*?)</tr>", dom, re.S) if waiting in r)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        assert cells[5] == "DELETED" and cells[6] == "1", cells  # one attempt, then the cancel
        outbox = re.search(r'<tbody id="outbox">(.*?)</tbody>', dom, re.S)
        assert outbox is not None
        owed = [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S)
                for r in re.findall(r"<tr>(.*?)</tr>", outbox.group(1), re.S)]
        assert owed == [["test", "1", "1"]], owed  # one MO owed to "test", one receiver bind
    finally:
        esme.close()
        server.stop()


def test_dashboard_without_the_api_dims_what_it_showed_and_says_so(tmp_path: Path) -> None:
    """Tester 33: with the server down only the status line turned red; the cards kept the last values at full
    strength, easy to read as current.  The page opened from a file reaches no API, as with the server down."""
    browser = _browser()
    page = tmp_path / "index.html"
    root = Path(__file__).resolve().parents[2]
    page.write_bytes((root / "smsc" / "http" / "dashboard" / "index.html").read_bytes())
    profile = tmp_path / "chromium-profile"
    result = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=90,
    )
    dom = result.stdout
    assert '<body class="stale">' in dom, result.stderr[-2000:]
    assert "cannot reach the smsc API" in dom and "(the figures below are from before)" in dom
    assert "counters since this server started" in dom
