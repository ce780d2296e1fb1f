"""Which diffusers pipeline a request runs, and loading it (offline only).

No machine here reaches a model hub, so a model is one of:
- `inferloop/tiny-random-sd` (the default): a tiny Stable Diffusion pipeline built from diffusers/transformers
  config objects with seeded random weights, saved once under <INFERLOOP_HOME>/models/image/. It runs the real
  pipeline code (text encoder, UNet, scheduler, VAE) fast on a CPU, but its weights are random: it makes
  structured noise, not pictures of the prompt.
- a model id found as a folder `<INFERLOOP_IMAGE_MODEL_DIR>/<model id>/model_index.json`;
- a model id in the local Hugging Face cache (HF_HOME; downloaded earlier on a connected machine);
- an absolute path of a diffusers folder inside INFERLOOP_IMAGE_MODEL_DIR.
Anything else is refused before a run starts, with a message saying how to provide the weights.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from inferloop.core.errors import InferloopError
from inferloop.core.settings import Settings, get_settings

TINY_MODEL_ID = "inferloop/tiny-random-sd"
TINY_SEED = 20240613
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?$")
_PIPELINES: dict[tuple[str, str, str], Any] = {}   # (path, device, dtype) -> pipeline, per process
_LOCK = threading.Lock()


def model_dirs(settings: Settings) -> list[Path]:
    return [Path(d).expanduser().resolve() for d in settings.image_model_dir.split(",") if d.strip()]


def tiny_model_path(settings: Settings) -> Path:
    return settings.home / "models" / "image" / "tiny-random-sd"


def _unavailable(model_id: str, why: str) -> InferloopError:
    return InferloopError(
        "INVALID_REQUEST",
        f"model '{model_id}' is not available on this server ({why}). No model hub is reachable from here: put "
        "the model's diffusers folder (model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/) at "
        "INFERLOOP_IMAGE_MODEL_DIR/<model id>, or into the Hugging Face cache (HF_HOME) of the workers, or omit "
        f"model_id to use the server's default ('{get_settings().image_model}')", "model_id",
        extra={"details": {"parameter": "model_id", "value": model_id,
                           "constraint": f"{TINY_MODEL_ID}, a model in INFERLOOP_IMAGE_MODEL_DIR or in the local "
                                         "Hugging Face cache"}})


def resolve_model(model_id: str | None, settings: Settings | None = None) -> dict[str, str]:
    """{model_id, source (builtin | local | hf_cache), path}; INVALID_REQUEST when it cannot be loaded here."""
    settings = settings or get_settings()
    mid = (model_id or "").strip() or settings.image_model.strip()
    if mid == TINY_MODEL_ID:
        return {"model_id": mid, "source": "builtin", "path": str(tiny_model_path(settings))}
    dirs = model_dirs(settings)
    if mid.startswith("/"):
        path = Path(mid).resolve()
        if not any(path == d or d in path.parents for d in dirs):
            raise _unavailable(mid, "local model folders must be inside INFERLOOP_IMAGE_MODEL_DIR")
        if not (path / "model_index.json").is_file():
            raise _unavailable(mid, "no model_index.json in that folder")
        return {"model_id": mid, "source": "local", "path": str(path)}
    if not _MODEL_ID.match(mid) or ".." in mid:
        raise _unavailable(mid, "a model id is 'name' or 'organisation/name'")
    for d in dirs:
        if (d / mid / "model_index.json").is_file():
            return {"model_id": mid, "source": "local", "path": str(d / mid)}
    cached = _hf_cached(mid)
    if cached:
        return {"model_id": mid, "source": "hf_cache", "path": cached}
    raise _unavailable(mid, "not in INFERLOOP_IMAGE_MODEL_DIR nor in the local Hugging Face cache")


def _hf_cached(model_id: str) -> str | None:
    """The snapshot folder of a model in the local Hugging Face cache, if it has model_index.json."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(repo_id=model_id, filename="model_index.json")
    return str(Path(found).parent) if isinstance(found, str) else None


