"""The verify use case: start, check, resend, read; and the conversions a verification owes.

pinrelay generates the code, sends it through the normal send path (``send_pin`` with an
idempotency key per verification and send: records, claims, retries, routes, receipts
and dead letters as for any PIN), keeps only its HMAC, counts checks and reports the
conversions itself. The plaintext code exists in this process while it is handed to
``send_pin`` and in the send path's expiring ``pin:`` key until that send ends (accepted,
failed, unconfirmed: a verification's send is never replayed), a resend replaces it or
the verification ends; never in the verification record, a task or a log line.

A resend's code is hashed and its HMAC stored with its slot (:meth:`VerifyStore.reserve`)
before the code goes to ``send_pin``; until the send is linked a check accepts it beside
the current one, so an SMS faster than the link is never a wrong code.

A check costs the same work whether or not the id exists: one read, one HMAC, two
:func:`hmac.compare_digest`, one script doing the same Redis commands as for a wrong code.
Only its answer (``unknown``) tells them apart.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol

from worker import constants as c
from worker.config import Settings
from worker.config.rules import verify_key
from worker.enqueue.request import SendRequest
from worker.errors import StoreUnavailableError, UnknownRequestError, ValidationError
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
# Pauses before linking a send again after Redis failed to: the send is out, so its link is
# worth a short wait (a link that never succeeds leaves its code working, unlinked).
_LINK_RETRY_S: Final = (0.05, 0.25)


def _known_id(verification_id: object) -> str:
    """``verification_id`` if it can be an id (32 hex characters), else a key that never exists."""
    if isinstance(verification_id, str) and _ID.fullmatch(verification_id):
        return verification_id
    return _NO_ID


class SendPath(Protocol):
    """What the verify flow needs of the send path (:class:`worker.enqueue.producer.Producer`)."""

    def send_pin(self, to: str, pin: str, client_ref: str | None = None, *,
                 params: Mapping[str, str] | None = None, idempotency_key: str | None = None,
                 expires_in: float | None = None, origin: str | None = None,
                 expect_conversion: bool = False) -> str: ...

    def report_conversion(self, request_id: str, delivered: bool = True, at: float | None = None) -> None: ...

    def get_status(self, request_id: str) -> dict[str, Any]: ...


def _ended(verification_id: str, state: str) -> ResendRefusedError:
    return ResendRefusedError(verification_id, state, f"it has ended ({state}); start a new verification")


def idempotency_key(verification_id: str, send: int) -> str:
    """The send path's idempotency key of send ``send``: a retried call sends it once.

    Its prefix (:data:`worker.constants.VERIFY_IDEMPOTENCY_PREFIX`) is also how the send
    path knows a verification's send: its PIN goes at every end, and it is never replayed.
    """
    return f"{c.VERIFY_IDEMPOTENCY_PREFIX}{verification_id}:{send}"


class Verifier:
    """Start, check, resend and read verifications; ``schedule(id, delay_s)`` books the expiry sweep."""

    def __init__(self, settings: Settings, store: VerifyStore, sender: SendPath,
                 schedule: Callable[[str, float], None] | None = None) -> None:
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
        return verify_key(self.settings.verify_secret)

    def _ttl(self, ttl: int | None) -> int:
        value = self.settings.verify_ttl_s if ttl is None else ttl
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= c.VERIFY_MAX_TTL_S:
            raise ValidationError("ttl", f"{value!r} is not allowed: a code is valid 1 to "
                                         f"{c.VERIFY_MAX_TTL_S} seconds")
        if value > self.settings.record_ttl_s:  # the verification would vanish while pending
            raise ValidationError("ttl", f"{value} is longer than PINRELAY_RECORD_TTL "
                                         f"({self.settings.record_ttl_s}s): how long a verification "
                                         "is kept")
        return value

    def start(self, to: str, client_ref: str | None = None, length: int | None = None,
              ttl: int | None = None, *, origin: str | None = None) -> str:
        """Validate, create the verification and send its first code; return its id. ``origin``
        (the API key's id; default ``PINRELAY_PRODUCER_ID``) is whose quotas its sends use."""
        key = self._key()
        length = codes.check_length(self.settings.verify_length if length is None else length)
        ttl_s = self._ttl(ttl)
        request = SendRequest.build(to, "0" * length, client_ref, None, regions=self.settings.phone_regions,
                                    number_types=self.settings.number_types)
        verification_id = uuid.uuid4().hex
        code = codes.generate_code(length)
        fields = {"to": request.to, "length": str(length), "ttl": str(ttl_s),
                  "max_attempts": str(self.settings.verify_max_attempts),
                  "max_sends": str(self.settings.verify_max_sends),
                  "hash": codes.code_hmac(key, verification_id, request.to, code)}
        if request.client_ref:
            fields["client_ref"] = request.client_ref
        self.store.start(verification_id, ttl_s, fields)
        try:
            self._send(verification_id, 1, request.to, code, ttl_s, request.client_ref, "", origin)
        except ValidationError:
            raise  # refused before anything was stored: the verification is gone too
        except Exception:
            self._book_expiry(verification_id, ttl_s)  # it may have gone out: let it end
            raise
        self._book_expiry(verification_id, ttl_s)
        self.log.info("verification_started", verification_id=verification_id,
                      to=mask_number(request.to), length=length, ttl_s=ttl_s)
        return verification_id

    def _send(self, verification_id: str, send: int, to: str, code: str, seconds_left: float,
              client_ref: str | None, code_hmac: str, origin: str | None = None) -> str:
        """Hand send ``send`` to the send path and link it; what the link answered.

        The slot is given back only when the send path refused before storing anything (a
        :class:`ValidationError`, which an abuse limit is): after any other error the send
        may be stored and go out, so its slot stays used.
        """
        try:
            request_id = self.sender.send_pin(
                to, code, client_ref, idempotency_key=idempotency_key(verification_id, send),
                expires_in=max(seconds_left, 0.001), origin=origin,
                expect_conversion=True,  # an approved check reports it: the prefix guard judges it
            )
        except ValidationError:
            self.store.release(verification_id, send)
            raise
        linked = self._link(verification_id, send, request_id, code_hmac)
        if linked == "ended":  # it ended before the link: this send is owed now
            self._report_quietly([verification_id])
        return linked

    def _link(self, verification_id: str, send: int, request_id: str, code_hmac: str) -> str:
        """:meth:`VerifyStore.link`, again after a pause if Redis failed; ``unlinked`` at last."""
        for pause in (*_LINK_RETRY_S, None):
            try:
                return self.store.link(verification_id, send, request_id, code_hmac)
            except StoreUnavailableError as exc:
                if pause is None:  # its code works (stored with the slot); its conversion is lost
                    self.log.warning("verify_send_not_linked", verification_id=verification_id, send=send,
                                     request_id=request_id, error=str(exc))
                else:
                    time.sleep(pause)
        return "unlinked"

    def _book_expiry(self, verification_id: str, delay_s: float) -> None:
        if self.schedule is None:
            return
        try:
            self.schedule(verification_id, delay_s + EXPIRY_GRACE_S)
        except Exception as exc:  # checks and other verifications' sweeps still end it
            self.log.warning("verify_expiry_not_booked", verification_id=verification_id,
                             error=f"{type(exc).__name__}: {exc}")

    def resend(self, verification_id: str, *, origin: str | None = None) -> str:
        """A new code for the same verification (the old one stops working); same id back."""
        key = self._key()
        known = _known_id(verification_id)
        found = self.store.read_for_resend(known)
        if found is None:
            raise UnknownVerificationError(str(verification_id))
        code = codes.generate_code(found[1])
        digest = codes.code_hmac(key, known, found[0], code)
        reserved = self.store.reserve(known, digest)
        if reserved.verdict == "unknown":
            raise UnknownVerificationError(verification_id)
        if reserved.verdict == "expired":
            self.expire([verification_id], limit=0)
        if reserved.verdict == "max_sends":
            raise ResendRefusedError(verification_id, "max_sends", f"all {self.settings.verify_max_sends} "
                                     "sends are used; start a new verification")
        if reserved.verdict != "ok":
            raise _ended(verification_id, reserved.verdict)
        linked = self._send(verification_id, reserved.send, reserved.to, code, reserved.seconds_left,
                            reserved.client_ref, digest, origin)
        if linked == "ended":  # a check or the expiry ended it meanwhile: no new code to type
            raise _ended(verification_id, self.store.get_raw(verification_id).get("state", "ended"))
        self.log.info("verification_resent", verification_id=verification_id, send=reserved.send)
        return verification_id

    def check(self, verification_id: str, code: object) -> dict[str, Any]:
        """``{"id", "status", "attempts_left"}`` for one typed-in code; counts a wrong one."""
        key = self._key()
        key_id = _known_id(verification_id)
        to, current, upcoming = self.store.read_for_check(key_id)
        typed = codes.normalize_input(code)
        candidate = codes.code_hmac(key, key_id, to or _NO_TO, typed or _NO_CODE)
        is_current = codes.hmacs_match(candidate, current or _NO_HMAC)
        is_upcoming = codes.hmacs_match(candidate, upcoming or _NO_HMAC)
        matched = ""
        if typed is not None and is_current and current:
            matched = current
        elif typed is not None and is_upcoming and upcoming:
            matched = upcoming
        outcome = self.store.check(key_id, matched)
        self.log.info("verification_checked", verification_id=key_id, status=outcome.status,
                      attempts_left=outcome.attempts_left)
        if outcome.ended:
            self._report_quietly([key_id])
        return {"id": verification_id, "status": outcome.status, "attempts_left": outcome.attempts_left}

    def get(self, verification_id: str) -> dict[str, Any]:
        """The verification as ``pinrelay verify status`` shows it: never its code or HMAC."""
        if _known_id(verification_id) == _NO_ID:
            raise UnknownVerificationError(str(verification_id))
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
        """End what ran out (``ids``, then ``limit`` others: a producer's 0) and report its sends."""
        ended = self.store.expire(ids, limit)
        for verification_id in ended:
            self.log.info("verification_expired", verification_id=verification_id)
        self._report_quietly(ended)
        return ended

    def _report_quietly(self, ids: Sequence[str]) -> None:
        """Report ``ids``' only: a producer may not list the owed ids (the worker's task sweeps)."""
        try:
            self.report_owed(ids, limit=0)
        except Exception as exc:  # the outcome is recorded; the next sweep reports them
            self.log.warning("verify_conversions_deferred", error=f"{type(exc).__name__}: {exc}")

    def report_owed(self, ids: Sequence[str] = (), limit: int = 100) -> int:
        """Enqueue the conversion of every send of each ended verification owed; how many.

        The approved send is reported ``delivered=true`` at the approval time; every other
        send (of a verification that expired or locked, or one whose code a resend
        replaced) ``delivered=false`` at the end time. Each verification is leased while
        reported, and each send marked (``conv:<n>``) before its report is enqueued, so a
        reporter that takes over from one that failed midway reports only the sends the
        other did not: each once (a report that raised is unmarked for the next one).
        """
        reported = 0
        for verification_id in self.store.owed(ids, limit):
            raw = self.store.get_raw(verification_id)
            for n, request_id in send_ids(raw):
                if not self.store.mark_reported(verification_id, n):
                    continue  # reported before
                delivered = raw.get("state") == "approved" and raw.get("approved_send") == str(n)
                at = raw.get("approved_at") if delivered else raw.get("ended_at")
                try:
                    self.sender.report_conversion(request_id, delivered=delivered,
                                                  at=float(at) if at else time.time())
                except UnknownRequestError:
                    continue  # the send's record is gone: nothing to report
                except Exception:
                    self.store.unmark_reported(verification_id, n)
                    raise
                reported += 1
            self.store.settle_owed(verification_id)
            self.log.info("verification_conversions_queued", verification_id=verification_id,
                          state=raw.get("state"), sends=len(send_ids(raw)))
        return reported
