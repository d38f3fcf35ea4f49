"""Automatic circuit discovery on TransformerLens 4 models, scored against circuits known by construction.

    from interp.discovery import Problem, discover, evaluate, ground_truth
    problem = Problem(model, task, ablation="zero", metric="kl")      # clean batch, ablated sender values
    found = discover(problem, "acdc")                                 # or "eap", "eap-ig", "node"
    scores = evaluate(problem, found, {v: ground_truth(model).edges(v) for v in ("zero", "resample")})

- ``graph``: the edge graph of any toolkit model (embeddings, heads, MLPs as senders; each head's q/k/v
  inputs, MLP inputs and the logits as receivers);
- ``patching``: edge-level interventions through TL hooks (``EdgePatcher``), exact with and without LayerNorm;
- ``problem``: the clean batch, the ablated values (zero, mean, resample) and the metrics (KL, task);
- ``methods``: ACDC, EAP, EAP-IG and node ablation;
- ``ground_truth``: the edges each construction uses (two versions: zero vs resample/mean ablation) and
  the circuit heads the analysis names for trained models;
- ``scores``: ROC curves, pessimistic AUC, faithfulness;
- ``run``: one call from a model to a found circuit, as ``interp discover`` and the benchmark use it.

The theory and every choice: docs/theory/discovery.md.
"""

from .graph import Graph
from .ground_truth import GroundTruth, analysis_heads, ground_truth, label_edges
from .methods import DEFAULT_METRIC, METHODS, Found, discover
from .patching import ABLATIONS, EdgePatcher
from .problem import METRICS, Problem
from .run import find_circuit
from .scores import evaluate, pessimistic_auc, roc_points

__all__ = ["ABLATIONS", "DEFAULT_METRIC", "EdgePatcher", "Found", "Graph", "GroundTruth", "METHODS", "METRICS",
           "Problem", "analysis_heads", "discover", "evaluate", "find_circuit", "ground_truth", "label_edges",
           "pessimistic_auc", "roc_points"]
