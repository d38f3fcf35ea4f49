"""Running an experiment's grid: locally in processes or on a Ray cluster, resumable, one progress bar.

Each finished run is written at once, atomically, to ``<out>/runs/<id>.json``; a second ``run`` skips
runs whose file says ``ok``, so a killed sweep resumes where it stopped (a damaged file is reported and
its run computed again), and a failing run (a training that diverged, a bug in one cell) is recorded
with its error while the sweep goes on. Every run executes on one torch thread, so its numbers are the
same whatever ``--jobs`` or executor ran it. The sweep holds ``<out>`` (``interp.files.exclusive``)
while it writes there, so a second sweep into the same folder is refused.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import traceback
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from ..allocator import reuse_freed_memory
from ..files import check_writable_dir, exclusive, finite, json_text, write_json, write_text
from ..models import resolve_device
from ..machine import describe
from ..paths import experiment_folder
from ..validation import TaskError, check_choice, check_int
from ..workers import worker_pool
from ..viz.experiments import write_summary
from .base import RunResult, RunSpec
from .registry import get_experiment

EXECUTORS = ("local", "ray")


def execute(name: str, spec: dict[str, Any], device: str, run_id: str) -> dict[str, Any]:
    """Run one spec of experiment ``name`` on one torch thread; never raises (errors are recorded)."""
    import torch

    reuse_freed_memory()  # in a Ray or pool worker too, which this process did not start
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    started = time.perf_counter()
    spec_obj = RunSpec(**spec)
    result = RunResult(run_id, name, spec_obj.group, spec_obj.params, spec_obj.seed, device, "ok")
    try:
        result.measurements = get_experiment(name).measure(spec_obj, device)
        json_text(result.measurements)  # a measurement that cannot be stored is a failed run
    except Exception as e:  # noqa: BLE001 - a failing run is recorded and the sweep goes on
        result.status, result.measurements = "failed", {}
        result.error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}"
    finally:
        torch.set_num_threads(threads)
    result.seconds = round(time.perf_counter() - started, 3)
    return result.to_dict()


# What runs import, imported once by the server that every worker forks from (``interp.workers``); build_model
# imports the bridge lazily, hence its module here.
WORKER_PRELOAD = ["interp.experiments.runner", "interp.analysis.run", "interp.training.loop", "interp.discovery.run",
                  "transformer_lens.model_bridge"]


THIS_PROCESS = "interp-this-process"  # the thread that runs this process's share of a sweep


def failed(task: tuple, message: str) -> dict[str, Any]:
    name, spec, device, run_id = task
    return RunResult(run_id, name, spec["group"], spec["params"], spec["seed"], device, "failed", error=message).to_dict()


class WorkerQueue:
    """Hands ``pending``'s runs to ``pool`` from the front, in a thread, while this process may take runs from
    the back (``take_last``): the first submit forks the workers, which waits for the server's imports
    (seconds, the first time), and this process computes meanwhile instead of waiting."""

    def __init__(self, pool: Executor, pending: dict[int, tuple]):
        self.pool, self.pending = pool, pending
        self.order, self.lock = deque(pending), threading.Lock()
        self.futures: dict[Future, int] = {}
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._feed, name="interp-worker-queue", daemon=True)
        self.thread.start()

    def _pop(self, pop: Callable[[], int]) -> int | None:
        with self.lock:
            return pop() if self.order else None

    def _feed(self) -> None:
        try:
            while (i := self._pop(self.order.popleft)) is not None:
                self.futures[self.pool.submit(execute, *self.pending[i])] = i
        except BaseException as e:  # noqa: BLE001 - a broken or closed pool: raised again by submitted()
            self.error = e

    def take_last(self) -> int | None:
        """The last run not handed to the pool yet, while its first submit waits for the workers; None after."""
        return self._pop(self.order.pop) if self.thread.is_alive() else None

    def submitted(self) -> dict[Future, int]:
        """Every run handed to the pool, by its future, once all are."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.futures


def run_beside_workers(pool: Executor, pending: dict[int, tuple]) -> Iterator[dict[str, Any]]:
    """Run every task in ``pending`` (removing each once its result is yielded) in ``pool``'s workers, and
    in this process while they start. This process's runs go to a thread of its own, so that the workers' results
    are yielded (stored, counted by the progress bar) as they come, not only once its run is done: a run can take
    longer than the rest of the sweep."""
    queue = WorkerQueue(pool, pending)
    own: dict[Future, int] = {}
    with ThreadPoolExecutor(1, thread_name_prefix=THIS_PROCESS) as here:
        while (i := queue.take_last()) is not None:
            future = here.submit(execute, *pending[i])
            own[future] = i
            while not future.done() and queue.thread.is_alive():
                queue.thread.join(timeout=0.05)
            if not future.done():  # the workers run: take no more, let this one finish beside them
                break
        futures = {**queue.submitted(), **own}
        for future in as_completed(futures):
            data = future.result()
            del pending[futures[future]]
            yield data


