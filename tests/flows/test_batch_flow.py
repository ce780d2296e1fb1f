"""The `batch` flow called from Python: one `generate` child run per file, a bad file fails alone."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pandas as pd
import pytest

from inferloop.core import storage
from inferloop.core.errors import InferloopError
from tests.tabular_data import customers


def child_runs(parent_id: str) -> list:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    async def read():
        async with get_client() as client:
            return await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[UUID(parent_id)])))
    return asyncio.run(read())


def test_python_batch_call(prefect_platform, tmp_path):
    from flows.tabular.batch import batch

    customers(80, seed=1).to_csv(tmp_path / "first.csv", index=False)
    customers(60, seed=2).to_parquet(tmp_path / "second.parquet", index=False)
    (tmp_path / "broken.parquet").write_bytes(b"this is not parquet")
    files = [{"url": str(tmp_path / "first.csv"), "name": "first"},
             {"url": str(tmp_path / "broken.parquet")},            # named after the file: "broken"
             {"url": str(tmp_path / "second.parquet"), "name": "second"}]
    m = batch(files=files, algorithm="sdv", common_parameters={"num_rows": 30, "seed": 4,
                                                               "sdv_model": "gaussian_copula"})
    assert m["status"] == "partially_failed" and (m["total_files"], m["completed"], m["failed"]) == (3, 2, 1)
    by_name = {f["name"]: f for f in m["files"]}
    assert list(by_name) == ["first", "broken", "second"]
    assert by_name["broken"]["status"] == "failed" and by_name["broken"]["rows"] is None
    assert by_name["broken"]["error"]["code"] == "INVALID_FILE"
    assert "Parquet" in by_name["broken"]["error"]["message"]
    for name in ("first", "second"):
        f = by_name[name]
        assert f["status"] == "completed" and f["rows"] == 30 and 0 <= f["quality_score"] <= 1
        assert len(pd.read_parquet(storage.open_uri(f["output_uri"]))) == 30
    # the children are flow runs of `generate` under the batch run, named after their files
    children = {str(fr.id): fr for fr in child_runs(m["flow_run_id"])}
    assert set(children) == {f["flow_run_id"] for f in m["files"]}
    assert sorted(fr.name for fr in children.values()) == ["broken", "first", "second"]
    assert children[by_name["broken"]["flow_run_id"]].state.type.value == "FAILED"
    assert storage.exists(f"{storage.run_dir(m['flow_run_id'])}/result.json")


@pytest.mark.parametrize("kwargs,field", [
    ({"files": []}, "files"),
    ({"files": [{"url": "/x/a.csv", "name": "a"}, {"url": "/y/a.csv"}]}, "files[1].name"),
    ({"files": [{"name": "no-url"}]}, "files[0].url"),
    ({"output_format": "xml"}, "output_format"),
    ({"common_parameters": {"num_rows": 0}}, "num_rows"),
])
def test_python_batch_rejects_bad_input(prefect_platform, kwargs, field):
    from flows.tabular.batch import batch

    with pytest.raises(InferloopError) as exc:
        batch(**{"files": [{"url": "/x/a.csv"}], **kwargs})
    assert exc.value.code == "INVALID_REQUEST" and exc.value.field == field
