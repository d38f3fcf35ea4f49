"""A hooked transformer for positional attention (Back de Luca et al.), ``ModelConfig.architecture="hooked"``.

Positional attention computes every head's pattern from positions alone,
``softmax((P W_Q)(P W_K)^T / sqrt(d_head))`` with the same fixed one-hot ``P = I_{n_ctx}`` in every
layer, while the values come from the residual stream. ``PositionalTransformer`` builds that model
(``positional="attention"``) and, from the same code, its baselines: the paper's standard model
(``positional="learned"``: Q/K read the residual stream and a learned ``W_pos`` is added to the input,
which is exactly the paper's linear encoder of ``x`` concatenated with ``P``), rotary positions
(``"rotary"``) and no positions (``"none"``). Two further options: ``layer="concat"`` is the paper's
exact layer, ``MLP(concat[x, attention(x)])`` with no additive skip, beside TransformerLens's additive
residual (``"additive"``), and ``bias=False`` removes every bias, which makes a positional model
positively homogeneous (``f(c x) = c f(x)`` for ``c > 0``).

Why this route and not a ``TransformerBridge`` with hooks that overwrite the Q/K input by P: a bridge
cannot express the paper's concatenate-then-MLP layer at all, a hook-made positional model turns back
into a standard one silently whenever hooks are reset (``reset_hooks(including_permanent=True)``),
and its ``W_Q`` would pretend to read residual directions while reading P. Here the structure is the
model: in a positional model ``W_Q``/``W_K`` are ``[n_heads, n_ctx, d_head]`` tables over positions and
no code path lets Q or K see the residual stream. The cost is that this is not a bridge, so
``interp.checkpoint``, ``interp.training`` and ``interp.limits`` dispatch on ``architecture``.

TransformerLens conventions hold throughout: it is a ``HookedRootModule`` with TL hook names
(``hook_embed``, ``blocks.{l}.hook_resid_pre``, ``blocks.{l}.attn.hook_q/k/v`` ``[batch, pos, head,
d_head]``, ``hook_attn_scores``, ``hook_pattern`` ``[batch, head, dest, src]``, ``hook_z``,
``blocks.{l}.hook_attn_out``, ``hook_resid_mid``, ``blocks.{l}.hook_mlp_in`` (concat layers),
``mlp.hook_pre/hook_post``, ``hook_mlp_out``, ``hook_resid_post``), TL property-layout parameters
(``embed.W_E``, ``blocks.{l}.attn.W_Q``, ``b_Q``, ..., ``unembed.W_U``) so hand-built weights load with
``load_state_dict(strict=True)``, ``run_with_cache`` returns an ``ActivationCache``, ``cfg`` is a TL
config (TL's ``patching`` utilities run on it) and ``QK``/``OV`` are ``FactoredMatrix`` circuits.
The theory: docs/theory/positional.md.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import einops
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from transformer_lens import ActivationCache, FactoredMatrix, HookedRootModule
from transformer_lens.hook_points import HookPoint

from ..validation import TaskError
from .config import check_hooked

if TYPE_CHECKING:
    from .config import ModelConfig

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "gelu_new": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu}
ROTARY_BASE = 10000.0
LN_EPS = 1e-5


def _bias(shape: tuple[int, ...], on: bool) -> nn.Parameter | None:
    return nn.Parameter(torch.zeros(shape)) if on else None


class Norm(nn.Module):
    """Pre-norm ``LN`` (weights ``w``, ``b``) or ``RMS`` (``w``), TL's names; ``hook_normalized``."""

    def __init__(self, kind: str, d: int):
        super().__init__()
        self.kind = kind
        self.w = nn.Parameter(torch.ones(d))
        self.b = nn.Parameter(torch.zeros(d)) if kind == "LN" else None
        self.hook_normalized = HookPoint()

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "LN":
            return self.hook_normalized(F.layer_norm(x, (x.shape[-1],), self.w, self.b, LN_EPS))
        return self.hook_normalized(F.rms_norm(x, (x.shape[-1],), self.w, LN_EPS))


