"""Contextual counting probes for Golkar et al.'s own layout: an encoder-decoder (``architecture=
"encoder-decoder"``, ``interp.models.encoder_decoder``) whose encoder reads ``BOS x_1 .. x_L`` and whose
decoder reads the labels ``Q_1 .. Q_R``.

The mechanism is the decoder-only one (``interp.analysis.counting``) split across the two halves: the
encoder head attends uniformly to BOS and the delimiters at or before each position, so that the encoder's
output tells each bit its region; the decoder's cross-attention at Q_r attends to the 1s of region r plus a
bias token, BOS, writing (n v_one + v_BOS)/(n+1), whose 1/(n+1) the decoder's MLP and W_U decode. Which token
is the bias sets the behaviour out of distribution (``bias_generalises``): BOS generalises to other lengths
and to fewer regions, the ``]`` of the twin construction only to the trained number of regions.

Heads are named in text as "encoder L0H0" (``blocks.{l}.attn``) and "cross-attention L0H0"
(``decoder.{l}.cross_attn``): both halves number their layers from 0, so the bare ``L0H0`` names two heads.

``analyze`` runs one small function per claim (``claim_*`` below, each documenting what it measures, what
the theory expects and how it can fail) on a shared ``PaperContext``; the behaviour claims out of
distribution are counting.py's own, graded against what the bias predicts. The theory:
docs/theory/counting.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor
from transformer_lens.utilities import get_act_name

from ..models.readout import mass_on
from ..naming import head_label
from ..plot import Plot
from ..tasks import CountingTask
from ..tasks.counting import BOS, CLOSE, IGNORE, ONE, OPEN, ZERO
from .claims import Claim, claim
from .common import Head, closeness_to_uniform, linear_probe_accuracy
from .counting import (
    TARGET,
    CountingContext,
    bias_token,
    claim_agrees_with_construction,
    claim_count_code_not_linear,
    claim_count_coded_as_inverse,
    claim_generalises_to_longer_sequences,
    claim_generalises_to_other_region_counts,
    claim_solves_task,
)
from .mechanism import Wording, mechanism_line
from .result import Analysis

if TYPE_CHECKING:
    from ..models.encoder_decoder import EncoderDecoder

# The cross-attention's keys are the encoder's positions only: no query bucket.
BUCKETS = (TARGET, "BOS", "]", "[", "0s", "other 1s")

WORDING = Wording(
    circuit="the encoder head reads the region from BOS and the delimiters; the decoder's cross-attention counts "
            "the region's 1s with BOS as the bias token",
    absent="neither the encoder's region detector nor the cross-attention attends as predicted",
)


def buckets(task: CountingTask, batch) -> dict[str, Tensor]:
    """``[batch, R, 1 + L]`` masks splitting each cross-attention row's keys (the encoder's positions) into
    BUCKETS."""
    n = 1 + task.L
    tokens = batch.inputs[:, None, :n].expand(-1, len(batch.readout), -1)
    target = batch.relevant[:, :, :n].clone()
    target[:, :, 0] = False
    is_one = tokens == ONE
    return {
        TARGET: target,
        "BOS": tokens == BOS,
        "]": tokens == CLOSE,
        "[": tokens == OPEN,
        "0s": tokens == ZERO,
        "other 1s": is_one & ~target,
    }


def cross_hook(layer: int, name: str) -> str:
    """``decoder.{layer}.cross_attn.hook_{name}`` (``pattern``, ``attn_scores``, ``z``, ...)."""
    return f"decoder.{layer}.cross_attn.hook_{name}"


def counted_accuracy(task: CountingTask, logits: Tensor, batch) -> float:
    """Accuracy over the asked queries whose count is at least 1 (a count of 0 needs no bias: with no 1s
    the row is all bias, whatever the bias is)."""
    counted = (batch.targets != IGNORE) & (batch.targets >= 1)
    correct = (task.readout_logits(logits, batch).argmax(-1) == batch.targets) & counted
    return correct.sum().item() / max(counted.sum().item(), 1)


@torch.no_grad()
def accuracy_without_keys(model: "EncoderDecoder", task: CountingTask, batch, layer: int, head: int,
                          mask: Tensor) -> float:
    """``counted_accuracy`` when the keys in ``mask`` (``[batch, R, 1 + L]``) are removed from ``head``'s
    cross-attention rows of decoder layer ``layer``: their scores set to -inf in ``hook_attn_scores`` (the
    softmax renormalises over the rest). A row that would keep no key is left as it is."""

    def hook(scores: Tensor, hook) -> Tensor:
        scores = scores.clone()
        remove = mask & (~mask).any(-1, keepdim=True)
        scores[:, head] = scores[:, head].masked_fill(remove, float("-inf"))
        return scores

    logits = model.run_with_hooks(batch.inputs, fwd_hooks=[(cross_hook(layer, "attn_scores"), hook)])
    return counted_accuracy(task, logits, batch)


@dataclass(eq=False)
class PaperContext(CountingContext):
    """The inputs the encoder-decoder's probes share: the encoder's region head, the decoder's counting head
    (the cross-attention head with the most mass on the 1s of region r plus BOS) with its rows split into
    BUCKETS, and the bias token read off them. ``split`` and ``bias`` are what a census over seeds reads.

    As ``CountingContext``: ``trained`` is the task the model was trained on, ``task`` its version with all R
    regions present; the behaviour out of distribution (``region_counts``, ``lengths``, ``cap``) is
    inherited, as it only runs the model."""

    count_code_site: ClassVar[str] = "the cross-attention output"

    @cached_property
    def _forward(self) -> tuple[Tensor, dict[str, Tensor]]:
        layers = range(self.model.cfg.n_layers)
        names = {f"blocks.{l}.attn.hook_pattern" for l in layers} | {"hook_encoder_out"}
        names |= {cross_hook(l, "pattern") for l in layers} | {f"decoder.{l}.hook_cross_attn_out" for l in layers}
        with torch.no_grad():
            logits, cache = self.model.run_with_cache(self.batch.inputs, names_filter=lambda name: name in names)
        return logits, {name: cache[name] for name in names if name in cache}

    def hook(self, name: str) -> Tensor:
        """An activation of ``batch`` by its full hook name: from the shared forward pass, or (a hook it did
        not keep) from one more pass, kept too."""
        cache = self._forward[1]
        if name not in cache:
            with torch.no_grad():
                _, extra = self.model.run_with_cache(self.batch.inputs, names_filter=lambda n: n == name)
            cache[name] = extra[name]
        return cache[name]

    def act(self, kind: str, layer: int) -> Tensor:
        """An encoder activation by TL's block name (``act("pattern", 0)``: ``blocks.0.attn.hook_pattern``); the
        decoder's are read with ``hook``."""
        return self.hook(get_act_name(kind, layer))

    @cached_property
    def n_encoder(self) -> int:
        """The encoder's positions: BOS and the L body tokens."""
        return 1 + self.task.L

    @cached_property
    def region_scores(self) -> Tensor:
        """``[head]`` of encoder layer 0: 1 - TV(row, uniform on BOS + delimiters so far), body positions."""
        body, n = slice(1, self.n_encoder), self.n_encoder
        context = self.task.delimiter_context(self.batch)[:, :n, :n]
        return closeness_to_uniform(self.patterns[0][:, :, body], context[:, body])

    @cached_property
    def rows(self) -> Tensor:
        """``[batch, head, R, 1 + L]``: the last decoder layer's cross-attention rows at the prompt."""
        return self.hook(cross_hook(self.last, "pattern"))

    @cached_property
    def relevant(self) -> Tensor:
        """``[batch, R, 1 + L]``: the 1s of region r plus BOS, the theory's keys for the row at Q_r."""
        return self.batch.relevant[:, :, :self.n_encoder]

    @cached_property
    def count_head(self) -> int:
        return int(mass_on(self.rows, self.relevant).argmax())

    @cached_property
    def split(self) -> dict[str, float]:
        """The counting head's cross-attention per bucket (mean mass over the rows at Q_1 .. Q_R)."""
        return {name: mass_on(self.rows, mask)[self.count_head].item()
                for name, mask in buckets(self.task, self.batch).items()}

    @cached_property
    def bias(self) -> str:
        return bias_token(self.split)

    @cached_property
    def circuit(self) -> list[Head]:
        """``[encoder head, cross-attention head]``: ``(0, h)`` is ``blocks.0.attn`` head h, the region detector;
        ``(l, h)`` is ``decoder.l.cross_attn`` head h, the counting head (l the last decoder layer). Both may
        read ``(0, 0)``: the second is always the cross-attention's."""
        return [(0, self.region_head), (self.last, self.count_head)]

    @cached_property
    def circuit_names(self) -> list[str]:
        encoder, cross = self.circuit
        return [f"encoder {head_label(*encoder)}", f"cross-attention {head_label(*cross)}"]

    @cached_property
    def count_code(self) -> tuple[Tensor, Tensor]:
        """The cross-attention output at the prompt ``[batch * R, d_model]`` and the counts ``[batch * R]``."""
        out = self.hook(f"decoder.{self.last}.hook_cross_attn_out")
        return out.flatten(0, 1), self.batch.targets.float().flatten()


