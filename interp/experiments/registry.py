"""Every experiment by its name (part of the interface)."""

from __future__ import annotations

from ..validation import TaskError
from .base import Experiment
from .counting import COUNTING_EXPERIMENTS
from .discovery import DISCOVERY_EXPERIMENTS
from .parity import PARITY_EXPERIMENTS
from .positional import POSITIONAL_EXPERIMENTS
from .selection import SELECTION_EXPERIMENTS
from .symmetry import SYMMETRY_EXPERIMENTS

EXPERIMENTS: dict[str, type[Experiment]] = {cls.name: cls for cls in [
    *PARITY_EXPERIMENTS, *DISCOVERY_EXPERIMENTS, *SELECTION_EXPERIMENTS, *COUNTING_EXPERIMENTS,
    *SYMMETRY_EXPERIMENTS, *POSITIONAL_EXPERIMENTS]}


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise TaskError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]()
