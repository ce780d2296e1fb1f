"""Flow `context_corpus`: a full corpus in batches (POST /api/v1/generate/corpus and feedback with start_corpus).

The parent plans the corpus (records per schema, batches), then maps one child flow run
`context_corpus_batch` per batch (subflows run from mapped tasks, `context_batch_workers` at a time, each
a flow run of its own under the parent in the Prefect UI). A batch generates its slice of every schema,
checks every rule on every row and writes one Parquet part per schema under the PARENT's run folder
(runs/<parent>/data/<schema>/part-<batch>.parquet). Progress (records and batches done, the schema being
written) goes to runs/<parent>/progress.json and to the run's Prefect progress artifact. Then keys are
checked across all batches, the corpus is exported if asked, and result.json is written.

Cancel: the worker stops the parent's process, which runs the batches; its on_cancellation/on_crashed
hook marks the batch runs left running Cancelled/Crashed (they cannot outlive it).
"""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.runtime import flow_run
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.task_runners import ThreadPoolTaskRunner

from flows.outputs import run_outputs, write_result
from flows.progress import Progress
from inferloop.core import storage
from inferloop.core.errors import InferloopError
from inferloop.core.settings import get_settings
from tasks.context.export import check_export, export_key
from tasks.context.generate import generate_tables
from tasks.context.plan import plan_corpus, sample_counts
from tasks.context.spec import public_schemas, to_schema
from tasks.context.steps import build_batch, check_corpus, export, new_seed, resolve_spec

_TRACKERS: dict[str, "CorpusProgress"] = {}


