"""/openapi.json is held to the code: the routes, the record's fields, the error codes, docs/http-api.md."""

from __future__ import annotations

import pathlib
import re
import tomllib

import schemathesis

from worker.api import errors
from worker.api.openapi import document
from worker.records.view import PUBLIC_FIELDS

ROOT = pathlib.Path(__file__).resolve().parents[3]
CODES = set(errors.CODES)


def test_the_document_is_openapi_3_1_that_schemathesis_loads() -> None:
    schema = schemathesis.openapi.from_dict(document())
    assert document()["openapi"] == "3.1.0"
    assert {op.label for op in (r.ok() for r in schema.get_all_operations())} >= {
        "POST /v1/pins", "GET /v1/pins/{id}", "POST /v1/verifications", "GET /openapi.json",
        "POST /v1/hooks/supabase/send-sms", "POST /v1/hooks/generic/send-sms"}


def test_the_record_schema_lists_the_public_fields() -> None:
    record = document()["components"]["schemas"]["PinRecord"]
    assert list(record["properties"]) == list(PUBLIC_FIELDS) == record["required"]


def test_every_error_code_is_documented_in_the_schema_and_the_docs() -> None:
    error = document()["components"]["schemas"]["Error"]["properties"]["error"]
    enum = set(error["properties"]["code"]["enum"])
    assert enum == CODES
    raised = {cls.default_code for cls in vars(errors).values()
              if isinstance(cls, type) and issubclass(cls, errors.ApiError)}
    assert raised | set(errors.FIELD_CODES.values()) <= CODES
    page = (ROOT / "docs" / "http-api.md").read_text(encoding="utf-8")
    section = page.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3})", section, re.MULTILINE)
    assert {name for name, _ in rows} == CODES
    assert {(name, int(status)) for name, status in rows} >= set(errors.CODES.items())


def test_the_document_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["setuptools"]["package-data"]["worker.api"] == ["openapi.json"]


def test_the_verification_schema_lists_what_get_verification_shows() -> None:
    from worker.verify.view import to_public

    schema = document()["components"]["schemas"]["Verification"]
    assert list(schema["properties"]) == list(to_public({}, [])) == schema["required"]
