"""The verify use case: start, check, resend, read; and the conversions a verification owes.

pinrelay generates the code, sends it through the normal send path (``send_pin`` with an
idempotency key per verification and send: records, claims, retries, routes, receipts
and dead letters as for any PIN), keeps only its HMAC, counts checks and reports the
conversions itself. The plaintext code exists in this process while it is handed to
``send_pin`` and in the send path's expiring ``pin:`` key until the provider took it
(or the verification ended); never in the verification record, a task or a log line.

A check costs the same work whether or not the id exists: one read, one HMAC, one
:func:`hmac.compare_digest`, one script. Only its answer (``unknown``) tells them apart.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from worker import constants as c
from worker.config import Settings
from worker.enqueue.request import SendRequest
from worker.errors import UnknownRequestError, ValidationError
from worker.logs import get_logger
from worker.masking import mask_number
from worker.verify import codes
from worker.verify.errors import ResendRefusedError, UnknownVerificationError
from worker.verify.store import VerifyStore, send_ids
from worker.verify.view import to_public

__all__ = ["Verifier", "SendPath", "idempotency_key", "EXPIRY_GRACE_S"]

EXPIRY_GRACE_S: Final = 0.5  # the expiry task runs this long after the code ran out
_ID: Final = re.compile(r"[0-9a-f]{32}")
_NO_ID: Final = "-"  # stands in for a malformed id: a key that never exists
_NO_TO: Final = "0"  # the number, code and HMAC a check of an unknown id hashes and compares
_NO_CODE: Final = "0" * codes.MAX_INPUT_CHARS
_NO_HMAC: Final = "0" * 64


class SendPath(Protocol):
    """What the verify flow needs of the send path (:class:`worker.enqueue.producer.Producer`)."""

    def send_pin(self, to: str, pin: str, client_ref: str | None = None, *,
                 params: Mapping[str, str] | None = None, idempotency_key: str | None = None,
                 expires_in: float | None = None) -> str: ...  # fmt: skip

    def report_conversion(self, request_id: str, delivered: bool = True, at: float | None = None) -> None: ...

    def get_status(self, request_id: str) -> dict[str, Any]: ...


def idempotency_key(verification_id: str, send: int) -> str:
    """The send path's idempotency key of send ``send``: a retried call sends it once."""
    return f"verify:{verification_id}:{send}"


