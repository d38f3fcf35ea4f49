"""Han & Ghoshdastidar (arXiv 2502.07553) and Barak et al. (arXiv 2207.08799) on k-sparse parity, reproduced.

- ``parity-construction`` (E1): the hand-built model at sharpness 1x and 5x over n and k.
- ``parity-minimal`` (E2): the authors' minimal model (2 trainable numbers a head), seeds that reach
  100 %, when, and where the others stall; head angles over training.
- ``parity-frozen-attention`` (E3): the same model with its queries frozen at random and a trainable
  readout: accuracy with H = k heads, and the heads needed for 95 %, against n.
- ``parity-ffnn``: the smallest MLP that learns parity on a fixed sample budget, against n, beside the
  2k-parameter attention model on the same data.
- ``parity-online`` (E4): Barak et al.'s online MLP at widths 10 / 100 / 1000 on (50, 3), and the
  toolkit's default transformer on the same task: steps to solve.

Setups, reference numbers and what is not known about the papers: docs/theory/parity.md.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import torch

from ..grading import Untested, weakest
from ..tasks import ParityTask, evaluate
from ..viz.figures import Plot
from .base import Experiment, Reference, RunResult, RunSpec, Summary, at_least, at_most, row, within
from .statistics import NO_FINISHED_RUN, loglog_slope, ok_results, spread, too_few_sizes

HG = "Han & Ghoshdastidar 2025 (arXiv 2502.07553)"
BARAK = "Barak et al. 2022 (arXiv 2207.08799)"
NOTES_RUN = "docs/theory/parity.md"


def parity_data(n: int, k: int, seed: int, count: int) -> tuple[ParityTask, torch.Tensor, torch.Tensor]:
    """``count`` i.i.d. uniform bit strings (repeats allowed, as the authors draw them) and their labels,
    for the hidden subset drawn from ``seed``."""
    task = ParityTask(n=n, k=k, seed=seed)
    bits = torch.randint(0, 2, (count, n), generator=torch.Generator().manual_seed(seed + 1))
    return task, bits, task.labels(bits)


def hg_split(n: int, k: int, seed: int, fraction: float, cap: int | None = None) -> dict[str, Any]:
    """The authors' data: ``fraction * 2^n`` draws (capped), the first 75 % for training, the rest for testing."""
    count = int(fraction * 2**n) if cap is None else min(int(fraction * 2**n), cap)
    task, bits, labels = parity_data(n, k, seed, count)
    cut = int(0.75 * count)
    return {"task": task, "train": (bits[:cut], labels[:cut]), "test": (bits[cut:], labels[cut:])}


def train_pointer(cfg, seed: int, data: dict[str, Any], lr: float, epochs: int, eval_every: int,
                  record_every: int = 0, target: float = 1.0) -> dict[str, Any]:
    """Full-batch Adam on the pointer model's trainable parameters; stops at ``target`` test accuracy."""
    from ..models.pointer_parity import PointerParity, accuracy, squared_mean_hinge
    from ..training.fit import fit

    model = PointerParity(cfg, seed=seed)
    (x, y), (x_test, y_test) = data["train"], data["test"]
    x, x_test = x.float(), x_test.float()  # once, not every epoch
    params = [p for p in model.parameters() if p.requires_grad]
    subset = list(data["task"].subset)
    result = fit(
        model, torch.optim.Adam(params, lr=lr), lambda step: squared_mean_hinge(model(x), y),
        lambda: accuracy(model(x_test), y_test), max_steps=epochs, eval_every=eval_every, target=target,
        record=(lambda: {"angles": [round(a, 3) for a in model.angles().tolist()]}) if record_every else None,
    )
    with torch.no_grad():
        pattern = model.pattern()
        coverage = pattern[:, subset].sum(0)  # a_j: total attention on each bit of S
        out = {
            "subset": subset,
            "epochs": result.steps,
            "solved_at": result.reached_at,
            "test_accuracy": accuracy(model(x_test), y_test),
            "train_accuracy": accuracy(model(x), y),
            "mass_on_S": float(pattern[:, subset].sum() / cfg.n_heads),
            "min_coverage": float(coverage.min()),
            "angles": [round(a, 3) for a in model.angles().tolist()],
        }
    if record_every:
        out["formation"] = [h for h in result.history if h["step"] % record_every == 0 or h is result.history[-1]]
    return out


