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

from ..defaults import configure
from ..family import family_of
from ..grading import AllOf, AtLeast, AtMost, Holds, Share, Untested
from ..plot import Plot
from ..tasks import CountingTask
from ..tasks.counting import CLOSE, IGNORE, ONE, OPEN, ZERO
from .base import Experiment, Measured, Reference, RowSpec, RunResult, RunSpec
from .census import mechanism
from .statistics import NO_FINISHED_RUN, gated, ok_results, spread

# What trains and measures models (torch, TransformerLens) is imported inside the functions that run them, so
# that listing the experiments (``interp experiment list``) reads this module without loading it.

GOLKAR = "Golkar et al. 2024 (arXiv 2406.02585)"
BLOG = "Golkar et al. 2024, the first author's blog post (secondary)"
THEORY = "docs/theory/counting.md"
GOOD = 0.95  # the accuracy at which a setting counts as solved (the analysis's generalisation claims use it too)


def counting_task(p: dict[str, Any]) -> CountingTask:
    return CountingTask(L=p["L"], R=p["R"], R_min=p.get("R_min"), max_count=p["max_count"], max_len=p["max_len"])


def counting_config(p: dict[str, Any], seed: int, **model: Any):
    """Task, model and training config of the counting family's model of ``p``'s preset (``interp.defaults.configure``:
    the decoder-only default, or ``paper``, Golkar et al.'s encoder-decoder) on ``p``'s task and training settings."""
    return configure("counting", p.get("preset", "default"), settings={
        "task": {"L": p["L"], "R": p["R"], "R_min": p.get("R_min"), "max_count": p["max_count"], "max_len": p["max_len"]},
        "model": model,
        "train": {"seed": seed, "max_steps": p["steps"], "batch_size": p["batch_size"], "lr": p["lr"],
                  "eval_every": p["eval_every"], "eval_samples": p["eval_samples"], "target": p["target"]}})


def train_counting(p: dict[str, Any], seed: int, device: str, **model: Any):
    """``counting_config``'s model, trained."""
    from ..training import train

    task, model_cfg, train_cfg = counting_config(p, seed, **model)
    result = train(task, model_cfg, train_cfg, progress=False, device=device)
    return result.model, task, result.metrics


# The paper model's options (``paper_*``) and the run parameters they become, beside the decoder-only ones.
PAPER_OPTIONS = ("L", "R", "max_count", "max_len", "d_model", "steps", "batch_size", "lr")
# Golkar et al.'s scale (L = 512, R = 4; widths and budget are not known) and the quick one: the longest L that keeps a
# run near three minutes of one core, and longer than the model is wide.
PAPER_SCALE = {"paper_L": 512, "paper_R": 4, "paper_max_count": 128, "paper_max_len": 520, "paper_d_model": 64,
               "paper_steps": 20000, "paper_batch_size": 128, "paper_lr": 1e-3}
PAPER_QUICK = {"paper_L": 128, "paper_max_count": 40, "paper_d_model": 32, "paper_steps": 4000, "paper_batch_size": 64,
               "paper_lr": 3e-3}


