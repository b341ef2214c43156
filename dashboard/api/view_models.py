"""API layer: pydantic models derived from the data layer's declarations — a declared view (db/read/views.py): one
field per view field the API shows, typed as the view declares it, times as ISO 8601 UTC; or a frozen dataclass a
read returns (db/read/overview.Kpis) — so the responses, their validation and the OpenAPI document's schemas
follow the declaration without a second list of fields."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from typing import Any

from pydantic import BaseModel, create_model
from pydantic import Field as Described

from db.read.views import View


def api_type(annotation: Any, utc: Any) -> Any:
    """The view's Python type as the API declares it: datetime (alone or in a union) becomes `utc`."""
    if annotation is datetime:
        return utc
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [api_type(a, utc) for a in typing.get_args(annotation)]
        return typing.Union[tuple(members)]  # noqa: UP007 (built from a runtime list)
    return annotation


def view_model(
    view: View,
    name: str,
    *,
    base: type[BaseModel],
    utc: Any,
    detail: bool = False,
    extra: dict[str, Any] | None = None,
) -> type[BaseModel]:
    """A model of the view's API fields (with `detail`, only those the one-entity answer adds when `base` is the
    listing's model, else all of them), then `extra` fields as (type, FieldInfo) pairs."""
    inherited = set(base.model_fields)
    fields: dict[str, Any] = {}
    for f in view.api_fields(detail):
        if f.name in inherited:
            continue
        default = f.api_default
        info = Described(default, description=f.description) if f.description else Described(default)
        fields[f.name] = (api_type(f.type, utc), info)
    model: type[BaseModel] = create_model(
        name, __base__=base, __module__=base.__module__, **fields, **(extra or {})
    )
    return model


def dataclass_model(
    cls: type,
    name: str,
    *,
    base: type[BaseModel],
    utc: Any,
    doc: str,
    first: dict[str, Any] | None = None,
) -> type[BaseModel]:
    """A model of the dataclass's fields in their order, after `first` fields as (type, FieldInfo) pairs: typed
    as declared (datetime as `utc`), with the field's default and its metadata's description."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = dict(first or {})
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else ...
        fields[f.name] = (
            api_type(hints[f.name], utc),
            Described(default, description=f.metadata.get("description")),
        )
    model: type[BaseModel] = create_model(
        name, __base__=base, __module__=base.__module__, __doc__=doc, **fields
    )
    return model
