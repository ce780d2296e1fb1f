"""Algorithm names -> model keys -> adapters, with request parameters validated and normalised."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from inferloop.core.errors import InferloopError, invalid_request
from tasks.tabular.synthesizers.base import Synthesizer, coerce_bool, coerce_int

ALGORITHMS: tuple[str, ...] = ("sdv", "ctgan", "tabular_argn", "ydata")
SDV_MODELS: tuple[str, ...] = ("gaussian_copula", "ctgan", "copulagan", "tvae")
MODEL_KEYS: tuple[str, ...] = (*(f"sdv:{m}" for m in SDV_MODELS), "ctgan", "tabular_argn")
DISTRIBUTIONS: tuple[str, ...] = ("norm", "beta", "truncnorm", "gamma", "uniform", "gaussian_kde")
PAC = 10  # ctgan's discriminator sees samples in packs of 10: batch_size must be a multiple of it
# algorithm=ydata: ydata-synthetic's regular (tabular) synthesizers, by the names it gives them; they run in
# the ydata environment on its own work pool (tasks/synthesizers/ydata.py, inferloop/runtime/ydata_env.py)
# (its vanilla "gan" is left out: ydata-synthetic 2.0.1 cannot load a saved one back)
YDATA_MODELS: tuple[str, ...] = ("ctgan", "wgangp", "cramer", "dragan")
YDATA_MODEL_KEYS: tuple[str, ...] = tuple(f"ydata:{m}" for m in YDATA_MODELS)
YDATA_MODEL_ALIASES: dict[str, str] = {"wgan_gp": "wgangp", "wgan-gp": "wgangp", "cramergan": "cramer"}
PRIVACY_LEVELS: tuple[str, ...] = ("low", "medium", "high")

DEFAULTS: dict[str, Any] = {
    "epochs": 300, "batch_size": 500, "embedding_dim": 128, "discriminator_steps": 1,
    "default_distribution": "beta", "enforce_min_max": True,
    "max_epochs": 100, "max_training_time": 10.0, "model_size": "M", "value_protection": True,
    "differential_privacy": None,
    "generator_dim": [256, 256], "discriminator_dim": [256, 256], "pac": PAC,
    # ydata (its examples' optimiser settings; noise_dim and layers_dim as tabular-api.md documents them)
    "learning_rate": None, "generator_lr": 2e-4, "discriminator_lr": 2e-4, "beta_1": 0.5, "beta_2": 0.9,
    "noise_dim": 128, "layers_dim": 128, "privacy_level": "low",
}
# per-model defaults that differ from DEFAULTS (batch_size None: the engine picks it from the data)
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {"tabular_argn": {"batch_size": None}}
INT_LIMITS: dict[str, tuple[int, int]] = {
    "epochs": (1, 100_000), "batch_size": (1, 1_000_000), "embedding_dim": (1, 4096),
    "discriminator_steps": (1, 100), "max_epochs": (1, 100_000), "pac": (1, 1000),
    "noise_dim": (1, 4096), "layers_dim": (1, 4096),
}
# (low, high, low is allowed): learning rates in (0, 1], Adam's betas in [0, 1)
FLOAT_LIMITS: dict[str, tuple[float, float, bool]] = {
    "learning_rate": (0.0, 1.0, False), "generator_lr": (0.0, 1.0, False), "discriminator_lr": (0.0, 1.0, False),
    "beta_1": (0.0, 0.999999, True), "beta_2": (0.0, 0.999999, True),
}
LAYER_LIMITS = (1, 8, 4096)  # generator_dim / discriminator_dim: 1..8 layers of 1..4096 units
MAX_TRAINING_MINUTES = 14_400.0  # 10 days, the engine's own cap
MODEL_SIZES: dict[str, str] = {"s": "S", "small": "S", "m": "M", "medium": "M", "l": "L", "large": "L"}
# differential privacy (Opacus, in the engine): defaults are the engine's; (low, high, low is allowed)
DP_DEFAULTS: dict[str, float] = {"max_epsilon": 10.0, "delta": 1e-5, "noise_multiplier": 1.5,
                                 "max_grad_norm": 1.0}
DP_LIMITS: dict[str, tuple[float, float, bool]] = {
    "max_epsilon": (0.0, 10_000.0, False), "delta": (0.0, 0.5, False),
    "noise_multiplier": (0.0, 10_000.0, False), "max_grad_norm": (0.0, 10_000.0, False),
}
_GAN = ("epochs", "batch_size", "embedding_dim", "discriminator_steps", "enforce_min_max")
_SDV_GAN = (*_GAN, "generator_dim", "discriminator_dim", "pac")  # SynthGen's documented CTGAN options
MODEL_PARAMS: dict[str, tuple[str, ...]] = {
    "sdv:gaussian_copula": ("default_distribution", "enforce_min_max"),
    "sdv:ctgan": _SDV_GAN,
    "sdv:copulagan": (*_SDV_GAN, "default_distribution"),
    "sdv:tvae": ("epochs", "batch_size", "embedding_dim", "enforce_min_max"),
    "ctgan": _GAN,
    "tabular_argn": ("max_epochs", "max_training_time", "batch_size", "model_size", "value_protection",
                     "differential_privacy"),
}
_YDATA = ("epochs", "batch_size", "learning_rate", "generator_lr", "discriminator_lr", "beta_1", "beta_2",
          "noise_dim", "privacy_level")
MODEL_PARAMS.update({
    "ydata:ctgan": (*_YDATA, "generator_dim", "discriminator_dim", "pac"),
    "ydata:wgangp": (*_YDATA, "layers_dim", "discriminator_steps"),
    "ydata:dragan": (*_YDATA, "layers_dim", "discriminator_steps"),
    "ydata:cramer": (*_YDATA, "layers_dim"),
})
ALIASES: dict[str, dict[str, str]] = {"tabular_argn": {"max_epochs": "epochs"}}  # the form's `epochs` field
_PACKED = {"sdv:ctgan", "sdv:copulagan", "ctgan", "ydata:ctgan"}


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
        model_key = f"ydata:{_ydata_model(params.get('ydata_model'))}"
    else:
        model_key = name if name in ("ctgan", "tabular_argn") else f"sdv:{_sdv_model(params.get('sdv_model'))}"
    clean = clean_params(model_key, params)
    if model_key.startswith(("sdv:", "ydata:")):  # kept, so that resolve(algorithm, clean) gives it again
        family = model_key.split(":", 1)[0]
        clean = {f"{family}_model": model_key.split(":", 1)[1], **clean}
    return model_key, clean


def clean_params(model_key: str, params: dict[str, Any]) -> dict[str, Any]:
    """Keep the parameters `model_key` uses, coerced and range-checked, with defaults for missing ones."""
    if model_key not in MODEL_PARAMS:
        raise InferloopError("INVALID_ALGORITHM", f"Unknown model '{model_key}'. "
                             f"Valid models are: {', '.join(MODEL_KEYS + YDATA_MODEL_KEYS)}", "algorithm")
    clean = {}
    defaults, aliases = {**DEFAULTS, **MODEL_DEFAULTS.get(model_key, {})}, ALIASES.get(model_key, {})
    for name in MODEL_PARAMS[model_key]:
        value = params.get(name)
        if _missing(value) and name in aliases:
            name_used, value = aliases[name], params.get(aliases[name])
        else:
            name_used = name
        clean[name] = defaults[name] if _missing(value) else _coerce(name, value, name_used)
    pac = clean.get("pac", PAC)
    if model_key in _PACKED and clean["batch_size"] % pac:
        field = "pac" if "pac" in params and not _missing(params.get("pac")) else "batch_size"
        raise invalid_request(f"batch_size must be a multiple of pac ({pac}) for {model_key} (its discriminator "
                              f"reads samples in packs of {pac}), got {clean['batch_size']}", field)
    if model_key.startswith("ydata:"):
        clean = _ydata_learning_rates(model_key, clean, params)
    return clean


def build(model_key: str, params: dict[str, Any]) -> Synthesizer:
    """Create the unfitted adapter for `model_key` (params are re-validated, so raw ones work too)."""
    clean = clean_params(model_key, params)
    if model_key.startswith("ydata:"):
        from tasks.tabular.synthesizers.ydata import YdataSynthesizer  # imports TensorFlow: the ydata environment only

        return YdataSynthesizer(model_key, clean)
    if model_key == "tabular_argn":
        from tasks.tabular.synthesizers.tabular_argn import TabularARGNSynthesizer

        return TabularARGNSynthesizer(model_key, clean)
    if model_key == "ctgan":
        from tasks.tabular.synthesizers.ctgan_lib import CTGANLibSynthesizer

        return CTGANLibSynthesizer(model_key, clean)
    from tasks.tabular.synthesizers.sdv_models import SDVSynthesizer

    return SDVSynthesizer(model_key, clean)


def _missing(value: Any) -> bool:
    """Whether a client left a parameter out (None or a blank form string)."""
    return value is None or (isinstance(value, str) and not value.strip())


def _coerce(name: str, value: Any, field: str | None = None) -> Any:
    """Coerce one parameter value (possibly a form string) to its type, or raise INVALID_REQUEST."""
    field = field or name
    if name in INT_LIMITS:
        low, high = INT_LIMITS[name]
        return coerce_int(field, value, low, high)
    if name in ("generator_dim", "discriminator_dim"):
        return _layers(field, value)
    if name in ("enforce_min_max", "value_protection"):
        return coerce_bool(field, value)
    if name == "max_training_time":
        return coerce_float(field, value, 0.0, MAX_TRAINING_MINUTES, low_allowed=False)
    if name == "model_size":
        return _model_size(value)
    if name == "differential_privacy":
        return _differential_privacy(value)
    if name in FLOAT_LIMITS:
        low, high, low_allowed = FLOAT_LIMITS[name]
        return coerce_float(field, value, low, high, low_allowed)
    if name == "privacy_level":
        return _privacy_level(value)
    distribution = _text(value)
    if distribution not in DISTRIBUTIONS:
        raise invalid_request(f"default_distribution '{value}' is not supported. "
                              f"Valid options are: {', '.join(DISTRIBUTIONS)}", "default_distribution")
    return distribution


def _layers(name: str, value: Any) -> list[int]:
    """Hidden layer sizes: a list of 1..8 positive integers (e.g. [256, 256])."""
    _, most, widest = LAYER_LIMITS
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= most:
        raise invalid_request(f"{name} must be a list of 1 to {most} layer sizes, e.g. [256, 256]", name)
    return [coerce_int(name, v, 1, widest) for v in value]


def coerce_float(name: str, value: Any, low: float, high: float, low_allowed: bool = True) -> float:
    """Return `value` as a finite float within [low, high] (or (low, high]) or raise INVALID_REQUEST."""
    number: float | None = None
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise invalid_request(f"{name} must be a number, got {value!r}", name)
    if number < low or (number == low and not low_allowed) or number > high:
        bounds = f"{'>=' if low_allowed else '>'} {low:g} and <= {high:g}"
        raise invalid_request(f"{name} must be {bounds}, got {number:g}", name)
    return number


def _model_size(value: Any) -> str:
    """Normalise TabularARGN's model size: S, M or L (small / medium / large accepted)."""
    size = MODEL_SIZES.get(_text(value))
    if size is None:
        raise invalid_request(f"model_size '{value}' is not supported. Valid options are: S, M, L",
                              "model_size")
    return size


