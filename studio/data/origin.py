"""Where a snapshot came from: enough to say it on the dataset page and to take a fresh snapshot ("refresh").

An origin never holds a password: a SQL origin names a saved connection (whose password lives encrypted
in the studio database or in the environment) or a URL rendered without its password.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Comparison operators a row filter may use; they are pushed down to Parquet/Delta readers.
FILTER_OPS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in")


class RowFilter(BaseModel):
    """One condition `column op value`; several are combined with AND."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str = Field(min_length=1)
    op: Literal["=", "!=", "<", "<=", ">", ">=", "in", "not in"]
    value: Any

    @field_validator("value")
    @classmethod
    def _plain(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str | int | float | bool) for v in items):
            raise ValueError("a filter value must be text, a number, true/false, or a list of them")
        return value

    def describe(self) -> str:
        return f"{self.column} {self.op} {self.value!r}"

    def as_tuple(self) -> tuple[str, str, Any]:
        op = "==" if self.op == "=" else self.op
        return self.column, op, self.value


class Origin(BaseModel):
    """A database table or query, or a Parquet/Delta path, with the options used to read it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sql", "parquet", "delta"]
    location: str  # the SQL URL without its password, or the path / object-store URL
    connection: str | None = None  # the saved connection's name (SQL)
    table: str | None = None  # "schema.table" or "table"
    query: str | None = None  # a read-only SELECT
    columns: list[str] | None = None  # Parquet/Delta: the columns read (None: all)
    filters: list[RowFilter] = Field(default_factory=list)
    limit: int | None = Field(default=None, gt=0)
    sample: bool = False  # a random sample of `limit` rows rather than the first `limit`
    delta_version: int | None = Field(default=None, ge=0)
    ran_at: float = 0.0

    def describe(self) -> str:
        """One line for people: what was read, from where, when."""
        what = self.table or ("query" if self.query else self.location)
        where = self.connection or self.location
        parts = [f"{self.kind} {what} @ {where}" if what != where else f"{self.kind} {where}"]
        if self.delta_version is not None:
            parts.append(f"version {self.delta_version}")
        if self.columns:
            parts.append(f"{len(self.columns)} columns")
        if self.filters:
            parts.append("where " + " and ".join(f.describe() for f in self.filters))
        if self.limit:
            parts.append(f"{'random sample of' if self.sample else 'first'} {self.limit:,} rows")
        if self.ran_at:
            parts.append("read " + dt.datetime.fromtimestamp(self.ran_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))
        return ", ".join(parts)
