"""``interp discover DIR --method acdc|eap|eap-ig|node ...``: find a checkpoint's circuit automatically.

Writes ``circuit.json`` (the found circuit as an edge list, how it was picked, and its scores against the
known circuit where there is one) and ``circuit.png`` (the picture) to ``analyses/discovery/<task>/<run>/
<method>-<ablation>/`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from .. import limits
from ..checkpoint import load_checkpoint, read_spec
from ..discovery.run import find_circuit
from ..files import exclusive, json_text, write_json
from ..paths import DISCOVERY
from ..viz.discovery import draw_circuit
from ..viz.text import discover_text
from .options import writable


def cmd_discover(args: argparse.Namespace) -> None:
    # Small models run as fast on one thread, and one thread gives the same numbers on every machine.
    torch.set_num_threads(args.threads)
    directory = Path(args.dir)
    _, task, model_config = read_spec(directory)
    out = writable("--out", args.out or DISCOVERY / task.name / directory.name / f"{args.method}-{args.ablation}")
    limits.check_analysis(task, model_config, args.samples)
    ckpt = load_checkpoint(directory)
    with exclusive("--out", out):
        found = find_circuit(ckpt.model, task, args.method, args.ablation, args.metric, args.samples, args.seed,
                             args.threshold, args.steps)
        result = {"checkpoint": str(directory), "task": task.name, "params": task.params(), **found.to_dict()}
        write_json(out / "circuit.json", result)
        truth = found.truth[found.evaluation["matched_truth"]] if found.truth else None
        title = (f"{task.name} {directory.name}: {args.method}, {args.ablation} ablation, {len(found.edges)} edges"
                 + (f" (truth: {len(truth)})" if truth is not None else ""))
        draw_circuit(found.problem.graph, found.edges, out / "circuit.png", title, truth, found.truth_heads)
    print(json_text(result, indent=2) if args.json else discover_text(result, out))
