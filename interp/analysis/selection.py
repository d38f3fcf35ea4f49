"""Sparse token selection probes (Sanford et al.; Wang et al.): the query head spreads its attention
uniformly over the selected set y by position alone (QK = beta * I between the query's subset code and
the keys' position codes), and OV copies the content, so the output is the mean of the selected tokens.

``analyze`` runs one small function per claim (``claim_*`` below, each documenting what it measures,
what the theory expects and how it can fail) on a shared ``SelectionContext``; the mechanism line
comes from their verdicts (``interp.analysis.mechanism``). The theory: docs/theory/selection.md.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from transformer_lens.utilities import get_act_name

from ..constructions.selection import nmse_from_gap
from ..models import build_model
from ..models.readout import cached
from ..plot import Plot
from ..tasks import Batch, SelectionTask, evaluate
from .claims import Claim, claim, head_names, untestable
from .common import Head, centered_cosine, closeness_to_uniform, cosine, run_with_patterns, scores_from
from .context import Context, kind_of_head_ablation
from .mechanism import Wording, mechanism_line
from .result import Analysis

if TYPE_CHECKING:
    from torch import nn
    from transformer_lens.model_bridge import TransformerBridge

# The initial values a learned table's rows beyond the trained length get (``at_length``).
EXTENSION_SEED = 0

WORDING = Wording(
    circuit="the query attends uniformly to the selected tokens by position and OV copies their content",
    absent="the query's attention is not concentrated on the selected tokens",
)


def positional_qk(model: "TransformerBridge", task: SelectionTask, layer: int, head: int) -> Tensor:
    """Query subset code x key position code, ``[code, code]`` in attention-logit units, through the QK
    ``FactoredMatrix`` (ideal: beta * I).

    Learned positions: rows are the subset multi-hot directions of ``W_E``, columns the rows of ``W_pos``.
    Orthonormal codes: rows and columns are the subset-code and position-code blocks of ``W_E`` (a query
    with code s = sum of the selected p_j then scores key i by s^T table p_i).
    """
    queries = model.W_E[task.blocks["subset"]]
    keys = model.W_pos[: task.T] if task.positions == "learned" else model.W_E[task.blocks["position"]]
    scale = model.blocks[layer].attn.original_component.scale
    return (queries @ model.QK[layer, head] @ keys.T).AB.detach() / scale


def logit_gap(scores: Tensor, chosen: Tensor) -> float:
    """The logit gap: mean score on the selected tokens minus mean score on the other data tokens,
    averaged over examples. ``scores``, ``chosen``: ``[batch, T]`` (pre-softmax scores from the query, and
    which data tokens are selected). For Wang et al.'s ideal circuit it is the gamma of ``W = gamma I``."""
    q = chosen.sum(-1).clamp(min=1)
    rest = (~chosen).sum(-1).clamp(min=1)
    return ((scores * chosen).sum(-1) / q - (scores * ~chosen).sum(-1) / rest).mean().item()


@torch.no_grad()
def at_length(model: "nn.Module", task: SelectionTask, length: int) -> tuple["nn.Module", SelectionTask]:
    """``(model, task)`` with ``length`` data tokens instead of T: the same trained weights, run at T' = length.

    - Code modes: the task at T' (orthonormal codes need T' <= code_dim: a TaskError otherwise); a bridge
      whose context is too short gets more rows of its positional table, which is zero and unused there.
    - Learned positions: the table has rows for the T trained positions only, and the subset multi-hot
      grows with T'. The extension: a model of the longer shape whose new rows (``W_pos`` rows and
      the subset rows of ``W_E`` for positions >= T) hold their initial values (a model of that shape
      built with ``EXTENSION_SEED``), every other weight the trained one. A table trained with room for
      longer sequences would hold exactly such rows, since no training example reaches them (no
      gradient; the selection runs use no weight decay). The theory expects this model to fail.
    - A model without a context limit (``interp.models.wang.WangSelection``) just gets the longer task.
    """
    longer_task = task.replace(T=length)
    cfg = getattr(model, "interp_config", None)
    if cfg is None or (longer_task.n_ctx <= cfg.n_ctx and longer_task.d_vocab == cfg.d_vocab):
        return model, longer_task
    device = next(model.parameters()).device
    longer_cfg = dataclasses.replace(cfg, n_ctx=max(cfg.n_ctx, longer_task.n_ctx), d_vocab=longer_task.d_vocab)
    longer = build_model(longer_cfg, seed=EXTENSION_SEED, device=str(device))
    state = longer.state_dict()
    for name, trained in model.state_dict().items():
        # Every row of a grown table keeps its index: content, is_query and subset j < T in W_E; positions < T in W_pos.
        state[name][: trained.shape[0]] = trained
    longer.load_state_dict(state)
    if hasattr(model, "construction"):
        longer.construction = model.construction
    return longer.eval(), longer_task


