"""Positional attention probes (Back de Luca et al.): does a model route by position alone, compose a
scan, and keep its error proportional to the values when they grow far beyond the training range?

``analyze`` runs one small function per claim (``claim_*`` below, each saying what it measures, what the
theory expects and how it can fail) on a shared ``ValueContext``; the mechanism line comes from their
verdicts. The building blocks are public, so experiments and notebooks measure the same things:
``pattern_drift`` (how far each head's pattern moves when the inputs are scaled), ``template_match``
(each pattern against prefix-uniform, prefix-with-sink, shift-by-2^k, identity and extra-node),
``homogeneity_error`` (``||f(cX) - c f(X)|| / ||c f(X)||``), ``scan_probe`` (linear probes for windowed
partial sums or minima, layer by layer) and ``patched`` (a model run with another model's patterns in
its ``hook_pattern``). The theory: docs/theory/positional.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from transformer_lens.utilities import get_act_name

from ..constructions.positional import shift_targets
from ..naming import head_label
from ..plot import Plot
from ..tasks import Batch, evaluate
from ..tasks.positional import ValueTask
from .claims import Claim, claim, head_names, untestable
from .common import Head, linear_probe_r2
from .context import Context
from .mechanism import Wording, mechanism_line
from .result import Analysis

if TYPE_CHECKING:
    from torch import nn

WORDING = Wording(
    circuit="every head routes by position alone (its pattern ignores the values) and the layers compose a scan",
    absent="the attention patterns move with the values",
)
SCALES = tuple(range(1, 11))  # c = 1..10, the authors' test scales
PROBE_SCALE = 10.0  # the scale the drift, homogeneity and generalisation claims are read at
SCAN_KINDS = {"cumsum": "sum", "cummin": "min"}


# --- building blocks ------------------------------------------------------------------------------


@torch.no_grad()
def patterns_of(model: "nn.Module", inputs: Tensor) -> list[Tensor]:
    """``hook_pattern`` of every layer on ``inputs``: ``[batch, head, dest, src]`` each."""
    names = [get_act_name("pattern", layer) for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(inputs, names_filter=names)
    return [cache[name] for name in names]


@torch.no_grad()
def pattern_drift(model: "nn.Module", batch: Batch, c: float) -> Tensor:
    """``[layer, head]``: ``E ||A(cX) - A(X)||_1``, the L1 distance between a row of the pattern on the scaled
    inputs and on the originals, averaged over examples and query rows (0: routing ignores the values; at
    most 2). Exactly 0 for positional attention."""
    before, after = patterns_of(model, batch.inputs), patterns_of(model, batch.inputs * c)
    return torch.stack([(a - b).abs().sum(-1).mean(dim=(0, 2)) for a, b in zip(after, before)])


@torch.no_grad()
def homogeneity_error(model: "nn.Module", task: ValueTask, batch: Batch, c: float) -> float:
    """``||f(cX) - c f(X)|| / ||c f(X)||`` over the real positions' outputs (0: positively homogeneous)."""
    plain = task.outputs(model(batch.inputs), batch) * c
    big = task.outputs(model(batch.inputs * c), batch)
    return float((big - plain).norm() / plain.norm().clamp(min=1e-30))


def shift_template(n: int, shift: int, out_of_range: str) -> Tensor:
    """``[n+1, n+1]`` one-hot rows: row i on ``i - shift``, else on the extra node or on itself."""
    return torch.eye(n + 1)[shift_targets(n, shift, out_of_range)]


def templates(n: int) -> dict[str, Tensor]:
    """The routing patterns a positional model may learn, ``[n+1, n+1]`` each (rows 0..n-1 are compared):

    - ``prefix-uniform``: row i uniform on ``0..i`` (a running mean);
    - ``prefix-sink``: ``1/n`` on each of ``0..i`` and the rest on the extra node, whose value is 0 (a running
      sum up to the factor n, in one layer);
    - ``shift-2^k/extra``, ``shift-2^k/self``: row i on ``i - 2^k`` (a Hillis-Steele step), out-of-range rows on
      the extra node or on themselves;
    - ``identity`` and ``extra-node``.
    """
    out = {"prefix-uniform": torch.ones(n + 1, n + 1).tril() / torch.arange(1, n + 2)[:, None]}
    sink = torch.ones(n + 1, n + 1).tril() / n
    sink[:, n] = 0.0
    sink[:, n] = 1.0 - sink.sum(-1)
    out["prefix-sink"] = sink
    for k in range(max(1, math.ceil(math.log2(n)))):
        for end in ("extra", "self"):
            out[f"shift-{2**k}/{end}"] = shift_template(n, 2**k, end)
    out["identity"] = torch.eye(n + 1)
    out["extra-node"] = torch.zeros(n + 1, n + 1).index_fill_(1, torch.tensor([n]), 1.0)
    return out


