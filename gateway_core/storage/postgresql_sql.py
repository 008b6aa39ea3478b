"""The PostgreSQL backend's schema (tables, indexes, value-reading functions) and the compiler
from a `ListQuery` to SQL, with the semantics of the embedded backend (tinydb_query.py).

One table holds every collection:

    objects(collection, id, seq, created, modified, data, folded)

`data` is the object's data as JSONB; `folded` is the same document with every string
case-folded by Python (`str.casefold`) plus the folded metadata: {"data": .., "id": .., "created":
.., "modified": ..}. Case-insensitive comparisons (eq, in, like, the ordering operators and the
sort order of strings, `_search`) read `folded`, so they fold exactly as Python does (ß = ss,
whatever the database's locale); case-sensitive ones (exact, contains, regex) read `data`. `seq`
is the creation order (a replace keeps it).

Values at a path: SQL/JSON path in lax mode, `$."a"."b"[*]`: an array met on the way is crossed
(any element may match) and an array at the end gives its values. Typed readings (numbers also
from numeric text, booleans also from "true"/"false"/"1"/"0", date-times as instants, dates) are
the `gateway_*` functions below: they return NULL for what Python would not read, never an error.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gateway_core.query import Condition, ListQuery, Order, Search

SCHEMA_FORMAT = 3  # raise on a change that CREATE ... IF NOT EXISTS / OR REPLACE cannot make
# 2: the generated `search` column and its trigram index (ALTER TABLE ... ADD COLUMN IF NOT EXISTS)
# 3: the `owner` and `version` columns of each object (ALTER TABLE ... ADD COLUMN IF NOT EXISTS)

# Python's float() accepts any Unicode decimal digit and, around the number, some spaces.


def _float_spaces() -> str:
    found = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if char.isspace():
            try:
                float(f"{char}7{char}")
            except ValueError:
                continue
            found.append(char)
    return "".join(found)


def _unicode_digits() -> tuple[str, str]:
    """(non-ASCII decimal digits, the ASCII digit of each)."""
    chars, ascii_digits = [], []
    for code in range(128, sys.maxunicode + 1):
        value = unicodedata.decimal(chr(code), None)
        if value is not None:
            chars.append(chr(code))
            ascii_digits.append(str(value))
    return "".join(chars), "".join(ascii_digits)


def _literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings)."""
    return "'" + text.replace("'", "''") + "'"


