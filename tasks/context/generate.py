"""Vectorised generation of related tables from a spec: numpy draws, polars columns, Faker only via pools.

For one batch (a sample is one batch): every schema in parent-first order; an owned schema's rows are
shared out over its parent's rows of the batch (min/max/mean children per parent); keys are functions of a
row's global number (INTEGER: 1, 2, ...; UUID: a seeded 128-bit mix), so a lookup reference to any row of
another batch needs no data; rules hold by construction: `product` fields are computed from their
factors, `after` dates from their base date plus an offset, and `sum` fields from their children's
values (in integer units of their decimals, so sums are exact).

Each field draws from its own random stream (seed, batch, schema, field): adding, removing or retyping
one field leaves the others' values unchanged, which makes feedback's effect on a sample easy to see.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import polars as pl

from tasks.context.fields import NUMERIC
from tasks.context.pools import local_pattern, pool, stable_seed
from tasks.context.spec import DEFAULT_NULL_RATE, field_of, owner_of, parse_date, to_schema
from tasks.tabular.multitable.keys import KeyFormat

EPOCH = np.datetime64("1970-01-01", "D")
_M = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
UNIQUE_PRIME = 1_000_003


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 of every element (uint64)."""
    with np.errstate(over="ignore"):
        x = x + _M[0]
        x = (x ^ (x >> np.uint64(30))) * _M[1]
        x = (x ^ (x >> np.uint64(27))) * _M[2]
        return x ^ (x >> np.uint64(31))


def uuid_keys(seed: int, schema: str, idx: np.ndarray) -> pl.Series:
    """Version-4 UUID text for global row numbers `idx` of a schema (the same number gives the same UUID)."""
    base = np.uint64(stable_seed("uuid", seed, schema)) << np.uint64(32)
    hi = _mix(idx.astype(np.uint64) ^ base)
    lo = _mix(hi ^ np.uint64(0x5851F42D4C957F2D))
    hi = (hi & ~np.uint64(0xF000)) | np.uint64(0x4000)
    lo = (lo & np.uint64(0x3FFFFFFFFFFFFFFF)) | np.uint64(0x8000000000000000)
    raw = np.empty((len(idx), 2), dtype=">u8")
    raw[:, 0], raw[:, 1] = hi, lo
    h = pl.Series(raw.view("S16").ravel()).bin.encode("hex")
    return pl.select(pl.concat_str([h.str.slice(0, 8), pl.lit("-"), h.str.slice(8, 4), pl.lit("-"),
                                    h.str.slice(12, 4), pl.lit("-"), h.str.slice(16, 4), pl.lit("-"),
                                    h.str.slice(20, 12)])).to_series()


def key_values(spec_schema: dict, seed: int, idx: np.ndarray) -> pl.Series:
    """The primary key values of global rows `idx` of a schema."""
    pk = field_of(spec_schema, spec_schema["primary_key"])
    if pk["type"] == "INTEGER":
        return pl.Series(idx.astype(np.int64) + 1)
    return uuid_keys(seed, spec_schema["name"], idx)


def own_keys(spec_schema: dict, seed: int, offset: int, n: int) -> pl.Series:
    """The keys of a batch's rows: INTEGER ones through the multi-table key format (1-based, from offset)."""
    pk = field_of(spec_schema, spec_schema["primary_key"])
    if pk["type"] == "INTEGER":
        keys = KeyFormat("integer", start=offset + 1).make(n, np.random.default_rng(0))
        return pl.Series(keys.to_numpy().astype(np.int64))
    return key_values(spec_schema, seed, np.arange(offset, offset + n, dtype=np.int64))


def children_per_parent(n_parents: int, n: int, rel: dict, rng: np.random.Generator) -> np.ndarray:
    """How many of `n` child rows each parent row owns: at least min, at most max, skewed like real data."""
    if n_parents == 0:
        if n:
            raise ValueError(f"{n} child rows of {rel['child']} have no {rel['parent']} row to belong to")
        return np.zeros(0, dtype=np.int64)
    lo, hi = int(rel.get("min_children", 0)), rel.get("max_children")
    if n < lo * n_parents:  # the plan avoids this; never make more rows than asked
        lo = n // n_parents
    counts = np.full(n_parents, lo, dtype=np.int64)
    extra = n - lo * n_parents
    if extra <= 0:
        return counts
    w = rng.gamma(2.0, 1.0, n_parents)
    counts += rng.multinomial(extra, w / w.sum())
    if hi is not None:
        for _ in range(50):  # move what spills over max to rows with room (the plan keeps n <= parents x max)
            over = np.maximum(counts - hi, 0)
            spill = int(over.sum())
            if spill == 0:
                break
            counts -= over
            room = hi - counts
            open_rows = np.flatnonzero(room > 0)
            if len(open_rows) == 0:
                counts += over
                break
            counts[open_rows] += rng.multinomial(spill, room[open_rows] / room[open_rows].sum())
    return counts


