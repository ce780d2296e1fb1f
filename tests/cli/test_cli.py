"""The `inferloop-tabular` command line: keys, client config, usage (against the API over HTTP)."""

from __future__ import annotations

import json
import stat

import httpx
from typer.testing import CliRunner

from inferloop.cli.main import app

runner = CliRunner()


def test_keys_create_list_revoke(api_no_prefect):
    r = runner.invoke(app, ["keys", "create", "--account", "cli-acme", "--tier", "professional", "--json"])
    assert r.exit_code == 0, r.output
    created = json.loads(r.output)
    key = created["api_key"]
    assert created["tier"] == "professional" and key.startswith("il_")
    ok = httpx.get(f"{api_no_prefect}/api/tabular/webhooks", headers={"X-API-Key": key})
    assert ok.status_code == 200 and ok.headers["X-RateLimit-Limit"] == "100"
    listed = json.loads(runner.invoke(app, ["keys", "list", "--account", "cli-acme", "--json"]).output)
    assert [k["key_id"] for k in listed] == [created["key_id"]] and key not in json.dumps(listed)
    r = runner.invoke(app, ["keys", "revoke", created["key_id"]])
    assert r.exit_code == 0, r.output
    assert httpx.get(f"{api_no_prefect}/api/tabular/webhooks", headers={"X-API-Key": key}).status_code == 401
    assert runner.invoke(app, ["keys", "revoke", "key-unknown"]).exit_code == 2
    assert runner.invoke(app, ["keys", "create", "--account", "x", "--tier", "gold"]).exit_code == 2


def test_config_set_get_and_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("INFERLOOP_CONFIG", str(tmp_path / "cfg.json"))
    monkeypatch.delenv("INFERLOOP_API_KEY", raising=False)
    assert runner.invoke(app, ["config", "get", "api.key"]).exit_code == 1
    assert runner.invoke(app, ["config", "set", "api.key", "il_from_file"]).exit_code == 0
    assert stat.S_IMODE((tmp_path / "cfg.json").stat().st_mode) == 0o600
    assert runner.invoke(app, ["config", "get", "api.key"]).output.strip() == "il_from_file"
    monkeypatch.setenv("INFERLOOP_API_KEY", "il_from_env")
    assert runner.invoke(app, ["config", "get", "api.key"]).output.strip() == "il_from_env"
    assert runner.invoke(app, ["config", "set", "api.nope", "x"]).exit_code == 2


def test_usage_command_reads_key_from_config(api_no_prefect, tmp_path, monkeypatch):
    from tests.support import API_KEY

    monkeypatch.setenv("INFERLOOP_CONFIG", str(tmp_path / "cfg.json"))
    monkeypatch.delenv("INFERLOOP_API_KEY", raising=False)
    runner.invoke(app, ["config", "set", "api.key", API_KEY])
    runner.invoke(app, ["config", "set", "api.url", api_no_prefect])
    r = runner.invoke(app, ["usage", "--period", "24h", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["period"] == "24h"
    monkeypatch.setenv("INFERLOOP_API_KEY", "il_wrong")
    r = runner.invoke(app, ["usage"])
    assert r.exit_code == 3 and "UNAUTHORIZED" in r.output  # 3: authentication (inferloop/cli/common.py)
