"""A raw TCP server on 127.0.0.1 for transport tests: dribbling servers and a recording proxy.

Each connection's request head is read, then ``respond(conn, head)`` runs in its own thread.
The server stops itself after ``lifetime`` seconds (so a test that would hang ends anyway).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator


class RawServer:
    def __init__(self, respond: Callable[[socket.socket, bytes], None], lifetime: float = 20.0):
        self._respond = respond
        self.heads: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._deadline = time.monotonic() + lifetime
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def stopping(self) -> bool:
        return self._stop.is_set() or time.monotonic() > self._deadline

    def _serve(self) -> None:
        while not self.stopping():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()
        self._sock.close()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            head = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            self.heads.append(head)
            with contextlib.suppress(OSError):
                self._respond(conn, head)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)


@contextlib.contextmanager
def raw_server(
    respond: Callable[[socket.socket, bytes], None], lifetime: float = 20.0
) -> Iterator[RawServer]:
    server = RawServer(respond, lifetime)
    try:
        yield server
    finally:
        server.close()


def dribble(server_stopping: Callable[[], bool], conn: socket.socket, data: bytes, every: float):
    """Send ``data`` one byte per ``every`` seconds (until the server stops)."""
    for i in range(len(data)):
        if server_stopping():
            return
        conn.sendall(data[i : i + 1])
        time.sleep(every)
