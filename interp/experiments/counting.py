"""Golkar et al. 2024 (arXiv 2406.02585), contextual counting, reproduced.

- ``counting-attention``: causal against bidirectional attention x {NoPE, learned, rotary} positions, several
  seeds each: in-distribution accuracy per cell, and the bidirectional NoPE model against the ceiling a
  permutation-invariant predictor cannot beat.
- ``counting-bias``: many seeds of the causal NoPE model: the bias token the probe finds in each, its
  accuracy on longer sequences and on fewer regions, and whether the bias predicts that behaviour by the
  paper's criterion (a bias works where its count stays one it had in training); the hand-built
  construction and its ``]`` twin go through the same grid as sanity rows.

Setups, reference numbers and what is not known about the paper: docs/theory/counting.md.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import torch

from ..analysis.counting import CountingContext, accuracy_within, bias_generalises, count_cap
from ..constructions import counting, counting_close_bias
from ..defaults import configure
from ..family import family_of
from ..grading import AllOf, AtLeast, AtMost, Holds, Share, Untested
from ..models import on_device
from ..plot import Plot
from ..tasks import CountingTask
from ..tasks.counting import CLOSE, IGNORE, ONE, OPEN, ZERO
from ..training import train
from .base import Experiment, Measured, Reference, RowSpec, RunResult, RunSpec
from .statistics import NO_FINISHED_RUN, ok_results, spread

GOLKAR = "Golkar et al. 2024 (arXiv 2406.02585)"
BLOG = "Golkar et al. 2024, the first author's blog post (secondary)"
THEORY = "docs/theory/counting.md"
GOOD = 0.95  # the accuracy at which a setting counts as solved (the analysis's generalisation claims use it too)


def counting_task(p: dict[str, Any]) -> CountingTask:
    return CountingTask(L=p["L"], R=p["R"], R_min=p.get("R_min"), max_count=p["max_count"], max_len=p["max_len"])


def train_counting(p: dict[str, Any], seed: int, device: str, **model: Any):
    """The toolkit's default counting transformer (the counting family's, ``interp.defaults.configure``) on
    ``p``'s task and training settings."""
    task, model_cfg, train_cfg = configure("counting", settings={
        "task": {"L": p["L"], "R": p["R"], "R_min": p.get("R_min"), "max_count": p["max_count"], "max_len": p["max_len"]},
        "model": model,
        "train": {"seed": seed, "max_steps": p["steps"], "batch_size": p["batch_size"], "lr": p["lr"],
                  "eval_every": p["eval_every"], "eval_samples": p["eval_samples"], "target": p["target"]}})
    result = train(task, model_cfg, train_cfg, progress=False, device=device)
    return result.model, task, result.metrics


@torch.no_grad()
def permutation_invariant_ceiling(batch) -> float:
    """The best accuracy any function of (the query token, the multiset of the sequence's tokens) reaches on
    ``batch``: per group of equal (multiset, r), the most frequent count. A bidirectional NoPE transformer is
    such a function (every layer is permutation-equivariant), so its accuracy on ``batch`` is at most this."""
    tokens, targets = batch.inputs, batch.targets
    keys = torch.stack([(tokens == t).sum(1) for t in (ZERO, ONE, OPEN, CLOSE)], 1)  # the multiset (BOS, queries fixed)
    best: dict[tuple, Counter] = {}
    for key, row_targets in zip(map(tuple, keys.tolist()), targets.tolist()):
        for r, target in enumerate(row_targets):
            if target != IGNORE:
                best.setdefault((key, r), Counter())[target] += 1
    asked = sum(sum(c.values()) for c in best.values())
    return sum(max(c.values()) for c in best.values()) / max(asked, 1)


# --- counting-attention ----------------------------------------------------------------------------


