"""Small named pieces that hand-built constructions are composed from (tracr-style).

The layers, bottom up:

- ``ResidualBasis``: the residual stream as named one-dimensional subspaces ("count", "cos",
  "in_region[2]"). Every weight below is written in terms of these names, so a construction reads like
  its proof and a user can ask the finished model which direction means what (``residual_labels``).
- ``Head``: one attention head as the bilinear forms it computes (``W_Q W_K^T`` and ``W_V W_O``), with a
  plain-torch reference forward so each head can be tested before it is placed in a model. Builders:
  ``set_attention_head`` (attend uniformly to the keys that best match the query) and
  ``circular_pointer_head`` (point at one position through (cos, sin) positional codes).
- ``MLP``: one ReLU MLP, also with a reference forward. Builders: ``discretiser`` (tracr-style pairs of
  ReLUs that turn a scalar taking known values into step flags) and ``parity_zigzag`` (Han &
  Ghoshdastidar's width-k zig-zag that maps a count to its parity).
- ``block_weights`` / ``assemble``: place pieces into TransformerLens property-layout tensors
  (``blocks.{l}.attn.W_Q [n_heads, d_model, d_head]`` ...), convert them with TL's
  ``convert_tl_checkpoint`` and load them into a model from ``interp.models.build_model`` with
  ``strict=True``. Anything not given is zero.

Shapes in docstrings: ``D`` = d_model, ``P`` = positions, ``H`` = heads.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import einops
import torch
import torch.nn.functional as F
from torch import Tensor

from ..models import ModelConfig, build_model

if TYPE_CHECKING:
    from transformer_lens import HookedRootModule
    from transformer_lens.model_bridge import TransformerBridge

    from ..tasks import Task

_LABEL = re.compile(r"^(?P<name>[^\[\]]+)(\[(?P<key>[^\[\]]+)\])?$")


class ResidualBasis:
    """The residual stream as named one-dimensional subspaces.

    A block is either a single direction (``add("count")`` -> label "count") or a family of directions
    indexed by keys (``add("in_region", range(1, 4))`` -> "in_region[1]", "in_region[2]", ...).
    Directions are the standard basis vectors in the order they were added.
    """

    def __init__(self) -> None:
        self.labels: list[str] = []
        self._index: dict[str, int] = {}
        self._blocks: dict[str, list[int]] = {}

    def add(self, name: str, keys: Sequence[Any] | None = None) -> "ResidualBasis":
        """Append block ``name`` (one direction, or one per key); returns self for chaining."""
        labels = [name] if keys is None else [f"{name}[{key}]" for key in keys]
        bad = [label for label in labels if not _LABEL.match(label) or label in self._index]
        if name in self._blocks or bad or len(set(labels)) != len(labels):
            raise ValueError(f"residual block {name!r} exists already or has invalid or repeated labels {bad}")
        start = len(self.labels)
        self._index.update({label: start + offset for offset, label in enumerate(labels)})
        self.labels.extend(labels)
        self._blocks[name] = list(range(start, start + len(labels)))
        return self

    @classmethod
    def from_labels(cls, labels: Sequence[str]) -> "ResidualBasis":
        """Rebuild a basis from ``model.residual_labels`` (e.g. after loading a checkpoint)."""
        groups: list[tuple[str, list[str] | None]] = []
        for label in labels:
            match = _LABEL.match(label)
            if match is None:
                raise ValueError(f"invalid residual label {label!r}")
            name, key = match["name"], match["key"]
            if key is not None and groups and groups[-1][0] == name and groups[-1][1] is not None:
                groups[-1][1].append(key)
            else:
                groups.append((name, None if key is None else [key]))
        basis = cls()
        for name, keys in groups:
            basis.add(name, keys)
        return basis

    @property
    def d_model(self) -> int:
        return len(self.labels)

    def __getitem__(self, label: str) -> int:
        """Index of the direction named ``label``."""
        try:
            return self._index[label]
        except KeyError:
            raise KeyError(f"no residual direction {label!r}; known: {', '.join(self.labels)}") from None

    def __contains__(self, label: str) -> bool:
        return label in self._index

    def block(self, name: str) -> list[int]:
        """Indices of block ``name``, in key order."""
        return list(self._blocks[name])

    def vector(self, components: Mapping[str, float]) -> Tensor:
        """``[D]``: sum of ``coefficient * e_label`` over ``components``."""
        out = torch.zeros(self.d_model)
        for label, value in components.items():
            out[self[label]] += value
        return out

    def rows(self, rows: Sequence[Mapping[str, float]]) -> Tensor:
        """``[len(rows), D]``: one ``vector`` per row (embedding tables: W_E, W_pos)."""
        if not rows:
            return torch.zeros(0, self.d_model)
        return torch.stack([self.vector(row) for row in rows])

    def read(self, resid: Tensor, label: str) -> Tensor:
        """``resid[..., label]``: the coordinate of ``resid`` along direction ``label``."""
        return resid[..., self[label]]


# --- attention heads ----------------------------------------------------------------------------


@dataclass
class Head:
    """One attention head, written as the forms it computes (before TL's ``1/sqrt(d_head)``).

    W_Q, W_K: ``[D, d_qk]``; score from query resid x to key resid y is ``x W_Q (y W_K)^T``.
    W_V: ``[D, d_ov]``, W_O: ``[d_ov, D]``; the head writes ``sum_j pattern_j y_j W_V W_O``.
    ``block_weights`` pads heads to the model's d_head and folds ``sqrt(d_head)`` into W_Q.
    """

    W_Q: Tensor
    W_K: Tensor
    W_V: Tensor
    W_O: Tensor

    @property
    def d_head(self) -> int:
        return max(self.W_Q.shape[1], self.W_V.shape[1])

    @property
    def W_QK(self) -> Tensor:
        """``[D, D]`` bilinear form of the scores."""
        return self.W_Q @ self.W_K.T

    @property
    def W_OV(self) -> Tensor:
        """``[D, D]`` map from a key's residual to what the head writes."""
        return self.W_V @ self.W_O

    def scores(self, resid: Tensor) -> Tensor:
        """``[..., P, D] -> [..., P_q, P_k]`` attention scores."""
        return (resid @ self.W_Q) @ (resid @ self.W_K).transpose(-1, -2)

    def pattern(self, resid: Tensor, causal: bool = False) -> Tensor:
        """``[..., P, D] -> [..., P_q, P_k]`` softmax attention pattern."""
        scores = self.scores(resid)
        if causal:
            P = scores.shape[-1]
            future = torch.ones(P, P, dtype=torch.bool, device=scores.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        return scores.softmax(-1)

    def __call__(self, resid: Tensor, causal: bool = False) -> Tensor:
        """``[..., P, D] -> [..., P, D]``: what the head adds to the residual stream."""
        return self.pattern(resid, causal) @ (resid @ self.W_OV)


def _grouped(basis: ResidualBasis, terms: Mapping[tuple[str, str], float], scale: float) -> tuple[Tensor, Tensor]:
    """Factor ``sum_(a, b) w_ab e_a e_b^T`` as ``L R^T`` with one column per distinct left label."""
    lefts = list(dict.fromkeys(a for a, _ in terms))
    L = torch.zeros(basis.d_model, len(lefts))
    R = torch.zeros(basis.d_model, len(lefts))
    for (a, b), w in terms.items():
        col = lefts.index(a)
        L[basis[a], col] = scale
        R[basis[b], col] += w
    return L, R


def set_attention_head(
    basis: ResidualBasis,
    *,
    match: Mapping[tuple[str, str], float],
    copy: Mapping[tuple[str, str], float],
    beta: float,
) -> Head:
    """A head that attends uniformly to a set: the keys that best match the query.

    The score from query x to key y is ``beta * sum_{(a, b) in match} w_ab x[a] y[b]``. When the
    members of the set share the top score and every other key scores at least ``beta * gap`` lower,
    the pattern is uniform over the members up to a leak of ``(#others) * exp(-beta * gap)``.
    ``copy`` maps ``(value label, output label) -> weight``: the head writes the members' mean of
    ``value`` into ``output``. One d_head column per distinct query (resp. value) label.
    """
    W_Q, W_K = _grouped(basis, match, beta)
    W_V, W_O_T = _grouped(basis, copy, 1.0)
    return Head(W_Q, W_K, W_V, W_O_T.T.contiguous())


def circular_pointer_head(
    basis: ResidualBasis,
    *,
    query: str,
    code: tuple[str, str],
    angle: float,
    sharpness: float,
    value: str,
    out: str,
) -> Head:
    """A head whose query points at angle ``angle`` on a circle of (cos, sin) positional codes.

    Keys carry ``(cos phi_p, sin phi_p)`` in the ``code`` directions; the query direction ``query``
    carries ``sharpness * (cos angle, sin angle)`` in W_Q (the two numbers Han & Ghoshdastidar train),
    so the score is ``sharpness * cos(phi_p - angle)`` and peaks at the position whose code angle is
    ``angle``. The head copies ``value`` into ``out``.
    """
    W_Q = torch.zeros(basis.d_model, 2)
    W_Q[basis[query]] = sharpness * torch.tensor([math.cos(angle), math.sin(angle)])
    W_K = torch.zeros(basis.d_model, 2)
    W_K[basis[code[0]], 0] = 1.0
    W_K[basis[code[1]], 1] = 1.0
    W_V = torch.zeros(basis.d_model, 1)
    W_V[basis[value], 0] = 1.0
    W_O = torch.zeros(1, basis.d_model)
    W_O[0, basis[out]] = 1.0
    return Head(W_Q, W_K, W_V, W_O)


# --- MLPs -----------------------------------------------------------------------------------------


@dataclass
class MLP:
    """One ReLU MLP: ``relu(x W_in + b_in) W_out + b_out``.

    W_in: ``[D, d_mlp]``, b_in: ``[d_mlp]``, W_out: ``[d_mlp, D]``, b_out: ``[D]``.
    """

    W_in: Tensor
    b_in: Tensor
    W_out: Tensor
    b_out: Tensor

    @property
    def d_mlp(self) -> int:
        return self.W_in.shape[1]

    def hidden(self, resid: Tensor) -> Tensor:
        """``[..., D] -> [..., d_mlp]`` post-ReLU activations."""
        return F.relu(resid @ self.W_in + self.b_in)

    def __call__(self, resid: Tensor) -> Tensor:
        """``[..., D] -> [..., D]``: what the MLP adds to the residual stream."""
        return self.hidden(resid) @ self.W_out + self.b_out


def discretiser(
    basis: ResidualBasis,
    source: str,
    values: Sequence[float],
    writes: Sequence[Mapping[str, float]],
) -> MLP:
    """Tracr-style MLP turning a scalar that takes known values into step flags.

    ``values`` are the candidate values ``v_0 > v_1 > ... > v_N`` of the scalar in direction
    ``source``. Step ``m`` (m = 1..N) is ``1[x <= v_m]`` ("x has reached bin m"); it is computed by two
    ReLUs, ``relu(lam (t - x) + 1/2) - relu(lam (t - x) - 1/2)`` with ``t`` the midpoint of
    ``v_{m-1}, v_m`` and ``lam = 2 / (v_{m-1} - v_m)``, so it is exactly 0 or 1 whenever x is within a
    quarter gap of a candidate value. Step m adds ``writes[m - 1]`` (label -> coefficient).

    Why ``1[x < t]`` rather than tracr's ``1[x >= t]``: for values crowding near 0 (1/(n+1)) the
    pre-activations then stay O(n) on the active side instead of O(n^2), which keeps the difference
    of the two ReLUs exact in float32.
    """
    v = torch.tensor([float(x) for x in values], dtype=torch.float64)
    if v.ndim != 1 or len(v) < 2 or not bool((v[1:] < v[:-1]).all()):
        raise ValueError("discretiser values must be at least two strictly decreasing numbers")
    if len(writes) != len(v) - 1:
        raise ValueError(f"discretiser needs one write per step ({len(v) - 1}), got {len(writes)}")
    t = (v[:-1] + v[1:]) / 2
    lam = 2.0 / (v[:-1] - v[1:])
    # Interleave the two ReLUs of each step: units 2m, 2m + 1.
    W_in = torch.zeros(basis.d_model, 2 * len(t), dtype=torch.float64)
    W_in[basis[source]] = einops.repeat(-lam, "s -> (s two)", two=2)
    b_in = einops.rearrange(torch.stack([lam * t + 0.5, lam * t - 0.5], dim=1), "s two -> (s two)")
    step_out = torch.stack([basis.vector(w).double() for w in writes])  # [steps, D]
    W_out = einops.rearrange(torch.stack([step_out, -step_out], dim=1), "s two d -> (s two) d")
    return MLP(W_in.float(), b_in.float(), W_out.float(), torch.zeros(basis.d_model))


def parity_zigzag(basis: ResidualBasis, source: str, out: str, k: int) -> MLP:
    """Han & Ghoshdastidar's width-k zig-zag ``g(u) = sum_{i<k} (-1)^i (4i+2) relu(u - i - 1/2)``.

    ``g(m) = m mod 2`` for integers m = 0..k; the slope on ``(m - 1/2, m + 1/2)`` is
    ``(-1)^(m-1) 2m``, so ``g(u) > 1/2`` iff the nearest integer is odd while ``|u - m| < 1/(4k)``.
    """
    i = torch.arange(k, dtype=torch.float32)
    W_in = torch.zeros(basis.d_model, k)
    W_in[basis[source]] = 1.0
    W_out = torch.zeros(k, basis.d_model)
    W_out[:, basis[out]] = (-1.0) ** i * (4 * i + 2)
    return MLP(W_in, -(i + 0.5), W_out, torch.zeros(basis.d_model))


# --- assembly into a TransformerLens model ------------------------------------------------------


def construction_config(task: "Task", **fields: Any) -> ModelConfig:
    """``ModelConfig.for_task(task, **fields)`` with the settings every hand-built model relies on.

    The task's training defaults may change (LayerNorm, GELU, frozen attention); the weights here are
    written for ReLU MLPs, no normalisation and trainable attention, so those are pinned.
    """
    pinned = {"act_fn": "relu", "normalization_type": "none", "freeze_attention": False}
    return ModelConfig.for_task(task, **{**pinned, **fields})


def tl_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """TL property-layout keys and shapes of a model with config ``cfg`` (no normalisation)."""
    D, H, dh = cfg.d_model, cfg.n_heads, cfg.d_head
    shapes: dict[str, tuple[int, ...]] = {"embed.W_E": (cfg.d_vocab, D), "pos_embed.W_pos": (cfg.n_ctx, D)}
    for layer in range(cfg.n_layers):
        attn = f"blocks.{layer}.attn."
        for name in ("W_Q", "W_K", "W_V"):
            shapes[attn + name] = (H, D, dh)
        for name in ("b_Q", "b_K", "b_V"):
            shapes[attn + name] = (H, dh)
        shapes[attn + "W_O"] = (H, dh, D)
        shapes[attn + "b_O"] = (D,)
        if cfg.d_mlp > 0:
            mlp = f"blocks.{layer}.mlp."
            shapes.update({mlp + "W_in": (D, cfg.d_mlp), mlp + "b_in": (cfg.d_mlp,)})
            shapes.update({mlp + "W_out": (cfg.d_mlp, D), mlp + "b_out": (D,)})
    shapes["unembed.W_U"] = (D, cfg.d_vocab_out)
    shapes["unembed.b_U"] = (cfg.d_vocab_out,)
    return shapes


def _pad(t: Tensor, dim: int, size: int) -> Tensor:
    pad = [0, 0] * (t.ndim - 1 - dim % t.ndim) + [0, size - t.shape[dim]]
    return F.pad(t, pad)


def block_weights(cfg: ModelConfig, layer: int, heads: Sequence[Head], mlp: MLP | None = None) -> dict[str, Tensor]:
    """TL property-layout tensors of block ``layer``: heads padded to ``cfg.d_head``, MLP to ``cfg.d_mlp``.

    TL native attention divides scores by ``sqrt(d_head)`` and refuses ``attn_scale=1`` when
    ``d_head > 1``, so the factor is folded into W_Q here, once, for every construction.
    """
    if len(heads) != cfg.n_heads:
        raise ValueError(f"layer {layer} has {len(heads)} heads but cfg.n_heads={cfg.n_heads}")
    too_wide = [h.d_head for h in heads if h.d_head > cfg.d_head]
    if too_wide:
        raise ValueError(f"a head of layer {layer} needs d_head={max(too_wide)} > cfg.d_head={cfg.d_head}")
    attn = f"blocks.{layer}.attn."
    out = {
        attn + "W_Q": torch.stack([_pad(h.W_Q, 1, cfg.d_head) for h in heads]) * math.sqrt(cfg.d_head),
        attn + "W_K": torch.stack([_pad(h.W_K, 1, cfg.d_head) for h in heads]),
        attn + "W_V": torch.stack([_pad(h.W_V, 1, cfg.d_head) for h in heads]),
        attn + "W_O": torch.stack([_pad(h.W_O, 0, cfg.d_head) for h in heads]),
    }
    if mlp is not None:
        if mlp.d_mlp > cfg.d_mlp:
            raise ValueError(f"the MLP of layer {layer} needs d_mlp={mlp.d_mlp} > cfg.d_mlp={cfg.d_mlp}")
        prefix = f"blocks.{layer}.mlp."
        out[prefix + "W_in"] = _pad(mlp.W_in, 1, cfg.d_mlp)
        out[prefix + "b_in"] = _pad(mlp.b_in, 0, cfg.d_mlp)
        out[prefix + "W_out"] = _pad(mlp.W_out, 0, cfg.d_mlp)
        out[prefix + "b_out"] = mlp.b_out
    return out


def assemble(
    cfg: ModelConfig,
    weights: Mapping[str, Tensor],
    basis: ResidualBasis,
    *,
    name: str,
    params: Mapping[str, Any],
) -> "TransformerBridge":
    """Build a TL 4 model for ``cfg`` holding ``weights`` (TL property layout; missing keys are zero).

    Goes through ``build_model(cfg, seed=None)``, TL's ``convert_tl_checkpoint`` and
    ``load_state_dict(strict=True)``, so the result is an ordinary ``interp`` model: it saves and
    loads with ``interp.checkpoint`` and has every TL hook. Sets ``model.residual_labels`` (one label
    per residual direction) and ``model.construction = {"name": name, "params": params}``.
    """
    from transformer_lens.utilities.tl_checkpoint_conversion import convert_tl_checkpoint

    if cfg.normalization_type != "none" or cfg.positional == "rotary":
        raise ValueError("hand-built models need normalization_type='none' and a learned or no positional table")
    if basis.d_model != cfg.d_model:
        raise ValueError(f"the residual basis has {basis.d_model} directions but cfg.d_model={cfg.d_model}")
    shapes = tl_shapes(cfg)
    unknown = sorted(set(weights) - set(shapes))
    if unknown:
        raise ValueError(f"unknown weight key(s) {unknown}; expected TL property keys such as {list(shapes)[:3]}")
    full = {key: torch.zeros(shape) for key, shape in shapes.items()}
    for key, value in weights.items():
        if tuple(value.shape) != shapes[key]:
            raise ValueError(f"{key} has shape {tuple(value.shape)}, expected {shapes[key]}")
        full[key] = value.detach().float().clone()
    if cfg.positional == "none" and full["pos_embed.W_pos"].any():
        raise ValueError("positional='none' (NoPE) needs a zero W_pos")
    model = build_model(cfg, seed=None)
    model.load_state_dict(convert_tl_checkpoint(full, model.cfg), strict=True)
    model.residual_labels = list(basis.labels)
    model.construction = {"name": name, "params": dict(params)}
    model.eval()
    return model


def assemble_hooked(cfg: "ModelConfig", weights: dict[str, Tensor], basis: ResidualBasis, *, name: str,
                    params: dict[str, Any]) -> "HookedRootModule":
    """A ``HookedRootModule`` model for ``cfg`` (``PositionalTransformer``, ``EncoderDecoder``) holding ``weights``
    (TL property layout; missing keys are zero).

    The model's own parameters are already in that layout, so the weights load with
    ``load_state_dict(strict=True)`` directly. A bias-free model has no bias keys: the pieces' biases must
    then be zero, else this raises.
    """
    model = build_model(cfg, seed=None)
    full = {key: torch.zeros_like(value) for key, value in model.state_dict().items()}
    for key, value in weights.items():
        if key not in full:
            if key.rsplit(".", 1)[-1].startswith("b_") and not value.any():
                continue  # a zero bias of a piece, in a model that has no biases
            raise ValueError(f"weight {key!r} does not exist in this model; its keys: {', '.join(full)}")
        if tuple(value.shape) != tuple(full[key].shape):
            raise ValueError(f"{key} has shape {tuple(value.shape)}, the model needs {tuple(full[key].shape)}")
        full[key] = value.detach().float().clone()
    model.load_state_dict(full, strict=True)
    model.residual_labels = list(basis.labels)
    model.construction = {"name": name, "params": dict(params)}
    return model.eval()


__all__ = [
    "Head",
    "MLP",
    "ResidualBasis",
    "assemble",
    "assemble_hooked",
    "block_weights",
    "circular_pointer_head",
    "construction_config",
    "discretiser",
    "parity_zigzag",
    "set_attention_head",
    "tl_shapes",
]
