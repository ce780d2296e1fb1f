"""The checks of a generation request's row count and seed, made once here for every path that takes them: the
API before it starts a run (a 400 with nothing started) and the flows (plain Python flow calls skip the API)."""

from __future__ import annotations

from typing import Any

from inferloop.core.errors import invalid_request

MAX_SEED = 2**32 - 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_num_rows(num_rows: Any, max_rows: int) -> int:
    """`num_rows` as an int, or INVALID_REQUEST (field num_rows) unless it is an integer in 1..max_rows."""
    if not (_is_int(num_rows) and 1 <= num_rows <= max_rows):
        raise invalid_request(f"num_rows must be an integer between 1 and {max_rows}", "num_rows")
    return num_rows


def check_seed(seed: Any) -> int | None:
    """`seed` (None: none given), or INVALID_REQUEST (field seed) unless it is an integer in 0..2^32-1."""
    if seed is not None and not (_is_int(seed) and 0 <= seed <= MAX_SEED):
        raise invalid_request("seed must be an integer between 0 and 2^32-1", "seed")
    return seed
