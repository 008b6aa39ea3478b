"""Format checks: date-time, date, email, uri, uuid and the Dutch citizen number (bsn)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from urllib.parse import urlsplit

from jsonschema import FormatChecker

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})$"
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def is_date(value: str) -> bool:
    if not _DATE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def parse_date_time(value: str) -> datetime | None:
    """An RFC 3339 date-time with a time zone, or None."""
    if not _DATE_TIME.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    except ValueError:
        return None


def is_date_time(value: str) -> bool:
    return parse_date_time(value) is not None


def is_email(value: str) -> bool:
    return bool(_EMAIL.match(value))


def is_uri(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "http://[" (an unclosed IPv6 host)
        return False
    if not parts.scheme or not _SCHEME.match(parts.scheme) or " " in value:
        return False
    return bool(parts.netloc or parts.path)


def is_bsn(value: str) -> bool:
    """Nine digits passing the eleven-test: 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a multiple of 11."""
    if len(value) != 9 or not value.isdigit() or value == "000000000":
        return False
    digits = [int(char) for char in value]
    total = sum(weight * digit for weight, digit in zip(range(9, 1, -1), digits[:8], strict=True))
    return (total - digits[8]) % 11 == 0


_CHECKS = {
    "date-time": (
        is_date_time,
        "an RFC 3339 date-time with a time zone, e.g. 2024-05-01T09:30:00+02:00",
    ),
    "date": (is_date, "a date as YYYY-MM-DD"),
    "email": (is_email, "an e-mail address"),
    "uri": (is_uri, "an absolute URI with a scheme, e.g. https://example.org/x"),
    "uuid": (is_uuid, "a UUID, e.g. 9b2f4a3c-1d2e-4f50-8a6b-7c8d9e0f1a2b"),
    "bsn": (is_bsn, "a BSN: nine digits that pass the eleven-test"),
}


def describe(format_name: str) -> str | None:
    check = _CHECKS.get(format_name)
    return check[1] if check else None


def format_functions() -> dict[str, Callable[[str], bool]]:
    """The gateway's format checks by name (for validators other than jsonschema's)."""
    return {name: check for name, (check, _) in _CHECKS.items()}


def format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    for name, (check, _) in _CHECKS.items():
        checker.checks(name)(_only_strings(check))
    return checker


def _only_strings(check: Callable[[str], bool]) -> Callable[[object], bool]:
    def run(instance: object) -> bool:
        return not isinstance(instance, str) or check(instance)

    return run
