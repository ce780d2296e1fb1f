"""Constraint sets over HTTP (create, read, list, owner scoping, strict validation) and generation with a
constraints file, a stored set and inline constraints: every downloaded row meets every constraint."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pandas as pd
import pytest

from inferloop.core import db
from tests.api.jobs_helpers import submit, upload, wait_for
from tests.support import API_KEY, OTHER_KEY
from tests.tabular_data import customers

H = {"X-API-Key": API_KEY}
OTHER = {"X-API-Key": OTHER_KEY}
RULES = {"name": "customer_rules", "constraints": [
    {"type": "range", "column": "age", "min": 18, "max": 89},
    {"type": "relationship", "expression": "age >= 21"},
    {"type": "relationship", "expression": "segment != 'platinum'"},
    {"type": "unique", "columns": ["income"]},
    {"type": "sum", "columns": ["age", "visits"], "total": "age_plus_visits"},
]}


def table(n: int = 200) -> pd.DataFrame:
    """customers() with every row meeting RULES: adults >= 21, distinct incomes and a derived total."""
    df = customers(n)
    df["age"] = np.maximum(df["age"], 21)
    df["income"] = df["income"].fillna(50_000) + np.arange(n) / 100
    df["visits"] = np.arange(n) % 9
    df["age_plus_visits"] = df["age"] + df["visits"]
    return df


def csv_bytes(df: pd.DataFrame | None = None) -> bytes:
    return (table() if df is None else df).to_csv(index=False).encode()


def expect_all_hold(df: pd.DataFrame) -> None:
    """RULES, checked with plain pandas on the downloaded rows."""
    assert len(df) > 0
    assert df["age"].between(21, 89).all()
    assert (df["segment"] != "platinum").all()
    assert df["income"].is_unique
    assert (df["age"] + df["visits"] == df["age_plus_visits"]).all()


def create(api: str, body: dict, headers: dict = H) -> httpx.Response:
    return httpx.post(f"{api}/api/tabular/constraints", json=body, headers=headers, timeout=30)


def generate(api: str, data: dict, files: dict | None = None, csv: bytes | None = None) -> httpx.Response:
    files = {"file": ("customers.csv", csv or csv_bytes()), **(files or {})}
    return httpx.post(f"{api}/api/tabular/generate", files=files, data=data, headers=H, timeout=600)


def downloaded(api: str, gen_id: str) -> pd.DataFrame:
    r = httpx.get(f"{api}/api/tabular/download/{gen_id}", params={"format": "csv"}, headers=H, timeout=120)
    assert r.status_code == 200, r.text
    return pd.read_csv(io.BytesIO(r.content))


def assert_error(r: httpx.Response, status: int, code: str, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert (err["code"], err.get("field")) == (code, field) if field else err["code"] == code, err
    assert err["message"] and err["request_id"]
    return err


# ---------------------------------------------------------------- constraint sets


def test_create_read_and_list_a_set(api_no_prefect):
    r = create(api_no_prefect, RULES)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["constraint_id"].startswith("const-") and body["name"] == "customer_rules"
    assert body["num_constraints"] == 5 and body["validation_status"] == "valid"
    assert body["created_at"].endswith("Z")
    got = httpx.get(f"{api_no_prefect}/api/tabular/constraints/{body['constraint_id']}", headers=H).json()
    assert {k: got[k] for k in body} == body
    assert got["constraints"][1] == {"type": "relationship", "expression": "age >= 21", "left": "age",
                                     "op": ">=", "value": 21}
    listed = httpx.get(f"{api_no_prefect}/api/tabular/constraints", headers=H).json()["constraint_sets"]
    assert body["constraint_id"] in [c["constraint_id"] for c in listed]


def test_sets_are_owner_scoped(api_no_prefect):
    cid = create(api_no_prefect, RULES).json()["constraint_id"]
    assert_error(httpx.get(f"{api_no_prefect}/api/tabular/constraints/{cid}", headers=OTHER), 404, "NOT_FOUND")
    assert_error(httpx.get(f"{api_no_prefect}/api/tabular/constraints/const-nope", headers=H), 404, "NOT_FOUND")
    theirs = httpx.get(f"{api_no_prefect}/api/tabular/constraints", headers=OTHER).json()["constraint_sets"]
    assert cid not in [c["constraint_id"] for c in theirs]
    assert_error(httpx.get(f"{api_no_prefect}/api/tabular/constraints"), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("constraint,field", [
    ({"type": "foreign_key", "column": "a"}, "constraints[0].type"),
    ({"type": "range", "min": 0}, "constraints[0].column"),
    ({"type": "range", "column": "age", "min": 9, "max": 1}, "constraints[0].min"),
    ({"type": "sum", "columns": ["a", "b"]}, "constraints[0].total"),
    ({"type": "unique", "columns": []}, "constraints[0].columns"),
    ({"type": "relationship"}, "constraints[0].expression"),
    ({"type": "relationship", "expression": "__import__('os')"}, "constraints[0].expression"),
    ({"type": "relationship", "expression": "a >= b; drop"}, "constraints[0].expression"),
    ({"type": "relationship", "expression": "a >= b; DROP TABLE constraint_sets"}, "constraints[0].expression"),
    ({"type": "relationship", "expression": "a + b"}, "constraints[0].expression"),
    ({"type": "relationship", "expression": "a > b OR 1 = 1"}, "constraints[0].expression"),
    ({"type": "relationship", "expression": "a > (SELECT max(b) FROM t)"}, "constraints[0].expression"),
])
def test_bad_sets_are_rejected_and_not_stored(api_no_prefect, constraint, field):
    db.migrate()
    with db.session_scope() as s:
        before = s.query(db.ConstraintSet).count()
    assert_error(create(api_no_prefect, {"name": "bad", "constraints": [constraint]}), 400, "INVALID_REQUEST", field)
    with db.session_scope() as s:
        assert s.query(db.ConstraintSet).count() == before


@pytest.mark.parametrize("body,field", [
    ({"name": "empty", "constraints": []}, "constraints"),
    ({"constraints": RULES["constraints"]}, "name"),
    ({"name": "x", "constraints": "range"}, "constraints"),
    ({**RULES, "owner": "someone"}, "owner"),
])
def test_bad_bodies(api_no_prefect, body, field):
    assert_error(create(api_no_prefect, body), 400, "INVALID_REQUEST", field)


# ---------------------------------------------------------------- generation with constraints


def test_generate_with_a_constraints_file(api):
    files = {"constraints": ("rules.json", json.dumps(RULES).encode())}
    r = generate(api, {"algorithm": "sdv", "num_rows": "300", "seed": "3"}, files)
    assert r.status_code == 200, r.text
    df = downloaded(api, r.json()["id"])
    assert len(df) == 300
    expect_all_hold(df)


def test_generate_with_a_stored_set(api):
    cid = create(api, RULES).json()["constraint_id"]
    r = generate(api, {"algorithm": "ctgan", "epochs": "1", "batch_size": "500", "num_rows": "150",
                       "constraint_id": cid})
    assert r.status_code == 200, r.text
    df = downloaded(api, r.json()["id"])
    assert len(df) == 150
    expect_all_hold(df)
    with db.session_scope() as s:
        options = s.get(db.Job, r.json()["id"]).options
    assert options["constraint_id"] == cid and options["num_constraints"] == 5


def test_training_data_that_breaks_a_constraint(api):
    rules = {"constraints": [{"type": "relationship", "expression": "age >= 30"}]}
    r = generate(api, {"algorithm": "sdv"}, {"constraints": ("rules.json", json.dumps(rules).encode())})
    err = assert_error(r, 400, "CONSTRAINT_VIOLATION", "constraints[0]")
    expected = int((table()["age"] < 30).sum())
    assert f"violated by {expected} of 200 training rows" in err["message"] and "age >= 30" in err["message"]


def test_generate_async_with_inline_constraints(api):
    data_url = f"upload://{upload(api, content=csv_bytes())['upload_id']}"
    r = submit(api, data_url, algorithm="sdv", num_rows=120, seed=1, constraints=RULES["constraints"])
    assert r.status_code == 202, r.text
    job = wait_for(api, r.json()["job_id"], {"completed", "failed"})
    assert job["status"] == "completed", job
    expect_all_hold(downloaded(api, r.json()["job_id"]))


@pytest.mark.parametrize("files,data,code,field,status", [
    ({"constraints": ("c.json", b"{not json")}, {}, "INVALID_FILE", "constraints", 400),
    ({"constraints": ("c.json", b'[{"type": "relationship", "expression": "exec(1)"}]')}, {},
     "INVALID_REQUEST", "constraints[0].expression", 400),
    ({"constraints": ("c.json", b'[{"type": "range", "column": "salary", "min": 0}]')}, {},
     "CONSTRAINT_VIOLATION", "constraints[0]", 400),
    ({"constraints": ("c.json", b'[{"type": "range", "column": "age", "min": 0}]')},
     {"constraint_id": "const-x"}, "INVALID_REQUEST", "constraints", 400),
    ({}, {"constraint_id": "const-unknown"}, "NOT_FOUND", None, 404),
])
def test_bad_constraints_stop_generate_before_anything_starts(api_no_prefect, files, data, code, field, status):
    with db.session_scope() as s:
        before = s.query(db.Job).count()
    assert_error(generate(api_no_prefect, data, files), status, code, field)
    with db.session_scope() as s:
        assert s.query(db.Job).count() == before


def test_another_owners_set_cannot_be_used(api_no_prefect):
    cid = create(api_no_prefect, RULES, headers=OTHER).json()["constraint_id"]
    assert_error(generate(api_no_prefect, {"constraint_id": cid}), 404, "NOT_FOUND")


def test_async_rejects_bad_inline_constraints(api_no_prefect):
    r = submit(api_no_prefect, "upload://nope", constraints=[{"type": "unique"}])
    assert_error(r, 400, "INVALID_REQUEST", "constraints[0].columns")
    r = submit(api_no_prefect, "upload://nope", constraints=[], constraint_id="const-x")
    assert_error(r, 400, "INVALID_REQUEST", "constraints")
