"""Image generation through the platform vs the same diffusers pipeline called directly; validation throughput.

    PYTHONPATH=. python benchmarks/image_benchmark.py [--repeats 2] [--threads 1]

For each size (64x64, 256x256), with the offline tiny pipeline (inferloop/tiny-random-sd), 20 steps:
  * direct, warm: the pipeline already loaded in this process, one `pipe(...)` call per job (+ PNG encoding);
  * direct, cold: a fresh `python` process that imports diffusers, loads the pipeline, generates and saves
    (what a user's own script costs per run);
  * platform: POST /api/v1/generate (sync) end to end: flow run on the work pool, worker process start, imports,
    model load, denoising with per-step events, saving, thumbnail artifact.
Jobs: one image, and a batch of 16 images (batch_size 4). Then quality and privacy validation throughput
(images/s) of 16 images, through the API and inside the flow run.
Prints a markdown table (docs/benchmarks.md) and the machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_platform import API_KEY, embedded_platform, isolated_settings  # noqa: E402

STEPS = 20
SIZES = (64, 256)
JOBS = {"1 image": (1, 1), "16 images": (16, 4)}   # images, batch_size

COLD_SCRIPT = r"""
import os, sys, time, torch
t0 = time.perf_counter()
os.environ["HF_HUB_OFFLINE"] = "1"
from diffusers import StableDiffusionPipeline
torch.set_num_threads(int(sys.argv[5]))
pipe = StableDiffusionPipeline.from_pretrained(sys.argv[1], local_files_only=True, dtype=torch.float32)
pipe.set_progress_bar_config(disable=True)
size, n, bs = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for b in range(0, n, bs):
    k = min(bs, n - b)
    images = pipe(["a lighthouse at dusk"] * k, width=size, height=size, num_inference_steps=20,
                  generator=[torch.Generator().manual_seed(42 + b + i) for i in range(k)]).images
    for i, im in enumerate(images):
        im.save(f"/tmp/cold_{b + i}.png")
print(time.perf_counter() - t0)
"""


def direct_warm(pipe, size: int, n: int, bs: int) -> float:
    import io

    import torch

    t = time.perf_counter()
    for b in range(0, n, bs):
        k = min(bs, n - b)
        images = pipe(["a lighthouse at dusk"] * k, width=size, height=size, num_inference_steps=STEPS,
                      generator=[torch.Generator().manual_seed(42 + b + i) for i in range(k)]).images
        for im in images:
            im.save(io.BytesIO(), format="PNG")
    return time.perf_counter() - t


def direct_cold(model_path: str, size: int, n: int, bs: int, threads: int) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", COLD_SCRIPT, model_path, str(size), str(n), str(bs), str(threads)],
                   check=True, capture_output=True, env={**os.environ, "TQDM_DISABLE": "1"})
    return time.perf_counter() - t


def platform_job(api: str, size: int, n: int, bs: int) -> tuple[float, dict]:
    import httpx

    t = time.perf_counter()
    r = httpx.post(f"{api}/api/v1/generate", headers={"X-API-Key": API_KEY}, timeout=3600,
                   json={"prompt": "a lighthouse at dusk", "width": size, "height": size, "num_inference_steps": STEPS,
                         "seed": 42, "count": n, "batch_size": bs})
    r.raise_for_status()
    return time.perf_counter() - t, r.json()


def validation(api: str, kind: str, dataset: str) -> tuple[float, dict]:
    import httpx

    t = time.perf_counter()
    r = httpx.post(f"{api}/api/v1/validate/{kind}", headers={"X-API-Key": API_KEY}, timeout=3600,
                   json={"dataset_dir": dataset})
    r.raise_for_status()
    return time.perf_counter() - t, r.json()


def loadavg() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads, both sides (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        os.environ["INFERLOOP_IMAGE_TORCH_THREADS"] = str(args.threads)
    os.environ["INFERLOOP_IMAGE_MAX_COUNT"] = "16"
    settings = isolated_settings(Path(tempfile.mkdtemp(prefix="inferloop-image-bench-")))
    import torch

    from tasks.image.models import load_pipeline, resolve_model

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    ref = resolve_model(None, settings)
    pipe = load_pipeline(ref, "cpu")
    direct_warm(pipe, 64, 1, 1)  # first call pays one-time set-up
    rows, loads = [], [loadavg()]
    with embedded_platform(settings) as api:
        platform_job(api, 64, 1, 1)  # the worker's first run
        for size in SIZES:
            for label, (n, bs) in JOBS.items():
                warm = [direct_warm(pipe, size, n, bs) for _ in range(args.repeats)]
                cold = [direct_cold(ref["path"], size, n, bs, threads) for _ in range(args.repeats)]
                runs = [platform_job(api, size, n, bs) for _ in range(args.repeats)]
                plat = [t for t, _ in runs]
                denoise = [body["timings"]["denoise"] for _, body in runs]
                rows.append({"size": size, "job": label, "images": n, "warm": statistics.median(warm),
                             "cold": statistics.median(cold), "platform": statistics.median(plat),
                             "in_flow_denoise": statistics.median(denoise)})
                loads.append(loadavg())
                print(json.dumps(rows[-1]), flush=True)
        post = platform_job(api, 64, 16, 4)[1]
        dataset = str(Path(post["image_path"]).parent)
        vq = validation(api, "quality", dataset)
        vp = validation(api, "privacy", dataset)
        loads.append(loadavg())

    print(f"\ntorch threads: {threads}; load average (1/5/15 min) during the run: {', '.join(loads)}\n")
    print("| size | job | direct warm (s) | direct cold script (s) | platform sync request (s) | in-flow denoise (s) "
          "| images/s direct warm / cold / platform | platform ÷ direct cold | platform ÷ direct warm |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        n = r["images"]
        print(f"| {r['size']}x{r['size']} | {r['job']} | {r['warm']:.2f} | {r['cold']:.2f} | {r['platform']:.2f} | "
              f"{r['in_flow_denoise']:.2f} | {n / r['warm']:.2f} / {n / r['cold']:.2f} / {n / r['platform']:.2f} | "
              f"{r['platform'] / r['cold']:.2f}x | {r['platform'] / r['warm']:.2f}x |")
    print("\n| validation (16 images of 64x64) | request (s) | images/s end to end | images/s inside the flow |")
    print("|---|---|---|---|")
    for kind, (t, body) in (("quality", vq), ("privacy", vp)):
        print(f"| {kind} | {t:.2f} | {body['summary']['count'] / t:.2f} | {body['summary']['images_per_second']:.2f} |")


if __name__ == "__main__":
    main()