def content_ov(model: "TransformerBridge", task: SelectionTask, layer: int, head: int) -> Tensor:
    """Content in -> output out, ``[d, d]``: ``W_E[content] W_OV W_U`` (ideal: c * I)."""
    return (model.W_E[task.blocks["content"]] @ model.OV[layer, head] @ model.W_U).AB.detach()


def with_content(batch: Batch, content: Tensor, which: Tensor, task: SelectionTask) -> Tensor:
    """``batch.inputs`` with the content of the data tokens where ``which`` (``[batch, T]``) is True
    replaced by ``content`` (``[batch, T, d]``); positions and the query are kept."""
    inputs = batch.inputs.clone()
    block = task.blocks["content"]
    inputs[:, : task.T, block] = torch.where(which[..., None], content, batch.inputs[:, : task.T, block])
    return inputs


@torch.no_grad()
def output_shift(model: "TransformerBridge", task: SelectionTask, batch: Batch, inputs: Tensor) -> float:
    """How far the output at the query moves from ``batch.inputs`` to ``inputs``, in nMSE units:
    ``||f(inputs) - f(batch)||^2 / (d/q)``."""
    moved = model(inputs)[:, task.T] - model(batch.inputs)[:, task.T]
    return moved.pow(2).sum(-1).mean().item() / (task.d / task.q)


def with_subset(batch: Batch, selected: Tensor, task: SelectionTask) -> Tensor:
    """``batch.inputs`` with the query pointing at the subset ``selected`` (``[batch, T]`` bool) instead:
    the multi-hot row (learned positions) or the sum of this example's own position codes (orthonormal)."""
    inputs = batch.inputs.clone()
    if task.positions == "learned":
        code = selected.float()
    else:
        code = torch.einsum("bt,btm->bm", selected.float(), batch.info["codes"])
    inputs[:, task.T, task.blocks["subset"]] = code
    return inputs


@dataclass(eq=False)
class SelectionContext(Context):
    """The inputs the selection probes share: the query rows of the last layer, the selection head
    (most mass on y), its pre-softmax scores, and fresh content for the resampling probes."""

    task: SelectionTask

    @property
    def T(self) -> int:
        return self.task.T

    @cached_property
    def layer(self) -> int:
        return self.model.cfg.n_layers - 1

    @cached_property
    def chosen(self) -> Tensor:
        """``[batch, T]``: the selected data tokens."""
        return self.batch.relevant[:, 0, : self.T]

    @cached_property
    def rows(self) -> Tensor:
        """``[batch, head, pos]``: each head's attention row from the query token."""
        return self.patterns[self.layer][:, :, self.T]

    @cached_property
    def mass(self) -> Tensor:
        """``[head]``: mean attention mass from the query on y."""
        return (self.rows[:, :, : self.T] * self.chosen[:, None]).sum(-1).mean(0)

    @cached_property
    def head(self) -> int:
        return int(self.mass.argmax())

    @cached_property
    def circuit(self) -> list[Head]:
        return [(self.layer, self.head)]

    @cached_property
    def others(self) -> list[Head]:
        return [head for head in self.heads if head not in self.circuit]

    @cached_property
    def query_scores(self) -> Tensor:
        """``[batch, T]``: the selection head's scores from the query to the data tokens."""
        return self.scores(self.layer)[:, self.head, self.T, : self.T]

    @cached_property
    def gap(self) -> float:
        """Mean logit gap: mean score on y minus mean score on the other data tokens (``logit_gap``)."""
        return logit_gap(self.query_scores, self.chosen)

    @cached_property
    def longer(self) -> dict[int, float]:
        """nMSE at T' = 2T and 4T (``at_length``: for learned positions, with the documented extension),
        at the lengths the codes can serve (orthonormal: up to code_dim)."""
        lengths = [k * self.T for k in (2, 4)]
        if self.task.positions == "orthonormal":
            lengths = [n for n in lengths if n <= self.task.code_dim]
        return {n: evaluate(*at_length(self.model, self.task, n), samples=self.samples, seed=self.seed)["nmse"]
                for n in lengths}

    @cached_property
    def fresh_content(self) -> Tensor:
        """``[batch, T, d]``: content from an independent batch."""
        return self.task.sample(len(self.batch), self.seed + 1).info["content"]


