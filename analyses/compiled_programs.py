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
# # A model nobody here wrote: a RASP program compiled by tracr
#
# **What tracr does.** RASP writes a sequence computation as selectors (which positions a position looks at)
# and aggregates (what it takes from them); tracr (Lindner et al., DeepMind) compiles such a program into
# transformer weights in which every head and MLP has a known role. Each `Aggregate` becomes a head that
# attends uniformly to the keys its selector selects (and to BOS when it selects none); each `SelectorWidth`
# becomes a head that attends to BOS and the selected keys, followed by an MLP that reads the width off BOS's
# share.
#
# **What to check.** Written here, compiled, and loaded as an ordinary `interp` model (a TransformerBridge with
# TL hook names), the program should (1) compute what RASP's own evaluator computes, (2) attend, head by head,
# as its selectors say, and (3) have a circuit that automatic discovery finds: ACDC against the edges the
# input distribution actually exercises.

# %%
import itertools
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm's notebook widget is not installed

import torch
from IPython.display import Markdown, display
from tracr.rasp import rasp

from interp.analysis.claims import claim
from interp.constructions.tracr import pattern_gaps, selector_pattern
from interp.discovery import Problem, evaluate, exercised_edges, ground_truth
from interp.discovery.methods import acdc
from interp.families.tracr import TracrTask
from interp.viz import show_attention
from interp.viz.attention import AttentionView
from interp.viz.claims import findings_markdown

torch.set_grad_enabled(False)  # inference only, until discovery


# %% [markdown]
# ## The program: sorting by counting
# Each token counts the tokens smaller than itself (a selector width: its rank); position i then takes the
# token whose rank is i (an aggregate). Ties leave some ranks empty, where RASP's output is undefined (None)
# and the compiled aggregate falls back to BOS. A function of no arguments that returns the program is all
# the toolkit needs; from a module it is named `module:function`, and here the notebook itself is the module.

# %%
def sort_by_rank():
    rank = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.LT)).named("rank")
    return rasp.Aggregate(rasp.Select(rank, rasp.indices, rasp.Comparison.EQ), rasp.tokens).named("sorted")


task = TracrTask(program="__main__:sort_by_rank", vocab=(1, 2, 3, 4), max_seq_len=5)
compiled = task.compiled
model = compiled.model
print(f"{model.cfg.n_layers} layers, {model.cfg.n_heads} head(s) a layer, d_model = {model.cfg.d_model} named "
      f"directions, d_head = {model.cfg.d_head}, d_mlp = {model.cfg.d_mlp}")
print("the RASP expression behind each head:", {f"L{l}H{h}": expr.label for (l, h), expr in compiled.heads.items()})

# %% [markdown]
# ## 1. It computes what RASP computes
# On every input of length 5, at every position where RASP defines the output.

# %%
example = [[3, 1, 4, 2, 4]]
print("model:", compiled.decode(model(compiled.encode(example)))[0])
print("RASP: ", compiled.program.evaluate(example)[0])
every = [list(x) for x in itertools.product(compiled.program.vocab, repeat=5)]
pairs = [(got, want) for row, wanted in zip(compiled.decode(model(compiled.encode(every))),
                                              compiled.program.evaluate(every)) for got, want in zip(row, wanted)
         if want is not None]
wrong = sum(got != want for got, want in pairs) / len(pairs)
print(f"share of defined outputs that differ from RASP's, over all {len(every)} inputs of length 5: {wrong:.3f}")

# %% [markdown]
# ## 2. Each head attends as its selector says
# Left: the compiled model's pattern (`blocks.{l}.attn.hook_pattern`); right: the pattern the selector
# prescribes, computed from RASP's evaluation of the selector on the same input.

# %%
tokens = ["BOS", *map(str, example[0])]
_, cache = model.run_with_cache(compiled.encode(example))
rows = []
for (layer, head), expr in compiled.heads.items():
    name = f"L{layer}H{head}"
    ours = cache[f"blocks.{layer}.attn.hook_pattern"][0, head:head + 1]
    prescribed = selector_pattern(expr, example)[0:1]
    prescribed[0, 0] = ours[0, 0]  # BOS's own row is not the selector's
    rows.append([AttentionView(f"{name}: compiled model", tokens, ours, [name], causal=False),
                 AttentionView(f"{name}: the selector of {expr.label}", tokens, prescribed, [name], causal=False)])
display(show_attention(rows))
gaps = pattern_gaps(compiled, every)
print("largest gap between pattern and selector, every input:", {f"L{l}H{h}": f"{g:.1e}" for (l, h), g in gaps.items()})

# %% [markdown]
# ## 3. Discovery finds the circuit the inputs exercise
# The structural truth is every edge the weights build; the exercised truth keeps those whose ablation alone
# moves some output of the batch (they alone reproduce every output). ACDC under zero ablation, against it:

# %%
torch.set_grad_enabled(True)
structural = ground_truth(model).edges("zero")
problem = Problem(model, task, "zero", "kl", samples=128, seed=0)
exercised = exercised_edges(problem, structural)
found = acdc(problem, thresholds=[1e-6, 1e-4, 1e-2])
scores = evaluate(problem, found, {"zero": exercised})
print(f"{len(problem.graph.edges)} edges in the graph, {len(structural)} built, {len(exercised)} exercised:")
print("  " + ", ".join(exercised))
print(f"ACDC: edge AUC {scores['edge_auc']:.3f}, exactly the exercised circuit at some threshold: {scores['exact']}")

# %% [markdown]
# ## What was found
# Computed from the measurements above, so it stays true for any program written in the first cell.

# %%
claims = [claim(f"L{l}H{h} attends as the selector of {compiled.heads[(l, h)].label}", "attention",
                "the compiled pattern equals the selector's", gap, 1e-3, 1e-2, higher_is_better=False)
          for (l, h), gap in gaps.items()]
claims.append(claim("computes what RASP's evaluator computes", "behaviour",
                    "no defined output differs, on every input of length 5", wrong, 0.0, 0.01, higher_is_better=False))
claims.append(claim("ACDC recovers the exercised circuit", "comparison", "edge AUC 1.0", scores["edge_auc"], 1.0, 0.9))
heads_hold = all(c.verdict == "found" for c in claims[:-2])
mechanism = ("the compiled circuit: every head attends as its selector" if heads_hold
             else "not the compiled circuit: some head attends otherwise than its selector")
display(Markdown(findings_markdown(claims, mechanism)))
