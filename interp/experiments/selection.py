"""Wang et al. 2024 (arXiv 2406.06893) and Sanford et al. 2023 (arXiv 2306.02896) on sparse token selection,
reproduced.

- ``selection-length`` (E3): Wang et al.'s one-layer model trained at T = 16 with per-example orthonormal
  codes, Gaussian-sphere codes, a fixed random code table and a learned table, tested at T' = 16..128;
  the orthonormal codes against the closed form ``nmse_from_gap`` with the gap read off the trained model.
- ``selection-fcn`` (E2): fully connected networks of width r against the projection bound
  ``(1 - r/(T d)) (T - q)/(T - 1)``, and the critical width (nMSE < 0.01) against T for fully connected
  networks and for the toolkit's transformer.
- ``selection-dynamics`` (E5): Wang et al.'s model from W = 0 under gradient descent: cos(W, I) and the
  logit gap over training against the population gradient flow, whose gap grows like (1/2) ln t.

Setups, reference numbers and what is not known about the papers: docs/theory/selection.md.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from ..defaults import configure
from ..grading import AllOf, AtLeast, AtMost, Every, Holds, Untested
from ..plot import Plot
from ..tasks import SelectionTask, TaskError, evaluate
from ..tasks.selection import POSITION_MODES
from ..validation import check_choice, check_int
from .base import Experiment, Measured, Reference, RowSpec, RunResult, RunSpec
from .census import mechanism
from .statistics import (NO_FINISHED_RUN, loglog_slope, measured_or, median, no_run, ok_results, slope_at_least, spread,
                         too_few_sizes)

if TYPE_CHECKING:
    import torch

# What trains and measures models (torch, TransformerLens) is imported inside the functions that run them, so
# that listing the experiments (``interp experiment list``) reads this module without loading it.

WANG = "Wang et al. 2024 (arXiv 2406.06893)"
SANFORD = "Sanford et al. 2023 (arXiv 2306.02896)"
NOTES_RUN = "docs/theory/selection.md reference run"
THEORY = "docs/theory/selection.md"
HELD_OUT_SEED = 1_000_003  # held-out data never shares a stream with training batches


def selection_task(params: dict[str, Any]) -> SelectionTask:
    return SelectionTask(T=params["T"], d=params["d"], q=params["q"], positions=params.get("positions", "learned"),
                         code_dim=params.get("code_dim", 64))


def wang_gap(model, task: SelectionTask, samples: int, seed: int) -> float:
    """The trained model's logit gap (``interp.analysis.selection.logit_gap``) on fresh samples."""
    import torch

    from ..analysis.selection import logit_gap

    batch = task.sample(samples, seed)
    with torch.no_grad():
        return logit_gap(model.scores(batch.inputs), batch.relevant[:, 0, : task.T])


def train_wang(task: SelectionTask, lr: float, steps: int, seed: int, batch_size: int,
               record_at: list[int] | None = None, held_out: int = 1024) -> tuple[Any, list[dict[str, Any]]]:
    """Wang et al.'s model on ``task``: plain gradient descent (SGD) on W from 0, fresh batches.

    ``record_at``: steps after which the held-out gap, cos(W, I) and nMSE are recorded (the loop runs in
    segments between them, through ``interp.training.fit.fit``).
    """
    import torch

    from ..analysis.selection import logit_gap
    from ..models.wang import WangSelection
    from ..training.fit import fit

    model = WangSelection(task)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    data = torch.Generator().manual_seed(seed)
    check = task.sample(held_out, seed + HELD_OUT_SEED)

    def loss(step: int) -> torch.Tensor:
        batch = task.sample(batch_size, data)
        return task.loss(model(batch.inputs), batch)

    def state() -> dict[str, Any]:
        scores = model.scores(check.inputs)
        return {"gap": logit_gap(scores, check.relevant[:, 0, : task.T]), "cos_identity": model.cos_to_identity(),
                "nmse": task.evaluate(model(check.inputs), check)["nmse"]}

    history, done = [], 0
    for mark in sorted(set(record_at or []) | {steps}):
        if mark > done:
            fit(model, optimizer, loss, lambda: 0.0, mark - done, mark - done)
            done = mark
        if record_at and mark in record_at:
            with torch.no_grad():
                history.append({"step": mark, **state()})
    return model.eval(), history


SOLVED_NMSE = 0.01  # a selection model solves the task at nMSE <= 0.01 (the probes' "solves the task")
# What Wang et al.'s model has by its architecture whatever W learns: values that are the content, a query without
# a key of its own, keys that are position codes alone. Its census reads what W learned.
WANG_ARCHITECTURE = ("OV copies the content", "the query does not attend to itself",
                     "where the query looks does not depend on content")


def wang_mechanism(model, task: SelectionTask, nmse: float, seed: int) -> dict[str, Any]:
    """The census record of a trained ``WangSelection`` (solved: ``nmse`` at T <= ``SOLVED_NMSE``), read by the
    selection probes on the same function as a bridge (``interp.constructions.selection.wang_selection``)."""
    from ..constructions.selection import wang_selection

    return {"wang": mechanism(wang_selection(task, model.W), task, nmse <= SOLVED_NMSE, seed, WANG_ARCHITECTURE)}


# --- selection-length ------------------------------------------------------------------------------


