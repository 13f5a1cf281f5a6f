"""`pinrelay doctor`: check the configuration and its surroundings; print JSON; non-zero if anything is off.

Each check is one entry ``{"name", "ok", "detail"}`` in the printed object, and
the exit code is 1 when any check failed (0 when all passed). A check that passed but
needs a look carries ``"warning": true``, is named in the top-level ``warnings`` and
printed on stderr too; a warning never changes the exit code:

=================  ===========================================================
settings           every ``PINRELAY_*`` variable parses; the retry schedule fits
redis              the records' Redis answers
redis_durability   AOF on, or RDB snapshots configured (else a restart loses sends)
redis_eviction     ``maxmemory-policy noeviction`` (else Redis may drop records)
guard_headroom     warns when a guard quota or cap came within 20% of its limit in the
                   last 24 h (``guard:peak:<hour>``), naming the setting to raise
broker             the Celery broker accepts a connection
stranded_tasks     no pinrelay task sits in the ``celery`` queue no worker reads
route:<name>       the route's credentials are present (a provider call only
                   with ``--probe``, one that sends nothing)
receiver           ``PINRELAY_PUBLIC_WEBHOOK_URL``'s ``/healthz`` answers (when set)
port:<name>        the receiver's and simulator's ports are free (or held by ours)
=================  ===========================================================

Nothing here changes anything: the checks only read.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from worker import constants as c
from worker.config import ENV_NAMES, Settings
from worker.errors import ConfigError

# route -> (the settings its credentials are in, the setting of its provider URL). Routes
# another module adds (``settings.routes``) that are not listed are reported as unknown.
ROUTE_CREDENTIALS: Final = {
    "sc2fa": (("api_key", "api_secret"), "api_url"),
    "sms": (("api_key", "api_secret"), "api_url"),
    "twilio": (("twilio_account_sid", "twilio_auth_token"), "twilio_url"),
    "messages": (("api_key", "api_secret"), "messages_url"),  # Basic auth; an application: below
}
MESSAGES_APPLICATION: Final = (("vonage_application_id", "vonage_private_key"), "messages_url")
DEMO_KEY: Final = "demo-key"  # the simulator's credentials, the settings' defaults
LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")
STRANDED_SCAN: Final = 1000  # messages of the `celery` list looked at, at most
CELERY_DEFAULT_QUEUE: Final = "celery"  # where send_task puts a task without queue=
RECEIPT_PATH: Final = "/delivery-receipt-webhook"  # the receiver's public path (docs/contract.md)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False

    def shown(self) -> dict[str, Any]:
        """``{"name", "ok", "detail"}``, plus ``"warning": true`` for a warning."""
        flag = {"warning": True} if self.warning else {}
        return {"name": self.name, "ok": self.ok, "detail": self.detail, **flag}


def add_arguments(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check settings, Redis, broker, routes, receiver and ports; "
                                      "prints JSON, exit 1 when something is wrong")
    p.add_argument("--probe", action="store_true",
                   help="also call each route's provider with a request that sends nothing")
    p.add_argument("--webhook-port", type=int, default=c.DEFAULT_WEBHOOK_PORT,
                   help="the receiver's port, checked free (or held by a pinrelay receiver)")
    p.add_argument("--sim-port", type=int, default=c.DEFAULT_SIM_PORT,
                   help="the simulator's port, checked the same way")
    p.add_argument("--timeout", type=float, default=3.0, metavar="S",
                   help="seconds each network check may take")
    p.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace, environ: dict[str, str] | None = None) -> int:
    checks = list(diagnose(args, environ))
    ok = all(check.ok for check in checks)
    warnings = [check for check in checks if check.warning]
    print(json.dumps({"ok": ok, "warnings": [check.name for check in warnings],
                      "checks": [check.shown() for check in checks]}, indent=2))
    for check in warnings:
        print(f"pinrelay doctor: warning: {check.name}: {check.detail}", file=sys.stderr)
    return 0 if ok else 1


def diagnose(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Iterator[Check]:
    """Every check, in order; later ones are skipped when the settings cannot be read."""
    try:
        settings = Settings.from_env(environ, runtime_file=True)  # finds a running `up`'s Redis
        settings.check_for_worker()
    except ConfigError as exc:
        yield Check("settings", False, str(exc))
        return
    yield Check("settings", True, f"{len(ENV_NAMES)} PINRELAY_* variables read and valid")
    yield from _redis_checks(settings, args.timeout)
    if settings.redis_url or settings.broker_url:
        yield _broker_check(settings, args.timeout)
        yield _stranded_check(settings, args.timeout)
    yield from _route_checks(settings, args.probe, args.timeout)
    yield _receiver_check(settings, args.timeout)
    yield _port_check("webhook", args.webhook_port, "/healthz", lambda body: "redis" in body)
    yield _port_check("sim", args.sim_port, "/_sim/stats", lambda body: isinstance(body, dict))


def _redis_checks(settings: Settings, timeout: float) -> Iterator[Check]:
    from worker.redisconn import redis_client
    from worker.text import to_text

    if not settings.redis_url:
        yield Check("redis", False, "no Redis: set PINRELAY_REDIS_URL or start `pinrelay up`")
        return
    client = redis_client(settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        info = client.info()
    except Exception as exc:
        yield Check("redis", False, f"{_redacted(settings.redis_url)} does not answer: {exc}")
        return
    yield Check("redis", True, f"{_redacted(settings.redis_url)} answers (Redis {info.get('redis_version')})")
    yield _durability(client, info, to_text)
    policy = str(info.get("maxmemory_policy", "?"))
    yield Check("redis_eviction", policy == "noeviction",
                "maxmemory-policy noeviction" if policy == "noeviction" else
                f"maxmemory-policy is {policy}: under memory pressure Redis may evict records and "
                "queued tasks; set maxmemory-policy noeviction (ops/redis.conf)")
    yield _guard_headroom(client, settings)
    client.close()


def _guard_headroom(client: Any, settings: Settings) -> Check:
    """A warning when a guard quota or cap came within 20% of its limit in the last 24 hours."""
    from worker.guard.headroom import headroom

    try:
        warn, detail = headroom(client, settings)
    except Exception as exc:
        return Check("guard_headroom", True, f"not checked: the guard's peaks cannot be read ({exc})")
    return Check("guard_headroom", True, detail, warning=warn)


def _durability(client: Any, info: dict[str, Any], to_text: Callable[[Any], str]) -> Check:
    if int(info.get("aof_enabled", 0)):
        return Check("redis_durability", True, "AOF is on (appendonly yes)")
    try:
        save = to_text(client.config_get("save").get("save", ""))
    except Exception:
        return Check("redis_durability", False, "AOF is off and the RDB schedule cannot be read "
                     "(CONFIG GET refused): check the server's persistence")
    if save.strip():
        return Check("redis_durability", True, f"AOF is off; RDB snapshots on (save {save}): a "
                     "crash loses the writes since the last snapshot")
    return Check("redis_durability", False, "AOF is off and RDB snapshots are off (save ''): "
                 "a restart loses every record and queued send; set appendonly yes (ops/redis.conf)")


def _broker_check(settings: Settings, timeout: float) -> Check:
    from kombu import Connection

    url = settings.effective_broker_url
    try:
        with Connection(url, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:
        return Check("broker", False, f"{_redacted(url)}: {type(exc).__name__}: {exc}")
    shared = " (the records' Redis)" if url == settings.redis_url else ""
    return Check("broker", True, f"{_redacted(url)}{shared} accepts connections")


def _stranded_check(settings: Settings, timeout: float) -> Check:
    """pinrelay tasks in Celery's default ``celery`` queue: a ``send_task`` without ``queue=``."""
    from worker.redisconn import redis_client

    url = settings.effective_broker_url
    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        return Check("stranded_tasks", True, "not checked: the broker is not Redis")
    if settings.queue == CELERY_DEFAULT_QUEUE:
        return Check("stranded_tasks", True, "the workers read the 'celery' queue themselves")
    client = redis_client(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        waiting = int(client.llen(CELERY_DEFAULT_QUEUE))
        messages = client.lrange(CELERY_DEFAULT_QUEUE, 0, STRANDED_SCAN - 1)
    except Exception as exc:
        return Check("stranded_tasks", False, f"cannot read the 'celery' queue: {exc}")
    finally:
        client.close()
    ours = sum(1 for raw in messages if _task_name(raw) in (c.TASK_SEND_PIN, c.TASK_REPORT_CONVERSION))
    if not ours:
        return Check("stranded_tasks", True, f"no pinrelay task in the 'celery' queue ({waiting} other)")
    return Check("stranded_tasks", False,
                 f"{ours} pinrelay task(s) in the 'celery' queue (of the first {len(messages)} of "
                 f"{waiting}): no pinrelay worker reads it; send with queue={settings.queue!r} "
                 "(PINRELAY_QUEUE), or run a worker with -Q celery to drain them")


def _task_name(raw: Any) -> str:
    try:
        message = json.loads(raw)
        return str((message.get("headers") or {}).get("task", ""))
    except (ValueError, TypeError, AttributeError):
        return ""


def _route_checks(settings: Settings, probe: bool, timeout: float) -> Iterator[Check]:
    names = tuple(getattr(settings, "routes", None) or ("sc2fa",))
    for name in names:
        if name not in ROUTE_CREDENTIALS:
            yield Check(f"route:{name}", False, f"unknown route {name!r}: doctor cannot check it")
            continue
        fields, url_field = ROUTE_CREDENTIALS[name]
        if name == "messages" and getattr(settings, "vonage_application_id", None):
            fields, url_field = MESSAGES_APPLICATION
        missing = [f"PINRELAY_{ENV_NAMES.get(f, f.upper())}" for f in fields
                   if not getattr(settings, f, None)]
        url = str(getattr(settings, url_field, "") or "")
        if missing:
            yield Check(f"route:{name}", False, f"missing {', '.join(missing)}")
        elif getattr(settings, fields[0]) == DEMO_KEY and urlsplit(url).hostname not in LOOPBACK:
            yield Check(f"route:{name}", False, f"the simulator's demo credentials with {url}: set "
                        f"PINRELAY_{ENV_NAMES[fields[0]]} and PINRELAY_{ENV_NAMES[fields[1]]}")
        elif probe and name == "sc2fa":
            yield _probe_sc2fa(settings, timeout)
        else:
            extra = "" if not probe else " (no probe for this route)"
            yield Check(f"route:{name}", True, f"credentials present for {url}{extra}")


def _probe_sc2fa(settings: Settings, timeout: float) -> Check:
    """POST the credentials without ``to``: the provider checks credentials first and sends
    nothing to nobody (docs/provider-api.md §3: 2 missing params, 4 bad credentials)."""
    import requests  # the server extra

    form = {"api_key": settings.api_key, "api_secret": settings.api_secret}
    try:
        with requests.Session() as session:
            session.trust_env = False  # like the send path: no proxy variables, no .netrc
            response = session.post(settings.twofa_url, data=form, timeout=timeout, allow_redirects=False)
        if response.status_code == 401:
            return Check("route:sc2fa", False, "the provider refused the credentials (HTTP 401)")
        status = str(response.json()["messages"][0]["status"])  # docs/provider-api.md §2
    except (requests.RequestException, ValueError, LookupError, TypeError) as exc:
        return Check("route:sc2fa", False, f"probe of {settings.twofa_url} failed: {type(exc).__name__}")
    if status in ("4", "14"):
        return Check("route:sc2fa", False, f"the provider refused the credentials (status {status})")
    return Check("route:sc2fa", True, f"the provider took the credentials (status {status} for the "
                 "empty probe request)")


def _receiver_check(settings: Settings, timeout: float) -> Check:
    import requests  # the server extra

    url = settings.public_webhook_url
    if not url:
        return Check("receiver", True, "not checked: PINRELAY_PUBLIC_WEBHOOK_URL is not set")
    parts = urlsplit(url)
    base = parts.path.removesuffix(RECEIPT_PATH).rstrip("/")
    health = f"{parts.scheme}://{parts.netloc}{base}/healthz"
    try:
        response = requests.get(health, timeout=timeout, allow_redirects=False)
        body = response.json()
    except (requests.RequestException, ValueError) as exc:
        return Check("receiver", False, f"{health} did not answer as the receiver: {type(exc).__name__}")
    if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "ok":
        return Check("receiver", False, f"{health} answered {response.status_code}, not the receiver's ok")
    return Check("receiver", True, f"{health} answers ok (redis {body.get('redis')})")


def _port_check(name: str, port: int, path: str, ours: Callable[[Any], bool]) -> Check:
    """Free, or held by our own server (a running deployment); else ``up`` would fail."""
    import requests  # the server extra

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
            return Check(f"port:{name}", True, f"port {port} is free")
        except OSError:
            pass
    try:
        body = requests.get(f"http://127.0.0.1:{port}{path}", timeout=2, allow_redirects=False).json()
        if ours(body):
            return Check(f"port:{name}", True, f"port {port} is held by a running pinrelay {name}")
    except (requests.RequestException, ValueError):
        pass
    return Check(f"port:{name}", False, f"port {port} is in use by another program: "
                 f"`pinrelay {name}` cannot listen there (choose another with --port)")


def _redacted(url: str) -> str:
    from worker.config import redact_url

    return redact_url(url)