@functools.cache
def _functions() -> str:
    spaces = _float_spaces()
    digits, ascii_digits = _unicode_digits()
    translate_from = _literal(spaces + digits)
    translate_to = _literal(" " * len(spaces) + ascii_digits)
    number = r"^ *[+-]?(?:[0-9](?:_?[0-9])*(?:\.(?:[0-9](?:_?[0-9])*)?)?|\.[0-9](?:_?[0-9])*)(?:[eE][+-]?[0-9](?:_?[0-9])*)? *$"
    return f"""
-- Decimal text (sign, digits, point, exponent) -> float8 as Python's float() reads it: overflow
-- gives +-Infinity and underflow 0, where a plain cast would raise an error.
CREATE OR REPLACE FUNCTION gateway_float(t text) RETURNS float8
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    m text[];
    whole text;
    fraction text;
    magnitude numeric;
BEGIN
    IF length(t) <= 300 AND t !~ '[eE]' THEN
        RETURN t::float8;
    END IF;
    BEGIN
        RETURN t::float8;
    EXCEPTION WHEN numeric_value_out_of_range OR invalid_text_representation THEN
        m := regexp_match(lower(t), '^([+-]?)([0-9]*)\\.?([0-9]*)(?:e([+-]?[0-9]+))?$');
        IF m IS NULL THEN
            RETURN NULL;
        END IF;
        whole := ltrim(m[2], '0');
        fraction := m[3];
        IF whole = '' AND rtrim(fraction, '0') = '' THEN
            RETURN 0;
        END IF;
        magnitude := CASE WHEN whole <> ''
            THEN length(whole) - 1 + coalesce(m[4], '0')::numeric
            ELSE coalesce(m[4], '0')::numeric - (length(fraction) - length(ltrim(fraction, '0')) + 1)
        END;
        IF magnitude > 0 THEN
            RETURN CASE WHEN m[1] = '-' THEN '-Infinity'::float8 ELSE 'Infinity'::float8 END;
        END IF;
        RETURN 0;
    END;
END
$fn$;

-- Text read as a number the way Python's float() reads it (NaN: no number).
CREATE OR REPLACE FUNCTION gateway_number_text(t text) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT CASE
        WHEN s ~ {_literal(number)}
            THEN gateway_float(replace(btrim(s, ' '), '_', ''))
        WHEN s ~* '^ *[+-]?inf(inity)? *$'
            THEN CASE WHEN btrim(s, ' ') LIKE '-%' THEN '-Infinity'::float8 ELSE 'Infinity'::float8 END
    END
    FROM (SELECT CASE WHEN t ~ '[^\\x20-\\x7e]'
        THEN translate(t, {translate_from}, {translate_to}) ELSE t END) AS ascii(s)
$fn$;

CREATE OR REPLACE FUNCTION gateway_number(v jsonb) RETURNS float8
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT CASE jsonb_typeof(v)
        WHEN 'number' THEN gateway_float(v::text)
        WHEN 'string' THEN gateway_number_text(v #>> '{{}}')
    END
$fn$;

CREATE OR REPLACE FUNCTION gateway_boolean(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT CASE jsonb_typeof(v)
        WHEN 'boolean' THEN v::boolean
        WHEN 'string' THEN CASE lower((v #>> '{{}}') COLLATE "C")
            WHEN 'true' THEN true WHEN '1' THEN true WHEN 'false' THEN false WHEN '0' THEN false
        END
    END
$fn$;

-- An RFC 3339 date-time with a time zone (as gateway_core.schemas.formats.parse_date_time reads
-- it: T, t or a space; seconds optional; fractions truncated to microseconds) -> the instant.
CREATE OR REPLACE FUNCTION gateway_datetime_text(t text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    m text[];
    y int; mo int; d int; h int; mi int; s int; oh int; om int;
BEGIN
    m := regexp_match(t,
        '^([0-9]{{4}})-([0-9]{{2}})-([0-9]{{2}})[Tt ]([0-9]{{2}}):([0-9]{{2}})(?::([0-9]{{2}})(?:\\.([0-9]+))?)?([Zz]|([+-])([0-9]{{2}}):?([0-9]{{2}}))$');
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    y := m[1]::int; mo := m[2]::int; d := m[3]::int; h := m[4]::int; mi := m[5]::int;
    s := coalesce(m[6], '0')::int;
    oh := coalesce(m[10], '0')::int; om := coalesce(m[11], '0')::int;
    IF y < 1 OR mo NOT BETWEEN 1 AND 12 OR d < 1 OR h > 23 OR mi > 59 OR s > 59
        OR oh * 60 + om >= 1440
        OR d > extract(day FROM make_date(y, mo, 1) + interval '1 month' - interval '1 day') THEN
        RETURN NULL;
    END IF;
    RETURN make_timestamp(y, mo, d, h, mi, s) AT TIME ZONE 'UTC'
        + interval '1 microsecond' * coalesce(rpad(left(m[7], 6), 6, '0'), '0')::int
        - CASE WHEN m[9] = '-' THEN -1 ELSE 1 END * (interval '1 minute' * (oh * 60 + om));
END
$fn$;

CREATE OR REPLACE FUNCTION gateway_datetime(v jsonb) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN gateway_datetime_text(v #>> '{{}}') END
$fn$;

-- A date as Python's date.fromisoformat(t[:10]) reads it: YYYY-MM-DD, YYYYMMDD (anything may
-- follow within the ten characters, as in CPython 3.11), or an ISO week date (YYYY-Www[-D]).
CREATE OR REPLACE FUNCTION gateway_date_text(t text) RETURNS date
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
    p text := left(t, 10);
    n int := length(left(t, 10));
    pos int := 5;
    sep boolean;
    y int; mo int; d int; w int; wd int;
    jan1 date; jan4 date;
BEGIN
    IF n NOT IN (7, 8, 10) OR left(p, 4) !~ '^[0-9]{{4}}$' THEN
        RETURN NULL;
    END IF;
    y := left(p, 4)::int;
    sep := substr(p, 5, 1) = '-';
    IF sep THEN
        pos := 6;
    END IF;
    IF y < 1 THEN
        RETURN NULL;
    END IF;
    IF substr(p, pos, 1) = 'W' THEN
        IF substr(p, pos + 1, 2) !~ '^[0-9]{{2}}$' THEN
            RETURN NULL;
        END IF;
        w := substr(p, pos + 1, 2)::int;
        pos := pos + 3;
        wd := 1;
        IF pos - 1 < n THEN
            IF sep THEN
                IF substr(p, pos, 1) <> '-' THEN
                    RETURN NULL;
                END IF;
                pos := pos + 1;
            END IF;
            IF substr(p, pos, 1) !~ '^[0-9]$' THEN
                RETURN NULL;
            END IF;
            wd := substr(p, pos, 1)::int;
        END IF;
        jan1 := make_date(y, 1, 1);
        IF w < 1 OR w > 53 OR wd < 1 OR wd > 7 OR (w = 53 AND NOT (
            extract(isodow FROM jan1) = 4 OR (extract(isodow FROM jan1) = 3
                AND (y % 4 = 0 AND (y % 100 <> 0 OR y % 400 = 0))))) THEN
            RETURN NULL;
        END IF;
        jan4 := make_date(y, 1, 4);
        RETURN jan4 - (extract(isodow FROM jan4)::int - 1) + (w - 1) * 7 + (wd - 1);
    END IF;
    IF substr(p, pos, 2) !~ '^[0-9]{{2}}$' THEN
        RETURN NULL;
    END IF;
    mo := substr(p, pos, 2)::int;
    pos := pos + 2;
    IF sep THEN
        IF substr(p, pos, 1) <> '-' THEN
            RETURN NULL;
        END IF;
        pos := pos + 1;
    END IF;
    IF substr(p, pos, 2) !~ '^[0-9]{{2}}$' THEN
        RETURN NULL;
    END IF;
    d := substr(p, pos, 2)::int;
    IF mo NOT BETWEEN 1 AND 12 OR d < 1
        OR d > extract(day FROM make_date(y, mo, 1) + interval '1 month' - interval '1 day') THEN
        RETURN NULL;
    END IF;
    RETURN make_date(y, mo, d);
END
$fn$;

CREATE OR REPLACE FUNCTION gateway_date(v jsonb) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN gateway_date_text(v #>> '{{}}') END
$fn$;

-- Every string value of the folded data, joined by chr(31): what `_search` looks in (the
-- `search` column). A term without chr(31) is in a value exactly when it is in this text.
CREATE OR REPLACE FUNCTION gateway_search_text(folded jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT string_agg(v #>> '{{}}', chr(31))
    FROM jsonb_path_query(folded, 'strict $."data".** ? (@.type() == "string")') AS t(v)
$fn$;

CREATE OR REPLACE FUNCTION gateway_text(v jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
    SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN v #>> '{{}}' END
$fn$;
"""


