"""The `sdv:*` model keys: SDV 2.0 single-table synthesizers, wrapped once for its {table: df} API."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
from sdv.metadata import Metadata
from sdv.single_table import (
    CopulaGANSynthesizer,
    CTGANSynthesizer,
    GaussianCopulaSynthesizer,
    TVAESynthesizer,
)

from tasks.synthesizers.base import Progress, Synthesizer
from tasks.synthesizers.ctgan_lib import REPORTING_CLASSES, EpochReporting, epoch_reports

TABLE = "table"
_PASSED_AS_IS = ("epochs", "batch_size", "embedding_dim", "discriminator_steps", "default_distribution")


class _ReportsEpochs:
    """Mixin for SDV's neural synthesizers: the ctgan model SDV builds inside `_fit` reports its epochs.

    SDV assigns `self._model = CTGAN(...)` (or TVAE) and then fits it; the setter gives that model the
    reporting subclass (same state, one extra property) and the synthesizer's epoch callback, if any.
    """

    @property
    def _model(self) -> Any:
        """The underlying ctgan model (None before fitting)."""
        return self.__dict__.get("_model")

    @_model.setter
    def _model(self, model: Any) -> None:
        reporting = REPORTING_CLASSES.get(type(model))
        if reporting is not None:
            model.__class__ = reporting
        callback = self.__dict__.get("epoch_callback")
        if callback is not None and isinstance(model, EpochReporting):
            model.__dict__["epoch_callback"] = callback
        self.__dict__["_model"] = model


class ReportingCTGANSynthesizer(_ReportsEpochs, CTGANSynthesizer):
    """SDV's CTGANSynthesizer, reporting each finished epoch."""


class ReportingCopulaGANSynthesizer(_ReportsEpochs, CopulaGANSynthesizer):
    """SDV's CopulaGANSynthesizer, reporting each finished epoch."""


class ReportingTVAESynthesizer(_ReportsEpochs, TVAESynthesizer):
    """SDV's TVAESynthesizer, reporting each finished epoch."""


SDV_CLASSES: dict[str, type] = {
    "sdv:gaussian_copula": GaussianCopulaSynthesizer,
    "sdv:ctgan": ReportingCTGANSynthesizer,
    "sdv:copulagan": ReportingCopulaGANSynthesizer,
    "sdv:tvae": ReportingTVAESynthesizer,
}


class SDVSynthesizer(Synthesizer):
    """One SDV single-table synthesizer; metadata is detected from the training frame."""

    def __init__(self, model_key: str, params: dict[str, Any]) -> None:
        self.neural = model_key != "sdv:gaussian_copula"
        self.min_rows = 2 if self.neural else 1  # ctgan's per-column Gaussian mixtures need two rows
        super().__init__(model_key, params)
        self._synth: Any = None

    def _fit(self, data: pd.DataFrame, report: Progress) -> None:
        """Detect metadata, build the SDV synthesizer and fit it."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*saving the metadata.*")
            warnings.filterwarnings("ignore", category=FutureWarning)
            metadata = Metadata.detect_from_dataframes(data={TABLE: data})
            synth = SDV_CLASSES[self.model_key](metadata, **self._sdv_kwargs())
            if self.neural:
                _fit_reporting_epochs(synth, data, self.params["epochs"], report)
            else:
                synth.fit({TABLE: data})
        self._synth = synth

    def _sample(self, num_rows: int, seed: int | None) -> pd.DataFrame:
        """Sample; with a seed, rewind SDV's sampling state and seed its model (SDV's only, private, way)."""
        if seed is not None:
            self._synth.reset_sampling()
            if self._synth._model is not None:  # None when every column is an id SDV generates itself
                self._synth._set_random_state(seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            return self._synth.sample(num_rows=num_rows)[TABLE]

    def _training_metadata(self) -> dict[str, Any]:
        """SDV's metadata dict for the modelled columns (it holds real value ranges: treat as data)."""
        return self._synth.get_metadata().to_dict()

    def _sdv_kwargs(self) -> dict[str, Any]:
        """Constructor arguments for the SDV class from the clean params."""
        kwargs = {k: v for k, v in self.params.items() if k in _PASSED_AS_IS}
        kwargs["enforce_min_max_values"] = self.params["enforce_min_max"]
        if self.neural:
            kwargs.update(enable_gpu=self.device == "cuda", verbose=False)
        return kwargs


def _fit_reporting_epochs(synth: Any, data: pd.DataFrame, epochs: int, report: Progress) -> None:
    """Fit a neural SDV synthesizer, passing its epochs to `report`, and leave no callback behind."""
    try:
        with epoch_reports(synth, epochs, report):
            synth.fit({TABLE: data})
    finally:
        if synth._model is not None:
            synth._model.__dict__.pop("epoch_callback", None)
