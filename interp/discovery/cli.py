"""``interp discover DIR --method acdc|eap|eap-ig|node [--ablation zero|mean|resample] ...``.

Writes ``circuit.json`` (the found circuit as an edge list, how it was picked, and its scores against the
known circuit where there is one) and ``circuit.png`` (the picture) to ``analyses/discovery/<task>/<run>/
<method>-<ablation>/`` unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..paths import DISCOVERY
from .names import ABLATIONS, METHODS, METRICS


def summary_text(result: dict, out: Path) -> str:
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
    lines.append(f"wrote {out / 'circuit.json'} and {out / 'circuit.png'}")
    return "\n".join(lines)


def cmd_discover(args: argparse.Namespace) -> None:
    from .. import limits
    from ..checkpoint import load_checkpoint, read_spec
    from ..cli import writable
    from ..files import exclusive, json_text, write_json
    from ..viz.discovery import draw_circuit
    from .run import find_circuit

    import torch

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
    print(json_text(result, indent=2) if args.json else summary_text(result, out))


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..cli import MAX_THREADS, int_flag
    from ..validation import MAX_SEED

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
    p.set_defaults(func=cmd_discover)


__all__ = ["add_parser", "cmd_discover"]
