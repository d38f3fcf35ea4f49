"""A minimal loop for models that are not task-shaped transformers (MLP baselines, the pointer model):
step an optimiser on batches, evaluate every few steps, stop once a target is met.

``train`` (``interp.training``) is the loop for TransformerBridge models on a ``Task``; this one takes any
module and plain callables, so an experiment states its own data, loss and metric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn


@dataclass
class FitResult:
    steps: int  # steps taken
    reached_at: int | None  # first evaluated step whose metric met the target (None: never)
    final: float  # the metric at the last evaluation
    history: list[dict[str, Any]] = field(default_factory=list)


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, loss: Callable[[int], Tensor], metric: Callable[[], float],
        max_steps: int, eval_every: int, target: float | None = None, higher_is_better: bool = True,
        record: Callable[[], dict[str, Any]] | None = None) -> FitResult:
    """Minimise ``loss(step)`` (it draws its own batch) for up to ``max_steps`` steps.

    Every ``eval_every`` steps (and at the end) ``metric()`` is evaluated with gradients off, logged with
    ``record()``'s extra fields, and the loop stops the first time it meets ``target``.
    """
    history: list[dict[str, Any]] = []
    value = float("nan")
    step = 0
    while step < max_steps:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss(step).backward()
        optimizer.step()
        step += 1
        if step % eval_every == 0 or step == max_steps:
            model.eval()
            with torch.no_grad():
                value = float(metric())
                history.append({"step": step, "metric": value, **(record() if record else {})})
            if target is not None and (value >= target if higher_is_better else value <= target):
                return FitResult(step, step, value, history)
    return FitResult(step, None, value, history)
