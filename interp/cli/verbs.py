"""The commands' work, by the name the parser gives each (``VERBS``), and the faults that end one with status 1.

``interp.cli.main`` imports this module once the arguments are parsed: it loads torch. Here are the verbs on
tasks and checkpoints (tasks, train, eval, construct, analyze); ``discover.py`` and ``experiment.py`` hold
the others.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import checkpoint, limits, training
from ..checkpoint import load_checkpoint, read_spec
from ..constructions import construct
from ..defaults import configure, run_directory
from ..files import exclusive, json_text
from ..models import resolve_device
from ..paths import REPORTS, find_checkpoints
from ..tasks import TASKS, evaluate
from ..training import TrainingDiverged
from ..validation import ConfigError, UsageError
from ..viz.report import report_checkpoint, summary_text
from ..viz.text import construct_text, dry_run_text, eval_json, eval_text, tasks_text, train_text
from . import parse_value
from .discover import cmd_discover
from .experiment import cmd_list, cmd_run, cmd_table
from .options import split_settings, writable

# What ends a command with status 1 (a fault met while working) rather than a traceback: the training
# diverged, or a file could not be read or written (interp.files' WriteError and FolderBusy among them).
FAULTS = (TrainingDiverged, OSError)


def cmd_tasks(args: argparse.Namespace) -> None:
    # What `interp train TASK` trains: the default preset (it may set task parameters, e.g. counting's R_min).
    rows: list[Any] = []
    for name in TASKS:
        try:
            rows.append(configure(name))
        except ConfigError as e:  # a family whose optional extra is not installed (tracr) is listed with why
            rows.append((name, str(e)))
    print(tasks_text(rows))


def cmd_train(args: argparse.Namespace) -> None:
    settings = split_settings(args.task, args.set or [])
    if args.seed is not None:
        settings["train"]["seed"] = args.seed
    task, model_cfg, train_cfg = configure(args.task, args.preset, settings)
    model_cfg.check_fits(task)
    device = resolve_device(args.device)
    need = limits.check_training(task, model_cfg, train_cfg)
    limits.check_evaluation(task, model_cfg, args.eval_samples)
    out = writable("--out", args.out if args.out else run_directory(task.name, args.preset, train_cfg.seed))
    if args.resume and not (out / training.RESUME).is_file():
        raise UsageError(f"--resume: no {training.RESUME} in {out}; nothing to resume")
    if args.dry_run:
        print(dry_run_text(task, model_cfg, train_cfg, out, need, limits.available_bytes()))
        return
    # Small models train as fast on one thread, and a fixed thread count keeps runs bit-reproducible.
    torch.set_num_threads(args.threads)
    with exclusive("--out", out):
        result = training.train(task, model_cfg, train_cfg, out, resume=args.resume, progress=not args.quiet,
                                device=device)
    fresh = evaluate(result.model, task, samples=args.eval_samples)
    print(train_text(task, fresh, args.eval_samples, result.metrics["steps"], out))


def cmd_eval(args: argparse.Namespace) -> None:
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
    out = writable("--out", args.out)
    settings = split_settings(args.task, [s for s in args.set or [] if not s.startswith("construction.")])
    params = {s.partition("=")[0][len("construction."):]: parse_value(s.partition("=")[2])
              for s in args.set or [] if s.startswith("construction.")}
    if settings["model"] or settings["train"]:
        raise UsageError("a construction fixes its own model; set task fields or construction.<param>=value")
    task, model_cfg, _ = configure(args.task, args.preset, settings)
    # A construction is about as large as the preset's model: the n_ctx^2 masks dominate long tasks.
    limits.check_model(model_cfg, f"the {task.name} construction")
    model = construct(task, preset=args.preset, **params)
    with exclusive("--out", out):
        checkpoint.save(out, model, task, construction=model.construction)
    print(construct_text(task, model.construction, out))


def cmd_analyze(args: argparse.Namespace) -> None:
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


VERBS: dict[str, Callable[[argparse.Namespace], None]] = {
    "tasks": cmd_tasks, "train": cmd_train, "eval": cmd_eval, "construct": cmd_construct, "analyze": cmd_analyze,
    "discover": cmd_discover, "experiment list": cmd_list, "experiment table": cmd_table, "experiment run": cmd_run}
