"""datastore_search_sql's checker: an analyst's SQL is parsed with a real SQL parser (sqlglot), refused unless it
is one read-only SELECT over published resources using allowed functions, and rewritten so that each resource
(named by its id, quoted as CKAN does: `SELECT count(*) FROM "<resource id>"`) reads its records table's
published columns only, in the SQL of the database that runs it.

What this refuses, the database never sees: writes and DDL anywhere (data-modifying CTEs included), SELECT
INTO, row locks, several statements, PRAGMA/ATTACH/SET and other commands, any table that is not a published
resource (system catalogues, the service's own tables, schema-qualified names) and any function not listed
below (sleep, file access, configuration, extensions). Row count and run time are bounded where it runs
(adapters/datastore.run_sql)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeGuard

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

MAX_SQL_CHARS = 20_000
ALLOWED_FUNCTIONS = frozenset({
    # aggregates
    "COUNT", "SUM", "AVG", "MIN", "MAX", "STDDEV", "STDDEV_POP", "STDDEV_SAMP", "VARIANCE", "VARIANCE_POP",
    "GROUP_CONCAT", "COUNT_IF", "PERCENTILE_CONT", "PERCENTILE_DISC", "MEDIAN", "BOOL_AND", "BOOL_OR",
    # window functions
    "ROW_NUMBER", "RANK", "DENSE_RANK", "NTILE", "LAG", "LEAD", "FIRST_VALUE", "LAST_VALUE",
    # scalar
    "ROUND", "ABS", "FLOOR", "CEIL", "SQRT", "POW", "POWER", "LN", "LOG", "EXP", "SIGN", "MOD",
    "COALESCE", "NULLIF", "GREATEST", "LEAST", "CASE", "IF", "CAST", "TRY_CAST",
    "LOWER", "UPPER", "LENGTH", "SUBSTRING", "TRIM", "LTRIM", "RTRIM", "REPLACE", "CONCAT", "LEFT", "RIGHT",
    "STR_POSITION", "LPAD", "RPAD", "EXTRACT",
})


class SqlRefused(ValueError):
    """The statement may not run; the message says why, for the caller."""


@dataclass(frozen=True)
class PublishedTable:
    """A datastore resource as SQL may read it: its records table and the columns published from it."""

    table: str
    columns: tuple[str, ...]


def _is_function_call(node: object) -> TypeGuard[exp.Func]:
    """A function call, not an operator sqlglot also models as a function (AND, OR, ^, ~, JSON ->, @>)."""
    return isinstance(node, exp.Func) and not isinstance(node, exp.Binary | exp.Unary | exp.Connector)


def _function_name(node: exp.Func) -> str:
    return node.name.upper() if isinstance(node, exp.Anonymous) else node.sql_name().upper()


def check(sql: str, resources: Mapping[str, PublishedTable], dialect: str) -> str:
    """The statement, checked, rewritten for `dialect` ("sqlite" or "postgres"); SqlRefused says why not."""
    if not sql or not sql.strip():
        raise SqlRefused("Missing value")
    if len(sql) > MAX_SQL_CHARS:
        raise SqlRefused(f"Query is longer than {MAX_SQL_CHARS} characters.")
    try:
        statements = [s for s in sqlglot.parse(sql, read="postgres") if s is not None]
    except SqlglotError as exc:
        raise SqlRefused(f"Query could not be parsed: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise SqlRefused("Query is not a single statement.")
    statement = statements[0]
    if not isinstance(statement, exp.Query) or isinstance(statement, exp.Subquery):
        raise SqlRefused(f"Only SELECT statements are allowed, not {statement.key.upper()}.")
    cte_names = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
    for node in statement.walk():
        if isinstance(node, exp.DML | exp.DDL | exp.Command | exp.Pragma | exp.Set | exp.Transaction):
            raise SqlRefused(f"Only SELECT statements are allowed, not {node.key.upper()}.")
        if isinstance(node, exp.Into):
            raise SqlRefused("SELECT INTO is not allowed (read-only).")
        if isinstance(node, exp.Lock):
            raise SqlRefused("Row locks (FOR UPDATE/SHARE) are not allowed (read-only).")
        if _is_function_call(node) and _function_name(node) not in ALLOWED_FUNCTIONS:
            raise SqlRefused(f"Function not allowed: {_function_name(node).lower()}")
        if isinstance(node, exp.Table):
            _check_table(node, resources, cte_names)
    # A CTE is renamed to a name no stored table has: a reference outside the CTE's scope (where the name would
    # mean a real table) then finds nothing instead of that table.
    hidden = {name: f"cte_{i}_{name}" for i, name in enumerate(sorted(cte_names))}
    for cte in statement.find_all(exp.CTE):
        cte.args["alias"].set("this", exp.to_identifier(hidden[cte.alias_or_name], quoted=True))
    for table in list(statement.find_all(exp.Table)):
        if table.name in hidden:
            alias = table.alias_or_name
            table.set("this", exp.to_identifier(hidden[table.name], quoted=True))
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias, quoted=True)))
            continue
        published = resources[table.name]
        reader = exp.select(*[exp.column(c, quoted=True) for c in published.columns]).from_(
            exp.table_(published.table, quoted=True))
        table.replace(reader.subquery(exp.to_identifier(table.alias_or_name, quoted=True)))
    return statement.sql(dialect=dialect)


def _check_table(node: exp.Table, resources: Mapping[str, PublishedTable], cte_names: set[str]) -> None:
    if not isinstance(node.this, exp.Identifier):
        raise SqlRefused("Only published datastore resources can be read (a table function is not one).")
    if node.args.get("db") or node.args.get("catalog"):
        raise SqlRefused(f"Not a published datastore resource: {node.sql(dialect='postgres')}")
    if node.name not in resources and node.name not in cte_names:
        raise SqlRefused(f'Not a published datastore resource: "{node.name}" (name resources by their id, quoted)')
