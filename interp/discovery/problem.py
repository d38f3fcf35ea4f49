"""One discovery problem: a model, clean inputs, the ablated sender values, and the two metrics.

- ``kl``: how far the patched output is from the full model's, ``KL(clean || patched)`` over the readout
  positions that ask something (``asked``) for classification tasks; for regression tasks (selection) the squared distance between
  the two outputs (ACDC's L2 on its regression tasks). 0 for the full model. What ACDC pushes down.
- ``task``: the task's own score, higher is better: the correct logit minus the mean of the other
  logits (classification), minus the squared error to the target (regression). Gradient methods use it
  by default: KL has a zero gradient at the clean point, so EAP on KL scores every edge 0.

Faithfulness of a circuit C (every other edge ablated): ``(task(C) - task(empty)) / (task(full) -
task(empty))``, 1 when the circuit alone keeps the task score, 0 when it does no better than ablating
every edge (docs/theory/discovery.md, 'Scores').
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..tasks import Batch, Task
from ..validation import check_choice
from .graph import Graph
from .names import METRICS
from .patching import EdgePatcher, ablated_values

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge



def asked(batch: Batch, n_readout: int) -> Tensor:
    """``[B, n_readout]`` bool: the readouts that ask something (a query of a region a counting sequence does
    not have carries a negative target and is left out, as the task's own metrics do)."""
    if batch.targets.is_floating_point():
        return torch.ones(batch.targets.shape[0], n_readout, dtype=torch.bool, device=batch.targets.device)
    return batch.targets.reshape(batch.targets.shape[0], -1) >= 0


def _mean_over(values: Tensor, mask: Tensor) -> Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


def output_distance(out: Tensor, clean_out: Tensor, batch: Batch, regression: bool) -> Tensor:
    """Mean over examples (and asked readouts) of ``KL(clean || out)``, or of the squared distance for regression."""
    if regression:
        return (out - clean_out).pow(2).sum(-1).mean()
    clean_log = clean_out.log_softmax(-1)
    kl = (clean_log.exp() * (clean_log - out.log_softmax(-1))).sum(-1)
    return _mean_over(kl, asked(batch, out.shape[1]))


def task_score(out: Tensor, batch: Batch, regression: bool) -> Tensor:
    """The task metric (higher is better) of readout outputs ``out`` ``[B, n_readout, d_out]``."""
    if regression:
        return -(out[:, 0] - batch.targets).pow(2).sum(-1).mean()
    targets = batch.targets.reshape(out.shape[0], -1)
    valid = asked(batch, out.shape[1]) & (targets < out.shape[-1])  # counts above max_count have no logit
    correct = out.gather(-1, targets.clamp(0, out.shape[-1] - 1)[..., None])[..., 0]
    others = (out.sum(-1) - correct) / max(out.shape[-1] - 1, 1)
    return _mean_over(correct - others, valid)


@dataclass(eq=False)
class Problem:
    """The clean batch and its ablated counterpart for ``model`` on ``task`` (module docstring).

    ``clean`` and ``corrupt`` are independent samples of the task (``seed``, ``seed + 1``); ``corrupt``
    provides the resampled values (paired example by example) and the means.
    """

    model: "TransformerBridge"
    task: Task
    ablation: str
    metric: str = "kl"
    samples: int = 128
    seed: int = 0
    patcher: EdgePatcher = field(init=False)

    def __post_init__(self) -> None:
        check_choice("metric", self.metric, METRICS)
        self.patcher = EdgePatcher(self.model)
        device = self.patcher.device
        self.clean = self.task.sample(self.samples, self.seed).to(device)
        self.corrupt = self.task.sample(self.samples, self.seed + 1).to(device)
        self.regression = self.clean.targets.is_floating_point()
        self.ablated = ablated_values(self.patcher, self.ablation, self.clean.inputs, self.corrupt.inputs)
        self.clean_out = self.outputs(self.graph.mask(()))
        self.full_score = float(task_score(self.clean_out, self.clean, self.regression))
        self.empty_score = float(task_score(self.outputs(self.graph.mask(self.graph.edges)), self.clean, self.regression))

    @cached_property
    def clean_values(self) -> Tensor:
        """``[B, P, S, D]``: every sender's value on the clean batch."""
        return self.patcher.sender_values(self.clean.inputs)

    @property
    def graph(self) -> Graph:
        return self.patcher.graph

    def readout(self, logits: Tensor) -> Tensor:
        return self.task.readout_logits(logits, self.clean)

    @torch.no_grad()
    def outputs(self, alpha: Tensor) -> Tensor:
        """Readout outputs ``[B, n_readout, d_out]`` with edges moved by ``alpha`` ``[R, S]``."""
        return self.readout(self.patcher.run(self.clean.inputs, self.ablated, alpha))

    def objective(self, out: Tensor) -> Tensor:
        """The metric as a differentiable scalar: the distance to the clean output (``kl``) or the task score."""
        if self.metric == "kl":
            return output_distance(out, self.clean_out, self.clean, self.regression)
        return task_score(out, self.clean, self.regression)

    def damage(self, alpha: Tensor) -> float:
        """How much worse than the full model the patched model is under the metric (0 for the full model)."""
        out = self.outputs(alpha)
        if self.metric == "kl":
            return float(output_distance(out, self.clean_out, self.clean, self.regression))
        return self.full_score - float(task_score(out, self.clean, self.regression))

    def score_of(self, edges: Iterable[str]) -> float:
        """The task score of the circuit ``edges`` alone (every other edge ablated)."""
        alpha = self.graph.mask(self.graph.complement(edges))
        return float(task_score(self.outputs(alpha), self.clean, self.regression))

    def faithfulness(self, edges: Iterable[str]) -> float | None:
        """Normalised faithfulness of the circuit ``edges``; None when ablating every edge changes nothing."""
        span = self.full_score - self.empty_score
        if abs(span) < 1e-9 * max(1.0, abs(self.full_score)):
            return None
        return (self.score_of(edges) - self.empty_score) / span

    def receiver_gradients(self, alpha: Tensor) -> Tensor:
        """``[B, P, R, D]``: gradient of the metric with respect to each receiver's input, patched by ``alpha``."""
        clean = self.clean
        return self.patcher.receiver_gradients(clean.inputs, self.ablated, alpha,
                                               lambda logits: self.objective(self.readout(logits)))


__all__ = ["METRICS", "Problem", "asked", "output_distance", "task_score"]