# --- behaviour ------------------------------------------------------------------------------------


def claim_solves_task(ctx: SelectionContext) -> Claim:
    """nMSE of the output at the query against the mean of the selected tokens (1.0 = predicting 0).

    Theory: the ideal head's error is set by its logit gap and is tiny. Any solver passes: behaviour.
    Fails when the model has not learned the task."""
    return claim("solves the task", "behaviour", "nMSE <= 0.01 on fresh samples (1.0 = predicting zero)",
                 ctx.metrics["nmse"], 0.01, 0.1, higher_is_better=False)


def claim_head_ablation_breaks_task(ctx: SelectionContext) -> Claim:
    """nMSE rise when the selection head's ``hook_z`` is mean-ablated.

    Theory: the head carries the answer (nMSE -> ~1). With one head in its layer this holds for any
    solver (kind behaviour); with several it tests that the head attending to y is the one the answer
    comes from (kind causal). Fails when the answer comes from elsewhere."""
    base = ctx.metrics["nmse"]
    after = ctx.ablated(ctx.circuit)["nmse"]
    return claim("ablating the selection head breaks the task", kind_of_head_ablation(ctx.model),
                 "nMSE rises by >= 0.8 (towards 1) when the head is mean-ablated", after - base, 0.8, 0.4,
                 detail=f"head {head_names(ctx.circuit)}; nMSE {base:.4f} -> {after:.4f}")


def claim_generalises_to_twice_length(ctx: SelectionContext) -> Claim:
    """nMSE at T' = 2T (and 4T where the codes serve it) beside the error predicted from the logit gap.

    Theory: with per-example codes the ideal circuit's error grows only like (T'/(q e^gap))^2
    (``nmse_from_gap``), so it generalises in length. Behaviour (it says nothing about how; the
    agreement with the prediction is the evidence). Untestable with a learned position table: it has no
    trained row for positions beyond T, so the claim is not defined; the detail gives the nMSE of the
    documented extension (``at_length``), which the theory expects to fail. Untestable too when 2T
    exceeds the orthonormal code dimension. Fails when the model leans on something that changes with T
    (e.g. the number of keys), or on a fixed code table."""
    expected = "nMSE at T' = 2T <= 0.1 (per-example codes; the ideal circuit's error grows like (T'/(q e^gap))^2)"
    name = "generalises to twice the length"
    T, q = ctx.T, ctx.task.q
    predicted = {n: nmse_from_gap(n, q, ctx.gap) for n in ctx.longer}
    shown = "; ".join(f"T' = {n}: {v:.2e} (predicted from the gap {predicted[n]:.2e})" for n, v in ctx.longer.items())
    if ctx.task.positions == "learned":
        return untestable(name, "behaviour", expected,
                          "learned positions: the table has no trained row beyond T; with its rows beyond T at their "
                          f"initial values (the documented extension) nMSE is {shown}, and the theory expects a learned "
                          "table to fail", by_length=ctx.longer)
    if 2 * T not in ctx.longer:
        return untestable(name, "behaviour", expected, f"2T = {2 * T} exceeds the code dimension {ctx.task.code_dim}")
    return claim(name, "behaviour", expected, ctx.longer[2 * T], 0.1, 0.5, higher_is_better=False, detail=shown,
                 by_length=ctx.longer, predicted=predicted)


# --- attention ------------------------------------------------------------------------------------


def claim_query_attends_to_selected(ctx: SelectionContext) -> Claim:
    """Attention mass from the query on y, for the head with the most.

    Theory: q e^beta / (q e^beta + T - q + 1) ~ 1. Fails when the query looks elsewhere (uniform
    attention gives q/(T+1))."""
    return claim("the query attends to the selected tokens", "attention",
                 "attention mass from the query on y >= 0.95 (uniform attention: q/(T+1))",
                 ctx.mass[ctx.head].item(), 0.95, 0.6,
                 detail=f"head {head_names(ctx.circuit)}; all heads {[round(m, 3) for m in ctx.mass.tolist()]}")