# --- attention ------------------------------------------------------------------------------------


def claim_encoder_finds_region(ctx: PaperContext) -> Claim:
    """1 - TV(encoder row, uniform on BOS and the delimiters at or before the position), mean over body
    positions, for the best head of encoder layer 0.

    Theory: uniform on that set, so the head's output 1/(N+1) tells how many delimiters came before
    (construction: 1.0). Fails when the encoder attends elsewhere (every previous token, the bits)."""
    return claim(
        "the encoder head finds the region from the delimiters", "attention",
        "1 - TV(encoder row, uniform on BOS + delimiters so far) >= 0.9 at body positions",
        ctx.region_scores[ctx.region_head].item(), 0.9, 0.6,
        detail=f"encoder {head_label(0, ctx.region_head)}; all heads "
               f"{[round(s, 3) for s in ctx.region_scores.tolist()]}")


def claim_cross_attention_counts(ctx: PaperContext) -> Claim:
    """1 - TV(cross-attention row at Q_r, uniform on {1s of region r, BOS}) for the head with the most mass
    there.

    Theory: exactly that pattern (construction: 1.0). Fails when the head spreads over other tokens or uses
    another bias token (the ``]`` twin attends to the 1s plus the R ``]``)."""
    scores = closeness_to_uniform(ctx.rows, ctx.relevant)
    return claim(
        "the cross-attention attends to the 1s of region r plus BOS", "attention",
        "1 - TV(cross-attention row at Q_r, uniform on {1s of region r, BOS}) >= 0.9",
        scores[ctx.count_head].item(), 0.9, 0.6,
        detail=f"cross-attention {head_label(ctx.last, ctx.count_head)}; mass "
               + ", ".join(f"{k} {v:.2f}" for k, v in ctx.split.items()), buckets=ctx.split)


