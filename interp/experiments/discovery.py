"""``discovery-benchmark``: automatic circuit discovery (ACDC, EAP, EAP-IG, node ablation) scored against
circuits known by construction, and against the circuit heads the analysis names in the trained models.

One run is one (model, ablation, method, seed): the model is a construction (parity, selection, counting,
counting's ``]``-bias twin, over several sizes), a RASP program compiled by tracr (a model nobody here
wrote, scored apart against the circuit its batch exercises) or a shipped trained model; the seed draws the
clean and corrupted batches (and parity's hidden subset). ``measure`` returns only what is the same whoever runs it
(AUCs, circuits, faithfulness, passes spent); a method's wall time is the run's ``seconds``
(``RunResult.seconds``, kept apart from the measurements), which the summary reports per method.

Setups, the ground truths, the published numbers (context, not targets): docs/theory/discovery.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from ..discovery.names import ABLATIONS, DEFAULT_METRIC, METHODS
from ..families.tracr import TracrTask
from ..grading import AtLeast, Holds, Share, Untested
from ..paths import ROOT
from ..plot import Plot
from ..tasks import make_task
from ..validation import TaskError, check_choice
from .base import Experiment, Measured, Reference, RowSpec, RunResult, RunSpec
from .statistics import NO_FINISHED_RUN, mean, measured_or, median, ok_results, spread

# What trains and measures models (torch, TransformerLens) is imported inside the functions that run them, so
# that listing the experiments (``interp experiment list``) reads this module without loading it.

CONMY = "Conmy et al. 2023 (arXiv 2304.14997)"
CONMY_CODE = f"{CONMY}, result tables in the authors' repository"
MILLER = "Miller, Chughtai, Saunders 2024 (arXiv 2407.08734)"
SYED = "Syed, Rager, Conmy 2023 (arXiv 2310.10348)"
HANNA = "Hanna, Pezzelle, Belinkov 2024 (arXiv 2403.17806)"
DOCS = "docs/theory/discovery.md"

# Published AUCs, shown beside ours as context only (docs/theory/discovery.md, 'Published numbers').
PUBLISHED = [
    ("ACDC", "IOI (GPT-2 small)", "resample", "KL", 0.869, CONMY_CODE),
    ("ACDC", "greater-than (GPT-2 small)", "resample", "KL", 0.853, CONMY_CODE),
    ("ACDC", "docstring (4-layer attention-only)", "resample", "KL", 0.982, CONMY_CODE),
    ("ACDC", "tracr-reverse", "resample", "L2", 0.200, CONMY_CODE),
    ("ACDC", "tracr-reverse", "zero", "L2", 1.000, CONMY_CODE),
    ("ACDC", "tracr-proportion", "zero", "L2", 1.000, CONMY_CODE),
]


# Why a method can miss a circuit whatever the model (docs/theory/discovery.md, 'What to expect').
SHORTFALL_CAUSES = {
    "acdc": "ACDC removes edges one at a time against a threshold, so an edge whose effect only shows once "
            "others are gone can be kept or dropped in the wrong order.",
    "eap": "EAP scores an edge by the gradient at the clean input; through tracr's saturated attention (logits of "
           "about 45) and its ReLU thresholds that gradient is nearly 0 for edges the circuit needs, which then rank "
           "among unused edges.",
    "eap-ig": "EAP-IG integrates the gradient from the ablated to the clean input, which sees through saturation "
              "but can still rank a needed edge below an unused one.",
    "node": "node ablation scores an edge by the weaker of its two nodes, so an unused edge between two used nodes "
            "enters the circuit with them.",
}


def _pairs(values: list[list[int]], name: str) -> list[tuple[int, int]]:
    if any(len(v) != 2 for v in values):
        raise TaskError(f"{name} must be a list of pairs, got {json.dumps(values)}")
    return [tuple(v) for v in values]


def subjects(options: dict[str, Any]) -> list[dict[str, Any]]:
    """The models of the benchmark, each as JSON-ready parameters that rebuild it (``build``)."""
    from ..checkpoint import read_config

    out = []
    for n, k in _pairs(options["parity"], "parity"):
        out.append({"subject": f"parity n={n} k={k}", "construction": "parity", "task": "parity",
                    "task_params": {"n": n, "k": k}})
    d, m = options["selection_d"], options["selection_code_dim"]
    for positions in ("learned", "orthonormal"):
        for T, q in _pairs(options[f"selection_{positions}"], f"selection_{positions}"):
            params = {"T": T, "d": d, "q": q, "positions": positions, **({"code_dim": m} if positions == "orthonormal" else {})}
            out.append({"subject": f"selection T={T} q={q} {positions}", "construction": "selection", "task": "selection",
                        "task_params": params})
    for name in ("counting", "counting_close_bias"):
        for L, R in _pairs(options[name], name):
            params = {"L": L, "R": R, "max_regions": R, "max_count": L, "max_len": 1 + L + R}
            out.append({"subject": f"{name} L={L} R={R}", "construction": name, "task": "counting", "task_params": params,
                        **({"construction_params": {"trained_regions": R}} if name == "counting_close_bias" else {})})
    for program in options["tracr"]:
        out.append({"subject": f"tracr {program}", "tracr": program, "task": "tracr"})
    for task in options["trained"]:
        path = f"trained_models/{task}/default-seed0"
        sha = read_config(ROOT / path)["weights"]["sha256"]
        out.append({"subject": f"trained {task}", "checkpoint": path, "sha256": sha, "task": task})
    return out


SUBJECT_KINDS = ("construction", "tracr", "trained")


def subject_kind(params: dict[str, Any]) -> str:
    """Which of ``SUBJECT_KINDS`` a run's subject is: it decides the truth it is scored against."""
    return "trained" if "checkpoint" in params else "tracr" if "tracr" in params else "construction"


