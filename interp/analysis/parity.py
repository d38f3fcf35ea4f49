"""Sparse parity probes (Han & Ghoshdastidar): heads at CLS point at the bits of the hidden subset S, so
the residual stream at CLS holds the count of ones on S, and the MLP turns that count into its parity.

``analyze`` runs one small function per claim (``claim_*`` below, each documenting what it measures,
what the theory expects and how it can fail) on a shared ``ParityContext``; the mechanism line comes
from their verdicts (``interp.analysis.mechanism``). The theory: docs/theory/parity.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from ..naming import head_label
from ..plot import Plot
from ..tasks import ParityTask
from .claims import Claim, claim, head_names, untestable
from .common import Head, linear_probe_accuracy, linear_probe_r2, run_with_patterns
from .context import Context
from .mechanism import Wording, mechanism_line
from .result import Analysis

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

# A head is a circuit head when its CLS mass on S is this far from chance (k/(n+1), uniform attention)
# towards 1.
CIRCUIT_EXCESS = 0.4
SUB_SAMPLES = 512  # examples for the probes that run one forward pass per bit or per head
CONTROL_SUBSETS = 3

WORDING = Wording(
    circuit="heads at CLS point at the bits of S and the MLP turns their count into its parity",
    absent="attention from CLS does not concentrate on S",
)


@torch.no_grad()
def flip_influence(model: "TransformerBridge", task: ParityTask, inputs: Tensor) -> Tensor:
    """``[n]``: how often flipping bit j changes the model's prediction (theory: 1 on S, 0 elsewhere)."""
    base = model(inputs)[:, task.n].argmax(-1)
    out = torch.zeros(task.n)
    for j in range(task.n):
        flipped = inputs.clone()
        flipped[:, j] = 1 - flipped[:, j]
        out[j] = (model(flipped)[:, task.n].argmax(-1) != base).float().mean()
    return out


@torch.no_grad()
def head_patching(model: "TransformerBridge", task: ParityTask, batch, seed: int = 0) -> Tensor:
    """``[layer, head]``: how much of the clean answer each head's output restores in a run where one
    random bit of S is flipped (so the label flips); 1 = fully, 0 = not at all (TL activation patching)."""
    from transformer_lens import patching

    rows = torch.arange(len(batch))
    picked = torch.tensor(task.subset)[torch.randint(0, task.k, (len(batch),), generator=torch.Generator().manual_seed(seed))]
    corrupted = batch.inputs.clone()
    corrupted[rows, picked] = 1 - corrupted[rows, picked]
    sign = (2 * batch.targets - 1).float()

    def logit_difference(logits: Tensor) -> Tensor:
        return ((logits[:, task.n, 1] - logits[:, task.n, 0]) * sign).mean()

    clean_logits, clean_cache = model.run_with_cache(batch.inputs)
    clean, flipped = logit_difference(clean_logits), logit_difference(model(corrupted))
    if torch.isclose(clean, flipped):
        return torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    return patching.get_act_patch_attn_head_out_all_pos(
        model, corrupted, clean_cache, lambda logits: (logit_difference(logits) - flipped) / (clean - flipped))


def cls_rows(pattern_per_layer: list[Tensor], position: int) -> Tensor:
    """``[layer * head, pos]``: each head's attention row from ``position`` (CLS), mean over the batch."""
    return torch.cat([pattern[:, :, position].mean(0) for pattern in pattern_per_layer])


def best_threshold_accuracy(values: Tensor, labels: Tensor) -> float:
    """The best accuracy any threshold on ``values`` (either way round) gets for 0/1 ``labels``: the most
    a linear read-out of a one-dimensional code can do."""
    cuts = values.unique()
    cuts = torch.cat([cuts[:1] - 1, (cuts[1:] + cuts[:-1]) / 2, cuts[-1:] + 1])
    above = (values[None, :] > cuts[:, None]).long()  # [cut, sample]
    agree = (above == labels[None, :]).float().mean(-1)
    return float(torch.maximum(agree, 1 - agree).max())


