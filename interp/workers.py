"""Worker processes that pay their imports once: a pool forked from a server that preloaded the package.

Each worker of ``worker_pool`` is forked by multiprocessing's forkserver, which imported ``preload`` first (torch
and TransformerLens take 3-5 s), so a worker starts in milliseconds and its first job runs as fast as its
second. The server has run no torch op, so no worker inherits a half-alive OpenMP thread pool, as a plain fork
of a process that computed could (and deadlock in it). Every worker computes on one torch thread: jobs side by
side then give the bytes they give alone (tests/test_training.py).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def one_thread() -> None:
    import torch  # preloaded by the server: free here

    torch.set_num_threads(1)


def start_server(preload: list[str]) -> None:
    """Start the server now, so that its imports run beside this process's own (a command line that will fork
    workers starts it before it imports torch itself: seconds saved). Idempotent; ``worker_pool`` uses it."""
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    forkserver.ensure_running()


def worker_pool(jobs: int, preload: list[str]) -> ProcessPoolExecutor:
    """``jobs`` worker processes forked from a server that imported the modules ``preload`` names (or from the one
    ``start_server`` already started)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(preload)
    return ProcessPoolExecutor(jobs, mp_context=context, initializer=one_thread)
