"""What schemathesis needs to know about pinrelay's two domain formats (``SCHEMATHESIS_HOOKS``).

JSON Schema cannot say "a valid phone number in an allowed region" or "a URL whose host is
public", so /openapi.json names them as formats and these strategies generate values of
them; without them every schema-valid random string would be a 422 and schemathesis could
not tell a real bug from an unknowable rule. The callback URLs are public IP literals: no
DNS lookup, and nothing is ever delivered (no worker runs in that test).
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

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