def _norm(kind: str, d: int) -> nn.Module:
    return nn.Identity() if kind == "none" else Norm(kind, d)


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotary positions on ``x`` ``[batch, pos, head, d_head]`` (pairs ``(i, i + d_head/2)``, GPT-NeoX style)."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


class Attention(nn.Module):
    """Multi-head attention whose queries and keys read ``qk_input`` and whose values read the residual.

    W_Q, W_K: ``[H, d_qk, d_head]`` (d_qk = n_ctx for positional attention, d_model otherwise);
    W_V: ``[H, d_model, d_v]``; W_O: ``[H, d_v, d_model]`` (d_v = ``cfg.value_width``: ``d_value``, or d_head).
    """

    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        H, D, dh, dv = cfg.n_heads, cfg.d_model, cfg.d_head, cfg.value_width
        d_qk = cfg.n_ctx if cfg.positional == "attention" else D
        self.W_Q = nn.Parameter(torch.empty(H, d_qk, dh))
        self.W_K = nn.Parameter(torch.empty(H, d_qk, dh))
        self.W_V = nn.Parameter(torch.empty(H, D, dv))
        self.W_O = nn.Parameter(torch.empty(H, dv, D))
        self.b_Q, self.b_K = (_bias((H, dh), cfg.bias) for _ in range(2))
        self.b_V = _bias((H, dv), cfg.bias)
        self.b_O = _bias((D,), cfg.bias)
        self.causal = cfg.attention_dir == "causal"
        self.rotary = cfg.positional == "rotary"
        self.scale = math.sqrt(dh)
        if self.rotary:
            freq = ROTARY_BASE ** (-torch.arange(0, dh // 2, dtype=torch.float32) / (dh // 2))
            angles = torch.outer(torch.arange(cfg.n_ctx, dtype=torch.float32), freq)
            self.register_buffer("rotary_cos", angles.cos().repeat(1, 2)[:, None], persistent=False)  # [pos, 1, dh]
            self.register_buffer("rotary_sin", angles.sin().repeat(1, 2)[:, None], persistent=False)
            self.hook_rot_q, self.hook_rot_k = HookPoint(), HookPoint()
        for name in ("hook_q", "hook_k", "hook_v", "hook_attn_scores", "hook_pattern", "hook_z"):
            setattr(self, name, HookPoint())

    @property
    def QK(self) -> FactoredMatrix:
        """``[head, d_qk, d_qk]`` ``W_Q W_K^T`` (before the 1/sqrt(d_head) scale)."""
        return FactoredMatrix(self.W_Q, self.W_K.transpose(-2, -1))

    @property
    def OV(self) -> FactoredMatrix:
        """``[head, d_model, d_model]`` ``W_V W_O``."""
        return FactoredMatrix(self.W_V, self.W_O)

    def forward(self, resid: Tensor, qk_input: Tensor) -> Tensor:
        """``resid`` ``[batch, pos, d_model]``, ``qk_input`` ``[batch, pos, d_qk]`` -> ``[batch, pos, d_model]``.

        A ``qk_input`` with batch size 1 is shared by every example (positional attention): queries, keys,
        scores and pattern are then computed once, and each hook sees them expanded to the batch, as a
        contiguous copy whenever a hook is attached (so it may edit them in place, per example).
        """
        B, P = resid.shape[:2]
        q = _through(self.hook_q, _project(qk_input, self.W_Q, self.b_Q), B)
        k = _through(self.hook_k, _project(qk_input, self.W_K, self.b_K), B)
        v = self.hook_v(_project(resid, self.W_V, self.b_V))
        if self.rotary:
            q = self.hook_rot_q(rotate(q, self.rotary_cos[:P], self.rotary_sin[:P]))
            k = self.hook_rot_k(rotate(k, self.rotary_cos[:P], self.rotary_sin[:P]))
        if q.shape[0] != k.shape[0]:
            q, k = q.expand(B, -1, -1, -1), k.expand(B, -1, -1, -1)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / self.scale
        if self.causal:
            future = torch.ones(P, P, dtype=torch.bool, device=scores.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        scores = _through(self.hook_attn_scores, scores, B)
        pattern = _through(self.hook_pattern, softmax(scores), B)
        if pattern.shape[0] == 1:
            z = torch.einsum("hqk,bkhd->bqhd", pattern[0], v)
        else:
            z = torch.einsum("bhqk,bkhd->bqhd", pattern, v)
        out = self.hook_z(z).flatten(-2) @ self.W_O.flatten(0, 1)
        return out if self.b_O is None else out + self.b_O


def softmax(scores: Tensor) -> Tensor:
    """``scores.softmax(-1)``, written out: on short rows (a few positions) torch's fused kernel ran about 6x
    slower than these three operations on the CPUs this was measured on, forward and backward."""
    e = (scores - scores.amax(-1, keepdim=True).detach()).exp()
    return e / e.sum(-1, keepdim=True)


def _project(x: Tensor, W: Tensor, b: Tensor | None) -> Tensor:
    """``x`` ``[batch, pos, d_in]`` through per-head ``W`` ``[head, d_in, d_head]``: ``[batch, pos, head, d_head]``
    (one matrix product for all heads)."""
    H, d_in, dh = W.shape
    out = (x @ W.transpose(0, 1).reshape(d_in, H * dh)).unflatten(-1, (H, dh))
    return out if b is None else out + b


def _through(hook: HookPoint, x: Tensor, batch: int) -> Tensor:
    """``hook(x)`` with ``x`` seen at the full batch size; a batch-1 ``x`` skips an unhooked point untouched."""
    if x.shape[0] == batch:
        return hook(x)
    if not (hook.fwd_hooks or hook.bwd_hooks):
        return x
    return hook(x.expand(batch, *x.shape[1:]).contiguous())


class MLP(nn.Module):
    """``act(x W_in + b_in) W_out + b_out``; W_in ``[d_in, d_mlp]`` (d_in = 2 d_model for the concat layer)."""

    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        d_in = 2 * cfg.d_model if cfg.layer == "concat" else cfg.d_model
        self.W_in = nn.Parameter(torch.empty(d_in, cfg.d_mlp))
        self.b_in = _bias((cfg.d_mlp,), cfg.bias)
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model))
        self.b_out = _bias((cfg.d_model,), cfg.bias)
        self.act = ACTIVATIONS[cfg.act_fn]
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()

    def forward(self, x: Tensor) -> Tensor:
        pre = x @ self.W_in
        hidden = self.hook_post(self.act(self.hook_pre(pre if self.b_in is None else pre + self.b_in)))
        out = hidden @ self.W_out
        return out if self.b_out is None else out + self.b_out


class Block(nn.Module):
    """One layer: additive (``x + attn(ln1 x)``, then ``+ mlp(ln2 .)``) or the paper's
    ``mlp(concat[x, attn(x)])``."""

    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        self.concat = cfg.layer == "concat"
        self.ln1 = _norm(cfg.normalization_type, cfg.d_model)
        self.attn = Attention(cfg)
        self.mlp = MLP(cfg) if cfg.d_mlp else None
        self.ln2 = _norm(cfg.normalization_type, cfg.d_model) if cfg.d_mlp else None
        names = ["hook_resid_pre", "hook_attn_out", "hook_resid_post"]
        names += (["hook_mlp_in"] if self.concat else ["hook_resid_mid"]) + (["hook_mlp_out"] if cfg.d_mlp else [])
        for name in names:
            setattr(self, name, HookPoint())

    def forward(self, x: Tensor, positions: Tensor | None) -> Tensor:
        """``positions``: the one-hot P ``[1, pos, n_ctx]`` (shared by the batch) for positional attention, else None."""
        x = self.hook_resid_pre(x)
        value_input = self.ln1(x)
        attn_out = self.hook_attn_out(self.attn(value_input, value_input if positions is None else positions))
        if self.concat:
            mlp_in = self.hook_mlp_in(torch.cat([x, attn_out], dim=-1))
            return self.hook_resid_post(self.hook_mlp_out(self.mlp(mlp_in)))
        mid = self.hook_resid_mid(x + attn_out)
        if self.mlp is None:
            return self.hook_resid_post(mid)
        return self.hook_resid_post(mid + self.hook_mlp_out(self.mlp(self.ln2(mid))))


class Embed(nn.Module):
    """``W_E [d_vocab, d_model]``: float features ``[batch, pos, d_in]`` are multiplied, token ids looked up."""

    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        self.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model))

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.W_E if x.is_floating_point() else F.embedding(x, self.W_E)


