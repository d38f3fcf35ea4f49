"""A run's settings: the task family's defaults (``interp.family``: the model and training settings it trains
with, the held-out target that stops training early, its named presets), then the preset, then ``--set``.

``make train`` trains the shipped ``task:preset`` runs; each lands in ``trained_models/<task>/<preset>-seed0``.
"""

from __future__ import annotations

from pathlib import Path

from .family import SCOPES, Settings, family_of
from .models import ModelConfig
from .paths import TRAINED_MODELS
from .tasks import Task, TaskError, make_task
from .training import TrainConfig


def configure(task_name: str, preset: str = "default",
              settings: Settings | None = None) -> tuple[Task, ModelConfig, TrainConfig]:
    """Task, model and training config of ``preset`` with ``settings`` on top.

    A preset's model or training value may be a function of the task (the positional family's ``paper`` preset:
    queries and keys ``n + 1`` wide); it is called once the task is made."""
    presets = family_of(task_name).presets
    if preset not in presets:
        raise TaskError(f"unknown preset {preset!r} for {task_name}; choose one of: {', '.join(presets)}")
    settings = settings or {}
    merged = {scope: {**presets[preset].get(scope, {}), **settings.get(scope, {})} for scope in SCOPES}
    task = make_task(task_name, **merged["task"])
    model, train = ({name: value(task) if callable(value) else value for name, value in merged[scope].items()}
                    for scope in ("model", "train"))
    return task, ModelConfig.for_task(task, **model), TrainConfig.for_task(task, **train)


def run_directory(task_name: str, preset: str, seed: int, root: Path = TRAINED_MODELS) -> Path:
    return Path(root) / task_name / f"{preset}-seed{seed}"
