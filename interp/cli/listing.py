"""The verbs that list what there is: ``interp tasks`` and ``interp experiment list``.

They read the task families, the tasks' defaults and the experiments' declarations, none of which loads torch or
TransformerLens (``interp.lazy``), so they answer at once; the verbs that work on models (``interp.cli.verbs``)
load them. A family from outside the package is listed like the toolkit's own, with whatever its module imports.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
from collections.abc import Callable
from typing import Any

from ..defaults import configure
from ..experiments.registry import EXPERIMENTS
from ..family import family_of, task_classes
from ..tasks import TASKS
from ..training.config import TrainConfig
from ..validation import ConfigError
from ..viz.text import experiments_text, tasks_text

# What ends a listing with status 1 rather than a traceback: a file it could not read.
FAULTS = (OSError,)


def cmd_tasks(args: argparse.Namespace) -> None:
    # What `interp train TASK` trains: the default preset (it may set task parameters, e.g. counting's R_min).
    rows: list[Any] = []
    for name in TASKS:
        compiled_by = family_of(name).compiled_by
        if compiled_by and importlib.util.find_spec(compiled_by) is None:
            rows.append((name, f"{name} tasks need the {compiled_by} extra ({compiled_by} is not installed): "
                               f"pip install 'interp[{compiled_by}]'"))
        elif compiled_by and not args.compile:
            rows.append(declared(name))
        else:
            try:
                task, model_cfg, train_cfg = configure(name)
                rows.append((type(task), task.params(), dataclasses.asdict(model_cfg), dataclasses.asdict(train_cfg)))
            except ConfigError as e:  # a family whose optional extra cannot be loaded is listed with why
                rows.append((name, str(e)))
    print(tasks_text(rows))


def declared(name: str) -> tuple[type, dict[str, Any], str, dict[str, Any]]:
    """The default preset of a task whose model comes from compiling it, as declared: its task class's defaults
    under the preset's, the model as a note, and the training fields (a training value the preset would compute
    from the task is left at the family's, since no task is made)."""
    family, task_type = family_of(name), task_classes()[name]
    preset = family.presets["default"]
    task_fields = {f.name: f.default for f in dataclasses.fields(task_type) if f.init} | preset.get("task", {})
    train = {key: value for key, value in preset.get("train", {}).items() if not callable(value)}
    train_cfg = TrainConfig.for_task(task_type, **train)  # it reads the task's name alone, a class attribute
    return (task_type, task_fields, f"the program's compiled shape (interp tasks --compile prints it: "
                                    f"{family.compiled_by} compiles it)", dataclasses.asdict(train_cfg))


def cmd_list(args: argparse.Namespace) -> None:
    print("\n".join(EXPERIMENTS) if args.names else experiments_text(EXPERIMENTS.values(), args.verbose))


VERBS: dict[str, Callable[[argparse.Namespace], None]] = {"tasks": cmd_tasks, "experiment list": cmd_list}