def build(params: dict[str, Any], seed: int):
    """The model and task of a subject (constructions: the task instance drawn from ``seed``)."""
    from ..checkpoint import load_checkpoint
    from ..constructions import construct

    if "checkpoint" in params:
        ckpt = load_checkpoint(ROOT / params["checkpoint"])
        if ckpt.config["weights"]["sha256"] != params["sha256"]:
            raise RuntimeError(f"{params['checkpoint']} changed since the grid was made (its weights' SHA-256 differs)")
        return ckpt.model, ckpt.task
    if "tracr" in params:
        task = TracrTask(program=params["tracr"])
        return task.compiled.model, task
    task_params = dict(params["task_params"])
    if params["task"] == "parity":
        task_params["seed"] = seed
    task = make_task(params["task"], **task_params)
    return construct(task, name=params["construction"], **params.get("construction_params", {})), task


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


FAITHFULNESS_MARGIN, AUC_MARGIN = 0.01, 0.05  # how far apart two methods' means must be to differ
METHOD_NAMES = {"eap": "EAP", "eap-ig": "EAP-IG", "acdc": "ACDC"}  # in the order rows quote them


def construction_runs(*methods: str, ablation: str | None = None) -> Callable[[RunResult], bool]:
    """The runs on our constructions by ``methods`` (all where none is named), with ``ablation`` if given."""
    return lambda r: ("construction" in r.params and (not methods or r.params["method"] in methods)
                      and (ablation is None or r.params["ablation"] == ablation))


def acdc_on_tracr(result: RunResult) -> bool:
    return "tracr" in result.params and result.params["method"] == "acdc"


def exact_runs(runs: list[RunResult]) -> Measured:
    """Which finished runs recover their truth exactly (edge AUC 1.0); untested where none finished."""
    done = ok_results(runs)
    exact = [r.measurements["edge_auc"] == 1.0 for r in done]
    return Measured(exact or Untested(NO_FINISHED_RUN), {"exact": sum(exact), "runs": len(done),
                    "edge_auc": spread([r.measurements["edge_auc"] for r in done])}, DiscoveryBenchmark.misses(done))