def _differential_privacy(value: Any) -> dict[str, float] | None:
    """None (off), or the DP settings with the engine's defaults for the ones not given.

    Accepts true/false (also as strings) or an object with max_epsilon, delta, noise_multiplier,
    max_grad_norm.
    """
    if not isinstance(value, dict):
        return dict(DP_DEFAULTS) if coerce_bool("differential_privacy", value) else None
    unknown = sorted(str(k) for k in value if k not in DP_DEFAULTS)
    if unknown:
        raise invalid_request(f"differential_privacy has unknown setting(s) {', '.join(unknown)}. "
                              f"Valid settings are: {', '.join(DP_DEFAULTS)}",
                              f"differential_privacy.{unknown[0]}")
    clean = {}
    for key, default in DP_DEFAULTS.items():
        low, high, low_allowed = DP_LIMITS[key]
        given = value.get(key)
        clean[key] = default if _missing(given) else coerce_float(f"differential_privacy.{key}", given, low,
                                                                  high, low_allowed)
    return clean


def _ydata_model(value: Any) -> str:
    """Normalise the ydata_model parameter (default ctgan): ydata-synthetic's own names, a few aliases."""
    model = _text(value) or "ctgan"
    model = YDATA_MODEL_ALIASES.get(model, model)
    if model not in YDATA_MODELS:
        raise invalid_request(f"ydata_model '{value}' is not supported. "
                              f"Valid options are: {', '.join(YDATA_MODELS)}", "ydata_model")
    return model


