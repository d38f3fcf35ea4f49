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
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import torch
from torch import Tensor
from tracr.compiler import assemble as tracr_assemble
from tracr.compiler import (
    basis_inference,
    craft_graph_to_model,
    craft_model_to_transformer,
    expr_to_craft_graph,
    lib,
    nodes,
    rasp_to_graph,
    validating,
)
from tracr.compiler.assemble import AssembledTransformerModel
from tracr.craft import bases, transformers
from tracr.rasp import rasp
from transformer_lens.utilities import get_act_name

from ..models import ModelConfig
from ..validation import TaskError, check_bool, check_int, shown
from .pieces import ResidualBasis, assemble

BOS, PAD = "BOS", "compiler_pad"
# Bounds that keep a compilation to seconds: tracr's MLPs grow with the vocabulary and the length.
MAX_SEQ_LEN, MAX_VOCAB = 64, 64


# tracr's library programs, each with the vocabulary it is usually compiled on. A builder takes the longest
# input (``make_sort`` and ``make_sort_freq`` need it to make keys unique).
LIBRARY: dict[str, tuple[Callable[[int], rasp.SOp], tuple[Any, ...]]] = {
    "length": (lambda n: lib.make_length(), (1, 2, 3)),
    "reverse": (lambda n: lib.make_reverse(rasp.tokens), (1, 2, 3)),
    "hist": (lambda n: lib.make_hist(), (1, 2, 3)),
    "sort_unique": (lambda n: lib.make_sort_unique(rasp.tokens, rasp.tokens), (1, 2, 3)),
    "sort": (lambda n: lib.make_sort(rasp.tokens, rasp.tokens, max_seq_len=n, min_key=1), (1, 2, 3)),
    "sort_freq": (lambda n: lib.make_sort_freq(n), (1, 2, 3)),
    "frac_prevs": (lambda n: lib.make_frac_prevs(rasp.tokens == "x"), ("x", "y")),
    "detect_pattern": (lambda n: lib.detect_pattern(rasp.tokens, "abc"), ("a", "b", "c")),
    "pair_balance": (lambda n: lib.make_pair_balance(rasp.tokens, "(", ")"), ("(", ")", "a")),
    "shuffle_dyck2": (lambda n: lib.make_shuffle_dyck2(), ("(", ")", "{", "}", "a")),
}


