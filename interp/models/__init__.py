"""Models: TransformerLens 4 ``TransformerBridge`` objects booted natively from a plain config.

Every model is a ``TransformerBridge.boot_native`` bridge, so TL hooks (``blocks.{l}.attn.hook_pattern``),
caches, patching and ``FactoredMatrix`` circuits work unchanged. Three things TL 4's native boot does
not offer are added here, each visible in the weights and hooks:

- feature inputs: for continuous tasks, ``embed.W_E`` is a ``[d_in, d_model]`` linear input embedding
  applied to float features ``[batch, pos, d_in]`` (a one-hot row is the same as a token lookup), and
  its output still passes ``hook_embed``;
- NoPE: ``positional="none"`` keeps TL's ``W_pos`` but zero and frozen;
- the frozen-attention control: ``freeze_attention=True`` keeps everything that sets an attention
  pattern at its random initial value: ``W_E``, ``W_pos``, every block before the last, and the last
  block's ``ln1``, ``W_Q``, ``W_K`` and their biases. Only the last block's values, output, MLP and the
  unembedding train, so every pattern is the one the model was initialised with.

``architecture="hooked"`` builds ``interp.models.positional.PositionalTransformer`` instead: a
``HookedRootModule`` with TL hook and weight names for what a bridge cannot express: positional
attention (``positional="attention"``), the positional-attention paper's concatenate-then-MLP layer
(``layer="concat"``) and models with no biases (``bias=False``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..family import family_of
from ..validation import TaskError, check_bool, check_choice, check_int, check_length

if TYPE_CHECKING:
    from transformer_lens.model_bridge import TransformerBridge

    from ..tasks import Task

POSITIONAL = ("learned", "none", "rotary", "attention")  # "attention": positional attention (architecture="hooked")
# "bridge": TransformerBridge.boot_native; "hooked": interp.models.positional.PositionalTransformer, a HookedRootModule
# with what a bridge cannot have: positional attention, the paper's concat layer, no biases.
# "encoder-decoder": interp.models.encoder_decoder.EncoderDecoder, the contextual-counting paper's model.
# "pointer": interp.models.pointer.PointerTransformer, Han & Ghoshdastidar's minimal parity model (2 numbers a head).
ARCHITECTURES = ("bridge", "hooked", "encoder-decoder", "pointer")
LAYERS = ("additive", "concat")
NORMALIZATION = ("none", "LN", "RMS")
ATTENTION_DIRS = ("causal", "bidirectional")
INPUT_KINDS = ("tokens", "features")
ACT_FNS = ("relu", "gelu", "gelu_new", "silu")
# The init modes TransformerLens 4.3 native models accept (transformer_lens/model_bridge/sources/native/init.py),
# and "xavier_attention" (architecture "hooked" or "encoder-decoder" only): Xavier-uniform attention weights with
# zero attention biases and PyTorch's nn.Linear defaults for every other weight and bias, the positional-attention
# paper's initialisation (interp.models.positional.init_weights).
TL_INIT_MODES = ("gpt2", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal")
INIT_MODES = (*TL_INIT_MODES, "xavier_attention")


@dataclass
class ModelConfig:
    """Architecture of a model. Field names follow TransformerLens where TL has the concept."""

    n_layers: int = 1
    n_heads: int = 1
    d_model: int = 64
    d_head: int = 16  # the per-head width of queries and keys (and of values, unless d_value says otherwise)
    d_mlp: int = 64  # 0 means attention-only
    act_fn: str = "relu"
    normalization_type: str = "none"
    attention_dir: str = "causal"
    positional: str = "learned"
    n_ctx: int = 0  # 0: taken from the task
    d_vocab: int = 0
    d_vocab_out: int = 0
    input_kind: str = "tokens"
    freeze_attention: bool = False
    init_mode: str = "gpt2"
    architecture: str = "bridge"
    layer: str = "additive"  # "concat": the positional-attention paper's MLP(concat[x, attn(x)]) (architecture="hooked")
    bias: bool = True  # False: no bias anywhere (architecture="hooked")
    # architecture="encoder-decoder": the decoder ("full" or the bare "cross"-attention layer), and the first token
    # id of the decoder's prompt (the tokens before it in a sequence are the encoder's input).
    decoder: str = "full"
    decoder_vocab_start: int = 0
    # The per-head width of values (W_V's columns, W_O's rows); 0: d_head. Another width needs architecture="hooked"
    # (the positional-attention paper: queries and keys n + 1 wide, values d_model / n_heads).
    d_value: int = 0

    def __post_init__(self) -> None:
        for name in ("n_layers", "n_heads", "d_model", "d_head"):
            check_int(name, getattr(self, name), 1)
        for name in ("d_mlp", "d_vocab", "d_vocab_out", "d_value"):
            check_int(name, getattr(self, name), 0)
        check_length("n_ctx", self.n_ctx, 0)
        check_choice("positional", self.positional, POSITIONAL)
        check_choice("normalization_type", self.normalization_type, NORMALIZATION)
        check_choice("attention_dir", self.attention_dir, ATTENTION_DIRS)
        check_choice("input_kind", self.input_kind, INPUT_KINDS)
        check_choice("act_fn", self.act_fn, ACT_FNS)
        check_choice("init_mode", self.init_mode, INIT_MODES)
        check_bool("freeze_attention", self.freeze_attention)
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_choice("layer", self.layer, LAYERS)
        check_bool("bias", self.bias)
        if self.architecture == "bridge":
            for name, value, default in (("positional", self.positional, "attention"), ("layer", self.layer, "concat"),
                                         ("bias", self.bias, False)):
                if value == default:
                    raise TaskError(f"{name}={value!r} needs architecture='hooked' (a TransformerBridge has no such option)")
            if self.init_mode not in TL_INIT_MODES:
                raise TaskError(f"init_mode={self.init_mode!r} needs architecture='hooked' or 'encoder-decoder' "
                                f"(a TransformerBridge initialises with {', '.join(TL_INIT_MODES)})")
        elif self.architecture == "hooked":
            from .positional import check_config  # models.positional builds on this module's ModelConfig

            check_config(self)
        elif self.architecture == "pointer":
            from .pointer import check_config as check_pointer  # (as models.positional)

            check_pointer(self)
        else:
            from .encoder_decoder import check_config as check_encoder_decoder  # (as models.positional)

            check_encoder_decoder(self)
        if self.d_value not in (0, self.d_head) and self.architecture != "hooked":
            raise TaskError(f"d_value={self.d_value} (values narrower or wider than d_head={self.d_head}) needs "
                            f"architecture='hooked', got {self.architecture!r}")
        if self.positional == "rotary" and self.d_head % 2:
            raise TaskError(f"d_head must be even for rotary positions, got {self.d_head}")

    @classmethod
    def for_task(cls, task: "Task", **overrides: Any) -> "ModelConfig":
        """The task's default model with ``overrides``; shapes (vocab, context) come from the task."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TaskError(f"unknown model parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
        values = {
            **family_of(task.name).model(task),
            "n_ctx": task.n_ctx,
            "d_vocab": task.d_vocab,
            "d_vocab_out": task.d_vocab_out,
            "input_kind": task.input_kind,
            **overrides,
        }
        return cls(**values)

    @property
    def value_width(self) -> int:
        """The per-head width of values: ``d_value``, or ``d_head`` where it is 0."""
        return self.d_value or self.d_head

    def check_fits(self, task: "Task") -> None:
        """Raise TaskError if this model cannot run ``task`` (vocabulary, width or context differ)."""
        if self.input_kind != task.input_kind:
            raise TaskError(f"the model takes {self.input_kind} but task {task.name} gives {task.input_kind}")
        if self.d_vocab != task.d_vocab:
            raise TaskError(f"the model's input width d_vocab={self.d_vocab} differs from the task's {task.d_vocab}")
        if self.d_vocab_out != task.d_vocab_out:
            raise TaskError(f"the model's d_vocab_out={self.d_vocab_out} differs from the task's {task.d_vocab_out}")
        if task.seq_len > self.n_ctx:
            raise TaskError(f"the task's sequences (length {task.seq_len}) exceed the model's n_ctx={self.n_ctx}")
        if self.architecture == "pointer":
            from .pointer import check_task  # (as models.positional)

            check_task(self, task)

    def to_bridge_config(self, seed: int | None) -> dict[str, Any]:
        return dict(
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            d_model=self.d_model,
            d_head=self.d_head,
            d_mlp=self.d_mlp if self.d_mlp > 0 else None,
            attn_only=self.d_mlp == 0,
            act_fn=self.act_fn,
            normalization_type=None if self.normalization_type == "none" else self.normalization_type,
            attention_dir=self.attention_dir,
            positional_embedding_type="rotary" if self.positional == "rotary" else "standard",
            n_ctx=self.n_ctx,
            d_vocab=self.d_vocab,
            d_vocab_out=self.d_vocab_out,
            init_mode=self.init_mode,
            seed=seed,
            device="cpu",
        )


