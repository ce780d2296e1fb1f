"""Flow `profile`: load -> profile columns -> correlations -> report.html, then result.json."""

from __future__ import annotations

import time

from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import current_run_dir, record_error, write_result
from flows.progress import Progress
from inferloop.errors import InferloopError
from inferloop.settings import get_settings
from tasks.load import load_table
from tasks.profile_report import write_report
from tasks.profiling import correlate, numeric_columns, profile_columns


@flow(name="profile", persist_result=True, log_prints=True)
def profile(data: str, data_format: str | None = None, sample_size: int | None = None) -> dict:
    """Profile `data` (a path or storage URI), or a uniform sample of `sample_size` of its rows."""
    out = current_run_dir()
    try:
        return _profile(out, data, data_format, sample_size)
    except Exception as exc:
        record_error(out, exc)
        raise


def _profile(out: str, data: str, data_format: str | None, sample_size: int | None) -> dict:
    settings = get_settings()
    started = time.perf_counter()
    progress = Progress("profile")
    if sample_size is not None and (isinstance(sample_size, bool) or not isinstance(sample_size, int)
                                    or sample_size < 1):
        raise InferloopError("INVALID_REQUEST",
                             f"sample_size must be a positive integer, got {sample_size!r}", "sample_size")
    timings: dict[str, float] = {}

    t = time.perf_counter()
    df = load_table(data, data_format, max_rows=settings.max_rows)
    timings["load"] = time.perf_counter() - t
    progress.set(20, f"loaded {len(df)} rows", force=True)

    t = time.perf_counter()
    result, frame = profile_columns(df, sample_size, seed=0)
    timings["profile"] = time.perf_counter() - t
    progress.set(60, f"profiled {result['summary']['columns']} columns", force=True)

    t = time.perf_counter()
    result["correlations"] = correlate(frame, numeric_columns(result))
    timings["correlations"] = time.perf_counter() - t
    progress.set(75, "correlations", force=True)

    t = time.perf_counter()
    title = f"Data profile: {data.rsplit('/', 1)[-1]}"
    report_uri = write_report(result, frame, f"{out}/report.html", title=title)
    timings["report"] = time.perf_counter() - t

    result.update({"flow_run_id": flow_run.id, "report_uri": report_uri,
                   "profile_time": round(time.perf_counter() - started, 3),
                   "timings": {k: round(v, 3) for k, v in timings.items()}})
    # result.json is written last: its presence is what marks the outputs complete
    write_result(out, result)
    progress.set(100, "done", force=True)
    return result
