# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Contextual counting: a region detector, a counter, and the token that serves as bias
#
# **Task.** `BOS x_1 .. x_L Q_1 .. Q_R`: a 0/1 sequence with R regions delimited by `[` and `]`. At the query
# token `Q_r` the model answers how many 1s are inside region r. The model is causal and has **no positional
# embedding** (NoPE).
#
# **What the theory predicts.** Golkar et al., *Contextual Counting: A Mechanistic Study of Transformers on a
# Quantitative Task* (arXiv 2406.02585, 2024), show that a **two-layer causal NoPE transformer** solves the task for
# any length and number of regions:
# - **layer 0 finds the region**: each token attends uniformly to BOS and the delimiters before it; the share of
#   BOS, `1/(N+1)` after N delimiters, tells the token which region it is in;
# - **layer 1 counts**: `Q_r` attends to the 1s of region r **plus a bias token**. Its output
#   `(n v_one + v_bias) / (n + 1)` still depends on the count n, which attending to the n ones alone would
#   normalise away;
# - **which token is the bias decides out-of-distribution behaviour**: with BOS, the model generalises to any
#   number of regions; with the `]` tokens, of which there were always R in training, it works only at the trained R.
#
# `interp.constructions` has both: `counting` (BOS as bias) and its twin `counting_close_bias` (`]` as bias).

# %%
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notebook widget is not installed

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

import interp
from interp.analysis import analyze_model
from interp.analysis.common import run_with_patterns
from interp.analysis.counting import (CountingContext, accuracy_within, bias_generalises, buckets, count_cap,
                                     without_keys)
from interp.constructions import counting, counting_close_bias
from interp.tasks import evaluate
from interp.viz import show_attention, side_by_side
from interp.viz.claims import VERDICTS, findings_markdown
from interp.viz.notebook import checkpoint_dir, show_claims, show_figure, show_plots

torch.set_grad_enabled(False)  # inference only, throughout


# Set INTERP_COUNTING_CHECKPOINT to analyse another run (e.g. one trained with `interp train counting --out ...`).
CHECKPOINT = checkpoint_dir("counting")

# %% [markdown]
# ## The trained model and the two constructions
# The default model is trained with a variable number of regions (`R_min`: each sequence has between `R_min` and R
# of them), so that every query token Q_1 .. Q_R it is scored through was trained. Below, all three networks are
# scored on sequences with all R regions; the twin is built for R, so all three are exact there.

# %%
model, task = interp.load(CHECKPOINT)
full = task.fixed()  # every sequence with R regions
networks = {
    "trained": model,
    "construction (BOS bias)": counting(task),
    "twin (] bias)": counting_close_bias(task, trained_regions=task.R),
}
accuracy = {name: evaluate(network, full, samples=1024)["accuracy"] for name, network in networks.items()}
print(task)
print(f"trained: {model.cfg.n_layers} layers x {model.cfg.n_heads} head(s), d_model {model.cfg.d_model}, "
      f"positional embedding: {'none' if not model.W_pos.any() else 'yes'}; trained on {list(task.region_counts)} regions")
for name, value in accuracy.items():
    print(f"{name:>24}: accuracy {value:.3f} at R = {task.R}")

# %% [markdown]
# ## Attention side by side
# Left: the trained model; right: the BOS-bias construction, one row per layer, on the same input. Marked `*`: the
# 1s inside some region and BOS, what the query rows of layer 1 should attend to. In layer 0, look at any body row:
# the construction spreads it over BOS and the delimiters so far.

# %%
example = full.sample(1, seed=1)
show_attention(side_by_side(model, networks["construction (BOS bias)"], full, example, names=("trained", "construction")))

# %% [markdown]
# ## The probes
# `analyze_model` runs the probes of `interp/analysis/counting.py` with the BOS construction as reference.

# %%
analysis = analyze_model(model, task, reference=networks["construction (BOS bias)"], samples=512)
print("mechanism:", analysis.mechanism)
show_claims(analysis.claims)

# %%
show_plots(analysis, ("head_ablation",))

# %% [markdown]
# ## Interventions, by hand
# The same checks on all three networks, through the analysis's own pieces. `CountingContext` is what the claim
# functions share: one batch, its cached activations, the region head of layer 0, the counting head of the last
# layer (the one with the most query attention on the 1s of region r plus BOS) and its bias token.
#
# **Layer 0: the region detector.** `task.delimiter_context(batch)` is the ideal layer-0 pattern's support (BOS and
# the delimiters at or before each position). `region_scores` is `1 - TV(row, uniform on that support)` per layer-0
# head, averaged over the body positions; 1 is the construction's pattern exactly.

# %%
contexts = {name: CountingContext(network, full, samples=512, seed=2, trained=task) for name, network in networks.items()}
batch = contexts["trained"].batch
layer0 = {name: context.region_scores.max().item() for name, context in contexts.items()}
for name, value in layer0.items():
    print(f"{name:>24}: layer-0 rows vs uniform on BOS + delimiters so far: {value:.3f}")