def probe_advantage(accuracy: float, baseline: float) -> float:
    """How far a probe's accuracy goes from ``baseline`` towards 1, clamped to [0, 1]."""
    return min(max((accuracy - baseline) / max(1 - baseline, 1e-9), 0.0), 1.0)


@dataclass(eq=False)
class ParityContext(Context):
    """The inputs the parity probes share: S, the CLS rows of every head, the circuit heads, the
    Hungarian head->bit matching and the per-bit/per-head interventions the plots reuse."""

    task: ParityTask

    @cached_property
    def S(self) -> list[int]:
        return list(self.task.subset)

    @cached_property
    def outside(self) -> list[int]:
        return [j for j in range(self.task.n) if j not in self.S]

    @cached_property
    def rows(self) -> Tensor:
        return cls_rows(self.patterns, self.task.n)

    @cached_property
    def mass_on_S(self) -> Tensor:
        return self.rows[:, self.S].sum(-1)

    @cached_property
    def circuit(self) -> list[Head]:
        chance = len(self.S) / (self.task.n + 1)
        excess = (self.mass_on_S - chance) / (1 - chance)
        return [head for head, e in zip(self.heads, excess.tolist()) if e >= CIRCUIT_EXCESS]

    @cached_property
    def others(self) -> list[Head]:
        return [head for head in self.heads if head not in self.circuit]

    @cached_property
    def matching(self) -> list[tuple[int, int]]:
        """Hungarian matching of heads (index into ``heads``) to bits of S maximising CLS attention."""
        picked_heads, picked_bits = linear_sum_assignment(-self.rows[:, self.S].numpy())
        return [(int(h), self.S[b]) for h, b in zip(picked_heads, picked_bits)]

    @cached_property
    def reference_rows(self) -> Tensor:
        """The construction's CLS rows, ``[reference heads, pos]`` (mean over the batch)."""
        return cls_rows(self.reference_patterns, self.task.n)

    @cached_property
    def reference_heads(self) -> list[Head]:
        return [(layer, head) for layer, pattern in enumerate(self.reference_patterns) for head in range(pattern.shape[1])]

    @cached_property
    def reference_head_for_bit(self) -> dict[int, int]:
        """Bit of S -> the construction head (index into ``reference_heads``) that serves it (Hungarian)."""
        heads, bits = linear_sum_assignment(-self.reference_rows[:, self.S].numpy())
        return {self.S[b]: int(h) for h, b in zip(heads, bits)}

    @cached_property
    def sub_batch(self):
        return self.batch[:SUB_SAMPLES]

    @cached_property
    def influence(self) -> Tensor:
        return flip_influence(self.model, self.task, self.sub_batch.inputs)

    @cached_property
    def per_head_accuracy(self) -> list[float]:
        return [self.ablated([head], batch=self.sub_batch)["accuracy"] for head in self.heads]

    @cached_property
    def recovery(self) -> Tensor:
        return head_patching(self.model, self.task, self.sub_batch, self.seed)

    def at_cls(self, kind: str) -> Tensor:
        """The last layer's ``hook_<kind>`` at CLS, ``[batch, d_model]``."""
        return self.act(kind, self.model.cfg.n_layers - 1)[:, self.task.n]

    @cached_property
    def count_of_S(self) -> Tensor:
        return self.batch.inputs[:, self.S].sum(-1).float()

    @cached_property
    def parity_from_count(self) -> float:
        """The best accuracy of any linear read-out (a threshold) of the true count of S: what a residual
        stream holding just the count allows (0.75 for k = 3, not 0.5: a threshold on the count gets some
        parities right)."""
        return best_threshold_accuracy(self.count_of_S, self.batch.targets)


# --- behaviour ------------------------------------------------------------------------------------


def claim_solves_task(ctx: ParityContext) -> Claim:
    """Accuracy of the prediction at CLS on fresh samples.

    Theory: a model with the circuit is exact (the construction reaches 1.0). Any solver passes, so
    this is behaviour. Fails when the model has not learned the task."""
    return claim("solves the task", "behaviour", "accuracy >= 0.99 on fresh samples", ctx.metrics["accuracy"], 0.99, 0.75)