class ParityConstruction(Experiment):
    name = "parity-construction"
    title = "E1: the hand-built model is exact at 5x sharpness, approximate at 1x"
    paper = HG
    # The reference run's 72-98 % at 1x was measured on these (n, k); the 1x row is judged on them.
    options = {"ns": [20, 50, 200], "ks": [3, 5, 10], "scales": [1.0, 5.0], "samples": 20000,
               "reference_cells": [[20, 3], [20, 4], [20, 5], [50, 3], [100, 5], [200, 10]]}
    quick = {"samples": 2048}
    seeds, quick_seeds = 5, 2

    @staticmethod
    def cells(options) -> list[tuple[int, int]]:
        grid = [(n, k) for n in options["ns"] for k in options["ks"] if k <= n]
        return grid + [tuple(c) for c in options["reference_cells"] if tuple(c) not in grid]

    def grid(self, options, seeds):
        return [RunSpec(f"n={n} k={k} scale={scale:g}", {"n": n, "k": k, "scale": scale, "samples": options["samples"]}, seed)
                for n, k in self.cells(options) for scale in options["scales"] for seed in range(seeds)]

    def measure(self, spec, device):
        from ..analysis.common import attention_on_relevant
        from ..constructions import parity
        from ..models import on_device

        p = spec.params
        task = ParityTask(n=p["n"], k=p["k"], seed=spec.seed)
        model = on_device(parity(task, scale=p["scale"]), device)
        batch = task.sample(256, spec.seed + 1).to(device)
        return {"accuracy": evaluate(model, task, samples=p["samples"], seed=spec.seed + 2)["accuracy"],
                "mean_head_mass_on_S": float(attention_on_relevant(model, batch).sum()) / p["k"],
                "subset": list(task.subset)}

    def summarize(self, results, options, seeds):
        medians = {}
        for r in results:
            if r.ok:
                medians.setdefault((r.params["scale"], r.params["n"], r.params["k"]), []).append(r.measurements["accuracy"])
        medians = {key: statistics.median(v) for key, v in medians.items()}

        def text(cells):
            return ", ".join(f"(n={n}, k={k}) {m:.3f}" for (n, k), m in cells.items())

        sharp = {(n, k): m for (scale, n, k), m in medians.items() if scale == 5.0}
        reference_cells = [tuple(c) for c in options["reference_cells"]]
        blunt = {(n, k): m for (scale, n, k), m in medians.items() if scale == 1.0}
        on_reference = {c: blunt[c] for c in reference_cells if c in blunt}
        low, high = (min(on_reference.values()), max(on_reference.values())) if on_reference else (None, None)
        rows = [
            row("accuracy at 5x sharpness, every (n, k)", Reference(1.0, NOTES_RUN, "reference_run"),
                spread(list(sharp.values())), "reproduced if every cell's median accuracy is 1.0; partial if >= 0.99",
                at_least(min(sharp.values()) if sharp else None, 1.0, 0.99, missing=NO_FINISHED_RUN), detail=text(sharp),
                results=[r for r in results if r.params["scale"] == 5.0]),
            row("accuracy at 1x sharpness on the reference run's (n, k)", Reference([0.72, 0.98], NOTES_RUN, "reference_run"),
                {"low": low, "high": high, "cells": len(on_reference)},
                "reproduced if our lowest and highest cell medians both lie in [0.72, 0.98]; partial if within 0.02",
                weakest([within(low, 0.72, 0.98, 0.02, missing=NO_FINISHED_RUN),
                        within(high, 0.72, 0.98, 0.02, missing=NO_FINISHED_RUN)]), detail=text(on_reference),
                results=[r for r in results if r.params["scale"] == 1.0 and (r.params["n"], r.params["k"]) in reference_cells]),
        ]
        # docs/theory/parity.md: the two neighbours dominate the leak, so the decision is exact when 8 k^2 < n^scale.
        called_exact = {c: m for c, m in blunt.items() if 8 * c[1] ** 2 < c[0]}
        called_inexact = {c: m for c, m in blunt.items() if 8 * c[1] ** 2 >= c[0]}
        first = all(m == 1.0 for m in called_exact.values())
        second = all(m < 1.0 for m in called_inexact.values())
        rows.append(row(
            "at 1x, exact where 8 k^2 < n", Reference("exact iff 8 k^2 < n^scale (estimate)", "docs/theory/parity.md",
                                                      "closed_form"),
            {"exact_as_called": sum(m == 1.0 for m in called_exact.values()), "called_exact": len(called_exact),
             "inexact_as_called": sum(m < 1.0 for m in called_inexact.values()), "called_inexact": len(called_inexact)},
            "reproduced if every cell the estimate calls exact has accuracy 1.0 and every other cell is below 1.0; "
            "partial if only the first holds",
            Untested("no finished cell at 1x is one the estimate calls exact") if not called_exact else
            "reproduced" if first and second else "partial" if first else "not_reproduced",
            detail=f"called exact: {text(called_exact) or 'none'}; called inexact: {text(called_inexact) or 'none'}",
            results=[r for r in results if r.params["scale"] == 1.0]))
        series = {f"k={k}, {scale:g}x": [medians.get((scale, n, k)) for n in options["ns"]]
                  for scale in options["scales"] for k in options["ks"]}
        plot = Plot.lines("construction_accuracy", "Hand-built parity model: accuracy against n (median over subsets)",
                          options["ns"], series, xlabel="n", ylabel="accuracy", logx=True,
                          styles={name: ("-o" if "5x" in name else "--s") for name in series})
        return Summary(rows, [plot], notes="Sharpness c = scale * ln n / (1 - cos 2 pi / n): the score gap between "
                       "the pointed-at bit and its neighbours is scale * ln n. Each seed draws another hidden subset S.")