def claim_bos_is_bias_token(ctx: PaperContext) -> Claim:
    """BOS's share of the counting head's cross-attention outside the counted 1s; the bias token is the biggest
    bucket there (BOS, ``]``, ``[``, 0s, other 1s), and ``extra["split"]`` holds every bucket's mass.

    Theory: BOS holds all of it (construction: 1.0), so the count survives softmax normalisation with nothing
    that depends on R or L. Fails when another token (``]``: the twin construction) takes the bias role; the
    mechanism line then names it."""
    outside = sum(v for k, v in ctx.split.items() if k != TARGET)
    share = ctx.split["BOS"] / outside if outside > 0 else None
    shares = {k: (v / outside if outside > 0 else 0.0) for k, v in ctx.split.items() if k != TARGET}
    return claim(
        "BOS is the cross-attention's bias token", "attention",
        "BOS holds >= 0.8 of the counting head's cross-attention outside the counted 1s (construction: all of it)",
        share, 0.8, 0.5,
        detail=f"bias token: {ctx.bias}; share outside the counted 1s "
               + ", ".join(f"{k} {v:.2f}" for k, v in shares.items()),
        bias_token=ctx.bias, split=ctx.split, shares=shares, finding=f"bias token {ctx.bias}")


# --- representation -------------------------------------------------------------------------------


