"""The API documents' own client code, run unmodified against our server.

The examples are read out of ../shared/spec at run time; only their base URL and API key are replaced
(tests/spec_examples.localize), and the files they name are made here in a temp working folder. Everything runs
under a fresh account (business tier) so that the documents' fixed ids cannot collide with other tests' data.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import time
import uuid

import httpx
import pandas as pd
import pytest
from sqlalchemy import update

from inferloop import TabularClient
from inferloop.core import db
from tests.spec_examples import (SYNTHGEN_PATH, bash_commands, localize, python_blocks, section, spec_code_block,
                                 spec_or_skip, synthgen_workflow)
from tests.support import API_KEY
from tests.tabular_data import customers

DATASET_VERSION = "f6a7b8c9-d0e1-2345-6789-0abcdef12345"  # the Full Workflow Example trains on this version
STREAM_MODEL = "model-123"                                 # the cURL stream example streams from this model
CURL_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}     # `curl` in the examples is /usr/bin/curl


@pytest.fixture(scope="module")
def doc() -> str:
    return spec_or_skip()


@pytest.fixture(scope="module")
def key(api) -> str:
    r = httpx.post(f"{api}/api/tabular/admin/keys", json={"account": f"spec-examples-{uuid.uuid4().hex[:8]}",
                                                          "tier": "business", "name": "document examples"},
                   headers={"X-API-Key": API_KEY})
    assert r.status_code == 201, r.text
    return r.json()["api_key"]


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_program(code: str, name: str) -> tuple[dict, str]:
    """Exec a document's program as written; returns its globals and what it printed."""
    namespace: dict = {"__name__": "__main__"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, f"<{name}>", "exec"), namespace)
    return namespace, out.getvalue()


