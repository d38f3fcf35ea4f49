"""How the toolkit names a head for people, one way everywhere: ``L{layer}H{head}`` (``L0H1``), as
circuitsvis labels TransformerLens heads. Hooks go by TransformerLens's own names, built with
``transformer_lens.utilities.get_act_name`` (``get_act_name("pattern", 0)`` is
``blocks.0.attn.hook_pattern``). The discovery graph's nodes are another namespace, the one ACDC draws:
``A0.1`` (a head as a sender), ``A0.1.q`` (its query input), ``M0``, ``embed``, ``pos``, ``logits``
(``interp.discovery.graph``)."""

from __future__ import annotations

from collections.abc import Iterable


def head_label(layer: int, head: int) -> str:
    """``L0H1``."""
    return f"L{layer}H{head}"


def head_labels(heads: Iterable[tuple[int, int]]) -> str:
    """``"L0H1, L0H3"``."""
    return ", ".join(head_label(layer, head) for layer, head in heads)


__all__ = ["head_label", "head_labels"]
