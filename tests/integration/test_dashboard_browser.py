"""The dashboard in a real browser: headless Chromium loads the page, runs its scripts against the live
HTTP API, and the DOM it renders shows the bind and the message the test just sent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from smsc.smpp import pdu as P
from smsc.smpp.constants import Tag

from .conftest import RawEsme, RunningSmsc, make_config, wait_until

_BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _browser() -> str:
    for name in _BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium on this machine (.ci/run installs it where apt-get is available)")


_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync")


class _LiveChromium:
    """A headless Chromium left open on ``url`` and read through the DevTools protocol (over aiohttp's websocket
    client) while the test changes the server under it: ``--dump-dom`` sees one moment, not a page that
    changes its mind.  Every wait is bounded."""

    def __init__(self, browser: str, url: str, profile: Path, log: Path, *extra: str) -> None:
        self._log = log.open("wb")
        self.proc = subprocess.Popen([browser, *_FLAGS, *extra, "--remote-debugging-port=0", f"--user-data-dir={profile}",
                                      url],
                                     stdout=subprocess.DEVNULL, stderr=self._log)
        self.loop = asyncio.new_event_loop()
        self._id = 0
        self._session: aiohttp.ClientSession | None = None
        try:
            active = profile / "DevToolsActivePort"  # Chromium writes its port here once it listens
            deadline = time.monotonic() + 30
            while not (active.exists() and active.read_text().strip()):
                assert self.proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.05)
            port = int(active.read_text().split()[0])
            page = None
            while page is None:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
                    page = next((t for t in json.load(resp) if t["type"] == "page"), None)
                assert page is not None or time.monotonic() < deadline, "no page target"
                time.sleep(0.05)
            self._ws = self.loop.run_until_complete(self._connect(page["webSocketDebuggerUrl"]))
        except BaseException:
            self.close()
            raise

    async def _connect(self, url: str) -> aiohttp.ClientWebSocketResponse:
        self._session = aiohttp.ClientSession()
        return await self._session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=5), max_msg_size=0)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript ``expression`` in the page (Runtime.evaluate)."""
        self._id += 1
        ask = self._id

        async def run() -> Any:
            await self._ws.send_json({"id": ask, "method": "Runtime.evaluate",
                                      "params": {"expression": expression, "returnByValue": True}})
            while True:
                answer = await self._ws.receive_json()
                if answer.get("id") == ask:
                    return answer["result"]["result"].get("value")

        return self.loop.run_until_complete(asyncio.wait_for(run(), 10))

    def status(self) -> tuple[str, str]:
        """The status line's text and class (("", "(not loaded)") before the page has one)."""
        text, cls = self.evaluate("(s => s ? [s.textContent, s.className] : ['', '(not loaded)'])"
                                  "(document.getElementById('status'))")
        return text, cls

    def wait_status(self, ok: Callable[[str, str], bool], seconds: float = 15) -> tuple[str, str]:
        """The status line (text, class) once ``ok(text, class)``; AssertionError naming the last one after
        ``seconds``."""
        deadline = time.monotonic() + seconds
        seen = self.status()
        while not ok(*seen):
            assert time.monotonic() < deadline, f"status line still {seen!r}"
            time.sleep(0.1)
            seen = self.status()
        return seen

    def close(self) -> None:
        try:
            if self._session is not None:
                self.loop.run_until_complete(asyncio.wait_for(self._session.close(), 5))
        finally:
            self.loop.close()
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self._log.close()


@contextlib.contextmanager
def _bound_page(tmp_path: Path, *flags: str) -> Iterator[tuple[RunningSmsc, RawEsme, _LiveChromium]]:
    """A server on the default config with its HTTP API, an ESME bound as transceiver, and the dashboard open in a
    live Chromium (``flags`` added to its command line); all three stopped afterwards."""
    browser = _browser()
    server = RunningSmsc(make_config(tmp_path), http=True)
    server.start()
    esme = RawEsme(server.port)
    page: _LiveChromium | None = None
    try:
        esme.bind("transceiver")
        url = f"http://127.0.0.1:{server.app.http.port}/dashboard/index.html"  # type: ignore[union-attr]
        page = _LiveChromium(browser, url, tmp_path / "chromium-profile", tmp_path / "chromium.log", *flags)
        yield server, esme, page
    finally:
        if page is not None:
            page.close()
        esme.close()
        server.stop()


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
    assert "<title>unreachable \u2014 smsc dashboard</title>" in dom  # (tester 72: a background tab said nothing)
    assert "cannot reach the smsc API" in dom and "(the figures below are from before)" in dom
    assert "counters since this server started" in dom


