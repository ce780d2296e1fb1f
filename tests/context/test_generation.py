"""Generation from a spec: planned counts, keys across batches, rules on every row, feedback, checks, xlsx split."""

from __future__ import annotations

import pytest
import polars as pl

from inferloop.core.errors import InferloopError
from tasks.context.analyzer import LexiconAnalyzer
from tasks.context.feedback import apply_feedback
from tasks.context.generate import generate_tables, uuid_keys
from tasks.context.plan import plan_corpus, sample_counts
from tasks.context.spec import normalize_spec
from tasks.context.validate import batch_report, corpus_integrity
from tests.context.helpers import SHOP, check_shop_rules


def spec_of(context: str) -> dict:
    return LexiconAnalyzer().analyze(context)["spec"]


def corpus(spec: dict, size: int, batch: int, seed: int = 1) -> tuple[dict, dict[str, list[pl.DataFrame]]]:
    plan = plan_corpus(spec, size, batch, 100_000, 20)
    tables: dict[str, list[pl.DataFrame]] = {}
    for b, (counts, offsets) in enumerate(zip(plan["batches"], plan["offsets"])):
        for name, df in generate_tables(spec, counts, offsets, plan["totals"], seed, b).items():
            tables.setdefault(name, []).append(df)
    return plan, tables


def test_plan_is_exact_and_respects_children_per_parent():
    spec = spec_of(SHOP)
    plan = plan_corpus(spec, 10_001, 1000, 100_000, 20)
    assert sum(plan["totals"].values()) == 10_001 and len(plan["batches"]) == 11
    for counts in plan["batches"]:  # every order has 1 to 4 lines in every batch
        assert counts["orders"] <= counts["order_items"] <= 4 * counts["orders"]
    many = plan_corpus(spec, 10_000, 10, 100_000, 20)
    assert len(many["batches"]) == 20 and "raised" in many["warnings"][0]
    with pytest.raises(InferloopError) as e:
        plan_corpus(spec, 2, None, 100, 20)
    assert e.value.field == "corpus_size"


def test_corpus_batches_keep_keys_and_rules(tmp_path):
    spec = spec_of(SHOP)
    plan, tables = corpus(spec, 6000, 1000)
    full = {n: pl.concat(dfs) for n, dfs in tables.items()}
    assert {n: len(df) for n, df in full.items()} == plan["totals"]
    check_shop_rules(full["customers"], full["orders"], full["order_items"])
    per_order = full["order_items"].group_by("order_id").len()["len"]
    assert per_order.min() >= 1 and per_order.max() <= 4
    for dfs in tables.values():
        for b, df in enumerate(dfs):
            assert batch_report(spec, {n: tables[n][b] for n in tables}, keys=False)["valid"]
    parts = {}
    for name, dfs in tables.items():
        parts[name] = []
        for b, df in enumerate(dfs):
            p = tmp_path / f"{name}-{b}.parquet"
            df.write_parquet(p)
            parts[name].append(str(p))
    report = corpus_integrity(spec, parts)
    assert report["valid"] and {c["check"] for c in report["checks"]} == {"primary_key_unique", "unique",
                                                                           "foreign_key_exists"}
    # a broken key is found across batches
    bad = pl.concat(tables["orders"]).with_columns(pl.lit("nope").alias("customer_id"))
    bad.write_parquet(tmp_path / "bad.parquet")
    assert not corpus_integrity(spec, {**parts, "orders": [str(tmp_path / "bad.parquet")]})["valid"]


def test_lookup_references_cross_batches_and_integer_keys():
    spec = spec_of("Online store with customers, products, orders and order items")
    raw = {**spec, "schemas": [dict(s, fields=[dict(f, type="INTEGER") if f.get("primary_key") else f
                                               for f in s["fields"]]) for s in spec["schemas"]]}
    spec = normalize_spec(raw)
    plan, tables = corpus(spec, 5000, 1000)
    products = pl.concat(tables["products"])
    items = pl.concat(tables["order_items"])
    assert products["id"].to_list() == list(range(1, len(products) + 1))
    assert items["product_id"].dtype == pl.Int64 and items["product_id"].is_in(products["id"].implode()).all()
    assert items["product_id"].n_unique() > 1


def test_rules_hold_for_every_domain():
    for context in ("Financial services with customer accounts and transactions",
                    "Healthcare clinic with patients, doctors, appointments and prescriptions",
                    "HR: departments, employees, leave requests and performance reviews",
                    "Logistics: warehouses, carriers, shipments and tracking events",
                    "Law firm with clients, attorneys, cases and documents",
                    "University with students, instructors, courses and enrollments"):
        spec = spec_of(context)
        _, tables = corpus(spec, 3000, 1000, seed=4)
        for b in range(len(next(iter(tables.values())))):
            report = batch_report(spec, {n: tables[n][b] for n in tables}, keys=False)
            assert report["valid"], (context, [c for c in report["checks"] if c["violations"]])


