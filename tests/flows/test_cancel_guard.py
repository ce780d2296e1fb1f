"""A run cancelled between its worker's Pending and the engine's Running stops instead of doing its work
(flows/cancel_guard.py): the race is replayed on the real Prefect server, and the engine is started the way
the worker starts it (`python -m prefect.engine` for the flow run)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from prefect.client.schemas.objects import StateType

from flows.cancel_guard import cancelled_before_start
from inferloop.core import storage
from inferloop.core.settings import PROJECT_DIR
from tests.tabular_data import customers


def _states(*types: StateType) -> list:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [SimpleNamespace(type=t, timestamp=t0 + timedelta(seconds=i)) for i, t in enumerate(types)]


def test_only_a_running_state_right_after_a_cancel_counts():
    S = StateType
    assert cancelled_before_start(_states(S.SCHEDULED, S.PENDING, S.CANCELLED, S.RUNNING))
    assert cancelled_before_start(_states(S.SCHEDULED, S.PENDING, S.CANCELLING, S.RUNNING))
    assert not cancelled_before_start(_states(S.SCHEDULED, S.PENDING, S.RUNNING))
    # a cancelled run retried later goes through Scheduled and Pending again
    assert not cancelled_before_start(_states(S.PENDING, S.CANCELLED, S.SCHEDULED, S.PENDING, S.RUNNING))
    assert not cancelled_before_start(_states(S.PENDING, S.RUNNING, S.CANCELLING))
    assert not cancelled_before_start(_states(S.RUNNING))


def test_a_run_cancelled_while_pending_ends_cancelled_without_its_work(prefect_platform, settings, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled, Pending, Scheduled

    data = tmp_path / "input.csv"
    customers(60).to_csv(data, index=False)
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name(settings.deployment_name("generate"))
        # due in an hour: the worker leaves it alone; the test plays the worker's part of the race
        run = client.create_flow_run_from_deployment(
            dep.id, parameters={"data": str(data), "num_rows": 20, "parameters": {"sdv_model": "gaussian_copula"}},
            state=Scheduled(scheduled_time=datetime.now(timezone.utc) + timedelta(hours=1)))
        client.set_flow_run_state(run.id, Pending(), force=True)            # the worker took it
        client.set_flow_run_state(run.id, Cancelled(message="cancelled through the API"))  # the cancel lands
        engine = subprocess.run([sys.executable, "-m", "prefect.engine"], cwd=str(PROJECT_DIR),
                                env={**prefect_platform.env(), "PREFECT__FLOW_RUN_ID": str(run.id)},
                                capture_output=True, text=True, timeout=300)
        assert engine.returncode == 0, engine.stdout + engine.stderr
        final = client.read_flow_run(run.id)
        history = [s.type for s in sorted(client.read_flow_run_states(run.id), key=lambda s: s.timestamp)]
    assert final.state.type == StateType.CANCELLED, (final.state, history)
    assert StateType.RUNNING in history and StateType.COMPLETED not in history, history
    assert not storage.exists(f"{storage.run_dir(str(run.id))}/manifest.json")
