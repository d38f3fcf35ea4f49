"""Lavie, Gur-Ari & Ringel 2024 (arXiv 2402.05173): transformers in the GP limit, the symmetric group and
learning curves, reproduced on the toolkit's own models.

- ``symmetry-kernel``: the simplified block's kernel in closed form, its spectrum labelled by irreps of S_L,
  permutation invariance, Monte Carlo over random networks (numpy, and the toolkit's TransformerBridge
  through its hooks) against the closed form, the softmax kernel, the trace bound.
- ``symmetry-learning-curves``: the eigenlearning prediction against exact GP regression and a wide
  readout-trained bridge, for targets of asymmetry order 0 and 1; P_1/2 against context length.
- ``symmetry-bias``: the symmetry bias B = S_sym(model) - S_sym(target) of trained parity, selection and
  counting models against the training-set size.

Setting, derivations, reference numbers and what is known of the paper: docs/theory/symmetry.md.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from ..defaults import configure
from ..family import family_of
from ..grading import AllOf, AtMost, Every, Holds, RoundsTo, Share, Untested
from ..plot import Plot
from ..symmetry.energy import PointIndex, decompose_table
from ..symmetry.group import all_permutations, hook_dimension
from ..symmetry.kernel import (
    all_sequences,
    kernel_spectrum,
    linear_kernel,
    monte_carlo_kernel,
    permutation_invariance,
    relative_error,
)
from ..symmetry.learning import (
    Eigensystem,
    gpr_learnability,
    half_sample_size,
    learnability,
    plain_learnability,
    theory_error,
    theory_learnability,
    training_sets,
)
from .base import Experiment, Measured, Reference, RowSpec, RunResult, RunSpec, every_run
from .census import mechanism
from .statistics import NO_FINISHED_RUN, loglog_slope, measured_or, no_run, ok_results, spread, too_few_sizes

# What trains and measures models (torch, TransformerLens) is imported inside the functions that run them, so
# that listing the experiments (``interp experiment list``) reads this module without loading it.

PAPER = "Lavie, Gur-Ari & Ringel 2024 (arXiv 2402.05173)"
NOTES_RUN = "docs/theory/symmetry.md reference run"
DERIVED = "docs/theory/symmetry.md (derived)"

# docs/theory/symmetry.md, reference run: Gram eigenvalues / N at V=2, L=5, mean readout, sp2=1, as quoted
# (value, decimals quoted).
TRIVIAL_EIGENVALUES = [(0.6445, 4), (0.188, 3), (0.0219, 4)]
STANDARD_EIGENVALUES = [(0.028, 3), (0.0024, 4)]
TOP_STANDARD_TIMES_DIMENSION = {4: 0.141, 5: 0.112, 7: 0.079, 10: 0.054}
# P at which the kappa-theory learnability reaches 1/2 (reference run; L = 4, 6, 8, 10).
HALF_POINTS = {(0.01, "standard"): [5, 6, 8, 10], (0.01, "trivial"): [2, 3, 3, 3],
               (0.1, "standard"): [7, 11, 17, 25], (0.1, "trivial"): [3, 3, 4, 4]}
HALF_POINT_LS = [4, 6, 8, 10]
S1_LEARNABILITY = {8: {"gpr": 0.625, "theory": 0.590, "plain": 0.899}, 32: {"gpr": 0.957, "theory": 0.953}}
TARGETS = {"standard": "s_1 - mean(s): all in (L-1,1)", "trivial": "count of 1s: all trivial",
           "s1": "s_1: 1/L trivial, (L-1)/L in (L-1,1)"}


QUOTED = RoundsTo(0.02)  # a value against the reference run's number as quoted


def targets_on(X: np.ndarray) -> dict[str, np.ndarray]:
    """The learning-curve targets on the points ``X [N, L]`` (binary tokens, spins ``s = 1 - 2 t``)."""
    s = (1 - 2 * X).astype(np.float64)
    count = X.sum(1).astype(np.float64)
    return {"standard": s[:, 0] - s.mean(1), "trivial": count - count.mean(), "s1": s[:, 0]}


def kernel_stats(estimate: np.ndarray, standard_error: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    return {"median_pair_error": float(np.median(np.abs(estimate - exact) / np.abs(exact))),
            "frobenius_error": relative_error(estimate, exact),
            "max_z": float(np.max(np.abs(estimate - exact) / np.maximum(standard_error, 1e-300)))}


def symmetrize(K: np.ndarray, X: np.ndarray, V: int) -> np.ndarray:
    """The average of ``K(pi x, pi x')`` over all of S_L (exact in expectation for an invariant kernel)."""
    index = PointIndex(X, V)
    perms = all_permutations(X.shape[1])
    out = np.zeros_like(K)
    for p in perms:
        rows = index.rows(X[:, p])
        out += K[np.ix_(rows, rows)]
    return out / len(perms)


def spectrum_entries(groups) -> list[dict[str, Any]]:
    return [{"value": g.value, "degeneracy": g.degeneracy, "label": g.label,
             "orders": sorted({sum(lam) - lam[0] for lam in g.irreps})} for g in groups]


def trace_bound_ratio(groups, K: np.ndarray) -> float:
    """Largest ``kappa d_lam / E K(x, x)`` over eigenvalue groups labelled by one irrep (<= 1 by the bound)."""
    trace = float(np.mean(np.diag(K)))
    return max(g.value * hook_dimension(lam) / trace for g in groups for lam in g.irreps)


def estimate_row(name: str, reference: Reference, runs: Callable[[RunResult], bool], reproduced_below: float,
                 partial_below: float) -> RowSpec:
    """A row for Monte Carlo kernel estimates against the closed form: median relative error over pairs
    (median over seeds) and the largest z-score of any entry, which caps the verdict at partial."""
    error = "the median over seeds of the median relative error over pairs is <= {rules[0].reproduced:.1%}"
    if partial_below == reproduced_below:
        rule = AllOf((AtMost(reproduced_below), WITHIN_ERRORS), f"reproduced if {error} and no entry is beyond "
                     "{rules[1].reproduced} standard errors; partial if only the error bound holds")
    else:
        rule = AllOf((AtMost(reproduced_below, partial_below), WITHIN_ERRORS), (
            f"reproduced if {error} and no entry is beyond {{rules[1].reproduced}} standard errors; partial if the "
            "error is <= {rules[0].partial:.1%}"))
    return RowSpec(name, reference, kernel_estimates, rule, runs=runs)


MAX_Z = 5  # how many standard errors a Monte Carlo entry may lie from the closed form
# An entry beyond MAX_Z standard errors caps a row's verdict at partial (an infinite partial threshold: no failing).
WITHIN_ERRORS = AtMost(MAX_Z, math.inf)


def kernel_estimates(runs: list[RunResult]) -> Measured:
    """The value: (the median over seeds of the median relative error over pairs, the largest z-score)."""
    good = ok_results(runs)
    median_ = spread([r.measurements["median_pair_error"] for r in good])
    z = max((r.measurements["max_z"] for r in good), default=None)
    return Measured(Untested(NO_FINISHED_RUN) if median_["median"] is None else (median_["median"], z),
                    {"median_pair_error": median_, "max_z": z,
                     "frobenius_error": spread([r.measurements["frobenius_error"] for r in good])},
                    "per seed: " + ", ".join(f"{r.measurements['median_pair_error']:.2%}" for r in good))


def of_kind(kind: str) -> Callable[[RunResult], bool]:
    return lambda result: result.params["kind"] == kind


def closed_form_measurements(p: dict[str, Any], seed: int, X: np.ndarray, K: np.ndarray) -> dict[str, Any]:
    """The closed form's spectrum by irrep, its invariance under permutations, and its spectrum at other lengths."""
    V, L, sp2 = p["V"], p["L"], p["sp2"]
    groups = kernel_spectrum(K, X, V)
    invariance = permutation_invariance(lambda a, b: linear_kernel(a, b, V=V, sp2=sp2), X, seed=seed)
    shift = np.roll(np.arange(L), -1)  # a permutation that moves every position
    one_sided = np.abs(linear_kernel(X[:, shift], X, V=V, sp2=sp2) - K) / K
    by_length = {}
    for length in p["spectrum_Ls"]:
        Xl = all_sequences(V, length)
        Kl = linear_kernel(Xl, V=V, sp2=sp2)
        gl = kernel_spectrum(Kl, Xl, V)
        standard = [g.value for g in gl if g.irrep == (length - 1, 1)]
        by_length[str(length)] = {"top_standard_times_dimension": max(standard) * (length - 1) if standard else None,
                                  "orders": sorted({o for g in gl for o in spectrum_entries([g])[0]["orders"]}),
                                  "trace_bound_ratio": trace_bound_ratio(gl, Kl)}
    return {"spectrum": spectrum_entries(groups), "simultaneous_change": invariance["simultaneous"],
            "one_sided_max_change": invariance["one_sided"], "one_sided_mean_relative_change": float(one_sided.mean()),
            "trace_bound_ratio": trace_bound_ratio(groups, K), "by_length": by_length}


def softmax_measurements(p: dict[str, Any], seed: int, X: np.ndarray) -> dict[str, Any]:
    """The infinite-width softmax kernel by Monte Carlo over the Gaussian logit field, then the toolkit's bridges."""
    from ..symmetry.block import BlockConfig, empirical_kernel

    V, L, sp2 = p["V"], p["L"], p["sp2"]
    estimate, se = monte_carlo_kernel(X, V=V, sp2=sp2, attention="softmax", networks=p["networks"],
                                      seed=seed, d_k=None)
    symmetric = symmetrize(estimate, X, V)
    groups = kernel_spectrum(symmetric, X, V, tolerance=1e-6)
    rng = np.random.default_rng(seed)
    z_simultaneous, z_one_sided = 0.0, 0.0
    index = PointIndex(X, V)
    for _ in range(4):
        rows = index.rows(X[:, rng.permutation(L)])
        noise = np.sqrt(se**2 + se[np.ix_(rows, rows)] ** 2)
        z_simultaneous = max(z_simultaneous, float(np.max(np.abs(estimate[np.ix_(rows, rows)] - estimate) / noise)))
        z_one_sided = max(z_one_sided, float(np.max(np.abs(estimate[rows] - estimate) / np.sqrt(se**2 + se[rows] ** 2))))
    cfg = BlockConfig(V=V, L=L, sp2=sp2, heads=p["heads"], d_k=p["d_k"], positional_width=p["positional_width"],
                      attention="softmax")
    bridge, bridge_se = empirical_kernel(cfg, X, p["bridge_networks"], seed=1000 * seed + 500)
    combined = np.sqrt(bridge_se**2 + se**2)
    return {"spectrum": spectrum_entries(groups), "trace_bound_ratio": trace_bound_ratio(groups, symmetric),
            "max_z_simultaneous": z_simultaneous, "max_z_one_sided": z_one_sided,
            "bridge": {**kernel_stats(bridge, combined, estimate)}}


class SymmetryKernel(Experiment):
    name = "symmetry-kernel"
    title = "The simplified block's GP kernel: closed form, irreps of S_L, Monte Carlo and the toolkit's own networks"
    paper = PAPER
    options = {"V": 2, "L": 5, "sp2": 1.0, "networks": 20000, "networks_large": 100000, "d_k": 8, "positional_width": 400,
               "bridge_networks": 20000, "bridge_heads": 500, "softmax_networks": 20000, "softmax_d_k": 64,
               "softmax_bridge_networks": 4000, "spectrum_Ls": [4, 5, 7, 10]}
    quick = {"bridge_networks": 10000, "softmax_bridge_networks": 2000}
    seeds, quick_seeds = 3, 2

    def grid(self, options, seeds):
        shared = {key: options[key] for key in ("V", "L", "sp2")}
        specs = [RunSpec("closed form", {**shared, "kind": "closed_form", "spectrum_Ls": options["spectrum_Ls"]}, 0)]
        for seed in range(seeds):
            specs.append(RunSpec("monte carlo", {**shared, "kind": "monte_carlo", "networks": options["networks"],
                                                 "networks_large": options["networks_large"], "d_k": options["d_k"],
                                                 "positional_width": options["positional_width"]}, seed))
            specs.append(RunSpec("bridge", {**shared, "kind": "bridge", "networks": options["bridge_networks"],
                                            "heads": options["bridge_heads"], "d_k": options["d_k"],
                                            "positional_width": options["positional_width"]}, seed))
            specs.append(RunSpec("softmax", {**shared, "kind": "softmax", "networks": options["softmax_networks"],
                                             "bridge_networks": options["softmax_bridge_networks"],
                                             "heads": options["bridge_heads"], "d_k": options["softmax_d_k"],
                                             "positional_width": options["positional_width"]}, seed))
        return specs

    def measure(self, spec, device):
        from ..symmetry.block import BlockConfig, empirical_kernel

        p = spec.params
        V, L, sp2 = p["V"], p["L"], p["sp2"]
        X = all_sequences(V, L)
        K = linear_kernel(X, V=V, sp2=sp2)
        if p["kind"] == "closed_form":
            return closed_form_measurements(p, spec.seed, X, K)
        if p["kind"] == "monte_carlo":
            out = {}
            for key, networks in (("", p["networks"]), ("large", p["networks_large"])):
                estimate, se = monte_carlo_kernel(X, V=V, sp2=sp2, attention="linear", networks=networks,
                                                  seed=spec.seed + (10_000 if key else 0), d_k=p["d_k"],
                                                  positional_width=p["positional_width"])
                stats = kernel_stats(estimate, se, K)
                out.update({"large": stats} if key else stats)
            return out
        if p["kind"] == "bridge":
            cfg = BlockConfig(V=V, L=L, sp2=sp2, heads=p["heads"], d_k=p["d_k"], positional_width=p["positional_width"])
            estimate, se = empirical_kernel(cfg, X, p["networks"], seed=1000 * spec.seed)
            return kernel_stats(estimate, se, K)
        return softmax_measurements(p, spec.seed, X)

    def rows(self, options):
        return self.closed_form_rows(options) + [
            estimate_row(f"Monte Carlo ({options['networks']} random one-head blocks, d_k={options['d_k']}, positional "
                         f"width {options['positional_width']}) against the closed form",
                         Reference("about 2 %", NOTES_RUN, "reference_run"), of_kind("monte_carlo"),
                         reproduced_below=0.025, partial_below=0.05),
            RowSpec(f"the Monte Carlo error shrinks like 1/sqrt(M) ({options['networks']} -> {options['networks_large']} "
                    "networks)",
                    Reference(round(math.sqrt(options["networks"] / options["networks_large"]), 3),
                              DERIVED + ": the central limit theorem", "closed_form"),
                    partial(error_shrinks, expected=math.sqrt(options["networks"] / options["networks_large"])), Holds(
                        f"reproduced if the ratio of median errors is within a factor {SHRINK_FACTOR} of sqrt(M_small / "
                        f"M_large) and no entry is beyond {MAX_Z} standard errors at the larger M; partial if the error "
                        "shrinks at all"),
                    runs=of_kind("monte_carlo"),
                    shown_if=lambda runs: any("large" in r.measurements for r in ok_results(runs))),
            estimate_row(f"the toolkit's TransformerBridge ({options['bridge_networks']} one-head blocks read through "
                         "hook_z and W_O) against the closed form", Reference("within Monte Carlo error", DERIVED,
                                                                              "closed_form"),
                         of_kind("bridge"), reproduced_below=0.1, partial_below=0.1),
        ] + self.softmax_rows(options)

    @staticmethod
    def closed_form_rows(options) -> list[RowSpec]:
        """The rows on the closed form's spectrum and invariance, shown when its run finished."""
        L, shown = options["L"], (lambda runs: closed_form(runs) is not None)
        specs = [
            (f"Gram eigenvalues / N on the trivial irrep (V={options['V']}, L={L}, mean readout, sp2={options['sp2']})",
             Reference([v for v, _ in TRIVIAL_EIGENVALUES], NOTES_RUN, "reference_run"), partial(trivial_spectrum, L=L),
             Every(QUOTED, f"reproduced if each rounds to the quoted value (and there are exactly "
                           f"{len(TRIVIAL_EIGENVALUES)}); partial if within {{rule.partial:percent}}")),
            (f"Gram eigenvalues / N on ({L - 1},1), each {L - 1}-fold degenerate",
             Reference([v for v, _ in STANDARD_EIGENVALUES], NOTES_RUN, "reference_run"), partial(standard_spectrum, L=L),
             AllOf((Every(QUOTED), Holds(f"each eigenspace is exactly one copy of ({L - 1},1)")), (
                 f"reproduced if each rounds to the quoted value and each eigenspace is exactly one copy of ({L - 1},1) "
                 f"(dimension {L - 1}); partial if within {{rules[0].rule.partial:percent}}"))),
            ("K(pi x, pi x') = K(x, x') (simultaneous permutations)", Reference(1e-12, NOTES_RUN, "reference_run"),
             simultaneous_change, AtMost(1e-12, 1e-9, sentence_template=(
                 "reproduced if the largest change is <= {reproduced:e}; partial if <= {partial:e}"))),
            ("a one-sided permutation changes K", Reference(0.10, NOTES_RUN + " (metric not stated there)", "reference_run"),
             one_sided_change, Holds("reproduced if the mean relative change over all pairs, for a shift that moves every "
                                     "position, rounds to 0.10; partial if it is clearly nonzero (> 0.01)")),
            ("top (L-1,1) eigenvalue x (L-1) against L", Reference(TOP_STANDARD_TIMES_DIMENSION, NOTES_RUN, "reference_run"),
             top_standard_by_length, Every(QUOTED, "reproduced if each rounds to the quoted value (3 decimals); partial "
                                                   "if within {rule.partial:percent}", missing=(
                 f"the options' spectrum_Ls {options['spectrum_Ls']} hold none of the quoted lengths"))),
            ("trace bound: every eigenvalue on irrep lam is <= E K(x,x) / d_lam (linear kernel)",
             Reference("kappa d_lam / E K(x, x) <= 1", DERIVED, "proof"), linear_trace_bound,
             AtMost(TRACE_BOUND, sentence_template="reproduced if the largest ratio over all eigenvalue groups and "
                                                   "lengths is <= {reproduced:g}")),
            ("the linear kernel with mean readout carries only the irreps (L) and (L-1,1)",
             Reference("asymmetry orders {0, 1}", DERIVED, "closed_form"), asymmetry_orders,
             Holds("reproduced if every nonzero eigenvalue at every length lies on an irrep of order 0 or 1")),
        ]
        return [RowSpec(*spec, runs=of_kind("closed_form"), shown_if=shown) for spec in specs]

    @staticmethod
    def softmax_rows(options) -> list[RowSpec]:
        """The rows on the softmax kernel, shown when one of its runs finished."""
        specs = [
            ("softmax kernel (Monte Carlo, Gaussian logit field) is invariant under simultaneous permutations",
             Reference("K(pi x, pi x') = K(x, x')", DERIVED, "proof"), softmax_invariance, Holds(
                 f"reproduced if no entry changes by more than {MAX_Z} standard errors under simultaneous permutations "
                 f"while a one-sided permutation does (> {MAX_Z}); partial if only the first holds")),
            ("trace bound on the softmax kernel's spectrum (symmetrised Monte Carlo)",
             Reference("kappa d_lam / E K(x, x) <= 1", DERIVED, "proof"), softmax_trace_bound,
             AtMost(TRACE_BOUND, sentence_template="reproduced if the largest ratio is <= {reproduced:g}")),
            (f"the toolkit's softmax bridges (d_head={options['softmax_d_k']}) against the infinite-width softmax kernel",
             Reference("within Monte Carlo error (finite d_head aside)", DERIVED, "closed_form"), softmax_bridges,
             AllOf((AtMost(0.05, 0.1), WITHIN_ERRORS), (
                 "reproduced if the median relative error is <= {rules[0].reproduced:percent} and no entry is beyond "
                 "{rules[1].reproduced} standard errors; partial if the error is <= {rules[0].partial:percent}"))),
        ]
        return [RowSpec(*spec, runs=of_kind("softmax"), shown_if=lambda runs: bool(ok_results(runs))) for spec in specs]

    def plots(self, results, options, seeds):
        L, plots = options["L"], []
        if m := closed_form(results):
            plots.append(Plot.bars("linear_spectrum", f"Linear-attention kernel, V={options['V']}, L={L}: eigenvalues / N "
                                   "by irrep", [f"{g['label']} x{g['degeneracy']}" for g in m["spectrum"]],
                                   {"eigenvalue / N": [g["value"] for g in m["spectrum"]]},
                                   highlight=[g["label"] == f"({L})" for g in m["spectrum"]], ylabel="eigenvalue / N"))
        if good := ok_results(results, kind="softmax"):
            spectrum = good[0].measurements["spectrum"][:12]
            plots.append(Plot.bars("softmax_spectrum", "Softmax kernel (Monte Carlo, symmetrised): eigenvalues / N by "
                                   "irrep", [f"{g['label']} x{g['degeneracy']}" for g in spectrum],
                                   {"eigenvalue / N": [g["value"] for g in spectrum]},
                                   highlight=[g["label"] == f"({L})" for g in spectrum], ylabel="eigenvalue / N"))
        return plots

    def notes(self, results, options, seeds):
        return (
            "Kernel of the simplified block with linear attention, K = L^-4 (sum G)(sum G^2) with "
            "G_{mu nu} = [t_mu = t'_nu] + sp2 [mu = nu], on all of {0,1}^L. Eigenspaces of K/N are labelled by "
            "decomposing their character over the conjugacy classes of S_L. Monte Carlo: independent one-head blocks "
            "with N(0,1) weights and random positional embeddings of the stated width; the bridge rows build the same "
            "blocks as TransformerBridge models (linear attention = hook_pattern replaced by the scores) and read each "
            "head through hook_z. Softmax: the d_head -> infinity limit sampled as a Gaussian logit field with "
            "covariance G (x) G, symmetrised over S_L before its spectrum is taken.")


SHRINK_FACTOR = 1.5  # how far the Monte Carlo error ratio may be from sqrt(M_small / M_large)
TRACE_BOUND = 1.0 + 1e-9  # the trace bound's largest ratio, 1, with room for rounding


def closed_form(runs: list[RunResult]) -> dict[str, Any] | None:
    """The measurements of the closed form's run, None where it did not finish."""
    return next((r.measurements for r in ok_results(runs, kind="closed_form")), None)


def trivial_spectrum(runs: list[RunResult], L: int) -> Measured:
    m = closed_form(runs)
    trivial = [g["value"] for g in m["spectrum"] if g["label"] == f"({L})"]
    value = ([(v, ref, d) for v, (ref, d) in zip(trivial, TRIVIAL_EIGENVALUES)]
             if len(trivial) == len(TRIVIAL_EIGENVALUES) else None)
    return Measured(value, {"values": trivial},
                    "; ".join(f"{g['label']}: {g['value']:.5g} x{g['degeneracy']}" for g in m["spectrum"]))


def standard_spectrum(runs: list[RunResult], L: int) -> Measured:
    """The (L-1,1) eigenvalues against the quoted ones; the value: (each against its quoted value, whether each
    eigenspace is one copy of the irrep)."""
    std = [g for g in closed_form(runs)["spectrum"] if g["label"] == f"({L - 1},1)"]
    values = [g["value"] for g in std]
    one_copy = all(g["degeneracy"] == L - 1 for g in std)
    value = ([[(v, ref, d) for v, (ref, d) in zip(values, STANDARD_EIGENVALUES)], (one_copy, one_copy)]
             if len(values) == len(STANDARD_EIGENVALUES) else None)
    return Measured(value, {"values": values, "degeneracies": [g["degeneracy"] for g in std]},
                    "eigenspaces labelled by decomposing their character Tr(P_U R_pi) over the classes of S_L")


def simultaneous_change(runs: list[RunResult]) -> Measured:
    change = closed_form(runs)["simultaneous_change"]
    return Measured(change, {"max_abs_change": change})


def one_sided_change(runs: list[RunResult]) -> Measured:
    """The value: (the mean relative change rounds to 0.10, it is above 0.01)."""
    m = closed_form(runs)
    change = m["one_sided_mean_relative_change"]
    return Measured((abs(change - 0.10) <= 0.005, change > 0.01),
                    {"mean_relative_change": change, "max_abs_change": m["one_sided_max_change"]})


def top_standard_by_length(runs: list[RunResult]) -> Measured:
    by_length = closed_form(runs)["by_length"]
    measured = {length: by_length[str(length)]["top_standard_times_dimension"]
                for length in TOP_STANDARD_TIMES_DIMENSION if str(length) in by_length}
    return Measured({length: None if v is None else (v, TOP_STANDARD_TIMES_DIMENSION[length], 3)
                     for length, v in measured.items()}, measured)


def linear_trace_bound(runs: list[RunResult]) -> Measured:
    m = closed_form(runs)
    largest = max([v["trace_bound_ratio"] for v in m["by_length"].values()] + [m["trace_bound_ratio"]])
    return Measured(largest, {"largest_ratio": largest})


def asymmetry_orders(runs: list[RunResult]) -> Measured:
    """The value: every nonzero eigenvalue's irrep has order 0 or 1 (twice: there is no partial)."""
    orders = sorted({o for v in closed_form(runs)["by_length"].values() for o in v["orders"]})
    return Measured((set(orders) <= {0, 1},) * 2, {"orders_with_nonzero_eigenvalues": orders})


def error_shrinks(runs: list[RunResult], expected: float) -> Measured:
    """The value: (the ratio of median errors is within SHRINK_FACTOR of ``expected`` and no entry is beyond MAX_Z
    standard errors at the larger M, the error shrinks)."""
    good = ok_results(runs)
    large = [r.measurements["large"] for r in good if "large" in r.measurements]
    ratio = (statistics.median(b["median_pair_error"] for b in large)
             / spread([r.measurements["median_pair_error"] for r in good])["median"])
    max_z = max(b["max_z"] for b in large)
    return Measured((expected / SHRINK_FACTOR <= ratio <= expected * SHRINK_FACTOR and max_z <= MAX_Z, ratio < 1),
                    {"error_ratio": ratio, "median_pair_error_large": spread([b["median_pair_error"] for b in large]),
                     "max_z_large": max_z})


def softmax_invariance(runs: list[RunResult]) -> Measured:
    """The value: (no entry moves beyond MAX_Z standard errors under simultaneous permutations while one does under
    a one-sided one, the first)."""
    good = ok_results(runs)
    simultaneous = max(r.measurements["max_z_simultaneous"] for r in good)
    return Measured((simultaneous <= MAX_Z and min(r.measurements["max_z_one_sided"] for r in good) > MAX_Z,
                     simultaneous <= MAX_Z),
                    {"max_z_simultaneous": simultaneous,
                     "max_z_one_sided": max(r.measurements["max_z_one_sided"] for r in good)})


def softmax_trace_bound(runs: list[RunResult]) -> Measured:
    good = ok_results(runs)
    largest = max(r.measurements["trace_bound_ratio"] for r in good)
    return Measured(largest, {"largest_ratio": largest},
                    "; ".join(f"{g['label']}: {g['value']:.4g} x{g['degeneracy']}"
                              for g in good[0].measurements["spectrum"][:8]))


def softmax_bridges(runs: list[RunResult]) -> Measured:
    """The value: (the median relative error of the bridges against the softmax kernel, the largest z-score)."""
    bridge = [r.measurements["bridge"] for r in ok_results(runs)]
    median_ = spread([b["median_pair_error"] for b in bridge])
    max_z = max(b["max_z"] for b in bridge)
    return Measured((median_["median"], max_z), {"median_pair_error": median_, "max_z": max_z})


class SymmetryLearningCurves(Experiment):
    name = "symmetry-learning-curves"
    title = "Learning curves of the block's GP: eigenlearning vs exact GP regression vs a wide readout-trained bridge"
    paper = PAPER
    options = {"Ls": [4, 6, 8, 10], "V": 2, "sp2": 1.0, "noises": [0.01, 0.1], "draws": 20,
               "gpr_P": [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64, 96, 128, 256, 512,
                         1024, 2048, 4096, 8000],
               "wide_Ls": [6, 8], "wide_P": [2, 4, 8, 16, 32, 64, 128], "wide_draws": 4, "wide_heads": 256,
               "wide_d_k": 8, "wide_width": 256}
    quick = {"draws": 12, "wide_draws": 3}
    seeds, quick_seeds = 1, 1

    def grid(self, options, seeds):
        shared = {key: options[key] for key in ("V", "sp2", "noises", "draws", "gpr_P")}
        wide = {key: options[key] for key in ("wide_P", "wide_draws", "wide_heads", "wide_d_k", "wide_width")}
        return [RunSpec(f"L={L}", {**shared, "L": L, "wide": L in options["wide_Ls"], **wide}, seed)
                for L in options["Ls"] for seed in range(seeds)]

    def measure(self, spec, device):
        p = spec.params
        V, L = p["V"], p["L"]
        X = all_sequences(V, L)
        K = linear_kernel(X, V=V, sp2=p["sp2"])
        eigen = Eigensystem.of(K)
        targets = targets_on(X)
        names = list(targets)
        Y = np.stack([targets[n] for n in names], 1)
        curve_P = sorted({int(round(x)) for x in np.geomspace(1, 8000, 40)})
        out: dict[str, Any] = {"L": L, "mean_diagonal": float(np.mean(np.diag(K))), "curve_P": curve_P,
                               "gpr_P": p["gpr_P"], "content": {}, "theory": {}, "gpr": {}}
        for n in names:
            d = decompose_table(targets[n], X, V, seed=spec.seed)
            out["content"][n] = {"profile": d.profile[:3], "method": d.method}
        for noise in p["noises"]:
            key = f"{noise:g}"
            out["theory"][key], out["gpr"][key] = {}, {}
            draws = np.stack([gpr_learnability(K, Y, P, noise, p["draws"], seed=1000 * spec.seed + P) for P in p["gpr_P"]])
            for i, n in enumerate(names):
                g = eigen.coefficients(targets[n])
                half = half_sample_size(eigen.values, g, noise)
                out["theory"][key][n] = {
                    "learnability": [theory_learnability(eigen.values, g, P, noise) for P in curve_P],
                    "error": [theory_error(eigen.values, g, P, noise) for P in curve_P],
                    "at": {str(P): theory_learnability(eigen.values, g, P, noise) for P in p["gpr_P"]},
                    "plain_at": {str(P): plain_learnability(eigen.values, g, P, noise) for P in p["gpr_P"]},
                    "half": half, "half_integer": None if half is None else math.ceil(half - 1e-9)}
                mean = draws[:, :, i].mean(1)
                out["gpr"][key][n] = {"mean": mean.tolist(),
                                      "se": (draws[:, :, i].std(1, ddof=1) / np.sqrt(p["draws"])).tolist(),
                                      "half": crossing(p["gpr_P"], mean.tolist())}
        if p["wide"]:
            out["wide"] = wide_bridge(p, spec.seed, X, K, targets)
            out["mechanisms"] = {"wide bridge": gp_mechanism(out["wide"])}
        return out

    def rows(self, options):
        specs = [
            RowSpec("P_1/2 (kappa-theory, smallest integer P with learnability >= 1/2) at L = 4, 6, 8, 10",
                    Reference({f"sigma2={n:g} {t}": v for (n, t), v in HALF_POINTS.items()}, NOTES_RUN, "reference_run"),
                    half_point_table, Every(Holds(
                        f"reproduced if every cell equals the reference run's; partial if every cell is within "
                        f"{HALF_POINT_SLACK}"))),
            RowSpec("learnability of s_1 at L=8, sigma2=1e-2: kappa-theory and plain equivalent kernel",
                    Reference(S1_LEARNABILITY, NOTES_RUN, "reference_run"), s1_theory,
                    Every(QUOTED, "reproduced if every value rounds to the quoted one (3 decimals); partial if within "
                                  "{rule.partial:percent}"), runs=at_length(8), reads=every_run, shown_if=has_s1),
            RowSpec("exact GP regression learnability of s_1 at L=8, sigma2=1e-2 (mean over draws)",
                    Reference({f"P={P}": v["gpr"] for P, v in S1_LEARNABILITY.items()}, NOTES_RUN + " (40 draws)",
                              "reference_run"), s1_regression,
                    Every(Holds("reproduced if within 2 standard errors (of our draws) + 0.01 of the reference run; "
                                "partial within 4 standard errors + 0.02")), runs=at_length(8), reads=every_run,
                    shown_if=has_s1),
            RowSpec("kappa-theory tracks exact GP regression (both targets, every L, noise and P)",
                    Reference("gap 0.035 at P=8 (0.625 vs 0.590), 0.004 at P=32", NOTES_RUN, "reference_run"),
                    theory_against_regression, AtMost(THEORY_GAP, 0.1, sentence_template=(
                        "reproduced if the largest |GPR mean - theory| is <= {reproduced}; partial if <= {partial}"))),
            RowSpec(f"a wide bridge ({options['wide_heads']} heads, readout trained with the prior's weight decay) tracks "
                    "exact GP regression, targets of order 0 and 1",
                    Reference("the trained readout's posterior mean is the GP's as width -> infinity", DERIVED,
                              "closed_form"), wide_against_regression, AtMost(*GP_TRACKS, sentence_template=(
                        "reproduced if the largest |trained - GPR| learnability gap (means over the same draws) is <= "
                        "{reproduced}; partial if <= {partial}")), runs=lambda r: r.params.get("wide"), reads=every_run),
        ]
        for noise in options["noises"]:
            for target, rule in SCALING_RULES.items():
                reference_halves = HALF_POINTS.get((noise, target))
                reference_slope = (float(np.polyfit(np.log(HALF_POINT_LS), np.log(reference_halves), 1)[0])
                                   if reference_halves else None)
                specs.append(RowSpec(
                    f"P_1/2 against L, {TARGETS[target]}, sigma2={noise:g}",
                    Reference(round(reference_slope, 2) if reference_slope is not None else "O(1)",
                              NOTES_RUN + " (slope of its P_1/2 table)", "reference_run"),
                    partial(half_point_scaling, noise=noise, target=target), rule))
        specs.append(RowSpec(
            "P_1/2 of the (L-1,1) target is at least sigma2 d_lam / E K(x,x) (the trace bound, d_lam = L-1)",
            Reference("P_1/2 >= sigma2 d_lam / E K(x, x)", DERIVED, "proof"), half_point_bound,
            Share(1.0, sentence_template="reproduced if the bound holds in {reproduced:part} cell")))
        return specs

    def plots(self, results, options, seeds):
        by_L = by_length(results)
        plot_L = 8 if 8 in by_L else (max(by_L) if by_L else None)
        if plot_L is None:
            return []
        m = by_L[plot_L]
        plots = []
        for noise in m["theory"]:
            series, styles = learning_curves(m, noise)
            plots.append(Plot.lines(f"learning_curves_L{plot_L}_noise{noise}", f"L={plot_L}, sigma2={noise}: learnability "
                                    "against P", m["curve_P"], series, xlabel="training samples P", ylabel="learnability",
                                    logx=True, hline=0.5, styles=styles))
        Ls = sorted(by_L)
        for noise in by_L[Ls[0]]["theory"]:
            series = {f"{t}: kappa-theory": [by_L[L]["theory"][noise][t]["half"] for L in Ls] for t in ("standard", "trivial")}
            series.update({f"{t}: exact GPR": [by_L[L]["gpr"][noise][t]["half"] for L in Ls] for t in ("standard", "trivial")})
            series["d_(L-1,1) = L-1"] = [L - 1 for L in Ls]
            plots.append(Plot.lines(f"half_point_noise{noise}", f"P_1/2 against context length, sigma2={noise}", Ls,
                                    series, xlabel="L", ylabel="P_1/2", logx=True, logy=True,
                                    styles={"d_(L-1,1) = L-1": "--"}))
        return plots

    def notes(self, results, options, seeds):
        return (
            "Kernel: the linear-attention block with mean readout (sp2=1) on all of {0,1}^L, uniform measure. "
            "Targets: s_1 - mean(s) (all in the (L-1,1) irrep), the count of 1s (all trivial) and s_1 (both). "
            "kappa-theory: eigenlearning on the kernel's spectrum. Exact GPR: posterior mean from P points drawn "
            "with replacement, learnability <y, f>/<y, y> on all inputs, averaged over draws. Wide model: a "
            "TransformerBridge with the block's prior weights whose readout W_O[:, :, 0] alone is trained (L-BFGS) "
            "on 0.5 sum (f - y)^2 + 0.5 sigma2 |w|^2 on the same training sets; its learnability is measured through "
            "the bridge's own forward pass (hook_attn_out). Its census entry: no task's probes read a GP-limit model, and "
            "the mechanism the theory predicts for it is the GP's, so its status is predicted when its largest learnability "
            f"gap to exact GPR is <= {GP_TRACKS[0]}, partly when <= {GP_TRACKS[1]}, absent beyond; solved: every target "
            "learned to learnability 1/2 at the largest P.")


GP_TRACKS = (0.1, 0.2)  # the largest |trained - GPR| learnability gap of a wide bridge that tracks the GP; partly
HALF_POINT_SLACK = 1  # how far from the reference run's P_1/2 a cell may be for partial
THEORY_GAP = 0.05  # the largest |GPR mean - theory| learnability gap that counts as tracking
SCALING_RULES = {  # the slope of log P_1/2 against log L, per target
    "standard": Holds("reproduced if the slope of log P_1/2 against log L is in [1.0, 1.6]; partial if >= 0.7"),
    "trivial": AtMost(0.5, 0.8, sentence_template="reproduced if the slope is <= {reproduced} (O(1) growth); partial "
                                                  "if <= {partial}"),
}


def at_length(L: int) -> Callable[[RunResult], bool]:
    return lambda result: result.params["L"] == L


def by_length(runs: list[RunResult]) -> dict[int, dict[str, Any]]:
    """The measurements of the finished runs by context length L, in increasing L."""
    return {r.params["L"]: r.measurements for r in sorted(ok_results(runs), key=lambda r: r.params["L"])}


def has_s1(runs: list[RunResult]) -> bool:
    """Whether the run at L = 8 finished with the s_1 target at sigma2 = 1e-2 (where the reference numbers are)."""
    by_L = by_length(runs)
    return 8 in by_L and "0.01" in by_L[8]["theory"]


def half_point_table(runs: list[RunResult]) -> Measured:
    """The kappa-theory P_1/2 per (noise, target) and L; the value per cell: (it equals the reference run's, every
    L is within HALF_POINT_SLACK of it)."""
    by_L = by_length(runs)
    cells, value = {}, {}
    for (noise, target), reference in HALF_POINTS.items():
        ours = [by_L[L]["theory"][f"{noise:g}"][target]["half_integer"] if L in by_L and f"{noise:g}" in by_L[L]["theory"]
                else None for L in HALF_POINT_LS]
        cells[f"sigma2={noise:g} {target}"] = ours
        unrun = [L for L in HALF_POINT_LS if L not in by_L or f"{noise:g}" not in by_L[L]["theory"]]
        value[noise, target] = (Untested(no_run(f"L = {L} (sigma2={noise:g})" for L in unrun)) if unrun else
                                (ours == reference, all(o is not None and abs(o - r) <= HALF_POINT_SLACK
                                                        for o, r in zip(ours, reference))))
    return Measured(value, cells)


def s1_theory(runs: list[RunResult]) -> Measured:
    theory = by_length(runs)[8]["theory"]["0.01"]["s1"]
    measured, cells = {}, []
    for P, reference in S1_LEARNABILITY.items():
        measured[f"P={P}"] = {"theory": theory["at"][str(P)], "plain": theory["plain_at"][str(P)]}
        cells.append((theory["at"][str(P)], reference["theory"], 3))
        if "plain" in reference:
            cells.append((theory["plain_at"][str(P)], reference["plain"], 3))
    return Measured(cells, measured)


def s1_regression(runs: list[RunResult]) -> Measured:
    """The GPR learnability of s_1 per P; the value per P: (within 2 standard errors + 0.01 of the reference run's,
    within 4 standard errors + 0.02)."""
    m = by_length(runs)[8]
    gpr = m["gpr"]["0.01"]["s1"]
    measured, value = {}, []
    for P, reference in S1_LEARNABILITY.items():
        i = m["gpr_P"].index(P)
        mean, se = gpr["mean"][i], gpr["se"][i]
        measured[f"P={P}"] = {"mean": mean, "se": se}
        gap = abs(mean - reference["gpr"])
        value.append((gap <= 2 * se + 0.01, gap <= 4 * se + 0.02))
    return Measured(value, measured)


def theory_against_regression(runs: list[RunResult]) -> Measured:
    """The largest |GPR mean - theory| over every cell; untested where the cells beyond THEORY_GAP are all within 2
    standard errors (of the draws' mean) of it: the draws could not tell whether they lie beyond it."""
    gaps, cells, beyond_noise = [], [], 0
    for L, m in by_length(runs).items():
        for noise, per_target in m["gpr"].items():
            for target in ("standard", "trivial"):
                theory = m["theory"][noise][target]["at"]
                for P, g, se in zip(m["gpr_P"], per_target[target]["mean"], per_target[target]["se"]):
                    gap = abs(g - theory[str(P)])
                    gaps.append(gap)
                    beyond_noise += gap > THEORY_GAP + 2 * se
                    cells.append((gap, f"L={L} sigma2={noise} {target} P={P}: GPR {g:.3f} +- {se:.3f} vs theory "
                                       f"{theory[str(P)]:.3f}"))
    largest = max(gaps) if gaps else None
    beyond = sum(g > THEORY_GAP for g in gaps)
    value = measured_or(largest, NO_FINISHED_RUN)
    if beyond and not beyond_noise:
        value = Untested(f"the draws could not decide: each of the {beyond} cells beyond {THEORY_GAP} lies within 2 "
                         f"standard errors of it ({runs[0].params['draws']} draws a cell)")
    return Measured(value, {"largest_gap": largest},
                    f"{beyond} of {len(gaps)} cells beyond {THEORY_GAP}, {beyond_noise} of them by more than 2 standard "
                    "errors; largest: " + "; ".join(text for _, text in sorted(cells, reverse=True)[:4]))


def gp_gap(wide: dict[str, Any], target: str) -> float:
    """The largest |trained - GPR| learnability gap of one wide run on ``target``, over its training-set sizes."""
    return max(abs(a - b) for a, b in zip(wide["trained"][target], wide["gpr"][target]))


def gp_mechanism(wide: dict[str, Any]) -> dict[str, Any]:
    """The census record of a wide bridge whose readout alone trained. No family's probes read it (its targets are
    functions on {0,1}^L, not a task); the mechanism the theory predicts for it is the GP's: its trained function
    is exact GP regression's. Predicted when every learnability gap is within ``GP_TRACKS[0]``, partly within
    ``GP_TRACKS[1]``, absent beyond; solved when it learns every target to learnability 1/2 (the level of P_1/2)
    at the largest training set."""
    from ..analysis.mechanism import ABSENT, PARTLY, PREDICTED

    largest = max(gp_gap(wide, target) for target in wide["trained"])
    status = PREDICTED if largest <= GP_TRACKS[0] else PARTLY if largest <= GP_TRACKS[1] else ABSENT
    return {"status": status, "solved": all(curve[-1] >= 0.5 for curve in wide["trained"].values())}


def wide_against_regression(runs: list[RunResult]) -> Measured:
    gaps, detail = [], []
    for L, m in by_length(runs).items():
        if "wide" not in m:
            continue
        for target in ("standard", "trivial"):
            gap = gp_gap(m["wide"], target)
            gaps.append(gap)
            detail.append(f"L={L} {target}: largest gap {gap:.3f}")
    largest = max(gaps) if gaps else None
    return Measured(measured_or(largest, "no finished run trained the wide bridge"), {"largest_gap": largest},
                    "; ".join(detail))


def half_point_scaling(runs: list[RunResult], noise: float, target: str) -> Measured:
    """The log-log slope of P_1/2 against L (kappa-theory; exact GPR beside it); the value: the slope, or for the
    (L-1,1) target (it lies in [1.0, 1.6], it is >= 0.7)."""
    by_L, key = by_length(runs), f"{noise:g}"
    Ls = [L for L in by_L if by_L[L]["theory"][key][target]["half"] is not None]
    halves = [by_L[L]["theory"][key][target]["half"] for L in Ls]
    fit = loglog_slope(Ls, halves) if len(Ls) >= 2 else {"slope": None}
    gpr_halves = [by_L[L]["gpr"][key][target]["half"] for L in Ls]
    gpr_fit = (loglog_slope(Ls, gpr_halves) if all(h is not None for h in gpr_halves) and len(Ls) >= 2
               else {"slope": None})
    slope = fit["slope"]
    value = (too_few_sizes(Ls, "L", "learnability 1/2", "P up to 1e9 (half_sample_size's range)")
             or (slope if target != "standard" else (1.0 <= slope <= 1.6, slope >= 0.7)))
    return Measured(value, {"theory": fit, "gpr": gpr_fit, "P_half": dict(zip(map(str, Ls), halves))},
                    "GPR P_1/2 (interpolated): " + ", ".join(f"L={L}: {h:.2f}" if h else f"L={L}: -"
                                                            for L, h in zip(Ls, gpr_halves)))


def half_point_bound(runs: list[RunResult]) -> Measured:
    """The value: whether the trace bound holds, in each (L, noise) cell."""
    bound_ok, detail = [], []
    for L, m in by_length(runs).items():
        for noise in m["theory"]:
            half = m["theory"][noise]["standard"]["half"]
            bound = float(noise) * (L - 1) / m["mean_diagonal"]
            bound_ok.append(half is not None and half >= bound)
            detail.append(f"L={L} sigma2={noise}: {half:.2f} >= {bound:.3f}" if half else f"L={L}: never")
    return Measured(bound_ok or Untested(NO_FINISHED_RUN),
                    {"holds": sum(bound_ok), "cells": len(bound_ok)}, "; ".join(detail))


def learning_curves(m: dict[str, Any], noise: str) -> tuple[dict[str, list], dict[str, str]]:
    """The series and styles of one noise's learning-curve plot: theory, exact GPR and the wide bridge."""
    series, styles = {}, {}
    for target in ("standard", "trivial"):
        series[f"{target}: kappa-theory"] = m["theory"][noise][target]["learnability"]
        styles[f"{target}: kappa-theory"] = "-"
        gpr = dict(zip(m["gpr_P"], m["gpr"][noise][target]["mean"]))
        series[f"{target}: exact GPR"] = [gpr.get(P) for P in m["curve_P"]]
        styles[f"{target}: exact GPR"] = "o"
        if "wide" in m and f"{m['wide']['noise']:g}" == noise:
            trained = dict(zip(m["wide"]["P"], m["wide"]["trained"][target]))
            series[f"{target}: wide bridge, trained readout"] = [trained.get(P) for P in m["curve_P"]]
            styles[f"{target}: wide bridge, trained readout"] = "x"
    return series, styles


def wide_bridge(p: dict[str, Any], seed: int, X: np.ndarray, K: np.ndarray, targets: dict[str, np.ndarray]
                ) -> dict[str, Any]:
    """A wide bridge with the block's prior weights whose readout alone is trained, against exact GPR on the same
    training-set sizes: learnability of the (L-1,1) and trivial targets."""
    from ..symmetry.block import BlockConfig, build_block, network_output, readout_features, train_readout

    V, L = p["V"], p["L"]
    noise = p["noises"][0]
    cfg = BlockConfig(V=V, L=L, sp2=p["sp2"], heads=p["wide_heads"], d_k=p["wide_d_k"],
                      positional_width=p["wide_width"])
    model = build_block(cfg, seed=seed)
    features = readout_features(model, X)
    trained_names = ["standard", "trivial"]
    Yw = np.stack([targets[n] for n in trained_names], 1)
    wide: dict[str, Any] = {"noise": noise, "P": p["wide_P"], "trained": {n: [] for n in trained_names},
                            "gpr": {n: [] for n in trained_names}, "gradient_norm": 0.0}
    readout = model.blocks[0].attn.o.original_component.weight
    for P in p["wide_P"]:
        sets = training_sets(len(X), P, p["wide_draws"], seed=1000 * seed + P)
        scores = []
        for idx in sets:
            info = train_readout(model, X[idx], Yw[idx], noise, features=features[idx])
            wide["gradient_norm"] = max(wide["gradient_norm"], info["gradient_norm"])
            # the trained network's outputs: its hooked features (hook_z) through the trained W_O
            scores.append(learnability(Yw, features @ readout[: len(trained_names)].detach().numpy().T))
        gpr = gpr_learnability(K, Yw, P, noise, p["wide_draws"], seed=1000 * seed + P).mean(0)
        for i, n in enumerate(trained_names):
            wide["trained"][n].append(float(np.mean([s[i] for s in scores])))
            wide["gpr"][n].append(float(gpr[i]))
    # and once through the bridge's whole forward pass (hook_attn_out), to confirm they are the same
    wide["forward_check"] = float(np.abs(network_output(model, X, outputs=len(trained_names))
                                         - features @ readout[: len(trained_names)].detach().numpy().T).max())
    return wide


def crossing(P: list[int], learnabilities: list[float], level: float = 0.5) -> float | None:
    """The P where a measured learnability curve first reaches ``level`` (log-linear interpolation)."""
    for i, value in enumerate(learnabilities):
        if value >= level:
            if i == 0:
                return float(P[0])
            low, high = learnabilities[i - 1], value
            t = (level - low) / (high - low)
            return float(math.exp(math.log(P[i - 1]) + t * (math.log(P[i]) - math.log(P[i - 1]))))
    return None


class SymmetryBias(Experiment):
    name = "symmetry-bias"
    title = "Symmetry bias B = S_sym(model) - S_sym(target) of trained models against the training-set size"
    paper = PAPER
    options = {"parity": {"n": 7, "k": 2}, "selection": {"T": 6, "d": 4, "q": 1},
               "counting": {"L": 16, "R": 2, "max_count": 16, "max_len": 32},
               "parity_sizes": [8, 16, 32, 64, 256], "selection_sizes": [16, 32, 128, 512, 2048],
               "counting_sizes": [32, 128, 512, 2048], "parity_model": {"n_heads": 4, "d_model": 64, "d_mlp": 128},
               "steps": {"parity": 800, "selection": 1000, "counting": 1000}, "batch_size": 64, "score_samples": 128}
    quick = {}
    seeds, quick_seeds = 4, 2
    TASKS = ("parity", "selection", "counting")

    def grid(self, options, seeds):
        specs = []
        for task in self.TASKS:
            for size in options[f"{task}_sizes"]:
                params = {"task": task, "task_params": options[task], "size": size, "steps": options["steps"][task],
                          "batch_size": options["batch_size"], "score_samples": options["score_samples"],
                          "model": options["parity_model"] if task == "parity" else {}}
                specs += [RunSpec(f"{task} P={size}", params, seed) for seed in range(seeds)]
        return specs

    def measure(self, spec, device):
        from ..models import on_device
        from ..symmetry.score import symmetry_score
        from ..tasks import reached
        from ..training import train

        p = spec.params
        task, model_cfg, train_cfg = configure(p["task"], settings={
            "task": p["task_params"], "model": p["model"],
            "train": {"train_size": p["size"], "max_steps": p["steps"], "batch_size": min(p["size"], p["batch_size"]),
                      "eval_every": p["steps"], "eval_samples": 512, "seed": spec.seed, "target": None}})
        result = train(task, model_cfg, train_cfg, progress=False, device=device)
        score = symmetry_score(on_device(result.model, "cpu"), task, samples=p["score_samples"], seed=spec.seed + 7)
        final = result.metrics["final"]
        target = family_of(task.name).target  # solved: the held-out score reaches the family's own target
        solved = target is not None and reached(task, final[task.metric], target)
        return {"metric": task.metric, "held_out": final[task.metric],
                "mechanisms": {"transformer": mechanism(result.model, task, solved, spec.seed)},
                "s_sym": score["model"]["s_sym"], "s_sym_se": score["model"]["s_sym_se"],
                "target_s_sym": score["target"]["s_sym"], "closed_form": score["closed_form"]["s_sym"],
                "bias": score["bias"], "kbar": score["model"]["kbar"], "target_kbar": score["target"]["kbar"],
                "profile": score["model"]["profile"]}

    def rows(self, options):
        specs = []
        for task in self.TASKS:
            sizes = options[f"{task}_sizes"]
            of_task = partial(task_is, task=task)
            if task != "counting":  # the counting target is already fully symmetric: B <= 0
                specs.append(RowSpec(
                    f"{task}: the model is more symmetric than the target when data is scarce (B > 0 at P={sizes[0]})",
                    Reference("bias towards permutation-symmetric functions (GP limit)", PAPER, "paper"),
                    partial(bias_when_scarce, sizes=sizes), Holds(
                        "reproduced if the median B over seeds at the smallest P exceeds twice the score's standard "
                        "error; partial if it is positive"),
                    runs=lambda r, of_task=of_task, smallest=sizes[0]: of_task(r) and r.params["size"] == smallest,
                    reads=of_task))
            specs.append(RowSpec(
                f"{task}: B -> 0 as the training set grows (P={sizes[-1]})",
                Reference("the GP posterior converges to the target as P grows", DERIVED, "closed_form"),
                partial(bias_vanishes, sizes=sizes), Holds(
                    "reproduced if |B| at the largest P is <= 0.02 and below half of |B| at the smallest P; partial if "
                    "it is <= 0.05"), runs=of_task))
        return specs

    def plots(self, results, options, seeds):
        plots = []
        for task in self.TASKS:
            sizes = options[f"{task}_sizes"]
            by_size = BiasBySize([r for r in results if r.params["task"] == task], sizes).by_size

            def medians(key, by_size=by_size):
                return [spread([m[key] for m in by_size[P]])["median"] for P in sizes]

            plots.append(Plot.lines(f"bias_{task}", f"{task}: symmetric share S_sym and bias B against the training-set "
                                    "size", sizes, {"S_sym(model)": medians("s_sym"), "S_sym(target)": medians("target_s_sym"),
                                                    "B = S_sym(model) - S_sym(target)": medians("bias")},
                                    xlabel="training-set size P", ylabel="median over seeds", logx=True, hline=0.0))
        return plots

    def notes(self, results, options, seeds):
        return (
            f"Tasks: parity {options['parity']} (S_n on the bits, CLS fixed; target S_sym = 1/C(n,k)), selection "
            f"{options['selection']} (S_T on the token contents; q/T), counting {options['counting']} (S_m on each "
            "region's interior; 1). Each run trains the toolkit's default model for the task (parity narrower, see "
            "options) on a fixed training set of P examples, then scores it on whole orbits of held-out inputs "
            "(interp.symmetry.score). For counting the target is already fully symmetric, so B <= 0: the GP view "
            "predicts only that B -> 0.")


def task_is(result: RunResult, task: str) -> bool:
    return result.params["task"] == task


class BiasBySize:
    """One task's symmetry bias B per training-set size: the medians over seeds at the smallest and largest."""

    def __init__(self, runs: list[RunResult], sizes: list[int]):
        self.by_size = {P: [r.measurements for r in ok_results(runs, size=P)] for P in sizes}
        bias = {P: spread([m["bias"] for m in self.by_size[P]]) for P in sizes}
        metric = {P: spread([m["held_out"] for m in self.by_size[P]]) for P in sizes}
        self.smallest, self.largest = sizes[0], sizes[-1]
        self.small, self.large = bias[self.smallest]["median"], bias[self.largest]["median"]
        self.detail = "; ".join(f"P={P}: B {bias[P]['median']:+.3f}, held-out "
                                f"{self.by_size[P][0]['metric'] if self.by_size[P] else ''} {metric[P]['median']:.3f}"
                                for P in sizes if bias[P]["median"] is not None)


def bias_when_scarce(runs: list[RunResult], sizes: list[int]) -> Measured:
    """The value: (the median B at the smallest P exceeds twice the score's standard error, it is positive)."""
    b = BiasBySize(runs, sizes)
    at_smallest = b.by_size[b.smallest]
    se = statistics.median([m["s_sym_se"] for m in at_smallest]) if at_smallest else None
    value = Untested(no_run([f"P = {b.smallest}"])) if b.small is None else (b.small > 2 * (se or 0), b.small > 0)
    return Measured(value, {"median_B": b.small, "s_sym_se": se,
                            "target_S_sym_closed_form": at_smallest[0]["closed_form"] if at_smallest else None}, b.detail)


def bias_vanishes(runs: list[RunResult], sizes: list[int]) -> Measured:
    """The value: (|B| at the largest P is <= 0.02 and at most half of that at the smallest, it is <= 0.05)."""
    b = BiasBySize(runs, sizes)
    if b.small is None or b.large is None:
        value = Untested(no_run(f"P = {P}" for P, v in ((b.smallest, b.small), (b.largest, b.large)) if v is None))
    else:
        value = (abs(b.large) <= 0.02 and abs(b.large) <= abs(b.small) / 2, abs(b.large) <= 0.05)
    return Measured(value, {"median_B_smallest": b.small, "median_B_largest": b.large}, b.detail)


SYMMETRY_EXPERIMENTS = [SymmetryKernel, SymmetryLearningCurves, SymmetryBias]