class Verifier:
    """Start, check, resend and read verifications; ``schedule(id, delay_s)`` books the expiry sweep."""

    def __init__(self, settings: Settings, store: VerifyStore, sender: SendPath,
                 schedule: Callable[[str, float], None] | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.sender = sender
        self.schedule = schedule
        self.log = get_logger("pinrelay.verify")

    @classmethod
    def for_producer(cls, producer: Any) -> Verifier:
        """A verifier on a :class:`Producer`'s Redis, sending through it, sweeping through its app."""
        settings = producer.settings
        store = VerifyStore(producer.redis, prefix=settings.key_prefix, ttl_s=settings.record_ttl_s)
        from worker.verify.schedule import expiry_scheduler

        return cls(settings, store, producer, expiry_scheduler(producer.app, settings))

    def _key(self) -> bytes:
        return codes.require_secret(self.settings.verify_secret)

    def _ttl(self, ttl: int | None) -> int:
        value = self.settings.verify_ttl_s if ttl is None else ttl
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= c.VERIFY_MAX_TTL_S:
            raise ValidationError("ttl", f"{value!r} is not allowed: a code is valid 1 to "
                                         f"{c.VERIFY_MAX_TTL_S} seconds")  # fmt: skip
        return value

    def start(self, to: str, client_ref: str | None = None, length: int | None = None,
              ttl: int | None = None) -> str:  # fmt: skip
        """Validate, create the verification and send its first code; return its id."""
        key = self._key()
        length = codes.check_length(self.settings.verify_length if length is None else length)
        ttl_s = self._ttl(ttl)
        request = SendRequest.build(to, "0" * length, client_ref, None, regions=self.settings.phone_regions)
        verification_id = uuid.uuid4().hex
        code = codes.generate_code(length)
        fields = {"to": request.to, "length": str(length), "ttl": str(ttl_s),
                  "max_attempts": str(self.settings.verify_max_attempts),
                  "max_sends": str(self.settings.verify_max_sends),
                  "hash": codes.code_hmac(key, verification_id, request.to, code)}  # fmt: skip
        if request.client_ref:
            fields["client_ref"] = request.client_ref
        self.store.start(verification_id, ttl_s, fields)
        self._send(verification_id, 1, request.to, code, ttl_s, request.client_ref, "")
        self._book_expiry(verification_id, ttl_s)
        self.log.info("verification_started", verification_id=verification_id,
                      to=mask_number(request.to), length=length, ttl_s=ttl_s)  # fmt: skip
        return verification_id

    def _send(self, verification_id: str, send: int, to: str, code: str, seconds_left: float,
              client_ref: str | None, code_hmac: str) -> str:  # fmt: skip
        """Hand send ``send`` to the send path and link it; give its slot back if refused."""
        try:
            request_id = self.sender.send_pin(
                to, code, client_ref, idempotency_key=idempotency_key(verification_id, send),
                expires_in=max(seconds_left, 0.001),
            )  # fmt: skip
        except Exception:
            self.store.release(verification_id, send)
            raise
        self.store.link(verification_id, send, request_id, code_hmac)
        return request_id

    def _book_expiry(self, verification_id: str, delay_s: float) -> None:
        if self.schedule is None:
            return
        try:
            self.schedule(verification_id, delay_s + EXPIRY_GRACE_S)
        except Exception as exc:  # checks and other verifications' sweeps still end it
            self.log.warning("verify_expiry_not_booked", verification_id=verification_id,
                             error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    def resend(self, verification_id: str) -> str:
        """A new code for the same verification (the old one stops working); same id back."""
        key = self._key()
        reserved = self.store.reserve(verification_id if _ID.fullmatch(verification_id) else _NO_ID)
        if reserved.verdict == "unknown":
            raise UnknownVerificationError(verification_id)
        if reserved.verdict == "expired":
            self.expire([verification_id])
        if reserved.verdict == "max_sends":
            raise ResendRefusedError(verification_id, "max_sends", f"all {self.settings.verify_max_sends} "
                                     "sends are used; start a new verification")  # fmt: skip
        if reserved.verdict != "ok":
            raise ResendRefusedError(verification_id, reserved.verdict, f"it has ended ({reserved.verdict}); "
                                     "start a new verification")  # fmt: skip
        code = codes.generate_code(reserved.length)
        digest = codes.code_hmac(key, verification_id, reserved.to, code)
        self._send(verification_id, reserved.send, reserved.to, code, reserved.seconds_left,
                   reserved.client_ref, digest)  # fmt: skip
        self.log.info("verification_resent", verification_id=verification_id, send=reserved.send)
        return verification_id

    def check(self, verification_id: str, code: object) -> dict[str, Any]:
        """``{"id", "status", "attempts_left"}`` for one typed-in code; counts a wrong one."""
        key = self._key()
        key_id = verification_id if isinstance(verification_id, str) and _ID.fullmatch(verification_id) \
            else _NO_ID  # fmt: skip
        to, stored = self.store.read_for_check(key_id)
        typed = codes.normalize_input(code)
        candidate = codes.code_hmac(key, key_id, to or _NO_TO, typed or _NO_CODE)
        same = codes.hmacs_match(candidate, stored or _NO_HMAC)
        matched = same and typed is not None and stored is not None
        outcome = self.store.check(key_id, stored or "", matched)
        self.log.info("verification_checked", verification_id=key_id, status=outcome.status,
                      attempts_left=outcome.attempts_left)  # fmt: skip
        if outcome.ended:
            self._report_quietly([key_id])
        return {"id": verification_id, "status": outcome.status, "attempts_left": outcome.attempts_left}

    def get(self, verification_id: str) -> dict[str, Any]:
        """The verification as ``pinrelay verify status`` shows it: never its code or HMAC."""
        if not _ID.fullmatch(verification_id):
            raise UnknownVerificationError(verification_id)
        self.expire([verification_id], limit=0)
        raw = self.store.get_raw(verification_id)
        if not raw:
            raise UnknownVerificationError(verification_id)
        sends = []
        for n, request_id in send_ids(raw):
            try:
                record = self.sender.get_status(request_id)
            except UnknownRequestError:
                record = {}
            sends.append((n, request_id, record))
        return to_public(raw, sends)

    def expire(self, ids: Sequence[str] = (), limit: int = 200) -> list[str]:
        """End the verifications whose code ran out (``ids`` first) and report their sends."""
        ended = self.store.expire(ids, limit)
        for verification_id in ended:
            self.log.info("verification_expired", verification_id=verification_id)
        self._report_quietly(ended)
        return ended

    def _report_quietly(self, ids: Sequence[str]) -> None:
        try:
            self.report_owed(ids)
        except Exception as exc:  # the outcome is recorded; the next sweep reports them
            self.log.warning("verify_conversions_deferred", error=f"{type(exc).__name__}: {exc}")

    def report_owed(self, ids: Sequence[str] = (), limit: int = 100) -> int:
        """Enqueue the conversion of every send of each ended verification owed; how many.

        The approved send is reported ``delivered=true`` at the approval time; every other
        send (of a verification that expired or locked, or one whose code a resend
        replaced) ``delivered=false`` at the end time. Each verification is leased while
        reported, so its sends are reported once, or again only if a reporter died midway.
        """
        reported = 0
        for verification_id in self.store.owed(ids, limit):
            raw = self.store.get_raw(verification_id)
            for n, request_id in send_ids(raw):
                delivered = raw.get("state") == "approved" and raw.get("approved_send") == str(n)
                at = raw.get("approved_at") if delivered else raw.get("ended_at")
                try:
                    self.sender.report_conversion(request_id, delivered=delivered,
                                                  at=float(at) if at else time.time())  # fmt: skip
                except UnknownRequestError:
                    continue  # the send's record is gone: nothing to report
                reported += 1
            self.store.settle_owed(verification_id)
            self.log.info("verification_conversions_queued", verification_id=verification_id,
                          state=raw.get("state"), sends=len(send_ids(raw)))  # fmt: skip
        return reported
