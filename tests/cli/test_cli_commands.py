"""`inferloop-tabular` API commands (generate, profile, validate, models, jobs, download, usage) against the real
API: --json output for scripts and the documented exit codes."""

from __future__ import annotations

import json
import uuid

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from inferloop.cli.main import app
from tests.support import API_KEY, free_port
from tests.tabular_data import customers

runner = CliRunner()
FAST = ["-p", "sdv_model=gaussian_copula"]


@pytest.fixture()
def cli_env(api, tmp_path, monkeypatch):
    """The CLI pointed at the test API by the environment, working in a temp folder."""
    monkeypatch.setenv("INFERLOOP_API_URL", api)
    monkeypatch.setenv("INFERLOOP_API_KEY", API_KEY)
    monkeypatch.setenv("INFERLOOP_CONFIG", str(tmp_path / "cfg.json"))
    monkeypatch.chdir(tmp_path)
    customers(120).to_csv(tmp_path / "data.csv", index=False)
    return tmp_path


def run(*args: str, code: int = 0):
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
    return result


def as_json(result) -> dict | list:
    return json.loads(result.stdout)


def test_generate_to_a_file_with_json_output(cli_env):
    out = as_json(run("generate", "data.csv", "-n", "40", "--seed", "3", *FAST, "--json"))
    assert out["generation_id"].startswith("job-") and out["output"] == "synthetic_data.csv"
    assert len(pd.read_csv(cli_env / "synthetic_data.csv")) == 40 == out["generated_rows"]
    (cli_env / "params.yaml").write_text("sdv_model: gaussian_copula\n")
    text = run("generate", "data.csv", "-n", "20", "--config", "params.yaml", "-o", "s.parquet").stdout
    assert "wrote 20 rows to s.parquet" in text and len(pd.read_parquet(cli_env / "s.parquet")) == 20
    again = as_json(run("download", out["generation_id"], "-o", "again.json", "--json"))
    assert len(pd.read_json(cli_env / "again.json")) == 40 and again["bytes"] > 0


def test_async_generation_and_jobs_commands(cli_env):
    started = as_json(run("generate", "data.csv", "-n", "15", *FAST, "--async", "--json"))
    job_id = started["job_id"]
    watched = as_json(run("jobs", "watch", job_id, "--json"))
    assert watched["status"] == "completed" and watched["result"]["rows"] == 15
    assert as_json(run("jobs", "status", job_id, "--json"))["status"] == "completed"
    assert "completed" in run("jobs", "status", job_id).stdout
    logs = as_json(run("jobs", "logs", job_id, "--json"))
    assert logs and {"timestamp", "level", "message"} <= set(logs[0])
    assert run("jobs", "logs", job_id, "--follow").stdout.strip()
    cancel = run("jobs", "cancel", job_id, "--json", code=1)   # already completed: 409 CONFLICT
    assert as_json(cancel)["error"]["code"] == "CONFLICT" and "already completed" in cancel.stderr
    listed = as_json(run("jobs", "list", "--kind", "generate", "--status", "completed", "--json"))
    assert job_id in [j["job_id"] for j in listed["jobs"]] and listed["pagination"]["total"] >= 1
    assert job_id in run("jobs", "list").stdout
    assert as_json(run("jobs", "list", "--status", "done", "--json", code=1))["error"]["field"] == "status"


def test_a_cancelled_job_exits_7(cli_env):
    job_id = as_json(run("generate", "data.csv", "-p", "sdv_model=ctgan", "-p", "epochs=3000", "-p", "batch_size=100",
                         "--async", "--json"))["job_id"]
    assert as_json(run("jobs", "cancel", job_id, "--json"))["status"] in ("cancelled", "cancelling")
    result = run("jobs", "watch", job_id, "--timeout", "120", code=7)
    assert "CANCELLED" in result.stderr


def test_profile_and_validate(cli_env):
    profile = as_json(run("profile", "data.csv", "--json"))
    assert profile["summary"]["rows"] == 120 and "age" in profile["columns"]
    assert "distribution" in run("profile", "data.csv").stdout
    customers(120, seed=9).to_csv(cli_env / "other.csv", index=False)
    scores = as_json(run("validate", "data.csv", "other.csv", "--metrics", "statistical", "--json"))
    assert 0 <= scores["overall_score"] <= 1
    assert run("profile", "missing.csv", code=2).exit_code == 2


def test_models_commands(cli_env):
    model = as_json(run("models", "create", "data.csv", "--name", "cli-model", *FAST, "--seed", "2", "--json"))
    model_id = model["model_id"]
    assert model["status"] == "ready" and model["name"] == "cli-model"
    assert model_id in [m["model_id"] for m in as_json(run("models", "list", "--json"))]
    assert "cli-model" in run("models", "list").stdout
    assert as_json(run("models", "get", model_id, "--json"))["algorithm"] == "sdv"
    out = as_json(run("models", "generate", model_id, "-n", "25", "-c", "segment=gold", "-o", "gold.csv", "--json"))
    gold = pd.read_csv(cli_env / out["output"])
    assert len(gold) == 25 and (gold["segment"] == "gold").all()
    assert as_json(run("models", "delete", model_id, "--json"))["ok"] is True
    gone = run("models", "get", model_id, "--json", code=4)
    assert as_json(gone)["error"]["code"] == "NOT_FOUND" and model_id in gone.stderr


def test_exit_codes_for_auth_input_rate_limit_and_network(cli_env, api):
    bad = run("usage", "--api-key", "il_nope", code=3)
    assert "UNAUTHORIZED: Invalid API key" in bad.stderr
    wrong = run("generate", "data.csv", "-a", "nope", code=1)
    assert "algorithm" in wrong.stderr
    run("generate", "nothing.csv", code=2)
    run("generate", "data.csv", "--rows", "many", code=2)   # typer's own usage error
    run("jobs", "status", "job-nope", code=4)
    r = httpx.post(f"{api}/api/tabular/admin/keys", json={"account": f"cli-{uuid.uuid4().hex[:8]}",
                                                          "tier": "starter"}, headers={"X-API-Key": API_KEY})
    starter = r.json()["api_key"]
    for _ in range(10):
        run("usage", "--api-key", starter)
    limited = run("usage", "--api-key", starter, "--json", code=5)
    assert as_json(limited)["error"]["code"] == "RATE_LIMITED"
    run("usage", "--url", f"http://127.0.0.1:{free_port()}", code=6)
