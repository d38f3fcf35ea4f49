"""What a model is, as data: ``ModelConfig``, checked when it is made, and each architecture's rules for its
fields (which options it has, what it fixes, how many parameters it holds). ``interp.models.build`` builds the
model a config describes; this module imports neither torch nor TransformerLens, so that a task's default model
can be listed (``interp tasks``) without loading them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..family import family_of
from ..validation import TaskError, check_bool, check_choice, check_int, check_length

if TYPE_CHECKING:
    from ..tasks import Task

POSITIONAL = ("learned", "none", "rotary", "attention")  # "attention": positional attention (architecture="hooked")
# "bridge": TransformerBridge.boot_native; "hooked": interp.models.positional.PositionalTransformer, a HookedRootModule
# with what a bridge cannot have: positional attention, the paper's concat layer, no biases.
# "encoder-decoder": interp.models.encoder_decoder.EncoderDecoder, the contextual-counting paper's model.
# "pointer": interp.models.pointer.PointerTransformer, Han & Ghoshdastidar's minimal parity model (2 numbers a head).
ARCHITECTURES = ("bridge", "hooked", "encoder-decoder", "pointer")
LAYERS = ("additive", "concat")
POINTER_READOUTS = ("zigzag", "mlp")
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
    # architecture="pointer": "zigzag", the authors' frozen width-k zig-zag on the summed bit mass (their minimal
    # model), or "mlp", their frozen-attention control's trainable ReLU MLP (width d_mlp) on each head's own output.
    readout: str = "zigzag"

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
        check_choice("readout", self.readout, POINTER_READOUTS)
        if self.readout != "zigzag" and self.architecture != "pointer":
            raise TaskError(f"readout={self.readout!r} needs architecture='pointer' (the minimal parity model)")
        if self.architecture == "bridge":
            for name, value, default in (("positional", self.positional, "attention"), ("layer", self.layer, "concat"),
                                         ("bias", self.bias, False)):
                if value == default:
                    raise TaskError(f"{name}={value!r} needs architecture='hooked' (a TransformerBridge has no such option)")
            if self.init_mode not in TL_INIT_MODES:
                raise TaskError(f"init_mode={self.init_mode!r} needs architecture='hooked' or 'encoder-decoder' "
                                f"(a TransformerBridge initialises with {', '.join(TL_INIT_MODES)})")
        elif self.architecture == "hooked":
            check_hooked(self)
        elif self.architecture == "pointer":
            check_pointer(self)
        else:
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
            check_pointer_task(self, task)

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


# --- each architecture's rules ---------------------------------------------------------------------------------
# "hooked": interp.models.positional.PositionalTransformer


def check_hooked(cfg: "ModelConfig") -> None:
    """TaskError naming the field when ``cfg`` asks for something the hooked model does not have."""
    if cfg.layer == "concat":
        if cfg.d_mlp == 0:
            raise TaskError("layer='concat' is MLP(concat[x, attention(x)]): it needs d_mlp >= 1, got d_mlp=0")
        if cfg.normalization_type != "none":
            raise TaskError(f"layer='concat' (the paper's layer) has no normalisation: normalization_type must be "
                            f"'none', got {cfg.normalization_type!r}")


def hooked_parameter_count(cfg: "ModelConfig") -> int:
    """Entries of ``PositionalTransformer(cfg).state_dict()``."""
    d, h, dh, dv = cfg.d_model, cfg.n_heads, cfg.d_head, cfg.value_width
    bias = cfg.bias
    qk_in = cfg.n_ctx if cfg.positional == "attention" else d
    norm = {"none": 0, "LN": 2 * d, "RMS": d}[cfg.normalization_type]
    attention = 2 * h * qk_in * dh + 2 * h * d * dv + bias * (2 * h * dh + h * dv + d)
    mlp_in = 2 * d if cfg.layer == "concat" else d
    mlp = mlp_in * cfg.d_mlp + cfg.d_mlp * d + bias * (cfg.d_mlp + d) if cfg.d_mlp else 0
    block = norm + attention + (norm + mlp if cfg.d_mlp else 0)
    positional = cfg.n_ctx * d if cfg.positional == "learned" else 0
    return cfg.d_vocab * d + positional + cfg.n_layers * block + norm + d * cfg.d_vocab_out + bias * cfg.d_vocab_out


# "encoder-decoder": interp.models.encoder_decoder.EncoderDecoder (which counts its own parameters)

DECODERS = ("full", "cross")  # "cross": the paper's bare decoder, one cross-attention layer and nothing else


def check_encoder_decoder(cfg: "ModelConfig") -> None:
    """TaskError naming the field when ``cfg`` asks for something the encoder-decoder does not have."""
    check_choice("decoder", cfg.decoder, DECODERS)
    if cfg.positional == "attention" or cfg.layer != "additive":
        raise TaskError("an encoder-decoder has positional none, learned or rotary and additive layers, got "
                        f"positional={cfg.positional!r}, layer={cfg.layer!r}")
    if cfg.input_kind != "tokens" or cfg.freeze_attention:
        raise TaskError("an encoder-decoder reads token ids and has no frozen-attention control, got "
                        f"input_kind={cfg.input_kind!r}, freeze_attention={cfg.freeze_attention}")
    if cfg.d_vocab and not 0 < cfg.decoder_vocab_start < cfg.d_vocab:
        raise TaskError(f"decoder_vocab_start must split the vocabulary (1 .. {cfg.d_vocab - 1}), "
                        f"got {cfg.decoder_vocab_start}")


# "pointer": interp.models.pointer.PointerTransformer, Han & Ghoshdastidar's minimal parity model

# The fields the pointer model fixes: its shape is the authors' model, not a choice.
POINTER_FIXED = {"n_layers": 1, "d_head": 1, "normalization_type": "none",
                 "attention_dir": "bidirectional", "positional": "none", "input_kind": "tokens", "act_fn": "relu",
                 "layer": "additive", "bias": True}


def check_pointer(cfg: "ModelConfig") -> None:
    """TaskError naming the first field that is not the minimal model's."""
    for name, value in POINTER_FIXED.items():
        if getattr(cfg, name) != value:
            raise TaskError(f"architecture='pointer' (the minimal parity model) needs {name}={value!r}, "
                            f"got {getattr(cfg, name)!r}")
    if cfg.d_model != pointer_width(cfg):
        raise TaskError(f"architecture='pointer' with readout={cfg.readout!r} needs d_model={pointer_width(cfg)} ("
                        + ("count and parity" if cfg.readout == "zigzag" else "one direction a head and the score")
                        + f"), got {cfg.d_model}")
    if cfg.readout == "zigzag" and cfg.d_mlp != cfg.n_heads:
        raise TaskError(f"architecture='pointer': the zig-zag's width d_mlp must equal n_heads={cfg.n_heads} "
                        f"(both are the task's k), got d_mlp={cfg.d_mlp}")
    if cfg.readout == "zigzag" and cfg.freeze_attention:
        raise TaskError("architecture='pointer' with the zig-zag readout trains its queries alone: freeze_attention "
                        "would leave nothing to train (readout='mlp' is the authors' frozen-attention control)")
    if cfg.readout == "mlp" and cfg.d_mlp < 1:
        raise TaskError("architecture='pointer' with readout='mlp' needs a readout width d_mlp >= 1")
    if cfg.d_vocab_out and cfg.d_vocab_out != 2:
        raise TaskError(f"architecture='pointer' answers a parity (two classes), got d_vocab_out={cfg.d_vocab_out}")
    if cfg.n_ctx and cfg.n_ctx < 2:
        raise TaskError(f"architecture='pointer' reads at least one bit and CLS: n_ctx >= 2, got {cfg.n_ctx}")


