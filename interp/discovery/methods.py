"""Circuit-discovery methods on a ``Problem``: ACDC, edge attribution patching (EAP), EAP with integrated
gradients, and node ablation as the simple baseline (docs/theory/discovery.md, 'Methods').

Each returns a ``Found``: the circuits it proposes over its threshold (ACDC: one per threshold tau;
score methods: one per distinct score, the edges scoring at least that much), the per-edge scores of
score methods, and the forward/backward passes it spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import einops
import torch

from ..validation import check_choice, check_int
from .graph import INPUTS, LOGITS, component, reaching_logits, split_edge
from .names import DEFAULT_METRIC, METHODS
from .problem import Problem

ACDC_THRESHOLDS = tuple(10.0 ** e for e in range(-6, 2))
IG_STEPS = 5  # Hanna et al.'s runs


@dataclass
class Circuit:
    threshold: float
    edges: list[str]


@dataclass
class Found:
    method: str
    metric: str
    ablation: str
    circuits: list[Circuit]
    scores: dict[str, float] | None = None  # per edge, for score methods (larger = more important)
    node_scores: dict[str, float] | None = None
    passes: dict[str, int] = field(default_factory=dict)

    def circuit_at(self, threshold: float) -> list[str]:
        """The circuit at ``threshold``: for score methods the edges scoring at least that much; for ACDC the
        circuit of the listed tau closest to it (run ACDC at that tau for exactly its circuit)."""
        if self.scores is not None:
            return [e for e, score in self.scores.items() if score >= threshold]
        return min(self.circuits, key=lambda c: abs(c.threshold - threshold)).edges


def threshold_circuits(scores: dict[str, float]) -> list[Circuit]:
    """For each distinct score, descending, the edges scoring at least that much (ties enter together)."""
    values = sorted(set(scores.values()), reverse=True)
    ranked = sorted(scores, key=lambda e: -scores[e])
    out, taken = [], 0
    for value in values:
        while taken < len(ranked) and scores[ranked[taken]] >= value:
            taken += 1
        out.append(Circuit(value, ranked[:taken]))
    return out


# --- ACDC ---------------------------------------------------------------------------------------


def acdc_once(problem: Problem, tau: float) -> list[str]:
    """One ACDC sweep at threshold ``tau`` (Conmy et al.): receivers from the output backwards, each incoming
    edge removed for good when that raises the metric's damage by less than ``tau``.

    A node none of whose outputs is kept any more is skipped: its inputs no longer reach the output.
    """
    graph = problem.graph
    removed = torch.zeros(len(graph.receivers), len(graph.senders))
    current = problem.damage(removed)
    for receiver in reversed(graph.receivers):
        r = graph.receiver_index[receiver]
        node = component(receiver)
        if receiver != LOGITS:
            s_node = graph.sender_index[node]
            if bool(removed[:, s_node][graph.mask_valid[:, s_node]].all()):
                removed[r, [graph.sender_index[s] for s in graph.senders_of(receiver)]] = 1.0
                continue
        for sender in reversed(graph.senders_of(receiver)):
            s = graph.sender_index[sender]
            removed[r, s] = 1.0
            damage = problem.damage(removed)
            if damage - current < tau:
                current = damage
            else:
                removed[r, s] = 0.0
    kept = [e for e, (r, s) in zip(graph.edges, graph.edge_positions) if removed[r, s] == 0]
    return reaching_logits(kept)


def acdc(problem: Problem, thresholds: Sequence[float] = ACDC_THRESHOLDS) -> Found:
    start = problem.patcher.passes.forward
    circuits = [Circuit(float(tau), acdc_once(problem, float(tau))) for tau in sorted(thresholds)]
    return Found("acdc", problem.metric, problem.ablation, circuits,
                 passes={"forward": problem.patcher.passes.forward - start, "backward": 0})


# --- attribution patching -----------------------------------------------------------------------


def attributions(problem: Problem, grads: torch.Tensor) -> torch.Tensor:
    """``[R, S]``: ``sum_{b, p} (a~_u - a_u) . grad_r`` for every (receiver, sender), from receiver gradients
    ``[B, P, R, D]``: the first-order change of the metric when the edge is ablated (signed)."""
    diff = problem.ablated - problem.clean_values  # [B, P, S, D]
    return einops.einsum(grads, diff.expand(grads.shape[0], -1, -1, -1), "b p r d, b p s d -> r s")


def _edge_scores(problem: Problem, grads: torch.Tensor) -> dict[str, float]:
    """Every edge's ``|attribution|`` (score methods rank edges by size, whatever the sign)."""
    table = attributions(problem, grads)
    return {e: abs(float(table[r, s])) for e, (r, s) in zip(problem.graph.edges, problem.graph.edge_positions)}


