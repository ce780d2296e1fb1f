"""The registry's records in the metadata store (SQLite by default; PostgreSQL in .ci/run's second pass)."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from tests.support import TEST_HOME  # noqa: F401  (sets the test environment first)
from inferloop.core import db, registry
from inferloop.core.errors import InferloopError  # noqa: E402
from inferloop.core.settings import get_settings  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def schema():
    db.migrate()


def _model(**kw) -> db.Model:
    values = dict(id=db.new_id("model"), owner="alice", name="m", algorithm="sdv", model_key="sdv:gaussian_copula",
                  model_type="gaussian_copula", parameters={"sdv_model": "gaussian_copula"}, description="",
                  status="ready", artifact_uri="file:///x/model.pkl",
                  model_metadata={"columns": {"age": {"kind": "numerical"}}})
    values.update(kw)
    with db.session_scope() as s:
        s.add(db.Model(**values))
    return registry.get_model(values["id"], values["owner"])


def test_the_schema_has_the_registry_tables():
    tables = set(inspect(db.engine()).get_table_names())
    assert {"models", "dataset_versions", "constraint_sets", "batches", "jobs"} <= tables
    assert "model_id" in {c["name"] for c in inspect(db.engine()).get_columns("jobs")}
    assert get_settings().database.split(":")[0] in ("sqlite", "postgresql+psycopg")


def test_models_round_trip_json_and_are_owner_scoped():
    m = _model(parameters={"sdv_model": "ctgan", "epochs": 3, "generator_dim": [32, 32]})
    assert m.parameters["generator_dim"] == [32, 32] and m.model_metadata["columns"]["age"]["kind"] == "numerical"
    assert db.as_utc(m.created_at).tzinfo is not None
    with pytest.raises(InferloopError) as err:
        registry.get_model(m.id, "mallory")
    assert err.value.status == 404
    registry.touch(m.id)
    assert registry.get_model(m.id, "alice").last_used is not None


@pytest.mark.parametrize("status", ["training", "failed"])
def test_only_ready_models_generate(status):
    m = _model(status=status, artifact_uri=None)
    with pytest.raises(InferloopError) as err:
        registry.require_ready(m)
    assert err.value.status == 409 and err.value.field == "model_id"
    assert registry.require_ready(_model()) is not None
