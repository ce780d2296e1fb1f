"""A run cancelled while its worker was starting it does not do its work.

Prefect lets a run leave Cancelled for Running (manual retries go that way). So a cancel that lands after the
worker has taken the run (Pending) but before the engine proposes Running (notes/prefect-facts.md, the
Pending race; the API's cancel may also act on a read that still said Scheduled) is followed by Running and
the whole job: seen as a cancelled CTGAN job that trained its 3,000 epochs while the API reported it
cancelled. Every platform flow calls `stop_if_cancelled_before_start()` as it starts (flows.progress.Progress
does, which each flow creates first): when the state just before this Running is Cancelled or Cancelling,
the run is put back to Cancelled and ends with Prefect's Abort, so the engine proposes nothing more and the
process exits 0.
"""

from __future__ import annotations

from collections.abc import Iterable

from prefect.client.schemas.objects import State, StateType

STOPPED = (StateType.CANCELLED, StateType.CANCELLING)


def cancelled_before_start(states: Iterable[State]) -> bool:
    """Whether the run's latest state is Running and the state before it Cancelled or Cancelling."""
    ordered = sorted(states, key=lambda s: s.timestamp)
    return len(ordered) >= 2 and ordered[-1].type == StateType.RUNNING and ordered[-2].type in STOPPED


def stop_if_cancelled_before_start() -> None:
    """Raise Abort (after restoring Cancelled) in a flow run that was cancelled before it started."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext
    from prefect.exceptions import Abort
    from prefect.states import Cancelled

    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    run_id = ctx.flow_run.id
    try:
        with get_client(sync_client=True) as client:
            if not cancelled_before_start(client.read_flow_run_states(run_id)):
                return
            client.set_flow_run_state(run_id, Cancelled(message="cancelled before it started"), force=True)
    except Exception as exc:  # the check must never break a run that was not cancelled
        print(f"cancel check unavailable: {exc!r}")
        return
    print("this run was cancelled before it started: stopping without doing its work")
    raise Abort(f"flow run {run_id} was cancelled before it started")
