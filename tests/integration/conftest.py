"""Fixtures that run a real smsc on 127.0.0.1 (port 0) in a background thread, for blocking smpplib clients."""

from __future__ import annotations

import asyncio
import sys
import subprocess
import shutil
import queue
import json
import socket
import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.consts

from smsc.app import App
from smsc.config import Config, load_config
from smsc.core.api import Address, Submission, SubmitResult
from smsc.core.clock import FakeClock


class RunningSmsc:
    """An App running on its own event loop thread; ``call`` runs a function on that loop."""

    def __init__(self, config: Config, *, http: bool = False, uvloop: bool = False) -> None:
        self.config = config
        self.http = http
        if uvloop:  # the loop ``smsc serve`` runs on when uvloop is installed (the caller skips without it)
            import uvloop as uv

            self.loop = uv.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self.app = App(config)
        self._thread = threading.Thread(target=self.loop.run_forever, name="smsc-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self.app.start(host="127.0.0.1", port=0, http=self.http,
                                                           http_host="127.0.0.1", http_port=0), self.loop)
        fut.result(timeout=15)

    @property
    def port(self) -> int:
        assert self.app.smpp is not None
        return self.app.smpp.port

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn`` on the server's loop thread and return its result."""
        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=timeout)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.app.stop(), self.loop).result(timeout=15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


async def start_on_fake_clock(path: Path, store: str, at: float) -> App:
    """The application on the bundled config/default.yaml with ``store`` ("sqlite" on the file ``path``, or
    "memory") and a fake clock at ``at``, started on the running loop (SMPP on a free port, no HTTP); a restart
    is another call on the same file."""
    config = load_config(Path(__file__).resolve().parents[2] / "config" / "default.yaml")
    config = dataclasses.replace(config, store=dataclasses.replace(config.store, kind=store, path=str(path)))
    app = App(config, clock=FakeClock(at))
    await app.start(host="127.0.0.1", port=0, http=False)
    return app


async def submit_accepted(app: App, destination: str, short_message: bytes = b"hello",
                          registered_delivery: int = 1, validity_period: str = "",
                          source: Address = Address(ton=5, npi=0, addr="ACME")) -> str:
    """submit_sm of system_id ``test`` from ``source`` (ACME) through the core; returns its message_id once
    answered (with SQLite the answer follows the writer child's commit: up to 5 s)."""
    assert app.smsc is not None
    replies: list[SubmitResult] = []
    app.smsc.submit(Submission(system_id="test", source=source,
                               destination=Address(ton=1, npi=1, addr=destination), short_message=short_message,
                               registered_delivery=registered_delivery, validity_period=validity_period),
                    replies.append)
    for _ in range(500):
        if replies:
            break
        await asyncio.sleep(0.01)
    assert replies and replies[0].status == 0
    return replies[0].message_id


def make_config(tmp_path: Path, **server_overrides: Any) -> Config:
    """The bundled default config with an SQLite store in ``tmp_path`` and the given server settings."""
    cfg = load_config(None)
    store = dataclasses.replace(cfg.store, kind="sqlite", path=str(tmp_path / "smsc.sqlite"))
    server = dataclasses.replace(cfg.server, host="127.0.0.1", port=0, **server_overrides)
    return dataclasses.replace(cfg, store=store, server=server)


@pytest.fixture
def smsc_factory(tmp_path: Path) -> Iterator[Callable[..., RunningSmsc]]:
    """Start servers with ``smsc_factory(config=None, **server_overrides)``; all are stopped afterwards."""
    started: list[RunningSmsc] = []

    def start(config: Config | None = None, *, http: bool = False, **server_overrides: Any) -> RunningSmsc:
        running = RunningSmsc(config or make_config(tmp_path, **server_overrides), http=http)
        running.start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def smsc_server(smsc_factory: Callable[..., RunningSmsc]) -> RunningSmsc:
    """A running smsc on the default config."""
    return smsc_factory()


@pytest.fixture
def client_factory(smsc_server: RunningSmsc) -> Iterator[Callable[..., smpplib.client.Client]]:
    """Connected smpplib clients to ``smsc_server``; disconnected afterwards."""
    clients: list[smpplib.client.Client] = []

    def connect(timeout: float = 5.0) -> smpplib.client.Client:
        client = smpplib.client.Client("127.0.0.1", smsc_server.port, timeout=timeout, allow_unknown_opt_params=True)
        client.connect()
        clients.append(client)
        return client

    yield connect
    for c in clients:
        try:
            c.disconnect()
        except Exception:
            pass


def read_until(client: smpplib.client.Client, predicate: Callable[[], bool], *, max_pdus: int = 200) -> None:
    """Read PDUs (each bounded by the client's socket timeout) until ``predicate()`` holds."""
    for _ in range(max_pdus):
        if predicate():
            return
        client.read_once()
    assert predicate(), "condition not met after reading the maximum number of PDUs"


def api_request(running: RunningSmsc, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """``method path`` with ``body`` as JSON on ``running``'s HTTP API: (status, decoded JSON answer)."""
    import urllib.error
    import urllib.request

    assert running.app.http is not None
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{running.app.http.port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def api_text(running: RunningSmsc, path: str) -> str:
    """The body of ``GET path`` on ``running``'s HTTP API, as text (/metrics)."""
    import urllib.request

    assert running.app.http is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{running.app.http.port}{path}", timeout=10) as resp:
        return str(resp.read().decode())


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> Any:
    """``condition()``'s first true value, polled every 10 ms for at most ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not met in time"
        time.sleep(0.01)


def with_carriers(config: Config, name: str, **changes: Any) -> Config:
    """``config`` with the carrier called ``name`` changed as ``dataclasses.replace`` would."""
    carriers = tuple(dataclasses.replace(c, **changes) if c.name == name else c for c in config.topology.carriers)
    return dataclasses.replace(config, topology=dataclasses.replace(config.topology, carriers=carriers))


@pytest.fixture
def http_smsc(smsc_factory: Callable[..., RunningSmsc]) -> Callable[..., RunningSmsc]:
    """Start servers with their HTTP API, ``http_smsc(config=None)`` (the bundled world, SQLite in
    ``tmp_path``); all are stopped afterwards."""
    return lambda config=None: smsc_factory(config, http=True)


class QuietEsme:
    """An ESME on a raw socket that answers nothing by itself (its receipts stay unacknowledged): it binds, sends
    PDUs and reads what comes, each read bounded by the socket timeout and a count."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        from smsc.smpp.codec import Framer

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.framer = Framer()
        self.seq = 0

    @property
    def peer(self) -> str:
        """This connection as the SMSC's API names it (host:port)."""
        return "127.0.0.1:%d" % self.sock.getsockname()[1]

    def send(self, *pdus: Any) -> None:
        from smsc.smpp.codec import encode

        data = b""
        for pdu in pdus:
            self.seq += 1
            pdu.sequence_number = self.seq
            data += encode(pdu)
        self.sock.sendall(data)

    def send_response(self, pdu: Any) -> None:
        """A response to a request of the SMSC's (its sequence_number already set)."""
        from smsc.smpp.codec import encode

        self.sock.sendall(encode(pdu))

    def read(self, count: int) -> list[Any]:
        """At least ``count`` PDUs, or those that came before the connection closed."""
        got: list[Any] = []
        for _ in range(50):
            if len(got) >= count:
                break
            data = self.sock.recv(65536)
            if not data:
                break
            got.extend(self.framer.feed(data))
        return got

    def bind(self, kind: str = "transceiver", system_id: str = "test", password: str = "test") -> Any:
        from smsc.smpp import pdu as P

        cls = {"transceiver": P.BindTransceiver, "transmitter": P.BindTransmitter, "receiver": P.BindReceiver}[kind]
        self.send(cls(system_id=system_id, password=password))
        [resp] = self.read(1)
        assert resp.command_status == 0, resp
        return resp

    def closed(self) -> bool:
        """True once the SMSC has closed the connection (waiting up to the socket timeout)."""
        try:
            return self.sock.recv(100) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


__all__ = ["RunningSmsc", "make_config", "read_until", "smpplib"]
_ = smpplib.consts


def smsc_command() -> list[str]:
    script = Path(sys.executable).with_name("smsc")
    if script.exists():
        return [str(script)]
    found = shutil.which("smsc")
    assert found, "the smsc console script is not installed (pip install -e .)"
    return [found]


def wait_for_port(proc: subprocess.Popen[str], lines: list[str], timeout: float = 30.0) -> int:
    """Read the child's stderr on a thread (so a silent child cannot block us) until the port line shows."""
    found: queue.Queue[int] = queue.Queue()

    def reader() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "listening" and record.get("protocol") == "smpp":
                found.put(int(record["port"]))

    threading.Thread(target=reader, daemon=True).start()
    try:
        return found.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError("smsc serve did not report its port:\n" + "".join(lines)) from None


class RawEsme:
    """A small blocking ESME built on smsc's own codec, for PDUs smpplib lacks (cancel_sm, replace_sm).

    Every read is bounded by the socket timeout and a maximum count; deliver_sm are acknowledged and kept.
    """

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        from smsc.smpp.codec import Framer

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.framer = Framer()
        self.seq = 0
        self.pending: list[Any] = []
        self.delivered: list[Any] = []

    def send(self, pdu: Any) -> int:
        from smsc.smpp.codec import encode

        self.seq += 1
        pdu.sequence_number = self.seq
        self.sock.sendall(encode(pdu))
        return self.seq

    def _read(self) -> None:
        from smsc.smpp import pdu as P
        from smsc.smpp.codec import encode

        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("closed by the server")
        for item in self.framer.feed(data):
            if isinstance(item, P.DeliverSm):
                self.delivered.append(item)
                self.sock.sendall(encode(P.DeliverSmResp(sequence_number=item.sequence_number)))
            else:
                self.pending.append(item)

    def request(self, pdu: Any, *, max_reads: int = 100) -> Any:
        """Send ``pdu`` and return the response with its sequence_number."""
        seq = self.send(pdu)
        for _ in range(max_reads):
            for item in self.pending:
                if getattr(item, "sequence_number", None) == seq:
                    self.pending.remove(item)
                    return item
            self._read()
        raise AssertionError(f"no response to {type(pdu).__name__}")

    def wait_deliveries(self, count: int, *, max_reads: int = 200) -> list[Any]:
        """Read until at least ``count`` deliver_sm have arrived; return them all."""
        for _ in range(max_reads):
            if len(self.delivered) >= count:
                break
            self._read()
        return self.delivered

    def bind(self, kind: str = "transceiver", system_id: str = "test", password: str = "test") -> Any:
        from smsc.smpp import pdu as P

        cls = {"transceiver": P.BindTransceiver, "transmitter": P.BindTransmitter, "receiver": P.BindReceiver}[kind]
        resp = self.request(cls(system_id=system_id, password=password))
        assert resp.command_status == 0, resp
        return resp

    def close(self) -> None:
        self.sock.close()


#: A process that opens a SqliteStore on an event loop (so with its writer child), prints the child's pid,
#: then commits messages 00000000, 00000001 ... in a loop and prints each message_id once it is durable; run as
#: ``python -c COMMITTING_STORE PATH [same-group]`` (with the repository on PYTHONPATH) and killed by the test.
COMMITTING_STORE = """
import asyncio, sys
import structlog
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # (stdout carries the ids)
from smsc.core.api import Address
from smsc.core.message import Message
from smsc.core.store import sqlite as sqlite_store
from smsc.core.store.sqlite import SqliteStore

async def main(path):
    loop = asyncio.get_running_loop()
    store = SqliteStore(path, call_soon_threadsafe=loop.call_soon_threadsafe)
    print(store.writer_pid, flush=True)
    i = 0
    while True:
        for _ in range(50):
            m = Message(message_id=f"{i:08x}", system_id="esme", source=Address(addr="1"),
                        destination=Address(addr="2"), destination_e164="2")
            store.save_message(m)
            store.commit(lambda mid=m.message_id: print(mid, flush=True))
            i += 1
        await asyncio.sleep(0.001)

if sys.argv[2:] == ["same-group"]:  # (the writer child in this process's group: see WRITER_OWN_PROCESS_GROUP)
    sqlite_store.WRITER_OWN_PROCESS_GROUP = False
asyncio.run(main(sys.argv[1]))
"""


def read_acknowledged(stream: Any, count: int) -> list[str]:
    """The next ``count`` message_ids a COMMITTING_STORE process prints as durable (fewer if it ends first)."""
    acked: list[str] = []
    for _ in range(count):  # bounded
        line = stream.readline()
        if not line:
            break
        acked.append(line.decode().strip())
    return acked