def claim_flip_influence(ctx: ParityContext) -> Claim:
    """Influence of each bit: P(prediction changes) when bit j alone is flipped, min over S minus max
    elsewhere.

    Theory: 1 on S, 0 elsewhere. Any model computing the parity of S has exactly this profile, so it is
    behaviour, not mechanism. Fails when the model reads other bits or ignores some bit of S."""
    influence = ctx.influence
    outside_max = influence[ctx.outside].max().item() if ctx.outside else 0.0
    return claim(
        "flipping a bit matters iff it is in S", "behaviour",
        "min influence on S - max influence elsewhere ~ 1 (influence = P(prediction flips))",
        influence[ctx.S].min().item() - outside_max, 0.9, 0.5,
        detail=f"on S {[round(v, 2) for v in influence[ctx.S].tolist()]}, elsewhere max {outside_max:.2f}")


def claim_mlp_outputs_parity(ctx: ParityContext) -> Claim:
    """Held-out accuracy of a linear probe for the parity on the last ``hook_resid_post`` at CLS.

    Theory: the zig-zag MLP writes the parity, so it is linear after the MLP. The unembedding reads the
    answer from there in any solver, so this is behaviour; the contrast with the layer before is
    ``claim_parity_only_after_mlp``. Fails when the model does not solve the task."""
    return claim(
        "the MLP outputs the parity", "behaviour",
        "linear probe accuracy for the parity at CLS, last hook_resid_post, >= 0.99 (random ReLU features of a "
        "random model reach ~0.75)",
        linear_probe_accuracy(ctx.at_cls("resid_post"), ctx.batch.targets), 0.99, 0.85)


# --- attention ------------------------------------------------------------------------------------


def claim_one_head_per_bit(ctx: ParityContext) -> Claim:
    """Hungarian matching of heads to the bits of S by their CLS attention, graded by the weakest
    matched head (the minimum over bits of the matched head's attention on its bit).

    Theory: k heads, head i puts all its CLS attention on bit j_i (construction: 1.0 each). Fails when
    some bit has no head of its own: fewer heads than bits, heads split a bit between them (which the
    theory tolerates, see ``claim_heads_cover_S``; a head split evenly between two bits gives 0.5,
    partial), or attention elsewhere (uniform: 1/(n+1))."""
    matched = {bit: (head, ctx.rows[head, bit].item()) for head, bit in ctx.matching}
    weakest = min(matched[bit][1] if bit in matched else 0.0 for bit in ctx.S)
    assignment = {head_names([ctx.heads[head]]): bit for bit, (head, _) in matched.items()}
    return claim(
        "each bit of S has its own head", "attention",
        "the weakest Hungarian-matched head puts >= 0.9 of its CLS attention on its bit "
        "(construction: 1.0; a head split evenly between two bits: 0.5; uniform: 1/(n+1))",
        weakest, 0.9, 0.4,
        detail="assignment " + ", ".join(f"{head_names([ctx.heads[h]])}->bit {b} ({a:.2f})"
                                         for b, (h, a) in sorted(matched.items()))
               + ("" if len(matched) == len(ctx.S) else f"; {len(ctx.S) - len(matched)} bit(s) without a head"),
        assignment=assignment)


def claim_heads_cover_S(ctx: ParityContext) -> Claim:
    """Coverage: a_j, the total CLS attention on bit j summed over all heads, as excess over chance,
    min over j in S.

    Theory: every bit of S gets a_j >= 1 (one whole head, or heads splitting it), so the count is
    complete. Untestable when there are at least n+1 heads: uniform attention then already gives
    a_j = H/(n+1) >= 1. Fails when some bit of S gets no more attention than chance."""
    heads, positions = len(ctx.heads), ctx.task.n + 1
    expected = ("min over j in S of (a_j - H/(n+1)) / (1 - H/(n+1)) >= 0.9, a_j = total CLS attention on bit j "
                "over all H heads (split heads count together; 0 at uniform attention)")
    aggregate = ctx.rows[:, ctx.S].sum(0)
    chance = heads / positions
    if chance >= 1:
        return untestable("attention covers every bit of S", "attention", expected,
                          f"{heads} heads on {positions} positions: uniform attention already gives every bit "
                          f"a_j = H/(n+1) = {chance:.2f} >= 1, so coverage cannot be told from chance")
    coverage = ((aggregate - chance) / (1 - chance)).clamp(0, 1)
    return claim(
        "attention covers every bit of S", "attention", expected, coverage.min().item(), 0.9, 0.5,
        detail=f"{int((aggregate >= 0.5).sum())} of {len(ctx.S)} bits get >= 0.5 total attention; "
               f"a_S = {[round(a, 2) for a in aggregate.tolist()]}")