def paper_params(options: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """``shared`` run parameters with the ``paper_*`` options in place: the runs of the paper's encoder-decoder."""
    return {**shared, **{key: options[f"paper_{key}"] for key in PAPER_OPTIONS}, "preset": "paper"}


def paper_model(p: dict[str, Any]) -> dict[str, Any]:
    """The paper model's width for run parameters ``p`` (one head as wide as the residual, an MLP twice as wide)."""
    return {"d_model": p["d_model"], "d_head": p["d_model"], "d_mlp": 2 * p["d_model"]}


def is_paper(r: RunResult) -> bool:
    return r.params.get("preset") == "paper"


def permutation_invariant_ceiling(batch) -> float:
    """The best accuracy any function of (the query token, the multiset of the sequence's tokens) reaches on
    ``batch``: per group of equal (multiset, r), the most frequent count. A bidirectional NoPE transformer is
    such a function (every layer is permutation-equivariant), so its accuracy on ``batch`` is at most this."""
    import torch

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
               "eval_every": 250, "eval_samples": 1024, "target": 0.999, "test_samples": 4096, **PAPER_SCALE,
               "paper_seeds": 5}
    quick = {"L": 24, "max_count": 24, "max_len": 64, "steps": 1500, "batch_size": 64, "test_samples": 2048,
             **PAPER_QUICK, "paper_max_len": 136, "paper_seeds": 3}
    seeds, quick_seeds = 5, 5

    def grid(self, options, seeds):
        shared = {key: options[key] for key in ("L", "R", "max_count", "max_len", "steps", "batch_size", "lr", "eval_every",
                                                "eval_samples", "target", "test_samples")}
        cells = [(attention, positional) for attention in options["attention"] for positional in options["positional"]]
        decoder_only = [RunSpec(f"{a} {p}", {**shared, "attention": a, "positional": p}, seed)
                        for a, p in cells for seed in range(seeds)]
        paper = paper_params(options, shared)
        return decoder_only + [RunSpec(f"paper {a} {p}", {**paper, "attention": a, "positional": p}, seed)
                               for a, p in cells for seed in range(options["paper_seeds"])]

    def measure(self, spec, device):
        import torch

        p = spec.params
        width = paper_model(p) if is_paper(spec) else {}
        model, task, metrics = train_counting(p, spec.seed, device, attention_dir=p["attention"], positional=p["positional"],
                                              **width)
        batch = task.sample(p["test_samples"], spec.seed + 2).to(device)
        with torch.no_grad():
            accuracy = task.evaluate(model(batch.inputs), batch)["accuracy"]
        out = {"accuracy": accuracy, "steps": metrics["steps"],
               "mechanisms": {"transformer": mechanism(model, task, accuracy >= GOOD, spec.seed)}}
        if p["attention"] == "bidirectional" and p["positional"] == "none":
            out["ceiling"] = permutation_invariant_ceiling(batch.to("cpu"))
        return out

    def rows(self, options):
        cells = [(a, p) for a in options["attention"] for p in options["positional"]]
        width = family_of("counting").model(counting_task(options))["d_model"]
        paper = self.cell_rows(cells, options["positional"], options["paper_L"], options["paper_d_model"], PAPER_MODEL,
                               is_paper, budget=partial(unless_out_of_budget, short=short_of_paper(options),
                                                        target=options["target"])) if options["paper_seeds"] else []
        return self.cell_rows(cells, options["positional"], options["L"], width, DECODER_ONLY,
                              lambda r: not is_paper(r)) + paper

    @classmethod
    def cell_rows(cls, cells: list[tuple[str, str]], positionals: list[str], L: int, width: int, label: str,
                  layout: Callable[[RunResult], bool],
                  budget: Callable[[Callable], Callable] = lambda statistic: statistic) -> list[RowSpec]:
        """The rows of one model layout (``layout`` picks its runs), each name ending in ``label``; ``budget`` wraps
        the statistics of the rows about the accuracy training reaches (``unless_out_of_budget``)."""
        def of(attention: str, positional: str | None = None) -> Callable[[RunResult], bool]:
            return lambda r: layout(r) and of_cell(attention, positional)(r)

        specs = [RowSpec(
            f"causal {name} counts near 100 % in distribution{label}",
            Reference("close to 100 %", f"{GOLKAR} (abstract: causal NoPE best, rotary competitive; {BLOG}: close to "
                                        "100 %)", "paper"),
            budget(causal_accuracy), AllOf((AtLeast(0.99, 0.95), AtLeast(0.95, -math.inf)), (
                "reproduced if the best seed reaches >= {rules[0].reproduced} and the median >= {rules[1].reproduced}; "
                "partial if the best seed reaches >= {rules[0].partial}")),
            runs=of("causal", positional)) for positional, name in (("none", "NoPE"), ("rotary", "rotary"))
            if ("causal", positional) in cells]
        if any(a == "bidirectional" for a, _ in cells):
            specs.append(RowSpec(
                f"bidirectional attention fails with every positional code{label}",
                Reference("non-causal transformers fail to perform well with any positional encoding", f"{GOLKAR}; {BLOG}",
                          "paper"),
                partial(bidirectional_failure, positionals=positionals, L=L, width=width),
                Holds(f"reproduced if no bidirectional seed reaches {GOOD}; partial if every bidirectional cell's median "
                      "is below it"), runs=of("bidirectional")))
        if ("bidirectional", "none") in cells:
            specs.append(RowSpec(
                f"bidirectional NoPE cannot count by region{label}",
                Reference("accuracy <= the best any function of (query, multiset of tokens) reaches: a bidirectional NoPE "
                          "transformer is permutation-equivariant", f"{THEORY} (Prop. 3 of {GOLKAR}, secondary)", "proof"),
                under_ceiling, AtMost(0.005, sentence_template=(
                    "reproduced if every seed's accuracy is at most its test set's permutation-invariant ceiling "
                    "(+{reproduced} for floating-point ties); not reproduced otherwise (a violation would be a bug)")),
                runs=of("bidirectional", "none")))
        return specs + cls.variance_rows(cells, label, layout, budget)

    @staticmethod
    def variance_rows(cells: list[tuple[str, str]], label: str, layout: Callable[[RunResult], bool],
                      budget: Callable[[Callable], Callable]) -> list[RowSpec]:
        """The rows about the best seed and the spread over seeds, shown when some causal NoPE run finished."""
        def nope_finished(runs):
            return bool(ok_results(runs, attention="causal", positional="none"))

        return [RowSpec(
            f"NoPE has the best single seed{label}",
            Reference("no positional embedding gives the best accuracy", f"{GOLKAR} (abstract)", "paper"),
            budget(partial(nope_best, cells=cells)), Holds(
                "reproduced if the best causal NoPE seed is at least as accurate as every other cell's best seed; "
                f"partial if within {RIVAL_MARGIN} of it"), runs=layout, shown_if=nope_finished), RowSpec(
            f"NoPE varies most over seeds, rotary least (causal){label}",
            Reference("NoPE training is high-variance; rotary is much more consistent",
                      f"{BLOG}; {GOLKAR} (abstract: rotary easier to train)", "paper"),
            partial(seed_ranges, cells=cells), Holds(
                "reproduced if among the causal cells NoPE has the widest range of accuracy over seeds and rotary the "
                "narrowest; partial if one of the two holds"), runs=lambda r: layout(r) and of_cell("causal")(r),
            shown_if=nope_finished)]

    def plots(self, results, options, seeds):
        cells = [(a, p) for a in options["attention"] for p in options["positional"]]
        plots = []
        for name, runs, L, n in (("accuracy_by_cell", [r for r in results if not is_paper(r)], options["L"], seeds),
                                 ("paper_accuracy_by_cell", [r for r in results if is_paper(r)], options["paper_L"],
                                  options["paper_seeds"])):
            stats = cell_spreads(runs, cells)
            if any(s["high"] is not None for s in stats.values()):
                model = "the paper's encoder-decoder" if name.startswith("paper") else "decoder-only adaptation"
                plots.append(Plot.bars(
                    name, f"{model}: in-distribution accuracy (L = {L}) over {n} seeds",
                    [f"{a[:6]} {p}" for a, p in cells],
                    {key: [stats[c][field] for c in cells]
                     for key, field in (("worst", "low"), ("median", "median"), ("best", "high"))},
                    hline=GOOD, ylabel="accuracy"))
        return plots

    def notes(self, results, options, seeds):
        return (
            f"The toolkit's counting model (2 layers, 1 head, d_model 64, d_mlp 128) with its attention direction and "
            f"positional code set per cell, trained on L = {options['L']}, R = {options['R']} regions ({options['steps']} "
            f"steps at most, batches of {options['batch_size']}, AdamW {options['lr']:g}, cosine schedule, stopping at "
            f"held-out accuracy {options['target']}); accuracy on {options['test_samples']} fresh sequences. The paper "
            "trained at L = 512 with 4 regions; the quick scale is far shorter. " + paper_notes(options))


