"""GET /usage: the caller's generation usage and remaining limits."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, SettingsDep
from inferloop.core.usage import usage_report

router = APIRouter(tags=["usage"])


@router.get("/usage", summary="Usage statistics of the caller: generations, rows, compute hours, limits left")
async def usage(principal: CurrentPrincipal, settings: SettingsDep, period: str = "7d", timezone: str = "UTC"):
    return await run_in_threadpool(usage_report, principal.owner, principal.tier, period, timezone,
                                   settings=settings)
