"""One callback delivery attempt, and the Celery task ``pinrelay.deliver_callback`` that runs it.

An attempt reads the record, renders it as ``GET /v1/pins/{id}`` shows it, checks the URL
again (:func:`worker.enqueue.callback_url.check`: the host may resolve elsewhere now) and
POSTs the JSON, signed, to one of the addresses that check accepted, so the connection goes
where the check looked (the TLS certificate is still verified against the host name), all of it
within :data:`~worker.constants.CALLBACK_DEADLINE_S` (:mod:`.posting`). Redirects are not
followed, and proxy variables are not read. The task runs on the callbacks queue
(``PINRELAY_CALLBACK_QUEUE``), in a pool of its own, under a hard Celery time limit. The outcome goes to
``callback_outcome.lua``: a 2xx is done; a refusal (the URL turned private, no secret on
this worker) is given up at once; anything else is retried with capped exponential
backoff until ``PINRELAY_CALLBACK_RETRY_DEADLINE`` after the first attempt.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import redis
import urllib3

from worker import constants as c
from worker import lua
from worker.callbacks import signing
from worker.callbacks.posting import DeadlineExceeded, post
from worker.callbacks.watch import KINDS
from worker.config import Settings
from worker.enqueue.callback_url import CallbackTarget, check
from worker.errors import ValidationError
from worker.logs import get_logger
from worker.records.view import to_public
from worker.text import to_text

_OUTCOME: Final = lua.script("callback_outcome")
USER_AGENT: Final = f"pinrelay-callbacks/{c.VERSION}"

Poster = Callable[[CallbackTarget, bytes, Mapping[str, str]], int]
Renderer = Callable[[redis.Redis, Settings, Mapping[str, str]], dict[str, Any]]


def render_pin(client: redis.Redis, settings: Settings, raw: Mapping[str, str]) -> dict[str, Any]:
    """A send's record as ``GET /v1/pins/{id}`` and ``pinrelay status`` show it."""
    return to_public(raw)


