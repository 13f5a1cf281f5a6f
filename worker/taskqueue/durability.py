"""Start-up check: does the broker Redis keep what it is given?

A Redis that evicts keys or keeps nothing on disk can lose queued PINs and
records on a restart; pinrelay still runs on it (demos, tests) but says so.
"""

from __future__ import annotations

import redis

from worker.config import Settings
from worker.logs import get_logger
from worker.redisconn import redis_client


def volatility_problems(client: redis.Redis) -> list[str]:
    problems = []
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy", "")
        aof = client.config_get("appendonly").get("appendonly", "no")
        save = client.config_get("save").get("save", "")
    except redis.ResponseError:
        return []  # CONFIG disabled (managed Redis): nothing to check
    if policy != "noeviction":
        problems.append(f"maxmemory-policy is {policy!r}: queued sends may be evicted")
    if aof != "yes" and not save:
        problems.append("neither AOF nor RDB snapshots: a restart loses every queued send")
    return problems


def warn_if_volatile(settings: Settings) -> list[str]:
    if not settings.redis_url:
        return []
    client = redis_client(settings.redis_url, decode_responses=True, socket_timeout=3)
    try:
        problems = volatility_problems(client)
    except redis.RedisError:
        problems = []
    finally:
        client.close()
    log = get_logger("pinrelay.startup")
    for problem in problems:
        log.warning("redis_not_durable", problem=problem, see="ops/redis.conf")
    return problems
