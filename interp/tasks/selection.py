"""Sparse token selection, qSTS, in the single-query form of Wang et al. 2024.

Layout: positions ``0 .. T-1`` are data tokens ``x_i ~ N(0, I_d)``; position T is the query token,
which carries the selected q-subset y. Target: ``(1/q) sum_{i in y} x_i``, read at the query token.
Inputs are float features ``[batch, T+1, d_in]``; each row is laid out as

    positions="learned":  [ content x (d) | is_query (1) | subset multi-hot over T (T) ]
    any code mode:        [ content x (d) | is_query (1) | position code p_i (m) | subset code s (m) ]

With "learned" the model owns a positional table (``W_pos``). In the code modes the position codes
p_0..p_{T-1} in R^m (m = ``code_dim``) arrive in the features, the query carries
``s = sum_{j in y} p_j``, and the model needs no positional table:

- "orthonormal": fresh per example, the first T columns of a Haar-random orthogonal matrix (T <= m);
- "gaussian": fresh per example, i.i.d. uniform on the unit sphere (Wang et al.'s stochastic codes; any T);
- "fixed": one table of unit vectors uniform on the sphere, drawn once from ``FIXED_CODES_SEED`` and the
  same for every example (a fixed random positional encoding; any T).

The code modes have the same feature width at every T, so a model trained at T can be run at T'
(``replace(T=T')``); whether it *generalises* there is the question of docs/theory/selection.md, E3.

Metric: nMSE = E||f - target||^2 / (d/q); 1.0 is the error of predicting zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar

import einops

from ..validation import TaskError, check_choice, check_int, check_length
from .base import Batch, Task, make_generator

if TYPE_CHECKING:
    import torch
    from torch import Tensor

# torch is imported where a batch is drawn or scored, so that listing the tasks (``interp tasks``) does not load it.

POSITION_MODES = ("learned", "orthonormal", "gaussian", "fixed")
CODE_MODES = ("orthonormal", "gaussian", "fixed")  # the modes whose position codes arrive in the features
FIXED_CODES_SEED = 20_240_611  # the one draw of the "fixed" table


@lru_cache(maxsize=16)
def fixed_codes(length: int, code_dim: int) -> Tensor:
    """``[length, code_dim]``: the "fixed" table, row i a unit vector uniform on the sphere.

    Row i comes from its own generator (seeded ``FIXED_CODES_SEED + i``), so it is the same row whatever
    ``length`` is: a model trained at T and run at T' > T sees the same first T codes, and the rows
    beyond T are codes it never saw.
    """
    import torch

    rows = [torch.randn(code_dim, generator=torch.Generator().manual_seed(FIXED_CODES_SEED + i)) for i in range(length)]
    table = torch.stack(rows) if rows else torch.zeros(0, code_dim)
    return table / table.norm(dim=-1, keepdim=True)


@dataclass(frozen=True)
class SelectionTask(Task):
    """qSTS: average the q selected tokens out of T Gaussian tokens in R^d."""

    T: int = 16
    d: int = 8
    q: int = 3
    positions: str = "learned"
    code_dim: int = 64

    name: ClassVar[str] = "selection"
    metric: ClassVar[str] = "nmse"
    higher_is_better: ClassVar[bool] = False
    input_kind: ClassVar[str] = "features"

    def __post_init__(self) -> None:
        check_length("T", self.T)
        check_int("d", self.d, 1)
        check_int("q", self.q, 1, self.T)
        check_choice("positions", self.positions, POSITION_MODES)
        if self.positions in CODE_MODES:
            check_length("code_dim", self.code_dim)
            if self.positions == "orthonormal" and self.T > self.code_dim:
                raise TaskError(
                    f"T must be <= code_dim={self.code_dim} with orthonormal codes, got T={self.T}"
                )

    # feature blocks: name -> slice of the feature row
    @property
    def blocks(self) -> dict[str, slice]:
        d, m = self.d, self.code_width
        blocks = {"content": slice(0, d), "is_query": slice(d, d + 1)}
        if self.positions == "learned":
            blocks["subset"] = slice(d + 1, d + 1 + m)
        else:
            blocks["position"] = slice(d + 1, d + 1 + m)
            blocks["subset"] = slice(d + 1 + m, d + 1 + 2 * m)
        return blocks

    @property
    def code_width(self) -> int:
        return self.T if self.positions == "learned" else self.code_dim

    @property
    def n_ctx(self) -> int:
        # Code modes carry positions in the features, so the context is a capacity (W_pos is unused):
        # room for every length the codes can serve, at least code_dim (orthonormal codes stop there).
        return self.T + 1 if self.positions == "learned" else max(self.T, self.code_dim) + 1

    @property
    def seq_len(self) -> int:
        return self.T + 1

    @property
    def d_vocab(self) -> int:
        return max(b.stop for b in self.blocks.values())

    @property
    def d_vocab_out(self) -> int:
        return self.d

    def sample(self, batch_size: int, seed: int | torch.Generator = 0) -> Batch:
        import torch

        batch_size = self.check_batch_size(batch_size)
        g = make_generator(seed)
        B, T, d, q = batch_size, self.T, self.d, self.q
        x = torch.randn(B, T, d, generator=g)
        subset = torch.rand(B, T, generator=g).argsort(dim=1)[:, :q]
        selected = torch.zeros(B, T, dtype=torch.bool).scatter_(1, subset, True)
        target = (x * selected[..., None]).sum(1) / q

        features = torch.zeros(B, T + 1, self.d_vocab)
        blocks = self.blocks
        features[:, :T, blocks["content"]] = x
        features[:, T, blocks["is_query"]] = 1.0
        info = {"subset": subset.sort(dim=1).values, "content": x}
        if self.positions == "learned":
            features[:, T, blocks["subset"]] = selected.float()
        else:
            codes = self.position_codes(B, g)
            features[:, :T, blocks["position"]] = codes
            features[:, T, blocks["subset"]] = einops.einsum(
                selected.float(), codes, "b t, b t m -> b m"
            )
            info["codes"] = codes
        relevant = torch.zeros(B, 1, T + 1, dtype=torch.bool)
        relevant[:, 0, :T] = selected
        return Batch(features, target, torch.tensor([T]), relevant, info)

    def position_codes(self, batch_size: int, g: torch.Generator) -> Tensor:
        """``[batch, T, m]``: the position codes of ``batch_size`` examples in this task's code mode."""
        import torch

        if self.positions == "orthonormal":
            return self.orthonormal_codes(batch_size, g)
        if self.positions == "gaussian":
            gauss = torch.randn(batch_size, self.T, self.code_dim, generator=g)
            return gauss / gauss.norm(dim=-1, keepdim=True)
        return fixed_codes(self.T, self.code_dim).expand(batch_size, -1, -1).clone()

    def orthonormal_codes(self, batch_size: int, g: torch.Generator) -> Tensor:
        """``[batch, T, m]``: T orthonormal rows per example, Haar-distributed."""
        import torch

        gauss = torch.randn(batch_size, self.code_dim, self.T, generator=g)
        basis, r = torch.linalg.qr(gauss)
        # Sign fix makes the QR factor Haar-distributed rather than biased by the QR convention.
        basis = basis * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
        return einops.rearrange(basis, "b m t -> b t m")

    def loss(self, logits: Tensor, batch: Batch) -> Tensor:
        error = self.readout_logits(logits, batch)[:, 0] - batch.targets
        return error.pow(2).sum(-1).mean()

    def evaluate(self, logits: Tensor, batch: Batch) -> dict[str, float]:
        mse = self.loss(logits, batch).item()
        return {"nmse": mse / (self.d / self.q), "mse": mse}

    def token_labels(self, batch: Batch, index: int = 0) -> list[str]:
        chosen = set(batch.info["subset"][index].tolist())
        return [f"x{i}*" if i in chosen else f"x{i}" for i in range(self.T)] + ["query"]