def test_dashboard_shows_an_unhealthy_server_in_its_status_line_until_it_is_healthy_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tester 58: with the SQLite writer stopped /api/health answered 503 "store_stalled" (every submit_sm_resp
    held back), and during a stop 503 "stopping", while the page read "simulation time ..., 1 bound" as always:
    it never asked /api/health.  Here the writer child is stopped with SIGSTOP, then the server is stopped with
    an ESME that does not answer the unbind holding the stop open; the same page is read throughout."""
    import smsc.app as app_module

    monkeypatch.setattr(app_module, "STORE_STALL_SECONDS", 0.2)  # (5 s in service)
    with _bound_page(tmp_path) as (server, esme, page):
        text, cls = page.wait_status(lambda text, cls: "1 bound" in text)
        assert cls == "" and "stall" not in text, text

        pid = server.app.store.writer_pid  # type: ignore[union-attr]
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            seq = esme.send(P.SubmitSm(source_addr="DASHTEST", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                       destination_addr="447700900123", short_message=b"held back"))
            text, cls = page.wait_status(lambda text, cls: "store stalled" in text)
            assert re.search(r"^store stalled: commits waiting \d+\.\d s \u2014 submit_sm_resp held back "
                             r"simulation time .*1 bound, server started \S+Z \(wall clock\)$", text), text
            assert cls == "alarm"
            assert page.evaluate("document.querySelector('#status .health').textContent").startswith("store stalled")
            assert page.evaluate("document.title").startswith("store stalled")
        finally:
            os.kill(pid, signal.SIGCONT)
        for _ in range(20):  # the submit_sm_resp, once its commit is done (each read bounded by 5 s)
            if any(getattr(r, "sequence_number", None) == seq for r in esme.pending):
                break
            esme._read()
        resp = next(r for r in esme.pending if r.sequence_number == seq)
        assert resp.command_status == 0
        text, cls = page.wait_status(lambda text, cls: "stall" not in text)
        assert cls == "" and text.startswith("simulation time ") and "1 bound" in text, text
        assert page.evaluate("document.querySelector('#status .health')") is None
        assert page.evaluate("document.title") == "smsc dashboard"

        # A stop, held open (up to 5 s) by the bound ESME, which reads nothing and so never answers the unbind.
        stopping = asyncio.run_coroutine_threadsafe(server.app.stop(), server.loop)
        text, cls = page.wait_status(lambda text, cls: "stopping" in text, seconds=4.5)
        assert text.startswith("stopping: the server is shutting down simulation time "), text
        assert cls == "alarm" and not stopping.done()
        stopping.result(timeout=15)
        # Once stopped, the page says it cannot reach the API, as before.
        text, cls = page.wait_status(lambda text, cls: "cannot reach" in text)
        assert cls == "down" and page.evaluate("document.body.className") == "stale"


def test_dashboard_tables_keep_their_width_and_figures_sit_under_their_headers(tmp_path: Path) -> None:
    """Tester 72: a text of one 300-letter word stretched "Latest messages" to 3,322 px (every timestamp wrapped),
    and the figures, right-aligned under left-aligned headers, read as the next column's."""
    with _bound_page(tmp_path, "--window-size=1400,900") as (server, esme, page):  # (tester 72's window)
        resp = esme.request(P.SubmitSm(source_addr="DASHTEST", source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                       destination_addr="447700900123", short_message=b"x" * 160))
        assert resp.command_status == 0
        page.wait_status(lambda text, cls: "1 bound" in text)
        deadline = time.monotonic() + 15
        while not page.evaluate("document.getElementById('messages').textContent.includes('xxxxxxxxxx')"):
            assert time.monotonic() < deadline, "the message never showed"
            time.sleep(0.1)
        widths = page.evaluate("[document.documentElement.clientWidth,"
                               " document.getElementById('messages').closest('table').scrollWidth]")
        assert widths[1] <= widths[0], widths
        # Every column whose cells are right-aligned has a right-aligned header, and no other.
        mismatched = page.evaluate("""
            [...document.querySelectorAll('table')].flatMap(t => {
              const heads = [...t.querySelectorAll('thead th')].map(h => getComputedStyle(h).textAlign);
              const row = t.querySelector('tbody tr');
              if (!row) return [];
              return [...row.children].map((c, i) => [t.querySelector('tbody').id, i, heads[i],
                                                      getComputedStyle(c).textAlign])
                .filter(x => (x[2] === 'right') !== (x[3] === 'right'));
            })""")
        assert mismatched == [], mismatched


