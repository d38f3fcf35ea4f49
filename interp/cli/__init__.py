"""interp: train toy transformers on tasks with known circuits, build the proofs' weights, find the circuits.

``--set key=value`` sets a task, model or training field (``interp tasks`` lists them); prefix the key
with ``task.``, ``model.`` or ``train.`` when a name is ambiguous. Values are JSON (``3``, ``1e-3``,
``[1,4,7]``, ``true``) or plain strings.
"""

# The parser only: every command's arguments, from the standard library and interp's light modules, so that
# ``interp --help`` answers without loading torch. The verbs live in interp.cli.verbs (and the modules it
# imports), which main loads once the arguments are parsed.

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from ..discovery.names import ABLATIONS, METHODS, METRICS
from ..files import FolderBusy, WriteError
from ..validation import MAX_SEED, ConfigError, shown
from ..workers import one_blas_thread, start_server

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


def parse_value(text: str) -> Any:
    """A ``--set`` value: JSON (``3``, ``1e-3``, ``[1,4,7]``, ``true``, ``null``), else the plain string."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON (or an integer too long to hold): a plain string
        return text


def build_parser() -> argparse.ArgumentParser:
    """Every command and its arguments; each sets ``verb``, its key in ``interp.cli.verbs.VERBS``."""
    parser = Parser(prog="interp", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tasks", help="list tasks with their parameters and defaults")
    p.add_argument("--compile", action="store_true",
                   help="compile the tasks whose model a program compiles to (tracr), to print its shape")
    p.set_defaults(verb="tasks")

    p = sub.add_parser("train", help="train a model on a task and write a checkpoint")
    p.add_argument("task", nargs="+", metavar="TASK[:PRESET[:SEED]]",
                   help="the task, or several runs as task:preset[:seed], each into its default directory")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a task, model or train field")
    p.add_argument("--seed", type=int_flag(0, MAX_SEED), default=None, help="training seed (init and data)")
    p.add_argument("--preset", default="default", help="preset name, part of the default output path")
    p.add_argument("--out", help="checkpoint directory (default trained_models/<task>/<preset>-seed<N>)")
    p.add_argument("--resume", action="store_true", help="continue from the last periodic checkpoint in --out")
    p.add_argument("--eval-samples", type=int_flag(1), default=8192, help="fresh samples scored after training")
    p.add_argument("--threads", type=int_flag(1, MAX_THREADS), default=1, help="torch CPU threads (default 1)")
    p.add_argument("--jobs", type=int_flag(1, MAX_THREADS), default=1,
                   help="runs trained at once, each in its own process (several runs only; default 1)")
    p.add_argument("--device", default="cpu",
                   help="cpu (default: bit-reproducible), cuda, or auto (CUDA when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--dry-run", action="store_true",
                   help="check everything (memory, --out), print the resolved configs and exit without training")
    p.set_defaults(verb="train")

    p = sub.add_parser("eval", help="evaluate a checkpoint on fresh samples of its task")
    p.add_argument("dir")
    p.add_argument("--samples", type=int_flag(1), default=8192)
    p.add_argument("--seed", type=int_flag(0, MAX_SEED), default=12345, help="seed of the fresh samples")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="evaluate on a variant of the task")
    p.add_argument("--json", action="store_true")
    p.set_defaults(verb="eval")

    p = sub.add_parser("construct", help="write a hand-built construction as a checkpoint")
    p.add_argument("task")
    p.add_argument("--preset", default="default", help="the preset whose task and model shape to build")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="task field, or construction.<param>=value")
    p.add_argument("--out", required=True)
    p.set_defaults(verb="construct")

    p = sub.add_parser("analyze", help="probe checkpoints for the predicted circuit and write reports")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="checkpoint directories")
    p.add_argument("--all", action="store_true", help="every checkpoint under trained_models/")
    p.add_argument("--out", help="report directory (default analyses/reports/<task>/<run>)")
    p.add_argument("--json", action="store_true", help="print summary.json")
    p.add_argument("--jobs", type=int_flag(1, MAX_THREADS), default=1,
                   help="checkpoints analysed at once, each in its own process on one thread (default 1)")
    p.set_defaults(verb="analyze")

    add_experiment_parser(sub)
    add_discover_parser(sub)
    return parser


def add_experiment_parser(sub: argparse._SubParsersAction) -> None:
    """``interp experiment list|table|run``: the papers' claims, reproduced (interp.experiments)."""
    p = sub.add_parser("experiment", help="reproduce the papers' claims: sweeps over seeds and settings")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listed = actions.add_parser("list", help="the experiments: a line each, name and title")
    listed.add_argument("--names", action="store_true", help="only the names, one a line")
    listed.add_argument("--verbose", action="store_true",
                        help="also each one's paper, seeds, options and --quick scale")
    listed.set_defaults(verb="experiment list")
    table = actions.add_parser("table", help="the results table of the committed summaries (Markdown)")
    table.add_argument("--readme", metavar="PATH", help="rewrite the results block of this README instead of printing")
    table.set_defaults(verb="experiment table")
    run = actions.add_parser("run", help="run an experiment (finished runs are skipped) and write its summary")
    run.add_argument("name")
    run.add_argument("--quick", action="store_true", help="the small scale `make reproduce` runs and commits")
    run.add_argument("--seeds", type=int, help="seeds per cell (default: the experiment's, per scale)")
    run.add_argument("--jobs", type=int, help="parallel runs (default: the number of CPU cores)")
    run.add_argument("--executor", default="local", help="local (processes) or ray")
    run.add_argument("--address", help="address of an existing Ray cluster (default: start a local Ray instance)")
    run.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    run.add_argument("--set", action="append", metavar="KEY=VALUE", help="override an experiment option")
    run.add_argument("--out", help="output folder (default analyses/experiments/NAME at --quick, NAME/full at "
                                      "full scale)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(verb="experiment run")


def add_discover_parser(sub: argparse._SubParsersAction) -> None:
    """``interp discover DIR --method acdc|eap|eap-ig|node [--ablation zero|mean|resample] ...``.

    Writes ``circuit.json`` (the found circuit as an edge list, how it was picked, and its scores against the
    known circuit where there is one) and ``circuit.png`` (the picture) to ``analyses/discovery/<task>/<run>/
    <method>-<ablation>/`` unless ``--out`` says otherwise.
    """
    p = sub.add_parser("discover", help="find a checkpoint's circuit automatically (ACDC, EAP, EAP-IG, node ablation)")
    p.add_argument("dir", metavar="DIR", help="checkpoint directory")
    p.add_argument("--method", required=True, choices=METHODS, help="discovery method")
    p.add_argument("--ablation", default="resample", choices=ABLATIONS,
                   help="what a removed edge carries: zero, the mean over a fresh batch, or another input's value")
    p.add_argument("--metric", choices=METRICS,
                   help="kl (distance to the full model's output) or task (the task's score); default: kl for acdc "
                        "and node, task for eap and eap-ig")
    p.add_argument("--threshold", type=float,
                   help="ACDC's tau, or the smallest edge score kept (default: the smallest proposed circuit "
                        "keeping 90%% of the task score)")
    p.add_argument("--steps", type=int_flag(1), help="integration steps of eap-ig (default 5)")
    p.add_argument("--samples", type=int_flag(2), default=128, help="clean examples (and as many corrupted ones)")
    p.add_argument("--seed", type=int_flag(0, MAX_SEED), default=0, help="seed of the clean and corrupted samples")
    p.add_argument("--threads", type=int_flag(1, MAX_THREADS), default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", help="output folder (default analyses/discovery/<task>/<run>/<method>-<ablation>)")
    p.add_argument("--json", action="store_true", help="print circuit.json")
    p.set_defaults(verb="discover")


# The verbs that only list what there is answer from interp.cli.listing, which loads no torch; the others from
# interp.cli.verbs, which does.
LISTINGS = ("tasks", "experiment list")

# What the workers of `train` and `analyze --jobs N` import once, in the server they fork from (interp.workers).
WORKER_PRELOAD = ["interp.cli.verbs", "transformer_lens.model_bridge"]


def fault_text(error: Exception) -> str:
    """What a runtime fault says: interp's own errors their message, another OSError ``PATH: reason``."""
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
    several = (len(args.task) > 1 if args.command == "train" else
               args.command == "analyze" and (args.all or len(args.dirs) > 1))
    if several or args.verb == "experiment run":
        one_blas_thread()  # before numpy loads: this process's runs are one thread wide, as its workers' are
    if several and args.jobs > 1:
        start_server(WORKER_PRELOAD)  # its imports beside the verbs' below: workers are ready when the work is
    # After parsing, and only the module the verb needs: interp.cli.verbs loads torch, the parser and the listings
    # must not.
    verbs = importlib.import_module(".listing" if args.verb in LISTINGS else ".verbs", __name__)

    try:
        verbs.VERBS[args.verb](args)
    except ConfigError as e:
        print(f"interp {args.command}: error: {one_line(e)}", file=sys.stderr)
        return 2
    except verbs.FAULTS as e:
        print(f"interp {args.command}: error: {one_line(fault_text(e))}", file=sys.stderr)
        return 1
    return 0

