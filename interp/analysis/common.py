"""Probe and intervention building blocks on TransformerLens hooks, shared by the task analyses."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import einops
import torch
from torch import Tensor
from transformer_lens.utilities import get_act_name

from ..models.readout import cached
from ..tasks import Batch, Task

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

Head = tuple[int, int]  # (layer, head)


def scores_from(model: "TransformerBridge", layer: int, q: Tensor, k: Tensor) -> Tensor:
    """Pre-softmax attention scores ``[batch, head, dest, src]`` of ``layer`` from its ``hook_q`` and
    ``hook_k`` activations (``[batch, pos, head, d_head]``), divided by the layer's attention scale.

    On TL 4.3 native bridges ``hook_attn_scores`` carries the softmaxed pattern, not the scores.
    (Positional rotation, for rotary models, is not applied here.)
    """
    scale = model.blocks[layer].attn.original_component.scale
    return einops.einsum(q, k, "b dest h d, b src h d -> b h dest src") / scale


@torch.no_grad()
def attention_scores(model: "TransformerBridge", batch: Batch, layer: int) -> Tensor:
    """Pre-softmax attention scores ``[batch, head, dest, src]`` of ``layer`` on ``batch`` (``scores_from``)."""
    q_name, k_name = get_act_name("q", layer), get_act_name("k", layer)
    acts = cached(model, batch, [q_name, k_name])
    return scores_from(model, layer, acts[q_name], acts[k_name])


def closeness_to_uniform(rows: Tensor, mask: Tensor) -> Tensor:
    """``1 - TV(attention, uniform on mask)`` per head, ``[head]``; 1 means exactly the ideal pattern."""
    ideal = mask.float() / mask.float().sum(-1, keepdim=True).clamp(min=1)
    tv = 0.5 * (rows - ideal[:, None]).abs().sum(-1)
    return 1 - tv.mean(dim=(0, 2))


def head_mean_z(model: "TransformerBridge", batch: Batch, layers: Iterable[int]) -> dict[int, Tensor]:
    """Mean ``hook_z`` over the batch per layer: ``[pos, head, d_head]`` (for mean ablation)."""
    names = {get_act_name("z", layer): layer for layer in layers}
    acts = cached(model, batch, list(names))
    return {layer: acts[name].mean(0) for name, layer in names.items()}


def ablation_hooks(heads: Iterable[Head], means: dict[int, Tensor] | None) -> list[tuple[str, Callable]]:
    """Forward hooks replacing each head's ``hook_z`` by its batch mean (or zero when ``means`` is None)."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)

    def make(layer: int, hs: list[int]) -> Callable:
        def hook(z: Tensor, hook) -> Tensor:
            z = z.clone()
            z[:, :, hs] = 0.0 if means is None else means[layer][None, : z.shape[1], hs].to(z.dtype)
            return z

        return hook

    return [(get_act_name("z", layer), make(layer, hs)) for layer, hs in by_layer.items()]


@torch.no_grad()
def run_ablated(model: "TransformerBridge", task: Task, batch: Batch, heads: list[Head], mode: str = "mean",
                means: dict[int, Tensor] | None = None) -> dict[str, float]:
    """Task metrics with ``heads`` mean- or zero-ablated; ``means`` (from ``head_mean_z``) default to ``batch``'s."""
    if not heads:
        return task.evaluate(model(batch.inputs), batch)
    if mode == "mean" and means is None:
        means = head_mean_z(model, batch, {l for l, _ in heads})
    if mode == "zero":
        means = None
    logits = model.run_with_hooks(batch.inputs, fwd_hooks=ablation_hooks(heads, means))
    return task.evaluate(logits, batch)


@torch.no_grad()
def run_with_patterns(model: "TransformerBridge", task: Task, batch: Batch,
                      replace: dict[int, Callable[[Tensor], Tensor]]) -> dict[str, float]:
    """Task metrics when layer ``l``'s ``hook_pattern`` is replaced by ``replace[l](pattern)``."""
    hooks = [(get_act_name("pattern", layer), (lambda fn: lambda pattern, hook: fn(pattern))(fn))
             for layer, fn in replace.items()]
    return task.evaluate(model.run_with_hooks(batch.inputs, fwd_hooks=hooks), batch)


@torch.no_grad()
def split(n: int, seed: int = 0, test_fraction: float = 0.3) -> tuple[Tensor, Tensor]:
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    cut = int(n * (1 - test_fraction))
    return order[:cut], order[cut:]


def _fit_affine(x: Tensor, y: Tensor, ridge: float) -> Callable[[Tensor], Tensor]:
    """Ridge regression ``x [n, d] -> y [n, c]`` with an unpenalised intercept (fit on centred data), so
    that the fit, like the theory's codes, is the same for ``y`` and any affine image of it."""
    x, y = x.double(), y.double()
    x_mean, y_mean = x.mean(0), y.mean(0)
    xc = x - x_mean
    gram = xc.T @ xc
    gram += ridge * torch.eye(gram.shape[0], dtype=gram.dtype) * gram.diagonal().mean().clamp(min=1e-12)
    w = torch.linalg.solve(gram, xc.T @ (y - y_mean))
    return lambda features: (features.double() - x_mean) @ w + y_mean


def linear_probe_r2(features: Tensor, target: Tensor, ridge: float = 1e-3, seed: int = 0) -> float:
    """Held-out R^2 of a ridge-regularised affine probe ``features [n, d] -> target [n]``."""
    train, test = split(features.shape[0], seed)
    y = target.double()[:, None]
    predict = _fit_affine(features[train], y[train], ridge)
    residual = y[test] - predict(features[test])
    total = (y[test] - y[test].mean()).pow(2).sum()
    return float(1 - residual.pow(2).sum() / total.clamp(min=1e-12))


def linear_probe_accuracy(features: Tensor, labels: Tensor, ridge: float = 1e-3, seed: int = 0) -> float:
    """Held-out accuracy of a one-vs-rest least-squares affine classifier ``[n, d] -> labels [n]``."""
    train, test = split(features.shape[0], seed)
    classes = int(labels.max()) + 1
    predict = _fit_affine(features[train], torch.nn.functional.one_hot(labels[train], classes), ridge)
    return float((predict(features[test]).argmax(-1) == labels[test]).double().mean())


def cosine(a: Tensor, b: Tensor) -> float:
    return float(torch.nn.functional.cosine_similarity(a.flatten().double(), b.flatten().double(), dim=0))


def centered_cosine(a: Tensor, b: Tensor) -> float:
    return cosine(a - a.mean(), b - b.mean())
