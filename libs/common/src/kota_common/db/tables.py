"""The Core table of a SQLModel table model, typed (SQLModel sets `__table__` on the class at runtime, but
declares no such attribute, so `Row.__table__` does not type-check)."""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import SQLModel


def table_of(model: type[SQLModel]) -> Table:
    table = getattr(model, "__table__", None)
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not a table model (declare it with table=True)")
    return table
