"""Keeping freed memory for reuse instead of handing it back to the kernel after every tensor.

CPU tensors come from the C library's ``malloc``. glibc serves a block above its mmap threshold (32 MiB at
most) with fresh pages from the kernel and unmaps them again when the block is freed, so every tensor
larger than that (attention scores are ``batch x heads x pos^2`` floats: 88 MB for 55 examples of the
n = 200 parity task) has each of its pages faulted in and zeroed by the kernel again. On the
``parity-construction`` sweep, when this was written, that was 37 million page faults and half of all
CPU time spent in the kernel.

:func:`reuse_freed_memory` tells ``malloc`` to take every block from its heap and never to shrink it: the
same sweep then takes 57 s instead of 131 s, with identical results, and a process keeps its peak memory
until it exits. Its heap also fragments: a training run's peak grew from 0.95 GB to 1.26-1.56 GB, beyond
what ``interp.limits`` estimates, so ``interp train`` (whose runs that estimate guards) does not call it;
``interp analyze`` does (its estimate covers the growth), as do each experiment run, the benchmark and the
test session; importing interp as a library does not.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_MAX = -4
NEVER_TRIM = 2**31 - 1  # the largest value mallopt takes (an int)


def reuse_freed_memory() -> bool:
    """Serve every allocation from malloc's heap and keep freed memory there; True where it took effect.

    Idempotent. A no-op (False) off Linux or with a C library that has no ``mallopt`` (musl's does nothing).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, NEVER_TRIM) == 1
