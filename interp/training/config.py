"""A run's training settings, ``TrainConfig``, checked when made (the schedules, losses and orders the package
docstring describes); ``interp.training.loop`` trains with them. No torch here, so that a task's defaults can be
listed (``interp tasks``) without loading it."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..family import family_of
from ..validation import TaskError, check_bool, check_choice, check_float, check_int, check_seed

if TYPE_CHECKING:
    from ..tasks import Task

LR_SCHEDULES = ("constant", "cosine", "plateau")
# How a finite training set is read: "draw" (every batch drawn with replacement) or "epochs" (every epoch a fresh
# permutation of the set, read in batches in order; the last batch of an epoch holds what is left).
TRAIN_ORDERS = ("draw", "epochs")
# TrainConfig fields added after the shipped models were trained; a train section without them means their
# defaults, which is what those runs trained with.
ADDED_TRAIN_FIELDS = ("full_batch", "loss", "train_order", "plateau_patience", "plateau_factor", "plateau_min_lr")
# "task": the task's own loss (cross-entropy for classification); "squared-mean-hinge": Han & Ghoshdastidar's
# (mean_b max(0, 1 - d_b (2 y_b - 1)))^2 on the logit difference d = logit[1] - logit[0] of a two-class task.
LOSSES = ("task", "squared-mean-hinge")


@dataclass
class TrainConfig:
    max_steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    warmup_steps: int = 0
    lr_schedule: str = "constant"  # or "cosine": decay to 0 at max_steps; or "plateau" (the module docstring)
    grad_clip: float = 1.0
    train_size: int = 0  # 0: a fresh batch every step (online); >0: a finite training set
    full_batch: bool = False  # with train_size > 0: every step is the whole training set (batch_size unused)
    loss: str = "task"  # or "squared-mean-hinge" (LOSSES)
    train_order: str = "draw"  # TRAIN_ORDERS, for a finite training set
    plateau_patience: int = 50  # lr_schedule="plateau": epochs without improvement before the rate drops
    plateau_factor: float = 0.9  # ... and the factor it drops by
    plateau_min_lr: float = 1e-6  # ... and the rate it never drops below
    eval_every: int = 100
    eval_samples: int = 2048
    target: float | None = None  # stop once the task's metric reaches this on held-out data
    checkpoint_every: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "eval_every", "eval_samples", "checkpoint_every"):
            check_int(name, getattr(self, name), 1)
        for name in ("warmup_steps", "train_size", "plateau_patience"):
            check_int(name, getattr(self, name), 0)
        check_seed("seed", self.seed)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_choice("loss", self.loss, LOSSES)
        check_bool("full_batch", self.full_batch)
        if self.full_batch and not self.train_size:
            raise TaskError("full_batch needs a finite training set: set train_size > 0")
        check_choice("train_order", self.train_order, TRAIN_ORDERS)
        check_float("plateau_factor", self.plateau_factor, 0, 1, low_open=True, high_open=True)
        check_float("plateau_min_lr", self.plateau_min_lr, 0)
        if self.lr_schedule == "plateau" and not self.train_size:
            raise TaskError("lr_schedule='plateau' steps on the training loss of each epoch: it needs a finite "
                            "training set (train_size > 0)")
        if self.lr_schedule == "plateau" and self.warmup_steps:
            raise TaskError(f"lr_schedule='plateau' has no warm-up, got warmup_steps={self.warmup_steps}")
        if self.train_order == "epochs" and not self.train_size:
            raise TaskError("train_order='epochs' reads a finite training set: it needs train_size > 0")
        check_float("lr", self.lr, 0, low_open=True)
        check_float("weight_decay", self.weight_decay, 0)
        check_float("grad_clip", self.grad_clip, 0)
        check_float("beta1", self.beta1, 0, 1, high_open=True)
        check_float("beta2", self.beta2, 0, 1, high_open=True)
        if self.target is not None:
            check_float("target", self.target)

    @classmethod
    def for_task(cls, task: Task | type[Task], **overrides: Any) -> "TrainConfig":
        """The task family's training settings and target (``interp.family``) with ``overrides``; only the task's
        name is read, so a task class serves as well as a task."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TaskError(f"unknown training parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
        family = family_of(task.name)
        return cls(**{**family.train, "target": family.target, **overrides})

    @property
    def steps_per_epoch(self) -> int:
        """Steps that read a finite training set once (``ceil(train_size / batch_size)``); 0 when training online."""
        return -(-self.train_size // self.batch_size)

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then constant or cosine decay to 0 at ``max_steps``; ``lr`` itself for ``plateau``,
        whose rate after the first epoch depends on the losses (``train``'s scheduler holds it)."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.lr_schedule == "cosine":
            progress = (step - self.warmup_steps) / max(1, self.max_steps - self.warmup_steps)
            return self.lr * 0.5 * (1 + math.cos(math.pi * progress))
        return self.lr


def check_loss(task: Task, train_cfg: TrainConfig) -> None:
    """TaskError when ``train_cfg.loss`` does not apply to ``task``."""
    if train_cfg.loss == "squared-mean-hinge" and (getattr(task, "d_vocab_out", None) != 2
                                                  or getattr(task, "metric", None) != "accuracy"):
        raise TaskError(f"loss='squared-mean-hinge' needs a two-class classification task, got {task.name}")


__all__ = ["ADDED_TRAIN_FIELDS", "LOSSES", "LR_SCHEDULES", "TRAIN_ORDERS", "TrainConfig", "check_loss"]