def local_executor(jobs: int) -> Callable[[list[tuple]], Iterator[dict[str, Any]]]:
    """Runs in this process (``jobs == 1``) or in ``jobs`` worker processes (``run_beside_workers``): the sweep
    computes from its first second, in this process while the workers start.

    A worker that dies (killed, out of memory) breaks its pool: the unfinished runs go to a fresh pool once
    more, and a run that was pending twice when that happened is recorded as failed.
    """

    def run(tasks: list[tuple]) -> Iterator[dict[str, Any]]:
        if jobs == 1 or len(tasks) <= 1:
            for task in tasks:
                yield execute(*task)
            return
        pending, breaks = dict(enumerate(tasks)), Counter()
        while pending:
            with worker_pool(min(jobs, len(pending)), WORKER_PRELOAD) as pool:
                try:
                    yield from run_beside_workers(pool, pending)
                except GeneratorExit:  # the caller stopped reading (it could not store a result): run no more
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
                except BrokenProcessPool:
                    for i in list(pending):
                        breaks[i] += 1
                        if breaks[i] >= 2:
                            yield failed(pending.pop(i), "a worker process died while this run was in flight, twice "
                                                         "(killed, or out of memory)")

    return run


def check_ray_address(address: str, timeout: float = 3.0) -> None:
    """Refuse an address that does not answer, in seconds, instead of letting Ray wait for minutes."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise TaskError(f"--address must be HOST:PORT of a Ray cluster (or ray://HOST:PORT), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise TaskError(f"--address {address}: no Ray cluster answers there ({e.strerror or e})") from None


def ray_executor(jobs: int, address: str | None) -> Callable[[list[tuple]], Iterator[dict[str, Any]]]:
    """Runs on an existing Ray cluster at ``address``, or on a local Ray instance with ``jobs`` CPUs."""
    try:
        import ray
    except ImportError:
        raise TaskError("--executor ray needs Ray: pip install 'interp[ray]' (make install does)") from None
    if address:
        check_ray_address(address)

    def run(tasks: list[tuple]) -> Iterator[dict[str, Any]]:
        started_here = not ray.is_initialized()
        if started_here:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False)
        try:
            remote = ray.remote(num_cpus=1)(execute)
            pending = [remote.remote(*task) for task in tasks]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        finally:
            if started_here:
                ray.shutdown()

    return run


def load_finished(runs_dir: Path) -> dict[str, RunResult]:
    """Stored results by id. A file that does not hold the result of the run it is named after (an atomic
    write never leaves one, but a damaged disk or a hand can) is left out with a one-line warning, so its
    run is computed again and the file replaced."""
    out = {}
    for path in sorted(runs_dir.glob("*.json")):
        try:
            result = RunResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
            if (result.id != path.stem or result.status not in ("ok", "failed")
                    or not isinstance(result.measurements, dict)):
                raise ValueError("it does not hold the result of the run it is named after")
        except (OSError, ValueError, TypeError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            reason = " ".join(str(e).split())
            print(f"warning: {path} is damaged ({reason}); its run is computed again", file=sys.stderr)
            continue
        out[result.id] = result
    return out


def run_experiment(name: str, *, quick: bool = False, seeds: int | None = None, jobs: int | None = None,
                   executor: str = "local", address: str | None = None, device: str = "auto",
                   settings: dict[str, Any] | None = None, out: str | Path | None = None,
                   progress: bool = True) -> dict[str, Any]:
    """Run experiment ``name`` (skipping runs already finished in ``out``), then write its summary."""
    experiment = get_experiment(name)
    options = experiment.resolve_options(quick, settings)
    if seeds is None:
        seeds = experiment.quick_seeds if quick else experiment.seeds
    seeds = check_int("--seeds", seeds, 1)
    jobs = check_int("--jobs", (os.cpu_count() or 1) if jobs is None else jobs, 1)
    check_choice("--executor", executor, EXECUTORS)
    if address and executor != "ray":
        raise TaskError("--address is the address of a Ray cluster: it needs --executor ray")
    device = resolve_device(device)
    out = Path(out) if out is not None else experiment_folder(name, quick)
    try:
        check_writable_dir("--out", out)
    except ValueError as e:
        raise TaskError(str(e)) from None
    run_executor = ray_executor(jobs, address) if executor == "ray" else local_executor(jobs)

    specs = experiment.grid(options, seeds)
    ids = [spec.run_id(name, device) for spec in specs]
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"experiment {name} has duplicate runs in its grid")
    with exclusive("--out", out):
        runs_dir = out / "runs"
        finished = load_finished(runs_dir)
        todo = [(name, spec.__dict__, device, run_id) for spec, run_id in zip(specs, ids)
                if not (run_id in finished and finished[run_id].ok)]
        started = time.time()
        # closing: a result that cannot be written (a full disk) stops the executor's pending runs at once.
        with tqdm(total=len(specs), initial=len(specs) - len(todo), desc=f"experiment {name}", unit="run",
                  disable=not progress, dynamic_ncols=True) as bar, closing(run_executor(todo)) as stream:
            for data in stream:
                data = finite(data)  # as the file holds it, so a run read back next time compares equal
                write_json(runs_dir / f"{data['id']}.json", data)
                finished[data["id"]] = RunResult.from_dict(data)
                bar.update(1)
                if data["status"] != "ok":
                    bar.write(f"run {data['group']} seed {data['seed']} failed: {data['error'].splitlines()[0]}")

        results = [finished[run_id] for run_id in ids]
        write_text(out / "results.jsonl", "".join(json_text(r.to_dict(), sort_keys=True) + "\n" for r in results))
        summary = experiment.summarize(results, options, seeds)
        return write_summary(out, experiment, summary, results, options=options, seeds=seeds, quick=quick,
                             device=device, seconds=round(time.time() - started, 1), machine=describe(device))
