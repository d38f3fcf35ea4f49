"""interp: train toy transformers on tasks with known circuits, build the proofs' weights, find the circuits.

``--set key=value`` sets a task, model or training field (``interp tasks`` lists them); prefix the key
with ``task.``, ``model.`` or ``train.`` when a name is ambiguous. Values are JSON (``3``, ``1e-3``,
``[1,4,7]``, ``true``) or plain strings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

SCOPES = ("task", "model", "train")


class UsageError(ValueError):
    pass


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def split_settings(task_name: str, settings: list[str]) -> dict[str, dict[str, Any]]:
    """Sort ``key=value`` settings into task, model and training overrides."""
    from .models import ModelConfig
    from .tasks import task_class
    from .training import TrainConfig

    fields = {
        "task": {f.name for f in dataclasses.fields(task_class(task_name))},
        "model": {f.name for f in dataclasses.fields(ModelConfig)},
        "train": {f.name for f in dataclasses.fields(TrainConfig)},
    }
    out: dict[str, dict[str, Any]] = {scope: {} for scope in SCOPES}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {item!r}")
        scope, dot, name = key.partition(".")
        if dot and scope in SCOPES:
            if name not in fields[scope]:
                raise UsageError(f"unknown {scope} parameter {name!r}; known: {', '.join(sorted(fields[scope]))}")
            scopes = [scope]
        else:
            name = key
            scopes = [s for s in SCOPES if name in fields[s]]
            if not scopes:
                known = sorted(set().union(*fields.values()))
                raise UsageError(f"unknown parameter {name!r} for task {task_name}; known: {', '.join(known)}")
            if len(scopes) > 1:
                raise UsageError(f"{name!r} is ambiguous ({', '.join(scopes)}); write e.g. {scopes[0]}.{name}={value}")
        out[scopes[0]][name] = parse_value(value)
    return out


def cmd_tasks(args: argparse.Namespace) -> None:
    from .models import ModelConfig
    from .tasks import TASKS
    from .training import TrainConfig

    for name, cls in TASKS.items():
        task = cls()
        print(f"{name}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        print(f"  metric: {task.metric} ({'higher' if task.higher_is_better else 'lower'} is better)")
        print("  task:  " + ", ".join(f"{k}={json.dumps(v)}" for k, v in task.params().items()))
        model = dataclasses.asdict(ModelConfig.for_task(task))
        print("  model: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in model.items()))
        train = dataclasses.asdict(TrainConfig.for_task(task))
        print("  train: " + ", ".join(f"{k}={json.dumps(v)}" for k, v in train.items()))


def cmd_train(args: argparse.Namespace) -> None:
    import torch

    from .defaults import configure, run_directory
    from .tasks import evaluate
    from .training import train

    # Small models train as fast on one thread, and a fixed thread count keeps runs bit-reproducible.
    torch.set_num_threads(args.threads)
    settings = split_settings(args.task, args.set or [])
    if args.seed is not None:
        settings["train"]["seed"] = args.seed
    task, model_cfg, train_cfg = configure(args.task, args.preset, settings)
    out = Path(args.out) if args.out else run_directory(task.name, args.preset, train_cfg.seed)
    result = train(task, model_cfg, train_cfg, out, resume=args.resume, progress=not args.quiet)
    fresh = evaluate(result.model, task, samples=args.eval_samples)
    print(f"{task.name}: {task.metric}={fresh[task.metric]:.4f} on {args.eval_samples} fresh samples "
          f"after {result.metrics['steps']} steps -> {out}")


def cmd_eval(args: argparse.Namespace) -> None:
    from .checkpoint import load_checkpoint
    from .tasks import evaluate

    ckpt = load_checkpoint(args.dir)
    task = ckpt.task
    if args.set:
        settings = split_settings(task.name, args.set)
        if settings["model"] or settings["train"]:
            raise UsageError("interp eval only takes task settings (e.g. --set L=80)")
        task = task.replace(**settings["task"])
        ckpt.model_config.check_fits(task)
    metrics = evaluate(ckpt.model, task, samples=args.samples, seed=args.seed)
    if args.json:
        print(json.dumps({"checkpoint": str(args.dir), "task": task.name, "params": task.params(),
                          "samples": args.samples, "metrics": metrics}, indent=2))
    else:
        print(f"{args.dir}: {task.name} {task.metric}={metrics[task.metric]:.4f} on {args.samples} fresh samples")
        for key, value in metrics.items():
            if key != task.metric:
                print(f"  {key}={value:.4f}")


def cmd_construct(args: argparse.Namespace) -> None:
    from . import checkpoint
    from .constructions import construct
    from .tasks import make_task

    settings = split_settings(args.task, [s for s in args.set or [] if not s.startswith("construction.")])
    params = {s.partition("=")[0][len("construction."):]: parse_value(s.partition("=")[2])
              for s in args.set or [] if s.startswith("construction.")}
    if settings["model"] or settings["train"]:
        raise UsageError("a construction fixes its own model; set task fields or construction.<param>=value")
    task = make_task(args.task, **settings["task"])
    model = construct(task, **params)
    checkpoint.save(args.out, model, task, construction=model.construction)
    print(f"{task.name} construction ({model.construction['name']}) -> {args.out}")


def cmd_analyze(args: argparse.Namespace) -> None:
    from .analysis.run import analyze_checkpoint
    from .paths import find_checkpoints
    from .viz.report import summary_text

    dirs = [Path(d) for d in args.dirs]
    if args.all:
        dirs += find_checkpoints()
    if not dirs:
        raise UsageError("give checkpoint directories or --all")
    if args.out and len(dirs) > 1:
        raise UsageError("--out takes one checkpoint directory")
    summaries = []
    for directory in dirs:
        summary = analyze_checkpoint(directory, out=args.out)
        summaries.append(summary)
        if not args.json:
            print(summary_text(summary))
    if args.json:
        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interp", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tasks", help="list tasks with their parameters and defaults")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("train", help="train a model on a task and write a checkpoint")
    p.add_argument("task")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a task, model or train field")
    p.add_argument("--seed", type=int, default=None, help="training seed (init and data)")
    p.add_argument("--preset", default="default", help="preset name, part of the default output path")
    p.add_argument("--out", help="checkpoint directory (default trained_models/<task>/<preset>-seed<N>)")
    p.add_argument("--resume", action="store_true", help="continue from the last periodic checkpoint in --out")
    p.add_argument("--eval-samples", type=int, default=8192)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint on fresh samples of its task")
    p.add_argument("dir")
    p.add_argument("--samples", type=int, default=8192)
    p.add_argument("--seed", type=int, default=12345, help="seed of the fresh samples")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="evaluate on a variant of the task")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("construct", help="write a hand-built construction as a checkpoint")
    p.add_argument("task")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="task field, or construction.<param>=value")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_construct)

    p = sub.add_parser("analyze", help="probe checkpoints for the predicted circuit and write reports")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="checkpoint directories")
    p.add_argument("--all", action="store_true", help="every checkpoint under trained_models/")
    p.add_argument("--out", help="report directory (default analyses/reports/<task>/<run>)")
    p.add_argument("--json", action="store_true", help="print summary.json")
    p.set_defaults(func=cmd_analyze)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .checkpoint import CheckpointError
    from .tasks import TaskError

    try:
        args.func(args)
    except (TaskError, CheckpointError, UsageError) as e:
        print(f"interp {args.command}: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
