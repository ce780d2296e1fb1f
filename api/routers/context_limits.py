"""context-api.md's rate limits: 60 requests per minute and 1000 per hour per client, X-RateLimit-* headers.

Counted with the `limits` library in the platform's limiter storage (inferloop.ratelimit: the metadata DB,
or INFERLOOP_RATE_LIMIT_STORAGE). A client is the caller's account (API key); in demo mode
(INFERLOOP_AUTH_DISABLED=true, everyone is the same account) it is the caller's IP address, as the
document says. These limits come on top of the account tier's hourly request limit; the headers describe
the per-minute window.
"""

from __future__ import annotations

import math
import time
from typing import Annotated

import limits
from fastapi import Depends, Request

from api.deps import CurrentPrincipal, SettingsDep
from inferloop.auth import Principal
from inferloop.errors import InferloopError
from inferloop.ratelimit import NAMESPACE, RateState, limiter_for, rate_headers

COUNTER = "context"


def _state(limiter, item: limits.RateLimitItem, client: str) -> RateState:
    stats = limiter.get_window_stats(item, COUNTER, client)
    now = time.time()
    return RateState(item.amount, max(0, stats.remaining), max(math.ceil(stats.reset_time), int(now)),
                     max(0, math.ceil(stats.reset_time - now)))


def context_client(request: Request, principal: CurrentPrincipal, settings: SettingsDep) -> Principal:
    """Count the request in the client's minute and hour windows; 429 RATE_LIMITED over either."""
    client = principal.owner
    if settings.auth_disabled:
        client = f"ip:{request.client.host if request.client else 'unknown'}"
    limiter = limiter_for(settings)
    minute = limits.RateLimitItemPerMinute(settings.context_rate_per_minute, namespace=NAMESPACE)
    hour = limits.RateLimitItemPerHour(settings.context_rate_per_hour, namespace=NAMESPACE)
    allowed = limiter.hit(minute, COUNTER, client) and limiter.hit(hour, COUNTER, client)
    state = _state(limiter, minute, client)
    hourly = _state(limiter, hour, client)
    if hourly.remaining < state.remaining or not allowed and hourly.remaining == 0:
        state = hourly
    request.state.rate = state
    if not allowed:
        which = "hour" if state is hourly else "minute"
        raise InferloopError("RATE_LIMITED", f"Too many requests: {state.limit} per {which} per client; retry in "
                             f"{state.reset_after} s", status=429,
                             extra={"limit": state.limit, "retry_after": state.reset_after},
                             headers={**rate_headers(state), "Retry-After": str(state.reset_after)})
    return principal


ContextClient = Annotated[Principal, Depends(context_client)]
