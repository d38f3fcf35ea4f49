"""Contextual counting probes (Golkar et al.): layer 0 finds the region of each token from BOS and the
delimiters seen so far; the last layer at Q_r attends to the 1s of region r plus a bias token, BOS,
so that its output (n v_one + v_BOS)/(n+1) still depends on the count n. Which token serves as the
bias sets the behaviour out of distribution: a bias works wherever the number of its tokens a query
sees takes only values it took in training (``bias_counts``, ``bias_generalises``). Region-count and
length generalisation are graded apart, each only where the model was trained on what it is scored
through (query tokens; output counts).

``analyze`` runs one small function per claim (``claim_*`` below, each documenting what it measures,
what the theory expects and how it can fail) on a shared ``CountingContext``; the mechanism line comes
from their verdicts (``interp.analysis.mechanism``). The theory: docs/theory/counting.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from ..models.readout import mass_on, readout_rows
from ..naming import head_label
from ..plot import Plot
from ..tasks import CountingTask, evaluate
from ..tasks.counting import BOS, CLOSE, FIRST_QUERY, IGNORE, ONE, OPEN, ZERO
from ..tasks.evaluation import chunk_size, model_device
from .claims import Claim, claim, head_names, untestable
from .common import Head, closeness_to_uniform, linear_probe_accuracy, linear_probe_r2, run_with_patterns
from .context import Context, kind_of_head_ablation
from .mechanism import Wording, mechanism_line
from .result import Analysis

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

TARGET = "1s of region r"
BUCKETS = (TARGET, "BOS", "]", "[", "0s", "other 1s", "queries")

WORDING = Wording(
    circuit="layer 0 reads the region from BOS and the delimiters; the counting head counts the region's 1s "
            "with BOS as the bias token",
    absent="neither the region detector nor the counting head attends as predicted",
)


def buckets(task: CountingTask, batch) -> dict[str, Tensor]:
    """``[batch, n_readout, pos]`` masks splitting each readout row's keys into BUCKETS."""
    tokens = batch.inputs[:, None, :].expand(-1, len(batch.readout), -1)
    target = batch.relevant.clone()
    target[:, :, 0] = False
    is_one = tokens == ONE
    return {
        TARGET: target,
        "BOS": tokens == BOS,
        "]": tokens == CLOSE,
        "[": tokens == OPEN,
        "0s": tokens == ZERO,
        "other 1s": is_one & ~target,
        "queries": tokens >= FIRST_QUERY,
    }


def bias_token(split: dict[str, float]) -> str:
    """The token the counting head uses as its softmax bias: the biggest bucket besides the counted 1s."""
    return max((b for b in split if b != TARGET), key=split.get)


def bias_counts(bias: str, task: CountingTask, causal: bool = True) -> frozenset[int]:
    """How many tokens of bucket ``bias`` a query can attend to, over every sequence of ``task``.

    BOS: always 1. ``]`` and ``[``: one per region, so the sequence's number of regions. The queries:
    Q_r sees itself and the queries before it, r of them, under causal attention (whatever L and R are);
    all R under bidirectional attention. The 0s and the other 1s: anything from 0 to the number of bits,
    L - 2 R_b, so their count moves with L and R. (docs/theory/counting.md, 'Which bias generalises'.)
    """
    regions = task.region_counts
    if bias == "BOS":
        return frozenset({1})
    if bias in ("]", "["):
        return frozenset(regions)
    if bias == "queries":
        return frozenset(range(1, task.R + 1)) if causal else frozenset({task.R})
    return frozenset(range(task.L - 2 * min(regions) + 1))


def bias_generalises(bias: str, trained: CountingTask, other: CountingTask, causal: bool = True) -> bool:
    """Golkar et al.'s criterion: the count n is read off (n v_one + b v_bias)/(n + b), which means the same
    n only while the number b of bias tokens is one the model was trained with. So the bias predicts that
    the model generalises to ``other`` iff every count of it there was also a count in ``trained``."""
    return bias_counts(bias, other, causal) <= bias_counts(bias, trained, causal)


