"""Every run's defaults, in one table: per task, the model and training settings it trains with, the
held-out target that stops training early, and the named presets applied on top.

``make train`` trains each task's ``default`` preset; the result ships in
``trained_models/<task>/default-seed0``. Order of precedence: this table, then the preset, then
``--set`` (``configure``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .paths import TRAINED_MODELS
from .tasks import Task, TaskError, make_task, task_class

if TYPE_CHECKING:
    from .models import ModelConfig
    from .training import TrainConfig

Settings = dict[str, dict[str, Any]]  # {"task": {...}, "model": {...}, "train": {...}}
SCOPES = ("task", "model", "train")


@dataclass(frozen=True)
class RunDefaults:
    """One task's row: ``model(task)`` gives ModelConfig fields (they may depend on the task's sizes)."""

    model: Callable[[Task], dict[str, Any]]
    train: dict[str, Any]
    target: float | None  # stop once the held-out metric reaches this (None: run every step)
    presets: dict[str, Settings] = field(default_factory=lambda: {"default": {}})


def _parity_model(task) -> dict[str, Any]:
    # Over-parameterised on purpose: with k heads only, training stalls in the partial-subset minima
    # Han & Ghoshdastidar's reruns also hit; 8 heads find S in a few hundred steps. Pre-attention
    # LayerNorm gives each position its own value direction for its bit.
    return dict(n_layers=1, n_heads=max(8, 2 * task.k), d_model=128, d_head=16, d_mlp=256,
                normalization_type="LN", attention_dir="bidirectional", positional="learned")


def _selection_model(task) -> dict[str, Any]:
    # Orthonormal codes arrive in the features, so the model owns no positional table then.
    return dict(n_layers=1, n_heads=1, d_model=64, d_head=32, d_mlp=0, attention_dir="causal",
                positional="learned" if task.positions == "learned" else "none")


def _counting_model(task) -> dict[str, Any]:
    # Causal NoPE: causality alone tells a token what came before it (Golkar et al.'s best setting).
    return dict(n_layers=2, n_heads=1, d_model=64, d_head=64, d_mlp=128, attention_dir="causal", positional="none")


def _value_model(task) -> dict[str, Any]:
    # Back de Luca et al.'s scale runs: log2(n) + 1 bidirectional layers, 2 heads, MLP width 64, no normalisation,
    # queries and keys reading the fixed one-hot positions; d_model 32 (theirs: 64) keeps CPU runs short.
    return dict(architecture="hooked", positional="attention", n_layers=math.ceil(math.log2(task.n)) + 1, n_heads=2,
                d_model=32, d_head=16, d_mlp=64, attention_dir="bidirectional", normalization_type="none")


# The paper's baselines and options, on the same model and training (docs/theory/positional.md).
_VALUE_PRESETS: dict[str, Settings] = {
    "default": {},
    "standard": {"model": {"positional": "learned"}},  # Q/K read the residual; input x + W_pos[i] = encoder of x (+) P
    "rotary": {"model": {"positional": "rotary"}},
    "paper-layer": {"model": {"layer": "concat"}},  # MLP(concat[x, attn(x)]), no additive skip
    "bias-free": {"model": {"bias": False}},  # positively homogeneous: f(c x) = c f(x)
}


RUNS: dict[str, RunDefaults] = {
    "parity": RunDefaults(
        _parity_model,
        # No early stop: accuracy reaches 1 within ~200 steps, the heads keep sharpening onto S after that.
        dict(lr=1e-3, batch_size=256, max_steps=600, weight_decay=0.01),
        target=None,
        presets={
            "default": {},
            # The negative control of Han & Ghoshdastidar: attention frozen at random init, the rest trained.
            "frozen-attention": {"model": {"freeze_attention": True}},
        },
    ),
    "selection": RunDefaults(
        _selection_model,
        dict(lr=3e-3, batch_size=256, max_steps=3000, weight_decay=0.0),
        target=0.004,
        presets={
            "default": {},
            # Per-example orthonormal position codes: the setting of Wang et al.'s length generalisation.
            # Matching the subset code to 64-dim position codes needs a rank-64 QK (d_head >= 64).
            "orthonormal": {"task": {"positions": "orthonormal"}, "model": {"d_model": 128, "d_head": 128},
                            "train": {"lr_schedule": "cosine", "max_steps": 4000}},
        },
    ),
    "counting": RunDefaults(
        _counting_model,
        dict(lr=3e-3, batch_size=128, max_steps=5000, lr_schedule="cosine", warmup_steps=100, weight_decay=0.01),
        target=0.995,
        # Each sequence draws 1..R regions, so every query token Q_1..Q_R is trained and a count of regions is
        # never scored through a query embedding still at its random init (docs/theory/counting.md).
        presets={"default": {"task": {"R_min": 1}}},
    ),
    # cumsum, cummin, cummedian, sort, cummaxsub: fresh batches from the training range [-2, 2] (c = 1).
    # Adam at 1e-2 with cosine decay reached in 1000 steps what 3e-3 needed 2000 for (pilot runs on cummin).
    **{name: RunDefaults(_value_model, dict(lr=1e-2, batch_size=256, max_steps=1000, lr_schedule="cosine",
                                            weight_decay=0.0, eval_every=250), target=None, presets=_VALUE_PRESETS)
       for name in ("cumsum", "cummin", "cummedian", "sort", "cummaxsub")},
}


def run_defaults(task_name: str) -> RunDefaults:
    task_class(task_name)  # an unknown name raises TaskError listing the tasks
    return RUNS[task_name]


def model_defaults(task: Task) -> dict[str, Any]:
    return run_defaults(task.name).model(task)


def train_defaults(task_name: str) -> dict[str, Any]:
    row = run_defaults(task_name)
    return {**row.train, "target": row.target}


def configure(task_name: str, preset: str = "default", settings: Settings | None = None) -> tuple[Task, "ModelConfig", "TrainConfig"]:
    """Task, model and training config of ``preset`` with ``settings`` on top."""
    from .models import ModelConfig
    from .training import TrainConfig

    presets = run_defaults(task_name).presets
    if preset not in presets:
        raise TaskError(f"unknown preset {preset!r} for {task_name}; choose one of: {', '.join(presets)}")
    settings = settings or {}
    merged = {scope: {**presets[preset].get(scope, {}), **settings.get(scope, {})} for scope in SCOPES}
    task = make_task(task_name, **merged["task"])
    return task, ModelConfig.for_task(task, **merged["model"]), TrainConfig.for_task(task, **merged["train"])


def run_directory(task_name: str, preset: str, seed: int, root: Path = TRAINED_MODELS) -> Path:
    return Path(root) / task_name / f"{preset}-seed{seed}"
