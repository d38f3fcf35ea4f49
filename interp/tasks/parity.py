"""k-sparse parity (Han & Ghoshdastidar 2025; Barak et al. 2022).

Layout: ``x_0 .. x_{n-1} CLS``; token ids 0 and 1 are the bits, 2 is CLS. The label, read at CLS
(position n), is the sum of the bits on the hidden subset S, mod 2. The theory's relevant positions
for the CLS readout are exactly S.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..validation import TaskError, check_int, check_length, check_seed, shown
from .base import Batch, ClassificationTask, make_generator

if TYPE_CHECKING:
    import torch
    from torch import Tensor

# torch is imported where a batch is drawn or scored, so that listing the tasks (``interp tasks``) does not load it.

CLS = 2


def randperm_head(n: int, k: int, seed: int) -> list[int]:
    """The first ``k`` entries of ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))``, drawn
    without torch, so that making a parity task (``interp tasks`` lists the default one) does not load it.

    torch's CPU generator is MT19937 seeded by ``init_genrand(seed)``, and its randperm (for n below 2^32 / 20)
    swaps position ``i`` with ``i + r_i mod (n - i)`` for ``i = 0, 1, ...``, ``r_i`` the generator's i-th 32-bit
    output: position i is settled at step i, so the first k outputs give the first k entries. Python's
    ``random.Random`` is the same MT19937; only its seeding differs, so its state is set here as torch seeds
    its own. ``tests/test_tasks.py`` holds this to ``torch.randperm``."""
    state = [seed & 0xFFFFFFFF]
    for i in range(1, 624):
        state.append((1812433253 * (state[-1] ^ (state[-1] >> 30)) + i) & 0xFFFFFFFF)
    generator = random.Random()
    generator.setstate((3, (*state, 624), None))
    moved: dict[int, int] = {}  # position -> the entry swapped into it (the others still hold their own index)
    head = []
    for i in range(k):
        j = i + generator.getrandbits(32) % (n - i)
        head.append(moved.get(j, j))
        moved[j] = moved.get(i, i)
    return head


@dataclass(frozen=True)
class ParityTask(ClassificationTask):
    """k-sparse parity over n bits with hidden subset ``subset`` (drawn from ``seed`` if not given)."""

    n: int = 20
    k: int = 3
    subset: tuple[int, ...] | None = None
    seed: int = 0

    name: ClassVar[str] = "parity"
    metric: ClassVar[str] = "accuracy"
    higher_is_better: ClassVar[bool] = True
    input_kind: ClassVar[str] = "tokens"

    def __post_init__(self) -> None:
        check_length("n", self.n)
        check_seed("seed", self.seed)
        if self.subset is None:
            check_int("k", self.k, 1, self.n)
            object.__setattr__(self, "subset", tuple(sorted(randperm_head(self.n, self.k, self.seed))))
            return
        if not isinstance(self.subset, (list, tuple)):
            raise TaskError(f"subset must be a list of positions, got {shown(self.subset)}")
        subset = tuple(self.subset)
        if any(isinstance(j, bool) or not isinstance(j, int) for j in subset):
            raise TaskError(f"subset must be a list of integers, got {shown(list(subset))}")
        if len(set(subset)) != len(subset):
            raise TaskError(f"subset must not repeat positions, got {shown(list(subset))}")
        bad = [j for j in subset if not 0 <= j < self.n]
        if bad:
            raise TaskError(f"subset positions must be in [0, {self.n - 1}] (n={self.n}), got {shown(bad)}")
        if self.k != len(subset):
            raise TaskError(f"k must equal len(subset)={len(subset)}, got k={self.k}")
        check_int("k", self.k, 1, self.n)
        object.__setattr__(self, "subset", tuple(sorted(subset)))

    @property
    def n_ctx(self) -> int:
        return self.n + 1

    @property
    def d_vocab(self) -> int:
        return 3

    @property
    def d_vocab_out(self) -> int:
        return 2

    def labels(self, bits: Tensor) -> Tensor:
        """Parity of ``bits[..., S]``: ``[batch]`` long."""
        return bits[:, list(self.subset)].sum(-1) % 2

    def sample(self, batch_size: int, seed: int | torch.Generator = 0) -> Batch:
        import torch

        batch_size = self.check_batch_size(batch_size)
        g = make_generator(seed)
        bits = torch.randint(0, 2, (batch_size, self.n), generator=g)
        inputs = torch.cat([bits, torch.full((batch_size, 1), CLS)], dim=1)
        relevant = torch.zeros(batch_size, 1, self.n + 1, dtype=torch.bool)
        relevant[:, 0, list(self.subset)] = True
        return Batch(
            inputs=inputs,
            targets=self.labels(bits),
            readout=torch.tensor([self.n]),
            relevant=relevant,
            info={"subset": torch.tensor(self.subset).expand(batch_size, -1)},
        )

    def token_labels(self, batch: Batch, index: int = 0) -> list[str]:
        bits = batch.inputs[index, : self.n].tolist()
        marks = ["*" if j in self.subset else "" for j in range(self.n)]
        return [f"{j}:{b}{m}" for j, (b, m) in enumerate(zip(bits, marks))] + ["CLS"]