# --- representation -------------------------------------------------------------------------------


def claim_count_of_S_linear_before_mlp(ctx: ParityContext) -> Claim:
    """R^2 of a linear probe for the count of ones on S at CLS, last ``hook_resid_mid`` (before the
    MLP), minus the mean R^2 for the counts of random k-subsets of the other bits.

    Theory: attention writes the count of S and nothing else (construction: 1 - 0). The contrast matters:
    a random model's residual stream holds every bit linearly, so the count of S alone would pass.
    Untestable when fewer than k bits lie outside S. Fails when the count of S is not linear, or when
    other bits are as readable as S."""
    k = len(ctx.S)
    expected = "R^2(count of S) - R^2(count of random non-S k-subsets) ~ 1 at CLS, last hook_resid_mid"
    if len(ctx.outside) < k:
        return untestable("only the count of S is linear before the MLP", "representation", expected,
                          f"only {len(ctx.outside)} bits lie outside S (k = {k}): no control subset of k other bits")
    resid, bits = ctx.at_cls("resid_mid"), ctx.batch.inputs
    count_r2 = linear_probe_r2(resid, ctx.count_of_S)
    generator = torch.Generator().manual_seed(ctx.seed)
    outside = torch.tensor(ctx.outside)
    controls = [outside[torch.randperm(len(outside), generator=generator)[:k]] for _ in range(CONTROL_SUBSETS)]
    control_r2 = sum(linear_probe_r2(resid, bits[:, c].sum(-1).float()) for c in controls) / len(controls)
    return claim(
        "only the count of S is linear before the MLP", "representation", expected, count_r2 - control_r2, 0.8, 0.4,
        detail=f"R^2 count of S {count_r2:.3f}, of random non-S subsets {control_r2:.3f}")


def claim_parity_only_after_mlp(ctx: ParityContext) -> Claim:
    """Linear decodability of the parity after the MLP minus before it (last ``hook_resid_post`` vs
    ``hook_resid_mid`` at CLS), each as the probe's advantage over reading the true count of S alone.

    Theory: attention writes the count, whose parity is not linear; only the zig-zag MLP makes it so
    (construction: 1 - 0). Untestable when k = 1 (the count is the parity). Fails when the parity is
    already linear before the MLP (attention computed it, e.g. through content-dependent patterns), or
    not linear after it."""
    expected = ("advantage over the count of S of a linear parity probe at CLS: after the MLP (hook_resid_post) "
                "minus before it (hook_resid_mid) >= 0.9")
    if ctx.parity_from_count >= 0.99:
        return untestable("the parity appears only after the MLP", "representation", expected,
                          f"a linear probe reads the parity off the count itself (k = {len(ctx.S)}), so there is "
                          "nothing for the MLP to add")
    before = linear_probe_accuracy(ctx.at_cls("resid_mid"), ctx.batch.targets)
    after = linear_probe_accuracy(ctx.at_cls("resid_post"), ctx.batch.targets)
    value = probe_advantage(after, ctx.parity_from_count) - probe_advantage(before, ctx.parity_from_count)
    return claim(
        "the parity appears only after the MLP", "representation", expected, value, 0.9, 0.7,
        detail=f"parity probe accuracy before the MLP {before:.3f}, after {after:.3f}; from the count alone "
               f"{ctx.parity_from_count:.3f}")


# --- causal ---------------------------------------------------------------------------------------


