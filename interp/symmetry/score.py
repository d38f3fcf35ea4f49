"""The permutation-symmetry score of a toolkit model on its task (docs/theory/symmetry.md, "The score").

For each task its family (``interp.families``) declares a ``Domain`` (``interp.family``): which positions are
rearranged and which output is scored:

- ``parity``: the n bit positions, CLS fixed (S_n, the readout-at-one-position variant); scored: the logit
  difference at CLS (class 1 minus class 0); target ``+-1``. Closed form ``S_sym = 1 / C(n, k)``.
- ``selection``: the contents of the T data tokens, the query (and any position codes) fixed (S_T);
  scored: the d outputs at the query; target the mean of the selected tokens. ``S_sym = q / T``.
- ``counting``: the interior of region r (the tokens strictly between its delimiters), everything else
  fixed (S_m, m the region's interior length, per query); scored: the expected count at ``Q_r`` under
  the output distribution; target the count. ``S_sym = 1``: counting is the symmetric task.

The energies of ``f - E f`` are exact on whole orbits (every rearrangement of each sampled input) when at
most ``MAX_ORBIT`` positions move, and then give the full profile ``E_k / Var f`` by asymmetry order and the
mean order ``kbar``; beyond that only the fully symmetric fraction ``S_sym`` is measured, from pairs of
random rearrangements (higher orders in irreps of dimension ~ L^k are out of reach of sampling). The
symmetry bias is ``B = S_sym(f) - S_sym(target)``, both measured on the same rearrangements.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from ..family import Domain, Registry, families
from ..models.fast import training_forward
from ..tasks import Batch, Task
from ..validation import check_int
from .energy import MAX_ORBIT, orbit_energies, ratio_with_error, symmetric_fraction_pairs
from .group import all_permutations, asymmetry_order, partitions, random_permutations

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

SAMPLES = 128  # inputs per score
PAIR_REARRANGEMENTS = 64  # random rearrangements per input when whole orbits are too large
CHUNK = 4096  # sequences per forward pass
# Whole orbits of float inputs cannot be deduplicated: at most this many rearranged inputs per frame group.
MAX_EVALUATIONS = 60_000


@dataclass
class Frames:
    """Inputs whose ``positions [N, m]`` are rearranged (the rest fixed), scored at ``readout [N]``."""

    batch: Batch
    positions: Tensor
    readout: Tensor


def leading_frames(task: Task, samples: int, seed: int, m: int) -> list[Frames]:
    """``samples`` inputs whose first ``m`` positions are rearranged, read at position ``m`` (the layout of a
    query or CLS after ``m`` exchangeable tokens)."""
    batch = task.sample(samples, seed)
    return [Frames(batch, torch.arange(m).expand(samples, -1), torch.full((samples,), m))]


def logit_difference(task: Task, logits: Tensor, readout: Tensor) -> Tensor:
    """``[n, 1]``: class 1's logit minus class 0's at each input's readout."""
    at = logits[torch.arange(len(logits)), readout]
    return (at[:, 1] - at[:, 0])[:, None]


def rearranged_tokens(task: Task, inputs: Tensor, positions: Tensor, arrangements: Tensor) -> Tensor:
    """``[n, a, pos]``: position ``positions[i]`` of copy ``a`` holds the token from ``positions[arr[a, i]]``
    (``x[:, p]``, i.e. ``pi^-1 x``)."""
    n, a = arrangements.shape[:2]
    out = inputs[:, None].expand(n, a, *inputs.shape[1:]).clone()
    source = torch.gather(positions[:, None, :].expand(n, a, -1), 2, arrangements)
    values = torch.gather(inputs[:, None].expand(n, a, -1), 2, source)
    out.scatter_(2, positions[:, None, :].expand(n, a, -1), values)
    return out


# Every task's domain, as its family declares it (the families' modules hold their frames and targets).
DOMAINS: Registry[Domain] = Registry(lambda: {name: family.symmetry for family in families().values()
                                              for name in family.task_names if family.symmetry is not None})


# --- evaluation ------------------------------------------------------------------------------------


@torch.no_grad()
def model_outputs(model: "TransformerBridge", inputs: Tensor) -> Tensor:
    """Logits on ``inputs`` in chunks (the fused forward of ``interp.models.fast`` where it applies)."""
    device = next(model.parameters()).device
    return torch.cat([training_forward(model, inputs[i:i + CHUNK].to(device)).double().cpu()
                      for i in range(0, len(inputs), CHUNK)])


def evaluate_rearrangements(domain: Domain, task: Task, models: dict[str, Any], frames: Frames,
                            arrangements: Tensor) -> dict[str, np.ndarray]:
    """``name -> [n, a, C]``: each model's scored output (and the target's) on every rearrangement."""
    inputs = domain.rearrange(task, frames.batch.inputs, frames.positions, arrangements)
    n, a = arrangements.shape[:2]
    flat = inputs.reshape(n * a, *inputs.shape[2:])
    readout = frames.readout.repeat_interleave(a)
    example = torch.arange(n).repeat_interleave(a)
    out = {"target": domain.target(task, flat, frames.batch, example, readout).reshape(n, a, -1).numpy()}
    if flat.is_floating_point():
        unique, unique_readout, inverse = flat, readout, torch.arange(len(flat))
    else:  # token inputs repeat across rearrangements: evaluate each (sequence, readout) once
        keys, inverse = torch.unique(torch.cat([flat, readout[:, None]], 1), dim=0, return_inverse=True)
        unique, unique_readout = keys[:, :-1], keys[:, -1]
    for name, model in models.items():
        scored = domain.output(task, model_outputs(model, unique), unique_readout)
        out[name] = scored[inverse].reshape(n, a, -1).numpy()
    return out


