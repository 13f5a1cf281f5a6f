"""Supabase's Standard Webhooks signatures, checked by the reference library (``standardwebhooks``).

Supabase signs ``"<webhook-id>.<webhook-timestamp>.<body>"`` with HMAC-SHA256 under each
configured secret and sends ``webhook-signature: v1,<base64>``; during a rotation one signature
per secret, joined by ``", "`` (``hookshttp.go`` in supabase/auth), where the Standard Webhooks
spec uses a space. The library's ``verify`` splits on the space only: 1.3.0 then matches only
the last signature, 1.1.0 raises ``ValueError`` on ``v1,AAA,``. So the header is split here
into its ``v1,<base64>`` pieces and the library is asked once per piece and secret; a call is
accepted when any piece verifies with any secret (docs/auth-servers.md, measured). The library
keeps what a verifier must get right: the 5-minute timestamp tolerance and the constant-time
compare.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from standardwebhooks import Webhook, WebhookVerificationError

from worker.api.errors import Unauthorized
from worker.config.types import supabase_secrets

HEADERS: Final = ("webhook-id", "webhook-timestamp", "webhook-signature")
# Supabase sends one per secret (two during a rotation). Each piece costs one HMAC of the body
# per configured secret, before anything is known about the caller: bounded, so an unsigned
# 256 KiB body costs at most a few milliseconds.
SIGNATURES_MAX: Final = 4
SETTING: Final = "PINRELAY_SUPABASE_HOOK_SECRET"


def signature_pieces(header: str) -> list[str]:
    """``"v1,AAA=, v1,BBB="`` (Supabase) or ``"v1,AAA= v1,BBB="`` (the spec) -> each ``v1,<sig>``."""
    return [piece for part in header.split() if (piece := part.strip(","))]


class StandardWebhooks:
    """Verifies one request against every configured secret (``PINRELAY_SUPABASE_HOOK_SECRET``)."""

    def __init__(self, setting: str) -> None:
        self._hooks = [Webhook(key) for key in supabase_secrets(setting)]

    def verify(self, body: bytes, header: Callable[[str], str | None]) -> None:
        """Return if the request is signed by a configured secret; else 401 saying why (a missing
        header, a timestamp more than 5 minutes off, or no signature that matches)."""
        values = {name: header(name) or "" for name in HEADERS}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise Unauthorized(f"Standard Webhooks header {missing[0]} is missing")
        pieces = signature_pieces(values["webhook-signature"])
        if not 1 <= len(pieces) <= SIGNATURES_MAX:
            raise Unauthorized(f"webhook-signature must hold 1-{SIGNATURES_MAX} signatures")
        reasons: set[str] = set()
        for piece in pieces:
            single = {**values, "webhook-signature": piece}
            for hook in self._hooks:
                try:
                    hook.verify(body, single, json_parse=False)
                except WebhookVerificationError as exc:
                    reasons.add(str(exc))
                except ValueError:  # 1.1.0: a piece that is not "v1,<base64>", a body that is not UTF-8
                    continue
                else:
                    return
        stale = sorted(reason for reason in reasons if "timestamp" in reason.lower())
        if stale:
            raise Unauthorized(f"webhook-timestamp is outside the 5-minute tolerance ({stale[0]})")
        raise Unauthorized(f"no webhook-signature matches a secret of {SETTING}")
