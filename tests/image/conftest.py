"""The image tests' environment, set at collection (before the session's platform starts its worker).

torch uses one CPU thread in image runs here: the machine's two cores are shared by the Prefect server, the
worker, the API and the tests, and torch's threads spin-wait on busy cores (20 denoising steps at 64x64 took
15-27 s with two threads on the loaded machine, 1.1 s with one).
"""

import os

os.environ.setdefault("INFERLOOP_IMAGE_TORCH_THREADS", "1")
# requests that give no num_inference_steps (the SDK example of image-api.md) denoise 4 steps, not 50
os.environ.setdefault("INFERLOOP_IMAGE_DEFAULT_STEPS", "4")

from inferloop.core.settings import get_settings  # noqa: E402

get_settings.cache_clear()  # in-process flow calls see it too
