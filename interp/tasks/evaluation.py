"""Scoring a model on fresh samples of its task."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from .base import Task, check_int

if TYPE_CHECKING:
    from torch import nn

EVAL_SEED = 12345  # fresh samples for `interp eval` and reports; training's held-out set uses its own stream


def model_device(model: "nn.Module") -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def evaluate(model: "nn.Module", task: Task, samples: int = 8192, seed: int = EVAL_SEED, chunk: int = 4096) -> dict[str, float]:
    """The task's metrics on ``samples`` fresh examples (weighted mean over chunks of ``chunk``)."""
    check_int("samples", samples, 1)
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
