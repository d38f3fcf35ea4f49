"""Sparse token selection (Sanford et al.; Wang et al.): the output at the query is the mean of the contents
of the q data tokens its subset names. The theory: docs/theory/selection.md."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..family import Construction, Domain, Family
from ..lazy import lazy_function
from ..tasks.selection import SelectionTask

if TYPE_CHECKING:
    from torch import Tensor
    from transformer_lens.model_bridge import TransformerBridge

    from ..discovery.truth import Use
    from ..symmetry.score import Frames
    from ..tasks.base import Batch

# What needs torch (the probes, the construction, the symmetry score's pieces) is imported on first use: listing
# the tasks and the experiments reads this module without loading it.


@lazy_function
def analyze():
    from ..analysis.selection import analyze
    return analyze


def circuit(model: "TransformerBridge", task: SelectionTask, samples: int, seed: int) -> list[tuple[int, int]]:
    from ..analysis.selection import SelectionContext

    return SelectionContext(model, task, None, samples, seed).circuit


@lazy_function
def selection():
    from ..constructions.selection import selection
    return selection


def default_model(task: SelectionTask) -> dict[str, Any]:
    # Orthonormal codes arrive in the features, so the model owns no positional table then.
    return dict(n_layers=1, n_heads=1, d_model=64, d_head=32, d_mlp=0, attention_dir="causal",
                positional="learned" if task.positions == "learned" else "none")


def circuit_uses(model: "TransformerBridge") -> list[Use]:
    """The query's ``subset`` code meets the keys' ``position`` codes; OV copies ``content`` into ``mean``,
    which W_U reads. With a learned table the positions come from ``pos`` and never change; with per-example
    orthonormal codes they arrive in the features (``embed``) and differ on every input. When q = T the subset
    is every position, so with a learned table the query's code is the same sum of all of them on every input."""
    from ..discovery.truth import Use

    params = model.construction["params"]
    learned = params["positions"] == "learned"
    return [Use("embed->A0.0.q", ("subset",), learned and params["q"] == params["T"]),
            Use("pos->A0.0.k" if learned else "embed->A0.0.k", ("position",), learned),
            Use("embed->A0.0.v", ("content",), False),
            Use("A0.0->logits", ("mean",), False)]


# --- the permutation-symmetry domain: S_T on the data tokens' contents -----------------------------------


def frames(task: SelectionTask, samples: int, seed: int) -> list[Frames]:
    from ..symmetry.score import leading_frames

    return leading_frames(task, samples, seed, task.T)


def rearranged_contents(task: SelectionTask, inputs: Tensor, positions: Tensor, arrangements: Tensor) -> Tensor:
    """Only the content block moves: the query, subset and position codes stay where they are."""
    import torch

    content = task.blocks["content"]
    n, a = arrangements.shape[:2]
    out = inputs[:, None].expand(n, a, *inputs.shape[1:]).clone()
    source = torch.gather(positions[:, None, :].expand(n, a, -1), 2, arrangements)
    values = inputs[torch.arange(n)[:, None, None], source][..., content]  # [n, a, m, d]
    out[torch.arange(n)[:, None, None], torch.arange(a)[None, :, None], positions[:, None, :], content] = values
    return out


def readout_vector(task: SelectionTask, logits: Tensor, readout: Tensor) -> Tensor:
    import torch

    return logits[torch.arange(len(logits)), readout]


def target(task: SelectionTask, inputs: Tensor, batch: Batch, example: Tensor, readout: Tensor) -> Tensor:
    import torch

    chosen = torch.zeros(len(inputs), task.T).scatter_(1, batch.info["subset"][example], 1.0)
    return (inputs[:, : task.T, task.blocks["content"]] * chosen[..., None]).sum(1) / task.q


def closed_form(task: SelectionTask) -> dict[str, Any]:
    s = task.q / task.T
    return {"s_sym": s, "profile": [s, 1 - s], "kbar": 1 - s,
            "formula": f"a mean of q of T exchangeable tokens: S_sym = q/T = {task.q}/{task.T}, the rest in (T-1,1)"}


FAMILY = Family(
    name="selection",
    summary="sparse token selection (Sanford et al.; Wang et al.): one head matches the subset code to position "
            "codes and averages the chosen contents",
    tasks=(SelectionTask,),
    model=default_model,
    train=dict(lr=3e-3, batch_size=256, max_steps=3000, weight_decay=0.0),
    target=0.004,
    presets={
        "default": {},
        # Per-example orthonormal position codes: the setting of Wang et al.'s length generalisation.
        # Matching the subset code to 64-dim position codes needs a rank-64 QK (d_head >= 64).
        "orthonormal": {"task": {"positions": "orthonormal"}, "model": {"d_model": 128, "d_head": 128},
                        # lr 6e-3 reaches the target at about 1700 steps, 3e-3 over 4000 steps at 3000.
                        "train": {"lr_schedule": "cosine", "lr": 6e-3, "max_steps": 3000}},
    },
    constructions={"selection": Construction("selection", selection, circuit_uses)},
    analyze=analyze,
    circuit=circuit,
    symmetry=Domain("S_T on the data tokens' contents (query and positions fixed)", "the d outputs at the query",
                    frames, rearranged_contents, readout_vector, target, closed_form),
    readouts=lambda task: 1,
)