class ParityMinimal(Experiment):
    name = "parity-minimal"
    title = "E2: the authors' minimal model (2 numbers a head) finds S from some seeds and stalls from others"
    paper = HG
    options = {"configs": [[16, 3], [20, 4]], "lr": 0.1, "epochs": 10000, "fraction": 0.8, "eval_every": 10,
               "record_every": 100}
    quick = {"epochs": 4000}
    seeds, quick_seeds = 10, 10

    def grid(self, options, seeds):
        keys = ("lr", "epochs", "fraction", "eval_every", "record_every")
        return [RunSpec(f"n={n} k={k}", {"n": n, "k": k, **{key: options[key] for key in keys}}, seed)
                for n, k in options["configs"] for seed in range(seeds)]

    def measure(self, spec, device):
        from ..models.pointer_parity import PointerParityConfig

        p = spec.params
        data = hg_split(p["n"], p["k"], spec.seed, p["fraction"])
        cfg = PointerParityConfig(n=p["n"], k=p["k"], n_heads=p["k"])
        return train_pointer(cfg, spec.seed, data, p["lr"], p["epochs"], p["eval_every"], p["record_every"])

    def summarize(self, results, options, seeds):
        rows, plots = [], []
        for n, k in options["configs"]:
            group = ok_results(results, n=n, k=k)
            asked = [r for r in results if r.params["n"] == n and r.params["k"] == k]
            solved = [r for r in group if r.measurements["solved_at"] is not None]
            stalled = [r for r in group if r.measurements["solved_at"] is None]
            fraction = len(solved) / len(group) if group else None
            # Why a row about the solving (or the stalled) seeds has no case to look at.
            none_solved = NO_FINISHED_RUN if not group else f"no seed solved within {options['epochs']} epochs"
            none_stalled = NO_FINISHED_RUN if not group else f"no seed stalled: all {len(group)} solved"
            reference = (Reference("1 of 3 seeds reach 100 % (at epoch 3140); the others stall near 69 %", NOTES_RUN,
                                   "reference_run") if (n, k) == (16, 3) else
                         Reference("heads reach ~1.0 mass on distinct bits of S", f"{HG}, released heatmaps", "authors_code"))
            verdict = (Untested(NO_FINISHED_RUN) if not group else
                       "reproduced" if solved and stalled else "partial" if solved else "not_reproduced")
            rows.append(row(
                f"({n}, {k}): some seeds reach 100 % test accuracy, others stall", reference,
                {"solved": len(solved), "seeds": len(group), "fraction": fraction},
                "reproduced if at least one seed reaches 100 % and at least one stalls (spurious minima); partial if "
                "every seed solves; not reproduced if none does",
                verdict, detail=f"{len(solved)} of {len(group)} seeds solved within {options['epochs']} epochs",
                results=asked))
            epochs = [r.measurements["solved_at"] for r in solved]
            if (n, k) == (16, 3):
                rows.append(row(
                    "(16, 3): epoch at which a seed reaches 100 %", Reference(3140, NOTES_RUN, "reference_run"),
                    spread(epochs),
                    "reproduced if 3140 lies within the range of our solving seeds' epochs; partial if the median is "
                    "within a factor of 3 of it",
                    (Untested(none_solved) if not epochs else
                     "reproduced" if min(epochs) <= 3140 <= max(epochs) else
                     "partial" if 3140 / 3 <= statistics.median(epochs) <= 3140 * 3 else "not_reproduced"),
                    detail=f"epochs {sorted(epochs)}" if epochs else "", results=asked))
                accuracies = [r.measurements["test_accuracy"] for r in stalled]
                stall = statistics.median(accuracies) if accuracies else None
                rows.append(row(
                    "(16, 3): where stalled seeds sit", Reference(0.69, NOTES_RUN, "reference_run"), spread(accuracies),
                    "reproduced if the stalled seeds' median test accuracy is within 0.05 of 0.69; partial within 0.1",
                    within(stall, 0.64, 0.74, slack=0.05, missing=none_stalled),
                    detail="; ".join(f"seed {r.seed}: accuracy {r.measurements['test_accuracy']:.3f}, min coverage of S "
                                     f"{r.measurements['min_coverage']:.2f}, angles {r.measurements['angles']} "
                                     f"(S = {r.measurements['subset']})" for r in stalled),
                    results=asked))
            else:
                coverage = [r.measurements["min_coverage"] for r in solved]
                rows.append(row(
                    f"({n}, {k}): solving seeds cover every bit of S", reference, spread(coverage),
                    "reproduced if every solving seed puts >= 0.9 total attention on each bit of S (min_j a_j)",
                    at_least(min(coverage) if coverage else None, 0.9, 0.5, missing=none_solved),
                    detail=f"{len(solved)} solving seeds" if solved else "", results=asked))
            plots.append(self.formation_plot(n, k, group))
        return Summary(rows, [p for p in plots if p], notes=(
            "Model: per head a trainable 2-d query on circular codes (cos, sin)(2 pi j / n), temperature n/4, "
            "the frozen width-k zig-zag readout, squared mean hinge loss, Adam at lr 0.1, full batch on 0.8 * 2^n "
            "draws split 75/25: the authors' released setup. The formation plots show each head's pointer angle "
            "(in positions) over training; dashed lines are the bits of S."))

    @staticmethod
    def formation_plot(n: int, k: int, group: list[RunResult]) -> Plot | None:
        picked = sorted(group, key=lambda r: (r.measurements["solved_at"] is None, r.seed))[:1]
        picked += [r for r in sorted(group, key=lambda r: r.seed) if r.measurements["solved_at"] is None][:1]
        if not picked:
            return None
        series, epochs = {}, []
        for r in picked:
            history = r.measurements.get("formation", [])
            epochs = sorted(set(epochs) | {h["step"] for h in history})
        for r in picked:
            state = "solved" if r.measurements["solved_at"] is not None else "stalled"
            at = {h["step"]: h["angles"] for h in r.measurements.get("formation", [])}
            for h in range(k):
                series[f"seed {r.seed} ({state}) head {h}"] = [at[e][h] if e in at else None for e in epochs]
        for j in picked[0].measurements["subset"]:
            series[f"bit {j} of S"] = [j] * len(epochs)
        styles = {name: "--" for name in series if name.startswith("bit")}
        return Plot.lines(f"formation_n{n}_k{k}", f"({n}, {k}): head pointer angles over training",
                          epochs, series, xlabel="epoch", ylabel="pointer angle (positions)", styles=styles)


