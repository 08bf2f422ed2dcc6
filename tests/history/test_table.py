"""Table declarations: DDL, migrations, INSERT and SELECT generated from one declaration."""

from __future__ import annotations

import sqlite3

import pytest

from audit.history.codec import fetch
from audit.history.table import Column, Index, Table

T = Table(
    "t",
    (
        Column("pk", "INTEGER PRIMARY KEY"),
        Column("name", "TEXT NOT NULL"),
        Column("tags", "TEXT NOT NULL DEFAULT '[]'", since=2),
    ),
    constraints=("UNIQUE (name)",),
    indexes=(Index("t_name", "name"), Index("t_tags", "tags", since=3)),
)


def test_each_migration_is_generated_from_the_declaration() -> None:
    assert T.migration(1) == (
        "CREATE TABLE t (\n        pk INTEGER PRIMARY KEY,\n        name TEXT NOT NULL,\n"
        "        UNIQUE (name)\n    )",
        "CREATE INDEX t_name ON t (name)",
    )
    assert T.migration(2) == ("ALTER TABLE t ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'",)
    assert T.migration(3) == ("CREATE INDEX t_tags ON t (tags)",)
    assert T.migration(4) == ()
    later = Table("u", (Column("a", "TEXT"),), without_rowid=True, since=2)
    assert later.migration(1) == ()
    assert later.migration(2) == ("CREATE TABLE u (\n        a TEXT\n    ) WITHOUT ROWID",)


def test_insert_and_select_name_the_declared_columns() -> None:
    assert T.names == ("pk", "name", "tags")
    assert T.writable == ("name", "tags")  # the rowid is SQLite's to choose
    assert T.insert_sql == "INSERT INTO t (name, tags) VALUES (?, ?)"
    assert T.select() == "pk, name, tags"
    assert T.select("x") == "x.pk, x.name, x.tags"


def test_a_row_must_give_every_column_and_nothing_else() -> None:
    with pytest.raises(ValueError, match=r"lacks \['tags'\], has unknown \[\]"):
        T.values({"name": "a"})
    with pytest.raises(ValueError, match=r"lacks \[\], has unknown \['extra'\]"):
        T.values({"name": "a", "tags": "[]", "extra": 1})
    with pytest.raises(ValueError, match=r"lacks \['tags'\], has unknown \['tag'\]"):
        T.values({"name": "a", "tag": "[]"})
    # in declaration order, text that is not valid UTF-8 as its surrogatepass bytes
    assert T.values({"tags": "[]", "name": "na\udcefve"}) == (b"na\xed\xb3\xafve", "[]")


def test_a_column_cannot_predate_its_table() -> None:
    with pytest.raises(ValueError, match="u.a"):
        Table("u", (Column("a", "TEXT", since=1),), since=2)


def test_rows_written_and_read_by_name() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for version in (1, 2, 3):
        for statement in T.migration(version):
            conn.execute(statement)
    first = T.insert(conn, {"name": "na\udcefve", "tags": '["x"]'})
    T.insert_many(conn, [{"name": "b", "tags": "[]"}, {"name": "c", "tags": "[]"}])
    found = fetch(conn, f"SELECT {T.select()} FROM t ORDER BY pk")
    assert found == [
        {"pk": first, "name": "na\udcefve", "tags": '["x"]'},
        {"pk": first + 1, "name": "b", "tags": "[]"},
        {"pk": first + 2, "name": "c", "tags": "[]"},
    ]
    raw = fetch(conn, "SELECT name FROM t WHERE pk = ?", (first,), decode=False)
    assert raw == [{"name": b"na\xed\xb3\xafve"}]
    conn.close()
