"""The zygote: a long-lived process with Prefect, pandas, SDV and torch imported that forks one child per run.

Started by the embedded platform beside the worker (`python -m inferloop.runtime.zygote --socket <path>`). It imports
PRELOAD (plus INFERLOOP_WARM_PRELOAD) once, then listens on a Unix socket (mode 0600) for the warm launcher
(inferloop/runtime/warm_launch.py). For each request it forks; the child takes over the launcher's stdin, stdout and
stderr, environment, working directory and arguments, and runs `-m <module>` (`prefect.engine` for a flow
run, `tasks.tabular.stream_sampler` for a stream) as `__main__` exactly as a fresh interpreter would, but without
paying the imports. The zygote tells the launcher the child's pid, then its exit status.

Fork safety: the zygote only imports modules. It starts no Prefect client, event loop, thread pool or torch
computation, so a child inherits no sockets, locks held by other threads, or OpenMP/rayon pools (those start
lazily in the child). In the child: its own session, SIGKILL when the zygote dies (PR_SET_PDEATHSIG), the
run's environment with Prefect's settings and the platform settings re-read from it, a fresh numpy seed
(Python's `random` reseeds itself after fork), and torch capped at `--torch-threads` CPU threads.
If the launcher goes away (killed), the zygote SIGKILLs the child's process group.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import struct
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from inferloop.core.settings import Settings
from inferloop.runtime.unix_sockets import bind_private

HEADER = struct.Struct("!I")
MAX_REQUEST = 16 << 20
PR_SET_PDEATHSIG = 1
# what flow runs and streams of the main pool import: the engine, the data stack, SDV (with torch), the
# quality report, and the project's flows and stream sampler (their own imports come with them)
PRELOAD = (
    "prefect", "prefect.engine", "prefect.flow_engine", "prefect.deployments.steps",
    "pandas", "numpy", "torch", "sdv.single_table", "sdv.multi_table", "sdmetrics.reports.single_table",
    "tasks.tabular.stream_sampler", "tasks.tabular.model_store",
    "flows.tabular.generate", "flows.tabular.train_model", "flows.tabular.sample_model", "flows.tabular.validate",
    "flows.tabular.profile_data", "flows.tabular.privacy_analysis", "flows.tabular.multitable", "flows.tabular.batch",
    "flows.context.sample", "flows.context.corpus", "flows.context.export", "flows.etl.pipeline",
    "flows.image.generate", "flows.image.validate", "flows.image.profile_images", "flows.image.export",
)
# cached objects that cost a run seconds to build on first use: rdt's Faker with every locale (SDV's metadata
# validation asks it whether a column's sdtype is a Faker function: 2.6 s here), built once in the zygote;
# diffusers' and transformers' pipeline classes, which `import diffusers` alone leaves unimported (~3 s)
WARM_CALLS = ("rdt.transformers.pii.anonymization:get_faker_instance",
              "tasks.image.models:import_pipeline_classes")
# the ydata environment's zygote (`--preload ydata`): its flow runs and streams import Prefect's engine, the
# four flows it deploys, the stream sampler, TensorFlow and ydata-synthetic (~6 s on a 2-core machine, paid
# once here instead of per run). Their quality score is computed by the main environment
# (tasks/tabular/validate.py), forked from the main zygote.
YDATA_PRELOAD = (
    "prefect", "prefect.engine", "prefect.flow_engine", "prefect.deployments.steps", "pandas", "numpy",
    "tasks.tabular.model_store", "tasks.tabular.stream_sampler", "flows.tabular.generate", "flows.tabular.train_model",
    "flows.tabular.sample_model", "flows.tabular.batch",
)
YDATA_WARM_CALLS = ("tasks.tabular.synthesizers.ydata:warm_up",)
PRELOADS = {"main": (PRELOAD, WARM_CALLS), "ydata": (YDATA_PRELOAD, YDATA_WARM_CALLS)}


def zygote_socket(settings: Settings, kind: str = "main") -> Path:
    """Where the zygote of `kind` ("main", "ydata": the environment it imports) listens."""
    return settings.socket_path("zygote.sock" if kind == "main" else f"zygote-{kind}.sock")


def torch_threads_per_run(settings: Settings) -> int:
    """INFERLOOP_WARM_TORCH_THREADS, or the machine's cores shared among the worker's concurrent runs."""
    if settings.warm_torch_threads:
        return settings.warm_torch_threads
    return max(1, (os.cpu_count() or 1) // max(1, settings.worker_limit))


@dataclass
class Request:
    """One launcher's request: run `argv` (`-m module args...`) with this environment, directory and fds."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    fds: list[int] = field(default_factory=list)


