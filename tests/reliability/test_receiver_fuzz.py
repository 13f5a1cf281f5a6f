"""The receipt receiver under granian, fuzzed over real HTTP: no 5xx, no crash, no poison.

The unit property tests drive the WSGI callable in-process; these go through the
production server and a real socket, so header parsing, chunked bodies,
Content-Length mismatches, compressed and non-UTF-8 bodies, odd methods and paths
all meet granian first. Afterwards the receiver must still answer, and the
correlator must still be applying receipts: nothing fuzzed may wedge the stream.
"""

from __future__ import annotations

import gzip
import http.client
import json
import random
import socket
import time
import uuid
import zlib
from collections.abc import Iterator
from urllib.parse import quote, urlencode, urlsplit

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pinrelay_ops.simulator import Simulator
from tests.support.live import LiveStack, Stacks
from tests.support.sim import simulator
from webhook.app import RECEIPT_PATH
from worker.states import State

from .figures import Figures
from .harness import wait_until

FUZZ = settings(max_examples=400, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
ROUND_TRIP = settings(FUZZ, max_examples=120)
RAW_CONNECTIONS = 120

# --- strategies: what a hostile or broken client might send ---------------------------------
methods = st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "PATCH"])
paths = st.sampled_from(
    [RECEIPT_PATH, RECEIPT_PATH + "/", RECEIPT_PATH + "//", "/delivery%2Dreceipt-webhook", "/healthz",
     "/", "/readyz", "/%00", "/..%2F..%2Fetc%2Fpasswd", "/" + "a" * 2000]
)
unicode_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=60)
raw_query = st.binary(max_size=200).map(lambda b: quote(b, safe="=&+%"))
query_strings = st.one_of(
    st.just(""),
    raw_query,
    st.dictionaries(unicode_text, unicode_text, max_size=8).map(urlencode),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), max_size=80),
)
charsets = st.sampled_from(["", "; charset=utf-8", "; charset=UTF-16", "; charset=latin-1",
                            "; charset=\"utf-8\"", "; charset=bogus", "; charset=", ";;;", "; boundary=x"])
content_types = st.one_of(
    st.none(),
    st.tuples(st.sampled_from(["application/x-www-form-urlencoded", "application/json", "text/plain",
                               "multipart/form-data", "application/xml", "", "*/*", "APPLICATION/JSON"]),
              charsets).map("".join),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | unicode_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(unicode_text, inner, max_size=3),
    max_leaves=10,
)
encodings = st.sampled_from(["utf-8", "utf-16", "utf-32", "latin-1", "utf-8-sig", "cp1252"])
bodies = st.one_of(
    st.just(b""),
    st.binary(max_size=600),
    st.dictionaries(unicode_text, unicode_text, max_size=10).map(lambda d: urlencode(d).encode()),
    st.tuples(json_values, encodings).map(lambda v: json.dumps(v[0]).encode(v[1], "replace")),
    st.tuples(st.dictionaries(unicode_text, unicode_text, max_size=6), encodings).map(
        lambda v: urlencode(v[0], encoding=v[1], errors="replace").encode()
    ),
)
header_names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"),
                       min_size=1, max_size=20)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=80)
extra_headers = st.dictionaries(
    header_names.filter(lambda n: n.lower() not in ("content-length", "transfer-encoding", "host")),
    header_values,
    max_size=6,
)
compressions = st.sampled_from([None, None, "gzip", "deflate", "br", "x-garbage"])


@pytest.fixture(scope="module")
def receiver(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveStack, Simulator]]:
    """granian (one worker) and a correlator on their own key prefix; no send workers."""
    stacks = Stacks(tmp_path_factory.mktemp("fuzz"))
    with simulator() as sim:
        try:
            yield stacks.start(redis_url, sim, workers=0, receiver=True), sim
        finally:
            stacks.close()