def claim_circuit_ablation_breaks_task(ctx: ParityContext) -> Claim:
    """Accuracy drop when the circuit heads (CLS mass on S at least CIRCUIT_EXCESS of the way from chance
    to 1) are mean-ablated on ``hook_z``.

    Theory: they carry every bit of S, so accuracy falls to chance (0.5). Fails when no head attends to
    S, or when the heads that attend to S are not the ones the answer comes from (they write nothing,
    or another path carries the bits)."""
    base = ctx.metrics["accuracy"]
    expected = "accuracy drops by >= 0.4, to ~0.5 (chance), with the heads attending to S mean-ablated"
    if not ctx.circuit:
        return claim("ablating the circuit heads breaks the task", "causal", expected, None, 0.4, 0.2,
                     detail="no head attends to S clearly above chance", accuracy_after=None)
    after = ctx.ablated(ctx.circuit)["accuracy"]
    zeroed = ctx.ablated(ctx.circuit, mode="zero")["accuracy"]
    return claim(
        "ablating the circuit heads breaks the task", "causal", expected, base - after, 0.4, 0.2,
        detail=f"circuit heads: {head_names(ctx.circuit)}; accuracy {base:.3f} -> {after:.3f} (zero-ablated: {zeroed:.3f})",
        accuracy_after=after)


def claim_other_heads_not_needed(ctx: ParityContext) -> Claim:
    """Accuracy with every non-circuit head mean-ablated.

    Theory: the other heads carry nothing the answer needs (>= 0.97). Untestable when every head is a
    circuit head. Fails when the model also relies on heads that do not attend to S."""
    expected = "accuracy with all non-circuit heads mean-ablated stays >= 0.97"
    if not ctx.others:
        return untestable("the other heads are not needed", "causal", expected,
                          "every head is a circuit head: there is no other head to ablate")
    after = ctx.ablated(ctx.others)["accuracy"]
    return claim("the other heads are not needed", "causal", expected, after, 0.97, 0.8,
                 detail=f"{len(ctx.others)} other heads; accuracy {ctx.metrics['accuracy']:.3f} -> {after:.3f}")


def claim_patching_restores_flipped_bit(ctx: ParityContext) -> Claim:
    """Share of the logit-difference recovery that falls on the circuit heads, when each head's output
    is patched from a clean run into one where a random bit of S is flipped (TL activation patching).

    Theory: the circuit heads carry the bits, so patching them restores the answer (share ~1). Fails
    when there are no circuit heads, when the recovery comes from other heads, or when the model's
    answer does not depend on the flipped bit at all (no recovery to share)."""
    positive = ctx.recovery.clamp(min=0)
    total = positive.sum()
    share = sum(positive[layer, head] for layer, head in ctx.circuit) / total if total > 0 else torch.tensor(0.0)
    return claim(
        "patching the circuit heads restores a flipped bit", "causal",
        "share of the logit-difference recovery (TL activation patching of each head's output, clean -> one bit "
        "of S flipped) that falls on the circuit heads >= 0.9",
        float(share), 0.9, 0.6,
        detail="recovery per head " + ", ".join(f"{head_label(l, h)} {ctx.recovery[l, h]:.2f}" for l, h in ctx.heads))


# --- comparison with the construction -------------------------------------------------------------


def claim_agrees_with_construction(ctx: ParityContext) -> Claim:
    """Fraction of inputs on which the model and the construction predict the same label. Fails when
    either errs; against a construction for another subset it sits near 0.5."""
    ours, theirs = ctx.logits[:, ctx.task.n].argmax(-1), ctx.reference_logits[:, ctx.task.n].argmax(-1)
    return claim("agrees with the construction", "comparison", "same prediction as the hand-built model on >= 0.99 of inputs",
                 (ours == theirs).float().mean().item(), 0.99, 0.75)


def claim_attention_matches_construction(ctx: ParityContext) -> Claim:
    """For each bit of S, the best cosine between any head's mean CLS row and the CLS row of the
    construction head that serves that bit; mean over bits. Fails when no head has the construction's
    one-hot row for some bit (split heads lower it, attention elsewhere drops it to ~1/sqrt(n))."""
    similarity = []
    for bit in ctx.S:
        if bit not in ctx.reference_head_for_bit:
            similarity.append(0.0)
            continue
        target = ctx.reference_rows[ctx.reference_head_for_bit[bit]]
        similarity.append(torch.nn.functional.cosine_similarity(ctx.rows, target[None], dim=-1).max().item())
    return claim("attention matches the construction's heads", "comparison",
                 "for each construction head, the best head's CLS row has cosine >= 0.9 with it (mean over bits)",
                 sum(similarity) / len(similarity), 0.9, 0.5, detail=f"per bit {[round(s, 2) for s in similarity]}")


