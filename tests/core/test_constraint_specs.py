"""tasks.tabular.constraint_specs: the documented constraint set, strict expressions, files and sum ordering."""

from __future__ import annotations

import pytest

from tasks.tabular.constraint_specs import (check_columns_exist, constraint_columns, derived_columns,
                                            describe, load_constraint_file, parse_constraints,
                                            parse_expression, transform_order)
from inferloop.core.errors import InferloopError

DOCUMENTED = {
    "name": "business_rules",
    "constraints": [
        {"type": "range", "column": "age", "min": 0, "max": 120},
        {"type": "relationship", "expression": "end_date >= start_date"},
        {"type": "unique", "columns": ["customer_id"]},
        {"type": "sum", "columns": ["q1", "q2", "q3", "q4"], "total": "annual_total"},
    ],
}


def error_of(call, *args) -> InferloopError:
    with pytest.raises(InferloopError) as info:
        call(*args)
    return info.value


def test_documented_body_is_normalised():
    assert parse_constraints(DOCUMENTED) == [
        {"type": "range", "column": "age", "min": 0, "max": 120},
        {"type": "relationship", "expression": "end_date >= start_date", "left": "end_date", "op": ">=",
         "right": "start_date"},
        {"type": "unique", "columns": ["customer_id"]},
        {"type": "sum", "columns": ["q1", "q2", "q3", "q4"], "total": "annual_total"},
    ]


def test_parsing_is_idempotent_and_takes_a_bare_list():
    specs = parse_constraints(DOCUMENTED)
    assert parse_constraints(specs) == specs
    assert parse_constraints(DOCUMENTED["constraints"]) == specs
    assert parse_constraints([]) == [] and parse_constraints(None) == []


@pytest.mark.parametrize("expression,normalised", [
    ("end_date >= start_date", {"left": "end_date", "op": ">=", "right": "start_date"}),
    ("a == b", {"left": "a", "op": "==", "right": "b"}),
    ("a = b", {"left": "a", "op": "==", "right": "b"}),
    ("a <> b", {"left": "a", "op": "!=", "right": "b"}),
    ("age >= 18", {"left": "age", "op": ">=", "value": 18}),
    ("18 <= age", {"left": "age", "op": ">=", "value": 18}),
    ("100 > score", {"left": "score", "op": "<", "value": 100}),
    ("delta > -3.5", {"left": "delta", "op": ">", "value": -3.5}),
    ("status != 'closed'", {"left": "status", "op": "!=", "value": "closed"}),
    ("start_date >= '2020-01-01'", {"left": "start_date", "op": ">=", "value": "2020-01-01"}),
    ("active = TRUE", {"left": "active", "op": "==", "value": True}),
    ('"end date" > "start date"', {"left": "end date", "op": ">", "right": "start date"}),
])
def test_simple_comparisons(expression, normalised):
    spec = parse_expression(expression)
    assert {k: v for k, v in spec.items() if k not in ("type", "expression")} == normalised
    assert parse_expression(spec["expression"]) == spec  # the canonical text reads back the same


@pytest.mark.parametrize("expression,reason", [
    ("__import__('os')", "function call"),
    ("exec('x')", "function call"),
    ("a >= b; drop", "more than one statement"),
    ("a >= b; DROP TABLE x", "more than one statement"),
    ("a + 1 > b", "not a column name or a constant"),
    ("a > b AND b > c", "boolean logic"),
    ("NOT a > b", "boolean logic"),
    ("a > (SELECT 1)", "not a column name or a constant"),
    ("a > lower(b)", "not a column name or a constant"),
    ("t.a > b", "not a column name or a constant"),
    ("a > NULL", "not a column name or a constant"),
    ("a > b > c", "not a column name or a constant"),
    ("1 > 2", "two constants"),
    ("a > a", "itself"),
    ("a >= b -- comment", "comments"),
    ("a", "bare column"),
    ("a >= `b`", "does not parse"),
    ("", "comparison such as"),
])
def test_anything_but_one_simple_comparison_is_rejected(expression, reason):
    err = error_of(parse_constraints, [{"type": "relationship", "expression": expression}])
    assert (err.code, err.field, err.status) == ("INVALID_REQUEST", "constraints[0].expression", 400)
    assert reason in err.message


