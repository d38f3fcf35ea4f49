"""Edge-level interventions on TransformerLens 4 native bridges, through TL hooks.

TL 4's native bridges refuse ``use_attn_result`` and ``use_split_qkv_input`` (``hook_result`` and
``hook_q_input`` never fire), so per-head outputs and per-head q/k/v inputs are rebuilt here from hooks
that do fire (docs/theory/discovery.md, 'Edge patching on TransformerLens 4'):

- a head's output is ``hook_z[:, :, h] @ W_O[h]``; the embeddings and MLP outputs are ``hook_embed``,
  ``hook_pos_embed`` and ``blocks.{l}.hook_mlp_out``;
- receiver ``r`` gets ``x_r = resid + sum_{u -> r removed} alpha_{ur} (a~_u - a_u)``, where ``resid`` is the
  residual it would read in this pass, ``a_u`` the sender's value in this same pass (upstream edges may
  already be patched) and ``a~_u`` its ablated value (zero, mean or resampled). ``alpha = 1`` removes an
  edge; fractions give the straight path EAP and finite differences need. The sum is taken *before*
  the norm, so LayerNorm models are handled exactly;
- a head's q/k/v input is its own: ``blocks.{l}.attn.hook_q`` (shared by all heads of the layer) is
  overwritten for the heads whose input changed with ``ln1(resid_pre + delta_h) @ W_Q[h] + b_Q[h]``;
  MLP inputs are patched at ``blocks.{l}.ln2.hook_in`` and the logits' at ``ln_final.hook_in``, both
  before their norm.

Shapes: ``B`` batch, ``P`` positions, ``S`` senders, ``R`` receivers, ``D`` d_model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import einops
import torch
from torch import Tensor
from transformer_lens.utilities import get_act_name

from ..validation import TaskError
from .graph import LOGITS, QKV, Graph
from .names import ABLATIONS

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge



@dataclass
class Passes:
    """Forward and backward passes spent, the deterministic measure of a method's cost."""

    forward: int = 0
    backward: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"forward": self.forward, "backward": self.backward}


