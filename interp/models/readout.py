"""What the readout positions of a model attend to on a task's batch, through TL hooks: what training logs as
the circuit forms and the analyses' probes build on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import einops
import torch
import torch.nn.functional as F
from torch import Tensor
from transformer_lens.utilities import get_act_name

from ..tasks.base import Batch
from .encoder_decoder import EncoderDecoder

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
def readout_patterns(model: "TransformerBridge", batch: Batch) -> list[Tensor]:
    """What the readout positions attend to, per layer: ``[batch, head, n_readout, pos]`` over the whole sequence.

    A decoder-only model: each layer's self-attention rows at the readout positions. An encoder-decoder
    (``architecture="encoder-decoder"``): each decoder layer's cross-attention rows, whose keys are the encoder's
    positions (the sequence's first ones); the prompt's own positions get 0.
    """
    if not isinstance(model, EncoderDecoder):
        return [readout_rows(pattern, batch) for pattern in patterns(model, batch)]
    names = [f"decoder.{layer}.cross_attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    acts = cached(model, batch, names)
    prompt_start = batch.inputs.shape[1] - acts[names[0]].shape[2]
    padding = batch.inputs.shape[1] - acts[names[0]].shape[3]
    return [F.pad(acts[name][:, :, batch.readout - prompt_start, :], (0, padding)) for name in names]


@torch.no_grad()
def attention_on_relevant(model: "TransformerBridge", batch: Batch) -> Tensor:
    """``[layer, head]``: mean attention mass the readout rows put on the positions the theory names."""
    return torch.stack([mass_on(rows, batch.relevant) for rows in readout_patterns(model, batch)])


__all__ = ["FORMATION_SAMPLES", "attention_on_relevant", "cached", "mass_on", "patterns", "readout_patterns", "readout_rows"]