def render_verification(client: redis.Redis, settings: Settings, raw: Mapping[str, str]) -> dict[str, Any]:
    """A verification as ``GET /v1/verifications/{id}`` shows it (with its sends; never its code)."""
    from worker.records.store import RecordStore
    from worker.verify.store import send_ids
    from worker.verify.view import to_public as verification_view

    store = RecordStore(client, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
    sends = []
    for n, request_id in send_ids(raw):
        record = store.get_raw(request_id)
        sends.append((n, request_id, to_public(record) if record else {}))
    return verification_view(raw, sends)


# How each kind of record is shown in its callback.
RENDERERS: dict[str, Renderer] = {"pin": render_pin, "verification": render_verification}


class Deliverer:
    """Makes one attempt for one event and records its outcome."""

    def __init__(self, settings: Settings, client: redis.Redis, poster: Poster = post,
                 clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._client = client
        self._poster = poster
        self._clock = clock
        self._outcome = client.register_script(_OUTCOME)
        self._log = get_logger("pinrelay.callbacks")

    def deliver(self, kind_name: str, record_id: str, state: str, event_id: str) -> str:
        """Attempt the callback of ``record_id`` reaching ``state``; the verdict (done/retry/...)."""
        log = self._log.bind(kind=kind_name, record_id=record_id, state=state, event_id=event_id)
        kind = KINDS.get(kind_name)
        if kind is None or kind_name not in RENDERERS:
            log.error("callback_unknown_kind")
            return "refused"
        key = f"{self._settings.key_prefix}{kind.record_key}{record_id}"
        raw = {to_text(k): to_text(v) for k, v in self._client.hgetall(key).items()}
        outcome, detail = "failed", ""
        try:
            target, secret = self._target(raw), self._secret(raw)
            key_id = raw.get(c.CALLBACK_KEY_FIELD, "")
            shown = RENDERERS[kind_name](self._client, self._settings, raw)
            body = json.dumps(shown, separators=(",", ":")).encode()
            now = int(self._clock())
            headers = {
                "Content-Type": "application/json", "User-Agent": USER_AGENT, "Host": _host_header(target),
                signing.HEADER: signing.sign(secret, now, body, event_id=event_id, key_id=key_id),
                signing.EVENT_HEADER: event_id,
            }
            if key_id:
                headers[signing.KEY_HEADER] = key_id
            status = self._poster(target, body, headers)
            outcome, detail = ("ok" if 200 <= status < 300 else "failed"), f"HTTP {status}"
        except ValidationError as exc:
            outcome, detail = "refused", str(exc)
        except urllib3.exceptions.HTTPError as exc:
            detail = f"no answer: {exc}" if isinstance(exc, DeadlineExceeded) else \
                f"no answer: {type(exc).__name__}"
        args = [record_id, state, outcome, f"{self._clock():.3f}", self._settings.callback_retry_deadline_s,
                c.CALLBACK_BACKOFF_INITIAL_S, c.CALLBACK_BACKOFF_MAX_S, f"{random.random():.3f}",
                "1" if state in kind.ending else "0", 0.5]
        result = [to_text(x) for x in self._outcome(keys=[key, kind.watch_key(self._settings.key_prefix)],
                                                    args=args)]
        verdict = "refused" if outcome == "refused" and result[0] == "done" else result[0]
        attempts = int(result[1]) if len(result) > 1 else 0
        if verdict == "gone":
            log.info("callback_record_gone")
        elif verdict == "done":
            log.info("callback_delivered", attempts=attempts, answer=detail)
        elif verdict == "retry":
            log.info("callback_retry", attempts=attempts, answer=detail,
                     retry_in_s=round(float(result[2]), 2))
        elif verdict in ("refused", "gave_up"):
            log.warning("callback_given_up", verdict=verdict, attempts=attempts, answer=detail)
            from worker.records.deadletters import DeadLetters

            DeadLetters(self._client, self._settings.key_prefix).add("tasks", f"callback:{event_id}", {
                "task": c.TASK_DELIVER_CALLBACK, "kind": kind_name, "record_id": record_id, "state": state,
                "error": f"{verdict} after {attempts} attempt(s): {detail}"})
        return verdict

    def _target(self, raw: Mapping[str, str]) -> CallbackTarget:
        if not raw:
            raise ValidationError("record", "is gone")
        return check(raw.get("callback_url"), allow_private=self._settings.callback_allow_private)

    def _secret(self, raw: Mapping[str, str]) -> str:
        """The callback secret of the API key that made the send, else PINRELAY_CALLBACK_SECRET."""
        key_id = raw.get(c.CALLBACK_KEY_FIELD)
        if key_id:
            own: Any = self._client.hget(f"{self._settings.key_prefix}{c.KEY_API_KEY}{key_id}",
                                         c.API_KEY_CALLBACK_SECRET_FIELD)
            if own:
                return to_text(own)
        if not self._settings.callback_secret:
            raise ValidationError("callback_url", "no callback secret: neither the API key's own nor "
                                  "PINRELAY_CALLBACK_SECRET on this worker")
        return self._settings.callback_secret


def _host_header(target: CallbackTarget) -> str:
    default = 443 if target.scheme == "https" else 80
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == default else f"{host}:{target.port}"


def register_callback_task(app: Any, settings: Settings) -> None:
    """Add ``pinrelay.deliver_callback`` to ``app`` (one attempt per task; Redis keeps the schedule)."""

    @app.task(name=c.TASK_DELIVER_CALLBACK, shared=False, acks_late=True, reject_on_worker_lost=True,
              ignore_result=True, time_limit=c.CALLBACK_TASK_TIME_LIMIT_S)
    def deliver_callback(kind: str, record_id: str, state: str, event_id: str, **_ignored: Any) -> str:
        from worker.taskqueue.wiring import services_for

        return Deliverer(settings, services_for(settings).redis).deliver(kind, record_id, state, event_id)
