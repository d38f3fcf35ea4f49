"""Han & Ghoshdastidar (arXiv 2502.07553): k heads point at the bits of S, a zig-zag MLP takes the parity.

Derivation: docs/theory/parity.md, 'The construction'. The model reads ``x_0 .. x_{n-1} CLS``:

- W_E: bit 0 -> ``is_zero``, bit 1 -> ``is_one``, CLS -> ``is_cls``; W_pos[p] = (cos, sin)(2 pi p / n)
  for the bits and 0 for CLS.
- Head h points from CLS at ``j_h``, the h-th element of S (``circular_pointer_head``): score
  ``c cos(2 pi (p - j_h) / n)``, and copies ``is_one`` into ``count``. Summed over heads, ``count`` at
  CLS is the number of ones on S.
- MLP: the zig-zag ``parity_zigzag`` writes ``count mod 2`` into ``parity``.
- W_U reads ``parity`` and ``is_cls`` so that ``logit[1] - logit[0] = LOGIT_SCALE (2 parity - 1)``.

The theory's parameters are 5k numbers (2 per head in W_Q, 3 per hidden unit), independent of n;
only the positional code (2n fixed numbers) and the sharpness ``c`` grow with n.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import torch

from ..models import ModelConfig
from ..models.config import minimal_model
from ..tasks.parity import CLS, ParityTask
from ..validation import TaskError
from .pieces import (
    ResidualBasis,
    assemble,
    block_weights,
    circular_pointer_head,
    construction_config,
    parity_zigzag,
)

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

    from ..models.pointer import PointerTransformer

# Multiplies the +-1 logit difference so that cross-entropy is small too; the argmax is unchanged.
LOGIT_SCALE = 10.0


def _check_task(task: Any) -> ParityTask:
    # k <= n and the subset's range are validated by ParityTask itself, so a task that exists is valid.
    if not isinstance(task, ParityTask):
        raise TaskError(f"task must be a parity task, got {getattr(task, 'name', type(task).__name__)!r}")
    return task


def pointer_sharpness(n: int, scale: float = 5.0) -> float:
    """``c = scale * ln n / (1 - cos 2 pi / n)``: the score gap to the nearest other bit is ``scale ln n``.

    For n < 4 the nearest competitor is CLS (score 0, gap c) rather than a neighbouring bit, and
    ``ln n`` is too small to matter, so there the gap is held at ``scale * ln 4``.
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0:
        raise TaskError(f"scale must be a positive number, got {scale!r}")
    neighbour_gap = 1.0 - math.cos(2 * math.pi / n) if n > 1 else 1.0
    return scale * math.log(max(n, 4)) / min(1.0, neighbour_gap)


def _basis() -> ResidualBasis:
    basis = ResidualBasis()
    for name in ("is_zero", "is_one", "cos", "sin", "is_cls", "count", "parity"):
        basis.add(name)
    return basis


def _config(task: ParityTask) -> ModelConfig:
    return construction_config(
        task,
        n_layers=1,
        n_heads=task.k,
        d_model=_basis().d_model,
        d_head=2,
        d_mlp=task.k,
        attention_dir="bidirectional",
        positional="learned",
    )


def parity(task: ParityTask, scale: float = 5.0) -> "TransformerBridge":
    """The Han & Ghoshdastidar construction for ``task``: exact parity at CLS for ``scale`` >= ~5.

    ``scale`` sets the head sharpness through ``pointer_sharpness``; docs/theory/parity.md derives when
    it is exact and lists the reference runs (100 % at 5, 72-98 % at 1 on their grid).
    """
    task = _check_task(task)
    n, k = task.n, task.k
    c = pointer_sharpness(n, scale)
    basis = _basis()
    cfg = _config(task)

    angles = [2 * math.pi * p / n for p in range(n)]
    token_direction = {0: "is_zero", 1: "is_one", CLS: "is_cls"}
    W_E = basis.rows([{token_direction[t]: 1.0} for t in range(task.d_vocab)])
    W_pos = basis.rows([{"cos": math.cos(a), "sin": math.sin(a)} for a in angles] + [{}])
    heads = [
        circular_pointer_head(
            basis, query="is_cls", code=("cos", "sin"), angle=angles[j], sharpness=c, value="is_one", out="count"
        )
        for j in task.subset
    ]
    mlp = parity_zigzag(basis, source="count", out="parity", k=k)
    # logit[1] - logit[0] = LOGIT_SCALE (2 parity - 1); is_cls is 1 at the readout, so it acts as a bias.
    W_U = LOGIT_SCALE * basis.rows([{"parity": -1.0, "is_cls": 0.5}, {"parity": 1.0, "is_cls": -0.5}]).T
    weights = {"embed.W_E": W_E, "pos_embed.W_pos": W_pos, "unembed.W_U": W_U, **block_weights(cfg, 0, heads, mlp)}
    params = {"n": n, "k": k, "subset": list(task.subset), "scale": float(scale), "sharpness": c}
    return assemble(cfg, weights, basis, name="parity", params=params)


