"""Building the model a ``ModelConfig`` describes: a TransformerBridge booted natively with the three additions
the package docstring lists (feature inputs, NoPE, frozen attention), or one of the other architectures; the
device it runs on and its parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..validation import TaskError, check_choice, check_int
from .config import ModelConfig
from .encoder_decoder import EncoderDecoder
from .pointer import PointerTransformer
from .positional import PositionalTransformer

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge


class FeatureEmbedding(nn.Module):
    """A linear input embedding ``W_E [d_in, d_model]`` that also accepts token ids.

    Float input ``[batch, pos, d_in]`` is multiplied by ``W_E``; integer input is looked up, which is
    the same as multiplying a one-hot row.
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():
            return x @ self.weight
        return F.embedding(x, self.weight)


def _route_features_through_embed(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    # The bridge sends float input as ``inputs_embeds``, which would skip the embedding (and
    # hook_embed); hand it to the feature embedding instead.
    if kwargs.get("inputs_embeds") is not None:
        kwargs["input_ids"] = kwargs.pop("inputs_embeds")
    return args, kwargs


def pattern_parameters(model: nn.Module, n_layers: int) -> list[nn.Parameter]:
    """The parameters any attention pattern depends on: the embeddings, every block before the last, and
    the last block's pre-attention norm, W_Q and W_K (named through the native model underneath the bridge)."""
    last = f"layers.{n_layers - 1}._original_component."
    upstream = ("tok_embed.", "pos.", *(f"layers.{layer}." for layer in range(n_layers - 1)),
                last + "ln1.", last + "attn._original_component.q.", last + "attn._original_component.k.")
    return [p for name, p in model.original_model.named_parameters() if name.startswith(upstream)]


def build_model(cfg: ModelConfig, seed: int | None = 0, device: str = "cpu") -> "TransformerBridge":
    """Boot a native TransformerBridge for ``cfg`` on ``device``; the same cfg and seed give the same weights.

    Weights are initialised on the CPU and then moved, so a seed means the same weights on every device.
    """
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    for name in ("n_ctx", "d_vocab", "d_vocab_out"):
        check_int(name, getattr(cfg, name), 1)
    if cfg.architecture == "hooked":
        return on_device(PositionalTransformer(cfg, seed), device)
    if cfg.architecture == "encoder-decoder":
        return on_device(EncoderDecoder(cfg, seed), device)
    if cfg.architecture == "pointer":
        return on_device(PointerTransformer(cfg, seed), device)
    bridge = TransformerBridge.boot_native(TransformerBridgeConfig(**cfg.to_bridge_config(seed)))
    if cfg.input_kind == "features":
        bridge.embed.set_original_component(FeatureEmbedding(bridge.embed.original_component.weight))
        bridge.original_model.register_forward_pre_hook(_route_features_through_embed, with_kwargs=True)
    if cfg.positional == "none":
        pos = bridge.pos_embed.original_component.weight
        with torch.no_grad():
            pos.zero_()
        pos.requires_grad_(False)
    if cfg.freeze_attention:
        for p in pattern_parameters(bridge, cfg.n_layers):
            p.requires_grad_(False)
    bridge.interp_config = cfg
    return on_device(bridge, device)


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """``device`` as torch names it: ``auto`` is CUDA when there is one, else the CPU; ``cuda`` without a GPU
    raises TaskError (named as the ``--device`` flag that asks for it)."""
    check_choice("--device", device, DEVICES)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TaskError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    return device


def on_device(model: nn.Module, device: str) -> nn.Module:
    """``model`` moved to ``device`` (a no-op, and no TransformerLens notice, when it is already there)."""
    current = next(model.parameters()).device
    return model if current == torch.device(device) else model.to(device)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["DEVICES", "FeatureEmbedding", "build_model", "count_parameters", "on_device", "pattern_parameters",
           "resolve_device", "trainable_parameters"]
