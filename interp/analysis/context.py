"""What the probes of one analysis share: the model, its task, one batch, and the activations of one
cached forward pass, computed once and read by every claim function.

Each task module subclasses ``Context`` with the inputs its probes share (the circuit heads, the
readout rows, ...), as ``cached_property`` so a probe that is not run costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from transformer_lens.utilities import get_act_name

from ..models.readout import patterns
from ..tasks import Batch, Task
from .common import Head, run_ablated, scores_from

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

# The activations kept from the cached forward pass, per layer (TL hook names via ``get_act_name``).
CACHED = ("pattern", "z", "q", "k", "attn_out", "resid_mid", "resid_post")


@dataclass(eq=False)
class Context:
    """One model, one task instance and one batch of ``samples`` examples drawn with ``seed``.

    ``reference`` is the construction for the same task instance (None: no comparison claims).
    """

    model: "TransformerBridge"
    task: Task
    reference: "TransformerBridge | None" = None
    samples: int = 2048
    seed: int = 0

    @cached_property
    def batch(self) -> Batch:
        return self.task.sample(self.samples, self.seed)

    @cached_property
    def _forward(self) -> tuple[Tensor, dict[str, Tensor]]:
        names = {get_act_name(kind, layer) for layer in range(self.model.cfg.n_layers) for kind in CACHED}
        with torch.no_grad():
            logits, cache = self.model.run_with_cache(self.batch.inputs, names_filter=lambda name: name in names)
        return logits, {name: cache[name] for name in names if name in cache}

    @property
    def logits(self) -> Tensor:
        """The model's output on ``batch``: ``[batch, pos, d_vocab_out]``."""
        return self._forward[0]

    def act(self, kind: str, layer: int) -> Tensor:
        """A cached activation, e.g. ``act("pattern", 0)`` is ``blocks.0.attn.hook_pattern``."""
        return self._forward[1][get_act_name(kind, layer)]

    @cached_property
    def patterns(self) -> list[Tensor]:
        """Attention patterns per layer, ``[batch, head, dest, src]``."""
        return [self.act("pattern", layer) for layer in range(self.model.cfg.n_layers)]

    @cached_property
    def metrics(self) -> dict[str, float]:
        """The task's metrics on ``batch``."""
        return self.task.evaluate(self.logits, self.batch)

    @cached_property
    def heads(self) -> list[Head]:
        return [(layer, head) for layer in range(self.model.cfg.n_layers) for head in range(self.model.cfg.n_heads)]

    @cached_property
    def means(self) -> dict[int, Tensor]:
        """Mean ``hook_z`` per layer over ``batch``, ``[pos, head, d_head]`` (what mean ablation writes)."""
        return {layer: self.act("z", layer).mean(0) for layer in range(self.model.cfg.n_layers)}

    def scores(self, layer: int) -> Tensor:
        """Pre-softmax attention scores ``[batch, head, dest, src]`` from the cached ``hook_q``/``hook_k``."""
        return scores_from(self.model, layer, self.act("q", layer), self.act("k", layer))

    def ablated(self, heads: list[Head], mode: str = "mean", batch: Batch | None = None) -> dict[str, float]:
        """Task metrics with ``heads`` mean-ablated (to their mean over ``self.batch``) or zero-ablated,
        on ``batch`` (default ``self.batch``)."""
        if not heads and batch is None:
            return self.metrics
        return run_ablated(self.model, self.task, self.batch if batch is None else batch, heads, mode, self.means)

    @cached_property
    def reference_logits(self) -> Tensor:
        with torch.no_grad():
            return self.reference(self.batch.inputs)

    @cached_property
    def reference_patterns(self) -> list[Tensor]:
        return patterns(self.reference, self.batch)


def kind_of_head_ablation(model: "TransformerBridge") -> str:
    """``behaviour`` when every layer has a single head (ablating the only head of a layer breaks any
    solver, since nothing else moves information between positions), else ``causal``."""
    return "behaviour" if model.cfg.n_heads == 1 else "causal"