def parity_frozen_attention(task: ParityTask) -> ModelConfig:
    """The negative control (the paper's fixed heads; docs/theory/parity.md): frozen random attention.

    Same widths as ``parity(task)`` (k heads, d_head 2, width-k MLP, d_model 7), but
    ``freeze_attention=True``: W_E, W_pos, W_Q, W_K stay at their random init and only the values,
    the MLP and the unembedding train. Build it with ``build_model(cfg, seed=...)``.
    """
    return dataclasses.replace(_config(_check_task(task)), freeze_attention=True)


def parity_parameter_count(task: ParityTask) -> dict[str, int]:
    """The theory's parameter count next to the raw tensor sizes of ``parity(task)``.

    - ``theory``: 5k = 2k (query angle and sharpness per head) + 3k (MLP in, bias, out); no n.
    - ``theory_trainable``: 2k, what Han & Ghoshdastidar train (their MLP is frozen).
    - ``in_model``: the same count read off the built model: the ``is_cls`` rows of W_Q, the ``count``
      row of W_in, b_in and the ``parity`` column of W_out. Equal to ``theory`` by construction.
    - ``positional_code``: 2n fixed (cos, sin) entries in W_pos; an input encoding, not learned.
    - ``tensor_entries`` / ``nonzero_entries``: all entries of the state dict, and the nonzero ones
      (both grow with n through W_pos).
    """
    model = parity(task)
    basis = ResidualBasis.from_labels(model.residual_labels)
    attn, mlp = model.blocks[0].attn, model.blocks[0].mlp
    in_model = (
        attn.W_Q[:, basis["is_cls"]].numel()
        + mlp.W_in[basis["count"]].numel()
        + mlp.b_in.numel()
        + mlp.W_out[:, basis["parity"]].numel()
    )
    state = model.state_dict().values()
    return {
        "theory": 5 * task.k,
        "theory_trainable": 2 * task.k,
        "in_model": int(in_model),
        "positional_code": 2 * task.n,
        "tensor_entries": int(sum(v.numel() for v in state)),
        "nonzero_entries": int(sum((v != 0).sum().item() for v in state)),
    }


__all__ = ["parity", "parity_minimal", "parity_frozen_attention", "parity_parameter_count", "pointer_sharpness", "LOGIT_SCALE"]


def parity_minimal(task: ParityTask, scale: float = 5.0) -> "PointerTransformer":
    """Han & Ghoshdastidar's minimal model (``interp.models.pointer``, the ``minimal`` preset) with head h's query
    pointing exactly at ``j_h``, the h-th bit of S: ``q_h = c tau (cos, sin)(2 pi j_h / n)``, ``c =
    pointer_sharpness(n, scale)``, so the score gap to every other bit is at least ``scale ln n`` (as ``parity``)
    and ``u`` at CLS is the count of ones on S up to ``k n^(1 - scale)``; the frozen zig-zag takes its parity.
    Exact on every input for ``scale`` >= ~5 (tests/test_constructions.py checks it over n and k)."""
    from ..models import build_model  # the pointer model is built like every other, from the preset's config

    task = _check_task(task)
    n = task.n
    cfg = ModelConfig.for_task(task, **minimal_model(task))
    model = build_model(cfg, seed=None)
    c = pointer_sharpness(n, scale) * model.blocks[0].attn.temperature
    angles = torch.tensor([2 * math.pi * j / n for j in task.subset])
    with torch.no_grad():
        model.blocks[0].attn.W_Q.copy_(c * torch.stack([angles.cos(), angles.sin()], dim=1))
    model.construction = {"name": "parity_minimal", "params": {"n": n, "k": task.k, "subset": list(task.subset),
                                                               "scale": float(scale), "query_norm": c}}
    return model.eval()