def summarise(energies_by_order: np.ndarray | None, symmetric: np.ndarray, squares: np.ndarray) -> dict[str, Any]:
    """The score of one function from per-input quantities: ``symmetric [N]`` (trivial energy), ``squares [N]``
    and, when whole orbits were enumerated, ``energies_by_order [N, K]``."""
    s_sym, se = ratio_with_error(symmetric, squares)
    out = {"s_sym": s_sym, "s_sym_se": se, "variance": float(squares.mean())}
    if energies_by_order is not None:
        total = squares.sum()
        out["profile"] = (energies_by_order.sum(0) / total).tolist()
        out["kbar"] = float((energies_by_order.sum(0) * np.arange(energies_by_order.shape[1])).sum() / total)
    else:
        out["profile"], out["kbar"] = None, None
    return out


def symmetry_score(model: "TransformerBridge", task: Task, samples: int = SAMPLES, seed: int = 0,
                   control: "TransformerBridge | None" = None) -> dict[str, Any]:
    """The symmetry score of ``model`` (and of ``control``, a random-init model, if given) on ``task``: a
    JSON-ready section for the report. Tasks without a ``Domain`` get ``{"available": False, ...}``."""
    check_int("samples", samples, 2)
    if task.name not in DOMAINS:
        return {"available": False, "task": task.name,
                "reason": f"no permutation domain is defined for task {task.name!r} (interp.symmetry.score.DOMAINS)"}
    domain = DOMAINS[task.name]
    models = {"model": model.eval(), **({"control": control.eval()} if control is not None else {})}
    rng = np.random.default_rng(seed)
    collected: dict[str, list] = {name: [] for name in ("target", *models)}
    sizes = []
    for frames in domain.frames(task, samples, seed):
        n, m = frames.positions.shape
        if m <= MAX_ORBIT and frames.batch.inputs.is_floating_point() and n * math.factorial(m) > MAX_EVALUATIONS:
            n = max(2, MAX_EVALUATIONS // math.factorial(m))
            frames = Frames(frames.batch[:n], frames.positions[:n], frames.readout[:n])
        sizes += [m] * n
        if m <= MAX_ORBIT:
            arrangements = torch.from_numpy(np.array(all_permutations(m))).expand(n, -1, -1)
        else:
            arrangements = torch.as_tensor(np.stack([random_permutations(PAIR_REARRANGEMENTS, m, rng) for _ in range(n)]))
        for name, table in evaluate_rearrangements(domain, task, models, frames, arrangements).items():
            collected[name].append((m, table))
    if not sizes:
        return {"available": False, "task": task.name, "reason": "no input had a rearrangeable set of positions"}
    exact = max(sizes) <= MAX_ORBIT
    out: dict[str, Any] = {"available": True, "task": task.name, "group": domain.group, "scored": domain.scored,
                           "positions": sorted(set(sizes)), "inputs": len(sizes),
                           "method": ("whole orbits (exact energies per input)" if exact else
                                      f"pairs of {PAIR_REARRANGEMENTS} random rearrangements per input (S_sym only)")}
    for name, tables in collected.items():
        out[name] = score_tables(tables, exact)
    out["closed_form"] = domain.closed_form(task)
    out["bias"] = out["model"]["s_sym"] - out["target"]["s_sym"]
    return out


def score_tables(tables: list[tuple[int, np.ndarray]], exact: bool) -> dict[str, Any]:
    """The score of one function from its ``(m, [n, a, C])`` tables (centred by the mean over all of them)."""
    mean = np.concatenate([t.reshape(-1, t.shape[-1]) for _, t in tables]).mean(0)
    symmetric, squares, orders, irreps = [], [], [], {}
    width = max(m for m, _ in tables)
    for m, table in tables:
        if exact:
            energies, sq = orbit_energies(table, m, mean)
            by_order = np.zeros((len(table), width))
            for lam, column in zip(partitions(m), energies.T):
                by_order[:, asymmetry_order(lam)] += column
                irreps[",".join(map(str, lam))] = irreps.get(",".join(map(str, lam)), 0.0) + float(column.sum())
            orders.append(by_order)
            symmetric.append(by_order[:, 0])
        else:
            pairs, sq = symmetric_fraction_pairs(table, mean)
            symmetric.append(pairs)
        squares.append(sq)
    out = summarise(np.concatenate(orders) if exact else None, np.concatenate(symmetric), np.concatenate(squares))
    if exact and len({m for m, _ in tables}) == 1:  # one group size: the energy of each irrep, as a share of Var f
        total = float(np.concatenate(squares).sum())
        out["irreps"] = {label: energy / total for label, energy in irreps.items()}
    return out


__all__ = ["DOMAINS", "Domain", "Frames", "leading_frames", "logit_difference", "rearranged_tokens", "symmetry_score"]