def pointer_width(cfg: "ModelConfig") -> int:
    """The pointer model's residual width: count and parity (zig-zag), or a direction a head and the score (MLP)."""
    return 2 if cfg.readout == "zigzag" else cfg.n_heads + 1


def check_pointer_task(cfg: "ModelConfig", task: Any) -> None:
    """TaskError unless ``task`` is a parity task, whose k is the model's ``n_heads`` under the zig-zag (it decodes
    counts 0 .. k); the MLP readout takes any number of heads."""
    k = getattr(task, "k", None)
    if getattr(task, "name", None) != "parity" or (cfg.readout == "zigzag" and k != cfg.n_heads):
        wants = f"k = n_heads = {cfg.n_heads} bits of a parity task" if cfg.readout == "zigzag" else "a parity task"
        raise TaskError(f"architecture='pointer' reads {wants}, got task {getattr(task, 'name', '?')!r}"
                        + (f" with k = {k}" if k is not None else ""))


def pointer_parameter_count(cfg: "ModelConfig") -> int:
    """Entries of the pointer model's state dict: the queries, and the MLP readout's W_in, b_in, W_out, b_out."""
    readout = 0 if cfg.readout == "zigzag" else 2 * cfg.d_model * cfg.d_mlp + cfg.d_mlp + cfg.d_model
    return 2 * cfg.n_heads + readout


def minimal_model(task: Any) -> dict[str, Any]:
    """The ``minimal`` preset's model fields for a parity ``task``: the pointer model, whose ``n_heads`` and
    zig-zag width ``d_mlp`` are the task's k."""
    return dict(architecture="pointer", n_layers=1, n_heads=task.k, d_model=2, d_head=1, d_mlp=task.k,
                normalization_type="none", attention_dir="bidirectional", positional="none")


__all__ = ["ACT_FNS", "ARCHITECTURES", "ATTENTION_DIRS", "DECODERS", "INIT_MODES", "INPUT_KINDS", "LAYERS",
           "ModelConfig", "NORMALIZATION", "POINTER_FIXED", "POSITIONAL", "TL_INIT_MODES", "check_encoder_decoder",
           "check_hooked", "check_pointer", "check_pointer_task", "hooked_parameter_count", "minimal_model",
           "pointer_parameter_count", "pointer_width"]
