"""The sandbox's HTTP/1.1 connection handling: keep-alive, and dropping a connection without
a response (the ``reset_*`` faults)."""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable
from typing import Any

from werkzeug.serving import WSGIRequestHandler


class DropConnection(BaseException):
    """Raised inside the WSGI app to abort the TCP connection without any response.

    A BaseException so werkzeug's ``except Exception`` (which would send a 500) lets it through
    to :class:`KeepAliveHandler`.
    """


class KeepAliveHandler(WSGIRequestHandler):
    """werkzeug's handler with HTTP/1.1 keep-alive and connection aborts.

    werkzeug's own ``run_wsgi`` closes every connection after one response; this one writes
    the (always fully buffered) body with a Content-Length and keeps the connection open, so
    a pooled client does not pay a TCP handshake and a thread start per request.
    """

    timeout = 30  # idle keep-alive connections give their thread back after 30 s

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tracker = getattr(self.server, "aha_connections", None)
        if tracker is not None:
            tracker.add(self.connection)

    def finish(self) -> None:
        tracker = getattr(self.server, "aha_connections", None)
        if tracker is not None:
            tracker.discard(self.connection)
        super().finish()

    def handle(self) -> None:
        try:
            super().handle()
        except DropConnection:
            self.close_connection = True
            # RST instead of FIN: the client sees a reset / remote disconnect
            with contextlib.suppress(OSError):
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        started: list[Any] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return lambda data: None

        try:
            body = b"".join(self.server.app(environ, start_response))  # type: ignore[attr-defined]
        except DropConnection:
            raise
        except Exception:
            started[:] = ["500 Internal Server Error", [("Content-Type", "application/json")]]
            body = b'{"error":"Internal sandbox error"}'
            self.close_connection = True
        status, headers = started
        code, _, msg = status.partition(" ")
        self.send_response(int(code), msg)
        has_length = False
        for key, value in headers:
            self.send_header(key, value)
            has_length = has_length or key.lower() == "content-length"
        if not has_length and int(code) not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        if environ.get("wsgi.input_terminated"):
            self.close_connection = True  # chunked request bodies: don't try to reuse
        if self.close_connection:
            self.send_header("Connection", "close")
        # headers and body in one write (no small-packet / delayed-ACK stalls)
        self.wfile.write(self._header_bytes() + body)
        self.wfile.flush()

    def _header_bytes(self) -> bytes:
        buffered: list[bytes] = getattr(self, "_headers_buffer", [])
        data = b"".join(buffered) + b"\r\n"
        self._headers_buffer = []
        return data

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None  # keep the per-request path cheap and quiet

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):
            return None  # an idle keep-alive connection closing: routine, not an error
        super().log_error(format, *args)
