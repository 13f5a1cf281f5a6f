"""Auth servers' calls as they make them, for the hook tests: Supabase's Send SMS Hook signed
by the ``standardwebhooks`` reference library the way ``hookshttp.go`` signs (one signature per
secret, joined by ``", "``), Zitadel's ``ZITADEL-Signature`` computed as its Go code does
(``pkg/actions/signing.go``: hex HMAC-SHA256 of ``"<t>.<body>"`` under the key's bytes), and
the bodies each server sends (docs/auth-servers.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

# Two secrets as Supabase's dashboard shows them: a rotation configures both (`old|new`).
SUPABASE_OLD = "v1,whsec_" + base64.b64encode(b"supabase-hook-secret-old-0123456").decode()
SUPABASE_NEW = "v1,whsec_" + base64.b64encode(b"supabase-hook-secret-new-0123456").decode()
SUPABASE_OTHER = "v1,whsec_" + base64.b64encode(b"a-secret-pinrelay-does-not-know!").decode()
SUPABASE_SETTING = f"{SUPABASE_OLD}|{SUPABASE_NEW}"
SIGNING_KEY = "zitadel-signing-key-0123456789abcdef"
USER_ID = "6481a5c1-2c1d-4b8e-9f3a-0e2b7d4c5a61"


def supabase_body(otp: str, phone: str, *, user_phone: str | None = None, user_id: str = USER_ID,
                  **sms: Any) -> bytes:
    """The JSON ``SendSMSInput`` (``v0hooks.go``), with the user's other fields as Supabase sends them."""
    payload = {
        "metadata": {"uuid": str(uuid.uuid4()), "time": "2026-08-20T10:00:00Z", "name": "send-sms",
                     "ip_address": "203.0.113.7"},
        "user": {"id": user_id, "aud": "authenticated", "role": "authenticated", "email": "",
                 "phone": phone if user_phone is None else user_phone, "app_metadata": {"provider": "phone"},
                 "user_metadata": {}, "identities": [], "factors": [], "is_anonymous": False},
        "sms": {"otp": otp, "phone": phone, **sms},
    }
    return json.dumps(payload).encode()


def supabase_headers(body: bytes, *secrets: str, msg_id: str | None = None,
                     timestamp: float | None = None) -> dict[str, str]:
    """Supabase's three headers for ``body``, signed with each of ``secrets`` (as configured:
    ``v1,whsec_...``) by the library, the signatures joined the way ``hookshttp.go`` joins them."""
    msg_id = msg_id or str(uuid.uuid4())
    at = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, tz=UTC)
    signatures = [Webhook(secret.removeprefix("v1,")).sign(msg_id, at, body) for secret in secrets]
    return {"Content-Type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": ", ".join(signatures)}


def zitadel_signature(body: bytes, key: str = SIGNING_KEY, at: float | None = None) -> str:
    """``ZITADEL-Signature``: ``t=<unix>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>``."""
    t = int(time.time() if at is None else at)
    mac = hmac.new(key.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def zitadel_body(phone: str, code: str, *, arg: str = "code") -> bytes:
    """What Zitadel's HTTP SMS provider posts (``user_phone.go``): ``args.code`` for a phone
    verification, ``args.oTP`` for the OTP-SMS second factor."""
    return json.dumps({
        "contextInfo": {"recipientPhoneNumber": phone, "eventType": "user.human.phone.code.added",
                        "provider": {"id": "318766911208226433", "description": "pinrelay"}},
        "templateData": {"title": "Zitadel - Verify phone", "text": f"Your verification code is {code}",
                         "primaryColor": "#5469d4"},
        "args": {arg: code, "userName": "alice", "lastPhone": phone, "verifiedPhone": ""},
    }).encode()


def authentik_body(phone: str, code: str) -> bytes:
    """authentik's generic SMS provider (``send_generic``): capitalised keys, the bare token in Body."""
    return json.dumps({"From": "+15550100", "To": phone, "Body": code,
                       "Message": f"Use this code to authenticate in authentik: {code}"}).encode()
