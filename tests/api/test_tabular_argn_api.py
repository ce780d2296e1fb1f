"""`tabular_argn` through the API: an async job with differential privacy, and bad parameters -> 400."""

from __future__ import annotations

import io
import json
import math

import httpx
import pandas as pd
import pytest

from tests.api.jobs_helpers import H, submit, upload, wait_for
from tests.tabular_data import customers

FAST = {"max_epochs": 2, "model_size": "S", "batch_size": 32}


def test_async_job_with_differential_privacy_reports_epsilon(api):
    up = upload(api, 200)
    dp = {"max_epsilon": 50, "noise_multiplier": 1.2, "delta": 1e-5}
    r = submit(api, up["data_url"], algorithm="tabular_argn", num_rows=60, seed=4,
               parameters={**FAST, "differential_privacy": dp})
    assert r.status_code == 202, r.text
    done = wait_for(api, r.json()["job_id"], {"completed", "failed"})
    assert done["status"] == "completed", done
    assert done["algorithm"] == "tabular_argn" and done["result"]["rows"] == 60
    spent = done["result"]["differential_privacy"]
    assert 0 < spent["epsilon"] < math.inf and spent["delta"] == 1e-5 and spent["max_epsilon"] == 50
    csv = httpx.get(f"{api}{done['result']['download_formats']['csv']}", headers=H, timeout=60).content
    out = pd.read_csv(io.BytesIO(csv))
    assert len(out) == 60 and list(out.columns) == list(customers(5).columns)


@pytest.mark.parametrize(("parameters", "field"), [
    ({"max_epochs": -3}, "max_epochs"),
    ({"max_training_time": 0}, "max_training_time"),
    ({"model_size": "XXL"}, "model_size"),
    ({"differential_privacy": {"max_epsilon": 0}}, "differential_privacy.max_epsilon"),
    ({"differential_privacy": {"max_epsilon": -1}}, "differential_privacy.max_epsilon"),
    ({"differential_privacy": {"delta": 2}}, "differential_privacy.delta"),
])
def test_bad_parameters_are_400_with_the_field(api_no_prefect, parameters, field):
    r = submit(api_no_prefect, "upload://never-read", algorithm="tabular_argn", parameters=parameters)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert (err["code"], err["field"]) == ("INVALID_REQUEST", field) and field in err["message"]


def test_bad_parameters_in_the_sync_form_and_config_are_400(api_no_prefect):
    files = {"file": ("data.csv", customers(20).to_csv(index=False).encode())}
    r = httpx.post(f"{api_no_prefect}/api/tabular/generate", headers=H, timeout=60, files=files,
                   data={"algorithm": "tabular_argn", "epochs": "-1"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "epochs", r.text
    config = json.dumps({"parameters": {"max_training_time": 0}}).encode()
    r = httpx.post(f"{api_no_prefect}/api/tabular/generate", headers=H, timeout=60,
                   files={**files, "config": ("config.json", config)}, data={"algorithm": "tabular_argn"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "max_training_time", r.text
