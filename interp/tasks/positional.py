"""Algorithmic tasks over real values (Back de Luca et al., positional attention): cumsum, cummin,
cummedian, sort and cummaxsub, with the authors' value sampling.

Layout: positions ``0 .. n-1`` carry one real value each, position n is the *extra node* (value 0,
target 0, left out of the loss), as in the authors' code. Inputs are features ``[batch, n+1, 1]``;
the readout is every real position ``0 .. n-1`` (one scalar output each); targets are ``[batch, n]``.

Values: each example draws a sub-interval ``[a, b]`` of ``[-r c, r c]`` (two uniform draws, sorted) and
then its n values uniformly from ``[a, b]``; ``r`` is ``train_range`` (2, the authors') and ``c`` the
value scale. For ``c > 1`` an interval lying inside the training range ``[-r, r]`` is drawn again, so
``c = 1`` is the training distribution and every ``c > 1`` is out of distribution (``c < 1`` stays
inside the training range and is not conditioned).

``relevant[b, i]`` marks the positions output i depends on: the prefix ``0 .. i`` for the cumulative
tasks, every real position for ``sort``. Metric: the MSE over the n real outputs (the authors'
masked MSE); ``relative_error = ||f - y|| / ||y||`` over the batch is the scale-free companion.
The theory and the reference numbers: docs/theory/positional.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..validation import check_float, check_length
from .base import Batch, Task, make_generator

if TYPE_CHECKING:
    import torch
    from torch import Tensor

# torch is imported where a batch is drawn or scored, so that listing the tasks (``interp tasks``) does not load it.

# Values up to MAX_SCALE^2 stay far inside float32 (and sums of them too) at any length a machine can hold.
MAX_SCALE = 1e6


def sample_values(batch_size: int, n: int, c: float, train_range: float, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """``[batch, n]`` values and ``[batch, 2]`` their intervals ``(a, b)``, drawn as described above.

    The interval's two ends are uniform on the square ``[-rc, rc]^2``, for ``c > 1`` conditioned on leaving
    the inner square ``[-r, r]^2`` (the authors' rejection rule). They are drawn from that conditional law
    directly, so that c just above 1, where rejection would almost never stop, costs nothing: the outer
    region is ``{|u1| > r}`` (area ``4 rc (rc - r)``) plus ``{|u1| <= r, |u2| > r}`` (area ``4 r (rc - r)``),
    picked in proportion to their areas, each uniform.
    """
    import torch

    high = train_range * c
    u = torch.rand(batch_size, 4, generator=g)
    if c > 1:
        first_outside = u[:, 0] < high / (high + train_range)
        outside = (train_range + (high - train_range) * u[:, 1]) * torch.where(u[:, 2] < 0.5, -1.0, 1.0)
        spread = 2 * u[:, 3] - 1
        ends = torch.stack([torch.where(first_outside, outside, spread * train_range),
                            torch.where(first_outside, spread * high, outside)], dim=1)
    else:
        ends = (u[:, :2] * 2 - 1) * high
    ends = ends.sort(-1).values
    a, b = ends[:, :1], ends[:, 1:]
    return a + (b - a) * torch.rand(batch_size, n, generator=g), ends


def prefix_relevance(n: int) -> Tensor:
    """``[n, n+1]`` bool: output i depends on positions ``0 .. i`` (never the extra node)."""
    import torch

    return torch.cat([torch.ones(n, n, dtype=torch.bool).tril(), torch.zeros(n, 1, dtype=torch.bool)], dim=1)


def cumulative_median(x: Tensor) -> Tensor:
    """``[batch, n]``: the median of ``x[:, :i+1]``, averaging the two middle values of an even prefix
    (``torch.quantile(..., 0.5, interpolation='midpoint')``, the authors' choice)."""
    import torch

    return torch.stack([torch.quantile(x[:, : i + 1], 0.5, dim=1, interpolation="midpoint")
                        for i in range(x.shape[1])], dim=1)


def cumulative_max_subarray(x: Tensor) -> Tensor:
    """``[batch, n]``: the largest sum of a non-empty contiguous run inside ``x[:, :i+1]`` (Kadane)."""
    import torch

    best = ending = x[:, 0]
    out = [best]
    for i in range(1, x.shape[1]):
        ending = torch.maximum(x[:, i], ending + x[:, i])
        best = torch.maximum(best, ending)
        out.append(best)
    return torch.stack(out, dim=1)


@dataclass(frozen=True)
class ValueTask(Task):
    """Base of the five tasks: n real values plus the extra zero node; value scale c."""

    n: int = 8
    c: float = 1.0
    train_range: float = 2.0

    metric: ClassVar[str] = "mse"
    higher_is_better: ClassVar[bool] = False
    input_kind: ClassVar[str] = "features"
    cumulative: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_length("n", self.n, 2)
        check_float("c", self.c, 0, MAX_SCALE, low_open=True)
        check_float("train_range", self.train_range, 0, MAX_SCALE, low_open=True)
        # Frozen dataclass: store floats so that `c=10` and `c=10.0` are the same task (and the same JSON).
        object.__setattr__(self, "c", float(self.c))
        object.__setattr__(self, "train_range", float(self.train_range))

    @property
    def n_ctx(self) -> int:
        return self.n + 1

    @property
    def extra_node(self) -> int:
        return self.n

    @property
    def d_vocab(self) -> int:
        return 1

    @property
    def d_vocab_out(self) -> int:
        return 1

    def targets(self, x: Tensor) -> Tensor:
        """``[batch, n]`` targets of values ``x`` ``[batch, n]``."""
        raise NotImplementedError

    def relevance(self) -> Tensor:
        """``[n, n+1]`` bool: the positions each output depends on."""
        import torch

        if self.cumulative:
            return prefix_relevance(self.n)
        return torch.cat([torch.ones(self.n, self.n, dtype=torch.bool), torch.zeros(self.n, 1, dtype=torch.bool)], 1)

    def batch_from_values(self, x: Tensor, info: dict[str, Tensor] | None = None) -> Batch:
        """The batch holding values ``x`` ``[batch, n]`` (and the extra node)."""
        import torch

        B = x.shape[0]
        inputs = torch.cat([x, torch.zeros(B, 1)], dim=1)[..., None]
        relevant = self.relevance().expand(B, -1, -1).clone()
        return Batch(inputs, self.targets(x), torch.arange(self.n), relevant, {"values": x, **(info or {})})

    def sample(self, batch_size: int, seed: int | torch.Generator = 0) -> Batch:
        batch_size = self.check_batch_size(batch_size)
        x, intervals = sample_values(batch_size, self.n, self.c, self.train_range, make_generator(seed))
        return self.batch_from_values(x, {"intervals": intervals})

    def outputs(self, logits: Tensor, batch: Batch) -> Tensor:
        """``[batch, n]``: the model's scalar output at each real position."""
        return self.readout_logits(logits, batch)[..., 0]

    def loss(self, logits: Tensor, batch: Batch) -> Tensor:
        return (self.outputs(logits, batch) - batch.targets).pow(2).mean()

    def evaluate(self, logits: Tensor, batch: Batch) -> dict[str, float]:
        error = self.outputs(logits, batch) - batch.targets
        return {"mse": error.pow(2).mean().item(),
                "relative_error": (error.norm() / batch.targets.norm().clamp(min=1e-30)).item()}

    def token_labels(self, batch: Batch, index: int = 0) -> list[str]:
        values = batch.inputs[index, : self.n, 0].tolist()
        return [f"x{i}={v:.2f}" for i, v in enumerate(values)] + ["extra"]


@dataclass(frozen=True)
class CumsumTask(ValueTask):
    """Cumulative sum: y_i = x_0 + ... + x_i."""

    name: ClassVar[str] = "cumsum"

    def targets(self, x: Tensor) -> Tensor:
        return x.cumsum(1)


@dataclass(frozen=True)
class CumminTask(ValueTask):
    """Cumulative minimum: y_i = min(x_0, ..., x_i)."""

    name: ClassVar[str] = "cummin"

    def targets(self, x: Tensor) -> Tensor:
        return x.cummin(1).values


@dataclass(frozen=True)
class CummedianTask(ValueTask):
    """Cumulative median: y_i = median(x_0, ..., x_i), the mean of the two middle values when i is odd."""

    name: ClassVar[str] = "cummedian"

    def targets(self, x: Tensor) -> Tensor:
        return cumulative_median(x)


@dataclass(frozen=True)
class SortTask(ValueTask):
    """Sorting: y_i = the i-th smallest of x_0, ..., x_{n-1}."""

    name: ClassVar[str] = "sort"
    cumulative: ClassVar[bool] = False

    def targets(self, x: Tensor) -> Tensor:
        return x.sort(1).values


@dataclass(frozen=True)
class CummaxsubTask(ValueTask):
    """Cumulative maximum subarray: y_i = the largest sum of a contiguous run inside x_0, ..., x_i."""

    name: ClassVar[str] = "cummaxsub"

    def targets(self, x: Tensor) -> Tensor:
        return cumulative_max_subarray(x)


VALUE_TASKS: dict[str, type[ValueTask]] = {cls.name: cls for cls in
                                           (CumsumTask, CumminTask, CummedianTask, SortTask, CummaxsubTask)}

__all__ = ["VALUE_TASKS", "CummaxsubTask", "CummedianTask", "CumminTask", "CumsumTask", "SortTask", "ValueTask",
           "cumulative_max_subarray", "cumulative_median", "prefix_relevance", "sample_values"]