class SelectionLength(Experiment):
    name = "selection-length"
    title = "E3: per-example codes generalise in length as the closed form says; fixed and learned positions do not"
    paper = f"{WANG}; {SANFORD}"
    # One arm per kind of positions, each with its code width m (the learned table's is T) and SGD learning rate.
    # Orthonormal codes need m >= 128 to serve T' = 128. With per-example codes the gradient on the gap carries a
    # 1/m (docs/theory/selection.md, 'Training dynamics'), so lr grows with m to keep gamma(t) the reference run's
    # (m = 64, lr 5); the fixed and learned tables train at lr 5.
    options = {"T": 16, "d": 8, "q": 3, "test_lengths": [16, 32, 64, 128], "steps": 800, "batch_size": 256,
               "eval_samples": 4096, "arms": ["orthonormal", "gaussian", "fixed", "learned"],
               "code_dim": {"orthonormal": 128, "gaussian": 64, "fixed": 64},
               "lr": {"orthonormal": 10.0, "gaussian": 5.0, "fixed": 5.0, "learned": 5.0}}
    quick = {"eval_samples": 2048}
    seeds, quick_seeds = 5, 3
    REFERENCE_ORTHONORMAL = {16: 0.0018, 32: 0.0073, 64: 0.026}  # reference run, m = 64, SGD lr 5, 800 steps

    @staticmethod
    def arms(options) -> dict[str, tuple[int, float]]:
        """Each arm's (code width m, learning rate); a TaskError names an arm left without one."""
        out = {}
        for positions in options["arms"]:
            check_choice("selection-length option arms", positions, POSITION_MODES)
            m = options["T"] if positions == "learned" else options["code_dim"].get(positions)
            lr = options["lr"].get(positions)
            if m is None or lr is None:
                raise TaskError(f"selection-length options code_dim and lr need an entry for arm {positions!r}")
            out[positions] = (check_int(f"code_dim[{positions}]", m, 1), float(lr))
        return out

    def grid(self, options, seeds):
        shared = {key: options[key] for key in ("T", "d", "q", "test_lengths", "steps", "batch_size", "eval_samples")}
        return [RunSpec(f"{positions} m={m}", {**shared, "positions": positions, "code_dim": m, "lr": lr}, seed)
                for positions, (m, lr) in self.arms(options).items() for seed in range(seeds)]

    def measure(self, spec, device):
        from ..analysis.selection import at_length
        from ..constructions.selection import nmse_from_gap

        p = spec.params
        task = selection_task(p)
        model, _ = train_wang(task, p["lr"], p["steps"], spec.seed, p["batch_size"])
        gap = wang_gap(model, task, p["eval_samples"], spec.seed + 2)
        nmse, predicted = {}, {}
        for length in p["test_lengths"]:
            if task.positions == "orthonormal" and length > task.code_dim:
                continue  # orthonormal codes serve at most m positions
            nmse[str(length)] = evaluate(*at_length(model, task, length), samples=p["eval_samples"], seed=spec.seed + 3)["nmse"]
            predicted[str(length)] = nmse_from_gap(length, task.q, gap)
        at_T = nmse[str(task.T)] if str(task.T) in nmse else evaluate(model, task, p["eval_samples"], spec.seed + 3)["nmse"]
        return {"gap": gap, "cos_identity": model.cos_to_identity(), "nmse": nmse, "predicted": predicted,
                "mechanisms": wang_mechanism(model, task, at_T, spec.seed)}

    def rows(self, options):
        T, lengths, arms = options["T"], options["test_lengths"], self.arms(options)
        specs = []
        if "orthonormal" in arms:
            specs.append(RowSpec(
                "orthonormal codes track the closed form at every T'",
                Reference("T'(T'-q)/(q e^gap + T'-q)^2, the gap read off the trained model at T", THEORY, "closed_form"),
                partial(closed_form_fit, lengths=lengths), AtMost(0.25, 0.5, sentence_template=(
                    "reproduced if the median of measured / predicted nMSE is within {reproduced:percent} of 1 at every "
                    "T'; partial within {partial:percent}")), runs=of_arm("orthonormal")))
        if "orthonormal" in arms and (T, options["d"], options["q"]) == (16, 8, 3):  # the reference run's task
            specs.append(RowSpec(
                "orthonormal codes: nMSE at T' = 16 / 32 / 64",
                Reference(list(self.REFERENCE_ORTHONORMAL.values()), NOTES_RUN + " (m = 64, SGD lr 5, 800 steps)",
                          "reference_run"),
                partial(against_reference_run, reference=self.REFERENCE_ORTHONORMAL, arm=arms["orthonormal"]),
                Every(Holds(f"reproduced if the median at each T' is within {100 * REFERENCE_CLOSE:g} % of the "
                            f"reference run's; partial if within a factor of {REFERENCE_FACTOR}")),
                runs=of_arm("orthonormal")))
        for positions, reference in (("learned", 0.80), ("fixed", 0.98)):
            if positions in arms and 2 * T in lengths:
                specs.append(RowSpec(
                    f"{positions} {'table' if positions == 'learned' else 'codes'} jump to nMSE >= 0.8 at 2T",
                    Reference(reference, NOTES_RUN + (" (one-hot positions, W learned)" if positions == "learned" else
                                                      " (fixed random table, m = 32)"), "reference_run"),
                    partial(jump_at_twice_t, positions=positions, T=T, lengths=lengths, arms=arms),
                    AtLeast(0.8, 0.5, sentence_template="reproduced if the median nMSE at T' = 2T is >= {reproduced}; "
                                                        "partial if >= {partial}"), runs=of_arm(positions)))
        if "gaussian" in arms:
            specs.append(RowSpec(
                "Gaussian codes degrade smoothly",
                Reference("0.12 at T = 16 rising to 0.46 at T' = 128 (m = 64)", NOTES_RUN, "reference_run"),
                partial(smooth_degradation, T=T, lengths=lengths), Holds(
                    "reproduced if nMSE at 2T is <= 0.5 and each doubling of T' raises it by between 0 and 0.25 (no "
                    "jump); partial if nMSE at 2T is < 0.8"), runs=of_arm("gaussian")))
        return specs

    def plots(self, results, options, seeds):
        T, lengths, arms = options["T"], options["test_lengths"], self.arms(options)
        series, styles = {}, {}
        for positions in arms:
            series[f"{positions} (m={arms[positions][0]})"] = [median_at(results, positions, n) for n in lengths]
        if "orthonormal" in arms:
            series["orthonormal: closed form from its gap"] = [median_at(results, "orthonormal", n, "predicted")
                                                               for n in lengths]
            styles["orthonormal: closed form from its gap"] = "--"
        return [Plot.lines("length_generalisation", f"Trained at T = {T}: nMSE at T' (median over seeds)", lengths, series,
                           xlabel="T'", ylabel="nMSE", logx=True, logy=True, styles=styles)]

    def notes(self, results, options, seeds):
        return (
            f"Wang et al.'s model (`interp.models.wang.WangSelection`): scores s^T W p_i, fixed values, W trained from 0 by "
            f"SGD ({options['steps']} steps, batches of {options['batch_size']}), d = {options['d']}, q = {options['q']}, "
            f"trained at T = {options['T']}. Arms (m, lr): {self.arms(options)}. Orthonormal codes serve at most m "
            "positions. The learned table (one-hot positions, W a learned T x T table) is run at T' > T with its untrained "
            "entries at their initial value 0. The closed form is `nmse_from_gap(T', q, gap)` with the gap measured at T.")


