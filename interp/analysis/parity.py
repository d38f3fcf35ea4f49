"""Parity probes (Han & Ghoshdastidar; parity.md §5.3): heads point at the bits of S, the MLP
turns their count into its parity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from scipy.optimize import linear_sum_assignment
from transformer_lens.utilities import get_act_name

from ..tasks import ParityTask
from .claims import claim
from .common import cached, head_mean_z, linear_probe_accuracy, linear_probe_r2, patterns, readout_rows, run_ablated, run_with_patterns
from ..viz.figures import Plot
from .result import Analysis

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

# A head is a circuit head when its readout mass on S is this far from chance (k/(n+1), uniform
# attention) towards 1.
CIRCUIT_EXCESS = 0.4


@torch.no_grad()
def flip_influence(model: "TransformerBridge", task: ParityTask, inputs: torch.Tensor) -> torch.Tensor:
    """``[n]``: how often flipping bit j changes the model's prediction (theory: 1 on S, 0 elsewhere)."""
    base = model(inputs)[:, task.n].argmax(-1)
    out = torch.zeros(task.n)
    for j in range(task.n):
        flipped = inputs.clone()
        flipped[:, j] = 1 - flipped[:, j]
        out[j] = (model(flipped)[:, task.n].argmax(-1) != base).float().mean()
    return out


@torch.no_grad()
def head_patching(model: "TransformerBridge", task: ParityTask, batch, seed: int = 0) -> torch.Tensor:
    """``[layer, head]``: how much of the clean answer each head's output restores in a run where one
    random bit of S is flipped (so the label flips); 1 = fully, 0 = not at all (TL activation patching)."""
    from transformer_lens import patching

    rows = torch.arange(len(batch))
    picked = torch.tensor(task.subset)[torch.randint(0, task.k, (len(batch),), generator=torch.Generator().manual_seed(seed))]
    corrupted = batch.inputs.clone()
    corrupted[rows, picked] = 1 - corrupted[rows, picked]
    sign = (2 * batch.targets - 1).float()

    def logit_difference(logits: torch.Tensor) -> torch.Tensor:
        return ((logits[:, task.n, 1] - logits[:, task.n, 0]) * sign).mean()

    clean_logits, clean_cache = model.run_with_cache(batch.inputs)
    clean, flipped = logit_difference(clean_logits), logit_difference(model(corrupted))
    if torch.isclose(clean, flipped):
        return torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    return patching.get_act_patch_attn_head_out_all_pos(
        model, corrupted, clean_cache, lambda logits: (logit_difference(logits) - flipped) / (clean - flipped))


