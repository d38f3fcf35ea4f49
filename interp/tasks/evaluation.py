"""Scoring a model on fresh samples of its task."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .base import Task, check_int

if TYPE_CHECKING:
    from torch import nn

EVAL_SEED = 12345  # fresh samples for `interp eval` and reports; training's held-out set uses its own stream
PATTERN_BUDGET = 2**28  # bytes of attention scores and patterns one evaluation chunk may hold


def chunk_size(model: "nn.Module", task: Task, largest: int = 4096) -> int:
    """Examples per forward pass, so that the attention of a long sequence does not exhaust memory."""
    cfg = getattr(model, "cfg", None)
    heads = getattr(cfg, "n_heads", 1) if cfg is not None else 1
    per_example = 3 * 4 * heads * task.seq_len**2  # scores, pattern and a temporary, float32
    return max(1, min(largest, PATTERN_BUDGET // per_example))


def model_device(model: "nn.Module") -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate(model: "nn.Module", task: Task, samples: int = 8192, seed: int = EVAL_SEED, chunk: int | None = None) -> dict[str, float]:
    """The task's metrics on ``samples`` fresh examples (weighted mean over chunks of ``chunk``; by default as
    many as fit ``PATTERN_BUDGET``)."""
    check_int("samples", samples, 1)
    chunk = chunk_size(model, task) if chunk is None else chunk
    device = model_device(model)
    g = torch.Generator().manual_seed(seed)
    totals: dict[str, float] = {}
    done = 0
    while done < samples:
        n = min(chunk, samples - done)
        batch = task.sample(n, g).to(device)
        for key, value in task.evaluate(model(batch.inputs), batch).items():
            totals[key] = totals.get(key, 0.0) + value * n
        done += n
    return {key: value / samples for key, value in totals.items()}


def reached(task: Task, value: float, target: float | None) -> bool:
    """Whether ``value`` of the task's headline metric meets ``target`` (None: never)."""
    if target is None:
        return False
    return value >= target if task.higher_is_better else value <= target