def prediction_text(bias: str, generalises: bool) -> str:
    return (f"its bias token is {bias}, whose count there takes only values it took in training: the theory "
            "predicts it generalises" if generalises else
            f"its bias token is {bias}, whose count there takes values it never took in training: the theory "
            "predicts it fails")


def count_cap(task: CountingTask, samples: int = 20_000, seed: int = 0, share: float = 1e-3) -> int:
    """The largest count that is at least ``share`` of the asked queries of ``task``'s sequences: the
    counts a model trained on ``task`` has learned to output (an output class seen less often is not)."""
    targets = task.sample(samples, seed).targets
    counts = torch.bincount(targets[targets != IGNORE])
    return int(torch.nonzero(counts >= share * counts.sum()).max())


@torch.no_grad()
def accuracy_within(model, task: CountingTask, cap: int, samples: int, seed: int) -> dict[str, float]:
    """Accuracy on ``samples`` fresh sequences of ``task`` over the asked queries whose count is at most
    ``cap`` (``scored``: their share of the asked queries), and over every asked query (``all``)."""
    g = torch.Generator().manual_seed(seed)
    chunk, device = chunk_size(model, task), model_device(model)
    right = scored = right_all = asked = 0
    done = 0
    while done < samples:
        batch = task.sample(min(chunk, samples - done), g).to(device)
        done += len(batch)
        correct = task.readout_logits(model(batch.inputs), batch).argmax(-1) == batch.targets
        within = (batch.targets != IGNORE) & (batch.targets <= cap)
        right, scored = right + (correct & within).sum().item(), scored + within.sum().item()
        right_all, asked = right_all + correct.sum().item(), asked + (batch.targets != IGNORE).sum().item()
    return {"accuracy": right / max(scored, 1), "scored": scored / max(asked, 1), "all": right_all / max(asked, 1)}


def without_keys(mask: Tensor, head: int, readout: Tensor):
    """A ``hook_pattern`` replacement removing the keys in ``mask`` (``[batch, n_readout, pos]``) from
    ``head``'s rows at the ``readout`` positions, each row renormalised (for ``run_with_patterns``)."""

    def replace(pattern: Tensor) -> Tensor:
        pattern = pattern.clone()
        rows = pattern[:, head, readout] * ~mask
        pattern[:, head, readout] = rows / rows.sum(-1, keepdim=True).clamp(min=1e-12)
        return pattern

    return replace