def peak_rss_mb() -> float:
    """The peak resident memory of this process (the flow run's) so far, in MiB."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime   # parent run folder -> its tracker (batches run in this process)


class CorpusProgress:
    """Records per schema and batches done; written to progress.json (throttled) and the progress artifact."""

    def __init__(self, out: str, plan: dict[str, Any], order: list[str]):
        self.out, self.order = out, order
        self.totals = plan["totals"]
        self.done = {n: 0 for n in order}
        self.batches, self.batches_done = len(plan["batches"]), 0
        self.current: str | None = order[0] if order else None
        self.lock = threading.Lock()
        self.last = 0.0
        self.artifact = Progress("context corpus")
        self.write(force=True)

    def schema_written(self, name: str, rows: int) -> None:
        with self.lock:
            self.done[name] += rows
            self.current = name
        self.write()

    def batch_done(self) -> None:
        with self.lock:
            self.batches_done += 1
        self.write(force=True)

    def view(self) -> dict[str, Any]:
        total, done = sum(self.totals.values()), sum(self.done.values())
        complete = [n for n in self.order if self.done[n] >= self.totals[n]]
        current = next((n for n in self.order if n not in complete), None) if self.current in complete \
            else self.current
        return {"total_schemas": len(self.order), "completed_schemas": len(complete), "current_schema": current,
                "total_records": total, "generated_records": done,
                "percent_complete": round(100.0 * done / total, 1) if total else 100.0,
                "total_batches": self.batches, "completed_batches": self.batches_done,
                "schemas": {n: {"total_records": self.totals[n], "generated_records": self.done[n]}
                            for n in self.order}}

    def write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.5:
            return
        self.last = now
        with self.lock:
            view = self.view()
        try:
            storage.write_json(f"{self.out}/progress.json", view)
        except Exception as exc:  # progress must never fail the corpus
            print(f"progress.json not written: {exc!r}")
        self.artifact.set(min(view["percent_complete"], 99.0) if view["completed_batches"] < self.batches
                          else 100.0, force=force)


@flow(name="context_corpus_batch", persist_result=True, log_prints=True)
def context_corpus_batch(spec: dict, out: str, batch: int, counts: dict[str, int], offsets: dict[str, int],
                         totals: dict[str, int], seed: int) -> dict:
    """One batch of the corpus: generate, check every rule on every row, write one Parquet part per schema."""
    started = time.perf_counter()
    tracker = _TRACKERS.get(out)
    done = build_batch(spec, out, batch, counts, offsets, totals, seed, tracker.schema_written if tracker else None)
    return {"batch": batch, **done, "seconds": round(time.perf_counter() - started, 3), "flow_run_id": flow_run.id}


@task(name="corpus_batch", cache_policy=NO_CACHE, persist_result=False)
def run_batch(spec: dict, out: str, batch: int, counts: dict[str, int], offsets: dict[str, int],
              totals: dict[str, int], seed: int) -> dict:
    """The batch's child flow run.

    It runs in the parent's process, whose heartbeat already tells Prefect the process is alive; a heartbeat of
    its own would only make every batch wait for that thread at exit (1-3 s per batch on a busy machine).
    """
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return context_corpus_batch.with_options(flow_run_name=f"batch-{batch:04d}")(
            spec=spec, out=out, batch=batch, counts=counts, offsets=offsets, totals=totals, seed=seed)


def end_batch_runs(flow, flow_run, state) -> None:  # noqa: ANN001  (Prefect's hook signature)
    """Hook: the parent ended (cancelled or crashed); batch runs still running end with it."""
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.states import Cancelled, Crashed

    async def end() -> None:
        async with get_client() as client:
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[UUID(str(flow_run.id))])))
            for fr in runs:
                if fr.state is None or not fr.state.is_final():
                    new = Cancelled(message="the corpus run was cancelled") if state.is_cancelling() or \
                        state.is_cancelled() else Crashed(message="the corpus run crashed")
                    await client.set_flow_run_state(fr.id, new, force=True)
    try:
        asyncio.run(end())
    except Exception as exc:
        print(f"could not end the batch runs: {exc!r}")


@flow(name="context_corpus", persist_result=True, log_prints=True,
      task_runner=ThreadPoolTaskRunner(max_workers=get_settings().context_batch_workers),
      on_cancellation=[end_batch_runs], on_crashed=[end_batch_runs])
def context_corpus(context: str | None = None, spec: dict | None = None, corpus_size: int = 1000,
                   batch_size: int | None = None, schemas: list[str] | None = None, seed: int | None = None,
                   domain_hint: str | None = None, export_format: str | None = None,
                   export_options: dict | None = None) -> dict:
    """Generate `corpus_size` records over all schemas in batches; returns the corpus manifest."""
    with run_outputs() as out:
        try:
            return _corpus(out, context, spec, int(corpus_size), batch_size, schemas, seed, domain_hint,
                           export_format, export_options)
        finally:
            _TRACKERS.pop(out, None)


def _corpus(out: str, context: str | None, spec: dict | None, corpus_size: int, batch_size: int | None,
            schemas: list[str] | None, seed: int | None, domain_hint: str | None, export_format: str | None,
            export_options: dict | None) -> dict:
    started, cpu_started = time.perf_counter(), cpu_seconds()
    settings = get_settings()
    if export_format is not None:
        fmt, opts = check_export(export_format, export_options, "export_format")
    spec, warnings = resolve_spec(context, spec, domain_hint, schemas)
    seed = seed if seed is not None else new_seed()
    plan = plan_corpus(spec, corpus_size, batch_size, settings.context_default_batch_size,
                       settings.context_max_batches)
    warnings += plan["warnings"]
    order = to_schema(spec).order()
    tiny = sample_counts(spec, 1)  # builds this process's value pools once, before the batches share them
    generate_tables(spec, tiny, {n: 0 for n in tiny}, tiny, seed)
    tracker = _TRACKERS[out] = CorpusProgress(out, plan, order)
    print(f"corpus of {corpus_size} records in {len(plan['batches'])} batch(es): "
          + ", ".join(f"{n} {plan['totals'][n]}" for n in order))
    futures = run_batch.map(spec=unmapped(spec), out=unmapped(out), batch=list(range(len(plan["batches"]))),
                            counts=plan["batches"], offsets=plan["offsets"], totals=unmapped(plan["totals"]),
                            seed=unmapped(seed))
    batches = []
    for fut in as_completed(futures):
        batches.append(fut.result())
        tracker.batch_done()
    batches.sort(key=lambda b: b["batch"])
    generated = time.perf_counter() - started
    generated_cpu = cpu_seconds() - cpu_started
    parts = {n: [b["files"][n] for b in batches] for n in order}
    integrity = check_corpus(spec, parts)
    manifest: dict[str, Any] = {
        "flow_run_id": flow_run.id, "kind": "corpus", "seed": seed, "spec": spec, "schemas": public_schemas(spec),
        "corpus_size": corpus_size, "batch_size": plan["batch_size"], "records": plan["totals"],
        "generated_records": sum(sum(b["rows"].values()) for b in batches),
        "batches": [{k: b[k] for k in ("batch", "rows", "seconds", "flow_run_id", "checks", "violations")}
                    for b in batches],
        "data": parts,
        "validation": {"valid": True, "violations": 0, "batch_checks": sum(b["checks"] for b in batches),
                       "corpus_checks": integrity["checks"]},
        "generation_seconds": round(generated, 3),
        "rows_per_second": round(corpus_size / generated) if generated > 0 else None,
        "cpu_seconds": round(generated_cpu, 3),
        "warnings": warnings, "exports": {},
    }
    if export_format is not None:
        result = export(spec, parts, fmt, opts, f"{out}/exports/{export_key(fmt, opts)}")
        result["flow_run_id"] = flow_run.id
        manifest["exports"][export_key(fmt, opts)] = result
    manifest["total_seconds"] = round(time.perf_counter() - started, 3)
    manifest["peak_rss_mb"] = peak_rss_mb()
    write_result(out, manifest)
    if manifest["generated_records"] != corpus_size:
        raise InferloopError("GENERATION_FAILED", f"{manifest['generated_records']} records were generated, "
                             f"{corpus_size} planned", status=500)
    print(f"corpus done: {corpus_size} records in {generated:.1f} s ({manifest['rows_per_second']} records/s), "
          "every rule and key checked")
    return {k: manifest[k] for k in ("flow_run_id", "kind", "seed", "corpus_size", "records", "generated_records",
                                     "generation_seconds", "rows_per_second", "peak_rss_mb")}
