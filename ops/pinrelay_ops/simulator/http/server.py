"""The HTTP layer: a threaded HTTP/1.1 keep-alive server that only moves bytes.

Stdlib ``ThreadingHTTPServer`` with one daemon thread per connection. Each
answer is written with a single ``write`` (status line, headers and body in
one buffer) and Nagle is off, so keep-alive clients never stall on delayed
ACKs. ``log_message`` is silenced: request lines carry PINs in GET query strings.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import urlsplit

from .exchange import Answer, Inbound

MAX_BODY_BYTES: Final = 1024 * 1024
IDLE_TIMEOUT_S: Final = 120.0  # an idle keep-alive connection is closed after this
SERVER_NAME: Final = "pinrelay-sim"
MAX_HEADERS: Final = 100
MAX_HEADER_LINE: Final = 65536


class SimHTTPServer(ThreadingHTTPServer):
    """Keeps track of open connections so :meth:`close_connections` can end them on stop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: Callable[[Inbound], Answer]) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every connection thread blocked on a keep-alive read, so it ends."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_S
    server: SimHTTPServer
    fields: dict[str, str]  # request headers, names lower-cased
    raw_requestline: bytes  # set by handle_one_request (not in the stdlib stubs)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: a request line can carry a PIN."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def parse_request(self) -> bool:
        """Request line and headers, without the email-package parser the stdlib uses.

        That parser is about a third of the server's CPU per request; this one
        keeps only what the simulator needs: lower-cased names in a dict.
        """
        self.request_version = version = "HTTP/0.9"
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0"):
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request line")
            return False
        self.command, self.path, version = words
        self.request_version = version
        fields: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = self.rfile.readline(MAX_HEADER_LINE + 1)
            if line in (b"\r\n", b"\n", b""):
                break
            if len(line) > MAX_HEADER_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Header too long")
                return False
            name, _, value = line.decode("iso-8859-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        else:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
            return False
        self.fields = fields
        connection = fields.get("connection", "").lower()
        self.close_connection = connection == "close" or (
            version == "HTTP/1.0" and connection != "keep-alive"
        )
        if fields.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _serve(self, method: str) -> None:
        body = self._read_body()
        if body is None:
            self._write(Answer.text("body too large or unreadable", 413))
            self.close_connection = True
            return
        split = urlsplit(self.path)
        inbound = Inbound(
            method=method,
            path=split.path,
            query=split.query,
            content_type=self.fields.get("content-type", ""),
            body=body,
            arrived=time.time(),
            headers=self.fields,
        )
        try:
            answer = self.server.app(inbound)
        except Exception as exc:  # a bug in the fake must show up as a 500, not a dead thread
            answer = Answer.text(f"simulator error: {type(exc).__name__}", 500)
        if answer.close:
            self.close_connection = True
            return
        self._write(answer)

    def _read_body(self) -> bytes | None:
        if "chunked" in self.fields.get("transfer-encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.fields.get("content-length") or 0)
        except ValueError:
            return None
        if not 0 <= length <= MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                return None
            total += size
            if total > MAX_BODY_BYTES:
                return None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _write(self, answer: Answer) -> None:
        try:
            reason = HTTPStatus(answer.status).phrase
        except ValueError:
            reason = "Unknown"
        head = [
            f"HTTP/1.1 {answer.status} {reason}",
            f"Server: {SERVER_NAME}",
            f"Date: {_http_date()}",
            f"Content-Type: {answer.content_type}",
            f"Content-Length: {len(answer.body)}",
        ]
        head += [f"{name}: {value}" for name, value in answer.headers]
        if self.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.body
        try:
            self.wfile.write(data)
        except OSError:  # the client gave up (e.g. after a hang); nothing to tell it
            self.close_connection = True


_date_cache: tuple[int, str] = (0, "")


def _http_date() -> str:
    """The ``Date`` header value, formatted at most once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]