@dataclass
class EdgePatcher:
    """Runs ``model`` with chosen edges of its ``Graph`` given ablated sender values (module docstring)."""

    model: "TransformerBridge"
    graph: Graph = field(init=False)
    passes: Passes = field(default_factory=Passes)

    def __post_init__(self) -> None:
        from transformer_lens.model_bridge import TransformerBridge

        if not isinstance(self.model, TransformerBridge):
            raise TaskError(f"edge patching needs a TransformerBridge model (architecture='bridge'), got "
                            f"{type(self.model).__name__}")
        self.model.eval()
        self.device = next(self.model.parameters()).device
        self.dtype = next(self.model.parameters()).dtype
        self.graph = Graph.of(self.model)
        blocks = self.model.blocks
        # Per-head weights in TL layout, read once: W_Q [H, D, d_head], b_Q [H, d_head], W_O [H, d_head, D].
        self.weights = [{name: getattr(block.attn, name).detach() for name in
                         ("W_Q", "b_Q", "W_K", "b_K", "W_V", "b_V", "W_O")} for block in blocks]
        self.ln1 = [block.ln1.original_component for block in blocks]

    # --- sender values -----------------------------------------------------------------------------

    def _sender_hooks(self, store: dict[int, Tensor]) -> list[tuple[str, Callable]]:
        """Forward hooks that record every sender's value into ``store`` (sender index -> ``[B, P, D]``)."""
        g = self.graph

        def keep(index: int) -> Callable:
            def hook(act: Tensor, hook) -> None:
                store[index] = act

            return hook

        def heads(layer: int) -> Callable:
            def hook(z: Tensor, hook) -> None:
                out = einops.einsum(z, self.weights[layer]["W_O"], "b p h e, h e d -> b p h d")
                for h in range(g.n_heads):
                    store[g.sender_index[f"A{layer}.{h}"]] = out[:, :, h]

            return hook

        hooks = [("hook_embed", keep(g.sender_index["embed"]))]
        if g.has_pos:
            hooks.append(("hook_pos_embed", keep(g.sender_index["pos"])))
        for layer in range(g.n_layers):
            hooks.append((get_act_name("z", layer), heads(layer)))
            if g.has_mlp:
                hooks.append((get_act_name("mlp_out", layer), keep(g.sender_index[f"M{layer}"])))
        return hooks

    @torch.no_grad()
    def sender_values(self, inputs: Tensor) -> Tensor:
        """``[B, P, S, D]``: every sender's output on ``inputs`` in an ordinary forward pass."""
        store: dict[int, Tensor] = {}
        self.model.run_with_hooks(inputs, fwd_hooks=self._sender_hooks(store))
        self.passes.forward += 1
        B, P = inputs.shape[:2]
        return torch.stack([store[i].expand(B, P, -1) for i in range(len(self.graph.senders))], dim=2)

    # --- the patched forward pass ----------------------------------------------------------------

    def run(self, inputs: Tensor, ablated: Tensor, alpha: Tensor, probes: Tensor | None = None) -> Tensor:
        """Logits ``[B, P, d_vocab_out]`` with every edge ``u -> r`` moved ``alpha[r, u]`` of the way from its
        value in this pass to its ablated value ``ablated[..., u, :]`` (``[B or 1, P, S, D]``).

        ``probes`` (``[B, P, R, D]``, usually a zero tensor with ``requires_grad``) is added to every
        receiver's input, so that its gradient is the gradient of the output with respect to that input.
        Receivers with no patched edge and no probe are left to the model's own computation, so
        ``alpha = 0`` gives the model's logits exactly.
        """
        g = self.graph
        moved_senders = {r: row.nonzero().flatten().tolist() for r, row in enumerate(alpha.cpu()) if row.any()}
        alpha = alpha.to(device=ablated.device, dtype=ablated.dtype)
        current: dict[int, Tensor] = {}
        resid_pre: dict[int, Tensor] = {}

        def delta(r: int) -> Tensor | None:
            """What receiver ``r`` gets on top of the residual it reads (None: nothing)."""
            out = None
            for s in moved_senders.get(r, ()):
                moved = alpha[r, s] * (ablated[..., s, :] - current[s])
                out = moved if out is None else out + moved
            if probes is not None:
                out = probes[:, :, r] if out is None else out + probes[:, :, r]
            return out

        def read_resid(layer: int) -> Callable:
            def hook(act: Tensor, hook) -> None:
                resid_pre[layer] = act

            return hook

        def head_inputs(layer: int, kind: str) -> Callable:
            W, b = self.weights[layer][f"W_{kind.upper()}"], self.weights[layer][f"b_{kind.upper()}"]

            def hook(act: Tensor, hook) -> Tensor | None:
                changes = {h: delta(g.receiver_index[f"A{layer}.{h}.{kind}"]) for h in range(g.n_heads)}
                changes = {h: d for h, d in changes.items() if d is not None}
                if not changes:
                    return None
                heads = list(changes)
                resid = resid_pre[layer]
                x = resid[:, :, None] + torch.stack([changes[h].expand_as(resid) for h in heads], dim=2)  # [B, P, n, D]
                new = einops.einsum(self.ln1[layer](x), W[heads], "b p n d, n d e -> b p n e") + b[heads]
                act = act.clone()
                act[:, :, heads] = new.to(act.dtype)
                return act

            return hook

        def add_to(receiver: str) -> Callable:
            r = g.receiver_index[receiver]

            def hook(act: Tensor, hook) -> Tensor | None:
                d = delta(r)
                return None if d is None else act + d

            return hook

        hooks = self._sender_hooks(current)
        for layer in range(g.n_layers):
            hooks.append((f"blocks.{layer}.ln1.hook_in", read_resid(layer)))
            hooks += [(get_act_name(kind, layer), head_inputs(layer, kind)) for kind in QKV]
            if g.has_mlp:
                hooks.append((f"blocks.{layer}.ln2.hook_in", add_to(f"M{layer}")))
        hooks.append(("ln_final.hook_in", add_to(LOGITS)))
        # Senders are recorded as the pass reaches them, so a receiver sees this pass's values (upstream patches in).
        self.passes.forward += 1
        return self.model.run_with_hooks(inputs, fwd_hooks=hooks)

    def receiver_gradients(self, inputs: Tensor, ablated: Tensor, alpha: Tensor,
                           metric: Callable[[Tensor], Tensor]) -> Tensor:
        """``[B, P, R, D]``: the gradient of ``metric(logits)`` (a scalar) with respect to every receiver's
        input, in the pass patched by ``alpha``; one forward and one backward pass."""
        B, P = inputs.shape[:2]
        probes = torch.zeros(B, P, len(self.graph.receivers), self.model.cfg.d_model, device=self.device,
                             dtype=self.dtype, requires_grad=True)
        with torch.enable_grad():
            value = metric(self.run(inputs, ablated, alpha, probes))
            (grad,) = torch.autograd.grad(value, probes)
        self.passes.backward += 1
        return grad


def ablated_values(patcher: EdgePatcher, ablation: str, clean: Tensor, corrupt: Tensor) -> Tensor:
    """``[B or 1, P, S, D]``: what an ablated edge carries instead of its sender's value on ``clean``.

    ``zero``: nothing. ``mean``: the sender's mean per position over ``corrupt`` (a fresh batch of the
    task). ``resample``: the sender's value on ``corrupt`` (example ``i`` of ``clean`` is paired with
    example ``i`` of ``corrupt``).
    """
    if ablation not in ABLATIONS:
        raise ValueError(f"ablation must be one of {', '.join(ABLATIONS)}, got {ablation!r}")
    if ablation == "zero":
        P = clean.shape[1]
        return torch.zeros(1, P, len(patcher.graph.senders), patcher.model.cfg.d_model, device=patcher.device,
                           dtype=patcher.dtype)
    values = patcher.sender_values(corrupt)
    return values.mean(0, keepdim=True) if ablation == "mean" else values


__all__ = ["ABLATIONS", "EdgePatcher", "Passes", "ablated_values"]
