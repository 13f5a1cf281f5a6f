"""The bodies ``POST /v1/hooks/generic/send-sms`` understands, and how each gives a number and a code.

========================================================  ===========================================
body (other fields are accepted and ignored)              number / code
========================================================  ===========================================
``{"to", "code", "client_ref"?}`` (pinrelay's)            ``to`` / ``code``
``{"to", "body", "client_ref"?}`` (pinrelay's)            ``to`` / the code found in ``body``
Zitadel's HTTP SMS provider: ``{"contextInfo":            ``contextInfo.recipientPhoneNumber`` /
{"recipientPhoneNumber", ...}, "templateData": {"text",   ``args.code`` (phone verification) or
...}, "args": {"code" | "oTP", ...}}``                    ``args.oTP`` (the OTP-SMS second factor)
authentik's generic SMS provider: ``{"From", "To",        ``To`` / ``Body`` (authentik puts the bare
"Body", "Message"}``                                      token there)
========================================================  ===========================================

The shape is told by its keys, in this order: ``contextInfo`` (Zitadel), ``To`` (authentik),
``to`` (pinrelay's, with exactly one of ``code`` and ``body``). Sources: Zitadel
``internal/notification/types/user_phone.go`` and ``otp.go``; authentik
``authentik/stages/authenticator_sms/models.py`` (docs/auth-servers.md). A code is found in a
text by ``PINRELAY_HOOK_CODE_PATTERN`` (default: the one run of 4-10 digits), which must match
exactly once: no run or several is a 422 that says so, rather than a guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from worker.api.errors import InvalidRequest
from worker.enqueue.request import validate_pin
from worker.errors import ValidationError

ZITADEL_CODES: Final = ("code", "oTP")  # phone verification, OTP SMS (args' first letter lower-cased)


@dataclass(frozen=True, slots=True)
class CodeMessage:
    """What a generic hook's body asks for: send ``code`` to ``to``."""

    shape: str  # "pinrelay", "zitadel", "authentik"
    to: str
    code: str
    client_ref: str | None = None


def _invalid(message: str, code: str = "invalid_request") -> InvalidRequest:
    return InvalidRequest(message, code=code, status=422)


def _string(data: dict[str, Any], name: str, where: str = "", *, code: str = "invalid_request") -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise _invalid(f"{where}{name}: must be a string", code)
    return value


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise _invalid(f"{name}: must be an object")
    return value


def find_code(text: str, pattern: re.Pattern[str], where: str) -> str:
    """The one code ``pattern`` finds in ``text`` (its group, else the match); 422 for none or several."""
    found = [m.group(1) if pattern.groups else m.group(0) for m in pattern.finditer(text)]
    if len(found) != 1:
        what = "no code" if not found else f"{len(found)} possible codes"
        raise _invalid(f"{where}: {what} found by PINRELAY_HOOK_CODE_PATTERN; send the code as `code` "
                       "instead", "invalid_pin")
    return found[0]


def _zitadel(data: dict[str, Any]) -> CodeMessage:
    to = _string(_object(data, "contextInfo"), "recipientPhoneNumber", "contextInfo.", code="invalid_number")
    given = data.get("args")
    args: dict[str, Any] = given if isinstance(given, dict) else {}
    codes = [name for name in ZITADEL_CODES if name in args]
    if not codes:
        raise _invalid("args: a Zitadel message without a code (args.code or args.oTP): pinrelay sends "
                       "codes only", "invalid_pin")
    for name in codes:  # each one given must be a code, not only the one sent
        try:
            validate_pin(args[name])
        except ValidationError as exc:
            raise _invalid(f"args.{name}: {exc.message}", "invalid_pin") from None
    return CodeMessage("zitadel", to, args[codes[0]])


def _authentik(data: dict[str, Any]) -> CodeMessage:
    return CodeMessage("authentik", _string(data, "To", code="invalid_number"),
                       _string(data, "Body", code="invalid_pin"))


def _pinrelay(data: dict[str, Any], pattern: re.Pattern[str]) -> CodeMessage:
    to = _string(data, "to", code="invalid_number")
    client_ref = data.get("client_ref")
    if client_ref is not None and not isinstance(client_ref, str):
        raise _invalid("client_ref: must be a string")
    if ("code" in data) == ("body" in data):
        raise _invalid("send exactly one of code (the code) and body (a text with the code in it)")
    if "code" in data:
        return CodeMessage("pinrelay", to, _string(data, "code", code="invalid_pin"), client_ref)
    return CodeMessage("pinrelay", to, find_code(_string(data, "body"), pattern, "body"), client_ref)


def read_message(data: dict[str, Any], pattern: re.Pattern[str]) -> CodeMessage:
    """The number and code of a generic hook's body (see the module's table); 422 otherwise."""
    if "contextInfo" in data:
        return _zitadel(data)
    if "To" in data:
        return _authentik(data)
    if "to" in data:
        return _pinrelay(data, pattern)
    raise _invalid("to: is required (or Zitadel's contextInfo, or authentik's To)")
