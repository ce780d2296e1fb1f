"""Flow `context_sample`: a small sample of every schema a context describes (POST /api/v1/generate/sample).

The spec comes as a parameter (the API analyzed the context) or is made here from `context` (a plain Python
call). Rows are generated like one batch of a corpus, validated rule by rule, stored as Parquet under the
run folder (so the sample can be exported like a corpus) and returned as JSON rows in result.json.
"""

from __future__ import annotations

import time

from prefect import flow
from prefect.runtime import flow_run

from flows.outputs import run_outputs, write_result
from tasks.context.generate import sample_rows
from tasks.context.plan import check_capacity, sample_counts
from tasks.context.spec import public_schemas
from tasks.context.steps import generate, new_seed, resolve_spec, validate, write_parts


@flow(name="context_sample", persist_result=True, log_prints=True)
def context_sample(context: str | None = None, spec: dict | None = None, sample_size: int = 5,
                   schemas: list[str] | None = None, seed: int | None = None,
                   domain_hint: str | None = None) -> dict:
    """Generate `sample_size` rows per schema; returns the manifest (schemas, rows, validation)."""
    with run_outputs() as out:
        started = time.perf_counter()
        spec, warnings = resolve_spec(context, spec, domain_hint, schemas)
        seed = seed if seed is not None else new_seed()
        counts = sample_counts(spec, int(sample_size))
        check_capacity(spec, counts)
        frames = generate(spec, counts, {n: 0 for n in counts}, counts, seed)
        report = validate(spec, frames)
        parts = write_parts(frames, out, 0)
        elapsed = time.perf_counter() - started
        result = {"flow_run_id": flow_run.id, "kind": "sample", "seed": seed, "spec": spec,
                  "schemas": public_schemas(spec), "samples": sample_rows(frames), "counts": counts,
                  "records": sum(counts.values()), "data": {k: [v] for k, v in parts.items()},
                  "validation": {"valid": report["valid"], "violations": report["violations"],
                                 "checks": report["checks"]},
                  "generation_time_ms": int(elapsed * 1000), "warnings": warnings}
        write_result(out, result)
        print(f"sample: {', '.join(f'{k} {v}' for k, v in counts.items())} rows, all rules hold "
              f"({len(report['checks'])} checks)")
        return {k: result[k] for k in ("flow_run_id", "kind", "seed", "counts", "records", "generation_time_ms")}
