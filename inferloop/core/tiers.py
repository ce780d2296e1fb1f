"""Account tiers and their limits, as documented (tabular-api.md, "Rate Limits by Tier")."""

from __future__ import annotations

from dataclasses import dataclass

from inferloop.core.errors import InferloopError


@dataclass(frozen=True)
class TierLimits:
    """Per-tier limits; None means unlimited."""

    requests_per_hour: int | None
    rows_per_hour: int | None
    compute_hours_per_month: float | None
    concurrent_jobs: int | None


TIERS: dict[str, TierLimits] = {
    "starter": TierLimits(10, 100_000, 10, 1),
    "professional": TierLimits(100, 1_000_000, 100, 5),
    "business": TierLimits(1_000, 10_000_000, 1_000, 20),
    "enterprise": TierLimits(None, None, None, None),
}


def limits_for(tier: str) -> TierLimits:
    try:
        return TIERS[tier]
    except KeyError:
        raise InferloopError("INVALID_REQUEST", f"unknown tier '{tier}'; tiers are: {', '.join(TIERS)}", "tier")