class ParityFrozenAttention(Experiment):
    name = "parity-frozen-attention"
    title = "E3: with attention frozen at random, parity needs more heads as n grows"
    paper = HG
    options = {"ns": [8, 12, 16, 24, 32], "k": 3, "head_factors": [1, 2, 4, 8, 16], "variants": ["soft", "sharp"],
               "data_cap": 40000, "epochs": 1500, "lr": 0.01, "readout_width": 64, "eval_every": 50}
    quick = {"ns": [8, 16, 32], "head_factors": [1, 4, 16], "epochs": 600}
    seeds, quick_seeds = 3, 2

    def grid(self, options, seeds):
        keys = ("k", "data_cap", "epochs", "lr", "readout_width", "eval_every")
        return [RunSpec(f"{variant} n={n} H={f * options['k']}",
                        {"variant": variant, "n": n, "heads": f * options["k"], **{key: options[key] for key in keys}}, seed)
                for variant in options["variants"] for n in options["ns"] for f in options["head_factors"]
                for seed in range(seeds)]

    def measure(self, spec, device):
        from ..constructions.parity import pointer_sharpness
        from ..models.pointer_parity import PointerParityConfig

        p = spec.params
        n = p["n"]
        # soft: the authors' init (unit queries, tau = n/4); sharp: the construction's sharpness, so each frozen
        # head points at one random position almost one-hot.
        norm = 1.0 if p["variant"] == "soft" else pointer_sharpness(n) * n / 4
        cfg = PointerParityConfig(n=n, k=p["k"], n_heads=p["heads"], query_norm=norm, readout="mlp",
                                  readout_width=p["readout_width"], train_queries=False)
        data = hg_split(n, p["k"], spec.seed, 0.8, cap=p["data_cap"])
        out = train_pointer(cfg, spec.seed, data, p["lr"], p["epochs"], p["eval_every"], target=1.0)
        return {k: out[k] for k in ("test_accuracy", "train_accuracy", "min_coverage", "subset")}

    def summarize(self, results, options, seeds):
        k, rows, plots = options["k"], [], []
        heads = [f * k for f in options["head_factors"]]
        for variant in options["variants"]:
            accuracy = {(n, h): [r.measurements["test_accuracy"] for r in ok_results(results, variant=variant, n=n, heads=h)]
                        for n in options["ns"] for h in heads}
            at_k = [statistics.median(accuracy[n, k]) for n in options["ns"] if accuracy[n, k]]
            group_k = [r for r in results if r.params["variant"] == variant and r.params["heads"] == k]
            big_n = [statistics.median(accuracy[n, k]) for n in options["ns"] if n >= 16 and accuracy[n, k]]
            rows.append(row(
                f"{variant} frozen heads, H = k: accuracy stays near chance",
                Reference("fails: fixed heads lose the O(k) efficiency", HG, "paper"), spread(at_k),
                "reproduced if the median test accuracy with H = k is <= 0.6 at every n >= 16; partial if <= 0.75",
                at_most(max(big_n) if big_n else None, 0.6, 0.75, missing="no finished run with H = k at n >= 16"),
                detail=", ".join(f"n={n}: {statistics.median(accuracy[n, k]):.3f}" for n in options["ns"] if accuracy[n, k]),
                results=group_k))
            needed = {}
            for n in options["ns"]:
                enough = [h for h in heads if accuracy[n, h] and statistics.median(accuracy[n, h]) >= 0.95]
                needed[n] = min(enough) if enough else None
            values = [needed[n] for n in options["ns"]]
            known = [v if v is not None else math.inf for v in values]
            monotone = all(a <= b for a, b in zip(known, known[1:]))
            grows = known[-1] > known[0]
            group = [r for r in results if r.params["variant"] == variant]
            rows.append(row(
                f"{variant} frozen heads: heads needed for 95 % grow with n",
                Reference("k-parity is learnable with fixed heads only if the number of heads or their norms grow "
                          "with n", HG, "paper"),
                {f"n={n}": ("> " + str(heads[-1])) if v is None else v for n, v in needed.items()},
                "reproduced if the smallest H reaching 95 % (median over seeds) never decreases with n and is larger "
                "(or beyond the largest H tried) at the largest n than at the smallest; partial if it only never "
                "decreases",
                Untested(f"no n reached 95 % with up to H = {heads[-1]} heads within {options['epochs']} epochs, so "
                         "there is no growth to see") if all(v is None for v in values) else
                "reproduced" if monotone and grows else "partial" if monotone else "not_reproduced",
                detail=f"H tried: {heads}", results=group))
            plots.append(Plot.lines(
                f"frozen_{variant}", f"{variant} frozen heads: test accuracy against n (median over seeds)", options["ns"],
                {f"H={h}": [statistics.median(accuracy[n, h]) if accuracy[n, h] else None for n in options["ns"]] for h in heads},
                xlabel="n", ylabel="test accuracy", hline=0.95))
        return Summary(rows, plots, notes=(
            "Queries frozen at random angles; a trainable ReLU readout (width "
            f"{options['readout_width']}) sees every head's attended bit mass. 'soft': the authors' init (unit "
            "queries, temperature n/4: nearly uniform attention); 'sharp': the construction's sharpness, so each head "
            "points almost one-hot at a random position. Data: min(0.8 * 2^n, data_cap) draws, split 75/25."))


