"""What every hook does with a code: the producer's send, once per (caller, number, code).

The send goes through :meth:`worker.enqueue.producer.Producer.send_pin` like any other:
validation, the abuse limits (and the pumping guard's rules once it is merged), the record and
its task in one Redis step. An auth server retries with a new request id each time (Supabase: a
new ``webhook-id`` per attempt), so retries are recognised by what they carry instead: the
producer's idempotency key is derived from (scope, number, code), and its key expires after a
window that covers the server's retries (:data:`worker.constants.SUPABASE_DEDUP_WINDOW_S`)
rather than living as long as the record. A retry in the window answers the first send's id
and sends nothing; a deliberate resend carries a new code, so it is a new key and goes out.

The key is ``hook <kind> <hex HMAC-SHA256(secret, scope, number, code)>``: keyed, so the record
(which shows its ``idempotency_key``) gives nobody a hash to brute-force a 6-digit code from;
and with spaces, which the HTTP API's ``Idempotency-Key`` header (visible ASCII) cannot carry,
so no API caller can name it and pre-empt or replay a hook's send.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Final

import redis

from worker.enqueue.producer import Producer
from worker.logs import get_logger
from worker.masking import mask_number

KEY_STEM: Final = "hook"


@dataclass(frozen=True, slots=True)
class HookSend:
    """One code a hook was asked to send. ``scope`` is what else tells two callers' codes apart
    (the Supabase user id; the generic hook's caller)."""

    kind: str  # "supabase", "generic": the key's namespace and the log's
    to: str
    code: str
    client_ref: str | None
    scope: str


class HookSender:
    """Sends hooks' codes through one producer."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._log = get_logger("pinrelay.api.hooks")

    @staticmethod
    def idempotency_key(send: HookSend, secret: bytes) -> str:
        """The producer's idempotency key for ``send`` (see the module docstring)."""
        material = "\n".join((send.scope, send.to.strip().removeprefix("+"), send.code)).encode()
        return f"{KEY_STEM} {send.kind} {hmac.new(secret, material, hashlib.sha256).hexdigest()}"

    def send(self, send: HookSend, *, secret: bytes, window_s: int) -> str:
        """Send (or recognise a retry of) ``send``; the request id. Raises what
        :meth:`Producer.send_pin` raises (ValidationError, AbuseLimitError, StoreUnavailableError)."""
        key = self.idempotency_key(send, secret)
        # each hook is an origin of its own: its quotas and send share (the pumping guard);
        # the auth server checks the code, so pinrelay learns no conversion to judge it by
        request_id = self._producer.send_pin(send.to, send.code, send.client_ref, idempotency_key=key,
                                             origin=f"{KEY_STEM}-{send.kind}")
        try:
            self._producer.redis.pexpire(self._producer.store.idempotency_key(key), window_s * 1000)
        except redis.RedisError as exc:
            # the send is stored: the key then lives as long as the record, a longer window
            # (a second equal code to the same number and caller is held until it goes)
            self._log.warning("hook_window_not_set", kind=send.kind, error=f"{type(exc).__name__}: {exc}")
        self._log.info("hook_send", kind=send.kind, id=request_id, to=mask_number(send.to))
        return request_id
