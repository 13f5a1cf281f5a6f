"""What schemathesis needs to know about pinrelay's domain formats and the Supabase hook's
signatures (``SCHEMATHESIS_HOOKS``).

JSON Schema cannot say "a valid phone number in an allowed region", "a URL whose host is
public" or "a text with exactly one code in it", so /openapi.json names them as formats and
these strategies generate values of them; without them every schema-valid random string would
be a 422 and schemathesis could not tell a real bug from an unknowable rule. The callback URLs
are public IP literals: no DNS lookup, and nothing is ever delivered (no worker runs in that
test).

``POST /v1/hooks/supabase/send-sms`` takes no key but a Standard Webhooks signature over the
exact bytes sent: :func:`before_call` serialises the generated body itself and signs it with
the library (the API under test has :data:`tests.support.hooks.SUPABASE_SETTING`), so every
generated body, valid or not, reaches the handler past the signature check.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis
from hypothesis import strategies as st

from tests.support.hooks import SUPABASE_NEW, supabase_headers

SUPABASE_PATH = "/v1/hooks/supabase/send-sms"

# NPA + 555 + any four digits is a valid NANP number for these (US and CA) area codes.
_AREA_CODES = ("201", "212", "415", "636", "604", "416", "514")

schemathesis.openapi.format(
    "pinrelay-phone-number",
    st.builds(lambda npa, line: f"1{npa}555{line:04d}", st.sampled_from(_AREA_CODES), st.integers(0, 9999)),
)
schemathesis.openapi.format(
    "pinrelay-callback-url",
    st.builds(lambda last, path: f"https://93.184.215.{last}/{path}", st.integers(1, 254),
              st.text(alphabet="abcxyz-_", max_size=8)),
)
# The one run of 4-10 digits (PINRELAY_HOOK_CODE_PATTERN's default) in a text without other digits.
_WORDS = st.text(alphabet="abcxyz .,:-", max_size=12)
schemathesis.openapi.format(
    "pinrelay-code-text",
    st.builds(lambda before, code, after: f"{before} {code} {after}", _WORDS,
              st.from_regex(r"\A[0-9]{4,10}\Z"), _WORDS),
)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Sign a Supabase hook call as Supabase would: the body's bytes are fixed here, then signed."""
    if case.operation.path != SUPABASE_PATH or case.media_type != "application/json":
        return
    body = case.body
    if not (body is None or isinstance(body, (dict, list, str, int, float, bool))):
        return  # no body (schemathesis' NotSet): the handler answers 400 once the signature passes
    data = json.dumps(body).encode()
    kwargs["data"] = data  # sent as is: the generated body is not serialised again
    signed = {k: v for k, v in supabase_headers(data, SUPABASE_NEW).items() if k != "Content-Type"}
    case.headers = {**(case.headers or {}), **signed}