class FeatureEmbedding(nn.Module):
    """A linear input embedding ``W_E [d_in, d_model]`` that also accepts token ids.

    Float input ``[batch, pos, d_in]`` is multiplied by ``W_E``; integer input is looked up, which is
    the same as multiplying a one-hot row.
    """

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():
            return x @ self.weight
        return F.embedding(x, self.weight)


def _route_features_through_embed(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    # The bridge sends float input as ``inputs_embeds``, which would skip the embedding (and
    # hook_embed); hand it to the feature embedding instead.
    if kwargs.get("inputs_embeds") is not None:
        kwargs["input_ids"] = kwargs.pop("inputs_embeds")
    return args, kwargs


def pattern_parameters(model: nn.Module, n_layers: int) -> list[nn.Parameter]:
    """The parameters any attention pattern depends on: the embeddings, every block before the last, and
    the last block's pre-attention norm, W_Q and W_K (named through the native model underneath the bridge)."""
    last = f"layers.{n_layers - 1}._original_component."
    upstream = ("tok_embed.", "pos.", *(f"layers.{layer}." for layer in range(n_layers - 1)),
                last + "ln1.", last + "attn._original_component.q.", last + "attn._original_component.k.")
    return [p for name, p in model.original_model.named_parameters() if name.startswith(upstream)]


def build_model(cfg: ModelConfig, seed: int | None = 0, device: str = "cpu") -> "TransformerBridge":
    """Boot a native TransformerBridge for ``cfg`` on ``device``; the same cfg and seed give the same weights.

    Weights are initialised on the CPU and then moved, so a seed means the same weights on every device.
    """
    from transformer_lens.config import TransformerBridgeConfig
    from transformer_lens.model_bridge import TransformerBridge

    for name in ("n_ctx", "d_vocab", "d_vocab_out"):
        check_int(name, getattr(cfg, name), 1)
    if cfg.architecture == "hooked":
        from .positional import PositionalTransformer  # models.positional builds on this module's ModelConfig

        return on_device(PositionalTransformer(cfg, seed), device)
    if cfg.architecture == "encoder-decoder":
        from .encoder_decoder import EncoderDecoder  # (as models.positional)

        return on_device(EncoderDecoder(cfg, seed), device)
    if cfg.architecture == "pointer":
        from .pointer import PointerTransformer  # (as models.positional)

        return on_device(PointerTransformer(cfg, seed), device)
    bridge = TransformerBridge.boot_native(TransformerBridgeConfig(**cfg.to_bridge_config(seed)))
    if cfg.input_kind == "features":
        bridge.embed.set_original_component(FeatureEmbedding(bridge.embed.original_component.weight))
        bridge.original_model.register_forward_pre_hook(_route_features_through_embed, with_kwargs=True)
    if cfg.positional == "none":
        pos = bridge.pos_embed.original_component.weight
        with torch.no_grad():
            pos.zero_()
        pos.requires_grad_(False)
    if cfg.freeze_attention:
        for p in pattern_parameters(bridge, cfg.n_layers):
            p.requires_grad_(False)
    bridge.interp_config = cfg
    return on_device(bridge, device)


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """``device`` as torch names it: ``auto`` is CUDA when there is one, else the CPU; ``cuda`` without a GPU
    raises TaskError (named as the ``--device`` flag that asks for it)."""
    check_choice("--device", device, DEVICES)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TaskError("--device cuda: no CUDA device is available here (use --device cpu or auto)")
    return device


def on_device(model: nn.Module, device: str) -> nn.Module:
    """``model`` moved to ``device`` (a no-op, and no TransformerLens notice, when it is already there)."""
    current = next(model.parameters()).device
    return model if current == torch.device(device) else model.to(device)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


__all__ = ["ModelConfig", "build_model", "FeatureEmbedding", "count_parameters", "on_device", "resolve_device", "pattern_parameters", "trainable_parameters"]
