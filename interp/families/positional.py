"""Positional attention (Back de Luca et al.): five value tasks (cumsum, cummin, cummedian, sort, cummaxsub)
on models whose queries and keys read fixed one-hot positions, and the Hillis-Steele scans built on them. The
theory: docs/theory/positional.md."""

from __future__ import annotations

import math
from typing import Any

from ..analysis.positional import analyze
from ..constructions.positional import cummin, cumsum
from ..family import Construction, Family
from ..tasks.positional import VALUE_TASKS, ValueTask


def default_model(task: ValueTask) -> dict[str, Any]:
    # Back de Luca et al.'s scale runs: log2(n) + 1 bidirectional layers, 2 heads, MLP width 64, no normalisation,
    # queries and keys reading the fixed one-hot positions; d_model 32 (theirs: 64) keeps CPU runs short.
    return dict(architecture="hooked", positional="attention", n_layers=math.ceil(math.log2(task.n)) + 1, n_heads=2,
                d_model=32, d_head=16, d_mlp=64, attention_dir="bidirectional", normalization_type="none")


FAMILY = Family(
    name="positional",
    summary="positional attention (Back de Luca et al.): value tasks solved by attention on fixed positions, "
            "the scans by Hillis-Steele",
    tasks=tuple(VALUE_TASKS.values()),
    model=default_model,
    # Fresh batches from the training range [-2, 2] (c = 1). Adam at 1e-2 with cosine decay reached in 1000 steps
    # what 3e-3 needed 2000 for (pilot runs on cummin).
    train=dict(lr=1e-2, batch_size=256, max_steps=1000, lr_schedule="cosine", weight_decay=0.0, eval_every=250),
    target=None,
    # The paper's baselines and options, on the same model and training (docs/theory/positional.md).
    presets={
        "default": {},
        "standard": {"model": {"positional": "learned"}},  # Q/K read the residual; x + W_pos[i] = encoder of x (+) P
        "rotary": {"model": {"positional": "rotary"}},
        "paper-layer": {"model": {"layer": "concat"}},  # MLP(concat[x, attn(x)]), no additive skip
        "bias-free": {"model": {"bias": False}},  # positively homogeneous: f(c x) = c f(x)
    },
    constructions={"cumsum": Construction("cumsum", cumsum, None), "cummin": Construction("cummin", cummin, None)},
    analyze=analyze,
    circuit=None,
    symmetry=None,  # no permutation domain is defined for the value tasks yet
    readouts=lambda task: task.n,  # an answer at every position
)
