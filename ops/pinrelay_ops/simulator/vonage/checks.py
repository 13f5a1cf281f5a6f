"""Checks on a 2FA submission, in the order the simulator applies them.

Missing credentials (2), ``sig`` together with ``api_secret`` (32), wrong
credentials or signature (4 / 14), missing or malformed ``to`` and ``pin``
(2 / 3), an over-long ``client-ref`` (3), then the per-number refusals: barred
(7) and opted out (102). Unknown extra params are fine: a short code template
may define its own placeholders (docs/provider-api.md §1).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from worker.signing import verify

from ..config import SimConfig
from .responses import error_text

CLIENT_REF_MAX_CHARS: Final = 40
KNOWN_PARAMS: Final = frozenset({"api_key", "api_secret", "sig", "timestamp", "to", "pin", "client-ref"})
_MSISDN: Final = re.compile(r"\d{7,15}", re.ASCII)
_PIN: Final = re.compile(r"\d+", re.ASCII)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a submission is refused: the provider status and its error-text."""

    status: str
    text: str


def refuse(status: str, param: str = "") -> Refusal:
    """The refusal for ``status``, its error-text naming ``param`` where the code takes one."""
    return Refusal(status, error_text(status, param))


def check_submission(params: Mapping[str, str], config: SimConfig) -> Refusal | None:
    """The first rule ``params`` break, or None when the send is accepted."""
    return (
        check_credentials(params, config)
        or check_recipient(params)
        or _check_pin_and_ref(params)
        or _check_number(params["to"], config)
    )


def check_credentials(params: Mapping[str, str], config: SimConfig) -> Refusal | None:
    """Key plus secret, or key plus a valid ``sig`` (with ``timestamp``), never secret and sig."""
    if not params.get("api_key"):
        return refuse("2", "api_key")
    has_sig, has_secret = bool(params.get("sig")), bool(params.get("api_secret"))
    if has_sig and has_secret:
        return refuse("32")
    if not has_sig and not has_secret:
        return refuse("2", "api_secret")
    if not hmac.compare_digest(params["api_key"].encode(), config.api_key.encode()):
        return refuse("4")
    if has_secret:
        if not hmac.compare_digest(params["api_secret"].encode(), config.api_secret.encode()):
            return refuse("4")
        return None
    if not params.get("timestamp") or not config.signature_secret:
        return refuse("14")
    if not verify(params, config.signature_secret, config.signature_method):
        return refuse("14")
    return None


def check_recipient(params: Mapping[str, str]) -> Refusal | None:
    """``to`` present and E.164 digits without ``+`` (``\\d{7,15}``)."""
    to = params.get("to")
    if not to:
        return refuse("2", "to")
    if not _MSISDN.fullmatch(to):
        return refuse("3", "to")
    return None


def _check_pin_and_ref(params: Mapping[str, str]) -> Refusal | None:
    pin = params.get("pin")
    if not pin:
        return refuse("2", "pin")
    if not _PIN.fullmatch(pin):
        return refuse("3", "pin")
    client_ref = params.get("client-ref")
    if client_ref is not None and len(client_ref) > CLIENT_REF_MAX_CHARS:
        return refuse("3", "client-ref")
    return None


def _check_number(to: str, config: SimConfig) -> Refusal | None:
    if to in config.barred:
        return refuse("7")
    if to in config.opted_out:
        return refuse("102")
    return None


def unknown_params(params: Mapping[str, str]) -> list[str]:
    """Names the 2FA reference does not list (accepted and ignored, but recorded)."""
    return sorted(name for name in params if name not in KNOWN_PARAMS)