def analyze(model: "TransformerBridge", task: ParityTask, reference: "TransformerBridge | None",
            samples: int = 2048, seed: int = 0) -> Analysis:
    batch = task.sample(samples, seed)
    S = list(task.subset)
    base = task.evaluate(model(batch.inputs), batch)["accuracy"]
    claims = [claim("solves the task", "behaviour", "accuracy >= 0.99 on fresh samples", base, 0.99, 0.75)]

    # Attention: each readout row over positions, per head of every layer.
    layer_patterns = patterns(model, batch)
    heads = [(l, h) for l in range(model.cfg.n_layers) for h in range(model.cfg.n_heads)]
    rows = torch.cat([readout_rows(p, batch)[:, :, 0].mean(0) for p in layer_patterns])  # [L*H, pos]
    mass_on_S = rows[:, S].sum(-1)
    k = min(len(S), len(heads))
    picked_heads, picked_bits = linear_sum_assignment(-rows[:, S].numpy())
    assignment = {f"L{heads[h][0]}H{heads[h][1]}": S[b] for h, b in zip(picked_heads, picked_bits)}
    matched = rows[picked_heads, [S[b] for b in picked_bits]]
    claims.append(claim(
        "each bit of S has its own head", "attention",
        "Hungarian-matched head->bit attention from CLS >= 0.9 (construction: 1.0; uniform: 1/(n+1))",
        matched.mean().item() if k == len(S) else 0.0, 0.9, 0.5,
        detail="assignment " + ", ".join(f"{h}->bit {b} ({m:.2f})" for (h, b), m in zip(assignment.items(), matched.tolist())),
        assignment=assignment))
    aggregate = rows[:, S].sum(0)  # a_j: total attention on bit j over all heads
    chance = len(heads) / (task.n + 1)  # a_j under uniform attention
    coverage = ((aggregate - chance) / (1 - chance)).clamp(0, 1) if chance < 1 else None
    claims.append(claim(
        "attention covers every bit of S", "attention",
        "min over j in S of (a_j - H/(n+1)) / (1 - H/(n+1)) >= 0.9, a_j = total attention on bit j over all H "
        "heads (split heads count together; 0 at uniform attention)",
        coverage.min().item() if coverage is not None else None, 0.9, 0.5,
        detail=f"{int((aggregate >= 0.5).sum())} of {len(S)} bits get >= 0.5 total attention; "
               f"a_S = {[round(a, 2) for a in aggregate.tolist()]}"
               + ("" if coverage is not None else f"; H/(n+1) = {chance:.2f} >= 1: too many heads to tell from chance")))
    uniform_mass = len(S) / (task.n + 1)
    excess = (mass_on_S - uniform_mass) / (1 - uniform_mass)
    circuit = [heads[i] for i in range(len(heads)) if excess[i] >= CIRCUIT_EXCESS]
    others = [hd for hd in heads if hd not in circuit]

    # Behaviour: the prediction depends on exactly the bits of S.
    influence = flip_influence(model, task, batch.inputs[:512])
    outside = [j for j in range(task.n) if j not in S]
    separation = influence[S].min() - (influence[outside].max() if outside else 0.0)
    claims.append(claim(
        "flipping a bit matters iff it is in S", "causal",
        "min influence on S - max influence elsewhere ~ 1 (influence = P(prediction flips))",
        float(separation), 0.9, 0.5,
        detail=f"on S {[round(v, 2) for v in influence[S].tolist()]}, elsewhere max {influence[outside].max().item() if outside else 0:.2f}"))

    # Representations: the count of S after attention, its parity only after the MLP.
    last = model.cfg.n_layers - 1
    names = [get_act_name("resid_mid", last), get_act_name("resid_post", last)]
    acts = {name: value[:, task.n] for name, value in cached(model, batch, names).items()}
    bits = batch.inputs[:, : task.n]
    count_r2 = linear_probe_r2(acts[names[0]], bits[:, S].sum(-1).float())
    generator = torch.Generator().manual_seed(seed)
    controls = [torch.tensor(outside)[torch.randperm(len(outside), generator=generator)[: len(S)]]
                for _ in range(3)] if len(outside) >= len(S) else []
    control_r2 = (sum(linear_probe_r2(acts[names[0]], bits[:, c].sum(-1).float()) for c in controls) / len(controls)
                  if controls else None)
    claims.append(claim(
        "only the count of S is linear after attention", "representation",
        "R^2(count of S) - R^2(count of random non-S bits) ~ 1 at CLS, blocks.L.hook_resid_mid",
        count_r2 - control_r2 if controls else None, 0.8, 0.4,
        detail=(f"R^2 count of S {count_r2:.3f}, of random non-S subsets {control_r2:.3f} (the construction's "
                "residual holds the count of S alone)") if controls else
               f"R^2 count of S {count_r2:.3f}; fewer than k bits outside S, so no control subset to compare"))
    parity_after = linear_probe_accuracy(acts[names[1]], batch.targets)
    claims.append(claim(
        "the MLP outputs the parity", "representation",
        "linear probe accuracy for the parity at CLS after the MLP >= 0.99",
        parity_after, 0.99, 0.75))

    # Causal: ablate the circuit heads, then the other heads.
    means = head_mean_z(model, batch, range(model.cfg.n_layers))
    ablate_circuit = run_ablated(model, task, batch, circuit, means=means)["accuracy"] if circuit else None
    claims.append(claim(
        "ablating the circuit heads breaks the task", "causal",
        "accuracy drops by >= 0.4, to ~0.5 (chance), with the heads attending to S mean-ablated",
        base - ablate_circuit if circuit else None, 0.4, 0.2,
        detail=(f"circuit heads: {', '.join(f'L{l}H{h}' for l, h in circuit)}; accuracy {base:.3f} -> "
                f"{ablate_circuit:.3f} (zero-ablated: {run_ablated(model, task, batch, circuit, mode='zero')['accuracy']:.3f})")
               if circuit else "no head attends to S clearly above chance",
        accuracy_after=ablate_circuit))
    ablate_others = run_ablated(model, task, batch, others, means=means)["accuracy"]
    claims.append(claim(
        "the other heads are not needed", "causal",
        "accuracy with all non-circuit heads mean-ablated stays >= 0.97",
        ablate_others, 0.97, 0.8,
        detail=f"{len(others)} other heads; accuracy {base:.3f} -> {ablate_others:.3f}"))
    per_head = [run_ablated(model, task, batch, [hd], means=means)["accuracy"] for hd in heads]
    recovery = head_patching(model, task, batch[:512], seed)
    positive = recovery.clamp(min=0)
    on_circuit = sum(positive[l, h] for l, h in circuit) / positive.sum() if positive.sum() > 0 else torch.tensor(0.0)
    claims.append(claim(
        "patching the circuit heads restores a flipped bit", "causal",
        "share of the logit-difference recovery (TL activation patching of each head's output, clean -> one bit "
        "of S flipped) that falls on the circuit heads >= 0.9",
        float(on_circuit), 0.9, 0.6,
        detail="recovery per head " + ", ".join(f"L{l}H{h} {recovery[l, h]:.2f}" for l, h in heads)))

    if reference is not None:
        claims += compare(model, task, batch, reference, rows, picked_heads, picked_bits, heads)

    labels = [f"L{l}H{h}" for l, h in heads]
    plots = [
        Plot.heatmap("attention_from_cls", "Attention from CLS per head (mean over examples); * marks S",
                     rows.numpy(), [f"{j}*" if j in S else str(j) for j in range(task.n)] + ["CLS"], labels),
        Plot.bars("head_ablation", f"Accuracy with one head mean-ablated (baseline {base:.3f})", labels,
                  {"accuracy": per_head}, highlight=[hd in circuit for hd in heads], hline=0.5, ylabel="accuracy"),
        Plot.bars("head_patching", "Recovery of the clean answer when one head's output is patched in "
                  "(clean -> one bit of S flipped)", labels, {"recovery": [recovery[l, h].item() for l, h in heads]},
                  highlight=[hd in circuit for hd in heads], ylabel="normalised logit difference"),
        Plot.bars("flip_influence", "P(prediction changes) when bit j is flipped; S highlighted",
                  [str(j) for j in range(task.n)], {"influence": influence.tolist()},
                  highlight=[j in S for j in range(task.n)], ylabel="influence"),
    ]
    verdicts = {claims[1].verdict, claims[2].verdict}
    heads_text = ", ".join(f"L{l}H{h}" for l, h in circuit) or "none"
    if "found" in verdicts:
        mechanism = f"circuit heads {heads_text} attend to the bits of S: the predicted attention circuit"
    elif "partial" in verdicts:
        mechanism = (f"circuit heads {heads_text} lean on the bits of S but also mix other positions: "
                     "partly the predicted circuit")
    else:
        mechanism = "attention does not concentrate on S: not the mechanism of the proof"
    return Analysis(claims, plots, mechanism, circuit)