def template_closeness(pattern: Tensor, template: Tensor, rows: int) -> float:
    """``1 - mean_i TV(pattern_i, template_i)`` over the first ``rows`` rows (1: the template exactly)."""
    return float(1 - 0.5 * (pattern[:rows] - template[:rows]).abs().sum(-1).mean())


def template_match(pattern: Tensor, n: int) -> tuple[str, float, dict[str, float]]:
    """The template closest to ``pattern`` ``[n+1, n+1]`` on the real rows: (name, closeness, all closenesses)."""
    scores = {name: template_closeness(pattern, t, n) for name, t in templates(n).items()}
    best = max(scores, key=scores.get)
    return best, scores[best], scores


def window_statistic(x: Tensor, width: int, kind: str) -> Tensor:
    """``[batch, n]``: the sum (``kind="sum"``) or minimum of ``x[:, max(0, i - width + 1) .. i]``."""
    padded = torch.nn.functional.pad(x, (width - 1, 0), value=0.0 if kind == "sum" else math.inf)
    windows = padded.unfold(1, width, 1)
    return windows.sum(-1) if kind == "sum" else windows.amin(-1)


def window_widths(n: int) -> list[int]:
    """1, 2, 4, ... up to the first power of two >= n (that last window is the whole prefix)."""
    return [2**k for k in range(max(1, math.ceil(math.log2(n))) + 1)]


def independent_values(task: ValueTask, samples: int, seed: int) -> Batch:
    """A batch whose n values are independent and uniform on the whole training range ``[-r, r]``.

    The training batches draw all values of an example from one sub-interval, so neighbouring values are
    strongly correlated and a probe would read most of a window off the current value alone; with
    independent values it cannot (``x_i`` explains half of the variance of ``x_i + x_(i-1)``). The whole
    range is one of the sub-intervals training draws, so these inputs stay in distribution."""
    g = torch.Generator().manual_seed(seed)
    return task.batch_from_values((torch.rand(samples, task.n, generator=g) * 2 - 1) * task.train_range)