def _ydata_learning_rates(model_key: str, clean: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """`learning_rate` sets both rates; generator_lr / discriminator_lr given explicitly win over it."""
    rate = clean.pop("learning_rate")
    if rate is not None:
        for name in ("generator_lr", "discriminator_lr"):
            if _missing(params.get(name)):
                clean[name] = rate
    if model_key == "ydata:ctgan" and clean["batch_size"] % 2:  # ydata's CTGAN: an even batch, in packs of pac
        raise invalid_request(f"batch_size must be even for ydata's ctgan, got {clean['batch_size']}",
                              "batch_size")
    return clean


def _privacy_level(value: Any) -> str:
    """tabular-api.md's YData privacy setting: ydata-synthetic 2.0.1 has no privacy mechanism, so only `low`."""
    level = _text(value)
    if level not in PRIVACY_LEVELS:
        raise invalid_request(f"privacy_level '{value}' is not supported. Valid options are: "
                              f"{', '.join(PRIVACY_LEVELS)}", "privacy_level")
    if level != "low":
        raise invalid_request(f"privacy_level '{level}' is not available: ydata-synthetic 2.0.1 has no privacy "
                              "mechanism (no differential privacy), so its models train at privacy_level low; "
                              "algorithm tabular_argn offers differential_privacy", "privacy_level")
    return level


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