class PosEmbed(nn.Module):
    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        self.W_pos = nn.Parameter(torch.empty(cfg.n_ctx, cfg.d_model))

    def forward(self, positions: int) -> Tensor:
        return self.W_pos[:positions]


class Unembed(nn.Module):
    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        self.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab_out))
        self.b_U = _bias((cfg.d_vocab_out,), cfg.bias)

    def forward(self, x: Tensor) -> Tensor:
        out = x @ self.W_U
        return out if self.b_U is None else out + self.b_U


class HookedModel(HookedRootModule):
    """What the toolkit's ``HookedRootModule`` models share: ``interp_config`` and its TL config ``cfg``, the token
    or feature embedding ``embed.W_E`` with ``hook_embed``, a learned ``pos_embed.W_pos`` (``positional="learned"``),
    and TransformerLens's ``run_with_cache``. Subclasses add their blocks and ``unembed``. ``embedding=False``: no
    embedding at all (the minimal parity model, whose residual stream starts at zero)."""

    def __init__(self, cfg: "ModelConfig", seed: int | None, embedding: bool = True):
        super().__init__()
        from transformer_lens.config import TransformerBridgeConfig

        self.interp_config = cfg
        self.cfg = TransformerBridgeConfig(**cfg.to_bridge_config(seed))
        if not embedding:
            return
        self.embed = Embed(cfg)
        self.hook_embed = HookPoint()
        if cfg.positional == "learned":
            self.pos_embed = PosEmbed(cfg)
            self.hook_pos_embed = HookPoint()

    def embedded(self, inputs: Tensor) -> Tensor:
        """``[batch, pos]`` token ids or ``[batch, pos, d_vocab]`` features -> ``[batch, pos, d_model]``, with the
        learned positions where there are some."""
        x = self.hook_embed(self.embed(inputs))
        if hasattr(self, "pos_embed"):
            x = x + self.hook_pos_embed(self.pos_embed(inputs.shape[1]))
        return x

    def run_with_cache(self, *args: Any, return_cache_object: bool = True, **kwargs: Any):
        """As TransformerLens: ``(output, ActivationCache)`` (``return_cache_object=False``: a plain dict)."""
        out, cache = super().run_with_cache(*args, **kwargs)
        return (out, ActivationCache(cache, self)) if return_cache_object else (out, cache)

    @property
    def W_E(self) -> Tensor:
        return self.embed.W_E

    @property
    def W_U(self) -> Tensor:
        return self.unembed.W_U