REFERENCE_CLOSE, REFERENCE_FACTOR = 0.25, 2  # how close to the reference run's nMSE is reproduced, and partial


def of_arm(positions: str) -> Callable[[RunResult], bool]:
    return lambda result: result.params["positions"] == positions


def median_at(runs: list[RunResult], positions: str, length: int, key: str = "nmse") -> float | None:
    """The median over the finished runs of arm ``positions`` of ``key`` (nmse / predicted) at T' = ``length``."""
    return median([r.measurements[key][str(length)] for r in ok_results(runs, positions=positions)
                   if str(length) in r.measurements[key]])


def closed_form_fit(runs: list[RunResult], lengths: list[int]) -> Measured:
    """The median of measured / predicted nMSE at each T'; the value: the worst one's distance from 1."""
    group = ok_results(runs)
    ratios = {n: median([r.measurements["nmse"][str(n)] / r.measurements["predicted"][str(n)] for r in group
                         if str(n) in r.measurements["nmse"]]) for n in lengths}
    ratios = {n: v for n, v in ratios.items() if v is not None}
    worst = max((abs(v - 1) for v in ratios.values()), default=None)
    gaps = [r.measurements["gap"] for r in group]
    detail = ("; ".join(f"T'={n}: measured {median_at(runs, 'orthonormal', n):.4f}, predicted "
                        f"{median_at(runs, 'orthonormal', n, 'predicted'):.4f}" for n in ratios)
              + f"; gap {statistics.median(gaps):.2f}") if gaps else ""
    return Measured(measured_or(worst, NO_FINISHED_RUN),
                    {"worst_relative_error": worst, "measured_over_predicted": ratios, "gap": spread(gaps)}, detail)


def against_reference_run(runs: list[RunResult], reference: dict[int, float], arm: tuple[int, float]) -> Measured:
    """The median nMSE at each T' of the reference run; the value per T': (within REFERENCE_CLOSE of the reference
    run's, within a factor REFERENCE_FACTOR)."""
    measured = {n: median_at(runs, "orthonormal", n) for n in reference}
    value = {n: Untested(no_run([f"T' = {n}"])) if m is None else
             ((1 - REFERENCE_CLOSE) * reference[n] <= m <= (1 + REFERENCE_CLOSE) * reference[n],
              reference[n] / REFERENCE_FACTOR <= m <= REFERENCE_FACTOR * reference[n]) for n, m in measured.items()}
    return Measured(value, {str(n): v for n, v in measured.items()},
                    f"m = {arm[0]} with lr {arm[1]:g} (the gap's dynamics do not depend on m at lr proportional to m)")


def jump_at_twice_t(runs: list[RunResult], positions: str, T: int, lengths: list[int],
                    arms: dict[str, tuple[int, float]]) -> Measured:
    at_2T, at_T = median_at(runs, positions, 2 * T), median_at(runs, positions, T)
    detail = (f"nMSE {at_T:.4f} at T, {at_2T:.3f} at 2T" + (
        "; the learned table's entries for positions beyond T keep their initial value 0" if positions == "learned"
        else f"; one table of unit vectors (m = {arms['fixed'][0]}), its rows beyond T never seen in training")
        if at_2T is not None and at_T is not None else "")
    return Measured(measured_or(at_2T, NO_FINISHED_RUN),
                    {"at_T": at_T, "at_2T": at_2T, "by_length": {str(n): median_at(runs, positions, n) for n in lengths}},
                    detail)


def smooth_degradation(runs: list[RunResult], T: int, lengths: list[int]) -> Measured:
    """The value: (nMSE at 2T <= 0.5 and each doubling raises it by 0 to 0.25, nMSE at 2T < 0.8)."""
    curve = [median_at(runs, "gaussian", n) for n in lengths]
    steps = [b - a for a, b in zip(curve, curve[1:]) if a is not None and b is not None]
    at_2T = median_at(runs, "gaussian", 2 * T)
    smooth = at_2T is not None and at_2T <= 0.5 and bool(steps) and max(steps) <= 0.25 and min(steps) >= 0
    return Measured(Untested(NO_FINISHED_RUN) if at_2T is None else (smooth, at_2T < 0.8),
                    {"by_length": dict(zip(map(str, lengths), curve)), "largest_step": max(steps) if steps else None},
                    ", ".join(f"T'={n}: {v:.3f}" for n, v in zip(lengths, curve) if v is not None))