def test_sample_validation_catches_broken_rows():
    spec = spec_of(SHOP)
    counts = sample_counts(spec, 5)
    frames = generate_tables(spec, counts, {n: 0 for n in counts}, counts, 3)
    assert batch_report(spec, frames)["valid"]
    broken = dict(frames, orders=frames["orders"].with_columns((pl.col("total_amount") + 1).alias("total_amount")))
    report = batch_report(spec, broken)
    assert not report["valid"] and {c["check"] for c in report["checks"] if c["violations"]} == {"sum"}
    orphan = dict(frames, order_items=frames["order_items"].with_columns(pl.lit("x").alias("order_id")))
    assert {c["check"] for c in batch_report(spec, orphan)["checks"] if c["violations"]} >= {"foreign_key_exists"}


def test_same_seed_same_rows_and_uuid_keys_are_valid():
    spec = spec_of(SHOP)
    counts = sample_counts(spec, 4)
    a = generate_tables(spec, counts, {n: 0 for n in counts}, counts, 8)
    b = generate_tables(spec, counts, {n: 0 for n in counts}, counts, 8)
    assert all(a[n].equals(b[n]) for n in a)
    import uuid

    for k in uuid_keys(1, "x", pl.Series(range(50)).to_numpy()).to_list():
        assert uuid.UUID(k).version == 4


def test_feedback_is_checked():
    spec = spec_of(SHOP)
    cases = [
        ([{"schema_name": "nope"}], "schema_feedback[0].schema_name"),
        ([{"schema_name": "orders", "remove_fields": ["id"]}], "schema_feedback[0].remove_fields[0]"),
        ([{"schema_name": "orders", "field_adjustments": {"status": {"colour": 1}}}],
         "schema_feedback[0].field_adjustments.status.colour"),
        ([{"schema_name": "orders", "field_adjustments": {"total_amount": {"min": 5}}}],
         "schema_feedback[0].field_adjustments.total_amount"),
        ([{"schema_name": "order_items", "field_adjustments": {"quantity": {"min": 9, "max": 2}}}],
         "schema_feedback[0].field_adjustments.quantity.min"),
        ([{"schema_name": "orders", "add_fields": [{"name": "status", "type": "NOPE"}]}],
         "schema_feedback[0].add_fields[0].type"),
        ([{"schema_name": "customers", "feedback_type": "reject"}], "schema_feedback"),
        ([{"schema_name": "orders", "feedback_type": "maybe"}], "schema_feedback[0].feedback_type"),
    ]
    for items, field in cases:
        with pytest.raises(InferloopError) as e:
            apply_feedback(spec, items)
        assert e.value.code == "INVALID_REQUEST" and e.value.field == field, (items, e.value)


def test_feedback_on_absent_or_present_fields_is_reported_not_refused():
    """Removing a field the schema lacks removes nothing; adding one it has keeps it and applies what is given."""
    spec = spec_of(SHOP)
    new, changes = apply_feedback(spec, [{"schema_name": "orders", "remove_fields": ["fax"],
                                          "add_fields": [{"name": "status", "required": False}]}])
    assert changes[0]["not_present"] == ["fax"] and changes[0]["already_present"] == ["status"]
    assert not changes[0]["removed"] and not changes[0]["added"]
    orders = next(s for s in new["schemas"] if s["name"] == "orders")
    assert next(f for f in orders["fields"] if f["name"] == "status")["required"] is False
    assert [f["name"] for f in orders["fields"]] == [f["name"] for f in next(
        s for s in spec["schemas"] if s["name"] == "orders")["fields"]]


def test_feedback_removal_drops_dependent_rules_and_reject_removes_schema():
    spec = spec_of(SHOP)
    new, changes = apply_feedback(spec, [{"schema_name": "order_items", "remove_fields": ["line_total"]}])
    orders = next(s for s in new["schemas"] if s["name"] == "orders")
    assert "derived" not in next(f for f in orders["fields"] if f["name"] == "total_amount")
    assert changes[0]["rules_dropped"] == ["orders.total_amount"]
    new, changes = apply_feedback(spec, [{"schema_name": "order_items", "feedback_type": "reject"}])
    assert [s["name"] for s in new["schemas"]] == ["customers", "orders"] and changes[0]["schema_removed"]


def test_xlsx_splits_long_tables_over_sheets(tmp_path, monkeypatch):
    from openpyxl import load_workbook

    from tasks.context import export

    monkeypatch.setattr(export, "XLSX_SHEET_ROWS", 10)
    df = pl.DataFrame({"id": list(range(25)), "note": ["a\x01b"] * 25})
    df.write_parquet(tmp_path / "p.parquet")
    rows, sheets = export._write_xlsx([str(tmp_path / "p.parquet")], str(tmp_path / "x.xlsx"), "notes")
    assert (rows, sheets) == (25, 3)
    wb = load_workbook(tmp_path / "x.xlsx", read_only=True)
    assert wb.sheetnames == ["notes", "notes (2)", "notes (3)"]
    assert [len(list(wb[s].iter_rows())) for s in wb.sheetnames] == [11, 11, 6]   # a header on each
    assert list(wb["notes"].iter_rows(values_only=True))[1] == (0, "ab")
