"""How many records each schema gets, and how a corpus splits into batches.

A corpus of N records is N rows over all schemas together, shared out in proportion to the schemas'
volumes (the analyzer's estimates, e.g. 200 patients : 1000 appointments) and made consistent with every
owner relationship's min/max children per parent. A batch is a slice of the root rows with all the rows
they own, so a batch is complete on its own (children sit in the batch of their parent); every schema's
rows are numbered globally, batch after batch, which gives each row its key.
"""

from __future__ import annotations

import math
from typing import Any

from inferloop.core.errors import InferloopError
from tasks.context.generate import pattern_space
from tasks.context.spec import owner_of, to_schema

MAX_FIX_PASSES = 50


def largest_remainder(total: int, weights: list[float]) -> list[int]:
    """Integers summing to `total` in proportion to `weights`."""
    s = float(sum(weights))
    if total <= 0 or s <= 0:
        return [0] * len(weights)
    exact = [total * w / s for w in weights]
    out = [math.floor(x) for x in exact]
    rest = total - sum(out)
    for i in sorted(range(len(weights)), key=lambda i: exact[i] - out[i], reverse=True)[:rest]:
        out[i] += 1
    return out


def _fix_owners(spec: dict, counts: dict[str, int], order: list[str]) -> None:
    """Make every child count fit its parent's count x min/max children, keeping the sum unchanged."""
    for _ in range(MAX_FIX_PASSES):
        changed = False
        for child in order:
            r = owner_of(spec, child)
            if r is None:
                continue
            p, c = counts[r["parent"]], counts[child]
            lo, hi = r.get("min_children", 0), r.get("max_children")
            if p and c < p * lo:            # too few children: fewer parents, their rows go to the child
                new_p = max(1, c // lo) if c >= lo else 1
                if c < lo:
                    counts[child], counts[r["parent"]] = c + (p - 1), 1
                    need = lo - counts[child]
                    if need > 0:
                        raise InferloopError("INVALID_REQUEST", f"too few records for '{child}': each "
                                             f"{r['parent']} row owns at least {lo}", "corpus_size")
                else:
                    counts[child], counts[r["parent"]] = c + (p - new_p), new_p
                changed = True
            elif hi is not None and c > p * hi:  # too many children: more parents
                new_p = math.ceil(c / hi)
                moved = new_p - p
                counts[r["parent"]], counts[child] = new_p, c - moved
                changed = True
            if c > 0 and counts[r["parent"]] == 0:
                counts[r["parent"]], counts[child] = 1, counts[child] - 1
                changed = True
        if not changed:
            return


def schema_totals(spec: dict, total: int) -> dict[str, int]:
    """Records per schema for a corpus of `total` records."""
    names = [s["name"] for s in spec["schemas"]]
    if total < len(names):
        raise InferloopError("INVALID_REQUEST", f"corpus_size must be at least {len(names)} (one record per "
                             "schema)", "corpus_size")
    alloc = largest_remainder(total - len(names), [float(s["volume"]) for s in spec["schemas"]])
    counts = {n: 1 + a for n, a in zip(names, alloc)}
    _fix_owners(spec, counts, to_schema(spec).order())
    return counts


def sample_counts(spec: dict, sample_size: int) -> dict[str, int]:
    """Rows per schema in a sample: `sample_size` each, as far as min/max children allow."""
    counts = {s["name"]: sample_size for s in spec["schemas"]}
    for child in to_schema(spec).order():
        r = owner_of(spec, child)
        if r is None:
            continue
        p = counts[r["parent"]]
        lo, hi = r.get("min_children", 0), r.get("max_children")
        counts[child] = max(counts[child], p * lo)
        if hi is not None:
            counts[child] = min(counts[child], p * hi)
    return counts


def split_batches(spec: dict, totals: dict[str, int], n_batches: int) -> list[dict[str, int]]:
    """Per batch, records per schema: roots evenly, children with their parents."""
    order = to_schema(spec).order()
    per: dict[str, list[int]] = {}
    for name in order:
        r = owner_of(spec, name)
        if r is None:
            per[name] = largest_remainder(totals[name], [1.0] * n_batches)
        else:
            parents = per[r["parent"]]
            per[name] = largest_remainder(totals[name], [float(p) for p in parents])
            _fit_batches(per[name], parents, r)
    return [{name: per[name][b] for name in order} for b in range(n_batches)]


def _fit_batches(children: list[int], parents: list[int], r: dict) -> None:
    """Move child rows between batches until each batch fits min/max children per parent."""
    lo, hi = r.get("min_children", 0), r.get("max_children")
    for _ in range(len(children) * 4):
        floor = [p * lo for p in parents]
        ceil = [p * hi if hi is not None else math.inf for p in parents]
        short = next((b for b, c in enumerate(children) if c < floor[b] or (c > 0 and parents[b] == 0)), None)
        over = next((b for b, c in enumerate(children) if c > ceil[b]), None)
        if short is None and over is None:
            return
        if short is not None:
            if parents[short] == 0:
                give = next((b for b, c in enumerate(children) if parents[b] > 0 and c + children[short] <= ceil[b]),
                            None)
                if give is None:
                    return
                children[give] += children[short]
                children[short] = 0
                continue
            need = floor[short] - children[short]
            donor = max(range(len(children)), key=lambda b: children[b] - floor[b])
            take = min(need, children[donor] - floor[donor])
            if take <= 0:
                return
            children[donor] -= take
            children[short] += take
        else:
            extra = children[over] - int(ceil[over])
            taker = max(range(len(children)), key=lambda b: (ceil[b] - children[b]) if parents[b] else -1)
            room = ceil[taker] - children[taker]
            move = int(min(extra, room))
            if move <= 0:
                return
            children[over] -= move
            children[taker] += move


def check_capacity(spec: dict, totals: dict[str, int]) -> None:
    """400 when a unique field cannot hold as many distinct values as its schema gets rows."""
    for i, s in enumerate(spec["schemas"]):
        n = totals.get(s["name"], 0)
        for j, f in enumerate(s["fields"]):
            if not f.get("unique") or f.get("primary_key"):
                continue
            space = None
            if f.get("choices"):
                space = len(f["choices"])
            elif f["type"] == "STRING" and f.get("pattern"):
                space = pattern_space(f["pattern"])
            elif f["type"] == "INTEGER":
                space = int(f["max"]) - int(f["min"]) + 1
            if space is not None and n > space:
                raise InferloopError("INVALID_REQUEST", f"{s['name']}.{f['name']} is unique but can take only {space} "
                                     f"distinct values, and {n} rows are planned; widen its pattern or range, or "
                                     "make it not unique", f"schemas[{i}].fields[{j}]")


def plan_corpus(spec: dict, corpus_size: int, batch_size: int | None, default_batch: int,
                max_batches: int) -> dict[str, Any]:
    """The corpus plan: totals per schema, batches (counts and global row offsets), warnings."""
    warnings = []
    requested = batch_size or default_batch
    n_batches = max(1, math.ceil(corpus_size / requested))
    if n_batches > max_batches:
        n_batches = max_batches
        effective = math.ceil(corpus_size / n_batches)
        warnings.append(f"batch_size {requested} would make {math.ceil(corpus_size / requested)} batches; it was "
                        f"raised to {effective} so that the corpus runs in {n_batches} batches (at most "
                        f"{max_batches})")
    totals = schema_totals(spec, corpus_size)
    check_capacity(spec, totals)
    roots = min(totals[n] for n in totals if owner_of(spec, n) is None)
    n_batches = max(1, min(n_batches, roots))
    batches = split_batches(spec, totals, n_batches)
    offsets, running = [], {n: 0 for n in totals}
    for counts in batches:
        offsets.append(dict(running))
        for n, c in counts.items():
            running[n] += c
    return {"corpus_size": corpus_size, "batch_size": math.ceil(corpus_size / n_batches), "batches": batches,
            "offsets": offsets, "totals": totals, "warnings": warnings}
