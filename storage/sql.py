"""The one SQL spelling of every query, and its PostgreSQL form.

Queries are written once, in the part of SQLite's dialect that PostgreSQL shares, with
`?` or `:name` parameters. Three spellings differ and are rewritten for PostgreSQL here,
once per query text (cached):

- parameters become `$1, $2, ...` (asyncpg's), named ones numbered by first use;
- `json_each(:p)`, SQLite's way to pass a list, becomes `unnest($n::bigint[]) AS value`
  (or `text[]`): a list parameter is given as `Ints(...)` or `Texts(...)` so that both
  sides know its type, even when it is empty;
- `group_concat(` becomes `string_agg(`.

Anything else a query needs that the two do not share (`FOR UPDATE SKIP LOCKED`) is
chosen by the repository from `Database.dialect`, in the open.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

Params = Sequence[Any] | Mapping[str, Any]


class Ints(tuple):
    """A list of integers passed as one parameter (`json_each(?)` in the query)."""

    __slots__ = ()
    pg_type = "bigint[]"


class Texts(tuple):
    """A list of texts passed as one parameter (`json_each(?)` in the query)."""

    __slots__ = ()
    pg_type = "text[]"


def sqlite_value(value: Any) -> Any:
    """A list parameter as SQLite's `json_each` reads it."""
    return json.dumps(list(value), ensure_ascii=False) if isinstance(value, Ints | Texts) else value


def sqlite_params(params: Params) -> Params:
    if isinstance(params, Mapping):
        return {key: sqlite_value(value) for key, value in params.items()}
    return tuple(sqlite_value(value) for value in params)


# A quoted literal or identifier or a comment (skipped), a list parameter, a parameter,
# or group_concat.
_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/
    |json_each\(\s*(?P<list>\?|:[A-Za-z_]\w*)\s*\)
    |(?P<param>\?|(?<!:):[A-Za-z_]\w*)
    |(?P<concat>\bgroup_concat\()""",
    re.VERBOSE | re.IGNORECASE | re.DOTALL,
)


@functools.lru_cache(maxsize=512)
def _translate(
    sql: str, names: tuple[str, ...] | None, list_types: tuple[str | None, ...]
) -> tuple[str, tuple]:
    """(PostgreSQL text, the order of its parameters: names, or positions).

    `names`: the named parameters given (None: positional); `list_types`: the PostgreSQL
    array type of each parameter given (None: not a list), in the order of `names` or of
    the positions."""
    order: list[Any] = []
    positions = iter(range(len(list_types)))

    def number(token: str) -> tuple[int, Any]:
        if (token == "?") != (names is None):
            raise ValueError("a query's parameters and their call do not match (? or :name)")
        key: Any = next(positions) if names is None else token[1:]
        if key in order:
            return order.index(key) + 1, key
        order.append(key)
        return len(order), key

    def list_type(key: Any) -> str:
        index = key if names is None else names.index(key)
        if list_types[index] is None:
            raise TypeError(f"parameter {key!r} of json_each() must be Ints(...) or Texts(...)")
        return str(list_types[index])

    def replace(match: re.Match[str]) -> str:
        if match.group("list"):
            index, key = number(match.group("list"))
            return f"unnest(${index}::{list_type(key)}) AS value"
        if match.group("param"):
            return f"${number(match.group('param'))[0]}"
        if match.group("concat"):
            return "string_agg("
        return match.group(0)

    return _TOKEN.sub(replace, sql), tuple(order)


def postgres(sql: str, params: Params = ()) -> tuple[str, list[Any]]:
    """The query and its arguments as asyncpg takes them."""
    if isinstance(params, Mapping):
        names = tuple(sorted(params))
        types = tuple(getattr(params[name], "pg_type", None) for name in names)
        text, order = _translate(sql, names, types)
        return text, [_pg_value(params[name]) for name in order]
    types = tuple(getattr(value, "pg_type", None) for value in params)
    text, order = _translate(sql, None, types)
    return text, [_pg_value(params[index]) for index in order]


def _pg_value(value: Any) -> Any:
    return list(value) if isinstance(value, Ints | Texts) else value


def rowcount(status: str) -> int:
    """Rows a statement touched, from asyncpg's status line (`UPDATE 3`, `INSERT 0 2`)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
