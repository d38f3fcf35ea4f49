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
# # Sparse token selection: one head, a positional QK identity, a copying OV
#
# **Task (qSTS).** T Gaussian tokens `x_0 .. x_{T-1}` in R^d, then a query token that carries a subset y of q
# positions. The target, read at the query, is the mean of the selected tokens, `(1/q) sum_{i in y} x_i`. The error
# is nMSE: 1.0 is the error of predicting zero.
#
# **What the theory predicts.** Sanford, Hsu & Telgarsky, *Representational Strengths and Limitations of
# Transformers* (NeurIPS 2023), show that **one attention head** of width about `d + q log T` solves the task, while
# fully-connected nets need width about `T d`. Wang, Wei, Hsu & Lee, *Transformers Provably Learn Sparse Token
# Selection While Fully-Connected Nets Cannot* (ICML 2024), show gradient descent finds that head. The circuit:
# - **QK**: the query's subset code against each key's position code is `beta * I`: every selected token gets the
#   same score beta, every other token 0. The softmax then puts `e^beta / (q e^beta + T - q + 1)` on each selected
#   token, nearly uniform over y, by **position alone** (content plays no part in where to look).
# - **OV**: copies the content, so the output is the mean of the selected tokens.
# - The error left is set by the logit gap: `nMSE ~ T (T - q) / (q e^gap + T - q)^2`.
#
# What to check: the query attends uniformly to y; the positional QK table is a scaled identity; OV on the content
# is a scaled identity; the output ignores the unselected tokens; the logit gap predicts the error.

# %%
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notebook widget is not installed

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display

import interp
from interp.analysis import analyze_model
from interp.analysis.common import attention_scores, patterns, run_ablated
from interp.constructions import selection
from interp.constructions.selection import expected_nmse, nmse_from_gap
from interp.tasks import evaluate
from interp.viz import show_attention, side_by_side
from interp.viz.notebook import checkpoint_dir, show_claims, show_figure, show_plots

torch.set_grad_enabled(False)  # inference only, throughout


# Set INTERP_SELECTION_CHECKPOINT to analyse another run (e.g. one trained with `interp train selection --out ...`).
CHECKPOINT = checkpoint_dir("selection")

# %% [markdown]
# ## The trained model and the construction
# `selection(task)` hand-builds the head for the same task: its residual stream is laid out in named blocks
# (`content`, `is_query`, `position`, `subset`, `mean`) and beta is chosen for an expected nMSE of 1e-4.

# %%
model, task = interp.load(CHECKPOINT)
construction = selection(task)
T, q = task.T, task.q

trained_nmse = evaluate(model, task, samples=1024)["nmse"]
construction_nmse = evaluate(construction, task, samples=1024)["nmse"]
print(task)
print(f"trained: {model.cfg.n_layers} layer, {model.cfg.n_heads} head, d_model {model.cfg.d_model}; nMSE {trained_nmse:.2e}")
print(f"construction: beta {construction.construction['params']['beta']:.2f}; nMSE {construction_nmse:.2e}")
print("input feature blocks:", task.blocks)

# %% [markdown]
# ## Attention side by side
# Left: the trained model; right: the construction. Selected tokens are marked `*`. Only the last row, the query's,
# is read out; the data tokens' rows (causal) do not matter for the answer.

# %%
examples = task.sample(2, seed=1)
show_attention(side_by_side(model, construction, task, examples, indices=(0, 1), names=("trained", "construction")))

# %% [markdown]
# ## The probes
# `analyze_model` runs the probes of `interp/analysis/selection.py` (with the construction as reference).

# %%
analysis = analyze_model(model, task, reference=construction, samples=512)
print("mechanism:", analysis.mechanism)
show_claims(analysis.claims)

# %%
show_plots(analysis, ("content_ov",))

# %% [markdown]
# ## Interventions, by hand
#
# **The positional QK table, read off the weights.** `model.QK[layer, head]` is a `FactoredMatrix` (`W_Q W_K^T`,
# kept as two factors). Sandwiching it between the query's subset directions (the rows of `W_E` for the subset
# features) and the key positions (`W_pos`) gives a `[T, T]` table: row j, column i is the score the query adds to
# token i when j is selected. The theory says it is `beta * I`. TransformerLens divides scores by `sqrt(d_head)`.

# %%
def positional_qk(network) -> torch.Tensor:
    subset_directions = network.W_E[task.blocks["subset"]]  # [T, d_model]
    key_positions = network.W_pos[:T]  # [T, d_model]
    table = subset_directions @ network.QK[0, 0] @ key_positions.T  # still a FactoredMatrix
    return table.AB / network.cfg.d_head**0.5  # dense [T, T], in units of attention logits


tables = {"trained": positional_qk(model), "construction": positional_qk(construction)}
off_diagonal = ~torch.eye(T, dtype=torch.bool)
weight_gap = {name: (t.diagonal().mean() - t[off_diagonal].mean()).item() for name, t in tables.items()}

fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
for ax, (name, table) in zip(axes, tables.items()):
    image = ax.imshow(table, cmap="RdBu_r", vmin=-table.abs().max(), vmax=table.abs().max())
    ax.set(title=f"{name}: diagonal - off-diagonal = {weight_gap[name]:.2f}", xlabel="key position i",
           ylabel="selected position j")
    fig.colorbar(image, ax=ax)
show_figure(fig)

# %% [markdown]
# The gap read off the weights should match the gap in the actual attention scores (`attention_scores` recomputes
# them from `hook_q` and `hook_k`), and the theory turns the gap into an error. If the trained model's error is
# close to the one predicted from its gap, the gap is all there is to its error.

