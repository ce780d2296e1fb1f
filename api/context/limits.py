"""context-api.md's rate limits: 60 requests per minute and 1000 per hour per client, X-RateLimit-* headers.

Counted with the `limits` library in the platform's limiter storage (inferloop.core.ratelimit: the metadata DB,
or INFERLOOP_RATE_LIMIT_STORAGE). A client is the caller's account (API key); in demo mode
(INFERLOOP_AUTH_DISABLED=true, everyone is the same account) it is the caller's IP address, as the
document says. These limits come on top of the account tier's hourly request limit; the headers describe
the per-minute window.
"""

from __future__ import annotations


import limits
from fastapi import Request

from api.deps import auth_chain
from inferloop.core.auth import Principal
from inferloop.core.ratelimit import NAMESPACE, RateState, item_state, limiter_for, rate_limited, request_limit
from inferloop.core.settings import Settings

COUNTER = "context"


def count_request(request: Request, principal: Principal, settings: Settings) -> RateState:
    """The context counter: the tier's hourly limit, then the client's minute and hour windows; 429 over any."""
    request_limit(principal, settings)
    client = principal.owner
    if settings.auth_disabled:
        client = f"ip:{request.client.host if request.client else 'unknown'}"
    limiter = limiter_for(settings)
    minute = limits.RateLimitItemPerMinute(settings.context_rate_per_minute, namespace=NAMESPACE)
    hour = limits.RateLimitItemPerHour(settings.context_rate_per_hour, namespace=NAMESPACE)
    allowed = limiter.hit(minute, COUNTER, client) and limiter.hit(hour, COUNTER, client)
    state = item_state(limiter, minute, COUNTER, client)
    hourly = item_state(limiter, hour, COUNTER, client)
    if hourly.remaining < state.remaining or not allowed and hourly.remaining == 0:
        state = hourly
    if not allowed:
        which = "hour" if state is hourly else "minute"
        raise rate_limited(f"Too many requests: {state.limit} per {which} per client; retry in "
                           f"{state.reset_after} s", state, limit=state.limit)
    return state


ContextPrincipal, _, _ = auth_chain(count_request)
