"""Han & Ghoshdastidar's minimal parity transformer, as their released code trains it.

Each of the H heads owns one trainable 2-d query ``q_h``; the keys are the fixed circular codes
``f(j) = (cos 2 pi j / n, sin 2 pi j / n)`` of the n bit positions, so head h's attention is
``softmax_j(q_h . f(j) / tau)``: a pointer on the circle with angle ``atan2(q_h)`` and sharpness
``|q_h| / tau`` (temperature ``tau = n / 4`` in their code). The pattern depends on positions only. Each
head reads the attended bit mass ``v_h = sum_j pattern_hj x_j``; the readout is either their frozen
width-k zig-zag on ``u = sum_h v_h`` (``readout="zigzag"``: 2k trainable numbers in all) or a trainable
ReLU MLP on the vector of head outputs (``readout="mlp"``, for the frozen-attention control, where a
readout of the sum alone could never work).

A ``HookedRootModule``, so TransformerLens caches and hooks work: ``hook_scores``, ``hook_pattern``
``[head, n]``, ``hook_head_out`` ``[batch, head]``, ``hook_readout_in``, ``hook_out`` ``[batch]``.
Derivation and the reference runs: docs/theory/parity.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from ..validation import TaskError, check_choice, check_int


@dataclass
class PointerParityConfig:
    n: int
    k: int  # the zig-zag's width: the subset size it decodes
    n_heads: int
    tau: float | None = None  # None: n / 4, as in the authors' script
    query_norm: float = 1.0  # |q_h| at init (the authors draw unit vectors at uniform angles)
    readout: str = "zigzag"  # "zigzag" (frozen) or "mlp" (trainable, on the head outputs)
    readout_width: int = 32
    train_queries: bool = True

    def __post_init__(self) -> None:
        check_int("n", self.n, 1)
        check_int("k", self.k, 1, self.n)
        check_int("n_heads", self.n_heads, 1)
        check_int("readout_width", self.readout_width, 1)
        check_choice("readout", self.readout, ("zigzag", "mlp"))
        if self.readout == "zigzag" and self.n_heads != self.k:
            raise TaskError(f"n_heads must equal k={self.k} with the zig-zag readout, got {self.n_heads}")
        if not (isinstance(self.query_norm, (int, float)) and self.query_norm > 0):
            raise TaskError(f"query_norm must be a positive number, got {self.query_norm!r}")

    @property
    def temperature(self) -> float:
        return self.tau if self.tau is not None else self.n / 4


class PointerParity(HookedRootModule):
    def __init__(self, cfg: PointerParityConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(seed)
        angles = torch.rand(cfg.n_heads, generator=g) * 2 * math.pi
        self.W_Q = nn.Parameter(cfg.query_norm * torch.stack([angles.cos(), angles.sin()], dim=1),
                                requires_grad=cfg.train_queries)  # [head, 2]
        positions = torch.arange(cfg.n, dtype=torch.float32) * 2 * math.pi / cfg.n
        self.register_buffer("codes", torch.stack([positions.cos(), positions.sin()], dim=1))  # [n, 2]
        if cfg.readout == "zigzag":
            i = torch.arange(cfg.k, dtype=torch.float32)
            # g(u) = sum_i (-1)^i (4i + 2) relu(u - i - 1/2): g(m) = m mod 2 for integers 0..k (frozen).
            self.register_buffer("zig_bias", -(i + 0.5))
            self.register_buffer("zig_out", (-1.0) ** i * (4 * i + 2))
        else:
            self.mlp_in = nn.Linear(cfg.n_heads, cfg.readout_width)
            self.mlp_out = nn.Linear(cfg.readout_width, 1)
            with torch.no_grad():
                for layer in (self.mlp_in, self.mlp_out):
                    bound = 1 / math.sqrt(layer.in_features)
                    layer.weight.uniform_(-bound, bound, generator=g)
                    layer.bias.uniform_(-bound, bound, generator=g)
        self.hook_scores = HookPoint()
        self.hook_pattern = HookPoint()
        self.hook_head_out = HookPoint()
        self.hook_readout_in = HookPoint()
        self.hook_out = HookPoint()
        self.setup()

    def pattern(self) -> Tensor:
        """``[head, n]`` attention of each head over the bit positions (the same for every input)."""
        scores = self.hook_scores(self.W_Q @ self.codes.T / self.cfg.temperature)
        return self.hook_pattern(scores.softmax(-1))

    def angles(self) -> Tensor:
        """``[head]`` pointer angle of each query, in positions: ``atan2(q) n / 2 pi`` mod n."""
        return (torch.atan2(self.W_Q[:, 1], self.W_Q[:, 0]) * self.cfg.n / (2 * math.pi)) % self.cfg.n

    def forward(self, bits: Tensor) -> Tensor:
        """``[batch, n]`` bits in {0, 1} -> ``[batch]`` scores; the prediction is ``score >= 1/2``."""
        head_out = self.hook_head_out(bits.float() @ self.pattern().T)  # [batch, head]
        if self.cfg.readout == "zigzag":
            u = self.hook_readout_in(head_out.sum(-1, keepdim=True))
            return self.hook_out((F.relu(u + self.zig_bias) * self.zig_out).sum(-1))
        hidden = F.relu(self.mlp_in(self.hook_readout_in(head_out)))
        return self.hook_out(self.mlp_out(hidden)[:, 0])


def squared_mean_hinge(scores: Tensor, labels: Tensor) -> Tensor:
    """The authors' loss: ``(mean_b max(0, 1 - (2 s_b - 1)(2 y_b - 1)))^2``, scores read on a 0/1 scale."""
    return F.relu(1 - (2 * scores - 1) * (2 * labels.float() - 1)).mean().pow(2)


def accuracy(scores: Tensor, labels: Tensor) -> float:
    return ((scores >= 0.5).long() == labels).float().mean().item()