RIVAL_MARGIN = 0.01  # how far below the best other cell's best seed NoPE's may be for partial


def short_of_paper(options: dict[str, Any]) -> str | None:
    """How the paper model's runs fall short of the paper's scale (its L, and the full scale's step budget), or None
    where they do not."""
    L, steps = options["paper_L"], options["paper_steps"]
    if L >= PAPER_SCALE["paper_L"] and steps >= PAPER_SCALE["paper_steps"]:
        return None
    return (f"L = {L} and {steps} steps, short of the paper's L = {PAPER_SCALE['paper_L']} and the full scale's "
            f"{PAPER_SCALE['paper_steps']} steps")


def unless_out_of_budget(statistic: Callable[[list[RunResult]], Measured], short: str | None,
                         target: float) -> Callable[[list[RunResult]], Measured]:
    """``statistic``, or untested where the runs fall ``short`` of the paper's scale and every one of them spent its
    whole step budget below the ``target`` accuracy: what training reaches, a budget that ran out cannot decide
    (what the runs reached stays in the row)."""
    if short is None:
        return statistic

    def ran_out(runs: list[RunResult]) -> Untested | None:
        finished = ok_results(runs)
        if finished and all(r.measurements["steps"] >= r.params["steps"] for r in finished):
            return Untested(f"the budget ran out: each of the {len(finished)} runs trained all its steps without "
                            f"reaching held-out accuracy {target} ({short})")
        return None

    return gated(statistic, ran_out)