def claim_region_linear_after_encoder(ctx: PaperContext) -> Claim:
    """Held-out accuracy of a linear probe for the region index (0 = outside) of each bit token from
    ``hook_encoder_out``, against the majority class.

    Theory: the region detector and the encoder's MLP make it linear (construction: 1.0). Fails when the
    encoder does not find the region, or stores it nonlinearly."""
    n = ctx.n_encoder
    tokens = ctx.batch.inputs[:, :n]
    bits = (tokens == ONE) | (tokens == ZERO)
    labels = ctx.batch.info["region"][:, :n][bits]
    majority = torch.bincount(labels).max().item() / len(labels)
    return claim(
        "the region index is linear after the encoder", "representation",
        "linear probe accuracy for the region of each bit (0 = outside) from hook_encoder_out >= 0.95",
        linear_probe_accuracy(ctx.hook("hook_encoder_out")[bits], labels), 0.95, 0.7,
        detail=f"majority class {majority:.3f}")



# --- causal ---------------------------------------------------------------------------------------


def claim_bias_keeps_count(ctx: PaperContext) -> Claim:
    """Accuracy drop on the queries with a count >= 1 when the bias token (``ctx.bias``: BOS in the theory) is
    removed from the counting head's cross-attention (its score set to -inf in ``hook_attn_scores``).

    Theory: without its bias the row is uniform on the 1s alone, whose output no longer depends on n, so the
    count is lost (drop ~1). Fails when the named bias carries no part of the count (none does, or the
    answer is read some other way)."""
    base = counted_accuracy(ctx.task, ctx.logits, ctx.batch)
    mask = buckets(ctx.task, ctx.batch)[ctx.bias]
    after = accuracy_without_keys(ctx.model, ctx.task, ctx.batch, ctx.last, ctx.count_head, mask)
    return claim("the bias token keeps the count", "causal",
                 f"accuracy on counts >= 1 drops by >= 0.5 when the bias token ({ctx.bias}) is removed from the "
                 "cross-attention (score -inf)", base - after, 0.5, 0.2,
                 detail=f"accuracy on counts >= 1: {base:.3f} -> {after:.3f} without {ctx.bias}", bias_token=ctx.bias)


# --- comparison with the construction -------------------------------------------------------------


def _reference_rows(ctx: PaperContext) -> Tensor:
    """``[batch, R, 1 + L]``: the construction's counting-head cross-attention rows at the prompt."""
    name = cross_hook(ctx.last, "pattern")
    _, cache = ctx.reference.run_with_cache(ctx.batch.inputs, names_filter=lambda n: n == name)
    rows = cache[name]
    return rows[:, int(mass_on(rows, ctx.relevant).argmax())]



def claim_attention_matches_construction(ctx: PaperContext) -> Claim:
    """Mean cosine between the counting head's cross-attention rows at Q_r and the construction's. Fails when
    the head attends to other tokens (another bias token lowers it)."""
    with torch.no_grad():
        theirs = _reference_rows(ctx)
    similarity = torch.nn.functional.cosine_similarity(ctx.rows[:, ctx.count_head], theirs, dim=-1)
    return claim("cross-attention matches the construction", "comparison",
                 "cosine between the model's and the construction's cross-attention rows at Q_r >= 0.9",
                 similarity.mean().item(), 0.9, 0.6)


@torch.no_grad()
def claim_construction_attention_patched_in(ctx: PaperContext) -> Claim:
    """Accuracy with the counting head's cross-attention rows replaced by the construction's. Fails when the
    model's values, MLP and unembedding decode another code than (n v_one + v_BOS)/(n+1)."""
    theirs, head = _reference_rows(ctx), ctx.count_head

    def replace(pattern: Tensor, hook) -> Tensor:
        pattern = pattern.clone()
        pattern[:, head] = theirs
        return pattern

    logits = ctx.model.run_with_hooks(ctx.batch.inputs, fwd_hooks=[(cross_hook(ctx.last, "pattern"), replace)])
    return claim("works with the construction's cross-attention patched in", "comparison",
                 "accuracy >= 0.98 with the counting head's rows replaced by the construction's",
                 ctx.task.evaluate(logits, ctx.batch)["accuracy"], 0.98, 0.7)


