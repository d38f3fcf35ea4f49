"""The simplified block as a toolkit model: a one-layer ``TransformerBridge`` with the GP prior's weights.

``build_block`` boots the bridge with ``interp.models.build_model`` and draws the prior of
docs/theory/symmetry.md: one-hot token embeddings in the first V residual directions, positional
embeddings ``N(0, sp2/W)`` in the other W, ``W_Q, W_K, W_V, W_O`` entries ``N(0, 1)``, biases zero.
Linear attention is the bridge's own forward with ``blocks.0.attn.hook_pattern`` replaced by the scores
``q.k / sqrt(d_head)`` (read from ``hook_q``/``hook_k`` of the same pass); softmax attention is the bridge
unchanged. Everything is read through TransformerLens hooks: ``hook_z`` per head, ``hook_attn_out`` for
the network.

Two readings of one bridge:

- ``head_outputs``: each head is an independent one-head block (its own ``W_Q, W_K, W_V`` and its slice
  of ``W_O``); a bridge with H heads is H random networks sharing one positional draw. Their covariance
  estimates the kernel (``empirical_kernel``).
- ``network_output`` / ``readout_features``: the H-head network ``f = (H d_head)^-1/2 sum_mu r_mu
  attn_out_mu[0]`` (with the extra ``1/L`` of linear attention), whose kernel is the same in the
  wide limit. Training only its readout (``W_O[:, :, 0]``) with weight decay matched to the prior is
  kernel regression with the network's own finite-width kernel (``train_readout``).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from transformer_lens.utilities import get_act_name

from ..models import ModelConfig, build_model
from ..validation import check_choice, check_float, check_int
from .kernel import ATTENTION, check_tokens, covariance_with_error, mean_readout

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

LAYER = 0


@dataclass
class BlockConfig:
    """The simplified block: vocabulary V, length L, positional variance sp2 over width W, H heads of d_k."""

    V: int = 2
    L: int = 5
    sp2: float = 1.0
    heads: int = 256
    d_k: int = 8
    positional_width: int = 256
    attention: str = "linear"

    def __post_init__(self) -> None:
        for name in ("V", "L", "heads", "d_k", "positional_width"):
            check_int(name, getattr(self, name), 1)
        check_float("sp2", self.sp2, 0)
        check_choice("attention", self.attention, ATTENTION)

    @property
    def d_model(self) -> int:
        return self.V + self.positional_width


def build_block(cfg: BlockConfig, seed: int) -> "TransformerBridge":
    """A bridge holding the block's prior weights, drawn from ``seed`` (float64)."""
    model_cfg = ModelConfig(n_layers=1, n_heads=cfg.heads, d_model=cfg.d_model, d_head=cfg.d_k, d_mlp=0,
                            normalization_type="none", attention_dir="bidirectional", positional="learned",
                            n_ctx=cfg.L, d_vocab=cfg.V, d_vocab_out=1)
    with contextlib.redirect_stdout(io.StringIO()):  # TransformerLens announces the dtype change
        model = build_model(model_cfg, seed=seed).to(torch.float64)
    model.block_config = cfg
    return draw_prior(model, seed).eval()


def draw_prior(model: "TransformerBridge", seed: int) -> "TransformerBridge":
    """Overwrite ``model``'s weights with a fresh draw of the prior from ``seed`` (in place)."""
    cfg: BlockConfig = model.block_config
    g = torch.Generator().manual_seed(seed)
    width, D = cfg.heads * cfg.d_k, cfg.d_model

    def normal(*shape: int, std: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64) * std

    state = model.state_dict()
    weights = {
        "embed.weight": torch.cat([torch.eye(cfg.V, dtype=torch.float64), torch.zeros(cfg.V, cfg.positional_width,
                                                                                      dtype=torch.float64)], 1),
        "pos_embed.weight": torch.cat([torch.zeros(cfg.L, cfg.V, dtype=torch.float64),
                                       normal(cfg.L, cfg.positional_width, std=(cfg.sp2 / cfg.positional_width) ** 0.5)], 1),
        **{f"blocks.{LAYER}.attn.{m}.weight": normal(width, D) for m in "qkv"},
        f"blocks.{LAYER}.attn.o.weight": normal(D, width),
    }
    for name, value in state.items():
        state[name] = weights.get(name, torch.zeros_like(value))
    model.load_state_dict(state, strict=True)
    return model


