"""Han & Ghoshdastidar's minimal parity model on the toolkit's one-sequence interface, ``ModelConfig.architecture=
"pointer"``: the ``minimal`` preset of the parity family.

The same function as ``interp.models.pointer_parity.PointerParity`` (their released code's model), laid out as a
one-layer attention-plus-MLP transformer with TransformerLens hook and weight names, so the toolkit's tasks,
training loop, checkpoints and the parity probes take it like any other model. It reads the parity task's tokens
``x_0 .. x_{n-1} CLS`` (``n = n_ctx - 1``; token 1 is a one, every other token carries 0):

- ``blocks.0.attn.W_Q`` ``[head, 2]``: the only trainable weights, one 2-d query per head (the authors' ``q_h``),
  the same at every query position. The keys are the fixed circular codes ``W_K[j] = (cos, sin)(2 pi j / n)`` of
  the bit positions; CLS is never attended to. Scores ``q_h . W_K[j] / tau`` with temperature ``tau = n / 4``
  (``TEMPERATURE_DIVISOR``, the authors' script), so every row of ``hook_pattern`` ``[batch, head, query, key]``
  is head h's pointer on the circle, the CLS row included (the pattern depends on positions only).
- Values ``hook_v`` ``[batch, pos, head, 1]``: the bit ``x_j``; ``hook_z`` ``[batch, pos, head, 1]`` is the
  attended bit mass ``v_h = sum_j pattern_hj x_j``; the fixed ``W_O`` ``[head, 1, 2]`` writes it into the
  residual's ``count`` direction (``hook_result`` ``[batch, pos, head, 2]``, ``blocks.0.hook_attn_out``).
- The residual stream has two directions, ``residual_labels = ["count", "parity"]``, and starts at zero (no
  embedding): ``hook_resid_mid`` at CLS is ``(u, 0)``, ``u = sum_h v_h``.
- ``blocks.0.mlp``: the authors' frozen width-k zig-zag, ``g(u) = sum_i (-1)^i (4i + 2) relu(u - i - 1/2)``
  (``W_in`` reads ``count``, ``b_in = -(i + 1/2)``, ``W_out`` writes ``parity``), so ``g(m) = m mod 2`` at every
  integer count ``m = 0 .. k``; ``hook_resid_post`` at CLS is ``(u, g(u))``.
- ``unembed.W_U`` ``[2, 2]``, ``b_U``: the authors' scalar output is ``s = g(u)``, predicting 1 iff ``s >= 1/2``;
  here the logits are ``(1/2 - s, s - 1/2)``, so the logit difference ``2 s - 1`` is exactly the margin their
  squared mean hinge loss reads (``TrainConfig.loss="squared-mean-hinge"``) and the argmax is their prediction
  (up to the tie ``s = 1/2``, which the argmax gives class 0).

Everything but ``W_Q`` is set by the config (non-persistent buffers, so a checkpoint holds ``W_Q`` alone): 2k
trained numbers. ``n_heads`` must equal the task's k (the zig-zag decodes counts 0 .. k) and ``d_mlp`` too.

``readout="mlp"`` is the authors' frozen-attention control instead (their ``readout="mlp"``): any number of heads,
each writing its bit mass into a residual direction of its own (``residual_labels = ["head 0", ..., "score"]``,
``d_model = n_heads + 1``), and a trainable ReLU MLP of width ``d_mlp`` (``W_in``, ``b_in``, ``W_out``, ``b_out``,
in the checkpoint beside ``W_Q``) writing the score; ``freeze_attention=True`` keeps the queries at their init.
Derivation and the authors' settings beside the toolkit's: docs/theory/parity.md.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from transformer_lens.hook_points import HookPoint

from ..validation import TaskError
from .config import check_pointer
from .positional import HookedModel

if TYPE_CHECKING:
    from .config import ModelConfig

TEMPERATURE_DIVISOR = 4.0  # tau = n / 4, the authors' script
RESIDUAL_LABELS = ["count", "parity"]
ONE = 1  # the token id of a one bit (interp.tasks.parity)

def zigzag(k: int) -> tuple[Tensor, Tensor]:
    """``(b_in, out)`` of the width-k zig-zag ``g(u) = sum_i out_i relu(u + b_in_i)``, ``g(m) = m mod 2``."""
    i = torch.arange(k, dtype=torch.float32)
    return -(i + 0.5), (-1.0) ** i * (4 * i + 2)


class PointerAttention(nn.Module):
    """One query per head over fixed circular keys (see the module docstring); TL hook names."""

    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        H, n = cfg.n_heads, cfg.n_ctx - 1
        self.n = n
        self.temperature = n / TEMPERATURE_DIVISOR
        self.W_Q = nn.Parameter(torch.zeros(H, 2))
        angles = torch.arange(n, dtype=torch.float32) * 2 * math.pi / n
        codes = torch.cat([torch.stack([angles.cos(), angles.sin()], dim=1), torch.zeros(1, 2)])  # CLS: no code
        self.register_buffer("W_K", codes, persistent=False)  # [n_ctx, 2]
        W_O = torch.zeros(H, 1, cfg.d_model)
        if cfg.readout == "zigzag":
            W_O[:, 0, 0] = 1.0  # every head writes its bit mass into "count"
        else:
            W_O[:, 0, :H] = torch.eye(H)  # each head into a direction of its own
        self.register_buffer("W_O", W_O, persistent=False)
        for name in ("hook_q", "hook_k", "hook_v", "hook_attn_scores", "hook_pattern", "hook_z", "hook_result"):
            setattr(self, name, HookPoint())

    def pointer(self) -> Tensor:
        """``[head, n]``: each head's attention over the bit positions (the same in every row and input)."""
        return (self.W_Q @ self.W_K[: self.n].T / self.temperature).softmax(-1)

    def angles(self) -> Tensor:
        """``[head]`` pointer angle of each query, in positions: ``atan2(q) n / 2 pi`` mod n."""
        return (torch.atan2(self.W_Q[:, 1], self.W_Q[:, 0]) * self.n / (2 * math.pi)) % self.n

    def forward(self, tokens: Tensor) -> Tensor:
        """``[batch, pos]`` token ids -> ``hook_result`` summed over heads, ``[batch, pos, d_model]``.

        q, k, the scores and the pattern are the same for every input: they are computed once and passed to the
        hooks as batch-broadcast views (``expand``), and used as one row while no hook has replaced them by a
        tensor of its own (``_hooked``). A hook that writes per-input values is taken as it is."""
        batch, pos = tokens.shape
        H = self.W_Q.shape[0]
        q = _hooked(self.hook_q, self.W_Q[None, None], (batch, pos, H, 2))
        k = _hooked(self.hook_k, self.W_K[None, :pos, None], (batch, pos, H, 2))
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / self.temperature
        not_a_bit = torch.arange(pos, device=tokens.device) >= self.n
        scores = _hooked(self.hook_attn_scores, scores.masked_fill(not_a_bit, float("-inf")), (batch, H, pos, pos))
        pattern = _hooked(self.hook_pattern, scores.softmax(-1), (batch, H, pos, pos))
        v = self.hook_v((tokens == ONE).to(pattern.dtype)[:, :, None, None].expand(batch, pos, H, 1))
        if pattern.shape[0] == 1:  # one pattern for the batch: a batched matmul over heads, not one per input
            z = torch.einsum("bkh,hqk->bqh", v[..., 0], pattern[0])[..., None]
        else:
            z = torch.einsum("bhqk,bkhd->bqhd", pattern, v)
        z = self.hook_z(z)
        result = self.hook_result(torch.einsum("bqhd,hdm->bqhm", z, self.W_O))
        return result.sum(2)


