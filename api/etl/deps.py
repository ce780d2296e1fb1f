"""What every ETL endpoint shares: the caller (JWT or API key, one platform auth), the per-plan rate limit with
its X-RateLimit-* headers, and etl-api.md's pagination (page/per_page, X-Total-Count, X-Page, X-Per-Page, Link).

Plans (etl-api.md "Rate Limiting"): Free 100 requests/hour, burst 10; Pro 1,000/hour, burst 100; Enterprise
10,000/hour, burst 1,000. The platform's tiers map onto them: starter -> Free, professional and business ->
Pro, enterprise -> Enterprise. Burst is the most requests in any one minute. Counters live in the platform's
limiter storage (`inferloop.core.ratelimit.limiter_for`: the metadata DB, or INFERLOOP_RATE_LIMIT_STORAGE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import limits
from fastapi import Depends, Query, Request, Response

from api.deps import auth_chain
from inferloop.core.auth import Principal
from inferloop.core.ratelimit import NAMESPACE, RateState, item_state, limiter_for, rate_limited
from inferloop.core.settings import Settings


@dataclass(frozen=True)
class Plan:
    name: str
    per_hour: int
    burst: int


PLANS = {"free": Plan("free", 100, 10), "pro": Plan("pro", 1_000, 100), "enterprise": Plan("enterprise", 10_000, 1_000)}
PLAN_OF_TIER = {"starter": "free", "professional": "pro", "business": "pro", "enterprise": "enterprise"}


def plan_for(principal: Principal) -> Plan:
    return PLANS[PLAN_OF_TIER.get(principal.tier, "free")]


def count_request(request: Request, principal: Principal, settings: Settings) -> RateState:
    """The ETL counter: one request against the caller's hourly and per-minute (burst) windows; 429 over either."""
    plan = plan_for(principal)
    limiter = limiter_for(settings)
    hourly = limits.RateLimitItemPerHour(plan.per_hour, namespace=NAMESPACE)
    burst = limits.RateLimitItemPerMinute(plan.burst, namespace=NAMESPACE)
    ok_burst = limiter.hit(burst, "etl-burst", principal.owner)
    ok_hour = ok_burst and limiter.hit(hourly, "etl-requests", principal.owner)
    state = item_state(limiter, hourly, "etl-requests", principal.owner)
    if not ok_hour:
        which = (f"{plan.burst} requests per minute (burst)" if not ok_burst else f"{plan.per_hour} requests per hour")
        wait = item_state(limiter, burst, "etl-burst", principal.owner).reset_after if not ok_burst else state.reset_after
        raise rate_limited(f"Rate limit exceeded: {which} on the {plan.name} plan; retry in {wait} s", state, wait,
                           limit=plan.per_hour, burst=plan.burst)
    return state


EtlPrincipal, EtlOwner, EtlAdmin = auth_chain(count_request)


# --- pagination -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page_params(page: Annotated[int, Query(ge=1, le=100_000, description="page number, from 1")] = 1,
                per_page: Annotated[int, Query(ge=1, le=100, description="items per page (at most 100)")] = 20
                ) -> Page:
    return Page(page, per_page)


PageDep = Annotated[Page, Depends(page_params)]


def paginate(request: Request, response: Response, page: Page, total: int) -> dict:
    """Set the documented pagination headers; returns the body's pagination fields."""
    last = max(1, math.ceil(total / page.per_page))
    links = []

    def url(p: int) -> str:
        return str(request.url.include_query_params(page=p, per_page=page.per_page))

    if page.page < last:
        links.append(f'<{url(page.page + 1)}>; rel="next"')
    if page.page > 1:
        links.append(f'<{url(min(page.page - 1, last))}>; rel="prev"')
    links.append(f'<{url(1)}>; rel="first"')
    links.append(f'<{url(last)}>; rel="last"')
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Page"] = str(page.page)
    response.headers["X-Per-Page"] = str(page.per_page)
    response.headers["Link"] = ", ".join(links)
    return {"total": total, "page": page.page, "per_page": page.per_page}


def iso(dt) -> str | None:
    from inferloop.core import db

    return db.as_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None
