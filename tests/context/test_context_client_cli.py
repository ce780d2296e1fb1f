"""`ContextClient` and `inferloop-tabular context ...` against the real API: typed errors, --json, exit codes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from inferloop import ContextClient
from inferloop.cli.main import app
from inferloop_client import NotFoundError, ServerError, ValidationError
from tests.context.helpers import SHOP
from tests.support import API_KEY

runner = CliRunner()


def run(*args: str, code: int = 0):
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
    return result


@pytest.fixture()
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("INFERLOOP_API_KEY", API_KEY)
    monkeypatch.setenv("INFERLOOP_CONFIG", str(tmp_path / "cfg.json"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_client_errors_are_typed(api_no_prefect):
    with ContextClient(api_key=API_KEY, base_url=api_no_prefect) as ctx:
        a = ctx.analyze("Financial services with customer accounts and transactions")
        assert a["domain"] == "banking"
        with pytest.raises(ValidationError) as e:
            ctx.analyze("")
        assert e.value.code == "VALIDATION_ERROR" and e.value.field == "context" and e.value.status == 400
        with pytest.raises(ValidationError) as e:
            ctx.corpus(SHOP, 100, export_format="sql", export_options={"sql_dialect": "oracle"})
        assert e.value.field == "options.sql_dialect"
        with pytest.raises(NotFoundError):
            ctx.job("no-such-job").refresh()
    assert issubclass(ServerError, Exception)


def test_client_and_cli_round_trip(api, cli_env):
    with ContextClient(api_key=API_KEY, base_url=api) as ctx:
        s = ctx.sample(SHOP, sample_size=3, seed=4)
        assert s["status"] == "completed" and len(s["samples"]["customers"]) == 3
        job = ctx.job(s["job_id"])
        assert job.wait(timeout=60)["stage"] == "sample_generated"
        orders = ctx.download(job.id, "orders")   # exported on demand
        assert isinstance(orders, pd.DataFrame) and len(orders) == 3 and "total_amount" in orders.columns

    cli_env_url = ["--url", api]
    r = run("context", "analyze", "Online store with customers and orders", "--json", *cli_env_url)
    assert json.loads(r.stdout)["domain"] == "retail"
    (cli_env / "ctx.txt").write_text(SHOP)
    r = run("context", "feedback", s["job_id"], "--remove", "customers.phone", "--range",
            "order_items.quantity=2:3", "--add", "customers.vip=BOOLEAN", "--json", *cli_env_url)
    answer = json.loads(r.stdout)
    assert "customers.phone: removed" in answer["summary"] and "customers.vip: added" in answer["summary"]
    assert all(2 <= i["quantity"] <= 3 for i in answer["samples"]["order_items"])
    r = run("context", "status", s["job_id"], *cli_env_url)
    assert "completed (sample_generated) 100.0%" in r.stdout
    r = run("context", "download", s["job_id"], "_all", "--format", "sql", "--sql-dialect", "sqlite", "-o",
            "shop.sql", *cli_env_url)
    assert (cli_env / "shop.sql").read_text().startswith("PRAGMA foreign_keys = ON;")
    run("context", "feedback", s["job_id"], "--remove", "customers.id", *cli_env_url, code=1)  # a key: 400
    run("context", "status", "no-such-job", *cli_env_url, code=4)