# --- selection-fcn ---------------------------------------------------------------------------------


def fcn_bound(r: int, T: int, d: int, q: int) -> float:
    """The projection bound: any predictor whose first layer has width r has nMSE >= (1 - r/(Td))(T-q)/(T-1)
    (docs/theory/selection.md, E2)."""
    return max(0.0, 1 - r / (T * d)) * (T - q) / (T - 1)


def train_fcn(task: SelectionTask, width: int, steps: int, lr: float, seed: int, batch_size: int, eval_samples: int,
              eval_every: int, target: float | None = None) -> dict[str, Any]:
    """A 2-hidden-layer ReLU MLP of width ``width`` on ``[vec X, mask]``, Adam, fresh batches; held-out nMSE."""
    import torch

    from ..models.mlp import MLP
    from ..training.fit import fit

    T, d = task.T, task.d

    def features(batch):
        return torch.cat([batch.info["content"].flatten(1), batch.relevant[:, 0, :T].float()], 1)

    model = MLP(T * d + T, [width, width], d, seed=seed)
    data = torch.Generator().manual_seed(seed + 1)
    test = task.sample(eval_samples, seed + HELD_OUT_SEED)
    x_test, y_test = features(test), test.targets

    def loss(step):
        batch = task.sample(batch_size, data)
        return (model(features(batch)) - batch.targets).pow(2).sum(-1).mean()

    def nmse():
        return (model(x_test) - y_test).pow(2).sum(-1).mean().item() / (d / task.q)

    result = fit(model, torch.optim.Adam(model.parameters(), lr=lr), loss, nmse, steps, eval_every, target=target,
                 higher_is_better=False)
    return {"nmse": result.final, "steps": result.steps, "reached_at": result.reached_at}


def train_transformer(task: SelectionTask, d_head: int, steps: int, seed: int, target: float, eval_samples: int) -> dict[str, Any]:
    """The toolkit's default selection transformer (learned positions) with ``d_head``: the width of its
    positional query-key circuit."""
    from ..training import train

    task, model_cfg, train_cfg = configure("selection", settings={
        "task": {"T": task.T, "d": task.d, "q": task.q},
        "model": {"d_head": d_head},
        "train": {"seed": seed, "max_steps": steps, "target": target, "eval_samples": eval_samples}})
    result = train(task, model_cfg, train_cfg, progress=False)
    solved = result.metrics["stopped_early"]
    return {"nmse": evaluate(result.model, task, samples=eval_samples, seed=seed + 2)["nmse"],
            "steps": result.metrics["steps"], "reached_at": result.metrics["steps"] if solved else None,
            "curve": [[h["step"], round(h["nmse"], 6)] for h in result.metrics["history"]],
            "mechanisms": {"transformer": mechanism(result.model, task, solved, seed)}}