class CountingAttention(Experiment):
    name = "counting-attention"
    title = "Causal attention counts, bidirectional does not; NoPE has the best seed, rotary the most consistent"
    paper = GOLKAR
    options = {"L": 64, "R": 3, "max_count": 64, "max_len": 128, "attention": ["causal", "bidirectional"],
               "positional": ["none", "learned", "rotary"], "steps": 5000, "batch_size": 128, "lr": 3e-3,
               "eval_every": 250, "eval_samples": 1024, "target": 0.999, "test_samples": 4096}
    quick = {"L": 24, "max_count": 24, "max_len": 64, "steps": 1500, "batch_size": 64, "test_samples": 2048}
    seeds, quick_seeds = 5, 5

    def grid(self, options, seeds):
        shared = {key: options[key] for key in ("L", "R", "max_count", "max_len", "steps", "batch_size", "lr", "eval_every",
                                                "eval_samples", "target", "test_samples")}
        return [RunSpec(f"{attention} {positional}", {**shared, "attention": attention, "positional": positional}, seed)
                for attention in options["attention"] for positional in options["positional"] for seed in range(seeds)]

    def measure(self, spec, device):
        p = spec.params
        model, task, metrics = train_counting(p, spec.seed, device, attention_dir=p["attention"], positional=p["positional"])
        batch = task.sample(p["test_samples"], spec.seed + 2).to(device)
        with torch.no_grad():
            accuracy = task.evaluate(model(batch.inputs), batch)["accuracy"]
        out = {"accuracy": accuracy, "steps": metrics["steps"]}
        if p["attention"] == "bidirectional" and p["positional"] == "none":
            out["ceiling"] = permutation_invariant_ceiling(batch.to("cpu"))
        return out

    def rows(self, options):
        cells = [(a, p) for a in options["attention"] for p in options["positional"]]
        width = family_of("counting").model(counting_task(options))["d_model"]
        specs = [RowSpec(
            f"causal {label} counts near 100 % in distribution",
            Reference("close to 100 %", f"{GOLKAR} (abstract: causal NoPE best, rotary competitive; {BLOG}: close to "
                                        "100 %)", "paper"),
            causal_accuracy, AllOf((AtLeast(0.99, 0.95), AtLeast(0.95, -math.inf)), (
                "reproduced if the best seed reaches >= {rules[0].reproduced} and the median >= {rules[1].reproduced}; "
                "partial if the best seed reaches >= {rules[0].partial}")),
            runs=of_cell("causal", positional)) for positional, label in (("none", "NoPE"), ("rotary", "rotary"))
            if ("causal", positional) in cells]
        if any(a == "bidirectional" for a, _ in cells):
            specs.append(RowSpec(
                "bidirectional attention fails with every positional code",
                Reference("non-causal transformers fail to perform well with any positional encoding", f"{GOLKAR}; {BLOG}",
                          "paper"),
                partial(bidirectional_failure, positionals=options["positional"], L=options["L"], width=width),
                Holds(f"reproduced if no bidirectional seed reaches {GOOD}; partial if every bidirectional cell's median "
                      "is below it"), runs=of_cell("bidirectional")))
        if ("bidirectional", "none") in cells:
            specs.append(RowSpec(
                "bidirectional NoPE cannot count by region",
                Reference("accuracy <= the best any function of (query, multiset of tokens) reaches: a bidirectional NoPE "
                          "transformer is permutation-equivariant", f"{THEORY} (Prop. 3 of {GOLKAR}, secondary)", "proof"),
                under_ceiling, AtMost(0.005, sentence_template=(
                    "reproduced if every seed's accuracy is at most its test set's permutation-invariant ceiling "
                    "(+{reproduced} for floating-point ties); not reproduced otherwise (a violation would be a bug)")),
                runs=of_cell("bidirectional", "none")))
        return specs + self.variance_rows(cells)

    @staticmethod
    def variance_rows(cells: list[tuple[str, str]]) -> list[RowSpec]:
        """The rows about the best seed and the spread over seeds, shown when some causal NoPE run finished."""
        def nope_finished(runs):
            return bool(ok_results(runs, attention="causal", positional="none"))

        return [RowSpec(
            "NoPE has the best single seed",
            Reference("no positional embedding gives the best accuracy", f"{GOLKAR} (abstract)", "paper"),
            partial(nope_best, cells=cells), Holds(
                "reproduced if the best causal NoPE seed is at least as accurate as every other cell's best seed; "
                f"partial if within {RIVAL_MARGIN} of it"), shown_if=nope_finished), RowSpec(
            "NoPE varies most over seeds, rotary least (causal)",
            Reference("NoPE training is high-variance; rotary is much more consistent",
                      f"{BLOG}; {GOLKAR} (abstract: rotary easier to train)", "paper"),
            partial(seed_ranges, cells=cells), Holds(
                "reproduced if among the causal cells NoPE has the widest range of accuracy over seeds and rotary the "
                "narrowest; partial if one of the two holds"), runs=of_cell("causal"), shown_if=nope_finished)]

    def plots(self, results, options, seeds):
        cells = [(a, p) for a in options["attention"] for p in options["positional"]]
        stats = cell_spreads(results, cells)
        return [Plot.bars("accuracy_by_cell", f"In-distribution accuracy (L = {options['L']}, R = {options['R']}) over "
                          f"{seeds} seeds", [f"{a[:6]} {p}" for a, p in cells],
                          {key: [stats[c][field] for c in cells]
                           for key, field in (("worst", "low"), ("median", "median"), ("best", "high"))},
                          hline=GOOD, ylabel="accuracy")]

    def notes(self, results, options, seeds):
        return (
            f"The toolkit's counting model (2 layers, 1 head, d_model 64, d_mlp 128) with its attention direction and "
            f"positional code set per cell, trained on L = {options['L']}, R = {options['R']} regions ({options['steps']} "
            f"steps at most, batches of {options['batch_size']}, AdamW {options['lr']:g}, cosine schedule, stopping at "
            f"held-out accuracy {options['target']}); accuracy on {options['test_samples']} fresh sequences. The paper "
            "trained at L = 512 with 4 regions; the quick scale is far shorter.")