def claim_construction_attention_patched_in(ctx: ParityContext) -> Claim:
    """Accuracy when each Hungarian-matched head's CLS row is replaced (``hook_pattern``) by the
    construction's row for its bit. Fails when a matched head also reads other bits of S, which the
    one-hot row removes, or when its values do not carry the bit."""
    patterns_, reference_heads = ctx.reference_patterns, ctx.reference_heads

    def replace_in(layer: int):
        def replace(pattern: Tensor) -> Tensor:
            pattern = pattern.clone()
            for head_index, bit in ctx.matching:
                head_layer, head = ctx.heads[head_index]
                if head_layer == layer and bit in ctx.reference_head_for_bit:
                    ref_layer, ref_head = reference_heads[ctx.reference_head_for_bit[bit]]
                    pattern[:, head, ctx.task.n] = patterns_[ref_layer][:, ref_head, ctx.task.n]
            return pattern
        return replace

    layers = {ctx.heads[head_index][0] for head_index, _ in ctx.matching}
    patched = run_with_patterns(ctx.model, ctx.task, ctx.batch, {layer: replace_in(layer) for layer in layers})
    return claim("works with the construction's attention patched in", "comparison",
                 "accuracy >= 0.99 with the matched heads' CLS rows replaced by the construction's (hook_pattern)",
                 patched["accuracy"], 0.99, 0.75,
                 detail="fails when a matched head also reads other bits of S, which the one-hot pattern removes")


# --- the analysis ---------------------------------------------------------------------------------

PROBES = (
    claim_solves_task,
    claim_one_head_per_bit,
    claim_heads_cover_S,
    claim_flip_influence,
    claim_count_of_S_linear_before_mlp,
    claim_parity_only_after_mlp,
    claim_mlp_outputs_parity,
    claim_circuit_ablation_breaks_task,
    claim_other_heads_not_needed,
    claim_patching_restores_flipped_bit,
)
COMPARISONS = (claim_agrees_with_construction, claim_attention_matches_construction, claim_construction_attention_patched_in)


def plots(ctx: ParityContext) -> list[Plot]:
    labels = [head_names([head]) for head in ctx.heads]
    circuit = [head in ctx.circuit for head in ctx.heads]
    n, S = ctx.task.n, ctx.S
    return [
        Plot.heatmap("attention_from_cls", "Attention from CLS per head (mean over examples); * marks S",
                     ctx.rows.numpy(), [f"{j}*" if j in S else str(j) for j in range(n)] + ["CLS"], labels),
        Plot.bars("head_ablation", f"Accuracy with one head mean-ablated (baseline {ctx.metrics['accuracy']:.3f})", labels,
                  {"accuracy": ctx.per_head_accuracy}, highlight=circuit, hline=0.5, ylabel="accuracy"),
        Plot.bars("head_patching", "Recovery of the clean answer when one head's output is patched in "
                  "(clean -> one bit of S flipped)", labels, {"recovery": [ctx.recovery[l, h].item() for l, h in ctx.heads]},
                  highlight=circuit, ylabel="normalised logit difference"),
        Plot.bars("flip_influence", "P(prediction changes) when bit j is flipped; S highlighted",
                  [str(j) for j in range(n)], {"influence": ctx.influence.tolist()},
                  highlight=[j in S for j in range(n)], ylabel="influence"),
    ]


def analyze(model: "TransformerBridge", task: ParityTask, reference: "TransformerBridge | None",
            samples: int = 2048, seed: int = 0) -> Analysis:
    ctx = ParityContext(model, task, reference, samples, seed)
    claims = [probe(ctx) for probe in PROBES]
    if reference is not None:
        claims += [probe(ctx) for probe in COMPARISONS]
    return Analysis(claims, plots(ctx), mechanism_line(claims, WORDING, ctx.circuit), ctx.circuit)
