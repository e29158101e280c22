from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from dagster_aha.client import AhaClient, reset_shared_limiters

API_KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    reset_shared_limiters()
    yield
    reset_shared_limiters()


def _client_factory(server: HTTPServer) -> Callable[..., AhaClient]:
    clients: list[AhaClient] = []

    def make(**kw: Any) -> AhaClient:
        opts: dict[str, Any] = {
            "base_url": server.url_for("/").rstrip("/"),
            "api_key": API_KEY,
            "requests_per_second": 10_000,
            "requests_per_minute": 100_000,
            "backoff_base": 0.001,
            "backoff_max": 0.01,
            "timeout": 5.0,
        }
        opts.update(kw)
        c = AhaClient(**opts)
        clients.append(c)
        return c

    make.clients = clients  # type: ignore[attr-defined]
    return make


@pytest.fixture
def make_client(httpserver: HTTPServer) -> Iterator[Callable[..., AhaClient]]:
    make = _client_factory(httpserver)
    yield make
    for c in make.clients:  # type: ignore[attr-defined]
        c.close()


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def make_threaded_client(threaded_server: HTTPServer) -> Iterator[Callable[..., AhaClient]]:
    make = _client_factory(threaded_server)
    yield make
    for c in make.clients:  # type: ignore[attr-defined]
        c.close()


class RawServer:
    """A TCP server whose behaviour after reading a request is scripted (reset, hang...)."""

    def __init__(self, mode: str, hang: float = 2.0) -> None:
        self.mode = mode
        self.hang = hang
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        data = b""
        conn.settimeout(2)
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.requests.append(data)
            if self.mode == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            elif self.mode == "close":
                conn.close()
            elif self.mode == "hang":
                self._stop.wait(self.hang)
                conn.close()
        except OSError:
            pass

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def make(mode: str, hang: float = 2.0) -> RawServer:
        s = RawServer(mode, hang)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