class PositionalTransformer(HookedModel):
    """The model of the module docstring; ``PositionalTransformer(cfg, seed)``, or ``build_model(cfg, seed)``."""

    def __init__(self, cfg: "ModelConfig", seed: int | None = 0):
        check_hooked(cfg)
        super().__init__(cfg, seed)
        if cfg.positional == "attention":
            # The fixed one-hot positions every layer's Q/K read: set by the config, so not in the state dict.
            self.register_buffer("P", torch.eye(cfg.n_ctx), persistent=False)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = _norm(cfg.normalization_type, cfg.d_model)
        self.unembed = Unembed(cfg)
        if seed is not None:
            self.init_weights(seed)
        if cfg.freeze_attention:
            for p in self.pattern_parameters():
                p.requires_grad_(False)
        self.setup()

    # --- forward -------------------------------------------------------------------------------
    def forward(self, inputs: Tensor) -> Tensor:
        """``[batch, pos, d_vocab]`` features (or ``[batch, pos]`` token ids) -> ``[batch, pos, d_vocab_out]``."""
        x = self.embedded(inputs)
        positions = self.P[None, : inputs.shape[1]] if hasattr(self, "P") else None
        for block in self.blocks:
            x = block(x, positions)
        return self.unembed(self.ln_final(x))

    # --- initialisation ------------------------------------------------------------------------
    def init_weights(self, seed: int) -> None:
        init_weights(self, self.interp_config, seed)

    def pattern_parameters(self) -> list[nn.Parameter]:
        """What any attention pattern depends on (``freeze_attention``): the embeddings, every block before the
        last, and the last block's ``ln1``, ``W_Q``, ``W_K`` and their biases."""
        last = f"blocks.{self.interp_config.n_layers - 1}."
        upstream = ("embed.", "pos_embed.", *(f"blocks.{layer}." for layer in range(self.interp_config.n_layers - 1)),
                    last + "ln1.", *(last + f"attn.{name}" for name in ("W_Q", "W_K", "b_Q", "b_K")))
        return [p for name, p in self.named_parameters() if name.startswith(upstream)]

    # --- weights as TransformerLens exposes them -------------------------------------------------
    def _stack(self, name: str) -> Tensor:
        return torch.stack([getattr(block.attn, name) for block in self.blocks])

    @property
    def W_Q(self) -> Tensor:
        """``[layer, head, d_qk, d_head]`` (d_qk = n_ctx: rows are positions, for positional attention)."""
        return self._stack("W_Q")

    @property
    def W_K(self) -> Tensor:
        return self._stack("W_K")

    @property
    def W_V(self) -> Tensor:
        return self._stack("W_V")

    @property
    def W_O(self) -> Tensor:
        return self._stack("W_O")

    @property
    def QK(self) -> FactoredMatrix:
        """``[layer, head, d_qk, d_qk]`` ``W_Q W_K^T`` (before the 1/sqrt(d_head) scale); for positional attention a
        table over (query position, key position)."""
        return FactoredMatrix(self.W_Q, self.W_K.transpose(-2, -1))

    @property
    def OV(self) -> FactoredMatrix:
        """``[layer, head, d_model, d_model]`` ``W_V W_O``."""
        return FactoredMatrix(self.W_V, self.W_O)

    def positional_scores(self, layer: int) -> Tensor:
        """``[head, n_ctx, n_ctx]``: a positional-attention layer's scores, which are the same for every input."""
        if not hasattr(self, "P"):
            raise TaskError(f"positional={self.interp_config.positional!r}: only positional attention has input-free scores")
        attn = self.blocks[layer].attn
        P = self.P[None]
        q = einops.einsum(P, attn.W_Q, "b p i, h i d -> b p h d") + (0 if attn.b_Q is None else attn.b_Q)
        k = einops.einsum(P, attn.W_K, "b p i, h i d -> b p h d") + (0 if attn.b_K is None else attn.b_K)
        return einops.einsum(q, k, "b q h d, b k h d -> b h q k")[0] / attn.scale