def claim_attention_uniform_on_selected(ctx: SelectionContext) -> Claim:
    """1 - TV(query row, uniform on y): closeness of the head's query row to the ideal pattern.

    Theory: every selected token gets the same score beta, so the row is uniform on y (1.0 up to the
    leak). Fails when attention leaks off y or favours some selected positions over others (the detail
    gives the entropy within y, normalised by ln q, and the max/min ratio within y)."""
    rows = ctx.rows[:, ctx.head, : ctx.T]
    within = rows.masked_fill(~ctx.chosen, 0)
    within = within / within.sum(-1, keepdim=True).clamp(min=1e-12)
    q = ctx.task.q
    entropy = (-(within * within.clamp(min=1e-12).log()).sum(-1) / math.log(q)).mean().item() if q > 1 else 1.0
    ratio = (within.masked_fill(~ctx.chosen, 0).amax(-1) / within.masked_fill(~ctx.chosen, 1).amin(-1).clamp(min=1e-12))
    closeness = closeness_to_uniform(ctx.rows[:, :, None], ctx.batch.relevant)[ctx.head].item()
    return claim("attention is uniform over y", "attention", "1 - TV(query row, uniform on y) >= 0.9",
                 closeness, 0.9, 0.6,
                 detail=f"within y: normalised entropy {entropy:.4f}, max/min {ratio.median().item():.3f} (median)")


def claim_logit_gap(ctx: SelectionContext) -> Claim:
    """Mean pre-softmax score on y minus on the other data tokens (from ``hook_q``/``hook_k``).

    Theory: beta; ln(9 (T-q)/q) already puts 0.9 of the mass on y, and the gap predicts the error.
    Fails when the scores do not separate y (gap ~0)."""
    T, q = ctx.T, ctx.task.q
    needed = math.log(9 * (T - q) / q) if T > q else 0.0
    spread = ctx.query_scores.masked_fill(~ctx.chosen, float("nan")).nanmean(-1).std().item()
    return claim(
        "selected tokens win by a logit gap", "attention",
        f"mean logit gap >= ln(9(T-q)/q) = {needed:.2f}, enough for 0.9 of the mass on y",
        ctx.gap, needed, needed / 2,
        detail=f"spread within y {spread:.3f}; error predicted from the gap {nmse_from_gap(T, q, ctx.gap):.2e} vs "
               f"measured {ctx.metrics['nmse']:.2e}")


def claim_query_ignores_itself(ctx: SelectionContext) -> Claim:
    """The selection head's attention from the query to itself, as a multiple of a uniform share 1/(T+1).

    Theory: the query's own key scores 0 against beta for y, so it gets e^-beta of y's share (~0).
    Fails when the query attends to itself like any other token (1.0) or more."""
    share = ctx.rows[:, ctx.head, ctx.T].mean().item()
    return claim("the query does not attend to itself", "attention",
                 "query self-attention / (1/(T+1)) <= 0.2 (uniform attention: 1)",
                 share * (ctx.T + 1), 0.2, 0.5, higher_is_better=False, detail=f"self-attention {share:.4f}")


def claim_routing_ignores_content(ctx: SelectionContext) -> Claim:
    """Std of the change in the head's query scores when every data token's content is resampled
    (positions and y fixed), relative to the logit gap.

    Theory: the head routes by position alone, so the scores do not move (0). Fails when the keys read
    the content (scores move by a sizeable part of the gap), or when there is no gap to route with."""
    expected = "std of the query's score change under resampled content / logit gap <= 0.05"
    inputs = with_content(ctx.batch, ctx.fresh_content, torch.ones_like(ctx.chosen), ctx.task)
    names = [get_act_name("q", ctx.layer), get_act_name("k", ctx.layer)]
    acts = cached(ctx.model, Batch(inputs, ctx.batch.targets, ctx.batch.readout, ctx.batch.relevant), names)
    scores = scores_from(ctx.model, ctx.layer, acts[names[0]], acts[names[1]])[:, ctx.head, ctx.T, : ctx.T]
    moved = (scores - ctx.query_scores).std().item()
    if ctx.gap <= 1e-6:
        return claim("where the query looks does not depend on content", "attention", expected, None, 0.05, 0.2,
                     higher_is_better=False, detail=f"no logit gap to route with (gap {ctx.gap:.3g}); scores move by {moved:.3g}")
    return claim("where the query looks does not depend on content", "attention", expected, moved / ctx.gap, 0.05, 0.2,
                 higher_is_better=False, detail=f"score change std {moved:.4f}, gap {ctx.gap:.3f}")


