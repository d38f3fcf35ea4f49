"""Which edges each construction uses, and which heads a trained model's analysis names.

Constructions (docs/theory/discovery.md, 'Ground truth'): every edge a construction uses is listed once, by
its family (``interp.family.Construction.truth``), as the residual blocks it carries (the construction's
``residual_labels``) and whether that signal is the same for every input (``constant``). Two versions follow:

- the **zero-ablation** truth: every listed edge. Zeroing an edge that carries even a constant signal
  (the CLS flag, the positional code) changes the output;
- the **resample/mean** truth: the edges that carry something input-dependent. An edge with only constant
  signal carries the same value on the corrupted input (and as its mean), so ablating it changes nothing.

``label_edges(model)`` recomputes the edge set from the weights (which residual blocks each sender
writes and each receiver reads); ``tests/test_discovery.py`` checks that it equals the list, that the
listed circuit alone reproduces the model's output under each ablation, and that removing any listed
edge changes it.

Compiled programs (tracr, ``interp.constructions.tracr``): nobody listed their edges, so the truth is read off
the weights (``label_edges``): the **structural** truth, every path the compiler built. Some carry nothing on
a given input distribution: with inputs of one length ``length`` is a constant; tracr's fallback to BOS, built
into every aggregate, moves nothing while every query finds a match. ``exercised_edges`` keeps the structural
edges whose ablation alone changes some output of the problem's batch, and the tests check that those alone
reproduce every output: the **exercised** truth, the circuit a discovery method can see.

Trained models: the heads ``interp.analysis`` names as the circuit (``Analysis.circuit``: heads whose
attention matches the theory, whose ablation the analysis checks breaks the task); node level only.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..constructions.pieces import ResidualBasis
from ..family import Registry, constructions, family_of
from .graph import LOGITS, Graph, component, head_name, nodes_of, reaching_logits, split_edge

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

    from ..tasks import Task
    from .problem import Problem

VERSIONS = ("zero", "resample")  # mean ablation shares the resample truth
_BLOCK = re.compile(r"^([^\[\]]+)")


def truth_version(ablation: str) -> str:
    return "zero" if ablation == "zero" else "resample"


@dataclass(frozen=True)
class Use:
    """An edge a construction uses: the residual blocks it carries, and whether their value is the same on
    every input of the task (then only zero ablation sees the edge)."""

    edge: str
    blocks: tuple[str, ...]
    constant: bool


@dataclass(frozen=True)
class GroundTruth:
    """``structural``: read off the weights (``structural_uses``), not listed, so which edges a batch
    exercises is known only on that batch (``for_problem``)."""

    construction: str
    uses: tuple[Use, ...]
    structural: bool = False

    def edges(self, version: str) -> list[str]:
        """The truth's edges under ``version`` (``zero`` or ``resample``; ``mean`` is read as ``resample``)."""
        version = truth_version(version)
        return [u.edge for u in self.uses if version == "zero" or not u.constant]

    def for_problem(self, problem: "Problem") -> dict[str, list[str]]:
        """The truths ``problem`` is scored against: a listed truth in each version; a structural one as the
        edges ``problem``'s batch exercises (the version of its ablation) beside every edge (``structural``)."""
        if not self.structural:
            return {version: self.edges(version) for version in VERSIONS}
        every = self.edges("zero")
        return {truth_version(problem.ablation): exercised_edges(problem, every), "structural": every}

    def nodes(self, version: str) -> set[str]:
        return nodes_of(self.edges(version))

    def heads(self, version: str) -> set[str]:
        return {component(n) for n in self.nodes(version) if n.startswith("A")}


def structural_uses(model: "TransformerBridge") -> list[Use]:
    """Every edge the weights build, as ``label_edges`` reads them; whether one is constant on the inputs is
    not known in advance (``exercised_edges`` finds out on a batch), so none is marked constant."""
    return [Use(edge, blocks, False) for edge, blocks in label_edges(model).items()]


def _listed_truths() -> dict[str, Callable[["TransformerBridge"], list[Use]]]:
    return {name: made.truth for name, made in constructions().items() if made.truth is not None}


