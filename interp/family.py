"""A task family: everything the toolkit knows about a family of tasks, declared in one module.

A family module (``interp/families/<name>.py``, or any module outside the package) builds one ``Family``:

    FAMILY = Family(
        name="parity", summary="k-sparse parity (Han & Ghoshdastidar)",
        tasks=(ParityTask,),                         # spec and sampler: interp.tasks.Task subclasses
        model=lambda task: dict(n_layers=1, ...),    # the ModelConfig fields a task trains with
        train=dict(lr=1e-3, ...), target=None,       # TrainConfig fields; held-out target that stops early
        presets={"default": {}, ...},                # named {"task"|"model"|"train": {...}} overrides (a model or
                                                     # train value may be a function of the task)
        constructions={"parity": Construction("parity", build, truth)},  # hand-built weights and their circuit
        analyze=analyze,                             # the probes: (model, task, reference, samples, seed) -> Analysis
        circuit=None,                                # the analysis's circuit heads alone, where cheaper than analyze
        symmetry=Domain(...),                        # what the permutation-symmetry score rearranges (or None)
        readouts=lambda task: 1,                     # answer positions per example (the memory estimate)
        compiled_by=None,                            # optional: the package that compiles its tasks (tracr)
    )

Every field must be given, ``None`` (or an empty mapping) where a family has none of it: a family that
forgets one fails when it is loaded, with its name, not later as a ``KeyError`` (``experiments`` and
``compiled_by`` are optional). A family whose tasks are made by compiling a program (``compiled_by``, the package
that compiles it) is listed by ``interp tasks`` from its declared defaults, without compiling, unless
``--compile`` asks for the compiled model's shape. A construction named after
its task is that task's default construction; the others are variants picked by name.

The families are the toolkit's own (``BUILTIN``) and those that installed packages declare as entry points
in the group ``interp.families`` (``[project.entry-points."interp.families"] name = "module:FAMILY"``).
This module imports nothing of the package's but ``interp.validation``: the layers below the families ask it
for a task's family by name, and it imports the family modules (and through them the layers above) only
when first asked. The toolkit's own family modules load neither torch nor TransformerLens: what needs them
(probes, constructions, symmetry frames) they name with ``interp.lazy.lazy_function`` or import inside the
function, so that listing the tasks and experiments stays light.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeVar

from .validation import ConfigError, FamilyError, TaskError, shown

if TYPE_CHECKING:
    from torch import Tensor
    from transformer_lens.model_bridge import TransformerBridge

    from .analysis.result import Analysis
    from .discovery.truth import Use
    from .symmetry.score import Frames
    from .tasks.base import Batch, Task

ENTRY_POINTS = "interp.families"
BUILTIN = ("interp.families.parity:FAMILY", "interp.families.selection:FAMILY", "interp.families.counting:FAMILY",
           "interp.families.positional:FAMILY", "interp.families.tracr:FAMILY")
Settings = dict[str, dict[str, Any]]  # {"task": {...}, "model": {...}, "train": {...}}
SCOPES = ("task", "model", "train")



@dataclass(frozen=True)
class Construction:
    """Hand-built weights for one task: ``build(task, **params)`` returns a model whose
    ``construction["name"]`` is this construction's name, and ``truth(model)`` lists the edges it uses
    (``interp.discovery.truth.Use``), or None where nobody listed them. ``preset``: the preset whose model
    it has the shape of; ``interp construct TASK --preset P`` builds the first one the family lists for P."""

    task: str
    build: Callable[..., "TransformerBridge"]
    truth: Callable[["TransformerBridge"], list["Use"]] | None
    preset: str = "default"


@dataclass(frozen=True)
class Domain:
    """What the permutation-symmetry score (``interp.symmetry.score``) rearranges and reads for a family's tasks:
    the group and the scored output in words, and the functions that draw, rearrange and read the inputs."""

    group: str
    scored: str
    frames: Callable[["Task", int, int], list["Frames"]]  # (task, samples, seed) -> frames grouped by m
    # (task, inputs [n, ...], positions [n, m], arrangements [n, a, m]) -> [n, a, ...]
    rearrange: Callable[["Task", "Tensor", "Tensor", "Tensor"], "Tensor"]
    output: Callable[["Task", "Tensor", "Tensor"], "Tensor"]  # (task, logits [n, pos, vocab], readout [n]) -> [n, C]
    target: Callable[["Task", "Tensor", "Batch", "Tensor", "Tensor"], "Tensor"]  # (task, inputs, batch, example,
    # readout) -> [n, C]
    closed_form: Callable[["Task"], dict[str, Any]]


_UNSET: Any = object()


@dataclass(frozen=True)
class Family:
    """One family of tasks (the module docstring lists the fields)."""

    name: str = _UNSET
    summary: str = _UNSET
    tasks: tuple[type["Task"], ...] = _UNSET
    model: Callable[["Task"], dict[str, Any]] = _UNSET
    train: dict[str, Any] = _UNSET
    target: float | None = _UNSET
    presets: Settings = _UNSET
    constructions: Mapping[str, Construction] = _UNSET
    analyze: Callable[..., "Analysis"] = _UNSET
    circuit: Callable[..., list[tuple[int, int]]] | None = _UNSET
    symmetry: "Domain | None" = _UNSET
    readouts: Callable[["Task"], int] = _UNSET
    experiments: tuple[type, ...] = ()  # interp.experiments.base.Experiment subclasses the family brings
    compiled_by: str | None = None  # the package that compiles its tasks' programs (the module docstring)

    def __post_init__(self) -> None:
        who = f"family {self.name!r}" if isinstance(self.name, str) else "a family"
        missing = [f.name for f in fields(self) if getattr(self, f.name) is _UNSET]
        if missing:
            raise FamilyError(f"{who} does not declare {', '.join(missing)} (give None where it has none)")
        if not self.tasks or not all(isinstance(getattr(t, "name", None), str) for t in self.tasks):
            raise FamilyError(f"{who}: tasks must be Task classes, each with its name")
        if "default" not in self.presets or any(set(p) - set(SCOPES) for p in self.presets.values()):
            raise FamilyError(f"{who}: presets need a 'default', each setting only {', '.join(SCOPES)}")
        for name, made in self.constructions.items():
            if made.task not in self.task_names:
                raise FamilyError(f"{who}: construction {name!r} is for {made.task!r}, not one of its tasks")
        for part in ("model", "analyze", "readouts"):
            if not callable(getattr(self, part)):
                raise FamilyError(f"{who}: {part} must be callable")

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)


def _load(reference: str, origin: str, plugin: bool) -> Family:
    module, _, attribute = reference.partition(":")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except ConfigError:
        raise
    except Exception as e:
        if not plugin:  # the toolkit's own family failing to load is a bug: keep its traceback
            raise
        # A plugin's own import failure (a missing dependency, a typo): name the plugin in one line.
        raise FamilyError(f"{origin} {reference} could not be loaded: {type(e).__name__}: {e}") from None
    if not isinstance(found, Family):
        raise FamilyError(f"{origin} {reference} is {shown(found, 40)}, not an interp.family.Family")
    return found


@cache
def families() -> dict[str, Family]:
    """Every family by its name: the toolkit's own, then the installed plugins'. Task, construction and
    experiment names are unique across all of them."""
    loaded = [(_load(ref, "family", plugin=False), "interp") for ref in BUILTIN]
    loaded += [(_load(ep.value, f"family plugin {ep.name!r}:", plugin=True), ep.value)
               for ep in entry_points(group=ENTRY_POINTS)]
    out: dict[str, Family] = {}
    owner: dict[str, str] = {}  # task, construction or experiment name -> the family that declares it
    for made, origin in loaded:
        if made.name in out:
            raise FamilyError(f"two families are named {made.name!r} (the second from {origin})")
        for name in (*made.task_names, *made.constructions, *(getattr(e, "name", "") for e in made.experiments)):
            if owner.setdefault(name, made.name) != made.name:
                raise FamilyError(f"{name!r} is declared by family {owner[name]!r} and by {made.name!r}")
        out[made.name] = made
    return out


def family_of(task_name: str) -> Family:
    """The family that declares task ``task_name``; TaskError listing the tasks if none does."""
    for made in families().values():
        if task_name in made.task_names:
            return made
    raise TaskError(f"unknown task {task_name!r}; choose one of: {', '.join(task_classes())}")


def task_classes() -> dict[str, type["Task"]]:
    return {t.name: t for made in families().values() for t in made.tasks}


def constructions() -> dict[str, Construction]:
    """Every construction by its name."""
    return {name: made for family in families().values() for name, made in family.constructions.items()}


def experiments() -> dict[str, type]:
    """The experiments families bring, by name."""
    return {cls.name: cls for family in families().values() for cls in family.experiments}


V = TypeVar("V")


class Registry(Mapping[str, V]):
    """A read-only view keyed by name, built from the families on first use (so importing a layer does not
    load every family), e.g. ``TASKS = Registry(task_classes)``."""

    def __init__(self, build: Callable[[], Mapping[str, V]]) -> None:
        self._build = build

    def __getitem__(self, key: str) -> V:
        return self._build()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._build())

    def __len__(self) -> int:
        return len(self._build())

    def __repr__(self) -> str:
        return f"Registry({dict(self._build())!r})"


__all__ = ["BUILTIN", "ENTRY_POINTS", "Construction", "Domain", "Family", "FamilyError", "Registry", "SCOPES",
           "Settings", "constructions", "experiments", "families", "family_of", "task_classes"]
