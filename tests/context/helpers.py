"""Shared helpers of the context tests: requests, polling, checks of generated tables."""

from __future__ import annotations

import time

import httpx
import polars as pl

from tests.flows.test_batch_flow import child_runs  # noqa: F401  (the batch runs under a parent run)
from tests.support import API_KEY

H = {"X-API-Key": API_KEY}
V1 = "/api/v1"
SHOP = ("Online store with customers, their orders and order lines. The order total is the sum of its lines. "
        "Ship date after order date. Each order has 1 to 4 lines.")


def post(api: str, path: str, body: dict, headers: dict | None = None, timeout: float = 900) -> httpx.Response:
    return httpx.post(f"{api}{V1}{path}", json=body, headers=headers or H, timeout=timeout)


def get(api: str, path: str, headers: dict | None = None, **params) -> httpx.Response:
    return httpx.get(f"{api}{V1}{path}", params=params, headers=headers or H, timeout=300)


def wait_job(api: str, job_id: str, statuses=("completed", "failed"), timeout: float = 600,
             seen: list | None = None, until=None) -> dict:
    """Poll the quick status until it is one of `statuses` (or `until(status)` holds)."""
    end = time.monotonic() + timeout
    while True:
        r = get(api, f"/jobs/{job_id}/status")
        assert r.status_code == 200, r.text
        body = r.json()
        if seen is not None:
            seen.append(body)
        if body["status"] in statuses or (until is not None and until(body)):
            return body
        assert time.monotonic() < end, f"job {job_id} still {body}"
        time.sleep(0.3)


def check_shop_rules(customers: pl.DataFrame, orders: pl.DataFrame, items: pl.DataFrame) -> None:
    """Keys resolve, each order's total is the sum of its lines, lines are quantity x price, ship after order."""
    assert customers["id"].n_unique() == len(customers)
    assert orders["customer_id"].is_in(customers["id"].implode()).all()
    assert items["order_id"].is_in(orders["id"].implode()).all()
    assert ((items["line_total"] - items["quantity"] * items["unit_price"]).abs() < 0.006).all()
    sums = items.group_by("order_id").agg(pl.col("line_total").sum().alias("s"))
    joined = orders.join(sums, left_on="id", right_on="order_id", how="left").with_columns(pl.col("s").fill_null(0))
    assert ((joined["total_amount"] - joined["s"]).abs() < 0.005).all()
    shipped = orders.filter(pl.col("ship_date").is_not_null())
    assert len(shipped) and (shipped["ship_date"].cast(pl.Date) > shipped["order_date"].cast(pl.Date)).all()