@dataclass
class Child:
    pid: int
    conn: socket.socket | None
    pidfd: int


def preload(modules: list[str], calls: tuple[str, ...] = WARM_CALLS) -> list[str]:
    """Import the modules and make the `module:function` calls (a failing one is skipped and reported);
    returns those that failed."""
    failed = []
    for name in [*modules, *calls]:
        try:
            module, _, function = name.partition(":")
            imported = importlib.import_module(module)
            if function:
                getattr(imported, function)()
        except Exception as exc:  # noqa: BLE001  (a missing optional library only costs its run the import)
            failed.append(f"{name} ({type(exc).__name__}: {exc})")
    return failed


def read_request(conn: socket.socket) -> Request:
    """The launcher's JSON request and the three file descriptors sent with it."""
    data, fds, _, _ = socket.recv_fds(conn, 65536, 3)
    try:
        if len(data) < HEADER.size:
            raise ValueError("short request")
        (size,) = HEADER.unpack_from(data)
        if size > MAX_REQUEST:
            raise ValueError("request too large")
        body = bytearray(data[HEADER.size:])
        while len(body) < size:
            chunk = conn.recv(size - len(body))
            if not chunk:
                raise ValueError("truncated request")
            body += chunk
        raw = json.loads(bytes(body))
        if len(fds) != 3 or raw.get("argv", [None])[0] != "-m" or len(raw["argv"]) < 2:
            raise ValueError("a request needs argv ['-m', module, ...] and three file descriptors")
        return Request(argv=[str(a) for a in raw["argv"]], env={str(k): str(v) for k, v in raw["env"].items()},
                       cwd=str(raw["cwd"]), fds=fds)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def send(conn: socket.socket | None, **message) -> None:
    if conn is None:
        return
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(message).encode() + b"\n")


class Zygote:
    """The accept/fork/reap loop (single-threaded, so forking is safe)."""

    def __init__(self, path: str):
        self.path = path
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, Child] = {}
        self.stopping = False
        self.listener = self._listen(path)

    @staticmethod
    def _listen(path: str) -> socket.socket:
        sock = bind_private(path)
        sock.listen(64)
        return sock

    def serve(self) -> Request | None:
        """Serve until stopped (returns None) — or, in a forked child, return the child's request."""
        self.selector.register(self.listener, selectors.EVENT_READ, ("accept", None))
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, self._stop)
        while not self.stopping:
            for key, _ in self.selector.select(timeout=1.0):
                kind, pid = key.data
                if kind == "accept":
                    request = self._accept()
                    if request is not None:  # we are the forked child
                        return request
                elif kind == "exited":
                    self._reap(pid)
                elif kind == "launcher" and pid in self.children:
                    self._launcher_gone(pid)
        self._shutdown()
        return None

    def _stop(self, signum, frame) -> None:
        self.stopping = True

    def _accept(self) -> Request | None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return None
        try:
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            if struct.unpack("3i", creds)[1] != os.getuid():
                raise PermissionError("a launcher of another user")
            conn.settimeout(5)
            request = read_request(conn)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            send(conn, error=f"{type(exc).__name__}: {exc}")
            conn.close()
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._become_child(conn)
            return request
        for fd in request.fds:
            os.close(fd)
        conn.settimeout(None)
        pidfd = os.pidfd_open(pid)
        self.children[pid] = Child(pid, conn, pidfd)
        self.selector.register(pidfd, selectors.EVENT_READ, ("exited", pid))
        self.selector.register(conn, selectors.EVENT_READ, ("launcher", pid))
        send(conn, pid=pid)
        return None

    def _become_child(self, conn: socket.socket) -> None:
        """In the forked child: drop everything of the zygote's (sockets, pidfds, selector, handlers)."""
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        zygote = os.getppid()
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != zygote:  # the zygote died between fork and prctl
            os._exit(1)
        os.setsid()
        with contextlib.suppress(Exception):
            self.selector.close()
        self.listener.close()
        conn.close()
        for child in self.children.values():
            if child.conn is not None:
                child.conn.close()
            with contextlib.suppress(OSError):
                os.close(child.pidfd)
        self.children.clear()

    def _reap(self, pid: int) -> None:
        child = self.children.pop(pid)
        self.selector.unregister(child.pidfd)
        os.close(child.pidfd)
        _, status = os.waitpid(pid, 0)
        if child.conn is not None:
            if os.WIFSIGNALED(status):
                send(child.conn, signal=os.WTERMSIG(status))
            else:
                send(child.conn, exit=os.waitstatus_to_exitcode(status))
            self.selector.unregister(child.conn)
            child.conn.close()

    def _launcher_gone(self, pid: int) -> None:
        """The launcher's connection closed (it was killed): its child must not run on without it."""
        child = self.children[pid]
        with contextlib.suppress(OSError):
            if child.conn is not None and child.conn.recv(1, socket.MSG_PEEK):
                child.conn.recv(4096)  # a launcher sends nothing after its request; ignore stray bytes
                return
        self.selector.unregister(child.conn)
        child.conn.close()
        child.conn = None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

    def _shutdown(self, grace: float = 3.0) -> None:
        """SIGTERM every child's group, SIGKILL what is left after `grace` s, and remove the socket."""
        import time

        self.listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
        end = time.monotonic() + grace
        while self.children and time.monotonic() < end:
            for key, _ in self.selector.select(timeout=0.1):
                kind, pid = key.data
                if kind == "exited":
                    self._reap(pid)
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            self._reap(pid)


