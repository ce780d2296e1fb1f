"""Schemathesis over the OpenAPI schema with a valid key: no request makes the API answer 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from tests.support import API_KEY


@pytest.fixture(scope="session")
def api_schema(api):
    schema = schemathesis.openapi.from_url(f"{api}/openapi.json")
    schema.config.update(base_url=api)  # noqa: not every version accepts base_url in from_url
    return schema


schema = schemathesis.pytest.from_fixture("api_schema").exclude(path="/ready")


@schema.parametrize()
@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, api):
    response = case.call(base_url=api, headers={"X-API-Key": API_KEY}, timeout=120)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: " \
                                       f"{response.text[:500]}"