def _hooked(hook: HookPoint, x: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``hook`` run on ``x`` broadcast to ``shape``; ``x`` with batch 1 (one row for the whole batch) when the hook
    handed the same tensor back (no hook, or one that only reads), else what the hook returned."""
    full = x.expand(shape)
    out = hook(full)
    return x.expand(1, *shape[1:]) if out is full else out


class ZigZag(nn.Module):
    """The frozen width-k zig-zag MLP from ``count`` to ``parity``: ``W_in``, ``b_in``, ``W_out``, ``b_out``."""

    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        b_in, out = zigzag(cfg.d_mlp)
        W_in = torch.zeros(cfg.d_model, cfg.d_mlp)
        W_in[0] = 1.0
        W_out = torch.zeros(cfg.d_mlp, cfg.d_model)
        W_out[:, 1] = out
        for name, value in (("W_in", W_in), ("b_in", b_in), ("W_out", W_out), ("b_out", torch.zeros(cfg.d_model))):
            self.register_buffer(name, value, persistent=False)
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()

    def forward(self, x: Tensor) -> Tensor:
        post = self.hook_post(F.relu(self.hook_pre(x @ self.W_in + self.b_in)))
        return post @ self.W_out + self.b_out


class ReadoutMLP(nn.Module):
    """The frozen-attention control's trainable ReLU MLP from the head directions to ``score``: ``W_in``
    ``[d_model, d_mlp]``, ``b_in``, ``W_out`` ``[d_mlp, d_model]``, ``b_out``. The head rows of ``W_in`` and the
    ``score`` column of ``W_out`` and ``b_out`` are drawn as PyTorch's ``nn.Linear`` on the n_heads inputs (the
    authors' init) from ``generator``, zero without one (for loading weights); the rest start at zero and get no
    gradient (nothing writes ``score`` before the MLP, and nothing reads the head directions after it)."""

    def __init__(self, cfg: "ModelConfig", generator: torch.Generator | None):
        super().__init__()
        H, width = cfg.n_heads, cfg.d_mlp
        self.W_in = nn.Parameter(torch.zeros(cfg.d_model, width))
        self.b_in = nn.Parameter(torch.zeros(width))
        self.W_out = nn.Parameter(torch.zeros(width, cfg.d_model))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model))
        if generator is not None:
            with torch.no_grad():
                for weight, bias, fan_in in ((self.W_in[:H], self.b_in, H), (self.W_out[:, H], self.b_out[H:], width)):
                    bound = 1 / math.sqrt(fan_in)
                    weight.uniform_(-bound, bound, generator=generator)
                    bias.uniform_(-bound, bound, generator=generator)
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()

    def forward(self, x: Tensor) -> Tensor:
        post = self.hook_post(F.relu(self.hook_pre(x @ self.W_in + self.b_in)))
        return post @ self.W_out + self.b_out


class PointerBlock(nn.Module):
    def __init__(self, cfg: "ModelConfig", generator: torch.Generator | None = None):
        super().__init__()
        self.attn = PointerAttention(cfg)
        self.mlp = ZigZag(cfg) if cfg.readout == "zigzag" else ReadoutMLP(cfg, generator)
        for name in ("hook_resid_pre", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post"):
            setattr(self, name, HookPoint())

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.hook_resid_pre(self.mlp.b_out.expand(*tokens.shape, -1) * 0)  # no embedding: the stream starts at 0
        x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(tokens)))
        return self.hook_resid_post(x + self.hook_mlp_out(self.mlp(x)))


class Unembed(nn.Module):
    """``logits = resid @ W_U + b_U = (1/2 - s, s - 1/2)``, fixed; ``s`` the last residual direction (parity or
    score)."""

    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        W_U = torch.zeros(cfg.d_model, 2)
        W_U[-1] = torch.tensor([-1.0, 1.0])
        self.register_buffer("W_U", W_U, persistent=False)
        self.register_buffer("b_U", torch.tensor([0.5, -0.5]), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.W_U + self.b_U


class PointerTransformer(HookedModel):
    """The model of the module docstring; ``PointerTransformer(cfg, seed)``, or ``build_model(cfg, seed)``.

    ``seed`` draws each query as a unit vector at a uniform angle (the authors' init), then the MLP readout if
    there is one; None leaves them zero (for loading weights)."""

    def __init__(self, cfg: "ModelConfig", seed: int | None = 0):
        check_pointer(cfg)
        super().__init__(cfg, seed, embedding=False)
        g = None if seed is None else torch.Generator().manual_seed(seed)
        angles = None if g is None else torch.rand(cfg.n_heads, generator=g) * 2 * math.pi
        self.blocks = nn.ModuleList([PointerBlock(cfg, g)])
        self.unembed = Unembed(cfg)
        self.residual_labels = (list(RESIDUAL_LABELS) if cfg.readout == "zigzag" else
                                [f"head {h}" for h in range(cfg.n_heads)] + ["score"])
        if angles is not None:
            with torch.no_grad():
                self.blocks[0].attn.W_Q.copy_(torch.stack([angles.cos(), angles.sin()], dim=1))
        self.blocks[0].attn.W_Q.requires_grad_(not cfg.freeze_attention)
        self.setup()

    def forward(self, inputs: Tensor) -> Tensor:
        """``[batch, pos]`` token ids (``x_0 .. x_{n-1} CLS``) -> logits ``[batch, pos, 2]`` (read at CLS)."""
        if inputs.is_floating_point() or inputs.dim() != 2:
            raise TaskError("architecture='pointer' reads token ids [batch, pos]")
        if any(hook.fwd_hooks or hook.bwd_hooks for hook in self.hook_dict.values()):
            return self.unembed(self.blocks[0](inputs))
        return self.unhooked(inputs)

    def unhooked(self, inputs: Tensor) -> Tensor:
        """The same logits as the hooked forward, from one row: every position's query is its head's ``q_h``, so
        every position computes what CLS does. What a forward with no hook attached runs (training: the hooked
        forward materialises ``[batch, pos, ...]`` at every hook, 17x the work at n = 16)."""
        block = self.blocks[0]
        attn, mlp = block.attn, block.mlp
        n = min(attn.n, inputs.shape[1])
        bits = (inputs[:, :n] == ONE).to(attn.W_Q.dtype)  # [batch, n]
        z = bits @ attn.pointer()[:, :n].T  # [batch, head]
        resid_mid = z @ attn.W_O[:, 0, :]  # [batch, d_model]
        return self.unembed(resid_mid + mlp(resid_mid))[:, None].expand(-1, inputs.shape[1], -1)

    def pointer(self) -> Tensor:
        """``[head, n]``: each head's attention over the bit positions."""
        return self.blocks[0].attn.pointer()

    def angles(self) -> Tensor:
        """``[head]`` each head's pointer angle, in positions."""
        return self.blocks[0].attn.angles()

    @property
    def W_Q(self) -> Tensor:
        return self.blocks[0].attn.W_Q


__all__ = ["PointerTransformer", "TEMPERATURE_DIVISOR", "zigzag"]
