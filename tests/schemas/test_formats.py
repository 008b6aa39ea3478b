"""Format checks: date-time, date, email, uri, uuid and the Dutch citizen number (bsn)."""

from __future__ import annotations

import pytest

from gateway_core.schemas.formats import (
    describe,
    format_checker,
    is_bsn,
    is_date,
    is_date_time,
    is_email,
    is_uri,
    is_uuid,
    parse_date_time,
)


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T09:30:00+02:00",
        "2024-05-01T09:30:00Z",
        "2024-05-01T09:30:00.123456+00:00",
        "2024-05-01t09:30:00z",
        "2024-05-01T09:30+0200",
    ],
)
def test_date_time_with_time_zone_is_accepted(value: str) -> None:
    assert is_date_time(value)
    moment = parse_date_time(value)
    assert moment is not None and moment.tzinfo is not None


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T09:30:00",
        "2024-05-01",
        "2024-13-01T09:30:00Z",
        "2024-02-30T09:30:00Z",
        "yesterday",
        "",
    ],
)
def test_date_time_without_time_zone_or_invalid_is_rejected(value: str) -> None:
    assert not is_date_time(value)


@pytest.mark.parametrize(
    "value, ok",
    [
        ("2024-02-29", True),
        ("2023-02-29", False),
        ("2024-5-1", False),
        ("2024-05-01T00:00:00Z", False),
        ("01-05-2024", False),
    ],
)
def test_date(value: str, ok: bool) -> None:
    assert is_date(value) is ok


@pytest.mark.parametrize(
    "value, ok",
    [
        ("info@example.org", True),
        ("a.b+c@sub.example.nl", True),
        ("no-at.example.org", False),
        ("two@@example.org", False),
        ("space in@example.org", False),
        ("user@localhost", False),
    ],
)
def test_email(value: str, ok: bool) -> None:
    assert is_email(value) is ok


@pytest.mark.parametrize(
    "value, ok",
    [
        ("https://example.org/x", True),
        ("urn:isbn:9789038896182", True),
        ("mailto:a@b.nl", True),
        ("example.org/x", False),
        ("/relative/path", False),
        ("https://exa mple.org", False),
        ("", False),
        ("http://[/x", False),  # urlsplit raises on an unclosed IPv6 host: invalid, not a 500
    ],
)
def test_uri_and_url(value: str, ok: bool) -> None:
    assert is_uri(value) is ok


@pytest.mark.parametrize(
    "value, ok",
    [
        ("9b2f4a3c-1d2e-4f50-8a6b-7c8d9e0f1a2b", True),
        ("9B2F4A3C-1D2E-4F50-8A6B-7C8D9E0F1A2B", True),
        ("9b2f4a3c1d2e4f508a6b7c8d9e0f1a2b", False),
        ("not-a-uuid", False),
        ("9b2f4a3c-1d2e-4f50-8a6b-7c8d9e0f1a2", False),
    ],
)
def test_uuid(value: str, ok: bool) -> None:
    assert is_uuid(value) is ok


@pytest.mark.parametrize(
    "value, ok",
    [
        ("999993653", True),
        ("111222333", True),
        ("123456789", False),
        ("12345678", False),
        ("0999993653", False),
        ("99999365a", False),
        ("000000000", False),
    ],
)
def test_bsn_eleven_test(value: str, ok: bool) -> None:
    assert is_bsn(value) is ok


def test_format_checker_uses_the_gateway_checks_and_ignores_non_strings() -> None:
    checker = format_checker()
    assert checker.conforms("999993653", "bsn")
    assert not checker.conforms("123456789", "bsn")
    assert not checker.conforms("2024-05-01T09:30:00", "date-time")
    assert checker.conforms(12345, "bsn")  # the type keyword reports non-strings
    assert checker.conforms("anything", "no-such-format")


def test_every_format_has_a_human_description() -> None:
    for name in ("date-time", "date", "email", "uri", "uuid", "bsn"):
        assert describe(name)
    assert describe("no-such-format") is None
