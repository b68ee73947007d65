"""Fixtures that run a real smsc on 127.0.0.1 (port 0) in a background thread, for blocking smpplib clients."""

from __future__ import annotations

import asyncio
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


class RunningSmsc:
    """An App running on its own event loop thread; ``call`` runs a function on that loop."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.app = App(config)
        self._thread = threading.Thread(target=self.loop.run_forever, name="smsc-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self.app.start(host="127.0.0.1", port=0, http=False), self.loop)
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
        try:
            asyncio.run_coroutine_threadsafe(self.app.stop(), self.loop).result(timeout=15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()


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

    def start(config: Config | None = None, **server_overrides: Any) -> RunningSmsc:
        running = RunningSmsc(config or make_config(tmp_path, **server_overrides))
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


__all__ = ["RunningSmsc", "make_config", "read_until", "smpplib"]
_ = smpplib.consts