@dataclass(eq=False)
class CountingContext(Context):
    """The inputs the counting probes share: the region head of layer 0, the counting head of the last
    layer with its query rows split into buckets, and the bias token read off them.

    ``trained`` is the task the model was trained on; the probes read sequences of ``task``, its version
    with all R regions present (one of its draws when the number of regions varies), so that every
    query asks something."""

    task: CountingTask
    trained: CountingTask | None = None
    # Where ``count_code`` is read, as the count-code claims name it.
    count_code_site: ClassVar[str] = "the last attention output"

    @cached_property
    def training(self) -> CountingTask:
        return self.trained or self.task

    @cached_property
    def causal(self) -> bool:
        return self.model.cfg.attention_dir == "causal"

    @cached_property
    def last(self) -> int:
        return self.model.cfg.n_layers - 1

    @cached_property
    def region_scores(self) -> Tensor:
        """``[head]`` of layer 0: 1 - TV(row, uniform on BOS + delimiters so far), body positions."""
        body = slice(1, 1 + self.task.L)
        context = self.task.delimiter_context(self.batch)
        return closeness_to_uniform(self.patterns[0][:, :, body], context[:, body])

    @cached_property
    def region_head(self) -> int:
        return int(self.region_scores.argmax())

    @cached_property
    def rows(self) -> Tensor:
        """``[batch, head, R, pos]``: the last layer's rows at the queries."""
        return readout_rows(self.patterns[self.last], self.batch)

    @cached_property
    def count_head(self) -> int:
        return int(mass_on(self.rows, self.batch.relevant).argmax())

    @cached_property
    def split(self) -> dict[str, float]:
        """The counting head's query attention per bucket (mean mass)."""
        return {name: mass_on(self.rows, mask)[self.count_head].item() for name, mask in buckets(self.task, self.batch).items()}

    @cached_property
    def bias(self) -> str:
        return bias_token(self.split)

    @cached_property
    def circuit(self) -> list[Head]:
        return list(dict.fromkeys([(0, self.region_head), (self.last, self.count_head)]))

    @cached_property
    def others(self) -> list[Head]:
        return [head for head in self.heads if head not in self.circuit]

    @cached_property
    def per_head_accuracy(self) -> dict[Head, float]:
        return {head: self.ablated([head])["accuracy"] for head in self.heads}

    @cached_property
    def count_code(self) -> tuple[Tensor, Tensor]:
        """The last attention output at the queries ``[batch * R, d_model]`` and the counts ``[batch * R]``."""
        out = self.act("attn_out", self.last)[:, self.batch.readout]
        return out.flatten(0, 1), self.batch.targets.float().flatten()

    @cached_property
    def region_counts(self) -> dict[int, float]:
        """Accuracy with exactly R' regions, for every R' <= R: the counts scored through query tokens
        the model was trained on (Q_1 .. Q_R; a count above R would need a query token it never saw)."""
        return {r: evaluate(self.model, self.training.fixed(R=r), samples=max(self.samples // 2, 1),
                            seed=self.seed)["accuracy"] for r in range(1, self.training.R + 1)}

    @cached_property
    def ood_region_counts(self) -> list[int]:
        """The counts of ``region_counts`` the model never saw in training (fewer regions than its fewest)."""
        return [r for r in self.region_counts if r not in self.training.region_counts]

    @cached_property
    def cap(self) -> int:
        """The largest count the model was trained to output often enough to learn it (``count_cap``)."""
        return count_cap(self.training, seed=self.seed)

    @cached_property
    def lengths(self) -> dict[int, dict[str, float]]:
        """At L' = 2L and 4L (those that fit the context; else the longest that does), with the training
        distribution of regions: ``accuracy_within`` the trained counts."""
        task = self.training
        longest = min(task.max_len, self.model.cfg.n_ctx) - 1 - task.R
        fits = [k * task.L for k in (2, 4) if k * task.L <= longest] or ([longest] if longest > task.L else [])
        return {L: accuracy_within(self.model, task.replace(L=L), self.cap, max(self.samples // 2, 1), self.seed)
                for L in fits}


# --- behaviour ------------------------------------------------------------------------------------


def claim_solves_task(ctx: CountingContext) -> Claim:
    """Exact-count accuracy at the queries on fresh samples. Any solver passes: behaviour. Fails when
    the model has not learned the task."""
    return claim("solves the task", "behaviour", "exact-count accuracy >= 0.98 on fresh samples",
                 ctx.metrics["accuracy"], 0.98, 0.7)


def claim_each_circuit_head_needed(ctx: CountingContext) -> Claim:
    """Accuracy drop when either circuit head is mean-ablated (the smaller of the two drops).

    Theory: both heads are needed. With one head per layer any two-layer solver needs both, so this is
    behaviour; with several heads per layer it tests that the heads chosen by their attention are the
    ones used (causal). Fails when the answer survives without one of them."""
    base = ctx.metrics["accuracy"]
    return claim(
        "each circuit head is needed", kind_of_head_ablation(ctx.model),
        "accuracy drops by >= 0.5 when either circuit head is mean-ablated",
        base - max(ctx.per_head_accuracy[head] for head in ctx.circuit), 0.5, 0.2,
        detail="accuracy with one head ablated: "
               + ", ".join(f"{head_names([h])}: {a:.3f}" for h, a in ctx.per_head_accuracy.items()))


def claim_generalises_to_other_region_counts(ctx: CountingContext) -> Claim:
    """Worst accuracy at the numbers of regions R' <= R the model never saw in training (fewer than its
    fewest), each scored through query tokens it was trained on.

    Theory: the count survives softmax normalisation through the bias token, so the model generalises
    where its bias's count stays one it had in training (``bias_generalises``): BOS always; the ``]`` (or
    ``[``) tokens only at the trained numbers of regions; the queries under causal attention always (Q_r
    sees r of them). Behaviour: the bias token itself is ``claim_bos_is_bias_token``. Untestable when the
    model was trained on every R' <= R: a count above R would be scored through a query token it never
    saw, which fails whatever the circuit, so it is not scored."""
    name, training = "generalises to other numbers of regions", ctx.training
    ood = {r: ctx.region_counts[r] for r in ctx.ood_region_counts}
    predicted = {r: bias_generalises(ctx.bias, training, training.fixed(R=r), ctx.causal) for r in ood}
    seen = ", ".join(f"R={r}: {a:.3f}" for r, a in ctx.region_counts.items())
    if not ood:
        return untestable(
            name, "behaviour",
            f"accuracy at numbers of regions never seen in training >= 0.95 ({prediction_text(ctx.bias, True)} "
            "at every trained number of regions)",
            f"trained on every number of regions from 1 to R = {training.R}; more regions would be scored through "
            f"query tokens it never saw. Accuracy by number of regions: {seen}", by_regions=ctx.region_counts)
    generalises = all(predicted.values())
    return claim(name, "behaviour", f"accuracy at R in {list(ood)} >= 0.95 ({prediction_text(ctx.bias, generalises)})",
                 min(ood.values()), 0.95, 0.7, detail=f"accuracy by number of regions: {seen}", ood=ood,
                 by_regions=ctx.region_counts, predicted=generalises)


def claim_generalises_to_longer_sequences(ctx: CountingContext) -> Claim:
    """Worst accuracy at L' = 2L and 4L (or the longest length that fits), with the training distribution
    of regions, over the queries whose count the model was trained to output (``count_cap``: longer
    regions hold counts it never had to give, which fail whatever the circuit).

    Theory: BOS, ``]``, ``[`` and the queries occur as often at every L, so a model biased by any of them
    generalises in length; a bias among the 0s or other 1s grows with L and fails. Behaviour. Untestable
    when no longer sequence fits the context."""
    name, training = "generalises to longer sequences", ctx.training
    if not ctx.lengths:
        return untestable(name, "behaviour", "accuracy at L' = 2L, 4L >= 0.95",
                          f"no longer sequence fits max_len = {training.max_len}")
    generalises = all(bias_generalises(ctx.bias, training, training.replace(L=L), ctx.causal) for L in ctx.lengths)
    worst = min(v["accuracy"] for v in ctx.lengths.values())
    detail = "; ".join(f"L={L}: {v['accuracy']:.3f} on counts <= {ctx.cap} ({v['scored']:.0%} of queries), "
                       f"{v['all']:.3f} on all" for L, v in ctx.lengths.items())
    return claim(name, "behaviour",
                 f"accuracy at L' in {list(ctx.lengths)} >= 0.95 on counts up to {ctx.cap}, the largest it was trained "
                 f"to give ({prediction_text(ctx.bias, generalises)})", worst, 0.95, 0.7, detail=detail,
                 by_length={L: v["accuracy"] for L, v in ctx.lengths.items()}, predicted=generalises, count_cap=ctx.cap)


# --- attention ------------------------------------------------------------------------------------


def claim_layer0_finds_region(ctx: CountingContext) -> Claim:
    """1 - TV(layer-0 row, uniform on BOS and the delimiters at or before the position), mean over body
    positions, for the best layer-0 head.

    Theory: uniform on that set, so the head's output 1/(N+1) tells how many delimiters came before
    (construction: 1.0). Fails when layer 0 attends elsewhere (e.g. to every previous token)."""
    return claim(
        "layer 0 finds the region from the delimiters", "attention",
        "1 - TV(layer-0 row, uniform on BOS + delimiters so far) >= 0.9 at body positions",
        ctx.region_scores[ctx.region_head].item(), 0.9, 0.6,
        detail=f"head {head_label(0, ctx.region_head)}; all heads {[round(s, 3) for s in ctx.region_scores.tolist()]}")


def claim_counting_head_attends_to_ones_and_bos(ctx: CountingContext) -> Claim:
    """1 - TV(row at Q_r, uniform on {1s of region r, BOS}) for the last-layer head with the most mass there.

    Theory: exactly that pattern (construction: 1.0). Fails when the head spreads over other tokens or
    uses another bias token (the ``]`` twin attends to the 1s plus the R ``]``)."""
    scores = closeness_to_uniform(ctx.rows, ctx.batch.relevant)
    return claim(
        "the counting head attends to the 1s of region r plus BOS", "attention",
        "1 - TV(row at Q_r, uniform on {1s of region r, BOS}) >= 0.9",
        scores[ctx.count_head].item(), 0.9, 0.6,
        detail=f"head L{ctx.last}H{ctx.count_head}; mass " + ", ".join(f"{k} {v:.2f}" for k, v in ctx.split.items()),
        buckets=ctx.split)


def claim_bos_is_bias_token(ctx: CountingContext) -> Claim:
    """BOS's share of the counting head's query attention outside the counted 1s; the bias token is the
    biggest bucket there (BOS, ``]``, ``[``, 0s, other 1s, queries).

    Theory: BOS holds all of it (construction: 1.0), so the count survives softmax normalisation with
    nothing that depends on R. Fails when another token (``]``, the queries) takes the bias role; the
    mechanism line then names it."""
    outside = sum(v for k, v in ctx.split.items() if k != TARGET)
    share = ctx.split["BOS"] / outside if outside > 0 else None
    return claim(
        "BOS is the counting head's bias token", "attention",
        "BOS holds >= 0.8 of the counting head's attention outside the counted 1s (construction: all of it)",
        share, 0.8, 0.5, detail=f"bias token: {ctx.bias}; mass " + ", ".join(f"{k} {v:.2f}" for k, v in ctx.split.items()),
        bias_token=ctx.bias, buckets=ctx.split, finding=f"bias token {ctx.bias}")


# --- representation -------------------------------------------------------------------------------


def claim_region_linear_after_layer0(ctx: CountingContext) -> Claim:
    """Held-out accuracy of a linear probe for the region index (0 = outside) of each bit token from
    ``blocks.0.hook_resid_post``, against the majority class.

    Theory: the region detector and MLP0 make it linear (construction: 1.0). Fails when layer 0 does not
    find the region, or stores it nonlinearly."""
    resid = ctx.act("resid_post", 0)
    bits = (ctx.batch.inputs == ONE) | (ctx.batch.inputs == ZERO)
    labels = ctx.batch.info["region"][bits]
    majority = torch.bincount(labels).max().item() / len(labels)
    return claim(
        "the region index is linear after layer 0", "representation",
        "linear probe accuracy for the region of each bit (0 = outside) from blocks.0.hook_resid_post >= 0.95",
        linear_probe_accuracy(resid[bits], labels), 0.95, 0.7, detail=f"majority class {majority:.3f}")


def claim_count_coded_as_inverse(ctx: CountingContext) -> Claim:
    """R^2 of an affine probe for 1/(n+1) from the counting head's output at Q_r (n = the count).

    Theory: the counting head writes v_BOS/(n+1) (BOS value) or, equally, v_one n/(n+1) (the ones'
    value); n/(n+1) = 1 - 1/(n+1), so to an affine probe they are the same code. Fails when the head
    output does not carry the count (its contrast with a linear code is
    ``claim_count_code_not_linear``)."""
    features, counts = ctx.count_code
    return claim(
        "the count is coded as 1/(n+1)", "representation",
        f"R^2 of an affine probe for 1/(n+1) (equivalently n/(n+1)) from {ctx.count_code_site} at Q_r >= 0.95",
        linear_probe_r2(features, 1 / (counts + 1)), 0.95, 0.7)


def claim_count_code_not_linear(ctx: CountingContext) -> Claim:
    """How much better 1/(n+1) fits the count code than n itself: (R^2(1/(n+1)) - R^2(n)) divided by the
    most a perfect 1/(n+1) code could reach on these counts (1 - R^2 of n from 1/(n+1) itself).

    Theory: softmax normalisation makes the code 1/(n+1), not linear in n (construction: 1.0). Fails
    when the output codes n linearly, or codes it as b/(n+b) for a bias count b != 1 (the ``]`` twin),
    or not at all. Untestable when the counts barely vary."""
    features, counts = ctx.count_code
    inverse = 1 / (counts + 1)
    expected = (f"(R^2(1/(n+1)) - R^2(n)) / (1 - R^2(n from 1/(n+1))) >= 0.8 at {ctx.count_code_site} at Q_r "
                "(a perfect 1/(n+1) code: 1)")
    if counts.std() < 1e-6:
        return untestable("the count code is 1/(n+1), not linear in n", "representation", expected,
                          "every query has the same count: no code to compare")
    most = 1 - linear_probe_r2(inverse[:, None], counts)
    r2_inverse, r2_linear = linear_probe_r2(features, inverse), linear_probe_r2(features, counts)
    if most < 1e-3:
        return untestable("the count code is 1/(n+1), not linear in n", "representation", expected,
                          "n and 1/(n+1) are almost collinear on these counts")
    return claim("the count code is 1/(n+1), not linear in n", "representation", expected,
                 (r2_inverse - r2_linear) / most, 0.8, 0.4,
                 detail=f"R^2 1/(n+1) {r2_inverse:.3f}, n {r2_linear:.3f}; at most {most:.3f} apart for a perfect code")


# --- causal ---------------------------------------------------------------------------------------


def claim_bos_keeps_count(ctx: CountingContext) -> Claim:
    """Accuracy drop when BOS is removed from the counting head's query rows (``hook_pattern``, rows
    renormalised).

    Theory: without its bias the head's output no longer depends on n, so the count is lost (drop ~1).
    Fails when BOS carries no part of the count (another bias token, or none)."""
    base = ctx.metrics["accuracy"]
    bos = buckets(ctx.task, ctx.batch)["BOS"]
    without_bos = without_keys(bos, ctx.count_head, ctx.batch.readout)
    after = run_with_patterns(ctx.model, ctx.task, ctx.batch, {ctx.last: without_bos})["accuracy"]
    return claim("BOS is the bias that keeps the count", "causal",
                 "accuracy drops by >= 0.5 when BOS is removed from the counting head's rows (renormalised)",
                 base - after, 0.5, 0.2, detail=f"accuracy {base:.3f} -> {after:.3f}")


def claim_other_heads_not_needed(ctx: CountingContext) -> Claim:
    """Accuracy with every head but the two circuit heads mean-ablated. Untestable with one head per
    layer. Fails when other heads carry part of the answer."""
    expected = "accuracy with the other heads mean-ablated >= 0.97"
    if not ctx.others:
        return untestable("the other heads are not needed", "causal", expected,
                          "one head per layer: every head is a circuit head")
    return claim("the other heads are not needed", "causal", expected, ctx.ablated(ctx.others)["accuracy"], 0.97, 0.8,
                 detail=f"other heads {head_names(ctx.others)}")


# --- comparison with the construction -------------------------------------------------------------


def _reference_rows(ctx: CountingContext) -> Tensor:
    """``[batch, R, pos]``: the construction's counting-head rows at the queries."""
    rows = readout_rows(ctx.reference_patterns[-1], ctx.batch)
    return rows[:, int(mass_on(rows, ctx.batch.relevant).argmax())]


def claim_agrees_with_construction(ctx: CountingContext) -> Claim:
    """Fraction of queries where the model and the construction give the same count. Fails when either
    errs (a twin decoded for another R, a model that miscounts)."""
    ours = ctx.task.readout_logits(ctx.logits, ctx.batch).argmax(-1)
    theirs = ctx.task.readout_logits(ctx.reference_logits, ctx.batch).argmax(-1)
    return claim("agrees with the construction", "comparison", "same count as the hand-built model on >= 0.98 of queries",
                 (ours == theirs).float().mean().item(), 0.98, 0.7)


def claim_attention_matches_construction(ctx: CountingContext) -> Claim:
    """Mean cosine between the counting head's rows at Q_r and the construction's. Fails when the head
    attends to other tokens (another bias token lowers it)."""
    similarity = torch.nn.functional.cosine_similarity(ctx.rows[:, ctx.count_head], _reference_rows(ctx), dim=-1)
    return claim("counting attention matches the construction", "comparison",
                 "cosine between the model's and the construction's rows at Q_r >= 0.9", similarity.mean().item(), 0.9, 0.6)


def claim_construction_attention_patched_in(ctx: CountingContext) -> Claim:
    """Accuracy with the counting head's rows at Q_r replaced by the construction's. Fails when the
    model's values and MLP decode another code than (n v_one + v_BOS)/(n+1)."""
    reference_rows, readout, head = _reference_rows(ctx), ctx.batch.readout, ctx.count_head

    def replace(pattern: Tensor) -> Tensor:
        pattern = pattern.clone()
        pattern[:, head, readout] = reference_rows
        return pattern

    return claim("works with the construction's attention patched in", "comparison",
                 "accuracy >= 0.98 with the counting head's Q_r rows replaced by the construction's",
                 run_with_patterns(ctx.model, ctx.task, ctx.batch, {ctx.last: replace})["accuracy"], 0.98, 0.7)


# --- the analysis ---------------------------------------------------------------------------------

PROBES = (
    claim_solves_task,
    claim_layer0_finds_region,
    claim_region_linear_after_layer0,
    claim_counting_head_attends_to_ones_and_bos,
    claim_bos_is_bias_token,
    claim_count_coded_as_inverse,
    claim_count_code_not_linear,
    claim_bos_keeps_count,
    claim_each_circuit_head_needed,
    claim_other_heads_not_needed,
    claim_generalises_to_other_region_counts,
    claim_generalises_to_longer_sequences,
)
COMPARISONS = (claim_agrees_with_construction, claim_attention_matches_construction, claim_construction_attention_patched_in)


def plots(ctx: CountingContext) -> list[Plot]:
    accuracy = ctx.per_head_accuracy
    out = [
        Plot.bars("counting_head_buckets", f"Where the counting head L{ctx.last}H{ctx.count_head} attends from Q_r",
                  list(ctx.split), {"mass": list(ctx.split.values())}, ylabel="attention mass"),
        Plot.bars("head_ablation", f"Accuracy with one head mean-ablated (baseline {ctx.metrics['accuracy']:.3f})",
                  [head_names([h]) for h in accuracy], {"accuracy": list(accuracy.values())},
                  highlight=[h in ctx.circuit for h in accuracy], ylabel="accuracy"),
    ]
    trained = ctx.training.region_counts
    out.append(Plot.bars("regions", f"Accuracy by number of regions (trained on R = {trained.start}..{trained.stop - 1}; "
                         "orange: never seen in training)", [f"R={r}" for r in ctx.region_counts],
                         {"accuracy": list(ctx.region_counts.values())},
                         highlight=[r not in trained for r in ctx.region_counts], ylabel="accuracy"))
    if ctx.lengths:
        out.append(Plot.bars("lengths", f"Accuracy by length (trained at L = {ctx.training.L}; counts up to {ctx.cap})",
                             [f"L={L}" for L in [ctx.training.L, *ctx.lengths]],
                             {"accuracy": [ctx.metrics["accuracy"], *(v["accuracy"] for v in ctx.lengths.values())]},
                             ylabel="accuracy"))
    return out


def analyze(model: "TransformerBridge", task: CountingTask, reference: "TransformerBridge | None",
            samples: int = 2048, seed: int = 0) -> Analysis:
    ctx = CountingContext(model, task.fixed(), reference, samples, seed, trained=task)
    claims = [probe(ctx) for probe in PROBES]
    if reference is not None:
        claims += [probe(ctx) for probe in COMPARISONS]
    return Analysis(claims, plots(ctx), mechanism_line(claims, WORDING, ctx.circuit), ctx.circuit)