# %%
batch = task.sample(512, seed=2)
selected = batch.relevant[:, 0, :T]  # [batch, T]
query_scores = attention_scores(model, batch, 0)[:, 0, T, :T]
score_gap = ((query_scores * selected).sum(-1) / q - (query_scores * ~selected).sum(-1) / (T - q)).mean().item()
print(f"logit gap: from the weights {weight_gap['trained']:.2f}, from the scores {score_gap:.2f}")
print(f"nMSE predicted from the gap {nmse_from_gap(T, q, score_gap):.2e}, measured {trained_nmse:.2e}")

# The same relation on the construction, whose gap beta we can set by hand:
betas = [1.0, 2.0, 4.0, 6.0, 8.0]
sweep = {beta: evaluate(selection(task, error=0.5, beta=beta), task, samples=512)["nmse"] for beta in betas}
for beta, measured in sweep.items():
    print(f"construction with beta {beta:.0f}: nMSE {measured:.2e} (theory {expected_nmse(T, q, beta):.2e})")

# %% [markdown]
# **Resample the unselected tokens, then the selected ones.** The head routes by position, so replacing the content
# of the unselected tokens should leave the output where it was, and replacing the selected ones should move it.
# Movement is measured like the error: `||f(x') - f(x)||^2 / (d/q)`.

# %%
content = task.blocks["content"]
fresh = task.sample(len(batch), seed=3).inputs[:, :T, content]


def resample(which: torch.Tensor) -> torch.Tensor:
    """The batch with the content of the tokens in ``which`` ([batch, T] bool) replaced by fresh draws."""
    inputs = batch.inputs.clone()
    inputs[:, :T, content] = torch.where(which[..., None], fresh, batch.inputs[:, :T, content])
    return inputs


def movement(network, inputs: torch.Tensor) -> float:
    return ((network(inputs)[:, T] - network(batch.inputs)[:, T]).pow(2).sum(-1).mean() / (task.d / q)).item()


moved = {
    "unselected resampled": movement(model, resample(~selected)),
    "selected resampled": movement(model, resample(selected)),
}
for what, value in moved.items():
    print(f"{what:>20}: output moves by {value:.2e}")

# %% [markdown]
# **Point the query at another subset.** Rewrite the subset features of the query token: the output should follow
# and become the mean of the newly selected tokens.

# %%
other = task.sample(len(batch), seed=4)  # only its subsets are used
retargeted = batch.inputs.clone()
retargeted[:, T, task.blocks["subset"]] = other.inputs[:, T, task.blocks["subset"]]
new_selected = other.relevant[:, 0, :T]
new_target = (batch.info["content"] * new_selected[..., None]).sum(1) / q
retarget_nmse = ((model(retargeted)[:, T] - new_target).pow(2).sum(-1).mean() / (task.d / q)).item()
print(f"nMSE against the mean of the new subset: {retarget_nmse:.2e}")

# %% [markdown]
# **Ablate the head.** With its output replaced by its batch mean, the model should be no better than predicting
# zero (nMSE about 1).

# %%
ablated_nmse = run_ablated(model, task, batch, [(0, 0)])["nmse"]
print(f"nMSE with the head mean-ablated: {ablated_nmse:.3f}")
query_row = patterns(model, batch)[0][:, 0, T]  # [batch, src]
mass_on_y = (query_row[:, :T] * selected).sum(-1).mean().item()
print(f"attention mass of the query on y: {mass_on_y:.3f} (uniform attention would give {q / (T + 1):.3f})")

# %% [markdown]
# ## What was found
# The summary below is computed from the numbers above, so it stays true when the model is retrained.

# %%
verdicts = {c.name: c for c in analysis.claims}
qk_cosine = verdicts["positional QK is a scaled identity"].value
findings = [
    f"- The trained head solves the task: nMSE {trained_nmse:.1e} (the construction: {construction_nmse:.1e}).",
    f"- The query puts {mass_on_y:.1%} of its attention on the {q} selected tokens, spread "
    f"{'uniformly' if verdicts['attention is uniform over y'].verdict == 'found' else 'unevenly'} over them "
    f"(uniformity verdict: {verdicts['attention is uniform over y'].verdict}).",
    f"- The positional QK table is a scaled identity (centred cosine with I: {qk_cosine:.3f}); its gap is "
    f"{weight_gap['trained']:.2f} logits from the weights and {score_gap:.2f} in the scores, against the "
    f"construction's beta = {weight_gap['construction']:.2f}.",
    f"- The gap predicts an nMSE of {nmse_from_gap(T, q, score_gap):.1e}; measured {trained_nmse:.1e}: "
    + ("the gap accounts for the error, so the trained model behaves as the construction with beta set to its gap."
       if 0.5 <= trained_nmse / nmse_from_gap(T, q, score_gap) <= 2 else
       "something besides the gap (uneven attention within y, an imperfect OV) adds error."),
    f"- Resampling the unselected tokens moves the output by {moved['unselected resampled']:.1e}, resampling the "
    f"selected ones by {moved['selected resampled']:.2f}; pointing the query at another subset gives the mean of "
    f"that subset (nMSE {retarget_nmse:.1e}); ablating the head gives nMSE {ablated_nmse:.2f}.",
    f"- Verdicts: {sum(c.verdict == 'found' for c in analysis.claims)} found, "
    f"{sum(c.verdict == 'partial' for c in analysis.claims)} partial, "
    f"{sum(c.verdict == 'not_found' for c in analysis.claims)} not found "
    f"({', '.join(c.name for c in analysis.claims if c.verdict != 'found') or 'none missed'}).",
]
display(Markdown("\n".join(findings)))
