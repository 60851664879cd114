"""Error codes are a published contract: registries, the documented list, the schema, no literals."""

import re
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from backend.errors import ErrorCode, NotFound, published_error_codes

REPO = Path(__file__).resolve().parents[1]
DOCUMENT = REPO / "docs" / "error-codes.md"
PRODUCT = ("appauth", "chat", "prototypes", "backend", "adminassistant", "sitehelp", "retrieval", "tools")
# `code="x"` at a raise site (or `error_code="x"` on a record), or `code = "x"` on an error class.
LITERAL = re.compile(
    r"""(?<![\w.])(?:error_)?code\s*=\s*["'][a-z_]+["']|^\s+code(?:: str)? = ["'][a-z_]+["']""", re.MULTILINE
)


def documented_codes() -> dict[str, list[str]]:
    """The published list: the codes under each `## <owner> (...)` heading of docs/error-codes.md."""
    codes: dict[str, list[str]] = {}
    owner = None
    for line in DOCUMENT.read_text().splitlines():
        if heading := re.match(r"## (\w+) \(", line):
            owner = heading.group(1)
            codes[owner] = []
        elif (item := re.match(r"- `([a-z_]+)`$", line)) and owner is not None:
            codes[owner].append(item.group(1))
    return codes


def test_every_published_code_is_still_in_its_registry():
    registries = published_error_codes()

    gone = {
        f"{owner}: {code}"
        for owner, codes in documented_codes().items()
        for code in codes
        if code not in registries.get(owner, [])
    }

    assert not gone, "Published error codes were renamed or removed; clients branch on them."


def test_every_registered_code_is_published():
    documented = documented_codes()

    unlisted = {
        f"{owner}: {code}"
        for owner, codes in published_error_codes().items()
        for code in codes
        if code not in documented.get(owner, [])
    }

    assert not unlisted, "Add these codes to docs/error-codes.md."


def test_the_registries_of_every_app_are_found():
    assert set(published_error_codes()) == {
        "backend",
        "appauth",
        "chat",
        "prototypes",
        "adminassistant",
        "sitehelp",
        "retrieval",
        "tools",
    }


def test_a_code_from_a_registry_renders_as_its_plain_value():
    error = NotFound("No such thing.", code=ErrorCode.NOT_FOUND)

    assert error.code == "not_found"
    assert str(error.code) == "not_found"


def test_no_error_code_is_written_as_a_string_literal():
    found = [
        f"{path.relative_to(REPO)}:{source[: match.start()].count(chr(10)) + 1}"
        for package in PRODUCT
        for path in sorted((REPO / package).rglob("*.py"))
        if "migrations" not in path.parts and "emulator" not in path.parts
        for source in [path.read_text()]
        for match in LITERAL.finditer(source)
    ]

    assert not found


@pytest.mark.django_db
def test_the_schema_lists_the_codes_of_every_registry():
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    description = schema["components"]["schemas"]["ErrorResponse"]["properties"]["error"]["properties"]["code"][
        "description"
    ]

    for owner, codes in published_error_codes().items():
        assert f"{owner}: " in description
        assert all(f"`{code}`" in description for code in codes)
