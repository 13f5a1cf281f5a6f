"""The verify unit tests' verifier: a real :class:`Producer` underneath, conversions recorded.

The send path is real (records, PIN keys, idempotency keys and task messages land in Redis;
no worker runs): see :mod:`tests.unit.verify.sendpath`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.unit.verify.sendpath import SECRET, RecordingSendPath
from worker.config import Settings
from worker.enqueue.producer import Producer
from worker.verify.service import Verifier
from worker.verify.store import VerifyStore
from worker.worker_app import create_app


@pytest.fixture
def vsettings(settings: Settings) -> Settings:
    return settings.replace(verify_secret=SECRET)


@pytest.fixture
def sender(vsettings: Settings, redis_client: redis.Redis) -> Iterator[RecordingSendPath]:
    producer = Producer(vsettings, create_app(vsettings))
    yield RecordingSendPath(producer)
    producer.close()


@pytest.fixture
def booked() -> list[tuple[str, float]]:
    return []


@pytest.fixture
def verifier(vsettings: Settings, redis_client: redis.Redis, sender: RecordingSendPath,
             booked: list[tuple[str, float]]) -> Verifier:
    store = VerifyStore(redis_client, prefix=vsettings.key_prefix, ttl_s=vsettings.record_ttl_s)
    return Verifier(vsettings, store, sender, lambda vid, delay: booked.append((vid, delay)))
