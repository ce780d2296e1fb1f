"""How long `inferloop-tabular serve` takes to stop everything on SIGTERM (idle, and with a job running).

    PYTHONPATH=. "$(scripts/setup.sh)/bin/python" benchmarks/serve_shutdown.py     # --reps 3 --signal TERM

Each repetition starts `python -m inferloop.cli serve` in a fresh INFERLOOP_HOME on free ports, waits for the
API, optionally starts a long CTGAN job and waits until it is running, then sends the signal to serve and
measures until serve has exited and until every process it had started (the children in its pid file and all
their descendants, flow runs included) is gone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_platform import free_port  # noqa: E402


def tiny_csv(rows: int = 200) -> bytes:
    lines = ["age,income,city"] + [f"{20 + i % 40},{1000 + 37.5 * i:.2f},{'ABC'[i % 3]}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def once(work: Path, sig: signal.Signals, with_job: bool) -> dict[str, float]:
    home, api_port = work / "home", free_port()
    home.mkdir(parents=True)
    env = {**os.environ, "INFERLOOP_HOME": str(home), "INFERLOOP_PREFECT_PORT": str(free_port()),
           "INFERLOOP_AUTH_DISABLED": "true", "PYTHONPATH": str(ROOT)}
    with open(home / "serve.out", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "inferloop.cli", "serve", "--port", str(api_port)], env=env,
                                cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        try:
            base = f"http://127.0.0.1:{api_port}"
            while True:
                if proc.poll() is not None:
                    raise RuntimeError((home / "serve.out").read_text()[-3000:])
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.5)
            if with_job:
                up = httpx.post(f"{base}/api/tabular/uploads", files={"file": ("t.csv", tiny_csv())}, timeout=60)
                job = httpx.post(f"{base}/api/tabular/generate/async", timeout=60, json={
                    "data_url": up.json()["data_url"], "algorithm": "sdv",
                    "parameters": {"sdv_model": "ctgan", "epochs": 3000, "batch_size": 100}}).json()["job_id"]
                while httpx.get(f"{base}/api/tabular/jobs/{job}", timeout=60).json()["status"] != "running":
                    time.sleep(0.2)
                time.sleep(2)
            pidfile = json.loads((home / "run" / "platform.json").read_text())
            procs = []
            for rec in pidfile["children"].values():
                root = psutil.Process(rec["pid"])
                procs += [root, *root.children(recursive=True)]
            t0 = time.perf_counter()
            proc.send_signal(sig)
            proc.wait(120)
            exited = time.perf_counter() - t0
            _, alive = psutil.wait_procs(procs, timeout=30)
            all_gone = time.perf_counter() - t0
            return {"serve_exited": exited, "all_gone": all_gone, "processes": len(procs), "left": len(alive),
                    "code": proc.returncode}
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--signal", default="TERM", choices=("TERM", "HUP", "INT"))
    args = ap.parse_args()
    sig = signal.Signals[f"SIG{args.signal}"]
    for with_job in (False, True):
        results = []
        for i in range(args.reps):
            work = Path(tempfile.mkdtemp(prefix="inferloop-shutdown-"))
            try:
                r = once(work, sig, with_job)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            results.append(r)
            print(f"{'job running' if with_job else 'idle'} {i + 1}/{args.reps}: serve exited {r['serve_exited']:.2f} s,"
                  f" all {r['processes']} processes gone {r['all_gone']:.2f} s, left {r['left']}, exit code {r['code']}",
                  flush=True)
        med = statistics.median(r["all_gone"] for r in results)
        print(f"{sig.name}, {'a job running' if with_job else 'idle'}: everything gone after {med:.2f} s "
              f"(median of {args.reps}; max {max(r['all_gone'] for r in results):.2f} s)")


if __name__ == "__main__":
    main()
