"""``interp experiment table|run``: the papers' claims, reproduced (``interp.experiments``); ``interp experiment
list`` is in ``listing.py``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..checkpoint import read_json
from ..experiments.registry import EXPERIMENTS
from ..experiments.runner import run_experiment
from ..files import check_writable_dir, write_text
from ..paths import experiment_folder
from ..validation import TaskError
from ..viz.experiments import experiment_text, replace_results_block, results_table
from . import parse_value


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs, values as JSON (``3``, ``[8, 16]``, ``true``) or plain strings."""
    settings = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise TaskError(f"--set expects key=value, got {item!r}")
        settings[key] = parse_value(text)
    return settings


def committed_summaries() -> list[dict[str, Any]]:
    """Every registered experiment's summaries in ``analyses/experiments/`` (those it has), in registry order, the
    full scale's (``NAME/full/``) after the quick one's.

    A damaged one is refused with a line naming it (CheckpointError: interp's reader of JSON files)."""
    out = []
    for name in EXPERIMENTS:
        for quick in (True, False):
            path = experiment_folder(name, quick) / "summary.json"
            if path.is_file():
                out.append(read_json(path))
    return out


def cmd_table(args: argparse.Namespace) -> None:
    if args.readme:
        try:
            check_writable_dir("--readme", Path(args.readme).absolute().parent)
        except ValueError as e:
            raise TaskError(str(e)) from None
    table = results_table(committed_summaries())
    if not args.readme:
        print(table)
        return
    try:
        text = open(args.readme, encoding="utf-8").read()
    except OSError as e:
        raise TaskError(f"--readme {args.readme}: cannot read it ({e.strerror})") from None
    try:
        write_text(args.readme, replace_results_block(text, table))
    except ValueError as e:
        raise TaskError(f"--readme {args.readme}: {e}") from None


def cmd_run(args: argparse.Namespace) -> None:
    summary = run_experiment(args.name, quick=args.quick, seeds=args.seeds, jobs=args.jobs, executor=args.executor,
                             address=args.address, device=args.device, settings=parse_settings(args.set or []),
                             out=args.out, progress=not args.quiet)
    print(experiment_text(summary))
