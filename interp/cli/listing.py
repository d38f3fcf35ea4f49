"""The verbs that list what there is: ``interp tasks`` and ``interp experiment list``.

They read the task families, the tasks' defaults and the experiments' declarations, none of which loads torch or
TransformerLens (``interp.lazy``), so they answer at once; the verbs that work on models (``interp.cli.verbs``)
load them. A family from outside the package is listed like the toolkit's own, with whatever its module imports.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..defaults import configure
from ..experiments.registry import EXPERIMENTS
from ..tasks import TASKS
from ..validation import ConfigError
from ..viz.text import experiments_text, tasks_text

# What ends a listing with status 1 rather than a traceback: a file it could not read.
FAULTS = (OSError,)


def cmd_tasks(args: argparse.Namespace) -> None:
    # What `interp train TASK` trains: the default preset (it may set task parameters, e.g. counting's R_min).
    rows: list[Any] = []
    for name in TASKS:
        try:
            rows.append(configure(name))
        except ConfigError as e:  # a family whose optional extra is not installed (tracr) is listed with why
            rows.append((name, str(e)))
    print(tasks_text(rows))


def cmd_list(args: argparse.Namespace) -> None:
    print("\n".join(EXPERIMENTS) if args.names else experiments_text(EXPERIMENTS.values(), args.verbose))


VERBS: dict[str, Callable[[argparse.Namespace], None]] = {"tasks": cmd_tasks, "experiment list": cmd_list}
