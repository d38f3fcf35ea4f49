"""What every task shares: the batch it hands out and the task interface (value checks: ``interp.validation``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..validation import TaskError, check_int

if TYPE_CHECKING:
    import torch
    from torch import Tensor

# torch is imported where a batch is drawn or scored, so that listing the tasks (``interp tasks``) does not load it.


def make_generator(seed: int | torch.Generator) -> torch.Generator:
    import torch

    if isinstance(seed, torch.Generator):
        return seed
    return torch.Generator().manual_seed(int(seed))


@dataclass
class Batch:
    """A batch of examples with the ground truth the theory names.

    inputs:   ``[batch, pos]`` token ids, or ``[batch, pos, d_in]`` float features
    targets:  task-specific (``[batch]`` labels, ``[batch, d]`` vectors, ``[batch, n_readout]`` counts)
    readout:  ``[n_readout]`` positions whose outputs are the model's answers
    relevant: ``[batch, n_readout, pos]`` bool: the positions each readout must attend to
    info:     task-specific ground truth (hidden subset, region ids, counts, positional codes)
    """

    inputs: Tensor
    targets: Tensor
    readout: Tensor
    relevant: Tensor
    info: dict[str, Tensor] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def to(self, device: str | torch.device) -> "Batch":
        return Batch(
            self.inputs.to(device),
            self.targets.to(device),
            self.readout.to(device),
            self.relevant.to(device),
            {k: v.to(device) for k, v in self.info.items()},
        )

    def __getitem__(self, index: slice | Tensor) -> "Batch":
        """A sub-batch (same readout)."""
        return Batch(
            self.inputs[index],
            self.targets[index],
            self.readout,
            self.relevant[index],
            {k: v[index] for k, v in self.info.items()},
        )


@dataclass(frozen=True)
class Task:
    """A task: a validated parameter set, a vectorised sampler, the loss and the metrics.

    Subclasses are frozen dataclasses whose fields are the task parameters.
    """

    name: ClassVar[str]
    metric: ClassVar[str]  # the headline metric reported by ``interp eval``
    higher_is_better: ClassVar[bool]
    input_kind: ClassVar[str]  # "tokens" or "features"

    def params(self) -> dict[str, Any]:
        """The task parameters as JSON-ready values."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **changes: Any) -> "Task":
        """The same task with some parameters changed (validated again)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TaskError(f"unknown parameter(s) for task {self.name}: {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    # --- shapes the model needs -------------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        raise NotImplementedError

    @property
    def seq_len(self) -> int:
        """Length of the sequences this task samples (at most ``n_ctx``)."""
        return self.n_ctx

    @property
    def d_vocab(self) -> int:
        """Number of token ids, or the feature width ``d_in`` for feature inputs."""
        raise NotImplementedError

    @property
    def d_vocab_out(self) -> int:
        raise NotImplementedError

    # --- data -----------------------------------------------------------------------------------
    def sample(self, batch_size: int, seed: int | torch.Generator = 0) -> Batch:
        raise NotImplementedError

    def readout_logits(self, logits: Tensor, batch: Batch) -> Tensor:
        """Model outputs at the readout positions: ``[batch, n_readout, d_vocab_out]``."""
        return logits[:, batch.readout]

    def loss(self, logits: Tensor, batch: Batch) -> Tensor:
        raise NotImplementedError

    def evaluate(self, logits: Tensor, batch: Batch) -> dict[str, float]:
        """Metrics of ``logits`` on ``batch``, reading only ``readout_logits(logits, batch)`` and
        ``batch.targets`` (``interp.tasks.evaluate`` scores outputs kept at the readouts only)."""
        raise NotImplementedError

    def token_labels(self, batch: Batch, index: int = 0) -> list[str]:
        """Human-readable labels of the positions of example ``index`` (for plots)."""
        raise NotImplementedError

    def check_batch_size(self, batch_size: int) -> int:
        return check_int("batch_size", batch_size, 1)


class ClassificationTask(Task):
    """A task whose answer is one class label read at its one readout position: cross-entropy loss, accuracy."""

    def loss(self, logits: Tensor, batch: Batch) -> Tensor:
        import torch.nn.functional as F

        return F.cross_entropy(self.readout_logits(logits, batch)[:, 0], batch.targets)

    def evaluate(self, logits: Tensor, batch: Batch) -> dict[str, float]:
        import torch.nn.functional as F

        out = self.readout_logits(logits, batch)[:, 0]
        return {"accuracy": (out.argmax(-1) == batch.targets).float().mean().item(),
                "loss": F.cross_entropy(out, batch.targets).item()}