def curl(command: str, key: str, cwd) -> dict:
    """Run one of the document's curl commands with $API_KEY set; its JSON answer."""
    done = subprocess.run(["bash", "-c", command], env={**CURL_ENV, "API_KEY": key}, cwd=cwd, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert "error" not in body, body
    return body


# --- tabular-api.md: "Python Example" (the TabularAPI class and its usage) ---------------------------------

def test_python_example_tabular_api_class(api, key, doc, workdir):
    code = localize(spec_code_block(section(doc, "Python Example"), "TabularAPI"), api, key)
    customers(100).to_csv("customers.csv", index=False)
    # the example validates against synthetic_customers.csv, which it does not write itself: made here by the API
    with TabularClient(api_key=key, base_url=api) as client:
        client.generate("customers.csv", num_rows=100, seed=1, output="synthetic_customers.csv",
                        sdv_model="gaussian_copula")
    namespace, printed = run_program(code, "tabular-api.md: Python Example")
    synthetic = namespace["synthetic_df"]
    assert isinstance(synthetic, pd.DataFrame) and len(synthetic) == 5000
    assert list(synthetic.columns) == list(customers(1).columns)
    assert printed.startswith("Quality score: 0.") and 0 < namespace["validation"]["overall_score"] <= 1


# --- tabular-api.md: "API Client Libraries" (the Python client) -------------------------------------------

def test_client_library_snippet(api, key, doc, workdir, monkeypatch):
    [code] = python_blocks(section(doc, "API Client Libraries"))
    monkeypatch.setenv("INFERLOOP_API_URL", api)   # the snippet names no URL: the client's setting applies
    customers(100).to_csv("data.csv", index=False)
    namespace, _ = run_program(localize(code, api, key), "tabular-api.md: API Client Libraries")
    result = namespace["result"]
    assert isinstance(result, pd.DataFrame) and len(result) == 1000
    assert result.attrs["inferloop"]["algorithm"] == "ctgan"


# --- tabular-api.md: "cURL Examples" ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def stream_model(api, key):
    """A model trained through the API, then re-keyed to the id the stream example names (model-123)."""
    with TabularClient(api_key=key, base_url=api) as client:
        model = client.models.create(customers(120), "doc stream model", parameters={"sdv_model": "gaussian_copula"},
                                     wait=True, timeout=300)
    assert model["status"] == "ready", model
    with db.session_scope() as s:
        taken = s.get(db.Model, STREAM_MODEL)
        if taken is not None:
            pytest.fail(f"{STREAM_MODEL} already exists in the test database (owner {taken.owner}); "
                        "the stream example needs that id for this test's account")
        s.execute(update(db.Model).where(db.Model.id == model["model_id"]).values(id=STREAM_MODEL))
        s.execute(update(db.Job).where(db.Job.model_id == model["model_id"]).values(model_id=STREAM_MODEL))
    return STREAM_MODEL


def write_curl_files(folder) -> None:
    """The files the cURL examples upload."""
    base = customers(100)
    base.to_csv(folder / "customers.csv", index=False)
    customers(200).query("25 <= age <= 70").to_csv(folder / "data.csv", index=False)  # meets constraints.json
    customers(300, seed=11).to_csv(folder / "large_dataset.csv", index=False)
    base.to_csv(folder / "original.csv", index=False)
    customers(100, seed=12).to_csv(folder / "synthetic.csv", index=False)
    (folder / "constraints.json").write_text(json.dumps({"name": "rules", "constraints": [
        {"type": "range", "column": "age", "min": 25, "max": 70}]}))
    (folder / "config.yaml").write_text("batch_size: 50\n")   # one 50-row step per epoch on this small table


def test_curl_examples(api, key, doc, workdir, stream_model):
    commands = dict(bash_commands(localize(section(doc, "cURL Examples"), api, key)))
    assert list(commands) == ["Basic generation", "Advanced generation with constraints", "Profile data",
                              "Validate synthetic data", "Stream synthetic data"]
    write_curl_files(workdir)

    basic = curl(commands["Basic generation"], key, workdir)
    assert basic["status"] == "completed" and basic["metadata"]["generated_rows"] == 1000

    advanced = curl(commands["Advanced generation with constraints"], key, workdir)
    assert advanced["algorithm"] == "ctgan" and advanced["metadata"]["generated_rows"] == len(pd.read_csv("data.csv"))
    rows = pd.read_csv(io.BytesIO(httpx.get(f"{api}{advanced['download_formats']['csv']}",
                                            headers={"X-API-Key": key}, timeout=60).content))
    assert rows["age"].between(25, 70).all()

    profile = curl(commands["Profile data"], key, workdir)
    assert profile["summary"]["rows"] == 300   # sample_size=10000 is more than the file has

    validation = curl(commands["Validate synthetic data"], key, workdir)
    assert set(validation["metrics"]) == {"statistical_similarity", "privacy"}

    events = stream_events(commands["Stream synthetic data"], key, workdir, records=20)
    records = [json.loads(data) for event, data in events if event == "record"]
    assert len(records) == 20 and set(records[0]) == set(customers(1).columns)


def stream_events(command: str, key: str, cwd, records: int) -> list[tuple[str, str]]:
    """Run the streaming curl command and read its Server-Sent Events until `records` records came, then stop it
    (the stream itself would go on for the server's maximum duration)."""
    proc = subprocess.Popen(["bash", "-c", f"exec {command}"], env={**CURL_ENV, "API_KEY": key}, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    events, name, data, deadline = [], None, [], time.monotonic() + 120
    try:
        for line in proc.stdout:
            line = line.rstrip("\n")
            if line == "" and name:
                events.append((name, "\n".join(data)))
                name, data = None, []
                if sum(e == "record" for e, _ in events) >= records or time.monotonic() > deadline:
                    break
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return events


# --- synthgen-api.md: "Full Workflow Example" -------------------------------------------------------------

def test_synthgen_full_workflow(api, key, workdir):
    code = localize(synthgen_workflow(spec_or_skip(SYNTHGEN_PATH)), api, key)
    me = {"X-API-Key": key}
    upload = httpx.post(f"{api}/api/tabular/uploads", files={"file": ("transactions.csv",
                                                                      customers(100).to_csv(index=False))},
                        headers=me, timeout=60)
    assert upload.status_code == 201, upload.text
    version = httpx.post(f"{api}/api/synthgen/dataset-versions", headers=me, timeout=60, json={
        "id": DATASET_VERSION, "data_url": upload.json()["data_url"], "name": "Transactions Q4",
        "project_id": "d4e5f6a7-b8c9-0123-def4-567890123456"})
    assert version.status_code == 201, version.text

    namespace, printed = run_program(code, "synthgen-api.md: Full Workflow Example")
    assert printed.strip() == "Generated 10000 synthetic rows."
    model = httpx.get(f"{api}/api/synthgen/models/{namespace['model_id']}", headers=me, timeout=60).json()["model"]
    assert model["status"] == "ready" and model["model_type"] == "ctgan" and model["config"]["epochs"] == 300
    synthetic = pd.read_csv("synthetic_transactions.csv")
    assert len(synthetic) == 10000 and list(synthetic.columns) == list(customers(1).columns)
    assert os.path.getsize("synthetic_transactions.csv") > 0
