"""Per-process collaborators of the worker: one Redis pool, one HTTP session.

Built lazily in the process that uses them (after a prefork fork, never
before), so no connection is shared between processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import redis

from worker.config import Settings
from worker.enqueue.abuse import AbuseGuard
from worker.logs import get_logger
from worker.records.replicated import store_for
from worker.records.store import RecordStore
from worker.redisconn import redis_client
from worker.send.delivery import DeliveryDeps
from worker.send.ratelimit import build_limiter
from worker.send.router import Router
from worker.send.routes import build_routes
from worker.send.spool import AcceptanceSpool, spool_dir
from worker.send.transport import Transport

__all__ = ["Services", "services_for", "redis_client"]  # redis_client: moved to worker.redisconn


@dataclass
class Services:
    settings: Settings
    redis: redis.Redis
    store: RecordStore
    transport: Transport  # the HTTP session every route sends through
    log: Any
    deps: DeliveryDeps
    guard: AbuseGuard


_cache: dict[tuple[int, int], Services] = {}


def services_for(settings: Settings) -> Services:
    """The process's Services for these settings (rebuilt after a fork)."""
    key = (os.getpid(), id(settings))
    found = _cache.get(key)
    if found is None:
        if not settings.redis_url:
            raise RuntimeError("services need a resolved redis_url")
        from worker.metrics import WorkerObserver

        client = redis_client(settings.redis_url)
        store = store_for(client, settings)  # with Sentinel, claims wait for a replica
        transport = Transport(settings)
        log = get_logger("pinrelay.worker")
        spool = AcceptanceSpool(spool_dir(settings.runtime_dir, settings.key_prefix), store, log)
        spool.recover()  # acceptances a dead worker process left unwritten
        router = Router(settings, client, build_routes(settings, transport))
        deps = DeliveryDeps(settings=settings, store=store, log=log,
                            limiter=build_limiter(settings, client), observer=WorkerObserver(),
                            spool=spool, router=router)
        found = Services(settings=settings, redis=client, store=store, transport=transport,
                         log=log, deps=deps, guard=AbuseGuard(settings, client))
        _cache[key] = found
    return found