# --- single fields --------------------------------------------------------------------------------------

def _numbers(f: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    lo, hi = float(f["min"]), float(f["max"])
    dist = f.get("distribution", "uniform")
    mean = float(f.get("mean", (lo + hi) / 2))
    if dist == "normal":
        x = rng.normal(mean, float(f.get("std", (hi - lo) / 6 or 1.0)), n)
    elif dist == "lognormal":
        median = max(mean, 1e-9) if mean > 0 else max((lo + hi) / 2, 1e-9)
        sigma = float(f["std"]) if 0 < float(f.get("std", 0)) <= 3 else 0.8  # std of the log for lognormal
        x = np.exp(rng.normal(np.log(median), sigma, n))
    elif dist == "poisson":
        x = lo + rng.poisson(max(mean - lo, 0.1), n)
    elif f["type"] == "INTEGER":
        return rng.integers(int(lo), int(hi) + 1, n, dtype=np.int64)
    else:
        x = rng.uniform(lo, hi, n)
    x = np.clip(x, lo, hi)
    if f["type"] == "INTEGER":
        return np.clip(np.rint(x), lo, hi).astype(np.int64)
    decimals = f.get("decimals")
    return np.round(x, decimals) if decimals is not None else x


def _pick(choices: list, weights: list | None, n: int, rng: np.random.Generator) -> np.ndarray:
    p = None
    if weights:
        w = np.asarray(weights, dtype=float)
        p = w / w.sum()
    return rng.choice(len(choices), n, p=p)


def _from_pool(values: pl.Series, n: int, rng: np.random.Generator) -> pl.Series:
    return values.gather(rng.integers(0, len(values), n))


def _bijective(global_idx: np.ndarray, space: int, seed: int) -> np.ndarray:
    """Distinct numbers in [0, space) for distinct row numbers (a permutation by a prime multiplier)."""
    p = UNIQUE_PRIME
    while np.gcd(p, space) != 1:
        p += 2
    off = stable_seed("offset", seed) % space
    return ((global_idx.astype(np.uint64) * np.uint64(p) + np.uint64(off)) % np.uint64(space)).astype(np.uint64)


def pattern_space(pattern: str) -> int:
    return 10 ** pattern.count("#") * 26 ** pattern.count("?")


def _pattern(pattern: str, n: int, rng: np.random.Generator, unique_idx: np.ndarray | None, seed: int) -> pl.Series:
    """Text like 'SKU-######' ('#' a digit, '?' a capital letter); distinct per row number when unique."""
    tokens = re.findall(r"#+|\?+|[^#?]+", pattern)
    v = _bijective(unique_idx, pattern_space(pattern), seed) if unique_idx is not None else None
    parts: list[pl.Series | pl.Expr] = []
    for tok in reversed(tokens):
        k = len(tok)
        if tok[0] == "#":
            if v is not None:
                num, v = v % np.uint64(10 ** k), v // np.uint64(10 ** k)
            else:
                num = rng.integers(0, 10 ** k, n, dtype=np.int64)
            parts.append(pl.Series(num.astype(np.int64)).cast(pl.String).str.zfill(k))
        elif tok[0] == "?":
            letters = np.empty((n, k), dtype=np.uint8)
            if v is not None:
                for j in range(k - 1, -1, -1):
                    letters[:, j] = (v % np.uint64(26)).astype(np.uint8) + 65
                    v = v // np.uint64(26)
            else:
                letters[:] = rng.integers(65, 91, (n, k), dtype=np.uint8)
            parts.append(pl.Series(letters.view(f"S{k}").ravel()).cast(pl.String))
        else:
            parts.append(pl.lit(tok))
    return pl.select(pl.concat_str(list(reversed(parts)))).to_series()


def _dates(f: dict, n: int, rng: np.random.Generator) -> pl.Series:
    lo = (np.datetime64(parse_date(f["min"], "min")) - EPOCH).astype(np.int64)
    hi = (np.datetime64(parse_date(f["max"], "max")) - EPOCH).astype(np.int64)
    days = rng.integers(lo, hi + 1, n, dtype=np.int64)
    if f["type"] == "DATE":
        return pl.Series(days.astype(np.int32)).cast(pl.Date)
    micros = days * 86_400_000_000 + rng.integers(7 * 3600, 21 * 3600, n, dtype=np.int64) * 1_000_000
    return pl.Series(micros).cast(pl.Datetime("us"))


class TableBuilder:
    """The columns of one schema's rows in one batch."""

    def __init__(self, spec: dict, schema: dict, n: int, offset: int, seed: int, batch: int):
        self.spec, self.schema, self.n, self.offset, self.seed, self.batch = spec, schema, n, offset, seed, batch
        self.cols: dict[str, pl.Series] = {}
        self.locale = spec.get("locale", "en_US")

    def rng(self, field: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.batch, stable_seed(self.schema["name"], field)])

    def global_idx(self) -> np.ndarray:
        return np.arange(self.offset, self.offset + self.n, dtype=np.int64)

    def pool(self, kind: str) -> pl.Series:
        return pool(kind, self.locale, self.seed)

    def value(self, f: dict) -> pl.Series:
        """A column of a field with no rule tying it to others."""
        t, n, rng = f["type"], self.n, self.rng(f["name"])
        unique = f.get("unique", False)
        if t in NUMERIC:
            if f.get("choices"):
                return pl.Series(np.asarray(f["choices"], dtype=np.int64)[_pick(f["choices"], f.get("weights"), n, rng)])
            if unique and t == "INTEGER":
                space = int(f["max"]) - int(f["min"]) + 1
                return pl.Series(_bijective(self.global_idx(), space, stable_seed(self.seed, f["name"])).astype(
                    np.int64) + int(f["min"]))
            values = _numbers(f, n, rng)
            return pl.Series(values)
        if t == "BOOLEAN":
            return pl.Series(rng.random(n) < float(f.get("probability", 0.5)))
        if t in ("DATE", "DATETIME"):
            return _dates(f, n, rng)
        if t in ("CATEGORY",) or (t == "STRING" and f.get("choices")):
            choices = [str(c) for c in f["choices"]]
            return pl.Series(choices, dtype=pl.Enum(choices)).gather(_pick(choices, f.get("weights"), n, rng))
        uidx = self.global_idx() if unique else None
        if t == "STRING" and f.get("pattern"):
            return _pattern(f["pattern"], n, rng, uidx, stable_seed(self.seed, self.schema["name"], f["name"]))
        if t in ("PHONE", "POSTAL_CODE"):
            pat = local_pattern(t, self.locale)
            if pat:
                return _pattern(pat, n, rng, uidx, stable_seed(self.seed, f["name"]))
            return self._unique_suffix(_from_pool(self.pool(t.lower()), n, rng).cast(pl.String), uidx)
        if t == "UUID":
            return uuid_keys(self.seed, f"{self.schema['name']}.{f['name']}", self.global_idx())
        kind = {"FIRST_NAME": "first_name", "LAST_NAME": "last_name", "CITY": "city", "STATE": "state",
                "COUNTRY": "country", "COMPANY": "company", "TEXT": "text", "ADDRESS": "street_address"}.get(t)
        if t == "STRING":
            kind = f.get("faker", "word")
        if t == "NAME":
            return self._full_name(rng, uidx)
        if t == "EMAIL":
            return self._email(rng, unique)
        values = _from_pool(self.pool(kind), n, rng)
        return self._unique_suffix(values.cast(pl.String), uidx) if unique else values

    def _unique_suffix(self, values: pl.Series, uidx: np.ndarray | None) -> pl.Series:
        if uidx is None:
            return values
        return pl.select(pl.concat_str([values, pl.lit("-"), pl.Series(uidx + 1).cast(pl.String)])).to_series()

    def _names(self, rng: np.random.Generator) -> tuple[pl.Series, pl.Series]:
        """First and last names: the row's own columns when the schema has them."""
        first = next((self.cols[f["name"]] for f in self.schema["fields"] if f["type"] == "FIRST_NAME"
                      and f["name"] in self.cols), None)
        last = next((self.cols[f["name"]] for f in self.schema["fields"] if f["type"] == "LAST_NAME"
                     and f["name"] in self.cols), None)
        full = next((self.cols[f["name"]] for f in self.schema["fields"] if f["type"] == "NAME"
                     and f["name"] in self.cols), None)
        if (first is None or last is None) and full is not None:  # the row's own full name
            parts = full.cast(pl.String).str.split_exact(" ", 1)
            first, last = parts.struct.field("field_0"), parts.struct.field("field_1")
        if first is None:
            first = _from_pool(self.pool("first_name"), self.n, rng)
        if last is None:
            last = _from_pool(self.pool("last_name"), self.n, rng)
        return first.cast(pl.String).fill_null("Alex"), last.cast(pl.String).fill_null("Smith")

    def _full_name(self, rng: np.random.Generator, uidx: np.ndarray | None) -> pl.Series:
        first, last = self._names(rng)
        return self._unique_suffix(pl.select(pl.concat_str([first, pl.lit(" "), last])).to_series(), uidx)

    def _email(self, rng: np.random.Generator, unique: bool) -> pl.Series:
        first, last = self._names(rng)
        clean = [s.str.to_lowercase().str.replace_all(r"[^a-z0-9]", "") for s in (first, last)]
        if unique:
            tail = pl.Series(self.global_idx() + 1).cast(pl.String)
        else:
            num = rng.integers(1, 100, self.n)
            tail = pl.Series(np.where(rng.random(self.n) < 0.5, num, -1)).cast(pl.String).str.replace("-1", "", literal=True)
        domains = _from_pool(self.pool("email_domain"), self.n, rng).cast(pl.String)
        return pl.select(pl.concat_str([clean[0], pl.lit("."), clean[1], tail, pl.lit("@"), domains])).to_series()


