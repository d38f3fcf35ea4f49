"""``interp experiment list`` and ``interp experiment run NAME ...``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..validation import TaskError


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs, values as JSON (``3``, ``[8, 16]``, ``true``) or plain strings."""
    settings = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise TaskError(f"--set expects key=value, got {item!r}")
        try:
            settings[key] = json.loads(text)
        except json.JSONDecodeError:
            settings[key] = text
    return settings


def cmd_list(args: argparse.Namespace) -> None:
    from ..viz.experiments import experiments_text
    from .registry import EXPERIMENTS  # here, not at the top: the registry loads torch, the parser must not

    print("\n".join(EXPERIMENTS) if args.names else experiments_text(EXPERIMENTS.values(), args.verbose))


def committed_summaries() -> list[dict[str, Any]]:
    """Every registered experiment's summary in ``analyses/experiments/`` (those that have one), in registry order.

    A damaged one is refused with a line naming it (CheckpointError: interp's reader of JSON files)."""
    from ..checkpoint import read_json
    from ..paths import EXPERIMENTS as FOLDER
    from .registry import EXPERIMENTS

    out = []
    for name in EXPERIMENTS:
        path = FOLDER / name / "summary.json"
        if path.is_file():
            out.append(read_json(path))
    return out


def cmd_table(args: argparse.Namespace) -> None:
    from ..files import check_writable_dir, write_text
    from ..viz.experiments import replace_results_block, results_table

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
    from ..viz.experiments import experiment_text
    from .runner import run_experiment

    summary = run_experiment(args.name, quick=args.quick, seeds=args.seeds, jobs=args.jobs, executor=args.executor,
                             address=args.address, device=args.device, settings=parse_settings(args.set or []),
                             out=args.out, progress=not args.quiet)
    print(experiment_text(summary))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="reproduce the papers' claims: sweeps over seeds and settings")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listed = actions.add_parser("list", help="the experiments: a line each, name and title")
    listed.add_argument("--names", action="store_true", help="only the names, one a line")
    listed.add_argument("--verbose", action="store_true", help="also each one's paper, seeds, options and --quick scale")
    listed.set_defaults(func=cmd_list)
    table = actions.add_parser("table", help="the results table of the committed summaries (Markdown)")
    table.add_argument("--readme", metavar="PATH", help="rewrite the results block of this README instead of printing")
    table.set_defaults(func=cmd_table)
    run = actions.add_parser("run", help="run an experiment (finished runs are skipped) and write its summary")
    run.add_argument("name")
    run.add_argument("--quick", action="store_true", help="the small scale `make reproduce` runs and commits")
    run.add_argument("--seeds", type=int, help="seeds per cell (default: the experiment's, per scale)")
    run.add_argument("--jobs", type=int, help="parallel runs (default: the number of CPU cores)")
    run.add_argument("--executor", default="local", help="local (processes) or ray")
    run.add_argument("--address", help="address of an existing Ray cluster (default: start a local Ray instance)")
    run.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override an experiment option")
    run.add_argument("--out", help="output folder (default analyses/experiments/NAME)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=cmd_run)