def truth_follows_ablation(runs: list[RunResult]) -> Measured:
    """On the runs whose zero- and resample-ablation truths differ, the value: (every resample circuit falls short
    of the zero truth and matches the resample truth, every one falls short of the zero truth)."""
    resample = ok_results(runs)
    differ = [r for r in resample if r.measurements["truth_edges"]["zero"] != r.measurements["truth_edges"]["resample"]]
    against_zero = [r.measurements["edge_auc_by_truth"]["zero"] for r in differ]
    below = all(a is not None and a < 1.0 for a in against_zero)
    matched = all(r.measurements["edge_auc"] == 1.0 for r in differ)
    value = ((below and matched, below) if differ else Untested(
        NO_FINISHED_RUN if not resample else "no construction's zero- and resample-ablation truths differ"))
    return Measured(value, {"constructions_where_truths_differ": len(differ), "auc_against_zero_truth": spread(against_zero)},
                    ", ".join(f"{r.params['subject']} (seed {r.seed}): {_fmt(a)}" for r, a in zip(differ, against_zero)))


def compared(runs: list[RunResult], key: str, ours: str, theirs: str, margin: float, strictly: bool,
             note: str = "") -> Measured:
    """The mean of ``key`` for method ``ours`` against ``theirs``; the value: (ours beats theirs, by more than
    ``margin`` if ``strictly``, else at all; ours is within ``margin`` of theirs or above). ``note`` ends the detail."""
    groups = {method: ok_results(runs, method=method) for method in METHOD_NAMES if method in (ours, theirs)}
    means = {method: mean([r.measurements[key] for r in group]) for method, group in groups.items()}
    a, b = means[ours], means[theirs]
    value = (Untested(NO_FINISHED_RUN) if a is None or b is None else
             (a > b + margin if strictly else a >= b, a >= b - margin))
    return Measured(value, {**{method.replace("-", "_"): v for method, v in means.items()},
                            "runs": len(groups[ours]) + len(groups[theirs])},
                    DiscoveryBenchmark.by_family(key, {METHOD_NAMES[m]: group for m, group in groups.items()}) + note)


def truth_faithfulness(runs: list[RunResult]) -> Measured:
    truth_f = [r.measurements["truth_faithfulness"] for r in ok_results(runs)]
    low = min((f for f in truth_f if f is not None), default=None)
    return Measured(measured_or(low, NO_FINISHED_RUN), spread(truth_f))


def structural_shortfall(runs: list[RunResult]) -> Measured:
    """Among the resample-ablation ACDC runs on programs whose structural and exercised truths differ, which fall
    short of the structural truth (``runs``: every ACDC run on tracr, to tell none finished from none differing)."""
    done = ok_results(runs)
    resample = [r for r in done if r.params["ablation"] != "zero"
                and r.measurements["truth_edges"]["structural"] != r.measurements["truth_edges"]["resample"]]
    short = [(r.measurements["edge_auc_by_truth"]["structural"] or 0) < 1.0 for r in resample]
    value = short or Untested(NO_FINISHED_RUN if not done else "no program's structural and exercised truths differ")
    return Measured(value, {"programs_runs": len(resample), "short": sum(short), "auc_against_structural": spread(
        [r.measurements["edge_auc_by_truth"]["structural"] for r in resample])},
                    ", ".join(f"{r.params['subject']} (seed {r.seed}): "
                              f"{_fmt(r.measurements['edge_auc_by_truth']['structural'])}" for r in resample))