def _order_fields(schema: dict) -> list[dict]:
    """Fields in the order they can be made: plain values, names before e-mails, then rules."""
    rank = {"FIRST_NAME": 0, "LAST_NAME": 0, "NAME": 1, "EMAIL": 2}
    plain = [f for f in schema["fields"] if not (f.get("derived") or f.get("after") or f.get("references")
                                                   or f.get("primary_key"))]
    plain.sort(key=lambda f: rank.get(f["type"], 0))
    ruled = [f for f in schema["fields"] if f.get("after") or (f.get("derived") or {}).get("kind") == "product"]
    done, ordered = {f["name"] for f in plain}, []
    while ruled:  # an `after` may build on another rule's field
        ready = [f for f in ruled if (f.get("after") or {}).get("schema") or
                 (f.get("after") or {}).get("field", "") in done or (f.get("derived") and not f.get("after"))]
        if not ready:
            ready = ruled[:1]
        for f in ready:
            ordered.append(f)
            done.add(f["name"])
            ruled.remove(f)
    return plain + ordered


def protected_fields(spec: dict) -> set[tuple[str, str]]:
    """(schema, field) that other fields are computed from: they are never left empty."""
    out = set()
    for s in spec["schemas"]:
        for f in s["fields"]:
            d, a = f.get("derived") or {}, f.get("after") or {}
            if d.get("kind") == "product":
                out |= {(s["name"], x) for x in d.get("fields", [])}
            if d.get("kind") == "sum":
                out.add((d["schema"], d["field"]))
            if a:
                out.add((a.get("schema") or s["name"], a["field"]))
    return out


