"""The one SQL spelling and its PostgreSQL form (storage/sql.py)."""

import pytest

from storage.sql import Ints, Texts, postgres, rowcount, sqlite_params


def test_positional_parameters_are_numbered():
    text, args = postgres("SELECT * FROM t WHERE a = ? AND b = ?", (1, "x"))
    assert text == "SELECT * FROM t WHERE a = $1 AND b = $2"
    assert args == [1, "x"]


def test_named_parameters_are_numbered_by_first_use_and_reused():
    text, args = postgres("UPDATE t SET a = :a WHERE b = :b OR c = :a", {"b": 2, "a": 1})
    assert text == "UPDATE t SET a = $1 WHERE b = $2 OR c = $1"
    assert args == [1, 2]


def test_quoted_text_is_left_alone():
    sql = "SELECT '?', ':x', 'it''s ?' FROM t WHERE a = ?"
    text, args = postgres(sql, (5,))
    assert text == "SELECT '?', ':x', 'it''s ?' FROM t WHERE a = $1"
    assert args == [5]


def test_a_postgresql_cast_is_not_a_parameter():
    text, _ = postgres("SELECT a::text FROM t WHERE b = :b", {"b": 1})
    assert text == "SELECT a::text FROM t WHERE b = $1"


def test_list_parameters_become_typed_arrays():
    text, args = postgres(
        "SELECT 1 WHERE a IN (SELECT value FROM json_each(?)) AND b IN"
        " (SELECT value FROM json_each(?))",
        (Ints([1, 2]), Texts([])),
    )
    assert "unnest($1::bigint[]) AS value" in text
    assert "unnest($2::text[]) AS value" in text
    assert args == [[1, 2], []]


def test_a_list_without_its_type_is_refused():
    with pytest.raises(TypeError, match="Ints"):
        postgres("SELECT value FROM json_each(?)", ([1, 2],))


def test_mixed_parameter_styles_are_refused():
    with pytest.raises(ValueError):
        postgres("SELECT ? , :a", {"a": 1})


def test_group_concat_is_string_agg():
    text, _ = postgres("SELECT group_concat(key, ' ') FROM s", ())
    assert text == "SELECT string_agg(key, ' ') FROM s"


def test_sqlite_gets_lists_as_json_text():
    assert sqlite_params((Texts(["Китай"]), 3)) == ('["Китай"]', 3)
    assert sqlite_params({"ids": Ints([1])}) == {"ids": "[1]"}


def test_rowcount_reads_asyncpg_status_lines():
    assert rowcount("UPDATE 3") == 3
    assert rowcount("INSERT 0 2") == 2
    assert rowcount("CREATE TABLE") == 0


def test_comments_are_left_alone():
    sql = "SELECT a -- why? :not a parameter\nFROM t /* nor ? here */ WHERE b = ?"
    text, args = postgres(sql, (1,))
    assert text == "SELECT a -- why? :not a parameter\nFROM t /* nor ? here */ WHERE b = $1"
    assert args == [1]
