"""The send use case against a real Redis and a scripted fake provider (no Celery)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis
import structlog
from structlog.testing import capture_logs

from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import DeferSend, PermanentProviderError, TransientProviderError, UnconfirmedSendError
from worker.records.store import RecordStore, new_request_id
from worker.send.delivery import DeliveryDeps, deliver
from worker.send.routes.base import Accepted
from worker.states import State


@dataclass
class ScriptedProvider:
    """Answers from a script: an exception instance or "ok"; records every call."""

    script: list[object] = field(default_factory=list)
    calls: list[tuple[SendRequest, str | None]] = field(default_factory=list)

    def submit(self, request: SendRequest, client_ref: str | None) -> Accepted:
        self.calls.append((request, client_ref))
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, Exception):
            raise step
        return Accepted(f"MSG{len(self.calls):013d}", "0", "310004", "0.0333", "10.0", 0.001)


@pytest.fixture
def store(settings: Settings, redis_client: redis.Redis) -> RecordStore:
    return RecordStore(redis_client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)


@pytest.fixture
def sleeps() -> list[float]:
    return []


def _deps(settings: Settings, store: RecordStore, provider: ScriptedProvider,
          sleeps: list[float]) -> DeliveryDeps:
    return DeliveryDeps(settings=settings, store=store, provider=provider,
                        log=structlog.get_logger("test"), sleep=sleeps.append)


def _enqueue(store: RecordStore, *, expires_in: float = 300, client_ref: str | None = None) -> str:
    rid = new_request_id()
    argv = store.new_record(rid, to="16365553226", pin="424242", client_ref=client_ref, params=None,
                            expires_at=time.time() + expires_in)
    assert store.create(rid, None, argv) == rid
    return rid


@pytest.fixture(autouse=True)
def _plain_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


def test_accepted_send_is_submitted_with_message_id(settings: Settings, store: RecordStore,
                                                    sleeps: list[float]) -> None:
    """One call, state submitted, message-id recorded, PIN removed from the record."""
    provider = ScriptedProvider()
    rid = _enqueue(store)
    assert deliver(rid, _deps(settings, store, provider, sleeps)) == "submitted"
    record = store.get(rid)
    assert record["message_id"] == "MSG0000000000001"
    assert record["attempts"] == 1 and record["submitted_at"]
    assert not store.client.exists(store.pin_key(rid))
    assert provider.calls[0][1] == rid  # our id is the client-ref when the caller gave none


def test_transient_then_success_retries_with_backoff(settings: Settings, store: RecordStore,
                                                     sleeps: list[float]) -> None:
    """A throttle then a 5xx are retried; the third call succeeds; waits honour the hint."""
    provider = ScriptedProvider([TransientProviderError("t", status="1", retry_after=0.9),
                                 TransientProviderError("5xx", http_status=503)])
    rid = _enqueue(store)
    assert deliver(rid, _deps(settings, store, provider, sleeps)) == "submitted"
    assert len(provider.calls) == 3
    assert store.get(rid)["attempts"] == 3
    assert sleeps[0] >= 0.9  # status 1's own wait is the floor


def test_permanent_error_is_not_retried(settings: Settings, store: RecordStore,
                                        sleeps: list[float]) -> None:
    """A permanent code ends in error after exactly one call."""
    provider = ScriptedProvider([PermanentProviderError("barred", status="7")])
    rid = _enqueue(store)
    assert deliver(rid, _deps(settings, store, provider, sleeps)) == "error"
    assert len(provider.calls) == 1
    record = store.get(rid)
    assert record["provider_status"] == "7" and "barred" in record["error_text"]


def test_unconfirmed_is_recorded_and_not_retried(settings: Settings, store: RecordStore,
                                                 sleeps: list[float]) -> None:
    """A read timeout after sending is `unconfirmed`, with no second call."""
    provider = ScriptedProvider([UnconfirmedSendError("no answer")])
    rid = _enqueue(store)
    assert deliver(rid, _deps(settings, store, provider, sleeps)) == "unconfirmed"
    assert len(provider.calls) == 1


def test_retries_stop_at_max_attempts(settings: Settings, store: RecordStore,
                                      sleeps: list[float]) -> None:
    """Endless 5xx ends in error after max_attempts calls."""
    provider = ScriptedProvider([TransientProviderError("5xx", http_status=500)] * 50)
    rid = _enqueue(store)
    assert deliver(rid, _deps(settings, store, provider, sleeps)) == "error"
    assert len(provider.calls) == settings.max_attempts
    assert "gave up" in store.get(rid)["error_text"]


def test_redelivery_after_submit_does_not_call_again(settings: Settings, store: RecordStore,
                                                     sleeps: list[float]) -> None:
    """A second run of the same task is a logged no-op."""
    provider = ScriptedProvider()
    rid = _enqueue(store)
    deliver(rid, _deps(settings, store, provider, sleeps))
    with capture_logs() as logs:
        assert deliver(rid, _deps(settings, store, provider, sleeps)) == "submitted"
    assert len(provider.calls) == 1
    assert any(e["event"] == "send_settled_elsewhere" for e in logs)


def test_worker_death_during_call_means_unconfirmed(settings: Settings, store: RecordStore,
                                                    sleeps: list[float]) -> None:
    """A record left in `sending` past the lease (worker died mid-call) becomes unconfirmed."""
    provider = ScriptedProvider()
    rid = _enqueue(store)
    assert store.claim(rid, now=time.time() - 120).verdict == "ok"  # the dead worker's old claim
    assert deliver(rid, _deps(settings, store, provider, sleeps)) == "unconfirmed"
    assert provider.calls == []
    assert store.get(rid)["state"] == State.UNCONFIRMED


def test_second_copy_during_a_live_call_defers(settings: Settings, store: RecordStore,
                                              sleeps: list[float]) -> None:
    """A duplicate task that meets a fresh claim steps back (DeferSend) instead of judging it."""
    provider = ScriptedProvider()
    rid = _enqueue(store)
    assert store.claim(rid).verdict == "ok"  # a live worker is calling the provider
    with pytest.raises(DeferSend):
        deliver(rid, _deps(settings, store, provider, sleeps))
    assert provider.calls == [] and store.get(rid)["state"] == "sending"


def test_retry_deadline_counts_from_the_first_attempt(settings: Settings, store: RecordStore,
                                                      sleeps: list[float]) -> None:
    """A redelivered send whose first attempt is older than the deadline gives up."""
    provider = ScriptedProvider()
    rid = _enqueue(store)
    store.claim(rid, now=time.time() - settings.retry_deadline_s - 10)
    store.finish(rid, State.QUEUED, fields={"provider_status": "5"})  # released, then the worker died
    assert deliver(rid, _deps(settings, store, provider, sleeps)) == "error"
    assert provider.calls == [] and "PINRELAY_RETRY_DEADLINE" in store.get(rid)["error_text"]


def test_expired_request_is_not_sent(settings: Settings, store: RecordStore,
                                     sleeps: list[float]) -> None:
    """A PIN past its expiry is recorded as expired_before_send with no call."""
    provider = ScriptedProvider()
    rid = _enqueue(store, expires_in=-1)
    assert deliver(rid, _deps(settings, store, provider, sleeps)) == "expired_before_send"
    assert provider.calls == []


def test_pin_is_kept_for_replay_after_error_and_replay_makes_a_new_request(
        settings: Settings, store: RecordStore, sleeps: list[float]) -> None:
    """An errored send can be replayed once, as a new linked request with the same PIN."""
    provider = ScriptedProvider([PermanentProviderError("x", status="5")])
    rid = _enqueue(store)
    deliver(rid, _deps(settings, store, provider, sleeps))
    verdict, new_id = store.replay(rid)
    assert verdict == "ok"
    assert store.get(new_id)["replay_of"] == rid and store.get(rid)["replayed_as"] == new_id
    assert store.replay(rid)[0] == "already"
    assert deliver(new_id, _deps(settings, store, provider, sleeps)) == "submitted"
    assert provider.calls[-1][0].pin == "424242"


def test_no_pin_or_secret_in_attempt_logs(settings: Settings, store: RecordStore,
                                          sleeps: list[float]) -> None:
    """The per-attempt events carry ids and codes, never the PIN or full number."""
    provider = ScriptedProvider([TransientProviderError("t", status="5")])
    rid = _enqueue(store)
    with capture_logs() as logs:
        deliver(rid, _deps(settings, store, provider, sleeps))
    attempts = [e for e in logs if e["event"] == "provider_attempt"]
    assert [e["decision"] for e in attempts] == ["retry_if_allowed", "accepted"]
    assert all(e["request_id"] == rid for e in attempts)
    text = repr(logs)
    assert "424242" not in text and "16365553226" not in text
    assert settings.api_secret not in text