def init_weights(model: nn.Module, cfg: "ModelConfig", seed: int) -> None:
    """TransformerLens's native init for ``cfg.init_mode`` on every weight of ``model``, by its TL name, in the
    order ``named_parameters`` gives them, from a CPU generator seeded with ``seed``.

    ``gpt2``: N(0, 0.8/sqrt(d_model)), output projections (W_O, W_out) scaled by 1/sqrt(2 n_layers);
    ``xavier_*``/``kaiming_*`` on each weight in ``nn.Linear`` layout; biases 0, norm weights 1.

    ``xavier_attention`` (the positional-attention paper's model, whose attention resets its weights as the
    original Transformer and leaves every other ``nn.Linear`` at PyTorch's default): W_Q and W_K Xavier-uniform
    as one stacked ``nn.Linear(d_qk, 2 n_heads d_head)`` (the authors' ``qk_proj``), W_V and W_O Xavier-uniform
    as ``nn.Linear(d_model, n_heads d_v)`` and ``nn.Linear(n_heads d_v, d_model)``, attention biases 0; every
    other weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's ``nn.Linear`` default, with fan_in the
    layer's input width (W_E and W_pos: ``d_vocab + n_ctx`` with learned positions, the authors' encoder of
    ``concat[x, P]``, else ``d_vocab``); norm weights 1, norm biases 0.
    """
    if cfg.init_mode == "xavier_attention":
        _init_paper(model, cfg, seed)
        return
    g = torch.Generator().manual_seed(seed)
    std = 0.8 / math.sqrt(cfg.d_model)
    out_scale = 1 / math.sqrt(2 * cfg.n_layers)
    modes = {
        "xavier_uniform": lambda t: nn.init.xavier_uniform_(t, generator=g),
        "xavier_normal": lambda t: nn.init.xavier_normal_(t, generator=g),
        "kaiming_uniform": lambda t: nn.init.kaiming_uniform_(t, nonlinearity="relu", generator=g),
        "kaiming_normal": lambda t: nn.init.kaiming_normal_(t, nonlinearity="relu", generator=g),
    }
    H = cfg.n_heads
    # TL name -> (the nn.Linear [out, in] layout it is drawn in, the rearrangement into TL's layout, an output?)
    layouts = {
        "W_E": (lambda W: W.shape, "v d -> v d", False),
        "W_pos": (lambda W: W.shape, "p d -> p d", False),
        "W_Q": (lambda W: (H * W.shape[2], W.shape[1]), "(h d) i -> h i d", False),
        "W_K": (lambda W: (H * W.shape[2], W.shape[1]), "(h d) i -> h i d", False),
        "W_V": (lambda W: (H * W.shape[2], W.shape[1]), "(h d) i -> h i d", False),
        "W_O": (lambda W: (W.shape[2], H * W.shape[1]), "m (h d) -> h d m", True),
        "W_in": (lambda W: (W.shape[1], W.shape[0]), "o i -> i o", False),
        "W_out": (lambda W: (W.shape[1], W.shape[0]), "o i -> i o", True),
        "W_U": (lambda W: (W.shape[1], W.shape[0]), "o i -> i o", False),
    }
    with torch.no_grad():
        for name, param in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf in layouts:
                linear_shape, to_param, output = layouts[leaf]
                staging = torch.empty(tuple(linear_shape(param)))
                if cfg.init_mode == "gpt2":
                    nn.init.normal_(staging, 0.0, std * (out_scale if output else 1.0), generator=g)
                else:
                    modes[cfg.init_mode](staging)
                param.copy_(einops.rearrange(staging, to_param, **({"h": H} if "h" in to_param else {})))
            elif leaf.startswith("b"):
                param.zero_()
            elif leaf == "w":
                param.fill_(1.0)


