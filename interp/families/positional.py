"""Positional attention (Back de Luca et al.): five value tasks (cumsum, cummin, cummedian, sort, cummaxsub)
on models whose queries and keys read fixed one-hot positions, and the Hillis-Steele scans built on them. The
theory: docs/theory/positional.md."""

from __future__ import annotations

import math
from typing import Any

from ..family import Construction, Family
from ..lazy import lazy_function
from ..tasks.positional import VALUE_TASKS, ValueTask

# What needs torch (the probes, the constructions) is imported on first use: listing the tasks and the experiments
# reads this module without loading it.


@lazy_function
def analyze():
    from ..analysis.positional import analyze
    return analyze


@lazy_function
def cumsum():
    from ..constructions.positional import cumsum
    return cumsum


@lazy_function
def cummin():
    from ..constructions.positional import cummin
    return cummin


# The authors' model (their model.py: Transformer with TransformerLayer = MLP(concat[x, attention(x)])):
# width 64, 2 heads, values 32 wide per head (v_proj 64 -> 64 split over the heads), a two-layer ReLU MLP of
# width 64 on the 128-wide concatenation, a bias on every linear map, Xavier-uniform attention weights with zero
# attention biases and PyTorch's defaults elsewhere. Queries and keys are pos_dim = n + 1 wide per head for
# positional attention and embed_dim = 64 wide for standard attention. Depth log2(n) + 1 (the family default).
PAPER_MODEL = dict(layer="concat", d_model=64, n_heads=2, d_value=32, d_mlp=64, init_mode="xavier_attention")
# The authors' protocol (their experiment_scale.py with params/scale_params.json): Adam at 5e-4 without weight
# decay or clipping, ReduceLROnPlateau(patience 50, factor 0.9, min_lr 1e-6) stepped on each epoch's summed
# training loss, a fixed set of 30,000 examples read in shuffled batches of 1000 for 2001 epochs (60,030 steps).
PAPER_EPOCHS = 2001
PAPER_TRAIN = dict(lr=5e-4, lr_schedule="plateau", plateau_patience=50, plateau_factor=0.9, plateau_min_lr=1e-6,
                   weight_decay=0.0, grad_clip=0.0, train_size=30_000, batch_size=1000, train_order="epochs",
                   max_steps=PAPER_EPOCHS * 30, eval_every=3000)


def query_key_width(task: ValueTask) -> int:
    """The authors' positional query/key width per head: pos_dim, the n + 1 one-hot positions."""
    return task.n_ctx


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
        # The authors' model and protocol (above; settings beside theirs in docs/theory/positional.md): positional
        # attention, their standard model (Q/K 64 wide, reading the hidden state; one-hot positions in the
        # input), and real RoPE on that standard model's shape in place of the one-hot positions.
        "paper": {"model": {**PAPER_MODEL, "d_head": query_key_width}, "train": PAPER_TRAIN},
        "paper-standard": {"model": {**PAPER_MODEL, "positional": "learned", "d_head": 64}, "train": PAPER_TRAIN},
        "paper-rotary": {"model": {**PAPER_MODEL, "positional": "rotary", "d_head": 64}, "train": PAPER_TRAIN},
    },
    constructions={"cumsum": Construction("cumsum", cumsum, None), "cummin": Construction("cummin", cummin, None)},
    analyze=analyze,
    circuit=None,
    symmetry=None,  # no permutation domain is defined for the value tasks yet
    readouts=lambda task: task.n,  # an answer at every position
)