def prefect_settings_env(env: dict[str, str]) -> dict[str, str]:
    """The environment variables Prefect reads its settings from (PREFECT__* are per-run values, not settings)."""
    return {k: v for k, v in env.items() if k.startswith("PREFECT_") and not k.startswith("PREFECT__")}


def enter_run(request: Request, torch_threads: int) -> None:
    """In the child: take over the launcher's fds, directory and environment, as a fresh interpreter would."""
    for target, fd in enumerate(request.fds):
        os.dup2(fd, target)
    for fd in request.fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request.cwd)
    zygote_prefect = prefect_settings_env(os.environ)
    os.environ.clear()
    os.environ.update(request.env)
    sys.path[0] = os.getcwd()  # `python -m` puts the working directory first
    if prefect_settings_env(request.env) != zygote_prefect:  # else the settings read at import still hold
        import prefect.context
        from prefect.logging.configuration import setup_logging

        prefect.context.refresh_global_settings_context()  # Prefect's settings from the run's environment
        setup_logging()
    settings = sys.modules.get("inferloop.core.settings")
    if settings is not None:
        settings.get_settings.cache_clear()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()  # the zygote's global RandomState would be every child's otherwise
    faker = sys.modules.get("faker.generator")
    if faker is not None:
        faker.random.seed()  # Faker's shared Random, likewise
    torch = sys.modules.get("torch")
    if torch is not None and torch_threads > 0:
        torch.set_num_threads(torch_threads)


def exit_code(exc: SystemExit) -> int:
    """The status `python` exits with for this SystemExit (a message goes to stderr with status 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run(request: Request, torch_threads: int) -> None:
    """Run `-m module args` as __main__ in the child, then exit as `python` would, minus the teardown.

    After the module: wait for non-daemon threads, run atexit handlers (Prefect drains its logs and events
    there), flush stdio, and `os._exit` — a normal interpreter shutdown would also tear down every module
    the zygote imported, which costs a quarter of a second for nothing."""
    import atexit
    import threading
    import traceback

    enter_run(request, torch_threads)
    module = request.argv[1]
    # the module is already imported (preloaded) and runs again as __main__, as `python -m` would run it
    warnings.filterwarnings("ignore", r".*found in sys\.modules after import of package", RuntimeWarning)
    sys.argv = [module, *request.argv[2:]]  # runpy puts the module's file in argv[0]
    code, interrupted = 0, False
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exit_code(exc)
    except KeyboardInterrupt:
        traceback.print_exc()
        interrupted = True
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        threading._shutdown()  # what the interpreter does first at exit: join the non-daemon threads
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    finally:
        if interrupted:  # like `python`: die of SIGINT
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(code)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inferloop.runtime.zygote", description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="Unix socket path to listen on (created mode 0600)")
    parser.add_argument("--torch-threads", type=int, default=0, help="torch CPU threads per run (0: torch's own)")
    parser.add_argument("--preload", choices=sorted(PRELOADS), default="main",
                        help="what to import: the main environment's stack or the ydata environment's")
    args = parser.parse_args(argv)
    extra = [m.strip() for m in os.environ.get("INFERLOOP_WARM_PRELOAD", "").split(",") if m.strip()]
    import time

    started = time.monotonic()
    modules, calls = PRELOADS[args.preload]
    failed = preload([*modules, *extra], calls)
    gc.collect()
    gc.freeze()  # imported objects stay out of the children's collections: fewer copied pages
    zygote = Zygote(args.socket)
    print(f"zygote {os.getpid()}: ready on {args.socket} after {time.monotonic() - started:.1f} s of imports"
          + (f"; not preloaded: {', '.join(failed)}" if failed else ""), flush=True)
    request = zygote.serve()
    if request is not None:
        run(request, args.torch_threads)


if __name__ == "__main__":
    main()
