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
# # k-sparse parity: do the trained heads point at the bits of S?
#
# **Task.** The input is `x_0 .. x_{n-1} CLS` with random bits; the label, read at CLS, is the parity of the bits
# on a hidden subset S of size k.
#
# **What the theory predicts.** Han & Ghoshdastidar, *Attention Learning is Needed to Efficiently Learn Parity
# Function* (arXiv 2502.07553, 2025), build a one-layer transformer with **k heads**: head i attends from CLS to
# exactly one bit j_i of S and copies "this bit is 1" into the residual stream, so the heads together write the
# **count** of ones on S. A width-k ReLU MLP, the zig-zag `g(u) = sum_i (-1)^i (4i+2) relu(u - i - 1/2)`, turns the
# count into its **parity**. That is **O(k) parameters (5k), independent of n**. With the attention frozen at random,
# this advantage is lost. The SGD picture for the same task is in Barak et al., *Hidden Progress in Deep Learning*
# (NeurIPS 2022).
#
# What to check in a trained model:
# 1. attention from CLS concentrates on S, ideally one head per bit (heads may also split a bit between them;
#    only the total attention on each bit matters);
# 2. flipping a bit changes the prediction if and only if the bit is in S;
# 3. ablating the heads that attend to S gives chance accuracy, while ablating the others changes nothing;
# 4. the count of S is linear in the residual stream after attention, and the parity only after the MLP.

# %%
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notebook widget is not installed

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display

import interp
from interp.analysis import analyze_model
from interp.analysis.common import patterns, run_ablated
from interp.constructions import parity, parity_parameter_count
from interp.models import count_parameters
from interp.tasks import evaluate
from interp.viz import show_attention, side_by_side
from interp.viz.notebook import checkpoint_dir, show_claims, show_figure, show_plots

torch.set_grad_enabled(False)  # inference only, throughout


# Set INTERP_PARITY_CHECKPOINT to analyse another run (e.g. one trained with `interp train parity --out ...`).
CHECKPOINT = checkpoint_dir("parity")

# %% [markdown]
# ## The trained model and the construction
# `interp.load` returns the model (a TransformerLens 4 `TransformerBridge`) and the task it was trained on,
# including the hidden subset S. `parity(task)` hand-builds the theory's network for the same task instance.

# %%
model, task = interp.load(CHECKPOINT)
construction = parity(task)
S = list(task.subset)

trained_accuracy = evaluate(model, task, samples=1024)["accuracy"]
construction_accuracy = evaluate(construction, task, samples=1024)["accuracy"]
print(task)
print(f"trained: {model.cfg.n_heads} heads, d_model {model.cfg.d_model}; accuracy {trained_accuracy:.3f}")
print(f"construction: {construction.cfg.n_heads} heads, accuracy {construction_accuracy:.3f}")
print("construction residual directions:", construction.residual_labels)
print("parameter count:", parity_parameter_count(task))

# %% [markdown]
# ## Attention side by side
# Left: the trained model; right: the construction, on the same inputs. Positions of S are marked `*` in the
# labels. Look at the CLS row (the last one): the construction's k heads each put all their weight on one bit
# of S.

# %%
examples = task.sample(2, seed=1)
show_attention(side_by_side(model, construction, task, examples, indices=(0, 1), names=("trained", "construction")))

# %% [markdown]
# ## The probes
# `analyze_model` runs every probe of `interp/analysis/parity.py` and grades each prediction as found, partial or
# not found. Passing the construction as `reference` adds the comparisons with it.

# %%
analysis = analyze_model(model, task, reference=construction, samples=512)
print("mechanism:", analysis.mechanism)
show_claims(analysis.claims)

# %%
show_plots(analysis, ("attention_from_cls", "flip_influence"))

# %% [markdown]
# ## Interventions, by hand
# The same kind of checks, written out so that the API is visible.
#
# **Which heads attend to S?** `patterns(model, batch)` gives each layer's `hook_pattern`,
# `[batch, head, dest, src]`. Row `task.n` is the CLS position.

# %%
batch = task.sample(512, seed=2)
from_cls = patterns(model, batch)[0][:, :, task.n, :].mean(0)  # [head, src]
mass_on_S = from_cls[:, S].sum(-1)
for head in range(model.cfg.n_heads):
    favourite = int(from_cls[head].argmax())
    print(f"L0H{head}: mass on S {mass_on_S[head]:.2f}; most attended position {favourite}"
          f"{' (in S)' if favourite in S else ''} with {from_cls[head, favourite]:.2f}")

# The analysis calls a head part of the circuit when its CLS mass on S is well above chance, k/(n+1).
circuit = analysis.circuit
others = [(0, h) for h in range(model.cfg.n_heads) if (0, h) not in circuit]
total_on_bit = {j: from_cls[:, j].sum().item() for j in S}  # split heads add up
print("circuit heads:", circuit, "| total attention on each bit of S:", {j: round(a, 2) for j, a in total_on_bit.items()})