# --- weights --------------------------------------------------------------------------------------


def claim_positional_qk_identity(ctx: SelectionContext) -> Claim:
    """Centred cosine between the positional QK table (``positional_qk``) and the identity.

    Theory: beta * I, every selected position scored alike and only by position. Fails when the table
    is not diagonal (the head routes by something else) or is noise."""
    qk = positional_qk(ctx.model, ctx.task, ctx.layer, ctx.head)
    eye = torch.eye(qk.shape[0])
    off = qk[~eye.bool()]
    difference = (qk.diagonal().mean() - off.mean()).item()
    spread = off.std().item()
    dominance = f"diagonal dominance z = {difference / spread:.1f}" if spread > 1e-6 else "off-diagonal constant"
    return claim("positional QK is a scaled identity", "weights",
                 "centred cosine of (subset code x key position) QK table with I >= 0.9 (construction: beta * I)",
                 centered_cosine(qk, eye), 0.9, 0.5, detail=f"diagonal - off-diagonal {difference:.2f} logits; {dominance}")


def claim_ov_copies_content(ctx: SelectionContext) -> Claim:
    """Cosine of the head's content OV circuit ``W_E[content] W_OV W_U`` with the identity.

    Theory: c * I with c ~ 1/(mass on y), so the output is the mean of what the head attends to. Fails
    when the head writes something else, or nothing (a zero OV has cosine 0)."""
    ov = content_ov(ctx.model, ctx.task, ctx.layer, ctx.head)
    mass = max(ctx.mass[ctx.head].item(), 1e-9)
    return claim("OV copies the content", "weights", "cosine of W_E[content] W_OV W_U with I >= 0.95 (ideal c*I, c ~ 1/mass)",
                 cosine(ov, torch.eye(ctx.task.d)), 0.95, 0.5,
                 detail=f"c = {ov.diagonal().mean().item():.3f}; 1/mass = {1 / mass:.3f}")


# --- causal ---------------------------------------------------------------------------------------


def claim_output_reads_only_selected(ctx: SelectionContext) -> Claim:
    """How much the output moves when the unselected tokens' content is resampled, relative to how much
    it moves when the selected tokens' content is.

    Theory: only y is read (ratio ~0). Fails when the output follows unselected tokens, or ignores the
    selected ones too (then there is nothing the output reads, and the ratio is not defined)."""
    expected = "output change when unselected tokens are resampled / change when selected ones are <= 0.05"
    moved = {which: output_shift(ctx.model, ctx.task, ctx.batch, with_content(ctx.batch, ctx.fresh_content, mask, ctx.task))
             for which, mask in (("other", ~ctx.chosen), ("chosen", ctx.chosen))}
    detail = f"moves by {moved['other']:.2e} (unselected resampled) and {moved['chosen']:.2e} (selected), in nMSE units"
    if moved["chosen"] < 0.1:
        return claim("the output reads only the selected tokens", "causal", expected, None, 0.05, 0.3,
                     higher_is_better=False, detail=detail + "; the output ignores the selected tokens too")
    return claim("the output reads only the selected tokens", "causal", expected, moved["other"] / moved["chosen"],
                 0.05, 0.3, higher_is_better=False, detail=detail)


def claim_other_heads_not_needed(ctx: SelectionContext) -> Claim:
    """nMSE with every head but the selection head mean-ablated.

    Theory: one head does it all (<= 0.02). Untestable with a single head. Fails when other heads carry
    part of the answer."""
    expected = "nMSE with the other heads mean-ablated <= 0.02"
    if not ctx.others:
        return untestable("the other heads are not needed", "causal", expected, "the model has a single head")
    return claim("the other heads are not needed", "causal", expected, ctx.ablated(ctx.others)["nmse"], 0.02, 0.1,
                 higher_is_better=False, detail=f"other heads {head_names(ctx.others)}")


# --- comparison with the construction -------------------------------------------------------------


def _reference_rows(ctx: SelectionContext) -> Tensor:
    """``[batch, pos]``: the construction's query row (its head with the most mass on y)."""
    rows = ctx.reference_patterns[-1][:, :, ctx.T]
    mass = (rows[:, :, : ctx.T] * ctx.chosen[:, None]).sum(-1).mean(0)
    return rows[:, int(mass.argmax())]