class SelectionFCN(Experiment):
    name = "selection-fcn"
    title = "E2: fully connected networks stay above the projection bound and need width ~ T d; attention does not"
    paper = f"{WANG}; {SANFORD}"
    options = {"T": 16, "d": 8, "q": 3, "width_factors": [0.125, 0.25, 0.5, 1.0, 2.0], "steps": 3000, "lr": 1e-3,
               "batch_size": 256, "eval_samples": 4096, "eval_every": 500,
               # the critical width (nMSE < threshold) against T
               "critical_Ts": [8, 16, 32], "critical_d": 8, "critical_threshold": 0.01, "critical_seeds": 3,
               "fcn_factors": [1.0, 2.0, 4.0, 8.0], "fcn_steps": 20000, "d_heads": [1, 2, 4, 8, 16, 32],
               "transformer_steps": 10000}
    # The critical widths at --quick: full scale's widths and steps (at 6000 and 3000 steps only T = 8 got there,
    # the wider runs at T = 16 and 32 still falling), on one seed and d = 2.
    quick = {"eval_samples": 2048, "critical_d": 2, "critical_seeds": 1}
    seeds, quick_seeds = 3, 2

    def grid(self, options, seeds):
        T, d, q = options["T"], options["d"], options["q"]
        shared = {key: options[key] for key in ("lr", "batch_size", "eval_samples", "eval_every")}
        specs = [RunSpec(f"fcn r={int(f * T * d)}", {"part": "bound", "T": T, "d": d, "q": q, "width": int(f * T * d),
                                                     "steps": options["steps"], **shared}, seed)
                 for f in options["width_factors"] for seed in range(seeds)]
        d = options["critical_d"]
        for seed in range(options["critical_seeds"]):
            for T in options["critical_Ts"]:
                specs += [RunSpec(f"critical fcn T={T} r={int(f * T * d)}", {
                    "part": "critical", "model": "fcn", "T": T, "d": d, "q": q, "width": int(f * T * d),
                    "steps": options["fcn_steps"], "threshold": options["critical_threshold"], **shared}, seed)
                    for f in options["fcn_factors"]]
                specs += [RunSpec(f"critical transformer T={T} d_head={k}", {
                    "part": "critical", "model": "transformer", "T": T, "d": d, "q": q, "width": k,
                    "steps": options["transformer_steps"], "threshold": options["critical_threshold"],
                    "eval_samples": options["eval_samples"]}, seed) for k in options["d_heads"]]
        return specs

    def measure(self, spec, device):
        p = spec.params
        task = selection_task(p)
        if p["part"] == "critical" and p["model"] == "transformer":
            return train_transformer(task, p["width"], p["steps"], spec.seed, p["threshold"], p["eval_samples"])
        target = p["threshold"] if p["part"] == "critical" else None
        return train_fcn(task, p["width"], p["steps"], p["lr"], spec.seed, p["batch_size"], p["eval_samples"],
                         p["eval_every"], target)

    def rows(self, options):
        T, d, q, threshold = options["T"], options["d"], options["q"], options["critical_threshold"]
        widths = [int(f * T * d) for f in options["width_factors"]]
        bound = partial(BoundMedians, widths=widths, T=T, d=d, q=q)
        specs = [RowSpec(
            "FCN nMSE stays above the projection bound at every width",
            Reference("nMSE >= (1 - r/(Td)) (T-q)/(T-1) for any first layer of width r", THEORY, "proof"),
            lambda runs: bound(runs).above, Holds(
                f"reproduced if every width's median held-out nMSE is at least the bound minus {BOUND_SLACK} (the "
                "sampling error of the held-out set); not reproduced otherwise (a violation would be a bug)"),
            runs=bound_part)]
        if (T, d) == (16, 8):
            specs.append(RowSpec(
                "FCN nMSE per width against the reference run",
                Reference(list(FCN_REFERENCE.values()), NOTES_RUN + " (r = 16 / 32 / 64 / 128 / 256)", "reference_run"),
                lambda runs: bound(runs).against_reference, AtMost(0.05, 0.15, sentence_template=(
                    "reproduced if every width's median is within {reproduced} of the reference run's; partial if within "
                    "{partial}")), runs=bound_part))
        for model, label, prediction, rule in CRITICAL_ROWS:
            specs.append(RowSpec(
                f"critical {label} (nMSE < {threshold:g}) {prediction}",
                Reference(("FCN width Omega~(T d)" if model == "fcn" else "transformer width O~(d + q log T)")
                          + f"; the projection bound forces r >= (1 - {threshold:g}(T-1)/(T-q)) T d", f"{WANG} (secondary)",
                          "paper"),
                partial(critical_growth, model=model, options=options), rule,
                runs=lambda r, model=model: r.params.get("model") == model))
        return specs

    def plots(self, results, options, seeds):
        T, d, q, Ts = options["T"], options["d"], options["q"], options["critical_Ts"]
        widths = [int(f * T * d) for f in options["width_factors"]]
        medians = BoundMedians([r for r in results if bound_part(r)], widths, T, d, q).medians
        dc = options["critical_d"]
        critical_series = {}
        for model, label, _, _ in CRITICAL_ROWS:
            per_T = {T_: critical_widths(results, model, T_, options["critical_threshold"]) for T_ in Ts}
            critical_series[label] = [median(per_T[T_].values()) for T_ in Ts]
        critical_series[f"T d (d = {dc})"] = [T_ * dc for T_ in Ts]
        return [Plot.lines("fcn_against_bound", f"Fully connected networks at T = {T}, d = {d}: held-out nMSE against width",
                           widths, {"FCN (median over seeds)": [medians[w] for w in widths],
                                    "projection bound": [fcn_bound(w, T, d, q) for w in widths]},
                           xlabel="first-layer width r", ylabel="nMSE", logx=True, styles={"projection bound": "--"}),
                Plot.lines("critical_width", f"Narrowest width reaching nMSE < {options['critical_threshold']:g} (median "
                           "over seeds)", Ts, critical_series, xlabel="T", ylabel="critical width", logx=True, logy=True,
                           styles={f"T d (d = {dc})": "--"})]

    def notes(self, results, options, seeds):
        return (
            f"FCN: two hidden ReLU layers of width r on [vec X, mask], Adam {options['lr']:g}, fresh batches of "
            f"{options['batch_size']}, {options['steps']} steps, at T = {options['T']}, d = {options['d']}, q = "
            f"{options['q']}. Critical widths: the narrowest grid width whose held-out nMSE goes below "
            f"{options['critical_threshold']:g} within {options['fcn_steps']} steps (FCN, widths {options['fcn_factors']} "
            f"x T d: narrower ones are excluded by the bound) or {options['transformer_steps']} steps (the toolkit's "
            f"1-layer selection transformer with learned positions, d_head on {options['d_heads']}), at d = "
            f"{options['critical_d']}, for T in {options['critical_Ts']}; '> w' means no grid width reached it. The quick "
            "scale uses d = 2 for the critical widths (T d stays small enough for a 2-core CPU) and one seed.")


BOUND_SLACK = 0.02  # the sampling error of the held-out nMSE, which a median may fall below the bound by
FCN_REFERENCE = {16: 0.80, 32: 0.75, 64: 0.62, 128: 0.34, 256: 0.13}  # the reference run's nMSE per width (T=16, d=8)
AT_MOST_LOG_T = 0.8  # the transformer row's partial bound on the slope: above it, the row would not reproduce
# A seed that never reached the threshold leaves its critical width unknown, so the slope is at most partial.
EVERY_SEED_GOT_THERE = Holds("at most partial if some seed reached the threshold at no width tried (its critical width "
                             "is unknown)")
CRITICAL_ROWS = (  # (model, label, prediction, rule on (the slope's (reproduced, partial) or the slope, every seed))
    ("fcn", "FCN first-layer width", "grows like T d", AllOf((Holds(
        "reproduced if the fitted log-log slope of the critical width against T is >= 0.8 with its 95 % interval above "
        "0.5; partial if the slope is >= 0.5"), EVERY_SEED_GOT_THERE), "{rules[0]}; {rules[1]}")),
    ("transformer", "transformer d_head (positional width)", "grows like log T at most", AllOf((
        AtMost(0.5, AT_MOST_LOG_T), EVERY_SEED_GOT_THERE), "reproduced if the fitted log-log slope of the critical "
        "width against T is <= {rules[0].reproduced} (log T between T = 8 and 32 is a slope of 0.37; linear growth a "
        "slope of 1); partial if <= {rules[0].partial}; {rules[1]}")),
)