# %% [markdown]
# **Ablate the circuit heads, then the others.** `run_ablated` replaces the heads' outputs (`hook_z`) with their
# mean over the batch, i.e. removes what depends on the input. The theory says the circuit heads carry all the
# information (chance accuracy, 0.5, without them) and the other heads none.

# %%
ablation_accuracy = {
    "nothing": run_ablated(model, task, batch, [])["accuracy"],
    "circuit heads": run_ablated(model, task, batch, circuit)["accuracy"],
    "other heads": run_ablated(model, task, batch, others)["accuracy"],
}
for what, accuracy in ablation_accuracy.items():
    print(f"ablate {what:>13}: accuracy {accuracy:.3f}")

# %% [markdown]
# **Flip one bit in S and one bit outside.** The prediction is read at CLS: `logits[:, task.n]`.

# %%
def flip_rate(network, inputs: torch.Tensor, position: int) -> float:
    """Fraction of inputs whose predicted parity changes when bit ``position`` is flipped."""
    flipped = inputs.clone()
    flipped[:, position] = 1 - flipped[:, position]
    before = network(inputs)[:, task.n].argmax(-1)
    after = network(flipped)[:, task.n].argmax(-1)
    return (before != after).float().mean().item()


bit_in_S = S[0]
bit_outside = next(j for j in range(task.n) if j not in S)
flip_rates = {
    (name, position): flip_rate(network, batch.inputs, position)
    for name, network in (("trained", model), ("construction", construction))
    for position in (bit_in_S, bit_outside)
}
for (name, position), rate in flip_rates.items():
    print(f"{name:>12}: flipping bit {position:2d} ({'in S' if position in S else 'not in S'}) changes "
          f"the prediction on {rate:.0%} of inputs")

# %% [markdown]
# **The count, read off a named direction.** In the construction each residual direction has a name
# (`residual_labels`). After attention, the `count` direction at CLS holds the number of ones on S. The MLP then
# maps it through the zig-zag.

# %%
_, cache = construction.run_with_cache(batch.inputs)
count_direction = construction.residual_labels.index("count")
count_at_cls = cache["blocks.0.hook_resid_mid"][:, task.n, count_direction]
true_count = batch.inputs[:, S].sum(-1).float()
count_error = (count_at_cls - true_count).abs().max().item()
print(f"max |count direction - number of ones on S| = {count_error:.2e}")

fig, ax = plt.subplots(figsize=(4, 3))
ax.scatter(true_count, count_at_cls, s=8)
ax.set_xlabel("ones on S")
ax.set_ylabel("'count' at CLS (construction)")
show_figure(fig)

# %% [markdown]
# ## What was found
# The summary below is computed from the numbers above, so it stays true when the model is retrained.

# %%
verdicts = {c.name: c for c in analysis.claims}
split_heads = [j for j in S if sum(from_cls[h, j] >= 0.25 for h in range(model.cfg.n_heads)) > 1]
findings = [
    f"- The trained model solves the task (accuracy {trained_accuracy:.3f}; the construction {construction_accuracy:.3f}).",
    f"- {len(circuit)} of its {model.cfg.n_heads} heads put at least half of their CLS attention on S "
    f"({', '.join(f'L{l}H{h}' for l, h in circuit) or 'none'}); the total attention on the bits of S is "
    f"{', '.join(f'{a:.2f}' for a in total_on_bit.values())} (the construction: 1 per bit, one head each).",
    f"- One head per bit, as in the proof: **{verdicts['each bit of S has its own head'].verdict}**"
    + (f"; several heads each put at least a quarter of their attention on bit(s) "
       f"{', '.join(map(str, split_heads))}. The theory allows this: the readout only needs each bit's total "
       "attention, which the learned values can rescale."
       if split_heads else "."),
    f"- Flipping bit {bit_in_S} (in S) changes the prediction on {flip_rates[('trained', bit_in_S)]:.0%} of inputs, "
    f"flipping bit {bit_outside} (not in S) on {flip_rates[('trained', bit_outside)]:.0%}.",
    f"- Ablating the circuit heads gives accuracy {ablation_accuracy['circuit heads']:.3f} (chance is 0.5); "
    f"ablating the {len(others)} other heads gives {ablation_accuracy['other heads']:.3f}.",
    f"- The trained model agrees with the construction on {verdicts['agrees with the construction'].value:.1%} "
    f"of inputs. The construction does it with {parity_parameter_count(task)['theory']} theory parameters (5k), "
    f"the trained model with {count_parameters(model)} weights.",
    f"- Verdicts: {sum(c.verdict == 'found' for c in analysis.claims)} found, "
    f"{sum(c.verdict == 'partial' for c in analysis.claims)} partial, "
    f"{sum(c.verdict == 'not_found' for c in analysis.claims)} not found "
    f"({', '.join(c.name for c in analysis.claims if c.verdict != 'found') or 'none missed'}).",
]
display(Markdown("\n".join(findings)))