@dataclass(frozen=True)
class Program:
    """A RASP program and what it is compiled for. ``spec`` names it: a ``LIBRARY`` key or ``module:function``."""

    spec: str
    sop: rasp.SOp
    vocab: tuple[Any, ...]
    max_seq_len: int
    causal: bool = False

    @property
    def categorical(self) -> bool:
        return rasp.is_categorical(self.sop)

    def evaluate(self, inputs: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """RASP's own evaluator on each input (``None`` where the program leaves a position undefined)."""
        return [list(rasp.evaluate(self.sop, list(x))) for x in inputs]


def load_program(spec: str, vocab: Sequence[Any] | None = None, max_seq_len: int = 5,
                 causal: bool = False) -> Program:
    """The program ``spec`` names: one of ``LIBRARY`` (with its usual vocabulary unless ``vocab`` is given),
    or ``module:function``, a function of no arguments returning a RASP ``SOp`` (its module importable from
    the current directory or ``PYTHONPATH``; ``vocab`` is then required)."""
    max_seq_len = check_int("max_seq_len", max_seq_len, 1, MAX_SEQ_LEN)
    check_bool("causal", causal)
    if not isinstance(spec, str):
        raise TaskError(f"program must be a library name or module:function, got {shown(spec)}")
    if spec in LIBRARY:
        build, usual = LIBRARY[spec]
        sop, vocab = build(max_seq_len), usual if vocab is None else vocab
    elif ":" in spec:
        module_name, _, function_name = spec.partition(":")
        if os.getcwd() not in sys.path:  # `interp` as a console script does not search the current directory
            sys.path.append(os.getcwd())
        try:
            function = getattr(importlib.import_module(module_name), function_name)
        except (ImportError, AttributeError) as e:
            raise TaskError(f"program {spec!r}: cannot import it ({e})") from None
        sop = function()
        if not isinstance(sop, rasp.SOp):
            raise TaskError(f"program {spec!r} returned {type(sop).__name__}, not a RASP SOp")
        if vocab is None:
            raise TaskError(f"program {spec!r}: give its vocabulary (vocab=[...])")
    else:
        raise TaskError(f"unknown program {spec!r}; choose one of {', '.join(LIBRARY)}, or module:function")
    return Program(spec, sop, check_vocab(vocab), max_seq_len, causal)


def check_vocab(vocab: Any) -> tuple[Any, ...]:
    """``vocab`` as a tuple if it is a list of at most ``MAX_VOCAB`` distinct tokens, each an integer or a
    string that can name a residual direction (``tokens[value]``: no brackets), and not BOS."""
    tokens_ok = isinstance(vocab, (list, tuple)) and all(
        (isinstance(t, int) and not isinstance(t, bool)) or (isinstance(t, str) and t and not set(t) & set("[]"))
        for t in vocab)
    if not tokens_ok or not 0 < len(vocab) <= MAX_VOCAB or len(set(vocab)) != len(vocab) or BOS in vocab:
        raise TaskError(f"vocab must be a list of 1 to {MAX_VOCAB} distinct tokens (integers, or strings without "
                        f"brackets), without {BOS!r}; got {shown(vocab)}")
    return tuple(vocab)


def residual_label(tracr_label: str) -> str:
    """tracr's ``name:value`` direction as the toolkit writes it, ``name[value]`` (a bare name stays)."""
    name, sep, value = tracr_label.partition(":")
    return f"{name}[{value}]" if sep else name


def true_unembed(assembled: AssembledTransformerModel) -> np.ndarray:
    """``W_U`` ``[d_model, d_vocab_out]``: the compiled model's own unembedding applied to the identity
    (it is a projection onto the output space, not a parameter)."""
    d_model = len(assembled.residual_labels)

    @hk.without_apply_rng
    @hk.transform
    def unembed_identity():
        return assembled.get_compiled_model().unembed(jnp.eye(d_model), use_unembed_argmax=False)

    return np.asarray(unembed_identity.apply(assembled.params)).reshape(d_model, -1)


def tl_weights(assembled: AssembledTransformerModel) -> tuple[ModelConfig, dict[str, Tensor]]:
    """The compiled model's config and weights in TL property layout (``blocks.{l}.attn.W_Q`` ...)."""
    config, params = assembled.model_config, assembled.params
    tensor = lambda array: torch.tensor(np.asarray(array), dtype=torch.float32)  # noqa: E731
    d_model, n_heads, d_head = len(assembled.residual_labels), config.num_heads, config.key_size
    W_U = tensor(true_unembed(assembled))
    embed = tensor(params["token_embed"]["embeddings"])
    cfg = ModelConfig(n_layers=config.num_layers, n_heads=n_heads, d_model=d_model, d_head=d_head,
                      d_mlp=config.mlp_hidden_size, act_fn="relu", normalization_type="none",
                      attention_dir="causal" if config.causal else "bidirectional", positional="learned",
                      n_ctx=params["pos_embed"]["embeddings"].shape[0], d_vocab=embed.shape[0],
                      d_vocab_out=W_U.shape[1], input_kind="tokens")
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
    assembled: AssembledTransformerModel
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


def _heads_of(block: Any) -> list[Any]:
    """The attention heads inside a craft block (a head, several, or a series with an MLP)."""
    if isinstance(block, transformers.SeriesWithResiduals):
        return [head for part in block.blocks for head in _heads_of(part)]
    if isinstance(block, (transformers.AttentionHead, transformers.MultiAttentionHead)):
        return list(block.as_multi().heads())
    return []


def compile_program(program: Program) -> Compiled:
    """Compile ``program`` with tracr and load its weights into a TL bridge (``model.construction`` names
    the program, its vocabulary and lengths, so that it can be compiled again).

    The steps are tracr's own ``compile_rasp_to_model``, taken one by one to keep the graph that says which
    RASP expression each head computes."""
    unsupported = validating.static_validate(program.sop)
    if unsupported:
        raise TaskError(f"tracr cannot compile {program.spec}: "
                        + "; ".join(f"{e.expr.name}: {e.reason}" for e in unsupported))
    extracted = rasp_to_graph.extract_rasp_graph(program.sop)
    graph = extracted.graph
    try:  # what static validation lets through and tracr still refuses, e.g. a composite selector
        basis_inference.infer_bases(graph, extracted.sink, set(program.vocab), program.max_seq_len)
        bos = bases.BasisDirection(rasp.tokens.label, BOS)
        expr_to_craft_graph.add_craft_components_to_rasp_graph(graph, bos_dir=bos)
        craft = craft_graph_to_model.craft_graph_to_model(graph, extracted.sources)
    except (TypeError, NotImplementedError, ValueError) as e:
        raise TaskError(f"tracr cannot compile {program.spec}: {e}") from None
    assembled = craft_model_to_transformer.craft_model_to_transformer(
        craft_model=craft, graph=graph, sink=extracted.sink, max_seq_len=program.max_seq_len, causal=program.causal,
        compiler_bos=BOS, compiler_pad=PAD)
    # The heads in the order tracr lays them out: layer by layer, each layer's heads in order.
    _, module_names = tracr_assemble._get_model_config_and_module_names(craft)
    position = {}
    for module, name in zip(craft.blocks, module_names):
        if not isinstance(module, transformers.MLP):
            layer = int(name.split("/")[1].removeprefix("layer_"))
            position.update({id(head): (layer, h) for h, head in enumerate(module.as_multi().heads())})
    heads = {position[id(head)]: node[nodes.EXPR] for node in graph.nodes.values()
             for head in _heads_of(node.get(nodes.MODEL_BLOCK))}
    cfg, weights = tl_weights(assembled)
    basis = ResidualBasis.from_labels([residual_label(label) for label in assembled.residual_labels])
    params = {"program": program.spec, "vocab": list(program.vocab), "max_seq_len": program.max_seq_len,
              "causal": program.causal, "categorical": program.categorical}
    model = assemble(cfg, weights, basis, name="tracr", params=params)
    return Compiled(program, assembled, model, dict(sorted(heads.items())))


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
    """``compile_program`` of the program these parameters name, compiled once per process."""
    return compile_program(load_program(spec, vocab, max_seq_len, causal))


__all__ = ["BOS", "LIBRARY", "Compiled", "Program", "compile_program", "compiled_for", "load_program",
           "pattern_gaps", "residual_label", "selector_pattern", "tl_weights", "true_unembed"]
