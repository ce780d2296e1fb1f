"""Flow `privacy_analysis`: load -> check columns -> k-anonymity, l-diversity, t-closeness, risks -> report."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import run_outputs, write_result
from inferloop.core.settings import get_settings
from tasks.tabular.load import load_table
from tasks.tabular.privacy import (DEFAULT_K, DEFAULT_L, DEFAULT_T, analyze_privacy, check_request,
                                   publish_report)


@flow(name="privacy_analysis", persist_result=True, log_prints=True)
def privacy_analysis(data: str, quasi_identifiers: list[str], sensitive_attributes: list[str] | None = None,
                     analysis_types: list[str] | None = None, k: int = DEFAULT_K, l: int = DEFAULT_L,  # noqa: E741
                     t: float = DEFAULT_T, data_format: str | None = None) -> dict:
    """Privacy risks of the table at `data` (a path or storage URI); returns the report."""
    with run_outputs() as out:
        df = load_table(data, data_format, max_rows=get_settings().max_rows)
        df.columns = [str(c) for c in df.columns]
        qis, sensitive, types = check_request(list(df.columns), quasi_identifiers, sensitive_attributes,
                                              analysis_types, k, l, t)
        print(f"analysing {len(df)} records on {', '.join(qis)} ({', '.join(types)})")
        report = {"flow_run_id": flow_run.id, **analyze_privacy(df, qis, sensitive, types, k, l, float(t))}
        print(f"k = {report['metrics'].get('k_anonymity', {}).get('k')}, risks: {report['risks']}")
        publish_report(report)
        write_result(out, report)   # last: its presence marks the run's output complete
        return report
