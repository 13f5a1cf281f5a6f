"""One callback POST under a wall-clock deadline: connect, send, status line, headers, all of it.

A socket timeout bounds each read, not the exchange: a receiver that trickles a byte every few
seconds never trips it, and before round 3 such a receiver held a worker process for as long
as it liked (issue 23 finding 2). Here a watchdog timer shuts the connection's socket down when
:data:`~worker.constants.CALLBACK_DEADLINE_S` is up, which wakes whatever read or write is
blocked on it; the attempt then counts as unanswered and the watch retries it later. The
connection goes to one of the addresses the URL check accepted (never a fresh DNS answer),
the TLS certificate is still checked against the URL's host, redirects are not followed and
proxy variables are not read (urllib3's connection classes, no pool, no ``trust_env``).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Final

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

from worker import constants as c
from worker.enqueue.callback_url import CallbackTarget

_READ_AT_MOST: Final = 4096  # of a receiver's answer: only its status matters


class DeadlineExceeded(urllib3.exceptions.HTTPError):
    """The receiver did not answer in full within the attempt's deadline."""


def post(target: CallbackTarget, body: bytes, headers: Mapping[str, str],
         deadline_s: float = c.CALLBACK_DEADLINE_S) -> int:
    """POST ``body`` to ``target`` through its checked addresses; the HTTP status.

    Raises :class:`urllib3.exceptions.HTTPError` (:class:`DeadlineExceeded` once the deadline is
    up, :class:`urllib3.exceptions.SSLError` for a certificate refused) when no address answered.
    """
    path = urllib3.util.parse_url(target.url).request_uri or "/"
    ends = time.monotonic() + deadline_s
    last: urllib3.exceptions.HTTPError = urllib3.exceptions.HTTPError("no address to connect to")
    for address in target.addresses:
        left = ends - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"no answer within {deadline_s:g} s")
        conn = _connection(target, address, min(left, c.CALLBACK_CONNECT_TIMEOUT_S))
        watchdog = threading.Timer(left, _cut, args=(conn,))
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.connect()
            if conn.sock is not None:  # each read or write from here: the read timeout, within the deadline
                conn.sock.settimeout(max(0.001, min(ends - time.monotonic(), c.CALLBACK_READ_TIMEOUT_S)))
            conn.request("POST", path, body=body, headers=dict(headers))
            answer = conn.getresponse()
            with contextlib.suppress(OSError, http.client.HTTPException, urllib3.exceptions.HTTPError):
                answer.read(_READ_AT_MOST)  # the status is the answer; the rest until the deadline
            return int(answer.status)
        except ssl.SSLError as exc:
            last = urllib3.exceptions.SSLError(str(exc))
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            last = exc if isinstance(exc, urllib3.exceptions.HTTPError) else \
                urllib3.exceptions.ProtocolError(f"{type(exc).__name__}: {exc}")
        finally:
            watchdog.cancel()
            conn.close()
        if time.monotonic() >= ends:
            last = DeadlineExceeded(f"no answer within {deadline_s:g} s")
    raise last


def _connection(target: CallbackTarget, address: str, timeout: float) -> HTTPConnection:
    """A connection to ``address`` (not the host name: the checked address), TLS checked as the host."""
    if target.scheme == "https":
        return HTTPSConnection(address, target.port, timeout=timeout, server_hostname=target.host,
                               assert_hostname=target.host)
    return HTTPConnection(address, target.port, timeout=timeout)


def _cut(conn: HTTPConnection) -> None:
    """The watchdog: shut the socket down, so the read or write blocked on it returns now."""
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