def _forward(model: "TransformerBridge", tokens: np.ndarray, keep: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """One forward pass with the block's attention (linear: ``hook_pattern`` := scores), returning the
    activations of the hooks named in ``keep`` (``"z"``, ``"attn_out"``)."""
    cfg: BlockConfig = model.block_config
    store: dict[str, torch.Tensor] = {}

    def keeper(key: str):
        def hook(t: torch.Tensor, hook) -> torch.Tensor:
            store[key] = t
            return t

        return hook

    def linear_pattern(pattern: torch.Tensor, hook) -> torch.Tensor:
        scale = model.blocks[LAYER].attn.original_component.scale
        return torch.einsum("bqhd,bkhd->bhqk", store["q"], store["k"]) / scale

    names = {kind: get_act_name(kind, LAYER) for kind in ("z", "attn_out")}
    hooks = [(names[key], keeper(key)) for key in keep]
    if cfg.attention == "linear":
        hooks += [(get_act_name("q", LAYER), keeper("q")), (get_act_name("k", LAYER), keeper("k")),
                  (get_act_name("pattern", LAYER), linear_pattern)]
    with torch.no_grad():
        model.run_with_hooks(torch.as_tensor(check_tokens("tokens", tokens, cfg.V)), fwd_hooks=hooks)
    return store


def _position_weights(cfg: BlockConfig) -> torch.Tensor:
    """``r_mu`` with the linear block's extra ``1/L`` folded in."""
    r = torch.as_tensor(mean_readout(cfg.L))
    return r / cfg.L if cfg.attention == "linear" else r


def head_outputs(model: "TransformerBridge", tokens: np.ndarray) -> np.ndarray:
    """``[N, H]``: the output of each head read as its own one-head network,
    ``d_head^-1/2 sum_c W_O[h, c, 0] sum_mu r_mu z[mu, h, c]`` (``hook_z``)."""
    cfg: BlockConfig = model.block_config
    z = _forward(model, tokens, ("z",))["z"]  # [N, L, H, d_k]
    pooled = torch.einsum("m,nmhc->nhc", _position_weights(cfg), z)
    readout = model.blocks[LAYER].attn.W_O[:, :, 0].detach()  # [H, d_k]
    return (torch.einsum("nhc,hc->nh", pooled, readout) / cfg.d_k**0.5).numpy()


def readout_features(model: "TransformerBridge", tokens: np.ndarray) -> np.ndarray:
    """``[N, H * d_k]``: the frozen features the network's readout ``W_O[:, :, 0]`` weighs,
    ``(H d_k)^-1/2 sum_mu r_mu z[mu, h, c]`` (``hook_z``)."""
    cfg: BlockConfig = model.block_config
    z = _forward(model, tokens, ("z",))["z"]
    pooled = torch.einsum("m,nmhc->nhc", _position_weights(cfg), z)
    return (pooled.reshape(len(pooled), -1) / (cfg.heads * cfg.d_k) ** 0.5).numpy()


def network_output(model: "TransformerBridge", tokens: np.ndarray, outputs: int = 1) -> np.ndarray:
    """``[N, outputs]``: the H-head network's outputs, ``(H d_k)^-1/2 sum_mu r_mu attn_out[mu, j]`` for the first
    ``outputs`` residual coordinates j (``hook_attn_out``); coordinate j is read out by ``W_O[:, :, j]``."""
    cfg: BlockConfig = model.block_config
    out = _forward(model, tokens, ("attn_out",))["attn_out"][:, :, :outputs]
    return (torch.einsum("nmj,m->nj", out, _position_weights(cfg)) / (cfg.heads * cfg.d_k) ** 0.5).numpy()


def empirical_kernel(cfg: BlockConfig, tokens: np.ndarray, networks: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The output covariance of ``networks`` random one-head blocks (``ceil(networks / cfg.heads)``
    bridges of ``cfg.heads`` heads each), and each entry's standard error."""
    check_int("networks", networks, 2)
    model = build_block(cfg, seed)
    outputs = []
    for bridge in range(-(-networks // cfg.heads)):
        outputs.append(head_outputs(draw_prior(model, seed + bridge), tokens))
    return covariance_with_error(np.concatenate(outputs, 1)[:, :networks].T)


def train_readout(model: "TransformerBridge", tokens: np.ndarray, targets: np.ndarray, noise: float,
                  features: np.ndarray | None = None, max_iter: int = 500) -> dict[str, float]:
    """Train only the readout (all else frozen) on ``0.5 sum (f - y)^2 + 0.5 noise |w|^2``: weight decay
    ``noise / prior variance`` with the prior ``N(0, 1)``, so the minimiser is the posterior mean of the
    network's finite-width GP. Target column j (``targets [N]`` or ``[N, T]``) trains ``W_O[:, :, j]``, read
    by ``network_output(..., outputs=T)``. L-BFGS on the bridge's own parameter; ``features`` (from
    ``readout_features`` on ``tokens``) may be passed to skip the forward pass. Returns the final loss and
    gradient norm."""
    features = torch.as_tensor(readout_features(model, tokens) if features is None else features)
    y = torch.as_tensor(np.asarray(targets, dtype=np.float64))
    y = y[:, None] if y.ndim == 1 else y
    o = model.blocks[LAYER].attn.o.original_component.weight  # [d_model, H * d_k]; row j reads out coordinate j
    w = torch.zeros(y.shape[1], o.shape[1], dtype=o.dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS([w], lr=1, max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-14,
                                  history_size=50, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = 0.5 * ((features @ w.T - y) ** 2).sum() + 0.5 * noise * (w**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    loss = closure()
    with torch.no_grad():
        o[: y.shape[1]] = w.detach()
    return {"loss": float(loss.detach()), "gradient_norm": float(w.grad.norm())}


__all__ = ["BlockConfig", "build_block", "draw_prior", "empirical_kernel", "head_outputs", "network_output", "readout_features",
           "train_readout"]
