"""What the readout positions of a model attend to on a task's batch, through TL hooks: what training logs as
the circuit forms and the analyses' probes build on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import einops
import torch
from torch import Tensor
from transformer_lens.utilities import get_act_name

from ..tasks.base import Batch

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

FORMATION_SAMPLES = 512  # held-out examples training's attention-formation record is measured on

def cached(model: "TransformerBridge", batch: Batch, names: list[str]) -> dict[str, Tensor]:
    _, cache = model.run_with_cache(batch.inputs, names_filter=lambda name: name in names)
    return {name: cache[name] for name in names}


@torch.no_grad()
def patterns(model: "TransformerBridge", batch: Batch) -> list[Tensor]:
    """Attention patterns of every layer, ``[batch, head, dest, src]`` each (``hook_pattern``)."""
    names = [get_act_name("pattern", layer) for layer in range(model.cfg.n_layers)]
    acts = cached(model, batch, names)
    return [acts[name] for name in names]


def readout_rows(pattern: Tensor, batch: Batch) -> Tensor:
    """The readout positions' attention rows: ``[batch, head, n_readout, src]``."""
    return pattern[:, :, batch.readout, :]


def mass_on(rows: Tensor, mask: Tensor) -> Tensor:
    """Attention mass on ``mask`` (``[batch, n_readout, src]``) per head: ``[head]``, mean over rows."""
    return einops.einsum(rows, mask.float(), "b h r s, b r s -> b h r").mean(dim=(0, 2))


@torch.no_grad()
def attention_on_relevant(model: "TransformerBridge", batch: Batch) -> Tensor:
    """``[layer, head]``: mean attention mass the readout rows put on the positions the theory names."""
    return torch.stack([mass_on(readout_rows(pattern, batch), batch.relevant) for pattern in patterns(model, batch)])


__all__ = ["FORMATION_SAMPLES", "attention_on_relevant", "cached", "mass_on", "patterns", "readout_rows"]