def eap(problem: Problem) -> Found:
    """Edge attribution patching (Syed et al.): the first-order change of the metric when an edge is
    ablated, ``(a~_u - a_u) . d metric / d x_r`` at the clean point; one forward and one backward pass."""
    passes = problem.patcher.passes
    start = passes.to_dict()
    grads = problem.receiver_gradients(torch.zeros(len(problem.graph.receivers), len(problem.graph.senders)))
    scores = _edge_scores(problem, grads)
    return Found("eap", problem.metric, problem.ablation, threshold_circuits(scores), scores,
                 passes={k: v - start[k] for k, v in passes.to_dict().items()})


def eap_ig(problem: Problem, steps: int = IG_STEPS) -> Found:
    """EAP with integrated gradients (Hanna et al.): the receiver gradients averaged over ``steps`` inputs on
    the straight line from the ablated inputs to the clean ones (midpoint rule), times ``a~_u - a_u``.

    The inputs are interpolated by moving every edge out of the embeddings by the same fraction; with
    resample ablation the far end is the corrupted input, with zero or mean ablation the zero or mean
    embedding.
    """
    steps = check_int("steps", steps, 1)
    graph, passes = problem.graph, problem.patcher.passes
    start = passes.to_dict()
    from_inputs = graph.mask([e for e in graph.edges if split_edge(e)[0] in INPUTS])
    total = None
    for k in range(steps):
        grads = problem.receiver_gradients(from_inputs * (1 - (k + 0.5) / steps))
        total = grads if total is None else total + grads
    scores = _edge_scores(problem, total / steps)
    return Found("eap-ig", problem.metric, problem.ablation, threshold_circuits(scores), scores,
                 passes={k: v - start[k] for k, v in passes.to_dict().items()})


# --- node ablation ------------------------------------------------------------------------------


def node_ablation(problem: Problem) -> Found:
    """The node-level baseline: ablate one node at a time (an input, a head's output or q/k/v input, an
    MLP) and score it by the damage; an edge scores the smaller of its two nodes' scores (``logits``
    counts as infinite), so a threshold keeps the edges between kept nodes.
    """
    graph, passes = problem.graph, problem.patcher.passes
    start = passes.forward
    node_scores = {}
    for node in graph.nodes:
        if node in graph.sender_index:  # an input, a head's output or an MLP: all its outgoing edges
            edges = [e for e in graph.edges if split_edge(e)[0] == node]
        else:  # a head's q/k/v input: all its incoming edges
            edges = [e for e in graph.edges if split_edge(e)[1] == node]
        node_scores[node] = abs(problem.damage(graph.mask(edges)))
    node_scores[LOGITS] = float("inf")
    scores = {}
    for e in graph.edges:
        sender, receiver = split_edge(e)
        scores[e] = min(node_scores[sender], node_scores[receiver])
    node_scores.pop(LOGITS)
    return Found("node", problem.metric, problem.ablation, threshold_circuits(scores), scores, node_scores,
                 passes={"forward": passes.forward - start, "backward": 0})


def discover(problem: Problem, method: str, **options: Any) -> Found:
    """Run ``method`` (one of ``METHODS``) on ``problem``; ``options``: ``thresholds`` (ACDC), ``steps`` (EAP-IG)."""
    check_choice("method", method, METHODS)
    if method == "acdc":
        return acdc(problem, **options)
    if method == "eap-ig":
        return eap_ig(problem, **options)
    if options:
        raise ValueError(f"method {method} takes no options, got {sorted(options)}")
    return eap(problem) if method == "eap" else node_ablation(problem)


__all__ = ["ACDC_THRESHOLDS", "Circuit", "attributions", "DEFAULT_METRIC", "Found", "IG_STEPS", "METHODS", "acdc", "acdc_once",
           "discover", "eap", "eap_ig", "node_ablation", "threshold_circuits"]
