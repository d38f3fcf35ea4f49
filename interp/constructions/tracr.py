"""Models nobody here wrote: RASP programs compiled by tracr, as TransformerLens bridges.

tracr (DeepMind's compiler from RASP programs to transformer weights; PyPI ``tracr-pypi``, this project's
``tracr`` extra) gives every head and MLP a known role. Here a compiled program becomes an ordinary
``interp`` model, a ``TransformerBridge`` booted natively with every weight moved into its TL name:

    program = load_program("reverse", vocab=[1, 2, 3], max_seq_len=5)   # or "my_module:my_function"
    compiled = compile_program(program)
    logits = compiled.model(compiled.encode([[1, 2, 3]]))               # [batch, 1 + n, d_vocab_out]
    compiled.decode(logits)                                             # [[3, 2, 1]]

The weights map one to one: tracr's layer ``l`` (attention then MLP, no normalisation, ReLU) is TL block
``l``; each ``[d_model, n_heads * key_size]`` query, key and value matrix is split by head into ``W_Q``,
``W_K``, ``W_V`` ``[n_heads, d_model, d_head]`` (``d_head = key_size``; ``d_model`` is the number of named
residual directions, unrelated to ``n_heads * d_head``), the output projection into ``W_O``, and both
attentions divide the scores by ``sqrt(d_head)``. The unembedding is no parameter in tracr: it is a
projection built inside the compiled model, so ``W_U`` is that projection applied to the identity.
Position 0 holds BOS, whose positional row is zero and whose output means nothing; the compiled model never
masks padding, so a batch holds inputs of one length. ``model.residual_labels`` are tracr's residual
directions, ``name:value`` written ``name[value]`` as in the toolkit's own constructions.

The program and its compilation in tracr's terms (``load_program``, ``LIBRARY``, the heads' RASP expressions, the
model's shape) are ``interp.tasks.tracr``'s, which needs no torch; they are imported here for this module's users.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch
from torch import Tensor
from tracr.rasp import rasp
from transformer_lens.utilities import get_act_name

from ..models import ModelConfig
from ..tasks.tracr import (
    BOS,
    LIBRARY,
    Program,
    TracrModel,
    compile_tracr,
    load_program,
    residual_label,
    tracr_model_for,
    true_unembed,
)
from ..validation import TaskError
from .pieces import ResidualBasis, assemble


def tl_weights(made: TracrModel) -> tuple[ModelConfig, dict[str, Tensor]]:
    """The compiled model's config and weights in TL property layout (``blocks.{l}.attn.W_Q`` ...)."""
    config, params = made.assembled.model_config, made.assembled.params
    tensor = lambda array: torch.tensor(np.asarray(array), dtype=torch.float32)  # noqa: E731
    cfg = ModelConfig(**made.shape)
    d_model, n_heads, d_head = cfg.d_model, cfg.n_heads, cfg.d_head
    W_U = tensor(made.unembed)
    embed = tensor(params["token_embed"]["embeddings"])
    weights = {"embed.W_E": embed, "pos_embed.W_pos": tensor(params["pos_embed"]["embeddings"]), "unembed.W_U": W_U}
    for layer in range(config.num_layers):
        attn, ours = f"transformer/layer_{layer}/attn/", f"blocks.{layer}.attn."
        for theirs, letter in (("query", "Q"), ("key", "K"), ("value", "V")):
            w = tensor(params[attn + theirs]["w"])  # [d_model, n_heads * d_head], heads in order
            weights[ours + f"W_{letter}"] = w.reshape(d_model, n_heads, d_head).permute(1, 0, 2)
            weights[ours + f"b_{letter}"] = tensor(params[attn + theirs]["b"]).reshape(n_heads, d_head)
        weights[ours + "W_O"] = tensor(params[attn + "linear"]["w"]).reshape(n_heads, d_head, d_model)
        weights[ours + "b_O"] = tensor(params[attn + "linear"]["b"])
        mlp, ours = f"transformer/layer_{layer}/mlp/", f"blocks.{layer}.mlp."
        weights[ours + "W_in"], weights[ours + "b_in"] = (tensor(params[mlp + "linear_1"][k]) for k in ("w", "b"))
        weights[ours + "W_out"], weights[ours + "b_out"] = (tensor(params[mlp + "linear_2"][k]) for k in ("w", "b"))
    return cfg, weights