def bound_part(result: RunResult) -> bool:
    return result.params["part"] == "bound"


class BoundMedians:
    """The median held-out nMSE of the fully connected networks at each width, beside the projection bound."""

    def __init__(self, runs: list[RunResult], widths: list[int], T: int, d: int, q: int):
        self.widths = widths
        self.medians = {w: spread([r.measurements["nmse"] for r in ok_results(runs, width=w)])["median"] for w in widths}
        self.bounds = {w: fcn_bound(w, T, d, q) for w in widths}
        self.text = "; ".join(f"r={w}: {self.medians[w]:.3f} (bound {self.bounds[w]:.2f})" for w in widths
                              if self.medians[w] is not None)

    @property
    def above(self) -> Measured:
        """The value: no median below its bound by more than BOUND_SLACK (untested for a width not measured)."""
        below = [w for w in self.widths if self.medians[w] is not None and self.medians[w] < self.bounds[w] - BOUND_SLACK]
        missing = [w for w in self.widths if self.medians[w] is None]
        value = ((False, False) if below else Untested(no_run(f"r = {w}" for w in missing)) if missing else (True, True))
        return Measured(value, {str(w): self.medians[w] for w in self.widths}, self.text)

    @property
    def against_reference(self) -> Measured:
        shared = [w for w in self.widths if w in FCN_REFERENCE and self.medians[w] is not None]
        worst = max((abs(self.medians[w] - FCN_REFERENCE[w]) for w in shared), default=None)
        return Measured(measured_or(worst, NO_FINISHED_RUN), {"worst_difference": worst}, self.text)


def critical_widths(results: list[RunResult], model: str, T: int, threshold: float) -> dict[int, int | None]:
    """Per seed, the narrowest width on the grid whose run reached nMSE < threshold (None: none did)."""
    group = [r for r in results if r.params.get("model") == model and r.params["T"] == T]
    out: dict[int, int | None] = {}
    for r in group:
        out.setdefault(r.seed, None)
        if r.ok and r.measurements["nmse"] < threshold:
            out[r.seed] = min(r.params["width"], out[r.seed] or r.params["width"])
    return out


def critical_growth(runs: list[RunResult], model: str, options: dict[str, Any]) -> Measured:
    """The log-log slope of the critical width against T; the value: (the slope, or for the FCN whether it is
    >= 0.8 with its interval above 0.5 and whether it is >= 0.5; whether every seed reached the threshold)."""
    threshold, Ts, dc = options["critical_threshold"], options["critical_Ts"], options["critical_d"]
    largest = (lambda T: int(max(options["fcn_factors"]) * T * dc)) if model == "fcn" else (lambda T: max(options["d_heads"]))
    steps = options["fcn_steps"] if model == "fcn" else options["transformer_steps"]
    per_T = {T: critical_widths(runs, model, T, threshold) for T in Ts}
    points = [(T, w, s) for T, seeds in per_T.items() for s, w in seeds.items() if w is not None]
    every_seed = all(w is not None for seeds in per_T.values() for w in seeds.values())
    fit = loglog_slope([p[0] for p in points], [p[1] for p in points], groups=[p[2] for p in points])
    # A T that never got there has its critical width above the widest tried: a lower bound on the growth.
    fit["at_least"] = slope_at_least([(T, w) for T, w, _ in points],
                                     [(T, largest(T)) for T, seeds in per_T.items() for w in seeds.values() if w is None])
    unfitted = too_few_sizes([p[0] for p in points], "T", f"nMSE < {threshold:g}",
                             f"{steps} steps at widths up to {largest(Ts[-1])} (at T = {Ts[-1]})")
    if unfitted and model == "fcn" and fit["at_least"] is not None:
        # Only the lower bound: enough for the FCN's "at least like T d" to be partial, never reproduced (no
        # fitted slope, no interval, and the budget may be what stopped the larger T). It cannot refute the
        # transformer's "at most like log T": a budget that ran out is not a width that cannot.
        unfitted = None
        slope = (False, fit["at_least"] >= 0.5)
    else:
        slope = unfitted or (fit["slope"] if model != "fcn" else (fit["slope"] >= 0.8 and fit["low"] > 0.5,
                                                                  fit["slope"] >= 0.5))
    if model != "fcn" and not unfitted and fit["slope"] > AT_MOST_LOG_T:
        unfitted = still_learning(runs, [T for T in per_T if T > min(p[0] for p in points)], per_T, threshold)
    value = unfitted or (slope, (every_seed, True))
    widths = "; ".join(f"T={T}: " + ", ".join(f"seed {s}: {w if w is not None else f'> {largest(T)}'}"
                                              for s, w in sorted(seeds.items())) for T, seeds in per_T.items())
    bound = "" if fit["at_least"] is None else f"slope > {fit['at_least']:.2f} (the T that never got there); "
    return Measured(value, fit, bound + widths)


PLATEAU = 0.9  # a run has stopped improving when its last held-out nMSE is at least this times the one half-way


