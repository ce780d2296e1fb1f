"""A bare flow (no tasks, no imports beyond Prefect): the baseline of benchmarks/job_latency.py."""

from __future__ import annotations

from prefect import flow


@flow(name="trivial-baseline")
def trivial(x: int = 41) -> int:
    """Return x + 1."""
    return x + 1
