"""Worker processes that pay their imports once: a pool forked from a server that preloaded the package.

Each worker of ``worker_pool`` is forked by multiprocessing's forkserver, which imported ``preload`` first (torch
and TransformerLens take 3-5 s), so a worker starts in milliseconds and its first job runs as fast as its
second. The server has run no torch op, so no worker inherits a half-alive OpenMP thread pool, as a plain fork
of a process that computed could (and deadlock in it). Every worker computes on one torch thread: jobs side by
side then give the bytes they give alone (tests/test_training.py). Its BLAS (numpy's and scipy's) is one thread
wide too: a pool as wide as the machine in each of N workers buries a many-core machine under spinning threads
(on a 16-core GPU machine, sweeps whose runs take seconds finished none in seven minutes).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

# What sizes the BLAS thread pools, read once by each library as it loads (torch's own pool is one_thread's).
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    """Every BLAS library that loads from now on, in this process and those it starts, on one thread, unless the
    environment already sizes it."""
    for name in BLAS_THREADS:
        os.environ.setdefault(name, "1")


def one_thread() -> None:
    import torch  # preloaded by the server: free here

    torch.set_num_threads(1)


def start_server(preload: list[str]) -> None:
    """Start the server now, so that its imports run beside this process's own (a command line that will fork
    workers starts it before it imports torch itself: seconds saved). Idempotent; ``worker_pool`` uses it."""
    from multiprocessing import forkserver

    one_blas_thread()  # before the server loads numpy: it and every worker forked from it
    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    forkserver.ensure_running()


def worker_pool(jobs: int, preload: list[str]) -> ProcessPoolExecutor:
    """``jobs`` worker processes forked from a server that imported the modules ``preload`` names (or from the one
    ``start_server`` already started)."""
    start_server(preload)
    return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("forkserver"), initializer=one_thread)
