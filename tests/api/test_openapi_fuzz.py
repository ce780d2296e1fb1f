"""Schemathesis over the OpenAPI schema with a valid key: no request makes the API answer 5xx.

Schemathesis's pytest plugin does not load under this pytest, so the test drives its Hypothesis
strategies directly: a few generated requests per documented operation, kept short for CI.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.support import API_KEY

SKIP_PATHS = {"/ready"}  # answers 503 by design while a dependency is down
EXAMPLES_PER_OPERATION = 6


def test_no_server_errors(api):
    schema = schemathesis.openapi.from_url(f"{api}/openapi.json")
    failures: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP_PATHS:
            continue
        checked += 1

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case):
            response = case.call(base_url=api, headers={"X-API-Key": API_KEY}, timeout=120)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                f"{response.text[:300]}")

        call()
    assert checked >= 15, checked
    assert not failures, "\n".join(failures)
