"""Contextual counting (Golkar et al. 2024), decoder-only form.

Layout: ``BOS x_1 .. x_L Q_1 .. Q_R``. Token ids: 0 BOS, 1 the bit 0, 2 the bit 1, 3 ``[``, 4 ``]``,
``5 + r - 1`` the query Q_r (r = 1 .. max_regions). Among the L body positions, 2R distinct ones are
delimiters (sorted, alternating ``[`` and ``]``); the others are bits drawn Bernoulli(p_one). The
target at Q_r (position ``L + r``) is the number of 1s strictly inside region r, a class in
``0 .. max_count``. Attention is causal and there is no positional embedding (NoPE).

The theory's relevant positions for the readout at Q_r are the 1s of region r plus BOS, the "bias"
token that keeps the count after softmax normalisation.

Variable number of regions (``R_min`` set): each sequence draws its own number of regions R_b
uniformly from ``R_min .. R``. Every sequence still ends with all R queries ``Q_1 .. Q_R``, so the
batch keeps one layout (one ``readout`` for every sequence, the same length); the query of a region
a sequence does not have asks nothing: its target is ``IGNORE`` (left out of the loss and the
metrics) and its ``relevant`` row is empty. Causal attention makes the layout invisible to the
asked queries: Q_r never sees the queries after it, so it computes the same thing whether the
sequence has R_b or R queries. Training this way gives every query embedding Q_1 .. Q_R a gradient,
so a count at any R' <= R is measured through query tokens the model was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..validation import check_float, check_int, check_length
from .base import Batch, Task, make_generator

if TYPE_CHECKING:
    import torch
    from torch import Tensor

# torch is imported where a batch is drawn or scored, so that listing the tasks (``interp tasks``) does not load it.

BOS, ZERO, ONE, OPEN, CLOSE, FIRST_QUERY = 0, 1, 2, 3, 4, 5
IGNORE = -100


@dataclass(frozen=True)
class CountingTask(Task):
    """Count the 1s inside each of R delimited regions of a length-L 0/1 sequence."""

    L: int = 40
    R: int = 3
    R_min: int | None = None  # None: every sequence has R regions; else each draws R_min..R
    p_one: float = 0.5
    max_regions: int = 8
    max_count: int = 40
    max_len: int = 256

    name: ClassVar[str] = "counting"
    metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    input_kind: ClassVar[str] = "tokens"

    def __post_init__(self) -> None:
        check_int("max_regions", self.max_regions, 1)
        check_int("R", self.R, 1, self.max_regions)
        if self.R_min is not None:
            check_int("R_min", self.R_min, 1, self.R)
        check_length("L", self.L, 2 * self.R)  # 2R delimiters must fit in the body
        check_int("max_count", self.max_count, 1)
        check_length("max_len", self.max_len, 1 + self.L + self.R)
        check_float("p_one", self.p_one, 0, 1)

    @property
    def n_ctx(self) -> int:
        # NoPE: the context limit is a capacity, not a trained table, so it leaves room for longer L.
        return self.max_len

    @property
    def d_vocab(self) -> int:
        return FIRST_QUERY + self.max_regions

    @property
    def d_vocab_out(self) -> int:
        return self.max_count + 1

    @property
    def seq_len(self) -> int:
        return 1 + self.L + self.R

    @property
    def region_counts(self) -> range:
        """The numbers of regions a sequence of this task can have."""
        return range(self.R if self.R_min is None else self.R_min, self.R + 1)

    def fixed(self, R: int | None = None, L: int | None = None) -> "CountingTask":
        """This task with every sequence holding exactly ``R`` regions (default: the most, ``self.R``)."""
        return self.replace(R=self.R if R is None else R, L=self.L if L is None else L, R_min=None)

    def sample(self, batch_size: int, seed: int | torch.Generator = 0) -> Batch:
        import torch
        import torch.nn.functional as F

        batch_size = self.check_batch_size(batch_size)
        g = make_generator(seed)
        B, L, R = batch_size, self.L, self.R
        is_one = torch.rand(B, L, generator=g) < self.p_one
        order = torch.rand(B, L, generator=g).argsort(dim=1)
        regions = (torch.full((B,), R) if self.R_min is None else
                   torch.randint(self.R_min, R + 1, (B,), generator=g))
        # The first 2 R_b positions of a random order are the delimiters; in sequence order they alternate [ ].
        is_delim = torch.zeros(B, L, dtype=torch.bool).scatter_(1, order, torch.arange(L) < 2 * regions[:, None])
        nth = is_delim.long().cumsum(1)
        is_open, is_close = is_delim & (nth % 2 == 1), is_delim & (nth % 2 == 0)
        body = torch.where(is_one, ONE, ZERO)
        body = torch.where(is_open, OPEN, torch.where(is_close, CLOSE, body))

        opened = is_open.long().cumsum(1)
        inside = (opened - is_close.long().cumsum(1) == 1) & ~is_delim
        region = torch.where(inside, opened, 0)  # 1..R inside region r, 0 outside
        counts = (F.one_hot(region, R + 1) * (is_one & inside)[..., None]).sum(1)[:, 1:]
        asked = torch.arange(1, R + 1)[None, :] <= regions[:, None]  # [batch, R]: region r exists
        counts = counts.masked_fill(~asked, IGNORE)

        queries = torch.arange(FIRST_QUERY, FIRST_QUERY + R).expand(B, R)
        inputs = torch.cat([torch.full((B, 1), BOS), body, queries], dim=1)
        P = inputs.shape[1]
        region_full = torch.cat([torch.zeros(B, 1, dtype=torch.long), region, torch.zeros(B, R, dtype=torch.long)], 1)
        ones_full = inputs == ONE
        relevant = (region_full[:, None, :] == torch.arange(1, R + 1)[None, :, None]) & ones_full[:, None, :]
        relevant[:, :, 0] = True  # BOS, the bias token
        relevant &= asked[..., None]  # a query that asks nothing has nothing to attend to
        return Batch(
            inputs=inputs,
            targets=counts,
            readout=torch.arange(1 + L, P),
            relevant=relevant,
            info={"region": region_full, "counts": counts, "regions": regions},
        )

    def delimiter_context(self, batch: Batch) -> Tensor:
        """``[batch, pos, pos]`` bool: for each position, BOS and the delimiters at or before it.

        The ground truth of the layer-0 region detector (attends uniformly to these, so its output
        1/(N+1) encodes how many delimiters came before).
        """
        import torch

        tokens = batch.inputs
        P = tokens.shape[1]
        key_ok = (tokens == OPEN) | (tokens == CLOSE) | (tokens == BOS)
        causal = torch.ones(P, P, dtype=torch.bool).tril()
        return causal[None] & key_ok[:, None, :]

    def loss(self, logits: Tensor, batch: Batch) -> Tensor:
        import torch.nn.functional as F

        out = self.readout_logits(logits, batch)
        targets = batch.targets.masked_fill(batch.targets > self.max_count, IGNORE)
        return F.cross_entropy(out.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)

    def evaluate(self, logits: Tensor, batch: Batch) -> dict[str, float]:
        """Accuracy over the queries that ask something (all of them unless ``R_min`` is set)."""
        out = self.readout_logits(logits, batch)
        asked = batch.targets != IGNORE
        correct = (out.argmax(-1) == batch.targets) & asked
        return {
            "accuracy": (correct.sum() / asked.sum().clamp(min=1)).item(),
            "sequence_accuracy": (correct == asked).all(-1).float().mean().item(),
            "loss": self.loss(logits, batch).item(),
        }

    def token_labels(self, batch: Batch, index: int = 0) -> list[str]:
        names = {BOS: "BOS", ZERO: "0", ONE: "1", OPEN: "[", CLOSE: "]"}
        return [
            names.get(t, f"Q{t - FIRST_QUERY + 1}") + f"@{i}"
            for i, t in enumerate(batch.inputs[index].tolist())
        ]
