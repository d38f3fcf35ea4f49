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
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from .family import SCOPES
from .validation import MAX_SEED, ConfigError, UsageError, shown

MAX_THREADS = 1024


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, ``interp train: error: ...`` (the usage is one ``--help`` away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(message: object) -> str:
    return " ".join(str(message).split())


def int_flag(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` taking an integer in ``[low, high]``; argparse names the flag in its error."""
    allowed = f"in [{low}, {high}]" if high is not None else f">= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer {allowed}, got {text[:40]!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {shown(value)}")
        return value

    return parse


def writable(flag: str, path: str | Path) -> Path:
    """``path`` if a folder can be made or written there (``interp.files.check_writable_dir``), else UsageError.

    Every command that writes calls it before any work, and then writes inside ``interp.files.exclusive``."""
    from .files import check_writable_dir

    try:
        return check_writable_dir(flag, path)
    except ValueError as e:
        raise UsageError(str(e)) from None


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON (``3``, ``1e-3``, ``[1,4,7]``, ``true``, ``null``), else the plain string."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON (or an integer too long to hold): a plain string
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
            raise UsageError(f"--set expects key=value, got {shown(item)}")
        scope, dot, name = key.partition(".")
        if dot and scope in SCOPES:
            if name not in fields[scope]:
                raise UsageError(f"unknown {scope} parameter {shown(name)}; known: {', '.join(sorted(fields[scope]))}")
            scopes = [scope]
        else:
            name = key
            scopes = [s for s in SCOPES if name in fields[s]]
            if not scopes:
                known = sorted(set().union(*fields.values()))
                raise UsageError(f"unknown parameter {shown(name)} for task {task_name}; known: {', '.join(known)}")
            if len(scopes) > 1:
                raise UsageError(f"{name!r} is ambiguous ({', '.join(scopes)}); write e.g. {scopes[0]}.{name}=...")
        out[scopes[0]][name] = parse_value(value)
    return out


def cmd_tasks(args: argparse.Namespace) -> None:
    from .defaults import configure
    from .tasks import TASKS
    from .viz.text import tasks_text

    # What `interp train TASK` trains: the default preset (it may set task parameters, e.g. counting's R_min).
    print(tasks_text([configure(name) for name in TASKS]))


def cmd_train(args: argparse.Namespace) -> None:
    from . import limits
    from .defaults import configure, run_directory
    from .files import exclusive
    from .models import resolve_device
    from .training import RESUME

    settings = split_settings(args.task, args.set or [])
    if args.seed is not None:
        settings["train"]["seed"] = args.seed
    task, model_cfg, train_cfg = configure(args.task, args.preset, settings)
    model_cfg.check_fits(task)
    device = resolve_device(args.device)
    need = limits.check_training(task, model_cfg, train_cfg)
    limits.check_evaluation(task, model_cfg, args.eval_samples)
    out = writable("--out", args.out if args.out else run_directory(task.name, args.preset, train_cfg.seed))
    if args.resume and not (out / RESUME).is_file():
        raise UsageError(f"--resume: no {RESUME} in {out}; nothing to resume")
    if args.dry_run:
        from .viz.text import dry_run_text

        print(dry_run_text(task, model_cfg, train_cfg, out, need, limits.available_bytes()))
        return

    import torch

    from .tasks import evaluate
    from .training import train
    from .viz.text import train_text

    # Small models train as fast on one thread, and a fixed thread count keeps runs bit-reproducible.
    torch.set_num_threads(args.threads)
    with exclusive("--out", out):
        result = train(task, model_cfg, train_cfg, out, resume=args.resume, progress=not args.quiet, device=device)
    fresh = evaluate(result.model, task, samples=args.eval_samples)
    print(train_text(task, fresh, args.eval_samples, result.metrics["steps"], out))


def cmd_eval(args: argparse.Namespace) -> None:
    from . import limits
    from .checkpoint import load_checkpoint, read_spec
    from .tasks import evaluate
    from .viz.text import eval_json, eval_text

    _, task, model_config = read_spec(args.dir)
    if args.set:
        settings = split_settings(task.name, args.set)
        if settings["model"] or settings["train"]:
            raise UsageError("interp eval only takes task settings (e.g. --set L=80)")
        task = task.replace(**settings["task"])
        model_config.check_fits(task)
    limits.check_evaluation(task, model_config, args.samples)
    ckpt = load_checkpoint(args.dir)
    metrics = evaluate(ckpt.model, task, samples=args.samples, seed=args.seed)
    print((eval_json if args.json else eval_text)(args.dir, task, args.samples, metrics))


def cmd_construct(args: argparse.Namespace) -> None:
    from . import checkpoint, limits
    from .constructions import construct
    from .files import exclusive
    from .models import ModelConfig
    from .tasks import make_task
    from .viz.text import construct_text

    out = writable("--out", args.out)
    settings = split_settings(args.task, [s for s in args.set or [] if not s.startswith("construction.")])
    params = {s.partition("=")[0][len("construction."):]: parse_value(s.partition("=")[2])
              for s in args.set or [] if s.startswith("construction.")}
    if settings["model"] or settings["train"]:
        raise UsageError("a construction fixes its own model; set task fields or construction.<param>=value")
    task = make_task(args.task, **settings["task"])
    # A construction is about as large as the task's default model: the n_ctx^2 masks dominate long tasks.
    limits.check_model(ModelConfig.for_task(task), f"the {task.name} construction")
    model = construct(task, **params)
    with exclusive("--out", out):
        checkpoint.save(out, model, task, construction=model.construction)
    print(construct_text(task, model.construction, out))


def cmd_analyze(args: argparse.Namespace) -> None:
    from . import limits
    from .checkpoint import load_checkpoint, read_spec
    from .files import exclusive, json_text
    from .paths import REPORTS, find_checkpoints
    from .viz.report import report_checkpoint, summary_text

    dirs = [Path(d) for d in args.dirs]
    if args.all:
        dirs += find_checkpoints()
    if not dirs:
        raise UsageError("give checkpoint directories or --all")
    if args.out and len(dirs) > 1:
        raise UsageError("--out takes one checkpoint directory")
    # Every checkpoint and report folder is checked before the first report is written.
    reports = []
    for directory in dirs:
        _, task, model_config = read_spec(directory)
        reports.append(writable("--out", args.out or REPORTS / task.name / directory.name))
        limits.check_analysis(task, model_config)
        load_checkpoint(directory)
    summaries = []
    for directory, report in zip(dirs, reports):
        with exclusive("--out", report):
            summary = report_checkpoint(directory, out=report)
        summaries.append(summary)
        if not args.json:
            print(summary_text(summary))
    if args.json:
        print(json_text(summaries[0] if len(summaries) == 1 else summaries, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="interp", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tasks", help="list tasks with their parameters and defaults")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("train", help="train a model on a task and write a checkpoint")
    p.add_argument("task")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a task, model or train field")
    p.add_argument("--seed", type=int_flag(0, MAX_SEED), default=None, help="training seed (init and data)")
    p.add_argument("--preset", default="default", help="preset name, part of the default output path")
    p.add_argument("--out", help="checkpoint directory (default trained_models/<task>/<preset>-seed<N>)")
    p.add_argument("--resume", action="store_true", help="continue from the last periodic checkpoint in --out")
    p.add_argument("--eval-samples", type=int_flag(1), default=8192, help="fresh samples scored after training")
    p.add_argument("--threads", type=int_flag(1, MAX_THREADS), default=1, help="torch CPU threads (default 1)")
    p.add_argument("--device", default="cpu", help="cpu (default: bit-reproducible), cuda, or auto (CUDA when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true",
                   help="check everything (memory, --out), print the resolved configs and exit without training")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint on fresh samples of its task")
    p.add_argument("dir")
    p.add_argument("--samples", type=int_flag(1), default=8192)
    p.add_argument("--seed", type=int_flag(0, MAX_SEED), default=12345, help="seed of the fresh samples")
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
    from .experiments.cli import add_parser as add_experiment_parser

    add_experiment_parser(sub)
    from .discovery.cli import add_parser as add_discovery_parser

    add_discovery_parser(sub)
    return parser


def fault_text(error: Exception) -> str:
    """What a runtime fault says: interp's own errors their message, another OSError ``PATH: reason``."""
    from .files import FolderBusy, WriteError

    if isinstance(error, OSError) and not isinstance(error, (WriteError, FolderBusy)) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error)


def main(argv: list[str] | None = None) -> int:
    """Run a command; a fault ends as one line ``interp COMMAND: error: ...`` on stderr and a non-zero status.

    Status 2 is bad input (a value, a damaged checkpoint); status 1 a fault met while working: the training
    diverged, a file could not be written (a full disk), the output folder is in use by another run. Those
    leave what was already written intact (``interp.files``). Any other exception is a bug and keeps its
    traceback.
    """
    args = build_parser().parse_args(argv)
    from .training import TrainingDiverged  # not at the top: it loads torch, which --help must not

    try:
        args.func(args)
    except ConfigError as e:
        print(f"interp {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except (TrainingDiverged, OSError) as e:
        print(f"interp {args.command}: error: {one_line(fault_text(e))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