# %% [markdown]
# **Layer 1: where the query rows go.** `buckets(task, batch)` splits each query row's keys into groups: the 1s of
# region r (what is counted), BOS, `]`, `[`, the 0s, the other 1s and the query tokens; `context.split` is the
# counting head's mean attention on each. Besides the counted 1s, the biggest group is the bias token
# (`context.bias`, the same rule the analysis uses).

# %%
groups = buckets(full, batch)
fig, ax = plt.subplots(figsize=(8, 3))
width = 0.8 / len(contexts)
for i, (name, context) in enumerate(contexts.items()):
    ax.bar(np.arange(len(groups)) + i * width, list(context.split.values()), width, label=f"{name}: bias {context.bias}")
ax.set_xticks(np.arange(len(groups)) + width, list(groups), rotation=20)
ax.set_ylabel("attention mass from Q_r")
ax.legend(fontsize=8)
show_figure(fig)

# %% [markdown]
# **Take each group away from the counting head.** `without_keys(mask, head, readout)` is a `hook_pattern`
# replacement that zeroes the query rows' attention on one group and renormalises (run with `run_with_patterns`).
# Removing the bias token should break the count, removing a group the head ignores should change nothing.

# %%
removed = {
    name: {group: run_with_patterns(context.model, full, batch,
                                    {context.last: without_keys(groups[group], context.count_head, batch.readout)})["accuracy"]
           for group in ("BOS", "]", "queries", "0s")}
    for name, context in contexts.items()
}
print("accuracy with one group removed from the counting head's query rows:")
for name, results in removed.items():
    print(f"{name:>24}: " + ", ".join(f"{group} {value:.3f}" for group, value in results.items()))

# %% [markdown]
# **Other numbers of regions.** The twin uses the R `]` tokens as its bias and decodes as if there were always R of
# them; the BOS construction needs nothing that depends on R. By the paper's criterion a bias generalises where the
# number of its tokens a query sees stays one it saw in training (`bias_generalises`): BOS always, the `]`s only at
# the trained numbers of regions, the queries under causal attention always (Q_r sees r of them). Only counts up to
# R are scored: a count above R would go through a query token the model never saw in training.

# %%
region_counts = list(range(1, task.R + 1))
by_regions = {name: [evaluate(network, task.fixed(R=r), samples=256)["accuracy"] for r in region_counts]
              for name, network in networks.items()}
predicted = {r: bias_generalises(contexts["trained"].bias, task, task.fixed(R=r)) for r in region_counts}

fig, ax = plt.subplots(figsize=(5, 3))
for name, values in by_regions.items():
    ax.plot(region_counts, values, marker="o", label=name)
ax.set(xlabel=f"number of regions R (trained on {list(task.region_counts)})", ylabel="accuracy", ylim=(0, 1.05))
ax.legend(fontsize=8)
show_figure(fig)
for name, values in by_regions.items():
    print(f"{name:>24}: " + ", ".join(f"R={r} {a:.2f}" for r, a in zip(region_counts, values)))
print(f"the trained model's bias token {contexts['trained'].bias} predicts: "
      + ", ".join(f"R={r} {'generalises' if ok else 'fails'}" for r, ok in predicted.items()))

# %% [markdown]
# **Longer sequences.** The same networks at 2L and 4L with all R regions (so that the twin, built for R, is in its
# element), scored on the counts the model was trained to give (a longer region holds counts it never had to output).
# The analysis's claim "generalises to longer sequences" does the same on the training distribution of regions.

# %%
cap = count_cap(task)
lengths = [2 * task.L, 4 * task.L]
by_length = {name: [accuracy_within(network, full.replace(L=L), cap, 256, 0)["accuracy"] for L in lengths]
             for name, network in networks.items()}
for name, values in by_length.items():
    print(f"{name:>24}: " + ", ".join(f"L={L} {a:.2f}" for L, a in zip(lengths, values)) + f" (counts <= {cap})")

# %% [markdown]
# ## The paper's own model: an encoder-decoder
# Golkar et al. trained an encoder-decoder: the encoder reads `BOS x_1 .. x_L`, the decoder the region labels and
# answers at each through its **cross-attention** to the encoder. The `paper` preset builds it (one layer and one head
# on each side, causal NoPE encoder) on the same token layout, so the same task, batches and metrics serve it;
# `counting_paper` is the same circuit as the construction above, split across the two halves. Its probes
# (`interp/analysis/counting_paper.py`) read the encoder's `blocks.0.attn.hook_pattern` and the cross-attention's
# `decoder.0.cross_attn.hook_pattern` (`[batch, head, label, encoder position]`). The shipped paper model is
# `trained_models/counting/paper-seed0` (`make train-paper`); the README says what counting-bias's census of ten
# seeds found at this budget. Beside it: the decoder-only model above and the construction.

# %%
from interp.analysis.counting_paper import analyze_context, buckets as paper_buckets
from interp.constructions import counting_paper