def schema_version() -> str:
    """The table format and a digest of the DDL: a changed function is created again on open."""
    ddl = [*schema_statements(), *search_index_statements()]
    digest = hashlib.sha256("\n".join(ddl).encode()).hexdigest()[:16]
    return f"{SCHEMA_FORMAT}:{digest}"


FOLDED_INDEX = "objects_folded"
GENERATIONS = 16  # sequences; each collection's writes advance one of them (pg_counts.py)


@functools.lru_cache(maxsize=1024)
def generation_sequence(collection: str) -> str:
    """The sequence that writes to `collection` advance: the same in every process, shared with
    the collections that hash alike."""
    digest = hashlib.blake2b(collection.encode(), digest_size=4).digest()
    return f"gateway_generation_{int.from_bytes(digest, 'big') % GENERATIONS}"


def generation_read(collection: str) -> str:
    """The statement reading `collection`'s write generation (0 before its first write)."""
    sequence = generation_sequence(collection)
    return f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {sequence}"


def generation_advance(collections: Iterable[str]) -> str:
    """The statement advancing the write generations of `collections`, one round trip."""
    sequences = sorted({generation_sequence(collection) for collection in collections})
    return "SELECT " + ", ".join(f"nextval('{sequence}')" for sequence in sequences)


def schema_statements() -> list[str]:
    """The DDL, idempotent (run under an advisory lock, see PostgreSQLStore.open)."""
    return [
        """CREATE TABLE IF NOT EXISTS gateway_meta (name text PRIMARY KEY, value text NOT NULL)""",
        # advanced after every write's commit: kept totals are used while it stays (pg_counts.py)
        *(f"CREATE SEQUENCE IF NOT EXISTS gateway_generation_{n}" for n in range(GENERATIONS)),
        """CREATE TABLE IF NOT EXISTS objects (
            collection text NOT NULL,
            id text NOT NULL,
            seq bigserial NOT NULL,
            created text NOT NULL,
            modified text NOT NULL,
            data jsonb NOT NULL,
            folded jsonb NOT NULL,
            PRIMARY KEY (collection, id)
        )""",
        # format 2: the creating client and the version of each object
        "ALTER TABLE objects ADD COLUMN IF NOT EXISTS owner text",
        "ALTER TABLE objects ADD COLUMN IF NOT EXISTS version integer NOT NULL DEFAULT 1",
        "CREATE UNIQUE INDEX IF NOT EXISTS objects_order ON objects (collection, seq)",
        f"CREATE INDEX IF NOT EXISTS {FOLDED_INDEX} ON objects USING gin (folded jsonb_path_ops)",
        *_without_pending_list(FOLDED_INDEX),
        # `id` filters and the `in` conditions that joins and relations resolve to compare folded ids
        "CREATE INDEX IF NOT EXISTS objects_folded_id ON objects (collection, (folded ->> 'id'))",
        _functions(),
        # newest first: `_order[_self.dateCreated]=desc` / `_order[_self.dateModified]=desc`
        """CREATE INDEX IF NOT EXISTS objects_created ON objects
            (collection, gateway_datetime_text(created) DESC NULLS LAST, seq)""",
        """CREATE INDEX IF NOT EXISTS objects_modified ON objects
            (collection, gateway_datetime_text(modified) DESC NULLS LAST, seq)""",
        # added in schema 2 (an existing table is rewritten once, under the schema lock); the
        # gateway's own collections (audit trail, outbox) are never searched
        """ALTER TABLE objects ADD COLUMN IF NOT EXISTS search text
            GENERATED ALWAYS AS (CASE WHEN collection LIKE 'gateway:%' THEN NULL
                                 ELSE gateway_search_text(folded) END) STORED""",
    ]


