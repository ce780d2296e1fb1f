"""Algorithm names -> model keys -> adapters, with request parameters validated and normalised."""

from __future__ import annotations

from typing import Any

from inferloop.errors import InferloopError, invalid_request
from tasks.synthesizers.base import Synthesizer, coerce_bool, coerce_int

ALGORITHMS: tuple[str, ...] = ("sdv", "ctgan", "ydata")
SDV_MODELS: tuple[str, ...] = ("gaussian_copula", "ctgan", "copulagan", "tvae")
MODEL_KEYS: tuple[str, ...] = (*(f"sdv:{m}" for m in SDV_MODELS), "ctgan")
DISTRIBUTIONS: tuple[str, ...] = ("norm", "beta", "truncnorm", "gamma", "uniform", "gaussian_kde")
PAC = 10  # ctgan's discriminator sees samples in packs of 10: batch_size must be a multiple of it

DEFAULTS: dict[str, Any] = {
    "epochs": 300, "batch_size": 500, "embedding_dim": 128, "discriminator_steps": 1,
    "default_distribution": "beta", "enforce_min_max": True,
}
INT_LIMITS: dict[str, tuple[int, int]] = {
    "epochs": (1, 100_000), "batch_size": (1, 1_000_000), "embedding_dim": (1, 4096),
    "discriminator_steps": (1, 100),
}
_GAN = ("epochs", "batch_size", "embedding_dim", "discriminator_steps", "enforce_min_max")
MODEL_PARAMS: dict[str, tuple[str, ...]] = {
    "sdv:gaussian_copula": ("default_distribution", "enforce_min_max"),
    "sdv:ctgan": _GAN,
    "sdv:copulagan": (*_GAN, "default_distribution"),
    "sdv:tvae": ("epochs", "batch_size", "embedding_dim", "enforce_min_max"),
    "ctgan": _GAN,
}
_PACKED = {"sdv:ctgan", "sdv:copulagan", "ctgan"}


def resolve(algorithm: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Validate an algorithm and its parameters; return (model_key, params with defaults filled in).

    Idempotent: resolve(algorithm, resolve(algorithm, p)[1]) == resolve(algorithm, p).
    """
    params = dict(params or {})
    name = _text(algorithm) or "sdv"
    if name not in ALGORITHMS:
        raise InferloopError("INVALID_ALGORITHM", f"Algorithm '{algorithm}' is not supported. "
                             f"Valid options are: {', '.join(ALGORITHMS)}", "algorithm")
    if name == "ydata":
        raise InferloopError("ALGORITHM_ERROR", "Algorithm 'ydata' is not available yet on this server; "
                             "use sdv or ctgan instead", "algorithm")
    model_key = "ctgan" if name == "ctgan" else f"sdv:{_sdv_model(params.get('sdv_model'))}"
    clean = clean_params(model_key, params)
    if model_key.startswith("sdv:"):  # kept, so that resolve(algorithm, clean) gives the same model again
        clean = {"sdv_model": model_key.split(":", 1)[1], **clean}
    return model_key, clean


def clean_params(model_key: str, params: dict[str, Any]) -> dict[str, Any]:
    """Keep the parameters `model_key` uses, coerced and range-checked, with defaults for missing ones."""
    if model_key not in MODEL_PARAMS:
        raise InferloopError("INVALID_ALGORITHM", f"Unknown model '{model_key}'. "
                             f"Valid models are: {', '.join(MODEL_KEYS)}", "algorithm")
    clean = {}
    for name in MODEL_PARAMS[model_key]:
        value = params.get(name)
        missing = value is None or (isinstance(value, str) and not value.strip())
        clean[name] = DEFAULTS[name] if missing else _coerce(name, value)
    if model_key in _PACKED and clean["batch_size"] % PAC:
        raise invalid_request(f"batch_size must be a multiple of {PAC} for {model_key} (its discriminator "
                              f"reads samples in packs of {PAC}), got {clean['batch_size']}", "batch_size")
    return clean


def build(model_key: str, params: dict[str, Any]) -> Synthesizer:
    """Create the unfitted adapter for `model_key` (params are re-validated, so raw ones work too)."""
    clean = clean_params(model_key, params)
    if model_key == "ctgan":
        from tasks.synthesizers.ctgan_lib import CTGANLibSynthesizer

        return CTGANLibSynthesizer(model_key, clean)
    from tasks.synthesizers.sdv_models import SDVSynthesizer

    return SDVSynthesizer(model_key, clean)


def _coerce(name: str, value: Any) -> Any:
    """Coerce one parameter value (possibly a form string) to its type, or raise INVALID_REQUEST."""
    if name in INT_LIMITS:
        low, high = INT_LIMITS[name]
        return coerce_int(name, value, low, high)
    if name == "enforce_min_max":
        return coerce_bool(name, value)
    distribution = _text(value)
    if distribution not in DISTRIBUTIONS:
        raise invalid_request(f"default_distribution '{value}' is not supported. "
                              f"Valid options are: {', '.join(DISTRIBUTIONS)}", "default_distribution")
    return distribution


def _sdv_model(value: Any) -> str:
    """Normalise the sdv_model parameter (default gaussian_copula)."""
    model = (_text(value) or "gaussian_copula").replace("-", "_")
    if model not in SDV_MODELS:
        raise invalid_request(f"sdv_model '{value}' is not supported. "
                              f"Valid options are: {', '.join(SDV_MODELS)}", "sdv_model")
    return model


def _text(value: Any) -> str:
    """Lower-cased, stripped text of a name given by a client ('' for None)."""
    return "" if value is None else str(value).strip().lower()
