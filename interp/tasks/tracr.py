"""RASP programs and what tracr compiles them to, in tracr's own terms (jax; no torch): the program a tracr task
names (one of tracr's library programs or ``module:function``), tracr's assembled model, the RASP expression each
head computes, and the model's shape as ``ModelConfig`` fields.

The tracr task itself is its family's (``interp.families.tracr``), and ``interp.constructions.tracr`` loads the
compiled weights into a TransformerBridge. Splitting the compilation from the bridge lets a tracr task be made and
listed (``interp tasks``: its model's shape, its vocabularies) without torch or TransformerLens. tracr and jax
load with this module: the family imports it only when a tracr task is made (the ``tracr`` extra).
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
import jax.numpy as jnp
import numpy as np
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

from ..validation import TaskError, check_bool, check_int, shown

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


@dataclass
class TracrModel:
    """A compiled program in tracr's terms: tracr's assembled model and the RASP expression each head computes
    (``heads``: ``(layer, head)`` -> an ``Aggregate`` or ``SelectorWidth``)."""

    program: Program
    assembled: AssembledTransformerModel
    heads: dict[tuple[int, int], rasp.SOp]

    @cached_property
    def unembed(self) -> np.ndarray:
        return true_unembed(self.assembled)

    @cached_property
    def shape(self) -> dict[str, Any]:
        """The ``ModelConfig`` fields of the compiled model: tracr's layer ``l`` (attention then MLP, ReLU, no
        normalisation) is one block, ``d_head`` its key size, ``d_model`` the number of named residual
        directions, the vocabularies those of its embedding and of its unembedding (``unembed``)."""
        config, params = self.assembled.model_config, self.assembled.params
        return dict(n_layers=config.num_layers, n_heads=config.num_heads, d_model=len(self.assembled.residual_labels),
                    d_head=config.key_size, d_mlp=config.mlp_hidden_size, act_fn="relu", normalization_type="none",
                    attention_dir="causal" if config.causal else "bidirectional", positional="learned",
                    n_ctx=params["pos_embed"]["embeddings"].shape[0],
                    d_vocab=params["token_embed"]["embeddings"].shape[0], d_vocab_out=self.unembed.shape[1],
                    input_kind="tokens")


def _heads_of(block: Any) -> list[Any]:
    """The attention heads inside a craft block (a head, several, or a series with an MLP)."""
    if isinstance(block, transformers.SeriesWithResiduals):
        return [head for part in block.blocks for head in _heads_of(part)]
    if isinstance(block, (transformers.AttentionHead, transformers.MultiAttentionHead)):
        return list(block.as_multi().heads())
    return []


def compile_tracr(program: Program) -> TracrModel:
    """Compile ``program`` with tracr, keeping the graph that says which RASP expression each head computes.

    The steps are tracr's own ``compile_rasp_to_model``, taken one by one to keep that graph."""
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
    return TracrModel(program, assembled, dict(sorted(heads.items())))


@lru_cache(maxsize=16)
def tracr_model_for(spec: str, vocab: tuple[Any, ...], max_seq_len: int, causal: bool) -> TracrModel:
    """``compile_tracr`` of the program these parameters name, compiled once per process."""
    return compile_tracr(load_program(spec, vocab, max_seq_len, causal))


__all__ = ["BOS", "LIBRARY", "MAX_SEQ_LEN", "MAX_VOCAB", "PAD", "Program", "TracrModel", "check_vocab",
           "compile_tracr", "load_program", "residual_label", "tracr_model_for", "true_unembed"]