SEARCH_INDEX = "objects_search"
SEARCH_SEPARATOR = chr(31)
GIN_INDEXES = (FOLDED_INDEX, SEARCH_INDEX)  # the search index exists only with pg_trgm


def search_index_statements() -> list[str]:
    """The trigram index for `_search` (needs the pg_trgm extension: created when the user may;
    without it `_search` scans)."""
    return [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f"CREATE INDEX IF NOT EXISTS {SEARCH_INDEX} ON objects USING gin (search gin_trgm_ops)",
        *_without_pending_list(SEARCH_INDEX),
    ]


def _without_pending_list(gin_index: str) -> list[str]:
    """GIN's `fastupdate` (on by default) parks the entries of new rows in an unsorted pending
    list that every scan of the index reads whole, until a vacuum (or a full list, 4 MB) merges
    them: after ~2,000 POSTs a one-filter list cost PostgreSQL ~3 ms of CPU instead of ~0.2 ms
    and ran at a quarter of its speed until VACUUM (docs/performance.md). Off, each write merges
    its own entries; the list an older schema left is merged once here. `gateway migrate` turns it
    on while it copies (PostgreSQLStore.import_all): merging 100,000 rows' entries at once is
    about three times faster than row by row."""
    return [
        f"ALTER INDEX {gin_index} SET (fastupdate = off)",
        f"SELECT gin_clean_pending_list('{gin_index}'::regclass)",
    ]


# -- folding ---------------------------------------------------------------------------------------


def fold(value: Any) -> Any:
    """`value` with every string case-folded (keys kept)."""
    if isinstance(value, str):
        return value.casefold()
    if isinstance(value, dict):
        return {key: fold(child) for key, child in value.items()}
    if isinstance(value, list):
        return [fold(child) for child in value]
    return value


def folded_document(
    object_id: str, created: str, modified: str, data: Any, owner: str | None = None
) -> dict[str, Any]:
    return {
        "data": fold(data),
        "id": object_id.casefold(),
        "created": created.casefold(),
        "modified": modified.casefold(),
        "owner": owner.casefold() if owner is not None else None,
    }


# -- compiling ---------------------------------------------------------------------------------------

_METADATA_COLUMNS = {
    "id": "id",
    "_self.dateCreated": "created",
    "_self.dateModified": "modified",
    "_self.owner": "owner",
    "_self.version": "version",
}
_NULLABLE_COLUMNS = {"owner"}
_COMPARE = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_READERS = {
    "number": ("gateway_number", "float8"),
    "boolean": ("gateway_boolean", "boolean"),
    "date-time": ("gateway_datetime", "timestamptz"),
    "date": ("gateway_date", "date"),
}


