"""Contextual counting probes (counting.md): layer 0 finds the region from BOS and the delimiters seen
so far; layer 1 at Q_r attends to the 1s of region r plus a bias token, which sets OOD behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from transformer_lens.utilities import get_act_name

from ..tasks.counting import BOS, CLOSE, ONE, OPEN, ZERO
from ..tasks import CountingTask, evaluate
from .claims import claim
from .common import (cached, closeness_to_uniform, head_mean_z, linear_probe_accuracy, linear_probe_r2, mass_on, patterns,
                     readout_rows, run_ablated, run_with_patterns)
from ..viz.figures import Plot
from .result import Analysis

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

BUCKETS = ("1s of region r", "BOS", "]", "[", "0s", "other 1s", "queries")


def buckets(task: CountingTask, batch) -> dict[str, torch.Tensor]:
    """``[batch, n_readout, pos]`` masks splitting each readout row's keys into BUCKETS."""
    tokens = batch.inputs[:, None, :].expand(-1, len(batch.readout), -1)
    target = batch.relevant.clone()
    target[:, :, 0] = False
    is_one = tokens == ONE
    return {
        "1s of region r": target,
        "BOS": tokens == BOS,
        "]": tokens == CLOSE,
        "[": tokens == OPEN,
        "0s": tokens == ZERO,
        "other 1s": is_one & ~target,
        "queries": tokens >= 5,
    }


def bias_token(split: dict[str, float]) -> str:
    """The token the counting head uses as its softmax bias: the biggest bucket besides the counted 1s."""
    return max((b for b in split if b != "1s of region r"), key=split.get)


