"""Table declarations: each table is declared once, and its CREATE TABLE, CREATE INDEX,
ALTER TABLE ... ADD COLUMN, INSERT and SELECT column lists are generated from that.

A column or index remembers the schema version that added it (`since`), so the
statements of each migration are generated too: migration N creates the tables added in
N and adds the columns added in N to older tables. Adding a column is one declaration
(`Column(..., since=N)`) plus, when N is a new version, one `declared(N)` entry at the end
of the migrations list.

What ALTER TABLE cannot do (a column renamed, a key or a constraint changed) is a rebuild:
a new declaration with `since=N` and `replaces=` the old one. Migration N then creates the
new table under a temporary name, copies every row (each column from the old column of
its name, or from its `source` expression), drops the old table and renames the new one
into place; the migrations before N are still generated from the old declaration.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from audit.history.codec import Row, to_sql

_INDENT = " " * 8


@dataclass(frozen=True)
class Column:
    """One column: its name and its type and constraints as CREATE TABLE spells them."""

    name: str
    sql: str
    """"TEXT NOT NULL", "INTEGER PRIMARY KEY", "TEXT NOT NULL DEFAULT '[]'" ..."""
    since: int | None = None
    """Schema version that added it; None: with its table. A column added to an existing
    table is appended by ALTER TABLE, so it needs a default if it is NOT NULL."""
    source: str | None = None
    """In a rebuild: the SQL expression over the old table's columns that fills this
    column; None: the old column of the same name."""

    @property
    def generated(self) -> bool:
        """An `INTEGER PRIMARY KEY` (the rowid): SQLite chooses it, INSERT leaves it out."""
        return self.sql.upper().startswith("INTEGER PRIMARY KEY")


@dataclass(frozen=True)
class Index:
    """A `CREATE INDEX name ON table (columns)`."""

    name: str
    columns: str
    """As in the statement: "started_at, id"."""
    since: int | None = None
    """Schema version that added it; None: with its table."""


@dataclass(frozen=True)
class Table:
    """One table, declared once; everything that names its columns is generated."""

    name: str
    columns: tuple[Column, ...]
    """In the order the database holds them (columns added later come last)."""
    constraints: tuple[str, ...] = ()
    """Table constraints: "PRIMARY KEY (host_pk, seq)", "UNIQUE (run_id, name)"."""
    indexes: tuple[Index, ...] = ()
    without_rowid: bool = False
    since: int = 1
    """Schema version that created it (or rebuilt it, with `replaces`)."""
    replaces: Table | None = None
    """The declaration this one rebuilt at `since`; it still generates the migrations
    before `since`."""

    def __post_init__(self) -> None:
        if self.replaces is not None and self.replaces.since >= self.since:
            raise ValueError(f"{self.name}: a rebuild comes after the table it replaces")
        items: tuple[Column | Index, ...] = (*self.columns, *self.indexes)
        for item in items:
            if item.since is not None and item.since < self.since:
                raise ValueError(f"{self.name}.{item.name}: since is before the table's")

    # ---- DDL

    def _since(self, item: Column | Index) -> int:
        return self.since if item.since is None else item.since

    def _own(self) -> list[Column]:
        """The columns of the version that created (or rebuilt) the table."""
        return [c for c in self.columns if self._since(c) == self.since]

    def create(self, name: str | None = None) -> str:
        """The CREATE TABLE statement of the version that created the table."""
        lines = [f"{c.name} {c.sql}" for c in self._own()] + list(self.constraints)
        body = ",\n".join(_INDENT + line for line in lines)
        tail = " WITHOUT ROWID" if self.without_rowid else ""
        return f"CREATE TABLE {name or self.name} (\n{body}\n    ){tail}"

    def rebuild(self) -> tuple[str, ...]:
        """The statements that rebuild the old table as this declaration (foreign keys off,
        as every migration runs): create, copy every row, drop the old, rename."""
        temp = f"{self.name}_rebuilt"
        own = self._own()
        names = ", ".join(c.name for c in own)
        sources = ", ".join(c.source or c.name for c in own)
        return (
            self.create(temp),
            f"INSERT INTO {temp} ({names}) SELECT {sources} FROM {self.name}",
            f"DROP TABLE {self.name}",
            f"ALTER TABLE {temp} RENAME TO {self.name}",
        )

    def migration(self, version: int) -> tuple[str, ...]:
        """The statements that take this table from schema `version - 1` to `version`."""
        if self.replaces is not None and version < self.since:
            return self.replaces.migration(version)
        statements: list[str] = []
        if version == self.since:
            statements += self.rebuild() if self.replaces is not None else (self.create(),)
        elif version > self.since:
            statements += [
                f"ALTER TABLE {self.name} ADD COLUMN {c.name} {c.sql}"
                for c in self.columns
                if self._since(c) == version
            ]
        statements += [
            f"CREATE INDEX {i.name} ON {self.name} ({i.columns})"
            for i in self.indexes
            if self._since(i) == version
        ]
        return tuple(statements)

    # ---- rows

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Every column name, in order."""
        return tuple(c.name for c in self.columns)

    @cached_property
    def writable(self) -> tuple[str, ...]:
        """The columns an INSERT gives (all but a generated `INTEGER PRIMARY KEY`)."""
        return tuple(c.name for c in self.columns if not c.generated)

    @cached_property
    def insert_sql(self) -> str:
        marks = ", ".join("?" * len(self.writable))
        return f"INSERT INTO {self.name} ({', '.join(self.writable)}) VALUES ({marks})"

    def select(self, alias: str | None = None) -> str:
        """The column list of a SELECT of every column ("t.pk, t.seq, ...")."""
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + name for name in self.names)

    def values(self, row: Row) -> tuple[Any, ...]:
        """The parameters of `insert_sql` for a row given by column name (each through
        `to_sql`). Every writable column must be given, and nothing else."""
        if len(row) != len(self.writable) or not all(name in row for name in self.writable):
            missing = sorted(set(self.writable) - set(row))
            extra = sorted(set(row) - set(self.writable))
            raise ValueError(f"{self.name}: row lacks {missing}, has unknown {extra}")
        return tuple(to_sql(row[name]) for name in self.writable)

    def insert(self, conn: sqlite3.Connection, row: Row) -> int:
        """Insert one row; returns its rowid."""
        rowid = conn.execute(self.insert_sql, self.values(row)).lastrowid
        assert rowid is not None
        return rowid

    def insert_many(self, conn: sqlite3.Connection, rows: Iterable[Row]) -> None:
        conn.executemany(self.insert_sql, [self.values(row) for row in rows])