def test_dashboard_messages_stay_readable_with_long_addresses_and_long_texts(tmp_path: Path) -> None:
    """Tester 91: a data_sm from a 64-character source took 583 of 1,400 px and left the text 46; a long message put
    its whole text (39,000 characters for 255 parts) in every row, with no part number; and the tables, redrawn
    every 2 s, cleared a selection, so a message_id could not be copied."""
    from smsc.smpp.text import split_message

    with _bound_page(tmp_path, "--window-size=1400,900") as (server, esme, page):
        resp = esme.request(P.DataSm(source_addr="S" * 64, source_addr_ton=5, dest_addr_ton=1, dest_addr_npi=1,
                                     destination_addr="447700900123", data_coding=0,
                                     tlvs={Tag.message_payload: b"short text"}))
        assert resp.command_status == 0
        text = "".join(f"word{i} " for i in range(300))  # 2,290 characters, in 15 parts
        split = split_message(text.encode("ascii"), 0, 42)
        for part in split:
            resp = esme.request(P.SubmitSm(source_addr="DASHTEST", source_addr_ton=5, dest_addr_ton=1,
                                           dest_addr_npi=1, destination_addr="447700900124", esm_class=0x40,
                                           short_message=part))
            assert resp.command_status == 0
        deadline = time.monotonic() + 15
        while page.evaluate("document.querySelectorAll('#messages tr').length") < len(split) + 1:
            assert time.monotonic() < deadline, "the messages never showed"
            time.sleep(0.1)
        cells = page.evaluate("""[...document.querySelectorAll('#messages tr')].map(tr => {
            const c = tr.children; return [c[2].getBoundingClientRect().width, c[8].getBoundingClientRect().width,
                                           c[8].textContent, c[8].title.length, tr.getBoundingClientRect().height];
        })""")
        widths = page.evaluate("[document.documentElement.clientWidth,"
                               " document.getElementById('messages').closest('table').scrollWidth]")
        assert widths[1] <= widths[0], widths
        from_width, text_width = max(c[0] for c in cells), min(c[1] for c in cells)
        assert from_width < 300 and text_width > 200, cells  # (14em of a 14px font: 196 px, with padding)
        parts = [c for c in cells if c[2].startswith("part ")]
        n = len(split)
        assert len(parts) == n and {c[2].split(":")[0] for c in parts} == {f"part {i}/{n}" for i in range(1, n + 1)}
        assert all(len(c[2]) < 400 and c[3] > 1000 for c in parts)  # (clipped in the cell, all in the tooltip)
        assert max(c[4] for c in cells) < 120  # (three lines at most)
        # Tester 164: beside the long texts the carrier column shrank and "britmobile" broke mid-word.
        carrier_lines = page.evaluate("""[...document.querySelectorAll('#messages tr td.carrier')].map(td => {
            const r = document.createRange(); r.selectNodeContents(td);
            return [td.textContent, new Set([...r.getClientRects()].map(b => Math.round(b.top))).size]; })""")
        assert carrier_lines and all(lines == 1 for _, lines in carrier_lines), carrier_lines
        # The final state ACCEPTED's counter does not read as "messages accepted" beside "submitted".
        labels = page.evaluate("[...document.querySelectorAll('#core .card .k')].map(k => k.textContent)")
        assert "accepted (final: ACCEPTD)" in labels and "accepted" not in labels
        # A selection in the table survives the next polls.
        page.evaluate("""(() => { const td = document.querySelector('#messages tr td');
            const r = document.createRange(); r.selectNodeContents(td);
            document.getSelection().removeAllRanges(); document.getSelection().addRange(r); })()""")
        selected = page.evaluate("document.getSelection().toString()")
        assert selected
        time.sleep(4.5)  # (two polls)
        assert page.evaluate("document.getSelection().toString()") == selected