class ParityFFNN(Experiment):
    name = "parity-ffnn"
    title = "Feed-forward networks need parameters growing with n; attention needs 2k"
    paper = HG
    options = {"ns": [10, 20, 30, 40], "k": 3, "widths": [2, 4, 8, 16, 32, 64, 128, 256], "train_size": 20000,
               "steps": 3000, "batch_size": 256, "lr": 3e-3, "target": 0.99, "eval_every": 100,
               "pointer_epochs": 5000, "pointer_lr": 0.1}
    quick = {"widths": [2, 4, 8, 16, 32, 64, 128], "steps": 2000}
    seeds, quick_seeds = 5, 3

    def grid(self, options, seeds):
        return [RunSpec(f"n={n}", {**{key: v for key, v in options.items() if key != "ns"}, "n": n}, seed)
                for n in options["ns"] for seed in range(seeds)]

    def measure(self, spec, device):
        from ..models import count_parameters
        from ..models.mlp import MLP
        from ..models.pointer_parity import PointerParityConfig
        from ..training.fit import fit

        p = spec.params
        n, k = p["n"], p["k"]
        task, bits, labels = parity_data(n, k, spec.seed, p["train_size"] + 4096)
        x, y = bits[: p["train_size"]].float(), labels[: p["train_size"]]
        x_test, y_test = bits[p["train_size"]:].float(), labels[p["train_size"]:]
        found = None
        tried = []
        for width in p["widths"]:
            model = MLP(n, [width], 1, seed=spec.seed)
            g = torch.Generator().manual_seed(spec.seed + width)

            def loss(step, model=model, g=g):
                idx = torch.randint(0, len(x), (p["batch_size"],), generator=g)
                return torch.nn.functional.binary_cross_entropy_with_logits(model(x[idx])[:, 0], y[idx].float())

            def test_accuracy(model=model):
                return ((model(x_test)[:, 0] > 0).long() == y_test).float().mean().item()

            result = fit(model, torch.optim.Adam(model.parameters(), lr=p["lr"]), loss, test_accuracy,
                         p["steps"], p["eval_every"], target=p["target"])
            tried.append({"width": width, "accuracy": result.final, "steps": result.steps})
            if result.reached_at is not None:
                found = {"width": width, "parameters": count_parameters(model, trainable_only=True)}
                break
        data = {"task": task, "train": (bits[: p["train_size"]], y), "test": (bits[p["train_size"]:], y_test)}
        pointer = train_pointer(PointerParityConfig(n=n, k=k, n_heads=k), spec.seed, data, p["pointer_lr"],
                                p["pointer_epochs"], p["eval_every"], target=p["target"])
        return {"mlp": found, "tried": tried, "pointer_solved": pointer["solved_at"] is not None,
                "pointer_accuracy": pointer["test_accuracy"], "pointer_parameters": 2 * k}

    def summarize(self, results, options, seeds):
        ns, good = options["ns"], [r for r in results if r.ok]
        points = [(r.params["n"], r.measurements["mlp"]["parameters"], r.seed) for r in good if r.measurements["mlp"]]
        missing = [(r.params["n"], r.seed) for r in good if not r.measurements["mlp"]]
        fit_ = loglog_slope([p[0] for p in points], [p[1] for p in points], groups=[p[2] for p in points])
        slope, low = fit_["slope"], fit_["low"]
        rows = [row(
            "MLP parameters needed to learn parity grow like n", Reference("Omega(n) parameters for feed-forward networks", HG, "paper"),
            fit_, "reproduced if the fitted log-log slope of parameters against n is >= 0.9 with its 95 % interval above 0; "
            "partial if only the interval is above 0",
            too_few_sizes([p[0] for p in points], "n", f"test accuracy {options['target']}",
                          f"{options['steps']} steps at widths up to {options['widths'][-1]}")
            or ("reproduced" if slope >= 0.9 and low > 0 else "partial" if low is not None and low > 0 else "not_reproduced"),
            detail="; ".join(f"n={n}: " + ", ".join(str(p[1]) for p in points if p[0] == n) for n in ns)
            + (f"; no width up to {options['widths'][-1]} reached {options['target']} at (n, seed) {missing}" if missing else ""),
            results=results)]
        solved = {n: [r.measurements["pointer_solved"] for r in good if r.params["n"] == n] for n in ns}
        at_every_n = all(any(v) for v in solved.values() if v)
        rows.append(row(
            "the attention model learns it with 2k trainable parameters at every n",
            Reference("O(k) parameters suffice for transformers", HG, "paper"),
            {f"n={n}": f"{sum(v)}/{len(v)} seeds" for n, v in solved.items()},
            f"reproduced if at every n some seed's 2k = {2 * options['k']}-parameter model reaches {options['target']} "
            "on the same data (the minimal model has spurious minima, so not every seed); partial if at some n",
            Untested(NO_FINISHED_RUN) if not good else
            "reproduced" if at_every_n else "partial" if any(any(v) for v in solved.values()) else "not_reproduced",
            results=results))
        per_n = {n: [p[1] for p in points if p[0] == n] for n in ns}
        plot = Plot.lines("parameters_against_n", "Smallest network reaching the target accuracy: parameters against n",
                          ns, {"MLP (median over seeds)": [statistics.median(v) if v else None for v in per_n.values()],
                               "attention model (2k)": [2 * options["k"]] * len(ns)},
                          xlabel="n", ylabel="trainable parameters", logx=True, logy=True)
        return Summary(rows, [plot], notes=(
            f"Each run searches MLP widths {options['widths']} (one ReLU hidden layer, Adam, logistic loss, "
            f"{options['steps']} steps) on a fixed training set of {options['train_size']} examples and keeps the "
            f"narrowest reaching {options['target']} test accuracy; parameters = (n + 2) * width + 1. The attention "
            "model is the authors' minimal one (2 trainable numbers a head) trained on the same examples."))


