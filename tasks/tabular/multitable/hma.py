"""Method `hma`: SDV 2.0's HMASynthesizer over the related tables (Gaussian copulas, <= 5 tables, depth <= 2)."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd

from tasks.tabular.multitable.metadata import sdv_metadata
from tasks.tabular.multitable.model import MultiTableModel, Progress
from tasks.tabular.synthesizers.base import _as_algorithm_errors, seeded


class HMAModel(MultiTableModel):
    """SDV's hierarchical model: each parent learns its children's counts and parameters."""

    method = "hma"

    def __init__(self, schema, model_key: str, params: dict[str, Any]) -> None:
        super().__init__(schema, model_key, params)
        self._synth: Any = None

    def _fit(self, frames: dict[str, pd.DataFrame], seed: int | None, report: Progress) -> None:
        from sdv.multi_table import HMASynthesizer

        related = {t: frames[t].reset_index(drop=True) for t in self.schema.related}
        report(0.05, f"HMA on {len(related)} related tables")
        with warnings.catch_warnings(), seeded(seed), _as_algorithm_errors("multitable:hma", "fit"):
            warnings.simplefilter("ignore")
            synth = HMASynthesizer(sdv_metadata(related, self.schema), verbose=False)
            for table in related:
                synth.set_table_parameters(table, {
                    "default_distribution": self.params.get("default_distribution", "beta"),
                    "enforce_min_max_values": bool(self.params.get("enforce_min_max", True))})
            synth.fit(related)
        self._synth = synth
        report(0.85, "HMA fitted")
        self._fit_standalone(frames, self.schema.standalone, seed)

    def _sample(self, scale: float, seed: int | None) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
        with warnings.catch_warnings(), seeded(seed), _as_algorithm_errors("multitable:hma", "sample"):
            warnings.simplefilter("ignore")
            if seed is not None:
                self._synth.reset_sampling()
            sampled = self._synth.sample_scale(scale=scale)
        frames = {t: df.reset_index(drop=True) for t, df in sampled.items()}
        trimmed = {}
        for r in self.schema.relationships:  # HMA learns child counts, not "at most one": enforce one_to_one
            if r.type == "one_to_one":
                fk = frames[r.child][r.child_key]
                extra = fk.notna() & fk.duplicated()
                if extra.any():
                    trimmed[r.child] = trimmed.get(r.child, 0) + int(extra.sum())
                    frames[r.child] = frames[r.child][~extra].reset_index(drop=True)
        frames.update(self._sample_standalone(self.schema.standalone, scale, seed))
        return frames, ({"one_to_one_trimmed": trimmed} if trimmed else {})
