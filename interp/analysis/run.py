"""Analyse a checkpoint against its construction and a random-init control.

``interp.viz.report.write_analysis_report`` writes what this finds to ``analyses/reports/<task>/<run>/``:
``summary.json`` (claims with expected value, measured value and verdict), ``summary.md``, the PNG plots and a
self-contained ``report.html``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checkpoint import load_checkpoint
from ..constructions import construct
from ..family import Registry, families, family_of
from ..models import build_model
from ..naming import head_label
from ..plot import Plot
from ..symmetry.score import symmetry_score
from ..tasks import Task, TaskError
from .result import Analysis

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

# Every task's probes, as its family declares them.
ANALYSES = Registry(lambda: {name: family.analyze for family in families().values() for name in family.task_names})
CONTROL_SEED = 987_654  # the random-init control: same config, fresh weights


def preset_for(task: Task, model_config: Any = None) -> str:
    """The preset of ``task``'s family whose model has ``model_config``'s architecture (counting's ``paper`` for
    an encoder-decoder), else ``default``: the construction to compare a model with has its shape."""
    architecture = getattr(model_config, "architecture", None)
    for name, preset in family_of(task.name).presets.items():
        if architecture is not None and preset.get("model", {}).get("architecture") == architecture:
            return name
    return "default"


def reference_for(task: Task, model_config: Any = None) -> "TransformerBridge | None":
    """The construction for the same task instance with the shape of ``model_config``'s architecture
    (``preset_for``), or None where no construction fits it."""
    try:
        return construct(task, preset=preset_for(task, model_config))
    except TaskError:
        return None


def analyze_model(model: "TransformerBridge", task: Task, reference: "TransformerBridge | None" = None,
                  samples: int = 2048, seed: int = 0) -> Analysis:
    """Run the task's probes on ``model`` (trained or constructed); compare with ``reference`` if given."""
    model.eval()
    return family_of(task.name).analyze(model, task, reference, samples=samples, seed=seed)


def with_controls(analysis: Analysis, control: Analysis | None) -> list[dict[str, Any]]:
    """The claims as dicts, each with the same probe's value and verdict on the control model."""
    controls = {c.name: c for c in control.claims} if control else {}
    out = []
    for claim in analysis.claims:
        entry = claim.to_dict()
        if claim.name in controls:
            entry["control"] = {"value": controls[claim.name].to_dict()["value"], "verdict": controls[claim.name].verdict}
        out.append(entry)
    return out


@dataclass
class CheckpointAnalysis:
    """A checkpoint analysed beside its construction and a random-init control: the JSON-ready ``summary``
    (claims with the control's verdicts, the mechanism line, the symmetry score), the ``plots``, and the models
    the report's attention views show (``interp.viz.report.write_analysis_report`` writes it all)."""

    summary: dict[str, Any]
    plots: list[Plot]
    model: "TransformerBridge"
    reference: "TransformerBridge | None"
    task: Task
    seed: int


def analyze_checkpoint(directory: str | Path, samples: int = 2048, seed: int = 0) -> CheckpointAnalysis:
    """Analyse the checkpoint in ``directory`` (``samples`` examples drawn with ``seed``)."""
    started = time.time()
    directory = Path(directory)
    ckpt = load_checkpoint(directory)
    task, model = ckpt.task, ckpt.model
    reference = reference_for(task, ckpt.model_config)
    analysis = analyze_model(model, task, reference, samples, seed)
    control_model = build_model(ckpt.model_config, seed=CONTROL_SEED).eval()
    control = analyze_model(control_model, task, reference, samples, seed)
    plots = analysis.plots + formation_plots(ckpt.metrics)
    summary = {
        "task": task.name,
        "params": task.params(),
        "run": directory.name,
        "checkpoint": str(directory),
        "kind": "construction" if ckpt.config.get("construction") else "trained",
        "model": ckpt.config["model"],
        "mechanism": analysis.mechanism,
        "circuit_heads": analysis.circuit_names or [head_label(layer, head) for layer, head in analysis.circuit],
        "mechanism_status": analysis.assessment.status,
        "claims": with_controls(analysis, control),
        "symmetry": symmetry_score(model, task, seed=seed, control=control_model),
        "control": "each claim's 'control' is the same probe on a randomly initialised model of the same config",
        "samples": samples,
        "seconds": round(time.time() - started, 1),
    }
    return CheckpointAnalysis(summary, plots, model, reference, task, seed)


def formation_plots(metrics: dict[str, Any]) -> list[Plot]:
    """When each head locked on: attention on the relevant positions at every evaluation of training."""
    history = [h for h in metrics.get("history", []) if "attention_on_relevant" in h]
    if not history:
        return []
    heads = list(history[0]["attention_on_relevant"])
    return [Plot.lines("circuit_formation", "Circuit formation: attention from the readout on the positions the theory "
                       "names, per head, over training", [h["step"] for h in history],
                       {head: [h["attention_on_relevant"][head] for h in history] for head in heads},
                       xlabel="training step", ylabel="attention on relevant positions")]
