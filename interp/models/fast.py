"""The training forward pass: the same function as the hooked TransformerBridge, in fewer operations.

TransformerLens's native forward is written for generality and for its hooks: three separate Q/K/V
projections, scores divided after the product, a mask built and applied twice per layer even when
attention is bidirectional, and a hook call around every component. For analysis all of that is the
point; for training it is 5-20 % of every step. ``training_forward`` computes the same logits from the
same parameters (one fused QKV projection, the scale folded into the query, the mask applied once and
only when attention is causal), so gradients flow into the bridge's own parameters and the trained
model is an ordinary bridge. ``tests/test_training.py`` checks it against ``model(inputs)`` for every
supported configuration.

It falls back to the hooked forward where it does not apply: rotary positions, and a model with hooks
attached (a user intervening during training gets exactly what the hooks do).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "gelu_new": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu}


def supports(model: "TransformerBridge") -> bool:
    cfg = getattr(model, "interp_config", None)
    return (cfg is not None and cfg.architecture == "bridge" and cfg.positional != "rotary" and cfg.act_fn in ACTIVATIONS
            and not any(hook.fwd_hooks or hook.bwd_hooks for hook in model.hook_dict.values()))


def _native(module):
    return module._original_component


def _norm(module, x: Tensor, kind: str, eps: float) -> Tensor:
    if kind == "none":
        return x
    norm = _native(module)
    if kind == "LN":
        return F.layer_norm(x, (x.shape[-1],), norm.weight, norm.bias, eps)
    return F.rms_norm(x, (x.shape[-1],), norm.weight, eps)


def training_forward(model: "TransformerBridge", inputs: Tensor) -> Tensor:
    """Logits ``[batch, pos, d_vocab_out]`` of ``model`` on ``inputs`` (token ids or features)."""
    if not supports(model):
        return model(inputs)
    cfg, native = model.interp_config, model.original_model
    eps = model.cfg.eps
    embed = _native(native.tok_embed).weight
    x = inputs @ embed if inputs.is_floating_point() else F.embedding(inputs, embed)
    x = x + _native(native.pos).weight[: inputs.shape[1]]
    batch, pos, _ = x.shape
    scale = 1 / math.sqrt(cfg.d_head)
    for layer in native.layers:
        block = _native(layer)
        attn = _native(block.attn)
        q, k, v, o = (_native(getattr(attn, name)) for name in ("q", "k", "v", "o"))
        weight = torch.cat([q.weight * scale, k.weight, v.weight])
        bias = torch.cat([q.bias * scale, k.bias, v.bias])
        qkv = F.linear(_norm(block.ln1, x, cfg.normalization_type, eps), weight, bias)
        q_, k_, v_ = qkv.view(batch, pos, 3, cfg.n_heads, cfg.d_head).permute(2, 0, 3, 1, 4)
        scores = q_ @ k_.transpose(-1, -2)
        if cfg.attention_dir == "causal":
            scores = scores.masked_fill(attn.causal_mask[:pos, :pos], float("-inf"))
        z = scores.softmax(-1) @ v_
        x = x + F.linear(z.transpose(1, 2).reshape(batch, pos, -1), o.weight, o.bias)
        if cfg.d_mlp:
            mlp = _native(block.mlp)
            fc_in, fc_out = _native(mlp.fc_in), _native(mlp.fc_out)
            hidden = ACTIVATIONS[cfg.act_fn](F.linear(_norm(block.ln2, x, cfg.normalization_type, eps), fc_in.weight, fc_in.bias))
            x = x + F.linear(hidden, fc_out.weight, fc_out.bias)
    x = _norm(native.ln_out, x, cfg.normalization_type, eps)
    head = _native(native.head)
    return F.linear(x, head.weight, head.bias)