# --- the built-in tiny pipeline -------------------------------------------------------------------------------

def _bytes_to_unicode() -> list[str]:
    """CLIP's byte-level alphabet (every byte maps to a printable character)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def build_tiny_pipeline(dest: Path, seed: int = TINY_SEED) -> Path:
    """Build the tiny pipeline from config objects with seeded random weights and save it at `dest`.

    Same architecture as Stable Diffusion 1.x (CLIP text encoder, cross-attention UNet, 4-level VAE with an
    8x latent downscale, DDIM scheduler), about 2.5M parameters. Built in a temporary folder, then renamed,
    so concurrent builders never see half a model.
    """
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        chars = _bytes_to_unicode()
        merges = ["#version: 0.2", "a t</w>", "c at</w>", "d o", "do g</w>", "t h", "th e</w>"]
        toks = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars] + \
            [m.replace(" ", "") for m in merges[1:]]
        vocab = {t: i for i, t in enumerate(dict.fromkeys(toks))}
        tok_dir = tmp / "_tokenizer_src"
        tok_dir.mkdir()
        (tok_dir / "vocab.json").write_text(json.dumps(vocab))
        (tok_dir / "merges.txt").write_text("\n".join(merges) + "\n")
        tokenizer = CLIPTokenizer(vocab=str(tok_dir / "vocab.json"), merges=str(tok_dir / "merges.txt"),
                                  model_max_length=77)
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32, attention_head_dim=8,
            norm_num_groups=32)
        vae = AutoencoderKL(
            block_out_channels=(32, 32, 64, 64), in_channels=3, out_channels=3, latent_channels=4,
            layers_per_block=1, down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32, sample_size=64)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
            num_attention_heads=4, num_hidden_layers=2, vocab_size=len(vocab), max_position_embeddings=77))
        scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  clip_sample=False, set_alpha_to_one=False, steps_offset=1)
        pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                       scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
        shutil.rmtree(tok_dir)
        pipe.save_pretrained(str(tmp))
        (tmp / "INFERLOOP_MODEL.json").write_text(json.dumps({
            "model_id": TINY_MODEL_ID, "seed": seed, "weights": "random (seeded), not trained",
            "parameters": sum(p.numel() for m in (unet, vae, text_encoder) for p in m.parameters())}))
        try:
            os.rename(tmp, dest)
        except OSError:  # another process finished first: keep its copy
            if not (dest / "model_index.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


# --- loading ---------------------------------------------------------------------------------------------------

def import_pipeline_classes() -> None:
    """Import the pipeline's diffusers and transformers classes (~3 s, ~200 MB). The warm worker's zygote calls
    this once, so image runs forked from it start without the import; nothing is computed (fork safety)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # huggingface_hub reads it at import
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel  # noqa: F401
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer  # noqa: F401


def device_for(settings: Settings) -> str:
    import torch

    want = settings.image_device.strip().lower()
    if want == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if want == "cuda" and not torch.cuda.is_available():
        raise InferloopError("GENERATION_FAILED", "INFERLOOP_IMAGE_DEVICE=cuda but this worker has no CUDA device",
                             status=500)
    return want


def load_pipeline(ref: dict[str, str], device: str):
    """The pipeline of a resolved model on `device`, loaded once per process (offline, local files only)."""
    import torch

    dtype = torch.float16 if device.startswith("cuda") and ref["source"] != "builtin" else torch.float32
    key = (ref["path"], device, str(dtype))
    with _LOCK:
        if key in _PIPELINES:
            return _PIPELINES[key]
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from diffusers import StableDiffusionPipeline
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.disable_progress_bar()
        path = Path(ref["path"])
        if ref["source"] == "builtin" and not (path / "model_index.json").is_file():
            build_tiny_pipeline(path)
        pipe = StableDiffusionPipeline.from_pretrained(str(path), local_files_only=True, dtype=dtype,
                                                       safety_checker=None, requires_safety_checker=False)
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        _PIPELINES[key] = pipe
        return pipe
