"""Flow `profile`: load -> profile columns -> correlations -> report.html, then result.json."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import run_outputs
from flows.progress import Steps
from inferloop.core.errors import InferloopError
from inferloop.core.settings import get_settings
from tasks.tabular.load import load_table
from tasks.tabular.profile_report import write_report
from tasks.tabular.profiling import correlate, numeric_columns, profile_columns


@flow(name="profile", persist_result=True, log_prints=True)
def profile(data: str, data_format: str | None = None, sample_size: int | None = None) -> dict:
    """Profile `data` (a path or storage URI), or a uniform sample of `sample_size` of its rows."""
    with run_outputs() as out:
        return _profile(out, data, data_format, sample_size)


def _profile(out: str, data: str, data_format: str | None, sample_size: int | None) -> dict:
    settings = get_settings()
    steps = Steps("profile")
    if sample_size is not None and (isinstance(sample_size, bool) or not isinstance(sample_size, int)
                                    or sample_size < 1):
        raise InferloopError("INVALID_REQUEST",
                             f"sample_size must be a positive integer, got {sample_size!r}", "sample_size")

    with steps.step("load", 20) as step:
        df = load_table(data, data_format, max_rows=settings.max_rows)
        step.message = f"loaded {len(df)} rows"
    with steps.step("profile", 60) as step:
        result, frame = profile_columns(df, sample_size, seed=0)
        step.message = f"profiled {result['summary']['columns']} columns"
    with steps.step("correlations", 75, "correlations"):
        result["correlations"] = correlate(frame, numeric_columns(result))
    title = f"Data profile: {data.rsplit('/', 1)[-1]}"
    with steps.step("report"):
        report_uri = write_report(result, frame, f"{out}/report.html", title=title)

    result.update({"flow_run_id": flow_run.id, "report_uri": report_uri, "profile_time": steps.seconds(),
                   "timings": steps.rounded_timings()})
    # result.json is written last: its presence is what marks the outputs complete
    return steps.finish(out, result)
