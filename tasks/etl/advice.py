"""Storage recommendation (POST /storage/recommend): a transparent rule table over size, growth, access
pattern and query types. Every score comes with the reasons that made it; nothing is guessed by a model."""

from __future__ import annotations

import re
from typing import Any

from inferloop.core.errors import InferloopError

ACCESS = ("read_heavy", "write_heavy", "mixed", "append_only")
QUERIES = ("analytical", "time_series", "transactional", "key_value", "point_lookup", "full_text", "ad_hoc",
           "reporting", "streaming")
UNITS = {"kb": 1 / 2 ** 20, "mb": 1 / 1024, "gb": 1.0, "tb": 1024.0, "pb": 1024.0 ** 2}
PERIODS = {"day": 30.4375, "week": 4.348, "month": 1.0, "year": 1 / 12}

CANDIDATES: dict[str, dict[str, Any]] = {
    "postgresql": {"label": "PostgreSQL", "good": {"transactional", "point_lookup", "reporting", "ad_hoc"},
                   "max_gb": 2048, "writes": True},
    "timescaledb": {"label": "PostgreSQL + TimescaleDB (hypertables)", "good": {"time_series", "analytical",
                                                                                "reporting"},
                    "max_gb": 20_480, "writes": True},
    "clickhouse": {"label": "ClickHouse (MergeTree)", "good": {"analytical", "time_series", "reporting", "ad_hoc"},
                   "max_gb": 1_000_000, "writes": False},
    "parquet_s3": {"label": "Parquet on object storage (s3://, partitioned) + a query engine",
                   "good": {"analytical", "ad_hoc", "reporting"}, "max_gb": 10_000_000, "writes": False},
    "mariadb": {"label": "MySQL / MariaDB (InnoDB)", "good": {"transactional", "point_lookup"}, "max_gb": 1024,
                "writes": True},
    "redis": {"label": "Redis", "good": {"key_value", "point_lookup", "streaming"}, "max_gb": 64, "writes": True},
    "opensearch": {"label": "OpenSearch / Elasticsearch", "good": {"full_text"}, "max_gb": 100_000,
                   "writes": True},
}


def invalid(message: str, field: str) -> InferloopError:
    return InferloopError("INVALID_REQUEST", message, field)


def growth_gb_per_month(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(kb|mb|gb|tb|pb)\s*(?:/|per)\s*(day|week|month|year)\s*", value, re.I)
        if m:
            return float(m.group(1)) * UNITS[m.group(2).lower()] * PERIODS[m.group(3).lower()]
    raise invalid("data_profile.growth_rate must look like '10GB/month' (KB|MB|GB|TB per day|week|month|year) "
                  "or be a number of GB per month", "data_profile.growth_rate")


def recommend(profile: dict) -> dict:
    if not isinstance(profile, dict):
        raise invalid("data_profile must be an object", "data_profile")
    size = profile.get("size_gb")
    if isinstance(size, bool) or not isinstance(size, (int, float)) or size < 0:
        raise invalid("data_profile.size_gb must be a number of gigabytes (0 or more)", "data_profile.size_gb")
    growth = growth_gb_per_month(profile.get("growth_rate"))
    access = profile.get("access_pattern", "mixed")
    if access not in ACCESS:
        raise invalid(f"data_profile.access_pattern must be one of {', '.join(ACCESS)}", "data_profile.access_pattern")
    queries = profile.get("query_types") or []
    if not isinstance(queries, list) or any(q not in QUERIES for q in queries):
        raise invalid(f"data_profile.query_types must be a list of: {', '.join(QUERIES)}", "data_profile.query_types")
    in_12 = size + 12 * growth
    in_36 = size + 36 * growth
    out = []
    for key, c in CANDIDATES.items():
        score, reasons = 0.5, []
        hits = set(queries) & c["good"]
        misses = set(queries) - c["good"]
        if hits:
            score += 0.15 * len(hits)
            reasons.append(f"suits {', '.join(sorted(hits))} queries")
        if misses:
            score -= 0.1 * len(misses)
            reasons.append(f"weaker for {', '.join(sorted(misses))} queries")
        if in_36 > c["max_gb"]:
            score -= 0.35
            reasons.append(f"~{in_36:,.0f} GB in 3 years exceeds what one {c['label']} node handles comfortably")
        else:
            reasons.append(f"~{in_12:,.0f} GB in a year fits")
        if access == "write_heavy":
            score += 0.1 if c["writes"] or key == "clickhouse" else -0.2
            reasons.append("handles frequent writes" if c["writes"] or key == "clickhouse"
                           else "better for batched writes")
        if access == "append_only" and key in ("clickhouse", "parquet_s3", "timescaledb"):
            score += 0.1
            reasons.append("append-only data suits immutable, columnar storage")
        if access == "read_heavy" and key in ("clickhouse", "parquet_s3", "postgresql"):
            score += 0.05
        if not queries and key == "postgresql":
            score += 0.1
            reasons.append("general-purpose default when the query mix is unknown")
        out.append({"storage": key, "label": c["label"], "score": round(max(0.0, min(1.0, score)), 2),
                    "reasons": reasons, "configuration": _config(key, in_12, queries)})
    out.sort(key=lambda r: -r["score"])
    return {"recommendations": out, "primary": out[0],
            "projections": {"size_gb_now": round(float(size), 2), "growth_gb_per_month": round(growth, 3),
                            "size_gb_in_12_months": round(in_12, 2), "size_gb_in_36_months": round(in_36, 2)},
            "partitioning": "by_date (monthly)" if in_12 >= 100 or "time_series" in queries else "none",
            "compression": "zstd (columnar)" if {"analytical", "time_series"} & set(queries) else "lz4 / page",
            "engine": "rules (offline)"}


def _config(key: str, size_gb: float, queries: list[str]) -> dict:
    if key in ("postgresql", "timescaledb"):
        return {"partitioning": "monthly range partitions" if size_gb >= 100 else "none",
                "indexes": "BRIN on time columns" if "time_series" in queries else "B-tree on keys",
                **({"chunk_time_interval": "7 days"} if key == "timescaledb" else {})}
    if key == "clickhouse":
        return {"engine": "MergeTree", "order_by": "(time, key)", "partition_by": "toYYYYMM(time)"}
    if key == "parquet_s3":
        return {"format": "parquet", "compression": "zstd", "layout": "year=/month= partitions",
                "file_size_mb": 256}
    if key == "redis":
        return {"eviction": "allkeys-lru", "persistence": "AOF everysec"}
    if key == "mariadb":
        return {"engine": "InnoDB", "partitioning": "RANGE by month" if size_gb >= 100 else "none"}
    return {"shards": max(1, round(size_gb / 50))}