# Keyed by ``model.construction["name"]``: what each family's constructions declare.
CONSTRUCTION_TRUTHS: Registry[Callable[["TransformerBridge"], list[Use]]] = Registry(_listed_truths)


def exercised_edges(problem: "Problem", edges: list[str], tolerance: float = 1e-6) -> list[str]:
    """The ``edges`` whose ablation alone (``problem``'s ablation, every other edge intact) moves the output
    on ``problem``'s batch by more than ``tolerance`` under its metric."""
    return [edge for edge in edges if problem.damage(problem.graph.mask([edge])) > tolerance]


def ground_truth(model: "TransformerBridge") -> GroundTruth | None:
    """The edges ``model`` uses if it is a construction with a listed truth, else None."""
    construction = getattr(model, "construction", None)
    if not construction or construction.get("name") not in CONSTRUCTION_TRUTHS:
        return None
    truth = CONSTRUCTION_TRUTHS[construction["name"]]
    uses = truth(model)
    graph = Graph.of(model)
    unknown = [u.edge for u in uses if u.edge not in graph.edge_index]
    if unknown:
        raise ValueError(f"the truth of {construction['name']} names edges the model lacks: {unknown}")
    # A family may name the truth lazily (interp.lazy.lazy_function): compare the function itself.
    return GroundTruth(construction["name"], tuple(uses), structural=inspect.unwrap(truth) is structural_uses)


# --- the same edges, read off the weights ---------------------------------------------------------


def blocks_of(rows: torch.Tensor, basis: ResidualBasis) -> set[str]:
    """The residual blocks whose directions have a nonzero entry in ``rows`` ``[D, ...]``."""
    used = rows.detach().reshape(rows.shape[0], -1).abs().sum(1) > 0
    return {_BLOCK.match(basis.labels[i])[1] for i in used.nonzero().flatten().tolist()}


def label_edges(model: "TransformerBridge") -> dict[str, tuple[str, ...]]:
    """Every edge whose sender writes a residual block its receiver reads, with those blocks, restricted
    to edges whose receiver reaches the logits. From the weights of a construction (no LayerNorm) and its
    ``residual_labels``."""
    basis = ResidualBasis.from_labels(model.residual_labels)
    graph = Graph.of(model)
    writes = {"embed": blocks_of(model.W_E.T, basis)}
    if graph.has_pos:
        writes["pos"] = blocks_of(model.W_pos.T, basis)
    reads = {LOGITS: blocks_of(model.W_U, basis)}
    for layer, block in enumerate(model.blocks):
        attn = block.attn
        for h in range(graph.n_heads):
            name = head_name(layer, h)
            writes[name] = blocks_of(attn.W_O[h].T, basis)
            for kind in ("q", "k", "v"):
                reads[f"{name}.{kind}"] = blocks_of(getattr(attn, f"W_{kind.upper()}")[h], basis)
        if graph.has_mlp:
            mlp = block.mlp
            writes[f"M{layer}"] = blocks_of(torch.cat([mlp.W_out.T, mlp.b_out[:, None]], 1), basis)
            reads[f"M{layer}"] = blocks_of(mlp.W_in, basis)
    found = {}
    for name in graph.edges:
        sender, receiver = split_edge(name)
        shared = writes[sender] & reads[receiver]
        if shared:
            found[name] = tuple(sorted(shared))
    return {name: found[name] for name in reaching_logits(found)}


# --- trained models ------------------------------------------------------------------------------


def analysis_heads(model: "TransformerBridge", task: "Task", samples: int = 512, seed: int = 0) -> set[str]:
    """The circuit heads ``interp.analysis`` names for ``model`` (``Analysis.circuit``), as ``A{l}.{h}``.

    A family's ``circuit`` computes them from the attention alone, so only that is run where it has one, not
    every probe.
    """
    family = family_of(task.name)
    if family.circuit is not None:
        circuit = family.circuit(model, task, samples, seed)
    else:
        circuit = family.analyze(model.eval(), task, None, samples=samples, seed=seed).circuit
    return {head_name(layer, head) for layer, head in circuit}


__all__ = ["CONSTRUCTION_TRUTHS", "GroundTruth", "Use", "VERSIONS", "analysis_heads", "blocks_of", "exercised_edges",
           "ground_truth", "label_edges", "truth_version"]