def _after(f: dict, base: pl.Series, n: int, rng: np.random.Generator) -> pl.Series:
    """Dates/times on or after `base` by min_days..max_days."""
    a = f["after"]
    days = rng.integers(int(a["min_days"]), int(a["max_days"]) + 1, n, dtype=np.int64)
    if f["type"] == "DATE":
        base_days = (base.cast(pl.Date) if base.dtype != pl.Date else base).cast(pl.Int32).to_numpy().astype(np.int64)
        return pl.Series((base_days + days).astype(np.int32)).cast(pl.Date)
    if base.dtype == pl.Date:
        base_us = base.cast(pl.Int32).to_numpy().astype(np.int64) * 86_400_000_000
        jitter = rng.integers(8 * 3600, 20 * 3600, n, dtype=np.int64) * 1_000_000
    else:
        base_us = base.cast(pl.Datetime("us")).cast(pl.Int64).to_numpy()
        jitter = rng.integers(0, 12 * 3600, n, dtype=np.int64) * 1_000_000
        if a["min_days"] == 0 and not a.get("or_equal"):
            jitter = jitter + 1_000_000
    return pl.Series(base_us + days * 86_400_000_000 + jitter).cast(pl.Datetime("us"))


def scale_of(f: dict) -> int:
    """10**decimals of a numeric field (1 for integers): sums are exact in these units."""
    if f["type"] == "INTEGER":
        return 1
    return 10 ** int(f.get("decimals", 2) if f.get("decimals") is not None else 6)