def test_dashboard_counts_and_clips_characters_not_utf16_units(tmp_path: Path) -> None:
    """Tester 100: 201 characters of which 200 emoji showed "(401 characters)" and ended on half an emoji (a lone
    surrogate, drawn as U+FFFD); 151 emoji, under the 300 shown, were clipped."""
    with _bound_page(tmp_path) as (server, esme, page):
        flag = "\U0001F1EC\U0001F1E7"  # (one character of two code points: tester 103)
        for text, number in (("a" + "\U0001F600" * 400, "447700900125"), ("\U0001F600" * 151, "447700900126"),
                             (flag * 301, "447700900127")):
            resp = esme.request(P.DataSm(source_addr="DASHTEST", source_addr_ton=5, dest_addr_ton=1,
                                         dest_addr_npi=1, destination_addr=number, data_coding=8,
                                         tlvs={Tag.message_payload: text.encode("utf-16-be")}))
            assert resp.command_status == 0
        deadline = time.monotonic() + 15
        while page.evaluate("document.querySelectorAll('#messages tr').length") < 3:
            assert time.monotonic() < deadline, "the messages never showed"
            time.sleep(0.1)
        cells = page.evaluate("[...document.querySelectorAll('#messages tr')].map(tr => tr.children[8].textContent)")
        long_text = next(c for c in cells if c.startswith("a"))
        assert long_text == "a" + "\U0001F600" * 299 + "\u2026 (401 characters)", long_text[-40:]
        assert "\U0001F600" * 151 in cells, [c[-30:] for c in cells]
        assert flag * 300 + "\u2026 (301 characters)" in cells, [c[-30:] for c in cells]
        # Tester 176: the octets 41 42 (binary data_coding 4) and the GSM text "4142" read the same.
        for data_coding, user_data, number in ((4, b"AB", "447700900128"), (0, b"4142", "447700900129")):
            resp = esme.request(P.SubmitSm(source_addr="DASHTEST", source_addr_ton=5, dest_addr_ton=1,
                                           dest_addr_npi=1, destination_addr=number, data_coding=data_coding,
                                           short_message=user_data))
            assert resp.command_status == 0
        while page.evaluate("document.querySelectorAll('#messages tr').length") < 5:
            assert time.monotonic() < deadline, "the messages never showed"
            time.sleep(0.1)
        cells = page.evaluate("[...document.querySelectorAll('#messages tr')].map(tr => tr.children[8].textContent)")
        assert "hex: 4142" in cells and "4142" in cells, [c[-30:] for c in cells]


def test_dashboard_buttons_take_a_carrier_down_and_back_and_drop_a_bind(tmp_path: Path) -> None:
    """The page is a control panel too: a carrier's button takes it down and brings it back
    (PUT /api/carriers/{name}), a bind's "drop" ends its connection (POST /api/binds/disconnect)."""
    with _bound_page(tmp_path) as (server, esme, page):
        carriers = server.app.smsc.router.carriers  # type: ignore[union-attr]
        row = "[...document.querySelectorAll('#carriers tr')].find(r => r.cells[0].textContent === 'thames')"
        wait_until(lambda: page.evaluate(f"(r => r && r.cells[1].textContent)({row})") == "up", 15, "thames listed up")
        page.evaluate(f"{row}.querySelector('button').click()")
        wait_until(lambda: server.call(lambda: carriers["thames"].down), 15, "thames taken down")
        wait_until(lambda: page.evaluate(f"{row}.cells[1].textContent") == "down", 15, "thames shown down")
        assert page.evaluate("document.getElementById('action').textContent").startswith("carrier thames is down (")
        assert page.evaluate(f"{row}.querySelector('button').textContent") == "bring back"
        time.sleep(0.8)  # (a click within 0.6 s of the last change's redraw is taken for its double click)
        page.evaluate(f"{row}.querySelector('button').click()")
        wait_until(lambda: not server.call(lambda: carriers["thames"].down), 15, "thames brought back")
        smpp = server.app.smpp
        assert smpp is not None
        assert server.call(lambda: smpp.registry.bound_count()) == 1
        time.sleep(0.8)
        drop = ("[...document.querySelectorAll('#binds tr')].find(r => r.cells[0].textContent === 'test')"
                ".querySelectorAll('button')[1]")
        assert page.evaluate(f"{drop}.textContent") == "drop"
        page.evaluate(f"{drop}.click()")
        wait_until(lambda: server.call(lambda: smpp.registry.bound_count()) == 0, 15, "the bind dropped")
        # (tester 146: an empty table said nothing; it says "(none)", as "Owed to ESMEs" does)
        wait_until(lambda: page.evaluate("[...document.querySelectorAll('#binds tr')].map(r => r.cells[0].textContent)"
                                         ".join()") == "(none)", 15, "no bind listed")
        assert page.evaluate("document.getElementById('action').textContent").startswith("drop: 127.0.0.1:")