def analyze(model: "TransformerBridge", task: CountingTask, reference: "TransformerBridge | None",
            samples: int = 2048, seed: int = 0) -> Analysis:
    batch = task.sample(samples, seed)
    base = task.evaluate(model(batch.inputs), batch)["accuracy"]
    claims = [claim("solves the task", "behaviour", "exact-count accuracy >= 0.98 on fresh samples", base, 0.98, 0.7)]
    layer_patterns = patterns(model, batch)
    first, last = 0, model.cfg.n_layers - 1

    # Layer 0: uniform attention to BOS and the delimiters so far, at every body position.
    context = task.delimiter_context(batch)
    body = slice(1, 1 + task.L)
    region_scores = closeness_to_uniform(layer_patterns[first][:, :, body], context[:, body])
    region_head = int(region_scores.argmax())
    claims.append(claim(
        "layer 0 finds the region from the delimiters", "attention",
        "1 - TV(layer-0 row, uniform on BOS + delimiters so far) >= 0.9 at body positions",
        region_scores[region_head].item(), 0.9, 0.6,
        detail=f"head L0H{region_head}; all heads {[round(s, 3) for s in region_scores.tolist()]}"))
    resid = cached(model, batch, [get_act_name("resid_post", first)])[get_act_name("resid_post", first)]
    bits = (batch.inputs == ONE) | (batch.inputs == ZERO)
    region_labels = batch.info["region"][bits]
    majority = torch.bincount(region_labels).max().item() / len(region_labels)
    claims.append(claim(
        "the region index is linear after layer 0", "representation",
        "linear probe accuracy for the region of each bit (0 = outside) from blocks.0.hook_resid_post >= 0.95",
        linear_probe_accuracy(resid[bits], region_labels), 0.95, 0.7, detail=f"majority class {majority:.3f}"))

    # Last layer at Q_r: the 1s of region r plus a bias token.
    rows = readout_rows(layer_patterns[last], batch)  # [batch, head, R, pos]
    count_scores = closeness_to_uniform(rows, batch.relevant)
    count_head = int(mass_on(rows, batch.relevant).argmax())
    split = {name: mass_on(rows, mask)[count_head].item() for name, mask in buckets(task, batch).items()}
    bias = bias_token(split)
    claims.append(claim(
        "the counting head attends to the 1s of region r plus BOS", "attention",
        "1 - TV(row at Q_r, uniform on {1s of region r, BOS}) >= 0.9",
        count_scores[count_head].item(), 0.9, 0.6,
        detail=f"head L{last}H{count_head}; bias token: {bias}; mass " + ", ".join(f"{k} {v:.2f}" for k, v in split.items()),
        bias_token=bias, buckets=split))
    attn_out = cached(model, batch, [get_act_name("attn_out", last)])[get_act_name("attn_out", last)][:, batch.readout]
    counts = batch.targets.float()
    claims.append(claim(
        "the count is coded as 1/(n+1)", "representation",
        "R^2 of a linear probe for 1/(n+1) from the last attention output at Q_r >= 0.95",
        linear_probe_r2(attn_out.flatten(0, 1), (1 / (counts + 1)).flatten()), 0.95, 0.7))

    # Causal: remove the BOS bias, ablate the heads.
    def without_bos(pattern):
        pattern = pattern.clone()
        pattern[:, count_head, batch.readout, 0] = 0
        return pattern / pattern.sum(-1, keepdim=True).clamp(min=1e-12)

    no_bos = run_with_patterns(model, task, batch, {last: without_bos})["accuracy"]
    claims.append(claim(
        "BOS is the bias that keeps the count", "causal",
        "accuracy drops by >= 0.5 when BOS is removed from the counting head's rows (renormalised)",
        base - no_bos, 0.5, 0.2, detail=f"accuracy {base:.3f} -> {no_bos:.3f}"))
    circuit = [(first, region_head), (last, count_head)]
    heads = [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
    others = [hd for hd in heads if hd not in circuit]
    means = head_mean_z(model, batch, range(model.cfg.n_layers))
    per_head = {f"L{l}H{h}": run_ablated(model, task, batch, [(l, h)], means=means)["accuracy"] for l, h in heads}
    claims.append(claim(
        "each circuit head is needed", "causal",
        "accuracy drops by >= 0.5 when either circuit head is mean-ablated",
        base - max(per_head[f"L{l}H{h}"] for l, h in circuit), 0.5, 0.2,
        detail="accuracy with one head ablated: " + ", ".join(f"{k}: {v:.3f}" for k, v in per_head.items())))
    if others:
        claims.append(claim("the other heads are not needed", "causal",
                            "accuracy with the other heads mean-ablated >= 0.97",
                            run_ablated(model, task, batch, others, means=means)["accuracy"], 0.97, 0.8))

    if reference is not None:
        reference_patterns = patterns(reference, batch)
        with torch.no_grad():
            ours = task.readout_logits(model(batch.inputs), batch).argmax(-1)
            theirs = task.readout_logits(reference(batch.inputs), batch).argmax(-1)
        reference_rows = readout_rows(reference_patterns[-1], batch)[:, 0]

        def patch(pattern):
            pattern = pattern.clone()
            pattern[:, count_head, batch.readout] = reference_rows
            return pattern

        similarity = torch.nn.functional.cosine_similarity(rows[:, count_head], reference_rows, dim=-1).mean().item()
        claims += [
            claim("agrees with the construction", "comparison", "same count as the hand-built model on >= 0.98 of queries",
                  (ours == theirs).float().mean().item(), 0.98, 0.7),
            claim("counting attention matches the construction", "comparison",
                  "cosine between the model's and the construction's rows at Q_r >= 0.9", similarity, 0.9, 0.6),
            claim("works with the construction's attention patched in", "causal",
                  "accuracy >= 0.98 with the counting head's Q_r rows replaced by the construction's",
                  run_with_patterns(model, task, batch, {last: patch})["accuracy"], 0.98, 0.7),
        ]

    other_R = [r for r in (task.R - 1, task.R + 1) if 1 <= r <= task.max_regions and 2 * r <= task.L]
    ood = {r: evaluate(model, task.replace(R=r), samples=samples // 2, seed=seed)["accuracy"] for r in other_R}
    if ood:
        prediction = "generalise" if bias == "BOS" else "fail"
        claims.append(claim(
            "generalises to other numbers of regions", "behaviour",
            f"accuracy at R in {other_R} >= 0.95 (bias token {bias} predicts the model will {prediction})",
            min(ood.values()), 0.95, 0.7, detail=", ".join(f"R={r}: {a:.3f}" for r, a in ood.items()), ood=ood))

    plots = [
        Plot.bars("counting_head_buckets", f"Where the counting head L{last}H{count_head} attends from Q_r",
                  list(split), {"mass": list(split.values())}, ylabel="attention mass"),
        Plot.bars("head_ablation", f"Accuracy with one head mean-ablated (baseline {base:.3f})",
                  list(per_head), {"accuracy": list(per_head.values())},
                  highlight=[hd in circuit for hd in heads], ylabel="accuracy"),
    ]
    if ood:
        plots.append(Plot.bars("regions_ood", "Accuracy by number of regions (trained at R=%d)" % task.R,
                               [f"R={r}" for r in [task.R, *ood]], {"accuracy": [base, *ood.values()]}, ylabel="accuracy"))
    found = claims[1].verdict == "found" and claims[3].verdict == "found"
    ood_text = ""
    if ood:
        held = min(ood.values()) >= 0.95
        consistent = held == (bias == "BOS")
        ood_text = (f"; at other numbers of regions it {'keeps' if held else 'loses'} its accuracy, "
                    f"{'as' if consistent else 'unlike what'} a {bias} bias predicts")
    mechanism = ((f"layer 0 reads the region from BOS and the delimiters; layer 1 counts the region's 1s with {bias} "
                  "as the bias token: the predicted circuit") if found else
                 f"not the circuit of the construction: the counting head's bias token is {bias}, not BOS") + ood_text
    return Analysis(claims, plots, mechanism, circuit)
