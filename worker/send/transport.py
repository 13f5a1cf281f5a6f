"""The one HTTP session every route shares, and what a failed connection means.

This module decides nothing about answers: it POSTs a route's :class:`HttpCall` and
hands back the response and its latency. What it does decide is the one question only
the transport can answer, whether the request left: a connection refused (or never
made) before any byte was written is transient, because no PIN can be out; a failure
*after* the request was written (read timeout, connection dropped mid-answer) is
:class:`UnconfirmedSendError`, never resent.
"""

from __future__ import annotations

import base64
import platform
import time
from typing import Final

import requests
from requests.adapters import HTTPAdapter

from worker import constants as c
from worker.config import Settings
from worker.errors import PermanentProviderError, TransientProviderError, UnconfirmedSendError
from worker.send.routes.base import HttpCall

USER_AGENT: Final = f"pinrelay/{c.VERSION} python/{platform.python_version()}"


def never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection failed before any byte of the request left."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    return any(
        marker in text
        for marker in ("NewConnectionError", "ConnectionRefusedError", "NameResolutionError")
    )


def basic_auth(user: str, password: str) -> str:
    """An ``Authorization: Basic`` value (UTF-8, as Twilio's SDKs send it)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def new_session() -> requests.Session:
    """The session rules of every call that carries a provider secret (sends, conversions).

    No proxy or ``.netrc`` lookups in the environment: the provider host is configured
    explicitly, a proxy variable must not reroute the secret, and the lookup costs ~10% of a
    send's CPU. No transport-level retries: retrying is worker.send.retry's decision alone.
    Callers pass ``allow_redirects=False``: a 3xx is an error, never the secret re-posted to
    wherever ``Location`` points.
    """
    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
    return session


class Transport:
    """One keep-alive session per worker process; thread-safe enough for one task at a time.

    A ``session`` passed in (tests) lends its adapters, headers and TLS settings; requests
    are prepared here, so its auth, cookies and hooks are not applied.
    """

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self._settings = settings
        self._timeout = (settings.connect_timeout_s, settings.read_timeout_s)
        self._session = session or self._new_session()
        self._headers = dict(self._session.headers)

    @staticmethod
    def _new_session() -> requests.Session:
        return new_session()

    def close(self) -> None:
        self._session.close()

    def send(self, call: HttpCall) -> tuple[requests.Response, float]:
        """POST ``call``'s form (or JSON); the response and the seconds it took, or a provider error."""
        headers = self._headers
        if call.auth is not None:
            headers = {**headers, "Authorization": basic_auth(*call.auth)}
        elif call.bearer is not None:
            headers = {**headers, "Authorization": f"Bearer {call.bearer}"}
        started = time.perf_counter()
        try:
            # Prepared here rather than by Session.post: the session has no cookies, auth or
            # proxies to merge in, and skipping that merge is ~0.25 ms of CPU per send. A
            # redirect is not followed: a POST that moved is an error, not a GET elsewhere.
            prepared = requests.PreparedRequest()
            if call.json is not None:
                prepared.prepare(method="POST", url=call.url, headers=headers, json=dict(call.json))
            else:
                prepared.prepare(method="POST", url=call.url, headers=headers, data=dict(call.form))
            response = self._session.send(prepared, timeout=self._timeout, allow_redirects=False)
        except requests.ConnectionError as exc:
            if never_sent(exc):
                raise TransientProviderError(f"cannot connect to provider: {type(exc).__name__}") from None
            raise UnconfirmedSendError(
                f"connection lost after the request was sent: {type(exc).__name__}"
            ) from None
        except requests.Timeout:
            raise UnconfirmedSendError(
                f"no answer within {self._settings.read_timeout_s}s after the request was sent"
            ) from None
        except requests.RequestException as exc:
            raise PermanentProviderError(f"request not possible: {type(exc).__name__}") from None
        return response, time.perf_counter() - started