# The row-name endings that say which model a row is about.
DECODER_ONLY, PAPER_MODEL = ": decoder-only adaptation", ": the paper's encoder-decoder"


def paper_notes(options: dict[str, Any]) -> str:
    return (f"Rows ending '{PAPER_MODEL}' train the paper's model (the counting family's `paper` preset: an "
            f"encoder-decoder, one layer and one head on each side, d_model {options['paper_d_model']}, d_mlp "
            f"{2 * options['paper_d_model']}) at L = {options['paper_L']}, R = {options['paper_R']} ({options['paper_steps']} "
            f"steps at most, batches of {options['paper_batch_size']}, AdamW {options['paper_lr']:g}). The paper's own "
            "scale (L = 512) was not run here: no GPU was at hand.")


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
    if width >= L and best is not None:
        # The paper's setting has sequences longer than the model is wide (L = 512); at or below the width, positions
        # can emulate causality (Prop. 4), and the claim's setting never arose.
        value = Untested(f"the claim's setting never arose: at L = {L} the model's width ({width}) is at least the "
                         "length, where Prop. 4's bound no longer forbids positions from emulating causal attention; the "
                         "paper's setting has sequences longer than the model is wide (L = 512)")
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
    from ..analysis.counting import accuracy_within

    return {str(L): {str(R): accuracy_within(model, task.fixed(R=R, L=L), cap, samples, seed)["accuracy"]
                     for R in regions} for L in lengths}


