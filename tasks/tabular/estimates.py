"""Rough run-time estimates (seconds) for a generation, from its size and parameters."""

from __future__ import annotations

import math

# measured on 2 CPU cores (see docs/benchmarks.md and ../shared/notes): fixed cost of a run on the pool
# (scheduling, process start, imports, report) and per-unit training costs
RUN_OVERHEAD_S = 12.0
COPULA_S_PER_CELL = 2e-5
# seconds per training step (one batch), measured through the platform on UCI Adult slices (8.8k and 32.5k rows,
# benchmarks/estimate_calibration.py; docs/benchmarks.md): CTGAN and CopulaGAN (SDV's and the ctgan library's)
# 0.26, TVAE 0.045; ydata's TensorFlow GANs, not measured so, the earlier overall 0.12
NEURAL_S_PER_STEP = {"ctgan": 0.26, "copulagan": 0.26, "tvae": 0.045}
NEURAL_S_PER_STEP_DEFAULT = 0.12
NEURAL_PREPROCESS_S_PER_CELL = 1e-4
ARGN_S_PER_CELL_EPOCH = 1.3e-5  # TabularARGN: 6.2 s per epoch on 32.5k x 15 (notes §8)
ARGN_TYPICAL_EPOCHS = 35  # early stopping usually ends training well before max_epochs
SAMPLE_S_PER_CELL = 1e-5  # sampling and writing the output, per generated cell
MODEL_LOAD_S = 3.0
PROFILE_S_PER_CELL = 1e-6  # 1,000,000 x 20 profiled in 10-16 s (docs/benchmarks.md, Profiling)


def step_seconds(model_key: str) -> float:
    """Seconds per training step of a neural model: `sdv:ctgan`, `ctgan` (the library), `sdv:tvae`, ..."""
    if model_key.startswith("ydata:"):
        return NEURAL_S_PER_STEP_DEFAULT
    return NEURAL_S_PER_STEP.get(model_key.split(":", 1)[-1], NEURAL_S_PER_STEP_DEFAULT)


def estimate_seconds(model_key: str, params: dict, rows: int | None, columns: int | None,
                     num_rows: int | None) -> int:
    """A rough estimate of a generation's wall time on the embedded CPU worker."""
    rows = rows or num_rows or 10_000
    columns = columns or 10
    cells = rows * columns
    if model_key == "sdv:gaussian_copula":
        train = 3.0 + COPULA_S_PER_CELL * cells
    elif model_key == "tabular_argn":
        epochs = min(int(params.get("max_epochs") or 100), ARGN_TYPICAL_EPOCHS)
        budget = 60 * float(params.get("max_training_time") or 10)
        train = min(5.0 + epochs * cells * ARGN_S_PER_CELL_EPOCH, budget)
    else:
        steps_per_epoch = max(1, math.ceil(rows / max(1, int(params.get("batch_size", 500)))))
        train = (NEURAL_PREPROCESS_S_PER_CELL * cells
                 + int(params.get("epochs", 300)) * steps_per_epoch * step_seconds(model_key))
    sample = SAMPLE_S_PER_CELL * (num_rows or rows) * columns
    return int(math.ceil(RUN_OVERHEAD_S + train + sample))


def estimate_sampling_seconds(num_rows: int, columns: int | None) -> int:
    """Sampling `num_rows` from a saved model: the run's fixed cost, loading the model, the rows."""
    return int(math.ceil(RUN_OVERHEAD_S + MODEL_LOAD_S + SAMPLE_S_PER_CELL * num_rows * (columns or 10)))


def estimate_profile_seconds(rows: int, columns: int, sample_size: int | None = None) -> int:
    """Profiling a table (statistics, distribution fits, correlations, the HTML report)."""
    rows = min(rows, sample_size) if sample_size else rows
    return int(math.ceil(RUN_OVERHEAD_S + PROFILE_S_PER_CELL * rows * columns))