# --- the analysis ---------------------------------------------------------------------------------

PROBES = (
    claim_solves_task,
    claim_encoder_finds_region,
    claim_region_linear_after_encoder,
    claim_cross_attention_counts,
    claim_bos_is_bias_token,
    claim_count_coded_as_inverse,
    claim_count_code_not_linear,
    claim_bias_keeps_count,
    claim_generalises_to_other_region_counts,
    claim_generalises_to_longer_sequences,
)
COMPARISONS = (claim_agrees_with_construction, claim_attention_matches_construction,
               claim_construction_attention_patched_in)


def plots(ctx: PaperContext) -> list[Plot]:
    encoder, cross = ctx.circuit_names
    out = [
        Plot.bars("cross_attention_buckets", f"Where the {cross} attends from Q_r", list(ctx.split),
                  {"mass": list(ctx.split.values())}, ylabel="attention mass"),
        Plot.bars("encoder_region", f"Encoder layer 0 heads: 1 - TV from uniform on BOS + delimiters so far "
                  f"({encoder} is the region head)",
                  [f"encoder {head_label(0, h)}" for h in range(len(ctx.region_scores))],
                  {"closeness": ctx.region_scores.tolist()}, ylabel="1 - TV"),
    ]
    trained = ctx.training.region_counts
    out.append(Plot.bars("regions", "Accuracy by number of regions (trained on R = "
                         f"{trained.start}..{trained.stop - 1}; orange: never seen in training)",
                         [f"R={r}" for r in ctx.region_counts],
                         {"accuracy": list(ctx.region_counts.values())},
                         highlight=[r not in trained for r in ctx.region_counts], ylabel="accuracy"))
    if ctx.lengths:
        out.append(Plot.bars("lengths", f"Accuracy by length (trained at L = {ctx.training.L}; counts up to {ctx.cap})",
                             [f"L={L}" for L in [ctx.training.L, *ctx.lengths]],
                             {"accuracy": [ctx.metrics["accuracy"], *(v["accuracy"] for v in ctx.lengths.values())]},
                             ylabel="accuracy"))
    return out


def analyze_context(model: "EncoderDecoder", task: CountingTask, reference: "EncoderDecoder | None" = None,
                    samples: int = 2048, seed: int = 0) -> tuple[PaperContext, Analysis]:
    """The context and the analysis of one model: a census reads ``ctx.split``, ``ctx.bias`` and
    ``analysis.assessment.status`` from the same run."""
    model.eval()
    ctx = PaperContext(model, task.fixed(), reference, samples, seed, trained=task)
    claims = [probe(ctx) for probe in PROBES]
    if reference is not None:
        claims += [probe(ctx) for probe in COMPARISONS]
    line = mechanism_line(claims, WORDING, ctx.circuit, labels=ctx.circuit_names)
    return ctx, Analysis(claims, plots(ctx), line, ctx.circuit, circuit_names=ctx.circuit_names)


def analyze(model: "EncoderDecoder", task: CountingTask, reference: "EncoderDecoder | None",
            samples: int = 2048, seed: int = 0) -> Analysis:
    return analyze_context(model, task, reference, samples, seed)[1]


def circuit(model: "EncoderDecoder", task: CountingTask, samples: int = 2048, seed: int = 0) -> list[Head]:
    """``[encoder head, cross-attention head]`` (``PaperContext.circuit``)."""
    return PaperContext(model, task.fixed(), None, samples, seed, trained=task).circuit


__all__ = ["BUCKETS", "PROBES", "COMPARISONS", "PaperContext", "WORDING", "analyze", "analyze_context", "buckets",
           "circuit"]
