"""Scoring the circuits a method proposes against a known circuit (docs/theory/discovery.md, 'Scores').

- ROC over the method's threshold: each proposed circuit is a point (false positive rate, true positive
  rate) over a universe (every edge of the graph; every node; every head), plus the empty and the full
  circuit at (0, 0) and (1, 1).
- AUC of the pessimistic step curve (ACDC's ``pessimistic_auc``): a true positive rate counts only from
  the false positive rate at which some circuit reaches it, with no interpolation between points.
  1.0 exactly when some threshold recovers the truth with no extra edge.
- Faithfulness of each proposed circuit (``Problem.faithfulness``), and the smallest circuit keeping at
  least ``FAITHFUL`` of the task score.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .graph import heads_of, nodes_of
from .methods import Found
from .problem import Problem

FAITHFUL = 0.9


def roc_points(circuits: Iterable[Iterable[str]], truth: Iterable[str], universe: Sequence[str]) -> list[list[float]] | None:
    """``[[fpr, tpr], ...]`` sorted, with (0, 0) and (1, 1); None when the truth is empty or everything."""
    universe_set, truth = set(universe), set(truth) & set(universe)
    negatives = universe_set - truth
    if not truth or not negatives:
        return None
    points = {(0.0, 0.0), (1.0, 1.0)}
    for circuit in circuits:
        chosen = set(circuit) & universe_set
        points.add((len(chosen - truth) / len(negatives), len(chosen & truth) / len(truth)))
    return [list(p) for p in sorted(points)]


def pessimistic_auc(points: Sequence[Sequence[float]] | None) -> float | None:
    """Area under the step curve through ``points``: going right, the true positive rate rises to the best
    value reached so far only at the false positive rate of the point that reaches it."""
    if points is None:
        return None
    area, best = 0.0, 0.0
    for fpr, tpr in sorted(map(tuple, points)):
        if tpr > best:
            area += (1.0 - fpr) * (tpr - best)
            best = tpr
    return area


def _distinct(circuits: Iterable[Iterable[str]]) -> list[list[str]]:
    seen, out = set(), []
    for circuit in circuits:
        key = frozenset(circuit)
        if key not in seen:
            seen.add(key)
            out.append(sorted(key))
    return out


def faithfulness_curve(problem: Problem, circuits: Iterable[Iterable[str]]) -> list[list[float | None]]:
    """``[[size, faithfulness], ...]`` of each distinct circuit, by size."""
    return sorted(([len(c), problem.faithfulness(c)] for c in _distinct(circuits)), key=lambda p: p[0])


def smallest_faithful(curve: Sequence[Sequence[Any]], level: float = FAITHFUL) -> int | None:
    sizes = [size for size, faith in curve if faith is not None and faith >= level]
    return min(sizes) if sizes else None


def evaluate(problem: Problem, found: Found, truth: dict[str, list[str]] | None = None,
             truth_heads: set[str] | None = None) -> dict[str, Any]:
    """Everything measured about ``found`` on ``problem``, JSON-ready.

    ``truth``: edge sets by version (``zero``, ``resample``), for constructions; the version matching the
    problem's ablation is the headline. ``truth_heads``: the heads of the circuit (trained models: from
    the analysis; constructions: the heads of the matched truth).
    """
    graph = problem.graph
    circuits = _distinct(c.edges for c in found.circuits)
    matched = "zero" if problem.ablation == "zero" else "resample"
    out: dict[str, Any] = {"method": found.method, "metric": found.metric, "ablation": problem.ablation,
                           "edges": len(graph.edges), "nodes": len(graph.nodes), "proposed": len(circuits),
                           "passes": found.passes}
    if truth is not None:
        rocs = {version: roc_points(circuits, edges, graph.edges) for version, edges in truth.items()}
        out["edge_roc"] = rocs
        out["edge_auc_by_truth"] = {version: pessimistic_auc(points) for version, points in rocs.items()}
        out["matched_truth"] = matched
        out["edge_auc"] = out["edge_auc_by_truth"][matched]
        target = set(truth[matched])
        exact = [c for c in found.circuits if set(c.edges) == target]
        out["exact"] = bool(exact)
        out["exact_thresholds"] = [c.threshold for c in exact]
        node_points = roc_points([nodes_of(c) for c in circuits], nodes_of(truth[matched]), graph.nodes)
        out["node_roc"] = node_points
        out["node_auc"] = pessimistic_auc(node_points)
        out["truth_size"] = len(target)
        out["truth_faithfulness"] = problem.faithfulness(target)
        if truth_heads is None:
            truth_heads = heads_of(truth[matched])
    if truth_heads is not None:
        head_points = roc_points([heads_of(c) for c in circuits], truth_heads, graph.heads)
        out["head_roc"] = head_points
        out["head_auc"] = pessimistic_auc(head_points)
        out["truth_heads"] = sorted(truth_heads)
    curve = faithfulness_curve(problem, circuits)
    out["faithfulness"] = curve
    out["smallest_faithful"] = smallest_faithful(curve)
    if found.scores is not None:
        out["scores"] = {e: found.scores[e] for e in graph.edges}
    if found.node_scores is not None:
        out["node_scores"] = found.node_scores
    if found.method == "acdc":
        out["circuits"] = {f"{c.threshold:g}": sorted(c.edges) for c in found.circuits}
    return out


__all__ = ["FAITHFUL", "evaluate", "faithfulness_curve", "pessimistic_auc", "roc_points", "smallest_faithful"]
