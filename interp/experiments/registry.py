"""Every experiment by its name (part of the interface): the toolkit's own, and those task families bring
(``interp.family.Family.experiments``)."""

from __future__ import annotations

from ..family import FamilyError, Registry, experiments
from ..validation import TaskError
from .base import Experiment
from .counting import COUNTING_EXPERIMENTS
from .discovery import DISCOVERY_EXPERIMENTS
from .parity import PARITY_EXPERIMENTS
from .positional import POSITIONAL_EXPERIMENTS
from .selection import SELECTION_EXPERIMENTS
from .symmetry import SYMMETRY_EXPERIMENTS

BUILTIN: dict[str, type[Experiment]] = {cls.name: cls for cls in [
    *PARITY_EXPERIMENTS, *DISCOVERY_EXPERIMENTS, *SELECTION_EXPERIMENTS, *COUNTING_EXPERIMENTS,
    *SYMMETRY_EXPERIMENTS, *POSITIONAL_EXPERIMENTS]}


def every_experiment() -> dict[str, type[Experiment]]:
    brought = experiments()
    for name, cls in brought.items():
        if not (isinstance(cls, type) and issubclass(cls, Experiment)):
            raise FamilyError(f"experiment {name!r} of a family is not an interp.experiments.base.Experiment")
        if name in BUILTIN:
            raise FamilyError(f"a family's experiment is named {name!r}, as one of the toolkit's own")
    return {**BUILTIN, **brought}


EXPERIMENTS: Registry[type[Experiment]] = Registry(every_experiment)


def get_experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise TaskError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]()
