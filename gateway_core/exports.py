"""CSV exports of lists (docs/governance.md): one column per dotted path, a header row, UTF-8
with a byte-order mark, `;` between fields (what Excel expects in Dutch locales), CRLF line ends.

- Columns: `id`, the `_self` metadata, then every scalar path of the objecttype in the schema's
  order (through value objects and arrays; a relation is its UUID). `_fields` chooses columns: a
  path names itself, an object path all scalar paths under it.
- Values: text as is, numbers, `true`/`false`, nothing for absent or null. A path through an
  array joins the values of every element with ` | `, in order. A value that a spreadsheet would
  run as a formula (starting with = + - @, tab or carriage return) gets a leading `'`.
- Rows are written as the objects stream from the store: a 100k export never holds all rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import orjson

from gateway_core.documents import values_at
from gateway_core.errors import BadRequest, InvalidParam
from gateway_core.schemas.paths import PathInfo
from gateway_core.storage import StoredObject

METADATA_COLUMNS = ("id", "_self.dateCreated", "_self.dateModified", "_self.owner", "_self.version")
DELIMITERS = {";": ";", ",": ",", "tab": "\t"}
JOINER = " | "
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ROWS_PER_CHUNK = 200


def delimiter(value: str | None) -> str:
    if value is None:
        return ";"
    if value not in DELIMITERS:
        reason = "must be ; , or tab"
        raise BadRequest(
            f"Query parameter '_delimiter' {reason}.",
            invalid_params=[InvalidParam("_delimiter", "enum", reason)],
        )
    return DELIMITERS[value]


def _scalar(info: PathInfo) -> bool:
    return not (info.types and info.types <= {"object", "array"}) or info.relation is not None


def columns(paths: Mapping[str, PathInfo], fields: Sequence[str] | None) -> list[str]:
    scalar = [path for path, info in paths.items() if _scalar(info)]
    if fields is None:
        return [*METADATA_COLUMNS, *scalar]
    chosen: list[str] = []
    for field in fields:
        if field in ("_self", "embedded"):
            names = [c for c in METADATA_COLUMNS if c != "id"] if field == "_self" else []
        elif field in METADATA_COLUMNS:
            names = [field]
        else:
            names = [p for p in scalar if p == field or p.startswith(field + ".")]
        chosen += [name for name in names if name not in chosen]
    return chosen


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value if value.startswith(_FORMULA_START) else value
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def cell(record: StoredObject, column: str) -> str:
    if column in METADATA_COLUMNS:
        metadata = {
            "id": record.id,
            "_self.dateCreated": record.created,
            "_self.dateModified": record.modified,
            "_self.owner": record.owner,
            "_self.version": record.version,
        }[column]
        return "" if metadata is None else _text(metadata)
    return JOINER.join(_text(v) for v in values_at(record.data, column))


async def csv_chunks(
    header: Sequence[str], records: AsyncIterator[StoredObject], separator: str
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\r\n")
    writer.writerow(header)
    yield b"\xef\xbb\xbf" + buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    rows = 0
    async for record in records:
        writer.writerow([cell(record, column) for column in header])
        rows += 1
        if rows % _ROWS_PER_CHUNK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
