"""Wang et al.'s simplified one-layer model of sparse token selection, as a small ``HookedRootModule``.

The query's subset code s scores data token i by ``s^T W p_i`` (p_i its position code), a softmax over
the T data tokens turns the scores into attention, and the value map is fixed to the content:

    f(X, y) = sum_i softmax_i(s^T W p_i) x_i        (read at the query token)

Only ``W`` (``[m, m]``, the merged key-query matrix) trains, from ``W = 0`` (uniform attention). With
rotation-invariant codes gradient descent keeps ``W`` a multiple of the identity, ``gamma I``, and the
gap gamma sets the error (docs/theory/selection.md, 'Training dynamics').

Why not a TransformerBridge with frozen parts: a bridge's query-key circuit is the product
``W_Q W_K^T``, whose gradient vanishes at ``W_Q = W_K = 0``, so it cannot start from the paper's
``W = 0``; its values, output and unembedding would have to be frozen to the identity by hand; and its
query attends to itself as well (a key the theory does not have). Here the one trained matrix is the
theory's ``W`` itself.

Inputs are the selection task's feature rows ``[batch, T'+1, d_in]`` at any T'. Code modes read the
position codes p_i and the subset code s from the features. With ``positions="learned"`` the keys are
one-hot positions and the query's code is the subset multi-hot, so ``W`` is a learned ``[T, T]`` table
of scores; positions beyond the trained T have entries that were never trained: they keep their
initial value 0 (``W`` is padded with zeros at longer T'), which is the documented extension of a
learned table in ``selection-length``.

Hooks (TransformerLens names): ``blocks.0.attn.hook_attn_scores`` and ``blocks.0.attn.hook_pattern``
(``[batch, head=1, query=1, src=T']``: only the query row exists), ``hook_out`` (``[batch, d]``).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from ..tasks.selection import SelectionTask


class WangAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hook_attn_scores = HookPoint()
        self.hook_pattern = HookPoint()


class WangBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = WangAttention()


class WangSelection(HookedRootModule):
    """``f = sum_i softmax_i(s^T W p_i) x_i`` with ``W`` trained from 0 (see the module docstring)."""

    def __init__(self, task: SelectionTask):
        super().__init__()
        self.d, self.positions, self.T = task.d, task.positions, task.T
        self.code_dim = task.code_width  # T for a learned table, m for codes
        self.W = nn.Parameter(torch.zeros(self.code_dim, self.code_dim))
        self.blocks = nn.ModuleList([WangBlock()])
        self.hook_out = HookPoint()
        self.setup()

    def codes(self, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Content ``[batch, T', d]``, the query's subset code s ``[batch, m']`` and ``W p_i`` for every data
        token ``[batch, T', m']``, so that the score of token i is ``s . (W p_i)``."""
        T, d = features.shape[1] - 1, self.d
        content = features[:, :T, :d]
        if self.positions == "learned":
            s = features[:, T, d + 1 : d + 1 + T]
            extra = max(T - self.T, 0)
            W = F.pad(self.W, (0, extra, 0, extra))[:T, :T]  # untrained rows and columns stay at 0
            return content, s, W.T[None].expand(len(features), -1, -1)  # key i's code is e_i
        m = self.code_dim
        keys = features[:, :T, d + 1 : d + 1 + m]
        s = features[:, T, d + 1 + m : d + 1 + 2 * m]
        return content, s, keys @ self.W.T

    def scores(self, features: Tensor) -> Tensor:
        """``[batch, T']``: ``s^T W p_i`` for every data token."""
        content, s, keys = self.codes(features)
        return torch.einsum("bm,btm->bt", s, keys)

    def forward(self, features: Tensor) -> Tensor:
        """Logits ``[batch, T'+1, d]``: the output at the query position (T'), zeros elsewhere (never read)."""
        content, s, keys = self.codes(features)
        scores = torch.einsum("bm,btm->bt", s, keys)
        attn = self.blocks[0].attn
        scores = attn.hook_attn_scores(scores[:, None, None, :])
        pattern = attn.hook_pattern(scores.softmax(-1))
        out = self.hook_out(torch.einsum("bt,btd->bd", pattern[:, 0, 0], content))
        logits = torch.zeros(len(features), features.shape[1], self.d, dtype=out.dtype, device=out.device)
        logits[:, -1] = out
        return logits

    def cos_to_identity(self) -> float:
        """Cosine between ``W`` and the identity: 1 when ``W = gamma I`` with gamma > 0."""
        eye = torch.eye(self.code_dim, dtype=self.W.dtype)
        return float(F.cosine_similarity(self.W.detach().flatten(), eye.flatten(), dim=0))


__all__ = ["WangSelection"]