class Http:
    """One keep-alive connection to the receiver, reopened after the server closes it."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)

    def request(self, method: str, target: str, body: bytes | None, headers: dict[str, str],
                chunked: bool = False) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request(method, target, body=body, headers=headers, encode_chunked=chunked)
                answer = self.conn.getresponse()
                return answer.status, answer.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


@pytest.fixture(scope="module")
def client(receiver: tuple[LiveStack, Simulator]) -> Iterator[Http]:
    live, _ = receiver
    http_client = Http(live.stack.webhook_url or "")
    yield http_client
    http_client.close()


STATUSES: dict[int, int] = {}


def _encode(body: bytes, how: str | None) -> bytes:
    if how == "gzip":
        return gzip.compress(body)
    if how == "deflate":
        return zlib.compress(body)
    return body


@FUZZ
@given(method=methods, path=paths, query=query_strings, content_type=content_types, body=bodies,
       headers=extra_headers, compression=compressions, chunked=st.booleans())
def test_fuzzed_requests_never_get_a_5xx(
    client: Http, method: str, path: str, query: str, content_type: str | None, body: bytes,
    headers: dict[str, str], compression: str | None, chunked: bool,
) -> None:
    """Random methods, paths, queries, headers, content types, charsets, compressions and
    bodies (chunked or not) are all answered below 500, with a JSON body."""
    sent = dict(headers)
    if content_type is not None:
        sent["Content-Type"] = content_type
    if compression:
        sent["Content-Encoding"] = compression
    payload = _encode(body, compression) if body else None
    target = path + (f"?{query}" if query else "")
    status, answer = client.request(method, target, payload, sent, chunked=chunked and payload is not None)
    STATUSES[status] = STATUSES.get(status, 0) + 1
    assert status < 500, (status, answer[:200])
    if method != "HEAD" and answer:
        json.loads(answer)  # every answer is the receiver's own JSON


@ROUND_TRIP
@given(
    extra=st.dictionaries(
        st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=12),
        st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
        max_size=8,
    ),
    transport=st.sampled_from(["get", "form", "json", "form-chunked"]),
)
def test_any_valid_receipt_is_queued_exactly_as_sent(
    receiver: tuple[LiveStack, Simulator], client: Http, extra: dict[str, str], transport: str
) -> None:
    """A receipt with any extra fields (any Unicode, over GET, form, chunked form or JSON)
    is answered 200 and lands on the stream with exactly its fields."""
    live, _ = receiver
    mid = f"FZ{uuid.uuid4().hex[:14].upper()}"  # not `random`: hypothesis reseeds it per example
    fields = {k: v for k, v in extra.items() if k not in ("received_at", "_entry")}  # set by us
    fields.update(messageId=mid, status="delivered")
    if transport == "get":
        status, answer = client.request("GET", f"{RECEIPT_PATH}?{urlencode(fields)}", None, {})
    elif transport == "json":
        status, answer = client.request("POST", RECEIPT_PATH, json.dumps(fields).encode(),
                                        {"Content-Type": "application/json"})
    else:
        status, answer = client.request(
            "POST", RECEIPT_PATH, urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"}, chunked=transport == "form-chunked",
        )
    assert status == 200, answer
    parked = wait_until(lambda: _parked(live, mid), 10, f"receipt {mid} to reach the correlator")
    assert {k: v for k, v in parked.items() if k not in ("received_at", "_entry")} == fields


def _parked(live: LiveStack, message_id: str) -> dict[str, str] | None:
    """The receipt as the correlator parked it (no send has that message-id)."""
    raw = live.producer.redis.lrange(f"{live.settings.key_prefix}parked:{message_id}", 0, -1)
    return json.loads(raw[0]) if raw else None


def test_malformed_http_framing_does_not_take_the_receiver_down(
    receiver: tuple[LiveStack, Simulator], figures: Figures
) -> None:
    """120 connections of random bytes, truncated requests, lying Content-Lengths, broken
    chunking and huge headers: every answer is below 500 and the receiver keeps serving."""
    live, _ = receiver
    parts = urlsplit(live.stack.webhook_url or "")
    rng = random.Random(20240611)
    answered: dict[str, int] = {}
    for i in range(RAW_CONNECTIONS):
        raw = _hostile_request(rng, i)
        status = _send_raw(parts.hostname or "127.0.0.1", parts.port or 80, raw)
        answered[status] = answered.get(status, 0) + 1
        assert not status.startswith("5"), (status, raw[:120])
    assert live.stack.processes["webhook"].alive
    figures.add(
        "hostile HTTP to the receiver", "hypothesis: 400 random requests (methods, paths, queries, "
        "headers, charsets, gzip/deflate, chunked) + 120 valid receipts with random fields; "
        f"{RAW_CONNECTIONS} raw-socket malformed requests", sent=520 + RAW_CONNECTIONS, lost=0, duplicated=0,
        measured=f"no 5xx; statuses {dict(sorted(STATUSES.items()))}; raw sockets "
        f"{dict(sorted(answered.items()))}",
    )


def _hostile_request(rng: random.Random, i: int) -> bytes:
    line = f"POST {RECEIPT_PATH} HTTP/1.1\r\nHost: x\r\n".encode()
    kind = i % 6
    if kind == 0:
        return rng.randbytes(rng.randint(1, 400))
    if kind == 1:  # Content-Length larger than the body, then the client goes away
        return line + b"Content-Length: 5000\r\nContent-Type: application/json\r\n\r\n{\"messageId\":"
    if kind == 2:  # broken chunk sizes
        return line + b"Transfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n"
    if kind == 3:  # a header far past any sane size
        return line + b"X-Big: " + b"a" * rng.randint(10_000, 100_000) + b"\r\n\r\n"
    if kind == 4:  # both framings at once (request smuggling shape)
        framing = b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        return line + framing + b"0\r\n\r\nGET / HTTP/1.1\r\n\r\n"
    return line + b"Content-Length: " + str(rng.randint(-5, 20)).encode() + b"\r\n\r\n" + rng.randbytes(10)


def _send_raw(host: str, port: int, raw: bytes) -> str:
    """Send ``raw`` on a fresh connection, half-close, return the status code seen (or why not)."""
    with socket.create_connection((host, port), timeout=2) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            head = sock.recv(64)
        except TimeoutError:
            return "timeout"
        except OSError:  # reset, broken pipe, or already shut by the server
            return "reset"
    if not head:
        return "closed"
    parts = head.split(b" ", 2)
    return parts[1].decode("ascii", "replace") if head.startswith(b"HTTP/") and len(parts) > 1 else "?"


def test_receiver_and_correlator_still_work_after_the_fuzzing(
    receiver: tuple[LiveStack, Simulator], client: Http
) -> None:
    """After everything above: /healthz says Redis is fine, and a real receipt for a real send
    still reaches its record (the correlator was not wedged by any fuzzed entry)."""
    live, _ = receiver
    status, answer = client.request("GET", "/healthz", None, {})
    assert (status, json.loads(answer)) == (200, {"status": "ok", "redis": True})
    store, rid, mid = live.producer.store, "f" * 32, "0A00000FUZZ00001"
    store.create(rid, None, store.new_record(rid, to="16365553226", pin="1234", client_ref=None,
                                             params=None, expires_at=time.time() + 60))
    store.claim(rid)
    store.finish(rid, State.SUBMITTED, message_id=mid, fields={"message_id": mid})
    receipt = {"messageId": mid, "msisdn": "16365553226", "status": "delivered", "err-code": "0"}
    assert client.request("GET", f"{RECEIPT_PATH}?{urlencode(receipt)}", None, {})[0] == 200
    record = wait_until(lambda: (r := store.get(rid))["state"] == "delivered" and r, 15, "delivered")
    assert record["receipt_status"] == "delivered"
    assert _backlog(live) == 0  # every receipt the stream took was correlated and acknowledged


def _backlog(live: LiveStack) -> float:
    """``pinrelay_result_queue_pending`` as the correlator's /metrics reports it, once it is 0."""
    from worker.metrics import RedisStatsCollector

    client = redis.Redis.from_url(live.settings.redis_url or "")
    collector = RedisStatsCollector(client, live.settings)

    def pending() -> float:
        return next(sample.value for family in collector.collect() for sample in family.samples
                    if sample.name == "pinrelay_result_queue_pending")

    try:
        wait_until(lambda: pending() == 0 or None, 15, "the receipts stream to drain")
        return pending()
    finally:
        client.close()
