"""The shipped models beside the same runs retrained elsewhere, and whether they agree within the stated tolerance.

    python scripts/compare-retrained.py RETRAINED_ROOT

For every checkpoint under ``trained_models/`` with a twin under ``RETRAINED_ROOT/trained_models/`` (what
``scripts/as-another-cpu.sh`` writes), prints a Markdown table: the headline metric of both on the same fresh
samples, the largest change of any weight, the verdict of the analysis's task-metric claim ("solves the task",
or "fits the training range") and the mechanism status of both, and how many claims got the same verdict.
Across machines the project promises (README, "What reproduces"): the same task-metric verdict, and the
headline metric within METRIC_FACTOR (error metrics) or ACCURACY_GAP (accuracies). Exit 1 when a pair breaks
that promise; the other columns are shown, not held to anything.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import interp
from interp.analysis import analyze_model
from interp.checkpoint import WEIGHTS, read_tensors
from interp.analysis.run import reference_for
from interp.paths import find_checkpoints
from interp.tasks import evaluate

# The claim that grades the task metric: "solves the task", or for the positional (value) tasks "fits the
# training range".
TASK_CLAIMS = ("solves the task", "fits the training range")
METRIC_FACTOR = 2.0
ACCURACY_GAP = 0.01
SAMPLES = 4096

SHIPPED = Path(__file__).resolve().parents[1] / "trained_models"


def largest_weight_change(shipped: Path, retrained: Path) -> float:
    ours, theirs = (read_tensors(d / WEIGHTS) for d in (shipped, retrained))
    return max((ours[name] - theirs[name]).abs().max().item() for name in ours)


def measure(directory: Path) -> dict:
    model, task = interp.load(directory)
    metric = evaluate(model, task, samples=SAMPLES, seed=0)[task.metric]
    analysis = analyze_model(model, task, reference_for(task, model.cfg), samples=2048, seed=0)
    return {"task": task, "metric": metric, "verdicts": {c.name: c.verdict for c in analysis.claims},
            "status": analysis.assessment.status}


def agrees(task, shipped: float, retrained: float) -> bool:
    if task.higher_is_better:  # accuracies
        return abs(shipped - retrained) <= ACCURACY_GAP
    return max(shipped, retrained) <= METRIC_FACTOR * min(shipped, retrained)


def main(retrained_root: str) -> int:
    torch.set_num_threads(1)
    rows, broken = [], []
    for shipped_dir in find_checkpoints(SHIPPED):
        twin = Path(retrained_root) / "trained_models" / shipped_dir.parent.name / shipped_dir.name
        if not (twin / "config.json").is_file():
            continue
        ours, theirs = measure(shipped_dir), measure(twin)
        task = ours["task"]
        task_claim = next(name for name in TASK_CLAIMS if name in ours["verdicts"])
        solves = ours["verdicts"][task_claim], theirs["verdicts"][task_claim]
        same = sum(ours["verdicts"][name] == verdict for name, verdict in theirs["verdicts"].items())
        ok = agrees(task, ours["metric"], theirs["metric"]) and solves[0] == solves[1]
        if not ok:
            broken.append(f"{task.name}/{shipped_dir.name}")
        rows.append(f"| {task.name}/{shipped_dir.name} | {largest_weight_change(shipped_dir, twin):.3g} "
                    f"| {task.metric} | {ours['metric']:.4g} | {theirs['metric']:.4g} "
                    f"| {solves[0]} / {solves[1]} | {ours['status']} / {theirs['status']} "
                    f"| {same} of {len(theirs['verdicts'])} | {'yes' if ok else 'NO'} |")
    print("| model | largest weight change | metric | shipped | retrained | solves the task (shipped / retrained) "
          "| mechanism (shipped / retrained) | same verdicts | within tolerance |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if not rows:
        print(f"compare-retrained: no retrained twin of a shipped model under {retrained_root}", file=sys.stderr)
        return 1
    if broken:
        print(f"compare-retrained: outside the stated tolerance: {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1].strip())
    sys.exit(main(sys.argv[1]))