@torch.no_grad()
def compare(model, task, batch, reference, rows, picked_heads, picked_bits, heads) -> list:
    """Trained vs construction: outputs, attention rows, and the construction's pattern patched in."""
    S = list(task.subset)
    ours = model(batch.inputs)[:, task.n].argmax(-1)
    theirs = reference(batch.inputs)[:, task.n].argmax(-1)
    reference_rows = readout_rows(patterns(reference, batch)[0], batch)[:, :, 0]  # [batch, k, pos]
    bit_of_reference_head = reference_rows.mean(0)[:, S].argmax(-1)  # which bit each construction head serves
    head_for_bit = {S[b]: h for h, b in enumerate(bit_of_reference_head.tolist())}
    similarity = []
    for j in S:
        target = reference_rows.mean(0)[head_for_bit[j]]
        similarity.append(max(torch.nn.functional.cosine_similarity(rows[i], target, dim=0).item() for i in range(len(heads))))

    def patch(layer: int):
        def replace(pattern):
            pattern = pattern.clone()
            for h, b in zip(picked_heads, picked_bits):
                if heads[h][0] == layer:
                    pattern[:, heads[h][1], task.n] = reference_rows[:, head_for_bit[S[b]]]
            return pattern
        return replace

    patched = run_with_patterns(model, task, batch, {l: patch(l) for l in {heads[h][0] for h in picked_heads}})
    return [
        claim("agrees with the construction", "comparison", "same prediction as the hand-built model on >= 0.99 of inputs",
              (ours == theirs).float().mean().item(), 0.99, 0.75),
        claim("attention matches the construction's heads", "comparison",
              "for each construction head, the best trained head's CLS row has cosine >= 0.9 with it",
              sum(similarity) / len(similarity), 0.9, 0.5, detail=f"per bit {[round(s, 2) for s in similarity]}"),
        claim("works with the construction's attention patched in", "causal",
              "accuracy >= 0.99 with the matched heads' CLS rows replaced by the construction's (hook_pattern)",
              patched["accuracy"], 0.99, 0.75,
              detail="fails when a matched head also reads other bits of S, which the one-hot pattern removes"),
    ]