def jsonpath_string(text: str) -> str:
    """A jsonpath string literal."""
    return json.dumps(text)


def _jsonpath_key(key: str) -> str:
    return "." + json.dumps(key)


class _Source:
    """Where the values of a path come from: (document expression, jsonpath to the values), for
    the original data and for the folded copy."""

    def __init__(self, path: str) -> None:
        column = _METADATA_COLUMNS.get(path)
        self.metadata = column
        if column is not None:
            self.data = (f"coalesce(to_jsonb(o.{column}), 'null'::jsonb)", "lax $")
            self.folded = ("o.folded", f"lax $.{json.dumps(column)}")
        else:
            keys = "".join(_jsonpath_key(part) for part in path.split("."))
            self.data = ("o.data", f"lax ${keys}[*]")
            self.folded = ("o.folded", f'lax $."data"{keys}[*]')


@functools.lru_cache(maxsize=4096)
def _source(path: str) -> _Source:
    """Cached: a list query compiles the same paths request after request (never changed)."""
    return _Source(path)


class Compiled:
    """SQL text with numbered placeholders ($1, $2, ...) and their parameters, built up piece by
    piece: a statement may use the first n of them (the page query's count uses the filter's)."""

    def __init__(self) -> None:
        self.params: list[Any] = []

    def param(self, value: Any, cast: str | None = None) -> str:
        self.params.append(value)
        number = len(self.params)
        return f"${number}::{cast}" if cast else f"${number}"

    def path_exists(self, source: tuple[str, str], predicate: str) -> str:
        """Some value at the path satisfies the jsonpath `predicate` (on @)."""
        document, path = source
        return f"({document} @? {self.param(f'{path} ? ({predicate})', 'jsonpath')})"

    def values_exist(self, source: tuple[str, str], test: Callable[[], str]) -> str:
        """Some value `x` (jsonb) at the path satisfies the SQL that `test` builds (after the
        path's parameter, which comes first in the text)."""
        document, path = source
        values = f"jsonb_path_query({document}, {self.param(path, 'jsonpath')})"
        return f"EXISTS (SELECT 1 FROM {values} AS v(x) WHERE {test()})"


def _typed_param(value: Any, kind: str) -> Any:
    if kind == "number":
        return float(value)
    return value


def _equalities(values: Sequence[str]) -> str:
    return " || ".join(f"@ == {jsonpath_string(value)}" for value in values)


def compile_condition(sql: Compiled, condition: Condition) -> str:
    op, wanted, kind = condition.operator, condition.value, condition.kind
    source = _source(condition.path)
    negate = op in ("ne", "is_null")
    positive = _positive(sql, source, op, wanted, kind)
    return f"NOT {positive}" if negate else positive


