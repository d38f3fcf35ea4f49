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

import statistics
from collections import Counter
from typing import Any

import torch

from ..defaults import model_defaults
from ..grading import Untested, weakest
from ..tasks import CountingTask
from ..tasks.counting import CLOSE, IGNORE, ONE, OPEN, ZERO
from ..viz.figures import Plot
from .base import Experiment, Reference, RunSpec, Summary, at_least, row
from .statistics import NO_FINISHED_RUN, ok_results, spread

GOLKAR = "Golkar et al. 2024 (arXiv 2406.02585)"
BLOG = "Golkar et al. 2024, the first author's blog post (secondary)"
THEORY = "docs/theory/counting.md"
GOOD = 0.95  # the accuracy at which a setting counts as solved (the analysis's generalisation claims use it too)


def counting_task(p: dict[str, Any]) -> CountingTask:
    return CountingTask(L=p["L"], R=p["R"], R_min=p.get("R_min"), max_count=p["max_count"], max_len=p["max_len"])


def train_counting(p: dict[str, Any], seed: int, device: str, **model: Any):
    """The toolkit's default counting transformer (``interp.defaults``) on ``p``'s task and training settings."""
    from ..defaults import configure
    from ..training import train

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

    def summarize(self, results, options, seeds):
        cells = [(a, p) for a in options["attention"] for p in options["positional"]]

        def accuracies(attention, positional):
            return [r.measurements["accuracy"] for r in ok_results(results, attention=attention, positional=positional)]

        def runs(attention=None, positional=None):
            return [r for r in results if (attention is None or r.params["attention"] == attention)
                    and (positional is None or r.params["positional"] == positional)]

        stats = {cell: spread(accuracies(*cell)) for cell in cells}
        rows = []
        for positional, label in (("none", "NoPE"), ("rotary", "rotary")):
            if ("causal", positional) not in stats:
                continue
            s = stats["causal", positional]
            rows.append(row(
                f"causal {label} counts near 100 % in distribution",
                Reference("close to 100 %", f"{GOLKAR} (abstract: causal NoPE best, rotary competitive; {BLOG}: close to "
                                            "100 %)", "paper"),
                s, "reproduced if the best seed reaches >= 0.99 and the median >= 0.95; partial if the best seed reaches >= 0.95",
                Untested(NO_FINISHED_RUN) if s["high"] is None else
                "reproduced" if s["high"] >= 0.99 and s["median"] >= 0.95 else
                "partial" if s["high"] >= 0.95 else "not_reproduced",
                detail=f"accuracy per seed {sorted(round(a, 3) for a in accuracies('causal', positional))}",
                results=runs("causal", positional)))
        bidirectional = [cell for cell in cells if cell[0] == "bidirectional"]
        width = model_defaults(counting_task(options))["d_model"]
        if bidirectional:
            best = max((stats[c]["high"] for c in bidirectional if stats[c]["high"] is not None), default=None)
            medians = [stats[c]["median"] for c in bidirectional]
            rows.append(row(
                "bidirectional attention fails with every positional code",
                Reference("non-causal transformers fail to perform well with any positional encoding", f"{GOLKAR}; {BLOG}",
                          "paper"),
                {f"{p}": stats["bidirectional", p] for _, p in bidirectional},
                f"reproduced if no bidirectional seed reaches {GOOD}; partial if every bidirectional cell's median is below it",
                Untested(NO_FINISHED_RUN) if best is None else "reproduced" if best < GOOD else
                "partial" if medians and all(m is not None and m < GOOD for m in medians) else "not_reproduced",
                detail="; ".join(f"{p}: median {stats['bidirectional', p]['median']:.3f}, best {stats['bidirectional', p]['high']:.3f}"
                                 for _, p in bidirectional if stats["bidirectional", p]["median"] is not None)
                + (f". At L = {options['L']} the model's width ({width}) is at least the length, so Prop. 4's bound (width "
                   ">= length for absolute positions to emulate causality) does not forbid the learned cell"
                   if width >= options["L"] else ""), results=runs("bidirectional")))
        if ("bidirectional", "none") in stats:
            group = ok_results(results, attention="bidirectional", positional="none")
            excess = [r.measurements["accuracy"] - r.measurements["ceiling"] for r in group]
            ceilings = [r.measurements["ceiling"] for r in group]
            rows.append(row(
                "bidirectional NoPE cannot count by region",
                Reference("accuracy <= the best any function of (query, multiset of tokens) reaches: a bidirectional NoPE "
                          "transformer is permutation-equivariant", f"{THEORY} (Prop. 3 of {GOLKAR}, secondary)", "proof"),
                {"accuracy": spread([r.measurements["accuracy"] for r in group]), "ceiling": spread(ceilings),
                 "largest_excess": max(excess) if excess else None},
                "reproduced if every seed's accuracy is at most its test set's permutation-invariant ceiling (+0.005 for "
                "floating-point ties); not reproduced otherwise (a violation would be a bug)",
                Untested(NO_FINISHED_RUN) if not excess else "reproduced" if max(excess) <= 0.005 else "not_reproduced",
                detail=f"ceiling {statistics.median(ceilings):.3f} (the most frequent count given the number of 1s): the "
                       "model can only guess from how many 1s the sequence has" if ceilings else "",
                results=runs("bidirectional", "none")))
        causal = [cell for cell in cells if cell[0] == "causal" and stats[cell]["high"] is not None]
        if ("causal", "none") in causal:
            nope_best = stats["causal", "none"]["high"]
            rival = max((stats[c]["high"] for c in cells if c != ("causal", "none") and stats[c]["high"] is not None),
                        default=None)
            rows.append(row(
                "NoPE has the best single seed",
                Reference("no positional embedding gives the best accuracy", f"{GOLKAR} (abstract)", "paper"),
                {"nope_best": nope_best, "best_other_cell": rival},
                "reproduced if the best causal NoPE seed is at least as accurate as every other cell's best seed; partial if "
                "within 0.01 of it", "reproduced" if rival is None or nope_best >= rival else
                "partial" if nope_best >= rival - 0.01 else "not_reproduced",
                detail="best seed per cell: " + ", ".join(f"{a} {p}: {stats[a, p]['high']:.3f}" for a, p in cells
                                                          if stats[a, p]["high"] is not None),
                results=results))
            ranges = {c[1]: stats[c]["high"] - stats[c]["low"] for c in causal}
            widest, narrowest = max(ranges, key=ranges.get), min(ranges, key=ranges.get)
            holds = [widest == "none", narrowest == "rotary"]
            rows.append(row(
                "NoPE varies most over seeds, rotary least (causal)",
                Reference("NoPE training is high-variance; rotary is much more consistent",
                          f"{BLOG}; {GOLKAR} (abstract: rotary easier to train)", "paper"),
                {"range_over_seeds": ranges},
                "reproduced if among the causal cells NoPE has the widest range of accuracy over seeds and rotary the "
                "narrowest; partial if one of the two holds",
                "reproduced" if all(holds) else "partial" if any(holds) else "not_reproduced",
                detail=", ".join(f"{p}: {stats['causal', p]['low']:.3f}..{stats['causal', p]['high']:.3f}" for _, p in causal),
                results=runs("causal")))
        labels = [f"{a[:6]} {p}" for a, p in cells]
        plot = Plot.bars("accuracy_by_cell", f"In-distribution accuracy (L = {options['L']}, R = {options['R']}) over "
                         f"{seeds} seeds", labels, {key: [stats[c][field] for c in cells]
                                                    for key, field in (("worst", "low"), ("median", "median"), ("best", "high"))},
                         hline=GOOD, ylabel="accuracy")
        return Summary(rows, [plot], notes=(
            f"The toolkit's counting model (2 layers, 1 head, d_model 64, d_mlp 128) with its attention direction and "
            f"positional code set per cell, trained on L = {options['L']}, R = {options['R']} regions ({options['steps']} "
            f"steps at most, batches of {options['batch_size']}, AdamW {options['lr']:g}, cosine schedule, stopping at "
            f"held-out accuracy {options['target']}); accuracy on {options['test_samples']} fresh sequences. The paper "
            "trained at L = 512 with 4 regions; the quick scale is far shorter."))


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
               "batch_size": 128, "lr": 3e-3, "eval_every": 250, "eval_samples": 1024, "target": 0.995, "test_samples": 1024}
    quick = {"L": 24, "R": 3, "max_count": 24, "max_len": 112, "steps": 1500, "batch_size": 64, "test_samples": 512}
    seeds, quick_seeds = 20, 10

    def grid(self, options, seeds):
        shared = {key: options[key] for key in ("L", "R", "max_count", "max_len", "length_factors", "steps", "batch_size",
                                                "lr", "eval_every", "eval_samples", "target", "test_samples")}
        specs = [RunSpec("trained", {**shared, "model": "trained"}, seed) for seed in range(seeds)]
        return specs + [RunSpec(name, {**shared, "model": name}, 0) for name in ("construction", "twin")]

    def measure(self, spec, device):
        from ..analysis.counting import CountingContext, count_cap
        from ..constructions import counting, counting_close_bias
        from ..models import on_device

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

    @staticmethod
    def directions(r, options) -> dict[str, tuple[bool, float]]:
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

    def summarize(self, results, options, seeds):
        finished = ok_results(results, model="trained")
        asked = [r for r in results if r.params["model"] == "trained"]
        # Only a seed that solves the task in distribution has a solution whose bias can be asked where it generalises.
        trained = [r for r in finished if r.measurements["accuracy"] >= GOOD]
        unsolved = [r for r in finished if r.measurements["accuracy"] < GOOD]
        left_out = ("; left out of the rows below (in-distribution accuracy under "
                    f"{GOOD}): " + ", ".join(f"seed {r.seed} ({r.measurements['accuracy']:.3f})" for r in unsolved)
                    if unsolved else "")
        census = Counter(r.measurements["bias"] for r in finished)
        constant = {"BOS", "]", "[", "queries"}  # tokens whose count is fixed when every sequence has R regions
        share = sum(n for b, n in census.items() if b in constant) / len(finished) if finished else None
        rows = [row(
            "census of bias tokens",
            Reference("solutions differ by which tokens serve as the bias: BOS, `]`, or another quantity constant in "
                      "training", f"{GOLKAR} (abstract); {BLOG}", "paper"),
            {"census": dict(census), "seeds": len(finished), "solved": len(trained)},
            "reproduced if every seed's bias token is one whose count is constant in training (BOS, `]`, `[`, the "
            "queries), as a bias must be; partial if at least half are",
            at_least(share, 1.0, 0.5, missing=NO_FINISHED_RUN),
            detail=", ".join(f"seed {r.seed}: {r.measurements['bias']} (in-distribution accuracy "
                             f"{r.measurements['accuracy']:.3f})" for r in finished) + left_out, results=asked)]
        for bias, expected, paper_says in (("BOS", {"length": True, "regions": True}, "generalises in length and regions"),
                                           ("]", {"length": True, "regions": False}, "generalises in length only")):
            group = [r for r in trained if r.measurements["bias"] == bias]
            seen = {r.seed: {k: w for k, (_, w) in self.directions(r, options).items()} for r in group}
            agree = [all((w >= GOOD) == expected[k] for k, w in d.items()) for d in seen.values()]
            rows.append(row(
                f"{bias}-bias seeds: {paper_says}",
                Reference(paper_says, f"{BLOG}; {GOLKAR} (abstract: out-of-distribution performance is tied to the bias)",
                          "paper"),
                {"seeds": len(group), "agreeing": sum(agree)},
                f"reproduced if every {bias}-bias seed behaves so (worst accuracy >= {GOOD} where it should generalise, "
                f"below where it should not), among the seeds that solve the task in distribution; partial if most do; not "
                "reproduced if none does; untested if no such seed has this bias",
                (Untested(f"no seed that solves the task in distribution has {bias} as its bias token") if not agree else
                 "reproduced" if all(agree) else "partial" if sum(agree) > len(agree) / 2 else "not_reproduced"),
                detail="; ".join(f"seed {s}: " + ", ".join(f"{k} {w:.3f}" for k, w in d.items()) for s, d in seen.items()),
                results=asked))
        pairs = [(r.seed, k, predicted, worst) for r in trained for k, (predicted, worst) in self.directions(r, options).items()]
        agreeing = [p for p in pairs if (p[3] >= GOOD) == p[2]]
        rate = len(agreeing) / len(pairs) if pairs else None
        rows.append(row(
            "the bias token predicts out-of-distribution behaviour (criterion: does its count change?)",
            Reference("a bias generalises where the number of its tokens stays as in training", f"{THEORY}; {GOLKAR}",
                      "paper"),
            {"agreement": rate, "pairs": len(pairs)},
            f"reproduced if the prediction (bias_generalises) matches the measurement (worst accuracy >= {GOOD}) for >= 90 % "
            "of (seed, direction) pairs of the seeds that solve the task in distribution; partial if >= 70 %",
            at_least(rate, 0.9, 0.7, missing="no (seed, direction) pair to check: " + (
                "the options ask for no longer length and no fewer regions" if trained else
                "no seed solves the task in distribution")),
            detail="; ".join(f"seed {s} {k}: predicted {'generalises' if pr else 'fails'}, worst {w:.3f}"
                             for s, k, pr, w in pairs if (w >= GOOD) != pr) or "every pair agrees", results=asked))
        for name, label in (("construction", "the construction is exact everywhere within its limits"),
                            ("twin", "the `]` twin is exact only at its trained R")):
            group = ok_results(results, model=name)
            runs_ = [r for r in results if r.params["model"] == name]
            if not group:
                rows.append(row(label, Reference(1.0, THEORY, "proof"), {}, "the run must finish",
                                Untested(NO_FINISHED_RUN), results=runs_))
                continue
            grid, R = group[0].measurements["grid"], group[0].params["R"]
            if name == "construction":
                worst = min(v for by_R in grid.values() for v in by_R.values())
                rows.append(row(label, Reference(1.0, f"{THEORY} (exact for counts up to max_count, any L, R <= max_regions)",
                                                 "proof"), {"worst": worst},
                                "reproduced if every (L', R') cell is 1.0", at_least(worst, 1.0, 0.99), results=runs_))
            else:
                at_R = min(by_R[str(R)] for by_R in grid.values())
                off_R = max(v for by_R in grid.values() for k, v in by_R.items() if k != str(R))
                rows.append(row(label, Reference(f"1.0 at R = {R}; wrong for most nonzero counts elsewhere", THEORY, "proof"),
                                {"worst_at_trained_R": at_R, "best_elsewhere": off_R},
                                f"reproduced if it is 1.0 at R = {R} for every L' and below {GOOD} at every other R'",
                                weakest([at_least(at_R, 1.0, 0.99), "reproduced" if off_R < GOOD else "not_reproduced"]),
                                results=runs_))
        plots = []
        for r in sorted([*finished, *ok_results(results, model="construction"), *ok_results(results, model="twin")],
                        key=lambda r: (r.params["model"] != "trained", r.params["model"], r.seed)):
            grid = r.measurements["grid"]
            lengths, regions = list(grid), list(next(iter(grid.values())))
            who = f"seed {r.seed}" if r.params["model"] == "trained" else r.params["model"]
            plots.append(Plot.heatmap(
                f"heatmap_{r.params['model']}_{r.seed}", f"{who}: bias token {r.measurements['bias']}; accuracy on counts <= "
                f"{r.measurements['count_cap']} (trained at L = {r.params['L']}, R = {r.params['R']})",
                [[grid[L][R] for L in lengths] for R in regions], [f"L={L}" for L in lengths], [f"R={R}" for R in regions]))
        return Summary(rows, plots, notes=(
            f"{seeds} seeds of the toolkit's causal NoPE counting model trained on L = {options['L']} with R = {options['R']} "
            f"regions in every sequence (up to {options['steps']} steps, batches of {options['batch_size']}); the bias token is "
            "the counting head's largest attention bucket besides the counted 1s. Heat maps: accuracy at L' x R' on the "
            "queries whose count the model was trained to give (up to the largest count at least 1 in 1000 training "
            "queries had: longer regions hold counts it never had to output, which fail whatever the circuit), R' <= R only "
            "(a count above R would be asked through a query token it never saw). The construction and the twin are scored "
            "up to max_count."))


COUNTING_EXPERIMENTS = [CountingAttention, CountingBias]
