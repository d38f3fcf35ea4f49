"""An encoder-decoder transformer with TransformerLens hook and weight names, ``ModelConfig.architecture=
"encoder-decoder"``: the model Golkar et al. trained on contextual counting.

One token sequence carries both halves, so tasks, batches, training and checkpoints treat it like every other
model: the tokens with ids below ``cfg.decoder_vocab_start`` are the encoder's input, and the tokens from it on
(which must all come after) are the decoder's prompt. For contextual counting that is ``BOS x_1 .. x_L`` for the
encoder and the region labels ``Q_1 .. Q_R`` for the decoder. The output ``[batch, pos, d_vocab_out]`` holds the
decoder's logits at the prompt positions and zeros at the encoder's (which answer nothing).

- Encoder: ``embed.W_E`` (shared with the decoder's prompt tokens), a learned ``pos_embed.W_pos`` for
  ``positional="learned"``, and ``blocks.{l}``: the same block as ``interp.models.positional`` (pre-norm
  self-attention, causal or bidirectional, rotary for ``positional="rotary"``, then the MLP), so
  ``blocks.{l}.attn.hook_pattern`` is ``[batch, head, query, key]`` over the encoder's positions. Its output
  passes ``hook_encoder_out`` (after ``encoder_ln_final``).
- Decoder: ``decoder.{l}``, each with a causal self-attention over the prompt ``decoder.{l}.attn``, the
  cross-attention ``decoder.{l}.cross_attn`` (queries from the prompt, keys and values from the encoder's
  output: ``hook_pattern`` ``[batch, head, prompt position, encoder position]``) and an MLP, each added to the
  residual (``hook_resid_pre`` -> ``hook_resid_mid`` -> ``hook_resid_mid_cross`` -> ``hook_resid_post``, the
  names of TransformerLens's T5 decoder blocks). ``decoder="cross"`` keeps only the cross-attention: the
  paper's bare decoder, whose logits are a linear map of a mix of encoder value vectors plus the prompt
  token's own embedding. The prompt tokens name their positions, so the decoder has no positional code.
- ``ln_final``, ``unembed.W_U`` and the ``W_Q``/``W_K``/``W_V``/``W_O`` of every attention in TL's
  ``[head, d_model, d_head]`` layout (``OV``/``QK`` are ``FactoredMatrix`` circuits); ``run_with_cache`` returns
  an ``ActivationCache``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
from torch import Tensor
from transformer_lens.hook_points import HookPoint

from ..validation import TaskError
from .config import check_encoder_decoder
from .positional import MLP, Attention, Block, HookedModel, Unembed, _norm, _project, init_weights, softmax

if TYPE_CHECKING:
    from .config import ModelConfig

def encoder_length(tokens: Tensor, decoder_vocab_start: int) -> int:
    """How many leading positions of ``tokens`` ``[batch, pos]`` are the encoder's; TaskError unless every row is
    encoder tokens followed by at least one decoder token."""
    is_prompt = tokens >= decoder_vocab_start
    n = int((~is_prompt[0]).sum())
    expected = torch.arange(tokens.shape[1], device=tokens.device) >= n
    if n == 0 or n == tokens.shape[1] or not bool((is_prompt == expected).all()):
        raise TaskError(f"an encoder-decoder input is encoder tokens (ids < {decoder_vocab_start}) followed by "
                        f"decoder tokens, at the same positions in every row")
    return n


class CrossAttention(Attention):
    """Attention whose queries read the decoder's residual and whose keys and values read the encoder's output
    (no mask, no positions): ``hook_pattern`` is ``[batch, head, decoder position, encoder position]``."""

    def forward(self, resid: Tensor, encoded: Tensor) -> Tensor:  # type: ignore[override]
        q = self.hook_q(_project(resid, self.W_Q, self.b_Q))
        k = self.hook_k(_project(encoded, self.W_K, self.b_K))
        v = self.hook_v(_project(encoded, self.W_V, self.b_V))
        scores = self.hook_attn_scores(torch.einsum("bqhd,bkhd->bhqk", q, k) / self.scale)
        pattern = self.hook_pattern(softmax(scores))
        z = self.hook_z(torch.einsum("bhqk,bkhd->bqhd", pattern, v))
        out = z.flatten(-2) @ self.W_O.flatten(0, 1)
        return out if self.b_O is None else out + self.b_O


class DecoderBlock(nn.Module):
    """Self-attention over the prompt (``decoder="full"``), cross-attention to the encoder, an MLP
    (``decoder="full"`` and ``d_mlp > 0``); pre-norm, each added to the residual."""

    def __init__(self, cfg: "ModelConfig"):
        super().__init__()
        full = cfg.decoder == "full"
        # The prompt's labels name their positions: no positional code, and causal as a decoder's self-attention.
        prompt_cfg = dataclasses.replace(cfg, positional="none", attention_dir="causal")
        if full:
            self.ln1 = _norm(cfg.normalization_type, cfg.d_model)
            self.attn = Attention(prompt_cfg)
        self.ln_cross = _norm(cfg.normalization_type, cfg.d_model)
        self.cross_attn = CrossAttention(prompt_cfg)
        if full and cfg.d_mlp:
            self.ln2 = _norm(cfg.normalization_type, cfg.d_model)
            self.mlp = MLP(cfg)
        names = ["hook_resid_pre", "hook_cross_attn_out", "hook_resid_mid_cross", "hook_resid_post"]
        names += ["hook_attn_out", "hook_resid_mid"] if full else []
        names += ["hook_mlp_out"] if hasattr(self, "mlp") else []
        for name in names:
            setattr(self, name, HookPoint())

    def forward(self, x: Tensor, encoded: Tensor) -> Tensor:
        """``x`` ``[batch, prompt, d_model]``, ``encoded`` ``[batch, encoder pos, d_model]`` -> like ``x``."""
        x = self.hook_resid_pre(x)
        if hasattr(self, "attn"):
            normalized = self.ln1(x)
            x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(normalized, normalized)))
        x = self.hook_resid_mid_cross(x + self.hook_cross_attn_out(self.cross_attn(self.ln_cross(x), encoded)))
        if hasattr(self, "mlp"):
            x = x + self.hook_mlp_out(self.mlp(self.ln2(x)))
        return self.hook_resid_post(x)


class EncoderDecoder(HookedModel):
    """The model of the module docstring; ``EncoderDecoder(cfg, seed)``, or ``build_model(cfg, seed)``."""

    def __init__(self, cfg: "ModelConfig", seed: int | None = 0):
        check_encoder_decoder(cfg)
        super().__init__(cfg, seed)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.encoder_ln_final = _norm(cfg.normalization_type, cfg.d_model)
        self.hook_encoder_out = HookPoint()
        self.hook_decoder_embed = HookPoint()
        self.decoder = nn.ModuleList(DecoderBlock(cfg) for _ in range(cfg.n_layers))
        self.ln_final = _norm(cfg.normalization_type, cfg.d_model)
        self.unembed = Unembed(cfg)
        if seed is not None:
            init_weights(self, cfg, seed)
        self.setup()

    def encode(self, tokens: Tensor) -> Tensor:
        """``[batch, encoder pos]`` token ids -> the encoder's output ``[batch, encoder pos, d_model]``."""
        x = self.embedded(tokens)
        for block in self.blocks:
            x = block(x, None)
        return self.hook_encoder_out(self.encoder_ln_final(x))

    def forward(self, inputs: Tensor) -> Tensor:
        """``[batch, pos]`` token ids (encoder tokens, then the prompt) -> ``[batch, pos, d_vocab_out]``: the
        decoder's logits at the prompt positions, zeros at the encoder's."""
        n = encoder_length(inputs, self.interp_config.decoder_vocab_start)
        encoded = self.encode(inputs[:, :n])
        y = self.hook_decoder_embed(self.embed(inputs[:, n:]))
        for block in self.decoder:
            y = block(y, encoded)
        logits = self.unembed(self.ln_final(y))
        return torch.cat([logits.new_zeros(inputs.shape[0], n, logits.shape[-1]), logits], dim=1)


def parameter_count(cfg: "ModelConfig") -> int:
    """Entries of ``EncoderDecoder(cfg).state_dict()`` (counted on the meta device: nothing is allocated)."""
    with torch.device("meta"):
        return sum(p.numel() for p in EncoderDecoder(cfg, seed=None).parameters())


__all__ = ["CrossAttention", "DecoderBlock", "EncoderDecoder", "encoder_length", "parameter_count"]
