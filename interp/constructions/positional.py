"""Hillis-Steele scans on positional attention (Back de Luca et al.): cumsum and cummin in ceil(log2 n) layers.

Derivation: docs/theory/positional.md, 'The scan construction'. The model reads n values and the extra
zero node at position n. Its residual stream has two named directions, ``s`` (the running value) and
``t`` (a scratch slot); its queries and keys read the fixed one-hot positions P, whose n + 1 columns
are named ``pos[0] .. pos[n]`` (they never enter the residual stream).

- Layer l has one positional head whose row i points at ``i - 2^l`` with score beta (every other key
  scores 0), so the head moves one value from 2^l positions back.
- cumsum: rows with ``i - 2^l < 0`` point at the extra node (value 0); the head adds ``s`` into ``s``,
  so after layer l, ``s_i`` is the sum of the window of the last ``2^(l+1)`` values; no MLP.
- cummin: such rows point at themselves; the head copies ``s`` into ``t``, and a bias-free ReLU MLP
  writes ``s <- s - relu(s - t) = min(s, t)`` and clears ``t`` (``t <- t - relu(t) + relu(-t) = 0``).

Every weight is bias-free and the pattern never sees the values, so the model is positively
homogeneous, ``f(c x) = c f(x)``: it is exact at every value scale, not only the trained one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ..models import POSITIONAL
from ..tasks.positional import CumminTask, CumsumTask, ValueTask
from ..validation import TaskError, check_choice, check_float
from .pieces import MLP, Head, ResidualBasis, assemble_hooked, block_weights, construction_config

if TYPE_CHECKING:
    from ..models.positional import PositionalTransformer

# Every row's target key wins by beta; the n others share a leak of at most n e^-beta (1e-12 at n = 1000).
BETA = 30.0
SCAN_TASKS = ("cumsum", "cummin")


def scan_basis() -> ResidualBasis:
    """The residual stream: ``s`` (the running value) and ``t`` (scratch for cummin)."""
    return ResidualBasis().add("s").add("t")


def position_basis(n: int) -> ResidualBasis:
    """What positional queries and keys read: one-hot positions ``pos[0] .. pos[n]`` (n = the extra node)."""
    return ResidualBasis().add("pos", range(n + 1))


def shift_targets(n: int, shift: int, out_of_range: str) -> list[int]:
    """For each of the n + 1 rows, the key it points at: ``i - shift``, or, when that is below 0, the extra
    node (``out_of_range="extra"``) or itself (``"self"``). The extra node points at itself."""
    check_choice("out_of_range", out_of_range, ("extra", "self"))
    return [i - shift if i >= shift else (n if out_of_range == "extra" else i) for i in range(n)] + [n]


def shift_head(basis: ResidualBasis, n: int, shift: int, *, value: str, out: str, beta: float = BETA,
               out_of_range: str = "extra") -> Head:
    """A positional head whose row i points at ``shift_targets(n, shift, out_of_range)[i]`` and copies ``value``
    into ``out``.

    ``W_Q [n+1, n+1]`` and ``W_K [n+1, n+1]`` read the one-hot positions (``position_basis``): ``W_K = I`` and
    ``W_Q[i, target(i)] = beta``, so ``W_QK = beta M`` with M the 0/1 pointer matrix, and the score from
    row i is beta on its target and 0 on every other key.
    """
    positions = position_basis(n)
    W_Q = torch.zeros(positions.d_model, positions.d_model)
    for i, j in enumerate(shift_targets(n, shift, out_of_range)):
        W_Q[positions[f"pos[{i}]"], j] = beta
    W_V = torch.zeros(basis.d_model, 1)
    W_V[basis[value], 0] = 1.0
    W_O = torch.zeros(1, basis.d_model)
    W_O[0, basis[out]] = 1.0
    return Head(W_Q, torch.eye(positions.d_model), W_V, W_O)


def positional_head_output(head: Head, resid: Tensor) -> Tensor:
    """The reference forward of a positional head: ``[..., n+1, D] -> [..., n+1, D]``, the pattern computed from
    the one-hot positions (``head.pattern(I)``) and the values from ``resid``."""
    return head.pattern(torch.eye(head.W_Q.shape[0])) @ (resid @ head.W_OV)


def min_mlp(basis: ResidualBasis, keep: str, other: str) -> MLP:
    """A bias-free ReLU MLP: ``keep <- min(keep, other)`` and ``other <- 0``.

    Hidden units ``relu(keep - other)``, ``relu(other)``, ``relu(-other)``; it writes ``-h1`` into ``keep``
    (``keep - relu(keep - other) = min(keep, other)``) and ``-h2 + h3 = -other`` into ``other``. Every unit
    is positively homogeneous, so it is exact at any scale.
    """
    W_in = torch.zeros(basis.d_model, 3)
    W_in[basis[keep], 0], W_in[basis[other], 0] = 1.0, -1.0
    W_in[basis[other], 1] = 1.0
    W_in[basis[other], 2] = -1.0
    W_out = torch.zeros(3, basis.d_model)
    W_out[0, basis[keep]] = -1.0
    W_out[1, basis[other]], W_out[2, basis[other]] = -1.0, 1.0
    return MLP(W_in, torch.zeros(3), W_out, torch.zeros(basis.d_model))


def scan_layers(n: int) -> int:
    """Hillis-Steele needs ``ceil(log2 n)`` layers: after layer l each window spans ``2^(l+1)`` values."""
    return max(1, math.ceil(math.log2(n)))


def _scan(task: Any, kind: str, positional: str, beta: float) -> "PositionalTransformer":
    if not isinstance(task, ValueTask) or task.name != kind:
        raise TaskError(f"task must be a {kind} task, got {getattr(task, 'name', type(task).__name__)!r}")
    check_choice("positional", positional, POSITIONAL)
    if positional != "attention":
        raise TaskError(f"positional={positional!r}: the {kind} scan needs positional attention (positional='attention'); "
                        "with the values in its queries and keys its routing would change with the value scale")
    beta = check_float("beta", beta, 0, low_open=True)
    n = task.n
    basis = scan_basis()
    layers = scan_layers(n)
    cfg = construction_config(task, architecture="hooked", positional="attention", bias=False, layer="additive",
                              attention_dir="bidirectional", n_layers=layers, n_heads=1, d_model=basis.d_model,
                              d_head=n + 1, d_mlp=3 if kind == "cummin" else 0)
    weights = {"embed.W_E": basis.rows([{"s": 1.0}]), "unembed.W_U": basis.rows([{"s": 1.0}]).T}
    for layer in range(layers):
        if kind == "cumsum":
            head = shift_head(basis, n, 2**layer, value="s", out="s", beta=beta, out_of_range="extra")
            weights.update(block_weights(cfg, layer, [head]))
        else:
            head = shift_head(basis, n, 2**layer, value="s", out="t", beta=beta, out_of_range="self")
            weights.update(block_weights(cfg, layer, [head], min_mlp(basis, "s", "t")))
    return assemble_hooked(cfg, weights, basis, name=kind, params={"n": n, "beta": beta, "layers": layers})


def cumsum(task: CumsumTask, positional: str = "attention", beta: float = BETA) -> "PositionalTransformer":
    """Hillis-Steele prefix sums: exact (relative error ~1e-7) at every n >= 2 and every value scale."""
    return _scan(task, "cumsum", positional, beta)


def cummin(task: CumminTask, positional: str = "attention", beta: float = BETA) -> "PositionalTransformer":
    """Hillis-Steele prefix minima: exact at every n >= 2 and every value scale."""
    return _scan(task, "cummin", positional, beta)


__all__ = ["BETA", "SCAN_TASKS", "cummin", "cumsum", "min_mlp", "position_basis",
           "positional_head_output", "scan_basis", "scan_layers", "shift_head", "shift_targets"]
