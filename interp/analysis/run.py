"""Analyse a checkpoint against its construction and a random-init control; write the report.

``analyses/reports/<task>/<run>/`` gets ``summary.json`` (claims with expected value, measured value
and verdict), ``summary.md``, the PNG plots and a self-contained ``report.html``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checkpoint import load_checkpoint, write_json
from ..models import build_model
from ..tasks import Task, TaskError
from . import counting, parity, selection
from .result import Analysis

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

REPORTS = Path("analyses/reports")
ANALYSES = {"parity": parity.analyze, "selection": selection.analyze, "counting": counting.analyze}
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
    return ANALYSES[task.name](model, task, reference, samples=samples, seed=seed)


def summarize(analysis: Analysis, control: Analysis | None) -> list[dict[str, Any]]:
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
    figures = [plot.draw(out) for plot in analysis.plots]
    claims = summarize(analysis, control)
    counts = {v: sum(c["verdict"] == v for c in claims) for v in ("found", "partial", "not_found")}
    summary = {
        "task": task.name,
        "params": task.params(),
        "run": directory.name,
        "checkpoint": str(directory),
        "kind": "construction" if ckpt.config.get("construction") else "trained",
        "model": ckpt.config["model"],
        "mechanism": analysis.mechanism,
        "circuit_heads": [f"L{l}H{h}" for l, h in analysis.circuit],
        "verdicts": counts,
        "claims": claims,
        "control": "each claim's 'control' is the same probe on a randomly initialised model of the same config",
        "samples": samples,
        "figures": [p.name for p in figures],
        "report_dir": str(out),
        "seconds": round(time.time() - started, 1),
    }
    write_json(out / "summary.json", summary)
    (out / "summary.md").write_text(markdown(summary))
    if html:
        write_html(out, summary, model, reference, task, figures, seed)
    return summary


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# {summary['task']}: {summary['run']} ({summary['kind']})",
        "",
        f"**Mechanism:** {summary['mechanism']}.",
        "",
        f"Verdicts: {summary['verdicts']['found']} found, {summary['verdicts']['partial']} partial, "
        f"{summary['verdicts']['not_found']} not found. Circuit heads: {', '.join(summary['circuit_heads']) or 'none'}.",
        "",
        "| claim | expected | measured | verdict | random init |",
        "|---|---|---|---|---|",
    ]
    for c in summary["claims"]:
        value = "n/a" if c["value"] is None else f"{c['value']:.4g}"
        control = c.get("control")
        control_text = f"{control['value']:.4g} ({control['verdict']})" if control and control["value"] is not None else "n/a"
        lines.append(f"| {c['name']} | {c['expected']} | {value} | {c['verdict']} | {control_text} |")
        if c.get("detail"):
            lines.append(f"| | _{c['detail']}_ | | | |")
    lines += ["", "Plots: " + ", ".join(f"[{f}]({f})" for f in summary["figures"]), ""]
    return "\n".join(lines)


def write_html(out: Path, summary: dict[str, Any], model, reference, task: Task, figures: list[Path], seed: int) -> None:
    from ..viz import side_by_side, write_report

    rows = side_by_side(model, reference, task, task.sample(2, seed + 7), indices=(0, 1))
    run = {k: summary[k] for k in ("task", "run", "kind", "checkpoint", "mechanism", "circuit_heads", "verdicts", "params")}
    notes = ("Each claim states what the theory predicts and the number measured on fresh samples. "
             "The *control* column is the same probe on a randomly initialised model of the same configuration, "
             "so a probe that cannot fail shows up. Attention views: positions the theory names are marked `*`; "
             "the left view is this model, the right one the hand-built construction on the same input.")
    write_report(out / "report.html", title=f"{summary['task']} / {summary['run']}", summary={**run, "claims": summary["claims"]},
                 figures=figures, attention_rows=rows, notes_markdown=notes)


def find_checkpoints(root: str | Path = "trained_models") -> list[Path]:
    """Every checkpoint directory ``<task>/<run>/`` under ``root``."""
    return sorted(config.parent for config in Path(root).glob("*/*/config.json"))


def analyze_all(root: str | Path = "trained_models") -> list[dict[str, Any]]:
    """Analyse every checkpoint under ``root`` into ``analyses/reports``."""
    return [analyze_checkpoint(directory) for directory in find_checkpoints(root)]

