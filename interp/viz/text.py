"""What the command line prints: plain text (and JSON) drawn from the data the commands hand over.

``interp analyze`` prints ``interp.viz.report.summary_text`` and ``interp experiment run`` and ``table`` the texts
of ``interp.viz.experiments``; the other commands print these. Nothing here loads torch: ``interp tasks`` and
``interp experiment list`` print without it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..limits import gib

if TYPE_CHECKING:
    from ..models import ModelConfig
    from ..tasks import Task
    from ..training import TrainConfig


def fields_line(values: Mapping[str, Any]) -> str:
    """``key=value, ...`` with JSON values: what ``--set key=value`` takes back."""
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in values.items())


def tasks_text(rows: Iterable[tuple[type["Task"], Mapping[str, Any], Mapping[str, Any] | str, Mapping[str, Any]]
                                | tuple[str, str]]) -> str:
    """``interp tasks``: each task's summary, metric and default task, model and training fields (the model's as a
    note where only compiling would give them); a task that cannot be made here, ``(name, why)``, as one line."""
    lines = []
    for row in rows:
        if len(row) == 2:
            lines.append(f"{row[0]}: not available here: {row[1]}")
            continue
        task_type, task_fields, model_fields, train_fields = row
        summary = (task_type.__doc__ or "").strip().splitlines()
        lines.append(f"{task_type.name}: {summary[0] if summary else ''}".rstrip())
        lines.append(f"  metric: {task_type.metric} ({'higher' if task_type.higher_is_better else 'lower'} is better)")
        lines.append("  task:  " + fields_line(task_fields))
        lines.append("  model: " + (model_fields if isinstance(model_fields, str) else fields_line(model_fields)))
        lines.append("  train: " + fields_line(train_fields))
    return "\n".join(lines)


def experiments_text(experiments: Iterable[Any], verbose: bool = False) -> str:
    """What ``interp experiment list`` prints: a line per experiment, its name then its title; ``verbose`` adds
    its paper, seeds and options on indented lines below."""
    experiments = list(experiments)
    width = max((len(cls.name) for cls in experiments), default=0)
    lines = []
    for cls in experiments:
        lines.append(f"{cls.name:<{width}}  {cls.title}")
        if verbose:
            lines += [f"  paper: {cls.paper}",
                      f"  seeds: {cls.seeds} (--quick: {cls.quick_seeds}); options: "
                      + ", ".join(f"{k}={json.dumps(v)}" for k, v in cls.options.items())]
            if cls.quick:
                lines.append("  --quick sets: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in cls.quick.items()))
    return "\n".join(lines)


def eval_text(checkpoint: str | Path, task: "Task", samples: int, metrics: Mapping[str, float]) -> str:
    """``interp eval``: the headline metric on one line, the others indented below."""
    lines = [f"{checkpoint}: {task.name} {task.metric}={metrics[task.metric]:.4f} on {samples} fresh samples"]
    lines += [f"  {key}={value:.4f}" for key, value in metrics.items() if key != task.metric]
    return "\n".join(lines)


def eval_json(checkpoint: str | Path, task: "Task", samples: int, metrics: Mapping[str, float]) -> str:
    """``interp eval --json``."""
    return json.dumps({"checkpoint": str(checkpoint), "task": task.name, "params": task.params(),
                       "samples": samples, "metrics": dict(metrics)}, indent=2)


def train_text(task: "Task", metrics: Mapping[str, float], samples: int, steps: int, out: str | Path) -> str:
    """``interp train``'s closing line: the fresh-sample metric, the steps taken and where the run went."""
    return (f"{task.name}: {task.metric}={metrics[task.metric]:.4f} on {samples} fresh samples "
            f"after {steps} steps -> {out}")


def dry_run_text(task: "Task", model_cfg: "ModelConfig", train_cfg: "TrainConfig", out: str | Path,
                 need: int, available: int) -> str:
    """``interp train --dry-run``: the resolved configs, the memory estimate and where the run would go."""
    return "\n".join([
        f"{task.name}: would train to {out} (dry run: nothing trained or written)",
        "  task:  " + fields_line(task.params()),
        "  model: " + fields_line(dataclasses.asdict(model_cfg)),
        "  train: " + fields_line(dataclasses.asdict(train_cfg)),
        f"  memory: about {gib(need)} estimated, {gib(available)} available",
    ])


def construct_text(task: "Task", construction: Mapping[str, Any], out: str | Path) -> str:
    """``interp construct``: which construction went where."""
    return f"{task.name} construction ({construction['name']}) -> {out}"


def discover_text(result: Mapping[str, Any], out: str | Path) -> str:
    """``interp discover``: the found circuit's edges, its faithfulness and its score against the known circuit."""
    evaluation = result["evaluation"]
    faith = result["faithfulness"]
    lines = [f"{result['method']} ({result['ablation']} ablation, metric {result['metric']}): "
             f"{len(result['edges'])} of {result['graph']['edges']} edges, faithfulness "
             f"{'n/a' if faith is None else f'{faith:.3f}'} ({result['rule']})"]
    lines += [f"  {edge}" for edge in result["edges"]]
    if "edge_auc" in evaluation:
        auc = evaluation["edge_auc"]
        lines.append(f"edge AUC against the construction's {'zero' if result['ablation'] == 'zero' else 'resample'}"
                     f"-ablation truth: {'n/a' if auc is None else f'{auc:.3f}'}; recovered exactly at some threshold: "
                     f"{'yes' if evaluation['exact'] else 'no'}")
    elif evaluation.get("head_auc") is not None:
        lines.append(f"head AUC against the analysis's circuit heads {', '.join(evaluation['truth_heads'])}: "
                     f"{evaluation['head_auc']:.3f}")
    out = Path(out)
    lines.append(f"wrote {out / 'circuit.json'} and {out / 'circuit.png'}")
    return "\n".join(lines)