@dataclass
class Compiled:
    """A compiled program: tracr's model (``assembled``), the same weights as a TL bridge (``model``), and the
    RASP expression each head computes (``heads``: ``(layer, head)`` -> an ``Aggregate`` or ``SelectorWidth``)."""

    program: Program
    assembled: Any  # tracr's AssembledTransformerModel
    model: Any  # TransformerBridge
    heads: dict[tuple[int, int], rasp.SOp]

    def encode(self, inputs: Sequence[Sequence[Any]]) -> Tensor:
        """Token ids ``[batch, 1 + n]`` of inputs of one length ``n``, BOS first."""
        lengths = {len(x) for x in inputs}
        if len(lengths) != 1:
            raise TaskError("a batch holds inputs of one length (the compiled model masks nothing), "
                            f"got lengths {sorted(lengths)}")
        if max(lengths) > self.program.max_seq_len:
            raise TaskError(f"inputs of length {max(lengths)} exceed max_seq_len={self.program.max_seq_len}")
        unknown = {token for x in inputs for token in x} - set(self.program.vocab)
        if unknown:
            raise TaskError(f"tokens {sorted(map(str, unknown))} are not in the vocabulary {list(self.program.vocab)}")
        return torch.tensor([self.assembled.input_encoder.encode([BOS, *x]) for x in inputs])

    def decode(self, logits: Tensor) -> list[list[Any]]:
        """The program's outputs at positions 1..n of ``logits`` ``[batch, 1 + n, d_vocab_out]``: the value
        of the largest logit (categorical programs) or the one output (numerical programs)."""
        outputs = logits[:, 1:].detach().cpu()
        if not self.program.categorical:
            return outputs[..., 0].tolist()
        return [self.assembled.output_encoder.decode(row) for row in outputs.argmax(-1).tolist()]

    @cached_property
    def _tracr_forward(self) -> Callable[..., Any]:
        return jax.jit(self.assembled.forward)

    @cached_property
    def _tracr_unembed(self) -> np.ndarray:
        return true_unembed(self.assembled)

    def tracr_logits(self, tokens: Tensor) -> Tensor:
        """tracr's own forward pass (jax) on ``tokens`` ``[batch, 1 + n]``, unembedded like ``model``'s."""
        out = self._tracr_forward(self.assembled.params, jnp.asarray(tokens.numpy()))
        return torch.tensor(np.asarray(out.transformer_output.output) @ self._tracr_unembed)


def bridge(made: TracrModel) -> Compiled:
    """``made``'s weights in a TL bridge (``model.construction`` names the program, its vocabulary and lengths,
    so that it can be compiled again)."""
    cfg, weights = tl_weights(made)
    basis = ResidualBasis.from_labels([residual_label(label) for label in made.assembled.residual_labels])
    program = made.program
    params = {"program": program.spec, "vocab": list(program.vocab), "max_seq_len": program.max_seq_len,
              "causal": program.causal, "categorical": program.categorical}
    model = assemble(cfg, weights, basis, name="tracr", params=params)
    return Compiled(program, made.assembled, model, made.heads)


def compile_program(program: Program) -> Compiled:
    """Compile ``program`` with tracr (``interp.tasks.tracr.compile_tracr``) and load its weights into a TL bridge."""
    return bridge(compile_tracr(program))


def selector_pattern(expr: rasp.SOp, inputs: Sequence[Sequence[Any]], causal: bool = False) -> Tensor:
    """The attention tracr builds for ``expr`` (an ``Aggregate`` or a ``SelectorWidth``) on ``inputs`` of one
    length n: ``[batch, 1 + n, 1 + n]``, query rows 1..n (row 0, BOS's own, is left zero).

    An aggregate attends uniformly to the keys its selector selects, and to BOS alone when it selects none;
    a selector width attends uniformly to BOS and the selected keys (the MLP after it reads the width off
    BOS's share, 1 / (width + 1)). Causal programs see no later key."""
    n = len(inputs[0])
    out = torch.zeros(len(inputs), n + 1, n + 1)
    for b, x in enumerate(inputs):
        selected = torch.tensor(rasp.evaluate(expr.selector, list(x)), dtype=torch.bool)  # [query, key]
        if causal:
            selected &= torch.ones(n, n, dtype=torch.bool).tril()
        with_bos = torch.cat([torch.zeros(n, 1, dtype=torch.bool), selected], 1)
        if isinstance(expr, rasp.SelectorWidth):
            with_bos[:, 0] = True
        else:
            with_bos[:, 0] = ~selected.any(1)
        out[b, 1:] = with_bos / with_bos.sum(1, keepdim=True)
    return out


def pattern_gaps(compiled: Compiled, inputs: Sequence[Sequence[Any]],
                 model: Any = None) -> dict[tuple[int, int], float]:
    """For each head: the largest difference, over the query rows 1..n of ``inputs`` (one length), between the
    attention of ``model`` (default: the compiled one; ``blocks.{l}.attn.hook_pattern``) and its selector's
    (``selector_pattern``). The claim the compiler makes is that every gap is ~0."""
    tokens = compiled.encode(inputs)
    with torch.no_grad():
        _, cache = (compiled.model if model is None else model).run_with_cache(tokens)
    return {(layer, head): float((cache[get_act_name("pattern", layer)][:, head, 1:]
                                  - selector_pattern(expr, inputs, compiled.program.causal)[:, 1:]).abs().max())
            for (layer, head), expr in compiled.heads.items()}


@lru_cache(maxsize=16)
def compiled_for(spec: str, vocab: tuple[Any, ...], max_seq_len: int, causal: bool) -> Compiled:
    """The bridge of the program these parameters name, compiled once per process (``tracr_model_for``)."""
    return bridge(tracr_model_for(spec, vocab, max_seq_len, causal))


__all__ = ["BOS", "LIBRARY", "Compiled", "Program", "bridge", "compile_program",
           "compiled_for", "load_program", "pattern_gaps", "residual_label", "selector_pattern", "tl_weights",
           "true_unembed"]
