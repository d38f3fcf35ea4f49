"""Fully connected baselines: the MLPs the papers set against attention.

``MLP(d_in, widths, d_out)``: ReLU hidden layers of the given widths, with hooks ``layers.{i}.hook_pre``
and ``layers.{i}.hook_post`` per hidden layer and ``hook_out`` (a ``HookedRootModule``, so TransformerLens
caches work on it). Init ``"xavier"`` is Barak et al.'s (Xavier-uniform weights, biases uniform in
``+-1/sqrt(fan_in)``); ``"torch"`` is PyTorch's default Linear init. Seeded with a local generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from ..validation import check_choice, check_int


class HiddenLayer(nn.Module):
    def __init__(self, d_in: int, width: int):
        super().__init__()
        self.linear = nn.Linear(d_in, width)
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()

    def forward(self, x: Tensor) -> Tensor:
        return self.hook_post(F.relu(self.hook_pre(self.linear(x))))


class MLP(HookedRootModule):
    def __init__(self, d_in: int, widths: list[int], d_out: int = 1, init: str = "torch", seed: int = 0):
        super().__init__()
        check_int("d_in", d_in, 1)
        check_int("d_out", d_out, 1)
        for width in widths:
            check_int("width", width, 1)
        check_choice("init", init, ("torch", "xavier"))
        sizes = [d_in, *widths]
        self.layers = nn.ModuleList(HiddenLayer(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.out = nn.Linear(sizes[-1], d_out)
        self.hook_out = HookPoint()
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for linear in [layer.linear for layer in self.layers] + [self.out]:
                fan_in, fan_out = linear.in_features, linear.out_features
                bound = math.sqrt(6 / (fan_in + fan_out)) if init == "xavier" else 1 / math.sqrt(fan_in)
                linear.weight.uniform_(-bound, bound, generator=g)
                linear.bias.uniform_(-1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in), generator=g)
        self.setup()

    def forward(self, x: Tensor) -> Tensor:
        """``[batch, d_in] -> [batch, d_out]``."""
        for layer in self.layers:
            x = layer(x)
        return self.hook_out(self.out(x))