class ParityOnline(Experiment):
    name = "parity-online"
    title = "E4: online SGD on (50, 3): steps to solve for MLPs of width 10 / 100 / 1000, and the default transformer"
    paper = f"{BARAK}; the toolkit's default transformer"
    # The transformer trains on batches of 32 too, so that steps compare; at the toolkit's default batch of 256
    # a step costs ~8x more and (50, 3) was still at chance after 2000 steps.
    options = {"n": 50, "k": 3, "widths": [10, 100, 1000], "batch_size": 32, "lr": 0.1, "max_steps": 30000,
               "eval_every": 250, "eval_samples": 4096, "transformer_seeds": 8, "transformer_max_steps": 6000}
    quick = {"max_steps": 20000, "transformer_seeds": 2, "transformer_max_steps": 3000}
    seeds, quick_seeds = 8, 8
    REFERENCE = {10: (6250, [5000, 9000]), 100: (4500, [3250, 5750]), 1000: (1250, [1250, 1500])}

    def grid(self, options, seeds):
        shared = {key: options[key] for key in ("n", "k", "eval_every", "eval_samples", "batch_size")}
        specs = [RunSpec(f"mlp width={w}", {**shared, "model": "mlp", "width": w, "lr": options["lr"],
                                              "max_steps": options["max_steps"]}, seed)
                 for w in options["widths"] for seed in range(seeds)]
        specs += [RunSpec("transformer", {**shared, "model": "transformer", "max_steps": options["transformer_max_steps"]},
                          seed) for seed in range(options["transformer_seeds"])]
        return specs

    def measure(self, spec, device):
        p = spec.params
        return self.measure_mlp(p, spec.seed, device) if p["model"] == "mlp" else self.measure_transformer(p, spec.seed, device)

    @staticmethod
    def measure_mlp(p, seed, device):
        """Barak et al.'s setup: +-1 inputs, Xavier-uniform init, hinge loss on +-1 labels, SGD, fresh batches."""
        from ..models import on_device
        from ..models.mlp import MLP
        from ..training.fit import fit

        task = ParityTask(n=p["n"], k=p["k"], seed=seed)
        model = on_device(MLP(p["n"], [p["width"]], 1, init="xavier", seed=seed), device)
        g = torch.Generator().manual_seed(seed + 1)
        test_bits = torch.randint(0, 2, (p["eval_samples"], p["n"]), generator=torch.Generator().manual_seed(seed + 2))
        x_test, y_test = (1 - 2 * test_bits).float().to(device), (1 - 2 * task.labels(test_bits)).float().to(device)

        def loss(step):
            bits = torch.randint(0, 2, (p["batch_size"], p["n"]), generator=g)
            x, y = (1 - 2 * bits).float().to(device), (1 - 2 * task.labels(bits)).float().to(device)
            return torch.relu(1 - y * model(x)[:, 0]).mean()

        result = fit(model, torch.optim.SGD(model.parameters(), lr=p["lr"]), loss,
                     lambda: (torch.sign(model(x_test)[:, 0]) == y_test).float().mean().item(),
                     p["max_steps"], p["eval_every"], target=1.0)
        return {"solved_at": result.reached_at, "final_accuracy": result.final}

    @staticmethod
    def measure_transformer(p, seed, device):
        from ..defaults import configure
        from ..training import train

        task, model_cfg, train_cfg = configure("parity", settings={
            "task": {"n": p["n"], "k": p["k"], "seed": seed},
            "train": {"seed": seed, "max_steps": p["max_steps"], "target": 1.0, "eval_every": p["eval_every"],
                      "eval_samples": p["eval_samples"], "batch_size": p["batch_size"]}})
        result = train(task, model_cfg, train_cfg, progress=False, device=device)
        steps = result.metrics["steps"] if result.metrics["stopped_early"] else None
        formation = [{"step": h["step"], "accuracy": h["accuracy"], "attention_on_S": h["attention_on_relevant"]}
                     for h in result.metrics["history"]]
        return {"solved_at": steps, "final_accuracy": result.metrics["final"]["accuracy"],
                "batch_size": train_cfg.batch_size, "formation": formation}

    def summarize(self, results, options, seeds):
        rows, medians = [], {}
        for width in options["widths"]:
            group = [r for r in results if r.params.get("width") == width]
            steps = [r.measurements["solved_at"] for r in group if r.ok]
            measured = spread(steps)
            medians[width] = measured["median"] if not measured["missing"] else None
            reference = self.REFERENCE.get(width)
            if reference is None:
                continue
            value, (low, high) = reference
            median = measured["median"]
            verdict = (Untested(NO_FINISHED_RUN) if not steps else
                       "not_reproduced" if median is None or measured["missing"] > len(steps) / 2 else
                       "reproduced" if low <= median <= high else
                       "partial" if value / 2 <= median <= value * 2 else "not_reproduced")
            rows.append(row(
                f"width {width}: median steps to 100 % accuracy", Reference(value, NOTES_RUN + f" (5 seeds: {low}-{high})",
                                                                            "reference_run"),
                measured, f"reproduced if our median lies in the reference run's range [{low}, {high}]; partial if "
                          "within a factor of 2 of its median; not reproduced if most seeds never solve",
                verdict, detail=f"steps per seed: {steps} (checked every {options['eval_every']} steps on "
                                f"{options['eval_samples']} fresh samples)", results=group))
        if medians.get(10) and medians.get(1000):
            speedup = medians[10] / medians[1000]
            rows.append(row(
                "no width-fold speed-up from width 10 to 1000",
                Reference("convergence time plateaus with width (Fig. 4, 14)", BARAK, "paper"), {"speedup": speedup},
                "reproduced if 100x the width is less than 10x faster", at_most(speedup, 10, 30),
                results=[r for r in results if r.params.get("model") == "mlp"]))
        group = [r for r in results if r.params.get("model") == "transformer"]
        steps = [r.measurements["solved_at"] for r in group if r.ok]
        measured = spread(steps)
        finals = [round(r.measurements["final_accuracy"], 3) for r in group if r.ok]
        rows.append(row(
            "the default transformer solves (50, 3) online",
            Reference("Adam-trained transformers converge on small (n, k) within 10^5 steps; plain SGD rarely", BARAK, "paper"),
            measured, f"reproduced if every seed reaches 100 % held-out accuracy within {options['transformer_max_steps']} "
                      "steps; partial if at least half do",
            Untested(NO_FINISHED_RUN) if not steps else "reproduced" if measured["missing"] == 0 else
            "partial" if measured["missing"] <= len(steps) / 2 else "not_reproduced",
            detail=f"the default model and optimiser (AdamW 1e-3) on batches of {options['batch_size']}, like the MLPs; "
                   f"final held-out accuracy per seed {finals}", results=group))
        plots = [Plot.bars("steps_to_solve", "Median steps to 100 % accuracy on (50, 3)",
                           [f"MLP r={w}" for w in options["widths"]] + ["transformer"],
                           {"steps": [medians.get(w) for w in options["widths"]] + [measured["median"]]}, ylabel="steps")]
        first = next((r for r in sorted(group, key=lambda r: r.seed) if r.ok), None)
        if first:
            history = first.measurements["formation"]
            heads = list(history[0]["attention_on_S"]) if history else []
            plots.append(Plot.lines(
                "transformer_formation", f"Default transformer, seed {first.seed}: attention from CLS on S per head",
                [h["step"] for h in history], {head: [h["attention_on_S"][head] for h in history] for head in heads},
                xlabel="step", ylabel="attention mass on S"))
        return Summary(rows, plots, notes=(
            "MLPs: one ReLU hidden layer, Xavier-uniform init, +-1 inputs, hinge loss, SGD at lr 0.1, fresh batches of 32 "
            "(Barak et al.'s configuration (ii)/(iii)). Solving = 100 % on the fixed held-out sample, checked every "
            f"{options['eval_every']} steps."))


PARITY_EXPERIMENTS = [ParityConstruction, ParityMinimal, ParityFrozenAttention, ParityFFNN, ParityOnline]
