"""Ory Kratos's HTTP courier as the tests play it: the message context Kratos builds for each SMS
template type, the shipped Jsonnet template run by the real evaluator, and the request Kratos
derives from the shipped ``courier.channels`` configuration.

Everything here follows Kratos's Go code (ory/kratos, master of 2026-07; v26.2.0 is the same),
not its docs, which name the template types and the code field otherwise:

* the context is ``httpDataModel`` (courier/http_channel.go): ``recipient``, ``subject``,
  ``body``, ``template_type``, ``template_data``, ``message_type``, ``request_headers``
  (``html_body`` is ``omitempty`` and only set for e-mail);
* ``template_data`` is the template's model marshalled as JSON (courier/template/sms/*.go); its
  code field is ``verification_code``, ``login_code``, ``registration_code``, and for
  ``recovery_code_valid`` also ``verification_code`` (RecoveryCodeValidModel, recovery_code.go);
* the models are filled in selfservice/strategy/code/code_sender.go (``identity`` is the whole
  identity, except for registration, where it is the traits) and identity/manager.go (the two
  notifications, which carry no code);
* ``request_headers`` is the JSON of the user's allowed request headers for the templates that
  carry them, else ``{}`` (courier/sms.go, ``QueueSMS``);
* the template gets the context as the top-level argument ``ctx``, as JSON code
  (request/builder.go: ``vm.TLACode("ctx", ...)``);
* headers: the configured ones, ``Content-Type: application/json`` when none is set, then the
  ``api_key`` auth sets header ``name`` to ``value`` (request/builder.go, request/auth.go).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import _jsonnet
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "ops" / "kratos" / "pinrelay-sms.jsonnet"
COURIER = ROOT / "ops" / "kratos" / "courier.yml"

# The SMS template types Kratos queues (courier/template/type.go, courier/sms_templates.go), each
# with the JSON field its model keeps the code in; None: a notification without a code.
CODE_FIELD: dict[str, str | None] = {
    "verification_code_valid": "verification_code",
    "login_code_valid": "login_code",
    "registration_code_valid": "registration_code",
    "recovery_code_valid": "verification_code",
    "verifiable_address_changed": None,
    "authenticator_key_added": None,
}

# The builtin SMS bodies (courier/template/courier/builtin/templates/*/sms.body.gotmpl), rendered.
_BODY = {
    "verification_code_valid": "Your verification code is: {code}\n\nIf this was not you, do nothing. "
                               "It expires in 15 minutes.\n\n@example.com #{code}\n",
    "login_code_valid": "Your login code is: {code}\n\nIt expires in 15 minutes.\n\n@example.com #{code}\n",
    "registration_code_valid": "Your registration code is: {code}\n\nIt expires in 15 minutes.\n\n"
                               "@example.com #{code}\n",
    "recovery_code_valid": "Your recovery code is: {code}\n\n@example.com #{code}\n",
    "verifiable_address_changed": "An address on your account was changed. If this wasn't you, "
                                  "contact support.\n",
    "authenticator_key_added": "A new sign-in method (device key) was added to your account. If this "
                               "wasn't you, secure your account.\n",
}


def identity(identity_id: str, phone: str) -> dict[str, Any]:
    """``x.StructToMap(identity)``: the identity as Kratos marshals it (identity/identity.go)."""
    return {
        "id": identity_id, "schema_id": "default", "schema_url": "https://kratos.example.com/schemas/ZGVmYXVsdA",
        "state": "active", "traits": {"phone": phone},
        "verifiable_addresses": [{"id": "7a3b1f0e-3c55-4a8e-9a57-2b6f1d0f5b11", "value": phone,
                                  "verified": False, "via": "sms", "status": "sent"}],
        "recovery_addresses": [{"id": "1e2d3c4b-5a69-4788-9a0b-1c2d3e4f5a6b", "value": phone, "via": "sms"}],
        "metadata_public": None, "created_at": "2026-07-01T10:00:00Z", "updated_at": "2026-07-01T10:00:00Z",
    }


def message_context(template_type: str, phone: str, code: str = "", identity_id: str = "") -> dict[str, Any]:
    """The ``ctx`` Kratos's HTTP channel hands the body template for one queued SMS."""
    who = identity(identity_id, phone)
    flow = {"request_url": "https://example.com/self-service/login/browser",
            "request_url_domain": "example.com", "transient_payload": {}, "expires_in_minutes": 15}
    data: dict[str, Any]
    headers: dict[str, list[str]] | None = {"User-Agent": ["Mozilla/5.0"], "Accept-Language": ["en"]}
    if template_type == "verification_code_valid":
        data = {"to": phone, "verification_code": code, "identity": who, **flow}
        headers = None  # VerificationCodeValid carries no request headers
    elif template_type == "login_code_valid":
        data = {"to": phone, "login_code": code, "identity": who, **flow}
    elif template_type == "registration_code_valid":
        data = {"to": phone, "registration_code": code, "identity": who["traits"], **flow}
    elif template_type == "recovery_code_valid":
        data = {"to": phone, "verification_code": code, "identity": who, **flow}
    elif template_type == "verifiable_address_changed":
        data = {"to": phone, "identity": who, "changed_at": "2026-07-01T10:00:00Z", "transient_payload": {}}
    elif template_type == "authenticator_key_added":
        data = {"to": phone, "identity": who, "added_at": "2026-07-01T10:00:00Z", "transient_payload": {}}
    else:
        raise ValueError(f"Kratos queues no SMS of template type {template_type!r}")
    return {"recipient": phone, "subject": "", "body": _BODY[template_type].format(code=code),
            "template_type": template_type, "template_data": data, "message_type": "sms",
            "request_headers": headers if headers is not None else {}}


def evaluate(ctx: dict[str, Any]) -> str:
    """The body Kratos would post: the shipped template run by the real Jsonnet evaluator with
    ``ctx`` as its top-level argument. Raises RuntimeError with the template's message when the
    template refuses the message (Kratos then records the dispatch as failed)."""
    body: str = _jsonnet.evaluate_snippet(str(TEMPLATE), TEMPLATE.read_text(),
                                          tla_codes={"ctx": json.dumps(ctx)})
    return body


def courier_channel() -> dict[str, Any]:
    """The ``sms`` channel of the shipped courier configuration."""
    config = yaml.safe_load(COURIER.read_text())
    (channel,) = [c for c in config["courier"]["channels"] if c["id"] == "sms"]
    return dict(channel)


def courier_headers(api_key: str) -> dict[str, str]:
    """The headers Kratos sends with the shipped configuration once its placeholder key is
    replaced by ``api_key``: the configured ones, JSON by default, then the ``api_key`` auth."""
    request = courier_channel()["request_config"]
    headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json"
    auth = request["auth"]
    assert auth["type"] == "api_key" and auth["config"]["in"] == "header", auth
    value = str(auth["config"]["value"])
    assert value.startswith("Bearer "), value
    headers[str(auth["config"]["name"])] = f"Bearer {api_key}"
    return headers
