"""The computational graph of a toolkit model, at the granularity circuit-discovery methods work on.

Senders write into the residual stream; receivers read from it (docs/theory/discovery.md, 'The graph'):

- senders, in topological order: ``embed`` (``hook_embed``), ``pos`` (``hook_pos_embed``, only when the
  model has a nonzero positional table), each head ``A{l}.{h}`` (its output ``z_h @ W_O[h]``, from
  ``blocks.{l}.attn.hook_z``; the layer's ``b_O`` is a constant of the residual stream, not a sender), and
  each MLP ``M{l}`` (``blocks.{l}.hook_mlp_out``, ``b_out`` included);
- receivers: each head's query, key and value inputs ``A{l}.{h}.q`` / ``.k`` / ``.v`` (the residual before
  ``ln1``, one copy per head and kind), each MLP's input ``M{l}`` (before ``ln2``) and ``logits`` (before
  ``ln_final``).

Edge ``u -> r`` exists when ``u`` is computed before ``r`` reads: a layer-``l`` head input hears the inputs
and everything of layers ``< l``; MLP ``l`` also hears its own layer's heads; ``logits`` hears everything.
An edge's name is ``"u->r"``, e.g. ``"embed->A0.1.q"``, ``"A0.1->M0"``, ``"M0->logits"``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

INPUTS = ("embed", "pos")
QKV = ("q", "k", "v")
LOGITS = "logits"


def edge_name(sender: str, receiver: str) -> str:
    return f"{sender}->{receiver}"


def split_edge(name: str) -> tuple[str, str]:
    sender, sep, receiver = name.partition("->")
    if not sep:
        raise ValueError(f"an edge is named 'sender->receiver', got {name!r}")
    return sender, receiver


def head_name(layer: int, head: int) -> str:
    return f"A{layer}.{head}"


def component(node: str) -> str:
    """The head, MLP or input a sender or receiver belongs to: ``"A0.1.q" -> "A0.1"``, ``"M0" -> "M0"``."""
    return node.rsplit(".", 1)[0] if node.endswith(tuple(f".{kind}" for kind in QKV)) else node


def _stage(node: str) -> float:
    """When a sender is computed or a receiver reads, in the order of the forward pass."""
    if node in INPUTS:
        return 0
    if node == LOGITS:
        return math.inf
    layer = int(node[1:].split(".")[0])
    # A layer-l head (sender or q/k/v receiver) sits at 2l + 1, MLP l at 2l + 2.
    return 2 * layer + (1 if node.startswith("A") else 2)


@dataclass(frozen=True)
class Graph:
    """Senders, receivers and edges of one architecture (see the module docstring)."""

    n_layers: int
    n_heads: int
    has_mlp: bool
    has_pos: bool

    @classmethod
    def of(cls, model: "TransformerBridge") -> "Graph":
        cfg = model.cfg
        if getattr(cfg, "n_key_value_heads", None) not in (None, cfg.n_heads):
            raise ValueError("edge patching needs one key/value head per query head (no grouped-query attention)")
        has_pos = cfg.positional_embedding_type == "standard" and bool(model.pos_embed.W_pos.detach().abs().sum() > 0)
        return cls(cfg.n_layers, cfg.n_heads, not getattr(cfg, "attn_only", False), has_pos)

    @cached_property
    def senders(self) -> tuple[str, ...]:
        out = ["embed"] + (["pos"] if self.has_pos else [])
        for layer in range(self.n_layers):
            out += [head_name(layer, h) for h in range(self.n_heads)]
            out += [f"M{layer}"] if self.has_mlp else []
        return tuple(out)

    @cached_property
    def receivers(self) -> tuple[str, ...]:
        out = []
        for layer in range(self.n_layers):
            out += [f"{head_name(layer, h)}.{kind}" for h in range(self.n_heads) for kind in QKV]
            out += [f"M{layer}"] if self.has_mlp else []
        return tuple(out + [LOGITS])

    @cached_property
    def edges(self) -> tuple[str, ...]:
        """Every edge, grouped by receiver in topological order, senders in topological order within."""
        return tuple(edge_name(s, r) for r in self.receivers for s in self.senders if _stage(s) < _stage(r))

    @cached_property
    def sender_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.senders)}

    @cached_property
    def receiver_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.receivers)}

    @cached_property
    def edge_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.edges)}

    @cached_property
    def edge_positions(self) -> tuple[tuple[int, int], ...]:
        """``(receiver index, sender index)`` of each edge, in ``edges`` order."""
        return tuple((self.receiver_index[r], self.sender_index[s]) for s, r in map(split_edge, self.edges))

    @cached_property
    def mask_valid(self) -> Tensor:
        """``[receivers, senders]`` bool: where an edge exists."""
        return self.mask(self.edges).bool()

    def senders_of(self, receiver: str) -> list[str]:
        return [s for s in self.senders if _stage(s) < _stage(receiver)]

    def mask(self, edges: Iterable[str]) -> Tensor:
        """``[receivers, senders]`` float: 1 at the given edges, 0 elsewhere (unknown names raise KeyError)."""
        out = torch.zeros(len(self.receivers), len(self.senders))
        for name in edges:
            if name not in self.edge_index:
                raise KeyError(f"no edge {name!r} in this graph")
            r, s = self.edge_positions[self.edge_index[name]]
            out[r, s] = 1.0
        return out

    def complement(self, edges: Iterable[str]) -> list[str]:
        kept = set(edges)
        return [e for e in self.edges if e not in kept]

    @cached_property
    def nodes(self) -> tuple[str, ...]:
        """The components node-level scores are about: inputs, heads, each head's q/k/v input, MLPs."""
        out = list(INPUTS[: 1 + self.has_pos])
        for layer in range(self.n_layers):
            for h in range(self.n_heads):
                out += [head_name(layer, h)] + [f"{head_name(layer, h)}.{kind}" for kind in QKV]
            out += [f"M{layer}"] if self.has_mlp else []
        return tuple(out)

    @cached_property
    def heads(self) -> tuple[str, ...]:
        return tuple(head_name(layer, h) for layer in range(self.n_layers) for h in range(self.n_heads))

    def __len__(self) -> int:
        return len(self.edges)


def nodes_of(edges: Iterable[str]) -> set[str]:
    """The nodes (``Graph.nodes``) an edge set touches: each edge's sender and receiver."""
    out: set[str] = set()
    for name in edges:
        sender, receiver = split_edge(name)
        out.add(sender)
        if receiver != LOGITS:
            out.add(receiver)
    return out


def heads_of(edges: Iterable[str]) -> set[str]:
    """The heads an edge set touches (through their output or any of their q/k/v inputs)."""
    return {component(n) for n in nodes_of(edges) if n.startswith("A")}


def reaching_logits(edges: Iterable[str]) -> list[str]:
    """The edges of ``edges`` whose receiver still matters: it is ``logits``, or its head or MLP sends along
    an edge of ``edges`` that matters. Edges into a node whose output nobody reads have no effect
    (ACDC skips such nodes), so a circuit is reported without them.
    """
    edges = list(edges)
    pairs = [split_edge(e) for e in edges]
    reaching = {LOGITS}
    for sender, receiver in sorted(pairs, key=lambda p: -_stage(p[0])):
        if component(receiver) in reaching:
            reaching.add(sender)
    return [e for e, (_, receiver) in zip(edges, pairs) if component(receiver) in reaching]


__all__ = ["Graph", "INPUTS", "LOGITS", "QKV", "component", "edge_name", "head_name", "heads_of", "nodes_of",
           "reaching_logits", "split_edge"]