paper_model, paper_task = interp.load(checkpoint_dir("counting", "paper-seed0"))
paper_networks = {"trained encoder-decoder": paper_model, "encoder-decoder construction": counting_paper(paper_task)}
paper_results = {name: analyze_context(network, paper_task, samples=512, seed=2)
                 for name, network in paper_networks.items()}
print(paper_task)
for name, (context, result) in paper_results.items():
    print(f"{name:>30}: accuracy {context.metrics['accuracy']:.3f}, bias token {context.bias}; {result.mechanism}")

# %%
paper_example = paper_task.fixed().sample(1, seed=1)
show_attention(side_by_side(paper_model, paper_networks["encoder-decoder construction"], paper_task.fixed(),
                            paper_example, names=("trained encoder-decoder", "construction")))

# %% [markdown]
# **Where each model's counting head looks.** The decoder-only model's counting head at Q_r and the encoder-decoder's
# cross-attention at label r, split into the same groups (the encoder-decoder's keys are the encoder's positions, so
# it has no query group). The bias token is the largest group besides the counted 1s.

# %%
splits = {"decoder-only (trained)": contexts["trained"].split,
          **{name: context.split for name, (context, _) in paper_results.items()}}
labels = list(paper_buckets(paper_task.fixed(), paper_example))
fig, ax = plt.subplots(figsize=(8, 3))
width = 0.8 / len(splits)
for i, (name, split) in enumerate(splits.items()):
    ax.bar(np.arange(len(labels)) + i * width, [split.get(label, 0.0) for label in labels], width, label=name)
ax.set_xticks(np.arange(len(labels)) + width, labels, rotation=20)
ax.set_ylabel("attention mass from the query")
ax.legend(fontsize=8)
show_figure(fig)
show_claims(paper_results["trained encoder-decoder"][1].claims)

# %% [markdown]
# ## What was found
# Computed from the analysis's claims and the interventions above, so it stays true when the model is retrained.

# %%
claims = {c.name: c for c in analysis.claims}
region_probe, bias_claim = claims["the region index is linear after layer 0"], claims["BOS is the counting head's bias token"]
trained = contexts["trained"]
off_R = [i for i, r in enumerate(region_counts) if r != task.R]
worst_off = {name: min((values[i] for i in off_R), default=float("nan")) for name, values in by_regions.items()}
longest = {name: min(values) for name, values in by_length.items()}
findings = [
    f"- In distribution (R = {task.R}) the trained model reaches accuracy {accuracy['trained']:.3f}; both "
    f"constructions are exact ({accuracy['construction (BOS bias)']:.3f}, {accuracy['twin (] bias)']:.3f}).",
    f"- Layer 0: the trained model's rows are {layer0['trained']:.2f} close to uniform on BOS + the delimiters so far "
    f"(construction {layer0['construction (BOS bias)']:.2f}); a linear probe reads the region after layer 0 with "
    f"accuracy {region_probe.value:.2f} ({VERDICTS[region_probe.verdict]}).",
    f"- Layer 1: the counting head L{trained.last}H{trained.count_head} puts {trained.split['1s of region r']:.2f} of its "
    f"query attention on the 1s it counts (construction {contexts['construction (BOS bias)'].split['1s of region r']:.2f}); "
    f"its bias token is **{trained.bias}** ({trained.split[trained.bias]:.2f}; BOS is the bias: "
    f"{VERDICTS[bias_claim.verdict]}).",
    f"- Removing BOS from its query rows gives accuracy {removed['trained']['BOS']:.3f} (construction: "
    f"{removed['construction (BOS bias)']['BOS']:.3f}); removing the `]`s gives {removed['trained'][']']:.3f} "
    f"(twin: {removed['twin (] bias)'][']']:.3f}); removing the queries gives {removed['trained']['queries']:.3f}.",
    f"- With fewer than R regions the worst accuracy is {worst_off['trained']:.2f} for the trained model, "
    f"{worst_off['construction (BOS bias)']:.2f} for the BOS construction and {worst_off['twin (] bias)']:.2f} for "
    f"the `]` twin; the trained model's bias token, {trained.bias}, predicts that it "
    + ("generalises" if all(predicted.values()) else "fails") + " there"
    + (" (and it was trained on those numbers of regions anyway)." if task.R_min is not None and task.R_min == 1 else "."),
    f"- At 2L and 4L (counts up to {cap}) the worst accuracy is {longest['trained']:.2f} for the trained model, "
    f"{longest['construction (BOS bias)']:.2f} for the construction and {longest['twin (] bias)']:.2f} for the twin; "
    f"its bias predicts it " + ("generalises" if bias_generalises(trained.bias, task, task.replace(L=4 * task.L))
                                else "fails") + " in length.",
    findings_markdown(analysis.claims, analysis.mechanism),
    "",
    "**The paper's encoder-decoder.** " + "; ".join(
        f"{name}: accuracy {context.metrics['accuracy']:.3f}, bias token **{context.bias}** "
        f"({context.split.get(context.bias, 0.0):.2f} of the cross-attention), {result.assessment.status}"
        for name, (context, result) in paper_results.items()) + ".",
]
display(Markdown("\n".join(findings)))