@pytest.mark.parametrize("item,field", [
    ({"type": "foreign_key", "column": "a"}, "constraints[1].type"),
    ({"column": "a"}, "constraints[1].type"),
    ("range", "constraints[1]"),
    ({"type": "range", "min": 0}, "constraints[1].column"),
    ({"type": "range", "column": "", "min": 0}, "constraints[1].column"),
    ({"type": "range", "column": "a"}, "constraints[1].min"),
    ({"type": "range", "column": "a", "min": "0"}, "constraints[1].min"),
    ({"type": "range", "column": "a", "max": True}, "constraints[1].max"),
    ({"type": "range", "column": "a", "min": 5, "max": 1}, "constraints[1].min"),
    ({"type": "range", "column": "a", "min": 0, "maximum": 3}, "constraints[1].maximum"),
    ({"type": "relationship"}, "constraints[1].expression"),
    ({"type": "relationship", "expression": 3}, "constraints[1].expression"),
    ({"type": "relationship", "left": "a", "op": "=~", "right": "b"}, "constraints[1].op"),
    ({"type": "unique"}, "constraints[1].columns"),
    ({"type": "unique", "columns": []}, "constraints[1].columns"),
    ({"type": "unique", "columns": "a"}, "constraints[1].columns"),
    ({"type": "unique", "columns": ["a", 3]}, "constraints[1].columns[1]"),
    ({"type": "unique", "columns": ["a", "a"]}, "constraints[1].columns"),
    ({"type": "sum", "columns": ["q1"]}, "constraints[1].total"),
    ({"type": "sum", "total": "t"}, "constraints[1].columns"),
    ({"type": "sum", "columns": ["q1", "t"], "total": "t"}, "constraints[1].total"),
])
def test_bad_constraints_name_the_field(item, field):
    err = error_of(parse_constraints, [{"type": "unique", "columns": ["id"]}, item])
    assert (err.code, err.field) == ("INVALID_REQUEST", field)


def test_one_sided_ranges():
    assert parse_constraints([{"type": "range", "column": "a", "min": 0}])[0] == {
        "type": "range", "column": "a", "min": 0, "max": None}
    assert describe(parse_constraints([{"type": "range", "column": "a", "max": 9}])[0]) == "range a <= 9"


def test_not_a_list():
    assert error_of(parse_constraints, {"name": "x"}).field == "constraints"
    assert error_of(parse_constraints, {"constraints": "range"}).field == "constraints"


def test_sums_are_ordered_so_that_each_total_is_dropped_before_it_is_summed():
    specs = parse_constraints([
        {"type": "sum", "columns": ["q1", "q2"], "total": "h1"},
        {"type": "unique", "columns": ["id"]},
        {"type": "sum", "columns": ["h1", "h2"], "total": "year"},
    ])
    assert transform_order(specs) == [1, 2, 0]
    assert derived_columns(specs) == {"h1", "year"}
    assert constraint_columns(specs[2]) == ["h1", "h2", "year"]


def test_sums_that_cannot_chain_are_rejected():
    twice = [{"type": "sum", "columns": ["a"], "total": "t"}, {"type": "sum", "columns": ["b"], "total": "t"}]
    assert error_of(parse_constraints, twice).field == "constraints[1].total"
    cycle = [{"type": "sum", "columns": ["a", "x"], "total": "b"}, {"type": "sum", "columns": ["b", "y"], "total": "a"}]
    assert "cycle" in error_of(parse_constraints, cycle).message


def test_files():
    assert load_constraint_file(b'{"name": "x", "constraints": [{"type": "unique", "columns": ["a"]}]}') == [
        {"type": "unique", "columns": ["a"]}]
    assert load_constraint_file('[{"type": "unique", "columns": ["a"]}]') == [{"type": "unique", "columns": ["a"]}]
    for raw in (b"{not json", b"", b"\xff\xfe", b'"a string"', b"42"):
        err = error_of(load_constraint_file, raw)
        assert (err.code, err.field) == ("INVALID_FILE", "constraints")
    assert error_of(load_constraint_file, b'[{"type": "nope"}]').code == "INVALID_REQUEST"


def test_columns_must_exist():
    specs = parse_constraints(DOCUMENTED)
    check_columns_exist(specs, ["age", "end_date", "start_date", "customer_id", "q1", "q2", "q3", "q4",
                                "annual_total"])
    err = error_of(check_columns_exist, specs, ["age", "start_date"])
    assert (err.code, err.field) == ("CONSTRAINT_VIOLATION", "constraints[1]") and "end_date" in err.message
