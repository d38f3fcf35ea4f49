"""Named training presets: settings applied on top of each task's defaults, before ``--set``.

``default`` is what ``make train`` trains and ships in ``trained_models/<task>/default-seed0``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .models import ModelConfig
from .tasks import Task, TaskError, make_task, task_class
from .training import TrainConfig

TRAINED_MODELS = Path("trained_models")

# Held-out targets that stop training early (None: run all steps); the shipped models are then checked on
# 8192 fresh samples.
TARGETS = {"parity": None, "selection": 0.004, "counting": 0.995}

PRESETS: dict[str, dict[str, dict[str, dict[str, Any]]]] = {
    "parity": {
        "default": {},
        # The negative control of Han & Ghoshdastidar: attention frozen at random init, MLP trained.
        "frozen-attention": {"model": {"freeze_attention": True}},
    },
    "selection": {
        "default": {},
        # Per-example orthonormal position codes: the setting of Wang et al.'s length generalisation.
        # Matching the subset code to 64-dim position codes needs a rank-64 QK (d_head >= 64).
        "orthonormal": {"task": {"positions": "orthonormal"}, "model": {"d_model": 128, "d_head": 128},
                        "train": {"lr_schedule": "cosine", "max_steps": 4000}},
    },
    "counting": {"default": {}},
}


def configure(task_name: str, preset: str, settings: dict[str, dict[str, Any]] | None = None) -> tuple[Task, ModelConfig, TrainConfig]:
    """Task, model and training config of ``preset`` with ``settings`` ({task,model,train: {...}}) on top."""
    task_class(task_name)
    if preset not in PRESETS[task_name]:
        raise TaskError(f"unknown preset {preset!r} for {task_name}; choose one of: {', '.join(PRESETS[task_name])}")
    settings = settings or {}
    merged = {scope: {**PRESETS[task_name][preset].get(scope, {}), **settings.get(scope, {})} for scope in ("task", "model", "train")}
    task = make_task(task_name, **merged["task"])
    merged["train"].setdefault("target", TARGETS[task_name])
    return task, ModelConfig.for_task(task, **merged["model"]), TrainConfig.for_task(task, **merged["train"])


def run_directory(task_name: str, preset: str, seed: int, root: Path = TRAINED_MODELS) -> Path:
    return root / task_name / f"{preset}-seed{seed}"
