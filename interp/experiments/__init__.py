"""The papers' claims, reproduced: named experiments over populations of models (``interp experiment``).

``EXPERIMENTS`` maps each name (part of the interface) to its class; ``run_experiment`` runs one.
See ``base.py`` for what an experiment is and ``runner.py`` for how it runs; ``resummarize.py`` rewrites a
committed summary from its stored results, without running anything.
"""

from __future__ import annotations

from ..tasks.base import TaskError
from .base import Experiment, Reference, Row, RunResult, RunSpec, Summary
from .discovery import DISCOVERY_EXPERIMENTS
from .parity import PARITY_EXPERIMENTS
from .positional import POSITIONAL_EXPERIMENTS
from .selection import SELECTION_EXPERIMENTS
from .counting import COUNTING_EXPERIMENTS
from .symmetry import SYMMETRY_EXPERIMENTS

EXPERIMENTS: dict[str, type[Experiment]] = {cls.name: cls for cls in [*PARITY_EXPERIMENTS, *DISCOVERY_EXPERIMENTS, *SELECTION_EXPERIMENTS, *COUNTING_EXPERIMENTS, *SYMMETRY_EXPERIMENTS, *POSITIONAL_EXPERIMENTS]}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise TaskError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]()


def run_experiment(name: str, **kwargs):
    """See ``interp.experiments.runner.run_experiment``."""
    from .runner import run_experiment as run

    return run(name, **kwargs)


__all__ = ["EXPERIMENTS", "Experiment", "Reference", "Row", "RunResult", "RunSpec", "Summary", "get_experiment",
           "run_experiment"]
