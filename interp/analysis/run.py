"""Analyse a checkpoint against its construction and a random-init control, and write its report.

``analyses/reports/<task>/<run>/`` gets ``summary.json`` (claims with expected value, measured value
and verdict), ``summary.md``, the PNG plots and a self-contained ``report.html`` (drawn by ``interp.viz``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checkpoint import load_checkpoint
from ..family import Registry, families, family_of
from ..files import write_json
from ..models import build_model
from ..paths import REPORTS, TRAINED_MODELS, find_checkpoints
from ..plot import Plot
from ..symmetry.score import symmetry_score
from ..tasks import Task, TaskError
from .result import Analysis

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

# Every task's probes, as its family declares them.
ANALYSES = Registry(lambda: {name: family.analyze for family in families().values() for name in family.task_names})
CONTROL_SEED = 987_654  # the random-init control: same config, fresh weights


def reference_for(task: Task) -> "TransformerBridge | None":
    """The construction for the same task instance, or None where no construction fits it."""
    from ..constructions import construct

    try:
        return construct(task)
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


def analyze_checkpoint(directory: str | Path, out: str | Path | None = None, samples: int = 2048, seed: int = 0,
                       html: bool = True) -> dict[str, Any]:
    """Analyse the checkpoint in ``directory`` and write its report; returns the summary."""
    from ..viz import draw, side_by_side, write_model_report
    from ..viz.claims import verdict_counts

    started = time.time()
    directory = Path(directory)
    ckpt = load_checkpoint(directory)
    task, model = ckpt.task, ckpt.model
    out = Path(out) if out else REPORTS / task.name / directory.name
    out.mkdir(parents=True, exist_ok=True)
    reference = reference_for(task)
    analysis = analyze_model(model, task, reference, samples, seed)
    control_model = build_model(ckpt.model_config, seed=CONTROL_SEED).eval()
    control = analyze_model(control_model, task, reference, samples, seed)
    figures = [draw(plot, out) for plot in analysis.plots + formation_plots(ckpt.metrics)]
    claims = with_controls(analysis, control)
    symmetry = symmetry_score(model, task, seed=seed, control=control_model)
    summary = {
        "task": task.name,
        "params": task.params(),
        "run": directory.name,
        "checkpoint": str(directory),
        "kind": "construction" if ckpt.config.get("construction") else "trained",
        "model": ckpt.config["model"],
        "mechanism": analysis.mechanism,
        "circuit_heads": [f"L{l}H{h}" for l, h in analysis.circuit],
        "verdicts": verdict_counts(claims),
        "mechanism_status": analysis.assessment.status,
        "claims": claims,
        "symmetry": symmetry,
        "control": "each claim's 'control' is the same probe on a randomly initialised model of the same config",
        "samples": samples,
        "figures": [p.name for p in figures],
        "report_dir": str(out),
        "seconds": round(time.time() - started, 1),
    }
    write_json(out / "summary.json", summary)
    views = side_by_side(model, reference, task, task.sample(2, seed + 7), indices=(0, 1)) if html else None
    write_model_report(out, summary, views)
    return summary


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


def analyze_all(root: str | Path = TRAINED_MODELS) -> list[dict[str, Any]]:
    """Analyse every checkpoint under ``root`` into ``analyses/reports``."""
    return [analyze_checkpoint(directory) for directory in find_checkpoints(root)]
