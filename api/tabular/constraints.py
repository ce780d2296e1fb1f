"""Constraint sets: POST /constraints, GET /constraints, GET /constraints/{constraint_id}.

A set is validated when it is created (unknown types, missing fields and anything but one simple comparison
in an expression are rejected) and stored normalised; generation and training use it by id. An owner sees
only their own sets; another owner's id answers exactly like an unknown one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentOwner
from inferloop.core import db
from tasks.tabular.constraint_specs import KINDS, constraints_for, load_constraint_file, parse_constraints
from inferloop.core.errors import invalid_request

__all__ = ["constraints_for", "load_constraint_file", "router"]

router = APIRouter(tags=["constraints"])


class ConstraintSetCreate(BaseModel):
    """The documented body."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256, description="a name for the set")
    constraints: list[Any] = Field(description=f"constraints; each has a type: {', '.join(KINDS)}")


def _iso(dt: datetime | None) -> str | None:
    return db.as_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def constraint_set_view(stored: db.ConstraintSet, *, full: bool = False) -> dict[str, Any]:
    """A stored set as the API shows it (with its constraints when `full`)."""
    view = {"constraint_id": stored.id, "name": stored.name, "created_at": _iso(stored.created_at),
            "num_constraints": len(stored.constraints or []), "validation_status": stored.validation_status}
    if full:
        view["constraints"] = list(stored.constraints or [])
    return view


def _create(owner: str, name: str, constraints: list[dict[str, Any]]) -> db.ConstraintSet:
    stored = db.ConstraintSet(id=db.new_id("const"), owner=owner, name=name, constraints=constraints,
                              validation_status="valid", created_at=db.utcnow())
    with db.session_scope() as s:
        s.add(stored)
    return stored


def _get(constraint_id: str, owner: str) -> db.ConstraintSet:
    return db.owned(db.ConstraintSet, constraint_id, owner, "constraint set")


def _list(owner: str) -> list[db.ConstraintSet]:
    with db.session_scope() as s:
        return list(s.scalars(select(db.ConstraintSet).where(db.ConstraintSet.owner == owner)
                              .order_by(db.ConstraintSet.created_at, db.ConstraintSet.id)))


@router.post("/constraints", status_code=201, summary="Create a constraint set for generation and training")
async def create_constraint_set(body: ConstraintSetCreate, owner: CurrentOwner):
    if not body.name.strip():
        raise invalid_request("name must not be blank", "name")
    specs = parse_constraints(body.constraints)
    if not specs:
        raise invalid_request("constraints must hold at least one constraint", "constraints")
    stored = await run_in_threadpool(_create, owner, body.name.strip(), specs)
    return constraint_set_view(stored)


@router.get("/constraints", summary="The caller's constraint sets")
async def list_constraint_sets(owner: CurrentOwner):
    return {"constraint_sets": [constraint_set_view(c) for c in await run_in_threadpool(_list, owner)]}


@router.get("/constraints/{constraint_id}", summary="One constraint set with its constraints")
async def get_constraint_set(constraint_id: str, owner: CurrentOwner):
    return constraint_set_view(await run_in_threadpool(_get, constraint_id, owner), full=True)
