"""Live stacks on chosen provider routes, all pointed at one simulator (the route tests).

Like ``start_live``, plus what a route needs: the simulator's Twilio account, a numeric SMS
sender (the simulator refuses an alphanumeric one for North American numbers, status 15), the
Messages API host (Basic auth with the demo key unless :func:`messages_application` is added),
and, with a receiver, the webhook's port chosen first so the receiver can be started already
knowing the Twilio status URL it verifies signatures over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis

from pinrelay_ops.simulator import Simulator
from pinrelay_ops.simulator.config import (
    DEFAULT_APPLICATION_ID,
    DEFAULT_TWILIO_ACCOUNT_SID,
    DEFAULT_TWILIO_AUTH_TOKEN,
    DEFAULT_TWILIO_FROM,
)
from tests.support.live import LiveStack, stop_stack, wait_ready
from tests.support.settings import cleanup, isolated_settings
from tests.support.sim import receipts_to
from worker.enqueue.producer import Producer
from worker.local.embedded import free_port
from worker.local.supervisor import Stack
from worker.send.route_health import route_status
from worker.worker_app import create_app

SMS_FROM = "12015550123"
TWILIO_STATUS_PATH = "/twilio-status-webhook"
MESSAGES_STATUS_PATH = "/messages-status-webhook"
SIGNATURE_SECRET = "Ex4mpleSigSecret0123456789abcdef"  # 32 bytes: PyJWT's minimum for HS256


def messages_application(sim: Simulator, folder: Path) -> dict[str, Any]:
    """The settings that make the ``messages`` route sign its JWTs as ``sim``'s demo application
    (its private key written to ``folder``), and webhooks signed with :data:`SIGNATURE_SECRET`
    (``sim`` is told to sign with it too)."""
    key_file = folder / "messages-application.key"
    key_file.write_bytes(sim.demo_private_key_pem)
    sim.configure(signature_secret=SIGNATURE_SECRET)
    return {"vonage_application_id": DEFAULT_APPLICATION_ID, "vonage_private_key": str(key_file),
            "signature_secret": SIGNATURE_SECRET}


class RouteStacks:
    """Starts stacks and stops every one in :meth:`close`, whatever happened."""

    def __init__(self, redis_url: str, log_root: Path) -> None:
        self._redis_url = redis_url
        self._log_root = log_root
        self._started: list[LiveStack] = []
        self._stacks: list[Stack] = []

    def start(self, sim: Simulator, routes: tuple[str, ...], *, receiver: bool = False, workers: int = 1,
              callbacks: bool = False, **overrides: Any) -> LiveStack:
        port = free_port()
        values: dict[str, Any] = {
            "api_url": sim.url, "conversion_url": sim.url, "twilio_url": sim.url, "messages_url": sim.url,
            "routes": routes,
            "sms_from": SMS_FROM, "twilio_account_sid": DEFAULT_TWILIO_ACCOUNT_SID,
            "twilio_auth_token": DEFAULT_TWILIO_AUTH_TOKEN, "twilio_from": DEFAULT_TWILIO_FROM,
            "twilio_status_url": f"http://127.0.0.1:{port}{TWILIO_STATUS_PATH}",
        }
        values.update(overrides)
        settings = isolated_settings(self._redis_url, **values)
        stack = Stack(settings, log_dir=self._log_root / f"stack{len(self._stacks)}")
        self._stacks.append(stack)
        stack.ensure_redis()
        started = [stack.start_worker(name=f"worker{i}") for i in range(workers)]  # booting meanwhile
        if callbacks:  # conversion reports, callbacks and verify expiry run on the callbacks queue
            started.append(stack.start_worker(name="callbacks", concurrency=1, callbacks=True))
        others = []
        if receiver:
            stack.start_webhook(port)
            others.append(stack.start_correlator())
            receipts_to(sim, stack.webhook_url or "")
        app = create_app(stack.settings)
        wait_ready(stack, app, started, others=others)
        live = LiveStack(stack, stack.settings, app, Producer(stack.settings, app), sim,
                         stack.log_dir or self._log_root)
        self._started.append(live)
        return live

    def close(self) -> None:
        clients = {id(live.stack): live.producer.redis for live in self._started}
        for stack in reversed(self._stacks):
            stop_stack(stack, clients.get(id(stack)))
        for live in self._started:
            live.producer.close()
            try:
                client = redis.Redis.from_url(live.settings.redis_url or "", socket_connect_timeout=1)
                cleanup(client, live.settings)
                client.close()
            except redis.RedisError:
                pass


def routes_of(live: LiveStack) -> dict[str, dict[str, Any]]:
    """Each route's status (`pinrelay routes`), by name."""
    return {r["route"]: r for r in route_status(live.producer.redis, live.settings)}