def _init_paper(model: nn.Module, cfg: "ModelConfig", seed: int) -> None:
    """``init_weights``'s ``xavier_attention`` mode, drawn in ``named_parameters`` order."""
    g = torch.Generator().manual_seed(seed)
    embed_fan_in = cfg.d_vocab + (cfg.n_ctx if cfg.positional == "learned" else 0)

    def uniform(param: Tensor, bound: float) -> None:
        param.copy_(torch.empty(param.shape).uniform_(-bound, bound, generator=g))

    def xavier(fan_in: int, fan_out: int) -> float:
        return math.sqrt(6.0 / (fan_in + fan_out))

    with torch.no_grad():
        for name, param in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("W_Q", "W_K"):  # [H, d_qk, d_head], one half of the stacked qk_proj
                H, d_qk, dh = param.shape
                uniform(param, xavier(d_qk, 2 * H * dh))
            elif leaf == "W_V":  # [H, d_model, d_v]
                H, D, dv = param.shape
                uniform(param, xavier(D, H * dv))
            elif leaf == "W_O":  # [H, d_v, d_model]
                H, dv, D = param.shape
                uniform(param, xavier(H * dv, D))
            elif leaf in ("b_Q", "b_K", "b_V", "b_O"):
                param.zero_()
            elif leaf in ("W_E", "W_pos"):
                uniform(param, 1 / math.sqrt(embed_fan_in))
            elif leaf in ("W_in", "W_out", "W_U"):  # [d_in, d_out]
                uniform(param, 1 / math.sqrt(param.shape[0]))
            elif leaf in ("b_in", "b_out", "b_U"):  # the bias of the weight drawn just before it
                fan_in = {"b_in": "W_in", "b_out": "W_out", "b_U": "W_U"}[leaf]
                uniform(param, 1 / math.sqrt(model.get_parameter(name.rsplit(".", 1)[0] + "." + fan_in).shape[0]))
            elif leaf == "w":
                param.fill_(1.0)
            elif leaf == "b":
                param.zero_()


__all__ = ["HookedModel", "PositionalTransformer", "init_weights"]
