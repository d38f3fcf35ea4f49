"""Hand-built weights from the proofs, as models of the same kind as the trained ones.

    from interp.constructions import parity
    model = parity(task)            # a TransformerLens 4 TransformerBridge, exact on ``task``
    model.residual_labels           # what each residual direction means ("count", "cos", ...)
    model.construction              # {"name": ..., "params": {...}}, JSON-ready

One module per paper (``parity``, ``selection``, ``counting``, and ``positional`` with the ``cumsum`` and
``cummin`` scans), each composed from the named pieces in
``interp.constructions.pieces``. The task families (``interp.family``) say which construction is whose:
``construct(task, **params)`` builds the one named after the task; pass ``name=`` to pick a variant
(``counting_close_bias``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..family import Registry, constructions
from ..tasks.base import Task
from ..validation import TaskError
from .counting import counting, counting_close_bias, counting_paper, counting_paper_close_bias
from .parity import parity, parity_frozen_attention, parity_minimal, parity_parameter_count
from .pieces import ResidualBasis
from .positional import cummin, cumsum
from .selection import selection

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

# Every construction by its name (``model.construction["name"]``) -> (task name, builder).
VARIANTS: Registry[tuple[str, Callable[..., "TransformerBridge"]]] = Registry(
    lambda: {name: (made.task, made.build) for name, made in constructions().items()})
# The default construction of each task that has one: the construction named after it.
CONSTRUCTIONS: Registry[Callable[..., "TransformerBridge"]] = Registry(
    lambda: {name: made.build for name, made in constructions().items() if name == made.task})


def construct(task: Task, name: str | None = None, preset: str = "default", **params: Any) -> "TransformerBridge":
    """Build the construction for ``task`` (the default one of ``preset``'s model, or variant ``name``) with
    ``params``.

    Unknown tasks, variants or parameters raise TaskError naming them.
    """
    task_name = getattr(task, "name", None)
    if name is None and preset != "default":
        listed = [made.build for made in constructions().values() if made.task == task_name and made.preset == preset]
        if not listed:
            raise TaskError(f"no construction of task {task_name!r} has the model of preset {preset!r}")
        build = listed[0]
    elif name is None:
        if task_name not in CONSTRUCTIONS:
            raise TaskError(
                f"no construction for task {task_name!r}; constructions exist for: {', '.join(CONSTRUCTIONS)}"
            )
        build = CONSTRUCTIONS[task_name]
    else:
        if name not in VARIANTS:
            raise TaskError(f"unknown construction name {name!r}; choose one of: {', '.join(VARIANTS)}")
        for_task, build = VARIANTS[name]
        if for_task != task_name:
            raise TaskError(f"construction {name!r} is for task {for_task!r}, not {task_name!r}")
    known = list(inspect.signature(build).parameters)[1:]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise TaskError(
            f"unknown parameter(s) for construction {build.__name__}: {', '.join(unknown)}; "
            f"known: {', '.join(known) or '(none)'}"
        )
    return build(task, **params)


__all__ = [
    "CONSTRUCTIONS",
    "VARIANTS",
    "ResidualBasis",
    "construct",
    "counting",
    "counting_close_bias",
    "counting_paper",
    "counting_paper_close_bias",
    "cummin",
    "cumsum",
    "parity",
    "parity_frozen_attention",
    "parity_minimal",
    "parity_parameter_count",
    "selection",
]