def still_learning(runs: list[RunResult], Ts: list[int], per_T: dict[int, dict[int, int | None]],
                   threshold: float) -> Untested | None:
    """Untested where a slope above "at most like log T" rests on a width that did not get there but may have with
    more steps: at each larger T, the widest run narrower than the critical width (every run, where none got there)
    must have stopped improving over the second half of its steps (``PLATEAU``); a run without its learning curve
    cannot show it. None where every such run has plateaued: the slope is a width that cannot, not a budget."""
    undecided = []
    for T in Ts:
        for seed, critical in per_T[T].items():
            narrower = [r for r in runs if r.ok and r.params.get("model") == "transformer" and r.params["T"] == T
                        and r.seed == seed and (critical is None or r.params["width"] < critical)]
            if not narrower:
                continue
            widest = max(narrower, key=lambda r: r.params["width"])
            curve = widest.measurements.get("curve")
            half = [nmse for step, nmse in curve or [] if step <= widest.measurements["steps"] / 2]
            if not curve or not half or curve[-1][1] < PLATEAU * half[-1]:
                shown = "no learning curve recorded" if not curve or not half else \
                    f"{half[-1]:.3g} half-way, {curve[-1][1]:.3g} at the end"
                undecided.append(f"T={T} d_head={widest.params['width']} ({shown})")
    if not undecided:
        return None
    return Untested(f"the slope rests on widths that trained all their steps without reaching nMSE < {threshold:g} and "
                    f"may have with more: {', '.join(undecided)}; a budget that ran out is not a width that cannot")


# --- selection-dynamics ----------------------------------------------------------------------------


def gap_flow(task: SelectionTask, lr: float, steps: list[int]) -> dict[int, float]:
    """The gap of gradient descent on the population loss, the derived prediction.

    With rotation-invariant codes and W = gamma I, the loss is (d/q) nmse_from_gap(T, q, gamma) and its
    gradient in W is its derivative in gamma times I/m, so one step moves gamma by -(lr/m) dL/dgamma.
    """
    from ..constructions.selection import nmse_from_gap

    m, scale = task.code_width, task.d / task.q

    def slope(gamma: float, h: float = 1e-4) -> float:
        return scale * (nmse_from_gap(task.T, task.q, gamma + h) - nmse_from_gap(task.T, task.q, gamma - h)) / (2 * h)

    gamma, out = 0.0, {}
    wanted = set(steps)
    for t in range(1, max(steps) + 1):
        gamma -= lr / m * slope(gamma)
        if t in wanted:
            out[t] = gamma
    return out


def record_steps(steps: int) -> list[int]:
    """About four steps per doubling, from 1 to ``steps``."""
    marks = {1, steps}
    x = 1.0
    while x < steps:
        marks.add(int(round(x)))
        x *= 2 ** 0.25
    return sorted(m for m in marks if 1 <= m <= steps)


class SelectionDynamics(Experiment):
    name = "selection-dynamics"
    title = "E5: gradient descent from W = 0 keeps W along I and grows the gap like (1/2) ln t"
    paper = WANG
    options = {"T": 16, "d": 8, "q": 3, "code_dim": 64, "lr": 5.0, "steps": 3200, "batch_size": 256,
               "arms": ["orthonormal", "gaussian"], "held_out": 1024}
    quick = {"steps": 1600}
    seeds, quick_seeds = 3, 2

    def grid(self, options, seeds):
        shared = {key: options[key] for key in ("T", "d", "q", "code_dim", "lr", "steps", "batch_size", "held_out")}
        return [RunSpec(positions, {**shared, "positions": positions}, seed)
                for positions in options["arms"] for seed in range(seeds)]

    def measure(self, spec, device):
        p = spec.params
        task = selection_task(p)
        model, history = train_wang(task, p["lr"], p["steps"], spec.seed, p["batch_size"], record_steps(p["steps"]),
                                    p["held_out"])
        return {"history": history, "mechanisms": wang_mechanism(model, task, history[-1]["nmse"], spec.seed)}

    def rows(self, options):
        marks = record_steps(options["steps"])
        flow = orthonormal_flow(options)
        specs = []
        if "orthonormal" in options["arms"]:
            specs += [
                RowSpec("cos(W, I) -> 1 with orthonormal codes",
                        Reference(1.0, THEORY + " (rotation invariance keeps W = gamma I)", "proof"), final_cosines,
                        AtLeast(0.99, 0.9, sentence_template="reproduced if every seed ends with cos(W, I) >= "
                                                             "{reproduced}; partial if >= {partial}"),
                        runs=of_arm("orthonormal")),
                RowSpec("the gap follows the population gradient flow",
                        Reference(f"gap(t) of GD on (d/q) nmse_from_gap(T, q, gap): {flow[marks[-1]]:.2f} at step "
                                  f"{marks[-1]}", THEORY, "closed_form"), partial(flow_deviation, flow=flow),
                        AtMost(0.05, 0.15, sentence_template="reproduced if every seed's gap is within {reproduced:percent} "
                                                             "of the flow at every recorded step >= 10; partial within "
                                                             "{partial:percent}"), runs=of_arm("orthonormal")),
                RowSpec("the gap grows like (1/2) ln t",
                        Reference(0.5, THEORY + " (late-time gradient flow: e^(2 gap) grows linearly in t)", "closed_form"),
                        partial(late_slope, flow=flow, marks=marks), Holds(
                            "reproduced if the median slope of the gap against ln t over the last three doublings is "
                            "within 0.05 of the flow's slope over the same steps and within 0.15 of 1/2 (the flow's slope "
                            "tends to 1/2: about 0.60 over 200..1600, 0.57 over 400..3200); partial if only within 0.15 "
                            "of 1/2"), runs=of_arm("orthonormal"))]
        if "gaussian" in options["arms"]:
            specs.append(RowSpec(
                "with Gaussian codes the gap saturates near 3.2 (noise-limited)",
                Reference(3.2, NOTES_RUN + " (m = 64, q = 3, T = 16)", "reference_run"),
                partial(saturation, marks=marks), Holds(
                    "reproduced if the median final gap is within 0.5 of 3.2 and no seed's gap grew by 0.15 or more over "
                    "the last doubling of steps (the orthonormal flow grows by about 0.39 per doubling); partial if only "
                    "the first"), runs=of_arm("gaussian")))
        return specs

    def plots(self, results, options, seeds):
        marks = record_steps(options["steps"])
        flow = orthonormal_flow(options)
        series = {f"{positions}: gap (median)": curve for positions in options["arms"]
                  if (curve := median_history(ok_results(results, positions=positions), "gap"))}
        series["gradient flow (orthonormal)"] = [flow[m] for m in marks]
        series["(1/2) ln t + c"] = [0.5 * math.log(m) + flow[marks[-1]] - 0.5 * math.log(marks[-1]) for m in marks]
        cosines = {positions: curve for positions in options["arms"]
                   if (curve := median_history(ok_results(results, positions=positions), "cos_identity"))}
        return [Plot.lines("gap_over_training", "Logit gap of W over training", marks, series, xlabel="step t",
                           ylabel="gap", logx=True, styles={"gradient flow (orthonormal)": "--", "(1/2) ln t + c": ":"}),
                Plot.lines("cos_identity", "cos(W, I) over training (median over seeds)", marks, cosines,
                           xlabel="step t", ylabel="cos(W, I)", logx=True)]

    def notes(self, results, options, seeds):
        return (
            f"Wang et al.'s model (`interp.models.wang.WangSelection`), W from 0, SGD lr {options['lr']:g}, batches of "
            f"{options['batch_size']}, m = {options['code_dim']}, T = {options['T']}, d = {options['d']}, q = {options['q']}, "
            f"{options['steps']} steps; the gap and cos(W, I) are measured on {options['held_out']} held-out examples at "
            "about four steps per doubling. The flow is gradient descent on the population loss with W = gamma I (the "
            "derivation in docs/theory/selection.md), computed from `nmse_from_gap`.")


