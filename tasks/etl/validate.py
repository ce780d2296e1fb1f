"""Data checks of a pipeline with Great Expectations 1.x (ephemeral context), chunk by chunk.

Expectations (the short name or the Great Expectations name):
    {"expectation": "not_null", "column": "id", "mostly": 1.0}      expect_column_values_to_not_be_null
    {"expectation": "between", "column": "amount", "min": 0, "max": 1e6}
    {"expectation": "in_set", "column": "status", "values": ["paid", "open"]}
    {"expectation": "match_regex", "column": "email", "regex": "^[^@]+@[^@]+$"}
    {"expectation": "columns_exist", "columns": ["id", "amount"]}
    {"expectation": "unique", "column": "id"}                        over all rows (polars), not per chunk
    {"expectation": "row_count_between", "min": 1, "max": 1000000}   over all rows

Row-level expectations run with Great Expectations on every chunk; their counts are summed. Results are
returned (and recorded in the run's manifest and a Prefect artifact); a failed expectation fails the run
before anything is loaded unless on_failure is "warn".
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from inferloop.core.errors import InferloopError
from tasks.etl import stage

ROW_LEVEL = {"not_null": "ExpectColumnValuesToNotBeNull", "between": "ExpectColumnValuesToBeBetween",
             "in_set": "ExpectColumnValuesToBeInSet", "match_regex": "ExpectColumnValuesToMatchRegex",
             "columns_exist": "ExpectTableColumnsToMatchSet"}
GLOBAL = ("unique", "row_count_between")
GX_NAMES = {"expect_column_values_to_not_be_null": "not_null", "expect_column_values_to_be_between": "between",
            "expect_column_values_to_be_in_set": "in_set", "expect_column_values_to_match_regex": "match_regex",
            "expect_column_values_to_be_unique": "unique", "expect_table_row_count_to_be_between": "row_count_between",
            "expect_table_columns_to_match_set": "columns_exist"}
ON_FAILURE = ("fail", "warn")


def invalid(message: str, field: str) -> InferloopError:
    return InferloopError("INVALID_REQUEST", message, field)


def check(expectations: list | None) -> list[dict]:
    """Normalized expectations (400 on anything malformed)."""
    if expectations is None:
        return []
    if not isinstance(expectations, list) or len(expectations) > 100:
        raise invalid("validations must be a list of at most 100 expectations", "validations")
    out = []
    for i, e in enumerate(expectations):
        f = f"validations[{i}]"
        if not isinstance(e, dict):
            raise invalid(f"{f} must be an object", f)
        kind = GX_NAMES.get(e.get("expectation") or e.get("type"), e.get("expectation") or e.get("type"))
        if kind not in ROW_LEVEL and kind not in GLOBAL:
            raise invalid(f"{f}.expectation must be one of {', '.join([*ROW_LEVEL, *GLOBAL])}", f"{f}.expectation")
        e = {**e, "expectation": kind}
        e.pop("type", None)
        if kind in ("not_null", "between", "in_set", "match_regex", "unique") and \
                not isinstance(e.get("column"), str):
            raise invalid(f"{f}.column is required", f"{f}.column")
        if kind == "between" and e.get("min") is None and e.get("max") is None:
            raise invalid(f"{f} needs min and/or max", f)
        if kind == "in_set" and not isinstance(e.get("values"), list):
            raise invalid(f"{f}.values must be a list", f"{f}.values")
        if kind == "match_regex" and not isinstance(e.get("regex"), str):
            raise invalid(f"{f}.regex must be a string", f"{f}.regex")
        if kind == "columns_exist" and not (isinstance(e.get("columns"), list) and e["columns"]):
            raise invalid(f"{f}.columns must be a non-empty list", f"{f}.columns")
        mostly = e.get("mostly")
        if mostly is not None and (not isinstance(mostly, (int, float)) or not 0 < mostly <= 1):
            raise invalid(f"{f}.mostly must be in (0, 1]", f"{f}.mostly")
        out.append(e)
    return out


def preload(expectations: list[dict]) -> None:
    """Import Great Expectations in the background (5-12 s here) while the rows are being extracted."""
    if not expectations:
        return
    import threading

    def work() -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        try:
            import great_expectations  # noqa: F401
            import great_expectations.expectations  # noqa: F401
        except Exception as exc:  # the validate step will raise it where it belongs
            print(f"preloading great_expectations failed: {exc!r}")

    threading.Thread(target=work, name="gx-preload", daemon=True).start()


def _gx_expectation(e: dict):
    import great_expectations.expectations as gxe

    kind = e["expectation"]
    mostly = {"mostly": e["mostly"]} if e.get("mostly") is not None else {}
    if kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=e["column"], **mostly)
    if kind == "between":
        return gxe.ExpectColumnValuesToBeBetween(column=e["column"], min_value=e.get("min"),
                                                 max_value=e.get("max"), **mostly)
    if kind == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(column=e["column"], value_set=e["values"], **mostly)
    if kind == "match_regex":
        return gxe.ExpectColumnValuesToMatchRegex(column=e["column"], regex=e["regex"], **mostly)
    return gxe.ExpectTableColumnsToMatchSet(column_set=e["columns"], exact_match=False)


class ChunkValidator:
    """Great Expectations over a stream of chunks; `result()` sums the per-chunk outcomes.

    The column set is checked on the first chunk (every part has the first one's schema); row-level
    expectations on every chunk, converting only the columns they name.
    """

    def __init__(self, expectations: list[dict]):
        self.schema_level = [e for e in expectations if e["expectation"] == "columns_exist"]
        self.row_level = [e for e in expectations if e["expectation"] in ROW_LEVEL and e not in self.schema_level]
        self.columns = sorted({e["column"] for e in self.row_level})
        self.totals = {_key(e): {"expectation": e["expectation"], "column": e.get("column") or e.get("columns"),
                                 "success": True, "element_count": 0, "unexpected_count": 0, "observed": None}
                       for e in self.schema_level + self.row_level}
        self.batch_def = None
        self.first = True
        if self.totals:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            import great_expectations as gx

            context = gx.get_context(mode="ephemeral")
            name = uuid.uuid4().hex[:8]
            self.batch_def = (context.data_sources.add_pandas(name=f"etl_{name}")
                              .add_dataframe_asset(name="chunk")
                              .add_batch_definition_whole_dataframe(name="whole"))
            self.suite_first = gx.ExpectationSuite(name=f"etl_{name}_first", expectations=[
                _gx_expectation(e) for e in self.schema_level + self.row_level])
            self.suite_rows = gx.ExpectationSuite(name=f"etl_{name}", expectations=[
                _gx_expectation(e) for e in self.row_level])

    @property
    def active(self) -> bool:
        return self.batch_def is not None

    def validate(self, batch) -> None:
        """One chunk (an Arrow record batch)."""
        if self.batch_def is None:
            return
        if self.first:
            self.first = False
            frame, suite = batch.to_pandas(), self.suite_first
        elif batch.num_rows == 0 or not self.row_level:
            return
        else:
            missing = [c for c in self.columns if c not in batch.schema.names]
            frame = batch.select([c for c in self.columns if c not in missing]).to_pandas()
            for c in missing:
                frame[c] = None
            suite = self.suite_rows
        res = self.batch_def.get_batch(batch_parameters={"dataframe": frame}).validate(suite,
                                                                                       result_format="SUMMARY")
        for r in res.results:
            total = self.totals.get(_gx_key(r.expectation_config))
            if total is None:
                continue
            result = r.result or {}
            total["success"] = total["success"] and bool(r.success)
            total["element_count"] += int(result.get("element_count") or len(frame))
            total["unexpected_count"] += int(result.get("unexpected_count") or 0)
            if r.exception_info and r.exception_info.get("raised_exception"):
                total["success"] = False
                total["observed"] = str(r.exception_info.get("exception_message"))[:300]
            elif result.get("observed_value") is not None and total["expectation"] == "columns_exist":
                total["observed"] = result.get("observed_value")

    def result(self) -> list[dict]:
        return list(self.totals.values())


GX_TYPES = {"not_null": "expect_column_values_to_not_be_null", "between": "expect_column_values_to_be_between",
            "in_set": "expect_column_values_to_be_in_set", "match_regex": "expect_column_values_to_match_regex",
            "columns_exist": "expect_table_columns_to_match_set"}


def _key(e: dict) -> tuple:
    return GX_TYPES[e["expectation"]], e.get("column") or tuple(e.get("columns") or ())


def _gx_key(config) -> tuple:
    kw = config.kwargs or {}
    return config.type, kw.get("column") or tuple(kw.get("column_set") or ())


def global_checks(expectations: list[dict], scan, rows: int) -> list[dict]:
    """unique and row_count over all rows (`scan` is a polars LazyFrame of the staged rows)."""
    import polars as pl

    out = []
    for e in expectations:
        if e["expectation"] == "row_count_between":
            lo, hi = e.get("min"), e.get("max")
            ok = (lo is None or rows >= lo) and (hi is None or rows <= hi)
            out.append({"expectation": "row_count_between", "column": None, "success": ok, "element_count": rows,
                        "unexpected_count": 0 if ok else 1, "observed": rows})
        elif e["expectation"] == "unique":
            col = e["column"]
            try:
                stats = scan.select(pl.col(col).drop_nulls().len().alias("n"),
                                    pl.col(col).drop_nulls().n_unique().alias("u")).collect()
                n, u = int(stats["n"][0]), int(stats["u"][0])
                out.append({"expectation": "unique", "column": col, "success": n == u, "element_count": n,
                            "unexpected_count": n - u, "observed": f"{n - u} duplicate value(s)"})
            except Exception as exc:
                out.append({"expectation": "unique", "column": col, "success": False, "element_count": rows,
                            "unexpected_count": None, "observed": str(exc).splitlines()[0][:300]})
    return out


def summary(results: list[dict[str, Any]]) -> dict:
    failed = [r for r in results if not r["success"]]
    return {"status": "passed" if not failed else "failed", "evaluated": len(results),
            "successful": len(results) - len(failed), "failed": failed, "results": results,
            "engine": "great_expectations"}


@task(name="validate", cache_policy=NO_CACHE)
def validate(parts: list[str], expectations: list[dict], rows: int, chunk_rows: int) -> dict:
    """Great Expectations on every chunk, unique/row count over all rows; the summed results."""
    started = time.perf_counter()
    checker = ChunkValidator(expectations)
    if checker.active:
        for batch in stage.iter_batches(parts, chunk_rows):
            checker.validate(batch)
    results = checker.result() + global_checks(expectations, stage.scan(parts), rows)
    out = summary(results)
    out["seconds"] = round(time.perf_counter() - started, 3)
    print(f"validation {out['status']}: {out['successful']} of {out['evaluated']} expectation(s) met")
    return out
