"""From a model to a found circuit in one call: what ``interp discover`` and the benchmark run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..validation import TaskError, check_choice, check_float, check_int
from .methods import Found, discover
from .names import ABLATIONS, DEFAULT_METRIC, METHODS, METRICS
from .problem import Problem
from .scores import FAITHFUL, evaluate
from .truth import analysis_heads, ground_truth

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

    from ..tasks import Task


def known_circuit(problem: Problem) -> tuple[dict[str, list[str]] | None, set[str] | None]:
    """``(edges by truth version, None)`` for a construction with a truth (``GroundTruth.for_problem``);
    ``(None, circuit heads named by the analysis)`` for any other model."""
    truth = ground_truth(problem.model)
    if truth is not None:
        return truth.for_problem(problem), None
    return None, analysis_heads(problem.model, problem.task)


def method_options(method: str, thresholds: list[float] | None = None, steps: int | None = None) -> dict[str, Any]:
    if method == "acdc" and thresholds is not None:
        return {"thresholds": [check_float("threshold", t, 0, low_open=True) for t in thresholds]}
    if method == "eap-ig" and steps is not None:
        return {"steps": check_int("steps", steps, 1)}
    return {}


@dataclass
class FoundCircuit:
    """One circuit picked from a method's proposals, with how it was picked and how it scores."""

    edges: list[str]
    rule: str
    faithfulness: float | None
    problem: Problem
    found: Found
    evaluation: dict[str, Any]
    truth: dict[str, list[str]] | None
    truth_heads: set[str] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the edges, the choices that produced them, and ``evaluation``."""
        p = self.problem
        return {"method": self.found.method, "ablation": p.ablation, "metric": p.metric, "samples": p.samples,
                "seed": p.seed, "rule": self.rule, "edges": self.edges, "faithfulness": self.faithfulness,
                "graph": {"senders": list(p.graph.senders), "receivers": list(p.graph.receivers),
                          "edges": len(p.graph.edges)},
                "truth": self.truth, "truth_heads": sorted(self.truth_heads) if self.truth_heads is not None else None,
                "evaluation": self.evaluation}


def find_circuit(model: "TransformerBridge", task: "Task", method: str, ablation: str = "resample",
                 metric: str | None = None, samples: int = 128, seed: int = 0, threshold: float | None = None,
                 steps: int | None = None) -> FoundCircuit:
    """Run ``method`` on ``model`` and pick one circuit: at ``threshold`` if given (ACDC's tau; for score
    methods the smallest score kept), else the smallest proposed circuit keeping at least 90 % of the task
    score (the most faithful one if none does). Scored by ``evaluate`` against the known circuit (a
    construction's edges or the analysis's heads)."""
    check_choice("method", method, METHODS)
    check_choice("ablation", ablation, ABLATIONS)
    metric = DEFAULT_METRIC[method] if metric is None else check_choice("metric", metric, METRICS)
    samples = check_int("samples", samples, 2)
    if threshold is not None:
        threshold = check_float("threshold", threshold, 0, low_open=method == "acdc")
    problem = Problem(model, task, ablation, metric, samples, seed)
    found = discover(problem, method, **method_options(method, [threshold] if threshold is not None else None, steps))
    truth, heads = known_circuit(problem)
    evaluation = evaluate(problem, found, truth, heads)
    if threshold is not None:
        edges, rule = found.circuit_at(threshold), f"threshold {threshold:g}"
    else:
        curve = {frozenset(c.edges): problem.faithfulness(c.edges) for c in found.circuits}
        scored = {c: f for c, f in curve.items() if f is not None}
        faithful = [c for c, f in scored.items() if f >= FAITHFUL]
        if faithful:
            edges, rule = min(faithful, key=len), f"smallest proposed circuit with faithfulness >= {FAITHFUL}"
        elif scored:
            edges = max(scored, key=scored.get)
            rule = f"no proposed circuit reaches faithfulness {FAITHFUL}: the most faithful one"
        else:
            raise TaskError(f"{ablation} ablation of every edge leaves the task score unchanged, so circuits "
                            "cannot be told apart; try another --ablation")
    edges = sorted(edges, key=problem.graph.edge_index.get)
    return FoundCircuit(edges, rule, problem.faithfulness(edges), problem, found, evaluation, truth, heads)


__all__ = ["FoundCircuit", "find_circuit", "known_circuit", "method_options"]