class DiscoveryBenchmark(Experiment):
    name = "discovery-benchmark"
    title = "Circuit discovery (ACDC, EAP, EAP-IG, node ablation) against circuits known by construction"
    paper = f"{CONMY}; {SYED}; {HANNA}; {MILLER}"
    options = {
        "parity": [[8, 2], [12, 3], [20, 4], [30, 5]],
        "selection_learned": [[8, 2], [16, 3]],
        "selection_orthonormal": [[12, 3]],
        "selection_d": 4,
        "selection_code_dim": 16,
        "counting": [[12, 2], [20, 3], [30, 4]],
        "counting_close_bias": [[16, 2]],
        "tracr": ["hist", "reverse", "sort", "sort_unique", "frac_prevs", "detect_pattern"],
        "trained": ["parity", "selection", "counting"],
        "ablations": ["zero", "mean", "resample"],
        "methods": ["acdc", "eap", "eap-ig", "node"],
        "samples": 256,
        "acdc_thresholds": [float(f"{10.0 ** (e / 2):.2g}") for e in range(-14, 3)],  # 1e-7 .. 10, half decades
        "ig_steps": 5,
    }
    quick = {
        "parity": [[8, 2], [12, 3], [20, 4]],
        "selection_learned": [[8, 2]],
        "counting": [[12, 2], [20, 3]],
        "tracr": ["hist", "reverse", "sort", "frac_prevs"],
        "ablations": ["zero", "resample"],
        "samples": 128,
        "acdc_thresholds": [10.0 ** e for e in range(-7, 2)],
    }
    seeds, quick_seeds = 3, 2

    def grid(self, options, seeds):
        for method in options["methods"]:
            check_choice("methods", method, METHODS)
        for ablation in options["ablations"]:
            check_choice("ablations", ablation, ABLATIONS)
        specs = []
        for subject in subjects(options):
            for ablation in options["ablations"]:
                for method in options["methods"]:
                    params = {**subject, "ablation": ablation, "method": method, "metric": DEFAULT_METRIC[method],
                              "samples": options["samples"]}
                    if method == "acdc":
                        params["thresholds"] = options["acdc_thresholds"]
                    if method == "eap-ig":
                        params["steps"] = options["ig_steps"]
                    specs += [RunSpec(f"{subject['subject']} | {ablation} | {method}", params, seed)
                              for seed in range(seeds)]
        return specs

    def measure(self, spec, device):
        from ..discovery import Problem, discover, evaluate
        from ..discovery.graph import nodes_of
        from ..discovery.run import known_circuit, method_options
        from ..models import on_device

        p = spec.params
        model, task = build(p, spec.seed)
        model = on_device(model, device)
        # The batches' seed is apart from the task's (parity's hidden subset is drawn from spec.seed).
        problem = Problem(model, task, p["ablation"], p["metric"], p["samples"], seed=1000 + spec.seed)
        found = discover(problem, p["method"], **method_options(p["method"], p.get("thresholds"), p.get("steps")))
        truth, heads = known_circuit(problem)
        out = evaluate(problem, found, truth, heads)
        if truth is not None and "structural" in truth:  # the edges this batch exercises, for the notes
            out["exercised"] = truth[out["matched_truth"]]
        graph = problem.graph
        out["graph"] = {"edges": len(graph.edges), "nodes": len(graph.nodes), "senders": len(graph.senders),
                        "receivers": len(graph.receivers)}
        if truth is not None:
            out["truth_edges"] = {version: len(edges) for version, edges in truth.items()}
            out["truth_nodes"] = {version: len(nodes_of(edges)) for version, edges in truth.items()}
            out["faithfulness_at_truth_size"] = self.at_size(out["faithfulness"], len(truth[out["matched_truth"]]))
        out["scores_task"] = {"full": problem.full_score, "all_ablated": problem.empty_score}
        return out

    @staticmethod
    def at_size(curve: list[list[Any]], size: int) -> float | None:
        """Faithfulness of the largest proposed circuit with at most ``size`` edges (the empty circuit, 0, if
        none): a method whose scores tie gets no credit for edges it cannot tell apart."""
        within = [(s, f) for s, f in curve if s <= size]
        return max(within, key=lambda p: p[0])[1] if within else 0.0

    # --- summary ---------------------------------------------------------------------------------

    def rows(self, options):
        specs = [RowSpec(
            "ACDC with zero ablation recovers each construction's zero-ablation circuit exactly",
            Reference(1.0, f"{CONMY_CODE}: tracr-proportion and tracr-reverse, zero ablation, edge AUC", "authors_code"),
            exact_runs, Share(1.0, 0.5, sentence_template=(
                "reproduced if ACDC (KL, zero ablation) has edge AUC 1.0 (some threshold gives exactly the listed "
                "edges) in {reproduced:part} construction run; partial if in at least {partial:part}")),
            runs=construction_runs("acdc", ablation="zero"))]
        if "resample" in options["ablations"]:
            specs += [RowSpec(
                "ACDC with resample ablation recovers the resample-ablation circuit",
                Reference("recovered perfectly once the truth matches the ablation (tracr)", MILLER, "paper"),
                exact_runs, Share(1.0, 0.5, sentence_template=(
                    "reproduced if ACDC (KL, resample ablation) has edge AUC 1.0 against the resample truth in "
                    "{reproduced:part} construction run; partial if in at least {partial:part}")),
                runs=construction_runs("acdc", ablation="resample")), RowSpec(
                "the ablation defines the truth: resample-ablation circuits scored against the zero-ablation truth fall "
                "short",
                Reference("tracr-reverse: ACDC edge AUC 0.200 with resample ablation, 1.000 with zero ablation "
                          "(the truth was made with zero ablation)", CONMY_CODE, "authors_code"),
                truth_follows_ablation, Holds(
                    "reproduced if on every construction run whose two truths differ, ACDC's resample-ablation edge "
                    "AUC against the zero-ablation truth is below 1 while against the resample truth it is 1; partial "
                    "if only the first holds"), runs=construction_runs("acdc", ablation="resample"))]
        specs += [
            RowSpec("EAP-IG's circuits are more faithful than EAP's",
                    Reference("EAP-IG finds more faithful circuits than EAP at the same size", HANNA, "paper"),
                    partial(compared, key="faithfulness_at_truth_size", ours="eap-ig", theirs="eap",
                            margin=FAITHFULNESS_MARGIN, strictly=True), Holds(
                        "mean over construction runs (every ablation) of the faithfulness of the largest proposed "
                        "circuit with at most as many edges as the truth (edges tied in score enter together); "
                        f"reproduced if EAP-IG's exceeds EAP's by more than {FAITHFULNESS_MARGIN}, partial if within "
                        f"{FAITHFULNESS_MARGIN}"), runs=construction_runs("eap", "eap-ig")),
            RowSpec("EAP's edge AUC, averaged over tasks, is at least ACDC's",
                    Reference("averaged over all tasks, EAP has greater circuit-recovery AUC than other methods", SYED,
                              "paper"),
                    partial(compared, key="edge_auc", ours="eap", theirs="acdc", margin=AUC_MARGIN, strictly=False,
                            note=". Both methods ran on the same constructions, ablations and truths, so the gap is "
                                 "theirs, not the setup's; these are hand-built circuits, where ACDC patches each edge "
                                 "exactly and EAP scores it by a first-order estimate of that patch, not Syed et al.'s "
                                 "language-model tasks"),
                    Holds("mean edge AUC (against the truth matching the ablation) over every construction run; "
                          f"reproduced if EAP's is at least ACDC's, partial if within {AUC_MARGIN}"),
                    runs=construction_runs("eap", "acdc")),
            RowSpec("each listed truth alone keeps the task score under its ablation",
                    Reference(1.0, f"{DOCS}, 'Ground truth' (every other edge carries nothing the circuit reads)",
                              "proof"), truth_faithfulness, AtLeast(0.999, 0.9, sentence_template=(
                        "faithfulness of the truth matching the run's ablation, every construction run; reproduced if "
                        ">= {reproduced} in all, partial if >= {partial}")), runs=construction_runs()),
        ]
        return specs + self.tracr_rows()

    @staticmethod
    def tracr_rows() -> list[RowSpec]:
        """The rows about programs compiled by tracr, apart from our own constructions: ACDC against the
        circuit the batch exercises, and against every path the compiler built."""
        return [
            RowSpec("ACDC recovers the circuit a compiled program exercises (tracr)",
                    Reference(1.0, f"{CONMY_CODE}: tracr-reverse and tracr-proportion, zero ablation, edge AUC",
                              "authors_code"), exact_runs, Share(1.0, 0.5, sentence_template=(
                        "share of ACDC runs on tracr programs (KL, every ablation) with edge AUC 1.0 against the "
                        "exercised truth (the structural edges whose ablation alone moves some output of the batch); "
                        "reproduced if {reproduced:parts}, partial if at least {partial:part}")), runs=acdc_on_tracr),
            RowSpec("scored against every path the compiler built, resample-ablation circuits fall short",
                    Reference("tracr-reverse: ACDC edge AUC 0.200 with resample ablation against a truth made with "
                              "zero ablation", CONMY_CODE, "authors_code"), structural_shortfall,
                    Share(1.0, 0.5, sentence_template=(
                        "share of resample-ablation ACDC runs, on programs whose structural and exercised truths "
                        "differ, with edge AUC below 1 against the structural truth; reproduced if {reproduced:parts}, "
                        "partial if at least {partial:part}")),
                    runs=lambda r: acdc_on_tracr(r) and r.params["ablation"] != "zero", reads=acdc_on_tracr),
        ]

    @staticmethod
    def tracr_shortfalls(compiled: list[RunResult]) -> list[str]:
        """Where a method missed a compiled program's exercised circuit, and what its scores show about why."""
        if not compiled:
            return []
        missed = [r for r in compiled if r.measurements["edge_auc"] != 1.0]
        lines = ["", f"tracr programs: {len(compiled) - len(missed)} of {len(compiled)} runs recover the exercised "
                 "circuit exactly (edge AUC 1.0)."]
        for method in dict.fromkeys(r.params["method"] for r in missed):
            runs = [r for r in missed if r.params["method"] == method]
            cases = "; ".join(f"{r.params['subject']} {r.params['ablation']} seed {r.seed}: AUC "
                              f"{_fmt(r.measurements['edge_auc'])}" + (
                                  f", {DiscoveryBenchmark.faint(r.measurements)} of {len(r.measurements['exercised'])} "
                                  "exercised edges scored under 1 % of the top score"
                                  if method in ("eap", "eap-ig") else "") for r in runs)
            lines.append(f"- {method} falls short in {len(runs)} runs ({cases}). {SHORTFALL_CAUSES[method]}")
        return lines

    @staticmethod
    def faint(measurements: dict[str, Any]) -> int:
        """How many exercised edges a scoring method scored under 1 % of its largest score."""
        scores = measurements["scores"]
        top = max(abs(s) for s in scores.values())
        return sum(abs(scores[edge]) < 0.01 * top for edge in measurements["exercised"])

    @staticmethod
    def by_family(key: str, groups: dict[str, list[RunResult]]) -> str:
        """``key``'s mean per construction family, for each method: "parity: EAP 0.8, ACDC 1.0; ..."."""
        families = dict.fromkeys(r.params["construction"] for runs in groups.values() for r in runs)
        return "; ".join(f"{family}: " + ", ".join(
            f"{method} {_fmt(mean([r.measurements[key] for r in runs if r.params['construction'] == family]))}"
            for method, runs in groups.items()) for family in families)

    @staticmethod
    def misses(runs: list[RunResult]) -> str:
        missed = [f"{r.params['subject']} seed {r.seed}: AUC {_fmt(r.measurements['edge_auc'])}" for r in runs
                  if r.measurements["edge_auc"] != 1.0]
        return "missed: " + "; ".join(missed) if missed else f"exact in all {len(runs)} runs"

    @staticmethod
    def table(results: list[RunResult], options: dict[str, Any]) -> list[dict[str, Any]]:
        """One line per (subject, ablation, method): medians over seeds."""
        lines = []
        for subject in dict.fromkeys(r.params["subject"] for r in results):
            for ablation in options["ablations"]:
                for method in options["methods"]:
                    group = [r for r in ok_results(results, subject=subject, ablation=ablation, method=method)]
                    asked = [r for r in results if r.params["subject"] == subject and r.params["ablation"] == ablation
                             and r.params["method"] == method]
                    if not asked:
                        continue
                    m = [r.measurements for r in group]
                    lines.append({
                        "subject": subject, "ablation": ablation, "method": method, "runs": len(group),
                        "asked": len(asked), "kind": subject_kind(asked[0].params),
                        "edges": m[0]["graph"]["edges"] if m else None,
                        "truth": m[0]["truth_edges"].get("zero" if ablation == "zero" else "resample") if m and "truth_edges" in m[0] else None,
                        "edge_auc": median([x.get("edge_auc") for x in m]),
                        "node_auc": median([x.get("node_auc") for x in m]),
                        "head_auc": median([x.get("head_auc") for x in m]),
                        "exact": (sum(bool(x.get("exact")) for x in m) == len(m)) if m and "exact" in m[0] else None,
                        "smallest_faithful": median([x.get("smallest_faithful") for x in m]),
                        "passes": m[0]["passes"] if m else None,
                        "seconds": median([r.seconds for r in group]),
                    })
        return lines

    def plots(self, results, options, seeds):
        lines = self.table(results, options)
        plots = []
        methods = options["methods"]
        keys = list(dict.fromkeys((l["subject"], l["ablation"]) for l in lines if l["kind"] != "trained"))
        if keys:
            matrix = [[next((l["edge_auc"] for l in lines if (l["subject"], l["ablation"]) == key and l["method"] == method),
                            None) for method in methods] for key in keys]
            plots.append(Plot.heatmap("edge_auc", "Edge AUC vs the matched truth (median)",
                                      [[float("nan") if v is None else v for v in line] for line in matrix], methods,
                                      [f"{s} | {a}" for s, a in keys]))
        node_keys = [(l["subject"], l["ablation"]) for l in lines if l["method"] == methods[0]
                     and (l["head_auc"] if l["kind"] == "trained" else l["node_auc"]) is not None]
        if node_keys:
            def value(key, method):
                line = next((l for l in lines if (l["subject"], l["ablation"]) == key and l["method"] == method), None)
                v = None if line is None else line["head_auc"] if line["kind"] == "trained" else line["node_auc"]
                return float("nan") if v is None else v

            plots.append(Plot.heatmap("node_auc", "Node AUC (trained: heads), median",
                                      [[value(k, m) for m in methods] for k in node_keys], methods,
                                      [f"{s} | {a}" for s, a in node_keys]))
        for subject in dict.fromkeys(r.params["subject"] for r in results if "checkpoint" in r.params):
            for ablation in options["ablations"]:
                runs = {m: ok_results(results, subject=subject, ablation=ablation, method=m) for m in methods}
                edges = next((r.measurements["graph"]["edges"] for group in runs.values() for r in group), None)
                if edges is None:
                    continue
                sizes = list(range(edges + 1))
                series = {m: [median([self.at_size(r.measurements["faithfulness"], size) for r in group])
                              for size in sizes] for m, group in runs.items() if group}
                plots.append(Plot.lines(f"faithfulness_{subject.replace(' ', '_')}_{ablation}",
                                        f"{subject}, {ablation} ablation: faithfulness against circuit size",
                                        sizes, series, xlabel="edges (the largest proposed circuit of at most this many;"
                                        " median over seeds)", ylabel="faithfulness", hline=0.9,
                                        styles={m: "-" for m in series}))
        seconds = {kind: [median([l["seconds"] for l in lines if l["method"] == m and l["kind"] == kind])
                          for m in methods] for kind in SUBJECT_KINDS}
        plots.append(Plot.bars("seconds", "Wall time of one run (discovery and scoring), median over runs", methods,
                               seconds, ylabel="seconds"))
        return plots

    def notes(self, results, options, seeds):
        table = self.table(results, options)
        trained = [r for r in results if "checkpoint" in r.params]
        parts = [
            "Each run: one model, one ablation (what a removed edge carries: zero, the mean over a fresh batch, or the "
            "value on another input), one method; the seed draws the clean and corrupted batches (and parity's hidden "
            "subset). ACDC and node ablation use the KL divergence to the full model's output (squared distance for "
            "selection's regression output); EAP and EAP-IG the task score (KL's gradient is 0 at the clean point). "
            "Edge AUC: pessimistic step ROC over the method's threshold, against the construction's truth for the "
            "run's ablation (zero ablation: every edge the construction uses; mean and resample: those carrying an "
            "input-dependent signal). A program compiled by tracr is scored against the edges its batch exercises "
            "(each one's ablation alone moves some output; together they reproduce every output), and beside that "
            "against every path the compiler built (its structural truth). Node AUC over inputs, heads, q/k/v "
            "inputs and MLPs is only defined where some node is unused (— otherwise); for trained models it is over "
            "heads, against the heads the analysis names. "
            "'smallest faithful': edges in the smallest proposed circuit keeping 90 % of the task score. Wall time is "
            "the run's `seconds` (discovery plus scoring: it varies between machines and is not part of the "
            "measurements); 'passes' is the deterministic cost of the discovery itself.",
            "",
            "| model | ablation | method | runs | edges | truth | edge AUC | node AUC | head AUC | exact | "
            "smallest faithful | passes (fwd/bwd) | seconds |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for l in table:
            passes = f"{l['passes']['forward']}/{l['passes']['backward']}" if l["passes"] else "—"
            parts.append(f"| {l['subject']} | {l['ablation']} | {l['method']} | {l['runs']}/{l['asked']} | "
                         f"{_fmt(l['edges'])} | {_fmt(l['truth'])} | "
                         f"{_fmt(l['edge_auc'])} | {_fmt(l['node_auc'])} | {_fmt(l['head_auc'])} | {_fmt(l['exact'])} | "
                         f"{_fmt(l['smallest_faithful'], 1)} | {passes} | {_fmt(l['seconds'], 1)} |")
        parts += DiscoveryBenchmark.tracr_shortfalls([r for r in results if "tracr" in r.params and r.ok])
        heads = {r.params["subject"]: r.measurements.get("truth_heads") for r in trained if r.ok}
        if heads:
            parts += ["", "Trained models' circuit heads (from the analysis): "
                      + "; ".join(f"{s}: {', '.join(h) if h else 'none'}" for s, h in heads.items()) + "."]
        parts += ["", "Published AUCs, for context only (other models, other tasks, other ablations: not targets):", "",
                  "| method | task | ablation | metric | edge AUC | source |", "|---|---|---|---|---|---|"]
        parts += [f"| {m} | {t} | {a} | {metric} | {v:.3f} | {s} |" for m, t, a, metric, v, s in PUBLISHED]
        total = sum(r.seconds for r in results)
        parts += ["", f"Total run time {total:.0f} s over {len(results)} runs (one thread each)."]
        return "\n".join(parts)


DISCOVERY_EXPERIMENTS = [DiscoveryBenchmark]