@torch.no_grad()
def scan_probe(model: "nn.Module", task: ValueTask, batch: Batch, kind: str) -> Tensor:
    """``[layer, width]``: held-out R^2 of a linear probe from ``hook_resid_post`` of each layer (the real
    positions, pooled) to the windowed ``kind`` statistic of each width in ``window_widths(n)``, on ``batch``
    (best built by ``independent_values``).

    Hillis-Steele predicts that after layer l the residual holds the window of width ``2^(l+1)``."""
    names = [get_act_name("resid_post", layer) for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(batch.inputs, names_filter=names)
    acts = {name: cache[name] for name in names}
    n, x = task.n, batch.info["values"]
    targets = [window_statistic(x, width, kind).reshape(-1) for width in window_widths(n)]
    rows = []
    for name in names:
        features = acts[name][:, :n].reshape(-1, acts[name].shape[-1])
        rows.append([linear_probe_r2(features, target) for target in targets])
    return torch.tensor(rows)


def pattern_hooks(patterns: Sequence[Tensor | None]) -> list[tuple[str, object]]:
    """``hook_pattern`` replacements: layer l's pattern becomes ``patterns[l]`` (``[head, dest, src]``, or a
    batch of them), broadcast over the batch; None keeps the layer's own."""
    def make(pattern: Tensor):
        return lambda current, hook: pattern.to(current.dtype).expand_as(current).clone()

    return [(get_act_name("pattern", layer), make(p)) for layer, p in enumerate(patterns) if p is not None]


@torch.no_grad()
def patched(model: "nn.Module", inputs: Tensor, patterns: Sequence[Tensor | None]) -> Tensor:
    """``model``'s output on ``inputs`` with its patterns replaced (``pattern_hooks``)."""
    return model.run_with_hooks(inputs, fwd_hooks=pattern_hooks(patterns))


def value_curve(model: "nn.Module", task: ValueTask, scales: Iterable[float] = SCALES, samples: int = 1000,
                seed: int = 0) -> dict[float, dict[str, float]]:
    """The task's metrics at each value scale c, on ``samples`` fresh examples drawn from ``seed + c``."""
    return {float(c): evaluate(model, task.replace(c=float(c)), samples=samples, seed=seed + int(1000 * c))
            for c in scales}


# --- the context ----------------------------------------------------------------------------------


@dataclass(eq=False)
class ValueContext(Context):
    """One batch at c = 1 and the same values scaled to c = ``PROBE_SCALE``, with what the probes share."""

    task: ValueTask

    @cached_property
    def big(self) -> Batch:
        """Fresh out-of-distribution examples at c = ``PROBE_SCALE`` (the authors' rejection sampling)."""
        return self.task.replace(c=PROBE_SCALE).sample(self.samples, self.seed + 1)

    @cached_property
    def big_metrics(self) -> dict[str, float]:
        with torch.no_grad():
            return self.task.evaluate(self.model(self.big.inputs), self.big)

    @cached_property
    def drift(self) -> Tensor:
        """``[layer, head]`` pattern drift from c = 1 to ``PROBE_SCALE`` on ``batch``."""
        return pattern_drift(self.model, self.batch, PROBE_SCALE)

    @cached_property
    def mean_patterns(self) -> list[Tensor]:
        """``[head, n+1, n+1]`` per layer: each head's pattern averaged over ``batch`` (for a positional model,
        the pattern itself)."""
        return [p.mean(0) for p in self.patterns]

    @cached_property
    def matches(self) -> dict[Head, tuple[str, float, dict[str, float]]]:
        return {(l, h): template_match(self.mean_patterns[l][h], self.task.n) for l, h in self.heads}


# --- behaviour ------------------------------------------------------------------------------------


def claim_fits_in_distribution(ctx: ValueContext) -> Claim:
    """Relative error ``||f - y|| / ||y||`` on the training range (c = 1).

    Theory: both kinds of model fit the training range (the authors' MSE ~1e-5-1e-4). Any solver passes.
    Fails when the model has not learned the task."""
    return claim("fits the training range", "behaviour", "relative error at c = 1 <= 0.05",
                 ctx.metrics["relative_error"], 0.05, 0.2, higher_is_better=False,
                 detail=f"MSE {ctx.metrics['mse']:.2e}")


def claim_generalises_in_value(ctx: ValueContext) -> Claim:
    """Relative error on values ``PROBE_SCALE`` times the training range (intervals outside [-2, 2]).

    Theory: a positional model's routing is the same at any scale, so its error stays near proportional to
    the values; standard attention's does not (the authors: 2-3 orders of magnitude more MSE at c = 10).
    Behaviour: any exact solver passes. Fails when the error grows faster than the values."""
    c = PROBE_SCALE
    return claim(f"generalises to {c:g}x larger values", "behaviour", f"relative error at c = {c:g} <= 0.05",
                 ctx.big_metrics["relative_error"], 0.05, 0.2, higher_is_better=False,
                 detail=f"MSE {ctx.big_metrics['mse']:.2e} at c = {c:g} against {ctx.metrics['mse']:.2e} at c = 1 "
                        f"(x{ctx.big_metrics['mse'] / max(ctx.metrics['mse'], 1e-30):.3g}; proportional error: x{c * c:g})")


def claim_homogeneous(ctx: ValueContext) -> Claim:
    """``||f(cX) - c f(X)|| / ||c f(X)||`` at c = ``PROBE_SCALE`` on the training range.

    Theory: every target is positively homogeneous, so an exact solver is; a bias-free positional model is
    so by construction (0 up to float rounding); biases and value-dependent routing break it. Behaviour.
    Fails when scaling the inputs changes the output by more than the same factor."""
    error = homogeneity_error(ctx.model, ctx.task, ctx.batch, PROBE_SCALE)
    return claim("positively homogeneous", "behaviour",
                 f"||f(cX) - c f(X)|| / ||c f(X)|| at c = {PROBE_SCALE:g} <= 0.01 (0 for a bias-free positional model)",
                 error, 0.01, 0.1, higher_is_better=False)


# --- attention ------------------------------------------------------------------------------------


def claim_routing_ignores_values(ctx: ValueContext) -> Claim:
    """The largest pattern drift over heads, ``E ||A(cX) - A(X)||_1`` with c = ``PROBE_SCALE`` (``hook_pattern``).

    Theory: 0 exactly for positional attention (the pattern never sees X); standard attention's logits grow
    like c^2, so its patterns sharpen or move. Fails when some head's routing depends on the values."""
    drift = ctx.drift
    worst = divmod(int(drift.argmax()), drift.shape[1])
    return claim("routing ignores the values", "attention",
                 f"max over heads of E||A({PROBE_SCALE:g} X) - A(X)||_1 <= 1e-6 (positional attention: exactly 0; at most 2)",
                 float(drift.max()), 1e-6, 0.05, higher_is_better=False,
                 detail=f"worst head {head_names([worst])}; per head {[round(v, 4) for v in drift.flatten().tolist()]}",
                 finding="patterns move with the values")


def claim_heads_match_templates(ctx: ValueContext) -> Claim:
    """Mean over heads of the closeness of each head's (batch-mean) pattern to its best routing template
    (``templates``), ``1 - TV`` averaged over the real rows.

    Theory: a fixed communication pattern per layer (the PCOC view); the scan uses shifts by 2^k, a one-layer
    sum would use prefix-with-sink. Fails when patterns are diffuse or data-dependent mixtures (a uniform
    pattern scores about 0.5)."""
    best = {head: (name, score) for head, (name, score, _) in ctx.matches.items()}
    mean = sum(score for _, score in best.values()) / max(len(best), 1)
    detail = "; ".join(f"{head_names([head])} {name} {score:.2f}" for head, (name, score) in best.items())
    return claim("heads follow routing templates", "attention",
                 "mean closeness of each head to its best template (prefix, prefix-sink, shift-2^k, identity, "
                 "extra node) >= 0.9", mean, 0.9, 0.7, detail=detail, best={head_names([h]): v for h, v in best.items()})


# --- representation -------------------------------------------------------------------------------


def claim_scan_windows(ctx: ValueContext) -> Claim:
    """Linear probes (``scan_probe``, on independent values) for the windowed partial statistic at every layer:
    the fraction of the intermediate widths 2, 4, .., 2^(K-1) (2^K >= n) that some layer holds with
    R^2 >= 0.9, better than it holds the whole prefix (by >= 0.05).

    Theory: Hillis-Steele holds the window of width 2^(l+1) after layer l, so every intermediate width shows
    up before the prefix does. Untestable for tasks without a scan (sort, cummedian, cummaxsub) or n = 2.
    Fails for a model that computes the prefix at once (prefix-with-sink) or holds no linear window."""
    name, expected = "layers hold the scan's partial windows", \
        "every intermediate window width is read off some layer (R^2 >= 0.9, beating the whole prefix by >= 0.05)"
    kind = SCAN_KINDS.get(ctx.task.name)
    if kind is None:
        return untestable(name, "representation", expected, f"{ctx.task.name} has no scan over windows of the input")
    widths = window_widths(ctx.task.n)
    intermediate = widths[1:-1]
    if not intermediate:
        return untestable(name, "representation", expected, f"n = {ctx.task.n}: no window between one value and the prefix")
    r2 = scan_probe(ctx.model, ctx.task, independent_values(ctx.task, ctx.samples, ctx.seed + 2), kind)
    prefix = r2[:, -1]
    held = [w for i, w in enumerate(widths) if w in intermediate
            and bool(((r2[:, i] >= 0.9) & (r2[:, i] >= prefix + 0.05)).any())]
    table = "; ".join(f"L{l}: " + ", ".join(f"w{w} {r2[l, i]:.2f}" for i, w in enumerate(widths)) for l in range(len(r2)))
    return claim(name, "representation", expected, len(held) / len(intermediate), 1.0, 0.5,
                 detail=f"held: {held or 'none'}; R^2 per layer (w{widths[-1]} = the prefix): {table}",
                 r2=[[round(v, 4) for v in row] for row in r2.tolist()], widths=widths)


# --- comparison with the construction ---------------------------------------------------------------


def claim_agrees_with_construction(ctx: ValueContext) -> Claim:
    """``||f - f_construction|| / ||f_construction||`` at c = 1. Fails when either is off the target."""
    f, ref = ctx.task.outputs(ctx.logits, ctx.batch), ctx.task.outputs(ctx.reference_logits, ctx.batch)
    return claim("agrees with the construction", "comparison", "relative distance to the scan's output <= 0.05",
                 float((f - ref).norm() / ref.norm().clamp(min=1e-30)), 0.05, 0.2, higher_is_better=False)


def claim_scan_patterns_patched_in(ctx: ValueContext) -> Claim:
    """Relative error at c = ``PROBE_SCALE`` with the scan's positional patterns written into this model's first
    layers (every head of layer l gets the scan's layer-l pattern, through ``hook_pattern``).

    Probes whether the model's values and MLPs work with the construction's routing: a standard model would
    then route by position alone. Fails when the model computes with other patterns (any trained model that
    did not learn this exact scan)."""
    name = "works with the scan's positional patterns patched in"
    expected = f"relative error at c = {PROBE_SCALE:g} with the scan's patterns in hook_pattern <= 0.05"
    layers = min(ctx.model.cfg.n_layers, len(ctx.reference_patterns))
    scan = [ctx.reference_patterns[l][:1].expand(-1, ctx.model.cfg.n_heads, -1, -1) for l in range(layers)]
    outputs = ctx.task.outputs(patched(ctx.model, ctx.big.inputs, scan), ctx.big)
    error = float((outputs - ctx.big.targets).norm() / ctx.big.targets.norm())
    return claim(name, "comparison", expected, error, 0.05, 0.2, higher_is_better=False,
                 detail=f"unpatched: {ctx.big_metrics['relative_error']:.3g}; patched layers 0..{layers - 1}")


PROBES = (claim_fits_in_distribution, claim_generalises_in_value, claim_homogeneous, claim_routing_ignores_values,
          claim_heads_match_templates, claim_scan_windows)
COMPARISONS = (claim_agrees_with_construction, claim_scan_patterns_patched_in)


def plots(ctx: ValueContext, reference: "nn.Module | None") -> list[Plot]:
    curves = {"this model": value_curve(ctx.model, ctx.task, samples=min(ctx.samples, 512), seed=ctx.seed)}
    if reference is not None:
        curves["construction"] = value_curve(reference, ctx.task, samples=min(ctx.samples, 512), seed=ctx.seed)
    heads = [head_names([h]) for h in ctx.heads]
    out = [Plot.lines("mse_by_scale", "MSE against the value scale c (train on c = 1; log scale)", list(SCALES),
                      {name: [max(m["mse"], 1e-12) for m in curve.values()] for name, curve in curves.items()},
                      xlabel="c (values in a sub-interval of [-2c, 2c])", ylabel="MSE", logy=True),
           Plot.bars("pattern_drift", f"Pattern drift per head from c = 1 to c = {PROBE_SCALE:g} (0 = routing ignores values)",
                     heads, {"E||A(cX) - A(X)||_1": ctx.drift.flatten().tolist()}, ylabel="L1 drift"),
           Plot.bars("template_match", "Closeness of each head to its best routing template", heads,
                     {"1 - TV": [ctx.matches[h][1] for h in ctx.heads]}, ylabel="closeness", hline=0.9)]
    labels = [str(i) for i in range(ctx.task.n)] + ["extra"]
    for layer, pattern in enumerate(ctx.mean_patterns):
        for head in range(pattern.shape[0]):
            out.append(Plot.heatmap(f"pattern_{head_label(layer, head)}", f"{head_label(layer, head)} pattern (batch mean), best template: "
                                    f"{ctx.matches[(layer, head)][0]}", pattern[head].numpy(), labels, labels))
    return out


def analyze(model: "nn.Module", task: ValueTask, reference: "nn.Module | None", samples: int = 2048,
            seed: int = 0) -> Analysis:
    ctx = ValueContext(model, task, reference, samples, seed)
    claims = [probe(ctx) for probe in PROBES]
    if reference is not None:
        claims += [probe(ctx) for probe in COMPARISONS]
    return Analysis(claims, plots(ctx, reference), mechanism_line(claims, WORDING), [])


__all__ = ["PROBES", "COMPARISONS", "SCALES", "ValueContext", "analyze", "homogeneity_error", "pattern_drift",
           "independent_values", "pattern_hooks", "patched", "patterns_of", "scan_probe", "template_match", "templates",
           "value_curve", "window_statistic", "window_widths"]