def generate_tables(spec: dict, counts: dict[str, int], offsets: dict[str, int], totals: dict[str, int],
                    seed: int, batch: int = 0) -> dict[str, pl.DataFrame]:
    """One batch of every schema: {schema: DataFrame} (columns in field order)."""
    order = to_schema(spec).order()
    by_name = {s["name"]: s for s in spec["schemas"]}
    builders: dict[str, TableBuilder] = {}
    parent_idx: dict[str, np.ndarray] = {}
    keep = protected_fields(spec)
    for name in order:
        schema, n = by_name[name], counts[name]
        b = builders[name] = TableBuilder(spec, schema, n, offsets[name], seed, batch)
        b.cols[schema["primary_key"]] = own_keys(schema, seed, offsets[name], n)
        owner = owner_of(spec, name)
        if owner is not None:
            per = children_per_parent(counts[owner["parent"]], n, owner, b.rng("__children__"))
            parent_idx[name] = np.repeat(np.arange(len(per)), per)
            b.cols[owner["child_key"]] = builders[owner["parent"]].cols[owner["parent_key"]].gather(parent_idx[name])
        for r in spec["relationships"]:
            if r["child"] == name and r["role"] == "lookup":
                total = max(1, totals[r["parent"]])
                u = b.rng(f"__ref__{r['child_key']}").random(n)
                idx = np.minimum((total * u ** 1.6).astype(np.int64), total - 1)  # popular rows first
                b.cols[r["child_key"]] = key_values(by_name[r["parent"]], seed, idx)
        for f in _order_fields(schema):
            rng = b.rng(f["name"])
            if f.get("after"):
                a = f["after"]
                if a.get("schema"):
                    base = builders[a["schema"]].cols[a["field"]].gather(parent_idx[name])
                else:
                    base = b.cols[a["field"]]
                b.cols[f["name"]] = _after(f, base, n, rng)
            elif (f.get("derived") or {}).get("kind") == "product":
                x, y = (b.cols[k].cast(pl.Float64).to_numpy() for k in f["derived"]["fields"])
                v = x * y
                b.cols[f["name"]] = pl.Series(np.round(v).astype(np.int64) if f["type"] == "INTEGER"
                                              else np.round(v, f.get("decimals", 2)))
            else:
                b.cols[f["name"]] = b.value(f)
    for name in reversed(order):  # sums, children first (a sum may add up other sums)
        schema = by_name[name]
        for f in schema["fields"]:
            d = f.get("derived") or {}
            if d.get("kind") != "sum":
                continue
            child = d["schema"]
            unit = scale_of(f)
            values = np.rint(builders[child].cols[d["field"]].cast(pl.Float64).fill_null(0).to_numpy() * unit)
            sums = np.bincount(parent_idx[child], weights=values, minlength=counts[name])
            builders[name].cols[f["name"]] = pl.Series(sums.astype(np.int64)) if f["type"] == "INTEGER" else \
                pl.Series(sums / unit)
    frames = {}
    for name in order:
        schema, b = by_name[name], builders[name]
        for f in schema["fields"]:
            if f["required"] or f.get("primary_key") or f.get("references") or f.get("derived") \
                    or (name, f["name"]) in keep:
                continue
            rate = float(f.get("null_rate", DEFAULT_NULL_RATE))
            if rate > 0:
                mask = pl.Series(b.rng(f"__null__{f['name']}").random(b.n) < rate)
                col = b.cols[f["name"]]
                b.cols[f["name"]] = pl.select(pl.when(mask).then(None).otherwise(col)).to_series().alias(f["name"])
        frames[name] = pl.DataFrame([b.cols[f["name"]].alias(f["name"]) for f in schema["fields"]])
    return frames


def sample_rows(frames: dict[str, pl.DataFrame]) -> dict[str, list[dict[str, Any]]]:
    """JSON-ready rows (dates as ISO text)."""
    out = {}
    for name, df in frames.items():
        conv = df.with_columns(
            [pl.col(c).dt.to_string("%Y-%m-%dT%H:%M:%S") for c, t in df.schema.items() if isinstance(t, pl.Datetime)]
            + [pl.col(c).dt.to_string("%Y-%m-%d") for c, t in df.schema.items() if t == pl.Date]
            + [pl.col(c).cast(pl.String) for c, t in df.schema.items() if isinstance(t, pl.Enum)])
        out[name] = conv.to_dicts()
    return out