def orthonormal_flow(options: dict[str, Any]) -> dict[int, float]:
    """The population gradient flow's gap at the recorded steps, for orthonormal codes."""
    return gap_flow(selection_task({**options, "positions": "orthonormal"}), options["lr"], record_steps(options["steps"]))


def median_history(group: list[RunResult], key: str) -> list[float]:
    """``key`` at each recorded step, the median over the runs of ``group`` (empty for no run)."""
    if not group:
        return []
    return [statistics.median(r.measurements["history"][i][key] for r in group)
            for i in range(len(group[0].measurements["history"]))]


def final_cosines(runs: list[RunResult]) -> Measured:
    cosines = [r.measurements["history"][-1]["cos_identity"] for r in ok_results(runs)]
    return Measured(min(cosines) if cosines else Untested(NO_FINISHED_RUN), spread(cosines))


def flow_deviation(runs: list[RunResult], flow: dict[int, float]) -> Measured:
    group = ok_results(runs)
    deviations = [abs(h["gap"] - flow[h["step"]]) / flow[h["step"]] for r in group
                  for h in r.measurements["history"] if h["step"] >= 10]
    worst = max(deviations) if deviations else None
    return Measured(measured_or(worst, NO_FINISHED_RUN), {
        "worst_relative_deviation": worst, "final_gap": spread([r.measurements["history"][-1]["gap"] for r in group])})


def late_slope(runs: list[RunResult], flow: dict[int, float], marks: list[int]) -> Measured:
    """The median slope of the gap against ln t over the last three doublings; the value: (within 0.15 of 1/2 and
    within 0.05 of the flow's slope, within 0.15 of 1/2)."""
    late = [m for m in marks if m >= marks[-1] / 8]
    slopes = []
    for r in ok_results(runs):
        points = [(math.log(h["step"]), h["gap"]) for h in r.measurements["history"] if h["step"] in late]
        if len(points) >= 2:
            slopes.append(statistics.linear_regression(*zip(*points)).slope)
    flow_slope = statistics.linear_regression([math.log(m) for m in late], [flow[m] for m in late]).slope
    median_slope = median(slopes)
    value = (Untested(NO_FINISHED_RUN) if median_slope is None else
             (abs(median_slope - 0.5) <= 0.15 and abs(median_slope - flow_slope) <= 0.05, abs(median_slope - 0.5) <= 0.15))
    return Measured(value, {**spread(slopes), "flow_slope_same_window": flow_slope, "window": [late[0], late[-1]]},
                    f"steps {late[0]}..{late[-1]}; the flow itself has slope {flow_slope:.3f} there")


def saturation(runs: list[RunResult], marks: list[int]) -> Measured:
    """The value: (the median final gap is within 0.5 of 3.2 and no seed's gap grew by 0.15 over the last doubling,
    the median final gap is within 0.5 of 3.2)."""
    gaussian = ok_results(runs)
    finals = [r.measurements["history"][-1]["gap"] for r in gaussian]
    half = [next(h["gap"] for h in r.measurements["history"] if h["step"] >= marks[-1] // 2) for r in gaussian]
    growth = [b - a for a, b in zip(half, finals)]
    final = median(finals)
    near = final is not None and abs(final - 3.2) <= 0.5
    value = Untested(NO_FINISHED_RUN) if final is None else (near and bool(growth) and max(growth) < 0.15, near)
    return Measured(value, {"final_gap": spread(finals), "growth_over_last_doubling": spread(growth)},
                    f"cos(W, I) at the end: {[round(r.measurements['history'][-1]['cos_identity'], 3) for r in gaussian]}")


SELECTION_EXPERIMENTS = [SelectionLength, SelectionFCN, SelectionDynamics]
