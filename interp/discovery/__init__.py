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
- ``truth``: the edges each construction uses (two versions: zero vs resample/mean ablation), a
  compiled tracr program's edges (structural, and exercised by a batch) and the circuit heads the analysis
  names for trained models;
- ``scores``: ROC curves, pessimistic AUC, faithfulness;
- ``run``: one call from a model to a found circuit, as ``interp discover`` and the benchmark use it.

The theory and every choice: docs/theory/discovery.md.
"""

from ..lazy import lazy_exports
from .names import ABLATIONS, DEFAULT_METRIC, METHODS, METRICS

# Imported on first use, so that the command line's parser (interp.cli) does not load torch.
__getattr__, __dir__ = lazy_exports(__name__, {
    "Graph": ".graph", "EdgePatcher": ".patching", "Problem": ".problem", "find_circuit": ".run",
    "Found": ".methods", "discover": ".methods", "evaluate": ".scores", "pessimistic_auc": ".scores",
    "roc_points": ".scores", **{name: ".truth" for name in (
        "GroundTruth", "analysis_heads", "exercised_edges", "ground_truth", "label_edges")}})

__all__ = ["ABLATIONS", "DEFAULT_METRIC", "EdgePatcher", "Found", "Graph", "GroundTruth", "METHODS", "METRICS",
           "Problem", "analysis_heads", "discover", "evaluate", "exercised_edges", "find_circuit", "ground_truth",
           "label_edges", "pessimistic_auc", "roc_points"]
