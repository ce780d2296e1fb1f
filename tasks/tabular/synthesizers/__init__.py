"""The synthesizer registry: algorithm names -> adapters with one fit / sample / save interface.

Importing this package is light (no SDV, ctgan or torch); `build` and `load_model` import them on demand.
"""

from tasks.tabular.synthesizers.base import Progress, Synthesizer, load_model
from tasks.tabular.synthesizers.registry import (ALGORITHMS, MODEL_KEYS, SDV_MODELS, build, clean_params,
                                                 resolve)

__all__ = ["ALGORITHMS", "MODEL_KEYS", "SDV_MODELS", "Progress", "Synthesizer", "build", "clean_params",
           "load_model", "resolve"]