RIVAL_MARGIN = 0.01  # how far below the best other cell's best seed NoPE's may be for partial


def of_cell(attention: str, positional: str | None = None) -> Callable[[RunResult], bool]:
    return lambda r: r.params["attention"] == attention and (positional is None or r.params["positional"] == positional)


def accuracies(runs: list[RunResult], **cell: str) -> list[float]:
    return [r.measurements["accuracy"] for r in ok_results(runs, **cell)]


def cell_spreads(runs: list[RunResult], cells: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The spread of accuracy over seeds in each (attention, positional) cell."""
    return {(a, p): spread(accuracies(runs, attention=a, positional=p)) for a, p in cells}


def causal_accuracy(runs: list[RunResult]) -> Measured:
    """One causal cell's spread; the value: (its best seed, its median)."""
    s = spread(accuracies(runs))
    return Measured(Untested(NO_FINISHED_RUN) if s["high"] is None else (s["high"], s["median"]), s,
                    f"accuracy per seed {sorted(round(a, 3) for a in accuracies(runs))}")


def bidirectional_failure(runs: list[RunResult], positionals: list[str], L: int, width: int) -> Measured:
    """The value: (no bidirectional seed reaches GOOD, every bidirectional cell's median is below it)."""
    stats = {p: spread(accuracies(runs, positional=p)) for p in positionals}
    best = max((s["high"] for s in stats.values() if s["high"] is not None), default=None)
    medians = [s["median"] for s in stats.values()]
    value = (Untested(NO_FINISHED_RUN) if best is None else
             (best < GOOD, bool(medians) and all(m is not None and m < GOOD for m in medians)))
    detail = "; ".join(f"{p}: median {s['median']:.3f}, best {s['high']:.3f}" for p, s in stats.items()
                       if s["median"] is not None)
    if width >= L:
        detail += (f". At L = {L} the model's width ({width}) is at least the length, so Prop. 4's bound (width >= "
                   "length for absolute positions to emulate causality) does not forbid the learned cell")
    return Measured(value, dict(stats), detail)


def under_ceiling(runs: list[RunResult]) -> Measured:
    """How far each seed's accuracy lies above its test set's permutation-invariant ceiling; the value: the most."""
    group = ok_results(runs)
    excess = [r.measurements["accuracy"] - r.measurements["ceiling"] for r in group]
    ceilings = [r.measurements["ceiling"] for r in group]
    return Measured(max(excess) if excess else Untested(NO_FINISHED_RUN),
                    {"accuracy": spread([r.measurements["accuracy"] for r in group]), "ceiling": spread(ceilings),
                     "largest_excess": max(excess) if excess else None},
                    f"ceiling {statistics.median(ceilings):.3f} (the most frequent count given the number of 1s): the "
                    "model can only guess from how many 1s the sequence has" if ceilings else "")


def nope_best(runs: list[RunResult], cells: list[tuple[str, str]]) -> Measured:
    """The value: (causal NoPE's best seed is at least every other cell's best, within RIVAL_MARGIN of it)."""
    stats = cell_spreads(runs, cells)
    best = stats["causal", "none"]["high"]
    rival = max((s["high"] for c, s in stats.items() if c != ("causal", "none") and s["high"] is not None), default=None)
    value = (rival is None or best >= rival, rival is None or best >= rival - RIVAL_MARGIN)
    return Measured(value, {"nope_best": best, "best_other_cell": rival},
                    "best seed per cell: " + ", ".join(f"{a} {p}: {s['high']:.3f}" for (a, p), s in stats.items()
                                                       if s["high"] is not None))


def seed_ranges(runs: list[RunResult], cells: list[tuple[str, str]]) -> Measured:
    """The range of accuracy over seeds of each causal cell; the value: (NoPE's is the widest and rotary's the
    narrowest, one of the two)."""
    stats = {c: s for c, s in cell_spreads(runs, cells).items() if c[0] == "causal" and s["high"] is not None}
    ranges = {p: s["high"] - s["low"] for (_, p), s in stats.items()}
    holds = [max(ranges, key=ranges.get) == "none", min(ranges, key=ranges.get) == "rotary"]
    return Measured((all(holds), any(holds)), {"range_over_seeds": ranges},
                    ", ".join(f"{p}: {s['low']:.3f}..{s['high']:.3f}" for (_, p), s in stats.items()))


# --- counting-bias -----------------------------------------------------------------------------------


def ood_grid(model, task: CountingTask, lengths: list[int], regions: list[int], cap: int, samples: int, seed: int,
             ) -> dict[str, dict[str, float]]:
    """``accuracy_within`` (counts up to ``cap``) at every (L', R'): ``{"L'": {"R'": accuracy}}``."""
    return {str(L): {str(R): accuracy_within(model, task.fixed(R=R, L=L), cap, samples, seed)["accuracy"]
                     for R in regions} for L in lengths}


class CountingBias(Experiment):
    name = "counting-bias"
    title = "The bias token a seed picks predicts where it generalises: BOS in length and regions, ] in length only"
    paper = GOLKAR
    # Training always has R regions (as the paper's 4), so that a `]` bias can arise; region counts R' < R are
    # scored through query tokens the model was trained on, counts above R would not be (never scored).
    options = {"L": 64, "R": 4, "max_count": 64, "max_len": 272, "length_factors": [1, 2, 4], "steps": 5000,
               "batch_size": 128, "lr": 3e-3, "eval_every": 250, "eval_samples": 1024, "target": 0.995, "test_samples": 1024}
    quick = {"L": 24, "R": 3, "max_count": 24, "max_len": 112, "steps": 1500, "batch_size": 64, "test_samples": 512}
    seeds, quick_seeds = 20, 10

    def grid(self, options, seeds):
        shared = {key: options[key] for key in ("L", "R", "max_count", "max_len", "length_factors", "steps", "batch_size",
                                                "lr", "eval_every", "eval_samples", "target", "test_samples")}
        specs = [RunSpec("trained", {**shared, "model": "trained"}, seed) for seed in range(seeds)]
        return specs + [RunSpec(name, {**shared, "model": name}, 0) for name in ("construction", "twin")]

    def measure(self, spec, device):
        p = spec.params
        task = counting_task(p)
        if p["model"] == "trained":
            model, task, metrics = train_counting(p, spec.seed, device)
            steps = metrics["steps"]
        else:
            model = counting(task) if p["model"] == "construction" else counting_close_bias(task, trained_regions=task.R)
            model, steps = on_device(model, device), 0
        context = CountingContext(model, task, samples=p["test_samples"], seed=spec.seed + 2)
        # The construction is exact up to max_count; a trained model only up to the counts it learned to give.
        cap = task.max_count if p["model"] != "trained" else count_cap(task, seed=spec.seed)
        lengths = [f * task.L for f in p["length_factors"]]
        grid = ood_grid(model, task, lengths, list(range(1, task.R + 1)), cap, p["test_samples"], spec.seed + 3)
        return {"bias": context.bias, "split": context.split, "accuracy": context.metrics["accuracy"], "grid": grid,
                "count_cap": cap, "steps": steps}

    def rows(self, options):
        trained, R = (lambda r: r.params["model"] == "trained"), options["R"]
        specs = [RowSpec(
            "census of bias tokens",
            Reference("solutions differ by which tokens serve as the bias: BOS, `]`, or another quantity constant in "
                      "training", f"{GOLKAR} (abstract); {BLOG}", "paper"), bias_census,
            Share(1.0, 0.5, sentence_template=(
                "reproduced if {reproduced:part} seed's bias token is one whose count is constant in training (BOS, `]`, "
                "`[`, the queries), as a bias must be; partial if at least {partial:part} are")), runs=trained)]
        specs += [RowSpec(
            f"{bias}-bias seeds: {paper_says}",
            Reference(paper_says, f"{BLOG}; {GOLKAR} (abstract: out-of-distribution performance is tied to the bias)",
                      "paper"),
            partial(bias_behaviour, bias=bias, expected=expected, options=options), Holds(
                f"reproduced if every {bias}-bias seed behaves so (worst accuracy >= {GOOD} where it should generalise, "
                "below where it should not), among the seeds that solve the task in distribution; partial if most do; "
                "not reproduced if none does; untested if no such seed has this bias"), runs=trained)
            for bias, expected, paper_says in (("BOS", {"length": True, "regions": True}, "generalises in length and regions"),
                                               ("]", {"length": True, "regions": False}, "generalises in length only"))]
        specs.append(RowSpec(
            "the bias token predicts out-of-distribution behaviour (criterion: does its count change?)",
            Reference("a bias generalises where the number of its tokens stays as in training", f"{THEORY}; {GOLKAR}",
                      "paper"),
            partial(prediction_agreement, options=options), Share(0.9, 0.7, sentence_template=(
                f"reproduced if the prediction (bias_generalises) matches the measurement (worst accuracy >= {GOOD}) for "
                ">= {reproduced:percent} of (seed, direction) pairs of the seeds that solve the task in distribution; "
                "partial if >= {partial:percent}")), runs=trained))
        specs += [
            RowSpec("the construction is exact everywhere within its limits",
                    Reference(1.0, f"{THEORY} (exact for counts up to max_count, any L, R <= max_regions)", "proof"),
                    worst_cell, AtLeast(1.0, 0.99, sentence_template=(
                        "reproduced if every (L', R') cell is {reproduced}; partial if >= {partial}")),
                    runs=lambda r: r.params["model"] == "construction"),
            RowSpec("the `]` twin is exact only at its trained R",
                    Reference(f"1.0 at R = {R}; wrong for most nonzero counts elsewhere", THEORY, "proof"), twin_cells,
                    AllOf((AtLeast(1.0, 0.99), Holds(f"below {GOOD} at every other R'")), (
                        f"reproduced if it is {{rules[0].reproduced}} at R = {R} for every L' (partial if >= "
                        "{rules[0].partial}) and {rules[1]}")),
                    runs=lambda r: r.params["model"] == "twin")]
        return specs

    def plots(self, results, options, seeds):
        plots = []
        for r in sorted(ok_results(results), key=lambda r: (r.params["model"] != "trained", r.params["model"], r.seed)):
            grid = r.measurements["grid"]
            lengths, regions = list(grid), list(next(iter(grid.values())))
            who = f"seed {r.seed}" if r.params["model"] == "trained" else r.params["model"]
            plots.append(Plot.heatmap(
                f"heatmap_{r.params['model']}_{r.seed}", f"{who}: bias token {r.measurements['bias']}; accuracy on counts <= "
                f"{r.measurements['count_cap']} (trained at L = {r.params['L']}, R = {r.params['R']})",
                [[grid[L][R] for L in lengths] for R in regions], [f"L={L}" for L in lengths], [f"R={R}" for R in regions]))
        return plots

    def notes(self, results, options, seeds):
        return (
            f"{seeds} seeds of the toolkit's causal NoPE counting model trained on L = {options['L']} with R = {options['R']} "
            f"regions in every sequence (up to {options['steps']} steps, batches of {options['batch_size']}); the bias token is "
            "the counting head's largest attention bucket besides the counted 1s. Heat maps: accuracy at L' x R' on the "
            "queries whose count the model was trained to give (up to the largest count at least 1 in 1000 training "
            "queries had: longer regions hold counts it never had to output, which fail whatever the circuit), R' <= R only "
            "(a count above R would be asked through a query token it never saw). The construction and the twin are scored "
            "up to max_count.")


# Tokens whose count is fixed when every sequence has R regions: the only ones that can serve as a bias.
CONSTANT_TOKENS = {"BOS", "]", "[", "queries"}


def directions(r: RunResult, options: dict[str, Any]) -> dict[str, tuple[bool, float]]:
    """(predicted to generalise, worst accuracy) in each direction: longer sequences at the trained R, and fewer
    regions at the trained L."""
    task = counting_task(r.params)
    grid, bias = r.measurements["grid"], r.measurements["bias"]
    longer = [f * task.L for f in options["length_factors"] if f > 1]
    fewer = list(range(1, task.R))
    out = {}
    if longer:
        out["length"] = (all(bias_generalises(bias, task, task.replace(L=L)) for L in longer),
                         min(grid[str(L)][str(task.R)] for L in longer))
    if fewer:
        out["regions"] = (all(bias_generalises(bias, task, task.fixed(R=R)) for R in fewer),
                          min(grid[str(task.L)][str(R)] for R in fewer))
    return out


def solving(runs: list[RunResult]) -> list[RunResult]:
    """The finished seeds that solve the task in distribution: only their solutions have a bias that can be asked
    where it generalises."""
    return [r for r in ok_results(runs) if r.measurements["accuracy"] >= GOOD]


def bias_census(runs: list[RunResult]) -> Measured:
    """Which token each finished seed uses as its bias; the value: whether it is one whose count is constant."""
    finished = ok_results(runs)
    unsolved = [r for r in finished if r.measurements["accuracy"] < GOOD]
    left_out = ("; left out of the rows below (in-distribution accuracy under "
                f"{GOOD}): " + ", ".join(f"seed {r.seed} ({r.measurements['accuracy']:.3f})" for r in unsolved)
                if unsolved else "")
    census = Counter(r.measurements["bias"] for r in finished)
    return Measured([r.measurements["bias"] in CONSTANT_TOKENS for r in finished] or Untested(NO_FINISHED_RUN),
                    {"census": dict(census), "seeds": len(finished), "solved": len(solving(runs))},
                    ", ".join(f"seed {r.seed}: {r.measurements['bias']} (in-distribution accuracy "
                              f"{r.measurements['accuracy']:.3f})" for r in finished) + left_out)


def bias_behaviour(runs: list[RunResult], bias: str, expected: dict[str, bool], options: dict[str, Any]) -> Measured:
    """Whether each solving seed with ``bias`` generalises where ``expected`` says; the value: (every one does,
    most do)."""
    seen = {r.seed: {k: w for k, (_, w) in directions(r, options).items()}
            for r in solving(runs) if r.measurements["bias"] == bias}
    agree = [all((w >= GOOD) == expected[k] for k, w in d.items()) for d in seen.values()]
    value = ((all(agree), sum(agree) > len(agree) / 2) if agree else
             Untested(f"no seed that solves the task in distribution has {bias} as its bias token"))
    return Measured(value, {"seeds": len(seen), "agreeing": sum(agree)},
                    "; ".join(f"seed {s}: " + ", ".join(f"{k} {w:.3f}" for k, w in d.items()) for s, d in seen.items()))


def prediction_agreement(runs: list[RunResult], options: dict[str, Any]) -> Measured:
    """Whether bias_generalises predicts each (solving seed, direction) pair's measurement."""
    trained = solving(runs)
    pairs = [(r.seed, k, predicted, worst) for r in trained for k, (predicted, worst) in directions(r, options).items()]
    agree = [(worst >= GOOD) == predicted for _, _, predicted, worst in pairs]
    reason = "no (seed, direction) pair to check: " + (
        "the options ask for no longer length and no fewer regions" if trained else "no seed solves the task in distribution")
    return Measured(agree or Untested(reason), {"agreement": sum(agree) / len(pairs) if pairs else None, "pairs": len(pairs)},
                    "; ".join(f"seed {s} {k}: predicted {'generalises' if pr else 'fails'}, worst {w:.3f}"
                              for s, k, pr, w in pairs if (w >= GOOD) != pr) or "every pair agrees")


def worst_cell(runs: list[RunResult]) -> Measured:
    group = ok_results(runs)
    if not group:
        return Measured(Untested(NO_FINISHED_RUN), {})
    grid = group[0].measurements["grid"]
    worst = min(v for by_R in grid.values() for v in by_R.values())
    return Measured(worst, {"worst": worst})


def twin_cells(runs: list[RunResult]) -> Measured:
    """The twin's worst accuracy at its trained R and best elsewhere; the value: (the first, (the second below GOOD,)*2)."""
    group = ok_results(runs)
    if not group:
        return Measured(Untested(NO_FINISHED_RUN), {})
    grid, R = group[0].measurements["grid"], group[0].params["R"]
    at_R = min(by_R[str(R)] for by_R in grid.values())
    off_R = max(v for by_R in grid.values() for k, v in by_R.items() if k != str(R))
    return Measured((at_R, (off_R < GOOD, off_R < GOOD)), {"worst_at_trained_R": at_R, "best_elsewhere": off_R})


COUNTING_EXPERIMENTS = [CountingAttention, CountingBias]