def test_dashboard_buttons_ignore_a_double_click_and_say_what_they_did(tmp_path: Path) -> None:
    """Tester 146: a double click acted twice (its second click landed on what the redraw had put under the
    pointer: the next bind's "drop", the carrier's "bring back"), and a click on a bind already gone said it was
    done."""
    with _bound_page(tmp_path) as (server, esme, page):
        second = RawEsme(server.port)
        try:
            second.bind("transceiver")
            smpp = server.app.smpp
            assert smpp is not None
            wait_until(lambda: page.evaluate("document.querySelectorAll('#binds tr').length") == 2, 15, "2 binds")
            drop = "document.querySelectorAll('#binds tr')[0].querySelectorAll('button')[1]"
            page.evaluate(f"{drop}.click(); {drop}.click(); setTimeout(() => {drop}.click(), 150)")
            wait_until(lambda: server.call(lambda: smpp.registry.bound_count()) == 1, 15, "one bind dropped")
            time.sleep(1.0)  # (what a second click would have ended by now)
            assert server.call(lambda: smpp.registry.bound_count()) == 1
            carriers = server.app.smsc.router.carriers  # type: ignore[union-attr]
            row = "[...document.querySelectorAll('#carriers tr')].find(r => r.cells[0].textContent === 'liberty')"
            button = f"{row}.querySelector('button')"
            assert page.evaluate(f"{button}.getAttribute('aria-label')") == "take down carrier liberty"
            page.evaluate(f"{button}.click(); setTimeout(() => {button}.click(), 120)")
            wait_until(lambda: page.evaluate(f"{row}.cells[1].textContent") == "down", 15, "liberty shown down")
            time.sleep(1.0)
            assert server.call(lambda: carriers["liberty"].down) is True  # (not brought straight back)
            # a bind gone before its button is clicked: said so, not "done"
            [proto] = server.call(lambda: list(smpp.registry))
            peer = server.call(lambda: proto.peer)
            button = (f"[...document.querySelectorAll('#binds button')].find(b => b.getAttribute('aria-label') "
                      f"=== 'unbind {peer} (test)')")
            assert page.evaluate(f"!!{button}")
            server.call(lambda: proto.disconnect(True))
            page.evaluate(f"{button}.click()")
            wait_until(lambda: page.evaluate("document.getElementById('action').textContent").startswith(
                "nothing to end"), 15, "the action line")
        finally:
            second.close()


def test_dashboard_keeps_the_keyboard_focus_on_the_button_used(tmp_path: Path) -> None:
    """Tester 149: a button pressed from the keyboard was disabled while its change was on its way, and Chromium
    took the focus off it: the next Tab started again from the top of its table."""
    with _bound_page(tmp_path) as (server, esme, page):
        row = "[...document.querySelectorAll('#carriers tr')].find(r => r.cells[0].textContent === 'thames')"
        wait_until(lambda: page.evaluate(f"!!({row})"), 15, "thames listed")
        page.evaluate(f"{row}.querySelector('button').focus(); {row}.querySelector('button').click()")
        wait_until(lambda: page.evaluate(f"{row}.querySelector('button').textContent") == "bring back", 15,
                   "thames shown down")
        time.sleep(0.3)
        assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "bring back carrier thames"