class CountingBias(Experiment):
    name = "counting-bias"
    title = "The bias token a seed picks predicts where it generalises: BOS in length and regions, ] in length only"
    paper = GOLKAR
    # Training always has R regions (as the paper's 4), so that a `]` bias can arise; region counts R' < R are
    # scored through query tokens the model was trained on, counts above R would not be (never scored).
    options = {"L": 64, "R": 4, "max_count": 64, "max_len": 272, "length_factors": [1, 2, 4], "steps": 5000,
               "batch_size": 128, "lr": 3e-3, "eval_every": 250, "eval_samples": 1024, "target": 0.995, "test_samples": 1024,
               **PAPER_SCALE, "paper_max_len": 2064}
    quick = {"L": 24, "R": 3, "max_count": 24, "max_len": 112, "steps": 1500, "batch_size": 64, "test_samples": 512,
             **PAPER_QUICK, "paper_max_len": 520}
    seeds, quick_seeds = 20, 10

    def grid(self, options, seeds):
        shared = {key: options[key] for key in ("L", "R", "max_count", "max_len", "length_factors", "steps", "batch_size",
                                                "lr", "eval_every", "eval_samples", "target", "test_samples")}
        specs = []
        for params in (shared, paper_params(options, shared)):
            prefix = "paper " if params is not shared else ""
            specs += [RunSpec(f"{prefix}trained", {**params, "model": "trained"}, seed) for seed in range(seeds)]
            specs += [RunSpec(f"{prefix}{name}", {**params, "model": name}, 0) for name in ("construction", "twin")]
        return specs

    def measure(self, spec, device):
        from ..analysis.counting import CountingContext, count_cap
        from ..analysis.counting_paper import analyze_context
        from ..constructions import counting, counting_close_bias, counting_paper, counting_paper_close_bias
        from ..models import on_device

        p = spec.params
        task = counting_task(p)
        paper = is_paper(spec)
        if p["model"] == "trained":
            model, task, metrics = train_counting(p, spec.seed, device, **(paper_model(p) if paper else {}))
            steps = metrics["steps"]
        else:
            builders = {"construction": counting_paper if paper else counting,
                        "twin": partial(counting_paper_close_bias if paper else counting_close_bias, trained_regions=task.R)}
            model, steps = on_device(builders[p["model"]](task), device), 0
        out: dict[str, Any] = {}
        if paper:
            context, analysis = analyze_context(model, task, samples=p["test_samples"], seed=spec.seed + 2)
            out = {"mechanism": analysis.assessment.status, "mechanism_line": analysis.mechanism}
        else:
            context = CountingContext(model, task, samples=p["test_samples"], seed=spec.seed + 2)
        # The construction is exact up to max_count; a trained model only up to the counts it learned to give.
        cap = task.max_count if p["model"] != "trained" else count_cap(task, seed=spec.seed)
        lengths = [f * task.L for f in p["length_factors"]]
        grid = ood_grid(model, task, lengths, list(range(1, task.R + 1)), cap, p["test_samples"], spec.seed + 3)
        if p["model"] == "trained":  # the census of every trained model (the paper model's status is its analysis's)
            solved = context.metrics["accuracy"] >= GOOD
            out["mechanisms"] = {"transformer": {"status": out["mechanism"], "solved": solved} if paper
                                 else mechanism(model, task, solved, spec.seed)}
        return {"bias": context.bias, "split": context.split, "accuracy": context.metrics["accuracy"], "grid": grid,
                "count_cap": cap, "steps": steps, **out}

    def rows(self, options):
        paper = self.layout_rows(options, PAPER_MODEL, is_paper) + [RowSpec(
            f"solving seeds that have the paper's circuit{PAPER_MODEL}",
            Reference("the encoder attends equally to the delimiters so far; the cross-attention for region r to its 1s "
                      "plus BOS (the mechanism described for the solutions with BOS as the bias)", BLOG, "paper"),
            mechanism_census, Holds(
                "reproduced if at least one seed that solves the task in distribution has the predicted circuit (every "
                "mechanism probe found); partial if one has it in part; not reproduced if none does; untested if no seed "
                "solves the task"), runs=lambda r: is_paper(r) and r.params["model"] == "trained")]
        return self.layout_rows(options, DECODER_ONLY, lambda r: not is_paper(r)) + paper

    @staticmethod
    def layout_rows(options: dict[str, Any], label: str, layout: Callable[[RunResult], bool]) -> list[RowSpec]:
        """The rows of one model layout (``layout`` picks its runs), each name ending in ``label``."""
        R = options["paper_R"] if label == PAPER_MODEL else options["R"]

        def of(model: str) -> Callable[[RunResult], bool]:
            return lambda r: layout(r) and r.params["model"] == model

        trained = of("trained")
        specs = [RowSpec(
            f"census of bias tokens{label}",
            Reference("solutions differ by which tokens serve as the bias: BOS, `]`, or another quantity constant in "
                      "training", f"{GOLKAR} (abstract); {BLOG}", "paper"), bias_census,
            Share(1.0, 0.5, sentence_template=(
                "reproduced if {reproduced:part} seed's bias token is one whose count is constant in training (BOS, `]`, "
                "`[`, the queries), as a bias must be; partial if at least {partial:part} are")), runs=trained)]
        specs += [RowSpec(
            f"{bias}-bias seeds: {paper_says}{label}",
            Reference(paper_says, f"{BLOG}; {GOLKAR} (abstract: out-of-distribution performance is tied to the bias)",
                      "paper"),
            partial(bias_behaviour, bias=bias, expected=expected, options=options), Holds(
                f"reproduced if every {bias}-bias seed behaves so (worst accuracy >= {GOOD} where it should generalise, "
                "below where it should not), among the seeds that solve the task in distribution; partial if most do; "
                "not reproduced if none does; untested if no such seed has this bias"), runs=trained)
            for bias, expected, paper_says in (("BOS", {"length": True, "regions": True}, "generalises in length and regions"),
                                               ("]", {"length": True, "regions": False}, "generalises in length only"))]
        specs.append(RowSpec(
            f"the bias token predicts out-of-distribution behaviour (criterion: does its count change?){label}",
            Reference("a bias generalises where the number of its tokens stays as in training", f"{THEORY}; {GOLKAR}",
                      "paper"),
            partial(prediction_agreement, options=options, adaptation=label == DECODER_ONLY),
            Share(0.9, 0.7, sentence_template=(
                f"reproduced if the prediction (bias_generalises) matches the measurement (worst accuracy >= {GOOD}) for "
                ">= {reproduced:percent} of (seed, direction) pairs of the seeds that solve the task in distribution; "
                "partial if >= {partial:percent}")), runs=trained))
        specs += [
            RowSpec(f"the construction is exact everywhere within its limits{label}",
                    Reference(1.0, f"{THEORY} (exact for counts up to max_count, any L, R <= max_regions)", "proof"),
                    worst_cell, AtLeast(1.0, 0.99, sentence_template=(
                        "reproduced if every (L', R') cell is {reproduced}; partial if >= {partial}")),
                    runs=of("construction")),
            RowSpec(f"the `]` twin is exact only at its trained R{label}",
                    Reference(f"1.0 at R = {R}; wrong for most nonzero counts elsewhere", THEORY, "proof"), twin_cells,
                    AllOf((AtLeast(1.0, 0.99), Holds(f"below {GOOD} at every other R'")), (
                        f"reproduced if it is {{rules[0].reproduced}} at R = {R} for every L' (partial if >= "
                        "{rules[0].partial}) and {rules[1]}")),
                    runs=of("twin"))]
        return specs

    def plots(self, results, options, seeds):
        plots = []
        for r in sorted(ok_results(results), key=lambda r: (is_paper(r), r.params["model"] != "trained", r.params["model"],
                                                             r.seed)):
            grid = r.measurements["grid"]
            lengths, regions = list(grid), list(next(iter(grid.values())))
            who = f"seed {r.seed}" if r.params["model"] == "trained" else r.params["model"]
            prefix, model = ("paper_", "encoder-decoder ") if is_paper(r) else ("", "")
            plots.append(Plot.heatmap(
                f"heatmap_{prefix}{r.params['model']}_{r.seed}", f"{model}{who}: bias token {r.measurements['bias']}; accuracy on counts <= "
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
            "up to max_count. " + paper_notes(options) + " Their bias token is the cross-attention's largest share outside "
            "the counted 1s, and the mechanism status (predicted / partly / absent) comes from the paper model's probes "
            "(interp.analysis.counting_paper).")


# Tokens whose count is fixed when every sequence has R regions: the only ones that can serve as a bias.
CONSTANT_TOKENS = {"BOS", "]", "[", "queries"}


def directions(r: RunResult, options: dict[str, Any]) -> dict[str, tuple[bool, float]]:
    """(predicted to generalise, worst accuracy) in each direction: longer sequences at the trained R, and fewer
    regions at the trained L."""
    from ..analysis.counting import bias_generalises

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


def prediction_agreement(runs: list[RunResult], options: dict[str, Any], adaptation: bool = False) -> Measured:
    """Whether bias_generalises predicts each (solving seed, direction) pair's measurement; ``adaptation``: the runs
    are the toolkit's decoder-only model, not the paper's, and the detail says what a miss then means."""
    trained = solving(runs)
    pairs = [(r.seed, k, predicted, worst) for r in trained for k, (predicted, worst) in directions(r, options).items()]
    agree = [(worst >= GOOD) == predicted for _, _, predicted, worst in pairs]
    reason = "no (seed, direction) pair to check: " + (
        "the options ask for no longer length and no fewer regions" if trained else "no seed solves the task in distribution")
    misses = "; ".join(f"seed {s} {k}: predicted {'generalises' if pr else 'fails'}, worst {w:.3f}"
                       for s, k, pr, w in pairs if (w >= GOOD) != pr) or "every pair agrees"
    measured = (f"{sum(agree)} of {len(pairs)} (seed, direction) pairs agree, from the {len(trained)} seeds that solve the "
                f"task in distribution (accuracy >= {GOOD}: the condition arose, each measured at its worst cell, on "
                "the counts the seed was trained to give: not a budget artifact"
                + ("; the model is the toolkit's decoder-only one, so a miss says the paper's rule does not carry over "
                   "to it, not that it fails on the paper's encoder-decoder" if adaptation else "") + "); "
                if pairs else "")
    return Measured(agree or Untested(reason), {"agreement": sum(agree) / len(pairs) if pairs else None, "pairs": len(pairs)},
                    measured + misses)


def mechanism_census(runs: list[RunResult]) -> Measured:
    """How many seeds have the predicted circuit, in part or not at all, among those that solve the task; the value:
    (some solving seed has it, some has it at least in part)."""
    finished, solved = ok_results(runs), solving(runs)

    def census(group: list[RunResult]) -> dict[str, list[int]]:
        return {status: [r.seed for r in group if r.measurements["mechanism"] == status]
                for status in ("predicted", "partly", "absent")}

    among_solved, among_all = census(solved), census(finished)
    value = ((bool(among_solved["predicted"]), bool(among_solved["predicted"] or among_solved["partly"])) if solved
             else Untested("no seed solves the task in distribution"))
    return Measured(value, {"seeds": len(finished), "solved": len(solved),
                            "solved_census": {k: len(v) for k, v in among_solved.items()},
                            "all_census": {k: len(v) for k, v in among_all.items()}},
                    f"{len(solved)} of {len(finished)} seeds solve the task (accuracy >= {GOOD}); mechanism of every "
                    "seed: " + ", ".join(f"{status} {len(seeds)}" + (f" (seeds {seeds})" if seeds else "")
                                         for status, seeds in among_all.items()) +
                    "; in-distribution accuracy " + ", ".join(f"seed {r.seed} {r.measurements['accuracy']:.3f}"
                                                               for r in finished))


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
