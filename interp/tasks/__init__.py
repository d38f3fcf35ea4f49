"""Tasks: validated specs with vectorised samplers that know the theory's ground truth, and their scoring."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..family import Registry, family_of, task_classes
from ..validation import TaskError
from .base import Batch, Task
from .counting import CountingTask
from .evaluation import evaluate, reached
from .parity import ParityTask
from .positional import ValueTask
from .selection import SelectionTask

# Every task by its name, from the families that declare them (interp.family).
TASKS: Registry[type[Task]] = Registry(task_classes)


def task_class(name: str) -> type[Task]:
    family_of(name)  # an unknown name raises TaskError listing the tasks
    return TASKS[name]


def make_task(name: str, **params: Any) -> Task:
    """Build task ``name`` with ``params`` (the rest default). Unknown names or keys raise TaskError."""
    cls = task_class(name)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise TaskError(
            f"unknown parameter(s) for task {name}: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    if params.get("subset") is not None:
        if not isinstance(params["subset"], (list, tuple)):
            raise TaskError(f"subset must be a list of positions, got {params['subset']!r}")
        params["subset"] = tuple(params["subset"])
        params.setdefault("k", len(params["subset"]))
    return cls(**params)


__all__ = ["Batch", "CountingTask", "ParityTask", "SelectionTask", "Task", "TaskError", "TASKS", "ValueTask",
           "evaluate", "make_task", "reached", "task_class"]