def claim_agrees_with_construction(ctx: SelectionContext) -> Claim:
    """||f - f_construction||^2 / (d/q). Fails when either output is off the target, or when the two
    weight the selected tokens differently."""
    distance = (ctx.logits[:, ctx.T] - ctx.reference_logits[:, ctx.T]).pow(2).sum(-1).mean().item() / (ctx.task.d / ctx.task.q)
    return claim("agrees with the construction", "comparison", "||f - f_construction||^2 / (d/q) <= 0.01",
                 distance, 0.01, 0.1, higher_is_better=False)


def claim_attention_matches_construction(ctx: SelectionContext) -> Claim:
    """Mean cosine between the selection head's query row and the construction's. Fails when the head
    looks elsewhere or the construction is sharper or blunter than the model."""
    similarity = torch.nn.functional.cosine_similarity(ctx.rows[:, ctx.head], _reference_rows(ctx), dim=-1).mean().item()
    return claim("attention matches the construction", "comparison",
                 "cosine between the query rows of model and construction >= 0.95", similarity, 0.95, 0.6)


def claim_construction_attention_patched_in(ctx: SelectionContext) -> Claim:
    """nMSE with the selection head's query row replaced by the construction's (``hook_pattern``).
    Fails when the head's values or OV do not turn the ideal pattern into the answer."""
    reference_rows = _reference_rows(ctx)

    def replace(pattern: Tensor) -> Tensor:
        pattern = pattern.clone()
        pattern[:, ctx.head, ctx.T] = reference_rows
        return pattern

    nmse = run_with_patterns(ctx.model, ctx.task, ctx.batch, {ctx.layer: replace})["nmse"]
    return claim("works with the construction's attention patched in", "comparison",
                 "nMSE <= 0.01 with the query row replaced by the construction's (hook_pattern)",
                 nmse, 0.01, 0.1, higher_is_better=False)


# --- the analysis ---------------------------------------------------------------------------------

PROBES = (
    claim_solves_task,
    claim_query_attends_to_selected,
    claim_attention_uniform_on_selected,
    claim_logit_gap,
    claim_query_ignores_itself,
    claim_routing_ignores_content,
    claim_positional_qk_identity,
    claim_ov_copies_content,
    claim_output_reads_only_selected,
    claim_head_ablation_breaks_task,
    claim_other_heads_not_needed,
    claim_generalises_to_twice_length,
)
COMPARISONS = (claim_agrees_with_construction, claim_attention_matches_construction, claim_construction_attention_patched_in)


def plots(ctx: SelectionContext) -> list[Plot]:
    qk = positional_qk(ctx.model, ctx.task, ctx.layer, ctx.head)
    ov = content_ov(ctx.model, ctx.task, ctx.layer, ctx.head)
    codes = [str(i) for i in range(qk.shape[0])]
    content = [str(i) for i in range(ctx.task.d)]
    layer_heads = [head for head in ctx.heads if head[0] == ctx.layer]
    lengths = [ctx.T, *ctx.longer]
    extended = " (learned table: rows beyond T at their initial values)" if ctx.task.positions == "learned" else ""
    return [
        Plot.lines("length", f"nMSE against the number of data tokens T' (trained at T = {ctx.T}){extended}", lengths,
                   {"measured": [ctx.metrics["nmse"], *ctx.longer.values()],
                    "ideal circuit with the measured gap": [nmse_from_gap(n, ctx.task.q, ctx.gap) for n in lengths]},
                   xlabel="T'", ylabel="nMSE", logx=True, logy=True, styles={"ideal circuit with the measured gap": "--"}),
        Plot.heatmap("positional_qk", "QK: subset code (rows) x key position (columns), in logits", qk.numpy(), codes, codes),
        Plot.heatmap("content_ov", "OV: content in (rows) -> output (columns)", ov.numpy(), content, content),
        Plot.bars("attention_on_y", "Attention from the query per head: mass on y", head_names(layer_heads).split(", "),
                  {"mass on y": ctx.mass.tolist()}, hline=ctx.task.q / (ctx.T + 1), ylabel="mass"),
    ]


def analyze(model: "TransformerBridge", task: SelectionTask, reference: "TransformerBridge | None",
            samples: int = 2048, seed: int = 0) -> Analysis:
    ctx = SelectionContext(model, task, reference, samples, seed)
    claims = [probe(ctx) for probe in PROBES]
    if reference is not None:
        claims += [probe(ctx) for probe in COMPARISONS]
    return Analysis(claims, plots(ctx), mechanism_line(claims, WORDING, ctx.circuit), ctx.circuit)
