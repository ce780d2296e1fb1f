"""Where a flow run writes: its run folder, its result (written last) and, on failure, error.json."""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.runtime import flow_run

from inferloop.core import storage
from inferloop.core.errors import InferloopError


def current_run_dir() -> str:
    """The storage folder of this flow run: runs/<flow_run_id>."""
    return storage.run_dir(flow_run.id or f"local-{int(time.time() * 1000)}")


@contextmanager
def run_outputs() -> Iterator[str]:
    """This run's folder (current_run_dir); an exception leaving the block is recorded there as error.json
    (record_error) and raised on. A flow's body: `with run_outputs() as out: ...`."""
    out = current_run_dir()
    try:
        yield out
    except Exception as exc:
        record_error(out, exc)
        raise


def write_result(out: str, result: dict, name: str = "result.json") -> None:
    """Write the run's JSON result; written last, its presence marks the outputs complete."""
    storage.write_json(f"{out}/{name}", result)


def record_error(out: str, exc: Exception) -> None:
    """Write error.json so the API can answer with the documented code; never mask the original error."""
    err = exc if isinstance(exc, InferloopError) else InferloopError(
        "GENERATION_FAILED", f"{type(exc).__name__}: {exc}", status=500)
    try:
        storage.write_json(f"{out}/error.json", {**err.to_dict(), "status": err.status})
    except Exception:
        traceback.print_exc()
