"""The commands' work, by the name the parser gives each (``VERBS``), and the faults that end one with status 1.

``interp.cli.main`` imports this module once the arguments are parsed: it loads torch. Here are the verbs on
tasks and checkpoints (train, eval, construct, analyze); ``discover.py`` and ``experiment.py`` hold the others,
and ``listing.py`` the two that list what there is without loading torch (``interp tasks``, ``interp experiment
list``: ``main`` imports that module alone for them).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from concurrent.futures import as_completed
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from .. import checkpoint, limits, training
from ..allocator import reuse_freed_memory
from ..checkpoint import load_checkpoint, read_spec
from ..constructions import construct
from ..defaults import configure, run_directory
from ..files import exclusive, json_text
from ..models import ModelConfig, resolve_device
from ..paths import REPORTS, find_checkpoints
from ..tasks import Task, evaluate
from ..training import TrainConfig, TrainingDiverged
from ..validation import UsageError
from ..viz.report import report_checkpoint, summary_text
from ..viz.text import construct_text, dry_run_text, eval_json, eval_text, train_text
from ..workers import worker_pool
from . import WORKER_PRELOAD, fault_text, parse_value
from .discover import cmd_discover
from .experiment import cmd_run, cmd_table
from .listing import cmd_list, cmd_tasks
from .options import split_settings, writable


class RunsFailed(RuntimeError):
    """Some of several runs given at once ended in a fault; the others finished and are kept."""


# What ends a command with status 1 (a fault met while working) rather than a traceback: the training
# diverged, or a file could not be read or written (interp.files' WriteError and FolderBusy among them), or
# either ended one of several runs given at once.
FAULTS = (TrainingDiverged, OSError, RunsFailed)


def split_run(run: str, preset: str, seed: int | None) -> tuple[str, str, int | None]:
    """``task``, ``task:preset`` or ``task:preset:seed`` (a run as ``make train`` lists them); ``--preset`` and
    ``--seed`` give what the run does not."""
    task, _, rest = run.partition(":")
    named, _, seed_text = rest.partition(":")
    if (named and preset != "default") or (seed_text and seed is not None):
        raise UsageError(f"{run}: give the preset and seed in the run or with --preset and --seed, not both")
    if seed_text and not seed_text.isdigit():
        raise UsageError(f"{run}: the seed after the second ':' must be a whole number, got {seed_text!r}")
    return task, named or preset, int(seed_text) if seed_text else seed


def plan_training(args: argparse.Namespace, task_name: str, preset: str, seed: int | None) -> tuple[Any, ...]:
    """A run's task and configs, checked (memory, the output folder) before anything trains."""
    settings = split_settings(task_name, args.set or [])
    if seed is not None:
        settings["train"]["seed"] = seed
    task, model_cfg, train_cfg = configure(task_name, preset, settings)
    model_cfg.check_fits(task)
    need = limits.check_training(task, model_cfg, train_cfg)
    limits.check_evaluation(task, model_cfg, args.eval_samples)
    out = writable("--out", args.out if args.out else run_directory(task.name, preset, train_cfg.seed))
    if args.resume and not (out / training.RESUME).is_file():
        raise UsageError(f"--resume: no {training.RESUME} in {out}; nothing to resume")
    return task, model_cfg, train_cfg, out, need


def train_run(task: Task, model_cfg: ModelConfig, train_cfg: TrainConfig, out: Path, *, threads: int,
              device: str, eval_samples: int, resume: bool = False, progress: bool = False) -> str:
    """Train one run into ``out`` and score it on fresh samples: its closing line."""
    # Small models train as fast on one thread, and a fixed thread count keeps runs bit-reproducible.
    torch.set_num_threads(threads)
    with exclusive("--out", out):
        result = training.train(task, model_cfg, train_cfg, out, resume=resume, progress=progress, device=device)
    fresh = evaluate(result.model, task, samples=eval_samples)
    return train_text(task, fresh, eval_samples, result.metrics["steps"], out)


def cmd_train(args: argparse.Namespace) -> None:
    runs = [split_run(run, args.preset, args.seed) for run in args.task]
    if len(runs) > 1:
        for flag, given in (("--out", args.out), ("--resume", args.resume), ("--set", args.set)):
            if given:
                raise UsageError(f"{flag} takes one run, got {len(runs)}")
    device = resolve_device(args.device)
    plans = [plan_training(args, *run) for run in runs]  # every run checked before the first trains
    if args.dry_run:
        print("\n\n".join(dry_run_text(task, model_cfg, train_cfg, out, need, limits.available_bytes())
                          for task, model_cfg, train_cfg, out, need in plans))
        return
    options = dict(threads=args.threads, device=device, eval_samples=args.eval_samples)
    if len(plans) == 1 or args.jobs == 1:
        for task, model_cfg, train_cfg, out, _ in plans:
            print(train_run(task, model_cfg, train_cfg, out, resume=args.resume, progress=not args.quiet, **options))
        return
    # Several runs over the cores: workers forked from a server that imported training once, longest run first
    # as given; each line prints as its run finishes, and a run's fault does not stop the others.
    failures = []
    with worker_pool(min(args.jobs, len(plans)), WORKER_PRELOAD) as pool:
        futures = {pool.submit(train_run, *plan[:4], **options): name for plan, name in zip(plans, args.task)}
        for future in tqdm(as_completed(futures), total=len(futures), desc="train", unit="run", disable=args.quiet):
            try:
                tqdm.write(future.result())
            except FAULTS as e:
                failures.append(f"{futures[future]}: {fault_text(e)}")
    if failures:
        raise RunsFailed(f"{len(failures)} of {len(plans)} runs failed: {'; '.join(failures)}")


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


def analyze_into(directory: Path, report: Path) -> dict[str, Any]:
    """Analyse one checkpoint and write its report: the report's summary."""
    # Probes allocate and free attention-sized tensors over and over: kept for reuse, the kernel's page faults
    # no longer cost as much as the probes (36 s -> 23 s for the counting paper model). The peak grows
    # (1.4 -> 2.0 GB there), which limits.check_analysis's estimate (3.1 GB) still covers.
    reuse_freed_memory()
    with exclusive("--out", report):
        return report_checkpoint(directory, out=report)


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
    summaries: dict[int, dict[str, Any]] = {}

    def show(i: int, summary: dict[str, Any]) -> None:
        summaries[i] = summary
        if not args.json:
            print(summary_text(summary), flush=True)

    if args.jobs == 1 or len(dirs) == 1:
        for i, (directory, report) in enumerate(zip(dirs, reports)):
            show(i, analyze_into(directory, report))
    else:  # workers forked from a server that imported the probes once, each on one thread; lines as reports end
        with worker_pool(min(args.jobs, len(dirs)), WORKER_PRELOAD) as pool:
            futures = {pool.submit(analyze_into, directory, report): i for i, (directory, report) in enumerate(zip(dirs, reports))}
            for future in as_completed(futures):
                show(futures[future], future.result())
    if args.json:
        print(json_text(summaries[0] if len(summaries) == 1 else [summaries[i] for i in range(len(dirs))], indent=2))


VERBS: dict[str, Callable[[argparse.Namespace], None]] = {
    "tasks": cmd_tasks, "train": cmd_train, "eval": cmd_eval, "construct": cmd_construct, "analyze": cmd_analyze,
    "discover": cmd_discover, "experiment list": cmd_list, "experiment table": cmd_table, "experiment run": cmd_run}
