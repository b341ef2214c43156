"""Data layer: declared views — an entity's fields (name, SQL expression, Python type, label, format kind) and
where each one appears (the dashboard grid, the REST API, the CSV downloads and report exports), its sorts and
its API cursor keys. The grid's columns, the API's response models, sort names and cursors, and the CSV and
report columns are all derived from one declaration (db/read/task_view.py), so a column is added in one place."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement

from db.core.sqlfuncs import iso_utc


class Fmt(StrEnum):
    """How a value reads, one kind per function of reports/fmt.py (the grid's formatters: assets/formats.js)."""

    TEXT = "text"
    ID = "id"
    COUNT = "count"
    TOKENS = "tokens"
    MONEY = "money"
    DURATION = "duration"
    TIMESTAMP = "timestamp"
    PROGRESS = "progress"  # a percentage 0..100 (reports/fmt.percent takes a ratio 0..1)
    FLAG = "flag"
    JSON = "json"


class Api(StrEnum):
    """Which API answers carry a field: every listing and single read, or only the single read (bulky ones)."""

    LIST = "list"
    DETAIL = "detail"


class Panel(StrEnum):
    """The perspectives of an entity's own page, each a list of labelled facts: what its user asked and got,
    how the system ran it, what the database recorded about it."""

    USER = "user"
    SYSTEM = "system"
    DATABASE = "database"


@dataclass(frozen=True)
class Grid:
    """A field's column in the dashboard's grid (dash-ag-grid): its size; the header is the field's label."""

    width: int | None = None
    flex: int | None = None
    min_width: int | None = None


# eq=False: two fields are the same only if they are one object (comparing SQL expressions builds SQL).
@dataclass(frozen=True, eq=False)
class Field:
    """One field of a view. `expr` is the SQL that reads it; `type` its Python type as the API declares it
    (datetime becomes ISO 8601 UTC text); `label` the header people read. Where it appears: `api` (None: not
    in the API), `csv` (the CSV download and the report export, one layout), and `grid` (a visible
    column); `card` (the board's cards read it) and `detail` (the panel of the entity's page that lists it).
    `sortable`: the grid and the CSV download may ORDER BY it (the grid's rows carry it, so an address may
    sort by a field it shows no column for). `cursor`: the API may page by it (NOT NULL and indexed only: a
    keyset comparison has no place for a NULL)."""

    name: str
    expr: ColumnElement[Any]
    type: Any
    label: str = ""
    fmt: Fmt = Fmt.TEXT
    api: Api | None = Api.LIST
    csv: bool = False
    grid: Grid | None = None
    sortable: bool = False
    cursor: bool = False
    card: bool = False
    detail: Panel | None = None
    description: str | None = None
    # The value the API gives when a row has none (the field is then optional in the schema).
    api_default: Any = ...

    @property
    def header(self) -> str:
        return self.label or self.name

    @property
    def heading(self) -> str:
        """The header where it starts a line: a page's fact, a report's column ("Last activity")."""
        return self.header[:1].upper() + self.header[1:]

    @property
    def is_time(self) -> bool:
        return datetime in _members(self.type)

    @property
    def is_list(self) -> bool:
        return any(typing.get_origin(m) in (list, tuple) for m in _members(self.type))

    def selected(self) -> ColumnElement[Any]:
        """The expression as a SELECT names it (a computed field gets its name as a label)."""
        return self.expr.label(self.name)

    def export_expr(self) -> ColumnElement[Any]:
        """The value as a CSV cell computes it: times formatted by the database (db/core/sqlfuncs.iso_utc)."""
        return iso_utc(self.expr) if self.is_time else self.expr


def _members(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


@dataclass(frozen=True)
class View:
    """An entity's fields in their one order (the CSV and API order). `grid_order` names the grid's columns
    left to right where that differs, `detail_order` the page's facts top to bottom; a field either does not
    name goes at the end (of the grid, of its panel)."""

    entity: str
    fields: tuple[Field, ...]
    grid_order: tuple[str, ...] = ()
    detail_order: tuple[str, ...] = ()
    default_sort: tuple[str, str] = ("id", "desc")

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.entity}: a field is declared twice")
        unknown = set(self.grid_order) - {f.name for f in self.fields if f.grid is not None}
        if unknown:
            raise ValueError(f"{self.entity}: grid_order names {sorted(unknown)}, which have no grid column")
        unknown = set(self.detail_order) - {f.name for f in self.fields if f.detail is not None}
        if unknown:
            raise ValueError(f"{self.entity}: detail_order names {sorted(unknown)}, which are in no panel")

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def extended(self, *extra: Field) -> View:
        """This view with more fields (at the end of every surface they appear in)."""
        return replace(self, fields=(*self.fields, *extra))

    def where(self, keep: Callable[[Field], bool]) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if keep(f))

    # ---- the surfaces ------------------------------------------------------------------------------------
    @property
    def grid_fields(self) -> tuple[Field, ...]:
        return _ordered(self.where(lambda f: f.grid is not None), self.grid_order)

    def detail_fields(self, panel: Panel) -> tuple[Field, ...]:
        """The facts of one panel of the entity's page, top to bottom."""
        return _ordered(self.where(lambda f: f.detail is panel), self.detail_order)

    @property
    def row_fields(self) -> tuple[Field, ...]:
        """What the grid's rows carry: its columns and every field it can sort by."""
        return self.where(lambda f: f.grid is not None or f.sortable)

    @property
    def card_fields(self) -> tuple[Field, ...]:
        return self.where(lambda f: f.card)

    @property
    def sortable(self) -> frozenset[str]:
        return frozenset(f.name for f in self.fields if f.sortable)

    @property
    def csv_fields(self) -> tuple[Field, ...]:
        return self.where(lambda f: f.csv)

    @property
    def csv_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.csv_fields)

    def csv_select(self) -> tuple[ColumnElement[Any], ...]:
        return tuple(f.export_expr() for f in self.csv_fields)

    def api_fields(self, detail: bool = False) -> tuple[Field, ...]:
        listed = self.where(lambda f: f.api == Api.LIST)
        # The one-entity answer extends the listing's (its model inherits the listing's model), so the fields only
        # it carries come after the listing's, wherever the view declares them.
        return listed + self.where(lambda f: f.api == Api.DETAIL) if detail else listed

    def api_names(self, detail: bool = False) -> tuple[str, ...]:
        return tuple(f.name for f in self.api_fields(detail))

    @property
    def cursors(self) -> dict[str, type]:
        """The API's sort keys and the Python type a cursor's value decodes to."""
        out: dict[str, type] = {}
        for f in self.fields:
            if f.cursor:
                (kind,) = [m for m in _members(f.type) if m is not type(None)]
                out[f.name] = kind
        return out


def _ordered(shown: tuple[Field, ...], order: tuple[str, ...]) -> tuple[Field, ...]:
    """`shown` in the order `order` names them, then those it does not name in the view's order."""
    named = {f.name: f for f in shown}
    return (*(named[n] for n in order if n in named), *(f for f in shown if f.name not in order))
