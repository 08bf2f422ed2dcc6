"""How values are written to and read from SQLite: text, datetimes, JSON lists, rows.

Datetimes are ISO 8601 UTC text ("...Z"). Text that is not valid UTF-8 (lone surrogates
from a `surrogateescape` decode of a remote file name) is stored as a BLOB of its
`surrogatepass` encoding and restored exactly on reading. Rows are read as dicts keyed by
column name.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Row = Mapping[str, Any]
"""One row, by column name."""


def to_sql(value: Any) -> Any:
    """A value ready to bind: text that is not valid UTF-8 becomes a BLOB (see module doc)."""
    if type(value) is str and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogatepass")
    return value


def from_sql(value: Any) -> Any:
    """Inverse of `to_sql` for a text column."""
    if type(value) is bytes:
        return value.decode("utf-8", "surrogatepass")
    return value


def utc(value: datetime) -> datetime:
    """A naive datetime is taken as UTC (the model says UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def dt_text(value: datetime | None) -> str | None:
    """ISO 8601 UTC text, second precision unless there are microseconds."""
    if value is None:
        return None
    value = utc(value)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def parse_dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def opt_dt(text: str | None) -> datetime | None:
    return None if text is None else parse_dt(text)


def json_list(items: Iterable[Any]) -> str:
    return json.dumps(list(items), ensure_ascii=True, separators=(",", ":"))


def strs(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def now() -> datetime:
    return datetime.now(UTC)


def _text_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    """Row factory: a dict by column name, every BLOB decoded as text (`from_sql`)."""
    names = [d[0] for d in cursor.description]
    if bytes in map(type, row):
        return {name: from_sql(v) for name, v in zip(names, row, strict=True)}
    return dict(zip(names, row, strict=True))


def _raw_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    """Row factory: a dict by column name, values as SQLite returned them."""
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


def fetch(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any] = (), *, decode: bool = True
) -> list[dict[str, Any]]:
    """Every row of a query by column name; decode=False keeps BLOBs (DER) as bytes."""
    cursor = conn.cursor()
    cursor.row_factory = _text_row if decode else _raw_row  # type: ignore[assignment]
    return cursor.execute(sql, tuple(params)).fetchall()


def scalar(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    """The single value a query (or PRAGMA) returns; None when it returns no row."""
    row = conn.execute(sql, tuple(params)).fetchone()
    return None if row is None else row[0]