def _positive(sql: Compiled, source: _Source, op: str, wanted: Any, kind: str) -> str:
    if op == "in" and not wanted:  # a join that found no related object
        return "FALSE"
    if op in ("is_null", "is_not_null"):
        if source.metadata in _NULLABLE_COLUMNS:
            return f"(o.{source.metadata} IS NOT NULL)"
        if source.metadata is not None:
            return "TRUE"
        return sql.path_exists(source.data, '@.type() != "null"')
    if op in ("eq", "ne", "in") and kind == "string":
        options = [str(w).casefold() for w in (wanted if op == "in" else (wanted,))]
        if source.metadata == "id":  # the objects_folded_id index
            return f"((o.folded ->> 'id') = ANY({sql.param(options, 'text[]')}))"
        return sql.path_exists(source.folded, _equalities(options))
    if op == "exact" and kind == "string":
        folded = sql.path_exists(source.folded, _equalities([str(wanted).casefold()]))
        return f"({folded} AND {sql.path_exists(source.data, _equalities([str(wanted)]))})"
    if op in ("eq", "ne", "exact", "in"):
        reader, cast = _READERS[kind]
        if op == "in":
            options = [_typed_param(w, kind) for w in wanted]
            return sql.values_exist(
                source.data, lambda: f"{reader}(x) = ANY({sql.param(options, cast + '[]')})"
            )
        value = _typed_param(wanted, kind)
        return sql.values_exist(source.data, lambda: f"{reader}(x) = {sql.param(value, cast)}")
    if op == "like":
        pattern = jsonpath_string(str(wanted).casefold())
        return sql.path_exists(source.folded, f'@ like_regex {pattern} flag "q"')
    if op == "contains":
        pattern = jsonpath_string(str(wanted))
        return sql.path_exists(source.data, f'@ like_regex {pattern} flag "q"')
    if op == "regex":
        return sql.values_exist(
            source.data, lambda: f"gateway_text(x) ~ {sql.param(str(wanted), 'text')}"
        )
    if op in _COMPARE:
        symbol = _COMPARE[op]
        if kind == "string":
            bound = str(wanted).casefold()
            return sql.values_exist(
                source.folded,
                lambda: f'gateway_text(x) COLLATE "C" {symbol} {sql.param(bound, "text")}',
            )
        reader, cast = _READERS[kind]
        value = _typed_param(wanted, kind)
        return sql.values_exist(
            source.data, lambda: f"{reader}(x) {symbol} {sql.param(value, cast)}"
        )
    raise ValueError(f"unknown operator {op!r}")


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def compile_search(sql: Compiled, search: Search) -> str:
    """A LIKE on the `search` column (the folded string values joined by chr(31), trigram-indexed
    when pg_trgm is there) is the whole test for a term without chr(31) over all values; with
    search paths (or chr(31)) it narrows, and a jsonpath test on the values decides."""
    folded = search.term.casefold()
    like = f"o.search LIKE {sql.param(_like_pattern(folded))}"
    if search.paths is None and SEARCH_SEPARATOR not in folded:
        return f"({like})"
    pattern = jsonpath_string(folded)
    predicate = f'@.type() == "string" && @ like_regex {pattern} flag "q"'
    roots = (
        ['lax $."data"']
        if search.paths is None
        else [
            'lax $."data"' + "".join(_jsonpath_key(part) for part in path.split("."))
            for path in search.paths
        ]
    )
    tests = [sql.path_exists(("o.folded", f"{root}.**"), predicate) for root in roots]
    return f"({like} AND ({' OR '.join(tests)}))"


def order_key(sql: Compiled, order: Order) -> str:
    """The sort key of `order`: the first non-null value at the path, read by kind, or NULL."""
    column = _METADATA_COLUMNS.get(order.path)
    if column is not None and order.kind == "date-time" and column != "id":
        return f"gateway_datetime_text(o.{column})"  # the objects_created/_modified indexes
    source = _source(order.path)
    document, path = source.folded if order.kind == "string" else source.data
    not_null = sql.param(path + ' ? (@.type() != "null")', "jsonpath")
    first = f"jsonb_path_query_first({document}, {not_null})"
    if order.kind == "string":
        return f'gateway_text({first}) COLLATE "C"'
    reader, _ = _READERS[order.kind]
    return f"{reader}({first})"


def compile_where(sql: Compiled, collection: str, query: ListQuery) -> str:
    parts = [f"o.collection = {sql.param(collection)}"]
    for condition in query.conditions:
        if not isinstance(condition, Condition):
            raise ValueError(
                f"conditions on related objects are resolved before storage: {condition!r}"
            )
        parts.append(compile_condition(sql, condition))
    if query.search is not None:
        parts.append(compile_search(sql, query.search))
    return " AND ".join(parts)


def plan_once(query: ListQuery) -> bool:
    """Whether one generic plan serves `query` as well as a plan for its values.

    True when every condition is a string equality (`eq`, `exact`, `in`) and the order is the
    creation order: such conditions are `@?` tests on the GIN index (or the id index), and the
    planner's estimate for them is a constant whether it sees the values or not. A generic plan
    also costs the walk along the creation order as reading a tenth of the table, as it does not
    know the LIMIT, so at any table size it keeps the index for these conditions. Planning anew
    for each request's values cost PostgreSQL 0.3-0.45 ms a list against 0.06-0.2 ms to run it
    (docs/performance.md). `_search` (LIKE, whose estimate depends on the term and the column's
    statistics), other operators and other orders keep a plan for their values."""
    return (
        query.search is None
        and not query.order
        and all(
            isinstance(c, Condition) and c.kind == "string" and c.operator in ("eq", "exact", "in")
            for c in query.conditions
        )
    )


def compile_order(sql: Compiled, query: ListQuery) -> str:
    keys = [
        f"{order_key(sql, order)} {'DESC' if order.descending else 'ASC'} NULLS LAST"
        for order in query.order
    ]
    return ", ".join([*keys, "o.seq"])
