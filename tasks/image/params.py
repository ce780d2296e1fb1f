"""Checks of generation parameters, shared by the API (before any run) and the flow (for direct calls)."""

from __future__ import annotations

from typing import Any

from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings

MIN_SIDE = 64
MAX_SIDE = 1024
# largest width/height per account tier (image-api.md: 64 <= width <= 1024)
TIER_MAX_SIDE = {"starter": 512, "professional": 768, "business": 1024, "enterprise": 1024}
MAX_SEED = 2**32 - 1
# denoising steps when none are given (check_generation, the image_generate flow): the default of the setting
# INFERLOOP_IMAGE_DEFAULT_STEPS, which the API uses for requests without num_inference_steps
DEFAULT_STEPS: int = Settings.model_fields["image_default_steps"].default


def invalid(parameter: str, value: Any, constraint: str, message: str | None = None) -> InferloopError:
    """The documented INVALID_PARAMETERS error with its details."""
    return InferloopError("INVALID_REQUEST", message or f"Invalid parameter: {parameter} must be {constraint}",
                          parameter, extra={"details": {"parameter": parameter, "value": value,
                                                        "constraint": constraint}})


def max_side(tier: str | None) -> int:
    return TIER_MAX_SIDE.get(tier or "enterprise", MAX_SIDE)


def check_size(name: str, value: Any, tier: str | None = None) -> int:
    top = max_side(tier)
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name, value, f"an integer, {MIN_SIDE} <= {name} <= {top}")
    if not MIN_SIDE <= value <= top:
        who = f" for the {tier} tier" if tier and top < MAX_SIDE else ""
        raise invalid(name, value, f"{MIN_SIDE} <= {name} <= {top}",
                      f"Invalid parameter: {name} must be between {MIN_SIDE} and {top}{who}")
    if value % 8:
        raise invalid(name, value, f"a multiple of 8 ({MIN_SIDE} <= {name} <= {top})",
                      f"Invalid parameter: {name} must be a multiple of 8, got {value}")
    return value


def check_prompt(name: str, value: Any, required: bool = True, max_len: int = 2000) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(name, value, "a non-empty string", f"Invalid parameter: {name} must not be empty")
    if len(value) > max_len:
        raise invalid(name, len(value), f"at most {max_len} characters")
    return value


def check_generation(*, prompts: list[Any], negative_prompt: Any = None, width: Any = 512, height: Any = 512,
                     num_inference_steps: Any = DEFAULT_STEPS, guidance_scale: Any = 7.5, seed: Any = None,
                     count: Any = 1, batch_size: Any = None, tier: str | None = None, max_steps: int = 150,
                     max_count: int = 8, max_prompts: int = 64, prompt_field: str = "prompt") -> dict[str, Any]:
    """Every check of a generation request; returns the clean values."""
    if not isinstance(prompts, list) or not prompts:
        raise invalid(prompt_field, prompts, "a non-empty list of prompts" if prompt_field == "prompts"
                      else "a non-empty string", f"Invalid parameter: {prompt_field} must not be empty")
    if len(prompts) > max_prompts:
        raise invalid(prompt_field, len(prompts), f"at most {max_prompts} prompts")
    clean_prompts = [check_prompt(prompt_field if len(prompts) == 1 and prompt_field == "prompt"
                                  else f"{prompt_field}[{i}]", p) for i, p in enumerate(prompts)]
    check_prompt("negative_prompt", negative_prompt, required=False)
    w, h = check_size("width", width, tier), check_size("height", height, tier)
    if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int) \
            or not 1 <= num_inference_steps <= max_steps:
        raise invalid("num_inference_steps", num_inference_steps, f"1 <= num_inference_steps <= {max_steps}")
    if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, (int, float)) \
            or not 0.0 <= float(guidance_scale) <= 30.0:
        raise invalid("guidance_scale", guidance_scale, "0 <= guidance_scale <= 30")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise invalid("seed", seed, f"0 <= seed <= {MAX_SEED}")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= max_count:
        raise invalid("count", count, f"1 <= count <= {max_count}")
    total = len(clean_prompts) * count
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or not 1 <= batch_size <= 16):
        raise invalid("batch_size", batch_size, "1 <= batch_size <= 16")
    if seed is not None and seed + total - 1 > MAX_SEED:
        raise invalid("seed", seed, f"seed + number of images - 1 <= {MAX_SEED}")
    return {"prompts": clean_prompts, "negative_prompt": negative_prompt or None, "width": w, "height": h,
            "num_inference_steps": num_inference_steps, "guidance_scale": float(guidance_scale), "seed": seed,
            "count": count, "batch_size": batch_size or min(total, 4)}
